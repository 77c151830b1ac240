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

mod dashboard;
mod drafts;
pub mod export;
pub mod migrate;
pub mod pages;
mod queue;
pub mod routes;
pub mod sign;
#[cfg(test)]
mod tests;
mod verify;
mod workflow;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::auth::{Action, Principal, Role, permits};
use crate::library::FileRef;
use crate::store::{AuditPolicy, Collection, Read, Rx, StoreError, Tx, blob::BlobStore};
use crate::text::{fold, nfc};
use sign::{KEYS, KeyError, SignAction, Signature, Signer};

pub use dashboard::{
    Dashboard, DeptRow, Live, MonthSummary, RecentRow, TeacherRow, dashboard, dashboard_for,
};
pub(crate) use drafts::save_plan;
pub use drafts::{
    ATTACHMENT_QUOTA, PlanInput, attach, attached_bytes, check_attachment, check_teach_on, create,
    delete, detach, edit, edit_patch, name_old_link, school_year_of, set_plan_line,
};
use drafts::{load, now_str, sync_head};
pub use queue::{
    Query, check_filters, every_plan, search, seen_by, sees_work, versions, waiting_for,
};
pub use verify::{
    FileHasher, Verdict, VerifyReport, digest_now, verify_all, verify_text, verify_version,
};
pub use workflow::{
    BatchOutcome, Listed, Signable, approve, approve_month, approve_month_holding, check_document,
    content_digest, digest, may_hand_in, month_label, month_to_approve, parse_month, review,
    sign_document, signed_content, submit,
};

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
    /// The plans waiting to be approved are not the ones the approval form listed.
    #[error(
        "Danh sách đã thay đổi: {0} — tải lại trang để xem danh sách mới. Chưa ký kế hoạch nào."
    )]
    ListChanged(String),
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
            LessonError::ListChanged(_) => "list_changed",
            LessonError::NoKey => "no_key",
            LessonError::Quarantined => "recently_reset",
            LessonError::Key(KeyError::WrongSecret) => "wrong_secret",
            LessonError::Key(KeyError::WasReset) => "key_reset",
            LessonError::Key(KeyError::WeakSecret(_)) => "weak_pin",
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
    /// The reviewer's role as she reviewed ("Tổ trưởng", or BGH's "Hiệu trưởng"/"Phó hiệu
    /// trưởng" for a tổ trưởng's own plan): what the printed plan names (review r18 #4);
    /// empty in reviews stored before it was kept, printed without a role.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    pub at: String,
    pub passed: bool,
    pub comment: String,
}

impl Review {
    /// "Tổ trưởng Trần Văn A", "Phó hiệu trưởng Lê Thị B", or the name alone when the role
    /// was not kept.
    pub fn reviewer(&self) -> String {
        if self.role.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.role, self.name)
        }
    }
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
    /// The line of the teacher's Phụ lục III this lesson implements ("{plan}#{line}", set by
    /// `dept`); none on plans made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_line: Option<String>,
    /// Which lesson that line was when linked: the Phụ lục III's approved version and the
    /// lesson's title (review r16 #7: a bare number drifts when the plan changes). Signed with
    /// the version when set; absent on links made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_lesson: Option<LinkedLesson>,
}

/// The lesson of a Phụ lục III a lesson plan's version is linked to, as it stood when linked
/// (`dept::link_lesson` fills it from the plan's approved version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedLesson {
    /// The Phụ lục III's id.
    pub pl3: String,
    /// Its approved version the link was made against.
    pub version: u32,
    /// The line (1-based) in that version.
    pub line: usize,
    /// The line's bài học / chủ đề, and its periods.
    pub lesson: String,
    pub periods: u16,
}

/// A lesson plan's link as it reads now, resolved against the Phụ lục III's current approved
/// version by `dept` (the one resolution the PL III page counts with): what the API
/// (`GET /api/v1/lessons/plans/{id}` → `link`) and the lesson plan page show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkView {
    /// The Phụ lục III's id, and its title as lists show it.
    pub pl3: String,
    pub pl3_title: String,
    /// The approved version the link was made against (the current one for a link made before
    /// versions were recorded).
    pub version: u32,
    /// Its current approved version, when it has one.
    pub current_version: Option<u32>,
    /// The line the lesson is on now (where it moved, for `moved`; where the changed lesson
    /// is, for `changed`), else the stored one.
    pub line: usize,
    /// The line stored with the link ("{plan}#{n}").
    pub linked_line: usize,
    /// The lesson as linked, and its periods.
    pub lesson: String,
    pub periods: u16,
    /// `ok` (the same line), `moved` (the lesson is on another line now), `changed` (the plan
    /// approved again with that lesson's periods or title changed: `line` is where it is
    /// now), `dropped` (approved again without it), `broken` (the link breaks the rule).
    pub status: &'static str,
    /// In Vietnamese, unless `ok`: where the lesson moved; or why the link needs attention —
    /// where the lesson is now and what changed, the version that dropped it — and what the
    /// teacher can do. The words the plan's page and its printed copy show.
    pub message: Option<String>,
    /// The link of the version in force (handed in, or approved while a new draft is
    /// written); false for a draft's link on a plan with nothing handed in (review r20 #2).
    pub in_force: bool,
    /// A new draft version's relink beside the link in force, not handed in: shown apart
    /// ("đang gắn lại (bản nháp)"), never counted; status `unlinked` when the draft unlinks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<Box<LinkView>>,
}

/// Resolves a lesson plan's link ([`LinkView`]); `dept`'s, put in the server's state by `app`
/// (`lessons` may not name `dept`, which stands on it).
pub struct LinkResolver(pub fn(&Rx, &Plan) -> Result<Option<LinkView>, StoreError>);

/// [`LinkResolver`] inside a write's transaction (`dept::link_view_in`): the month's approval
/// PDF, printed as it is signed, says each plan's link as it reads then (review r21 #10).
pub struct LinkResolverTx(
    pub fn(&crate::store::Tx<'_>, &Plan) -> Result<Option<LinkView>, StoreError>,
);

/// Why a lesson plan may not be handed in, passed by its tổ or approved as its link reads now
/// — `dept`'s (`dept::hand_in_problem`): its lesson `changed` or `dropped` in the Phụ lục III's
/// current approved version, in Vietnamese, naming the line to relink to (review r20 #3).
/// Asked inside the write's transaction at every step that advances a plan ([`Advance`]); put
/// in the server's state by `app`.
pub struct LinkGate(
    pub fn(&crate::store::Tx<'_>, &Plan, Advance) -> Result<Option<String>, StoreError>,
);

/// A step that advances a lesson plan, each refused while its link's lesson is `changed` or
/// `dropped` ([`LinkGate`]), worded for who takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The teacher signs and hands it in.
    HandIn,
    /// The tổ trưởng (or BGH for her) passes it on.
    Review,
    /// BGH approve it, alone or in the month's batch.
    Approve,
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
    /// The current version's line of the teacher's Phụ lục III ([`Version::plan_line`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_line: Option<String>,
}

impl Plan {
    pub fn month(&self) -> String {
        month_of(self.teach_on)
    }
    /// Handed in for the cadence: waiting or approved, or an approved plan being amended.
    pub fn handed_in(&self) -> bool {
        self.in_force().handed_in()
    }
    /// [`in_force`] of the plan: the state a month's counts put it in.
    pub fn in_force(&self) -> State {
        in_force(self.state, self.approved_version.is_some())
    }
    /// A draft never handed in whose teaching day has passed.
    pub fn late(&self, today: Date) -> bool {
        self.state == State::Draft && self.approved_version.is_none() && self.teach_on < today
    }
}

/// The tổ heads, as "{account}/{department}": a plan its own tổ's head hands in is reviewed
/// by Ban giám hiệu (she cannot review her own), so its state says so ([`state_words`]).
pub fn dept_heads(r: &Rx) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(crate::auth::list_accounts(r)?
        .into_iter()
        .filter(|a| a.has(Role::DeptHead))
        .filter_map(|a| a.department.map(|d| format!("{}/{d}", a.id)))
        .collect())
}

/// A plan's state in words that say whom it waits for (review r14 #10): as
/// [`State::label`], but a plan of the tổ's own head waits for Ban giám hiệu, not the tổ.
pub fn state_words(
    state: State,
    teacher: &str,
    department: Option<&str>,
    heads: &std::collections::HashSet<String>,
) -> &'static str {
    let by_head = department.is_some_and(|d| heads.contains(&format!("{teacher}/{d}")));
    match state {
        State::Submitted if by_head => "Đã nộp, chờ Ban giám hiệu duyệt",
        State::Reviewed if by_head => "Ban giám hiệu đã duyệt, chờ ký phê duyệt",
        s => s.label(),
    }
}

impl Plan {
    /// [`state_words`] of the plan's current state.
    pub fn state_words(&self, heads: &std::collections::HashSet<String>) -> &'static str {
        state_words(self.state, &self.teacher, self.department.as_deref(), heads)
    }
}

/// The one rule of a month's lesson-plan counts, on the box's dashboard and in the hub's
/// lesson-plan report alike (review r20 #8), said under both and in the hub's files.
pub const MONTH_COUNT_RULE: &str = "Mỗi kế hoạch bài dạy tính một lần, vào tháng của ngày dạy, theo bản đang có hiệu lực: kế hoạch đã có một bản được phê duyệt tính là đã phê duyệt, cả khi giáo viên đang sửa bản mới; đã nộp gồm chờ tổ duyệt, tổ đã duyệt và đã phê duyệt; bản nháp và kế hoạch bị trả lại để sửa chưa tính là đã nộp.";

/// The state a plan counts in for its month ([`MONTH_COUNT_RULE`]): the version in force —
/// approved while an approved version stands, whatever a newer version's state (an amendment
/// drafted, handed in or returned); else the plan's own state. The hub applies it to the
/// relayed record (`state`, `approved_version`), the box's dashboard to its plans.
pub fn in_force(state: State, approved: bool) -> State {
    if approved { State::Approved } else { state }
}

/// (handed in, approved) of a plan in [`in_force`]'s state: what the hub's report counts.
pub fn month_counts(state: State) -> (bool, bool) {
    (state.handed_in(), state == State::Approved)
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
