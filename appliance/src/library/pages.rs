//! Library pages: search with filters, the upload form, one item (read or watch in the browser).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::{Item, ItemKind};
use crate::auth::{Action, permits};
use crate::net::pages::{chrome, page, render};
use crate::net::{ApiError, PageUser, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/library", get(library))
        .route("/library/item/{id}", get(item_page))
}

/// An item as a list row shows it.
pub(crate) struct Row {
    id: String,
    title: String,
    authors: String,
    kind: &'static str,
    meta: String,
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
        meta.push(format!("{:.1} MB", f.size as f64 / 1_048_576.0));
    }
    Row {
        id: i.id.clone(),
        title: i.title.clone(),
        authors: i.authors.join(", "),
        kind: i.kind.label(),
        meta: meta.join(" · "),
    }
}

page!(LibraryPage, "library.html" {
    q: String,
    subject: String,
    grade: String,
    kind: String,
    total: usize,
    rows: Vec<Row>,
    subjects: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    can_add: bool,
});

async fn library(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Query(q): Query<super::Query>,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let subjects: Vec<(String, String)> = crate::school::list(&rx, &crate::school::SUBJECTS)?
        .into_iter()
        .map(|x| (x.id, x.name))
        .collect();
    let hits = super::search(&rx, Some(&u.principal), &q)?;
    let rows = hits.items.iter().map(|i| row(i, &subjects)).collect();
    Ok(render(LibraryPage::new(
        chrome(&s, &u, &headers),
        q.q.clone(),
        q.subject.clone().unwrap_or_default(),
        q.grade.map(|g| g.to_string()).unwrap_or_default(),
        q.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        hits.total,
        rows,
        subjects,
        ItemKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        permits(&u.principal, Action::UseLibrary),
    )))
}

page!(ItemPage, "library_item.html" {
    item: Item,
    row: Row,
    media: &'static str,
    can_edit: bool,
});

async fn item_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let item = super::routes::visible_item(&s, Some(&u.principal), &id)?;
    let rx = s.store.read()?;
    let subjects: Vec<(String, String)> = crate::school::list(&rx, &crate::school::SUBJECTS)?
        .into_iter()
        .map(|x| (x.id, x.name))
        .collect();
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
    Ok(render(ItemPage::new(
        chrome(&s, &u, &headers),
        item,
        r,
        media,
        can_edit,
    )))
}
