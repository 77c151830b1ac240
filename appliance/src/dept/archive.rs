//! The tổ's records in the school's archive of a year (`app::records::SOURCES`): each plan
//! (Phụ lục I, II, III) in every version BGH approved and each meeting's minutes in every
//! signed version — the paper archive keeps a corrected page beside the one it corrects, and a
//! lesson plan linked against an earlier PL III finds that version here —, the newest marked
//! `current` in manifest.json; printed as the plan and minutes pages print them; next to each
//! PDF the signed content (`….noi-dung-ky.json`, the exact bytes the Ed25519 signatures cover),
//! and per tổ one signature manifest `chu-ky.json` in the lesson plans' export format
//! (`lessons::export::Manifest`: each signature with its statement, the signers' keys as of
//! signing), which `tram lessons verify --export FOLDER` checks without a Trạm box.

use super::{Kind, MINUTES, PLANS, State, minutes_versions, plan_versions};
use crate::lessons::Signable;
use crate::lessons::export::{Manifest, document_entry, signer_keys};
use crate::lessons::sign::Signature;
use crate::school::archive::RecordFile;
use crate::store::{Read, Store};

/// One tổ's folder while it is gathered: its id, the signature manifest, the signatures seen.
struct Folder {
    department: String,
    manifest: Manifest,
    signed: Vec<Signature>,
}

/// The tổ's approved plans of `year` ("2026-2027") and the minutes of meetings held in it,
/// every approved or signed version of each.
pub fn archive(store: &Store, year: &str) -> Result<Vec<RecordFile>, String> {
    let start: i32 = year
        .get(0..4)
        .and_then(|y| y.parse().ok())
        .ok_or_else(|| format!("not a school year: {year}"))?;
    // A school year runs from August to the end of July.
    let (from, to) = (format!("{start}-08-01"), format!("{}-07-31", start + 1));
    let rx = store.read().map_err(|e| e.to_string())?;
    let e = |e: crate::store::StoreError| e.to_string();
    let school = crate::school::school_info(&rx)
        .map_err(e)?
        .map(|i| i.name)
        .unwrap_or_default();
    let now = jiff::Timestamp::now().to_string();
    let mut folders: std::collections::BTreeMap<String, Folder> = Default::default();
    let mut folder_of = |rx: &crate::store::Rx, department: &str| -> String {
        let name = folder(rx, department);
        folders.entry(name.clone()).or_insert_with(|| Folder {
            department: department.to_string(),
            manifest: Manifest {
                format: "tram.lesson-export/1".into(),
                school: school.clone(),
                scope: format!(
                    "năm học {year} — {}",
                    super::department_name(rx, department).unwrap_or_default()
                ),
                created_at: now.clone(),
                plans: vec![],
                keys: vec![],
            },
            signed: vec![],
        });
        name
    };
    let mut out = Vec::new();
    // The stems given so far, "{folder}/{stem}": two records never share a name.
    let mut taken = std::collections::HashSet::new();
    let mut entries: Vec<(String, crate::lessons::export::ManifestPlan, Vec<Signature>)> =
        Vec::new();
    for (id, plan) in rx.scan(&PLANS, "").map_err(e)? {
        let Some(newest) = plan.approved_version.filter(|_| plan.year == year) else {
            continue;
        };
        // An approved version stays approved when the plan is edited again: every one of
        // them up to the newest is a record BGH signed.
        let approved = plan_versions(&rx, &id)
            .map_err(e)?
            .into_iter()
            .filter(|v| v.state == State::Approved && v.number <= newest);
        for v in approved {
            let n = v.number;
            let kind = match v.kind {
                Kind::Pl1 => "pl1",
                Kind::Pl2 => "pl2",
                Kind::Pl3 => "pl3",
            };
            let dir = folder_of(&rx, &plan.department);
            let stem = record_stem(
                &dir,
                plan_base(&rx, kind, &v, &plan.author_name),
                n,
                &mut taken,
            );
            out.push(RecordFile {
                path: format!("to-chuyen-mon/{dir}/{stem}.pdf"),
                kind: "ke-hoach-to-chuyen-mon",
                title: v.kind.title().to_string(),
                class: None,
                department: Some(plan.department.clone()),
                // The approval is the Ed25519 statements of chu-ky.json over the content next
                // to it, not a signature inside this PDF.
                signed: false,
                current: Some(n == newest),
                bytes: super::pdf::plan(&rx, &plan, &v).map_err(|e| e.to_string())?,
            });
            let content = format!("{stem}.noi-dung-ky.json");
            out.push(RecordFile {
                path: format!("to-chuyen-mon/{dir}/{content}"),
                kind: "ke-hoach-to-chuyen-mon-noi-dung-ky",
                title: v.kind.title().to_string(),
                class: None,
                department: Some(plan.department.clone()),
                signed: !v.signatures.is_empty(),
                current: Some(n == newest),
                bytes: v.content(),
            });
            let title = format!("{} — {}", v.kind.short(), v.kind.title());
            entries.push((
                dir,
                document_entry(
                    &v,
                    v.state,
                    &v.signatures,
                    &title,
                    &plan.author_name,
                    content,
                ),
                v.signatures.clone(),
            ));
        }
    }
    for (id, m) in rx.scan(&MINUTES, "").map_err(e)? {
        let Some(newest) = m.signed_version else {
            continue;
        };
        if m.date < from || m.date > to {
            continue;
        }
        // A correction is a new version signed again; the earlier signed ones stay as signed.
        let signed = minutes_versions(&rx, &id)
            .map_err(e)?
            .into_iter()
            .filter(|v| v.state == State::Approved && v.number <= newest);
        for v in signed {
            let n = v.number;
            let dir = folder_of(&rx, &m.department);
            let stem = record_stem(&dir, format!("bien-ban-{}", v.date), n, &mut taken);
            out.push(RecordFile {
                path: format!("to-chuyen-mon/{dir}/{stem}.pdf"),
                kind: "bien-ban-sinh-hoat-chuyen-mon",
                title: "BIÊN BẢN SINH HOẠT CHUYÊN MÔN".into(),
                class: None,
                department: Some(m.department.clone()),
                signed: false,
                current: Some(n == newest),
                bytes: super::pdf::minutes(&rx, &m, &v).map_err(|e| e.to_string())?,
            });
            let content = format!("{stem}.noi-dung-ky.json");
            out.push(RecordFile {
                path: format!("to-chuyen-mon/{dir}/{content}"),
                kind: "bien-ban-noi-dung-ky",
                title: "BIÊN BẢN SINH HOẠT CHUYÊN MÔN".into(),
                class: None,
                department: Some(m.department.clone()),
                signed: !v.signatures.is_empty(),
                current: Some(n == newest),
                bytes: v.content(),
            });
            let title = format!(
                "Biên bản sinh hoạt chuyên môn ngày {}",
                crate::school::changes::vi_date(&v.date)
            );
            let writer = super::name_of(&rx, &v.writer).map_err(e)?;
            entries.push((
                dir,
                document_entry(&v, v.state, &v.signatures, &title, &writer, content),
                v.signatures.clone(),
            ));
        }
    }
    for (dir, entry, sigs) in entries {
        if let Some(f) = folders.get_mut(&dir) {
            f.manifest.plans.push(entry);
            f.signed.extend(sigs);
        }
    }
    for (dir, mut f) in folders {
        f.manifest.keys = signer_keys(&rx, &f.signed).map_err(e)?;
        out.push(RecordFile {
            path: format!("to-chuyen-mon/{dir}/chu-ky.json"),
            kind: "to-chuyen-mon-chu-ky",
            title: "tram.lesson-export/1".into(),
            class: None,
            department: Some(f.department),
            signed: true,
            current: None,
            bytes: serde_json::to_vec_pretty(&f.manifest).expect("serialisable"),
        });
    }
    Ok(out)
}

/// A record's file name in its tổ's folder (without the extension), the one naming rule of this
/// archive: `base` says what it is — kind, subject, grade, class, teacher, or the meeting's day
/// (`plan_base`, "bien-ban-2026-11-23") —, then its version; never Trạm's internal id, which
/// tells a reader nothing (review r14 #10: "ke-hoach-pl3-pl3-26691a012c70-v3"). `taken` keeps
/// two records of one folder apart: the second of a name gets "-2", then "-3"…
fn record_stem(
    dir: &str,
    base: String,
    version: u32,
    taken: &mut std::collections::HashSet<String>,
) -> String {
    let mut stem = format!("{base}-v{version}");
    let mut n = 1;
    while !taken.insert(format!("{dir}/{stem}")) {
        n += 1;
        stem = format!("{base}-{n}-v{version}");
    }
    stem
}

/// What a plan is, in its file name: "ke-hoach-pl1-toan-khoi-6", "ke-hoach-pl3-cong-nghe-lop-7a3-
/// le-thu-ngan", "ke-hoach-pl2-" and its title (at most 60 characters).
fn plan_base(rx: &impl Read, kind: &str, v: &super::PlanVersion, author: &str) -> String {
    let slug = crate::school::slug;
    let subject = rx
        .get(&crate::school::SUBJECTS, &v.subject)
        .ok()
        .flatten()
        .map_or_else(|| slug(&v.subject), |s| slug(&s.name));
    let base = match v.kind {
        Kind::Pl1 => format!("ke-hoach-{kind}-{subject}-khoi-{}", v.grade),
        Kind::Pl3 => format!(
            "ke-hoach-{kind}-{subject}-lop-{}-{}",
            slug(&v.class),
            slug(author)
        ),
        Kind::Pl2 => {
            let title: String = slug(&v.title).chars().take(60).collect();
            format!("ke-hoach-{kind}-{}", title.trim_end_matches('-'))
        }
    };
    base.trim_end_matches('-').replace("--", "-")
}

/// A plan's download name (`/dept/plan/{id}/pdf`, review r20 #11): what it is as the archive
/// names it ([`plan_base`]: Phụ lục, subject and grade, or class and teacher), a Phụ lục II
/// also its tổ, then the school year and the version — "ke-hoach-pl1-toan-khoi-6-2026-2027-v2.pdf".
pub fn plan_file_name(rx: &impl Read, plan: &super::Plan, v: &super::PlanVersion) -> String {
    let kind = match v.kind {
        Kind::Pl1 => "pl1",
        Kind::Pl2 => "pl2",
        Kind::Pl3 => "pl3",
    };
    download_name(
        &plan_base(rx, kind, v, &plan.author_name),
        v.kind,
        &folder(rx, &plan.department),
        &plan.year,
        v.number,
    )
}

/// [`plan_file_name`] from the archive's base name, the tổ's folder name, year and version.
fn download_name(base: &str, kind: Kind, dept: &str, year: &str, version: u32) -> String {
    let base = if kind == Kind::Pl2 {
        base.replacen("ke-hoach-pl2", &format!("ke-hoach-pl2-{dept}"), 1)
    } else {
        base.to_string()
    };
    format!("{base}-{year}-v{version}.pdf")
}

/// A meeting's minutes' download name (`/dept/minutes/{id}/pdf`): the tổ, the meeting's day and
/// the version — "bien-ban-to-toan-tin-2026-11-23-v1.pdf".
pub fn minutes_file_name(rx: &impl Read, m: &super::Minutes, v: &super::MinutesVersion) -> String {
    minutes_name(&folder(rx, &m.department), &v.date, v.number)
}

fn minutes_name(dept: &str, date: &str, version: u32) -> String {
    format!("bien-ban-{dept}-{date}-v{version}.pdf")
}

/// The department's folder: its name in plain ASCII ("to-toan-tin"), else its id.
fn folder(rx: &impl Read, department: &str) -> String {
    let name = super::department_name(rx, department).unwrap_or_default();
    let s = crate::school::slug(if name.is_empty() { department } else { &name });
    if s.is_empty() { "to".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::{Kind, download_name, minutes_name, record_stem};

    /// Review r20 #11: a download says what it is, its year and version, never "ke-hoach.pdf".
    #[test]
    fn a_downloaded_record_is_named_by_kind_year_and_version() {
        assert_eq!(
            download_name(
                "ke-hoach-pl1-toan-khoi-6",
                Kind::Pl1,
                "to-toan-tin",
                "2026-2027",
                2
            ),
            "ke-hoach-pl1-toan-khoi-6-2026-2027-v2.pdf"
        );
        assert_eq!(
            download_name(
                "ke-hoach-pl3-khtn-lop-6a1-nguyen-thi-lan",
                Kind::Pl3,
                "to-khtn",
                "2026-2027",
                5
            ),
            "ke-hoach-pl3-khtn-lop-6a1-nguyen-thi-lan-2026-2027-v5.pdf"
        );
        assert_eq!(
            download_name(
                "ke-hoach-pl2-ke-hoach-to-chuc-hoat-dong",
                Kind::Pl2,
                "to-toan-tin",
                "2026-2027",
                1
            ),
            "ke-hoach-pl2-to-toan-tin-ke-hoach-to-chuc-hoat-dong-2026-2027-v1.pdf"
        );
        assert_eq!(
            minutes_name("to-toan-tin", "2026-11-23", 3),
            "bien-ban-to-toan-tin-2026-11-23-v3.pdf"
        );
    }

    #[test]
    fn two_records_of_one_name_in_a_folder_are_told_apart() {
        let mut taken = Default::default();
        let a = record_stem("to-toan-tin", "bien-ban-2026-11-23".into(), 1, &mut taken);
        let b = record_stem("to-toan-tin", "bien-ban-2026-11-23".into(), 1, &mut taken);
        let c = record_stem("to-toan-tin", "bien-ban-2026-11-23".into(), 1, &mut taken);
        let other = record_stem("to-ngoai-ngu", "bien-ban-2026-11-23".into(), 1, &mut taken);
        assert_eq!(a, "bien-ban-2026-11-23-v1");
        assert_eq!(b, "bien-ban-2026-11-23-2-v1");
        assert_eq!(c, "bien-ban-2026-11-23-3-v1");
        assert_eq!(other, "bien-ban-2026-11-23-v1", "another folder");
    }
}
