//! Lesson-plan API: plans and versions, attachments, the workflow (submit, review, approve,
//! approve a month), signing keys, the dashboard with its long-poll for live updates,
//! verification, export and publishing to the library.

use crate::http::Query;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::sign::{self, KEYS};
use super::{LessonError, PLANS, PlanInput, export};
use crate::auth::extract::ApiUser;
use crate::auth::{Action, Principal, permits};
use crate::http::{ApiError, JsonBody, Shared};
use crate::store::Read;

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/lessons/plans", get(list).post(create))
        .route(
            "/lessons/plans/{id}",
            get(get_plan).put(edit).delete(remove),
        )
        .route("/lessons/plans/{id}/files", post(attach))
        .route("/lessons/plans/{id}/files/{blob}", delete(detach))
        .route("/lessons/plans/{id}/submit", post(submit))
        .route("/lessons/plans/{id}/review", post(review))
        .route("/lessons/plans/{id}/approve", post(approve))
        .route("/lessons/plans/{id}/publish", post(publish))
        .route("/lessons/approve-month", post(approve_month))
        .route("/lessons/uploads", post(start_upload))
        .route("/lessons/key", get(key_status).post(make_key))
        .route("/lessons/keys/{account}/reset", post(reset_key))
        .route("/lessons/config", get(get_config).put(put_config))
        .route("/lessons/dashboard", get(dashboard))
        .route("/lessons/changes", get(changes))
        .route("/lessons/verify", get(verify))
}

/// Outside `/api/v1`: attachments and exports (downloads the browser opens directly).
pub fn files() -> Router<Shared> {
    Router::new()
        .route("/lessons/file/{id}/{version}/{blob}", get(file))
        .route("/lessons/export.pdf", get(export_pdf))
        .route("/lessons/export.zip", get(export_zip))
        .route("/lessons/approval.pdf", get(approval_pdf))
}

pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

async fn list(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<super::Query>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = s.store.clone();
    let plans = blocking(move || {
        let rx = store.read()?;
        if let Some(why) = super::check_filters(&rx, &q)? {
            return Err(crate::http::bad_filter(why));
        }
        if q.mine {
            Ok(super::waiting_for(&rx, &u.principal)?)
        } else {
            Ok(super::search(&rx, &u.principal, &q, q.limit())?)
        }
    })
    .await?;
    Ok(Json(json!({ "plans": plans })))
}

/// A write of the workflow as the signed-in user, then a nudge to the live pages.
async fn write<R: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    f: impl FnOnce(&mut crate::store::Tx<'_>) -> Result<R, LessonError> + Send + 'static,
) -> Result<R, ApiError> {
    let r = crate::auth::extract::write_as(s, u, f).await?;
    s.part::<super::Live>()?.changed();
    Ok(r)
}

async fn create(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<PlanInput>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // The gate before the body (the domain checks it again).
    u.require(Action::SubmitLessonPlans)?;
    let input = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let plan = write(&s, &u, move |tx| super::create(tx, &p, input)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "plan": plan }))))
}

/// The plan if `p` may read it (404 otherwise, so hidden plans do not reveal they exist).
/// Readers who do not see work in progress get the plan as its approved version shows it.
pub(crate) fn readable(rx: &impl Read, p: &Principal, id: &str) -> Result<super::Plan, ApiError> {
    match rx.get(&PLANS, id)? {
        Some(plan) => super::seen_by(rx, p, plan)?.ok_or_else(ApiError::not_found),
        None => Err(ApiError::not_found()),
    }
}

/// The versions of a plan `p` may see: all of them for those who see work in progress,
/// otherwise only approved ones.
pub(crate) fn visible_versions(
    rx: &impl Read,
    p: &Principal,
    plan: &super::Plan,
) -> Result<Vec<super::Version>, ApiError> {
    let all = super::versions(rx, &plan.id)?;
    Ok(if super::sees_work(p, plan) {
        all
    } else {
        all.into_iter()
            .filter(|v| v.state == super::State::Approved)
            .collect()
    })
}

async fn get_plan(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rx = s.store.read()?;
    let plan = readable(&rx, &u.principal, &id)?;
    let versions = visible_versions(&rx, &u.principal, &plan)?;
    // The link named and resolved as the Phụ lục III page resolves it (review r16 #7).
    let link = (s.part::<super::LinkResolver>()?.0)(&rx, &plan)?;
    Ok(Json(
        json!({ "plan": plan, "versions": versions, "link": link }),
    ))
}

async fn edit(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let patch = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let plan = write(&s, &u, move |tx| super::edit_patch(tx, &p, &id, patch)).await?;
    Ok(Json(json!({ "plan": plan })))
}

async fn remove(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = u.principal.clone();
    let gone = id.clone();
    write(&s, &u, move |tx| super::delete(tx, &p, &id)).await?;
    Ok(Json(json!({ "deleted": gone })))
}

#[derive(Deserialize)]
struct StartUpload {
    name: String,
    size: u64,
}

/// Opens an upload for an attachment: the type (by name) and the configured size are checked
/// before a byte is sent; chunks then go to `/api/v1/library/uploads/{id}`.
async fn start_upload(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<StartUpload>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    u.require(Action::SubmitLessonPlans)?;
    let b = crate::http::json_body(b)?;
    let cfg = super::config(&s.store.read()?)?;
    let name = crate::library::upload::check_name(&b.name)?;
    super::check_attachment(&cfg, &name, crate::library::upload::mime_of(&name), b.size)?;
    let store = s.store.clone();
    let owner = u.principal.id().to_string();
    let sess = tokio::task::spawn_blocking(move || {
        let quota = crate::library::upload::Quota {
            limit: super::ATTACHMENT_QUOTA,
            stored: super::attached_bytes(&store.read()?, &owner)?,
        };
        crate::library::upload::start(&store, &owner, &name, b.size, Some(quota))
            .map_err(ApiError::from)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": sess.id, "offset": 0, "size": sess.size,
            "chunk": crate::library::upload::CHUNK,
        })),
    ))
}

#[derive(Deserialize)]
struct AttachBody {
    upload: String,
}

async fn attach(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<AttachBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let file = crate::library::upload::take(&s.store, u.principal.id(), &b.upload)?;
    let p = u.principal.clone();
    let plan = write(&s, &u, move |tx| super::attach(tx, &p, &id, file)).await?;
    crate::library::upload::remove(&s.store, &b.upload);
    Ok(Json(json!({ "plan": plan })))
}

async fn detach(
    State(s): State<Shared>,
    u: ApiUser,
    Path((id, blob)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = u.principal.clone();
    let plan = write(&s, &u, move |tx| super::detach(tx, &p, &id, &blob)).await?;
    Ok(Json(json!({ "plan": plan })))
}

#[derive(Deserialize)]
pub(crate) struct SecretBody {
    #[serde(default)]
    pub(crate) secret: String,
}

/// A refusal inside the one PIN guard (`auth::pin::guarded`): the API's answer, and whether
/// it was a PIN that refused (the check then stays counted; any other refusal gives it back).
pub(crate) struct Refusal {
    err: ApiError,
    wrong_pin: bool,
}

impl crate::auth::pin::PinRefusal for Refusal {
    fn wrong_pin(&self) -> bool {
        self.wrong_pin
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Refusal {
            err: e.into(),
            wrong_pin: false,
        }
    }
}

impl From<LessonError> for Refusal {
    fn from(e: LessonError) -> Self {
        let wrong_pin = matches!(e, LessonError::Key(sign::KeyError::WrongSecret));
        Refusal {
            err: e.into(),
            wrong_pin,
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Self {
        Refusal {
            err,
            wrong_pin: false,
        }
    }
}

/// A lesson-plan (or tổ record) signing through the one PIN guard (`auth::pin::guarded`), as
/// every signing path: the refusals that need no PIN first (no key, no PIN typed), never
/// counted; then one check reserved (429 `pin_locked` while locked), the device key opened
/// with `secret` (argon2 behind the shared semaphore; a key sealed with an earlier stretch is
/// sealed again), `op` run with it — the request's whole work, a second PIN included (the
/// month approval's PAdES PIN: one request is one check, cleared only when both were right) —
/// and the check cleared on success, kept for a wrong PIN, given back for any other refusal.
pub(crate) async fn signing<T: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    secret: String,
    op: impl FnOnce(&crate::store::Store, &crate::store::Actor, sign::DeviceKey) -> Result<T, Refusal>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    signing_checked(s, u, secret, |_, _| Ok(()), op).await
}

/// [`signing`] with `precheck`, a refusal of its own that needs no PIN (the month approval's
/// PAdES certificate under a retired CA, or ended: `hocba::check_pades_signer`), run with the
/// others before a check is reserved — never counted, never behind a lock (review r22 #3).
pub(crate) async fn signing_checked<T: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    secret: String,
    precheck: impl FnOnce(&crate::store::Store, &crate::auth::Principal) -> Result<(), Refusal>
    + Send
    + 'static,
    op: impl FnOnce(&crate::store::Store, &crate::store::Actor, sign::DeviceKey) -> Result<T, Refusal>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let (store, actor) = (s.store.clone(), u.actor());
    let now = actor.now;
    let account = u.principal.id().to_string();
    let p = u.principal.clone();
    let done = tokio::task::spawn_blocking(move || {
        crate::auth::pin::guarded(
            &store,
            &actor,
            &account,
            || -> Result<(), Refusal> {
                store
                    .read()?
                    .get(&KEYS, &account)?
                    .ok_or(LessonError::NoKey)?;
                if secret.is_empty() {
                    return Err(ApiError::bad_request("Nhập mã PIN ký.").into());
                }
                precheck(&store, &p)
            },
            || {
                let rec = store
                    .read()?
                    .get(&KEYS, &account)?
                    .ok_or(LessonError::NoKey)?;
                let key = sign::unlock(&rec, &secret).map_err(LessonError::from)?;
                sign::reseal_stored(&store, &actor, &rec, &secret);
                op(&store, &actor, key)
            },
        )
    })
    .await
    .map_err(ApiError::internal)?;
    match done {
        Err(l) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "pin_locked",
            l.vi(now),
        )),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(r)) => Err(r.err),
    }
}

/// Signs in a write transaction inside [`signing`]'s guard; the dashboards are told.
async fn signed_write<R: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    secret: String,
    f: impl FnOnce(&mut crate::store::Tx<'_>, &sign::DeviceKey) -> Result<R, LessonError>
    + Send
    + 'static,
) -> Result<R, ApiError> {
    let r = signing(s, u, secret, move |store, actor, key| {
        Ok(store.write(actor, |tx| f(tx, &key))?)
    })
    .await?;
    s.part::<super::Live>()?.changed();
    Ok(r)
}

async fn submit(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<SecretBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let p = u.principal.clone();
    // A draft linked before links named their lesson gets it now (`name_old_link`), as
    // `dept` resolves the link — the one resolution, read before the write.
    let resolve = s.part::<super::LinkResolver>()?.0;
    let named = {
        let rx = s.store.read()?;
        match rx.get(&super::PLANS, &id)? {
            Some(plan) if plan.plan_line.is_some() && plan.teacher == p.id() => {
                resolve(&rx, &plan)?.map(|l| super::LinkedLesson {
                    pl3: l.pl3,
                    version: l.version,
                    line: l.linked_line,
                    lesson: l.lesson,
                    periods: l.periods,
                })
            }
            _ => None,
        }
    };
    let gate = s.part::<super::LinkGate>()?.0;
    let plan = signed_write(&s, &u, b.secret, move |tx, key| {
        // A link its Phụ lục III changed or dropped is fixed before it is signed (r20 #3).
        if let Some(plan) = tx.get(&super::PLANS, &id)?
            && plan.teacher == p.id()
            && plan.state == super::State::Draft
            && let Some(why) = gate(tx, &plan, super::Advance::HandIn)?
        {
            return Err(LessonError::State(why));
        }
        if let Some(l) = named {
            super::name_old_link(tx, &id, l)?;
        }
        super::submit(tx, &p, &id, key)
    })
    .await?;
    Ok(Json(
        json!({ "plan": plan, "message": "Đã ký và nộp kế hoạch." }),
    ))
}

#[derive(Deserialize)]
struct ReviewBody {
    /// "pass" or "return".
    decision: String,
    #[serde(default)]
    comment: Option<String>,
}

async fn review(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<ReviewBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    let passed = match b.decision.as_str() {
        "pass" => true,
        "return" => false,
        _ => return Err(ApiError::bad_request("Chọn “Duyệt” hoặc “Trả lại”.")),
    };
    let p = u.principal.clone();
    let comment = b.comment.unwrap_or_default();
    let gate = s.part::<super::LinkGate>()?.0;
    let plan = write(&s, &u, move |tx| {
        let plan = super::review(tx, &p, &id, passed, &comment)?;
        // Passed on only with a link that holds, as hand-in and approval (review r20 #3);
        // the refusal undoes the review (the transaction is not committed).
        if passed && let Some(why) = gate(tx, &plan, super::Advance::Review)? {
            return Err(LessonError::State(why));
        }
        Ok(plan)
    })
    .await?;
    Ok(Json(json!({ "plan": plan })))
}

async fn approve(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<SecretBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    u.require(Action::ApproveLessonPlans)?;
    let p = u.principal.clone();
    let gate = s.part::<super::LinkGate>()?.0;
    let plan = signed_write(&s, &u, b.secret, move |tx, key| {
        if let Some(plan) = tx.get(&super::PLANS, &id)?
            && plan.state == super::State::Reviewed
            && permits(&p, Action::ApproveLessonPlans)
            && let Some(why) = gate(tx, &plan, super::Advance::Approve)?
        {
            return Err(LessonError::State(why));
        }
        super::approve(tx, &p, &id, key)
    })
    .await?;
    Ok(Json(json!({ "plan": plan, "message": "Đã ký phê duyệt." })))
}

#[derive(Deserialize)]
struct MonthBody {
    month: String,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    secret: String,
    /// The PIN of the approver's PAdES signing certificate, when it is not `secret`.
    #[serde(default)]
    pades_pin: Option<String>,
    /// The plans the form listed (id and version): exactly these are signed, or none. Optional
    /// only so that a body without it is answered after the permission check.
    #[serde(default)]
    plans: Option<Vec<super::Listed>>,
}

/// The approver's PAdES signing key, opened with `pin` inside the request's one PIN check
/// ([`signing`]): `None` when she holds no BGH signing certificate (the month's PDF is then
/// unsigned, with a note). A wrong PIN refuses the approval — counted, like the plan PIN —:
/// nothing is approved with a PDF she meant to sign.
fn open_pades(
    store: &crate::store::Store,
    actor: &crate::store::Actor,
    account: &str,
    pin: &str,
) -> Result<Option<export::PadesKey>, Refusal> {
    use crate::pki::signing;
    let Some(rec) = crate::gradebook::hocba::signer(&store.read()?, account)? else {
        return Ok(None);
    };
    if rec.role != "Hiệu trưởng" && rec.role != "Phó hiệu trưởng" {
        return Ok(None);
    }
    let opened = signing::unlock(&rec, pin).and_then(|signer| {
        crate::gradebook::hocba::reseal_signer(store, actor, &rec, pin);
        // An imported certificate brings its chain; the school's chain to the school CA.
        let ca = match signing::ca_cert(store.dir())? {
            Some(ca) => ca,
            None => signer.chain.first().unwrap_or(&signer.cert).clone(),
        };
        Ok(export::PadesKey { signer, ca })
    });
    match opened {
        Ok(key) => Ok(Some(key)),
        Err(signing::SigningError::WrongPin) => Err(Refusal {
            err: ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_pin",
                "Mã PIN không mở được chứng thư ký số (PAdES) của bạn; chưa phê duyệt gì. \
                 Nếu chứng thư có mã PIN khác, nhập mã đó vào ô mã PIN chứng thư.",
            ),
            wrong_pin: true,
        }),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signer_damaged",
            e.to_string(),
        )
        .into()),
    }
}

async fn approve_month(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<MonthBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b = crate::http::json_body(b)?;
    u.require(Action::ApproveLessonPlans)?;
    super::parse_month(&b.month)?;
    // Without the list the server would sign whatever waits now, which nobody was shown.
    let listed = b.plans.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Thiếu danh sách kế hoạch (plans: mã và phiên bản) mà biểu mẫu đã liệt kê; \
             tải lại trang rồi ký lại.",
        )
    })?;
    let pades_pin = b
        .pades_pin
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| b.secret.clone());
    let p = u.principal.clone();
    let dept = b.department.filter(|d| !d.is_empty());
    let month = b.month.clone();
    let gate = s.part::<super::LinkGate>()?.0;
    let links = super::LinkResolverTx(s.part::<super::LinkResolverTx>()?.0);
    let now = jiff::Timestamp::now();
    // One request, one check: the plan PIN and the PAdES PIN together, the count cleared only
    // when both were right (or she holds no certificate) and the month was approved.
    // Her PAdES certificate under a retired CA (or ended) is refused before either PIN.
    let check = move |store: &crate::store::Store, p: &crate::auth::Principal| {
        crate::gradebook::hocba::check_pades_signer(&store.read()?, store.dir(), p, now)
            .map_err(|e| Refusal::from(ApiError::from(e)))
    };
    let (out, approval, held) =
        signing_checked(&s, &u, b.secret, check, move |store, actor, key| {
            let pades = open_pades(store, actor, p.id(), &pades_pin)?;
            Ok(store.write(actor, |tx| {
                // A plan whose lesson its Phụ lục III changed or dropped is left waiting, named
                // with why; the others are approved (review r20 #3).
                let mut held = vec![];
                for plan in super::month_to_approve(&*tx, &p, &month, dept.as_deref())? {
                    if let Some(why) = gate(tx, &plan, super::Advance::Approve)? {
                        held.push((plan.id, why));
                    }
                }
                let out = super::approve_month_holding(
                    tx,
                    &p,
                    &month,
                    dept.as_deref(),
                    &listed,
                    &held,
                    &key,
                )?;
                let approval = export::record_month_approval(
                    tx,
                    &p,
                    &month,
                    dept.as_deref(),
                    pades.as_ref(),
                    &links,
                )?;
                Ok::<_, LessonError>((out, approval, held))
            })?)
        })
        .await?;
    s.part::<super::Live>()?.changed();
    if approval.signed_by.is_some() {
        // An enrolled box's stamper adds the hub's time-stamp to the signed file now.
        crate::gradebook::hocba::STAMP_WAKE.notify_one();
    }
    let titles: Vec<String> = out
        .approved
        .iter()
        .map(|x| format!("«{}»", x.title))
        .collect();
    let left: Vec<&str> = held.iter().map(|(_, why)| why.as_str()).collect();
    let message = format!(
        "Đã ký phê duyệt {} kế hoạch của tháng {}: {}. {}{}",
        out.approved.len(),
        super::month_label(&b.month),
        titles.join("; "),
        if approval.signed_by.is_some() {
            "Bản PDF phê duyệt của tháng đã được ký số (PAdES)."
        } else {
            "Bản PDF phê duyệt của tháng không có chữ ký số PAdES (chưa có chứng thư ký số)."
        },
        if left.is_empty() {
            String::new()
        } else {
            format!(
                " Chưa phê duyệt {} kế hoạch vì liên kết Phụ lục III: {}",
                left.len(),
                left.join(" ")
            )
        }
    );
    Ok(Json(json!({
        "approved": out.approved.iter().map(|x| &x.id).collect::<Vec<_>>(),
        "skipped": out.skipped, "message": message,
        "approval_pdf": {
            "version": approval.version,
            "signed_by": approval.signed_by,
            "sha256": approval.sha256,
            "url": format!("/lessons/approval.pdf?month={}", approval.month),
        },
    })))
}

async fn key_status(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rec = s.store.read()?.get(&KEYS, u.principal.id())?;
    let usable = rec.as_ref().filter(|r| !r.reset);
    Ok(Json(json!({
        "has_key": usable.is_some(),
        "public_key": usable.map(|r| r.public_key.clone()),
        "created_at": usable.map(|r| r.created_at.clone()),
        "reset": rec.as_ref().is_some_and(|r| r.reset),
        "changes": rec.as_ref().map(|r| r.changes.clone()).unwrap_or_default(),
    })))
}

#[derive(Deserialize)]
struct NewKey {
    secret: String,
    #[serde(default)]
    confirm: Option<String>,
    /// The current PIN, needed to replace a key that still signs.
    #[serde(default)]
    current: Option<String>,
}

/// Makes the user's signing key (or a new one, retiring the old: signatures made with it stay
/// valid). Only the user can do this for themselves; the secret never leaves this request.
async fn make_key(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<NewKey>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let b = crate::http::json_body(b)?;
    if !permits(&u.principal, Action::SubmitLessonPlans)
        && !permits(&u.principal, Action::ApproveLessonPlans)
    {
        return Err(ApiError::forbidden());
    }
    if b.confirm.as_ref().is_some_and(|c| *c != b.secret) {
        return Err(ApiError::bad_request("Hai lần nhập mã PIN ký không khớp."));
    }
    // Replacing a key that still signs needs its PIN: whoever holds the session (an admin who
    // reset this person's password, say) cannot put a key of their own in its place.
    let existing = s.store.read()?.get(&KEYS, u.principal.id())?;
    // In quarantine, no key after a reset of it, and no key at all for an account that reviews
    // or approves: that key would sign other people's work.
    let reviewer = u.principal.is_bgh() || u.principal.has(crate::auth::Role::DeptHead);
    if u.principal.quarantined && (reviewer || existing.as_ref().is_some_and(|r| r.reset)) {
        return Err(recently_reset());
    }
    // The new PIN's rule before the current PIN is tried: a refused one spends no guess.
    crate::pki::seal::check_new_pin(&b.secret)
        .map_err(|w| LessonError::from(sign::KeyError::WeakSecret(w)))?;
    if existing.as_ref().is_some_and(|r| !r.reset) {
        let current = b.current.clone().unwrap_or_default();
        if current.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "current_pin_required",
                "Nhập mã PIN ký hiện tại để thay khoá. Quên mã PIN: nhờ một thành viên Ban giám hiệu khác đặt lại khoá.",
            ));
        }
        signing(&s, &u, current, |_, _, _| Ok(())).await?;
    }
    let account = u.principal.id().to_string();
    let now = jiff::Timestamp::now().to_string();
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let (rec, _) = tokio::task::spawn_blocking(move || sign::new_key(&account, &b.secret, &now))
        .await
        .map_err(ApiError::internal)?
        .map_err(LessonError::from)?;
    let public = rec.public_key.clone();
    let saved = crate::auth::extract::write_as(&s, &u, move |tx| -> Result<_, LessonError> {
        Ok(sign::register(tx, rec)?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "public_key": public, "replaced": saved,
            "message": "Đã tạo khoá ký số. Hãy nhớ mã PIN ký: không ai khôi phục được nó." })),
    ))
}

/// An account whose password someone else set this week does not change who signs (the one
/// message: `AuthError::Quarantined`).
fn recently_reset() -> ApiError {
    crate::auth::AuthError::Quarantined.into()
}

/// Another BGH member resets a signing key whose PIN is forgotten. Never one's own key, never by
/// the administrator: a key reset rewrites who can sign, so it takes a second person.
async fn reset_key(
    State(s): State<Shared>,
    u: ApiUser,
    Path(account): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !u.principal.is_bgh() {
        return Err(ApiError::forbidden());
    }
    if account == u.principal.id() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "second_person_needed",
            "Không tự đặt lại khoá ký của chính mình: nhờ một thành viên Ban giám hiệu khác.",
        ));
    }
    if u.principal.account.recently_reset(jiff::Timestamp::now()) {
        return Err(recently_reset());
    }
    let target = account.clone();
    let rec = crate::auth::extract::write_as(&s, &u, move |tx| -> Result<_, LessonError> {
        Ok(sign::reset(tx, &target)?)
    })
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(Json(json!({
        "account": account, "reset": rec.reset,
        "message": "Đã đặt lại khoá ký. Người dùng tạo khoá mới (mã PIN mới) ở lần ký sau.",
    })))
}

async fn get_config(
    State(s): State<Shared>,
    _u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "config": super::config(&s.store.read()?)? })))
}

async fn put_config(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<super::LessonConfig>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let c = crate::http::json_body(b)?;
    let p = u.principal.clone();
    let saved = c.clone();
    write(&s, &u, move |tx| super::save_config(tx, &p, c)).await?;
    Ok(Json(json!({ "config": saved })))
}

#[derive(Deserialize)]
pub(crate) struct MonthQuery {
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    pub month: Option<String>,
}

pub(crate) fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .date()
}

/// The dashboard `p` may see for a month (this month by default).
pub(crate) fn dashboard_of(
    s: &Shared,
    p: &Principal,
    month: Option<&str>,
) -> Result<super::Dashboard, ApiError> {
    let today = today();
    if let Some(m) = month {
        super::parse_month(m).map_err(|e| crate::http::bad_filter(e.to_string()))?;
    }
    let month = month
        .map(String::from)
        .unwrap_or_else(|| super::month_of(today));
    let d = s
        .part::<super::Live>()?
        .dashboard(&s.store.read()?, &month, today)?;
    super::dashboard_for(p, &d).ok_or_else(ApiError::forbidden)
}

async fn dashboard(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<MonthQuery>,
) -> Result<Json<super::Dashboard>, ApiError> {
    Ok(Json(dashboard_of(&s, &u.principal, q.month.as_deref())?))
}

#[derive(Deserialize)]
struct ChangesQuery {
    #[serde(default)]
    after: u64,
}

/// Long-poll: answers as soon as any plan changes after generation `after` (or after 25 s with
/// the same generation), so open dashboards update without reloading.
async fn changes(
    State(s): State<Shared>,
    _u: ApiUser,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let live = s.part::<super::Live>()?;
    let mut rx = live.subscribe();
    if !live.closing() {
        let wait = rx.wait_for(|g| *g != q.after);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(25), wait).await;
    }
    // The page says when it last changed in the school's time, not the browser's (a phone or a
    // kiosk set to UTC showed "cập nhật 01:54:26" for 08:54).
    let updated = jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .strftime("%H:%M:%S")
        .to_string();
    Ok(Json(
        json!({ "generation": live.generation(), "updated": updated }),
    ))
}

async fn verify(State(s): State<Shared>, u: ApiUser) -> Result<Json<serde_json::Value>, ApiError> {
    if !u.principal.is_bgh() && !permits(&u.principal, Action::ManageDevice) {
        return Err(ApiError::forbidden());
    }
    let store = s.store.clone();
    let report = blocking(move || Ok(super::verify_all(&store.read()?, &store.blobs)?)).await?;
    Ok(Json(json!({
        "plans": report.plans, "valid": report.valid,
        "invalid": report.invalid().collect::<Vec<_>>(),
        "all_valid": report.all_valid(),
    })))
}

async fn file(
    State(s): State<Shared>,
    u: ApiUser,
    Path((id, version, blob)): Path<(String, u32, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let plan = readable(&rx, &u.principal, &id)?;
    let v = visible_versions(&rx, &u.principal, &plan)?
        .into_iter()
        .find(|v| v.number == version)
        .ok_or_else(ApiError::not_found)?;
    let f = v
        .files
        .into_iter()
        .find(|f| f.blob == blob)
        .ok_or_else(ApiError::not_found)?;
    crate::library::routes::serve_blob(&s, &f.blob, &f.mime, Some(&f.name), req).await
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    month: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    teacher: Option<String>,
    #[serde(default, deserialize_with = "crate::library::empty_none")]
    year: Option<String>,
}

/// The export's scope, or its refusal (review r21 #5): for a browser (a link followed) the
/// page's frame with the reason and the way back to the plans, 400; for anyone else the JSON
/// `bad_filter`. `Ok(Err(page))` is the refusal to send.
fn export_scope(
    s: &Shared,
    u: &ApiUser,
    headers: &axum::http::HeaderMap,
    typed: crate::http::PageQuery<ExportQuery>,
) -> Result<Result<export::Scope, Response>, ApiError> {
    let page = typed.page;
    match typed
        .filters
        .map_err(crate::http::bad_filter)
        .and_then(|q| scope_of(s, q))
    {
        Ok(scope) => Ok(Ok(scope)),
        Err(e) if e.code == "bad_filter" => crate::auth::pages::refused_filter(
            s,
            u,
            headers,
            page,
            "Xuất kế hoạch bài dạy",
            e.message,
            vec![
                ("/lessons".to_string(), "Kế hoạch bài dạy".to_string()),
                ("/lessons/dashboard".to_string(), "Tổng hợp".to_string()),
            ],
        )
        .map(Err),
        Err(e) => Err(e),
    }
}

fn scope_of(s: &Shared, q: ExportQuery) -> Result<export::Scope, ApiError> {
    match (q.month, q.teacher) {
        (Some(m), None) => {
            super::parse_month(&m).map_err(|e| crate::http::bad_filter(e.to_string()))?;
            Ok(export::Scope::Month(m))
        }
        (None, Some(t)) => {
            // A teacher named by nobody is refused, not answered with an empty file.
            let name = s
                .store
                .read()?
                .get(&crate::auth::ACCOUNTS, &t)?
                .map(|a| a.full_name)
                .ok_or_else(|| {
                    crate::http::bad_filter(format!(
                        "Không có giáo viên mã “{}”: chọn một giáo viên trong danh sách kế hoạch bài dạy.",
                        t.chars().take(40).collect::<String>()
                    ))
                })?;
            if let Some(y) = q
                .year
                .as_ref()
                .filter(|y| !crate::school::is_school_year(y))
            {
                return Err(crate::http::bad_filter(format!(
                    "Năm học “{}” không hợp lệ: ghi dạng 2026-2027.",
                    y.chars().take(20).collect::<String>()
                )));
            }
            Ok(export::Scope::TeacherYear {
                teacher: t,
                name,
                year: match q.year {
                    Some(y) => y,
                    None => crate::school::routes::current_year(s)?,
                },
            })
        }
        _ => Err(crate::http::bad_filter(
            "Chọn một tháng (month=2026-11) hoặc một giáo viên (teacher=…, year=2026-2027).",
        )),
    }
}

pub(crate) fn attachment(name: &str, mime: &'static str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

async fn export_pdf(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    u: ApiUser,
    typed: crate::http::PageQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let scope = match export_scope(&s, &u, &headers, typed)? {
        Ok(scope) => scope,
        Err(refused) => return Ok(refused),
    };
    let resolve = super::LinkResolver(s.part::<super::LinkResolver>()?.0);
    let store = s.store.clone();
    let p = u.principal.clone();
    let (name, bytes) = blocking(move || {
        let out = export::prepare(&store.read()?, &p, &scope, &resolve)?;
        Ok((format!("{}.pdf", scope.file_stem()), out.pdf))
    })
    .await?;
    Ok(attachment(&name, "application/pdf", Body::from(bytes)))
}

#[derive(Deserialize)]
struct ApprovalQuery {
    month: String,
}

/// The newest approval PDF of a month as stored ("Ký duyệt cả tháng"), signed PAdES by the
/// approver when she held a certificate. It shows approved plans only, which everyone may read.
async fn approval_pdf(
    State(s): State<Shared>,
    _u: ApiUser,
    Query(q): Query<ApprovalQuery>,
) -> Result<Response, ApiError> {
    let row =
        export::month_approval(&s.store.read()?, &q.month)?.ok_or_else(ApiError::not_found)?;
    let name = format!(
        "phe-duyet-ke-hoach-bai-day-{}-v{}.pdf",
        row.month, row.version
    );
    Ok(attachment(
        &name,
        "application/pdf",
        Body::from(row.pdf_bytes()?),
    ))
}

/// The ZIP is written to a file in the data directory, opened, unlinked and streamed: a month of
/// videos never sits in memory, and nothing is left behind.
async fn export_zip(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    u: ApiUser,
    typed: crate::http::PageQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let scope = match export_scope(&s, &u, &headers, typed)? {
        Ok(scope) => scope,
        Err(refused) => return Ok(refused),
    };
    let resolve = super::LinkResolver(s.part::<super::LinkResolver>()?.0);
    let store = s.store.clone();
    let p = u.principal.clone();
    let (name, file) = blocking(move || {
        let out = export::prepare(&store.read()?, &p, &scope, &resolve)?;
        let f =
            crate::http::unlinked_file(store.dir(), "export.zip").map_err(ApiError::internal)?;
        let now = jiff::Timestamp::now().to_string();
        let f = export::zip(
            f,
            &store.blobs,
            &out.names,
            &scope,
            &out.plans,
            &out.pdf,
            &now,
        )?;
        Ok((format!("{}.zip", scope.file_stem()), f))
    })
    .await?;
    crate::http::stream_file(file, "application/zip", &name)
}

/// Publishes the approved version to the library: an item of kind "lesson plan" whose file is
/// the plan's PDF (with its signatures), linked back to the plan.
async fn publish(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let store = s.store.clone();
    let p = u.principal.clone();
    let pid = id.clone();
    let (plan, file) = blocking(move || {
        let rx = store.read()?;
        let plan = readable(&rx, &p, &pid)?;
        let n = plan.approved_version.ok_or_else(|| {
            LessonError::State("Chỉ đưa lên thư viện kế hoạch đã được phê duyệt.".into())
        })?;
        if plan.teacher != p.id() && !p.is_bgh() {
            return Err(LessonError::Forbidden(
                "Chỉ giáo viên soạn hoặc Ban giám hiệu đưa kế hoạch lên thư viện.".into(),
            )
            .into());
        }
        if let Some(item) = &plan.library_item {
            return Err(LessonError::State(format!(
                "Kế hoạch đã có trong thư viện (/library/item/{item})."
            ))
            .into());
        }
        let v = rx
            .get(&super::VERSIONS, &super::version_key(&plan.id, n))?
            .ok_or_else(ApiError::not_found)?;
        let names = export::Names::load(&rx)?;
        let mut l = crate::gradebook::pdf::Layout::new(false);
        export::draw_plan(&mut l, &names, &plan, &v);
        let bytes = l.finish().map_err(ApiError::internal)?;
        let (blob, size) = store.blobs.put(&bytes[..]).map_err(ApiError::internal)?;
        let file = crate::library::FileRef {
            blob,
            size,
            mime: "application/pdf".into(),
            name: format!("{}.pdf", crate::school::slug(&v.title)),
        };
        Ok(((plan, v), file))
    })
    .await?;
    let p = u.principal.clone();
    let item = write(&s, &u, move |tx| -> Result<_, LessonError> {
        let (mut head, v) = plan;
        let fresh = tx.get(&PLANS, &head.id)?.ok_or(LessonError::NotFound)?;
        if fresh.library_item.is_some() {
            return Err(LessonError::State("Kế hoạch đã có trong thư viện.".into()));
        }
        let now = tx.now().to_string();
        let item_id = format!("li-{:012x}", rand::random::<u64>() >> 16);
        let mut item = crate::library::Item::new(
            item_id.clone(),
            crate::library::ItemKind::LessonPlan,
            &v.title,
            &head.teacher,
            &now,
        );
        item.authors = vec![head.teacher_name.clone()];
        item.subject = Some(v.subject.clone());
        item.grade = Some(v.grade);
        item.description = [&v.fields.knowledge, &v.fields.competences]
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        item.file = Some(file);
        item.lesson_plan = Some(head.id.clone());
        item.visibility = crate::library::Visibility::Teachers;
        // Vetted like any item shared with the school: the publisher's rank decides.
        crate::library::vetting::share_new(tx, &p, item)?;
        let old = fresh;
        head = old.clone();
        head.library_item = Some(item_id.clone());
        super::save_plan(tx, Some(&old), &head, "lessons.publish")?;
        Ok(item_id)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "item": item, "message": "Đã đưa kế hoạch lên thư viện." })),
    ))
}

impl From<crate::lessons::LessonError> for ApiError {
    fn from(e: crate::lessons::LessonError) -> Self {
        use crate::lessons::LessonError as L;
        let status = match &e {
            L::Store(s) => return ApiError::internal(s),
            L::NotFound => StatusCode::NOT_FOUND,
            L::Forbidden(_) | L::Quarantined => StatusCode::FORBIDDEN,
            L::State(_)
            | L::ListChanged(_)
            | L::NoKey
            | L::Key(crate::lessons::sign::KeyError::WasReset) => StatusCode::CONFLICT,
            L::Invalid(_) | L::File(_) | L::Key(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}
