//! Library API, file streaming (Range 206, ETag 304, never compressed) and the OPDS feed.

use crate::http::Query;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceExt;

use super::{ITEMS, ItemInput, LibraryError, upload};
use crate::auth::extract::{ApiUser, MaybeUser};
use crate::auth::{Action, permits};
use crate::http::{ApiError, JsonBody, Shared};

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/library/search", get(search))
        .route("/library/items", post(create))
        .route(
            "/library/items/{id}",
            get(get_item).put(update).delete(delete),
        )
        .route("/library/items/{id}/review", post(review))
        .route("/library/review", get(review_queue))
        .route("/library/uploads", post(start_upload))
        .route(
            "/library/uploads/{id}",
            get(upload_status).patch(append).delete(cancel),
        )
        .route("/library/import", post(import_folder))
        .route("/library/loans", get(list_loans).post(lend))
        .route("/library/loans/{id}/return", post(give_back))
}

/// Outside `/api/v1`: files (for `<video>`, PDF viewers and e-readers) and the OPDS feed.
pub fn files() -> Router<Shared> {
    Router::new()
        .route("/library/file/{id}", get(file))
        .route("/library/cover/{id}", get(cover))
        .route("/opds", get(super::opds::root))
        .route("/opds/new", get(super::opds::newest))
        .route("/opds/search", get(super::opds::search))
        .route("/opds/search.xml", get(super::opds::opensearch))
}

async fn search(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<super::Query>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::UseLibrary)?;
    if let Some(why) = super::unknown_filter(&s.store.read()?, &q)? {
        return Err(crate::http::bad_filter(why));
    }
    let store = s.store.clone();
    let hits =
        tokio::task::spawn_blocking(move || super::search(&store.read()?, Some(&u.principal), &q))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(json!({ "total": hits.total, "items": hits.items })))
}

async fn get_item(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let item = visible_item(&s, Some(&u.principal), &id)?;
    Ok(Json(json!({ "item": item })))
}

/// The item if `p` may see it; otherwise (or if there is none) 404, so hidden items do not
/// reveal that they exist.
pub(crate) fn visible_item(
    s: &Shared,
    p: Option<&crate::auth::Principal>,
    id: &str,
) -> Result<super::Item, ApiError> {
    s.store
        .read()?
        .get(&ITEMS, id)?
        .filter(|i| super::visible(p, i))
        .ok_or_else(ApiError::not_found)
}

/// Takes the finished uploads an input names (file and cover) out of their sessions.
fn uploads_of(
    s: &Shared,
    owner: &str,
    input: &ItemInput,
) -> Result<(Option<super::FileRef>, Option<String>), LibraryError> {
    let file = input
        .upload
        .as_deref()
        .map(|id| upload::take(&s.store, owner, id))
        .transpose()?;
    let cover = match input.cover_upload.as_deref() {
        Some(id) => {
            let f = upload::take(&s.store, owner, id)?;
            if f.size > 5 << 20 {
                return Err(LibraryError::Invalid("Ảnh bìa tối đa 5 MB.".into()));
            }
            if !f.mime.starts_with("image/") {
                return Err(LibraryError::Invalid(
                    "Ảnh bìa phải là JPG hoặc PNG.".into(),
                ));
            }
            Some(f.blob)
        }
        None => None,
    };
    Ok((file, cover))
}

async fn save(
    s: Shared,
    u: ApiUser,
    id: Option<String>,
    input: ItemInput,
) -> Result<super::Item, ApiError> {
    let (file, cover) = uploads_of(&s, u.principal.id(), &input)?;
    let sessions: Vec<String> = [input.upload.clone(), input.cover_upload.clone()]
        .into_iter()
        .flatten()
        .collect();
    let p = u.principal.clone();
    let item = crate::auth::extract::write_as(&s, &u, move |tx| {
        super::save_item(tx, &p, id.as_deref(), input, file, cover)
    })
    .await?;
    for id in sessions {
        upload::remove(&s.store, &id);
    }
    Ok(item)
}

async fn create(
    State(s): State<Shared>,
    u: ApiUser,
    input: JsonBody<ItemInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let input = crate::http::json_body(input)?;
    let item = save(s, u, None, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "item": item }))))
}

async fn update(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    input: JsonBody<ItemInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input = crate::http::json_body(input)?;
    let item = save(s, u, Some(id), input).await?;
    Ok(Json(json!({ "item": item })))
}

async fn delete(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = u.principal.clone();
    let item =
        crate::auth::extract::write_as(&s, &u, move |tx| super::delete_item(tx, &p, &id)).await?;
    Ok(Json(json!({ "deleted": item.id })))
}

/// What waits for the signed-in reviewer.
async fn review_queue(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    super::vetting::require_reviewer(&u.principal)?;
    let items = super::vetting::queue(&s.store.read()?, &u.principal)?;
    Ok(Json(json!({ "items": items })))
}

/// Accepts an item or returns it to its owner with a reason.
async fn review(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    d: JsonBody<super::vetting::Decision>,
) -> Result<Json<serde_json::Value>, ApiError> {
    super::vetting::require_reviewer(&u.principal)?;
    let d = crate::http::json_body(d)?;
    let p = u.principal.clone();
    let item =
        crate::auth::extract::write_as(&s, &u, move |tx| super::vetting::decide(tx, &p, &id, d))
            .await?;
    let message = if item.review.state == super::ReviewState::Returned {
        "Đã trả lại tài liệu cho người đăng."
    } else {
        "Đã thẩm định tài liệu."
    };
    Ok(Json(json!({ "item": item, "message": message })))
}

#[derive(Deserialize)]
struct StartUpload {
    name: String,
    size: u64,
}

fn quota(s: &Shared, u: &ApiUser) -> Result<Option<upload::Quota>, ApiError> {
    if permits(&u.principal, Action::ManageLibrary) {
        return Ok(None);
    }
    Ok(Some(upload::Quota {
        limit: upload::TEACHER_QUOTA,
        stored: super::used_bytes(&s.store.read()?, u.principal.id())?,
    }))
}

async fn start_upload(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<StartUpload>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let b = crate::http::json_body(b)?;
    u.require(Action::UseLibrary)?;
    let left = quota(&s, &u)?;
    let store = s.store.clone();
    let owner = u.principal.id().to_string();
    let sess =
        tokio::task::spawn_blocking(move || upload::start(&store, &owner, &b.name, b.size, left))
            .await
            .map_err(ApiError::internal)??;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": sess.id, "offset": 0, "size": sess.size, "chunk": upload::CHUNK })),
    ))
}

fn session_json(sess: &upload::Session, offset: u64) -> Json<serde_json::Value> {
    Json(json!({
        "id": sess.id, "name": sess.name, "size": sess.size, "offset": offset,
        "done": sess.done.is_some(), "file": sess.done,
    }))
}

async fn upload_status(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (sess, have) = upload::status(&s.store, u.principal.id(), &id)?;
    Ok(session_json(&sess, have))
}

async fn append(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (sess, have) = append_chunk(&s, &u, id, &headers, body).await?;
    Ok(session_json(&sess, have))
}

/// A chunk of `u`'s upload `id` at the offset its Upload-Offset header names: the library's
/// route and the district hub's publishing route both take chunks this way.
pub(crate) async fn append_chunk(
    s: &Shared,
    u: &ApiUser,
    id: String,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(upload::Session, u64), ApiError> {
    let offset: u64 = headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("Thiếu tiêu đề Upload-Offset."))?;
    let store = s.store.clone();
    let owner = u.principal.id().to_string();
    Ok(
        tokio::task::spawn_blocking(move || upload::append(&store, &owner, &id, offset, &body))
            .await
            .map_err(ApiError::internal)??,
    )
}

async fn cancel(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    upload::status(&s.store, u.principal.id(), &id)?;
    upload::remove(&s.store, &id);
    Ok(StatusCode::NO_CONTENT)
}

/// Streams a blob with Range support; the ETag is its content hash.
pub(crate) async fn serve_blob(
    s: &Shared,
    blob: &str,
    mime: &str,
    name: Option<&str>,
    req: Request,
) -> Result<Response, ApiError> {
    let etag = format!("\"{blob}\"");
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let path = s
        .store
        .blobs
        .path_of(blob)
        .ok_or_else(ApiError::not_found)?;
    let mime: mime::Mime = mime.parse().unwrap_or(mime::APPLICATION_OCTET_STREAM);
    // 256 KiB reads (the default 64 KiB costs a fifth of the throughput on a 1 GB file).
    let mut res = tower_http::services::ServeFile::new_with_mime(path, &mime)
        .with_buf_chunk_size(256 * 1024)
        .oneshot(req)
        .await
        .map_err(ApiError::internal)?
        .map(Body::new);
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    if let Some(n) = name {
        let v = format!("inline; filename*=UTF-8''{}", crate::http::urlencode(n));
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(res)
}

async fn file(
    State(s): State<Shared>,
    MaybeUser(p): MaybeUser,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let item = visible_item(&s, p.as_ref(), &id)?;
    let f = item.file.ok_or_else(ApiError::not_found)?;
    serve_blob(&s, &f.blob, &f.mime, Some(&f.name), req).await
}

async fn cover(
    State(s): State<Shared>,
    MaybeUser(p): MaybeUser,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let item = visible_item(&s, p.as_ref(), &id)?;
    let blob = item.cover.ok_or_else(ApiError::not_found)?;
    let mut head = [0u8; 16];
    let n = s
        .store
        .blobs
        .open_blob(&blob)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(ApiError::internal)?;
    let mime = upload::sniff(&head[..n]).unwrap_or("application/octet-stream");
    serve_blob(&s, &blob, mime, None, req).await
}

#[derive(Deserialize)]
struct LoanQuery {
    #[serde(default)]
    overdue: bool,
    student: Option<String>,
}

async fn list_loans(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<LoanQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageLibrary)?;
    let today = jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .date();
    let rx = s.store.read()?;
    // A student that names nobody is refused as the page refuses it, never an empty history
    // (review r24 #9).
    let student = q.student.as_deref().filter(|st| !st.trim().is_empty());
    if let Some(st) = student
        && rx.get(&crate::school::STUDENTS, st)?.is_none()
    {
        return Err(crate::http::bad_filter(format!(
            "Không có học sinh mã “{}” trong trường: chọn một học sinh trong danh sách mượn sách.",
            st.chars().take(40).collect::<String>()
        )));
    }
    let loans = super::loans(&rx, today, q.overdue, student)?;
    Ok(Json(json!({ "loans": loans })))
}

#[derive(Deserialize)]
struct LendBody {
    item: String,
    student: String,
    due: jiff::civil::Date,
}

async fn lend(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<LendBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let b = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let loan = crate::auth::extract::write_as(&s, &u, move |tx| {
        super::lend(tx, &p, &b.item, &b.student, b.due)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "loan": loan }))))
}

async fn give_back(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = u.principal.clone();
    let loan =
        crate::auth::extract::write_as(&s, &u, move |tx| super::give_back(tx, &p, &id)).await?;
    Ok(Json(json!({ "loan": loan })))
}

#[derive(Deserialize)]
struct ImportBody {
    /// A folder on the box (a mounted USB stick), e.g. /media/usb/thu-vien.
    folder: std::path::PathBuf,
    /// The spreadsheet, inside that folder.
    sheet: String,
    #[serde(default)]
    commit: bool,
}

/// Bulk import from a folder on the box: a preview of every row and problem, then (with
/// `commit`) all items in one transaction. School IT only: it reads the box's file system.
async fn import_folder(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<ImportBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    u.require(Action::ManageDevice)?;
    if b.sheet.contains(['/', '\\']) || b.sheet.starts_with('.') {
        return Err(ApiError::bad_request(
            "Tên bảng tính không được chứa đường dẫn.",
        ));
    }
    let store = s.store.clone();
    let p = u.principal.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let bytes = crate::school::sheet::read_file(&b.folder.join(&b.sheet)).map_err(|_| {
            ApiError::bad_request(format!(
                "Không đọc được bảng tính “{}” trong thư mục.",
                b.sheet
            ))
        })?;
        let plan = super::import::plan(&store.read()?, &b.folder, &bytes)?;
        if !b.commit || !plan.problems.is_empty() {
            return Ok(json!({ "preview": plan, "committed": false }));
        }
        let n = super::import::apply(&store, &p, plan)?;
        Ok(json!({ "imported": n, "committed": true }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(out))
}

impl From<crate::library::LibraryError> for ApiError {
    fn from(e: crate::library::LibraryError) -> Self {
        use crate::library::LibraryError as L;
        let status = match &e {
            L::Store(s) => return ApiError::internal(s),
            L::NotFound | L::UploadGone => StatusCode::NOT_FOUND,
            L::Forbidden | L::NotReviewer(_) => StatusCode::FORBIDDEN,
            L::DuplicateIsbn { .. } | L::NoCopies(_) | L::OutOfOrder(_) | L::Review(_) => {
                StatusCode::CONFLICT
            }
            L::Invalid(_) | L::Upload(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut err = ApiError::new(status, e.code(), e.to_string());
        if let L::OutOfOrder(have) = e {
            err.details = Some(json!({ "offset": have }));
        }
        err
    }
}
