//! A box restored from a backup asks the hub what it holds from the old box after that backup,
//! page by page, and keeps the restore report naming what the staff must enter again.

use super::*;

/// After a (re-)enrolment, asks the hub what it holds above the last entry this box knew were
/// stored and writes the restore report; until that succeeds the relay sends nothing.
pub(super) async fn ensure_held(
    c: &reqwest::Client,
    e: &Enrolment,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let Some(from) = state(data_dir).held_pending else {
        return Ok(());
    };
    let held = held_after(c, e, data_dir, from).await?;
    // Kept on disk for `compare_held`, which needs the store (the CLI's enrolment has none
    // while a server runs); the relay loop compares before it sends.
    crate::config::write_atomic(
        &held_path(data_dir),
        &serde_json::to_vec(&(from, held)).expect("serialisable"),
    )?;
    let mut st = state(data_dir);
    st.held_pending = None;
    save_state(data_dir, &st)?;
    Ok(())
}

pub(super) fn held_path(data_dir: &Path) -> PathBuf {
    data_dir.join("relay-held.json")
}

pub(super) fn restore_report_path(data_dir: &Path) -> PathBuf {
    data_dir.join("relay-restore-report.json")
}

/// Records the hub is asked for at a time: about 50 KB, under two seconds at 32 KB/s, so a
/// link cut every few seconds still moves the question forward page by page.
pub const HELD_PAGE: usize = 100;

/// One page of what the hub holds above `after`, from after `cursor`: (records, next cursor).
async fn held_page(
    c: &reqwest::Client,
    e: &Enrolment,
    after: u64,
    cursor: Option<&str>,
) -> anyhow::Result<(Vec<HeldRecord>, Option<String>)> {
    let mut q = vec![
        ("after", after.to_string()),
        ("limit", HELD_PAGE.to_string()),
    ];
    if let Some(cur) = cursor {
        q.push(("cursor", cur.to_string()));
    }
    let r = c
        .get(format!("{}/relay/v1/records/{}", e.hub, e.school))
        .query(&q)
        .bearer_auth(&e.secret)
        .send()
        .await?;
    let body: serde_json::Value = checked(r).await?.json().await?;
    let records = serde_json::from_value(body["records"].clone())?;
    Ok((records, body["next"].as_str().map(String::from)))
}

/// What has been fetched of the hub's answer so far (kept on disk: kills and cuts resume).
#[derive(Default, Serialize, Deserialize)]
struct HeldProgress {
    from: u64,
    cursor: Option<String>,
    records: Vec<HeldRecord>,
}

/// Everything the hub holds above `from`, page by page, resuming from `relay-held.partial`.
async fn held_after(
    c: &reqwest::Client,
    e: &Enrolment,
    data_dir: &Path,
    from: u64,
) -> anyhow::Result<Vec<HeldRecord>> {
    let partial = data_dir.join("relay-held.partial.json");
    let mut p: HeldProgress = std::fs::read(&partial)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &HeldProgress| p.from == from)
        .unwrap_or(HeldProgress {
            from,
            ..HeldProgress::default()
        });
    loop {
        let (page, next) = held_page(c, e, from, p.cursor.as_deref()).await?;
        p.records.extend(page);
        p.cursor = next;
        if p.cursor.is_none() {
            let _ = std::fs::remove_file(&partial);
            return Ok(p.records);
        }
        crate::config::write_atomic(&partial, &serde_json::to_vec(&p).expect("serialisable"))?;
    }
}

/// What the district holds that this box does not: after a restore, the records the old box
/// relayed after the backup was taken (the staff re-enter them), kept until the next enrolment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestoreReport {
    pub at: String,
    /// Records the hub holds (newer than this box's last receipt) with a content this box does
    /// not have.
    pub missing: Vec<HeldRecord>,
    /// Records the hub holds that this box has too (sent again, harmlessly).
    pub matched: usize,
    /// What each missing record is, in words staff can act on (same order as `missing`).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A held record in words: whose result, which plan, which class — what staff re-enter.
fn label_for(rx: &crate::store::Rx, h: &HeldRecord) -> String {
    let r = h.record.clone().unwrap_or_default();
    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
    let deleted = if h.op == "delete" { " (đã xoá)" } else { "" };
    let text = match h.kind.as_str() {
        "result" => {
            let student = rx
                .get(&crate::school::STUDENTS, &s("mahocsinh"))
                .ok()
                .flatten()
                .map_or_else(|| s("mahocsinh"), |st| st.full_name);
            let term = match s("hocky").as_str() {
                "1" => "học kì I".to_string(),
                "2" => "học kì II".to_string(),
                "CN" => "cả năm".to_string(),
                other => other.to_string(),
            };
            format!("Kết quả {term} của {student}, lớp {}", s("malop"))
        }
        "lesson_plan" => format!(
            "Kế hoạch bài dạy «{}» của {} ({})",
            s("title"),
            s("teacher_name"),
            s("state")
        ),
        "class" => format!("Lớp {}", s("name")),
        "student" => format!("Học sinh {}", s("full_name")),
        "student_profile" => format!(
            "Nơi sinh, dân tộc của học sinh {}",
            rx.get(&crate::school::STUDENTS, &h.key)
                .ok()
                .flatten()
                .map_or_else(|| h.key.clone(), |st| st.full_name)
        ),
        "library_item" => format!("Học liệu «{}»", s("title")),
        other => format!("{other} {}", h.key),
    };
    format!("{text}{deleted}")
}

pub fn restore_report(data_dir: &Path) -> Option<RestoreReport> {
    serde_json::from_slice(&std::fs::read(restore_report_path(data_dir)).ok()?).ok()
}

/// Compares what the hub holds above `from` (fetched by [`ensure_held`]) with this box's own
/// entries above `from` (as they would leave the box, privacy applied, renumbered or not):
/// each hub record no entry here matches is missing here.
pub(super) fn compare_held(
    store: &Store,
    data_dir: &Path,
    privacy: &Privacy,
) -> anyhow::Result<()> {
    let Ok(bytes) = std::fs::read(held_path(data_dir)) else {
        return Ok(());
    };
    let (from, held): (u64, Vec<HeldRecord>) = serde_json::from_slice(&bytes)?;
    // (kind, key) → every (op, record) this box would send for it.
    type Sent = Vec<(String, Option<serde_json::Value>)>;
    let mut mine: std::collections::HashMap<(String, String), Sent> =
        std::collections::HashMap::new();
    for e in store.outbox(from, usize::MAX)? {
        if let Some(e) = privacy.apply(e) {
            mine.entry((e.kind, e.key))
                .or_default()
                .push((e.op, e.record));
        }
    }
    let mut report = RestoreReport {
        at: jiff::Timestamp::now().to_string(),
        ..RestoreReport::default()
    };
    for h in held {
        let here = mine
            .get(&(h.kind.clone(), h.key.clone()))
            .is_some_and(|v| v.iter().any(|(op, r)| *op == h.op && *r == h.record));
        if here {
            report.matched += 1;
        } else {
            report.missing.push(h);
        }
    }
    if let Ok(rx) = store.read() {
        report.labels = report.missing.iter().map(|h| label_for(&rx, h)).collect();
    }
    if !report.missing.is_empty() {
        tracing::warn!(
            missing = report.missing.len(),
            "the district holds records this box does not have (made on the old box after its last backup)"
        );
    }
    crate::config::write_atomic(
        &restore_report_path(data_dir),
        &serde_json::to_vec_pretty(&report).expect("serialisable"),
    )?;
    let _ = std::fs::remove_file(held_path(data_dir));
    Ok(())
}
