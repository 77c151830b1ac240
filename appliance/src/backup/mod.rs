//! Backups that restore: a consistent snapshot of the database (one read transaction copied into
//! a new file, see `store::snapshot`), the device's keys and certificates, and the blob store —
//! each stored as an **object**: `age(codec byte ‖ zstd(plaintext))`, named by a keyed BLAKE3 of
//! its content so an unchanged file is never stored twice. A backup is its **manifest**, written
//! last and atomically; until it exists the run did not happen.
//!
//! ```text
//! TARGET/target.json            which key this target belongs to (sealed)
//! TARGET/backups/<id>.manifest  one per backup: JSON, its BLAKE3 and a MAC under the key
//! TARGET/objects/ab/<name>      encrypted, compressed files shared by all backups
//! TARGET/tmp/                   work in progress (cleared by the next run)
//! ```
//!
//! `verify` checks every stored hash without the key and, with it, restores the newest backup
//! into a scratch directory: it opens the database, verifies the audit chain and checks that
//! every file decrypts to the content its name claims. `restore` does the same into an empty
//! data directory and moves it into place only when everything checked out.

pub mod control;
pub mod key;
pub mod retention;
pub mod routes;
pub mod schedule;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use key::BackupKey;
pub use retention::Retention;

use crate::store::{Schema, Store, StoreError};

const FORMAT: u32 = 1;
const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
const ZSTD_LEVEL: i32 = 3;
/// Bytes of a file compressed on trial to decide whether zstd is worth it (videos, PDFs and
/// Office files are already compressed).
const SAMPLE: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("backup key: {0}")]
    Key(String),
    #[error("this key cannot open the backup: it was encrypted to another key")]
    WrongKey,
    #[error(
        "{target} holds backups encrypted to another key ({found}); this key is {given}. Use an empty folder, or the key that made them"
    )]
    OtherKey {
        target: PathBuf,
        found: String,
        given: String,
    },
    #[error("backup damaged: {0}")]
    Corrupt(String),
    #[error(
        "the backup was made by a newer Trạm (schema {found}, this build knows {known}); update Trạm first, then restore"
    )]
    NewerSchema { found: u64, known: u64 },
    #[error("{0} is not empty; restore only into a new or empty folder (nothing was changed)")]
    NotEmpty(PathBuf),
    #[error(
        "not enough space on {path}: about {need_mb} MB needed, {free_mb} MB free (no backup was written)"
    )]
    NoSpace {
        path: PathBuf,
        need_mb: u64,
        free_mb: u64,
    },
    #[error(
        "the disk holding {0} is full; this backup was abandoned and earlier backups are intact"
    )]
    DiskFull(PathBuf),
    #[error("another backup is writing to {0} right now")]
    Busy(PathBuf),
    /// A failure after the backup itself was complete on the target: it is there (and listed),
    /// whatever the step after it says.
    #[error("backup {id} was written to the target, but {step} then failed: {why}")]
    AfterWrite {
        id: String,
        step: &'static str,
        why: String,
    },
    #[error("{0}")]
    Target(String),
    #[error("no backup found in {0}")]
    NoBackup(PathBuf),
    #[error("no backup named {0:?} in this target")]
    UnknownBackup(String),
    #[error("the data directory has a damaged file: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> BackupError {
        BackupError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Adds context to io errors and turns "no space left" into a clear message about `path`.
fn ctx<T>(r: io::Result<T>, path: &Path, what: &str) -> Result<T, BackupError> {
    r.map_err(|e| {
        if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC) {
            BackupError::DiskFull(path.to_path_buf())
        } else {
            BackupError::io(format!("{what} ({})", path.display()), e)
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Nightly,
    Manual,
    PreUpdate,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Nightly => "nightly",
            Kind::Manual => "manual",
            Kind::PreUpdate => "pre-update",
        }
    }
}

/// One stored object as a manifest names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub object: String,
    /// Plaintext bytes.
    pub size: u64,
    /// Bytes on the target.
    pub stored: u64,
    /// BLAKE3 of the stored bytes: checked without the key.
    pub sha: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub kind: Kind,
    pub created: Timestamp,
    pub app_version: String,
    pub schema_version: u64,
    pub school: Option<String>,
    pub database: ObjectRef,
    pub tables: usize,
    pub records: u64,
    /// The device's certificates and keys (`tls/`, `keys/`).
    pub files: ObjectRef,
    pub blobs: Vec<ObjectRef>,
    /// Objects this run had to write (the rest were already on the target).
    pub new_objects: usize,
    pub new_bytes: u64,
    /// The newest backup on the target when this one was written: a manifest deleted from the
    /// middle is then noticed by the one after it. Absent in backups made before chains (the
    /// chain starts at the first one without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Link>,
    /// `tram.toml` and the district enrolment (see [`SettingsCopy`]); absent in older backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ObjectRef>,
    /// What each object holds ("the database", a library file's title): base64 of
    /// `age(JSON object name → description)`. Encrypted because titles are school data and the
    /// target never holds plaintext; without the key verify still names the database and the
    /// device files from the fields above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// BLAKE3 of this manifest's JSON as stored (filled when read, never written).
    #[serde(skip)]
    pub hash: String,
}

/// A manifest named by another: its id and the BLAKE3 of its JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub id: String,
    pub hash: String,
}

impl Manifest {
    fn objects(&self) -> impl Iterator<Item = &ObjectRef> {
        [&self.database, &self.files]
            .into_iter()
            .chain(self.settings.iter())
            .chain(self.blobs.iter())
    }

    fn link(&self) -> Link {
        Link {
            id: self.id.clone(),
            hash: self.hash.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TargetInfo {
    format: u32,
    recipient: String,
    created: Timestamp,
}

/// A descriptor that checked out, with its sealed bytes (copied over a damaged copy as they are).
type SealedInfo = (TargetInfo, Vec<u8>);

/// The two copies of the target's descriptor: a damaged one is rebuilt from the other, or from
/// the key when both are gone, so one bad sector never locks out intact backups.
const INFO_FILES: [&str; 2] = ["target.json", "target.json.bak"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    pub kind: Kind,
    pub retention: Retention,
    /// Make the target folder if it is missing (the CLI); a scheduled USB target must exist.
    pub create_target: bool,
    /// Restore-check the new backup into a scratch directory before reporting success.
    pub verify: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub target: PathBuf,
    pub database_changed: bool,
    pub records: u64,
    pub blobs: usize,
    pub new_objects: usize,
    pub new_bytes: u64,
    /// Bytes of the plaintext this backup covers (database + files + blobs).
    pub covered_bytes: u64,
    pub pruned_backups: usize,
    pub pruned_objects: usize,
    pub seconds: f64,
    pub verified: Option<RestoreCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreCheck {
    pub id: String,
    pub created: Timestamp,
    pub schema_version: u64,
    pub records: u64,
    pub audit_events: u64,
    pub blobs: usize,
    pub bytes: u64,
    /// After a restore: what could not be put back (see `settings::Redo`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redo: Vec<settings::Redo>,
    /// After a restore: what the chain and the box's memory say about newer backups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Files (library items, lesson attachments) whose stored copy was damaged and could not
    /// be restored: everything else was. Non-empty means a partial restore.
    #[serde(default)]
    pub missing_files: Vec<String>,
}

// ───────────────────────────── the sealed file format ─────────────────────────────

/// `json \n blake3 HEX \n mac HEX \n`: any changed byte fails the checksum (no key needed);
/// the MAC proves the file was written with the key.
fn seal(json: &[u8], key: &BackupKey) -> Vec<u8> {
    let mut out = json.to_vec();
    out.extend_from_slice(format!("\nblake3 {}\n", blake3::hash(json).to_hex()).as_bytes());
    out.extend_from_slice(format!("mac {}\n", key.mac(json)).as_bytes());
    out
}

fn unseal<'a>(bytes: &'a [u8], key: Option<&BackupKey>) -> Result<&'a [u8], String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.split('\n');
    let (Some(json), Some(sum), Some(mac), Some(""), None) = (
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
    ) else {
        return Err("truncated or not a Trạm backup file".into());
    };
    if sum.strip_prefix("blake3 ") != Some(blake3::hash(json.as_bytes()).to_hex().as_str()) {
        return Err("checksum mismatch (the file was changed)".into());
    }
    if let Some(k) = key
        && mac.strip_prefix("mac ") != Some(k.mac(json.as_bytes()).as_str())
    {
        return Err("not written with this key, or altered".into());
    }
    Ok(&bytes[..json.len()])
}

// ───────────────────────────── what each object holds ─────────────────────────────

const WHAT_DATABASE: &str = "the database";
const WHAT_FILES: &str = "the device's certificates and keys (tls/, keys/)";
const WHAT_SETTINGS: &str = "the settings (tram.toml and the district enrolment)";

fn seal_index(key: &BackupKey, names: &BTreeMap<&str, String>) -> Result<String, BackupError> {
    use base64::Engine;
    let json = serde_json::to_vec(names).expect("serialisable");
    let mut out = Vec::new();
    let mut w = ctx(
        key.encrypt(&mut out),
        Path::new("."),
        "encrypting the index",
    )?;
    ctx(w.write_all(&json), Path::new("."), "encrypting the index")?;
    ctx(w.finish(), Path::new("."), "encrypting the index")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// The manifest's index (object → what it holds), when it has one and the key opens it.
fn open_index(key: &BackupKey, m: &Manifest) -> BTreeMap<String, String> {
    use base64::Engine;
    let Some(b64) = &m.index else {
        return BTreeMap::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return BTreeMap::new();
    };
    let mut json = Vec::new();
    let Ok(mut r) = key.decrypt(&bytes[..]) else {
        return BTreeMap::new();
    };
    if r.read_to_end(&mut json).is_err() {
        return BTreeMap::new();
    }
    serde_json::from_slice(&json).unwrap_or_default()
}

/// What `object` holds, as far as `m`'s own fields tell (no key needed).
fn structural_name(m: &Manifest, object: &str) -> Option<&'static str> {
    if m.database.object == object {
        Some(WHAT_DATABASE)
    } else if m.files.object == object {
        Some(WHAT_FILES)
    } else if m.settings.as_ref().is_some_and(|o| o.object == object) {
        Some(WHAT_SETTINGS)
    } else {
        None
    }
}

// ───────────────────────────── the box's memory of each target ─────────────────────────────

/// `DATA_DIR/backup-newest.json`: for each target this box wrote to, the newest manifest it
/// wrote. Deleting the newest manifest leaves no hole in the chain (nothing names it yet), so
/// only the box can tell. It is not part of any backup: a restored box starts with what its
/// restore found on the target, never with the memory of the moment the backup was taken.
fn memory_path(data_dir: &Path) -> PathBuf {
    data_dir.join("backup-newest.json")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    pub id: String,
    pub hash: String,
    pub created: Timestamp,
}

/// Targets are remembered by their real path (a symlinked or relative spelling is the same).
fn target_key(target: &Path) -> String {
    fs::canonicalize(target)
        .or_else(|_| std::path::absolute(target))
        .unwrap_or_else(|_| target.to_path_buf())
        .display()
        .to_string()
}

fn memory(data_dir: &Path) -> BTreeMap<String, Remembered> {
    fs::read(memory_path(data_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The newest backup this box wrote to `target`, if it remembers one.
pub fn remembered(data_dir: &Path, target: &Path) -> Option<Remembered> {
    memory(data_dir).remove(&target_key(target))
}

static MEMORY: Mutex<()> = Mutex::new(());

fn remember(data_dir: &Path, target: &Path, m: &Manifest) -> io::Result<()> {
    let _g = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = memory(data_dir);
    all.insert(
        target_key(target),
        Remembered {
            id: m.id.clone(),
            hash: m.hash.clone(),
            created: m.created,
        },
    );
    crate::config::write_atomic(
        &memory_path(data_dir),
        &serde_json::to_vec_pretty(&all).expect("serialisable"),
    )
}

/// What the chain of manifests says: gaps (a named predecessor that is neither on the target nor
/// recorded as pruned), replaced predecessors, and where the chain starts.
#[derive(Debug, Default)]
struct Chain {
    problems: Vec<String>,
    notes: Vec<String>,
}

fn walk_chain(
    tgt: &Target,
    key: Option<&BackupKey>,
    present: &BTreeSet<String>,
    good: &[Manifest],
) -> Chain {
    let mut c = Chain::default();
    let pruned = match tgt.pruned(key) {
        Ok(p) => p,
        Err(e) => {
            c.problems.push(e);
            vec![]
        }
    };
    for m in good {
        let Some(p) = &m.previous else { continue };
        if let Some(prev) = good.iter().find(|g| g.id == p.id) {
            if prev.hash != p.hash {
                c.problems.push(format!(
                    "backup {} names predecessor {} but that manifest is not the one it named (replaced)",
                    m.id, p.id
                ));
            }
        } else if present.contains(&p.id) {
            // Damaged: reported with the manifest itself.
        } else if !pruned.iter().any(|l| l.id == p.id) {
            c.problems.push(format!(
                "backup {} names predecessor {} which is missing (deleted from the target; retention did not remove it)",
                m.id, p.id
            ));
        }
    }
    if let Some(start) = good.iter().rev().find(|m| m.previous.is_none()) {
        c.notes.push(format!(
            "the chain of backups starts at {} (backups made before it do not name their predecessor)",
            start.id
        ));
    }
    c
}

/// Compares the target with the box's memory of it: the newest backup the box wrote must be
/// there, unchanged.
fn against_memory(
    remembered: Option<&Remembered>,
    good: &[Manifest],
    present: &BTreeSet<String>,
) -> Option<String> {
    let r = remembered?;
    let newest = good
        .last()
        .map(|m| m.id.as_str())
        .unwrap_or("none readable");
    match good.iter().find(|m| m.id == r.id) {
        Some(m) if m.hash != r.hash => Some(format!(
            "backup {} is not the manifest this box wrote under that name (replaced)",
            r.id
        )),
        Some(_) => None,
        // Damaged (reported with the manifest), or written over by newer backups whose chain
        // accounts for it.
        None if present.contains(&r.id) || good.iter().any(|m| m.created > r.created) => None,
        None => Some(format!(
            "the newest backup on this target ({newest}) is older than the newest this box wrote ({}, made {}): the newer one is missing",
            r.id,
            r.created
                .to_zoned(crate::school::time_zone())
                .strftime("%d/%m/%Y %H:%M")
        )),
    }
}

// ───────────────────────────── small io helpers ─────────────────────────────

struct HashWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct HashReader<R> {
    inner: R,
    hasher: blake3::Hasher,
    n: u64,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

fn hash_reader<R: Read>(inner: R) -> HashReader<R> {
    HashReader {
        inner,
        hasher: blake3::Hasher::new(),
        n: 0,
    }
}

/// `io::copy` with a 256 KiB buffer (its own is 8 KiB for readers that are not `BufRead`).
fn copy_big<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

fn fsync_dir(p: &Path) -> Result<(), BackupError> {
    ctx(
        File::open(p).and_then(|f| f.sync_all()),
        p,
        "syncing a folder",
    )
}

/// Runs `f` over `items` on a few threads; results come back in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4)
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    out.lock().expect("no panics while holding")[i] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .expect("threads joined")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

fn oldest_first(a: &Manifest, b: &Manifest) -> std::cmp::Ordering {
    a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id))
}

// ───────────────────────────── the target ─────────────────────────────

struct Target {
    root: PathBuf,
    _lock: Option<File>,
}

impl Target {
    fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }
    fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    fn object_path(&self, name: &str) -> PathBuf {
        self.objects_dir().join(&name[..2]).join(&name[2..])
    }

    /// Opens a target for reading (verify, restore).
    fn open_read(root: &Path) -> Result<Target, BackupError> {
        let has_backups = fs::read_dir(root.join("backups"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !INFO_FILES.iter().any(|f| root.join(f).exists()) && !has_backups {
            return Err(BackupError::NoBackup(root.to_path_buf()));
        }
        Ok(Target {
            root: root.to_path_buf(),
            _lock: None,
        })
    }

    /// Opens (or makes) a target for writing: takes its lock, checks it belongs to `key`,
    /// clears work left by an interrupted run.
    fn open_write(root: &Path, create: bool, key: &BackupKey) -> Result<Target, BackupError> {
        if !root.is_dir() {
            if !create {
                return Err(BackupError::Target(format!(
                    "backup target {} does not exist (is the USB disk plugged in and mounted?)",
                    root.display()
                )));
            }
            ctx(fs::create_dir_all(root), root, "creating the backup folder")?;
        }
        let lock = ctx(
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(root.join(".lock")),
            root,
            "opening the target lock",
        )?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&lock),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } != 0
        {
            return Err(BackupError::Busy(root.to_path_buf()));
        }
        let t = Target {
            root: root.to_path_buf(),
            _lock: Some(lock),
        };
        for d in [t.objects_dir(), t.backups_dir(), t.tmp_dir()] {
            ctx(fs::create_dir_all(&d), &d, "creating a backup folder")?;
        }
        for e in ctx(fs::read_dir(t.tmp_dir()), root, "reading tmp")? {
            let p = ctx(e, root, "reading tmp")?.path();
            let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir_all(&p));
        }
        if INFO_FILES.iter().any(|f| root.join(f).exists()) {
            for note in t.info_repaired(key)?.1 {
                tracing::warn!(target = %root.display(), "{note}");
            }
        } else {
            let has_backups = fs::read_dir(t.backups_dir())
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if has_backups {
                // Both descriptors gone: the manifests' MACs prove they were written with this
                // key, so the descriptor is re-derived from it (another key is refused).
                if t.manifests(Some(key)).iter().all(|(_, m)| m.is_err()) {
                    return Err(BackupError::Corrupt(format!(
                        "{} has backups but no target.json, and none of them was written with this key",
                        root.display()
                    )));
                }
            }
            t.info_repaired(key)?;
        }
        Ok(t)
    }

    /// Reads the descriptor from whichever copy checks out (checksum, and with `key` its MAC).
    /// Returns it with a note for each damaged or missing copy.
    fn read_info(
        &self,
        key: Option<&BackupKey>,
    ) -> Result<(Option<SealedInfo>, Vec<String>), BackupError> {
        let mut notes = Vec::new();
        let mut found: Option<SealedInfo> = None;
        for f in INFO_FILES {
            let p = self.root.join(f);
            let bytes = match fs::read(&p) {
                Ok(b) => b,
                // A target made before the second copy existed has only the first.
                Err(e) if e.kind() == io::ErrorKind::NotFound && f == INFO_FILES[1] => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    notes.push(format!("{f} is missing"));
                    continue;
                }
                Err(e) => {
                    notes.push(format!("{f} cannot be read: {e}"));
                    continue;
                }
            };
            let parsed = unseal(&bytes, None).and_then(|json| {
                serde_json::from_slice::<TargetInfo>(json).map_err(|e| e.to_string())
            });
            let info = match parsed {
                Ok(i) => i,
                Err(e) => {
                    notes.push(format!("{f} is damaged: {e}"));
                    continue;
                }
            };
            if let Some(k) = key {
                if info.recipient != k.recipient() {
                    return Err(BackupError::OtherKey {
                        target: self.root.clone(),
                        found: info.recipient,
                        given: k.recipient(),
                    });
                }
                if let Err(e) = unseal(&bytes, Some(k)) {
                    notes.push(format!("{f} is damaged: {e}"));
                    continue;
                }
            }
            if found.is_none() {
                found = Some((info, bytes));
            }
        }
        Ok((found, notes))
    }

    /// Which key the target belongs to. With `key`, a target made with another key is refused
    /// (naming both public keys). A damaged or missing copy of the descriptor is no error while
    /// the other checks out (see [`Target::info_repaired`]).
    fn info(&self, key: Option<&BackupKey>) -> Result<(TargetInfo, Vec<String>), BackupError> {
        match self.read_info(key)? {
            (Some((info, _)), notes) => Ok((info, notes)),
            (None, notes) => match key {
                // Both copies bad: the key alone says who the target belongs to.
                Some(k) => Ok((
                    TargetInfo {
                        format: FORMAT,
                        recipient: k.recipient(),
                        created: Timestamp::now(),
                    },
                    notes,
                )),
                None => Err(BackupError::Corrupt(format!(
                    "target.json: {}",
                    notes.join("; ")
                ))),
            },
        }
    }

    /// As [`Target::info`], and rewrites each damaged or missing copy from the good one (or from
    /// the key). The notes say what was rebuilt.
    fn info_repaired(&self, key: &BackupKey) -> Result<(TargetInfo, Vec<String>), BackupError> {
        let (found, notes) = self.read_info(Some(key))?;
        let (info, bytes, from) = match found {
            Some((info, bytes)) => (info, bytes, "the other copy"),
            None => {
                let info = TargetInfo {
                    format: FORMAT,
                    recipient: key.recipient(),
                    created: Timestamp::now(),
                };
                let json = serde_json::to_vec(&info).expect("serialisable");
                (info, seal(&json, key), "the backup key")
            }
        };
        let mut out = Vec::new();
        for f in INFO_FILES {
            let p = self.root.join(f);
            if fs::read(&p).ok().as_deref() != Some(&bytes[..]) {
                ctx(
                    crate::config::write_atomic(&p, &bytes),
                    &self.root,
                    "writing the target's descriptor",
                )?;
            }
        }
        for n in notes {
            out.push(format!("{n}; rebuilt from {from}"));
        }
        Ok((info, out))
    }

    /// The manifests that read and check out, oldest first.
    fn readable_manifests(&self, key: Option<&BackupKey>) -> Vec<Manifest> {
        let mut v: Vec<Manifest> = self
            .manifests(key)
            .into_iter()
            .filter_map(|(_, m)| m.ok())
            .collect();
        v.sort_by(oldest_first);
        v
    }

    /// Every manifest file with its parsed content or why it could not be read.
    /// `verified/<id>`: written after the backup was restored into a scratch folder and
    /// checked. Retention reads it; it proves nothing by itself (verify does).
    fn verified_marker(&self, id: &str) -> PathBuf {
        self.root.join("verified").join(id)
    }

    fn is_verified(&self, id: &str) -> bool {
        self.verified_marker(id).exists()
    }

    fn mark_verified(&self, id: &str) -> Result<(), BackupError> {
        let p = self.verified_marker(id);
        let dir = self.root.join("verified");
        ctx(
            fs::create_dir_all(&dir),
            &dir,
            "recording a verified backup",
        )?;
        ctx(
            crate::config::write_atomic(&p, jiff::Timestamp::now().to_string().as_bytes()),
            &p,
            "recording a verified backup",
        )
    }

    fn manifests(&self, key: Option<&BackupKey>) -> Vec<(String, Result<Manifest, String>)> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(self.backups_dir()) else {
            return out;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(".manifest") else {
                continue;
            };
            let r = fs::read(e.path())
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    let json = unseal(&b, key)?;
                    let mut m =
                        serde_json::from_slice::<Manifest>(json).map_err(|e| e.to_string())?;
                    m.hash = blake3::hash(json).to_hex().to_string();
                    Ok(m)
                })
                .and_then(|m| {
                    if m.id == id {
                        Ok(m)
                    } else {
                        Err(format!("names itself {:?}", m.id))
                    }
                });
            out.push((id.to_string(), r));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// `pruned.json`: the manifests retention removed that a kept manifest still names as its
    /// predecessor, so the chain tells a pruned backup from a deleted one. Sealed like a
    /// manifest; without the key only its checksum is checked.
    fn pruned(&self, key: Option<&BackupKey>) -> Result<Vec<Link>, String> {
        match fs::read(self.root.join("pruned.json")) {
            Ok(b) => unseal(&b, key).and_then(|json| {
                serde_json::from_slice(json).map_err(|e| format!("pruned.json: {e}"))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(vec![]),
            Err(e) => Err(format!("pruned.json cannot be read: {e}")),
        }
        .map_err(|e| format!("pruned.json: {e}"))
    }

    /// Encrypts `plain` into a new object named `name` (temp file, fsync, rename). The caller
    /// syncs the object folders before the manifest that names it is written.
    fn write_object(
        &self,
        key: &BackupKey,
        name: &str,
        mut plain: impl Read,
    ) -> Result<ObjectRef, BackupError> {
        let tmp = self
            .tmp_dir()
            .join(format!("{name}.{:08x}", rand::random::<u32>()));
        let r = (|| -> Result<ObjectRef, BackupError> {
            let file = ctx(File::create(&tmp), &self.root, "creating a backup file")?;
            let hw = HashWriter {
                inner: io::BufWriter::with_capacity(256 * 1024, file),
                hasher: blake3::Hasher::new(),
                n: 0,
            };
            let mut sample = Vec::with_capacity(SAMPLE);
            ctx(
                (&mut plain).take(SAMPLE as u64).read_to_end(&mut sample),
                &self.root,
                "reading data to back up",
            )?;
            let compress = zstd::bulk::compress(&sample, 1)
                .map(|c| c.len() + c.len() / 32 < sample.len())
                .unwrap_or(false);
            let mut enc = ctx(key.encrypt(hw), &self.root, "encrypting")?;
            let mut src = io::Cursor::new(sample).chain(plain);
            let size = if compress {
                ctx(enc.write_all(&[CODEC_ZSTD]), &self.root, "writing")?;
                let mut z = ctx(
                    zstd::Encoder::new(enc, ZSTD_LEVEL),
                    &self.root,
                    "compressing",
                )?;
                let n = ctx(
                    copy_big(&mut src, &mut z),
                    &self.root,
                    "writing a backup file",
                )?;
                enc = ctx(z.finish(), &self.root, "writing a backup file")?;
                n
            } else {
                ctx(enc.write_all(&[CODEC_RAW]), &self.root, "writing")?;
                ctx(
                    copy_big(&mut src, &mut enc),
                    &self.root,
                    "writing a backup file",
                )?
            };
            let mut hw = ctx(enc.finish(), &self.root, "writing a backup file")?;
            ctx(hw.flush(), &self.root, "writing a backup file")?;
            let file = hw
                .inner
                .into_inner()
                .map_err(|e| BackupError::io("writing a backup file", e.into_error()))?;
            ctx(file.sync_all(), &self.root, "syncing a backup file")?;
            let dest = self.object_path(name);
            let dir = dest.parent().expect("object path has a folder");
            ctx(fs::create_dir_all(dir), dir, "creating an object folder")?;
            ctx(fs::rename(&tmp, &dest), dir, "storing a backup file")?;
            Ok(ObjectRef {
                object: name.to_string(),
                size,
                stored: hw.n,
                sha: hw.hasher.finalize().to_hex().to_string(),
            })
        })();
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// The stored bytes' hash and length of an object already on the target.
    fn stored_hash(&self, name: &str) -> io::Result<(String, u64)> {
        let mut r = hash_reader(BufReader::with_capacity(
            256 * 1024,
            File::open(self.object_path(name))?,
        ));
        copy_big(&mut r, &mut io::sink())?;
        Ok((r.hasher.finalize().to_hex().to_string(), r.n))
    }

    /// Checks an object's stored bytes against its manifest entry (no key needed).
    fn check_stored(&self, o: &ObjectRef) -> Result<(), String> {
        match self.stored_hash(&o.object) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(format!("object {} is missing", o.object))
            }
            Err(e) => Err(format!("object {} cannot be read: {e}", o.object)),
            Ok((_, n)) if n != o.stored => Err(format!(
                "object {} has {n} bytes, the manifest says {} (truncated or changed)",
                o.object, o.stored
            )),
            Ok((sha, _)) if sha != o.sha => {
                Err(format!("object {} was changed (hash mismatch)", o.object))
            }
            Ok(_) => Ok(()),
        }
    }

    /// Decrypts an object into `sink`, checking the stored bytes' hash on the way.
    fn read_object(
        &self,
        key: &BackupKey,
        o: &ObjectRef,
        sink: &mut dyn Write,
    ) -> Result<u64, BackupError> {
        let path = self.object_path(&o.object);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                BackupError::Corrupt(format!("object {} is missing", o.object))
            } else {
                BackupError::io(format!("reading {}", path.display()), e)
            }
        })?;
        let mut hr = hash_reader(BufReader::with_capacity(256 * 1024, file));
        let bad = |e: io::Error| {
            if e.kind() == io::ErrorKind::StorageFull {
                BackupError::DiskFull(PathBuf::from("the restore folder"))
            } else {
                BackupError::Corrupt(format!("object {} does not decrypt: {e}", o.object))
            }
        };
        let n = {
            let mut dec = key.decrypt(&mut hr).map_err(|e| match e {
                BackupError::Corrupt(m) => {
                    BackupError::Corrupt(format!("object {}: {m}", o.object))
                }
                e => e,
            })?;
            let mut codec = [0u8; 1];
            dec.read_exact(&mut codec).map_err(bad)?;
            match codec[0] {
                CODEC_RAW => copy_big(&mut dec, sink).map_err(bad)?,
                CODEC_ZSTD => {
                    let mut z = zstd::Decoder::new(dec).map_err(bad)?;
                    copy_big(&mut z, sink).map_err(bad)?
                }
                c => {
                    return Err(BackupError::Corrupt(format!(
                        "object {} has unknown codec {c}",
                        o.object
                    )));
                }
            }
        };
        copy_big(&mut hr, &mut io::sink()).map_err(bad)?;
        if hr.n != o.stored || hr.hasher.finalize().to_hex().as_str() != o.sha {
            return Err(BackupError::Corrupt(format!(
                "object {} was changed (hash mismatch)",
                o.object
            )));
        }
        if n != o.size {
            return Err(BackupError::Corrupt(format!(
                "object {} holds {n} bytes, the manifest says {}",
                o.object, o.size
            )));
        }
        Ok(n)
    }
}

// ───────────────────────────── making a backup ─────────────────────────────

/// The device's certificates and keys, as `relative path → base64`.
fn device_files(data_dir: &Path) -> Result<BTreeMap<String, String>, BackupError> {
    use base64::Engine;
    let mut out = BTreeMap::new();
    for sub in ["tls", "keys"] {
        let dir = data_dir.join(sub);
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if !p.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let bytes = ctx(fs::read(&p), &p, "reading a device file")?;
            out.insert(
                format!("{sub}/{name}"),
                base64::engine::general_purpose::STANDARD.encode(bytes),
            );
        }
    }
    Ok(out)
}

fn new_id(tgt: &Target, now: Timestamp, kind: Kind) -> String {
    let base = format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), kind.as_str());
    let mut id = base.clone();
    let mut n = 2;
    while tgt.backups_dir().join(format!("{id}.manifest")).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// One unit of work for the writer threads.
enum Job<'a> {
    Database,
    Blob(usize, &'a str, &'a str),
}

/// A large-buffered reader that tells the kernel the file is read once, front to back
/// (deeper read-ahead on a cold SD card or disk).
fn sequential(f: File) -> BufReader<File> {
    // SAFETY: advice on a file descriptor we own; failure is harmless.
    unsafe {
        libc::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
            0,
            libc::POSIX_FADV_SEQUENTIAL,
        );
    }
    BufReader::with_capacity(1 << 20, f)
}

/// Makes one backup of `store` into `target`. Safe to run while the server serves; safe to
/// kill at any moment (the manifest is written last).
pub fn run(
    store: &Store,
    key: &BackupKey,
    target: &Path,
    opts: &Options,
    now: Timestamp,
) -> Result<Report, BackupError> {
    let started = Instant::now();
    let tgt = Target::open_write(target, opts.create_target, key)?;
    let existing = tgt.manifests(Some(key));
    let previous = existing
        .iter()
        .filter_map(|(_, m)| m.as_ref().ok())
        .max_by(|a, b| oldest_first(a, b))
        .map(Manifest::link);
    let mut index: HashMap<String, ObjectRef> = HashMap::new();
    for (_, m) in &existing {
        if let Ok(m) = m {
            for o in m.objects() {
                index.insert(o.object.clone(), o.clone());
            }
        }
    }
    let known = |name: &str| {
        index
            .get(name)
            .filter(|_| tgt.object_path(name).exists())
            .cloned()
    };

    // 1. The database: one read transaction → a new file in the data directory (never plaintext
    //    on the target), skipped entirely when its content is already stored.
    let scratch = store.dir().join(".backup-tmp");
    let _ = fs::remove_dir_all(&scratch);
    ctx(
        fs::create_dir_all(&scratch),
        &scratch,
        "creating scratch space",
    )?;
    let snap_path = scratch.join("snapshot.redb");
    let snap = store.snapshot(&snap_path, |d| known(&key.object_name("redb", d)).is_some())?;
    let db_name = key.object_name("redb", &snap.digest);
    let school = crate::school::school_info(&store.read()?)?.map(|i| i.code);

    // 2. The blobs that exist now (every blob a snapshot row names was durable before it).
    let ids = ctx(store.blobs.list(), store.dir(), "listing files")?;
    let mut blob_refs: Vec<Option<ObjectRef>> = Vec::with_capacity(ids.len());
    let mut todo: Vec<(usize, String, String, u64)> = Vec::new();
    let mut need = 0u64;
    for (i, id) in ids.iter().enumerate() {
        let digest: [u8; 32] = hex::decode(id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .expect("listed ids are hex digests");
        let name = key.object_name("blob", &digest);
        let path = store.blobs.path_of(id).expect("valid id");
        let size = ctx(fs::metadata(&path), &path, "reading a file's size")?.len();
        if let Some(o) = known(&name) {
            blob_refs.push(Some(o));
        } else {
            blob_refs.push(None);
            need += size;
            todo.push((i, id.clone(), name, size));
        }
    }
    if snap.written {
        need += fs::metadata(&snap_path).map(|m| m.len()).unwrap_or(0);
    }
    need += 8 * 1024 * 1024;
    if let Some(free) = crate::config::free_disk_bytes(target)
        && free < need
    {
        let _ = fs::remove_dir_all(&scratch);
        return Err(BackupError::NoSpace {
            path: target.to_path_buf(),
            need_mb: need.div_ceil(1 << 20),
            free_mb: free >> 20,
        });
    }

    let mut new_objects = 0usize;
    let mut new_bytes = 0u64;

    // 3. Certificates and keys (small).
    let files_json = serde_json::to_vec(&device_files(store.dir())?).expect("serialisable");
    let files_name = key.object_name("files", blake3::hash(&files_json).as_bytes());
    let files = match known(&files_name) {
        Some(o) => o,
        None => {
            let o = tgt.write_object(key, &files_name, &files_json[..])?;
            new_objects += 1;
            new_bytes += o.stored;
            o
        }
    };

    // 3b. The settings (tram.toml, the enrolment), so a restore brings them back.
    let settings_json = serde_json::to_vec(
        &settings::SettingsCopy::of(store.dir())
            .map_err(|e| BackupError::io("reading the settings", e))?,
    )
    .expect("serialisable");
    let settings_name = key.object_name("settings", blake3::hash(&settings_json).as_bytes());
    let settings = match known(&settings_name) {
        Some(o) => o,
        None => {
            let o = tgt.write_object(key, &settings_name, &settings_json[..])?;
            new_objects += 1;
            new_bytes += o.stored;
            o
        }
    };
    // What each file is, from the records that name it (read after the blob listing, so every
    // listed file that a record names is described).
    let mut described = BTreeMap::new();
    {
        let rx = store.read()?;
        crate::library::file_descriptions(&rx, &mut described)?;
        crate::lessons::file_descriptions(&rx, &mut described)?;
    }

    // 4. The database snapshot and the new blobs, on a few threads (the database first, so its
    //    compression overlaps the blobs'). Each blob is re-hashed on the way so a file damaged in
    //    the data directory is reported, never backed up as if it were good.
    let mut jobs: Vec<Job> = Vec::with_capacity(todo.len() + 1);
    if snap.written {
        jobs.push(Job::Database);
    }
    jobs.extend(todo.iter().map(|(i, id, name, _)| Job::Blob(*i, id, name)));
    let results = parallel(&jobs, |job| -> Result<ObjectRef, BackupError> {
        let (id, name) = match job {
            Job::Database => {
                let f = ctx(File::open(&snap_path), &snap_path, "reading the snapshot")?;
                return tgt.write_object(key, &db_name, sequential(f));
            }
            Job::Blob(_, id, name) => (*id, *name),
        };
        if tgt.object_path(name).exists() {
            // Left by an interrupted run: complete (it was renamed into place), just unindexed.
            let (sha, stored) = ctx(tgt.stored_hash(name), &tgt.root, "reading a stored file")?;
            let size = fs::metadata(store.blobs.path_of(id).expect("valid"))
                .map(|m| m.len())
                .unwrap_or(0);
            return Ok(ObjectRef {
                object: name.to_string(),
                size,
                stored,
                sha,
            });
        }
        let path = store.blobs.path_of(id).expect("valid id");
        let f = ctx(File::open(&path), &path, "reading a file to back up")?;
        let mut hr = hash_reader(sequential(f));
        let o = tgt.write_object(key, name, &mut hr)?;
        if hr.hasher.finalize().to_hex().as_str() != id {
            let _ = fs::remove_file(tgt.object_path(name));
            return Err(BackupError::Source(format!(
                "{} does not match its content hash",
                path.display()
            )));
        }
        Ok(o)
    });
    let _ = fs::remove_dir_all(&scratch);
    let mut database = if snap.written {
        None
    } else {
        Some(known(&db_name).expect("skipped only when stored"))
    };
    for (job, r) in jobs.iter().zip(results) {
        let o = r?;
        new_objects += 1;
        new_bytes += o.stored;
        match job {
            Job::Database => database = Some(o),
            Job::Blob(i, _, _) => blob_refs[*i] = Some(o),
        }
    }
    let database = database.expect("written or reused");
    let mut dirs = BTreeSet::new();
    dirs.insert(
        tgt.object_path(&database.object)
            .parent()
            .map(Path::to_path_buf),
    );
    dirs.insert(
        tgt.object_path(&files.object)
            .parent()
            .map(Path::to_path_buf),
    );
    dirs.insert(
        tgt.object_path(&settings.object)
            .parent()
            .map(Path::to_path_buf),
    );
    for (_, _, name, _) in &todo {
        dirs.insert(tgt.object_path(name).parent().map(Path::to_path_buf));
    }
    for d in dirs.into_iter().flatten() {
        fsync_dir(&d)?;
    }
    fsync_dir(&tgt.objects_dir())?;

    // 5. The manifest, last.
    let blobs: Vec<ObjectRef> = blob_refs.into_iter().map(|o| o.expect("filled")).collect();
    let covered_bytes = database.size + files.size + blobs.iter().map(|b| b.size).sum::<u64>();
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    names.insert(&database.object, WHAT_DATABASE.into());
    names.insert(&files.object, WHAT_FILES.into());
    names.insert(&settings.object, WHAT_SETTINGS.into());
    for (id, o) in ids.iter().zip(&blobs) {
        names.entry(&o.object).or_insert_with(|| {
            described
                .get(id)
                .cloned()
                .unwrap_or_else(|| "a stored file no record names (left by a deleted item)".into())
        });
    }
    let index = seal_index(key, &names)?;
    let mut manifest = Manifest {
        format: FORMAT,
        id: new_id(&tgt, now, opts.kind),
        kind: opts.kind,
        created: now,
        app_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: snap.schema_version,
        school,
        database,
        tables: snap.tables,
        records: snap.records,
        files,
        blobs,
        new_objects,
        new_bytes,
        previous,
        settings: Some(settings),
        index: Some(index),
        hash: String::new(),
    };
    let json = serde_json::to_vec(&manifest).expect("serialisable");
    manifest.hash = blake3::hash(&json).to_hex().to_string();
    let mpath = tgt.backups_dir().join(format!("{}.manifest", manifest.id));
    ctx(
        crate::config::write_atomic(&mpath, &seal(&json, key)),
        &tgt.root,
        "writing the manifest",
    )?;
    tracing::info!(
        id = %manifest.id,
        target = %target.display(),
        new_objects,
        new_bytes,
        "backup written"
    );
    if let Err(e) = remember(store.dir(), target, &manifest) {
        tracing::warn!(error = %e, "cannot record the newest backup written to this target");
    }

    // 6. The restore drill, then retention: a backup that has not proved it restores never
    // pushes out one that has (the retention keeps a day's verified backup until a later one of
    // the same day is verified too).
    let after = |step: &'static str| {
        let id = manifest.id.clone();
        move |e: BackupError| BackupError::AfterWrite {
            id,
            step,
            why: match e {
                BackupError::DiskFull(p) => format!("the disk holding {} is full", p.display()),
                e => e.to_string(),
            },
        }
    };
    let verified = if opts.verify {
        let check = restore_check(&tgt, key, &manifest, &scratch, false, store.schema())
            .map_err(after("its restore check (it is not counted as verified)"))?;
        tgt.mark_verified(&manifest.id)
            .map_err(after("recording it as verified"))?;
        Some(check)
    } else {
        None
    };
    let (pruned_backups, pruned_objects) =
        prune(&tgt, key, &opts.retention).map_err(after("removing old backups (retention)"))?;
    Ok(Report {
        id: manifest.id.clone(),
        target: target.to_path_buf(),
        database_changed: snap.written,
        records: manifest.records,
        blobs: manifest.blobs.len(),
        new_objects,
        new_bytes,
        covered_bytes,
        pruned_backups,
        pruned_objects,
        seconds: started.elapsed().as_secs_f64(),
        verified,
    })
}

/// Applies the retention policy: removes the manifests it does not keep, then every object no
/// kept manifest names. Skips the object sweep if any manifest cannot be read.
fn prune(tgt: &Target, key: &BackupKey, r: &Retention) -> Result<(usize, usize), BackupError> {
    let all = tgt.manifests(Some(key));
    let good: Vec<&Manifest> = all.iter().filter_map(|(_, m)| m.as_ref().ok()).collect();
    let list: Vec<retention::Candidate> = good
        .iter()
        .map(|m| retention::Candidate {
            id: m.id.clone(),
            created: m.created,
            kind: m.kind,
            verified: tgt.is_verified(&m.id),
            version: m.app_version.clone(),
        })
        .collect();
    let keep = retention::keep(&list, r, &crate::school::time_zone());
    let mut removed = 0;
    let mut pruned = tgt.pruned(Some(key)).unwrap_or_else(|e| {
        tracing::warn!(target = %tgt.root.display(), "{e}; starting it again");
        vec![]
    });
    let before = pruned.clone();
    pruned.extend(
        good.iter()
            .filter(|m| !keep.contains(&m.id))
            .map(|m| m.link()),
    );
    // Only what a kept manifest names is needed to tell a pruned predecessor from a deleted one.
    let named: BTreeSet<&str> = good
        .iter()
        .filter(|m| keep.contains(&m.id))
        .filter_map(|m| m.previous.as_ref().map(|p| p.id.as_str()))
        .collect();
    pruned.retain(|l| named.contains(l.id.as_str()));
    pruned.dedup_by(|a, b| a.id == b.id);
    if pruned != before {
        // Written before the manifests go, so a run killed in between leaves no false gap.
        let json = serde_json::to_vec(&pruned).expect("serialisable");
        let p = tgt.root.join("pruned.json");
        ctx(
            crate::config::write_atomic(&p, &seal(&json, key)),
            &p,
            "recording pruned backups",
        )?;
    }
    for m in &good {
        if !keep.contains(&m.id) {
            let p = tgt.backups_dir().join(format!("{}.manifest", m.id));
            ctx(fs::remove_file(&p), &p, "removing an old backup")?;
            let _ = fs::remove_file(tgt.verified_marker(&m.id));
            removed += 1;
        }
    }
    if removed > 0 {
        fsync_dir(&tgt.backups_dir())?;
    }
    if all.iter().any(|(_, m)| m.is_err()) {
        tracing::warn!(target = %tgt.root.display(), "a manifest cannot be read; stored files are not swept");
        return Ok((removed, 0));
    }
    let referenced: BTreeSet<&str> = good
        .iter()
        .filter(|m| keep.contains(&m.id))
        .flat_map(|m| m.objects().map(|o| o.object.as_str()))
        .collect();
    let mut swept = 0;
    for d in fs::read_dir(tgt.objects_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let prefix = d.file_name().to_string_lossy().to_string();
        for f in fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let name = format!("{prefix}{}", f.file_name().to_string_lossy());
            if !referenced.contains(name.as_str()) {
                let _ = fs::remove_file(f.path());
                swept += 1;
            }
        }
    }
    Ok((removed, swept))
}

// ───────────────────────────── checking and restoring ─────────────────────────────

/// Restores `m` into `dir` (which must be empty) and checks it: every object decrypts to the
/// content its name claims, the database opens with this build (migrating an older schema),
/// holds only known tables and its audit chain verifies. Blobs are written only if `write`.
fn restore_into(
    tgt: &Target,
    key: &BackupKey,
    m: &Manifest,
    dir: &Path,
    write: bool,
    schema: &Schema,
) -> Result<RestoreCheck, BackupError> {
    restore_into_skipping(tgt, key, m, dir, write, &BTreeSet::new(), schema)
}

/// As [`restore_into`], leaving out the file objects named in `skip` (damaged on the target).
fn restore_into_skipping(
    tgt: &Target,
    key: &BackupKey,
    m: &Manifest,
    dir: &Path,
    write: bool,
    skip: &BTreeSet<String>,
    schema: &Schema,
) -> Result<RestoreCheck, BackupError> {
    use base64::Engine;
    if m.schema_version > schema.version {
        return Err(BackupError::NewerSchema {
            found: m.schema_version,
            known: schema.version,
        });
    }
    ctx(fs::create_dir_all(dir), dir, "creating the restore folder")?;
    let db_path = dir.join("tram.redb");
    {
        let mut f = ctx(File::create(&db_path), dir, "writing the database")?;
        tgt.read_object(key, &m.database, &mut f)?;
        ctx(f.sync_all(), dir, "syncing the database")?;
    }
    let digest = crate::store::snapshot::digest_file(&db_path)
        .map_err(|e| BackupError::Corrupt(format!("the database does not open: {e}")))?;
    if key.object_name("redb", &digest) != m.database.object {
        return Err(BackupError::Corrupt(
            "the database's content does not match its name".into(),
        ));
    }
    let mut files_json = Vec::new();
    tgt.read_object(key, &m.files, &mut files_json)?;
    if key.object_name("files", blake3::hash(&files_json).as_bytes()) != m.files.object {
        return Err(BackupError::Corrupt("the device files do not match".into()));
    }
    let files: BTreeMap<String, String> = serde_json::from_slice(&files_json)
        .map_err(|e| BackupError::Corrupt(format!("device files: {e}")))?;
    for (rel, b64) in &files {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| BackupError::Corrupt(format!("device file {rel}: {e}")))?;
        let ok_name = rel.split_once('/').is_some_and(|(d, f)| {
            ["tls", "keys"].contains(&d) && !f.contains('/') && !f.starts_with('.')
        });
        if !ok_name {
            return Err(BackupError::Corrupt(format!("device file name {rel:?}")));
        }
        if write {
            let p = dir.join(rel);
            ctx(
                crate::config::write_secret(&p, &bytes),
                &p,
                "writing a device file",
            )?;
        }
    }
    let mut redo = Vec::new();
    if let Some(o) = &m.settings {
        let mut json = Vec::new();
        tgt.read_object(key, o, &mut json)?;
        if key.object_name("settings", blake3::hash(&json).as_bytes()) != o.object {
            return Err(BackupError::Corrupt("the settings do not match".into()));
        }
        let copy: settings::SettingsCopy = serde_json::from_slice(&json)
            .map_err(|e| BackupError::Corrupt(format!("settings: {e}")))?;
        if write {
            redo = ctx(
                settings::put_back(dir, Some(&copy)),
                dir,
                "restoring the settings",
            )?;
        }
    } else if write {
        redo = ctx(settings::put_back(dir, None), dir, "restoring the settings")?;
    }
    let store = Store::open(dir, schema).map_err(|e| match e {
        StoreError::NewerSchema { found, known } => BackupError::NewerSchema { found, known },
        e => BackupError::Corrupt(format!("the database does not open: {e}")),
    })?;
    let chain = store.verify_audit()?;
    if let Some((seq, why)) = chain.broken {
        return Err(BackupError::Corrupt(format!(
            "the audit chain is broken at event {seq}: {why}"
        )));
    }
    let blobs: Vec<ObjectRef> = m
        .blobs
        .iter()
        .filter(|o| !skip.contains(&o.object))
        .cloned()
        .collect();
    let results = parallel(&blobs, |o| -> Result<(), BackupError> {
        let (id, _) = if write {
            let mut w = ctx(store.blobs.writer(), dir, "writing a file")?;
            tgt.read_object(key, o, &mut w)?;
            ctx(w.commit(), dir, "writing a file")?
        } else {
            let mut h = HashWriter {
                inner: io::sink(),
                hasher: blake3::Hasher::new(),
                n: 0,
            };
            tgt.read_object(key, o, &mut h)?;
            (h.hasher.finalize().to_hex().to_string(), h.n)
        };
        let digest: [u8; 32] = hex::decode(&id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .expect("hex digest");
        if key.object_name("blob", &digest) != o.object {
            return Err(BackupError::Corrupt(format!(
                "object {} does not hold the file its name claims",
                o.object
            )));
        }
        Ok(())
    });
    for r in results {
        r?;
    }
    Ok(RestoreCheck {
        id: m.id.clone(),
        created: m.created,
        schema_version: m.schema_version,
        records: m.records,
        audit_events: chain.events,
        blobs: m.blobs.len(),
        bytes: m.objects().map(|o| o.size).sum(),
        redo,
        notes: vec![],
        missing_files: vec![],
    })
}

/// The restore drill: restores into a scratch folder under `scratch_parent`, then removes it.
fn restore_check(
    tgt: &Target,
    key: &BackupKey,
    m: &Manifest,
    scratch_parent: &Path,
    write_blobs: bool,
    schema: &Schema,
) -> Result<RestoreCheck, BackupError> {
    let dir = scratch_parent.join(format!("verify-{:08x}", rand::random::<u32>()));
    let r = restore_into(tgt, key, m, &dir, write_blobs, schema);
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir(scratch_parent);
    r
}

#[derive(Debug, Clone)]
pub enum Which {
    Newest,
    All,
    Id(String),
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub backups: usize,
    pub objects: usize,
    pub stored_bytes: u64,
    /// Every problem found, each naming the backup or file.
    pub problems: Vec<String>,
    /// Backups restored into a scratch folder and checked end to end (needs the key).
    pub restored: Vec<RestoreCheck>,
    /// True when no key was available: only the stored hashes were checked.
    pub keyless: bool,
    /// What is worth knowing and is no fault (where the chain of backups starts).
    pub notes: Vec<String>,
}

/// Checks a target. Without a key: every file's stored hash against its sealed manifest, the
/// chain of manifests and the box's memory of the newest (`memory`: the box's data directory).
/// With it: also the manifests' MACs and a full restore drill of the backups `which` selects.
/// A damaged copy of `target.json` is rebuilt (with the key) and reported. The drill opens each
/// restored database with `schema` (this build's), as the box would.
pub fn verify(
    target: &Path,
    key: Option<&BackupKey>,
    which: Which,
    scratch_parent: &Path,
    memory: Option<&Path>,
    schema: &Schema,
) -> Result<VerifyReport, BackupError> {
    let tgt = Target::open_read(target)?;
    let mut rep = VerifyReport {
        keyless: key.is_none(),
        ..Default::default()
    };
    let notes = match key {
        Some(k) => tgt.info_repaired(k).map(|(_, n)| n),
        None => tgt.info(None).map(|(_, n)| n),
    };
    match notes {
        Ok(n) => rep.problems.extend(n),
        Err(e @ BackupError::OtherKey { .. }) => return Err(e),
        Err(e) => rep.problems.push(e.to_string()),
    }
    let manifests = tgt.manifests(key);
    let present: BTreeSet<String> = manifests.iter().map(|(id, _)| id.clone()).collect();
    let mut good: Vec<Manifest> = Vec::new();
    for (id, m) in manifests {
        match m {
            Ok(m) => good.push(m),
            Err(e) => rep.problems.push(format!("backup {id}: {e}")),
        }
    }
    rep.backups = good.len();
    if good.is_empty() && rep.problems.is_empty() {
        return Err(BackupError::NoBackup(target.to_path_buf()));
    }
    good.sort_by(oldest_first);
    let chain = walk_chain(&tgt, key, &present, &good);
    rep.problems.extend(chain.problems);
    rep.notes.extend(chain.notes);
    if let Some(dir) = memory {
        let r = remembered(dir, target);
        rep.problems
            .extend(against_memory(r.as_ref(), &good, &present));
    }
    let drill: Vec<&Manifest> = match (&which, key) {
        (_, None) => vec![],
        (Which::Newest, _) => good.last().into_iter().collect(),
        (Which::All, _) => good.iter().collect(),
        (Which::Id(id), _) => {
            let m = good
                .iter()
                .find(|m| &m.id == id)
                .ok_or_else(|| BackupError::UnknownBackup(id.clone()))?;
            vec![m]
        }
    };
    // Every object's stored bytes first (no key needed), so a damaged one is named by what it
    // holds and by every backup that shares it; the drill then restores only intact backups.
    let mut all: BTreeMap<&str, &ObjectRef> = BTreeMap::new();
    for m in &good {
        for o in m.objects() {
            all.insert(o.object.as_str(), o);
        }
    }
    rep.objects = all.len();
    rep.stored_bytes = all.values().map(|o| o.stored).sum();
    let list: Vec<&ObjectRef> = all.values().copied().collect();
    let mut damaged: BTreeSet<&str> = BTreeSet::new();
    let index: BTreeMap<String, String> = match key {
        Some(k) => good.iter().rev().flat_map(|m| open_index(k, m)).collect(),
        None => BTreeMap::new(),
    };
    for (o, r) in list.iter().zip(parallel(&list, |o| tgt.check_stored(o))) {
        let Err(e) = r else { continue };
        damaged.insert(o.object.as_str());
        let sharing: Vec<&str> = good
            .iter()
            .filter(|m| m.objects().any(|x| x.object == o.object))
            .map(|m| m.id.as_str())
            .collect();
        let what = good
            .iter()
            .find_map(|m| structural_name(m, &o.object))
            .map(String::from)
            .or_else(|| index.get(&o.object).cloned())
            .unwrap_or_else(|| {
                if key.is_some() {
                    "a stored file".into()
                } else {
                    "a library or lesson file (its title needs the key)".into()
                }
            });
        rep.problems.push(format!(
            "{e} — it holds {what}; backups that share it: {}",
            sharing.join(", ")
        ));
    }
    if let Some(k) = key {
        for m in drill {
            if m.objects().any(|o| damaged.contains(o.object.as_str())) {
                continue;
            }
            match restore_check(&tgt, k, m, scratch_parent, false, schema) {
                Ok(c) => rep.restored.push(c),
                Err(e) => rep.problems.push(format!("backup {}: {e}", m.id)),
            }
        }
    }
    Ok(rep)
}

/// Restores a backup (the newest unless `id` names one) into `dest`, which must not exist or
/// be empty. Everything is built in a sibling folder and moved into place only when it checked
/// out, so an interrupted or failed restore leaves `dest` as it was. The settings are put back
/// and what could not be is listed (`redo`). `memory` is the data directory of a box that wrote
/// to this target (the old one, when it still exists): if the newest backup it wrote is
/// missing, nothing is restored unless `id` names the backup to take. The restored database is
/// opened (migrated) with `schema`.
pub fn restore(
    target: &Path,
    key: &BackupKey,
    dest: &Path,
    id: Option<&str>,
    memory: Option<&Path>,
    schema: &Schema,
) -> Result<RestoreCheck, BackupError> {
    if dest.exists() {
        let empty = fs::read_dir(dest)
            .map(|mut d| d.next().is_none())
            .map_err(|e| BackupError::io(format!("reading {}", dest.display()), e))?;
        if !empty {
            return Err(BackupError::NotEmpty(dest.to_path_buf()));
        }
    }
    let tgt = Target::open_read(target)?;
    // Only read here: a damaged descriptor is no reason to refuse intact backups, and a restore
    // does not write to the target.
    let (_, info_notes) = tgt.info(Some(key))?;
    let manifests = tgt.manifests(Some(key));
    let present: BTreeSet<String> = manifests.iter().map(|(id, _)| id.clone()).collect();
    let mut notes: Vec<String> = info_notes
        .into_iter()
        .map(|n| format!("{n} (the backups were read with the key; the next backup rebuilds it)"))
        .collect();
    let mut good: Vec<Manifest> = Vec::new();
    for (mid, m) in manifests {
        match m {
            Ok(m) => good.push(m),
            Err(e) => notes.push(format!("backup {mid} cannot be read and was skipped: {e}")),
        }
    }
    good.sort_by(oldest_first);
    let chain = walk_chain(&tgt, Some(key), &present, &good);
    notes.extend(chain.problems);
    match memory.map(|d| remembered(d, target)) {
        Some(r) => {
            if let Some(missing) = against_memory(r.as_ref(), &good, &present) {
                if id.is_none() {
                    return Err(BackupError::Target(format!(
                        "{missing}. Nothing was restored; to restore an older backup anyway, name it with --backup ID"
                    )));
                }
                notes.push(missing);
            }
        }
        None => notes.push(format!(
            "this box has no record of the backups written to {}: if newer backups than {} were deleted from it, that cannot be known here (give --old-data-dir of the old box if it still exists)",
            target.display(),
            good.last().map(|m| m.id.as_str()).unwrap_or("none")
        )),
    }
    let (m, damaged) = match id {
        Some(id) => {
            let m = good
                .iter()
                .find(|m| m.id == id)
                .ok_or_else(|| BackupError::UnknownBackup(id.into()))?;
            let (core, files) = damaged_objects(&tgt, m);
            if !core.is_empty() {
                return Err(BackupError::Corrupt(core.join("; ")));
            }
            (m, files)
        }
        None => newest_restorable(&tgt, &good, &mut notes)
            .map_err(|e| e.unwrap_or_else(|| BackupError::NoBackup(target.to_path_buf())))?,
    };
    // A damaged file (a library PDF, an attachment) does not keep the school's records from
    // coming back: the rest is restored and the damaged files are named.
    let skip: BTreeSet<String> = damaged.iter().map(|(o, _)| o.clone()).collect();
    let titles = open_index(key, m);
    let missing_files: Vec<String> = damaged
        .iter()
        .map(|(o, why)| match titles.get(o) {
            Some(t) => format!("{t} ({why})"),
            None => format!("file object {o} ({why})"),
        })
        .collect();
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ctx(
        fs::create_dir_all(parent),
        parent,
        "creating the restore folder",
    )?;
    let staging = parent.join(format!(
        ".{}.restoring-{:08x}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("data"),
        rand::random::<u32>()
    ));
    let r = restore_into_skipping(&tgt, key, m, &staging, true, &skip, schema).and_then(|c| {
        // The restored box remembers the newest backup on the target as its own, so its next
        // backup continues the chain and a later deletion of it is noticed.
        if let Some(newest) = good.last() {
            ctx(
                remember(&staging, target, newest),
                &staging,
                "recording the newest backup",
            )?;
        }
        Ok(c)
    });
    match r {
        Ok(mut check) => {
            if dest.exists() {
                ctx(fs::remove_dir(dest), dest, "replacing the empty folder")?;
            }
            ctx(
                fs::rename(&staging, dest),
                dest,
                "moving the restore into place",
            )?;
            fsync_dir(parent)?;
            check.notes = notes;
            check.missing_files = missing_files;
            Ok(check)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// The newest backup whose every object is on the target as its manifest recorded it; each newer
/// one is named in `notes` with what is wrong with it. Err(None): no backup at all.
/// The damaged objects of a backup: (the database, device files, settings — without which
/// nothing is restored), and (file objects, each with why).
/// Damaged file objects: (object name, why).
type DamagedFiles = Vec<(String, String)>;

fn damaged_objects(tgt: &Target, m: &Manifest) -> (Vec<String>, DamagedFiles) {
    let core: Vec<&ObjectRef> = [&m.database, &m.files]
        .into_iter()
        .chain(m.settings.as_ref())
        .collect();
    let core_bad = parallel(&core, |o| tgt.check_stored(o))
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let blobs: Vec<&ObjectRef> = m.blobs.iter().collect();
    let files_bad = blobs
        .iter()
        .zip(parallel(&blobs, |o| tgt.check_stored(o)))
        .filter_map(|(o, r)| r.err().map(|e| (o.object.clone(), e)))
        .collect();
    (core_bad, files_bad)
}

/// The backup to restore when none is named: the newest whose records (database, device
/// files, settings) are intact — with the list of its damaged file objects, restored without
/// them. A damaged file is stored once and shared by every backup that has it, so an older
/// backup would not bring it back and would lose the newer records.
fn newest_restorable<'a>(
    tgt: &Target,
    good: &'a [Manifest],
    notes: &mut Vec<String>,
) -> Result<(&'a Manifest, DamagedFiles), Option<BackupError>> {
    let mut first_err = None;
    for m in good.iter().rev() {
        let (core, files) = damaged_objects(tgt, m);
        if core.is_empty() {
            return Ok((m, files));
        }
        notes.push(format!(
            "backup {} is incomplete and was skipped: {}",
            m.id,
            core.join("; ")
        ));
        first_err.get_or_insert_with(|| BackupError::Corrupt(core.join("; ")));
    }
    Err(first_err)
}

/// Lists a target's backups, oldest first (for the CLI and the admin page).
pub fn list(target: &Path, key: Option<&BackupKey>) -> Result<Vec<Manifest>, BackupError> {
    Ok(Target::open_read(target)?.readable_manifests(key))
}

#[cfg(test)]
mod tests;
