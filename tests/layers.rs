//! "What may import what" (ARCHITECTURE.md) as a test: every file of `appliance/src` is parsed
//! (syn) and every module it reaches — through `use` trees with groups, aliases and globs, paths
//! in code and types, relative paths to its own child modules, `self::`/`super::`, and `crate::`
//! inside macro bodies — is checked against the layer of the file. The lower layers may not name
//! an HTTP crate; a `#[path]` module or a glob of the crate root is refused (it hides what is
//! used). The capabilities each domain capability may use are read from ARCHITECTURE.md's list,
//! and every use listed there must be used, so the document and this test state the same rules.
//!
//! Layers, bottom up: `store` · infrastructure (`text`, `config`, `logging`, `pki`) · the domain
//! capabilities · the `http` kernel and `web` · each capability's routes and pages · the top
//! (`app`, `control`, `demo`) · the command line (`main.rs`, `cli/`, which use the `tram` lib).
//! Test code (files in a `tests` folder or named `tests.rs`, items under `#[cfg(test)]`) may
//! import anything.

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

/// What one file's code reaches, parsed with `syn` (not read as text): every `use` tree (groups,
/// aliases, globs), every path in code and types, and `crate::`/`super::` inside macro bodies,
/// resolved from the file's module path through `crate`, `super`, `self`, the file's own child
/// modules and the names its `use`s bind. Items under `#[cfg(test)]` are skipped.
#[derive(Default)]
struct Reach {
    /// Absolute module paths inside the crate (first two segments are enough to place them).
    paths: Vec<Vec<String>>,
    /// External crates named by a path or `use` (to keep HTTP out of the lower layers).
    externals: BTreeSet<String>,
    /// Things that hide what is used: a glob of the crate root, a `#[path]` module.
    opaque: Vec<String>,
}

struct Scope {
    module: Vec<String>,
    /// Names bound by `use` (alias → absolute path) and child modules.
    names: BTreeMap<String, Vec<String>>,
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let t = a.meta.to_token_stream().to_string().replace(' ', "");
            t.contains("(test)") || t.contains("test,") || t.contains(",test")
        }
    })
}

use quote::ToTokens;

impl Scope {
    /// The absolute path of `segs` written in this scope, or None when it names something outside
    /// the crate (std, a dependency, a local item or variable).
    fn resolve(&self, segs: &[String]) -> Option<Vec<String>> {
        let first = segs.first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.module.clone(),
            "super" => {
                let mut m = self.module.clone();
                m.pop();
                m
            }
            name => {
                let mut b = self.names.get(name)?.clone();
                b.extend(segs[1..].iter().cloned());
                return Some(b);
            }
        };
        let mut rest = &segs[1..];
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }
}

/// Every (binding name, absolute path) a `use` tree makes, plus its globs' module paths.
fn use_tree(
    prefix: &[String],
    tree: &syn::UseTree,
    binds: &mut Vec<(String, Vec<String>)>,
    globs: &mut Vec<Vec<String>>,
) {
    let with = |name: &str| {
        let mut p = prefix.to_vec();
        p.push(name.to_string());
        p
    };
    match tree {
        syn::UseTree::Path(p) => use_tree(&with(&p.ident.to_string()), &p.tree, binds, globs),
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            // `use a::b::{self}` binds `b`.
            let path = if name == "self" {
                prefix.to_vec()
            } else {
                with(&name)
            };
            let bound = path.last().cloned().unwrap_or_default();
            binds.push((bound, path));
        }
        syn::UseTree::Rename(r) => binds.push((r.rename.to_string(), with(&r.ident.to_string()))),
        syn::UseTree::Glob(_) => globs.push(prefix.to_vec()),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_tree(prefix, t, binds, globs);
            }
        }
    }
}

/// The crate paths in a macro's tokens (`crate :: x :: y`, `super :: x`), read as text.
fn macro_paths(tokens: &str) -> Vec<Vec<String>> {
    let t: String = tokens.split_whitespace().collect();
    let mut out = Vec::new();
    for word in ["crate::", "super::"] {
        let mut rest = t.as_str();
        while let Some(i) = rest.find(word) {
            let before = rest[..i].chars().last();
            let root = &rest[i..i + word.len() - 2];
            rest = &rest[i + word.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ':')
            {
                continue;
            }
            let mut segs = vec![root.to_string()];
            for s in rest.split("::").take(2) {
                let id: String = s
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if id.is_empty() {
                    break;
                }
                segs.push(id);
            }
            out.push(segs);
        }
    }
    out
}

struct Walker<'a> {
    scopes: Vec<Scope>,
    reach: &'a mut Reach,
}

impl Walker<'_> {
    fn scope(&self) -> &Scope {
        self.scopes.last().unwrap()
    }

    /// Collects a module's child modules and `use` bindings before its code is read (a name can
    /// be used above its `use`).
    fn enter(&mut self, module: Vec<String>, items: &[syn::Item]) {
        let mut scope = Scope {
            module: module.clone(),
            names: BTreeMap::new(),
        };
        for it in items {
            if let syn::Item::Mod(m) = it {
                if is_test(&m.attrs) {
                    continue;
                }
                if m.attrs.iter().any(|a| a.path().is_ident("path")) {
                    self.reach
                        .opaque
                        .push(format!("#[path] on mod {}", m.ident));
                }
                let mut p = module.clone();
                p.push(m.ident.to_string());
                scope.names.insert(m.ident.to_string(), p);
            }
        }
        // Two rounds: a `use` may start from a name another `use` binds.
        for _ in 0..2 {
            for it in items {
                let syn::Item::Use(u) = it else { continue };
                if is_test(&u.attrs) {
                    continue;
                }
                let (mut binds, mut globs) = (Vec::new(), Vec::new());
                use_tree(&[], &u.tree, &mut binds, &mut globs);
                for (name, path) in binds {
                    if let Some(abs) = scope.resolve(&path) {
                        scope.names.insert(name, abs);
                    }
                }
                for g in globs {
                    if let Some(abs) = scope.resolve(&g)
                        && abs.is_empty()
                    {
                        self.reach
                            .opaque
                            .push("use crate::* (a glob of the crate root)".into());
                    }
                }
            }
        }
        // Record what the uses reach, and the external crates they name.
        for it in items {
            let syn::Item::Use(u) = it else { continue };
            if is_test(&u.attrs) {
                continue;
            }
            let (mut binds, mut globs) = (Vec::new(), Vec::new());
            use_tree(&[], &u.tree, &mut binds, &mut globs);
            for path in binds.into_iter().map(|(_, p)| p).chain(globs) {
                match scope.resolve(&path) {
                    Some(abs) => self.reach.paths.push(abs),
                    None => {
                        if let Some(f) = path.first() {
                            self.reach.externals.insert(f.clone());
                        }
                    }
                }
            }
        }
        self.scopes.push(scope);
    }
}

impl<'ast> syn::visit::Visit<'ast> for Walker<'_> {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match i {
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Impl(m) => &m.attrs,
            syn::Item::Struct(m) => &m.attrs,
            syn::Item::Enum(m) => &m.attrs,
            syn::Item::Const(m) => &m.attrs,
            syn::Item::Static(m) => &m.attrs,
            syn::Item::Use(_) => return, // read in `enter`
            syn::Item::Macro(m) => &m.attrs,
            syn::Item::Trait(m) => &m.attrs,
            syn::Item::Type(m) => &m.attrs,
            _ => &[],
        };
        if is_test(attrs) {
            return;
        }
        if let syn::Item::Mod(m) = i
            && let Some((_, items)) = &m.content
        {
            let mut module = self.scope().module.clone();
            module.push(m.ident.to_string());
            self.enter(module, items);
            for it in items {
                self.visit_item(it);
            }
            self.scopes.pop();
            return;
        }
        syn::visit::visit_item(self, i);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segs.len() > 1
            || segs
                .first()
                .is_some_and(|s| s == "crate" || s == "super" || s == "self")
        {
            match self.scope().resolve(&segs) {
                Some(abs) => self.reach.paths.push(abs),
                None => {
                    self.reach.externals.insert(segs[0].clone());
                }
            }
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        for segs in macro_paths(&m.tokens.to_string()) {
            if let Some(abs) = self.scope().resolve(&segs) {
                self.reach.paths.push(abs);
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// What the file at `rel` (module path `module`) reaches.
fn reach_of(text: &str, module: Vec<String>) -> Result<Reach, String> {
    let file = syn::parse_file(text).map_err(|e| e.to_string())?;
    let mut reach = Reach::default();
    let mut w = Walker {
        scopes: Vec::new(),
        reach: &mut reach,
    };
    w.enter(module, &file.items);
    for it in &file.items {
        syn::visit::Visit::visit_item(&mut w, it);
    }
    Ok(reach)
}

/// Crates that serve HTTP: only the kernel, the route files and above may name them.
const HTTP_CRATES: [&str; 6] = [
    "axum",
    "axum_server",
    "hyper",
    "hyper_util",
    "tower",
    "tower_http",
];

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
    violations_and_uses(src, uses).0
}

/// The forbidden imports, and which capability uses another (from its domain files, and from its
/// route files as "cap/routes"), for the check that the documented list holds nothing unused.
fn violations_and_uses(
    src: &Path,
    uses: &BTreeMap<String, BTreeSet<String>>,
) -> (Vec<String>, BTreeSet<(String, String)>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let top: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let Some(from) = place_of_file(rel) else {
            continue;
        };
        let module: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .filter(|p| p != "mod" && p != "lib" && p != "main")
            .collect();
        let reach = match reach_of(&std::fs::read_to_string(&f).unwrap(), module) {
            Ok(r) => r,
            Err(e) => {
                out.push(format!("{}: does not parse: {e}", rel.display()));
                continue;
            }
        };
        let opaque: BTreeSet<String> = reach.opaque.into_iter().collect();
        for o in opaque {
            if from != Cli {
                out.push(format!(
                    "{}: {o} — it hides what the file uses",
                    rel.display()
                ));
            }
        }
        if rank(&from) <= 2 {
            for c in reach
                .externals
                .intersection(&HTTP_CRATES.iter().map(|s| s.to_string()).collect())
            {
                out.push(format!("{}: {c} — {from:?} knows no HTTP", rel.display()));
            }
        }
        let mut seen = BTreeSet::new();
        for path in reach.paths {
            let Some(first) = path.first().filter(|f| top.contains(*f)) else {
                continue;
            };
            let second = path.get(1).map(String::as_str);
            let to = place_of_module(first, second);
            match (&from, &to) {
                (Domain(c), Domain(d)) if c != d => {
                    used.insert((c.clone(), d.clone()));
                }
                (Routes(c), Domain(d)) if c != d => {
                    used.insert((format!("{c}/routes"), d.clone()));
                }
                _ => {}
            }
            if let Some(why) = forbidden(&from, &to, uses)
                && seen.insert(format!("{to:?}"))
            {
                out.push(format!(
                    "{}: crate::{first}{} — {why}",
                    rel.display(),
                    second.map(|s| format!("::{s}")).unwrap_or_default()
                ));
            }
        }
    }
    (out, used)
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
fn every_documented_use_is_used() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let uses = documented_uses(&doc);
    let (_, used) = violations_and_uses(&root().join("appliance/src"), &uses);
    let unused: Vec<String> = uses
        .iter()
        .flat_map(|(c, ds)| ds.iter().map(move |d| (c.clone(), d.clone())))
        .filter(|p| !used.contains(p))
        .map(|(c, d)| format!("{c} uses {d}"))
        .collect();
    assert!(
        unused.is_empty(),
        "ARCHITECTURE.md lists uses nothing makes (remove them): {unused:?}"
    );
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
    // Each file has one forbidden reach, written a different way.
    w(
        "app/mod.rs",
        "use crate::school::routes;\npub mod schema;\n",
    );
    w("http/mod.rs", "use crate::auth::Principal;\n");
    w("store/mod.rs", "use crate :: school\n  :: Student;\n");
    w(
        "store/audit.rs",
        "#[cfg(test)] mod tests;\nuse crate::app::schema;\n",
    );
    w(
        "store/blob.rs",
        "#[path = \"../app/schema.rs\"] mod copy;\n",
    );
    w(
        "store/snapshot.rs",
        "use crate::*;\nfn f() { app::schema::schema(); }\n",
    );
    w(
        "auth/mod.rs",
        "fn f() { crate::school::x(); }\n// crate::app in a comment\n",
    );
    w(
        "auth/extra.rs",
        "use crate::school as s;\nfn f() { s::x(); }\n",
    );
    w(
        "auth/more.rs",
        "macro_rules! m { () => { crate::app::x() } }\n",
    );
    w(
        "school/mod.rs",
        "mod pages;\nmod routes;\npub use routes::router as school_router;\nuse crate::{auth, store::{Tx, self}};\n#[cfg(test)]\nmod tests { use crate::app; }\n",
    );
    w(
        "school/forms.rs",
        "use super::*;\nfn f() { super::pages::x(); }\n",
    );
    w("school/sheet.rs", "use crate::school::{pages::list};\n");
    w("school/save.rs", "use axum::http::StatusCode;\n");
    w(
        "school/pages/list.rs",
        "use super::*;\nuse super::super::Student;\n",
    );
    w(
        "school/routes.rs",
        "use crate::{http::ApiError, auth::extract::ApiUser, app};\n",
    );
    let mut v = violations(d.path(), &uses);
    v.sort();
    assert_eq!(
        v,
        vec![
            "auth/extra.rs: crate::school — Domain(\"auth\") is not documented to use Domain(\"school\") (ARCHITECTURE.md, What may import what)",
            "auth/mod.rs: crate::school::x — Domain(\"auth\") is not documented to use Domain(\"school\") (ARCHITECTURE.md, What may import what)",
            "auth/more.rs: crate::app::x — Top is a layer above Domain(\"auth\")",
            "http/mod.rs: crate::auth::Principal — the http kernel knows no capability (Domain(\"auth\"))",
            "school/forms.rs: crate::school::pages — Routes(\"school\") is a layer above Domain(\"school\")",
            "school/mod.rs: crate::school::routes — Routes(\"school\") is a layer above Domain(\"school\")",
            "school/routes.rs: crate::app — Top is a layer above Routes(\"school\")",
            "school/save.rs: axum — Domain(\"school\") knows no HTTP",
            "school/sheet.rs: crate::school::pages — Routes(\"school\") is a layer above Domain(\"school\")",
            "store/audit.rs: crate::app::schema — Top is a layer above Store",
            "store/blob.rs: #[path] on mod copy — it hides what the file uses",
            "store/mod.rs: crate::school::Student — Domain(\"school\") is a layer above Store",
            "store/snapshot.rs: use crate::* (a glob of the crate root) — it hides what the file uses",
        ]
    );
}
