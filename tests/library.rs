//! The library against the real binary: search without diacritics, a chunked upload resumed
//! after an out-of-order chunk, types judged by content, Range/ETag streaming, the OPDS feed.

mod common;

use common::{Server, csrf};
use serde_json::{Value, json};

#[test]
fn search_upload_stream_and_opds() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let c = srv.login("gv01");

    // The contract: logged-in search returns items with their titles.
    let r: Value = c
        .get(format!("{base}/api/v1/library/search?q=ngu%20van%206"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        r["items"][0]["title"], "Ngữ văn 6, tập một — Kết nối tri thức với cuộc sống",
        "{r}"
    );
    let anon = srv.client();
    assert_eq!(
        anon.get(format!("{base}/api/v1/library/search?q=toan"))
            .send()
            .unwrap()
            .status(),
        401
    );

    // A chunked upload: a chunk out of order is refused with the server's offset, then resumed.
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..3_000_000u32).map(|i| (i % 251) as u8));
    let r: Value = c
        .post(format!("{base}/api/v1/library/uploads"))
        .json(&json!({"name": "Bài giảng phân số.pdf", "size": pdf.len()}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    let url = format!("{base}/api/v1/library/uploads/{id}");
    let patch = |offset: usize, bytes: &[u8]| {
        c.patch(&url)
            .header("Upload-Offset", offset.to_string())
            .header("X-CSRF-Token", csrf(&c, &base))
            .body(bytes.to_vec())
            .send()
            .unwrap()
    };
    assert_eq!(patch(0, &pdf[..1_000_000]).status(), 200);
    let r = patch(2_000_000, &pdf[2_000_000..]);
    assert_eq!(r.status(), 409);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["details"]["offset"], 1_000_000);
    let st: Value = c.get(&url).send().unwrap().json().unwrap();
    let have = st["offset"].as_u64().unwrap() as usize;
    let r = patch(have, &pdf[have..]);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["done"], true);

    let r = c
        .post(format!("{base}/api/v1/library/items"))
        .json(
            &json!({"title": "Phân số – bài giảng lớp 6", "kind": "ebook", "upload": id,
                      "subject": "toan", "grade": 6}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let item: Value = r.json().unwrap();
    let item_id = item["item"]["id"].as_str().unwrap().to_string();
    let r: Value = c
        .get(format!("{base}/api/v1/library/search?q=phan%20so&grade=6"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["items"][0]["id"], item_id.as_str());

    // A cover image goes up the same way and is served as an image.
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[7u8; 500][..]].concat();
    let r: Value = c
        .post(format!("{base}/api/v1/library/uploads"))
        .json(&json!({"name": "bia.png", "size": png.len()}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let cover_id = r["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.patch(format!("{base}/api/v1/library/uploads/{cover_id}"))
            .header("Upload-Offset", "0")
            .header("X-CSRF-Token", csrf(&c, &base))
            .body(png.clone())
            .send()
            .unwrap()
            .status(),
        200
    );
    let r = c
        .put(format!("{base}/api/v1/library/items/{item_id}"))
        .json(&json!({"cover_upload": cover_id}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let cover = c
        .get(format!("{base}/library/cover/{item_id}"))
        .send()
        .unwrap();
    assert_eq!(cover.headers()["content-type"], "image/png");
    assert_eq!(cover.bytes().unwrap().as_ref(), &png[..]);
    let page = c
        .get(format!("{base}/library?q=phan%20so"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(&format!("/library/cover/{item_id}")));

    // Streaming: a Range gives 206 with exactly those bytes; the ETag gives 304.
    let file_url = format!("{base}/library/file/{item_id}");
    let r = c
        .get(&file_url)
        .header("Range", "bytes=1000-1999")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers().get("content-encoding").is_none());
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().unwrap().as_ref(), &pdf[1000..2000]);
    let r = c
        .get(&file_url)
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    let whole = c.get(&file_url).send().unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().unwrap().len(), pdf.len());

    // An executable named .pdf, a zero-byte file, a path in the name: refused, nothing stored.
    let r: Value = c
        .post(format!("{base}/api/v1/library/uploads"))
        .json(&json!({"name": "de-thi.pdf", "size": 20}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let exe_url = format!(
        "{base}/api/v1/library/uploads/{}",
        r["id"].as_str().unwrap()
    );
    let r = c
        .patch(&exe_url)
        .header("Upload-Offset", "0")
        .header("X-CSRF-Token", csrf(&c, &base))
        .body(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chương trình")
    );
    for (name, size) in [("rong.pdf", 0), ("../../etc/passwd.pdf", 10)] {
        let r = c
            .post(format!("{base}/api/v1/library/uploads"))
            .json(&json!({"name": name, "size": size}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 422, "{name}");
    }

    // OPDS: the Atom root feed with the elements OPDS 1.2 requires, no login needed.
    let r = anon.get(format!("{base}/opds")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml;profile=opds-catalog;kind=navigation")
    );
    let xml = r.text().unwrap();
    for must in [
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"",
        "<id>",
        "<title>",
        "<updated>",
        "<author>",
        "rel=\"self\"",
        "rel=\"start\"",
        "rel=\"search\"",
        "<entry>",
    ] {
        assert!(xml.contains(must), "root feed lacks {must}: {xml}");
    }
    let feed = anon
        .get(format!("{base}/opds/new"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(feed.contains("Ngữ văn 6, tập một"), "{feed}");
    assert!(feed.contains("http://opds-spec.org/acquisition"));
    assert!(
        !feed.contains("Ngân hàng câu hỏi"),
        "teachers-only items stay off the open feed"
    );
    let found = anon
        .get(format!("{base}/opds/search?q=ngu%20van"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(found.contains("Ngữ văn 6, tập một"), "{found}");
    let osd = anon
        .get(format!("{base}/opds/search.xml"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(osd.contains("{searchTerms}"));

    // The page lists the catalogue.
    let page = c
        .get(format!("{base}/library?q=toan"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Toán 6, tập một"), "{page}");
}

#[test]
fn e_readers_get_the_open_catalogue_over_plain_http_too() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), true);
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let boot = format!("http://127.0.0.1:{}", srv.boot_port);
    let feed = plain.get(format!("{boot}/opds/new")).send().unwrap();
    assert_eq!(feed.status(), 200);
    let xml = feed.text().unwrap();
    assert!(xml.contains("Ngữ văn 6, tập một"), "{xml}");
    assert!(!xml.contains("Ngân hàng câu hỏi"));
    let href = xml
        .split("href=\"/library/file/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let pdf = plain
        .get(format!("{boot}/library/file/{href}"))
        .send()
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().unwrap().starts_with(b"%PDF-"));
    // Everything else still goes to HTTPS.
    let r = plain.get(format!("{boot}/library")).send().unwrap();
    assert_eq!(r.status(), 308);
}

#[test]
fn the_librarian_lends_by_student_code_and_sees_the_loan() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let admin = srv.login("admin");
    let students: Value = admin
        .get(format!("{base}/api/v1/students"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let st = &students["students"][0];
    let code = st["ma_dinh_danh"].as_str().unwrap();
    let due = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date()
        .tomorrow()
        .unwrap()
        .to_string();
    let r = admin
        .post(format!("{base}/api/v1/library/loans"))
        .json(&json!({"item": "li-demo01", "student": code, "due": due}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let loan: Value = r.json().unwrap();
    let page = admin
        .get(format!("{base}/library/loans"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Toán 6, tập một"), "{page}");
    assert!(page.contains(st["full_name"].as_str().unwrap()));
    let r = admin
        .post(format!(
            "{base}/api/v1/library/loans/{}/return",
            loan["loan"]["id"].as_str().unwrap()
        ))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // A teacher is not the librarian; an unknown code is named.
    let teacher = srv.login("gv01");
    assert_eq!(
        teacher
            .get(format!("{base}/library/loans"))
            .send()
            .unwrap()
            .status(),
        403
    );
    let r = admin
        .post(format!("{base}/api/v1/library/loans"))
        .json(&json!({"item": "li-demo01", "student": "000000000000", "due": due}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[test]
fn bulk_import_over_the_api_previews_then_imports_everything() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(&dir.path().join("data"), false);
    let base = srv.base();
    let usb = dir.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    std::fs::write(usb.join("dia-li-8.pdf"), b"%PDF-1.4\nban do").unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Tệp", "Tên tài liệu", "Môn", "Khối"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["dia-li-8.pdf", "Bản đồ Địa lí 8", "Lịch sử và Địa lí", "8"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, c as u16, *v).unwrap();
    }
    for (c, v) in ["", "Atlat Việt Nam", "", "9"].iter().enumerate() {
        ws.write_string(2, c as u16, *v).unwrap();
    }
    wb.save(usb.join("danh-muc.xlsx")).unwrap();
    let admin = srv.login("admin");
    let body = json!({"folder": usb, "sheet": "danh-muc.xlsx"});
    let r: Value = admin
        .post(format!("{base}/api/v1/library/import"))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["committed"], false, "{r}");
    assert_eq!(r["preview"]["rows"].as_array().unwrap().len(), 2, "{r}");
    assert!(
        r["preview"]["problems"].as_array().unwrap().is_empty(),
        "{r}"
    );
    let mut commit = body.clone();
    commit["commit"] = json!(true);
    let r: Value = admin
        .post(format!("{base}/api/v1/library/import"))
        .json(&commit)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["imported"], 2, "{r}");
    let found: Value = admin
        .get(format!(
            "{base}/api/v1/library/search?q=ban%20do%20dia%20li"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found["items"][0]["title"], "Bản đồ Địa lí 8");
    // Teachers cannot read the box's folders.
    let t = srv.login("gv01");
    assert_eq!(
        t.post(format!("{base}/api/v1/library/import"))
            .json(&body)
            .send()
            .unwrap()
            .status(),
        403
    );
}

/// Issue 24 items 5 and 7: a 35 KB file reads "35 KB", not "0.0 MB", and the grade filter of a
/// THCS school offers grades 6–9 only.
#[test]
fn the_library_page_shows_human_sizes_and_only_the_schools_grades() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), false);
    let base = srv.base();
    let c = srv.login("gv01");

    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(35_000, b'x');
    let id = uploaded(&c, &base, "Đề kiểm tra ngắn.pdf", pdf);
    let r = c
        .post(format!("{base}/api/v1/library/items"))
        .json(&json!({"title": "Đề kiểm tra ngắn", "kind": "ebook", "upload": id, "grade": 7}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    let page = c
        .get(format!("{base}/library?q=de%20kiem%20tra%20ngan"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Lớp 7 · 35 KB"), "{page}");
    assert!(!page.contains("0.0 MB"), "{page}");

    let select = page
        .split("<select name=\"grade\"")
        .nth(1)
        .and_then(|s| s.split("</select>").next())
        .expect("the grade filter");
    let offered: Vec<&str> = select
        .split("<option value=\"")
        .skip(1)
        .filter_map(|o| o.split('"').next())
        .filter(|v| !v.is_empty())
        .collect();
    assert_eq!(offered, ["6", "7", "8", "9"], "{select}");
}

// ───────────────────────── vetting before sharing (issue 25 item 4) ─────────────────────────

/// (username, id, department) of the demo's accounts with exactly these roles.
fn accounts_with(
    admin: &reqwest::blocking::Client,
    base: &str,
    roles: &[&str],
) -> Vec<[String; 3]> {
    let r: Value = admin
        .get(format!("{base}/api/v1/accounts"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            let mut have: Vec<&str> = a["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            have.sort();
            let mut want = roles.to_vec();
            want.sort();
            have == want && a["disabled"] != true
        })
        .map(|a| {
            [
                a["username"].as_str().unwrap().to_string(),
                a["id"].as_str().unwrap().to_string(),
                a["department"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect()
}

/// The body of a GET.
fn text(c: &reqwest::blocking::Client, url: String) -> String {
    c.get(url).send().unwrap().text().unwrap()
}

/// A finished upload of `pdf` in one chunk, its session id.
fn uploaded(c: &reqwest::blocking::Client, base: &str, name: &str, pdf: Vec<u8>) -> String {
    let r: Value = c
        .post(format!("{base}/api/v1/library/uploads"))
        .json(&json!({"name": name, "size": pdf.len()}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    let r = c
        .patch(format!("{base}/api/v1/library/uploads/{id}"))
        .header("Upload-Offset", "0")
        .header("X-CSRF-Token", csrf(c, base))
        .body(pdf)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    id
}

/// A teacher's new item (a PDF) shared with `visibility`; the item as answered.
fn share(c: &reqwest::blocking::Client, base: &str, title: &str, visibility: &str) -> Value {
    let pdf = b"%PDF-1.4\n% tai lieu tham dinh\n".to_vec();
    let upload = uploaded(c, base, "de-on-tap.pdf", pdf);
    let r = c
        .post(format!("{base}/api/v1/library/items"))
        .json(&json!({"title": title, "kind": "ebook", "upload": upload,
                      "visibility": visibility}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["item"].clone()
}

fn found(c: &reqwest::blocking::Client, base: &str, q: &str, id: &str) -> bool {
    let r: Value = c
        .get(format!("{base}/api/v1/library/search?q={q}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["items"].as_array().unwrap().iter().any(|i| i["id"] == id)
}

fn decide(c: &reqwest::blocking::Client, base: &str, id: &str, body: Value) -> (u16, Value) {
    let r = c
        .post(format!("{base}/api/v1/library/items/{id}/review"))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn queue_ids(c: &reqwest::blocking::Client, base: &str) -> Vec<String> {
    let r: Value = c
        .get(format!("{base}/api/v1/library/review"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// The store of a stopped server: its outbox entries for a library item and its audit events.
fn outbox_has(dir: &std::path::Path, item: &str) -> bool {
    let store = tram::store::Store::open(dir, &tram::app::schema::schema()).unwrap();
    store
        .outbox(0, 1_000_000)
        .unwrap()
        .iter()
        .any(|e| e.kind == "library_item" && e.key == item)
}

#[test]
fn a_shared_item_waits_for_its_department_head_and_the_district_for_bgh() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path(), false);
    let base = srv.base();
    let admin = srv.login("admin");
    let heads = accounts_with(&admin, &base, &["dept_head", "teacher"]);
    let teachers = accounts_with(&admin, &base, &["teacher"]);
    let head = heads[0].clone();
    let other_head = heads
        .iter()
        .find(|h| h[2] != head[2])
        .expect("two departments")
        .clone();
    let teacher = teachers
        .iter()
        .find(|t| t[2] == head[2])
        .expect("a teacher in the head's department")
        .clone();
    let colleague = teachers
        .iter()
        .find(|t| t[2] != head[2])
        .expect("a teacher of another department")
        .clone();
    let t = srv.login(&teacher[0]);
    let h = srv.login(&head[0]);
    let h2 = srv.login(&other_head[0]);
    let o = srv.login(&colleague[0]);
    let anon = srv.client();
    let principal = accounts_with(&admin, &base, &["principal"])[0].clone();

    // The teacher shares with the school: waiting, seen by her and her head only.
    let item = share(&t, &base, "Đề ôn tập Quyttam số một", "school");
    let id = item["id"].as_str().unwrap().to_string();
    assert_eq!(item["review"]["state"], "waiting", "{item}");
    assert!(found(&t, &base, "quyttam", &id), "the owner finds her item");
    assert!(
        !found(&o, &base, "quyttam", &id),
        "another teacher does not"
    );
    assert_eq!(
        o.get(format!("{base}/api/v1/library/items/{id}"))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        anon.get(format!("{base}/library/file/{id}"))
            .send()
            .unwrap()
            .status(),
        404
    );
    for feed in ["/opds/new", "/opds/search?q=quyttam"] {
        let xml = text(&anon, format!("{base}{feed}"));
        assert!(!xml.contains("Quyttam"), "{feed} lists a waiting item");
    }
    let page = text(&t, format!("{base}/library/item/{id}"));
    assert!(page.contains("chờ thẩm định"), "{page}");
    assert!(queue_ids(&h, &base).contains(&id), "the head's queue");
    assert!(
        !queue_ids(&h2, &base).contains(&id),
        "not another tổ's head"
    );
    let queue_page = text(&h, format!("{base}/library/review"));
    assert!(
        queue_page.contains("Đề ôn tập Quyttam số một"),
        "{queue_page}"
    );

    // Nobody else decides: a teacher, the head of another tổ — 403 in Vietnamese.
    for who in [&o, &h2] {
        let (code, v) = decide(who, &base, &id, json!({"accept": true}));
        assert_eq!(code, 403, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("tổ trưởng"), "{v}");
    }
    assert!(!found(&o, &base, "quyttam", &id));

    // The head accepts: the school sees it, the open catalogue too.
    let (code, v) = decide(&h, &base, &id, json!({"accept": true}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["item"]["review"]["state"], "accepted");
    assert!(found(&o, &base, "quyttam", &id));
    let xml = text(&anon, format!("{base}/opds/search?q=quyttam"));
    assert!(xml.contains("Quyttam"), "{xml}");
    let (code, _) = decide(&h, &base, &id, json!({"accept": true}));
    assert_eq!(code, 409, "decided once");

    // Returned with a reason: back with the owner only, the reason shown to her.
    let item = share(&t, &base, "Phiếu bài tập Quyttam hai", "school");
    let back = item["id"].as_str().unwrap().to_string();
    let (code, _) = decide(&h, &base, &back, json!({"accept": false, "reason": "  "}));
    assert_eq!(code, 422, "a return needs its reason");
    let (code, v) = decide(
        &h,
        &base,
        &back,
        json!({"accept": false, "reason": "Thiếu đáp án phần tự luận"}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["item"]["review"]["state"], "returned");
    assert!(!found(&o, &base, "quyttam", &back));
    assert_eq!(
        h.get(format!("{base}/api/v1/library/items/{back}"))
            .send()
            .unwrap()
            .status(),
        404,
        "a returned item is its owner's only"
    );
    let page = text(&t, format!("{base}/library/item/{back}"));
    assert!(page.contains("Thiếu đáp án phần tự luận"), "{page}");
    assert!(page.contains("trả lại"), "{page}");

    // Shared with the district: the head's acceptance opens it to the school, not the relay.
    let item = share(&t, &base, "Chuyên đề Quyttam ba", "district");
    let up = item["id"].as_str().unwrap().to_string();
    let (code, v) = decide(&h, &base, &up, json!({"accept": true}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["item"]["review"]["state"], "school");
    assert!(found(&o, &base, "quyttam", &up));
    let (code, v) = decide(&h, &base, &up, json!({"accept": true}));
    assert_eq!(code, 403, "the district's level is BGH's: {v}");
    srv.stop();
    assert!(!outbox_has(dir.path(), &up), "relayed before BGH accepted");
    let mut srv = Server::start(dir.path(), false);
    let base = srv.base();
    let bgh = srv.login(&principal[0]);
    assert!(queue_ids(&bgh, &base).contains(&up));
    let (code, v) = decide(&bgh, &base, &up, json!({"accept": true}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["item"]["review"]["state"], "accepted");
    srv.stop();
    assert!(outbox_has(dir.path(), &up), "relayed once BGH accepted");

    // Every decision is in the audit chain, as its reviewer's.
    let store = tram::store::Store::open(dir.path(), &tram::app::schema::schema()).unwrap();
    let events = store.audit_tail(500).unwrap();
    let has = |action: &str, target: &str, actor: &str| {
        events
            .iter()
            .any(|e| e.action == action && e.target == target && e.actor == actor)
    };
    assert!(has("library.vet.accept", &id, &head[1]));
    assert!(has("library.vet.return", &back, &head[1]));
    assert!(has("library.vet.accept", &up, &principal[1]));
    assert!(store.verify_audit().unwrap().is_intact());
}

#[test]
fn a_department_heads_own_item_is_accepted_as_shared_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path(), false);
    let base = srv.base();
    let admin = srv.login("admin");
    let head = accounts_with(&admin, &base, &["dept_head", "teacher"])[0].clone();
    let other = accounts_with(&admin, &base, &["teacher"])
        .into_iter()
        .find(|t| t[2] != head[2])
        .unwrap();
    let h = srv.login(&head[0]);
    let item = share(&h, &base, "Tài liệu Quyttam của tổ trưởng", "school");
    let id = item["id"].as_str().unwrap().to_string();
    assert_eq!(item["review"]["state"], "accepted", "{item}");
    assert!(found(&srv.login(&other[0]), &base, "quyttam", &id));
    // Shared with the district by the head: still waits for BGH.
    let item = share(&h, &base, "Tài liệu Quyttam gửi Phòng", "district");
    assert_eq!(item["review"]["state"], "school", "{item}");
    srv.stop();
    let store = tram::store::Store::open(dir.path(), &tram::app::schema::schema()).unwrap();
    assert!(
        store
            .audit_tail(200)
            .unwrap()
            .iter()
            .any(|e| e.action == "library.vet.auto" && e.target == id && e.actor == head[1])
    );
}

/// A school from before vetting (the schema-4 fixture): its items stay visible as they were,
/// marked "chưa thẩm định", and BGH finds them in the review queue.
#[test]
fn items_shared_before_vetting_stay_visible_marked_not_yet_vetted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let f = std::fs::File::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/schema4-demo.tar.zst"
    ))
    .unwrap();
    tar::Archive::new(zstd::Decoder::new(f).unwrap())
        .unpack(&data)
        .unwrap();
    let srv = Server::start(&data, false);
    let base = srv.base();
    let teacher = srv.login("gv02");
    let r: Value = teacher
        .get(format!("{base}/api/v1/library/search?limit=200"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = r["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{r}");
    for i in items {
        assert_eq!(i["review"]["state"], "unvetted", "{i}");
    }
    let item = items
        .iter()
        .find(|i| i["file"].is_object() && i["visibility"] == "school")
        .expect("a school item with a file");
    let id = item["id"].as_str().unwrap().to_string();
    let title = item["title"].as_str().unwrap().to_string();
    let page = text(&teacher, format!("{base}/library/item/{id}"));
    assert!(page.contains("chưa thẩm định"), "{page}");
    let anon = srv.client();
    let feed = text(&anon, format!("{base}/opds/new"));
    assert!(
        feed.contains(&format!("urn:tram:item:{id}")),
        "{title} left the open catalogue: {feed}"
    );
    let bgh = srv.login("hieutruong");
    assert!(queue_ids(&bgh, &base).contains(&id), "BGH's queue");
    let (code, v) = decide(&bgh, &base, &id, json!({"accept": true}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["item"]["review"]["state"], "accepted");
    assert!(!queue_ids(&bgh, &base).contains(&id));
}
