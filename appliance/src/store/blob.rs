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
        let mut w = self.writer()?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n])?;
        }
        w.commit()
    }

    /// A writer for a new blob: bytes go to a temp file; [`BlobWriter::commit`] names it by
    /// its hash and makes it durable. Dropped without commit, the temp file is removed.
    pub fn writer(&self) -> io::Result<BlobWriter<'_>> {
        let tmp_path = self
            .root
            .join("tmp")
            .join(format!("{:016x}", rand::random::<u64>()));
        let file = File::create(&tmp_path)?;
        Ok(BlobWriter {
            store: self,
            tmp_path,
            file: Some(file),
            hasher: blake3::Hasher::new(),
            size: 0,
        })
    }

    /// Every stored blob id (walks the directory; the temp folder is skipped).
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for d in fs::read_dir(&self.root)? {
            let d = d?;
            let prefix = d.file_name().to_string_lossy().to_string();
            if prefix.len() != 2 || !d.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(d.path())? {
                let id = format!("{prefix}{}", f?.file_name().to_string_lossy());
                if is_blob_id(&id) {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn open_blob(&self, id: &str) -> io::Result<File> {
        let p = self
            .path_of(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a blob id"))?;
        File::open(p)
    }
}

pub struct BlobWriter<'a> {
    store: &'a BlobStore,
    tmp_path: PathBuf,
    file: Option<File>,
    hasher: blake3::Hasher,
    size: u64,
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.as_mut().expect("open until commit").write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter<'_> {
    /// fsync, rename into place under the content hash, fsync the directory: (id, size).
    pub fn commit(mut self) -> io::Result<(String, u64)> {
        let file = self.file.take().expect("committed once");
        file.sync_all()?;
        drop(file);
        let id = self.hasher.finalize().to_hex().to_string();
        let dest = self.store.path_of(&id).expect("hex digest is a valid id");
        if dest.exists() {
            fs::remove_file(&self.tmp_path)?;
            return Ok((id, self.size));
        }
        let dir = dest.parent().expect("blob path has a parent");
        fs::create_dir_all(dir)?;
        fs::rename(&self.tmp_path, &dest)?;
        File::open(dir)?.sync_all()?;
        Ok((id, self.size))
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
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
        assert_eq!(b.list().unwrap(), vec![a]);
    }

    #[test]
    fn path_traversal_ids_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let b = BlobStore::open(d.path()).unwrap();
        assert!(b.path_of("../../etc/passwd").is_none());
        assert!(b.open_blob("..").is_err());
    }
}
