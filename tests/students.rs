//! Issue 24 item 3 and issue 25 item 3 on the real binary: a student added, edited, moved to
//! another class (their scores follow), transferred out, transferred in and withdrawn — each
//! refused with a clear Vietnamese message when it makes no sense, audited, and relayed to a
//! real hub; the sổ đăng bộ built from those records, printed (pdftotext) and exported
//! (calamine), its lines never erased.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{DemoClass, Hub, Server, enroll, homeroom_of, relayed, teacher_of};
use serde_json::{Value, json};

static FROM: DemoClass = DemoClass::new("6A1");
static TO: DemoClass = DemoClass::new("6A2");

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date()
}

/// Every record the hub holds for the school, paged through.
fn hub_records(hub_url: &str, secret: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{hub_url}/relay/v1/records/79000701?after=0");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let page: Value = reqwest::blocking::Client::new()
            .get(url)
            .bearer_auth(secret)
            .send()
            .unwrap()
            .json()
            .unwrap();
        out.extend(page["records"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => return out,
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The audit chain's length (`tram audit verify` asks the running server).
fn audit_len(dir: &std::path::Path) -> u64 {
    let out = common::tram(&["audit", "verify", "--data-dir", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "audit verify: {text}");
    text.split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count in {text}"))
}

fn pdftotext(pdf: &[u8]) -> Option<String> {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let mut child = match Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "pdftotext is missing ({e})"
            );
            eprintln!("skipped: pdftotext is not installed");
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    Some(String::from_utf8(out.stdout).unwrap())
}

fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

fn error_message(r: reqwest::blocking::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().unwrap_or(Value::Null);
    (
        status,
        v["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn student_changes_are_checked_keep_the_scores_and_reach_the_hub() {
    let hub_dir = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let hub = Hub::start(hub_dir.path());
    let url = format!("http://127.0.0.1:{}", hub.port);
    let out = enroll(data, &url, &hub.token("79000701"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let relay = ["--relay-rate", "10000000", "--relay-school-hours", "off"];
    let s = Server::start_with(dir.path(), false, &relay);
    let b = s.base();
    let admin = s.login("admin");
    let today = today();
    let iso = |d: jiff::civil::Date| d.strftime("%d/%m/%Y").to_string();
    let roll = |class: &str| -> Vec<Value> {
        admin
            .get(format!("{b}/api/v1/students?class={class}"))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["students"]
            .as_array()
            .unwrap()
            .clone()
    };

    // Add: two students; a duplicate mã định danh and an unknown class are refused.
    let add = |name: &str, ma: &str, class: &str, arrived: Option<Value>| {
        // The gender the number's 4th digit codes (3: a girl born in the 2000s, 2: a boy).
        let gender = if ma.as_bytes().get(3) == Some(&b'3') {
            "Nữ"
        } else {
            "Nam"
        };
        let mut body = json!({"full_name": name, "dob": "14/03/2014", "gender": gender,
                              "ma_dinh_danh": ma, "class_id": class});
        if let Some(a) = arrived {
            body["arrived"] = a;
        }
        admin
            .post(format!("{b}/api/v1/students"))
            .json(&body)
            .send()
            .unwrap()
    };
    let r = add("Lê Thu Trang", "079314888001", &FROM, None);
    assert_eq!(r.status(), 201);
    let trang = r.json::<Value>().unwrap()["student"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = add("Hồ Minh Khôi", "079214888002", &FROM, None);
    assert_eq!(r.status(), 201);
    let khoi = r.json::<Value>().unwrap()["student"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = audit_len(dir.path());
    // What a refused add could have written: the school's roll and its register. (Not the audit
    // count: the box time-stamps the demo's signed học bạ in the background while enrolled.)
    let school = || {
        let get = |path: &str| {
            admin
                .get(format!("{b}{path}"))
                .send()
                .unwrap()
                .json::<Value>()
                .unwrap()
        };
        (get("/api/v1/students"), get("/api/v1/register"))
    };
    let school_before = school();
    let (st, msg) = error_message(add("Người Khác", "079314888001", &FROM, None));
    assert_eq!(st, 422);
    assert!(
        msg.contains("Đã có học sinh với mã định danh 079314888001"),
        "{msg}"
    );
    let (st, msg) = error_message(add("Người Khác", "079314888009", "2026-6z9", None));
    assert_eq!(st, 422);
    assert!(msg.contains("Không tìm thấy lớp"), "{msg}");
    // Transfer in from the future: refused.
    let (st, msg) = error_message(add(
        "Người Khác",
        "079314888009",
        &FROM,
        Some(json!({"date": iso(today + jiff::ToSpan::days(3)), "from_school": "THCS A"})),
    ));
    assert_eq!(st, 422);
    assert!(msg.contains("ở tương lai"), "{msg}");
    assert!(school() == school_before, "a refusal wrote nothing");

    // Transfer in: the student arrives with the date and the origin school.
    let r = add(
        "Đặng Quốc Bảo",
        "079214888003",
        &FROM,
        Some(json!({"date": iso(today), "from_school": "Trường THCS Nguyễn Du"})),
    );
    assert_eq!(r.status(), 201);
    let bao = r.json::<Value>().unwrap()["student"].clone();
    assert_eq!(bao["arrived"]["from_school"], "Trường THCS Nguyễn Du");
    let bao = bao["id"].as_str().unwrap().to_string();

    // Edit: the name changes, another student's number is refused.
    let r = admin
        .patch(format!("{b}/api/v1/students/{trang}"))
        .json(&json!({"full_name": "Lê Thu Trang Anh"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, msg) = error_message(
        admin
            .patch(format!("{b}/api/v1/students/{khoi}"))
            .json(&json!({"ma_dinh_danh": "079214888003"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("Đã có học sinh với mã định danh"), "{msg}");
    // Review r8: a number that reads another gender or birth year than the record is refused
    // with both readings (a girl born 2014 with a boy's 2009 number; a birth year of 2009 for
    // a 2014 number).
    let (st, msg) = error_message(
        admin
            .patch(format!("{b}/api/v1/students/{trang}"))
            .json(&json!({"ma_dinh_danh": "079209888001"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(
        msg.contains("ghi Nam, sinh năm 2009") && msg.contains("hồ sơ ghi Nữ, sinh năm 2014"),
        "{msg}"
    );
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students"))
            .json(
                &json!({"full_name": "Sai Năm", "dob": "14/03/2009", "gender": "Nữ",
                          "ma_dinh_danh": "079314888077", "class_id": FROM}),
            )
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("ghi Nữ, sinh năm 2014"), "{msg}");
    // Review r8 #5: a birth date in the future, one that makes a grade-6 pupil 21, and a
    // transfer in dated before the class's school year are refused with the reason.
    let post = |body: Value| {
        error_message(
            admin
                .post(format!("{b}/api/v1/students"))
                .json(&body)
                .send()
                .unwrap(),
        )
    };
    // 1 January after the school year's end: in the future whatever the day.
    let future = common::term_date(1, 1).year() + 1;
    let (st, msg) = post(
        json!({"full_name": "Sinh Sau", "dob": format!("01/01/{future}"), "gender": "Nữ",
                                "ma_dinh_danh": format!("0793{:02}888078", future % 100), "class_id": FROM}),
    );
    assert_eq!(st, 422);
    assert!(
        msg.contains(&format!("Ngày sinh 01/01/{future} ở tương lai")),
        "{msg}"
    );
    let (st, msg) = post(
        // 21 in the year's first calendar year (born 2005 for 2026-2027).
        json!({"full_name": "Quá Tuổi",
               "dob": format!("01/01/{}", common::term_date(9, 1).year() - 21), "gender": "Nữ",
               "ma_dinh_danh": format!("0793{:02}888079", (common::term_date(9, 1).year() - 21) % 100),
               "class_id": FROM}),
    );
    assert_eq!(st, 422);
    assert!(
        msg.contains("21 tuổi") && msg.contains("từ 10 đến 20 tuổi"),
        "{msg}"
    );
    let (st, msg) = post(
        json!({"full_name": "Đến Sớm", "dob": "14/03/2014", "gender": "Nữ",
                                "ma_dinh_danh": "079314888080", "class_id": FROM,
                                "arrived": {"date": "01/01/2020", "from_school": "THCS A"}}),
    );
    assert_eq!(st, 422);
    assert!(
        msg.contains(&format!("trước năm học {}", common::demo_year())),
        "{msg}"
    );
    let (st, msg) = error_message(
        admin
            .patch(format!("{b}/api/v1/students/{trang}"))
            // 1 January after the school year's end: in the future whatever the day.
            .json(&json!({"dob": format!("{}-01-01", common::term_date(1, 1).year() + 1),
                          "ma_dinh_danh": format!("0793{:02}888001", (common::term_date(1, 1).year() + 1) % 100)}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("ở tương lai"), "{msg}");

    // A score for Trang in 6A1, then she moves to 6A2: the score is in 6A2's sheet.
    let teacher = s.login(&teacher_of(&s, &FROM, "toan"));
    let r = teacher
        .put(format!("{b}/api/v1/grades/sheet/{FROM}/toan/hk1"))
        .json(&json!({"student": trang, "column": "tx1", "input": "7,5", "expected_version": 0}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students/{trang}/move"))
            .json(&json!({"class_id": "2026-6z9"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("Không tìm thấy lớp"), "{msg}");
    let r = admin
        .post(format!("{b}/api/v1/students/{trang}/move"))
        .json(&json!({"class_id": TO}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert!(audit_len(dir.path()) > before, "the move is audited");
    assert!(roll(&FROM).iter().all(|x| x["id"] != trang.as_str()));
    assert!(roll(&TO).iter().any(|x| x["id"] == trang.as_str()));
    let teacher2 = s.login(&teacher_of(&s, &TO, "toan"));
    let sheet: Value = teacher2
        .get(format!("{b}/api/v1/grades/sheet/{TO}/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let row = sheet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["student"] == trang.as_str())
        .expect("Trang is in 6A2's sheet")
        .clone();
    let tx1 = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "tx1")
        .unwrap_or_else(|| panic!("{row}"));
    assert!(tx1["text"] == "7,5" || tx1["text"] == "7.5", "{row}");

    // Transfer out: not in the future, not before she entered; then she leaves the class list
    // and the score grid, and cannot be moved any more.
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students/{trang}/transfer-out"))
            .json(&json!({"date": iso(today + jiff::ToSpan::days(1)), "to_school": "THCS Lê Lợi", "reason": "Chuyển nhà"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("ở tương lai"), "{msg}");
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students/{trang}/transfer-out"))
            // She entered at the start of the year (05/09: added without an entry date; today
            // before it, in August).
            .json(
                &json!({"date": iso(common::default_entry() - jiff::ToSpan::days(1)), "to_school": "THCS Lê Lợi", "reason": "Chuyển nhà"}),
            )
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("trước ngày học sinh vào trường"), "{msg}");
    let r = admin
        .post(format!("{b}/api/v1/students/{trang}/transfer-out"))
        .json(&json!({"date": iso(today), "to_school": "THCS Lê Lợi", "reason": "Gia đình chuyển nhà"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert!(roll(&TO).iter().all(|x| x["id"] != trang.as_str()));
    let sheet: Value = teacher2
        .get(format!("{b}/api/v1/grades/sheet/{TO}/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        sheet["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["student"] != trang.as_str())
    );
    // Her records stay: the homeroom teacher still opens her học bạ, with the score.
    let gvcn = s.login(&common::homeroom_of(&s, &TO));
    let r = gvcn
        .get(format!("{b}/grades/hocba/{trang}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the học bạ of a student who left");
    let hocba = r.text().unwrap();
    assert!(hocba.contains("Lê Thu Trang Anh"), "{hocba}");
    assert!(
        hocba.contains("Chuyển trường ngày") && hocba.contains("THCS Lê Lợi"),
        "the học bạ shows that she left: {hocba}"
    );
    // The printed học bạ says so too (review r8: only the page did), for a transfer dossier.
    let pdf = gvcn
        .get(format!("{b}/grades/hocba/{trang}/pdf"))
        .send()
        .unwrap();
    assert_eq!(pdf.status(), 200);
    if let Some(text) = pdftotext(&pdf.bytes().unwrap()) {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("Chuyển trường ngày") && flat.contains("THCS Lê Lợi"),
            "{flat}"
        );
    }
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students/{trang}/move"))
            .json(&json!({"class_id": FROM}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("đã rời trường"), "{msg}");

    // Withdrawal: Khôi leaves; withdrawing him again is refused.
    let r = admin
        .post(format!("{b}/api/v1/students/{khoi}/withdraw"))
        .json(&json!({"date": iso(today), "reason": "Theo gia đình vào Bình Dương"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students/{khoi}/withdraw"))
            .json(&json!({"date": iso(today), "reason": "lần nữa"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("đã rời trường"), "{msg}");

    // The students page shows who left, with the status.
    let page = admin
        .get(format!("{b}/admin/students?class={FROM}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Hồ Minh Khôi") && page.contains("Thôi học ngày"),
        "{page}"
    );
    // The class list counts the roll, the leavers beside it (review r21 #3: it counted both).
    let roll = admin
        .get(format!("{b}/api/v1/students?class={FROM}"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["students"]
        .as_array()
        .unwrap()
        .len();
    let classes = admin
        .get(format!("{b}/admin/classes"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let row = classes
        .split("<tr>")
        .find(|r| r.contains(&format!("class={FROM}\"")))
        .unwrap_or_else(|| panic!("{classes}"));
    assert!(
        row.contains(&format!("<td>{roll} (")) && row.contains(" đã rời)</td>"),
        "{roll} on the roll, the leavers beside: {row}"
    );

    // Every change reached the hub, keyed by the mã định danh.
    relayed(dir.path(), 120, "the relay did not finish");
    let deadline = Instant::now() + Duration::from_secs(60);
    let enrolment: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("relay.json")).unwrap()).unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    loop {
        let held = hub_records(&url, &secret);
        let find = |ma: &str| {
            held.iter()
                .find(|r| r["kind"] == "student" && r["key"] == format!("hs-{ma}"))
                .cloned()
        };
        let trang = find("079314888001");
        let khoi = find("079214888002");
        let bao = find("079214888003");
        let done = matches!((&trang, &khoi, &bao), (Some(t), Some(k), Some(b))
            if t["record"]["left"]["kind"] == "transfer_out"
                && t["record"]["full_name"] == "Lê Thu Trang Anh"
                && t["record"]["class_id"] == TO
                && k["record"]["left"]["kind"] == "withdrawn"
                && b["record"]["arrived"]["from_school"] == "Trường THCS Nguyễn Du");
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hub holds {trang:?} {khoi:?} {bao:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = bao;
}

#[test]
fn the_register_keeps_every_line_prints_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    // The demo's register: a transfer in, a transfer out and a withdrawal among its lines —
    // weeks after the year's entry, so a demo seeded in its first three weeks has none yet
    // (`demo::register`): then the office records them today.
    if common::today() < common::default_entry() + jiff::ToSpan::days(22) {
        let demo = register_lines(&admin, &b);
        assert!(demo.iter().all(|l| l["left"] == ""), "no leaver yet");
        let day = common::today().strftime("%d/%m/%Y").to_string();
        let pupil = |i: usize| {
            demo[demo.len() - 1 - i]["student"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let r = admin
            .post(format!("{b}/api/v1/students/{}/transfer-out", pupil(0)))
            .json(&json!({"date": day, "to_school": "THCS Lê Lợi", "reason": "Chuyển nhà"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text());
        let r = admin
            .post(format!("{b}/api/v1/students/{}/withdraw", pupil(1)))
            .json(&json!({"date": day, "reason": "Theo gia đình"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text());
        add_to_from(
            &admin,
            &b,
            ["Đến Sớm", "03/03/2014", "Nữ", "079314777003"],
            json!({"date": day, "from_school": "Trường THCS Nguyễn Du"}),
        );
    }
    let lines = register_lines(&admin, &b);
    assert!(lines.len() > 400, "{}", lines.len());
    let numbers: Vec<u64> = lines
        .iter()
        .map(|l| l["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    let transferred = lines
        .iter()
        .find(|l| l["left"].as_str().unwrap().starts_with("Chuyển trường"))
        .expect("a transfer out")
        .clone();
    assert!(
        lines
            .iter()
            .any(|l| l["left"].as_str().unwrap().starts_with("Thôi học"))
    );
    assert!(lines.iter().any(|l| l["arrived_from"] != ""));

    // A line opened by mistake is struck with its reason, never erased; its number is not
    // given again.
    add_to_from(
        &admin,
        &b,
        ["Nhập Nhầm", "01/01/2014", "Nam", "079214777001"],
        Value::Null,
    );
    let mistake = register_lines(&admin, &b).last().unwrap().clone();
    assert_eq!(mistake["full_name"], "Nhập Nhầm");
    let n = mistake["number"].as_u64().unwrap();
    // The book numbered in the order pupils entered (last year's graduates first), this one
    // after every line.
    assert_eq!(n, numbers.len() as u64 + 1);
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/register/{n}/strike"))
            .json(&json!({"reason": "  "}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("lý do"), "{msg}");
    let r = admin
        .post(format!("{b}/api/v1/register/{n}/strike"))
        .json(&json!({"reason": "Nhập nhầm hồ sơ của trường khác", "after": "leave_roll"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let later = add_to_from(
        &admin,
        &b,
        ["Vào Sau", "02/02/2014", "Nữ", "079314777002"],
        Value::Null,
    );
    // The paper book's columns (review r8 #9): the parents' occupations and đối tượng chính
    // sách, from the student's profile.
    let r = admin
        .put(format!("{b}/api/v1/students/{later}/profile"))
        .json(&json!({"father": "Lê Văn Cha", "father_job": "Kĩ sư",
                      "mother_job": "Nông dân", "policy": "Hộ nghèo"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let last = register_lines(&admin, &b);
    let struck = last
        .iter()
        .find(|l| l["number"] == n)
        .expect("the struck line stays");
    assert_eq!(struck["struck"], "Nhập nhầm hồ sơ của trường khác");
    assert_eq!(last.last().unwrap()["number"].as_u64().unwrap(), n + 1);
    assert_eq!(last.last().unwrap()["full_name"], "Vào Sau");

    // A number the register never gave is named as such.
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/register/999999/strike"))
            .json(&json!({"reason": "x"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("không có dòng số 999999"), "{msg}");

    // Printed: the title and a student's name; exported: the same lines, parsed back.
    let r = admin
        .get(format!("{b}/api/v1/export/register.pdf"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let pdf = r.bytes().unwrap();
    if let Some(text) = pdftotext(&pdf) {
        assert!(text.contains("SỔ ĐĂNG BỘ"), "{text}");
        // The certification as on paper, with the count filled in (one form feed a page).
        let pages = text.matches('\u{c}').count();
        assert!(pages > 1, "{pages}");
        assert!(
            text.contains(&format!(
                "Sổ này có {pages} trang, đánh số từ 1 đến {pages}."
            )),
            "{text}"
        );
        assert!(text.contains("Hộ nghèo"), "đối tượng chính sách printed");
    }
    // The transferred pupil's line is printed in the book of the year she entered (the demo's
    // lớp 9 entered lớp 6 three years ago).
    let entered = transferred["entered_on"].as_str().unwrap();
    let (m, y): (i16, i16) = (
        entered[3..5].parse().unwrap(),
        entered[6..].parse().unwrap(),
    );
    let start = if m >= 8 { y } else { y - 1 };
    let r = admin
        .get(format!(
            "{b}/api/v1/export/register.pdf?year={start}-{}",
            start + 1
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    if let Some(text) = pdftotext(&r.bytes().unwrap()) {
        let name = transferred["full_name"].as_str().unwrap();
        let given = name.rsplit(' ').next().unwrap();
        assert!(text.contains(given), "{name} not printed");
        assert!(text.contains("Chuyển trường"), "the transfer is printed");
    }
    let r = admin
        .get(format!("{b}/api/v1/export/register.xlsx"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let exported = r.bytes().unwrap();
    let rows = xlsx_rows(&exported);
    assert!(rows[0][0].contains("SỔ ĐĂNG BỘ"), "{:?}", rows[0]);
    // Read back by the import of earlier years' lines: this year's lines are not earlier ones
    // (and their numbers are taken), so every row is refused by number and nothing is written.
    let send = |mode: &str| {
        admin
            .post(format!("{b}/api/v1/import/register?mode={mode}"))
            .body(exported.to_vec())
            .header("Content-Type", "application/octet-stream")
            .header("X-CSRF-Token", common::csrf(&admin, &b))
            .send()
            .unwrap()
    };
    let preview: Value = send("preview").json().unwrap();
    assert_eq!(preview["clean"], false, "{preview}");
    let problems = preview["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["row"] == 4
            && p["message"]
                .as_str()
                .unwrap()
                .contains("chỉ nhập dòng của các năm học trước")),
        "{preview}"
    );
    assert!(
        problems.iter().any(|p| p["message"]
            .as_str()
            .unwrap()
            .contains("đã có trong sổ của trường")),
        "{preview}"
    );
    let before = register_lines(&admin, &b);
    let (st, msg) = error_message(send("commit"));
    assert_eq!(st, 422);
    assert!(msg.contains("chưa nhập dòng nào"), "{msg}");
    assert_eq!(register_lines(&admin, &b), before);
    assert_eq!(rows[2][0], "Số đăng bộ");
    let body = &rows[3..];
    // This year's book: the lines of the pupils who entered this year.
    let this_year: Value = admin
        .get(format!("{b}/api/v1/register"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body.len(), this_year["lines"].as_array().unwrap().len());
    // The transfer, in the book of the year she entered.
    let r = admin
        .get(format!(
            "{b}/api/v1/export/register.xlsx?year={start}-{}",
            start + 1
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let theirs = xlsx_rows(&r.bytes().unwrap());
    assert!(
        theirs[3..]
            .iter()
            .any(|r| r[1] == transferred["full_name"].as_str().unwrap()
                && r[13].starts_with("Chuyển trường"))
    );
    // The columns after the transfers: a result column per grade the school teaches, then
    // Tốt nghiệp and Ghi chú (the last).
    let note = rows[2].len() - 1;
    assert_eq!(rows[2][note], "Ghi chú");
    assert_eq!(rows[2][note - 1], "Tốt nghiệp");
    assert!(rows[2][14].starts_with("Kết quả lớp"), "{:?}", rows[2]);
    assert!(
        body.iter()
            .any(|r| r[1] == "Nhập Nhầm" && r.get(note).is_some_and(|n| n.contains("Gạch bỏ")))
    );
    assert_eq!(rows[2][7], "Nghề nghiệp cha, mẹ (người giám hộ)");
    assert_eq!(rows[2][9], "Đối tượng chính sách");
    let row = body.iter().find(|r| r[1] == "Vào Sau").expect("Vào Sau");
    assert_eq!(
        (row[6].as_str(), row[7].as_str(), row[9].as_str()),
        ("Cha: Lê Văn Cha", "Cha: Kĩ sư; Mẹ: Nông dân", "Hộ nghèo")
    );

    // A teacher may not read or print the register (parents, addresses).
    let t = s.login(&teacher_of(&s, &FROM, "toan"));
    assert_eq!(
        t.get(format!("{b}/api/v1/register"))
            .send()
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        t.get(format!("{b}/api/v1/export/register.pdf"))
            .send()
            .unwrap()
            .status(),
        403
    );

    // Continuing a paper book: the next number is set (numbers only grow), and the next
    // student gets it; a smaller one is refused, naming the smallest allowed.
    let top = register_lines(&admin, &b).last().unwrap()["number"]
        .as_u64()
        .unwrap();
    let next = top + 1000;
    let r = admin
        .put(format!("{b}/api/v1/register/next"))
        .json(&json!({"next": next}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    add_to_from(
        &admin,
        &b,
        ["Tiếp Sổ Cũ", "03/03/2014", "Nam", "079214777003"],
        Value::Null,
    );
    let newest = register_lines(&admin, &b).last().unwrap().clone();
    assert_eq!(
        (newest["number"].as_u64(), newest["full_name"].as_str()),
        (Some(next), Some("Tiếp Sổ Cũ"))
    );
    let (st, msg) = error_message(
        admin
            .put(format!("{b}/api/v1/register/next"))
            .json(&json!({"next": 5}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains(&format!("từ {} trở lên", next + 1)), "{msg}");
}

/// chromedriver + headless Chromium as a 360-px phone (as tests/browser.rs drives it).
struct Driver(std::process::Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// At 360 px the students page is no wider than the screen outside its table's scroll
/// container, and a withdrawal typed into its form moves the student to the list of those
/// who left, with the status.
#[test]
fn the_students_page_records_a_withdrawal_on_a_phone() {
    use fantoccini::{ClientBuilder, Locator};
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let base = s.base();
    let admin = s.login("admin");
    let student = admin
        .get(format!("{base}/api/v1/students?class={FROM}"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["students"][0]
        .clone();
    let id = student["id"].as_str().unwrap().to_string();
    let name = student["full_name"].as_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver) is installed"),
    );
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "mobileEmulation": {"deviceMetrics": {"width": 360, "height": 760, "pixelRatio": 2.0, "touch": true}},
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", home.path().join("chrome").display())]
        }
    }))
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        let c = loop {
            match ClientBuilder::rustls()
                .unwrap()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "chromedriver: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let find = |css: &'static str| {
            let c = c.clone();
            async move {
                c.wait()
                    .at_most(Duration::from_secs(20))
                    .for_element(Locator::Css(css))
                    .await
                    .unwrap_or_else(|e| panic!("{css}: {e}"))
            }
        };
        c.goto(&format!("{base}/login")).await.unwrap();
        find("#username").await.send_keys("admin").await.unwrap();
        find("#password")
            .await
            .send_keys(common::PASSWORD)
            .await
            .unwrap();
        find("#login-submit").await.click().await.unwrap();
        find("#welcome").await;
        c.goto(&format!("{base}/admin/students?class={FROM}"))
            .await
            .unwrap();
        find("#add-student").await;
        let width = c
            .execute("return document.documentElement.scrollWidth", vec![])
            .await
            .unwrap();
        assert!(
            width.as_u64().unwrap() <= 360,
            "the page is {width} px wide"
        );
        // Open the student's section, fill the withdrawal, send it.
        c.find(Locator::Css(&format!("#manage-{id} summary")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let form = c
            .find(Locator::Css(&format!(
                "#manage-{id} form[data-api-form$=\"/withdraw\"]"
            )))
            .await
            .unwrap();
        let today = today().strftime("%d/%m/%Y").to_string();
        form.find(Locator::Css("input[name=date]"))
            .await
            .unwrap()
            .send_keys(&today)
            .await
            .unwrap();
        form.find(Locator::Css("input[name=reason]"))
            .await
            .unwrap()
            .send_keys("Gia đình chuyển vào Nam")
            .await
            .unwrap();
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The page reloads with the student among those who left.
        let left = find("#students-left").await;
        let text = left.text().await.unwrap();
        assert!(
            text.contains(&name) && text.contains("Thôi học ngày"),
            "{text}"
        );
        let width = c
            .execute("return document.documentElement.scrollWidth", vec![])
            .await
            .unwrap();
        assert!(
            width.as_u64().unwrap() <= 360,
            "the page is {width} px wide"
        );
        c.close().await.unwrap();
    });
}

/// A class change typed into the student sheet and imported keeps the student's scores, as
/// the page's move does.
#[test]
fn a_class_change_in_the_imported_sheet_keeps_the_scores() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    let teacher = s.login(&teacher_of(&s, &FROM, "toan"));
    let sheet: Value = teacher
        .get(format!("{b}/api/v1/grades/sheet/{FROM}/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let student = sheet["rows"][0]["student"].as_str().unwrap().to_string();
    let r = teacher
        .put(format!("{b}/api/v1/grades/sheet/{FROM}/toan/hk1"))
        .json(&json!({"student": student, "column": "tx1", "input": "9", "expected_version": 0}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let ma = admin
        .get(format!("{b}/api/v1/students?class={FROM}"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["students"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == student.as_str())
        .unwrap()["ma_dinh_danh"]
        .as_str()
        .unwrap()
        .to_string();
    // The class's export, with this student's class changed to 6A2.
    let bytes = admin
        .get(format!("{b}/api/v1/export/students.xlsx?class={FROM}"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let rows = xlsx_rows(&bytes);
    let col = rows[0]
        .iter()
        .position(|h| h == "Lớp")
        .expect("a Lớp column");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        let moved = row.contains(&ma);
        for (c, v) in row.iter().enumerate() {
            let v = if moved && c == col { "6A2" } else { v.as_str() };
            ws.write_string(r as u32, c as u16, v).unwrap();
        }
    }
    let file = wb.save_to_buffer().unwrap();
    let preview: Value = admin
        .post(format!("{b}/api/v1/import/students"))
        .body(file.clone())
        .header("Content-Type", "application/octet-stream")
        .header("X-CSRF-Token", common::csrf(&admin, &b))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(preview["updates"], 1, "{preview}");
    let digest = preview["preview"].as_str().unwrap();
    let r = admin
        .post(format!(
            "{b}/api/v1/import/students?mode=commit&preview={digest}"
        ))
        .body(file)
        .header("Content-Type", "application/octet-stream")
        .header("X-CSRF-Token", common::csrf(&admin, &b))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let teacher2 = s.login(&teacher_of(&s, &TO, "toan"));
    let sheet: Value = teacher2
        .get(format!("{b}/api/v1/grades/sheet/{TO}/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let row = sheet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["student"] == student.as_str())
        .expect("the student is in 6A2's sheet")
        .clone();
    let tx1 = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "tx1")
        .unwrap();
    assert_eq!(tx1["text"], "9", "{row}");
}

/// Review r9 #2, #4 and #5 on the demo school: a move to a class of another grade is refused
/// and the move form offers only the same grade; a student added without a transfer in entered
/// at the start of the school year (so a withdrawal dated before today is accepted); the home
/// page counts only the students still at the school.
#[test]
fn moves_keep_the_grade_entry_is_the_years_start_and_leavers_are_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    let iso = |d: jiff::civil::Date| d.strftime("%d/%m/%Y").to_string();
    let home_count = || -> u64 {
        let home = admin.get(format!("{b}/")).send().unwrap().text().unwrap();
        let at = home
            .find(" học sinh")
            .expect("the home page counts students");
        home[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count before “học sinh”: {home}"))
    };
    let enrolled_before = home_count();

    let r = admin
        .post(format!("{b}/api/v1/students"))
        .json(
            &json!({"full_name": "Đinh Thị Mới", "dob": "14/03/2014", "gender": "Nữ",
                      "ma_dinh_danh": "079314666001", "class_id": FROM}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let moi = r.json::<Value>().unwrap()["student"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(home_count(), enrolled_before + 1);
    // Her register line says she entered when the demo's year began (its first term starts
    // 05/09/2026), not today.
    let reg: Value = admin
        .get(format!("{b}/api/v1/register"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let line = reg["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["full_name"] == "Đinh Thị Mới")
        .expect("her register line")
        .clone();
    assert_eq!(
        line["entered_on"],
        common::default_entry().strftime("%d/%m/%Y").to_string(),
        "{line}"
    );

    // A move to 9A1 mid-year is refused; the form lists 6A2 but no class of another grade.
    let (st, msg) = error_message(
        admin
            .post(format!("{b}/api/v1/students/{moi}/move"))
            .json(&json!({"class_id": common::demo_class("9A1")}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 422);
    assert!(msg.contains("Chỉ chuyển sang lớp cùng khối"), "{msg}");
    let page = admin
        .get(format!("{b}/admin/students?class={FROM}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let form = &page[page.find("/move\"").expect("the move form")..];
    let select = &form[..form.find("</select>").unwrap()];
    assert!(select.contains(&format!("value=\"{TO}\"")), "{select}");
    assert!(
        !select.contains(&*common::demo_class("7A1"))
            && !select.contains(&*common::demo_class("9A1")),
        "{select}"
    );
    let r = admin
        .post(format!("{b}/api/v1/students/{moi}/move"))
        .json(&json!({"class_id": TO}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());

    // Withdrawn yesterday: accepted (she entered in September); she is no longer counted.
    let r = admin
        .post(format!("{b}/api/v1/students/{moi}/withdraw"))
        .json(&json!({"date": iso(common::since_entry(1)), "reason": "Theo gia đình"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert_eq!(home_count(), enrolled_before);
}

/// Adds a student to FROM as the office's form does; the new student's id.
fn add_to_from(
    admin: &reqwest::blocking::Client,
    b: &str,
    person: [&str; 4],
    arrived: Value,
) -> String {
    let [name, dob, gender, ma] = person;
    let r = admin
        .post(format!("{b}/api/v1/students"))
        .json(&json!({"full_name": name, "dob": dob, "gender": gender,
                      "ma_dinh_danh": ma, "class_id": FROM, "arrived": arrived}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{name}");
    let v: Value = r.json().unwrap();
    v["student"]["id"].as_str().unwrap().to_string()
}

/// The register's lines as the API lists them for the current year.
/// The register's lines, by number: the books of the years the demo's pupils entered in (this
/// year's lớp 9 entered lớp 6 three years ago, last year's graduates four), merged.
fn register_lines(admin: &reqwest::blocking::Client, b: &str) -> Vec<Value> {
    let this = tram::demo::DemoYear::of(jiff::Timestamp::now());
    let mut lines = Vec::new();
    for back in (0..5).rev() {
        let year = tram::demo::DemoYear {
            start: this.start - back,
        }
        .id();
        let reg: Value = admin
            .get(format!("{b}/api/v1/register?year={year}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        lines.extend(reg["lines"].as_array().unwrap().iter().cloned());
    }
    lines.sort_by_key(|l| l["number"].as_u64());
    lines
}

/// POST `body` as JSON to `/api/v1{path}`.
fn api_post(
    admin: &reqwest::blocking::Client,
    b: &str,
    path: &str,
    body: Value,
) -> reqwest::blocking::Response {
    admin
        .post(format!("{b}/api/v1{path}"))
        .json(&body)
        .send()
        .unwrap()
}

fn line_no(lines: &[Value], n: u64) -> Value {
    lines
        .iter()
        .find(|l| l["number"] == n)
        .unwrap_or_else(|| panic!("no line {n}"))
        .clone()
}

fn roll_ids(admin: &reqwest::blocking::Client, b: &str, class: &str) -> Vec<String> {
    let v: Value = admin
        .get(format!("{b}/api/v1/students?class={class}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Review r8 #3 and #7: the học bạ's Số đăng bộ and Ngày nhập học / chuyển đến come from the
/// register — the profile refuses them as free text, a struck line's student prints the new
/// line's number, a transfer in prints its arrival date; a struck line is frozen (a later edit
/// of the student changes none of its printed data); a line struck as opened by mistake takes
/// the student off the roll; a pupil who withdrew comes back under the same mã định danh on a
/// new line, the old one kept with the withdrawal.
#[test]
fn the_register_feeds_the_hocba_strikes_freeze_and_a_leaver_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    let homeroom = s.login(&homeroom_of(&s, &FROM));
    let today = today().strftime("%d/%m/%Y").to_string();
    let add = |name: &str, dob: &str, gender: &str, ma: &str, arrived: Value| {
        add_to_from(&admin, &b, [name, dob, gender, ma], arrived)
    };
    let hocba = |id: &str| -> Option<String> {
        let r = homeroom
            .get(format!("{b}/grades/hocba/{id}/pdf"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        pdftotext(&r.bytes().unwrap())
    };
    let post = |path: &str, body: Value| api_post(&admin, &b, path, body);

    // Free text for the register's number and date is refused, pointing to the register.
    let an = add(
        "Lê Văn Sai",
        "03/04/2014",
        "Nam",
        "079214888001",
        Value::Null,
    );
    let n = register_lines(&admin, &b).last().unwrap()["number"]
        .as_u64()
        .unwrap();
    for body in [
        json!({"registry_number": "999"}),
        json!({"enrolled_on": "01/01/2000"}),
    ] {
        let (st, msg) = error_message(
            admin
                .put(format!("{b}/api/v1/students/{an}/profile"))
                .json(&body)
                .send()
                .unwrap(),
        );
        assert_eq!(st, 422, "{body}");
        assert!(
            msg.contains("sổ đăng bộ") && msg.contains(&format!("dòng số {n}")),
            "{msg}"
        );
    }

    // Struck as written wrong: the line stays, frozen; the student gets the next number and
    // the học bạ prints it.
    let r = post(
        &format!("/register/{n}/strike"),
        json!({"reason": "Ghi sai ngày sinh", "after": "new_line"}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let r = admin
        .patch(format!("{b}/api/v1/students/{an}"))
        .json(&json!({"dob": "04/04/2014"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let lines = register_lines(&admin, &b);
    let struck = line_no(&lines, n);
    assert_eq!(struck["struck"], "Ghi sai ngày sinh");
    assert_eq!(struck["dob"], "03/04/2014", "the struck line is frozen");
    let fresh = line_no(&lines, n + 1);
    assert_eq!(fresh["student"], an.as_str());
    assert_eq!(fresh["dob"], "04/04/2014");
    assert_eq!(fresh["struck"], "");
    assert!(roll_ids(&admin, &b, &FROM).contains(&an));
    if let Some(text) = hocba(&an) {
        let words: Vec<&str> = text.split_whitespace().collect();
        assert!(words.contains(&(n + 1).to_string().as_str()), "{text}");
        assert!(!words.contains(&n.to_string().as_str()), "{text}");
    }

    // Struck as opened by mistake: the student leaves the roll, the line stays.
    let ghost = add(
        "Nhập Nhầm Hồ Sơ",
        "05/05/2014",
        "Nữ",
        "079314888002",
        Value::Null,
    );
    let g = n + 2;
    assert_eq!(
        line_no(&register_lines(&admin, &b), g)["student"],
        ghost.as_str()
    );
    let r = post(
        &format!("/register/{g}/strike"),
        json!({"reason": "Hồ sơ của trường khác"}),
    );
    // Review r16 #2: striking a pupil's current line asks what becomes of her — no default
    // takes a child off the roll.
    let (st, msg) = error_message(r);
    assert_eq!(st, 422);
    assert!(
        msg.contains("rời danh sách lớp") && msg.contains("dòng mới"),
        "{msg}"
    );
    let r = post(
        &format!("/register/{g}/strike"),
        json!({"reason": "Hồ sơ của trường khác", "after": "leave_roll"}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert!(!roll_ids(&admin, &b, &FROM).contains(&ghost));
    assert_eq!(
        line_no(&register_lines(&admin, &b), g)["struck"],
        "Hồ sơ của trường khác"
    );

    // A transfer in prints its arrival date as Ngày nhập học / chuyển đến.
    let came = add(
        "Đỗ Gia Đến",
        "06/06/2014",
        "Nam",
        "079214888003",
        json!({"date": today, "from_school": "Trường THCS Nguyễn Du"}),
    );
    let c = register_lines(&admin, &b).last().unwrap()["number"].clone();
    if let Some(text) = hocba(&came) {
        // Quá trình học tập's row: …, Số đăng bộ, Ngày nhập học / chuyển đến.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("Ngày nhập học / chuyển đến"), "{text}");
        assert!(text.contains(&format!(" {c} {today}")), "{text}");
    }

    // Withdrawn, then back: the number is not a duplicate but the same person; a new line
    // opens and the old one keeps the withdrawal.
    let r = post(
        &format!("/students/{an}/withdraw"),
        json!({"date": today, "reason": "Theo gia đình đi làm ăn xa"}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let (st, msg) = error_message(post(
        "/students",
        json!({"full_name": "Lê Văn Sai", "dob": "04/04/2014", "gender": "Nam",
               "ma_dinh_danh": "079214888001", "class_id": FROM}),
    ));
    assert_eq!(st, 422);
    assert!(msg.contains("Nhập học lại"), "{msg}");
    let (st, msg) = error_message(post(
        &format!("/students/{came}/reenrol"),
        json!({"class_id": FROM, "date": today}),
    ));
    assert_eq!(st, 422, "a student at the school is not re-enrolled");
    assert!(msg.contains("đang học"), "{msg}");
    let r = post(
        &format!("/students/{an}/reenrol"),
        json!({"class_id": FROM, "date": today}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert!(roll_ids(&admin, &b, &FROM).contains(&an));
    let lines = register_lines(&admin, &b);
    let back = lines.last().unwrap();
    assert_eq!(back["student"], an.as_str());
    assert_eq!(back["entered_on"], today.as_str());
    assert_eq!(back["left"], "");
    let old = line_no(&lines, n + 1);
    assert!(
        old["left"].as_str().unwrap().starts_with("Thôi học"),
        "{old}"
    );
    assert_eq!(
        lines.iter().filter(|l| l["student"] == an.as_str()).count(),
        3,
        "every line of the student is kept"
    );
    if let Some(text) = hocba(&an) {
        let words: Vec<&str> = text.split_whitespace().collect();
        let number = back["number"].as_u64().unwrap().to_string();
        assert!(words.contains(&number.as_str()), "{text}");
    }
}

/// Review r12 #1, #2 and #10: a re-enrolment opened by mistake and struck is undone — the
/// student is off the roll with the transfer out as it was (date, destination, reason) in the
/// API, the register and the CSDL export, the học bạ prints the old line again — and a
/// correct return dated between the transfer and the strike is then accepted; the transfer's
/// line, now followed by a return, cannot be struck as opened by mistake; a return into
/// another grade is refused like a move.
#[test]
fn a_mistaken_reenrolment_struck_is_undone_and_a_return_keeps_the_grade() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    let homeroom = s.login(&homeroom_of(&s, &FROM));
    let vi = |d: jiff::civil::Date| d.strftime("%d/%m/%Y").to_string();
    // Days since she entered (all today when she was added before the term, in August).
    let day = |n: i64| common::since_entry(n);
    let post = |path: &str, body: Value| api_post(&admin, &b, path, body);
    let anh = add_to_from(
        &admin,
        &b,
        ["Phan Hồng Anh", "07/07/2014", "Nữ", "079314888101"],
        Value::Null,
    );
    let r = post(
        &format!("/students/{anh}/transfer-out"),
        json!({"date": vi(day(3)), "to_school": "THCS Lê Quý Đôn", "reason": "Gia đình chuyển nhà"}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let old = register_lines(&admin, &b).last().unwrap()["number"]
        .as_u64()
        .unwrap();

    // Re-enrolled by mistake, the line struck as such.
    let r = post(
        &format!("/students/{anh}/reenrol"),
        json!({"class_id": TO, "date": vi(day(2))}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let wrong = register_lines(&admin, &b).last().unwrap()["number"]
        .as_u64()
        .unwrap();
    assert!(wrong > old);
    let r = post(
        &format!("/register/{wrong}/strike"),
        json!({"reason": "Nhập học lại nhầm", "after": "leave_roll"}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());

    let all: Value = admin
        .get(format!("{b}/api/v1/students"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let me = all["students"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == anh.as_str())
        .unwrap()
        .clone();
    assert_eq!(me["left"]["kind"], "transfer_out", "{me}");
    assert_eq!(me["left"]["date"], day(3).to_string(), "{me}");
    assert_eq!(me["left"]["to_school"], "THCS Lê Quý Đôn", "{me}");
    assert_eq!(me["left"]["reason"], "Gia đình chuyển nhà", "{me}");
    assert_eq!(me["class_id"], FROM, "{me}");
    assert!(!roll_ids(&admin, &b, &TO).contains(&anh));
    assert!(!roll_ids(&admin, &b, &FROM).contains(&anh));
    let lines = register_lines(&admin, &b);
    let line = line_no(&lines, old);
    assert!(
        line["left"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Chuyển trường ngày {}", vi(day(3)))),
        "{line}"
    );
    assert_eq!(line_no(&lines, wrong)["struck"], "Nhập học lại nhầm");

    // The data sent to the sector database still says the transfer.
    let x = admin
        .get(format!("{b}/api/v1/csdl.xlsx"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let sheet = {
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(x.to_vec())).unwrap();
        wb.worksheet_range("hocsinh").unwrap()
    };
    let row: Vec<String> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        .find(|r| r.contains(&"079314888101".to_string()))
        .expect("her row in hocsinh");
    assert!(
        row.contains(&format!("Chuyển trường {}", day(3))),
        "{row:?}"
    );
    assert!(row.contains(&"Gia đình chuyển nhà".to_string()), "{row:?}");
    assert!(!row.iter().any(|c| c.contains("Thôi học")), "{row:?}");

    // Her học bạ's Quá trình học tập prints the transfer's line again, not the struck one.
    let r = homeroom
        .get(format!("{b}/grades/hocba/{anh}/pdf"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    if let Some(text) = pdftotext(&r.bytes().unwrap()) {
        let words: Vec<&str> = text.split_whitespace().collect();
        assert!(words.contains(&old.to_string().as_str()), "{text}");
        assert!(!words.contains(&wrong.to_string().as_str()), "{text}");
    }

    // Another grade is refused like a move; the right return, dated after the transfer (and
    // before the strike), is accepted.
    let (st, msg) = error_message(post(
        &format!("/students/{anh}/reenrol"),
        json!({"class_id": common::demo_class("9A1"), "date": vi(day(1))}),
    ));
    assert_eq!(st, 422);
    assert!(msg.contains("Chỉ nhập học lại vào lớp cùng khối"), "{msg}");
    let r = post(
        &format!("/students/{anh}/reenrol"),
        json!({"class_id": FROM, "date": vi(day(1))}),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert!(roll_ids(&admin, &b, &FROM).contains(&anh));

    // The transfer's line is history now, not a line opened by mistake.
    let (st, msg) = error_message(post(
        &format!("/register/{old}/strike"),
        json!({"reason": "Nhầm", "after": "leave_roll"}),
    ));
    assert_eq!(st, 422);
    assert!(msg.contains("nhập học lại"), "{msg}");
    assert_eq!(line_no(&register_lines(&admin, &b), old)["struck"], "");
}

/// Review r8 #5 for the Excel import: a row the form would refuse — a mã định danh whose
/// gender and birth-year digits contradict the row, a birth date no pupil of the grade has —
/// is refused with its row number and the Vietnamese reason, and nothing of the file is
/// imported, the good row included.
#[test]
fn the_student_import_runs_the_forms_checks_and_imports_nothing_on_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in [
        ["Họ và tên", "Ngày sinh", "Giới tính", "Mã định danh", "Lớp"],
        [
            "Đúng Hết Mọi Thứ",
            "10/10/2014",
            "Nam",
            "079214666001",
            "6A1",
        ],
        // 079 2 14: a boy born in 2014, written down as a girl born in 2009.
        ["Trần Thị Lệch", "10/10/2009", "Nữ", "079214666002", "6A1"],
        // A four-year-old in grade 6 (the number agrees: a girl born in 2022).
        ["Bé Quá Tuổi", "01/02/2022", "Nữ", "079322666003", "6A1"],
    ]
    .iter()
    .enumerate()
    {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    let file = wb.save_to_buffer().unwrap();
    let send = |query: &str| {
        admin
            .post(format!("{b}/api/v1/import/students{query}"))
            .body(file.clone())
            .header("Content-Type", "application/octet-stream")
            .header("X-CSRF-Token", common::csrf(&admin, &b))
            .send()
            .unwrap()
    };
    let preview: Value = send("").json().unwrap();
    assert_eq!(preview["clean"], false, "{preview}");
    let problems: Vec<(u64, String, String)> = preview["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["field"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!((problems[0].0, problems[0].1.as_str()), (3, "ma_dinh_danh"));
    assert!(
        problems[0].2.contains("ghi Nam, sinh năm 2014")
            && problems[0].2.contains("hồ sơ ghi Nữ, sinh năm 2009"),
        "{problems:?}"
    );
    assert_eq!((problems[1].0, problems[1].1.as_str()), (4, "ngay_sinh"));
    assert!(
        problems[1]
            .2
            .contains(&format!("{} tuổi", common::term_date(9, 1).year() - 2022))
            && problems[1].2.contains("lớp 6A1"),
        "{problems:?}"
    );
    let digest = preview["preview"].as_str().unwrap().to_string();
    let (st, msg) = error_message(send(&format!("?mode=commit&preview={digest}")));
    assert_eq!(st, 422);
    assert!(msg.contains("chưa nhập dòng nào"), "{msg}");
    let all: Value = admin
        .get(format!("{b}/api/v1/students"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for ma in ["079214666001", "079214666002", "079322666003"] {
        assert!(
            !all["students"]
                .as_array()
                .unwrap()
                .iter()
                .any(|st| st["ma_dinh_danh"] == ma),
            "{ma} was imported"
        );
    }
}

/// Review r13 #6: the student import's preview says what the commit will refuse. The
/// principal locks this year's 9A1 for the year (the demo's signed 9A1 is last year's). A sheet that moves a 9A1 student to 9A2, and one that adds
/// a student to 9A1, preview as not clean with the row named — the message the commit then
/// gives, with nothing written; the new student's row does not ask for a date the sheet cannot
/// hold. A sheet adding a student to an open class previews clean, and its commit succeeds.
#[test]
fn the_import_preview_lists_what_the_commit_refuses_on_a_locked_class() {
    let dir = tempfile::tempdir().unwrap();
    // The year is locked once term II has begun (a term is never locked before it begins).
    let Some(s) = Server::start_in_term_two(dir.path()) else {
        eprintln!("SKIPPED: libfaketime is not installed (apt install faketime)");
        return;
    };
    let b = s.base();
    let admin = s.login("admin");
    let send = |file: &Vec<u8>, query: &str| {
        admin
            .post(format!("{b}/api/v1/import/students{query}"))
            .body(file.clone())
            .header("Content-Type", "application/octet-stream")
            .header("X-CSRF-Token", common::csrf(&admin, &b))
            .send()
            .unwrap()
    };
    let sheet = |rows: &[Vec<String>]| {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32, c as u16, v).unwrap();
            }
        }
        wb.save_to_buffer().unwrap()
    };
    let locked = &common::demo_class("9A1");
    let bgh = s.login("hieutruong");
    for term in ["hk1", "hk2"] {
        let r = bgh
            .post(format!("{b}/api/v1/grades/terms/{term}/lock"))
            .header("X-CSRF-Token", common::csrf(&bgh, &b))
            .json(&json!({"force": true, "class": locked}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
    let before = roll_ids(&admin, &b, locked);
    let bytes = admin
        .get(format!("{b}/api/v1/export/students.xlsx?class={locked}"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let mut rows = xlsx_rows(&bytes);
    let col = rows[0]
        .iter()
        .position(|h| h == "Lớp")
        .expect("a Lớp column");
    rows[2][col] = "9A2".into();
    let moving = sheet(&rows);
    let header = vec![
        "Họ và tên".to_string(),
        "Ngày sinh".into(),
        "Giới tính".into(),
        "Mã định danh".into(),
        "Lớp".into(),
    ];
    let new_row = |class: &str, ma: &str, dob: &str| {
        vec![
            "Lê Văn Mới".to_string(),
            dob.into(),
            "Nam".into(),
            ma.into(),
            class.into(),
        ]
    };
    let adding = sheet(&[header.clone(), new_row("9A1", "079211777001", "10/10/2011")]);
    for (file, row, words) in [
        (&moving, 3, "khoá sổ cả năm"),
        (&adding, 2, "không có cột ngày"),
    ] {
        let preview: Value = send(file, "").json().unwrap();
        assert_eq!(preview["clean"], false, "{preview}");
        let problems = preview["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{preview}");
        assert_eq!(problems[0]["row"], row, "{preview}");
        let said = problems[0]["message"].as_str().unwrap();
        assert!(
            said.contains("9A1") && said.contains(words) && !said.contains("ghi đúng ngày"),
            "{said}"
        );
        let digest = preview["preview"].as_str().unwrap();
        let (code, msg) = error_message(send(file, &format!("?mode=commit&preview={digest}")));
        assert_eq!(
            (code, msg.as_str()),
            (422, said),
            "the commit refuses what the preview said"
        );
        assert_eq!(roll_ids(&admin, &b, locked), before, "nothing written");
    }
    // An open class: the preview is clean and the commit applies it.
    let open = sheet(&[header, new_row("6A1", "079214777002", "10/10/2014")]);
    let preview: Value = send(&open, "").json().unwrap();
    assert_eq!(
        (&preview["clean"], &preview["added"]),
        (&true.into(), &1.into()),
        "{preview}"
    );
    let digest = preview["preview"].as_str().unwrap();
    let r = send(&open, &format!("?mode=commit&preview={digest}"));
    assert_eq!(r.status(), 200, "{:?}", r.text());

    // (Review r17 #7 — a name corrected in the sheet of a class whose học bạ is signed makes
    // the preview and the commit name it — needs a signed class of the current year: the
    // demo's signed 9A1 is last year's since review r21 #2, and a sheet imports into the
    // current year. Not covered here until a test signs a class of this year.)
}

/// Xét công nhận tốt nghiệp on its page (review r14 #5): BGH see grade 9's students with their
/// year results and who may be listed; a decision dated before the school year (or in the
/// future) is refused with the reason and records nothing; a good one is recorded and shown.
#[test]
fn graduation_is_recorded_from_its_page_with_a_decision_dated_in_or_after_the_year() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let head = s.login("hieutruong");
    let page = |c: &reqwest::blocking::Client| {
        // Last year's: the demo's graduating 9A1 (its year locked) and 9A2.
        let r = c
            .get(format!(
                "{b}/grades/graduation?year={}",
                common::showcase_year()
            ))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (st, html) = page(&head);
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"graduation-form\""), "{html}");
    assert!(html.contains("9A1"), "{html}");
    assert!(
        html.contains("Hoàn thành chương trình trung học cơ sở"),
        "the year results are shown: {html}"
    );
    assert_eq!(page(&s.login("admin")).0, 403);
    // The students who may be listed: their boxes are not disabled.
    let mut may = Vec::new();
    for part in html
        .split("<input type=\"checkbox\" name=\"students\" value=\"")
        .skip(1)
    {
        let (id, rest) = part.split_once('"').unwrap();
        if !rest.split('>').next().unwrap().contains("disabled") {
            may.push(id.to_string());
        }
    }
    assert!(!may.is_empty(), "{html}");
    let year = html
        .split("Năm học <strong>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    let first: i16 = year[..4].parse().unwrap();
    let put = |date: &str| {
        head.put(format!("{b}/api/v1/grades/graduation/{year}"))
            .header("X-CSRF-Token", common::csrf(&head, &b))
            .json(
                &json!({"decision": "Quyết định số 45/QĐ-PGDĐT", "decided_on": date,
                          "students": may}),
            )
            .send()
            .unwrap()
    };
    let (st, msg) = error_message(put(&format!("01/06/{first}")));
    assert_eq!(st, 422, "{msg}");
    assert!(msg.contains(&format!("trước năm học {year}")), "{msg}");
    let (st, msg) = error_message(put(&format!("01/06/{}", first + 3)));
    assert_eq!(st, 422, "{msg}");
    assert!(msg.contains("ở tương lai"), "{msg}");
    // Review r16 #3: inside the year but before the results it rests on were locked.
    let (st, msg) = error_message(put(&format!("01/08/{first}")));
    assert_eq!(st, 422, "{msg}");
    assert!(
        msg.contains("trước ngày khoá sổ học kì II của lớp"),
        "{msg}"
    );
    // The demo recorded 9A1's recognition (decision of 19 June, demo/signed.rs); nothing
    // refused above replaced it.
    let before = page(&head).1;
    assert!(
        before.contains("id=\"graduation-recorded\"")
            && before.contains(&format!("19/06/{}", first + 1)),
        "{before}"
    );
    let day = today().strftime("%d/%m/%Y").to_string();
    let r = put(&day);
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let (_, html) = page(&head);
    assert!(
        html.contains(&format!(
            "Đã ghi {} học sinh theo Quyết định số 45",
            may.len()
        )) && html.contains(&format!("ngày {day}.")),
        "{html}"
    );
    assert_eq!(html.matches(" checked").count(), may.len(), "{html}");
}

/// Review r16 #1 on the real binary: a paper book's lines whose history cannot be true — kept
/// back in grade 6 then in grade 7, a withdrawal before the entry, a graduation with no grade-9
/// result, a grade-12 class in a THCS book, a result after the withdrawal — are refused by row,
/// each naming its column, and nothing is written; the true line alone previews clean, commits,
/// and is in the register as read.
#[test]
fn the_register_import_refuses_a_history_that_cannot_be_true() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    let school: Value = admin
        .get(format!("{b}/api/v1/school"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let current = school["school"]["current_year"].as_str().unwrap();
    let cf: i32 = current[..4].parse().unwrap();
    // A book of seven years ago: its students have graduated since.
    let y0 = cf - 7;
    let year = |k: i32| format!("{}-{}", y0 + k, y0 + k + 1);
    let book = year(0);
    let grades = ["6", "7", "8", "9"];
    let headers: Vec<String> = [
        "Số đăng bộ",
        "Họ và tên",
        "Ngày sinh",
        "Giới tính",
        "Nơi sinh",
        "Dân tộc",
        "Họ tên cha, mẹ (người giám hộ)",
        "Nghề nghiệp cha, mẹ (người giám hộ)",
        "Chỗ ở",
        "Đối tượng chính sách",
        "Ngày vào trường",
        "Lớp",
        "Chuyển đến từ",
        "Chuyển đi, thôi học",
    ]
    .iter()
    .map(|h| h.to_string())
    .chain(grades.iter().map(|g| format!("Kết quả lớp {g}")))
    .chain(["Tốt nghiệp".to_string(), "Ghi chú".to_string()])
    .collect();
    let kq = |col: usize| 14 + col; // the column of "Kết quả lớp {6 + col}"
    let (tot, entered, class, left) = (18, 10, 11, 13);
    // A true line: entered grade 6, kept back in grade 7, graduated THCS four grades on.
    let good = |n: u32, name: &str| {
        let mut r = vec![String::new(); headers.len()];
        r[0] = n.to_string();
        r[1] = name.to_string();
        r[2] = format!("01/02/{}", y0 - 11);
        r[3] = "Nữ".into();
        r[entered] = format!("05/09/{y0}");
        r[class] = "6A1".into();
        r[kq(0)] = format!("{}: Được lên lớp", year(0));
        r[kq(1)] = format!("{}: Ở lại lớp; {}: Được lên lớp", year(1), year(2));
        r[kq(2)] = format!("{}: Được lên lớp", year(3));
        r[kq(3)] = format!("{}: Hoàn thành chương trình trung học cơ sở", year(4));
        r[tot] = format!(
            "Được công nhận tốt nghiệp THCS năm học {} (Quyết định số 12/QĐ-PGDĐT, ngày 20/06/{})",
            year(4),
            y0 + 5
        );
        r
    };
    let mut kept = good(9101, "Giữ Lại Lớp Sáu");
    kept[kq(0)] = format!("{}: Ở lại lớp", year(0));
    kept[kq(1)] = format!("{}: Được lên lớp", year(1));
    kept[kq(2)] = String::new();
    kept[kq(3)] = String::new();
    kept[tot] = String::new();
    let mut early = good(9102, "Thôi Trước Khi Vào");
    early[left] = format!("Thôi học 01/01/{y0}");
    let mut no_nine = good(9103, "Chưa Học Lớp Chín");
    no_nine[kq(1)] = String::new();
    no_nine[kq(2)] = String::new();
    no_nine[kq(3)] = String::new();
    let mut twelve = good(9104, "Lớp Mười Hai");
    twelve[class] = "12A1".into();
    let mut after = good(9105, "Học Sau Khi Nghỉ");
    after[left] = format!("Thôi học ngày 01/12/{y0}");
    after[kq(2)] = String::new();
    after[kq(3)] = String::new();
    after[tot] = String::new();
    let sheet_of = |title_year: &str, rows: &[Vec<String>]| {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(
            0,
            0,
            format!("SỔ ĐĂNG BỘ — THCS Nguyễn Du — năm học {title_year}"),
        )
        .unwrap();
        for (c, h) in headers.iter().enumerate() {
            ws.write_string(2, c as u16, h).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(3 + r as u32, c as u16, v).unwrap();
            }
        }
        wb.save_to_buffer().unwrap()
    };
    let sheet = |rows: &[Vec<String>]| sheet_of(&book, rows);
    let send = |file: &[u8], mode: &str| {
        admin
            .post(format!("{b}/api/v1/import/register?mode={mode}"))
            .body(file.to_vec())
            .header("Content-Type", "application/octet-stream")
            .header("X-CSRF-Token", common::csrf(&admin, &b))
            .send()
            .unwrap()
    };
    let lines_of_book = || -> Vec<Value> {
        let v: Value = admin
            .get(format!("{b}/api/v1/register?year={book}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["lines"].as_array().cloned().unwrap_or_default()
    };
    let file = sheet(&[
        good(9100, "Lê Thị Thật"),
        kept,
        early,
        no_nine,
        twelve,
        after,
    ]);
    let preview: Value = send(&file, "preview").json().unwrap();
    assert_eq!(preview["clean"], false, "{preview}");
    let problems: Vec<(u64, String, String)> = preview["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["field"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |row: u64, field: &str, text: &str| {
        assert!(
            problems
                .iter()
                .any(|(r, f, m)| *r == row && f == field && m.contains(text)),
            "row {row} {field} «{text}» not in {problems:#?}"
        )
    };
    assert!(!problems.iter().any(|p| p.0 == 4), "{problems:#?}");
    has(5, "kq7", "\"Ở lại lớp\" lớp 6, nên năm sau học lại lớp 6");
    has(6, "di", &format!("ngày 01/01/{y0} trước ngày vào trường"));
    has(
        7,
        "tot_nghiep",
        &format!("dòng không có kết quả lớp 9 năm học {}", year(4)),
    );
    has(
        8,
        "lop",
        "lớp 12 không thuộc cấp học của trường (THCS — lớp 6 đến 9)",
    );
    has(9, "kq7", &format!("học sinh đã rời trường ngày 01/12/{y0}"));
    let (st, msg) = error_message(send(&file, "commit"));
    assert_eq!(st, 422);
    assert!(msg.contains("chưa nhập dòng nào"), "{msg}");
    assert!(lines_of_book().is_empty(), "{:?}", lines_of_book());

    // The true line alone: clean, committed, in the register as read.
    let file = sheet(&[good(9100, "Lê Thị Thật")]);
    let preview: Value = send(&file, "preview").json().unwrap();
    assert_eq!(preview["clean"], true, "{preview}");
    let r = send(&file, "commit");
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let done: Value = r.json().unwrap();
    assert_eq!(done["written"], 1, "{done}");
    let lines = lines_of_book();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["number"], 9100);
    assert_eq!(line["entered_class"], "6A1");
    assert_eq!(line["results"].as_array().unwrap().len(), 5, "{line}");
    assert!(
        line["graduation"].as_str().unwrap().starts_with(&format!(
            "Được công nhận tốt nghiệp THCS năm học {}",
            year(4)
        )),
        "{line}"
    );

    // Review r18 #1: the same person against the lines the register holds. The next year's
    // book has her again (another case and spacing of the name), entered in 7A1 with no
    // departure on line 9100: refused, naming 9100, nothing written.
    let problems_of = |file: &[u8]| -> Vec<(u64, String, String)> {
        let preview: Value = send(file, "preview").json().unwrap();
        preview["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["row"].as_u64().unwrap(),
                    p["field"].as_str().unwrap().to_string(),
                    p["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let mut again = good(9200, "lê  thị THẬT");
    again[entered] = format!("05/09/{}", y0 + 1);
    again[class] = "7A1".into();
    again[kq(0)] = String::new();
    again[kq(1)] = String::new();
    again[kq(2)] = String::new();
    again[kq(3)] = String::new();
    again[tot] = String::new();
    let file = sheet_of(&year(1), &[again]);
    let p = problems_of(&file);
    assert!(
        p.iter().any(|(r, f, m)| *r == 4
            && f == "ho_ten"
            && m.contains("số đăng bộ 9100 đã có trong sổ")
            && m.contains("dòng số 9100 không ghi chuyển đi hoặc thôi học")),
        "{p:#?}"
    );
    let (st, _) = error_message(send(&file, "commit"));
    assert_eq!(st, 422);
    let v: Value = admin
        .get(format!("{b}/api/v1/register?year={}", year(1)))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(v["lines"].as_array().is_none_or(|l| l.is_empty()), "{v}");

    // A line the box made itself (the demo's line 1): an older paper line of the same person
    // with no departure before that entry is refused, naming line 1; with one, not for that.
    let held = register_lines(&admin, &b)
        .into_iter()
        .find(|l| l["number"] == 1)
        .unwrap();
    let mut older = vec![String::new(); headers.len()];
    older[0] = "9300".into();
    older[1] = held["full_name"].as_str().unwrap().to_string();
    older[2] = held["dob"].as_str().unwrap().to_string();
    older[entered] = format!("05/09/{y0}");
    older[class] = "6A1".into();
    let file = sheet(std::slice::from_ref(&older));
    let p = problems_of(&file);
    assert!(
        p.iter().any(|(r, f, m)| *r == 4
            && f == "ho_ten"
            && m.contains("số đăng bộ 1 đã có trong sổ")
            && m.contains("dòng này vào trường trước, phải ghi chuyển đi hoặc thôi học")),
        "{p:#?}"
    );
    older[left] = format!("Thôi học ngày 01/12/{y0}: theo gia đình");
    let p = problems_of(&sheet(&[older]));
    assert!(!p.iter().any(|(_, f, _)| f == "ho_ten"), "{p:#?}");
}
