//! The box's settings in a backup: `tram.toml` (backup targets, time, retention, time zone) and
//! the district enrolment (hub, pin, school code). A restore puts back what can be put back and
//! lists what must be redone (`restore-redo.json`), which the admin home shows until each item
//! is done — checked against the box as it is, so nobody has to clear the warning by hand.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a backup keeps of the settings (an encrypted object like the others).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsCopy {
    /// `DATA_DIR/tram.toml` as it was (None: the box had none and ran on defaults and flags).
    pub tram_toml: Option<String>,
    pub enrolment: Option<EnrolmentCopy>,
}

/// The enrolment without its upload secret: a restored box must enrol again (the hub then tells
/// it where the old box's batch numbers ended — continuing under the old secret would resend
/// numbers the hub already holds), so the secret is of no use and is not copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolmentCopy {
    pub hub: String,
    pub school: String,
    pub pin_sha256: Option<String>,
}

impl SettingsCopy {
    pub fn of(data_dir: &Path) -> Result<SettingsCopy, std::io::Error> {
        let tram_toml = match std::fs::read_to_string(crate::config::Settings::path(data_dir)) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let enrolment = crate::relay::enrolment(data_dir).map(|e| EnrolmentCopy {
            hub: e.hub,
            school: e.school,
            pin_sha256: e.pin_sha256,
        });
        Ok(SettingsCopy {
            tram_toml,
            enrolment,
        })
    }
}

/// One thing a restore could not put back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Redo {
    /// A backup target `tram.toml` names that this box does not have (a USB disk not mounted
    /// there): until it is, nightly backups to it fail.
    Target { path: PathBuf },
    /// The district enrolment: a new one-time token from the district, then `tram relay enroll`.
    Enrolment {
        hub: String,
        school: String,
        pin_sha256: Option<String>,
    },
    /// The backup was made before settings were kept: `tram.toml` and the enrolment are unknown.
    Settings,
}

impl Redo {
    /// Whether the box as it is now no longer needs this.
    pub fn done(&self, data_dir: &Path) -> bool {
        match self {
            // An empty folder is not the disk: an unmounted USB mount point exists too, and
            // backups would then fill the root disk. The target is there when it holds a
            // backup target (target.json) or is a mounted file system of its own.
            Redo::Target { path } => {
                path.starts_with(data_dir)
                    || path.join("target.json").exists()
                    || is_mount_point(path)
            }
            Redo::Enrolment { .. } => crate::relay::enrolment(data_dir).is_some(),
            Redo::Settings => crate::config::Settings::path(data_dir).exists(),
        }
    }

    /// For the restore's output (English, like the rest of the CLI).
    pub fn text(&self) -> String {
        match self {
            Redo::Target { path } => format!(
                "the backup target {} (in tram.toml) does not exist on this box: plug in the USB disk and mount it there, or change [backup] targets in tram.toml — until then nightly backups to it fail",
                path.display()
            ),
            Redo::Enrolment {
                hub,
                school,
                pin_sha256,
            } => format!(
                "the district enrolment: ask the district for a new token (tram district token --school {school}), then: tram relay enroll --hub {hub}{} --token TOKEN — nothing is relayed until then",
                pin_sha256
                    .as_deref()
                    .map(|p| format!(" --pin {p}"))
                    .unwrap_or_default()
            ),
            Redo::Settings => "this backup was made by an older Trạm that did not keep the settings: set the backup targets, time and retention (tram.toml or tram provision) and enrol with the district again".into(),
        }
    }

    /// For the admin home.
    pub fn text_vi(&self) -> String {
        match self {
            Redo::Target { path } => format!(
                "Ổ sao lưu {} (trong tram.toml) không có trên máy này: hãy cắm và gắn ổ USB vào đúng chỗ đó, hoặc sửa tram.toml. Đến lúc đó, sao lưu hằng đêm vào ổ này đều thất bại.",
                path.display()
            ),
            Redo::Enrolment { hub, .. } => format!(
                "Chưa đăng ký lại với Phòng/Sở ({hub}): xin mã đăng ký mới rồi chạy tram relay enroll. Đến lúc đó, không có dữ liệu nào được gửi lên."
            ),
            Redo::Settings => "Bản sao lưu đã khôi phục không chứa cài đặt (bản cũ): hãy đặt lại ổ sao lưu, giờ sao lưu và đăng ký với Phòng/Sở.".into(),
        }
    }
}

pub fn redo_path(data_dir: &Path) -> PathBuf {
    data_dir.join("restore-redo.json")
}

/// What `settings` (None: a backup without them) puts back into `dir`, the restored data
/// directory: `tram.toml` is written; every item that could not be put back is returned and
/// recorded in `restore-redo.json`.
pub fn put_back(dir: &Path, settings: Option<&SettingsCopy>) -> std::io::Result<Vec<Redo>> {
    let mut redo = Vec::new();
    match settings {
        None => redo.push(Redo::Settings),
        Some(s) => {
            if let Some(text) = &s.tram_toml {
                crate::config::write_atomic(&crate::config::Settings::path(dir), text.as_bytes())?;
                // A file this build cannot read is put back as it was; the server names it.
                if let Ok(parsed) = toml::from_str::<crate::config::Settings>(text) {
                    for t in parsed.backup.targets {
                        let r = Redo::Target { path: t };
                        if !r.done(dir) {
                            redo.push(r);
                        }
                    }
                }
            }
            if let Some(e) = &s.enrolment {
                redo.push(Redo::Enrolment {
                    hub: e.hub.clone(),
                    school: e.school.clone(),
                    pin_sha256: e.pin_sha256.clone(),
                });
            }
        }
    }
    if !redo.is_empty() {
        crate::config::write_atomic(
            &redo_path(dir),
            &serde_json::to_vec_pretty(&redo).expect("serialisable"),
        )?;
    }
    Ok(redo)
}

/// What is still to be redone after a restore; the record is removed once everything is done.
pub fn outstanding(data_dir: &Path) -> Vec<Redo> {
    let Ok(bytes) = std::fs::read(redo_path(data_dir)) else {
        return vec![];
    };
    let all: Vec<Redo> = serde_json::from_slice(&bytes).unwrap_or_default();
    let left: Vec<Redo> = all.into_iter().filter(|r| !r.done(data_dir)).collect();
    if left.is_empty() {
        let _ = std::fs::remove_file(redo_path(data_dir));
    }
    left
}

/// Whether `p` is the root of a mounted file system (another device than its parent).
fn is_mount_point(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Some(Ok(up))) = (std::fs::metadata(p), p.parent().map(std::fs::metadata)) else {
        return false;
    };
    me.is_dir() && me.dev() != up.dev()
}
