//! The sector-database export (CSDL ngành, QĐ 4998; DOMAIN.md §5.3): students and their
//! results in the database's own field layout — `hocsinh`, `ketquahoctap` (mahocluc,
//! mahanhkiem, madanhhieu, colenlop) and `diemmon` (mamonhoc, diem) — so nothing the schools
//! entered is typed twice. The hub exports every school's relayed records; a school box
//! exports its own, read from its tables in the same relayed form, through the same code.
//!
//! The code lists DOMAIN.md marks unconfirmed live in `csdl-codes.toml` (compiled in, each
//! list's provenance written there), replaced by `DATA_DIR/csdl-codes.toml` when present.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Deserialize;

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

/// One school's relayed records of the kinds the export reads, in the form the school relays
/// them. The export holds one school's at a time, so a province's millions of records never
/// sit in memory together.
#[derive(Default)]
pub struct SchoolRecords {
    /// The school's code (mã trường).
    pub code: String,
    pub classes: Vec<serde_json::Value>,
    pub students: Vec<serde_json::Value>,
    pub results: Vec<serde_json::Value>,
}

impl SchoolRecords {
    /// What the hub holds for `school` (a key range on both storages).
    pub fn from_hub(
        hub: &dyn super::HubStorage,
        school: &str,
    ) -> Result<SchoolRecords, super::HubError> {
        let mut r = SchoolRecords {
            code: school.to_string(),
            ..Default::default()
        };
        for (kind, into) in [
            ("class", &mut r.classes),
            ("student", &mut r.students),
            ("result", &mut r.results),
        ] {
            hub.each_record_of(school, kind, &mut |v| into.push(v.clone()))?;
        }
        Ok(r)
    }

    /// A school's own tables, as it would relay them (its code names the school).
    pub fn from_school(
        rx: &impl crate::store::Read,
    ) -> Result<SchoolRecords, crate::store::StoreError> {
        let info = crate::school::school_info(rx)?;
        let json = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
        let mut r = SchoolRecords {
            code: info.map(|i| i.code).unwrap_or_default(),
            ..Default::default()
        };
        for (_, c) in rx.scan(&crate::school::CLASSES, "")? {
            r.classes.push(json(serde_json::to_value(c)));
        }
        for (_, s) in rx.scan(&crate::school::STUDENTS, "")? {
            r.students.push(json(serde_json::to_value(s)));
        }
        for (_, x) in rx.scan(&crate::gradebook::RESULTS, "")? {
            r.results.push(json(serde_json::to_value(x)));
        }
        Ok(r)
    }
}

/// Where an export reads: each school's records in turn, by code.
pub enum Source<'a> {
    /// Every school the hub holds, each read and dropped before the next.
    Hub(&'a dyn super::HubStorage),
    /// A school box's own records.
    School(SchoolRecords),
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Hub(#[from] super::HubError),
    #[error("writing the xlsx file: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// The export's tables: the file name of each one's CSV (and its sheet's name) and its
/// fields, in the sector database's order.
pub const TABLES: [(&str, &[&str]); 3] = [
    (
        "hocsinh",
        &[
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
    ),
    (
        "ketquahoctap",
        &[
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
    ),
    (
        "diemmon",
        &[
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
    ),
];

/// Where the rows go: `table` indexes [`TABLES`].
pub trait Sink {
    fn row(&mut self, table: usize, cells: Vec<String>) -> Result<(), ExportError>;
    /// Whether rows of `table` are kept: those of a table not asked for are never built.
    fn wants(&self, _table: usize) -> bool {
        true
    }
}

/// Writes every row of `source` for `year` ("2026-2027"; None: every year) into `sink`: one
/// school after another by code, each school's rows in a fixed order (class, name, id), so the
/// hub's file and a school's own agree row for row. A year with no data gives no rows.
pub fn write_rows(
    source: Source,
    codes: &Codes,
    year: Option<&str>,
    sink: &mut dyn Sink,
) -> Result<(), ExportError> {
    match source {
        Source::School(r) => school_rows(&r, codes, year, sink),
        Source::Hub(hub) => {
            let mut schools: Vec<String> = hub.schools()?.into_iter().map(|s| s.code).collect();
            schools.sort();
            for code in schools {
                let r = SchoolRecords::from_hub(hub, &code)?;
                school_rows(&r, codes, year, sink)?;
            }
            Ok(())
        }
    }
}

/// The rows of one school's records: the one place a record becomes the sector's fields.
fn school_rows(
    r: &SchoolRecords,
    codes: &Codes,
    year: Option<&str>,
    sink: &mut dyn Sink,
) -> Result<(), ExportError> {
    let school = &r.code;
    // class id → (year, grade, name)
    let classes: BTreeMap<String, (String, u64, String)> = r
        .classes
        .iter()
        .filter_map(|c| {
            Some((
                c["id"].as_str()?.to_string(),
                (
                    s(&c["year"]),
                    c["grade"].as_u64().unwrap_or(0),
                    s(&c["name"]),
                ),
            ))
        })
        .collect();
    let in_year = |y: &str| year.is_none_or(|want| want == y);

    let mut students: Vec<&serde_json::Value> = if sink.wants(0) {
        r.students.iter().collect()
    } else {
        vec![]
    };
    // Two students may share a name: the id breaks the tie, so every source gives one order.
    students.sort_by_cached_key(|st| (s(&st["class_id"]), s(&st["full_name"]), s(&st["id"])));
    for st in students {
        let Some((y, grade, class_name)) = classes.get(&s(&st["class_id"])) else {
            continue;
        };
        if !in_year(y) {
            continue;
        }
        sink.row(
            0,
            vec![
                y.clone(),
                nhom_cap_hoc(*grade).into(),
                school.clone(),
                grade.to_string(),
                // The sector knows a class by its name in the school and year ("6A1") and a
                // student by the mã định danh (csdl-codes.toml's header): Trạm's internal ids
                // mean nothing outside the box.
                class_name.clone(),
                class_name.clone(),
                s(&st["ma_dinh_danh"]),
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
            ],
        )?;
    }

    let (want_results, want_scores) = (sink.wants(1), sink.wants(2));
    let mut results: Vec<&serde_json::Value> = if want_results || want_scores {
        r.results.iter().collect()
    } else {
        vec![]
    };
    results.sort_by_cached_key(|r| (s(&r["malop"]), s(&r["mahocsinh"]), s(&r["hocky"])));
    for r in results {
        let (y, class_name) = classes
            .get(&s(&r["malop"]))
            .map(|c| (c.0.clone(), c.2.clone()))
            .unwrap_or_default();
        if !in_year(&y) {
            continue;
        }
        if want_results {
            result_row(r, &y, &class_name, school, codes, sink)?;
        }
        if !want_scores {
            continue;
        }
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
                    // A subject the list lacks: its id names it, and no code is made up.
                    .unwrap_or_else(|| (subject.clone(), String::new()));
                sink.row(
                    2,
                    vec![
                        y.clone(),
                        school.clone(),
                        s(&r["sodinhdanh"]),
                        s(&r["sodinhdanh"]),
                        s(&r["hocky"]),
                        code,
                        name,
                        score,
                        level,
                    ],
                )?;
            }
        }
    }
    Ok(())
}

/// One stored result's `ketquahoctap` row.
fn result_row(
    r: &serde_json::Value,
    y: &str,
    class_name: &str,
    school: &str,
    codes: &Codes,
    sink: &mut dyn Sink,
) -> Result<(), ExportError> {
    let grade = r["makhoi"].as_u64().unwrap_or(0);
    // Only the code lists' codes go out: a value with no code (an internal word such as
    // "promoted") is left empty, never passed on as if it were a code (review r12 #8).
    let code_of = |list: &BTreeMap<String, String>, v: &serde_json::Value| {
        list.get(&s(v)).cloned().unwrap_or_default()
    };
    // ketquatieuhoc is TT27's result, primary only: a THCS year's decision has its own
    // fields (colenlop, corenluyenlai).
    let ketqua = if (1..=5).contains(&grade) {
        code_of(&codes.ketqua, &r["ketqua"])
    } else {
        String::new()
    };
    sink.row(
        1,
        vec![
            y.to_string(),
            nhom_cap_hoc(grade).into(),
            school.to_string(),
            grade.to_string(),
            class_name.to_string(),
            s(&r["sodinhdanh"]),
            s(&r["sodinhdanh"]),
            s(&r["hocky"]),
            s(&r["mahocluc"]),
            s(&r["mahanhkiem"]),
            code_of(&codes.danhhieu, &r["danhhieu"]),
            ketqua,
            s(&r["songaynghi"]),
            s(&r["colenlop"]),
            s(&r["corenluyenlai"]),
            s(&r["phienban"]),
        ],
    )?;
    Ok(())
}

/// Fields the xlsx writes as numbers when their text is one. Codes and ids stay text even when
/// they are digits: "079200000001" would lose its leading zero.
const NUMERIC: &[&str] = &["diem"];

/// Rows in one sheet, the header's included: Excel's limit.
pub const SHEET_ROWS: u32 = 1_048_576;

/// The xlsx sink: one constant-memory worksheet per table — each row goes to the sheet's
/// temporary file as soon as the next is begun, so memory does not grow with the province —
/// continued on "ketquahoctap (2)", "(3)"… with the same header when a sheet is full.
struct XlsxSink {
    wb: rust_xlsxwriter::Workbook,
    /// Per table: its sheets' places in the workbook, the current one last.
    sheets: Vec<Vec<usize>>,
    /// Per table: rows written to its current sheet, the header's included.
    rows: Vec<u32>,
    limit: u32,
    bold: rust_xlsxwriter::Format,
}

impl XlsxSink {
    fn new(tmp: &Path, limit: u32) -> Result<XlsxSink, ExportError> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        // The sheets' temporary files go where the caller says (the data partition), not to a
        // /tmp that may be memory.
        wb.set_tempdir(tmp)?;
        let mut x = XlsxSink {
            wb,
            sheets: vec![vec![]; TABLES.len()],
            rows: vec![0; TABLES.len()],
            limit: limit.max(2),
            bold: rust_xlsxwriter::Format::new().set_bold(),
        };
        for t in 0..TABLES.len() {
            x.add_sheet(t)?;
        }
        Ok(x)
    }

    /// Begins a sheet for `table` with its header.
    fn add_sheet(&mut self, table: usize) -> Result<(), ExportError> {
        let (id, headers) = TABLES[table];
        let name = match self.sheets[table].len() {
            0 => id.to_string(),
            n => format!("{id} ({})", n + 1),
        };
        self.sheets[table].push(self.wb.worksheets().len());
        let ws = self.wb.add_worksheet_with_constant_memory();
        ws.set_name(name)?;
        for (c, h) in headers.iter().enumerate() {
            // A constant-memory sheet keeps no cells to autofit from: widths by the field.
            let width = match *h {
                "hoten" => 28.0,
                "matrangthaihientai" => 24.0,
                "tenlop" | "tenmonhoc" | "malydothoihoc" => 18.0,
                h => (h.len() as f64 + 2.0).max(10.0),
            };
            ws.set_column_width(c as u16, width)?;
            ws.write_with_format(0, c as u16, *h, &self.bold)?;
        }
        self.rows[table] = 1;
        Ok(())
    }

    /// The workbook with each table's sheets together, in [`TABLES`]' order.
    fn finish(mut self, out: &mut std::fs::File) -> Result<(), ExportError> {
        let mut all: Vec<Option<rust_xlsxwriter::Worksheet>> =
            std::mem::take(self.wb.worksheets_mut())
                .into_iter()
                .map(Some)
                .collect();
        let ordered: Vec<rust_xlsxwriter::Worksheet> = self
            .sheets
            .iter()
            .flatten()
            .filter_map(|&i| all.get_mut(i).and_then(Option::take))
            .collect();
        *self.wb.worksheets_mut() = ordered;
        // A province that fills a sheet makes a file of gigabytes: past 4 GB a zip needs its
        // ZIP64 records, which every reader of xlsx (Excel, LibreOffice, calamine) takes.
        let split = self.sheets.iter().any(|s| s.len() > 1);
        self.wb.use_zip_large_file(split);
        self.wb.save_to_writer(out)?;
        Ok(())
    }
}

impl Sink for XlsxSink {
    fn row(&mut self, table: usize, cells: Vec<String>) -> Result<(), ExportError> {
        if self.rows[table] >= self.limit {
            self.add_sheet(table)?;
        }
        let y = self.rows[table];
        let at = *self.sheets[table].last().unwrap_or(&0);
        let ws = &mut self.wb.worksheets_mut()[at];
        for (c, v) in cells.iter().enumerate() {
            // An empty field is left blank: millions of empty strings would only fill the file.
            if v.is_empty() {
                continue;
            }
            // A score is a number cell, so the sheet sums and sorts it (review r12 #8); only a
            // numeric column's text is read as a number.
            let numeric = TABLES[table].1.get(c).is_some_and(|h| NUMERIC.contains(h));
            match v.parse::<f64>().ok().filter(|n| numeric && n.is_finite()) {
                Some(n) => {
                    ws.write_number(y, c as u16, n)?;
                }
                None => {
                    ws.write(y, c as u16, v)?;
                }
            }
        }
        self.rows[table] += 1;
        Ok(())
    }
}

/// The export as one xlsx workbook written to `out`, a sheet per table, each split every
/// `sheet_rows` rows ([`SHEET_ROWS`] but in tests); `tmp` holds the sheets while they grow.
pub fn write_xlsx(
    source: Source,
    codes: &Codes,
    year: Option<&str>,
    tmp: &Path,
    sheet_rows: u32,
    out: &mut std::fs::File,
) -> Result<(), ExportError> {
    let mut sink = XlsxSink::new(tmp, sheet_rows)?;
    write_rows(source, codes, year, &mut sink)?;
    sink.finish(out)
}

/// One table's CSV (UTF-8 with a BOM, as every report's) written as its rows come.
struct CsvSink<W: Write> {
    table: usize,
    out: W,
}

impl<W: Write> Sink for CsvSink<W> {
    fn row(&mut self, table: usize, cells: Vec<String>) -> Result<(), ExportError> {
        if table == self.table {
            csv_line(&mut self.out, cells.iter().map(String::as_str))?;
        }
        Ok(())
    }
    fn wants(&self, table: usize) -> bool {
        table == self.table
    }
}

fn csv_line<'a>(out: &mut impl Write, cells: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
    let line: Vec<String> = cells.map(super::reports::csv_field).collect();
    out.write_all(line.join(",").as_bytes())?;
    out.write_all(b"\n")
}

/// The table whose CSV is `file` ("ketquahoctap.csv"), if the export has one.
pub fn table_of(file: &str) -> Option<usize> {
    let id = file.strip_suffix(".csv")?;
    TABLES.iter().position(|(t, _)| *t == id)
}

/// One table of the export (see [`table_of`]) as CSV written to `out`.
pub fn write_csv(
    source: Source,
    codes: &Codes,
    year: Option<&str>,
    table: usize,
    out: impl Write,
) -> Result<(), ExportError> {
    let mut sink = CsvSink {
        table,
        out: std::io::BufWriter::new(out),
    };
    sink.out.write_all("\u{feff}".as_bytes())?;
    csv_line(&mut sink.out, TABLES[table].1.iter().copied())?;
    write_rows(source, codes, year, &mut sink)?;
    sink.out.flush()?;
    Ok(())
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

    /// Collects the rows, per table.
    #[derive(Default)]
    struct Rows(Vec<Vec<Vec<String>>>);

    impl Sink for Rows {
        fn row(&mut self, table: usize, cells: Vec<String>) -> Result<(), ExportError> {
            self.0.resize(TABLES.len(), vec![]);
            self.0[table].push(cells);
            Ok(())
        }
    }

    fn school_6a1() -> SchoolRecords {
        SchoolRecords {
            code: "79000701".into(),
            classes: vec![
                serde_json::json!({"id": "2026-6a1", "name": "6A1", "grade": 6, "year": "2026-2027"}),
            ],
            students: vec![],
            results: vec![
                serde_json::json!({"malop": "2026-6a1", "makhoi": 6, "hocky": "1",
                "diemmon": {"toan": "8.5", "giao-duc-the-chat": "Đ"}, "mahocluc": 1}),
            ],
        }
    }

    #[test]
    fn a_year_without_data_gives_headers_only() {
        let mut t = Rows::default();
        let r = Source::School(school_6a1());
        write_rows(r, &Codes::defaults(), Some("2026-2027"), &mut t).unwrap();
        assert_eq!(t.0[1].len(), 1);
        assert_eq!(t.0[2].len(), 2);
        let mut empty = Rows::default();
        let r = Source::School(school_6a1());
        write_rows(r, &Codes::defaults(), Some("2020-2021"), &mut empty).unwrap();
        assert!(empty.0.iter().all(|t| t.is_empty()));
        let mut csv = Vec::new();
        let r = Source::School(school_6a1());
        write_csv(r, &Codes::defaults(), Some("2020-2021"), 1, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.starts_with("\u{feff}namhoc,manhomcaphoc,matruong"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 1, "{csv}");
    }

    /// A sink that wants one table is handed that table's rows only: the others are never
    /// built (a CSV of one table used to build all three and drop two).
    #[test]
    fn one_table_asked_builds_only_its_rows() {
        struct Only(usize, Vec<usize>);
        impl Sink for Only {
            fn row(&mut self, table: usize, _cells: Vec<String>) -> Result<(), ExportError> {
                self.1.push(table);
                Ok(())
            }
            fn wants(&self, table: usize) -> bool {
                table == self.0
            }
        }
        let records = || {
            let mut r = school_6a1();
            r.students
                .push(serde_json::json!({"id": "hs-1", "class_id": "2026-6a1",
                "full_name": "An", "ma_dinh_danh": "079200000001"}));
            r
        };
        for table in 0..TABLES.len() {
            let mut sink = Only(table, vec![]);
            write_rows(
                Source::School(records()),
                &Codes::defaults(),
                None,
                &mut sink,
            )
            .unwrap();
            assert!(!sink.1.is_empty(), "table {table} has rows");
            assert!(sink.1.iter().all(|&t| t == table), "{table}: {:?}", sink.1);
        }
    }

    /// Review r12 #8: a THCS year's internal "promoted" was written as ketquatieuhoc, and
    /// diem was a text cell. Read back: THCS's ketquatieuhoc and any uncoded value are empty,
    /// primary's is its code, and a score is a number cell (a level stays text).
    #[test]
    fn the_xlsx_writes_only_codes_and_scores_as_numbers() {
        let mut school = school_6a1();
        school.classes.push(
            serde_json::json!({"id": "2026-5a1", "name": "5A1", "grade": 5, "year": "2026-2027"}),
        );
        school.results = vec![
            serde_json::json!({"malop": "2026-6a1", "mahocsinh": "hs-a", "sodinhdanh": "079212000001", "makhoi": 6,
                "hocky": "CN", "ketqua": "promoted", "danhhieu": "excellent",
                "diemmon": {"toan": "8.4", "giao-duc-the-chat": "Đ", "mon-la": "7"}}),
            serde_json::json!({"malop": "2026-5a1", "mahocsinh": "hs-b", "sodinhdanh": "079212000002", "makhoi": 5,
                "hocky": "CN", "ketqua": "HT", "diemmon": {"tieng-viet": "T 9"}}),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut f = tempfile::tempfile().unwrap();
        let src = Source::School(school);
        write_xlsx(
            src,
            &Codes::defaults(),
            None,
            dir.path(),
            SHEET_ROWS,
            &mut f,
        )
        .unwrap();
        use calamine::{Data, Reader};
        use std::io::Seek;
        f.rewind().unwrap();
        let mut wb = calamine::Xlsx::new(std::io::BufReader::new(f)).unwrap();
        let kq = wb.worksheet_range("ketquahoctap").unwrap();
        let rows: Vec<&[Data]> = kq.rows().collect();
        let col = |name: &str| TABLES[1].1.iter().position(|h| *h == name).unwrap();
        let of = |id: &str| {
            *rows
                .iter()
                .find(|r| r[col("mahocsinh")] == Data::String(id.into()))
                .unwrap()
        };
        // The sector's identifiers, not Trạm's ids: the mã định danh and the class's name.
        let thcs = of("079212000001");
        assert_eq!(thcs[col("malop")], Data::String("6A1".into()), "{thcs:?}");
        assert_eq!(
            thcs.get(col("ketquatieuhoc")),
            Some(&Data::Empty),
            "{thcs:?}"
        );
        assert_eq!(thcs.get(col("madanhhieu")), Some(&Data::Empty), "{thcs:?}");
        let th = of("079212000002");
        assert_eq!(
            th[col("ketquatieuhoc")],
            Data::String("3".into()),
            "HT's code"
        );
        let dm = wb.worksheet_range("diemmon").unwrap();
        let cells: Vec<(String, Data, Data)> = dm
            .rows()
            .skip(1)
            .map(|r| {
                let at = |i: usize| r.get(i).cloned().unwrap_or(Data::Empty);
                (at(6).to_string(), at(5), at(7))
            })
            .collect();
        let get = |name: &str| cells.iter().find(|c| c.0 == name).unwrap().clone();
        assert_eq!(get("Toán").2, Data::Float(8.4));
        assert_eq!(get("Tiếng Việt").2, Data::Float(9.0));
        assert_eq!(get("Giáo dục thể chất").2, Data::Empty);
        // A subject with no code in the list: no made-up mamonhoc.
        assert_eq!(get("mon-la").1, Data::Empty);
        assert_eq!(get("mon-la").2, Data::Float(7.0));
    }

    /// A sheet that reaches its limit continues on "(2)", "(3)"… with the same header, right
    /// after its first sheet; read back, every row is there once, in order.
    #[test]
    fn a_full_sheet_continues_on_the_next_with_the_same_header() {
        let mut school = school_6a1();
        school.students = (0..23)
            .map(|i| {
                serde_json::json!({"id": format!("hs-{i:02}"), "class_id": "2026-6a1",
                "full_name": format!("Học sinh {i:02}"), "ma_dinh_danh": format!("0792120000{i:02}")})
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut f = tempfile::tempfile().unwrap();
        write_xlsx(
            Source::School(school),
            &Codes::defaults(),
            None,
            dir.path(),
            10,
            &mut f,
        )
        .unwrap();
        use calamine::Reader;
        use std::io::Seek;
        f.rewind().unwrap();
        let mut wb = calamine::Xlsx::new(std::io::BufReader::new(f)).unwrap();
        assert_eq!(
            wb.sheet_names(),
            [
                "hocsinh",
                "hocsinh (2)",
                "hocsinh (3)",
                "ketquahoctap",
                "diemmon"
            ]
        );
        let mut ids = Vec::new();
        for name in ["hocsinh", "hocsinh (2)", "hocsinh (3)"] {
            let range = wb.worksheet_range(name).unwrap();
            let rows: Vec<Vec<String>> = range
                .rows()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect();
            assert_eq!(rows[0], TABLES[0].1, "{name}'s header");
            assert!(rows.len() <= 10, "{name}: {} rows", rows.len());
            ids.extend(rows[1..].iter().map(|r| r[6].clone()));
        }
        // mahocsinh: the mã định danh, not Trạm's id.
        let want: Vec<String> = (0..23).map(|i| format!("0792120000{i:02}")).collect();
        assert_eq!(ids, want, "every student once, in order");
        let dm = wb.worksheet_range("diemmon").unwrap();
        assert_eq!(dm.rows().count(), 3, "the header and two subjects");
    }
}
