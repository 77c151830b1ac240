//! Restoring a backup: each object decrypted and checked against its name, the database opened
//! and its audit chain verified, damaged file objects left out when the rest is sound; the same
//! steps into a scratch folder are the restore drill that verification runs.

use super::*;

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
pub(super) fn restore_check(
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
