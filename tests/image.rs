//! The device image, booted: `image/build.sh` makes the x86_64 UEFI disk with this build's
//! binary; qemu boots it (software emulation, no KVM) with a USB stick holding the provisioning
//! file and the appliance's ports forwarded to loopback. The first-boot service must have found
//! the stick, provisioned the school and written the summary back onto it; the appliance must
//! answer over HTTPS with the device's own CA (fetched from its port-80 page), and the admin
//! must log in with the temporary password the first boot printed.
//!
//! Heavy (about three minutes, root for mmdebstrap): runs when TRAM_IMAGE_TEST=1 (`.ci/run`
//! sets it when it runs as root); otherwise it says it was skipped.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, free_port};

#[test]
fn image_boots_provisions_itself_and_serves_https() {
    if std::env::var("TRAM_IMAGE_TEST").as_deref() != Ok("1") {
        eprintln!("image boot test skipped: set TRAM_IMAGE_TEST=1 (needs root, ~3 min)");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();

    // A provisioning file without a hub (no network in the test), and a release key.
    let example = fs::read_to_string(repo.join("provisioning/example-school.toml")).unwrap();
    let no_hub = example.split("\n[hub]").next().unwrap().to_string();
    let provision = dir.join("tram-provision.toml");
    fs::write(&provision, no_hub).unwrap();
    let keys = dir.join("keys");
    assert!(
        common::tram(&["release", "keygen", "--out", keys.to_str().unwrap()])
            .status
            .success()
    );

    let out = dir.join("out");
    let build = Command::new("bash")
        .arg(repo.join("image/build.sh"))
        .arg("amd64")
        .env("TRAM_BIN", bin())
        .env("OUT", &out)
        .env("RELEASE_KEY_PUB", keys.join("release-key.pub"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "image build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let img = out.join("tram-amd64.img");
    assert!(img.exists());

    // The provisioning file goes on a USB stick (FAT), as school IT would bring it.
    let stick = dir.join("usb-stick.img");
    let f = fs::File::create(&stick).unwrap();
    f.set_len(32 << 20).unwrap();
    drop(f);
    let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
    assert!(ok(Command::new("mkfs.vfat")
        .args(["-n", "TRAMUSB"])
        .arg(&stick)));
    assert!(ok(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(&stick)
        .arg(&provision)
        .arg("::/tram-provision.toml")));

    let (https, http) = (free_port(), free_port());
    let vars = dir.join("OVMF_VARS.fd");
    fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
    let serial = dir.join("serial.log");
    let qemu = Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "q35",
            "-m",
            "1024",
            "-smp",
            "2",
            "-nographic",
            "-monitor",
            "none",
        ])
        .args([
            "-drive",
            "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
        ])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,snapshot=on",
            img.display()
        ))
        .args(["-netdev"])
        .arg(format!(
            "user,id=n,hostfwd=tcp:127.0.0.1:{https}-:443,hostfwd=tcp:127.0.0.1:{http}-:80"
        ))
        .args(["-device", "virtio-net-pci,netdev=n"])
        .args(["-device", "qemu-xhci"])
        .arg("-drive")
        .arg(format!(
            "if=none,id=stick,format=raw,file={}",
            stick.display()
        ))
        .args(["-device", "usb-storage,drive=stick,removable=on"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _qemu = Kill(qemu);

    // The CA from port 80, then HTTPS checked against it.
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let ca = loop {
        if let Ok(r) = plain
            .get(format!("http://127.0.0.1:{http}/tram-ca.pem"))
            .send()
            && r.status().is_success()
        {
            break r.bytes().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the appliance did not answer on port 80; console:\n{}",
            tail(&serial)
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let c = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .cookie_store(true)
        .resolve(
            "tram-79000123.local",
            format!("127.0.0.1:{https}").parse().unwrap(),
        )
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let base = format!("https://tram-79000123.local:{https}");
    let health: serde_json::Value = c
        .get(format!("{base}/healthz"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let login_page = c
        .get(format!("{base}/login"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        login_page.contains("Trường THCS Lê Lợi"),
        "not provisioned:\n{}",
        tail(&serial)
    );

    // The temporary password the first boot printed on the console logs the admin in.
    let console = fs::read_to_string(&serial).unwrap_or_default();
    let password = console
        .lines()
        .find_map(|l| l.split("temporary password: ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no temporary password on the console:\n{}", tail(&serial)))
        .to_string();
    let r = c
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"username": "quantri", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // The summary was written beside the file on the stick (and the stick unmounted, so the
    // write reached it).
    let summary = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(&stick)
        .arg("::/tram-summary-79000123.txt")
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&summary.stdout);
    assert!(
        summary.contains(&password),
        "no summary on the stick:\n{summary}"
    );
}

fn tail(p: &std::path::Path) -> String {
    let s = fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
