//! The accounts' schema steps, handed to the store through `app::schema`.

use crate::store::{Migration, MigrationTx, StoreError, migrate::corrupt};

/// Accounts of schema 1, each with a single `role`.
pub const ACCOUNTS_V1: &str = "auth.accounts.v1";

/// Schema 2: accounts carry a set of `roles` (`auth.accounts.v2`): a vice principal or a
/// department head also teaches.
pub const ROLES: Migration = Migration {
    to: 2,
    name: "accounts: one role -> a set of roles",
    run: one_role_to_roles,
};

fn one_role_to_roles(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let mut moved = Vec::new();
    for (k, v) in tx.rows(ACCOUNTS_V1)? {
        let mut rec: serde_json::Value =
            serde_json::from_slice(&v).map_err(|e| corrupt(ACCOUNTS_V1, &k, e))?;
        if let Some(obj) = rec.as_object_mut() {
            let role = obj.remove("role").unwrap_or(serde_json::Value::Null);
            let roles = match role {
                serde_json::Value::String(r) => vec![serde_json::Value::String(r)],
                _ => vec![],
            };
            obj.insert("roles".into(), serde_json::Value::Array(roles));
        }
        let bytes = serde_json::to_vec(&rec).map_err(|e| StoreError::Db(e.to_string()))?;
        moved.push((k, bytes));
    }
    let n = moved.len();
    tx.insert(super::ACCOUNTS.name, moved)?;
    tx.delete_table(ACCOUNTS_V1)?;
    Ok(format!("{n} accounts: role -> roles"))
}

#[cfg(test)]
mod tests {
    //! This step's tests, over the whole schema of this build (`app::schema`).
    use crate::app::schema::{SCHEMA_VERSION, schema};
    use crate::store::Store;
    use redb::TableDefinition;

    const ACCOUNTS_V1: TableDefinition<&str, &[u8]> = TableDefinition::new(super::ACCOUNTS_V1);

    /// A database written by schema 1 opens, migrates, and its accounts keep working.
    #[test]
    fn schema_1_database_migrates_forward() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::migrate::old_database(dir.path(), 1, |w| {
            let mut t = w.open_table(ACCOUNTS_V1).unwrap();
            let v1 = serde_json::json!({
                "id": "gv-lan", "username": "lan", "full_name": "Nguyễn Thị Lan",
                "role": "teacher", "department": null, "disabled": false,
                "created_at": "2025-09-01T00:00:00Z"
            });
            t.insert("gv-lan", serde_json::to_vec(&v1).unwrap().as_slice())
                .unwrap();
        });
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let acc = s
            .read()
            .unwrap()
            .get(&crate::auth::ACCOUNTS, "gv-lan")
            .unwrap()
            .expect("account survives the migration");
        assert_eq!(acc.full_name, "Nguyễn Thị Lan");
        assert_eq!(acc.roles, vec![crate::auth::Role::Teacher]);
        let tail = s.audit_tail(1).unwrap();
        assert_eq!(tail[0].action, "schema.migrate");
        assert!(s.verify_audit().unwrap().is_intact());
        // One audit event per step (1→2, 2→3, 3→4, 4→5); opening again is a no-op.
        let steps = (SCHEMA_VERSION - 1) as usize;
        assert_eq!(s.audit_tail(10).unwrap().len(), steps);
        drop(s);
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.audit_tail(10).unwrap().len(), steps);
    }
}
