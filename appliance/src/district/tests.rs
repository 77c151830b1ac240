//! Hub storage on a real redb file: enrolment tokens, exactly-once batches, statistics.

use super::*;
use crate::relay::batch;
use ed25519_dalek::SigningKey;

fn hub() -> (tempfile::TempDir, RedbHub) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), &crate::app::schema::schema()).unwrap());
    (dir, RedbHub { store })
}

fn entries(from: u64, n: u64, kind: &str) -> Vec<OutboxEntry> {
    (from..from + n)
        .map(|seq| OutboxEntry {
            seq,
            kind: kind.into(),
            key: format!("k{}", seq % 7),
            op: "update".into(),
            record: Some(serde_json::json!({"id": format!("c{}", seq % 7), "grade": 6, "v": seq})),
            at: "t".into(),
        })
        .collect()
}

#[test]
fn a_token_enrols_once_and_batches_are_stored_exactly_once_in_order() {
    let (_d, h) = hub();
    exactly_once_in_order(&h);
}

#[test]
fn an_expired_token_enrols_nothing_and_a_reenrolment_is_recorded() {
    let (_d, h) = hub();
    tokens_expire_and_reenrolments_are_recorded(&h);
}

/// For every storage (pg.rs runs it on PostgreSQL): a token past its validity is refused with
/// the date it expired and enrols nothing; a school enrolled again keeps its first enrolment
/// date and records when it came back.
pub(super) fn tokens_expire_and_reenrolments_are_recorded(h: &dyn HubStorage) {
    let pk = |n: u8| hex::encode(SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes());
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let old = h.issue_token_until("79000801", "THCS A", past).unwrap();
    match h.enrol(&old, &pk(7)) {
        Err(e @ HubError::TokenExpired(_)) => {
            assert!(e.to_string().contains("expired on"), "{e}")
        }
        other => panic!("an expired token: {other:?}"),
    }
    assert!(h.school("79000801").unwrap().is_none(), "nothing enrolled");
    let token = h.issue_token("79000801", "THCS A").unwrap();
    let (first, _) = h.enrol(&token, &pk(7)).unwrap();
    assert_eq!(first.reenrolled_at, None);
    let token = h.issue_token("79000801", "THCS A").unwrap();
    let (again, _) = h.enrol(&token, &pk(8)).unwrap();
    assert_eq!(again.enrolled_at, first.enrolled_at);
    assert!(again.reenrolled_at.is_some(), "{again:?}");
    assert_eq!(
        h.school("79000801").unwrap().unwrap().reenrolled_at,
        again.reenrolled_at
    );
}

/// The storage's guarantees, for every implementation (pg.rs runs it on PostgreSQL).
pub(super) fn exactly_once_in_order(h: &dyn HubStorage) {
    let key = SigningKey::from_bytes(&[3; 32]);
    let pk = hex::encode(key.verifying_key().to_bytes());
    // A newer token for the school cancels the older unused one (review r7: a stale token
    // enrolled an attacker's key over the working box); another school's token is untouched.
    let stale = h.issue_token("79000701", "THCS Nguyễn Du").unwrap();
    let other = h.issue_token("79000702", "THCS Lê Lợi").unwrap();
    let token = h.issue_token("79000701", "THCS Nguyễn Du").unwrap();
    assert!(matches!(h.enrol(&stale, &pk), Err(HubError::BadToken)));
    let other_key = SigningKey::from_bytes(&[4; 32]);
    h.enrol(&other, &hex::encode(other_key.verifying_key().to_bytes()))
        .expect("another school's token still enrols");
    assert!(matches!(h.enrol("nope", &pk), Err(HubError::BadToken)));
    assert!(matches!(h.enrol(&token, "zz"), Err(HubError::BadKey)));
    let (s, secret) = h.enrol(&token, &pk).unwrap();
    assert_eq!((s.code.as_str(), s.last_seq), ("79000701", 0));
    assert_eq!(secret_hash(&secret), s.secret_hash);
    assert!(
        matches!(h.enrol(&token, &pk), Err(HubError::BadToken)),
        "used once"
    );

    let b1 = batch::build(&key, "79000701", 1, &entries(1, 20, "class"), 5, "t");
    let b2 = batch::build(&key, "79000701", 2, &entries(21, 20, "class"), 0, "t");
    assert!(matches!(
        accept(h, "79000701", 2, &b2),
        Err(HubError::Gap {
            expected: 1,
            got: 2
        })
    ));
    let r1 = accept(h, "79000701", 1, &b1).unwrap();
    assert_eq!(
        accept(h, "79000701", 1, &b1).unwrap(),
        r1,
        "a repeat: same receipt"
    );
    let fork = batch::build(&key, "79000701", 1, &entries(1, 3, "class"), 0, "t2");
    assert!(matches!(
        accept(h, "79000701", 1, &fork),
        Err(HubError::Conflict(1))
    ));
    assert!(matches!(
        accept(h, "79000701", 3, &b2),
        Err(HubError::Mismatch(..))
    ));
    accept(h, "79000701", 2, &b2).unwrap();
    let s = h.school("79000701").unwrap().unwrap();
    assert_eq!(
        (s.last_seq, s.last_outbox, s.records, s.batches),
        (2, 40, 40, 2)
    );
    // Records keep the newest version of each key (7 keys).
    let mut n = 0;
    let mut newest = 0;
    h.each_record("class", &mut |_, r| {
        n += 1;
        newest = newest.max(r["v"].as_u64().unwrap());
    })
    .unwrap();
    assert_eq!((n, newest), (7, 40));
    // One school's share is a key range of its own (the reports' per-school parts).
    let (mut mine, mut others) = (0, 0);
    h.each_record_of("79000701", "class", &mut |_| mine += 1)
        .unwrap();
    h.each_record_of("79000702", "class", &mut |_| others += 1)
        .unwrap();
    h.each_record_of("79000701", "student", &mut |_| others += 1)
        .unwrap();
    assert_eq!((mine, others), (7, 0));
    // A replaced box re-enrols with a new token and continues the sequence.
    let token = h.issue_token("79000701", "").unwrap();
    let key2 = SigningKey::from_bytes(&[4; 32]);
    let (s, _) = h
        .enrol(&token, &hex::encode(key2.verifying_key().to_bytes()))
        .unwrap();
    assert_eq!(s.last_seq, 2);
    let b3 = batch::build(&key, "79000701", 3, &entries(41, 1, "class"), 0, "t");
    assert!(
        matches!(accept(h, "79000701", 3, &b3), Err(HubError::Batch(_))),
        "old key"
    );
}

/// The staff page warns about a school silent for more than the setting's days, and only then.
#[test]
fn a_school_silent_longer_than_the_setting_is_flagged() {
    let (_d, h) = hub();
    let key = SigningKey::from_bytes(&[5; 32]);
    let token = h.issue_token("79000701", "THCS Nguyễn Du").unwrap();
    h.enrol(&token, &hex::encode(key.verifying_key().to_bytes()))
        .unwrap();
    let b1 = batch::build(&key, "79000701", 1, &entries(1, 3, "class"), 0, "t");
    accept(&h, "79000701", 1, &b1).unwrap();
    let names = std::collections::BTreeMap::new();
    let f = reports::Filter::default();
    let day = jiff::SignedDuration::from_hours(24);
    let at = |days: i32| jiff::Timestamp::now() + day * days;
    let contact = |r: &reports::Reports| r.tables.last().unwrap().rows[0][9].shown();
    let r = reports::reports(&h, &Default::default(), &f, 7, &names, at(6)).unwrap();
    assert!(r.silent.is_empty(), "{:?}", r.silent);
    assert_eq!(contact(&r), "");
    let r = reports::reports(&h, &Default::default(), &f, 7, &names, at(9)).unwrap();
    assert_eq!(r.silent.len(), 1);
    assert_eq!(contact(&r), "Không liên lạc 9 ngày (quá 7)");
    // The setting decides: three days is already too long for a district that says so.
    let r = reports::reports(&h, &Default::default(), &f, 2, &names, at(3)).unwrap();
    assert_eq!(contact(&r), "Không liên lạc 3 ngày (quá 2)");
}

/// The reports keep each school's share until the school's next batch: a report after a new
/// batch counts it (the cached share of the old batch is not served again), and another
/// school's share is not read again.
#[test]
fn reports_count_a_new_batch_with_the_cache_in_place() {
    let (_d, h) = hub();
    let key = SigningKey::from_bytes(&[6; 32]);
    let token = h.issue_token("79000701", "THCS Nguyễn Du").unwrap();
    h.enrol(&token, &hex::encode(key.verifying_key().to_bytes()))
        .unwrap();
    let rec = |seq: u64, kind: &str, key: &str, r: serde_json::Value| OutboxEntry {
        seq,
        kind: kind.into(),
        key: key.into(),
        op: "update".into(),
        record: Some(r),
        at: "t".into(),
    };
    let class = serde_json::json!({"id": "6a1", "grade": 6, "year": "2026-2027"});
    let student = |id: &str| serde_json::json!({"id": id, "class_id": "6a1"});
    let b1 = batch::build(
        &key,
        "79000701",
        1,
        &[
            rec(1, "class", "6a1", class),
            rec(2, "student", "s1", student("s1")),
            rec(3, "student", "s2", student("s2")),
        ],
        0,
        "t",
    );
    accept(&h, "79000701", 1, &b1).unwrap();
    let cache = reports::PartCache::default();
    let (f, names) = (
        reports::Filter::default(),
        std::collections::BTreeMap::new(),
    );
    let pupils = |r: &reports::Reports| {
        let t = r.tables.iter().find(|t| t.id == "si-so").unwrap();
        t.rows[0][2].shown()
    };
    let now = jiff::Timestamp::now();
    let r = reports::reports(&h, &cache, &f, 7, &names, now).unwrap();
    assert_eq!(pupils(&r), "2");
    let b2 = batch::build(
        &key,
        "79000701",
        2,
        &[rec(4, "student", "s3", student("s3"))],
        0,
        "t",
    );
    accept(&h, "79000701", 2, &b2).unwrap();
    let r = reports::reports(&h, &cache, &f, 7, &names, now).unwrap();
    assert_eq!(pupils(&r), "3", "the new batch is counted");
    // The kept sums are the filter's own: another filter is added up afresh.
    let grade7 = reports::Filter {
        grade: Some("7".into()),
        ..Default::default()
    };
    let r = reports::reports(&h, &cache, &grade7, 7, &names, now).unwrap();
    let t = r.tables.iter().find(|t| t.id == "si-so").unwrap();
    assert!(t.rows.is_empty(), "{:?}", t.rows);
    let r = reports::reports(&h, &cache, &f, 7, &names, now).unwrap();
    assert_eq!(pupils(&r), "3");
}

/// `/district/api/stats` counts as the reports do (review r20 #5), on a fixture with what the
/// counts turn on: two schools, a student who left, one whose class is unknown, levels that
/// are not 1–4, scores with a comma, primary levels with a test score, a result's subjects
/// empty, lesson plans in every state — one of next year, one amended after approval —: one
/// school year (the reports' default, or the filter's), leavers not enrolled, each figure its
/// report's.
#[test]
fn stats_count_one_year_as_the_reports_do() {
    let (_d, h) = hub();
    let rec = |seq: u64, kind: &str, r: serde_json::Value| OutboxEntry {
        seq,
        kind: kind.into(),
        key: format!("{kind}-{seq}"),
        op: "update".into(),
        record: Some(r),
        at: "t".into(),
    };

    for (n, code) in [(7u8, "79000701"), (8, "79000702")] {
        let key = SigningKey::from_bytes(&[n; 32]);
        let token = h.issue_token(code, "").unwrap();
        h.enrol(&token, &hex::encode(key.verifying_key().to_bytes()))
            .unwrap();
        let mut records = vec![
            serde_json::json!({"id": "6a1", "grade": 6, "year": "2026-2027"}),
            serde_json::json!({"id": "1a", "grade": 1, "year": "2026-2027"}),
            serde_json::json!({"id": "nograde"}),
        ]
        .into_iter()
        .map(|r| ("class", r))
        .collect::<Vec<_>>();
        records.extend(
            [
                serde_json::json!({"id": "s1", "class_id": "6a1"}),
                serde_json::json!({"id": "s2", "class_id": "6a1", "left": {"kind": "transfer_out", "date": "2026-11-02"}}),
                serde_json::json!({"id": "s3", "class_id": "1a"}),
                serde_json::json!({"id": "s4", "class_id": "gone"}),
            ]
            .map(|r| ("student", r)),
        );
        records.extend(
            [
                serde_json::json!({"malop": "6a1", "makhoi": 6, "hocky": "1", "mahocluc": 1, "mahanhkiem": 2,
                    "diemmon": {"toan": "8.5", "ngu-van": "6,5", "the-duc": "Đ", "tin": 7, "cn": ""}}),
                serde_json::json!({"malop": "6a1", "makhoi": 6, "hocky": "CN", "mahocluc": 5,
                    "diemmon": {"toan": "4.9", "ngu-van": "5"}}),
                serde_json::json!({"malop": "1a", "makhoi": 1, "hocky": "cn", "ketqua": "HTXS",
                    "diemmon": {"tieng-viet": "T 9", "toan": "H"}}),
                serde_json::json!({"malop": "x", "hocky": 2, "mahocluc": "1"}),
            ]
            .map(|r| ("result", r)),
        );
        if n == 7 {
            records.extend(
                [
                    serde_json::json!({"teach_on": "2026-10-05", "grade": 6, "state": "draft"}),
                    serde_json::json!({"teach_on": "2026-10-06", "state": "submitted"}),
                    serde_json::json!({"teach_on": "2026-11-01", "state": "approved", "approved_version": 2}),
                    serde_json::json!({"teach_on": "bad", "approved_version": 1}),
                    serde_json::json!({"teach_on": "2026-11-02", "state": "returned"}),
                    serde_json::json!({"teach_on": "2026-11-03", "state": "returned", "approved_version": 1}),
                    serde_json::json!({"teach_on": "2027-08-20", "grade": 6, "state": "draft"}),
                ]
                .map(|r| ("lesson_plan", r)),
            );
        }
        let entries: Vec<OutboxEntry> = records
            .into_iter()
            .enumerate()
            .map(|(i, (kind, r))| rec(i as u64 + 1, kind, r))
            .collect();
        let b = batch::build(&key, code, 1, &entries, 0, "t");
        accept(&h, code, 1, &b).unwrap();
    }
    let cache = reports::PartCache::default();
    let names = BTreeMap::new();
    let now = jiff::Timestamp::now();
    let all = reports::Filter::default();
    let st = stats(&h, &cache, &all, &names).unwrap();
    let r = reports::reports(&h, &cache, &all, 7, &names, now).unwrap();
    assert_eq!(st.year.as_deref(), Some("2026-2027"));
    assert_eq!(r.year, st.year, "the reports' default year");
    let table = |r: &reports::Reports, id: &str| -> Vec<Vec<String>> {
        let t = r.tables.iter().find(|t| t.id == id).unwrap();
        t.rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !t.totals.contains(i))
            .map(|(_, row)| row.iter().map(|c| c.shown()).collect())
            .collect()
    };
    // Sĩ số: the student who left is not enrolled, the one of an unknown class is in no grade.
    let mut enrolment = Vec::new();
    for (code, grades) in &st.enrolment {
        for (g, n) in grades {
            enrolment.push(vec![code.clone(), g.to_string(), n.to_string()]);
        }
    }
    assert_eq!(enrolment, table(&r, "si-so"));
    assert_eq!(st.enrolment["79000701"][&6], 1, "{st:?}");
    // Lesson plans: the year's months only (not next year's draft), the amended plan approved.
    let mut plans: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for row in table(&r, "ke-hoach") {
        let e = plans.entry(row[0].clone()).or_default();
        let n = |i: usize| row[i].parse::<u64>().unwrap();
        (e.0, e.1, e.2) = (e.0 + n(2), e.1 + n(3), e.2 + n(4));
    }
    assert_eq!(st.lesson_plans, plans);
    assert_eq!(st.lesson_plans["79000701"], (5, 3, 2), "{st:?}");
    // Levels: the Kết quả report's students per level, chưa đánh giá included.
    let hk1: u64 = st.levels["hocluc/1"].values().sum();
    let students: u64 = table(&r, "ket-qua")
        .iter()
        .filter(|row| row[2] == "Học kì I")
        .map(|row| row[3].parse::<u64>().unwrap())
        .sum();
    assert_eq!(hk1, students, "{st:?}");
    assert_eq!(st.levels["hocluc/1"]["1"], 2, "{st:?}");
    assert_eq!(st.levels["toan/1"]["8–10"], 2, "{st:?}");
    // Another year asked: its figures only.
    let next = reports::Filter {
        year: Some("2027-2028".into()),
        ..Default::default()
    };
    let st = stats(&h, &cache, &next, &names).unwrap();
    assert_eq!(st.year.as_deref(), Some("2027-2028"));
    assert!(st.enrolment.is_empty() && st.levels.is_empty(), "{st:?}");
    assert_eq!(st.lesson_plans["79000701"], (1, 0, 0), "{st:?}");
    // Served again from the kept sums: the same answer.
    let again = stats(&h, &cache, &next, &names).unwrap();
    assert_eq!(format!("{again:?}"), format!("{st:?}"));
}

#[test]
fn maintained_report_parts_equal_a_recount_of_the_records() {
    let (_d, h) = hub();
    let store = h.store.clone();
    parts_follow_the_records(&h, &|| {
        store
            .write(&actor(), |tx| -> Result<(), HubError> {
                for (k, _) in tx.scan(&REPORT_PARTS, "")? {
                    tx.delete(&REPORT_PARTS, &k, "test")?;
                }
                Ok(())
            })
            .unwrap();
    });
}

/// For every storage (pg.rs runs it on PostgreSQL): the report part `store_batch` maintains
/// equals a full recount of the school's records after inserts, replacements (a student who
/// left, one moved to another class, a result regraded, a class regraded), deletions, a record
/// changed twice in one batch, an entry older than what is stored, two batches of one school
/// and a batch sent again; a school whose part is missing (a hub from before parts were
/// stored) is left out of the overview with a note, built on demand for its own report, and
/// by the one-time rebuild.
pub(super) fn parts_follow_the_records(h: &dyn HubStorage, forget_parts: &dyn Fn()) {
    let rec = |seq: u64, kind: &str, key: &str, r: Option<serde_json::Value>| OutboxEntry {
        seq,
        kind: kind.into(),
        key: key.into(),
        op: if r.is_some() { "update" } else { "delete" }.into(),
        record: r,
        at: "t".into(),
    };
    let result = |class: &str, grade: u8, term: &str, level: u8, toan: &str| {
        Some(
            serde_json::json!({"malop": class, "makhoi": grade, "hocky": term, "mahocluc": level,
            "mahanhkiem": 1, "diemmon": {"toan": toan, "gdtc": "Đ"}}),
        )
    };
    let (ka, kb) = (
        SigningKey::from_bytes(&[21; 32]),
        SigningKey::from_bytes(&[22; 32]),
    );
    // A third school enrolled but silent: nothing to count, nothing to wait for.
    let kc = SigningKey::from_bytes(&[23; 32]);
    for (code, k) in [("79000901", &ka), ("79000902", &kb), ("79000903", &kc)] {
        let token = h.issue_token(code, "").unwrap();
        h.enrol(&token, &hex::encode(k.verifying_key().to_bytes()))
            .unwrap();
    }
    let first = vec![
        rec(
            1,
            "school",
            "self",
            Some(serde_json::json!({"name": "THCS Chu Văn An"})),
        ),
        rec(
            2,
            "class",
            "c1",
            Some(serde_json::json!({"id": "c1", "grade": 6, "year": "2026-2027"})),
        ),
        rec(
            3,
            "class",
            "c2",
            Some(serde_json::json!({"id": "c2", "grade": 7, "year": "2026-2027"})),
        ),
        rec(
            4,
            "student",
            "s1",
            Some(serde_json::json!({"id": "s1", "class_id": "c1"})),
        ),
        rec(
            5,
            "student",
            "s2",
            Some(serde_json::json!({"id": "s2", "class_id": "c1"})),
        ),
        rec(
            6,
            "student",
            "s3",
            Some(serde_json::json!({"id": "s3", "class_id": "c2"})),
        ),
        rec(
            7,
            "student",
            "s4",
            Some(serde_json::json!({"id": "s4", "class_id": "c2"})),
        ),
        rec(8, "result", "s1/1", result("c1", 6, "1", 1, "8.5")),
        rec(9, "result", "s2/1", result("c1", 6, "1", 2, "6,5")),
        rec(10, "result", "s3/1", result("c2", 7, "1", 3, "4.0")),
        rec(
            11,
            "lesson_plan",
            "p1",
            Some(serde_json::json!({"teach_on": "2026-10-05", "grade": 6, "state": "draft"})),
        ),
        rec(
            12,
            "lesson_plan",
            "p2",
            Some(serde_json::json!({"teach_on": "2026-10-06", "grade": 7, "state": "submitted"})),
        ),
        rec(
            13,
            "library_item",
            "b1",
            Some(serde_json::json!({"title": "not counted"})),
        ),
    ];
    let second = vec![
        // s1 left, s2 moved to c2, s3 deleted, s4 changed twice in one batch.
        rec(
            14,
            "student",
            "s1",
            Some(
                serde_json::json!({"id": "s1", "class_id": "c1", "left": {"kind": "transfer_out", "date": "2026-11-02"}}),
            ),
        ),
        rec(
            15,
            "student",
            "s2",
            Some(serde_json::json!({"id": "s2", "class_id": "c2"})),
        ),
        rec(16, "student", "s3", None),
        rec(
            17,
            "student",
            "s4",
            Some(serde_json::json!({"id": "s4", "class_id": "c1"})),
        ),
        rec(
            18,
            "student",
            "s4",
            Some(serde_json::json!({"id": "s4", "class_id": "nowhere"})),
        ),
        rec(19, "result", "s1/1", result("c1", 6, "1", 4, "3.0")),
        rec(20, "result", "s3/1", None),
        rec(21, "result", "s2/2", result("c2", 7, "2", 1, "9.0")),
        rec(
            22,
            "class",
            "c1",
            Some(serde_json::json!({"id": "c1", "grade": 8, "year": "2026-2027"})),
        ),
        rec(
            23,
            "lesson_plan",
            "p1",
            Some(
                serde_json::json!({"teach_on": "2026-10-05", "grade": 6, "state": "approved", "approved_version": 1}),
            ),
        ),
        rec(24, "lesson_plan", "p2", None),
        rec(
            25,
            "school",
            "self",
            Some(serde_json::json!({"name": "THCS Chu Văn An (mới)"})),
        ),
        // No newer than the stored version of c2 (3): skipped, as the records are.
        rec(
            3,
            "class",
            "c2",
            Some(serde_json::json!({"id": "c2", "grade": 9, "year": "1999-2000"})),
        ),
    ];
    let b1 = batch::build(&ka, "79000901", 1, &first, 0, "t");
    let b2 = batch::build_range(&ka, "79000901", 2, (14, 25), &second, 0, "t");
    let b3 = batch::build(
        &kb,
        "79000902",
        1,
        &[
            rec(
                1,
                "class",
                "c1",
                Some(serde_json::json!({"id": "c1", "grade": 9, "year": "2026-2027"})),
            ),
            rec(
                2,
                "student",
                "s1",
                Some(serde_json::json!({"id": "s1", "class_id": "c1"})),
            ),
            rec(3, "result", "s1/CN", result("c1", 9, "CN", 2, "7.0")),
        ],
        0,
        "t",
    );
    let check = |code: &str| {
        let kept = h.report_part(code).unwrap().expect("a part is stored");
        let counted = reports::PartCounts::recount(h, code).unwrap();
        assert_eq!(
            kept, counted,
            "{code}: the maintained part equals a recount"
        );
        assert_ne!(
            kept,
            reports::PartCounts::default(),
            "{code} counts something"
        );
        kept
    };
    accept(h, "79000901", 1, &b1).unwrap();
    let after_first = check("79000901");
    accept(h, "79000902", 1, &b3).unwrap();
    accept(h, "79000901", 2, &b2).unwrap();
    let after_second = check("79000901");
    assert_ne!(
        after_first, after_second,
        "the second batch changed the counts"
    );
    check("79000902");
    // The same batch again: the stored receipt, the part unchanged.
    accept(h, "79000901", 2, &b2).unwrap();
    assert_eq!(check("79000901"), after_second);

    // What the reports make of it: s2 in c2 (grade 7), s1 left, s3 deleted, s4 in an unknown
    // class, so the first school has one pupil enrolled.
    let cache = reports::PartCache::default();
    let names = BTreeMap::new();
    let now = jiff::Timestamp::now();
    let overview = reports::Filter::default();
    let r = reports::reports(h, &cache, &overview, 7, &names, now).unwrap();
    assert_eq!(r.pending, 0);
    let rows = |r: &reports::Reports, id: &str| -> Vec<String> {
        let t = r.tables.iter().find(|t| t.id == id).unwrap();
        t.rows
            .iter()
            .map(|row| row.iter().map(|c| c.shown()).collect::<Vec<_>>().join("|"))
            .collect()
    };
    assert_eq!(
        rows(&r, "si-so"),
        [
            "THCS Chu Văn An (mới)|7|1",
            "79000902|9|1",
            "Toàn huyện|7|1",
            "Toàn huyện|9|1"
        ]
    );
    let st = stats(h, &cache, &overview, &names).unwrap();
    assert_eq!(st.lesson_plans["79000901"], (1, 1, 1));
    assert!(st.pending.is_empty());

    // A school without a stored part: left out of the overview and said so; its own report
    // builds it; the one-time rebuild builds the rest.
    forget_parts();
    let cache = reports::PartCache::default();
    let r = reports::reports(h, &cache, &overview, 7, &names, now).unwrap();
    assert_eq!(r.pending, 2);
    assert!(r.pending_note().unwrap().contains("Đang tổng hợp"));
    assert_eq!(
        stats(h, &cache, &overview, &names).unwrap().pending.len(),
        2
    );
    let one = reports::Filter {
        school: Some("79000902".into()),
        ..Default::default()
    };
    let r = reports::reports(h, &cache, &one, 7, &names, now).unwrap();
    assert_eq!(r.pending, 0);
    assert_eq!(h.schools_without_report_part().unwrap(), ["79000901"]);
    let mut seen = vec![];
    let n = reports::build_missing_parts(h, &mut |done, total| seen.push((done, total))).unwrap();
    assert_eq!((n, seen), (1, vec![(1, 1)]));
    assert_eq!(check("79000901"), after_second);
    check("79000902");
    let r = reports::reports(h, &cache, &overview, 7, &names, now).unwrap();
    assert_eq!(r.pending, 0);
    assert_eq!(rows(&r, "si-so").len(), 4);
}

/// Issue 22: what a box sends after a renewal — the current CA, the one it replaced, an
/// imported signer's chain up to a public root — gives the hub both school CAs as anchors and
/// never the public root (only the hub's own licensed roots are anchors).
#[test]
fn the_school_cas_are_the_first_and_the_earlier_ones_of_its_organisation() {
    use crate::pki::signing;
    let now = jiff::Timestamp::now();
    let old = signing::new_ca_generation("THCS Thử", 1, now).unwrap().cert;
    let new = signing::new_ca_generation("THCS Thử", 2, now).unwrap().cert;
    let other = signing::new_ca_generation("Nhà cung cấp CA", 1, now)
        .unwrap()
        .cert;
    assert_ne!(old.tbs_certificate.subject, new.tbs_certificate.subject);
    let sent = [new.clone(), old.clone(), other];
    assert_eq!(school_cas(&sent), vec![new.clone(), old]);
    assert_eq!(school_cas(&sent[..1]), vec![new]);
    assert!(school_cas(&[]).is_empty());
}

#[test]
fn a_stored_report_part_keeps_the_field_an_older_binary_requires() {
    // A hub rolled back after an update reads parts this binary wrote: its `PartCounts` has
    // `levels` without a default, so the field is written (empty) though nothing counts it now.
    let v = serde_json::to_value(reports::PartCounts::default()).unwrap();
    assert!(v.get("levels").is_some(), "{v}");
}

/// The hub's CSDL export cut by the page's filters (issue 23): read back with calamine, each
/// sheet holds only the school's, the grade's and the term's rows, every `ketquahoctap` and
/// `diemmon` row is of a student the `hocsinh` sheet lists, and a filter that selects nothing
/// gives the headers only.
#[test]
fn the_csdl_export_honours_school_grade_and_term() {
    use super::csdl::{Codes, Selection, Source, TABLES};
    use calamine::{Data, Reader};
    use std::io::Seek;
    let (_d, h) = hub();
    let rec = |seq: u64, kind: &str, r: serde_json::Value| OutboxEntry {
        seq,
        kind: kind.into(),
        key: format!("{kind}-{seq}"),
        op: "update".into(),
        record: Some(r),
        at: "t".into(),
    };
    for (n, code) in [(7u8, "79000701"), (8, "79000702")] {
        let key = SigningKey::from_bytes(&[n; 32]);
        let token = h.issue_token(code, "").unwrap();
        h.enrol(&token, &hex::encode(key.verifying_key().to_bytes()))
            .unwrap();
        let mut records = vec![];
        for (class, grade, year) in [
            ("6a1", 6, "2026-2027"),
            ("7a1", 7, "2026-2027"),
            ("6old", 6, "2025-2026"),
        ] {
            records.push(("class", serde_json::json!({"id": class, "name": class.to_uppercase(), "grade": grade, "year": year})));
            for i in 0..2 {
                // The mã định danh names the school, the class and the pupil.
                let mdd = format!("{code}-{class}-{i}");
                records.push(("student", serde_json::json!({"id": mdd, "class_id": class, "full_name": format!("HS {i}"), "ma_dinh_danh": mdd})));
                for term in ["1", "2", "CN"] {
                    records.push((
                        "result",
                        serde_json::json!({"malop": class, "makhoi": grade, "mahocsinh": mdd,
                        "sodinhdanh": mdd, "hocky": term, "mahocluc": 1,
                        "diemmon": {"toan": "8", "ngu-van": "7.5"}}),
                    ));
                }
            }
        }
        let entries: Vec<OutboxEntry> = records
            .into_iter()
            .enumerate()
            .map(|(i, (kind, r))| rec(i as u64 + 1, kind, r))
            .collect();
        let b = batch::build(&key, code, 1, &entries, 0, "t");
        accept(&h, code, 1, &b).unwrap();
    }

    let export = |sel: Selection| -> Vec<Vec<Vec<String>>> {
        let dir = tempfile::tempdir().unwrap();
        let mut f = tempfile::tempfile().unwrap();
        super::csdl::write_xlsx(
            Source::Hub(&h),
            &Codes::defaults(),
            &sel,
            dir.path(),
            super::csdl::SHEET_ROWS,
            &mut f,
        )
        .unwrap();
        f.rewind().unwrap();
        let mut wb = calamine::Xlsx::new(std::io::BufReader::new(f)).unwrap();
        TABLES
            .iter()
            .map(|(name, fields)| {
                let range = wb.worksheet_range(name).unwrap();
                let mut rows = range.rows().map(|r| {
                    r.iter()
                        .map(|c| match c {
                            Data::String(s) => s.clone(),
                            Data::Empty => String::new(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                });
                let header = rows.next().unwrap();
                assert_eq!(header, fields.to_vec(), "{name}'s header");
                rows.collect()
            })
            .collect()
    };
    let col = |t: usize, name: &str| TABLES[t].1.iter().position(|f| *f == name).unwrap();
    // Every results row is of a listed student; returns the row counts.
    let consistent = |sheets: &[Vec<Vec<String>>]| -> [usize; 3] {
        let listed: std::collections::BTreeSet<&str> = sheets[0]
            .iter()
            .map(|r| r[col(0, "sodinhdanh")].as_str())
            .collect();
        for t in [1, 2] {
            for r in &sheets[t] {
                assert!(
                    listed.contains(r[col(t, "sodinhdanh")].as_str()),
                    "{}: {r:?} of no hocsinh row",
                    TABLES[t].0
                );
            }
        }
        [sheets[0].len(), sheets[1].len(), sheets[2].len()]
    };
    let year = Some("2026-2027");

    // The whole district of the year: both schools, grades 6 and 7, every term.
    let all = export(Selection::year(year));
    assert_eq!(consistent(&all), [8, 24, 48]);

    // One school: only its rows, in every sheet.
    let one = export(Selection {
        school: Some("79000702"),
        ..Selection::year(year)
    });
    assert_eq!(consistent(&one), [4, 12, 24]);
    for (t, rows) in one.iter().enumerate() {
        assert!(
            rows.iter().all(|r| r[col(t, "matruong")] == "79000702"),
            "{}: {rows:?}",
            TABLES[t].0
        );
    }

    // One grade (of one school): only its classes' students and results.
    let grade = export(Selection {
        school: Some("79000701"),
        grade: Some(7),
        ..Selection::year(year)
    });
    assert_eq!(consistent(&grade), [2, 6, 12]);
    for t in [0, 1] {
        assert!(
            grade[t]
                .iter()
                .all(|r| r[col(t, "makhoi")] == "7" && r[col(t, "malop")] == "7A1"),
            "{:?}",
            grade[t]
        );
    }
    assert!(
        grade[2]
            .iter()
            .all(|r| r[col(2, "sodinhdanh")].starts_with("79000701-7a1-")),
        "{:?}",
        grade[2]
    );

    // One term: its results; the students are not of a term.
    let term = export(Selection {
        grade: Some(6),
        term: Some("cn"),
        ..Selection::year(year)
    });
    assert_eq!(consistent(&term), [4, 4, 8]);
    for t in [1, 2] {
        assert!(term[t].iter().all(|r| r[col(t, "hocky")] == "CN"));
    }

    // The year rule holds under a filter: last year's grade 6 is its own.
    let old = export(Selection {
        grade: Some(6),
        ..Selection::year(Some("2025-2026"))
    });
    assert_eq!(consistent(&old), [4, 12, 24]);
    assert!(old[0].iter().all(|r| r[col(0, "malop")] == "6OLD"));

    // Nothing selected: every sheet with its header only (checked in `export`), no rows.
    for sel in [
        Selection {
            grade: Some(9),
            ..Selection::year(year)
        },
        Selection {
            school: Some("79000799"),
            ..Selection::year(year)
        },
    ] {
        assert_eq!(consistent(&export(sel)), [0, 0, 0], "{sel:?}");
    }
}
