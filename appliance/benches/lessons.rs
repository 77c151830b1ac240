//! Lesson plans: approving a month batch of 300 reviewed plans (sign and store, one
//! transaction, on a real redb file): target ≤ 2 s; and the dashboard of 60 teachers' month
//! computed from the store without its cache (what each change costs the live pages).
//! Run: cargo bench -p tram --bench lessons

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tram::lessons::{self, sign};
use tram::store::{Actor, Store};

fn school(plans: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &tram::app::schema::schema()).unwrap();
    tram::demo::seed(&store, "x", 480, jiff::Timestamp::now()).unwrap();
    tram::demo::bench_lessons(&store, 60, plans).unwrap();
    (dir, store)
}

fn principal(store: &Store) -> (tram::auth::Principal, sign::DeviceKey) {
    let rx = store.read().unwrap();
    let p = tram::school::principal_by_username(&rx, "hieutruong")
        .unwrap()
        .unwrap();
    let rec = rx.get(&sign::KEYS, p.id()).unwrap().unwrap();
    (p, sign::unlock(&rec, tram::demo::DEMO_PIN).unwrap())
}

fn bench(c: &mut Criterion) {
    let month = lessons::month_of(
        jiff::Timestamp::now()
            .to_zoned(tram::school::time_zone())
            .date(),
    );
    let mut g = c.benchmark_group("lessons");
    g.sample_size(10);
    g.bench_function("approve a month of 300 plans", |b| {
        b.iter_batched(
            || {
                let (dir, store) = school(300);
                let (p, key) = principal(&store);
                // What the approval form lists (id and version), read before the timing.
                let listed: Vec<lessons::Listed> =
                    lessons::month_to_approve(&store.read().unwrap(), &p, &month, None)
                        .unwrap()
                        .into_iter()
                        .map(|x| lessons::Listed {
                            id: x.id,
                            version: x.version,
                        })
                        .collect();
                (dir, store, p, key, listed)
            },
            |(dir, store, p, key, listed)| {
                let actor = Actor {
                    id: p.id().to_string(),
                    now: jiff::Timestamp::now(),
                };
                let out = store
                    .write(&actor, |tx| {
                        lessons::approve_month(tx, &p, &month, None, &listed, &key)
                    })
                    .unwrap();
                assert!(out.approved.len() >= 300);
                drop((store, dir));
            },
            BatchSize::PerIteration,
        )
    });
    let (_dir, store) = school(300);
    let today = jiff::Timestamp::now()
        .to_zoned(tram::school::time_zone())
        .date();
    g.bench_function("dashboard of 60 teachers, uncached", |b| {
        b.iter(|| {
            let d = lessons::dashboard(&store.read().unwrap(), &month, today).unwrap();
            assert!(d.departments.len() >= 5);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
