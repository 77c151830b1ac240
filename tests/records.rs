//! Issue 25 item 5 on the real binary: `tram records export` writes the demo school's electronic
//! records of a year — the sổ đăng bộ, each class's sổ theo dõi và đánh giá, the học bạ, the
//! approved lesson plans with their signature manifest — and manifest.json; every listed file
//! exists with its SHA-256 and `pdftotext` finds each PDF's title. The same from the running
//! server (control socket) and from the stopped box's database; the admin's ZIP holds the same
//! list, is audited and refused to a teacher; a year with no records is an empty manifest.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Server, bin};
use serde_json::Value;
use sha2::Digest;

fn export(data: &Path, to: &Path, year: Option<&str>) -> std::process::Output {
    let mut c = Command::new(bin());
    c.args(["records", "export", "--data-dir"])
        .arg(data)
        .arg("--to")
        .arg(to);
    if let Some(y) = year {
        c.args(["--year", y]);
    }
    c.output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn pdftotext(pdf: &[u8]) -> String {
    let mut child = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is needed by this test");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn pyhanko() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("TRAM_PYHANKO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv-pyhanko/bin/pyhanko")
        });
    path.exists().then_some(path)
}

/// `tram lessons verify --export DIR`, no data directory: exit code and output.
fn verify_folder(dir: &Path) -> (Option<i32>, String) {
    let o = Command::new(bin())
        .args(["lessons", "verify", "--export"])
        .arg(dir)
        .output()
        .unwrap();
    (o.status.code(), text(&o))
}

/// The archive copied away from the box, checked with what its guide says: every file against
/// manifest.json, a tổ record's and the lesson plans' Ed25519 signatures by keys their signers
/// held, the signed học bạ (PAdES) against the school CA in chung-thu/ (pyHanko, when there);
/// then one changed byte in a tổ's signed content, in a lesson plan's, and a signer's key
/// swapped in a manifest — each reported INVALID, exit 3.
fn check_alone(out: &Path, files: &[Value]) {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("ho-so");
    let st = Command::new("cp")
        .arg("-r")
        .arg(out)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    // The guide, listed in the manifest, and the manifest's own summary of it.
    let guide = std::fs::read_to_string(copy.join("HUONG-DAN-KIEM-TRA.txt")).unwrap();
    assert!(
        guide.contains("tram lessons verify --export")
            && guide.contains("chung-thu/ca-ky-so-cua-truong.crt"),
        "{guide}"
    );
    assert_eq!(manifest["verify"]["readme"], "HUONG-DAN-KIEM-TRA.txt");
    let sig_manifests: Vec<&str> = manifest["verify"]["signature_manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        sig_manifests
            .iter()
            .any(|p| p.starts_with("to-chuyen-mon/"))
            && sig_manifests
                .iter()
                .any(|p| p.starts_with("ke-hoach-bai-day/")),
        "{sig_manifests:?}"
    );
    // The tổ's signature manifest: next to each PDF its signed content; the head's and the
    // principal's keys as of signing.
    let dept_path = *sig_manifests
        .iter()
        .find(|p| p.starts_with("to-chuyen-mon/"))
        .unwrap();
    let dept_dir = copy.join(Path::new(dept_path).parent().unwrap());
    let dept: Value =
        serde_json::from_slice(&std::fs::read(copy.join(dept_path)).unwrap()).unwrap();
    let records = dept["plans"].as_array().unwrap();
    assert_eq!(records.len(), 2, "the demo's PL I and minutes: {dept}");
    for r in records {
        let content = r["content"].as_str().unwrap();
        assert!(content.ends_with(".noi-dung-ky.json"), "{r}");
        let pdf = content.replace(".noi-dung-ky.json", ".pdf");
        assert!(dept_dir.join(&pdf).exists(), "{pdf} next to {content}");
    }
    let signers: Vec<&str> = dept["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(signers.contains(&"Trần Văn Hùng"), "{signers:?}");
    // The school CA for the PAdES files, once any học bạ is signed.
    let ca = copy.join("chung-thu/ca-ky-so-cua-truong.crt");
    let signed_hocba: Vec<&Value> = files
        .iter()
        .filter(|f| f["kind"] == "hoc-ba" && f["signed"] == true)
        .collect();
    assert!(!signed_hocba.is_empty(), "the demo signs 9A1");
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let (code, t) = verify_folder(&copy);
    assert_eq!(code, Some(0), "{t}");
    assert!(
        t.contains(&format!(
            "checked {dept_path}: 2 records, 3 signatures valid"
        )),
        "{t}"
    );
    assert!(t.contains("checked ke-hoach-bai-day/"), "{t}");
    assert!(t.contains(" 0 invalid"), "{t}");
    let n = files.len();
    assert!(t.contains(&format!("{n} of {n} files match")), "{t}");

    if let Some(tool) = pyhanko() {
        let pdf = copy.join(signed_hocba[0]["path"].as_str().unwrap());
        let o = Command::new(tool)
            .args(["sign", "validate", "--no-revocation-check", "--trust"])
            .arg(&ca)
            .arg(&pdf)
            .output()
            .unwrap();
        let h = text(&o);
        assert!(o.status.success(), "{h}");
        assert_eq!(h.matches(":INTACT:TRUSTED,").count(), 2, "{h}");
    } else {
        eprintln!(
            "pyHanko not installed: the PAdES check of the archive is skipped (TRAM_PYHANKO)"
        );
    }

    // One changed byte in the tổ's signed content (a PL I line): INVALID, exit 3.
    let pl1 = records
        .iter()
        .find(|r| r["plan"].as_str().unwrap().starts_with("pl1-"))
        .unwrap();
    let content = dept_dir.join(pl1["content"].as_str().unwrap());
    let good = std::fs::read(&content).unwrap();
    let bad =
        String::from_utf8(good.clone())
            .unwrap()
            .replacen("\"periods\":20", "\"periods\":21", 1);
    assert_ne!(bad.as_bytes(), good.as_slice());
    std::fs::write(&content, bad).unwrap();
    let (code, t) = verify_folder(&copy);
    assert_eq!(code, Some(3), "{t}");
    let id = pl1["plan"].as_str().unwrap();
    assert!(
        t.contains(&format!("INVALID {id} v")) && t.contains("does not match its BLAKE3"),
        "{t}"
    );
    std::fs::write(&content, &good).unwrap();
    assert_eq!(verify_folder(&copy).0, Some(0));

    // A lesson plan's signed content changed.
    let lesson_manifest = *sig_manifests
        .iter()
        .find(|p| p.starts_with("ke-hoach-bai-day/"))
        .unwrap();
    let lm: Value =
        serde_json::from_slice(&std::fs::read(copy.join(lesson_manifest)).unwrap()).unwrap();
    let first = &lm["plans"][0];
    let lc = copy
        .join(Path::new(lesson_manifest).parent().unwrap())
        .join(first["content"].as_str().unwrap());
    let mut bytes = std::fs::read(&lc).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&lc, bytes).unwrap();
    let (code, t) = verify_folder(&copy);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains(&format!("INVALID {} v", first["plan"].as_str().unwrap())),
        "{t}"
    );

    // A signer's key swapped in the tổ's manifest (its hash in manifest.json fixed up, as a
    // forger would): the signature is no longer by a key its signer held.
    let mut forged = dept.clone();
    for k in forged["keys"].as_array_mut().unwrap() {
        for span in k["keys"].as_array_mut().unwrap() {
            span["public_key"] = Value::String("00".repeat(32));
        }
    }
    let forged = serde_json::to_vec_pretty(&forged).unwrap();
    std::fs::write(copy.join(dept_path), &forged).unwrap();
    let mut top = manifest.clone();
    for f in top["files"].as_array_mut().unwrap() {
        if f["path"] == dept_path {
            f["sha256"] = Value::String(hex::encode(sha2::Sha256::digest(&forged)));
            f["size"] = Value::from(forged.len());
        }
    }
    std::fs::write(
        copy.join("manifest.json"),
        serde_json::to_vec(&top).unwrap(),
    )
    .unwrap();
    let (code, t) = verify_folder(&copy);
    assert_eq!(code, Some(3), "{t}");
    assert!(t.contains("the key is not one"), "{t}");
}

fn audit_len(dir: &Path) -> u64 {
    let out = common::tram(&["audit", "verify", "--data-dir", dir.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "audit verify: {t}");
    t.split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count in {t}"))
}

/// Checks a written export against its manifest; the manifest's files.
fn check_folder(out: &Path) -> Vec<Value> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "tram.records.v1");
    assert_eq!(manifest["year"], "2026-2027");
    let files = manifest["files"].as_array().unwrap().clone();
    for f in &files {
        let path = f["path"].as_str().unwrap();
        let bytes = std::fs::read(out.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            hex::encode(sha2::Sha256::digest(&bytes)),
            "{path}"
        );
        assert_eq!(f["size"].as_u64().unwrap(), bytes.len() as u64, "{path}");
        if path.ends_with(".pdf") {
            let title = f["title"].as_str().unwrap();
            assert!(!title.is_empty(), "{path}");
            assert!(pdftotext(&bytes).contains(title), "{path}: no {title:?}");
        }
    }
    // Nothing on disk that the manifest does not list.
    let mut on_disk = 0;
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                on_disk += 1;
            }
        }
    }
    assert_eq!(on_disk, files.len() + 1, "files on disk vs the manifest");
    files
}

#[test]
fn the_records_of_a_year_are_exported_with_their_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Server::start(&data, false);
    let b = s.base();

    // While the server runs: it writes the files (the CLI asks through the control socket).
    let out = tmp.path().join("export");
    let o = export(&data, &out, None);
    assert!(o.status.success(), "{}", text(&o));
    let files = check_folder(&out);
    let of_kind = |k: &str| files.iter().filter(|f| f["kind"] == k).collect::<Vec<_>>();
    // The register as PDF and xlsx; three books (HK I, HK II, the year) per class; every
    // student's học bạ under their class; the lesson plans per department.
    assert_eq!(of_kind("so-dang-bo").len(), 2, "{files:?}");
    let books = of_kind("so-theo-doi-danh-gia");
    assert!(books.len() >= 3 && books.len() % 3 == 0, "{}", books.len());
    assert!(books.iter().all(|f| f["class"].is_string()));
    let classes = books.len() / 3;
    let hocba = of_kind("hoc-ba");
    assert!(hocba.len() > 400, "{}", hocba.len());
    assert!(hocba.iter().all(|f| f["class"].is_string()));
    // Review r14 #10: no file is named by Trạm's internal ids (a student's "hs-…", a plan's
    // "pl1-…", a minutes' "bb-…"): a học bạ by the student's name and mã định danh, a tổ's
    // record by what it is; every name once.
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    for p in &paths {
        let name = p.rsplit('/').next().unwrap();
        let words: Vec<&str> = name.split(['-', '.']).collect();
        assert!(
            !words
                .windows(2)
                .any(|w| ["hs", "pl1", "pl2", "pl3", "bb"].contains(&w[0])
                    && w[1].len() >= 12
                    && w[1].bytes().all(|b| b.is_ascii_alphanumeric())),
            "an internal id in {p}"
        );
    }
    let unique: std::collections::BTreeSet<&&str> = paths.iter().collect();
    assert_eq!(unique.len(), paths.len(), "a name given twice");
    for f in &hocba {
        let name = f["path"].as_str().unwrap().rsplit('/').next().unwrap();
        let stem = name
            .trim_end_matches(".pdf")
            .trim_end_matches("-chua-ky")
            .split("-ky-v")
            .next()
            .unwrap();
        let ma = stem.rsplit('-').next().unwrap();
        assert!(
            ma.len() == 12 && ma.bytes().all(|b| b.is_ascii_digit()),
            "no mã định danh in {name}"
        );
    }
    let lessons = of_kind("ke-hoach-bai-day");
    assert!(!lessons.is_empty());
    // The tổ's records: the demo's approved Phụ lục I and its signed minutes, each under its
    // department (the titles are checked in the PDFs' text by check_folder).
    let plans = of_kind("ke-hoach-to-chuyen-mon");
    let minutes = of_kind("bien-ban-sinh-hoat-chuyen-mon");
    assert_eq!((plans.len(), minutes.len()), (1, 1), "{files:?}");
    assert!(
        plans[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/ke-hoach-pl1-toan-khoi-6-v1.pdf"),
        "{:?}",
        plans[0]
    );
    assert!(
        plans
            .iter()
            .chain(&minutes)
            .all(|f| f["department"].is_string()
                && f["path"].as_str().unwrap().starts_with("to-chuyen-mon/")),
        "{files:?}"
    );
    assert!(lessons.iter().all(|f| f["department"].is_string()));
    // The lessons' signature manifest: every plan's signed content is in the folder with the
    // BLAKE3 the signatures name, and each plan carries its approval signature.
    let sigs = of_kind("ke-hoach-bai-day-chu-ky");
    assert!(!sigs.is_empty());
    for m in &sigs {
        assert_eq!(m["signed"], true);
        let path = out.join(m["path"].as_str().unwrap());
        let dir = path.parent().unwrap();
        let man: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let plans = man["plans"].as_array().unwrap();
        assert!(!plans.is_empty(), "{man}");
        for p in plans {
            let content = std::fs::read(dir.join(p["content"].as_str().unwrap())).unwrap();
            assert_eq!(
                p["blake3"].as_str().unwrap(),
                blake3::hash(&content).to_hex().as_str(),
                "{p}"
            );
            assert!(
                p["signatures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["action"] == "approve"),
                "{p}"
            );
        }
    }

    // Review 25 #3: the folder alone (no database, no box) is enough to check it.
    check_alone(&out, &files);

    // The admin's ZIP: the same files (by path and hash), audited; BGH too; a teacher is refused.
    let admin = s.login("admin");
    let principal = s.login("hieutruong");
    let teacher = s.login("gv01");
    let audit_before = audit_len(&data);
    // The students page offers the download to whom may take it.
    let page = admin
        .get(format!("{b}/admin/students"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(r#"id="records-zip" href="/api/v1/export/records.zip""#),
        "no archive link on /admin/students"
    );
    let r = admin
        .get(format!("{b}/api/v1/export/records.zip"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().unwrap().to_vec();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut manifest = String::new();
    z.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    let zfiles = manifest["files"].as_array().unwrap();
    assert_eq!(z.len(), zfiles.len() + 1);
    // The same records (the xlsx and the lessons' manifest carry their creation time, so their
    // bytes differ from the folder's; each is checked against its own manifest below).
    let paths = |v: &[Value]| {
        let mut p: Vec<String> = v
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        p.sort();
        p
    };
    assert!(paths(zfiles) == paths(&files), "the ZIP lists other files");
    for f in zfiles {
        let mut bytes = Vec::new();
        z.by_name(f["path"].as_str().unwrap())
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            hex::encode(sha2::Sha256::digest(&bytes))
        );
    }
    let r = principal
        .get(format!("{b}/api/v1/export/records.zip?year=2026-2027"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = teacher
        .get(format!("{b}/api/v1/export/records.zip"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .get(format!("{b}/api/v1/export/records.zip?year=2026"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(s.stop().success());
    // Two downloads, two audit events (the refused ones none).
    assert_eq!(audit_len(&data), audit_before + 2);

    // With the server stopped the CLI opens the database itself: the same list.
    let out2 = tmp.path().join("export-offline");
    let o = export(&data, &out2, Some("2026-2027"));
    assert!(o.status.success(), "{}", text(&o));
    let files2 = check_folder(&out2);
    assert_eq!(files2.len(), files.len());
    assert_eq!(classes * 3, books.len());

    // A year with no records: a manifest with no files, a clear line, exit 0.
    let empty = tmp.path().join("empty");
    let o = export(&data, &empty, Some("2020-2021"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no records"), "{}", text(&o));
    let m: Value =
        serde_json::from_slice(&std::fs::read(empty.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["files"].as_array().unwrap().len(), 0);
    assert!(
        m["message"].as_str().unwrap().contains("chưa có hồ sơ"),
        "{m}"
    );
    // A year that is not one: refused, nothing written.
    let bad = tmp.path().join("bad");
    let o = export(&data, &bad, Some("2026"));
    assert!(!o.status.success());
    assert!(!bad.exists());
}
