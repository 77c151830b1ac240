//! The one query-string extractor of the box and the hub (review r20 #9, #10): a query string
//! that does not parse — a word where a number goes, a field given twice (`?year=a&year=b`),
//! a value outside an enum — is never axum's English plain text. [`Query`] answers 400
//! `bad_filter` in Vietnamese ([`super::rejection_vi`]: the parameter named; axum's English
//! words only in the debug log, review r21 #7) — JSON for an API or a client that does not ask for HTML, the
//! site's error page for a browser (`page_errors_as_html`); [`PageQuery`] hands a page with a
//! filter form the reason and the values as typed, so it shows itself again — menu, form,
//! message, status 400 — as the hub's `/district` does.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use serde::de::DeserializeOwned;

use super::{ApiError, rejection_vi};

/// A refused filter: 400 `bad_filter` with the reason, in Vietnamese.
pub fn bad_filter(why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_filter", why)
}

/// The query string's pairs as typed ("" → none; an unreadable one → none).
fn pairs(uri: &Uri) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// A query string read into `T`, or the reason it cannot be (and axum's own words).
fn read<T: DeserializeOwned>(uri: &Uri) -> Result<T, (String, String)> {
    // A field of `T` given twice is serde's "duplicate field", said in Vietnamese by
    // `rejection_vi`; a parameter `T` does not take is ignored, twice or not.
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| {
            let raw = e.body_text();
            (rejection_vi(&raw), raw)
        })
}

/// axum's `Query`, refusing in Vietnamese as `bad_filter` (see the module).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        read(&parts.uri).map(Query).map_err(|(why, raw)| {
            // axum's English words are for the log, never the user (review r21 #7).
            tracing::debug!(detail = %raw, "query string refused");
            bad_filter(why)
        })
    }
}

/// A page's filters: parsed, or the reason they are not — the page then shows itself with its
/// form as typed ([`PageQuery::raw`]) and the reason, status 400.
pub struct PageQuery<T> {
    pub filters: Result<T, String>,
    /// The client asked for HTML (a browser): a refusal is the page; anyone else gets the
    /// JSON `bad_filter` ([`refusal`]).
    pub page: bool,
    pairs: Vec<(String, String)>,
}

/// A page's refused filter for a client that did not ask for HTML: the JSON `bad_filter`.
pub fn refusal(page: bool, why: Option<&String>) -> Result<(), ApiError> {
    match why {
        Some(why) if !page => Err(bad_filter(why.clone())),
        _ => Ok(()),
    }
}

impl<T> PageQuery<T> {
    /// The first value typed for `key` (empty when none), to put back in the form.
    pub fn raw(&self, key: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        let page = parts
            .headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        Ok(PageQuery {
            filters: read(&parts.uri).map_err(|(why, _)| why),
            page,
            pairs: pairs(&parts.uri),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    fn read<T: serde::de::DeserializeOwned>(q: &str) -> Result<T, (String, String)> {
        super::read(&format!("/?{q}").parse().unwrap())
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct F {
        #[serde(default)]
        year: Option<String>,
        #[serde(default)]
        grade: Option<u8>,
    }

    #[test]
    fn a_query_that_does_not_parse_is_refused_in_vietnamese() {
        assert_eq!(
            read::<F>("year=2026-2027&grade=6").unwrap(),
            F {
                year: Some("2026-2027".into()),
                grade: Some(6)
            }
        );
        let (why, raw) = read::<F>("year=2026-2027&year=2027-2028").unwrap_err();
        assert_eq!(
            why,
            "Yêu cầu không hợp lệ: tham số “year” được ghi hai lần; chỉ ghi một giá trị."
        );
        assert!(raw.contains("duplicate field"));
        // A parameter the filter does not take is ignored, even twice.
        assert!(read::<F>("x=1&x=2&grade=7").is_ok());
        let (why, _) = read::<F>("grade=abc").unwrap_err();
        assert_eq!(why, "Yêu cầu không hợp lệ: tham số “grade”: cần một số.");
        // A deserializer's own Vietnamese reason (`text::VI_REASON`) is said as written.
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct K {
            #[serde(deserialize_with = "kind")]
            kind: String,
        }
        fn kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
            let s = String::deserialize(d)?;
            Err(serde::de::Error::custom(format!(
                "{}không có loại “{s}”; chọn một trong: Sách, Video",
                crate::text::VI_REASON
            )))
        }
        let (why, _) = read::<K>("kind=book2").unwrap_err();
        assert_eq!(
            why,
            "Yêu cầu không hợp lệ: tham số “kind”: không có loại “book2”; chọn một trong: Sách, Video."
        );
        let (why, _) = read::<F>("grade=300").unwrap_err();
        assert!(why.starts_with("Yêu cầu không hợp lệ"), "{why}");
        assert!(!why.contains("Failed"), "{why}");
    }
}
