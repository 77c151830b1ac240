//! The backups page (/admin/backups) for school IT and BGH: every backup on every target (time,
//! size, whether the restore check passed), how to add a USB disk step by step, and the backup
//! key shown again after the person re-enters their password (`POST /api/v1/backup/key`) — the
//! key whoever restores a dead box needs, to print and keep in the principal's safe.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::schedule;
use crate::auth::Action;
use crate::auth::extract::{ApiUser, PageUser};
use crate::auth::pages::{chrome, page};
use crate::http::{ApiError, JsonBody, Shared, json_body, render};

/// Newest backups listed per target (retention keeps about 23 nightly ones, and manual ones apart).
const LISTED: usize = 40;

pub fn pages() -> Router<Shared> {
    Router::new().route("/admin/backups", get(backups_page))
}

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/backup/key", post(show_key))
        .route("/backup/usb", post(add_usb))
}

/// One backup as the page lists it.
struct Row {
    when: String,
    kind: &'static str,
    size: String,
    added: String,
    records: u64,
    checked: bool,
}

/// One target: where, whether it is there, its backups newest first.
struct TargetView {
    path: String,
    internal: bool,
    state: TargetState,
    rows: Vec<Row>,
    more: usize,
}

enum TargetState {
    Ok,
    /// The folder does not exist (the USB disk is not plugged in / not mounted).
    Missing,
    /// No backup written there yet.
    Empty,
    /// Could not be read: the reason, in Vietnamese.
    Unreadable(String),
}

page!(BackupsPage, "backups.html" {
    manage: bool,
    last: Option<String>,
    checked: bool,
    stale: bool,
    error: Option<String>,
    running: bool,
    enabled: bool,
    at: String,
    targets: Vec<TargetView>,
    has_external: bool,
    usb_path: String,
});

fn local(t: jiff::Timestamp) -> String {
    t.to_zoned(crate::school::time_zone())
        .strftime("%H:%M %d/%m/%Y")
        .to_string()
}

fn kind_vi(k: super::Kind) -> &'static str {
    match k {
        super::Kind::Nightly => "Hằng đêm",
        super::Kind::Manual => "Sao lưu ngay",
        super::Kind::PreUpdate => "Trước khi cập nhật",
    }
}

/// Reads each target's manifests (a USB disk can be slow: called on a blocking thread).
fn targets(data_dir: &Path, cfg: &schedule::Config, last_checked: Option<&str>) -> Vec<TargetView> {
    let key = super::BackupKey::load(data_dir).ok().flatten();
    cfg.targets
        .iter()
        .map(|t| {
            let internal = t.starts_with(data_dir);
            let mut view = TargetView {
                path: t.display().to_string(),
                internal,
                state: TargetState::Ok,
                rows: Vec::new(),
                more: 0,
            };
            if !t.is_dir() {
                // The box's own folder is made by its first backup; only an outside disk can
                // be "not plugged in".
                view.state = if internal {
                    TargetState::Empty
                } else {
                    TargetState::Missing
                };
                return view;
            }
            match super::target::list(t, key.as_ref()) {
                Ok(list) if list.is_empty() => view.state = TargetState::Empty,
                Ok(list) => {
                    view.more = list.len().saturating_sub(LISTED);
                    view.rows = list
                        .iter()
                        .rev()
                        .take(LISTED)
                        .map(|m| {
                            let size = m.database.size
                                + m.files.size
                                + m.settings.as_ref().map_or(0, |s| s.size)
                                + m.blobs.iter().map(|b| b.size).sum::<u64>();
                            Row {
                                when: local(m.created),
                                kind: kind_vi(m.kind),
                                size: crate::text::human_size(size),
                                added: crate::text::human_size(m.new_bytes),
                                records: m.records,
                                // The status file names only the newest good backup; every other
                                // one's check is recorded on the target itself.
                                checked: last_checked == Some(m.id.as_str())
                                    || super::restore_checked(t, &m.id),
                            }
                        })
                        .collect();
                }
                // A folder that is not (yet) a backup target reads as empty, not as damage.
                Err(super::BackupError::NoBackup(_)) => view.state = TargetState::Empty,
                Err(e) => view.state = TargetState::Unreadable(schedule::message_vi(&e)),
            }
            view
        })
        .collect()
}

async fn backups_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::ViewBackups)?;
    let dir = s.store.dir().to_path_buf();
    let fallback = schedule::Config::default_for(&dir);
    let cfg = s.part::<schedule::Config>().unwrap_or(&fallback).clone();
    let sum = schedule::summary(&dir, jiff::Timestamp::now());
    let checked_id = sum.last_good_id.clone().filter(|_| sum.restore_checked);
    let views = tokio::task::spawn_blocking({
        let (dir, cfg) = (dir.clone(), cfg.clone());
        move || targets(&dir, &cfg, checked_id.as_deref())
    })
    .await?;
    let has_external = views.iter().any(|v| !v.internal);
    let usb_path = cfg
        .targets
        .iter()
        .find(|t| !t.starts_with(&dir))
        .cloned()
        .unwrap_or_else(|| PathBuf::from(USB_MOUNT))
        .display()
        .to_string();
    Ok(render(BackupsPage::new(
        chrome(&s, &u, &headers),
        crate::auth::permits(&u.principal, Action::ManageDevice),
        sum.last_good_at.map(local),
        sum.restore_checked,
        sum.stale,
        sum.last_error_vi.filter(|m| !m.is_empty()),
        sum.running,
        cfg.enabled,
        cfg.at.strftime("%H:%M").to_string(),
        views,
        has_external,
        usb_path,
    )))
}

/// Where the device image mounts a USB disk labelled `TRAM-BACKUP` (image/build.sh's fstab).
pub const USB_MOUNT: &str = "/media/tram-backup";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyAsk {
    password: String,
}

/// Wrong passwords for the key allowed per account before it waits (as sign-in does).
const KEY_TRIES: u32 = 5;
const KEY_WAIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Wrong passwords for the backup key per account: (count, since). A browser left signed in
/// must not be a way to guess the password, then read the key that opens every backup.
static KEY_FAILURES: std::sync::Mutex<
    std::collections::BTreeMap<String, (u32, std::time::Instant)>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

fn key_tries_left(account: &str) -> bool {
    let mut f = KEY_FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    match f.get(account) {
        Some((_, since)) if since.elapsed() > KEY_WAIT => {
            f.remove(account);
            true
        }
        Some((n, _)) => *n < KEY_TRIES,
        None => true,
    }
}

fn key_failed(account: &str) {
    let mut f = KEY_FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    let e = f
        .entry(account.to_string())
        .or_insert((0, std::time::Instant::now()));
    e.0 += 1;
}

/// The backup key, after the person re-enters their password; each showing, and each wrong
/// password, is audited; after [`KEY_TRIES`] wrong ones the account waits [`KEY_WAIT`].
async fn show_key(
    State(s): State<Shared>,
    u: ApiUser,
    body: JsonBody<KeyAsk>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ViewBackups)?;
    let ask = json_body(body)?;
    let store = s.store.clone();
    let who = u.actor();
    if !key_tries_left(&who.id) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_tries",
            "Nhập sai mật khẩu quá nhiều lần: khoá sao lưu tạm không hiển thị, thử lại sau 15 phút.",
        ));
    }
    let text = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        if crate::auth::confirm_password(&store, &who.id, &ask.password).is_err() {
            key_failed(&who.id);
            store.write(&who, |tx| {
                tx.event("backup.key.refused", "backup-key", None);
                Ok::<_, ApiError>(())
            })?;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_password",
                "Mật khẩu không đúng: khoá sao lưu không được hiển thị.",
            ));
        }
        KEY_FAILURES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&who.id);
        let key = super::BackupKey::load(store.dir())
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_backup_key",
                    "Máy chưa có khoá sao lưu: khoá được tạo ở lần sao lưu đầu tiên. Bấm «Sao lưu ngay» rồi mở lại trang này.",
                )
            })?;
        store.write(&who, |tx| {
            tx.event("backup.key.show", "backup-key", None);
            Ok::<_, ApiError>(())
        })?;
        Ok(key.file_text_vi())
    })
    .await??;
    let qr = qrcode::QrCode::new(text.trim().as_bytes())
        .map(|c| {
            c.render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .build()
        })
        .unwrap_or_default();
    Ok(Json(json!({ "key": text, "qr_svg": qr })))
}

/// Adds the USB disk's mount point ([`USB_MOUNT`], never a path from the request) to the backup
/// targets in `tram.toml`; the nightly schedule reads it at the next start.
async fn add_usb(State(s): State<Shared>, u: ApiUser) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageDevice)?;
    let dir = s.store.dir().to_path_buf();
    let fallback = schedule::Config::default_for(&dir);
    let current = s
        .part::<schedule::Config>()
        .unwrap_or(&fallback)
        .targets
        .clone();
    let usb = PathBuf::from(USB_MOUNT);
    let store = s.store.clone();
    let who = u.actor();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut settings = crate::config::Settings::load(&dir).map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "settings_unreadable",
                format!("Không đọc được tệp cấu hình ({e}): chưa thay đổi gì."),
            )
        })?;
        if settings.backup.targets.contains(&usb) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_added",
                "Ổ USB đã có trong danh sách sao lưu. Nếu trang chưa hiện nó, hãy khởi động lại Trạm trên trang Thiết bị.",
            ));
        }
        if settings.backup.targets.is_empty() {
            settings.backup.targets = current;
        }
        if !settings.backup.targets.contains(&usb) {
            settings.backup.targets.push(usb.clone());
        }
        if settings.format == 0 {
            settings.format = 1;
        }
        settings.save(&dir).map_err(ApiError::internal)?;
        store.write(&who, |tx| {
            tx.event("backup.target.add", USB_MOUNT, None);
            Ok::<_, ApiError>(())
        })
    })
    .await??;
    Ok(Json(json!({
        "message": format!("Đã thêm {USB_MOUNT} vào danh sách sao lưu. Khởi động lại Trạm trên trang Thiết bị để áp dụng, rồi bấm «Sao lưu ngay»."),
    })))
}
