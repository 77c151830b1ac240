//! The lesson-plan store (kế hoạch bài dạy): structured plans (CV 5512 Phụ lục IV for lower
//! secondary, the CV 2345 layout for primary) with attached files in the blob store, every
//! version kept, and the workflow
//!
//! ```text
//! Draft --submit (teacher signs)--> Submitted --review (tổ trưởng)--> Reviewed --approve (BGH signs)--> Approved
//!                                            \--return with comments--> Returned
//! Returned / Approved --edit--> a new Draft version (the old one never changes)
//! ```
//!
//! Every transition is an audit event. Signatures (`sign.rs`) cover the BLAKE3 digest of the
//! exact version: its fields and the content hash of each file, so one changed byte of a
//! stored file makes the plan fail verification (`verify`).
//!
//! - `export.rs`: a month or a teacher's year as PDF, and a ZIP with the files and a signature
//!   manifest that verifies offline;
//! - `routes.rs`, `pages.rs`: the API, the live BGH dashboard and the pages.

pub mod export;
pub mod migrate;
pub mod pages;
pub mod routes;
pub mod sign;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::auth::{Action, Principal, Role, permits};
use crate::library::FileRef;
use crate::store::{AuditPolicy, Collection, Read, Rx, StoreError, Tx, blob::BlobStore};
use crate::text::{fold, nfc};
use sign::{KEYS, KeyError, SignAction, Signature, Signer};

#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    #[error("{0}")]
    Invalid(String),
    #[error("Không tìm thấy kế hoạch bài dạy.")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    State(String),
    #[error("{0}")]
    File(String),
    #[error("Bạn chưa có khoá ký số. Tạo khoá (đặt mã PIN ký) trước khi ký.")]
    NoKey,
    /// Allowed by the role, refused by the week after someone else set the password.
    #[error("{}", crate::auth::AuthError::Quarantined)]
    Quarantined,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LessonError {
    pub fn code(&self) -> &'static str {
        match self {
            LessonError::Invalid(_) => "invalid",
            LessonError::NotFound => "not_found",
            LessonError::Forbidden(_) => "forbidden",
            LessonError::State(_) => "wrong_state",
            LessonError::File(_) => "file",
            LessonError::NoKey => "no_key",
            LessonError::Quarantined => "recently_reset",
            LessonError::Key(KeyError::WrongSecret) => "wrong_secret",
            LessonError::Key(KeyError::WasReset) => "key_reset",
            LessonError::Key(_) => "key",
            LessonError::Store(_) => "internal",
        }
    }
}

/// Refuses `action` with `why` — or, when only the quarantine stands in the way, says that.
fn refuse(p: &Principal, action: Action<'_>, why: &str) -> Result<(), LessonError> {
    if permits(p, action) {
        Ok(())
    } else if crate::auth::may_see(p, action) {
        Err(LessonError::Quarantined)
    } else {
        Err(LessonError::Forbidden(why.into()))
    }
}

fn invalid(m: impl Into<String>) -> LessonError {
    LessonError::Invalid(m.into())
}

/// Which official layout a plan follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// CV 5512/BGDĐT-GDTrH, Phụ lục IV (THCS).
    #[default]
    Secondary,
    /// The layout suggested with CV 2345/BGDĐT-GDTH (tiểu học).
    Primary,
}

/// Section headings of a layout (pages, PDF and export use the same).
pub struct Labels {
    pub objectives: &'static str,
    pub knowledge: &'static str,
    pub competences: &'static str,
    pub qualities: &'static str,
    pub materials: &'static str,
    pub activities: &'static str,
    pub adjustments: &'static str,
    pub activity_names: [&'static str; 4],
}

impl Layout {
    pub fn labels(self) -> Labels {
        match self {
            Layout::Secondary => Labels {
                objectives: "I. Mục tiêu",
                knowledge: "1. Về kiến thức",
                competences: "2. Về năng lực",
                qualities: "3. Về phẩm chất",
                materials: "II. Thiết bị dạy học và học liệu",
                activities: "III. Tiến trình dạy học",
                adjustments: "Điều chỉnh, bổ sung (nếu có)",
                activity_names: [
                    "Hoạt động 1: Xác định vấn đề / Mở đầu",
                    "Hoạt động 2: Hình thành kiến thức mới",
                    "Hoạt động 3: Luyện tập",
                    "Hoạt động 4: Vận dụng",
                ],
            },
            Layout::Primary => Labels {
                objectives: "I. Yêu cầu cần đạt",
                knowledge: "1. Năng lực đặc thù",
                competences: "2. Năng lực chung",
                qualities: "3. Phẩm chất",
                materials: "II. Đồ dùng dạy học",
                activities: "III. Các hoạt động dạy học chủ yếu",
                adjustments: "IV. Điều chỉnh sau bài dạy (nếu có)",
                activity_names: [
                    "1. Mở đầu / Khởi động",
                    "2. Hình thành kiến thức mới / Khám phá",
                    "3. Luyện tập, thực hành",
                    "4. Vận dụng, trải nghiệm",
                ],
            },
        }
    }
    /// The layout of a school level (TH → primary).
    pub fn of_level(level: &str) -> Layout {
        if level.trim().eq_ignore_ascii_case("TH") {
            Layout::Primary
        } else {
            Layout::Secondary
        }
    }
}

/// One teaching activity. Secondary plans fill a) mục tiêu, b) nội dung, c) sản phẩm,
/// d) tổ chức thực hiện (giao → thực hiện → báo cáo, thảo luận → kết luận); primary plans fill
/// the two columns "hoạt động của GV" and "hoạt động của HS".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Activity {
    pub name: String,
    pub objective: String,
    pub content: String,
    pub product: String,
    pub organisation: String,
    pub teacher: String,
    pub students: String,
}

/// The structured body of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Fields {
    pub knowledge: String,
    pub competences: String,
    pub qualities: String,
    pub materials: String,
    pub activities: Vec<Activity>,
    pub adjustments: String,
}

impl Fields {
    fn normalise(&mut self) -> Result<(), LessonError> {
        const MAX: usize = 20_000;
        if self.activities.len() > 8 {
            return Err(invalid("Tối đa 8 hoạt động trong một kế hoạch."));
        }
        let mut texts: Vec<&mut String> = vec![
            &mut self.knowledge,
            &mut self.competences,
            &mut self.qualities,
            &mut self.materials,
            &mut self.adjustments,
        ];
        for a in &mut self.activities {
            texts.extend([
                &mut a.name,
                &mut a.objective,
                &mut a.content,
                &mut a.product,
                &mut a.organisation,
                &mut a.teacher,
                &mut a.students,
            ]);
        }
        for t in texts {
            *t = nfc(t.trim());
            if t.chars().count() > MAX {
                return Err(invalid(format!(
                    "Mỗi mục tối đa {MAX} ký tự; hãy đưa nội dung dài vào tệp đính kèm."
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Draft,
    Submitted,
    Reviewed,
    Returned,
    Approved,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Draft,
        State::Submitted,
        State::Reviewed,
        State::Returned,
        State::Approved,
    ];
    pub fn label(self) -> &'static str {
        match self {
            State::Draft => "Bản nháp",
            State::Submitted => "Đã nộp, chờ tổ duyệt",
            State::Reviewed => "Tổ đã duyệt, chờ BGH ký",
            State::Returned => "Trả lại để sửa",
            State::Approved => "Đã phê duyệt",
        }
    }
    /// A column heading.
    pub fn short(self) -> &'static str {
        match self {
            State::Draft => "Nháp",
            State::Submitted => "Đã nộp",
            State::Reviewed => "Tổ đã duyệt",
            State::Returned => "Trả lại",
            State::Approved => "Phê duyệt",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Reviewed => "reviewed",
            State::Returned => "returned",
            State::Approved => "approved",
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Handed in (counts towards the cadence).
    pub fn handed_in(self) -> bool {
        matches!(self, State::Submitted | State::Reviewed | State::Approved)
    }
}

/// The department head's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub by: String,
    pub name: String,
    pub at: String,
    pub passed: bool,
    pub comment: String,
}

/// One version of a plan. Once submitted its content never changes; the workflow only adds
/// the review, signatures and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub plan: String,
    pub number: u32,
    pub teacher: String,
    pub layout: Layout,
    pub title: String,
    pub subject: String,
    pub grade: u8,
    pub periods: u8,
    pub teach_on: Date,
    pub fields: Fields,
    #[serde(default)]
    pub files: Vec<FileRef>,
    pub state: State,
    pub created_at: String,
    pub updated_at: String,
    /// BLAKE3 of the signed content, set when submitted.
    pub digest: Option<String>,
    #[serde(default)]
    pub signatures: Vec<Signature>,
    pub review: Option<Review>,
}

/// The plan as lists and the dashboard see it (the current version's summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub teacher: String,
    pub teacher_name: String,
    /// The teacher's tổ chuyên môn when the plan was made (who reviews it).
    pub department: Option<String>,
    pub subject: String,
    pub grade: u8,
    pub title: String,
    pub teach_on: Date,
    pub state: State,
    /// The current version's number.
    pub version: u32,
    /// The newest approved version (it stays the valid one while an amendment is in progress).
    pub approved_version: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
    pub submitted_at: Option<String>,
    pub approved_at: Option<String>,
    /// The department head's comment when returned.
    pub comment: Option<String>,
    /// The library item it was published as.
    pub library_item: Option<String>,
}

impl Plan {
    pub fn month(&self) -> String {
        month_of(self.teach_on)
    }
    /// Handed in for the cadence: waiting or approved, or an approved plan being amended.
    pub fn handed_in(&self) -> bool {
        self.state.handed_in() || self.approved_version.is_some()
    }
    /// A draft never handed in whose teaching day has passed.
    pub fn late(&self, today: Date) -> bool {
        self.state == State::Draft && self.approved_version.is_none() && self.teach_on < today
    }
}

pub fn month_of(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// How often plans are due and how big attachments may be (a school's *quy chế chuyên môn*;
/// no national rule fixes it: DOMAIN.md §4.3, [U]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LessonConfig {
    pub cadence: Cadence,
    /// Plans each teacher hands in per week (weekly) or per month (monthly).
    pub per_period: u32,
    /// Days after the week or month ends before a shortfall is flagged.
    pub grace_days: u32,
    /// Largest attachment, MB.
    pub max_file_mb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Weekly,
    Monthly,
}

impl Default for LessonConfig {
    fn default() -> Self {
        LessonConfig {
            cadence: Cadence::Weekly,
            per_period: 1,
            grace_days: 0,
            max_file_mb: 500,
        }
    }
}

/// Relayed to the district (the summary only: title, teacher, state — never the content).
pub const PLANS: Collection<Plan> =
    Collection::new("lessons.plans.v1", AuditPolicy::Values, Some("lesson_plan"));
/// "{plan}/{version:04}". Audited by digest: the transitions carry their own events.
pub const VERSIONS: Collection<Version> =
    Collection::new("lessons.versions.v1", AuditPolicy::Digest, None);

/// What each lesson-plan attachment is (blob id → description, in English for the CLI), for a
/// backup's index.
pub fn file_descriptions(
    rx: &impl Read,
    out: &mut BTreeMap<String, String>,
) -> Result<(), StoreError> {
    rx.scan_each(&VERSIONS, "", &mut |_, v: Version| {
        for f in &v.files {
            out.entry(f.blob.clone()).or_insert_with(|| {
                format!(
                    "the attachment {} of the lesson plan \u{201c}{}\u{201d} (version {})",
                    f.name, v.title, v.number
                )
            });
        }
        Ok(())
    })
}
/// "{yyyy-mm}/{plan}" → the plan, so a month (the dashboard, a batch approval) is one range read.
pub const MONTHS: Collection<Plan> = Collection::new("lessons.month.v1", AuditPolicy::None, None);
pub const CONFIG: Collection<LessonConfig> =
    Collection::new("lessons.config.v1", AuditPolicy::Values, None);
/// "{state}/{department}/{plan}" → the plan, for plans waiting for someone (submitted or
/// reviewed), so a reviewer's queue is one range read however many plans the year holds.
pub const WAITING: Collection<Plan> =
    Collection::new("lessons.waiting.v1", AuditPolicy::None, None);

pub const TABLES: &[&str] = &[
    PLANS.name,
    VERSIONS.name,
    MONTHS.name,
    CONFIG.name,
    KEYS.name,
    WAITING.name,
];

/// The plan's key in [`WAITING`], if it is waiting for a reviewer.
pub fn waiting_key(plan: &Plan) -> Option<String> {
    matches!(plan.state, State::Submitted | State::Reviewed).then(|| {
        format!(
            "{}/{}/{}",
            plan.state.as_str(),
            plan.department.as_deref().unwrap_or(""),
            plan.id
        )
    })
}

pub fn version_key(plan: &str, n: u32) -> String {
    format!("{plan}/{n:04}")
}

pub fn config(rx: &impl Read) -> Result<LessonConfig, StoreError> {
    Ok(rx.get(&CONFIG, "config")?.unwrap_or_default())
}

pub fn save_config(tx: &mut Tx<'_>, p: &Principal, c: LessonConfig) -> Result<(), LessonError> {
    if !permits(p, Action::ApproveLessonPlans) {
        return Err(LessonError::Forbidden(
            "Chỉ Ban giám hiệu đặt lịch nộp kế hoạch.".into(),
        ));
    }
    if c.per_period == 0 || c.per_period > 50 {
        return Err(invalid("Số kế hoạch mỗi kỳ phải từ 1 đến 50."));
    }
    if c.grace_days > 31 {
        return Err(invalid("Số ngày gia hạn tối đa 31."));
    }
    if c.max_file_mb == 0 || c.max_file_mb > 8192 {
        return Err(invalid("Dung lượng tệp tối đa phải từ 1 đến 8192 MB."));
    }
    tx.put(&CONFIG, "config", &c, "lessons.config")?;
    Ok(())
}

/// What a teacher types.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanInput {
    pub title: String,
    pub subject: String,
    pub grade: u8,
    #[serde(default = "one")]
    pub periods: u8,
    pub teach_on: Date,
    pub layout: Option<Layout>,
    #[serde(default)]
    pub fields: Fields,
}

fn one() -> u8 {
    1
}

fn check_input(tx: &Tx<'_>, input: &mut PlanInput) -> Result<(), LessonError> {
    input.title = nfc(input.title.trim());
    if input.title.is_empty() {
        return Err(invalid("Nhập tên bài dạy."));
    }
    if input.title.chars().count() > 300 {
        return Err(invalid("Tên bài dạy tối đa 300 ký tự."));
    }
    if tx.get(&crate::school::SUBJECTS, &input.subject)?.is_none() {
        return Err(invalid("Chọn một môn học của trường."));
    }
    if !(1..=12).contains(&input.grade) {
        return Err(invalid("Khối lớp phải từ 1 đến 12."));
    }
    if !(1..=20).contains(&input.periods) {
        return Err(invalid("Số tiết phải từ 1 đến 20."));
    }
    if !(2000..=2100).contains(&input.teach_on.year()) {
        return Err(invalid("Ngày dạy không hợp lệ."));
    }
    input.fields.normalise()
}

fn now_str(tx: &Tx<'_>) -> String {
    tx.now().to_string()
}

/// Writes a plan's summary and keeps the month and waiting indexes in step.
pub(crate) fn save_plan(
    tx: &mut Tx<'_>,
    old: Option<&Plan>,
    plan: &Plan,
    action: &str,
) -> Result<(), StoreError> {
    if let Some(o) = old
        && o.month() != plan.month()
    {
        tx.delete(&MONTHS, &format!("{}/{}", o.month(), o.id), action)?;
    }
    let waiting = waiting_key(plan);
    if let Some(k) = old.and_then(waiting_key)
        && Some(&k) != waiting.as_ref()
    {
        tx.delete(&WAITING, &k, action)?;
    }
    if let Some(k) = &waiting {
        tx.put(&WAITING, k, plan, action)?;
    }
    tx.put(&PLANS, &plan.id, plan, action)?;
    tx.put(
        &MONTHS,
        &format!("{}/{}", plan.month(), plan.id),
        plan,
        action,
    )
}

fn load(tx: &Tx<'_>, id: &str) -> Result<(Plan, Version), LessonError> {
    let plan = tx.get(&PLANS, id)?.ok_or(LessonError::NotFound)?;
    let v = tx
        .get(&VERSIONS, &version_key(id, plan.version))?
        .ok_or(LessonError::NotFound)?;
    Ok((plan, v))
}

fn sync_head(plan: &mut Plan, v: &Version, now: &str) {
    plan.title = v.title.clone();
    plan.subject = v.subject.clone();
    plan.grade = v.grade;
    plan.teach_on = v.teach_on;
    plan.state = v.state;
    plan.version = v.number;
    plan.updated_at = now.to_string();
}

/// A new plan (version 1, a draft) for the signed-in teacher.
pub fn create(tx: &mut Tx<'_>, p: &Principal, mut input: PlanInput) -> Result<Plan, LessonError> {
    if !permits(p, Action::SubmitLessonPlans) {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch bài dạy.".into(),
        ));
    }
    check_input(tx, &mut input)?;
    let layout = match input.layout {
        Some(l) => l,
        None => crate::school::school_info(tx)?
            .map(|i| Layout::of_level(&i.level))
            .unwrap_or_default(),
    };
    let now = now_str(tx);
    let id = format!("kh-{:012x}", rand::random::<u64>() >> 16);
    let mut fields = input.fields;
    if fields.activities.is_empty() {
        fields.activities = layout
            .labels()
            .activity_names
            .iter()
            .map(|n| Activity {
                name: n.to_string(),
                ..Activity::default()
            })
            .collect();
    }
    let v = Version {
        plan: id.clone(),
        number: 1,
        teacher: p.id().to_string(),
        layout,
        title: input.title,
        subject: input.subject,
        grade: input.grade,
        periods: input.periods,
        teach_on: input.teach_on,
        fields,
        files: vec![],
        state: State::Draft,
        created_at: now.clone(),
        updated_at: now.clone(),
        digest: None,
        signatures: vec![],
        review: None,
    };
    let mut plan = Plan {
        id: id.clone(),
        teacher: p.id().to_string(),
        teacher_name: p.account.full_name.clone(),
        department: p.account.department.clone(),
        subject: String::new(),
        grade: 0,
        title: String::new(),
        teach_on: v.teach_on,
        state: State::Draft,
        version: 1,
        approved_version: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        submitted_at: None,
        approved_at: None,
        comment: None,
        library_item: None,
    };
    sync_head(&mut plan, &v, &now);
    tx.put(
        &VERSIONS,
        &version_key(&id, 1),
        &v,
        "lessons.version.create",
    )?;
    save_plan(tx, None, &plan, "lessons.create")?;
    Ok(plan)
}

/// The draft the owner may change: the current version if it is a draft; a new version copied
/// from it if it was returned or approved (approved versions never change); refused while the
/// plan waits for review or approval.
fn editable(tx: &mut Tx<'_>, p: &Principal, id: &str) -> Result<(Plan, Version), LessonError> {
    let (plan, v) = load(tx, id)?;
    if plan.teacher != p.id() {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch này mới sửa được.".into(),
        ));
    }
    match v.state {
        State::Draft => Ok((plan, v)),
        State::Returned | State::Approved => {
            let now = now_str(tx);
            let next = Version {
                number: v.number + 1,
                state: State::Draft,
                created_at: now.clone(),
                updated_at: now,
                digest: None,
                signatures: vec![],
                review: None,
                ..v
            };
            tx.event(
                "lessons.amend",
                &plan.id,
                Some(serde_json::json!({ "from": next.number - 1, "version": next.number })),
            );
            Ok((plan, next))
        }
        State::Submitted | State::Reviewed => Err(LessonError::State(
            "Kế hoạch đang chờ duyệt; chưa sửa được. Chờ tổ trưởng trả lại hoặc phê duyệt xong."
                .into(),
        )),
    }
}

fn store_draft(
    tx: &mut Tx<'_>,
    mut plan: Plan,
    mut v: Version,
    action: &str,
) -> Result<Plan, LessonError> {
    let now = now_str(tx);
    v.updated_at = now.clone();
    let old = plan.clone();
    sync_head(&mut plan, &v, &now);
    tx.put(&VERSIONS, &version_key(&plan.id, v.number), &v, action)?;
    save_plan(tx, Some(&old), &plan, action)?;
    Ok(plan)
}

/// Changes the owner's draft (or starts a new version of a returned or approved plan).
pub fn edit(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    mut input: PlanInput,
) -> Result<Plan, LessonError> {
    check_input(tx, &mut input)?;
    let (plan, mut v) = editable(tx, p, id)?;
    v.title = input.title;
    v.subject = input.subject;
    v.grade = input.grade;
    v.periods = input.periods;
    v.teach_on = input.teach_on;
    if let Some(l) = input.layout {
        v.layout = l;
    }
    v.fields = input.fields;
    store_draft(tx, plan, v, "lessons.edit")
}

/// Whether a file of this type and size may be attached (documents, slides, video, audio,
/// images; up to the configured size). Checked when an upload starts and again when it is
/// attached.
/// The most a teacher's lesson-plan attachments may hold together (every version's files, each
/// stored file counted once), with uploads still open counted as reserved.
pub const ATTACHMENT_QUOTA: u64 = 5 << 30;

/// Bytes of the files attached to `teacher`'s plans, each stored file once.
pub fn attached_bytes(r: &impl Read, teacher: &str) -> Result<u64, StoreError> {
    let mut plans = Vec::new();
    r.scan_each(&PLANS, "", &mut |id, plan: Plan| {
        if plan.teacher == teacher {
            plans.push(id.to_string());
        }
        Ok(())
    })?;
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0;
    for id in plans {
        for (_, v) in r.scan(&VERSIONS, &format!("{id}/"))? {
            for f in v.files {
                if seen.insert(f.blob.clone()) {
                    n += f.size;
                }
            }
        }
    }
    Ok(n)
}

pub fn check_attachment(
    cfg: &LessonConfig,
    name: &str,
    mime: &str,
    size: u64,
) -> Result<(), LessonError> {
    if matches!(mime, "application/epub+zip" | "text/plain; charset=utf-8") {
        return Err(LessonError::File(format!(
            "Kế hoạch bài dạy không nhận loại tệp của “{name}”. Nhận: DOCX, PDF, PPTX, XLSX, MP4, WEBM, MP3, JPG, PNG."
        )));
    }
    if size > cfg.max_file_mb << 20 {
        return Err(LessonError::File(format!(
            "Tệp “{name}” quá lớn: tối đa {} MB.",
            cfg.max_file_mb
        )));
    }
    Ok(())
}

/// Attaches an uploaded file to the owner's draft.
pub fn attach(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    file: FileRef,
) -> Result<Plan, LessonError> {
    check_attachment(&config(tx)?, &file.name, &file.mime, file.size)?;
    // The quota holds however the file was uploaded (a library upload can be attached too).
    let used = attached_bytes(tx, p.id())?;
    if used + file.size > ATTACHMENT_QUOTA {
        return Err(LessonError::File(format!(
            "Vượt hạn mức tệp đính kèm kế hoạch bài dạy ({} GB): đã dùng {} MB, tệp cần {} MB.",
            ATTACHMENT_QUOTA >> 30,
            used >> 20,
            file.size.div_ceil(1 << 20)
        )));
    }
    let (plan, mut v) = editable(tx, p, id)?;
    if v.files.len() >= 20 {
        return Err(LessonError::File("Tối đa 20 tệp đính kèm.".into()));
    }
    if v.files.iter().any(|f| f.blob == file.blob) {
        return Err(LessonError::File(format!(
            "Tệp “{}” đã được đính kèm.",
            file.name
        )));
    }
    v.files.push(file);
    store_draft(tx, plan, v, "lessons.attach")
}

pub fn detach(tx: &mut Tx<'_>, p: &Principal, id: &str, blob: &str) -> Result<Plan, LessonError> {
    let (plan, mut v) = editable(tx, p, id)?;
    let before = v.files.len();
    v.files.retain(|f| f.blob != blob);
    if v.files.len() == before {
        return Err(LessonError::NotFound);
    }
    store_draft(tx, plan, v, "lessons.detach")
}

/// Removes a plan that was never submitted.
pub fn delete(tx: &mut Tx<'_>, p: &Principal, id: &str) -> Result<(), LessonError> {
    let (plan, v) = load(tx, id)?;
    if plan.teacher != p.id() {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch này mới xoá được.".into(),
        ));
    }
    if v.number != 1 || v.state != State::Draft {
        return Err(LessonError::State(
            "Chỉ xoá được kế hoạch chưa từng nộp; các phiên bản đã nộp được lưu lại.".into(),
        ));
    }
    tx.delete(&VERSIONS, &version_key(id, 1), "lessons.delete")?;
    tx.delete(
        &MONTHS,
        &format!("{}/{}", plan.month(), id),
        "lessons.delete",
    )?;
    if let Some(k) = waiting_key(&plan) {
        tx.delete(&WAITING, &k, "lessons.delete")?;
    }
    tx.delete(&PLANS, id, "lessons.delete")?;
    Ok(())
}

#[derive(Serialize)]
struct SignedFile<'a> {
    name: &'a str,
    mime: &'a str,
    size: u64,
    blake3: &'a str,
}

#[derive(Serialize)]
struct SignedContent<'a> {
    format: &'static str,
    plan: &'a str,
    version: u32,
    teacher: &'a str,
    layout: Layout,
    title: &'a str,
    subject: &'a str,
    grade: u8,
    periods: u8,
    teach_on: String,
    fields: &'a Fields,
    files: Vec<SignedFile<'a>>,
}

/// The exact bytes a version's digest is taken over (JSON, fields in a fixed order), with each
/// file named by `hashes[i]` (the stored content hash, or one computed afresh).
pub fn signed_content(v: &Version, hashes: &[String]) -> Vec<u8> {
    let c = SignedContent {
        format: "tram.lesson-plan/1",
        plan: &v.plan,
        version: v.number,
        teacher: &v.teacher,
        layout: v.layout,
        title: &v.title,
        subject: &v.subject,
        grade: v.grade,
        periods: v.periods,
        teach_on: v.teach_on.to_string(),
        fields: &v.fields,
        files: v
            .files
            .iter()
            .zip(hashes)
            .map(|(f, h)| SignedFile {
                name: &f.name,
                mime: &f.mime,
                size: f.size,
                blake3: h,
            })
            .collect(),
    };
    serde_json::to_vec(&c).expect("serialisable")
}

/// The digest as recorded: files named by their stored content hash.
pub fn digest(v: &Version) -> String {
    let hashes: Vec<String> = v.files.iter().map(|f| f.blob.clone()).collect();
    blake3::hash(&signed_content(v, &hashes))
        .to_hex()
        .to_string()
}

/// The signer's key must be the one registered to the person signing.
fn check_signer(tx: &Tx<'_>, p: &Principal, signer: &dyn Signer) -> Result<(), LessonError> {
    let rec = tx.get(&KEYS, p.id())?.ok_or(LessonError::NoKey)?;
    if rec.public_key != hex::encode(signer.public_key()) {
        return Err(LessonError::NoKey);
    }
    Ok(())
}

/// The teacher hands in the current draft, signing its digest.
pub fn submit(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = load(tx, id)?;
    if plan.teacher != p.id() {
        return Err(LessonError::Forbidden(
            "Chỉ giáo viên soạn kế hoạch này mới nộp được.".into(),
        ));
    }
    if v.state != State::Draft {
        return Err(LessonError::State(format!(
            "Kế hoạch đang ở trạng thái “{}”; chỉ nộp được bản nháp.",
            v.state.label()
        )));
    }
    if v.fields.knowledge.is_empty() && v.fields.competences.is_empty() && v.files.is_empty() {
        return Err(invalid(
            "Kế hoạch còn trống: ghi mục tiêu hoặc đính kèm tệp kế hoạch trước khi nộp.",
        ));
    }
    check_signer(tx, p, signer)?;
    let now = now_str(tx);
    let d = digest(&v);
    let sig = sign::sign(
        signer,
        SignAction::Submit,
        &plan.id,
        v.number,
        (p.id(), &p.account.full_name),
        &now,
        &d,
    );
    v.digest = Some(d.clone());
    v.signatures.push(sig);
    v.state = State::Submitted;
    v.updated_at = now.clone();
    let old = plan.clone();
    sync_head(&mut plan, &v, &now);
    plan.submitted_at = Some(now);
    plan.comment = None;
    tx.put(&VERSIONS, &version_key(id, v.number), &v, "lessons.submit")?;
    save_plan(tx, Some(&old), &plan, "lessons.submit")?;
    tx.event(
        "lessons.submit",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(plan)
}

fn not_own(plan: &Plan, p: &Principal, what: &str) -> Result<(), LessonError> {
    if plan.teacher == p.id() {
        return Err(LessonError::Forbidden(format!(
            "Không được tự {what} kế hoạch của chính mình."
        )));
    }
    Ok(())
}

/// The department head passes a submitted plan on to BGH, or returns it with comments.
pub fn review(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    passed: bool,
    comment: &str,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = load(tx, id)?;
    let dept = plan.department.clone().unwrap_or_default();
    refuse(
        p,
        Action::ReviewLessonPlans { department: &dept },
        "Chỉ tổ trưởng của tổ này (hoặc Ban giám hiệu) duyệt kế hoạch này.",
    )?;
    not_own(&plan, p, "duyệt")?;
    if v.state != State::Submitted {
        return Err(LessonError::State(format!(
            "Kế hoạch đang ở trạng thái “{}”; tổ chỉ duyệt kế hoạch vừa nộp.",
            v.state.label()
        )));
    }
    let comment = nfc(comment.trim());
    if !passed && comment.is_empty() {
        return Err(invalid("Ghi nhận xét để giáo viên biết cần sửa gì."));
    }
    if comment.chars().count() > 5000 {
        return Err(invalid("Nhận xét tối đa 5000 ký tự."));
    }
    let now = now_str(tx);
    v.review = Some(Review {
        by: p.id().into(),
        name: p.account.full_name.clone(),
        at: now.clone(),
        passed,
        comment: comment.clone(),
    });
    v.state = if passed {
        State::Reviewed
    } else {
        State::Returned
    };
    v.updated_at = now.clone();
    let old = plan.clone();
    sync_head(&mut plan, &v, &now);
    plan.comment = (!passed).then_some(comment.clone());
    let action = if passed {
        "lessons.review"
    } else {
        "lessons.return"
    };
    tx.put(&VERSIONS, &version_key(id, v.number), &v, action)?;
    save_plan(tx, Some(&old), &plan, action)?;
    tx.event(
        action,
        id,
        Some(serde_json::json!({ "version": v.number, "comment": comment })),
    );
    Ok(plan)
}

fn approve_one(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
    now: &str,
) -> Result<Plan, LessonError> {
    let (mut plan, mut v) = load(tx, id)?;
    not_own(&plan, p, "phê duyệt")?;
    match v.state {
        State::Reviewed => {}
        State::Submitted => {
            return Err(LessonError::State(
                "Kế hoạch chưa được tổ trưởng duyệt; chưa phê duyệt được.".into(),
            ));
        }
        s => {
            return Err(LessonError::State(format!(
                "Kế hoạch đang ở trạng thái “{}”; chỉ phê duyệt kế hoạch tổ đã duyệt.",
                s.label()
            )));
        }
    }
    let d = digest(&v);
    if v.digest.as_deref() != Some(d.as_str()) {
        return Err(LessonError::State(
            "Nội dung kế hoạch khác với bản giáo viên đã ký nộp; không phê duyệt.".into(),
        ));
    }
    let sig = sign::sign(
        signer,
        SignAction::Approve,
        id,
        v.number,
        (p.id(), &p.account.full_name),
        now,
        &d,
    );
    v.signatures.push(sig);
    v.state = State::Approved;
    v.updated_at = now.to_string();
    let old = plan.clone();
    sync_head(&mut plan, &v, now);
    plan.approved_version = Some(v.number);
    plan.approved_at = Some(now.to_string());
    tx.put(&VERSIONS, &version_key(id, v.number), &v, "lessons.approve")?;
    save_plan(tx, Some(&old), &plan, "lessons.approve")?;
    tx.event(
        "lessons.approve",
        id,
        Some(serde_json::json!({ "version": v.number, "blake3": d })),
    );
    Ok(plan)
}

fn require_approver(p: &Principal) -> Result<(), LessonError> {
    refuse(
        p,
        Action::ApproveLessonPlans,
        "Chỉ Hiệu trưởng hoặc Phó hiệu trưởng phê duyệt kế hoạch.",
    )
}

/// The principal (or a vice principal) approves one reviewed plan, signing its digest.
pub fn approve(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    signer: &dyn Signer,
) -> Result<Plan, LessonError> {
    require_approver(p)?;
    check_signer(tx, p, signer)?;
    let now = now_str(tx);
    approve_one(tx, p, id, signer, &now)
}

#[derive(Debug, Serialize)]
pub struct BatchOutcome {
    pub approved: Vec<String>,
    /// Reviewed plans left out, with why (the approver's own plans).
    pub skipped: Vec<(String, String)>,
}

/// Approves every reviewed plan taught in `month` (optionally one department), each signed, in
/// one transaction: all of them or none.
pub fn approve_month(
    tx: &mut Tx<'_>,
    p: &Principal,
    month: &str,
    department: Option<&str>,
    signer: &dyn Signer,
) -> Result<BatchOutcome, LessonError> {
    require_approver(p)?;
    check_signer(tx, p, signer)?;
    parse_month(month)?;
    let now = now_str(tx);
    let mut out = BatchOutcome {
        approved: vec![],
        skipped: vec![],
    };
    let plans = tx.scan(&MONTHS, &format!("{month}/"))?;
    for (_, plan) in plans {
        if plan.state != State::Reviewed
            || department.is_some_and(|d| plan.department.as_deref() != Some(d))
        {
            continue;
        }
        if plan.teacher == p.id() {
            out.skipped.push((
                plan.id.clone(),
                "kế hoạch của chính người duyệt".to_string(),
            ));
            continue;
        }
        approve_one(tx, p, &plan.id, signer, &now)?;
        out.approved.push(plan.id);
    }
    if out.approved.is_empty() {
        return Err(LessonError::State(format!(
            "Không có kế hoạch nào của tháng {} đang chờ phê duyệt.",
            month_label(month)
        )));
    }
    tx.event(
        "lessons.approve_month",
        month,
        Some(serde_json::json!({ "count": out.approved.len(), "department": department })),
    );
    Ok(out)
}

/// "2026-11" → the first day of that month.
pub fn parse_month(m: &str) -> Result<Date, LessonError> {
    let bad = || invalid(format!("Tháng “{m}” không hợp lệ (dạng 2026-11)."));
    let (y, mo) = m.split_once('-').ok_or_else(bad)?;
    let (y, mo): (i16, i8) = (
        y.parse().map_err(|_| bad())?,
        mo.parse().map_err(|_| bad())?,
    );
    if !(2000..=2100).contains(&y) || y.to_string().len() != 4 || m.len() != 7 {
        return Err(bad());
    }
    Date::new(y, mo, 1).map_err(|_| bad())
}

pub fn month_label(m: &str) -> String {
    match m.split_once('-') {
        Some((y, mo)) => format!("{mo}/{y}"),
        None => m.to_string(),
    }
}

/// The plan as `p` may see it, or `None` when `p` may not read it. Those who see work in
/// progress get the current summary; everyone else the summary of the newest approved version,
/// so an amendment's draft (its title, state, comment, dates) stays between its teacher and
/// the reviewers until it is approved. Every list, page and export goes through this.
pub fn seen_by(r: &impl Read, p: &Principal, plan: Plan) -> Result<Option<Plan>, StoreError> {
    if sees_work(p, &plan) {
        return Ok(Some(plan));
    }
    let Some(n) = plan.approved_version else {
        return Ok(None);
    };
    if n == plan.version && plan.state == State::Approved {
        return Ok(Some(plan));
    }
    let Some(v) = r.get(&VERSIONS, &version_key(&plan.id, n))? else {
        return Ok(None);
    };
    Ok(Some(Plan {
        title: v.title,
        subject: v.subject,
        grade: v.grade,
        teach_on: v.teach_on,
        state: State::Approved,
        version: n,
        updated_at: v.updated_at,
        submitted_at: None,
        comment: None,
        ..plan
    }))
}

/// Whether `p` sees drafts and pending versions of the plan (not only its approved one): its
/// teacher, the department's head, BGH and the administrator.
pub fn sees_work(p: &Principal, plan: &Plan) -> bool {
    plan.teacher == p.id()
        || p.is_bgh()
        || p.has(Role::Admin)
        || crate::auth::may_see(
            p,
            Action::ReviewLessonPlans {
                department: plan.department.as_deref().unwrap_or(""),
            },
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub q: String,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none_num")]
    pub grade: Option<u8>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub teacher: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub month: Option<String>,
    /// Only plans waiting for this person (review for a department head, approval for BGH).
    #[serde(default)]
    pub mine: bool,
    /// At most this many plans (newest first); the API's default is [`Query::DEFAULT_LIMIT`].
    #[serde(default, deserialize_with = "crate::library::empty_none_num")]
    pub limit: Option<usize>,
}

impl Query {
    pub const DEFAULT_LIMIT: usize = 500;
    pub const MAX_LIMIT: usize = 5000;
    /// The limit asked for, within 1..=MAX_LIMIT.
    pub fn limit(&self) -> usize {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// Plans `p` may see that match: words of the title (or the subject's name) without diacritics
/// or case, the last word a prefix; subject, grade, state, teacher, month. Newest first, at most
/// `limit`: without a month the months are read newest first and the reading stops once `limit`
/// plans are found and their month is complete, so the default list reads the latest weeks and
/// not the whole year.
pub fn search(rx: &Rx, p: &Principal, q: &Query, limit: usize) -> Result<Vec<Plan>, LessonError> {
    let subjects: HashMap<String, String> = crate::school::list(rx, &crate::school::SUBJECTS)?
        .into_iter()
        .map(|s| (s.id, fold(&s.name)))
        .collect();
    let words: Vec<String> = fold(&q.q).split_whitespace().map(String::from).collect();
    let state = q.state.as_deref().and_then(State::parse);
    let matches = |plan: &Plan| {
        if q.subject.as_ref().is_some_and(|s| *s != plan.subject)
            || q.grade.is_some_and(|g| g != plan.grade)
            || state.is_some_and(|s| s != plan.state)
            || q.teacher.as_ref().is_some_and(|t| *t != plan.teacher)
        {
            return false;
        }
        if !words.is_empty() {
            let hay = format!(
                "{} {} {}",
                fold(&plan.title),
                subjects
                    .get(&plan.subject)
                    .map(String::as_str)
                    .unwrap_or(""),
                fold(&plan.teacher_name)
            );
            let hay: Vec<&str> = hay.split_whitespace().collect();
            let last = words.len() - 1;
            let all = words.iter().enumerate().all(|(i, w)| {
                hay.iter().any(|h| {
                    if i == last {
                        h.starts_with(w.as_str())
                    } else {
                        h == w
                    }
                })
            });
            return all;
        }
        true
    };
    let mut out = Vec::new();
    match &q.month {
        Some(m) => {
            parse_month(m)?;
            for (_, plan) in rx.scan(&MONTHS, &format!("{m}/"))? {
                if let Some(plan) = seen_by(rx, p, plan)?
                    && matches(&plan)
                {
                    out.push(plan);
                }
            }
        }
        None => {
            let mut month = String::new();
            rx.each_rev_while(&MONTHS, &mut |k, plan: Plan| {
                let m = k.split('/').next().unwrap_or_default();
                if m != month {
                    if out.len() >= limit {
                        return Ok(false);
                    }
                    month = m.to_string();
                }
                if let Some(plan) = seen_by(rx, p, plan)?
                    && matches(&plan)
                {
                    out.push(plan);
                }
                Ok(true)
            })?
        }
    }
    out.sort_by(|a, b| {
        b.teach_on
            .cmp(&a.teach_on)
            .then_with(|| b.updated_at.cmp(&a.updated_at))
    });
    out.truncate(limit);
    Ok(out)
}

/// Plans waiting for `p`: submitted plans of the department for its head, reviewed ones for
/// BGH — and, for BGH, submitted plans nobody else can review (no department, or written by the
/// department's only head).
pub fn waiting_for(rx: &Rx, p: &Principal) -> Result<Vec<Plan>, LessonError> {
    let mut heads: HashMap<String, Vec<String>> = HashMap::new();
    if p.is_bgh() {
        for a in crate::auth::list_accounts(rx)? {
            if a.has(Role::DeptHead)
                && !a.disabled
                && let Some(d) = a.department
            {
                heads.entry(d).or_default().push(a.id);
            }
        }
    }
    // Only the queue this person can act on is read: everything submitted and reviewed for
    // BGH, their department's submitted plans for a head.
    let prefixes: Vec<String> = if p.is_bgh() {
        vec!["submitted/".into(), "reviewed/".into()]
    } else {
        match p.account.department.as_deref() {
            Some(d) if permits(p, Action::ReviewLessonPlans { department: d }) => {
                vec![format!("submitted/{d}/")]
            }
            _ => vec![],
        }
    };
    let mut out = Vec::new();
    for prefix in &prefixes {
        rx.scan_each(&WAITING, prefix, &mut |_, plan: Plan| {
            if plan.teacher == p.id() {
                return Ok(());
            }
            let dept = plan.department.as_deref().unwrap_or("");
            let mine = match plan.state {
                State::Submitted if p.is_bgh() => !heads
                    .get(dept)
                    .is_some_and(|h| h.iter().any(|id| *id != plan.teacher)),
                State::Submitted => permits(p, Action::ReviewLessonPlans { department: dept }),
                State::Reviewed => permits(p, Action::ApproveLessonPlans),
                _ => false,
            };
            if mine {
                out.push(plan);
            }
            Ok(())
        })?;
    }
    out.sort_by(|a, b| a.teach_on.cmp(&b.teach_on).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Every version of a plan, oldest first.
pub fn versions(rx: &impl Read, id: &str) -> Result<Vec<Version>, StoreError> {
    Ok(rx
        .scan(&VERSIONS, &format!("{id}/"))?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

// ----- verification -----

/// One signature's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub plan: String,
    pub version: u32,
    pub title: String,
    pub teacher: String,
    pub action: Option<SignAction>,
    pub by: String,
    pub at: String,
    /// None when valid.
    pub problem: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub plans: usize,
    pub valid: usize,
    pub verdicts: Vec<Verdict>,
}

impl VerifyReport {
    pub fn invalid(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.problem.is_some())
    }
    pub fn all_valid(&self) -> bool {
        self.invalid().next().is_none()
    }
}

/// Re-hashes stored files (each blob once per check).
pub struct FileHasher<'a> {
    blobs: &'a BlobStore,
    seen: HashMap<String, Result<String, String>>,
}

impl<'a> FileHasher<'a> {
    pub fn new(blobs: &'a BlobStore) -> Self {
        FileHasher {
            blobs,
            seen: HashMap::new(),
        }
    }
    /// The BLAKE3 of the file's bytes as they are on disk now.
    pub fn hash(&mut self, f: &FileRef) -> Result<String, String> {
        if let Some(h) = self.seen.get(&f.blob) {
            return h.clone();
        }
        let h = (|| {
            let mut file = self
                .blobs
                .open_blob(&f.blob)
                .map_err(|_| format!("file “{}” is missing", f.name))?;
            let mut hasher = blake3::Hasher::new();
            std::io::copy(&mut file, &mut hasher)
                .map_err(|e| format!("file “{}” unreadable: {e}", f.name))?;
            Ok(hasher.finalize().to_hex().to_string())
        })();
        self.seen.insert(f.blob.clone(), h.clone());
        h
    }
}

/// The digest of a version as stored now, every file re-read; the files that differ from the
/// hash they were stored under are named.
pub fn digest_now(v: &Version, hasher: &mut FileHasher<'_>) -> (String, Vec<String>) {
    let mut hashes = Vec::new();
    let mut problems = Vec::new();
    for f in &v.files {
        match hasher.hash(f) {
            Ok(h) => {
                if h != f.blob {
                    problems.push(format!("file “{}” has changed", f.name));
                }
                hashes.push(h);
            }
            Err(e) => {
                problems.push(e);
                hashes.push(String::new());
            }
        }
    }
    let d = blake3::hash(&signed_content(v, &hashes))
        .to_hex()
        .to_string();
    (d, problems)
}

/// Checks the signatures of one version against what is stored now.
pub fn verify_version(
    rx: &impl Read,
    plan: &Plan,
    v: &Version,
    hasher: &mut FileHasher<'_>,
) -> Result<Vec<Verdict>, StoreError> {
    let (now, file_problems) = digest_now(v, hasher);
    let mut out = Vec::new();
    let verdict = |action, by: &str, at: &str, problem| Verdict {
        plan: plan.id.clone(),
        version: v.number,
        title: v.title.clone(),
        teacher: plan.teacher_name.clone(),
        action,
        by: by.to_string(),
        at: at.to_string(),
        problem,
    };
    for s in &v.signatures {
        let mut problem = sign::check(s, &v.plan, v.number, &now).err();
        if problem.is_some() && !file_problems.is_empty() {
            problem = Some(file_problems.join("; "));
        }
        if problem.is_none() {
            let owned = rx.get(&KEYS, &s.by)?.is_some_and(|k| k.owns(&s.public_key));
            if !owned {
                problem = Some(format!("the key is not {}'s registered key", s.name));
            }
        }
        out.push(verdict(Some(s.action), &s.name, &s.at, problem));
    }
    let has = |a| v.signatures.iter().any(|s| s.action == a);
    let missing = match v.state {
        State::Draft => None,
        State::Approved if !has(SignAction::Approve) => Some("approved but not signed by BGH"),
        _ if !has(SignAction::Submit) => Some("handed in without the teacher's signature"),
        _ => None,
    };
    if let Some(m) = missing {
        out.push(verdict(None, "", &v.updated_at, Some(m.to_string())));
    }
    Ok(out)
}

/// Every signature of every plan, files re-read from disk (`tram lessons verify`).
pub fn verify_all(rx: &Rx, blobs: &BlobStore) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut hasher = FileHasher::new(blobs);
    let mut plans = BTreeMap::new();
    rx.scan_each(&PLANS, "", &mut |k, p: Plan| {
        plans.insert(k.to_string(), p);
        Ok(())
    })?;
    report.plans = plans.len();
    let mut versions = Vec::new();
    rx.scan_each(&VERSIONS, "", &mut |_, v: Version| {
        versions.push(v);
        Ok(())
    })?;
    for v in versions {
        let Some(plan) = plans.get(&v.plan) else {
            continue;
        };
        for verdict in verify_version(rx, plan, &v, &mut hasher)? {
            if verdict.problem.is_none() {
                report.valid += 1;
            }
            report.verdicts.push(verdict);
        }
    }
    Ok(report)
}

/// What `tram lessons verify` prints, and whether every signature is valid.
pub fn verify_text(store: &crate::store::Store) -> Result<(bool, String), StoreError> {
    let r = verify_all(&store.read()?, &store.blobs)?;
    let mut out = String::new();
    for v in r.invalid() {
        out += &format!(
            "INVALID {} v{} “{}” ({}){}: {}\n",
            v.plan,
            v.version,
            v.title,
            v.teacher,
            v.action
                .map(|a| format!(" {} signature by {}", a.as_str(), v.by))
                .unwrap_or_default(),
            v.problem.as_deref().unwrap_or("")
        );
    }
    let bad = r.invalid().count();
    out += &format!("{} valid", r.valid);
    if bad > 0 {
        out += &format!(", {bad} invalid");
    }
    out += &format!(" ({} plans)\n", r.plans);
    Ok((bad == 0, out))
}

// ----- the dashboard -----

#[derive(Debug, Clone, Serialize)]
pub struct TeacherRow {
    pub id: String,
    pub name: String,
    pub counts: [u32; 5],
    /// Periods (weeks or the month) already due with fewer plans handed in than the cadence asks.
    pub missing: Vec<String>,
    /// Drafts whose teaching day has passed.
    pub late_drafts: u32,
}

impl TeacherRow {
    pub fn overdue(&self) -> bool {
        !self.missing.is_empty() || self.late_drafts > 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeptRow {
    pub id: String,
    pub name: String,
    pub counts: [u32; 5],
    pub teachers: Vec<TeacherRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentRow {
    pub plan: String,
    pub teacher_id: String,
    pub title: String,
    pub teacher: String,
    pub state: &'static str,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub month: String,
    pub today: Date,
    pub cadence: String,
    pub departments: Vec<DeptRow>,
    pub totals: [u32; 5],
    pub overdue_teachers: u32,
    pub recent: Vec<RecentRow>,
    pub generation: u64,
}

fn state_index(s: State) -> usize {
    State::ALL.iter().position(|x| *x == s).expect("listed")
}

/// The periods of `month` that are due by `today`, each as (label, first day, last day).
fn due_periods(cfg: &LessonConfig, first: Date, today: Date) -> Vec<(String, Date, Date)> {
    let last = first.last_of_month();
    let grace = jiff::Span::new().days(i64::from(cfg.grace_days));
    let due = |end: Date| end.checked_add(grace).is_ok_and(|d| today > d);
    match cfg.cadence {
        Cadence::Monthly => {
            if due(last) {
                vec![(
                    format!("tháng {:02}/{}", first.month(), first.year()),
                    first,
                    last,
                )]
            } else {
                vec![]
            }
        }
        Cadence::Weekly => {
            let mut out = Vec::new();
            let offset = i64::from(first.weekday().to_monday_zero_offset());
            let mut monday = if offset == 0 {
                first
            } else {
                first
                    .checked_add(jiff::Span::new().days(7 - offset))
                    .unwrap_or(first)
            };
            while monday <= last {
                let sunday = monday
                    .checked_add(jiff::Span::new().days(6))
                    .unwrap_or(monday);
                if due(sunday) {
                    out.push((
                        format!(
                            "tuần {:02}/{:02}–{:02}/{:02}",
                            monday.day(),
                            monday.month(),
                            sunday.day(),
                            sunday.month()
                        ),
                        monday,
                        sunday,
                    ));
                }
                monday = monday
                    .checked_add(jiff::Span::new().days(7))
                    .unwrap_or(last.tomorrow().unwrap_or(last));
            }
            out
        }
    }
}

/// Submissions, reviews and approvals per department and teacher for a month, with the
/// teachers behind the cadence.
pub fn dashboard(rx: &Rx, month: &str, today: Date) -> Result<Dashboard, LessonError> {
    let first = parse_month(month)?;
    let cfg = config(rx)?;
    let periods = due_periods(&cfg, first, today);
    let departments = crate::school::list(rx, &crate::school::DEPARTMENTS)?;
    let accounts = crate::auth::list_accounts(rx)?;
    let plans: Vec<Plan> = rx
        .scan(&MONTHS, &format!("{month}/"))?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut by_teacher: HashMap<&str, Vec<&Plan>> = HashMap::new();
    for p in &plans {
        by_teacher.entry(p.teacher.as_str()).or_default().push(p);
    }
    let mut rows: BTreeMap<String, DeptRow> = departments
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                DeptRow {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    counts: [0; 5],
                    teachers: vec![],
                },
            )
        })
        .collect();
    let none = "";
    let mut totals = [0u32; 5];
    let mut overdue_teachers = 0;
    for a in &accounts {
        let writes = a.has(Role::Teacher) || a.has(Role::DeptHead);
        let mine = by_teacher.get(a.id.as_str());
        if a.disabled || (!writes && mine.is_none()) {
            continue;
        }
        let mine = mine.map(Vec::as_slice).unwrap_or(&[]);
        let mut counts = [0u32; 5];
        let mut late_drafts = 0;
        for p in mine {
            counts[state_index(p.state)] += 1;
            if p.late(today) {
                late_drafts += 1;
            }
        }
        let missing = if writes {
            periods
                .iter()
                .filter_map(|(label, from, to)| {
                    let n = mine
                        .iter()
                        .filter(|p| p.handed_in() && p.teach_on >= *from && p.teach_on <= *to)
                        .count() as u32;
                    (n < cfg.per_period).then(|| format!("{label}: {n}/{}", cfg.per_period))
                })
                .collect()
        } else {
            vec![]
        };
        let row = TeacherRow {
            id: a.id.clone(),
            name: a.full_name.clone(),
            counts,
            missing,
            late_drafts,
        };
        if row.overdue() {
            overdue_teachers += 1;
        }
        let dept = a.department.as_deref().unwrap_or(none);
        let d = rows.entry(dept.to_string()).or_insert_with(|| DeptRow {
            id: dept.to_string(),
            name: "Chưa thuộc tổ".into(),
            counts: [0; 5],
            teachers: vec![],
        });
        for (i, c) in counts.iter().enumerate() {
            d.counts[i] += c;
            totals[i] += c;
        }
        d.teachers.push(row);
    }
    let mut departments: Vec<DeptRow> = rows
        .into_values()
        .filter(|d| !d.teachers.is_empty())
        .collect();
    for d in &mut departments {
        d.teachers
            .sort_by(|a, b| crate::school::vietnamese_name_order(&a.name, &b.name));
    }
    let mut recent: Vec<&Plan> = plans.iter().filter(|p| p.state != State::Draft).collect();
    recent.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    let recent = recent
        .into_iter()
        .take(15)
        .map(|p| RecentRow {
            plan: p.id.clone(),
            teacher_id: p.teacher.clone(),
            title: p.title.clone(),
            teacher: p.teacher_name.clone(),
            state: p.state.label(),
            at: p.updated_at.clone(),
        })
        .collect();
    let cadence = match cfg.cadence {
        Cadence::Weekly => format!("{} kế hoạch mỗi tuần", cfg.per_period),
        Cadence::Monthly => format!("{} kế hoạch mỗi tháng", cfg.per_period),
    };
    Ok(Dashboard {
        month: month.to_string(),
        today,
        cadence,
        departments,
        totals,
        overdue_teachers,
        recent,
        generation: 0,
    })
}

/// Live updates: a generation number bumped after every lesson-plan change (pages long-poll
/// it), and the dashboard computed once per generation.
pub struct Live {
    generation: tokio::sync::watch::Sender<u64>,
    closing: std::sync::atomic::AtomicBool,
    cache: Mutex<Vec<Cached>>,
}

/// A computed dashboard: month, day, generation, when, the result.
struct Cached(String, Date, u64, std::time::Instant, Arc<Dashboard>);

impl Default for Live {
    fn default() -> Self {
        Live {
            generation: tokio::sync::watch::Sender::new(0),
            closing: std::sync::atomic::AtomicBool::new(false),
            cache: Mutex::new(Vec::new()),
        }
    }
}

impl Live {
    pub fn changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
    /// The server is stopping: waiting pages are answered now, and new waits return at once.
    pub fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed();
    }
    pub fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
    /// The month's dashboard, recomputed when a plan changed, the day turned or it is older
    /// than 30 s (accounts and the cadence change without bumping the generation).
    pub fn dashboard(
        &self,
        rx: &Rx,
        month: &str,
        today: Date,
    ) -> Result<Arc<Dashboard>, LessonError> {
        let g = self.generation();
        {
            let cache = self.cache.lock().expect("not poisoned");
            if let Some(hit) = cache.iter().find(|Cached(m, d, gen_, at, _)| {
                m == month && *d == today && *gen_ == g && at.elapsed().as_secs() < 30
            }) {
                return Ok(hit.4.clone());
            }
        }
        let mut d = dashboard(rx, month, today)?;
        d.generation = g;
        let d = Arc::new(d);
        let mut cache = self.cache.lock().expect("not poisoned");
        cache.retain(|Cached(m, _, gen_, _, _)| m != month && *gen_ == g);
        cache.truncate(7);
        cache.push(Cached(
            month.to_string(),
            today,
            g,
            std::time::Instant::now(),
            d.clone(),
        ));
        Ok(d)
    }
}

/// The dashboard as `p` may see it: everything for BGH, their department for a head.
pub fn dashboard_for(p: &Principal, d: &Dashboard) -> Option<Dashboard> {
    if p.is_bgh() {
        return Some(d.clone());
    }
    let dept = p.account.department.as_deref()?;
    if !permits(p, Action::ReviewLessonPlans { department: dept }) {
        return None;
    }
    let mut mine = d.clone();
    mine.departments.retain(|r| r.id == dept);
    mine.totals = mine.departments.first().map(|r| r.counts).unwrap_or([0; 5]);
    mine.overdue_teachers = mine
        .departments
        .iter()
        .flat_map(|r| &r.teachers)
        .filter(|t| t.overdue())
        .count() as u32;
    let ids: Vec<String> = mine
        .departments
        .iter()
        .flat_map(|r| r.teachers.iter().map(|t| t.id.clone()))
        .collect();
    mine.recent.retain(|r| ids.contains(&r.teacher_id));
    Some(mine)
}
