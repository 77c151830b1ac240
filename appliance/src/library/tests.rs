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
    // The teachers-only question banks: hidden from an anonymous e-reader.
    let qb = Query {
        q: "ngan hang cau hoi".into(),
        ..Default::default()
    };
    assert_eq!(search(&rx, Some(&f.teacher), &qb).unwrap().total, 3);
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
