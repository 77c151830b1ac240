//! The gradebook's part in the schema steps: the tables that name a student, rewritten when
//! students got opaque ids (schema 5, `school::migrate::opaque_student_ids`).

use crate::school::migrate::StudentRefs;

/// In the order the step's audit detail names them.
pub const STUDENT_REFS: [StudentRefs; 5] = [
    StudentRefs {
        table: super::ROWS.name,
        rekey: true,
        field: None,
        what: "score rows",
    },
    StudentRefs {
        table: super::RECORDS.name,
        rekey: true,
        field: None,
        what: "term records",
    },
    StudentRefs {
        table: super::SUMMER.name,
        rekey: true,
        field: None,
        what: "summer records",
    },
    StudentRefs {
        table: super::RESULTS.name,
        rekey: true,
        field: Some("mahocsinh"),
        what: "stored results",
    },
    StudentRefs {
        table: super::CORRECTIONS.name,
        rekey: false,
        field: Some("student"),
        what: "corrections",
    },
];
