//! A backup target (a folder on a disk or share): its layout, its info files, reading and
//! writing its objects, the manifests on it.

use super::*;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TargetInfo {
    format: u32,
    pub(super) recipient: String,
    created: Timestamp,
}

/// A descriptor that checked out, with its sealed bytes (copied over a damaged copy as they are).
type SealedInfo = (TargetInfo, Vec<u8>);

/// The two copies of the target's descriptor: a damaged one is rebuilt from the other, or from
/// the key when both are gone, so one bad sector never locks out intact backups.
const INFO_FILES: [&str; 2] = ["target.json", "target.json.bak"];

pub(super) struct Target {
    pub(super) root: PathBuf,
    pub(super) _lock: Option<File>,
}

impl Target {
    pub(super) fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }
    pub(super) fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub(super) fn object_path(&self, name: &str) -> PathBuf {
        self.objects_dir().join(&name[..2]).join(&name[2..])
    }

    /// Opens a target for reading (verify, restore).
    pub(super) fn open_read(root: &Path) -> Result<Target, BackupError> {
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
    pub(super) fn open_write(
        root: &Path,
        create: bool,
        key: &BackupKey,
    ) -> Result<Target, BackupError> {
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
    pub(super) fn info(
        &self,
        key: Option<&BackupKey>,
    ) -> Result<(TargetInfo, Vec<String>), BackupError> {
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
    pub(super) fn info_repaired(
        &self,
        key: &BackupKey,
    ) -> Result<(TargetInfo, Vec<String>), BackupError> {
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
    pub(super) fn readable_manifests(&self, key: Option<&BackupKey>) -> Vec<Manifest> {
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
    pub(super) fn verified_marker(&self, id: &str) -> PathBuf {
        self.root.join("verified").join(id)
    }

    pub(super) fn is_verified(&self, id: &str) -> bool {
        self.verified_marker(id).exists()
    }

    pub(super) fn mark_verified(&self, id: &str) -> Result<(), BackupError> {
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

    pub(super) fn manifests(
        &self,
        key: Option<&BackupKey>,
    ) -> Vec<(String, Result<Manifest, String>)> {
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
    pub(super) fn pruned(&self, key: Option<&BackupKey>) -> Result<Vec<Link>, String> {
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
    pub(super) fn write_object(
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
    pub(super) fn stored_hash(&self, name: &str) -> io::Result<(String, u64)> {
        let mut r = hash_reader(BufReader::with_capacity(
            256 * 1024,
            File::open(self.object_path(name))?,
        ));
        copy_big(&mut r, &mut io::sink())?;
        Ok((r.hasher.finalize().to_hex().to_string(), r.n))
    }

    /// Checks an object's stored bytes against its manifest entry (no key needed).
    pub(super) fn check_stored(&self, o: &ObjectRef) -> Result<(), String> {
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
    pub(super) fn read_object(
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

/// Whether backup `id` on `target` passed its restore check (its `verified/<id>` marker, written
/// by the run that made it): the admin page marks every such backup, not only the newest.
pub fn restore_checked(target: &Path, id: &str) -> bool {
    target.join("verified").join(id).exists()
}

/// Lists a target's backups, oldest first (for the CLI and the admin page).
pub fn list(target: &Path, key: Option<&BackupKey>) -> Result<Vec<Manifest>, BackupError> {
    Ok(Target::open_read(target)?.readable_manifests(key))
}
