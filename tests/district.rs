//! The district hub's reports and its sector-database export, against the real binary: schools
//! relay signed batches (made up here, or a real demo school box over loopback), district
//! staff read the page, download each report as CSV and the whole set as xlsx (parsed back with
//! calamine), and the CSDL ngành export from the hub and from the school.

mod common;

use calamine::{Data, Reader};
use common::{Hub, Server};
use serde_json::{Value, json};

fn result(class: &str, grade: u8, n: u32, term: &str, extra: Value) -> Value {
    let mut r = json!({
        "rule_version": "tt22-v1", "matruong": "x", "makhoi": grade, "malop": class,
        "mahocsinh": format!("hs-{class}-{n}"), "sodinhdanh": format!("0792000000{n:02}"),
        "hocky": term, "diemmon": {}, "mahocluc": null, "mahanhkiem": null, "songaynghi": 0,
        "danhhieu": null, "ketqua": null, "colenlop": null, "corenluyenlai": null,
        "nhanxet": "", "phienban": 1,
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn student(class: &str, n: u32) -> (&'static str, String, Value) {
    (
        "student",
        format!("hs-0792000000{n:02}"),
        json!({"id": format!("hs-{class}-{n}"), "full_name": format!("Học sinh {n}"),
               "dob": "2014-03-02", "gender": "Nữ", "ma_dinh_danh": format!("0792000000{n:02}"),
               "class_id": class}),
    )
}

fn get(c: &reqwest::blocking::Client, url: String) -> reqwest::blocking::Response {
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r
}

type Sheets = Vec<(String, Vec<Vec<String>>)>;

fn sheets(bytes: &[u8]) -> Sheets {
    let mut wb: calamine::Xlsx<_> =
        calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = wb.sheet_names().to_vec();
    names
        .into_iter()
        .map(|n| {
            let range = wb.worksheet_range(&n).unwrap();
            let rows = range
                .rows()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            Data::Float(f) => f.to_string(),
                            Data::Int(i) => i.to_string(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            (n, rows)
        })
        .collect()
}

fn sheet<'a>(s: &'a Sheets, name: &str) -> &'a Vec<Vec<String>> {
    &s.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| {
            panic!(
                "no sheet {name}: {:?}",
                s.iter().map(|x| &x.0).collect::<Vec<_>>()
            )
        })
        .1
}

fn row_of<'a>(rows: &'a [Vec<String>], first: &[&str]) -> &'a Vec<String> {
    rows.iter()
        .find(|r| r.iter().zip(first).all(|(a, b)| a == b))
        .unwrap_or_else(|| panic!("no row starting {first:?} in {rows:?}"))
}

#[test]
fn district_staff_read_names_totals_and_charts_and_download_every_report() {
    let hub = Hub::temp();
    // A lower secondary school: two grade-6 and one grade-7 students' term I results, two
    // lesson plans in October (one approved).
    let mut thcs = vec![
        (
            "school",
            "school".to_string(),
            json!({"name": "THCS Lê Lợi", "code": "79000701", "level": "THCS",
                   "authority": "Phòng GD&ĐT Quận 3", "current_year": "2026-2027"}),
        ),
        (
            "class",
            "2026-6a1".into(),
            json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027", "homeroom": null}),
        ),
        (
            "class",
            "2026-7a1".into(),
            json!({"id": "2026-7a1", "name": "7A1", "grade": 7, "year": "2026-2027", "homeroom": null}),
        ),
        student("2026-6a1", 1),
        student("2026-6a1", 2),
        student("2026-7a1", 3),
    ];
    for (class, grade, n, hl, hk, cn) in [
        ("2026-6a1", 6, 1, 1, 1, "8.5"),
        ("2026-6a1", 6, 2, 4, 2, "3.0"),
        ("2026-7a1", 7, 3, 2, 1, "7.0"),
    ] {
        thcs.push((
            "result",
            format!("2026-2027/1/hs-{n}"),
            result(
                class,
                grade,
                n,
                "1",
                json!({"mahocluc": hl, "mahanhkiem": hk,
                       "diemmon": {"cong-nghe": cn, "giao-duc-the-chat": "Đ"}}),
            ),
        ));
    }
    for (id, state, approved) in [("p1", "approved", json!(1)), ("p2", "draft", Value::Null)] {
        thcs.push((
            "lesson_plan",
            id.into(),
            json!({"id": id, "teacher": "u1", "teacher_name": "GV", "department": null,
                   "subject": "toan", "grade": 6, "title": "Bài 1", "teach_on": "2026-10-05",
                   "state": state, "version": 1, "approved_version": approved}),
        ));
    }
    hub.relay_made_up("79000701", &thcs);
    // A primary school (TT27): the year's results.
    let mut th = vec![
        (
            "school",
            "school".to_string(),
            json!({"name": "TH Kim Đồng", "code": "79000702", "level": "TH",
                   "authority": "Phòng GD&ĐT Quận 3", "current_year": "2026-2027"}),
        ),
        (
            "class",
            "2026-5a".into(),
            json!({"id": "2026-5a", "name": "5A", "grade": 5, "year": "2026-2027", "homeroom": null}),
        ),
        student("2026-5a", 4),
    ];
    th.push((
        "result",
        "2026-2027/cn/hs-4".into(),
        result(
            "2026-5a",
            5,
            4,
            "CN",
            json!({"rule_version": "tt27-v1", "ketqua": "HTXS", "diemmon": {"tieng-viet": "T 9"}}),
        ),
    ));
    hub.relay_made_up("79000702", &th);
    // A school enrolled that has never sent anything.
    hub.enrol_made_up("79000703");

    let staff = hub.staff();
    let b = hub.base();
    let page = get(&staff, format!("{b}/district")).text().unwrap();
    for shown in [
        "THCS Lê Lợi",
        "TH Kim Đồng",
        "Công nghệ",
        "Giáo dục thể chất",
        "Tiếng Việt",
        "Học tập: Tốt",
        "Rèn luyện: Chưa đạt",
        "Hoàn thành xuất sắc",
        "Toàn huyện",
        "Học kì I",
        "Cả năm",
        "10/2026",
        "50,0 %",
        "<svg",
        "79000703",
        "Chưa gửi dữ liệu lần nào",
    ] {
        assert!(page.contains(shown), "the page lacks {shown:?}");
    }
    // Names, never the machine's codes.
    for code in [
        "cong-nghe",
        "giao-duc-the-chat",
        "hocluc/",
        "tieng-viet",
        "— →",
    ] {
        assert!(!page.contains(code), "the page shows the code {code:?}");
    }
    // The silent school is called out above the reports.
    assert!(page.contains("class=\"msg warn silent\""));

    // Every report as one workbook, a sheet each, parsed back.
    let x = get(&staff, format!("{b}/district/district.xlsx"))
        .bytes()
        .unwrap();
    let s = sheets(&x);
    let names: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "Kết quả học tập, rèn luyện",
            "Kết quả tiểu học (TT27)",
            "Kết quả theo môn",
            "Kế hoạch bài dạy",
            "Sĩ số theo khối",
            "Liên lạc của các trường"
        ]
    );
    let kq = sheet(&s, "Kết quả học tập, rèn luyện");
    assert_eq!(
        row_of(kq, &["THCS Lê Lợi", "6"]),
        &[
            "THCS Lê Lợi",
            "6",
            "Học kì I",
            "2",
            "1",
            "0",
            "0",
            "1",
            "0",
            "1",
            "1",
            "0",
            "0",
            "0"
        ]
    );
    assert_eq!(
        row_of(kq, &["Toàn huyện", "7"]),
        &[
            "Toàn huyện",
            "7",
            "Học kì I",
            "1",
            "0",
            "1",
            "0",
            "0",
            "0",
            "1",
            "0",
            "0",
            "0",
            "0"
        ]
    );
    let tt27 = sheet(&s, "Kết quả tiểu học (TT27)");
    assert_eq!(row_of(tt27, &["TH Kim Đồng"])[3], "1");
    let mon = sheet(&s, "Kết quả theo môn");
    // Công nghệ, term I: one 8–10, one 6,5–7,9, one under 3,5.
    assert_eq!(row_of(mon, &["Công nghệ"])[2..7], ["1", "1", "0", "0", "1"]);
    assert_eq!(row_of(mon, &["Tiếng Việt"])[9], "1");
    let kh = sheet(&s, "Kế hoạch bài dạy");
    assert_eq!(
        row_of(kh, &["THCS Lê Lợi"]),
        &["THCS Lê Lợi", "10/2026", "2", "1", "1", "50", "50"]
    );
    let ss = sheet(&s, "Sĩ số theo khối");
    assert_eq!(row_of(ss, &["Toàn huyện", "6"])[2], "2");
    assert_eq!(row_of(ss, &["TH Kim Đồng", "5"])[2], "1");
    let ll = sheet(&s, "Liên lạc của các trường");
    assert_eq!(row_of(ll, &["THCS Lê Lợi"])[9], "");
    assert_eq!(row_of(ll, &["79000703"])[9], "Chưa gửi dữ liệu lần nào");

    // Filters narrow every report: grade 7 only, and one school.
    let csv = get(&staff, format!("{b}/district/reports/ket-qua.csv?grade=7"))
        .text()
        .unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",7,")), "{csv}");
    let csv = get(
        &staff,
        format!("{b}/district/reports/si-so.csv?school=79000702"),
    )
    .text()
    .unwrap();
    assert!(
        !csv.contains("Lê Lợi") && csv.contains("TH Kim Đồng"),
        "{csv}"
    );
    let csv = get(&staff, format!("{b}/district/reports/ket-qua.csv?term=2"))
        .text()
        .unwrap();
    assert_eq!(csv.lines().count(), 1, "term II has nothing yet: {csv}");
    let r = staff
        .get(format!("{b}/district/reports/nothing.csv"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    // The sector-database export, for the year, in its own field layout.
    let x = get(&staff, format!("{b}/district/csdl.xlsx?year=2026-2027"))
        .bytes()
        .unwrap();
    let s = sheets(&x);
    let kq = sheet(&s, "ketquahoctap");
    let h = &kq[0];
    for f in [
        "mahocluc",
        "mahanhkiem",
        "madanhhieu",
        "colenlop",
        "sodinhdanh",
    ] {
        assert!(h.contains(&f.to_string()), "{h:?}");
    }
    assert_eq!(kq.len(), 5, "four results and the header: {kq:?}");
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let first = row_of(
        kq,
        &[
            "2026-2027",
            "03",
            "79000701",
            "6",
            // The sector's identifiers: the class's name and the mã định danh, not Trạm's ids.
            "6A1",
            "079200000001",
        ],
    );
    assert_eq!(first[col("mahocluc")], "1");
    assert_eq!(first[col("sodinhdanh")], "079200000001");
    let primary = row_of(kq, &["2026-2027", "02", "79000702"]);
    assert_eq!(primary[col("ketquatieuhoc")], "1", "HTXS by the code list");
    let dm = sheet(&s, "diemmon");
    let cn = row_of(
        dm,
        &[
            "2026-2027",
            "79000701",
            "079200000001",
            "079200000001",
            "1",
            "CONGNGHE",
        ],
    );
    assert_eq!(cn[6..], ["Công nghệ", "8.5", ""]);
    let tv = row_of(dm, &["2026-2027", "79000702"]);
    assert_eq!(tv[5..], ["TIENGVIET", "Tiếng Việt", "9", "T"]);
    assert_eq!(sheet(&s, "hocsinh").len(), 5);

    // A year with no data: the files with their headers, not an error.
    let x = get(&staff, format!("{b}/district/csdl.xlsx?year=2019-2020"))
        .bytes()
        .unwrap();
    let s = sheets(&x);
    assert_eq!(s.len(), 3);
    assert!(s.iter().all(|(_, rows)| rows.len() == 1), "{s:?}");
    let csv = get(
        &staff,
        format!("{b}/district/csdl/ketquahoctap.csv?year=2019-2020"),
    )
    .text()
    .unwrap();
    assert_eq!(
        csv.trim_end(),
        "\u{feff}namhoc,manhomcaphoc,matruong,makhoi,malop,mahocsinh,sodinhdanh,hocky,mahocluc,mahanhkiem,madanhhieu,ketquatieuhoc,songaynghi,colenlop,corenluyenlai,phienban"
    );

    // The district's own code list replaces the default (read at each export).
    let mine = tram::district::csdl::DEFAULT_CODES.replace("\"CONGNGHE\"", "\"CN-SO-79\"");
    std::fs::write(hub.dir.path().join("csdl-codes.toml"), mine).unwrap();
    let csv = get(&staff, format!("{b}/district/csdl/diemmon.csv"))
        .text()
        .unwrap();
    assert!(csv.contains(",CN-SO-79,Công nghệ,8.5,"), "{csv}");
    // A broken file is reported, not half-used.
    std::fs::write(
        hub.dir.path().join("csdl-codes.toml"),
        "[mon.toan]\nten = 1\n",
    )
    .unwrap();
    let r = staff
        .get(format!("{b}/district/csdl/diemmon.csv"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 500);
    let e: Value = r.json().unwrap();
    assert_eq!(e["error"]["code"], "csdl_codes", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("csdl-codes.toml"),
        "{e}"
    );
}

on_both_storages!(the_csdl_export_is_cut_by_the_pages_filters);

/// Issue 23: the CSDL export is cut by the page's filters as every hub download is — one
/// school (only its rows), one grade (its classes' students and results), one term (the
/// results) —, named by them, the page's link carrying them; a filter that selects nothing is
/// the headers only, and one that names nothing a 400 `bad_filter` in Vietnamese.
fn the_csdl_export_is_cut_by_the_pages_filters() {
    let hub = Hub::temp();
    // Two schools, each a grade-6 and a grade-7 class, each student's results of term I and
    // of the year.
    for (code, first) in [("79000701", 1), ("79000702", 11)] {
        let mut records = vec![];
        for (grade, n) in [(6u8, first), (7, first + 1)] {
            let class = format!("2026-{grade}a1-{code}");
            records.push((
                "class",
                class.clone(),
                json!({"id": class, "name": format!("{grade}A1"), "grade": grade, "year": "2026-2027"}),
            ));
            records.push(student(&class, n));
            for term in ["1", "CN"] {
                records.push((
                    "result",
                    format!("2026-2027/{term}/hs-{n}"),
                    result(
                        &class,
                        grade,
                        n,
                        term,
                        json!({"mahocluc": 1, "diemmon": {"toan": "8.0"}}),
                    ),
                ));
            }
        }
        if code == "79000702" {
            // Two approved lesson plans in October: one of grade 7, one naming no grade.
            for (id, grade) in [("p7", json!(7)), ("p0", Value::Null)] {
                records.push((
                    "lesson_plan",
                    id.into(),
                    json!({"id": id, "teacher": "u1", "teacher_name": "GV", "department": null,
                           "subject": "toan", "grade": grade, "title": "Bài 1",
                           "teach_on": "2026-10-05", "state": "approved", "version": 1,
                           "approved_version": 1}),
                ));
            }
        }
        hub.relay_made_up(code, &records);
    }
    let staff = hub.staff();
    let b = hub.base();
    let disposition = |r: &reqwest::blocking::Response| {
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let col = |rows: &[Vec<String>], name: &str| rows[0].iter().position(|h| h == name).unwrap();
    // The sheets' rows below their headers, each results row checked to be of a listed student.
    let export = |q: &str| {
        let r = get(&staff, format!("{b}/district/csdl.xlsx?{q}"));
        let name = disposition(&r);
        let s = sheets(&r.bytes().unwrap());
        let hs = sheet(&s, "hocsinh");
        let listed: Vec<&String> = hs[1..].iter().map(|r| &r[col(hs, "sodinhdanh")]).collect();
        for t in ["ketquahoctap", "diemmon"] {
            let rows = sheet(&s, t);
            for r in &rows[1..] {
                assert!(
                    listed.contains(&&r[col(rows, "sodinhdanh")]),
                    "{q}: {t} {r:?} of no hocsinh row"
                );
            }
        }
        (name, s)
    };
    let counts = |s: &Sheets| ["hocsinh", "ketquahoctap", "diemmon"].map(|t| sheet(s, t).len() - 1);

    let (name, all) = export("year=2026-2027");
    assert!(name.contains("\"csdl-2026-2027.xlsx\""), "{name}");
    assert_eq!(counts(&all), [4, 8, 8]);

    // One school and one grade: its rows only, in every sheet, and the file says so.
    let (name, one) = export("year=2026-2027&school=79000702&grade=7");
    assert!(
        name.contains("\"csdl-2026-2027-truong-79000702-lop-7.xlsx\""),
        "{name}"
    );
    assert_eq!(counts(&one), [1, 2, 2]);
    for t in ["hocsinh", "ketquahoctap", "diemmon"] {
        let rows = sheet(&one, t);
        assert!(
            rows[1..]
                .iter()
                .all(|r| r[col(rows, "matruong")] == "79000702"),
            "{t}: {rows:?}"
        );
    }
    for t in ["hocsinh", "ketquahoctap"] {
        let rows = sheet(&one, t);
        assert!(
            rows[1..]
                .iter()
                .all(|r| r[col(rows, "makhoi")] == "7" && r[col(rows, "malop")] == "7A1"),
            "{t}: {rows:?}"
        );
    }
    assert_eq!(
        sheet(&one, "hocsinh")[1][col(sheet(&one, "hocsinh"), "sodinhdanh")],
        "079200000012"
    );

    // Without a year, the year the reports show; a term cuts the results only.
    let (name, term) = export("term=1&grade=6");
    assert!(name.contains("\"csdl-2026-2027-hk1-lop-6.xlsx\""), "{name}");
    assert_eq!(counts(&term), [2, 2, 2]);
    let kq = sheet(&term, "ketquahoctap");
    assert!(kq[1..].iter().all(|r| r[col(kq, "hocky")] == "1"), "{kq:?}");
    let r = get(
        &staff,
        format!("{b}/district/csdl/ketquahoctap.csv?school=79000701&term=CN"),
    );
    assert!(
        disposition(&r).contains("\"ketquahoctap-2026-2027-truong-79000701-ca-nam.csv\""),
        "{}",
        disposition(&r)
    );
    let csv = r.text().unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.contains(",79000701,") && l.contains(",CN,")),
        "{csv}"
    );
    // The students' CSV is not of a term: named without it.
    let r = get(
        &staff,
        format!("{b}/district/csdl/hocsinh.csv?school=79000701&term=1"),
    );
    assert!(
        disposition(&r).contains("\"hocsinh-2026-2027-truong-79000701.csv\""),
        "{}",
        disposition(&r)
    );
    assert_eq!(r.text().unwrap().lines().count(), 3);

    // A grade no school has: the headers only, never an error page.
    let (name, none) = export("year=2026-2027&grade=9");
    assert!(name.contains("\"csdl-2026-2027-lop-9.xlsx\""), "{name}");
    assert_eq!(counts(&none), [0, 0, 0]);
    // A school or grade that names nothing: 400 bad_filter, said in Vietnamese.
    for (q, why) in [("school=79000799", "79000799"), ("grade=13", "từ 1 đến 12")] {
        let r = staff
            .get(format!("{b}/district/csdl.xlsx?{q}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let e: Value = r.json().unwrap();
        assert_eq!(e["error"]["code"], "bad_filter", "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(why), "{e}");
    }

    // The other downloads and the stats API under the same filters (issue 23 item 2): a plan
    // that names no grade is not the filtered grade's; the enrolment and the plans are not of
    // a term, so a term does not name their CSVs, and the plans' table says it does not apply.
    let plans = |q: &str| {
        let r = get(&staff, format!("{b}/district/reports/ke-hoach.csv?{q}"));
        let name = disposition(&r);
        let rows = csv_rows(&r.text().unwrap());
        (
            name,
            rows[1..].iter().map(|r| r[2].clone()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(plans("").1, ["2"]);
    let (name, n) = plans("grade=7&term=1");
    assert_eq!(n, ["1"], "only the grade-7 plan");
    assert!(name.contains("\"ke-hoach-2026-2027-lop-7.csv\""), "{name}");
    assert_eq!(plans("grade=6").1, Vec::<String>::new());
    let r = get(
        &staff,
        format!("{b}/district/reports/si-so.csv?term=1&grade=7"),
    );
    assert!(
        disposition(&r).contains("\"si-so-2026-2027-lop-7.csv\""),
        "{}",
        disposition(&r)
    );
    let rows = csv_rows(&r.text().unwrap());
    assert!(rows[1..].iter().all(|r| r[1] == "7"), "{rows:?}");
    assert_eq!(
        rows.len(),
        4,
        "two schools' grade 7 and the total: {rows:?}"
    );
    let r = get(
        &staff,
        format!("{b}/district/reports/ket-qua.csv?term=1&grade=7"),
    );
    assert!(
        disposition(&r).contains("\"ket-qua-2026-2027-hk1-lop-7.csv\""),
        "{}",
        disposition(&r)
    );
    let rows = csv_rows(&r.text().unwrap());
    assert!(
        rows[1..].iter().all(|r| r[1] == "7" && r[2] == "Học kì I"),
        "{rows:?}"
    );
    let stats = |q: &str| -> Value {
        get(&staff, format!("{b}/district/api/stats?{q}"))
            .json()
            .unwrap()
    };
    assert_eq!(stats("")["lesson_plans"]["79000702"][0], 2);
    let s7 = stats("grade=7&school=79000702");
    assert_eq!(s7["lesson_plans"]["79000702"][0], 1, "{s7}");
    assert_eq!(s7["enrolment"], json!({"79000702": {"7": 1}}), "{s7}");
    let page = get(&staff, format!("{b}/district?term=1")).text().unwrap();
    assert!(
        page.contains("bộ lọc học kì không áp dụng"),
        "the plans' table says the term does not cut it"
    );

    // The page's link carries the filters the page shows.
    let page = get(
        &staff,
        format!("{b}/district?school=79000702&grade=7&year=2026-2027"),
    )
    .text()
    .unwrap();
    let link = page
        .split("href=\"/district/csdl.xlsx")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSDL link: {page}"))
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert_eq!(link, "?school=79000702&grade=7&year=2026-2027");
}

/// A real school box (the demo school) relays to the hub over loopback: the hub's reports name
/// its school, subjects and grades, and the school's own CSDL export and the hub's agree row for
/// row on its students, so nothing is typed twice.
#[test]
fn a_school_box_relays_and_its_own_csdl_export_matches_the_hubs() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::temp();
    let school = hub.relayed_demo_school(dir.path());
    // Review r18 #5: one teacher's draft lesson plan for next August, relayed, does not make
    // next year the hub's default (an empty year for every report).
    let year = common::demo_year();
    let next_start: i32 = year[5..].parse().unwrap();
    let next = format!("{next_start}-{}", next_start + 1);
    let gv = school.login("gv01");
    let subjects: Value = get(&gv, format!("{}/api/v1/subjects", school.base()))
        .json()
        .unwrap();
    let khtn = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Khoa học tự nhiên")
        .unwrap_or_else(|| panic!("{subjects}"))["id"]
        .clone();
    let sent = common::status(dir.path())["batches_sent"]
        .as_u64()
        .unwrap_or(0);
    let r = gv
        .post(format!("{}/api/v1/lessons/plans", school.base()))
        .json(
            &json!({"title": "Bài N. Năm học sau", "subject": khtn, "grade": 6,
                      "periods": 1, "teach_on": format!("{next_start}-08-15")}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let st = common::status(dir.path());
        if st["queued"] == 0 && st["batches_sent"].as_u64().unwrap_or(0) > sent {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the draft was not relayed: {st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    let staff = hub.staff();
    let b = hub.base();
    let page = get(&staff, format!("{b}/district")).text().unwrap();
    assert!(
        page.contains(&format!("Số liệu năm học {year}"))
            && page.contains(&format!("/district/csdl.xlsx?year={year}"))
            && page.contains(&format!("<option value=\"{next}\">")),
        "the school's year shown, next year's draft only offered: {page}"
    );
    // Every CSDL download says its year, also without one asked (review r18 #8): the hub's of
    // the year its reports show, the school's of its year in force.
    let file_name = |r: &reqwest::blocking::Response| {
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let r = get(&staff, format!("{b}/district/csdl.xlsx"));
    assert!(
        file_name(&r).contains(&format!("\"csdl-{year}.xlsx\"")),
        "{r:?}"
    );
    for t in ["hocsinh", "ketquahoctap", "diemmon"] {
        let r = get(&staff, format!("{b}/district/csdl/{t}.csv"));
        assert!(
            file_name(&r).contains(&format!("\"{t}-{year}.csv\"")),
            "{r:?}"
        );
        let r = get(&staff, format!("{b}/district/csdl/{t}.csv?year={next}"));
        assert!(
            file_name(&r).contains(&format!("\"{t}-{next}.csv\"")),
            "{r:?}"
        );
    }
    let admin = school.login("admin");
    let r = get(&admin, format!("{}/api/v1/csdl.xlsx", school.base()));
    assert!(
        file_name(&r).contains(&format!("\"csdl-{year}.xlsx\"")),
        "{r:?}"
    );
    let r = get(&admin, format!("{}/api/v1/csdl/hocsinh.csv", school.base()));
    assert!(
        file_name(&r).contains(&format!("\"hocsinh-{year}.csv\"")),
        "{r:?}"
    );
    let info: Value = get(&admin, format!("{}/api/v1/school", school.base()))
        .json()
        .unwrap();
    let name = info["school"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{info}"));
    assert!(page.contains(name), "the hub names the school {name}");

    let mine = sheets(
        &get(&admin, format!("{}/api/v1/csdl.xlsx", school.base()))
            .bytes()
            .unwrap(),
    );
    let hubs = sheets(
        &get(&staff, format!("{b}/district/csdl.xlsx"))
            .bytes()
            .unwrap(),
    );
    let students = sheet(&mine, "hocsinh");
    assert!(students.len() > 10, "{students:?}");
    for name in ["hocsinh", "ketquahoctap", "diemmon"] {
        let (a, b) = (sheet(&mine, name), sheet(&hubs, name));
        let first = a.iter().zip(b).find(|(x, y)| x != y);
        assert!(
            a.len() == b.len() && first.is_none(),
            "{name}: {} rows at the school, {} at the hub; first difference {first:?}",
            a.len(),
            b.len()
        );
    }
    // Only the school's own staff who export lists may take it.
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/csdl.xlsx", school.base()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The hub's accounts hold the district's roles, never a school's: the district admin makes a
/// read-only staff account, which reads every report and changes nothing; a school refuses the
/// district's roles.
#[test]
fn district_admin_and_read_only_district_staff_not_school_roles() {
    let hub = Hub::temp();
    let b = hub.base();
    let admin = hub.staff();
    let me: Value = get(&admin, format!("{b}/api/v1/me")).json().unwrap();
    assert_eq!(me["user"]["roles"], json!(["district_admin"]), "{me}");
    let create = |roles: Value, user: &str| {
        admin
            .post(format!("{b}/api/v1/accounts"))
            .json(
                &json!({"username": user, "full_name": "Chuyên viên A", "roles": roles,
                          "password": "mat-khau-chuyen-vien-1"}),
            )
            .send()
            .unwrap()
    };
    for school_role in ["teacher", "admin", "principal"] {
        let r = create(json!([school_role]), "cv-sai");
        assert_eq!(r.status(), 422, "{school_role} on the hub");
        assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "role_not_here");
    }
    assert_eq!(create(json!(["district_staff"]), "cv-a").status(), 201);
    let accounts_page = get(&admin, format!("{b}/admin/accounts")).text().unwrap();
    assert!(accounts_page.contains("Chuyên viên Phòng/Sở (chỉ xem)"));
    assert!(
        !accounts_page.contains("Hiệu trưởng"),
        "no school roles offered"
    );

    let staff = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = staff
        .post(format!("{b}/api/v1/login"))
        .json(&json!({"username": "cv-a", "password": "mat-khau-chuyen-vien-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    for p in [
        "/district",
        "/district/district.xlsx",
        "/district/reports/si-so.csv",
        "/district/csdl.xlsx",
        "/district/api/schools",
    ] {
        get(&staff, format!("{b}{p}"));
    }
    // Read-only: no accounts.
    let r = staff
        .post(format!("{b}/api/v1/accounts"))
        .json(&json!({"username": "cv-b", "full_name": "B", "roles": ["district_admin"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = staff.get(format!("{b}/admin/accounts")).send().unwrap();
    assert_eq!(r.status(), 403);

    // A school refuses the district's roles.
    let dir = tempfile::tempdir().unwrap();
    let school = Server::start(dir.path(), false);
    let r = school
        .login("admin")
        .post(format!("{}/api/v1/accounts", school.base()))
        .json(&json!({"username": "cv-c", "full_name": "C", "roles": ["district_admin"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
}

/// Over HTTPS the hub's certificate names its current addresses and `tram-hub.local`, and its
/// port-80 page hands out the certificate authority with its fingerprint, as a school box does.
#[test]
fn the_hubs_certificate_names_its_addresses_and_its_port_80_page_shows_the_fingerprint() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (port, boot) = (common::free_port(), common::free_port());
    let mut child = std::process::Command::new(common::bin())
        .args(["district", "serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--bootstrap-listen", &format!("127.0.0.1:{boot}")])
        .env("TRAM_ADMIN_PASSWORD", common::PASSWORD)
        .env("TRAM_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _k = Kill(&mut child);
    let plain = reqwest::blocking::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let page = loop {
        match plain.get(format!("http://127.0.0.1:{boot}/")).send() {
            Ok(r) if r.status() == 200 => break r.text().unwrap(),
            _ => {
                assert!(std::time::Instant::now() < deadline, "no port-80 page");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    };
    let der = get(&plain, format!("http://127.0.0.1:{boot}/tram-ca.crt"))
        .bytes()
        .unwrap();
    let fp = tram::pki::tls::fingerprint(&der);
    assert!(
        page.contains(&fp),
        "the page shows the CA's fingerprint {fp}"
    );
    // Everything else on port 80 goes to HTTPS.
    let r = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{boot}/district"))
        .send()
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{port}/district").as_str()
    );

    // The served certificate's names, read by openssl.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName"
        ))
        .output()
        .expect("openssl");
    let names = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(names.contains("DNS:tram-hub.local"), "{names}");
    // Every private address it has now (the CA is name-constrained to private ranges, so a
    // public address could never be vouched for: such a hub runs behind a proxy's certificate).
    let private = |ip: &std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        _ => false,
    };
    let ips: Vec<_> = tram::pki::local_ips().into_iter().filter(private).collect();
    assert!(!ips.is_empty());
    for ip in ips {
        assert!(
            names.contains(&format!("IP Address:{ip}")),
            "{ip} not in {names}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 23 item 4 (publishing from the hub's page) and the hub's leftovers from earlier reviews.

on_both_storages!(
    the_district_admin_publishes_an_update_and_a_library_item_from_the_page,
    the_school_list_names_every_school_and_shows_a_reenrolment,
    a_year_without_data_exports_headers_only,
);

/// Sends `bytes` through the hub's resumable upload in two chunks, the second first (refused
/// with the offset the hub holds, as after a dropped link), then in order; returns the upload.
fn upload(c: &reqwest::blocking::Client, b: &str, name: &str, bytes: &[u8]) -> String {
    let r = c
        .post(format!("{b}/district/api/uploads"))
        .json(&json!({"name": name, "size": bytes.len()}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let s: Value = r.json().unwrap();
    let (id, url) = (s["id"].as_str().unwrap(), s["url"].as_str().unwrap());
    let csrf = common::csrf(c, b);
    let half = bytes.len() / 2;
    let patch = |offset: usize, part: &[u8]| {
        c.patch(format!("{b}{url}"))
            .header("x-csrf-token", &csrf)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(part.to_vec())
            .send()
            .unwrap()
    };
    let r = patch(half, &bytes[half..]);
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["error"]["details"]["offset"], 0);
    assert_eq!(patch(0, &bytes[..half]).status(), 200);
    let st: Value = get(c, format!("{b}{url}")).json().unwrap();
    assert_eq!(
        (st["offset"].as_u64(), st["done"].as_bool()),
        (Some(half as u64), Some(false))
    );
    let done: Value = patch(half, &bytes[half..]).json().unwrap();
    assert_eq!(done["done"], true, "{done}");
    id.to_string()
}

fn published(c: &reqwest::blocking::Client, b: &str) -> Vec<Value> {
    get(c, format!("{b}/district/api/published"))
        .json::<Value>()
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The district admin uploads an update bundle and a shared library item from the hub's page
/// (resumable, the upload continues where the hub stopped); the bundle is checked against the
/// district's release key by the command line's own function, a bundle signed by another key
/// or a disguised file is refused with the reason in Vietnamese and nothing is published; the
/// list says what went out, to whom and by whom, and an enrolled school's downlink offers it.
/// Read-only district staff see the list and can neither upload nor publish.
fn the_district_admin_publishes_an_update_and_a_library_item_from_the_page() {
    let hub_dir = tempfile::tempdir().unwrap();
    let w = tempfile::tempdir().unwrap();
    let good = common::release_bundle(w.path(), "keys", "7.1.0", 0);
    let forged = common::release_bundle(w.path(), "other", "7.1.1", 0);
    // The district's release key, where `tram district publish-update` looks by default.
    std::fs::copy(
        w.path().join("keys/release-key.pub"),
        hub_dir.path().join("release-key.pub"),
    )
    .unwrap();
    let hub = Hub::start(hub_dir.path());
    let b = hub.base();
    let admin = hub.staff();
    let (_, secret) = hub.enrol_made_up("79000701");

    // A bundle signed by another key: refused, in Vietnamese, and nothing is published.
    let id = upload(&admin, &b, "7.1.1.bundle", &std::fs::read(&forged).unwrap());
    let r = admin
        .post(format!("{b}/district/api/publish/update"))
        .json(&json!({"upload": id}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().unwrap();
    assert_eq!(e["error"]["code"], "not_published", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("không đúng chữ ký"),
        "{e}"
    );
    assert!(published(&admin, &b).is_empty());
    // The command line refuses it the same way.
    let o = common::tram(&[
        "district",
        "publish-update",
        "--data-dir",
        hub_dir.path().to_str().unwrap(),
        forged.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(published(&admin, &b).is_empty());

    // The good bundle is published for every school, as the admin.
    let id = upload(&admin, &b, "7.1.0.bundle", &std::fs::read(&good).unwrap());
    let r = admin
        .post(format!("{b}/district/api/publish/update"))
        .json(&json!({"upload": id}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let p: Value = r.json::<Value>().unwrap()["published"].clone();
    assert_eq!(
        p["name"],
        "tram-7.1.0-x86_64.bundle".replace("x86_64", std::env::consts::ARCH)
    );
    assert_eq!(p["to"], "Mọi trường");
    let me: Value = get(&admin, format!("{b}/api/v1/me")).json().unwrap();
    assert_eq!(p["by"], me["user"]["id"], "{p} {me}");
    // The same file as the command line would have published: its BLAKE3 is its id.
    let hash = blake3::hash(&std::fs::read(&good).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(p["id"], hash.as_str());
    // The same upload asked again (the page's answer lost on a dropped link, and the page
    // retries): the answer it missed, 200, and nothing published twice.
    let r = admin
        .post(format!("{b}/district/api/publish/update"))
        .json(&json!({"upload": id}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert_eq!(r.json::<Value>().unwrap()["published"], p);
    assert_eq!(published(&admin, &b).len(), 1);
    // An upload id that was never this account's is still unknown.
    let r = admin
        .post(format!("{b}/district/api/publish/update"))
        .json(&json!({"upload": "0".repeat(24)}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    // A shared library item; an executable named .pdf is refused and not shared.
    let mut pdf = b"%PDF-1.4\n% Phan so lop 6\n".to_vec();
    pdf.extend(std::iter::repeat_n(b'x', 40_000));
    let share = |bytes: &[u8], name: &str| {
        let id = upload(&admin, &b, name, bytes);
        admin
            .post(format!("{b}/district/api/publish/library"))
            .json(
                &json!({"upload": id, "title": "Phân số lớp 6", "kind": "ebook",
                          "subject": "toan", "grade": 6}),
            )
            .send()
            .unwrap()
    };
    let mut exe = b"\x7fELF\x02\x01\x01".to_vec();
    exe.extend(std::iter::repeat_n(0u8, 5_000));
    let r = share(&exe, "bai-tap.pdf");
    assert_eq!(r.status(), 422);
    let e: Value = r.json().unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Chưa chia sẻ"),
        "{e}"
    );
    let r = share(&pdf, "phan-so.pdf");
    assert_eq!(r.status(), 201, "{:?}", r.text());

    let list = published(&admin, &b);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["title"], "Phân số lớp 6");
    assert_eq!(list[1]["version"], "7.1.0");
    // The page lists them, with whom they went to and who published them.
    let page = get(&admin, format!("{b}/district/publish")).text().unwrap();
    for shown in [
        "Trạm 7.1.0",
        "Phân số lớp 6 — phan-so.pdf",
        "Mọi trường",
        "pub-update",
    ] {
        assert!(page.contains(shown), "the page lacks {shown:?}");
    }
    // An enrolled school's downlink offers both.
    let down: Value = reqwest::blocking::Client::new()
        .get(format!("{b}/relay/v1/downlink/79000701"))
        .header("authorization", format!("Bearer {secret}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(down["items"].as_array().unwrap().len(), 2, "{down}");

    // Read-only district staff: the list, no forms, no uploads, no publishing.
    let staff = hub.read_only_staff();
    let page = get(&staff, format!("{b}/district/publish")).text().unwrap();
    assert!(page.contains("Trạm 7.1.0") && !page.contains("pub-update"));
    assert_eq!(published(&staff, &b).len(), 2);
    let r = staff
        .post(format!("{b}/district/api/uploads"))
        .json(&json!({"name": "x.bundle", "size": 10}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = staff
        .post(format!("{b}/district/api/publish/update"))
        .json(&json!({"upload": "0".repeat(24)}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(published(&admin, &b).len(), 2);

    // Review r16 #10: a file published from the command line is named as such on the page
    // and in the API, never by the store's "system" actor.
    let file = w.path().join("huong-dan-su-dung.pdf");
    let mut guide = b"%PDF-1.4\n% Huong dan su dung\n".to_vec();
    guide.extend(std::iter::repeat_n(b'x', 4_000));
    std::fs::write(&file, guide).unwrap();
    let o = common::tram(&[
        "district",
        "publish-library",
        "--data-dir",
        hub_dir.path().to_str().unwrap(),
        file.to_str().unwrap(),
        "--title",
        "Hướng dẫn sử dụng Trạm",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = published(&admin, &b);
    let cli = items
        .iter()
        .find(|i| i["by"] == "system" || i["by"].is_null())
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(cli["by_name"], "dòng lệnh (quản trị máy chủ)", "{cli}");
    let page = get(&admin, format!("{b}/district/publish")).text().unwrap();
    assert!(
        page.contains("data-label=\"Người phát hành\">dòng lệnh (quản trị máy chủ)<")
            && !page.contains(">system<"),
        "{page}"
    );
}

/// Review leftovers: a school enrolled without a name is listed by its code in schools.csv,
/// never an empty cell; a box enrolling again for a school (a new or restored box) is shown
/// on the school list with its date, on the page, in the CSV and in the JSON.
fn the_school_list_names_every_school_and_shows_a_reenrolment() {
    let hub = Hub::temp();
    let b = hub.base();
    let staff = hub.staff();
    hub.enrol_made_up("79000701");
    hub.enrol_made_up("79000702");
    let schools = hub.schools();
    assert!(
        schools["schools"][0]["reenrolled_at"].is_null(),
        "{schools}"
    );
    // A new box for 79000702.
    hub.enrol_made_up("79000702");
    let schools = hub.schools();
    let again = schools["schools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == "79000702")
        .unwrap();
    assert!(again["reenrolled_at"].is_string(), "{schools}");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap())
        .strftime("%d/%m/%Y")
        .to_string();
    let csv = get(&staff, format!("{b}/district/schools.csv"))
        .text()
        .unwrap();
    let line = |code: &str| {
        csv.lines()
            .find(|l| l.starts_with(code))
            .unwrap_or_else(|| panic!("{code} not in {csv}"))
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(line("79000701")[1], "79000701", "{csv}");
    assert_eq!(line("79000701")[2], "", "{csv}");
    assert_eq!(line("79000702")[2], format!("Đăng ký lại {today}"), "{csv}");
    // Each school's box key fingerprint (what signs its records archive), in the JSON and
    // the CSV; a box enrolling again has a key of its own.
    let fp = |code: &str| {
        schools["schools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == code)
            .unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(fp("79000701").len(), 64, "{schools}");
    assert_ne!(fp("79000701"), fp("79000702"), "{schools}");
    assert_eq!(
        line("79000702").last().unwrap().replace(' ', ""),
        fp("79000702"),
        "{csv}"
    );
    let page = get(&staff, format!("{b}/district")).text().unwrap();
    assert!(
        page.contains(&format!("Đăng ký lại {today}")),
        "the page lacks the re-enrolment"
    );
}

/// A CSDL export asked for a year with no data is a file with its headers and no rows (not an
/// error page), on a hub holding another year's results and on an empty hub.
fn a_year_without_data_exports_headers_only() {
    let hub = Hub::temp();
    let b = hub.base();
    let staff = hub.staff();
    let empty = |staff: &reqwest::blocking::Client| {
        let s = sheets(
            &get(staff, format!("{b}/district/csdl.xlsx?year=2019-2020"))
                .bytes()
                .unwrap(),
        );
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|(_, rows)| rows.len() == 1), "{s:?}");
        for t in ["hocsinh", "ketquahoctap", "diemmon"] {
            let csv = get(staff, format!("{b}/district/csdl/{t}.csv?year=2019-2020"))
                .text()
                .unwrap();
            assert_eq!(csv.trim_end().lines().count(), 1, "{t}: {csv}");
        }
    };
    empty(&staff);
    hub.relay_made_up(
        "79000701",
        &[
            (
                "class",
                "2026-6a1".into(),
                json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
            ),
            student("2026-6a1", 1),
            (
                "result",
                "2026-2027/1/hs-1".into(),
                result(
                    "2026-6a1",
                    6,
                    1,
                    "1",
                    json!({"mahocluc": 1, "mahanhkiem": 1}),
                ),
            ),
        ],
    );
    empty(&staff);
    let s = sheets(
        &get(&staff, format!("{b}/district/csdl.xlsx?year=2026-2027"))
            .bytes()
            .unwrap(),
    );
    assert_eq!(sheet(&s, "ketquahoctap").len(), 2, "{s:?}");
}

/// Review leftover: a school that sent its students but not all their results — the learning
/// and conduct report counts the missing ones as "chưa đánh giá", so each row's levels add up
/// to its students, and the district's totals too.
#[test]
fn students_without_results_are_counted_as_not_yet_graded() {
    let hub = Hub::temp();
    let mut records = vec![(
        "class",
        "2026-6a1".to_string(),
        json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
    )];
    for n in 1..=3 {
        records.push(student("2026-6a1", n));
    }
    records.push((
        "result",
        "2026-2027/1/hs-1".into(),
        result(
            "2026-6a1",
            6,
            1,
            "1",
            json!({"mahocluc": 1, "mahanhkiem": 2}),
        ),
    ));
    hub.relay_made_up("79000701", &records);
    let staff = hub.staff();
    let s = sheets(
        &get(&staff, format!("{}/district/district.xlsx", hub.base()))
            .bytes()
            .unwrap(),
    );
    let kq = sheet(&s, "Kết quả học tập, rèn luyện");
    assert!(
        kq[0].contains(&"Học tập: Chưa có kết quả".to_string()),
        "{:?}",
        kq[0]
    );
    // Students 3: learning Tốt 1 + chưa đánh giá 2; conduct Khá 1 + chưa đánh giá 2.
    for who in ["79000701", "Toàn huyện"] {
        assert_eq!(
            row_of(kq, &[who, "6"]),
            &[
                who,
                "6",
                "Học kì I",
                "3",
                "1",
                "0",
                "0",
                "0",
                "2",
                "0",
                "1",
                "0",
                "0",
                "2"
            ]
        );
    }
}

/// The bars of the results chart on the staff page: (caption, [(level, count)]).
fn results_chart(page: &str) -> (String, Vec<(String, u64)>) {
    let fig = page
        .split("id=\"ket-qua\"")
        .nth(1)
        .and_then(|x| x.split("<figure class=\"chart\">").nth(1))
        .and_then(|x| x.split("</figure>").next())
        .expect("a results chart");
    let caption = fig
        .split("<figcaption>")
        .nth(1)
        .and_then(|x| x.split("</figcaption>").next())
        .unwrap()
        .to_string();
    let texts: Vec<String> = fig
        .split("<text ")
        .skip(1)
        .map(|t| {
            t.split_once('>')
                .unwrap()
                .1
                .split("</text>")
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let bars = texts
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].parse().unwrap()))
        .collect();
    (caption, bars)
}

/// Review r14 #9: the chart counts each student once — one term of one year, the filter's or
/// the latest with results (Cả năm after HK II after HK I), with the students not yet graded —
/// where it added HK I + HK II + Cả năm (3 students drawn as 6) and left "Chưa đánh giá" out.
#[test]
fn the_results_chart_counts_one_term_each_student_once() {
    let hub = Hub::temp();
    let mut records = vec![(
        "class",
        "2026-6a1".to_string(),
        json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
    )];
    for n in 1..=3 {
        records.push(student("2026-6a1", n));
    }
    // HK I: 1 Tốt, 1 Khá; HK II: 2 Khá; Cả năm: 1 Đạt. The third student has none.
    for (n, term, level) in [
        (1, "1", 1),
        (2, "1", 2),
        (1, "2", 2),
        (2, "2", 2),
        (1, "CN", 3),
    ] {
        records.push((
            "result",
            format!("2026-2027/{term}/hs-{n}"),
            result(
                "2026-6a1",
                6,
                n,
                term,
                json!({"mahocluc": level, "mahanhkiem": 1}),
            ),
        ));
    }
    hub.relay_made_up("79000701", &records);
    let staff = hub.staff();
    let b = hub.base();
    let bars = |levels: [u64; 5]| -> Vec<(String, u64)> {
        ["Tốt", "Khá", "Đạt", "Chưa đạt", "Chưa có kết quả"]
            .iter()
            .zip(levels)
            .map(|(l, n)| (l.to_string(), n))
            .collect()
    };
    for (query, term, want) in [
        ("", "Cả năm", [0, 0, 1, 0, 2]),
        ("?term=1", "Học kì I", [1, 1, 0, 0, 1]),
        ("?term=2&year=2026-2027", "Học kì II", [0, 2, 0, 0, 1]),
    ] {
        let page = get(&staff, format!("{b}/district{query}")).text().unwrap();
        let (caption, got) = results_chart(&page);
        assert_eq!(got, bars(want), "{query}: {caption}");
        assert!(
            caption.contains(&format!("{term}, năm học 2026-2027"))
                && caption.contains("3 học sinh, mỗi em tính một lần")
                && !caption.contains("lượt"),
            "{query}: {caption}"
        );
    }
    // A term without results draws no chart rather than a bar of nobody graded.
    let page = get(&staff, format!("{b}/district?year=2025-2026"))
        .text()
        .unwrap();
    assert!(
        !page
            .split("id=\"ket-qua\"")
            .nth(1)
            .unwrap()
            .split("</section>")
            .next()
            .unwrap()
            .contains("<figure"),
        "{page}"
    );
}

/// Review leftover: the hub's write routes keep the school's same-origin rule — a JSON POST
/// another site makes with the district admin's cookie is refused and changes nothing.
#[test]
fn the_hub_refuses_a_cross_site_write_that_carries_the_cookie() {
    let hub = Hub::temp();
    let b = hub.base();
    let admin = hub.staff();
    let account = |user: &str| json!({"username": user, "full_name": "Kẻ lạ", "roles": ["district_admin"], "password": "mat-khau-ke-la-123"});
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = admin
            .post(format!("{b}/api/v1/accounts"))
            .header(header, value)
            .json(&account("ke-la"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "cross_site");
        let r = admin
            .post(format!("{b}/district/api/uploads"))
            .header(header, value)
            .json(&json!({"name": "x.bundle", "size": 10}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
    }
    let accounts: Value = get(&admin, format!("{b}/api/v1/accounts")).json().unwrap();
    assert!(!accounts.to_string().contains("ke-la"), "{accounts}");
    // The same request from the hub's own page goes through.
    let r = admin
        .post(format!("{b}/api/v1/accounts"))
        .header("origin", &b)
        .json(&account("cv-b"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Review leftover: an enrolment token says how long it is good (`--valid-days`, 7 by
/// default); the expiry itself is checked on both storages in district/tests.rs.
#[test]
fn an_enrolment_token_says_until_when_it_is_good() {
    let hub = Hub::temp();
    let data = hub.dir.path().to_str().unwrap();
    let o = common::tram(&[
        "district",
        "token",
        "--data-dir",
        data,
        "--school",
        "79000701",
        "--valid-days",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("valid until") && text.contains("Vietnam time (UTC+7) (2 days"),
        "{text}"
    );
    let o = common::tram(&[
        "district",
        "token",
        "--data-dir",
        data,
        "--school",
        "79000701",
        "--valid-days",
        "0",
    ]);
    assert!(!o.status.success());
    drop(hub);
}

/// Review r9 #2: a student who transferred out or withdrew (the relayed record carries `left`)
/// is not counted in the hub's sĩ số, and the CSDL hocsinh export lists them with their status
/// and date, not as enrolled.
#[test]
fn students_who_left_are_not_counted_as_enrolled_at_the_hub() {
    let hub = Hub::temp();
    let mut records = vec![(
        "class",
        "2026-6a1".to_string(),
        json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
    )];
    for n in 1..=4 {
        records.push(student("2026-6a1", n));
    }
    records[2].2["left"] = json!({"kind": "transfer_out", "date": "2026-12-05",
                                  "to_school": "THCS Lê Lợi", "reason": "Chuyển nhà"});
    records[3].2["left"] =
        json!({"kind": "withdrawn", "date": "2026-11-20", "reason": "Theo gia đình"});
    // Last year's classes: 9A1 and 7A2 closed (a year result), 9A2 never locked (none), 9A3
    // reopened (its year result marked dangmolai) — only a closed year says a pupil finished
    // (review r25 #2).
    for (n, (class, name, grade, cn)) in [
        ("2025-9a1", "9A1", 9, Some(false)),
        ("2025-7a2", "7A2", 7, Some(false)),
        ("2025-9a2", "9A2", 9, None),
        ("2025-9a3", "9A3", 9, Some(true)),
    ]
    .into_iter()
    .enumerate()
    {
        let n = 11 + n as u32;
        records.push((
            "class",
            class.to_string(),
            json!({"id": class, "name": name, "grade": grade, "year": "2025-2026"}),
        ));
        records.push(student(class, n));
        records.push((
            "result",
            format!("2025-2026/2/{class}-{n}"),
            result(
                class,
                grade,
                n,
                "2",
                json!({"mahocluc": 1, "mahanhkiem": 1}),
            ),
        ));
        if let Some(reopened) = cn {
            records.push((
                "result",
                format!("2025-2026/CN/{class}-{n}"),
                result(
                    class,
                    grade,
                    n,
                    "CN",
                    json!({"mahocluc": 1, "mahanhkiem": 1, "ketqua": "promoted",
                           "colenlop": true, "dangmolai": reopened}),
                ),
            ));
        }
    }
    hub.relay_made_up("79000701", &records);
    let staff = hub.staff();
    let b = hub.base();
    let csv = get(&staff, format!("{b}/district/reports/si-so.csv"))
        .text()
        .unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(
        rows.iter().any(|l| l.ends_with(",6,2")) && !rows.iter().any(|l| l.ends_with(",6,4")),
        "two of the four are still at the school: {csv}"
    );
    let s = sheets(
        &get(&staff, format!("{b}/district/csdl.xlsx"))
            .bytes()
            .unwrap(),
    );
    let hs = sheet(&s, "hocsinh");
    let col = |name: &str| {
        hs[0]
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", hs[0]))
    };
    let (status, who) = (col("matrangthaihientai"), col("hoten"));
    let status_of = |name: &str| {
        hs.iter()
            .find(|r| r[who] == name)
            .unwrap_or_else(|| panic!("{name} not in {hs:?}"))[status]
            .clone()
    };
    assert_eq!(status_of("Học sinh 1"), "Đang học");
    assert_eq!(status_of("Học sinh 2"), "Chuyển trường 2026-12-05");
    assert_eq!(status_of("Học sinh 3"), "Thôi học 2026-11-20");
    // Last year's file (the default is the current year's).
    let s = sheets(
        &get(&staff, format!("{b}/district/csdl.xlsx?year=2025-2026"))
            .bytes()
            .unwrap(),
    );
    let hs = sheet(&s, "hocsinh");
    assert_eq!(hs.len(), 5, "{hs:?}");
    let status_of = |name: &str| {
        hs.iter()
            .find(|r| r[who] == name)
            .unwrap_or_else(|| panic!("{name} not in {hs:?}"))[status]
            .clone()
    };
    assert_eq!(
        status_of("Học sinh 11"),
        "Đã học hết lớp 9 (lớp 9A1, năm học 2025-2026)"
    );
    assert_eq!(
        status_of("Học sinh 12"),
        "Không còn học (lớp 7A2, năm học 2025-2026)"
    );
    for (n, class) in [(13, "9A2"), (14, "9A3")] {
        assert_eq!(
            status_of(&format!("Học sinh {n}")),
            format!("Chưa có kết quả cả năm (lớp {class}, năm học 2025-2026 chưa khoá sổ)")
        );
    }
    // The results relayed: the reopened 9A3's year result is not exported (review r24 #2), the
    // closed years' are, and the last grade has no colenlop (r25 #3).
    let kq = sheet(&s, "ketquahoctap");
    let at = |name: &str| kq[0].iter().position(|h| h == name).unwrap();
    let (malop, hocky, colenlop) = (at("malop"), at("hocky"), at("colenlop"));
    let mut rows: Vec<(String, String, String)> = kq[1..]
        .iter()
        .map(|r| (r[malop].clone(), r[hocky].clone(), r[colenlop].clone()))
        .collect();
    rows.sort();
    let want = |c: &str, t: &str, l: &str| (c.to_string(), t.to_string(), l.to_string());
    assert_eq!(
        rows,
        [
            want("7A2", "2", ""),
            want("7A2", "CN", "1"),
            want("9A1", "2", ""),
            want("9A1", "CN", ""),
            want("9A2", "2", ""),
            want("9A3", "2", ""),
        ],
        "{kq:?}"
    );
}

/// Issue 25 item 4: what a school shares up waits on the hub ("chờ duyệt") until a district
/// admin approves it or refuses it with a reason; read-only staff see the hold but do not decide.
#[test]
fn the_hub_holds_what_schools_share_up_until_a_district_admin_decides() {
    let hub = Hub::temp();
    let b = hub.base();
    let item = |id: &str, title: &str| {
        json!({"id": id, "kind": "ebook", "title": title, "visibility": "district",
               "owner": "u-gv01", "review": {"state": "accepted"}})
    };
    let (key, secret) = hub.relay_made_up(
        "79001",
        &[
            (
                "library_item",
                "li-1".into(),
                item("li-1", "Chuyên đề phân số"),
            ),
            (
                "library_item",
                "li-2".into(),
                item("li-2", "Đề kiểm tra chưa đạt"),
            ),
            (
                "school",
                "school".into(),
                json!({"name": "THCS Lê Lợi", "code": "79001", "level": "THCS",
                       "current_year": "2026-2027"}),
            ),
        ],
    );
    let admin = hub.staff();
    let states = || -> Vec<(String, String, Value)> {
        let v: Value = get(&admin, format!("{b}/district/api/shared"))
            .json()
            .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["item"].as_str().unwrap().to_string(),
                    i["state"].as_str().unwrap().to_string(),
                    i["reason"].clone(),
                )
            })
            .collect()
    };
    let mut got = states();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("li-1".to_string(), "waiting".to_string(), Value::Null),
            ("li-2".to_string(), "waiting".to_string(), Value::Null),
        ]
    );
    let decide = |c: &reqwest::blocking::Client, item: &str, body: Value| {
        c.post(format!("{b}/district/api/shared/79001/{item}"))
            .json(&body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // Read-only staff see the hold, never decide.
    let staff = hub.read_only_staff();
    assert_eq!(
        get(&staff, format!("{b}/district/api/shared")).status(),
        200
    );
    assert_eq!(decide(&staff, "li-1", json!({"approve": true})), 403);

    assert_eq!(decide(&admin, "li-1", json!({"approve": true})), 200);
    assert_eq!(
        decide(&admin, "li-1", json!({"approve": false, "reason": "x"})),
        409
    );
    assert_eq!(
        decide(&admin, "li-2", json!({"approve": false})),
        422,
        "a refusal needs its reason"
    );
    assert_eq!(
        decide(
            &admin,
            "li-2",
            json!({"approve": false, "reason": "Trùng tài liệu của Phòng"})
        ),
        200
    );
    assert_eq!(decide(&admin, "li-9", json!({"approve": true})), 404);
    let mut got = states();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0].1, "approved");
    assert_eq!(got[1].1, "refused");
    assert_eq!(got[1].2, "Trùng tài liệu của Phòng");
    let page = get(&admin, format!("{b}/district/publish")).text().unwrap();
    for want in [
        "Chuyên đề phân số",
        "đã duyệt",
        "từ chối",
        "Trùng tài liệu của Phòng",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    // Review r14 #8: the school by its name, the publisher by hers — the code and the account
    // id stay for machines, beside them in the API.
    for want in [
        "<span class=\"tag\">THCS Lê Lợi</span>",
        "data-label=\"Gửi tới\">THCS Lê Lợi<",
        "data-label=\"Người phát hành\">Quản trị Phòng GD<",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    for code in ["u-admin", ">79001<", "Trường 79001"] {
        assert!(!page.contains(code), "{code}: {page}");
    }
    let v: Value = get(&admin, format!("{b}/district/api/shared"))
        .json()
        .unwrap();
    for i in v["items"].as_array().unwrap() {
        assert_eq!(
            (&i["school"], &i["school_name"]),
            (&json!("79001"), &json!("THCS Lê Lợi"))
        );
    }
    let p: Value = get(&admin, format!("{b}/district/api/published"))
        .json()
        .unwrap();
    for i in p["items"].as_array().unwrap() {
        assert_eq!(i["to"], "THCS Lê Lợi", "{i}");
        assert_eq!(i["school"], "79001", "{i}");
        assert_eq!(i["by"], "u-admin", "{i}");
        assert_eq!(i["by_name"], "Quản trị Phòng GD", "{i}");
    }
    // Each decision goes down to the school that shared the item, and to no other school.
    let downlink = |code: &str, secret: &str| -> Vec<Value> {
        let v: Value = reqwest::blocking::Client::new()
            .get(format!("{b}/relay/v1/downlink/{code}"))
            .header("authorization", format!("Bearer {secret}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "library-review")
            .cloned()
            .collect()
    };
    let mine = downlink("79001", &secret);
    let mut told: Vec<(String, bool, Value)> = mine
        .iter()
        .map(|i| {
            let m = &i["meta"];
            (
                m["item"].as_str().unwrap().to_string(),
                m["approved"].as_bool().unwrap(),
                m["reason"].clone(),
            )
        })
        .collect();
    told.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        told,
        vec![
            ("li-1".to_string(), true, Value::Null),
            ("li-2".to_string(), false, json!("Trùng tài liệu của Phòng")),
        ]
    );
    let (_, other_secret) = hub.enrol_made_up("79003");
    assert!(
        downlink("79003", &other_secret).is_empty(),
        "another school's decisions"
    );
    let file = reqwest::blocking::Client::new()
        .get(format!(
            "{b}/relay/v1/downlink/79003/{}",
            mine[0]["id"].as_str().unwrap()
        ))
        .header("authorization", format!("Bearer {other_secret}"))
        .send()
        .unwrap();
    assert_eq!(file.status(), 404, "another school's decision file");

    // The school changes the approved item and relays it again: the approval was of the old
    // version, so the new one is held again, the earlier decision named.
    let digest_of = |id: &str| -> String {
        let v: Value = get(&admin, format!("{b}/district/api/shared"))
            .json()
            .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item"] == id)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let approved_digest = digest_of("li-1");
    hub.relay_batch(
        "79001",
        &key,
        &secret,
        2,
        3,
        &[(
            "library_item",
            "li-1".into(),
            item("li-1", "Chuyên đề phân số (bản có lời giải sai)"),
        )],
    );
    let got = states();
    let li1 = got.iter().find(|x| x.0 == "li-1").unwrap();
    assert_eq!(li1.1, "changed", "{got:?}");
    assert_eq!(li1.2, "Bản trước đã được duyệt.");
    assert_ne!(digest_of("li-1"), approved_digest);
    // A decision on what the page showed before the change is refused; on the new version, taken.
    assert_eq!(
        decide(
            &admin,
            "li-1",
            json!({"approve": true, "digest": approved_digest})
        ),
        409
    );
    let new_digest = digest_of("li-1");
    assert_eq!(
        decide(
            &admin,
            "li-1",
            json!({"approve": false, "reason": "Lời giải câu 3 sai", "digest": new_digest})
        ),
        200
    );
    let got = states();
    let li1 = got.iter().find(|x| x.0 == "li-1").unwrap();
    assert_eq!(
        (li1.1.as_str(), &li1.2),
        ("refused", &json!("Lời giải câu 3 sai"))
    );
    assert_eq!(
        downlink("79001", &secret).len(),
        3,
        "the new decision goes down too"
    );
}

/// A one-page PDF carrying `data` as the embedded file `name` (as the box prints a học bạ or a
/// month approval).
fn pdf_with(name: &str, data: Value) -> Vec<u8> {
    let mut l = tram::gradebook::pdf::Layout::new(false);
    l.line(12.0, false, "Tệp thử");
    l.attach_json(name, "dữ liệu", serde_json::to_vec(&data).unwrap());
    l.finish().unwrap()
}

/// `tram district verify-hocba` on `pdf`: (exit code, report).
fn hub_verify(hub: &Hub, dir: &std::path::Path, name: &str, pdf: &[u8]) -> (i32, String) {
    let f = dir.join(name);
    std::fs::write(&f, pdf).unwrap();
    let o = common::tram(&[
        "district",
        "verify-hocba",
        "--data-dir",
        hub.data.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Review r15 #4, #5: the hub decides a file as the box does (`hocba::verdict::decide`). A
/// copy whose student has a newer signed version relayed is SUPERSEDED (exit 4), not VALID; a
/// month approval signed outside the box, once the school's approval lines of that month have
/// arrived, is INVALID in the box's words ("the school's box did not make it"), and NOT
/// CONFIRMED (exit 5) only for a month of which nothing has arrived.
#[test]
fn the_hub_calls_a_superseded_copy_superseded_and_a_minted_approval_invalid() {
    use tram::gradebook::hocba::{ApprovalSignature, RegisterEntry, Stage};
    use tram::pki::{pades, signing};
    let hub = Hub::temp();
    let code = "79000977";
    let now = jiff::Timestamp::now();
    let ca = signing::new_ca("Trường THCS Thử", now).unwrap();
    let key = |name: &str, role: &str| {
        let rec = signing::issue_signer(&ca, name, name, role, "64081739", now).unwrap();
        signing::unlock(&rec, "64081739").unwrap()
    };
    let gvcn = key("Lê Thị Hoa", "Giáo viên chủ nhiệm");
    let head = key("Trần Văn Hùng", "Hiệu trưởng");
    // Version n of a student's học bạ, signed at both stages, with its two register lines;
    // `data` adds to what its embedded data says.
    let hocba_of = |student: &str, n: u32, data: Value| {
        let mut doc = json!({"lop": "2026-9a1", "hocsinh": student, "phienban": n});
        for (k, v) in data.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let pdf = pdf_with("hoc-ba.json", doc);
        let one = pades::sign(&pdf, &gvcn, &ca.cert, now).unwrap();
        let two = pades::sign(&one, &head, &ca.cert, now).unwrap();
        let line = |bytes: &[u8], stage: Stage, role: &str| {
            let (cert_sha256, signature_sha256) = pades::newest_signature_ids(bytes).unwrap();
            let e = RegisterEntry {
                class: "2026-9a1".into(),
                student: student.into(),
                version: n,
                stage,
                signer_role: role.into(),
                cert_sha256,
                signature_sha256,
            };
            let k = format!("2026-9a1/{student}/{n:04}/{}", stage as u8 + 1);
            ("hocba_signature", k, serde_json::to_value(e).unwrap())
        };
        let lines = vec![
            line(&one, Stage::Gvcn, "Giáo viên chủ nhiệm"),
            line(&two, Stage::Principal, "Hiệu trưởng"),
        ];
        (two, lines)
    };
    let hocba = |n: u32| hocba_of("hs-1", n, json!({}));
    let (v1, mut records) = hocba(1);
    let (v3, more) = hocba(3);
    records.extend(more);
    // Review r17 #5: hs-2's học bạ printed "Lê Ân", the school corrected her record to "Lê An"
    // and relayed it, without signing again; hs-3's prints what the school relayed. Both print
    // a nơi sinh: hs-3's profile (nơi sinh, dân tộc) has arrived (review r19 #7), hs-2's not.
    let identity = |name: &str| {
        json!({"namhoc": "2026", "hoten": name, "ngaysinh": "2012-01-01", "gioitinh": "Nữ",
               "sodinhdanh": "079212000002", "noisinh": "Hà Nội"})
    };
    let (outdated, more) = hocba_of("hs-2", 1, identity("Lê Ân"));
    records.extend(more);
    let mut same = identity("Lê Thị Ba");
    same["sodinhdanh"] = "079212000003".into();
    let (current, more) = hocba_of("hs-3", 1, same);
    records.extend(more);
    for (id, name, ma) in [
        ("hs-2", "Lê An", "079212000002"),
        ("hs-3", "Lê Thị Ba", "079212000003"),
    ] {
        records.push((
            "student",
            format!("hs-{ma}"),
            json!({"id": id, "full_name": name, "dob": "2012-01-01", "gender": "Nữ",
                   "ma_dinh_danh": ma, "class_id": "2026-9a1"}),
        ));
    }
    records.push((
        "student_profile",
        "hs-3".into(),
        json!({"birthplace": "Hà Nội", "ethnicity": "Kinh"}),
    ));
    // The month approval of 2026-12, version 1, as the box signs and registers it.
    let unsigned = pdf_with(
        "phe-duyet.json",
        json!({"format": "tram.approval.v1", "thang": "2026-12", "phienban": 1, "to": null}),
    );
    let approval = pades::sign(&unsigned, &head, &ca.cert, now).unwrap();
    let (cert_sha256, signature_sha256) = pades::newest_signature_ids(&approval).unwrap();
    let line = ApprovalSignature {
        month: "2026-12".into(),
        version: 1,
        department: None,
        signer: "Trần Văn Hùng".into(),
        cert_sha256,
        signature_sha256,
    };
    records.push((
        "approval_signature",
        "2026-12/0001".into(),
        serde_json::to_value(line).unwrap(),
    ));
    let (_, secret) = hub.relay_made_up(code, &records);
    let pem = der::EncodePem::to_pem(&ca.cert, der::pem::LineEnding::LF).unwrap();
    let r = reqwest::blocking::Client::new()
        .put(format!("{}/relay/v1/signing-ca/{code}", hub.base()))
        .header("authorization", format!("Bearer {secret}"))
        .body(pem)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);

    let (rc, text) = hub_verify(&hub, hub.dir.path(), "v3.pdf", &v3);
    assert_eq!(rc, 0, "{text}");
    assert!(text.ends_with("=> VALID\n"), "{text}");
    assert!(
        text.contains("register: signature 2 is in the school's signature register (Hiệu trưởng)"),
        "{text}"
    );
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "outdated.pdf", &outdated);
    assert_eq!(rc, 6, "{text}");
    assert!(
        text.contains("học bạ data: embedded, DIFFERS from the records the school relayed (hs-2: name): the record changed after signing; the school signs a new version; not checked: birthplace (not relayed to the hub yet)\n")
            && text.ends_with(&format!("{}\n", tram::gradebook::hocba::Verdict::Outdated.line())),
        "{text}"
    );
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "current.pdf", &current);
    assert_eq!(rc, 0, "{text}");
    assert!(
        text.contains("học bạ data: embedded, matches the records the school relayed (hs-3)\n")
            && text.ends_with("=> VALID\n"),
        "{text}"
    );
    // The hub's page and API say the same, in Vietnamese.
    let staff = hub.staff();
    let v: Value = staff
        .post(format!("{}/district/api/hocba/verify", hub.base()))
        .header("content-type", "application/pdf")
        .header("X-CSRF-Token", common::csrf(&staff, &hub.base()))
        .body(outdated.clone())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&v["verdict"], &v["data"]["fields"], &v["data"]["unchecked"]),
        (&json!("outdated"), &json!(["hoten"]), &json!(["noisinh"])),
        "{v}"
    );
    assert!(
        v["problems_vi"][0]
            .as_str()
            .unwrap()
            .contains("cần ký lại học bạ bản mới")
            && v["data_vi"]
                .as_str()
                .unwrap()
                .contains("Không kiểm được nơi sinh"),
        "{v}"
    );
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "v1.pdf", &v1);
    assert_eq!(rc, 4, "{text}");
    // Every exit code is in --help (review r17 #10).
    let o = common::tram(&["district", "verify-hocba", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for code in [
        "0 VALID",
        "3 INVALID",
        "4 SUPERSEDED",
        "5 NOT CONFIRMED",
        "6 OUTDATED",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
    assert!(
        text.ends_with("=> SUPERSEDED (v3 is the current signed version)\n")
            && text.contains("version: SUPERSEDED: the school has signed a newer version (v3)"),
        "{text}"
    );

    // The genuine approval, then the same first revision signed with a certificate minted from
    // the CA key outside the box (review r15 #5's steps).
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "approval.pdf", &approval);
    assert_eq!(rc, 0, "{text}");
    assert!(
        text.contains("kind: lesson-plan approval of 2026-12"),
        "{text}"
    );
    let minted = pades::sign(
        &unsigned,
        &key("Trần Văn Hùng", "Hiệu trưởng"),
        &ca.cert,
        now,
    )
    .unwrap();
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "minted.pdf", &minted);
    assert_eq!(rc, 3, "{text}");
    assert!(
        text.contains(
            "register: signature 1 is NOT in the school's signature register of lesson-plan approvals: the school's box did not make it"
        ) && text.ends_with("=> INVALID\n"),
        "{text}"
    );
    assert!(!text.contains("NOT CONFIRMED"), "{text}");
    // A month of which nothing has arrived: not confirmed yet, never called forged.
    let later = pdf_with(
        "phe-duyet.json",
        json!({"format": "tram.approval.v1", "thang": "2027-01", "phienban": 1, "to": null}),
    );
    let later = pades::sign(&later, &head, &ca.cert, now).unwrap();
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "later.pdf", &later);
    assert_eq!(rc, 5, "{text}");
    assert!(
        text.ends_with("=> NOT CONFIRMED (the school's signature register has not arrived yet)\n")
            && text.contains("is not in the school's signature register of lesson-plan approvals the hub holds yet (not arrived)"),
        "{text}"
    );
}

/// Review r17 #1, #9 (issue 22): a school renews its signing CA and relays its CAs as the box
/// does after a renewal (`relay::stamp::send_signing_ca`: the current first, then the one it
/// replaced). The hub verifies a file signed under the old CA before the renewal and one
/// signed under the new CA after it (VALID, each named by its own CA), and calls a file signed
/// under the retired CA after the renewal INVALID — "ký bằng CA đã thay lúc …" — even with its
/// register lines relayed: the cut-off is read from the relayed CAs alone.
#[test]
fn a_renewal_reaches_the_hub_and_the_retired_ca_has_a_cut_off() {
    use tram::gradebook::hocba::{RegisterEntry, Stage};
    use tram::pki::{pades, signing};
    let hub = Hub::temp();
    let code = "79000978";
    let now = jiff::Timestamp::now();
    let day = |n: i64| jiff::SignedDuration::from_hours(24 * n);
    let school = "Trường THCS Gia Hạn";
    let (t0, renewed) = (now - day(30), now - day(2));
    let first = signing::new_ca_generation(school, 1, t0).unwrap();
    let second = signing::new_ca_generation(school, 2, renewed).unwrap();
    let key = |ca: &signing::SigningCa, name: &str, role: &str, at| {
        let rec = signing::issue_signer(ca, name, name, role, "60481735", at).unwrap();
        signing::unlock(&rec, "60481735").unwrap()
    };
    // Student `hs`'s học bạ v1 signed under `ca` at `at` by both stages, with its two lines.
    let hocba = |ca: &signing::SigningCa, hs: &str, at: jiff::Timestamp| {
        let gvcn = key(ca, "Lê Thị Hoa", "Giáo viên chủ nhiệm", t0.max(at - day(1)));
        let head = key(ca, "Trần Văn Hùng", "Hiệu trưởng", t0.max(at - day(1)));
        let pdf = pdf_with(
            "hoc-ba.json",
            json!({"lop": "2026-9a1", "hocsinh": hs, "phienban": 1}),
        );
        let one = pades::sign(&pdf, &gvcn, &ca.cert, at).unwrap();
        let two = pades::sign(&one, &head, &ca.cert, at).unwrap();
        let line = |bytes: &[u8], stage: Stage, role: &str| {
            let (cert_sha256, signature_sha256) = pades::newest_signature_ids(bytes).unwrap();
            let e = RegisterEntry {
                class: "2026-9a1".into(),
                student: hs.into(),
                version: 1,
                stage,
                signer_role: role.into(),
                cert_sha256,
                signature_sha256,
            };
            let k = format!("2026-9a1/{hs}/0001/{}", stage as u8 + 1);
            ("hocba_signature", k, serde_json::to_value(e).unwrap())
        };
        let lines = vec![
            line(&one, Stage::Gvcn, "Giáo viên chủ nhiệm"),
            line(&two, Stage::Principal, "Hiệu trưởng"),
        ];
        (two, lines)
    };
    let (before, mut records) = hocba(&first, "hs-1", renewed - day(3));
    let (after, more) = hocba(&second, "hs-2", now);
    records.extend(more);
    // Made with a copy of the old CA key after the renewal; its lines are relayed too, so the
    // cut-off alone must catch it.
    let (minted, more) = hocba(&first, "hs-3", renewed + day(1));
    records.extend(more);
    let (_, secret) = hub.relay_made_up(code, &records);
    let send = |cas: &[&signing::SigningCa]| {
        let pem: String = cas
            .iter()
            .map(|c| der::EncodePem::to_pem(&c.cert, der::pem::LineEnding::LF).unwrap())
            .collect();
        let r = reqwest::blocking::Client::new()
            .put(format!("{}/relay/v1/signing-ca/{code}", hub.base()))
            .header("authorization", format!("Bearer {secret}"))
            .body(pem)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
    };
    // Before the renewal the box sent its one CA; after it, the new one first, then the old.
    send(&[&first]);
    send(&[&second, &first]);

    let (rc, text) = hub_verify(&hub, hub.dir.path(), "before.pdf", &before);
    assert_eq!(rc, 0, "{text}");
    assert!(text.ends_with("=> VALID\n"), "{text}");
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "after.pdf", &after);
    assert_eq!(rc, 0, "{text}");
    assert!(text.ends_with("=> VALID\n"), "{text}");
    let (rc, text) = hub_verify(&hub, hub.dir.path(), "minted.pdf", &minted);
    assert_eq!(rc, 3, "{text}");
    let cut = tram::gradebook::hocba::local_time_seconds(
        jiff::Timestamp::from_second(renewed.as_second()).unwrap(),
    );
    assert!(
        text.contains(&format!(
            "{}{cut} Vietnam time",
            tram::gradebook::hocba::RETIRED_CA
        )) && text.ends_with("=> INVALID\n"),
        "{text}"
    );
}

/// Issue 23: the hub's reports added up every school year's results when no year was asked.
/// Each report is of one school year — the one asked, else the newest with data —, the page
/// says which, and the downloads carry it in their names.
#[test]
fn every_report_counts_one_school_year_the_newest_unless_asked() {
    let hub = Hub::temp();
    // Last year's 6A1 (two students, Toán 9) and this year's 7A1 (one student, Toán 4).
    let mut records = vec![
        (
            "class",
            "2025-6a1".to_string(),
            json!({"id": "2025-6a1", "name": "6A1", "grade": 6, "year": "2025-2026"}),
        ),
        (
            "class",
            "2026-7a1".to_string(),
            json!({"id": "2026-7a1", "name": "7A1", "grade": 7, "year": "2026-2027"}),
        ),
    ];
    for (class, grade, n, score) in [
        ("2025-6a1", 6, 1, "9"),
        ("2025-6a1", 6, 2, "9.5"),
        ("2026-7a1", 7, 3, "4"),
    ] {
        records.push(student(class, n));
        records.push((
            "result",
            format!("{class}/1/hs-{n}"),
            result(
                class,
                grade,
                n,
                "1",
                json!({"mahocluc": 1, "mahanhkiem": 1, "diemmon": {"toan": score}}),
            ),
        ));
    }
    hub.relay_made_up("79000701", &records);
    let staff = hub.staff();
    let b = hub.base();
    let lines = |csv: &str| -> Vec<String> { csv.lines().skip(1).map(str::to_string).collect() };
    let file_name = |r: &reqwest::blocking::Response| {
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string()
    };

    // No year asked: this year's only.
    let page = get(&staff, format!("{b}/district")).text().unwrap();
    assert!(
        page.contains("id=\"year-shown\"") && page.contains("Số liệu năm học 2026-2027"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"2026-2027\" selected>")
            && page.contains("<option value=\"2025-2026\">"),
        "the form shows the year counted and offers the other"
    );
    assert!(page.contains("/district/district.xlsx?year=2026-2027"));
    let r = get(&staff, format!("{b}/district/reports/ket-qua.csv"));
    assert!(file_name(&r).contains("ket-qua-2026-2027.csv"), "{r:?}");
    let kq = lines(&r.text().unwrap());
    assert!(
        kq.iter().all(|l| l.contains(",7,")) && kq.iter().any(|l| l.contains(",7,Học kì I,1,1,")),
        "grade 7's one student only: {kq:?}"
    );
    let si_so = lines(
        &get(&staff, format!("{b}/district/reports/si-so.csv"))
            .text()
            .unwrap(),
    );
    assert!(
        si_so.iter().all(|l| l.contains(",7,1")) && !si_so.is_empty(),
        "{si_so:?}"
    );
    // Toán: this year's 4 (3,5–4,9), not last year's 9 and 9.5 (8–10).
    let mon = lines(
        &get(&staff, format!("{b}/district/reports/mon-hoc.csv"))
            .text()
            .unwrap(),
    );
    assert_eq!(mon.len(), 1, "{mon:?}");
    assert!(mon[0].contains(",0,0,0,1,0,"), "{mon:?}");
    let r = get(&staff, format!("{b}/district/district.xlsx"));
    assert!(file_name(&r).contains("phong-gd-2026-2027.xlsx"), "{r:?}");
    let s = sheets(&r.bytes().unwrap());
    let ss = sheet(&s, "Sĩ số theo khối");
    assert_eq!(row_of(ss, &["Toàn huyện", "7"])[2], "1");
    assert!(
        !ss.iter().any(|r| r.get(1).is_some_and(|g| g == "6")),
        "{ss:?}"
    );

    // Last year asked: its two students, and its name on the files.
    let page = get(&staff, format!("{b}/district?year=2025-2026"))
        .text()
        .unwrap();
    assert!(page.contains("Số liệu năm học 2025-2026"), "{page}");
    let r = get(
        &staff,
        format!("{b}/district/reports/ket-qua.csv?year=2025-2026"),
    );
    assert!(file_name(&r).contains("ket-qua-2025-2026.csv"), "{r:?}");
    let kq = lines(&r.text().unwrap());
    assert!(
        kq.iter().all(|l| l.contains(",6,")) && kq.iter().any(|l| l.contains(",6,Học kì I,2,2,")),
        "{kq:?}"
    );
    let r = get(&staff, format!("{b}/district/district.xlsx?year=2025-2026"));
    assert!(file_name(&r).contains("phong-gd-2025-2026.xlsx"), "{r:?}");
    // A filtered download names its filter, never the whole district's name (review r21 #8).
    let r = get(
        &staff,
        format!("{b}/district/reports/ket-qua.csv?year=2025-2026&term=1&grade=6"),
    );
    assert!(
        file_name(&r).contains("ket-qua-2025-2026-hk1-lop-6.csv"),
        "{r:?}"
    );
    let r = get(&staff, format!("{b}/district/district.xlsx?grade=7"));
    assert!(
        file_name(&r).contains("phong-gd-2026-2027-lop-7.xlsx"),
        "{r:?}"
    );
}

/// Review r18 #10: a bad filter in a bookmarked hub page or download link is answered as a
/// page — the Vietnamese message and the filter form, 400 — not raw JSON; the APIs keep their
/// JSON error.
#[test]
fn a_bad_filter_is_a_page_with_the_form_and_the_api_keeps_its_json() {
    let hub = Hub::temp();
    hub.enrol_made_up("79000701");
    hub.relay_made_up(
        "79000701",
        &[
            (
                "class",
                "2026-6a1".to_string(),
                json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
            ),
            student("2026-6a1", 1),
        ],
    );
    let staff = hub.staff();
    let b = hub.base();
    let page = |url: String| {
        let r = staff
            .get(&url)
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (status, ct, r.text().unwrap())
    };
    for (q, why) in [
        ("year=abc", "ghi dạng 2026-2027"),
        ("year=2026-2028", "ghi dạng 2026-2027"),
        ("term=hk1", "1, 2 hoặc CN (cả năm)"),
        ("grade=13", "từ 1 đến 12"),
        ("school=79999999", "Không có trường mã “79999999”"),
        // A field given twice (review r20 #10): the page and its form, never axum's English.
        (
            "year=2026-2027&year=2027-2028",
            "tham số “year” được ghi hai lần",
        ),
        (
            "school=79000701&school=79000702",
            "tham số “school” được ghi hai lần",
        ),
    ] {
        let (st, ct, body) = page(format!("{b}/district?{q}"));
        assert_eq!(st, 400, "{q}: {body}");
        assert!(ct.starts_with("text/html"), "{q}: {ct}");
        assert!(
            body.contains("id=\"filter-error\"") && body.contains(why),
            "{q}: the message: {body}"
        );
        assert!(
            body.contains("id=\"filters\"") && body.contains("<option value=\"2026-2027\""),
            "{q}: the form to choose again: {body}"
        );
        assert!(
            !body.contains("id=\"year-shown\""),
            "{q}: no figures: {body}"
        );
        // A download link edited the same way: the reason as a page for the browser…
        for path in [
            "district/reports/ket-qua.csv",
            "district/district.xlsx",
            "district/csdl.xlsx",
            "district/csdl/hocsinh.csv",
        ] {
            let (st, ct, body) = page(format!("{b}/{path}?{q}"));
            assert_eq!(st, 400, "{path}?{q}: {body}");
            assert!(
                ct.starts_with("text/html") && body.contains(why),
                "{path}?{q}: {ct} {body}"
            );
            // The staff page itself, with its menu and the form to choose again (review r24
            // #9: a bare message with no way on).
            assert!(
                body.contains("id=\"filters\"") && body.contains("href=\"/district\""),
                "{path}?{q}: the page's form and menu: {body}"
            );
            // …and the JSON error for a client that does not ask for a page.
            let r = staff.get(format!("{b}/{path}?{q}")).send().unwrap();
            assert_eq!(r.status(), 400, "{path}?{q}");
            let e: Value = r.json().unwrap();
            assert_eq!(e["error"]["code"], "bad_filter", "{path}?{q}: {e}");
        }
    }
    // The statistics API refuses the same filters in the same words, as JSON (review r20 #5).
    for (q, why) in [
        ("year=abc", "ghi dạng 2026-2027"),
        ("grade=13", "từ 1 đến 12"),
        ("term=hk1", "1, 2 hoặc CN (cả năm)"),
        ("school=79999999", "Không có trường mã “79999999”"),
    ] {
        let r = staff
            .get(format!("{b}/district/api/stats?{q}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "stats?{q}");
        let e: Value = r.json().unwrap();
        assert_eq!(e["error"]["code"], "bad_filter", "stats?{q}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(why),
            "stats?{q}: {e}"
        );
    }
    // The known school still filters.
    let (st, _, body) = page(format!("{b}/district?school=79000701"));
    assert_eq!(st, 200, "{body}");
    // A well-formed year without data (review r20 #10): chosen in the form, so *Lọc* stays on
    // it, and the page says there is nothing of it; the years with data still offered.
    let (st, _, body) = page(format!("{b}/district?year=1999-2000"));
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("<option value=\"1999-2000\" selected>")
            && body.contains("<option value=\"2026-2027\">")
            && body.contains("id=\"no-data\"")
            && body.contains("Chưa có số liệu của năm học 1999-2000"),
        "{body}"
    );
    let (_, _, body) = page(format!("{b}/district?year=2026-2027"));
    assert!(
        body.contains("<option value=\"2026-2027\" selected>") && !body.contains("id=\"no-data\""),
        "{body}"
    );
    let st: Value = staff
        .get(format!("{b}/district/api/stats?year=1999-2000"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(st["year"], "1999-2000", "{st}");
    assert_eq!(st["enrolment"], json!({}), "{st}");
}

/// A CSV file's rows (quoted fields as the hub writes them), the BOM dropped.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.trim_start_matches('\u{feff}').lines() {
        let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => row.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Review r20 #5, #8: after a demo school relays, the hub's `/district/api/stats` counts one
/// school year as its reports do — the sĩ số CSV (leavers not enrolled) and the lesson-plan
/// report of that year, not a draft dated next year —, and the hub's lesson-plan counts of
/// each month equal the box's dashboard of that month, each saying the rule.
#[test]
fn the_hubs_stats_and_month_counts_agree_with_its_reports_and_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::temp();
    let school = hub.relayed_demo_school(dir.path());
    let year = common::demo_year();
    let start: i32 = year[..4].parse().unwrap();
    // A draft dated next August: next year's, in no figure of this year.
    let gv = school.login("gv01");
    let subjects: Value = get(&gv, format!("{}/api/v1/subjects", school.base()))
        .json()
        .unwrap();
    let khtn = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Khoa học tự nhiên")
        .unwrap_or_else(|| panic!("{subjects}"))["id"]
        .clone();
    let sent = common::status(dir.path())["batches_sent"]
        .as_u64()
        .unwrap_or(0);
    let r = gv
        .post(format!("{}/api/v1/lessons/plans", school.base()))
        .json(
            &json!({"title": "Bài N. Năm học sau", "subject": khtn, "grade": 6,
                      "periods": 1, "teach_on": format!("{}-08-15", start + 1)}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let st = common::status(dir.path());
        if st["queued"] == 0 && st["batches_sent"].as_u64().unwrap_or(0) > sent {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the draft was not relayed: {st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    let staff = hub.staff();
    let b = hub.base();
    let stats: Value = get(&staff, format!("{b}/district/api/stats"))
        .json()
        .unwrap();
    assert_eq!(stats["year"], year.as_str(), "{stats}");
    let si_so = csv_rows(
        &get(
            &staff,
            format!("{b}/district/reports/si-so.csv?year={year}"),
        )
        .text()
        .unwrap(),
    );
    let mut enrolled = serde_json::Map::new();
    for row in si_so.iter().skip(1).filter(|r| r[0] != "Toàn huyện") {
        enrolled.insert(row[1].clone(), json!(row[2].parse::<u64>().unwrap()));
    }
    assert_eq!(
        stats["enrolment"]["79000701"],
        Value::Object(enrolled),
        "sĩ số as the CSV says, leavers not counted: {stats} {si_so:?}"
    );
    let ke_hoach_csv = get(&staff, format!("{b}/district/reports/ke-hoach.csv"))
        .text()
        .unwrap();
    assert!(
        csv_rows(&ke_hoach_csv).iter().all(|r| r.len() == 7),
        "every line of the CSV is a row of the table (its rule is on the page and the xlsx): {ke_hoach_csv}"
    );
    // The report's rows: (school, month, plans, handed in, approved, …).
    let ke_hoach: Vec<Vec<String>> = csv_rows(&ke_hoach_csv)
        .into_iter()
        .skip(1)
        .filter(|r| r.len() == 7)
        .collect();
    assert!(!ke_hoach.is_empty(), "{ke_hoach_csv}");
    let n = |s: &str| s.parse::<u64>().unwrap();
    let sum = ke_hoach.iter().fold([0u64; 3], |a, r| {
        [a[0] + n(&r[2]), a[1] + n(&r[3]), a[2] + n(&r[4])]
    });
    assert_eq!(
        stats["lesson_plans"]["79000701"],
        json!(sum),
        "the year's plans, as the report counts them (not next year's draft): {stats}"
    );
    let next: Value = get(
        &staff,
        format!("{b}/district/api/stats?year={}-{}", start + 1, start + 2),
    )
    .json()
    .unwrap();
    assert_eq!(next["lesson_plans"]["79000701"][0], 1, "{next}");
    assert_eq!(next["enrolment"], json!({}), "{next}");

    // Each month of the year: the box's dashboard (the principal's) and the hub's row agree.
    let principal = school.login("hieutruong");
    let mut compared = 0;
    for i in 0..12 {
        let (y, m) = if i < 5 {
            (start, 8 + i)
        } else {
            (start + 1, i - 4)
        };
        let month = format!("{y}-{m:02}");
        let d: Value = get(
            &principal,
            format!("{}/api/v1/lessons/dashboard?month={month}", school.base()),
        )
        .json()
        .unwrap();
        let box_counts = [
            d["summary"]["plans"].as_u64().unwrap(),
            d["summary"]["handed_in"].as_u64().unwrap(),
            d["summary"]["approved"].as_u64().unwrap(),
        ];
        let totals: Vec<u64> = d["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        // The workflow's columns (the newest version's state) hold each plan once; the
        // approved ones being amended are the summary's approved beyond the column's.
        let amending = d["summary"]["amending"].as_u64().unwrap();
        assert_eq!(totals.iter().sum::<u64>(), box_counts[0], "{month}: {d}");
        assert_eq!(totals[4] + amending, box_counts[2], "{month}: {d}");
        let shown = format!("{m:02}/{y}");
        let hub_counts = ke_hoach
            .iter()
            .find(|r| r[1] == shown)
            .map(|r| [n(&r[2]), n(&r[3]), n(&r[4])])
            .unwrap_or([0; 3]);
        assert_eq!(hub_counts, box_counts, "{month}: hub {ke_hoach:?}, box {d}");
        if box_counts[0] > 0 {
            compared += 1;
        }
    }
    assert!(compared >= 2, "the demo has plans in several months");
    let page = get(
        &principal,
        format!("{}/lessons/dashboard?month={start}-12", school.base()),
    )
    .text()
    .unwrap();
    assert!(
        page.contains("id=\"dash-rule\"")
            && page.contains("Mỗi kế hoạch bài dạy tính một lần, vào tháng của ngày dạy"),
        "the box says the rule: {page}"
    );
    let page = get(&staff, format!("{b}/district")).text().unwrap();
    assert!(
        page.contains("id=\"ke-hoach-rule\"")
            && page.contains("Mỗi kế hoạch bài dạy tính một lần, vào tháng của ngày dạy"),
        "the hub says the rule: {page}"
    );
}
