//! The sector-database export (CSDL ngành, QĐ 4998; DOMAIN.md §5.3): students and their
//! results in the database's own field layout — `hocsinh`, `ketquahoctap` (mahocluc,
//! mahanhkiem, madanhhieu, colenlop) and `diemmon` (mamonhoc, diem) — so nothing the schools
//! entered is typed twice. The hub exports every school's relayed records; a school box
//! exports its own, read from its tables in the same relayed form, through the same code.
//!
//! The code lists DOMAIN.md marks unconfirmed live in `csdl-codes.toml` (compiled in, each
//! list's provenance written there), replaced by `DATA_DIR/csdl-codes.toml` when present.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::reports::{Cell, Table};

/// The default code lists (see the file's header for sources).
pub const DEFAULT_CODES: &str = include_str!("csdl-codes.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectCode {
    pub ten: String,
    pub mamonhoc: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    /// Subject id (the school's slug of the name) → name and code.
    pub mon: BTreeMap<String, SubjectCode>,
    /// The award's words → madanhhieu.
    #[serde(default)]
    pub danhhieu: BTreeMap<String, String>,
    /// TT27 year result (HTXS, HTT, HT, CHT) → its code.
    #[serde(default)]
    pub ketqua: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CodesError {
    #[error("{path}: {why}")]
    Bad { path: String, why: String },
}

impl Codes {
    /// The district's file in `data_dir` if there is one, else the defaults.
    pub fn load(data_dir: &Path) -> Result<Codes, CodesError> {
        let path = data_dir.join("csdl-codes.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map_err(|why| CodesError::Bad {
                path: path.display().to_string(),
                why,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::defaults()),
            Err(e) => Err(CodesError::Bad {
                path: path.display().to_string(),
                why: e.to_string(),
            }),
        }
    }

    pub fn parse(text: &str) -> Result<Codes, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn defaults() -> Codes {
        Self::parse(DEFAULT_CODES).expect("the compiled-in code lists parse (a unit test checks)")
    }

    /// Subject id → the name pages show.
    pub fn subject_names(&self) -> BTreeMap<String, String> {
        self.mon
            .iter()
            .map(|(id, s)| (id.clone(), s.ten.clone()))
            .collect()
    }
}

/// Relayed records by kind: (school, record), in the form the school relays them.
#[derive(Default)]
pub struct Records {
    pub schools: Vec<(String, serde_json::Value)>,
    pub classes: Vec<(String, serde_json::Value)>,
    pub students: Vec<(String, serde_json::Value)>,
    pub results: Vec<(String, serde_json::Value)>,
}

impl Records {
    /// Everything the hub holds.
    pub fn from_hub(hub: &dyn super::HubStorage) -> Result<Records, super::HubError> {
        let mut r = Records::default();
        for (kind, into) in [
            ("school", &mut r.schools),
            ("class", &mut r.classes),
            ("student", &mut r.students),
            ("result", &mut r.results),
        ] {
            hub.each_record(kind, &mut |school, v| {
                into.push((school.to_string(), v.clone()))
            })?;
        }
        Ok(r)
    }

    /// A school's own tables, as it would relay them (its code names the school).
    pub fn from_school(rx: &impl crate::store::Read) -> Result<Records, crate::store::StoreError> {
        let info = crate::school::school_info(rx)?;
        let code = info.as_ref().map(|i| i.code.clone()).unwrap_or_default();
        let json = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
        let mut r = Records::default();
        if let Some(i) = info {
            r.schools
                .push((code.clone(), json(serde_json::to_value(i))));
        }
        for (_, c) in rx.scan(&crate::school::CLASSES, "")? {
            r.classes
                .push((code.clone(), json(serde_json::to_value(c))));
        }
        for (_, s) in rx.scan(&crate::school::STUDENTS, "")? {
            r.students
                .push((code.clone(), json(serde_json::to_value(s))));
        }
        for (_, x) in rx.scan(&crate::gradebook::RESULTS, "")? {
            r.results
                .push((code.clone(), json(serde_json::to_value(x))));
        }
        Ok(r)
    }
}

/// The school-level group (manhomcaphoc): 02 tiểu học, 03 THCS, 04 THPT — by the grade, so a
/// TH&THCS school's rows each get their own.
fn nhom_cap_hoc(grade: u64) -> &'static str {
    match grade {
        1..=5 => "02",
        6..=9 => "03",
        10..=12 => "04",
        _ => "",
    }
}

/// A student's current status in words: "Đang học", or "Chuyển trường 2026-12-05" /
/// "Thôi học 2026-12-05" from the relayed `left`.
fn status(left: &serde_json::Value) -> String {
    match left["kind"].as_str() {
        None => "Đang học".into(),
        Some("transfer_out") => format!("Chuyển trường {}", s(&left["date"])),
        Some(_) => format!("Thôi học {}", s(&left["date"])),
    }
}

fn s(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        _ => String::new(),
    }
}

/// The three tables of the export for `year` ("2026-2027"; None: every year). A year with no
/// data gives the tables with their headers and no rows.
pub fn export(records: &Records, codes: &Codes, year: Option<&str>) -> Vec<Table> {
    // (school, class id) → (year, grade, name)
    let classes: BTreeMap<(String, String), (String, u64, String)> = records
        .classes
        .iter()
        .filter_map(|(school, c)| {
            Some((
                (school.clone(), c["id"].as_str()?.to_string()),
                (
                    s(&c["year"]),
                    c["grade"].as_u64().unwrap_or(0),
                    s(&c["name"]),
                ),
            ))
        })
        .collect();
    let in_year = |y: &str| year.is_none_or(|want| want == y);

    let mut hocsinh = Table::new(
        "hocsinh",
        "hocsinh",
        vec![
            "namhoc",
            "manhomcaphoc",
            "matruong",
            "makhoi",
            "malop",
            "tenlop",
            "mahocsinh",
            "sodinhdanh",
            "hoten",
            "ngaysinh",
            "gioitinh",
            "matrangthaihientai",
            "malydothoihoc",
        ],
    );
    let mut students: Vec<&(String, serde_json::Value)> = records.students.iter().collect();
    // Two students may share a name: the id breaks the tie, so every source gives one order.
    students.sort_by_key(|(school, st)| {
        (
            school.clone(),
            s(&st["class_id"]),
            s(&st["full_name"]),
            s(&st["id"]),
        )
    });
    for (school, st) in students {
        let class_id = s(&st["class_id"]);
        let Some((y, grade, class_name)) = classes.get(&(school.clone(), class_id.clone())) else {
            continue;
        };
        if !in_year(y) {
            continue;
        }
        hocsinh.rows.push(
            [
                y.clone(),
                nhom_cap_hoc(*grade).into(),
                school.clone(),
                grade.to_string(),
                class_id,
                class_name.clone(),
                s(&st["id"]),
                s(&st["ma_dinh_danh"]),
                s(&st["full_name"]),
                s(&st["dob"]),
                // The schema's 0/1/2 coding is unconfirmed [U]: the words, until the Sở says.
                s(&st["gender"]),
                // matrangthaihientai's codes are unconfirmed too: the words, with the date the
                // student left (the layout has no field of its own for it), so a student who
                // left is listed but not read as enrolled (review r9 #2).
                status(&st["left"]),
                s(&st["left"]["reason"]),
            ]
            .into_iter()
            .map(Cell::Text)
            .collect(),
        );
    }

    let mut ketqua = Table::new(
        "ketquahoctap",
        "ketquahoctap",
        vec![
            "namhoc",
            "manhomcaphoc",
            "matruong",
            "makhoi",
            "malop",
            "mahocsinh",
            "sodinhdanh",
            "hocky",
            "mahocluc",
            "mahanhkiem",
            "madanhhieu",
            "ketquatieuhoc",
            "songaynghi",
            "colenlop",
            "corenluyenlai",
            "phienban",
        ],
    );
    let mut diemmon = Table::new(
        "diemmon",
        "diemmon",
        vec![
            "namhoc",
            "matruong",
            "mahocsinh",
            "sodinhdanh",
            "hocky",
            "mamonhoc",
            "tenmonhoc",
            "diem",
            "mucdanhgia",
        ],
    );
    let mut results: Vec<&(String, serde_json::Value)> = records.results.iter().collect();
    results.sort_by_key(|(school, r)| {
        (
            school.clone(),
            s(&r["malop"]),
            s(&r["mahocsinh"]),
            s(&r["hocky"]),
        )
    });
    for (school, r) in results {
        let y = classes
            .get(&(school.clone(), s(&r["malop"])))
            .map(|c| c.0.clone())
            .unwrap_or_default();
        if !in_year(&y) {
            continue;
        }
        let grade = r["makhoi"].as_u64().unwrap_or(0);
        let code_of = |list: &BTreeMap<String, String>, v: &serde_json::Value| {
            let v = s(v);
            list.get(&v).cloned().unwrap_or(v)
        };
        ketqua.rows.push(
            [
                y.clone(),
                nhom_cap_hoc(grade).into(),
                school.clone(),
                grade.to_string(),
                s(&r["malop"]),
                s(&r["mahocsinh"]),
                s(&r["sodinhdanh"]),
                s(&r["hocky"]),
                s(&r["mahocluc"]),
                s(&r["mahanhkiem"]),
                code_of(&codes.danhhieu, &r["danhhieu"]),
                code_of(&codes.ketqua, &r["ketqua"]),
                s(&r["songaynghi"]),
                s(&r["colenlop"]),
                s(&r["corenluyenlai"]),
                s(&r["phienban"]),
            ]
            .into_iter()
            .map(Cell::Text)
            .collect(),
        );
        if let Some(m) = r["diemmon"].as_object() {
            for (subject, v) in m {
                let v = s(v);
                if v.is_empty() {
                    continue;
                }
                // A score goes in `diem`; a level (Đ/CĐ, T/H/C) in `mucdanhgia`; a primary
                // level with its test score ("T 9") in both.
                let (level, score) = match v.split_once(' ') {
                    Some((l, t)) => (l.to_string(), t.to_string()),
                    None if v.parse::<f64>().is_ok() => (String::new(), v.clone()),
                    None => (v.clone(), String::new()),
                };
                let (name, code) = codes
                    .mon
                    .get(subject)
                    .map(|c| (c.ten.clone(), c.mamonhoc.clone()))
                    .unwrap_or_else(|| (subject.clone(), subject.clone()));
                diemmon.rows.push(
                    [
                        y.clone(),
                        school.clone(),
                        s(&r["mahocsinh"]),
                        s(&r["sodinhdanh"]),
                        s(&r["hocky"]),
                        code,
                        name,
                        score,
                        level,
                    ]
                    .into_iter()
                    .map(Cell::Text)
                    .collect(),
                );
            }
        }
    }
    vec![hocsinh, ketqua, diemmon]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_codes_parse_and_each_subject_id_is_its_names_slug() {
        let c = Codes::defaults();
        assert!(c.mon.len() >= 15);
        for (id, s) in &c.mon {
            assert_eq!(&crate::school::slug(&s.ten), id, "{}", s.ten);
        }
        assert!(Codes::parse("[mon.toan]\nten = \"Toán\"\nmamonhoc = \"T\"\nbad = 1\n").is_err());
    }

    #[test]
    fn a_year_without_data_gives_headers_only() {
        let mut r = Records::default();
        r.classes.push((
            "79000701".into(),
            serde_json::json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
        ));
        r.results.push((
            "79000701".into(),
            serde_json::json!({"malop": "2026-6a1", "makhoi": 6, "hocky": "1",
                "diemmon": {"toan": "8.5", "giao-duc-the-chat": "Đ"}, "mahocluc": 1}),
        ));
        let t = export(&r, &Codes::defaults(), Some("2026-2027"));
        assert_eq!(t[1].rows.len(), 1);
        assert_eq!(t[2].rows.len(), 2);
        let empty = export(&r, &Codes::defaults(), Some("2020-2021"));
        assert!(empty.iter().all(|t| t.rows.is_empty()));
        assert!(
            empty[1]
                .csv()
                .starts_with("\u{feff}namhoc,manhomcaphoc,matruong")
        );
    }
}
