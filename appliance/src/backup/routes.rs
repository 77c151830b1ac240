//! The backup API for the admin page: the status, and "back up now".

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::schedule::{self, backup_all};
use crate::auth::Action;
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, Shared};

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/backup/status", get(status))
        .route("/backup/run", post(run_now))
}

async fn status(State(s): State<Shared>, u: ApiUser) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageDevice)?;
    let sum = schedule::summary(s.store.dir(), jiff::Timestamp::now());
    let cfg = s.part::<schedule::Config>()?;
    Ok(Json(json!({
        "enabled": cfg.enabled,
        "at": cfg.at.strftime("%H:%M").to_string(),
        "targets": cfg.targets,
        "retention": cfg.retention,
        "status": sum,
        "detail": schedule::read_status(s.store.dir()),
    })))
}

async fn run_now(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    u.require(Action::ManageDevice)?;
    let Some(guard) = schedule::try_start() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup_running",
            "Đang sao lưu. Vui lòng đợi lần này xong.",
        ));
    };
    let (store, cfg) = (s.store.clone(), s.part::<schedule::Config>()?.clone());
    // A first backup of a big library takes minutes: run it in the background; the page
    // shows its progress from the status.
    tokio::task::spawn_blocking(move || {
        let _running = guard;
        backup_all(
            &store,
            &cfg,
            super::Kind::Manual,
            jiff::Timestamp::now(),
            None,
        );
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "started": true, "message": "Đã bắt đầu sao lưu." })),
    ))
}
