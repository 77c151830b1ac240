//! The gradebook (sổ theo dõi và đánh giá học sinh). `rules/` is the pure TT22/TT27 engine;
//! this file owns the stored score rows (one per student × subject × term, each cell with a
//! state and its own version), conduct and absences, term locks with the rule version that
//! computed them, post-lock corrections verified by the homeroom teacher, and the stored term
//! and year results relayed to the district — the types and tables here; computing results in
//! `book.rs`, writing in `save.rs`, locks and stored results in `lock.rs`. `routes.rs`/`pages.rs`
//! are the HTTP edge,
//! `excel.rs` the spreadsheets, `check.rs` the `tram grades check` contract.

pub mod archive;
mod book;
pub mod check;
pub mod excel;
pub mod forms;
pub mod graduation;
pub mod hocba;
mod lock;
pub mod migrate;
pub mod moves;
pub mod pages;
pub mod pdf;
pub mod register;
pub mod routes;
pub mod rules;
mod save;

pub use book::*;
pub use lock::*;
pub use save::*;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::auth::{Action, Principal, permits};
use crate::school::{self, Class, Student, SubjectKind};
use crate::store::{AuditPolicy, Collection, Read, StoreError, Tx};
use rules::tt22::{
    self, AwardWithheld, Classification, Level, Outcome, Pass, SubjectResult, Tt22Config,
    YearSubject,
};
use rules::tt27::{self, EducationResult, PrimaryAward, QualityLevel, SubjectLevel, Tt27Config};
use rules::{RuleVersion, ScoreError, Tenths};

/// Học kì.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TermId {
    #[serde(rename = "hk1")]
    Hk1,
    #[serde(rename = "hk2")]
    Hk2,
}

impl TermId {
    pub const BOTH: [TermId; 2] = [TermId::Hk1, TermId::Hk2];
    pub fn parse(s: &str) -> Result<TermId, GradeError> {
        match s {
            "hk1" => Ok(TermId::Hk1),
            "hk2" => Ok(TermId::Hk2),
            _ => Err(GradeError::UnknownTerm(s.to_string())),
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            TermId::Hk1 => "hk1",
            TermId::Hk2 => "hk2",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            TermId::Hk1 => "Học kì I",
            TermId::Hk2 => "Học kì II",
        }
    }
}

/// One assessment's state. A missing assessment is `Pending`, never an implicit 0
/// (DOMAIN.md §1.3). Stored as a short code — "8.5", "Đ", "CĐ", "B" (make-up scheduled),
/// "KB" (make-up not taken), "M" (exempt), "" (pending) — readable in the audit log and cheap
/// to decode when a whole school is recomputed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mark {
    #[default]
    Pending,
    /// Kiểm tra, đánh giá bù đã hẹn.
    MakeUp,
    Score(Tenths),
    Pass(Pass),
    /// Không dự kiểm tra bù: counts as 0 (scored) or CĐ (comment).
    ZeroNoMakeUp,
    /// Miễn: the whole subject is exempt when every cell is.
    Exempt,
    /// Primary (TT27) subject level at a time point: T, H or C.
    Level(SubjectLevel),
}

impl Mark {
    /// The stored code.
    pub fn code(self) -> std::borrow::Cow<'static, str> {
        match self {
            Mark::Pending => "".into(),
            Mark::MakeUp => "B".into(),
            Mark::Score(t) => t.to_string().into(),
            Mark::Pass(p) => p.label().into(),
            Mark::ZeroNoMakeUp => "KB".into(),
            Mark::Exempt => "M".into(),
            Mark::Level(l) => l.code().into(),
        }
    }
    pub fn from_code(s: &str) -> Option<Mark> {
        Some(match s {
            "" => Mark::Pending,
            "B" => Mark::MakeUp,
            "KB" => Mark::ZeroNoMakeUp,
            "M" => Mark::Exempt,
            "Đ" => Mark::Pass(Pass::Dat),
            "CĐ" => Mark::Pass(Pass::ChuaDat),
            "T" => Mark::Level(SubjectLevel::T),
            "H" => Mark::Level(SubjectLevel::H),
            "C" => Mark::Level(SubjectLevel::C),
            score => Mark::Score(rules::parse_score(score).ok()?),
        })
    }

    /// The text shown in a grid cell; typing it back gives the same mark. The stored code,
    /// except that scores are written the Vietnamese way ("8,5", "8").
    pub fn text(self) -> String {
        match self {
            Mark::Score(t) => t.vi_short(),
            other => other.code().into_owned(),
        }
    }
}

impl Serialize for Mark {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for Mark {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mark, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Mark;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mark code such as \"8.5\", \"Đ\", \"B\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Mark, E> {
                Mark::from_code(v).ok_or_else(|| E::custom(format!("not a mark: {v:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads what a teacher typed into one column of a subject's sheet: TT22 marks, or for a
/// primary subject a level (T/H/C) or a whole-number test score.
pub fn parse_cell(
    input: &str,
    spec: &SubjectSpec,
    column: &str,
    st: &Settings,
) -> Result<Mark, GradeError> {
    if spec.primary.is_none() {
        return parse_mark(input, spec.kind);
    }
    let t = input.trim();
    if t.is_empty() {
        return Ok(Mark::Pending);
    }
    if column.starts_with("kt_") {
        let n = tt27::parse_test_score(t, &st.tt27)?;
        return Ok(Mark::Score(Tenths::new(u16::from(n) * 10).expect("≤ 10")));
    }
    SubjectLevel::parse(t)
        .map(Mark::Level)
        .ok_or_else(|| GradeError::NotALevel(t.to_string()))
}

/// Reads what a teacher typed into a cell. Shortcuts: "" pending, "B" make-up scheduled
/// (bù), "KB" zero because the make-up was not taken (không bù), "M" exempt (miễn).
pub fn parse_mark(input: &str, kind: SubjectKind) -> Result<Mark, GradeError> {
    let folded = crate::text::fold(input.trim());
    Ok(match folded.as_str() {
        "" => Mark::Pending,
        "b" | "bu" => Mark::MakeUp,
        "kb" | "khong bu" => Mark::ZeroNoMakeUp,
        "m" | "mien" => Mark::Exempt,
        _ => match kind {
            SubjectKind::Scored => Mark::Score(rules::parse_score(input)?),
            SubjectKind::Comment => Mark::Pass(
                Pass::parse(input).ok_or_else(|| GradeError::NotAPass(input.trim().to_string()))?,
            ),
        },
    })
}

/// One cell of a score row, with its own version so two teachers never overwrite each other.
/// Short field names on disk: a school holds tens of thousands of rows and a term lock reads
/// them all.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Cell {
    #[serde(rename = "m")]
    pub mark: Mark,
    #[serde(rename = "v")]
    pub version: u64,
    pub by: String,
    #[serde(with = "jiff::fmt::serde::timestamp::second::required")]
    pub at: jiff::Timestamp,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One student × subject × term: cells by column ("tx1".."tx4", "gk", "ck").
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ScoreRow {
    pub cells: BTreeMap<String, Cell>,
    /// The subject teacher's comment (nhận xét) on this student for the term: progress,
    /// strengths, what still needs help — it goes into the học bạ and the parent notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Note {
    pub text: String,
    #[serde(rename = "v")]
    pub version: u64,
    pub by: String,
    #[serde(with = "jiff::fmt::serde::timestamp::second::required")]
    pub at: jiff::Timestamp,
}

/// The column name of the comment in the API and the grid.
pub const NOTE_COLUMN: &str = "nx";

impl ScoreRow {
    pub fn mark(&self, column: &str) -> Mark {
        self.cells.get(column).map_or(Mark::Pending, |c| c.mark)
    }
}

/// A read-only view of a stored [`ScoreRow`] with the marks only, in a fixed array by column
/// (tx1..tx10, gk, ck, kt_gk, kt_ck): computing a whole school's results reads tens of thousands of rows,
/// and this view decodes them without allocating.
#[derive(Clone, Debug, Default)]
pub struct RowMarks {
    marks: [Mark; 14],
    /// The comment's text, when there is one.
    pub note: Option<String>,
}

#[derive(Deserialize)]
struct NoteText {
    text: String,
}

fn column_index(col: &str) -> Option<usize> {
    match col {
        "gk" => Some(10),
        "ck" => Some(11),
        "kt_gk" => Some(12),
        "kt_ck" => Some(13),
        _ => TX_COLUMNS.iter().position(|c| *c == col),
    }
}

#[derive(Deserialize)]
struct CellMark {
    #[serde(rename = "m")]
    mark: Mark,
}

impl<'de> Deserialize<'de> for RowMarks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RowMarks, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct Cells;
        impl<'de> Visitor<'de> for Cells {
            type Value = RowMarks;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("score cells by column")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowMarks, A::Error> {
                let mut row = RowMarks::default();
                while let Some(col) = map.next_key::<ColumnKey>()? {
                    match col.0 {
                        Some(i) => row.marks[i] = map.next_value::<CellMark>()?.mark,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(row)
            }
        }
        struct Outer;
        impl<'de> Visitor<'de> for Outer {
            type Value = RowMarks;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a score row")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowMarks, A::Error> {
                let mut row = RowMarks::default();
                let mut note = None;
                while let Some(key) = map.next_key::<ColumnKey>()? {
                    match key.1 {
                        OuterKey::Cells => row = map.next_value_seed(CellsSeed)?,
                        OuterKey::Note => note = Some(map.next_value::<NoteText>()?.text),
                        OuterKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                row.note = note;
                Ok(row)
            }
        }
        struct CellsSeed;
        impl<'de> serde::de::DeserializeSeed<'de> for CellsSeed {
            type Value = RowMarks;
            fn deserialize<D2: serde::Deserializer<'de>>(
                self,
                d: D2,
            ) -> Result<RowMarks, D2::Error> {
                d.deserialize_map(Cells)
            }
        }
        d.deserialize_map(Outer)
    }
}

/// A map key read without allocating: the column index, or which field of the row it is.
struct ColumnKey(Option<usize>, OuterKey);

enum OuterKey {
    Cells,
    Note,
    Other,
}

impl<'de> Deserialize<'de> for ColumnKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ColumnKey, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ColumnKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a column name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ColumnKey, E> {
                let outer = match v {
                    "cells" => OuterKey::Cells,
                    "note" => OuterKey::Note,
                    _ => OuterKey::Other,
                };
                Ok(ColumnKey(column_index(v), outer))
            }
        }
        d.deserialize_str(V)
    }
}

/// Anything that holds a row's marks by column.
pub trait Marks {
    fn mark(&self, column: &str) -> Mark;
}

impl Marks for ScoreRow {
    fn mark(&self, column: &str) -> Mark {
        ScoreRow::mark(self, column)
    }
}

impl Marks for RowMarks {
    fn mark(&self, column: &str) -> Mark {
        column_index(column).map_or(Mark::Pending, |i| self.marks[i])
    }
}

/// Conduct, absences and the homeroom teacher's comment for one student and term.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct TermRecord {
    pub conduct: Option<Level>,
    /// Buổi nghỉ (có phép + không phép): the total the 45-day rule counts.
    pub absences: u16,
    /// Of those, có phép (excused); None where only the total was entered (records made
    /// before the split, or a school that keeps only the total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excused: Option<u16>,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub version: u64,
    /// Primary (TT27): quality and competence levels, by name (tt27::QUALITIES, COMPETENCES).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub qualities: BTreeMap<String, QualityLevel>,
    /// Primary: the GVCN's comment on a quality or competence, by name (the học bạ's Nhận xét
    /// column, TT27's template).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quality_comments: BTreeMap<String, String>,
    /// Primary, term II: the class collective recognised the student for "Học sinh Tiêu biểu
    /// hoàn thành tốt trong học tập và rèn luyện" (TT27 Đ13 k1 a), recorded by the GVCN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recognised_by_class: bool,
}

/// What happened in the summer (Đ13, Đ14): conduct re-evaluated after summer training, and the
/// re-assessed results that replace those subjects' year results. Key "{class}/{student}".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SummerRecord {
    pub conduct: Option<Level>,
    /// Subject id → the re-assessment mark (a score, or Đ/CĐ).
    pub reassessed: BTreeMap<String, Mark>,
    #[serde(default)]
    pub version: u64,
}

pub use rules::tt22::AfterSummer;

/// The state of a term for the whole school year ("{year}/{term}"), or for one class of it
/// ("{year}/{term}/{class}": a class locked or reopened on its own — classes finish at
/// different times; a class's own record holds over the school's).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TermLock {
    pub locked: bool,
    pub rule_version: RuleVersion,
    pub by: String,
    pub at: jiff::Timestamp,
    #[serde(default)]
    pub reason: Option<String>,
    /// Class id → its homeroom teacher when the term was locked: only she signs the class's
    /// học bạ at the GVCN stage, so a reassignment after the lock cannot make a new signed
    /// version (review r8 #1). Empty in locks made before this was recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub homerooms: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionStatus {
    Pending,
    Verified,
    Rejected,
}

/// A change to a locked term's cell: waits for the homeroom teacher (Đ20).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Correction {
    pub id: String,
    pub class: String,
    pub subject: String,
    pub term: TermId,
    pub student: String,
    pub column: String,
    pub from: Mark,
    pub to: Mark,
    pub reason: String,
    pub by: String,
    pub at: jiff::Timestamp,
    pub status: CorrectionStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<jiff::Timestamp>,
}

/// School settings of the rules ([U] readings, DOMAIN.md) and per-subject overrides.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub tt22: Tt22Config,
    pub tt27: Tt27Config,
    /// Number of ĐĐGtx per term recorded for a subject id, when the school's plan differs.
    pub regular_count: BTreeMap<String, usize>,
}

/// A student's stored result for a term or the year, in the fields of the sector database
/// (DOMAIN.md §5.3). Written when a term is locked; every change goes to the outbox.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredResult {
    pub rule_version: RuleVersion,
    pub matruong: String,
    pub makhoi: u8,
    pub malop: String,
    pub mahocsinh: String,
    pub sodinhdanh: String,
    /// "1", "2" or "CN" (cả năm)
    pub hocky: String,
    /// Subject id → ĐTB ("7.7") or Đ/CĐ, null when incomplete or exempt.
    pub diemmon: BTreeMap<String, Option<String>>,
    /// 1 Tốt, 2 Khá, 3 Đạt, 4 Chưa đạt (Điều 9).
    pub mahocluc: Option<u8>,
    /// 1–4 (Điều 8).
    pub mahanhkiem: Option<u8>,
    pub songaynghi: u16,
    pub danhhieu: Option<String>,
    pub ketqua: Option<String>,
    pub colenlop: Option<bool>,
    pub corenluyenlai: Option<bool>,
    pub nhanxet: String,
    /// Increases on every change, so the receiver keeps only the newest.
    pub phienban: u64,
    /// Đang mở lại: BGH reopened the term (or the year) this result was stored at, so it is
    /// not final until the term is locked again, which stores it afresh (review r24 #2: the
    /// hub and the register kept showing a reopened year's results as final). Relayed with the
    /// result — the hub counts and exports no reopened result —; absent (false) otherwise, so
    /// every stored result and signed học bạ data written before reads the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dangmolai: bool,
}

pub const ROWS: Collection<ScoreRow> =
    Collection::new("gradebook.rows.v1", AuditPolicy::Values, None);
/// The same table as [`ROWS`], read as marks only (never written through).
pub const ROW_MARKS: Collection<RowMarks> =
    Collection::new("gradebook.rows.v1", AuditPolicy::Values, None);
pub const RECORDS: Collection<TermRecord> =
    Collection::new("gradebook.records.v1", AuditPolicy::Values, None);
pub const SUMMER: Collection<SummerRecord> =
    Collection::new("gradebook.summer.v1", AuditPolicy::Values, None);
pub const LOCKS: Collection<TermLock> =
    Collection::new("gradebook.locks.v1", AuditPolicy::Values, None);
pub const CORRECTIONS: Collection<Correction> =
    Collection::new("gradebook.corrections.v1", AuditPolicy::Values, None);
pub const SETTINGS: Collection<Settings> =
    Collection::new("gradebook.settings.v1", AuditPolicy::Values, None);
pub const RESULTS: Collection<StoredResult> =
    Collection::new("gradebook.results.v1", AuditPolicy::Values, Some("result"))
        .relayed_as(result_relay_key);

/// "{year}/{1|2|cn}/{student}" here; to the district the student is named by the mã định danh
/// (`sodinhdanh`), as [`school::student_relay_key`] names them, so a result keeps its key at
/// the hub whatever the school's own id for the student is.
pub fn result_relay_key(key: &str, record: &serde_json::Value) -> String {
    match (key.rsplit_once('/'), record["sodinhdanh"].as_str()) {
        (Some((period, _)), Some(ma)) if !ma.is_empty() => format!("{period}/hs-{ma}"),
        _ => key.to_string(),
    }
}

pub const TABLES: [&str; 8] = [
    graduation::GRADUATIONS.name,
    ROWS.name,
    SUMMER.name,
    RECORDS.name,
    LOCKS.name,
    CORRECTIONS.name,
    SETTINGS.name,
    RESULTS.name,
];

#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Score(#[from] ScoreError),
    #[error("Môn đánh giá bằng nhận xét: nhập Đ (Đạt) hoặc CĐ (Chưa đạt), nhận được \"{0}\"")]
    NotAPass(String),
    #[error(
        "Nhập mức T (hoàn thành tốt), H (hoàn thành) hoặc C (chưa hoàn thành): nhận được \"{0}\""
    )]
    NotALevel(String),
    #[error("Không tìm thấy lớp {0}")]
    UnknownClass(String),
    #[error("Lớp này không học môn {0}")]
    UnknownSubject(String),
    #[error("Học sinh {0} không thuộc lớp này")]
    UnknownStudent(String),
    #[error("Sổ của môn này không có cột {0}")]
    UnknownColumn(String),
    #[error("Học kì không hợp lệ: {0} (hk1 hoặc hk2)")]
    UnknownTerm(String),
    #[error("Bạn không được phân công dạy môn này ở lớp này")]
    NotYourClass,
    #[error("Chỉ giáo viên chủ nhiệm của lớp mới làm được việc này")]
    NotHomeroom,
    #[error("Bạn không có quyền xem hoặc làm việc này")]
    Forbidden,
    #[error("Ô điểm này vừa được người khác thay đổi; hãy xem giá trị mới rồi nhập lại")]
    Conflict { current: Option<Cell> },
    #[error("Nhận xét này vừa được người khác sửa; hãy xem nội dung mới rồi nhập lại")]
    NoteConflict { current: Option<Note> },
    #[error("Học kì đã khoá sổ: sửa điểm phải ghi lí do")]
    ReasonRequired,
    #[error("Lí do quá dài (tối đa 500 kí tự)")]
    ReasonTooLong,
    #[error("Nhận xét quá dài (tối đa 500 kí tự)")]
    NoteTooLong,
    #[error("Không tìm thấy yêu cầu sửa điểm {0}")]
    UnknownCorrection(String),
    #[error("Yêu cầu sửa điểm này đã được xử lí")]
    CorrectionDecided,
    #[error(
        "Người yêu cầu sửa điểm không tự xác nhận được: cần giáo viên chủ nhiệm (hoặc Ban giám hiệu, khi người yêu cầu là giáo viên chủ nhiệm) xác nhận"
    )]
    SecondPersonNeeded,
    #[error("Điểm mới giống điểm đang có: không cần yêu cầu sửa điểm.")]
    Unchanged,
    /// Allowed by the role, refused by the week after someone else set the password.
    #[error("{}", crate::auth::AuthError::Quarantined)]
    Quarantined,
    #[error("Không có gì để lưu: chọn rèn luyện hè hoặc môn kiểm tra lại")]
    NothingToSave,
    #[error("{0} đã khoá sổ")]
    AlreadyLocked(&'static str),
    /// A term is locked (even forced, incomplete) only once it has begun: a lock stores the
    /// term's results and relays them, and a term nobody has taught has none (review r24 #2).
    #[error("{term} chưa bắt đầu (bắt đầu ngày {start}): chưa khoá sổ được.")]
    TermNotStarted { term: &'static str, start: String },
    #[error("{0} chưa khoá sổ")]
    NotLocked(&'static str),
    /// The refusal names the classes and how many students each still lacks (issue 24 item 6):
    /// a bare count sent BGH looking through every class book.
    #[error(
        "Còn {students} học sinh chưa đủ điểm hoặc chưa có kết quả rèn luyện: {}; kiểm tra lại hoặc chọn khoá sổ dù chưa đủ",
        classes.iter().map(|c| format!("lớp {} ({} học sinh)", c.class_name, c.students)).collect::<Vec<_>>().join(", ")
    )]
    Incomplete {
        students: usize,
        classes: Vec<IncompleteClass>,
    },
    #[error("Kết quả rèn luyện phải là Tốt, Khá, Đạt hoặc Chưa đạt: nhận được \"{0}\"")]
    BadConduct(String),
    #[error("Không có phẩm chất hay năng lực nào tên \"{0}\"")]
    UnknownQuality(String),
    #[error("Mức phẩm chất, năng lực phải là Tốt, Đạt hoặc Cần cố gắng: nhận được \"{0}\"")]
    BadQuality(String),
    /// `why` is "" or the reason the year gives, as the CLI says it (" (…)").
    #[error("{who}: không thuộc diện rèn luyện hè hoặc kiểm tra lại{why}")]
    NotInSummer { who: String, why: String },
    #[error("Số buổi nghỉ phải từ 0 đến 365")]
    BadAbsences,
    #[error("Số buổi nghỉ có phép ({excused}) nhiều hơn tổng số buổi nghỉ ({total})")]
    ExcusedOverTotal { excused: u16, total: u16 },
    #[error("{0}")]
    Import(String),
    /// A graduation list that cannot be recorded (`graduation::record`), every reason named.
    #[error("{0}")]
    Graduation(String),
    /// The rule settings sent cannot be read or are out of range.
    #[error("{0}")]
    BadSettings(String),
    /// The class's recognition for Học sinh Tiêu biểu is voted at the end of the year.
    #[error("Lớp bình chọn học sinh tiêu biểu vào cuối năm học: ghi ở học kì II")]
    RecognitionInTermTwo,
    /// "M" beside a mark in the same term row, or a mark beside "M": an exemption (Đ10) is
    /// for a whole term of the subject, as `tram grades check` models it (`exempt: "term1"`).
    #[error(
        "Miễn (M) là cho cả học kì của môn (Thông tư 22 Điều 10), không cho một lần đánh giá: cột {0} của học kì này đã có điểm. Muốn miễn cả học kì: xoá các điểm rồi nhập M vào mọi cột. Điểm kiểm tra lí thuyết thay phần thực hành thì nhập như điểm thường, không dùng M."
    )]
    ExemptBesideMarks(String),
    #[error(
        "Học kì này của môn đang được miễn (M ở cột {0}): xoá M ở mọi cột của học kì trước khi nhập điểm."
    )]
    MarkBesideExempt(String),
    #[error(
        "Môn {0} không được miễn (M): Thông tư 22 Điều 10 chỉ miễn phần thực hành môn Giáo dục thể chất (và GDQP-AN ở THPT); học sinh khuyết tật (Điều 11) cần được ghi trong hồ sơ học sinh"
    )]
    NotExemptible(String),
}

impl GradeError {
    pub fn code(&self) -> &'static str {
        match self {
            GradeError::Store(_) => "internal",
            GradeError::Score(e) => e.code(),
            GradeError::NotAPass(_) => "not_a_pass",
            GradeError::NotALevel(_) => "not_a_level",
            GradeError::UnknownClass(_)
            | GradeError::UnknownSubject(_)
            | GradeError::UnknownStudent(_)
            | GradeError::UnknownCorrection(_) => "not_found",
            GradeError::UnknownColumn(_) => "unknown_column",
            GradeError::UnknownTerm(_) => "unknown_term",
            GradeError::NotYourClass
            | GradeError::NotHomeroom
            | GradeError::Forbidden
            | GradeError::SecondPersonNeeded => "forbidden",
            GradeError::Quarantined => "recently_reset",
            GradeError::Unchanged => "unchanged",
            GradeError::Conflict { .. } | GradeError::NoteConflict { .. } => "conflict",
            GradeError::ReasonRequired => "reason_required",
            GradeError::ReasonTooLong => "reason_too_long",
            GradeError::NoteTooLong => "note_too_long",
            GradeError::CorrectionDecided => "correction_decided",
            GradeError::AlreadyLocked(_) => "term_locked",
            GradeError::TermNotStarted { .. } => "term_not_started",
            GradeError::NotLocked(_) => "term_not_locked",
            GradeError::Incomplete { .. } => "incomplete",
            GradeError::BadConduct(_) => "bad_conduct",
            GradeError::BadAbsences | GradeError::ExcusedOverTotal { .. } => "bad_absences",
            GradeError::NotInSummer { .. } => "not_in_summer",
            GradeError::UnknownQuality(_) => "unknown_quality",
            GradeError::BadQuality(_) => "bad_quality",
            GradeError::Import(_) => "import_invalid",
            GradeError::Graduation(_) => "graduation_invalid",
            GradeError::BadSettings(_) => "bad_settings",
            GradeError::RecognitionInTermTwo => "recognition_in_term_ii",
            GradeError::ExemptBesideMarks(_) | GradeError::MarkBesideExempt(_) => {
                "exempt_whole_term"
            }
            GradeError::NothingToSave => "nothing_to_save",
            GradeError::NotExemptible(_) => "not_exemptible",
        }
    }
}

/// A class, the school's settings and one subject of the class's grade — what every sheet
/// operation starts from.
pub fn class_subject(
    r: &impl Read,
    class_id: &str,
    subject_id: &str,
) -> Result<(Class, Settings, SubjectSpec), GradeError> {
    let class = class_of(r, class_id)?;
    let st = settings(r)?;
    let spec = subjects_for_grade(r, class.grade, &st)?
        .into_iter()
        .find(|s| s.id == subject_id)
        .ok_or_else(|| GradeError::UnknownSubject(subject_id.to_string()))?;
    Ok((class, st, spec))
}

/// A subject as the gradebook of one grade sees it.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectSpec {
    pub id: String,
    pub name: String,
    pub kind: SubjectKind,
    pub periods: u16,
    /// ĐĐGtx per term.
    pub regular: usize,
    /// Set in a primary school (TT27): levels T/H/C at mid-term and end of term, plus the
    /// periodic tests the subject has in this grade.
    pub primary: Option<PrimarySpec>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct PrimarySpec {
    /// End-of-term-I and end-of-year tests (bài kiểm tra định kì).
    pub tested: bool,
    /// Extra mid-term tests (grades 4–5, Tiếng Việt and Toán).
    pub midterm_tested: bool,
}

/// Column names of regular assessments (settings allow at most 10).
const TX_COLUMNS: [&str; 10] = [
    "tx1", "tx2", "tx3", "tx4", "tx5", "tx6", "tx7", "tx8", "tx9", "tx10",
];

impl SubjectSpec {
    pub fn columns(&self) -> Vec<String> {
        if let Some(p) = self.primary {
            let mut v = vec!["gk".to_string()];
            if p.midterm_tested {
                v.push("kt_gk".into());
            }
            v.push("ck".into());
            if p.tested {
                v.push("kt_ck".into());
            }
            return v;
        }
        let mut v: Vec<String> = (1..=self.regular).map(|i| format!("tx{i}")).collect();
        v.push("gk".into());
        v.push("ck".into());
        v
    }
}

/// A primary school (tiểu học, level "TH") is assessed by TT27; every other by TT22.
pub fn is_primary(r: &impl Read) -> Result<bool, StoreError> {
    Ok(school::school_info(r)?.is_some_and(|i| i.level == "TH"))
}

pub fn settings(r: &impl Read) -> Result<Settings, StoreError> {
    Ok(r.get(&SETTINGS, "school")?.unwrap_or_default())
}

/// The subjects a grade studies (periods > 0): scored subjects first, in the programme's order;
/// at a primary school, the học bạ template's order.
pub fn subjects_for_grade(
    r: &impl Read,
    grade: u8,
    st: &Settings,
) -> Result<Vec<SubjectSpec>, StoreError> {
    let primary = is_primary(r)?;
    let mut v: Vec<SubjectSpec> = school::list(r, &school::SUBJECTS)?
        .into_iter()
        .filter_map(|s| {
            let periods = *s.periods_per_year.get(&grade)?;
            (periods > 0).then(|| {
                let regular = st
                    .regular_count
                    .get(&s.id)
                    .copied()
                    .unwrap_or(match s.kind {
                        SubjectKind::Scored => tt22::regular_count(periods),
                        SubjectKind::Comment => st.tt22.comment_regular_count,
                    });
                let primary = primary.then(|| PrimarySpec {
                    tested: st.tt27.is_tested(grade, &s.name),
                    midterm_tested: st.tt27.is_midterm_tested(grade, &s.name),
                });
                SubjectSpec {
                    id: s.id,
                    name: s.name,
                    kind: s.kind,
                    periods,
                    regular,
                    primary,
                }
            })
        })
        .collect();
    v.sort_by_cached_key(|s| {
        let f = crate::text::fold(&s.name);
        // A primary school's book, pages, PDFs and Excel follow TT27's học bạ template (TV,
        // Toán, NN1, Đạo đức, …), so no form lists the subjects in another order.
        if primary {
            return (false, forms::primary_template_rank(&s.name), f);
        }
        let rank = SUBJECT_ORDER
            .iter()
            .position(|x| *x == f)
            .unwrap_or(SUBJECT_ORDER.len());
        (s.kind == SubjectKind::Comment, rank, f)
    });
    Ok(v)
}

/// The order subjects appear in the class book (the 2018 programme's order), folded names.
const SUBJECT_ORDER: [&str; 16] = [
    "ngu van",
    "tieng viet",
    "toan",
    "ngoai ngu 1",
    "giao duc cong dan",
    "lich su va dia li",
    "khoa hoc tu nhien",
    "khoa hoc",
    "cong nghe",
    "tin hoc",
    "tin hoc va cong nghe",
    "giao duc the chat",
    "nghe thuat",
    "hoat dong trai nghiem, huong nghiep",
    "hoat dong trai nghiem",
    "noi dung giao duc cua dia phuong",
];

pub fn row_key(class: &str, subject: &str, term: TermId, student: &str) -> String {
    format!("{class}/{subject}/{}/{student}", term.code())
}
fn record_key(class: &str, term: TermId, student: &str) -> String {
    format!("{class}/{}/{student}", term.code())
}
fn lock_key(year: &str, term: TermId) -> String {
    format!("{year}/{}", term.code())
}
fn class_lock_key(class: &Class, term: TermId) -> String {
    format!("{}/{}/{}", class.year, term.code(), class.id)
}

pub fn class_of(r: &impl Read, class_id: &str) -> Result<Class, GradeError> {
    r.get(&school::CLASSES, class_id)?
        .ok_or_else(|| GradeError::UnknownClass(class_id.to_string()))
}

pub fn term_lock(r: &impl Read, year: &str, term: TermId) -> Result<Option<TermLock>, StoreError> {
    r.get(&LOCKS, &lock_key(year, term))
}

pub fn is_locked(r: &impl Read, year: &str, term: TermId) -> Result<bool, StoreError> {
    Ok(term_lock(r, year, term)?.is_some_and(|l| l.locked))
}

/// The lock that holds for one class: its own record (the term locked or reopened for that
/// class alone), else the school's.
pub fn class_term_lock(
    r: &impl Read,
    class: &Class,
    term: TermId,
) -> Result<Option<TermLock>, StoreError> {
    match class_own_lock(r, class, term)? {
        Some(own) => Ok(Some(own)),
        None => term_lock(r, &class.year, term),
    }
}

/// The lock record a class has of its own for a term (locked or reopened for it alone), if any.
pub fn class_own_lock(
    r: &impl Read,
    class: &Class,
    term: TermId,
) -> Result<Option<TermLock>, StoreError> {
    r.get(&LOCKS, &class_lock_key(class, term))
}

pub fn is_class_locked(r: &impl Read, class: &Class, term: TermId) -> Result<bool, StoreError> {
    Ok(class_term_lock(r, class, term)?.is_some_and(|l| l.locked))
}

/// Whether this person may see the whole class's results (homeroom teacher, BGH).
pub fn may_view_class(p: &Principal, class: &str) -> bool {
    permits(p, Action::ViewClassResults { class })
}

#[cfg(test)]
mod tests;
