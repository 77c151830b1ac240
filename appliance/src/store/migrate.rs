//! The schema engine: the schema version in `store.meta.v1`, and the forward migrations the
//! capabilities hand over in a [`Schema`], run at start in order, one write transaction each.
//! A schema change is a new table version plus a copy migration (redb's own advice); the old
//! table is deleted in the same transaction, so a crash leaves either the old or the new schema.
//! Each step's body lives with the capability whose tables it changes and reaches the rows only
//! through [`MigrationTx`], so no capability touches redb.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{AUDIT, Actor, META, OUTBOX, StoreError, audit};

const VERSION_KEY: &str = "schema_version";

/// What a build knows of the database: the version it writes, every table it registers and
/// the steps that bring an older database up to that version.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The schema version this build writes. Older databases are migrated forward at start, a
    /// newer one is refused.
    pub version: u64,
    /// The capabilities' tables. Start-up refuses a database holding any table not listed here
    /// (or the store's own), so that no backup silently misses one.
    pub tables: Vec<&'static str>,
    /// One step per version after the first, in any order: the engine runs them by `to`.
    pub migrations: Vec<Migration>,
}

/// One step of the schema: from version `to - 1` to `to`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub to: u64,
    /// What the step does, for the log.
    pub name: &'static str,
    /// The step's body; what it returns is written into its `schema.migrate` audit event.
    pub run: fn(&MigrationTx<'_>) -> Result<String, StoreError>,
}

impl Schema {
    /// Every table this build knows: the store's own, then the capabilities'.
    pub fn registered_tables(&self) -> Vec<&'static str> {
        let mut v = vec![META.name(), AUDIT.name(), OUTBOX.name()];
        v.extend(&self.tables);
        v
    }
}

use redb::TableHandle;

/// A migration's view of the database: raw JSON rows by table name, inside the step's one
/// write transaction. Nothing it does is audited, nor queued for the district unless it says so
/// ([`MigrationTx::relay`]); the step is one audit event of its own.
pub struct MigrationTx<'a> {
    w: &'a redb::WriteTransaction,
    now: jiff::Timestamp,
}

type Raw<'n> = TableDefinition<'n, &'static str, &'static [u8]>;

impl MigrationTx<'_> {
    /// Every row of `table` (key, JSON bytes), or none if the table was never made.
    pub fn rows(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self.w.open_table(Raw::new(table)) {
            Ok(t) => t
                .iter()?
                .map(|r| {
                    let (k, v) = r?;
                    Ok((k.value().to_string(), v.value().to_vec()))
                })
                .collect(),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `rows` into `table`, which is made (empty) even when there are none.
    pub fn insert<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        table: &str,
        rows: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), StoreError> {
        let mut t = self.w.open_table(Raw::new(table))?;
        for (k, v) in rows {
            t.insert(k.as_ref(), v.as_ref())?;
        }
        Ok(())
    }

    /// Removes `keys` from `table`.
    pub fn remove<K: AsRef<str>>(
        &self,
        table: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), StoreError> {
        let mut t = self.w.open_table(Raw::new(table))?;
        for k in keys {
            t.remove(k.as_ref())?;
        }
        Ok(())
    }

    /// Queues `record` for the district in the outbox under `kind` and `key`, as an update
    /// (the hub keeps the newest state by key): a step that starts relaying what a box already
    /// holds sends it through the normal relay queue, once, in the step's transaction.
    pub fn relay(
        &self,
        entries: impl IntoIterator<Item = (String, String, serde_json::Value)>,
    ) -> Result<(), StoreError> {
        super::append_outbox(
            self.w,
            &Actor::system(self.now),
            entries
                .into_iter()
                .map(|(kind, key, record)| (kind, key, "update".to_string(), Some(record)))
                .collect(),
        )
    }

    /// Deletes a table of an earlier schema.
    pub fn delete_table(&self, table: &str) -> Result<(), StoreError> {
        self.w.delete_table(Raw::new(table))?;
        Ok(())
    }
}

/// A stored row that does not decode.
pub fn corrupt(table: &str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table: table.into(),
        key: key.into(),
        reason: e.to_string(),
    }
}

pub(crate) fn schema_version(db: &Database) -> Result<u64, StoreError> {
    let rtx = db.begin_read()?;
    let meta = match rtx.open_table(META) {
        Ok(m) => m,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let v = meta.get(VERSION_KEY)?;
    Ok(
        v.and_then(|v| std::str::from_utf8(v.value()).ok()?.parse().ok())
            .unwrap_or(0),
    )
}

fn set_version(wtx: &redb::WriteTransaction, v: u64) -> Result<(), StoreError> {
    let mut meta = wtx.open_table(META)?;
    meta.insert(VERSION_KEY, v.to_string().as_bytes())?;
    Ok(())
}

pub(crate) fn run(db: &Database, schema: &Schema) -> Result<(), StoreError> {
    let mut current = schema_version(db)?;
    if current > schema.version {
        return Err(StoreError::NewerSchema {
            found: current,
            known: schema.version,
        });
    }
    if current == 0 {
        // A new database starts at the current schema.
        let w = db.begin_write()?;
        set_version(&w, schema.version)?;
        w.commit()?;
        return Ok(());
    }
    while current < schema.version {
        let w = db.begin_write()?;
        let Some(step) = schema.migrations.iter().find(|m| m.to == current + 1) else {
            return Err(StoreError::Db(format!(
                "no migration from schema {current}"
            )));
        };
        let now = jiff::Timestamp::now();
        let detail = (step.run)(&MigrationTx { w: &w, now })?;
        audit::append(
            &w,
            &Actor::system(now),
            vec![audit::PendingEvent {
                action: "schema.migrate".into(),
                target: format!("schema/{}", current + 1),
                before: Some(serde_json::json!({ "schema": current })),
                after: Some(serde_json::json!({ "schema": current + 1, "detail": detail })),
            }],
        )?;
        set_version(&w, current + 1)?;
        w.commit()?;
        tracing::info!(
            from = current,
            to = current + 1,
            step = step.name,
            "migrated database schema"
        );
        current += 1;
    }
    Ok(())
}

/// Makes the database in `dir` say it is at schema `version`, holding what `fill` writes: the
/// migration tests' stand-in for a database an older build wrote.
#[cfg(test)]
pub(crate) fn old_database(
    dir: &std::path::Path,
    version: u64,
    fill: impl FnOnce(&redb::WriteTransaction),
) {
    let db = Database::create(dir.join("tram.redb")).unwrap();
    let w = db.begin_write().unwrap();
    set_version(&w, version).unwrap();
    fill(&w);
    w.commit().unwrap();
}

#[cfg(test)]
mod tests {
    //! The engine's tests, over toy schemas; each step's own tests are beside it in its
    //! capability's `migrate.rs`.
    use super::*;
    use crate::store::Store;

    fn toy_copy(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
        let rows = tx.rows("toy.a.v1")?;
        let n = rows.len();
        tx.insert("toy.b.v1", rows)?;
        tx.delete_table("toy.a.v1")?;
        Ok(format!("{n} copied"))
    }

    fn toy_mark(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
        // Runs after the copy or finds nothing to mark.
        let rows = tx.rows("toy.b.v1")?;
        tx.insert(
            "toy.b.v1",
            rows.iter().map(|(k, _)| (k, b"\"marked\"".as_slice())),
        )?;
        Ok(format!("{} marked", rows.len()))
    }

    /// The engine knows no capability: a schema's steps run by their version whatever order
    /// they are listed in, each one audit event; a missing step stops the start, changing nothing.
    #[test]
    fn steps_run_by_version_and_a_missing_one_is_refused() {
        let toy = |migrations: Vec<Migration>| Schema {
            version: 3,
            tables: vec!["toy.b.v1"],
            migrations,
        };
        let copy = Migration {
            to: 2,
            name: "copy",
            run: toy_copy,
        };
        let mark = Migration {
            to: 3,
            name: "mark",
            run: toy_mark,
        };
        let old = |dir: &std::path::Path| {
            let db = Database::create(dir.join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            set_version(&w, 1).unwrap();
            MigrationTx {
                w: &w,
                now: jiff::Timestamp::now(),
            }
            .insert("toy.a.v1", [("k1", b"1".as_slice()), ("k2", b"2")])
            .unwrap();
            w.commit().unwrap();
        };
        let dir = tempfile::tempdir().unwrap();
        old(dir.path());
        match Store::open(dir.path(), &toy(vec![mark])) {
            Err(StoreError::Db(m)) => assert_eq!(m, "no migration from schema 1"),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("opened without the step from schema 1"),
        }
        let s = Store::open(dir.path(), &toy(vec![mark, copy])).unwrap();
        assert_eq!(s.schema_version().unwrap(), 3);
        let tail = s.audit_tail(10).unwrap();
        let steps: Vec<(&str, String)> = tail
            .iter()
            .map(|e| {
                (
                    e.target.as_str(),
                    e.after.as_ref().unwrap()["detail"].to_string(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("schema/3", "\"2 marked\"".to_string()),
                ("schema/2", "\"2 copied\"".to_string())
            ]
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        old_database(dir.path(), 2, |_| {});
        assert!(matches!(
            Store::open(dir.path(), &crate::store::tests::schema_of(&[])),
            Err(StoreError::NewerSchema { found: 2, known: 1 })
        ));
    }
}
