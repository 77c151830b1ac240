//! `tram provision` against the real binary: a file provisions a box (school, admin with a
//! temporary password, keys, settings, enrolment), running it again changes nothing, bad files
//! are refused line by line with nothing written, a file for another school is refused, an
//! unreachable hub is enrolled later by the server itself, and a copied data directory on other
//! hardware does not relay under the first box's identity.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Hub, Server, bin, free_port};
use serde_json::Value;

const EXAMPLE: &str = include_str!("../provisioning/example-school.toml");

/// The example file, pointed at `hub` (or without a hub), written into `dir`.
fn file(dir: &Path, hub: Option<(&str, &str)>) -> PathBuf {
    let head = EXAMPLE.split("\n[hub]").next().unwrap();
    let backup = EXAMPLE.split("\n[backup]").nth(1).unwrap();
    let mut text = head.to_string();
    if let Some((url, token)) = hub {
        text += &format!("\n[hub]\nurl = \"{url}\"\ntoken = \"{token}\"\n");
    }
    let backups = dir.join("backups");
    text += &format!("\n[backup]{backup}").replace(
        "targets = [\"/var/lib/tram/backups\", \"/media/tram-backup\"]",
        &format!("targets = [\"{}\"]", backups.display()),
    );
    let p = dir.join("tram-provision.toml");
    fs::write(&p, text).unwrap();
    p
}

fn provision(file: &Path, data: &Path, hw: &str) -> Output {
    Command::new(bin())
        .args(["provision"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .env("TRAM_HARDWARE_ID", hw)
        .env("TRAM_LOG", "warn")
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn relay_status(data: &Path, hw: &str) -> Value {
    let o = Command::new(bin())
        .args(["relay", "status", "--json", "--data-dir"])
        .arg(data)
        .env("TRAM_HARDWARE_ID", hw)
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn provisions_once_and_running_again_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hub_dir = tmp.path().join("hub");
    let hub = Hub::start(&hub_dir);
    let token = hub.token("79000123");
    let f = file(tmp.path(), Some((&hub.base(), &token)));
    let data = tmp.path().join("data");

    let first = provision(&f, &data, "box-1");
    assert!(first.status.success(), "{}", out(&first));
    let text = out(&first);
    assert!(
        text.contains("Trường THCS Lê Lợi") && text.contains("79000123"),
        "{text}"
    );
    assert!(
        text.contains(&format!("enrolled with {}", hub.base())),
        "{text}"
    );
    let password = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("temporary password: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("a temporary password in the summary")
        .to_string();
    // The password is in the summary beside the file, never in the data directory's copy.
    let beside = fs::read_to_string(tmp.path().join("tram-summary-79000123.txt")).unwrap();
    assert!(beside.contains(&password));
    let kept = fs::read_to_string(data.join("provisioning-summary.txt")).unwrap();
    assert!(!kept.contains(&password));
    assert!(data.join("keys/device.key").exists() && data.join("tls/ca.key").exists());
    assert!(data.join("keys/backup.key").exists());

    // Again: nothing changes, no new password, no new audited change.
    let events = || {
        out(&common::tram(&[
            "audit",
            "verify",
            "--data-dir",
            data.to_str().unwrap(),
        ]))
    };
    let before = events();
    assert!(before.contains("audit chain intact"), "{before}");
    let settings = fs::read(data.join("tram.toml")).unwrap();
    let again = provision(&f, &data, "box-1");
    assert!(again.status.success(), "{}", out(&again));
    assert!(out(&again).contains("Nothing changed"), "{}", out(&again));
    assert!(!out(&again).contains("temporary password"));
    assert_eq!(fs::read(data.join("tram.toml")).unwrap(), settings);
    assert_eq!(events(), before, "the second run wrote to the database");

    // The admin logs in with the temporary password and must change it; the provisioned
    // backup target is what the server uses.
    let s = Server::start_env(
        &data,
        false,
        &["--relay-school-hours", "off"],
        &[("TRAM_HARDWARE_ID", "box-1")],
    );
    let c = s.client();
    let r = c
        .post(format!("{}/api/v1/login", s.base()))
        .json(&serde_json::json!({"username": "quantri", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = c
        .get(format!("{}/api/v1/me", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"]["must_change_password"], true, "{me}");
    // The demo password does not exist here.
    let r = s
        .client()
        .post(format!("{}/api/v1/login", s.base()))
        .json(&serde_json::json!({"username": "admin", "password": common::PASSWORD}))
        .send()
        .unwrap();
    assert_ne!(r.status(), 200);
}

#[test]
fn bad_files_are_refused_line_by_line_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fs::read_to_string(file(tmp.path(), None)).unwrap();
    let data = tmp.path().join("data");
    let cases = [
        ("code = \"79000123\"", "code = \"HCM-123\"", "school.code"),
        ("level = \"THCS\"", "level = \"THPT\"", "school.level"),
        (
            "time_zone = \"Asia/Ho_Chi_Minh\"",
            "time_zone = \"Europe/Paris\"",
            "school.time_zone",
        ),
        (
            "year = \"2026-2027\"",
            "year = \"2026-2028\"",
            "school.year",
        ),
        (
            "username = \"quantri\"",
            "username = \"Quản Trị\"",
            "admin.username",
        ),
        (
            "[admin]\n",
            "[admin]\npassword = \"123456\"\n",
            "unknown field `password`",
        ),
        ("at = \"01:30\"", "at = \"1h30\"", "backup.at"),
        (
            "name = \"Trường THCS Lê Lợi\"",
            "name = \"Trường THCS Lê Lợi",
            "line",
        ),
    ];
    for (from, to, want) in cases {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        let line = bad
            .lines()
            .position(|l| l.contains(to.lines().last().unwrap()))
            .unwrap()
            + 1;
        let p = tmp.path().join("bad.toml");
        fs::write(&p, &bad).unwrap();
        let o = provision(&p, &data, "box-1");
        assert!(!o.status.success(), "{to}: accepted");
        let msg = out(&o);
        assert!(msg.contains(want), "{to}: {msg}");
        assert!(
            msg.contains(&format!("line {line}:")),
            "{to}: wanted line {line}: {msg}"
        );
        assert!(!data.join("tram.redb").exists(), "{to}: wrote data");
    }
    // A box provisioned for one school refuses a file for another.
    let p = tmp.path().join("good.toml");
    fs::write(&p, &good).unwrap();
    assert!(provision(&p, &data, "box-1").status.success());
    fs::write(&p, good.replace("79000123", "79000999")).unwrap();
    let o = provision(&p, &data, "box-1");
    assert!(!o.status.success());
    assert!(
        out(&o).contains("already serves Trường THCS Lê Lợi"),
        "{}",
        out(&o)
    );
}

#[test]
fn unreachable_hub_is_enrolled_later_and_a_cloned_disk_does_not_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_dir = tmp.path().join("hub");
    // The hub exists (it issued the token) but is down while the box is provisioned.
    let hub = Hub::start_on(&hub_dir, port);
    let token = hub.token("79000123");
    drop(hub);
    let f = file(
        tmp.path(),
        Some((&format!("http://127.0.0.1:{port}"), &token)),
    );
    let data = tmp.path().join("data");
    let o = provision(&f, &data, "box-1");
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("PENDING"), "{}", out(&o));
    assert_eq!(relay_status(&data, "box-1")["enrolment_pending"], true);

    // A copy of the disk, taken now, goes into another box.
    let copy = tmp.path().join("copy");
    copy_dir(&data, &copy);

    let hub = Hub::start_on(&hub_dir, port);
    let s = Server::start_env(
        &data,
        false,
        &["--relay-school-hours", "off"],
        &[("TRAM_HARDWARE_ID", "box-1")],
    );
    wait_for(60, "the box to enrol and relay", || {
        let st = relay_status(&data, "box-1");
        st["enrolled"] == true && st["batches_sent"].as_u64().unwrap_or(0) > 0
    });
    drop(s);

    // The clone: same data, other hardware. It says so and sends nothing.
    let st = relay_status(&copy, "box-2");
    assert_eq!(st["clone_suspected"], true, "{st}");
    let schools = hub.schools();
    let batches_before = schools.to_string();
    let s2 = Server::start_env(
        &copy,
        false,
        &["--relay-school-hours", "off"],
        &[("TRAM_HARDWARE_ID", "box-2")],
    );
    wait_for(60, "the clone to report why it does not relay", || {
        relay_status(&copy, "box-2")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("other hardware"))
    });
    drop(s2);
    let schools = hub.schools();
    assert_eq!(
        schools.to_string(),
        batches_before,
        "the hub heard from the clone"
    );
    let _ = relay_status(&copy, "box-2");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if t.is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
