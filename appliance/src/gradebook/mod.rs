//! The gradebook (sổ theo dõi và đánh giá học sinh). `rules/` is the pure TT22/TT27 engine;
//! this file owns the stored score rows (one per student × subject × term, each cell with a
//! state and its own version), conduct and absences, term locks with the rule version that
//! computed them, post-lock corrections verified by the homeroom teacher, and the stored term
//! and year results relayed to the district. `routes.rs`/`pages.rs` are the HTTP edge,
//! `excel.rs` the spreadsheets, `check.rs` the `tram grades check` contract.

pub mod check;
pub mod excel;
pub mod forms;
pub mod migrate;
pub mod pages;
pub mod pdf;
pub mod routes;
pub mod rules;

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

/// The state of a term for the whole school year.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TermLock {
    pub locked: bool,
    pub rule_version: RuleVersion,
    pub by: String,
    pub at: jiff::Timestamp,
    #[serde(default)]
    pub reason: Option<String>,
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

pub const TABLES: [&str; 7] = [
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
    #[error("{0} chưa khoá sổ")]
    NotLocked(&'static str),
    #[error(
        "Còn {0} học sinh chưa đủ điểm hoặc chưa có kết quả rèn luyện; kiểm tra lại hoặc chọn khoá sổ dù chưa đủ"
    )]
    Incomplete(usize),
    #[error("Kết quả rèn luyện phải là Tốt, Khá, Đạt hoặc Chưa đạt: nhận được \"{0}\"")]
    BadConduct(String),
    #[error("Không có phẩm chất hay năng lực nào tên \"{0}\"")]
    UnknownQuality(String),
    #[error("Mức phẩm chất, năng lực phải là Tốt, Đạt hoặc Cần cố gắng: nhận được \"{0}\"")]
    BadQuality(String),
    #[error("{0}: không thuộc diện rèn luyện hè hoặc kiểm tra lại")]
    NotInSummer(String),
    #[error("Số buổi nghỉ phải từ 0 đến 365")]
    BadAbsences,
    #[error("Số buổi nghỉ có phép ({excused}) nhiều hơn tổng số buổi nghỉ ({total})")]
    ExcusedOverTotal { excused: u16, total: u16 },
    #[error("{0}")]
    Import(String),
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
            GradeError::NotLocked(_) => "term_not_locked",
            GradeError::Incomplete(_) => "incomplete",
            GradeError::BadConduct(_) => "bad_conduct",
            GradeError::BadAbsences | GradeError::ExcusedOverTotal { .. } => "bad_absences",
            GradeError::NotInSummer(_) => "not_in_summer",
            GradeError::UnknownQuality(_) => "unknown_quality",
            GradeError::BadQuality(_) => "bad_quality",
            GradeError::Import(_) => "import_invalid",
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

/// The subjects a grade studies (periods > 0), scored subjects first, then by name.
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

/// Whether this person may see the whole class's results (homeroom teacher, BGH).
pub fn may_view_class(p: &Principal, class: &str) -> bool {
    permits(p, Action::ViewClassResults { class })
}

// ---------------------------------------------------------------------------------------------
// Computing results from stored rows.

/// A subject's result for one student in a term or the year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum SubjectOutcome {
    Done(SubjectResult),
    Exempt,
    /// Some assessments are pending or waiting for a make-up.
    Incomplete(usize),
    /// A primary subject: its level at the end of the term (or year) and the test score.
    Primary(SubjectLevel, Option<u8>),
}

impl SubjectOutcome {
    pub fn result(self) -> Option<SubjectResult> {
        match self {
            SubjectOutcome::Done(r) => Some(r),
            _ => None,
        }
    }
    pub fn text(self) -> String {
        match self {
            SubjectOutcome::Done(SubjectResult::Scored(t)) => t.vi(),
            SubjectOutcome::Done(SubjectResult::Comment(p)) => p.label().into(),
            SubjectOutcome::Exempt => "Miễn".into(),
            SubjectOutcome::Incomplete(_) => String::new(),
            SubjectOutcome::Primary(l, None) => l.code().into(),
            SubjectOutcome::Primary(l, Some(t)) => format!("{} · {t}", l.code()),
        }
    }
    /// The value relayed to the district: "7.7", "Đ", "CĐ"; None when not final.
    fn relay_value(self) -> Option<String> {
        match self {
            SubjectOutcome::Done(SubjectResult::Scored(t)) => Some(t.to_string()),
            SubjectOutcome::Done(SubjectResult::Comment(p)) => Some(p.label().into()),
            SubjectOutcome::Primary(l, None) => Some(l.code().into()),
            SubjectOutcome::Primary(l, Some(t)) => Some(format!("{} {t}", l.code())),
            _ => None,
        }
    }
}

/// ĐTBmhk or the Đ/CĐ term result of one row, once every required cell is final.
pub fn subject_term(spec: &SubjectSpec, row: Option<&impl Marks>) -> SubjectOutcome {
    if let Some(p) = spec.primary {
        let mark = |c: &str| row.map_or(Mark::Pending, |r| r.mark(c));
        let level = match mark("ck") {
            Mark::Level(l) => l,
            _ => return SubjectOutcome::Incomplete(1),
        };
        let test = match (p.tested, mark("kt_ck")) {
            (false, _) => None,
            (true, Mark::Score(t)) => Some((t.get() / 10) as u8),
            (true, _) => return SubjectOutcome::Incomplete(1),
        };
        return SubjectOutcome::Primary(level, test);
    }
    let mut marks: Vec<Mark> = Vec::with_capacity(spec.regular + 2);
    for i in 1..=spec.regular {
        marks.push(row.map_or(Mark::Pending, |r| {
            r.mark(TX_COLUMNS.get(i - 1).copied().unwrap_or(""))
        }));
    }
    marks.push(row.map_or(Mark::Pending, |r| r.mark("gk")));
    marks.push(row.map_or(Mark::Pending, |r| r.mark("ck")));
    if marks.iter().all(|m| *m == Mark::Exempt) {
        return SubjectOutcome::Exempt;
    }
    let missing = marks
        .iter()
        .filter(|m| {
            matches!(
                (spec.kind, m),
                (_, Mark::Pending | Mark::MakeUp | Mark::Exempt)
                    | (SubjectKind::Scored, Mark::Pass(_))
                    | (SubjectKind::Comment, Mark::Score(_))
            )
        })
        .count();
    if missing > 0 {
        return SubjectOutcome::Incomplete(missing);
    }
    match spec.kind {
        SubjectKind::Scored => {
            let t = |m: &Mark| match m {
                Mark::Score(t) => *t,
                _ => Tenths::ZERO,
            };
            let n = marks.len();
            let tx: Vec<Tenths> = marks[..n - 2].iter().map(t).collect();
            SubjectOutcome::Done(SubjectResult::Scored(tt22::term_average(
                &tx,
                t(&marks[n - 2]),
                t(&marks[n - 1]),
            )))
        }
        SubjectKind::Comment => {
            let p: Vec<Pass> = marks
                .iter()
                .map(|m| match m {
                    Mark::Pass(p) => *p,
                    _ => Pass::ChuaDat,
                })
                .collect();
            SubjectOutcome::Done(SubjectResult::Comment(tt22::comment_term(
                &p,
                spec.regular + 2,
            )))
        }
    }
}

/// The year result of one subject from its two term outcomes.
pub fn subject_year(t1: SubjectOutcome, t2: SubjectOutcome) -> SubjectOutcome {
    use SubjectOutcome::*;
    match (t1, t2) {
        (Exempt, Exempt) => Exempt,
        // Exempt for one term only (Đ10: a term or the year): the year is the other term's.
        (Exempt, Done(r)) | (Done(r), Exempt) => Done(r),
        (Done(SubjectResult::Scored(a)), Done(SubjectResult::Scored(b))) => {
            Done(SubjectResult::Scored(tt22::year_average(a, b)))
        }
        (Done(SubjectResult::Comment(a)), Done(SubjectResult::Comment(b))) => {
            Done(SubjectResult::Comment(tt22::comment_year(a, b)))
        }
        // Primary: the year is the end-of-year time point (cuối năm học).
        (_, Primary(l, t)) => Primary(l, t),
        (Incomplete(a), Incomplete(b)) => Incomplete(a + b),
        (Incomplete(a), _) | (_, Incomplete(a)) => Incomplete(a),
        _ => Incomplete(1),
    }
}

/// The TT22 view of one subject's year outcome.
pub(crate) fn year_subject(o: SubjectOutcome, kind: SubjectKind) -> YearSubject {
    match o {
        SubjectOutcome::Done(r) => YearSubject::Result(r),
        SubjectOutcome::Exempt => YearSubject::Exempt {
            scored: kind == SubjectKind::Scored,
        },
        SubjectOutcome::Incomplete(_) | SubjectOutcome::Primary(..) => YearSubject::Incomplete,
    }
}

/// A stored re-assessment mark as the result it replaces; None when it does not fit the
/// subject's kind (then the summer is not complete).
fn reassessed_result(kind: SubjectKind, m: Mark) -> Option<SubjectResult> {
    match (kind, m) {
        (SubjectKind::Scored, Mark::Score(t)) => Some(SubjectResult::Scored(t)),
        (SubjectKind::Scored, Mark::ZeroNoMakeUp) => Some(SubjectResult::Scored(Tenths::ZERO)),
        (SubjectKind::Comment, Mark::Pass(p)) => Some(SubjectResult::Comment(p)),
        (SubjectKind::Comment, Mark::ZeroNoMakeUp) => Some(SubjectResult::Comment(Pass::ChuaDat)),
        _ => None,
    }
}

/// The inputs of [`tt22::decide_year`] from a student's stored year.
pub fn tt22_year_input(
    grade: u8,
    specs: &[SubjectSpec],
    subjects: &[SubjectOutcome],
    conduct: Option<Level>,
    absences: u16,
    summer: &SummerRecord,
) -> tt22::YearInput {
    tt22::YearInput {
        grade,
        subjects: subjects
            .iter()
            .zip(specs)
            .map(|(o, sp)| year_subject(*o, sp.kind))
            .collect(),
        conduct,
        absences: Some(absences),
        summer_conduct: summer.conduct,
        reassessed: specs
            .iter()
            .map(|sp| {
                summer
                    .reassessed
                    .get(&sp.id)
                    .and_then(|m| reassessed_result(sp.kind, *m))
            })
            .collect(),
    }
}

/// The inputs of [`tt27::decide_year`] from a student's stored end of year.
pub fn tt27_year_input(
    grade: u8,
    specs: &[SubjectSpec],
    subjects: &[SubjectOutcome],
    record: &TermRecord,
) -> Option<tt27::PrimaryYearInput> {
    let mut v = Vec::with_capacity(subjects.len());
    for (o, sp) in subjects.iter().zip(specs) {
        let (level, test) = match o {
            SubjectOutcome::Primary(l, t) => (Some(*l), *t),
            SubjectOutcome::Exempt => (None, None),
            _ => return None,
        };
        v.push(tt27::PrimarySubject {
            name: sp.name.clone(),
            level,
            test,
        });
    }
    Some(tt27::PrimaryYearInput {
        grade,
        subjects: v,
        qualities: record.qualities.clone(),
        recognised_by_class: record.recognised_by_class,
    })
}

/// Levels of a student over the subjects' outcomes; None until every subject is final.
pub(crate) fn classify_outcomes(
    outcomes: &[SubjectOutcome],
    cfg: &Tt22Config,
) -> Option<Classification> {
    let mut results = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        match o {
            SubjectOutcome::Done(r) => results.push(*r),
            SubjectOutcome::Exempt => {}
            SubjectOutcome::Incomplete(_) | SubjectOutcome::Primary(..) => return None,
        }
    }
    Some(tt22::classify(&results, cfg))
}

#[derive(Clone, Debug, Serialize)]
pub struct StudentTerm {
    pub subjects: Vec<SubjectOutcome>,
    pub level: Option<Classification>,
    pub conduct: Option<Level>,
    pub absences: u16,
    /// Có phép, when recorded (see [`TermRecord::excused`]).
    pub excused: Option<u16>,
    pub comment: String,
    /// Primary: quality and competence levels (phẩm chất, năng lực) by name.
    pub qualities: BTreeMap<String, QualityLevel>,
    /// Primary: the comment on each quality or competence, by name.
    pub quality_comments: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StudentYear {
    pub grade: u8,
    pub subjects: Vec<SubjectOutcome>,
    pub level: Option<Classification>,
    pub conduct: Option<Level>,
    pub absences: u16,
    pub outcome: Option<Outcome>,
    pub award: Option<tt22::Award>,
    /// The award the levels would give and why it is not given (a school setting).
    pub award_withheld: Option<AwardWithheld>,
    /// Indexes into the subjects to re-assess in the summer.
    pub reassess: Vec<usize>,
    /// Primary: the end-of-year education result (HTXS/HTT/HT/CHT), once every subject, test,
    /// quality and competence of the end of the year is recorded.
    pub primary: Option<EducationResult>,
    pub primary_award: Option<PrimaryAward>,
    /// Primary: the class's recognition for "Học sinh Tiêu biểu" (term II record).
    pub recognised_by_class: bool,
    /// Summer re-evaluation results recorded so far, and the final decision once complete.
    pub summer: SummerRecord,
    pub after_summer: Option<AfterSummer>,
}

impl StudentYear {
    /// The decision that stands: after the summer when it is complete, else the end of year.
    pub fn final_outcome(&self) -> Option<Outcome> {
        self.after_summer.map(|a| a.outcome).or(self.outcome)
    }
    /// The decision as shown: completion for primary, the standing TT22 decision otherwise,
    /// in the wording of the student's grade (grade 9 completes THCS, grade 5 primary).
    pub fn outcome_label(&self) -> String {
        match self.primary {
            Some(r) => r.completion_label(self.grade).to_string(),
            None => {
                let label = self
                    .final_outcome()
                    .map(|o| o.label_for(self.grade).to_string())
                    .unwrap_or_default();
                // After the summer the decision says after what, so it never stands bare beside
                // the year's "Chưa đạt" it overrides (TT22 Đ13–14).
                let after = self
                    .outcome
                    .and_then(rules::tt22::Outcome::summer_path)
                    .filter(|_| self.after_summer.is_some())
                    .map(|p| format!(" sau {p}"))
                    .unwrap_or_default();
                format!("{label}{after}")
            }
        }
    }
    /// The award title under either circular.
    pub fn award_label(&self) -> Option<&'static str> {
        self.award
            .map(|a| a.label())
            .or(self.primary_award.map(|a| a.label()))
    }
    /// What the award column says when there is no award but the levels would give one.
    pub fn award_note(&self) -> Option<String> {
        self.award_withheld.map(|w| w.reason())
    }
}

/// Everything the class book shows: both terms and the year for every student.
#[derive(Clone, Debug, Serialize)]
pub struct ClassBook {
    pub class: Class,
    pub subjects: Vec<SubjectSpec>,
    pub students: Vec<Student>,
    pub hk1: Vec<StudentTerm>,
    pub hk2: Vec<StudentTerm>,
    pub year: Vec<StudentYear>,
    /// score rows by "{subject}/{term}/{student}"
    #[serde(skip)]
    pub rows: RowIndex,
}

impl ClassBook {
    /// Whether the book is assessed by TT27 (primary).
    pub fn is_primary(&self) -> bool {
        self.subjects.iter().any(|s| s.primary.is_some())
    }
    /// Whether student `i` has everything a term lock needs: every subject final, and conduct
    /// (secondary) or, at the end of the year, every quality and competence (primary).
    pub fn is_complete(&self, term: TermId, i: usize) -> bool {
        let t = &self.term(term)[i];
        if self.is_primary() {
            let subjects = t
                .subjects
                .iter()
                .all(|o| matches!(o, SubjectOutcome::Primary(..) | SubjectOutcome::Exempt));
            subjects && (term == TermId::Hk1 || self.year[i].primary.is_some())
        } else {
            t.level.is_some() && t.conduct.is_some()
        }
    }
    pub fn term(&self, t: TermId) -> &[StudentTerm] {
        match t {
            TermId::Hk1 => &self.hk1,
            TermId::Hk2 => &self.hk2,
        }
    }
    pub fn row(&self, subject: &str, term: TermId, student: &str) -> Option<&RowMarks> {
        let mut key = String::new();
        row_suffix_into(&mut key, subject, term, student);
        self.rows.get(key.as_str())
    }
}

/// Score rows of one class by "{subject}/{term}/{student}" (the row key without the class).
pub type RowIndex = HashMap<String, RowMarks>;

fn row_suffix_into(buf: &mut String, subject: &str, term: TermId, student: &str) {
    buf.clear();
    buf.push_str(subject);
    buf.push('/');
    buf.push_str(term.code());
    buf.push('/');
    buf.push_str(student);
}

/// Builds a class's book from storage.
pub fn class_book(r: &impl Read, class_id: &str, st: &Settings) -> Result<ClassBook, GradeError> {
    let class = class_of(r, class_id)?;
    let subjects = subjects_for_grade(r, class.grade, st)?;
    let students = school::students_of_class(r, class_id)?;
    let prefix = format!("{class_id}/");
    let mut rows = RowIndex::new();
    r.scan_each(&ROW_MARKS, &prefix, &mut |k, row| {
        rows.insert(k[prefix.len()..].to_string(), row);
        Ok(())
    })?;
    let records: HashMap<String, TermRecord> = r
        .scan(&RECORDS, &format!("{class_id}/"))?
        .into_iter()
        .collect();
    let summer: HashMap<String, SummerRecord> = r
        .scan(&SUMMER, &format!("{class_id}/"))?
        .into_iter()
        .collect();
    let mut book = compute_book(class, subjects, students, &rows, &records, &summer, st);
    book.rows = rows;
    Ok(book)
}

/// A class's book for someone who may see the whole class (homeroom teacher, BGH): the one
/// check every class-wide view and export makes.
pub fn class_book_for(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
) -> Result<ClassBook, GradeError> {
    if !may_view_class(p, class_id) {
        return Err(GradeError::Forbidden);
    }
    let mut book = class_book(r, class_id, &settings(r)?)?;
    // Everything drawn from the book (its JSON, the học bạ, the xlsx and CSV exports) shows
    // the mã định danh only to whom the permission function allows, whoever else may one day
    // view a class.
    if !permits(p, Action::ViewPersonalIds { class: class_id }) {
        for s in &mut book.students {
            s.ma_dinh_danh.clear();
        }
    }
    Ok(book)
}

/// Every class book of a school year (what a term lock computes). Class by class: with the
/// class-roll index this measured faster than one pass over each whole table (64 vs 110 ms for
/// 1,500 students, bench/RESULTS.md).
pub fn school_books(
    r: &impl Read,
    year: &str,
    st: &Settings,
) -> Result<Vec<ClassBook>, GradeError> {
    classes_of_year(r, year)?
        .iter()
        .map(|c| class_book(r, &c.id, st))
        .collect()
}

/// The pure part of [`class_book`]: every term and year result from loaded rows and records
/// (the returned book's `rows` is left empty; `class_book` moves the loaded rows in).
pub fn compute_book(
    class: Class,
    subjects: Vec<SubjectSpec>,
    students: Vec<Student>,
    rows: &RowIndex,
    records: &HashMap<String, TermRecord>,
    summer: &HashMap<String, SummerRecord>,
    st: &Settings,
) -> ClassBook {
    let cfg = &st.tt22;
    let mut terms: [Vec<StudentTerm>; 2] = [Vec::new(), Vec::new()];
    let mut key = String::new();
    for (ti, term) in TermId::BOTH.into_iter().enumerate() {
        for s in &students {
            let outcomes: Vec<SubjectOutcome> = subjects
                .iter()
                .map(|spec| {
                    row_suffix_into(&mut key, &spec.id, term, &s.id);
                    subject_term(spec, rows.get(key.as_str()))
                })
                .collect();
            let rec = records.get(&record_key(&class.id, term, &s.id));
            terms[ti].push(StudentTerm {
                level: classify_outcomes(&outcomes, cfg),
                subjects: outcomes,
                conduct: rec.and_then(|r| r.conduct),
                absences: rec.map_or(0, |r| r.absences),
                excused: rec.and_then(|r| r.excused),
                comment: rec.map(|r| r.comment.clone()).unwrap_or_default(),
                qualities: rec.map(|r| r.qualities.clone()).unwrap_or_default(),
                quality_comments: rec.map(|r| r.quality_comments.clone()).unwrap_or_default(),
            });
        }
    }
    let [hk1, hk2] = terms;
    let specs = &subjects;
    let year = hk1
        .iter()
        .zip(&hk2)
        .zip(&students)
        .map(|((a, b), student)| {
            let subjects: Vec<SubjectOutcome> = a
                .subjects
                .iter()
                .zip(&b.subjects)
                .map(|(x, y)| subject_year(*x, *y))
                .collect();
            let conduct = match (a.conduct, b.conduct) {
                (Some(x), Some(y)) => Some(tt22::conduct_year(x, y)),
                _ => None,
            };
            let absences = a.absences + b.absences;
            let summer = summer
                .get(&format!("{}/{}", class.id, student.id))
                .cloned()
                .unwrap_or_default();
            let grade = class.grade;
            let input = tt22_year_input(grade, specs, &subjects, conduct, absences, &summer);
            // A summer result the year no longer owes (a corrected score took the student out
            // of the summer) does not count; saving one is refused (`save_summer`).
            let d = tt22::decide_year(&input, &st.tt22).unwrap_or_else(|_| {
                let bare = tt22::YearInput {
                    summer_conduct: None,
                    reassessed: vec![],
                    ..input
                };
                tt22::decide_year(&bare, &st.tt22).unwrap_or_default()
            });
            let hk2_record = records
                .get(&record_key(&class.id, TermId::Hk2, &student.id))
                .cloned()
                .unwrap_or_default();
            let primary = tt27_year_input(grade, specs, &subjects, &hk2_record)
                .and_then(|i| tt27::decide_year(&i, &st.tt27).ok());
            StudentYear {
                grade,
                subjects,
                level: d.level,
                conduct,
                absences,
                outcome: d.outcome,
                award: d.award,
                award_withheld: d.award_withheld,
                reassess: d.reassess,
                primary: primary.as_ref().map(|p| p.result),
                primary_award: primary.and_then(|p| p.award),
                recognised_by_class: hk2_record.recognised_by_class,
                summer,
                after_summer: d.after_summer,
            }
        })
        .collect();
    ClassBook {
        class,
        subjects,
        students,
        hk1,
        hk2,
        year,
        rows: HashMap::new(),
    }
}

/// One class × subject × term as the grid shows it.
#[derive(Serialize, Debug)]
pub struct Sheet {
    pub class: Class,
    pub subject: SubjectSpec,
    pub term: TermId,
    pub locked: bool,
    pub columns: Vec<String>,
    pub rows: Vec<SheetRow>,
    /// Whether this person may type in it (the assigned teacher).
    pub editable: bool,
}

#[derive(Serialize, Debug)]
pub struct SheetRow {
    pub student: String,
    pub name: String,
    pub cells: Vec<SheetCell>,
    pub result: String,
    /// The comment (column "nx").
    pub note: SheetCell,
}

#[derive(Serialize, Debug)]
pub struct SheetCell {
    pub column: String,
    pub text: String,
    pub version: u64,
}

/// The grid of one class × subject × term, for its teacher, the homeroom teacher or BGH.
pub fn sheet(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
    subject_id: &str,
    term: TermId,
) -> Result<Sheet, GradeError> {
    let editable = permits(
        p,
        Action::EnterScores {
            class: class_id,
            subject: subject_id,
        },
    );
    if !editable && !may_view_class(p, class_id) {
        return Err(GradeError::Forbidden);
    }
    let (class, _, subject) = class_subject(r, class_id, subject_id)?;
    let prefix = format!("{class_id}/{subject_id}/{}/", term.code());
    let rows: HashMap<String, ScoreRow> = r
        .scan(&ROWS, &prefix)?
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v))
        .collect();
    let columns = subject.columns();
    let rows = school::students_of_class(r, class_id)?
        .into_iter()
        .map(|s| {
            let row = rows.get(&s.id);
            let cells = columns
                .iter()
                .map(|c| {
                    let cell = row.and_then(|r| r.cells.get(c));
                    SheetCell {
                        column: c.clone(),
                        text: cell.map(|c| c.mark.text()).unwrap_or_default(),
                        version: cell.map_or(0, |c| c.version),
                    }
                })
                .collect();
            let note = row.and_then(|r| r.note.as_ref());
            SheetRow {
                result: subject_term(&subject, row).text(),
                student: s.id,
                name: s.full_name,
                cells,
                note: SheetCell {
                    column: NOTE_COLUMN.into(),
                    text: note.map(|n| n.text.clone()).unwrap_or_default(),
                    version: note.map_or(0, |n| n.version),
                },
            }
        })
        .collect();
    Ok(Sheet {
        locked: is_locked(r, &class.year, term)?,
        class,
        subject,
        term,
        columns,
        rows,
        editable,
    })
}

// ---------------------------------------------------------------------------------------------
// Writing cells.

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct CellEdit {
    pub student: String,
    pub column: String,
    /// What the teacher typed: "8,5", "8.5", "Đ", "B", "KB", "M" or "" to clear.
    pub input: String,
    /// The cell version the teacher's screen showed (0 for an empty cell).
    pub expected_version: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Saved {
    /// The cell now holds the mark (also when it already did: retries are idempotent).
    Saved {
        cell: Cell,
        text: String,
        result: SubjectOutcome,
        result_text: String,
    },
    /// The term is locked: the change waits for the homeroom teacher's verification.
    CorrectionPending { correction: Correction },
    /// The comment column was saved.
    NoteSaved { text: String, version: u64 },
}

fn clean_reason(reason: Option<String>) -> Result<Option<String>, GradeError> {
    let r = reason
        .map(|r| crate::text::nfc(r.trim()))
        .filter(|r| !r.is_empty());
    if r.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(GradeError::ReasonTooLong);
    }
    Ok(r)
}

/// Saves one cell typed by the subject teacher assigned to this class × subject.
pub fn save_cell(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    subject_id: &str,
    term: TermId,
    edit: CellEdit,
) -> Result<Saved, GradeError> {
    if !permits(
        p,
        Action::EnterScores {
            class: class_id,
            subject: subject_id,
        },
    ) {
        return Err(GradeError::NotYourClass);
    }
    let (class, st, spec) = class_subject(tx, class_id, subject_id)?;
    match tx.get(&school::STUDENTS, &edit.student)? {
        Some(s) if s.class_id == class_id => {}
        _ => return Err(GradeError::UnknownStudent(edit.student)),
    }
    if edit.column == NOTE_COLUMN {
        return save_note(tx, p, &class, subject_id, term, edit);
    }
    if !spec.columns().contains(&edit.column) {
        return Err(GradeError::UnknownColumn(edit.column));
    }
    let mark = parse_cell(&edit.input, &spec, &edit.column, &st)?;
    // Đ10 exempts GDTC (GDQP-AN at THPT) only; any other subject only for a student with a
    // disability (Đ11), the same rule `tram grades check` applies.
    if mark == Mark::Exempt
        && !tt22::exemptible(&spec.name, class.grade)
        && !school::student_profile(tx, &edit.student)?.disability
    {
        return Err(GradeError::NotExemptible(spec.name));
    }
    let reason = clean_reason(edit.reason)?;
    let key = row_key(class_id, subject_id, term, &edit.student);
    let mut row = tx.get(&ROWS, &key)?.unwrap_or_default();
    let current = row.cells.get(&edit.column).cloned();
    let current_mark = current.as_ref().map_or(Mark::Pending, |c| c.mark);
    let current_version = current.as_ref().map_or(0, |c| c.version);
    let locked = is_locked(tx, &class.year, term)?;
    if current_mark == mark && !locked {
        // A retry of a save that already landed, or a no-op: nothing to write.
        let cell = current.unwrap_or(Cell {
            mark,
            version: 0,
            by: p.id().into(),
            at: tx.now(),
            reason: None,
        });
        let result = subject_term(&spec, Some(&row));
        return Ok(Saved::Saved {
            text: mark.text(),
            cell,
            result,
            result_text: result.text(),
        });
    }
    if current_version != edit.expected_version {
        return Err(GradeError::Conflict { current });
    }
    if locked {
        // A correction that changes nothing would still count as a "chỗ sửa chữa" on the học bạ.
        if mark == current_mark {
            return Err(GradeError::Unchanged);
        }
        let reason = reason.ok_or(GradeError::ReasonRequired)?;
        let corrections = tx.scan(&CORRECTIONS, "")?;
        // A retried or double-sent save of the same change makes one request, not two.
        if let Some((_, same)) = corrections.iter().find(|(_, c)| {
            c.status == CorrectionStatus::Pending
                && c.class == class_id
                && c.subject == subject_id
                && c.term == term
                && c.student == edit.student
                && c.column == edit.column
                && c.to == mark
                && c.by == p.id()
        }) {
            return Ok(Saved::CorrectionPending {
                correction: same.clone(),
            });
        }
        let n = corrections.len() + 1;
        let correction = Correction {
            id: format!("sd{n:06}"),
            class: class_id.into(),
            subject: subject_id.into(),
            term,
            student: edit.student,
            column: edit.column,
            from: current_mark,
            to: mark,
            reason,
            by: p.id().into(),
            at: tx.now(),
            status: CorrectionStatus::Pending,
            decided_by: None,
            decided_at: None,
        };
        tx.put(
            &CORRECTIONS,
            &correction.id,
            &correction,
            "grades.correction.request",
        )?;
        return Ok(Saved::CorrectionPending { correction });
    }
    let cell = Cell {
        mark,
        version: current_version + 1,
        by: p.id().into(),
        at: tx.now(),
        reason,
    };
    row.cells.insert(edit.column, cell.clone());
    tx.put(&ROWS, &key, &row, "grades.cell")?;
    let result = subject_term(&spec, Some(&row));
    Ok(Saved::Saved {
        text: mark.text(),
        cell,
        result,
        result_text: result.text(),
    })
}

/// The subject teacher's comment on a student for the term. After the term is locked a change
/// needs a reason (kept in the audit log); comments do not change any result.
fn save_note(
    tx: &mut Tx<'_>,
    p: &Principal,
    class: &Class,
    subject_id: &str,
    term: TermId,
    edit: CellEdit,
) -> Result<Saved, GradeError> {
    let text = crate::text::nfc(edit.input.trim());
    if text.chars().count() > 500 {
        return Err(GradeError::NoteTooLong);
    }
    let key = row_key(&class.id, subject_id, term, &edit.student);
    let mut row = tx.get(&ROWS, &key)?.unwrap_or_default();
    let current = row.note.clone();
    if current.as_ref().map_or("", |n| n.text.as_str()) == text {
        return Ok(Saved::NoteSaved {
            text,
            version: current.map_or(0, |n| n.version),
        });
    }
    let version = current.as_ref().map_or(0, |n| n.version);
    if version != edit.expected_version {
        return Err(GradeError::NoteConflict { current });
    }
    let reason = clean_reason(edit.reason)?;
    if is_locked(tx, &class.year, term)? && reason.is_none() {
        return Err(GradeError::ReasonRequired);
    }
    row.note = (!text.is_empty()).then(|| Note {
        text: text.clone(),
        version: version + 1,
        by: p.id().into(),
        at: tx.now(),
    });
    tx.put(
        &ROWS,
        &key,
        &row,
        if reason.is_some() {
            "grades.note.corrected"
        } else {
            "grades.note"
        },
    )?;
    if let Some(r) = reason {
        tx.event(
            "grades.note.reason",
            &key,
            Some(serde_json::json!({ "reason": r })),
        );
    }
    Ok(Saved::NoteSaved {
        text,
        version: version + 1,
    })
}

/// Who may verify a correction to a locked term: always a second person. The class's homeroom
/// teacher verifies what a subject teacher asked for; a correction the homeroom teacher asked
/// for (or anyone else who cannot verify their own) is verified by BGH.
///
/// `homeroom` is the class's homeroom teacher (account id), if it has one.
pub fn may_decide_correction(
    p: &Principal,
    c: &Correction,
    homeroom: Option<&str>,
) -> Result<(), GradeError> {
    if c.by == p.id() {
        return Err(GradeError::SecondPersonNeeded);
    }
    // Deciding changes a locked grade: not by an account someone else set the password of this
    // week (auth::permission::Principal::quarantined).
    if p.quarantined {
        return Err(GradeError::Quarantined);
    }
    let asked_by_homeroom = homeroom.is_none_or(|h| h == c.by);
    if p.homeroom.contains(&c.class) || (p.is_bgh() && asked_by_homeroom) {
        Ok(())
    } else {
        Err(GradeError::NotHomeroom)
    }
}

/// The homeroom teacher (or BGH) verifies (applies) or rejects a correction to a locked term.
pub fn decide_correction(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    approve: bool,
) -> Result<Correction, GradeError> {
    let mut c = tx
        .get(&CORRECTIONS, id)?
        .ok_or_else(|| GradeError::UnknownCorrection(id.to_string()))?;
    let homeroom = class_of(tx, &c.class)?.homeroom;
    may_decide_correction(p, &c, homeroom.as_deref())?;
    if c.status != CorrectionStatus::Pending {
        return Err(GradeError::CorrectionDecided);
    }
    c.status = if approve {
        CorrectionStatus::Verified
    } else {
        CorrectionStatus::Rejected
    };
    c.decided_by = Some(p.id().to_string());
    c.decided_at = Some(tx.now());
    if approve {
        let key = row_key(&c.class, &c.subject, c.term, &c.student);
        let mut row = tx.get(&ROWS, &key)?.unwrap_or_default();
        let current = row.cells.get(&c.column).cloned();
        if current.as_ref().map_or(Mark::Pending, |x| x.mark) != c.from {
            return Err(GradeError::Conflict { current });
        }
        let version = current.map_or(0, |x| x.version) + 1;
        row.cells.insert(
            c.column.clone(),
            Cell {
                mark: c.to,
                version,
                by: c.by.clone(),
                at: tx.now(),
                reason: Some(c.reason.clone()),
            },
        );
        tx.put(&ROWS, &key, &row, "grades.cell.corrected")?;
        let class = class_of(tx, &c.class)?;
        refresh_results(tx, &class, c.term)?;
    }
    tx.put(
        &CORRECTIONS,
        id,
        &c,
        if approve {
            "grades.correction.verify"
        } else {
            "grades.correction.reject"
        },
    )?;
    Ok(c)
}

pub fn pending_corrections(r: &impl Read, p: &Principal) -> Result<Vec<Correction>, StoreError> {
    let mut homerooms: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for (_, c) in r.scan(&CORRECTIONS, "")? {
        if c.status != CorrectionStatus::Pending {
            continue;
        }
        if !homerooms.contains_key(&c.class) {
            let h = r.get(&school::CLASSES, &c.class)?.and_then(|k| k.homeroom);
            homerooms.insert(c.class.clone(), h);
        }
        let h = homerooms.get(&c.class).cloned().flatten();
        if may_decide_correction(p, &c, h.as_deref()).is_ok() || c.by == p.id() {
            out.push(c);
        }
    }
    Ok(out)
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RecordEdit {
    pub student: String,
    /// "Tốt", "Khá", "Đạt", "Chưa đạt" or "" to clear.
    #[serde(default)]
    pub conduct: Option<String>,
    #[serde(default)]
    pub absences: Option<u16>,
    /// Of the absences, có phép (the rest are không phép).
    #[serde(default)]
    pub excused: Option<u16>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Primary: quality or competence name → "Tốt" / "Đạt" / "Cần cố gắng" ("" clears).
    #[serde(default)]
    pub qualities: Option<BTreeMap<String, String>>,
    /// Primary: quality or competence name → the GVCN's comment ("" clears). Beside
    /// `qualities`, so the levels-only body of earlier clients keeps its meaning.
    #[serde(default)]
    pub quality_comments: Option<BTreeMap<String, String>>,
    /// Primary, term II: the class's recognition for "Học sinh Tiêu biểu" (TT27 Đ13 k1 a).
    #[serde(default)]
    pub recognised_by_class: Option<bool>,
}

/// Conduct, absences and comment, decided by the homeroom teacher (Đ8, Đ20).
pub fn save_record(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    term: TermId,
    e: RecordEdit,
) -> Result<TermRecord, GradeError> {
    if !p.homeroom.iter().any(|c| c == class_id) {
        return Err(GradeError::NotHomeroom);
    }
    let class = class_of(tx, class_id)?;
    if is_locked(tx, &class.year, term)? {
        return Err(GradeError::AlreadyLocked(term.label()));
    }
    match tx.get(&school::STUDENTS, &e.student)? {
        Some(s) if s.class_id == class_id => {}
        _ => return Err(GradeError::UnknownStudent(e.student)),
    }
    let key = record_key(class_id, term, &e.student);
    let mut rec = tx.get(&RECORDS, &key)?.unwrap_or_default();
    if let Some(c) = e.conduct {
        rec.conduct = if c.trim().is_empty() {
            None
        } else {
            Some(Level::parse(&c).ok_or(GradeError::BadConduct(c))?)
        };
    }
    if let Some(a) = e.absences {
        if a > 365 {
            return Err(GradeError::BadAbsences);
        }
        rec.absences = a;
    }
    if let Some(x) = e.excused {
        rec.excused = Some(x);
    }
    if let Some(x) = rec.excused
        && x > rec.absences
    {
        return Err(GradeError::ExcusedOverTotal {
            excused: x,
            total: rec.absences,
        });
    }
    if let Some(c) = e.comment {
        let c = crate::text::nfc(c.trim());
        if c.chars().count() > 1000 {
            return Err(GradeError::Import(
                "Nhận xét quá dài (tối đa 1000 kí tự)".into(),
            ));
        }
        rec.comment = c;
    }
    if let Some(q) = e.qualities {
        for (name, level) in q {
            let name = crate::text::nfc(name.trim());
            if !tt27::QUALITIES.contains(&name.as_str())
                && !tt27::COMPETENCES.contains(&name.as_str())
            {
                return Err(GradeError::UnknownQuality(name));
            }
            if level.trim().is_empty() {
                rec.qualities.remove(&name);
            } else {
                let l = QualityLevel::parse(&level).ok_or(GradeError::BadQuality(level))?;
                rec.qualities.insert(name, l);
            }
        }
    }
    if let Some(q) = e.quality_comments {
        for (name, comment) in q {
            let name = crate::text::nfc(name.trim());
            if !tt27::QUALITIES.contains(&name.as_str())
                && !tt27::COMPETENCES.contains(&name.as_str())
            {
                return Err(GradeError::UnknownQuality(name));
            }
            let c = crate::text::nfc(comment.trim());
            if c.chars().count() > 500 {
                return Err(GradeError::NoteTooLong);
            }
            if c.is_empty() {
                rec.quality_comments.remove(&name);
            } else {
                rec.quality_comments.insert(name, c);
            }
        }
    }
    if let Some(b) = e.recognised_by_class {
        // The recognition is of the school year, voted at its end: term II's record holds it.
        if term != TermId::Hk2 {
            return Err(GradeError::Import(
                "Lớp bình chọn học sinh tiêu biểu vào cuối năm học (học kì II)".into(),
            ));
        }
        rec.recognised_by_class = b;
    }
    rec.version += 1;
    tx.put(&RECORDS, &key, &rec, "grades.record")?;
    Ok(rec)
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SummerEdit {
    pub student: String,
    /// Re-evaluated conduct after summer training ("" clears) — the homeroom teacher.
    #[serde(default)]
    pub conduct: Option<String>,
    /// A re-assessed subject and its result as typed — its teacher or the homeroom teacher.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub input: Option<String>,
}

/// Records a summer result (Đ13, Đ14) for a student the year sent to the summer. When term II is
/// locked the stored year result is refreshed (and relayed with a higher version).
pub fn save_summer(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    e: SummerEdit,
) -> Result<SummerRecord, GradeError> {
    let class = class_of(tx, class_id)?;
    let st = settings(tx)?;
    let book = class_book(tx, class_id, &st)?;
    let i = book
        .students
        .iter()
        .position(|s| s.id == e.student)
        .ok_or_else(|| GradeError::UnknownStudent(e.student.clone()))?;
    let y = &book.year[i];
    let homeroom = p.homeroom.contains(&class.id);
    // Nothing is read for, or written by, someone with no role in the class: the homeroom
    // teacher (conduct, any subject) or a teacher of a subject being re-assessed (that subject).
    let teaches_here = p.teaches.iter().any(|(c, _)| c == class_id);
    if !homeroom && !teaches_here {
        return Err(GradeError::NotYourClass);
    }
    if e.conduct.is_none() && e.subject.is_none() {
        return Err(GradeError::NothingToSave);
    }
    let mut rec = y.summer.clone();
    if let Some(c) = e.conduct {
        if !homeroom {
            return Err(GradeError::NotHomeroom);
        }
        // Only a year conduct of Chưa đạt is re-evaluated after summer training (Đ13); for
        // anyone else a summer conduct would be an input error, not a retention.
        if !matches!(
            y.outcome,
            Some(Outcome::SummerConduct | Outcome::SummerBoth)
        ) {
            return Err(GradeError::NotInSummer(book.students[i].full_name.clone()));
        }
        rec.conduct = if c.trim().is_empty() {
            None
        } else {
            Some(Level::parse(&c).ok_or(GradeError::BadConduct(c))?)
        };
    }
    if let Some(subject) = e.subject {
        let si = book
            .subjects
            .iter()
            .position(|s| s.id == subject)
            .ok_or(GradeError::UnknownSubject(subject.clone()))?;
        if !homeroom
            && !permits(
                p,
                Action::EnterScores {
                    class: class_id,
                    subject: &subject,
                },
            )
        {
            return Err(GradeError::NotYourClass);
        }
        if !y.reassess.contains(&si) {
            return Err(GradeError::NotInSummer(format!(
                "{} — {}",
                book.students[i].full_name, book.subjects[si].name
            )));
        }
        let input = e.input.unwrap_or_default();
        match parse_mark(&input, book.subjects[si].kind)? {
            Mark::Pending => {
                rec.reassessed.remove(&subject);
            }
            m @ (Mark::Score(_) | Mark::Pass(_) | Mark::ZeroNoMakeUp) => {
                rec.reassessed.insert(subject, m);
            }
            _ => {
                return Err(GradeError::Import(
                    "Kết quả kiểm tra lại phải là điểm hoặc Đ/CĐ".into(),
                ));
            }
        }
    }
    rec.version += 1;
    tx.put(
        &SUMMER,
        &format!("{class_id}/{}", e.student),
        &rec,
        "grades.summer",
    )?;
    refresh_results(tx, &class, TermId::Hk2)?;
    Ok(rec)
}

// ---------------------------------------------------------------------------------------------
// Locking terms and the stored results.

/// The sector-database code of a level (mahocluc, mahanhkiem): 1 Tốt, 2 Khá, 3 Đạt, 4 Chưa đạt.
pub fn level_code(l: Level) -> u8 {
    match l {
        Level::Tot => 1,
        Level::Kha => 2,
        Level::Dat => 3,
        Level::ChuaDat => 4,
    }
}

/// The stored results a class's book gives for a term (and the year, after term II).
fn results_of(
    book: &ClassBook,
    term: TermId,
    matruong: &str,
    rule: RuleVersion,
) -> Vec<(String, StoredResult)> {
    let year = &book.class.year;
    let mut out = Vec::new();
    for (i, s) in book.students.iter().enumerate() {
        let diem = |outcomes: &[SubjectOutcome]| {
            book.subjects
                .iter()
                .zip(outcomes)
                .map(|(sp, o)| (sp.id.clone(), o.relay_value()))
                .collect()
        };
        let t = &book.term(term)[i];
        let base = StoredResult {
            rule_version: rule,
            matruong: matruong.into(),
            makhoi: book.class.grade,
            malop: book.class.id.clone(),
            mahocsinh: s.id.clone(),
            sodinhdanh: s.ma_dinh_danh.clone(),
            hocky: if term == TermId::Hk1 { "1" } else { "2" }.into(),
            diemmon: diem(&t.subjects),
            mahocluc: t.level.map(|c| level_code(c.level)),
            mahanhkiem: t.conduct.map(level_code),
            songaynghi: t.absences,
            danhhieu: None,
            ketqua: None,
            colenlop: None,
            corenluyenlai: None,
            nhanxet: t.comment.clone(),
            phienban: 1,
        };
        out.push((format!("{year}/{}/{}", term.code(), s.id), base.clone()));
        if term == TermId::Hk2 {
            let y = &book.year[i];
            out.push((
                format!("{year}/cn/{}", s.id),
                StoredResult {
                    hocky: "CN".into(),
                    diemmon: diem(&y.subjects),
                    mahocluc: y
                        .after_summer
                        .map(|a| level_code(a.level))
                        .or(y.level.map(|c| level_code(c.level))),
                    mahanhkiem: y
                        .after_summer
                        .map(|a| level_code(a.conduct))
                        .or(y.conduct.map(level_code)),
                    songaynghi: y.absences,
                    danhhieu: y.award_label().map(String::from),
                    // The decision that stands: after the summer once it is recorded.
                    ketqua: y
                        .final_outcome()
                        .map(|o| o.code().to_string())
                        .or_else(|| y.primary.map(|r| r.code().to_string())),
                    // Undecided while the principal has not ruled (Đ12 k4).
                    colenlop: y
                        .final_outcome()
                        .filter(|o| *o != Outcome::PrincipalDecides)
                        .map(|o| o == Outcome::Promoted)
                        .or_else(|| y.primary.map(|r| r.completed())),
                    corenluyenlai: y
                        .outcome
                        .map(|o| matches!(o, Outcome::SummerConduct | Outcome::SummerBoth)),
                    nhanxet: String::new(),
                    ..base
                },
            ));
        }
    }
    out
}

/// Rewrites the stored results of one class for a locked term, only where they changed (each
/// changed one gets a higher `phienban` and goes to the outbox). Returns how many changed.
fn refresh_results(tx: &mut Tx<'_>, class: &Class, term: TermId) -> Result<usize, GradeError> {
    let Some(lock) = term_lock(tx, &class.year, term)? else {
        return Ok(0);
    };
    let st = settings(tx)?;
    let book = class_book(tx, &class.id, &st)?;
    store_results(tx, &book, term, lock.rule_version)
}

/// Writes the results of one class book, only where they changed.
fn store_results(
    tx: &mut Tx<'_>,
    book: &ClassBook,
    term: TermId,
    rule: RuleVersion,
) -> Result<usize, GradeError> {
    let matruong = school::school_info(tx)?.map(|i| i.code).unwrap_or_default();
    let mut changed = 0;
    for (key, mut fresh) in results_of(book, term, &matruong, rule) {
        let old = tx.get(&RESULTS, &key)?;
        if let Some(old) = &old {
            fresh.phienban = old.phienban;
            if *old == fresh {
                continue;
            }
            fresh.phienban = old.phienban + 1;
        }
        tx.put(&RESULTS, &key, &fresh, "grades.result")?;
        changed += 1;
    }
    Ok(changed)
}

#[derive(Serialize, Debug)]
pub struct LockReport {
    pub classes: usize,
    pub students: usize,
    pub incomplete: usize,
    pub results_written: usize,
    pub rule_version: RuleVersion,
}

fn classes_of_year(r: &impl Read, year: &str) -> Result<Vec<Class>, StoreError> {
    Ok(school::list(r, &school::CLASSES)?
        .into_iter()
        .filter(|c| c.year == year)
        .collect())
}

/// How many students of these books still have an incomplete term (subjects, and conduct or
/// qualities).
fn count_incomplete(books: &[ClassBook], term: TermId) -> usize {
    books
        .iter()
        .map(|b| {
            (0..b.students.len())
                .filter(|i| !b.is_complete(term, *i))
                .count()
        })
        .sum()
}

/// What one class still lacks before a term lock (issue 20 item 11): the subjects with missing
/// marks, and how many students lack their conduct (secondary) or qualities (primary, term II).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct IncompleteClass {
    pub class: String,
    pub class_name: String,
    /// Students with anything missing.
    pub students: usize,
    /// Subject names with at least one student's marks missing, in the book's order.
    pub subjects: Vec<String>,
    /// Students whose subjects are all in but whose conduct (or qualities) is not.
    pub without_record: usize,
}

/// The classes of these books with an incomplete term, in the books' order.
pub fn incomplete_classes(books: &[ClassBook], term: TermId) -> Vec<IncompleteClass> {
    let mut out = vec![];
    for b in books {
        let mut subjects = vec![false; b.subjects.len()];
        let (mut students, mut without_record) = (0, 0);
        for i in 0..b.students.len() {
            if b.is_complete(term, i) {
                continue;
            }
            students += 1;
            let mut subjects_in = true;
            for (j, o) in b.term(term)[i].subjects.iter().enumerate() {
                let done = if b.is_primary() {
                    matches!(o, SubjectOutcome::Primary(..) | SubjectOutcome::Exempt)
                } else {
                    !matches!(o, SubjectOutcome::Incomplete(_))
                };
                if !done {
                    subjects[j] = true;
                    subjects_in = false;
                }
            }
            without_record += usize::from(subjects_in);
        }
        if students > 0 {
            out.push(IncompleteClass {
                class: b.class.id.clone(),
                class_name: b.class.name.clone(),
                students,
                subjects: b
                    .subjects
                    .iter()
                    .zip(&subjects)
                    .filter(|(_, m)| **m)
                    .map(|(s, _)| s.name.clone())
                    .collect(),
                without_record,
            });
        }
    }
    out
}

/// BGH locks a term for the whole school: results are computed by the current rule version,
/// stored and queued for the district. Refuses while students are incomplete unless `force`.
pub fn lock_term(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    term: TermId,
    force: bool,
) -> Result<LockReport, GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    if is_locked(tx, year, term)? {
        return Err(GradeError::AlreadyLocked(term.label()));
    }
    let st = settings(tx)?;
    // One pass over the school: the same books are counted and then stored.
    let books = school_books(tx, year, &st)?;
    let incomplete = count_incomplete(&books, term);
    if incomplete > 0 && !force {
        return Err(GradeError::Incomplete(incomplete));
    }
    let (classes, students) = (books.len(), books.iter().map(|b| b.students.len()).sum());
    let rule_version = RuleVersion::current_for_primary(is_primary(tx)?);
    let lock = TermLock {
        locked: true,
        rule_version,
        by: p.id().into(),
        at: tx.now(),
        reason: None,
    };
    tx.put(&LOCKS, &lock_key(year, term), &lock, "grades.term.lock")?;
    let mut results_written = 0;
    for book in &books {
        results_written += store_results(tx, book, term, rule_version)?;
    }
    Ok(LockReport {
        classes,
        students,
        incomplete,
        results_written,
        rule_version,
    })
}

/// BGH reopens a locked term, with a reason (audited).
pub fn unlock_term(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    term: TermId,
    reason: Option<String>,
) -> Result<(), GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    let reason = clean_reason(reason)?.ok_or(GradeError::ReasonRequired)?;
    let mut lock = term_lock(tx, year, term)?
        .filter(|l| l.locked)
        .ok_or(GradeError::NotLocked(term.label()))?;
    lock.locked = false;
    lock.by = p.id().into();
    lock.at = tx.now();
    lock.reason = Some(reason);
    tx.put(&LOCKS, &lock_key(year, term), &lock, "grades.term.unlock")?;
    Ok(())
}

/// One stored result that a recomputation would change.
#[derive(Serialize, Debug)]
pub struct ResultChange {
    pub key: String,
    pub student: String,
    pub before: Option<StoredResult>,
    pub after: StoredResult,
}

/// What recomputing a locked term with `rule` would change — shown to BGH before applying.
pub fn recompute_preview(
    r: &impl Read,
    year: &str,
    term: TermId,
    rule: RuleVersion,
) -> Result<Vec<ResultChange>, GradeError> {
    if !is_locked(r, year, term)? {
        return Err(GradeError::NotLocked(term.label()));
    }
    let st = settings(r)?;
    let matruong = school::school_info(r)?.map(|i| i.code).unwrap_or_default();
    let mut out = Vec::new();
    for book in school_books(r, year, &st)? {
        for (key, mut fresh) in results_of(&book, term, &matruong, rule) {
            let old = r.get(&RESULTS, &key)?;
            if let Some(o) = &old {
                fresh.phienban = o.phienban;
            }
            if old.as_ref() != Some(&fresh) {
                let student = fresh.mahocsinh.clone();
                out.push(ResultChange {
                    key,
                    student,
                    before: old,
                    after: fresh,
                });
            }
        }
    }
    Ok(out)
}

/// Applies a recomputation BGH asked for: the term now records `rule`.
pub fn recompute_apply(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    term: TermId,
    rule: RuleVersion,
) -> Result<usize, GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    let mut lock = term_lock(tx, year, term)?
        .filter(|l| l.locked)
        .ok_or(GradeError::NotLocked(term.label()))?;
    lock.rule_version = rule;
    lock.by = p.id().into();
    lock.at = tx.now();
    tx.put(
        &LOCKS,
        &lock_key(year, term),
        &lock,
        "grades.term.recompute",
    )?;
    let st = settings(tx)?;
    let mut n = 0;
    for book in school_books(tx, year, &st)? {
        n += store_results(tx, &book, term, rule)?;
    }
    Ok(n)
}

pub fn save_settings(tx: &mut Tx<'_>, p: &Principal, s: Settings) -> Result<(), GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    if !(1..=10).contains(&s.tt22.comment_regular_count)
        || s.regular_count.values().any(|n| !(1..=10).contains(n))
    {
        return Err(GradeError::Import(
            "Số lần đánh giá thường xuyên phải từ 1 đến 10".into(),
        ));
    }
    tx.put(&SETTINGS, "school", &s, "grades.settings")?;
    Ok(())
}

#[cfg(test)]
mod tests;
