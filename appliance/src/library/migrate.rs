//! The library's part in the schema steps: loans name a student, rewritten when students got
//! opaque ids (schema 5, `school::migrate::opaque_student_ids`); the items already shared are
//! marked as not yet vetted (schema 7); the items waiting or returned get the index keys that
//! say who sees them (schema 9).

use super::ReviewState;
use crate::school::migrate::StudentRefs;
use crate::store::{Migration, MigrationTx, StoreError, migrate::corrupt};

pub const STUDENT_REFS: [StudentRefs; 1] = [StudentRefs {
    table: super::LOANS.name,
    rekey: false,
    field: Some("student"),
    what: "loans",
}];

/// Schema 7: vetting before sharing. Every item the school already holds stays as it is, marked
/// "chưa thẩm định" (`ReviewState::Unvetted`) with its owner's department (so that department's
/// head finds it in the review queue) and the index key the queue and the search read. Items
/// the district shared down are not the school's to vet and are left alone. Nothing is queued
/// for the district: what it already holds is unchanged.
pub const VETTING: Migration = Migration {
    to: 7,
    name: "library: items already shared marked as not yet vetted",
    run: mark_unvetted,
};

fn mark_unvetted(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    use serde_json::Value;
    let parse = |table: &str, k: &str, v: &[u8]| -> Result<Value, StoreError> {
        serde_json::from_slice(v).map_err(|e| corrupt(table, k, e))
    };
    // The owners' departments, read from the accounts' rows (a migration sees raw rows only).
    let accounts = crate::auth::ACCOUNTS.name;
    let mut department = std::collections::BTreeMap::new();
    for (k, v) in tx.rows(accounts)? {
        let a = parse(accounts, &k, &v)?;
        if let Some(d) = a["department"].as_str() {
            department.insert(k, d.to_string());
        }
    }
    let (mut items, mut keys) = (Vec::new(), Vec::new());
    for (k, v) in tx.rows(super::ITEMS.name)? {
        let mut item = parse(super::ITEMS.name, &k, &v)?;
        if item["from_district"] == true || item.get("review").is_some() {
            continue;
        }
        let owner = item["owner"].as_str().unwrap_or_default();
        item["review"] = serde_json::json!({
            "state": ReviewState::Unvetted.as_str(),
            "department": department.get(owner),
        });
        let bytes = serde_json::to_vec(&item).map_err(|e| corrupt(super::ITEMS.name, &k, e))?;
        keys.push((super::review_key(ReviewState::Unvetted, &k), b"1".to_vec()));
        items.push((k, bytes));
    }
    let n = items.len();
    tx.insert(super::ITEMS.name, items)?;
    tx.insert(super::INDEX.name, keys)?;
    Ok(format!("{n} library items marked as not yet vetted"))
}

/// Schema 9: the search tells who may see a waiting or returned item from index keys (its
/// owner's, and the tổ that vets it: `held_keys`) instead of reading the item. The items
/// waiting or returned since schema 7 get those keys; nothing else changes.
pub const HELD_KEYS: Migration = Migration {
    to: 9,
    name: "library: index keys of who sees a waiting or returned item",
    run: held_keys,
};

fn held_keys(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let mut keys = Vec::new();
    let mut n = 0;
    for (k, v) in tx.rows(super::ITEMS.name)? {
        let item: serde_json::Value =
            serde_json::from_slice(&v).map_err(|e| corrupt(super::ITEMS.name, &k, e))?;
        if item["from_district"] == true {
            continue;
        }
        let state = match item["review"]["state"].as_str() {
            Some("waiting") => ReviewState::Waiting,
            Some("returned") => ReviewState::Returned,
            _ => continue,
        };
        n += 1;
        let owner = item["owner"].as_str().unwrap_or_default();
        let department = item["review"]["department"].as_str();
        for key in super::held_keys(state, owner, department, &k) {
            keys.push((key, b"1".to_vec()));
        }
    }
    tx.insert(super::INDEX.name, keys)?;
    Ok(format!(
        "{n} waiting or returned library items indexed by who sees them"
    ))
}
