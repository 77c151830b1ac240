//! Checking a target: every object's stored hash, the chain of manifests and the box's memory
//! of the newest; with the key, the manifests' MACs and a restore drill of the chosen backups.

use super::*;

#[derive(Debug, Clone)]
pub enum Which {
    Newest,
    All,
    Id(String),
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub backups: usize,
    pub objects: usize,
    pub stored_bytes: u64,
    /// Every problem found, each naming the backup or file.
    pub problems: Vec<String>,
    /// Backups restored into a scratch folder and checked end to end (needs the key).
    pub restored: Vec<RestoreCheck>,
    /// True when no key was available: only the stored hashes were checked.
    pub keyless: bool,
    /// What is worth knowing and is no fault (where the chain of backups starts).
    pub notes: Vec<String>,
}

/// Checks a target. Without a key: every file's stored hash against its sealed manifest, the
/// chain of manifests and the box's memory of the newest (`memory`: the box's data directory).
/// With it: also the manifests' MACs and a full restore drill of the backups `which` selects.
/// A damaged copy of `target.json` is rebuilt (with the key) and reported. The drill opens each
/// restored database with `schema` (this build's), as the box would.
pub fn verify(
    target: &Path,
    key: Option<&BackupKey>,
    which: Which,
    scratch_parent: &Path,
    memory: Option<&Path>,
    schema: &Schema,
) -> Result<VerifyReport, BackupError> {
    let tgt = Target::open_read(target)?;
    let mut rep = VerifyReport {
        keyless: key.is_none(),
        ..Default::default()
    };
    let notes = match key {
        Some(k) => tgt.info_repaired(k).map(|(_, n)| n),
        None => tgt.info(None).map(|(_, n)| n),
    };
    match notes {
        Ok(n) => rep.problems.extend(n),
        Err(e @ BackupError::OtherKey { .. }) => return Err(e),
        Err(e) => rep.problems.push(e.to_string()),
    }
    let manifests = tgt.manifests(key);
    let present: BTreeSet<String> = manifests.iter().map(|(id, _)| id.clone()).collect();
    let mut good: Vec<Manifest> = Vec::new();
    for (id, m) in manifests {
        match m {
            Ok(m) => good.push(m),
            Err(e) => rep.problems.push(format!("backup {id}: {e}")),
        }
    }
    rep.backups = good.len();
    if good.is_empty() && rep.problems.is_empty() {
        return Err(BackupError::NoBackup(target.to_path_buf()));
    }
    good.sort_by(oldest_first);
    let chain = walk_chain(&tgt, key, &present, &good);
    rep.problems.extend(chain.problems);
    rep.notes.extend(chain.notes);
    if let Some(dir) = memory {
        let r = remembered(dir, target);
        rep.problems
            .extend(against_memory(r.as_ref(), &good, &present));
    }
    let drill: Vec<&Manifest> = match (&which, key) {
        (_, None) => vec![],
        (Which::Newest, _) => good.last().into_iter().collect(),
        (Which::All, _) => good.iter().collect(),
        (Which::Id(id), _) => {
            let m = good
                .iter()
                .find(|m| &m.id == id)
                .ok_or_else(|| BackupError::UnknownBackup(id.clone()))?;
            vec![m]
        }
    };
    // Every object's stored bytes first (no key needed), so a damaged one is named by what it
    // holds and by every backup that shares it; the drill then restores only intact backups.
    let mut all: BTreeMap<&str, &ObjectRef> = BTreeMap::new();
    for m in &good {
        for o in m.objects() {
            all.insert(o.object.as_str(), o);
        }
    }
    rep.objects = all.len();
    rep.stored_bytes = all.values().map(|o| o.stored).sum();
    let list: Vec<&ObjectRef> = all.values().copied().collect();
    let mut damaged: BTreeSet<&str> = BTreeSet::new();
    let index: BTreeMap<String, String> = match key {
        Some(k) => good.iter().rev().flat_map(|m| open_index(k, m)).collect(),
        None => BTreeMap::new(),
    };
    for (o, r) in list.iter().zip(parallel(&list, |o| tgt.check_stored(o))) {
        let Err(e) = r else { continue };
        damaged.insert(o.object.as_str());
        let sharing: Vec<&str> = good
            .iter()
            .filter(|m| m.objects().any(|x| x.object == o.object))
            .map(|m| m.id.as_str())
            .collect();
        let what = good
            .iter()
            .find_map(|m| structural_name(m, &o.object))
            .map(String::from)
            .or_else(|| index.get(&o.object).cloned())
            .unwrap_or_else(|| {
                if key.is_some() {
                    "a stored file".into()
                } else {
                    "a library or lesson file (its title needs the key)".into()
                }
            });
        rep.problems.push(format!(
            "{e} — it holds {what}; backups that share it: {}",
            sharing.join(", ")
        ));
    }
    if let Some(k) = key {
        for m in drill {
            if m.objects().any(|o| damaged.contains(o.object.as_str())) {
                continue;
            }
            match restore_check(&tgt, k, m, scratch_parent, false, schema) {
                Ok(c) => rep.restored.push(c),
                Err(e) => rep.problems.push(format!("backup {}: {e}", m.id)),
            }
        }
    }
    Ok(rep)
}
