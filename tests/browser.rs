//! Real headless Chromium (Debian `chromium` + `chromium-driver`) against the real binary over
//! HTTPS. The device CA is installed into a fresh NSS database, as school IT would install it on
//! a laptop, so the page loads without certificate errors. The window is a 360-px phone.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, free_port};
use fantoccini::{ClientBuilder, Locator};

struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn trust_ca(home: &std::path::Path, ca_pem: &std::path::Path) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let dbarg = format!("sql:{}", db.display());
    let ok = Command::new("certutil")
        .args(["-N", "-d", &dbarg, "--empty-password"])
        .status()
        .expect("certutil (libnss3-tools) is installed");
    assert!(ok.success());
    let ok = Command::new("certutil")
        .args(["-A", "-d", &dbarg, "-t", "C,,", "-n", "Tram CA", "-i"])
        .arg(ca_pem)
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn typ(c: &fantoccini::Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(c: &fantoccini::Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for(c: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

#[test]
fn admin_logs_in_over_https_and_navigates_on_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), true);
    let home = tempfile::tempdir().unwrap();
    trust_ca(home.path(), &dir.path().join("tls/ca.pem"));

    let port = free_port();
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver) is installed"),
    );
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            // a cheap Android phone: 360 CSS px wide (a desktop window cannot be made this narrow)
            "mobileEmulation": {
                "deviceMetrics": { "width": 360, "height": 760, "pixelRatio": 2.0, "touch": true },
                "userAgent": "Mozilla/5.0 (Linux; Android 11; SM-A025F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
            },
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", home.path().join("chrome").display())]
        }
    }))
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(drive(s.base(), port, caps));
}

async fn drive(base: String, port: u16, caps: serde_json::Map<String, serde_json::Value>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let c = loop {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("chromedriver: {e}"),
        }
    };
    c.goto(&format!("{base}/")).await.unwrap();
    // not logged in: the login page, in Vietnamese
    wait_for(&c, "#username").await;
    assert!(c.source().await.unwrap().contains("Đăng nhập"));
    // a wrong password shows the generic message
    typ(&c, "#username", "admin").await;
    typ(&c, "#password", "sai-mat-khau").await;
    click(&c, "#login-submit").await;
    let err = wait_for(&c, "#login-error").await.text().await.unwrap();
    assert!(err.contains("không đúng"), "{err}");
    c.find(Locator::Css("#username"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    typ(&c, "#username", "admin").await;
    typ(&c, "#password", PASSWORD).await;
    click(&c, "#login-submit").await;
    let welcome = wait_for(&c, "#welcome").await.text().await.unwrap();
    assert!(welcome.contains("Xin chào"), "{welcome}");
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with("https://")
    );
    // nothing is wider than the phone
    let vw = c.execute("return window.innerWidth", vec![]).await.unwrap();
    assert_eq!(vw.as_u64(), Some(360), "phone viewport");
    let w = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    if w.as_u64().unwrap() > 360 {
        let png = c.screenshot().await.unwrap();
        let _ = std::fs::write(std::env::temp_dir().join("tram-too-wide.png"), png);
        let widest = c
            .execute(
                "let m=null;for(const e of document.querySelectorAll('*')){const r=e.getBoundingClientRect();if(r.right>360&&(!m||r.right>m[1]))m=[e.tagName+'.'+e.className,r.right]}return m",
                vec![],
            )
            .await
            .unwrap();
        panic!("page is {w} px wide; widest element {widest}");
    }
    // the audit chain status and the reach-by-IP QR code are on the admin home
    assert!(
        wait_for(&c, "#audit-status")
            .await
            .text()
            .await
            .unwrap()
            .contains("toàn vẹn")
    );
    assert!(c.source().await.unwrap().contains("<svg"));

    // open the menu and go to the classes page
    click(&c, "details.menu summary").await;
    c.find(Locator::LinkText("Lớp học"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#classes").await;
    let rows = c.find_all(Locator::Css("#classes tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 12);

    // create a class through the form (JSON API with the CSRF token)
    typ(&c, "#c-name", "9A9").await;
    typ(&c, "#c-grade", "9").await;
    click(&c, "form[data-api-form] button[type=submit]").await;
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(
            "//table[@id='classes']//td[.//a[text()='9A9']]",
        ))
        .await
        .expect("new class listed after save");
    // a bad grade is refused with a Vietnamese message and nothing is added
    typ(&c, "#c-name", "XX").await;
    c.execute("document.getElementById('c-grade').value = '13'", vec![])
        .await
        .unwrap();
    c.execute(
        "document.getElementById('c-grade').removeAttribute('max')",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "form[data-api-form] button[type=submit]").await;
    let msg = wait_for(&c, "[data-msg].err").await.text().await.unwrap();
    assert!(msg.contains("Khối lớp"), "{msg}");

    // add a subject with its periods per grade
    c.goto(&format!("{base}/admin/subjects")).await.unwrap();
    wait_for(&c, "#su-name").await;
    typ(&c, "#su-name", "Tiếng Khmer").await;
    typ(&c, "input[name='periods_per_year.6']", "105").await;
    typ(&c, "input[name='periods_per_year.7']", "105").await;
    click(&c, "form[data-api-form] button[type=submit]").await;
    let row = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(
            "//table[@id='subjects']//tr[td[text()='Tiếng Khmer']]",
        ))
        .await
        .expect("new subject listed after save");
    assert!(row.text().await.unwrap().contains("K6: 105, K7: 105"));

    // students of a class, then switch to English
    c.goto(&format!("{base}/admin/students")).await.unwrap();
    wait_for(&c, "#students").await;
    assert_eq!(
        c.find_all(Locator::Css("#students tbody tr"))
            .await
            .unwrap()
            .len(),
        40
    );
    c.goto(&format!("{base}/lang/en?next=/")).await.unwrap();
    let welcome = wait_for(&c, "#welcome").await.text().await.unwrap();
    assert!(welcome.starts_with("Hello"), "{welcome}");
    c.close().await.unwrap();
}
