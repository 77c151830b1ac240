//! Library pages: search with filters, the upload form, one item (read or watch in the browser).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::{ITEMS, Item, ItemKind};
use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::auth::{Action, permits};
use crate::http::render;
use crate::http::{ApiError, Shared};
use crate::store::Read;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/library", get(library))
        .route("/library/item/{id}", get(item_page))
        .route("/library/loans", get(loans_page))
        .route("/library/review", get(review_page))
}

/// (id, name) of the school's subjects, for filters and rows.
fn subject_names(rx: &crate::store::Rx) -> Result<Vec<(String, String)>, ApiError> {
    Ok(crate::school::list(rx, &crate::school::SUBJECTS)?
        .into_iter()
        .map(|x| (x.id, x.name))
        .collect())
}

/// Account id → full name, for who shared and who decided.
fn names(rx: &crate::store::Rx) -> Result<std::collections::HashMap<String, String>, ApiError> {
    Ok(crate::auth::list_accounts(rx)?
        .into_iter()
        .map(|a| (a.id, a.full_name))
        .collect())
}

/// An item as a list row shows it.
pub(crate) struct Row {
    id: String,
    title: String,
    authors: String,
    kind: &'static str,
    meta: String,
    cover: bool,
    /// The vetting badge ("chờ thẩm định", "chưa thẩm định"…; empty: none).
    badge: &'static str,
}

fn row(i: &Item, subjects: &[(String, String)]) -> Row {
    let subject = i
        .subject
        .as_ref()
        .map(|s| {
            subjects
                .iter()
                .find(|(id, _)| id == s)
                .map(|x| x.1.clone())
                .unwrap_or_else(|| s.clone())
        })
        .unwrap_or_default();
    let mut meta: Vec<String> = Vec::new();
    if !subject.is_empty() {
        meta.push(subject);
    }
    if let Some(g) = i.grade {
        meta.push(format!("Lớp {g}"));
    }
    if let Some(y) = i.year {
        meta.push(y.to_string());
    }
    if let Some(f) = &i.file {
        meta.push(crate::text::human_size(f.size));
    }
    Row {
        id: i.id.clone(),
        title: i.title.clone(),
        authors: i.authors.join(", "),
        kind: i.kind.label(),
        meta: meta.join(" · "),
        cover: i.cover.is_some(),
        badge: super::vetting::badge(i),
    }
}

page!(LibraryPage, "library.html" {
    q: String,
    subject: String,
    grade: String,
    grades: Vec<u8>,
    kind: String,
    total: usize,
    rows: Vec<Row>,
    subjects: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    can_add: bool,
    can_lend: bool,
    can_import: bool,
});

async fn library(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<super::Query>,
) -> Result<Response, ApiError> {
    // A filter that does not read (a kind that names nothing, a grade that is no number, one
    // given twice): the reason, the kinds by their Vietnamese names, the menu (review r21 #5).
    let rx = s.store.read()?;
    let checked = match typed.filters {
        Ok(q) => match super::unknown_filter(&rx, &q)? {
            Some(why) => Err(why),
            None => Ok(q),
        },
        Err(why) => Err(why),
    };
    let q = match checked {
        Ok(q) => q,
        Err(why) => {
            let mut choices = vec![("/library".to_string(), "Tất cả tài liệu".to_string())];
            choices.extend(ItemKind::ALL.iter().map(|k| {
                (
                    format!("/library?kind={}", k.as_str()),
                    k.label().to_string(),
                )
            }));
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Thư viện",
                why,
                choices,
            );
        }
    };
    let subjects = subject_names(&rx)?;
    let hits = super::search(&rx, Some(&u.principal), &q)?;
    let rows = hits.items.iter().map(|i| row(i, &subjects)).collect();
    let grades = crate::school::school_info(&rx)?
        .map(|i| i.grades())
        .unwrap_or_else(|| (1..=12).collect());
    Ok(render(LibraryPage::new(
        chrome(&s, &u, &headers),
        q.q.clone(),
        q.subject.clone().unwrap_or_default(),
        q.grade.map(|g| g.to_string()).unwrap_or_default(),
        grades,
        q.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        hits.total,
        rows,
        subjects,
        ItemKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        permits(&u.principal, Action::UseLibrary),
        permits(&u.principal, Action::ManageLibrary),
        permits(&u.principal, Action::ManageDevice),
    )))
}

page!(ItemPage, "library_item.html" {
    item: Item,
    row: Row,
    media: &'static str,
    can_edit: bool,
    subjects: Vec<(String, String)>,
    visibilities: Vec<(&'static str, &'static str)>,
    current_visibility: &'static str,
    can_vet: bool,
    reviewer: String,
    district_note: String,
    district_refused: bool,
});

async fn item_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let item = super::routes::visible_item(&s, Some(&u.principal), &id)?;
    let rx = s.store.read()?;
    let subjects = subject_names(&rx)?;
    let media = match item.file.as_ref().map(|f| f.mime.as_str()) {
        Some(m) if m.starts_with("video/") => "video",
        Some(m) if m.starts_with("audio/") => "audio",
        Some("application/pdf") => "pdf",
        Some(m) if m.starts_with("image/") => "image",
        Some(_) => "download",
        None => "",
    };
    let can_edit = permits(&u.principal, Action::ManageLibrary) || item.owner == u.principal.id();
    let r = row(&item, &subjects);
    let current_visibility = super::visibility_str(item.visibility);
    let can_vet = super::vetting::may_decide(&u.principal, &item);
    let district_note = super::vetting::district_note(&item);
    let district_refused = item.review.district.as_ref().is_some_and(|d| !d.approved);
    let reviewer = match &item.review.by {
        Some(id) => names(&rx)?.remove(id).unwrap_or_else(|| id.clone()),
        None => String::new(),
    };
    Ok(render(ItemPage::new(
        chrome(&s, &u, &headers),
        item,
        r,
        media,
        can_edit,
        subjects,
        vec![
            ("school", "library.vis_school"),
            ("teachers", "library.vis_teachers"),
            ("district", "library.vis_district"),
        ],
        current_visibility,
        can_vet,
        reviewer,
        district_note,
        district_refused,
    )))
}

// Each item waiting, with the name of who shared it. (The item page's `district_note` is the
// district's decision on an item shared with it, "" when none.)
page!(ReviewPage, "library_review.html" {
    rows: Vec<(Row, String)>,
});

/// The review queue (thẩm định) of a department head or a BGH member.
async fn review_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    super::vetting::require_reviewer(&u.principal)?;
    let rx = s.store.read()?;
    let subjects = subject_names(&rx)?;
    let items = super::vetting::queue(&rx, &u.principal)?;
    let names = names(&rx)?;
    let rows = items
        .iter()
        .map(|i| {
            let owner = names.get(&i.owner).cloned();
            (row(i, &subjects), owner.unwrap_or_else(|| i.owner.clone()))
        })
        .collect();
    Ok(render(ReviewPage::new(chrome(&s, &u, &headers), rows)))
}

pub(crate) struct LoanRow {
    id: String,
    book: String,
    student: String,
    student_id: String,
    lent: String,
    due: String,
    returned: String,
    overdue: bool,
}

page!(LoansPage, "library_loans.html" {
    loans: Vec<LoanRow>,
    books: Vec<(String, String)>,
    student: Option<String>,
    today: String,
});

#[derive(serde::Deserialize)]
struct LoansQ {
    student: Option<String>,
}

/// Circulation of paper books (admin and BGH, who run the library): open loans with the
/// overdue ones first, the lend form, and one student's history.
async fn loans_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<LoansQ>,
) -> Result<Response, ApiError> {
    u.require(Action::ManageLibrary)?;
    let rx = s.store.read()?;
    // A student that names nobody (or given twice): the reason and the menu, never an empty
    // history (review r21 #5).
    let checked = match typed.filters {
        Ok(LoansQ { student: Some(st) }) if st.trim().is_empty() => Ok(LoansQ { student: None }),
        Ok(LoansQ { student: Some(st) }) if rx.get(&crate::school::STUDENTS, &st)?.is_none() => {
            Err(format!(
                "Không có học sinh mã “{}” trong trường: chọn một học sinh trong danh sách mượn sách.",
                st.chars().take(40).collect::<String>()
            ))
        }
        Ok(q) => Ok(q),
        Err(why) => Err(why),
    };
    let q = match checked {
        Ok(q) => q,
        Err(why) => {
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Mượn trả sách",
                why,
                vec![(
                    "/library/loans".to_string(),
                    "Sách đang cho mượn".to_string(),
                )],
            );
        }
    };
    let today = jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .date();
    let fmt = |d: jiff::civil::Date| d.strftime("%d/%m/%Y").to_string();
    let mut list = super::loans(&rx, today, false, q.student.as_deref())?;
    if q.student.is_none() {
        list.retain(|l| l.returned_on.is_none());
    }
    list.sort_by_key(|l| (l.returned_on.is_some(), l.due));
    let mut rows = Vec::new();
    for l in list {
        let book = rx
            .get(&ITEMS, &l.item)?
            .map(|i| i.title)
            .unwrap_or_default();
        let student = rx
            .get(&crate::school::STUDENTS, &l.student)?
            .map(|st| {
                let class = rx
                    .get(&crate::school::CLASSES, &st.class_id)
                    .ok()
                    .flatten()
                    .map(|c| c.name)
                    .unwrap_or_default();
                format!("{} ({class})", st.full_name)
            })
            .unwrap_or_else(|| l.student.clone());
        rows.push(LoanRow {
            overdue: l.returned_on.is_none() && l.due < today,
            id: l.id,
            book,
            student,
            student_id: l.student,
            lent: fmt(l.lent_on),
            due: fmt(l.due),
            returned: l.returned_on.map(fmt).unwrap_or_default(),
        });
    }
    let mut books = Vec::new();
    rx.scan_each(&ITEMS, "", &mut |_, i: Item| {
        if i.copies > 0 {
            books.push((i.id, format!("{} ({} bản)", i.title, i.copies)));
        }
        Ok(())
    })?;
    books.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(render(LoansPage::new(
        chrome(&s, &u, &headers),
        rows,
        books,
        q.student,
        today.to_string(),
    )))
}
