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
