//! Provisioning: turns a provisioning file (file.rs) into a working box — the school, its
//! admin, this device's own keys and CA, its recorded hardware (`pki::identity`), the backup
//! settings and the district enrolment — and writes the one-page summary. Every step first
//! looks at what is there, so running it again changes nothing.

pub mod file;
use crate::pki::identity;

use std::path::{Path, PathBuf};

use crate::auth::{self, NewAccount, Role};
use crate::config::Settings;
use crate::school::{self, SchoolInfo, SchoolYear, Term};
use crate::store::{Actor, Store, StoreError};

pub use file::{FileErrors, Provisioning};

/// Where the first-boot service looks for the file, in order: the boot partition (writable from
/// any PC), then USB sticks.
pub const SEARCH: [&str; 4] = [
    "/boot/efi/tram-provision.toml",
    "/boot/firmware/tram-provision.toml",
    "/media/*/tram-provision.toml",
    "/media/*/*/tram-provision.toml",
];

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{file}:\n{errors}")]
    File { file: String, errors: FileErrors },
    #[error(
        "this box already serves {name} (mã trường {code}); refusing a file for school {wanted}. A box serves one school: restore or wipe its data first"
    )]
    OtherSchool {
        name: String,
        code: String,
        wanted: String,
    },
    #[error(
        "a different backup key is already on this box; refusing to replace it (backups made with it would become unreadable)"
    )]
    OtherBackupKey,
    #[error("the appliance is running on this data directory; stop it first (systemctl stop tram)")]
    InUse,
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ProvisionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InUse => ProvisionError::InUse,
            e => ProvisionError::Store(e),
        }
    }
}

impl From<std::io::Error> for ProvisionError {
    fn from(e: std::io::Error) -> Self {
        ProvisionError::Io(e.to_string())
    }
}

pub struct Outcome {
    /// What this run changed; empty when the box already matched the file.
    pub changed: Vec<String>,
    /// The summary without secrets (kept in the data directory, shown on the IT page).
    pub summary: String,
    /// The temporary admin password, when this run made the admin.
    pub admin_password: Option<String>,
    pub school_code: String,
}

impl Outcome {
    /// The summary as printed and written next to the file: with the temporary password.
    pub fn summary_with_password(&self) -> String {
        match &self.admin_password {
            Some(p) => self.summary.replace(
                "  (password: shown once, when the account was made)",
                &format!("  temporary password: {p}   (must be changed at the first login)"),
            ),
            None => self.summary.clone(),
        }
    }
}

/// Provisions `data_dir` from `file`. `enrol` is asked to enrol with the hub when the file
/// names one and the box is not enrolled yet (the CLI passes the real one; it may fail: the
/// server then finishes it when the link is up). The database is opened with `schema`.
pub fn provision(
    file: &Path,
    data_dir: &Path,
    now: jiff::Timestamp,
    enrol: &dyn Fn(&Path, &file::HubTarget) -> Result<String, String>,
    schema: &crate::store::Schema,
) -> Result<Outcome, ProvisionError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ProvisionError::Io(format!("cannot read {}: {e}", file.display())))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let p = file::parse(&text, base).map_err(|errors| ProvisionError::File {
        file: file.display().to_string(),
        errors,
    })?;
    std::fs::create_dir_all(data_dir)?;
    let mut changed = Vec::new();

    // The device's identity first: a box provisioned from a copied disk becomes itself.
    match identity::check(data_dir) {
        identity::Check::Unrecorded => {
            identity::record(data_dir, now)?;
            changed.push("recorded this box's hardware".to_string());
        }
        identity::Check::Clone => {
            let _ = std::fs::remove_file(data_dir.join("keys/device.key"));
            let _ = std::fs::remove_file(crate::relay::enrolment_path(data_dir));
            identity::record(data_dir, now)?;
            changed.push(
                "this data came from another box: new device key, enrolment dropped".to_string(),
            );
        }
        identity::Check::Same => {}
    }

    let store = Store::open(data_dir, schema)?;
    let admin_password = school_and_admin(&store, &p, now, &mut changed)?;
    drop(store);

    // Keys: relay signing key, local CA, backup key.
    if !data_dir.join("keys/device.key").exists() {
        changed.push("made the device signing key".into());
    }
    let device = crate::relay::device_key(data_dir)?;
    let tls_dir = data_dir.join("tls");
    if !tls_dir.join("ca.key").exists() {
        changed.push("made the local HTTPS certificate authority".into());
    }
    let host = format!("tram-{}.local", school::slug(&p.school_code));
    let ips = crate::pki::local_ips();
    let tls = crate::pki::tls::load_or_create(
        &tls_dir,
        &p.school_code,
        &[host.clone(), "tram.local".into(), "localhost".into()],
        &ips,
    )
    .map_err(|e| ProvisionError::Io(format!("the local CA: {e}")))?;
    let backup_key = backup_key(data_dir, &p, &mut changed)?;

    // Settings.
    let settings = Settings {
        format: 1,
        time_zone: Some(p.time_zone.clone()),
        backup: crate::config::BackupSettings {
            targets: p.backup_targets.clone(),
            at: p.backup_at.clone(),
            keep: p.backup_keep.clone(),
        },
    };
    if Settings::load(data_dir).ok().as_ref() != Some(&settings) {
        settings.save(data_dir)?;
        changed.push("wrote the settings (tram.toml)".into());
    }

    // The district.
    let hub_line = match &p.hub {
        None => "none named (enrol later: tram relay enroll)".to_string(),
        Some(h) => match crate::relay::enrolment(data_dir) {
            Some(e) if e.hub == h.url => format!("enrolled with {} as {}", e.hub, e.school),
            _ => match enrol(data_dir, h) {
                Ok(school) => {
                    let _ = std::fs::remove_file(data_dir.join("keys/pending-enrolment.json"));
                    changed.push(format!("enrolled with the district hub {}", h.url));
                    format!("enrolled with {} as {school}", h.url)
                }
                Err(why) => {
                    let pending = crate::relay::Pending {
                        hub: h.url.clone(),
                        token: h.token.clone(),
                        pin_sha256: h.pin_sha256.clone(),
                    };
                    if crate::relay::save_pending(data_dir, &pending)? {
                        changed.push(
                            "left the district enrolment for when the hub is reachable".into(),
                        );
                    }
                    format!(
                        "PENDING: {why}. The box enrols by itself when {} answers",
                        h.url
                    )
                }
            },
        },
    };

    let id = identity::load(data_dir);
    let schedule = crate::backup::schedule::Config::from_settings(&settings, data_dir);
    let urls: Vec<String> = std::iter::once(format!("https://{host}/"))
        .chain(
            ips.iter()
                .filter(|ip| !ip.is_loopback())
                .map(|ip| format!("https://{ip}/")),
        )
        .collect();
    let summary = format!(
        "\
Trạm — provisioning summary ({at})
================================================================
School          {name}
Mã trường       {code}      Level {level}
Supervised by   {authority}
School year     {year}      Time zone {tz}

Open in a browser   {urls}
  Phones that cannot open .local names: use the address with numbers.
  First visit: install the school's certificate from http://{host}/
  CA fingerprint (SHA-256) {ca}
  Compare it with the fingerprint shown on http://{host}/ before installing: if they
  differ, someone else on the network is handing out a certificate. Do not install it.

Administrator   {admin}
  (password: shown once, when the account was made)

Backups         every night at {bat}, to: {targets}
  Backup key    {recipient}
  Print the key with `tram backup key` and keep it away from the box: a restore needs it.

District hub    {hub}
Device          {device}  (signing key {pk}…)

{changes}
",
        at = now.strftime("%Y-%m-%d %H:%M UTC"),
        name = p.school_name,
        code = p.school_code,
        level = p.level,
        authority = p.authority,
        year = p.year,
        tz = p.time_zone,
        urls = urls.join("\n                    "),
        ca = crate::pki::tls::fingerprint(&tls.ca_der),
        admin = p.admin_username,
        bat = schedule.at.strftime("%H:%M"),
        targets = schedule
            .targets
            .iter()
            .map(|t| t.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        recipient = backup_key.recipient(),
        hub = hub_line,
        device = id.map(|i| i.device_id).unwrap_or_default(),
        pk = &hex::encode(device.verifying_key().as_bytes())[..16],
        changes = if changed.is_empty() {
            "Nothing changed: this box already matched the file.".to_string()
        } else {
            format!("This run: {}.", changed.join("; "))
        },
    );
    if !changed.is_empty() {
        let record = serde_json::json!({
            "school_code": p.school_code,
            "file_blake3": blake3::hash(text.as_bytes()).to_hex().to_string(),
            "at": now.to_string(),
        });
        crate::config::write_atomic(
            &data_dir.join("provisioned.json"),
            &serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?,
        )?;
        crate::config::write_atomic(
            &data_dir.join("provisioning-summary.txt"),
            summary.as_bytes(),
        )?;
    }
    Ok(Outcome {
        changed,
        summary,
        admin_password,
        school_code: p.school_code,
    })
}

fn school_and_admin(
    store: &Store,
    p: &Provisioning,
    now: jiff::Timestamp,
    changed: &mut Vec<String>,
) -> Result<Option<String>, ProvisionError> {
    let rx = store.read()?;
    let info = school::school_info(&rx)?;
    let admin_exists = auth::find_by_username(&rx, &p.admin_username)?.is_some();
    let year_exists = rx.get(&school::YEARS, &p.year)?.is_some();
    drop(rx);
    let wanted = SchoolInfo {
        name: p.school_name.clone(),
        code: p.school_code.clone(),
        level: p.level.clone(),
        authority: p.authority.clone(),
        current_year: p.year.clone(),
        // A file without a locality keeps the one the school set on its admin page.
        locality: if p.locality.is_empty() {
            info.as_ref()
                .map(|i| i.locality.clone())
                .unwrap_or_default()
        } else {
            p.locality.clone()
        },
    };
    if let Some(i) = &info
        && i.code != p.school_code
    {
        return Err(ProvisionError::OtherSchool {
            name: i.name.clone(),
            code: i.code.clone(),
            wanted: p.school_code.clone(),
        });
    }
    let password = (!admin_exists).then(auth::temporary_password);
    let phc = password.as_deref().map(auth::hash_password);
    if info.as_ref() == Some(&wanted) && year_exists && phc.is_none() {
        return Ok(None);
    }
    let actor = Actor::system(now);
    store.write(&actor, |tx| -> Result<(), ProvisionError> {
        if info.as_ref() != Some(&wanted) {
            let action = if info.is_some() {
                "school.update"
            } else {
                "school.provision"
            };
            tx.put(&school::INFO, "school", &wanted, action)?;
        }
        if !year_exists {
            tx.put(
                &school::YEARS,
                &p.year,
                &default_year(&p.year),
                "year.create",
            )?;
        }
        if let Some(phc) = &phc {
            auth::create_account_tx(
                tx,
                NewAccount {
                    username: p.admin_username.clone(),
                    full_name: p.admin_full_name.clone(),
                    roles: vec![Role::Admin],
                    department: None,
                    password_phc: phc.clone(),
                    must_change_password: true,
                },
            )
            .map_err(|e| ProvisionError::Io(e.to_string()))?;
        }
        Ok(())
    })?;
    match &info {
        None => changed.push(format!(
            "created the school {} ({})",
            p.school_name, p.school_code
        )),
        Some(i) if *i != wanted => changed.push("updated the school's details".into()),
        _ => {}
    }
    if !year_exists {
        changed.push(format!("added the school year {}", p.year));
    }
    if password.is_some() {
        changed.push(format!("created the administrator {}", p.admin_username));
    }
    Ok(password)
}

/// A school year with the usual two terms; BGH adjusts the dates on the school page to the
/// province's calendar (set each year by the provincial People's Committee).
fn default_year(year: &str) -> SchoolYear {
    let (a, b) = file::school_year(year).unwrap_or((2026, 2027));
    SchoolYear {
        id: year.into(),
        terms: vec![
            Term {
                id: "hk1".into(),
                name: "Học kì I".into(),
                start: format!("{a}-09-05"),
                end: format!("{b}-01-16"),
            },
            Term {
                id: "hk2".into(),
                name: "Học kì II".into(),
                start: format!("{b}-01-18"),
                end: format!("{b}-05-31"),
            },
        ],
    }
}

fn backup_key(
    data_dir: &Path,
    p: &Provisioning,
    changed: &mut Vec<String>,
) -> Result<crate::backup::BackupKey, ProvisionError> {
    use crate::backup::BackupKey;
    let have = BackupKey::load(data_dir).map_err(|e| ProvisionError::Io(e.to_string()))?;
    match (&p.backup_key_file, have) {
        (Some(f), have) => {
            let given = BackupKey::load_file(f).map_err(|e| ProvisionError::Io(e.to_string()))?;
            match have {
                Some(h) if h.recipient() == given.recipient() => Ok(h),
                Some(_) => Err(ProvisionError::OtherBackupKey),
                None => {
                    crate::config::write_secret(
                        &crate::backup::key::key_path(data_dir),
                        given.file_text().as_bytes(),
                    )?;
                    changed.push("installed the given backup key".into());
                    Ok(given)
                }
            }
        }
        (None, Some(h)) => Ok(h),
        (None, None) => {
            changed.push("made the backup key".into());
            BackupKey::load_or_create(data_dir).map_err(|e| ProvisionError::Io(e.to_string()))
        }
    }
}

/// The first provisioning file found in [`SEARCH`].
pub fn find() -> Option<PathBuf> {
    for pat in SEARCH {
        let (dir_pat, name) = pat.rsplit_once('/').unwrap_or(("", pat));
        for dir in expand(dir_pat) {
            let f = dir.join(name);
            if f.is_file() {
                return Some(f);
            }
        }
    }
    None
}

/// A headless box mounts no USB stick by itself: at first boot (root) each partition of each
/// removable disk is mounted in turn under /run/tram-usb/ — read-write, so the summary can be
/// written beside the file — until one holds `tram-provision.toml`. Returns the file and the
/// mount point to unmount afterwards.
pub fn find_on_usb() -> Option<(PathBuf, PathBuf)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let mut devices = Vec::new();
    for e in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let removable =
            std::fs::read_to_string(e.path().join("removable")).is_ok_and(|r| r.trim() == "1");
        let usb =
            std::fs::canonicalize(e.path()).is_ok_and(|p| p.to_string_lossy().contains("/usb"));
        if !(removable || usb) {
            continue;
        }
        let parts: Vec<String> = std::fs::read_dir(e.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|p| p.file_name().to_string_lossy().into_owned())
            .filter(|p| p.starts_with(&name))
            .collect();
        if parts.is_empty() {
            devices.push(name);
        } else {
            devices.extend(parts);
        }
    }
    for dev in devices {
        let dir = PathBuf::from("/run/tram-usb").join(&dev);
        if std::fs::create_dir_all(&dir).is_err() {
            continue;
        }
        let mounted = std::process::Command::new("mount")
            .args(["-o", "rw,noexec,nosuid,nodev"])
            .arg(format!("/dev/{dev}"))
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            continue;
        }
        let f = dir.join("tram-provision.toml");
        if f.is_file() {
            return Some((f, dir));
        }
        let _ = std::process::Command::new("umount").arg(&dir).status();
    }
    None
}

/// Expands `*` path components (one level each) of an absolute directory pattern.
fn expand(pat: &str) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/")];
    for part in pat.split('/').filter(|p| !p.is_empty()) {
        out = out
            .into_iter()
            .flat_map(|d| {
                if part == "*" {
                    std::fs::read_dir(&d)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect::<Vec<_>>()
                } else {
                    vec![d.join(part)]
                }
            })
            .collect();
    }
    out
}

/// Gives the data directory to the service's user (first boot runs as root).
pub fn chown_tree(dir: &Path, user: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(user).map_err(std::io::Error::other)?;
    // SAFETY: getpwnam reads a NUL-terminated name; the result is copied out at once.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        if pw.is_null() {
            return Err(std::io::Error::other(format!("no user {user}")));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    chown_walk(dir, uid, gid)
}

fn chown_walk(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p)?;
    if m.uid() != uid || m.gid() != gid {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    }
    if m.is_dir() {
        for e in std::fs::read_dir(p)? {
            chown_walk(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// After root worked in the data directory (an update, a recovery): everything in it belongs to
/// the directory's owner again, so the appliance's own user can write its backups and state.
pub fn give_back_to_owner(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let m = std::fs::metadata(dir)?;
    if m.uid() == 0 {
        return Ok(());
    }
    chown_walk(dir, m.uid(), m.gid())
}
