//! Glue to the `web/` folder at the repository root: the i18n catalogues, static assets and the
//! OpenAPI document, all compiled into the binary (the box never needs a CDN).

use std::collections::HashMap;
use std::sync::OnceLock;

pub const OPENAPI: &str = include_str!("../../web/openapi.json");

pub static STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "bootstrap.css",
        "text/css; charset=utf-8",
        include_str!("../../web/static/bootstrap.css"),
    ),
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

    /// The (method, path) pairs each capability's `api()` router registers, read from its
    /// source: `.route("/path", get(a).post(b))`.
    fn registered_api_routes() -> std::collections::BTreeSet<(String, String)> {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut out = std::collections::BTreeSet::new();
        for cap in [
            "auth",
            "school",
            "gradebook",
            "backup",
            "library",
            "lessons",
            "relay",
            "device",
        ] {
            let text = std::fs::read_to_string(format!("{src}/{cap}/routes.rs")).unwrap();
            let start = text.find("pub fn api()").expect("an api() router");
            let body = &text[start..];
            let body = &body[..body.find("\n}\n").unwrap()];
            for chunk in body.split(".route(").skip(1) {
                let path = chunk.split('"').nth(1).expect("a literal path");
                for m in ["get", "post", "put", "patch", "delete"] {
                    let called = chunk.match_indices(&format!("{m}(")).any(|(i, _)| {
                        i == 0
                            || !chunk.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && chunk.as_bytes()[i - 1] != b'_'
                    });
                    if called {
                        out.insert((m.to_string(), format!("/api/v1{path}")));
                    }
                }
            }
        }
        out.insert(("get".into(), "/api/v1/openapi.json".into()));
        out
    }

    /// The security suite walks the OpenAPI document route by route (anonymous callers, the
    /// role matrix), so a route missing from it would escape every check: the document and the
    /// routers must list the same operations, and each operation says who may call it
    /// (`x-roles`: the roles that pass its gate, or "any" signed-in account, each record then
    /// checked on its own).
    #[test]
    fn openapi_documents_exactly_the_registered_api_routes_and_who_may_call_them() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented = std::collections::BTreeSet::new();
        let roles = [
            "admin",
            "principal",
            "vice_principal",
            "dept_head",
            "teacher",
        ];
        for (path, ops) in v["paths"].as_object().unwrap() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for (method, op) in ops.as_object().unwrap() {
                documented.insert((method.clone(), path.clone()));
                if ["/api/v1/login", "/api/v1/openapi.json"].contains(&path.as_str()) {
                    continue;
                }
                let who = &op["x-roles"];
                let ok = who == "any"
                    || who.as_array().is_some_and(|a| {
                        !a.is_empty()
                            && a.iter()
                                .all(|r| r.as_str().is_some_and(|r| roles.contains(&r)))
                    });
                assert!(
                    ok,
                    "{method} {path}: x-roles must be \"any\" or a list of {roles:?}"
                );
            }
        }
        let registered = registered_api_routes();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty() && stale.is_empty(),
            "registered but not documented: {undocumented:?}; documented but not registered: {stale:?}"
        );
    }
}
