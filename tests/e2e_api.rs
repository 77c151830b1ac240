//! The real binary on loopback: the outside contract (healthz, login, audit verify), CSRF and
//! cross-site refusal, body limits, roles over HTTP, sessions, Excel import/export, HTTPS with
//! the device CA and the port-80 bootstrap page.

mod common;

use common::{PASSWORD, Server, csrf, tram};
use serde_json::{Value, json};

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

#[test]
fn contract_health_login_and_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), false);
    let c = s.client();
    let h: Value = c
        .get(format!("{}/healthz", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["database"], "ok");
    assert!(h["version"].is_string());
    assert!(h["free_disk_bytes"].as_u64().unwrap() > 0);

    // wrong password: 401, generic message, no cookie
    let r = c
        .post(format!("{}/api/v1/login", s.base()))
        .json(&json!({"username": "admin", "password": "wrong-password"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "bad_credentials");
    // unknown user gets the very same answer
    let r = c
        .post(format!("{}/api/v1/login", s.base()))
        .json(&json!({"username": "khong-co", "password": "wrong-password"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().unwrap()["error"]["message"],
        body["error"]["message"]
    );

    let r = c
        .post(format!("{}/api/v1/login", s.base()))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let me: Value = c
        .get(format!("{}/api/v1/me", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"]["username"], "admin");

    // a change through the API, then the CLI verifies the chain (server stopped: redb is single-process)
    let r = c
        .post(format!("{}/api/v1/accounts", s.base()))
        .json(&json!({"username": "gvmoi", "full_name": "Đỗ Thị Mới", "roles": ["teacher"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.json::<Value>().unwrap()["temporary_password"].is_string());
    // On a live box too: the running server walks the chain for the command.
    let d = dir.path().to_str().unwrap();
    let out = tram(&["audit", "verify", "--data-dir", d]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));
    assert!(s.stop().success(), "graceful shutdown exits 0");

    let out = tram(&["audit", "verify", "--data-dir", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));

    // tamper with one event: verify fails and names it
    {
        let store = tram::store::Store::open(dir.path()).unwrap();
        tram::store::audit::tamper_for_test(store.raw_db(), 5, |e| e.actor = "intruder".into())
            .unwrap();
    }
    let out = tram(&["audit", "verify", "--data-dir", d]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BROKEN at event 5"), "{text}");
}

#[test]
fn cross_site_csrf_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let c = s.login("admin");
    let url = format!("{}/api/v1/accounts", s.base());
    let body = json!({"username": "gvx", "full_name": "X", "roles": ["teacher"]});
    // another site's page posting with the user's cookie
    let r = c
        .post(&url)
        .header("Origin", "http://evil.example")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(&url)
        .header("Sec-Fetch-Site", "cross-site")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // a form-encoded post without the CSRF token
    let r = c
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("username=gvx")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "csrf");
    // cross-site login attempt (login CSRF)
    let r = s
        .client()
        .post(format!("{}/api/v1/login", s.base()))
        .header("Origin", "https://evil.example")
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // nothing was created by any of the refused requests
    let accs: Value = c.get(&url).send().unwrap().json().unwrap();
    assert!(
        !accs["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["username"] == "gvx")
    );
    // oversized body
    let big = "x".repeat(2 * 1024 * 1024);
    let r = c
        .post(&url)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    // the unread rest of the body ends the connection, so no request is sent down it after
    assert_eq!(r.headers()["connection"], "close");
    // unknown role
    let r = c
        .post(&url)
        .json(&json!({"username": "gvy", "full_name": "Y", "roles": ["janitor"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.json::<Value>().unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("janitor")
    );
}

#[test]
fn roles_sessions_and_rate_limit_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let teacher = s.login("gv05");
    let base = s.base();
    // a teacher cannot manage accounts or import
    assert_eq!(
        teacher
            .get(format!("{base}/api/v1/accounts"))
            .send()
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        teacher
            .post(format!("{base}/api/v1/import/students"))
            .json(&json!({}))
            .send()
            .unwrap()
            .status(),
        403
    );
    // ... can see the class list, without personal ID numbers of a class they are not GVCN of
    let me: Value = teacher
        .get(format!("{base}/api/v1/me"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let classes: Value = teacher
        .get(format!("{base}/api/v1/classes"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let other = classes["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| !me["homeroom"].as_array().unwrap().contains(&c["id"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let st: Value = teacher
        .get(format!("{base}/api/v1/students?class={other}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(st["students"].as_array().unwrap().len(), 40);
    assert!(st["students"][0].get("ma_dinh_danh").is_none());

    // the admin disables the teacher: the teacher's next request is refused
    let admin = s.login("admin");
    let r = admin
        .patch(format!("{base}/api/v1/accounts/u-gv05"))
        .json(&json!({"disabled": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        teacher
            .get(format!("{base}/api/v1/me"))
            .send()
            .unwrap()
            .status(),
        401
    );
    // pages redirect to the login page
    let r = teacher.get(format!("{base}/")).send().unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    // log out everywhere closes the admin's other session too
    let admin2 = s.login("admin");
    let r = admin
        .post(format!("{base}/api/v1/logout-everywhere"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        admin2
            .get(format!("{base}/api/v1/me"))
            .send()
            .unwrap()
            .status(),
        401
    );

    // brute force: the sixth wrong password for one account is refused without checking
    let c = s.client();
    let mut codes = vec![];
    for _ in 0..6 {
        codes.push(
            c.post(format!("{base}/api/v1/login"))
                .json(&json!({"username": "gv06", "password": "doan-mo-mat-khau"}))
                .send()
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes, [401, 401, 401, 401, 401, 429]);
    // ... even with the right password, until the window passes
    let r = c
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": "gv06", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    // other accounts from the same address are not locked out
    let r = c
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": "gv07", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn excel_import_preview_commit_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let c = s.login("admin");
    let base = s.base();
    let count = |c: &reqwest::blocking::Client| -> usize {
        let v: Value = c
            .get(format!("{base}/api/v1/students"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["students"].as_array().unwrap().len()
    };
    let before = count(&c);
    let bad = xlsx(&[
        &["Họ và tên", "Ngày sinh", "Giới tính", "Mã định danh", "Lớp"],
        &["Phạm Minh Khôi", "12/03/2014", "Nam", "079214999001", "6A1"],
        &["Vũ Thị Lụa", "30/02/2014", "Nữ", "079314999002", "6A1"],
        &["Ngô Văn Tư", "01/01/2014", "Nam", "079214999003", "6Z9"],
    ]);
    let post = |mode: &str, body: Vec<u8>| {
        c.post(format!("{base}/api/v1/import/students?mode={mode}"))
            .header("Content-Type", "application/octet-stream")
            .header("X-CSRF-Token", csrf(&c, &base))
            .body(body)
            .send()
            .unwrap()
    };
    let r: Value = post("preview", bad.clone()).json().unwrap();
    assert_eq!(r["clean"], false);
    let rows: Vec<u64> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [3, 4]);
    let r = post("commit", bad);
    assert_eq!(r.status(), 422);
    assert_eq!(
        count(&c),
        before,
        "nothing imported from a file with errors"
    );

    let good = xlsx(&[
        &["Họ và tên", "Ngày sinh", "Giới tính", "Mã định danh", "Lớp"],
        &["Phạm Minh Khôi", "12/03/2014", "Nam", "079214999001", "6A1"],
        &["Vũ Thị Lụa", "28/02/2014", "Nữ", "079314999002", "6A1"],
    ]);
    let r: Value = post("commit", good).json().unwrap();
    assert_eq!(r["committed"], true);
    assert_eq!(count(&c), before + 2);

    let x = c
        .get(format!("{base}/api/v1/export/students.xlsx"))
        .send()
        .unwrap();
    assert_eq!(x.status(), 200);
    let bytes = x.bytes().unwrap().to_vec();
    assert_eq!(&bytes[..2], b"PK");
    // re-importing the export changes nothing and is clean
    let r: Value = post("preview", bytes).json().unwrap();
    assert_eq!(r["clean"], true, "{r}");
    assert_eq!(r["updates"].as_u64().unwrap() as usize, before + 2);
}

#[test]
fn https_with_the_device_ca_and_bootstrap_page() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), true);
    // the client trusts only the device CA: the chain and name constraints verify
    let c = s.login("admin");
    let r = c.get(format!("{}/", s.base())).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("Xin chào"));
    let cookie_secure = s
        .client()
        .post(format!("{}/api/v1/login", s.base()))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .unwrap()
        .headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure");
    assert!(cookie_secure);
    // the plain-HTTP port serves the CA page and redirects the rest
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let boot = format!("http://127.0.0.1:{}", s.boot_port);
    let page = plain
        .get(format!("{boot}/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("tram-ca.crt")
            && page.contains("Android")
            && page.contains("iOS")
            && page.contains("Windows")
    );
    assert!(
        page.contains(&format!("https://127.0.0.1:{}/", s.port)),
        "IP URL shown"
    );
    assert!(page.contains("<svg"), "QR code shown");
    let der = plain
        .get(format!("{boot}/tram-ca.crt"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(der[0], 0x30, "DER certificate");
    let r = plain.get(format!("{boot}/admin/classes")).send().unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{}/admin/classes", s.port)
    );
    // A Host header naming another site is not followed there (outside review, session 9).
    let r = plain
        .get(format!("{boot}/x"))
        .header("host", "evil.example")
        .send()
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("https://tram.local:{}/x", s.port)
    );
}
