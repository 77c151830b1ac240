//! "What may import what" (ARCHITECTURE.md) as a test: every `crate::…` path in
//! `appliance/src` (a `use`, a `use crate::{a, b}` group or an inline path) is checked against
//! the layer of the file it is written in. The capabilities each domain capability may use are
//! read from ARCHITECTURE.md's list, so the document and this test state the same rules.
//!
//! Layers, bottom up: `store` · infrastructure (`text`, `config`, `logging`, `pki`) · the domain
//! capabilities · the `http` kernel and `web` · each capability's routes and pages · the top
//! (`app`, `control`, `demo`) · the command line (`main.rs`, `cli/`, which use the `tram` lib).
//! Test code (`tests.rs`, everything after `#[cfg(test)]`) may import anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Store,
    Infra,
    Domain(String),
    Kernel,
    Routes(String),
    Top,
    Cli,
}

use Place::*;

const INFRA: [&str; 4] = ["text", "config", "logging", "pki"];
const TOP: [&str; 3] = ["app", "control", "demo"];
/// The files of a capability folder that serve HTTP (layer 4); the rest of the folder is its
/// domain (layer 2).
const ROUTE_FILES: [&str; 4] = ["routes", "pages", "opds", "extract"];

fn rank(p: &Place) -> u8 {
    match p {
        Store => 0,
        Infra => 1,
        Domain(_) => 2,
        Kernel => 3,
        Routes(_) => 4,
        Top => 5,
        Cli => 6,
    }
}

/// Where a module path (`["gradebook", "routes"]`) sits.
fn place_of_module(first: &str, second: Option<&str>) -> Place {
    match first {
        "store" => Store,
        m if INFRA.contains(&m) => Infra,
        "http" | "web" => Kernel,
        m if TOP.contains(&m) => Top,
        "cli" => Cli,
        cap => match second {
            Some(s) if ROUTE_FILES.contains(&s) => Routes(cap.to_string()),
            _ => Domain(cap.to_string()),
        },
    }
}

/// Where a source file (relative to `appliance/src`) sits, `None` for test files.
fn place_of_file(rel: &Path) -> Option<Place> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.iter().any(|p| p == "tests") {
        return None;
    }
    if parts.len() == 1 && (parts[0] == "main" || parts[0] == "lib") {
        return Some(Cli);
    }
    let second = parts.get(1).map(String::as_str);
    Some(place_of_module(
        &parts[0],
        second.filter(|_| parts.len() > 1),
    ))
}

/// The code of a file without its test module and comments.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        // A trailing comment may name a path in prose ("see crate::x"): drop it.
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every module a file's code reaches through `crate::` or `super::` (resolved from `module`,
/// the file's own module path, e.g. `["gradebook", "pages"]`): its first two segments.
fn crate_paths(code: &str, module: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = code;
    loop {
        let next = [("crate::", true), ("super::", false)]
            .into_iter()
            .filter_map(|(word, root)| rest.find(word).map(|i| (i, word, root)))
            .min();
        let Some((i, word, root)) = next else {
            break;
        };
        // `tram_crate::` or `$crate::` are not ours.
        let before = rest[..i].chars().last();
        rest = &rest[i + word.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ':') {
            continue;
        }
        let mut base: Vec<String> = if root {
            Vec::new()
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let mut push = |path: &str| {
            let mut segs = base.clone();
            let (first, second) = two_segments(path);
            segs.push(first);
            segs.extend(second);
            if !segs.is_empty() && !segs[0].is_empty() {
                out.push((segs[0].clone(), segs.get(1).cloned()));
            }
        };
        if let Some(group) = rest.strip_prefix('{') {
            // use crate::{a, b::c, d::{e, f}}: the first segments of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphanumeric() || c == '_') => {
                        push(&group[j..]);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            // `use super::*` names the parent module itself.
            push(if rest.starts_with('*') { "" } else { rest });
        }
    }
    out
}

/// The first two segments of a path: "gradebook::routes::api" → ("gradebook", Some("routes")).
fn two_segments(path: &str) -> (String, Option<String>) {
    let first = ident_at(path);
    let second = path[first.len()..]
        .strip_prefix("::")
        .map(ident_at)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (first.to_string(), second)
}

/// ARCHITECTURE.md's "What may import what" list: "- `gradebook` uses: auth, school".
fn documented_uses(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut uses = BTreeMap::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let Some((cap, rest)) = rest.split_once("` uses: ") else {
            continue;
        };
        let set: BTreeSet<String> = rest
            .trim_end_matches('.')
            .split(',')
            .map(|s| s.trim().trim_matches('`').to_string())
            .filter(|s| !s.is_empty() && s != "—")
            .collect();
        uses.insert(cap.to_string(), set);
    }
    uses
}

/// Why `from` may not import `to`, or `None` when it may.
fn forbidden(
    from: &Place,
    to: &Place,
    uses: &BTreeMap<String, BTreeSet<String>>,
) -> Option<String> {
    let may_use =
        |cap: &str, other: &str| cap == other || uses.get(cap).is_some_and(|u| u.contains(other));
    let ok = match (from, to) {
        (Cli, _) | (Top, Store | Infra | Domain(_) | Kernel | Routes(_) | Top) => true,
        (Store, Store) => true,
        (Infra, Store | Infra) => true,
        (Domain(c), Domain(d)) => may_use(c, d),
        (Domain(_), Store | Infra) => true,
        (Kernel, Store | Infra | Kernel) => true,
        (Routes(_), Store | Infra | Kernel) => true,
        // Every route takes the session from auth's extractors.
        (Routes(c), Routes(d)) => may_use(c, d) || d == "auth",
        // Every route asks auth's permission function.
        (Routes(c), Domain(d)) => {
            may_use(c, d) || d == "auth" || may_use(&format!("{c}/routes"), d)
        }
        _ => false,
    };
    if ok {
        return None;
    }
    Some(if *from == Kernel {
        format!("the http kernel knows no capability ({to:?})")
    } else if rank(to) > rank(from) {
        format!("{to:?} is a layer above {from:?}")
    } else {
        format!("{from:?} is not documented to use {to:?} (ARCHITECTURE.md, What may import what)")
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn violations(src: &Path, uses: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let Some(from) = place_of_file(rel) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        let module: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .filter(|p| p != "mod")
            .collect();
        let mut seen = BTreeSet::new();
        for (first, second) in crate_paths(&code, &module) {
            let to = place_of_module(&first, second.as_deref());
            if let Some(why) = forbidden(&from, &to, uses)
                && seen.insert(format!("{first}::{}", second.clone().unwrap_or_default()))
            {
                out.push(format!(
                    "{}: crate::{first}{} — {why}",
                    rel.display(),
                    second.map(|s| format!("::{s}")).unwrap_or_default()
                ));
            }
        }
    }
    out
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_import_respects_the_layers_and_the_documented_uses() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let uses = documented_uses(&doc);
    assert!(
        uses.len() >= 10,
        "ARCHITECTURE.md lists what each capability uses (\"- `school` uses: auth\"): found {uses:?}"
    );
    let v = violations(&root().join("appliance/src"), &uses);
    assert!(
        v.is_empty(),
        "{} forbidden imports:\n{}",
        v.len(),
        v.join("\n")
    );
}

/// A cycle in the documented uses ("a uses b, b uses a"), if there is one.
fn cycle(uses: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in uses.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, uses, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    uses.keys()
        .filter(|k| !k.contains('/'))
        .find_map(|k| visit(k, uses, &mut Vec::new(), &mut done))
}

#[test]
fn the_documented_uses_have_no_cycle() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let uses: BTreeMap<String, BTreeSet<String>> = documented_uses(&doc)
        .into_iter()
        .filter(|(k, _)| !k.contains('/'))
        .collect();
    if let Some(c) = cycle(&uses) {
        panic!(
            "the capabilities use each other in a circle: {}",
            c.join(" → ")
        );
    }
    let mut with_cycle = uses.clone();
    with_cycle
        .entry("auth".into())
        .or_default()
        .insert("lessons".into());
    assert!(cycle(&with_cycle).is_some(), "the cycle check finds one");
}

#[test]
fn the_check_finds_a_forbidden_import() {
    let uses = documented_uses("- `school` uses: auth\n- `auth` uses: —\n");
    let d = tempfile::tempdir().unwrap();
    let w = |p: &str, text: &str| {
        let f = d.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    w("store/mod.rs", "use crate::school::Student;\n");
    w(
        "auth/mod.rs",
        "fn f() { crate::school::x(); }\n// crate::app in a comment\n",
    );
    w(
        "school/mod.rs",
        "use crate::{auth, store::Tx};\n#[cfg(test)]\nmod tests { use crate::app; }\n",
    );
    w(
        "school/routes.rs",
        "use crate::{http::ApiError, auth::extract::ApiUser, app};\n",
    );
    w("http/mod.rs", "use crate::auth::Principal;\n");
    w("app/mod.rs", "use crate::school::routes;\n");
    w(
        "school/forms.rs",
        "use super::*;\nfn f() { super::pages::x(); }\n",
    );
    w(
        "school/pages/list.rs",
        "use super::*;\nuse super::super::Student;\n",
    );
    let mut v = violations(d.path(), &uses);
    v.sort();
    assert_eq!(
        v,
        vec![
            "auth/mod.rs: crate::school::x — Domain(\"auth\") is not documented to use Domain(\"school\") (ARCHITECTURE.md, What may import what)",
            "http/mod.rs: crate::auth::Principal — the http kernel knows no capability (Domain(\"auth\"))",
            "school/forms.rs: crate::school::pages — Routes(\"school\") is a layer above Domain(\"school\")",
            "school/routes.rs: crate::app — Top is a layer above Routes(\"school\")",
            "store/mod.rs: crate::school::Student — Domain(\"school\") is a layer above Store",
        ]
    );
}
