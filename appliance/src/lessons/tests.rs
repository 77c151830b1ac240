//! Lesson-plan workflow, signatures, verification, cadence and export, on a real redb file with
//! the demo school (gv01 heads "Khoa học tự nhiên – Công nghệ", gv04 and gv05 teach in it
//! without demo plans of their own, gv07 heads another department).

use super::dashboard::state_index;
use super::sign::{DeviceKey, KEYS, new_keys_sharing_secret};
use super::*;
use crate::store::{Actor, Store};

struct F {
    _dir: tempfile::TempDir,
    store: Store,
    teacher: Principal,
    colleague: Principal,
    head: Principal,
    other_head: Principal,
    principal: Principal,
    keys: HashMap<String, DeviceKey>,
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
    let ps: Vec<Principal> = ["gv04", "gv05", "gv01", "gv07", "hieutruong"]
        .iter()
        .map(|u| who(&store, u))
        .collect();
    // Fresh keys for the people of the tests (the demo gave some of them keys already).
    let ids: Vec<String> = ps.iter().map(|p| p.id().to_string()).collect();
    let mut keys = HashMap::new();
    store
        .write(&actor(), |tx| -> Result<(), StoreError> {
            for (rec, key) in new_keys_sharing_secret(&ids, "123456", "t") {
                keys.insert(rec.account.clone(), key);
                sign::register(tx, rec)?;
            }
            Ok(())
        })
        .unwrap();
    let mut it = ps.into_iter();
    F {
        teacher: it.next().unwrap(),
        colleague: it.next().unwrap(),
        head: it.next().unwrap(),
        other_head: it.next().unwrap(),
        principal: it.next().unwrap(),
        keys,
        _dir: dir,
        store,
    }
}

fn actor() -> Actor {
    Actor::system(jiff::Timestamp::now())
}

fn as_(p: &Principal) -> Actor {
    Actor {
        id: p.id().into(),
        now: jiff::Timestamp::now(),
    }
}

impl F {
    fn key(&self, p: &Principal) -> &DeviceKey {
        &self.keys[p.id()]
    }
    fn subject(&self) -> String {
        crate::school::list(&self.store.read().unwrap(), &crate::school::SUBJECTS)
            .unwrap()
            .into_iter()
            .find(|s| s.name == "Khoa học tự nhiên")
            .unwrap()
            .id
    }
    fn input(&self, title: &str, teach_on: Date) -> PlanInput {
        PlanInput {
            title: title.into(),
            subject: self.subject(),
            grade: 6,
            periods: 2,
            teach_on,
            layout: None,
            fields: Fields {
                knowledge: "Nêu được các quy định an toàn.".into(),
                ..Fields::default()
            },
        }
    }
    fn create(&self, p: &Principal, title: &str, teach_on: Date) -> Plan {
        let input = self.input(title, teach_on);
        self.store
            .write(&as_(p), |tx| create(tx, p, input))
            .unwrap()
    }
    fn submit(&self, p: &Principal, id: &str) -> Result<Plan, LessonError> {
        self.store
            .write(&as_(p), |tx| submit(tx, p, id, self.key(p)))
    }
    fn review(&self, p: &Principal, id: &str, pass: bool) -> Result<Plan, LessonError> {
        self.store
            .write(&as_(p), |tx| review(tx, p, id, pass, "Cần bổ sung."))
    }
    fn approve(&self, p: &Principal, id: &str) -> Result<Plan, LessonError> {
        self.store
            .write(&as_(p), |tx| approve(tx, p, id, self.key(p)))
    }
    fn approved(&self, title: &str, teach_on: Date) -> Plan {
        self.approved_with(title, teach_on, None)
    }
    /// The teacher's plan with `file` attached, submitted, reviewed and approved.
    fn approved_with(&self, title: &str, teach_on: Date, file: Option<FileRef>) -> Plan {
        let plan = self.create(&self.teacher, title, teach_on);
        if let Some(file) = file {
            self.store
                .write(&as_(&self.teacher), |tx| {
                    attach(tx, &self.teacher, &plan.id, file)
                })
                .unwrap();
        }
        self.submit(&self.teacher, &plan.id).unwrap();
        self.review(&self.head, &plan.id, true).unwrap();
        self.approve(&self.principal, &plan.id).unwrap()
    }
    fn verify(&self) -> VerifyReport {
        verify_all(&self.store.read().unwrap(), &self.store.blobs).unwrap()
    }
    fn file(&self, name: &str, mime: &str, bytes: &[u8]) -> FileRef {
        let (blob, size) = self.store.blobs.put(bytes).unwrap();
        FileRef {
            blob,
            size,
            mime: mime.into(),
            name: name.into(),
        }
    }
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

/// An edit through the API changes what it sends and keeps the rest: a body with only a title
/// used to empty the plan's content and reset its periods to 1.
#[test]
fn an_edit_keeps_what_it_does_not_send() {
    let f = fixture();
    let plan = f.create(&f.teacher, "Bài 1", day("2026-11-03"));
    let patch =
        serde_json::json!({"title": "Bài 1 (sửa)", "fields": {"materials": "Phiếu học tập"}});
    let edited = f
        .store
        .write(&as_(&f.teacher), |tx| {
            edit_patch(tx, &f.teacher, &plan.id, patch)
        })
        .unwrap();
    assert_eq!(edited.title, "Bài 1 (sửa)");
    let vs = versions(&f.store.read().unwrap(), &plan.id).unwrap();
    let v = vs.last().unwrap();
    assert_eq!(v.periods, 2);
    assert_eq!(v.fields.knowledge, "Nêu được các quy định an toàn.");
    assert_eq!(v.fields.materials, "Phiếu học tập");
    let bad = f.store.write(&as_(&f.teacher), |tx| {
        edit_patch(tx, &f.teacher, &plan.id, serde_json::json!({"periods": 0}))
    });
    assert!(matches!(bad, Err(LessonError::Invalid(_))), "{bad:?}");
}

/// A lesson plan linked to a line of a Phụ lục III keeps the subject and grade the link was
/// checked for (`dept::LinkCheck`): changing either is refused, nothing stored; other edits go
/// through, and unlinked it may change.
#[test]
fn a_linked_plan_keeps_its_subject_and_grade() {
    let f = fixture();
    let plan = f.create(&f.teacher, "Bài 2", day("2026-11-05"));
    f.store
        .write(&as_(&f.teacher), |tx| {
            set_plan_line(tx, &f.teacher, &plan.id, Some("pl3-x#2".into()), None)
        })
        .unwrap();
    let edit_grade = |grade: u8| {
        f.store.write(&as_(&f.teacher), |tx| {
            edit_patch(
                tx,
                &f.teacher,
                &plan.id,
                serde_json::json!({"grade": grade}),
            )
        })
    };
    let bad = edit_grade(7);
    assert!(
        matches!(&bad, Err(LessonError::Invalid(m)) if m.contains("bỏ gắn")),
        "{bad:?}"
    );
    let v = versions(&f.store.read().unwrap(), &plan.id).unwrap();
    assert_eq!((v.len(), v[0].grade), (1, 6), "nothing stored");
    let ok = f.store.write(&as_(&f.teacher), |tx| {
        edit_patch(
            tx,
            &f.teacher,
            &plan.id,
            serde_json::json!({"title": "Bài 2 (sửa)"}),
        )
    });
    assert!(ok.is_ok(), "{ok:?}");
    f.store
        .write(&as_(&f.teacher), |tx| {
            set_plan_line(tx, &f.teacher, &plan.id, None, None)
        })
        .unwrap();
    assert_eq!(edit_grade(7).unwrap().grade, 7);
}

#[test]
fn the_whole_workflow_is_signed_audited_and_versions_never_change() {
    let f = fixture();
    let before = f.verify();
    assert!(
        before.all_valid(),
        "demo plans verify: {:?}",
        before.invalid().next()
    );
    let plan = f.create(&f.teacher, "Bài 3. Quy định an toàn", day("2026-11-10"));
    assert_eq!(plan.state, State::Draft);
    let pdf = f.file("phieu.pdf", "application/pdf", b"%PDF-1.4 phieu hoc tap");
    f.store
        .write(&as_(&f.teacher), |tx| attach(tx, &f.teacher, &plan.id, pdf))
        .unwrap();
    f.submit(&f.teacher, &plan.id).unwrap();
    f.review(&f.head, &plan.id, true).unwrap();
    let done = f.approve(&f.principal, &plan.id).unwrap();
    assert_eq!(done.state, State::Approved);
    assert_eq!(done.approved_version, Some(1));
    let v1 = versions(&f.store.read().unwrap(), &plan.id).unwrap();
    assert_eq!(v1.len(), 1);
    let sigs: Vec<_> = v1[0].signatures.iter().map(|s| s.action).collect();
    assert_eq!(sigs, [SignAction::Submit, SignAction::Approve]);
    assert_eq!(f.verify().valid, before.valid + 2);

    // Amending starts version 2; version 1 (approved, signed) is untouched and still valid.
    let mut input = f.input("Bài 3. Quy định an toàn (bổ sung)", day("2026-11-10"));
    input.fields.adjustments = "Thêm bài tập.".into();
    let amended = f
        .store
        .write(&as_(&f.teacher), |tx| edit(tx, &f.teacher, &plan.id, input))
        .unwrap();
    assert_eq!((amended.version, amended.state), (2, State::Draft));
    assert_eq!(amended.approved_version, Some(1));
    let vs = versions(&f.store.read().unwrap(), &plan.id).unwrap();
    assert_eq!(vs[0], v1[0], "the approved version never changes");
    assert_eq!(vs[1].files, v1[0].files, "the new version keeps the files");
    assert!(f.verify().all_valid());

    // Every transition is an audit event.
    let actions: Vec<String> = f
        .store
        .audit_tail(200)
        .unwrap()
        .into_iter()
        .filter(|e| e.target == plan.id)
        .map(|e| e.action)
        .collect();
    for a in [
        "lessons.submit",
        "lessons.review",
        "lessons.approve",
        "lessons.amend",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let f = fixture();
    let plan = f.create(&f.teacher, "Bài 5. Đo chiều dài", day("2026-11-12"));
    let snapshot = || {
        let rx = f.store.read().unwrap();
        (
            rx.get(&PLANS, &plan.id).unwrap(),
            versions(&rx, &plan.id).unwrap(),
        )
    };
    let start = snapshot();
    // Someone else edits or submits the draft.
    let input = f.input("Sửa trộm", day("2026-11-12"));
    assert!(matches!(
        f.store.write(&as_(&f.colleague), |tx| edit(
            tx,
            &f.colleague,
            &plan.id,
            input
        )),
        Err(LessonError::Forbidden(_))
    ));
    assert!(matches!(
        f.submit(&f.colleague, &plan.id),
        Err(LessonError::Forbidden(_))
    ));
    // Reviewing or approving a draft.
    assert!(matches!(
        f.review(&f.head, &plan.id, true),
        Err(LessonError::State(_))
    ));
    assert_eq!(snapshot(), start);

    f.submit(&f.teacher, &plan.id).unwrap();
    let submitted = snapshot();
    // Approving before the department reviewed it.
    let e = f.approve(&f.principal, &plan.id).unwrap_err();
    assert!(e.to_string().contains("chưa được tổ trưởng duyệt"), "{e}");
    // A head of another department.
    assert!(matches!(
        f.review(&f.other_head, &plan.id, true),
        Err(LessonError::Forbidden(_))
    ));
    // A plain teacher approving.
    let e = f
        .store
        .write(&as_(&f.colleague), |tx| {
            approve(tx, &f.colleague, &plan.id, f.key(&f.colleague))
        })
        .unwrap_err();
    assert!(matches!(e, LessonError::Forbidden(_)));
    // Returning without a comment.
    let e = f
        .store
        .write(&as_(&f.head), |tx| {
            review(tx, &f.head, &plan.id, false, "  ")
        })
        .unwrap_err();
    assert!(matches!(e, LessonError::Invalid(_)));
    // Editing while it waits.
    let input = f.input("Đổi tên", day("2026-11-12"));
    assert!(matches!(
        f.store
            .write(&as_(&f.teacher), |tx| edit(tx, &f.teacher, &plan.id, input)),
        Err(LessonError::State(_))
    ));
    // Signing with someone else's key.
    f.review(&f.head, &plan.id, true).unwrap();
    let reviewed = snapshot();
    let e = f
        .store
        .write(&as_(&f.principal), |tx| {
            approve(tx, &f.principal, &plan.id, f.key(&f.teacher))
        })
        .unwrap_err();
    assert!(matches!(e, LessonError::NoKey));
    assert_eq!(snapshot(), reviewed);
    assert_ne!(submitted, reviewed);

    // Approving one's own plan: the principal writes a plan, the head reviews it.
    let own = f.create(&f.principal, "Kế hoạch của hiệu trưởng", day("2026-11-12"));
    f.submit(&f.principal, &own.id).unwrap();
    // No department: BGH reviews it (here the vice principal).
    assert!(matches!(
        f.review(&f.head, &own.id, true),
        Err(LessonError::Forbidden(_))
    ));
    f.review(&who(&f.store, "phohieutruong"), &own.id, true)
        .unwrap();
    let e = f.approve(&f.principal, &own.id).unwrap_err();
    assert!(e.to_string().contains("chính mình"), "{e}");
    // Reviewing one's own plan.
    let heads = f.create(&f.head, "Kế hoạch của tổ trưởng", day("2026-11-12"));
    f.submit(&f.head, &heads.id).unwrap();
    assert!(matches!(
        f.review(&f.head, &heads.id, true),
        Err(LessonError::Forbidden(_))
    ));
}

#[test]
fn attachments_are_checked_by_type_and_configured_size() {
    let f = fixture();
    let plan = f.create(&f.teacher, "Bài 1", day("2026-11-03"));
    let epub = f.file("sach.epub", "application/epub+zip", b"PK\x03\x04 epub");
    let e = f
        .store
        .write(&as_(&f.teacher), |tx| {
            attach(tx, &f.teacher, &plan.id, epub)
        })
        .unwrap_err();
    assert!(matches!(e, LessonError::File(_)), "{e}");
    f.store
        .write(&as_(&f.principal), |tx| {
            save_config(
                tx,
                &f.principal,
                LessonConfig {
                    max_file_mb: 1,
                    ..LessonConfig::default()
                },
            )
        })
        .unwrap();
    let big = f.file("video.mp4", "video/mp4", &vec![7u8; (1 << 20) + 1]);
    let e = f
        .store
        .write(&as_(&f.teacher), |tx| attach(tx, &f.teacher, &plan.id, big))
        .unwrap_err();
    assert!(e.to_string().contains("tối đa 1 MB"), "{e}");
    let v = versions(&f.store.read().unwrap(), &plan.id).unwrap();
    assert!(v[0].files.is_empty());
    // A teacher may not set the cadence.
    let e = f
        .store
        .write(&as_(&f.teacher), |tx| {
            save_config(tx, &f.teacher, LessonConfig::default())
        })
        .unwrap_err();
    assert!(matches!(e, LessonError::Forbidden(_)));
}

#[test]
fn one_changed_byte_of_a_stored_file_fails_its_plan() {
    let f = fixture();
    let doc = f.file(
        "ke-hoach.pdf",
        "application/pdf",
        b"%PDF-1.4 noi dung ke hoach",
    );
    let blob = doc.blob.clone();
    let plan = f.approved_with("Bài có tệp", day("2026-11-05"), Some(doc));
    assert!(f.verify().all_valid());

    let path = f.store.blobs.path_of(&blob).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let r = f.verify();
    let bad: Vec<_> = r.invalid().collect();
    assert_eq!(
        bad.len(),
        2,
        "submit and approve signatures both fail: {bad:?}"
    );
    assert!(bad.iter().all(|v| v.plan == plan.id));
    assert!(bad[0].problem.as_ref().unwrap().contains("ke-hoach.pdf"));
    let (ok, text) = verify_text(&f.store).unwrap();
    assert!(!ok);
    assert!(
        text.contains("INVALID") && text.contains(&plan.id),
        "{text}"
    );
}

#[test]
fn a_changed_field_or_a_foreign_key_fails_verification() {
    let f = fixture();
    let plan = f.approved("Bài 2", day("2026-11-04"));
    // Someone with the database file rewrites the approved text.
    let key = version_key(&plan.id, 1);
    f.store
        .write(&actor(), |tx| -> Result<(), StoreError> {
            let mut v = tx.get(&VERSIONS, &key)?.unwrap();
            v.fields.knowledge = "Nội dung khác".into();
            tx.put(&VERSIONS, &key, &v, "tamper")
        })
        .unwrap();
    let r = f.verify();
    assert_eq!(r.invalid().count(), 2);
    assert!(
        r.invalid()
            .all(|v| v.problem.as_ref().unwrap().contains("content changed"))
    );

    // A signature made with a key that is not the signer's registered key.
    let f = fixture();
    let plan = f.approved("Bài 2", day("2026-11-04"));
    let (rec, _) = sign::new_key(f.principal.id(), "604321", "t").unwrap();
    f.store
        .write(&actor(), |tx| {
            tx.put(&KEYS, &rec.account.clone(), &rec, "tamper")
        })
        .unwrap();
    let r = f.verify();
    let bad: Vec<_> = r.invalid().filter(|v| v.plan == plan.id).collect();
    assert_eq!(bad.len(), 1, "only the approval: {bad:?}");
    assert_eq!(bad[0].action, Some(SignAction::Approve));
    assert!(bad[0].problem.as_ref().unwrap().contains("registered key"));
}

#[test]
fn a_replaced_key_keeps_old_signatures_valid() {
    let f = fixture();
    f.approved("Bài 6", day("2026-11-06"));
    let (rec, _) = sign::new_key(f.principal.id(), "990719", "t2").unwrap();
    let replaced = f
        .store
        .write(&actor(), |tx| sign::register(tx, rec))
        .unwrap();
    assert!(replaced);
    assert!(f.verify().all_valid());
}

#[test]
fn the_month_batch_signs_every_reviewed_plan_but_the_approvers_own() {
    let f = fixture();
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = f.create(&f.teacher, &format!("Bài {i}"), day("2026-10-05"));
        f.submit(&f.teacher, &p.id).unwrap();
        f.review(&f.head, &p.id, true).unwrap();
        ids.push(p.id);
    }
    // One only submitted (not reviewed), one of another month: left alone.
    let waiting = f.create(&f.colleague, "Chưa duyệt", day("2026-10-06"));
    f.submit(&f.colleague, &waiting.id).unwrap();
    let later = f.create(&f.colleague, "Tháng sau", day("2026-11-06"));
    f.submit(&f.colleague, &later.id).unwrap();
    f.review(&f.head, &later.id, true).unwrap();
    // The principal's own reviewed plan is skipped.
    let own = f.create(&f.principal, "Của hiệu trưởng", day("2026-10-07"));
    f.submit(&f.principal, &own.id).unwrap();
    f.review(&who(&f.store, "phohieutruong"), &own.id, true)
        .unwrap();

    let listed = listed(&f, None);
    assert_eq!(
        listed.len(),
        5,
        "the form lists the five, not the approver's own"
    );
    let out = f
        .store
        .write(&as_(&f.principal), |tx| {
            approve_month(
                tx,
                &f.principal,
                "2026-10",
                None,
                &listed,
                f.key(&f.principal),
            )
        })
        .unwrap();
    let mut got: Vec<String> = out.approved.iter().map(|p| p.id.clone()).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    assert_eq!(out.skipped.len(), 1);
    let rx = f.store.read().unwrap();
    assert_eq!(
        rx.get(&PLANS, &waiting.id).unwrap().unwrap().state,
        State::Submitted
    );
    assert_eq!(
        rx.get(&PLANS, &later.id).unwrap().unwrap().state,
        State::Reviewed
    );
    assert_eq!(
        rx.get(&PLANS, &own.id).unwrap().unwrap().state,
        State::Reviewed
    );
    drop(rx);
    assert!(f.verify().all_valid());
    // Nothing left: a clear message, nothing written.
    let e = f
        .store
        .write(&as_(&f.principal), |tx| {
            approve_month(tx, &f.principal, "2026-10", None, &[], f.key(&f.principal))
        })
        .unwrap_err();
    assert!(e.to_string().contains("10/2026"), "{e}");
    assert!(matches!(
        f.store.write(&as_(&f.principal), |tx| {
            approve_month(tx, &f.principal, "2026-13", None, &[], f.key(&f.principal))
        }),
        Err(LessonError::Invalid(_))
    ));
}

/// What the approval form lists for October 2026 (id and version of each plan).
fn listed(f: &F, department: Option<&str>) -> Vec<Listed> {
    month_to_approve(
        &f.store.read().unwrap(),
        &f.principal,
        "2026-10",
        department,
    )
    .unwrap()
    .into_iter()
    .map(|p| Listed {
        id: p.id,
        version: p.version,
    })
    .collect()
}

/// Issue 24 (review r9, item 1): the batch signs exactly the plans and versions its form
/// listed; a plan reviewed, or handed in again, since the list was read refuses the whole batch,
/// naming the plan, and signs nothing.
#[test]
fn the_month_batch_refuses_a_list_that_is_no_longer_what_waits() {
    let f = fixture();
    let a = f.create(&f.teacher, "Bài A", day("2026-10-05"));
    f.submit(&f.teacher, &a.id).unwrap();
    f.review(&f.head, &a.id, true).unwrap();
    let b = f.create(&f.teacher, "Bài B", day("2026-10-06"));
    f.submit(&f.teacher, &b.id).unwrap();
    let old = listed(&f, None);
    assert_eq!(old.len(), 1);
    // Reviewed after the form was drawn.
    f.review(&f.head, &b.id, true).unwrap();
    let refuse = |list: &[Listed]| {
        f.store
            .write(&as_(&f.principal), |tx| {
                approve_month(tx, &f.principal, "2026-10", None, list, f.key(&f.principal))
            })
            .unwrap_err()
    };
    let e = refuse(&old);
    assert!(matches!(e, LessonError::ListChanged(_)), "{e}");
    assert!(e.to_string().contains("«Bài B» vừa được tổ duyệt"), "{e}");
    let rx = f.store.read().unwrap();
    assert_eq!(
        rx.get(&PLANS, &a.id).unwrap().unwrap().state,
        State::Reviewed
    );
    drop(rx);
    // A version the form never showed is refused too.
    let mut wrong = listed(&f, None);
    wrong[0].version += 1;
    let e = refuse(&wrong);
    assert!(e.to_string().contains("phiên bản"), "{e}");
    // One department's list is that department's plans only.
    let other = listed(&f, Some("khong-co-to"));
    assert!(other.is_empty());
    let e = refuse(&listed(&f, None)[..1]);
    assert!(matches!(e, LessonError::ListChanged(_)), "{e}");
    // The list as it is now signs both.
    let now = listed(&f, None);
    let out = f
        .store
        .write(&as_(&f.principal), |tx| {
            approve_month(tx, &f.principal, "2026-10", None, &now, f.key(&f.principal))
        })
        .unwrap();
    assert_eq!(out.approved.len(), 2);
    // The old list again: both were just approved, and it says so.
    let e = refuse(&now);
    assert!(e.to_string().contains("vừa được phê duyệt"), "{e}");
}

/// The review queue read from every plan, as `waiting_for` did before the index: the reference
/// the indexed queue must agree with.
fn waiting_by_scan(rx: &crate::store::Rx, p: &Principal) -> Vec<String> {
    let mut heads: HashMap<String, Vec<String>> = HashMap::new();
    for a in crate::auth::list_accounts(rx).unwrap() {
        if a.has(Role::DeptHead)
            && !a.disabled
            && let Some(d) = a.department
        {
            heads.entry(d).or_default().push(a.id);
        }
    }
    let mut out = Vec::new();
    for (_, plan) in rx.scan(&PLANS, "").unwrap() {
        let dept = plan.department.as_deref().unwrap_or("");
        let mine = plan.teacher != p.id()
            && match plan.state {
                State::Submitted if p.is_bgh() => !heads
                    .get(dept)
                    .is_some_and(|h| h.iter().any(|id| *id != plan.teacher)),
                State::Submitted => permits(p, Action::ReviewLessonPlans { department: dept }),
                State::Reviewed => permits(p, Action::ApproveLessonPlans),
                _ => false,
            };
        if mine {
            out.push(plan.id);
        }
    }
    out.sort();
    out
}

#[test]
fn the_review_queue_index_follows_every_transition() {
    let f = fixture();
    let everyone = [
        &f.teacher,
        &f.colleague,
        &f.head,
        &f.other_head,
        &f.principal,
    ];
    let check = |when: &str| {
        let rx = f.store.read().unwrap();
        for p in everyone {
            let mut got: Vec<String> = waiting_for(&rx, p)
                .unwrap()
                .into_iter()
                .map(|x| x.id)
                .collect();
            got.sort();
            assert_eq!(
                got,
                waiting_by_scan(&rx, p),
                "{when}: {}",
                p.account.username
            );
        }
    };
    check("the demo school");
    let a = f.create(&f.teacher, "Bài 1", day("2026-11-10"));
    let b = f.create(&f.colleague, "Bài 2", day("2026-11-11"));
    let own = f.create(&f.head, "Của tổ trưởng", day("2026-11-12"));
    check("drafts");
    f.submit(&f.teacher, &a.id).unwrap();
    f.submit(&f.colleague, &b.id).unwrap();
    f.submit(&f.head, &own.id).unwrap();
    check("submitted");
    let rx = f.store.read().unwrap();
    let head_queue: Vec<String> = waiting_for(&rx, &f.head)
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert!(head_queue.contains(&a.id) && head_queue.contains(&b.id));
    assert!(!head_queue.contains(&own.id), "not one's own plan");
    assert!(
        waiting_for(&rx, &f.other_head)
            .unwrap()
            .iter()
            .all(|x| x.id != a.id)
    );
    drop(rx);
    f.review(&f.head, &a.id, true).unwrap();
    f.review(&f.head, &b.id, false).unwrap();
    check("one reviewed, one returned");
    f.approve(&f.principal, &a.id).unwrap();
    check("approved");
    // Amending an approved plan and handing it in again puts it back in the queue.
    let mut input = f.input("Bài 1 (sửa)", day("2026-12-01"));
    input.fields.adjustments = "Thêm ví dụ.".into();
    f.store
        .write(&as_(&f.teacher), |tx| edit(tx, &f.teacher, &a.id, input))
        .unwrap();
    f.submit(&f.teacher, &a.id).unwrap();
    check("amended and submitted in another month");
    assert!(
        waiting_for(&f.store.read().unwrap(), &f.head)
            .unwrap()
            .iter()
            .any(|x| x.id == a.id && x.version == 2)
    );
}

#[test]
fn search_ignores_diacritics_and_respects_who_may_see() {
    let f = fixture();
    let draft = f.create(&f.teacher, "Bài 4. Sử dụng kính lúp", day("2026-11-09"));
    let approved = f.approved("Bài 7. Đo khối lượng", day("2026-11-11"));
    let q = |p: &Principal, text: &str| -> Vec<String> {
        search(
            &f.store.read().unwrap(),
            p,
            &Query {
                q: text.into(),
                ..Query::default()
            },
            Query::MAX_LIMIT,
        )
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect()
    };
    assert!(q(&f.teacher, "kinh lup").contains(&draft.id));
    assert!(
        q(&f.teacher, "su dung kinh").contains(&draft.id),
        "last word a prefix"
    );
    assert!(q(&f.teacher, "do khoi luong").contains(&approved.id));
    assert!(
        q(&f.teacher, "khoa hoc tu nhien kinh").contains(&draft.id),
        "subject name"
    );
    // A colleague sees the approved plan but not the other's draft; the head and BGH see both.
    assert!(!q(&f.colleague, "kinh lup").contains(&draft.id));
    assert!(q(&f.colleague, "khoi luong").contains(&approved.id));
    assert!(q(&f.head, "kinh lup").contains(&draft.id));
    assert!(!q(&f.other_head, "kinh lup").contains(&draft.id));
    assert!(q(&f.principal, "KÍNH LÚP").contains(&draft.id));
    // Filters.
    let by = |grade: u8| {
        search(
            &f.store.read().unwrap(),
            &f.teacher,
            &Query {
                q: "kinh".into(),
                grade: Some(grade),
                ..Query::default()
            },
            Query::MAX_LIMIT,
        )
        .unwrap()
        .len()
    };
    assert_eq!(by(6), 1);
    assert_eq!(by(7), 0);
}

/// A limited search (the list page's newest 200) reads the newest months only, and gives
/// exactly the first plans of the full answer.
#[test]
fn a_limited_search_is_the_head_of_the_full_one() {
    let f = fixture();
    for (i, d) in [
        "2026-09-07",
        "2026-10-05",
        "2026-10-20",
        "2026-11-09",
        "2026-12-01",
    ]
    .iter()
    .enumerate()
    {
        for j in 0..3 {
            f.create(&f.teacher, &format!("Bài {i}.{j}"), day(d));
        }
    }
    let rx = f.store.read().unwrap();
    for p in [&f.teacher, &f.colleague, &f.principal] {
        let all: Vec<String> = search(&rx, p, &Query::default(), Query::MAX_LIMIT)
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect();
        assert!(all.len() >= 4, "{} sees plans", p.account.username);
        for limit in [1, 2, 3, 4, 7, all.len(), all.len() + 5] {
            let some: Vec<String> = search(&rx, p, &Query::default(), limit)
                .unwrap()
                .into_iter()
                .map(|x| x.id)
                .collect();
            assert_eq!(some, all[..limit.min(all.len())], "limit {limit}");
        }
    }
}

/// Review r20 #8: the month's summary counts each plan once by the version in force — an
/// approved plan amended is approved, a returned one not handed in — while the columns keep
/// the newest version's state (the workflow); the hub's report applies the same rule.
#[test]
fn the_month_summary_counts_the_version_in_force() {
    let f = fixture();
    let today = day("2026-11-18");
    // The fixture's own plans of the month, before these five.
    let before = dashboard(&f.store.read().unwrap(), "2026-11", today).unwrap();
    f.create(&f.teacher, "Nháp", day("2026-11-03"));
    let sent = f.create(&f.teacher, "Đã nộp", day("2026-11-04"));
    f.submit(&f.teacher, &sent.id).unwrap();
    let back = f.create(&f.teacher, "Trả lại", day("2026-11-05"));
    f.submit(&f.teacher, &back.id).unwrap();
    f.review(&f.head, &back.id, false).unwrap();
    f.approved("Đã duyệt", day("2026-11-06"));
    let amended = f.approved("Đang sửa", day("2026-11-09"));
    f.store
        .write(&as_(&f.teacher), |tx| {
            edit(
                tx,
                &f.teacher,
                &amended.id,
                f.input("Đang sửa (bản 2)", day("2026-11-09")),
            )
        })
        .unwrap();
    let d = dashboard(&f.store.read().unwrap(), "2026-11", today).unwrap();
    let (b, a) = (before.summary, d.summary);
    assert_eq!(
        [
            a.plans - b.plans,
            a.handed_in - b.handed_in,
            a.approved - b.approved,
            a.amending - b.amending
        ],
        [5, 3, 2, 1],
        "{b:?} → {a:?}"
    );
    let added: Vec<u32> = (0..5).map(|i| d.totals[i] - before.totals[i]).collect();
    assert_eq!(added, [2, 1, 0, 1, 1], "the newest versions' states");
    for (state, approved, counts) in [
        (State::Draft, true, (true, true)),
        (State::Returned, true, (true, true)),
        (State::Returned, false, (false, false)),
        (State::Reviewed, false, (true, false)),
        (State::Draft, false, (false, false)),
    ] {
        assert_eq!(month_counts(in_force(state, approved)), counts, "{state:?}");
    }
}

#[test]
fn the_dashboard_flags_teachers_behind_the_cadence() {
    let f = fixture();
    // November 2026: Mondays 2, 9, 16, 23, 30. Today the 18th: weeks of the 2nd and 9th are due.
    let today = day("2026-11-18");
    f.create(&f.teacher, "Tuần 1", day("2026-11-03"));
    let p = f.create(&f.teacher, "Tuần 2", day("2026-11-10"));
    f.submit(&f.teacher, &p.id).unwrap();
    let d = dashboard(&f.store.read().unwrap(), "2026-11", today).unwrap();
    let row = d
        .departments
        .iter()
        .flat_map(|r| &r.teachers)
        .find(|t| t.id == f.teacher.id())
        .unwrap();
    assert_eq!(row.missing, vec!["tuần 02/11–08/11: 0/1".to_string()]);
    assert_eq!(row.late_drafts, 1);
    assert!(row.overdue());
    assert_eq!(row.counts[state_index(State::Submitted)], 1);

    // Monthly, two plans: due only after the month (plus grace) has ended.
    f.store
        .write(&as_(&f.principal), |tx| {
            save_config(
                tx,
                &f.principal,
                LessonConfig {
                    cadence: Cadence::Monthly,
                    per_period: 2,
                    grace_days: 3,
                    ..LessonConfig::default()
                },
            )
        })
        .unwrap();
    let rx = f.store.read().unwrap();
    let find = |d: &Dashboard| {
        d.departments
            .iter()
            .flat_map(|r| r.teachers.clone())
            .find(|t| t.id == f.teacher.id())
            .unwrap()
    };
    assert!(
        find(&dashboard(&rx, "2026-11", day("2026-12-03")).unwrap())
            .missing
            .is_empty()
    );
    assert_eq!(
        find(&dashboard(&rx, "2026-11", day("2026-12-04")).unwrap()).missing,
        vec!["tháng 11/2026: 1/2".to_string()]
    );
    // A department head sees only their department.
    let full = dashboard(&rx, "2026-11", today).unwrap();
    let theirs = dashboard_for(&f.head, &full).unwrap();
    assert_eq!(theirs.departments.len(), 1);
    assert!(dashboard_for(&f.teacher, &full).is_none());
}

#[test]
fn an_exported_zip_verifies_offline_and_catches_a_changed_file() {
    let f = fixture();
    let doc = f.file("bai.pdf", "application/pdf", b"%PDF-1.4 bai xuat");
    f.approved_with("Bài xuất", day("2026-09-15"), Some(doc));
    let rx = f.store.read().unwrap();
    let scope = export::Scope::Month("2026-09".into());
    let plans = export::select(&rx, &f.principal, &scope).unwrap();
    assert_eq!(plans.len(), 1);
    let names = export::Names::load(&rx).unwrap();
    let pdf = export::pdf(&names, "KẾ HOẠCH", &plans).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let zip = export::zip(
        std::io::Cursor::new(Vec::new()),
        &f.store.blobs,
        &names,
        &scope,
        &plans,
        &pdf,
        "now",
    )
    .unwrap()
    .into_inner();
    let c = export::verify_zip(std::io::Cursor::new(&zip)).unwrap();
    assert_eq!((c.plans, c.valid), (1, 2), "{:?}", c.problems);
    assert!(c.problems.is_empty());

    // Change one byte of the attached file inside the ZIP (stored uncompressed).
    let at = zip
        .windows(17)
        .position(|w| w == b"%PDF-1.4 bai xuat")
        .unwrap();
    let mut bad = zip.clone();
    bad[at + 12] ^= 1;
    let c = export::verify_zip(std::io::Cursor::new(&bad)).unwrap();
    assert_eq!(c.valid, 0);
    assert!(
        c.problems.iter().any(|p| p.contains("bai.pdf")),
        "{:?}",
        c.problems
    );

    // A teacher's year holds only what they may read.
    let year = export::Scope::TeacherYear {
        teacher: f.teacher.id().into(),
        name: "Nguyễn Thị Đào".into(),
        year: "2026-2027".into(),
    };
    assert_eq!(
        year.file_stem(),
        "ke-hoach-bai-day-nguyen-thi-dao-2026-2027"
    );
    assert_eq!(
        export::Scope::Month("2026-11".into()).file_stem(),
        "ke-hoach-bai-day-2026-11"
    );
    assert_eq!(export::select(&rx, &f.colleague, &year).unwrap().len(), 1);
    let draft = f.create(&f.teacher, "Nháp", day("2026-09-20"));
    let rx = f.store.read().unwrap();
    let mine = export::select(&rx, &f.teacher, &year).unwrap();
    assert!(mine.iter().any(|(p, _)| p.id == draft.id));
    let theirs = export::select(&rx, &f.colleague, &year).unwrap();
    assert!(!theirs.iter().any(|(p, _)| p.id == draft.id));
}

proptest::proptest! {
    /// A ZIP handed in for inspection may be anything: checking it reports, never panics.
    #[test]
    fn any_bytes_as_an_export_zip_are_reported_not_panicked(junk in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
        let _ = export::verify_zip(std::io::Cursor::new(&junk));
        let mut z = b"PK\x03\x04".to_vec();
        z.extend_from_slice(&junk);
        let _ = export::verify_zip(std::io::Cursor::new(&z));
    }
}
