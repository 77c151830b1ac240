//! The school's schema steps, handed to the store through `app::schema`: the class roll, and
//! opaque student ids (whose step also rewrites the tables of other capabilities that name a
//! student; each of them lists its own as [`StudentRefs`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::store::{Migration, MigrationTx, StoreError, migrate::corrupt};

/// Schema 3: the class roll index (`school.roll.v1`, "{class}/{student}") so a class's
/// students are read without scanning the whole school.
pub const ROLL: Migration = Migration {
    to: 3,
    name: "students: the class roll",
    run: build_roll,
};

fn build_roll(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let students = super::STUDENTS.name;
    let mut entries = Vec::new();
    for (k, v) in tx.rows(students)? {
        let rec: serde_json::Value =
            serde_json::from_slice(&v).map_err(|e| corrupt(students, &k, e))?;
        let class = rec["class_id"].as_str().unwrap_or_default().to_string();
        let bytes = serde_json::to_vec(&k).map_err(|e| StoreError::Db(e.to_string()))?;
        entries.push((format!("{class}/{k}"), bytes));
    }
    let n = entries.len();
    tx.insert(super::ROLL.name, entries)?;
    Ok(format!("{n} students indexed by class"))
}

/// A table outside the school's own that names students, as the schema-5 step rewrites it.
pub struct StudentRefs {
    pub table: &'static str,
    /// The key's last segment ("…/{student}") is a student id.
    pub rekey: bool,
    /// This field of each value is a student id.
    pub field: Option<&'static str>,
    /// What its rows are, for the step's audit detail ("score rows").
    pub what: &'static str,
}

/// The schema-4 student ids, each with its new opaque id.
struct StudentIds {
    map: BTreeMap<String, String>,
    taken: BTreeSet<String>,
}

impl StudentIds {
    fn fresh(&mut self) -> String {
        loop {
            let id = super::new_student_id();
            if self.taken.insert(id.clone()) {
                return id;
            }
        }
    }

    /// The new id of `old`: a student's, or a fresh one for a schema-4 id ("hs-" + 12 digits)
    /// whose student is gone, so no key or value keeps a mã định danh. None: not a student id.
    fn new_id(&mut self, old: &str) -> Option<String> {
        if let Some(n) = self.map.get(old) {
            return Some(n.clone());
        }
        let legacy = old
            .strip_prefix("hs-")
            .is_some_and(|d| d.len() == 12 && d.bytes().all(|b| b.is_ascii_digit()));
        if !legacy {
            return None;
        }
        let n = self.fresh();
        self.map.insert(old.to_string(), n.clone());
        Some(n)
    }
}

/// Rewrites one table: the student segment of each key (the last one) and the `field` of each
/// value that names a student. Returns how many rows changed.
fn rewrite(
    tx: &MigrationTx<'_>,
    refs: &StudentRefs,
    ids: &mut StudentIds,
) -> Result<usize, StoreError> {
    let name = refs.table;
    let mut changed = Vec::new();
    for (k, v) in tx.rows(name)? {
        let mut key = k.clone();
        if refs.rekey {
            let (head, last) = k.rsplit_once('/').unwrap_or(("", k.as_str()));
            if let Some(n) = ids.new_id(last) {
                key = if head.is_empty() {
                    n
                } else {
                    format!("{head}/{n}")
                };
            }
        }
        let mut value = v.clone();
        if let Some(f) = refs.field {
            let mut rec: serde_json::Value =
                serde_json::from_slice(&v).map_err(|e| corrupt(name, &k, e))?;
            if let Some(n) = rec[f].as_str().and_then(|old| ids.new_id(old)) {
                rec[f] = serde_json::Value::String(n);
                value = serde_json::to_vec(&rec).map_err(|e| StoreError::Db(e.to_string()))?;
            }
        }
        if key != k || value != v {
            changed.push((k, key, value));
        }
    }
    let n = changed.len();
    if n > 0 {
        // Removed first: a new key never equals an old one, but a batch of moves must not
        // remove a row it has just written.
        tx.remove(name, changed.iter().map(|(old, _, _)| old))?;
        tx.insert(name, changed.iter().map(|(_, new, value)| (new, value)))?;
    }
    Ok(n)
}

/// Schema 5: every student gets an opaque id. Up to schema 4 a student's id was "hs-" + the
/// mã định danh, so every teacher read the number in class lists, sheets and URLs. One
/// transaction (the step's) rewrites the students, the class roll, the new mã định danh index
/// (`school.codes.v1`), and every row of `others` that names a student. The audit log keeps
/// its past events as they were (they are history, and the hash chain covers them); this step
/// is one event of its own. Nothing is queued for the district: the relayed key of a student or
/// a result is the mã định danh, unchanged ([`super::student_relay_key`]), so the hub neither
/// gets the whole school again nor ends up with two records for one student.
pub fn opaque_student_ids(
    tx: &MigrationTx<'_>,
    others: &[&StudentRefs],
) -> Result<String, StoreError> {
    let students_name = super::STUDENTS.name;
    let students = tx.rows(students_name)?;
    let mut ids = StudentIds {
        map: BTreeMap::new(),
        taken: BTreeSet::new(),
    };
    let mut moved = Vec::new();
    for (k, v) in &students {
        let mut rec: serde_json::Value =
            serde_json::from_slice(v).map_err(|e| corrupt(students_name, k, e))?;
        let new = ids.fresh();
        ids.map.insert(k.clone(), new.clone());
        rec["id"] = serde_json::Value::String(new.clone());
        moved.push((k.clone(), new, rec));
    }
    // Students, then the roll and the index built from them.
    let mut codes: BTreeMap<String, String> = BTreeMap::new();
    let mut duplicates = 0;
    let mut rows = Vec::new();
    for (_, new, rec) in &moved {
        let bytes = serde_json::to_vec(rec).map_err(|e| StoreError::Db(e.to_string()))?;
        rows.push((new.clone(), bytes));
        let ma = rec["ma_dinh_danh"].as_str().unwrap_or_default().to_string();
        if ma.is_empty() {
            continue;
        }
        match codes.entry(ma) {
            std::collections::btree_map::Entry::Occupied(_) => duplicates += 1,
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(new.clone());
            }
        }
    }
    tx.remove(students_name, moved.iter().map(|(old, _, _)| old))?;
    tx.insert(students_name, rows)?;
    if duplicates > 0 {
        tracing::warn!(
            duplicates,
            "students sharing a mã định danh: the index names the first of each"
        );
    }
    let roll_name = super::ROLL.name;
    let old_roll: Vec<String> = tx.rows(roll_name)?.into_iter().map(|(k, _)| k).collect();
    tx.remove(roll_name, &old_roll)?;
    let mut roll = Vec::new();
    for (_, new, rec) in &moved {
        let class = rec["class_id"].as_str().unwrap_or_default();
        let bytes = serde_json::to_vec(new).map_err(|e| StoreError::Db(e.to_string()))?;
        roll.push((format!("{class}/{new}"), bytes));
    }
    tx.insert(roll_name, roll)?;
    let mut index = Vec::new();
    for (ma, id) in &codes {
        let bytes = serde_json::to_vec(id).map_err(|e| StoreError::Db(e.to_string()))?;
        index.push((ma, bytes));
    }
    tx.insert(super::CODES.name, index)?;
    let mut rewritten = Vec::new();
    for refs in others {
        let n = rewrite(tx, refs, &mut ids)?;
        rewritten.push(format!("{n} {}", refs.what));
    }
    let orphans = ids.map.len() - moved.len();
    Ok(format!(
        "{} students given opaque ids ({} indexed by mã định danh{}); rewritten: {}{}",
        moved.len(),
        codes.len(),
        if duplicates > 0 {
            format!(", {duplicates} sharing a number")
        } else {
            String::new()
        },
        rewritten.join(", "),
        if orphans > 0 {
            format!("; {orphans} ids of students no longer on the roll replaced")
        } else {
            String::new()
        },
    ))
}
