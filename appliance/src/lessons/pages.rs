//! Lesson-plan pages: the list with search and the queue of plans waiting for me, one plan
//! (fields, files, versions, signatures checked, the workflow buttons), the editor, the live BGH
//! dashboard, and the signature check of every plan.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::export::{Names, date_vi, when};
use super::sign::KEYS;
use super::{Layout, Plan, State as PlanState, Version};
use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::auth::{Action, Principal, permits};
use crate::http::render;
use crate::http::{ApiError, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/lessons", get(list_page))
        .route("/lessons/plan/{id}", get(plan_page))
        .route("/lessons/plan/{id}/edit", get(edit_page))
        .route("/lessons/new", get(new_page))
        .route("/lessons/dashboard", get(dashboard_page))
        .route("/lessons/verify", get(verify_page))
}

/// A plan as a list row shows it.
pub(crate) struct Row {
    id: String,
    title: String,
    meta: String,
    teacher: String,
    state: &'static str,
    state_code: &'static str,
    late: bool,
}

fn row(
    p: &Plan,
    names: &Names,
    heads: &std::collections::HashSet<String>,
    today: jiff::civil::Date,
) -> Row {
    Row {
        id: p.id.clone(),
        title: p.title.clone(),
        meta: format!(
            "{} {} · {}",
            names.subject(&p.subject),
            p.grade,
            date_vi(p.teach_on)
        ),
        teacher: p.teacher_name.clone(),
        state: p.state_words(heads),
        state_code: p.state.as_str(),
        late: p.late(today),
    }
}

page!(ListPage, "lessons.html" {
    q: String,
    subject: String,
    grade: String,
    grades: Vec<u8>,
    state: String,
    rows: Vec<Row>,
    waiting: Vec<Row>,
    subjects: Vec<(String, String)>,
    states: Vec<(&'static str, &'static str)>,
    can_write: bool,
    has_key: bool,
    can_dashboard: bool,
    can_verify: bool,
    me: String,
    year: String,
    error: Option<String>,
});

fn can_dashboard(p: &Principal) -> bool {
    p.is_bgh()
        || p.account.department.as_deref().is_some_and(|d| {
            crate::auth::may_see(p, Action::ReviewLessonPlans { department: d })
                && p.has(crate::auth::Role::DeptHead)
        })
}

async fn list_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<super::Query>,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let names = Names::load(&rx)?;
    let today = super::routes::today();
    // A filter that does not parse or names nothing: the page again, its form as typed and
    // the reason, nothing listed, 400 (review r20 #9).
    let form = ["q", "subject", "grade", "state"].map(|k| typed.raw(k));
    let wants_page = typed.page;
    let (q, error) = match typed.filters {
        Ok(q) => {
            let why = super::check_filters(&rx, &q)?;
            (q, why)
        }
        Err(why) => (super::Query::default(), Some(why)),
    };
    crate::http::refusal(wants_page, error.as_ref())?;
    let hits = match error {
        None => super::search(&rx, &u.principal, &q, 200)?,
        Some(_) => vec![],
    };
    let waiting = super::waiting_for(&rx, &u.principal)?;
    let heads = super::dept_heads(&rx)?;
    let mut subjects: Vec<(String, String)> = names.subjects.clone().into_iter().collect();
    subjects.sort_by(|a, b| a.1.cmp(&b.1));
    let info = crate::school::school_info(&rx)?;
    let year = info
        .as_ref()
        .map(|i| i.current_year.clone())
        .unwrap_or_default();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = render(ListPage::new(
        chrome(&s, &u, &headers),
        typed_or(&form[0], &q.q),
        typed_or(&form[1], q.subject.as_deref().unwrap_or_default()),
        typed_or(
            &form[2],
            &q.grade.map(|g| g.to_string()).unwrap_or_default(),
        ),
        info.map(|i| i.grades())
            .unwrap_or_else(|| (1..=12).collect()),
        typed_or(&form[3], q.state.as_deref().unwrap_or_default()),
        hits.iter().map(|p| row(p, &names, &heads, today)).collect(),
        waiting
            .iter()
            .map(|p| row(p, &names, &heads, today))
            .collect(),
        subjects,
        PlanState::ALL
            .iter()
            .map(|x| (x.as_str(), x.label()))
            .collect(),
        permits(&u.principal, Action::SubmitLessonPlans),
        rx.get(&KEYS, u.principal.id())?.is_some_and(|r| !r.reset),
        can_dashboard(&u.principal),
        u.principal.is_bgh() || permits(&u.principal, Action::ManageDevice),
        u.principal.id().to_string(),
        year,
        error,
    ));
    Ok((status, page).into_response())
}

/// The form shows what was typed (a refused filter too), else the parsed value.
fn typed_or(typed: &str, parsed: &str) -> String {
    if typed.is_empty() { parsed } else { typed }.to_string()
}

pub(crate) struct SigRow {
    label: &'static str,
    name: String,
    at: String,
    key: String,
    /// How the signer's key came to be (who made or replaced it, when).
    key_note: String,
    problem: Option<String>,
}

pub(crate) struct ActivityView {
    name: String,
    parts: Vec<(&'static str, String)>,
}

pub(crate) struct FileView {
    name: String,
    size: String,
    url: String,
}

page!(PlanPage, "lesson_plan.html" {
    plan: Plan,
    v: Version,
    labels: super::Labels,
    subject: String,
    department: String,
    teach_on: String,
    activities: Vec<ActivityView>,
    files: Vec<FileView>,
    versions: Vec<(u32, &'static str, String, bool)>,
    // The shown version's state, saying whom it waits for (`state_words`).
    state_label: &'static str,
    signatures: Vec<SigRow>,
    review: Option<(String, String, bool, String)>,
    is_current: bool,
    can_edit: bool,
    can_submit: bool,
    can_review: bool,
    can_approve: bool,
    can_publish: bool,
    can_delete: bool,
    has_key: bool,
    details: bool,
    // Which lesson of the teacher's Phụ lục III it is linked to, a note when the link no
    // longer reads as it was made, whether that note is a problem, and where its teacher
    // relinks it (`link_line`).
    link: Option<(String, Option<String>, bool, Option<String>)>,
});

#[derive(Deserialize)]
struct VersionQ {
    v: Option<u32>,
}

fn activity_views(v: &Version) -> Vec<ActivityView> {
    v.fields
        .activities
        .iter()
        .map(|a| {
            let parts: Vec<(&'static str, &String)> = match v.layout {
                Layout::Secondary => vec![
                    ("a) Mục tiêu", &a.objective),
                    ("b) Nội dung", &a.content),
                    ("c) Sản phẩm", &a.product),
                    ("d) Tổ chức thực hiện", &a.organisation),
                ],
                Layout::Primary => vec![
                    ("Mục tiêu", &a.objective),
                    ("Hoạt động của giáo viên", &a.teacher),
                    ("Hoạt động của học sinh", &a.students),
                ],
            };
            ActivityView {
                name: a.name.clone(),
                parts: parts
                    .into_iter()
                    .filter(|(_, t)| !t.is_empty())
                    .map(|(k, t)| (k, t.clone()))
                    .collect(),
            }
        })
        .collect()
}

async fn plan_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(id): Path<String>,
    typed: crate::http::PageQuery<VersionQ>,
) -> Result<Response, ApiError> {
    // A version that does not read (or given twice): the reason and the menu, a link to the
    // plan as it is (review r21 #5).
    let q = match typed.filters {
        Ok(q) => q,
        Err(why) => {
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Kế hoạch bài dạy",
                why,
                vec![(
                    format!("/lessons/plan/{}", crate::http::urlencode(&id)),
                    "Phiên bản hiện hành".to_string(),
                )],
            );
        }
    };
    let p = &u.principal;
    let store = s.store.clone();
    let pp = p.clone();
    // Files are re-hashed to check the signatures: off the async threads.
    let resolve = s.part::<super::LinkResolver>()?.0;
    let (plan, v, all, sigs, names, has_key, heads, link) =
        tokio::task::spawn_blocking(move || {
            let rx = store.read()?;
            let plan = super::routes::readable(&rx, &pp, &id)?;
            let all = super::routes::visible_versions(&rx, &pp, &plan)?;
            let v = match q.v {
                Some(n) => all.iter().find(|v| v.number == n).cloned(),
                None => all.last().cloned(),
            }
            .ok_or_else(ApiError::not_found)?;
            // Its teacher relinks on the PL III's page, unless the plan waits for review.
            let relinks = plan.teacher == pp.id()
                && !matches!(plan.state, PlanState::Submitted | PlanState::Reviewed);
            // The version shown: the current draft's own relink when one is apart from the
            // link in force (review r20 #2), the version in force's, else as signed.
            let view = resolve(&rx, &plan)?;
            let view = match view {
                Some(l) if v.number == plan.version => Some(match l.draft {
                    Some(d) => *d,
                    None => l,
                }),
                Some(l)
                    if l.in_force
                        && v.plan_line.as_deref()
                            == Some(format!("{}#{}", l.pl3, l.linked_line).as_str())
                        && Some(v.number) == plan.approved_version =>
                {
                    Some(l)
                }
                _ => None,
            };
            let link = link_line(&v, view.filter(|l| l.status != "unlinked"), relinks);
            let mut hasher = super::FileHasher::new(&store.blobs);
            let verdicts = super::verify_version(&rx, &plan, &v, &mut hasher)?;
            let names = Names::load(&rx)?;
            let has_key = rx.get(&KEYS, pp.id())?.is_some_and(|r| !r.reset);
            let heads = super::dept_heads(&rx)?;
            let origins: Vec<String> = v
                .signatures
                .iter()
                .map(|sg| super::sign::key_origin(&rx, &sg.by, &sg.public_key).unwrap_or_default())
                .collect();
            Ok::<_, ApiError>((
                plan,
                v,
                all,
                (verdicts, origins),
                names,
                has_key,
                heads,
                link,
            ))
        })
        .await
        .map_err(ApiError::internal)??;
    let (sigs, origins) = sigs;
    let mut signatures = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (i, verdict) in sigs.iter().enumerate() {
        match v.signatures.get(i) {
            Some(sig) if verdict.action.is_some() => signatures.push(SigRow {
                label: sig.action.label(),
                name: sig.name.clone(),
                at: when(&sig.at),
                key: sig.public_key[..16].to_string(),
                key_note: origins.get(i).cloned().unwrap_or_default(),
                problem: verdict.problem.clone(),
            }),
            _ => problems.extend(verdict.problem.clone()),
        }
    }
    for pr in problems {
        signatures.push(SigRow {
            label: "Thiếu chữ ký",
            name: String::new(),
            at: String::new(),
            key: String::new(),
            key_note: String::new(),
            problem: Some(pr),
        });
    }
    let own = plan.teacher == p.id();
    let is_current = v.number == plan.version;
    let dept = plan.department.clone().unwrap_or_default();
    let state = v.state;
    let can_edit =
        own && is_current && !matches!(state, PlanState::Submitted | PlanState::Reviewed);
    let can_submit = own && is_current && state == PlanState::Draft;
    let can_review = !own
        && is_current
        && state == PlanState::Submitted
        && permits(p, Action::ReviewLessonPlans { department: &dept });
    let can_approve = !own
        && is_current
        && state == PlanState::Reviewed
        && permits(p, Action::ApproveLessonPlans);
    let can_publish =
        plan.approved_version.is_some() && plan.library_item.is_none() && (own || p.is_bgh());
    let can_delete = own && plan.version == 1 && state == PlanState::Draft;
    let files = v
        .files
        .iter()
        .map(|f| FileView {
            name: f.name.clone(),
            size: crate::text::human_size(f.size),
            url: format!("/lessons/file/{}/{}/{}", plan.id, v.number, f.blob),
        })
        .collect();
    let state_label =
        super::state_words(v.state, &plan.teacher, plan.department.as_deref(), &heads);
    let versions = all
        .iter()
        .map(|x| {
            (
                x.number,
                super::state_words(x.state, &plan.teacher, plan.department.as_deref(), &heads),
                when(&x.updated_at),
                x.number == v.number,
            )
        })
        .collect();
    let review = v
        .review
        .as_ref()
        // By the role she reviewed in, as the printed plan names her (review r18 #4).
        .map(|r| (r.reviewer(), when(&r.at), r.passed, r.comment.clone()));
    Ok(render(PlanPage::new(
        chrome(&s, &u, &headers),
        plan.clone(),
        v.clone(),
        v.layout.labels(),
        names.subject(&v.subject),
        names.department(plan.department.as_deref()),
        date_vi(v.teach_on),
        activity_views(&v),
        files,
        versions,
        state_label,
        signatures,
        review,
        is_current,
        can_edit,
        can_submit,
        can_review,
        can_approve,
        can_publish,
        can_delete,
        has_key,
        // Hashes and key ids mean nothing to a teacher: they see who signed and when, and those
        // who may open the verify page (BGH, school IT) also see the details it checks.
        p.is_bgh() || permits(p, Action::ManageDevice),
        link,
    )))
}

/// The link of version `v` as its page says it: the current version's as it reads now
/// (`now`, resolved by `dept`: its `message` the words the API and the printed plan carry
/// too), an older one's as it was signed — the lesson by its title and the Phụ lục III's
/// version, never a bare line number (review r16 #7). A link that needs a relink (`relinks`:
/// the viewer is its teacher and may change it) points at the PL III's *Gắn* form.
type LinkLine = (String, Option<String>, bool, Option<String>);
fn link_line(v: &Version, now: Option<super::LinkView>, relinks: bool) -> Option<LinkLine> {
    if let Some(l) = now {
        let head = match l.status {
            // The lesson as it was linked: the note says where it is now, or that it is gone.
            "changed" | "dropped" => format!(
                "{} · khi gắn (bản {}) dòng {}: {} ({} tiết)",
                l.pl3_title, l.version, l.linked_line, l.lesson, l.periods
            ),
            _ => format!(
                "{} · dòng {}: {} ({} tiết)",
                l.pl3_title, l.line, l.lesson, l.periods
            ),
        };
        let problem = matches!(l.status, "changed" | "dropped" | "broken");
        return Some((
            head,
            l.message.clone(),
            problem,
            (problem && relinks).then(|| format!("/dept/plan/{}#link-form", l.pl3)),
        ));
    }
    match (&v.plan_lesson, &v.plan_line) {
        (Some(l), _) => Some((
            format!(
                "Phụ lục III (bản {}) · dòng {}: {} ({} tiết)",
                l.version, l.line, l.lesson, l.periods
            ),
            None,
            false,
            None,
        )),
        (None, Some(line)) => Some((
            format!(
                "Phụ lục III · dòng {}",
                line.rsplit_once('#').map_or("?", |x| x.1)
            ),
            None,
            false,
            None,
        )),
        (None, None) => None,
    }
}

pub(crate) struct ActivityEdit {
    i: usize,
    name: String,
    objective: String,
    content: String,
    product: String,
    organisation: String,
    teacher: String,
    students: String,
}

page!(EditPage, "lesson_edit.html" {
    id: String,
    v: Version,
    secondary: bool,
    labels: super::Labels,
    subjects: Vec<(String, String)>,
    activities: Vec<ActivityEdit>,
    files: Vec<(String, String, String)>,
    max_mb: u64,
    notice: String,
});

fn subject_list(names: &Names) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = names.subjects.clone().into_iter().collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

fn edit_view(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    headers: &HeaderMap,
    id: String,
    v: Version,
    notice: String,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let names = Names::load(&rx)?;
    let cfg = super::config(&rx)?;
    let activities = v
        .fields
        .activities
        .iter()
        .enumerate()
        .map(|(i, a)| ActivityEdit {
            i,
            name: a.name.clone(),
            objective: a.objective.clone(),
            content: a.content.clone(),
            product: a.product.clone(),
            organisation: a.organisation.clone(),
            teacher: a.teacher.clone(),
            students: a.students.clone(),
        })
        .collect();
    let files = v
        .files
        .iter()
        .map(|f| {
            (
                f.blob.clone(),
                f.name.clone(),
                crate::text::human_size(f.size),
            )
        })
        .collect();
    Ok(render(EditPage::new(
        chrome(s, u, headers),
        id,
        v.clone(),
        v.layout == Layout::Secondary,
        v.layout.labels(),
        subject_list(&names),
        activities,
        files,
        cfg.max_file_mb,
        notice,
    )))
}

async fn edit_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let plan = super::routes::readable(&rx, &u.principal, &id)?;
    if plan.teacher != u.principal.id() {
        return Err(ApiError::forbidden());
    }
    let v = rx
        .get(&super::VERSIONS, &super::version_key(&id, plan.version))?
        .ok_or_else(ApiError::not_found)?;
    let notice = match v.state {
        PlanState::Draft => String::new(),
        PlanState::Returned | PlanState::Approved => format!(
            "Lưu sẽ tạo phiên bản {} (bản nháp); phiên bản {} được giữ nguyên.",
            v.number + 1,
            v.number
        ),
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "wrong_state",
                "Kế hoạch đang chờ duyệt; chưa sửa được.",
            ));
        }
    };
    drop(rx);
    edit_view(&s, &u, &headers, id, v, notice)
}

page!(NewPage, "lesson_new.html" {
    subjects: Vec<(String, String)>,
    today: String,
});

async fn new_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::SubmitLessonPlans)?;
    let names = Names::load(&s.store.read()?)?;
    Ok(render(NewPage::new(
        chrome(&s, &u, &headers),
        subject_list(&names),
        super::routes::today().to_string(),
    )))
}

#[derive(Template)]
#[template(path = "lessons_dash_body.html")]
struct DashBody {
    t: crate::web::I18n,
    d: super::Dashboard,
    states: Vec<&'static str>,
    short: Vec<&'static str>,
    recent: Vec<(String, String, String, &'static str, String)>,
    year: String,
    /// The month counts' rule, the words the hub's lesson-plan report says too.
    rule: &'static str,
}

page!(DashPage, "lessons_dashboard.html" {
    body: String,
    // Why the month asked for was refused.
    error: Option<String>,
    month: String,
    generation: u64,
    cadence: String,
    cfg: super::LessonConfig,
    departments: Vec<(String, String)>,
    can_approve: bool,
    has_key: bool,
    is_bgh: bool,
    waiting: usize,
    to_sign: Vec<ToSign>,
    // The tổ picked in the signing form ("" every tổ).
    department: String,
});

/// A plan "Ký duyệt cả tháng" will sign, as the form lists it before the PIN; the page's script
/// sends back the id and version of each plan still shown (the department picked).
struct ToSign {
    id: String,
    version: u32,
    department_id: String,
    title: String,
    teacher: String,
    subject: String,
    department: String,
}

#[derive(Deserialize)]
struct DashQ {
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    month: Option<String>,
    /// The tổ whose plans the month's signing form lists first ("" every tổ).
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    department: Option<String>,
    #[serde(default)]
    fragment: bool,
}

async fn dashboard_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<DashQ>,
) -> Result<Response, ApiError> {
    if !can_dashboard(&u.principal) {
        return Err(ApiError::forbidden());
    }
    // A month that does not parse (or a field given twice): this month's page with the
    // reason above its form, 400 (review r20 #9).
    let wants_page = typed.page;
    let departments: Vec<(String, String)> = {
        let rx = s.store.read()?;
        crate::school::list(&rx, &crate::school::DEPARTMENTS)?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect()
    };
    // A tổ that names nothing is refused with the tổ there are, never the whole school's
    // month (review r21 #5).
    let no_department = |d: &str| {
        format!(
            "Không có tổ chuyên môn mã “{}”: chọn một trong các tổ {}.",
            d.chars().take(40).collect::<String>(),
            departments
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (q, error) = match typed.filters {
        Ok(q) => match q.month.as_deref().map(super::parse_month) {
            Some(Err(e)) => (DashQ { month: None, ..q }, Some(e.to_string())),
            _ => match q.department.as_deref() {
                Some(d) if !departments.iter().any(|(id, _)| id == d) => {
                    let why = no_department(d);
                    (
                        DashQ {
                            department: None,
                            ..q
                        },
                        Some(why),
                    )
                }
                _ => (q, None),
            },
        },
        Err(why) => (
            DashQ {
                month: None,
                department: None,
                fragment: false,
            },
            Some(why),
        ),
    };
    crate::http::refusal(wants_page && !q.fragment, error.as_ref())?;
    let d = super::routes::dashboard_of(&s, &u.principal, q.month.as_deref())?;
    let rx = s.store.read()?;
    let year = crate::school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let recent = d
        .recent
        .iter()
        .map(|r| {
            (
                r.plan.clone(),
                r.title.clone(),
                r.teacher.clone(),
                r.state,
                when(&r.at),
            )
        })
        .collect();
    let (month, generation, cadence) = (d.month.clone(), d.generation, d.cadence.clone());
    let waiting: u32 = d.totals[2];
    let body = DashBody {
        t: crate::web::I18n::from_headers(&headers),
        d,
        states: PlanState::ALL.iter().map(|x| x.label()).collect(),
        short: PlanState::ALL.iter().map(|x| x.short()).collect(),
        recent,
        year,
        rule: super::MONTH_COUNT_RULE,
    }
    .render()
    .map_err(ApiError::internal)?;
    if q.fragment {
        return Ok(Html(body).into_response());
    }
    let can_approve = permits(&u.principal, Action::ApproveLessonPlans);
    let to_sign = if can_approve {
        let subjects = crate::school::list(&rx, &crate::school::SUBJECTS)?;
        super::month_to_approve(&rx, &u.principal, &month, None)?
            .into_iter()
            .map(|p| ToSign {
                id: p.id.clone(),
                version: p.version,
                department_id: p.department.clone().unwrap_or_default(),
                subject: subjects
                    .iter()
                    .find(|x| x.id == p.subject)
                    .map_or_else(|| p.subject.clone(), |x| x.name.clone()),
                department: p
                    .department
                    .as_ref()
                    .and_then(|d| departments.iter().find(|x| &x.0 == d))
                    .map(|x| x.1.clone())
                    .unwrap_or_default(),
                title: p.title,
                teacher: p.teacher_name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = render(DashPage::new(
        chrome(&s, &u, &headers),
        body,
        error,
        month,
        generation,
        cadence,
        super::config(&rx)?,
        departments,
        can_approve,
        rx.get(&KEYS, u.principal.id())?.is_some_and(|r| !r.reset),
        u.principal.is_bgh(),
        waiting as usize,
        to_sign,
        q.department.unwrap_or_default(),
    ));
    Ok((status, page).into_response())
}

page!(VerifyPage, "lessons_verify.html" {
    plans: usize,
    valid: usize,
    invalid: Vec<super::Verdict>,
    key_changes: Vec<(String, String)>,
});

async fn verify_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    if !u.principal.is_bgh() && !permits(&u.principal, Action::ManageDevice) {
        return Err(ApiError::forbidden());
    }
    let store = s.store.clone();
    let (report, key_changes) = tokio::task::spawn_blocking(move || {
        let rx = store.read()?;
        let report = super::verify_all(&rx, &store.blobs)?;
        let changes = super::sign::all_changes(&rx)?;
        Ok::<_, ApiError>((report, changes))
    })
    .await
    .map_err(ApiError::internal)??;
    let invalid = report.invalid().cloned().collect();
    Ok(render(VerifyPage::new(
        chrome(&s, &u, &headers),
        report.plans,
        report.valid,
        invalid,
        key_changes,
    )))
}
