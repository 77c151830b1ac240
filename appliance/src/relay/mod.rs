//! Store-and-forward relay to the district hub (the school side).
//!
//! Everything a capability marks for the district goes to the store's outbox in the transaction
//! that changes it. This module takes the outbox in order, packs it into signed, compressed
//! batches (`batch.rs`) numbered 1, 2, 3…, and uploads each one in chunks: before sending it asks
//! the hub how many bytes it already holds, so a dropped link resumes without re-sending
//! acknowledged bytes. A batch is done only when the hub says it stored it; then (and only then)
//! the school moves past it — the hub stores each (school, batch number) exactly once.
//!
//! Files in the data directory: `keys/device.key` (the school's Ed25519 key, 0600), `relay.json`
//! (the hub, the school code and the upload secret from enrolment, 0600), `relay-state.json`
//! (what the hub acknowledged, the link's last speed and error) and `relay/outgoing.batch` (the
//! batch being sent, kept across restarts so the same bytes are resumed).

pub mod batch;
mod courier;
pub mod downlink;
mod enrol;
mod resync;
pub mod routes;
pub mod stamp;
mod status;
mod upload;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::store::{OutboxEntry, Store};
use wire::HeldRecord;

pub use courier::{export, export_text};
pub use enrol::{
    EnrolError, Enrolment, HUB_NAME, Pending, RelayState, client, device_key, enrol, enrolment,
    enrolment_path, pending, save_pending, sha256_hex, state,
};
use enrol::{pending_path, save_state};
pub use resync::{HELD_PAGE, RestoreReport, restore_report};
use resync::{compare_held, ensure_held, held_path, restore_report_path};
pub use status::{status, status_text};
pub use upload::{UploadStatus, backlog, run, send_pending};
use upload::{checked, outgoing, queue_dir, queued};

/// How the relay may use the school's uplink.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Bytes per second at most.
    pub rate: u64,
    /// Local school hours (Asia/Ho_Chi_Minh): batches larger than `big` wait until after them.
    pub school_hours: Option<(jiff::civil::Time, jiff::civil::Time)>,
    pub big: u64,
    /// Outbox entries per batch at most.
    pub batch_entries: usize,
    pub privacy: Privacy,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            rate: 64 * 1024,
            school_hours: Some((
                jiff::civil::time(6, 30, 0, 0),
                jiff::civil::time(17, 0, 0, 0),
            )),
            big: 1 << 20,
            batch_entries: 5000,
            privacy: Privacy::default(),
        }
    }
}

impl Budget {
    /// Whether a batch of `len` bytes may go now.
    pub fn allows(&self, len: u64, now: jiff::Timestamp) -> bool {
        match self.school_hours {
            Some((from, to)) if len > self.big => {
                let t = now.to_zoned(crate::school::time_zone()).time();
                !(t >= from && t < to)
            }
            _ => true,
        }
    }
}

/// Bookkeeping entries that never leave the school.
fn internal(kind: &str) -> bool {
    kind.starts_with("relay.")
}

/// What may leave the school (DOMAIN.md §3.5: individual results go only where the national
/// database expects them; free text stays home unless the school decides otherwise).
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    /// Record kinds relayed (school, class, student, result, library_item, lesson_plan);
    /// None: all of them.
    pub kinds: Option<Vec<String>>,
    /// Send free-text comments (a result's nhận xét, a lesson plan's review comment).
    pub comments: bool,
}

/// The fields that hold free text, per record kind.
const FREE_TEXT: &[(&str, &str)] = &[("result", "nhanxet"), ("lesson_plan", "comment")];

/// Record kinds of which only the listed fields ever leave the school: of a student's profile,
/// the nơi sinh and dân tộc the học bạ prints and the hub checks (review r19 #7); never the
/// parents, the address, the policy or the disability.
const ONLY_FIELDS: &[(&str, &[&str])] = &[(
    crate::school::PROFILE_RELAY_KIND,
    &["birthplace", "ethnicity"],
)];

impl Privacy {
    /// The entry as it may leave the school, or None if its kind stays home.
    pub fn apply(&self, mut e: OutboxEntry) -> Option<OutboxEntry> {
        if internal(&e.kind) {
            return None;
        }
        if let Some(k) = &self.kinds
            && !k.contains(&e.kind)
        {
            return None;
        }
        if let Some((_, keep)) = ONLY_FIELDS.iter().find(|(k, _)| *k == e.kind)
            && let Some(serde_json::Value::Object(m)) = e.record.as_mut()
        {
            m.retain(|k, _| keep.contains(&k.as_str()));
        }
        if !self.comments
            && let Some(serde_json::Value::Object(m)) = e.record.as_mut()
        {
            for (kind, field) in FREE_TEXT {
                if *kind == e.kind && m.contains_key(*field) {
                    m.insert(field.to_string(), serde_json::Value::Null);
                }
            }
        }
        Some(e)
    }
}

/// The hub benchmark (`tram bench-relay-hub`): `schools` made-up schools enrol with tokens from
/// the running hub (`issue_token(code, name)` returns what the hub printed when asked for one),
/// then send `batches` batches of `entries` term-result records each, every batch in one
/// request, at most `concurrency` schools at a time (0: all at once). Every record has its own
/// key, so the hub must end up holding schools × batches × entries records. The batches are
/// built (serialised, compressed, signed) before the clock starts: a real school builds its
/// batch on its own box, so only the hub's work is timed. Returns the acknowledgement
/// latencies in milliseconds and the seconds the sending took.
pub async fn bench_hub(
    hub: &str,
    issue_token: impl Fn(&str, &str) -> anyhow::Result<String>,
    schools: usize,
    batches: u64,
    entries: u64,
    concurrency: usize,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let c = client(None)?;
    let mut ready = Vec::new();
    for i in 0..schools {
        let code = format!("bench{i:03}");
        let text = issue_token(&code, &format!("Trường {i}"))?;
        let token = text
            .lines()
            .find(|l| l.contains("use once"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_default()
            .to_string();
        let key = SigningKey::from_bytes(&rand::random());
        let r: serde_json::Value = c
            .post(format!("{hub}/relay/v1/enrol"))
            .json(&serde_json::json!({"token": token, "public_key": hex::encode(key.verifying_key().to_bytes())}))
            .send()
            .await?
            .json()
            .await?;
        let secret = r["secret"].as_str().unwrap_or_default().to_string();
        ready.push((code, key, secret));
    }
    // Built on every core at once; a 6,000-record batch is a few hundred KB compressed.
    let built = ready.into_iter().map(|(code, key, secret)| {
        tokio::task::spawn_blocking(move || {
            let list: Vec<Vec<u8>> = (1..=batches)
                .map(|seq| {
                    batch::build(
                        &key,
                        &code,
                        seq,
                        &bench_results(&code, seq, entries),
                        0,
                        "t",
                    )
                })
                .collect();
            (code, secret, list)
        })
    });
    // Spawned now, awaited below: a lazy `map` awaited in turn built one school at a time.
    let built: Vec<_> = built.collect();
    let mut work = Vec::new();
    for b in built {
        work.push(b.await?);
    }
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(if concurrency == 0 {
        schools.max(1)
    } else {
        concurrency
    }));
    let t0 = std::time::Instant::now();
    let mut senders = Vec::new();
    for (code, secret, list) in work {
        let c = c.clone();
        let hub = hub.to_string();
        let gate = gate.clone();
        senders.push(tokio::spawn(async move {
            let _turn = gate.acquire_owned().await?;
            let mut lat = Vec::new();
            for (seq, bytes) in (1u64..).zip(list) {
                let t = std::time::Instant::now();
                let r = c
                    .patch(format!("{hub}/relay/v1/batches/{code}/{seq}"))
                    .header("authorization", format!("Bearer {secret}"))
                    .header("upload-offset", "0")
                    .header("upload-length", bytes.len().to_string())
                    .body(bytes)
                    .send()
                    .await?;
                anyhow::ensure!(
                    r.status().is_success(),
                    "batch {seq} of {code}: {}",
                    r.status()
                );
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for s in senders {
        all.extend(s.await??);
    }
    Ok((all, t0.elapsed().as_secs_f64()))
}

/// Batch `seq` of a made-up school: `entries` term results shaped like the ones a school
/// relays (~400 bytes of JSON each), each under a key of its own.
fn bench_results(code: &str, seq: u64, entries: u64) -> Vec<crate::store::OutboxEntry> {
    (0..entries)
        .map(|k| {
            let n = (seq - 1) * entries + k + 1;
            let student = format!("hs-bench-{n:06}");
            crate::store::OutboxEntry {
                seq: n,
                kind: "result".into(),
                key: format!("2026-2027/1/{student}"),
                op: "update".into(),
                record: Some(serde_json::json!({
                    "rule_version": "tt22-v1", "matruong": code, "makhoi": 6 + n % 4,
                    "malop": format!("{}a{}", 6 + n % 4, 1 + n % 9), "mahocsinh": student,
                    "sodinhdanh": format!("0792{n:08}"), "hocky": "1",
                    "diemmon": {"toan": format!("{}.{}", 5 + n % 5, n % 10), "nv": "7.5", "nn1": "8.0",
                        "khtn": "6.8", "lsdl": "7.0", "gdcd": "8.5", "cn": "7.3", "tin": "9.0"},
                    "mahocluc": 1 + n % 4, "mahanhkiem": 1, "songaynghi": n % 3,
                    "danhhieu": null, "ketqua": null, "colenlop": null, "corenluyenlai": null,
                    "nhanxet": "", "phienban": n,
                })),
                at: "t".into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::upload::next_batch;
    use super::*;

    fn entry(kind: &str, record: serde_json::Value) -> OutboxEntry {
        OutboxEntry {
            seq: 1,
            kind: kind.into(),
            key: "k".into(),
            op: "update".into(),
            record: Some(record),
            at: "t".into(),
        }
    }

    #[test]
    fn a_reenrolled_box_numbers_its_outbox_above_what_the_hub_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        crate::demo::seed(&store, "x", 40, jiff::Timestamp::now()).unwrap();
        let mine = store.outbox_count_after(0).unwrap();
        assert!(mine > 100);
        // The hub holds more than this (older) copy of the database has: new entries follow it.
        let mut st = state(dir.path());
        st.acked_outbox = mine + 50;
        st.reserve_outbox = Some(mine + 50);
        st.next_seq = 9;
        save_state(dir.path(), &st).unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        // The first batch carries only the marker (it never leaves: 0 entries), so the hub
        // learns where the numbering continues.
        let b = next_batch(&store, dir.path(), &key, "s", &Budget::default())
            .unwrap()
            .unwrap();
        let (env, _) = batch::envelope(&b).unwrap();
        assert_eq!(
            (env.seq, env.first, env.last, env.entries),
            (9, mine + 51, mine + 51, 0)
        );
        assert!(state(dir.path()).reserve_outbox.is_none());
        let mut st = state(dir.path());
        st.acked_outbox = env.last;
        st.next_seq = 10;
        save_state(dir.path(), &st).unwrap();
        std::fs::remove_file(outgoing(dir.path())).unwrap();
        crate::demo::bench_relay(&store, 1).unwrap();
        let b = next_batch(&store, dir.path(), &key, "s", &Budget::default())
            .unwrap()
            .unwrap();
        let (env, _) = batch::envelope(&b).unwrap();
        assert_eq!(
            (env.seq, env.first, env.last, env.entries),
            (10, mine + 52, mine + 52, 1)
        );
        // Reserving below what the outbox already has changes nothing.
        assert!(!store.outbox_reserve(3).unwrap());
    }

    /// A box restored from a backup: the hub holds more than the backup (the dead box relayed
    /// after it), and the restored box has written new entries under numbers the hub already
    /// holds from the dead box. Nothing is skipped: every entry above what this box knew was
    /// receipted is renumbered above the hub's mark, in order, and sent.
    #[test]
    fn a_restored_box_renumbers_what_the_hub_never_receipted_instead_of_skipping_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        crate::demo::seed(&store, "x", 40, jiff::Timestamp::now()).unwrap();
        let mine = store.outbox_count_after(0).unwrap();
        // The backup knew the hub had stored up to mine - 10; the dead box went on to mine + 50.
        let mut st = state(dir.path());
        st.acked_outbox = mine - 10;
        save_state(dir.path(), &st).unwrap();
        // New work on the restored box before and during the enrolment.
        crate::demo::bench_relay(&store, 3).unwrap();
        let total = store.outbox_count_after(0).unwrap();
        let new_here = total - mine;
        assert!(new_here >= 3);
        let before: Vec<_> = store.outbox(mine - 10, 100_000).unwrap();
        // Enrolment as `enrol` records it.
        let mut st = state(dir.path());
        let receipted = st.acked_outbox.min(mine + 50);
        st.acked_outbox = receipted;
        st.reserve_outbox = Some(mine + 50);
        st.resend_from = Some(receipted);
        st.next_seq = 9;
        save_state(dir.path(), &st).unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        let budget = Budget {
            batch_entries: 100_000,
            ..Budget::default()
        };
        let b = next_batch(&store, dir.path(), &key, "s", &budget)
            .unwrap()
            .unwrap();
        let (env, _) = batch::envelope(&b).unwrap();
        assert_eq!(env.first, mine + 51, "continues right above the hub's mark");
        assert_eq!(
            env.last - env.first + 1,
            10 + new_here,
            "every unreceipted entry goes"
        );
        assert_eq!(state(dir.path()).renumbered, 10 + new_here);
        // The same entries, in the same order, only renumbered.
        let after: Vec<_> = store.outbox(mine + 50, 100_000).unwrap();
        assert_eq!(before.len(), after.len());
        for (a, b) in before.iter().zip(&after) {
            assert_eq!((&a.kind, &a.key, &a.record), (&b.kind, &b.key, &b.record));
        }
        assert!(
            store
                .outbox(0, 100_000)
                .unwrap()
                .iter()
                .all(|e| e.seq <= mine - 10 || e.seq > mine + 50)
        );
    }

    #[test]
    fn privacy_keeps_kinds_home_and_blanks_free_text_by_default() {
        let result = serde_json::json!({"mahocsinh": "hs-1", "nhanxet": "Em cần cố gắng hơn."});
        let p = Privacy::default();
        let out = p.apply(entry("result", result.clone())).unwrap();
        assert!(out.record.unwrap()["nhanxet"].is_null());
        let open = Privacy {
            comments: true,
            ..Privacy::default()
        };
        let out = open.apply(entry("result", result.clone())).unwrap();
        assert_eq!(out.record.unwrap()["nhanxet"], "Em cần cố gắng hơn.");
        let some = Privacy {
            kinds: Some(vec!["class".into()]),
            comments: false,
        };
        assert!(some.apply(entry("result", result)).is_none());
        assert!(some.apply(entry("class", serde_json::json!({}))).is_some());
    }

    #[test]
    fn a_student_profile_leaves_with_only_her_birthplace_and_ethnicity() {
        let profile = serde_json::json!({
            "birthplace": "Bệnh viện Hùng Vương", "ethnicity": "Kinh", "address": "12 Lê Lợi",
            "father": "Trần Văn A", "mother": "Lê Thị B", "policy": "Hộ nghèo", "disability": true
        });
        for p in [
            Privacy::default(),
            Privacy {
                comments: true,
                ..Privacy::default()
            },
        ] {
            let out = p.apply(entry("student_profile", profile.clone())).unwrap();
            assert_eq!(
                out.record.unwrap(),
                serde_json::json!({"birthplace": "Bệnh viện Hùng Vương", "ethnicity": "Kinh"})
            );
        }
    }
}
