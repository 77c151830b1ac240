//! Signed updates against the real binary: a good bundle installs beside the old version and
//! passes its health check on the real data; tampered, truncated, unsigned, wrongly signed and
//! downgrade bundles are refused with nothing changed; a version that breaks the data during
//! its health check is rolled back with the database byte for byte as it was.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{PASSWORD, Server, bin, tram};

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
    root: PathBuf,
    pubkey: PathBuf,
    key: PathBuf,
}

impl Setup {
    /// A demo school's data (made by a real server, then stopped) and a release key pair.
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let data = dir.join("data");
        let mut s = Server::start(&data, false);
        s.stop();
        let out = tram(&[
            "release",
            "keygen",
            "--out",
            dir.join("keys").to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Setup {
            data,
            root: dir.join("opt"),
            pubkey: dir.join("keys/release-key.pub"),
            key: dir.join("keys/release.key"),
            dir,
            _tmp: tmp,
        }
    }

    /// A "binary" that is a script: runs the real tram, or misbehaves as told.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn bundle(&self, version: &str, binary: &Path, key: &Path) -> PathBuf {
        let out = self
            .dir
            .join(format!("tram-{version}-{}.bundle", rand_suffix()));
        let o = tram(&[
            "release",
            "bundle",
            "--key",
            key.to_str().unwrap(),
            "--version",
            version,
            "--binary",
            binary.to_str().unwrap(),
            "--file",
            &format!(
                "share/NOTES.txt={}",
                self.dir.join("keys/release-key.pub").display()
            ),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    }

    fn apply(&self, bundle: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "update",
            "apply",
            bundle.to_str().unwrap(),
            "--data-dir",
            self.data.to_str().unwrap(),
            "--install-root",
            self.root.to_str().unwrap(),
            "--release-key",
            self.pubkey.to_str().unwrap(),
        ];
        if !extra.contains(&"--health-timeout") {
            args.extend(["--health-timeout", "60"]);
        }
        args.extend_from_slice(extra);
        tram(&args)
    }

    fn current(&self) -> Option<PathBuf> {
        fs::read_link(self.root.join("current")).ok()
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The database file's hash (compared, never printed whole).
fn db(s: &Setup) -> String {
    blake3::hash(&fs::read(s.data.join("tram.redb")).unwrap())
        .to_hex()
        .to_string()
}

#[test]
fn good_bundle_installs_and_bad_ones_change_nothing() {
    let s = Setup::new();
    let real = s.script("tram-real", &format!("exec '{}' \"$@\"", bin()));
    let v2 = s.bundle("2.0.0", &real, &s.key);
    let out = s.apply(&v2, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("updated from"), "{}", text(&out));
    assert_eq!(s.current(), Some(PathBuf::from("versions/2.0.0")));
    assert!(s.root.join("versions/2.0.0/bin/tram").exists());
    assert!(s.root.join("versions/2.0.0/share/NOTES.txt").exists());
    let status = text(&tram(&[
        "update",
        "status",
        "--data-dir",
        s.data.to_str().unwrap(),
        "--install-root",
        s.root.to_str().unwrap(),
    ]));
    assert!(status.contains("installed: 2.0.0"), "{status}");
    assert!(status.contains("pre-update") || s.data.join("backups").exists());
    // The pre-update backup exists and is listed.
    let list = text(&tram(&[
        "backup",
        "list",
        "--from",
        s.data.join("backups").to_str().unwrap(),
    ]));
    assert!(list.contains("pre-update"), "{list}");

    let before_db = db(&s);
    let refused = |b: &Path, extra: &[&str], why: &str| {
        let out = s.apply(b, extra);
        assert!(!out.status.success(), "{why}: accepted\n{}", text(&out));
        assert_eq!(s.current(), Some(PathBuf::from("versions/2.0.0")), "{why}");
        assert_eq!(db(&s), before_db, "{why}: data changed");
        text(&out)
    };
    let v3 = s.bundle("3.0.0", &real, &s.key);
    let raw = fs::read(&v3).unwrap();

    // A flipped byte in the payload (past the manifest and signature).
    let mut t = raw.clone();
    let at = find(&raw, &[0x28, 0xb5, 0x2f, 0xfd]).expect("zstd payload") + 24;
    t[at] ^= 0x40;
    let p = s.dir.join("tampered-payload.bundle");
    fs::write(&p, &t).unwrap();
    let msg = refused(&p, &[], "tampered payload");
    assert!(msg.contains("does not match"), "{msg}");

    // A changed manifest: its version.
    let t = String::from_utf8_lossy(&raw).replacen("\"3.0.0\"", "\"3.0.1\"", 1);
    let mut bytes = raw.clone();
    let i = find(&raw, b"\"3.0.0\"").unwrap();
    bytes[i + 5] = b'1';
    assert!(t.contains("3.0.1"));
    let p = s.dir.join("tampered-manifest.bundle");
    fs::write(&p, &bytes).unwrap();
    let msg = refused(&p, &[], "tampered manifest");
    assert!(msg.contains("not signed"), "{msg}");

    // Truncated mid-payload, and cut inside the manifest.
    for (name, len) in [("half", raw.len() / 2), ("head", 700)] {
        let p = s.dir.join(format!("truncated-{name}.bundle"));
        fs::write(&p, &raw[..len]).unwrap();
        let msg = refused(&p, &[], "truncated");
        assert!(
            msg.to_lowercase().contains("truncated") || msg.contains("not"),
            "{msg}"
        );
    }

    // Signed by some other key.
    let other = s.dir.join("other");
    assert!(
        tram(&["release", "keygen", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    let forged = s.bundle("3.0.0", &real, &other.join("release.key"));
    let msg = refused(&forged, &[], "other key");
    assert!(
        msg.contains("not signed by this device's release key"),
        "{msg}"
    );

    // No signature at all: the manifest.sig member removed.
    let p = s.dir.join("unsigned.bundle");
    fs::write(&p, strip_member(&raw, "manifest.sig")).unwrap();
    let msg = refused(&p, &[], "unsigned");
    assert!(msg.contains("manifest.sig"), "{msg}");

    // Not a bundle at all.
    let p = s.dir.join("garbage.bundle");
    fs::write(&p, b"MZ this is not a tar").unwrap();
    refused(&p, &[], "garbage");

    // Downgrade, and the same version again: refused unless forced.
    let v1 = s.bundle("1.5.0", &real, &s.key);
    let msg = refused(&v1, &[], "downgrade");
    assert!(
        msg.contains("downgrade") && msg.contains("--force"),
        "{msg}"
    );
    let again = s.bundle("2.0.0", &real, &s.key);
    let msg = refused(&again, &[], "same version");
    assert!(msg.contains("already installed"), "{msg}");
    let out = s.apply(&v1, &["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.current(), Some(PathBuf::from("versions/1.5.0")));
    assert_eq!(
        fs::read_link(s.root.join("previous")).ok(),
        Some(PathBuf::from("versions/2.0.0"))
    );

    // The appliance still starts on the data after all of it.
    let srv = Server::start(&s.data, false);
    let c = srv.login("admin");
    assert!(
        c.get(format!("{}/", srv.base()))
            .send()
            .unwrap()
            .status()
            .is_success()
    );
    let _ = PASSWORD;
}

#[test]
fn unhealthy_version_is_rolled_back_with_its_data_damage_undone() {
    let s = Setup::new();
    let real = s.script("tram-real", &format!("exec '{}' \"$@\"", bin()));
    assert!(
        s.apply(&s.bundle("2.0.0", &real, &s.key), &[])
            .status
            .success()
    );
    // A release whose migration writes garbage into the database and then fails.
    let broken = s.script(
        "tram-broken",
        "if [ \"$1\" = self-check ]; then printf 'garbage' >> \"$3/tram.redb\"; \
         touch \"$3/left-behind.json\"; echo 'migration 4 failed' >&2; exit 1; fi; exit 0",
    );
    let out = s.apply(&s.bundle("2.1.0", &broken, &s.key), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("rolled back to 2.0.0") && msg.contains("migration 4 failed"),
        "{msg}"
    );
    assert_eq!(s.current(), Some(PathBuf::from("versions/2.0.0")));
    assert!(!s.root.join("versions/2.1.0").exists());
    // The database is the copy taken after the pre-update backup, byte for byte.
    let saved = fs::read(s.data.join("update/rollback/tram.redb")).unwrap();
    assert_eq!(
        db(&s),
        blake3::hash(&saved).to_hex().to_string(),
        "the database was restored"
    );
    assert!(!s.data.join("left-behind.json").exists());
    let st: serde_json::Value =
        serde_json::from_slice(&fs::read(s.data.join("update/status.json")).unwrap()).unwrap();
    assert_eq!(st["outcome"], "rolled-back");

    // A release that hangs is rolled back when the health timeout runs out.
    let hang = s.script("tram-hang", "sleep 30");
    let out = s.apply(
        &s.bundle("2.2.0", &hang, &s.key),
        &["--health-timeout", "2"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("did not finish within 2 s"),
        "{}",
        text(&out)
    );
    assert_eq!(s.current(), Some(PathBuf::from("versions/2.0.0")));

    // Still healthy: the old version serves the same data.
    let srv = Server::start(&s.data, false);
    let c = srv.login("admin");
    assert!(
        c.get(format!("{}/", srv.base()))
            .send()
            .unwrap()
            .status()
            .is_success()
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The bundle rewritten without one of its members.
fn strip_member(raw: &[u8], name: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(raw);
    let mut out = tar::Builder::new(Vec::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            continue;
        }
        let path = e.path().unwrap().into_owned();
        let mut h = e.header().clone();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        h.set_size(body.len() as u64);
        out.append_data(&mut h, &path, body.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn a_full_system_partition_refuses_the_update_and_changes_nothing() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let s = Setup::new();
    let real = s.script("tram-real", &format!("exec '{}' \"$@\"", bin()));
    // 3 MB that do not compress: the unpacked release does not fit an 8 MB system partition
    // with the margin kept free.
    let big = s.dir.join("big.dat");
    let mut noise = vec![0u8; 3 << 20];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fs::write(&big, &noise).unwrap();
    let bundle = s.dir.join("big.bundle");
    let o = tram(&[
        "release",
        "bundle",
        "--key",
        s.key.to_str().unwrap(),
        "--version",
        "2.0.0",
        "--binary",
        real.to_str().unwrap(),
        "--file",
        &format!("share/big.dat={}", big.display()),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let before = db(&s);
    fs::create_dir_all(&s.root).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=8m tmpfs {root} && {bin} update apply {b} --data-dir {d} --install-root {root} --release-key {k}; echo rc=$?; ls -A {root}/versions | grep -v '^.staging$' | wc -l; test -e {root}/current && echo switched",
        root = s.root.display(),
        bin = bin(),
        b = bundle.display(),
        d = s.data.display(),
        k = s.pubkey.display(),
    );
    let o = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("not enough disk space") && t.contains("system partition"),
        "{t}"
    );
    assert!(t.contains("rc=1"), "{t}");
    assert!(!t.contains("switched"), "{t}");
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == "0"),
        "{t}"
    );
    assert_eq!(db(&s), before);
}

#[test]
fn an_update_cut_off_mid_check_is_rolled_back_at_the_next_boot() {
    let s = Setup::new();
    let real = s.script("tram-real", &format!("exec '{}' \"$@\"", bin()));
    assert!(
        s.apply(&s.bundle("2.0.0", &real, &s.key), &[])
            .status
            .success()
    );
    // The new version damages the database during its check, and then the power goes: the
    // updater dies with it (SIGKILL of `tram update apply`).
    let cut = s.script(
        "tram-cut",
        "if [ \"$1\" = self-check ]; then printf 'half-migrated' >> \"$3/tram.redb\"; kill -9 $PPID; sleep 5; fi; exit 0",
    );
    let out = s.apply(&s.bundle("3.0.0", &cut, &s.key), &[]);
    assert!(!out.status.success());
    assert_eq!(
        s.current(),
        Some(PathBuf::from("versions/3.0.0")),
        "the cut came after the switch"
    );
    assert!(s.data.join("update/in-progress.json").exists());
    // Next boot: tram-update-recover.service.
    let out = tram(&[
        "update",
        "recover",
        "--data-dir",
        s.data.to_str().unwrap(),
        "--install-root",
        s.root.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("rolled back to 2.0.0"),
        "{}",
        text(&out)
    );
    assert_eq!(s.current(), Some(PathBuf::from("versions/2.0.0")));
    let saved = fs::read(s.data.join("update/rollback/tram.redb")).unwrap();
    assert_eq!(db(&s), blake3::hash(&saved).to_hex().to_string());
    assert!(!s.data.join("update/in-progress.json").exists());
    // A second boot finds nothing to do, and the appliance serves the data.
    let again = tram(&[
        "update",
        "recover",
        "--data-dir",
        s.data.to_str().unwrap(),
        "--install-root",
        s.root.to_str().unwrap(),
    ]);
    assert!(text(&again).contains("no interrupted update"));
    let srv = Server::start(&s.data, false);
    let c = srv.login("admin");
    assert!(
        c.get(format!("{}/", srv.base()))
            .send()
            .unwrap()
            .status()
            .is_success()
    );
}

/// Issue 19: the boot-time recovery (image/files/tram-update-recover.sh, run by
/// tram-update-recover.service) tries the last known good version first and then the others
/// newest first by version number — 0.10.0 is newer than 0.9.0, though the shell's glob order
/// says otherwise — each with a time limit, so a new version that hangs can neither block the
/// rollback nor leave `current` on itself.
#[test]
fn the_boot_recovery_tries_the_last_good_version_first_and_never_waits_on_a_hanging_one() {
    let s = Setup::new();
    let real = s.script("tram-real", &format!("exec '{}' \"$@\"", bin()));
    assert!(
        s.apply(&s.bundle("0.9.0", &real, &s.key), &[])
            .status
            .success()
    );
    // 0.10.0 damages the data in its check and the power goes; it also hangs on anything else.
    let cut = s.script(
        "tram-cut-hang",
        "if [ \"$1\" = self-check ]; then printf 'half-migrated' >> \"$3/tram.redb\"; kill -9 $PPID; sleep 5; exit 0; fi; sleep 600",
    );
    assert!(
        !s.apply(&s.bundle("0.10.0", &cut, &s.key), &[])
            .status
            .success()
    );
    assert_eq!(s.current(), Some(PathBuf::from("versions/0.10.0")));
    let st = tram(&[
        "update",
        "status",
        "--data-dir",
        s.data.to_str().unwrap(),
        "--install-root",
        s.root.to_str().unwrap(),
    ]);
    assert!(
        text(&st).contains("IN PROGRESS: an update from 0.9.0 to 0.10.0"),
        "{}",
        text(&st)
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/files/tram-update-recover.sh");
    let started = std::time::Instant::now();
    let out = std::process::Command::new(&script)
        .env("TRAM_DATA_DIR", &s.data)
        .env("TRAM_INSTALL_ROOT", &s.root)
        .env("TRAM_RECOVER_TIMEOUT", "20")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let first = t
        .lines()
        .find(|l| l.starts_with("trying"))
        .unwrap_or_default();
    assert_eq!(first, "trying the rollback with version 0.9.0", "{t}");
    assert!(t.contains("rolled back to 0.9.0"), "{t}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "it waited on 0.10.0"
    );
    assert_eq!(s.current(), Some(PathBuf::from("versions/0.9.0")));
    assert!(!s.data.join("update/in-progress.json").exists());

    // With no last known good version named, the order is by version number, and a version
    // that hangs is given up after the limit.
    fs::create_dir_all(s.data.join("update")).unwrap();
    fs::write(
        s.data.join("update/in-progress.json"),
        r#"{"from":"0.9.0","to":"0.10.0","previous":null}"#,
    )
    .unwrap();
    fs::create_dir_all(s.root.join("versions/0.10.0/bin")).unwrap();
    fs::copy(&cut, s.root.join("versions/0.10.0/bin/tram")).unwrap();
    fs::create_dir_all(s.data.join("update/rollback")).unwrap();
    let out = std::process::Command::new(&script)
        .env("TRAM_DATA_DIR", &s.data)
        .env("TRAM_INSTALL_ROOT", &s.root)
        .env("TRAM_RECOVER_TIMEOUT", "2")
        .output()
        .unwrap();
    let t = text(&out);
    let tried: Vec<&str> = t.lines().filter(|l| l.starts_with("trying")).collect();
    assert_eq!(
        tried,
        [
            "trying the rollback with version 0.10.0",
            "trying the rollback with version 0.9.0"
        ],
        "{t}"
    );
    assert!(t.contains("version 0.10.0 could not roll back"), "{t}");
    assert!(out.status.success(), "{t}");
}
