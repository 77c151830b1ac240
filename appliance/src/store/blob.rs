//! Content-addressed blob store: files named by their BLAKE3 hash under `blobs/ab/cdef…`.
//! A blob is written to a temp file, fsynced, renamed into place and its directory fsynced,
//! so it is durable *before* the database row that names it commits.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub struct BlobStore {
    root: PathBuf,
}

/// A validated blob id: 64 lowercase hex characters (a BLAKE3 digest).
pub fn is_blob_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    pub fn open(root: &Path) -> io::Result<BlobStore> {
        fs::create_dir_all(root.join("tmp"))?;
        // Temp files left by a crash are never named by a row: remove them.
        for e in fs::read_dir(root.join("tmp"))? {
            let _ = fs::remove_file(e?.path());
        }
        Ok(BlobStore {
            root: root.to_path_buf(),
        })
    }

    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        if !is_blob_id(id) {
            return None;
        }
        Some(self.root.join(&id[..2]).join(&id[2..]))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.path_of(id).is_some_and(|p| p.exists())
    }

    /// Stores the bytes from `reader`, returning (id, size). Identical content is stored once.
    pub fn put(&self, mut reader: impl Read) -> io::Result<(String, u64)> {
        let tmp_path = self
            .root
            .join("tmp")
            .join(format!("{:016x}", rand::random::<u64>()));
        let mut tmp = File::create(&tmp_path)?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        let result = (|| {
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                tmp.write_all(&buf[..n])?;
                size += n as u64;
            }
            tmp.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
        let id = hasher.finalize().to_hex().to_string();
        let dest = self.path_of(&id).expect("hex digest is a valid id");
        if dest.exists() {
            fs::remove_file(&tmp_path)?;
            return Ok((id, size));
        }
        let dir = dest.parent().expect("blob path has a parent");
        fs::create_dir_all(dir)?;
        fs::rename(&tmp_path, &dest)?;
        File::open(dir)?.sync_all()?;
        Ok((id, size))
    }

    pub fn open_blob(&self, id: &str) -> io::Result<File> {
        let p = self
            .path_of(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a blob id"))?;
        File::open(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_content_is_stored_once_and_read_back() {
        let d = tempfile::tempdir().unwrap();
        let b = BlobStore::open(d.path()).unwrap();
        let (a, n) = b.put("Tiếng Việt 6".as_bytes()).unwrap();
        let (a2, _) = b.put("Tiếng Việt 6".as_bytes()).unwrap();
        assert_eq!(a, a2);
        assert_eq!(n, "Tiếng Việt 6".len() as u64);
        let mut s = String::new();
        b.open_blob(&a).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "Tiếng Việt 6");
        assert!(fs::read_dir(d.path().join("tmp")).unwrap().next().is_none());
    }

    #[test]
    fn path_traversal_ids_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let b = BlobStore::open(d.path()).unwrap();
        assert!(b.path_of("../../etc/passwd").is_none());
        assert!(b.open_blob("..").is_err());
    }
}
