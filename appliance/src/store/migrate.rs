//! The schema engine: the schema version in `store.meta.v1`, and the forward migrations the
//! capabilities hand over in a [`Schema`], run at start in order, one write transaction each.
//! A schema change is a new table version plus a copy migration (redb's own advice); the old
//! table is deleted in the same transaction, so a crash leaves either the old or the new schema.
//! Each step's body lives with the capability whose tables it changes and reaches the rows only
//! through [`MigrationTx`], so no capability touches redb.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{AUDIT, Actor, META, OUTBOX, StoreError, audit};

const VERSION_KEY: &str = "schema_version";

/// What a build knows of the database: the version it writes, every table it registers and
/// the steps that bring an older database up to that version.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The schema version this build writes. Older databases are migrated forward at start, a
    /// newer one is refused.
    pub version: u64,
    /// The capabilities' tables. Start-up refuses a database holding any table not listed here
    /// (or the store's own), so that no backup silently misses one.
    pub tables: Vec<&'static str>,
    /// One step per version after the first, in any order: the engine runs them by `to`.
    pub migrations: Vec<Migration>,
}

/// One step of the schema: from version `to - 1` to `to`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub to: u64,
    /// What the step does, for the log.
    pub name: &'static str,
    /// The step's body; what it returns is written into its `schema.migrate` audit event.
    pub run: fn(&MigrationTx<'_>) -> Result<String, StoreError>,
}

impl Schema {
    /// Every table this build knows: the store's own, then the capabilities'.
    pub fn registered_tables(&self) -> Vec<&'static str> {
        let mut v = vec![META.name(), AUDIT.name(), OUTBOX.name()];
        v.extend(&self.tables);
        v
    }
}

use redb::TableHandle;

/// A migration's view of the database: raw JSON rows by table name, inside the step's one
/// write transaction. Nothing it does is audited or queued for the district; the step is one
/// audit event of its own.
pub struct MigrationTx<'a> {
    w: &'a redb::WriteTransaction,
}

type Raw<'n> = TableDefinition<'n, &'static str, &'static [u8]>;

impl MigrationTx<'_> {
    /// Every row of `table` (key, JSON bytes), or none if the table was never made.
    pub fn rows(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self.w.open_table(Raw::new(table)) {
            Ok(t) => t
                .iter()?
                .map(|r| {
                    let (k, v) = r?;
                    Ok((k.value().to_string(), v.value().to_vec()))
                })
                .collect(),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `rows` into `table`, which is made (empty) even when there are none.
    pub fn insert<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        table: &str,
        rows: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), StoreError> {
        let mut t = self.w.open_table(Raw::new(table))?;
        for (k, v) in rows {
            t.insert(k.as_ref(), v.as_ref())?;
        }
        Ok(())
    }

    /// Removes `keys` from `table`.
    pub fn remove<K: AsRef<str>>(
        &self,
        table: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), StoreError> {
        let mut t = self.w.open_table(Raw::new(table))?;
        for k in keys {
            t.remove(k.as_ref())?;
        }
        Ok(())
    }

    /// Deletes a table of an earlier schema.
    pub fn delete_table(&self, table: &str) -> Result<(), StoreError> {
        self.w.delete_table(Raw::new(table))?;
        Ok(())
    }
}

/// A stored row that does not decode.
pub fn corrupt(table: &str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table: table.into(),
        key: key.into(),
        reason: e.to_string(),
    }
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

pub(crate) fn run(db: &Database, schema: &Schema) -> Result<(), StoreError> {
    let mut current = schema_version(db)?;
    if current > schema.version {
        return Err(StoreError::NewerSchema {
            found: current,
            known: schema.version,
        });
    }
    if current == 0 {
        // A new database starts at the current schema.
        let w = db.begin_write()?;
        set_version(&w, schema.version)?;
        w.commit()?;
        return Ok(());
    }
    while current < schema.version {
        let w = db.begin_write()?;
        let Some(step) = schema.migrations.iter().find(|m| m.to == current + 1) else {
            return Err(StoreError::Db(format!(
                "no migration from schema {current}"
            )));
        };
        let detail = (step.run)(&MigrationTx { w: &w })?;
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
        tracing::info!(
            from = current,
            to = current + 1,
            step = step.name,
            "migrated database schema"
        );
        current += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The steps' tests, over the whole schema of this build (`app::schema`).
    use super::*;
    use crate::app::schema::{SCHEMA_VERSION, schema};
    use crate::store::Store;

    const ACCOUNTS_V1: TableDefinition<&str, &[u8]> =
        TableDefinition::new(crate::auth::migrate::ACCOUNTS_V1);

    /// A database written by schema 1 opens, migrates, and its accounts keep working.
    #[test]
    fn schema_1_database_migrates_forward() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, 1).unwrap();
            {
                let mut t = w.open_table(ACCOUNTS_V1).unwrap();
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
        let s = Store::open(dir.path(), &schema()).unwrap();
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
        // One audit event per step (1→2, 2→3, 3→4, 4→5); opening again is a no-op.
        let steps = (SCHEMA_VERSION - 1) as usize;
        assert_eq!(s.audit_tail(10).unwrap().len(), steps);
        drop(s);
        let s = Store::open(dir.path(), &schema()).unwrap();
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
                for (id, class, ma) in [
                    ("hs-1", "2026-6a1", "001214000001"),
                    ("hs-2", "2026-6a1", "001214000002"),
                    ("hs-3", "2026-6a2", "001214000003"),
                ] {
                    let v = serde_json::json!({"id": id, "full_name": format!("Học sinh {id}"), "dob": "2014-01-01",
                        "gender": "Nam", "ma_dinh_danh": ma, "class_id": class});
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
        let s = Store::open(dir.path(), &schema()).unwrap();
        let rx = s.read().unwrap();
        assert_eq!(
            crate::school::students_of_class(&rx, "2026-6a1")
                .unwrap()
                .len(),
            2
        );
        // (Schema 5 gave the students new ids: found by mã định danh.)
        let id = crate::school::student_by_code(&rx, "001214000001")
            .unwrap()
            .unwrap();
        let mut moved = rx.get(&crate::school::STUDENTS, &id).unwrap().unwrap();
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
        let s = Store::open(dir.path(), &schema()).unwrap();
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
        let s = Store::open(dir.path(), &schema()).unwrap();
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

    fn raw_put(w: &redb::WriteTransaction, table: &'static str, key: &str, v: serde_json::Value) {
        let mut t = w.open_table(Raw::new(table)).unwrap();
        t.insert(key, serde_json::to_vec(&v).unwrap().as_slice())
            .unwrap();
    }

    /// Every key and value of every table but the audit log and the outbox (history) and the
    /// hub's relayed records, as text.
    fn all_rows(s: &Store) -> Vec<(String, String, String)> {
        use redb::TableHandle;
        let rtx = s.raw_db().begin_read().unwrap();
        let mut out = Vec::new();
        for h in rtx.list_tables().unwrap() {
            let name = h.name().to_string();
            if name.starts_with("district.")
                || [
                    crate::store::AUDIT.name(),
                    super::super::OUTBOX.name(),
                    META.name(),
                ]
                .contains(&name.as_str())
            {
                continue;
            }
            let t = rtx
                .open_table(TableDefinition::<&str, &[u8]>::new(&name))
                .unwrap();
            for r in t.iter().unwrap() {
                let (k, v) = r.unwrap();
                out.push((
                    name.clone(),
                    k.value().to_string(),
                    String::from_utf8_lossy(v.value()).into_owned(),
                ));
            }
        }
        out
    }

    fn legacy_id_in(text: &str) -> bool {
        text.match_indices("hs-").any(|(i, _)| {
            let d = &text.as_bytes()[i + 3..];
            d.len() >= 12 && d[..12].iter().all(u8::is_ascii_digit)
        })
    }

    /// A schema-4 school (students "hs-" + mã định danh, with the roll, score rows, term
    /// records, a summer record, a correction, stored results, a loan, a row of a student no
    /// longer on the roll and an outbox entry) migrates: every student gets an opaque id, every
    /// key and value follows, the index is built, nothing is queued, one audit event records it.
    #[test]
    fn schema_4_students_get_opaque_ids_everywhere() {
        use crate::gradebook::{self, TermId};
        use crate::{library, school};
        let dir = tempfile::tempdir().unwrap();
        let people = [
            ("079214000001", "2026-6a1", "Nguyễn Văn An"),
            ("079314000002", "2026-6a1", "Trần Thị Bình"),
            ("079214000003", "2026-6a2", "Lê Minh Châu"),
        ];
        let gone = "hs-079214000099";
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, 4).unwrap();
            for c in ["2026-6a1", "2026-6a2"] {
                raw_put(
                    &w,
                    school::CLASSES.name,
                    c,
                    serde_json::json!({"id": c, "name": c,
                    "grade": 6, "year": "2026-2027", "homeroom": null}),
                );
            }
            let cell = serde_json::json!({"m": "8.5", "v": 1, "by": "u-gv01", "at": 1790000000});
            for (ma, class, name) in people {
                let id = format!("hs-{ma}");
                raw_put(
                    &w,
                    school::STUDENTS.name,
                    &id,
                    serde_json::json!({"id": id,
                    "full_name": name, "dob": "2014-01-01", "gender": "Nam",
                    "ma_dinh_danh": ma, "class_id": class}),
                );
                raw_put(
                    &w,
                    school::ROLL.name,
                    &format!("{class}/{id}"),
                    serde_json::json!(id),
                );
                raw_put(
                    &w,
                    gradebook::ROWS.name,
                    &format!("{class}/toan/hk1/{id}"),
                    serde_json::json!({"cells": {"tx1": cell}}),
                );
                raw_put(
                    &w,
                    gradebook::RECORDS.name,
                    &format!("{class}/hk1/{id}"),
                    serde_json::json!({"conduct": null, "absences": 2, "comment": "", "version": 1}),
                );
                raw_put(
                    &w,
                    gradebook::RESULTS.name,
                    &format!("2026-2027/1/{id}"),
                    serde_json::json!({"rule_version": "tt22-2021.1", "matruong": "79000701",
                        "makhoi": 6, "malop": class, "mahocsinh": id, "sodinhdanh": ma,
                        "hocky": "1", "diemmon": {"toan": "8.5"}, "mahocluc": null,
                        "mahanhkiem": null, "songaynghi": 2, "danhhieu": null, "ketqua": null,
                        "colenlop": null, "corenluyenlai": null, "nhanxet": "", "phienban": 1}),
                );
            }
            let first = format!("hs-{}", people[0].0);
            raw_put(
                &w,
                gradebook::ROWS.name,
                &format!("2026-6a1/toan/hk1/{gone}"),
                serde_json::json!({"cells": {"tx1": cell}}),
            );
            raw_put(
                &w,
                gradebook::SUMMER.name,
                &format!("2026-6a1/{first}"),
                serde_json::json!({"conduct": null, "reassessed": {}, "version": 1}),
            );
            raw_put(
                &w,
                gradebook::CORRECTIONS.name,
                "sd000001",
                serde_json::json!({
                "id": "sd000001", "class": "2026-6a1", "subject": "toan", "term": "hk1",
                "student": first, "column": "tx1", "from": "8.5", "to": "9", "reason": "Phúc khảo",
                "by": "u-gv01", "at": "2026-10-01T00:00:00Z", "status": "pending",
                "decided_by": null, "decided_at": null}),
            );
            raw_put(
                &w,
                library::LOANS.name,
                "20261001-000001",
                serde_json::json!({
                "id": "20261001-000001", "item": "li-1", "student": first,
                "lent_on": "2026-10-01", "due": "2026-10-15", "returned_on": null, "by": "u-admin"}),
            );
            {
                let mut o = w.open_table(super::super::OUTBOX).unwrap();
                o.insert(1, br#"{"seq":1,"kind":"student","key":"hs-079214000001","op":"create","record":null,"at":"2026-10-01T00:00:00Z"}"#.as_slice()).unwrap();
            }
            w.commit().unwrap();
        }

        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let rx = s.read().unwrap();
        let mut ids = Vec::new();
        for (ma, class, name) in people {
            let id = school::student_by_code(&rx, ma).unwrap().expect("indexed");
            assert!(
                id.len() == 19
                    && id.starts_with("hs-")
                    && id[3..].bytes().all(|b| b.is_ascii_lowercase()),
                "opaque: {id}"
            );
            let st = rx.get(&school::STUDENTS, &id).unwrap().expect("moved");
            assert_eq!(
                (
                    st.id.as_str(),
                    st.full_name.as_str(),
                    st.ma_dinh_danh.as_str(),
                    st.class_id.as_str()
                ),
                (id.as_str(), name, ma, class)
            );
            let row = rx
                .get(
                    &gradebook::ROWS,
                    &gradebook::row_key(class, "toan", TermId::Hk1, &id),
                )
                .unwrap()
                .expect("the score row follows");
            assert_eq!(row.mark("tx1").text(), "8,5");
            let r = rx
                .get(&gradebook::RESULTS, &format!("2026-2027/1/{id}"))
                .unwrap()
                .expect("the stored result follows");
            assert_eq!(
                (r.mahocsinh.as_str(), r.sodinhdanh.as_str(), r.phienban),
                (id.as_str(), ma, 1)
            );
            ids.push(id);
        }
        assert_eq!(school::students_of_class(&rx, "2026-6a1").unwrap().len(), 2);
        assert_eq!(school::students_of_class(&rx, "2026-6a2").unwrap().len(), 1);
        assert_eq!(rx.count(&school::STUDENTS).unwrap(), 3);
        assert_eq!(rx.count(&school::CODES).unwrap(), 3);
        assert_eq!(
            rx.count(&gradebook::ROWS).unwrap(),
            4,
            "the orphan row kept"
        );
        assert_eq!(rx.count(&gradebook::RECORDS).unwrap(), 3);
        for (i, (_, class, _)) in people.iter().enumerate() {
            let rec = rx
                .scan(&gradebook::RECORDS, &format!("{class}/hk1/{}", ids[i]))
                .unwrap();
            assert_eq!(rec.len(), 1);
            assert_eq!(rec[0].1.absences, 2);
        }
        assert!(
            rx.get(&gradebook::SUMMER, &format!("2026-6a1/{}", ids[0]))
                .unwrap()
                .is_some()
        );
        let c = rx
            .get(&gradebook::CORRECTIONS, "sd000001")
            .unwrap()
            .unwrap();
        assert_eq!(c.student, ids[0]);
        let l = rx.get(&library::LOANS, "20261001-000001").unwrap().unwrap();
        assert_eq!(l.student, ids[0]);
        drop(rx);
        // No key or value outside the history names a student by the old id.
        let rows = all_rows(&s);
        assert!(rows.len() > 20);
        for (table, k, v) in &rows {
            assert!(
                !legacy_id_in(k) && !legacy_id_in(v),
                "{table}: {k} = {v} keeps a schema-4 id"
            );
        }
        // Nothing queued for the district; one audit event, the chain intact.
        assert_eq!(s.outbox(0, 10).unwrap().len(), 1);
        let tail = s.audit_tail(10).unwrap();
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].action, "schema.migrate");
        assert_eq!(tail[0].target, "schema/5");
        // The detail names what each capability's rows were (the school's step is handed the
        // gradebook's and the library's tables by app::schema, in this order).
        assert_eq!(
            tail[0].after.as_ref().unwrap()["detail"],
            "3 students given opaque ids (3 indexed by mã định danh); rewritten: 4 score rows, \
             3 term records, 1 summer records, 3 stored results, 1 corrections, 1 loans; \
             1 ids of students no longer on the roll replaced"
        );
        assert!(s.verify_audit().unwrap().is_intact());

        // Afterwards the district still knows the students by the same key: a moved student is
        // an update of "hs-{mã định danh}", and a number belongs to one student only.
        let actor = Actor::system(jiff::Timestamp::UNIX_EPOCH);
        let mut moved = s
            .read()
            .unwrap()
            .get(&school::STUDENTS, &ids[0])
            .unwrap()
            .unwrap();
        moved.class_id = "2026-6a2".into();
        s.write(&actor, |tx| {
            school::save_student(tx, moved, "student.update")
        })
        .unwrap();
        let ob = s.outbox(1, 10).unwrap();
        assert_eq!(ob.len(), 1);
        assert_eq!(
            (ob[0].key.as_str(), ob[0].op.as_str()),
            ("hs-079214000001", "update")
        );
        assert_eq!(ob[0].record.as_ref().unwrap()["id"], ids[0].as_str());
        let twin = school::Student {
            id: String::new(),
            full_name: "Người khác".into(),
            dob: "2014-02-02".into(),
            gender: "Nữ".into(),
            ma_dinh_danh: people[1].0.into(),
            class_id: "2026-6a1".into(),
        };
        assert!(matches!(
            s.write(&actor, |tx| school::add_student(tx, twin)),
            Err(school::SchoolError::Invalid(_))
        ));
        drop(s);
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(
            s.audit_tail(10).unwrap().len(),
            2,
            "opening again changes nothing"
        );
    }

    /// The schema-4 fixture (tests/fixtures, made by the schema-4 binary) relayed to a hub before
    /// the migration, then every student and every stored result changed after it: the hub
    /// still holds one record per student and per result, now the new ones.
    #[test]
    fn the_hub_keeps_one_record_per_student_across_the_migration() {
        use crate::district::{self, HubStorage, RedbHub};
        use crate::relay::batch;
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/schema4-demo.tar.zst"
        ))
        .unwrap();
        tar::Archive::new(zstd::Decoder::new(f).unwrap())
            .unpack(dir.path())
            .unwrap();
        let school = Store::open(dir.path(), &schema()).unwrap();
        // What schema 4 queued (the migration adds nothing): students and results by number.
        let before = school.outbox(0, 100_000).unwrap();
        assert!(before.iter().any(|e| e.key == "hs-079212000251"));
        let hub_dir = tempfile::tempdir().unwrap();
        let hub = RedbHub {
            store: std::sync::Arc::new(Store::open(hub_dir.path(), &schema()).unwrap()),
        };
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let token = hub.issue_token("79000701", "THCS (demo)").unwrap();
        hub.enrol(&token, &hex::encode(key.verifying_key().to_bytes()))
            .unwrap();
        let b1 = batch::build(&key, "79000701", 1, &before, 0, "t");
        district::accept(&hub, "79000701", 1, &b1).unwrap();
        let count = |kind: &str| {
            let mut n = 0;
            hub.each_record(kind, &mut |_, _| n += 1).unwrap();
            n
        };
        let results = count("result");
        assert_eq!(count("student"), 480);
        assert!(
            results >= 80,
            "both terms of a class and the year: {results}"
        );

        let actor = Actor::system(jiff::Timestamp::now());
        school
            .write(&actor, |tx| -> Result<(), crate::school::SchoolError> {
                for (_, mut st) in tx.scan(&crate::school::STUDENTS, "")? {
                    st.full_name.push_str(" (đã sửa)");
                    crate::school::save_student(tx, st, "student.update")?;
                }
                for (k, mut r) in tx.scan(&crate::gradebook::RESULTS, "")? {
                    r.phienban += 1;
                    tx.put(&crate::gradebook::RESULTS, &k, &r, "grades.result")?;
                }
                Ok(())
            })
            .unwrap();
        let after = school.outbox(before.last().unwrap().seq, 100_000).unwrap();
        assert_eq!(after.len(), 480 + results);
        let b2 = batch::build(&key, "79000701", 2, &after, 0, "t");
        district::accept(&hub, "79000701", 2, &b2).unwrap();
        assert_eq!(count("student"), 480, "one record per student");
        assert_eq!(count("result"), results, "one record per result");
        let mut renamed = 0;
        hub.each_record("student", &mut |_, r| {
            let id = r["id"].as_str().unwrap();
            assert!(!id[3..].bytes().any(|b| b.is_ascii_digit()), "{id}");
            renamed += usize::from(r["full_name"].as_str().unwrap().ends_with("(đã sửa)"));
        })
        .unwrap();
        assert_eq!(renamed, 480);
    }

    fn toy_copy(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
        let rows = tx.rows("toy.a.v1")?;
        let n = rows.len();
        tx.insert("toy.b.v1", rows)?;
        tx.delete_table("toy.a.v1")?;
        Ok(format!("{n} copied"))
    }

    fn toy_mark(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
        // Runs after the copy or finds nothing to mark.
        let rows = tx.rows("toy.b.v1")?;
        tx.insert(
            "toy.b.v1",
            rows.iter().map(|(k, _)| (k, b"\"marked\"".as_slice())),
        )?;
        Ok(format!("{} marked", rows.len()))
    }

    /// The engine knows no capability: a schema's steps run by their version whatever order
    /// they are listed in, each one audit event; a missing step stops the start, changing nothing.
    #[test]
    fn steps_run_by_version_and_a_missing_one_is_refused() {
        let toy = |migrations: Vec<Migration>| Schema {
            version: 3,
            tables: vec!["toy.b.v1"],
            migrations,
        };
        let copy = Migration {
            to: 2,
            name: "copy",
            run: toy_copy,
        };
        let mark = Migration {
            to: 3,
            name: "mark",
            run: toy_mark,
        };
        let old = |dir: &std::path::Path| {
            let db = Database::create(dir.join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, 1).unwrap();
            MigrationTx { w: &w }
                .insert("toy.a.v1", [("k1", b"1".as_slice()), ("k2", b"2")])
                .unwrap();
            w.commit().unwrap();
        };
        let dir = tempfile::tempdir().unwrap();
        old(dir.path());
        match Store::open(dir.path(), &toy(vec![mark])) {
            Err(StoreError::Db(m)) => assert_eq!(m, "no migration from schema 1"),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("opened without the step from schema 1"),
        }
        let s = Store::open(dir.path(), &toy(vec![mark, copy])).unwrap();
        assert_eq!(s.schema_version().unwrap(), 3);
        let tail = s.audit_tail(10).unwrap();
        let steps: Vec<(&str, String)> = tail
            .iter()
            .map(|e| {
                (
                    e.target.as_str(),
                    e.after.as_ref().unwrap()["detail"].to_string(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("schema/3", "\"2 marked\"".to_string()),
                ("schema/2", "\"2 copied\"".to_string())
            ]
        );
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
            Store::open(dir.path(), &schema()),
            Err(StoreError::NewerSchema { .. })
        ));
    }
}
