//! Storage-level tests of the gradebook on a real redb file with the demo school.

use super::excel;
use super::*;
use crate::auth::{self, Principal};
use crate::store::{Actor, Store};
use std::collections::BTreeMap;

mod year;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    class: Class,
    toan: String,
    gdtc: String,
    teacher: Principal,
    gdtc_teacher: Principal,
    homeroom: Principal,
    bgh: Principal,
    other_teacher: Principal,
    students: Vec<Student>,
}

impl Fixture {
    /// The BGH member writing, now.
    fn bgh_actor(&self) -> Actor {
        Actor {
            id: self.bgh.id().into(),
            now: now(),
        }
    }

    /// The demo's showcase: last year's 9A1, its year locked and its học bạ signed.
    fn signed_class(&self) -> Class {
        let rx = self.store.read().unwrap();
        let id = crate::demo::class_in(&rx, crate::demo::SIGNED_CLASS)
            .unwrap()
            .unwrap();
        class_of(&rx, &id).unwrap()
    }

    /// BGH reopens term II (the year) of `class`.
    fn reopen_year(&self, class: &Class) {
        self.store
            .write(&self.bgh_actor(), |tx| {
                unlock_term(
                    tx,
                    &self.bgh,
                    &class.year,
                    TermId::Hk2,
                    Some(&class.id),
                    Some("Kiểm tra lại".into()),
                )
            })
            .unwrap();
    }

    /// BGH locks term II of `class` again (forced).
    fn lock_year(&self, class: &Class) -> LockReport {
        self.store
            .write(&self.bgh_actor(), |tx| {
                lock_term(
                    tx,
                    &self.bgh,
                    &class.year,
                    TermId::Hk2,
                    Some(&class.id),
                    true,
                )
            })
            .unwrap()
    }
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).unwrap()
}

fn principal(store: &Store, id: &str) -> Principal {
    let rx = store.read().unwrap();
    let acc = rx.get(&auth::ACCOUNTS, id).unwrap().unwrap();
    school::principal_for(&rx, acc).unwrap()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
    crate::demo::seed(&store, "x", 480, now()).unwrap();
    let rx = store.read().unwrap();
    let class = school::list(&rx, &school::CLASSES)
        .unwrap()
        .into_iter()
        .find(|c| c.grade == 8)
        .unwrap();
    let subjects = school::list(&rx, &school::SUBJECTS).unwrap();
    let id_of = |n: &str| subjects.iter().find(|s| s.name == n).unwrap().id.clone();
    let (toan, gdtc) = (id_of("Toán"), id_of("Giáo dục thể chất"));
    let assignments = school::list(&rx, &school::ASSIGNMENTS).unwrap();
    let teacher_of = |sub: &str| {
        assignments
            .iter()
            .find(|a| a.class == class.id && a.subject == sub)
            .unwrap()
            .teacher
            .clone()
    };
    let (t, g) = (teacher_of(&toan), teacher_of(&gdtc));
    let other = assignments
        .iter()
        .find(|a| a.teacher != t && a.class != class.id)
        .unwrap()
        .teacher
        .clone();
    let bgh = auth::find_by_username(&rx, "hieutruong")
        .unwrap()
        .unwrap()
        .id;
    let students = school::students_of_class(&rx, &class.id).unwrap();
    let homeroom = class.homeroom.clone().unwrap();
    drop(rx);
    Fixture {
        teacher: principal(&store, &t),
        gdtc_teacher: principal(&store, &g),
        homeroom: principal(&store, &homeroom),
        bgh: principal(&store, &bgh),
        other_teacher: principal(&store, &other),
        _dir: dir,
        store,
        class,
        toan,
        gdtc,
        students,
    }
}

impl Fixture {
    #[allow(clippy::too_many_arguments)]
    fn save(
        &self,
        p: &Principal,
        subject: &str,
        term: TermId,
        student: usize,
        col: &str,
        input: &str,
        expected: u64,
    ) -> Result<Saved, GradeError> {
        let edit = CellEdit {
            student: self.students[student].id.clone(),
            column: col.into(),
            input: input.into(),
            expected_version: expected,
            reason: None,
        };
        self.store.write(
            &Actor {
                id: p.id().into(),
                now: now(),
            },
            |tx| save_cell(tx, p, &self.class.id, subject, term, edit),
        )
    }
    fn audit_len(&self) -> u64 {
        self.store.verify_audit().unwrap().events
    }
}

#[test]
fn a_full_row_gives_the_worked_average_and_every_change_is_audited() {
    let f = fixture();
    let before = f.audit_len();
    for (col, v) in [
        ("tx1", "8"),
        ("tx2", "7"),
        ("tx3", "9"),
        ("tx4", "6,5"),
        ("gk", "7.5"),
    ] {
        match f
            .save(&f.teacher, &f.toan, TermId::Hk1, 0, col, v, 0)
            .unwrap()
        {
            Saved::Saved { result, .. } => assert!(matches!(result, SubjectOutcome::Incomplete(_))),
            other => panic!("{other:?}"),
        }
    }
    match f
        .save(&f.teacher, &f.toan, TermId::Hk1, 0, "ck", "8", 0)
        .unwrap()
    {
        Saved::Saved { result_text, .. } => assert_eq!(result_text, "7,7"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.audit_len(), before + 6);
    let tail = f.store.audit_tail(1).unwrap();
    assert_eq!(tail[0].action, "grades.cell");
    assert_eq!(tail[0].actor, f.teacher.id());
    assert!(f.store.verify_audit().unwrap().is_intact());
}

#[test]
fn bad_input_and_the_wrong_teacher_change_nothing() {
    let f = fixture();
    let before = f.audit_len();
    for bad in ["11", "abc", "8,25", "-1"] {
        assert!(
            f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx1", bad, 0)
                .is_err(),
            "{bad}"
        );
    }
    let e = f
        .save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx1", "11", 0)
        .unwrap_err();
    assert_eq!(e.to_string(), "Điểm phải từ 0 đến 10: nhận được 11");
    assert!(matches!(
        f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx9", "8", 0),
        Err(GradeError::UnknownColumn(_))
    ));
    assert!(matches!(
        f.save(&f.other_teacher, &f.toan, TermId::Hk1, 0, "tx1", "8", 0),
        Err(GradeError::NotYourClass)
    ));
    if f.homeroom.id() != f.gdtc_teacher.id() {
        // The homeroom teacher sees the whole class but enters only their own subjects.
        assert!(matches!(
            f.save(&f.homeroom, &f.gdtc, TermId::Hk1, 0, "tx1", "Đ", 0),
            Err(GradeError::NotYourClass)
        ));
    }
    assert!(matches!(
        f.save(&f.gdtc_teacher, &f.gdtc, TermId::Hk1, 0, "tx1", "8", 0),
        Err(GradeError::NotAPass(_))
    ));
    assert_eq!(f.audit_len(), before);
    // (The demo's last-year 9A1 and 9A2 come with every mark entered; this class has none.)
    let rx = f.store.read().unwrap();
    assert!(
        rx.scan(&ROWS, &format!("{}/", f.class.id))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn concurrent_edits_of_different_cells_merge_and_a_stale_edit_is_detected() {
    let f = fixture();
    f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx1", "8", 0)
        .unwrap();
    // A second screen loaded before that save edits another cell of the same row: fine.
    f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx2", "7", 0)
        .unwrap();
    // A stale screen edits tx1 believing it empty: refused, with the current value.
    match f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx1", "5", 0) {
        Err(GradeError::Conflict { current: Some(c) }) => {
            assert_eq!(c.mark, Mark::Score(Tenths::new(80).unwrap()))
        }
        other => panic!("{other:?}"),
    }
    // The retry of a save that already landed is not a conflict.
    assert!(
        f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx1", "8,0", 0)
            .is_ok()
    );
    // With the right version it goes through.
    f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "tx1", "5", 1)
        .unwrap();
    let rx = f.store.read().unwrap();
    let row = rx
        .get(
            &ROWS,
            &row_key(&f.class.id, &f.toan, TermId::Hk1, &f.students[0].id),
        )
        .unwrap()
        .unwrap();
    assert_eq!(row.mark("tx1"), Mark::Score(Tenths::new(50).unwrap()));
    assert_eq!(row.mark("tx2"), Mark::Score(Tenths::new(70).unwrap()));
    assert_eq!(row.cells["tx1"].version, 2);
}

#[test]
fn states_make_up_zero_and_exempt() {
    let f = fixture();
    for (col, v) in [
        ("tx1", "8"),
        ("tx2", "B"),
        ("tx3", "9"),
        ("tx4", "7"),
        ("gk", "7"),
        ("ck", "8"),
    ] {
        f.save(&f.teacher, &f.toan, TermId::Hk1, 1, col, v, 0)
            .unwrap();
    }
    let spec_row = |f: &Fixture| {
        let rx = f.store.read().unwrap();
        let book = class_book(&rx, &f.class.id, &Settings::default()).unwrap();
        let i = book.subjects.iter().position(|s| s.id == f.toan).unwrap();
        book.hk1[1].subjects[i]
    };
    assert_eq!(
        spec_row(&f),
        SubjectOutcome::Incomplete(1),
        "a scheduled make-up is not a zero"
    );
    f.save(&f.teacher, &f.toan, TermId::Hk1, 1, "tx2", "KB", 1)
        .unwrap();
    // (8 + 0 + 9 + 7 + 14 + 24) / 9 = 62/9 = 6.89 → 6.9
    assert_eq!(
        spec_row(&f),
        SubjectOutcome::Done(SubjectResult::Scored(Tenths::new(69).unwrap()))
    );
    // Đ10 exempts GDTC only (GDQP-AN at THPT): "M" in Toán is refused, naming the subject, as
    // `tram grades check` refuses it (domain review r2, item 4)…
    match f.save(&f.teacher, &f.toan, TermId::Hk1, 1, "tx1", "M", 1) {
        Err(e @ GradeError::NotExemptible(_)) => assert!(e.to_string().contains("Toán"), "{e}"),
        other => panic!("{other:?}"),
    }
    f.save(&f.gdtc_teacher, &f.gdtc, TermId::Hk1, 1, "tx1", "M", 0)
        .unwrap();
    // …unless the student has a disability (Đ11): then the principal decides the year.
    let student = f.students[1].id.clone();
    f.store
        .write(
            &Actor {
                id: "office".into(),
                now: now(),
            },
            |tx| {
                let p = school::ProfilePatch {
                    disability: Some(true),
                    ..Default::default()
                };
                school::save_profile(tx, &student, p)
            },
        )
        .unwrap();
    for col in ["tx1", "tx2", "tx3", "tx4", "gk", "ck"] {
        // The row's marks are cleared first: "M" is for the whole term, never beside a mark.
        let version = if col == "tx2" { 2 } else { 1 };
        f.save(&f.teacher, &f.toan, TermId::Hk1, 1, col, "", version)
            .unwrap();
    }
    for col in ["tx1", "tx2", "tx3", "tx4", "gk", "ck"] {
        let version = if col == "tx2" { 3 } else { 2 };
        f.save(&f.teacher, &f.toan, TermId::Hk1, 1, col, "M", version)
            .unwrap();
    }
    assert_eq!(spec_row(&f), SubjectOutcome::Exempt);
}

/// Domain review r4, item 4: "M" typed into one GDTC cell beside Đ marks was saved and left
/// the term (and the year) incomplete with no word; the CLI refuses the same record. An
/// exemption is for the whole term: "M" beside a mark is refused, and so is a mark beside "M".
#[test]
fn an_exemption_is_for_the_whole_term_row() {
    let f = fixture();
    let g = &f.gdtc_teacher;
    for col in ["tx2", "gk", "ck"] {
        f.save(g, &f.gdtc, TermId::Hk1, 0, col, "Đ", 0).unwrap();
    }
    let e = f
        .save(g, &f.gdtc, TermId::Hk1, 0, "tx1", "M", 0)
        .unwrap_err();
    assert_eq!(e.code(), "exempt_whole_term");
    assert!(e.to_string().contains("cả học kì"), "{e}");
    // Nothing was written: the cell is still empty.
    let rx = f.store.read().unwrap();
    let key = row_key(&f.class.id, &f.gdtc, TermId::Hk1, &f.students[0].id);
    assert_eq!(
        rx.get(&ROWS, &key).unwrap().unwrap().mark("tx1"),
        Mark::Pending
    );
    drop(rx);
    // A row of "M" only is the exempt term; a mark typed beside it is refused.
    let cols = ["tx1", "tx2", "gk", "ck"];
    for col in cols {
        f.save(g, &f.gdtc, TermId::Hk1, 1, col, "M", 0).unwrap();
    }
    let e = f
        .save(g, &f.gdtc, TermId::Hk1, 1, "gk", "Đ", 1)
        .unwrap_err();
    assert_eq!(e.code(), "exempt_whole_term");
    assert!(e.to_string().contains("đang được miễn"), "{e}");
    let rx = f.store.read().unwrap();
    let book = class_book(&rx, &f.class.id, &Settings::default()).unwrap();
    let i = book.subjects.iter().position(|s| s.id == f.gdtc).unwrap();
    assert_eq!(book.hk1[1].subjects[i], SubjectOutcome::Exempt);
}

/// Two corrections of a locked row, each fine alone ("M" in one empty cell, "Đ" in another),
/// must not make a mixed row when both are approved: the second approval is refused.
#[test]
fn approving_corrections_keeps_an_exempt_row_whole() {
    let f = fixture();
    let year = f.class.year.clone();
    let bgh_actor = Actor {
        id: f.bgh.id().into(),
        now: now(),
    };
    f.store
        .write(&bgh_actor, |tx| {
            lock_term(tx, &f.bgh, &year, TermId::Hk1, None, true)
        })
        .unwrap();
    let g = &f.gdtc_teacher;
    let g_actor = Actor {
        id: g.id().into(),
        now: now(),
    };
    let mut pending = Vec::new();
    for (col, input) in [("tx1", "M"), ("tx2", "Đ")] {
        let edit = CellEdit {
            student: f.students[2].id.clone(),
            column: col.into(),
            input: input.into(),
            expected_version: 0,
            reason: Some("Bổ sung".into()),
        };
        let saved = f
            .store
            .write(&g_actor, |tx| {
                save_cell(tx, g, &f.class.id, &f.gdtc, TermId::Hk1, edit)
            })
            .unwrap();
        let Saved::CorrectionPending { correction } = saved else {
            panic!("not a correction: {saved:?}")
        };
        pending.push(correction.id);
    }
    let h_actor = Actor {
        id: f.homeroom.id().into(),
        now: now(),
    };
    f.store
        .write(&h_actor, |tx| {
            decide_correction(tx, &f.homeroom, &pending[0], true)
        })
        .unwrap();
    let e = f
        .store
        .write(&h_actor, |tx| {
            decide_correction(tx, &f.homeroom, &pending[1], true)
        })
        .unwrap_err();
    assert_eq!(e.code(), "exempt_whole_term");
    let rx = f.store.read().unwrap();
    let key = row_key(&f.class.id, &f.gdtc, TermId::Hk1, &f.students[2].id);
    let row = rx.get(&ROWS, &key).unwrap().unwrap();
    assert_eq!(
        (row.mark("tx1"), row.mark("tx2")),
        (Mark::Exempt, Mark::Pending)
    );
}

fn fill_class(f: &Fixture, term: TermId) {
    // Every subject, every student: scored 8 everywhere, comment Đ; conduct Tốt.
    let rx = f.store.read().unwrap();
    let specs = subjects_for_grade(&rx, f.class.grade, &Settings::default()).unwrap();
    let assignments = school::list(&rx, &school::ASSIGNMENTS).unwrap();
    drop(rx);
    let actor = Actor {
        id: "t".into(),
        now: now(),
    };
    f.store
        .write(&actor, |tx| -> Result<(), GradeError> {
            for spec in &specs {
                let t = assignments
                    .iter()
                    .find(|a| a.class == f.class.id && a.subject == spec.id)
                    .unwrap();
                let p = principal_in(tx, &t.teacher);
                for s in &f.students {
                    for col in spec.columns() {
                        let input = if spec.kind == SubjectKind::Scored {
                            "8"
                        } else {
                            "Đ"
                        };
                        let edit = CellEdit {
                            student: s.id.clone(),
                            column: col,
                            input: input.into(),
                            expected_version: 0,
                            reason: None,
                        };
                        save_cell(tx, &p, &f.class.id, &spec.id, term, edit)?;
                    }
                }
            }
            for s in &f.students {
                let e = RecordEdit {
                    student: s.id.clone(),
                    conduct: Some("Tốt".into()),
                    absences: Some(2),
                    excused: None,
                    comment: None,
                    qualities: None,
                    quality_comments: None,
                    recognised_by_class: None,
                };
                save_record(tx, &f.homeroom, &f.class.id, term, e)?;
            }
            Ok(())
        })
        .unwrap();
}

fn principal_in(tx: &Tx<'_>, id: &str) -> Principal {
    let acc = tx.get(&auth::ACCOUNTS, id).unwrap().unwrap();
    let teaches = school::list(tx, &school::ASSIGNMENTS)
        .unwrap()
        .into_iter()
        .filter(|a| a.teacher == id)
        .map(|a| (a.class, a.subject))
        .collect();
    Principal {
        account: acc,
        teaches,
        homeroom: vec![],
        quarantined: false,
    }
}

#[test]
fn lock_stores_results_for_the_outbox_and_corrections_need_the_homeroom_teacher() {
    let f = fixture();
    fill_class(&f, TermId::Hk1);
    let year = f.class.year.clone();
    let bgh_actor = Actor {
        id: f.bgh.id().into(),
        now: now(),
    };
    // Other classes are empty: locking needs force.
    let e = f
        .store
        .write(&bgh_actor, |tx| {
            lock_term(tx, &f.bgh, &year, TermId::Hk1, None, false)
        })
        .unwrap_err();
    // 479 on the rolls: the demo's last class lost two and gained one (demo/register.rs).
    // The demo's signed 9A1 and complete 9A2 are last year's (demo/signed.rs): this year's
    // are ordinary classes, all to wait for but this test's own.
    // The refusal names every class still incomplete with its count, not only the total.
    let GradeError::Incomplete { students, classes } = &e else {
        panic!("{e:?}")
    };
    let to_lock = 479;
    assert_eq!(*students, to_lock - 40);
    assert_eq!(
        classes.iter().map(|c| c.students).sum::<usize>(),
        to_lock - 40
    );
    assert!(classes.iter().all(|c| c.class != f.class.id), "{classes:?}");
    let text = e.to_string();
    for c in classes {
        assert!(
            text.contains(&format!("lớp {} ({} học sinh)", c.class_name, c.students)),
            "{text}"
        );
    }
    assert!(matches!(
        f.store.write(&bgh_actor, |tx| lock_term(
            tx,
            &f.teacher,
            &year,
            TermId::Hk1,
            None,
            true
        )),
        Err(GradeError::Forbidden)
    ));
    let outbox_before = f.store.outbox(0, 100_000).unwrap().len();
    let report = f
        .store
        .write(&bgh_actor, |tx| {
            lock_term(tx, &f.bgh, &year, TermId::Hk1, None, true)
        })
        .unwrap();
    assert_eq!(report.rule_version, RuleVersion::Tt22V1);
    assert_eq!(report.results_written, to_lock);
    let outbox = f.store.outbox(0, 100_000).unwrap();
    assert_eq!(outbox.len() - outbox_before, to_lock);
    let rx = f.store.read().unwrap();
    let r = rx
        .get(&RESULTS, &format!("{year}/hk1/{}", f.students[0].id))
        .unwrap()
        .unwrap();
    assert_eq!(r.diemmon[&f.toan].as_deref(), Some("8.0"));
    assert_eq!(r.mahocluc, Some(1));
    assert_eq!(r.mahanhkiem, Some(1));
    assert_eq!(r.phienban, 1);
    drop(rx);

    // After the lock a teacher's change is a correction that needs a reason…
    assert!(matches!(
        f.save(&f.teacher, &f.toan, TermId::Hk1, 0, "ck", "9", 1),
        Err(GradeError::ReasonRequired)
    ));
    let edit = CellEdit {
        student: f.students[0].id.clone(),
        column: "ck".into(),
        input: "9".into(),
        expected_version: 1,
        reason: Some("Chấm phúc khảo".into()),
    };
    let t_actor = Actor {
        id: f.teacher.id().into(),
        now: now(),
    };
    let saved = f
        .store
        .write(&t_actor, |tx| {
            save_cell(tx, &f.teacher, &f.class.id, &f.toan, TermId::Hk1, edit)
        })
        .unwrap();
    let Saved::CorrectionPending { correction } = saved else {
        panic!()
    };
    // …the cell is unchanged until the homeroom teacher verifies it…
    let rx = f.store.read().unwrap();
    let row = rx
        .get(
            &ROWS,
            &row_key(&f.class.id, &f.toan, TermId::Hk1, &f.students[0].id),
        )
        .unwrap()
        .unwrap();
    assert_eq!(row.mark("ck"), Mark::Score(Tenths::new(80).unwrap()));
    drop(rx);
    let h_actor = Actor {
        id: f.homeroom.id().into(),
        now: now(),
    };
    assert!(matches!(
        f.store.write(&t_actor, |tx| decide_correction(
            tx,
            &f.teacher,
            &correction.id,
            true
        )),
        Err(GradeError::SecondPersonNeeded)
    ));
    let before = f.store.outbox(0, 100_000).unwrap().len();
    let c = f
        .store
        .write(&h_actor, |tx| {
            decide_correction(tx, &f.homeroom, &correction.id, true)
        })
        .unwrap();
    assert_eq!(c.status, CorrectionStatus::Verified);
    // …and then the stored result is updated with a higher version and relayed again.
    let rx = f.store.read().unwrap();
    let r = rx
        .get(&RESULTS, &format!("{year}/hk1/{}", f.students[0].id))
        .unwrap()
        .unwrap();
    // (32 + 16 + 27) / 9 = 8.33 → 8.3
    assert_eq!(r.diemmon[&f.toan].as_deref(), Some("8.3"));
    assert_eq!(r.phienban, 2);
    assert_eq!(f.store.outbox(0, 100_000).unwrap().len(), before + 1);
    drop(rx);
    assert!(matches!(
        f.store.write(&h_actor, |tx| decide_correction(
            tx,
            &f.homeroom,
            &correction.id,
            true
        )),
        Err(GradeError::CorrectionDecided)
    ));
    // The same rules: a recomputation preview shows nothing to change.
    let rx = f.store.read().unwrap();
    assert!(
        recompute_preview(&rx, &year, TermId::Hk1, RuleVersion::Tt22V1)
            .unwrap()
            .is_empty()
    );
    assert!(f.store.verify_audit().unwrap().is_intact());
}

#[test]
fn year_results_lists_and_awards_from_a_full_class() {
    let f = fixture();
    fill_class(&f, TermId::Hk1);
    fill_class(&f, TermId::Hk2);
    let rx = f.store.read().unwrap();
    let book = class_book(&rx, &f.class.id, &Settings::default()).unwrap();
    let y = &book.year[0];
    assert_eq!(y.level.unwrap().level, Level::Tot);
    assert_eq!(y.conduct, Some(Level::Tot));
    assert_eq!(y.absences, 4);
    assert_eq!(y.outcome, Some(Outcome::Promoted));
    assert_eq!(y.award, Some(tt22::Award::Good));
}

fn teacher_sheet(rows: &[Vec<String>]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "BẢNG ĐIỂM MÔN TOÁN — HỌC KÌ I")
        .unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if let Some(f) = v.strip_prefix('=') {
                ws.write_formula(
                    (r + 2) as u32,
                    c as u16,
                    rust_xlsxwriter::Formula::new(format!("={f}")).set_result("8"),
                )
                .unwrap();
            } else if let Ok(n) = v.parse::<f64>() {
                ws.write_number((r + 2) as u32, c as u16, n).unwrap();
            } else {
                ws.write_string((r + 2) as u32, c as u16, v).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

fn row(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

impl Fixture {
    fn plan(&self, bytes: &[u8], mapping: Option<&str>) -> Result<excel::ImportPlan, GradeError> {
        let rx = self.store.read().unwrap();
        excel::plan_import(
            &rx,
            &self.teacher,
            &self.class.id,
            &self.toan,
            TermId::Hk1,
            bytes,
            mapping,
        )
    }
    fn apply(&self, plan: excel::ImportPlan) -> Result<usize, GradeError> {
        let actor = Actor {
            id: self.teacher.id().into(),
            now: now(),
        };
        self.store.write(&actor, |tx| {
            excel::apply_import(
                tx,
                &self.teacher,
                &self.class.id,
                &self.toan,
                TermId::Hk1,
                plan,
            )
        })
    }
}

#[test]
fn a_teachers_own_sheet_imports_with_headers_or_a_mapping() {
    let f = fixture();
    let (a, b) = (&f.students[0], &f.students[1]);
    let bytes = teacher_sheet(&[
        row(&[
            "STT",
            "Mã định danh",
            "Họ và tên",
            "TX1",
            "TX2",
            "TX3",
            "TX4",
            "Giữa kì",
            "Cuối kì",
        ]),
        row(&[
            "1",
            &a.ma_dinh_danh,
            &a.full_name,
            "8",
            "7",
            "9",
            "6.5",
            "7.5",
            "8",
        ]),
        row(&[
            "2",
            &b.ma_dinh_danh,
            &b.full_name,
            "9",
            "8,5",
            "",
            "",
            "",
            "",
        ]),
    ]);
    let plan = f.plan(&bytes, None).unwrap();
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(plan.changes, 8);
    assert_eq!(f.apply(plan).unwrap(), 8);
    let rx = f.store.read().unwrap();
    let book = class_book(&rx, &f.class.id, &Settings::default()).unwrap();
    let i = book.subjects.iter().position(|s| s.id == f.toan).unwrap();
    assert_eq!(book.hk1[0].subjects[i].text(), "7,7");
    drop(rx);
    // Importing the same file again changes nothing.
    assert_eq!(f.plan(&bytes, None).unwrap().changes, 0);

    // Headers nobody recognises: a column mapping by letters.
    let odd = teacher_sheet(&[
        row(&[
            "Số",
            "Mã",
            "Tên",
            "Điểm miệng",
            "15 phút 1",
            "15 phút 2",
            "1 tiết",
            "GHK",
            "HK",
        ]),
        row(&[
            "1",
            &b.ma_dinh_danh,
            &b.full_name,
            "9",
            "8,5",
            "7",
            "6",
            "8",
            "9",
        ]),
    ]);
    assert!(f.plan(&odd, None).is_err());
    let plan = f
        .plan(&odd, Some("id=B,tx1=D,tx2=E,tx3=F,tx4=G,gk=H,ck=I"))
        .unwrap();
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    // tx1 and tx2 are unchanged (9, 8,5); the four others are new.
    assert_eq!(plan.changes, 4);
}

#[test]
fn a_bad_import_lists_every_problem_and_writes_nothing() {
    let f = fixture();
    let a = &f.students[0];
    let before = f.audit_len();
    let bytes = teacher_sheet(&[
        row(&[
            "STT",
            "Mã định danh",
            "Họ và tên",
            "TX1",
            "TX2",
            "TX3",
            "TX4",
            "GK",
            "CK",
        ]),
        row(&[
            "1",
            &a.ma_dinh_danh,
            &a.full_name,
            "8",
            "11",
            "9",
            "abc",
            "7,25",
            "=A1+1",
        ]),
        row(&["2", "079999999999", "Người Lạ", "8", "", "", "", "", ""]),
        row(&["3", &a.ma_dinh_danh, &a.full_name, "8", "", "", "", "", ""]),
    ]);
    let plan = f.plan(&bytes, None).unwrap();
    let cols: Vec<(usize, &str)> = plan
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str()))
        .collect();
    assert!(cols.contains(&(4, "tx2")), "{cols:?}");
    assert!(cols.contains(&(4, "tx4")));
    assert!(cols.contains(&(4, "gk")));
    assert!(cols.contains(&(4, "ck")), "a formula is refused: {cols:?}");
    assert!(cols.contains(&(5, "id")), "an unknown student is named");
    assert!(cols.contains(&(6, "id")), "a student twice is refused");
    assert!(
        plan.problems
            .iter()
            .any(|p| p.message.contains("công thức"))
    );
    assert!(matches!(f.apply(plan), Err(GradeError::Import(_))));
    assert_eq!(f.audit_len(), before);

    let dup = teacher_sheet(&[
        row(&[
            "STT",
            "Mã định danh",
            "Họ và tên",
            "TX1",
            "TX1",
            "TX3",
            "TX4",
            "GK",
            "CK",
        ]),
        row(&[
            "1",
            &a.ma_dinh_danh,
            &a.full_name,
            "8",
            "8",
            "9",
            "7",
            "7",
            "8",
        ]),
    ]);
    assert!(matches!(f.plan(&dup, None), Err(GradeError::Import(m)) if m.contains("hai lần")));
    let legacy = teacher_sheet(&[
        row(&["STT", "Hä vµ tªn", "Họ và tên", "TX1"]),
        row(&["1", "x", "NguyÔn V¨n An", "8"]),
    ]);
    // A sheet typed with an ABC font is converted (issue 24 item 8), each name shown beside
    // its original in the preview.
    let plan = f.plan(&legacy, None).expect("converted, not refused");
    assert!(
        plan.notes.iter().any(|n| n.row == 4
            && n.message.contains("TCVN3")
            && n.message.contains("\"NguyÔn V¨n An\" → \"Nguyễn Văn An\"")),
        "{:?}",
        plan.notes
    );
    assert!(matches!(
        f.plan(b"not a spreadsheet", None),
        Err(GradeError::Import(_))
    ));
}

#[test]
fn the_exported_class_book_imports_back_unchanged() {
    let f = fixture();
    fill_class(&f, TermId::Hk1);
    let rx = f.store.read().unwrap();
    let book = class_book(&rx, &f.class.id, &Settings::default()).unwrap();
    drop(rx);
    let bytes = excel::export_class_book(&book).unwrap();
    // Scores and averages are numbers (not the text "7,8"); the headers say TT22's words.
    {
        use calamine::{Data, Reader, Xlsx};
        let mut wb = Xlsx::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let summary = wb.worksheet_range("Tổng hợp").unwrap();
        let header: Vec<String> = summary
            .rows()
            .nth(2)
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert!(
            header.contains(&"Kết quả học tập HKI".to_string()),
            "{header:?}"
        );
        assert!(
            !header
                .iter()
                .any(|h| h.contains("Học lực") || h.contains("Hạnh kiểm"))
        );
        let sheet = wb.worksheet_range("Toán").unwrap();
        let first = sheet.rows().nth(3).unwrap();
        assert!(matches!(first[3], Data::Float(_)), "tx1 is {:?}", first[3]);
        // STT is a number too, and the long subject names are sheets named by abbreviation
        // (domain review r4).
        assert!(matches!(first[0], Data::Float(_)), "STT is {:?}", first[0]);
        let names = wb.sheet_names();
        assert!(names.iter().any(|n| n == "HĐTNHN"), "{names:?}");
        assert!(header.contains(&"Ghi chú".to_string()), "{header:?}");
        assert!(first.iter().filter(|d| matches!(d, Data::Float(_))).count() >= 7);
    }
    let plan = f.plan(&bytes, None).unwrap();
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(plan.cells.len(), 40 * 6);
    assert_eq!(plan.changes, 0);
    let csv = excel::results_csv(&book);
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(csv.lines().count(), 1 + 40 * 3);
}

/// A primary school (TT27): levels at mid-term and end of term, whole-number tests for the
/// tested subjects, qualities and competences from the homeroom teacher, the year result.
#[test]
fn a_primary_class_gets_its_tt27_year_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
    crate::demo::seed(&store, "x", 40, now()).unwrap();
    let actor = Actor::system(now());
    let teacher_id = "u-gv01".to_string();
    let homeroom_id = "u-gv02".to_string();
    let (class, students, tv, dd) = store
        .write(&actor, |tx| -> Result<_, GradeError> {
            let mut info = school::school_info(tx)?.unwrap();
            info.level = "TH".into();
            tx.put(&school::INFO, "school", &info, "test")?;
            let class = school::create_class(
                tx,
                &info.current_year,
                school::NewClass {
                    name: "4A1".into(),
                    grade: 4,
                    homeroom: Some(homeroom_id.clone()),
                },
            )
            .map_err(|e| GradeError::Import(e.to_string()))?;
            let mut ids = vec![];
            for (name, periods) in [("Tiếng Việt", 245u16), ("Đạo đức", 35)] {
                let s = school::upsert_subject(
                    tx,
                    school::NewSubject {
                        name: name.into(),
                        kind: SubjectKind::Comment,
                        periods_per_year: [(4u8, periods)].into_iter().collect(),
                        department: None,
                    },
                )
                .map_err(|e| GradeError::Import(e.to_string()))?;
                school::assign(
                    tx,
                    school::Assignment {
                        class: class.id.clone(),
                        subject: s.id.clone(),
                        teacher: teacher_id.clone(),
                    },
                )
                .map_err(|e| GradeError::Import(e.to_string()))?;
                ids.push(s.id);
            }
            let mut students = vec![];
            for (i, n) in ["Nguyễn An", "Trần Bình"].iter().enumerate() {
                let st = school::Student {
                    id: school::new_student_id(),
                    full_name: n.to_string(),
                    dob: "2016-05-01".into(),
                    gender: "Nam".into(),
                    ma_dinh_danh: format!("00121600000{i}"),
                    class_id: class.id.clone(),
                    arrived: None,
                    left: None,
                };
                school::save_student(tx, st.clone(), "test")
                    .map_err(|e| GradeError::Import(e.to_string()))?;
                students.push(st);
            }
            Ok((class, students, ids[0].clone(), ids[1].clone()))
        })
        .unwrap();
    let teacher = principal(&store, &teacher_id);
    let homeroom = principal(&store, &homeroom_id);
    let rx = store.read().unwrap();
    let specs = subjects_for_grade(&rx, 4, &Settings::default()).unwrap();
    let tv_spec = specs.iter().find(|s| s.id == tv).unwrap();
    assert_eq!(
        tv_spec.columns(),
        ["gk", "kt_gk", "ck", "kt_ck"],
        "TV in grade 4 has mid-term tests"
    );
    assert_eq!(
        specs.iter().find(|s| s.id == dd).unwrap().columns(),
        ["gk", "ck"],
        "Đạo đức has no test"
    );
    drop(rx);
    let save = |subject: &str, term: TermId, student: usize, col: &str, input: &str| {
        let edit = CellEdit {
            student: students[student].id.clone(),
            column: col.into(),
            input: input.into(),
            expected_version: 0,
            reason: None,
        };
        store.write(
            &Actor {
                id: teacher.id().into(),
                now: now(),
            },
            |tx| save_cell(tx, &teacher, &class.id, subject, term, edit),
        )
    };
    // Bad input is refused with the primary rules' messages.
    assert!(matches!(
        save(&tv, TermId::Hk2, 0, "ck", "8"),
        Err(GradeError::NotALevel(_))
    ));
    assert!(matches!(
        save(&tv, TermId::Hk2, 0, "kt_ck", "8,5"),
        Err(GradeError::Score(_))
    ));
    assert!(matches!(
        save(&tv, TermId::Hk2, 0, "kt_ck", "11"),
        Err(GradeError::Score(_))
    ));
    for (col, v) in [("gk", "T"), ("kt_gk", "9"), ("ck", "T"), ("kt_ck", "10")] {
        save(&tv, TermId::Hk2, 0, col, v).unwrap();
    }
    save(&dd, TermId::Hk2, 0, "gk", "T").unwrap();
    save(&dd, TermId::Hk2, 0, "ck", "H").unwrap();
    let book = |store: &Store| {
        class_book(&store.read().unwrap(), &class.id, &Settings::default()).unwrap()
    };
    let b = book(&store);
    assert!(b.is_primary());
    let i = b.subjects.iter().position(|s| s.id == tv).unwrap();
    assert_eq!(b.year[0].subjects[i].text(), "T · 10");
    assert_eq!(b.year[0].primary, None, "qualities not recorded yet");
    // The homeroom teacher records the five qualities and ten competences.
    let all: BTreeMap<String, String> = tt27::QUALITIES
        .iter()
        .chain(tt27::COMPETENCES.iter())
        .map(|n| (n.to_string(), "Tốt".to_string()))
        .collect();
    let h_actor = Actor {
        id: homeroom.id().into(),
        now: now(),
    };
    let rec = RecordEdit {
        student: students[0].id.clone(),
        conduct: None,
        absences: None,
        excused: None,
        comment: None,
        qualities: Some(all),
        quality_comments: None,
        recognised_by_class: None,
    };
    store
        .write(&h_actor, |tx| {
            save_record(tx, &homeroom, &class.id, TermId::Hk2, rec)
        })
        .unwrap();
    let bad = RecordEdit {
        student: students[0].id.clone(),
        conduct: None,
        absences: None,
        excused: None,
        comment: None,
        qualities: Some(
            [("Dũng cảm".to_string(), "Tốt".to_string())]
                .into_iter()
                .collect(),
        ),
        quality_comments: None,
        recognised_by_class: None,
    };
    assert!(matches!(
        store.write(&h_actor, |tx| save_record(
            tx,
            &homeroom,
            &class.id,
            TermId::Hk2,
            bad
        )),
        Err(GradeError::UnknownQuality(_))
    ));
    // One H (Đạo đức) blocks HTXS and HTT: HT (worked example P3).
    assert_eq!(book(&store).year[0].primary, Some(EducationResult::Ht));
    let edit = CellEdit {
        student: students[0].id.clone(),
        column: "ck".into(),
        input: "T".into(),
        expected_version: 1,
        reason: None,
    };
    store
        .write(
            &Actor {
                id: teacher.id().into(),
                now: now(),
            },
            |tx| save_cell(tx, &teacher, &class.id, &dd, TermId::Hk2, edit),
        )
        .unwrap();
    let b = book(&store);
    assert_eq!(b.year[0].primary, Some(EducationResult::Htxs));
    // The class's recognition for "Học sinh Tiêu biểu" is recorded at the end of the year only.
    let recognise = || RecordEdit {
        student: students[0].id.clone(),
        conduct: None,
        absences: None,
        excused: None,
        comment: None,
        qualities: None,
        quality_comments: None,
        recognised_by_class: Some(true),
    };
    assert!(matches!(
        store.write(&h_actor, |tx| save_record(
            tx,
            &homeroom,
            &class.id,
            TermId::Hk1,
            recognise()
        )),
        Err(GradeError::RecognitionInTermTwo)
    ));
    let rec = store
        .write(&h_actor, |tx| {
            save_record(tx, &homeroom, &class.id, TermId::Hk2, recognise())
        })
        .unwrap();
    assert!(rec.recognised_by_class);
    assert_eq!(
        book(&store).year[0].award_label(),
        Some("Học sinh Xuất sắc")
    );
    assert!(b.is_complete(TermId::Hk2, 0));
    assert!(!b.is_complete(TermId::Hk2, 1));
    // The class book exports and imports back unchanged, test columns included.
    let bytes = excel::export_class_book(&b).unwrap();
    let rx = store.read().unwrap();
    let plan =
        excel::plan_import(&rx, &teacher, &class.id, &tv, TermId::Hk2, &bytes, None).unwrap();
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!((plan.cells.len(), plan.changes), (4, 0));
}

fn office() -> Actor {
    Actor {
        id: "office".into(),
        now: now(),
    }
}

/// `hocba::fill_register` runs at every start and reads only the signatures without their
/// register line: a row that has its line is never decoded (its PDF never read) — here one
/// whose stored value is no signed học bạ at all, which reading would refuse as corrupt. The
/// same row without its line is read (and refused).
#[test]
fn filling_the_register_reads_no_signature_that_has_its_line() {
    use crate::store::{AuditPolicy, Collection};
    const RAW: Collection<serde_json::Value> =
        Collection::new(hocba::SIGNED.name, AuditPolicy::Values, None);
    let f = fixture();
    let key = "2026-6a1/hs-x/0001/1";
    let entry = hocba::RegisterEntry {
        class: "2026-6a1".into(),
        student: "hs-x".into(),
        version: 1,
        stage: hocba::Stage::Gvcn,
        signer_role: "Giáo viên chủ nhiệm".into(),
        cert_sha256: "00".repeat(32),
        signature_sha256: "11".repeat(32),
    };
    f.store
        .write(&office(), |tx| {
            tx.put(&RAW, key, &serde_json::json!("not a signed row"), "test")?;
            tx.put(&hocba::REGISTER, key, &entry, "test")
        })
        .unwrap();
    assert_eq!(hocba::fill_register(&f.store, now()).unwrap(), 0);
    assert_eq!(hocba::fill_register(&f.store, now()).unwrap(), 0);
    // Without its line, the same row is read (and refused here, being no signed row).
    f.store
        .write(&office(), |tx| {
            tx.delete(&hocba::REGISTER, key, "test").map(|_| ())
        })
        .unwrap();
    assert!(hocba::fill_register(&f.store, now()).is_err());
}

/// Domain review r4, item 1: `{"disability": true}` alone wiped nơi sinh, parents, Số đăng
/// bộ… A field left out stays, an empty string clears.
#[test]
fn a_profile_change_keeps_the_fields_it_does_not_name() {
    let f = fixture();
    let student = f.students[0].id.clone();
    let full: school::ProfilePatch = serde_json::from_value(serde_json::json!({
        "birthplace": "Bệnh viện Từ Dũ", "ethnicity": "Kinh", "address": "12 Lý Tự Trọng",
        "father": "Lê Văn Tài", "father_job": "Kĩ sư", "mother": "Trần Thị Hoa"
    }))
    .unwrap();
    let patch =
        |v: serde_json::Value| -> school::ProfilePatch { serde_json::from_value(v).unwrap() };
    let save = |p: school::ProfilePatch| {
        let s = student.clone();
        f.store
            .write(&office(), move |tx| school::save_profile(tx, &s, p))
    };
    save(full).unwrap();
    let p = save(patch(serde_json::json!({"disability": true}))).unwrap();
    assert!(p.disability);
    assert_eq!(p.birthplace, "Bệnh viện Từ Dũ");
    assert_eq!(p.father, "Lê Văn Tài");
    assert_eq!(p.father_job, "Kĩ sư");
    let p = save(patch(serde_json::json!({"father_job": ""}))).unwrap();
    assert_eq!(p.father_job, "", "an empty string clears");
    assert!(p.disability, "kept");
    assert_eq!(p.mother, "Trần Thị Hoa");
    let rx = f.store.read().unwrap();
    assert_eq!(school::student_profile(&rx, &student).unwrap(), p);
}

/// Review r8 #3: a number and a date typed into the profile printed on the học bạ against
/// the register. They are the register's now: any typed value is refused, naming the line,
/// and nothing is written; "" only clears what older versions stored.
#[test]
fn the_register_number_and_entry_date_are_not_typed_into_the_profile() {
    let f = fixture();
    let student = f.students[0].id.clone();
    let save = |p: school::ProfilePatch| {
        let s = student.clone();
        f.store
            .write(&office(), move |tx| school::save_profile(tx, &s, p))
    };
    let before = school::student_profile(&f.store.read().unwrap(), &student).unwrap();
    for patch in [
        school::ProfilePatch {
            registry_number: Some("999".into()),
            ..Default::default()
        },
        school::ProfilePatch {
            enrolled_on: Some("01/01/2000".into()),
            ethnicity: Some("Kinh".into()),
            ..Default::default()
        },
    ] {
        let e = save(patch).expect_err("typed").to_string();
        assert!(e.contains("lấy từ sổ đăng bộ"), "{e}");
    }
    let after = school::student_profile(&f.store.read().unwrap(), &student).unwrap();
    assert_eq!(after, before, "nothing written");
    // An empty one is taken and changes nothing: the register's line is what prints.
    let p = save(school::ProfilePatch {
        registry_number: Some(String::new()),
        enrolled_on: Some(" ".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(p, before);
}

/// The same defect in the other whole-record PUT: rule settings sent in part reset every
/// reading left out to its default.
#[test]
fn a_settings_change_keeps_the_readings_it_does_not_name() {
    let f = fixture();
    let save = |v: serde_json::Value| {
        let p = f.bgh.clone();
        f.store.write(&office(), move |tx| save_settings(tx, &p, v))
    };
    save(serde_json::json!({
        "tt22": {"max_absences": 40, "award_requires_promotion": false},
        "regular_count": {"toan": 3}
    }))
    .unwrap();
    let s = save(serde_json::json!({"tt22": {"comment_regular_count": 3}})).unwrap();
    assert_eq!(s.tt22.comment_regular_count, 3);
    assert_eq!(s.tt22.max_absences, 40, "kept");
    assert!(!s.tt22.award_requires_promotion, "kept");
    assert_eq!(s.regular_count.get("toan"), Some(&3), "kept");
    let s = save(serde_json::json!({"regular_count": {"toan": null}})).unwrap();
    assert!(s.regular_count.is_empty(), "null removes");
    assert_eq!(settings(&f.store.read().unwrap()).unwrap(), s);
    let e = save(serde_json::json!({"tt22": {"max_absense": 3}})).unwrap_err();
    assert_eq!(e.code(), "bad_settings");
    let e = save(serde_json::json!({"regular_count": {"toan": 0}})).unwrap_err();
    assert_eq!(e.code(), "bad_settings");
}

/// Issue 22: who is on the roll of a locked term does not change. The demo's 9A1 of last year
/// (2025-2026: term I ends 16/01/2026, term II 31/05/2026; the test's today is 15/01/2027)
/// has its year locked and signed; a transfer out dated inside either term is
/// refused naming the lock — nothing written —, one dated after the year (the summer) is
/// accepted, and then her học bạ of the year is the one signed with the class: signing her
/// file alone is refused rather than making a second version. A re-enrolment into the class
/// (its current term, the year, is locked) is refused too, and so is a new student.
#[test]
fn a_locked_term_keeps_its_roll_and_a_summer_leaver_keeps_the_class_file() {
    let f = fixture();
    let class_id = "2025-9a1";
    let office = Actor {
        id: f.bgh.id().into(),
        now: now(),
    };
    let rx = f.store.read().unwrap();
    let class = class_of(&rx, class_id).unwrap();
    let pupils = school::students_of_class(&rx, class_id).unwrap();
    drop(rx);
    let out = |date: &str| school::changes::TransferOut {
        date: date.into(),
        to_school: "THCS Lê Lợi".into(),
        reason: "Chuyển nhà".into(),
    };
    let leave = |id: &str, date: &str| {
        f.store.write(&office, |tx| {
            moves::guard_roll(tx, |tx| school::changes::transfer_out(tx, id, out(date)))
        })
    };
    for (date, term) in [("2025-12-01", "học kì I"), ("2026-03-05", "học kì II")] {
        let e = leave(&pupils[1].id, date).unwrap_err().to_string();
        assert!(
            e.contains(&format!("Lớp {} đã khoá sổ {term}", class.name))
                && e.contains(&pupils[1].full_name),
            "{e}"
        );
    }
    let rx = f.store.read().unwrap();
    assert!(
        rx.get(&school::STUDENTS, &pupils[1].id)
            .unwrap()
            .unwrap()
            .left
            .is_none()
    );
    drop(rx);
    // Review r13 #7: a departure inside term I names both locked terms in one message.
    let e = leave(&pupils[1].id, "2025-12-01").unwrap_err().to_string();
    assert!(
        e.contains("học kì I (kết thúc ngày 16/01/2026) và học kì II (kết thúc ngày 31/05/2026)")
            && e.contains("mở khoá sổ học kì I và học kì II của lớp"),
        "{e}"
    );
    // Her học bạ of the year as printed before the summer departure still matches after it.
    let rx = f.store.read().unwrap();
    let data = hocba::record_json(&rx, &class.year, class_id, &pupils[0].id).unwrap();
    drop(rx);
    let mut layout = super::pdf::Layout::new(false);
    layout.line(10.0, false, "Học bạ");
    layout.attach_json(hocba::DATA_FILE, "test", data);
    let before = layout.finish().unwrap();
    leave(&pupils[0].id, "2026-07-10").unwrap();
    assert!(matches!(
        hocba::check_data(&f.store.read().unwrap(), &before).unwrap(),
        hocba::DataCheck::Matches { .. }
    ));
    let homeroom = principal(&f.store, class.homeroom.as_deref().unwrap());
    let rx = f.store.read().unwrap();
    let e = hocba::check_may_sign_student(
        &rx,
        &homeroom,
        &pupils[0].id,
        hocba::Stage::Gvcn,
        jiff::Timestamp::now(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, hocba::HocbaError::SignedWithClass(_)), "{e}");
    drop(rx);
    // Back into the class (its year locked and over): refused; a new student too.
    let e = f
        .store
        .write(&office, |tx| {
            moves::guard_roll(tx, |tx| {
                school::changes::re_enrol(
                    tx,
                    &pupils[0].id,
                    school::changes::ReEnrolment {
                        class_id: class_id.into(),
                        date: "2026-07-14".into(),
                        from_school: None,
                    },
                )
            })
        })
        .unwrap_err()
        .to_string();
    assert!(
        (e.contains("đã khoá sổ học kì II") || e.contains("năm học hiện tại")) && e.contains("9A1"),
        "{e}"
    );
    let newcomer = Student {
        id: String::new(),
        full_name: "Lê Văn Mới".into(),
        dob: pupils[1].dob.clone(),
        gender: "Nam".into(),
        ma_dinh_danh: "079212000999".into(),
        class_id: class_id.into(),
        arrived: None,
        left: None,
    };
    let e = f
        .store
        .write(&office, |tx| {
            moves::guard_roll(tx, |tx| school::add_student(tx, newcomer))
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("đã khoá sổ học kì I"), "{e}");
}

/// Review r13 #5 and #7 on the demo's 9A1 of last year (its year locked): the học bạ's data carries the số
/// đăng bộ and entry date it prints, so a later renumbering shows in the data check; a strike
/// that would renumber a student whose học bạ is signed is refused naming BGH's unlock, and
/// nothing changes; a strike off the roll is refused once, naming both locked terms, without
/// asking for a date (a strike takes none).
#[test]
fn a_signed_hocba_keeps_its_register_number_and_a_strike_names_every_locked_term() {
    let f = fixture();
    let class_id = "2025-9a1";
    let office = Actor {
        id: f.bgh.id().into(),
        now: now(),
    };
    let rx = f.store.read().unwrap();
    let class = class_of(&rx, class_id).unwrap();
    let pupils = school::students_of_class(&rx, class_id).unwrap();
    drop(rx);
    // The graduates' lines are of 2022-2023, a closed year no strike touches: two of them
    // are made lines of the current year, as a pupil who came in this year has.
    f.store
        .write(&office, |tx| {
            for p in &pupils[..2] {
                let mut l = school::register::line_of(&*tx, &p.id)?.unwrap();
                l.year = "2026-2027".into();
                tx.put(
                    &school::register::REGISTER,
                    &format!("{:06}", l.number),
                    &l,
                    "test",
                )?;
            }
            Ok::<_, crate::store::StoreError>(())
        })
        .unwrap();
    let rx = f.store.read().unwrap();
    let line_of = |rx: &crate::store::Rx, i: usize| {
        school::register::valid_line(rx, &pupils[i].id)
            .unwrap()
            .unwrap()
    };
    let (line0, line1) = (line_of(&rx, 0), line_of(&rx, 1));
    let file = |rx: &crate::store::Rx, i: usize| {
        let data = hocba::record_json(rx, &class.year, class_id, &pupils[i].id).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&data).unwrap();
        let mut layout = super::pdf::Layout::new(false);
        layout.line(10.0, false, "Học bạ");
        layout.attach_json(hocba::DATA_FILE, "test", data);
        (doc, layout.finish().unwrap())
    };
    let (doc0, pdf0) = file(&rx, 0);
    let (_, pdf1) = file(&rx, 1);
    drop(rx);
    assert_eq!(doc0["sodangbo"], line0.number.to_string(), "{doc0}");
    assert_eq!(doc0["ngaynhaphoc"], line0.entered_on.as_str(), "{doc0}");
    let check = |pdf: &[u8]| hocba::check_data(&f.store.read().unwrap(), pdf).unwrap();
    assert!(matches!(check(&pdf0), hocba::DataCheck::Matches { .. }));
    assert!(matches!(check(&pdf1), hocba::DataCheck::Matches { .. }));
    // The demo signed the class: each học bạ has its lines in the signature register.
    let rx = f.store.read().unwrap();
    for p in &pupils[..2] {
        let signed = rx
            .scan(&hocba::REGISTER, &format!("{class_id}/{}/", p.id))
            .unwrap();
        assert!(!signed.is_empty(), "{} not signed", p.full_name);
    }
    drop(rx);
    let strike = |number: u32, after| {
        f.store.write(&office, |tx| {
            moves::guard_roll_from(tx, moves::Source::Strike, |tx| {
                school::register::strike(tx, number, "Mở nhầm", after)
            })
        })
    };
    let e = strike(line0.number, school::register::AfterStrike::NewLine)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("in số đăng bộ {}", line0.number))
            && e.contains(&pupils[0].full_name)
            && e.contains("mở khoá sổ học kì II")
            && e.contains("ký lại học bạ"),
        "{e}"
    );
    assert_eq!(
        line_of(&f.store.read().unwrap(), 0),
        line0,
        "nothing written"
    );
    assert!(matches!(check(&pdf0), hocba::DataCheck::Matches { .. }));
    // Off the roll: both locked terms in one message, and no date asked for.
    let e = strike(line1.number, school::register::AfterStrike::LeaveRoll)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("Lớp {} đã khoá sổ học kì I", class.name))
            && e.contains("và học kì II")
            && e.contains("mở khoá sổ học kì I và học kì II của lớp")
            && e.contains("Gạch bỏ không ghi ngày"),
        "{e}"
    );
    assert!(!e.contains("ghi đúng ngày"), "{e}");
    // BGH reopens the year of the class: the signed files no longer stand, a new line is
    // allowed, and a file printed before it no longer matches the box's records (the number
    // it prints is gone) — the học bạ is signed again as a new version.
    f.store
        .write(&office, |tx| {
            unlock_term(
                tx,
                &f.bgh,
                &class.year,
                TermId::Hk2,
                Some(class_id),
                Some("Sửa số đăng bộ".into()),
            )
        })
        .unwrap();
    let struck = strike(line1.number, school::register::AfterStrike::NewLine).unwrap();
    let now1 = line_of(&f.store.read().unwrap(), 1);
    assert!(struck.struck.is_some() && now1.number > line1.number);
    assert!(
        matches!(check(&pdf1), hocba::DataCheck::Differs { .. }),
        "{:?}",
        check(&pdf1)
    );
    assert!(matches!(check(&pdf0), hocba::DataCheck::Matches { .. }));
    // Review r15 #1: the identity the file prints is in its data too — a name corrected on the
    // box after the signing makes the signed copy differ from the box's records.
    assert_eq!(doc0["hoten"], pupils[0].full_name.as_str(), "{doc0}");
    assert_eq!(
        doc0["sodinhdanh"],
        pupils[0].ma_dinh_danh.as_str(),
        "{doc0}"
    );
    f.store
        .write(&office, |tx| {
            let mut st = tx.get(&school::STUDENTS, &pupils[0].id)?.unwrap();
            st.full_name = format!("{} Sửa", st.full_name);
            school::save_student(tx, st, "student.edit")?;
            Ok::<_, school::SchoolError>(())
        })
        .unwrap();
    assert!(
        matches!(check(&pdf0), hocba::DataCheck::Differs { .. }),
        "{:?}",
        check(&pdf0)
    );
}

/// Review r13 #1: a year reopened, a departure recorded inside term I, the year locked again —
/// the results stored at the first lock are still there, but a term that began after she left
/// is none of hers: her file covers term I only, never term II nor the year.
#[test]
fn a_term_begun_after_the_departure_is_not_covered_by_a_later_lock() {
    let f = fixture();
    let class_id = "2025-9a1";
    let early = Actor {
        id: f.bgh.id().into(),
        now: "2025-12-05T03:00:00Z".parse().unwrap(),
    };
    let office = Actor {
        id: f.bgh.id().into(),
        now: now(),
    };
    let rx = f.store.read().unwrap();
    let class = class_of(&rx, class_id).unwrap();
    let pupil = school::students_of_class(&rx, class_id).unwrap()[0].clone();
    drop(rx);
    // Reopened on 05/12, term I locked again the same day (as a school may, early); term II
    // cannot be locked before it begins (review r24 #2), and is locked once it has.
    f.store
        .write(&early, |tx| {
            for t in [TermId::Hk2, TermId::Hk1] {
                unlock_term(
                    tx,
                    &f.bgh,
                    &class.year,
                    t,
                    Some(class_id),
                    Some("sửa".into()),
                )?;
            }
            lock_term(tx, &f.bgh, &class.year, TermId::Hk1, Some(class_id), true)?;
            Ok::<_, GradeError>(())
        })
        .unwrap();
    let refused = f
        .store
        .write(&early, |tx| {
            lock_term(tx, &f.bgh, &class.year, TermId::Hk2, Some(class_id), true)
        })
        .unwrap_err();
    assert!(
        matches!(refused, GradeError::TermNotStarted { .. })
            && refused
                .to_string()
                .starts_with("Học kì II chưa bắt đầu (bắt đầu ngày "),
        "{refused}"
    );
    // Her departure on 10/12 (recorded without the roll guard, as an older box did).
    f.store
        .write(&office, |tx| {
            school::changes::transfer_out(
                tx,
                &pupil.id,
                school::changes::TransferOut {
                    date: "2025-12-10".into(),
                    to_school: "THCS Lê Lợi".into(),
                    reason: "Chuyển nhà".into(),
                },
            )
        })
        .unwrap();
    // The year locked again later, once term II had begun.
    f.store
        .write(&office, |tx| {
            lock_term(tx, &f.bgh, &class.year, TermId::Hk2, Some(class_id), true)
        })
        .unwrap();
    let rx = f.store.read().unwrap();
    let st = rx.get(&school::STUDENTS, &pupil.id).unwrap().unwrap();
    assert_eq!(
        hocba::covered_terms(&rx, &class, &st).unwrap(),
        [true, false],
        "term I locked before she left is hers; term II began after"
    );
}

/// A locked term I is a locked class book: moving one of its students to another class (which
/// carries her term I scores along) is refused, naming the lock and what to do; reopened, the
/// move goes through.
#[test]
fn a_move_out_of_a_class_with_term_i_locked_is_refused() {
    let f = fixture();
    fill_class(&f, TermId::Hk1);
    let bgh = Actor {
        id: f.bgh.id().into(),
        now: now(),
    };
    let year = f.class.year.clone();
    let to = {
        let rx = f.store.read().unwrap();
        school::list(&rx, &school::CLASSES)
            .unwrap()
            .into_iter()
            .find(|c| c.grade == f.class.grade && c.id != f.class.id && c.year == year)
            .unwrap()
    };
    f.store
        .write(&bgh, |tx| {
            lock_term(tx, &f.bgh, &year, TermId::Hk1, Some(&f.class.id), true)
        })
        .unwrap();
    let who = f.students[0].id.clone();
    let e = f
        .store
        .write(&bgh, |tx| moves::move_student(tx, &who, &to.id))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("Lớp {} đã khoá sổ học kì I", f.class.name))
            && e.contains("mở khoá sổ học kì I"),
        "{e}"
    );
    let rx = f.store.read().unwrap();
    assert_eq!(
        rx.get(&school::STUDENTS, &who).unwrap().unwrap().class_id,
        f.class.id,
        "nothing moved"
    );
    drop(rx);
    f.store
        .write(&bgh, |tx| {
            unlock_term(
                tx,
                &f.bgh,
                &year,
                TermId::Hk1,
                Some(&f.class.id),
                Some("Chuyển lớp".into()),
            )
        })
        .unwrap();
    let moved = f
        .store
        .write(&bgh, |tx| moves::move_student(tx, &who, &to.id))
        .unwrap();
    assert_eq!(moved.class_id, to.id);
}

/// Review r13 #5 on the demo's signed class (last year's 9A1): a change of the register number
/// its signed học bạ print is refused while the year's lock they stand on holds, naming BGH's
/// unlock, and nothing is written; once BGH reopens the year the same change goes through. (The
/// register itself refuses a strike of a closed year's line first — every demo graduate's line
/// is one — so the guard is held to its rule here, on the change it watches.)
#[test]
fn a_signed_hocba_s_register_number_changes_only_after_the_year_is_reopened() {
    let f = fixture();
    let rx = f.store.read().unwrap();
    let class_id = crate::demo::class_in(&rx, crate::demo::SIGNED_CLASS)
        .unwrap()
        .unwrap();
    let class = class_of(&rx, &class_id).unwrap();
    let signed = rx.scan(&hocba::REGISTER, &format!("{class_id}/")).unwrap();
    let student = signed
        .first()
        .expect("the demo's class is signed")
        .1
        .student
        .clone();
    let number = rx
        .get(&school::register::REGISTER_OF, &student)
        .unwrap()
        .expect("a signed student has a register number");
    drop(rx);
    let renumber = |store: &Store| {
        store.write(&Actor::system(now()), |tx| {
            moves::guard_roll(tx, |tx| {
                tx.put(
                    &school::register::REGISTER_OF,
                    &student,
                    &(number + 5_000),
                    "register.line",
                )?;
                Ok(())
            })
        })
    };
    let e = renumber(&f.store).unwrap_err().to_string();
    assert!(
        e.contains(&format!("in số đăng bộ {number}")) && e.contains("mở khoá sổ học kì II"),
        "{e}"
    );
    let rx = f.store.read().unwrap();
    assert_eq!(
        rx.get(&school::register::REGISTER_OF, &student).unwrap(),
        Some(number),
        "nothing written"
    );
    drop(rx);
    f.store
        .write(
            &Actor {
                id: f.bgh.id().into(),
                now: now(),
            },
            |tx| {
                unlock_term(
                    tx,
                    &f.bgh,
                    &class.year,
                    TermId::Hk2,
                    Some(&class.id),
                    Some("Sửa số đăng bộ mở nhầm".into()),
                )
            },
        )
        .unwrap();
    renumber(&f.store).unwrap();
}

/// Review r23 #5: the demo's signed class reopened and locked again with nothing changed waits
/// for no signature — its signed học bạ stand, none superseded; a correction of one student's
/// printed record then waits for her signature alone, not the whole class's.
/// Review r23 #6: a học bạ is signed by hand only as the box prints it. The print is the same
/// bytes each time; a revision that changes a page, adds a visible annotation or swaps the
/// data is refused, as is a print of records changed since.
#[test]
fn a_hocba_signed_by_hand_is_the_boxs_own_print() {
    use lopdf::{Object, Stream};
    let f = fixture();
    let class_id = f.signed_class().id;
    let rx = f.store.read().unwrap();
    let book = class_book(&rx, &class_id, &settings(&rx).unwrap()).unwrap();
    let st = book.students[0].clone();
    let print = hocba::print(&rx, &book, 0).unwrap();
    assert_eq!(print, hocba::print(&rx, &book, 0).unwrap(), "deterministic");
    let doc = hocba::embedded_doc(&print).unwrap().unwrap();
    let check = |rx: &crate::store::Rx, pdf: &[u8]| hocba::check_is_print(rx, &doc, &st, pdf);
    check(&rx, &print).unwrap();
    // An update of its own appended to the print.
    let update = |edit: &dyn Fn(&mut lopdf::Document, lopdf::ObjectId)| {
        let old = lopdf::Document::load_mem(&print).unwrap();
        let page = *old.get_pages().values().next().unwrap();
        let mut inc = lopdf::IncrementalDocument::create_from(print.clone(), old);
        inc.opt_clone_object_to_new_document(page).unwrap();
        edit(&mut inc.new_document, page);
        let mut out = Vec::new();
        inc.save_to(&mut out).unwrap();
        out
    };
    // Its first page drawn again, "10" shown in place of what was there.
    let redrawn = update(&|d, page| {
        let content = d.add_object(Stream::new(
            lopdf::Dictionary::new(),
            b"BT /F1 12 Tf 100 700 Td (10) Tj ET".to_vec(),
        ));
        d.get_dictionary_mut(page)
            .unwrap()
            .set("Contents", Object::Reference(content));
    });
    let e = check(&rx, &redrawn).unwrap_err().en();
    assert!(e.contains("page 1's content differs"), "{e}");
    // A note laid over the page.
    let noted = update(&|d, page| {
        let mut note = lopdf::Dictionary::new();
        note.set("Type", Object::Name(b"Annot".to_vec()));
        note.set("Subtype", Object::Name(b"FreeText".to_vec()));
        note.set("Contents", Object::string_literal("10"));
        note.set(
            "Rect",
            Object::Array(vec![100.into(), 100.into(), 200.into(), 120.into()]),
        );
        let id = d.add_object(note);
        d.get_dictionary_mut(page)
            .unwrap()
            .set("Annots", Object::Array(vec![Object::Reference(id)]));
    });
    let e = check(&rx, &noted).unwrap_err().en();
    assert!(e.contains("annotations the print does not"), "{e}");
    // An invisible signature field is what signing adds: allowed.
    let field = update(&|d, page| {
        let mut w = lopdf::Dictionary::new();
        w.set("Subtype", Object::Name(b"Widget".to_vec()));
        w.set("FT", Object::Name(b"Sig".to_vec()));
        w.set(
            "Rect",
            Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
        );
        let id = d.add_object(w);
        d.get_dictionary_mut(page)
            .unwrap()
            .set("Annots", Object::Array(vec![Object::Reference(id)]));
    });
    check(&rx, &field).unwrap();
    // The same field drawing something, or doing something, is not.
    for (key, value) in [
        ("AP", Object::Dictionary(lopdf::Dictionary::new())),
        ("AA", Object::Dictionary(lopdf::Dictionary::new())),
    ] {
        let drawn = update(&|d, page| {
            let mut w = lopdf::Dictionary::new();
            w.set("Subtype", Object::Name(b"Widget".to_vec()));
            w.set("FT", Object::Name(b"Sig".to_vec()));
            w.set(
                "Rect",
                Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
            );
            w.set(key, value.clone());
            let id = d.add_object(w);
            d.get_dictionary_mut(page)
                .unwrap()
                .set("Annots", Object::Array(vec![Object::Reference(id)]));
        });
        let e = check(&rx, &drawn).unwrap_err().en();
        assert!(e.contains("annotations the print does not"), "{key}: {e}");
    }
    // A form some readers draw instead of the page (XFA).
    let xfa = update(&|d, _| {
        let old = lopdf::Document::load_mem(&print).unwrap();
        let root = old.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let mut catalog = old.get_dictionary(root).unwrap().clone();
        let mut form = lopdf::Dictionary::new();
        form.set("Fields", Object::Array(vec![]));
        form.set("XFA", Object::string_literal("<xdp/>"));
        catalog.set("AcroForm", Object::Dictionary(form));
        d.objects.insert(root, Object::Dictionary(catalog));
    });
    let e = check(&rx, &xfa).unwrap_err().en();
    assert!(
        e.contains("holds more than invisible signature fields"),
        "{e}"
    );
    // Another file altogether (not the print's bytes).
    let mut other = print.clone();
    let at = other.len() / 2;
    other[at] ^= 1;
    assert!(check(&rx, &other).is_err());
    drop(rx);
    // The records changed since it was printed: printed again, not signed.
    f.store
        .write(&f.bgh_actor(), |tx| {
            let mut s = tx.get(&school::STUDENTS, &st.id)?.unwrap();
            s.full_name.push_str(" Anh");
            tx.put(&school::STUDENTS, &st.id, &s, "test")
        })
        .unwrap();
    let e = check(&f.store.read().unwrap(), &print).unwrap_err().en();
    assert!(e.contains("print it again"), "{e}");
}

/// Pupils who left the school while their class's year was reopened: locking it again gives
/// back, unchanged with a new version for the relay, the results of one who left after term II
/// ended (a summer transfer: she was assessed for the whole year), not left `dangmolai` for
/// good; one who left during term II keeps the mark — no term II or year result of hers is
/// printed in the sổ đăng bộ, relayed as final or exported (review r26 #3: withdrawn in April,
/// printed as a graduate).
#[test]
fn a_pupil_who_left_while_reopened_keeps_only_the_results_she_completed() {
    let f = fixture();
    let class = f.signed_class();
    let roll = school::students_of_class(&f.store.read().unwrap(), &class.id).unwrap();
    let (summer, april) = (roll[2].id.clone(), roll[3].id.clone());
    let bgh = f.bgh_actor();
    let stored = |pupil: &str, period: &str| {
        f.store
            .read()
            .unwrap()
            .get(&RESULTS, &format!("{}/{period}/{pupil}", class.year))
            .unwrap()
            .unwrap()
    };
    let before = (stored(&summer, "hk2"), stored(&summer, "cn"));
    f.reopen_year(&class);
    let end = &class.year[5..];
    f.store
        .write(&bgh, |tx| {
            school::changes::transfer_out(
                tx,
                &summer,
                school::changes::TransferOut {
                    date: format!("{end}-07-10"),
                    to_school: "THCS Lê Lợi".into(),
                    reason: "Chuyển nhà".into(),
                },
            )?;
            school::changes::withdraw(
                tx,
                &april,
                school::changes::Withdrawal {
                    date: format!("{end}-04-15"),
                    reason: "Theo gia đình".into(),
                },
            )
        })
        .unwrap();
    assert!(stored(&summer, "cn").dangmolai && stored(&summer, "hk2").dangmolai);
    let report = f.lock_year(&class);
    assert!(report.results_written >= 2, "{report:?}");
    for (period, was) in [("hk2", before.0), ("cn", before.1)] {
        let now = stored(&summer, period);
        assert!(!now.dangmolai, "{period}: {now:?}");
        assert_eq!(now.phienban, was.phienban + 2, "{period}: {now:?}");
        let (mut a, mut b) = (now.clone(), was.clone());
        (a.phienban, b.phienban) = (0, 0);
        assert_eq!(a, b, "{period}: the result as it was locked");
        assert!(stored(&april, period).dangmolai, "{period}: left in April");
    }
    assert!(!stored(&april, "hk1").dangmolai, "term I is hers");
    // Her line of the sổ đăng bộ: no result of the year, no graduation.
    let rx = f.store.read().unwrap();
    let line = school::register::line_of(&rx, &april).unwrap().unwrap();
    let row = super::register::rows(&rx, &line.year)
        .unwrap()
        .into_iter()
        .find(|r| r.student == april)
        .unwrap();
    assert!(
        !row.results.iter().any(|r| r.year == class.year) && row.graduation.is_empty(),
        "{row:?}"
    );
}

#[test]
fn a_relocked_class_re_signs_only_the_students_whose_hocba_changed() {
    let f = fixture();
    let class = f.signed_class();
    let class_id = class.id.clone();
    let roll: Vec<String> = school::students_of_class(&f.store.read().unwrap(), &class_id)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let ids: Vec<&str> = roll.iter().map(String::as_str).collect();
    let waiting = |store: &Store| {
        hocba::class_waiting_counts(&store.read().unwrap(), &class_id, &ids).unwrap()
    };
    assert_eq!(waiting(&f.store), (0, 0), "signed by the demo");
    let bgh = f.bgh_actor();
    f.reopen_year(&class);
    // The register prints no result of a year BGH reopened (review r24 #2).
    // Nor the graduation recognised on it (r25).
    let results_of = |store: &Store| {
        let rx = store.read().unwrap();
        let line = school::register::line_of(&rx, &roll[0]).unwrap().unwrap();
        let row = super::register::rows(&rx, &line.year)
            .unwrap()
            .into_iter()
            .find(|r| r.student == roll[0])
            .unwrap();
        assert_eq!(row.results.is_empty(), row.graduation.is_empty(), "{row:?}");
        row.results.len()
    };
    assert_eq!(results_of(&f.store), 0, "reopened: no result printed");
    // The stored results of the reopened year are marked, with a new version for the relay.
    let stored = |store: &Store| {
        store
            .read()
            .unwrap()
            .get(&RESULTS, &format!("{}/cn/{}", class.year, roll[0]))
            .unwrap()
            .unwrap()
    };
    let reopened = stored(&f.store);
    assert!(reopened.dangmolai, "{reopened:?}");
    f.lock_year(&class);
    assert_eq!(results_of(&f.store), 1, "locked again: the year's result");
    let again = stored(&f.store);
    assert!(
        !again.dangmolai && again.phienban > reopened.phienban,
        "{again:?}"
    );
    assert_eq!(
        waiting(&f.store),
        (0, 0),
        "nothing changed: nothing to sign"
    );
    // One student's name corrected (as the office's edit would, once the year is reopened).
    f.store
        .write(&bgh, |tx| {
            let mut st = tx.get(&school::STUDENTS, &roll[3])?.unwrap();
            st.full_name.push_str(" Anh");
            tx.put(&school::STUDENTS, &roll[3], &st, "student.update")?;
            Ok::<_, crate::store::StoreError>(())
        })
        .unwrap();
    assert_eq!(waiting(&f.store), (1, 0), "her file alone");
    let rx = f.store.read().unwrap();
    assert_eq!(
        hocba::needs_resigning(&rx, &class_id, &ids).unwrap(),
        vec![roll[3].clone()]
    );
}
