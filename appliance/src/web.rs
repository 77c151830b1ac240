//! Glue to the `web/` folder at the repository root: the i18n catalogues, static assets and the
//! OpenAPI document, all compiled into the binary (the box never needs a CDN).

use std::collections::HashMap;
use std::sync::OnceLock;

pub const OPENAPI: &str = include_str!("../../web/openapi.json");

pub static STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../web/static/app.css"),
    ),
    (
        "grid.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/grid.js"),
    ),
    (
        "library.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/library.js"),
    ),
    (
        "lessons.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/lessons.js"),
    ),
    (
        "device.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/device.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/app.js"),
    ),
];

const VI: &str = include_str!("../../web/i18n/vi.json");
const EN: &str = include_str!("../../web/i18n/en.json");

fn catalogue(en: bool) -> &'static HashMap<String, String> {
    static C: OnceLock<[HashMap<String, String>; 2]> = OnceLock::new();
    let c = C.get_or_init(|| {
        [
            serde_json::from_str(VI).expect("web/i18n/vi.json is valid"),
            serde_json::from_str(EN).expect("web/i18n/en.json is valid"),
        ]
    });
    &c[en as usize]
}

/// The UI language: Vietnamese first, English when the `lang=en` cookie is set.
#[derive(Clone, Copy, Debug)]
pub struct I18n {
    pub en: bool,
}

impl I18n {
    pub fn from_headers(h: &axum::http::HeaderMap) -> I18n {
        I18n {
            en: crate::net::cookie(h, "lang").as_deref() == Some("en"),
        }
    }
    pub fn s<'a>(&self, key: &'a str) -> &'a str {
        match catalogue(self.en).get(key) {
            Some(v) => {
                // SAFETY of lifetimes: the catalogue is 'static.
                let v: &'static str = v.as_str();
                v
            }
            None => key,
        }
    }
    pub fn lang(&self) -> &'static str {
        if self.en { "en" } else { "vi" }
    }
}

/// An ETag for the embedded assets: they change only with the binary.
pub fn static_etag(body: &str) -> String {
    format!("\"{}\"", &blake3::hash(body.as_bytes()).to_hex()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_same_keys() {
        let vi: HashMap<String, String> = serde_json::from_str(VI).unwrap();
        let en: HashMap<String, String> = serde_json::from_str(EN).unwrap();
        let mut a: Vec<_> = vi.keys().collect();
        let mut b: Vec<_> = en.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    /// The content security policy allows scripts from files only: an inline handler or script
    /// would silently do nothing in the browser.
    #[test]
    fn templates_have_no_inline_scripts() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/templates");
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
            for bad in [
                " onclick=",
                " onchange=",
                " onsubmit=",
                " onload=",
                "<script>",
                "javascript:",
            ] {
                assert!(!text.contains(bad), "{} contains {bad}", path.display());
            }
        }
    }

    #[test]
    fn every_key_used_in_templates_exists() {
        let vi: HashMap<String, String> = serde_json::from_str(VI).unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/templates");
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for part in text.split("t.s(\"").skip(1) {
                let key = &part[..part.find('"').unwrap()];
                assert!(vi.contains_key(key), "missing i18n key {key}");
            }
        }
    }

    #[test]
    fn openapi_is_valid_json_with_login() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert!(v["paths"]["/api/v1/login"]["post"].is_object());
    }
}
