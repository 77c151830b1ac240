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

use crate::store::{Migration, MigrationTx, Schema, StoreError};
use crate::{auth, dept, district, gradebook, lessons, library, school};

/// The schema version this build writes. A backup records it; a restore refuses a newer one.
pub const SCHEMA_VERSION: u64 = 7;

pub fn schema() -> Schema {
    Schema {
        version: SCHEMA_VERSION,
        tables: [
            &auth::TABLES[..],
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

fn opaque_student_ids(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let others: Vec<&school::migrate::StudentRefs> = gradebook::migrate::STUDENT_REFS
        .iter()
        .chain(&library::migrate::STUDENT_REFS)
        .collect();
    school::migrate::opaque_student_ids(tx, &others)
}
