//! Signed updates: verify a bundle (bundle.rs), install it beside the running version, take a
//! pre-update backup and a rollback copy of the database, switch, health-check the new version
//! on the real data, and roll application and data back together when it is not healthy.
//!
//! ```text
//! INSTALL_ROOT/versions/<version>/bin/tram   each installed version, side by side
//! INSTALL_ROOT/current  → versions/<version>  what systemd runs (switched by rename)
//! INSTALL_ROOT/previous → versions/<version>  what a rollback returns to
//! DATA_DIR/update/status.json                 the last attempt, for the School IT page
//! DATA_DIR/update/rollback/                   the data as it was before the last update
//! DATA_DIR/updates/spool/                     bundles waiting for tram-update.service
//! ```

use crate::pki::bundle;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use bundle::{Manifest, parse_version};

pub const DEFAULT_INSTALL_ROOT: &str = "/opt/tram";
pub use crate::config::DEFAULT_RELEASE_KEY;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The bundle or the release key was refused, or the disk filled while unpacking (in the
    /// bundle's own words).
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error("refused: {0}")]
    Version(String),
    #[error("{0}")]
    Busy(String),
    #[error(
        "the new version was not healthy ({reason}); rolled back to {back_to} with the data as it was"
    )]
    RolledBack { reason: String, back_to: String },
    #[error("backup before the update failed: {0}")]
    Backup(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl UpdateError {
    /// An io error, as "not enough disk space" when it is one.
    fn from_io_disk(e: io::Error) -> UpdateError {
        bundle::BundleError::from_io_disk(e).into()
    }
}

impl From<std::io::ErrorKind> for UpdateError {
    fn from(k: std::io::ErrorKind) -> Self {
        bundle::BundleError::from(k).into()
    }
}

pub struct ApplyOptions {
    pub data_dir: PathBuf,
    pub install_root: PathBuf,
    pub release_key: PathBuf,
    /// Install even an older version (or the same one again).
    pub force: bool,
    /// How long the new version has to prove itself.
    pub health_timeout: Duration,
    /// The systemd unit to stop before and start after (the device); None in development.
    pub service: Option<String>,
    /// Also check this URL answers 200 after the service started (the device: https://127.0.0.1/healthz).
    pub health_url: Option<String>,
    /// This build's schema, for the pre-update backup (the new version migrates with its own).
    pub schema: crate::store::Schema,
}

/// What happened, written to DATA_DIR/update/status.json.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Status {
    pub at: String,
    pub bundle: String,
    pub from_version: String,
    pub to_version: String,
    /// installed, rolled-back, refused
    pub outcome: String,
    pub message: String,
    #[serde(default)]
    pub backup: Option<String>,
}

pub fn status(data_dir: &Path) -> Option<Status> {
    serde_json::from_slice(&fs::read(data_dir.join("update/status.json")).ok()?).ok()
}

fn record(data_dir: &Path, s: &Status) {
    if let Ok(bytes) = serde_json::to_vec_pretty(s) {
        let _ = crate::config::write_atomic(&data_dir.join("update/status.json"), &bytes);
    }
}

/// The version `INSTALL_ROOT/current` points at, else the running binary's.
pub fn installed_version(install_root: &Path) -> String {
    fs::read_to_string(install_root.join("current/VERSION"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| env!("CARGO_PKG_VERSION").to_string())
}

/// Applies `bundle`. On any error before the switch nothing has changed; after the switch a
/// failure rolls back and returns [`UpdateError::RolledBack`].
pub fn apply(bundle_path: &Path, o: &ApplyOptions) -> Result<Status, UpdateError> {
    let from = installed_version(&o.install_root);
    let mut st = Status {
        at: jiff::Timestamp::now().to_string(),
        bundle: bundle_path.display().to_string(),
        from_version: from.clone(),
        ..Status::default()
    };
    let r = apply_inner(bundle_path, o, &from, &mut st);
    match &r {
        Ok(()) => {}
        Err(e @ UpdateError::RolledBack { .. }) => {
            st.outcome = "rolled-back".into();
            st.message = e.to_string();
        }
        Err(e) => {
            st.outcome = "refused".into();
            st.message = e.to_string();
        }
    }
    if fs::create_dir_all(o.data_dir.join("update")).is_ok() {
        record(&o.data_dir, &st);
    }
    if let Err(e) = crate::provision::give_back_to_owner(&o.data_dir) {
        tracing::warn!(error = %e, "cannot give the data directory back to its owner");
    }
    r.map(|()| st)
}

fn apply_inner(
    bundle_path: &Path,
    o: &ApplyOptions,
    from: &str,
    st: &mut Status,
) -> Result<(), UpdateError> {
    let key = bundle::load_public_key(&o.release_key)?;
    let versions = o.install_root.join("versions");
    fs::create_dir_all(&versions)?;
    let staging = versions.join(".staging");
    let _ = fs::remove_dir_all(&staging);
    let verified = bundle::verify(bundle_path, &key, &staging.join("in"));
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e.into());
        }
    };
    let m = verified.manifest.clone();
    st.to_version = m.version.clone();
    let cleanup = |e: UpdateError| {
        let _ = fs::remove_dir_all(&staging);
        e
    };
    if m.arch != std::env::consts::ARCH {
        return Err(cleanup(UpdateError::from(bundle::BundleError::Invalid(
            format!(
                "the bundle is for {}, this box is {}",
                m.arch,
                std::env::consts::ARCH
            ),
        ))));
    }
    let (new, cur) = (
        parse_version(&m.version)?,
        parse_version(from).unwrap_or((0, 0, 0)),
    );
    if new <= cur && !o.force {
        let what = if new == cur {
            "already installed"
        } else {
            "a downgrade"
        };
        return Err(cleanup(UpdateError::Version(format!(
            "{} is {what} (running {from}); pass --force to install it anyway",
            m.version
        ))));
    }
    let db_len = fs::metadata(o.data_dir.join("tram.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    check_space(
        &o.install_root,
        m.unpacked_len() + (16 << 20),
        "the system partition",
    )
    .map_err(cleanup)?;
    check_space(&o.data_dir, 2 * db_len + (16 << 20), "the data partition").map_err(cleanup)?;

    // Install side by side.
    let unpacked = staging.join("out");
    verified.unpack(&unpacked).map_err(|e| cleanup(e.into()))?;
    fs::write(unpacked.join("VERSION"), format!("{}\n", m.version))
        .map_err(|e| cleanup(e.into()))?;
    let dest = versions.join(&m.version);
    let current_target = fs::read_link(o.install_root.join("current")).ok();
    if current_target.as_deref() == Some(Path::new(&format!("versions/{}", m.version))) {
        // Re-installing the running version (--force): keep it, switch nothing.
        let _ = fs::remove_dir_all(&staging);
        st.outcome = "installed".into();
        st.message = format!(
            "{} is already the running version; nothing changed",
            m.version
        );
        return Ok(());
    }
    let _ = fs::remove_dir_all(&dest);
    fs::rename(&unpacked, &dest).map_err(|e| cleanup(e.into()))?;
    let _ = fs::remove_dir_all(&staging);
    sync_dir(&versions);

    // Stop the running service, then back up and keep a rollback copy of the data.
    if let Some(unit) = &o.service {
        systemctl("stop", unit)?;
    }
    let restart_old = |o: &ApplyOptions| {
        if let Some(unit) = &o.service {
            let _ = systemctl("start", unit);
        }
    };
    match pre_update_backup(&o.data_dir, &o.schema) {
        Ok(id) => st.backup = id,
        Err(e) => {
            restart_old(o);
            return Err(e);
        }
    }
    let rollback = o.data_dir.join("update/rollback");
    if let Err(e) = snapshot_data(&o.data_dir, &rollback) {
        restart_old(o);
        return Err(UpdateError::from_io_disk(e));
    }

    // Switch, then let the new version migrate and prove itself. Until it has, a marker says
    // so: a power cut from here on is undone at the next boot (`recover`).
    let previous = current_target.clone();
    let marker = InProgress {
        from: from.to_string(),
        to: m.version.clone(),
        previous: previous.clone(),
    };
    crate::config::write_atomic(
        &o.data_dir.join(IN_PROGRESS),
        &serde_json::to_vec(&marker).map_err(io::Error::other)?,
    )?;
    switch_link(
        &o.install_root,
        "current",
        Path::new(&format!("versions/{}", m.version)),
    )?;
    let healthy = health_check(&dest.join(bundle::BINARY), o);
    match healthy {
        Ok(()) => {
            if let Some(p) = previous {
                let _ = switch_link(&o.install_root, "previous", &p);
            }
            fs::remove_file(o.data_dir.join(IN_PROGRESS))?;
            prune(&o.install_root, &m.version);
            st.outcome = "installed".into();
            st.message = format!("updated from {from} to {}", m.version);
            tracing::info!(from, to = %m.version, "update installed");
            Ok(())
        }
        Err(reason) => {
            tracing::error!(to = %m.version, %reason, "update not healthy; rolling back");
            if let Some(unit) = &o.service {
                let _ = systemctl("stop", unit);
            }
            restore_data(&rollback, &o.data_dir)?;
            match &previous {
                Some(p) => switch_link(&o.install_root, "current", p)?,
                None => {
                    let _ = fs::remove_file(o.install_root.join("current"));
                }
            }
            let _ = fs::remove_dir_all(&dest);
            fs::remove_file(o.data_dir.join(IN_PROGRESS))?;
            restart_old(o);
            Err(UpdateError::RolledBack {
                reason,
                back_to: from.to_string(),
            })
        }
    }
}

/// Written just before `current` is switched, removed once the new version proved itself or
/// was rolled back: still there at boot means the power went in between.
const IN_PROGRESS: &str = "update/in-progress.json";

#[derive(Debug, Serialize, Deserialize)]
struct InProgress {
    from: String,
    to: String,
    previous: Option<PathBuf>,
}

/// An update that was started and has not finished: (from, to), from its in-progress marker.
pub fn in_progress(data_dir: &Path) -> Option<(String, String)> {
    let m: InProgress = serde_json::from_slice(&fs::read(data_dir.join(IN_PROGRESS)).ok()?).ok()?;
    Some((m.from, m.to))
}

/// At boot, before the appliance starts (tram-update-recover.service, root): an update cut off
/// between the switch and its health check is rolled back — the data copy taken before it and
/// the previous version come back. Returns what was done, if anything.
pub fn recover(data_dir: &Path, install_root: &Path) -> Result<Option<String>, UpdateError> {
    let Ok(bytes) = fs::read(data_dir.join(IN_PROGRESS)) else {
        return Ok(None);
    };
    let m: InProgress = serde_json::from_slice(&bytes).map_err(|e| {
        UpdateError::from(bundle::BundleError::Invalid(format!("{IN_PROGRESS}: {e}")))
    })?;
    restore_data(&data_dir.join("update/rollback"), data_dir)?;
    match &m.previous {
        Some(p) => switch_link(install_root, "current", p)?,
        None => {
            let _ = fs::remove_file(install_root.join("current"));
        }
    }
    let _ = fs::remove_dir_all(install_root.join("versions").join(&m.to));
    fs::remove_file(data_dir.join(IN_PROGRESS))?;
    let msg = format!(
        "the update to {} was interrupted (power cut?); rolled back to {} with the data as it was",
        m.to, m.from
    );
    tracing::warn!("{msg}");
    record(
        data_dir,
        &Status {
            at: jiff::Timestamp::now().to_string(),
            bundle: String::new(),
            from_version: m.from,
            to_version: m.to,
            outcome: "rolled-back".into(),
            message: msg.clone(),
            backup: None,
        },
    );
    let _ = crate::provision::give_back_to_owner(data_dir);
    Ok(Some(msg))
}

fn check_space(dir: &Path, need: u64, what: &str) -> Result<(), UpdateError> {
    match crate::config::free_disk_bytes(dir) {
        Some(free) if free < need => {
            Err(UpdateError::from(bundle::BundleError::DiskFull(format!(
                "{what} has {} MB free, the update needs {} MB",
                free >> 20,
                need.div_ceil(1 << 20)
            ))))
        }
        _ => Ok(()),
    }
}

fn pre_update_backup(
    data_dir: &Path,
    schema: &crate::store::Schema,
) -> Result<Option<String>, UpdateError> {
    if !data_dir.join("tram.redb").exists() {
        return Ok(None);
    }
    let store = crate::store::Store::open(data_dir, schema).map_err(|e| match e {
        crate::store::StoreError::InUse => UpdateError::Busy(
            "the appliance is running on this data directory; stop it first or pass --service"
                .into(),
        ),
        e => UpdateError::Backup(e.to_string()),
    })?;
    let settings = crate::config::Settings::load(data_dir).map_err(UpdateError::Backup)?;
    let targets = crate::backup::schedule::Config::from_settings(&settings, data_dir).targets;
    // A USB target that is not plugged in is skipped; the box's own disk always takes one.
    let targets: Vec<PathBuf> = targets
        .into_iter()
        .enumerate()
        .filter(|(i, t)| *i == 0 || t.exists())
        .map(|(_, t)| t)
        .collect();
    let opts = crate::backup::Options {
        kind: crate::backup::Kind::PreUpdate,
        retention: crate::backup::Retention::default(),
        create_target: true,
        verify: true,
    };
    let mut id = None;
    for t in &targets {
        let r = crate::backup::schedule::backup_once(&store, t, &opts)
            .map_err(|e| UpdateError::Backup(e.to_string()))?;
        id = Some(r.id.clone());
    }
    Ok(id)
}

/// Copies what a new version may change (the database, the top-level state files, keys/ and
/// tls/) into `to`, fsynced. Blobs are content-addressed and never rewritten, so they stay.
fn snapshot_data(data_dir: &Path, to: &Path) -> io::Result<()> {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to)?;
    for e in fs::read_dir(data_dir)? {
        let e = e?;
        let ft = e.file_type()?;
        let name = e.file_name();
        if ft.is_file() {
            copy_synced(&e.path(), &to.join(&name))?;
        } else if ft.is_dir() && (name == "keys" || name == "tls") {
            fs::create_dir_all(to.join(&name))?;
            for f in fs::read_dir(e.path())? {
                let f = f?;
                if f.file_type()?.is_file() {
                    copy_synced(&f.path(), &to.join(&name).join(f.file_name()))?;
                }
            }
        }
    }
    fs::write(to.join(".complete"), b"")?;
    sync_dir(to);
    Ok(())
}

fn copy_synced(from: &Path, to: &Path) -> io::Result<()> {
    fs::copy(from, to)?;
    fs::File::open(to)?.sync_all()
}

/// Puts the snapshot back: every saved file returns, top-level files the new version created
/// go.
fn restore_data(from: &Path, data_dir: &Path) -> Result<(), UpdateError> {
    if !from.join(".complete").exists() {
        return Err(UpdateError::Io(io::Error::other(
            "the rollback copy of the data is incomplete",
        )));
    }
    for e in fs::read_dir(data_dir)? {
        let e = e?;
        if e.file_type()?.is_file() && !from.join(e.file_name()).exists() {
            fs::remove_file(e.path())?;
        }
    }
    for e in fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == ".complete" {
            continue;
        }
        if e.file_type()?.is_dir() {
            for f in fs::read_dir(e.path())? {
                let f = f?;
                copy_synced(&f.path(), &data_dir.join(&name).join(f.file_name()))?;
            }
        } else {
            copy_synced(&e.path(), &data_dir.join(&name))?;
        }
    }
    sync_dir(data_dir);
    Ok(())
}

/// Points `root/name` at `target` atomically (a new link renamed over the old one).
fn switch_link(root: &Path, name: &str, target: &Path) -> io::Result<()> {
    let tmp = root.join(format!(".{name}.new"));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    fs::rename(&tmp, root.join(name))?;
    sync_dir(root);
    Ok(())
}

fn sync_dir(d: &Path) {
    if let Ok(f) = fs::File::open(d) {
        let _ = f.sync_all();
    }
}

/// Runs the new binary's `self-check` on the real data (it migrates, serves on a loopback port
/// and answers its own /healthz), then, on the device, starts the service and waits for it.
fn health_check(binary: &Path, o: &ApplyOptions) -> Result<(), String> {
    let deadline = Instant::now() + o.health_timeout;
    let mut child = Command::new(binary)
        .arg("self-check")
        .arg("--data-dir")
        .arg(&o.data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the new version: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "self-check did not finish within {} s",
                    o.health_timeout.as_secs()
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("self-check failed ({status}) {last}")
            .trim()
            .to_string());
    }
    if let Some(unit) = &o.service {
        systemctl("start", unit).map_err(|e| e.to_string())?;
        loop {
            let active = Command::new("systemctl")
                .args(["is-active", "--quiet", unit])
                .status()
                .is_ok_and(|s| s.success());
            let answered = active && o.health_url.as_deref().is_none_or(http_ok);
            if answered {
                // Still up a moment later: not a crash loop.
                std::thread::sleep(Duration::from_secs(2));
                if Command::new("systemctl")
                    .args(["is-active", "--quiet", unit])
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{unit} did not become healthy within {} s",
                    o.health_timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(())
}

/// GET `url` on this box (loopback; the certificate is the box's own, so it is not checked).
fn http_ok(url: &str) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return false;
    };
    rt.block_on(async {
        let Ok(c) = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(3))
            .build()
        else {
            return false;
        };
        c.get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
}

fn systemctl(verb: &str, unit: &str) -> Result<(), UpdateError> {
    let s = Command::new("systemctl").args([verb, unit]).status()?;
    if s.success() {
        Ok(())
    } else {
        Err(UpdateError::Io(io::Error::other(format!(
            "systemctl {verb} {unit} failed ({s})"
        ))))
    }
}

/// Keeps the current and previous versions; older ones go.
fn prune(root: &Path, current: &str) {
    let keep: Vec<PathBuf> = ["current", "previous"]
        .iter()
        .filter_map(|l| fs::read_link(root.join(l)).ok())
        .collect();
    let Ok(rd) = fs::read_dir(root.join("versions")) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = PathBuf::from(format!("versions/{name}"));
        if name != current && !name.starts_with('.') && !keep.contains(&rel) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Applies every bundle waiting in DATA_DIR/updates/spool (tram-update.service), newest version
/// last; each leaves the spool for updates/done or updates/refused.
pub fn apply_spool(o: &ApplyOptions) -> Vec<(PathBuf, Result<Status, UpdateError>)> {
    let spool = o.data_dir.join("updates/spool");
    let mut bundles: Vec<PathBuf> = fs::read_dir(&spool)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bundle"))
        .collect();
    bundles.sort();
    let mut out = Vec::new();
    for b in bundles {
        let r = apply(&b, o);
        let to = if r.is_ok() { "done" } else { "refused" };
        let dir = o.data_dir.join("updates").join(to);
        let _ = fs::create_dir_all(&dir);
        if let Some(name) = b.file_name() {
            let _ = fs::rename(&b, dir.join(name));
        }
        out.push((b, r));
    }
    out
}
