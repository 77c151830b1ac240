//! The security suite, against the real binary: every documented API route refuses anonymous
//! callers; a teacher cannot read or write another class or reach the admin's routes; a session
//! cookie chosen before login is never the session after it; rendered names, titles and comments
//! are escaped; path traversal, an oversized header, a body trickled too slowly, a spreadsheet
//! "zip bomb" are refused and the server keeps serving; only TLS 1.2 and 1.3 are spoken.
//! (CSRF and the login lockout are in e2e_api.rs; relay batch bombs in relay/batch.rs.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, csrf, teacher_of};
use serde_json::{Value, json};

const XSS: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";

fn raw(port: u16, req: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn healthy(s: &Server) {
    let r = s
        .client()
        .get(format!("{}/healthz", s.base()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the server stopped serving");
}

#[test]
fn every_api_route_refuses_anonymous_callers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let api: Value = s
        .client()
        .get(format!("{}/api/v1/openapi.json", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let open = ["/login", "/openapi.json"];
    let anon = s.client();
    let mut checked = 0;
    for (path, ops) in api["paths"].as_object().unwrap() {
        if open.contains(&path.as_str()) {
            continue;
        }
        let concrete = path
            .split('/')
            .map(|p| if p.starts_with('{') { "x1" } else { p })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().unwrap().keys() {
            let url = format!("{}/api/v1{concrete}", s.base());
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = anon.request(m, &url).json(&json!({})).send().unwrap();
            assert!(
                [401, 403, 404, 405].contains(&r.status().as_u16()),
                "{method} {path} answered {} to an anonymous caller",
                r.status()
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} routes documented?");
    // Pages send an anonymous visitor to the login page.
    for p in [
        "/",
        "/grades",
        "/lessons",
        "/admin/accounts",
        "/admin/device",
        "/admin/device/support.zip",
    ] {
        let r = anon.get(format!("{}{p}", s.base())).send().unwrap();
        assert!(
            r.status().is_redirection() || r.status() == 401,
            "{p}: {}",
            r.status()
        );
    }
}

#[test]
fn a_teacher_stays_in_their_own_classes_and_out_of_the_admin_routes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let teacher = teacher_of(&s, "2026-6a1", "toan");
    let t = s.login(&teacher);
    let tok = csrf(&t, &s.base());
    let b = s.base();
    // Which class is not theirs: one where another teacher has Toán.
    let admin = s.login("admin");
    let asg: Value = admin
        .get(format!("{b}/api/v1/assignments"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mine: Vec<String> = asg["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["teacher"] == format!("u-{teacher}"))
        .map(|a| {
            format!(
                "{}/{}",
                a["class"].as_str().unwrap(),
                a["subject"].as_str().unwrap()
            )
        })
        .collect();
    let other = asg["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["class"].as_str().unwrap(),
                a["subject"].as_str().unwrap()
            )
        })
        .find(|cs| !mine.contains(cs))
        .unwrap();
    let sheet = format!("{b}/api/v1/grades/sheet/{other}/hk1");
    let r = t.get(&sheet).send().unwrap();
    assert_eq!(
        r.status(),
        403,
        "read another class's sheet: {}",
        r.text().unwrap()
    );
    let r = t
        .put(&sheet)
        .json(&json!({"student": "x", "column": "tx1", "input": "9", "expected_version": 0}))
        .send()
        .unwrap();
    assert!(
        [403, 404].contains(&r.status().as_u16()),
        "wrote another class: {}",
        r.status()
    );
    for (m, p) in [
        ("GET", "/api/v1/accounts"),
        ("POST", "/api/v1/accounts"),
        ("GET", "/api/v1/device/health"),
        ("POST", "/api/v1/device/power"),
        ("POST", "/api/v1/device/update"),
        ("POST", "/api/v1/backup/run"),
        ("GET", "/api/v1/backup/status"),
        ("POST", "/api/v1/import/students?mode=preview"),
        ("POST", "/api/v1/lessons/approve-month"),
    ] {
        let r = t
            .request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), format!("{b}{p}"))
            .header("x-csrf-token", &tok)
            .json(&json!({"action": "reboot", "username": "x", "full_name": "x", "roles": ["admin"], "month": "2026-11"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{m} {p} let a teacher in");
    }
    assert!(!dir.path().join("power/request").exists());
    for p in ["/admin/accounts", "/admin/device", "/admin/import"] {
        assert_eq!(
            t.get(format!("{b}{p}")).send().unwrap().status(),
            403,
            "{p}"
        );
    }
}

#[test]
fn a_session_chosen_before_login_is_never_the_session_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let planted = "attacker-chosen-session-token-0123456789abcdef";
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/login", s.base()))
        .header("cookie", format!("tram_session={planted}"))
        .json(&json!({"username": "admin", "password": common::PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.starts_with("tram_session=") && !set.contains(planted),
        "{set}"
    );
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite"),
        "{set}"
    );
    // The planted value does not log anyone in.
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/me", s.base()))
        .header("cookie", format!("tram_session={planted}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn names_titles_and_comments_are_escaped_wherever_they_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let b = s.base();
    let admin = s.login("admin");
    // A staff name.
    let r = admin
        .post(format!("{b}/api/v1/accounts"))
        .json(&json!({"username": "gvxss", "full_name": XSS, "roles": ["teacher"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // A score comment and a lesson-plan title, by the class's teacher.
    let t = s.login(&teacher_of(&s, "2026-6a1", "toan"));

    let sheet: Value = t
        .get(format!("{b}/api/v1/grades/sheet/2026-6a1/toan/hk1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let student = sheet["rows"][0]["student"].as_str().unwrap().to_string();
    let note_v = sheet["rows"][0]["note"]["version"].as_u64().unwrap_or(0);
    let r = t
        .put(format!("{b}/api/v1/grades/sheet/2026-6a1/toan/hk1"))
        .json(
            &json!({"student": student, "column": "nx", "input": XSS, "expected_version": note_v}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = t
        .post(format!("{b}/api/v1/lessons/plans"))
        .json(&json!({"title": XSS, "subject": "toan", "grade": 6, "teach_on": "2026-11-30"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let plan: Value = r.json().unwrap();
    let plan_id = plan["plan"]["id"].as_str().unwrap().to_string();
    for (who, page) in [
        (&admin, "/admin/accounts".to_string()),
        (&t, "/grades/sheet/2026-6a1/toan/hk1".to_string()),
        (&t, "/lessons".to_string()),
        (&t, format!("/lessons/plan/{plan_id}")),
    ] {
        let r = who.get(format!("{b}{page}")).send().unwrap();
        assert_eq!(r.status(), 200, "{page}");
        let csp = r
            .headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_string());
        let html = r.text().unwrap();
        assert!(
            !html.contains("<script>alert(1)") && !html.contains("<img src=x"),
            "{page} renders raw HTML"
        );
        assert!(
            html.contains("alert(1)") && html.contains("onerror=alert(2)"),
            "{page} lost the text"
        );
        assert!(
            csp.is_some_and(|c| c.contains("script-src") && !c.contains("unsafe-inline")),
            "{page}"
        );
    }
}

#[test]
fn traversal_big_headers_slow_bodies_and_zip_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_env(dir.path(), false, &[], &[("TRAM_REQUEST_TIMEOUT", "3")]);
    let b = s.base();
    let admin = s.login("admin");
    for p in [
        "/static/..%2f..%2fCargo.toml",
        "/static/../../Cargo.toml",
        "/library/file/..%2f..%2f..%2fetc%2fpasswd",
        "/library/cover/..%2ftram.redb",
        "/lessons/file/x/1/..%2f..%2fkeys%2fdevice.key",
        "/api/v1/grades/export/..%2f..%2fkeys%2fbackup.key",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let r = admin.get(format!("{b}{p}")).send().unwrap();
        let code = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        assert!((400..500).contains(&code), "{p}: {code}");
        assert!(
            !body.contains("root:")
                && !body.contains("[workspace]")
                && !body.contains("AGE-SECRET"),
            "{p}"
        );
    }

    // A 200 KB header: refused, the server lives on.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let out = raw(s.port, big.as_bytes(), Duration::from_secs(5));
    assert!(
        !out.starts_with("HTTP/1.1 200"),
        "a 200 KB header was accepted"
    );
    healthy(&s);

    // A body trickled and then stalled: 408 within the deadline, not a tied-up worker forever.
    let t = Instant::now();
    let out = raw(
        s.port,
        b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
        Duration::from_secs(15),
    );
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(12));
    healthy(&s);

    // An .xlsx whose sheet unpacks to 300 MB (a "zip bomb" of a few hundred KB).
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    z.start_file("[Content_Types].xml", o).unwrap();
    z.write_all(b"<?xml version=\"1.0\"?><Types/>").unwrap();
    z.start_file("xl/worksheets/sheet1.xml", o).unwrap();
    let block = vec![b' '; 1 << 20];
    for _ in 0..300 {
        z.write_all(&block).unwrap();
    }
    let bomb = z.finish().unwrap().into_inner();
    assert!(bomb.len() < 2 << 20, "the bomb is small: {}", bomb.len());
    let t = Instant::now();
    let r = admin
        .post(format!("{b}/api/v1/import/students?mode=preview"))
        .header("content-type", "application/octet-stream")
        .header("x-csrf-token", csrf(&admin, &b))
        .body(bomb)
        .send()
        .unwrap();
    let code = r.status().as_u16();
    let body: Value = r.json().unwrap_or_default();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(code == 422 || body["clean"] == false, "{code} {body}");
    assert!(body.to_string().contains("giải nén"), "{body}");
    healthy(&s);
}

#[test]
fn only_tls_1_2_and_1_3_are_spoken() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), true);
    let probe = |flag: &str| {
        let o = std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", s.port),
                flag,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl");
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    for old in ["-tls1", "-tls1_1"] {
        let out = probe(old);
        assert!(
            !out.contains("New, TLSv1")
                && (out.contains("Cipher is (NONE)") || out.contains("alert")),
            "{old} negotiated:\n{out}"
        );
    }
    for ok in ["-tls1_2", "-tls1_3"] {
        let out = probe(ok);
        assert!(out.contains("New, TLSv1"), "{ok} failed:\n{out}");
    }
}

#[test]
fn the_hub_shows_its_pages_to_its_staff_and_its_relay_routes_to_enrolled_schools_only() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::Hub::start(dir.path());
    let b = hub.base();
    let anon = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for p in [
        "/district/api/schools",
        "/district/api/stats",
        "/district/schools.csv",
        "/district/district.xlsx",
    ] {
        let r = anon.get(format!("{b}{p}")).send().unwrap();
        assert!(
            [401, 303, 302].contains(&r.status().as_u16()),
            "{p}: {}",
            r.status()
        );
    }
    let token = hub.token("79000701");
    // A school that is not enrolled, and a wrong secret, get nothing of the downlink or batches.
    for (p, auth) in [
        ("/relay/v1/downlink/79000701", "Bearer nope"),
        ("/relay/v1/downlink/79000999", "Bearer nope"),
        ("/relay/v1/batches/79000701/1", "Bearer nope"),
    ] {
        let r = anon
            .get(format!("{b}{p}"))
            .header("authorization", auth)
            .send()
            .unwrap();
        assert!(
            [401, 404].contains(&r.status().as_u16()),
            "{p}: {}",
            r.status()
        );
    }
    // The enrolment token is good once.
    let enrol = |t: &str| {
        anon.post(format!("{b}/relay/v1/enrol"))
            .json(&json!({"token": t, "public_key": "11".repeat(32)}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(enrol(&token), 200);
    assert_eq!(enrol(&token), 403);
    // Staff see the school only now that it enrolled (and nothing it has not relayed).
    let schools = hub.schools();
    assert_eq!(schools["schools"][0]["batches"], 0, "{schools}");
}
