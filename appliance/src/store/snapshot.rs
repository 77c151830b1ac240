//! Online snapshot for backups: every table copied from **one read transaction** into a new
//! database file while the server keeps writing (redb's MVCC keeps the read view stable).
//! Copying the live file would not be safe.
//!
//! The snapshot's *content digest* (BLAKE3 over table names, keys and values in order) names it,
//! so a backup of an unchanged database reuses the previous copy without writing a byte.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::{AUDIT, META, OUTBOX, Store, StoreError};

/// What a snapshot holds.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// BLAKE3 of the logical content (see the module docs).
    pub digest: [u8; 32],
    pub tables: usize,
    pub records: u64,
    pub schema_version: u64,
    /// False when `skip` said the digest is already stored: no file was written.
    pub written: bool,
}

/// The audit log and the outbox are keyed by sequence number; every other table by string.
fn keyed_by_u64(name: &str) -> bool {
    name == AUDIT.name() || name == OUTBOX.name()
}

/// Commit the copy every this many bytes so a large database never sits in memory at once.
const CHUNK_BYTES: usize = 32 * 1024 * 1024;

impl Store {
    /// Takes a consistent snapshot. The digest is computed first; if `skip(digest)` is true the
    /// copy is not made. Otherwise the tables are copied into a new database at `dest` (which
    /// must not exist) and the file is fsynced before this returns.
    pub fn snapshot(
        &self,
        dest: &Path,
        skip: impl FnOnce(&[u8; 32]) -> bool,
    ) -> Result<Snapshot, StoreError> {
        let rtx = self.db.begin_read()?;
        let (digest, tables, records) = digest_of(&rtx)?;
        let schema_version = version_in(&rtx)?;
        let mut snap = Snapshot {
            digest,
            tables,
            records,
            schema_version,
            written: false,
        };
        if skip(&digest) {
            return Ok(snap);
        }
        if dest.exists() {
            return Err(StoreError::Blob(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("snapshot target {} already exists", dest.display()),
            )));
        }
        let out = Database::create(dest)?;
        let mut names: Vec<String> = rtx.list_tables()?.map(|h| h.name().to_string()).collect();
        names.sort();
        let mut wtx = out.begin_write()?;
        wtx.set_durability(Durability::None)?;
        let mut pending = 0usize;
        for name in &names {
            if keyed_by_u64(name) {
                wtx = copy_table::<u64>(&rtx, &out, wtx, name, &mut pending)?;
            } else {
                wtx = copy_table::<&str>(&rtx, &out, wtx, name, &mut pending)?;
            }
        }
        wtx.set_durability(Durability::Immediate)?;
        wtx.commit()?;
        drop(out);
        snap.written = true;
        Ok(snap)
    }
}

/// Copies one table (created even when empty, so the copy lists the same tables), committing
/// without fsync every [`CHUNK_BYTES`]; the caller's last commit is the durable one.
fn copy_table<K: redb::Key + 'static>(
    rtx: &redb::ReadTransaction,
    out: &Database,
    mut wtx: redb::WriteTransaction,
    name: &str,
    pending: &mut usize,
) -> Result<redb::WriteTransaction, StoreError> {
    let def: TableDefinition<K, &[u8]> = TableDefinition::new(name);
    let src = rtx.open_table(def)?;
    wtx.open_table(def)?;
    for row in src.iter()? {
        let (k, v) = row?;
        *pending += K::as_bytes(&k.value()).as_ref().len() + v.value().len();
        wtx.open_table(def)?.insert(k.value(), v.value())?;
        if *pending >= CHUNK_BYTES {
            wtx.commit()?;
            wtx = out.begin_write()?;
            wtx.set_durability(Durability::None)?;
            *pending = 0;
        }
    }
    Ok(wtx)
}

/// The content digest of a database file that is not open elsewhere (a restored snapshot).
pub fn digest_file(path: &Path) -> Result<[u8; 32], StoreError> {
    let db = Database::open(path)?;
    let rtx = db.begin_read()?;
    Ok(digest_of(&rtx)?.0)
}

fn version_in(rtx: &redb::ReadTransaction) -> Result<u64, StoreError> {
    let meta = match rtx.open_table(META) {
        Ok(m) => m,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    Ok(meta
        .get("schema_version")?
        .and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
        .unwrap_or(0))
}

fn digest_of(rtx: &redb::ReadTransaction) -> Result<([u8; 32], usize, u64), StoreError> {
    let mut names: Vec<String> = rtx.list_tables()?.map(|h| h.name().to_string()).collect();
    names.sort();
    let mut h = blake3::Hasher::new();
    h.update(b"tram redb snapshot v1\0");
    let mut records = 0u64;
    let field = |h: &mut blake3::Hasher, b: &[u8]| {
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(b);
    };
    for name in &names {
        field(&mut h, name.as_bytes());
        if keyed_by_u64(name) {
            let t = rtx.open_table(TableDefinition::<u64, &[u8]>::new(name))?;
            for row in t.iter()? {
                let (k, v) = row?;
                field(&mut h, &k.value().to_be_bytes());
                field(&mut h, v.value());
                records += 1;
            }
        } else {
            let t = rtx.open_table(TableDefinition::<&str, &[u8]>::new(name))?;
            for row in t.iter()? {
                let (k, v) = row?;
                field(&mut h, k.value().as_bytes());
                field(&mut h, v.value());
                records += 1;
            }
        }
        // Separate tables so that rows cannot move between them without changing the digest.
        h.update(b"\xff");
    }
    Ok((*h.finalize().as_bytes(), names.len(), records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Actor;

    #[test]
    fn snapshot_copies_every_table_and_digest_tracks_content() {
        let d = tempfile::tempdir().unwrap();
        let store =
            Store::open(&d.path().join("data"), &crate::store::tests::schema_of(&[])).unwrap();
        let actor = Actor::system(jiff::Timestamp::now());
        store
            .write(&actor, |tx| {
                tx.event("test.one", "x", None);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let a = d.path().join("a.redb");
        let s1 = store.snapshot(&a, |_| false).unwrap();
        assert!(s1.written);
        assert_eq!(digest_file(&a).unwrap(), s1.digest);
        // Unchanged: the caller can skip the copy.
        let s2 = store
            .snapshot(&d.path().join("b.redb"), |dg| *dg == s1.digest)
            .unwrap();
        assert!(!s2.written && s2.digest == s1.digest);
        assert!(!d.path().join("b.redb").exists());
        store
            .write(&actor, |tx| {
                tx.event("test.two", "y", None);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let s3 = store.snapshot(&d.path().join("c.redb"), |_| false).unwrap();
        assert_ne!(s3.digest, s1.digest);
        assert_eq!(s3.records, s1.records + 1);
        // The copy opens as a store with an intact chain.
        let copy = d.path().join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(d.path().join("c.redb"), copy.join("tram.redb")).unwrap();
        let restored = Store::open(&copy, &crate::store::tests::schema_of(&[])).unwrap();
        let r = restored.verify_audit().unwrap();
        assert!(r.is_intact());
        assert_eq!(r.events, 2);
    }
}
