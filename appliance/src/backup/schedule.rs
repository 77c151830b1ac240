//! The nightly job and the backup status the admin page and `/healthz` show.
//!
//! The loop wakes every 30 s (monotonic sleep) and compares the **wall clock** with the last
//! scheduled slot it ran for, so it survives the clock jumping when NTP arrives after boot:
//! - before the clock is plausible (earlier than [`CLOCK_FLOOR`], a box without a real-time
//!   clock boots in 1970) nothing runs;
//! - a box that was off at 01:30 backs up soon after it starts (a missed slot is caught up);
//! - a slot recorded in the future (the clock was wrong, then corrected) counts as missed;
//! - a failed run (the USB disk not plugged in, a full disk) is retried after [`RETRY_SOON`], so
//!   a disk plugged in the morning is backed up within minutes, for [`RETRY_SOON_FOR`] after the
//!   first failure; after that once an hour, not every 30 s (each retry backs up every target
//!   again, the box's own folder included).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::civil::Time;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{BackupError, BackupKey, Kind, Options, Report, Retention};
use crate::store::Store;

/// No backup is scheduled while the clock reads earlier than this (it has not been set yet).
pub const CLOCK_FLOOR: &str = "2026-01-01T00:00:00Z";
/// The admin page and `/healthz` warn when the last good backup is older than this.
pub const STALE_AFTER_HOURS: i64 = 48;
/// How soon a failed backup is tried again while the failures are recent.
pub const RETRY_SOON: SignedDuration = SignedDuration::from_mins(10);
/// How long after the first failure the retries stay [`RETRY_SOON`] apart (a night's window:
/// a backup at 01:30 keeps being retried every 10 minutes until 07:30); hourly after that.
pub const RETRY_SOON_FOR: SignedDuration = SignedDuration::from_hours(6);

#[derive(Debug, Clone)]
pub struct Config {
    /// Every target gets each backup (an internal folder and/or a mounted USB disk).
    pub targets: Vec<PathBuf>,
    /// Local time (Asia/Ho_Chi_Minh) of the nightly run.
    pub at: Time,
    pub retention: Retention,
    /// First look at the schedule this long after start (lets the box settle after boot).
    pub first_check_after: Duration,
    pub enabled: bool,
}

impl Config {
    /// The default: nightly at 01:30 into `DATA_DIR/backups`, 7 daily, 4 weekly, 12 monthly.
    pub fn default_for(data_dir: &Path) -> Config {
        Config {
            targets: vec![data_dir.join("backups")],
            at: Time::constant(1, 30, 0, 0),
            retention: Retention::default(),
            first_check_after: Duration::from_secs(300),
            enabled: true,
        }
    }

    /// The schedule `settings` (`tram.toml`) describe, over the defaults for `data_dir`.
    pub fn from_settings(settings: &crate::config::Settings, data_dir: &Path) -> Config {
        let mut c = Config::default_for(data_dir);
        let wanted = &settings.backup;
        if !wanted.targets.is_empty() {
            c.targets = wanted.targets.clone();
        }
        if let Some(t) = wanted
            .at
            .as_deref()
            .and_then(|a| jiff::civil::Time::strptime("%H:%M", a).ok())
        {
            c.at = t;
        }
        if let Some(k) = wanted.keep.as_deref().and_then(|k| k.parse().ok()) {
            c.retention = k;
        }
        c
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub last_good: Option<Good>,
    pub last_attempt: Option<Attempt>,
    /// The scheduled slot the nightly job last ran for.
    pub last_slot: Option<Timestamp>,
    /// The first of the failed attempts since the last good one (None after a success).
    #[serde(default)]
    pub failing_since: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Good {
    pub at: Timestamp,
    pub id: String,
    pub target: PathBuf,
    /// The backup was restored into a scratch folder and checked (database, audit chain, files).
    pub restore_checked: bool,
    pub new_bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub at: Timestamp,
    pub ok: bool,
    /// English, as in the logs.
    pub message: String,
    /// For the admin page.
    #[serde(default)]
    pub message_vi: String,
}

/// The Vietnamese message school IT sees for a failed backup.
pub fn message_vi(e: &BackupError) -> String {
    match e {
        BackupError::NoSpace { need_mb, free_mb, .. } => format!(
            "Ổ sao lưu không đủ chỗ: cần khoảng {need_mb} MB, còn {free_mb} MB. Chưa có bản sao lưu nào bị ghi dở."
        ),
        BackupError::DiskFull(_) => {
            "Ổ sao lưu bị đầy giữa chừng. Bản sao lưu này đã bị huỷ; các bản cũ vẫn nguyên vẹn.".into()
        }
        BackupError::Target(_) => {
            "Không thấy ổ sao lưu. Hãy cắm ổ USB rồi thử lại.".into()
        }
        BackupError::Busy(_) => "Đang có một lần sao lưu khác chạy. Vui lòng đợi.".into(),
        BackupError::OtherKey { .. } | BackupError::WrongKey => {
            "Ổ sao lưu này chứa bản sao lưu của một khoá khác (thiết bị khác). Hãy dùng một thư mục trống.".into()
        }
        BackupError::Source(_) => {
            "Một tệp trong dữ liệu của Trạm bị hỏng; xem nhật ký hệ thống. Không sao lưu tệp hỏng.".into()
        }
        _ => "Sao lưu thất bại; xem nhật ký hệ thống (journalctl -u tram).".into(),
    }
}

static RUNNING: AtomicBool = AtomicBool::new(false);

/// Held while a backup made by this process runs; dropping it clears the flag.
pub struct Running(());

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
}

/// Marks a backup as running, or `None` if one already is.
pub fn try_start() -> Option<Running> {
    RUNNING
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .ok()
        .map(|_| Running(()))
}

pub fn running() -> bool {
    RUNNING.load(Ordering::SeqCst)
}

pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join("backup-status.json")
}

/// The stored status; a missing or unreadable file is "never backed up".
pub fn read_status(data_dir: &Path) -> Status {
    std::fs::read(status_path(data_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_status(data_dir: &Path, s: &Status) {
    let bytes = serde_json::to_vec_pretty(s).expect("serialisable");
    if let Err(e) = crate::config::write_atomic(&status_path(data_dir), &bytes) {
        tracing::warn!(error = %e, "cannot record the backup status");
    }
}

/// What the admin page and `/healthz` show.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub last_good_at: Option<Timestamp>,
    pub last_good_id: Option<String>,
    /// What the last good backup added to its target (unchanged files are stored once).
    pub last_good_new_bytes: Option<u64>,
    pub age_hours: Option<i64>,
    pub restore_checked: bool,
    /// No good backup, or the last one is older than 48 hours.
    pub stale: bool,
    pub last_error: Option<String>,
    pub last_error_vi: Option<String>,
    pub running: bool,
}

pub fn summary(data_dir: &Path, now: Timestamp) -> Summary {
    let s = read_status(data_dir);
    let age_hours = s
        .last_good
        .as_ref()
        .map(|g| now.duration_since(g.at).as_hours());
    Summary {
        last_good_at: s.last_good.as_ref().map(|g| g.at),
        last_good_id: s.last_good.as_ref().map(|g| g.id.clone()),
        last_good_new_bytes: s.last_good.as_ref().map(|g| g.new_bytes),
        age_hours,
        restore_checked: s.last_good.as_ref().is_some_and(|g| g.restore_checked),
        stale: age_hours.is_none_or(|h| h > STALE_AFTER_HOURS),
        last_error: s
            .last_attempt
            .as_ref()
            .filter(|a| !a.ok)
            .map(|a| a.message.clone()),
        last_error_vi: s.last_attempt.filter(|a| !a.ok).map(|a| a.message_vi),
        running: running(),
    }
}

/// The most recent scheduled moment at or before `now`.
pub fn last_slot(now: Timestamp, at: Time) -> Timestamp {
    let tz = crate::school::time_zone();
    let today = now
        .to_zoned(tz.clone())
        .date()
        .to_datetime(at)
        .to_zoned(tz)
        .map(|z| z.timestamp())
        .unwrap_or(now);
    if today <= now {
        today
    } else {
        today - SignedDuration::from_hours(24)
    }
}

/// Whether the nightly job should run now (see the module docs).
pub fn due(now: Timestamp, status: &Status, at: Time) -> bool {
    if now < CLOCK_FLOOR.parse::<Timestamp>().expect("valid constant") {
        return false;
    }
    if let Some(a) = &status.last_attempt
        && !a.ok
        && a.at <= now
    {
        let since = status.failing_since.filter(|s| *s <= a.at).unwrap_or(a.at);
        let wait = if a.at.duration_since(since) < RETRY_SOON_FOR {
            RETRY_SOON
        } else {
            SignedDuration::from_hours(1)
        };
        if now.duration_since(a.at) < wait {
            return false;
        }
    }
    let slot = last_slot(now, at);
    match status.last_slot {
        None => true,
        Some(s) if s > now => true,
        Some(s) => s < slot,
    }
}

/// Backs up to every configured target and records the outcome. Used by the nightly job, the
/// admin page's button, `tram backup now` while the server runs, and before updates.
pub fn backup_all(
    store: &Store,
    cfg: &Config,
    kind: Kind,
    now: Timestamp,
    slot: Option<Timestamp>,
) -> Vec<(PathBuf, Result<Report, BackupError>)> {
    let key = match BackupKey::load_or_create(store.dir()) {
        Ok(k) => k,
        Err(e) => {
            record(
                store.dir(),
                now,
                slot,
                &[],
                Some((e.to_string(), message_vi(&e))),
            );
            return vec![(PathBuf::new(), Err(e))];
        }
    };
    let opts = Options {
        kind,
        retention: cfg.retention,
        create_target: false,
        verify: true,
    };
    let mut out = Vec::new();
    for t in &cfg.targets {
        // The internal default folder is made on first use; other targets must be mounted.
        let internal = t.starts_with(store.dir());
        let o = Options {
            create_target: internal,
            ..opts.clone()
        };
        let r = super::run(store, &key, t, &o, now);
        match &r {
            Ok(rep) => tracing::info!(
                id = %rep.id, target = %t.display(), new_bytes = rep.new_bytes,
                seconds = rep.seconds, "backup done and restore-checked"
            ),
            Err(e) => tracing::error!(target = %t.display(), error = %e, "backup failed"),
        }
        out.push((t.clone(), r));
    }
    let errors: Vec<(String, String)> = out
        .iter()
        .filter_map(|(t, r)| {
            r.as_ref()
                .err()
                .map(|e| (format!("{}: {e}", t.display()), message_vi(e)))
        })
        .collect();
    let reports: Vec<&Report> = out.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
    let err = (!errors.is_empty()).then(|| {
        (
            errors
                .iter()
                .map(|e| e.0.clone())
                .collect::<Vec<_>>()
                .join("; "),
            errors[0].1.clone(),
        )
    });
    record(store.dir(), now, slot, &reports, err);
    out
}

/// One backup to `target` outside the schedule (`tram backup now`, directly or through the
/// running server): the device's key, the run, the outcome recorded for the admin page.
pub fn backup_once(store: &Store, target: &Path, opts: &Options) -> Result<Report, BackupError> {
    let now = Timestamp::now();
    let r = BackupKey::load_or_create(store.dir())
        .and_then(|key| super::run(store, &key, target, opts, now));
    match &r {
        Ok(rep) => record(store.dir(), now, None, &[rep], None),
        Err(e) => record(
            store.dir(),
            now,
            None,
            &[],
            Some((e.to_string(), message_vi(e))),
        ),
    }
    r
}

fn record(
    data_dir: &Path,
    now: Timestamp,
    slot: Option<Timestamp>,
    ok: &[&Report],
    error: Option<(String, String)>,
) {
    let mut s = read_status(data_dir);
    if let Some(r) = ok.first() {
        s.last_good = Some(Good {
            at: now,
            id: r.id.clone(),
            target: r.target.clone(),
            restore_checked: r.verified.is_some(),
            new_bytes: r.new_bytes,
            seconds: r.seconds,
        });
    }
    let ok_run = error.is_none();
    s.failing_since = if ok_run {
        None
    } else {
        s.failing_since.or(Some(now))
    };
    let (message, message_vi) = error.unwrap_or_else(|| ("ok".into(), String::new()));
    s.last_attempt = Some(Attempt {
        at: now,
        ok: ok_run,
        message,
        message_vi,
    });
    if ok_run && slot.is_some() {
        s.last_slot = slot;
    }
    write_status(data_dir, &s);
}

/// The nightly loop; runs for the life of the server.
pub async fn run(store: Arc<Store>, cfg: Config) {
    if !cfg.enabled || cfg.targets.is_empty() {
        return;
    }
    tokio::time::sleep(cfg.first_check_after).await;
    loop {
        let now = Timestamp::now();
        let status = read_status(store.dir());
        if due(now, &status, cfg.at)
            && let Some(guard) = try_start()
        {
            let slot = last_slot(now, cfg.at);
            let (s, c) = (store.clone(), cfg.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let _running = guard;
                backup_all(&s, &c, Kind::Nightly, now, Some(slot));
            })
            .await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const AT: Time = Time::constant(1, 30, 0, 0);

    #[test]
    fn slots_are_0130_vietnam_time() {
        // 2026-11-23 01:30 +07 = 2026-11-22 18:30 UTC.
        assert_eq!(
            last_slot(ts("2026-11-22T18:30:00Z"), AT),
            ts("2026-11-22T18:30:00Z")
        );
        assert_eq!(
            last_slot(ts("2026-11-22T18:29:59Z"), AT),
            ts("2026-11-21T18:30:00Z")
        );
        assert_eq!(
            last_slot(ts("2026-11-23T10:00:00Z"), AT),
            ts("2026-11-22T18:30:00Z")
        );
    }

    #[test]
    fn due_survives_clock_jumps_and_catches_up() {
        let never = Status::default();
        // A box booted without a real-time clock reads 1970: wait for NTP.
        assert!(!due(ts("1970-01-01T00:05:00Z"), &never, AT));
        // First plausible time with no backup yet: catch up at once.
        assert!(due(ts("2026-11-23T10:00:00Z"), &never, AT));
        let ran = Status {
            last_slot: Some(ts("2026-11-22T18:30:00Z")),
            ..Default::default()
        };
        assert!(!due(ts("2026-11-23T10:00:00Z"), &ran, AT));
        assert!(due(ts("2026-11-23T18:30:00Z"), &ran, AT));
        // The box was off for three nights: one run when it comes back.
        assert!(due(ts("2026-11-26T07:00:00Z"), &ran, AT));
        // The clock had been set in the future and was corrected back: run.
        let future = Status {
            last_slot: Some(ts("2031-01-01T18:30:00Z")),
            ..Default::default()
        };
        assert!(due(ts("2026-11-23T10:00:00Z"), &future, AT));
        // A failure is retried after 10 minutes (not every 30 s, and not an hour later when
        // the USB disk was only missing: issue 24)…
        let failed = Status {
            last_attempt: Some(Attempt {
                at: ts("2026-11-23T10:00:00Z"),
                ok: false,
                message: "disk full".into(),
                message_vi: String::new(),
            }),
            ..ran.clone()
        };
        assert!(!due(
            ts("2026-11-23T18:40:00Z"),
            &Status {
                last_attempt: Some(Attempt {
                    at: ts("2026-11-23T18:35:00Z"),
                    ok: false,
                    message: "x".into(),
                    message_vi: String::new()
                }),
                ..ran.clone()
            },
            AT
        ));
        assert!(due(ts("2026-11-23T19:40:00Z"), &failed, AT));
        let missing_disk = Status {
            last_attempt: Some(Attempt {
                at: ts("2026-11-23T18:35:00Z"),
                ok: false,
                message: "no disk".into(),
                message_vi: String::new(),
            }),
            failing_since: Some(ts("2026-11-23T18:30:00Z")),
            ..ran.clone()
        };
        assert!(due(ts("2026-11-23T18:46:00Z"), &missing_disk, AT));
        // …for six hours after the first failure; then once an hour.
        let long_failing = Status {
            failing_since: Some(ts("2026-11-23T10:00:00Z")),
            ..missing_disk.clone()
        };
        assert!(!due(ts("2026-11-23T18:46:00Z"), &long_failing, AT));
        assert!(due(ts("2026-11-23T19:36:00Z"), &long_failing, AT));
    }

    #[test]
    fn a_success_ends_the_failing_streak() {
        let d = tempfile::tempdir().unwrap();
        let t0 = ts("2026-11-23T18:30:00Z");
        record(d.path(), t0, None, &[], Some(("x".into(), "y".into())));
        record(
            d.path(),
            ts("2026-11-23T18:40:00Z"),
            None,
            &[],
            Some(("x".into(), "y".into())),
        );
        assert_eq!(read_status(d.path()).failing_since, Some(t0));
        record(d.path(), ts("2026-11-23T18:50:00Z"), None, &[], None);
        assert_eq!(read_status(d.path()).failing_since, None);
    }

    #[test]
    fn summary_warns_after_48_hours() {
        let d = tempfile::tempdir().unwrap();
        let s = summary(d.path(), ts("2026-11-23T10:00:00Z"));
        assert!(s.stale && s.last_good_at.is_none());
        write_status(
            d.path(),
            &Status {
                last_good: Some(Good {
                    at: ts("2026-11-21T09:00:00Z"),
                    id: "x".into(),
                    target: "/t".into(),
                    restore_checked: true,
                    new_bytes: 1,
                    seconds: 1.0,
                }),
                ..Default::default()
            },
        );
        let s = summary(d.path(), ts("2026-11-23T08:00:00Z"));
        assert!(!s.stale && s.age_hours == Some(47));
        let s = summary(d.path(), ts("2026-11-23T10:00:00Z"));
        assert!(s.stale);
    }
}
