//! One file of the school's electronic archive (`tram records export`, the admin's ZIP): what
//! each capability hands in for a school year — the record's bytes and what the manifest says of
//! it. The list of who hands in what is `app::records::SOURCES`; the type sits here, in the
//! capability every record-keeping one already uses, so each can build its files itself.

use crate::store::Store;

/// A record file for the archive, as one capability's source made it.
#[derive(Debug, Clone)]
pub struct RecordFile {
    /// Where it goes inside the export, `/`-separated, plain ASCII (e.g. "hoc-ba/9a1/…pdf").
    pub path: String,
    /// The kind of record, stable for the manifest's readers ("so-dang-bo", "hoc-ba", …).
    pub kind: &'static str,
    /// The record's title as printed on it (the test finds it in the PDF's text).
    pub title: String,
    /// The class it belongs to, if one.
    pub class: Option<String>,
    /// The department (tổ chuyên môn) it belongs to, if one.
    pub department: Option<String>,
    /// Whether the file carries the signatures of the record (PAdES, or the lessons' Ed25519).
    pub signed: bool,
    /// For a record kept in every signed version (a tổ's plans and minutes): whether this file
    /// is of the newest one (`true`) or of an earlier one the archive keeps, as the paper
    /// archive keeps corrected pages (`false`); None for a record archived once.
    pub current: Option<bool>,
    pub bytes: Vec<u8>,
}

/// A capability's contribution for a school year ("2026-2027"): its files, or why it could not
/// make them (English, for the CLI and the log).
pub type Source = fn(&Store, &str) -> Result<Vec<RecordFile>, String>;
