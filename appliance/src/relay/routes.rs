//! The relay for school IT: its status (`GET /api/v1/relay/status`) and the enrolment with the
//! district hub from the device page (`POST /api/v1/relay/enrol`), with the checks and the same
//! result as `tram relay enroll`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Action;
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, JsonBody, Shared, json_body};

/// How long the page waits for the hub before saying it cannot be reached.
const ENROL_WAIT: Duration = Duration::from_secs(20);

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/relay/status", get(status))
        .route("/relay/enrol", post(enrol))
}

async fn status(State(s): State<Shared>, u: ApiUser) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageDevice)?;
    let store = s.store.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || super::status(&store))
            .await
            .map_err(ApiError::internal)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolAsk {
    /// The hub's address, e.g. https://10.0.0.5:9443
    hub: String,
    token: String,
    /// SHA-256 of the hub's certificate authority (printed with the token).
    #[serde(default)]
    pin: Option<String>,
    /// Enrol again although this box is enrolled (a new token from the district): `true`, or
    /// the page form's ticked checkbox (`["on"]`).
    #[serde(default)]
    replace: serde_json::Value,
}

fn ticked(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::String(s) => matches!(s.as_str(), "true" | "on" | "1"),
        _ => false,
    }
}

async fn enrol(
    State(s): State<Shared>,
    u: ApiUser,
    body: JsonBody<EnrolAsk>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageDevice)?;
    let ask = json_body(body)?;
    let dir = s.store.dir().to_path_buf();
    if let Some(e) = super::enrolment(&dir)
        && !ticked(&ask.replace)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_enrolled",
            format!(
                "Máy đã ghi danh với hub {} (mã trường {}). Chỉ ghi danh lại khi Phòng GD&ĐT cấp mã mới (chọn «Ghi danh lại»).",
                e.hub, e.school
            ),
        ));
    }
    let refused = |e: super::EnrolError| {
        let status = match e {
            super::EnrolError::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            super::EnrolError::Local(_) | super::EnrolError::Other(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        tracing::warn!(error = %e, "enrolment from the device page failed");
        ApiError::new(status, "enrol_failed", e.message_vi())
    };
    let e = match tokio::time::timeout(
        ENROL_WAIT,
        super::enrol(&dir, &ask.hub, &ask.token, ask.pin.as_deref()),
    )
    .await
    {
        Ok(r) => r.map_err(refused)?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "enrol_failed",
                format!(
                    "Hub tại {} không trả lời trong {} giây: kiểm tra địa chỉ và đường mạng rồi thử lại.",
                    ask.hub.trim(),
                    ENROL_WAIT.as_secs()
                ),
            ));
        }
    };
    let (store, who, detail) = (
        s.store.clone(),
        u.actor(),
        json!({ "hub": e.hub, "school": e.school }),
    );
    tokio::task::spawn_blocking(move || {
        store.write(&who, |tx| {
            tx.event("relay.enrol", "relay", Some(detail));
            Ok::<_, ApiError>(())
        })
    })
    .await??;
    tracing::info!(hub = %e.hub, school = %e.school, "enrolled with the district hub from the device page");
    Ok(Json(json!({
        "school": e.school,
        "hub": e.hub,
        "message": format!("Đã ghi danh với Phòng GD&ĐT: mã trường {}. Trạm bắt đầu gửi dữ liệu trong vòng một phút.", e.school),
    })))
}
