//! HTTP: router assembly, state, the error → response mapping (the one place domain errors
//! become HTTP), session extractors, CSRF protection, limits and timeouts, and the servers:
//! HTTPS (or plain HTTP with `--http-only`) for the app and the port-80 bootstrap page.

pub mod mdns;
pub mod pages;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::{self, AuthError, Principal, Session, ratelimit::LoginLimiter};
use crate::school::SchoolError;
use crate::store::{Actor, Store, StoreError};

pub const SESSION_COOKIE: &str = "tram_session";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct AppState {
    pub store: Arc<Store>,
    pub limiter: LoginLimiter,
    /// argon2 takes ~100 ms of CPU and ~19 MiB: at most two at once on a 2-core box.
    pub hashing: tokio::sync::Semaphore,
    pub started: Instant,
    pub ca: Option<(String, Vec<u8>)>,
    pub https: bool,
    /// Addresses and names people can use to reach the box, for the QR code and the help page.
    pub urls: Vec<String>,
    /// The backup schedule and targets (the admin page's "back up now" uses the same).
    pub backup: crate::backup::schedule::Config,
    /// Lesson-plan changes for live pages, and the dashboard cache.
    pub lessons: crate::lessons::Live,
    /// Wrong signing PINs per account.
    pub pins: crate::lessons::sign::PinGuard,
    /// This server is a district hub (`tram district serve`), not a school.
    pub hub: bool,
}

impl AppState {
    /// The state of a server over `store`: a school (`hub` false) or a district hub.
    pub fn new(
        store: Arc<Store>,
        tls: Option<&tls::DeviceTls>,
        urls: Vec<String>,
        backup: crate::backup::schedule::Config,
        hub: bool,
    ) -> AppState {
        AppState {
            store,
            limiter: LoginLimiter::default(),
            hashing: tokio::sync::Semaphore::new(2),
            started: Instant::now(),
            ca: tls.map(|t| (t.ca_pem.clone(), t.ca_der.clone())),
            https: tls.is_some(),
            urls,
            backup,
            lessons: crate::lessons::Live::default(),
            pins: Default::default(),
            hub,
        }
    }
}

/// Serves `app` on `listen` (HTTPS with `tls`, else plain HTTP) as a task of `tasks`, under
/// `handle` (graceful shutdown, the bound address).
pub(crate) fn spawn_app(
    tasks: &mut tokio::task::JoinSet<std::io::Result<()>>,
    listen: SocketAddr,
    tls: Option<&tls::DeviceTls>,
    handle: &axum_server::Handle<SocketAddr>,
    app: axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
) {
    match tls {
        Some(t) => {
            let cfg = axum_server::tls_rustls::RustlsConfig::from_config(t.server_config.clone());
            let mut srv = axum_server::bind_rustls(listen, cfg).handle(handle.clone());
            limit_http1(srv.http_builder());
            tasks.spawn(async move { srv.serve(app).await });
        }
        None => {
            let mut srv = axum_server::bind(listen).handle(handle.clone());
            limit_http1(srv.http_builder());
            tasks.spawn(async move { srv.serve(app).await });
        }
    }
}

/// Request heads larger than 64 KB are refused (hyper's default lets 400 KB in), and a client
/// must finish sending its head within 20 s (slow-header clients cannot hold connections open;
/// a shorter `TRAM_REQUEST_TIMEOUT` shortens this too, for the tests).
fn limit_http1(b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>) {
    b.http1()
        .max_buf_size(64 * 1024)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(request_timeout().min(Duration::from_secs(20)));
}

pub type Shared = Arc<AppState>;

/// An error as the API and the pages show it: a status, a stable code and a message a person
/// can act on (Vietnamese). Logged once, here.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Bạn không có quyền thực hiện thao tác này.",
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Không tìm thấy.")
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Lỗi máy chủ. Vui lòng thử lại; nếu vẫn lỗi, báo cho quản trị của trường.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        } else {
            tracing::debug!(code = self.code, message = %self.message, "request refused");
        }
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

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

impl From<crate::library::LibraryError> for ApiError {
    fn from(e: crate::library::LibraryError) -> Self {
        use crate::library::LibraryError as L;
        let status = match &e {
            L::Store(s) => return ApiError::internal(s),
            L::NotFound | L::UploadGone => StatusCode::NOT_FOUND,
            L::Forbidden => StatusCode::FORBIDDEN,
            L::DuplicateIsbn { .. } | L::NoCopies(_) | L::OutOfOrder(_) => StatusCode::CONFLICT,
            L::Invalid(_) | L::Upload(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut err = ApiError::new(status, e.code(), e.to_string());
        if let L::OutOfOrder(have) = e {
            err.details = Some(json!({ "offset": have }));
        }
        err
    }
}

impl From<crate::lessons::LessonError> for ApiError {
    fn from(e: crate::lessons::LessonError) -> Self {
        use crate::lessons::LessonError as L;
        let status = match &e {
            L::Store(s) => return ApiError::internal(s),
            L::NotFound => StatusCode::NOT_FOUND,
            L::Forbidden(_) | L::Quarantined => StatusCode::FORBIDDEN,
            L::State(_) | L::NoKey | L::Key(crate::lessons::sign::KeyError::WasReset) => {
                StatusCode::CONFLICT
            }
            L::Invalid(_) | L::File(_) | L::Key(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<SchoolError> for ApiError {
    fn from(e: SchoolError) -> Self {
        let status = match &e {
            SchoolError::Store(s) => return ApiError::internal(s),
            SchoolError::ClassExists(_) | SchoolError::StalePreview => StatusCode::CONFLICT,
            SchoolError::NoSuchClass(_)
            | SchoolError::NoSuchSubject(_)
            | SchoolError::NoSuchTeacher(_)
            | SchoolError::NoSuchDepartment(_)
            | SchoolError::NoSuchStudent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SchoolError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "too_large", "Dữ liệu gửi lên quá lớn.");
        }
        ApiError::new(
            status,
            "bad_json",
            format!("Dữ liệu gửi lên không hợp lệ: {}", e.body_text()),
        )
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(e)
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A JSON request body, or why it could not be read (turned into an `ApiError` by [`json_body`]).
pub type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub fn json_body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(ApiError::from)
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

/// The school year in force, or 409 while the school is not set up yet.
pub fn current_year(s: &Shared) -> Result<String, ApiError> {
    crate::school::school_info(&s.store.read()?)?
        .map(|i| i.current_year)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_provisioned",
                "Trường chưa được khai báo (chạy tram provision hoặc --demo).",
            )
        })
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

fn resolve(state: &AppState, parts: &Parts) -> Result<ApiUser, ApiError> {
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

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the body is declared as JSON: the media type `application/json` exactly (any case),
/// with or without parameters. A look-alike (`application/jsonp`, `application/json-seq`) is
/// not JSON and needs the CSRF token like any other body.
fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
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

pub fn urlencode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Refuses state-changing requests sent by another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` whose host is not the one the request was sent to.
async fn same_origin_only(req: Request, next: Next) -> Response {
    if is_unsafe(req.method()) {
        let h = req.headers();
        let cross_fetch = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site" || v == "same-site");
        // HTTP/2 carries the host in the :authority pseudo-header (the URI), not in Host.
        let authority = req.uri().authority().map(|a| a.as_str().to_string());
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or(authority)
            .unwrap_or_default();
        let bad_origin = h
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| {
                let o_host = o.split("://").nth(1).unwrap_or("");
                o == "null" || o_host != host.as_str()
            });
        if cross_fetch || bad_origin {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_site",
                "Yêu cầu từ trang web khác bị từ chối.",
            )
            .into_response();
        }
    }
    next.run(req).await
}

pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let mut res = next.run(req).await;
    let refused_body = res.status() == StatusCode::PAYLOAD_TOO_LARGE;
    let h = res.headers_mut();
    if refused_body && http1 {
        // The rest of the oversized body was never read: say the connection ends here, so the
        // client does not send its next request down it.
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ));
    res
}

async fn healthz(State(s): State<Shared>) -> Response {
    let db = match s
        .store
        .read()
        .and_then(|rx| rx.count(&crate::auth::ACCOUNTS))
    {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    let ok = db == "ok";
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": VERSION,
        "database": db,
        "schema_version": s.store.schema_version().ok(),
        "free_disk_bytes": crate::config::free_disk_bytes(s.store.dir()),
        "uptime_seconds": s.started.elapsed().as_secs(),
        "backup": backup_health(&s),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn backup_health(s: &AppState) -> serde_json::Value {
    let b = crate::backup::schedule::summary(s.store.dir(), jiff::Timestamp::now());
    json!({
        "last_good_at": b.last_good_at,
        "age_hours": b.age_hours,
        "restore_checked": b.restore_checked,
        "warning": if !s.backup.enabled {
            Some("nightly backups are turned off".to_string())
        } else if b.last_good_at.is_none() {
            Some("no backup has been made yet".to_string())
        } else if b.stale {
            Some(format!("the last good backup is older than {} hours", crate::backup::schedule::STALE_AFTER_HOURS))
        } else {
            None
        },
        "last_error": b.last_error,
    })
}

async fn fallback() -> ApiError {
    ApiError::not_found()
}

/// axum answers some errors itself, before a handler runs, in plain text: a query string or
/// path segment that does not parse (400), a raw body over the route's limit (413), a method
/// the route lacks (405). The API answers every error in the one JSON shape of [`ApiError`]
/// (which its OpenAPI document promises), so those are rewritten here.
async fn api_errors_as_json(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !status.is_client_error() || is_json(res.headers()) {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let mut e = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "Địa chỉ này không nhận phương thức đó.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "too_large", "Dữ liệu gửi lên quá lớn.")
        }
        _ => ApiError::new(
            status,
            "bad_request",
            format!("Yêu cầu không hợp lệ: {text}"),
        ),
    }
    .into_response();
    if let Some(a) = allow {
        e.headers_mut().insert(header::ALLOW, a);
    }
    e
}

/// The whole application router; tests drive it without a socket.
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .merge(crate::auth::routes::api())
        .merge(crate::school::routes::api())
        .merge(crate::gradebook::routes::api())
        .merge(crate::backup::routes::api())
        .merge(crate::library::routes::api())
        .merge(crate::lessons::routes::api())
        .merge(crate::relay::routes::api())
        .merge(crate::device::routes::api())
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    crate::web::OPENAPI,
                )
            }),
        )
        .layer(middleware::from_fn(api_errors_as_json));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", api)
        .merge(pages::routes())
        .merge(crate::gradebook::pages::routes())
        .merge(crate::library::pages::routes())
        .merge(crate::library::routes::files())
        .merge(crate::lessons::pages::routes())
        .merge(crate::lessons::routes::files())
        .merge(crate::device::routes::pages())
        .route_layer(middleware::from_fn(limit_body))
        .fallback(fallback)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(same_origin_only))
        .layer(middleware::from_fn(security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout(),
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    // HTTPS only: browsers heed HSTS only from a connection whose certificate they trust, so a
    // phone that has not installed the school's CA yet is not locked out by it; one that has
    // never again follows a downgrade to plain HTTP on the Wi-Fi.
    let app = if state.https {
        app.layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            ),
        )
    } else {
        app
    };
    app.with_state(state)
}

/// The largest body a request may carry when its route says nothing else.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The routes whose bodies may be larger than [`DEFAULT_BODY_LIMIT`], by matched path — the one
/// place body limits are set (the school's and the hub's routers both use it).
fn body_limit_for(matched_path: &str) -> usize {
    match matched_path {
        "/api/v1/import/students" | "/api/v1/import/staff" => {
            crate::school::import::MAX_IMPORT_BYTES
        }
        "/api/v1/grades/import/{class}/{subject}/{term}" => {
            crate::gradebook::excel::MAX_IMPORT_BYTES
        }
        "/api/v1/library/uploads/{id}" => crate::library::upload::MAX_CHUNK,
        "/api/v1/device/update" => crate::device::routes::MAX_BUNDLE as usize,
        "/relay/v1/batches/{school}/{seq}" => crate::district::routes::MAX_BATCH_CHUNK,
        _ => DEFAULT_BODY_LIMIT,
    }
}

/// Body limits, enforced twice: a request whose `Content-Length` announces more than its route
/// accepts is answered 413 at once (not after waiting for a body that never comes), and a body
/// without a length (chunked) is cut off at the limit while it is read (axum answers 413 too).
/// A route layer, so the matched path is known; routers disable axum's own default limit and
/// rely on this one.
pub(crate) async fn limit_body(req: Request, next: Next) -> Response {
    let limit = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or(DEFAULT_BODY_LIMIT, |p| body_limit_for(p.as_str()));
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "Dữ liệu gửi lên quá lớn (tối đa {} MB cho thao tác này).",
                limit.div_ceil(1024 * 1024)
            ),
        )
        .into_response();
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// The most a request may take, reading its body included: a client that trickles a body (or
/// stops sending it) gets 408 and its connection back. 60 s; `TRAM_REQUEST_TIMEOUT` (seconds)
/// shortens it for the tests.
fn request_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("TRAM_REQUEST_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&s| s > 0)
            .unwrap_or(60),
    )
}

/// The port-80 router: the certificate download page, the CA itself, and a redirect of
/// everything else to HTTPS.
pub fn bootstrap_router(state: Shared, https_port: u16) -> Router {
    Router::new()
        .route("/", get(pages::bootstrap_page))
        .route("/tram-ca.crt", get(pages::ca_der))
        .route("/tram-ca.pem", get(pages::ca_pem))
        .route("/static/{file}", get(pages::static_file))
        // E-reader apps rarely accept a private CA: the open catalogue and its files are also
        // served over plain HTTP (anonymous, so only what the whole school may see).
        .merge(crate::library::routes::files())
        .route("/healthz", get(healthz))
        .fallback(move |headers: HeaderMap, uri: axum::http::Uri| async move {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("tram.local");
            let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
            // Only to a name this box answers to (its certificate's: an address, `*.local`,
            // localhost): a Host header naming another site is not followed there.
            let ours = host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
                || host.eq_ignore_ascii_case("localhost")
                || (host.to_ascii_lowercase().ends_with(".local")
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
            let host = if ours { host } else { "tram.local" };
            let port = if https_port == 443 {
                String::new()
            } else {
                format!(":{https_port}")
            };
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::permanent(&format!("https://{host}{port}{pq}"))
        })
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Private IPv4 addresses of this machine (what phones on the school Wi-Fi can reach).
pub fn local_ips() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .map(|i| i.ip())
                .filter(|ip| ip.is_ipv4())
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|ip| ip.is_loopback());
    v
}

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub bootstrap_listen: Option<SocketAddr>,
    pub http_only: bool,
    pub mdns: bool,
    pub backup: crate::backup::schedule::Config,
    /// The relay to the district (idle until the school is enrolled).
    pub relay: crate::relay::Budget,
}

/// Runs the servers until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    store: Arc<Store>,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let info = crate::school::school_info(&store.read()?)?;
    let code = info
        .as_ref()
        .map(|i| i.code.clone())
        .unwrap_or_else(|| "tram".into());
    let host_name = format!("tram-{}.local", crate::school::slug(&code));
    let ips = local_ips();
    let listen_ip = opts.listen.ip();
    let reach_ips: Vec<IpAddr> = if listen_ip.is_unspecified() {
        ips.clone()
    } else {
        vec![listen_ip]
    };
    let scheme = if opts.http_only { "http" } else { "https" };
    let port_sfx = match (opts.http_only, opts.listen.port()) {
        (false, 443) | (true, 80) => String::new(),
        (_, p) => format!(":{p}"),
    };
    let mut urls: Vec<String> = reach_ips
        .iter()
        .filter(|ip| !ip.is_loopback() || !listen_ip.is_unspecified())
        .map(|ip| format!("{scheme}://{ip}{port_sfx}/"))
        .collect();
    urls.push(format!("{scheme}://{host_name}{port_sfx}/"));

    let tls = if opts.http_only {
        None
    } else {
        let dir = store.dir().join("tls");
        let names = vec![host_name.clone(), "tram.local".into(), "localhost".into()];
        Some(tls::load_or_create(&dir, &code, &names, &ips)?)
    };
    let state: Shared = Arc::new(AppState::new(
        store.clone(),
        tls.as_ref(),
        urls.clone(),
        opts.backup.clone(),
        false,
    ));
    tokio::spawn(crate::backup::schedule::run(
        store.clone(),
        opts.backup.clone(),
    ));
    tokio::spawn(crate::relay::run(store.clone(), opts.relay.clone()));
    {
        // The audit chain is walked once now, in the background, so the first look at the home
        // page does not wait for a year of events; later looks walk only the new ones.
        let store = store.clone();
        tokio::task::spawn_blocking(move || match store.audit_status() {
            Ok(r) if !r.is_intact() => {
                tracing::error!(broken = ?r.broken, "the audit chain is broken");
            }
            Ok(r) => tracing::info!(events = r.events, "audit chain intact"),
            Err(e) => tracing::warn!(error = %e, "audit chain not checked"),
        });
    }
    {
        let store = store.clone();
        let relay = opts.relay.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::control::serve(store, relay).await {
                tracing::warn!(error = %e, "control socket unavailable; `tram backup now` needs the server stopped");
            }
        });
    }

    let _mdns = if opts.mdns {
        match mdns::announce(
            info.as_ref(),
            &host_name,
            opts.listen.port(),
            opts.bootstrap_listen.map(|a| a.port()),
            &reach_ips,
        ) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, "mDNS announcement failed; the box is still reachable by IP");
                None
            }
        }
    } else {
        None
    };

    let handle = axum_server::Handle::new();
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut tasks = tokio::task::JoinSet::new();
    spawn_app(&mut tasks, opts.listen, tls.as_ref(), &handle, app);
    if let (Some(b), false) = (opts.bootstrap_listen, opts.http_only) {
        let boot = bootstrap_router(state.clone(), opts.listen.port())
            .into_make_service_with_connect_info::<SocketAddr>();
        let srv = axum_server::bind(b).handle(handle.clone());
        tasks.spawn(async move { srv.serve(boot).await });
    }
    // Report the bound port (tests pass port 0 sometimes) once the listener is up.
    if let Some(addr) = handle.listening().await {
        tracing::info!(%addr, scheme, "Trạm is listening");
        for u in &urls {
            tracing::info!(url = %u, "reach it at");
        }
    }
    let h2 = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        // Long-polling pages answer at once instead of holding the shutdown.
        state.lessons.close();
        h2.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

pub fn client_addr(parts_ext: &axum::http::Extensions) -> String {
    parts_ext
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
