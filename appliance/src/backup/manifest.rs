//! What a backup is on the target: its manifest and the objects it names, the sealed target
//! info and name index, the chain of manifests (each links its predecessor), and the box's
//! memory of the newest backup it made on each target (to notice one removed or rolled back).

use super::*;

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
    pub(super) fn objects(&self) -> impl Iterator<Item = &ObjectRef> {
        [&self.database, &self.files]
            .into_iter()
            .chain(self.settings.iter())
            .chain(self.blobs.iter())
    }

    pub(super) fn link(&self) -> Link {
        Link {
            id: self.id.clone(),
            hash: self.hash.clone(),
        }
    }
}

// ───────────────────────────── the sealed file format ─────────────────────────────

/// `json \n blake3 HEX \n mac HEX \n`: any changed byte fails the checksum (no key needed);
/// the MAC proves the file was written with the key.
pub(super) fn seal(json: &[u8], key: &BackupKey) -> Vec<u8> {
    let mut out = json.to_vec();
    out.extend_from_slice(format!("\nblake3 {}\n", blake3::hash(json).to_hex()).as_bytes());
    out.extend_from_slice(format!("mac {}\n", key.mac(json)).as_bytes());
    out
}

pub(super) fn unseal<'a>(bytes: &'a [u8], key: Option<&BackupKey>) -> Result<&'a [u8], String> {
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

pub(super) const WHAT_DATABASE: &str = "the database";

pub(super) const WHAT_FILES: &str = "the device's certificates and keys (tls/, keys/)";

pub(super) const WHAT_SETTINGS: &str = "the settings (tram.toml and the district enrolment)";

pub(super) fn seal_index(
    key: &BackupKey,
    names: &BTreeMap<&str, String>,
) -> Result<String, BackupError> {
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
pub(super) fn open_index(key: &BackupKey, m: &Manifest) -> BTreeMap<String, String> {
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
pub(super) fn structural_name(m: &Manifest, object: &str) -> Option<&'static str> {
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

pub(super) fn remember(data_dir: &Path, target: &Path, m: &Manifest) -> io::Result<()> {
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
pub(super) struct Chain {
    pub(super) problems: Vec<String>,
    pub(super) notes: Vec<String>,
}

pub(super) fn walk_chain(
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
pub(super) fn against_memory(
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

pub(super) fn oldest_first(a: &Manifest, b: &Manifest) -> std::cmp::Ordering {
    a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id))
}
