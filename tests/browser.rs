//! Real headless Chromium (Debian `chromium` + `chromium-driver`) against the real binary over
//! HTTPS. The device CA is installed into a fresh NSS database, as school IT would install it on
//! a laptop, so the page loads without certificate errors. The window is a 360-px phone.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DemoClass, PASSWORD, Proxy, Server, free_port, teacher_of};
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

/// Logs in through the login page and waits for the home page.
async fn log_in(c: &fantoccini::Client, base: &str, user: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    typ(c, "#username", user).await;
    typ(c, "#password", PASSWORD).await;
    click(c, "#login-submit").await;
    wait_for(c, "#welcome").await;
}

/// chromedriver + headless Chromium as a 360-px Android phone, with its profile in `home`.
fn browser(home: &std::path::Path) -> (Driver, u16, serde_json::Map<String, serde_json::Value>) {
    let port = free_port();
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("HOME", home)
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
                     format!("--user-data-dir={}", home.join("chrome").display())]
        }
    }))
    .unwrap();
    (driver, port, caps)
}

async fn connect(
    port: u16,
    caps: serde_json::Map<String, serde_json::Value>,
) -> fantoccini::Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("chromedriver: {e}"),
        }
    }
}

#[test]
fn admin_logs_in_over_https_and_navigates_on_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), true);
    let home = tempfile::tempdir().unwrap();
    trust_ca(home.path(), &dir.path().join("tls/ca.pem"));

    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(drive(s.base(), port, caps));
}

async fn drive(base: String, port: u16, caps: serde_json::Map<String, serde_json::Value>) {
    let c = connect(port, caps).await;
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

static CLASS: DemoClass = DemoClass::new("8A1");
const SUBJECT: &str = "toan";

/// One row of the sheet, read straight from the server (not through the proxy). Called from
/// inside the async test, so the blocking client runs on a blocking-capable worker.
fn sheet_row(api: &reqwest::blocking::Client, s: &Server, row: usize) -> serde_json::Value {
    tokio::task::block_in_place(|| {
        let v: serde_json::Value = api
            .get(format!(
                "{}/api/v1/grades/sheet/{CLASS}/{SUBJECT}/hk1",
                s.base()
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["rows"][row].clone()
    })
}

/// The text of one cell ("nx" is the comment).
fn cell_text(api: &reqwest::blocking::Client, s: &Server, student: usize, col: &str) -> String {
    let row = sheet_row(api, s, student);
    if col == "nx" {
        return row["note"]["text"].as_str().unwrap().to_string();
    }
    row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == col)
        .unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A teacher on a phone enters scores in the grid: each cell saves as it is entered, bad input
/// is refused inline in Vietnamese, the average comes back from the server, cells typed while the
/// Wi-Fi is down are kept and sent when it returns, and an edit that collided is shown.
#[test]
fn teacher_enters_scores_on_a_phone_through_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let proxy = Proxy::start(s.port);
    let teacher = teacher_of(&s, &CLASS, SUBJECT);
    let api = s.login(&teacher);
    let home = tempfile::tempdir().unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = connect(port, caps).await;
        let base = format!("http://127.0.0.1:{}", proxy.port);
        log_in(&c, &base, &teacher).await;
        c.goto(&format!("{base}/grades")).await.unwrap();
        c.find(Locator::Css(&format!("a[href='/grades/sheet/{CLASS}/{SUBJECT}/hk1']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&c, "#grid").await;
        let cell = |row: usize, col: &str| format!("#grid tbody tr:nth-child({row}) input[data-col='{col}']");
        // Like a thumb swiping the sheet back to its first columns before tapping a cell.
        let to_start = |c: fantoccini::Client| async move {
            c.execute("document.querySelector('.grid-wrap').scrollLeft = 0", vec![]).await.unwrap();
        };
        let wait_class = |css: String, class: &'static str| {
            let c = c.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let cls = c.find(Locator::Css(&css)).await.unwrap().attr("class").await.unwrap().unwrap_or_default();
                    if cls.split(' ').any(|x| x == class) {
                        return;
                    }
                    assert!(Instant::now() < deadline, "{css} never got class {class} (has {cls})");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let wait_text = |css: &'static str, want: &'static str| {
            let c = c.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let t = c.find(Locator::Css(css)).await.unwrap().text().await.unwrap();
                    if t.contains(want) {
                        return t;
                    }
                    assert!(Instant::now() < deadline, "{css} never said {want:?} (says {t:?})");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };

        // Row 1 across with Tab, the worked example E1: the server's average appears.
        click(&c, &cell(1, "tx1")).await;
        let active = c.active_element().await.unwrap();
        active.send_keys("8\u{E004}7\u{E004}9\u{E004}6,5\u{E004}7.5\u{E004}8\u{E004}").await.unwrap();
        wait_class(cell(1, "ck"), "saved").await;
        let avg = wait_text("#grid tbody tr:nth-child(1) [data-avg]", "7,7").await;
        assert_eq!(avg, "7,7");
        wait_text("#sync", "Đã lưu tất cả").await;
        assert_eq!(cell_text(&api, &s, 0, "tx4"), "6,5");
        // Tab went on into the comment: a Vietnamese sentence saves like a score.
        c.active_element().await.unwrap().send_keys("Chăm chỉ, tiến bộ rõ\u{E004}").await.unwrap();
        wait_class(cell(1, "nx"), "saved").await;
        assert_eq!(cell_text(&api, &s, 0, "nx"), "Chăm chỉ, tiến bộ rõ");

        // Enter moves down the column; 11 and "abc" are refused inline and never sent.
        to_start(c.clone()).await;
        click(&c, &cell(2, "tx1")).await;
        // The refusal is shown beside its cell, in the cell's own box — not under the grid,
        // where the phone's keyboard covers it (issue 24 item 5).
        let beside = |row: usize, col: &str| -> &'static str {
            Box::leak(format!("#grid tbody tr:nth-child({row}) td:has(input[data-col='{col}']) .cell-err").into_boxed_str())
        };
        c.active_element().await.unwrap().send_keys("11\u{E007}").await.unwrap();
        let m = wait_text(beside(2, "tx1"), "Điểm phải từ 0 đến 10").await;
        assert!(m.contains("nhận được 11"), "{m}");
        wait_class(cell(2, "tx1"), "invalid").await;
        to_start(c.clone()).await;
        click(&c, &cell(3, "tx1")).await;
        c.active_element().await.unwrap().send_keys("abc\u{E007}").await.unwrap();
        wait_text(beside(3, "tx1"), "không phải là điểm số").await;
        let under = c.find(Locator::Css("#cell-msg")).await.unwrap().text().await.unwrap();
        assert_eq!(under, "", "nothing said under the grid");
        assert_eq!(cell_text(&api, &s, 1, "tx1"), "");
        assert_eq!(cell_text(&api, &s, 2, "tx1"), "");
        // The line above the grid does not say all is saved beside two red cells (review r9).
        let line = wait_text("#sync", "Còn 2 ô chưa lưu được").await;
        assert!(!line.contains("Đã lưu tất cả"), "{line}");
        // Nothing is waiting to be sent, but two cells are refused: leaving the page asks first
        // (a synthetic beforeunload, as the browser's own would, is cancelled by the page).
        let leave = "const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented";
        let stays = c.execute(leave, vec![]).await.unwrap();
        assert_eq!(stays, serde_json::json!(true), "leaving with refused cells does not warn");
        // Corrected, the cells save, their messages go, and leaving no longer asks.
        for row in [2, 3] {
            to_start(c.clone()).await;
            // focusing a cell selects its text, so typing replaces it
            click(&c, &cell(row, "tx1")).await;
            c.active_element().await.unwrap().send_keys("7\u{E007}").await.unwrap();
            let v = c.find(Locator::Css(&cell(row, "tx1"))).await.unwrap().prop("value").await.unwrap();
            assert_eq!(v.as_deref(), Some("7"));
            wait_class(cell(row, "tx1"), "saved").await;
        }
        assert!(c.find_all(Locator::Css(".cell-err")).await.unwrap().is_empty());
        wait_text("#sync", "Đã lưu tất cả").await;
        assert_eq!(c.execute(leave, vec![]).await.unwrap(), serde_json::json!(false));

        // The Wi-Fi drops: cells typed now are kept, flagged, and not lost.
        proxy.set_down(true);
        to_start(c.clone()).await;
        click(&c, &cell(5, "tx1")).await;
        let el = c.find(Locator::Css(&cell(5, "tx1"))).await.unwrap();
        el.send_keys("9\u{E004}").await.unwrap();
        c.active_element().await.unwrap().send_keys("10\u{E004}").await.unwrap();
        wait_class(cell(5, "tx2"), "unsaved").await;
        wait_text("#sync", "Mất kết nối").await;
        assert_eq!(cell_text(&api, &s, 4, "tx1"), "", "not on the server yet");
        // …and they are kept in the browser's storage, so closing or reloading the page loses nothing.
        let stored = c
            .execute(&format!("return localStorage.getItem('tram.pending:/api/v1/grades/sheet/{CLASS}/{SUBJECT}/hk1')"), vec![])
            .await
            .unwrap();
        assert!(stored.as_str().unwrap_or("").contains("\"input\":\"10\""), "{stored}");
        // The link returns: they are sent without the teacher doing anything.
        proxy.set_down(false);
        wait_text("#sync", "Đã lưu tất cả").await;
        wait_class(cell(5, "tx2"), "saved").await;
        assert_eq!(cell_text(&api, &s, 4, "tx1"), "9");
        assert_eq!(cell_text(&api, &s, 4, "tx2"), "10");

        // Someone else changes a cell this screen still shows empty: the collision is shown.
        let other = student_id(&api, &s, 5);
        let status = tokio::task::block_in_place(|| {
            api.put(format!("{}/api/v1/grades/sheet/{CLASS}/{SUBJECT}/hk1", s.base()))
                .json(&serde_json::json!({"student": other, "column": "gk", "input": "5", "expected_version": 0}))
                .send()
                .unwrap()
                .status()
        });
        assert_eq!(status, 200);
        to_start(c.clone()).await;
        click(&c, &cell(6, "gk")).await;
        c.active_element().await.unwrap().send_keys("6\u{E007}").await.unwrap();
        wait_class(cell(6, "gk"), "conflict").await;
        wait_text(beside(6, "gk"), "vừa được người khác sửa").await;
        let shown = c.find(Locator::Css(&cell(6, "gk"))).await.unwrap().prop("value").await.unwrap();
        assert_eq!(shown.as_deref(), Some("5"));
        assert_eq!(cell_text(&api, &s, 5, "gk"), "5", "the other edit was not overwritten");
        c.close().await.unwrap();
    });
}

fn student_id(api: &reqwest::blocking::Client, s: &Server, row: usize) -> String {
    sheet_row(api, s, row)["student"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A teacher on a phone finds a book without typing diacritics, then uploads a lesson PDF while
/// the Wi-Fi drops: the page resumes the upload from where the box stopped and opens the item.
#[test]
fn teacher_searches_and_uploads_through_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let proxy = Proxy::start(s.port);
    let home = tempfile::tempdir().unwrap();
    let pdf_path = home.path().join("Bài giảng phân số.pdf");
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..7_000_000u32).map(|i| (i % 253) as u8));
    std::fs::write(&pdf_path, &pdf).unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = connect(port, caps).await;
        let base = format!("http://127.0.0.1:{}", proxy.port);
        log_in(&c, &base, "gv01").await;
        c.goto(&format!("{base}/library")).await.unwrap();
        typ(&c, "#lib-q", "ngu van").await;
        click(&c, "form.search button").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c.current_url().await.unwrap().as_str().contains("q=ngu") {
            assert!(Instant::now() < deadline, "the search form did not submit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let results = wait_for(&c, "#lib-results").await.text().await.unwrap();
        assert!(results.contains("Ngữ văn 6, tập một"), "{results}");

        c.find(Locator::Css("#u-file"))
            .await
            .unwrap()
            .send_keys(pdf_path.to_str().unwrap())
            .await
            .unwrap();
        typ(&c, "#u-title", "Phân số – bài giảng").await;
        click(&c, "#lib-upload button[type=submit]").await;
        // Drop the link once the first chunk is in, for three seconds.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = c
                .execute("return document.getElementById('u-progress').value", vec![])
                .await
                .unwrap();
            if v.as_u64().unwrap_or(0) > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "upload did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        proxy.set_down(true);
        tokio::time::sleep(Duration::from_secs(3)).await;
        proxy.set_down(false);
        let title = wait_for(&c, "#item-title").await.text().await.unwrap();
        assert_eq!(title, "Phân số – bài giảng");
        // The owner corrects the details on the phone.
        click(&c, "details.card summary").await;
        let t = c.find(Locator::Css("#e-title")).await.unwrap();
        t.clear().await.unwrap();
        t.send_keys("Phân số – bài giảng lớp 6").await.unwrap();
        typ(&c, "#e-authors", "Nguyễn Thị Hoa, Trần Văn Nam").await;
        click(&c, "#item-edit button[type=submit]").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = c.find(Locator::Css("#item-title")).await;
            if let Ok(e) = now
                && e.text().await.unwrap_or_default() == "Phân số – bài giảng lớp 6"
            {
                break;
            }
            assert!(Instant::now() < deadline, "the edit did not land");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // The stored file is exactly the one on the phone.
    let api = s.login("gv01");
    let r: serde_json::Value = api
        .get(format!("{}/api/v1/library/search?q=phan%20so", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let item = &r["items"][0];
    assert_eq!(item["file"]["size"], pdf.len());
    assert_eq!(
        item["file"]["blob"],
        blake3::hash(&pdf).to_hex().to_string().as_str()
    );
}

/// The submitted count on the dashboard (second state in the totals).
async fn submitted_on_dashboard(c: &fantoccini::Client) -> u64 {
    let v = c
        .execute(
            "return document.querySelectorAll('#dash-totals strong')[1].textContent",
            vec![],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or("0").trim().parse().unwrap_or(0)
}

#[test]
fn teacher_writes_and_signs_a_plan_while_the_principal_watches_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let base = s.base();
    let home = tempfile::tempdir().unwrap();
    let pdf_path = home.path().join("Phiếu học tập.pdf");
    std::fs::write(&pdf_path, b"%PDF-1.4\nphieu hoc tap bai 9\n%%EOF\n").unwrap();
    let (_driver, port, caps) = browser(home.path());
    // The principal's browser has a profile of its own.
    let mut caps2 = caps.clone();
    caps2["goog:chromeOptions"]["args"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|a| a.as_str().is_some_and(|a| a.starts_with("--user-data-dir")))
        .for_each(|a| {
            *a = serde_json::Value::String(format!(
                "--user-data-dir={}",
                home.path().join("chrome2").display()
            ))
        });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let bgh = connect(port, caps2).await;
        log_in(&bgh, &base, "hieutruong").await;
        bgh.goto(&format!("{base}/lessons/dashboard"))
            .await
            .unwrap();
        wait_for(&bgh, "#dash-totals").await;
        let before = submitted_on_dashboard(&bgh).await;

        let c = connect(port, caps).await;
        log_in(&c, &base, "gv04").await;
        c.goto(&format!("{base}/lessons")).await.unwrap();
        typ(&c, "#k-secret", "58164027").await;
        typ(&c, "#k-confirm", "58164027").await;
        click(&c, "#key-form button[type=submit]").await;
        wait_for(&c, "#key-form .msg.ok").await;
        c.goto(&format!("{base}/lessons/new")).await.unwrap();
        typ(&c, "#n-title", "Bài 9. Sự đa dạng của chất").await;
        c.find(Locator::Css("#n-subject option:nth-child(5)"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        typ(&c, "#n-grade", "6").await;
        click(&c, "#new-form button[type=submit]").await;
        wait_for(&c, "#plan-form").await;
        typ(&c, "#f-knowledge", "Nêu được sự đa dạng của chất.").await;
        typ(
            &c,
            "fieldset[data-activity='0'] textarea[data-a='objective']",
            "Khơi gợi hứng thú.",
        )
        .await;
        c.find(Locator::Css("#at-file"))
            .await
            .unwrap()
            .send_keys(pdf_path.to_str().unwrap())
            .await
            .unwrap();
        click(&c, "#attach-form button[type=submit]").await;
        // Attaching saves the typed fields first, then reloads the editor with the file listed.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(e) = c.find(Locator::Css("#edit-files li")).await
                && e.text()
                    .await
                    .unwrap_or_default()
                    .contains("Phiếu học tập.pdf")
            {
                break;
            }
            assert!(Instant::now() < deadline, "the attachment did not land");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let kept = c
            .find(Locator::Css("#f-knowledge"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert_eq!(kept, "Nêu được sự đa dạng của chất.");
        click(&c, "#plan-form button[type=submit]").await;
        wait_for(&c, "#submit-form").await;
        typ(&c, "#s-pin", "58164027").await;
        click(&c, "#submit-form button[type=submit]").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(e) = c.find(Locator::Css("#plan-state")).await
                && e.text().await.unwrap_or_default().contains("Đã nộp")
            {
                break;
            }
            assert!(Instant::now() < deadline, "the plan was not submitted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sigs = wait_for(&c, "#signatures").await.text().await.unwrap();
        assert!(
            sigs.contains("Đã ký") && sigs.contains("Giáo viên ký nộp"),
            "{sigs}"
        );

        // The principal's dashboard changed without a reload.
        let deadline = Instant::now() + Duration::from_secs(30);
        while submitted_on_dashboard(&bgh).await != before + 1 {
            assert!(
                Instant::now() < deadline,
                "the dashboard did not update live"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let recent = wait_for(&bgh, "#recent").await.text().await.unwrap();
        assert!(recent.contains("Sự đa dạng của chất"), "{recent}");
        let live = wait_for(&bgh, "#live").await.text().await.unwrap();
        assert!(live.starts_with("cập nhật"), "{live}");
    });
}

/// The HTML pages the page routers register, read from their source as the role matrix in
/// tests/security.rs reads them, so a new page is opened here without anyone listing it.
/// Downloads (PDF, ZIP, files), static files and the sign-in forms are not pages to look at.
fn page_patterns() -> Vec<String> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut out = std::collections::BTreeSet::new();
    // Every page router the app merges (read from app::router itself); `files()` routers
    // serve downloads.
    let routers: Vec<(String, String)> = tram::web::app_routers(std::path::Path::new(src))
        .into_iter()
        .filter(|(_, f, api)| !api && !f.contains("files()"))
        .map(|(file, f, _)| (file, f))
        .collect();
    assert!(routers.len() >= 6, "{routers:?}");
    for (file, f) in &routers {
        let (file, f) = (file.as_str(), f.as_str());
        let text = std::fs::read_to_string(format!("{src}/{file}")).unwrap();
        assert!(text.contains(f), "{file}: no {f}");
        for (method, path) in tram::web::routes_in_source(&text, f, "") {
            let download = [".pdf", "/pdf", ".zip", ".crt", ".pem", "/signed"]
                .iter()
                .any(|x| path.ends_with(x));
            let skipped = ["/static/", "/lang/", "/login", "/logout"]
                .iter()
                .any(|x| path.starts_with(x));
            if method == "get" && !download && !skipped {
                out.insert(path);
            }
        }
    }
    assert!(out.len() >= 20, "only {} pages found: {out:?}", out.len());
    out.into_iter().collect()
}

/// Whether `path` (no query) is an instance of the route `pattern` ("{x}" = one segment).
fn matches_route(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<_>, Vec<_>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b)
}

/// The pages `user` can reach: every route without parameters, then the first link found to each
/// route with parameters, following links from the pages reached (so the class book is the one
/// the GVCN's home links to, the grid one the teacher teaches). Route → URL.
fn reachable_pages(
    s: &Server,
    user: &str,
    patterns: &[String],
) -> std::collections::BTreeMap<String, String> {
    let c = s.login(user);
    let mut found = std::collections::BTreeMap::new();
    let mut queue: std::collections::VecDeque<String> = patterns
        .iter()
        .filter(|p| !p.contains('{'))
        .cloned()
        .collect();
    let mut seen: std::collections::BTreeSet<String> = queue.iter().cloned().collect();
    while let Some(url) = queue.pop_front() {
        let path = url.split('?').next().unwrap_or_default().to_string();
        let Some(pattern) = patterns.iter().find(|p| matches_route(p, &path)) else {
            continue;
        };
        let r = c.get(format!("{}{url}", s.base())).send().unwrap();
        let html = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if !r.status().is_success() || !html {
            continue;
        }
        found.entry(pattern.clone()).or_insert_with(|| url.clone());
        let body = r.text().unwrap();
        for chunk in body.split("href=\"").skip(1) {
            let href = chunk
                .split('"')
                .next()
                .unwrap_or_default()
                .replace("&amp;", "&");
            let href = href.split('#').next().unwrap_or_default().to_string();
            let href = if href.starts_with('?') {
                format!("{path}{href}")
            } else {
                href
            };
            let hpath = href.split('?').next().unwrap_or_default();
            if !href.starts_with('/') || href.starts_with("//") {
                continue;
            }
            let Some(p) = patterns.iter().find(|p| matches_route(p, hpath)) else {
                continue;
            };
            if p.contains('{') && !found.contains_key(p) && seen.insert(href.clone()) {
                queue.push_back(href);
            }
        }
    }
    found
}

/// Measured in the page: how wide the document is, and every word in a table cell that the
/// layout split over two lines (a Range over the word returning boxes on more than one line —
/// a cell may wrap between words, never inside one).
const MEASURE: &str = r#"
const broken = [];
for (const cell of document.querySelectorAll("th, td")) {
  const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walk.nextNode())) {
    if (n.parentElement.closest("select, option, textarea, script, style")) continue;
    const re = /\S+/g;
    let m;
    while ((m = re.exec(n.data))) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
      if (lines.size > 1) broken.push(`${cell.tagName.toLowerCase()} "${m[0]}"`);
    }
  }
}
let widest = null;
for (const e of document.querySelectorAll("body *")) {
  const r = e.getBoundingClientRect();
  if (r.right > innerWidth + 0.5 && !e.closest(".scroll, .table-wrap") && (!widest || r.right > widest[1])) widest = [e.tagName + "." + e.className, Math.round(r.right)];
}
return { scroll: document.documentElement.scrollWidth, inner: innerWidth, broken: broken.slice(0, 8), widest };
"#;

/// Issue 24 items 1 and 2: every page each demo role can reach, at 360 × 800: nothing wider than
/// the phone outside a scroll container, and no table cell breaking a word. A screenshot of each
/// page goes to target/screenshots/360/<role>/<page>.png for people to look at.
#[test]
fn every_page_fits_a_phone_for_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let patterns = page_patterns();
    let roles = ["admin", "hieutruong", "gv01", "gv02"];
    let pages: Vec<_> = roles
        .iter()
        .map(|u| (*u, reachable_pages(&s, u, &patterns)))
        .collect();
    // Every page is opened by some role: a page no demo role reaches by a link is a gap here.
    let opened: std::collections::BTreeSet<&String> =
        pages.iter().flat_map(|(_, p)| p.keys()).collect();
    let missed: Vec<_> = patterns.iter().filter(|p| !opened.contains(p)).collect();
    assert!(missed.is_empty(), "no demo role reached {missed:?}");

    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into())
        .join("screenshots/360");
    eprintln!("screenshots: {}", shots.display());
    let home = tempfile::tempdir().unwrap();
    let mut caps = browser(home.path());
    // 360 × 800, the phone of the issue
    caps.2["goog:chromeOptions"]["mobileEmulation"]["deviceMetrics"]["height"] = 800.into();
    let (_driver, port, caps) = caps;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let problems = rt.block_on(async {
        let c = connect(port, caps).await;
        let mut problems = vec![];
        for (user, pages) in &pages {
            c.delete_all_cookies().await.unwrap();
            log_in(&c, &s.base(), user).await;
            let folder = shots.join(user);
            std::fs::create_dir_all(&folder).unwrap();
            for (pattern, url) in pages {
                c.goto(&format!("{}{url}", s.base())).await.unwrap();
                let m = c.execute(MEASURE, vec![]).await.unwrap();
                let name = match pattern.trim_matches('/') {
                    "" => "home".to_string(),
                    p => p.replace(['{', '}'], "").replace('/', "_"),
                };
                let png = c.screenshot().await.unwrap();
                std::fs::write(folder.join(format!("{name}.png")), png).unwrap();
                if m["scroll"].as_u64() > m["inner"].as_u64() {
                    problems.push(format!(
                        "{user} {url}: page {} px wide at {} (widest {})",
                        m["scroll"], m["inner"], m["widest"]
                    ));
                }
                if m["broken"].as_array().is_some_and(|b| !b.is_empty()) {
                    problems.push(format!("{user} {url}: words broken {}", m["broken"]));
                }
            }
        }
        c.close().await.unwrap();
        problems
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Issue 24 item 5: the lesson-plan editor on a 360-px phone — its text boxes span the form in
/// the page's font (they were ~200 px of monospace), and an activity's title is a box that wraps.
#[test]
fn the_lesson_plan_editor_fits_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let edit = reachable_pages(&s, "gv02", &page_patterns())
        .remove("/lessons/plan/{id}/edit")
        .expect("gv02 has a plan to edit");
    let home = tempfile::tempdir().unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = connect(port, caps).await;
        log_in(&c, &s.base(), "gv02").await;
        c.goto(&format!("{}{edit}", s.base())).await.unwrap();
        wait_for(&c, "#plan-form").await;
        let m = c
            .execute(
                r##"const form = document.getElementById("plan-form").getBoundingClientRect().width;
                const body = getComputedStyle(document.body).fontFamily;
                const boxes = [...document.querySelectorAll("#plan-form textarea")].map((t) => ({
                  width: t.getBoundingClientRect().width, font: getComputedStyle(t).fontFamily }));
                const titles = [...document.querySelectorAll("fieldset.activity legend [data-a=name]")].map((t) => t.tagName);
                const weights = [...document.querySelectorAll("fieldset.activity label textarea")].map((t) => getComputedStyle(t).fontWeight);
                return { form, body, boxes, titles, weights };"##,
                vec![],
            )
            .await
            .unwrap();
        let form = m["form"].as_f64().unwrap();
        let boxes = m["boxes"].as_array().unwrap();
        assert!(!boxes.is_empty(), "{m}");
        for b in boxes {
            assert!(
                b["width"].as_f64().unwrap() >= form * 0.8,
                "a text box narrower than the form: {m}"
            );
            assert_eq!(b["font"], m["body"], "a text box not in the page font: {m}");
        }
        let titles = m["titles"].as_array().unwrap();
        assert!(!titles.is_empty(), "{m}");
        assert!(titles.iter().all(|t| t == "TEXTAREA"), "{m}");
        // Review r9 item 8: what is typed in an activity's boxes is body text, not bold.
        let weights = m["weights"].as_array().unwrap();
        assert!(!weights.is_empty(), "{m}");
        assert!(weights.iter().all(|w| w == "400"), "{m}");
        c.close().await.unwrap();
    });
}

/// Review r9 item 1 on the page: picking a tổ in "Ký duyệt cả tháng" lists only that tổ's
/// plans, and signing sends that list: exactly the plans shown are approved, the others still
/// wait, and the message names what was signed.
#[test]
fn the_month_batch_form_signs_the_departments_plans_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let base = s.base();
    let api = s.login("hieutruong");
    let waiting = || -> u64 {
        let d: serde_json::Value = api
            .get(format!("{base}/api/v1/lessons/dashboard"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        d["totals"][2].as_u64().unwrap()
    };
    let before = waiting();
    let home = tempfile::tempdir().unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let signed = rt.block_on(async {
        let c = connect(port, caps).await;
        log_in(&c, &base, "hieutruong").await;
        c.goto(&format!("{base}/lessons/dashboard")).await.unwrap();
        wait_for(&c, "#batch-form").await;
        let listed = |c: &fantoccini::Client| {
            let c = c.clone();
            async move {
                c.execute(
                    "return [...document.querySelectorAll('#batch-plans li')].filter((li) => !li.hidden)\
                     .map((li) => [li.dataset.department, li.querySelector('strong').textContent])",
                    vec![],
                )
                .await
                .unwrap()
            }
        };
        let all = listed(&c).await;
        let all = all.as_array().unwrap().clone();
        let dep = all[0][0].as_str().unwrap().to_string();
        let of_dep: Vec<&serde_json::Value> = all.iter().filter(|x| x[0] == dep.as_str()).collect();
        assert!(of_dep.len() < all.len(), "the demo waits in more than one tổ: {all:?}");
        click(&c, &format!("#b-dept option[value='{dep}']")).await;
        let shown = listed(&c).await;
        assert_eq!(shown.as_array().unwrap().len(), of_dep.len(), "{shown}");
        assert!(shown.as_array().unwrap().iter().all(|x| x[0] == dep.as_str()), "{shown}");
        let count = wait_for(&c, "#batch-count").await.text().await.unwrap();
        assert_eq!(count, of_dep.len().to_string());
        typ(&c, "#b-pin", common::DEMO_PIN).await;
        click(&c, "#batch-form button[type=submit]").await;
        let msg = wait_for(&c, "#batch-form .msg.ok").await.text().await.unwrap();
        assert!(
            msg.contains(&format!("Đã ký phê duyệt {} kế hoạch", of_dep.len())),
            "{msg}"
        );
        for x in &of_dep {
            assert!(msg.contains(&format!("«{}»", x[1].as_str().unwrap())), "{msg}");
        }
        c.close().await.unwrap();
        of_dep.len() as u64
    });
    assert_eq!(
        waiting(),
        before - signed,
        "only the tổ's plans were signed"
    );
}

/// Issue 24 item 2 on the page: an account made through the form shows its temporary password
/// once in a labelled panel, the form is emptied and the new row is in the list without a
/// reload; the list filters by name.
#[test]
fn accounts_page_creates_filters_and_shows_the_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let home = tempfile::tempdir().unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = connect(port, caps).await;
        log_in(&c, &s.base(), "admin").await;
        c.goto(&format!("{}/admin/accounts", s.base())).await.unwrap();
        click(&c, "#new-account summary").await;
        typ(&c, "#a-username", "gvmoi").await;
        typ(&c, "#a-name", "Đặng Thu Hà").await;
        click(&c, "#create-form input[name=roles][value=teacher]").await;
        click(&c, "#create-form button[type=submit]").await;
        let panel = wait_for(&c, "#temp-panel:not([hidden])").await;
        let text = panel.text().await.unwrap();
        assert!(text.contains("Mật khẩu tạm thời — chỉ hiện một lần"), "{text}");
        assert!(text.contains("gvmoi"), "{text}");
        let pw = c.find(Locator::Css("#temp-password")).await.unwrap().prop("value").await.unwrap();
        assert!(pw.is_some_and(|p| p.len() >= 10), "no password shown");
        c.find(Locator::Css("#temp-copy")).await.unwrap();
        c.find(Locator::Css("#temp-print")).await.unwrap();
        let name = c.find(Locator::Css("#a-name")).await.unwrap().prop("value").await.unwrap();
        assert_eq!(name.as_deref(), Some(""), "the form is emptied");
        // the list was read again: the new row is there without a reload
        wait_for(&c, "#accounts tr[data-username=gvmoi]").await;
        // without diacritics, as typed on a phone
        typ(&c, "#f-text", "dang thu ha").await;
        let shown = c
            .execute("return [...document.querySelectorAll('#accounts tbody tr')].filter((r) => !r.hidden).map((r) => r.dataset.username)", vec![])
            .await
            .unwrap();
        assert_eq!(shown, serde_json::json!(["gvmoi"]));
        // The edit dialog at 360 px: each checkbox level with its label's first line (review
        // r9: they sat above them, the text on the box's bottom edge).
        c.find(Locator::Css("#accounts tr[data-username=gvmoi] button[data-edit]")).await.unwrap().click().await.unwrap();
        wait_for(&c, "#edit-dialog[open]").await;
        let apart = c
            .execute(
                "return [...document.querySelectorAll('#edit-dialog label.inline')].filter((l) => {
                   const box = l.querySelector('input').getBoundingClientRect();
                   const r = document.createRange();
                   r.selectNodeContents(l.lastChild);
                   const first = r.getClientRects()[0];
                   // beside, not baseline-aligned under a 44-px box's bottom edge
                   return !first || Math.abs((first.top + first.bottom) / 2 - (box.top + box.bottom) / 2) > 4;
                 }).map((l) => l.textContent.trim())",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(apart, serde_json::json!([]), "checkboxes apart from their labels");
        let labels = c.find_all(Locator::Css("#edit-dialog label.inline")).await.unwrap();
        assert!(labels.len() > 3, "no checkboxes in the dialog");
        c.close().await.unwrap();
    });
}

/// Issue 23 item 4 on a 360-px phone: the district admin signs in to the hub, opens the
/// publishing page, and publishes a multi-chunk update bundle through a dropped connection;
/// the upload resumes, the page says it was published, the list shows it, and nothing on the
/// page is wider than the phone.
#[test]
fn district_admin_publishes_an_update_from_the_hub_page_on_a_phone() {
    let hub_dir = tempfile::tempdir().unwrap();
    let w = tempfile::tempdir().unwrap();
    let bundle = common::release_bundle(w.path(), "keys", "7.2.0", 5_000_000);
    std::fs::copy(
        w.path().join("keys/release-key.pub"),
        hub_dir.path().join("release-key.pub"),
    )
    .unwrap();
    let hub = common::Hub::start(hub_dir.path());
    let proxy = Proxy::start(hub.port);
    let home = tempfile::tempdir().unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("http://127.0.0.1:{}", proxy.port);
    rt.block_on(async {
        let c = connect(port, caps).await;
        c.goto(&format!("{base}/login")).await.unwrap();
        typ(&c, "#username", "admin").await;
        typ(&c, "#password", PASSWORD).await;
        click(&c, "#login-submit").await;
        wait_for(&c, "#filters").await;
        // The hub's "Kiểm tra học bạ số" page fits the phone too (issue 22 item 3).
        c.goto(&format!("{base}/district/hocba-verify"))
            .await
            .unwrap();
        wait_for(&c, "#hocba-file").await;
        let m = c.execute(MEASURE, vec![]).await.unwrap();
        assert!(
            m["scroll"].as_u64() <= m["inner"].as_u64(),
            "the hub's học bạ page is wider than the phone: {m}"
        );
        c.goto(&format!("{base}/district/publish")).await.unwrap();
        c.find(Locator::Css("#pu-file"))
            .await
            .unwrap()
            .send_keys(bundle.to_str().unwrap())
            .await
            .unwrap();
        click(&c, "#pub-update button[type=submit]").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = c
                .execute(
                    "return document.getElementById('pu-progress').value",
                    vec![],
                )
                .await
                .unwrap();
            if v.as_u64().unwrap_or(0) > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the upload did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        proxy.set_down(true);
        tokio::time::sleep(Duration::from_secs(3)).await;
        proxy.set_down(false);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let msg = c
                .find(Locator::Css("#pu-msg"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap_or_default();
            if msg.contains("Đã phát hành") {
                break;
            }
            assert!(Instant::now() < deadline, "not published: {msg}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let table = wait_for(&c, "#published").await.text().await.unwrap();
        assert!(table.contains("Trạm 7.2.0"), "{table}");
        let m = c.execute(MEASURE, vec![]).await.unwrap();
        assert!(
            m["scroll"].as_u64() <= m["inner"].as_u64(),
            "the page is {} px wide at {} (widest {})",
            m["scroll"],
            m["inner"],
            m["widest"]
        );
        c.close().await.unwrap();
    });
    // Exactly the file on the phone went out.
    let list: serde_json::Value = hub
        .staff()
        .get(format!("{}/district/api/published", hub.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let hash = blake3::hash(&std::fs::read(&bundle).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(list["items"][0]["id"], hash.as_str(), "{list}");
}

/// Học bạ số on a phone: the demo's 9A2 of last year (every mark entered) is locked for that class; its
/// homeroom teacher types her PIN in the class page's "Học bạ số" section and signs the whole
/// class, then the principal signs at his stage on the same page, and the versions list shows
/// both signatures of every student.
#[test]
fn the_class_is_signed_on_its_page_by_the_homeroom_teacher_then_the_principal() {
    static CLASS: DemoClass = DemoClass::showcase("9A2");
    const PIN: &str = common::DEMO_PIN;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path(), false);
    let homeroom = common::homeroom_of(&s, &CLASS);
    s.stop();
    // The homeroom teacher's certificate (the demo's principal has one under the demo PIN).
    let o = Command::new(common::bin())
        .args([
            "hocba",
            "signer",
            "--user",
            &homeroom,
            "--role",
            "gvcn",
            "--by",
            "hieutruong",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("TRAM_SIGNING_PIN", PIN)
        .env("TRAM_APPROVER_PIN", PIN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = Server::start(dir.path(), false);
    let base = s.base();
    let bgh_api = s.login("hieutruong");
    for term in ["hk1", "hk2"] {
        let r = bgh_api
            .post(format!("{base}/api/v1/grades/terms/{term}/lock"))
            .json(&serde_json::json!({"class": CLASS}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
    let roll: serde_json::Value = bgh_api
        .get(format!("{base}/api/v1/students?class={CLASS}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let students = roll["students"].as_array().unwrap().len();
    assert!(students > 1);
    let home = tempfile::tempdir().unwrap();
    let (_driver, port, caps) = browser(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = connect(port, caps).await;
        let page = format!("{base}/grades/class/{CLASS}?term=cn");
        // Signs at one stage through the section's form, and waits for the reloaded list to
        // show `role` beside every student.
        let sign = |stage: &'static str, role: &'static str| {
            let c = c.clone();
            let page = page.clone();
            async move {
                c.goto(&page).await.unwrap();
                let form = format!("#hocba-so form:has(input[name=stage][value={stage}])");
                wait_for(&c, &format!("{form} input[name=pin]")).await;
                typ(&c, &format!("{form} input[name=pin]"), PIN).await;
                click(&c, &format!("{form} button")).await;
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let src = c.source().await.unwrap();
                    if src.matches(&format!("— {role}")).count() == students {
                        return src;
                    }
                    let msg = c
                        .find(Locator::Css(&format!("{form} [data-msg]")))
                        .await
                        .ok();
                    if let Some(m) = msg {
                        let t = m.text().await.unwrap_or_default();
                        assert!(!t.contains("Lỗi") && !t.contains("không"), "{t}");
                    }
                    assert!(Instant::now() < deadline, "not signed at {stage}:\n{src}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        log_in(&c, &base, &homeroom).await;
        sign("gvcn", "Giáo viên chủ nhiệm").await;
        c.delete_all_cookies().await.unwrap();
        log_in(&c, &base, "hieutruong").await;
        let src = sign("principal", "Hiệu trưởng").await;
        assert_eq!(src.matches("— Giáo viên chủ nhiệm").count(), students);
        let w = c
            .execute("return document.documentElement.scrollWidth", vec![])
            .await
            .unwrap();
        assert!(w.as_u64().unwrap() <= 360, "the section is {w} px wide");
        // The versions list as the phone shows it, for people to look at.
        let shots = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into())
            .join("screenshots/360");
        std::fs::create_dir_all(&shots).unwrap();
        c.execute(
            "document.querySelector('#hocba-so .hocba-versions').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(shots.join("hocba-versions.png"), png).unwrap();
        c.close().await.unwrap();
    });
}
