//! The hub on PostgreSQL (`tram district serve --database-url postgres://…`): the same
//! [`HubStorage`] as [`super::RedbHub`], for a province whose database must be backed up,
//! replicated and queried with its own tools, and served by several hub processes at once.
//!
//! Exactly once, also across processes: `store_batch` runs in one READ COMMITTED transaction
//! that first locks the school's row (`SELECT … FOR UPDATE`). Every writer of a school's
//! counters takes that lock, so two nodes receiving the same batch (a school retrying through
//! a load balancer) are serialised on it: the second sees the first's committed `last_seq` and
//! answers with the stored receipt. Row locks rather than SERIALIZABLE because schools never
//! touch each other's rows: batches of different schools run in parallel, and nothing has to
//! be retried on a serialisation failure. Records, receipt and counters commit together or
//! not at all; a connection lost before COMMIT leaves nothing behind.
//!
//! The client is the synchronous `postgres` crate with an r2d2 pool: every hub storage call is
//! blocking already (routes call it inside `spawn_blocking`). Calls made on a runtime worker
//! (the upload's authorisation) go through `block_in_place`, as the client runs its own small
//! runtime. Migrations are refinery's, from `appliance/migrations/hub/`.

use std::collections::BTreeMap;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use super::reports::{PartCounts, REPORT_KINDS};
use super::{
    HeldRecord, HubError, HubStorage, Receipt, School, check_not_expired, check_public_key,
    new_token, secret_hash,
};
use crate::relay::batch::Envelope;
use crate::store::OutboxEntry;

mod embedded {
    refinery::embed_migrations!("migrations/hub");
}

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// How long a request waits for a connection before the hub answers 503 (schools retry).
const CHECKOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Any two nodes migrating at once take turns on this advisory lock.
const MIGRATION_LOCK: i64 = 0x0074_7261_6d68_7562; // "tramhub"

pub struct PgHub {
    /// Always Some; taken only by Drop.
    pool: Option<Pool>,
}

impl Drop for PgHub {
    /// A client's destructor blocks on its connection: the last hub handle is often dropped on
    /// a runtime worker as the server shuts down, where that would panic (and abort).
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            blocking(move || drop(pool));
        }
    }
}

/// A database error: the database unreachable, gone or shutting down is `Unavailable` (the
/// upload answers 503 and the school retries); anything else is the hub's own fault.
fn db(e: postgres::Error) -> HubError {
    use postgres::error::SqlState;
    let transient = match e.code() {
        // No SQLSTATE: the connection broke or could not be made.
        None => true,
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
        }
    };
    if transient {
        HubError::Unavailable(e.to_string())
    } else {
        HubError::Database(e.to_string())
    }
}

fn pool_error(e: r2d2::Error) -> HubError {
    HubError::Unavailable(e.to_string())
}

/// Runs blocking database work; on a multi-threaded runtime's worker it steps off first (the
/// client's own runtime cannot start inside a running one).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

const SCHOOL_COLUMNS: &str = "code, name, public_key, secret_hash, enrolled_at, last_seq, \
     last_outbox, last_contact, bytes, batches, records, backlog, errors, reenrolled_at";

fn school_row(r: &postgres::Row) -> Result<School, HubError> {
    let errors: serde_json::Value = r.get(12);
    Ok(School {
        code: r.get(0),
        name: r.get(1),
        public_key: r.get(2),
        secret_hash: r.get(3),
        enrolled_at: r.get(4),
        last_seq: r.get::<_, i64>(5) as u64,
        last_outbox: r.get::<_, i64>(6) as u64,
        last_contact: r.get(7),
        bytes: r.get::<_, i64>(8) as u64,
        batches: r.get::<_, i64>(9) as u64,
        records: r.get::<_, i64>(10) as u64,
        backlog: r.get::<_, i64>(11) as u64,
        errors: serde_json::from_value(errors)
            .map_err(|e| HubError::Database(format!("hub_schools.errors: {e}")))?,
        reenrolled_at: r.get(13),
    })
}

fn receipt_row(r: &postgres::Row) -> Receipt {
    Receipt {
        school: r.get(0),
        seq: r.get::<_, i64>(1) as u64,
        first: r.get::<_, i64>(2) as u64,
        last: r.get::<_, i64>(3) as u64,
        entries: r.get::<_, i64>(4) as u64,
        payload_blake3: r.get(5),
        bytes: r.get::<_, i64>(6) as u64,
        received_at: r.get(7),
    }
}

const RECEIPT_SQL: &str = "SELECT school, seq, first_outbox, last_outbox, entries, \
     payload_blake3, bytes, received_at FROM hub_receipts WHERE school = $1 AND seq = $2";

/// Counts and sizes are u64 in the hub and bigint in the database; none comes near 2^63.
fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgHub {
    /// Connects (failing within a few seconds when the database cannot be reached) and brings
    /// the schema up to date.
    pub fn connect(url: &str) -> Result<PgHub, HubError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| HubError::Database(format!("not a PostgreSQL URL ({e})")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CHECKOUT_TIMEOUT);
        }
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = blocking(|| {
            r2d2::Pool::builder()
                .max_size(16)
                .min_idle(Some(1))
                .connection_timeout(CHECKOUT_TIMEOUT)
                // r2d2 logs each failed attempt; the caller reports the outcome once.
                .error_handler(Box::new(r2d2::NopErrorHandler))
                .build(manager)
        })
        .map_err(pool_error)?;
        let hub = PgHub { pool: Some(pool) };
        hub.migrate()?;
        Ok(hub)
    }

    fn migrate(&self) -> Result<(), HubError> {
        blocking(|| {
            let mut c = self.conn()?;
            c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .map_err(db)?;
            let done = embedded::migrations::runner()
                .run(&mut *c)
                .map_err(|e| HubError::Database(format!("migrating the hub's schema: {e}")));
            c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                .map_err(db)?;
            done.map(|_| ())
        })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, HubError> {
        self.pool
            .as_ref()
            .ok_or_else(|| HubError::Unavailable("closed".into()))?
            .get()
            .map_err(pool_error)
    }
}

impl HubStorage for PgHub {
    fn issue_token_until(
        &self,
        school: &str,
        name: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<String, HubError> {
        let token = new_token(school);
        let expires_at = expires_at.to_string();
        let now = jiff::Timestamp::now().to_string();
        blocking(|| -> Result<(), HubError> {
            let mut c = self.conn()?;
            let mut tx = c.transaction().map_err(db)?;
            // A new token cancels the school's unused older ones, as on redb.
            tx.execute(
                "UPDATE hub_tokens SET used_at = 'replaced ' || $2 WHERE school = $1 AND used_at IS NULL",
                &[&school.trim(), &now],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO hub_tokens (hash, school, name, issued_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &secret_hash(&token),
                    &school.trim(),
                    &name.trim(),
                    &now,
                    &expires_at,
                ],
            )
            .map_err(db)?;
            tx.commit().map_err(db)
        })?;
        Ok(token)
    }

    fn enrol(&self, token: &str, public_key: &str) -> Result<(School, String), HubError> {
        check_public_key(public_key)?;
        let h = secret_hash(token.trim());
        let secret = hex::encode(rand::random::<[u8; 24]>());
        let sh = secret_hash(&secret);
        let now = jiff::Timestamp::now().to_string();
        let school = blocking(|| -> Result<School, HubError> {
            let mut c = self.conn()?;
            let mut tx = c.transaction().map_err(db)?;
            // The token's row lock: two nodes offered the same token enrol one school once.
            let t = tx
                .query_opt(
                    "SELECT school, name, used_at, expires_at FROM hub_tokens WHERE hash = $1 FOR UPDATE",
                    &[&h],
                )
                .map_err(db)?
                .ok_or(HubError::BadToken)?;
            if t.get::<_, Option<String>>(2).is_some() {
                return Err(HubError::BadToken);
            }
            check_not_expired(
                t.get::<_, Option<String>>(3).as_deref(),
                jiff::Timestamp::now(),
            )?;
            let (code, name): (String, String) = (t.get(0), t.get(1));
            tx.execute(
                "UPDATE hub_tokens SET used_at = $2 WHERE hash = $1",
                &[&h, &now],
            )
            .map_err(db)?;
            // Re-enrolling a school (a replaced box) keeps its sequence, as on redb.
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO hub_schools (code, name, public_key, secret_hash, enrolled_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET \
                         public_key = excluded.public_key, secret_hash = excluded.secret_hash, \
                         reenrolled_at = excluded.enrolled_at \
                         RETURNING {SCHOOL_COLUMNS}"
                    ),
                    &[&code, &name, &public_key, &sh, &now],
                )
                .map_err(db)?;
            let s = school_row(&row)?;
            tx.commit().map_err(db)?;
            Ok(s)
        })?;
        Ok((school, secret))
    }

    fn school(&self, code: &str) -> Result<Option<School>, HubError> {
        blocking(|| {
            self.conn()?
                .query_opt(
                    &format!("SELECT {SCHOOL_COLUMNS} FROM hub_schools WHERE code = $1"),
                    &[&code],
                )
                .map_err(db)?
                .as_ref()
                .map(school_row)
                .transpose()
        })
    }

    fn schools(&self) -> Result<Vec<School>, HubError> {
        blocking(|| {
            self.conn()?
                .query(
                    &format!("SELECT {SCHOOL_COLUMNS} FROM hub_schools ORDER BY code"),
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(school_row)
                .collect()
        })
    }

    fn receipt(&self, school: &str, seq: u64) -> Result<Option<Receipt>, HubError> {
        blocking(|| {
            Ok(self
                .conn()?
                .query_opt(RECEIPT_SQL, &[&school, &i(seq)])
                .map_err(db)?
                .as_ref()
                .map(receipt_row))
        })
    }

    fn store_batch(
        &self,
        env: &Envelope,
        entries: &[OutboxEntry],
        bytes: u64,
    ) -> Result<Receipt, HubError> {
        // A batch may carry several changes of one record: the newest wins, as on redb, and a
        // single INSERT … ON CONFLICT may touch each row only once.
        let mut newest: BTreeMap<(&str, &str), &OutboxEntry> = BTreeMap::new();
        for e in entries {
            let slot = newest.entry((e.kind.as_str(), e.key.as_str())).or_insert(e);
            if e.seq > slot.seq {
                *slot = e;
            }
        }
        let (mut kinds, mut keys, mut ops, mut records, mut seqs, mut ats) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for ((kind, key), e) in &newest {
            kinds.push(*kind);
            keys.push(*key);
            ops.push(e.op.as_str());
            // Borrowed, not cloned: a deep copy of every record was a good share of the hub's
            // CPU on a 6,000-record batch (allocation and memmove in `perf`, bench/hub-ingest.sh).
            records.push(e.record.as_ref());
            seqs.push(i(e.seq));
            ats.push(e.at.as_str());
        }
        blocking(|| -> Result<Receipt, HubError> {
            let mut c = self.conn()?;
            let mut tx = c.transaction().map_err(db)?;
            let row = tx
                .query_opt(
                    &format!("SELECT {SCHOOL_COLUMNS} FROM hub_schools WHERE code = $1 FOR UPDATE"),
                    &[&env.school],
                )
                .map_err(db)?
                .ok_or_else(|| HubError::UnknownSchool(env.school.clone()))?;
            let s = school_row(&row)?;
            if env.seq <= s.last_seq {
                let r = tx
                    .query_opt(RECEIPT_SQL, &[&env.school, &i(env.seq)])
                    .map_err(db)?
                    .as_ref()
                    .map(receipt_row)
                    .ok_or(HubError::Conflict(env.seq))?;
                if r.payload_blake3 != env.payload_blake3 {
                    return Err(HubError::Conflict(env.seq));
                }
                return Ok(r);
            }
            if env.seq != s.last_seq + 1 {
                return Err(HubError::Gap {
                    expected: s.last_seq + 1,
                    got: env.seq,
                });
            }
            let now = jiff::Timestamp::now().to_string();
            // The school's report part changes with its records, in this transaction (under
            // the school's row lock): what the stored versions of the reported kinds counted
            // is taken back, the newer versions' added.
            let mut part = match read_part(&mut tx, &env.school)? {
                Some(p) => p,
                None => recount_in(&mut tx, &env.school)?,
            };
            let (mut rkinds, mut rkeys) = (vec![], vec![]);
            for (kind, key) in newest.keys() {
                if REPORT_KINDS.contains(kind) {
                    rkinds.push(*kind);
                    rkeys.push(*key);
                }
            }
            if !rkinds.is_empty() {
                let stored = tx
                    .query(
                        "SELECT r.kind, r.key, r.outbox_seq, r.record FROM hub_records r \
                         JOIN UNNEST($2::text[], $3::text[]) AS u(kind, key) \
                           ON r.kind = u.kind AND r.key = u.key \
                         WHERE r.school = $1",
                        &[&env.school, &rkinds, &rkeys],
                    )
                    .map_err(db)?;
                let mut old: BTreeMap<(String, String), (i64, Option<serde_json::Value>)> =
                    BTreeMap::new();
                for r in &stored {
                    old.insert((r.get(0), r.get(1)), (r.get(2), r.get(3)));
                }
                for (kind, key) in rkinds.iter().zip(&rkeys) {
                    let e = newest[&(*kind, *key)];
                    let before = old.get(&(kind.to_string(), key.to_string()));
                    // Stored only when newer than what is there (the upsert's WHERE below).
                    if before.is_some_and(|(seq, _)| *seq >= i(e.seq)) {
                        continue;
                    }
                    part.apply(
                        kind,
                        key,
                        before.and_then(|(_, r)| r.as_ref()),
                        e.record.as_ref(),
                    );
                }
            }
            write_part(&mut tx, &env.school, &part)?;
            tx.execute(
                "INSERT INTO hub_records (school, kind, key, op, record, outbox_seq, at) \
                 SELECT $1::text, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::jsonb[], \
                 $6::int8[], $7::text[]) \
                 ON CONFLICT (school, kind, key) DO UPDATE SET op = excluded.op, \
                 record = excluded.record, outbox_seq = excluded.outbox_seq, at = excluded.at \
                 WHERE hub_records.outbox_seq < excluded.outbox_seq",
                &[&env.school, &kinds, &keys, &ops, &records, &seqs, &ats],
            )
            .map_err(db)?;
            let r = Receipt {
                school: env.school.clone(),
                seq: env.seq,
                first: env.first,
                last: env.last,
                entries: env.entries,
                payload_blake3: env.payload_blake3.clone(),
                bytes,
                received_at: now.clone(),
            };
            tx.execute(
                "INSERT INTO hub_receipts (school, seq, first_outbox, last_outbox, entries, \
                 payload_blake3, bytes, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &r.school,
                    &i(r.seq),
                    &i(r.first),
                    &i(r.last),
                    &i(r.entries),
                    &r.payload_blake3,
                    &i(r.bytes),
                    &r.received_at,
                ],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE hub_schools SET last_seq = $2, last_outbox = $3, last_contact = $4, \
                 bytes = bytes + $5, batches = batches + 1, records = records + $6, backlog = $7 \
                 WHERE code = $1",
                &[
                    &env.school,
                    &i(env.seq),
                    &i(env.last),
                    &now,
                    &i(bytes),
                    &i(env.entries),
                    &i(env.backlog),
                ],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(r)
        })
    }

    fn note_error(&self, school: &str, why: &str) -> Result<(), HubError> {
        let now = jiff::Timestamp::now().to_string();
        blocking(|| {
            // One statement: append, keep the newest 20, under the row's lock.
            self.conn()?
                .execute(
                    "UPDATE hub_schools SET last_contact = $2, errors = (\
                       SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb) FROM (\
                         SELECT e, n FROM jsonb_array_elements(errors || jsonb_build_array(\
                           jsonb_build_array($2::text, $3::text))) WITH ORDINALITY AS x(e, n) \
                         ORDER BY n DESC LIMIT 20) newest) \
                     WHERE code = $1",
                    &[&school, &now, &why],
                )
                .map_err(db)?;
            Ok(())
        })
    }

    fn records_after(
        &self,
        school: &str,
        after: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HeldRecord>, HubError> {
        let (ck, ckey) = match cursor.map(|c| c.split_once('\u{1}').unwrap_or((c, ""))) {
            Some((k, key)) => (Some(k), key),
            None => (None, ""),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        blocking(|| {
            let rows = self
                .conn()?
                .query(
                    "SELECT kind, key, op, outbox_seq, at, record FROM hub_records \
                     WHERE school = $1 AND outbox_seq > $2 \
                       AND ($3::text IS NULL OR (kind, key) > ($3::text COLLATE \"C\", $4::text COLLATE \"C\")) \
                     ORDER BY kind, key LIMIT $5",
                    &[&school, &i(after), &ck, &ckey, &limit],
                )
                .map_err(db)?;
            Ok(rows
                .iter()
                .map(|r| HeldRecord {
                    kind: r.get(0),
                    key: r.get(1),
                    op: r.get(2),
                    outbox_seq: r.get::<_, i64>(3) as u64,
                    at: r.get(4),
                    record: r.get(5),
                })
                .collect())
        })
    }

    fn each_record(
        &self,
        kind: &str,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) -> Result<(), HubError> {
        use postgres::fallible_iterator::FallibleIterator;
        blocking(|| {
            let mut c = self.conn()?;
            // Streamed row by row: a province holds millions of records.
            let mut rows = c
                .query_raw(
                    "SELECT school, record FROM hub_records \
                     WHERE kind = $1 AND record IS NOT NULL ORDER BY school, key",
                    [kind],
                )
                .map_err(db)?;
            while let Some(r) = rows.next().map_err(db)? {
                let school: &str = r.get(0);
                let record: serde_json::Value = r.get(1);
                f(school, &record);
            }
            Ok(())
        })
    }

    fn each_keyed_record_of(
        &self,
        school: &str,
        kind: &str,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) -> Result<(), HubError> {
        use postgres::fallible_iterator::FallibleIterator;
        blocking(|| {
            let mut c = self.conn()?;
            // The primary key's prefix (school, kind): one school's share, streamed.
            let mut rows = c
                .query_raw(
                    "SELECT key, record FROM hub_records \
                     WHERE school = $1 AND kind = $2 AND record IS NOT NULL ORDER BY key",
                    [school, kind],
                )
                .map_err(db)?;
            while let Some(r) = rows.next().map_err(db)? {
                let key: &str = r.get(0);
                let record: serde_json::Value = r.get(1);
                f(key, &record);
            }
            Ok(())
        })
    }

    fn record_texts_of(
        &self,
        school: &str,
        kind: &str,
    ) -> Result<super::csdl::RecordTexts, HubError> {
        use postgres::fallible_iterator::FallibleIterator;
        blocking(|| {
            let mut c = self.conn()?;
            let mut rows = c
                .query_raw(
                    "SELECT record FROM hub_records \
                     WHERE school = $1 AND kind = $2 AND record IS NOT NULL ORDER BY key",
                    [school, kind],
                )
                .map_err(db)?;
            let mut all = super::csdl::RecordTexts::default();
            while let Some(r) = rows.next().map_err(db)? {
                all.push_text(r.try_get::<_, JsonText>(0).map_err(db)?.0);
            }
            Ok(all)
        })
    }

    fn report_part(&self, school: &str) -> Result<Option<PartCounts>, HubError> {
        blocking(|| {
            let mut c = self.conn()?;
            let mut tx = c.transaction().map_err(db)?;
            read_part(&mut tx, school)
        })
    }

    fn report_parts(&self) -> Result<Vec<(String, PartCounts)>, HubError> {
        use postgres::fallible_iterator::FallibleIterator;
        blocking(|| {
            let mut c = self.conn()?;
            let mut rows = c
                .query_raw(
                    "SELECT school, part FROM hub_report_parts",
                    std::iter::empty::<&str>(),
                )
                .map_err(db)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(db)? {
                let school: String = r.get(0);
                out.push((school.clone(), decode_part(&school, r.get(1))?));
            }
            Ok(out)
        })
    }

    fn schools_without_report_part(&self) -> Result<Vec<String>, HubError> {
        blocking(|| {
            Ok(self
                .conn()?
                .query(
                    "SELECT code FROM hub_schools s WHERE last_seq > 0 AND NOT EXISTS \
                     (SELECT 1 FROM hub_report_parts p WHERE p.school = s.code) ORDER BY code",
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn rebuild_report_part(&self, school: &str) -> Result<PartCounts, HubError> {
        blocking(|| {
            let mut c = self.conn()?;
            let mut tx = c.transaction().map_err(db)?;
            // The school's row lock, as store_batch takes it: no batch of this school changes
            // its records while they are counted.
            tx.query_opt(
                "SELECT code FROM hub_schools WHERE code = $1 FOR UPDATE",
                &[&school],
            )
            .map_err(db)?
            .ok_or_else(|| HubError::UnknownSchool(school.into()))?;
            let part = recount_in(&mut tx, school)?;
            write_part(&mut tx, school, &part)?;
            tx.commit().map_err(db)?;
            Ok(part)
        })
    }

    fn set_signing_ca(&self, school: &str, pem: &str) -> Result<(), HubError> {
        let now = jiff::Timestamp::now().to_string();
        blocking(|| {
            let n = self
                .conn()?
                .execute(
                    "INSERT INTO hub_signing_cas (school, pem, at) \
                     SELECT code, $2, $3 FROM hub_schools WHERE code = $1 \
                     ON CONFLICT (school) DO UPDATE SET pem = EXCLUDED.pem, at = EXCLUDED.at",
                    &[&school, &pem, &now],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(HubError::UnknownSchool(school.into()));
            }
            Ok(())
        })
    }

    fn signing_cas(&self) -> Result<Vec<(String, String)>, HubError> {
        blocking(|| {
            Ok(self
                .conn()?
                .query(
                    "SELECT school, pem FROM hub_signing_cas ORDER BY school",
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }
}

fn decode_part(school: &str, bytes: &[u8]) -> Result<PartCounts, HubError> {
    serde_json::from_slice(bytes)
        .map_err(|e| HubError::Database(format!("hub_report_parts of {school}: {e}")))
}

fn read_part(
    tx: &mut postgres::Transaction<'_>,
    school: &str,
) -> Result<Option<PartCounts>, HubError> {
    tx.query_opt(
        "SELECT part FROM hub_report_parts WHERE school = $1",
        &[&school],
    )
    .map_err(db)?
    .map(|r| decode_part(school, r.get(0)))
    .transpose()
}

fn write_part(
    tx: &mut postgres::Transaction<'_>,
    school: &str,
    part: &PartCounts,
) -> Result<(), HubError> {
    let bytes = serde_json::to_vec(part).map_err(|e| HubError::Database(e.to_string()))?;
    tx.execute(
        "INSERT INTO hub_report_parts (school, part) VALUES ($1, $2) \
         ON CONFLICT (school) DO UPDATE SET part = EXCLUDED.part",
        &[&school, &bytes],
    )
    .map_err(db)?;
    Ok(())
}

/// The school's report part counted from its records as the transaction sees them, streamed.
fn recount_in(tx: &mut postgres::Transaction<'_>, school: &str) -> Result<PartCounts, HubError> {
    use postgres::fallible_iterator::FallibleIterator;
    let kinds: Vec<&str> = REPORT_KINDS.to_vec();
    let mut part = PartCounts::default();
    let mut rows = tx
        .query_raw(
            "SELECT kind, key, record FROM hub_records \
             WHERE school = $1 AND kind = ANY($2) AND record IS NOT NULL ORDER BY kind, key",
            [&school as &(dyn postgres::types::ToSql + Sync), &kinds],
        )
        .map_err(db)?;
    while let Some(r) = rows.next().map_err(db)? {
        let (kind, key): (&str, &str) = (r.get(0), r.get(1));
        let record: serde_json::Value = r.get(2);
        part.apply(kind, key, None, Some(&record));
    }
    Ok(part)
}

/// A `jsonb` (or `json`) column's text as the server sends it, borrowed from the row: no
/// `serde_json::Value` is built (the CSDL export parses it into borrowed structs).
struct JsonText<'a>(&'a str);

impl<'a> postgres::types::FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = if *ty == postgres::types::Type::JSONB {
            // jsonb's binary form is a version byte (1) and the text.
            match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err("unsupported jsonb encoding version".into()),
            }
        } else {
            raw
        };
        Ok(JsonText(std::str::from_utf8(text)?))
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        matches!(
            *ty,
            postgres::types::Type::JSONB | postgres::types::Type::JSON
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database in the cluster scripts/test starts, or None (said loudly; a failure
    /// under CI, where the cluster must be there).
    fn fresh() -> Option<PgHub> {
        let Ok(cluster) = std::env::var("TRAM_TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "TRAM_TEST_DATABASE_URL is not set under CI"
            );
            eprintln!("SKIPPED on PostgreSQL: TRAM_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("tram_u_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut c = postgres::Client::connect(&cluster, NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let server = cluster
            .rsplit_once('/')
            .map_or(cluster.as_str(), |(s, _)| s);
        Some(PgHub::connect(&format!("{server}/{name}")).unwrap())
    }

    #[test]
    fn batches_are_stored_exactly_once_in_order_on_postgresql() {
        if let Some(h) = fresh() {
            crate::district::tests::exactly_once_in_order(&h);
        }
    }

    #[test]
    fn maintained_report_parts_equal_a_recount_on_postgresql() {
        if let Some(h) = fresh() {
            crate::district::tests::parts_follow_the_records(&h, &|| {
                blocking(|| {
                    h.conn()
                        .unwrap()
                        .execute("DELETE FROM hub_report_parts", &[])
                })
                .unwrap();
            });
        }
    }

    #[test]
    fn tokens_expire_and_reenrolments_are_recorded_on_postgresql() {
        if let Some(h) = fresh() {
            crate::district::tests::tokens_expire_and_reenrolments_are_recorded(&h);
        }
    }

    #[test]
    fn rejections_keep_the_newest_twenty_and_records_page_by_kind_and_key() {
        let Some(h) = fresh() else { return };
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let token = h.issue_token("s1", "").unwrap();
        h.enrol(&token, &hex::encode(key.verifying_key().to_bytes()))
            .unwrap();
        for n in 0..25 {
            h.note_error("s1", &format!("why {n}")).unwrap();
        }
        let errors = h.school("s1").unwrap().unwrap().errors;
        assert_eq!(errors.len(), 20);
        assert_eq!((&errors[0].1[..], &errors[19].1[..]), ("why 5", "why 24"));
        let entries: Vec<OutboxEntry> = (1..=6)
            .map(|seq| OutboxEntry {
                seq,
                kind: if seq % 2 == 0 { "b" } else { "a" }.into(),
                key: format!("k{seq}"),
                op: "create".into(),
                record: Some(serde_json::json!({ "n": seq })),
                at: "t".into(),
            })
            .collect();
        let b = crate::relay::batch::build(&key, "s1", 1, &entries, 0, "t");
        crate::district::accept(&h, "s1", 1, &b).unwrap();
        let page = |cursor: Option<&str>| -> Vec<String> {
            h.records_after("s1", 1, cursor, 2)
                .unwrap()
                .iter()
                .map(|r| format!("{}\u{1}{}", r.kind, r.key))
                .collect()
        };
        // Outbox entries above 1, in (kind, key) order, two at a time.
        assert_eq!(page(None), ["a\u{1}k3", "a\u{1}k5"]);
        assert_eq!(page(Some("a\u{1}k5")), ["b\u{1}k2", "b\u{1}k4"]);
        assert_eq!(page(Some("b\u{1}k4")), ["b\u{1}k6"]);
    }
}
