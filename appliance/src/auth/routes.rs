//! JSON API for sessions and accounts (`/api/v1/login`, `/logout`, `/me`, `/password`,
//! `/accounts`). Thin: parse, check permission, call the domain functions, render.

use std::time::Instant;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::ratelimit::LoginLimiter;
use super::{Account, AccountPatch, Action, LoginOk, NewAccount};
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, SESSION_COOKIE, Shared};

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/me", get(me))
        .route("/password", post(change_password))
        .route("/accounts", get(list).post(create))
        .route("/accounts/{id}", patch(update))
        .route("/accounts/{id}/reset-password", post(reset_password))
}

pub fn session_cookie(s: &Shared, token: &str) -> String {
    let secure = if s.https { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        super::SESSION_SECONDS
    )
}

pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Rate-limited, constant-work login shared by the API and the login form.
pub async fn do_login(
    s: &Shared,
    username: &str,
    password: &str,
    addr: &str,
) -> Result<LoginOk, ApiError> {
    if username.len() > 64 || password.chars().count() > super::MAX_PASSWORD_CHARS {
        return Err(super::AuthError::BadCredentials.into());
    }
    reserve_attempt(s, username, addr)?;
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let (u, p) = (username.to_string(), password.to_string());
    let r =
        tokio::task::spawn_blocking(move || super::login(&store, &u, &p, jiff::Timestamp::now()))
            .await?;
    match r {
        Ok(ok) => {
            s.part::<LoginLimiter>()?.succeeded(username, addr);
            tracing::info!(user = %ok.account.username, "login");
            Ok(ok)
        }
        Err(e) => {
            if matches!(e, super::AuthError::BadCredentials) {
                tracing::warn!(user = %username, %addr, "failed login");
            }
            Err(e.into())
        }
    }
}

/// Counts one password check for `username` from `addr` in the login limiter before it runs
/// (login and the current password of a password change share the budget).
fn reserve_attempt(s: &Shared, username: &str, addr: &str) -> Result<(), ApiError> {
    s.part::<LoginLimiter>()?
        .begin(username, addr, Instant::now())
        .map_err(|r| {
            let minutes = r.wait.as_secs().div_ceil(60).max(1);
            let why = if r.address {
                // Pupils share one address behind the school's router: the account is fine.
                format!(
                    "Có quá nhiều lần đăng nhập sai từ mạng này (không riêng tài khoản của bạn). Vui lòng thử lại sau {minutes} phút; nếu cả lớp bị chặn, báo người quản trị của trường."
                )
            } else {
                format!("Nhập sai mật khẩu quá nhiều lần. Vui lòng thử lại sau {minutes} phút.")
            };
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", why)
        })
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

fn account_json(a: &Account) -> serde_json::Value {
    json!({
        "id": a.id, "username": a.username, "full_name": a.full_name,
        "roles": a.roles, "department": a.department, "disabled": a.disabled,
        "must_change_password": a.must_change_password,
    })
}

async fn login(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    let ok = do_login(&s, &b.username, &b.password, &addr.ip().to_string()).await?;
    let body =
        json!({ "ok": true, "user": account_json(&ok.account), "csrf_token": ok.session.csrf });
    Ok((
        [(header::SET_COOKIE, session_cookie(&s, &ok.token))],
        Json(body),
    )
        .into_response())
}

async fn logout(State(s): State<Shared>, u: ApiUser) -> Result<Response, ApiError> {
    let store = s.store.clone();
    let actor = u.actor();
    tokio::task::spawn_blocking(move || super::logout(&store, &actor, &u.token)).await??;
    Ok((
        [(header::SET_COOKIE, clear_cookie())],
        Json(json!({"ok": true})),
    )
        .into_response())
}

async fn logout_everywhere(State(s): State<Shared>, u: ApiUser) -> Result<Response, ApiError> {
    let store = s.store.clone();
    let actor = u.actor();
    let id = u.principal.id().to_string();
    let n = tokio::task::spawn_blocking(move || super::logout_everywhere(&store, &actor, &id))
        .await??;
    Ok((
        [(header::SET_COOKIE, clear_cookie())],
        Json(json!({"ok": true, "closed_sessions": n})),
    )
        .into_response())
}

async fn me(u: ApiUser) -> Json<serde_json::Value> {
    let p = &u.principal;
    Json(json!({
        "user": account_json(&p.account),
        "teaches": p.teaches.iter().map(|(c, s)| json!({"class": c, "subject": s})).collect::<Vec<_>>(),
        "homeroom": p.homeroom,
        "csrf_token": u.session.csrf,
    }))
}

#[derive(Deserialize)]
struct PasswordBody {
    current: String,
    new: String,
}

async fn change_password(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    u: ApiUser,
    Json(b): Json<PasswordBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Policy first: a refused new password costs no guess of the current one.
    super::check_password_policy(&u.principal.account.username, &b.new)?;
    let username = u.principal.account.username.clone();
    let addr = addr.ip().to_string();
    reserve_attempt(&s, &username, &addr)?;
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let actor = u.actor();
    tokio::task::spawn_blocking(move || {
        super::change_password(&store, &actor, &u.token, &b.current, &b.new)
    })
    .await??;
    s.part::<LoginLimiter>()?.succeeded(&username, &addr);
    Ok(Json(json!({"ok": true})))
}

async fn list(State(s): State<Shared>, u: ApiUser) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageAccounts)?;
    let rx = s.store.read()?;
    let v: Vec<_> = super::list_accounts(&rx)?
        .iter()
        .map(account_json)
        .collect();
    Ok(Json(json!({ "accounts": v })))
}

#[derive(Deserialize)]
struct CreateBody {
    username: String,
    full_name: String,
    #[serde(default)]
    roles: Vec<String>,
    department: Option<String>,
    /// When absent, a temporary password is generated and returned once.
    password: Option<String>,
}

/// A school's roles at a school, the district's on the hub: a district account at a school (or
/// a teacher on the hub) would hold powers nobody there meant to give.
fn roles_for_server(s: &Shared, roles: &[super::Role]) -> Result<(), ApiError> {
    let allowed = super::Role::for_server(s.hub);
    match roles.iter().find(|r| !allowed.contains(r)) {
        None => Ok(()),
        Some(r) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "role_not_here",
            format!(
                "Vai trò “{}” không dùng được trên máy chủ này. Chọn một trong: {}.",
                r.label_vi(),
                allowed
                    .iter()
                    .map(|r| r.label_vi())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

async fn create(
    State(s): State<Shared>,
    u: ApiUser,
    body: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    u.require(Action::ManageAccounts)?;
    let Json(b) = body?;
    let roles = super::parse_roles(&b.roles)?;
    roles_for_server(&s, &roles)?;
    if roles.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_roles",
            "Cần chọn ít nhất một vai trò.",
        ));
    }
    let username = b.username.trim().to_lowercase();
    let (password, temporary) = match b.password {
        Some(p) => {
            super::check_password_policy(&username, &p)?;
            (p, false)
        }
        None => (super::temporary_password(), true),
    };
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let shown = temporary.then(|| password.clone());
    let phc = tokio::task::spawn_blocking(move || super::hash_password(&password)).await?;
    let store = s.store.clone();
    let actor = u.actor();
    let on_hub = s.hub;
    let acc = tokio::task::spawn_blocking(move || {
        store.write(&actor, |tx| -> Result<_, ApiError> {
            let a = super::create_account_tx(
                tx,
                NewAccount {
                    username,
                    full_name: b.full_name,
                    roles,
                    department: b.department,
                    password_phc: phc,
                    must_change_password: temporary,
                },
            )?;
            if !on_hub {
                check_department(tx, None, &a)?;
            }
            Ok(a)
        })
    })
    .await??;
    let mut body = json!({ "account": account_json(&acc) });
    if let Some(p) = shown {
        body["temporary_password"] = json!(p);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// An account's department, when it changes or is set: one the school has (review r9 #3: a
/// raw unknown id showed in the table and took the teacher out of their head's view), and for
/// a tổ trưởng, a department without another tổ trưởng in office. One head per department is
/// the rule: their view, the plans they sign and the dashboard are the department's, so a
/// second head is refused naming the first — the admin removes that role first (no confirm:
/// a tổ phó is a teacher of the department, not a second head).
fn check_department(
    tx: &crate::store::Tx<'_>,
    before: Option<&Account>,
    a: &Account,
) -> Result<(), ApiError> {
    let Some(dept_id) = a.department.as_deref() else {
        return Ok(());
    };
    let dept = tx.get(&crate::school::DEPARTMENTS, dept_id)?;
    if before.is_none_or(|b| b.department != a.department) && dept.is_none() {
        return Err(ApiError::bad_request(format!(
            "Không có tổ chuyên môn “{dept_id}”: chọn một tổ trong danh sách của trường."
        )));
    }
    let was_head_here = before.is_some_and(|b| {
        b.has(super::Role::DeptHead) && !b.disabled && b.department == a.department
    });
    if !a.has(super::Role::DeptHead) || a.disabled || was_head_here {
        return Ok(());
    }
    let other = tx
        .scan(&super::ACCOUNTS, "")?
        .into_iter()
        .map(|(_, o)| o)
        .find(|o| {
            o.id != a.id
                && !o.disabled
                && o.has(super::Role::DeptHead)
                && o.department == a.department
        });
    match other {
        None => Ok(()),
        Some(o) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "dept_head_taken",
            format!(
                "{} đã có tổ trưởng là {}. Mỗi tổ một tổ trưởng: hãy bỏ vai trò Tổ trưởng của {} trước.",
                dept.map(|d| d.name).unwrap_or_else(|| dept_id.to_string()),
                o.full_name,
                o.full_name
            ),
        )),
    }
}

/// An account's edit: its own fields, and the classes of this year it is the homeroom teacher
/// (GVCN) of — the whole list, so a class left out is given up, in the same transaction. A
/// class that has another GVCN is taken from them only with `replace_homeroom` (the edit
/// dialog asks first, naming them).
#[derive(Deserialize)]
struct PatchBody {
    #[serde(flatten)]
    account: AccountPatch,
    homeroom: Option<Vec<String>>,
    #[serde(default)]
    replace_homeroom: bool,
}

async fn update(
    State(s): State<Shared>,
    Path(id): Path<String>,
    u: ApiUser,
    body: Result<Json<PatchBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // The admin manages accounts; a BGH member may also grant, remove or disable the BGH roles
    // (which the admin may not once the school has a BGH member in office) and nothing else.
    let admin = super::permits(&u.principal, Action::ManageAccounts);
    if !admin && !u.principal.is_bgh() {
        return Err(ApiError::forbidden());
    }
    let Json(PatchBody {
        account: p,
        homeroom,
        replace_homeroom,
    }) = body?;
    if !admin {
        let bgh_only = |roles: &[super::Role]| {
            roles
                .iter()
                .copied()
                .filter(|r| !matches!(r, super::Role::Principal | super::Role::VicePrincipal))
                .collect::<Vec<_>>()
        };
        let current = s
            .store
            .read()?
            .get(&super::ACCOUNTS, &id)?
            .ok_or_else(ApiError::not_found)?;
        let wanted = p.roles.as_deref().map(super::parse_roles).transpose()?;
        if let Some(w) = &wanted {
            roles_for_server(&s, w)?;
        }
        // What a BGH member asked beyond the signing roles, each named, so she knows which
        // rule stopped her and who does it instead (review r22 #8): the roles added or
        // removed by name, not a bare 403.
        let mut beyond: Vec<String> = Vec::new();
        if let Some(w) = &wanted {
            let (now, after) = (bgh_only(&current.roles), bgh_only(w));
            let added: Vec<&str> = after
                .iter()
                .filter(|r| !now.contains(r))
                .map(|r| r.label_vi())
                .collect();
            let removed: Vec<&str> = now
                .iter()
                .filter(|r| !after.contains(r))
                .map(|r| r.label_vi())
                .collect();
            if !added.is_empty() {
                beyond.push(format!("thêm vai trò {}", added.join(", ")));
            }
            if !removed.is_empty() {
                beyond.push(format!("bỏ vai trò {}", removed.join(", ")));
            }
        }
        // A BGH account's name is printed on what it approves: renaming it is a BGH act
        // (`check_bgh_change` decides who), not the admin's — anyone else's name is the admin's.
        if !current.is_bgh()
            && p.full_name
                .as_ref()
                .is_some_and(|n| n.trim() != current.full_name)
        {
            beyond.push("đổi họ tên".into());
        }
        if p.department.as_ref().is_some_and(|d| {
            d.as_deref().filter(|d| !d.is_empty()) != current.department.as_deref()
        }) {
            beyond.push("đổi tổ chuyên môn".into());
        }
        if homeroom.is_some() {
            beyond.push("giao lớp chủ nhiệm".into());
        }
        if !beyond.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "bgh_roles_only",
                format!(
                    "Ban giám hiệu chỉ giao, bỏ hoặc khoá vai trò Hiệu trưởng, Phó hiệu trưởng của tài khoản và sửa họ tên thành viên Ban giám hiệu; \
                     việc còn lại ({}) là của quản trị viên (tin học) ở trang Tài khoản. \
                     Muốn chỉ giao hay bỏ vai trò Ban giám hiệu thì giữ nguyên các vai trò khác.",
                    beyond.join("; ")
                ),
            ));
        }
    }
    let store = s.store.clone();
    let actor = u.actor();
    let on_hub = s.hub;
    let (a, classes) = tokio::task::spawn_blocking(move || {
        store.write(&actor, |tx| -> Result<_, ApiError> {
            let before = tx.get(&super::ACCOUNTS, &id)?;
            let a = super::update_account_tx(tx, &id, p)?;
            if !on_hub {
                check_department(tx, before.as_ref(), &a)?;
                // A BGH member demoted or disabled no longer holds the school signing CA: her
                // wrap goes now, so the signer page is true at once (review r13 #8).
                crate::gradebook::hocba::ca::drop_stale_wraps(tx)?;
            }
            let Some(wanted) = homeroom else {
                return Ok((a, None));
            };
            // This year's classes, and another year's class only when named (below).
            let year = crate::school::school_info(tx)?.map(|i| i.current_year);
            // A GVCN is a teacher of the school (a tổ trưởng is one too): a BGH-only or
            // admin-only account is refused (review r9 #3: the principal became GVCN of 7A1).
            let teaches = a.has(super::Role::Teacher) || a.has(super::Role::DeptHead);
            if !wanted.is_empty() && (a.disabled || !teaches) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "not_a_teacher",
                    "Chỉ tài khoản có vai trò Giáo viên (đang hoạt động) mới làm chủ nhiệm lớp.",
                ));
            }
            let mut now = vec![];
            for c in crate::school::list(tx, &crate::school::CLASSES)? {
                let keep = wanted.contains(&c.id);
                let had = c.homeroom.as_deref() == Some(id.as_str());
                // Another year's class (last year's, whose học bạ are still to be signed or
                // signed again) is changed only when named: its GVCN is history otherwise, and
                // a list of this year's classes never takes it off its teacher.
                let past = Some(&c.year) != year.as_ref();
                if past && !keep {
                    continue;
                }
                let label = if past {
                    format!("{} (năm học {})", c.name, c.year)
                } else {
                    c.name.clone()
                };
                // A class whose year is locked keeps the homeroom teacher its học bạ are
                // signed by (review r8 #1): the change waits for BGH to reopen the year.
                if keep != had
                    && crate::gradebook::is_class_locked(tx, &c, crate::gradebook::TermId::Hk2)?
                {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "homeroom_locked",
                        format!(
                            "Lớp {label} đã khoá sổ cả năm: không đổi giáo viên chủ nhiệm được. Ban giám hiệu mở khoá sổ học kì II của lớp (có lí do) rồi mới đổi; học bạ sẽ ký lại thành phiên bản mới."
                        ),
                    ));
                }
                // Another teacher's class is not taken silently (review r9 #3): the caller
                // names the replacement; the class's audited change records who was replaced.
                if keep
                    && !had
                    && !replace_homeroom
                    && let Some(current) = c.homeroom.as_deref()
                {
                    let name = tx
                        .get(&super::ACCOUNTS, current)?
                        .map(|o| o.full_name)
                        .unwrap_or_else(|| current.to_string());
                    let mut e = ApiError::new(
                        StatusCode::CONFLICT,
                        "homeroom_taken",
                        format!(
                            "Lớp {label} đang có giáo viên chủ nhiệm {name}. Xác nhận thay giáo viên chủ nhiệm nếu muốn giao lớp này cho {}.",
                            a.full_name
                        ),
                    );
                    e.details = Some(json!({"class": c.id, "current": current, "current_name": name}));
                    return Err(e);
                }
                if keep && !had {
                    crate::school::set_homeroom(tx, &c.id, Some(id.clone()))?;
                } else if had && !keep {
                    crate::school::set_homeroom(tx, &c.id, None)?;
                }
                if keep {
                    now.push(c.id.clone());
                }
            }
            if let Some(unknown) = wanted.iter().find(|w| !now.contains(w)) {
                return Err(crate::school::SchoolError::NoSuchClass(unknown.clone()).into());
            }
            Ok((a, Some(now)))
        })
    })
    .await??;
    let mut body = json!({ "account": account_json(&a) });
    if let Some(c) = classes {
        body["homeroom"] = json!(c);
    }
    Ok(Json(body))
}

async fn reset_password(
    State(s): State<Shared>,
    Path(id): Path<String>,
    u: ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageAccounts)?;
    let temp = super::temporary_password();
    let _permit = s.hashing.acquire().await.map_err(ApiError::internal)?;
    let store = s.store.clone();
    let actor = u.actor();
    let t2 = temp.clone();
    tokio::task::spawn_blocking(move || super::admin_reset_password(&store, &actor, &id, &t2))
        .await??;
    Ok(Json(json!({ "ok": true, "temporary_password": temp })))
}
