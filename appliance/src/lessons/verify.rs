//! Checking every signature against the version and files it covers (the command line, the
//! verification page and its API).

use super::*;

/// One signature's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub plan: String,
    pub version: u32,
    pub title: String,
    pub teacher: String,
    pub action: Option<SignAction>,
    pub by: String,
    pub at: String,
    /// None when valid.
    pub problem: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub plans: usize,
    pub valid: usize,
    pub verdicts: Vec<Verdict>,
}

impl VerifyReport {
    pub fn invalid(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.problem.is_some())
    }
    pub fn all_valid(&self) -> bool {
        self.invalid().next().is_none()
    }
}

/// Re-hashes stored files (each blob once per check).
pub struct FileHasher<'a> {
    blobs: &'a BlobStore,
    seen: HashMap<String, Result<String, String>>,
}

impl<'a> FileHasher<'a> {
    pub fn new(blobs: &'a BlobStore) -> Self {
        FileHasher {
            blobs,
            seen: HashMap::new(),
        }
    }
    /// The BLAKE3 of the file's bytes as they are on disk now.
    pub fn hash(&mut self, f: &FileRef) -> Result<String, String> {
        if let Some(h) = self.seen.get(&f.blob) {
            return h.clone();
        }
        let h = (|| {
            let mut file = self
                .blobs
                .open_blob(&f.blob)
                .map_err(|_| format!("file “{}” is missing", f.name))?;
            let mut hasher = blake3::Hasher::new();
            std::io::copy(&mut file, &mut hasher)
                .map_err(|e| format!("file “{}” unreadable: {e}", f.name))?;
            Ok(hasher.finalize().to_hex().to_string())
        })();
        self.seen.insert(f.blob.clone(), h.clone());
        h
    }
}

/// The digest of a version as stored now, every file re-read; the files that differ from the
/// hash they were stored under are named.
pub fn digest_now(v: &Version, hasher: &mut FileHasher<'_>) -> (String, Vec<String>) {
    let mut hashes = Vec::new();
    let mut problems = Vec::new();
    for f in &v.files {
        match hasher.hash(f) {
            Ok(h) => {
                if h != f.blob {
                    problems.push(format!("file “{}” has changed", f.name));
                }
                hashes.push(h);
            }
            Err(e) => {
                problems.push(e);
                hashes.push(String::new());
            }
        }
    }
    let d = blake3::hash(&signed_content(v, &hashes))
        .to_hex()
        .to_string();
    (d, problems)
}

/// Checks the signatures of one version against what is stored now.
pub fn verify_version(
    rx: &impl Read,
    plan: &Plan,
    v: &Version,
    hasher: &mut FileHasher<'_>,
) -> Result<Vec<Verdict>, StoreError> {
    let (now, file_problems) = digest_now(v, hasher);
    let mut out = Vec::new();
    let verdict = |action, by: &str, at: &str, problem| Verdict {
        plan: plan.id.clone(),
        version: v.number,
        title: v.title.clone(),
        teacher: plan.teacher_name.clone(),
        action,
        by: by.to_string(),
        at: at.to_string(),
        problem,
    };
    for s in &v.signatures {
        let mut problem = sign::check(s, &v.plan, v.number, &now).err();
        if problem.is_some() && !file_problems.is_empty() {
            problem = Some(file_problems.join("; "));
        }
        if problem.is_none() {
            let owned = rx.get(&KEYS, &s.by)?.is_some_and(|k| k.owns(&s.public_key));
            if !owned {
                problem = Some(format!("the key is not {}'s registered key", s.name));
            }
        }
        out.push(verdict(Some(s.action), &s.name, &s.at, problem));
    }
    let has = |a| v.signatures.iter().any(|s| s.action == a);
    let missing = match v.state {
        State::Draft => None,
        State::Approved if !has(SignAction::Approve) => Some("approved but not signed by BGH"),
        _ if !has(SignAction::Submit) => Some("handed in without the teacher's signature"),
        _ => None,
    };
    if let Some(m) = missing {
        out.push(verdict(None, "", &v.updated_at, Some(m.to_string())));
    }
    Ok(out)
}

/// Every signature of every plan, files re-read from disk (`tram lessons verify`).
pub fn verify_all(rx: &Rx, blobs: &BlobStore) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut hasher = FileHasher::new(blobs);
    let mut plans = BTreeMap::new();
    rx.scan_each(&PLANS, "", &mut |k, p: Plan| {
        plans.insert(k.to_string(), p);
        Ok(())
    })?;
    report.plans = plans.len();
    let mut versions = Vec::new();
    rx.scan_each(&VERSIONS, "", &mut |_, v: Version| {
        versions.push(v);
        Ok(())
    })?;
    for v in versions {
        let Some(plan) = plans.get(&v.plan) else {
            continue;
        };
        for verdict in verify_version(rx, plan, &v, &mut hasher)? {
            if verdict.problem.is_none() {
                report.valid += 1;
            }
            report.verdicts.push(verdict);
        }
    }
    Ok(report)
}

/// What `tram lessons verify` prints, and whether every signature is valid.
pub fn verify_text(store: &crate::store::Store) -> Result<(bool, String), StoreError> {
    let r = verify_all(&store.read()?, &store.blobs)?;
    let mut out = String::new();
    for v in r.invalid() {
        out += &format!(
            "INVALID {} v{} “{}” ({}){}: {}\n",
            v.plan,
            v.version,
            v.title,
            v.teacher,
            v.action
                .map(|a| format!(" {} signature by {}", a.as_str(), v.by))
                .unwrap_or_default(),
            v.problem.as_deref().unwrap_or("")
        );
    }
    let bad = r.invalid().count();
    out += &format!("{} valid", r.valid);
    if bad > 0 {
        out += &format!(", {bad} invalid");
    }
    out += &format!(" ({} plans)\n", r.plans);
    Ok((bad == 0, out))
}
