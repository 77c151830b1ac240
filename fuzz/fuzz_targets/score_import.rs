//! Any bytes a teacher uploads as a score sheet (`POST /api/v1/grades/import/...`), planned by
//! the real `gradebook::excel::plan_import` for the demo's 6A1 × Toán teacher: a plan or a clear
//! problem, never a panic — and never a large allocation: `scripts/fuzz` runs this target with
//! `-malloc_limit_mb=512`, so a reader that builds the grid a file claims (a 5 KB sheet with a
//! cell at XFD1048576 once asked for 512 GB) is a crash here, not only an abort on the box.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tram::auth::Principal;
use tram::gradebook::TermId;
use tram::store::Store;

const CLASS: &str = "2026-6a1";
const SUBJECT: &str = "toan";

struct Fixture {
    store: Store,
    teacher: Principal,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // libfuzzer-sys aborts from its panic hook, before the importer's catch_unwind could
        // turn a reader's panic into a message; a panic that escapes is still a crash.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = std::env::temp_dir().join(format!("tram-fuzz-score-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir, &tram::app::schema::schema()).unwrap();
        let phc = tram::auth::hash_password("fuzz-password-1");
        tram::demo::seed(&store, &phc, 80, jiff::Timestamp::now()).unwrap();
        let rx = store.read().unwrap();
        let id = rx
            .scan(&tram::school::ASSIGNMENTS, "")
            .unwrap()
            .into_iter()
            .find(|(_, a)| a.class == CLASS && a.subject == SUBJECT)
            .expect("the demo assigns a teacher to 6A1 × Toán")
            .1
            .teacher;
        let account = rx
            .get(&tram::auth::ACCOUNTS, &id)
            .unwrap()
            .expect("the teacher's account");
        let teacher = tram::school::principal_for(&rx, account).unwrap();
        drop(rx);
        Fixture { store, teacher }
    })
}

fuzz_target!(|data: &[u8]| {
    let Fixture { store, teacher } = fixture();
    let rx = store.read().unwrap();
    let _ =
        tram::gradebook::excel::plan_import(&rx, teacher, CLASS, SUBJECT, TermId::Hk1, data, None);
    let _ = tram::gradebook::excel::plan_import(
        &rx,
        teacher,
        CLASS,
        SUBJECT,
        TermId::Hk2,
        data,
        Some("id=B,tx1=C,gk=D,ck=E"),
    );
});
