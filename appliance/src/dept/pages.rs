//! The department records' pages: the index (plans, minutes, the forms that start them), one
//! plan (its lines in the official columns, signatures checked, the workflow's forms) and one
//! minutes. Every change goes through `/api/v1/dept/…`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Kind, Line, Minutes, MinutesVersion, Plan, PlanVersion, SignatureCheck, plan_title};
use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::auth::{Action, Role, permits};
use crate::http::{ApiError, Shared, render};
use crate::lessons::State as DocState;
use crate::lessons::sign::KEYS;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/dept", get(index_page))
        .route("/dept/plan/{id}", get(plan_page))
        .route("/dept/minutes/{id}", get(minutes_page))
}

struct PlanRow {
    id: String,
    title: String,
    meta: String,
    state: &'static str,
    state_code: &'static str,
}

struct MinutesRow {
    id: String,
    date: String,
    agenda: String,
    department: String,
    signed: bool,
}

page!(IndexPage, "dept.html" {
    plans: Vec<PlanRow>,
    minutes: Vec<MinutesRow>,
    department: String,
    department_name: String,
    subjects: Vec<(String, String)>,
    members: Vec<(String, String)>,
    is_head: bool,
    may_pl2: bool,
    may_pl3: bool,
    may_minutes: bool,
    progress: Vec<super::Progress>,
    // Every tổ (BGH) or the tổ trưởng's own.
    progress_all: bool,
    // Why the tracking's filter was refused.
    error: Option<String>,
});

async fn index_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<super::routes::ProgressQuery>,
) -> Result<Response, ApiError> {
    let p = &u.principal;
    let rx = s.store.read()?;
    let plans = super::list_plans(&rx, p)?
        .iter()
        .map(|x| PlanRow {
            id: x.id.clone(),
            title: plan_title(&rx, x),
            meta: format!(
                "{} · năm học {} · phiên bản {}",
                x.author_name, x.year, x.version
            ),
            state: super::state_label(x.state),
            state_code: x.state.as_str(),
        })
        .collect();
    let minutes = super::list_minutes(&rx, p)?
        .iter()
        .map(|m| {
            Ok(MinutesRow {
                id: m.id.clone(),
                date: crate::school::changes::vi_date(&m.date),
                agenda: m.agenda.clone(),
                department: super::department_name(&rx, &m.department)?,
                signed: m.signed_version.is_some(),
            })
        })
        .collect::<Result<_, crate::store::StoreError>>()?;
    let department = p.account.department.clone().unwrap_or_default();
    let department_name = super::department_name(&rx, &department)?;
    let subjects = rx
        .scan(&crate::school::SUBJECTS, "")?
        .into_iter()
        .filter(|(_, x)| x.department.as_deref() == Some(department.as_str()))
        .map(|(id, x)| (id, x.name))
        .collect();
    let members = super::members(&rx, &department)?;
    let is_head = super::heads(p, &department);
    let may_minutes = !department.is_empty() && super::writes_minutes(&rx, p, &department)?;
    // Per department, the plans' lessons against lesson plans handed in: every tổ for BGH,
    // a tổ trưởng's own (`dashboard_for`).
    // Filtered by `year` and `department` (a link, a bookmark): one naming nothing is the page
    // with the reason, 400 (review r20 #9).
    let mut error = None;
    let wants_page = typed.page;
    let progress = match (crate::school::school_info(&rx)?, typed.filters) {
        (_, Err(why)) => {
            error = Some(why);
            vec![]
        }
        (Some(info), Ok(q)) => match super::routes::progress_for(&rx, p, &q, &info.current_year)? {
            Ok(found) => found.map(|(_, x)| x).unwrap_or_default(),
            // The reason, and under it every tổ she sees this year to choose from.
            Err(why) => {
                error = Some(why);
                super::dashboard_for(&rx, p, &info.current_year)?.unwrap_or_default()
            }
        },
        (None, Ok(_)) => vec![],
    };
    crate::http::refusal(wants_page, error.as_ref())?;
    let t = IndexPage::new(
        chrome(&s, &u, &headers),
        plans,
        minutes,
        department.clone(),
        department_name,
        subjects,
        members,
        is_head,
        is_head || permits(p, Action::ApproveLessonPlans),
        !department.is_empty() && permits(p, Action::SubmitLessonPlans),
        may_minutes,
        progress,
        p.is_bgh(),
        error.clone(),
    );
    let page = render(t);
    Ok(match error {
        Some(_) => (StatusCode::BAD_REQUEST, page).into_response(),
        None => page,
    })
}

/// Each signature checked, its time as people read it (dd/mm/yyyy HH:MM, Vietnam time), not
/// the stored UTC instant (review r14 #10).
fn signatures_shown(
    v: &impl crate::lessons::Signable,
    sigs: &[crate::lessons::sign::Signature],
) -> Vec<SignatureCheck> {
    let mut out = super::check_signatures(v, sigs);
    for s in &mut out {
        s.at = crate::lessons::export::when(&s.at);
    }
    out
}

/// A lesson plan whose stored link to a line of this plan breaks the rule.
struct BrokenLink {
    lesson: String,
    line: String,
    why: String,
}

struct LineRow {
    n: usize,
    line: Line,
    /// Lesson plans pointing at this line (PL III).
    lessons: usize,
}

page!(PlanPage, "dept_plan.html" {
    plan: Plan,
    v: PlanVersion,
    kind_title: &'static str,
    // Whom it waits for (`super::state_label`).
    state_label: &'static str,
    subject: String,
    department: String,
    lines: Vec<LineRow>,
    total: u32,
    problem: Option<String>,
    signatures: Vec<SignatureCheck>,
    lines_text: String,
    pl2: bool,
    can_edit: bool,
    can_submit: bool,
    can_decide: bool,
    has_key: bool,
    // The author's lesson plans that may be linked to a line (PL III, approved).
    my_lessons: Vec<(String, String)>,
    broken: Vec<BrokenLink>,
    // Her lesson plans of this subject, grade and year waiting for review: not relinkable.
    waiting: Vec<String>,
    // A version newer than the one in force (`v`), not approved: shown apart.
    draft: Option<DraftView>,
    // The newest version, which the edit, submit and approval forms act on.
    latest: PlanVersion,
});

/// A version written after the approved one in force: its own table (no KHBD counts — lesson
/// plans are linked to the version in force), total and signatures (review r20 #4).
struct DraftView {
    heading: String,
    lines: Vec<LineRow>,
    total: u32,
    signatures: Vec<SignatureCheck>,
}

/// The lines as the edit box shows them, the way [`super::parse_lines`] reads them back.
fn lines_text(kind: Kind, lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| match kind {
            Kind::Pl2 => format!(
                "{} | {} | {} | {} | {} | {} | {}",
                l.topic, l.requirement, l.periods, l.when, l.lead, l.partners, l.conditions
            ),
            _ => format!(
                "{} | {} | {} | {} | {}",
                l.topic, l.periods, l.when, l.equipment, l.place
            ),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn plan_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = &u.principal;
    let rx = s.store.read()?;
    let (plan, versions) = super::plan_for(&rx, p, &id)?;
    // The version in force — the approved one while a newer version is written (review r20
    // #4) — is the page's table, its KHBD counts, its problem list and its *Gắn* form; the
    // newer version is shown apart (`draft`), and the workflow's forms act on it.
    let (v, newer) = super::in_force(&plan, &versions).ok_or_else(ApiError::not_found)?;
    let (v, newer) = (v.clone(), newer.cloned());
    let latest = newer.clone().unwrap_or_else(|| v.clone());
    // What stands in the way of handing it in (or approving it): the teaching assignments
    // (PL III), then the periods against the programme.
    let problem = match super::assignment_problem(&rx, &latest) {
        Ok(Some(why)) => Some(why),
        Ok(None) => super::periods_problem(&rx, &latest).unwrap_or_else(|e| Some(e.to_string())),
        Err(e) => Some(e.to_string()),
    };
    let subject = rx
        .get(&crate::school::SUBJECTS, &v.subject)?
        .map_or(v.subject.clone(), |x| x.name);
    let own = plan.author == p.id();
    let has_key = rx.get(&KEYS, p.id())?.is_some_and(|r| !r.reset);
    let lessons = crate::lessons::every_plan(&rx)?;
    // The lesson plans pointing at this plan's lines — the one list the dashboard counts
    // (`links_of_year`): the links that hold are counted on their line (where the lesson
    // is now, when the plan moved it), the ones that break the rule or whose lesson the plan
    // changed are listed as such for the people who follow the plan — nothing is deleted.
    let mut valid_on: std::collections::HashMap<usize, usize> = Default::default();
    let mut broken = vec![];
    for l in super::links_of_year(&rx, &plan.year)?
        .into_iter()
        .filter(|l| l.plan == plan.id)
    {
        let why = match &l.state {
            super::LinkState::Holds(n) => {
                *valid_on.entry(*n).or_default() += 1;
                continue;
            }
            other => other.why().unwrap_or_default().to_string(),
        };
        // A draft's relink is said apart, the link in force still listed (review r20 #2).
        let why = match &l.draft {
            Some(d) => format!("{why} {d}"),
            None => why,
        };
        if super::sees_work(p, &plan) {
            broken.push(BrokenLink {
                lesson: format!(
                    "{} ({}, dạy ngày {})",
                    l.lesson.title,
                    l.lesson.teacher_name,
                    super::vn_date(l.lesson.teach_on)
                ),
                line: l.line.to_string(),
                why: format!("{why} {}", super::relink_advice(&l.lesson, &l.state)),
            });
        }
    }
    let pointing = |n: usize| valid_on.get(&n).copied().unwrap_or(0);
    // A lesson plan's stored link ("{plan}#{n}"), shown beside it in the Gắn list.
    let prefix = format!("{}#", plan.id);
    let offered = own && v.kind == Kind::Pl3 && plan.approved_version == Some(v.number);
    // Only her lesson plans of this plan's subject and grade, taught in its school year, are
    // offered — the others could never be linked to its lines (r16 #6) —, named as a teacher
    // reads them (review r14 #10): "Bài D · Công nghệ 7 · dạy ngày 10/12/2026". A plan waiting
    // for review is not offered (its link is part of what was signed): named below the form.
    let mine: Vec<&crate::lessons::Plan> = if offered {
        lessons
            .iter()
            .filter(|l| {
                l.teacher == p.id()
                    && l.subject == v.subject
                    && l.grade == v.grade
                    && crate::lessons::school_year_of(l.teach_on) == plan.year
            })
            .collect()
    } else {
        vec![]
    };
    let named = |l: &crate::lessons::Plan| {
        format!(
            "{} · {subject} {} · dạy ngày {}",
            l.title,
            l.grade,
            super::vn_date(l.teach_on)
        )
    };
    let mut check = super::LinkCheck::new(&rx);
    let mut my_lessons = vec![];
    let mut waiting = vec![];
    for l in mine {
        if matches!(l.state, DocState::Submitted | DocState::Reviewed) {
            waiting.push(named(l));
            continue;
        }
        // Its link to this plan, where the lesson is now (`LinkCheck::state`, as counted).
        let linked = match l.plan_line.as_deref() {
            Some(x) if x.starts_with(&prefix) => match check.state(l, x)? {
                super::LinkState::Holds(n) => format!(
                    " (đang gắn dòng {n}: {})",
                    v.lines.get(n - 1).map_or("", |x| x.topic.as_str())
                ),
                super::LinkState::Changed { at, .. } => {
                    format!(" (đang gắn bài Phụ lục III đã sửa, nay ở dòng {at})")
                }
                // The version that dropped it is in the list above ("bản N"), not this one.
                super::LinkState::Dropped(_) => " (đang gắn bài đã bỏ khỏi Phụ lục III)".into(),
                super::LinkState::Broken(_) => " (đang gắn không hợp lệ)".to_string(),
            },
            _ => String::new(),
        };
        let approved = if l.state == DocState::Approved {
            " · đã duyệt: gắn lại thành bản nháp mới, ký nộp lại"
        } else {
            ""
        };
        my_lessons.push((l.id.clone(), format!("{}{linked}{approved}", named(l))));
    }
    let t = PlanPage::new(
        chrome(&s, &u, &headers),
        plan.clone(),
        v.clone(),
        v.kind.title(),
        super::state_label(v.state),
        subject,
        super::department_name(&rx, &v.department)?,
        v.lines
            .iter()
            .enumerate()
            .map(|(i, l)| LineRow {
                n: i + 1,
                line: l.clone(),
                lessons: pointing(i + 1),
            })
            .collect(),
        v.lines.iter().map(|l| u32::from(l.periods)).sum(),
        problem,
        signatures_shown(&v, &v.signatures),
        lines_text(latest.kind, &latest.lines),
        v.kind == Kind::Pl2,
        own && latest.state != DocState::Submitted,
        own && latest.state == DocState::Draft,
        !own && latest.state == DocState::Submitted && permits(p, Action::ApproveLessonPlans),
        has_key,
        my_lessons,
        broken,
        waiting,
        newer.as_ref().map(|d| DraftView {
            heading: match d.state {
                DocState::Draft => format!("Bản nháp phiên bản {}, chưa nộp", d.number),
                DocState::Returned => {
                    format!("Phiên bản {} bị trả lại, chưa có hiệu lực", d.number)
                }
                _ => format!(
                    "Phiên bản {} đã ký nộp, chờ Ban giám hiệu phê duyệt",
                    d.number
                ),
            },
            lines: d
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| LineRow {
                    n: i + 1,
                    line: l.clone(),
                    lessons: 0,
                })
                .collect(),
            total: d.lines.iter().map(|l| u32::from(l.periods)).sum(),
            signatures: signatures_shown(d, &d.signatures),
        }),
        latest,
    );
    Ok(render(t))
}

page!(MinutesPage, "dept_minutes.html" {
    m: Minutes,
    v: MinutesVersion,
    // The meeting's date as people read it (dd/mm/yyyy); the form keeps `v.date`.
    date_shown: String,
    department: String,
    attendees: Vec<String>,
    members: Vec<(String, String, bool)>,
    signatures: Vec<SignatureCheck>,
    older: Vec<u32>,
    can_write: bool,
    can_sign: bool,
    has_key: bool,
});

async fn minutes_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = &u.principal;
    let rx = s.store.read()?;
    let (m, versions) = super::minutes_for(&rx, p, &id)?;
    let v = versions.last().cloned().ok_or_else(ApiError::not_found)?;
    let members = super::members(&rx, &m.department)?
        .into_iter()
        .map(|(id, name)| {
            let present = v.attendees.contains(&id);
            (id, name, present)
        })
        .collect();
    let can_write = super::writes_minutes(&rx, p, &m.department)?;
    let is_chair = p.has(Role::DeptHead) && super::heads(p, &m.department);
    let has_key = rx.get(&KEYS, p.id())?.is_some_and(|r| !r.reset);
    let t = MinutesPage::new(
        chrome(&s, &u, &headers),
        m.clone(),
        v.clone(),
        crate::school::changes::vi_date(&v.date),
        super::department_name(&rx, &m.department)?,
        super::attendee_names(&rx, &v)?,
        members,
        signatures_shown(&v, &v.signatures),
        versions
            .iter()
            .filter(|x| x.number != v.number)
            .map(|x| x.number)
            .collect(),
        can_write,
        is_chair && v.state == DocState::Draft,
        has_key,
    );
    Ok(render(t))
}
