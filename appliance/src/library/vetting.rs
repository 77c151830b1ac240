//! Vetting before sharing (thẩm định, issue 25): a teacher's item reaches the school only after
//! the head of the owner's department (tổ trưởng) accepts it, and the district only after a BGH
//! member does. The state lives on the item (`Item.review`), so the search index, the OPDS feed
//! and the district mirror all read it in the transaction that changes it; each decision is an
//! audit event of its own beside the item's audited record.
//!
//! The reviewers are the people who review and approve the department's lesson plans
//! (`Action::ReviewLessonPlans`, `Action::ApproveLessonPlans`): one tổ, one set of reviewers.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ITEMS, Item, LibraryError, Visibility, write_item};
use crate::auth::{Action, Principal, may_see, permits};
use crate::store::{Rx, StoreError, Tx};

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// "chưa thẩm định": shared before vetting existed (marked by schema 7), or put in by the
    /// demo or a bulk import: seen and relayed as before until a reviewer decides.
    #[default]
    Unvetted,
    /// "chờ thẩm định": waiting for the department head; only the owner and the reviewers see it.
    Waiting,
    /// Accepted for the school by the department head; an item shared with the district waits
    /// for BGH before it is relayed.
    School,
    /// "đã thẩm định": accepted at every level its visibility asks for.
    Accepted,
    /// "trả lại": back with its owner, with the reason; only the owner sees it.
    Returned,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Unvetted => "unvetted",
            ReviewState::Waiting => "waiting",
            ReviewState::School => "school",
            ReviewState::Accepted => "accepted",
            ReviewState::Returned => "returned",
        }
    }
}

/// An item's vetting: its state and the last decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Review {
    #[serde(default)]
    pub state: ReviewState,
    /// The owner's department (tổ) when the item was shared: its head vets it. None: only BGH.
    #[serde(default)]
    pub department: Option<String>,
    /// Who decided last (an account id; the owner's own rank for an item accepted as it was
    /// shared), when, and why for a return.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The badge a page shows ("" for an item that needs none: the district's own).
pub fn badge(item: &Item) -> &'static str {
    if item.from_district {
        return "";
    }
    match item.review.state {
        ReviewState::Unvetted => "chưa thẩm định",
        ReviewState::Waiting => "chờ thẩm định",
        ReviewState::School if item.visibility == Visibility::District => {
            "chờ BGH thẩm định (chia sẻ với Phòng)"
        }
        ReviewState::School | ReviewState::Accepted => "đã thẩm định",
        ReviewState::Returned => "trả lại",
    }
}

/// Not yet for the school: only the owner and (while waiting) the reviewers see it.
pub fn hidden(item: &Item) -> bool {
    !item.from_district
        && matches!(
            item.review.state,
            ReviewState::Waiting | ReviewState::Returned
        )
}

/// Relayed to the district: accepted by BGH, or shared before vetting existed.
pub fn cleared_for_district(item: &Item) -> bool {
    matches!(
        item.review.state,
        ReviewState::Accepted | ReviewState::Unvetted
    )
}

fn school_level<'a>(item: &'a Item) -> Action<'a> {
    Action::ReviewLessonPlans {
        department: item.review.department.as_deref().unwrap_or(""),
    }
}

/// Whether `p` sees a hidden item: its owner, and while it waits, its reviewers.
pub fn sees(p: &Principal, item: &Item) -> bool {
    item.owner == p.id()
        || match item.review.state {
            ReviewState::Waiting => may_see(p, school_level(item)),
            _ => false,
        }
}

/// The state an item takes when `p` saves it (a new item, or an edit: a changed item is vetted
/// again). Whoever is a reviewer at a level passes it: a department head sharing with the school,
/// BGH with the district; the school's librarians (admin, BGH) put in the school's own catalogue.
/// Returns the state and whether it was accepted without waiting (audited as such).
fn on_save(p: &Principal, old: Option<&Item>, item: &mut Item, now: &str) -> bool {
    if item.from_district {
        return false;
    }
    if old.is_none() || item.owner == p.id() {
        item.review.department = p.account.department.clone();
    }
    let school_ok = permits(p, school_level(item)) || permits(p, Action::ManageLibrary);
    let district_ok = permits(p, Action::ApproveLessonPlans);
    let state = match (school_ok, item.visibility == Visibility::District) {
        (true, false) => ReviewState::Accepted,
        (true, true) if district_ok => ReviewState::Accepted,
        (true, true) => ReviewState::School,
        (false, _) => ReviewState::Waiting,
    };
    item.review.state = state;
    item.review.reason = None;
    if state == ReviewState::Waiting {
        item.review.by = None;
        item.review.at = None;
        false
    } else {
        item.review.by = Some(p.id().to_string());
        item.review.at = Some(now.to_string());
        true
    }
}

/// Sets the review of an item `p` is saving and records an accepted-as-shared one.
pub(crate) fn review_on_save(tx: &mut Tx<'_>, p: &Principal, old: Option<&Item>, item: &mut Item) {
    let now = tx.now().to_string();
    if on_save(p, old, item, &now) {
        tx.event(
            "library.vet.auto",
            &item.id,
            Some(json!({ "by": p.id(), "state": item.review.state.as_str(),
                         "why": "shared by a reviewer of its level" })),
        );
    }
}

/// Stores a new item `p` shares (a lesson plan published to the library), vetted as any
/// item `p` saves.
pub fn share_new(tx: &mut Tx<'_>, p: &Principal, mut item: Item) -> Result<Item, StoreError> {
    review_on_save(tx, p, None, &mut item);
    write_item(tx, None, &item)?;
    Ok(item)
}

/// A reviewer's decision.
#[derive(Debug, Clone, Deserialize)]
pub struct Decision {
    pub accept: bool,
    /// Why it goes back (required for a return).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Whether `p` may decide on items at all (the route's gate: department heads and BGH).
pub fn is_reviewer(p: &Principal) -> bool {
    p.is_bgh() || p.has(crate::auth::Role::DeptHead)
}

/// Accepts or returns an item. The department head of the owner's tổ (or BGH) decides for the
/// school; BGH for the district, after the head or directly (BGH outranks the head, so its
/// acceptance covers both levels). Audited as `library.vet.accept` / `library.vet.return`.
pub fn decide(tx: &mut Tx<'_>, p: &Principal, id: &str, d: Decision) -> Result<Item, LibraryError> {
    let old = tx.get(&ITEMS, id)?.ok_or(LibraryError::NotFound)?;
    if old.from_district {
        return Err(LibraryError::Review(
            "Tài liệu do Phòng chia sẻ không thẩm định ở trường.".into(),
        ));
    }
    let district_ok = permits(p, Action::ApproveLessonPlans);
    match old.review.state {
        ReviewState::Accepted | ReviewState::Returned => {
            return Err(LibraryError::Review(
                "Tài liệu này không chờ thẩm định.".into(),
            ));
        }
        ReviewState::School if !district_ok => {
            return Err(LibraryError::NotReviewer(
                "Chỉ Ban giám hiệu thẩm định tài liệu chia sẻ với Phòng.".into(),
            ));
        }
        _ if !district_ok && !permits(p, school_level(&old)) => {
            return Err(LibraryError::NotReviewer(
                "Chỉ tổ trưởng của tổ chuyên môn người đăng hoặc Ban giám hiệu được thẩm định tài liệu này."
                    .into(),
            ));
        }
        _ => {}
    }
    let mut item = old.clone();
    let reason = d
        .reason
        .as_deref()
        .map(|r| crate::text::nfc(r.trim()))
        .filter(|r| !r.is_empty());
    item.review.state = if !d.accept {
        match &reason {
            None => return Err(LibraryError::Invalid("Nhập lý do trả lại.".into())),
            Some(r) if r.chars().count() > 1000 => {
                return Err(LibraryError::Invalid(
                    "Lý do trả lại dài quá 1.000 ký tự.".into(),
                ));
            }
            Some(_) => ReviewState::Returned,
        }
    } else if district_ok || item.visibility != Visibility::District {
        ReviewState::Accepted
    } else {
        ReviewState::School
    };
    item.review.by = Some(p.id().to_string());
    item.review.at = Some(tx.now().to_string());
    item.review.reason = if d.accept { None } else { reason };
    write_item(tx, Some(&old), &item)?;
    tx.event(
        if d.accept {
            "library.vet.accept"
        } else {
            "library.vet.return"
        },
        id,
        Some(json!({ "by": p.id(), "from": old.review.state.as_str(),
                     "to": item.review.state.as_str(), "reason": item.review.reason })),
    );
    Ok(item)
}

/// What waits for `p`: items waiting for their department head (heads of that tổ, BGH), items
/// accepted by the head for the district (BGH), and items shared before vetting (their
/// reviewers), oldest first within each state.
pub fn queue(rx: &Rx, p: &Principal) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::new();
    for state in [
        ReviewState::Waiting,
        ReviewState::School,
        ReviewState::Unvetted,
    ] {
        let mut items = Vec::new();
        for id in super::ids_with_state(rx, state)? {
            let Some(item) = rx.get(&ITEMS, &id)? else {
                continue;
            };
            let mine = match state {
                ReviewState::School => {
                    item.visibility == Visibility::District
                        && may_see(p, Action::ApproveLessonPlans)
                }
                _ => may_see(p, school_level(&item)),
            };
            if mine && !item.from_district {
                items.push(item);
            }
        }
        items.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        out.extend(items);
    }
    Ok(out)
}
