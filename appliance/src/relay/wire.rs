//! What the school's relay and the district hub both read and write: the records the hub holds
//! for a school and the catalogue entry of a library item the district shares down.

use serde::{Deserialize, Serialize};

/// What district staff say about a library item they share down ("Kho học liệu dùng chung").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SharedItem {
    pub title: String,
    pub kind: crate::library::ItemKind,
    pub subject: Option<String>,
    pub grade: Option<u8>,
    #[serde(default)]
    pub description: String,
    /// The file's name as schools will show it (its type is judged from its bytes too).
    pub file_name: String,
}

/// A record as the hub holds it for a school, with the outbox number it came under.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeldRecord {
    pub kind: String,
    pub key: String,
    pub op: String,
    pub outbox_seq: u64,
    pub at: String,
    pub record: Option<serde_json::Value>,
}
