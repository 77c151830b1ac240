//! The digital library (thư viện số): items with their metadata and one file in the blob store,
//! a diacritic-insensitive search index kept in the same transaction as the item, paper-book
//! circulation, and the items shared with the district (mirrored into a relayed collection).
//!
//! - `upload.rs`: resumable chunked uploads, file types checked by content;
//! - `import.rs`: bulk import from a folder with a spreadsheet of metadata;
//! - `opds.rs`: the OPDS 1.2 catalogue for e-reader apps;
//! - `vetting.rs`: vetting before sharing (thẩm định) by the department head and BGH;
//! - `routes.rs`, `pages.rs`: the API, file streaming (Range, ETag) and the pages.

pub mod import;
pub mod migrate;
pub mod opds;
pub mod pages;
pub mod routes;
pub mod upload;
pub mod vetting;

pub use vetting::{Review, ReviewState};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::auth::{Action, Principal, permits};
use crate::store::{AuditPolicy, Collection, Read, Rx, StoreError, Tx};
use crate::text::{fold, nfc};

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{0}")]
    Invalid(String),
    #[error("Không tìm thấy tài liệu.")]
    NotFound,
    #[error("Bạn không có quyền sửa tài liệu này.")]
    Forbidden,
    #[error("ISBN {isbn} đã có trong thư viện: “{title}”.")]
    DuplicateIsbn { isbn: String, title: String },
    #[error("{0}")]
    Upload(String),
    /// No upload session by that id for this person (never made, cancelled, expired, or
    /// someone else's: those are not revealed).
    #[error("Không tìm thấy lượt tải lên này (có thể đã huỷ hoặc hết hạn).")]
    UploadGone,
    #[error("Phần tệp gửi không đúng thứ tự (máy chủ đang có {0} byte); gửi tiếp từ đó.")]
    OutOfOrder(u64),
    #[error("Sách “{0}” đã cho mượn hết bản.")]
    NoCopies(String),
    /// A decision the item's vetting state does not allow (already decided, the district's).
    #[error("{0}")]
    Review(String),
    /// Someone who is not the item's reviewer tried to accept or return it.
    #[error("{0}")]
    NotReviewer(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LibraryError {
    pub fn code(&self) -> &'static str {
        match self {
            LibraryError::Invalid(_) => "invalid",
            LibraryError::NotFound => "not_found",
            LibraryError::Forbidden => "forbidden",
            LibraryError::DuplicateIsbn { .. } => "duplicate_isbn",
            LibraryError::Upload(_) => "upload",
            LibraryError::UploadGone => "upload_gone",
            LibraryError::OutOfOrder(_) => "upload_offset",
            LibraryError::NoCopies(_) => "no_copies",
            LibraryError::Review(_) => "review_state",
            LibraryError::NotReviewer(_) => "not_reviewer",
            LibraryError::Store(_) => "internal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Book,
    Ebook,
    Video,
    Audio,
    QuestionBank,
    RecordedLesson,
    LessonPlan,
}

impl ItemKind {
    pub fn label(self) -> &'static str {
        match self {
            ItemKind::Book => "Sách",
            ItemKind::Ebook => "Sách điện tử",
            ItemKind::Video => "Video",
            ItemKind::Audio => "Âm thanh",
            ItemKind::QuestionBank => "Ngân hàng câu hỏi",
            ItemKind::RecordedLesson => "Bài giảng ghi hình",
            ItemKind::LessonPlan => "Kế hoạch bài dạy",
        }
    }
    pub const ALL: [ItemKind; 7] = [
        ItemKind::Book,
        ItemKind::Ebook,
        ItemKind::Video,
        ItemKind::Audio,
        ItemKind::QuestionBank,
        ItemKind::RecordedLesson,
        ItemKind::LessonPlan,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Book => "book",
            ItemKind::Ebook => "ebook",
            ItemKind::Video => "video",
            ItemKind::Audio => "audio",
            ItemKind::QuestionBank => "question_bank",
            ItemKind::RecordedLesson => "recorded_lesson",
            ItemKind::LessonPlan => "lesson_plan",
        }
    }
}

/// Who sees an item. `District` items are also seen by the whole school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    School,
    Teachers,
    District,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub blob: String,
    pub size: u64,
    pub mime: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub kind: ItemKind,
    pub title: String,
    #[serde(default)]
    pub authors: Vec<String>,
    pub subject: Option<String>,
    pub grade: Option<u8>,
    pub publisher: Option<String>,
    pub year: Option<u16>,
    pub isbn: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: String,
    pub file: Option<FileRef>,
    /// Blob id of a cover image.
    pub cover: Option<String>,
    #[serde(default)]
    pub collections: Vec<String>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Paper copies on the shelf (circulation).
    #[serde(default)]
    pub copies: u32,
    /// Shared down by the district ("Kho học liệu dùng chung").
    #[serde(default)]
    pub from_district: bool,
    pub lesson_plan: Option<String>,
    pub owner: String,
    pub created_at: String,
    pub updated_at: String,
    /// Vetting before sharing (`vetting.rs`); a row without it was shared before vetting.
    #[serde(default)]
    pub review: Review,
}

impl Item {
    /// An item with its identity and nothing else: no file, seen by the whole school.
    pub fn new(id: String, kind: ItemKind, title: &str, owner: &str, now: &str) -> Item {
        Item {
            id,
            kind,
            title: title.to_string(),
            authors: vec![],
            subject: None,
            grade: None,
            publisher: None,
            year: None,
            isbn: None,
            tags: vec![],
            description: String::new(),
            file: None,
            cover: None,
            collections: vec![],
            visibility: Visibility::School,
            copies: 0,
            from_district: false,
            lesson_plan: None,
            owner: owner.to_string(),
            created_at: now.to_string(),
            updated_at: now.to_string(),
            review: Review::default(),
        }
    }

    /// Shared with the district by this school (mirrored into the relayed collection) once BGH
    /// accepted it (or it was shared before vetting); an item the district shared down is not
    /// sent back.
    pub fn shared_by_school(&self) -> bool {
        self.visibility == Visibility::District
            && !self.from_district
            && vetting::cleared_for_district(self)
    }
}

/// The collection district items arrive in.
pub const DISTRICT_COLLECTION: &str = "Kho học liệu dùng chung";

pub const ITEMS: Collection<Item> = Collection::new("library.items.v1", AuditPolicy::Values, None);

/// What each stored file of the library is (blob id → description, in English for the CLI), so
/// a backup's index can name a damaged object by the title a person knows.
pub fn file_descriptions(
    rx: &impl Read,
    out: &mut BTreeMap<String, String>,
) -> Result<(), StoreError> {
    rx.scan_each(&ITEMS, "", &mut |_, item: Item| {
        if let Some(f) = &item.file {
            out.entry(f.blob.clone()).or_insert_with(|| {
                format!(
                    "the library file \u{201c}{}\u{201d} ({})",
                    item.title, f.name
                )
            });
        }
        if let Some(c) = &item.cover {
            out.entry(c.clone())
                .or_insert_with(|| format!("the cover of \u{201c}{}\u{201d}", item.title));
        }
        Ok(())
    })
}
/// Items shared with the district, mirrored here so that only they reach the outbox.
pub const SHARED: Collection<Item> =
    Collection::new("library.shared.v1", AuditPolicy::None, Some("library_item"));
/// Search index: "{token}\u{1}T{item}" (the word is in the title) or "{token}\u{1}o{item}"
/// (elsewhere: authors, tags, description…). The value is unused.
pub const INDEX: Collection<u8> = Collection::new("library.index.v1", AuditPolicy::None, None);
/// ISBN (digits and X) → item id: one record per ISBN.
pub const ISBNS: Collection<String> = Collection::new("library.isbn.v1", AuditPolicy::None, None);
pub const LOANS: Collection<Loan> = Collection::new("library.loans.v1", AuditPolicy::Values, None);

pub const TABLES: &[&str] = &[ITEMS.name, SHARED.name, INDEX.name, ISBNS.name, LOANS.name];

/// What a teacher types (API and page): validated by [`save_item`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ItemInput {
    pub kind: Option<ItemKind>,
    pub title: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    pub subject: Option<String>,
    pub grade: Option<u8>,
    pub publisher: Option<String>,
    pub year: Option<u16>,
    pub isbn: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub collections: Vec<String>,
    pub visibility: Option<Visibility>,
    pub copies: Option<u32>,
    pub lesson_plan: Option<String>,
    /// A finished upload (its id) to attach as the item's file.
    pub upload: Option<String>,
    /// A finished upload holding the cover image.
    pub cover_upload: Option<String>,
}

fn clean(s: &str) -> String {
    nfc(s.trim())
}

/// ISBN-10 or ISBN-13 with a valid check digit, normalised to digits (and a final X).
pub fn normalize_isbn(raw: &str) -> Option<String> {
    let s: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    match s.len() {
        13 if d.len() == 13 => {
            let sum: u32 = d[..12]
                .iter()
                .enumerate()
                .map(|(i, x)| if i % 2 == 0 { *x } else { x * 3 })
                .sum();
            ((10 - sum % 10) % 10 == d[12]).then_some(s)
        }
        10 => {
            let chars: Vec<char> = s.chars().collect();
            let mut sum = 0;
            for (i, c) in chars.iter().enumerate() {
                let v = match (i, c) {
                    (9, 'X') => 10,
                    (_, c) => c.to_digit(10)?,
                };
                sum += v * (10 - i as u32);
            }
            sum.is_multiple_of(11).then_some(s)
        }
        _ => None,
    }
}

/// The words of a text as the index stores them: folded, split on anything not a letter/digit.
pub fn tokens(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A facet key prefix: "\u{2}{name}:{value}\u{1}" (sorts before every word).
fn facet(name: &str, value: &str) -> String {
    format!("\u{2}{name}:{value}\u{1}")
}

/// The item's index keys (each stored with the value 1; only the key matters).
fn index_entries(item: &Item) -> BTreeSet<String> {
    let mut words: BTreeMap<String, bool> = BTreeMap::new();
    for t in tokens(&item.title) {
        words.insert(t, true);
    }
    let mut other = item.authors.join(" ");
    for s in [
        &item.tags.join(" "),
        &item.description,
        &item.collections.join(" "),
    ] {
        other.push(' ');
        other.push_str(s);
    }
    for s in [&item.publisher, &item.isbn, &item.subject]
        .into_iter()
        .flatten()
    {
        other.push(' ');
        other.push_str(s);
    }
    for t in tokens(&other) {
        words.entry(t).or_insert(false);
    }
    let mut out: BTreeSet<String> = words
        .into_iter()
        .filter(|(t, _)| t.len() <= 64)
        .map(|(t, in_title)| {
            let flag = if in_title { 'T' } else { 'o' };
            format!("{t}\u{1}{flag}{}", item.id)
        })
        .collect();
    // Facets, so filters and visibility are answered from the index without reading items.
    let mut facets = vec![
        facet("k", item.kind.as_str()),
        facet("v", visibility_str(item.visibility)),
    ];
    if let Some(s) = &item.subject {
        facets.push(facet("s", s));
    }
    if let Some(g) = item.grade {
        facets.push(facet("g", &g.to_string()));
    }
    for c in &item.collections {
        facets.push(facet("c", &fold(c)));
    }
    // Items not (or not yet) vetted, so the search hides the waiting ones and the review queue
    // finds its items without reading the library.
    if !item.from_district && item.review.state != ReviewState::Accepted {
        facets.push(facet("r", item.review.state.as_str()));
    }
    for f in facets {
        out.insert(format!("{f}-{}", item.id));
    }
    if !item.from_district {
        out.extend(held_keys(
            item.review.state,
            &item.owner,
            item.review.department.as_deref(),
            &item.id,
        ));
    }
    out
}

/// The index keys that say who may see an item hidden while it waits or was returned (schema
/// 8): "\u{2}h:{owner}\u{1}-{item}", and for a waiting one the tổ whose head vets it,
/// "\u{2}w:{department}\u{1}-{item}" — so a search decides from keys, reading no item.
pub(crate) fn held_keys(
    state: ReviewState,
    owner: &str,
    department: Option<&str>,
    id: &str,
) -> Vec<String> {
    match state {
        ReviewState::Waiting => vec![
            format!("{}-{id}", facet("h", owner)),
            format!("{}-{id}", facet("w", department.unwrap_or(""))),
        ],
        ReviewState::Returned => vec![format!("{}-{id}", facet("h", owner))],
        _ => vec![],
    }
}

/// Of the hidden items `held`, those `p` may see (the owner's; a waiting one for its reviewers,
/// as [`vetting::sees`]), from the index keys of [`held_keys`] alone.
fn held_seen(
    rx: &Rx,
    p: Option<&Principal>,
    held: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let Some(p) = p else {
        return Ok(seen);
    };
    if held.is_empty() {
        return Ok(seen);
    }
    seen.extend(ids_under(rx, &facet("h", p.id()), None)?.into_keys());
    if vetting::is_reviewer(p) {
        let prefix = "\u{2}w:";
        rx.keys_while(&INDEX, prefix, &mut |k| {
            if let Some((dept, id)) = k[prefix.len()..].split_once("\u{1}-")
                && crate::auth::may_see(p, Action::ReviewLessonPlans { department: dept })
            {
                seen.insert(id.to_string());
            }
            true
        })?;
    }
    Ok(seen)
}

pub(crate) fn visibility_str(v: Visibility) -> &'static str {
    match v {
        Visibility::School => "school",
        Visibility::Teachers => "teachers",
        Visibility::District => "district",
    }
}

/// The index key an item of that vetting state carries (schema 7 writes it for the items
/// already shared).
pub(crate) fn review_key(state: ReviewState, id: &str) -> String {
    format!("{}-{id}", facet("r", state.as_str()))
}

/// The ids of the items in a vetting state (not `Accepted`, which has no facet).
fn ids_with_state(rx: &Rx, state: ReviewState) -> Result<Vec<String>, StoreError> {
    Ok(ids_under(rx, &facet("r", state.as_str()), None)?
        .into_keys()
        .collect())
}

/// Whether `p` (None: not logged in, e.g. an e-reader on the OPDS feed) may see `item`.
pub fn visible(p: Option<&Principal>, item: &Item) -> bool {
    if vetting::hidden(item) {
        return p.is_some_and(|p| vetting::sees(p, item));
    }
    match item.visibility {
        Visibility::School | Visibility::District => true,
        Visibility::Teachers => p.is_some_and(|p| permits(p, Action::UseLibrary)),
    }
}

fn validate(input: &ItemInput, existing: Option<&Item>) -> Result<(), LibraryError> {
    let bad = |m: &str| Err(LibraryError::Invalid(m.into()));
    let title = input
        .title
        .as_deref()
        .map(str::trim)
        .or(existing.map(|e| e.title.as_str()))
        .unwrap_or("");
    if title.is_empty() {
        return bad("Nhập tên tài liệu.");
    }
    if title.chars().count() > 300 {
        return bad("Tên tài liệu dài quá 300 ký tự.");
    }
    if let Some(g) = input.grade
        && !(1..=12).contains(&g)
    {
        return bad("Khối lớp phải từ 1 đến 12.");
    }
    if let Some(y) = input.year
        && !(1900..=2100).contains(&y)
    {
        return bad("Năm xuất bản không hợp lệ.");
    }
    if input
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 5000)
    {
        return bad("Phần mô tả dài quá 5.000 ký tự.");
    }
    if input.authors.len() > 20 || input.tags.len() > 30 || input.collections.len() > 10 {
        return bad("Quá nhiều tác giả, từ khoá hoặc bộ sưu tập.");
    }
    if let Some(i) = input.isbn.as_deref().filter(|s| !s.trim().is_empty())
        && normalize_isbn(i).is_none()
    {
        return bad("ISBN không hợp lệ (10 hoặc 13 chữ số, kiểm tra chữ số cuối).");
    }
    if input.copies.is_some_and(|c| c > 10_000) {
        return bad("Số bản không hợp lệ.");
    }
    Ok(())
}

/// Creates (`id` None) or updates an item, keeping the search index, the ISBN index and the
/// district mirror in the same transaction. `file`/`cover` are finished uploads already in the
/// blob store (see `upload::take`).
pub fn save_item(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: Option<&str>,
    input: ItemInput,
    file: Option<FileRef>,
    cover: Option<String>,
) -> Result<Item, LibraryError> {
    let existing = match id {
        Some(id) => Some(tx.get(&ITEMS, id)?.ok_or(LibraryError::NotFound)?),
        None => None,
    };
    match &existing {
        Some(e) if !permits(p, Action::ManageLibrary) && e.owner != p.id() => {
            return Err(LibraryError::Forbidden);
        }
        None if !permits(p, Action::UseLibrary) => return Err(LibraryError::Forbidden),
        _ => {}
    }
    validate(&input, existing.as_ref())?;
    let now = tx.now().to_string();
    let new_id = || format!("li-{:012x}", rand::random::<u64>() >> 16);
    let base = existing
        .clone()
        .unwrap_or_else(|| Item::new(new_id(), ItemKind::Book, "", p.id(), &now));
    let list = |v: Vec<String>| -> Vec<String> {
        v.iter()
            .map(|s| clean(s))
            .filter(|s| !s.is_empty())
            .collect()
    };
    let opt = |s: Option<String>| s.map(|s| clean(&s)).filter(|s| !s.is_empty());
    let mut item = Item {
        kind: input.kind.unwrap_or(base.kind),
        title: input.title.map(|t| clean(&t)).unwrap_or(base.title.clone()),
        authors: if input.authors.is_empty() && existing.is_some() {
            base.authors.clone()
        } else {
            list(input.authors)
        },
        subject: opt(input.subject).or(base.subject.clone()),
        grade: input.grade.or(base.grade),
        publisher: opt(input.publisher).or(base.publisher.clone()),
        year: input.year.or(base.year),
        isbn: match input.isbn {
            Some(s) if s.trim().is_empty() => None,
            Some(s) => normalize_isbn(&s),
            None => base.isbn.clone(),
        },
        tags: if input.tags.is_empty() {
            base.tags.clone()
        } else {
            list(input.tags)
        },
        description: input
            .description
            .map(|d| clean(&d))
            .unwrap_or(base.description.clone()),
        file: file.or(base.file.clone()),
        cover: cover.or(base.cover.clone()),
        collections: if input.collections.is_empty() {
            base.collections.clone()
        } else {
            list(input.collections)
        },
        visibility: input.visibility.unwrap_or(base.visibility),
        copies: input.copies.unwrap_or(base.copies),
        lesson_plan: opt(input.lesson_plan).or(base.lesson_plan.clone()),
        updated_at: now,
        ..base
    };
    if item.kind != ItemKind::Book && item.file.is_none() && item.lesson_plan.is_none() {
        return Err(LibraryError::Invalid(
            "Tài liệu số cần có tệp đính kèm (tải tệp lên trước).".into(),
        ));
    }
    // ISBN: one item per ISBN.
    if let Some(isbn) = &item.isbn
        && let Some(other) = tx.get(&ISBNS, isbn)?
        && other != item.id
    {
        let title = tx.get(&ITEMS, &other)?.map(|o| o.title).unwrap_or_default();
        return Err(LibraryError::DuplicateIsbn {
            isbn: isbn.clone(),
            title,
        });
    }
    // A new item, or a changed one, is vetted (again) before the school sees it.
    vetting::review_on_save(tx, p, existing.as_ref(), &mut item);
    write_item(tx, existing.as_ref(), &item)?;
    Ok(item)
}

/// Stores `item` replacing `old`: the record, its index entries, its ISBN and its mirror.
fn write_item(tx: &mut Tx<'_>, old: Option<&Item>, item: &Item) -> Result<(), StoreError> {
    let new_entries = index_entries(item);
    let old_entries = old.map(index_entries).unwrap_or_default();
    for k in old_entries.difference(&new_entries) {
        tx.delete(&INDEX, k, "library.index.delete")?;
    }
    for k in new_entries.difference(&old_entries) {
        tx.put(&INDEX, k, &1, "library.index.save")?;
    }
    if let Some(old) = old
        && let Some(i) = &old.isbn
        && old.isbn != item.isbn
    {
        tx.delete(&ISBNS, i, "library.isbn.delete")?;
    }
    if let Some(i) = &item.isbn {
        tx.put(&ISBNS, i, &item.id, "library.isbn.save")?;
    }
    if item.shared_by_school() {
        tx.put(&SHARED, &item.id, item, "library.share.save")?;
    } else if old.is_some_and(Item::shared_by_school) {
        tx.delete(&SHARED, &item.id, "library.share.delete")?;
    }
    tx.put(&ITEMS, &item.id, item, "library.item.save")?;
    Ok(())
}

/// Stores a new item as built elsewhere (the demo, a bulk import), with its index entries.
pub fn store_new(tx: &mut Tx<'_>, item: &Item) -> Result<(), StoreError> {
    write_item(tx, None, item)
}

pub fn delete_item(tx: &mut Tx<'_>, p: &Principal, id: &str) -> Result<Item, LibraryError> {
    let item = tx.get(&ITEMS, id)?.ok_or(LibraryError::NotFound)?;
    if !permits(p, Action::ManageLibrary) && item.owner != p.id() {
        return Err(LibraryError::Forbidden);
    }
    if open_loans(tx, id)? > 0 {
        return Err(LibraryError::Invalid(
            "Sách đang được cho mượn; nhận trả trước khi xoá.".into(),
        ));
    }
    for k in &index_entries(&item) {
        tx.delete(&INDEX, k, "library.index.delete")?;
    }
    if let Some(i) = &item.isbn {
        tx.delete(&ISBNS, i, "library.isbn.delete")?;
    }
    if item.shared_by_school() {
        tx.delete(&SHARED, id, "library.share.delete")?;
    }
    tx.delete(&ITEMS, id, "library.item.delete")?;
    Ok(item)
}

/// Search filters.
/// A search form sends every select, chosen or not: an empty value means "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub q: String,
    #[serde(default, deserialize_with = "empty_none")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "empty_none_num")]
    pub grade: Option<u8>,
    #[serde(default, deserialize_with = "kind_filter")]
    pub kind: Option<ItemKind>,
    #[serde(default, deserialize_with = "empty_none")]
    pub collection: Option<String>,
    #[serde(default, deserialize_with = "empty_none_num")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_none_num")]
    pub offset: Option<usize>,
}

/// A kind filter: its code, or its Vietnamese name ("Sách điện tử"); one that names nothing is
/// refused listing the kinds by their Vietnamese names, never the codes (review r21 #5).
pub(crate) fn kind_filter<'de, D>(d: D) -> Result<Option<ItemKind>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(s) = Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let (t, folded) = (s.trim(), crate::text::fold(s.trim()));
    ItemKind::ALL
        .into_iter()
        .find(|k| k.as_str() == t || crate::text::fold(k.label()) == folded)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(kind_refusal(t)))
}

/// Why a search's subject or grade names nothing in this school (review r21 #5), in
/// Vietnamese; `None` when both name something or are not given.
pub fn unknown_filter(rx: &Rx, q: &Query) -> Result<Option<String>, StoreError> {
    if let Some(sub) = &q.subject {
        let subjects = crate::school::list(rx, &crate::school::SUBJECTS)?;
        if !subjects.iter().any(|x| &x.id == sub) {
            return Ok(Some(format!(
                "Không có môn học mã “{}” trong trường: chọn một môn trong danh sách.",
                sub.chars().take(40).collect::<String>()
            )));
        }
    }
    if let Some(g) = q.grade {
        let grades = crate::school::school_info(rx)?
            .map(|i| i.grades())
            .unwrap_or_else(|| (1..=12).collect());
        if !grades.contains(&g) {
            let list: Vec<String> = grades.iter().map(u8::to_string).collect();
            return Ok(Some(format!(
                "Trường không có khối {g}: chọn một trong các khối {}.",
                list.join(", ")
            )));
        }
    }
    // A collection no item is in names nothing (review r24 #9: an empty list, as if the
    // library held nothing).
    if let Some(c) = &q.collection
        && ids_under(rx, &facet("c", &fold(c)), None)?.is_empty()
    {
        return Ok(Some(format!(
            "Không có bộ sưu tập “{}” trong thư viện: bỏ bộ lọc này, hoặc mở một tài liệu để xem nó thuộc bộ sưu tập nào.",
            c.chars().take(40).collect::<String>()
        )));
    }
    Ok(None)
}

/// Why a kind filter names nothing, with the kinds there are (marked `text::VI_REASON`).
pub fn kind_refusal(typed: &str) -> String {
    format!(
        "{}không có loại tài liệu “{}”; chọn một trong: {}",
        crate::text::VI_REASON,
        typed.chars().take(40).collect::<String>(),
        ItemKind::ALL
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Query strings: an empty parameter (a filter left at "any") is no filter.
pub(crate) fn empty_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::IntoDeserializer;
    match Option::<String>::deserialize(d)? {
        Some(s) if !s.trim().is_empty() => {
            T::deserialize(s.trim().to_string().into_deserializer()).map(Some)
        }
        _ => Ok(None),
    }
}

/// Query strings: an empty parameter (a filter left at "any") is no filter.
pub(crate) fn empty_none_num<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
{
    match Option::<String>::deserialize(d)? {
        Some(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a number"))),
        _ => Ok(None),
    }
}

#[derive(Debug, Serialize)]
pub struct Hits {
    pub total: usize,
    pub items: Vec<Item>,
}

/// How many index keys a prefix may expand to before the search stops widening it.
const PREFIX_CAP: usize = 20_000;

/// The score of one index key: a title word 10, another field 1, an exact word +1.
fn key_score(tok: &str, flag: u8, word: Option<&str>) -> u32 {
    let base = match flag {
        b'T' => 10,
        b'o' => 1,
        _ => 0,
    };
    base + u32::from(word.is_some_and(|w| tok == w))
}

/// Item ids under an index prefix, with the best score of their keys.
fn ids_under(
    rx: &Rx,
    prefix: &str,
    word: Option<&str>,
) -> Result<HashMap<String, u32>, StoreError> {
    let mut found: HashMap<String, u32> = HashMap::new();
    let mut n = 0usize;
    rx.keys_while(&INDEX, prefix, &mut |k| {
        n += 1;
        if let Some((tok, rest)) = k.split_once('\u{1}')
            && rest.len() > 1
        {
            let score = key_score(tok, rest.as_bytes()[0], word);
            let e = found.entry(rest[1..].to_string()).or_insert(0);
            *e = (*e).max(score);
        }
        n < PREFIX_CAP
    })?;
    Ok(found)
}

/// One narrowing step of a search.
enum Step {
    /// A whole word ("{w}\u{1}").
    Word(String),
    /// A facet key prefix (subject, grade, kind, collection).
    Facet(String),
    /// The last word, as a prefix.
    Prefix(String),
}

/// Keeps the candidates the step matches, adding its score. Small candidate sets are probed key
/// by key; large ones are checked against one pass over the step's keys, without allocating.
fn narrow(rx: &Rx, cand: &mut HashMap<String, u32>, step: &Step) -> Result<(), StoreError> {
    const PROBE_BELOW: usize = 3_000;
    match step {
        Step::Word(w) if cand.len() < PROBE_BELOW => {
            let mut keep: HashMap<String, u32> = HashMap::with_capacity(cand.len());
            for (id, score) in cand.iter() {
                for flag in ['T', 'o'] {
                    if rx.get(&INDEX, &format!("{w}\u{1}{flag}{id}"))?.is_some() {
                        keep.insert(id.clone(), score + key_score(w, flag as u8, Some(w)));
                        break;
                    }
                }
            }
            *cand = keep;
        }
        Step::Facet(f) if cand.len() < PROBE_BELOW => {
            let mut keep = HashMap::with_capacity(cand.len());
            for (id, score) in cand.iter() {
                if rx.get(&INDEX, &format!("{f}-{id}"))?.is_some() {
                    keep.insert(id.clone(), *score);
                }
            }
            *cand = keep;
        }
        _ => {
            let (prefix, word) = match step {
                Step::Word(w) => (format!("{w}\u{1}"), Some(w.as_str())),
                Step::Facet(f) => (f.clone(), None),
                Step::Prefix(p) => (p.clone(), Some(p.as_str())),
            };
            let mut round: HashMap<&str, u32> = HashMap::new();
            let mut n = 0usize;
            let mut hits: Vec<(String, u32)> = Vec::new();
            rx.keys_while(&INDEX, &prefix, &mut |k| {
                n += 1;
                if let Some((tok, rest)) = k.split_once('\u{1}')
                    && rest.len() > 1
                    && cand.contains_key(&rest[1..])
                {
                    hits.push((
                        rest[1..].to_string(),
                        key_score(tok, rest.as_bytes()[0], word),
                    ));
                }
                n < PREFIX_CAP
            })?;
            for (id, sc) in &hits {
                let e = round.entry(id.as_str()).or_insert(0);
                *e = (*e).max(*sc);
            }
            cand.retain(|id, score| match round.get(id.as_str()) {
                Some(x) => {
                    *score += x;
                    true
                }
                None => false,
            });
        }
    }
    Ok(())
}

/// Diacritic- and case-insensitive search: every word must match a whole indexed word except
/// the last, which matches as a prefix ("tieng vi" finds "Tiếng Việt"). Filters and visibility
/// come from facet entries of the same index, and the ranking from the index alone: words in
/// the title first, exact words above prefixes; only the page shown is read from the items
/// (where a title that starts with the query moves up).
pub fn search(rx: &Rx, p: Option<&Principal>, q: &Query) -> Result<Hits, StoreError> {
    let words = tokens(&q.q);
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let offset = q.offset.unwrap_or(0);
    let mut steps: Vec<Step> = Vec::new();
    if let Some((last, rest)) = words.split_last() {
        steps.extend(rest.iter().map(|w| Step::Word(w.clone())));
        if let Some(s) = &q.subject {
            steps.push(Step::Facet(facet("s", s)));
        }
        if let Some(g) = q.grade {
            steps.push(Step::Facet(facet("g", &g.to_string())));
        }
        if let Some(k) = q.kind {
            steps.push(Step::Facet(facet("k", k.as_str())));
        }
        if let Some(c) = &q.collection {
            steps.push(Step::Facet(facet("c", &fold(c))));
        }
        steps.push(Step::Prefix(last.clone()));
    } else {
        for (name, v) in [
            ("s", q.subject.clone()),
            ("g", q.grade.map(|g| g.to_string())),
            ("k", q.kind.map(|k| k.as_str().to_string())),
            ("c", q.collection.as_deref().map(fold)),
        ] {
            if let Some(v) = v {
                steps.push(Step::Facet(facet(name, &v)));
            }
        }
    }
    // The first step gives the candidates (everything when nothing narrows: the page without a
    // query); each further step narrows them.
    let mut steps = steps.into_iter();
    let mut cand = match steps.next() {
        Some(Step::Word(w)) => ids_under(rx, &format!("{w}\u{1}"), Some(&w))?,
        Some(Step::Facet(f)) => ids_under(rx, &f, None)?,
        Some(Step::Prefix(p)) => ids_under(rx, &p, Some(&p))?,
        None => {
            let mut all = HashMap::new();
            rx.keys_while(&ITEMS, "", &mut |k| {
                all.insert(k.to_string(), 0);
                true
            })?;
            all
        }
    };
    for step in steps {
        if cand.is_empty() {
            break;
        }
        narrow(rx, &mut cand, &step)?;
    }
    let hidden = match p {
        Some(p) if permits(p, Action::UseLibrary) => HashMap::new(),
        _ => ids_under(rx, &facet("v", "teachers"), None)?,
    };
    cand.retain(|id, _| !hidden.contains_key(id));
    // Items waiting for their vetting or returned: only for their owner and reviewers, told
    // apart by index keys, so no item off the page is read.
    let mut held = Vec::new();
    for state in [ReviewState::Waiting, ReviewState::Returned] {
        held.extend(
            ids_with_state(rx, state)?
                .into_iter()
                .filter(|id| cand.contains_key(id)),
        );
    }
    let seen = held_seen(rx, p, &held)?;
    for id in held.iter().filter(|id| !seen.contains(*id)) {
        cand.remove(id);
    }
    let total = cand.len();
    let mut ranked: Vec<(u32, String)> = cand.into_iter().map(|(id, s)| (s, id)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    // Read a window past the page so a title starting with the query can move into it.
    let window = (offset + limit + 50).min(ranked.len());
    let folded_q = words.join(" ");
    let mut page: Vec<(u32, String, Item)> = Vec::with_capacity(window);
    for (score, id) in ranked.into_iter().take(window) {
        if let Some(item) = rx.get(&ITEMS, &id)? {
            let ft = tokens(&item.title).join(" ");
            let bonus = u32::from(!folded_q.is_empty() && ft.starts_with(&folded_q)) * 5;
            page.push((score + bonus, ft, item));
        }
    }
    page.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(Hits {
        total,
        items: page
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, _, i)| i)
            .collect(),
    })
}

// ───────────────────────────── circulation ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loan {
    pub id: String,
    pub item: String,
    pub student: String,
    pub lent_on: jiff::civil::Date,
    pub due: jiff::civil::Date,
    pub returned_on: Option<jiff::civil::Date>,
    pub by: String,
}

fn open_loans(rx: &impl Read, item: &str) -> Result<u32, StoreError> {
    let mut n = 0;
    rx.scan_each(&LOANS, "", &mut |_, l: Loan| {
        if l.item == item && l.returned_on.is_none() {
            n += 1;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Lends a paper copy to a student (librarian: admin or BGH).
pub fn lend(
    tx: &mut Tx<'_>,
    p: &Principal,
    item: &str,
    student: &str,
    due: jiff::civil::Date,
) -> Result<Loan, LibraryError> {
    if !permits(p, Action::ManageLibrary) {
        return Err(LibraryError::Forbidden);
    }
    let it = tx.get(&ITEMS, item)?.ok_or(LibraryError::NotFound)?;
    // The librarian types the student's id or their 12-digit mã định danh (on the card).
    let student = match tx.get(&crate::school::STUDENTS, student)? {
        Some(s) => s.id,
        None => {
            let code = student.trim();
            crate::school::student_by_code(tx, code)?
                .ok_or_else(|| LibraryError::Invalid(format!("Không có học sinh mã “{code}”.")))?
        }
    };
    let student = student.as_str();
    let today = tx.now().to_zoned(crate::school::time_zone()).date();
    if due < today {
        return Err(LibraryError::Invalid(
            "Hạn trả phải từ hôm nay trở đi.".into(),
        ));
    }
    if open_loans(tx, item)? >= it.copies {
        return Err(LibraryError::NoCopies(it.title));
    }
    let loan = Loan {
        id: format!(
            "{}-{:06x}",
            today.strftime("%Y%m%d"),
            rand::random::<u32>() >> 8
        ),
        item: item.into(),
        student: student.into(),
        lent_on: today,
        due,
        returned_on: None,
        by: p.id().into(),
    };
    tx.put(&LOANS, &loan.id, &loan, "library.loan")?;
    Ok(loan)
}

pub fn give_back(tx: &mut Tx<'_>, p: &Principal, loan: &str) -> Result<Loan, LibraryError> {
    if !permits(p, Action::ManageLibrary) {
        return Err(LibraryError::Forbidden);
    }
    let mut l = tx.get(&LOANS, loan)?.ok_or(LibraryError::NotFound)?;
    if l.returned_on.is_some() {
        return Err(LibraryError::Invalid("Sách này đã được trả.".into()));
    }
    l.returned_on = Some(tx.now().to_zoned(crate::school::time_zone()).date());
    tx.put(&LOANS, &l.id, &l, "library.loan")?;
    Ok(l)
}

/// Loans, newest first: all open ones past due (`overdue`), or one student's history.
pub fn loans(
    rx: &Rx,
    today: jiff::civil::Date,
    overdue: bool,
    student: Option<&str>,
) -> Result<Vec<Loan>, StoreError> {
    let mut out: Vec<Loan> = rx
        .scan(&LOANS, "")?
        .into_iter()
        .map(|(_, l)| l)
        .filter(|l| student.is_none_or(|s| l.student == s))
        .filter(|l| !overdue || (l.returned_on.is_none() && l.due < today))
        .collect();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(out)
}

/// Bytes of files a user's items hold (for the upload quota).
pub fn used_bytes(rx: &Rx, owner: &str) -> Result<u64, StoreError> {
    let mut seen = BTreeSet::new();
    let mut n = 0;
    rx.scan_each(&ITEMS, "", &mut |_, i: Item| {
        if i.owner == owner
            && let Some(f) = &i.file
            && seen.insert(f.blob.clone())
        {
            n += f.size;
        }
        Ok(())
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests;
