//! School IT's device page (/admin/device) and its API: health, logs, support bundle, update
//! upload (verified, then spooled for tram-update.service) and reboot / power-off.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Action;
use crate::auth::extract::ApiUser;
use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::http::render;
use crate::http::{ApiError, Shared};

/// Largest bundle accepted over the web (a release is ~10 MB).
pub const MAX_BUNDLE: u64 = 512 << 20;

pub fn pages() -> Router<Shared> {
    Router::new()
        .route("/admin/device", get(device_page))
        .route("/admin/device/support.zip", get(support_zip))
}

pub fn api() -> Router<Shared> {
    Router::new()
        .route("/device/health", get(health))
        .route("/device/power", post(power))
        .route("/device/update", post(upload_update))
}

struct Fact {
    label: &'static str,
    value: String,
    warn: bool,
}

page!(DevicePage, "device.html" {
    facts: Vec<Fact>,
    clone_suspected: bool,
    installed: String,
    update: Option<crate::update::Status>,
    spooled: Vec<String>,
    logs: Option<String>,
    summary: Option<String>,
    // (hub, school code, since): never the upload secret.
    enrolled: Option<(String, String, String)>,
    enrol_pending: bool,
});

fn duration(s: u64) -> String {
    let (d, h, m) = (s / 86400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d} ngày {h} giờ")
    } else {
        format!("{h} giờ {m} phút")
    }
}

async fn device_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    u.require(Action::ManageDevice)?;
    let dir = s.store.dir().to_path_buf();
    let (h, logs) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || (super::health(&dir), super::recent_logs(200))
    })
    .await?;
    let na = || "không có".to_string();
    let mut facts = vec![
        Fact {
            label: "Phiên bản",
            value: h.version.to_string(),
            warn: false,
        },
        Fact {
            label: "Mã thiết bị",
            value: h.device_id.clone().unwrap_or_else(na),
            warn: false,
        },
        Fact {
            // A non-breaking hyphen: on a phone the label never splits "SHA-256" in two.
            label: "Dấu vân tay CA (SHA\u{2011}256)",
            value: s
                .ca
                .as_ref()
                .map(|(_, der)| crate::pki::tls::fingerprint(der))
                .unwrap_or_else(|| "không dùng HTTPS".into()),
            warn: false,
        },
        Fact {
            // The device key the hub enrolled; it signs the records archive (`app::records`).
            label: "Dấu vân tay khoá thiết bị (ký hồ sơ điện tử)",
            value: if dir.join("keys").join("device.key").exists() {
                crate::relay::device_key(&dir)
                    .map(|k| {
                        crate::pki::fingerprint_groups(&crate::pki::key_fingerprint(
                            &k.verifying_key().to_bytes(),
                        ))
                    })
                    .unwrap_or_else(|e| format!("không đọc được: {e}"))
            } else {
                "chưa có (tạo khi xuất hồ sơ điện tử hoặc đăng ký với Phòng/Sở)".into()
            },
            warn: false,
        },
        Fact {
            label: "Máy chạy được",
            value: h.system_uptime_s.map(duration).unwrap_or_else(na),
            warn: false,
        },
        Fact {
            label: "Trạm chạy được",
            value: duration(s.started.elapsed().as_secs()),
            warn: false,
        },
    ];
    if let (Some(t), Some(f)) = (h.disk_total, h.disk_free) {
        facts.push(Fact {
            label: "Ổ dữ liệu",
            value: format!(
                "còn trống {} / {}",
                crate::text::human_size(f),
                crate::text::human_size(t)
            ),
            warn: f < t / 10,
        });
    }
    if let (Some(t), Some(a)) = (h.mem_total, h.mem_available) {
        facts.push(Fact {
            label: "Bộ nhớ",
            value: format!(
                "còn trống {} / {} (Trạm dùng {})",
                crate::text::human_size(a),
                crate::text::human_size(t),
                h.process_rss
                    .map(crate::text::human_size)
                    .unwrap_or_else(na)
            ),
            warn: a < t / 10,
        });
    }
    if let Some(l) = h.load {
        facts.push(Fact {
            label: "Tải CPU (1/5/15 phút)",
            value: format!("{:.2} / {:.2} / {:.2}", l[0], l[1], l[2]),
            warn: false,
        });
    }
    facts.push(Fact {
        label: "Nhiệt độ",
        value: h
            .temperature_c
            .map(|t| format!("{t:.0} °C"))
            .unwrap_or_else(na),
        warn: h.temperature_c.is_some_and(|t| t >= 75.0),
    });
    facts.push(Fact {
        label: "Độ mòn bộ nhớ lưu trữ",
        value: h
            .storage_wear
            .clone()
            .unwrap_or_else(|| "thiết bị không báo".into()),
        warn: h
            .storage_wear
            .as_deref()
            .is_some_and(|w| w.contains("KHẨN") || w.contains("vượt")),
    });
    facts.push(Fact {
        label: "Tắt không đúng cách (mất điện…)",
        value: format!(
            "{} lần / {} lần khởi động{}",
            h.runs.unclean_shutdowns,
            h.runs.starts,
            h.runs
                .last_unclean_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| format!(
                    ", gần nhất {}",
                    t.to_zoned(crate::school::time_zone())
                        .strftime("%H:%M %d/%m/%Y")
                ))
                .unwrap_or_default()
        ),
        warn: h.runs.unclean_shutdowns > 0,
    });
    let spooled = std::fs::read_dir(dir.join("updates/spool"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let summary = std::fs::read_to_string(dir.join("provisioning-summary.txt")).ok();
    Ok(render(DevicePage::new(
        chrome(&s, &u, &headers),
        facts,
        h.clone_suspected,
        crate::update::installed_version(std::path::Path::new(crate::update::DEFAULT_INSTALL_ROOT)),
        // Stored in UTC; a person reads the school's clock.
        crate::update::status(&dir).map(|mut u| {
            if let Ok(t) = u.at.parse::<jiff::Timestamp>() {
                u.at = t
                    .to_zoned(crate::school::time_zone())
                    .strftime("%H:%M %d/%m/%Y")
                    .to_string();
            }
            u
        }),
        spooled,
        logs,
        summary,
        crate::relay::enrolment(&dir).map(|e| {
            let since = e
                .enrolled_at
                .parse::<jiff::Timestamp>()
                .map(|t| {
                    t.to_zoned(crate::school::time_zone())
                        .strftime("%H:%M %d/%m/%Y")
                        .to_string()
                })
                .unwrap_or(e.enrolled_at);
            (e.hub, e.school, since)
        }),
        crate::relay::pending(&dir).is_some(),
    )))
}

async fn health(State(s): State<Shared>, u: ApiUser) -> Result<Json<super::Health>, ApiError> {
    u.require(Action::ManageDevice)?;
    let dir = s.store.dir().to_path_buf();
    Ok(Json(
        tokio::task::spawn_blocking(move || super::health(&dir)).await?,
    ))
}

async fn support_zip(State(s): State<Shared>, PageUser(u): PageUser) -> Result<Response, ApiError> {
    u.require(Action::ManageDevice)?;
    let store = s.store.clone();
    let bytes = tokio::task::spawn_blocking(move || super::support_bundle(&store))
        .await?
        .map_err(ApiError::internal)?;
    let name = format!(
        "tram-support-{}.zip",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    tracing::info!(user = %u.principal.account.username, "support bundle downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct PowerBody {
    action: String,
}

async fn power(
    State(s): State<Shared>,
    u: ApiUser,
    body: Result<Json<PowerBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require(Action::ManageDevice)?;
    let Json(b) = body?;
    let p = super::Power::parse(&b.action).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_action",
            "Chỉ có thể khởi động lại (reboot) hoặc tắt máy (poweroff).",
        )
    })?;
    super::request_power(s.store.dir(), p).map_err(ApiError::internal)?;
    tracing::warn!(user = %u.principal.account.username, action = %b.action, "power request");
    let msg = match p {
        super::Power::Reboot => {
            "Máy sẽ khởi động lại trong giây lát; mở lại trang sau khoảng 2 phút."
        }
        super::Power::PowerOff => "Máy sẽ tắt trong giây lát. Bật lại bằng nút nguồn.",
    };
    Ok(Json(json!({ "ok": true, "message": msg })))
}

/// A bundle uploaded from school IT's laptop: streamed to disk, its signature checked with the
/// device's release key, then left in the spool for root's tram-update.service.
async fn upload_update(
    State(s): State<Shared>,
    u: ApiUser,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    u.require(Action::ManageDevice)?;
    let dir = s.store.dir().join("updates");
    let incoming = dir.join("incoming");
    tokio::fs::create_dir_all(&incoming)
        .await
        .map_err(ApiError::internal)?;
    let tmp = incoming.join(format!(
        "upload-{}.bundle",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let mut f = tokio::fs::File::create(&tmp)
        .await
        .map_err(ApiError::internal)?;
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    let bad = |code: &'static str, msg: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, msg)
    };
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(bad(
                    "upload_cut",
                    "Tải lên bị ngắt giữa chừng. Hãy thử lại.".into(),
                ));
            }
        };
        n += chunk.len() as u64;
        if n > MAX_BUNDLE {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(bad("too_large", "Tệp quá lớn cho một bản cập nhật.".into()));
        }
        if let Err(e) = f.write_all(&chunk).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ApiError::internal(e));
        }
    }
    f.sync_all().await.map_err(ApiError::internal)?;
    drop(f);
    let key_path = std::env::var_os("TRAM_RELEASE_KEY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::config::DEFAULT_RELEASE_KEY.into());
    let check = {
        let tmp = tmp.clone();
        let staging = incoming.join(format!(".check-{}", hex::encode(rand::random::<[u8; 6]>())));
        tokio::task::spawn_blocking(move || {
            let r = crate::pki::bundle::load_public_key(&key_path)
                .and_then(|k| crate::pki::bundle::verify(&tmp, &k, &staging));
            let _ = std::fs::remove_dir_all(&staging);
            r.map(|v| v.manifest)
        })
        .await?
    };
    let m = match check {
        Ok(m) => m,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            tracing::warn!(error = %e, "uploaded update refused");
            return Err(bad(
                "bad_bundle",
                format!("Không phải bản cập nhật hợp lệ, không cài: {e}"),
            ));
        }
    };
    let spool = dir.join("spool");
    tokio::fs::create_dir_all(&spool)
        .await
        .map_err(ApiError::internal)?;
    let dest = spool.join(format!("tram-{}-{}.bundle", m.version, m.arch));
    tokio::fs::rename(&tmp, &dest)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(user = %u.principal.account.username, version = %m.version, "update bundle spooled");
    Ok(Json(json!({
        "ok": true,
        "version": m.version,
        "message": format!(
            "Đã nhận bản cập nhật {} (chữ ký hợp lệ). Máy sẽ sao lưu, cài đặt và tự kiểm tra; nếu lỗi sẽ tự quay lại bản đang chạy.",
            m.version
        ),
    })))
}
