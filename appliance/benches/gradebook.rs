//! Recomputing every result of a 1,500-student school (12 subjects, both terms, every cell
//! filled): target ≤ 100 ms. Measured twice: the pure rules over loaded rows, and the whole
//! path a term lock takes — reading every row from a real redb file, then computing.
//! Run: cargo bench -p tram --bench gradebook

use std::collections::HashMap;

use criterion::{Criterion, criterion_group, criterion_main};
use tram::gradebook::{self, CellEdit, Settings, TermId};
use tram::store::{Actor, Store};
use tram::{auth, school};

fn school_of_1500() -> (tempfile::TempDir, Store, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &tram::app::schema::schema()).unwrap();
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    tram::demo::seed(&store, "x", 1500, now).unwrap();
    let rx = store.read().unwrap();
    // This year's classes: the demo also holds last year's graduating 9A1/9A2 (its showcase).
    let year = school::school_info(&rx).unwrap().unwrap().current_year;
    let classes: Vec<school::Class> = school::list(&rx, &school::CLASSES)
        .unwrap()
        .into_iter()
        .filter(|c| c.year == year)
        .collect();
    let assignments = school::list(&rx, &school::ASSIGNMENTS).unwrap();
    drop(rx);
    let actor = Actor::system(now);
    let mut n = 0u32;
    for c in &classes {
        store
            .write(&actor, |tx| -> Result<(), gradebook::GradeError> {
                let specs = gradebook::subjects_for_grade(tx, c.grade, &Settings::default())?;
                let students = school::students_of_class(tx, &c.id)?;
                for spec in &specs {
                    let a = assignments
                        .iter()
                        .find(|a| a.class == c.id && a.subject == spec.id)
                        .unwrap();
                    let acc = tx.get(&auth::ACCOUNTS, &a.teacher)?.unwrap();
                    let p = auth::Principal {
                        account: acc,
                        teaches: vec![(c.id.clone(), spec.id.clone())],
                        homeroom: vec![],
                        quarantined: false,
                    };
                    for term in TermId::BOTH {
                        for s in &students {
                            for col in spec.columns() {
                                n = n.wrapping_mul(1_103_515_245).wrapping_add(12345);
                                let input = if spec.kind == school::SubjectKind::Scored {
                                    format!("{},{}", 3 + (n >> 16) % 7, (n >> 8) % 10)
                                } else if (n >> 16).is_multiple_of(20) {
                                    "CĐ".into()
                                } else {
                                    "Đ".into()
                                };
                                let edit = CellEdit {
                                    student: s.id.clone(),
                                    column: col,
                                    input,
                                    expected_version: 0,
                                    reason: None,
                                };
                                // The demo marks 9A1 and 9A2 itself (its signed class): a cell
                                // it filled keeps its mark.
                                match gradebook::save_cell(tx, &p, &c.id, &spec.id, term, edit) {
                                    Err(gradebook::GradeError::Conflict { .. }) => {}
                                    r => {
                                        r?;
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
    }
    (dir, store, classes.into_iter().map(|c| c.id).collect())
}

fn bench(c: &mut Criterion) {
    let (_dir, store, classes) = school_of_1500();
    let st = Settings::default();
    let rx = store.read().unwrap();
    let students: usize = classes
        .iter()
        .map(|id| gradebook::class_book(&rx, id, &st).unwrap().students.len())
        .sum();
    assert_eq!(students, 1500);
    let mut g = c.benchmark_group("recompute 1500 students, 12 subjects, 2 terms + year");
    g.sample_size(20);
    g.bench_function(
        "read every row from redb + compute (school_books, as a term lock)",
        |b| {
            b.iter(|| {
                let rx = store.read().unwrap();
                std::hint::black_box(gradebook::school_books(&rx, "2026-2027", &st).unwrap());
            })
        },
    );
    g.bench_function("only decode every score row (marks view)", |b| {
        b.iter(|| {
            let rx = store.read().unwrap();
            std::hint::black_box(rx.scan(&gradebook::ROW_MARKS, "").unwrap().len());
        })
    });
    g.bench_function("class by class (12 × class_book)", |b| {
        b.iter(|| {
            let rx = store.read().unwrap();
            for id in &classes {
                std::hint::black_box(gradebook::class_book(&rx, id, &st).unwrap());
            }
        })
    });
    // The same data already in memory: the rules alone.
    let loaded: Vec<_> = classes
        .iter()
        .map(|id| {
            let b = gradebook::class_book(&rx, id, &st).unwrap();
            (
                b.class.clone(),
                b.subjects.clone(),
                b.students.clone(),
                b.rows.clone(),
            )
        })
        .collect();
    let records = HashMap::new();
    let records_summer = HashMap::new();
    g.bench_function("rules only (rows in memory)", |b| {
        b.iter(|| {
            for (class, subjects, students, rows) in &loaded {
                std::hint::black_box(gradebook::compute_book(
                    class.clone(),
                    subjects.clone(),
                    students.clone(),
                    rows,
                    &records,
                    &records_summer,
                    &st,
                ));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
