//! Spreadsheet import and export of students and staff (xlsx with Vietnamese headers).
//! Import is two-phase by design: `plan_*` parses and validates every row and returns the
//! complete list of problems; `apply_*` writes only a plan with no problems, in one transaction.

use calamine::Data;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use super::{CLASSES, STUDENTS, Student, student_by_code, validate_student};
use crate::auth::{self, Role};
use crate::store::{Rx, StoreError, Tx};

pub use super::sheet::MAX_IMPORT_BYTES;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowProblem {
    /// The spreadsheet row number as Excel shows it (1-based); 0 for the whole file.
    pub row: usize,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ImportPlan<T> {
    pub rows: Vec<T>,
    pub problems: Vec<RowProblem>,
    /// Rows that update an existing record rather than add one.
    pub updates: usize,
}

impl<T> ImportPlan<T> {
    /// The plan of a file that could not be read as a table: its one problem, no rows.
    pub(crate) fn unreadable(p: RowProblem) -> Self {
        ImportPlan {
            rows: vec![],
            problems: vec![p],
            updates: 0,
        }
    }

    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && !self.rows.is_empty()
    }
}

pub(crate) fn file_problem(message: String) -> RowProblem {
    RowProblem {
        row: 0,
        field: String::new(),
        message,
    }
}

pub(crate) fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => excel_serial_to_date(dt.as_f64())
            .map(|d| d.to_string())
            .unwrap_or_default(),
        Data::DateTimeIso(s) => s.chars().take(10).collect(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Excel's day serial (1900 system, with its phantom 29 Feb 1900) to a date.
fn excel_serial_to_date(serial: f64) -> Option<jiff::civil::Date> {
    let base = jiff::civil::date(1899, 12, 30);
    base.checked_add(jiff::Span::new().days(serial.floor() as i64))
        .ok()
}

/// The text of a recognised field in one data row ("" when the column or cell is absent).
pub(crate) fn field_text(cols: &HashMap<&'static str, usize>, row: &[Data], field: &str) -> String {
    cols.get(field)
        .and_then(|c| row.get(*c))
        .map(cell_text)
        .unwrap_or_default()
}

/// A row whose recognised columns are all empty (spacer rows between classes) is skipped.
pub(crate) fn row_is_blank(cols: &HashMap<&'static str, usize>, row: &[Data]) -> bool {
    cols.values()
        .all(|c| row.get(*c).is_none_or(|d| cell_text(d).is_empty()))
}

/// The header row's number, the column of each recognised field, and the rows below it.
pub(crate) type Table = (usize, HashMap<&'static str, usize>, Vec<Vec<Data>>);

/// Reads the first worksheet (through the bounded reader, [`super::sheet`]) and finds the
/// header row (schools put titles above it).
pub(crate) fn read_table(
    bytes: &[u8],
    fields: &[(&'static str, &[&str])],
    required: &[&str],
) -> Result<Table, RowProblem> {
    let sheet = super::sheet::read(bytes, |_| 0).map_err(|e| file_problem(e.to_string()))?;
    let (mut rows, first_row) = (sheet.rows, sheet.origin.0 as usize);
    for i in 0..rows.len().min(15) {
        let mut map: HashMap<&'static str, usize> = HashMap::new();
        let mut dup = None;
        for (col, cell) in rows[i].iter().enumerate() {
            let h = crate::text::fold(&cell_text(cell));
            if let Some((field, _)) = fields.iter().find(|(_, names)| names.contains(&h.as_str()))
                && map.insert(field, col).is_some()
            {
                dup = Some(cell_text(cell));
            }
        }
        if required.iter().all(|f| map.contains_key(f)) {
            if let Some(d) = dup {
                return Err(file_problem(format!("Cột \"{d}\" xuất hiện hai lần.")));
            }
            return Ok((first_row + i + 1, map, rows.split_off(i + 1)));
        }
    }
    Err(file_problem(format!(
        "Không tìm thấy dòng tiêu đề. Cần các cột: {}.",
        required.join(", ")
    )))
}

pub const STUDENT_HEADERS: [&str; 6] = [
    "STT",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Mã định danh",
    "Lớp",
];

const STUDENT_FIELDS: &[(&str, &[&str])] = &[
    (
        "ho_ten",
        &[
            "ho va ten",
            "ho ten",
            "ho ten hoc sinh",
            "ho va ten hoc sinh",
        ],
    ),
    ("ngay_sinh", &["ngay sinh", "ngay thang nam sinh"]),
    ("gioi_tinh", &["gioi tinh"]),
    (
        "ma_dinh_danh",
        &[
            "ma dinh danh",
            "so dinh danh",
            "ma dinh danh ca nhan",
            "so dinh danh ca nhan",
            "cccd",
        ],
    ),
    ("lop", &["lop"]),
];

/// Parses and validates a student list against the database. Nothing is written.
pub fn plan_students(rx: &Rx, year: &str, bytes: &[u8]) -> Result<ImportPlan<Student>, StoreError> {
    let (header_row, cols, rows) = match read_table(
        bytes,
        STUDENT_FIELDS,
        &["ho_ten", "ngay_sinh", "gioi_tinh", "ma_dinh_danh", "lop"],
    ) {
        Ok(t) => t,
        Err(p) => {
            return Ok(ImportPlan::unreadable(p));
        }
    };
    let classes: HashMap<String, String> = rx
        .scan(&CLASSES, "")?
        .into_iter()
        .filter(|(_, c)| c.year == year)
        .map(|(_, c)| (crate::text::fold(&c.name), c.id))
        .collect();
    let mut plan = ImportPlan {
        rows: vec![],
        problems: vec![],
        updates: 0,
    };
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let excel_row = header_row + i + 1;
        if row_is_blank(&cols, row) {
            continue;
        }
        let get = |f: &str| field_text(&cols, row, f);
        let mut ma = get("ma_dinh_danh");
        // Excel drops leading zeros when the column was typed as a number.
        if !ma.is_empty() && ma.len() < 12 && ma.bytes().all(|b| b.is_ascii_digit()) {
            ma = format!("{ma:0>12}");
        }
        let mut problems = Vec::new();
        let class_name = get("lop");
        let class_id = classes.get(&crate::text::fold(&class_name)).cloned();
        if class_id.is_none() {
            problems.push((
                "lop",
                format!("Không có lớp \"{class_name}\" trong năm học {year}."),
            ));
        }
        let valid = validate_student(&get("ho_ten"), &get("ngay_sinh"), &get("gioi_tinh"), &ma);
        if let Err(e) = &valid {
            problems.extend(e.iter().cloned());
        }
        if !ma.is_empty() && !seen.insert(ma.clone()) {
            problems.push((
                "ma_dinh_danh",
                format!("Mã định danh {ma} lặp lại trong tệp."),
            ));
        }
        if !problems.is_empty() {
            plan.problems
                .extend(problems.into_iter().map(|(f, m)| RowProblem {
                    row: excel_row,
                    field: f.into(),
                    message: m,
                }));
            continue;
        }
        let (full_name, dob, gender, ma) = valid.expect("checked above");
        // An existing student is found by the mã định danh; a new one gets its opaque id when
        // the plan is applied (which looks the number up again).
        let id = match student_by_code(rx, &ma)? {
            Some(id) => {
                plan.updates += 1;
                id
            }
            None => String::new(),
        };
        plan.rows.push(Student {
            id,
            full_name,
            dob,
            gender,
            ma_dinh_danh: ma,
            class_id: class_id.expect("checked above"),
        });
    }
    if plan.rows.is_empty() && plan.problems.is_empty() {
        plan.problems
            .push(file_problem("Tệp không có dòng dữ liệu nào.".into()));
    }
    Ok(plan)
}

pub fn apply_students(tx: &mut Tx<'_>, rows: &[Student]) -> Result<usize, super::SchoolError> {
    for s in rows {
        let mut s = s.clone();
        match student_by_code(tx, &s.ma_dinh_danh)? {
            Some(id) => {
                s.id = id;
                super::save_student(tx, s, "student.update")?;
            }
            None => {
                s.id = String::new();
                super::add_student(tx, s)?;
            }
        }
    }
    Ok(rows.len())
}

pub fn export_students(rx: &Rx) -> Result<Vec<u8>, anyhow::Error> {
    let classes: HashMap<String, super::Class> = rx.scan(&CLASSES, "")?.into_iter().collect();
    let mut students = super::list(rx, &STUDENTS)?;
    students.sort_by(|a, b| {
        let ca = classes.get(&a.class_id).map(|c| (c.grade, c.name.clone()));
        let cb = classes.get(&b.class_id).map(|c| (c.grade, c.name.clone()));
        ca.cmp(&cb)
            .then_with(|| super::vietnamese_name_order(&a.full_name, &b.full_name))
    });
    let rows: Vec<Vec<String>> = students
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dob = s
                .dob
                .parse::<jiff::civil::Date>()
                .map(|d| d.strftime("%d/%m/%Y").to_string())
                .unwrap_or_default();
            vec![
                (i + 1).to_string(),
                s.full_name.clone(),
                dob,
                s.gender.clone(),
                s.ma_dinh_danh.clone(),
                classes
                    .get(&s.class_id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    write_xlsx("Học sinh", &STUDENT_HEADERS, &rows)
}

pub const STAFF_HEADERS: [&str; 4] = ["Tên đăng nhập", "Họ và tên", "Vai trò", "Tổ"];

const STAFF_FIELDS: &[(&str, &[&str])] = &[
    ("username", &["ten dang nhap", "tai khoan"]),
    ("ho_ten", &["ho va ten", "ho ten"]),
    ("vai_tro", &["vai tro", "chuc vu"]),
    ("to", &["to", "to chuyen mon"]),
];

#[derive(Debug, Clone, Serialize)]
pub struct StaffRow {
    pub username: String,
    pub full_name: String,
    pub roles: Vec<Role>,
    pub department: Option<String>,
}

pub fn plan_staff(rx: &Rx, bytes: &[u8]) -> Result<ImportPlan<StaffRow>, StoreError> {
    let (header_row, cols, rows) =
        match read_table(bytes, STAFF_FIELDS, &["username", "ho_ten", "vai_tro"]) {
            Ok(t) => t,
            Err(p) => {
                return Ok(ImportPlan::unreadable(p));
            }
        };
    let depts: HashMap<String, String> = rx
        .scan(&super::DEPARTMENTS, "")?
        .into_iter()
        .flat_map(|(_, d)| {
            [
                (crate::text::fold(&d.name), d.id.clone()),
                (d.id.clone(), d.id),
            ]
        })
        .collect();
    let mut plan = ImportPlan {
        rows: vec![],
        problems: vec![],
        updates: 0,
    };
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let excel_row = header_row + i + 1;
        if row_is_blank(&cols, row) {
            continue;
        }
        let get = |f: &str| field_text(&cols, row, f);
        let mut problems: Vec<(&str, String)> = Vec::new();
        let username = get("username").to_lowercase();
        if !auth::valid_username(&username) {
            problems.push((
                "username",
                auth::AuthError::BadUsername(username.clone()).to_string(),
            ));
        } else if !seen.insert(username.clone()) {
            problems.push((
                "username",
                format!("Tên đăng nhập \"{username}\" lặp lại trong tệp."),
            ));
        }
        let full_name = crate::text::nfc(get("ho_ten").trim());
        if full_name.is_empty() {
            problems.push(("ho_ten", "Họ và tên không được để trống.".into()));
        }
        let mut roles = Vec::new();
        for r in get("vai_tro")
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match Role::parse(r) {
                Some(role) => roles.push(role),
                None => problems.push(("vai_tro", format!("Vai trò không hợp lệ: \"{r}\". Dùng: Giáo viên, Tổ trưởng, Hiệu trưởng, Phó hiệu trưởng, Quản trị (IT)."))),
            }
        }
        if roles.is_empty() && !problems.iter().any(|(f, _)| *f == "vai_tro") {
            problems.push(("vai_tro", "Cần ít nhất một vai trò.".into()));
        }
        let dept_name = get("to");
        let department = if dept_name.is_empty() {
            None
        } else {
            match depts.get(&crate::text::fold(&dept_name)) {
                Some(id) => Some(id.clone()),
                None => {
                    problems.push(("to", format!("Không có tổ \"{dept_name}\".")));
                    None
                }
            }
        };
        if !problems.is_empty() {
            plan.problems
                .extend(problems.into_iter().map(|(f, m)| RowProblem {
                    row: excel_row,
                    field: f.into(),
                    message: m,
                }));
            continue;
        }
        if auth::find_by_username(rx, &username)?.is_some() {
            plan.updates += 1;
        }
        plan.rows.push(StaffRow {
            username,
            full_name,
            roles,
            department,
        });
    }
    if plan.rows.is_empty() && plan.problems.is_empty() {
        plan.problems
            .push(file_problem("Tệp không có dòng dữ liệu nào.".into()));
    }
    Ok(plan)
}

/// Creates new accounts (each with its own temporary password, returned once) and updates the
/// name, roles and department of existing ones.
pub fn apply_staff(
    tx: &mut Tx<'_>,
    rows: &[StaffRow],
    temp_password: impl Fn() -> (String, String),
) -> Result<Vec<(String, String)>, auth::AuthError> {
    let mut issued = Vec::new();
    for r in rows {
        let id = auth::account_id_for(&r.username);
        if let Some(mut a) = tx.get(&auth::ACCOUNTS, &id)? {
            a.full_name = r.full_name.clone();
            a.roles = r.roles.clone();
            a.department = r.department.clone();
            tx.put(&auth::ACCOUNTS, &id, &a, "account.update")?;
        } else {
            let (plain, phc) = temp_password();
            auth::create_account_tx(
                tx,
                auth::NewAccount {
                    username: r.username.clone(),
                    full_name: r.full_name.clone(),
                    roles: r.roles.clone(),
                    department: r.department.clone(),
                    password_phc: phc,
                    must_change_password: true,
                },
            )?;
            issued.push((r.username.clone(), plain));
        }
    }
    Ok(issued)
}

pub fn export_staff(rx: &Rx) -> Result<Vec<u8>, anyhow::Error> {
    let rows: Vec<Vec<String>> = auth::list_accounts(rx)?
        .into_iter()
        .map(|a| {
            vec![
                a.username,
                a.full_name,
                a.roles
                    .iter()
                    .map(|r| r.label_vi())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.department.unwrap_or_default(),
            ]
        })
        .collect();
    write_xlsx("Cán bộ", &STAFF_HEADERS, &rows)
}

fn write_xlsx(
    sheet: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, anyhow::Error> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, if c == 1 { 28 } else { 16 })?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            // Text cells, so that 12-digit IDs keep their leading zeros.
            ws.write_string((r + 1) as u32, c as u16, v)?;
        }
    }
    Ok(wb.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Actor, Store};

    fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "DANH SÁCH HỌC SINH NĂM HỌC 2026-2027")
            .unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string((r + 2) as u32, c as u16, *v).unwrap();
            }
        }
        wb.save_to_buffer().unwrap()
    }

    fn store_with_class() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.write(&Actor::system(jiff::Timestamp::UNIX_EPOCH), |tx| {
            super::super::create_class(
                tx,
                "2026-2027",
                super::super::NewClass {
                    name: "6A1".into(),
                    grade: 6,
                    homeroom: None,
                },
            )
        })
        .unwrap();
        (d, s)
    }

    #[test]
    fn clean_file_imports_and_round_trips_through_export() {
        let (_d, s) = store_with_class();
        let f = xlsx(&[
            &[
                "STT",
                "Họ và tên",
                "Ngày sinh",
                "Giới tính",
                "Mã định danh",
                "Lớp",
            ],
            &[
                "1",
                "Nguyễn Văn An",
                "05/09/2014",
                "Nam",
                "001214000001",
                "6A1",
            ],
            &[
                "2",
                "Trần Thị Bích",
                "2014-01-20",
                "nữ",
                "1214000002",
                "6a1",
            ],
        ]);
        let plan = plan_students(&s.read().unwrap(), "2026-2027", &f).unwrap();
        assert!(plan.is_clean(), "{:?}", plan.problems);
        assert_eq!(plan.rows[1].ma_dinh_danh, "001214000002");
        assert_eq!(plan.rows[1].gender, "Nữ");
        s.write(&Actor::system(jiff::Timestamp::UNIX_EPOCH), |tx| {
            apply_students(tx, &plan.rows)
        })
        .unwrap();
        let out = export_students(&s.read().unwrap()).unwrap();
        let again = plan_students(&s.read().unwrap(), "2026-2027", &out).unwrap();
        assert!(again.is_clean(), "{:?}", again.problems);
        assert_eq!(again.updates, 2);
        // New students got opaque ids when applied; the second import finds them by number.
        let rx = s.read().unwrap();
        for (a, p) in again.rows.iter().zip(&plan.rows) {
            assert!(p.id.is_empty());
            assert_eq!(
                Some(a.id.clone()),
                super::super::student_by_code(&rx, &a.ma_dinh_danh).unwrap()
            );
            assert!(!a.id.contains(&a.ma_dinh_danh));
            assert_eq!(
                Student {
                    id: String::new(),
                    ..a.clone()
                },
                *p
            );
        }
    }

    #[test]
    fn every_bad_row_is_listed_with_its_reason() {
        let (_d, s) = store_with_class();
        let f = xlsx(&[
            &["Họ tên", "Ngày sinh", "Giới tính", "Mã định danh", "Lớp"],
            &["Nguyễn Văn An", "31/02/2014", "Nam", "001214000001", "6A1"],
            &["", "01/01/2014", "Nam", "001214000003", "6A9"],
            &["Lê Văn C", "01/01/2014", "X", "001214000001", "6A1"],
        ]);
        let plan = plan_students(&s.read().unwrap(), "2026-2027", &f).unwrap();
        assert!(!plan.is_clean());
        let got: Vec<(usize, &str)> = plan
            .problems
            .iter()
            .map(|p| (p.row, p.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (4, "ngay_sinh"),
                (5, "lop"),
                (5, "ho_ten"),
                (6, "gioi_tinh"),
                (6, "ma_dinh_danh")
            ]
        );
    }

    #[test]
    fn garbage_and_headerless_files_are_refused() {
        let (_d, s) = store_with_class();
        let p = plan_students(
            &s.read().unwrap(),
            "2026-2027",
            b"MZ\x90\x00 not a spreadsheet",
        )
        .unwrap();
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].row, 0);
        let f = xlsx(&[&["a", "b"], &["1", "2"]]);
        let p = plan_students(&s.read().unwrap(), "2026-2027", &f).unwrap();
        assert!(p.problems[0].message.contains("tiêu đề"));
        let f = xlsx(&[&[
            "Họ tên",
            "Ngày sinh",
            "Giới tính",
            "Mã định danh",
            "Lớp",
            "Lớp",
        ]]);
        let p = plan_students(&s.read().unwrap(), "2026-2027", &f).unwrap();
        assert!(
            p.problems[0].message.contains("hai lần"),
            "{:?}",
            p.problems
        );
    }
}

#[cfg(test)]
mod damaged_files {
    /// A mutated .xlsx on which calamine 0.30 panics (found by the spreadsheet_import fuzz
    /// target): the importer answers with a message.
    #[test]
    fn a_file_that_makes_the_reader_panic_is_a_message() {
        let bytes = include_bytes!("../../../fuzz/corpus/spreadsheet_import/calamine-panic.xlsx");
        let r = super::read_table(bytes, &[("name", &["ho va ten"])], &["name"]);
        let e = r.expect_err("refused");
        assert!(
            format!("{e:?}").contains("hỏng") || format!("{e:?}").contains("Không đọc được"),
            "{e:?}"
        );
    }
}
