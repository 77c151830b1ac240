//! The hub's HTTP side: enrolment and resumable batch uploads for schools (`/relay/v1`), and the
//! staff pages (`/district`: schools with last contact, backlog, bytes, errors; statistics;
//! CSV and xlsx exports; `/district/publish`: update bundles and shared library items uploaded
//! with the library's resumable uploads and published by the same functions as the command
//! line). Staff sign in with the hub's own accounts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::http::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::reports::Filter;
use super::{HubError, HubStorage, RedbHub, secret_hash};
use crate::auth::Action;
use crate::auth::extract::{ApiUser, PageUser};
use crate::auth::pages::{chrome, page};
use crate::http::render;
use crate::http::{ApiError, JsonBody, Shared};
use crate::library::upload;
use crate::relay::batch;
use crate::store::Store;

/// What the hub's handlers share besides the app state.
pub struct Hub {
    pub storage: Arc<dyn HubStorage>,
    /// The hub's data directory (its keys).
    pub dir: PathBuf,
    /// Partial uploads: DATA_DIR/incoming/{school}/{seq}.part
    pub incoming: PathBuf,
    /// A school not heard from for more days than this is flagged on the staff page.
    pub silent_days: i64,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Each school's share of the reports, kept until its next batch.
    parts: super::reports::PartCache,
    /// The time-stamping authority (`keys/tsa.key`, `keys/tsa.crt`), loaded once.
    tsa: Mutex<Option<Arc<crate::pki::tsa::Tsa>>>,
    /// Turns for verifying and storing a whole batch. A 6,000-record batch unpacks to ~10 MB
    /// of records; with every upload at once, 64 schools took the hub to 1.3 GB and left the
    /// cores switching between decoders (bench/hub-ingest.sh). Waiting here costs a school no
    /// more than the cores were going to make it wait anyway.
    storing: tokio::sync::Semaphore,
}

/// Batches verified and stored at once: enough to keep the cores busy while others wait on
/// the database's commit, few enough that memory stays bounded.
fn storing_turns() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

impl Hub {
    pub fn new(store: Arc<Store>) -> Hub {
        Hub::with_storage(store.clone(), Arc::new(RedbHub { store }))
    }
    /// The hub over `storage` (PostgreSQL); `store` still holds its accounts, keys and downlink.
    pub fn with_storage(store: Arc<Store>, storage: Arc<dyn HubStorage>) -> Hub {
        Hub {
            dir: store.dir().to_path_buf(),
            incoming: store.dir().join("incoming"),
            storage,
            silent_days: DEFAULT_SILENT_DAYS,
            locks: Mutex::new(HashMap::new()),
            parts: Default::default(),
            tsa: Mutex::new(None),
            storing: tokio::sync::Semaphore::new(storing_turns()),
        }
    }
    /// The hub's time-stamping authority, its key and certificate issued on first use (the hub's
    /// start calls this, so a hub has them from its first run).
    pub fn tsa(&self) -> Result<Arc<crate::pki::tsa::Tsa>, crate::pki::tsa::TsaError> {
        let mut slot = self.tsa.lock().expect("not poisoned");
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let t = Arc::new(crate::pki::tsa::load_or_create(
            &self.dir,
            jiff::Timestamp::now(),
        )?);
        *slot = Some(t.clone());
        Ok(t)
    }
    fn lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("not poisoned")
            .entry(key.to_string())
            .or_default()
            .clone()
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let (status, code) = match &e {
            HubError::Store(s) => return ApiError::internal(s),
            HubError::Database(s) => return ApiError::internal(s),
            // The school's upload keeps its place and is retried; nothing was stored.
            HubError::Unavailable(why) => {
                tracing::warn!(error = %why, "the hub's database is unavailable");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the hub's database is unavailable; retry later",
                );
            }
            HubError::BadToken => (StatusCode::FORBIDDEN, "bad_token"),
            HubError::TokenExpired(_) => (StatusCode::FORBIDDEN, "token_expired"),
            HubError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            HubError::UnknownSchool(_) => (StatusCode::NOT_FOUND, "unknown_school"),
            HubError::Gap { .. } => (StatusCode::CONFLICT, "sequence_gap"),
            HubError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            HubError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            HubError::Mismatch(..) | HubError::BadKey | HubError::Batch(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "rejected")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// The days of silence after which the staff page warns about a school (`--silent-days`).
pub const DEFAULT_SILENT_DAYS: i64 = 7;

/// The most one upload part of a batch may carry.
pub const MAX_BATCH_CHUNK: usize = 2 << 20;

/// The routes schools call (`/relay/v1`: enrolment, batch uploads, held records, the downlink).
pub fn relay() -> Router<Shared> {
    Router::new()
        .route("/enrol", post(enrol))
        .route(
            "/batches/{school}/{seq}",
            get(batch_status).patch(batch_append),
        )
        .route("/records/{school}", get(records_after))
        .route("/downlink/{school}", get(downlink_list))
        .route("/downlink/{school}/{id}", get(downlink_file))
        .route("/timestamp/{school}", post(timestamp))
        .route("/signing-ca/{school}", axum::routing::put(signing_ca))
}

/// The school's học bạ signing CA (PEM), sent by the box when it enrols and whenever it
/// changes, followed by the chains of the school's signers imported from licensed CAs (their
/// certificates and intermediates): kept per school so the hub can verify the school's signed
/// học bạ. Only the first is an anchor; the rest only helps build a chain to the hub's own
/// licensed roots.
async fn signing_ca(
    Extension(hub): Extension<Arc<Hub>>,
    headers: HeaderMap,
    Path(school): Path<String>,
    body: String,
) -> Result<StatusCode, ApiError> {
    authorised(&hub, &headers, &school)?;
    let cert = crate::pki::roots::pem_certs(&body)
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad_request("not a PEM certificate"))?;
    // A CA names itself as its issuer; a signer's certificate or anything else is no anchor.
    if cert.tbs_certificate.issuer != cert.tbs_certificate.subject {
        return Err(ApiError::bad_request("not a self-issued CA certificate"));
    }
    let storage = hub.storage.clone();
    tokio::task::spawn_blocking(move || {
        // A school CA the hub held before stays (a box restored from an old backup may send
        // fewer): what it signed must still verify here.
        let mut pem = body.trim().to_string();
        let sent: Vec<_> = crate::pki::roots::pem_certs(&pem);
        if let Some((_, before)) = storage
            .signing_cas()?
            .into_iter()
            .find(|(s, _)| *s == school)
        {
            for old in super::school_cas(&crate::pki::roots::pem_certs(&before)) {
                if !sent.contains(&old) {
                    use der::EncodePem;
                    if let Ok(p) = old.to_pem(der::pem::LineEnding::LF) {
                        pem.push('\n');
                        pem += p.trim_end();
                    }
                }
            }
        }
        storage.set_signing_ca(&school, &pem)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(StatusCode::NO_CONTENT)
}

/// The most a TimeStampReq may be: a SHA-512 imprint, a policy, a nonce and a few extensions
/// fit in far less.
const MAX_TIMESTAMP_QUERY: usize = 4096;

/// RFC 3161 over HTTP (RFC 3161 3.4): an enrolled school posts a TimeStampReq
/// (application/timestamp-query) with its upload secret and gets a TimeStampResp
/// (application/timestamp-reply). A request the TSA cannot honour is still answered 200 with a
/// rejection inside, as the protocol says; only who may ask is decided by HTTP status.
async fn timestamp(
    Extension(hub): Extension<Arc<Hub>>,
    headers: HeaderMap,
    Path(school): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    authorised(&hub, &headers, &school)?;
    let is_query = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/timestamp-query"))
        });
    if !is_query {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send an RFC 3161 TimeStampReq as application/timestamp-query",
        ));
    }
    if body.len() > MAX_TIMESTAMP_QUERY {
        return Err(HubError::TooLarge(body.len() as u64).into());
    }
    let tsa = hub.tsa().map_err(ApiError::internal)?;
    let reply = tsa.respond(&body, jiff::Timestamp::now());
    tracing::info!(%school, "time-stamp issued");
    Ok((
        [(header::CONTENT_TYPE, "application/timestamp-reply")],
        reply,
    )
        .into_response())
}

/// The district staff's pages and downloads, and the hub's health check.
pub fn staff() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/district") }))
        .route("/healthz", get(healthz))
        .route("/district", get(staff_page))
        .route("/district/api/schools", get(schools_json))
        .route("/district/api/stats", get(stats_json))
        .route("/district/api/hocba/verify", post(verify_hocba))
        .route("/district/schools.csv", get(schools_csv))
        .route("/district/district.xlsx", get(xlsx))
        .route("/district/reports/{file}", get(report_csv))
        .route("/district/csdl.xlsx", get(csdl_xlsx))
        .route("/district/csdl/{file}", get(csdl_csv))
        .route("/district/publish", get(publish_page))
        .route("/district/hocba-verify", get(hocba_verify_page))
        .route("/district/api/published", get(published_json))
        .route("/district/api/uploads", post(start_upload))
        .route(
            "/district/api/uploads/{id}",
            get(upload_status)
                .patch(upload_append)
                .delete(upload_cancel),
        )
        .route("/district/api/publish/update", post(publish_update))
        .route("/district/api/publish/library", post(publish_library))
        .route("/district/api/shared", get(shared_json))
        .route("/district/api/shared/{school}/{item}", post(shared_decide))
}

/// What the schools share up, with the district's hold on each (`hold.rs`).
async fn shared_json(
    State(s): State<Shared>,
    u: ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_staff(&u)?;
    let store = s.store.clone();
    let items = tokio::task::spawn_blocking(move || {
        let names = super::reports::school_names(&*hub.storage, &hub.parts)?;
        super::hold::shared_up(&*hub.storage, &store, &names)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct HoldDecision {
    approve: bool,
    #[serde(default)]
    reason: Option<String>,
    /// The digest of the version the page showed (`SharedUp.digest`): refused if the school
    /// has sent a change since.
    #[serde(default)]
    digest: Option<String>,
}

/// A district admin approves a school's shared item or refuses it with a reason.
async fn shared_decide(
    State(s): State<Shared>,
    u: ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    Path((school, item)): Path<(String, String)>,
    b: JsonBody<HoldDecision>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_publisher(&u)?;
    let b = crate::http::json_body(b)?;
    let store = s.store.clone();
    let by = u.actor();
    let hold = tokio::task::spawn_blocking(move || {
        super::hold::decide(
            &*hub.storage,
            &store,
            &by,
            &school,
            &item,
            b.approve,
            b.reason.as_deref(),
            b.digest.as_deref(),
        )
    })
    .await
    .map_err(ApiError::internal)??;
    let message = if b.approve {
        "Đã duyệt tài liệu."
    } else {
        "Đã từ chối tài liệu."
    };
    // Who decided, by name beside the account id (`hold.by`).
    let by_name = u.principal.account.full_name.clone();
    Ok(Json(
        json!({ "hold": hold, "by_name": by_name, "message": message }),
    ))
}

impl From<super::hold::HoldError> for ApiError {
    fn from(e: super::hold::HoldError) -> Self {
        use super::hold::HoldError as H;
        let (status, code) = match &e {
            H::Hub(h) => return ApiError::internal(h),
            H::Store(s) => return ApiError::internal(s),
            H::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            H::NoReason => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            H::Decided(_) => (StatusCode::CONFLICT, "decided"),
            H::Changed => (StatusCode::CONFLICT, "changed"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "role": "district hub", "version": crate::http::VERSION}))
}

#[derive(Deserialize)]
struct EnrolBody {
    token: String,
    public_key: String,
}

async fn enrol(
    Extension(hub): Extension<Arc<Hub>>,
    b: JsonBody<EnrolBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let storage = hub.storage.clone();
    let (school, secret) =
        tokio::task::spawn_blocking(move || storage.enrol(&b.token, &b.public_key))
            .await
            .map_err(ApiError::internal)??;
    tracing::info!(school = %school.code, "school enrolled");
    let courier = super::courier_key(&hub.dir)
        .map(|id| id.to_public().to_string())
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "school": school.code, "name": school.name, "secret": secret,
        "last_seq": school.last_seq, "last_outbox": school.last_outbox,
        "courier_recipient": courier,
    })))
}

/// The school named in the path, if the bearer secret is its own.
fn authorised(hub: &Hub, headers: &HeaderMap, school: &str) -> Result<super::School, ApiError> {
    let s = hub
        .storage
        .school(school)?
        .ok_or_else(|| HubError::UnknownSchool(school.into()))?;
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if secret_hash(secret) != s.secret_hash {
        return Err(HubError::Unauthorized(school.into()).into());
    }
    Ok(s)
}

fn part_path(hub: &Hub, school: &str, seq: u64) -> Result<PathBuf, ApiError> {
    if school.is_empty()
        || !school
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request("bad school code"));
    }
    Ok(hub.incoming.join(school).join(format!("{seq}.part")))
}

/// Where a batch stands: stored already (with its receipt), or how many bytes the hub holds.
fn where_is(hub: &Hub, s: &super::School, seq: u64) -> Result<Option<serde_json::Value>, ApiError> {
    if seq == 0 {
        return Err(ApiError::bad_request("batches are numbered from 1"));
    }
    if seq <= s.last_seq {
        let r = hub.storage.receipt(&s.code, seq)?;
        return Ok(Some(
            json!({"offset": r.as_ref().map_or(0, |r| r.bytes), "stored": true, "receipt": r}),
        ));
    }
    if seq != s.last_seq + 1 {
        return Err(HubError::Gap {
            expected: s.last_seq + 1,
            got: seq,
        }
        .into());
    }
    Ok(None)
}

/// What the hub offers this school: update bundles (each school checks their signatures).
#[derive(Deserialize)]
struct AfterQuery {
    #[serde(default)]
    after: u64,
    /// The last record of the previous page (`kind\u{1}key`).
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// The most records one answer lists; a box asks for pages of [`crate::relay::HELD_PAGE`].
const RECORDS_LIMIT: usize = 20_000;

/// What the hub holds for an enrolled school above an outbox number: a box restored from a
/// backup compares it with its own records and tells its staff what it no longer has.
async fn records_after(
    Extension(hub): Extension<Arc<Hub>>,
    headers: HeaderMap,
    Path(school): Path<String>,
    Query(q): Query<AfterQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorised(&hub, &headers, &school)?;
    // Fault injection for the tests (tests/relay.rs): the first N answers fail, as on a link
    // that drops right after an enrolment.
    static FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let fail_first: u64 = std::env::var("TRAM_FAULT_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if FAILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < fail_first {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "fault",
            "injected fault (TRAM_FAULT_RECORDS)",
        ));
    }
    let storage = hub.storage.clone();
    let records = tokio::task::spawn_blocking(move || {
        let limit = q.limit.unwrap_or(RECORDS_LIMIT).clamp(1, RECORDS_LIMIT);
        let records = storage.records_after(&school, q.after, q.cursor.as_deref(), limit)?;
        // A full page may have more after it: the next page starts after its last record.
        let next = (records.len() == limit)
            .then(|| records.last().map(|r| format!("{}\u{1}{}", r.kind, r.key)))
            .flatten();
        Ok::<_, HubError>(json!({ "records": records, "next": next }))
    })
    .await??;
    Ok(Json(records))
}

async fn downlink_list(
    State(st): State<Shared>,
    Extension(hub): Extension<Arc<Hub>>,
    headers: HeaderMap,
    Path(school): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorised(&hub, &headers, &school)?;
    // What names one school goes to that school only (a key reset, a decision on its item).
    let items: Vec<super::Published> = super::downlink(&st.store)?
        .into_iter()
        .filter(|p| p.is_for(&school))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// One published file, with Range: a cut download resumes where it stopped.
async fn downlink_file(
    State(st): State<Shared>,
    Extension(hub): Extension<Arc<Hub>>,
    Path((school, id)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    authorised(&hub, req.headers(), &school)?;
    if !st
        .store
        .read()?
        .get(&super::DOWNLINK, &id)?
        .is_some_and(|p| p.is_for(&school))
    {
        return Err(ApiError::not_found());
    }
    let path = st
        .store
        .blobs
        .path_of(&id)
        .ok_or_else(ApiError::not_found)?;
    use tower::ServiceExt;
    let res = tower_http::services::ServeFile::new_with_mime(path, &mime::APPLICATION_OCTET_STREAM)
        .with_buf_chunk_size(64 * 1024)
        .oneshot(req)
        .await
        .map_err(ApiError::internal)?;
    Ok(res.map(axum::body::Body::new))
}

async fn batch_status(
    Extension(hub): Extension<Arc<Hub>>,
    headers: HeaderMap,
    Path((school, seq)): Path<(String, u64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = authorised(&hub, &headers, &school)?;
    if let Some(done) = where_is(&hub, &s, seq)? {
        return Ok(Json(done));
    }
    let have = std::fs::metadata(part_path(&hub, &school, seq)?).map_or(0, |m| m.len());
    Ok(Json(json!({"offset": have, "stored": false})))
}

fn header_u64(h: &HeaderMap, name: &str) -> Result<u64, ApiError> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("missing or bad {name} header")))
}

/// Appends a chunk at its offset; the last chunk verifies and stores the batch.
///
/// The chunk is written as it arrives, not after the whole body is in: when the link is cut
/// half-way through a chunk, the bytes that did arrive stay in the part file (fsynced) and the
/// school's next status request resumes after them. So a cut costs only what was in flight,
/// not the whole chunk — on a 32 KB/s link cut every few seconds that is the difference
/// between ~1.3× and ~1.02× the batch bytes on the wire (bench/relay.sh). Integrity does not
/// rest on the chunks: the assembled batch is verified (signature over its hash) before it is
/// stored, and a batch that fails is deleted and sent again from the start.
async fn batch_append(
    Extension(hub): Extension<Arc<Hub>>,
    headers: HeaderMap,
    Path((school, seq)): Path<(String, u64)>,
    body: axum::body::Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    use futures_util::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let s = authorised(&hub, &headers, &school)?;
    let offset = header_u64(&headers, "upload-offset")?;
    let length = header_u64(&headers, "upload-length")?;
    if length > batch::MAX_BATCH {
        let e: ApiError = HubError::TooLarge(batch::MAX_BATCH).into();
        let _ = hub.storage.note_error(&school, &e.message);
        return Err(e);
    }
    let lock = hub.lock(&format!("{school}/{seq}"));
    let _guard = lock.lock().await;
    if let Some(done) = where_is(&hub, &s, seq)? {
        return Ok(Json(done));
    }
    let path = part_path(&hub, &school, seq)?;
    tokio::fs::create_dir_all(path.parent().expect("school folder"))
        .await
        .map_err(ApiError::internal)?;
    let have = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
    if offset != have {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "upload_offset",
            format!("the hub holds {have} bytes of this batch; send from there"),
        );
        e.details = Some(json!({"offset": have}));
        return Err(e);
    }
    let past_length = || ApiError::bad_request("chunk runs past Upload-Length");
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| have + n > length) {
        return Err(past_length());
    }
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
        .map_err(ApiError::internal)?;
    let mut now = have;
    let mut stream = body.into_data_stream();
    let mut failed: Option<ApiError> = None;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(data) if now + data.len() as u64 > length => {
                failed = Some(past_length());
                break;
            }
            Ok(data) => {
                f.write_all(&data).await.map_err(ApiError::internal)?;
                now += data.len() as u64;
            }
            Err(e) => {
                // The link was cut (or the body ran past the route's limit): keep what came.
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                failed = Some(if too_large {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!("a chunk carries at most {MAX_BATCH_CHUNK} bytes"),
                    )
                } else {
                    ApiError::bad_request("the chunk was cut off; ask for the offset and resume")
                });
                break;
            }
        }
    }
    f.flush().await.map_err(ApiError::internal)?;
    f.sync_data().await.map_err(ApiError::internal)?;
    drop(f);
    if let Some(e) = failed {
        tracing::debug!(school = %school, seq, kept = now - have, "partial chunk kept");
        return Err(e);
    }
    if now < length {
        return Ok(Json(json!({"offset": now, "stored": false})));
    }
    let _turn = hub.storing.acquire().await.map_err(ApiError::internal)?;
    let storage = hub.storage.clone();
    tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let bytes = std::fs::read(&path).map_err(ApiError::internal)?;
        let _ = std::fs::remove_file(&path);
        match super::accept(storage.as_ref(), &school, seq, &bytes) {
            Ok(r) => Ok(json!({"offset": now, "stored": true, "receipt": r})),
            Err(e) => {
                tracing::warn!(school = %school, seq, error = %e, "batch rejected");
                let _ = storage.note_error(&school, &format!("batch {seq}: {e}"));
                Err(e.into())
            }
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map(Json)
}

fn require_staff(u: &crate::auth::extract::ApiUser) -> Result<(), ApiError> {
    u.require(Action::ViewDistrict)
}

/// A school as the staff table shows it.
#[derive(serde::Serialize)]
pub(crate) struct Row {
    code: String,
    name: String,
    /// "đăng ký lại 06/12/2026" when a box enrolled again for the school, else empty.
    reenrolled: String,
    last_contact: String,
    silent_days: Option<i64>,
    batches: u64,
    records: u64,
    bytes: String,
    backlog: u64,
    errors: usize,
    last_error: String,
    /// The box key's fingerprint, in fours: what signs the school's records archive.
    fingerprint: String,
}

fn rows(hub: &Hub) -> Result<Vec<Row>, ApiError> {
    let now = jiff::Timestamp::now();
    // Named as the reports name them: what the school calls itself, else what was typed at
    // enrolment, never an empty cell (a school known by nothing else shows its code).
    let names = super::reports::school_names(&*hub.storage, &hub.parts)?;
    Ok(hub
        .storage
        .schools()?
        .into_iter()
        .map(|s| {
            let last = s
                .last_contact
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            Row {
                last_contact: last
                    .map(|t| {
                        t.to_zoned(crate::school::time_zone())
                            .strftime("%H:%M %d/%m/%Y")
                            .to_string()
                    })
                    .unwrap_or_else(|| "chưa liên lạc".into()),
                silent_days: last.map(|t| (now - t).get_seconds() / 86_400),
                reenrolled: super::reports::reenrolled(&s),
                name: names
                    .get(&s.code)
                    .cloned()
                    .unwrap_or_else(|| s.code.clone()),
                code: s.code,
                batches: s.batches,
                records: s.records,
                bytes: crate::text::human_size(s.bytes),
                backlog: s.backlog,
                errors: s.errors.len(),
                last_error: s
                    .errors
                    .last()
                    .map(|(at, why)| format!("{at}: {why}"))
                    .unwrap_or_default(),
                fingerprint: crate::pki::key_fingerprint_hex(&s.public_key)
                    .map(|f| crate::pki::fingerprint_groups(&f))
                    .unwrap_or_default(),
            }
        })
        .collect())
}

page!(StaffPage, "district.html" {
    tables: Vec<super::reports::Table>,
    choices: super::reports::Choices,
    silent: Vec<String>,
    filter: Filter,
    query: String,
    terms: [(&'static str, &'static str); 3],
    // Why the filter asked was refused: the page shows it above the form, and no figures.
    error: Option<String>,
});

/// A district's code file that does not parse: said in words staff can act on, and nothing is
/// exported with half a list.
fn codes_error(e: super::csdl::CodesError) -> ApiError {
    tracing::warn!(error = %e, "the CSDL code lists do not parse");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "csdl_codes",
        format!(
            "Tệp danh mục mã CSDL ngành sai, chưa xuất được: {e}. Sửa tệp (xem mẫu csdl-codes.toml trong tài liệu) hoặc xoá nó để dùng danh mục mặc định."
        ),
    )
}

/// At the hub's start, in the background while it serves: first the one-time rebuild of the
/// report parts a hub upgraded from before they were stored lacks (school by school, with a
/// log line of progress every 10 s; the pages say "đang tổng hợp…" for the schools not yet
/// done, and a stop resumes at the next start), then every school's part read once, so the
/// first staff view does not wait for it (bench/hub-scale.sh).
pub fn warm_reports(hub: &Arc<Hub>) {
    let hub = hub.clone();
    tokio::spawn(async move {
        let t = std::time::Instant::now();
        let storage = hub.storage.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut last = std::time::Instant::now();
            super::reports::build_missing_parts(storage.as_ref(), &mut |done, total| {
                if done == total || last.elapsed() >= std::time::Duration::from_secs(10) {
                    last = std::time::Instant::now();
                    tracing::info!(
                        "building the reports' per-school parts from the stored records: {done} of {total} schools"
                    );
                }
            })
        })
        .await;
        match built {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!(schools = n, took = ?t.elapsed(), "the reports' per-school parts are built")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "building the reports' per-school parts stopped; the next start carries on")
            }
            Err(e) => tracing::warn!(error = %e, "building the reports' per-school parts failed"),
        }
        let t = std::time::Instant::now();
        match compute(&hub, &Filter::default(), Some(PAGE_ROWS)).await {
            Ok(_) => tracing::info!(took = ?t.elapsed(), "the reports' per-school sums are ready"),
            Err(e) => tracing::warn!(error = ?e, "the reports could not be read at start"),
        }
    });
}

/// Every report for `filter`, computed off the async threads (it reads every record).
async fn compute(
    hub: &Arc<Hub>,
    filter: &Filter,
    page_rows: Option<usize>,
) -> Result<super::reports::Reports, ApiError> {
    let (hub, filter) = (hub.clone(), filter.clone());
    tokio::task::spawn_blocking(move || {
        let codes = super::csdl::Codes::load(&hub.dir).map_err(codes_error)?;
        Ok(super::reports::reports_for(
            hub.storage.as_ref(),
            &hub.parts,
            &filter,
            hub.silent_days,
            &codes.subject_names(),
            jiff::Timestamp::now(),
            page_rows,
        )?)
    })
    .await
    .map_err(ApiError::internal)?
}

/// A download leaves no school out without saying so: while the hub is still building some
/// schools' parts (once, after an upgrade) the files wait, with the reason.
fn complete(r: super::reports::Reports) -> Result<super::reports::Reports, ApiError> {
    match r.pending_note() {
        Some(note) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reports_pending",
            note,
        )),
        None => Ok(r),
    }
}

/// Rows of one report the staff page shows before it keeps only the totals (see
/// [`super::reports::Table::for_page`]): a district's thirty schools fit, a province's do not.
const PAGE_ROWS: usize = 400;

async fn staff_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Extension(hub): Extension<Arc<Hub>>,
    typed: crate::http::PageQuery<Filter>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    // A bad filter (a bookmark, a link edited by hand, a field given twice) is a page: the
    // message and the form to choose again, not the API's JSON (review r18 #10, r20 #10).
    let wants_page = typed.page;
    let (filter, why) = match typed.filters {
        Err(why) => (Filter::default(), Some(why)),
        Ok(filter) => match filter.check() {
            Err(why) => (filter, Some(why)),
            Ok(()) => {
                let why = unknown_school(&hub, &filter).await?;
                (filter, why)
            }
        },
    };
    crate::http::refusal(wants_page, why.as_ref())?;
    if let Some(why) = why {
        return refused_page(&s, &u, &headers, &hub, why).await;
    }
    let r = compute(&hub, &filter, Some(PAGE_ROWS)).await?;
    let notes = r.pending_note().into_iter().chain(r.silent).collect();
    // The year counted (the newest with data when none was asked) is the form's and the
    // download links': each file is of the year the page shows.
    let filter = Filter {
        year: r.year.clone(),
        ..filter
    };
    Ok(render(StaffPage::new(
        chrome(&s, &u, &headers),
        // The sums' tables come trimmed already; the contact table is drawn per view.
        r.tables
            .into_iter()
            .map(|t| t.for_page(PAGE_ROWS))
            .collect(),
        r.choices,
        notes,
        filter.clone(),
        filter.query(),
        [("1", "Học kì I"), ("2", "Học kì II"), ("CN", "Cả năm")],
        None,
    )))
}

/// A filter's school code that no enrolled school has: why, in Vietnamese (every figure would
/// be empty, as if the school had sent nothing).
async fn unknown_school(hub: &Arc<Hub>, filter: &Filter) -> Result<Option<String>, ApiError> {
    let Some(code) = filter.school.clone() else {
        return Ok(None);
    };
    let storage = hub.storage.clone();
    let known = tokio::task::spawn_blocking(move || {
        Ok::<_, ApiError>(storage.schools()?.iter().any(|s| s.code == code))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((!known).then(|| {
        format!(
            "Không có trường mã “{}” trong các trường đã ghi danh với phòng: chọn trường trong danh sách.",
            filter.school.as_deref().unwrap_or_default()
        )
    }))
}

/// The staff page refusing a filter: the message, the form to choose again and the menu
/// (400), never the API's JSON in a browser.
async fn refused_page(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    headers: &HeaderMap,
    hub: &Arc<Hub>,
    why: String,
) -> Result<Response, ApiError> {
    let r = compute(hub, &Filter::default(), Some(PAGE_ROWS)).await?;
    let page = render(StaffPage::new(
        chrome(s, u, headers),
        vec![],
        r.choices,
        vec![],
        Filter::default(),
        String::new(),
        [("1", "Học kì I"), ("2", "Học kì II"), ("CN", "Cả năm")],
        Some(why),
    ));
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

/// A download's filters, checked as the page checks them ([`Filter::check`],
/// [`unknown_school`]): `Ok(Ok(filter))` to go on; refused, a browser following a download
/// link gets the staff page with the message and the menu (`Ok(Err(page))`, review r24 #9: it
/// got the API's JSON), any other client the JSON `bad_filter` (`Err`).
async fn download_filter(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    headers: &HeaderMap,
    hub: &Arc<Hub>,
    typed: crate::http::PageQuery<Filter>,
) -> Result<Result<Filter, Response>, ApiError> {
    let why = match typed.filters {
        Err(why) => why,
        Ok(filter) => match filter.check() {
            Err(why) => why,
            Ok(()) => match unknown_school(hub, &filter).await? {
                Some(why) => why,
                None => return Ok(Ok(filter)),
            },
        },
    };
    crate::http::refusal(typed.page, Some(&why))?;
    Ok(Err(refused_page(s, u, headers, hub, why).await?))
}

/// [`Filter::check`] and [`unknown_school`], as an API's refusal.
async fn checked(hub: &Arc<Hub>, filter: &Filter) -> Result<(), ApiError> {
    filter.check().map_err(bad_filter)?;
    match unknown_school(hub, filter).await? {
        Some(why) => Err(bad_filter(why)),
        None => Ok(()),
    }
}

fn download(content_type: &'static str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The one table named `file` ("si-so.csv") of `tables`, saved with the school year it counts
/// in its name ("si-so-2026-2027.csv"); the schools' contact is of no year.
fn csv_of(
    tables: &[super::reports::Table],
    file: &str,
    year: Option<&str>,
    filter: &Filter,
) -> Result<Response, ApiError> {
    let id = file.strip_suffix(".csv").ok_or_else(ApiError::not_found)?;
    let t = tables
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(ApiError::not_found)?;
    // Named by its year and the filter it was cut by (review r21 #8): the enrolment and the
    // lesson plans are not of a term, so a term filter does not name them.
    let name = match id {
        "lien-lac" => Filter {
            school: filter.school.clone(),
            ..Filter::default()
        }
        .file_name(id, None, "csv"),
        "si-so" | "ke-hoach" => Filter {
            term: None,
            ..filter.clone()
        }
        .file_name(id, year, "csv"),
        _ => filter.file_name(id, year, "csv"),
    };
    Ok(download(CSV, name, t.csv().into_bytes()))
}

async fn report_csv(
    State(s): State<Shared>,
    headers: HeaderMap,
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    Path(file): Path<String>,
    typed: crate::http::PageQuery<Filter>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    let filter = match download_filter(&s, &u, &headers, &hub, typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let r = complete(compute(&hub, &filter, None).await?)?;
    csv_of(&r.tables, &file, r.year.as_deref(), &filter)
}

async fn xlsx_of(tables: Vec<super::reports::Table>, name: String) -> Result<Response, ApiError> {
    let bytes = tokio::task::spawn_blocking(move || super::reports::xlsx(&tables))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(download(XLSX, name, bytes))
}

/// A CSDL download, built off the async threads in an unlinked file of `dir`'s `tmp/` and then
/// streamed: a province's workbook is hundreds of megabytes, so neither its rows nor the file
/// sit in memory (the sheets grow in temporary files there too; the zip needs a file it can
/// seek in, so the xlsx cannot go straight to the socket — the CSV is built the same way so
/// a failure is still an error answer, not a cut-off file).
async fn csdl_download(
    dir: PathBuf,
    content_type: &'static str,
    name: String,
    write: impl FnOnce(&std::path::Path, &mut std::fs::File) -> Result<(), ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let file = tokio::task::spawn_blocking(move || {
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(ApiError::internal)?;
        let mut f = crate::http::unlinked_file(&tmp, "csdl").map_err(ApiError::internal)?;
        write(&tmp, &mut f)?;
        Ok::<_, ApiError>(f)
    })
    .await
    .map_err(ApiError::internal)??;
    crate::http::stream_file(file, content_type, &name)
}

fn export_error(e: super::csdl::ExportError) -> ApiError {
    match e {
        super::csdl::ExportError::Hub(e) => e.into(),
        e => ApiError::internal(e),
    }
}

/// What a CSDL download asks for: the workbook, or one table's CSV.
#[derive(Clone, Copy)]
enum CsdlFile {
    Xlsx,
    Csv(usize),
}

impl CsdlFile {
    /// The CSV named `file` ("ketquahoctap.csv"); 404 for a table the export lacks.
    fn csv(file: &str) -> Result<CsdlFile, ApiError> {
        super::csdl::table_of(file)
            .map(CsdlFile::Csv)
            .ok_or_else(ApiError::not_found)
    }

    fn content_type(self) -> &'static str {
        match self {
            CsdlFile::Xlsx => XLSX,
            CsdlFile::Csv(_) => CSV,
        }
    }

    /// Every file says the one school year it holds (review r18 #8) and the filter it was cut
    /// by, as every hub download (`Filter::file_name`, review r21 #8): `csdl-2026-2027.xlsx`,
    /// `csdl-2026-2027-truong-79000701-lop-6.xlsx`, `hocsinh-2026-2027.csv`. The term cuts
    /// only the results, so the students' CSV is not named by it.
    fn name(self, filter: &Filter, year: &str) -> String {
        match self {
            CsdlFile::Xlsx => filter.file_name("csdl", Some(year), "xlsx"),
            CsdlFile::Csv(0) => Filter {
                term: None,
                ..filter.clone()
            }
            .file_name(super::csdl::TABLES[0].0, Some(year), "csv"),
            CsdlFile::Csv(t) => filter.file_name(super::csdl::TABLES[t].0, Some(year), "csv"),
        }
    }

    /// Writes `source`'s export of what `sel` selects into `out`.
    fn write(
        self,
        source: super::csdl::Source,
        codes: &super::csdl::Codes,
        sel: &super::csdl::Selection,
        tmp: &std::path::Path,
        out: &mut std::fs::File,
    ) -> Result<(), ApiError> {
        match self {
            CsdlFile::Xlsx => {
                super::csdl::write_xlsx(source, codes, sel, tmp, super::csdl::SHEET_ROWS, out)
            }
            CsdlFile::Csv(t) => super::csdl::write_csv(source, codes, sel, t, out),
        }
        .map_err(export_error)
    }
}

/// The sector-database export for one school year: the one asked, else the year the reports
/// show with no year asked (`Reports::year`: the newest with students or results) — never
/// several years in one file, which the sector's import would read as one —, cut by the
/// page's other filters as every hub download is: one school (only its records read), one
/// grade, one term (the results). A filter that selects nothing gives the headers only.
/// Only a checked filter reaches it (`checked`).
async fn hub_csdl(hub: &Arc<Hub>, filter: Filter, file: CsdlFile) -> Result<Response, ApiError> {
    let year = match filter.year.clone() {
        Some(y) => y,
        None => match compute(hub, &filter, Some(0)).await?.year {
            Some(y) => y,
            None => this_school_year(),
        },
    };
    let h = hub.clone();
    let name = file.name(&filter, &year);
    csdl_download(
        hub.dir.clone(),
        file.content_type(),
        name,
        move |tmp, out| {
            let codes = super::csdl::Codes::load(&h.dir).map_err(codes_error)?;
            let source = super::csdl::Source::Hub(h.storage.as_ref());
            let sel = super::csdl::Selection {
                year: Some(&year),
                school: filter.school.as_deref(),
                // Checked: 1 to 12.
                grade: filter.grade.as_deref().and_then(|g| g.parse().ok()),
                term: filter.term.as_deref(),
            };
            file.write(source, &codes, &sel, tmp, out)
        },
    )
    .await
}

/// The school year of today (1 August to 31 July), Vietnam time: a hub with no data yet.
fn this_school_year() -> String {
    let d = jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .date();
    let start = if d.month() >= 8 {
        d.year()
    } else {
        d.year() - 1
    };
    format!("{start}-{}", start + 1)
}

/// A filter that names no year, grade, term or school code the reports know: said, not
/// silently ignored (an unknown value used to show every school's figures as if filtered).
fn bad_filter(why: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_filter", why)
}

async fn csdl_xlsx(
    State(s): State<Shared>,
    headers: HeaderMap,
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    typed: crate::http::PageQuery<Filter>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    let filter = match download_filter(&s, &u, &headers, &hub, typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    hub_csdl(&hub, filter, CsdlFile::Xlsx).await
}

async fn csdl_csv(
    State(s): State<Shared>,
    headers: HeaderMap,
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    Path(file): Path<String>,
    typed: crate::http::PageQuery<Filter>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    let filter = match download_filter(&s, &u, &headers, &hub, typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let file = CsdlFile::csv(&file)?;
    hub_csdl(&hub, filter, file).await
}

/// A school's own sector-database export (`/api/v1/csdl.xlsx`, `/api/v1/csdl/{table}.csv`),
/// read from its tables through the same layout as the hub's.
pub fn school_export() -> Router<Shared> {
    Router::new()
        .route("/csdl.xlsx", get(school_csdl_xlsx))
        .route("/csdl/{file}", get(school_csdl_csv))
}

/// The school's own export, through the same writer as the hub's: of the year asked, else of
/// the school year in force (`school_info`'s, what its pages show) — one year a file.
async fn school_csdl(
    st: &Shared,
    year: Option<String>,
    file: CsdlFile,
) -> Result<Response, ApiError> {
    let year = match year {
        Some(y) => y,
        None => crate::school::routes::current_year(st)?,
    };
    let store = st.store.clone();
    let name = file.name(&Filter::default(), &year);
    csdl_download(
        store.dir().to_path_buf(),
        file.content_type(),
        name,
        move |tmp, out| {
            let codes = super::csdl::Codes::load(store.dir()).map_err(codes_error)?;
            let records = super::csdl::SchoolRecords::from_school(&store.read()?)?;
            let source = super::csdl::Source::School(records);
            file.write(
                source,
                &codes,
                &super::csdl::Selection::year(Some(&year)),
                tmp,
                out,
            )
        },
    )
    .await
}

async fn school_csdl_xlsx(
    State(st): State<Shared>,
    u: crate::auth::extract::ApiUser,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    filter.check().map_err(bad_filter)?;
    school_csdl(&st, filter.year, CsdlFile::Xlsx).await
}

async fn school_csdl_csv(
    State(st): State<Shared>,
    u: crate::auth::extract::ApiUser,
    Path(file): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    filter.check().map_err(bad_filter)?;
    school_csdl(&st, filter.year, CsdlFile::csv(&file)?).await
}

/// "Kiểm tra học bạ số": staff post a signed học bạ PDF (raw body) and get the school it
/// chains to and each signature; 422 `unknown_school` when no enrolled school's CA signed it.
async fn verify_hocba(
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_staff(&u)?;
    let storage = hub.storage.clone();
    let dir = hub.dir.clone();
    let r = tokio::task::spawn_blocking(move || super::verify_hocba(storage.as_ref(), &dir, &body))
        .await
        .map_err(ApiError::internal)?;
    match r {
        Ok(v) => Ok(Json(v)),
        Err(super::VerifyError::Hub(e)) => Err(e.into()),
        Err(e @ super::VerifyError::UnknownSchool) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_school",
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_verifiable",
            e.to_string(),
        )),
    }
}

async fn schools_json(
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_staff(&u)?;
    let names = super::reports::school_names(&*hub.storage, &hub.parts)?;
    let schools: Vec<serde_json::Value> = hub
        .storage
        .schools()?
        .into_iter()
        .map(|s| {
            // `name`: what was typed at enrolment; `display_name`: what pages show.
            let display = names
                .get(&s.code)
                .cloned()
                .unwrap_or_else(|| s.code.clone());
            json!({
                "code": s.code, "name": s.name, "display_name": display,
                "enrolled_at": s.enrolled_at,
                "reenrolled_at": s.reenrolled_at,
                "last_seq": s.last_seq, "last_outbox": s.last_outbox,
                "last_contact": s.last_contact, "bytes": s.bytes, "batches": s.batches,
                "records": s.records, "backlog": s.backlog, "errors": s.errors,
                "fingerprint": crate::pki::key_fingerprint_hex(&s.public_key),
            })
        })
        .collect();
    Ok(Json(json!({ "schools": schools })))
}

/// The reports' counts of one school year, as JSON ([`super::Stats`]); a filter that does not
/// read is 400 `bad_filter`, as for the downloads.
async fn stats_json(
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    Query(filter): Query<Filter>,
) -> Result<Json<super::Stats>, ApiError> {
    require_staff(&u)?;
    checked(&hub, &filter).await?;
    let st = tokio::task::spawn_blocking(move || {
        let codes = super::csdl::Codes::load(&hub.dir).map_err(codes_error)?;
        Ok::<_, ApiError>(super::stats(
            hub.storage.as_ref(),
            &hub.parts,
            &filter,
            &codes.subject_names(),
        )?)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(st))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn schools_csv(
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    // UTF-8 with a BOM so Excel opens Vietnamese correctly.
    let mut out = String::from(
        "\u{feff}Mã trường,Tên trường,Đăng ký lại,Liên lạc lần cuối,Số lô,Số bản ghi,Dung lượng,Còn chờ gửi,Lỗi,Dấu vân tay khoá Trạm\n",
    );
    for r in rows(&hub)? {
        out += &[
            csv_field(&r.code),
            csv_field(&r.name),
            csv_field(&r.reenrolled),
            csv_field(&r.last_contact),
            r.batches.to_string(),
            r.records.to_string(),
            csv_field(&r.bytes),
            r.backlog.to_string(),
            csv_field(&r.last_error),
            csv_field(&r.fingerprint),
        ]
        .join(",");
        out.push('\n');
    }
    // The list as of today, named by the day (review r20 #11: never a bare "truong.csv").
    let today = jiff::Zoned::now()
        .with_time_zone(crate::school::time_zone())
        .date();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"danh-sach-truong-{today}.csv\""),
            ),
        ],
        out,
    )
        .into_response())
}

/// Every report as one workbook, a sheet each, for the filter asked.
async fn xlsx(
    State(s): State<Shared>,
    headers: HeaderMap,
    u: crate::auth::extract::ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    typed: crate::http::PageQuery<Filter>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    let filter = match download_filter(&s, &u, &headers, &hub, typed).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let r = complete(compute(&hub, &filter, None).await?)?;
    // Named for the school year its figures are of and the filter (review r21 #8).
    let name = filter.file_name("phong-gd", r.year.as_deref(), "xlsx");
    xlsx_of(r.tables, name).await
}

// ---------------------------------------------------------------------------------------------
// Publishing from the page (issue 23 item 4): the district admin uploads a file with the
// library's resumable uploads (a raw session: the hub checks the file itself), then publishes
// it with the functions `tram district publish-update` / `publish-library` call, as themselves.

fn require_publisher(u: &ApiUser) -> Result<(), ApiError> {
    u.require(Action::PublishDistrict)
}

/// A refused file: the reason in Vietnamese, nothing listed on the downlink.
fn not_published(e: super::PublishError) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_published", e.vi())
}

#[derive(Deserialize)]
struct StartUpload {
    name: String,
    size: u64,
}

fn upload_json(sess: &upload::Session, offset: u64) -> Json<serde_json::Value> {
    Json(json!({
        "id": sess.id, "name": sess.name, "size": sess.size, "offset": offset,
        "done": offset == sess.size, "url": format!("/district/api/uploads/{}", sess.id),
        "chunk": upload::CHUNK,
    }))
}

async fn start_upload(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<StartUpload>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    require_publisher(&u)?;
    let b = crate::http::json_body(b)?;
    let store = s.store.clone();
    let owner = u.principal.id().to_string();
    let sess =
        tokio::task::spawn_blocking(move || upload::start_raw(&store, &owner, &b.name, b.size))
            .await
            .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, upload_json(&sess, 0)))
}

async fn upload_status(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_publisher(&u)?;
    let (sess, have) = upload::status(&s.store, u.principal.id(), &id)?;
    Ok(upload_json(&sess, have))
}

async fn upload_append(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_publisher(&u)?;
    let (sess, have) = crate::library::routes::append_chunk(&s, &u, id, &headers, body).await?;
    Ok(upload_json(&sess, have))
}

async fn upload_cancel(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_publisher(&u)?;
    upload::status(&s.store, u.principal.id(), &id)?;
    upload::remove(&s.store, &id);
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes the finished upload `id` with `publish`, as `u`. The upload ends either way (a
/// refused file is not kept); a refusal is audited with its reason.
async fn publish_upload(
    s: &Shared,
    u: &ApiUser,
    id: String,
    publish: impl FnOnce(
        &crate::store::Store,
        &std::path::Path,
        &str,
        &crate::store::Actor,
    ) -> Result<super::Published, super::PublishError>
    + Send
    + 'static,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let owner = u.principal.id().to_string();
    let store = s.store.clone();
    let actor = u.actor();
    // All of it on the blocking side, the answer kept before the session goes: a page whose
    // link dropped while the hub published cancels this handler, not the publishing, and its
    // second ask (web/static/district.js) must find the answer it missed.
    let (status, answer, name) = tokio::task::spawn_blocking(
        move || -> Result<(StatusCode, serde_json::Value, Option<String>), ApiError> {
            // The same upload published again: nothing published twice.
            if let Some(answer) = upload::used(&store, &owner, &id) {
                return Ok((StatusCode::OK, answer, None));
            }
            let (sess, _) = upload::status(&store, &owner, &id)?;
            let file = upload::take_raw(&store, &owner, &id)?;
            match publish(&store, &file, &sess.name, &actor) {
                Ok(p) => {
                    // An update or a shared file goes to every school: no school to name.
                    let row = published_row(&p, &BTreeMap::new(), &people(&store)?);
                    let answer = json!({ "published": row });
                    upload::mark_used(&store, &owner, &id, &answer);
                    upload::remove(&store, &id);
                    Ok((StatusCode::CREATED, answer, Some(p.name)))
                }
                Err(e) => {
                    upload::remove(&store, &id);
                    tracing::warn!(file = %sess.name, error = %e, "not published");
                    let detail =
                        json!({"file": sess.name, "size": sess.size, "why": e.to_string()});
                    store.write(&actor, |tx| -> Result<(), crate::store::StoreError> {
                        tx.event("downlink.refuse", &sess.name, Some(detail));
                        Ok(())
                    })?;
                    Err(not_published(e))
                }
            }
        },
    )
    .await
    .map_err(ApiError::internal)??;
    if let Some(name) = name {
        tracing::info!(name = %name, by = %u.principal.id(), "published from the page");
    }
    Ok((status, Json(answer)))
}

#[derive(Deserialize)]
struct PublishUpdate {
    upload: String,
}

async fn publish_update(
    State(s): State<Shared>,
    u: ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
    b: JsonBody<PublishUpdate>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    require_publisher(&u)?;
    let b = crate::http::json_body(b)?;
    let key = super::release_key_path(&hub.dir);
    publish_upload(&s, &u, b.upload, move |store, file, _, by| {
        super::publish_update_as(store, file, &key, by)
    })
    .await
}

#[derive(Deserialize)]
struct PublishLibrary {
    upload: String,
    title: String,
    kind: crate::library::ItemKind,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    grade: Option<u8>,
    #[serde(default)]
    description: String,
}

async fn publish_library(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<PublishLibrary>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    require_publisher(&u)?;
    let b = crate::http::json_body(b)?;
    publish_upload(&s, &u, b.upload, move |store, file, name, by| {
        let item = super::SharedItem {
            title: b.title,
            kind: b.kind,
            subject: b.subject.filter(|x| !x.trim().is_empty()),
            grade: b.grade,
            description: b.description,
            file_name: name.to_string(),
        };
        super::publish_library_as(store, file, item, by)
    })
    .await
}

/// Account id → full name of the hub's accounts: who published or decided, as people read it.
fn people(store: &crate::store::Store) -> Result<HashMap<String, String>, ApiError> {
    Ok(crate::auth::list_accounts(&store.read()?)?
        .into_iter()
        .map(|a| (a.id, a.full_name))
        .collect())
}

/// Who published `p`, as the page names them: the account's full name, "dòng lệnh" for the
/// command line (no account), the id only for an account since removed.
fn publisher(p: &super::Published, people: &HashMap<String, String>) -> String {
    match &p.by {
        // The CLI writes as the store's "system" actor (review r16 #10: the page said "system").
        None => "dòng lệnh".into(),
        Some(id) if id == "system" => "dòng lệnh (quản trị máy chủ)".into(),
        Some(id) => people.get(id).cloned().unwrap_or_else(|| id.clone()),
    }
}

/// One published file as the page and the API show it: what, to whom, when, by whom — names
/// for people (`to`, `by_name`) beside the codes for machines (`school`, `by`).
fn published_row(
    p: &super::Published,
    names: &BTreeMap<String, String>,
    people: &HashMap<String, String>,
) -> serde_json::Value {
    let title = p
        .meta
        .as_ref()
        .and_then(|m| m["title"].as_str())
        .unwrap_or_default();
    json!({
        "id": p.id, "kind": p.kind, "name": p.name, "title": title, "version": p.version,
        "arch": p.arch, "size": p.len, "published_at": p.published_at, "by": p.by,
        "by_name": publisher(p, people), "to": p.audience(names), "school": p.school(),
    })
}

async fn published_json(
    State(s): State<Shared>,
    u: ApiUser,
    Extension(hub): Extension<Arc<Hub>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_staff(&u)?;
    let names = super::reports::school_names(&*hub.storage, &hub.parts)?;
    let people = people(&s.store)?;
    let items: Vec<_> = super::downlink(&s.store)?
        .iter()
        .rev()
        .map(|p| published_row(p, &names, &people))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// A published file as the page's table shows it.
pub(crate) struct PublishedRow {
    what: String,
    kind: &'static str,
    to: String,
    at: String,
    by: String,
    size: String,
}

page!(HocbaVerifyPage, "district_hocba.html" {});

/// "Kiểm tra học bạ số" for the district's staff: the page's script posts the chosen PDF to
/// `/district/api/hocba/verify` and shows the school and each signature.
async fn hocba_verify_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    Ok(render(HocbaVerifyPage::new(chrome(&s, &u, &headers))))
}

page!(PublishPage, "district_publish.html" {
    rows: Vec<PublishedRow>,
    shared: Vec<super::hold::SharedUp>,
    can_publish: bool,
    kinds: Vec<(&'static str, &'static str)>,
    release_key: String,
});

async fn publish_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Extension(hub): Extension<Arc<Hub>>,
) -> Result<Response, ApiError> {
    require_staff(&u)?;
    let names = super::reports::school_names(&*hub.storage, &hub.parts)?;
    let people = people(&s.store)?;
    let rows = super::downlink(&s.store)?
        .into_iter()
        .rev()
        .map(|p| PublishedRow {
            what: match p.kind.as_str() {
                "update" => format!("Trạm {} ({})", p.version, p.arch),
                "library" => {
                    let title = p
                        .meta
                        .as_ref()
                        .and_then(|m| m["title"].as_str())
                        .unwrap_or_default();
                    format!("{title} — {}", p.name)
                }
                super::LIBRARY_REVIEW => {
                    let m = p.meta.clone().unwrap_or_default();
                    let title = m["title"]
                        .as_str()
                        .or(m["item"].as_str())
                        .unwrap_or_default();
                    match m["reason"].as_str() {
                        Some(r) if m["approved"] != true => format!("Từ chối “{title}”: {r}"),
                        _ => format!("Đã duyệt “{title}”"),
                    }
                }
                // The account as the district typed it (`--account`): the hub holds no names of
                // a school's staff; the reason is what the school is told.
                "key-reset" => {
                    let m = p.meta.clone().unwrap_or_default();
                    format!(
                        "Đặt lại khoá ký của tài khoản {}: {}",
                        m["account"].as_str().unwrap_or_default(),
                        m["reason"].as_str().unwrap_or_default()
                    )
                }
                _ => p.name.clone(),
            },
            kind: match p.kind.as_str() {
                "update" => "Bản cập nhật",
                "library" => "Học liệu dùng chung",
                "key-reset" => "Đặt lại khoá ký",
                super::LIBRARY_REVIEW => "Kết quả duyệt tài liệu",
                _ => "Khác",
            },
            to: p.audience(&names),
            at: p
                .published_at
                .parse::<jiff::Timestamp>()
                .map(|t| {
                    t.to_zoned(crate::school::time_zone())
                        .strftime("%H:%M %d/%m/%Y")
                        .to_string()
                })
                .unwrap_or(p.published_at.clone()),
            by: publisher(&p, &people),
            size: crate::text::human_size(p.len),
        })
        .collect();
    let can_publish = crate::auth::permits(&u.principal, Action::PublishDistrict);
    let kinds = crate::library::ItemKind::ALL
        .iter()
        .filter(|k| !matches!(k, crate::library::ItemKind::Book))
        .map(|k| (k.as_str(), k.label()))
        .collect();
    let release_key = super::release_key_path(&hub.dir).display().to_string();
    let store = s.store.clone();
    let storage = hub.storage.clone();
    let shared =
        tokio::task::spawn_blocking(move || super::hold::shared_up(&*storage, &store, &names))
            .await
            .map_err(ApiError::internal)??;
    Ok(render(PublishPage::new(
        chrome(&s, &u, &headers),
        rows,
        shared,
        can_publish,
        kinds,
        release_key,
    )))
}
