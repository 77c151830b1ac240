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

pub mod key;
mod manifest;
pub mod pages;
mod restore;
pub mod retention;
pub mod routes;
mod run;
pub mod schedule;
pub mod settings;
mod target;
mod verify;

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

pub use manifest::{Kind, Link, Manifest, ObjectRef, Remembered, remembered};
use manifest::{
    WHAT_DATABASE, WHAT_FILES, WHAT_SETTINGS, against_memory, oldest_first, open_index, remember,
    seal, seal_index, structural_name, unseal, walk_chain,
};
use restore::restore_check;
pub use restore::{RestoreCheck, restore};
pub use run::{Options, Report, run};
use target::Target;
pub use target::{list, restore_checked};
pub use verify::{VerifyReport, Which, verify};

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

#[cfg(test)]
mod tests;
