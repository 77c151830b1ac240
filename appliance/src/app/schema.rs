//! The one list of every capability's tables and schema steps, handed to the store when it
//! opens: the store knows no capability, so this is where a new table or migration is added.
//!
//! History:
//! - 1: accounts had a single `role` (`auth.accounts.v1`).
//! - 2: accounts carry a set of `roles` (`auth::migrate::ROLES`).
//! - 3: the class roll index (`school::migrate::ROLL`).
//! - 4: the lesson-plan review queue (`lessons::migrate::REVIEW_QUEUE`).
//! - 5: opaque student ids ([`school::migrate::opaque_student_ids`]), rewriting the gradebook's
//!   and the library's rows that name a student.
//! - 6: a line in the sổ đăng bộ for every student already stored
//!   ([`school::migrate::REGISTER_LINES`]).
//! - 7: library items already shared marked "chưa thẩm định" (not yet vetted)
//!   ([`library::migrate::VETTING`]).
//! - 8: the one stamping queue ([`STAMP_QUEUE`]): the signed month approval PDFs without a
//!   time-stamp, and the GVCN signatures signed over before they got one, join it.
//! - 9: index keys of who sees a waiting or returned library item
//!   ([`library::migrate::HELD_KEYS`]).
//! - 10: what each lesson plan's link to a Phụ lục III line points at
//!   ([`dept::migrate::LINK_TARGETS`]).
//! - 11: the students' nơi sinh and dân tộc relayed once to the district
//!   ([`school::migrate::PROFILES_RELAYED`]).

use crate::store::{Migration, MigrationTx, Schema, StoreError};
use crate::{auth, dept, district, gradebook, lessons, library, school};

/// The schema version this build writes. A backup records it; a restore refuses a newer one.
pub const SCHEMA_VERSION: u64 = 11;

pub fn schema() -> Schema {
    Schema {
        version: SCHEMA_VERSION,
        tables: [
            &auth::TABLES[..],
            &[auth::pin::PIN_TRIES.name],
            &school::TABLES,
            &gradebook::TABLES,
            library::TABLES,
            lessons::TABLES,
            district::TABLES,
            &gradebook::hocba::TABLES,
            dept::TABLES,
            &[lessons::export::APPROVALS.name],
            &[gradebook::hocba::STAMP_WAITING.name],
            &[gradebook::hocba::REGISTER.name],
            &[district::hold::HOLDS.name],
            &[gradebook::hocba::REPLACED_CHAINS.name],
            &[lessons::export::APPROVAL_REGISTER.name],
            &gradebook::hocba::ca::TABLES,
        ]
        .concat(),
        migrations: vec![
            auth::migrate::ROLES,
            school::migrate::ROLL,
            lessons::migrate::REVIEW_QUEUE,
            OPAQUE_STUDENT_IDS,
            school::migrate::REGISTER_LINES,
            library::migrate::VETTING,
            STAMP_QUEUE,
            library::migrate::HELD_KEYS,
            dept::migrate::LINK_TARGETS,
            school::migrate::PROFILES_RELAYED,
        ],
    }
}

/// Schema 5 spans school, gradebook and library, which do not know each other's tables: the
/// school's step is handed the others' lists here.
const OPAQUE_STUDENT_IDS: Migration = Migration {
    to: 5,
    name: "students: opaque ids",
    run: opaque_student_ids,
};

/// Schema 8 spans the gradebook's học bạ and the lesson plans' approval PDFs: both wait for
/// the hub's time-stamp in one queue (`gradebook::hocba::STAMP_WAITING`). Before, the stamper
/// rescanned every approval PDF each minute, and a GVCN signature the principal signed over
/// offline left the queue for good; now a document time-stamp can date it.
const STAMP_QUEUE: Migration = Migration {
    to: 8,
    name: "time-stamps: one queue for học bạ and approval PDFs",
    run: stamp_queue,
};

fn stamp_queue(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    use crate::store::migrate::corrupt;
    use gradebook::hocba::{APPROVAL_KIND, SIGNED, STAMP_WAITING};
    let json = |table: &str, k: &str, v: &[u8]| -> Result<serde_json::Value, StoreError> {
        serde_json::from_slice(v).map_err(|e| corrupt(table, k, e))
    };
    let unstamped = |v: &serde_json::Value| v.get("timestamp").is_none_or(|t| t.is_null());
    let mut rows: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, v) in tx.rows(lessons::export::APPROVALS.name)? {
        let row = json(lessons::export::APPROVALS.name, &k, &v)?;
        if row.get("signed_by").is_some_and(|s| !s.is_null()) && unstamped(&row) {
            rows.push((k, serde_json::to_vec(APPROVAL_KIND).expect("a string")));
        }
    }
    let approvals = rows.len();
    let signed = tx.rows(SIGNED.name)?;
    let keys: std::collections::BTreeSet<&str> = signed.iter().map(|(k, _)| k.as_str()).collect();
    for (k, v) in &signed {
        let Some(version) = k.strip_suffix("/1") else {
            continue;
        };
        if keys.contains(format!("{version}/2").as_str()) && unstamped(&json(SIGNED.name, k, v)?) {
            rows.push((k.clone(), serde_json::to_vec("").expect("a string")));
        }
    }
    let gvcn = rows.len() - approvals;
    tx.insert(STAMP_WAITING.name, rows)?;
    Ok(format!(
        "{approvals} approval PDFs and {gvcn} signed-over GVCN signatures wait for a time-stamp"
    ))
}

fn opaque_student_ids(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let others: Vec<&school::migrate::StudentRefs> = gradebook::migrate::STUDENT_REFS
        .iter()
        .chain(&library::migrate::STUDENT_REFS)
        .collect();
    school::migrate::opaque_student_ids(tx, &others)
}
