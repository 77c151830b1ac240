//! The data directory layout and small durable-file helpers shared by the capabilities.
//!
//! ```text
//! DATA_DIR/tram.redb     the database (the only place records live)
//! DATA_DIR/blobs/        content-addressed files
//! DATA_DIR/tls/          the device CA (ca.key is 0600) and its certificate
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the device keeps the only key it accepts update bundles from.
pub const DEFAULT_RELEASE_KEY: &str = "/etc/tram/release-key.pub";

pub const DEFAULT_DATA_DIR: &str = "./tram-data";

pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn tls(&self) -> PathBuf {
        self.0.join("tls")
    }
}

/// Writes a file atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o644)
}

/// As [`write_atomic`], readable by the owner only.
pub fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    // A bare file name ("s1.pdf") has the empty path as its parent: the current folder.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Free bytes on the file system holding `path`.
pub fn free_disk_bytes(path: &Path) -> Option<u64> {
    disk_space(path).map(|(_, free)| free)
}

/// (total, free) bytes of the file system holding `path`.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized out-parameter.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    let f = s.f_frsize as u64;
    (r == 0).then(|| (s.f_blocks as u64 * f, s.f_bavail as u64 * f))
}

/// DATA_DIR/tram.toml: the settings provisioning wrote (command-line flags and TRAM_*
/// variables override them). Versioned; unknown fields are refused. Secrets never go here.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub format: u32,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub backup: BackupSettings,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<String>,
}

impl Settings {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("tram.toml")
    }

    /// The settings, or the defaults when there is no file. A damaged file is an error: the
    /// box must not silently fall back to other backup targets.
    pub fn load(data_dir: &Path) -> Result<Settings, String> {
        let p = Self::path(data_dir);
        match fs::read_to_string(&p) {
            Ok(t) => toml::from_str(&t).map_err(|e| format!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }

    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let text = format!(
            "# Written by `tram provision`; flags and TRAM_* variables override it.\n{}",
            toml::to_string(self).map_err(std::io::Error::other)?
        );
        write_atomic(&Self::path(data_dir), text.as_bytes())
    }
}
