//! The frame of every signed-in page: the navigation a person's roles open, the school's name,
//! the session's CSRF token for the forms, and the banner of an account in its week of
//! quarantine; `page!` declares a page template with that frame.

use axum::http::HeaderMap;

use crate::auth::extract::ApiUser;
use crate::auth::{self, Action};
use crate::http::Shared;
use crate::school;
use crate::web::I18n;

/// What every page's layout needs.
pub struct Chrome {
    pub t: I18n,
    pub csrf: String,
    pub school_name: String,
    pub user_name: String,
    pub nav: Vec<(&'static str, &'static str)>,
    /// Why this account may not sign this week, shown on every page (empty: it may).
    pub quarantine: String,
}

/// The banner of an account someone else set the password of this week: who, when, until
/// when, and what to do if it was not asked for.
fn quarantine_notice(s: &Shared, p: &auth::Principal) -> String {
    let Some((by, at)) = p.account.password_reset.as_ref().filter(|_| p.quarantined) else {
        return String::new();
    };
    let Ok(at) = at.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let who = s
        .store
        .read()
        .ok()
        .and_then(|rx| rx.get(&auth::ACCOUNTS, by).ok().flatten())
        .map_or_else(|| by.clone(), |a| a.full_name);
    let tz = school::time_zone();
    let until = at + jiff::SignedDuration::from_hours(auth::RESET_QUARANTINE_DAYS * 24);
    format!(
        "Mật khẩu tài khoản này do {who} đặt lúc {}. Đến {}, tài khoản chưa ký duyệt hay góp ý kế hoạch bài dạy, khoá sổ, duyệt sửa điểm, tạo khoá ký hay đổi tài khoản Ban giám hiệu. Nếu bạn không yêu cầu việc này, báo ngay Hiệu trưởng.",
        at.to_zoned(tz.clone()).strftime("%H:%M %d/%m/%Y"),
        until.to_zoned(tz).strftime("%H:%M %d/%m/%Y"),
    )
}

pub fn chrome(s: &Shared, u: &ApiUser, headers: &HeaderMap) -> Chrome {
    let p = &u.principal;
    if s.hub {
        // The district hub: its own pages, and its staff accounts.
        let mut nav = vec![
            ("/district", "district.title"),
            ("/district/publish", "district.publish"),
            ("/district/hocba-verify", "district.hocba_verify"),
        ];
        if auth::permits(p, Action::ManageAccounts) {
            nav.push(("/admin/accounts", "nav.accounts"));
        }
        return Chrome {
            t: I18n::from_headers(headers),
            csrf: u.session.csrf.clone(),
            school_name: "Trạm — Phòng/Sở GD&ĐT".into(),
            user_name: p.account.full_name.clone(),
            nav,
            quarantine: String::new(),
        };
    }
    let mut nav = vec![
        ("/grades", "nav.grades"),
        ("/lessons", "nav.lessons"),
        ("/library", "nav.library"),
    ];
    if auth::permits(p, Action::ManageAccounts) {
        nav.push(("/admin/accounts", "nav.accounts"));
    }
    nav.push(("/admin/classes", "nav.classes"));
    nav.push(("/admin/students", "nav.students"));
    nav.push(("/admin/subjects", "nav.subjects"));
    nav.push(("/admin/assignments", "nav.assignments"));
    if auth::permits(p, Action::ImportExport) {
        nav.push(("/admin/import", "nav.import"));
    }
    if auth::permits(p, Action::ViewBackups) {
        nav.push(("/admin/backups", "nav.backups"));
    }
    if auth::permits(p, Action::ManageDevice) {
        nav.push(("/admin/device", "nav.device"));
    }
    let school_name = s
        .store
        .read()
        .ok()
        .and_then(|rx| school::school_info(&rx).ok().flatten())
        .map(|i| i.name)
        .unwrap_or_default();
    Chrome {
        t: I18n::from_headers(headers),
        csrf: u.session.csrf.clone(),
        school_name,
        user_name: p.account.full_name.clone(),
        nav,
        quarantine: quarantine_notice(s, p),
    }
}

macro_rules! page {
    ($name:ident, $path:literal { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(askama::Template)]
        #[template(path = $path)]
        struct $name {
            t: $crate::web::I18n,
            csrf: String,
            school_name: String,
            user_name: String,
            nav: Vec<(&'static str, &'static str)>,
            quarantine: String,
            $($field: $ty),*
        }
        impl $name {
            #[allow(clippy::too_many_arguments)]
            fn new(c: $crate::auth::pages::Chrome, $($field: $ty),*) -> Self {
                $name { t: c.t, csrf: c.csrf, school_name: c.school_name, user_name: c.user_name, nav: c.nav, quarantine: c.quarantine, $($field),* }
            }
        }
    };
}

pub(crate) use page;

page!(RefusedPage, "filter_refused.html" {
    title: String,
    error: String,
    choices: Vec<(String, String)>,
});

/// A page's refused filter (review r21 #5): for a browser, the page's frame — menu, title —
/// with the reason and the values it takes as links (`choices`: address, label), status 400;
/// for anyone else (`page` false) the JSON `bad_filter`. Never the bare error page.
pub fn refused_filter(
    s: &Shared,
    u: &ApiUser,
    headers: &HeaderMap,
    page: bool,
    title: &str,
    why: String,
    choices: Vec<(String, String)>,
) -> Result<axum::response::Response, crate::http::ApiError> {
    use axum::response::IntoResponse;
    crate::http::refusal(page, Some(&why))?;
    let body = crate::http::render(RefusedPage::new(
        chrome(s, u, headers),
        title.to_string(),
        why,
        choices,
    ));
    Ok((axum::http::StatusCode::BAD_REQUEST, body).into_response())
}
