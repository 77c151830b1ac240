//! The store owns the redb database and the blob store, and **the one write path**:
//! every mutation runs inside [`Store::write`], which commits the change, its audit
//! events (hash-chained) and its outbox entries in one durable redb transaction.
//! No other module touches redb; capabilities declare [`Collection`]s and go through [`Tx`].
//! The store knows no capability: their tables and migrations come in the [`Schema`] that
//! [`Store::open`] is handed (the one list is assembled at the top of the crate).

pub mod audit;
pub mod blob;
pub mod migrate;
pub mod snapshot;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

pub use audit::{AuditEvent, ChainReport};
pub use blob::BlobStore;
pub use migrate::{Migration, MigrationTx, Schema};

/// redb's own page cache (its default is 1 GiB), counted in the server's memory. The kernel's
/// page cache holds the file as well — shared and given back under pressure — so a small
/// private cache costs a read syscall per miss, not a disk read. Measured on a mid-year
/// database (bench/RESULTS.md): 8 MB serves the school day and a 100,000-title search as fast
/// as 64 MB did, and idles at 21 MB instead of 80 MB. `tram serve --db-cache-mb` changes it.
pub const DEFAULT_CACHE_MB: u64 = 8;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("store.meta.v1");
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("store.audit.v1");
pub(crate) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("store.outbox.v1");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(String),
    #[error("stored record {table}/{key} cannot be decoded: {reason}")]
    Corrupt {
        table: String,
        key: String,
        reason: String,
    },
    #[error(
        "the database holds table {0:?} that this version does not know; refusing to start so that no backup silently misses it"
    )]
    UnknownTable(String),
    #[error(
        "the database was written by a newer version (schema {found}, this build knows {known}); update Trạm instead of downgrading"
    )]
    NewerSchema { found: u64, known: u64 },
    #[error(
        "the database is open in another process (is `tram serve` running on this data directory?)"
    )]
    InUse,
    #[error("blob store: {0}")]
    Blob(#[from] std::io::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// How a collection's changes are audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditPolicy {
    /// before/after values are written into the audit event.
    Values,
    /// only a BLAKE3 digest of before/after is written (secrets such as password hashes).
    Digest,
    /// not audited (sessions): the capability records its own semantic event instead.
    None,
}

/// A typed table of JSON-encoded records keyed by string, declared once by its capability.
pub struct Collection<T> {
    pub name: &'static str,
    pub audit: AuditPolicy,
    /// When set, every change is also queued in the outbox for the district under this kind.
    pub relay_kind: Option<&'static str>,
    /// The key the district knows the record by, when it is not the key here (see
    /// [`Collection::relayed_as`]).
    pub relay_key: Option<RelayKey>,
    _t: PhantomData<fn() -> T>,
}

/// Names a relayed record to the district from its key here and its stored value.
pub type RelayKey = fn(key: &str, record: &serde_json::Value) -> String;

impl<T> Collection<T> {
    pub const fn new(
        name: &'static str,
        audit: AuditPolicy,
        relay_kind: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            audit,
            relay_kind,
            relay_key: None,
            _t: PhantomData,
        }
    }
    /// Relays the records under `f(key, record)` instead of their key here: the hub keeps the
    /// newest state of each record by that key, so it must stay the same for the record's life
    /// (students: the school's own ids are opaque and may be re-issued by a migration).
    pub const fn relayed_as(mut self, f: RelayKey) -> Self {
        self.relay_key = Some(f);
        self
    }
    fn def(&self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name)
    }
}

use redb::TableHandle;

/// Who is acting, and when: the edge supplies both so domain code never reads the clock.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: String,
    pub now: jiff::Timestamp,
}

impl Actor {
    pub fn system(now: jiff::Timestamp) -> Self {
        Actor {
            id: "system".into(),
            now,
        }
    }
}

pub struct Store {
    db: Database,
    pub blobs: BlobStore,
    dir: PathBuf,
    /// What this database was opened with: a restore check opens its copy with the same.
    schema: Schema,
    /// Where the last walk of the audit chain found it intact (see [`Store::audit_status`]).
    audit_checked: std::sync::Mutex<Option<audit::Checkpoint>>,
    /// Commits of [`Store::write`] (and of the outbox renumbering) since open: only they append
    /// audit events or change the outbox.
    writes: std::sync::atomic::AtomicU64,
    /// The last status answer and the `writes` it was taken at: with no write since, the chain
    /// cannot have grown, so the admin home answers without opening the audit table.
    audit_answer: std::sync::Mutex<Option<(u64, ChainReport)>>,
    /// Walks of the chain (full or incremental) since open, for the test that the cache holds.
    audit_walks: std::sync::atomic::AtomicU64,
    /// The last outbox count (`writes`, after, count): the admin home shows the backlog on every
    /// view, and counting walks every entry not yet relayed.
    outbox_counted: std::sync::Mutex<Option<(u64, u64, u64)>>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct OutboxEntry {
    pub seq: u64,
    pub kind: String,
    pub key: String,
    pub op: String,
    pub record: Option<serde_json::Value>,
    pub at: String,
}

impl Store {
    /// Opens (or creates) the database in `dir`, migrates it forward to `schema` and checks
    /// that it holds only the tables `schema` registers.
    pub fn open(dir: &Path, schema: &Schema) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, schema, DEFAULT_CACHE_MB)
    }

    /// As [`Store::open`], with redb's page cache capped at `cache_mb` MB.
    pub fn open_with_cache(
        dir: &Path,
        schema: &Schema,
        cache_mb: u64,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("tram.redb");
        let db = Database::builder()
            .set_cache_size((cache_mb as usize) << 20)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
                e => e.into(),
            })?;
        migrate::run(&db, schema)?;
        let store = Store {
            db,
            blobs: BlobStore::open(&dir.join("blobs"))?,
            dir: dir.to_path_buf(),
            schema: schema.clone(),
            audit_checked: std::sync::Mutex::new(None),
            writes: std::sync::atomic::AtomicU64::new(0),
            audit_answer: std::sync::Mutex::new(None),
            audit_walks: std::sync::atomic::AtomicU64::new(0),
            outbox_counted: std::sync::Mutex::new(None),
        };
        store.check_tables()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check_tables(&self) -> Result<(), StoreError> {
        let known = self.schema.registered_tables();
        let rtx = self.db.begin_read()?;
        for t in rtx.list_tables()? {
            if !known.contains(&t.name()) {
                return Err(StoreError::UnknownTable(t.name().to_string()));
            }
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<u64, StoreError> {
        migrate::schema_version(&self.db)
    }

    /// **The one write path.** Runs `f` in a write transaction; the audit events and outbox
    /// entries it produced are appended in the same transaction, which commits with
    /// `Durability::Immediate`: once this returns `Ok`, the change survives a power cut.
    /// If `f` returns an error, nothing is written.
    pub fn write<R, E>(
        &self,
        actor: &Actor,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        let mut wtx = self.db.begin_write().map_err(StoreError::from)?;
        wtx.set_durability(Durability::Immediate)
            .map_err(StoreError::from)?;
        let mut tx = Tx {
            wtx: &wtx,
            actor,
            events: Vec::new(),
            outbox: Vec::new(),
        };
        let r = f(&mut tx)?;
        let (events, outbox) = (tx.events, tx.outbox);
        audit::append(&wtx, actor, events)?;
        append_outbox(&wtx, actor, outbox)?;
        wtx.commit().map_err(StoreError::from)?;
        self.writes.fetch_add(1, Ordering::Release);
        Ok(r)
    }

    /// A consistent read-only view.
    pub fn read(&self) -> Result<Rx, StoreError> {
        Ok(Rx {
            rtx: self.db.begin_read()?,
        })
    }

    /// Walks the whole audit chain (backups, restores, the CLI, support bundles).
    pub fn verify_audit(&self) -> Result<ChainReport, StoreError> {
        let writes = self.writes.load(Ordering::Acquire);
        self.audit_walks.fetch_add(1, Ordering::Relaxed);
        let (report, end) = audit::verify_after(&self.db, None)?;
        *self.audit_checked.lock().unwrap_or_else(|e| e.into_inner()) = end;
        *self.audit_answer.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((writes, report.clone()));
        Ok(report)
    }

    /// The chain's state for a status page: the first call walks it all, later calls only the
    /// events written since the last intact walk. Sound while this process holds the database:
    /// redb locks the file and the write path only appends, so events already found intact
    /// cannot change underneath; a change made while the appliance was stopped is found by the
    /// first walk after start.
    /// With no write since the last answer, that answer is given again without reading the
    /// database. A write committing during a walk only makes the next call walk again.
    pub fn audit_status(&self) -> Result<ChainReport, StoreError> {
        let writes = self.writes.load(Ordering::Acquire);
        if let Some((at, report)) = &*self.audit_answer.lock().unwrap_or_else(|e| e.into_inner())
            && *at == writes
        {
            return Ok(report.clone());
        }
        let mut checked = self.audit_checked.lock().unwrap_or_else(|e| e.into_inner());
        self.audit_walks.fetch_add(1, Ordering::Relaxed);
        let (report, end) = audit::verify_after(&self.db, checked.as_ref())?;
        *checked = end;
        *self.audit_answer.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((writes, report.clone()));
        Ok(report)
    }

    /// How many times the audit chain was walked since open (tests of the status cache).
    pub fn audit_walks(&self) -> u64 {
        self.audit_walks.load(Ordering::Relaxed)
    }

    /// `tram audit verify`'s answer: (intact, what to print).
    pub fn verify_audit_text(&self) -> Result<(bool, String), StoreError> {
        let r = self.verify_audit()?;
        Ok(match r.broken {
            None => (true, format!("audit chain intact: {} events\n", r.events)),
            Some((seq, why)) => (
                false,
                format!(
                    "audit chain BROKEN at event {seq}: {why}\n{} events before it verify\n",
                    r.events
                ),
            ),
        })
    }

    pub fn audit_tail(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        audit::tail(&self.db, limit)
    }

    /// Continues the outbox above the district hub's high-water mark without dropping anything:
    /// every entry numbered above `receipted` (the last entry this box knows the hub stored) is
    /// moved, in order, to the numbers right above `hub_last`, in one write transaction. A box
    /// restored from an older backup, or one that wrote while it was being enrolled, has entries
    /// the hub never receipted under numbers the hub already holds from another box; skipping to
    /// the hub's mark would lose them, so they are renumbered and sent. When nothing needs moving
    /// and the outbox is behind, one marker entry (kind "relay.resume") numbered `hub_last + 1`
    /// keeps new entries above the hub's numbers. Returns how many entries were moved.
    pub fn outbox_continue_above(&self, receipted: u64, hub_last: u64) -> Result<u64, StoreError> {
        let wtx = self.db.begin_write()?;
        let moved = {
            let mut t = wtx.open_table(OUTBOX)?;
            let mut pending: Vec<(u64, OutboxEntry)> = Vec::new();
            for row in t.range(receipted + 1..)? {
                let (k, v) = row?;
                pending.push((k.value(), decode(OUTBOX.name(), "outbox", v.value())?));
            }
            let last = pending
                .last()
                .map(|(k, _)| *k)
                .or(t.last()?.map(|(k, _)| k.value()));
            if pending.first().is_some_and(|(k, _)| *k > hub_last) {
                // Already above the hub's numbers: nothing to move.
                0
            } else if pending.is_empty() {
                if last.unwrap_or(0) <= hub_last {
                    let e = OutboxEntry {
                        seq: hub_last + 1,
                        kind: "relay.resume".into(),
                        key: String::new(),
                        op: "mark".into(),
                        record: None,
                        at: jiff::Timestamp::now().to_string(),
                    };
                    let bytes =
                        serde_json::to_vec(&e).map_err(|e| StoreError::Db(e.to_string()))?;
                    t.insert(hub_last + 1, bytes.as_slice())?;
                }
                0
            } else {
                for (k, _) in &pending {
                    t.remove(*k)?;
                }
                let n = pending.len() as u64;
                for (i, (_, mut e)) in pending.into_iter().enumerate() {
                    e.seq = hub_last + 1 + i as u64;
                    let bytes =
                        serde_json::to_vec(&e).map_err(|e| StoreError::Db(e.to_string()))?;
                    t.insert(e.seq, bytes.as_slice())?;
                }
                n
            }
        };
        wtx.commit()?;
        // The outbox changed: counts cached against `writes` are stale.
        self.writes.fetch_add(1, Ordering::Release);
        Ok(moved)
    }

    /// Makes sure the next outbox entry is numbered above `seq`: a box restored from an older
    /// backup must not reuse numbers the district hub already holds from before. Writes one
    /// marker entry (kind "relay.resume") numbered `seq + 1` if the outbox is behind.
    pub fn outbox_reserve(&self, seq: u64) -> Result<bool, StoreError> {
        let wtx = self.db.begin_write()?;
        let moved = {
            let mut t = wtx.open_table(OUTBOX)?;
            let last = t.last()?.map(|(k, _)| k.value()).unwrap_or(0);
            if last > seq {
                false
            } else {
                let e = OutboxEntry {
                    seq: seq + 1,
                    kind: "relay.resume".into(),
                    key: String::new(),
                    op: "mark".into(),
                    record: None,
                    at: jiff::Timestamp::now().to_string(),
                };
                let bytes = serde_json::to_vec(&e).map_err(|e| StoreError::Db(e.to_string()))?;
                t.insert(seq + 1, bytes.as_slice())?;
                true
            }
        };
        wtx.commit()?;
        // The outbox changed: counts cached against `writes` are stale.
        self.writes.fetch_add(1, Ordering::Release);
        Ok(moved)
    }

    /// How many outbox entries come after `after`.
    pub fn outbox_count_after(&self, after: u64) -> Result<u64, StoreError> {
        let writes = self.writes.load(Ordering::Acquire);
        if let Some((w, a, n)) = *self
            .outbox_counted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            && (w, a) == (writes, after)
        {
            return Ok(n);
        }
        let n = self.count_outbox_after(after)?;
        *self
            .outbox_counted
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((writes, after, n));
        Ok(n)
    }

    fn count_outbox_after(&self, after: u64) -> Result<u64, StoreError> {
        let rtx = self.db.begin_read()?;
        let t = match rtx.open_table(OUTBOX) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut n = 0;
        for row in t.range(after + 1..)? {
            row?;
            n += 1;
        }
        Ok(n)
    }

    pub fn outbox(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rtx = self.db.begin_read()?;
        let t = match rtx.open_table(OUTBOX) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.range(after + 1..)? {
            let (_, v) = row?;
            out.push(decode(OUTBOX.name(), "outbox", v.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Direct access for the audit tamper test and the migration test only.
    #[doc(hidden)]
    pub fn raw_db(&self) -> &Database {
        &self.db
    }
}

fn append_outbox(
    wtx: &redb::WriteTransaction,
    actor: &Actor,
    entries: Vec<(String, String, String, Option<serde_json::Value>)>,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut t = wtx.open_table(OUTBOX)?;
    let mut seq = t.last()?.map(|(k, _)| k.value()).unwrap_or(0);
    for (kind, key, op, record) in entries {
        seq += 1;
        let e = OutboxEntry {
            seq,
            kind,
            key,
            op,
            record,
            at: actor.now.to_string(),
        };
        let bytes = serde_json::to_vec(&e).map_err(|e| StoreError::Db(e.to_string()))?;
        t.insert(seq, bytes.as_slice())?;
    }
    Ok(())
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.into(),
        key: key.into(),
        reason: e.to_string(),
    })
}

/// A write transaction in progress. Every put/delete is audited per the collection's policy.
pub struct Tx<'a> {
    wtx: &'a redb::WriteTransaction,
    actor: &'a Actor,
    events: Vec<audit::PendingEvent>,
    outbox: Vec<(String, String, String, Option<serde_json::Value>)>,
}

impl Tx<'_> {
    pub fn now(&self) -> jiff::Timestamp {
        self.actor.now
    }
    pub fn actor_id(&self) -> &str {
        &self.actor.id
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let t = self.wtx.open_table(c.def())?;
        let v = t.get(key)?;
        v.map(|v| decode(c.name, key, v.value())).transpose()
    }

    /// Inserts or replaces a record; `action` names the change in the audit log.
    pub fn put<T: Serialize + DeserializeOwned>(
        &mut self,
        c: &Collection<T>,
        key: &str,
        value: &T,
        action: &str,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Db(e.to_string()))?;
        let before = {
            let mut t = self.wtx.open_table(c.def())?;
            t.insert(key, bytes.as_slice())?
                .map(|old| old.value().to_vec())
        };
        self.record(c, key, action, before, Some(bytes));
        Ok(())
    }

    pub fn delete<T>(
        &mut self,
        c: &Collection<T>,
        key: &str,
        action: &str,
    ) -> Result<bool, StoreError> {
        let before = {
            let mut t = self.wtx.open_table(c.def())?;
            t.remove(key)?.map(|old| old.value().to_vec())
        };
        let existed = before.is_some();
        if existed {
            self.record(c, key, action, before, None);
        }
        Ok(existed)
    }

    /// All records whose key starts with `prefix`, in key order.
    pub fn scan<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let t = self.wtx.open_table(c.def())?;
        scan_table(&t, c.name, prefix)
    }

    /// A semantic audit event with no stored record of its own (a login, a logout everywhere).
    pub fn event(&mut self, action: &str, target: &str, detail: Option<serde_json::Value>) {
        self.events.push(audit::PendingEvent {
            action: action.into(),
            target: target.into(),
            before: None,
            after: detail,
        });
    }

    fn record<T>(
        &mut self,
        c: &Collection<T>,
        key: &str,
        action: &str,
        before: Option<Vec<u8>>,
        after: Option<Vec<u8>>,
    ) {
        let as_value = |b: &Option<Vec<u8>>| -> Option<serde_json::Value> {
            b.as_ref().map(|b| match c.audit {
                AuditPolicy::Digest => {
                    serde_json::Value::String(format!("blake3:{}", blake3::hash(b).to_hex()))
                }
                _ => serde_json::from_slice(b).unwrap_or(serde_json::Value::Null),
            })
        };
        if c.audit != AuditPolicy::None {
            self.events.push(audit::PendingEvent {
                action: action.into(),
                target: format!("{}/{}", c.name, key),
                before: as_value(&before),
                after: as_value(&after),
            });
        }
        if let Some(kind) = c.relay_kind {
            let parse = |b: &Option<Vec<u8>>| -> Option<serde_json::Value> {
                b.as_ref().and_then(|b| serde_json::from_slice(b).ok())
            };
            let (old, record) = (parse(&before), parse(&after));
            let name = |v: &Option<serde_json::Value>| match (c.relay_key, v) {
                (Some(f), Some(v)) => f(key, v),
                _ => key.to_string(),
            };
            let (old_key, new_key) = (name(&old), name(&record));
            let op = match (&before, &after) {
                (None, Some(_)) => "create",
                // Renamed for the district (a corrected mã định danh): the old name goes away.
                (Some(_), Some(_)) if old_key != new_key => {
                    self.outbox
                        .push((kind.into(), old_key.clone(), "delete".into(), None));
                    "create"
                }
                (Some(_), Some(_)) => "update",
                _ => "delete",
            };
            let key = if after.is_some() { new_key } else { old_key };
            self.outbox.push((kind.into(), key, op.into(), record));
        }
    }
}

fn each_in_table<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
    prefix: &str,
    f: &mut dyn FnMut(&str, T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for row in t.range(prefix..)? {
        let (k, v) = row?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        f(k, decode(name, k, v.value())?)?;
    }
    Ok(())
}

fn scan_table<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
    prefix: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out = Vec::new();
    each_in_table(t, name, prefix, &mut |k, v| {
        out.push((k.to_string(), v));
        Ok(())
    })?;
    Ok(out)
}

/// Reading, from either a snapshot (`Rx`) or inside a write (`Tx`), so domain code that
/// computes from stored records runs the same in a page and in the transaction that locks a term.
pub trait Read {
    fn get<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        key: &str,
    ) -> Result<Option<T>, StoreError>;
    fn scan<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError>;
    /// Calls `f` with every record whose key starts with `prefix`, in key order, without
    /// collecting them (for passes over a whole table).
    fn scan_each<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
        f: &mut dyn FnMut(&str, T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

impl Read for Rx {
    fn get<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        Rx::get(self, c, key)
    }
    fn scan_each<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
        f: &mut dyn FnMut(&str, T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self.rtx.open_table(c.def()) {
            Ok(t) => each_in_table(&t, c.name, prefix, f),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
    fn scan<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        Rx::scan(self, c, prefix)
    }
}

impl Read for Tx<'_> {
    fn get<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        Tx::get(self, c, key)
    }
    fn scan_each<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
        f: &mut dyn FnMut(&str, T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.wtx.open_table(c.def())?;
        each_in_table(&t, c.name, prefix, f)
    }
    fn scan<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        Tx::scan(self, c, prefix)
    }
}

/// A consistent snapshot for reads.
pub struct Rx {
    rtx: redb::ReadTransaction,
}

impl Rx {
    pub fn get<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let t = match self.rtx.open_table(c.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let v = t.get(key)?;
        v.map(|v| decode(c.name, key, v.value())).transpose()
    }

    /// Calls `f` with each key starting with `prefix`, in order, without decoding values,
    /// until `f` returns false (index lookups that stop after enough hits).
    pub fn keys_while<T>(
        &self,
        c: &Collection<T>,
        prefix: &str,
        f: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), StoreError> {
        let t = match self.rtx.open_table(c.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for row in t.range(prefix..)? {
            let (k, _) = row?;
            let k = k.value();
            if !k.starts_with(prefix) || !f(k) {
                break;
            }
        }
        Ok(())
    }

    /// Calls `f` with every record of the collection, last key first, until `f` returns false
    /// (newest-first reads that stop when they have enough).
    pub fn each_rev_while<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        f: &mut dyn FnMut(&str, T) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let t = match self.rtx.open_table(c.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for row in t.iter()?.rev() {
            let (k, v) = row?;
            let k = k.value();
            if !f(k, decode(c.name, k, v.value())?)? {
                break;
            }
        }
        Ok(())
    }

    pub fn scan<T: DeserializeOwned>(
        &self,
        c: &Collection<T>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let t = match self.rtx.open_table(c.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        scan_table(&t, c.name, prefix)
    }

    pub fn count<T>(&self, c: &Collection<T>) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        match self.rtx.open_table(c.def()) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

/// A file built on disk in `dir` (the data directory), opened, then unlinked: a large export
/// (a download, a CSDL sheet) never sits in memory, and nothing is left behind if the work
/// dies. Here, the lowest layer, so every capability and the http kernel may use it.
pub fn unlinked_file(dir: &std::path::Path, prefix: &str) -> std::io::Result<std::fs::File> {
    let path = dir.join(format!(".{prefix}-{:016x}", rand::random::<u64>()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Thing {
        n: u32,
    }
    const THINGS: Collection<Thing> =
        Collection::new("auth.accounts.v2", AuditPolicy::Values, Some("thing"));

    /// A schema of one table: the store needs no capability to work.
    pub(crate) fn schema_of(tables: &[&'static str]) -> Schema {
        Schema {
            version: 1,
            tables: tables.to_vec(),
            migrations: vec![],
        }
    }

    fn actor() -> Actor {
        Actor {
            id: "u1".into(),
            now: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn write_path_audits_and_queues_outbox_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &schema_of(&[THINGS.name])).unwrap();
        s.write(&actor(), |tx| {
            tx.put(&THINGS, "a", &Thing { n: 1 }, "thing.create")
        })
        .unwrap();
        s.write(&actor(), |tx| {
            tx.put(&THINGS, "a", &Thing { n: 2 }, "thing.update")
        })
        .unwrap();
        // A failing mutation leaves nothing behind: no record, no event, no outbox entry.
        let r: Result<(), StoreError> = s.write(&actor(), |tx| {
            tx.put(&THINGS, "b", &Thing { n: 3 }, "thing.create")?;
            Err(StoreError::Db("refused".into()))
        });
        assert!(r.is_err());
        let rx = s.read().unwrap();
        assert_eq!(rx.get(&THINGS, "a").unwrap(), Some(Thing { n: 2 }));
        assert_eq!(rx.get(&THINGS, "b").unwrap(), None);
        let tail = s.audit_tail(10).unwrap();
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].action, "thing.update");
        assert_eq!(tail[0].before, Some(serde_json::json!({"n": 1})));
        assert_eq!(tail[0].after, Some(serde_json::json!({"n": 2})));
        let ob = s.outbox(0, 10).unwrap();
        assert_eq!(ob.len(), 2);
        assert_eq!(ob[1].op, "update");
        assert!(s.verify_audit().unwrap().is_intact());
    }

    /// The backlog count is remembered between writes (the admin home asks on every view); every
    /// way the outbox changes makes the next count fresh.
    #[test]
    fn the_outbox_count_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &schema_of(&[THINGS.name])).unwrap();
        let put = |k: &str| {
            s.write(&actor(), |tx| {
                tx.put(&THINGS, k, &Thing { n: 1 }, "thing.create")
            })
            .unwrap()
        };
        put("a");
        put("b");
        assert_eq!(s.outbox_count_after(0).unwrap(), 2);
        assert_eq!(s.outbox_count_after(1).unwrap(), 1);
        put("c");
        assert_eq!(s.outbox_count_after(1).unwrap(), 2);
        // Reserving above the hub's numbers adds a marker entry.
        assert!(s.outbox_reserve(10).unwrap());
        assert_eq!(s.outbox_count_after(1).unwrap(), 3);
        // Renumbering what the hub never receipted above its mark keeps the count.
        s.outbox_continue_above(0, 20).unwrap();
        assert_eq!(s.outbox_count_after(0).unwrap(), 4);
        assert_eq!(s.outbox_count_after(20).unwrap(), 4);
    }

    #[test]
    fn unknown_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("tram.redb")).unwrap();
            let w = db.begin_write().unwrap();
            w.open_table(TableDefinition::<&str, &[u8]>::new("stray.v1"))
                .unwrap();
            w.commit().unwrap();
        }
        match Store::open(dir.path(), &schema_of(&[THINGS.name])) {
            Err(StoreError::UnknownTable(t)) => assert_eq!(t, "stray.v1"),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("opened a database with an unregistered table"),
        }
    }
}
