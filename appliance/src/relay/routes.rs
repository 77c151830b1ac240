//! The relay's status for school IT: `GET /api/v1/relay/status`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Action;
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, Shared};

pub fn api() -> Router<Shared> {
    Router::new().route("/relay/status", get(status))
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
