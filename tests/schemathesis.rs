//! Schemathesis against the real binary: every operation of `web/openapi.json` is called with
//! data generated from its schemas (valid and invalid), as the demo school's admin, then as a
//! teacher and as the principal, and each answer must be no 5xx, a documented status, a
//! documented content type and a body that matches the documented schema. `scripts/test`
//! installs the pinned Schemathesis in a venv and passes its path in `TRAM_SCHEMATHESIS`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{PASSWORD, Server};

/// Test cases per operation and phase: enough to reach every status an operation documents,
/// few enough that the three runs together stay within a few minutes on two cores.
const MAX_EXAMPLES: &str = "25";

/// Operations left out, and why: each would end the session the run uses or act on the box.
const EXCLUDED: &[(&str, &str)] = &[
    // They close the session every later request relies on.
    ("POST", "/api/v1/logout"),
    ("POST", "/api/v1/logout-everywhere"),
    // A password change closes the account's other sessions.
    ("POST", "/api/v1/password"),
    // Could disable the signed-in account or strip its roles midway; a reset closes every
    // session of the account (Schemathesis learns the caller's own id from the answers).
    ("PATCH", "/api/v1/accounts/{id}"),
    ("POST", "/api/v1/accounts/{id}/reset-password"),
    // A reboot / power-off request for the root unit.
    ("POST", "/api/v1/device/power"),
    // Would connect the box to whatever hub address the request names (tests never leave this
    // machine); tests/relay.rs enrols from the page against a hub on loopback.
    ("POST", "/api/v1/relay/enrol"),
    // A long-poll: when `after` is the current generation it answers only after 25 s.
    ("GET", "/api/v1/lessons/changes"),
];

/// A plain teacher of the demo school (gv01 also heads a department), homeroom teacher of a class.
const TEACHER: &str = "gv02";

const PRINCIPAL: &str = "hieutruong";

fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("TRAM_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/venv-schemathesis/bin/schemathesis")
        });
    path.exists().then_some(path)
}

/// The session cookie's value and the CSRF token of a fresh login.
fn session(s: &Server, user: &str) -> (String, String) {
    let r = s
        .client()
        .post(format!("{}/api/v1/login", s.base()))
        .json(&serde_json::json!({"username": user, "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "login as {user}");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("tram_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let body: serde_json::Value = r.json().unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_string())
}

/// Real identifiers of the demo school (the teacher's classes and subjects, plans, library
/// items, students of the homeroom class, the demo's signing PIN) that Schemathesis uses for
/// most path parameters and some body fields, so generated requests reach the handlers' logic
/// and not only their 404s.
fn config(s: &Server, dir: &Path, teacher: &str) -> PathBuf {
    let admin = s.login("admin");
    let get = |c: &reqwest::blocking::Client, path: &str| -> serde_json::Value {
        c.get(format!("{}/api/v1{path}", s.base()))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let ids = |v: &serde_json::Value, list: &str| -> Vec<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .take(8)
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    let me = get(&s.login(teacher), "/me");
    let teaches = me["teaches"].as_array().unwrap();
    let mut classes: Vec<String> = teaches
        .iter()
        .map(|t| t["class"].as_str().unwrap().to_string())
        .collect();
    let subjects: Vec<String> = teaches
        .iter()
        .map(|t| t["subject"].as_str().unwrap().to_string())
        .collect();
    let homeroom = me["homeroom"][0]
        .as_str()
        .unwrap_or(&classes[0])
        .to_string();
    let students = ids(
        &get(&admin, &format!("/students?class={homeroom}")),
        "students",
    );
    let mut records = ids(&get(&admin, "/lessons/plans?limit=8"), "plans");
    records.extend(ids(&get(&admin, "/library/search?limit=8"), "items"));
    classes.push(homeroom.clone());
    let files = vec![format!("{homeroom}.xlsx"), format!("{homeroom}.csv")];
    let list = |v: &[String]| serde_json::to_string(v).unwrap();
    let text = format!(
        r#"[dictionaries.class]
values = {}
[dictionaries.subject]
values = {}
[dictionaries.term]
values = ["hk1", "hk2"]
[dictionaries.id]
values = {}
[dictionaries.file]
values = {}
[dictionaries.student]
values = {}
[dictionaries.column]
values = ["tx1", "tx2", "gk", "ck", "nx"]
[dictionaries.input]
values = ["8.5", "7", "10", "Đ", "CĐ", "B", "M", ""]
[dictionaries.secret]
values = ["{pin}"]

[parameters]
"path.class" = {{ dictionary = "class", probability = 0.8 }}
"path.subject" = {{ dictionary = "subject", probability = 0.8 }}
"path.term" = {{ dictionary = "term", probability = 0.8 }}
"path.id" = {{ dictionary = "id", probability = 0.7 }}
"path.file" = {{ dictionary = "file", probability = 0.8 }}
"body.student" = {{ dictionary = "student", probability = 0.8 }}
"body.column" = {{ dictionary = "column", probability = 0.8 }}
"body.input" = {{ dictionary = "input", probability = 0.8 }}
"body.secret" = {{ dictionary = "secret", probability = 0.6 }}
"#,
        list(&classes),
        list(&subjects),
        list(&records),
        list(&files),
        list(&students),
        pin = common::DEMO_PIN,
    );
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One Schemathesis run with a session; returns whether it passed and everything it printed.
fn run_as(
    bin: &Path,
    s: &Server,
    config: &Path,
    (cookie, csrf): &(String, String),
    extra_excluded: &[(&str, &str)],
) -> (bool, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", s.base()))
        .args(["--url", &s.base()])
        .args(["-H", &format!("Cookie: tram_session={cookie}")])
        // Non-JSON bodies (spreadsheets, upload chunks) need the session's token.
        .args(["-H", &format!("X-CSRF-Token: {csrf}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", MAX_EXAMPLES])
        // Stateful testing needs OpenAPI links, which the document does not declare.
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", "20261206"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "30"])
        .args(["--generation-with-security-parameters", "false"])
        .args(["--generation-database", "none"])
        // Hypothesis's health checks judge the data generation (slow on a busy CI machine),
        // not the API: they would make the test flaky without saying anything of the server.
        .args(["--suppress-health-check", "all"])
        .arg("--no-color")
        .env("NO_COLOR", "1")
        .current_dir(config.parent().unwrap());
    // The hub's operations are served by `tram district serve`, not by this school: the hub's
    // role matrix in tests/security.rs walks them.
    cmd.args(["--exclude-tag", "hub"]);
    for (method, path) in EXCLUDED.iter().chain(extra_excluded) {
        cmd.args(["--exclude-name", &format!("{method} {path}")]);
    }
    let out = cmd.output().expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_api_answers_as_its_openapi_document_says() {
    let Some(bin) = schemathesis() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Schemathesis is not installed (scripts/test makes target/venv-schemathesis)"
        );
        eprintln!("skipped: Schemathesis is not installed; run scripts/test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, false);
    let config = config(&s, dir.path(), TEACHER);
    // Logins with generated names are tried in the first run only: each costs an argon2 hash,
    // and the per-address limit would turn a later run's into 429s only.
    let once: &[(&str, &str)] = &[("POST", "/api/v1/login")];
    // Every session first: the admin run's failed logins count against this address's limit.
    let runs = [
        ("admin", session(&s, "admin"), &[][..]),
        (TEACHER, session(&s, TEACHER), once),
        // The principal passes the gates neither of them does (locking terms, approving plans,
        // the dashboard, the rule settings).
        (PRINCIPAL, session(&s, PRINCIPAL), once),
    ];
    let mut failed = Vec::new();
    for (user, session, extra) in runs {
        let (ok, text) = run_as(&bin, &s, &config, &session, extra);
        let summary = text.lines().rev().take(12).collect::<Vec<_>>();
        eprintln!("--- schemathesis as {user} ---");
        for l in summary.iter().rev() {
            eprintln!("{l}");
        }
        if !ok {
            failed.push(format!("=== as {user} ===\n{text}"));
        }
        // A run that lost its session midway would have seen only documented 401s after that:
        // an operation that ends the caller's session belongs in EXCLUDED.
        let me = s
            .client()
            .get(format!("{}/api/v1/me", s.base()))
            .header("cookie", format!("tram_session={}", session.0))
            .send()
            .unwrap()
            .status();
        assert_eq!(
            me, 200,
            "the session of the run as {user} did not survive it"
        );
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
