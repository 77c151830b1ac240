//! OPDS 1.2 catalogue (Atom) so e-reader apps on phones can browse, search and download:
//! `/opds` (navigation root), `/opds/new` (acquisition feed, newest first), `/opds/search?q=`
//! and the OpenSearch description `/opds/search.xml`. Apps without a session see what the whole
//! school may see.

use crate::http::Query;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Item, Query as Search};
use crate::auth::extract::MaybeUser;
use crate::http::{ApiError, Shared};
use crate::store::Read;
use crate::text::html_escape as esc;

pub const NAV: &str = "application/atom+xml;profile=opds-catalog;kind=navigation";
pub const ACQ: &str = "application/atom+xml;profile=opds-catalog;kind=acquisition";

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn school_name(s: &Shared) -> String {
    s.store
        .read()
        .ok()
        .and_then(|rx| crate::school::school_info(&rx).ok().flatten())
        .map(|i| i.name)
        .unwrap_or_else(|| "Trạm".into())
}

fn feed(id: &str, title: &str, self_href: &str, kind: &str, entries: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/terms/" xmlns:opds="http://opds-spec.org/2010/catalog" xml:lang="vi">
  <id>{id}</id>
  <title>{title}</title>
  <updated>{now}</updated>
  <author><name>Trạm</name></author>
  <link rel="self" href="{self_href}" type="{kind}"/>
  <link rel="start" href="/opds" type="{NAV}"/>
  <link rel="search" href="/opds/search.xml" type="application/opensearchdescription+xml"/>
{entries}</feed>
"#,
        id = esc(id),
        title = esc(title),
        self_href = esc(self_href),
        now = now(),
    )
}

fn xml(kind: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The navigation root.
pub async fn root(State(s): State<Shared>) -> Response {
    let entries = format!(
        r#"  <entry>
    <title>Tài liệu mới</title>
    <id>urn:tram:opds:new</id>
    <updated>{now}</updated>
    <content type="text">Sách, sách điện tử, video và học liệu mới nhất của thư viện</content>
    <link rel="http://opds-spec.org/sort/new" href="/opds/new" type="{ACQ}"/>
  </entry>
"#,
        now = now()
    );
    let title = format!("Thư viện số — {}", school_name(&s));
    xml(
        NAV,
        feed("urn:tram:opds:root", &title, "/opds", NAV, &entries),
    )
}

fn entry(i: &Item) -> String {
    let mut e = format!(
        "  <entry>\n    <title>{}</title>\n    <id>urn:tram:item:{}</id>\n    <updated>{}</updated>\n",
        esc(&i.title),
        esc(&i.id),
        esc(&i.updated_at)
    );
    for a in &i.authors {
        e += &format!("    <author><name>{}</name></author>\n", esc(a));
    }
    e += "    <dc:language>vi</dc:language>\n";
    if let Some(p) = &i.publisher {
        e += &format!("    <dc:publisher>{}</dc:publisher>\n", esc(p));
    }
    if let Some(y) = i.year {
        e += &format!("    <dc:issued>{y}</dc:issued>\n");
    }
    if let Some(isbn) = &i.isbn {
        e += &format!(
            "    <dc:identifier>urn:isbn:{}</dc:identifier>\n",
            esc(isbn)
        );
    }
    if let Some(s) = &i.subject {
        e += &format!("    <category term=\"{0}\" label=\"{0}\"/>\n", esc(s));
    }
    if !i.description.is_empty() {
        e += &format!("    <summary>{}</summary>\n", esc(&i.description));
    }
    if let Some(f) = &i.file {
        e += &format!(
            "    <link rel=\"http://opds-spec.org/acquisition/open-access\" href=\"/library/file/{}\" type=\"{}\" length=\"{}\"/>\n",
            esc(&i.id),
            esc(f.mime.split(';').next().unwrap_or(&f.mime)),
            f.size
        );
    }
    if i.cover.is_some() {
        for rel in [
            "http://opds-spec.org/image",
            "http://opds-spec.org/image/thumbnail",
        ] {
            e += &format!(
                "    <link rel=\"{rel}\" href=\"/library/cover/{}\" type=\"image/jpeg\"/>\n",
                esc(&i.id)
            );
        }
    }
    e += "  </entry>\n";
    e
}

fn acquisition(
    s: &Shared,
    p: Option<&crate::auth::Principal>,
    q: Search,
    id: &str,
    title: &str,
    href: &str,
) -> Result<Response, ApiError> {
    let hits = super::search(&s.store.read()?, p, &q)?;
    let entries: String = hits
        .items
        .iter()
        .filter(|i| i.file.is_some())
        .map(entry)
        .collect();
    Ok(xml(ACQ, feed(id, title, href, ACQ, &entries)))
}

/// The newest items with a file.
pub async fn newest(
    State(s): State<Shared>,
    MaybeUser(p): MaybeUser,
) -> Result<Response, ApiError> {
    let mut items: Vec<Item> = Vec::new();
    s.store
        .read()?
        .scan_each(&super::ITEMS, "", &mut |_, i: Item| {
            if i.file.is_some() && super::visible(p.as_ref(), &i) {
                items.push(i);
            }
            Ok(())
        })?;
    items.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    let entries: String = items.iter().take(50).map(entry).collect();
    Ok(xml(
        ACQ,
        feed(
            "urn:tram:opds:new",
            "Tài liệu mới",
            "/opds/new",
            ACQ,
            &entries,
        ),
    ))
}

#[derive(Deserialize)]
pub struct SearchQ {
    #[serde(default)]
    q: String,
}

pub async fn search(
    State(s): State<Shared>,
    MaybeUser(p): MaybeUser,
    Query(sq): Query<SearchQ>,
) -> Result<Response, ApiError> {
    let href = format!("/opds/search?q={}", crate::http::urlencode(&sq.q));
    let title = format!("Tìm: {}", sq.q);
    acquisition(
        &s,
        p.as_ref(),
        Search {
            q: sq.q,
            ..Default::default()
        },
        "urn:tram:opds:search",
        &title,
        &href,
    )
}

pub async fn opensearch() -> Response {
    xml(
        "application/opensearchdescription+xml",
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">
  <ShortName>Thư viện Trạm</ShortName>
  <Description>Tìm sách và học liệu (gõ không dấu cũng được)</Description>
  <InputEncoding>UTF-8</InputEncoding>
  <OutputEncoding>UTF-8</OutputEncoding>
  <Url type="{ACQ}" template="/opds/search?q={{searchTerms}}"/>
</OpenSearchDescription>
"#
        ),
    )
}
