//! Accounts, roles, passwords (argon2id), server-side sessions and the one permission function.
//! Domain code here is synchronous and takes time as an argument; routes live in `routes.rs`.

pub mod extract;
pub mod migrate;
pub mod pages;
pub mod permission;
pub mod pin;
pub mod ratelimit;
pub mod routes;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::store::{Actor, AuditPolicy, Collection, Rx, Store, StoreError};

pub use permission::{Action, Principal, may_see, permits};

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Quản trị / IT của trường
    Admin,
    /// Hiệu trưởng
    Principal,
    /// Phó hiệu trưởng
    VicePrincipal,
    /// Tổ trưởng chuyên môn
    DeptHead,
    /// Giáo viên
    Teacher,
    /// Quản trị của Phòng/Sở GD&ĐT on the district hub: its accounts and everything staff see.
    DistrictAdmin,
    /// Chuyên viên Phòng/Sở on the district hub: reads the reports and exports, changes nothing.
    DistrictStaff,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Principal,
        Role::VicePrincipal,
        Role::DeptHead,
        Role::Teacher,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Principal => "principal",
            Role::VicePrincipal => "vice_principal",
            Role::DeptHead => "dept_head",
            Role::Teacher => "teacher",
            Role::DistrictAdmin => "district_admin",
            Role::DistrictStaff => "district_staff",
        }
    }
    pub fn label_vi(self) -> &'static str {
        match self {
            Role::Admin => "Quản trị (IT)",
            Role::Principal => "Hiệu trưởng",
            Role::VicePrincipal => "Phó hiệu trưởng",
            Role::DeptHead => "Tổ trưởng",
            Role::Teacher => "Giáo viên",
            Role::DistrictAdmin => "Quản trị Phòng/Sở",
            Role::DistrictStaff => "Chuyên viên Phòng/Sở (chỉ xem)",
        }
    }
    /// The district hub's roles: the only ones its accounts hold, and never a school's.
    pub const DISTRICT: [Role; 2] = [Role::DistrictAdmin, Role::DistrictStaff];
    pub fn is_district(self) -> bool {
        Role::DISTRICT.contains(&self)
    }
    /// The roles an account may hold on this server: a school's (`ALL`) or the hub's.
    pub fn for_server(hub: bool) -> &'static [Role] {
        if hub { &Role::DISTRICT } else { &Role::ALL }
    }
    /// Parses a role from its code or its Vietnamese name (as typed in a spreadsheet).
    pub fn parse(s: &str) -> Option<Role> {
        let f = crate::text::fold(s);
        Role::ALL.into_iter().find(|r| {
            r.code() == s.trim() || crate::text::fold(r.label_vi()) == f || {
                // common short forms in school spreadsheets
                matches!(
                    (r, f.as_str()),
                    (Role::Admin, "quan tri" | "it")
                        | (Role::Principal, "ht")
                        | (Role::VicePrincipal, "pht")
                        | (Role::DeptHead, "tt" | "to truong chuyen mon")
                        | (Role::Teacher, "gv" | "giao vien bo mon")
                )
            }
        })
    }
}

/// A staff account.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub full_name: String,
    pub roles: Vec<Role>,
    /// Tổ chuyên môn the person belongs to.
    pub department: Option<String>,
    pub disabled: bool,
    pub created_at: String,
    #[serde(default)]
    pub must_change_password: bool,
    /// The last time someone else set this account's password (the admin's reset, or the
    /// admin's creation of the account once the school is set up): who, when. For a week after
    /// it the account does none of the acts that carry trust — approve or review plans, lock or
    /// unlock a term, decide a correction, make or reset a signing key as a reviewer, change a
    /// BGH account — so an account taken over through a reset cannot act before its owner
    /// notices ([`permission::permits`], `check_bgh_change`).
    #[serde(default)]
    pub password_reset: Option<(String, String)>,
}

/// How long after a password reset by someone else an account may not change who signs.
pub const RESET_QUARANTINE_DAYS: i64 = 7;

impl Account {
    pub fn has(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }
    /// Principal or vice principal (Ban giám hiệu).
    pub fn is_bgh(&self) -> bool {
        self.has(Role::Principal) || self.has(Role::VicePrincipal)
    }
    /// Whether someone else reset this account's password within the quarantine before `now`.
    pub fn recently_reset(&self, now: jiff::Timestamp) -> bool {
        self.password_reset.as_ref().is_some_and(|(by, at)| {
            by != &self.id
                && at
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| now.as_second() - t.as_second() < RESET_QUARANTINE_DAYS * 86_400)
        })
    }
}

/// How long a change to someone's signing is shown to her on her home page (not dismissable,
/// so someone who used the account cannot hide it): a lesson-plan key made, replaced or reset
/// (`lessons::sign::recent_changes`), the school's học bạ CA recovered or renewed for her
/// (`gradebook::hocba::ca::recent_notices`) — one window, one list.
pub const SIGNING_NOTICE_DAYS: i64 = 30;

/// Whether `at` (an RFC 3339 moment as stored) lies within [`SIGNING_NOTICE_DAYS`] before `now`.
pub fn within_signing_notice(at: &str, now: jiff::Timestamp) -> bool {
    at.parse::<jiff::Timestamp>()
        .is_ok_and(|t| now.as_second() - t.as_second() <= SIGNING_NOTICE_DAYS * 86_400)
}

/// A BGH account someone has used: chosen a password, or had it reset since.
fn in_office(a: &Account) -> bool {
    a.is_bgh() && !a.disabled && (!a.must_change_password || a.password_reset.is_some())
}

/// Whether the school is still being set up: no BGH member other than `except` is in office.
/// Until then the admin makes (and corrects) the accounts, the BGH ones included, and accounts
/// it creates are not put in quarantine.
fn setting_up(accounts: &[(String, Account)], except: &str) -> bool {
    !accounts.iter().any(|(id, a)| in_office(a) && id != except)
}

/// Separation of duties for the roles that sign (principal, vice principal). The admin (IT)
/// never holds them. Once the school has a BGH member in office, every change to a BGH account
/// — its roles, whether it is disabled, its name (approvals print it) — is a BGH member's act:
/// - the actor is a BGH member in office whose password nobody else set this week (an account
///   taken over through a reset does not change who signs);
/// - a principal's matters (granting or removing the principal role, disabling or renaming a
///   principal) are a principal's, unless no principal is in office;
/// - nobody grants themselves a signing role;
/// - a signing role goes only to an account whose owner has chosen their own password;
/// - the school is never left without a principal in office.
///
/// The first accounts of a new school are made by the admin (nobody else exists yet).
pub fn check_bgh_change(
    tx: &mut crate::store::Tx<'_>,
    before: Option<&Account>,
    after: &Account,
) -> Result<(), AuthError> {
    if after.has(Role::Admin) && after.is_bgh() {
        return Err(AuthError::AdminCannotSign);
    }
    let touches_bgh = before.is_some_and(|b| b.is_bgh()) || after.is_bgh();
    let changed = before.is_none_or(|b| {
        b.has(Role::Principal) != after.has(Role::Principal)
            || b.has(Role::VicePrincipal) != after.has(Role::VicePrincipal)
            || b.disabled != after.disabled
            || b.full_name != after.full_name
    });
    if !(touches_bgh && changed) {
        return Ok(());
    }
    // The box's own setup (the demo school, provisioning) is not a person acting.
    if tx.actor_id() == "system" {
        return Ok(());
    }
    let accounts = tx.scan(&ACCOUNTS, "")?;
    if setting_up(&accounts, &after.id) && !before.is_some_and(in_office) {
        return Ok(());
    }
    let now = tx.now();
    let actor = accounts
        .iter()
        .map(|(_, a)| a)
        .find(|a| a.id == tx.actor_id() && a.is_bgh() && !a.disabled)
        .ok_or(AuthError::BghBySecondBgh)?;
    if actor.recently_reset(now) {
        return Err(AuthError::Quarantined);
    }
    let principal_in_office = accounts
        .iter()
        .any(|(_, a)| in_office(a) && a.has(Role::Principal));
    let principal_matter =
        before.is_some_and(|b| b.has(Role::Principal)) || after.has(Role::Principal);
    if principal_matter && principal_in_office && !actor.has(Role::Principal) {
        return Err(AuthError::PrincipalOnly);
    }
    let principal_after = accounts
        .iter()
        .map(|(id, a)| if *id == after.id { after } else { a })
        .any(|a| in_office(a) && a.has(Role::Principal));
    if principal_in_office && !principal_after {
        return Err(AuthError::LastPrincipal);
    }
    let gains = |r: Role| after.has(r) && !before.is_some_and(|b| b.has(r) && !b.disabled);
    let granted = !after.disabled && (gains(Role::Principal) || gains(Role::VicePrincipal));
    if granted && after.id == actor.id {
        return Err(AuthError::BghBySecondBgh);
    }
    if granted && after.must_change_password {
        return Err(AuthError::NotOwnPasswordYet);
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Credential {
    pub phc: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Session {
    pub account_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub csrf: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct UsernameIndex {
    id: String,
}

pub const ACCOUNTS: Collection<Account> =
    Collection::new("auth.accounts.v2", AuditPolicy::Values, None);
pub const CREDENTIALS: Collection<Credential> =
    Collection::new("auth.credentials.v1", AuditPolicy::Digest, None);
const USERNAMES: Collection<UsernameIndex> =
    Collection::new("auth.usernames.v1", AuditPolicy::Values, None);
pub const SESSIONS: Collection<Session> =
    Collection::new("auth.sessions.v1", AuditPolicy::None, None);

pub const TABLES: [&str; 4] = [
    ACCOUNTS.name,
    CREDENTIALS.name,
    USERNAMES.name,
    SESSIONS.name,
];

/// How long a session lives: a school term's worth of weeks is too long for a shared phone,
/// a day is too short for a teacher's own phone.
pub const SESSION_SECONDS: i64 = 14 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Also the answer for a disabled account with the right password: the two must not be told
    /// apart, or the login form becomes a password oracle for disabled accounts.
    #[error("Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đã bị khoá.")]
    BadCredentials,
    #[error("Tài khoản đã bị khoá. Liên hệ quản trị của trường.")]
    Disabled,
    #[error("Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.")]
    SessionExpired,
    #[error("Tên đăng nhập \"{0}\" đã có người dùng.")]
    UsernameTaken(String),
    #[error(
        "Tên đăng nhập chỉ gồm chữ thường không dấu, số, dấu chấm, gạch dưới hoặc gạch ngang (3–32 ký tự): nhận được \"{0}\"."
    )]
    BadUsername(String),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("Mật khẩu hiện tại không đúng.")]
    WrongCurrentPassword,
    #[error("Vai trò không hợp lệ: \"{0}\".")]
    UnknownRole(String),
    #[error("Không tìm thấy tài khoản \"{0}\".")]
    NoSuchAccount(String),
    #[error("Họ tên không được để trống.")]
    EmptyName,
    #[error("Cần chọn ít nhất một vai trò.")]
    NoRoles,
    #[error("Không thể tự khoá hoặc bỏ quyền quản trị của chính mình.")]
    SelfLockout,
    #[error(
        "Tài khoản quản trị (tin học) không giữ vai trò Ban giám hiệu: người ký không phải người quản trị máy."
    )]
    AdminCannotSign,
    #[error(
        "Chỉ một thành viên Ban giám hiệu khác mới giao, bỏ, khoá hoặc đổi tên tài khoản Ban giám hiệu (hai người cho việc đổi người ký); không ai tự giao vai trò ký cho mình."
    )]
    BghBySecondBgh,
    #[error(
        "Mật khẩu tài khoản này vừa được người khác đặt lại (hoặc tài khoản do người khác tạo): trong {} ngày, tài khoản chưa được ký duyệt, khoá sổ, duyệt sửa điểm, tạo khoá ký hay đổi vai trò Ban giám hiệu. Nếu mật khẩu không do chính bạn yêu cầu đặt lại, báo ngay Hiệu trưởng.",
        RESET_QUARANTINE_DAYS
    )]
    Quarantined,
    #[error("Chỉ Hiệu trưởng mới giao, bỏ, khoá hoặc đổi tên vai trò Hiệu trưởng.")]
    PrincipalOnly,
    #[error(
        "Trường phải luôn có một Hiệu trưởng đang làm việc: hãy giao vai trò Hiệu trưởng cho người kế nhiệm trước."
    )]
    LastPrincipal,
    #[error(
        "Người này cần đăng nhập và tự đặt mật khẩu của mình trước khi được giao vai trò Ban giám hiệu."
    )]
    NotOwnPasswordYet,
    #[error("Mật khẩu mới phải khác mật khẩu hiện tại (và khác mật khẩu tạm thời).")]
    SamePassword,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::BadCredentials => "bad_credentials",
            AuthError::NoRoles => "no_roles",
            AuthError::Disabled => "account_disabled",
            AuthError::SessionExpired => "session_expired",
            AuthError::UsernameTaken(_) => "username_taken",
            AuthError::BadUsername(_) => "bad_username",
            AuthError::WeakPassword(_) => "weak_password",
            AuthError::WrongCurrentPassword => "wrong_current_password",
            AuthError::UnknownRole(_) => "unknown_role",
            AuthError::NoSuchAccount(_) => "no_such_account",
            AuthError::EmptyName => "empty_name",
            AuthError::SelfLockout => "self_lockout",
            AuthError::AdminCannotSign => "admin_cannot_sign",
            AuthError::BghBySecondBgh => "second_person_needed",
            AuthError::Quarantined => "recently_reset",
            AuthError::PrincipalOnly => "principal_only",
            AuthError::LastPrincipal => "last_principal",
            AuthError::NotOwnPasswordYet => "not_own_password_yet",
            AuthError::SamePassword => "same_password",
            AuthError::Store(_) => "storage",
        }
    }
}

pub fn valid_username(u: &str) -> bool {
    (3..=32).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The longest password accepted anywhere (login, change, reset, creation), in characters after
/// NFC normalisation: one limit, so no path can set a password another path refuses.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Passwords are hashed and checked in NFC: Unikey's combining mode types "ệ" as NFD, another
/// keyboard as NFC, and both must open the same account.
fn password_form(pw: &str) -> String {
    crate::text::nfc(pw)
}

pub fn hash_password(pw: &str) -> String {
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes is a valid salt");
    argon2::Argon2::default()
        .hash_password(password_form(pw).as_bytes(), &salt)
        .expect("argon2id with default parameters cannot fail")
        .to_string()
}

fn verify_exact(pw: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(pw.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// How a password matched its stored hash.
#[derive(Debug, PartialEq, Eq)]
enum Verified {
    No,
    /// In NFC, the form every hash is made in now.
    Yes,
    /// Only as typed in another normalisation form: a hash made before passwords were normalised.
    /// The caller rehashes it in NFC so the next check needs one hash.
    Legacy,
}

fn verify_password(pw: &str, phc: &str) -> Verified {
    let nfc = password_form(pw);
    if verify_exact(&nfc, phc) {
        return Verified::Yes;
    }
    if pw.is_ascii() {
        return Verified::No;
    }
    use unicode_normalization::UnicodeNormalization;
    let nfd: String = pw.nfd().collect();
    let mut tried = vec![nfc];
    for form in [pw.to_string(), nfd] {
        if !tried.contains(&form) {
            if verify_exact(&form, phc) {
                return Verified::Legacy;
            }
            tried.push(form);
        }
    }
    Verified::No
}

/// A hash of a password nobody knows, verified against when the username does not exist so
/// that the response time does not reveal which usernames exist.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(&format!("{:x}", rand::random::<u128>())))
}

/// The password rules, the same for every path that sets one: 8 to [`MAX_PASSWORD_CHARS`]
/// characters, and not easy to guess by zxcvbn's estimate (score 2 of 4, "somewhat guessable":
/// resists an online attack; common passwords, keyboard runs, repeats, dates and the username
/// all score lower). The temporary passwords Trạm makes (`nui-la-la-4865`) pass.
pub fn check_password_policy(username: &str, pw: &str) -> Result<(), AuthError> {
    let pw = password_form(pw);
    let n = pw.chars().count();
    if n < 8 {
        return Err(AuthError::WeakPassword("Mật khẩu phải có ít nhất 8 ký tự."));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword("Mật khẩu dài tối đa 256 ký tự."));
    }
    if pw.trim().is_empty() || pw.eq_ignore_ascii_case(username) {
        return Err(AuthError::WeakPassword(
            "Mật khẩu quá dễ đoán. Hãy ghép vài từ với chữ số, ví dụ: nui-la-la-4865.",
        ));
    }
    let folded = crate::text::fold(&pw);
    let score = zxcvbn::zxcvbn(&folded, &[username, "tram", "truong", "matkhau"]).score();
    if (score as u8) < 2 {
        return Err(AuthError::WeakPassword(
            "Mật khẩu quá dễ đoán (như 12345678, password, tên đăng nhập hay một từ lặp lại). Hãy ghép vài từ với chữ số, ví dụ: nui-la-la-4865.",
        ));
    }
    Ok(())
}

pub struct NewAccount {
    pub username: String,
    pub full_name: String,
    pub roles: Vec<Role>,
    pub department: Option<String>,
    /// An argon2id PHC string (hash outside the write transaction: it takes ~100 ms).
    pub password_phc: String,
    pub must_change_password: bool,
}

pub fn account_id_for(username: &str) -> String {
    format!("u-{username}")
}

/// Creates an account inside a write transaction (used by the API, the import and the demo).
pub fn create_account_tx(
    tx: &mut crate::store::Tx<'_>,
    n: NewAccount,
) -> Result<Account, AuthError> {
    let username = n.username.trim().to_lowercase();
    if !valid_username(&username) {
        return Err(AuthError::BadUsername(n.username));
    }
    if n.full_name.trim().is_empty() {
        return Err(AuthError::EmptyName);
    }
    if tx.get(&USERNAMES, &username)?.is_some() {
        return Err(AuthError::UsernameTaken(username));
    }
    let mut roles = n.roles;
    roles.sort();
    roles.dedup();
    let acc = Account {
        id: account_id_for(&username),
        username: username.clone(),
        full_name: crate::text::nfc(n.full_name.trim()),
        roles,
        department: n.department.filter(|d| !d.is_empty()),
        disabled: false,
        created_at: tx.now().to_string(),
        must_change_password: n.must_change_password,
        password_reset: None,
    };
    check_bgh_change(tx, None, &acc)?;
    // A person who sets another's first password (the admin creating the account) could log
    // in as them before they do: once the school is set up, such an account starts in the
    // same quarantine as after a reset.
    let mut acc = acc;
    if n.must_change_password
        && tx.actor_id() != "system"
        && !setting_up(&tx.scan(&ACCOUNTS, "")?, &acc.id)
    {
        acc.password_reset = Some((tx.actor_id().to_string(), tx.now().to_string()));
    }
    tx.put(&ACCOUNTS, &acc.id, &acc, "account.create")?;
    tx.put(
        &USERNAMES,
        &username,
        &UsernameIndex { id: acc.id.clone() },
        "account.username",
    )?;
    tx.put(
        &CREDENTIALS,
        &acc.id,
        &Credential {
            phc: n.password_phc,
        },
        "account.password.set",
    )?;
    Ok(acc)
}

pub fn find_by_username(rx: &Rx, username: &str) -> Result<Option<Account>, StoreError> {
    let Some(ix) = rx.get(&USERNAMES, &username.trim().to_lowercase())? else {
        return Ok(None);
    };
    rx.get(&ACCOUNTS, &ix.id)
}

pub fn list_accounts(rx: &Rx) -> Result<Vec<Account>, StoreError> {
    Ok(rx
        .scan(&ACCOUNTS, "")?
        .into_iter()
        .map(|(_, a)| a)
        .collect())
}

pub struct LoginOk {
    pub token: String,
    pub session: Session,
    pub account: Account,
}

/// Checks the password and opens a session. Slow (argon2): call it on a blocking thread.
pub fn login(
    store: &Store,
    username: &str,
    password: &str,
    now: jiff::Timestamp,
) -> Result<LoginOk, AuthError> {
    let rx = store.read()?;
    let acc = find_by_username(&rx, username)?;
    let phc = match &acc {
        Some(a) => rx.get(&CREDENTIALS, &a.id)?.map(|c| c.phc),
        None => None,
    };
    drop(rx);
    let verified = verify_password(password, phc.as_deref().unwrap_or(dummy_hash()));
    let acc = match acc {
        // A disabled account answers exactly as a wrong password does (no oracle).
        Some(a) if verified != Verified::No && phc.is_some() && !a.disabled => a,
        _ => return Err(AuthError::BadCredentials),
    };
    let rehash = (verified == Verified::Legacy).then(|| hash_password(password));
    let token = random_token();
    let session = Session {
        account_id: acc.id.clone(),
        created_at: now.as_second(),
        expires_at: now.as_second() + SESSION_SECONDS,
        csrf: random_token(),
    };
    let actor = Actor {
        id: acc.id.clone(),
        now,
    };
    store.write(&actor, |tx| {
        if let Some(phc) = rehash {
            tx.put(
                &CREDENTIALS,
                &acc.id,
                &Credential { phc },
                "account.password.rehash",
            )?;
        }
        tx.put(&SESSIONS, &token_key(&token), &session, "session.open")?;
        tx.event("auth.login", &format!("{}/{}", ACCOUNTS.name, acc.id), None);
        Ok::<_, AuthError>(())
    })?;
    Ok(LoginOk {
        token,
        session,
        account: acc,
    })
}

pub fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Sessions are stored under the hash of their token, so a stolen database file or backup
/// holds no usable session.
fn token_key(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Resolves a session token. Disabled accounts and expired sessions are refused on every
/// request, so disabling an account takes effect at once.
pub fn resolve_session(
    rx: &Rx,
    token: &str,
    now: jiff::Timestamp,
) -> Result<(Session, Account), AuthError> {
    let s = rx
        .get(&SESSIONS, &token_key(token))?
        .ok_or(AuthError::SessionExpired)?;
    if s.expires_at <= now.as_second() {
        return Err(AuthError::SessionExpired);
    }
    let acc = rx
        .get(&ACCOUNTS, &s.account_id)?
        .ok_or(AuthError::SessionExpired)?;
    if acc.disabled {
        return Err(AuthError::Disabled);
    }
    Ok((s, acc))
}

pub fn logout(store: &Store, actor: &Actor, token: &str) -> Result<(), AuthError> {
    store.write(actor, |tx| {
        tx.delete(&SESSIONS, &token_key(token), "session.close")?;
        tx.event(
            "auth.logout",
            &format!("{}/{}", ACCOUNTS.name, actor.id),
            None,
        );
        Ok(())
    })
}

fn close_all_sessions(
    tx: &mut crate::store::Tx<'_>,
    account_id: &str,
) -> Result<usize, StoreError> {
    let mine: Vec<String> = tx
        .scan(&SESSIONS, "")?
        .into_iter()
        .filter(|(_, s)| s.account_id == account_id)
        .map(|(k, _)| k)
        .collect();
    for k in &mine {
        tx.delete(&SESSIONS, k, "session.close")?;
    }
    Ok(mine.len())
}

/// Log out everywhere: every session of the account is closed.
pub fn logout_everywhere(
    store: &Store,
    actor: &Actor,
    account_id: &str,
) -> Result<usize, AuthError> {
    store.write(actor, |tx| {
        let n = close_all_sessions(tx, account_id)?;
        tx.event(
            "auth.logout_everywhere",
            &format!("{}/{account_id}", ACCOUNTS.name),
            Some(serde_json::json!({ "sessions": n })),
        );
        Ok(n)
    })
}

/// Asks a signed-in person for their password again before a grave act (showing the backup
/// key): `Ok` when `password` is theirs. Slow (argon2): call it on a blocking thread.
pub fn confirm_password(store: &Store, account_id: &str, password: &str) -> Result<(), AuthError> {
    let rx = store.read()?;
    let phc = rx
        .get(&CREDENTIALS, account_id)?
        .map(|c| c.phc)
        .unwrap_or_default();
    drop(rx);
    if password.chars().count() > MAX_PASSWORD_CHARS
        || phc.is_empty()
        || verify_password(password, &phc) == Verified::No
    {
        return Err(AuthError::WrongCurrentPassword);
    }
    Ok(())
}

/// The user changes their own password; every other session is closed.
pub fn change_password(
    store: &Store,
    actor: &Actor,
    current_token: &str,
    current: &str,
    new: &str,
) -> Result<(), AuthError> {
    let rx = store.read()?;
    let acc = rx
        .get(&ACCOUNTS, &actor.id)?
        .ok_or_else(|| AuthError::NoSuchAccount(actor.id.clone()))?;
    let phc = rx
        .get(&CREDENTIALS, &acc.id)?
        .map(|c| c.phc)
        .unwrap_or_default();
    drop(rx);
    if current.chars().count() > MAX_PASSWORD_CHARS
        || verify_password(current, &phc) == Verified::No
    {
        return Err(AuthError::WrongCurrentPassword);
    }
    check_password_policy(&acc.username, new)?;
    if password_form(new) == password_form(current) {
        return Err(AuthError::SamePassword);
    }
    let phc = hash_password(new);
    let keep = token_key(current_token);
    store.write(actor, |tx| {
        tx.put(
            &CREDENTIALS,
            &acc.id,
            &Credential { phc },
            "account.password.change",
        )?;
        for (k, s) in tx.scan(&SESSIONS, "")? {
            if s.account_id == acc.id && k != keep {
                tx.delete(&SESSIONS, &k, "session.close")?;
            }
        }
        let mut a = acc.clone();
        if a.must_change_password {
            a.must_change_password = false;
            tx.put(&ACCOUNTS, &a.id, &a, "account.update")?;
        }
        Ok(())
    })
}

/// An administrator sets a temporary password; the user must change it at next login and
/// every open session of that user is closed.
pub fn admin_reset_password(
    store: &Store,
    actor: &Actor,
    account_id: &str,
    temporary: &str,
) -> Result<(), AuthError> {
    let acc = store
        .read()?
        .get(&ACCOUNTS, account_id)?
        .ok_or_else(|| AuthError::NoSuchAccount(account_id.into()))?;
    check_password_policy(&acc.username, temporary)?;
    let phc = hash_password(temporary);
    store.write(actor, |tx| {
        tx.put(
            &CREDENTIALS,
            &acc.id,
            &Credential { phc },
            "account.password.reset",
        )?;
        let mut a = acc.clone();
        a.must_change_password = true;
        a.password_reset = Some((actor.id.clone(), actor.now.to_string()));
        tx.put(&ACCOUNTS, &a.id, &a, "account.update")?;
        close_all_sessions(tx, &acc.id)?;
        Ok(())
    })
}

#[derive(Deserialize, Default, Debug)]
pub struct AccountPatch {
    pub full_name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub department: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// The roles of an account from their codes: a school's (also by their Vietnamese names, as a
/// spreadsheet gives them) or the district hub's (by code; [`Role::for_server`] says which the
/// server accepts).
pub fn parse_roles(codes: &[String]) -> Result<Vec<Role>, AuthError> {
    codes
        .iter()
        .map(|c| {
            Role::parse(c)
                .or_else(|| Role::DISTRICT.into_iter().find(|r| r.code() == c.trim()))
                .ok_or_else(|| AuthError::UnknownRole(c.clone()))
        })
        .collect()
}

pub fn update_account(
    store: &Store,
    actor: &Actor,
    account_id: &str,
    patch: AccountPatch,
) -> Result<Account, AuthError> {
    store.write(actor, |tx| update_account_tx(tx, account_id, patch))
}

/// An account's edit inside the caller's transaction (the accounts API changes the homeroom
/// classes in the same one). The checks are the creation's: a name, at least one role, the
/// separation of duties for BGH.
pub fn update_account_tx(
    tx: &mut crate::store::Tx<'_>,
    account_id: &str,
    patch: AccountPatch,
) -> Result<Account, AuthError> {
    let roles = patch.roles.as_deref().map(parse_roles).transpose()?;
    let actor_id = tx.actor_id().to_string();
    let mut a = tx
        .get(&ACCOUNTS, account_id)?
        .ok_or_else(|| AuthError::NoSuchAccount(account_id.into()))?;
    let before = a.clone();
    if let Some(n) = &patch.full_name {
        if n.trim().is_empty() {
            return Err(AuthError::EmptyName);
        }
        a.full_name = crate::text::nfc(n.trim());
    }
    if let Some(mut r) = roles {
        r.sort();
        r.dedup();
        // Creation refuses an account without a role; an edit must not make one.
        if r.is_empty() {
            return Err(AuthError::NoRoles);
        }
        if account_id == actor_id && a.has(Role::Admin) && !r.contains(&Role::Admin) {
            return Err(AuthError::SelfLockout);
        }
        a.roles = r;
    }
    if let Some(d) = patch.department {
        a.department = d.filter(|d| !d.is_empty());
    }
    if let Some(dis) = patch.disabled {
        if dis && account_id == actor_id {
            return Err(AuthError::SelfLockout);
        }
        a.disabled = dis;
        if dis {
            close_all_sessions(tx, account_id)?;
        }
    }
    check_bgh_change(tx, Some(&before), &a)?;
    tx.put(&ACCOUNTS, &a.id, &a, "account.update")?;
    Ok(a)
}

/// A temporary password that is easy to read aloud and type on a phone.
pub fn temporary_password() -> String {
    const WORDS: &[&str] = &[
        "mai", "dao", "sen", "lua", "tre", "que", "song", "nui", "may", "gio", "hoa", "la",
    ];
    let r: [u8; 3] = rand::random();
    let n: u16 = rand::random::<u16>() % 9000 + 1000;
    format!(
        "{}-{}-{}-{n}",
        WORDS[r[0] as usize % WORDS.len()],
        WORDS[r[1] as usize % WORDS.len()],
        WORDS[r[2] as usize % WORDS.len()]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn setup() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        s.write(&Actor::system(t(0)), |tx| {
            create_account_tx(
                tx,
                NewAccount {
                    username: "lan".into(),
                    full_name: "Nguyễn Thị Lan".into(),
                    roles: vec![Role::Teacher],
                    department: None,
                    password_phc: hash_password("mat-khau-1"),
                    must_change_password: false,
                },
            )
        })
        .unwrap();
        (d, s)
    }

    #[test]
    fn login_then_session_then_disable_takes_effect_at_once() {
        let (_d, s) = setup();
        assert!(matches!(
            login(&s, "lan", "sai", t(1)),
            Err(AuthError::BadCredentials)
        ));
        assert!(matches!(
            login(&s, "nobody", "mat-khau-1", t(1)),
            Err(AuthError::BadCredentials)
        ));
        let ok = login(&s, "LAN", "mat-khau-1", t(2)).unwrap();
        let (_, acc) = resolve_session(&s.read().unwrap(), &ok.token, t(3)).unwrap();
        assert_eq!(acc.username, "lan");
        // expired
        assert!(matches!(
            resolve_session(&s.read().unwrap(), &ok.token, t(3 + SESSION_SECONDS)),
            Err(AuthError::SessionExpired)
        ));
        let admin = Actor {
            id: "u-admin".into(),
            now: t(4),
        };
        update_account(
            &s,
            &admin,
            &acc.id,
            AccountPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(resolve_session(&s.read().unwrap(), &ok.token, t(5)).is_err());
        // A disabled account answers the right password exactly as a wrong one (no oracle).
        assert!(matches!(
            login(&s, "lan", "mat-khau-1", t(6)),
            Err(AuthError::BadCredentials)
        ));
        assert!(matches!(
            login(&s, "lan", "sai-mat-khau", t(6)),
            Err(AuthError::BadCredentials)
        ));
    }

    #[test]
    fn logout_everywhere_closes_every_session() {
        let (_d, s) = setup();
        let a = login(&s, "lan", "mat-khau-1", t(1)).unwrap();
        let b = login(&s, "lan", "mat-khau-1", t(2)).unwrap();
        let actor = Actor {
            id: a.account.id.clone(),
            now: t(3),
        };
        assert_eq!(logout_everywhere(&s, &actor, &a.account.id).unwrap(), 2);
        let rx = s.read().unwrap();
        assert!(resolve_session(&rx, &a.token, t(4)).is_err());
        assert!(resolve_session(&rx, &b.token, t(4)).is_err());
        assert!(s.verify_audit().unwrap().is_intact());
    }

    #[test]
    fn password_change_and_reset() {
        let (_d, s) = setup();
        let a = login(&s, "lan", "mat-khau-1", t(1)).unwrap();
        let b = login(&s, "lan", "mat-khau-1", t(2)).unwrap();
        let me = Actor {
            id: a.account.id.clone(),
            now: t(3),
        };
        assert!(matches!(
            change_password(&s, &me, &a.token, "sai", "mat-khau-2"),
            Err(AuthError::WrongCurrentPassword)
        ));
        assert!(matches!(
            change_password(&s, &me, &a.token, "mat-khau-1", "ngan"),
            Err(AuthError::WeakPassword(_))
        ));
        change_password(&s, &me, &a.token, "mat-khau-1", "mat-khau-2").unwrap();
        let rx = s.read().unwrap();
        assert!(
            resolve_session(&rx, &a.token, t(4)).is_ok(),
            "current session stays"
        );
        assert!(
            resolve_session(&rx, &b.token, t(4)).is_err(),
            "other sessions close"
        );
        drop(rx);
        let admin = Actor {
            id: "u-admin".into(),
            now: t(5),
        };
        admin_reset_password(&s, &admin, &a.account.id, "tam-thoi-123").unwrap();
        let c = login(&s, "lan", "tam-thoi-123", t(6)).unwrap();
        assert!(c.account.must_change_password);
        // the audit log never holds a password hash
        for e in s.audit_tail(50).unwrap() {
            let txt = serde_json::to_string(&e).unwrap();
            assert!(!txt.contains("$argon2id$"), "{txt}");
        }
    }

    #[test]
    fn weak_overlong_and_guessable_passwords_are_refused_everywhere() {
        for weak in [
            "12345678",
            "password",
            "        ",
            "matkhau1",
            "aaaaaaaaaa",
            "qwertyuiop",
            "lan12345",
            "Lan@12345",
        ] {
            assert!(
                matches!(
                    check_password_policy("lan", weak),
                    Err(AuthError::WeakPassword(_))
                ),
                "{weak:?} accepted"
            );
        }
        assert!(
            check_password_policy("lan", &"x7-".repeat(86)).is_err(),
            "257 chars"
        );
        for ok in [
            "mat-khau-demo-1",
            "nui-la-la-4865",
            "Cây bàng trước cổng 2026",
        ] {
            assert!(check_password_policy("lan", ok).is_ok(), "{ok:?} refused");
        }
        // Every temporary password Trạm hands out passes the rules it enforces.
        for _ in 0..300 {
            let t = super::temporary_password();
            assert!(check_password_policy("lan", &t).is_ok(), "{t:?} refused");
        }
    }

    #[test]
    fn passwords_match_in_either_unicode_form_and_old_hashes_are_rehashed() {
        use unicode_normalization::UnicodeNormalization;
        let nfc = "Cây bàng trước cổng 2026";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        // New hashes: made in NFC, checked from either form.
        let phc = hash_password(&nfd);
        assert_eq!(verify_password(nfc, &phc), Verified::Yes);
        assert_eq!(verify_password(&nfd, &phc), Verified::Yes);
        // A hash made before normalisation, of the NFD bytes as typed: still opens, as legacy.
        let old = {
            let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
            argon2::Argon2::default()
                .hash_password(nfd.as_bytes(), &salt)
                .unwrap()
                .to_string()
        };
        assert_eq!(verify_password(nfc, &old), Verified::Legacy);
        assert_eq!(
            verify_password("Cay bang truoc cong 2026", &old),
            Verified::No
        );
    }

    #[test]
    fn bad_usernames_and_duplicates_are_refused() {
        let (_d, s) = setup();
        let mk = |u: &str| {
            s.write(&Actor::system(t(9)), |tx| {
                create_account_tx(
                    tx,
                    NewAccount {
                        username: u.into(),
                        full_name: "X".into(),
                        roles: vec![Role::Teacher],
                        department: None,
                        password_phc: "x".into(),
                        must_change_password: false,
                    },
                )
            })
        };
        assert!(matches!(mk("lan"), Err(AuthError::UsernameTaken(_))));
        assert!(matches!(mk("../etc"), Err(AuthError::BadUsername(_))));
        assert!(matches!(mk("Lê Văn"), Err(AuthError::BadUsername(_))));
        assert_eq!(list_accounts(&s.read().unwrap()).unwrap().len(), 1);
    }

    #[test]
    fn roles_parse_from_codes_and_vietnamese() {
        assert_eq!(Role::parse("teacher"), Some(Role::Teacher));
        assert_eq!(Role::parse("Giáo viên"), Some(Role::Teacher));
        assert_eq!(Role::parse("Tổ trưởng"), Some(Role::DeptHead));
        assert_eq!(Role::parse("HIỆU TRƯỞNG"), Some(Role::Principal));
        assert_eq!(Role::parse("janitor"), None);
    }
}
