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
    /// The district's decision on the item as relayed (sent down by the hub): None until the
    /// district decides.
    #[serde(default)]
    pub district: Option<DistrictReview>,
}

/// What the district decided on an item this school shared with it, and on which content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictReview {
    /// True: approved ("Phòng đã duyệt"); false: refused with the reason.
    pub approved: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// When the district decided (its clock).
    pub at: String,
    /// The [`content_digest`] of the entry the district reviewed.
    pub digest: String,
}

/// The fields of a catalogue entry a reviewer reviews: the entry and its file's and cover's
/// hashes, without the bookkeeping (review, owner, times, copies on the shelf).
const REVIEWED: [&str; 15] = [
    "kind",
    "title",
    "authors",
    "subject",
    "grade",
    "publisher",
    "year",
    "isbn",
    "tags",
    "description",
    "file",
    "cover",
    "collections",
    "visibility",
    "lesson_plan",
];

/// The digest of what was reviewed, from an item as it is stored or relayed (JSON): BLAKE3 over
/// the [`REVIEWED`] fields in that order. The district's hold is keyed to it, so a changed item
/// is held again, and the school compares the district's decision with its item by it.
pub fn entry_digest(entry: &serde_json::Value) -> String {
    let fields: Vec<&serde_json::Value> = REVIEWED
        .iter()
        .map(|k| entry.get(k).unwrap_or(&serde_json::Value::Null))
        .collect();
    let bytes = serde_json::to_vec(&fields).unwrap_or_default();
    blake3::hash(&bytes).to_hex().to_string()
}

/// [`entry_digest`] of an item.
pub fn content_digest(item: &Item) -> String {
    entry_digest(&serde_json::to_value(item).unwrap_or_default())
}

/// The district's decision on the item as it stands now (None: not decided, or decided on an
/// earlier version).
pub fn district_decision(item: &Item) -> Option<&DistrictReview> {
    item.review
        .district
        .as_ref()
        .filter(|d| d.digest == content_digest(item))
}

/// What the pages say of the district's decision ("" when there is none to say).
pub fn district_note(item: &Item) -> String {
    let Some(d) = item.review.district.as_ref() else {
        return String::new();
    };
    let current = d.digest == content_digest(item);
    match (d.approved, current) {
        (true, true) => "Phòng GD&ĐT đã duyệt".into(),
        (false, true) => format!("Phòng GD&ĐT trả lại: {}", d.reason.as_deref().unwrap_or("")),
        (true, false) => "Phòng GD&ĐT đã duyệt bản trước; bản sửa chờ Phòng duyệt lại".into(),
        (false, false) => format!(
            "Phòng GD&ĐT trả lại bản trước ({}); bản sửa chờ Phòng duyệt lại",
            d.reason.as_deref().unwrap_or("")
        ),
    }
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
        ReviewState::Accepted if district_decision(item).is_some_and(|d| !d.approved) => {
            "Phòng trả lại"
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

/// How a save left the item's vetting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Saved {
    /// Nothing to vet (the district's item).
    None,
    /// Accepted as saved: `p` reviews at every level it asks for.
    Auto,
    /// An accepted item whose catalogue entry changed but not its content: it stays accepted.
    Kept,
    /// Waits for its reviewers.
    Waiting,
}

/// Whether an edit changed what was reviewed: the file, the cover, the kind or the linked
/// lesson plan. The rest (title, description, tags, subject, grade…) is the catalogue entry a
/// teacher corrects — a typo fixed does not take her item away from the classes.
fn content_changed(old: &Item, item: &Item) -> bool {
    old.file.as_ref().map(|f| &f.blob) != item.file.as_ref().map(|f| &f.blob)
        || old.cover != item.cover
        || old.kind != item.kind
        || old.lesson_plan != item.lesson_plan
}

/// The state an item takes when `p` saves it (a new item, or an edit). Whoever is a reviewer at
/// a level passes it: a department head sharing with the school, BGH with the district; the
/// school's librarians (admin, BGH) put in the school's own catalogue. An edit of the catalogue
/// entry alone keeps an accepted (or not yet vetted) item where it stands — except that sharing
/// it with the district newly asks for BGH —; a new file, cover, kind or lesson plan is vetted
/// again, and so is a returned item.
fn on_save(p: &Principal, old: Option<&Item>, item: &mut Item, now: &str) -> Saved {
    if item.from_district {
        return Saved::None;
    }
    if old.is_none() || item.owner == p.id() {
        item.review.department = p.account.department.clone();
    }
    let school_ok = permits(p, school_level(item)) || permits(p, Action::ManageLibrary);
    let district_ok = permits(p, Action::ApproveLessonPlans);
    let to_district = item.visibility == Visibility::District;
    let state = match (school_ok, to_district) {
        (true, false) => ReviewState::Accepted,
        (true, true) if district_ok => ReviewState::Accepted,
        (true, true) => ReviewState::School,
        (false, _) => ReviewState::Waiting,
    };
    if state != ReviewState::Waiting {
        item.review.state = state;
        item.review.reason = None;
        item.review.by = Some(p.id().to_string());
        item.review.at = Some(now.to_string());
        return Saved::Auto;
    }
    let was_district = old.is_some_and(|o| o.visibility == Visibility::District);
    let kept = match old {
        Some(old) if !content_changed(old, item) => match old.review.state {
            ReviewState::Accepted if to_district && !was_district => Some(ReviewState::School),
            ReviewState::Accepted => Some(ReviewState::Accepted),
            ReviewState::School if !to_district => Some(ReviewState::Accepted),
            ReviewState::School => Some(ReviewState::School),
            ReviewState::Unvetted if to_district && !was_district => None,
            ReviewState::Unvetted => Some(ReviewState::Unvetted),
            ReviewState::Waiting | ReviewState::Returned => None,
        },
        _ => None,
    };
    match kept {
        Some(state) => {
            item.review.state = state;
            Saved::Kept
        }
        None => {
            item.review.state = ReviewState::Waiting;
            item.review.reason = None;
            item.review.by = None;
            item.review.at = None;
            Saved::Waiting
        }
    }
}

/// Sets the review of an item `p` is saving and records an accepted-as-shared one.
pub(crate) fn review_on_save(tx: &mut Tx<'_>, p: &Principal, old: Option<&Item>, item: &mut Item) {
    let now = tx.now().to_string();
    match on_save(p, old, item, &now) {
        Saved::Auto => tx.event(
            "library.vet.auto",
            &item.id,
            Some(json!({ "by": p.id(), "state": item.review.state.as_str(),
                         "why": "shared by a reviewer of its level" })),
        ),
        Saved::Kept => tx.event(
            "library.vet.kept",
            &item.id,
            Some(json!({ "by": p.id(), "state": item.review.state.as_str(),
                         "why": "the catalogue entry changed, not the file" })),
        ),
        Saved::None | Saved::Waiting => {}
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

/// The routes' and the review page's gate, refused before anything is read.
pub fn require_reviewer(p: &Principal) -> Result<(), LibraryError> {
    if is_reviewer(p) {
        return Ok(());
    }
    Err(LibraryError::NotReviewer(
        "Chỉ tổ trưởng chuyên môn và Ban giám hiệu được thẩm định tài liệu.".into(),
    ))
}

/// Whether `item` waits for a decision `allow` says `p` may take: the head of its tổ (or BGH)
/// while it waits or was never vetted, BGH once the head accepted it for the district.
fn decides_on(p: &Principal, item: &Item, allow: fn(&Principal, Action<'_>) -> bool) -> bool {
    if item.from_district {
        return false;
    }
    match item.review.state {
        ReviewState::Waiting | ReviewState::Unvetted => {
            allow(p, Action::ApproveLessonPlans) || allow(p, school_level(item))
        }
        ReviewState::School => {
            item.visibility == Visibility::District && allow(p, Action::ApproveLessonPlans)
        }
        ReviewState::Accepted | ReviewState::Returned => false,
    }
}

/// Whether `p` may accept or return `item` now (the item page's buttons): reads nothing but the
/// item.
pub fn may_decide(p: &Principal, item: &Item) -> bool {
    decides_on(p, item, permits)
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
            if decides_on(p, &item, may_see) {
                items.push(item);
            }
        }
        items.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        out.extend(items);
    }
    Ok(out)
}

/// Records the district's decision on an item this school shared with it (sent down the relay
/// by the hub): kept on the item, shown on its page and in the lists, audited as
/// `library.vet.district`. A decision on an earlier version is kept as such (the pages say the
/// edit waits for the district again). Returns what the downlink log records (English).
pub fn record_district(
    tx: &mut Tx<'_>,
    id: &str,
    decision: DistrictReview,
) -> Result<String, StoreError> {
    let Some(old) = tx.get(&ITEMS, id)? else {
        return Ok(format!(
            "district decision on {id}: no longer in the library"
        ));
    };
    let current = decision.digest == content_digest(&old);
    let mut item = old.clone();
    let what = format!(
        "district {} {id}{}",
        if decision.approved {
            "approved"
        } else {
            "refused"
        },
        if current { "" } else { " (an earlier version)" }
    );
    tx.event(
        "library.vet.district",
        id,
        Some(
            json!({ "approved": decision.approved, "reason": decision.reason,
                     "at": decision.at, "digest": decision.digest, "current": current }),
        ),
    );
    item.review.district = Some(decision);
    write_item(tx, Some(&old), &item)?;
    Ok(what)
}
