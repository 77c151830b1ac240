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
    let lessons = of_kind("ke-hoach-bai-day");
    assert!(!lessons.is_empty());
    // The tổ's records: the demo's approved Phụ lục I and its signed minutes, each under its
    // department (the titles are checked in the PDFs' text by check_folder).
    let plans = of_kind("ke-hoach-to-chuyen-mon");
    let minutes = of_kind("bien-ban-sinh-hoat-chuyen-mon");
    assert_eq!((plans.len(), minutes.len()), (1, 1), "{files:?}");
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
