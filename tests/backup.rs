//! Backups against the real binary: `tram backup now` while the server takes writes, restore
//! onto a fresh data directory and serve it, verify catching a changed byte, a backup killed
//! halfway, a full disk, the nightly schedule catching up, and the bad-input messages.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, tram};
use serde_json::{Value, json};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Adds library-like files straight into the blob store (the library API is not built yet).
fn add_files(data: &Path, n: usize, size: usize) {
    let blobs = tram::store::BlobStore::open(&data.join("blobs")).unwrap();
    for _ in 0..n {
        let bytes: Vec<u8> = (0..size).map(|_| rand::random::<u8>()).collect();
        blobs.put(&bytes[..]).unwrap();
    }
}

fn backup_now(data: &Path, target: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", "now", "--data-dir", s(data), "--to", s(target)];
    args.extend_from_slice(extra);
    tram(&args)
}

fn verify(target: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "backup",
        "verify",
        "--from",
        s(target),
        "--data-dir",
        s(data),
    ];
    args.extend_from_slice(extra);
    tram(&args)
}

fn restore(target: &Path, dest: &Path, key: &Path) -> std::process::Output {
    tram(&[
        "restore",
        "--from",
        s(target),
        "--data-dir",
        s(dest),
        "--key",
        s(key),
    ])
}

/// A stopped demo school with `n` files of `size` random bytes in its blob store.
fn demo_data(dir: &Path, n: usize, size: usize) -> std::path::PathBuf {
    let data = dir.join("data");
    Server::start(&data, false).stop();
    add_files(&data, n, size);
    data
}

fn first_class(c: &reqwest::blocking::Client, base: &str) -> String {
    let classes: Value = c
        .get(format!("{base}/api/v1/classes"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    common::first_class_this_year(&classes)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `ma` codes a girl born in 2014 ("3" then "14"), as the record says.
fn add_student(c: &reqwest::blocking::Client, base: &str, class: &str, ma: &str) -> bool {
    matches!(
        c.post(format!("{base}/api/v1/students"))
            .json(&json!({"full_name": format!("Học Sinh {ma}"), "dob": "2014-05-01",
                          "gender": "Nữ", "ma_dinh_danh": ma, "class_id": class}))
            .send(),
        Ok(r) if r.status() == 201
    )
}

#[test]
fn backup_while_serving_then_restore_onto_a_new_box() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let target = dir.path().join("usb");
    let mut srv = Server::start(&data, false);
    add_files(&data, 3, 200_000);
    let c = srv.login("admin");
    let base = srv.base();
    let class = first_class(&c, &base);
    for i in 0..5 {
        assert!(add_student(&c, &base, &class, &format!("0793145{i:05}")));
    }

    // Writers keep going while `tram backup now` runs against the live data directory.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (stop, acked, base, class) = (stop.clone(), acked.clone(), base.clone(), class.clone());
        let c = srv.login("admin");
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let ma = format!("0793146{i:05}");
                if add_student(&c, &base, &class, &ma) {
                    acked.lock().unwrap().push(ma);
                }
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let before_backup: Vec<String> = acked.lock().unwrap().clone();
    let o = backup_now(&data, &target, &[]);
    assert!(o.status.success(), "{}", out_text(&o));
    let text = out_text(&o);
    assert!(text.contains("asking it to make the backup"), "{text}");
    assert!(text.contains("restore check: ok"), "{text}");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // The admin page and /healthz know about it.
    let h: Value = c
        .get(format!("{base}/healthz"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(h["backup"]["last_good_at"].is_string(), "{h}");
    assert!(h["backup"]["warning"].is_null(), "{h}");
    let home = c.get(format!("{base}/")).send().unwrap().text().unwrap();
    assert!(
        home.contains("id=\"backup-status\""),
        "home shows the backup card"
    );
    assert!(home.contains("đã thử khôi phục thành công"));
    // What it wrote reads as a person reads a size ("1,2 MB"; issue 24 item 7).
    let added = home
        .split("id=\"backup-added\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the card shows what the backup wrote");
    let (number, unit) = added.split_once(' ').expect("a number and a unit");
    assert!(["B", "KB", "MB", "GB"].contains(&unit), "{added}");
    assert!(
        !number.contains('.') && number.replace(',', "").parse::<u32>().is_ok(),
        "{added}"
    );

    // Verify: with the box's key (found through --data-dir) a full restore check runs.
    let o = verify(&target, &data, &[]);
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(out_text(&o).contains("audit chain intact"));
    srv.stop();

    // The box dies. School IT restores last night's backup onto a new one with the saved key.
    let key_copy = dir.path().join("backup.key");
    std::fs::copy(data.join("keys/backup.key"), &key_copy).unwrap();
    let new_box = dir.path().join("new-box");
    let o = restore(&target, &new_box, &key_copy);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = tram(&["audit", "verify", "--data-dir", s(&new_box)]);
    assert!(o.status.success(), "{}", out_text(&o));
    let old_files = tram::store::BlobStore::open(&data.join("blobs"))
        .unwrap()
        .list()
        .unwrap();
    let new_files = tram::store::BlobStore::open(&new_box.join("blobs"))
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(old_files, new_files);

    let srv2 = Server::start(&new_box, false);
    let c2 = srv2.login("admin");
    let students: Value = c2
        .get(format!("{}/api/v1/students?class_id={class}", srv2.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let have = students.to_string();
    for i in 0..5 {
        assert!(
            have.contains(&format!("0793145{i:05}")),
            "student {i} restored"
        );
    }
    for ma in &before_backup {
        assert!(
            have.contains(ma.as_str()),
            "acknowledged before the backup: {ma}"
        );
    }
}

#[test]
fn verify_fails_on_any_changed_byte_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 2, 100_000);
    let target = dir.path().join("t");
    let o = backup_now(&data, &target, &[]);
    assert!(o.status.success(), "{}", out_text(&o));

    // Keyless verify (no --data-dir key) still checks every stored byte.
    let empty = dir.path().join("nothing-here");
    let keyless = |t: &Path| tram(&["backup", "verify", "--from", s(t), "--data-dir", s(&empty)]);
    assert!(keyless(&target).status.success());
    let manifest = std::fs::read_dir(target.join("backups"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let object = walk(&target.join("objects")).pop().unwrap();
    for p in [&manifest, &object] {
        let orig = std::fs::read(p).unwrap();
        let mut b = orig.clone();
        let mid = b.len() / 2;
        b[mid] ^= 0x20;
        std::fs::write(p, &b).unwrap();
        let o = keyless(&target);
        assert!(
            !o.status.success(),
            "a changed byte in {} went unnoticed",
            p.display()
        );
        assert!(out_text(&o).contains("PROBLEM"), "{}", out_text(&o));
        let o = verify(&target, &data, &[]);
        assert!(!o.status.success());
        std::fs::write(p, &orig).unwrap();
    }
    assert!(keyless(&target).status.success());

    // Wrong key: a clear message, nothing written.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, tram::backup::BackupKey::generate().file_text()).unwrap();
    let dest = dir.path().join("dest");
    let o = restore(&target, &dest, &wrong);
    assert!(!o.status.success());
    assert!(out_text(&o).contains("another key"), "{}", out_text(&o));
    assert!(!dest.exists());
    // Not a key at all.
    std::fs::write(&wrong, "mat khau").unwrap();
    let o = restore(&target, &dest, &wrong);
    assert!(
        out_text(&o).contains("not an age secret key"),
        "{}",
        out_text(&o)
    );
    // No key given.
    let o = Command::new(common::bin())
        .args(["restore", "--from", s(&target), "--data-dir", s(&dest)])
        .env_remove("TRAM_BACKUP_KEY")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(out_text(&o).contains("--key FILE"), "{}", out_text(&o));
    // A non-empty destination.
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("keep.txt"), "x").unwrap();
    let key = data.join("keys/backup.key");
    let o = restore(&target, &dest, &key);
    assert!(!o.status.success());
    assert!(out_text(&o).contains("is not empty"), "{}", out_text(&o));
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);
    // A truncated database object (the only backup's records): the restore refuses and leaves
    // nothing behind. (A damaged *file* object is a partial restore, in the test below.)
    let m: Value = serde_json::from_str(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let db = m["database"]["object"].as_str().unwrap().to_string();
    let object = target.join("objects").join(&db[..2]).join(&db[2..]);
    let orig = std::fs::read(&object).unwrap();
    std::fs::write(&object, &orig[..orig.len() - 10]).unwrap();
    let dest2 = dir.path().join("dest2");
    let o = restore(&target, &dest2, &key);
    assert!(!o.status.success());
    assert!(out_text(&o).contains("damaged"), "{}", out_text(&o));
    assert!(!dest2.exists());
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[test]
fn a_backup_killed_halfway_leaves_earlier_ones_intact_and_the_next_completes() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 2, 50_000);
    let target = dir.path().join("t");
    let o = backup_now(&data, &target, &["--keep", "30,0,0"]);
    assert!(o.status.success(), "{}", out_text(&o));
    // Enough new data that the next run takes a while; kill it at several moments.
    add_files(&data, 12, 2_000_000);
    for delay_ms in [30u64, 120, 400] {
        let mut child = Command::new(common::bin())
            .args([
                "backup",
                "now",
                "--data-dir",
                s(&data),
                "--to",
                s(&target),
                "--keep",
                "30,0,0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let o = verify(&target, &data, &["--all"]);
        assert!(
            o.status.success(),
            "after a kill at {delay_ms} ms: {}",
            out_text(&o)
        );
    }
    let o = backup_now(&data, &target, &["--keep", "30,0,0"]);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = verify(&target, &data, &["--all"]);
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(
        std::fs::read_dir(target.join("tmp"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_backup_that_looks_good() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 3, 1_000_000);
    let mnt = dir.path().join("small-usb");
    std::fs::create_dir_all(&mnt).unwrap();
    // A private mount namespace: the 2 MB disk disappears with the shell.
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs {m} && {bin} backup now --data-dir {d} --to {m}/b; echo rc=$?; ls {m}/b/backups | wc -l",
        m = s(&mnt),
        bin = common::bin(),
        d = s(&data)
    );
    let o = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = out_text(&o);
    assert!(text.contains("not enough space"), "{text}");
    assert!(text.contains("rc=1"), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.trim_end().ends_with('0'),
        "no manifest written: {text}"
    );
}

#[test]
fn the_nightly_job_catches_up_after_start_and_the_admin_button_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let target = dir.path().join("usb");
    std::fs::create_dir_all(&target).unwrap();
    let srv = Server::start_with(
        &data,
        false,
        &["--backup-to", s(&target), "--backup-first-check", "1"],
    );
    // No backup yet and the 01:30 slot has passed: the job runs shortly after start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let c = srv.login("admin");
    let base = srv.base();
    loop {
        let h: Value = c
            .get(format!("{base}/healthz"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if h["backup"]["last_good_at"].is_string() {
            assert_eq!(h["backup"]["restore_checked"], true);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no nightly backup within 60 s: {h}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let list = tram(&["backup", "list", "--from", s(&target)]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("-nightly"));

    // The admin's button starts one; a teacher cannot.
    let r = c
        .post(format!("{base}/api/v1/backup/run"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert!(r.status() == 202 || r.status() == 409, "{}", r.status());
    let teacher = srv.login("gv01");
    let r = teacher
        .post(format!("{base}/api/v1/backup/run"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let st: Value = c
        .get(format!("{base}/api/v1/backup/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(st["at"], "01:30");
    assert_eq!(st["targets"][0], s(&target));
}

/// Issue 19, item 8: a server killed while it makes a `tram backup now` for the CLI. Before,
/// the client said "the database is in use … stop tram serve" whether or not the backup had
/// been written; now it looks on the target and says which.
#[test]
fn a_server_killed_during_backup_now_tells_the_client_what_is_on_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Server::start(&data, false).stop();
    let target = dir.path().join("usb");

    // Killed after the backup was written, before it answered: the backup is there.
    let mut srv = Server::start_env(&data, false, &[], &[("TRAM_FAULT_BACKUP", "after")]);
    let o = backup_now(&data, &target, &[]);
    srv.kill();
    let text = out_text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(!text.contains("stop `tram serve`"), "{text}");
    assert!(text.contains("the backup was written"), "{text}");
    let id = text
        .split("--backup ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("names the backup");
    let o = verify(&target, &data, &["--backup", id]);
    assert!(
        o.status.success(),
        "the named backup verifies: {}",
        out_text(&o)
    );

    // Killed before it started: nothing new on the target, and the client says so.
    let mut srv = Server::start_env(&data, false, &[], &[("TRAM_FAULT_BACKUP", "before")]);
    let o = backup_now(&data, &target, &[]);
    srv.kill();
    let text = out_text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(text.contains("no new backup was completed"), "{text}");
    assert!(!text.contains("stop `tram serve`"), "{text}");
}

fn backup_ids(target: &Path) -> Vec<String> {
    let o = tram(&["backup", "list", "--from", s(target)]);
    assert!(o.status.success(), "{}", out_text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

fn manifest_path(target: &Path, id: &str) -> std::path::PathBuf {
    target.join("backups").join(format!("{id}.manifest"))
}

/// Three backups kept side by side (pre-update backups are kept apart from the daily ones).
fn three_backups(data: &Path, target: &Path) -> Vec<String> {
    for _ in 0..3 {
        let o = backup_now(data, target, &["--pre-update", "--no-verify"]);
        assert!(o.status.success(), "{}", out_text(&o));
    }
    let ids = backup_ids(target);
    assert_eq!(ids.len(), 3, "{ids:?}");
    ids
}

#[test]
fn a_deleted_backup_is_reported_by_the_chain_and_the_box_never_quietly_restores_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 1, 10_000);
    let target = dir.path().join("t");
    let ids = three_backups(&data, &target);
    let key = data.join("keys/backup.key");
    let o = verify(&target, &data, &[]);
    assert!(o.status.success(), "{}", out_text(&o));

    // The newest manifest deleted: nothing names it yet, but the box remembers writing it.
    let newest = std::fs::read(manifest_path(&target, &ids[2])).unwrap();
    std::fs::remove_file(manifest_path(&target, &ids[2])).unwrap();
    let o = verify(&target, &data, &[]);
    assert!(!o.status.success(), "{}", out_text(&o));
    assert!(
        out_text(&o).contains(&format!(
            "the newest backup on this target ({}) is older than the newest this box wrote ({}",
            ids[1], ids[2]
        )),
        "{}",
        out_text(&o)
    );
    // Told where the old box's data is, restore refuses to take the older one silently…
    let dest = dir.path().join("new-box");
    let o = tram(&[
        "restore",
        "--from",
        s(&target),
        "--data-dir",
        s(&dest),
        "--key",
        s(&key),
        "--old-data-dir",
        s(&data),
    ]);
    assert!(!o.status.success(), "{}", out_text(&o));
    assert!(
        out_text(&o).contains("the newer one is missing"),
        "{}",
        out_text(&o)
    );
    assert!(!dest.exists());
    // …and a new box, which cannot know, says so instead of implying the backup is the newest.
    let o = restore(&target, &dest, &key);
    assert!(o.status.success(), "{}", out_text(&o));
    let text = out_text(&o);
    assert!(
        text.contains(&format!("restored backup {}", ids[1])),
        "{text}"
    );
    assert!(text.contains("that cannot be known here"), "{text}");

    // A manifest deleted from the middle: the one after it names it.
    std::fs::write(manifest_path(&target, &ids[2]), &newest).unwrap();
    std::fs::remove_file(manifest_path(&target, &ids[1])).unwrap();
    let missing = format!(
        "backup {} names predecessor {} which is missing",
        ids[2], ids[1]
    );
    let o = verify(&target, &data, &[]);
    assert!(!o.status.success(), "{}", out_text(&o));
    assert!(out_text(&o).contains(&missing), "{}", out_text(&o));
    let empty = dir.path().join("no-key-here");
    let o = tram(&[
        "backup",
        "verify",
        "--from",
        s(&target),
        "--data-dir",
        s(&empty),
    ]);
    assert!(!o.status.success(), "keyless: {}", out_text(&o));
    assert!(out_text(&o).contains(&missing), "{}", out_text(&o));
    let o = restore(&target, &dir.path().join("box3"), &key);
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(out_text(&o).contains(&missing), "{}", out_text(&o));

    // Backups removed by retention are no gap: verified manual backups on one day keep one
    // (an unverified one would not supersede the earlier ones).
    std::fs::remove_dir_all(&target).unwrap();
    for _ in 0..3 {
        let o = backup_now(&data, &target, &[]);
        assert!(o.status.success(), "{}", out_text(&o));
    }
    assert_eq!(backup_ids(&target).len(), 1);
    let o = verify(&target, &data, &[]);
    assert!(o.status.success(), "{}", out_text(&o));
}

fn flip_middle_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(p, &b).unwrap();
}

#[test]
fn a_damaged_target_json_is_rebuilt_and_never_locks_out_intact_backups() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 1, 10_000);
    let target = dir.path().join("t");
    let o = backup_now(&data, &target, &["--no-verify"]);
    assert!(o.status.success(), "{}", out_text(&o));
    let key = data.join("keys/backup.key");
    let info = target.join("target.json");
    let copy = target.join("target.json.bak");

    flip_middle_byte(&info);
    let o = restore(&target, &dir.path().join("box1"), &key);
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(
        out_text(&o).contains("target.json is damaged"),
        "{}",
        out_text(&o)
    );
    // Verify says so once and rebuilds it from the second copy.
    let o = verify(&target, &data, &[]);
    assert!(!o.status.success(), "{}", out_text(&o));
    assert!(
        out_text(&o).contains("target.json is damaged: checksum mismatch"),
        "{}",
        out_text(&o)
    );
    assert!(out_text(&o).contains("rebuilt from the other copy"));
    assert_eq!(std::fs::read(&info).unwrap(), std::fs::read(&copy).unwrap());
    let o = verify(&target, &data, &[]);
    assert!(o.status.success(), "{}", out_text(&o));

    // Both copies gone: the key still opens the backups, and the descriptor is re-derived.
    std::fs::remove_file(&info).unwrap();
    flip_middle_byte(&copy);
    let o = restore(&target, &dir.path().join("box2"), &key);
    assert!(o.status.success(), "{}", out_text(&o));
    let o = backup_now(&data, &target, &["--no-verify"]);
    assert!(o.status.success(), "{}", out_text(&o));
    assert_eq!(std::fs::read(&info).unwrap(), std::fs::read(&copy).unwrap());
    let o = verify(&target, &data, &["--all"]);
    assert!(o.status.success(), "{}", out_text(&o));
}

#[test]
fn verify_names_what_a_damaged_object_holds_and_every_backup_that_shares_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 0, 0);
    let target = dir.path().join("t");
    let ids = three_backups(&data, &target);
    let (title, blob) = {
        let store = tram::store::Store::open(&data, &tram::app::schema::schema()).unwrap();
        let rx = store.read().unwrap();
        let items = rx.scan(&tram::library::ITEMS, "").unwrap();
        let item = items
            .into_iter()
            .map(|(_, i)| i)
            .find(|i| i.file.is_some())
            .expect("the demo library has a file");
        (item.title.clone(), item.file.unwrap().blob)
    };
    let key = tram::backup::BackupKey::load(&data).unwrap().unwrap();
    let digest: [u8; 32] = hex::decode(&blob).unwrap().try_into().unwrap();
    let name = key.object_name("blob", &digest);
    let object = target.join("objects").join(&name[..2]).join(&name[2..]);
    flip_middle_byte(&object);
    let o = verify(&target, &data, &[]);
    assert!(!o.status.success(), "{}", out_text(&o));
    let text = out_text(&o);
    let line = text
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&title), "{line}");
    assert!(
        line.contains(&format!("backups that share it: {}", ids.join(", "))),
        "{line}"
    );
    // One damaged file does not keep the school's records from coming back: the newest backup
    // is restored without it, the file is named, and the exit says "partial" (3). Before, every
    // restore refused ("backup damaged"), so a single PDF kept a dead box dead.
    let dest = dir.path().join("restored");
    let o = restore(&target, &dest, &data.join("keys/backup.key"));
    let text = out_text(&o);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&ids[ids.len() - 1]),
        "the newest backup: {text}"
    );
    let not = text
        .lines()
        .find(|l| l.contains("NOT restored"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(not.contains(&title), "{not}");
    let restored = tram::store::Store::open(&dest, &tram::app::schema::schema()).unwrap();
    assert!(restored.verify_audit().unwrap().broken.is_none());
    drop(restored);

    // The database, named without the key too.
    let manifest = std::fs::read_to_string(manifest_path(&target, &ids[0])).unwrap();
    let m: Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
    let db = m["database"]["object"].as_str().unwrap().to_string();
    flip_middle_byte(&target.join("objects").join(&db[..2]).join(&db[2..]));
    let empty = dir.path().join("no-key-here");
    let o = tram(&[
        "backup",
        "verify",
        "--from",
        s(&target),
        "--data-dir",
        s(&empty),
    ]);
    assert!(!o.status.success());
    let text = out_text(&o);
    let line = text
        .lines()
        .find(|l| l.contains(&db))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("it holds the database"), "{line}");
    assert!(!text.contains(&title), "titles never leave the key: {text}");
}

#[test]
fn restore_brings_back_the_settings_and_the_home_page_warns_until_the_rest_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 0, 0);
    let usb = dir.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let settings = tram::config::Settings {
        format: 1,
        time_zone: None,
        backup: tram::config::BackupSettings {
            targets: vec![usb.clone()],
            at: Some("02:15".into()),
            keep: Some("5,3,6".into()),
        },
    };
    settings.save(&data).unwrap();
    // An enrolment (the hub is a closed loopback port: nothing leaves the machine).
    let hub = "http://127.0.0.1:9";
    std::fs::write(
        data.join("relay.json"),
        json!({"hub": hub, "school": "79000701", "secret": "bi-mat-tai-len",
               "pin_sha256": null, "enrolled_at": "2026-09-01T00:00:00Z"})
        .to_string(),
    )
    .unwrap();
    let internal = dir.path().join("internal");
    let o = backup_now(&data, &internal, &["--no-verify"]);
    assert!(o.status.success(), "{}", out_text(&o));

    // The box dies; the new one has no USB disk mounted yet.
    std::fs::rename(&usb, dir.path().join("usb-elsewhere")).unwrap();
    let new_box = dir.path().join("new-box");
    let o = restore(&internal, &new_box, &data.join("keys/backup.key"));
    assert!(o.status.success(), "{}", out_text(&o));
    assert_eq!(
        tram::config::Settings::load(&new_box).unwrap(),
        settings,
        "tram.toml restored"
    );
    let text = out_text(&o);
    assert!(
        text.contains(&format!("redo: the backup target {}", usb.display())),
        "{text}"
    );
    assert!(text.contains("redo: the district enrolment"), "{text}");
    assert!(text.contains(&format!("--hub {hub}")), "{text}");
    assert!(
        !new_box.join("relay.json").exists(),
        "a restored box enrols again"
    );

    let srv = Server::start(&new_box, false);
    let c = srv.login("admin");
    let home = |c: &reqwest::blocking::Client| {
        c.get(format!("{}/", srv.base()))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    // The warning's own block (the schedule line names the USB target as well).
    let redo = |h: &str| {
        h.split_once("id=\"restore-redo\"")
            .map(|(_, rest)| rest.split("</div>").next().unwrap_or("").to_string())
    };
    let h = home(&c);
    let w = redo(&h).unwrap_or_else(|| panic!("{h}"));
    assert!(w.contains(&usb.display().to_string()), "{w}");
    assert!(w.contains("Chưa đăng ký lại với Phòng/Sở"), "{w}");
    // An empty folder at the mount point is not the disk (an unmounted USB mount point looks
    // like that, and backups would fill the root disk): still warned.
    std::fs::create_dir_all(&usb).unwrap();
    let h = home(&c);
    let w = redo(&h).unwrap_or_else(|| panic!("{h}"));
    assert!(w.contains(&usb.display().to_string()), "{w}");
    // The USB disk is mounted again (its backup target is there): that item goes by itself.
    std::fs::write(usb.join("target.json"), "{}").unwrap();
    let h = home(&c);
    let w = redo(&h).unwrap_or_else(|| panic!("{h}"));
    assert!(!w.contains(&usb.display().to_string()), "{w}");
    assert!(w.contains("Chưa đăng ký lại với Phòng/Sở"), "{w}");
    // Enrolled again: the warning is gone.
    std::fs::copy(data.join("relay.json"), new_box.join("relay.json")).unwrap();
    let h = home(&c);
    assert!(redo(&h).is_none(), "{h}");
    assert!(!new_box.join("restore-redo.json").exists());
}

/// Issue 24 item 4: the backups page lists what is on each target (time, size, the restore
/// check) and says when the USB disk is missing; the backup key is shown only after the person
/// types their password again, to school IT and BGH, never to a teacher, each showing audited.
#[test]
fn the_backups_page_lists_backups_and_shows_the_key_only_after_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let usb = dir.path().join("usb");
    let absent = dir.path().join("not-plugged-in");
    std::fs::create_dir_all(&usb).unwrap();
    let targets = format!("{},{}", s(&usb), s(&absent));
    let srv = Server::start_with(&data, false, &["--backup-to", &targets]);
    let c = srv.login("admin");
    let base = srv.base();
    let r = c
        .post(format!("{base}/api/v1/backup/run"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c
        .get(format!("{base}/api/v1/backup/status"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["status"]["last_error"]
        .is_string()
        // Not `backup_ids`: `backup list` fails on a folder the backup has not begun to write.
        && std::fs::read_dir(usb.join("backups")).map_or(true, |mut d| d.next().is_none())
    {
        assert!(Instant::now() < deadline, "no backup within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    while c
        .get(format!("{base}/api/v1/backup/status"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["status"]["running"]
        == true
    {
        assert!(Instant::now() < deadline, "the backup did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let page = c
        .get(format!("{base}/admin/backups"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    // The backup on the USB folder is listed with its kind and a human size; the absent one
    // is called missing.
    assert!(page.contains("Sao lưu ngay</td>"), "{page}");
    assert!(
        page.contains(" KB</td>") || page.contains(" MB</td>"),
        "{page}"
    );
    assert!(page.contains("ổ USB chưa cắm"), "{page}");
    assert!(page.contains("id=\"key-form\""));

    let key_file = std::fs::read_to_string(data.join("keys/backup.key")).unwrap();
    let ask = |who: &reqwest::blocking::Client, pw: &str| {
        let r = who
            .post(format!("{base}/api/v1/backup/key"))
            .json(&json!({ "password": pw }))
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let (code, v) = ask(&c, "not-my-password");
    assert_eq!(code, 403, "{v}");
    assert!(v.get("key").is_none());
    assert!(v["error"]["message"].as_str().unwrap().contains("Mật khẩu"));
    let (code, v) = ask(&c, common::PASSWORD);
    assert_eq!(code, 200, "{v}");
    // The key line is the file's; the words around it are Vietnamese (review r9), and the text
    // as shown restores as the file does.
    let shown = v["key"].as_str().unwrap();
    let key_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .map(String::from)
    };
    assert_eq!(key_line(shown), key_line(&key_file));
    assert!(shown.contains("# Khoá sao lưu Trạm"), "{shown}");
    assert!(
        !shown.contains("backup key") && !shown.contains("public key"),
        "{shown}"
    );
    assert!(tram::backup::BackupKey::parse(shown).is_ok());
    assert!(v["qr_svg"].as_str().unwrap().starts_with("<?xml"));
    // Guessing is bounded as at sign-in: after five wrong passwords even the right one waits
    // (the principal's account, so the admin's showing above is unaffected).
    let principal = srv.login("phohieutruong");
    for _ in 0..5 {
        assert_eq!(ask(&principal, "doan-thu").0, 403);
    }
    let (code, v) = ask(&principal, common::PASSWORD);
    assert_eq!(code, 429, "{v}");
    assert!(v.get("key").is_none());
    // The principal keeps the key in the safe: allowed; a teacher is not.
    let (code, _) = ask(&srv.login("hieutruong"), common::PASSWORD);
    assert_eq!(code, 200);
    let teacher = srv.login("gv02");
    let (code, v) = ask(&teacher, common::PASSWORD);
    assert_eq!(code, 403);
    assert!(v.get("key").is_none());
    assert_eq!(
        teacher
            .get(format!("{base}/admin/backups"))
            .send()
            .unwrap()
            .status(),
        403
    );
    // Each showing is in the audit log (two: the admin's and the principal's; not the refused).
    let mut srv = srv;
    srv.stop();
    let store = tram::store::Store::open(&data, &tram::app::schema::schema()).unwrap();
    let shown = store
        .audit_tail(500)
        .unwrap()
        .iter()
        .filter(|e| e.action == "backup.key.show")
        .count();
    assert_eq!(shown, 2);
    // The wrong passwords are in it too.
    let refused = store
        .audit_tail(500)
        .unwrap()
        .iter()
        .filter(|e| e.action == "backup.key.refused")
        .count();
    assert_eq!(refused, 6);
}

/// Review r9: /admin/backups marked "Đạt" only on the backup the status file names, leaving the
/// nightly's passed restore check blank; and `tram backup list` printed a small backup as
/// "0.0 MB new". Every backup with its `verified/` marker is marked, the one made with
/// `--no-verify` is not, and the list prints human sizes.
#[test]
fn every_restore_checked_backup_is_marked_and_the_list_prints_human_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_data(dir.path(), 0, 0);
    let target = dir.path().join("usb");
    for extra in [
        &["--pre-update"][..],
        &["--pre-update"],
        &["--pre-update", "--no-verify"],
    ] {
        let o = backup_now(&data, &target, extra);
        assert!(o.status.success(), "{}", out_text(&o));
        assert!(!out_text(&o).contains("0.0 MB"), "{}", out_text(&o));
    }
    let list = tram(&["backup", "list", "--from", s(&target)]);
    let text = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(!text.contains("0.0 MB"), "{text}");
    assert!(
        text.lines().all(|l| l.ends_with("B new")),
        "no human size: {text}"
    );
    let srv = Server::start_with(&data, false, &["--backup-to", s(&target), "--no-backup"]);
    let page = srv
        .login("admin")
        .get(format!("{}/admin/backups", srv.base()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let rows = page.matches("Trước khi cập nhật</td>").count();
    assert_eq!(rows, 3, "{page}");
    assert_eq!(
        page.matches("<span class=\"ok\">Đạt</span>").count(),
        2,
        "{page}"
    );
}
