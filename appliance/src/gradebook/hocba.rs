//! Học bạ số on the box: the signers (each a certificate from the school signing CA with its
//! private key sealed under the signer's PIN, `pki::signing`) kept in the database, so the one
//! write path audits every change and every backup carries them.

use std::path::Path;

use crate::pki::signing::{self, SignerRecord, SigningError};
use crate::store::{Actor, AuditPolicy, Collection, Read, Store, StoreError};

/// One signer per account, keyed by account id. The sealed key is a secret even sealed (a
/// PIN is short): the audit log keeps digests of it, never the value.
pub const SIGNERS: Collection<SignerRecord> =
    Collection::new("gradebook.hocba_signers.v1", AuditPolicy::Digest, None);

pub const TABLES: [&str; 1] = [SIGNERS.name];

#[derive(Debug, thiserror::Error)]
pub enum HocbaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("Tài khoản này đã có chứng thư ký học bạ; muốn cấp lại phải chọn thay thế.")]
    SignerExists,
}

/// The signer record of `account`, if it has one.
pub fn signer(r: &impl Read, account: &str) -> Result<Option<SignerRecord>, StoreError> {
    r.get(&SIGNERS, account)
}

/// Stores a newly issued signer; an existing one is replaced only when `replace` says so
/// (checked in the same transaction, so two issuers cannot both think they were first).
pub fn store_signer(
    store: &Store,
    actor: &Actor,
    rec: &SignerRecord,
    replace: bool,
) -> Result<bool, HocbaError> {
    store.write(actor, |tx| {
        let existed = tx.get(&SIGNERS, &rec.account)?.is_some();
        if existed && !replace {
            return Err(HocbaError::SignerExists);
        }
        let action = if existed {
            "hocba.signer_replaced"
        } else {
            "hocba.signer_issued"
        };
        tx.put(&SIGNERS, &rec.account, rec, action)?;
        Ok(existed)
    })
}

/// Moves the signer files of an earlier version (`keys/hocba-signer-*.json`) into the table,
/// once: a file is removed after its record committed. A record already in the table wins
/// (it was issued later, or moved before a crash left the file behind). A file that cannot be
/// read is left where it is and named in the log, so nobody's signer silently disappears.
pub fn adopt_signer_files(
    store: &Store,
    data_dir: &Path,
    now: jiff::Timestamp,
) -> Result<usize, HocbaError> {
    let mut found = Vec::new();
    for (path, rec) in signing::legacy_signer_files(data_dir) {
        match rec {
            Ok(rec) => found.push((path, rec)),
            Err(e) => tracing::warn!("signer file {} not moved: {e}", path.display()),
        }
    }
    if found.is_empty() {
        return Ok(0);
    }
    let moved = store.write(&Actor::system(now), |tx| {
        let mut moved = 0;
        for (_, rec) in &found {
            if tx.get(&SIGNERS, &rec.account)?.is_none() {
                tx.put(&SIGNERS, &rec.account, rec, "hocba.signer_moved")?;
                moved += 1;
            }
        }
        Ok::<_, HocbaError>(moved)
    })?;
    for (path, _) in &found {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("moved signer file {} not removed: {e}", path.display());
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box whose signers were files under `keys/` keeps them: each is moved into the table
    /// once, still opens with its PIN, and the file is gone; a record already in the table is
    /// not overwritten by a stale file.
    #[test]
    fn signer_files_move_into_the_table_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        let now: jiff::Timestamp = "2026-06-01T02:00:00Z".parse().unwrap();
        let ca = signing::load_or_create_ca(dir.path(), "THCS Thử", now).unwrap();
        let old =
            signing::issue_signer(&ca, "gv-1", "Cô Lan", "Giáo viên chủ nhiệm", "135792", now)
                .unwrap();
        let file = dir.path().join("keys/hocba-signer-gv-1.json");
        std::fs::write(&file, serde_json::to_vec(&old).unwrap()).unwrap();
        // A later signer already in the table, and a stale file for the same account.
        let newer =
            signing::issue_signer(&ca, "ht-1", "Thầy Nam", "Hiệu trưởng", "246810", now).unwrap();
        store_signer(&store, &Actor::system(now), &newer, false).unwrap();
        let stale =
            signing::issue_signer(&ca, "ht-1", "Thầy Nam", "Hiệu trưởng", "000000", now).unwrap();
        let stale_file = dir.path().join("keys/hocba-signer-ht-1.json");
        std::fs::write(&stale_file, serde_json::to_vec(&stale).unwrap()).unwrap();

        assert_eq!(adopt_signer_files(&store, dir.path(), now).unwrap(), 1);
        assert!(!file.exists() && !stale_file.exists());
        let rx = store.read().unwrap();
        let moved = signer(&rx, "gv-1").unwrap().expect("moved");
        assert_eq!(moved, old);
        assert!(signing::unlock(&moved, "135792").is_ok());
        assert_eq!(signer(&rx, "ht-1").unwrap(), Some(newer));
        drop(rx);
        // Nothing left to move: nothing written.
        assert_eq!(adopt_signer_files(&store, dir.path(), now).unwrap(), 0);
        // Replacing needs to be asked for.
        let again =
            signing::issue_signer(&ca, "gv-1", "Cô Lan", "Giáo viên chủ nhiệm", "135792", now)
                .unwrap();
        assert!(matches!(
            store_signer(&store, &Actor::system(now), &again, false),
            Err(HocbaError::SignerExists)
        ));
        assert!(store_signer(&store, &Actor::system(now), &again, true).unwrap());
    }
}
