//! The audit chain: one event per change, each carrying the BLAKE3 hash of the previous event,
//! appended by the write path in the same transaction as the change. `verify_after` walks the
//! chain (all of it, or from a checkpoint) and names the first broken link.

use redb::{Database, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::{AUDIT, Actor, META, StoreError};

const HEAD_KEY: &str = "audit.head";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEvent {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

impl AuditEvent {
    fn compute_hash(&self) -> String {
        let mut e = self.clone();
        e.hash = String::new();
        // serde_json maps are ordered (BTreeMap), so this encoding is canonical.
        let bytes = serde_json::to_vec(&e).expect("audit event always serialises");
        blake3::hash(&bytes).to_hex().to_string()
    }
}

pub(crate) struct PendingEvent {
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

pub(crate) fn append(
    wtx: &redb::WriteTransaction,
    actor: &Actor,
    events: Vec<PendingEvent>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut meta = wtx.open_table(META)?;
    let head: Head = match meta.get(HEAD_KEY)? {
        Some(v) => serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
            table: META.to_string(),
            key: HEAD_KEY.into(),
            reason: e.to_string(),
        })?,
        None => Head {
            seq: 0,
            hash: GENESIS.into(),
        },
    };
    let mut t = wtx.open_table(AUDIT)?;
    let (mut seq, mut prev) = (head.seq, head.hash);
    for p in events {
        seq += 1;
        let mut e = AuditEvent {
            seq,
            at: actor.now.to_string(),
            actor: actor.id.clone(),
            action: p.action,
            target: p.target,
            before: p.before,
            after: p.after,
            prev: prev.clone(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        prev = e.hash.clone();
        let bytes = serde_json::to_vec(&e).map_err(|e| StoreError::Db(e.to_string()))?;
        t.insert(seq, bytes.as_slice())?;
    }
    let head = serde_json::to_vec(&Head { seq, hash: prev }).expect("head serialises");
    meta.insert(HEAD_KEY, head.as_slice())?;
    Ok(())
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub events: u64,
    /// The first broken link, if any: the event's sequence number and what is wrong with it.
    pub broken: Option<(u64, String)>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The last event a walk found intact: a later walk can start after it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checkpoint {
    seq: u64,
    hash: String,
}

/// Walks the chain from the event after `from` (the start when None) to its head; with the
/// report, the checkpoint a later walk may start from when the chain was found intact.
pub(crate) fn verify_after(
    db: &Database,
    from: Option<&Checkpoint>,
) -> Result<(ChainReport, Option<Checkpoint>), StoreError> {
    let (report, end) = walk(db, from)?;
    Ok(match report.broken {
        None => (report, Some(end)),
        Some(_) => (report, None),
    })
}

fn walk(db: &Database, from: Option<&Checkpoint>) -> Result<(ChainReport, Checkpoint), StoreError> {
    let rtx = db.begin_read()?;
    let head: Option<Head> = match rtx.open_table(META) {
        Ok(m) => m
            .get(HEAD_KEY)?
            .and_then(|v| serde_json::from_slice(v.value()).ok()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let t = match rtx.open_table(AUDIT) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            let report = ChainReport {
                events: 0,
                broken: head.filter(|h| h.seq > 0).map(|h| {
                    (
                        h.seq,
                        "the audit table is missing but the chain head says it had events".into(),
                    )
                }),
            };
            return Ok((report, genesis()));
        }
        Err(e) => return Err(e.into()),
    };
    let start = from.cloned().unwrap_or_else(genesis);
    let mut expect_seq = start.seq + 1;
    let mut prev = start.hash;
    let broken = |seq: u64, why: String, n: u64| {
        (
            ChainReport {
                events: n,
                broken: Some((seq, why)),
            },
            genesis(),
        )
    };
    for row in t.range(expect_seq..)? {
        let (k, v) = row?;
        let seq = k.value();
        let e: AuditEvent = match serde_json::from_slice(v.value()) {
            Ok(e) => e,
            Err(err) => {
                return Ok(broken(
                    seq,
                    format!("event cannot be decoded: {err}"),
                    seq - 1,
                ));
            }
        };
        if seq != expect_seq || e.seq != seq {
            return Ok(broken(
                expect_seq,
                format!("event {expect_seq} is missing (next stored event is {seq})"),
                seq - 1,
            ));
        }
        if e.prev != prev {
            return Ok(broken(
                seq,
                "does not link to the previous event (an event before it was changed or removed)"
                    .into(),
                seq - 1,
            ));
        }
        if e.compute_hash() != e.hash {
            return Ok(broken(
                seq,
                format!(
                    "content does not match its hash (edited after it was written: {} on {} by {})",
                    e.action, e.target, e.actor
                ),
                seq - 1,
            ));
        }
        prev = e.hash;
        expect_seq += 1;
    }
    let n = expect_seq - 1;
    if let Some(h) = head
        && (h.seq != n || h.hash != prev)
    {
        return Ok(broken(
            n + 1,
            format!(
                "the chain ends at event {n} but its recorded head is event {} (events were removed from the end)",
                h.seq
            ),
            n,
        ));
    }
    Ok((
        ChainReport {
            events: n,
            broken: None,
        },
        Checkpoint { seq: n, hash: prev },
    ))
}

fn genesis() -> Checkpoint {
    Checkpoint {
        seq: 0,
        hash: GENESIS.into(),
    }
}

pub(crate) fn tail(db: &Database, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
    let rtx = db.begin_read()?;
    let t = match rtx.open_table(AUDIT) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in t.iter()?.rev().take(limit) {
        let (_, v) = row?;
        out.push(
            serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                table: AUDIT.to_string(),
                key: "tail".into(),
                reason: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// Test support: rewrites one stored event in place, as an attacker with the file would.
#[doc(hidden)]
pub fn tamper_for_test(
    db: &Database,
    seq: u64,
    edit: impl FnOnce(&mut AuditEvent),
) -> Result<(), StoreError> {
    let w = db.begin_write()?;
    {
        let mut t = w.open_table(AUDIT)?;
        let mut e: AuditEvent = {
            let v = t
                .get(seq)?
                .ok_or_else(|| StoreError::Db(format!("no audit event {seq}")))?;
            serde_json::from_slice(v.value()).map_err(|e| StoreError::Db(e.to_string()))?
        };
        edit(&mut e);
        let bytes = serde_json::to_vec(&e).map_err(|e| StoreError::Db(e.to_string()))?;
        t.insert(seq, bytes.as_slice())?;
    }
    w.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{AuditPolicy, Collection, Store};
    use super::*;

    const NOTES: Collection<serde_json::Value> =
        Collection::new("school.students.v1", AuditPolicy::Values, None);

    fn store_with_events(n: u32) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &crate::store::tests::schema_of(&[NOTES.name])).unwrap();
        for i in 0..n {
            let a = Actor {
                id: "gv01".into(),
                now: jiff::Timestamp::from_second(1_800_000_000 + i as i64).unwrap(),
            };
            s.write(&a, |tx| {
                tx.put(
                    &NOTES,
                    &format!("k{i}"),
                    &serde_json::json!({"v": i}),
                    "note.put",
                )
            })
            .unwrap();
        }
        (dir, s)
    }

    #[test]
    fn intact_chain_verifies() {
        let (_d, s) = store_with_events(5);
        let r = s.verify_audit().unwrap();
        assert_eq!(r.events, 5);
        assert!(r.is_intact());
    }

    /// The status walk reads only events written since its last intact walk, and agrees with
    /// the full walk; a full walk that finds a break makes the next status walk start over.
    #[test]
    fn status_walks_only_new_events_and_agrees_with_the_full_walk() {
        let (_d, s) = store_with_events(5);
        assert_eq!(s.audit_status().unwrap().events, 5);
        let a = Actor {
            id: "gv01".into(),
            now: jiff::Timestamp::from_second(1_900_000_000).unwrap(),
        };
        for i in 5..8 {
            s.write(&a, |tx| {
                tx.put(
                    &NOTES,
                    &format!("k{i}"),
                    &serde_json::json!({"v": i}),
                    "note.put",
                )
            })
            .unwrap();
        }
        let r = s.audit_status().unwrap();
        assert_eq!((r.events, r.is_intact()), (8, true));
        // An event after the checkpoint is walked, so a change to it is found.
        s.write(&a, |tx| {
            tx.put(&NOTES, "k8", &serde_json::json!({"v": 8}), "note.put")
        })
        .unwrap();
        tamper_for_test(s.raw_db(), 9, |e| e.actor = "someone".into()).unwrap();
        assert_eq!(s.audit_status().unwrap().broken.unwrap().0, 9);
        // Still broken on the next look (a broken walk leaves no checkpoint).
        assert_eq!(s.audit_status().unwrap().broken.unwrap().0, 9);
        assert_eq!(s.verify_audit().unwrap().broken.unwrap().0, 9);
    }

    /// The admin home asks for the status on every view: with no write since the last answer
    /// it is given again without a walk; the next write makes the next look walk (issue 24).
    #[test]
    fn the_status_is_walked_once_per_write() {
        let (_d, s) = store_with_events(3);
        assert_eq!(s.audit_status().unwrap().events, 3);
        let walks = s.audit_walks();
        for _ in 0..5 {
            assert_eq!(s.audit_status().unwrap().events, 3);
        }
        assert_eq!(s.audit_walks(), walks, "no write, no walk");
        let a = Actor {
            id: "gv01".into(),
            now: jiff::Timestamp::from_second(1_900_000_000).unwrap(),
        };
        s.write(&a, |tx| {
            tx.put(&NOTES, "k3", &serde_json::json!({"v": 3}), "note.put")
        })
        .unwrap();
        assert_eq!(s.audit_status().unwrap().events, 4);
        assert_eq!(s.audit_walks(), walks + 1);
    }

    /// A change behind the checkpoint (impossible while the appliance holds the file) is still
    /// found by the full walk, and from then on by the status walk too.
    #[test]
    fn a_full_walk_resets_the_status_checkpoint() {
        let (_d, s) = store_with_events(5);
        assert!(s.audit_status().unwrap().is_intact());
        tamper_for_test(s.raw_db(), 2, |e| e.action = "note.other".into()).unwrap();
        assert_eq!(s.verify_audit().unwrap().broken.unwrap().0, 2);
        assert_eq!(s.audit_status().unwrap().broken.unwrap().0, 2);
    }

    #[test]
    fn edited_event_is_named() {
        let (_d, s) = store_with_events(5);
        tamper_for_test(s.raw_db(), 3, |e| {
            e.after = Some(serde_json::json!({"v": 99}))
        })
        .unwrap();
        let r = s.verify_audit().unwrap();
        let (seq, why) = r.broken.expect("tampering must be detected");
        assert_eq!(seq, 3);
        assert!(why.contains("hash"), "{why}");
    }

    #[test]
    fn rehashed_edit_breaks_the_next_link() {
        let (_d, s) = store_with_events(5);
        tamper_for_test(s.raw_db(), 2, |e| {
            e.actor = "intruder".into();
            e.hash = e.compute_hash();
        })
        .unwrap();
        let (seq, why) = s.verify_audit().unwrap().broken.unwrap();
        assert_eq!(seq, 3);
        assert!(why.contains("previous"), "{why}");
    }

    #[test]
    fn removed_tail_is_detected() {
        let (_d, s) = store_with_events(4);
        let w = s.raw_db().begin_write().unwrap();
        w.open_table(AUDIT).unwrap().remove(4u64).unwrap();
        w.commit().unwrap();
        let (seq, _) = s.verify_audit().unwrap().broken.unwrap();
        assert_eq!(seq, 4);
    }
}
