//! The department's records (hồ sơ tổ chuyên môn): the annual education plans of CV 5512 —
//! Phụ lục I (the department's teaching plan of a subject and grade), Phụ lục II (the school's
//! educational activities) and Phụ lục III (a teacher's plan) — and the minutes of the
//! department's meetings (sổ ghi chép sinh hoạt chuyên môn).
//!
//! Plans and minutes are signed by `lessons`' workflow ([`crate::lessons::sign_document`]): the
//! same device keys, statements, states and checks as lesson plans; each kind names itself in
//! its signed content (`format`). Every version is kept; a signed one never changes.
//!
//! ```text
//! plan:    Draft --submit (author signs)--> Submitted --approve (BGH signs)--> Approved
//!                                                    \--return with reason--> Returned
//!          Returned / Approved --edit--> a new Draft version
//! minutes: Draft --sign (the chair: the department head)--> Approved (locked)
//!          Approved --correct--> a new Draft version, signed again; the old one kept
//! ```

pub mod archive;
pub mod migrate;
pub mod pages;
pub mod pdf;
pub mod routes;

use serde::{Deserialize, Serialize};

use crate::auth::{ACCOUNTS, Action, Principal, Role, permits};
use crate::lessons::sign::{SignAction, Signature, Signer};
use crate::lessons::{LessonError, Signable, State};
use crate::school::{DEPARTMENTS, SUBJECTS};
use crate::store::{AuditPolicy, Collection, Read, StoreError, Tx};
use crate::text::nfc;

#[derive(Debug, thiserror::Error)]
pub enum DeptError {
    #[error("{0}")]
    Invalid(String),
    #[error("Không tìm thấy hồ sơ của tổ.")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    State(String),
    /// Goes through only when confirmed ([`CONFIRM_AMEND`]): what it will do, as a question.
    #[error("{0}")]
    Confirm(String),
    /// The lesson plans' own refusals: the signing workflow's (no key, a wrong PIN, content
    /// changed) and a lesson plan's (not the teacher's, waiting for review).
    #[error(transparent)]
    Lessons(#[from] LessonError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(m: impl Into<String>) -> DeptError {
    DeptError::Invalid(m.into())
}

/// Which form of CV 5512 a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Phụ lục I: kế hoạch dạy học môn học của tổ chuyên môn.
    Pl1,
    /// Phụ lục II: kế hoạch tổ chức các hoạt động giáo dục.
    Pl2,
    /// Phụ lục III: kế hoạch giáo dục của giáo viên.
    Pl3,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::Pl1 => "KẾ HOẠCH DẠY HỌC CỦA TỔ CHUYÊN MÔN",
            Kind::Pl2 => "KẾ HOẠCH TỔ CHỨC CÁC HOẠT ĐỘNG GIÁO DỤC",
            Kind::Pl3 => "KẾ HOẠCH GIÁO DỤC CỦA GIÁO VIÊN",
        }
    }
    pub fn short(self) -> &'static str {
        match self {
            Kind::Pl1 => "Phụ lục I",
            Kind::Pl2 => "Phụ lục II",
            Kind::Pl3 => "Phụ lục III",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pl1 => "pl1",
            Kind::Pl2 => "pl2",
            Kind::Pl3 => "pl3",
        }
    }
    /// Whether the lines must add up to the subject's periods per year (PL I, PL III).
    fn counts_periods(self) -> bool {
        !matches!(self, Kind::Pl2)
    }
}

/// One line of a plan. PL I and III fill bài học / chủ đề, số tiết, thời điểm, thiết bị dạy
/// học and địa điểm; PL II fills chủ đề / hoạt động, yêu cầu cần đạt, số tiết, thời điểm, chủ
/// trì, phối hợp and điều kiện thực hiện.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Line {
    pub topic: String,
    pub requirement: String,
    pub periods: u16,
    /// Thời điểm: "Tuần 1", "Tháng 9".
    pub when: String,
    pub equipment: String,
    pub place: String,
    pub lead: String,
    pub partners: String,
    pub conditions: String,
}

/// One version of a plan: its header and lines, what signed it, its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanVersion {
    pub plan: String,
    pub number: u32,
    pub kind: Kind,
    pub author: String,
    pub year: String,
    pub department: String,
    /// Empty for PL II.
    pub subject: String,
    pub grade: u8,
    /// PL III: the class taught.
    pub class: String,
    /// PL II: the plan's own title (the school's activities of a year).
    pub title: String,
    pub lines: Vec<Line>,
    pub state: State,
    pub created_at: String,
    pub updated_at: String,
    pub digest: Option<String>,
    #[serde(default)]
    pub signatures: Vec<Signature>,
    /// Why BGH returned it.
    pub returned: Option<String>,
}

#[derive(Serialize)]
struct PlanContent<'a> {
    format: &'static str,
    kind: Kind,
    plan: &'a str,
    version: u32,
    author: &'a str,
    year: &'a str,
    department: &'a str,
    subject: &'a str,
    grade: u8,
    class: &'a str,
    title: &'a str,
    lines: &'a [Line],
}

impl Signable for PlanVersion {
    fn doc_id(&self) -> &str {
        &self.plan
    }
    fn number(&self) -> u32 {
        self.number
    }
    fn content(&self) -> Vec<u8> {
        serde_json::to_vec(&PlanContent {
            format: "tram.dept-plan/1",
            kind: self.kind,
            plan: &self.plan,
            version: self.number,
            author: &self.author,
            year: &self.year,
            department: &self.department,
            subject: &self.subject,
            grade: self.grade,
            class: &self.class,
            title: &self.title,
            lines: &self.lines,
        })
        .expect("serialisable")
    }
    fn recorded_digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
    fn record(&mut self, digest: String, sig: Signature, state: State, at: &str) {
        self.digest = Some(digest);
        self.signatures.push(sig);
        self.state = state;
        self.updated_at = at.to_string();
    }
}

/// A plan as lists see it: the current version's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub kind: Kind,
    pub author: String,
    pub author_name: String,
    pub year: String,
    pub department: String,
    pub subject: String,
    pub grade: u8,
    pub class: String,
    pub title: String,
    pub state: State,
    pub version: u32,
    pub approved_version: Option<u32>,
    /// The reason BGH gave when it was returned.
    pub returned: Option<String>,
    pub updated_at: String,
}

/// Minutes of one meeting (biên bản sinh hoạt chuyên môn), one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinutesVersion {
    pub minutes: String,
    pub number: u32,
    pub department: String,
    /// The meeting's day, "2026-09-14".
    pub date: String,
    /// Account ids, each a member of the department.
    pub attendees: Vec<String>,
    pub agenda: String,
    pub content: String,
    pub conclusions: String,
    /// Who wrote this version (the head or the secretary).
    pub writer: String,
    pub state: State,
    pub created_at: String,
    pub updated_at: String,
    pub digest: Option<String>,
    #[serde(default)]
    pub signatures: Vec<Signature>,
}

#[derive(Serialize)]
struct MinutesContent<'a> {
    format: &'static str,
    minutes: &'a str,
    version: u32,
    department: &'a str,
    date: &'a str,
    attendees: &'a [String],
    agenda: &'a str,
    content: &'a str,
    conclusions: &'a str,
    writer: &'a str,
}

impl Signable for MinutesVersion {
    fn doc_id(&self) -> &str {
        &self.minutes
    }
    fn number(&self) -> u32 {
        self.number
    }
    fn content(&self) -> Vec<u8> {
        serde_json::to_vec(&MinutesContent {
            format: "tram.dept-minutes/1",
            minutes: &self.minutes,
            version: self.number,
            department: &self.department,
            date: &self.date,
            attendees: &self.attendees,
            agenda: &self.agenda,
            content: &self.content,
            conclusions: &self.conclusions,
            writer: &self.writer,
        })
        .expect("serialisable")
    }
    fn recorded_digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
    fn record(&mut self, digest: String, sig: Signature, state: State, at: &str) {
        self.digest = Some(digest);
        self.signatures.push(sig);
        self.state = state;
        self.updated_at = at.to_string();
    }
}

/// Minutes as lists see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minutes {
    pub id: String,
    pub department: String,
    pub date: String,
    pub agenda: String,
    pub state: State,
    pub version: u32,
    /// The newest signed version.
    pub signed_version: Option<u32>,
    pub updated_at: String,
}

pub const PLANS: Collection<Plan> = Collection::new("dept.plans.v1", AuditPolicy::Values, None);
/// "{plan}/{version:04}". Audited by digest: the transitions carry their own events.
pub const PLAN_VERSIONS: Collection<PlanVersion> =
    Collection::new("dept.plan_versions.v1", AuditPolicy::Digest, None);
pub const MINUTES: Collection<Minutes> =
    Collection::new("dept.minutes.v1", AuditPolicy::Values, None);
/// "{minutes}/{version:04}".
pub const MINUTES_VERSIONS: Collection<MinutesVersion> =
    Collection::new("dept.minutes_versions.v1", AuditPolicy::Digest, None);
/// Department id → the account the head named secretary (thư ký) of its meetings.
pub const SECRETARIES: Collection<String> =
    Collection::new("dept.secretaries.v1", AuditPolicy::Values, None);

/// Lesson plan id → what its link pointed at when it was made ([`LinkTarget`]).
pub const LINKS: Collection<LinkTarget> =
    Collection::new("dept.links.v1", AuditPolicy::Values, None);

pub const TABLES: &[&str] = &[
    PLANS.name,
    PLAN_VERSIONS.name,
    MINUTES.name,
    MINUTES_VERSIONS.name,
    SECRETARIES.name,
    LINKS.name,
];

/// What a lesson plan's link ("{plan}#{n}") pointed at when it was made: the approved
/// version of the Phụ lục III and that line's lesson. A link follows the lesson, not the line
/// number (review r14 #4b): re-approved with the line changed, the link is shown as "Phụ lục
/// III đã thay đổi"; the same lesson under another number is followed there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkTarget {
    /// "{plan}#{n}", as the lesson plan stores it.
    pub line: String,
    /// The Phụ lục III's approved version the link was made against.
    pub version: u32,
    /// The line's bài học / chủ đề and periods then.
    pub topic: String,
    pub periods: u16,
}

impl LinkTarget {
    fn of(line: &str, version: u32, l: &Line) -> Self {
        LinkTarget {
            line: line.to_string(),
            version,
            topic: l.topic.clone(),
            periods: l.periods,
        }
    }

    /// The same lesson: the same bài học (spacing and case aside) and periods.
    fn same_lesson(&self, l: &Line) -> bool {
        crate::text::fold(self.topic.trim()) == crate::text::fold(l.topic.trim())
            && self.periods == l.periods
    }
}

fn key(id: &str, n: u32) -> String {
    format!("{id}/{n:04}")
}

fn now_str(tx: &Tx<'_>) -> String {
    tx.now().to_string()
}

/// Whether `p` heads `department` (and may act as its head now: not in quarantine).
pub(crate) fn heads(p: &Principal, department: &str) -> bool {
    p.has(Role::DeptHead)
        && p.account.department.as_deref() == Some(department)
        && permits(p, Action::ReviewLessonPlans { department })
}

/// The accounts of a department (its members), enabled ones only.
pub fn members(r: &impl Read, department: &str) -> Result<Vec<(String, String)>, StoreError> {
    Ok(r.scan(&ACCOUNTS, "")?
        .into_iter()
        .filter(|(_, a)| !a.disabled && a.department.as_deref() == Some(department))
        .map(|(id, a)| (id, a.full_name))
        .collect())
}

fn name_of(r: &impl Read, id: &str) -> Result<String, StoreError> {
    Ok(r.get(&ACCOUNTS, id)?
        .map(|a| a.full_name)
        .unwrap_or_else(|| id.to_string()))
}

// ---- plans ----

/// What the author types: the header and the lines.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PlanInput {
    pub kind: Option<Kind>,
    pub year: String,
    pub department: Option<String>,
    pub subject: String,
    pub grade: u8,
    pub class: String,
    pub title: String,
    pub lines: Vec<Line>,
    /// The lines as the page's text box gives them: one a line, the columns split by "|".
    pub lines_text: Option<String>,
}

/// "Bài 1: Tập hợp | 2 | Tuần 1 | Máy chiếu | Lớp học" → a line (PL I, III); PL II's columns
/// are chủ đề | yêu cầu cần đạt | số tiết | thời điểm | chủ trì | phối hợp | điều kiện.
pub fn parse_lines(kind: Kind, text: &str) -> Result<Vec<Line>, DeptError> {
    let mut out = vec![];
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let c: Vec<String> = raw.split('|').map(|x| x.trim().to_string()).collect();
        let cell = |k: usize| c.get(k).cloned().unwrap_or_default();
        let periods_at = if kind == Kind::Pl2 { 2 } else { 1 };
        let periods = parse_periods(kind, i + 1, &cell(periods_at))?;
        out.push(match kind {
            Kind::Pl2 => Line {
                topic: cell(0),
                requirement: cell(1),
                periods,
                when: cell(3),
                lead: cell(4),
                partners: cell(5),
                conditions: cell(6),
                ..Line::default()
            },
            _ => Line {
                topic: cell(0),
                periods,
                when: cell(2),
                equipment: cell(3),
                place: cell(4),
                ..Line::default()
            },
        });
    }
    Ok(out)
}

/// The most periods one line may carry (as before): a chapter takes a few dozen, a THCS
/// subject's whole year at most 140; more is a typo.
pub const MAX_LINE_PERIODS: u16 = 200;

/// The periods column of line `n` as typed: a whole number from 1 (0 too in a PL II, whose
/// activities — a school event — may take no class period) to [`MAX_LINE_PERIODS`]; anything
/// else is refused saying what to write (review r14 #10: "-10" was told to be "an integer").
fn parse_periods(kind: Kind, n: usize, typed: &str) -> Result<u16, DeptError> {
    let least = least_periods(kind);
    let ask = if least == 0 {
        format!("ghi số tiết là một số nguyên từ 0 đến {MAX_LINE_PERIODS}")
    } else {
        format!("ghi số tiết là một số nguyên dương, từ 1 đến {MAX_LINE_PERIODS}")
    };
    let shown: String = typed.chars().take(20).collect();
    match typed.parse::<i64>() {
        _ if typed.is_empty() => Err(invalid(format!("Dòng {n}: chưa có số tiết; {ask}."))),
        Ok(p) if p >= i64::from(least) && p <= i64::from(MAX_LINE_PERIODS) => Ok(p as u16),
        Ok(_) => Err(invalid(format!(
            "Dòng {n}: số tiết “{shown}” không hợp lệ; {ask}."
        ))),
        Err(_) => Err(invalid(format!(
            "Dòng {n}: số tiết “{shown}” không phải là số; {ask}."
        ))),
    }
}

/// The fewest periods a line may have: a lesson (PL I, III) takes at least one.
fn least_periods(kind: Kind) -> u16 {
    if kind == Kind::Pl2 { 0 } else { 1 }
}

fn clean(s: &mut String, what: &str, max: usize) -> Result<(), DeptError> {
    *s = nfc(s.trim());
    if s.chars().count() > max {
        return Err(invalid(format!("{what}: tối đa {max} ký tự.")));
    }
    Ok(())
}

fn check_lines(kind: Kind, lines: &mut [Line]) -> Result<(), DeptError> {
    if lines.len() > 400 {
        return Err(invalid("Tối đa 400 dòng trong một kế hoạch."));
    }
    for (i, l) in lines.iter_mut().enumerate() {
        for (s, what) in [
            (&mut l.topic, "Bài học / chủ đề"),
            (&mut l.requirement, "Yêu cầu cần đạt"),
            (&mut l.when, "Thời điểm"),
            (&mut l.equipment, "Thiết bị dạy học"),
            (&mut l.place, "Địa điểm"),
            (&mut l.lead, "Chủ trì"),
            (&mut l.partners, "Phối hợp"),
            (&mut l.conditions, "Điều kiện thực hiện"),
        ] {
            clean(s, what, 2000)?;
        }
        if l.topic.is_empty() {
            return Err(invalid(format!(
                "Dòng {}: ghi tên bài học / chủ đề.",
                i + 1
            )));
        }
        // The JSON form's lines, held to the text box's rule.
        parse_periods(kind, i + 1, &l.periods.to_string())?;
    }
    Ok(())
}

/// The subject's periods per year for a grade, from the school's subject table (the admin's
/// subjects page; defaults from the 2018 programme, DOMAIN.md §1 — [U], configurable).
pub fn required_periods(
    r: &impl Read,
    subject: &str,
    grade: u8,
) -> Result<Option<u16>, StoreError> {
    Ok(r.get(&SUBJECTS, subject)?
        .and_then(|s| s.periods_per_year.get(&grade).copied()))
}

/// "Tổng số tiết 137, chương trình quy định 140: thiếu 3 tiết" — `None` when they agree.
pub fn periods_mismatch(total: u32, required: u32) -> Option<String> {
    use std::cmp::Ordering::*;
    match total.cmp(&required) {
        Equal => None,
        Less => Some(format!(
            "Tổng số tiết {total}, chương trình quy định {required}: thiếu {} tiết.",
            required - total
        )),
        Greater => Some(format!(
            "Tổng số tiết {total}, chương trình quy định {required}: thừa {} tiết.",
            total - required
        )),
    }
}

fn load_plan(r: &impl Read, id: &str) -> Result<(Plan, PlanVersion), DeptError> {
    let plan = r.get(&PLANS, id)?.ok_or(DeptError::NotFound)?;
    let v = r
        .get(&PLAN_VERSIONS, &key(id, plan.version))?
        .ok_or(DeptError::NotFound)?;
    Ok((plan, v))
}

fn head_of(plan: &mut Plan, v: &PlanVersion) {
    plan.state = v.state;
    plan.version = v.number;
    plan.subject = v.subject.clone();
    plan.grade = v.grade;
    plan.class = v.class.clone();
    plan.title = v.title.clone();
    plan.updated_at = v.updated_at.clone();
}

fn fill(tx: &Tx<'_>, v: &mut PlanVersion, mut input: PlanInput) -> Result<(), DeptError> {
    let mut lines = match input.lines_text.take() {
        Some(t) if input.lines.is_empty() => parse_lines(v.kind, &t)?,
        _ => std::mem::take(&mut input.lines),
    };
    check_lines(v.kind, &mut lines)?;
    clean(&mut input.title, "Tên kế hoạch", 300)?;
    clean(&mut input.class, "Lớp", 50)?;
    if !input.year.trim().is_empty() {
        if !crate::school::is_school_year(input.year.trim()) {
            return Err(invalid("Năm học dạng 2026-2027."));
        }
        v.year = input.year.trim().to_string();
    }
    if v.kind != Kind::Pl2 {
        let subject = input.subject.trim();
        let s = tx
            .get(&SUBJECTS, subject)?
            .ok_or_else(|| invalid(format!("Không có môn “{subject}”.")))?;
        // Review r12 #4: a plan is for a grade the school teaches (THCS 6–9, TH 1–5; an
        // unknown level all of 1–12) — which also refuses a grade outside 1–12.
        if input.grade == 0 {
            return Err(invalid("Chọn khối lớp của kế hoạch."));
        }
        let grades = crate::school::school_info(tx)?
            .map(|i| i.grades())
            .unwrap_or_else(|| (1..=12).collect());
        if !grades.contains(&input.grade) {
            return Err(invalid(format!(
                "Trường không có khối {}: chỉ lập kế hoạch cho khối {}–{}.",
                input.grade,
                grades.first().unwrap_or(&1),
                grades.last().unwrap_or(&12)
            )));
        }
        // …and a tổ's plan (PL I) for a subject the tổ teaches.
        if v.kind == Kind::Pl1 && s.department.as_deref() != Some(v.department.as_str()) {
            return Err(invalid(format!(
                "Môn {} không thuộc {}: tổ chỉ lập kế hoạch cho môn của tổ.",
                s.name,
                department_name(tx, &v.department)?
            )));
        }
        v.subject = s.id;
        v.grade = input.grade;
    }
    // Review r14 #10: a PL I is the tổ's plan for a subject and a grade, a PL II the school's
    // activities — neither is for one class (a grade-6 class id was stored on a grade-7 PL I).
    if v.kind != Kind::Pl3 && !input.class.is_empty() {
        return Err(invalid(format!(
            "{} là kế hoạch {}, không ghi lớp: để trống ô Lớp (chỉ Phụ lục III ghi lớp dạy).",
            v.kind.short(),
            if v.kind == Kind::Pl1 {
                "của tổ cho một môn và một khối"
            } else {
                "tổ chức các hoạt động giáo dục"
            }
        )));
    }
    if v.kind == Kind::Pl3 {
        if input.class.is_empty() {
            return Err(invalid("Ghi lớp dạy của kế hoạch giáo dục."));
        }
        // Review 25 #1: a teacher's plan is for a class she is assigned to teach, in that
        // subject; the class is kept under its name as the school spells it.
        input.class = teaching_class(tx, &v.author, &v.year, &v.subject, v.grade, &input.class)?;
    }
    v.class = input.class;
    v.title = input.title;
    v.lines = lines;
    Ok(())
}

/// The class a teacher's plan (PL III) names, as the school spells it, when the school's
/// teaching assignments (phân công giảng dạy) of `year` have `teacher` teaching `subject` in
/// it and it is a class of `grade`; otherwise the refusal names what she does teach.
pub fn teaching_class(
    r: &impl Read,
    teacher: &str,
    year: &str,
    subject: &str,
    grade: u8,
    class: &str,
) -> Result<String, DeptError> {
    let classes: std::collections::HashMap<String, crate::school::Class> = r
        .scan(&crate::school::CLASSES, "")?
        .into_iter()
        .filter(|(_, c)| c.year == year)
        .collect();
    let wanted = nfc(class.trim()).to_uppercase();
    let found = classes
        .values()
        .find(|c| c.name == wanted || c.id == class.trim());
    let subject_name = |id: &str| -> Result<String, StoreError> {
        Ok(r.get(&SUBJECTS, id)?
            .map_or_else(|| id.to_string(), |s| s.name))
    };
    // What she teaches this year: subject → its classes, in name order.
    let mut taught: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut teaches_here = false;
    for (_, a) in r.scan(&crate::school::ASSIGNMENTS, "")? {
        let Some(c) = classes.get(&a.class).filter(|_| a.teacher == teacher) else {
            continue;
        };
        if found.is_some_and(|f| f.id == c.id) && a.subject == subject {
            teaches_here = true;
        }
        taught
            .entry(subject_name(&a.subject)?)
            .or_default()
            .push(c.name.clone());
    }
    if let Some(c) = found
        && teaches_here
    {
        if c.grade != grade {
            return Err(invalid(format!(
                "Lớp {} thuộc khối {}, không phải khối {grade}: sửa khối hoặc lớp của kế hoạch.",
                c.name, c.grade
            )));
        }
        return Ok(c.name.clone());
    }
    let who = name_of(r, teacher)?;
    let what = match &found {
        Some(c) => format!("{} lớp {}", subject_name(subject)?, c.name),
        None => format!(
            "lớp “{}” (không có lớp này trong năm học {year})",
            class.trim()
        ),
    };
    let teaches = if taught.is_empty() {
        format!(
            "{who} chưa được phân công dạy lớp nào trong năm học {year}; nhờ Ban giám hiệu phân công giảng dạy trước."
        )
    } else {
        let list: Vec<String> = taught
            .into_iter()
            .map(|(s, mut cs)| {
                cs.sort();
                format!("{s} lớp {}", cs.join(", "))
            })
            .collect();
        format!("{who} dạy: {}.", list.join("; "))
    };
    Err(invalid(format!(
        "Theo phân công giảng dạy năm học {year}, {who} không dạy {what}. {teaches}"
    )))
}

/// Why a teacher's plan (PL III) no longer matches the school's teaching assignments (they
/// changed after it was drafted), or `None` — also `None` for PL I and II.
pub fn assignment_problem(r: &impl Read, v: &PlanVersion) -> Result<Option<String>, DeptError> {
    if v.kind != Kind::Pl3 {
        return Ok(None);
    }
    match teaching_class(r, &v.author, &v.year, &v.subject, v.grade, &v.class) {
        Ok(_) => Ok(None),
        Err(DeptError::Invalid(m)) => Ok(Some(m)),
        Err(e) => Err(e),
    }
}

/// A new plan drafted by its author: PL I by the department's head, PL II by BGH or a head, PL
/// III by a teacher of the department.
pub fn create_plan(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    mut input: PlanInput,
) -> Result<Plan, DeptError> {
    let kind = input.kind.ok_or_else(|| invalid("Chọn loại kế hoạch."))?;
    let department = input
        .department
        .take()
        .or_else(|| p.account.department.clone())
        .unwrap_or_default();
    match kind {
        Kind::Pl1 if !heads(p, &department) => {
            return Err(DeptError::Forbidden(
                "Chỉ tổ trưởng của tổ này soạn kế hoạch dạy học của tổ (Phụ lục I).".into(),
            ));
        }
        Kind::Pl2 if !(permits(p, Action::ApproveLessonPlans) || heads(p, &department)) => {
            return Err(DeptError::Forbidden(
                "Chỉ Ban giám hiệu hoặc tổ trưởng soạn kế hoạch hoạt động giáo dục (Phụ lục II)."
                    .into(),
            ));
        }
        Kind::Pl3
            if !(permits(p, Action::SubmitLessonPlans)
                && p.account.department.as_deref() == Some(department.as_str())) =>
        {
            return Err(DeptError::Forbidden(
                "Kế hoạch giáo dục (Phụ lục III) do giáo viên của tổ tự soạn.".into(),
            ));
        }
        _ => {}
    }
    if kind != Kind::Pl2 || !department.is_empty() {
        tx.get(&DEPARTMENTS, &department)?
            .ok_or_else(|| invalid(format!("Không có tổ “{department}”.")))?;
    }
    let now = now_str(tx);
    let id = format!("{}-{:012x}", kind.as_str(), rand::random::<u64>() >> 16);
    let mut v = PlanVersion {
        plan: id.clone(),
        number: 1,
        kind,
        author: p.id().into(),
        year: year.into(),
        department: department.clone(),
        subject: String::new(),
        grade: 0,
        class: String::new(),
        title: String::new(),
        lines: vec![],
        state: State::Draft,
        created_at: now.clone(),
        updated_at: now.clone(),
        digest: None,
        signatures: vec![],
        returned: None,
    };
    fill(tx, &mut v, input)?;
    let mut plan = Plan {
        id: id.clone(),
        kind,
        author: p.id().into(),
        author_name: p.account.full_name.clone(),
        year: v.year.clone(),
        department,
        subject: String::new(),
        grade: 0,
        class: String::new(),
        title: String::new(),
        state: State::Draft,
        version: 1,
        approved_version: None,
        returned: None,
        updated_at: now,
    };
    head_of(&mut plan, &v);
    tx.put(&PLAN_VERSIONS, &key(&id, 1), &v, "dept.plan.create")?;
    tx.put(&PLANS, &id, &plan, "dept.plan.create")?;
    Ok(plan)
}

/// The author edits a draft in place, or starts a new draft version from a returned or
/// approved one (the signed version never changes).
pub fn edit_plan(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    input: PlanInput,
) -> Result<Plan, DeptError> {
    let (mut plan, old) = load_plan(tx, id)?;
    if plan.author != p.id() {
        return Err(DeptError::Forbidden(
            "Chỉ người soạn kế hoạch này mới sửa được.".into(),
        ));
    }
    let now = now_str(tx);
    let mut v = match old.state {
        State::Draft => old,
        State::Returned | State::Approved => PlanVersion {
            number: old.number + 1,
            state: State::Draft,
            created_at: now.clone(),
            digest: None,
            signatures: vec![],
            returned: None,
            ..old
        },
        s => {
            return Err(DeptError::State(format!(
                "Kế hoạch đang ở trạng thái “{}”; chờ Ban giám hiệu xem xong mới sửa được.",
                state_label(s)
            )));
        }
    };
    fill(tx, &mut v, input)?;
    v.updated_at = now;
    head_of(&mut plan, &v);
    plan.returned = None;
    tx.put(&PLAN_VERSIONS, &key(id, v.number), &v, "dept.plan.edit")?;
    tx.put(&PLANS, id, &plan, "dept.plan.edit")?;
    Ok(plan)
}

/// The lines' total against the programme: the refusal text when they differ.
pub fn periods_problem(r: &impl Read, v: &PlanVersion) -> Result<Option<String>, DeptError> {
    if !v.kind.counts_periods() {
        return Ok(None);
    }
    let total: u32 = v.lines.iter().map(|l| u32::from(l.periods)).sum();
    let required = required_periods(r, &v.subject, v.grade)?.ok_or_else(|| {
        invalid(format!(
            "Chưa đặt số tiết/năm của môn này cho khối {} (trang Môn học).",
            v.grade
        ))
    })?;
    Ok(periods_mismatch(total, u32::from(required)))
}

/// The author signs and hands in the current draft. A PL I or III whose periods do not add up
/// to the subject's periods per year is refused, with the difference.
pub fn submit_plan(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Plan, DeptError> {
    let (mut plan, mut v) = load_plan(tx, id)?;
    crate::lessons::may_hand_in(&plan.author, p, v.state, state_label(v.state), "người")?;
    if v.lines.is_empty() {
        return Err(invalid("Kế hoạch chưa có dòng nào."));
    }
    if let Some(why) = assignment_problem(tx, &v)? {
        return Err(invalid(why));
    }
    if let Some(why) = periods_problem(tx, &v)? {
        return Err(invalid(why));
    }
    let now = now_str(tx);
    let d = crate::lessons::sign_document(
        tx,
        &mut v,
        p,
        signer,
        SignAction::Submit,
        State::Submitted,
        &now,
    )?;
    head_of(&mut plan, &v);
    tx.put(&PLAN_VERSIONS, &key(id, v.number), &v, "dept.plan.submit")?;
    tx.put(&PLANS, id, &plan, "dept.plan.submit")?;
    tx.event(
        "dept.plan.submit",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(plan)
}

fn bgh_decides(p: &Principal, plan: &Plan, v: &PlanVersion) -> Result<(), DeptError> {
    if !permits(p, Action::ApproveLessonPlans) {
        return Err(DeptError::Forbidden(
            "Chỉ Hiệu trưởng hoặc Phó hiệu trưởng phê duyệt kế hoạch của tổ.".into(),
        ));
    }
    if plan.author == p.id() {
        return Err(DeptError::Forbidden(
            "Không được tự phê duyệt kế hoạch của chính mình.".into(),
        ));
    }
    if v.state != State::Submitted {
        return Err(DeptError::State(format!(
            "Kế hoạch đang ở trạng thái “{}”; chỉ phê duyệt kế hoạch đã nộp.",
            state_label(v.state)
        )));
    }
    Ok(())
}

/// The principal (or a vice principal) approves a handed-in plan, signing it.
pub fn approve_plan(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Plan, DeptError> {
    let (mut plan, mut v) = load_plan(tx, id)?;
    bgh_decides(p, &plan, &v)?;
    // The assignments changed since it was handed in: approving it would sign a plan for a
    // class its author no longer teaches.
    if let Some(why) = assignment_problem(tx, &v)? {
        return Err(invalid(format!("{why} Trả lại kế hoạch để giáo viên sửa.")));
    }
    let now = now_str(tx);
    let d = crate::lessons::sign_document(
        tx,
        &mut v,
        p,
        signer,
        SignAction::Approve,
        State::Approved,
        &now,
    )?;
    head_of(&mut plan, &v);
    plan.approved_version = Some(v.number);
    tx.put(&PLAN_VERSIONS, &key(id, v.number), &v, "dept.plan.approve")?;
    tx.put(&PLANS, id, &plan, "dept.plan.approve")?;
    tx.event(
        "dept.plan.approve",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(plan)
}

/// BGH return a handed-in plan to its author with the reason.
pub fn return_plan(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    reason: &str,
) -> Result<Plan, DeptError> {
    let (mut plan, mut v) = load_plan(tx, id)?;
    bgh_decides(p, &plan, &v)?;
    let reason = nfc(reason.trim());
    if reason.is_empty() {
        return Err(invalid("Ghi lý do trả lại để người soạn biết cần sửa gì."));
    }
    if reason.chars().count() > 5000 {
        return Err(invalid("Lý do tối đa 5000 ký tự."));
    }
    let now = now_str(tx);
    v.state = State::Returned;
    v.returned = Some(reason.clone());
    v.updated_at = now;
    head_of(&mut plan, &v);
    plan.returned = Some(reason.clone());
    tx.put(&PLAN_VERSIONS, &key(id, v.number), &v, "dept.plan.return")?;
    tx.put(&PLANS, id, &plan, "dept.plan.return")?;
    tx.event(
        "dept.plan.return",
        id,
        Some(serde_json::json!({ "version": v.number, "reason": reason })),
    );
    Ok(plan)
}

/// Whether `p` sees a plan's work in progress (drafts, returned versions): its author, BGH,
/// the department's head. Everyone else sees its approved versions only.
pub fn sees_work(p: &Principal, plan: &Plan) -> bool {
    plan.author == p.id()
        || p.is_bgh()
        || (p.has(Role::DeptHead) && p.account.department.as_deref() == Some(&plan.department))
}

pub fn plan_versions(r: &impl Read, id: &str) -> Result<Vec<PlanVersion>, StoreError> {
    Ok(r.scan(&PLAN_VERSIONS, &format!("{id}/"))?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// The version of a plan in force — its approved one, else its newest — and a newer version
/// that is not (a draft, or handed in, or returned, written after the approval): the page, the
/// PDF and the links read the version in force, the newer one is shown apart as such (review
/// r20 #4).
pub fn in_force<'a>(
    plan: &Plan,
    versions: &'a [PlanVersion],
) -> Option<(&'a PlanVersion, Option<&'a PlanVersion>)> {
    let newest = versions.last()?;
    let approved = plan
        .approved_version
        .and_then(|n| versions.iter().find(|v| v.number == n));
    Some(match approved {
        Some(a) if a.number != newest.number => (a, Some(newest)),
        _ => (newest, None),
    })
}

/// A plan and the versions `p` may see, or `NotFound`.
pub fn plan_for(
    r: &impl Read,
    p: &Principal,
    id: &str,
) -> Result<(Plan, Vec<PlanVersion>), DeptError> {
    let plan = r.get(&PLANS, id)?.ok_or(DeptError::NotFound)?;
    let all = plan_versions(r, id)?;
    if sees_work(p, &plan) {
        return Ok((plan, all));
    }
    let approved: Vec<PlanVersion> = all
        .into_iter()
        .filter(|v| v.state == State::Approved)
        .collect();
    if approved.is_empty() {
        return Err(DeptError::NotFound);
    }
    Ok((plan, approved))
}

/// The plans `p` may see, newest first.
pub fn list_plans(r: &impl Read, p: &Principal) -> Result<Vec<Plan>, StoreError> {
    let mut out: Vec<Plan> = r
        .scan(&PLANS, "")?
        .into_iter()
        .map(|(_, plan)| plan)
        .filter(|plan| sees_work(p, plan) || plan.approved_version.is_some())
        .collect();
    out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    Ok(out)
}

/// Each signature of a version checked against its content as stored now: (who, what, ok).
pub fn check_signatures(v: &impl Signable, sigs: &[Signature]) -> Vec<SignatureCheck> {
    let bad = crate::lessons::check_document(v, sigs);
    sigs.iter()
        .map(|s| {
            let problem = bad.iter().find(|(b, _)| b == s).map(|(_, e)| e.clone());
            SignatureCheck {
                action: action_label(s.action),
                name: s.name.clone(),
                at: s.at.clone(),
                valid: problem.is_none(),
                problem,
            }
        })
        .collect()
}

/// A department plan's state in words that say whom it waits for: every plan handed in —
/// the head's PL I as a teacher's PL III — goes to Ban giám hiệu, never to the tổ (review
/// r14 #10: the head's own PL I read "chờ tổ duyệt", the lesson plans' wording).
pub fn state_label(s: State) -> &'static str {
    match s {
        State::Draft => "Bản nháp, chưa nộp",
        State::Submitted | State::Reviewed => "Đã nộp, chờ Ban giám hiệu duyệt",
        State::Returned => "Ban giám hiệu trả lại để sửa",
        State::Approved => "Đã được Ban giám hiệu phê duyệt",
    }
}

/// What a signature attests, in the department's words: its author hands a plan in — the head
/// or a teacher, not only "giáo viên" as on a lesson plan.
pub fn action_label(a: SignAction) -> &'static str {
    match a {
        SignAction::Submit => "Người soạn ký nộp",
        other => other.label(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureCheck {
    pub action: &'static str,
    pub name: String,
    pub at: String,
    pub valid: bool,
    pub problem: Option<String>,
}

// ---- minutes ----

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MinutesInput {
    pub department: Option<String>,
    pub date: String,
    pub attendees: Vec<String>,
    pub agenda: String,
    pub content: String,
    pub conclusions: String,
}

/// Whether `p` writes the minutes of `department`: its head, or the secretary the head named.
pub(crate) fn writes_minutes(
    r: &impl Read,
    p: &Principal,
    department: &str,
) -> Result<bool, StoreError> {
    Ok(heads(p, department)
        || (p.account.department.as_deref() == Some(department)
            && r.get(&SECRETARIES, department)?.as_deref() == Some(p.id())))
}

/// How far ahead a draft's meeting may be dated: drafting the next meeting's agenda before it
/// is held is usual (a department meets every two weeks), a date months ahead is a typo.
const MINUTES_AHEAD_DAYS: i32 = 31;

/// "04/03/2027", as a date reads in a refusal (the school's one way, `school::changes`).
pub(crate) fn vn_date(d: jiff::civil::Date) -> String {
    crate::school::changes::vi_date(&d.to_string())
}

fn fill_minutes(
    tx: &Tx<'_>,
    v: &mut MinutesVersion,
    mut input: MinutesInput,
) -> Result<(), DeptError> {
    let date = input.date.trim();
    let day = date
        .parse::<jiff::civil::Date>()
        .map_err(|_| invalid(format!("Ngày họp “{date}” không hợp lệ (dạng 2026-09-14).")))?;
    let today = crate::school::changes::today(tx);
    if day > today.saturating_add(jiff::Span::new().days(MINUTES_AHEAD_DAYS)) {
        return Err(invalid(format!(
            "Ngày họp {} còn hơn {MINUTES_AHEAD_DAYS} ngày nữa mới tới (hôm nay {}): kiểm tra lại ngày.",
            vn_date(day),
            vn_date(today)
        )));
    }
    v.date = date.to_string();
    let members = members(tx, &v.department)?;
    input.attendees.sort();
    input.attendees.dedup();
    for a in &input.attendees {
        if !members.iter().any(|(id, _)| id == a) {
            return Err(invalid(format!(
                "“{a}” không phải thành viên của tổ; chỉ chọn người dự trong tổ."
            )));
        }
    }
    if input.attendees.is_empty() {
        return Err(invalid("Chọn những người dự họp."));
    }
    clean(&mut input.agenda, "Nội dung chương trình", 5000)?;
    clean(&mut input.content, "Diễn biến", 50_000)?;
    clean(&mut input.conclusions, "Kết luận", 20_000)?;
    if input.agenda.is_empty() {
        return Err(invalid("Ghi nội dung chương trình buổi sinh hoạt."));
    }
    v.attendees = input.attendees;
    v.agenda = input.agenda;
    v.content = input.content;
    v.conclusions = input.conclusions;
    Ok(())
}

fn minutes_head(m: &mut Minutes, v: &MinutesVersion) {
    m.date = v.date.clone();
    m.agenda = v.agenda.clone();
    m.state = v.state;
    m.version = v.number;
    m.updated_at = v.updated_at.clone();
}

fn refuse_writer(r: &impl Read, p: &Principal, department: &str) -> Result<(), DeptError> {
    if writes_minutes(r, p, department)? {
        Ok(())
    } else {
        Err(DeptError::Forbidden(
            "Chỉ tổ trưởng hoặc thư ký do tổ trưởng chỉ định ghi biên bản của tổ.".into(),
        ))
    }
}

/// The head names a member the secretary of the department's meetings.
pub fn name_secretary(
    tx: &mut Tx<'_>,
    p: &Principal,
    department: &str,
    account: &str,
) -> Result<(), DeptError> {
    if !heads(p, department) {
        return Err(DeptError::Forbidden(
            "Chỉ tổ trưởng của tổ này chỉ định thư ký.".into(),
        ));
    }
    if !members(tx, department)?.iter().any(|(id, _)| id == account) {
        return Err(invalid("Thư ký phải là thành viên của tổ."));
    }
    tx.put(
        &SECRETARIES,
        department,
        &account.to_string(),
        "dept.secretary",
    )?;
    Ok(())
}

pub fn create_minutes(
    tx: &mut Tx<'_>,
    p: &Principal,
    mut input: MinutesInput,
) -> Result<Minutes, DeptError> {
    let department = input
        .department
        .take()
        .or_else(|| p.account.department.clone())
        .unwrap_or_default();
    refuse_writer(tx, p, &department)?;
    let now = now_str(tx);
    let id = format!("bb-{:012x}", rand::random::<u64>() >> 16);
    let mut v = MinutesVersion {
        minutes: id.clone(),
        number: 1,
        department: department.clone(),
        date: String::new(),
        attendees: vec![],
        agenda: String::new(),
        content: String::new(),
        conclusions: String::new(),
        writer: p.id().into(),
        state: State::Draft,
        created_at: now.clone(),
        updated_at: now.clone(),
        digest: None,
        signatures: vec![],
    };
    fill_minutes(tx, &mut v, input)?;
    let mut m = Minutes {
        id: id.clone(),
        department,
        date: String::new(),
        agenda: String::new(),
        state: State::Draft,
        version: 1,
        signed_version: None,
        updated_at: now,
    };
    minutes_head(&mut m, &v);
    tx.put(&MINUTES_VERSIONS, &key(&id, 1), &v, "dept.minutes.create")?;
    tx.put(&MINUTES, &id, &m, "dept.minutes.create")?;
    Ok(m)
}

fn load_minutes(r: &impl Read, id: &str) -> Result<(Minutes, MinutesVersion), DeptError> {
    let m = r.get(&MINUTES, id)?.ok_or(DeptError::NotFound)?;
    let v = r
        .get(&MINUTES_VERSIONS, &key(id, m.version))?
        .ok_or(DeptError::NotFound)?;
    Ok((m, v))
}

/// Edits unsigned minutes. Signed minutes are locked: a change is a correction
/// ([`correct_minutes`]), a new version signed again.
pub fn edit_minutes(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    input: MinutesInput,
) -> Result<Minutes, DeptError> {
    let (mut m, mut v) = load_minutes(tx, id)?;
    refuse_writer(tx, p, &m.department)?;
    if v.state != State::Draft {
        return Err(DeptError::State(
            "Biên bản đã được chủ trì ký và đã khoá; muốn sửa, lập bản đính chính (một phiên bản mới, ký lại)."
                .into(),
        ));
    }
    fill_minutes(tx, &mut v, input)?;
    v.writer = p.id().into();
    v.updated_at = now_str(tx);
    minutes_head(&mut m, &v);
    tx.put(
        &MINUTES_VERSIONS,
        &key(id, v.number),
        &v,
        "dept.minutes.edit",
    )?;
    tx.put(&MINUTES, id, &m, "dept.minutes.edit")?;
    Ok(m)
}

/// A correction of signed minutes: a new draft version with the corrected text; the signed one
/// is kept as it was.
pub fn correct_minutes(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    input: MinutesInput,
) -> Result<Minutes, DeptError> {
    let (mut m, old) = load_minutes(tx, id)?;
    refuse_writer(tx, p, &m.department)?;
    if old.state != State::Approved {
        return Err(DeptError::State(
            "Biên bản chưa ký: sửa trực tiếp, không cần bản đính chính.".into(),
        ));
    }
    let now = now_str(tx);
    let mut v = MinutesVersion {
        number: old.number + 1,
        writer: p.id().into(),
        state: State::Draft,
        created_at: now.clone(),
        updated_at: now,
        digest: None,
        signatures: vec![],
        ..old
    };
    fill_minutes(tx, &mut v, input)?;
    minutes_head(&mut m, &v);
    tx.put(
        &MINUTES_VERSIONS,
        &key(id, v.number),
        &v,
        "dept.minutes.correct",
    )?;
    tx.put(&MINUTES, id, &m, "dept.minutes.correct")?;
    Ok(m)
}

/// Only the chair — the department's head — signs a department's minutes; anyone else is told
/// who may.
pub fn check_chair(r: &impl Read, p: &Principal, m: &Minutes) -> Result<(), DeptError> {
    if heads(p, &m.department) {
        return Ok(());
    }
    let dept = department_name(r, &m.department)?;
    Err(DeptError::Forbidden(format!(
        "Chỉ tổ trưởng {dept} — người chủ trì buổi sinh hoạt — ký biên bản; {} không phải tổ trưởng của tổ này.",
        p.account.full_name
    )))
}

/// The chair — the department's head — signs the minutes, which locks them. Anyone else is
/// refused with the reason.
pub fn sign_minutes(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Minutes, DeptError> {
    let (mut m, mut v) = load_minutes(tx, id)?;
    check_chair(tx, p, &m)?;
    if v.state != State::Draft {
        return Err(DeptError::State("Biên bản này đã ký và đã khoá.".into()));
    }
    // A record of a meeting is signed once the meeting has been held (review r12 #5): a
    // future date is an agenda, or a wrong date, and would be archived under its year.
    let today = crate::school::changes::today(tx);
    if let Ok(day) = v.date.parse::<jiff::civil::Date>()
        && day > today
    {
        return Err(invalid(format!(
            "Buổi họp ngày {} chưa diễn ra (hôm nay {}): chỉ ký biên bản từ ngày họp trở đi.",
            vn_date(day),
            vn_date(today)
        )));
    }
    let now = now_str(tx);
    let d = crate::lessons::sign_document(
        tx,
        &mut v,
        p,
        signer,
        SignAction::Chair,
        State::Approved,
        &now,
    )?;
    minutes_head(&mut m, &v);
    m.signed_version = Some(v.number);
    tx.put(
        &MINUTES_VERSIONS,
        &key(id, v.number),
        &v,
        "dept.minutes.sign",
    )?;
    tx.put(&MINUTES, id, &m, "dept.minutes.sign")?;
    tx.event(
        "dept.minutes.sign",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(m)
}

pub fn minutes_versions(r: &impl Read, id: &str) -> Result<Vec<MinutesVersion>, StoreError> {
    Ok(r.scan(&MINUTES_VERSIONS, &format!("{id}/"))?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Minutes are read by the school's staff who belong to the department, and BGH.
fn reads_minutes(p: &Principal, department: &str) -> bool {
    p.is_bgh() || p.account.department.as_deref() == Some(department)
}

pub fn minutes_for(
    r: &impl Read,
    p: &Principal,
    id: &str,
) -> Result<(Minutes, Vec<MinutesVersion>), DeptError> {
    let m = r.get(&MINUTES, id)?.ok_or(DeptError::NotFound)?;
    if !reads_minutes(p, &m.department) {
        return Err(DeptError::NotFound);
    }
    let all = minutes_versions(r, id)?;
    Ok((m, all))
}

pub fn list_minutes(r: &impl Read, p: &Principal) -> Result<Vec<Minutes>, StoreError> {
    let mut out: Vec<Minutes> = r
        .scan(&MINUTES, "")?
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| reads_minutes(p, &m.department))
        .collect();
    out.sort_by(|a, b| b.date.cmp(&a.date));
    Ok(out)
}

/// Attendee ids as names, for pages and the PDF.
pub fn attendee_names(r: &impl Read, v: &MinutesVersion) -> Result<Vec<String>, StoreError> {
    v.attendees.iter().map(|a| name_of(r, a)).collect()
}

/// The name of a department.
pub fn department_name(r: &impl Read, id: &str) -> Result<String, StoreError> {
    Ok(r.get(&DEPARTMENTS, id)?
        .map(|d| d.name)
        .unwrap_or_else(|| id.to_string()))
}

// ---- the link from lesson plans, and the dashboard ----

/// Checks links from lesson plans to plan lines ("{plan}#{n}", 1-based), reading each plan
/// once: the line must be in an approved Phụ lục III of the lesson plan's own teacher, of the
/// lesson plan's subject and grade, and the lesson taught in the plan's school year (review 25
/// #2); a new link within the approved version's lines ([`LinkCheck::problem`]), a stored one
/// to the lesson it was made to ([`LinkCheck::state`], [`LINKS`]). A tổ's Phụ lục I is not
/// linked to directly: it is the tổ's plan, the teacher's PL III carries it to her classes.
pub struct LinkCheck<'r, R: Read> {
    r: &'r R,
    plans: std::collections::HashMap<String, Option<(Plan, Option<PlanVersion>)>>,
    /// A plan's approved versions, oldest first ([`follow`]'s chain).
    approved: std::collections::HashMap<String, Vec<PlanVersion>>,
}

/// What a stored link comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// It holds, on this line (1-based) — the one it was made to, or where its lesson moved.
    Holds(usize),
    /// The Phụ lục III was approved again with the lesson changed — other periods, or renamed
    /// — now on line `at`: the link is kept and needs the teacher's attention (`why`, in
    /// Vietnamese, naming where the lesson is now and what it is).
    Changed { at: usize, why: String },
    /// The Phụ lục III was approved again without the lesson (why, in Vietnamese): kept,
    /// needing a relink to another line or none.
    Dropped(String),
    /// It breaks the rule (why, in Vietnamese).
    Broken(String),
}

impl LinkState {
    /// Why the link needs attention, in Vietnamese; `None` when it holds.
    pub fn why(&self) -> Option<&str> {
        match self {
            LinkState::Holds(_) => None,
            LinkState::Changed { why, .. } | LinkState::Dropped(why) | LinkState::Broken(why) => {
                Some(why)
            }
        }
    }
}

/// Where a linked lesson is in the Phụ lục III's current approved version ([`follow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The same lesson as linked — its title (spacing, case and accents aside) and periods —
    /// on this line (1-based).
    Same(usize),
    /// The same title with other periods, on this line.
    Periods(usize),
    /// Renamed, on this line ([`renamed`]).
    Renamed(usize),
    /// Two readings compete (review r21 #1): renamed in place on line `at`, or the same title
    /// moved out of order to line `other` — the link needs a check, never silently held.
    Unsure { at: usize, other: usize },
    /// Dropped by this approved version (and so out of every later one).
    Dropped(u32),
}

/// How a line of one approved version went into the next ([`step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// The same title and periods.
    Same,
    /// The same title, other periods.
    Periods,
    /// Renamed in place ([`renamed`]).
    Renamed,
    /// Renamed in place, or the same title moved out of order to this line of the next
    /// version: the two readings compete ([`Found::Unsure`]).
    Unsure(usize),
}

/// Follows the lesson `made` — line `n` (1-based) of the version it was linked in — through
/// `chain`, the Phụ lục III's approved versions from that one to the current one, in order
/// (never a draft), one step at a time (review r20 #1): each step the one-to-one alignment of
/// two consecutive approved versions ([`step`]), so a line is followed as each re-approval
/// moved, changed or renamed it, two "Ôn tập" lines never end on one, and a lesson dropped in
/// version N stays dropped, `Dropped(N)` — the version that dropped it, never the latest.
/// Where it ends is compared with what was linked: the same title and periods `Same` (wherever
/// it went), the same title `Periods`, else `Renamed`.
///
/// When the version linked in is not `chain[0]` (not stored) or its line `n` is not the lesson
/// linked, the lesson is looked for by itself in the last version, nearest to line `n`.
pub fn follow<L: AsRef<[Line]> + ?Sized>(
    made: &LinkTarget,
    n: usize,
    chain: &[(u32, &L)],
) -> Found {
    let Some(&(last, now)) = chain.last() else {
        return Found::Dropped(made.version);
    };
    let now = now.as_ref();
    let linked_in = chain.first().filter(|(number, lines)| {
        *number == made.version
            && n >= 1
            && lines
                .as_ref()
                .get(n - 1)
                .is_some_and(|l| made.same_lesson(l))
    });
    if linked_in.is_none() {
        return by_itself(made, n, last, now);
    }
    let mut at = n - 1;
    // The other reading of an unsure step, followed on as the link is (gone once dropped).
    let mut other: Option<usize> = None;
    for pair in chain.windows(2) {
        let ((_, then), (number, next)) = (pair[0], pair[1]);
        let s = step(then.as_ref(), next.as_ref());
        other = other.and_then(|o| s[o].map(|x| x.0));
        match s[at] {
            Some((j, How::Unsure(o))) => {
                at = j;
                other = Some(o);
            }
            Some((j, _)) => at = j,
            None => return Found::Dropped(number),
        }
    }
    if let Some(o) = other.filter(|&o| o != at) {
        return Found::Unsure {
            at: at + 1,
            other: o + 1,
        };
    }
    let l = &now[at];
    if made.same_lesson(l) {
        Found::Same(at + 1)
    } else if crate::text::fold(made.topic.trim()) == crate::text::fold(l.topic.trim()) {
        Found::Periods(at + 1)
    } else {
        Found::Renamed(at + 1)
    }
}

/// [`follow`] without the version linked in: the same lesson nearest to line `n`, else the
/// same title, else a renamed one; else dropped by `number`.
fn by_itself(made: &LinkTarget, n: usize, number: u32, now: &[Line]) -> Found {
    let expect = n.saturating_sub(1);
    let nearest = |ok: &dyn Fn(&Line) -> bool| {
        (0..now.len())
            .filter(|&j| ok(&now[j]))
            .min_by_key(|&j| j.abs_diff(expect))
            .map(|j| j + 1)
    };
    let title = crate::text::fold(made.topic.trim());
    if let Some(j) = nearest(&|l| made.same_lesson(l)) {
        return Found::Same(j);
    }
    if let Some(j) = nearest(&|l| crate::text::fold(l.topic.trim()) == title) {
        return Found::Periods(j);
    }
    if let Some(j) = nearest(&|l| renamed(&made.topic, &l.topic)) {
        return Found::Renamed(j);
    }
    Found::Dropped(number)
}

/// One approved version's lines → the next one's (0-based), one to one: no two lines of
/// `then` on one line of `now`. In this order:
/// 1. in order: the heaviest common subsequence of lines with the same title (folded), an
///    identical line (same periods) weighing more than one with other periods — so the lines
///    that stayed anchor the rest and a repeated title ("Ôn tập") is told apart by its place;
/// 2. the line in place first (review r21 #1): a left-over line whose title is also left
///    over elsewhere (moved out of order) while a line between the same two aligned lines
///    reads as it renamed ([`renamed`]) takes the line in place — renamed when it kept the
///    periods and the title elsewhere did not (a 70-period chapter never jumps to a new
///    10-period line of its title), else unsure ([`How::Unsure`], naming the other line);
/// 3. out of order (a line moved past others): an identical line left over, nearest to where
///    it would be (just after the line the nearest aligned line above it went to), the
///    nearest pair first;
/// 4. the same title with other periods left over, likewise;
/// 5. renamed in place: a left-over line and a left-over line of `now` between the same two
///    lines aligned in step 1 that reads as it renamed ([`renamed`]).
///
/// A line left without one was dropped by `now`.
///
/// A renumbering competes with the titles (reviews r24 #3, r28): the alignment is made again
/// with the titles' numbers set aside ([`align`] by another key), both ways — the first lines
/// first, and the last lines first, since with repeated titles ("Bài 4. Luyện tập", "Bài 5.
/// Luyện tập") either may be the one inserted. Where such a reading differs from the titles'
/// and every line it differs on reads as renumbered by one shift ([`renumbering`]: a lesson
/// inserted or removed and the lines after it renumbered — not a list reordered, whose lines
/// move by different amounts), those lines follow the renumbering: a line the titles also
/// placed elsewhere is unsure between the two ([`How::Unsure`]: never moved silently), one
/// the titles dropped is renamed there (renumbered, never reported dropped).
fn step(then: &[Line], now: &[Line]) -> Vec<Option<(usize, How)>> {
    let titles = |l: &Line| crate::text::fold(l.topic.trim());
    let out = align(then, now, &titles);
    let numberless = |l: &Line| {
        let t = titles(l).replace(|c: char| c.is_ascii_digit(), " ");
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let forward = align(then, now, &numberless);
    let backward = {
        let rev = |l: &[Line]| l.iter().rev().cloned().collect::<Vec<_>>();
        let mut b = align(&rev(then), &rev(now), &numberless);
        b.reverse();
        b.into_iter()
            .map(|x| x.map(|(j, h)| (now.len() - 1 - j, h)))
            .collect::<Vec<_>>()
    };
    for alt in [forward, backward] {
        if let Some(chain) = renumbered_chain(then, now, &out, &alt) {
            return chain;
        }
    }
    out
}

/// [`step`]'s renumbering reading `alt` against the titles' `out`, when it differs and reads
/// as one renumbering; `None` otherwise (or when the two would put two lines on one).
fn renumbered_chain(
    then: &[Line],
    now: &[Line],
    out: &[Option<(usize, How)>],
    alt: &[Option<(usize, How)>],
) -> Option<Vec<Option<(usize, How)>>> {
    let pos = |x: &Option<(usize, How)>| x.map(|a| a.0);
    let differ: Vec<usize> = (0..then.len())
        .filter(|&i| pos(&out[i]) != pos(&alt[i]))
        .collect();
    let mut shift = None;
    for &i in &differ {
        let Some((k, _)) = alt[i] else { continue };
        let d = renumbering(&then[i].topic, &now[k].topic)?;
        if shift.is_some_and(|s| s != d) {
            return None;
        }
        shift = Some(d);
    }
    shift?;
    let mut result = out.to_vec();
    for &i in &differ {
        if let Some((k, _)) = alt[i] {
            result[i] = Some((
                k,
                match out[i] {
                    Some((j, _)) => How::Unsure(j),
                    None => How::Renamed,
                },
            ));
        }
    }
    let mut taken = vec![false; now.len()];
    for r in result.iter().flatten() {
        if std::mem::replace(&mut taken[r.0], true) {
            return None;
        }
    }
    Some(result)
}

/// Whether `after` reads as `before` renumbered: the same words, labels included, under
/// other numbers ("Bài 5. Luyện tập" → "Bài 6. Luyện tập", "Bài 5" → "Bài 6").
fn renumbered(before: &str, after: &str) -> bool {
    renumbering(before, after).is_some()
}

/// How far `after` renumbers `before` ([`renumbered`]): the same words and as many numbers,
/// one of them other by this much.
fn renumbering(before: &str, after: &str) -> Option<i64> {
    let split = |s: &str| {
        let folded = crate::text::fold(s);
        let (mut numbers, mut words) = (vec![], vec![]);
        for t in folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
        {
            if t.chars().all(|c| c.is_ascii_digit()) {
                numbers.push(t.trim_start_matches('0').to_string());
            } else {
                words.push(t.to_string());
            }
        }
        (numbers, words)
    };
    let ((na, wa), (nb, wb)) = (split(before), split(after));
    if wa != wb || na.len() != nb.len() {
        return None;
    }
    let mut differ = na.iter().zip(&nb).filter(|(a, b)| a != b);
    match (differ.next(), differ.next()) {
        (Some((a, b)), None) => {
            let n = |x: &String| x.parse::<i64>().unwrap_or(0);
            Some(n(b) - n(a))
        }
        _ => None,
    }
}

/// [`step`]'s alignment, titles read through `key`.
fn align(then: &[Line], now: &[Line], key: &dyn Fn(&Line) -> String) -> Vec<Option<(usize, How)>> {
    let (ta, tb): (Vec<_>, Vec<_>) = (
        then.iter().map(key).collect(),
        now.iter().map(key).collect(),
    );
    let weight = |i: usize, j: usize| match (ta[i] == tb[j], then[i].periods == now[j].periods) {
        (true, true) => 3,
        (true, false) => 2,
        _ => 0,
    };
    let w = now.len() + 1;
    let mut t = vec![0u32; (then.len() + 1) * w];
    for i in (0..then.len()).rev() {
        for j in (0..now.len()).rev() {
            let mut best = t[(i + 1) * w + j].max(t[i * w + j + 1]);
            let k = weight(i, j);
            if k > 0 {
                best = best.max(t[(i + 1) * w + j + 1] + k);
            }
            t[i * w + j] = best;
        }
    }
    let mut out: Vec<Option<(usize, How)>> = vec![None; then.len()];
    let mut taken = vec![false; now.len()];
    let (mut i, mut j) = (0, 0);
    while i < then.len() && j < now.len() {
        let k = weight(i, j);
        if k > 0 && t[i * w + j] == t[(i + 1) * w + j + 1] + k {
            out[i] = Some((j, if k == 3 { How::Same } else { How::Periods }));
            taken[j] = true;
            i += 1;
            j += 1;
        } else if t[i * w + j] == t[(i + 1) * w + j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    // The anchors of step 1: where the nearest aligned line above (below) line i went.
    let anchors = out.clone();
    let above = |i: usize| anchors[..i].iter().rev().flatten().next().map(|a| a.0);
    let below = |i: usize| anchors[i + 1..].iter().flatten().next().map(|a| a.0);
    let expect = |i: usize| above(i).map_or(0, |j| j + 1);
    // The line in place against the title elsewhere, the nearest in place first.
    loop {
        let mut best: Option<(usize, usize, usize, How)> = None;
        for i in (0..then.len()).filter(|&i| out[i].is_none()) {
            let e = expect(i);
            let Some(elsewhere) = (0..now.len())
                .filter(|&j| !taken[j] && weight(i, j) > 0)
                .max_by_key(|&j| (weight(i, j), std::cmp::Reverse(j.abs_diff(e))))
            else {
                continue;
            };
            // In place: a line that reads as renamed, or one of an unrelated title that kept
            // the periods (plausibly the same lesson retitled: never silently given up for
            // the title elsewhere) — unless a left-over line of its own title takes it later.
            let plausible = |j: usize| {
                renamed(&then[i].topic, &now[j].topic)
                    || (now[j].periods == then[i].periods
                        && !(0..then.len()).any(|k| out[k].is_none() && weight(k, j) > 0))
            };
            let Some(here) = (e..below(i).unwrap_or(now.len()))
                .filter(|&j| !taken[j] && plausible(j))
                .min_by_key(|&j| j.abs_diff(e))
            else {
                continue;
            };
            let d = here.abs_diff(e);
            if best.is_none_or(|b| d < b.0) {
                let how = if weight(i, elsewhere) == 2
                    && now[here].periods == then[i].periods
                    && renamed(&then[i].topic, &now[here].topic)
                {
                    How::Renamed
                } else {
                    How::Unsure(elsewhere)
                };
                best = Some((d, i, here, how));
            }
        }
        let Some((_, i, j, how)) = best else { break };
        out[i] = Some((j, how));
        taken[j] = true;
    }
    // Each pass pairs the nearest first, whichever line comes first: two "Ôn tập" lines
    // competing for one go to the one it is nearer to.
    let mut pass = |ok: &dyn Fn(usize, usize) -> bool, how: How, in_place: bool| loop {
        let mut best: Option<(usize, usize, usize)> = None;
        for i in (0..then.len()).filter(|&i| out[i].is_none()) {
            let e = expect(i);
            let (from, to) = if in_place {
                (e, below(i).unwrap_or(now.len()))
            } else {
                (0, now.len())
            };
            for j in (from..to).filter(|&j| !taken[j] && ok(i, j)) {
                let d = j.abs_diff(e);
                if best.is_none_or(|b| d < b.0) {
                    best = Some((d, i, j));
                }
            }
        }
        let Some((_, i, j)) = best else { break };
        out[i] = Some((j, how));
        taken[j] = true;
    };
    pass(&|i, j| weight(i, j) == 3, How::Same, false);
    pass(&|i, j| weight(i, j) == 2, How::Periods, false);
    pass(
        &|i, j| renamed(&then[i].topic, &now[j].topic),
        How::Renamed,
        true,
    );
    out
}

/// Whether `after` reads as `before` renamed: the same numbers in the same order ("Chương 2",
/// "Bài 3") and the words of one within the other's or sharing half of them ("Chương 2. Chất"
/// → "Chương 2. Chất quanh ta"), or the same words under another number ("Bài 3. Năng lượng"
/// → "Bài 4. Năng lượng"); the words that only label a line (bài, chương, chủ đề, tiết, phần)
/// count as none. "Chủ đề 3" is not "Chủ đề 30"; "Bài 3. Lực" is not "Bài 3. Áp suất".
pub fn renamed(before: &str, after: &str) -> bool {
    const LABELS: [&str; 6] = ["bai", "chuong", "chu", "de", "tiet", "phan"];
    let split = |s: &str| {
        let folded = crate::text::fold(s);
        let (mut numbers, mut words) = (vec![], std::collections::BTreeSet::new());
        for t in folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
        {
            if t.chars().all(|c| c.is_ascii_digit()) {
                numbers.push(t.trim_start_matches('0').to_string());
            } else if !LABELS.contains(&t) {
                words.insert(t.to_string());
            }
        }
        (numbers, words)
    };
    let ((na, wa), (nb, wb)) = (split(before), split(after));
    if na != nb {
        return !wa.is_empty() && wa == wb;
    }
    if wa.is_empty() && na.is_empty() {
        return false;
    }
    let common = wa.intersection(&wb).count();
    wa.is_subset(&wb) || wb.is_subset(&wa) || 2 * common >= wa.union(&wb).count()
}

impl<'r, R: Read> LinkCheck<'r, R> {
    pub fn new(r: &'r R) -> Self {
        LinkCheck {
            r,
            plans: Default::default(),
            approved: Default::default(),
        }
    }

    fn plan(&mut self, id: &str) -> Result<Option<&(Plan, Option<PlanVersion>)>, StoreError> {
        if !self.plans.contains_key(id) {
            let got = match self.r.get(&PLANS, id)? {
                Some(plan) => {
                    let v = match plan.approved_version {
                        Some(n) => self.r.get(&PLAN_VERSIONS, &key(id, n))?,
                        None => None,
                    };
                    Some((plan, v))
                }
                None => None,
            };
            self.plans.insert(id.to_string(), got);
        }
        Ok(self.plans.get(id).and_then(Option::as_ref))
    }

    /// The approved version `line` may be linked in and its line number, or why not — all
    /// but whether the number is within its lines.
    fn target(
        &mut self,
        lesson: &crate::lessons::Plan,
        line: &str,
    ) -> Result<Result<(PlanVersion, usize), String>, StoreError> {
        let r = self.r;
        let bad = || Err(format!("Dòng kế hoạch “{line}” không hợp lệ."));
        let Some((id, n)) = line.split_once('#') else {
            return Ok(bad());
        };
        let Ok(n) = n.parse::<usize>() else {
            return Ok(bad());
        };
        let Some((plan, approved)) = self.plan(id)? else {
            return Ok(bad());
        };
        if plan.kind != Kind::Pl3 {
            return Ok(Err(format!(
                "Chỉ gắn với một dòng trong kế hoạch giáo dục (Phụ lục III) của chính giáo viên; {} là kế hoạch của tổ, không gắn trực tiếp với kế hoạch bài dạy.",
                plan.kind.short()
            )));
        }
        if plan.author != lesson.teacher {
            return Ok(Err(format!(
                "Dòng này thuộc Phụ lục III của {}: chỉ gắn với Phụ lục III của chính giáo viên soạn bài ({}).",
                plan.author_name, lesson.teacher_name
            )));
        }
        let Some(v) = approved.clone() else {
            return Ok(Err(
                "Kế hoạch giáo dục này chưa được phê duyệt; chưa gắn được.".into(),
            ));
        };
        if v.subject != lesson.subject || v.grade != lesson.grade {
            let name = |s: &str| -> Result<String, StoreError> {
                Ok(r.get(&SUBJECTS, s)?
                    .map_or_else(|| s.to_string(), |x| x.name))
            };
            return Ok(Err(format!(
                "Kế hoạch bài dạy là môn {} khối {}, còn dòng này thuộc Phụ lục III môn {} khối {}: chỉ gắn với dòng cùng môn, cùng khối.",
                name(&lesson.subject)?,
                lesson.grade,
                name(&v.subject)?,
                v.grade
            )));
        }
        if !in_year(&v.year, lesson.teach_on) {
            return Ok(Err(format!(
                "Ngày dạy {} không thuộc năm học {} của Phụ lục III này.",
                vn_date(lesson.teach_on),
                v.year
            )));
        }
        Ok(Ok((v, n)))
    }

    /// Why a new link of `lesson` to `line` would not hold, in the words the teacher reads;
    /// `None` when it would.
    pub fn problem(
        &mut self,
        lesson: &crate::lessons::Plan,
        line: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(match self.target(lesson, line)? {
            Err(why) => Some(why),
            Ok((v, n)) if n == 0 || n > v.lines.len() => Some(format!(
                "Kế hoạch giáo dục (bản đã duyệt) có {} dòng; không có dòng {n}.",
                v.lines.len()
            )),
            Ok(_) => None,
        })
    }

    /// What `lesson`'s stored link to `line` comes to now: against the lesson it was made to
    /// (its [`LINKS`] record), followed ([`follow`]) to another line number when the Phụ lục
    /// III moved it, "Phụ lục III đã thay đổi" naming where it is now when its periods or
    /// title changed, or that it was dropped from the current version; a link without a
    /// record (none is left after schema 10) is read by its number.
    pub fn state(
        &mut self,
        lesson: &crate::lessons::Plan,
        line: &str,
    ) -> Result<LinkState, StoreError> {
        let made = self.r.get(&LINKS, &lesson.id)?.filter(|t| t.line == line);
        self.state_made(lesson, line, made)
    }

    /// [`LinkCheck::state`] of a link made to `made` (the lesson it named; `None`: by its
    /// number) — the version in force's, which `dept.links.v1` no longer holds once a draft
    /// relinked ([`link_in_force`]).
    pub fn state_made(
        &mut self,
        lesson: &crate::lessons::Plan,
        line: &str,
        made: Option<LinkTarget>,
    ) -> Result<LinkState, StoreError> {
        let (v, n) = match self.target(lesson, line)? {
            Err(why) => return Ok(LinkState::Broken(why)),
            Ok(t) => t,
        };
        let at = |i: usize| (i >= 1).then(|| v.lines.get(i - 1)).flatten();
        let Some(made) = made else {
            return Ok(match at(n) {
                Some(_) => LinkState::Holds(n),
                None => LinkState::Broken(format!(
                    "Kế hoạch giáo dục (bản đã duyệt) có {} dòng; không có dòng {n}.",
                    v.lines.len()
                )),
            });
        };
        let id = line.split_once('#').map_or(line, |x| x.0).to_string();
        if !self.approved.contains_key(&id) {
            let approved = plan_versions(self.r, &id)?
                .into_iter()
                .filter(|x| x.state == State::Approved)
                .collect();
            self.approved.insert(id.clone(), approved);
        }
        // The version linked in, then every approved version after it up to the current one.
        let chain: Vec<(u32, &[Line])> = self.approved[&id]
            .iter()
            .filter(|x| x.number >= made.version && x.number <= v.number)
            .map(|x| (x.number, x.lines.as_slice()))
            .collect();
        let found = match chain.last() {
            Some((last, _)) if *last == v.number => follow(&made, n, &chain),
            _ => follow(&made, n, &[(v.number, v.lines.as_slice())][..]),
        };
        Ok(state_of(&made, n, v.number, &v.lines, found))
    }
}

/// What [`follow`] found, as the link's state and the words every place shows it in — the plan
/// page, the API's `link`, the printed plan, the PL III's page (review r18 #7): where the
/// lesson is now and what changed, or the version that dropped it.
fn state_of(made: &LinkTarget, n: usize, current: u32, now: &[Line], found: Found) -> LinkState {
    let then = format!(
        "khi gắn, bản {}: dòng {n}, {} tiết",
        made.version, made.periods
    );
    match found {
        Found::Same(m) => LinkState::Holds(m),
        Found::Periods(m) => LinkState::Changed {
            at: m,
            why: format!(
                "Phụ lục III đã thay đổi: bài “{}” nay ở dòng {m}, {} tiết (bản {current}; {then}).",
                made.topic,
                now[m - 1].periods
            ),
        },
        Found::Renamed(m) => LinkState::Changed {
            at: m,
            why: format!(
                "Phụ lục III đã thay đổi: bài “{}” nay ở dòng {m}, đổi tên thành “{}”, {} tiết (bản {current}; {then}).",
                made.topic,
                now[m - 1].topic,
                now[m - 1].periods
            ),
        },
        Found::Unsure { at, other } => {
            let name = |m: usize, label: &str| format!("dòng {m} “{}” ({label})", now[m - 1].topic);
            // What the line it is followed to is to the lesson linked: the same title (its
            // periods), the title renumbered, else renamed.
            let what = |m: usize, otherwise: &str| {
                let l = &now[m - 1];
                if crate::text::fold(l.topic.trim()) == crate::text::fold(made.topic.trim()) {
                    format!("{} tiết", l.periods)
                } else if renumbered(&made.topic, &l.topic) {
                    "đánh số lại".to_string()
                } else {
                    otherwise.to_string()
                }
            };
            let here = what(at, "đổi tên");
            LinkState::Changed {
                at,
                why: format!(
                    "Phụ lục III đã thay đổi, cần kiểm tra liên kết: bài “{}” có thể là {} hoặc {} (bản {current}; {then}).",
                    made.topic,
                    name(at, &here),
                    name(
                        other,
                        if renumbered(&made.topic, &now[other - 1].topic) {
                            "đánh số lại"
                        } else {
                            "mới"
                        }
                    ),
                ),
            }
        }
        Found::Dropped(by) => LinkState::Dropped(format!(
            "Phụ lục III đã thay đổi: bài “{}” đã bỏ khỏi Phụ lục III bản {by} ({then}).",
            made.topic
        )),
    }
}

/// A handed-in lesson plan's stored link to a line of a Phụ lục III of the year, and what it
/// comes to: [`links_of_year`] makes the one list the dashboard counts and each plan's page
/// lists, so the two never disagree (review r14 #4a).
pub struct LessonLink {
    pub lesson: crate::lessons::Plan,
    /// The Phụ lục III linked to, its department, and the stored line number.
    pub plan: String,
    pub department: String,
    pub line: usize,
    pub state: LinkState,
    /// A new draft version's relink, not handed in: said apart, never counted.
    pub draft: Option<String>,
}

/// A lesson plan's link as it is in force: the handed-in (waiting or approved) version's, or,
/// while a new draft version is written, the approved version's — with the draft's own link
/// apart when it differs (`draft`, "đang gắn lại (bản nháp)": never counted as the fix until
/// it is handed in, review r20 #2). A plan never handed in (or returned, nothing approved) has
/// only its draft's link (`in_force` false).
pub struct InForce {
    /// "{plan}#{n}" and the lesson it was made to.
    pub line: String,
    pub made: Option<LinkTarget>,
    pub in_force: bool,
    /// The draft's link ("{plan}#{n}" and its lesson) when it differs from the one in force;
    /// `Some((None, None))`: the draft unlinks it.
    pub draft: Option<(Option<String>, Option<LinkTarget>)>,
}

pub fn link_in_force(
    r: &impl Read,
    lesson: &crate::lessons::Plan,
) -> Result<Option<InForce>, StoreError> {
    let stored = |line: &str| -> Result<Option<LinkTarget>, StoreError> {
        Ok(r.get(&LINKS, &lesson.id)?.filter(|t| t.line == line))
    };
    if !lesson.state.handed_in()
        && let Some(av) = lesson.approved_version
        && let Some(v) = r.get(
            &crate::lessons::VERSIONS,
            &crate::lessons::version_key(&lesson.id, av),
        )?
    {
        let Some(line) = v.plan_line.clone() else {
            // Approved unlinked: nothing in force; the draft's link is only a draft's.
            return Ok(match lesson.plan_line.clone() {
                Some(l) => Some(InForce {
                    made: stored(&l)?,
                    line: l,
                    in_force: false,
                    draft: None,
                }),
                None => None,
            });
        };
        let made = match &v.plan_lesson {
            Some(x) => Some(LinkTarget {
                line: line.clone(),
                version: x.version,
                topic: x.lesson.clone(),
                periods: x.periods,
            }),
            None => stored(&line)?,
        };
        let draft_made = match lesson.plan_line.as_deref() {
            Some(l) => stored(l)?,
            None => None,
        };
        let same = lesson.plan_line.as_deref() == Some(line.as_str())
            && draft_made.as_ref().is_none_or(|d| Some(d) == made.as_ref());
        return Ok(Some(InForce {
            line,
            made,
            in_force: true,
            draft: (!same).then(|| (lesson.plan_line.clone(), draft_made)),
        }));
    }
    let Some(line) = lesson.plan_line.clone() else {
        return Ok(None);
    };
    Ok(Some(InForce {
        made: stored(&line)?,
        line,
        in_force: lesson.handed_in(),
        draft: None,
    }))
}

/// Every handed-in lesson plan (waiting or approved) whose stored link names a Phụ lục III of
/// school year `year`, with its [`LinkState`]: a link counts where its plan is, whatever the
/// lesson's date says (a date outside the plan's year is a broken link, listed and counted).
pub fn links_of_year(r: &impl Read, year: &str) -> Result<Vec<LessonLink>, StoreError> {
    let plans: std::collections::HashMap<String, Plan> = r
        .scan(&PLANS, "")?
        .into_iter()
        .filter(|(_, p)| p.year == year)
        .collect();
    let mut check = LinkCheck::new(r);
    let mut out = vec![];
    for l in crate::lessons::every_plan(r)? {
        if !l.handed_in() {
            continue;
        }
        // The version in force's link, never a draft's relink (review r20 #2).
        let Some(f) = link_in_force(r, &l)?.filter(|f| f.in_force) else {
            continue;
        };
        let Some((id, n)) = f.line.split_once('#') else {
            continue;
        };
        let Some(plan) = plans.get(id) else {
            continue;
        };
        let state = check.state_made(&l, &f.line, f.made.clone())?;
        let draft = f.draft.as_ref().map(|(line, _)| match line {
            Some(x) => format!(
                "Đang gắn lại (bản nháp, chưa nộp): dòng {}.",
                x.rsplit_once('#').map_or("?", |x| x.1)
            ),
            None => "Đang bỏ gắn (bản nháp, chưa nộp).".to_string(),
        });
        out.push(LessonLink {
            plan: id.to_string(),
            department: plan.department.clone(),
            line: n.parse().unwrap_or(0),
            state,
            draft,
            lesson: l,
        });
    }
    Ok(out)
}

/// What the teacher can do about a link that no longer holds, by the lesson plan's state and
/// the link's: a handed-in plan waits (its link is part of what the teacher signed and the
/// reviewers sign), an approved one is relinked as a new draft version to sign and hand in
/// again; a changed lesson is relinked at the line it is on now (`at`), a dropped one to
/// another line or none.
pub fn relink_advice(lesson: &crate::lessons::Plan, state: &LinkState) -> String {
    use crate::lessons::State as S;
    let what = match state {
        LinkState::Changed { at, .. } => {
            format!("Giáo viên gắn lại với dòng {at} (bài đã sửa) hoặc dòng khác, hoặc bỏ gắn")
        }
        LinkState::Dropped(_) => {
            "Giáo viên gắn lại với dòng khác trong bản hiện hành, hoặc bỏ gắn".to_string()
        }
        _ => "Giáo viên gắn lại hoặc bỏ gắn".to_string(),
    };
    match lesson.state {
        // Not approved while its lesson is changed or dropped (`hand_in_problem`): returned.
        S::Submitted | S::Reviewed
            if matches!(state, LinkState::Changed { .. } | LinkState::Dropped(_)) =>
        {
            "Kế hoạch bài dạy đang chờ duyệt nên chưa gắn lại được, và chưa được phê duyệt khi liên kết còn như vậy: người duyệt trả lại để giáo viên gắn lại hoặc bỏ gắn rồi ký nộp lại.".to_string()
        }
        S::Submitted | S::Reviewed => {
            "Kế hoạch bài dạy đang chờ duyệt nên chưa gắn lại được: đợi duyệt xong (hoặc được trả lại) rồi gắn lại hoặc bỏ gắn.".to_string()
        }
        S::Approved => format!(
            "{what}; bài đã duyệt khi đó thành phiên bản nháp mới, phải ký nộp lại để được duyệt."
        ),
        S::Draft | S::Returned => format!("{what}."),
    }
}

/// Why lesson plan `lesson` may not take step `step` — be handed in, passed by its tổ or
/// approved — as its link reads now ([`LinkCheck::state`], the one resolution): a lesson the
/// current approved Phụ lục III `changed` (relink to the line it is on now, or another, or
/// unlink) or `dropped` (relink to another line, or unlink). A lesson only `moved` is the same
/// lesson and holds; a link breaking the rule is listed on the PL III's page, not stopped
/// here. None when unlinked.
pub fn hand_in_problem(
    r: &impl Read,
    lesson: &crate::lessons::Plan,
    step: crate::lessons::Advance,
) -> Result<Option<String>, StoreError> {
    let Some(line) = lesson.plan_line.as_deref() else {
        return Ok(None);
    };
    let state = LinkCheck::new(r).state(lesson, line)?;
    Ok(hand_in_refusal(&lesson.title, state, step))
}

/// The words of [`hand_in_problem`] for a link in `state` (pure): `None` for a link that holds
/// (`moved` included) or breaks the rule.
fn hand_in_refusal(title: &str, state: LinkState, step: crate::lessons::Advance) -> Option<String> {
    use crate::lessons::Advance;
    let (why, what) = match state {
        LinkState::Changed { at, why } => (
            why,
            format!("gắn lại với dòng {at} (bài đã sửa) hoặc dòng khác, hoặc bỏ gắn"),
        ),
        LinkState::Dropped(why) => (
            why,
            "gắn lại với dòng khác của bản hiện hành, hoặc bỏ gắn".to_string(),
        ),
        LinkState::Holds(_) | LinkState::Broken(_) => return None,
    };
    Some(match step {
        Advance::HandIn => {
            format!("Chưa nộp được kế hoạch bài dạy “{title}”: {why} Hãy {what} rồi nộp.")
        }
        Advance::Review => format!(
            "Chưa duyệt được kế hoạch bài dạy “{title}”: {why} Trả lại kế hoạch để giáo viên {what}, rồi ký nộp lại."
        ),
        Advance::Approve => format!(
            "Chưa phê duyệt được kế hoạch bài dạy “{title}”: {why} Trả lại kế hoạch để giáo viên {what}, rồi ký nộp lại."
        ),
    })
}

/// [`hand_in_problem`] inside a write's transaction, as `lessons::LinkGate` asks it.
pub fn hand_in_gate(
    tx: &Tx<'_>,
    lesson: &crate::lessons::Plan,
    step: crate::lessons::Advance,
) -> Result<Option<String>, StoreError> {
    hand_in_problem(tx, lesson, step)
}

/// Relinking (or unlinking) an approved lesson plan makes a new draft version that must be
/// signed and handed in again: refused until the teacher confirms it (`amend`), so the page
/// says so before it happens (review r16 #6).
pub const CONFIRM_AMEND: &str = "confirm_amend";

/// Points a teacher's lesson plan at line `line` ("{plan}#{n}", 1-based) of their own approved
/// Phụ lục III, or at none. The lesson plan keeps the link with the lesson it names
/// ([`crate::lessons::LinkedLesson`]: the plan's approved version, the line's title) and its
/// teacher signs it with the plan; this checks the link ([`LinkCheck`]) first. The link is
/// part of the signed content, so a plan waiting for review is refused (it waits), and an
/// approved one is changed only with `amend` (it becomes a new draft version).
///
/// Returns the plan and, when the request changes nothing (the line sent is where the linked
/// lesson is now, or an unlinked plan is unlinked), why, in Vietnamese.
pub fn link_lesson(
    tx: &mut Tx<'_>,
    p: &Principal,
    lesson_plan: &str,
    line: Option<&str>,
    amend: bool,
) -> Result<(crate::lessons::Plan, Option<String>), DeptError> {
    use crate::lessons::State as S;
    let line = line.map(str::trim).filter(|l| !l.is_empty());
    let lesson = tx
        .get(&crate::lessons::PLANS, lesson_plan)?
        .ok_or(DeptError::Lessons(LessonError::NotFound))?;
    if lesson.teacher != p.id() {
        return Err(DeptError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch bài dạy này mới gắn nó với kế hoạch giáo dục.".into(),
        ));
    }
    // The sent number is a line of the Phụ lục III's current approved version (what the
    // page's list offers): compared with where the stored link's lesson is now, never with
    // the number as signed (review r18 #2).
    if let Some(same) = unlinked_or_same(&*tx, &lesson, line)? {
        return Ok((lesson, Some(same)));
    }
    match lesson.state {
        S::Submitted | S::Reviewed => {
            return Err(DeptError::State(format!(
                "Kế hoạch bài dạy “{}” đang chờ duyệt; liên kết với Phụ lục III là một phần nội dung đã ký nên chưa đổi được. Đợi duyệt xong (hoặc được trả lại) rồi gắn lại.",
                lesson.title
            )));
        }
        S::Approved if !amend => {
            return Err(DeptError::Confirm(format!(
                "Kế hoạch bài dạy “{}” đã được duyệt. {} sẽ tạo phiên bản nháp mới (bản đã duyệt vẫn giữ nguyên); phải ký nộp lại để được duyệt. Tiếp tục?",
                lesson.title,
                if line.is_some() {
                    "Gắn lại"
                } else {
                    "Bỏ gắn"
                }
            )));
        }
        _ => {}
    }
    let mut named = None;
    if let Some(l) = line {
        if let Some(why) = LinkCheck::new(&*tx).problem(&lesson, l)? {
            return Err(invalid(why));
        }
        // What the link points at, so that it follows the lesson ([`LinkCheck::state`]) and
        // the signed content names it.
        if let Some((id, n)) = l.split_once('#')
            && let Some(v) = tx.get(&PLANS, id)?.and_then(|p| p.approved_version)
            && let Some(pv) = tx.get(&PLAN_VERSIONS, &key(id, v))?
            && let Some(i) = n.parse::<usize>().ok().and_then(|n| n.checked_sub(1))
            && let Some(x) = pv.lines.get(i)
        {
            named = Some((LinkTarget::of(l, v, x), id.to_string(), i + 1));
        }
    }
    let plan = crate::lessons::set_plan_line(
        tx,
        p,
        lesson_plan,
        line.map(str::to_string),
        named
            .as_ref()
            .map(|(t, id, n)| crate::lessons::LinkedLesson {
                pl3: id.clone(),
                version: t.version,
                line: *n,
                lesson: t.topic.clone(),
                periods: t.periods,
            }),
    )?;
    match named {
        Some((t, _, _)) => tx.put(&LINKS, lesson_plan, &t, "dept.link")?,
        None => {
            if tx.get(&LINKS, lesson_plan)?.is_some() {
                tx.delete(&LINKS, lesson_plan, "dept.unlink")?;
            }
        }
    }
    Ok((plan, None))
}

/// Why linking `lesson` to `line` (a line of the current approved version, or none) changes
/// nothing, or `None` when it is a change: unlinking an unlinked plan, or the line the stored
/// link's lesson is on now ([`LinkCheck::state`], at its new number if the Phụ lục III moved
/// it). The same number as signed naming another lesson now is a change (a relink).
fn unlinked_or_same(
    r: &impl Read,
    lesson: &crate::lessons::Plan,
    line: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let (stored, line) = match (lesson.plan_line.as_deref(), line) {
        (None, None) => {
            return Ok(Some(format!(
                "Kế hoạch bài dạy “{}” chưa gắn với Phụ lục III nào; không có gì thay đổi.",
                lesson.title
            )));
        }
        (Some(s), Some(l)) => (s, l),
        _ => return Ok(None),
    };
    let parse = |l: &str| {
        l.split_once('#')
            .and_then(|(id, n)| Some((id.to_string(), n.trim().parse::<usize>().ok()?)))
    };
    let (Some((sid, _)), Some((id, n))) = (parse(stored), parse(line)) else {
        return Ok(None);
    };
    if sid != id {
        return Ok(None);
    }
    let LinkState::Holds(m) = LinkCheck::new(r).state(lesson, stored)? else {
        return Ok(None);
    };
    if m != n {
        return Ok(None);
    }
    let topic = match r.get(&PLANS, &id)?.and_then(|p| p.approved_version) {
        Some(v) => r
            .get(&PLAN_VERSIONS, &key(&id, v))?
            .and_then(|pv| pv.lines.get(m - 1).map(|l| l.topic.clone())),
        None => None,
    };
    Ok(Some(format!(
        "Kế hoạch bài dạy “{}” đã gắn với bài này (dòng {m}: “{}” của bản Phụ lục III hiện hành); không có gì thay đổi.",
        lesson.title,
        topic.unwrap_or_default()
    )))
}

/// A lesson plan's link as it reads now ([`crate::lessons::LinkView`]), resolved by
/// [`LinkCheck::state`] — the resolution the PL III page counts and lists with —, named by
/// the lesson it was made to ([`LINKS`]; a link without a record by its line now). Put in the
/// server's state as `lessons::LinkResolver` for the lesson plan's API and page.
pub fn link_view(
    r: &crate::store::Rx,
    lesson: &crate::lessons::Plan,
) -> Result<Option<crate::lessons::LinkView>, StoreError> {
    link_view_of(r, lesson)
}

/// [`link_view`] inside a write's transaction, as `lessons::LinkResolverTx` asks it: the
/// month's approval PDF prints each plan's link as it reads when it is signed (review r21 #10).
pub fn link_view_in(
    tx: &Tx<'_>,
    lesson: &crate::lessons::Plan,
) -> Result<Option<crate::lessons::LinkView>, StoreError> {
    link_view_of(tx, lesson)
}

fn link_view_of(
    r: &impl Read,
    lesson: &crate::lessons::Plan,
) -> Result<Option<crate::lessons::LinkView>, StoreError> {
    let Some(f) = link_in_force(r, lesson)? else {
        return Ok(None);
    };
    let mut view = view_of(r, lesson, &f.line, f.made, f.in_force)?;
    if let Some((line, made)) = f.draft {
        view.draft = Some(Box::new(match line {
            Some(l) => view_of(r, lesson, &l, made, false)?,
            // The draft unlinks: said by a view without a line.
            None => crate::lessons::LinkView {
                status: "unlinked",
                message: Some("Bản nháp đang bỏ gắn (chưa nộp).".to_string()),
                in_force: false,
                draft: None,
                ..view.clone()
            },
        }));
    }
    Ok(Some(view))
}

/// One link's [`crate::lessons::LinkView`]: `line` made to `made`.
fn view_of(
    r: &impl Read,
    lesson: &crate::lessons::Plan,
    line: &str,
    made: Option<LinkTarget>,
    in_force: bool,
) -> Result<crate::lessons::LinkView, StoreError> {
    let (id, n) = match line.split_once('#') {
        Some((id, n)) => (id, n.parse::<usize>().unwrap_or(0)),
        None => (line, 0),
    };
    let plan = r.get(&PLANS, id)?;
    let current = plan.as_ref().and_then(|p| p.approved_version);
    let now = match current {
        Some(v) => r.get(&PLAN_VERSIONS, &key(id, v))?,
        None => None,
    };
    let (title, periods, version) = match &made {
        Some(t) => (t.topic.clone(), t.periods, t.version),
        None => {
            let at = now
                .as_ref()
                .and_then(|v| v.lines.get(n.checked_sub(1)?))
                .map(|l| (l.topic.clone(), l.periods));
            let (t, p) = at.unwrap_or_default();
            (t, p, current.unwrap_or(0))
        }
    };
    let state = LinkCheck::new(r).state_made(lesson, line, made)?;
    // The advice is for the version it is: a draft's link is the teacher's to change.
    let as_draft;
    let shown = if in_force || !lesson.state.handed_in() {
        lesson
    } else {
        as_draft = crate::lessons::Plan {
            state: crate::lessons::State::Draft,
            ..lesson.clone()
        };
        &as_draft
    };
    let advice = |why: &str| format!("{why} {}", relink_advice(shown, &state));
    let (status, at, message) = match &state {
        LinkState::Holds(m) if *m == n => ("ok", *m, None),
        // Moved: it holds; said where, the same words on every page.
        LinkState::Holds(m) => (
            "moved",
            *m,
            Some(format!(
                "Khi gắn (Phụ lục III bản {version}) bài này ở dòng {n}; bản hiện hành (bản {}) đã chuyển sang dòng {m}.",
                current.unwrap_or(version)
            )),
        ),
        LinkState::Changed { at, why } => ("changed", *at, Some(advice(why))),
        LinkState::Dropped(why) => ("dropped", n, Some(advice(why))),
        LinkState::Broken(why) => ("broken", n, Some(advice(why))),
    };
    Ok(crate::lessons::LinkView {
        pl3: id.to_string(),
        pl3_title: match &plan {
            Some(p) => plan_title(r, p),
            None => "Phụ lục III (không còn)".to_string(),
        },
        version,
        current_version: current,
        line: at,
        linked_line: n,
        lesson: title,
        periods,
        status,
        message,
        in_force,
        draft: None,
    })
}

/// The tracking `p` may see: every department for BGH, their own for a tổ trưởng heading one
/// (review r16 #6), none for anyone else.
pub fn dashboard_for(
    r: &impl Read,
    p: &Principal,
    year: &str,
) -> Result<Option<Vec<Progress>>, StoreError> {
    if p.is_bgh() {
        return dashboard(r, year).map(Some);
    }
    let Some(own) = p.account.department.as_deref().filter(|d| heads(p, d)) else {
        return Ok(None);
    };
    let mut all = dashboard(r, year)?;
    all.retain(|x| x.department == own);
    Ok(Some(all))
}

/// One department on the principal's dashboard: the lessons its approved plans hold against
/// the lesson plans its teachers handed in this school year.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub department: String,
    pub name: String,
    /// Lines (bài học / chủ đề) of the department's approved Phụ lục I.
    pub pl1_lessons: usize,
    /// Lines of its teachers' approved Phụ lục III.
    pub pl3_lessons: usize,
    /// Lesson plans handed in (waiting or approved) taught this school year.
    pub handed_in: usize,
    /// Of those, the ones pointing at a line their link may point at ([`LinkCheck`]).
    pub linked: usize,
    /// Of those, the ones whose stored link breaks the rule (kept, shown as such: made before
    /// the check, or the plan changed since).
    pub broken: usize,
    /// Of `linked`, the ones whose lesson the Phụ lục III, approved again, moved to another
    /// line (they hold there).
    pub moved: usize,
    /// Of those handed in, the ones whose lesson the Phụ lục III, approved again, changed —
    /// other periods, or renamed —: kept, listed on the plan's page, needing attention.
    pub changed: usize,
    /// The ones whose lesson the Phụ lục III, approved again, dropped: kept, listed, needing
    /// a relink to another line or none.
    pub dropped: usize,
}

/// Whether `d` falls in school year "2026-2027" (1 August to 31 July).
fn in_year(year: &str, d: jiff::civil::Date) -> bool {
    let Some(start) = year
        .split_once('-')
        .and_then(|(y, _)| y.parse::<i16>().ok())
    else {
        return false;
    };
    let from = jiff::civil::date(start, 8, 1);
    let to = jiff::civil::date(start.saturating_add(1), 8, 1);
    from <= d && d < to
}

/// Per department: its approved PL I and III lines, the lesson plans handed in this school
/// year, and of the links to its Phụ lục III of the year ([`links_of_year`], what the plans'
/// pages list) how many hold, break the rule, or point at a lesson the plan changed.
pub fn dashboard(r: &impl Read, year: &str) -> Result<Vec<Progress>, StoreError> {
    let plans: Vec<Plan> = r
        .scan(&PLANS, "")?
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.year == year && p.approved_version.is_some())
        .collect();
    let mut lines_of = std::collections::HashMap::new();
    for p in &plans {
        if let Some(n) = p.approved_version
            && let Some(v) = r.get(&PLAN_VERSIONS, &key(&p.id, n))?
        {
            lines_of.insert(p.id.clone(), v.lines.len());
        }
    }
    let lessons = crate::lessons::every_plan(r)?;
    let links = links_of_year(r, year)?;
    let mut out = vec![];
    for (id, d) in r.scan(&DEPARTMENTS, "")? {
        let count = |kind: Kind| -> usize {
            plans
                .iter()
                .filter(|p| p.kind == kind && p.department == id)
                .map(|p| lines_of.get(&p.id).copied().unwrap_or(0))
                .sum()
        };
        let handed_in = lessons
            .iter()
            .filter(|l| {
                l.department.as_deref() == Some(id.as_str())
                    && l.handed_in()
                    && in_year(year, l.teach_on)
            })
            .count();
        let (mut linked, mut moved, mut broken, mut changed, mut dropped) = (0, 0, 0, 0, 0);
        for l in links.iter().filter(|l| l.department == id) {
            match l.state {
                LinkState::Holds(m) => {
                    linked += 1;
                    moved += usize::from(m != l.line);
                }
                LinkState::Broken(_) => broken += 1,
                LinkState::Changed { .. } => changed += 1,
                LinkState::Dropped(_) => dropped += 1,
            }
        }
        out.push(Progress {
            pl1_lessons: count(Kind::Pl1),
            pl3_lessons: count(Kind::Pl3),
            handed_in,
            linked,
            moved,
            broken,
            changed,
            dropped,
            department: id,
            name: d.name,
        });
    }
    Ok(out)
}

/// A plan as its pages, the link view and the dashboard name it ("PL I: Toán khối 6",
/// "PL III: Toán khối 6, lớp 6A2", "PL II: <title>").
pub(crate) fn plan_title(r: &impl crate::store::Read, p: &Plan) -> String {
    match p.kind {
        Kind::Pl2 => format!("{}: {}", p.kind.short(), p.title),
        _ => {
            let subject = r
                .get(&crate::school::SUBJECTS, &p.subject)
                .ok()
                .flatten()
                .map_or(p.subject.clone(), |s| s.name);
            // Only a teacher's plan (PL III) is for a class; a class stored on a PL I by an
            // earlier version is not shown (review r14 #10).
            let class = if p.kind != Kind::Pl3 || p.class.is_empty() {
                String::new()
            } else {
                format!(", lớp {}", p.class)
            };
            format!("{}: {subject} khối {}{class}", p.kind.short(), p.grade)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lessons::Advance;

    #[test]
    fn periods_are_compared_with_the_programme_and_the_difference_named() {
        assert_eq!(periods_mismatch(140, 140), None);
        assert_eq!(
            periods_mismatch(137, 140).as_deref(),
            Some("Tổng số tiết 137, chương trình quy định 140: thiếu 3 tiết.")
        );
        assert_eq!(
            periods_mismatch(141, 140).as_deref(),
            Some("Tổng số tiết 141, chương trình quy định 140: thừa 1 tiết.")
        );
    }

    #[test]
    fn the_text_box_reads_each_kind_of_line() {
        let l = parse_lines(Kind::Pl1, "Bài 1 | 2 | Tuần 1 | Máy chiếu | Lớp học\n\n").unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].periods, l[0].place.as_str()), (2, "Lớp học"));
        let l = parse_lines(
            Kind::Pl2,
            "Ngày hội | Yêu thích | 3 | Tháng 3 | Tổ | Đoàn | Sân",
        )
        .unwrap();
        assert_eq!((l[0].periods, l[0].lead.as_str()), (3, "Tổ"));
        let e = parse_lines(Kind::Pl1, "Bài 1 | hai | Tuần 1").unwrap_err();
        assert!(e.to_string().contains("Dòng 1"), "{e}");
    }

    /// Lines "title:periods".
    fn pl3(lines: &[(&str, u16)]) -> Vec<Line> {
        lines
            .iter()
            .map(|(t, p)| Line {
                topic: t.to_string(),
                periods: *p,
                ..Line::default()
            })
            .collect()
    }

    /// Review r18 #7, the reviewer's own PL III: v1 = Bài 1 / Chương 2. Chất (70) / Bài 3.
    fn v1() -> Vec<Line> {
        pl3(&[
            ("Bài 1. Giới thiệu về KHTN", 3),
            ("Chương 2. Chất", 70),
            ("Bài 3. Năng lượng", 67),
        ])
    }

    fn linked(n: usize) -> LinkTarget {
        LinkTarget::of(&format!("pl3-x#{n}"), 1, &v1()[n - 1])
    }

    #[test]
    fn a_changed_or_dropped_lesson_is_not_handed_in_nor_approved_a_moved_one_is() {
        assert_eq!(
            hand_in_refusal("Bài A", LinkState::Holds(3), Advance::HandIn),
            None
        );
        assert_eq!(
            hand_in_refusal("Bài A", LinkState::Holds(3), Advance::Approve),
            None
        );
        assert_eq!(
            hand_in_refusal("Bài A", LinkState::Broken("x".into()), Advance::HandIn),
            None
        );
        let changed = || LinkState::Changed {
            at: 3,
            why: "Phụ lục III đã thay đổi: bài “Chương 2. Chất” nay ở dòng 3, 68 tiết.".into(),
        };
        assert_eq!(
            hand_in_refusal("Bài A", changed(), Advance::HandIn).as_deref(),
            Some(
                "Chưa nộp được kế hoạch bài dạy “Bài A”: Phụ lục III đã thay đổi: bài “Chương 2. Chất” nay ở dòng 3, 68 tiết. Hãy gắn lại với dòng 3 (bài đã sửa) hoặc dòng khác, hoặc bỏ gắn rồi nộp."
            )
        );
        let m = hand_in_refusal("Bài A", changed(), Advance::Approve).unwrap();
        assert!(
            m.starts_with("Chưa phê duyệt được kế hoạch bài dạy “Bài A”")
                && m.contains("Trả lại kế hoạch để giáo viên gắn lại với dòng 3"),
            "{m}"
        );
        // The tổ trưởng's pass is refused in the same words, worded for her.
        let m = hand_in_refusal("Bài A", changed(), Advance::Review).unwrap();
        assert!(
            m.starts_with("Chưa duyệt được kế hoạch bài dạy “Bài A”: Phụ lục III đã thay đổi")
                && m.contains("Trả lại kế hoạch để giáo viên gắn lại với dòng 3"),
            "{m}"
        );
        let m = hand_in_refusal(
            "Bài A",
            LinkState::Dropped("đã bỏ.".into()),
            Advance::HandIn,
        )
        .unwrap();
        assert!(
            m.contains("đã bỏ. Hãy gắn lại với dòng khác của bản hiện hành, hoặc bỏ gắn rồi nộp."),
            "{m}"
        );
    }

    #[test]
    fn a_linked_lesson_is_followed_where_it_moved() {
        // A line inserted above: the lesson is one line down, as it was.
        let v2 = pl3(&[
            ("Bài 0. Mở đầu", 1),
            ("Bài 1. Giới thiệu về KHTN", 3),
            ("Chương 2. Chất", 70),
            ("Bài 3. Năng lượng", 66),
        ]);
        assert_eq!(
            follow(&linked(2), 2, &[(1, &v1()), (2, &v2)]),
            Found::Same(3)
        );
        // Reordered: found where it went, out of the alignment's order.
        let v3 = pl3(&[
            ("Bài 3. Năng lượng", 67),
            ("Bài 1. Giới thiệu về KHTN", 3),
            ("Chương 2. Chất", 70),
        ]);
        assert_eq!(
            follow(&linked(3), 3, &[(1, &v1()), (3, &v3)]),
            Found::Same(1)
        );
        // A repeated title is told apart by its place: the second "Ôn tập" stays the second.
        let then = pl3(&[("Ôn tập", 2), ("Bài A", 4), ("Ôn tập", 2), ("Bài B", 4)]);
        let now = pl3(&[
            ("Mở đầu", 1),
            ("Ôn tập", 2),
            ("Bài A", 4),
            ("Ôn tập", 2),
            ("Bài B", 3),
        ]);
        let made = LinkTarget::of("pl3-x#3", 1, &then[2]);
        assert_eq!(follow(&made, 3, &[(1, &then), (2, &now)]), Found::Same(4));
        // Without the version it was linked in: by itself, nearest to its old number.
        assert_eq!(follow(&linked(2), 2, &[(2, &v2)]), Found::Same(3));
    }

    #[test]
    fn a_linked_lesson_with_other_periods_is_named_where_it_is_now() {
        // The reviewer's case: a line inserted above, and 68 periods for 70.
        let v2 = pl3(&[
            ("Bài 0. Mở đầu", 1),
            ("Bài 1. Giới thiệu về KHTN", 3),
            ("Chương 2. Chất", 68),
            ("Bài 3. Năng lượng", 68),
        ]);
        let found = follow(&linked(2), 2, &[(1, &v1()), (2, &v2)]);
        assert_eq!(found, Found::Periods(3));
        let st = state_of(&linked(2), 2, 2, &v2, found);
        let LinkState::Changed { at: 3, why } = &st else {
            panic!("{st:?}")
        };
        assert!(
            why.contains("bài “Chương 2. Chất” nay ở dòng 3, 68 tiết")
                && why.contains("khi gắn, bản 1: dòng 2, 70 tiết"),
            "{why}"
        );
        // Not "line 2 is now Bài 1": the words name no other lesson.
        assert!(!why.contains("Giới thiệu"), "{why}");
    }

    #[test]
    fn a_renamed_lesson_is_named_by_its_new_title() {
        let v3 = pl3(&[
            ("Bài 0. Mở đầu", 1),
            ("Bài 1. Giới thiệu về KHTN", 3),
            ("Chương 2. Chất quanh ta", 68),
            ("Bài 3. Năng lượng", 68),
        ]);
        let found = follow(&linked(2), 2, &[(1, &v1()), (3, &v3)]);
        assert_eq!(found, Found::Renamed(3));
        let LinkState::Changed { at: 3, why } = state_of(&linked(2), 2, 3, &v3, found) else {
            panic!()
        };
        assert!(
            why.contains("bài “Chương 2. Chất” nay ở dòng 3, đổi tên thành “Chương 2. Chất quanh ta”, 68 tiết (bản 3"),
            "{why}"
        );
        assert!(renamed("Bài 3. Năng lượng", "Bài 4. Năng lượng"));
        assert!(renamed("Chủ đề 30", "Chủ đề 30. Ôn tập chương"));
        assert!(!renamed("Chủ đề 30", "Chủ đề 3"));
        assert!(!renamed("Bài 3. Lực", "Bài 3. Áp suất"));
        assert!(!renamed("Bài 3. Năng lượng", "Bài 1. Giới thiệu về KHTN"));
    }

    #[test]
    fn a_dropped_lesson_is_said_dropped_from_the_version() {
        // v4 dropped "Bài 3. Năng lượng"; line 3 is now another lesson.
        let v4 = pl3(&[
            ("Bài 0. Mở đầu", 1),
            ("Bài 1. Giới thiệu về KHTN", 3),
            ("Chương 2. Chất quanh ta", 136),
        ]);
        let found = follow(&linked(3), 3, &[(1, &v1()), (4, &v4)]);
        assert_eq!(found, Found::Dropped(4));
        let st = state_of(&linked(3), 3, 4, &v4, found);
        assert_eq!(
            st,
            LinkState::Dropped(
                "Phụ lục III đã thay đổi: bài “Bài 3. Năng lượng” đã bỏ khỏi Phụ lục III bản 4 (khi gắn, bản 1: dòng 3, 67 tiết).".into()
            )
        );
        // Without the version it was linked in, the same.
        assert_eq!(follow(&linked(3), 3, &[(4, &v4)]), Found::Dropped(4));
    }

    /// The link made in version `k` (1-based, of `versions`) at line `n`, as it reads once
    /// version `at` is the current approved one — the whole chain `k..=at` followed, as
    /// [`LinkCheck::state_made`] does — summed up: "dòng m" (holds), "đổi m" (changed, now on
    /// m), "bỏ N" (dropped by bản N).
    fn read(versions: &[Vec<Line>], k: u32, n: usize, at: u32) -> (String, LinkState) {
        let made = LinkTarget::of(&format!("pl3-x#{n}"), k, &versions[k as usize - 1][n - 1]);
        let chain: Vec<(u32, &Vec<Line>)> =
            (k..=at).map(|x| (x, &versions[x as usize - 1])).collect();
        let found = follow(&made, n, &chain);
        let st = state_of(&made, n, at, &versions[at as usize - 1], found);
        let short = match &st {
            LinkState::Holds(m) => format!("dòng {m}"),
            LinkState::Changed { at, .. } => format!("đổi {at}"),
            LinkState::Dropped(why) => {
                let by = why.split("Phụ lục III bản ").nth(1).unwrap_or("?");
                format!("bỏ {}", by.split(' ').next().unwrap_or("?"))
            }
            LinkState::Broken(_) => "hỏng".into(),
        };
        (short, st)
    }

    /// Review r24 #3: a lesson inserted before two lines of one title and the lines after it
    /// renumbered ("Bài 4" → "Bài 5", "Bài 5" → "Bài 6"): the link to the old "Bài 5" may be
    /// the new "Bài 5" (the same title) or the new "Bài 6" (renumbered in place) — it needs a
    /// check, never silently moves to the other lesson. Nothing renumbered: it holds.
    #[test]
    fn a_renumbering_chain_never_moves_a_link_silently() {
        for (words, v2) in [
            (
                "Luyện tập",
                vec![
                    pl3(&[
                        ("Bài 3. Lực", 2),
                        ("Bài 4. Luyện tập", 1),
                        ("Bài 5. Luyện tập", 1),
                    ]),
                    pl3(&[
                        ("Bài 3. Lực", 2),
                        ("Bài 4. Áp suất", 1),
                        ("Bài 5. Luyện tập", 1),
                        ("Bài 6. Luyện tập", 1),
                    ]),
                ],
            ),
            (
                "",
                vec![
                    pl3(&[("Bài 3", 2), ("Bài 4", 1), ("Bài 5", 1)]),
                    pl3(&[("Bài 3", 2), ("Bài 5", 1), ("Bài 6", 1)]),
                ],
            ),
        ] {
            // The link to the old "Bài 5" (line 3).
            let (got, st) = read(&v2, 1, 3, 2);
            assert!(got.starts_with("đổi"), "{words:?}: {got} {st:?}");
            assert!(st.why().unwrap().contains("có thể là dòng "), "{st:?}");
            assert!(st.why().unwrap().contains("(đánh số lại)"), "{st:?}");
            // The old "Bài 3" stays where it was, without a check.
            assert_eq!(read(&v2, 1, 1, 2).0, "dòng 1", "{words:?}");
            // Nothing renumbered: every link holds where it was.
            let same = vec![v2[0].clone(), v2[0].clone()];
            for n in 1..=3 {
                assert_eq!(read(&same, 1, n, 2).0, format!("dòng {n}"), "{words:?}");
            }
        }
        // A list reordered is no renumbering: "Chủ đề 30" follows its title (review r14 #4b).
        let topics: Vec<String> = (1..=35).map(|i| format!("Chủ đề {i}")).collect();
        let list = |rev: bool| {
            let mut l: Vec<(&str, u16)> = topics.iter().map(|t| (t.as_str(), 4)).collect();
            if rev {
                l.reverse();
            }
            pl3(&l)
        };
        assert_eq!(read(&[list(false), list(true)], 1, 30, 2).0, "dòng 6");
        assert!(renumbered("Bài 5. Luyện tập", "Bài 6. Luyện tập"));
        assert!(renumbered("Bài 5", "Bài 6"));
        assert!(!renumbered("Bài 5", "Bài 5"));
        assert!(!renumbered("Ôn tập", "Ôn tập"));
        assert!(!renumbered("Bài 5. Lực", "Bài 6. Áp suất"));
    }

    /// Review r28, the reviewer's scenarios (Công nghệ 7A3): a lesson inserted or removed and
    /// the lines after it renumbered is never reported dropped, and where a line of the same
    /// title competes the link needs a check ("đánh số lại"), never holds silently.
    #[test]
    fn renumbered_lessons_are_followed_never_dropped_r28() {
        let l = |t: &[(&str, u16)]| pl3(t);
        let l1 = l(&[
            ("Bài 1. Mở đầu", 5),
            ("Bài 2. Đất trồng", 5),
            ("Bài 3. Cây trồng", 5),
            ("Bài 4. Luyện tập", 5),
            ("Bài 5. Luyện tập", 5),
            ("Bài 6. Ôn tập", 5),
            ("Bài 7. Kiểm tra", 5),
        ]);
        let why = |v: &[Vec<Line>], n: usize| {
            read(v, 1, n, v.len() as u32)
                .1
                .why()
                .unwrap_or("")
                .to_string()
        };
        // S1: "Bài 4. Phân bón" inserted at line 4.
        let s1 = vec![
            l1.clone(),
            l(&[
                ("Bài 1. Mở đầu", 5),
                ("Bài 2. Đất trồng", 5),
                ("Bài 3. Cây trồng", 5),
                ("Bài 4. Phân bón", 4),
                ("Bài 5. Luyện tập", 5),
                ("Bài 6. Luyện tập", 5),
                ("Bài 7. Ôn tập", 5),
                ("Bài 8. Kiểm tra", 1),
            ]),
        ];
        assert_eq!(read(&s1, 1, 4, 2).0, "đổi 5", "{}", why(&s1, 4));
        assert!(
            why(&s1, 4).contains("đổi tên thành “Bài 5. Luyện tập”"),
            "{}",
            why(&s1, 4)
        );
        assert_eq!(read(&s1, 1, 5, 2).0, "đổi 6", "{}", why(&s1, 5));
        assert!(
            why(&s1, 5).contains(
                "có thể là dòng 6 “Bài 6. Luyện tập” (đánh số lại) hoặc dòng 5 “Bài 5. Luyện tập”"
            ),
            "{}",
            why(&s1, 5)
        );
        // S9: back to the first version: the link holds again where it was, never "dropped".
        let s9 = vec![s1[0].clone(), s1[1].clone(), l1.clone()];
        assert_eq!(read(&s9, 1, 4, 3).0, "đổi 4", "{}", why(&s9, 4));
        // S5c: another "Luyện tập" inserted: either the new one is line 4 (the others
        // renumbered) or line 6 — both links need a check.
        let s5c = vec![
            l(&[
                ("Bài 1. Mở đầu", 5),
                ("Bài 2. Đất trồng", 5),
                ("Bài 3. Cây trồng", 5),
                ("Bài 4. Luyện tập", 5),
                ("Bài 5. Luyện tập", 5),
                ("Bài 6. Ôn tập", 10),
            ]),
            l(&[
                ("Bài 1. Mở đầu", 5),
                ("Bài 2. Đất trồng", 5),
                ("Bài 3. Cây trồng", 5),
                ("Bài 4. Luyện tập", 5),
                ("Bài 5. Luyện tập", 5),
                ("Bài 6. Luyện tập", 5),
                ("Bài 7. Ôn tập", 5),
            ]),
        ];
        for n in [4, 5] {
            let w = why(&s5c, n);
            assert!(
                w.contains("cần kiểm tra liên kết") && w.contains("(đánh số lại)"),
                "{n}: {w}"
            );
        }
        // S7: "Bài 3. Cây trồng" removed, the rest renumbered.
        let s7 = vec![
            l1.clone(),
            l(&[
                ("Bài 1. Mở đầu", 5),
                ("Bài 2. Đất trồng", 10),
                ("Bài 3. Luyện tập", 5),
                ("Bài 4. Luyện tập", 5),
                ("Bài 5. Ôn tập", 5),
                ("Bài 6. Kiểm tra", 5),
            ]),
        ];
        assert_eq!(read(&s7, 1, 5, 2).0, "đổi 4", "{}", why(&s7, 5));
        assert!(why(&s7, 4).contains("(đánh số lại)"), "{}", why(&s7, 4));
        assert_eq!(read(&s7, 1, 3, 2).0, "bỏ 2");
        // S8: bare titles, the periods telling the lessons apart.
        let s8 = vec![
            l(&[
                ("Bài 1", 5),
                ("Bài 2", 5),
                ("Bài 3", 5),
                ("Bài 4", 3),
                ("Bài 5", 7),
                ("Bài 6", 5),
                ("Bài 7", 5),
            ]),
            l(&[
                ("Bài 1", 5),
                ("Bài 2", 5),
                ("Bài 3", 5),
                ("Bài 4", 2),
                ("Bài 5", 3),
                ("Bài 6", 7),
                ("Bài 7", 5),
                ("Bài 8", 3),
            ]),
        ];
        for n in [4, 5, 6] {
            let w = why(&s8, n);
            assert!(w.contains("đánh số lại"), "{n}: {w}");
        }
        // Nothing changed: every link holds.
        let same = vec![l1.clone(), l1.clone()];
        for n in 1..=7 {
            assert_eq!(read(&same, 1, n, 2).0, format!("dòng {n}"));
        }
    }

    /// Review r20 #1, gv01's PL III of KHTN 6A1, v1 → v5, plans A–E linked in v1 (A #2 and B
    /// #4 the two "Ôn tập", C #3, D #5, E #1) and B relinked in v4 to #5 ("B4").
    #[test]
    fn a_link_is_followed_through_every_approved_version_6a1() {
        let v = vec![
            pl3(&[
                ("Bài 1. Mở đầu", 10),
                ("Ôn tập", 5),
                ("Chương 2. Chất", 70),
                ("Ôn tập", 5),
                ("Bài 3. Năng lượng", 50),
            ]),
            pl3(&[
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất", 68),
                ("Ôn tập", 5),
                ("Bài 3. Năng lượng", 50),
            ]),
            // Chương 2 renamed, the last two lines swapped.
            pl3(&[
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất quanh ta", 68),
                ("Bài 3. Năng lượng", 50),
                ("Ôn tập", 5),
            ]),
            // Bài 3 dropped, Bài 4 added.
            pl3(&[
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất quanh ta", 68),
                ("Ôn tập", 5),
                ("Bài 4. Trái Đất", 50),
            ]),
            // Bài 4 replaced by Bài 5.
            pl3(&[
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất quanh ta", 68),
                ("Ôn tập", 5),
                ("Bài 5. Sự sống", 50),
            ]),
        ];
        let plans = [("A", 2), ("B", 4), ("C", 3), ("D", 5), ("E", 1)];
        let expected: [[&str; 5]; 5] = [
            // A        B          C         D         E
            ["dòng 2", "dòng 4", "dòng 3", "dòng 5", "dòng 1"], // v1
            ["bỏ 2", "dòng 4", "đổi 3", "dòng 5", "dòng 2"],    // v2
            ["bỏ 2", "dòng 5", "đổi 3", "dòng 4", "dòng 2"],    // v3
            ["bỏ 2", "dòng 4", "đổi 3", "bỏ 4", "dòng 2"],      // v4
            ["bỏ 2", "dòng 4", "đổi 3", "bỏ 4", "dòng 2"],      // v5
        ];
        for (at, row) in expected.iter().enumerate() {
            for ((plan, n), want) in plans.iter().zip(row) {
                let (got, st) = read(&v, 1, *n, at as u32 + 1);
                assert_eq!(&got, want, "plan {plan} at v{}: {st:?}", at + 1);
            }
        }
        // B relinked in v4 to "Bài 4. Trái Đất": v5 dropped it.
        assert_eq!(read(&v, 4, 5, 4).0, "dòng 5");
        assert_eq!(read(&v, 4, 5, 5).0, "bỏ 5");
        // The words: the version that dropped it, never the latest; what C is now.
        let (_, a) = read(&v, 1, 2, 5);
        assert_eq!(
            a,
            LinkState::Dropped(
                "Phụ lục III đã thay đổi: bài “Ôn tập” đã bỏ khỏi Phụ lục III bản 2 (khi gắn, bản 1: dòng 2, 5 tiết).".into()
            )
        );
        let (_, d) = read(&v, 1, 5, 5);
        assert!(
            d.why().unwrap().contains("đã bỏ khỏi Phụ lục III bản 4 ("),
            "{d:?}"
        );
        let (_, c) = read(&v, 1, 3, 2);
        assert!(c.why().unwrap().contains("bài “Chương 2. Chất” nay ở dòng 3, 68 tiết (bản 2; khi gắn, bản 1: dòng 3, 70 tiết)"), "{c:?}");
        let (_, c) = read(&v, 1, 3, 5);
        assert!(
            c.why()
                .unwrap()
                .contains("nay ở dòng 3, đổi tên thành “Chương 2. Chất quanh ta”, 68 tiết (bản 5;"),
            "{c:?}"
        );
        // One step never puts two lines on one.
        for pair in v.windows(2) {
            let map: Vec<usize> = step(&pair[0], &pair[1])
                .into_iter()
                .flatten()
                .map(|x| x.0)
                .collect();
            let mut seen = map.clone();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), map.len(), "{map:?}");
        }
        assert_eq!(
            step(&v[1], &v[2]),
            vec![
                Some((0, How::Same)),
                Some((1, How::Same)),
                Some((2, How::Renamed)),
                Some((4, How::Same)),
                Some((3, How::Same))
            ]
        );
    }

    /// Review r21 #1: an exact title elsewhere never wins silently over the line in place.
    /// v7 → v9: a new "Ôn tập" at line 1 while the old one is renamed in place ("Ôn tập cuối
    /// kì", still 5 periods, still after Chương 2) — the two readings compete, so the link
    /// needs a check naming both; v9 → v10: Chương 2 renamed in place (70 periods) and a new
    /// 10-period "Chương 2. Chất" at the end — the chapter's link stays in place (renamed).
    #[test]
    fn the_line_in_place_wins_over_a_title_elsewhere_r21() {
        let v = vec![
            pl3(&[
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất", 70),
                ("Ôn tập", 5),
                ("Bài 3. Năng lượng", 43),
            ]),
            pl3(&[
                ("Ôn tập", 5),
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất", 70),
                ("Ôn tập cuối kì", 5),
                ("Bài 3. Năng lượng", 43),
            ]),
            pl3(&[
                ("Ôn tập", 5),
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất quanh ta", 70),
                ("Ôn tập cuối kì", 5),
                ("Bài 3. Năng lượng", 43),
                ("Chương 2. Chất", 10),
            ]),
        ];
        // A ("Ôn tập" #4): unsure at v2 and still at v3, linked to the line in place.
        let (got, a) = read(&v, 1, 4, 2);
        assert_eq!(got, "đổi 5", "{a:?}");
        let why = a.why().unwrap();
        assert!(
            why.contains("có thể là dòng 5 “Ôn tập cuối kì” (đổi tên) hoặc dòng 1 “Ôn tập” (mới)")
                && why.contains("(bản 2; khi gắn, bản 1: dòng 4, 5 tiết)"),
            "{why}"
        );
        let (got, a) = read(&v, 1, 4, 3);
        assert_eq!(got, "đổi 5", "{a:?}");
        assert!(
            a.why().unwrap().contains(
                "có thể là dòng 5 “Ôn tập cuối kì” (đổi tên) hoặc dòng 1 “Ôn tập” (mới) (bản 3;"
            ),
            "{a:?}"
        );
        // Never `ok`/`moved` to the new line 1, and a check holds the plan (hand-in refused).
        assert!(!matches!(a, LinkState::Holds(_)));
        assert!(hand_in_refusal("Bài A", a, crate::lessons::Advance::HandIn).is_some());
        // C (Chương 2, 70 periods, #3): in place at v2, renamed in place at v3 — never the
        // new 10-period line 7 of its old title.
        assert_eq!(read(&v, 1, 3, 2).0, "dòng 4");
        let (got, c) = read(&v, 1, 3, 3);
        assert_eq!(got, "đổi 4", "{c:?}");
        assert!(
            c.why()
                .unwrap()
                .contains("nay ở dòng 4, đổi tên thành “Chương 2. Chất quanh ta”, 70 tiết (bản 3;"),
            "{c:?}"
        );
        assert_eq!(read(&v, 2, 4, 3).0, "đổi 4");
        // Linked in v2: the new "Ôn tập" and the renamed one each stay on their own line.
        assert_eq!(read(&v, 2, 1, 3).0, "dòng 1");
        assert_eq!(read(&v, 2, 5, 3).0, "dòng 5");
        // The other lines hold where they are.
        assert_eq!(read(&v, 1, 5, 3).0, "dòng 6");
        assert_eq!(read(&v, 1, 1, 3).0, "dòng 2");
        // A lone title moved out of order, with nothing renamed in its place, still moves.
        let moved = pl3(&[
            ("Ôn tập", 5),
            ("Bài 0. Giới thiệu", 7),
            ("Bài 1. Mở đầu", 10),
            ("Chương 2. Chất", 70),
            ("Bài 3. Năng lượng", 43),
        ]);
        let w = vec![v[0].clone(), moved];
        assert_eq!(read(&w, 1, 4, 2).0, "dòng 1");
    }

    /// Review r21 #1, the rest: a line retitled in place to an unrelated title that kept its
    /// place and periods competes with a new line of the old title elsewhere (a check naming
    /// both, never `moved` to the new line); retitled in place with other periods, it holds
    /// nothing and the title elsewhere takes the link; r21's v9 and v10 replayed from v7.
    #[test]
    fn an_unrelated_title_in_place_competes_only_when_it_kept_the_periods() {
        let v7 = pl3(&[
            ("Bài 0. Giới thiệu", 7),
            ("Bài 1. Mở đầu", 10),
            ("Chương 2. Chất", 70),
            ("Ôn tập", 5),
            ("Bài 3. Năng lượng", 43),
        ]);
        let with = |in_place: (&str, u16)| {
            pl3(&[
                ("Ôn tập", 5),
                ("Bài 0. Giới thiệu", 7),
                ("Bài 1. Mở đầu", 10),
                ("Chương 2. Chất", 70),
                in_place,
                ("Bài 3. Năng lượng", 43),
            ])
        };
        // Same place, same 5 periods, an unrelated title: the new "Ôn tập" on line 1 does not
        // take the link silently.
        let v = vec![v7.clone(), with(("Kiểm tra giữa kì", 5))];
        let (got, a) = read(&v, 1, 4, 2);
        assert_eq!(got, "đổi 5", "{a:?}");
        assert!(a.why().unwrap().contains("dòng 1 “Ôn tập” (mới)"), "{a:?}");
        assert!(!matches!(a, LinkState::Holds(_)));
        // Other periods as well: nothing says it is the same lesson; the title elsewhere takes it.
        let v = vec![v7.clone(), with(("Kiểm tra giữa kì", 2))];
        assert_eq!(read(&v, 1, 4, 2).0, "dòng 1");
        // Plausibly the same lesson (its title kept in the new one), other periods: a check.
        let v = vec![v7.clone(), with(("Ôn tập cuối kì", 3))];
        assert_eq!(read(&v, 1, 4, 2).0, "đổi 5");
        // r21 v9 (new "Ôn tập" on line 1, the old one renamed in place) then v10 (Chương 2
        // renamed in place, 70 periods, a new 10-period "Chương 2. Chất" at the end).
        let v9 = with(("Ôn tập cuối kì", 5));
        let v10 = pl3(&[
            ("Ôn tập", 5),
            ("Bài 0. Giới thiệu", 7),
            ("Bài 1. Mở đầu", 10),
            ("Chương 2. Chất quanh ta", 70),
            ("Ôn tập cuối kì", 5),
            ("Bài 3. Năng lượng", 43),
            ("Chương 2. Chất", 10),
        ]);
        let v = vec![v7, v9, v10];
        // A, B (the review after Chương 2): never `dòng 1`; C (Chương 2): never line 7.
        for at in [2, 3] {
            let (got, a) = read(&v, 1, 4, at);
            assert_eq!(got, "đổi 5", "v{at}: {a:?}");
        }
        assert_eq!(read(&v, 1, 3, 2).0, "dòng 4");
        assert_eq!(read(&v, 1, 3, 3).0, "đổi 4");
        // A line that kept its title and periods is untouched by the rule.
        assert_eq!(read(&v, 1, 5, 3).0, "dòng 6");
        // The same-period line in place is not taken from a left-over line of its own title:
        // two lines swapped keep their own links.
        let a = pl3(&[("Ôn tập", 5), ("Bài 1", 10), ("Kiểm tra", 5), ("Bài 2", 10)]);
        let b = pl3(&[("Kiểm tra", 5), ("Bài 1", 10), ("Ôn tập", 5), ("Bài 2", 10)]);
        let w = vec![a, b];
        assert_eq!(read(&w, 1, 1, 2).0, "dòng 3");
        assert_eq!(read(&w, 1, 3, 2).0, "dòng 1");
    }

    /// Review r20 #1, the KHTN 8A1 PL III: two "Ôn tập" lines (P #1, Q #3) merged into one
    /// of 20 periods in v3 — one of them goes there (changed), the other is dropped, never
    /// both on it — then split again in v4.
    #[test]
    fn two_reviews_never_end_on_one_line_8a1() {
        let v = vec![
            pl3(&[
                ("Ôn tập", 10),
                ("Chương 1", 60),
                ("Ôn tập", 10),
                ("Chương 2", 60),
            ]),
            pl3(&[
                ("Mở đầu", 4),
                ("Ôn tập", 10),
                ("Chương 1", 56),
                ("Ôn tập", 10),
                ("Chương 2", 60),
            ]),
            pl3(&[("Chương 1", 60), ("Chương 2", 60), ("Ôn tập", 20)]),
            pl3(&[
                ("Ôn tập", 10),
                ("Chương 1", 60),
                ("Ôn tập", 10),
                ("Chương 2", 60),
            ]),
        ];
        let expected: [[&str; 2]; 4] = [
            // P       Q
            ["dòng 1", "dòng 3"], // v1
            ["dòng 2", "dòng 4"], // v2: a line inserted on top
            ["bỏ 3", "đổi 3"],    // v3: the review after Chương 1 is nearer the merged one
            ["bỏ 3", "dòng 3"],   // v4: Q's review is 10 periods again, on line 3; P stays dropped
        ];
        for (at, row) in expected.iter().enumerate() {
            for ((plan, n), want) in [("P", 1), ("Q", 3)].iter().zip(row) {
                let (got, st) = read(&v, 1, *n, at as u32 + 1);
                assert_eq!(&got, want, "plan {plan} at v{}: {st:?}", at + 1);
            }
        }
        let (_, q) = read(&v, 1, 3, 3);
        assert_eq!(
            q,
            LinkState::Changed {
                at: 3,
                why: "Phụ lục III đã thay đổi: bài “Ôn tập” nay ở dòng 3, 20 tiết (bản 3; khi gắn, bản 1: dòng 3, 10 tiết).".into()
            }
        );
        // Linked in v3 to the merged line: v4 has two "Ôn tập" of 10, one of them takes it.
        assert_eq!(read(&v, 3, 3, 4).0, "đổi 3");
    }

    #[test]
    fn a_school_year_runs_from_august_to_july() {
        let d = |y, m, dd| jiff::civil::date(y, m, dd);
        assert!(in_year("2026-2027", d(2026, 9, 5)));
        assert!(in_year("2026-2027", d(2027, 7, 31)));
        assert!(!in_year("2026-2027", d(2027, 8, 1)));
        assert!(!in_year("2026-2027", d(2026, 7, 31)));
        assert!(!in_year("xx", d(2026, 9, 5)));
    }
}
