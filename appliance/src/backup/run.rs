//! Making a backup: the database snapshot and the device files written as objects, the
//! manifest, then pruning by the retention rule.

use super::*;

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
