//! Forward schema migrations, run at start in one write transaction each.
//! A schema change is a new table version plus a copy migration (redb's own advice); the old
//! table is deleted in the same transaction, so a crash leaves either the old or the new schema.
//!
//! History:
//! - 1: accounts had a single `role` (`auth.accounts.v1`).
//! - 2: accounts carry a set of `roles` (`auth.accounts.v2`): a vice principal or a department
//!   head also teaches.
//! - 3: the class roll index (`school.roll.v1`, "{class}/{student}") so a class's students are
//!   read without scanning the whole school.
//! - 4: the lesson-plan review queue (`lessons.waiting.v1`, "{state}/{department}/{plan}") so a
//!   reviewer's home page does not read every plan of the year.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Actor, META, SCHEMA_VERSION, StoreError, audit};

const VERSION_KEY: &str = "schema_version";

/// Table definitions of earlier schemas, kept so that old databases can be read and migrated.
pub mod legacy {
    use redb::TableDefinition;
    pub const ACCOUNTS_V1: TableDefinition<&str, &[u8]> = TableDefinition::new("auth.accounts.v1");
}

pub(crate) fn schema_version(db: &Database) -> Result<u64, StoreError> {
    let rtx = db.begin_read()?;
    let meta = match rtx.open_table(META) {
        Ok(m) => m,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let v = meta.get(VERSION_KEY)?;
    Ok(
        v.and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
            .unwrap_or(0),
    )
}

fn set_version(wtx: &redb::WriteTransaction, v: u64) -> Result<(), StoreError> {
    let mut meta = wtx.open_table(META)?;
    meta.insert(VERSION_KEY, v.to_string().as_bytes())?;
    Ok(())
}

pub(crate) fn run(db: &Database) -> Result<(), StoreError> {
    let mut current = schema_version(db)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    if current == 0 {
        // A new database starts at the current schema.
        let w = db.begin_write()?;
        set_version(&w, SCHEMA_VERSION)?;
        w.commit()?;
        return Ok(());
    }
    while current < SCHEMA_VERSION {
        let w = db.begin_write()?;
        let detail = match current {
            1 => v1_to_v2(&w)?,
            2 => v2_to_v3(&w)?,
            3 => v3_to_v4(&w)?,
            other => return Err(StoreError::Db(format!("no migration from schema {other}"))),
        };
        let now = jiff::Timestamp::now();
        audit::append(
            &w,
            &Actor::system(now),
            vec![audit::PendingEvent {
                action: "schema.migrate".into(),
                target: format!("schema/{}", current + 1),
                before: Some(serde_json::json!({ "schema": current })),
                after: Some(serde_json::json!({ "schema": current + 1, "detail": detail })),
            }],
        )?;
        set_version(&w, current + 1)?;
        w.commit()?;
        tracing::info!(from = current, to = current + 1, "migrated database schema");
        current += 1;
    }
    Ok(())
}

fn v1_to_v2(w: &redb::WriteTransaction) -> Result<String, StoreError> {
    let new: TableDefinition<&str, &[u8]> = TableDefinition::new(crate::auth::ACCOUNTS.name);
    let mut n = 0;
    {
        let old = w.open_table(legacy::ACCOUNTS_V1)?;
        let mut newt = w.open_table(new)?;
        for row in old.iter()? {
            let (k, v) = row?;
            let mut rec: serde_json::Value =
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    table: legacy::ACCOUNTS_V1.to_string(),
                    key: k.value().into(),
                    reason: e.to_string(),
                })?;
            if let Some(obj) = rec.as_object_mut() {
                let role = obj.remove("role").unwrap_or(serde_json::Value::Null);
                let roles = match role {
                    serde_json::Value::String(r) => vec![serde_json::Value::String(r)],
                    _ => vec![],
                };
                obj.insert("roles".into(), serde_json::Value::Array(roles));
            }
            let bytes = serde_json::to_vec(&rec).map_err(|e| StoreError::Db(e.to_string()))?;
            newt.insert(k.value(), bytes.as_slice())?;
            n += 1;
        }
    }
    w.delete_table(legacy::ACCOUNTS_V1)?;
    Ok(format!("{n} accounts: role -> roles"))
}

fn v2_to_v3(w: &redb::WriteTransaction) -> Result<String, StoreError> {
    let students: TableDefinition<&str, &[u8]> = TableDefinition::new(crate::school::STUDENTS.name);
    let roll: TableDefinition<&str, &[u8]> = TableDefinition::new(crate::school::ROLL.name);
    let mut n = 0;
    let mut entries = Vec::new();
    match w.open_table(students) {
        Ok(t) => {
            for row in t.iter()? {
                let (k, v) = row?;
                let rec: serde_json::Value =
                    serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                        table: crate::school::STUDENTS.name.into(),
                        key: k.value().into(),
                        reason: e.to_string(),
                    })?;
                let class = rec["class_id"].as_str().unwrap_or_default().to_string();
                entries.push((format!("{class}/{}", k.value()), k.value().to_string()));
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut t = w.open_table(roll)?;
    for (key, id) in entries {
        let bytes = serde_json::to_vec(&id).map_err(|e| StoreError::Db(e.to_string()))?;
        t.insert(key.as_str(), bytes.as_slice())?;
        n += 1;
    }
    Ok(format!("{n} students indexed by class"))
}

fn v3_to_v4(w: &redb::WriteTransaction) -> Result<String, StoreError> {
    let plans: TableDefinition<&str, &[u8]> = TableDefinition::new(crate::lessons::PLANS.name);
    let waiting: TableDefinition<&str, &[u8]> = TableDefinition::new(crate::lessons::WAITING.name);
    let mut entries = Vec::new();
    match w.open_table(plans) {
        Ok(t) => {
            for row in t.iter()? {
                let (k, v) = row?;
                let plan: crate::lessons::Plan =
                    serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                        table: crate::lessons::PLANS.name.into(),
                        key: k.value().into(),
                        reason: e.to_string(),
                    })?;
                if let Some(key) = crate::lessons::waiting_key(&plan) {
                    entries.push((key, v.value().to_vec()));
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let n = entries.len();
    let mut t = w.open_table(waiting)?;
    for (key, bytes) in entries {
        t.insert(key.as_str(), bytes.as_slice())?;
    }
    Ok(format!("{n} plans waiting for review indexed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A database written by schema 1 opens, migrates, and its accounts keep working.
    #[test]
    fn schema_1_database_migrates_forward() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, 1).unwrap();
            {
                let mut t = w.open_table(legacy::ACCOUNTS_V1).unwrap();
                let v1 = serde_json::json!({
                    "id": "gv-lan", "username": "lan", "full_name": "Nguyễn Thị Lan",
                    "role": "teacher", "department": null, "disabled": false,
                    "created_at": "2025-09-01T00:00:00Z"
                });
                t.insert("gv-lan", serde_json::to_vec(&v1).unwrap().as_slice())
                    .unwrap();
            }
            w.commit().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let acc = s
            .read()
            .unwrap()
            .get(&crate::auth::ACCOUNTS, "gv-lan")
            .unwrap()
            .expect("account survives the migration");
        assert_eq!(acc.full_name, "Nguyễn Thị Lan");
        assert_eq!(acc.roles, vec![crate::auth::Role::Teacher]);
        let tail = s.audit_tail(1).unwrap();
        assert_eq!(tail[0].action, "schema.migrate");
        assert!(s.verify_audit().unwrap().is_intact());
        // One audit event per step (1→2, 2→3, 3→4); opening again is a no-op.
        let steps = (SCHEMA_VERSION - 1) as usize;
        assert_eq!(s.audit_tail(10).unwrap().len(), steps);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.audit_tail(10).unwrap().len(), steps);
    }

    /// A schema-2 database (students, no class roll) gets its roll built, and moving a student
    /// afterwards keeps the roll right.
    #[test]
    fn schema_2_database_gets_the_class_roll() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, 2).unwrap();
            {
                let students: TableDefinition<&str, &[u8]> =
                    TableDefinition::new(crate::school::STUDENTS.name);
                let mut t = w.open_table(students).unwrap();
                for (id, class) in [
                    ("hs-1", "2026-6a1"),
                    ("hs-2", "2026-6a1"),
                    ("hs-3", "2026-6a2"),
                ] {
                    let v = serde_json::json!({"id": id, "full_name": format!("Học sinh {id}"), "dob": "2014-01-01",
                        "gender": "Nam", "ma_dinh_danh": "001214000001", "class_id": class});
                    t.insert(id, serde_json::to_vec(&v).unwrap().as_slice())
                        .unwrap();
                }
                let classes: TableDefinition<&str, &[u8]> =
                    TableDefinition::new(crate::school::CLASSES.name);
                let mut c = w.open_table(classes).unwrap();
                for id in ["2026-6a1", "2026-6a2"] {
                    let v = serde_json::json!({"id": id, "name": id, "grade": 6, "year": "2026-2027", "homeroom": null});
                    c.insert(id, serde_json::to_vec(&v).unwrap().as_slice())
                        .unwrap();
                }
            }
            w.commit().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let rx = s.read().unwrap();
        assert_eq!(
            crate::school::students_of_class(&rx, "2026-6a1")
                .unwrap()
                .len(),
            2
        );
        let mut moved = rx.get(&crate::school::STUDENTS, "hs-1").unwrap().unwrap();
        drop(rx);
        moved.class_id = "2026-6a2".into();
        s.write(&Actor::system(jiff::Timestamp::UNIX_EPOCH), |tx| {
            crate::school::save_student(tx, moved, "test")
        })
        .unwrap();
        let rx = s.read().unwrap();
        assert_eq!(
            crate::school::students_of_class(&rx, "2026-6a1")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            crate::school::students_of_class(&rx, "2026-6a2")
                .unwrap()
                .len(),
            2
        );
    }

    /// A schema-3 database (plans, no review queue) gets its queue built from the plans.
    #[test]
    fn schema_3_database_gets_the_review_queue() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        crate::demo::seed(&s, "x", 10, jiff::Timestamp::now()).unwrap();
        let expected: Vec<String> = s
            .read()
            .unwrap()
            .scan(&crate::lessons::PLANS, "")
            .unwrap()
            .into_iter()
            .filter_map(|(_, p)| crate::lessons::waiting_key(&p))
            .collect();
        assert!(!expected.is_empty(), "the demo has plans waiting");
        drop(s);
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            w.delete_table(TableDefinition::<&str, &[u8]>::new(
                crate::lessons::WAITING.name,
            ))
            .unwrap();
            set_version(&w, 3).unwrap();
            w.commit().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let got: Vec<String> = s
            .read()
            .unwrap()
            .scan(&crate::lessons::WAITING, "")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected);
        assert!(s.verify_audit().unwrap().is_intact());
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, SCHEMA_VERSION + 1).unwrap();
            w.commit().unwrap();
        }
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::NewerSchema { .. })
        ));
    }
}
