//! Library storage tests on a real redb file with the demo school and its catalogue.

use super::*;
use crate::store::{Actor, Store};

struct F {
    _dir: tempfile::TempDir,
    store: Store,
    admin: Principal,
    teacher: Principal,
    other: Principal,
}

fn who(store: &Store, username: &str) -> Principal {
    crate::school::principal_by_username(&store.read().unwrap(), username)
        .unwrap()
        .unwrap()
}

fn fixture() -> F {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
    crate::demo::seed(&store, "x", 40, jiff::Timestamp::now()).unwrap();
    F {
        admin: who(&store, "admin"),
        teacher: who(&store, "gv01"),
        other: who(&store, "gv02"),
        _dir: dir,
        store,
    }
}

fn actor() -> Actor {
    Actor::system(jiff::Timestamp::now())
}

fn titles(store: &Store, p: Option<&Principal>, q: &str) -> Vec<String> {
    let query = Query {
        q: q.into(),
        ..Default::default()
    };
    search(&store.read().unwrap(), p, &query)
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.title)
        .collect()
}

fn input(title: &str) -> ItemInput {
    ItemInput {
        kind: Some(ItemKind::Book),
        title: Some(title.into()),
        ..Default::default()
    }
}

#[test]
fn search_ignores_diacritics_and_case_and_matches_the_last_word_as_a_prefix() {
    let f = fixture();
    let p = Some(&f.teacher);
    let ngu_van_6 = vec!["Ngữ văn 6, tập một — Kết nối tri thức với cuộc sống"];
    assert_eq!(titles(&f.store, p, "ngu van 6"), ngu_van_6);
    assert_eq!(titles(&f.store, p, "NGỮ VĂN 6"), ngu_van_6);
    assert_eq!(titles(&f.store, p, "ngu van 6 tap mo"), ngu_van_6);
    assert_eq!(
        titles(&f.store, p, "global success"),
        vec!["Tiếng Anh 9 — Global Success (sách học sinh)"]
    );
    // Authors are searchable too, but title matches rank first.
    f.store
        .write(&actor(), |tx| {
            let mut i = input("Tuyển tập thơ");
            i.authors = vec!["Nguyễn Khoa Điềm".into()];
            save_item(tx, &f.admin, None, i, None, None)
        })
        .unwrap();
    f.store
        .write(&actor(), |tx| {
            save_item(tx, &f.admin, None, input("Thơ Điềm"), None, None)
        })
        .unwrap();
    let t = titles(&f.store, p, "diem");
    assert_eq!(t[0], "Thơ Điềm", "title match first: {t:?}");
    assert!(t.contains(&"Tuyển tập thơ".to_string()));
    assert!(titles(&f.store, p, "khong co gi").is_empty());
}

#[test]
fn filters_and_visibility() {
    let f = fixture();
    let q = |subject: Option<&str>, grade: Option<u8>, kind: Option<ItemKind>| Query {
        subject: subject.map(str::to_string),
        grade,
        kind,
        ..Default::default()
    };
    let rx = f.store.read().unwrap();
    // Ngữ văn 6 (e-book), Ngữ văn 7 and the teacher guide of Ngữ văn 9.
    let hits = search(&rx, Some(&f.teacher), &q(Some("ngu-van"), None, None)).unwrap();
    assert_eq!(hits.total, 3);
    let hits = search(
        &rx,
        Some(&f.teacher),
        &q(None, Some(6), Some(ItemKind::Book)),
    )
    .unwrap();
    let mut grade_6: Vec<&str> = hits.items.iter().map(|i| i.title.as_str()).collect();
    grade_6.sort_unstable();
    assert_eq!(
        grade_6,
        [
            "Công nghệ 6 — Kết nối tri thức với cuộc sống",
            "Khoa học tự nhiên 6 — Kết nối tri thức với cuộc sống",
            "Mĩ thuật 6 — Chân trời sáng tạo",
            "Toán 6, tập một — Kết nối tri thức với cuộc sống",
        ]
    );
    // The teachers-only question banks: hidden from an anonymous e-reader. Of the demo's three,
    // one is accepted, one waits for the head of Ngoại ngữ (BGH sees it too, gv01 does not) and
    // one went back to its Toán author (she alone sees it).
    let qb = Query {
        q: "ngan hang cau hoi".into(),
        ..Default::default()
    };
    assert_eq!(search(&rx, Some(&f.teacher), &qb).unwrap().total, 1);
    let principal = who(&f.store, "hieutruong");
    assert_eq!(search(&rx, Some(&principal), &qb).unwrap().total, 2);
    assert_eq!(search(&rx, None, &qb).unwrap().total, 0);
}

#[test]
fn the_index_follows_edits_and_deletes_in_the_same_transaction() {
    let f = fixture();
    let item = f
        .store
        .write(&actor(), |tx| {
            save_item(tx, &f.teacher, None, input("Vật lí vui"), None, None)
        })
        .unwrap();
    assert_eq!(
        titles(&f.store, Some(&f.teacher), "vat li"),
        vec!["Vật lí vui"]
    );
    let rename = ItemInput {
        title: Some("Hoá học quanh ta".into()),
        ..Default::default()
    };
    f.store
        .write(&actor(), |tx| {
            save_item(tx, &f.teacher, Some(&item.id), rename, None, None)
        })
        .unwrap();
    assert!(titles(&f.store, Some(&f.teacher), "vat li").is_empty());
    assert_eq!(
        titles(&f.store, Some(&f.teacher), "hoa hoc"),
        vec!["Hoá học quanh ta"]
    );
    // Another teacher may not edit or delete it; its owner may.
    let e = f
        .store
        .write(&actor(), |tx| delete_item(tx, &f.other, &item.id))
        .unwrap_err();
    assert!(matches!(e, LibraryError::Forbidden));
    f.store
        .write(&actor(), |tx| delete_item(tx, &f.teacher, &item.id))
        .unwrap();
    assert!(titles(&f.store, Some(&f.teacher), "hoa hoc").is_empty());
    let left: Vec<String> = f
        .store
        .read()
        .unwrap()
        .scan(&INDEX, "")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with(&item.id))
        .collect();
    assert!(
        left.is_empty(),
        "no index entry outlives its item: {left:?}"
    );
}

#[test]
fn isbns_are_checked_and_unique() {
    let f = fixture();
    assert_eq!(normalize_isbn("978-604-0-00000-?"), None);
    assert!(normalize_isbn("978-0-306-40615-7").is_some());
    assert!(normalize_isbn("978-0-306-40615-8").is_none());
    assert!(normalize_isbn("0-306-40615-2").is_some());
    let mut a = input("Sách A");
    a.isbn = Some("978-0-306-40615-7".into());
    f.store
        .write(&actor(), |tx| {
            save_item(tx, &f.admin, None, a.clone(), None, None)
        })
        .unwrap();
    let mut b = input("Sách B");
    b.isbn = Some("9780306406157".into());
    let e = f
        .store
        .write(&actor(), |tx| save_item(tx, &f.admin, None, b, None, None))
        .unwrap_err();
    assert!(matches!(e, LibraryError::DuplicateIsbn { .. }), "{e}");
    assert!(e.to_string().contains("Sách A"));
    assert!(
        !titles(&f.store, Some(&f.admin), "sach b").contains(&"Sách B".to_string()),
        "nothing stored"
    );
    let mut bad = input("Sách C");
    bad.isbn = Some("12345".into());
    assert!(matches!(
        f.store.write(&actor(), |tx| save_item(
            tx, &f.admin, None, bad, None, None
        )),
        Err(LibraryError::Invalid(_))
    ));
}

#[test]
fn district_sharing_goes_through_the_outbox_once_bgh_accepted_it() {
    let f = fixture();
    let before = f.store.outbox(0, 100_000).unwrap().len();
    let mut i = input("Tài liệu chia sẻ");
    i.visibility = Some(Visibility::District);
    // The admin's own catalogue is the school's, but the district's level is BGH's.
    let item = f
        .store
        .write(&actor(), |tx| save_item(tx, &f.admin, None, i, None, None))
        .unwrap();
    assert_eq!(item.review.state, ReviewState::School);
    assert_eq!(f.store.outbox(0, 100_000).unwrap().len(), before);
    let principal = who(&f.store, "hieutruong");
    let accept = vetting::Decision {
        accept: true,
        reason: None,
    };
    f.store
        .write(&actor(), |tx| {
            vetting::decide(tx, &principal, &item.id, accept)
        })
        .unwrap();
    let out = f.store.outbox(0, 100_000).unwrap();
    assert_eq!(out.len(), before + 1);
    assert_eq!(out.last().unwrap().kind, "library_item");
    // Back to school-only: the district is told it is withdrawn.
    let back = ItemInput {
        visibility: Some(Visibility::School),
        ..Default::default()
    };
    f.store
        .write(&actor(), |tx| {
            save_item(tx, &f.admin, Some(&item.id), back, None, None)
        })
        .unwrap();
    let out = f.store.outbox(0, 100_000).unwrap();
    assert_eq!(out.last().unwrap().op, "delete");
}

#[test]
fn paper_books_are_lent_returned_and_overdue_listed() {
    let f = fixture();
    let rx = f.store.read().unwrap();
    let student = rx.scan(&crate::school::STUDENTS, "").unwrap()[0].0.clone();
    drop(rx);
    let today = jiff::Timestamp::now()
        .to_zoned(crate::school::time_zone())
        .date();
    let book = "li-demo01"; // Toán 6, tập một, 5 copies
    let mut loans_made = vec![];
    for _ in 0..5 {
        loans_made.push(
            f.store
                .write(&actor(), |tx| lend(tx, &f.admin, book, &student, today))
                .unwrap(),
        );
    }
    let e = f
        .store
        .write(&actor(), |tx| lend(tx, &f.admin, book, &student, today))
        .unwrap_err();
    assert!(matches!(e, LibraryError::NoCopies(_)));
    assert!(matches!(
        f.store
            .write(&actor(), |tx| lend(tx, &f.teacher, book, &student, today)),
        Err(LibraryError::Forbidden)
    ));
    f.store
        .write(&actor(), |tx| give_back(tx, &f.admin, &loans_made[0].id))
        .unwrap();
    assert!(
        f.store
            .write(&actor(), |tx| give_back(tx, &f.admin, &loans_made[0].id))
            .is_err(),
        "returned twice"
    );
    let tomorrow = today.tomorrow().unwrap();
    let rx = f.store.read().unwrap();
    assert_eq!(loans(&rx, tomorrow, true, None).unwrap().len(), 4);
    assert_eq!(loans(&rx, today, false, Some(&student)).unwrap().len(), 5);
}

#[test]
fn file_types_are_judged_by_content() {
    assert_eq!(upload::sniff(b"%PDF-1.7\n"), Some("application/pdf"));
    assert_eq!(upload::sniff(b"\x7fELF\x02\x01"), Some("executable"));
    assert_eq!(upload::sniff(b"MZ\x90\x00"), Some("executable"));
    assert_eq!(upload::sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
    assert_eq!(
        upload::sniff("Câu 1. …".as_bytes()),
        Some("text/plain; charset=utf-8")
    );
    for bad in [
        "../etc/passwd.pdf",
        "a/b.pdf",
        ".hidden.pdf",
        "virus.exe",
        "",
        "x.pdf\0",
    ] {
        assert!(upload::check_name(bad).is_err(), "{bad:?} accepted");
    }
    assert!(upload::check_name("Tiếng Việt 6.pdf").is_ok());
}

#[test]
fn uploads_resume_refuse_out_of_order_chunks_and_store_identical_files_once() {
    let f = fixture();
    let pdf: Vec<u8> = [&b"%PDF-1.4\n"[..], &vec![b'x'; 300_000][..]].concat();
    let s = upload::start(&f.store, "u1", "bai-giang.pdf", pdf.len() as u64, None).unwrap();
    let (_, off) = upload::append(&f.store, "u1", &s.id, 0, &pdf[..100_000]).unwrap();
    assert_eq!(off, 100_000);
    // A chunk out of order: refused with the offset the server has, nothing appended.
    let e = upload::append(&f.store, "u1", &s.id, 200_000, &pdf[200_000..]).unwrap_err();
    assert!(matches!(e, LibraryError::OutOfOrder(100_000)));
    // Not finished yet: an item cannot take it.
    assert!(matches!(
        upload::take(&f.store, "u1", &s.id),
        Err(LibraryError::Upload(_))
    ));
    // Another user cannot see or continue it.
    assert!(upload::status(&f.store, "u2", &s.id).is_err());
    // Resume (as after a dropped connection): ask, then continue.
    let (_, have) = upload::status(&f.store, "u1", &s.id).unwrap();
    let (sess, off) = upload::append(&f.store, "u1", &s.id, have, &pdf[100_000..]).unwrap();
    assert_eq!(off, pdf.len() as u64);
    let file = sess.done.unwrap();
    assert_eq!(file.mime, "application/pdf");
    assert_eq!(file.blob, blake3::hash(&pdf).to_hex().to_string());
    // The same file again is the same blob.
    let s2 = upload::start(&f.store, "u1", "ban-sao.pdf", pdf.len() as u64, None).unwrap();
    let (sess2, _) = upload::append(&f.store, "u1", &s2.id, 0, &pdf).unwrap();
    assert_eq!(sess2.done.unwrap().blob, file.blob);
    // Zero bytes, over quota, an executable named .pdf: refused, nothing stored.
    assert!(upload::start(&f.store, "u1", "rong.pdf", 0, None).is_err());
    let q = |limit| {
        Some(upload::Quota {
            limit,
            stored: 1_000,
        })
    };
    assert!(upload::start(&f.store, "u1", "lon.pdf", 5_000, q(5_000)).is_err());
    // Open uploads hold their room: two of 3 000 bytes do not fit into 6 000 with 1 000 stored.
    let open = upload::start(&f.store, "u9", "mot.pdf", 3_000, q(6_000)).unwrap();
    assert!(upload::start(&f.store, "u9", "hai.pdf", 3_000, q(6_000)).is_err());
    upload::remove(&f.store, &open.id);
    assert!(upload::start(&f.store, "u9", "hai.pdf", 3_000, q(6_000)).is_ok());
    let blobs_before = f.store.blobs.list().unwrap().len();
    let exe = b"\x7fELF\x02\x01\x01\0rest of a program";
    let s3 = upload::start(&f.store, "u1", "de-thi.pdf", exe.len() as u64, None).unwrap();
    let e = upload::append(&f.store, "u1", &s3.id, 0, exe).unwrap_err();
    assert!(e.to_string().contains("chương trình"), "{e}");
    assert_eq!(f.store.blobs.list().unwrap().len(), blobs_before);
    // A file longer than declared.
    let s4 = upload::start(&f.store, "u1", "ngan.txt", 3, None).unwrap();
    assert!(upload::append(&f.store, "u1", &s4.id, 0, b"abcd").is_err());
}

fn sheet(rows: &[[&str; 6]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Tệp", "Tên tài liệu", "Loại", "Môn", "Khối", "ISBN"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

#[test]
fn bulk_import_checks_every_row_and_imports_all_or_nothing() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hinh-hoc-7.pdf"), b"%PDF-1.4\nhinh hoc").unwrap();
    std::fs::write(dir.path().join("virus.pdf"), b"MZ\x90\0\x03 a program").unwrap();
    std::fs::write(dir.path().join("rong.pdf"), b"").unwrap();
    let isbn = "978-0-306-40615-7";
    let bad = sheet(&[
        [
            "hinh-hoc-7.pdf",
            "Hình học 7",
            "Sách điện tử",
            "Toán",
            "7",
            "",
        ],
        ["virus.pdf", "Đề thi", "Sách điện tử", "", "", ""],
        ["rong.pdf", "Rỗng", "", "", "", ""],
        ["../../etc/passwd", "Mật khẩu", "", "", "", ""],
        ["khong-co.pdf", "Không có tệp", "", "", "", ""],
        ["", "Sách giấy A", "Sách", "Môn lạ", "13", isbn],
        ["", "Sách giấy B", "Sách", "", "", isbn],
    ]);
    let plan = import::plan(&f.store.read().unwrap(), dir.path(), &bad).unwrap();
    let rows: Vec<usize> = plan.problems.iter().map(|p| p.row).collect();
    for r in [3, 4, 5, 6, 7, 8] {
        assert!(
            rows.contains(&r),
            "row {r} not reported: {:?}",
            plan.problems
        );
    }
    assert!(
        !rows.contains(&2),
        "the good row is fine: {:?}",
        plan.problems
    );
    let before = f.store.read().unwrap().count(&ITEMS).unwrap();
    assert!(import::apply(&f.store, &f.admin, plan).is_err());
    assert_eq!(
        f.store.read().unwrap().count(&ITEMS).unwrap(),
        before,
        "nothing imported"
    );

    let good = sheet(&[
        [
            "hinh-hoc-7.pdf",
            "Hình học 7",
            "Sách điện tử",
            "Toán",
            "7",
            "",
        ],
        ["", "Sách giấy A", "Sách", "", "", isbn],
    ]);
    let plan = import::plan(&f.store.read().unwrap(), dir.path(), &good).unwrap();
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(import::apply(&f.store, &f.admin, plan).unwrap(), 2);
    let hits = titles(&f.store, Some(&f.teacher), "hinh hoc 7");
    assert_eq!(hits, vec!["Hình học 7"]);
    let rx = f.store.read().unwrap();
    let item = search(
        &rx,
        Some(&f.teacher),
        &Query {
            q: "hinh hoc".into(),
            subject: Some("toan".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .items
    .remove(0);
    assert_eq!(item.file.unwrap().mime, "application/pdf");
}

fn ids(store: &Store, p: Option<&Principal>) -> Vec<String> {
    let q = Query {
        limit: Some(200),
        ..Default::default()
    };
    search(&store.read().unwrap(), p, &q)
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.id)
        .collect()
}

fn decide_as(f: &F, p: &Principal, id: &str, accept: bool) -> Result<Item, LibraryError> {
    let d = vetting::Decision {
        accept,
        reason: (!accept).then(|| "Thiếu đáp án".to_string()),
    };
    f.store.write(&actor(), |tx| vetting::decide(tx, p, id, d))
}

/// Issue 25 item 2: a teacher fixing her accepted item's description keeps it where it was; a
/// new file sends it back to her tổ trưởng, hidden from the school meanwhile.
#[test]
fn an_edit_of_the_entry_keeps_acceptance_and_a_new_file_is_vetted_again() {
    let f = fixture();
    // gv02 teaches in gv01's tổ; gv01 is its head.
    let item = f
        .store
        .write(&actor(), |tx| {
            save_item(
                tx,
                &f.other,
                None,
                input("Đề cương ôn tập KHTN 8"),
                None,
                None,
            )
        })
        .unwrap();
    assert_eq!(item.review.state, ReviewState::Waiting);
    assert!(vetting::may_decide(&f.teacher, &item));
    assert!(!vetting::may_decide(&f.other, &item), "not her own");
    let item = decide_as(&f, &f.teacher, &item.id, true).unwrap();
    assert_eq!(item.review.state, ReviewState::Accepted);
    assert!(!vetting::may_decide(&f.teacher, &item), "decided");
    assert!(ids(&f.store, None).contains(&item.id));

    let typo = ItemInput {
        title: Some("Đề cương ôn tập Khoa học tự nhiên 8".into()),
        description: Some("Sửa lỗi chính tả.".into()),
        ..Default::default()
    };
    let edited = f
        .store
        .write(&actor(), |tx| {
            save_item(tx, &f.other, Some(&item.id), typo, None, None)
        })
        .unwrap();
    assert_eq!(edited.review.state, ReviewState::Accepted);
    assert_eq!(
        edited.review.by.as_deref(),
        Some(f.teacher.id()),
        "the head's acceptance"
    );
    assert!(
        ids(&f.store, None).contains(&item.id),
        "still seen by the school"
    );

    // Widening to the district asks BGH, though the school keeps seeing it.
    let wider = ItemInput {
        visibility: Some(Visibility::District),
        ..Default::default()
    };
    let widened = f
        .store
        .write(&actor(), |tx| {
            save_item(tx, &f.other, Some(&item.id), wider, None, None)
        })
        .unwrap();
    assert_eq!(widened.review.state, ReviewState::School);
    assert!(!widened.shared_by_school(), "not relayed before BGH");
    let back = ItemInput {
        visibility: Some(Visibility::School),
        ..Default::default()
    };
    f.store
        .write(&actor(), |tx| {
            save_item(tx, &f.other, Some(&item.id), back, None, None)
        })
        .unwrap();

    // A new file is new content: back to the head, hidden from others until decided.
    let (blob, size) = f.store.blobs.put(&b"noi dung moi"[..]).unwrap();
    let file = FileRef {
        blob,
        size,
        mime: "text/plain; charset=utf-8".into(),
        name: "de-cuong.txt".into(),
    };
    let refiled = f
        .store
        .write(&actor(), |tx| {
            save_item(
                tx,
                &f.other,
                Some(&item.id),
                ItemInput::default(),
                Some(file),
                None,
            )
        })
        .unwrap();
    assert_eq!(refiled.review.state, ReviewState::Waiting);
    let third = who(&f.store, "gv03");
    let principal = who(&f.store, "hieutruong");
    assert!(!ids(&f.store, None).contains(&item.id), "anonymous");
    assert!(
        !ids(&f.store, Some(&third)).contains(&item.id),
        "a colleague"
    );
    assert!(
        ids(&f.store, Some(&f.other)).contains(&item.id),
        "its owner"
    );
    assert!(
        ids(&f.store, Some(&f.teacher)).contains(&item.id),
        "its head"
    );
    assert!(ids(&f.store, Some(&principal)).contains(&item.id), "BGH");

    // Returned: its owner alone sees it (the index says so, no item read).
    decide_as(&f, &f.teacher, &item.id, false).unwrap();
    assert!(
        ids(&f.store, Some(&f.other)).contains(&item.id),
        "its owner"
    );
    assert!(
        !ids(&f.store, Some(&f.teacher)).contains(&item.id),
        "its head"
    );
    assert!(!ids(&f.store, Some(&third)).contains(&item.id));
}

/// Issue 25 item 3: the demo's catalogue shows vetting as a school lives it.
#[test]
fn the_demo_catalogue_shows_accepted_waiting_and_returned_items() {
    let f = fixture();
    let rx = f.store.read().unwrap();
    let all: Vec<Item> = rx
        .scan(&ITEMS, "")
        .unwrap()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let count = |s: ReviewState| all.iter().filter(|i| i.review.state == s).count();
    assert_eq!(count(ReviewState::Unvetted), 0);
    assert_eq!(count(ReviewState::Waiting), 2);
    assert_eq!(count(ReviewState::Returned), 1);
    assert!(count(ReviewState::Accepted) >= all.len() - 3);
    let returned = all
        .iter()
        .find(|i| i.review.state == ReviewState::Returned)
        .unwrap();
    assert!(
        returned
            .review
            .reason
            .as_deref()
            .is_some_and(|r| !r.is_empty())
    );
    // gv01, head of Khoa học tự nhiên – Công nghệ, has one item waiting for her.
    let mine = vetting::queue(&rx, &f.teacher).unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(mine[0].title.contains("Sự nở vì nhiệt"));
    // The guide shared with the district was accepted by the principal and is relayed.
    let principal = who(&f.store, "hieutruong");
    let shared: Vec<Item> = rx
        .scan(&SHARED, "")
        .unwrap()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].review.by.as_deref(), Some(principal.id()));
}

/// Issue 25 item 1: the district's decision, sent down, is kept on the item, audited, and read
/// against the item as it is now.
#[test]
fn the_district_decision_is_kept_on_the_item_and_a_change_makes_it_an_earlier_versions() {
    let f = fixture();
    let rx = f.store.read().unwrap();
    let item = rx.scan(&SHARED, "").unwrap().remove(0).1;
    drop(rx);
    let decision = vetting::DistrictReview {
        approved: false,
        reason: Some("Trùng tài liệu của Phòng".into()),
        at: "2026-11-02T03:00:00Z".into(),
        digest: vetting::content_digest(&item),
    };
    f.store
        .write(&actor(), |tx| {
            vetting::record_district(tx, &item.id, decision)
        })
        .unwrap();
    let now = f
        .store
        .read()
        .unwrap()
        .get(&ITEMS, &item.id)
        .unwrap()
        .unwrap();
    assert_eq!(vetting::badge(&now), "Phòng trả lại");
    assert!(vetting::district_note(&now).contains("Trùng tài liệu của Phòng"));
    assert_eq!(
        vetting::content_digest(&now),
        vetting::content_digest(&item),
        "the decision is not part of what is reviewed"
    );
    // The principal edits the description: the district's refusal was of the earlier version.
    let edit = ItemInput {
        description: Some("Bản đã sửa theo góp ý của Phòng.".into()),
        ..Default::default()
    };
    let principal = who(&f.store, "hieutruong");
    let edited = f
        .store
        .write(&actor(), |tx| {
            save_item(tx, &principal, Some(&item.id), edit, None, None)
        })
        .unwrap();
    assert!(vetting::district_decision(&edited).is_none());
    assert!(vetting::district_note(&edited).contains("bản sửa chờ Phòng duyệt lại"));
    assert_eq!(vetting::badge(&edited), "đã thẩm định");
}

/// Review r21 #5: a kind filter takes its code or its Vietnamese name; one that names nothing
/// is refused listing the kinds by their Vietnamese names, never the codes.
#[test]
fn a_kind_filter_is_read_by_code_or_vietnamese_name() {
    let q =
        |kind: &str| serde_json::from_value::<super::Query>(serde_json::json!({ "kind": kind }));
    assert_eq!(q("ebook").unwrap().kind, Some(super::ItemKind::Ebook));
    assert_eq!(
        q("sách điện tử").unwrap().kind,
        Some(super::ItemKind::Ebook)
    );
    assert_eq!(q(" ").unwrap().kind, None);
    let why = q("xyz").unwrap_err().to_string();
    assert!(
        why.starts_with(crate::text::VI_REASON)
            && why.contains(
                "không có loại tài liệu “xyz”; chọn một trong: Sách, Sách điện tử, Video"
            ),
        "{why}"
    );
    for code in ["book", "ebook", "question_bank", "lesson_plan"] {
        assert!(!why.contains(code), "{why}");
    }
}
