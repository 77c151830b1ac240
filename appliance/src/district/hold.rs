//! The district's hold on what schools share up (issue 25): a library item a school's BGH
//! accepted for the district arrives as a relayed `library_item` record and waits here, "chờ
//! duyệt", until a district admin approves it ("đã duyệt") or refuses it ("từ chối", with the
//! reason). Files do not travel up the relay (only the catalogue entry), so publishing an
//! approved item down is still the publish form with its file; the hold is the district's
//! reviewed record of what it may publish, and each decision is audited in the hub's chain.

use serde::{Deserialize, Serialize};

use super::{HubError, HubStorage};
use crate::store::{Actor, AuditPolicy, Collection, Store, StoreError};

/// A decision on one school's item, by "{school}/{item}"; no row: waiting (chờ duyệt).
pub const HOLDS: Collection<Hold> = Collection::new("district.holds.v1", AuditPolicy::Values, None);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Approved,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub state: HoldState,
    pub reason: Option<String>,
    /// The hub account that decided.
    pub by: String,
    pub at: String,
}

/// A school's shared item as the hub's page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SharedUp {
    pub school: String,
    pub item: String,
    pub title: String,
    pub kind: String,
    /// "waiting", "approved" or "refused".
    pub state: &'static str,
    /// Vietnamese, for the page: "chờ duyệt", "đã duyệt", "từ chối".
    pub label: &'static str,
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("Không có tài liệu này trong những gì các trường đã chia sẻ lên.")]
    NotFound,
    #[error("Nhập lý do từ chối (trường sẽ được báo lại).")]
    NoReason,
    #[error("Tài liệu này đã được {0}.")]
    Decided(&'static str),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn key(school: &str, item: &str) -> String {
    format!("{school}/{item}")
}

fn label(h: Option<&Hold>) -> (&'static str, &'static str) {
    match h.map(|h| h.state) {
        None => ("waiting", "chờ duyệt"),
        Some(HoldState::Approved) => ("approved", "đã duyệt"),
        Some(HoldState::Refused) => ("refused", "từ chối"),
    }
}

/// Every item the schools share with the district, waiting ones first.
pub fn shared_up(storage: &dyn HubStorage, store: &Store) -> Result<Vec<SharedUp>, HoldError> {
    let mut out = Vec::new();
    storage.each_record("library_item", &mut |school, r| {
        let item = r["id"].as_str().unwrap_or_default().to_string();
        out.push(SharedUp {
            school: school.to_string(),
            title: r["title"].as_str().unwrap_or_default().to_string(),
            kind: r["kind"].as_str().unwrap_or_default().to_string(),
            item,
            state: "waiting",
            label: "chờ duyệt",
            reason: None,
        });
    })?;
    let rx = store.read()?;
    for s in &mut out {
        let h = rx.get(&HOLDS, &key(&s.school, &s.item))?;
        (s.state, s.label) = label(h.as_ref());
        s.reason = h.and_then(|h| h.reason);
    }
    out.sort_by(|a, b| {
        (a.state != "waiting", &a.school, &a.title).cmp(&(
            b.state != "waiting",
            &b.school,
            &b.title,
        ))
    });
    Ok(out)
}

/// Approves or refuses a school's shared item (audited as `district.shared.approve` /
/// `district.shared.refuse`, with the reason). Decided once: a second decision is refused
/// with the first one named.
pub fn decide(
    storage: &dyn HubStorage,
    store: &Store,
    by: &Actor,
    school: &str,
    item: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<Hold, HoldError> {
    let mut known = false;
    storage.each_record_of(school, "library_item", &mut |r| {
        known |= r["id"] == item;
    })?;
    if !known {
        return Err(HoldError::NotFound);
    }
    let reason = reason
        .map(|r| crate::text::nfc(r.trim()))
        .filter(|r| !r.is_empty());
    if !approve && reason.is_none() {
        return Err(HoldError::NoReason);
    }
    let hold = Hold {
        state: if approve {
            HoldState::Approved
        } else {
            HoldState::Refused
        },
        reason: if approve { None } else { reason },
        by: by.id.clone(),
        at: by.now.to_string(),
    };
    let k = key(school, item);
    store.write(by, |tx| {
        if let Some(h) = tx.get(&HOLDS, &k)? {
            return Err(HoldError::Decided(label(Some(&h)).1));
        }
        let action = if approve {
            "district.shared.approve"
        } else {
            "district.shared.refuse"
        };
        tx.put(&HOLDS, &k, &hold, action)?;
        Ok(())
    })?;
    Ok(hold)
}
