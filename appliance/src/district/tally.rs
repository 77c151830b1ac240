//! The hub benchmark's check (`tram bench-tally`, bench/restored-box.sh): what a school's box
//! relayed against what this hub holds for it, kind by kind.

use serde::Serialize;

use super::HubStorage;
use crate::relay::{Privacy, restore_report};
use crate::store::Store;

/// One relayed kind, the school's side against the hub's (bench/restored-box.sh).
#[derive(Debug, Default, Serialize)]
pub struct KindTally {
    pub kind: String,
    /// Keys this box's outbox holds (privacy applied), each at its latest content.
    pub school: usize,
    /// Keys the hub holds for this school.
    pub hub: usize,
    /// Keys whose latest content is the same on both sides.
    pub equal: usize,
    /// Keys the hub holds differently or alone that this box's restore report names (the old
    /// box's work after its backup, shown to the staff to re-enter).
    pub reported_missing: usize,
    /// Keys that differ and nothing explains: a lost or altered record.
    pub unexplained: usize,
}

/// Compares, kind by kind, the latest content of every key this box has relayed with what the
/// hub holds for it. Run with both stopped. Every hub key must be equal or named in the
/// restore report; every key of this box must be equal.
pub fn tally(
    store: &Store,
    hub: &dyn HubStorage,
    school: &str,
    privacy: &Privacy,
) -> anyhow::Result<Vec<KindTally>> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    type Latest = (String, Option<serde_json::Value>);
    let mut mine: HashMap<(String, String), Latest> = HashMap::new();
    for e in store.outbox(0, usize::MAX)? {
        if let Some(e) = privacy.apply(e) {
            mine.insert((e.kind, e.key), (e.op, e.record));
        }
    }
    let theirs: HashMap<(String, String), Latest> = hub
        .records_after(school, 0, None, usize::MAX)?
        .into_iter()
        .map(|h| ((h.kind, h.key), (h.op, h.record)))
        .collect();
    let reported: HashSet<(String, String)> = restore_report(store.dir())
        .map(|r| r.missing.into_iter().map(|h| (h.kind, h.key)).collect())
        .unwrap_or_default();
    let mut out: BTreeMap<String, KindTally> = BTreeMap::new();
    fn row<'a>(out: &'a mut BTreeMap<String, KindTally>, kind: &str) -> &'a mut KindTally {
        out.entry(kind.to_string()).or_insert_with(|| KindTally {
            kind: kind.to_string(),
            ..KindTally::default()
        })
    }
    for (k, v) in &mine {
        let t = row(&mut out, &k.0);
        t.school += 1;
        match theirs.get(k) {
            Some(h) if h == v => t.equal += 1,
            _ if reported.contains(k) => t.reported_missing += 1,
            _ => t.unexplained += 1,
        }
    }
    for k in theirs.keys() {
        let t = row(&mut out, &k.0);
        t.hub += 1;
        if !mine.contains_key(k) {
            if reported.contains(k) {
                t.reported_missing += 1;
            } else {
                t.unexplained += 1;
            }
        }
    }
    Ok(out.into_values().collect())
}
