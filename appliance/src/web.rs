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
        "district.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/district.js"),
    ),
    (
        "lessons.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/lessons.js"),
    ),
    (
        "backups.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/backups.js"),
    ),
    (
        "hocba.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/static/hocba.js"),
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
            en: crate::http::cookie(h, "lang").as_deref() == Some("en"),
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

/// The (method, path) pairs a router function registers, read from its source text: the body of
/// `router_fn` (e.g. "pub fn api()") up to its closing brace, each `.route("path", get(…)…)`, with
/// `prefix` put before the path. The security suite and the document check use it so that no
/// route escapes them; it reads only literal paths, which is how every router here is written.
/// The routers the school's app merges (`app::router` in `src/app/mod.rs`), as (source file
/// under `src/`, router function, is it under `/api/v1`): the tests that walk every route read
/// this list from the assembly itself, so a router merged there cannot escape them (a
/// hand-kept list missed the backups page and the CSDL export).
#[doc(hidden)]
pub fn app_routers(src_dir: &std::path::Path) -> Vec<(String, String, bool)> {
    let text = std::fs::read_to_string(src_dir.join("app/mod.rs")).unwrap_or_default();
    let body = text
        .split("pub fn router(")
        .nth(1)
        .and_then(|b| b.split("\n}\n").next())
        .unwrap_or_default();
    let mut api = true;
    let mut out = Vec::new();
    for line in body.lines() {
        if line.contains("let app = ") {
            api = false;
        }
        let Some(call) = line.trim().strip_prefix(".merge(") else {
            continue;
        };
        // `crate::x::y::api())` → `crate::x::y::api`
        let call = call.trim_end_matches(';');
        let call = call.strip_suffix(')').unwrap_or(call);
        let call = call.strip_suffix("()").unwrap_or(call);
        // `pages::routes()` without `crate::` is a module of app itself.
        let path = match call.strip_prefix("crate::") {
            Some(p) => p.to_string(),
            None => format!("app::{call}"),
        };
        let mut parts: Vec<&str> = path.split("::").collect();
        let Some(func) = parts.pop() else { continue };
        let module = parts.join("/");
        let file = if src_dir.join(format!("{module}/mod.rs")).exists() {
            format!("{module}/mod.rs")
        } else {
            format!("{module}.rs")
        };
        out.push((file, format!("pub fn {func}()"), api));
    }
    out
}

#[doc(hidden)]
pub fn routes_in_source(
    source: &str,
    router_fn: &str,
    prefix: &str,
) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    let Some(start) = source.find(router_fn) else {
        return out;
    };
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    for chunk in body.split(".route(").skip(1) {
        let Some(path) = chunk.split('"').nth(1) else {
            continue;
        };
        for m in ["get", "post", "put", "patch", "delete"] {
            let called = chunk.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0
                    || !chunk.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && chunk.as_bytes()[i - 1] != b'_'
            });
            if called {
                out.insert((m.to_string(), format!("{prefix}{path}")));
            }
        }
    }
    out
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

    /// Why `doc` is not a usable OpenAPI 3.1 document for clients and for Schemathesis (which
    /// the test command runs against the real server): every `$ref` resolves, every `{param}`
    /// of a path is declared as a path parameter of each of its operations (and none other),
    /// every operation answers some 2xx, every answer but 204/304 names its media type, and
    /// every JSON body, sent or answered, has a schema.
    fn openapi_problems(doc: &serde_json::Value) -> Vec<String> {
        use serde_json::Value;
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r);
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        // A `$ref` object stands for what it points to.
        fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
            v.get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|r| doc.pointer(r))
                .unwrap_or(v)
        }
        let resolve = |v| deref(doc, v);
        let mut out = Vec::new();
        if !doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1."))
        {
            out.push(format!("openapi is {}, not 3.1.x", doc["openapi"]));
        }
        let mut all = Vec::new();
        refs(doc, &mut all);
        for r in all {
            if r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_none() {
                out.push(format!("$ref {r} points nowhere"));
            }
        }
        let no_schema = |content: &Value| -> Vec<String> {
            content
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(media, m)| media.contains("json") && !m["schema"].is_object())
                .map(|(media, _)| media.clone())
                .collect()
        };
        let Some(paths) = doc["paths"].as_object() else {
            out.push("no paths".into());
            return out;
        };
        for (path, ops) in paths {
            let mut in_path: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            in_path.sort();
            for (method, op) in ops.as_object().into_iter().flatten() {
                let mut declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(resolve)
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                declared.sort();
                if declared != in_path {
                    out.push(format!(
                        "{method} {path}: path parameters {declared:?}, the path has {in_path:?}"
                    ));
                }
                let responses = op["responses"].as_object();
                if !responses.is_some_and(|r| r.keys().any(|c| c.starts_with('2'))) {
                    out.push(format!("{method} {path}: no 2xx response"));
                }
                for (code, r) in responses.into_iter().flatten() {
                    let bodiless = ["204", "304"].contains(&code.as_str());
                    let media = resolve(r)["content"].as_object();
                    if !bodiless && media.is_none_or(|c| c.is_empty()) {
                        out.push(format!("{method} {path}: {code} says nothing of its body"));
                    }
                    for media in no_schema(&resolve(r)["content"]) {
                        out.push(format!("{method} {path}: {code} {media} has no schema"));
                    }
                }
                for media in no_schema(&resolve(&op["requestBody"])["content"]) {
                    out.push(format!("{method} {path}: request {media} has no schema"));
                }
            }
        }
        out
    }

    #[test]
    fn openapi_is_a_valid_3_1_document_with_every_body_described() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let problems = openapi_problems(&v);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The check above finds each kind of damage (so its passing means something).
    #[test]
    fn openapi_check_finds_a_broken_document() {
        let good: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        const OP: &str = "/paths/~1api~1v1~1library~1items~1{id}/get";
        type Breakage = (&'static str, fn(&mut serde_json::Value));
        let breakages: [Breakage; 7] = [
            ("version", |d| d["openapi"] = "3.0.3".into()),
            ("path parameter", |d| {
                d.pointer_mut(OP).unwrap()["parameters"] = serde_json::json!([])
            }),
            ("2xx", |d| {
                d.pointer_mut(OP).unwrap()["responses"]
                    .as_object_mut()
                    .unwrap()
                    .remove("200");
            }),
            ("response schema", |d| {
                d.pointer_mut(OP).unwrap()["responses"]["200"]["content"]["application/json"]
                    .as_object_mut()
                    .unwrap()
                    .remove("schema");
            }),
            ("response media type", |d| {
                d.pointer_mut(OP).unwrap()["responses"]["200"]
                    .as_object_mut()
                    .unwrap()
                    .remove("content");
            }),
            ("request schema", |d| {
                d.pointer_mut("/paths/~1api~1v1~1login/post/requestBody/content/application~1json")
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("schema");
            }),
            ("dangling $ref", |d| {
                d["components"]["responses"]
                    .as_object_mut()
                    .unwrap()
                    .remove("NotFound");
            }),
        ];
        for (what, break_it) in breakages {
            let mut d = good.clone();
            break_it(&mut d);
            assert!(
                !openapi_problems(&d).is_empty(),
                "a document without its {what} passed the check"
            );
        }
    }

    /// The (method, path) pairs each capability's `api()` router registers, read from its
    /// source: `.route("/path", get(a).post(b))`.
    fn registered_api_routes() -> std::collections::BTreeSet<(String, String)> {
        let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
        let mut out = std::collections::BTreeSet::new();
        let routers = super::app_routers(src);
        assert!(routers.len() >= 15, "{routers:?}");
        for (file, f, api) in routers {
            if api {
                let text = std::fs::read_to_string(src.join(&file)).unwrap();
                assert!(text.contains(&f), "{file}: no {f}");
                out.extend(super::routes_in_source(&text, &f, "/api/v1"));
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
