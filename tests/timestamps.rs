//! Time-stamps by the district hub (issue 22 item 4, PAdES B-T): a school enrolled with a hub
//! (both hub storages) signs a class's học bạ; each newest signature gets an RFC 3161
//! time-stamp from the hub's TSA in its unsigned attributes, the signed bytes unchanged. A
//! signature made while the link is down gets its time-stamp when the link comes back, without
//! signing again. pdfsig still finds every signature valid; pyHanko, trusting the school's
//! signing CA and the hub's TSA certificate, reports the time-stamp. The box sends its signing
//! CA to the hub, which then verifies the school's files (and refuses one from a school whose
//! CA it does not have: "không rõ trường"). The hub's TSA answers enrolled schools only.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{DEMO_PIN, DemoClass, Hub, Proxy, Server, bin, enroll, homeroom_of};
use serde_json::{Value, json};

/// The demo's complete class left open to sign, last year's 9A2 (its 9A1 comes signed).
static CLASS: DemoClass = DemoClass::showcase("9A2");
const PIN: &str = "58203947";

on_both_storages!(
    a_class_signed_online_and_offline_is_time_stamped_by_the_hub,
    signatures_signed_over_offline_get_a_document_time_stamp,
    the_hubs_time_stamping_authority_answers_enrolled_schools_only,
);

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn post(c: &reqwest::blocking::Client, url: String, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// The box of `data` (its year locked, the signers ready) enrolled with `hub` and serving; the
/// class signed on the web by its homeroom teacher, then at once by the principal; the server,
/// the principal's session and the class's signatures once the principal's are time-stamped.
fn enrol_and_sign(
    data: &Path,
    hub: &Hub,
    homeroom: &str,
) -> (Server, reqwest::blocking::Client, Vec<Value>) {
    let o = enroll(data.to_str().unwrap(), &hub.base(), &hub.token("79000701"));
    assert!(o.status.success(), "{}", text(&o));
    let s = Server::start_with(data, false, &["--relay-school-hours", "off"]);
    let gvcn = s.login(homeroom);
    let bgh = s.login("hieutruong");
    let sign = format!("{}/api/v1/hocba/classes/{CLASS}/sign", s.base());
    let (code, done) = post(&gvcn, sign.clone(), json!({"stage": "gvcn", "pin": PIN}));
    assert_eq!(code, 200, "{done}");
    let (code, done) = post(&bgh, sign, json!({"stage": "principal", "pin": PIN}));
    assert_eq!(code, 200, "{done}");
    let v = until_stamped(&s, &bgh, "principal");
    (s, bgh, v)
}

/// The body of a GET.
fn bytes(c: &reqwest::blocking::Client, url: String) -> Vec<u8> {
    c.get(url).send().unwrap().bytes().unwrap().to_vec()
}

/// The box's verify page's answer for `pdf` (`POST /api/v1/hocba/verify`).
fn box_verify(c: &reqwest::blocking::Client, base: &str, csrf: &str, pdf: Vec<u8>) -> Value {
    c.post(format!("{base}/api/v1/hocba/verify"))
        .header("content-type", "application/pdf")
        .header("X-CSRF-Token", csrf)
        .body(pdf)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The demo box of `data` with the class's year locked for it (both terms, forced); its homeroom
/// teacher. The server is stopped again.
fn lock_year(data: &Path) -> String {
    let mut s = Server::start(data, false);
    let homeroom = homeroom_of(&s, &CLASS);
    let bgh = s.login("hieutruong");
    for term in ["hk2", "hk1"] {
        let (code, e) = post(
            &bgh,
            format!("{}/api/v1/grades/terms/{term}/lock", s.base()),
            json!({"force": true, "class": &*CLASS}),
        );
        assert_eq!(code, 200, "{e}");
    }
    s.stop();
    homeroom
}

/// A signer's certificate from the school signing CA under [`PIN`], server stopped, the sealed
/// CA opened through a holder (`--by`): the principal (under the demo's PIN until replaced
/// under [`PIN`]); for the principal's own new certificate a vice principal, who gets one first
/// (nobody issues her own). `--replace`: the demo's principal holds one already.
fn issue_signer(data: &Path, user: &str, role: &str) {
    let by = if user == "hieutruong" {
        let o = issue_by(data, "phohieutruong", "pho-hieu-truong", "hieutruong");
        assert!(
            o.status.success() || text(&o).contains("already has"),
            "{}",
            text(&o)
        );
        "phohieutruong"
    } else {
        "hieutruong"
    };
    let o = issue_by(data, user, role, by);
    assert!(o.status.success(), "{}", text(&o));
}

fn issue_by(data: &Path, user: &str, role: &str, by: &str) -> std::process::Output {
    let mut last = None;
    for approver_pin in [DEMO_PIN, PIN] {
        let o = Command::new(bin())
            .args([
                "hocba",
                "signer",
                "--user",
                user,
                "--role",
                role,
                "--by",
                by,
                "--replace",
            ])
            .arg("--data-dir")
            .arg(data)
            .env("TRAM_SIGNING_PIN", PIN)
            .env("TRAM_APPROVER_PIN", approver_pin)
            .output()
            .unwrap();
        if o.status.success() || !text(&o).contains("wrong signing PIN") {
            return o;
        }
        last = Some(o);
    }
    last.unwrap()
}

/// The signatures stored for the class, (stage, timestamp) per row.
fn versions(s: &Server, c: &reqwest::blocking::Client) -> Vec<Value> {
    let v: Value = c
        .get(format!("{}/api/v1/hocba/classes/{CLASS}", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["versions"].as_array().unwrap().clone()
}

/// Waits until every signature of `stage` has a time-stamp (the stamper runs in the
/// background; the deadline only bounds a failure, nothing asserts how long it took).
fn until_stamped(s: &Server, c: &reqwest::blocking::Client, stage: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = versions(s, c);
        let rows: Vec<&Value> = v.iter().filter(|r| r["stage"] == stage).collect();
        if !rows.is_empty() && rows.iter().all(|r| r["timestamp"].is_string()) {
            return v;
        }
        assert!(Instant::now() < deadline, "not time-stamped: {v:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn a_class_signed_online_and_offline_is_time_stamped_by_the_hub() {
    let hub_dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let hub = Hub::start(hub_dir.path());
    let link = Proxy::start(hub.port);

    // The year locked, the signers' certificates issued, the box enrolled (through the link).
    let homeroom = lock_year(&data);
    issue_signer(&data, &homeroom, "gvcn");
    issue_signer(&data, "hieutruong", "hieu-truong");
    // The CA key is sealed: the attacker further down is whoever also has a holder's PIN
    // (opened now, while the server is stopped).
    let ca = {
        let store = tram::store::Store::open(&data, &tram::app::schema::schema()).unwrap();
        let rx = store.read().unwrap();
        let ht = tram::auth::find_by_username(&rx, "hieutruong")
            .unwrap()
            .unwrap()
            .id;
        tram::gradebook::hocba::ca::open_ca(&rx, &data, &ht, PIN).unwrap()
    };
    let o = enroll(
        data.to_str().unwrap(),
        &format!("http://127.0.0.1:{}", link.port),
        &hub.token("79000701"),
    );
    assert!(o.status.success(), "{}", text(&o));
    // The link is down from the start: nothing reaches the hub, not even the signing CA.
    link.set_down(true);
    let s = Server::start_with(&data, false, &["--relay-school-hours", "off"]);
    let b = s.base();
    let gvcn = s.login(&homeroom);
    let bgh = s.login("hieutruong");
    let sign = format!("{b}/api/v1/hocba/classes/{CLASS}/sign");
    let download = |student: &str| {
        gvcn.get(format!("{b}/grades/hocba/{student}/signed"))
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .to_vec()
    };

    // Offline: the homeroom teacher signs; nothing is time-stamped while the link is down.
    let (code, done) = post(&gvcn, sign.clone(), json!({"stage": "gvcn", "pin": PIN}));
    assert_eq!(code, 200, "{done}");
    let students = done["signed"].as_u64().unwrap() as usize;
    let v = versions(&s, &bgh);
    assert_eq!(v.len(), students);
    assert!(v.iter().all(|r| r["timestamp"].is_null()), "{v:?}");
    let student = v[0]["student"].as_str().unwrap().to_string();
    let offline = download(&student);
    // The hub has not heard of this school's signing CA: it cannot say whose file this is.
    let staff = hub.staff();
    let token = common::csrf(&staff, &hub.base());
    let hub_verify = |pdf: Vec<u8>| {
        let r = staff
            .post(format!("{}/district/api/hocba/verify", hub.base()))
            .header("content-type", "application/pdf")
            .header("X-CSRF-Token", &token)
            .body(pdf)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let unknown = tmp.path().join("unknown.pdf");
    std::fs::write(&unknown, &offline).unwrap();
    let o = common::tram(&[
        "district",
        "verify-hocba",
        "--data-dir",
        hub_dir.path().to_str().unwrap(),
        unknown.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("unknown school"), "{}", text(&o));
    let (code, e) = hub_verify(offline.clone());
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("unknown_school")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Không rõ trường"),
        "{e}"
    );

    // The link is back: the signatures get their time-stamps, without signing again, and the
    // signing CA reaches the hub.
    link.set_down(false);
    let v = until_stamped(&s, &bgh, "gvcn");
    assert_eq!(v.len(), students, "no new signature: {v:?}");
    let stamped = download(&student);
    assert_eq!(
        stamped.len(),
        offline.len(),
        "the token went into reserved space"
    );
    assert_ne!(stamped, offline);

    // Online: the principal's signatures are time-stamped too.
    let (code, done) = post(&bgh, sign, json!({"stage": "principal", "pin": PIN}));
    assert_eq!(code, 200, "{done}");
    until_stamped(&s, &bgh, "principal");
    let stamped = download(&student);

    // The hub verifies the school's file against the CA the school sent and the signature
    // register it relayed (its lines travel with the relay rounds: until they arrive the
    // hub says so — the deadline only bounds a failure).
    let deadline = Instant::now() + Duration::from_secs(120);
    let (code, r) = loop {
        let (code, r) = hub_verify(stamped.clone());
        if r["register_pending"] != true {
            break (code, r);
        }
        assert!(
            r["problems_vi"]
                .to_string()
                .contains("Chưa nhận được sổ ký của trường cho phiên bản này"),
            "{r}"
        );
        assert!(Instant::now() < deadline, "the register never arrived: {r}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["school"], "79000701", "{r}");
    assert_eq!(r["valid"], true, "{r}");
    let sigs = r["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{r}");
    assert!(sigs.iter().all(|s| s["timestamp"].is_string()), "{r}");
    let mut tampered = stamped.clone();
    let at = stamped.len() / 3;
    tampered[at] ^= 0x01;
    let (code, r) = hub_verify(tampered.clone());
    assert_eq!((code, r["valid"].as_bool()), (200, Some(false)), "{r}");
    // The same check from the hub's command line, while the hub runs: exit 0 valid, 3 not.
    let hub_data = hub_dir.path().to_str().unwrap();
    let good = tmp.path().join("good.pdf");
    let bad = tmp.path().join("bad.pdf");
    std::fs::write(&good, &stamped).unwrap();
    std::fs::write(&bad, &tampered).unwrap();
    let o = common::tram(&[
        "district",
        "verify-hocba",
        "--data-dir",
        hub_data,
        good.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Named and timed as people read them (review r10 #6): the school's relayed name, each
    // time-stamp as dd/mm/yyyy HH:MM.
    assert!(
        text(&o).starts_with("school: Trường THCS Nguyễn Du (demo) (79000701)\n"),
        "{}",
        text(&o)
    );
    let shape = |t: &str| -> String {
        t.chars()
            .take(16)
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect()
    };
    let stamps = text(&o)
        .split("  time-stamp: ")
        .skip(1)
        .filter(|rest| shape(rest) == "99/99/9999 99:99")
        .count();
    assert_eq!(stamps, 2, "{}", text(&o));
    let o = common::tram(&[
        "district",
        "verify-hocba",
        "--data-dir",
        hub_data,
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // Review r10 #2 and #5 at the hub: the file cut after the homeroom teacher's signature is
    // incomplete; the same signed over with a "Hiệu trưởng" certificate minted from the CA key
    // in the box's data folder chains to the school's CA but is not in its relayed register.
    let gvcn_only = stamped[..common::end_of_first_byte_range(&stamped)].to_vec();
    let (code, r) = hub_verify(gvcn_only.clone());
    assert_eq!((code, r["valid"].as_bool()), (200, Some(false)), "{r}");
    assert!(
        r["problems_vi"]
            .to_string()
            .contains("Chưa đủ chữ ký: thiếu chữ ký của Hiệu trưởng"),
        "{r}"
    );
    let now = jiff::Timestamp::now();
    let minted =
        tram::pki::signing::issue_signer(&ca, "x", "Trần Văn Hùng", "Hiệu trưởng", "64081739", now)
            .unwrap();
    let key = tram::pki::signing::unlock(&minted, "64081739").unwrap();
    let forged = tram::pki::pades::sign(&gvcn_only, &key, &ca.cert, now).unwrap();
    let (code, r) = hub_verify(forged.clone());
    assert_eq!((code, r["valid"].as_bool()), (200, Some(false)), "{r}");
    assert_eq!(r["signatures"][1]["chain_ok"], true, "{r}");
    assert!(
        r["signatures"][1]["problems_vi"]
            .to_string()
            .contains("Chữ ký không có trong sổ ký trường gửi lên"),
        "{r}"
    );
    assert_eq!(r["signatures"][0]["problems"], json!([]), "{r}");
    for (name, pdf) in [("gvcn.pdf", &gvcn_only), ("minted.pdf", &forged)] {
        let f = tmp.path().join(name);
        std::fs::write(&f, pdf).unwrap();
        let o = common::tram(&[
            "district",
            "verify-hocba",
            "--data-dir",
            hub_data,
            f.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", text(&o));
    }

    let file = tmp.path().join("stamped.pdf");
    std::fs::write(&file, &stamped).unwrap();
    let ca = data.join("keys/signing-ca.crt");
    let tsa = hub_dir.path().join("keys/tsa.crt");
    assert!(tsa.exists(), "the hub issued its TSA certificate at start");
    check_with_validators(&file, &ca, &tsa, tmp.path());
    records_archive_at_the_hub(&data, hub_data, &tsa, tmp.path());
}

/// Review r14 #2 and #1: the school's records archive carries the hub's TSA certificate in
/// chung-thu/, and its guide's pyHanko command — as printed — accepts a stamped học bạ from
/// the folder alone; the hub lists the box key's fingerprint and checks the archive against
/// its own record of the school: the genuine folder passes, one signed by another key fails.
fn records_archive_at_the_hub(data: &Path, hub_data: &str, tsa: &Path, scratch: &Path) {
    let out = scratch.join("ho-so");
    // The signed class is last year's 9A2 (the demo's showcase): that year's archive.
    let year = common::showcase_year();
    let o = common::tram(&[
        "records",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
        "--year",
        &year,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let body = |pem: &str| -> String { pem.lines().filter(|l| !l.starts_with("-----")).collect() };
    let copied = std::fs::read_to_string(out.join("chung-thu/dau-thoi-gian-1.crt")).unwrap();
    assert_eq!(body(&copied), body(&std::fs::read_to_string(tsa).unwrap()));
    assert!(
        !out.join("chung-thu/dau-thoi-gian-2.crt").exists(),
        "one hub, one TSA"
    );
    let guide = std::fs::read_to_string(out.join("HUONG-DAN-KIEM-TRA.txt")).unwrap();
    let command: Vec<&str> = guide
        .lines()
        .find(|l| l.trim_start().starts_with("pyhanko sign validate"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(
        command.contains(&"chung-thu/dau-thoi-gian-1.crt")
            && command.contains(&"chung-thu/ca-ky-so-cua-truong-1.crt"),
        "{command:?}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let stamped = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signed"] == true && f["path"].as_str().unwrap().starts_with("hoc-ba/9a2/"))
        .unwrap_or_else(|| panic!("no signed học bạ of 9A2: {manifest}"));
    let pyhanko = std::env::var_os("TRAM_PYHANKO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv-pyhanko/bin/pyhanko")
        });
    if pyhanko.exists() {
        // The guide's command word for word, the file in place of "<tệp.pdf>", run in the
        // archive folder.
        let o = Command::new(&pyhanko)
            .args(&command[1..command.len() - 1])
            .arg(stamped["path"].as_str().unwrap())
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{command:?}: {}", text(&o));
        assert!(!text(&o).contains("UNTRUSTED"), "{}", text(&o));
    } else {
        eprintln!("pyHanko not installed: the guide's command not run");
    }

    // The hub: the school's fingerprint, and the archive held to it with nothing typed.
    let fp = manifest["box"]["fingerprint"].as_str().unwrap();
    let o = common::tram(&["district", "schools", "--data-dir", hub_data]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("box key fingerprint: {} {}", &fp[..4], &fp[4..8])),
        "{}",
        text(&o)
    );
    let verify_export = |dir: &Path| {
        common::tram(&[
            "district",
            "verify-export",
            "--data-dir",
            hub_data,
            dir.to_str().unwrap(),
        ])
    };
    let o = verify_export(&out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("(the expected one"), "{}", text(&o));
    // The same folder signed again by a key that is not the one the hub enrolled.
    use ed25519_dalek::Signer as _;
    use sha2::Digest;
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let pk = key.verifying_key().to_bytes();
    let mut top = manifest.clone();
    top["box"] = json!({"public_key": hex::encode(pk), "fingerprint": hex::encode(sha2::Sha256::digest(pk))});
    let bytes = serde_json::to_vec_pretty(&top).unwrap();
    std::fs::write(out.join("manifest.json"), &bytes).unwrap();
    let mut msg = b"tram.records.v2 manifest.json\n".to_vec();
    msg.extend_from_slice(&bytes);
    std::fs::write(
        out.join("manifest.sig"),
        json!({"format": "tram.records-signature/1", "algorithm": "Ed25519",
               "signed": "manifest.json", "message": "", "public_key": hex::encode(pk),
               "fingerprint": "", "signature": hex::encode(key.sign(&msg).to_bytes())})
        .to_string(),
    )
    .unwrap();
    let o = common::tram(&["lessons", "verify", "--export", out.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "consistent with itself, not compared with the school's key: {}",
        text(&o)
    );
    assert!(text(&o).contains("NOT VERIFIED"), "{}", text(&o));
    let o = verify_export(&out);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("not the expected"), "{}", text(&o));
}

/// pdfsig: both signatures still valid; pyHanko: valid, trusted and time-stamped.
fn check_with_validators(file: &Path, ca: &Path, tsa: &Path, scratch: &Path) {
    let on_path = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if on_path("pdfsig") && on_path("certutil") {
        let db = scratch.join("nss");
        std::fs::create_dir_all(&db).unwrap();
        let dbarg = format!("sql:{}", db.display());
        let o = Command::new("certutil")
            .args(["-N", "--empty-password", "-d", &dbarg])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let o = Command::new("certutil")
            .args(["-A", "-d", &dbarg, "-n", "ca", "-t", "CT,C,C", "-i"])
            .arg(ca)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let o = Command::new("pdfsig")
            .args(["-nssdir", &dbarg])
            .arg(file)
            .output()
            .unwrap();
        let report = text(&o);
        assert_eq!(report.matches("Signature is Valid").count(), 2, "{report}");
    } else {
        eprintln!("pdfsig/certutil not installed: pdfsig not run");
    }
    let pyhanko = std::env::var_os("TRAM_PYHANKO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv-pyhanko/bin/pyhanko")
        });
    if !pyhanko.exists() {
        eprintln!("pyHanko not installed: not run");
        return;
    }
    let o = Command::new(&pyhanko)
        .args([
            "sign",
            "validate",
            "--no-revocation-check",
            "--pretty-print",
            "--trust-replace",
            "--trust",
        ])
        .arg(ca)
        .arg("--trust")
        .arg(tsa)
        .arg(file)
        .output()
        .unwrap();
    let report = text(&o);
    assert!(o.status.success(), "{report}");
    // Both signatures: the one stamped online and the one stamped after the link came back.
    assert_eq!(
        report.matches("Signature timestamp token:").count(),
        2,
        "{report}"
    );
    assert_eq!(
        report.matches("The TSA certificate is trusted.").count(),
        2,
        "{report}"
    );
    assert_eq!(report.matches("judged VALID").count(), 2, "{report}");
}

/// Issue 22: a học bạ signed by the homeroom teacher and then the principal while the link is
/// down. When it comes back, the principal's signature gets its own token and the homeroom
/// teacher's — signed over, it can no longer take one — is dated by a document time-stamp
/// revision after both (PAdES B-LTA's mechanism): no signing again, every signature dated,
/// the stored file is the exported one. pdfsig keeps both signatures valid and lists the
/// time-stamp; pyHanko judges both valid and the document time-stamp intact and trusted; one
/// changed byte breaks all of them. The queue is empty afterwards.
fn signatures_signed_over_offline_get_a_document_time_stamp() {
    let hub_dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let hub = Hub::start(hub_dir.path());
    let link = Proxy::start(hub.port);
    let homeroom = lock_year(&data);
    issue_signer(&data, &homeroom, "gvcn");
    issue_signer(&data, "hieutruong", "hieu-truong");
    let o = enroll(
        data.to_str().unwrap(),
        &format!("http://127.0.0.1:{}", link.port),
        &hub.token("79000701"),
    );
    assert!(o.status.success(), "{}", text(&o));
    link.set_down(true);
    let mut s = Server::start_with(&data, false, &["--relay-school-hours", "off"]);
    let b = s.base();
    let gvcn = s.login(&homeroom);
    let bgh = s.login("hieutruong");
    let sign = format!("{b}/api/v1/hocba/classes/{CLASS}/sign");
    let (code, done) = post(&gvcn, sign.clone(), json!({"stage": "gvcn", "pin": PIN}));
    assert_eq!(code, 200, "{done}");
    // The principal signs over while the hub is out of reach (her signing waits for a pass
    // at most 15 s, then goes ahead).
    let (code, done) = post(&bgh, sign, json!({"stage": "principal", "pin": PIN}));
    assert_eq!(code, 200, "{done}");
    let v = versions(&s, &bgh);
    assert!(v.iter().all(|r| r["timestamp"].is_null()), "{v:?}");
    let student = v[0]["student"].as_str().unwrap().to_string();
    let signed = bytes(&bgh, format!("{b}/grades/hocba/{student}/signed"));

    link.set_down(false);
    until_stamped(&s, &bgh, "principal");
    let v = until_stamped(&s, &bgh, "gvcn");
    assert_eq!(
        v.len(),
        2 * done["signed"].as_u64().unwrap() as usize,
        "{v:?}"
    );
    let stamped = bytes(&bgh, format!("{b}/grades/hocba/{student}/signed"));
    assert!(
        stamped.len() > signed.len(),
        "a document time-stamp revision was appended"
    );
    let token = common::csrf(&bgh, &b);
    let r = box_verify(&bgh, &b, &token, stamped.clone());
    assert_eq!(r["valid"], true, "{r}");
    let sigs = r["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "the time-stamp is no third signature: {r}");
    assert_eq!(
        (
            &sigs[0]["timestamp_document"],
            &sigs[1]["timestamp_document"]
        ),
        (&json!(true), &json!(false)),
        "{r}"
    );
    assert!(sigs.iter().all(|s| s["timestamp_time"].is_string()), "{r}");
    // The class's ZIP carries the same file, its manifest the file's SHA-256.
    let zip = bytes(&bgh, format!("{b}/grades/class/{CLASS}/hocba.zip"));
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let manifest: Value = serde_json::from_reader(z.by_name("manifest.json").unwrap()).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&stamped))
    };
    assert!(manifest.to_string().contains(&sha), "{manifest}");
    // With what checks it without the box (review r17): the hub's TSA certificate as
    // dau-thoi-gian-1.crt, the name the records archive gives it (review r19 #10), and the
    // school's CA by its number.
    let mut tsa_crt = String::new();
    std::io::Read::read_to_string(&mut z.by_name("dau-thoi-gian-1.crt").unwrap(), &mut tsa_crt)
        .unwrap();
    assert_eq!(
        tsa_crt.trim(),
        std::fs::read_to_string(hub_dir.path().join("keys/tsa.crt"))
            .unwrap()
            .trim()
    );
    assert!(z.by_name("ca-ky-so-cua-truong-1.crt").is_ok());
    assert!(
        manifest["certificates"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("dau-thoi-gian-1.crt"))),
        "{manifest}"
    );
    let mut tampered = stamped.clone();
    // A letter of the printed file's /Producer: inside every signed range and the time-stamp's.
    let first = common::end_of_first_byte_range(&stamped);
    let at = stamped[..first]
        .windows(6)
        .position(|w| w == b"krilla")
        .map_or(first / 2, |i| i + 1);
    tampered[at] ^= 0x01;
    let r = box_verify(&bgh, &b, &token, tampered.clone());
    assert_eq!(r["valid"], false, "{r}");

    let file = tmp.path().join("lta.pdf");
    let bad = tmp.path().join("lta-bad.pdf");
    std::fs::write(&file, &stamped).unwrap();
    std::fs::write(&bad, &tampered).unwrap();
    let ca = data.join("keys/signing-ca.crt");
    let tsa = hub_dir.path().join("keys/tsa.crt");
    check_document_timestamp(&file, &bad, &ca, &tsa, tmp.path());

    // Nothing waits any more (read once the server let go of the database).
    s.stop();
    let store = tram::store::Store::open(&data, &tram::app::schema::schema()).unwrap();
    let left = tram::gradebook::hocba::stamp_queue(&store.read().unwrap()).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// pdfsig and pyHanko on a file whose GVCN signature is dated by a document time-stamp: `good`
/// passes, `bad` (one changed byte inside every signed range) fails in both.
fn check_document_timestamp(good: &Path, bad: &Path, ca: &Path, tsa: &Path, scratch: &Path) {
    let on_path = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if on_path("pdfsig") && on_path("certutil") {
        let db = scratch.join("nss-lta");
        std::fs::create_dir_all(&db).unwrap();
        let dbarg = format!("sql:{}", db.display());
        let o = Command::new("certutil")
            .args(["-N", "--empty-password", "-d", &dbarg])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        for (nick, cert) in [("ca", ca), ("tsa", tsa)] {
            let o = Command::new("certutil")
                .args(["-A", "-d", &dbarg, "-n", nick, "-t", "CT,C,C", "-i"])
                .arg(cert)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o));
        }
        let pdfsig = |f: &Path| {
            let o = Command::new("pdfsig")
                .args(["-nssdir", &dbarg])
                .arg(f)
                .output()
                .unwrap();
            text(&o)
        };
        let report = pdfsig(good);
        // Poppler lists the document time-stamp as a third signature over the whole file; it
        // does not validate RFC 3161 document time-stamps itself (pyHanko does, below).
        assert_eq!(report.matches("Signature is Valid").count(), 2, "{report}");
        assert!(report.contains("Signature #3:"), "{report}");
        assert!(
            report.contains("Trạm hub — dấu thời gian (TSA)"),
            "{report}"
        );
        let report = pdfsig(bad);
        assert_eq!(report.matches("Signature is Valid").count(), 0, "{report}");
    } else {
        eprintln!("pdfsig/certutil not installed: pdfsig not run");
    }
    let pyhanko = std::env::var_os("TRAM_PYHANKO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv-pyhanko/bin/pyhanko")
        });
    if !pyhanko.exists() {
        eprintln!("pyHanko not installed: not run");
        return;
    }
    let validate = |f: &Path| {
        let o = Command::new(&pyhanko)
            .args([
                "sign",
                "validate",
                "--no-revocation-check",
                "--pretty-print",
                "--trust-replace",
                "--trust",
            ])
            .arg(ca)
            .arg("--trust")
            .arg(tsa)
            .arg(f)
            .output()
            .unwrap();
        (o.status.success(), text(&o))
    };
    let (ok, report) = validate(good);
    assert!(ok, "{report}");
    assert_eq!(report.matches("judged VALID").count(), 2, "{report}");
    // The principal's signature carries its own token.
    assert_eq!(
        report.matches("Signature timestamp token:").count(),
        1,
        "{report}"
    );
    let (ok, report) = validate(bad);
    assert!(!ok, "{report}");
    // pyHanko's CLI validates signatures; its API validates the document time-stamp itself.
    let python = pyhanko.with_file_name("python");
    let doc_ts = |f: &Path| {
        let o = Command::new(&python)
            .arg("-c")
            .arg(PYHANKO_DOC_TS)
            .arg(f)
            .arg(tsa)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(doc_ts(good), "1 INTACT:TRUSTED ENTIRE_FILE");
    let verdict = doc_ts(bad);
    assert!(
        verdict.starts_with("1 ") && !verdict.contains("INTACT"),
        "{verdict}"
    );
}

/// pyHanko's validation of each document time-stamp of a file (argv: file, TSA certificate):
/// prints how many, then each one's summary and coverage.
const PYHANKO_DOC_TS: &str = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
from pyhanko.keys import load_cert_from_pemder
with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f)
    vc = ValidationContext(trust_roots=[load_cert_from_pemder(sys.argv[2])],
                           revocation_mode='soft-fail', allow_fetching=False)
    out = [str(len(r.embedded_timestamp_signatures))]
    for s in r.embedded_timestamp_signatures:
        st = validate_pdf_timestamp(s, validation_context=vc)
        out.append(st.summary() + ' ' + st.coverage.name)
    print(' '.join(out))
"#;

fn the_hubs_time_stamping_authority_answers_enrolled_schools_only() {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(hub_dir.path());
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let r: Value = reqwest::blocking::Client::new()
        .post(format!("{}/relay/v1/enrol", hub.base()))
        .json(&json!({"token": hub.token("79000702"), "public_key": hex::encode(key.verifying_key().to_bytes())}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let secret = r["secret"].as_str().unwrap().to_string();
    let digest: [u8; 32] = rand::random();
    let (req, nonce) = tram::pki::tsa::request(&digest).unwrap();
    let ask = |school: &str, secret: &str, ctype: &str, body: Vec<u8>| {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/relay/v1/timestamp/{school}", hub.base()))
            .header("authorization", format!("Bearer {secret}"))
            .header("content-type", ctype)
            .body(body)
            .send()
            .unwrap();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), ct, r.bytes().unwrap().to_vec())
    };
    let q = "application/timestamp-query";
    assert_eq!(ask("79000702", "wrong", q, req.clone()).0, 401);
    assert_eq!(ask("79000799", &secret, q, req.clone()).0, 404);
    assert_eq!(
        ask("79000702", &secret, "application/json", req.clone()).0,
        415
    );
    let (code, ct, reply) = ask("79000702", &secret, q, req);
    assert_eq!(code, 200);
    assert_eq!(ct.as_deref(), Some("application/timestamp-reply"));
    let (_, at) = tram::pki::tsa::check_reply(&reply, &digest, &nonce).unwrap();
    assert!(at <= jiff::Timestamp::now());
    // Garbage is answered by the protocol: a rejection, no token.
    let (code, _, reply) = ask("79000702", &secret, q, b"not DER".to_vec());
    assert_eq!(code, 200);
    assert!(tram::pki::tsa::check_reply(&reply, &digest, &nonce).is_err());
}

/// Issue 22 item 3: the hub's staff page "Kiểm tra học bạ số" is in the hub's menu and posts
/// the chosen PDF to `/district/api/hocba/verify`; a signed học bạ of a school whose CA the hub
/// never received (the demo box's class 9A1 of last year, not enrolled) is answered "Không rõ trường".
#[test]
fn the_hubs_verify_page_names_an_unknown_school() {
    let tmp = tempfile::tempdir().unwrap();
    let box_data = tmp.path().join("box");
    let s = Server::start(&box_data, false);
    let bgh = s.login("hieutruong");
    // A student of the demo's signed class, from its versions.
    let signed_class: Value = bgh
        .get(format!(
            "{}/api/v1/hocba/classes/{}",
            s.base(),
            common::showcase_class("9A1")
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let student = signed_class["versions"][0]["student"]
        .as_str()
        .unwrap()
        .to_string();
    let r = bgh
        .get(format!("{}/grades/hocba/{student}/signed", s.base()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let signed = r.bytes().unwrap().to_vec();

    let hub_dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(hub_dir.path());
    let staff = hub.staff();
    let page = staff
        .get(format!("{}/district/hocba-verify", hub.base()))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().unwrap();
    assert!(
        page.contains("data-api=\"/district/api/hocba/verify\"")
            && page.contains("href=\"/district/hocba-verify\""),
        "{page}"
    );
    let r = staff
        .post(format!("{}/district/api/hocba/verify", hub.base()))
        .header("content-type", "application/pdf")
        .header("X-CSRF-Token", common::csrf(&staff, &hub.base()))
        .body(signed)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let e: Value = r.json().unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Không rõ trường")),
        "{e}"
    );
}

/// A throw-away licensed CA for [`a_licensed_signature_gets_one_verdict_from_box_cli_and_hub`]:
/// a root "Test National Root CA" → issuing CA "Test Licensed CA" → the principal's RSA
/// certificate (his name as public CAs write it) in good.p12 (password "mat-khau"); and a
/// look-alike root of the same names, made by anyone with openssl, above fake.p12.
const LICENSED_CA: &str = r#"
cat > ca.ext <<X
basicConstraints=critical,CA:true
keyUsage=critical,keyCertSign,cRLSign
X
cat > sign.ext <<X
keyUsage=critical,digitalSignature,nonRepudiation
X
tree() { # prefix holder
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $1root.key -out $1root.crt -days 3650 \
    -subj "/C=VN/O=Bo Thong tin Test/CN=Test National Root CA" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey rsa:2048 -nodes -keyout $1sub.key -out $1sub.csr -subj "/C=VN/O=Test CA JSC/CN=Test Licensed CA"
  openssl x509 -req -in $1sub.csr -CA $1root.crt -CAkey $1root.key -days 3650 -extfile ca.ext -out $1sub.crt
  cat $1sub.crt $1root.crt > $1chain.pem
  openssl req -newkey rsa:2048 -nodes -keyout $2.key -out $2.csr -subj "/C=VN/CN=TRAN VAN HUNG"
  openssl x509 -req -in $2.csr -CA $1sub.crt -CAkey $1sub.key -days 365 -extfile sign.ext -out $2.crt
  openssl pkcs12 -export -inkey $2.key -in $2.crt -certfile $1chain.pem -passout pass:mat-khau -out $2.p12
}
tree "" good
tree fake- fake
"#;

/// Issue 22 items 1 and 2 (review r10 item 3). Only a listed root makes a public CA's
/// certificate acceptable: the principal's PKCS#12 is refused while its root is not in the
/// box's list of licensed roots ("không do tổ chức … được cấp phép phát hành"), and a look-alike
/// root of the same names stays refused after the real one is listed. Once the root is listed
/// at both ends (`tram hocba roots add`, on the box and on the hub), a class signed by the
/// homeroom teacher (school CA) and the principal (the imported certificate) on the web gets the
/// same verdict from the box's page, `tram hocba verify --data-dir` with the server stopped, and
/// the hub (its API and `tram district verify-hocba`): valid. With the root taken off both
/// lists, all three say the principal's signature is not trusted.
#[test]
fn a_licensed_signature_gets_one_verdict_from_box_cli_and_hub() {
    let on_path = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !on_path("openssl") {
        eprintln!("SKIPPED: openssl not installed");
        return;
    }
    let hub_dir = tempfile::tempdir().unwrap();
    let hub_data = hub_dir.path().to_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let box_data = data.to_str().unwrap().to_string();
    let ca_dir = tmp.path().join("ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    let o = Command::new("sh")
        .args(["-ec", LICENSED_CA])
        .current_dir(&ca_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let root = ca_dir.join("root.crt");
    let hub = Hub::start(hub_dir.path());

    let homeroom = lock_year(&data);
    issue_signer(&data, &homeroom, "gvcn");
    let import = |p12: &str| common::import_p12(&data, &ca_dir.join(p12), "mat-khau", PIN, &[]);
    let refused_as_unlicensed = |o: &Output| {
        assert!(!o.status.success(), "imported: {}", text(o));
        assert!(
            // The command line speaks English (the web form gives the Vietnamese refusal).
            text(o).contains("reaches no licensed root"),
            "{}",
            text(o)
        );
    };
    // Not listed yet: refused, whatever the root calls itself.
    refused_as_unlicensed(&import("good.p12"));
    let o = common::tram(&[
        "hocba",
        "roots",
        "add",
        "--data-dir",
        &box_data,
        root.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Test National Root CA"), "{}", text(&o));
    let o = common::tram(&["hocba", "roots", "list", "--data-dir", &box_data]);
    assert!(
        text(&o).contains("Vietnam National Root CA") && text(&o).contains("added"),
        "{}",
        text(&o)
    );
    // A look-alike of the listed root (same names, another key) is no licensed root.
    refused_as_unlicensed(&import("fake.p12"));
    let o = import("good.p12");
    assert!(o.status.success(), "{}", text(&o));
    // The district lists the same root on the hub (while it runs).
    let o = common::tram(&[
        "hocba",
        "roots",
        "add",
        "--data-dir",
        &hub_data,
        root.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // The stamper sends the school's CA and its imported chains before it stamps.
    let (mut s, bgh, v) = enrol_and_sign(&data, &hub, &homeroom);
    let b = s.base();
    let student = v[0]["student"].as_str().unwrap().to_string();
    let signed = bytes(&bgh, format!("{b}/grades/hocba/{student}/signed"));
    let file = tmp.path().join("signed.pdf");
    std::fs::write(&file, &signed).unwrap();

    // The three checkers, each answering (valid, the principal's signature trusted).
    let box_page = |s: &Server| {
        let bgh = s.login("hieutruong");
        let r = bgh
            .post(format!("{}/api/v1/hocba/verify", s.base()))
            .header("content-type", "application/pdf")
            .header("X-CSRF-Token", common::csrf(&bgh, &s.base()))
            .body(signed.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        let sigs = v["signatures"].as_array().unwrap().clone();
        assert_eq!(sigs.len(), 2, "{v}");
        assert_eq!(sigs[1]["signer"], "TRAN VAN HUNG", "{v}");
        (v["valid"] == true, sigs[1]["chain_ok"] == true, v)
    };
    let staff = hub.staff();
    let hub_api = || {
        let r = staff
            .post(format!("{}/district/api/hocba/verify", hub.base()))
            .header("content-type", "application/pdf")
            .header("X-CSRF-Token", common::csrf(&staff, &hub.base()))
            .body(signed.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        assert_eq!(v["school"], "79000701", "{v}");
        let sigs = v["signatures"].as_array().unwrap().clone();
        assert_eq!(sigs.len(), 2, "{v}");
        (v["valid"] == true, sigs[1]["chain_ok"] == true, v)
    };
    let hub_cli = || {
        let o = common::tram(&[
            "district",
            "verify-hocba",
            "--data-dir",
            &hub_data,
            file.to_str().unwrap(),
        ]);
        (o.status.code(), text(&o))
    };
    let box_cli = || {
        let o = common::tram(&[
            "hocba",
            "verify",
            "--data-dir",
            &box_data,
            file.to_str().unwrap(),
        ]);
        (o.status.code(), text(&o))
    };

    let (valid, trusted, v) = box_page(&s);
    assert!(valid && trusted, "{v}");
    assert_eq!(
        v["signatures"][1]["trusted_by"], "CA công cộng: Test Licensed CA",
        "{v}"
    );
    // The hub confirms a file once the school's signature register for it has arrived (the
    // next relay round after the signing): until then it says "register_pending".
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let (valid, trusted, v) = loop {
        let (valid, trusted, v) = hub_api();
        if v["register_pending"] != true || std::time::Instant::now() > deadline {
            break (valid, trusted, v);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(valid && trusted, "{v}");
    // Review r17 #5: the hub compared the file's data with the student and results the school
    // relayed — they match, her nơi sinh and dân tộc too (relayed since review r19 #7) — and
    // names what no school relays, the register's line.
    assert_eq!(
        (&v["data"]["state"], &v["data"]["unchecked"]),
        (
            &serde_json::json!("matches"),
            &serde_json::json!(["sodangbo", "ngaynhaphoc"])
        ),
        "{v}"
    );
    // The hub names who vouches, as the box does (review r11 #4).
    assert_eq!(v["signatures"][0]["trusted_by"], "CA của trường", "{v}");
    assert_eq!(
        v["signatures"][1]["trusted_by"], "CA công cộng: Test Licensed CA",
        "{v}"
    );
    let (code, out) = hub_cli();
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("INVALID") && !out.contains("NOT OK"), "{out}");

    // Review r17 #5: the student's name corrected on the box after the signing. Once the relay
    // has carried the record, box page, hub API and hub CLI say the same: OUTDATED (exit 6),
    // naming the name — never INVALID on one side and VALID on the other.
    let admin = s.login("admin");
    let rename = |name: &str| {
        let r = admin
            .patch(format!("{b}/api/v1/students/{student}"))
            .header("X-CSRF-Token", common::csrf(&admin, &b))
            .json(&json!({ "full_name": name }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    let first_name = v["data"]["student"].clone();
    // The showcase class graduated last year: the whole-school list is this year's pupils,
    // so the student is looked up in her own class.
    let all: Value = admin
        .get(format!("{b}/api/v1/students?class={CLASS}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let name = all["students"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == student.as_str())
        .and_then(|x| x["full_name"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(!name.is_empty(), "{all}");
    rename(&format!("{name} Mới"));
    let (_, _, boxed) = box_page(&s);
    assert_eq!(boxed["verdict"], "outdated", "{boxed}");
    let wait_hub = |want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (_, _, v) = hub_api();
            if v["verdict"] == want || std::time::Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    };
    let v = wait_hub("outdated");
    assert_eq!(
        (&v["verdict"], &v["data"]["fields"], &v["data"]["student"]),
        (&json!("outdated"), &json!(["hoten"]), &first_name),
        "{v}"
    );
    let (code, out) = hub_cli();
    assert_eq!(code, Some(6), "{out}");
    rename(&name);
    assert_eq!(wait_hub("valid")["verdict"], "valid");
    // Review r19 #7: a nơi sinh corrected after the signing. The box relays the student's nơi
    // sinh and dân tộc (only those of her profile), so the hub says OUTDATED as the box does —
    // never VALID at the hub for a file the box calls out of date.
    let birthplace = |place: &str| -> Value {
        let r = admin
            .put(format!("{b}/api/v1/students/{student}/profile"))
            .header("X-CSRF-Token", common::csrf(&admin, &b))
            .json(&json!({ "birthplace": place }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    };
    let signed_place = birthplace("Bệnh viện Hùng Vương, TP. Hồ Chí Minh");
    // What the file printed, read back from the PDF itself: put back below.
    let printed: Value = {
        let pdf = std::fs::read(&file).unwrap();
        let data = tram::pki::pades::embedded_data(&pdf).unwrap();
        let (_, bytes) = data
            .iter()
            .find(|(n, _)| n == tram::gradebook::hocba::DATA_FILE)
            .unwrap();
        serde_json::from_slice(bytes).unwrap()
    };
    assert_ne!(
        signed_place["profile"]["birthplace"], printed["noisinh"],
        "{signed_place}"
    );
    let (_, _, boxed) = box_page(&s);
    assert_eq!(
        (&boxed["verdict"], &boxed["data"]["fields"]),
        (&json!("outdated"), &json!(["noisinh"])),
        "{boxed}"
    );
    let v = wait_hub("outdated");
    assert_eq!(
        (&v["verdict"], &v["data"]["fields"], &v["data"]["unchecked"]),
        (
            &json!("outdated"),
            &json!(["noisinh"]),
            &json!(["sodangbo", "ngaynhaphoc"])
        ),
        "{v}"
    );
    let (code, out) = hub_cli();
    assert_eq!(code, Some(6), "{out}");
    assert!(
        out.contains("DIFFERS from the records the school relayed")
            && out.contains(": birthplace)"),
        "{out}"
    );
    birthplace(printed["noisinh"].as_str().unwrap());
    assert_eq!(wait_hub("valid")["verdict"], "valid");
    s.stop();
    let (code, out) = box_cli();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches(": VALID").count(), 2, "{out}");

    // The root taken off both lists: nobody trusts the principal's signature any more.
    for dir in [&data, &hub_dir.path().to_path_buf()] {
        std::fs::remove_file(dir.join("keys/hocba-roots.pem")).unwrap();
    }
    let (code, out) = box_cli();
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("does NOT chain"), "{out}");
    let (code, out) = hub_cli();
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("does NOT chain"), "{out}");
    let (valid, trusted, v) = hub_api();
    assert!(!valid && !trusted, "{v}");
    let s = Server::start(&data, false);
    let (valid, trusted, v) = box_page(&s);
    assert!(!valid && !trusted, "{v}");
    assert!(v["signatures"][1]["trusted_by"].is_null(), "{v}");
}

/// Issue 22 item 3 (review r10 item 4): with the hub up, the principal signs the class at once
/// after the homeroom teacher — no waiting for the stamper in between. Only the newest
/// signature of a file can take a time-stamp, so the principal's signing first has the GVCN
/// signatures stamped; every signature of every student's final file then carries one (the
/// box's verify page reads them from the file itself).
#[test]
fn every_signature_is_time_stamped_when_the_principal_signs_right_after_the_homeroom_teacher() {
    let hub_dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let hub = Hub::start(hub_dir.path());
    let homeroom = lock_year(&data);
    issue_signer(&data, &homeroom, "gvcn");
    issue_signer(&data, "hieutruong", "hieu-truong");
    let (s, bgh, v) = enrol_and_sign(&data, &hub, &homeroom);
    let b = s.base();
    let students: std::collections::BTreeSet<String> = v
        .iter()
        .map(|r| r["student"].as_str().unwrap().to_string())
        .collect();
    assert!(students.len() > 20, "{v:?}");
    let token = common::csrf(&bgh, &b);
    let mut unstamped = Vec::new();
    for student in &students {
        let pdf = bytes(&bgh, format!("{b}/grades/hocba/{student}/signed"));
        let r = box_verify(&bgh, &b, &token, pdf);
        let sigs = r["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), 2, "{r}");
        assert_eq!(r["valid"], true, "{r}");
        for sig in sigs {
            if !sig["timestamp"].is_string() {
                unstamped.push(format!("{student} {}", sig["field"]));
            }
        }
    }
    assert!(
        unstamped.is_empty(),
        "{} of {} signatures without a time-stamp: {unstamped:?}",
        unstamped.len(),
        2 * students.len()
    );
}

/// Issue 22 item 4 (review r10 item 7): on a box enrolled with the hub, the month's approval
/// PDF the principal signs (PAdES, `/lessons/approval.pdf`) gets the hub's time-stamp in its
/// signature too, like a học bạ signature — read back from the served file by the box's
/// verify page.
#[test]
fn the_approval_pdf_is_time_stamped_when_enrolled() {
    let hub_dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let hub = Hub::start(hub_dir.path());
    let mut s = Server::start(&data, false);
    s.stop();
    let o = enroll(data.to_str().unwrap(), &hub.base(), &hub.token("79000701"));
    assert!(o.status.success(), "{}", text(&o));
    let mut s = Server::start_with(&data, false, &["--relay-school-hours", "off"]);
    let b = s.base();
    let bgh = s.login("hieutruong");
    let d: Value = bgh
        .get(format!("{b}/api/v1/lessons/dashboard"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let month = d["month"].as_str().unwrap().to_string();
    let waiting: Value = bgh
        .get(format!(
            "{b}/api/v1/lessons/plans?month={month}&state=reviewed"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let plans: Vec<Value> = waiting["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"id": p["id"], "version": p["version"]}))
        .collect();
    assert!(!plans.is_empty(), "{waiting}");
    // The demo's principal signs plans and PDFs under the demo PIN.
    let (code, r) = post(
        &bgh,
        format!("{b}/api/v1/lessons/approve-month"),
        json!({"month": month, "plans": plans, "secret": DEMO_PIN, "pades_pin": DEMO_PIN}),
    );
    assert_eq!(code, 200, "{r}");
    let token = common::csrf(&bgh, &b);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pdf = bytes(&bgh, format!("{b}/lessons/approval.pdf?month={month}"));
        let v = box_verify(&bgh, &b, &token, pdf);
        let sigs = v["signatures"].as_array().cloned().unwrap_or_default();
        assert_eq!(sigs.len(), 1, "{v}");
        if sigs[0]["timestamp"].is_string() {
            assert!(sigs[0]["bytes_intact"] == true, "{v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the approval PDF was not time-stamped: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The hub checks the approval against the approval register the school relayed (review
    // r13 #4: it said INVALID, a failed học bạ): VALID once the line has arrived, and printed
    // as an approval. Until then it is NOT CONFIRMED, never INVALID.
    let pdf = bytes(&bgh, format!("{b}/lessons/approval.pdf?month={month}"));
    let file = tmp.path().join("approval.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let hub_check = |f: &std::path::Path| {
        common::tram(&[
            "district",
            "verify-hocba",
            "--data-dir",
            hub_dir.path().to_str().unwrap(),
            f.to_str().unwrap(),
        ])
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let o = hub_check(&file);
        if o.status.code() == Some(0) {
            assert!(
                text(&o).contains("kind: lesson-plan approval of ")
                    && text(&o).ends_with("VALID\n"),
                "{}",
                text(&o)
            );
            break;
        }
        assert!(text(&o).contains("NOT CONFIRMED"), "{}", text(&o));
        assert!(Instant::now() < deadline, "never confirmed: {}", text(&o));
        std::thread::sleep(Duration::from_millis(500));
    }
    // Signed with a foreign key (a CA of its own, not the school's): the hub refuses it.
    let now = jiff::Timestamp::now();
    let foreign_ca = tram::pki::signing::new_ca("Trường Khác", now).unwrap();
    let rec = tram::pki::signing::issue_signer(
        &foreign_ca,
        "x",
        "Trần Văn Hùng",
        "Hiệu trưởng",
        "64081739",
        now,
    )
    .unwrap();
    let key = tram::pki::signing::unlock(&rec, "64081739").unwrap();
    let minted = tmp.path().join("minted.pdf");
    std::fs::write(
        &minted,
        tram::pki::pades::sign(&pdf, &key, &foreign_ca.cert, now).unwrap(),
    )
    .unwrap();
    let o = hub_check(&minted);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(!text(&o).ends_with("\nVALID\n"), "{}", text(&o));
    // It went through the one stamping queue, and left it once stamped.
    s.stop();
    let store = tram::store::Store::open(&data, &tram::app::schema::schema()).unwrap();
    let left = tram::gradebook::hocba::stamp_queue(&store.read().unwrap()).unwrap();
    assert!(left.is_empty(), "{left:?}");
}
