//! The department records' API under `/api/v1/dept/…` (plans, minutes, the secretary) and the
//! printable PDFs. Signing opens the person's key with their PIN exactly as lesson plans do.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{DeptError, MinutesInput, PlanInput};
use crate::auth::extract::ApiUser;
// The lesson plans' own helpers: signing here is theirs, so is the shape of its requests.
use crate::http::{ApiError, JsonBody, Query, Shared};
use crate::lessons::routes::{SecretBody, attachment, blocking};

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/dept/plans", get(list_plans).post(create_plan))
        .route("/dept/plans/{id}", get(get_plan).put(edit_plan))
        .route("/dept/plans/{id}/submit", post(submit_plan))
        .route("/dept/plans/{id}/approve", post(approve_plan))
        .route("/dept/plans/{id}/return", post(return_plan))
        .route("/dept/minutes", get(list_minutes).post(create_minutes))
        .route("/dept/minutes/{id}", get(get_minutes).put(edit_minutes))
        .route("/dept/minutes/{id}/sign", post(sign_minutes))
        .route("/dept/minutes/{id}/correct", post(correct_minutes))
        .route("/dept/secretary", put(name_secretary))
        .route("/dept/links", put(link_lesson))
        .route("/dept/dashboard", get(dashboard))
}

/// Outside `/api/v1`: the printable PDFs the browser opens directly.
pub fn files() -> Router<Shared> {
    Router::new()
        .route("/dept/plan/{id}/pdf", get(plan_pdf))
        .route("/dept/minutes/{id}/pdf", get(minutes_pdf))
}

impl From<DeptError> for ApiError {
    fn from(e: DeptError) -> Self {
        match e {
            DeptError::Store(s) => ApiError::internal(s),
            // No key, a wrong PIN, content changed: answered as lesson plans answer them.
            DeptError::Lessons(l) => l.into(),
            other => {
                let (status, code) = match &other {
                    DeptError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                    DeptError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                    DeptError::State(_) => (StatusCode::CONFLICT, "wrong_state"),
                    DeptError::Confirm(_) => (StatusCode::CONFLICT, super::CONFIRM_AMEND),
                    _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
                };
                ApiError::new(status, code, other.to_string())
            }
        }
    }
}

async fn list_plans(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rx = s.store.read()?;
    Ok(Json(
        json!({ "plans": super::list_plans(&rx, &u.principal)? }),
    ))
}

async fn create_plan(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<PlanInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let input = crate::http::json_body(b)?;
    let year = crate::school::routes::current_year(&s)?;
    let p = u.principal.clone();
    let plan =
        crate::auth::extract::write_as(&s, &u, move |tx| super::create_plan(tx, &p, &year, input))
            .await?;
    Ok((StatusCode::CREATED, Json(json!({ "plan": plan }))))
}

async fn get_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rx = s.store.read()?;
    let (plan, versions) = super::plan_for(&rx, &u.principal, &id)?;
    let checks: Vec<_> = versions
        .iter()
        .map(|v| super::check_signatures(v, &v.signatures))
        .collect();
    let problem = match versions.last() {
        Some(v) => super::periods_problem(&rx, v).unwrap_or_else(|e| Some(e.to_string())),
        None => None,
    };
    let assignment = match versions.last() {
        Some(v) => super::assignment_problem(&rx, v)?,
        None => None,
    };
    Ok(Json(json!({
        "plan": plan,
        "versions": versions,
        "signatures": checks,
        "periods_problem": problem,
        "assignment_problem": assignment,
    })))
}

async fn edit_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<PlanInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let plan =
        crate::auth::extract::write_as(&s, &u, move |tx| super::edit_plan(tx, &p, &id, input))
            .await?;
    Ok(Json(json!({ "plan": plan })))
}

/// A tổ record signed in one write inside the one PIN guard (`lessons::routes::signing`):
/// the check cleared only when the record was signed, given back for a refusal that was not
/// the PIN's.
async fn signed<R: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    secret: String,
    f: impl FnOnce(&mut crate::store::Tx<'_>, &crate::lessons::sign::DeviceKey) -> Result<R, DeptError>
    + Send
    + 'static,
) -> Result<R, ApiError> {
    crate::lessons::routes::signing(s, u, secret, move |store, actor, key| {
        Ok(store
            .write(actor, |tx| f(tx, &key))
            .map_err(ApiError::from)?)
    })
    .await
}

async fn submit_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<SecretBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let plan = signed(&s, &u, b.secret, move |tx, key| {
        super::submit_plan(tx, &p, &id, key)
    })
    .await?;
    Ok(Json(
        json!({ "plan": plan, "message": "Đã ký và nộp kế hoạch." }),
    ))
}

async fn approve_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<SecretBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    u.require(crate::auth::Action::ApproveLessonPlans)?;
    let p = u.principal.clone();
    let plan = signed(&s, &u, b.secret, move |tx, key| {
        super::approve_plan(tx, &p, &id, key)
    })
    .await?;
    Ok(Json(json!({ "plan": plan, "message": "Đã ký phê duyệt." })))
}

#[derive(Deserialize)]
struct ReasonBody {
    #[serde(default)]
    reason: String,
}

async fn return_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<ReasonBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let plan = crate::auth::extract::write_as(&s, &u, move |tx| {
        super::return_plan(tx, &p, &id, &b.reason)
    })
    .await?;
    Ok(Json(json!({ "plan": plan })))
}

async fn list_minutes(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rx = s.store.read()?;
    Ok(Json(
        json!({ "minutes": super::list_minutes(&rx, &u.principal)? }),
    ))
}

async fn create_minutes(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<MinutesInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let input = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let m = crate::auth::extract::write_as(&s, &u, move |tx| super::create_minutes(tx, &p, input))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "minutes": m }))))
}

async fn get_minutes(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rx = s.store.read()?;
    let (m, versions) = super::minutes_for(&rx, &u.principal, &id)?;
    let checks: Vec<_> = versions
        .iter()
        .map(|v| super::check_signatures(v, &v.signatures))
        .collect();
    Ok(Json(json!({
        "minutes": m,
        "versions": versions,
        "signatures": checks,
    })))
}

async fn edit_minutes(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<MinutesInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let m =
        crate::auth::extract::write_as(&s, &u, move |tx| super::edit_minutes(tx, &p, &id, input))
            .await?;
    Ok(Json(json!({ "minutes": m })))
}

async fn correct_minutes(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<MinutesInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let input = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let m = crate::auth::extract::write_as(&s, &u, move |tx| {
        super::correct_minutes(tx, &p, &id, input)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "minutes": m }))))
}

async fn sign_minutes(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<SecretBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    // The chair's check before the PIN, so nobody else spends a PIN attempt on it.
    {
        let rx = s.store.read()?;
        let (m, _) = super::minutes_for(&rx, &u.principal, &id)?;
        super::check_chair(&rx, &u.principal, &m)?;
    }
    let p = u.principal.clone();
    let m = signed(&s, &u, b.secret, move |tx, key| {
        super::sign_minutes(tx, &p, &id, key)
    })
    .await?;
    Ok(Json(
        json!({ "minutes": m, "message": "Đã ký biên bản; biên bản đã khoá." }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretaryBody {
    department: String,
    account: String,
}

async fn name_secretary(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<SecretaryBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let p = u.principal.clone();
    crate::auth::extract::write_as(&s, &u, move |tx| {
        super::name_secretary(tx, &p, &b.department, &b.account)
    })
    .await?;
    Ok(Json(json!({ "message": "Đã chỉ định thư ký." })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    lesson_plan: String,
    #[serde(default)]
    line: Option<String>,
    /// Confirms relinking an approved lesson plan, which makes it a new draft version.
    #[serde(default)]
    amend: bool,
}

async fn link_lesson(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<LinkBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let (plan, unchanged) = crate::auth::extract::write_as(&s, &u, move |tx| {
        super::link_lesson(tx, &p, &b.lesson_plan, b.line.as_deref(), b.amend)
    })
    .await?;
    let link = super::link_view(&s.store.read()?, &plan)?;
    Ok(Json(
        json!({ "plan": plan, "link": link, "unchanged": unchanged.is_some(), "message": unchanged }),
    ))
}

/// The tracking's filters (`/dept`, `/api/v1/dept/dashboard`): `year`, a school year the school
/// has (the year in force when absent), and `department`, one of its tổ the person sees.
#[derive(Deserialize, Default)]
pub(crate) struct ProgressQuery {
    #[serde(default)]
    year: Option<String>,
    #[serde(default)]
    department: Option<String>,
}

/// The year shown and its tracking (`None`: she sees none), or why the filter was refused.
pub(crate) type Filtered = Result<Option<(String, Vec<super::Progress>)>, String>;

/// The tracking `p` sees under `q`: `None` when she sees none (neither BGH nor a tổ trưởng);
/// `Err` with the reason when a filter names nothing the school has — a year it never had, a
/// tổ it does not have or she does not see — refused, never silently ignored (review r20 #9).
pub(crate) fn progress_for(
    rx: &crate::store::Rx,
    p: &crate::auth::Principal,
    q: &ProgressQuery,
    current: &str,
) -> Result<Filtered, crate::store::StoreError> {
    let year = q
        .year
        .clone()
        .filter(|y| !y.is_empty())
        .unwrap_or_else(|| current.to_string());
    if rx.get(&crate::school::YEARS, &year)?.is_none() {
        let mut years: Vec<String> = rx
            .scan(&crate::school::YEARS, "")?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        years.sort();
        return Ok(Err(format!(
            "Năm học “{year}” không có trong hồ sơ của trường (ghi dạng 2026-2027; các năm học: {}).",
            years.join(", ")
        )));
    }
    // BGH sees every tổ, a tổ trưởng their own (review r16 #6), anyone else nothing.
    let Some(mut all) = super::dashboard_for(rx, p, &year)? else {
        return Ok(Ok(None));
    };
    if let Some(d) = q.department.as_deref().filter(|d| !d.is_empty()) {
        if rx.get(&crate::school::DEPARTMENTS, d)?.is_none() {
            return Ok(Err(format!(
                "Không có tổ chuyên môn mã “{d}” ở trường (department=… là mã của tổ)."
            )));
        }
        if !all.iter().any(|x| x.department == d) {
            return Ok(Err(format!(
                "Bạn chỉ xem được việc theo dõi kế hoạch của tổ mình, không xem được tổ “{}”.",
                super::department_name(rx, d)?
            )));
        }
        all.retain(|x| x.department == d);
    }
    Ok(Ok(Some((year, all))))
}

async fn dashboard(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<ProgressQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let current = crate::school::routes::current_year(&s)?;
    let rx = s.store.read()?;
    let (year, departments) = progress_for(&rx, &u.principal, &q, &current)?
        .map_err(crate::http::bad_filter)?
        .ok_or_else(ApiError::forbidden)?;
    Ok(Json(json!({ "year": year, "departments": departments })))
}

#[derive(serde::Deserialize)]
struct PdfQuery {
    /// A version other than the one in force (the page's draft link); marked as such.
    #[serde(default)]
    version: Option<u32>,
}

/// The plan's version in force (`super::in_force`: the approved one while a newer version is a
/// draft, review r20 #4), or `?version=N`.
async fn plan_pdf(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    crate::auth::extract::PageUser(u): crate::auth::extract::PageUser,
    Path(id): Path<String>,
    typed: crate::http::PageQuery<PdfQuery>,
) -> Result<Response, ApiError> {
    // A version that does not read (or given twice): the reason, the menu and the plan's page
    // (review r21 #5).
    let q = match typed.filters {
        Ok(q) => q,
        Err(why) => {
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Kế hoạch của tổ chuyên môn",
                why,
                vec![(
                    format!("/dept/plan/{}", crate::http::urlencode(&id)),
                    "Trang kế hoạch".to_string(),
                )],
            );
        }
    };
    let store = s.store.clone();
    let p = u.principal.clone();
    let bytes = blocking(move || {
        let rx = store.read()?;
        let (plan, versions) = super::plan_for(&rx, &p, &id)?;
        let v = match q.version {
            Some(n) => versions.iter().find(|v| v.number == n).ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "not_found",
                    format!("Kế hoạch này không có phiên bản {n}."),
                )
            })?,
            None => {
                super::in_force(&plan, &versions)
                    .ok_or(DeptError::NotFound)?
                    .0
            }
        };
        let name = super::archive::plan_file_name(&rx, &plan, v);
        Ok((
            name,
            super::pdf::plan(&rx, &plan, v).map_err(ApiError::internal)?,
        ))
    })
    .await?;
    Ok(attachment(&bytes.0, "application/pdf", Body::from(bytes.1)))
}

async fn minutes_pdf(
    State(s): State<Shared>,
    crate::auth::extract::PageUser(u): crate::auth::extract::PageUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = s.store.clone();
    let p = u.principal.clone();
    let bytes = blocking(move || {
        let rx = store.read()?;
        let (m, versions) = super::minutes_for(&rx, &p, &id)?;
        let v = versions.last().ok_or(DeptError::NotFound)?;
        let name = super::archive::minutes_file_name(&rx, &m, v);
        Ok((
            name,
            super::pdf::minutes(&rx, &m, v).map_err(ApiError::internal)?,
        ))
    })
    .await?;
    Ok(attachment(&bytes.0, "application/pdf", Body::from(bytes.1)))
}
