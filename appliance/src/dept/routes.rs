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
use crate::http::{ApiError, JsonBody, Shared};
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

async fn submit_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<SecretBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let key = crate::lessons::routes::unlock(&s, &u, b.secret).await?;
    let p = u.principal.clone();
    let plan =
        crate::auth::extract::write_as(&s, &u, move |tx| super::submit_plan(tx, &p, &id, &key))
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
    let key = crate::lessons::routes::unlock(&s, &u, b.secret).await?;
    let p = u.principal.clone();
    let plan =
        crate::auth::extract::write_as(&s, &u, move |tx| super::approve_plan(tx, &p, &id, &key))
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
    let key = crate::lessons::routes::unlock(&s, &u, b.secret).await?;
    let p = u.principal.clone();
    let m =
        crate::auth::extract::write_as(&s, &u, move |tx| super::sign_minutes(tx, &p, &id, &key))
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

async fn dashboard(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let year = crate::school::routes::current_year(&s)?;
    let rx = s.store.read()?;
    // BGH sees every tổ, a tổ trưởng their own (review r16 #6), anyone else nothing.
    let departments =
        super::dashboard_for(&rx, &u.principal, &year)?.ok_or_else(ApiError::forbidden)?;
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
    crate::auth::extract::PageUser(u): crate::auth::extract::PageUser,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<PdfQuery>,
) -> Result<Response, ApiError> {
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
        super::pdf::plan(&rx, &plan, v).map_err(ApiError::internal)
    })
    .await?;
    Ok(attachment(
        "ke-hoach.pdf",
        "application/pdf",
        Body::from(bytes),
    ))
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
        super::pdf::minutes(&rx, &m, v).map_err(ApiError::internal)
    })
    .await?;
    Ok(attachment(
        "bien-ban.pdf",
        "application/pdf",
        Body::from(bytes),
    ))
}
