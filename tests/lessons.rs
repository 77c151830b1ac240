//! Lesson plans against the real binary: a teacher makes a signing key, writes a plan with an
//! attachment (uploaded in chunks), signs and submits it; the department head reviews, the
//! principal signs the approval; a waiting dashboard learns of each step at once; `tram lessons
//! verify` counts the signatures while the server runs and names the plan whose file changed;
//! the exported ZIP verifies offline; an approved plan is published to the library.

mod common;

use std::time::{Duration, Instant};

use common::{DEMO_PIN, Server, csrf, tram};
use serde_json::{Value, json};

/// The lesson dashboard's JSON (`query`: "" or "?month=…").
fn dashboard(c: &reqwest::blocking::Client, base: &str, query: &str) -> Value {
    c.get(format!("{base}/api/v1/lessons/dashboard{query}"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn post(c: &reqwest::blocking::Client, url: &str, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn write_sign_review_approve_verify_export_publish() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path(), false);
    let base = srv.base();
    let api = format!("{base}/api/v1/lessons");
    let teacher = srv.login("gv04");
    let head = srv.login("gv01");
    let other_head = srv.login("gv07");
    let principal = srv.login("hieutruong");

    // The demo holds plans in every state, every signature valid.
    let out = tram(&[
        "lessons",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    let demo_valid: usize = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(demo_valid > 20, "{text}");
    let plans: Value = principal
        .get(format!("{api}/plans"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for st in ["draft", "submitted", "reviewed", "returned", "approved"] {
        assert!(
            plans["plans"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["state"] == st),
            "demo has a {st} plan"
        );
    }

    // A signing key: a short PIN is refused, then made.
    let (s, e) = post(&teacher, &format!("{api}/key"), json!({"secret": "123"}));
    assert_eq!(s, 422, "{e}");
    // A trivial one too, named as such: digits only, not a run, a repeat or one digit.
    for weak in ["123456", "111111", "121212", "abcdef"] {
        let (s, e) = post(
            &teacher,
            &format!("{api}/key"),
            json!({"secret": weak, "confirm": weak}),
        );
        assert_eq!(s, 422, "{weak}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("chữ số")
                || e["error"]["message"].as_str().unwrap().contains("dễ đoán"),
            "{e}"
        );
    }
    let (s, _) = post(
        &teacher,
        &format!("{api}/key"),
        json!({"secret": "58164027", "confirm": "58164027"}),
    );
    assert_eq!(s, 201);

    // A plan with an attachment.
    let subjects: Value = teacher
        .get(format!("{base}/api/v1/subjects"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let khtn = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Khoa học tự nhiên")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, r) = post(
        &teacher,
        &format!("{api}/plans"),
        json!({"title": "Bài 9. Sự đa dạng của chất", "subject": khtn, "grade": 6,
               "periods": 2, "teach_on": common::term_iso(common::month_without_demo_plans(), 21),
               "fields": {"knowledge": "Nêu được sự đa dạng của chất."}}),
    );
    assert_eq!(s, 201, "{r}");
    let id = r["plan"]["id"].as_str().unwrap().to_string();
    // Wrong types and sizes are refused before any byte is sent.
    for (name, size, why) in [
        ("setup.exe", 10, "loại tệp"),
        ("sach.epub", 10, "không nhận"),
        ("video.mp4", 600 << 20, "quá lớn"),
    ] {
        let (s, e) = post(
            &teacher,
            &format!("{api}/uploads"),
            json!({"name": name, "size": size}),
        );
        assert_eq!(s, 422, "{name}: {e}");
        assert!(e.to_string().contains(why), "{name}: {e}");
    }
    let mut doc = b"%PDF-1.4\n".to_vec();
    doc.extend((0..3_000_000u32).map(|i| (i % 253) as u8));
    let (s, up) = post(
        &teacher,
        &format!("{api}/uploads"),
        json!({"name": "Phiếu học tập.pdf", "size": doc.len()}),
    );
    assert_eq!(s, 201, "{up}");
    let upload = up["id"].as_str().unwrap().to_string();
    let mut offset = 0;
    for chunk in doc.chunks(1 << 20) {
        let r = teacher
            .patch(format!("{base}/api/v1/library/uploads/{upload}"))
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .header(
                "X-CSRF-Token",
                csrf(&teacher, &base), // chunks are not JSON: the CSRF token is needed
            )
            .body(chunk.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        offset += chunk.len();
    }
    let (s, r) = post(
        &teacher,
        &format!("{api}/plans/{id}/files"),
        json!({"upload": upload}),
    );
    assert_eq!(s, 200, "{r}");
    let blob = blake3::hash(&doc).to_hex().to_string();

    // Someone waits on the dashboard's long-poll while the plan moves.
    let generation = |c: &reqwest::blocking::Client| -> u64 {
        c.get(format!("{api}/dashboard"))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["generation"]
            .as_u64()
            .unwrap()
    };
    let g0 = generation(&principal);
    let waiter = {
        let c = principal.clone();
        let url = format!("{api}/changes?after={g0}");
        std::thread::spawn(move || {
            let t = Instant::now();
            let v: Value = c.get(url).send().unwrap().json().unwrap();
            (v["generation"].as_u64().unwrap(), t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // Submitting: the wrong PIN changes nothing; the right one signs.
    let (s, e) = post(
        &teacher,
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": "sai-ma-pin"}),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("wrong_secret"))
    );
    let (s, r) = post(
        &teacher,
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": "58164027"}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["plan"]["state"], "submitted");
    let (g1, waited) = waiter.join().unwrap();
    assert!(g1 > g0);
    assert!(waited < Duration::from_secs(20), "answered on the change");

    // Approving before review, another department's head, then the right head.
    let (s, e) = post(
        &principal,
        &format!("{api}/plans/{id}/approve"),
        json!({"secret": DEMO_PIN}),
    );
    assert_eq!(s, 409, "{e}");
    let (s, _) = post(
        &other_head,
        &format!("{api}/plans/{id}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(s, 403);
    let (s, r) = post(
        &head,
        &format!("{api}/plans/{id}/review"),
        json!({"decision": "pass", "comment": "Đạt yêu cầu."}),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = post(
        &principal,
        &format!("{api}/plans/{id}/approve"),
        json!({"secret": DEMO_PIN}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["plan"]["state"], "approved");
    let page = principal
        .get(format!("{base}/lessons/plan/{id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        page.matches("Đã ký").count(),
        2,
        "two valid signatures shown"
    );
    assert!(!page.contains("KHÔNG hợp lệ"));
    assert!(
        page.contains("BLAKE3"),
        "BGH see the details the verify page checks"
    );
    // The teacher sees who signed and when, not hashes and key ids (issue 24 item 5).
    let mine = teacher
        .get(format!("{base}/lessons/plan/{id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let sigs = mine
        .split("<ul id=\"signatures\">")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .expect("the signatures");
    assert_eq!(sigs.matches("Đã ký").count(), 2, "{sigs}");
    assert!(
        !mine.contains("BLAKE3") && !sigs.contains("<code>"),
        "{sigs}"
    );

    // The CLI while the server runs: every signature valid, two more than the demo's.
    let data = dir.path().to_str().unwrap();
    let out = tram(&["lessons", "verify", "--data-dir", data]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with(&format!("{} valid", demo_valid + 2)),
        "{text}"
    );

    // The month's export: a PDF, and a ZIP that verifies offline.
    let pdf = principal
        .get(format!(
            "{base}/lessons/export.pdf?month={}",
            common::term_month(common::month_without_demo_plans())
        ))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let pdf_path = dir.path().join("thang.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let txt = std::process::Command::new("pdftotext")
        .arg(&pdf_path)
        .arg("-")
        .output()
        .unwrap();
    let txt = String::from_utf8_lossy(&txt.stdout);
    assert!(txt.contains("SỰ ĐA DẠNG CỦA CHẤT"), "{txt}");
    assert!(txt.contains("Hiệu trưởng ký duyệt"), "{txt}");
    let zip = principal
        .get(format!(
            "{base}/lessons/export.zip?month={}",
            common::term_month(common::month_without_demo_plans())
        ))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let zip_path = dir.path().join("thang.zip");
    std::fs::write(&zip_path, &zip).unwrap();
    let out = tram(&["lessons", "verify", "--export", zip_path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 plans, 2 valid, 0 invalid"), "{text}");
    assert!(
        !dir.path()
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".export-")),
        "nothing left behind"
    );

    // Publishing to the library.
    let (s, r) = post(&teacher, &format!("{api}/plans/{id}/publish"), json!({}));
    assert_eq!(s, 201, "{r}");
    let hits: Value = teacher
        .get(format!(
            "{base}/api/v1/library/search?q=su+da+dang+cua+chat"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(hits["items"][0]["lesson_plan"], id.as_str(), "{hits}");
    // Vetted like any item the teacher shares: her department head accepts it for the school.
    assert_eq!(hits["items"][0]["review"]["state"], "waiting", "{hits}");
    let item = hits["items"][0]["id"].as_str().unwrap().to_string();
    let (s, r) = post(
        &other_head,
        &format!("{base}/api/v1/library/items/{item}/review"),
        json!({"accept": true}),
    );
    assert_eq!(s, 403, "another tổ's head: {r}");
    let (s, r) = post(
        &head,
        &format!("{base}/api/v1/library/items/{item}/review"),
        json!({"accept": true}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["item"]["review"]["state"], "accepted", "{r}");
    let (s, _) = post(&teacher, &format!("{api}/plans/{id}/publish"), json!({}));
    assert_eq!(s, 409, "published once");

    // One changed byte of the stored file: the CLI names the plan and exits non-zero.
    srv.stop();
    let path = dir.path().join("blobs").join(&blob[..2]).join(&blob[2..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let out = tram(&["lessons", "verify", "--data-dir", data]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&id) && text.contains("Phiếu học tập.pdf"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} valid, 2 invalid", demo_valid)),
        "{text}"
    );
}

#[test]
fn a_month_batch_is_approved_in_one_action() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let principal = srv.login("hieutruong");
    let d = dashboard(
        &principal,
        &base,
        &format!("?month={}", common::demo_waiting_month()),
    );
    let month = d["month"].as_str().unwrap().to_string();
    let reviewed = d["totals"][2].as_u64().unwrap();
    assert!(reviewed > 0, "the demo leaves plans waiting for BGH: {d}");
    let home = principal.get(&base).send().unwrap().text().unwrap();
    assert!(
        home.contains(&format!("{reviewed} kế hoạch bài dạy đang chờ bạn duyệt")),
        "the principal's home page says what waits"
    );
    // The form lists what it will sign before the PIN (issue 24 item 6).
    let page = principal
        .get(format!("{base}/lessons/dashboard?month={month}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let listed = page
        .split("<ul id=\"batch-plans\">")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .expect("the batch form lists the plans it signs")
        .to_string();
    assert!(
        page.find("id=\"batch-plans\"") < page.find("id=\"b-pin\""),
        "the list comes before the PIN"
    );
    let plans = form_list(&page);
    assert_eq!(plans.as_array().unwrap().len() as u64, reviewed, "{listed}");
    let (s, e) = post(
        &principal,
        &format!("{base}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": "000000", "plans": plans}),
    );
    assert_eq!(s, 422, "{e}");
    let (s, r) = post(
        &principal,
        &format!("{base}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": DEMO_PIN, "plans": plans}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["approved"].as_array().unwrap().len() as u64, reviewed);
    for id in r["approved"].as_array().unwrap() {
        let p: Value = principal
            .get(format!(
                "{base}/api/v1/lessons/plans/{}",
                id.as_str().unwrap()
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let (title, teacher) = (
            p["plan"]["title"].as_str().unwrap(),
            p["plan"]["teacher_name"].as_str().unwrap(),
        );
        assert!(
            listed.contains(&format!("<strong>{title}</strong> — {teacher} · ")),
            "{title} by {teacher} was signed but not listed: {listed}"
        );
    }
    let d = dashboard(
        &principal,
        &base,
        &format!("?month={}", common::demo_waiting_month()),
    );
    assert_eq!(d["totals"][2], 0);
    // A teacher may not.
    let teacher = srv.login("gv04");
    let (s, _) = post(
        &teacher,
        &format!("{base}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": DEMO_PIN, "plans": []}),
    );
    assert_eq!(s, 403);

    // Guessing PINs: after five wrong ones signing is refused for a while, even with the right one.
    for _ in 0..5 {
        let (s, _) = post(
            &principal,
            &format!("{base}/api/v1/lessons/approve-month"),
            json!({"month": month, "secret": "000000", "plans": []}),
        );
        assert_eq!(s, 422);
    }
    let (s, e) = post(
        &principal,
        &format!("{base}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": DEMO_PIN, "plans": []}),
    );
    assert_eq!(s, 429, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("phút"),
        "{e}"
    );
}

/// A month approval checks two PINs, the plan key's and the PAdES certificate's: a right plan
/// PIN does not clear the stored count before a wrong certificate PIN, so knowing one PIN does
/// not give endless guesses at the other (each request would have wiped the count).
#[test]
fn a_right_plan_pin_does_not_wipe_the_count_of_wrong_certificate_pins() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let principal = srv.login("hieutruong");
    let month = dashboard(
        &principal,
        &base,
        &format!("?month={}", common::demo_waiting_month()),
    )["month"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{base}/api/v1/lessons/approve-month");
    // One request, one check, whichever of its PINs was wrong: five, then locked — not over
    // and over, as when the right plan PIN cleared the count before each guess.
    for _ in 0..5 {
        let (s, e) = post(
            &principal,
            &url,
            json!({"month": month, "secret": DEMO_PIN, "pades_pin": "97351086", "plans": []}),
        );
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (422, Some("wrong_pin")),
            "{e}"
        );
    }
    let (s, e) = post(
        &principal,
        &url,
        json!({"month": month, "secret": DEMO_PIN, "pades_pin": DEMO_PIN, "plans": []}),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (429, Some("pin_locked")),
        "{e}"
    );
}

/// The plans the approval form lists, as its script sends them: [{id, version}].
fn form_list(page: &str) -> Value {
    let list = page
        .split("<ul id=\"batch-plans\">")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .expect("the batch form's list");
    let attr = |li: &str, name: &str| -> String {
        li.split(&format!("{name}=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    Value::Array(
        list.split("<li ")
            .skip(1)
            .map(|li| json!({"id": attr(li, "data-plan"), "version": attr(li, "data-version").parse::<u32>().unwrap()}))
            .collect(),
    )
}

/// Review r9 item 1: "Ký duyệt cả tháng" signs what its form listed. The principal reads the
/// list, a vice principal then passes another plan of the month; the approval sent with the old
/// list is refused (409, naming the plan) and signs nothing; read again, the list signs every
/// plan on it, and the answer names them.
#[test]
fn the_month_batch_signs_the_list_it_showed_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let principal = srv.login("hieutruong");
    let vice = srv.login("phohieutruong");
    let d = dashboard(
        &principal,
        &base,
        &format!("?month={}", common::demo_waiting_month()),
    );
    let month = d["month"].as_str().unwrap().to_string();
    let page = |c: &reqwest::blocking::Client| {
        c.get(format!("{base}/lessons/dashboard?month={month}"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let old = form_list(&page(&principal));
    assert!(
        !old.as_array().unwrap().is_empty(),
        "the demo leaves plans to sign"
    );
    // Another plan of the month is passed after the list was read.
    let submitted: Value = principal
        .get(format!(
            "{base}/api/v1/lessons/plans?month={month}&state=submitted"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let late = submitted["plans"][0].clone();
    let late_id = late["id"]
        .as_str()
        .expect("the demo has a submitted plan")
        .to_string();
    let late_title = late["title"].as_str().unwrap().to_string();
    let (s, r) = post(
        &vice,
        &format!("{base}/api/v1/lessons/plans/{late_id}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(s, 200, "{r}");
    let reviewed_before =
        dashboard(&principal, &base, &format!("?month={month}"))["totals"][2].clone();
    let (s, e) = post(
        &principal,
        &format!("{base}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": DEMO_PIN, "plans": old}),
    );
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "list_changed", "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("Danh sách đã thay đổi")
            && m.contains(&format!("«{late_title}» vừa được tổ duyệt"))
            && m.contains("tải lại trang"),
        "{m}"
    );
    let after = dashboard(&principal, &base, &format!("?month={month}"));
    assert_eq!(after["totals"][2], reviewed_before, "nothing was signed");
    assert_eq!(after["totals"][4], d["totals"][4], "nothing was approved");
    // The list read again holds the new plan and signs exactly it and the rest.
    let new = form_list(&page(&principal));
    assert_eq!(
        new.as_array().unwrap().len(),
        old.as_array().unwrap().len() + 1
    );
    let (s, r) = post(
        &principal,
        &format!("{base}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": DEMO_PIN, "plans": new}),
    );
    assert_eq!(s, 200, "{r}");
    let mut signed: Vec<&str> = r["approved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let mut sent: Vec<&str> = new
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    signed.sort();
    sent.sort();
    assert_eq!(signed, sent);
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("Đã ký phê duyệt {} kế hoạch", sent.len()))
            && m.contains(&format!("«{late_title}»")),
        "{m}"
    );
}

/// Issue 24 item 6: the dashboard's "cập nhật …" is the school's clock, whatever the browser's
/// is (the server says it with each change; a phone or kiosk on UTC showed 01:54 for 08:54).
#[test]
fn the_dashboard_says_when_it_changed_in_the_schools_time() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let principal = srv.login("hieutruong");
    let d = dashboard(&principal, &base, "");
    let g = d["generation"].as_u64().unwrap();
    let hour = || {
        jiff::Timestamp::now()
            .to_zoned(tram::school::time_zone())
            .hour()
    };
    let before = hour();
    // Any generation other than the current one answers at once.
    let v: Value = principal
        .get(format!("{base}/api/v1/lessons/changes?after={}", g + 1))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let after = hour();
    let updated = v["updated"].as_str().expect("the server says when");
    let h: i8 = updated[..2].parse().unwrap();
    assert!(
        h == before || h == after,
        "{updated}: the school's hour is {before}"
    );
    assert_eq!(updated.len(), 8, "HH:MM:SS: {updated}");
    let js = srv
        .client()
        .get(format!("{base}/static/lessons.js"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        js.contains("d.updated") && !js.contains("new Date().toLocaleTimeString"),
        "the page shows the server's time, not the browser's"
    );
}

/// Review r9 item 8: a demo plan's page says who made the signing key in Vietnamese ("bởi hệ
/// thống", not "system"), and the demo's keys are dated before the signatures they made.
#[test]
fn the_demo_keys_predate_their_signatures_and_are_made_by_the_system_in_vietnamese() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let principal = srv.login("hieutruong");
    let key: Value = principal
        .get(format!("{base}/api/v1/lessons/key"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let made = key["created_at"].as_str().unwrap()[..19].to_string();
    let approved: Value = principal
        .get(format!("{base}/api/v1/lessons/plans?state=approved"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = approved["plans"][0]["id"].as_str().unwrap().to_string();
    let plan: Value = principal
        .get(format!("{base}/api/v1/lessons/plans/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let me = key_owner(&principal, &base);
    let mut checked = 0;
    for v in plan["versions"].as_array().unwrap() {
        for sg in v["signatures"].as_array().unwrap() {
            if sg["by"] == me {
                let at = &sg["at"].as_str().unwrap()[..19];
                assert!(made.as_str() <= at, "key made {made}, used at {at}");
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "the principal signed the approved plan: {plan}"
    );
    let page = principal
        .get(format!("{base}/lessons/plan/{id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("bởi hệ thống"), "{page}");
    assert!(!page.contains("bởi system"), "{page}");
}

fn key_owner(c: &reqwest::blocking::Client, base: &str) -> Value {
    let me: Value = c
        .get(format!("{base}/api/v1/me"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    me["user"]["id"].clone()
}

/// Review r9 item 8: the signature check's `<title>` is its name only (it held the key-change
/// list's raw HTML), and the plan search's Khối filter offers the school's grades (6–9 for the
/// demo THCS), not 1–12.
#[test]
fn the_verify_title_is_plain_and_the_grade_filter_offers_the_schools_grades() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let principal = srv.login("hieutruong");
    let page = principal
        .get(format!("{base}/lessons/verify"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let title = page
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap();
    assert!(!title.contains('<') && !title.contains("&lt;"), "{title}");
    let list = srv
        .login("gv04")
        .get(format!("{base}/lessons"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let grades: Vec<&str> = list
        .split("<select name=\"grade\"")
        .nth(1)
        .and_then(|s| s.split("</select>").next())
        .unwrap()
        .split("<option value=\"")
        .skip(2)
        .filter_map(|o| o.split('"').next())
        .collect();
    assert_eq!(grades, ["6", "7", "8", "9"]);
}

/// Review r20 #9, #10: every filtered page and API of the box answers a query string that does
/// not parse (a word for a number, a field given twice) or names nothing the school has (a
/// grade, state, teacher, subject, tổ or year) with the reason in Vietnamese, status 400: a
/// browser gets the page itself — menu, filter form as typed, the message —, any other client
/// the JSON `bad_filter`; never axum's English plain text, never a list silently unfiltered.
#[test]
fn a_bad_filter_is_refused_in_vietnamese_on_every_page_and_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let bgh = s.login("hieutruong");
    let english = [
        "Failed",
        "deserialize",
        "duplicate field",
        "invalid digit",
        "not a number",
    ];
    // (path and query, a page with a form (its id) or the error page, what it says)
    let pages: &[(&str, Option<&str>, &str)] = &[
        (
            "/lessons?q=bai&grade=abc",
            Some("filters"),
            "tham số “grade”: cần một số",
        ),
        (
            "/lessons?grade=13",
            Some("filters"),
            "Trường không có khối 13",
        ),
        (
            "/lessons?state=xyz",
            Some("filters"),
            "Không có trạng thái “xyz”",
        ),
        (
            "/lessons?teacher=nobody",
            Some("filters"),
            "Không có giáo viên mã “nobody”",
        ),
        (
            "/lessons?subject=xyz",
            Some("filters"),
            "Không có môn học mã “xyz”",
        ),
        (
            "/lessons?month=abc",
            Some("filters"),
            "Tháng “abc” không hợp lệ",
        ),
        (
            "/lessons?state=draft&state=approved",
            Some("filters"),
            "tham số “state” được ghi hai lần",
        ),
        (
            "/dept?department=xyz",
            Some("dept"),
            "Không có tổ chuyên môn mã “xyz”",
        ),
        ("/dept?year=abc", Some("dept"), "Năm học “abc” không có"),
        (
            "/dept?year=a&year=b",
            Some("dept"),
            "tham số “year” được ghi hai lần",
        ),
        (
            "/lessons/dashboard?month=2026-11&month=2026-12",
            Some("filters"),
            "tham số “month” được ghi hai lần",
        ),
        (
            "/lessons/dashboard?month=abc",
            Some("filters"),
            "Tháng “abc” không hợp lệ",
        ),
        (
            "/admin/students?class=xyz",
            Some("students"),
            "Không có lớp “xyz” trong trường",
        ),
        (
            "/admin/students?class=a&class=b",
            Some("students"),
            "tham số “class” được ghi hai lần",
        ),
        (
            "/lessons/plan/khong-co?v=abc",
            None,
            "tham số “v”: cần một số",
        ),
    ];
    // Review r21 #5: every other page with a filter — the page's frame (menu, reason, the
    // values it takes as links; `Some("frame")`) or the page itself with its form.
    let class = common::demo_class("6A1");
    let more: Vec<(String, Option<&str>, &str)> = vec![
        (
            format!("/grades/class/{class}?term=abc"),
            Some("frame"),
            "Không có học kì “abc”: chọn Học kì I, Học kì II hoặc Cả năm",
        ),
        (
            format!("/grades/class/{class}?term=hk1&term=hk2"),
            Some("frame"),
            "tham số “term” được ghi hai lần",
        ),
        (
            format!("/grades/class/{class}/pdf?term=abc"),
            Some("frame"),
            "Không có học kì “abc”",
        ),
        (
            "/grades/school?term=x".into(),
            Some("frame"),
            "Không có học kì “x”",
        ),
        (
            "/grades/school?term=hk1&grade=abc".into(),
            Some("frame"),
            "Trường không có khối “abc”: chọn một trong các khối 6, 7, 8, 9",
        ),
        (
            "/grades/school?grade=13".into(),
            Some("frame"),
            "Trường không có khối “13”",
        ),
        (
            "/grades/graduation?year=abc".into(),
            Some("frame"),
            "Năm học “abc” không có trong hồ sơ của trường: chọn một trong các năm học",
        ),
        (
            "/grades/graduation?year=a&year=b".into(),
            Some("frame"),
            "tham số “year” được ghi hai lần",
        ),
        (
            "/admin/classes?year=abc".into(),
            Some("frame"),
            "Năm học “abc” không hợp lệ: ghi dạng 2026-2027",
        ),
        (
            "/admin/assignments?teacher=nobody".into(),
            Some("frame"),
            "Không có giáo viên mã “nobody”",
        ),
        (
            "/admin/assignments?class=xyz".into(),
            Some("frame"),
            "Không có lớp “xyz” trong trường",
        ),
        (
            "/library?kind=xyz".into(),
            Some("frame"),
            "không có loại tài liệu “xyz”; chọn một trong: Sách, Sách điện tử, Video, Âm thanh",
        ),
        (
            "/library?subject=xyz".into(),
            Some("frame"),
            "Không có môn học mã “xyz”",
        ),
        (
            "/library?grade=abc".into(),
            Some("frame"),
            "tham số “grade”: cần một số",
        ),
        (
            format!(
                "/lessons/export.pdf?teacher=nobody&year={}",
                common::demo_year()
            ),
            Some("frame"),
            "Không có giáo viên mã “nobody”",
        ),
        (
            "/lessons/export.zip?teacher=u-gv01&year=abc".into(),
            Some("frame"),
            "Năm học “abc” không hợp lệ",
        ),
        (
            "/lessons/plan/khong-co?v=1&v=2".into(),
            Some("frame"),
            "tham số “v” được ghi hai lần",
        ),
        (
            "/dept/plan/khong-co/pdf?version=abc".into(),
            Some("frame"),
            "tham số “version”: cần một số",
        ),
        (
            "/library/loans?student=xyz".into(),
            Some("frame"),
            "Không có học sinh mã “xyz” trong trường",
        ),
        (
            "/lessons/dashboard?department=xyz".into(),
            Some("filters"),
            "Không có tổ chuyên môn mã “xyz”: chọn một trong các tổ",
        ),
    ];
    let all = pages
        .iter()
        .map(|(p, f, w)| (p.to_string(), *f, *w))
        .chain(more);
    for (path, form, says) in all {
        let r = bgh
            .get(format!("{b}{path}"))
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let page = r.text().unwrap();
        assert!(page.contains(says), "{path}: {page}");
        assert!(
            page.contains("lang=\"vi\"") && page.contains("name=\"viewport\""),
            "{path}"
        );
        // The raw codes of the library's kinds are never said.
        assert!(
            !page.contains("“book”") && !page.contains("ebook,"),
            "{path}"
        );
        if let Some(id) = form {
            // The page itself: its menu and its form, not the bare error page.
            assert!(
                page.contains("id=\"filter-error\"") && !page.contains("id=\"error-page\""),
                "{path}: {page}"
            );
            assert!(
                page.contains("class=\"nav") || page.contains("<nav"),
                "{path}: no menu"
            );
            if id == "filters" {
                assert!(page.contains("id=\"filters\""), "{path}: no form");
            }
        }
        for w in english {
            assert!(!page.contains(w), "{path}: English “{w}”: {page}");
        }
    }
    // The form keeps what was typed.
    let page = bgh
        .get(format!("{b}/lessons?q=bai+mot&grade=abc"))
        .header("Accept", "text/html")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("value=\"bai mot\""), "{page}");
    // The APIs, and the pages for a client that does not ask for HTML: JSON bad_filter.
    let apis = [
        "/api/v1/lessons/plans?grade=abc",
        "/api/v1/lessons/plans?grade=13",
        "/api/v1/lessons/plans?state=xyz",
        "/api/v1/lessons/plans?teacher=nobody",
        "/api/v1/lessons/plans?subject=xyz",
        "/api/v1/lessons/plans?state=draft&state=approved",
        "/api/v1/lessons/dashboard?month=2026-11&month=2026-12",
        "/api/v1/lessons/dashboard?month=abc",
        "/lessons/dashboard?month=abc",
        "/api/v1/lessons/changes?after=abc",
        "/api/v1/dept/dashboard?year=abc",
        "/api/v1/dept/dashboard?department=xyz",
        "/api/v1/dept/dashboard?year=a&year=b",
        "/lessons?grade=abc",
        "/lessons?grade=13",
        "/lessons?grade=6&grade=7",
        "/dept?department=xyz",
        "/lessons/export.pdf?teacher=nobody",
        "/lessons/export.pdf?month=2026-11&month=2026-12",
        // Review r21 #5: the register's year and a class that names nothing.
        "/api/v1/register?year=abc",
        "/api/v1/export/register.xlsx?year=abc",
        "/api/v1/students?class=xyz",
        "/admin/students?class=xyz",
        "/api/v1/students?limit=abc",
        "/api/v1/library/search?kind=xyz",
        "/api/v1/library/search?subject=xyz",
        "/grades/school?term=x",
        "/grades/school?grade=abc",
        "/grades/graduation?year=abc",
        "/admin/classes?year=abc",
        "/admin/assignments?teacher=nobody",
        "/library?kind=xyz",
        "/lessons/dashboard?department=xyz",
        "/library/loans?student=xyz",
        "/api/v1/export/students.xlsx?class=xyz",
        "/api/v1/export/records.zip?year=abc",
        // Review r24 #9 and #7: a collection nobody's item is in, a borrower that names
        // nobody, a school year the school has no class in.
        "/api/v1/library/search?collection=xyz",
        "/api/v1/library/loans?student=nobody",
        "/grades/school?year=abc",
        "/grades/school?year=1999-2000",
    ];
    let class_apis = [
        format!("/grades/class/{class}?term=abc"),
        format!("/grades/class/{class}?term=hk1&term=hk2"),
    ];
    for path in apis.iter().map(|p| p.to_string()).chain(class_apis) {
        for accept in [None, Some("*/*")] {
            let mut req = bgh.get(format!("{b}{path}"));
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            let r = req.send().unwrap();
            assert_eq!(r.status(), 400, "{path} {accept:?}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("application/json"), "{path}: {ct}");
            let e: Value = r.json().unwrap();
            assert_eq!(e["error"]["code"], "bad_filter", "{path}: {e}");
            let m = e["error"]["message"].as_str().unwrap();
            assert!(
                m.to_lowercase().contains("không")
                    || m.contains("hai lần")
                    || m.contains("cần một số"),
                "{path}: {m}"
            );
            for w in english {
                assert!(!m.contains(w), "{path}: English in {m}");
            }
            assert!(!m.contains("“book”") && !m.contains("ebook"), "{path}: {m}");
        }
    }
    // A well-formed year without classes stays picked and says so — never another year's list.
    let r = bgh
        .get(format!("{b}/admin/classes?year=1999-2000"))
        .header("Accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(
        page.contains("Năm học 1999-2000 không có lớp nào")
            && page.contains("<option value=\"1999-2000\" selected>")
            && !page.contains("/admin/students?class="),
        "{page}"
    );
    let page = bgh
        .get(format!("{b}/admin/classes?year={}", common::demo_year()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(&format!("/admin/students?class={class}")),
        "{page}"
    );
    assert!(!page.contains("id=\"filter-note\""));
    // A grade shows its classes only; a teacher her assignments only.
    let page = bgh
        .get(format!("{b}/grades/school?term=hk1&grade=6"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(&format!("/grades/class/{class}?term=hk1")),
        "{page}"
    );
    assert!(!page.contains(&common::demo_class("7A1")) && page.contains("Khối 6"));
    let r = bgh
        .get(format!("{b}/admin/assignments?teacher=u-gv01"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    let rows = page.matches("<tr><td>").count();
    assert!(
        rows > 0 && page.contains("<option value=\"u-gv01\" selected>"),
        "{page}"
    );
    let all_rows = bgh
        .get(format!("{b}/admin/assignments"))
        .send()
        .unwrap()
        .text()
        .unwrap()
        .matches("<tr><td>")
        .count();
    assert!(rows < all_rows, "{rows} of {all_rows}");
    // The roll pages; a kind by its Vietnamese name; the dashboard's tổ picked.
    let one: Value = bgh
        .get(format!(
            "{b}/api/v1/students?class={class}&limit=2&offset=1"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["students"].as_array().unwrap().len(), 2, "{one}");
    let r = bgh
        .get(format!(
            "{b}/library?kind=S%C3%A1ch%20%C4%91i%E1%BB%87n%20t%E1%BB%AD"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Filters that name something still filter.
    let r = bgh
        .get(format!(
            "{b}/api/v1/dept/dashboard?year={}",
            common::demo_year()
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let all: Value = r.json().unwrap();
    let first = all["departments"][0]["department"]
        .as_str()
        .unwrap()
        .to_string();
    let one: Value = bgh
        .get(format!("{b}/api/v1/dept/dashboard?department={first}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["departments"].as_array().unwrap().len(), 1, "{one}");
    let r = bgh
        .get(format!("{b}/lessons?grade=6&state=approved"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // Review r20 #11: downloads are named by what they are, never a generic word or an id.
    let year = common::demo_year();
    let name = |c: &reqwest::blocking::Client, url: String| {
        let r = c.get(&url).send().unwrap();
        assert_eq!(r.status(), 200, "{url}");
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let d = name(
        &bgh,
        format!("{b}/lessons/export.pdf?teacher=u-gv01&year={year}"),
    );
    assert!(
        d.starts_with("attachment; filename=\"ke-hoach-bai-day-")
            && d.ends_with(&format!("-{year}.pdf\""))
            && !d.contains("u-gv01"),
        "{d}"
    );
    let plans: Value = bgh
        .get(format!("{b}/api/v1/dept/plans"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let plan = &plans["plans"][0];
    let d = name(
        &bgh,
        format!("{b}/dept/plan/{}/pdf", plan["id"].as_str().unwrap()),
    );
    assert!(
        d.contains(&format!(
            "-{}-v{}.pdf",
            plan["year"].as_str().unwrap(),
            plan["version"]
        )) && d.contains("ke-hoach-pl"),
        "{d}"
    );
    let minutes: Value = bgh
        .get(format!("{b}/api/v1/dept/minutes"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let m = &minutes["minutes"][0];
    let d = name(
        &bgh,
        format!("{b}/dept/minutes/{}/pdf", m["id"].as_str().unwrap()),
    );
    assert!(
        d.starts_with("attachment; filename=\"bien-ban-to-")
            && d.contains(&format!("-{}-v", m["date"].as_str().unwrap())),
        "{d}"
    );
    let d = name(&bgh, format!("{b}/api/v1/export/students.xlsx"));
    assert!(
        d.contains(&format!("hoc-sinh-toan-truong-{year}.xlsx")),
        "{d}"
    );
}
