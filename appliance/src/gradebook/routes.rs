//! JSON API of the gradebook: thin — parse, call the domain function, map the error.

use crate::http::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::rules::RuleVersion;
use super::{CellEdit, GradeError, RecordEdit, Settings, TermId};
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, JsonBody, Shared, json_body};
use crate::school::routes::current_year;
use crate::store::Tx;

pub fn api() -> Router<Shared> {
    Router::new()
        .route(
            "/grades/sheet/{class}/{subject}/{term}",
            get(get_sheet).put(put_cell),
        )
        .route("/grades/class/{class}", get(get_class))
        .route("/grades/records/{class}/{term}", put(put_record))
        .route("/grades/summer/{class}", put(put_summer))
        .route("/grades/terms/{term}/lock", post(lock))
        .route("/grades/terms/{term}/unlock", post(unlock))
        .route(
            "/grades/terms/{term}/recompute",
            get(recompute_preview).post(recompute_apply),
        )
        .route("/grades/corrections", get(list_corrections))
        .route("/grades/corrections/{id}", post(decide_correction))
        .route("/grades/settings", get(get_settings).put(put_settings))
        .route(
            "/grades/graduation/{year}",
            get(get_graduation).put(put_graduation),
        )
        .route("/grades/export/{file}", get(export))
        .route("/grades/import/{class}/{subject}/{term}", post(import))
        .route("/hocba/classes/{class}", get(hocba_versions))
        .route("/hocba/classes/{class}/sign", post(hocba_sign))
        .route("/hocba/students/{student}/sign", post(hocba_sign_student))
        .route("/hocba/verify", post(hocba_verify))
        .route("/hocba/signer/p12", post(hocba_import_p12))
        .route("/hocba/signer/pin", post(hocba_change_pin))
        .route(
            "/hocba/signer/request",
            post(hocba_request_signer).delete(hocba_withdraw_request),
        )
        .route("/hocba/signer/requests", get(hocba_signer_requests))
        .route(
            "/hocba/signer/requests/{account}/approve",
            post(hocba_approve_signer),
        )
        .route(
            "/hocba/signer/requests/{account}/decline",
            post(hocba_decline_signer),
        )
        .route("/hocba/ca/renew", post(hocba_renew_ca))
}

impl From<super::hocba::HocbaError> for ApiError {
    fn from(e: super::hocba::HocbaError) -> Self {
        use super::hocba::HocbaError as H;
        use crate::pki::signing::SigningError as S;
        let status = match &e {
            H::Store(s) => return ApiError::internal(s),
            H::Grade(_) => {
                let H::Grade(g) = e else { unreachable!() };
                return g.into();
            }
            H::NotHomeroom
            | H::NotHomeroomAtLock
            | H::NotLocker(_)
            | H::NotPrincipal
            | H::Quarantined
            | H::WrongRole(_) => StatusCode::FORBIDDEN,
            H::NotNamedPrincipal(_) => StatusCode::FORBIDDEN,
            H::StillOnRoll(..) | H::NoTermToSign(_) | H::RecordChanged | H::SignedWithClass(_) => {
                StatusCode::CONFLICT
            }
            H::YearNotLocked(_)
            | H::HomeroomFirst
            | H::AlreadySigned
            | H::LockChanged
            | H::ResultsIncomplete { .. } => StatusCode::CONFLICT,
            H::Signing(S::NoSigner) | H::NoCa => StatusCode::CONFLICT,
            H::Signing(S::WrongPin | S::WeakPin(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            // A certificate the current CA did not issue (a retired CA's, kept by someone
            // not re-issued at a renewal — review r19 #3) or out of its dates: her condition,
            // said with the way out, a warning, not a server error.
            H::Pades(crate::pki::pades::PadesError::Certificate(why)) => {
                tracing::warn!(why = %why, "học bạ signing refused: the signer's certificate cannot sign now");
                StatusCode::CONFLICT
            }
            H::Signing(_) | H::Pades(_) | H::Print(_) | H::Damaged(_) => {
                tracing::error!("học bạ signing: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            H::SignerExists | H::RecoveryReplaces(_) => StatusCode::CONFLICT,
            // The CLI's alone (`tram hocba sign`); no route signs by hand.
            H::HandSigning(_) => StatusCode::FORBIDDEN,
            // Her condition, with its way out: a warning in the log, never an error.
            H::CertRetired(n) => {
                tracing::warn!(
                    ca = n,
                    "học bạ signing refused: the signer's certificate is under a retired school CA; its holder asks for a new one on the signer page"
                );
                StatusCode::CONFLICT
            }
            H::CertExpired(ended) => {
                tracing::warn!(
                    ended = %ended,
                    "học bạ signing refused: the signer's certificate has ended; its holder asks for a new one on the signer page"
                );
                StatusCode::CONFLICT
            }
            H::NotHead | H::NotApprover | H::NotRenewer | H::OwnRequest | H::NoSigningRole => {
                StatusCode::FORBIDDEN
            }
            H::HolderPinShort | H::SignerChanged => StatusCode::CONFLICT,
            H::NoCaHolder
            | H::NotCaHolder
            | H::CaHolderDropped
            | H::CaHeld
            | H::RoleChanged(_)
            | H::LastHolder
            | H::SoleHolder
            | H::CaChanged => StatusCode::CONFLICT,
            H::NoRequest => StatusCode::NOT_FOUND,
            H::PinMismatch | H::NeedReason | H::NeedRecoveryReason => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            // The file, its password or the PIN: the importer's to fix.
            H::P12(_) => StatusCode::UNPROCESSABLE_ENTITY,
            H::NothingSigned(_) => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

async fn hocba_versions(
    State(s): State<Shared>,
    u: ApiUser,
    Path(class): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rx = s.store.read()?;
    super::class_of(&rx, &class)?;
    if !super::may_view_class(&u.principal, &class) {
        return Err(GradeError::Forbidden.into());
    }
    let versions = super::hocba::class_versions(&rx, &class)?;
    // Who waits for what, as the class page says it (review r25 #4): the students whose học bạ
    // wait for the homeroom teacher's signature, those signed by her that wait for BGH's, and
    // those whose newest signed file no longer matches the box's records.
    let roll: Vec<String> = crate::school::students_of_class(&rx, &class)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let ids: Vec<&str> = roll.iter().map(String::as_str).collect();
    let (gvcn, bgh) = super::hocba::class_waiting_ids(&rx, &class, &ids)?;
    // A pupil who left the class is signed on her own page, but her signed file going out of
    // date is news all the same (review r26 #2).
    let left: Vec<String> = crate::school::students_who_left(&rx, &class)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let all: Vec<&str> = ids
        .iter()
        .copied()
        .chain(left.iter().map(String::as_str))
        .collect();
    let resign = super::hocba::needs_resigning(&rx, &class, &all)?;
    Ok(Json(json!({
        "class": class,
        "versions": versions,
        "waiting": { "homeroom_teacher": gvcn, "principal": bgh, "resign": resign },
    })))
}

/// A PDF someone brought (a transfer, a file from the district): its signatures against the
/// school signing CA and its data against the box's records — for BGH and the office.
async fn hocba_verify(
    State(s): State<Shared>,
    u: ApiUser,
    bytes: Bytes,
) -> Result<Json<super::hocba::Verification>, ApiError> {
    if !crate::auth::permits(&u.principal, crate::auth::Action::VerifyHocba) {
        return Err(GradeError::Forbidden.into());
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(ApiError::bad_request("Tệp tải lên không phải PDF."));
    }
    let store = s.store.clone();
    let done = tokio::task::spawn_blocking(move || {
        let rx = store.read()?;
        super::hocba::verify_upload(&rx, store.dir(), &bytes)
    })
    .await
    .map_err(ApiError::internal)?;
    match done {
        // A file that does not parse is the uploader's problem, not the box's.
        Err(super::hocba::HocbaError::Pades(e)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_pdf",
            e.when_verifying(),
        )),
        other => Ok(Json(other?)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportP12 {
    /// The .p12/.pfx file, base64.
    p12: String,
    password: String,
    pin: String,
    #[serde(default)]
    confirm_name: bool,
    #[serde(default)]
    replace: bool,
    /// Her current signing PIN when she holds the school signing CA (carries her wrap over).
    #[serde(default)]
    current_pin: String,
}

/// The principal or a vice principal imports her own licensed CA's PKCS#12 as her học bạ
/// signing certificate — the same function and refusals as `tram hocba signer import`. There
/// is no account in the body: nobody, the admin included, imports a key for someone else.
async fn hocba_import_p12(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<ImportP12>,
) -> Result<Json<Value>, ApiError> {
    // The gates before the body: a caller who may not import learns nothing from its
    // validation.
    if super::hocba::head_role(&u.principal.account.roles).is_none() {
        return Err(super::hocba::HocbaError::NotHead.into());
    }
    // A signing key carries trust: not in the week after someone else set the password.
    if u.principal.quarantined {
        return Err(super::hocba::HocbaError::Quarantined.into());
    }
    let body = json_body(b)?;
    use base64::Engine;
    let p12 = base64::engine::general_purpose::STANDARD
        .decode(body.p12.trim())
        .map_err(|_| ApiError::bad_request("Tệp PKCS#12 gửi lên không đọc được (base64)."))?;
    if p12.is_empty() {
        return Err(ApiError::bad_request("Chọn tệp chứng thư .p12/.pfx."));
    }
    if body.pin.is_empty() {
        return Err(ApiError::bad_request("Nhập mã PIN ký mới."));
    }
    // The new PIN's rule before a current PIN is tried: a refused one spends no guess. A
    // PKCS#12 is the principal's or a vice principal's, whose PIN may open the school signing
    // CA: 8 digits or more (review r17 #2).
    crate::pki::seal::check_ca_pin(&body.pin).map_err(|w| {
        ApiError::from(super::hocba::HocbaError::Signing(
            crate::pki::signing::SigningError::WeakPin(w),
        ))
    })?;
    let guarded = !body.current_pin.is_empty();
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let actor = u.actor();
    let now = actor.now;
    let account = u.principal.account.clone();
    let done = tokio::task::spawn_blocking(move || {
        let req = super::hocba::P12Import {
            p12: &p12,
            password: &body.password,
            pin: &body.pin,
            confirm_name: body.confirm_name,
            replace: body.replace,
            current_pin: Some(body.current_pin.as_str()),
        };
        let import = || super::hocba::import_p12(&store, &actor, &account, &req, actor.now);
        // A current PIN tried counts like any signing PIN; a PKCS#12 refused before it was
        // looked at gives the check back.
        if guarded {
            crate::auth::pin::guarded(&store, &actor, &account.id, || Ok(()), import)
        } else {
            Ok(import())
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|l| ApiError::new(StatusCode::TOO_MANY_REQUESTS, "pin_locked", l.vi(now)))?;
    let done = done?;
    let cert = hex::decode(&done.cert)
        .ok()
        .and_then(|d| <x509_cert::Certificate as der::Decode>::from_der(&d).ok());
    let (name, issuer) = cert.map_or_else(Default::default, |c| {
        (
            crate::pki::signing::subject_name_and_role(&c).0,
            crate::pki::signing::name_part(&c.tbs_certificate.issuer, der::oid::db::rfc4519::CN)
                .unwrap_or_else(|| c.tbs_certificate.issuer.to_string()),
        )
    });
    tracing::info!(account = %done.account, %issuer, "học bạ signer imported from a PKCS#12 on the web");
    Ok(Json(json!({
        "imported": true,
        "name": name,
        "issuer": issuer,
        "role": done.role,
        "message": format!("Đã nhập chứng thư của {name} do {issuer} cấp; khoá bí mật được niêm phong bằng mã PIN mới."),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSigner {
    /// "gvcn", "hieu-truong" or "pho-hieu-truong"; none: what the account is.
    #[serde(default)]
    role: Option<String>,
    pin: String,
    pin_again: String,
}

/// A teacher or a BGH member asks for her own học bạ signing certificate: the key pair is made
/// on the box and sealed under the PIN she chose; a BGH member approves. The first BGH member
/// to ask, while nobody holds the school signing CA, gets hers at once (the CA is made and
/// sealed under it). No account in the body: nobody asks for someone else.
async fn hocba_request_signer(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<RequestSigner>,
) -> Result<Json<Value>, ApiError> {
    // The gate before the body: who may not ask learns nothing from the body's checks.
    if !may_ask_certificate(&u.principal) {
        return Err(ApiError::forbidden());
    }
    let body = json_body(b)?;
    if body.pin.is_empty() {
        return Err(ApiError::bad_request("Nhập mã PIN ký mới."));
    }
    // The new PIN's rule before a current PIN is tried: a refused one spends no guess.
    crate::pki::seal::check_new_pin(&body.pin).map_err(|w| {
        ApiError::from(super::hocba::HocbaError::Signing(
            crate::pki::signing::SigningError::WeakPin(w),
        ))
    })?;
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let actor = u.actor();
    let p = u.principal.clone();
    let done = tokio::task::spawn_blocking(move || {
        super::hocba::ca::request(
            &store,
            &actor,
            &p,
            body.role.as_deref().filter(|r| !r.is_empty()),
            &body.pin,
            &body.pin_again,
        )
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(match done {
        super::hocba::ca::Asked::Issued(rec) => {
            tracing::info!(account = %rec.account, "first BGH học bạ certificate issued; the signing CA is sealed under it");
            json!({
                "issued": true,
                "role": rec.role,
                "message": format!("Đã cấp chứng thư ký học bạ cho {} ({}). CA ký số của trường được niêm phong: chỉ mã PIN ký của Ban giám hiệu mở được.", rec.full_name, rec.role),
            })
        }
        super::hocba::ca::Asked::Pending(row) => json!({
            "issued": false,
            "role": row.request.role,
            "message": "Đã gửi yêu cầu cấp chứng thư; Ban giám hiệu duyệt rồi bạn ký được bằng mã PIN vừa chọn.",
        }),
    }))
}

/// Only teachers and BGH sign học bạ (the admin, the librarian, district roles never do).
fn may_ask_certificate(p: &crate::auth::Principal) -> bool {
    use crate::auth::Role;
    p.account.roles.iter().any(|r| {
        matches!(
            r,
            Role::Principal | Role::VicePrincipal | Role::DeptHead | Role::Teacher
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePin {
    current_pin: String,
    pin: String,
    pin_again: String,
}

/// The signed-in signer changes her signing PIN (`ca::change_pin`): the current PIN through
/// the one PIN guard, every refusal that needs no PIN (no certificate, the new PINs differing
/// or too weak — 8 digits for the Ban giám hiệu) before it is counted.
async fn hocba_change_pin(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<ChangePin>,
) -> Result<Json<Value>, ApiError> {
    // The gate before the body, as for a request: an account that may hold no signing
    // certificate (the admin) has no signing PIN to change.
    if !may_ask_certificate(&u.principal) {
        return Err(ApiError::forbidden());
    }
    let body = json_body(b)?;
    if body.current_pin.is_empty() {
        return Err(ApiError::bad_request("Nhập mã PIN ký hiện tại."));
    }
    super::hocba::ca::change_pin_precheck(
        &s.store.read()?,
        &u.principal,
        &body.pin,
        &body.pin_again,
    )?;
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let (actor, p) = (u.actor(), u.principal.clone());
    let now = actor.now;
    let rec = tokio::task::spawn_blocking(move || {
        crate::auth::pin::guarded(
            &store,
            &actor,
            p.id(),
            || {
                super::hocba::ca::change_pin_precheck(
                    &store.read()?,
                    &p,
                    &body.pin,
                    &body.pin_again,
                )
                .map(|_| ())
            },
            || {
                super::hocba::ca::change_pin(
                    &store,
                    &actor,
                    &p,
                    &body.current_pin,
                    &body.pin,
                    &body.pin_again,
                )
            },
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|l| ApiError::new(StatusCode::TOO_MANY_REQUESTS, "pin_locked", l.vi(now)))??;
    tracing::info!(account = %rec.account, "học bạ signing PIN changed");
    let mut message =
        "Đã đổi mã PIN ký. Chứng thư và khoá giữ nguyên; từ nay ký bằng mã PIN mới.".to_string();
    if crate::pki::signing::is_head_role(&rec.role) {
        message += " Mã PIN mới đủ 8 chữ số: nếu bạn chưa giữ CA ký số của trường, bạn được trao CA ở lần duyệt yêu cầu cấp chứng thư tiếp theo.";
    }
    Ok(Json(json!({
        "changed": true,
        "message": message,
    })))
}

/// The signed-in teacher or BGH member withdraws her own certificate request (pending, or a
/// declined one she has read): its sealed key pair is deleted, and she may ask again.
async fn hocba_withdraw_request(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<Value>, ApiError> {
    // The same gate as asking: only those who may ask have anything to withdraw.
    if !may_ask_certificate(&u.principal) {
        return Err(ApiError::forbidden());
    }
    let store = s.store.clone();
    let actor = u.actor();
    let p = u.principal.clone();
    tokio::task::spawn_blocking(move || super::hocba::ca::withdraw(&store, &actor, &p))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!({
        "withdrawn": true,
        "message": "Đã huỷ yêu cầu cấp chứng thư.",
    })))
}

/// The pending requests and the current signers (with their certificates' dates): BGH only.
async fn hocba_signer_requests(
    State(s): State<Shared>,
    u: ApiUser,
) -> Result<Json<Value>, ApiError> {
    if super::hocba::head_role(&u.principal.account.roles).is_none() {
        return Err(super::hocba::HocbaError::NotApprover.into());
    }
    let rx = s.store.read()?;
    Ok(Json(json!({
        "requests": super::hocba::ca::request_lines(&rx)?,
        "signers": super::hocba::ca::signer_lines(&rx, s.store.dir(), jiff::Timestamp::now())?,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveSigner {
    pin: String,
}

/// A BGH member approves a request with her own signing PIN: the CA opens in memory for this
/// one issuing. The PIN is counted by the same guard as a signing.
async fn hocba_approve_signer(
    State(s): State<Shared>,
    u: ApiUser,
    Path(account): Path<String>,
    b: JsonBody<ApproveSigner>,
) -> Result<Json<Value>, ApiError> {
    // Who may not approve learns it before any PIN is spent.
    if u.principal.account.disabled || super::hocba::head_role(&u.principal.account.roles).is_none()
    {
        return Err(super::hocba::HocbaError::NotApprover.into());
    }
    if u.principal.id() == account {
        return Err(super::hocba::HocbaError::OwnRequest.into());
    }
    let body = json_body(b)?;
    let pin = body.pin.clone();
    let asked = account.clone();
    // Every refusal that does not need her PIN comes before the PIN is counted (review r15 #3).
    let precheck = move |store: &crate::store::Store, p: &crate::auth::Principal, _now| {
        super::hocba::ca::approve_precheck(&store.read()?, store.dir(), p, &asked).map(|_| ())
    };
    let rec = guarded_signing(&s, &u, &pin, precheck, move |store, _dir, p, now| {
        let actor = crate::store::Actor {
            id: p.id().to_string(),
            now,
        };
        super::hocba::ca::approve(store, &actor, p, &account, &body.pin)
    })
    .await?
    .0;
    tracing::info!(account = %rec.account, by = %u.principal.id(), "học bạ certificate issued on approval");
    Ok(Json(json!({
        "issued": true,
        "account": rec.account,
        "role": rec.role,
        "message": format!("Đã cấp chứng thư ký học bạ cho {} ({}).", rec.full_name, rec.role),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewCa {
    pin: String,
    #[serde(default)]
    reason: String,
}

/// A BGH member holding the school signing CA renews it with her PIN (`ca::renew`): a new CA,
/// the old one kept for verification, the school CA's certificates re-issued. The PIN is counted
/// by the same guard as a signing.
async fn hocba_renew_ca(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<RenewCa>,
) -> Result<Json<Value>, ApiError> {
    // Who may not renew learns it first, whatever the body (the role gate).
    if u.principal.account.disabled || super::hocba::head_role(&u.principal.account.roles).is_none()
    {
        return Err(super::hocba::HocbaError::NotRenewer.into());
    }
    let body = json_body(b)?;
    // Refusals that need no PIN first — not a BGH member, no CA, no certificate, not a holder,
    // a PIN known to be short (the CLI's check too) —, then the PIN's own length.
    super::hocba::ca::renew_precheck(&s.store.read()?, &u.principal)?;
    let pin = body.pin.clone();
    let precheck = |store: &crate::store::Store, p: &crate::auth::Principal, _now| {
        super::hocba::ca::renew_precheck(&store.read()?, p)
    };
    let done = guarded_signing(&s, &u, &pin, precheck, move |store, _dir, p, now| {
        let actor = crate::store::Actor {
            id: p.id().to_string(),
            now,
        };
        super::hocba::ca::renew(store, &actor, p, &body.pin, &body.reason)
    })
    .await?
    .0;
    tracing::info!(by = %u.principal.id(), ca = %done.sha256, "school signing CA renewed on the web");
    let mut message = format!(
        "Đã gia hạn CA ký số của trường: {}. Học bạ đã ký bằng CA cũ vẫn được kiểm tra hợp lệ.",
        done.name
    );
    if !done.reissued.is_empty() {
        message += &format!(
            " Chứng thư của {} đã được cấp lại (giữ nguyên mã PIN).",
            done.reissued.join(", ")
        );
    }
    if !done.must_request.is_empty() {
        message += &format!(
            " {} cần xin cấp chứng thư mới ở trang này.",
            done.must_request.join(", ")
        );
    }
    Ok(Json(json!({
        "renewed": true,
        "sha256": done.sha256,
        "reissued": done.reissued,
        "must_request": done.must_request,
        "message": message,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineSigner {
    reason: String,
}

async fn hocba_decline_signer(
    State(s): State<Shared>,
    u: ApiUser,
    Path(account): Path<String>,
    b: JsonBody<DeclineSigner>,
) -> Result<Json<Value>, ApiError> {
    if super::hocba::head_role(&u.principal.account.roles).is_none() {
        return Err(super::hocba::HocbaError::NotApprover.into());
    }
    let body = json_body(b)?;
    super::hocba::ca::decline(&s.store, &u.actor(), &u.principal, &account, &body.reason)?;
    Ok(Json(json!({
        "declined": true,
        "message": "Đã từ chối yêu cầu; người xin cấp thấy lý do trên trang của mình.",
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignClass {
    stage: super::hocba::Stage,
    pin: String,
}

/// The whole class's học bạ signed at one stage with the signer's PIN. The PIN checks share
/// the lesson plans' guard: one budget of guesses per person, whichever key they unlock.
/// The longest the principal's signing waits for the GVCN signatures' time-stamps.
const STAMP_FIRST_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

async fn hocba_sign(
    State(s): State<Shared>,
    u: ApiUser,
    Path(class): Path<String>,
    b: JsonBody<SignClass>,
) -> Result<Json<super::hocba::ClassSigned>, ApiError> {
    let body = json_body(b)?;
    // Refusals that need no PIN come first, so they never spend a guess.
    super::hocba::check_before_pin(
        &s.store.read()?,
        &u.principal,
        &class,
        body.stage,
        jiff::Timestamp::now(),
    )?;
    // The homeroom teacher's signatures take their time-stamps before the principal's cover
    // them (bounded: a hub out of reach delays the signing by at most this).
    if body.stage == super::hocba::Stage::Principal && !body.pin.is_empty() {
        super::hocba::stamp_first(&s.store, &format!("{class}/"), STAMP_FIRST_LIMIT).await;
    }
    let pin = body.pin.clone();
    let (c, stage) = (class.clone(), body.stage);
    let precheck = move |store: &crate::store::Store, p: &crate::auth::Principal, now| {
        let r = store.read()?;
        super::hocba::check_before_pin(&r, p, &c, stage, now)?;
        super::hocba::check_not_retired(&r, store.dir(), p)
    };
    guarded_signing(&s, &u, &pin, precheck, move |store, dir, p, now| {
        super::hocba::sign_class(store, dir, p, &class, body.stage, &body.pin, now)
    })
    .await
}

/// One student's học bạ signed at one stage (a student who transferred out or withdrew: the
/// hồ sơ chuyển trường), under the same PIN guard as the class.
async fn hocba_sign_student(
    State(s): State<Shared>,
    u: ApiUser,
    Path(student): Path<String>,
    b: JsonBody<SignClass>,
) -> Result<Json<super::hocba::ClassSigned>, ApiError> {
    let body = json_body(b)?;
    let class = super::hocba::check_may_sign_student(
        &s.store.read()?,
        &u.principal,
        &student,
        body.stage,
        jiff::Timestamp::now(),
    )?
    .2
    .class
    .id;
    // As for the class: the GVCN's signature on this student's file takes its time-stamp
    // before the principal's covers it.
    if body.stage == super::hocba::Stage::Principal && !body.pin.is_empty() {
        let prefix = format!("{class}/{student}/");
        super::hocba::stamp_first(&s.store, &prefix, STAMP_FIRST_LIMIT).await;
    }
    let pin = body.pin.clone();
    let (who, stage) = (student.clone(), body.stage);
    let precheck = move |store: &crate::store::Store, p: &crate::auth::Principal, now| {
        let r = store.read()?;
        super::hocba::check_may_sign_student(&r, p, &who, stage, now)?;
        super::hocba::check_not_retired(&r, store.dir(), p)
    };
    guarded_signing(&s, &u, &pin, precheck, move |store, dir, p, now| {
        super::hocba::sign_student(store, dir, p, &student, body.stage, &body.pin, now)
    })
    .await
}

/// Runs a signing that unlocks the signer's key with `pin` through the one PIN guard
/// (`auth::pin::guarded`): `precheck`, the refusals that need no PIN, before a check is
/// reserved; a wrong PIN counted, any other refusal given back, success clearing the count.
async fn guarded_signing<T: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    pin: &str,
    precheck: impl FnOnce(
        &crate::store::Store,
        &crate::auth::Principal,
        jiff::Timestamp,
    ) -> Result<(), super::hocba::HocbaError>
    + Send
    + 'static,
    sign: impl FnOnce(
        &crate::store::Store,
        &std::path::Path,
        &crate::auth::Principal,
        jiff::Timestamp,
    ) -> Result<T, super::hocba::HocbaError>
    + Send
    + 'static,
) -> Result<Json<T>, ApiError> {
    if pin.is_empty() {
        return Err(ApiError::bad_request("Nhập mã PIN ký."));
    }
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let p = u.principal.clone();
    let (now, actor) = (jiff::Timestamp::now(), u.actor());
    let pin = pin.to_string();
    let done = tokio::task::spawn_blocking(move || {
        let dir = store.dir().to_path_buf();
        let account = p.id().to_string();
        crate::auth::pin::guarded(
            &store,
            &actor,
            &account,
            || precheck(&store, &p, now),
            || {
                let done = sign(&store, &dir, &p, now)?;
                // The PIN opened her key: one sealed with an earlier stretch is sealed again,
                // and whether it is long enough for the CA is learnt.
                if let Ok(Some(rec)) = store.read().and_then(|r| super::hocba::signer(&r, p.id())) {
                    super::hocba::reseal_signer(&store, &actor, &rec, &pin);
                }
                Ok(done)
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
        Ok(done) => Ok(Json(done?)),
    }
}

impl From<GradeError> for ApiError {
    fn from(e: GradeError) -> Self {
        let status = match &e {
            GradeError::Store(s) => return ApiError::internal(s),
            GradeError::UnknownClass(_)
            | GradeError::UnknownSubject(_)
            | GradeError::UnknownCorrection(_) => StatusCode::NOT_FOUND,
            GradeError::NotYourClass
            | GradeError::NotHomeroom
            | GradeError::Forbidden
            | GradeError::SecondPersonNeeded
            | GradeError::Quarantined => StatusCode::FORBIDDEN,
            GradeError::Conflict { .. }
            | GradeError::NoteConflict { .. }
            | GradeError::AlreadyLocked(_)
            | GradeError::TermNotStarted { .. }
            | GradeError::NotLocked(_)
            | GradeError::CorrectionDecided
            | GradeError::Incomplete { .. } => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let details = match &e {
            GradeError::Conflict { current } => Some(json!({
                "current": current.as_ref().map(|c| json!({"text": c.mark.text(), "version": c.version, "by": c.by, "at": c.at})),
            })),
            GradeError::NoteConflict { current } => Some(json!({
                "current": current.as_ref().map(|n| json!({"text": n.text, "version": n.version, "by": n.by, "at": n.at})),
            })),
            GradeError::Incomplete { classes, .. } => Some(json!({ "classes": classes })),
            _ => None,
        };
        let mut a = ApiError::new(status, e.code(), e.to_string());
        a.details = details;
        a
    }
}

async fn write<R: Send + 'static>(
    s: &Shared,
    u: &ApiUser,
    f: impl FnOnce(&mut Tx<'_>) -> Result<R, GradeError> + Send + 'static,
) -> Result<R, ApiError> {
    crate::auth::extract::write_as(s, u, f).await
}

async fn get_sheet(
    State(s): State<Shared>,
    u: ApiUser,
    Path((class, subject, term)): Path<(String, String, String)>,
) -> Result<Json<super::Sheet>, ApiError> {
    let term = TermId::parse(&term)?;
    Ok(Json(super::sheet(
        &s.store.read()?,
        &u.principal,
        &class,
        &subject,
        term,
    )?))
}

async fn put_cell(
    State(s): State<Shared>,
    u: ApiUser,
    Path((class, subject, term)): Path<(String, String, String)>,
    b: JsonBody<CellEdit>,
) -> Result<Json<super::Saved>, ApiError> {
    let term = TermId::parse(&term)?;
    let edit = json_body(b)?;
    let p = u.principal.clone();
    Ok(Json(
        write(&s, &u, move |tx| {
            super::save_cell(tx, &p, &class, &subject, term, edit)
        })
        .await?,
    ))
}

async fn get_class(
    State(s): State<Shared>,
    u: ApiUser,
    Path(class): Path<String>,
) -> Result<Json<super::ClassBook>, ApiError> {
    Ok(Json(super::class_book_for(
        &s.store.read()?,
        &u.principal,
        &class,
    )?))
}

async fn put_record(
    State(s): State<Shared>,
    u: ApiUser,
    Path((class, term)): Path<(String, String)>,
    b: JsonBody<RecordEdit>,
) -> Result<Json<super::TermRecord>, ApiError> {
    let term = TermId::parse(&term)?;
    let edit = json_body(b)?;
    let p = u.principal.clone();
    Ok(Json(
        write(&s, &u, move |tx| {
            super::save_record(tx, &p, &class, term, edit)
        })
        .await?,
    ))
}

async fn put_summer(
    State(s): State<Shared>,
    u: ApiUser,
    Path(class): Path<String>,
    b: JsonBody<super::SummerEdit>,
) -> Result<Json<super::SummerRecord>, ApiError> {
    let edit = json_body(b)?;
    let p = u.principal.clone();
    Ok(Json(
        write(&s, &u, move |tx| super::save_summer(tx, &p, &class, edit)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockBody {
    #[serde(default)]
    force: bool,
    /// One class only (its id); absent: the whole school.
    #[serde(default)]
    class: Option<String>,
}

async fn lock(
    State(s): State<Shared>,
    u: ApiUser,
    Path(term): Path<String>,
    b: JsonBody<LockBody>,
) -> Result<Json<super::LockReport>, ApiError> {
    // The gate before the body: a caller who may not lock learns nothing from its validation.
    u.require(crate::auth::Action::LockTerm)?;
    let term = TermId::parse(&term)?;
    let LockBody { force, class } = json_body(b)?;
    let year = current_year(&s)?;
    let p = u.principal.clone();
    Ok(Json(
        write(&s, &u, move |tx| {
            // One class: its own year (last year's books finished in the summer, as the
            // demo's 9A2); the whole school: the current year.
            let year = match &class {
                Some(c) => super::class_of(tx, c)?.year,
                None => year,
            };
            super::lock_term(tx, &p, &year, term, class.as_deref(), force)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
    /// One class only (its id); absent: the whole school.
    #[serde(default)]
    class: Option<String>,
}

/// "2026-2027" or a refusal naming the shape.
fn school_year(year: &str) -> Result<(), ApiError> {
    if crate::school::is_school_year(year) {
        Ok(())
    } else {
        Err(GradeError::Graduation(format!(
            "Năm học \"{}\" không hợp lệ: ghi dạng 2026-2027.",
            year.chars().take(20).collect::<String>()
        ))
        .into())
    }
}

/// The students recognised as graduating (THCS/THPT) in a school year.
async fn get_graduation(
    State(s): State<Shared>,
    u: ApiUser,
    Path(year): Path<String>,
) -> Result<Json<Value>, ApiError> {
    u.require(crate::auth::Action::LockTerm)?;
    school_year(&year)?;
    let list = super::graduation::of_year(&s.store.read()?, &year)?;
    Ok(Json(json!({ "year": year, "graduates": list })))
}

/// Records the year's list of students recognised as graduating (xét công nhận tốt nghiệp),
/// replacing the one recorded before; BGH, after the last grade's year is locked.
async fn put_graduation(
    State(s): State<Shared>,
    u: ApiUser,
    Path(year): Path<String>,
    b: JsonBody<super::graduation::GraduationList>,
) -> Result<Json<Value>, ApiError> {
    u.require(crate::auth::Action::LockTerm)?;
    school_year(&year)?;
    let list = json_body(b)?;
    let y = year.clone();
    let n = write(&s, &u, move |tx| super::graduation::record(tx, &y, list)).await?;
    Ok(Json(json!({ "year": year, "recorded": n })))
}

async fn unlock(
    State(s): State<Shared>,
    u: ApiUser,
    Path(term): Path<String>,
    b: JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    u.require(crate::auth::Action::LockTerm)?;
    let term = TermId::parse(&term)?;
    let ReasonBody { reason, class } = json_body(b)?;
    let year = current_year(&s)?;
    let p = u.principal.clone();
    write(&s, &u, move |tx| {
        let year = match &class {
            Some(c) => super::class_of(tx, c)?.year,
            None => year,
        };
        super::unlock_term(tx, &p, &year, term, class.as_deref(), reason)
    })
    .await?;
    Ok(Json(json!({"unlocked": true})))
}

#[derive(Deserialize)]
struct RuleQuery {
    rule: Option<String>,
}

fn rule(r: Option<&str>) -> Result<RuleVersion, ApiError> {
    match r {
        None => Ok(RuleVersion::Tt22V1),
        Some(x) => RuleVersion::parse(x)
            .ok_or_else(|| ApiError::bad_request(format!("Không có phiên bản quy tắc \"{x}\""))),
    }
}

async fn recompute_preview(
    State(s): State<Shared>,
    u: ApiUser,
    Path(term): Path<String>,
    Query(q): Query<RuleQuery>,
) -> Result<Json<Value>, ApiError> {
    u.require(crate::auth::Action::LockTerm)?;
    let term = TermId::parse(&term)?;
    let rule = rule(q.rule.as_deref())?;
    let year = current_year(&s)?;
    let changes = super::recompute_preview(&s.store.read()?, &year, term, rule)?;
    Ok(Json(json!({"rule_version": rule, "changes": changes})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    rule: String,
}

async fn recompute_apply(
    State(s): State<Shared>,
    u: ApiUser,
    Path(term): Path<String>,
    b: JsonBody<RuleBody>,
) -> Result<Json<Value>, ApiError> {
    u.require(crate::auth::Action::LockTerm)?;
    let term = TermId::parse(&term)?;
    let rule = rule(Some(&json_body(b)?.rule))?;
    let year = current_year(&s)?;
    let p = u.principal.clone();
    let n = write(&s, &u, move |tx| {
        super::recompute_apply(tx, &p, &year, term, rule)
    })
    .await?;
    Ok(Json(json!({"rule_version": rule, "changed": n})))
}

async fn list_corrections(State(s): State<Shared>, u: ApiUser) -> Result<Json<Value>, ApiError> {
    let v = super::pending_corrections(&s.store.read()?, &u.principal)?;
    Ok(Json(json!({"corrections": v})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    approve: bool,
}

async fn decide_correction(
    State(s): State<Shared>,
    u: ApiUser,
    Path(id): Path<String>,
    b: JsonBody<Decision>,
) -> Result<Json<super::Correction>, ApiError> {
    let approve = json_body(b)?.approve;
    let p = u.principal.clone();
    Ok(Json(
        write(&s, &u, move |tx| {
            super::decide_correction(tx, &p, &id, approve)
        })
        .await?,
    ))
}

async fn get_settings(State(s): State<Shared>, u: ApiUser) -> Result<Json<Settings>, ApiError> {
    u.require(crate::auth::Action::ViewSchool)?;
    Ok(Json(super::settings(&s.store.read()?)?))
}

async fn put_settings(
    State(s): State<Shared>,
    u: ApiUser,
    b: JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    u.require(crate::auth::Action::LockTerm)?;
    let patch = json_body(b)?;
    let p = u.principal.clone();
    let st = write(&s, &u, move |tx| super::save_settings(tx, &p, patch)).await?;
    Ok(Json(json!({"saved": true, "settings": st})))
}

/// `{class}.xlsx` — the class book; `{class}.csv` — the class's results for machines.
async fn export(
    State(s): State<Shared>,
    u: ApiUser,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let (class, ext) = file.rsplit_once('.').ok_or_else(ApiError::not_found)?;
    let book = super::class_book_for(&s.store.read()?, &u.principal, class)?;
    let (bytes, ctype) = match ext {
        "xlsx" => (
            super::excel::export_class_book(&book).map_err(ApiError::internal)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        "csv" => (
            super::excel::results_csv(&book).into_bytes(),
            "text/csv; charset=utf-8",
        ),
        _ => return Err(ApiError::not_found()),
    };
    let name = format!("so-theo-doi-{}.{ext}", book.class.id);
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    commit: bool,
    /// Column mapping for teachers' own sheets: "tx1=C,tx2=D,gk=H,ck=I,id=B" (letters or headers).
    mapping: Option<String>,
}

/// Scores from a spreadsheet into one class × subject × term: preview by default, `?commit=true`
/// writes every cell in one transaction (or nothing).
async fn import(
    State(s): State<Shared>,
    u: ApiUser,
    Path((class, subject, term)): Path<(String, String, String)>,
    Query(q): Query<ImportQuery>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let term = TermId::parse(&term)?;
    let p = u.principal.clone();
    let mapping = q.mapping.clone();
    let plan = {
        let rx = s.store.read()?;
        super::excel::plan_import(&rx, &p, &class, &subject, term, &bytes, mapping.as_deref())?
    };
    if !q.commit {
        return Ok(Json(json!({"preview": plan})));
    }
    let p = u.principal.clone();
    let n = write(&s, &u, move |tx| {
        super::excel::apply_import(tx, &p, &class, &subject, term, plan)
    })
    .await?;
    Ok(Json(json!({"saved": n})))
}
