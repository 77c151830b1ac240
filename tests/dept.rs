//! The department's records against the real binary: Phụ lục I, II and III drafted, signed and
//! handed in, returned with a reason and approved by the principal through the lesson plans'
//! signing workflow; a plan whose periods do not add up refused with the difference; minutes
//! written by the head or the secretary, signed only by the chair, locked, corrected as a new
//! signed version; every signature checked by the server and again here (Ed25519 over the
//! statement it names); the printed plan and minutes read back with pdftotext.

mod common;

use common::Server;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

const PIN: &str = common::DEMO_PIN;

fn send(c: &reqwest::blocking::Client, method: &str, url: &str, body: Value) -> (u16, Value) {
    let r = c
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn get(c: &reqwest::blocking::Client, url: &str) -> Value {
    let r = c.get(url).send().unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().unwrap()
}

/// The demo school's people around the Toán – Tin department.
struct People {
    dept: String,
    toan: String,
    head: String,
    /// Two members who are not its head; the first teaches Toán in a grade 6 class.
    members: Vec<(String, String)>,
    /// The grade 6 class the first member teaches Toán in (the school's teaching assignments).
    toan6: String,
    /// A grade 6 class she does not teach Toán in.
    not_hers: String,
    /// A teacher of another department.
    outsider: (String, String),
}

fn people(s: &Server) -> People {
    let admin = s.login("admin");
    let b = s.base();
    let subjects = get(&admin, &format!("{b}/api/v1/subjects"));
    let toan = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Toán")
        .unwrap()
        .clone();
    let dept = toan["department"].as_str().unwrap().to_string();
    let accounts = get(&admin, &format!("{b}/api/v1/accounts"));
    let all = accounts["accounts"].as_array().unwrap();
    let roles = |a: &Value| -> Vec<String> {
        a["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    };
    let pair = |a: &Value| {
        (
            a["username"].as_str().unwrap().to_string(),
            a["id"].as_str().unwrap().to_string(),
        )
    };
    let head = all
        .iter()
        .find(|a| a["department"] == dept.as_str() && roles(a).contains(&"dept_head".into()))
        .map(|a| a["username"].as_str().unwrap().to_string())
        .unwrap();
    let toan_id = toan["id"].as_str().unwrap().to_string();
    let classes = get(&admin, &format!("{b}/api/v1/classes"))["classes"]
        .as_array()
        .unwrap()
        .clone();
    let grade6: Vec<(String, String)> = classes
        .iter()
        .filter(|c| c["grade"] == 6)
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let assignments = get(&admin, &format!("{b}/api/v1/assignments"))["assignments"]
        .as_array()
        .unwrap()
        .clone();
    // The grade 6 class where `teacher` teaches Toán, by the assignments.
    let toan6_of = |teacher: &str| {
        grade6.iter().find(|(id, _)| {
            assignments.iter().any(|a| {
                a["teacher"] == teacher
                    && a["subject"] == toan_id.as_str()
                    && a["class"] == id.as_str()
            })
        })
    };
    let mut members: Vec<(String, String)> = all
        .iter()
        .filter(|a| a["department"] == dept.as_str() && roles(a) == ["teacher"])
        .map(pair)
        .collect();
    members.sort_by_key(|(_, id)| toan6_of(id.as_str()).is_none());
    members.truncate(2);
    let (_, toan6) = toan6_of(members[0].1.as_str())
        .expect("a teacher of Toán 6 in the demo")
        .clone();
    let not_hers = grade6
        .iter()
        .find(|(id, _)| {
            !assignments.iter().any(|a| {
                a["teacher"] == members[0].1.as_str()
                    && a["subject"] == toan_id.as_str()
                    && a["class"] == id.as_str()
            })
        })
        .map(|(_, name)| name.clone())
        .expect("a grade 6 class she does not teach Toán in");
    let outsider = all
        .iter()
        .find(|a| a["department"] != dept.as_str() && roles(a) == ["teacher"])
        .map(pair)
        .unwrap();
    People {
        dept,
        toan: toan["id"].as_str().unwrap().to_string(),
        head,
        members,
        toan6,
        not_hers,
        outsider,
    }
}

/// A signing key under the demo PIN for an account that may have none yet.
fn ensure_key(c: &reqwest::blocking::Client, b: &str) {
    let k = get(c, &format!("{b}/api/v1/lessons/key"));
    if k["has_key"] != true {
        let (st, e) = send(
            c,
            "POST",
            &format!("{b}/api/v1/lessons/key"),
            json!({"secret": PIN, "confirm": PIN}),
        );
        assert_eq!(st, 201, "{e}");
    }
}

/// Each signature of `doc`'s versions: valid by the server's check, and its Ed25519 signature
/// verifies here over the statement rebuilt from its fields. Returns the actions seen.
fn signatures_verify(detail: &Value, id: &str) -> Vec<String> {
    let mut actions = vec![];
    for (i, v) in detail["versions"].as_array().unwrap().iter().enumerate() {
        for (j, sig) in v["signatures"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                detail["signatures"][i][j]["valid"], true,
                "server check of {id} v{}: {}",
                v["number"], detail["signatures"][i][j]
            );
            assert_eq!(
                sig["digest"], v["digest"],
                "{id}: a signature over another content"
            );
            let statement = format!(
                "tram lesson-plan signature v1\naction: {}\nplan: {id}\nversion: {}\nby: {}\nat: {}\nblake3: {}\n",
                sig["action"].as_str().unwrap(),
                v["number"],
                sig["by"].as_str().unwrap(),
                sig["at"].as_str().unwrap(),
                sig["digest"].as_str().unwrap()
            );
            let pk: [u8; 32] = hex::decode(sig["public_key"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            let raw: [u8; 64] = hex::decode(sig["signature"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            VerifyingKey::from_bytes(&pk)
                .unwrap()
                .verify_strict(statement.as_bytes(), &Signature::from_bytes(&raw))
                .unwrap_or_else(|_| panic!("{id}: Ed25519 signature does not verify"));
            actions.push(sig["action"].as_str().unwrap().to_string());
        }
    }
    actions
}

fn pdf_text(c: &reqwest::blocking::Client, url: &str) -> String {
    let r = c.get(url).send().unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.pdf");
    std::fs::write(&f, r.bytes().unwrap()).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&f)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `n` lines adding up to `total` periods.
fn lines(n: u16, total: u16) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let p = total / n + u16::from(i < total % n);
            json!({"topic": format!("Chủ đề {}", i + 1), "periods": p, "when": format!("Tuần {}", i + 1),
                   "equipment": "Máy chiếu", "place": "Lớp học"})
        })
        .collect()
}

#[test]
fn plans_are_signed_returned_and_approved_and_refused_when_periods_do_not_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let b = srv.base();
    let api = format!("{b}/api/v1/dept");
    let who = people(&srv);
    let head = srv.login(&who.head);
    let principal = srv.login("hieutruong");
    let teacher = srv.login(&who.members[0].0);
    let outsider = srv.login(&who.outsider.0);

    // The demo holds one approved PL I, signed by the head and the principal.
    let list = get(&principal, &format!("{api}/plans"));
    let demo = list["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "pl1" && p["state"] == "approved")
        .expect("a demo PL I")
        .clone();
    let demo_id = demo["id"].as_str().unwrap();
    let detail = get(&principal, &format!("{api}/plans/{demo_id}"));
    assert_eq!(signatures_verify(&detail, demo_id), ["submit", "approve"]);
    // Its periods add up to the programme's.
    assert_eq!(detail["periods_problem"], Value::Null);
    let text = pdf_text(&principal, &format!("{b}/dept/plan/{demo_id}/pdf"));
    assert!(
        text.contains("KẾ HOẠCH DẠY HỌC CỦA TỔ CHUYÊN MÔN"),
        "{text}"
    );
    assert!(text.contains("Thiết bị dạy học"), "{text}");
    // Other staff see an approved plan; a teacher of another department too.
    assert_eq!(
        outsider
            .get(format!("{api}/plans/{demo_id}"))
            .send()
            .unwrap()
            .status(),
        200
    );

    // Only the head drafts the department's PL I.
    let input = json!({"kind": "pl1", "department": who.dept, "subject": who.toan, "grade": 7,
                       "lines": lines(35, 137)});
    let (st, e) = send(&teacher, "POST", &format!("{api}/plans"), input.clone());
    assert_eq!(st, 403, "{e}");
    // Review r12 #4: the head of one tổ drafted a PL I for another tổ's subject, and one for
    // grade 12 in a THCS. Each refused with the reason, nothing stored.
    let subjects = get(&srv.login("admin"), &format!("{b}/api/v1/subjects"));
    let other = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["department"].as_str().is_some_and(|d| d != who.dept))
        .unwrap()
        .clone();
    let before = get(&head, &format!("{api}/plans"));
    let mut wrong_subject = input.clone();
    wrong_subject["subject"] = other["id"].clone();
    let (st, e) = send(&head, "POST", &format!("{api}/plans"), wrong_subject);
    assert_eq!(st, 422, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(other["name"].as_str().unwrap()) && msg.contains("không thuộc"),
        "{e}"
    );
    let mut grade_12 = input.clone();
    grade_12["grade"] = json!(12);
    let (st, e) = send(&head, "POST", &format!("{api}/plans"), grade_12);
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("khối 12"),
        "{e}"
    );
    // Review r14 #10: a PL I is the tổ's plan for a subject and a grade — a class (a grade-6
    // class id on a grade-7 plan) is refused, not stored; a periods cell that is not a whole
    // number from 1 asks for one, naming what was typed.
    let mut with_class = input.clone();
    with_class["class"] = json!("2026-6a1");
    let (st, e) = send(&head, "POST", &format!("{api}/plans"), with_class);
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Phụ lục I là kế hoạch của tổ cho một môn và một khối, không ghi lớp"),
        "{e}"
    );
    for (typed, says) in [
        (
            "-10",
            "số tiết “-10” không hợp lệ; ghi số tiết là một số nguyên dương, từ 1 đến 200.",
        ),
        (
            "0",
            "số tiết “0” không hợp lệ; ghi số tiết là một số nguyên dương",
        ),
        ("99999999", "số tiết “99999999” không hợp lệ"),
        (
            "hai",
            "số tiết “hai” không phải là số; ghi số tiết là một số nguyên dương",
        ),
        ("", "chưa có số tiết"),
    ] {
        let mut typed_in = input.clone();
        typed_in["lines"] = json!([]);
        typed_in["lines_text"] = json!(format!("Bài 1 | 4 | Tuần 1\nBài 2 | {typed} | Tuần 2"));
        let (st, e) = send(&head, "POST", &format!("{api}/plans"), typed_in);
        assert_eq!(st, 422, "{typed}: {e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Dòng 2: ") && msg.contains(says),
            "{typed}: {msg}"
        );
    }
    assert_eq!(
        get(&head, &format!("{api}/plans")),
        before,
        "nothing stored"
    );

    let (st, e) = send(&head, "POST", &format!("{api}/plans"), input);
    assert_eq!(st, 201, "{e}");
    let id = e["plan"]["id"].as_str().unwrap().to_string();
    ensure_key(&head, &b);

    // 137 periods where the programme has 140: refused with the difference, nothing changed.
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 422, "{e}");
    assert_eq!(
        e["error"]["message"],
        "Tổng số tiết 137, chương trình quy định 140: thiếu 3 tiết."
    );
    let d = get(&head, &format!("{api}/plans/{id}"));
    assert_eq!(d["plan"]["state"], "draft");
    assert_eq!(d["versions"][0]["signatures"], json!([]));
    // Too many is refused too.
    let (st, _) = send(
        &head,
        "PUT",
        &format!("{api}/plans/{id}"),
        json!({"subject": who.toan, "grade": 7, "lines": lines(35, 142)}),
    );
    assert_eq!(st, 200);
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 422);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thừa 2 tiết"),
        "{e}"
    );

    // The page's text box form: "topic | periods | when | equipment | place".
    let text: String = (1..=35)
        .map(|i| format!("Bài {i} | 4 | Tuần {i} | Máy chiếu | Lớp học\n"))
        .collect();
    let (st, e) = send(
        &head,
        "PUT",
        &format!("{api}/plans/{id}"),
        json!({"subject": who.toan, "grade": 7, "lines_text": text}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["plan"]["state"], "submitted");
    // Review r14 #10: the head's own PL I waits for Ban giám hiệu, not "chờ tổ duyệt", and its
    // signature's time reads dd/mm/yyyy HH:MM in Vietnam time, not the stored UTC instant.
    let page = head
        .get(format!("{b}/dept/plan/{id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("id=\"plan-state\">Đã nộp, chờ Ban giám hiệu duyệt<"),
        "{page}"
    );
    assert!(!page.contains("chờ tổ duyệt"), "{page}");
    let d = get(&head, &format!("{api}/plans/{id}"));
    let at = d["versions"][0]["signatures"][0]["at"].as_str().unwrap();
    let local = at
        .parse::<jiff::Timestamp>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .strftime("%d/%m/%Y %H:%M")
        .to_string();
    let sigs = page.split("id=\"signatures\"").nth(1).unwrap();
    assert!(sigs.contains(&format!("· {local}")), "{local}: {sigs}");
    assert!(!sigs.contains(&at[..10]), "a raw ISO time: {sigs}");
    // Handed in: its author can no longer edit it.
    let (st, _) = send(
        &head,
        "PUT",
        &format!("{api}/plans/{id}"),
        json!({"subject": who.toan, "grade": 7, "lines": lines(35, 140)}),
    );
    assert_eq!(st, 409);

    // Only BGH decide; a return carries its reason.
    let (st, _) = send(
        &teacher,
        "POST",
        &format!("{api}/plans/{id}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 403);
    let (st, _) = send(
        &principal,
        "POST",
        &format!("{api}/plans/{id}/return"),
        json!({"reason": " "}),
    );
    assert_eq!(st, 422);
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{api}/plans/{id}/return"),
        json!({"reason": "Thiếu thiết bị cho tiết thực hành."}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["plan"]["state"], "returned");
    assert_eq!(e["plan"]["returned"], "Thiếu thiết bị cho tiết thực hành.");

    // The head edits (a new version), hands it in again, the principal approves.
    let (st, e) = send(
        &head,
        "PUT",
        &format!("{api}/plans/{id}"),
        json!({"subject": who.toan, "grade": 7, "lines": lines(35, 140)}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["plan"]["version"], 2);
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/plans/{id}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{api}/plans/{id}/approve"),
        json!({"secret": "000000"}),
    );
    assert_eq!(st, 422, "a wrong PIN signs nothing: {e}");
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{api}/plans/{id}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["plan"]["state"], "approved");
    assert_eq!(e["plan"]["approved_version"], 2);
    let d = get(&principal, &format!("{api}/plans/{id}"));
    assert_eq!(d["versions"][0]["state"], "returned");
    assert_eq!(
        d["versions"][0]["returned"],
        "Thiếu thiết bị cho tiết thực hành."
    );
    assert_eq!(d["versions"][1]["state"], "approved");
    assert_eq!(signatures_verify(&d, &id), ["submit", "submit", "approve"]);

    // PL III: a teacher's own plan for a class, signed the same way.
    ensure_key(&teacher, &b);
    // Review 25 #1: only for a class the school's teaching assignments give her, in that
    // subject and the class's grade; the refusal names what she teaches, nothing is stored.
    let before = get(&teacher, &format!("{api}/plans"));
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 6, "class": who.not_hers,
               "lines": lines(35, 140)}),
    );
    assert_eq!(st, 422, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("phân công giảng dạy")
            && msg.contains(&format!("không dạy Toán lớp {}", who.not_hers))
            && msg.contains(&who.toan6),
        "{e}"
    );
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 7, "class": who.toan6,
               "lines": lines(35, 140)}),
    );
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thuộc khối 6, không phải khối 7"),
        "{e}"
    );
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 6, "class": "6Z9",
               "lines": lines(35, 140)}),
    );
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("không có lớp này"),
        "{e}"
    );
    assert_eq!(
        get(&teacher, &format!("{api}/plans")),
        before,
        "nothing stored"
    );
    // Her periods against the subject's periods per year: PL I's rule, the same words.
    let lower = who.toan6.to_lowercase();
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 6, "class": lower,
               "lines": lines(35, 137)}),
    );
    assert_eq!(st, 201, "{e}");
    assert_eq!(
        e["plan"]["class"],
        who.toan6.as_str(),
        "the school's spelling"
    );
    let pl3 = e["plan"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans/{pl3}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 422, "{e}");
    assert_eq!(
        e["error"]["message"],
        "Tổng số tiết 137, chương trình quy định 140: thiếu 3 tiết."
    );
    let (st, e) = send(
        &teacher,
        "PUT",
        &format!("{api}/plans/{pl3}"),
        json!({"subject": who.toan, "grade": 6, "class": who.toan6, "lines": lines(35, 140)}),
    );
    assert_eq!(st, 200, "{e}");
    let d = get(&teacher, &format!("{api}/plans/{pl3}"));
    assert_eq!(d["assignment_problem"], Value::Null, "{d}");
    // Drafts are the author's, the head's and BGH's: another department does not see it.
    assert_eq!(
        outsider
            .get(format!("{api}/plans/{pl3}"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans/{pl3}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{api}/plans/{pl3}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let d = get(&head, &format!("{api}/plans/{pl3}"));
    assert_eq!(signatures_verify(&d, &pl3), ["submit", "approve"]);
    let text = pdf_text(&head, &format!("{b}/dept/plan/{pl3}/pdf"));
    assert!(text.contains("KẾ HOẠCH GIÁO DỤC CỦA GIÁO VIÊN"), "{text}");

    // PL II: the school's activities, drafted by a head, no periods total to match.
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl2", "title": "Hoạt động giáo dục của tổ Toán – Tin",
               "lines_text": "Ngày hội Toán học | Yêu thích môn Toán | 3 | Tháng 3 | Tổ Toán – Tin | Đoàn Đội | Sân trường, loa"}),
    );
    assert_eq!(st, 201, "{e}");
    let pl2 = e["plan"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/plans/{pl2}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{api}/plans/{pl2}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let d = get(&principal, &format!("{api}/plans/{pl2}"));
    assert_eq!(d["versions"][0]["lines"][0]["lead"], "Tổ Toán – Tin");
    assert_eq!(signatures_verify(&d, &pl2), ["submit", "approve"]);
    let text = pdf_text(&principal, &format!("{b}/dept/plan/{pl2}/pdf"));
    assert!(text.contains("Yêu cầu cần đạt"), "{text}");

    // The pages render for the people who use them.
    for (c, url) in [
        (&head, format!("{b}/dept")),
        (&principal, format!("{b}/dept/plan/{id}")),
        (&teacher, format!("{b}/dept/plan/{pl3}")),
    ] {
        let r = c.get(&url).send().unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
}

#[test]
fn minutes_are_signed_only_by_the_chair_locked_and_corrected_as_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let b = srv.base();
    let api = format!("{b}/api/v1/dept");
    let who = people(&srv);
    let head = srv.login(&who.head);
    let principal = srv.login("hieutruong");
    let secretary = srv.login(&who.members[0].0);
    let member = srv.login(&who.members[1].0);

    // The demo's minutes: signed by the chair, its signature valid.
    let list = get(&head, &format!("{api}/minutes"));
    let demo = list["minutes"][0]["id"].as_str().unwrap().to_string();
    let d = get(&head, &format!("{api}/minutes/{demo}"));
    assert_eq!(d["minutes"]["state"], "approved");
    assert_eq!(signatures_verify(&d, &demo), ["chair"]);
    let text = pdf_text(&head, &format!("{b}/dept/minutes/{demo}/pdf"));
    assert!(text.contains("BIÊN BẢN SINH HOẠT CHUYÊN MÔN"), "{text}");
    // Its page shows the meeting's day and the signature's time as people read them
    // (dd/mm/yyyy, Vietnam time), never the stored ISO forms (review r14 #10).
    let page = head
        .get(format!("{b}/dept/minutes/{demo}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let day = d["versions"][0]["date"].as_str().unwrap();
    let (y, rest) = day.split_once('-').unwrap();
    let (m, dd) = rest.split_once('-').unwrap();
    assert!(
        page.contains(&format!("id=\"minutes-date\">{dd}/{m}/{y}<")),
        "{page}"
    );
    let sigs = page.split("id=\"signatures\"").nth(1).unwrap();
    let sigs = sigs.split("</ul>").next().unwrap();
    assert!(
        sigs.split(" · ")
            .nth(1)
            .is_some_and(|t| t.len() >= 16 && t.as_bytes()[2] == b'/' && t.as_bytes()[13] == b':'),
        "{sigs}"
    );

    let attendees = json!([who.members[0].1, who.members[1].1]);
    let meeting = json!({"date": common::recent_day_iso(14), "attendees": attendees,
        "agenda": "Rút kinh nghiệm tiết dạy", "content": "Cô giáo trình bày.", "conclusions": "Thống nhất."});
    // A member who is not the head nor the secretary does not write the minutes.
    let (st, e) = send(
        &secretary,
        "POST",
        &format!("{api}/minutes"),
        meeting.clone(),
    );
    assert_eq!(st, 403, "{e}");
    // Attendees come from the department.
    let mut outside = meeting.clone();
    outside["attendees"] = json!([who.outsider.1]);
    let (st, e) = send(&head, "POST", &format!("{api}/minutes"), outside);
    assert_eq!(st, 422, "{e}");
    // The head names a secretary, who then writes them.
    let (st, e) = send(
        &member,
        "PUT",
        &format!("{api}/secretary"),
        json!({"department": who.dept, "account": who.members[0].1}),
    );
    assert_eq!(st, 403, "{e}");
    let (st, e) = send(
        &head,
        "PUT",
        &format!("{api}/secretary"),
        json!({"department": who.dept, "account": who.members[0].1}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &secretary,
        "POST",
        &format!("{api}/minutes"),
        meeting.clone(),
    );
    assert_eq!(st, 201, "{e}");
    let id = e["minutes"]["id"].as_str().unwrap().to_string();

    // Signed by someone who is not the department's head: refused with the reason, before any
    // PIN is asked for.
    ensure_key(&secretary, &b);
    for c in [&secretary, &principal] {
        let (st, e) = send(
            c,
            "POST",
            &format!("{api}/minutes/{id}/sign"),
            json!({"secret": PIN}),
        );
        assert_eq!(st, 403, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("không phải tổ trưởng của tổ này"),
            "{e}"
        );
    }
    assert_eq!(
        get(&head, &format!("{api}/minutes/{id}"))["versions"][0]["signatures"],
        json!([])
    );

    // The chair signs: locked.
    ensure_key(&head, &b);
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/minutes/{id}/sign"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["minutes"]["state"], "approved");
    let signed = get(&head, &format!("{api}/minutes/{id}"));
    let mut edited = meeting.clone();
    edited["conclusions"] = json!("Thống nhất; bổ sung dự giờ tuần 6.");
    for c in [&secretary, &head] {
        let (st, e) = send(c, "PUT", &format!("{api}/minutes/{id}"), edited.clone());
        assert_eq!(st, 409, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("đã khoá"),
            "{e}"
        );
    }
    assert_eq!(get(&head, &format!("{api}/minutes/{id}")), signed);

    // A correction is a new version, signed again; the signed one stays as it was.
    let (st, e) = send(
        &secretary,
        "POST",
        &format!("{api}/minutes/{id}/correct"),
        edited,
    );
    assert_eq!(st, 201, "{e}");
    assert_eq!(e["minutes"]["version"], 2);
    assert_eq!(e["minutes"]["state"], "draft");
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/minutes/{id}/sign"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let d = get(&head, &format!("{api}/minutes/{id}"));
    assert_eq!(
        d["versions"][0], signed["versions"][0],
        "the signed version kept"
    );
    assert_eq!(
        d["versions"][1]["conclusions"],
        "Thống nhất; bổ sung dự giờ tuần 6."
    );
    assert_eq!(d["versions"][1]["number"], 2);
    assert_eq!(signatures_verify(&d, &id), ["chair", "chair"]);
    // Another department's teacher does not read them.
    let outsider = srv.login(&who.outsider.0);
    assert_eq!(
        outsider
            .get(format!("{api}/minutes/{id}"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let r = head.get(format!("{b}/dept/minutes/{id}")).send().unwrap();
    assert_eq!(r.status(), 200);

    // Review r12 #5: minutes of a meeting not yet held were signed and archived. The next
    // meeting's agenda may be drafted ahead, but signed only once the day has come; a date
    // months ahead is refused even as a draft.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date();
    let mut ahead = meeting.clone();
    ahead["date"] = json!((today + jiff::Span::new().days(90)).to_string());
    let (st, e) = send(&head, "POST", &format!("{api}/minutes"), ahead);
    assert_eq!(st, 422, "{e}");
    let next = today + jiff::Span::new().days(7);
    let mut agenda = meeting.clone();
    agenda["date"] = json!(next.to_string());
    let (st, e) = send(&head, "POST", &format!("{api}/minutes"), agenda);
    assert_eq!(st, 201, "{e}");
    let future = e["minutes"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &head,
        "POST",
        &format!("{api}/minutes/{future}/sign"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 422, "{e}");
    let want = next.strftime("%d/%m/%Y").to_string();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&want) && msg.contains("chưa diễn ra"), "{e}");
    let d = get(&head, &format!("{api}/minutes/{future}"));
    assert_eq!(d["minutes"]["state"], "draft", "{d}");
    assert_eq!(d["versions"][0]["signatures"], json!([]), "{d}");
}

#[test]
fn a_lesson_plan_points_at_its_line_and_the_dashboard_counts_plans_against_lessons() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let b = srv.base();
    let api = format!("{b}/api/v1/dept");
    let who = people(&srv);
    let principal = srv.login("hieutruong");
    let teacher = srv.login(&who.members[0].0);
    let other = srv.login(&who.members[1].0);
    let head = srv.login(&who.head);
    ensure_key(&teacher, &b);
    ensure_key(&other, &b);

    let row = |c: &reqwest::blocking::Client| -> Value {
        let d = get(c, &format!("{api}/dashboard"));
        d["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["department"] == who.dept.as_str())
            .unwrap()
            .clone()
    };
    // BGH see every tổ; the tổ trưởng her own only (review r16 #6); a teacher nothing.
    let all = get(&principal, &format!("{api}/dashboard"))["departments"]
        .as_array()
        .unwrap()
        .len();
    assert!(all > 1, "the demo has several tổ");
    let own = get(&head, &format!("{api}/dashboard"));
    assert_eq!(own["departments"].as_array().unwrap().len(), 1, "{own}");
    assert_eq!(row(&head), row(&principal));
    assert_eq!(
        other
            .get(format!("{api}/dashboard"))
            .send()
            .unwrap()
            .status(),
        403
    );
    let page = head
        .get(format!("{b}/dept"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let table = page
        .split("id=\"dept-progress\"")
        .nth(1)
        .and_then(|x| x.split("</table>").next())
        .expect("the tổ trưởng's page has the tracking table");
    assert_eq!(table.matches("<tr><td>").count(), 1, "her tổ only: {table}");
    let page = other
        .get(format!("{b}/dept"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !page.contains("id=\"dept-progress\""),
        "a teacher: no table"
    );
    let before = row(&principal);
    // The demo's approved PL I: ten chapters.
    assert_eq!(before["pl1_lessons"], 10, "{before}");
    assert_eq!(before["pl3_lessons"], 0, "{before}");
    assert_eq!(before["linked"], 0, "{before}");

    // The teacher's approved PL III of 35 lessons.
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 6, "class": who.toan6,
               "lines": lines(35, 140)}),
    );
    assert_eq!(st, 201, "{e}");
    let pl3 = e["plan"]["id"].as_str().unwrap().to_string();
    // Not approved yet: nothing to point at.
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{b}/api/v1/lessons/plans"),
        json!({"title": "Bài 3. Thứ tự trong tập hợp các số tự nhiên", "subject": who.toan,
               "grade": 6, "periods": 2, "teach_on": common::term_iso(12, 10),
               "fields": {"knowledge": "So sánh hai số tự nhiên."}}),
    );
    assert_eq!(st, 201, "{e}");
    let lesson = e["plan"]["id"].as_str().unwrap().to_string();
    let link = |c: &reqwest::blocking::Client, line: Value| {
        send(
            c,
            "PUT",
            &format!("{api}/links"),
            json!({"lesson_plan": lesson, "line": line}),
        )
    };
    let (st, e) = link(&teacher, json!(format!("{pl3}#30")));
    assert_eq!(st, 422, "{e}");
    for (c, action) in [(&teacher, "submit"), (&principal, "approve")] {
        let (st, e) = send(
            c,
            "POST",
            &format!("{api}/plans/{pl3}/{action}"),
            json!({"secret": PIN}),
        );
        assert_eq!(st, 200, "{e}");
    }
    assert_eq!(row(&principal)["pl3_lessons"], 35);

    // A line that is not there, another teacher's plan, another teacher's lesson: refused.
    let (st, e) = link(&teacher, json!(format!("{pl3}#36")));
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("35 dòng"),
        "{e}"
    );
    // Another teacher does not link this teacher's lesson plan…
    let (st, e) = link(&other, json!(format!("{pl3}#30")));
    assert_eq!(st, 403, "{e}");
    // …nor her own lesson plan to this teacher's PL III (review 25 #2).
    let (st, e) = send(
        &other,
        "POST",
        &format!("{b}/api/v1/lessons/plans"),
        json!({"title": "Bài 4. Phép cộng và phép trừ số tự nhiên", "subject": who.toan,
               "grade": 6, "periods": 1, "teach_on": common::term_iso(12, 11)}),
    );
    assert_eq!(st, 201, "{e}");
    let others = e["plan"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &other,
        "PUT",
        &format!("{api}/links"),
        json!({"lesson_plan": others, "line": format!("{pl3}#30")}),
    );
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chỉ gắn với Phụ lục III của chính giáo viên soạn bài"),
        "{e}"
    );
    // A lesson plan of another grade (or subject) than the line's: refused.
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{b}/api/v1/lessons/plans"),
        json!({"title": "Bài 1. Số hữu tỉ", "subject": who.toan,
               "grade": 7, "periods": 1, "teach_on": common::term_iso(12, 12)}),
    );
    assert_eq!(st, 201, "{e}");
    let grade7 = e["plan"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &teacher,
        "PUT",
        &format!("{api}/links"),
        json!({"lesson_plan": grade7, "line": format!("{pl3}#30")}),
    );
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cùng môn, cùng khối"),
        "{e}"
    );
    let demo_pl1 = get(&principal, &format!("{api}/plans"))["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "pl1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, e) = link(&teacher, json!(format!("{demo_pl1}#1")));
    assert_eq!(st, 422, "only a PL III line: {e}");
    // Its own line: kept on the lesson plan, shown on the PL III's line.
    let (st, e) = link(&teacher, json!(format!("{pl3}#30")));
    assert_eq!(st, 200, "{e}");
    // A lesson's date is in the current school year or the next, on create and on edit
    // alike (review r14 #4a); a linked lesson does not move out of its PL III's year.
    for day in [
        "2019-01-01".to_string(),
        format!("{}-01-01", common::term_date(1, 1).year() + 8),
    ] {
        let (st, bad) = send(
            &teacher,
            "POST",
            &format!("{b}/api/v1/lessons/plans"),
            json!({"title": "Bài X", "subject": who.toan, "grade": 6, "teach_on": day}),
        );
        assert_eq!(st, 422, "{day}: {bad}");
        assert!(
            bad["error"]["message"]
                .as_str()
                .unwrap()
                .contains("chỉ soạn kế hoạch bài dạy cho năm học hiện tại"),
            "{bad}"
        );
        let (st, bad) = send(
            &teacher,
            "PUT",
            &format!("{b}/api/v1/lessons/plans/{grade7}"),
            json!({"teach_on": day}),
        );
        assert_eq!(st, 422, "{day}: {bad}");
    }
    let (st, bad) = send(
        &teacher,
        "PUT",
        &format!("{b}/api/v1/lessons/plans/{lesson}"),
        json!({"teach_on": format!("{}-10-01", common::term_date(10, 1).year() + 1)}),
    );
    assert_eq!(st, 422, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bỏ gắn ở trang Phụ lục III trước khi chuyển sang năm học khác"),
        "{bad}"
    );
    let same = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        same["plan"]["teach_on"],
        common::term_iso(12, 10),
        "nothing changed"
    );
    assert_eq!(e["plan"]["plan_line"], format!("{pl3}#30"));
    // The link names its lesson (review r16 #7): the PL III's version and the lesson's title,
    // in the API and in the version the teacher signs.
    assert_eq!(e["link"]["status"], "ok", "{e}");
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(lp["versions"][0]["plan_line"], format!("{pl3}#30"));
    assert_eq!(
        lp["versions"][0]["plan_lesson"],
        json!({"pl3": pl3, "version": 1, "line": 30, "lesson": "Chủ đề 30", "periods": 4}),
        "{lp}"
    );
    assert_eq!(
        (
            &lp["link"]["pl3"],
            &lp["link"]["version"],
            &lp["link"]["line"],
            &lp["link"]["lesson"],
            &lp["link"]["status"]
        ),
        (
            &json!(pl3),
            &json!(1),
            &json!(30),
            &json!("Chủ đề 30"),
            &json!("ok")
        ),
        "{lp}"
    );
    let page = teacher
        .get(format!("{b}/lessons/plan/{lesson}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("id=\"plan-link\"") && page.contains("dòng 30: Chủ đề 30 (4 tiết)"),
        "{page}"
    );
    let page = teacher
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("id=\"link-form\""),
        "the author links from the page"
    );
    // Review r14 #10: the Gắn list offers only her lesson plans of the line's subject and grade
    // (not the grade-7 one), named with the subject's name and the teaching day, and says
    // which line one is linked to.
    let select = page
        .split("id=\"l-lesson\"")
        .nth(1)
        .and_then(|x| x.split("</select>").next())
        .unwrap();
    assert!(
        select.contains(&format!(
            "<option value=\"{lesson}\">Bài 3. Thứ tự trong tập hợp các số tự nhiên · Toán 6 · dạy ngày {} (đang gắn dòng 30: Chủ đề 30)</option>",
            common::term_vi(12, 10)
        )),
        "{select}"
    );
    assert!(!select.contains(&grade7), "another grade offered: {select}");
    // Review r18 #9: the line starts on an empty choice that cannot be sent; unlinking is an
    // option of its own.
    let line_select = page
        .split("id=\"l-line\"")
        .nth(1)
        .and_then(|x| x.split("</select>").next())
        .unwrap();
    assert!(
        line_select.starts_with(
            " name=\"line\" required data-null=\"bo-gan\"><option value=\"\">— chọn dòng —</option>"
        ) && line_select
            .ends_with("<option value=\"bo-gan\">Bỏ gắn (không gắn với dòng nào)</option>"),
        "{line_select}"
    );
    assert!(
        !select.contains(&format!(" {} ", who.toan)),
        "a subject code: {select}"
    );

    // Handed in: counted, and linked; the teacher's signature covers the link.
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let after = row(&principal);
    assert_eq!(
        after["handed_in"].as_u64().unwrap(),
        before["handed_in"].as_u64().unwrap() + 1,
        "{before} → {after}"
    );
    assert_eq!(after["linked"], 1, "{after}");
    let v = get(&principal, &format!("{b}/api/v1/lessons/verify"));
    assert_eq!(v["all_valid"], true, "{v}");
    // Handed in, the link is part of what was signed: it is not changed under the signature.
    let (st, e) = link(&teacher, Value::Null);
    assert_eq!(st, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Đợi duyệt xong (hoặc được trả lại) rồi gắn lại"),
        "{e}"
    );
    // The page agrees: the waiting plan is not offered, and says why and what to do.
    let page = teacher
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let form = page.split("id=\"link-form\"").nth(1).unwrap();
    assert!(
        form.contains("id=\"link-waiting\"")
            && form.contains("Bài 3. Thứ tự trong tập hợp các số tự nhiên · Toán 6")
            && form.contains("Đợi duyệt xong"),
        "{form}"
    );
    assert!(
        !form.split("id=\"l-lesson\"").nth(1).is_some_and(|x| x
            .split("</select>")
            .next()
            .unwrap()
            .contains(&lesson)),
        "a waiting plan offered: {form}"
    );
    // The principal's page shows the numbers.
    let page = principal
        .get(format!("{b}/dept"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("id=\"dept-progress\""), "{page}");

    // The PL III is approved again with its lessons in another order: the link follows its
    // lesson ("Chủ đề 30", now line 6), not the number (review r14 #4b).
    let approve_again = |lines: Vec<Value>| {
        let (st, e) = send(
            &teacher,
            "PUT",
            &format!("{api}/plans/{pl3}"),
            json!({"subject": who.toan, "grade": 6, "class": who.toan6, "lines": lines}),
        );
        assert_eq!(st, 200, "{e}");
        for (c, action) in [(&teacher, "submit"), (&principal, "approve")] {
            let (st, e) = send(
                c,
                "POST",
                &format!("{api}/plans/{pl3}/{action}"),
                json!({"secret": PIN}),
            );
            assert_eq!(st, 200, "{e}");
        }
    };
    // (linked, of them moved, broken, changed, dropped): counted apart (review r18 #7).
    let counts = |r: &Value| {
        (
            r["linked"].as_u64(),
            r["moved"].as_u64(),
            r["broken"].as_u64(),
            r["changed"].as_u64(),
            r["dropped"].as_u64(),
        )
    };
    let mut reversed = lines(35, 140);
    reversed.reverse();
    approve_again(reversed.clone());
    let now = row(&principal);
    assert_eq!(
        counts(&now),
        (Some(1), Some(1), Some(0), Some(0), Some(0)),
        "{now}"
    );
    let page = head
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!page.contains("id=\"broken-links\""), "{page}");
    assert!(
        page.contains("<td>6</td><td>Chủ đề 30</td><td>4</td><td>Tuần 30</td><td>Máy chiếu</td><td>Lớp học</td><td>1</td>"),
        "the lesson counted on its new line: {page}"
    );
    // The API and the lesson plan's page say the same (review r16 #7): line 6, "Chủ đề 30",
    // moved from line 30 of version 1; the signed number is kept as it was signed.
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(lp["plan"]["plan_line"], format!("{pl3}#30"));
    assert_eq!(
        (
            &lp["link"]["line"],
            &lp["link"]["linked_line"],
            &lp["link"]["lesson"],
            &lp["link"]["status"],
            &lp["link"]["version"],
            &lp["link"]["current_version"]
        ),
        (
            &json!(6),
            &json!(30),
            &json!("Chủ đề 30"),
            &json!("moved"),
            &json!(1),
            &json!(2)
        ),
        "{lp}"
    );
    let page = head
        .get(format!("{b}/lessons/plan/{lesson}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("dòng 6: Chủ đề 30 (4 tiết)") && page.contains("đã chuyển sang dòng 6"),
        "{page}"
    );
    // Its lesson renamed in the plan: kept, counted and listed as "Phụ lục III đã thay đổi",
    // naming where the lesson is now and its new title (review r18 #7).
    reversed[5]["topic"] = json!("Chủ đề 30. Ôn tập chương");
    approve_again(reversed.clone());
    let now = row(&principal);
    assert_eq!(
        counts(&now),
        (Some(0), Some(0), Some(0), Some(1), Some(0)),
        "{now}"
    );
    let renamed = "Phụ lục III đã thay đổi: bài “Chủ đề 30” nay ở dòng 6, đổi tên thành “Chủ đề 30. Ôn tập chương”, 4 tiết (bản 3; khi gắn, bản 1: dòng 30, 4 tiết).";
    let page = head
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("id=\"broken-links\"") && page.contains(renamed),
        "{page}"
    );
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        (&lp["link"]["status"], &lp["link"]["line"]),
        (&json!("changed"), &json!(6)),
        "{lp}"
    );
    assert!(
        lp["link"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(renamed)),
        "{lp}"
    );
    // The same words on the lesson plan's page and in the printed month.
    let page = teacher
        .get(format!("{b}/lessons/plan/{lesson}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(renamed), "{page}");
    let text = pdf_text(&principal, &format!("{b}/lessons/export.pdf?month=2026-12"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains(&format!("Liên kết hiện nay: {renamed}")),
        "{text}"
    );
    // Only its periods changed: where it is now and how many periods.
    reversed[5]["topic"] = json!("Chủ đề 30");
    reversed[5]["periods"] = json!(5);
    reversed[6]["periods"] = json!(3);
    approve_again(reversed);
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        (&lp["link"]["status"], &lp["link"]["line"]),
        (&json!("changed"), &json!(6)),
        "{lp}"
    );
    assert!(
        lp["link"]["message"].as_str().is_some_and(|m| m.contains(
            "bài “Chủ đề 30” nay ở dòng 6, 5 tiết (bản 4; khi gắn, bản 1: dòng 30, 4 tiết)"
        )),
        "{lp}"
    );
    // What to do, by the lesson plan's state: it waits for review, so not "gắn lại" now.
    assert!(
        page.contains("đang chờ duyệt nên chưa gắn lại được"),
        "{page}"
    );
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(lp["link"]["status"], "changed", "{lp}");
    assert_eq!(lp["link"]["lesson"], "Chủ đề 30", "{lp}");
    assert!(
        lp["link"]["message"]
            .as_str()
            .unwrap()
            .contains("chưa được phê duyệt khi liên kết còn như vậy: người duyệt trả lại"),
        "{lp}"
    );
    // A new approved version of 10 lines: the lesson is gone; the stored link to line 30 is
    // kept (signed with the lesson plan), listed the same way on the page the dashboard counts,
    // said dropped from that version.
    approve_again(lines(10, 140));
    let now = row(&principal);
    assert_eq!(
        counts(&now),
        (Some(0), Some(0), Some(0), Some(0), Some(1)),
        "{now}"
    );
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(lp["link"]["status"], "dropped", "{lp}");
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        lp["plan"]["plan_line"],
        format!("{pl3}#30"),
        "the data is kept"
    );
    let page = head
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("id=\"broken-links\"")
            && page.contains("bài “Chủ đề 30” đã bỏ khỏi Phụ lục III bản 5"),
        "{page}"
    );
    assert_eq!(page.matches("→ dòng 30").count(), 1, "{page}");

    // Review r20 #3: the tổ does not pass it on while its lesson is dropped — the refusal
    // says what to do, and nothing changes; she returns it instead. (A plan the tổ passed
    // before its lesson was dropped: BGH's refusal, in the test below.)
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(st, 409, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("Chưa duyệt được kế hoạch bài dạy")
            && m.contains("đã bỏ khỏi Phụ lục III bản 5")
            && m.contains("gắn lại với dòng khác của bản hiện hành, hoặc bỏ gắn"),
        "{e}"
    );
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        (&lp["plan"]["state"], &lp["plan"]["version"]),
        (&json!("submitted"), &json!(1)),
        "nothing changed: {lp}"
    );
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/review"),
        json!({"decision": "return", "comment": "Bài đã bỏ khỏi Phụ lục III; gắn lại rồi nộp."}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["plan"]["state"], "returned", "{e}");
    // Returned, relinked as a new draft version.
    let (st, e) = link(&teacher, json!(format!("{pl3}#1")));
    assert_eq!(st, 200, "{e}");
    assert_eq!(
        (&e["plan"]["state"], &e["plan"]["version"]),
        (&json!("draft"), &json!(2)),
        "{e}"
    );
    assert_eq!(e["link"]["status"], "ok", "{e}");
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    let v = lp["versions"].as_array().unwrap();
    assert_eq!(
        v[0]["plan_line"],
        format!("{pl3}#30"),
        "the returned version kept"
    );
    assert_eq!(
        v[1]["plan_lesson"],
        json!({"pl3": pl3, "version": 5, "line": 1, "lesson": "Chủ đề 1", "periods": 14}),
        "{lp}"
    );

    // Review r18 #2: the number a relink sends is a line of the current version. Approved
    // again, and a line inserted above it in the PL III: "Chủ đề 1" is now line 2.
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    // The printed month names the reviewer by the role she reviewed in and the PL III lesson
    // the plan carries out, as signed (review r18 #4, #6).
    let text = pdf_text(
        &principal,
        &format!("{b}/lessons/export.pdf?month={}", common::term_month(12)),
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    assert!(
        text.contains("Thực hiện: Phụ lục III (kế hoạch giáo dục của giáo viên) bản 5, dòng 1: Chủ đề 1 (14 tiết)"),
        "{text}"
    );
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    let review = &lp["versions"][1]["review"];
    assert_eq!(review["role"], "Tổ trưởng", "{lp}");
    assert!(
        text.contains(&format!(
            "Tổ trưởng {} đã duyệt lúc",
            review["name"].as_str().unwrap()
        )),
        "{text}"
    );
    let mut inserted = lines(10, 140);
    inserted[9]["periods"] = json!(13);
    inserted.insert(
        0,
        json!({"topic": "Bài 0. Mở đầu", "periods": 1, "when": "Tuần 1", "equipment": "", "place": "Lớp học"}),
    );
    approve_again(inserted);
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        (&lp["link"]["status"], &lp["link"]["line"]),
        (&json!("moved"), &json!(2)),
        "{lp}"
    );
    // Its lesson at its new number: no change, and the answer says so (no confirm_amend).
    let (st, e) = link(&teacher, json!(format!("{pl3}#2")));
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["unchanged"], true, "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("không có gì thay đổi") && m.contains("dòng 2: “Chủ đề 1”")),
        "{e}"
    );
    assert_eq!(
        (
            &e["plan"]["state"],
            &e["plan"]["version"],
            &e["plan"]["plan_line"]
        ),
        (&json!("approved"), &json!(2), &json!(format!("{pl3}#1"))),
        "{e}"
    );
    // The old signed number names another lesson now ("Bài 0"): a real relink — asked
    // first, then a new draft naming that lesson.
    let (st, e) = link(&teacher, json!(format!("{pl3}#1")));
    assert_eq!(
        (st, &e["error"]["code"]),
        (409, &json!("confirm_amend")),
        "{e}"
    );
    let (st, e) = send(
        &teacher,
        "PUT",
        &format!("{api}/links"),
        json!({"lesson_plan": lesson, "line": format!("{pl3}#1"), "amend": true}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["unchanged"], false, "{e}");
    assert_eq!(
        (
            &e["plan"]["state"],
            &e["plan"]["version"],
            &e["link"]["draft"]["status"],
            &e["link"]["draft"]["lesson"]
        ),
        (
            &json!("draft"),
            &json!(3),
            &json!("ok"),
            &json!("Bài 0. Mở đầu")
        ),
        "{e}"
    );
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        lp["versions"][2]["plan_lesson"],
        json!({"pl3": pl3, "version": 6, "line": 1, "lesson": "Bài 0. Mở đầu", "periods": 1}),
        "{lp}"
    );

    // Review r20 #3: a draft whose lesson the PL III changes or drops is not handed in — the
    // refusal names the line to relink to, and nothing changes; a lesson that only moved is.
    let submit = || {
        send(
            &teacher,
            "POST",
            &format!("{b}/api/v1/lessons/plans/{lesson}/submit"),
            json!({"secret": PIN}),
        )
    };
    let unchanged = |what: &str| {
        let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
        assert_eq!(
            (&lp["plan"]["state"], &lp["plan"]["version"]),
            (&json!("draft"), &json!(3)),
            "{what}: nothing changed: {lp}"
        );
        assert!(
            lp["versions"][2]["digest"].is_null(),
            "{what}: not signed: {lp}"
        );
    };
    let mut changed = lines(10, 140);
    changed[9]["periods"] = json!(12);
    changed.insert(
        0,
        json!({"topic": "Bài 0. Mở đầu", "periods": 2, "when": "Tuần 1", "equipment": "", "place": "Lớp học"}),
    );
    approve_again(changed);
    let (st, e) = submit();
    assert_eq!(st, 409, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("Chưa nộp được kế hoạch bài dạy")
            && m.contains("bài “Bài 0. Mở đầu” nay ở dòng 1, 2 tiết")
            && m.contains(
                "Hãy gắn lại với dòng 1 (bài đã sửa) hoặc dòng khác, hoặc bỏ gắn rồi nộp."
            ),
        "{e}"
    );
    unchanged("changed");
    // Review r20 #2: the link in force is the approved version's ("Chủ đề 1", moved to line
    // 2); the draft's relink is shown apart and not counted.
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        (
            &lp["link"]["status"],
            &lp["link"]["line"],
            &lp["link"]["lesson"],
            &lp["link"]["in_force"],
            &lp["link"]["draft"]["status"],
            &lp["link"]["draft"]["lesson"],
            &lp["link"]["draft"]["in_force"]
        ),
        (
            &json!("moved"),
            &json!(2),
            &json!("Chủ đề 1"),
            &json!(true),
            &json!("changed"),
            &json!("Bài 0. Mở đầu"),
            &json!(false)
        ),
        "{lp}"
    );
    let now = row(&principal);
    assert_eq!(
        counts(&now),
        (Some(1), Some(1), Some(0), Some(0), Some(0)),
        "the draft is not counted: {now}"
    );
    approve_again(lines(10, 140));
    let (st, e) = submit();
    assert_eq!(st, 409, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("bài “Bài 0. Mở đầu” đã bỏ khỏi Phụ lục III bản 8")
            && m.contains("gắn lại với dòng khác của bản hiện hành, hoặc bỏ gắn"),
        "{e}"
    );
    unchanged("dropped");
    // Relinked to "Chủ đề 1" (line 1), which then only moves to line 2: handed in.
    let (st, e) = link(&teacher, json!(format!("{pl3}#1")));
    assert_eq!(st, 200, "{e}");
    let mut moved = lines(10, 140);
    moved[9]["periods"] = json!(13);
    moved.insert(
        0,
        json!({"topic": "Bài 0. Ôn tập", "periods": 1, "when": "Tuần 1", "equipment": "", "place": "Lớp học"}),
    );
    approve_again(moved);
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(lp["link"]["status"], "moved", "{lp}");
    let (st, e) = submit();
    assert_eq!(st, 200, "moved is the same lesson: {e}");
    for (c, action, body) in [
        (&head, "review", json!({"decision": "pass"})),
        (&principal, "approve", json!({"secret": PIN})),
    ] {
        let (st, e) = send(
            c,
            "POST",
            &format!("{b}/api/v1/lessons/plans/{lesson}/{action}"),
            body,
        );
        assert_eq!(st, 200, "{e}");
    }
    // Review r20 #2, the reviewer's case: the approved version's lesson dropped, then a draft
    // relink. The tracking, the API, the PL III page and the printed month keep the approved
    // version's link — dropped — until the draft is handed in; the draft is said apart.
    let mut without = lines(10, 140);
    without.remove(0);
    without[8]["periods"] = json!(28);
    approve_again(without);
    let dropped = row(&principal);
    assert_eq!(
        counts(&dropped),
        (Some(0), Some(0), Some(0), Some(0), Some(1)),
        "{dropped}"
    );
    let (st, e) = send(
        &teacher,
        "PUT",
        &format!("{api}/links"),
        json!({"lesson_plan": lesson, "line": format!("{pl3}#1"), "amend": true}),
    );
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["plan"]["state"], "draft", "{e}");
    let now = row(&principal);
    assert_eq!(counts(&now), counts(&dropped), "a draft is no fix: {now}");
    assert_eq!(now["handed_in"], dropped["handed_in"], "{now}");
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        (
            &lp["link"]["status"],
            &lp["link"]["lesson"],
            &lp["link"]["in_force"],
            &lp["link"]["draft"]["status"],
            &lp["link"]["draft"]["lesson"]
        ),
        (
            &json!("dropped"),
            &json!("Chủ đề 1"),
            &json!(true),
            &json!("ok"),
            &json!("Chủ đề 2")
        ),
        "{lp}"
    );
    assert!(
        lp["link"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bài “Chủ đề 1” đã bỏ khỏi Phụ lục III bản 10")),
        "{lp}"
    );
    let page = head
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let list = page
        .split("id=\"broken-links\"")
        .nth(1)
        .and_then(|x| x.split("</ul>").next())
        .expect("listed: {page}");
    assert!(
        list.contains("bài “Chủ đề 1” đã bỏ khỏi Phụ lục III bản 10")
            && list.contains("Đang gắn lại (bản nháp, chưa nộp): dòng 1."),
        "{list}"
    );
    let text = pdf_text(
        &principal,
        &format!("{b}/lessons/export.pdf?month={}", common::term_month(12)),
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    assert!(
        text.contains("Liên kết hiện nay: Phụ lục III đã thay đổi: bài “Chủ đề 1” đã bỏ khỏi Phụ lục III bản 10"),
        "{text}"
    );
}

/// The demo year's first calendar year ("2026" of "2026-2027"): its December is in the year.
fn december(day: u8) -> String {
    format!("{}-12-{day:02}", &common::demo_year()[..4])
}

/// Review r18 #4: a tổ trưởng's own lesson plan is reviewed by Ban giám hiệu; the printed plan
/// and its page name the reviewer by the role she reviewed in — a vice principal, not "Tổ
/// trưởng".
#[test]
fn a_heads_own_lesson_plan_reviewed_by_a_vice_principal_is_printed_with_her_role() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let b = srv.base();
    let who = people(&srv);
    let head = srv.login(&who.head);
    let vp = srv.login("phohieutruong");
    let principal = srv.login("hieutruong");
    ensure_key(&head, &b);
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans"),
        json!({"title": "Bài 5. Phép nhân và phép chia số tự nhiên", "subject": who.toan,
               "grade": 6, "periods": 2, "teach_on": december(14),
               "fields": {"knowledge": "Nhân, chia số tự nhiên."}}),
    );
    assert_eq!(st, 201, "{e}");
    let id = e["plan"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{id}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    // Her own plan is not hers to review.
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{id}/review"),
        json!({"decision": "pass"}),
    );
    assert_ne!(st, 200, "{e}");
    let (st, e) = send(
        &vp,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{id}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(st, 200, "{e}");
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{id}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let lp = get(&head, &format!("{b}/api/v1/lessons/plans/{id}"));
    let review = &lp["versions"][0]["review"];
    assert_eq!(review["role"], "Phó hiệu trưởng", "{lp}");
    let name = review["name"].as_str().unwrap();
    let month = &december(1)[..7];
    let text = pdf_text(&principal, &format!("{b}/lessons/export.pdf?month={month}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains(&format!("Phó hiệu trưởng {name} đã duyệt lúc")),
        "{text}"
    );
    assert!(!text.contains(&format!("Tổ trưởng {name}")), "{text}");
    let page = head
        .get(format!("{b}/lessons/plan/{id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(&format!("Phó hiệu trưởng {name} · ")),
        "{page}"
    );
}

/// A draft linked before links named their lesson (its version has `plan_line` and no
/// `plan_lesson`, as before review r16) still resolves — the API and its page name the lesson
/// — and, handed in, is signed with the lesson it names.
#[test]
fn a_draft_linked_before_links_named_their_lesson_is_named_when_handed_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path(), false);
    let b = srv.base();
    let api = format!("{b}/api/v1/dept");
    let who = people(&srv);
    let teacher = srv.login(&who.members[0].0);
    let principal = srv.login("hieutruong");
    ensure_key(&teacher, &b);
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 6, "class": who.toan6,
               "lines": lines(35, 140)}),
    );
    assert_eq!(st, 201, "{e}");
    let pl3 = e["plan"]["id"].as_str().unwrap().to_string();
    for (c, action) in [(&teacher, "submit"), (&principal, "approve")] {
        let (st, e) = send(
            c,
            "POST",
            &format!("{api}/plans/{pl3}/{action}"),
            json!({"secret": PIN}),
        );
        assert_eq!(st, 200, "{e}");
    }
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{b}/api/v1/lessons/plans"),
        json!({"title": "Bài 7. Lũy thừa với số mũ tự nhiên", "subject": who.toan,
               "grade": 6, "periods": 2, "teach_on": december(10),
               "fields": {"knowledge": "Lũy thừa."}}),
    );
    assert_eq!(st, 201, "{e}");
    let lesson = e["plan"]["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &teacher,
        "PUT",
        &format!("{api}/links"),
        json!({"lesson_plan": lesson, "line": format!("{pl3}#7")}),
    );
    assert_eq!(st, 200, "{e}");
    srv.stop();
    // The draft as an earlier version stored it: the line, no lesson named.
    {
        let store = tram::store::Store::open(dir.path(), &tram::app::schema::schema()).unwrap();
        store
            .write(&tram::store::Actor::system(jiff::Timestamp::now()), |tx| {
                let k = tram::lessons::version_key(&lesson, 1);
                let mut v = tx.get(&tram::lessons::VERSIONS, &k)?.unwrap();
                v.plan_lesson = None;
                tx.put(&tram::lessons::VERSIONS, &k, &v, "test")?;
                Ok::<_, tram::store::StoreError>(())
            })
            .unwrap();
    }
    let srv = Server::start(dir.path(), false);
    let b = srv.base();
    let teacher = srv.login(&who.members[0].0);
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(lp["versions"][0]["plan_lesson"], Value::Null, "{lp}");
    assert_eq!(
        (
            &lp["plan"]["plan_line"],
            &lp["link"]["status"],
            &lp["link"]["line"],
            &lp["link"]["lesson"]
        ),
        (
            &json!(format!("{pl3}#7")),
            &json!("ok"),
            &json!(7),
            &json!("Chủ đề 7")
        ),
        "it still resolves: {lp}"
    );
    let page = teacher
        .get(format!("{b}/lessons/plan/{lesson}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("dòng 7: Chủ đề 7 (4 tiết)"), "{page}");
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{lesson}/submit"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 200, "{e}");
    let lp = get(&teacher, &format!("{b}/api/v1/lessons/plans/{lesson}"));
    assert_eq!(
        lp["versions"][0]["plan_lesson"],
        json!({"pl3": pl3, "version": 1, "line": 7, "lesson": "Chủ đề 7", "periods": 4}),
        "named as it is handed in: {lp}"
    );
    let principal = srv.login("hieutruong");
    let v = get(&principal, &format!("{b}/api/v1/lessons/verify"));
    assert_eq!(
        v["all_valid"], true,
        "the signature covers what is stored: {v}"
    );
}

/// Review r20 #1, #3, #4 on the real server: a PL III re-approved four times (the reviewer's
/// 6A1 sequence, on Toán 6) — every link followed version by version: the first "Ôn tập"
/// dropped in bản 2 and said so at every later version (never "moved" onto the other one),
/// a lesson dropped in bản 4 named by bản 4; the tổ trưởng's pass refused while a link is
/// changed, the month's batch approving the others and naming the plan it left; then a new
/// version only drafted: the page, its counts, its *Gắn* form and the PDF keep the version in
/// force, the draft shown apart.
#[test]
fn a_link_follows_the_pl3_through_every_version_and_a_draft_stays_apart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let b = srv.base();
    let api = format!("{b}/api/v1/dept");
    let who = people(&srv);
    let principal = srv.login("hieutruong");
    let teacher = srv.login(&who.members[0].0);
    let head = srv.login(&who.head);
    ensure_key(&teacher, &b);
    let pl3_lines = |xs: &[(&str, u16)]| -> Vec<Value> {
        xs.iter()
            .enumerate()
            .map(|(i, (t, p))| {
                json!({"topic": t, "periods": p, "when": format!("Tuần {}", i + 1),
                       "equipment": "", "place": "Lớp học"})
            })
            .collect()
    };
    let approve = |c: &reqwest::blocking::Client, url: String| {
        let (st, e) = send(c, "POST", &url, json!({"secret": PIN}));
        assert_eq!(st, 200, "{url}: {e}");
    };
    let (st, e) = send(
        &teacher,
        "POST",
        &format!("{api}/plans"),
        json!({"kind": "pl3", "subject": who.toan, "grade": 6, "class": who.toan6,
               "lines": pl3_lines(&[("Bài 1. Mở đầu", 10), ("Ôn tập", 5), ("Chương 2. Chất", 70),
                                     ("Ôn tập", 5), ("Bài 3. Năng lượng", 50)])}),
    );
    assert_eq!(st, 201, "{e}");
    let pl3 = e["plan"]["id"].as_str().unwrap().to_string();
    approve(&teacher, format!("{api}/plans/{pl3}/submit"));
    approve(&principal, format!("{api}/plans/{pl3}/approve"));
    let new_version = |lines: Vec<Value>| {
        let (st, e) = send(
            &teacher,
            "PUT",
            &format!("{api}/plans/{pl3}"),
            json!({"subject": who.toan, "grade": 6, "class": who.toan6, "lines": lines}),
        );
        assert_eq!(st, 200, "{e}");
    };
    let approve_again = |lines: Vec<Value>| {
        new_version(lines);
        approve(&teacher, format!("{api}/plans/{pl3}/submit"));
        approve(&principal, format!("{api}/plans/{pl3}/approve"));
    };
    // A lesson plan linked to line `n` of v1, taken as far as `to` ("draft", "submitted",
    // "reviewed", "approved").
    let lesson = |title: &str, day: u8, n: usize, to: &str| -> String {
        let (st, e) = send(
            &teacher,
            "POST",
            &format!("{b}/api/v1/lessons/plans"),
            json!({"title": title, "subject": who.toan, "grade": 6, "periods": 1,
                   "teach_on": december(day), "fields": {"knowledge": "Nội dung."}}),
        );
        assert_eq!(st, 201, "{e}");
        let id = e["plan"]["id"].as_str().unwrap().to_string();
        let (st, e) = send(
            &teacher,
            "PUT",
            &format!("{api}/links"),
            json!({"lesson_plan": id, "line": format!("{pl3}#{n}")}),
        );
        assert_eq!(st, 200, "{e}");
        let steps = [
            (&teacher, "submit", json!({"secret": PIN})),
            (&head, "review", json!({"decision": "pass"})),
            (&principal, "approve", json!({"secret": PIN})),
        ];
        let upto = match to {
            "submitted" => 1,
            "reviewed" => 2,
            "approved" => 3,
            _ => 0,
        };
        for (c, action, body) in steps.into_iter().take(upto) {
            let (st, e) = send(
                c,
                "POST",
                &format!("{b}/api/v1/lessons/plans/{id}/{action}"),
                body,
            );
            assert_eq!(st, 200, "{title} {action}: {e}");
        }
        id
    };
    let a = lesson("Bài A", 7, 2, "approved");
    let bb = lesson("Bài B", 8, 4, "approved");
    let e_ = lesson("Bài E", 9, 1, "approved");
    let c = lesson("Bài C", 10, 3, "submitted");
    let d = lesson("Bài D", 11, 5, "reviewed");
    let y = lesson("Bài Y", 14, 1, "reviewed");
    // (status, line, message) of a plan's link, as the API gives it.
    let link = |id: &str| -> (String, u64, String) {
        let lp = get(&principal, &format!("{b}/api/v1/lessons/plans/{id}"));
        let l = &lp["link"];
        (
            l["status"].as_str().unwrap_or("?").to_string(),
            l["line"].as_u64().unwrap_or(0),
            l["message"].as_str().unwrap_or("").to_string(),
        )
    };
    let status = |id: &str| {
        let (s, n, _) = link(id);
        format!("{s} {n}")
    };

    // v2: a line on top, Chương 2 70 → 68, one "Ôn tập" gone — the first one (A's).
    approve_again(pl3_lines(&[
        ("Bài 0. Giới thiệu", 7),
        ("Bài 1. Mở đầu", 10),
        ("Chương 2. Chất", 68),
        ("Ôn tập", 5),
        ("Bài 3. Năng lượng", 50),
    ]));
    let (st, _, m) = link(&a);
    assert_eq!(st, "dropped");
    assert!(m.contains("đã bỏ khỏi Phụ lục III bản 2"), "{m}");
    assert_eq!(
        [&bb, &c, &d, &e_].map(|x| status(x)),
        ["ok 4", "changed 3", "ok 5", "moved 2"]
    );
    // The tổ trưởng does not pass C on: its lesson changed (review r20 #3); C still waits.
    let (st, e) = send(
        &head,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{c}/review"),
        json!({"decision": "pass"}),
    );
    assert_eq!(st, 409, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("Chưa duyệt được kế hoạch bài dạy “Bài C”")
            && m.contains("nay ở dòng 3, 68 tiết")
            && m.contains("gắn lại với dòng 3"),
        "{m}"
    );
    let lp = get(&head, &format!("{b}/api/v1/lessons/plans/{c}"));
    assert_eq!(lp["plan"]["state"], "submitted", "{lp}");

    // v3: Chương 2 renamed, the last two lines swapped. A stays dropped in bản 2 — not
    // "moved" onto B's line (the reviewer's finding); B follows its line to 5.
    approve_again(pl3_lines(&[
        ("Bài 0. Giới thiệu", 7),
        ("Bài 1. Mở đầu", 10),
        ("Chương 2. Chất quanh ta", 68),
        ("Bài 3. Năng lượng", 50),
        ("Ôn tập", 5),
    ]));
    let (st, _, m) = link(&a);
    assert_eq!(st, "dropped");
    assert!(m.contains("bản 2 (khi gắn, bản 1: dòng 2, 5 tiết)"), "{m}");
    assert_eq!(
        [&bb, &c, &d, &e_].map(|x| status(x)),
        ["moved 5", "changed 3", "moved 4", "moved 2"]
    );
    assert!(
        link(&c)
            .2
            .contains("đổi tên thành “Chương 2. Chất quanh ta”")
    );

    // v4: Bài 3 dropped, Bài 4 added. D dropped in bản 4; A still in bản 2.
    approve_again(pl3_lines(&[
        ("Bài 0. Giới thiệu", 7),
        ("Bài 1. Mở đầu", 10),
        ("Chương 2. Chất quanh ta", 68),
        ("Ôn tập", 5),
        ("Bài 4. Trái Đất", 50),
    ]));
    assert!(link(&a).2.contains("đã bỏ khỏi Phụ lục III bản 2 ("));
    let (st, _, m) = link(&d);
    assert_eq!(st, "dropped");
    assert!(m.contains("đã bỏ khỏi Phụ lục III bản 4 ("), "{m}");
    let row = get(&principal, &format!("{api}/dashboard"))["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["department"] == who.dept.as_str())
        .unwrap()
        .clone();
    // Handed in: A, B, E, Y (approved), C (submitted), D (reviewed). Holding: B, E, Y (all
    // moved but B); changed: C; dropped: A, D.
    assert_eq!(
        (
            &row["linked"],
            &row["moved"],
            &row["changed"],
            &row["dropped"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(2)),
        "{row}"
    );

    // Passed by the tổ before its lesson was dropped: BGH do not approve it alone either, and
    // her page offers to return it.
    let (st, e) = send(
        &principal,
        "POST",
        &format!("{b}/api/v1/lessons/plans/{d}/approve"),
        json!({"secret": PIN}),
    );
    assert_eq!(st, 409, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("Chưa phê duyệt được kế hoạch bài dạy “Bài D”")
            && m.contains("đã bỏ khỏi Phụ lục III bản 4"),
        "{m}"
    );
    let page = principal
        .get(format!("{b}/lessons/plan/{d}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("id=\"return-form\"") && page.contains("name=\"decision\" value=\"return\""),
        "{page}"
    );
    // The month's batch: D (dropped) left waiting and named, Y and the others approved.
    let month = &december(1)[..7];
    let page = principal
        .get(format!("{b}/lessons/dashboard?month={month}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
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
    let plans: Vec<Value> = list
        .split("<li ")
        .skip(1)
        .map(|li| json!({"id": attr(li, "data-plan"), "version": attr(li, "data-version").parse::<u32>().unwrap()}))
        .collect();
    assert!(plans.iter().any(|p| p["id"] == d.as_str()), "{list}");
    let (st, r) = send(
        &principal,
        "POST",
        &format!("{b}/api/v1/lessons/approve-month"),
        json!({"month": month, "secret": PIN, "plans": plans}),
    );
    assert_eq!(st, 200, "{r}");
    // The signed approval PDF says each approved plan's link as it reads at signing, as the
    // unsigned month export does: A's lesson was dropped in bản 2 (review r21 #10).
    let text = pdf_text(
        &principal,
        &format!("{b}/lessons/approval.pdf?month={month}"),
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    assert!(
        text.contains(
            "Liên kết hiện nay: Phụ lục III đã thay đổi: bài “Ôn tập” đã bỏ khỏi Phụ lục III bản 2"
        ),
        "{text}"
    );
    let approved: Vec<&str> = r["approved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(approved.contains(&y.as_str()), "{r}");
    assert!(!approved.contains(&d.as_str()), "{r}");
    let skipped = r["skipped"].as_array().unwrap();
    let why = skipped
        .iter()
        .find(|s| s[0] == d.as_str())
        .unwrap_or_else(|| panic!("D named as skipped: {r}"))[1]
        .as_str()
        .unwrap();
    assert!(
        why.starts_with("Chưa phê duyệt được kế hoạch bài dạy “Bài D”") && why.contains("bản 4"),
        "{why}"
    );
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("Chưa phê duyệt 1 kế hoạch vì liên kết Phụ lục III"),
        "{r}"
    );
    let lp = get(&principal, &format!("{b}/api/v1/lessons/plans/{d}"));
    assert_eq!(lp["plan"]["state"], "reviewed", "{lp}");

    // A new version only drafted (review r20 #4): the page keeps v4 in force — its table with
    // the KHBD counts (line 2: E and Y), its problem list, its Gắn lines —, the draft apart.
    new_version(pl3_lines(&[("Nháp 1", 70), ("Nháp 2", 70)]));
    for c in [&teacher, &principal] {
        let page = c
            .get(format!("{b}/dept/plan/{pl3}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let main = page
            .split("id=\"plan-lines\"")
            .nth(1)
            .and_then(|x| x.split("</table>").next())
            .unwrap();
        assert!(
            main.contains("<td>2</td><td>Bài 1. Mở đầu</td><td>10</td><td>Tuần 2</td><td></td><td>Lớp học</td><td>2</td>"),
            "{main}"
        );
        assert!(!main.contains("Nháp 1"), "{main}");
        let draft = page
            .split("id=\"plan-draft\"")
            .nth(1)
            .expect("the draft shown apart");
        assert!(draft.contains("Bản nháp phiên bản 5, chưa nộp"), "{draft}");
        let table = draft.split("</table>").next().unwrap();
        assert!(
            table.contains("<td>1</td><td>Nháp 1</td><td>70</td>"),
            "{table}"
        );
        assert!(!table.contains("KHBD"), "{table}");
        let broken = page
            .split("id=\"broken-links\"")
            .nth(1)
            .and_then(|x| x.split("</ul>").next())
            .expect("the problem list");
        assert!(
            broken.contains("Bài D") && broken.contains("bản 4"),
            "{broken}"
        );
    }
    let page = teacher
        .get(format!("{b}/dept/plan/{pl3}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(&format!("value=\"{pl3}#5\">5. Bài 4. Trái Đất</option>")),
        "the Gắn form offers v4's lines: {page}"
    );
    let text = pdf_text(&teacher, &format!("{b}/dept/plan/{pl3}/pdf"));
    assert!(
        text.contains("Phiên bản 4") && text.contains("Trái Đất") && !text.contains("Nháp 1"),
        "{text}"
    );
    let text = pdf_text(&teacher, &format!("{b}/dept/plan/{pl3}/pdf?version=5"));
    assert!(
        text.contains("Bản nháp, chưa ký") && text.contains("Nháp 1"),
        "{text}"
    );
    // The API's link and the count still read v4.
    assert_eq!(status(&bb), "ok 4");
}
