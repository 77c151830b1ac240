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
    classes["classes"][0]["id"].as_str().unwrap().to_string()
}

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
        assert!(add_student(&c, &base, &class, &format!("07915000{i:04}")));
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
                let ma = format!("07916000{i:04}");
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
            have.contains(&format!("07915000{i:04}")),
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
    // A truncated object: the restore refuses and leaves nothing behind.
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
