//! Who is asking: the session extractors every route takes (`ApiUser` for the API — with the
//! CSRF check of unsafe methods —, `MaybeUser` for the anonymous-friendly library files,
//! `PageUser` for pages, which sends strangers to the login page), the one write helper that
//! runs a capability's transaction as the signed-in user, and auth's errors as HTTP.

use axum::extract::FromRequestParts;
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::{self, AuthError, Principal, Session};
use crate::http::{ApiError, SESSION_COOKIE, Shared, cookie, is_json, is_unsafe, urlencode};
use crate::store::{Actor, StoreError};

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match &e {
            AuthError::BadCredentials | AuthError::SessionExpired => StatusCode::UNAUTHORIZED,
            AuthError::Disabled => StatusCode::FORBIDDEN,
            AuthError::UsernameTaken(_) => StatusCode::CONFLICT,
            AuthError::NoSuchAccount(_) => StatusCode::NOT_FOUND,
            AuthError::Quarantined | AuthError::PrincipalOnly => StatusCode::FORBIDDEN,
            AuthError::Store(s) => return ApiError::internal(s),
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Runs one write transaction of a capability on a blocking thread (a redb write never crosses
/// an `.await`) as the signed-in user, mapping the capability's error once.
pub async fn write_as<R, E>(
    s: &Shared,
    u: &ApiUser,
    f: impl FnOnce(&mut crate::store::Tx<'_>) -> Result<R, E> + Send + 'static,
) -> Result<R, ApiError>
where
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
    ApiError: From<E>,
{
    let store = s.store.clone();
    let actor = u.actor();
    Ok(tokio::task::spawn_blocking(move || store.write(&actor, f)).await??)
}

/// The signed-in user of an API request. Unsafe methods must also carry the session's CSRF
/// token in `X-CSRF-Token`, unless the body is JSON (which a cross-site form cannot send).
pub struct ApiUser {
    pub principal: Principal,
    pub session: Session,
    pub token: String,
}

impl ApiUser {
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.principal.id().to_string(),
            now: jiff::Timestamp::now(),
        }
    }
    pub fn require(&self, action: auth::Action<'_>) -> Result<(), ApiError> {
        if auth::permits(&self.principal, action) {
            Ok(())
        } else if self.principal.quarantined
            && action.carries_trust()
            && auth::may_see(&self.principal, action)
        {
            // Allowed but for the quarantine: say so, and until when.
            Err(AuthError::Quarantined.into())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

fn resolve(state: &crate::http::AppState, parts: &Parts) -> Result<ApiUser, ApiError> {
    let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not_logged_in",
            "Vui lòng đăng nhập.",
        )
    })?;
    let rx = state.store.read()?;
    let (session, account) = auth::resolve_session(&rx, &token, jiff::Timestamp::now())?;
    let principal = crate::school::principal_for(&rx, account)?;
    Ok(ApiUser {
        principal,
        session,
        token,
    })
}

/// The full path of a request, also inside a nested router (which strips its prefix).
fn full_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path())
        .unwrap_or(parts.uri.path())
}

/// What an account that must still change its temporary password may reach: the change itself,
/// its own `/me` and logging out. Everything else answers 403 `must_change_password` (pages
/// send it to `/account`), so a temporary password handed over on paper opens nothing else.
const BEFORE_PASSWORD_CHANGE: [&str; 5] = [
    "/api/v1/me",
    "/api/v1/password",
    "/api/v1/logout",
    "/api/v1/logout-everywhere",
    "/account",
];

fn must_change_first() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "must_change_password",
        "Hãy đổi mật khẩu tạm thời trước khi dùng Trạm (trang Tài khoản).",
    )
}

impl FromRequestParts<Shared> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let u = resolve(state, parts)?;
        if u.principal.account.must_change_password
            && !BEFORE_PASSWORD_CHANGE.contains(&full_path(parts))
        {
            return Err(must_change_first());
        }
        if is_unsafe(&parts.method) && !is_json(&parts.headers) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if sent != Some(u.session.csrf.as_str()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "Yêu cầu không hợp lệ (thiếu mã chống giả mạo). Tải lại trang rồi thử lại.",
                ));
            }
        }
        Ok(u)
    }
}

/// The signed-in user if there is one (the OPDS feed and file downloads also serve e-reader apps
/// that have no session: they see what the whole school may see).
pub struct MaybeUser(pub Option<Principal>);

impl FromRequestParts<Shared> for MaybeUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        // An account that must change its password first is served as anonymous.
        Ok(MaybeUser(
            resolve(state, parts)
                .ok()
                .filter(|u| !u.principal.account.must_change_password)
                .map(|u| u.principal),
        ))
    }
}

/// The signed-in user of a page; anyone else is sent to the login page.
pub struct PageUser(pub ApiUser);

impl FromRequestParts<Shared> for PageUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        match resolve(state, parts) {
            Ok(u)
                if u.principal.account.must_change_password
                    && !BEFORE_PASSWORD_CHANGE.contains(&full_path(parts)) =>
            {
                Err(Redirect::to("/account").into_response())
            }
            Ok(u) => Ok(PageUser(u)),
            Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::FORBIDDEN => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let q = if e.code == "session_expired" {
                    "&expired=1"
                } else {
                    ""
                };
                Err(Redirect::to(&format!("/login?next={}{q}", urlencode(next))).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}
