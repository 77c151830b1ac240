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

/// Schema 6: the sổ đăng bộ opens a line when a student is first saved; the students a box
/// already holds get theirs here, numbered in the order they entered (school year, the
/// profile's ngày nhập học, class, name), so an upgraded school's register lists everyone.
pub const REGISTER_LINES: Migration = Migration {
    to: 6,
    name: "students: a line in the sổ đăng bộ for each",
    run: open_register_lines,
};

fn open_register_lines(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    use super::register::{REGISTER, REGISTER_NEXT, REGISTER_OF, RegisterLine};
    fn parse<T: serde::de::DeserializeOwned>(
        table: &str,
        k: &str,
        v: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(v).map_err(|e| corrupt(table, k, e))
    }
    let mut classes = BTreeMap::new();
    for (k, v) in tx.rows(super::CLASSES.name)? {
        let c: super::Class = parse(super::CLASSES.name, &k, &v)?;
        classes.insert(k, c);
    }
    let mut entered = BTreeMap::new();
    for (k, v) in tx.rows(super::PROFILES.name)? {
        let p: super::StudentProfile = parse(super::PROFILES.name, &k, &v)?;
        if let Some(d) = super::parse_date(&p.enrolled_on) {
            entered.insert(k, d.to_string());
        }
    }
    let has_line: BTreeSet<String> = tx
        .rows(REGISTER_OF.name)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut next: u32 = match tx.rows(REGISTER_NEXT.name)?.into_iter().next() {
        Some((k, v)) => parse(REGISTER_NEXT.name, &k, &v)?,
        None => 1,
    };
    let mut todo = Vec::new();
    for (k, v) in tx.rows(super::STUDENTS.name)? {
        if has_line.contains(&k) {
            continue;
        }
        let s: super::Student = parse(super::STUDENTS.name, &k, &v)?;
        let class = classes.get(&s.class_id);
        let on = entered
            .get(&k)
            .cloned()
            .or_else(|| s.arrived.as_ref().map(|a| a.date.clone()))
            .unwrap_or_default();
        let year = class.map(|c| c.year.clone()).unwrap_or_default();
        let class_name = class.map(|c| c.name.clone()).unwrap_or_default();
        // An unknown date sorts after the known ones of its year.
        let order = (
            year.clone(),
            if on.is_empty() {
                "~".to_string()
            } else {
                on.clone()
            },
            class_name.clone(),
            crate::text::fold(&s.full_name),
            k.clone(),
        );
        todo.push((
            order,
            RegisterLine {
                number: 0,
                student: k,
                year,
                entered_on: on,
                class_name,
                struck: None,
                frozen: None,
                reentry: None,
                imported: None,
                replaced: Vec::new(),
            },
        ));
    }
    todo.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut lines, mut of) = (Vec::new(), Vec::new());
    for (_, mut line) in todo {
        line.number = next;
        next += 1;
        let bytes = serde_json::to_vec(&line).map_err(|e| StoreError::Db(e.to_string()))?;
        let n = serde_json::to_vec(&line.number).map_err(|e| StoreError::Db(e.to_string()))?;
        of.push((line.student.clone(), n));
        lines.push((format!("{:06}", line.number), bytes));
    }
    let opened = lines.len();
    tx.insert(REGISTER.name, lines)?;
    tx.insert(REGISTER_OF.name, of)?;
    let next = serde_json::to_vec(&next).map_err(|e| StoreError::Db(e.to_string()))?;
    tx.insert(REGISTER_NEXT.name, vec![("next".to_string(), next)])?;
    Ok(format!(
        "{opened} register lines opened for the students already stored"
    ))
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

/// Schema 11: the nơi sinh and dân tộc of every student a box already holds go to the district
/// once, through the normal relay queue (review r19 #7): the profile is relayed from this
/// version on (`school::PROFILES`, only those two fields leave, `relay::Privacy::apply`), so a
/// hub checks a signed học bạ's identity page as the box does. Nothing stored changes.
pub const PROFILES_RELAYED: Migration = Migration {
    to: 11,
    name: "students: nơi sinh and dân tộc relayed to the district",
    run: relay_profiles,
};

fn relay_profiles(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let profiles = super::PROFILES.name;
    let students: BTreeSet<String> = tx
        .rows(super::STUDENTS.name)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut entries = Vec::new();
    for (k, v) in tx.rows(profiles)? {
        if !students.contains(&k) {
            continue;
        }
        let rec: serde_json::Value =
            serde_json::from_slice(&v).map_err(|e| corrupt(profiles, &k, e))?;
        entries.push((super::PROFILE_RELAY_KIND.to_string(), k, rec));
    }
    let n = entries.len();
    tx.relay(entries)?;
    Ok(format!(
        "{n} student profiles queued for the district (nơi sinh, dân tộc)"
    ))
}

#[cfg(test)]
mod tests {
    //! These steps' tests, over the whole schema of this build (`app::schema`).
    use crate::app::schema::{SCHEMA_VERSION, schema};
    use crate::store::{AUDIT, Actor, META, OUTBOX, Store};
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    type Raw = TableDefinition<'static, &'static str, &'static [u8]>;

    /// A schema-5 school (students, no sổ đăng bộ) gets a register line for every student, in
    /// the order they entered (year, ngày nhập học, class, name), each once; the next student
    /// saved gets the next number; the học bạ prints the line's number when the office typed
    /// none.
    #[test]
    fn schema_5_students_get_their_register_lines() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::migrate::old_database(dir.path(), 5, |w| {
            let put = |w: &redb::WriteTransaction, t: &str, k: &str, v: serde_json::Value| {
                let def: TableDefinition<&str, &[u8]> = TableDefinition::new(t);
                let mut t = w.open_table(def).unwrap();
                t.insert(k, serde_json::to_vec(&v).unwrap().as_slice())
                    .unwrap();
            };
            for (id, name, year) in [
                ("2025-7a1", "7A1", "2025-2026"),
                ("2026-6a1", "6A1", "2026-2027"),
            ] {
                put(
                    w,
                    crate::school::CLASSES.name,
                    id,
                    serde_json::json!({"id": id, "name": name, "grade": 6, "year": year, "homeroom": null}),
                );
            }
            for (id, class, ma, name) in [
                (
                    "hs-aaaaaaaaaaaaaaaa",
                    "2026-6a1",
                    "001214000001",
                    "Trần Bình",
                ),
                (
                    "hs-bbbbbbbbbbbbbbbb",
                    "2026-6a1",
                    "001214000002",
                    "An Khang",
                ),
                ("hs-cccccccccccccccc", "2025-7a1", "001214000003", "Lê Chi"),
            ] {
                put(
                    w,
                    crate::school::STUDENTS.name,
                    id,
                    serde_json::json!({"id": id, "full_name": name, "dob": "2014-01-01",
                        "gender": "Nam", "ma_dinh_danh": ma, "class_id": class}),
                );
            }
            put(
                w,
                crate::school::PROFILES.name,
                "hs-aaaaaaaaaaaaaaaa",
                serde_json::json!({"enrolled_on": "01/09/2026"}),
            );
        });
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let rx = s.read().unwrap();
        let line = |id: &str| {
            crate::school::register::line_of(&rx, id)
                .unwrap()
                .expect("a line")
        };
        // Last year's student first, then this year's: the dated one before the undated one.
        assert_eq!(line("hs-cccccccccccccccc").number, 1);
        assert_eq!(line("hs-aaaaaaaaaaaaaaaa").number, 2);
        assert_eq!(line("hs-aaaaaaaaaaaaaaaa").entered_on, "2026-09-01");
        assert_eq!(line("hs-aaaaaaaaaaaaaaaa").class_name, "6A1");
        assert_eq!(line("hs-bbbbbbbbbbbbbbbb").number, 3);
        assert_eq!(line("hs-cccccccccccccccc").year, "2025-2026");
        assert_eq!(
            crate::school::register::rows(&rx, "2026-2027")
                .unwrap()
                .len(),
            2
        );
        drop(rx);
        // A new student continues the numbers.
        s.write(&Actor::system(jiff::Timestamp::UNIX_EPOCH), |tx| {
            crate::school::save_student(
                tx,
                crate::school::Student {
                    id: "hs-dddddddddddddddd".into(),
                    full_name: "Phạm Dũng".into(),
                    dob: "2014-02-02".into(),
                    gender: "Nam".into(),
                    ma_dinh_danh: "001214000004".into(),
                    class_id: "2026-6a1".into(),
                    arrived: None,
                    left: None,
                },
                "test",
            )
        })
        .unwrap();
        let rx = s.read().unwrap();
        assert_eq!(
            crate::school::register::line_of(&rx, "hs-dddddddddddddddd")
                .unwrap()
                .unwrap()
                .number,
            4
        );
    }

    /// A schema-2 database (students, no class roll) gets its roll built, and moving a student
    /// afterwards keeps the roll right.
    #[test]
    fn schema_2_database_gets_the_class_roll() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::migrate::old_database(dir.path(), 2, |w| {
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
        });
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

    /// Schema 11 (review r19 #7): a school upgraded from schema 10 queues each stored student's
    /// profile for the district once — a profile of no student stays home — and what leaves
    /// is only her nơi sinh and dân tộc; nothing stored changes, and the next profile edit is
    /// relayed by the write path itself.
    #[test]
    fn schema_10_profiles_are_relayed_once_with_only_birthplace_and_ethnicity() {
        let dir = tempfile::tempdir().unwrap();
        let profile = serde_json::json!({
            "birthplace": "Hà Nội", "ethnicity": "Tày", "address": "12 Lê Lợi", "father": "Trần Văn A",
            "mother": "Lê Thị B", "guardian": "", "father_job": "", "mother_job": "",
            "guardian_job": "", "policy": "Hộ nghèo", "registry_number": "", "enrolled_on": "",
            "disability": false
        });
        crate::store::migrate::old_database(dir.path(), 10, |w| {
            raw_put(
                w,
                crate::school::STUDENTS.name,
                "hs-abcdefghijklmnop",
                serde_json::json!({"id": "hs-abcdefghijklmnop", "full_name": "Lò Thị Mai",
                    "dob": "2014-01-01", "gender": "Nữ", "ma_dinh_danh": "001314000001",
                    "class_id": "2026-6a1"}),
            );
            raw_put(
                w,
                crate::school::PROFILES.name,
                "hs-abcdefghijklmnop",
                profile.clone(),
            );
            raw_put(w, crate::school::PROFILES.name, "hs-gone", profile.clone());
        });
        let s = Store::open(dir.path(), &schema()).unwrap();
        let queued = s.outbox(0, 10).unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        let e = &queued[0];
        assert_eq!(
            (e.kind.as_str(), e.key.as_str()),
            ("student_profile", "hs-abcdefghijklmnop")
        );
        // Queued as stored; only the two fields leave (`relay::Privacy::apply`, its own test).
        assert_eq!(e.record.as_ref(), Some(&profile));
        let rx = s.read().unwrap();
        let kept = crate::school::student_profile(&rx, "hs-abcdefghijklmnop").unwrap();
        assert_eq!(
            (kept.address.as_str(), kept.policy.as_str()),
            ("12 Lê Lợi", "Hộ nghèo")
        );
        drop(rx);
        assert!(
            s.audit_tail(1).unwrap()[0]
                .after
                .as_ref()
                .is_some_and(|a| a.to_string().contains("1 student profiles queued")),
        );
        // Opened again: nothing queued twice.
        drop(s);
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.outbox(0, 10).unwrap().len(), 1);
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
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
                || [AUDIT.name(), OUTBOX.name(), META.name()].contains(&name.as_str())
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
        crate::store::migrate::old_database(dir.path(), 4, |w| {
            for c in ["2026-6a1", "2026-6a2"] {
                raw_put(
                    w,
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
                    w,
                    school::STUDENTS.name,
                    &id,
                    serde_json::json!({"id": id,
                    "full_name": name, "dob": "2014-01-01", "gender": "Nam",
                    "ma_dinh_danh": ma, "class_id": class}),
                );
                raw_put(
                    w,
                    school::ROLL.name,
                    &format!("{class}/{id}"),
                    serde_json::json!(id),
                );
                raw_put(
                    w,
                    gradebook::ROWS.name,
                    &format!("{class}/toan/hk1/{id}"),
                    serde_json::json!({"cells": {"tx1": cell}}),
                );
                raw_put(
                    w,
                    gradebook::RECORDS.name,
                    &format!("{class}/hk1/{id}"),
                    serde_json::json!({"conduct": null, "absences": 2, "comment": "", "version": 1}),
                );
                raw_put(
                    w,
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
                w,
                gradebook::ROWS.name,
                &format!("2026-6a1/toan/hk1/{gone}"),
                serde_json::json!({"cells": {"tx1": cell}}),
            );
            raw_put(
                w,
                gradebook::SUMMER.name,
                &format!("2026-6a1/{first}"),
                serde_json::json!({"conduct": null, "reassessed": {}, "version": 1}),
            );
            raw_put(
                w,
                gradebook::CORRECTIONS.name,
                "sd000001",
                serde_json::json!({
                "id": "sd000001", "class": "2026-6a1", "subject": "toan", "term": "hk1",
                "student": first, "column": "tx1", "from": "8.5", "to": "9", "reason": "Phúc khảo",
                "by": "u-gv01", "at": "2026-10-01T00:00:00Z", "status": "pending",
                "decided_by": null, "decided_at": null}),
            );
            raw_put(
                w,
                library::LOANS.name,
                "20261001-000001",
                serde_json::json!({
                "id": "20261001-000001", "item": "li-1", "student": first,
                "lent_on": "2026-10-01", "due": "2026-10-15", "returned_on": null, "by": "u-admin"}),
            );
            {
                let mut o = w.open_table(OUTBOX).unwrap();
                o.insert(1, br#"{"seq":1,"kind":"student","key":"hs-079214000001","op":"create","record":null,"at":"2026-10-01T00:00:00Z"}"#.as_slice()).unwrap();
            }
        });

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
        // Nothing queued for the district; one audit event per step (5, then 6 — the sổ đăng
        // bộ —, then 7 — the library's vetting marks —, then 8 — the stamping queue —, then 9 —
        // the library's index keys —, then 10 — the lesson-plan links' targets —, then 11 —
        // the profiles relayed, none here), the chain intact.
        assert_eq!(s.outbox(0, 10).unwrap().len(), 1);
        let tail = s.audit_tail(10).unwrap();
        assert_eq!(tail.len(), 7);
        assert!(tail.iter().any(|e| e.target == "schema/6"));
        let tail: Vec<_> = tail
            .into_iter()
            .filter(|e| e.target == "schema/5")
            .collect();
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
            arrived: None,
            left: None,
        };
        assert!(matches!(
            s.write(&actor, |tx| school::add_student(tx, twin)),
            Err(school::SchoolError::Invalid(_))
        ));
        drop(s);
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(
            s.audit_tail(10).unwrap().len(),
            8,
            "opening again changes nothing (schemas 5 to 11, the student's update)"
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
}
