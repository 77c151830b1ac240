//! The library's part in the schema steps: loans name a student, rewritten when students got
//! opaque ids (schema 5, `school::migrate::opaque_student_ids`).

use crate::school::migrate::StudentRefs;

pub const STUDENT_REFS: [StudentRefs; 1] = [StudentRefs {
    table: super::LOANS.name,
    rekey: false,
    field: Some("student"),
    what: "loans",
}];
