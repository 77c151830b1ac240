//! Server-rendered pages (askama templates from `web/templates`). Pages only read; every change
//! goes through the JSON API (forms post to it with the CSRF token), so there is one write route
//! per action. Login and logout are plain forms so they work before any script has loaded.

use crate::http::Query;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::auth::{self, Action, Role};
use crate::http::{ApiError, SESSION_COOKIE, Shared, cookie, render};
use crate::school;
use crate::web::I18n;

/// Signing in and out, the language switch and the static files (the district hub serves these
/// and its own pages).
pub fn sign_in_routes() -> Router<Shared> {
    Router::new()
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/account", get(password_page))
        .route("/lang/{lang}", get(set_lang))
        .route("/static/{file}", get(static_file))
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/account", get(password_page))
        .route("/admin/accounts", get(accounts_page))
        .route("/admin/classes", get(classes_page))
        .route("/admin/subjects", get(subjects_page))
        .route("/admin/assignments", get(assignments_page))
        .route("/admin/students", get(students_page))
        .route("/admin/import", get(import_page))
        .route("/lang/{lang}", get(set_lang))
        .route("/static/{file}", get(static_file))
        .route("/tram-ca.crt", get(ca_der))
        .route("/tram-ca.pem", get(ca_pem))
}

/// The QR code of one of the box's addresses, made once: the admin home shows each address on
/// every view, and choosing the QR mask was most of that page's CPU (issue 24 item 10). The
/// addresses are fixed while the process runs, so the cache holds a handful of entries.
fn qr_svg(text: &str) -> String {
    static MADE: std::sync::Mutex<std::collections::BTreeMap<String, String>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    made.entry(text.to_string())
        .or_insert_with(|| match qrcode::QrCode::new(text.as_bytes()) {
            Ok(code) => code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(144, 144)
                .build(),
            Err(_) => String::new(),
        })
        .clone()
}

page!(HomePage, "home.html" {
    must_change: bool,
    key_changes: Vec<String>,
    classes: usize,
    students: u64,
    staff: usize,
    teaching: Vec<(String, String)>,
    homeroom: Vec<(String, String)>,
    audit: Option<(u64, bool)>,
    urls: Vec<(String, String)>,
    backup: Option<BackupCard>,
    relay: Option<RelayCard>,
    plans_waiting: Option<usize>,
    // The school signing CA's end near (90 days) or past: BGH and school IT (issue 22).
    ca_warning: Option<String>,
    cert_warning: Option<String>,
    // The date line's địa danh, for those who may change it (the office, BGH).
    locality: Option<String>,
    // The demo's signed class of last year: (text, link).
    showcase: Option<(String, String)>,
    // For BGH: each earlier school year with a class whose year is not locked — its results
    // are in no register, học bạ or district report until it is (review r25 #2): (text, link).
    open_years: Vec<(String, String)>,
});

/// The relay to the district as school IT sees it on the home page.
pub(crate) struct RelayCard {
    hub: Option<String>,
    queued: u64,
    last: Option<String>,
    error: Option<String>,
    speed: Option<String>,
    /// After a restore: records the district holds that this box does not ("kind key, date").
    missing: Vec<String>,
}

/// Reads only what the card shows: `relay::status` also re-hashes the hardware serials (the
/// clone check, sysfs reads on every view) and the downlink's record, which the card never
/// prints and which made up a third of the admin home's CPU (issue 24 item 10).
fn relay_card(s: &crate::http::AppState) -> RelayCard {
    let dir = s.store.dir();
    let st = crate::relay::state(dir);
    let v = serde_json::json!({
        "hub": crate::relay::enrolment(dir).map(|e| e.hub),
        "queued": crate::relay::backlog(&s.store, dir).unwrap_or(0),
        "last_success": st.last_success,
        "last_error": st.last_error,
        "link_bytes_per_second": st.link_bps,
    });
    let when = |x: &serde_json::Value| {
        x.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| {
                t.to_zoned(crate::school::time_zone())
                    .strftime("%H:%M %d/%m/%Y")
                    .to_string()
            })
    };
    RelayCard {
        hub: v["hub"].as_str().map(String::from),
        queued: v["queued"].as_u64().unwrap_or(0),
        last: when(&v["last_success"]),
        error: v["last_error"].as_str().map(String::from),
        speed: v["link_bytes_per_second"]
            .as_f64()
            .map(|b| format!("{:.0} kbit/s", b * 8.0 / 1000.0)),
        missing: crate::relay::restore_report(s.store.dir())
            .map(|r| {
                r.missing
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let what = r
                            .labels
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("{} {}", h.kind, h.key));
                        format!(
                            "{what} ({})",
                            when(&serde_json::json!(h.at)).unwrap_or_else(|| h.at.clone())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The backup state school IT sees on the home page.
pub(crate) struct BackupCard {
    last: Option<String>,
    checked: bool,
    stale: bool,
    /// What the last good backup wrote, as a person reads it ("1,2 MB").
    added: Option<String>,
    error: Option<String>,
    running: bool,
    enabled: bool,
    at: String,
    targets: Vec<String>,
    internal_only: bool,
    /// After a restore: settings that could not be put back, until each is done.
    redo: Vec<String>,
}

fn backup_card(s: &crate::http::AppState) -> BackupCard {
    let sum = crate::backup::schedule::summary(s.store.dir(), jiff::Timestamp::now());
    let fallback = crate::backup::schedule::Config::default_for(s.store.dir());
    let cfg = s
        .part::<crate::backup::schedule::Config>()
        .unwrap_or(&fallback);
    BackupCard {
        last: sum.last_good_at.map(|t| {
            t.to_zoned(crate::school::time_zone())
                .strftime("%H:%M %d/%m/%Y")
                .to_string()
        }),
        checked: sum.restore_checked,
        stale: sum.stale,
        added: sum.last_good_new_bytes.map(crate::text::human_size),
        error: sum.last_error_vi.filter(|m| !m.is_empty()),
        running: sum.running,
        enabled: cfg.enabled,
        at: cfg.at.strftime("%H:%M").to_string(),
        targets: cfg
            .targets
            .iter()
            .map(|t| t.display().to_string())
            .collect(),
        internal_only: cfg.targets.iter().all(|t| t.starts_with(s.store.dir())),
        redo: crate::backup::settings::outstanding(s.store.dir())
            .iter()
            .map(|r| r.text_vi())
            .collect(),
    }
}

async fn home(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let classes = school::list(&rx, &school::CLASSES)?;
    let subjects = school::list(&rx, &school::SUBJECTS)?;
    let cname = |id: &str| {
        classes
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| id.into())
    };
    let sname = |id: &str| {
        subjects
            .iter()
            .find(|x| x.id == id)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| id.into())
    };
    let p = &u.principal;
    // Each class opens on the term the school is in today (its year's dates; HK I when the
    // year names none), so a teacher reaches the score grid in one tap.
    let today = jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .date();
    let terms = school::school_info(&rx)?
        .and_then(|i| rx.get(&school::YEARS, &i.current_year).transpose())
        .transpose()?
        .map(|y| y.terms)
        .unwrap_or_default();
    let term = crate::gradebook::forms::term_of_month(&terms, today.year(), today.month())
        .unwrap_or(crate::gradebook::TermId::Hk1)
        .code();
    let teaching = p
        .teaches
        .iter()
        .map(|(c, sub)| {
            (
                format!("{} — {}", cname(c), sname(sub)),
                format!("/grades/sheet/{c}/{sub}/{term}"),
            )
        })
        .collect();
    let homeroom = p
        .homeroom
        .iter()
        .map(|c| (cname(c), format!("/grades/class/{c}?term={term}")))
        .collect();
    let audit = if auth::permits(p, Action::ViewAudit) {
        let store = s.store.clone();
        let r = tokio::task::spawn_blocking(move || store.audit_status()).await??;
        Some((r.events, r.is_intact()))
    } else {
        None
    };
    let urls = if auth::permits(p, Action::ManageDevice) {
        s.urls.iter().map(|u| (u.clone(), qr_svg(u))).collect()
    } else {
        vec![]
    };
    let staff = auth::list_accounts(&rx)?.len();
    // The roll holds only students still at the school: one who transferred out or withdrew
    // is in `school.left.v1` instead, so is not counted as enrolled (review r9 #2). The
    // current year's classes only: last year's graduates (the demo's 9A1) are no pupils now.
    let current = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let this_year: Vec<&school::Class> = classes.iter().filter(|c| c.year == current).collect();
    let mut students = 0u64;
    for c in &this_year {
        students += rx.scan(&school::ROLL, &format!("{}/", c.id))?.len() as u64;
    }
    // The demo's signed class (last year's 9A1) for BGH and its homeroom teacher — who may
    // open its page (a teacher of the school may not: review r24 #8) —, so a
    // newcomer opens a signed học bạ at once.
    let showcase = match crate::demo::class_in(&rx, crate::demo::SIGNED_CLASS)? {
        Some(id) if p.is_bgh() || p.homeroom.contains(&id) => rx
            .get(&school::CLASSES, &id)?
            .filter(|c| {
                !rx.scan(&crate::gradebook::hocba::SIGNED, &format!("{}/", c.id))
                    .map(|v| v.is_empty())
                    .unwrap_or(true)
            })
            .map(|c| {
                (
                    format!("Học bạ số lớp {} năm học {} (đã ký)", c.name, c.year),
                    format!("/grades/class/{}?term=cn", c.id),
                )
            }),
        _ => None,
    };
    let mut open_years: Vec<(String, String)> = Vec::new();
    if p.is_bgh() {
        let mut by_year: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for c in classes
            .iter()
            .filter(|c| c.year.as_str() < current.as_str())
        {
            let locked = crate::gradebook::class_term_lock(&rx, c, crate::gradebook::TermId::Hk2)?
                .is_some_and(|l| l.locked);
            if !locked && !rx.scan(&school::ROLL, &format!("{}/", c.id))?.is_empty() {
                by_year
                    .entry(c.year.as_str())
                    .or_default()
                    .push(c.name.as_str());
            }
        }
        for (year, mut names) in by_year {
            names.sort();
            open_years.push((
                format!(
                    "Năm học {year} chưa khoá sổ cả năm: lớp {} — kết quả chưa vào sổ đăng bộ, học bạ và báo cáo gửi phòng. Khoá sổ ở Sổ điểm, năm học {year}.",
                    names.join(", ")
                ),
                format!("/grades?year={year}"),
            ));
        }
    }
    let backup = auth::permits(p, Action::ManageDevice).then(|| backup_card(&s));
    let relay = auth::permits(p, Action::ManageDevice).then(|| relay_card(&s));
    let reviews = p.is_bgh() || p.has(auth::Role::DeptHead);
    let plans_waiting = if reviews {
        Some(crate::lessons::waiting_for(&rx, p)?.len())
    } else {
        None
    };
    let now = jiff::Timestamp::now();
    let mut key_changes = crate::lessons::sign::recent_changes(&rx, p.id(), now)?;
    // The school's học bạ CA recovered (or renewed) in a way that changed her signing: in the
    // same list, for the same 30 days (review r17 #4).
    key_changes.extend(crate::gradebook::hocba::ca::recent_notices(
        &rx,
        p.id(),
        now,
    )?);
    // Her own học bạ signing certificate ending within 90 days, or ended (review r17 #3).
    let cert_warning = crate::gradebook::hocba::ca::signer_lines(&rx, s.store.dir(), now)?
        .into_iter()
        .find(|l| l.account == p.id())
        .and_then(|l| l.ending_text(true));
    let ca_warning = if p.is_bgh() || auth::permits(p, Action::ManageDevice) {
        crate::gradebook::hocba::ca::ca_status(&rx, s.store.dir(), jiff::Timestamp::now())
            .ok()
            .flatten()
            .filter(|st| st.expiring)
            .map(|st| match st.days_left {
                Some(d) if d < 0 => format!(
                    "CA ký số của trường đã hết hạn ngày {}: không ký, không cấp chứng thư được nữa. Người giữ CA gia hạn ở trang Chứng thư ký học bạ.",
                    st.current.valid_until
                ),
                d => format!(
                    "CA ký số của trường còn {} ngày là hết hạn ({}): người giữ CA gia hạn ở trang Chứng thư ký học bạ.",
                    d.unwrap_or_default(),
                    st.current.valid_until
                ),
            })
    } else {
        None
    };
    let locality = if auth::permits(p, Action::ManageSchool) {
        Some(
            school::school_info(&rx)?
                .map(|i| i.locality)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    Ok(render(HomePage::new(
        chrome(&s, &u, &headers),
        u.principal.account.must_change_password,
        key_changes,
        this_year.len(),
        students,
        staff,
        teaching,
        homeroom,
        audit,
        urls,
        backup,
        relay,
        plans_waiting,
        ca_warning,
        cert_warning,
        locality,
        showcase,
        open_years,
    )))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: I18n,
    school_name: String,
    error: Option<String>,
    expired: bool,
    next: String,
    username: String,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// Only a same-origin path is accepted as a redirect destination (no open redirect).
///
/// Browsers drop ASCII tabs and newlines anywhere in a URL and strip leading control characters
/// and spaces, so `/\t/evil.example` is followed as `//evil.example`. The check is made on the
/// text as a browser reads it: with every ASCII whitespace and control character removed, it must
/// start with exactly one `/` and hold no backslash (which browsers treat as `/`). What passes is
/// sent in that cleaned form; anything else goes to `/`.
pub(crate) fn safe_next(n: Option<&str>) -> String {
    let Some(n) = n else {
        return "/".into();
    };
    let cleaned: String = n
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect();
    if cleaned.starts_with('/') && !cleaned.starts_with("//") && !cleaned.contains('\\') {
        cleaned
    } else {
        "/".into()
    }
}

fn school_name(s: &Shared) -> String {
    s.store
        .read()
        .ok()
        .and_then(|rx| school::school_info(&rx).ok().flatten())
        .map(|i| i.name)
        .unwrap_or_else(|| "Trạm".into())
}

async fn login_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    render(LoginPage {
        t: I18n::from_headers(&headers),
        school_name: school_name(&s),
        error: None,
        expired: q.expired.is_some(),
        next: safe_next(q.next.as_deref()),
        username: String::new(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    match auth::routes::do_login(&s, &f.username, &f.password, &addr.ip().to_string()).await {
        Ok(ok) => {
            let mut res = Redirect::to(&next).into_response();
            res.headers_mut().insert(
                header::SET_COOKIE,
                auth::routes::session_cookie(&s, &ok.token)
                    .parse()
                    .expect("cookie is ascii"),
            );
            res
        }
        Err(e) => {
            let status = e.status;
            let mut res = render(LoginPage {
                t: I18n::from_headers(&headers),
                school_name: school_name(&s),
                error: Some(e.message),
                expired: false,
                next,
                username: f.username,
            });
            *res.status_mut() = status;
            res
        }
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout_form(
    State(s): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Ok(rx) = s.store.read()
        && let Ok((sess, acc)) = auth::resolve_session(&rx, &token, jiff::Timestamp::now())
    {
        if sess.csrf != f.csrf {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "Yêu cầu không hợp lệ. Tải lại trang rồi thử lại.",
            )
            .into_response();
        }
        let actor = crate::store::Actor {
            id: acc.id,
            now: jiff::Timestamp::now(),
        };
        let store = s.store.clone();
        let _ = tokio::task::spawn_blocking(move || auth::logout(&store, &actor, &token)).await;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        auth::routes::clear_cookie().parse().expect("ascii"),
    );
    res
}

page!(PasswordPage, "password.html" {});

async fn password_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Response {
    render(PasswordPage::new(chrome(&s, &u, &headers)))
}

struct AccountRow {
    id: String,
    username: String,
    full_name: String,
    roles: String,
    /// The role codes, space-separated, for the page's filter and edit form.
    role_codes: String,
    department: String,
    department_id: String,
    /// The classes of this year the account is GVCN of: names, and ids space-separated.
    homeroom: String,
    homeroom_ids: String,
    disabled: bool,
}

page!(AccountsPage, "accounts.html" {
    accounts: Vec<AccountRow>,
    roles: Vec<(&'static str, &'static str)>,
    departments: Vec<school::Department>,
    // This year's classes (id, name), for the homeroom choice.
    classes: Vec<(String, String)>,
});

pub(crate) async fn accounts_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::ManageAccounts)?;
    let rx = s.store.read()?;
    let departments = school::list(&rx, &school::DEPARTMENTS)?;
    let dname = |id: &Option<String>| {
        id.as_ref()
            .map(|id| {
                departments
                    .iter()
                    .find(|d| &d.id == id)
                    .map(|d| d.name.clone())
                    .unwrap_or_else(|| id.clone())
            })
            .unwrap_or_default()
    };
    let year = school::school_info(&rx)?.map(|i| i.current_year);
    let classes: Vec<school::Class> = school::list(&rx, &school::CLASSES)?
        .into_iter()
        .filter(|c| Some(&c.year) == year.as_ref())
        .collect();
    let accounts = auth::list_accounts(&rx)?
        .into_iter()
        .map(|a| {
            let homeroom: Vec<&school::Class> = classes
                .iter()
                .filter(|c| c.homeroom.as_deref() == Some(a.id.as_str()))
                .collect();
            AccountRow {
                roles: a
                    .roles
                    .iter()
                    .map(|r| r.label_vi())
                    .collect::<Vec<_>>()
                    .join(", "),
                role_codes: a
                    .roles
                    .iter()
                    .map(|r| r.code())
                    .collect::<Vec<_>>()
                    .join(" "),
                department: dname(&a.department),
                department_id: a.department.clone().unwrap_or_default(),
                homeroom: homeroom
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                homeroom_ids: homeroom
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                id: a.id,
                username: a.username,
                full_name: a.full_name,
                disabled: a.disabled,
            }
        })
        .collect();
    let roles = Role::for_server(s.hub)
        .iter()
        .map(|r| (r.code(), r.label_vi()))
        .collect();
    let classes = classes.into_iter().map(|c| (c.id, c.name)).collect();
    Ok(render(AccountsPage::new(
        chrome(&s, &u, &headers),
        accounts,
        roles,
        departments,
        classes,
    )))
}

struct ClassRow {
    id: String,
    name: String,
    grade: u8,
    homeroom: String,
    /// On the roll now (`school::ROLL`), as the student list, `/grades/school` and the hub count.
    count: usize,
    /// Left the school from this class (transferred out, withdrawn): shown beside, not counted.
    left: usize,
}

page!(ClassesPage, "classes.html" {
    classes: Vec<ClassRow>,
    teachers: Vec<(String, String)>,
    can_edit: bool,
    // The school years to pick from (newest first), the one shown and what to say of it.
    years: Vec<String>,
    year: String,
    note: Option<String>,
});

#[derive(Deserialize)]
struct YearFilter {
    year: Option<String>,
}

fn teacher_options(rx: &crate::store::Rx) -> Result<Vec<(String, String)>, ApiError> {
    let mut v: Vec<(String, String)> = auth::list_accounts(rx)?
        .into_iter()
        .filter(|a| !a.disabled && a.roles.iter().any(|r| *r != Role::Admin))
        .map(|a| (a.id, a.full_name))
        .collect();
    v.sort_by(|a, b| school::vietnamese_name_order(&a.1, &b.1));
    Ok(v)
}

/// The classes of one school year (`?year=`, the current one by default: last year's classes
/// — the demo's signed 9A1 — are reached by the year selector, never mixed in).
async fn classes_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<YearFilter>,
) -> Result<Response, ApiError> {
    u.require(Action::ViewSchool)?;
    let rx = s.store.read()?;
    let accounts = auth::list_accounts(&rx)?;
    let current = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let all = school::list(&rx, &school::CLASSES)?;
    let mut years: Vec<String> = all.iter().map(|c| c.year.clone()).collect();
    years.extend(school::list(&rx, &school::YEARS)?.into_iter().map(|y| y.id));
    if !current.is_empty() {
        years.push(current.clone());
    }
    years.sort();
    years.dedup();
    years.reverse();
    // One school year at a time, the current one unless asked (last year's 9A1 is not this
    // year's). A year that does not read (or given twice) is refused with the years there
    // are; a well-formed year without classes stays picked and says so — never another
    // year's list (review r21 #5).
    let asked = typed
        .filters
        .and_then(|q| match q.year.map(|y| y.trim().to_string()) {
            Some(y) if y.is_empty() => Ok(None),
            Some(y) if school::is_school_year(&y) => Ok(Some(y)),
            Some(y) => Err(format!(
                "Năm học “{}” không hợp lệ: ghi dạng 2026-2027 (các năm học của trường: {}).",
                y.chars().take(20).collect::<String>(),
                years.join(", ")
            )),
            None => Ok(None),
        });
    let year = match asked {
        Ok(y) => y.unwrap_or_else(|| current.clone()),
        Err(why) => {
            let choices = years
                .iter()
                .map(|y| (format!("/admin/classes?year={y}"), format!("Năm học {y}")))
                .collect();
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Lớp học",
                why,
                choices,
            );
        }
    };
    let note = Some(&year)
        .filter(|y| !y.is_empty() && !all.iter().any(|c| &c.year == *y))
        .map(|y| format!("Năm học {y} không có lớp nào trong hồ sơ của trường."));
    if !year.is_empty() && !years.contains(&year) {
        years.insert(0, year.clone());
    }
    let mut classes = vec![];
    for c in all.into_iter().filter(|c| c.year == year) {
        let roll = rx.scan(&school::ROLL, &format!("{}/", c.id))?.len();
        let left = rx.scan(&school::LEFT, &format!("{}/", c.id))?.len();
        classes.push((c, roll, left));
    }
    let mut classes: Vec<ClassRow> = classes
        .into_iter()
        .map(|(c, count, left)| ClassRow {
            count,
            left,
            homeroom: c
                .homeroom
                .as_ref()
                .and_then(|h| accounts.iter().find(|a| &a.id == h))
                .map(|a| a.full_name.clone())
                .unwrap_or_default(),
            id: c.id,
            name: c.name,
            grade: c.grade,
        })
        .collect();
    classes.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    // New classes are made in the current year: the form only there.
    let can_edit = u.require(Action::ManageSchool).is_ok() && year == current;
    Ok(render(ClassesPage::new(
        chrome(&s, &u, &headers),
        classes,
        teacher_options(&rx)?,
        can_edit,
        years,
        year,
        note,
    )))
}

struct SubjectRow {
    name: String,
    scored: bool,
    periods: String,
    department: String,
}

page!(SubjectsPage, "subjects.html" {
    subjects: Vec<SubjectRow>,
    can_edit: bool,
    grades: Vec<u8>,
    departments: Vec<school::Department>,
});

async fn subjects_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::ViewSchool)?;
    let rx = s.store.read()?;
    let depts = school::list(&rx, &school::DEPARTMENTS)?;
    let subjects = school::list(&rx, &school::SUBJECTS)?
        .into_iter()
        .map(|x| SubjectRow {
            scored: x.kind == school::SubjectKind::Scored,
            periods: x
                .periods_per_year
                .iter()
                .map(|(g, p)| format!("K{g}: {p}"))
                .collect::<Vec<_>>()
                .join(", "),
            department: x
                .department
                .as_ref()
                .and_then(|d| depts.iter().find(|dd| &dd.id == d))
                .map(|d| d.name.clone())
                .unwrap_or_default(),
            name: x.name,
        })
        .collect();
    // The grades the school teaches, from its level (TH 1–5, THCS 6–9).
    let level = school::school_info(&rx)?
        .map(|i| i.level)
        .unwrap_or_default();
    let grades: Vec<u8> = match level.as_str() {
        "TH" => (1..=5).collect(),
        "THCS" => (6..=9).collect(),
        _ => (1..=9).collect(),
    };
    let can_edit = u.require(Action::ManageSchool).is_ok();
    Ok(render(SubjectsPage::new(
        chrome(&s, &u, &headers),
        subjects,
        can_edit,
        grades,
        depts,
    )))
}

struct AssignmentRow {
    class_name: String,
    subject_name: String,
    teacher_name: String,
    body: String,
}

page!(AssignmentsPage, "assignments.html" {
    rows: Vec<AssignmentRow>,
    classes: Vec<(String, String)>,
    subjects: Vec<(String, String)>,
    teachers: Vec<(String, String)>,
    can_edit: bool,
    // The filters shown ("" none).
    teacher: String,
    class: String,
});

#[derive(Deserialize)]
struct AssignmentFilter {
    teacher: Option<String>,
    class: Option<String>,
}

async fn assignments_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<AssignmentFilter>,
) -> Result<Response, ApiError> {
    u.require(Action::ViewSchool)?;
    let rx = s.store.read()?;
    let mut classes: Vec<school::Class> = school::list(&rx, &school::CLASSES)?;
    classes.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    let subjects = school::list(&rx, &school::SUBJECTS)?;
    let accounts = auth::list_accounts(&rx)?;
    let teachers = teacher_options(&rx)?;
    // A teacher or class that names nothing (or is given twice): the reason and the menu, never
    // every assignment of the school (review r21 #5).
    let picked = |v: Option<String>| v.map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
    let asked = typed.filters.and_then(|q| {
        let (teacher, class) = (picked(q.teacher), picked(q.class));
        if let Some(t) = teacher
            .as_ref()
            .filter(|t| !accounts.iter().any(|a| &a.id == *t))
        {
            return Err(format!(
                "Không có giáo viên mã “{}”: chọn một giáo viên trong danh sách.",
                t.chars().take(40).collect::<String>()
            ));
        }
        if let Some(c) = class
            .as_ref()
            .filter(|c| !classes.iter().any(|k| &k.id == *c))
        {
            return Err(format!(
                "Không có lớp “{}” trong trường: chọn một lớp trong danh sách.",
                c.chars().take(40).collect::<String>()
            ));
        }
        Ok((teacher, class))
    });
    let (teacher, class) = match asked {
        Ok(x) => x,
        Err(why) => {
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Phân công giảng dạy",
                why,
                vec![(
                    "/admin/assignments".to_string(),
                    "Mọi phân công".to_string(),
                )],
            );
        }
    };
    let mut rows: Vec<AssignmentRow> = school::list(&rx, &school::ASSIGNMENTS)?
        .into_iter()
        .filter(|a| teacher.as_ref().is_none_or(|t| &a.teacher == t))
        .filter(|a| class.as_ref().is_none_or(|c| &a.class == c))
        .map(|a| AssignmentRow {
            class_name: classes
                .iter()
                .find(|c| c.id == a.class)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            subject_name: subjects
                .iter()
                .find(|x| x.id == a.subject)
                .map(|x| x.name.clone())
                .unwrap_or_default(),
            teacher_name: accounts
                .iter()
                .find(|x| x.id == a.teacher)
                .map(|x| x.full_name.clone())
                .unwrap_or_default(),
            body: serde_json::to_string(&a).unwrap_or_default(),
        })
        .collect();
    rows.sort_by(|a, b| (&a.class_name, &a.subject_name).cmp(&(&b.class_name, &b.subject_name)));
    let can_edit = u.require(Action::ManageSchool).is_ok();
    Ok(render(AssignmentsPage::new(
        chrome(&s, &u, &headers),
        rows,
        classes.into_iter().map(|c| (c.id, c.name)).collect(),
        subjects.into_iter().map(|x| (x.id, x.name)).collect(),
        teachers,
        can_edit,
        teacher.unwrap_or_default(),
        class.unwrap_or_default(),
    )))
}

struct StudentRow {
    id: String,
    full_name: String,
    dob: String,
    gender: String,
    ma_dinh_danh: String,
    /// Chuyển trường / thôi học, with the date ("" while at the school).
    status: String,
    /// The number of the student's valid register line ("" when none), for the strike control.
    register_number: String,
    /// Her học bạ of this class is signed: the edit form says an identity change needs it
    /// signed again (review r15 #1).
    signed: bool,
}

page!(StudentsPage, "students.html" {
    classes: Vec<(String, String)>,
    selected: String,
    students: Vec<StudentRow>,
    left: Vec<StudentRow>,
    // the classes a student of the selected class may move to (same school year)
    same_year: Vec<(String, String)>,
    // the classes a student who left may come back to (the current year's)
    this_year: Vec<(String, String)>,
    show_ids: bool,
    can_export: bool,
    can_edit: bool,
    error: Option<String>,
});

#[derive(Deserialize)]
struct ClassQuery {
    class: Option<String>,
}

async fn students_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    typed: crate::http::PageQuery<ClassQuery>,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::ViewSchool)?;
    let rx = s.store.read()?;
    let mut classes: Vec<school::Class> = school::list(&rx, &school::CLASSES)?;
    classes.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    // A class that does not parse (given twice) or names nothing: the page with its menu and
    // form, the reason, no list, 400 — never an empty table (review r21 #5).
    let (asked, error) = match typed.filters {
        Ok(ClassQuery { class: Some(c) }) if !c.is_empty() => {
            if classes.iter().any(|k| k.id == c) {
                (Some(c), None)
            } else {
                let why = format!(
                    "Không có lớp “{}” trong trường: chọn một lớp trong danh sách.",
                    c.chars().take(40).collect::<String>()
                );
                (None, Some(why))
            }
        }
        Ok(_) => (None, None),
        Err(why) => (None, Some(why)),
    };
    crate::http::refusal(typed.page, error.as_ref())?;
    let selected = match &error {
        Some(_) => String::new(),
        None => asked
            .or_else(|| classes.first().map(|c| c.id.clone()))
            .unwrap_or_default(),
    };
    // Personal ID numbers are for the homeroom teacher, BGH and the school office only.
    let show_ids = u
        .require(Action::ViewPersonalIds { class: &selected })
        .is_ok();
    let row = |st: school::Student| StudentRow {
        signed: crate::gradebook::hocba::has_signed(&rx, &selected, &st.id).unwrap_or(false),
        register_number: school::register::valid_line(&rx, &st.id)
            .ok()
            .flatten()
            .map(|l| l.number.to_string())
            .unwrap_or_default(),
        id: st.id,
        dob: st
            .dob
            .parse::<jiff::civil::Date>()
            .map(|d| d.strftime("%d/%m/%Y").to_string())
            .unwrap_or(st.dob),
        full_name: st.full_name,
        gender: st.gender,
        ma_dinh_danh: if show_ids {
            st.ma_dinh_danh
        } else {
            String::new()
        },
        status: st.left.map(|d| d.describe()).unwrap_or_default(),
    };
    let students = school::students_of_class(&rx, &selected)?
        .into_iter()
        .map(row)
        .collect();
    let left = school::students_who_left(&rx, &selected)?
        .into_iter()
        .map(row)
        .collect();
    let (year, grade) = classes
        .iter()
        .find(|c| c.id == selected)
        .map(|c| (c.year.clone(), c.grade))
        .unwrap_or_default();
    // The move dialog offers only what a move accepts: this year's classes of the same grade.
    let same_year = classes
        .iter()
        .filter(|c| c.year == year && c.grade == grade)
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    // Nhập học lại takes any class of the current year (a pupil may come back a grade up).
    let current = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let this_year = classes
        .iter()
        .filter(|c| c.year == current)
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let can_edit = u.require(Action::ManageSchool).is_ok();
    let can_export = u.require(Action::ImportExport).is_ok();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // A class of another year (last year's graduating 9A1 beside this year's) says its year.
    let current = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let page = render(StudentsPage::new(
        chrome(&s, &u, &headers),
        classes
            .into_iter()
            .map(|c| {
                let name = if c.year == current {
                    c.name
                } else {
                    format!("{} (năm học {})", c.name, c.year)
                };
                (c.id, name)
            })
            .collect(),
        selected,
        students,
        left,
        same_year,
        this_year,
        show_ids,
        can_export,
        can_edit,
        error,
    ));
    Ok((status, page).into_response())
}

page!(ImportPage, "import.html" {});

async fn import_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    Ok(render(ImportPage::new(chrome(&s, &u, &headers))))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn set_lang(
    Path(lang): Path<String>,
    Query(q): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = if lang == "en" { "en" } else { "vi" };
    let back = q.next.or_else(|| {
        headers
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
    });
    let mut res = Redirect::to(&safe_next(back.as_deref())).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        format!("lang={lang}; Path=/; Max-Age=31536000; SameSite=Lax")
            .parse()
            .expect("ascii"),
    );
    res
}

pub(crate) async fn static_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, ctype, body)) = crate::web::STATIC_FILES.iter().find(|(n, _, _)| *n == file)
    else {
        return ApiError::not_found().into_response();
    };
    let etag = crate::web::static_etag(body);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
        ],
        *body,
    )
        .into_response()
}

pub async fn ca_der(State(s): State<Shared>) -> Response {
    match &s.ca {
        Some((_, der)) => (
            [
                (header::CONTENT_TYPE, "application/x-x509-ca-cert"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"tram-ca.crt\"",
                ),
            ],
            der.clone(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_tls",
            "Trạm đang chạy không có HTTPS (--http-only).",
        )
        .into_response(),
    }
}

pub async fn ca_pem(State(s): State<Shared>) -> Response {
    match &s.ca {
        Some((pem, _)) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            pem.clone(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_tls",
            "Trạm đang chạy không có HTTPS (--http-only).",
        )
        .into_response(),
    }
}

#[derive(Template)]
#[template(path = "bootstrap.html")]
struct BootstrapPage {
    t: I18n,
    school_name: String,
    urls: Vec<(String, String)>,
    fingerprint: Option<String>,
}

pub async fn bootstrap_page(State(s): State<Shared>, headers: HeaderMap) -> Response {
    render(BootstrapPage {
        t: I18n::from_headers(&headers),
        school_name: school_name(&s),
        urls: s.urls.iter().map(|u| (u.clone(), qr_svg(u))).collect(),
        fingerprint: s
            .ca
            .as_ref()
            .map(|(_, der)| crate::pki::tls::fingerprint(der)),
    })
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn redirects_stay_on_this_origin() {
        for ok in ["/", "/grades?class=6a1", "/library/item/x#top"] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        // What a browser would follow to another host, however it is disguised.
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/%09/evil.example\t",
            "\t//evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            " //evil.example",
            "/\\evil.example",
            "/\u{b}/evil.example",
            "/\u{7f}/evil.example",
            "https://evil.example/",
            "evil.example",
            "javascript:alert(1)",
            "",
        ] {
            let got = safe_next(Some(bad));
            assert!(
                got == "/" || (got.starts_with('/') && !got.starts_with("//")),
                "{bad:?} → {got:?}"
            );
            assert!(!got.contains("evil.example") || !got.starts_with("//"));
        }
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
