//! The HTTP kernel every route stands on, knowing no capability: the server state (the store,
//! the reachable addresses, and a type map each capability puts its own state in), the one
//! error shape of the API and the pages (`ApiError`; each capability maps its own errors into it
//! in its `routes.rs`), JSON bodies, cookies, same-origin checks, security headers, body limits
//! (each router hands in its table) and timeouts, and serving a router over HTTPS or HTTP.
//! Sessions (`ApiUser`, `PageUser`) are auth's (`auth::extract`); the routers are assembled in
//! `app`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::pki::tls;
use crate::store::{Store, StoreError};

pub const SESSION_COOKIE: &str = "tram_session";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct AppState {
    pub store: Arc<Store>,
    /// argon2 takes ~100 ms of CPU and ~19 MiB for a password, ~0.35 s and 64 MiB for a signing
    /// PIN (`pki::seal::KDF`): at most two at once on a 2-core box.
    pub hashing: tokio::sync::Semaphore,
    pub started: Instant,
    pub ca: Option<(String, Vec<u8>)>,
    pub https: bool,
    /// Addresses and names people can use to reach the box, for the QR code and the help page.
    pub urls: Vec<String>,
    /// This server is a district hub (`tram district serve`), not a school.
    pub hub: bool,
    /// Each capability's own state (the login limiter, the backup schedule, lesson-plan
    /// changes, …), by type: put in by `app` when it assembles the server.
    parts: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl AppState {
    /// The state of a server over `store`: a school (`hub` false) or a district hub.
    pub fn new(
        store: Arc<Store>,
        tls: Option<&tls::DeviceTls>,
        urls: Vec<String>,
        hub: bool,
    ) -> AppState {
        AppState {
            store,
            hashing: tokio::sync::Semaphore::new(2),
            started: Instant::now(),
            ca: tls.map(|t| (t.ca_pem.clone(), t.ca_der.clone())),
            https: tls.is_some(),
            urls,
            hub,
            parts: HashMap::new(),
        }
    }

    /// Adds a capability's state (one value per type).
    pub fn with<T: Any + Send + Sync>(mut self, part: T) -> AppState {
        self.parts.insert(TypeId::of::<T>(), Box::new(part));
        self
    }

    /// A capability's state; a server assembled without it answers 500 (a wiring mistake,
    /// caught by the tests of every route).
    pub fn part<T: Any + Send + Sync>(&self) -> Result<&T, ApiError> {
        self.parts
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "{} is not in the server's state",
                    std::any::type_name::<T>()
                ))
            })
    }
}

/// Serves `app` on `listen` (HTTPS with `tls`, else plain HTTP) as a task of `tasks`, under
/// `handle` (graceful shutdown, the bound address).
pub fn spawn_app(
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

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "too_large", "Dữ liệu gửi lên quá lớn.");
        }
        let raw = e.body_text();
        let err = ApiError::new(
            status,
            "bad_json",
            format!("Dữ liệu gửi lên không hợp lệ: {}", json_problem_vi(&raw)),
        );
        // serde's English words go to the debug log, never to people (review r21 #7).
        tracing::debug!(detail = %raw, "JSON body refused");
        err
    }
}

/// serde_json's reason for refusing a body, in Vietnamese (review r12: "unknown variant
/// `bogus`, expected …", "missing field `reason`" and "invalid value: integer `-10`" were shown
/// to people as they are). The field's path stays as serde names it — the API's own names.
pub fn json_problem_vi(raw: &str) -> String {
    // "Failed to deserialize the JSON body into the target type: after: unknown variant …"
    let text = raw
        .split_once("target type: ")
        .or_else(|| raw.split_once("as JSON: "))
        .map(|(_, t)| t)
        .unwrap_or(raw);
    let text = text.split(" at line ").next().unwrap_or(text).trim();
    serde_problem_vi(text, "trường")
}

/// A refusal axum wrote in plain text before any handler ran — a query string or a path
/// segment that does not parse, a body of the wrong type — said in Vietnamese: the parameter
/// named as the API names it, what is wrong with it in words a person reads. The raw text goes
/// under `details.detail` ([`api_errors_as_json`]).
pub fn rejection_vi(raw: &str) -> String {
    if let Some(rest) = raw.strip_prefix("Failed to deserialize query string: ") {
        return format!(
            "Yêu cầu không hợp lệ: {}.",
            serde_problem_vi(rest.trim(), "tham số")
        );
    }
    if let Some(rest) = raw.strip_prefix("Invalid URL: ") {
        let q = backquoted(rest);
        let said = if rest.starts_with("Invalid UTF-8") {
            format!(
                "phần “{}” có ký tự không đọc được",
                q.first().map(String::as_str).unwrap_or("?")
            )
        } else if rest.contains(" with value ") {
            // "Cannot parse `key` with value `value` to a `u32`" / "…: message"
            format!(
                "giá trị “{}” của “{}” không hợp lệ",
                q.get(1).map(String::as_str).unwrap_or("?"),
                q.first().map(String::as_str).unwrap_or("?")
            )
        } else {
            format!(
                "giá trị “{}” không hợp lệ",
                q.first().map(String::as_str).unwrap_or("?")
            )
        };
        return format!("Địa chỉ không hợp lệ: {said}.");
    }
    if raw.contains("Content-Type") {
        return "Yêu cầu không hợp lệ: sai kiểu nội dung gửi lên (Content-Type).".to_string();
    }
    if raw.contains("multipart") {
        return "Yêu cầu không hợp lệ: tệp gửi lên không đọc được (multipart/form-data)."
            .to_string();
    }
    "Yêu cầu không hợp lệ.".to_string()
}

/// The words serde quotes in backticks: the field, the value, the accepted variants.
fn backquoted(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, q)| q.to_string())
        .collect()
}

/// serde's reason ("field.path: what"), in Vietnamese; `noun` is what a field is called where
/// it came from — a JSON body's "trường", a query string's "tham số".
fn serde_problem_vi(text: &str, noun: &str) -> String {
    // A leading "field.path: " says where.
    let (path, what) = match text.split_once(": ") {
        Some((p, w)) if !p.contains(' ') => (Some(p), w),
        _ => (None, text),
    };
    let q = backquoted(what);
    let at = path.map(|p| format!("{noun} “{p}”: ")).unwrap_or_default();
    let said = if what.starts_with("missing field") {
        format!(
            "thiếu {noun} “{}”",
            q.first().map(String::as_str).unwrap_or("?")
        )
    } else if what.starts_with("unknown field") {
        format!(
            "{noun} “{}” không có trong yêu cầu này",
            q.first().map(String::as_str).unwrap_or("?")
        )
    } else if what.starts_with("duplicate field") {
        format!(
            "{noun} “{}” được ghi hai lần; chỉ ghi một giá trị",
            q.first().map(String::as_str).unwrap_or("?")
        )
    } else if let Some(vi) = what.strip_prefix(crate::text::VI_REASON) {
        // A deserializer of ours that says why in Vietnamese ([`crate::text::VI_REASON`]).
        vi.to_string()
    } else if what.starts_with("unknown variant") {
        format!(
            "giá trị “{}” không hợp lệ; chấp nhận: {}",
            q.first().map(String::as_str).unwrap_or("?"),
            q.iter()
                .skip(1)
                .map(|v| format!("“{v}”"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else if what.starts_with("invalid value") || what.contains("too large") {
        format!(
            "{}giá trị{} nằm ngoài khoảng cho phép",
            at,
            q.first().map(|v| format!(" “{v}”")).unwrap_or_default()
        )
    } else if what.starts_with("invalid type") {
        "sai kiểu dữ liệu (ví dụ: cần số mà gửi chữ)".to_string()
    } else if what.contains("invalid digit")
        || what.contains("is not a number")
        || what.contains("invalid float")
        || what.contains("cannot parse integer")
    {
        // A query string's number: std's ParseIntError, or the "is not a number" of
        // `library::empty_none_num`.
        "cần một số".to_string()
    } else if what.contains("number too large") || what.contains("number too small") {
        "số nằm ngoài khoảng cho phép".to_string()
    } else if what.contains("`true` or `false`") {
        "cần “true” hoặc “false”".to_string()
    } else if what.starts_with("EOF") || what.starts_with("expected") || what.contains("syntax") {
        "nội dung JSON không đọc được".to_string()
    } else if text.contains("Content-Type") {
        "cần gửi JSON (Content-Type: application/json)".to_string()
    } else {
        "dữ liệu không đúng dạng".to_string()
    };
    // The field is named in these already.
    if what.starts_with("unknown field")
        || what.starts_with("duplicate field")
        || what.starts_with("invalid value")
        || at.is_empty()
    {
        said
    } else {
        format!("{at}{said}")
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

pub fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the body is declared as JSON: the media type `application/json` exactly (any case),
/// with or without parameters. A look-alike (`application/jsonp`, `application/json-seq`) is
/// not JSON and needs the CSRF token like any other body.
pub fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// A rendered askama page, or a 500 when the template fails.
/// A download built on disk before it is streamed ([`crate::store::unlinked_file`]).
pub use crate::store::unlinked_file;

mod query;
pub use query::{PageQuery, Query, bad_filter, refusal};

/// A download built in an [`unlinked_file`], streamed from its start: the length, the content
/// type, `attachment` with the file name, and `no-store` (an export is a copy of the school's
/// records, not for a cache). The one way the CSDL, lesson-plan and records exports answer.
pub fn stream_file(
    mut file: std::fs::File,
    content_type: &str,
    name: &str,
) -> Result<Response, ApiError> {
    std::io::Seek::rewind(&mut file).map_err(ApiError::internal)?;
    let len = file.metadata().map_err(ApiError::internal)?.len();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 << 10);
    let headers = [
        (header::CONTENT_TYPE, content_type.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
        (header::CONTENT_LENGTH, len.to_string()),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    Ok((headers, axum::body::Body::from_stream(stream)).into_response())
}

pub fn render(t: impl askama::Template) -> Response {
    match t.render() {
        Ok(h) => Html(h).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
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
pub async fn same_origin_only(req: Request, next: Next) -> Response {
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

pub async fn security_headers(req: Request, next: Next) -> Response {
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

pub async fn fallback() -> ApiError {
    ApiError::not_found()
}

/// axum answers some errors itself, before a handler runs, in plain text: a query string or
/// path segment that does not parse (400), a raw body over the route's limit (413), a method
/// the route lacks (405). The API answers every error in the one JSON shape of [`ApiError`]
/// (which its OpenAPI document promises), so those are rewritten here.
pub async fn api_errors_as_json(req: Request, next: Next) -> Response {
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
        _ => {
            // axum's English words go to the debug log, never to people (review r21 #7).
            tracing::debug!(detail = %text, "request refused before its handler");
            ApiError::new(status, "bad_request", rejection_vi(&text))
        }
    }
    .into_response();
    if let Some(a) = allow {
        e.headers_mut().insert(header::ALLOW, a);
    }
    e
}

/// A page a browser opened (GET or HEAD outside the APIs — `/api/`, the hub's `/district/api/`
/// —, asking for text/html) that is refused (403), not found (404) or asked with a parameter
/// it cannot take (400, 422: a bookmarked `?year=abc`, a download link edited by hand) gets
/// the message as an HTML page with the site's stylesheet, not the API's bare JSON shown 980 px
/// wide on a phone (review r9 #8, r18 #10); axum's own plain-text refusal of a query string is
/// put in Vietnamese as the API puts it ([`rejection_vi`]). The API, and any client that does
/// not ask for HTML (scripts, the relay, the tests' role matrix), keeps the JSON.
pub async fn page_errors_as_html(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let wants_page = matches!(*req.method(), Method::GET | Method::HEAD)
        && !path.contains("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    let res = next.run(req).await;
    let status = res.status();
    let refused = matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND);
    let bad = matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
    );
    let json = is_json(res.headers());
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !wants_page || !((refused && json) || (bad && (json || plain))) {
        return res;
    }
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let title = match status {
        StatusCode::FORBIDDEN => "Không có quyền xem trang này",
        StatusCode::NOT_FOUND => "Không tìm thấy trang",
        _ => "Yêu cầu không hợp lệ",
    };
    let message = if json {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| title.to_string())
    } else {
        rejection_vi(String::from_utf8_lossy(&body).trim())
    };
    (status, Html(error_page(title, &message))).into_response()
}

/// The error page: the site's header and stylesheet, the message, and the way home.
fn error_page(title: &str, message: &str) -> String {
    let (title, message) = (
        crate::text::html_escape(title),
        crate::text::html_escape(message),
    );
    format!(
        "<!doctype html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Trạm</title>\n<link rel=\"stylesheet\" href=\"/static/app.css\">\n\
         </head>\n<body>\n<header class=\"top\"><a class=\"brand\" href=\"/\">Trạm</a></header>\n\
         <main id=\"error-page\">\n<h1>{title}</h1>\n<p class=\"msg err\" role=\"alert\">{message}</p>\n\
         <p><a class=\"button\" href=\"/\">Về trang chủ</a></p>\n</main>\n</body>\n</html>\n"
    )
}

/// The largest body a request may carry when its route says nothing else.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The routes of a router whose bodies may be larger than [`DEFAULT_BODY_LIMIT`], by matched
/// path — each router (the school's, the hub's) hands its one table to [`limit_body`].
pub type BodyLimits = &'static [(&'static str, usize)];

/// Body limits, enforced twice: a request whose `Content-Length` announces more than its route
/// accepts is answered 413 at once (not after waiting for a body that never comes), and a body
/// without a length (chunked) is cut off at the limit while it is read (axum answers 413 too).
/// A route layer, so the matched path is known; routers disable axum's own default limit and
/// rely on this one.
pub async fn limit_body(
    axum::extract::State(limits): axum::extract::State<BodyLimits>,
    req: Request,
    next: Next,
) -> Response {
    let limit = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .and_then(|p| limits.iter().find(|(path, _)| *path == p.as_str()))
        .map_or(DEFAULT_BODY_LIMIT, |(_, n)| *n);
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
pub fn request_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("TRAM_REQUEST_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&s| s > 0)
            .unwrap_or(60),
    )
}

pub fn client_addr(parts_ext: &axum::http::Extensions) -> String {
    parts_ext
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod json_problem_tests {
    use super::json_problem_vi;

    /// The refusals a person met in review r12, each said in Vietnamese with no serde words.
    #[test]
    fn serde_refusals_read_in_vietnamese() {
        let cases = [
            (
                "Failed to deserialize the JSON body into the target type: after: unknown variant `bogus`, expected `leave_roll` or `new_line` at line 1 column 16",
                "trường “after”: giá trị “bogus” không hợp lệ; chấp nhận: “leave_roll”, “new_line”",
            ),
            (
                "Failed to deserialize the JSON body into the target type: missing field `reason` at line 1 column 2",
                "thiếu trường “reason”",
            ),
            (
                "Failed to deserialize the JSON body into the target type: reason: unknown field `reason`, expected `name` at line 1 column 9",
                "trường “reason” không có trong yêu cầu này",
            ),
            (
                "Failed to deserialize the JSON body into the target type: periods: invalid value: integer `-10`, expected u16 at line 1 column 14",
                "trường “periods”: giá trị “-10” nằm ngoài khoảng cho phép",
            ),
            (
                "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1",
                "nội dung JSON không đọc được",
            ),
        ];
        for (raw, want) in cases {
            let got = json_problem_vi(raw);
            assert_eq!(got, want, "{raw}");
            assert!(
                !got.contains("expected") && !got.contains("variant"),
                "{got}"
            );
        }
    }

    /// Query-string and path refusals axum writes itself, through the API's rewrite: said in
    /// Vietnamese naming the parameter, axum's words kept under `details.detail`.
    #[tokio::test]
    async fn query_and_path_refusals_read_in_vietnamese() {
        use axum::extract::{Path, Query};
        use tower::ServiceExt;
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Q {
            month: String,
            #[serde(default)]
            after: u64,
            #[serde(default, deserialize_with = "crate::library::empty_none_num")]
            grade: Option<u8>,
        }
        let app = axum::Router::new()
            .route(
                "/q",
                axum::routing::get(|Query(_q): Query<Q>| async { "ok" }),
            )
            .route(
                "/p/{id}",
                axum::routing::get(|Path(_id): Path<String>| async { "ok" }),
            )
            .route(
                "/n/{n}",
                axum::routing::get(|Path(_n): Path<u32>| async { "ok" }),
            )
            .layer(axum::middleware::from_fn(super::api_errors_as_json));
        let cases = [
            ("/q?after=1", "Yêu cầu không hợp lệ: thiếu tham số “month”."),
            (
                "/q?month=2026-01&after=abc",
                "Yêu cầu không hợp lệ: tham số “after”: cần một số.",
            ),
            (
                "/q?month=2026-01&grade=x",
                "Yêu cầu không hợp lệ: tham số “grade”: cần một số.",
            ),
            (
                "/p/%FF",
                "Địa chỉ không hợp lệ: phần “id” có ký tự không đọc được.",
            ),
            (
                "/n/abc",
                "Địa chỉ không hợp lệ: giá trị “abc” không hợp lệ.",
            ),
        ];
        for (uri, want) in cases {
            let res = app
                .clone()
                .oneshot(
                    axum::http::Request::get(uri)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{uri}");
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "bad_request", "{uri}");
            assert_eq!(v["error"]["message"], want, "{uri}: {v}");
            // No English under details (review r21 #7).
            assert!(v["error"].get("details").is_none(), "{uri}: {v}");
        }
    }
}
