//! Gradebook spreadsheets: the class book as xlsx (one summary sheet, one sheet per subject),
//! results as CSV for machines, and score import — from the exported layout or, with a column
//! mapping, from a teacher's own sheet. Import is two-phase like the roll import: `plan_import`
//! reads and validates everything; `apply_import` writes all cells in one transaction or none.

use std::collections::HashMap;

use calamine::Data;
use serde::Serialize;

use super::{ClassBook, GradeError, Mark, Marks, SubjectOutcome, TermId};
use crate::auth::{Action, Principal, permits};
use crate::school::{self, SubjectKind, import::cell_text};
use crate::store::{Read, Tx};

/// The same limit as the roll import.
pub use crate::school::import::MAX_IMPORT_BYTES;

fn column_header(col: &str, term: TermId) -> String {
    let t = if term == TermId::Hk1 { "HKI" } else { "HKII" };
    match col {
        "gk" => format!("GK {t}"),
        "ck" => format!("CK {t}"),
        "kt_gk" => format!("KT GK {t}"),
        "kt_ck" => format!("KT CK {t}"),
        tx => format!("TX{} {t}", &tx[2..]),
    }
}

/// Excel sheet names: at most 31 characters, none of []:*?/\, unique in the workbook.
/// A name too long is its abbreviation (the class PDF's legend: "HĐTNHN"), not a word cut.
fn sheet_name(name: &str, taken: &mut Vec<String>) -> String {
    let clean: String = name.chars().filter(|c| !"[]:*?/\\".contains(*c)).collect();
    let clean: String = if clean.chars().count() > 28 {
        super::pdf::abbreviation(&clean).chars().take(28).collect()
    } else {
        clean
    };
    let mut candidate = clean.clone();
    let mut n = 2;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
        candidate = format!("{clean} {n}");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

/// One exported cell: scores are numbers (a teacher can sum and sort them, and Excel shows
/// the decimal mark of the computer's locale — a comma on a Vietnamese system); the rest text.
enum XCell {
    Text(String),
    /// A mark as typed (8 or 8.5): the general format.
    Mark(f64),
    /// ĐTBmhk or ĐTBmcn: always one decimal ("8,0").
    Average(f64),
}

impl XCell {
    fn outcome(o: super::SubjectOutcome) -> XCell {
        match o {
            super::SubjectOutcome::Done(super::SubjectResult::Scored(t)) => {
                XCell::Average(t.as_f64())
            }
            other => XCell::Text(other.text()),
        }
    }
    fn write(
        &self,
        ws: &mut rust_xlsxwriter::Worksheet,
        r: u32,
        c: u16,
        one_decimal: &rust_xlsxwriter::Format,
    ) -> Result<(), rust_xlsxwriter::XlsxError> {
        match self {
            XCell::Text(v) => ws.write_string(r, c, v).map(|_| ()),
            XCell::Mark(x) => ws.write_number(r, c, *x).map(|_| ()),
            XCell::Average(x) => ws
                .write_number_with_format(r, c, *x, one_decimal)
                .map(|_| ()),
        }
    }
}

/// The class book (sổ theo dõi và đánh giá học sinh theo lớp) as xlsx.
pub fn export_class_book(book: &ClassBook) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let one_decimal = Format::new().set_num_format("0.0");
    let mut taken = vec![];

    let ws = wb.add_worksheet();
    ws.set_name(sheet_name("Tổng hợp", &mut taken))?;
    ws.write_string_with_format(
        0,
        0,
        format!(
            "SỔ THEO DÕI VÀ ĐÁNH GIÁ HỌC SINH — LỚP {} — NĂM HỌC {}",
            book.class.name, book.class.year
        ),
        &bold,
    )?;
    let mut headers: Vec<String> = vec!["STT".into(), "Mã định danh".into(), "Họ và tên".into()];
    headers.extend(book.subjects.iter().map(|s| format!("{} (CN)", s.name)));
    headers.extend(
        [
            "Kết quả học tập HKI",
            "Kết quả rèn luyện HKI",
            "Kết quả học tập HKII",
            "Kết quả rèn luyện HKII",
            "Kết quả học tập CN",
            "Kết quả rèn luyện CN",
            "Nghỉ (buổi)",
            // TT22 Đ13–14: the levels after the summer, so the year's Chưa đạt is never read
            // beside a promotion without them.
            "Sau hè: điểm, mức đánh giá lại",
            "Sau hè: kết quả rèn luyện",
            "Sau hè: kết quả học tập",
            "Kết quả",
            "Danh hiệu",
            "Ghi chú",
        ]
        .map(String::from),
    );
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, h, &bold)?;
    }
    ws.set_column_width(2, 26)?;
    for (i, s) in book.students.iter().enumerate() {
        let r = (i + 3) as u32;
        let y = &book.year[i];
        let mut cells: Vec<XCell> = vec![
            XCell::Mark((i + 1) as f64),
            XCell::Text(s.ma_dinh_danh.clone()),
            XCell::Text(s.full_name.clone()),
        ];
        cells.extend(y.subjects.iter().map(|o| XCell::outcome(*o)));
        // "Đạt*": raised one level for a single subject (Đ9 k3), as the PDF and the page show.
        let lvl = |c: Option<super::Classification>| {
            c.map(|c| {
                let star = if c.adjusted_for.is_some() { "*" } else { "" };
                format!("{}{star}", c.level.label())
            })
            .unwrap_or_default()
        };
        let cd = |c: Option<super::Level>| c.map(|c| c.label().to_string()).unwrap_or_default();
        cells.extend(
            [
                lvl(book.hk1[i].level),
                cd(book.hk1[i].conduct),
                lvl(book.hk2[i].level),
                cd(book.hk2[i].conduct),
                lvl(y.level),
                cd(y.conduct),
            ]
            .map(XCell::Text),
        );
        // Days absent are a number (sums and filters work in Excel), not text.
        cells.push(XCell::Mark(f64::from(y.absences)));
        cells.extend(
            [
                super::forms::reassessed_list(book, i, str::to_string),
                cd(y.after_summer.map(|a| a.conduct)),
                y.after_summer
                    .map(|a| a.level.label().to_string())
                    .unwrap_or_default(),
                y.outcome_label(),
                y.award_label().map(String::from).unwrap_or_default(),
                // Why a title the levels would give is withheld, beside the title, not in it.
                y.award_note().unwrap_or_default(),
            ]
            .map(XCell::Text),
        );
        for (c, v) in cells.iter().enumerate() {
            v.write(ws, r, c as u16, &one_decimal)?;
        }
    }

    for (si, spec) in book.subjects.iter().enumerate() {
        let ws = wb.add_worksheet();
        ws.set_name(sheet_name(&spec.name, &mut taken))?;
        ws.write_string_with_format(
            0,
            0,
            format!(
                "{} — Lớp {} — Năm học {}",
                spec.name, book.class.name, book.class.year
            ),
            &bold,
        )?;
        let mut headers: Vec<String> =
            vec!["STT".into(), "Mã định danh".into(), "Họ và tên".into()];
        for term in TermId::BOTH {
            headers.extend(spec.columns().iter().map(|c| column_header(c, term)));
            headers.push(format!(
                "ĐTB {}",
                if term == TermId::Hk1 { "HKI" } else { "HKII" }
            ));
        }
        headers.push("ĐTB CN".into());
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(2, c as u16, h, &bold)?;
        }
        ws.set_column_width(2, 26)?;
        for (i, s) in book.students.iter().enumerate() {
            let r = (i + 3) as u32;
            let mut cells: Vec<XCell> = vec![
                XCell::Mark((i + 1) as f64),
                XCell::Text(s.ma_dinh_danh.clone()),
                XCell::Text(s.full_name.clone()),
            ];
            // Primary levels and test scores stay text: the import reads them as typed.
            let numbers = spec.kind == SubjectKind::Scored && spec.primary.is_none();
            for term in TermId::BOTH {
                let row = book.row(&spec.id, term, &s.id);
                cells.extend(spec.columns().iter().map(|c| match row.map(|r| r.mark(c)) {
                    Some(Mark::Score(t)) if numbers => XCell::Mark(t.as_f64()),
                    Some(m) => XCell::Text(m.text()),
                    None => XCell::Text(String::new()),
                }));
                cells.push(XCell::outcome(book.term(term)[i].subjects[si]));
            }
            cells.push(XCell::outcome(book.year[i].subjects[si]));
            for (c, v) in cells.iter().enumerate() {
                v.write(ws, r, c as u16, &one_decimal)?;
            }
        }
    }
    wb.save_to_buffer()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One line per student and period (HK1, HK2, CN): UTF-8 with BOM so Excel opens it right.
pub fn results_csv(book: &ClassBook) -> String {
    let mut out = String::from("\u{feff}");
    let mut header = vec!["ma_dinh_danh", "ho_ten", "lop", "hoc_ky"];
    header.extend(book.subjects.iter().map(|s| s.id.as_str()));
    header.extend([
        "hoc_luc",
        "hanh_kiem",
        "so_buoi_nghi",
        "ket_qua",
        "danh_hieu",
    ]);
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for (i, s) in book.students.iter().enumerate() {
        for (period, subjects, level, conduct, absences, outcome, award) in [
            (
                "1",
                &book.hk1[i].subjects,
                book.hk1[i].level,
                book.hk1[i].conduct,
                book.hk1[i].absences,
                None,
                None,
            ),
            (
                "2",
                &book.hk2[i].subjects,
                book.hk2[i].level,
                book.hk2[i].conduct,
                book.hk2[i].absences,
                None,
                None,
            ),
            (
                "CN",
                &book.year[i].subjects,
                book.year[i].level,
                book.year[i].conduct,
                book.year[i].absences,
                book.year[i].final_outcome(),
                book.year[i].award,
            ),
        ] {
            let mut f = vec![
                s.ma_dinh_danh.clone(),
                s.full_name.clone(),
                book.class.name.clone(),
                period.to_string(),
            ];
            f.extend(subjects.iter().map(|o: &SubjectOutcome| match o {
                SubjectOutcome::Done(super::SubjectResult::Scored(t)) => t.to_string(),
                other => other.text(),
            }));
            f.push(
                level
                    .map(|l| l.level.label().to_string())
                    .unwrap_or_default(),
            );
            f.push(conduct.map(|c| c.label().to_string()).unwrap_or_default());
            f.push(absences.to_string());
            f.push(outcome.map(|o| o.code().to_string()).unwrap_or_default());
            f.push(award.map(|a| a.label().to_string()).unwrap_or_default());
            out.push_str(&f.iter().map(|x| csv_field(x)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
    }
    out
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImportProblem {
    /// Row number as Excel shows it; 0 for the whole file.
    pub row: usize,
    pub column: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedCell {
    pub student: String,
    pub name: String,
    pub column: String,
    pub input: String,
    pub expected_version: u64,
    pub changes: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportPlan {
    pub sheet: String,
    pub cells: Vec<PlannedCell>,
    pub problems: Vec<ImportProblem>,
    pub changes: usize,
    /// Not problems: names converted from a legacy font encoding (TCVN3, VNI), original
    /// beside the result, for the teacher to confirm in the preview.
    pub notes: Vec<ImportProblem>,
}

fn problem(row: usize, column: &str, message: impl Into<String>) -> ImportProblem {
    ImportProblem {
        row,
        column: column.into(),
        message: message.into(),
    }
}

/// Column letters ("A", "AB") to a 0-based index.
fn letters_to_index(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    Some(
        s.bytes().fold(0usize, |acc, b| {
            acc * 26 + (b.to_ascii_uppercase() - b'A' + 1) as usize
        }) - 1,
    )
}

/// Header names a teacher's sheet may use for each gradebook column, folded.
fn header_aliases(col: &str, term: TermId) -> Vec<String> {
    let t = if term == TermId::Hk1 { "hki" } else { "hkii" };
    let mut v = vec![crate::text::fold(&column_header(col, term))];
    match col {
        "gk" => v.extend(
            [
                "gk",
                "giua ki",
                "giua ky",
                "ddggk",
                "kiem tra giua ki",
                "giua hoc ki",
            ]
            .map(String::from),
        ),
        "ck" => v.extend(
            [
                "ck",
                "cuoi ki",
                "cuoi ky",
                "ddgck",
                "kiem tra cuoi ki",
                "cuoi hoc ki",
            ]
            .map(String::from),
        ),
        "kt_gk" => v.extend(["kt gk", "diem kiem tra giua ki"].map(String::from)),
        "kt_ck" => v.extend(["kt ck", "diem kiem tra cuoi ki", "diem ktdk"].map(String::from)),
        tx => {
            let n = &tx[2..];
            v.extend([
                format!("tx{n}"),
                format!("tx {n}"),
                format!("ddgtx{n}"),
                format!("ddgtx {n}"),
                format!("thuong xuyen {n}"),
            ]);
        }
    }
    v.push(format!("{} {t}", v[1]));
    v
}

const ID_HEADERS: [&str; 6] = [
    "ma dinh danh",
    "so dinh danh",
    "ma hoc sinh",
    "ma hs",
    "ma dinh danh ca nhan",
    "cccd",
];
const NAME_HEADERS: [&str; 5] = [
    "ho va ten",
    "ho ten",
    "ho ten hoc sinh",
    "ho va ten hoc sinh",
    "ten hoc sinh",
];

/// Reads a spreadsheet into a plan for one class × subject × term. Nothing is written.
#[allow(clippy::too_many_arguments)]
pub fn plan_import(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
    subject_id: &str,
    term: TermId,
    bytes: &[u8],
    mapping: Option<&str>,
) -> Result<ImportPlan, GradeError> {
    if !permits(
        p,
        Action::EnterScores {
            class: class_id,
            subject: subject_id,
        },
    ) {
        return Err(GradeError::NotYourClass);
    }
    let (class, st, spec) = super::class_subject(r, class_id, subject_id)?;
    if super::is_class_locked(r, &class, term)? {
        return Err(GradeError::AlreadyLocked(term.label()));
    }
    // The exported class book has a sheet per subject; a teacher's own file usually has one.
    let want = crate::text::fold(&spec.name);
    let sheet = crate::school::sheet::read(bytes, |names| {
        names
            .iter()
            .position(|n| crate::text::fold(n) == want || want.starts_with(&crate::text::fold(n)))
            .unwrap_or(0)
    })
    .map_err(|e| GradeError::Import(e.to_string()))?;
    let crate::school::sheet::Sheet {
        name: sheet,
        origin,
        rows,
        formulas,
    } = sheet;
    let columns = spec.columns();

    let mut problems = vec![];
    // Find the header row and the columns: by mapping, or by header names.
    let mut cols: HashMap<String, usize> = HashMap::new();
    let mut header_row = None;
    let mut explicit: Vec<(String, String)> = vec![];
    if let Some(m) = mapping {
        for part in m.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(GradeError::Import(format!(
                    "Ánh xạ cột không hợp lệ: \"{part}\" (dạng tx1=C)"
                )));
            };
            let k = k.trim().to_ascii_lowercase();
            if k != "id" && k != "name" && !columns.contains(&k) {
                return Err(GradeError::Import(format!(
                    "Môn này không có cột \"{k}\"; các cột: id, name, {}",
                    columns.join(", ")
                )));
            }
            explicit.push((k, v.trim().to_string()));
        }
    }
    for (i, row) in rows.iter().enumerate().take(20) {
        let heads: Vec<String> = row
            .iter()
            .map(|d| crate::text::fold(&cell_text(d)))
            .collect();
        let find = |names: &[String]| -> Vec<usize> {
            heads
                .iter()
                .enumerate()
                .filter(|(_, h)| names.iter().any(|n| n == *h))
                .map(|(c, _)| c)
                .collect()
        };
        let mut found: HashMap<String, usize> = HashMap::new();
        let mut dup = None;
        let ids = find(&ID_HEADERS.map(String::from));
        let names_c = find(&NAME_HEADERS.map(String::from));
        if let Some(c) = ids.first() {
            found.insert("id".into(), *c);
        }
        if let Some(c) = names_c.first() {
            found.insert("name".into(), *c);
        }
        for col in &columns {
            let hits = find(&header_aliases(col, term));
            // The exported layout has both terms: prefer the header naming this term.
            let exact = crate::text::fold(&column_header(col, term));
            let hits: Vec<usize> = if hits.iter().any(|c| heads[*c] == exact) {
                hits.into_iter().filter(|c| heads[*c] == exact).collect()
            } else {
                hits
            };
            if hits.len() > 1 {
                dup = Some(cell_text(&row[hits[1]]));
            }
            if let Some(c) = hits.first() {
                found.insert(col.clone(), *c);
            }
        }
        for (k, v) in &explicit {
            let idx = letters_to_index(v).or_else(|| {
                let f = crate::text::fold(v);
                heads.iter().position(|h| *h == f)
            });
            if let Some(idx) = idx {
                found.insert(k.clone(), idx);
            }
        }
        let has_scores = columns.iter().any(|c| found.contains_key(c));
        // The header row names the student column (a title row above it leaves that cell empty).
        let names_students = found
            .get("id")
            .or_else(|| found.get("name"))
            .and_then(|c| heads.get(*c))
            .is_some_and(|h| !h.is_empty());
        if names_students && has_scores {
            if let Some(d) = dup {
                return Err(GradeError::Import(format!(
                    "Cột \"{d}\" xuất hiện hai lần; hãy xoá một cột hoặc dùng ánh xạ cột."
                )));
            }
            let mut seen: HashMap<usize, &String> = HashMap::new();
            for (k, c) in &found {
                if let Some(other) = seen.insert(*c, k) {
                    return Err(GradeError::Import(format!(
                        "Hai cột {k} và {other} cùng trỏ tới một cột của tệp."
                    )));
                }
            }
            cols = found;
            header_row = Some(i);
            break;
        }
    }
    let Some(header_row) = header_row else {
        return Err(GradeError::Import(format!(
            "Không tìm thấy dòng tiêu đề: cần cột Mã định danh (hoặc Họ và tên) và ít nhất một cột điểm ({}). Có thể dùng ánh xạ cột, ví dụ tx1=D,gk=H,ck=I,id=B.",
            columns
                .iter()
                .map(|c| column_header(c, term))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };

    let students = school::students_of_class(r, class_id)?;
    // By mã định danh (the GVCN's and the office's sheets) or by the opaque id (what every
    // other teacher sees of a student).
    let by_id: HashMap<&str, &school::Student> = students
        .iter()
        .flat_map(|s| [(s.ma_dinh_danh.as_str(), s), (s.id.as_str(), s)])
        .filter(|(k, _)| !k.is_empty())
        .collect();
    let mut by_name: HashMap<String, Vec<&school::Student>> = HashMap::new();
    for s in &students {
        by_name
            .entry(crate::text::fold(&s.full_name))
            .or_default()
            .push(s);
    }
    let prefix = format!("{class_id}/{subject_id}/{}/", term.code());
    let existing: HashMap<String, super::ScoreRow> = r
        .scan(&super::ROWS, &prefix)?
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v))
        .collect();

    let mut cells = vec![];
    let mut notes = vec![];
    let mut seen_students: HashMap<String, usize> = HashMap::new();
    // A sheet typed with an ABC or VNI font: its names are converted (the whole column decides
    // the encoding) and matched as Unicode; the preview shows each conversion.
    let legacy = cols.get("name").and_then(|c| {
        let names: Vec<String> = rows
            .iter()
            .skip(header_row + 1)
            .filter_map(|r| r.get(*c))
            .map(cell_text)
            .collect();
        let enc = crate::text::legacy_of(names.iter().map(String::as_str))?;
        // Some names Unicode, some not: a name that reads both ways is asked about, not guessed.
        let mixed = names.iter().any(|n| crate::text::clearly_unicode(n));
        Some((enc, mixed))
    });
    let text_at = |row: &[Data], c: Option<&usize>| {
        c.and_then(|c| row.get(*c))
            .map(cell_text)
            .unwrap_or_default()
    };
    for (i, row) in rows.iter().enumerate().skip(header_row + 1) {
        let excel_row = origin.0 as usize + i + 1;
        let mut id = text_at(row, cols.get("id"));
        // Excel turns 079214000007 into the number 79214000007: put the zeros back.
        if !id.is_empty() && id.len() < 12 && id.bytes().all(|b| b.is_ascii_digit()) {
            id = format!("{id:0>12}");
        }
        let name = text_at(row, cols.get("name"));
        let score_texts: Vec<(String, String)> = columns
            .iter()
            .filter_map(|c| cols.get(c).map(|idx| (c.clone(), text_at(row, Some(idx)))))
            .collect();
        if id.is_empty() && name.is_empty() {
            if score_texts.iter().any(|(_, t)| !t.is_empty()) {
                problems.push(problem(
                    excel_row,
                    "id",
                    "Dòng có điểm nhưng không có mã định danh hay họ tên",
                ));
            }
            continue;
        }
        let name = match legacy.map(|(enc, mixed)| (enc, crate::text::fix_cell(&name, enc, mixed)))
        {
            Some((enc, crate::text::CellFix::Convert(converted))) => {
                notes.push(problem(
                    excel_row,
                    "name",
                    format!(
                        "Chuyển từ bảng mã {} sang Unicode: \"{name}\" → \"{converted}\"",
                        enc.name()
                    ),
                ));
                converted
            }
            Some((enc, crate::text::CellFix::Ambiguous)) => {
                problems.push(problem(
                    excel_row,
                    "name",
                    format!(
                        "\"{name}\" đọc được cả như Unicode lẫn như bảng mã {} — tệp có cả chữ Unicode và chữ {}: hãy chuyển cả tệp sang Unicode (Unikey → Công cụ chuyển mã) rồi nhập lại.",
                        enc.name(),
                        enc.name()
                    ),
                ));
                continue;
            }
            _ => name,
        };
        let student = if !id.is_empty() {
            by_id.get(id.as_str()).copied()
        } else {
            match by_name.get(&crate::text::fold(&name)).map(Vec::as_slice) {
                Some([one]) => Some(*one),
                Some([_, _, ..]) => {
                    problems.push(problem(
                        excel_row,
                        "name",
                        format!("Lớp có nhiều học sinh tên \"{name}\"; cần cột mã định danh"),
                    ));
                    continue;
                }
                _ => None,
            }
        };
        let Some(student) = student else {
            problems.push(problem(
                excel_row,
                if id.is_empty() { "name" } else { "id" },
                format!(
                    "Không có học sinh \"{}\" trong lớp {}",
                    if id.is_empty() { &name } else { &id },
                    class.name
                ),
            ));
            continue;
        };
        if let Some(prev) = seen_students.insert(student.id.clone(), excel_row) {
            problems.push(problem(
                excel_row,
                "id",
                format!("Học sinh {} đã có ở dòng {prev}", student.full_name),
            ));
            continue;
        }
        for (col, text) in score_texts {
            let c = cols[&col];
            let has_formula = formulas.contains(&(origin.0 + i as u32, origin.1 + c as u32));
            if has_formula {
                problems.push(problem(
                    excel_row,
                    &col,
                    format!(
                        "Ô {}{} chứa công thức; hãy dán giá trị (Paste Values)",
                        col_letters(origin.1 as usize + c),
                        excel_row
                    ),
                ));
                continue;
            }
            if text.is_empty() {
                continue; // empty cells leave the gradebook as it is
            }
            let raw = &row[c];
            let mark = match raw {
                Data::Float(f) if spec.kind == SubjectKind::Scored && spec.primary.is_none() => {
                    super::rules::score_from_f64(*f)
                        .map(Mark::Score)
                        .map_err(GradeError::from)
                }
                _ => super::parse_cell(&text, &spec, &col, &st),
            };
            match mark {
                Ok(Mark::Pending) => {}
                Ok(mark) => {
                    let current = existing.get(&student.id).and_then(|r| r.cells.get(&col));
                    cells.push(PlannedCell {
                        student: student.id.clone(),
                        name: student.full_name.clone(),
                        column: col.clone(),
                        input: mark.text(),
                        expected_version: current.map_or(0, |c| c.version),
                        changes: current.map_or(Mark::Pending, |c| c.mark) != mark,
                    });
                }
                Err(e) => problems.push(problem(
                    excel_row,
                    &col,
                    format!("{}: {e}", student.full_name),
                )),
            }
        }
    }
    if cells.is_empty() && problems.is_empty() {
        problems.push(problem(0, "", "Tệp không có điểm nào để nhập"));
    }
    let changes = cells.iter().filter(|c| c.changes).count();
    Ok(ImportPlan {
        sheet,
        cells,
        problems,
        changes,
        notes,
    })
}

fn col_letters(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Writes a clean plan: every cell through the same `save_cell` as the grid, in one transaction.
/// A cell changed since the preview makes the whole import fail (nothing written).
pub fn apply_import(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    subject_id: &str,
    term: TermId,
    plan: ImportPlan,
) -> Result<usize, GradeError> {
    if let Some(pr) = plan.problems.first() {
        return Err(GradeError::Import(format!(
            "Tệp còn {} lỗi (dòng {}: {}); không có điểm nào được nhập.",
            plan.problems.len(),
            pr.row,
            pr.message
        )));
    }
    let mut n = 0;
    for c in plan.cells.into_iter().filter(|c| c.changes) {
        let edit = super::CellEdit {
            student: c.student,
            column: c.column,
            input: c.input,
            expected_version: c.expected_version,
            reason: Some("Nhập từ tệp Excel".into()),
        };
        match super::save_cell(tx, p, class_id, subject_id, term, edit)? {
            super::Saved::Saved { .. } | super::Saved::NoteSaved { .. } => n += 1,
            super::Saved::CorrectionPending { .. } => {
                return Err(GradeError::AlreadyLocked(term.label()));
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_round_trip() {
        for i in [0usize, 1, 25, 26, 27, 51, 52, 701, 702] {
            assert_eq!(letters_to_index(&col_letters(i)), Some(i), "{i}");
        }
        assert_eq!(letters_to_index("C"), Some(2));
        assert_eq!(letters_to_index("1"), None);
    }

    #[test]
    fn sheet_names_fit_excel() {
        let mut taken = vec![];
        // Too long: the legend's abbreviation, never a cut word ("…, hướng"; domain review r4).
        let a = sheet_name("Hoạt động trải nghiệm, hướng nghiệp", &mut taken);
        assert_eq!(a, "HĐTNHN");
        assert_eq!(
            sheet_name("Nội dung giáo dục của địa phương", &mut taken),
            "NDGDĐP"
        );
        assert_eq!(
            sheet_name("Khoa học tự nhiên", &mut taken),
            "Khoa học tự nhiên"
        );
        let b = sheet_name("Hoạt động trải nghiệm, hướng nghiệp", &mut taken);
        assert_ne!(a, b);
        assert_eq!(sheet_name("Toán/Tin", &mut taken), "ToánTin");
    }
}
