//! The gradebook end to end: `tram grades check` as a process, and the API of the real binary
//! on loopback — permissions, term lock, a correction verified by the homeroom teacher, the
//! parent notice naming one student only, and the class book as a real xlsx file.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{DemoClass, Server, bin, teacher_of};
use serde_json::{Value, json};

fn check(input: &str) -> (i32, Value) {
    let mut child = Command::new(bin())
        .args(["grades", "check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).expect("JSON on stdout"),
    )
}

#[test]
fn grades_check_contract() {
    let input = json!({"rules":"tt22","grade":8,"subjects":[
        {"name":"Toán","kind":"scored","periods_per_year":140,
         "term1":{"tx":[8,7,9,6.5],"gk":7.5,"ck":8.0},"term2":{"tx":[8,8,8,8],"gk":8.5,"ck":8}},
        {"name":"Giáo dục thể chất","kind":"comment","periods_per_year":70,
         "term1":{"tx":["Đ","Đ"],"gk":"Đ","ck":"Đ"},"term2":{"tx":["Đ","Đ"],"gk":"Đ","ck":"Đ"}}],
        "conduct":{"term1":"Tốt","term2":"Khá"},"absences":12});
    let (code, out) = check(&input.to_string());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["subjects"][0]["term1"], json!(7.7));
    assert_eq!(out["subjects"][0]["year"], json!(8.0));
    assert_eq!(out["subjects"][1]["year"], json!("Đ"));
    assert_eq!(out["year"]["conduct"], json!("Khá"));
    assert!(out["year"]["outcome"].is_string());

    let (code, out) = check(
        r#"{"rules":"tt22","grade":8,"subjects":[{"name":"Toán","kind":"scored","periods_per_year":140,"term1":{"tx":[8,7,9,"abc"],"gk":7.5,"ck":8}}]}"#,
    );
    assert_eq!(code, 2);
    assert_eq!(out["error"]["field"], json!("subjects[0].term1.tx[3]"));
    let (code, out) = check("not json");
    assert_eq!(code, 2);
    assert!(out["error"]["message"].as_str().unwrap().contains("JSON"));

    // Conduct and learning both Chưa đạt: both summer paths, the same subjects as the server
    // lists; a summer conduct for a student whose year conduct was not Chưa đạt is refused.
    let weak = |name: &str, x: f64| {
        json!({"name":name,"kind":"scored","periods_per_year":35,
        "term1":{"tx":[x,x],"gk":x,"ck":x},"term2":{"tx":[x,x],"gk":x,"ck":x}})
    };
    let subjects: Vec<Value> = [
        ("Toán", 4.0),
        ("Ngữ văn", 4.5),
        ("Ngoại ngữ 1", 3.9),
        ("A", 6.0),
        ("B", 6.0),
        ("C", 6.0),
        ("D", 6.0),
        ("E", 6.0),
    ]
    .iter()
    .map(|(n, x)| weak(n, *x))
    .collect();
    let both = json!({"rules":"tt22","grade":9,"subjects":subjects,
        "conduct":{"term1":"Chưa đạt","term2":"Chưa đạt"},"absences":3});
    let (code, out) = check(&both.to_string());
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["year"]["outcome"],
        json!("summer_conduct_and_re_assessment")
    );
    assert_eq!(
        out["year"]["re_assessment_subjects"],
        json!(["Toán", "Ngữ văn", "Ngoại ngữ 1"])
    );
    let mut not_owed = both.clone();
    not_owed["conduct"] = json!({"term1":"Đạt","term2":"Đạt","summer":"Tốt"});
    let (code, out) = check(&not_owed.to_string());
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["field"], json!("conduct.summer"));

    // An exemption (TT22 Đ10) only for GDTC (GDQP-AN at THPT): Toán exempt in term I is
    // refused with the field named, unless the student has a disability (Đ11, Đ12 k4).
    let mut exempt = input.clone();
    exempt["subjects"][0] = json!({"name":"Toán","kind":"scored","periods_per_year":140,
        "exempt":"term1","term2":{"tx":[8,8,8,8],"gk":8.5,"ck":8}});
    let (code, out) = check(&exempt.to_string());
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["field"], json!("subjects[0].exempt"));
    exempt["disability"] = json!(true);
    let (code, out) = check(&exempt.to_string());
    assert_eq!(code, 0, "{out}");
    let mut gdtc = input.clone();
    gdtc["subjects"][1] = json!({"name":"Giáo dục thể chất","kind":"comment",
        "periods_per_year":70,"exempt":"term1","term2":{"tx":["Đ","Đ"],"gk":"Đ","ck":"Đ"}});
    let (code, out) = check(&gdtc.to_string());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["subjects"][1]["year"], json!("Đ"));
}

static CLASS: DemoClass = DemoClass::new("8A1");

fn pdf_text(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let mut child = Command::new("pdftotext")
        .args(["-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (Debian poppler-utils) is installed");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lock_correction_notice_and_export_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), false);
    let base = s.base();
    let t = teacher_of(&s, &CLASS, "toan");
    let teacher = s.login(&t);
    let sheet: Value = teacher
        .get(format!("{base}/api/v1/grades/sheet/{CLASS}/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let students: Vec<String> = sheet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["student"].as_str().unwrap().to_string())
        .collect();
    let put = |c: &reqwest::blocking::Client,
               student: &str,
               col: &str,
               input: &str,
               v: u64,
               reason: Option<&str>| {
        c.put(format!("{base}/api/v1/grades/sheet/{CLASS}/toan/hk1"))
            .json(&json!({"student": student, "column": col, "input": input, "expected_version": v, "reason": reason}))
            .send()
            .unwrap()
    };
    for (col, v) in [
        ("tx1", "8"),
        ("tx2", "7"),
        ("tx3", "9"),
        ("tx4", "6,5"),
        ("gk", "7.5"),
        ("ck", "8"),
    ] {
        assert_eq!(put(&teacher, &students[0], col, v, 0, None).status(), 200);
    }
    let r = put(
        &teacher,
        &students[0],
        "nx",
        "Tiến bộ rõ ở phần hình học",
        0,
        None,
    );
    assert_eq!(r.status(), 200);
    // A teacher who does not teach this class × subject is refused, and nothing changes.
    let other = s.login(&teacher_of(&s, &common::demo_class("6A1"), "ngu-van"));
    let r = put(&other, &students[1], "tx1", "5", 0, None);
    assert_eq!(r.status(), 403);
    assert_eq!(
        other
            .get(format!("{base}/api/v1/grades/class/{CLASS}"))
            .send()
            .unwrap()
            .status(),
        403
    );
    // Bad input: a clear Vietnamese message.
    let r = put(&teacher, &students[1], "tx1", "8,25", 0, None);
    assert_eq!(r.status(), 422);
    let e: Value = r.json().unwrap();
    assert_eq!(
        e["error"]["message"],
        json!("Điểm chỉ được có một chữ số thập phân: nhận được 8,25")
    );

    // BGH locks term I (the school is incomplete, so it must be forced).
    let bgh = s.login("hieutruong");
    // Before the lock, the panel names the incomplete classes and their subjects (item 11).
    let panel = bgh
        .get(format!("{base}/grades"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(panel.contains("id=\"incomplete-hk1\""), "{panel}");
    assert!(panel.contains("8A1: ") && panel.contains("học sinh chưa đủ — môn "));
    let summary = bgh
        .get(format!("{base}/grades/school?term=hk1"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(summary.contains("Kết quả học tập") && summary.contains("Kết quả rèn luyện"));
    assert!(!summary.contains("Học lực") && !summary.contains("Hạnh kiểm"));
    // The year's outcome columns count each student once, by the decision that stands: a
    // student on both summer paths was counted twice (41 of 40; outside review, session 9).
    let year = bgh
        .get(format!("{base}/grades/school?term=cn"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let body = year.split("<tbody>").nth(1).unwrap();
    for row in body.split("<tr").skip(1) {
        let cells: Vec<usize> = row
            .split("<td>")
            .skip(1)
            .filter_map(|c| c.split('<').next().and_then(|n| n.trim().parse().ok()))
            .collect();
        // headcount, 5 learning, 5 conduct, 6 outcomes, awards
        assert_eq!(cells.len(), 18, "{row}");
        let outcomes: usize = cells[11..17].iter().sum();
        assert!(
            outcomes <= cells[0],
            "{outcomes} decisions for {} students: {row}",
            cells[0]
        );
    }
    // Review r25 #2: BGH's home page says last year is not locked for 9A2 (its results reach
    // no register, học bạ or district report yet) and links to that year's lock panel; the
    // signed 9A1 is not named.
    let home = bgh.get(format!("{base}/")).send().unwrap().text().unwrap();
    let open = format!(
        "Năm học {} chưa khoá sổ cả năm: lớp 9A2 —",
        common::showcase_year()
    );
    assert!(
        home.contains(&open)
            && home.contains(&format!(
                "href=\"/grades?year={}\"",
                common::showcase_year()
            )),
        "{home}"
    );
    // Last school year's summary (review r24 #7): its two graduating classes, 80 pupils, the
    // year named; the current year's page offers it among the school's years.
    assert!(
        year.contains("id=\"year-filter\"")
            && year.contains(&format!("year={}", common::showcase_year())),
        "{year}"
    );
    let last = bgh
        .get(format!(
            "{base}/grades/school?term=cn&year={}",
            common::showcase_year()
        ))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        last.contains(&format!("năm học {}", common::showcase_year()))
            && last.contains(&format!(
                "/grades/class/{}?term=cn",
                common::showcase_class("9A1")
            ))
            && !last.contains(&format!(
                "/grades/class/{}?term=cn",
                common::demo_class("6A1")
            )),
        "{last}"
    );
    let r = bgh
        .post(format!("{base}/api/v1/grades/terms/hk1/lock"))
        .json(&json!({"force": false}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 409);
    // The refusal says which classes and how many students each (issue 24 item 6), in words
    // and in the details the page can list.
    let refused: Value = r.json().unwrap();
    let message = refused["error"]["message"].as_str().unwrap();
    let classes = refused["error"]["details"]["classes"].as_array().unwrap();
    assert!(!classes.is_empty(), "{refused}");
    for c in classes {
        let (name, n) = (c["class_name"].as_str().unwrap(), &c["students"]);
        assert!(
            message.contains(&format!("lớp {name} ({n} học sinh)")),
            "{message}"
        );
    }
    let total: u64 = classes
        .iter()
        .map(|c| c["students"].as_u64().unwrap())
        .sum();
    assert!(
        message.starts_with(&format!("Còn {total} học sinh")),
        "{message}"
    );
    let r = bgh
        .post(format!("{base}/api/v1/grades/terms/hk1/lock"))
        .json(&json!({"force": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().unwrap();
    assert_eq!(report["rule_version"], json!("tt22-2021.1"));
    assert_eq!(
        teacher
            .post(format!("{base}/api/v1/grades/terms/hk1/unlock"))
            .json(&json!({"reason":"x"}))
            .send()
            .unwrap()
            .status(),
        403
    );

    // After the lock: a correction needs a reason, then waits for the homeroom teacher.
    assert_eq!(
        put(&teacher, &students[0], "ck", "9", 1, None).status(),
        422
    );
    let r = put(
        &teacher,
        &students[0],
        "ck",
        "9",
        1,
        Some("Phúc khảo bài cuối kì"),
    );
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().unwrap();
    assert_eq!(saved["status"], json!("correction_pending"));
    let id = saved["correction"]["id"].as_str().unwrap().to_string();
    let homeroom_id = common::homeroom_of(&s, &CLASS);
    let homeroom = s.login(&homeroom_id);
    let list: Value = homeroom
        .get(format!("{base}/api/v1/grades/corrections"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        list["corrections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str())
    );
    let r = homeroom
        .post(format!("{base}/api/v1/grades/corrections/{id}"))
        .json(&json!({"approve": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let sheet: Value = teacher
        .get(format!("{base}/api/v1/grades/sheet/{CLASS}/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    // (8+7+9+6.5 + 2×7.5 + 3×9) / 9 = 8.06 → 8,1
    assert_eq!(sheet["rows"][0]["result"], json!("8,1"));
    // A "correction" to the value the cell already holds is refused: it would still count as a
    // place corrected on the học bạ (outside review, session 9).
    let r = put(&teacher, &students[0], "ck", "9", 2, Some("Nhập lại"));
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "unchanged");

    // The parent notice names this student only.
    let book: Value = homeroom
        .get(format!("{base}/api/v1/grades/class/{CLASS}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<String> = book["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["full_name"].as_str().unwrap().to_string())
        .collect();
    let html = homeroom
        .get(format!("{base}/grades/notice/{}?term=hk1", students[0]))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("PHIẾU LIÊN LẠC"));
    let mine = names
        .iter()
        .position(|n| html.contains(n.as_str()))
        .expect("the student's own name");
    for (i, n) in names.iter().enumerate() {
        if i != mine && !names[mine].contains(n.as_str()) {
            assert!(
                !html.contains(n.as_str()),
                "the notice names another student: {n}"
            );
        }
    }
    assert!(html.contains("8,1"));

    // The monthly notice: what was entered this month (Vietnam time), this student only.
    let d = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date();
    let month = format!("{:04}-{:02}", d.year(), d.month());
    let html = homeroom
        .get(format!(
            "{base}/grades/notice/{}?month={month}",
            students[0]
        ))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        html.contains(&format!("Tháng {}/{}", d.month(), d.year())),
        "{html}"
    );
    assert!(html.contains("TX4 HKI: 6,5"), "{html}");
    assert!(html.contains("Tiến bộ rõ ở phần hình học"));
    let r = homeroom
        .get(format!(
            "{base}/grades/notice/{}?month=2026-13",
            students[0]
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    // The same notice as a PDF: the Vietnamese text reads back exactly (pdftotext, poppler).
    let pdf = homeroom
        .get(format!("{base}/grades/notice/{}/pdf?term=hk1", students[0]))
        .send()
        .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let text = pdf_text(&pdf.bytes().unwrap());
    assert!(text.contains("PHIẾU LIÊN LẠC"), "{text}");
    assert!(text.contains(names[mine].as_str()), "{text}");
    assert!(text.contains("8,1"));
    assert!(
        text.contains("Tiến bộ rõ ở phần hình học"),
        "the subject comment is printed: {text}"
    );
    for (i, n) in names.iter().enumerate() {
        if i != mine && !names[mine].contains(n.as_str()) {
            assert!(
                !text.contains(n.as_str()),
                "the PDF notice names another student: {n}"
            );
        }
    }
    let hocba = homeroom
        .get(format!("{base}/grades/hocba/{}/pdf", students[0]))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(pdf_text(&hocba).contains("HỌC BẠ"));
    let book_pdf = homeroom
        .get(format!("{base}/grades/class/{CLASS}/pdf?term=hk1"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let text = pdf_text(&book_pdf);
    assert!(text.contains("SỔ THEO DÕI VÀ ĐÁNH GIÁ HỌC SINH"));
    assert!(!text.contains("Học lực") && !text.contains("Hạnh kiểm"));
    assert!(
        names.iter().all(|n| text.contains(n.as_str())),
        "the class book lists every student"
    );
    // Another class's teacher cannot print this student's notice.
    assert_eq!(
        other
            .get(format!("{base}/grades/notice/{}/pdf", students[0]))
            .send()
            .unwrap()
            .status(),
        403
    );

    // The class book is a real xlsx file with the scores in it.
    let bytes = homeroom
        .get(format!("{base}/api/v1/grades/export/{CLASS}.xlsx"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = wb.sheet_names().to_vec();
    assert_eq!(names[0], "Tổng hợp");
    let toan = wb.worksheet_range("Toán").unwrap();
    let rows: Vec<Vec<String>> = toan
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let header = rows
        .iter()
        .find(|r| r.iter().any(|c| c == "TX1 HKI"))
        .unwrap();
    let ck = header.iter().position(|c| c == "CK HKI").unwrap();
    let first = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("1"))
        .unwrap();
    assert_eq!(first[ck], "9");
    // And the audit chain holds every change above (checked with the box stopped).
    s.stop();
    let out = common::tram(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
}
