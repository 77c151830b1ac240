//! Any bytes uploaded as a student list, a staff list or a score sheet: a plan or a clear
//! problem, never a panic, whatever the file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tram::store::Store;

fn store() -> &'static Store {
    static S: OnceLock<(tempfile_dir::Dir, Store)> = OnceLock::new();
    &S.get_or_init(|| {
        // libfuzzer-sys aborts from its panic hook, before the importer's catch_unwind could
        // turn a reader's panic into a message; a panic that escapes is still a crash (the
        // harness catches it and aborts).
        std::panic::set_hook(Box::new(|_| {}));
        let d = tempfile_dir::Dir::new();
        let s = Store::open(&d.0, &tram::app::schema::schema()).unwrap();
        let phc = tram::auth::hash_password("fuzz-password-1");
        tram::demo::seed(&s, &phc, 80, jiff::Timestamp::now()).unwrap();
        (d, s)
    })
    .1
}

mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("tram-fuzz-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let s = store();
    let rx = s.read().unwrap();
    let _ = tram::school::import::plan_students(&rx, "2026-2027", data);
    let _ = tram::school::import::plan_staff(&rx, data);
});
