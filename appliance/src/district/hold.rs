//! The district's hold on what schools share up (issue 25): a library item a school's BGH
//! accepted for the district arrives as a relayed `library_item` record and waits here, "chờ
//! duyệt", until a district admin approves it ("đã duyệt") or refuses it ("từ chối", with the
//! reason). Files do not travel up the relay (only the catalogue entry), so publishing an
//! approved item down is still the publish form with its file; the hold is the district's
//! reviewed record of what it may publish, and each decision is audited in the hub's chain.
//!
//! A decision is keyed to what was reviewed — the digest of the relayed catalogue entry with its
//! file's hash (`library::vetting::entry_digest`) —, not to the item's id: when the school
//! changes the item and relays it again, the hold shows it "đã sửa, chờ duyệt lại" with the
//! earlier decision named, until a district admin decides on the new version. (A decision
//! stored before digests existed names no version: its item is reviewed again.) Each decision
//! goes down to the school that shared the item (the downlink, kind `library-review`, listed
//! to that school only), which keeps it on the item and audits it.

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
    /// The digest of the entry decided on (`entry_digest`); None: decided before digests.
    #[serde(default)]
    pub digest: Option<String>,
}

/// A school's shared item as the hub's page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SharedUp {
    /// The mã trường, for machines (the decision's URL names it).
    pub school: String,
    /// The name the school goes by (`school_display_name`), for people.
    pub school_name: String,
    pub item: String,
    pub title: String,
    pub kind: String,
    /// "waiting", "changed" (decided on an earlier version), "approved" or "refused".
    pub state: &'static str,
    /// Vietnamese, for the page: "chờ duyệt", "đã sửa, chờ duyệt lại", "đã duyệt", "từ chối".
    pub label: &'static str,
    /// Why it was refused (this version), or for a changed one, the earlier decision.
    pub reason: Option<String>,
    /// The digest of the entry as relayed now: a decision names it.
    pub digest: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("Không có tài liệu này trong những gì các trường đã chia sẻ lên.")]
    NotFound,
    #[error("Nhập lý do từ chối (trường sẽ được báo lại).")]
    NoReason,
    #[error("Tài liệu này đã được {0}.")]
    Decided(&'static str),
    #[error("Trường vừa gửi bản sửa của tài liệu này; tải lại trang để xem bản mới rồi duyệt.")]
    Changed,
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

/// Where an entry of digest `digest` stands given the hold stored for its item: the hold's
/// decision when it is on this version, else waiting (with the earlier decision, if any, said).
fn standing(h: Option<&Hold>, digest: &str) -> (&'static str, &'static str, Option<String>) {
    match h {
        Some(h) if h.digest.as_deref() == Some(digest) => {
            let (state, label) = label(Some(h));
            (state, label, h.reason.clone())
        }
        Some(h) => (
            "changed",
            "đã sửa, chờ duyệt lại",
            Some(match (&h.state, &h.reason) {
                (HoldState::Refused, Some(r)) => format!("Bản trước bị từ chối: {r}"),
                (HoldState::Refused, None) => "Bản trước bị từ chối.".into(),
                (HoldState::Approved, _) => "Bản trước đã được duyệt.".into(),
            }),
        ),
        None => ("waiting", "chờ duyệt", None),
    }
}

/// Waiting for a decision: never decided, or changed since.
fn open(state: &str) -> bool {
    matches!(state, "waiting" | "changed")
}

/// Every item the schools share with the district, waiting ones first; each school named as
/// `names` (code → name, [`super::reports::school_names`]) gives it, else by its code.
pub fn shared_up(
    storage: &dyn HubStorage,
    store: &Store,
    names: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<SharedUp>, HoldError> {
    let mut out = Vec::new();
    storage.each_record("library_item", &mut |school, r| {
        let item = r["id"].as_str().unwrap_or_default().to_string();
        out.push(SharedUp {
            school: school.to_string(),
            school_name: names
                .get(school)
                .cloned()
                .unwrap_or_else(|| school.to_string()),
            title: r["title"].as_str().unwrap_or_default().to_string(),
            kind: r["kind"].as_str().unwrap_or_default().to_string(),
            item,
            state: "waiting",
            label: "chờ duyệt",
            reason: None,
            digest: crate::library::vetting::entry_digest(r),
        });
    })?;
    let rx = store.read()?;
    for s in &mut out {
        let h = rx.get(&HOLDS, &key(&s.school, &s.item))?;
        (s.state, s.label, s.reason) = standing(h.as_ref(), &s.digest);
    }
    out.sort_by(|a, b| {
        (!open(a.state), &a.school_name, &a.title).cmp(&(!open(b.state), &b.school_name, &b.title))
    });
    Ok(out)
}

/// Approves or refuses a school's shared item as relayed now (audited as
/// `district.shared.approve` / `district.shared.refuse`, with the reason and the digest) and
/// sends the decision down to that school. Decided once per version: a second decision on the
/// same version is refused with the first one named; `seen`, the digest the page showed, is
/// refused when the school has relayed a change since (the admin decides on what she saw).
#[allow(clippy::too_many_arguments)]
pub fn decide(
    storage: &dyn HubStorage,
    store: &Store,
    by: &Actor,
    school: &str,
    item: &str,
    approve: bool,
    reason: Option<&str>,
    seen: Option<&str>,
) -> Result<Hold, HoldError> {
    let mut found = None;
    storage.each_record_of(school, "library_item", &mut |r| {
        if r["id"] == item {
            found = Some((
                crate::library::vetting::entry_digest(r),
                r["title"].as_str().unwrap_or_default().to_string(),
            ));
        }
    })?;
    let (digest, title) = found.ok_or(HoldError::NotFound)?;
    if seen.is_some_and(|s| s != digest) {
        return Err(HoldError::Changed);
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
        digest: Some(digest.clone()),
    };
    // The school's copy of the decision, a small file on the downlink like a key reset.
    let order = serde_json::json!({
        "school": school, "item": item, "title": title, "digest": digest, "approved": approve,
        "reason": hold.reason, "at": hold.at,
    });
    let bytes = serde_json::to_vec(&order).map_err(|e| StoreError::Blob(e.into()))?;
    let (blob, len) = store.blobs.put(&bytes[..]).map_err(StoreError::Blob)?;
    let down = super::Published {
        id: blob,
        kind: super::LIBRARY_REVIEW.into(),
        name: format!("library-review-{school}-{item}"),
        version: String::new(),
        arch: String::new(),
        len,
        published_at: by.now.to_string(),
        meta: Some(order),
        by: Some(by.id.clone()),
    };
    let k = key(school, item);
    store.write(by, |tx| {
        if let Some(h) = tx.get(&HOLDS, &k)?
            && h.digest.as_deref() == Some(digest.as_str())
        {
            return Err(HoldError::Decided(label(Some(&h)).1));
        }
        let action = if approve {
            "district.shared.approve"
        } else {
            "district.shared.refuse"
        };
        tx.put(&HOLDS, &k, &hold, action)?;
        tx.put(&super::DOWNLINK, &down.id, &down, "downlink.library_review")?;
        Ok(())
    })?;
    Ok(hold)
}
