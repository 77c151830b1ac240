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
use serde_json::{Value, json};
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
            && guide.contains("--expect-fingerprint")
            && guide.contains("tram district verify-export")
            && guide.contains("chung-thu/ca-ky-so-cua-truong.crt"),
        "{guide}"
    );
    // The guide prints no fingerprint (review r16 #4): a forger edits the folder's files, so the
    // only fingerprint a reader should hold is the district's.
    let fp = manifest["box"]["fingerprint"].as_str().unwrap();
    assert!(
        !guide.contains(&format!("{} {}", &fp[..4], &fp[4..8])) && !guide.contains(fp),
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
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    // The same CA under its number too, a name no later renewal changes (review r17 #9), and
    // the guide's pyHanko command trusts it by that name.
    assert_eq!(
        std::fs::read(copy.join("chung-thu/ca-ky-so-cua-truong-1.crt")).unwrap(),
        std::fs::read(&ca).unwrap()
    );
    assert!(!copy.join("chung-thu/ca-ky-so-cua-truong-2.crt").exists());
    assert!(
        guide.contains("--trust chung-thu/ca-ky-so-cua-truong-1.crt"),
        "{guide}"
    );

    // No fingerprint given: consistent with itself, exit 2 and a last line that says it was
    // not compared with the school's key (review r16 #4).
    let (code, t) = verify_folder(&copy);
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("NOT VERIFIED against the school's key: pass --expect-fingerprint"),
        "{t}"
    );
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
    assert_eq!(verify_folder(&copy).0, Some(2));

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

/// The showcase year's archive copied away from the box: the demo's signed 9A1 (last year's)
/// is in it, each học bạ signed by its GVCN and the principal, valid against the school CA in
/// chung-thu/ (pyHanko, when there).
fn check_signed_hocba(out: &Path, files: &[Value]) {
    let signed_hocba: Vec<&Value> = files
        .iter()
        .filter(|f| f["kind"] == "hoc-ba" && f["signed"] == true)
        .collect();
    assert_eq!(signed_hocba.len(), 40, "the demo signs last year's 9A1");
    assert!(
        signed_hocba
            .iter()
            .all(|f| f["path"].as_str().unwrap().starts_with("hoc-ba/9a1/"))
    );
    let ca = out.join("chung-thu/ca-ky-so-cua-truong.crt");
    if let Some(tool) = pyhanko() {
        let pdf = out.join(signed_hocba[0]["path"].as_str().unwrap());
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
    check_folder_of(out, &common::demo_year())
}

/// [`check_folder`] for an export of `year`.
fn check_folder_of(out: &Path, year: &str) -> Vec<Value> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "tram.records.v2");
    assert_eq!(manifest["year"], year);
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
    // manifest.json and the box's signature of it, manifest.sig.
    assert_eq!(on_disk, files.len() + 2, "files on disk vs the manifest");
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
    // Review r21 #2: nothing of this year is signed yet; last year's archive holds the demo's
    // signed 9A1.
    assert!(
        !files
            .iter()
            .any(|f| f["kind"] == "hoc-ba" && f["signed"] == true),
        "a signed học bạ of the current year"
    );
    let last = tmp.path().join("ho-so-nam-truoc");
    let o = export(&data, &last, Some(&common::showcase_year()));
    assert!(o.status.success(), "{}", text(&o));
    check_signed_hocba(&last, &check_folder_of(&last, &common::showcase_year()));
    forged_archives(&out, tmp.path());

    // Review r14 #6a: exported again into the same folder — its own earlier export — it is
    // written over; a file of someone else's in it is kept and named; a folder holding
    // something else is refused with nothing written.
    std::fs::write(out.join("ghi-chu-cua-van-thu.txt"), "giữ lại").unwrap();
    let o = export(&data, &out, None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("left 1 file(s) in the folder that no export of this box listed")
            && text(&o).contains("ghi-chu-cua-van-thu.txt"),
        "{}",
        text(&o)
    );
    assert!(out.join("ghi-chu-cua-van-thu.txt").exists());
    std::fs::remove_file(out.join("ghi-chu-cua-van-thu.txt")).unwrap();
    let elsewhere = tmp.path().join("tai-lieu");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("bao-cao.docx"), "x").unwrap();
    let o = export(&data, &elsewhere, None);
    assert!(!o.status.success());
    assert!(text(&o).contains("is not empty"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1);

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
        // A whole year's archive: more than the client's 30 s on a loaded test machine.
        .timeout(std::time::Duration::from_secs(300))
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
    assert_eq!(z.len(), zfiles.len() + 2);
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
    // Review r14 #7: the ZIP is checked as a ZIP, as the folder is, box signature included.
    let zip_file = tmp.path().join("ho-so.zip");
    std::fs::write(&zip_file, z.into_inner().into_inner()).unwrap();
    let (code, t) = verify_with(
        &zip_file,
        &[
            "--expect-fingerprint",
            manifest["box"]["fingerprint"].as_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{t}");
    let n = zfiles.len();
    assert!(t.contains(&format!("{n} of {n} files match")), "{t}");
    assert!(t.contains("(the expected one"), "{t}");
    let r = principal
        .get(format!(
            "{b}/api/v1/export/records.zip?year={}",
            common::demo_year()
        ))
        // A whole year's archive: more than the client's 30 s on a loaded test machine.
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = teacher
        .get(format!("{b}/api/v1/export/records.zip"))
        // A whole year's archive: more than the client's 30 s on a loaded test machine.
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .get(format!("{b}/api/v1/export/records.zip?year=2026"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().unwrap();
    assert_eq!(e["error"]["code"], "bad_filter", "{e}");
    // A well-formed year long past holds nothing: an archive of its (empty) records, not a
    // server error (review r24 #6).
    let r = admin
        .get(format!("{b}/api/v1/export/records.zip?year=1999-2000"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Three downloads, three audit events (the refused ones none).
    assert_eq!(audit_len(&data), audit_before + 3);

    // Review r16 #8: the tổ's head corrects the demo's signed minutes (a new version, signed
    // again). Exported again into the same folder, both signed versions are there with their
    // signatures, the newest marked current; the archive still verifies against the school's
    // key.
    let api = format!("{b}/api/v1/dept");
    let list: Value = principal
        .get(format!("{api}/minutes"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = list["minutes"][0]["id"].as_str().unwrap().to_string();
    let department = list["minutes"][0]["department"].as_str().unwrap();
    let accounts: Value = admin
        .get(format!("{b}/api/v1/accounts"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let head = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["department"] == department
                && a["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == "dept_head")
        })
        .unwrap()["username"]
        .as_str()
        .unwrap()
        .to_string();
    let head = s.login(&head);
    let d: Value = head
        .get(format!("{api}/minutes/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let v1 = &d["versions"][0];
    let date = v1["date"].as_str().unwrap().to_string();
    let corrected = serde_json::json!({"date": date, "attendees": v1["attendees"],
        "agenda": v1["agenda"], "content": v1["content"],
        "conclusions": "Thống nhất kế hoạch; bổ sung: dự giờ tuần 6."});
    let r = head
        .post(format!("{api}/minutes/{id}/correct"))
        .json(&corrected)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = head
        .post(format!("{api}/minutes/{id}/sign"))
        .json(&serde_json::json!({"secret": common::DEMO_PIN}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let o = export(&data, &out, None);
    assert!(o.status.success(), "{}", text(&o));
    let again = check_folder(&out);
    let minutes_files: Vec<&Value> = again
        .iter()
        .filter(|f| f["kind"] == "bien-ban-sinh-hoat-chuyen-mon")
        .collect();
    let stem = format!("bien-ban-{date}-v");
    let by_version = |n: u32| {
        minutes_files
            .iter()
            .find(|f| {
                f["path"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{stem}{n}.pdf"))
            })
            .unwrap_or_else(|| panic!("no minutes v{n} in {minutes_files:?}"))
    };
    assert_eq!(minutes_files.len(), 2, "{minutes_files:?}");
    assert_eq!(by_version(1)["current"], false);
    assert_eq!(by_version(2)["current"], true);
    assert!(
        pdftotext(&std::fs::read(out.join(by_version(1)["path"].as_str().unwrap())).unwrap())
            .contains("Phân công dự giờ tuần sau"),
        "the first signed version as it was signed"
    );
    assert_eq!(again.len(), files.len() + 2, "v2's PDF and signed content");
    let guide = std::fs::read_to_string(out.join("HUONG-DAN-KIEM-TRA.txt")).unwrap();
    assert!(
        guide.contains("\"current\": true") && guide.contains("trang đính chính"),
        "{guide}"
    );
    let fingerprint = json_at(&out.join("manifest.json"))["box"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, t) = verify_with(&out, &["--expect-fingerprint", &fingerprint]);
    assert_eq!(code, Some(0), "{t}");
    let dept_sigs = again
        .iter()
        .find(|f| f["kind"] == "to-chuyen-mon-chu-ky")
        .unwrap()["path"]
        .as_str()
        .unwrap();
    assert!(
        t.contains(&format!(
            "checked {dept_sigs}: 3 records, 4 signatures valid"
        )),
        "{t}"
    );
    assert!(s.stop().success());

    // With the server stopped the CLI opens the database itself: the same list.
    let out2 = tmp.path().join("export-offline");
    let o = export(&data, &out2, Some(&common::demo_year()));
    assert!(o.status.success(), "{}", text(&o));
    let files2 = check_folder(&out2);
    assert_eq!(files2.len(), again.len());
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

/// `tram lessons verify --export PATH` with more arguments.
fn verify_with(path: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(bin())
        .args(["lessons", "verify", "--export"])
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    (o.status.code(), text(&o))
}

fn copy_of(out: &Path, to: &Path) -> std::path::PathBuf {
    let st = Command::new("cp")
        .arg("-r")
        .arg(out)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
    to.to_path_buf()
}

fn json_at(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Writes `v` to `p` and sets its SHA-256 and size in the archive's manifest `top`.
fn put(dir: &Path, top: &mut Value, rel: &str, bytes: &[u8]) {
    std::fs::write(dir.join(rel), bytes).unwrap();
    let mut found = false;
    for f in top["files"].as_array_mut().unwrap() {
        if f["path"] == rel {
            f["sha256"] = Value::String(hex::encode(sha2::Sha256::digest(bytes)));
            f["size"] = Value::from(bytes.len());
            found = true;
        }
    }
    assert!(found, "{rel} not in the manifest");
}

/// Saves the archive's manifest.json; with `key`, as a forger with a box key of their own
/// would: the manifest names that key and manifest.sig is its signature.
fn save_top(dir: &Path, top: &mut Value, key: Option<&ed25519_dalek::SigningKey>) {
    use ed25519_dalek::Signer as _;
    if let Some(k) = key {
        let pk = k.verifying_key().to_bytes();
        top["box"] = serde_json::json!({
            "public_key": hex::encode(pk),
            "fingerprint": hex::encode(sha2::Sha256::digest(pk)),
        });
    }
    let bytes = serde_json::to_vec_pretty(top).unwrap();
    std::fs::write(dir.join("manifest.json"), &bytes).unwrap();
    if let Some(k) = key {
        let mut msg = b"tram.records.v2 manifest.json\n".to_vec();
        msg.extend_from_slice(&bytes);
        let pk = hex::encode(k.verifying_key().to_bytes());
        let sig = serde_json::json!({
            "format": "tram.records-signature/1",
            "algorithm": "Ed25519",
            "signed": "manifest.json",
            "message": "",
            "public_key": pk,
            "fingerprint": "",
            "signature": hex::encode(k.sign(&msg).to_bytes()),
        });
        std::fs::write(dir.join("manifest.sig"), sig.to_string()).unwrap();
    }
}

/// Re-signs every signature of `by` in the signature manifest `m` (a tổ's or the lesson
/// plans') with `key` over the records' current BLAKE3, and lists that key for them there:
/// what a forger does after changing a signed record.
fn resign(m: &mut Value, by: &str, key: &ed25519_dalek::SigningKey) -> Value {
    use ed25519_dalek::Signer as _;
    let pk = hex::encode(key.verifying_key().to_bytes());
    for p in m["plans"].as_array_mut().unwrap() {
        let digest = p["blake3"].as_str().unwrap().to_string();
        for s in p["signatures"].as_array_mut().unwrap() {
            if s["by"] != by {
                continue;
            }
            let st = s["statement"].as_str().unwrap();
            let head = &st[..st.find("blake3: ").unwrap()];
            let statement = format!("{head}blake3: {digest}\n");
            s["signature"] = Value::String(hex::encode(key.sign(statement.as_bytes()).to_bytes()));
            s["statement"] = Value::String(statement);
            s["public_key"] = Value::String(pk.clone());
        }
    }
    let mut span = Value::Null;
    for k in m["keys"].as_array_mut().unwrap() {
        if k["by"] == by {
            for s in k["keys"].as_array_mut().unwrap() {
                s["public_key"] = Value::String(pk.clone());
                span = s.clone();
            }
        }
    }
    span
}

/// Review r14 #1: a folder changed by someone who re-signs what they changed with keys of
/// their own is told apart from the school's — the box signs manifest.json with the device
/// key the hub enrolled, each signer's key is held to the signed list and compared across
/// every signature manifest, and the fingerprint is held to the one the district holds.
fn forged_archives(out: &Path, tmp: &Path) {
    let real = json_at(&out.join("manifest.json"));
    let fingerprint = real["box"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.len(), 64, "{real}");
    let grouped: String = fingerprint
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    // The genuine folder: the fingerprint printed, with what it proves; held to the right
    // one (typed, or as a key file) it passes, to a wrong one it fails.
    let (code, t) = verify_with(out, &[]);
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("consistent with itself only\nNOT VERIFIED"),
        "{t}"
    );
    assert!(
        t.contains(&format!("box key fingerprint: {grouped}")),
        "{t}"
    );
    assert!(
        t.contains("only if it is the fingerprint the district holds"),
        "{t}"
    );
    let (code, t) = verify_with(out, &["--expect-fingerprint", &grouped]);
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("(the expected one"), "{t}");
    assert!(!t.contains("NOT VERIFIED"), "{t}");
    let keyfile = tmp.join("khoa-truong.txt");
    std::fs::write(&keyfile, real["box"]["public_key"].as_str().unwrap()).unwrap();
    let (code, t) = verify_with(out, &["--school-key", keyfile.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{t}");
    // Another digit at the end, whatever the real one is (a fixed "0" matched a key
    // whose fingerprint ended in 0: one CI run in sixteen).
    let last = if fingerprint.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &fingerprint[..63]);
    let (code, t) = verify_with(out, &["--expect-fingerprint", &wrong]);
    assert_eq!(code, Some(3), "{t}");
    assert!(t.contains("not the expected"), "{t}");
    let (code, t) = verify_with(out, &["--expect-fingerprint", "abc"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("64 hex digits"), "{t}");

    // The review's forgery: the tổ's PL I changed and re-signed with fresh keys for its
    // signers, the new keys in its chu-ky.json, the SHA-256 in manifest.json fixed up.
    let dept_rel = "to-chuyen-mon/to-toan-tin/chu-ky.json";
    let dir = copy_of(out, &tmp.join("gia-1"));
    let mut top = json_at(&dir.join("manifest.json"));
    let mut dept = json_at(&dir.join(dept_rel));
    let pl1 = dept["plans"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["plan"].as_str().unwrap().starts_with("pl1-"))
        .unwrap();
    let content_rel = format!(
        "to-chuyen-mon/to-toan-tin/{}",
        dept["plans"][pl1]["content"].as_str().unwrap()
    );
    let changed = String::from_utf8(std::fs::read(dir.join(&content_rel)).unwrap())
        .unwrap()
        .replacen("\"periods\":20", "\"periods\":21", 1);
    put(&dir, &mut top, &content_rel, changed.as_bytes());
    dept["plans"][pl1]["blake3"] =
        Value::String(blake3::hash(changed.as_bytes()).to_hex().to_string());
    let signers: Vec<String> = dept["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["by"].as_str().unwrap().to_string())
        .collect();
    let mut spans = Vec::new();
    for by in &signers {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        spans.push((by.clone(), resign(&mut dept, by, &key)));
    }
    put(
        &dir,
        &mut top,
        dept_rel,
        &serde_json::to_vec_pretty(&dept).unwrap(),
    );
    save_top(&dir, &mut top, None);
    let (code, t) = verify_with(&dir, &[]);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains("INVALID manifest.sig: the box's signature over manifest.json does not verify"),
        "{t}"
    );
    // … and manifest.json signed again with a box key of the forger's own: the principal's
    // key in this tổ is not hers in every other signature manifest.
    let forger = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    save_top(&dir, &mut top, Some(&forger));
    let (code, t) = verify_with(&dir, &[]);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains("is not a key the signed manifest.json lists"),
        "{t}"
    );
    // … and the forged keys added to the signed key list too: the same person with two keys
    // over one period, between this tổ and the lesson plans'.
    for (by, span) in &spans {
        for k in top["signer_keys"].as_array_mut().unwrap() {
            if k["by"] == by.as_str() {
                k["keys"].as_array_mut().unwrap().push(span.clone());
            }
        }
    }
    save_top(&dir, &mut top, Some(&forger));
    let (code, t) = verify_with(&dir, &[]);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains(
            "Trần Văn Hùng (u-hieutruong) has two different signing keys for the same period"
        ),
        "{t}"
    );
    assert!(
        !t.contains(&grouped),
        "the forger's fingerprint is shown, not the box's: {t}"
    );
    // Whatever else a forger makes consistent, the district's fingerprint is not theirs.
    let (code, t) = verify_with(&dir, &["--expect-fingerprint", &fingerprint]);
    assert_eq!(code, Some(3), "{t}");
    assert!(t.contains("not the expected"), "{t}");

    // A printed PDF swapped for another (the minutes' in place of the PL I's), its SHA-256
    // fixed up in manifest.json: the box's signature no longer holds.
    let dir = copy_of(out, &tmp.join("gia-2"));
    let mut top = json_at(&dir.join("manifest.json"));
    let pdfs: Vec<String> = top["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .filter(|p| p.starts_with("to-chuyen-mon/") && p.ends_with(".pdf"))
        .collect();
    assert_eq!(pdfs.len(), 2, "{pdfs:?}");
    let other = std::fs::read(dir.join(&pdfs[1])).unwrap();
    put(&dir, &mut top, &pdfs[0], &other);
    save_top(&dir, &mut top, None);
    let (code, t) = verify_with(&dir, &[]);
    assert_eq!(code, Some(3), "{t}");
    assert!(t.contains("INVALID manifest.sig"), "{t}");
    // The box's own key with a signature that no longer verifies: the signature failure alone,
    // not "signed by X, not the expected X" (review r16 #9).
    let (code, t) = verify_with(&dir, &["--expect-fingerprint", &fingerprint]);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains("INVALID manifest.sig: the box's signature over manifest.json does not verify")
            && !t.contains("not the expected"),
        "{t}"
    );

    // Only the principal's key swapped in one tổ's manifest (the box key the forger's): her
    // key differs between two signature manifests.
    let dir = copy_of(out, &tmp.join("gia-3"));
    let mut top = json_at(&dir.join("manifest.json"));
    let mut dept = json_at(&dir.join(dept_rel));
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let span = resign(&mut dept, "u-hieutruong", &key);
    put(
        &dir,
        &mut top,
        dept_rel,
        &serde_json::to_vec_pretty(&dept).unwrap(),
    );
    for k in top["signer_keys"].as_array_mut().unwrap() {
        if k["by"] == "u-hieutruong" {
            k["keys"].as_array_mut().unwrap().push(span.clone());
        }
    }
    save_top(&dir, &mut top, Some(&forger));
    let (code, t) = verify_with(&dir, &[]);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains("has two different signing keys") && t.contains(dept_rel),
        "{t}"
    );

    // A file put into the folder that the manifest does not list: named and INVALID (review r16
    // #5: a forged "newer signed version" beside the real one is what a reader would pick up).
    let dir = copy_of(out, &tmp.join("them-tep"));
    std::fs::write(
        dir.join("to-chuyen-mon/to-toan-tin/bb-gia.pdf"),
        b"%PDF-1.4",
    )
    .unwrap();
    let (code, t) = verify_with(&dir, &[]);
    assert_eq!(code, Some(3), "{t}");
    assert!(
        t.contains("UNLISTED to-chuyen-mon/to-toan-tin/bb-gia.pdf"),
        "{t}"
    );
}

/// The demo lives in the school year of the day it first runs: a box started on 15/10/2028
/// (libfaketime) is a 2028-2029 school — its lesson plans pass the current-or-next-year check,
/// the showcase 9A1 of 2027-2028 (last year) is locked and signed, the class pages open, the
/// records archive of 2028-2029 verifies against the box's key and holds no signed học bạ,
/// and the archive of 2027-2028 holds 9A1's.
#[test]
fn the_demo_started_in_october_2028_is_a_2028_2029_school() {
    let Some(lib) = common::libfaketime() else {
        eprintln!("SKIPPED: libfaketime is not installed (apt install faketime)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Server::start_env(
        &data,
        false,
        &[],
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME", "@2028-10-15 03:00:00"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("TZ", "UTC"),
        ],
    );
    let b = s.base();
    let year = tram::demo::DemoYear { start: 2028 };
    let bgh = s.login("hieutruong");
    let school: Value = bgh
        .get(format!("{b}/api/v1/school"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(school["school"]["current_year"], "2028-2029", "{school}");
    for name in [tram::demo::SIGNED_CLASS, tram::demo::COMPLETE_CLASS] {
        let id = year.previous().class_id(name);
        let r = bgh.get(format!("{b}/grades/class/{id}")).send().unwrap();
        assert_eq!(r.status(), 200, "{id}");
        let page = r.text().unwrap();
        assert!(page.contains(name), "{id}");
    }
    // The lesson plans were made in this month and the last (the seeding's check of their date
    // passed), and some were approved.
    let plans: Value = bgh
        .get(format!("{b}/api/v1/lessons/plans"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let plans = plans["plans"].as_array().unwrap();
    assert!(
        plans
            .iter()
            .any(|p| p["teach_on"].as_str().unwrap().starts_with("2028-")),
        "{plans:?}"
    );
    let out = tmp.path().join("ho-so-2028");
    let o = export(&data, &out, None);
    assert!(o.status.success(), "{}", text(&o));
    let manifest = json_at(&out.join("manifest.json"));
    assert_eq!(manifest["year"], "2028-2029");
    let files = manifest["files"].as_array().unwrap();
    assert!(
        !files
            .iter()
            .any(|f| f["kind"] == "hoc-ba" && f["signed"] == true),
        "a signed học bạ of 2028-2029 in October"
    );
    assert!(files.iter().any(|f| f["kind"] == "ke-hoach-to-chuyen-mon"));
    assert!(
        files
            .iter()
            .any(|f| f["kind"] == "bien-ban-sinh-hoat-chuyen-mon")
    );
    let fingerprint = manifest["box"]["fingerprint"].as_str().unwrap();
    let (code, t) = verify_with(&out, &["--expect-fingerprint", fingerprint]);
    assert_eq!(code, Some(0), "{t}");
    let last = tmp.path().join("ho-so-2027");
    let o = export(&data, &last, Some("2027-2028"));
    assert!(o.status.success(), "{}", text(&o));
    let manifest = json_at(&last.join("manifest.json"));
    assert_eq!(manifest["year"], "2027-2028");
    assert!(
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "hoc-ba"
                && f["signed"] == true
                && f["path"].as_str().unwrap().starts_with("hoc-ba/9a1/")),
        "9A1's signed học bạ"
    );
}

fn post(c: &reqwest::blocking::Client, url: &str, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Review r20 #7: a lesson plan approved, amended and approved again keeps both approved
/// versions in the archive — `plans/<id>-v1` and `-v2`, both in the manifests with their
/// hashes, the earlier marked not current and its PDF page saying which version replaced it
/// and when — and a re-export into the same folder removes neither.
#[test]
fn every_approved_version_of_a_lesson_plan_is_archived() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Server::start(&data, false);
    let b = s.base();
    let api = format!("{b}/api/v1/lessons");
    let principal = s.login("hieutruong");
    let plans: Value = principal
        .get(format!("{api}/plans"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    // The demo's plan approved as version 1 and being amended as version 2.
    let amended = plans["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["approved_version"] == 1 && p["version"] == 2)
        .unwrap_or_else(|| panic!("no amended demo plan: {plans}"))
        .clone();
    let id = amended["id"].as_str().unwrap();
    let teacher = s.login(&common::username_of(
        &s,
        amended["teacher"].as_str().unwrap(),
    ));
    let (st, r) = post(
        &teacher,
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": common::DEMO_PIN}),
    );
    assert_eq!(st, 200, "{r}");
    let (st, r) = post(
        &principal,
        &format!("{api}/plans/{id}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(st, 200, "{r}");
    let (st, r) = post(
        &principal,
        &format!("{api}/plans/{id}/approve"),
        json!({"secret": common::DEMO_PIN}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["plan"]["approved_version"], 2, "{r}");

    let out = tmp.path().join("export");
    for round in 0..2 {
        // The second round writes into the folder of the first (a re-export).
        let o = export(&data, &out, None);
        assert!(o.status.success(), "round {round}: {}", text(&o));
        let files = check_folder(&out);
        let content = |n: u32| {
            files
                .iter()
                .find(|f| {
                    f["path"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!("/plans/{id}-v{n}/content.json"))
                })
                .unwrap_or_else(|| panic!("round {round}: no v{n} of {id}: {files:?}"))
        };
        assert_eq!(content(1)["current"], false, "{:?}", content(1));
        assert_eq!(content(2)["current"], true, "{:?}", content(2));
        // Both versions in the tổ's signature manifest, each with its signed content's BLAKE3.
        let m_path = content(1)["path"]
            .as_str()
            .unwrap()
            .split("/plans/")
            .next()
            .unwrap()
            .to_string();
        let man: Value = serde_json::from_slice(
            &std::fs::read(out.join(&m_path).join("manifest.json")).unwrap(),
        )
        .unwrap();
        for n in [1, 2] {
            let p = man["plans"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["plan"] == id && p["version"] == n)
                .unwrap_or_else(|| panic!("v{n} not in {m_path}/manifest.json"));
            let bytes =
                std::fs::read(out.join(&m_path).join(p["content"].as_str().unwrap())).unwrap();
            assert_eq!(
                p["blake3"].as_str().unwrap(),
                blake3::hash(&bytes).to_hex().as_str(),
                "v{n}"
            );
            assert!(
                p["signatures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["action"] == "approve"),
                "v{n} approved: {p}"
            );
        }
        // The month's PDF prints the earlier version with what replaced it.
        let month_pdf = files
            .iter()
            .filter(|f| f["kind"] == "ke-hoach-bai-day")
            .map(|f| pdftotext(&std::fs::read(out.join(f["path"].as_str().unwrap())).unwrap()))
            .find(|t| t.contains("Đã được thay bằng phiên bản 2, phê duyệt lúc"))
            .unwrap_or_else(|| panic!("no PDF says v1 was replaced"));
        assert!(month_pdf.contains("phiên bản 1"), "{month_pdf}");
        assert!(month_pdf.contains("phiên bản 2"), "{month_pdf}");
        let (code, report) = verify_folder(&out);
        assert_eq!(code, Some(2), "consistent, not anchored: {report}");
        assert!(!report.contains("INVALID"), "{report}");
    }
}
