//! School IT's device page against the real binary: health with the unclean-shutdown count
//! (a SIGKILL counts, a graceful stop does not), the support bundle (no secrets inside), the
//! reboot request, and the update upload (a signed bundle is spooled, anything else refused).

mod common;

use std::fs;
use std::io::Read;

use common::{Server, bin, csrf, tram};
use serde_json::Value;

#[test]
fn device_page_health_support_bundle_power_and_update_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let keys = tmp.path().join("keys");
    assert!(
        tram(&["release", "keygen", "--out", keys.to_str().unwrap()])
            .status
            .success()
    );
    let key_pub = keys.join("release-key.pub");
    let env = [("TRAM_RELEASE_KEY", key_pub.to_str().unwrap())];

    // Killed once (a power cut), then stopped cleanly once.
    let mut s = Server::start_env(&data, false, &[], &env);
    s.kill();
    let mut s = Server::start_env(&data, false, &[], &env);
    s.stop();
    let s = Server::start_env(&data, false, &[], &env);
    let admin = s.login("admin");
    let h: Value = admin
        .get(format!("{}/api/v1/device/health", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["runs"]["starts"], 3, "{h}");
    assert_eq!(h["runs"]["unclean_shutdowns"], 1, "{h}");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));

    let page = admin
        .get(format!("{}/admin/device", s.base()))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("Tắt không đúng cách") && html.contains("1 lần / 3 lần"),
        "{html}"
    );
    // Teachers do not see it.
    let teacher = common::username_of(&s, "u-gv01");
    let t = s.login(&teacher);
    assert_eq!(
        t.get(format!("{}/admin/device", s.base()))
            .send()
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        t.get(format!("{}/admin/device/support.zip", s.base()))
            .send()
            .unwrap()
            .status(),
        403
    );

    // The support bundle: what helps, and no secret.
    let zip = admin
        .get(format!("{}/admin/device/support.zip", s.base()))
        .send()
        .unwrap();
    assert_eq!(zip.status(), 200);
    let bytes = zip.bytes().unwrap();
    let mut ar = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names = Vec::new();
    let mut all = String::new();
    for i in 0..ar.len() {
        let mut f = ar.by_index(i).unwrap();
        names.push(f.name().to_string());
        f.read_to_string(&mut all).unwrap();
    }
    for want in [
        "health.json",
        "logs.txt",
        "relay-status.json",
        "backup-status.json",
        "audit.txt",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let backup_key = fs::read_to_string(data.join("keys/backup.key")).unwrap_or_default();
    assert!(!all.contains("AGE-SECRET-KEY"), "a backup key leaked");
    if let Some(line) = backup_key.lines().find(|l| l.starts_with("AGE-SECRET")) {
        assert!(!all.contains(line));
    }
    if let Ok(dk) = fs::read_to_string(data.join("keys/device.key")) {
        assert!(!all.contains(dk.trim()), "the device key leaked");
    }
    // Also to a folder (a USB stick) from the command line, while the server runs.
    let usb = tmp.path().join("usb");
    fs::create_dir_all(&usb).unwrap();
    let o = tram(&[
        "support-bundle",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        usb.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read_dir(&usb).unwrap().count(), 1);

    // Reboot: a request file for root's tram-power.path; nonsense refused.
    let tok = csrf(&admin, &s.base());
    let r = admin
        .post(format!("{}/api/v1/device/power", s.base()))
        .header("X-CSRF-Token", &tok)
        .json(&serde_json::json!({"action": "format-disk"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(!data.join("power/request").exists());
    let r = admin
        .post(format!("{}/api/v1/device/power", s.base()))
        .header("X-CSRF-Token", &tok)
        .json(&serde_json::json!({"action": "reboot"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        fs::read_to_string(data.join("power/request")).unwrap(),
        "reboot"
    );

    // Update upload: garbage and a bundle signed by another key are refused; a good one waits
    // in the spool for tram-update.service.
    let upload = |b: Vec<u8>| {
        admin
            .post(format!("{}/api/v1/device/update", s.base()))
            .header("X-CSRF-Token", &tok)
            .body(b)
            .send()
            .unwrap()
    };
    let r = upload(b"not a bundle".to_vec());
    assert_eq!(r.status(), 422);
    let msg: Value = r.json().unwrap();
    assert!(
        msg["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Không phải bản cập nhật"),
        "{msg}"
    );
    let other = tmp.path().join("other");
    assert!(
        tram(&["release", "keygen", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    let script = tmp.path().join("tram-script");
    fs::write(&script, format!("#!/bin/sh\nexec '{}' \"$@\"\n", bin())).unwrap();
    let make = |key: &std::path::Path, out: &std::path::Path| {
        let o = tram(&[
            "release",
            "bundle",
            "--key",
            key.to_str().unwrap(),
            "--version",
            "5.0.0",
            "--binary",
            script.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        fs::read(out).unwrap()
    };
    let forged = make(
        &other.join("release.key"),
        &tmp.path().join("forged.bundle"),
    );
    assert_eq!(upload(forged).status(), 422);
    assert!(
        fs::read_dir(data.join("updates/spool"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    );
    let good = make(&keys.join("release.key"), &tmp.path().join("good.bundle"));
    let r = upload(good);
    assert_eq!(r.status(), 200);
    assert!(
        data.join(format!(
            "updates/spool/tram-5.0.0-{}.bundle",
            std::env::consts::ARCH
        ))
        .exists()
    );
    let html = admin
        .get(format!("{}/admin/device", s.base()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        html.contains("tram-5.0.0-"),
        "the page shows the waiting bundle"
    );
}

/// Issue 24 item 6: the last update's time is the school's clock, not the stored UTC.
#[test]
fn the_device_page_tells_times_in_the_schools_zone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir_all(data.join("update")).unwrap();
    fs::write(
        data.join("update/status.json"),
        r#"{"at": "2026-12-06T01:54:26Z", "bundle": "tram-0.2.0.tar", "from_version": "0.1.0",
            "to_version": "0.2.0", "outcome": "installed", "message": "ok"}"#,
    )
    .unwrap();
    let s = Server::start(&data, false);
    let admin = s.login("admin");
    let page = admin
        .get(format!("{}/admin/device", s.base()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let line = page
        .split("id=\"last-update\">")
        .nth(1)
        .and_then(|l| l.split("</p>").next())
        .expect("the last update");
    assert!(line.contains("08:54 06/12/2026"), "{line}");
    assert!(!line.contains("01:54"), "{line}");
}
