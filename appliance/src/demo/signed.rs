//! The demo's showcase (issue 22 item 8, review r21 #2): last school year's 9A1 and 9A2
//! (`DemoYear::previous`), 40 pupils each who entered lớp 6 four years before and finished
//! lower secondary at that year's end — not on this year's rolls. Every mark and conduct of
//! both terms is entered on days inside the terms; 9A1's year is locked for that class at the
//! terms' ends, its graduates recognised by the Phòng's decision of June, and its học bạ signed
//! by its homeroom teacher and then the principal — so a newcomer opens a signed document at
//! once, and no date of this year shows marks or signatures from the future. The signatures
//! are made when the demo starts (a PAdES signing time is the real clock, never back-dated):
//! the pages show that time. Both signers' certificates come from the school signing CA, their
//! keys sealed under [`DEMO_PIN`]. 9A2 is complete too, its year open: the class to try
//! locking and signing on. This year's 9A1 and 9A2 are ordinary classes.

use super::*;
use crate::gradebook::{self, Cell, RecordEdit, ScoreRow, TermId, hocba};
use crate::pki::signing;

/// The class of last school year whose year is locked and signed in the demo (its id:
/// [`super::class_in`]).
pub const SIGNED_CLASS: &str = "9A1";
/// Last school year's class with every mark entered and its year still open: the one to try
/// locking and signing on (and the tests' complete class).
pub const COMPLETE_CLASS: &str = "9A2";

/// Signs the demo's class in the background when it is not signed yet (a new demo school, or
/// a start-up stopped while signing): decided before returning, so `/healthz` lists the class
/// from the first answer (`hocba::signing_now`) until the thread is done. Every step of
/// [`seed_signed_class`] is skipped once done, so a run cut short is finished by the next.
pub fn spawn_signing(store: std::sync::Arc<Store>) -> anyhow::Result<()> {
    let rx = store.read()?;
    let Some(signed_class) = super::class_in(&rx, SIGNED_CLASS)? else {
        return Ok(());
    };
    if school::school_info(&rx)?.is_none() || rx.get(&school::CLASSES, &signed_class)?.is_none() {
        return Ok(());
    }
    let done = rx
        .scan(&hocba::SIGNED, &format!("{signed_class}/"))?
        .iter()
        .any(|(_, r)| r.stage == hocba::Stage::Principal);
    drop(rx);
    if done {
        return Ok(());
    }
    hocba::set_signing_now(&signed_class, true);
    std::thread::Builder::new()
        .name("demo-signing".into())
        .spawn(move || {
            if let Err(e) = seed_signed_class(&store, jiff::Timestamp::now()) {
                tracing::warn!("demo: {signed_class} not signed: {e:#}");
            }
            hocba::set_signing_now(&signed_class, false);
        })?;
    Ok(())
}

pub(super) fn seed_signed_class(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let rx = store.read()?;
    let (Some(signed_class), Some(complete_class)) = (
        super::class_in(&rx, SIGNED_CLASS)?,
        super::class_in(&rx, COMPLETE_CLASS)?,
    ) else {
        return Ok(());
    };
    let (signed_class, complete_class) = (signed_class.as_str(), complete_class.as_str());
    if rx.get(&school::CLASSES, signed_class)?.is_none() {
        // A demo smaller than one class per grade (tests seed 10 or 40 students) has no last
        // year: nothing to sign.
        return Ok(());
    }
    let accounts = auth::list_accounts(&rx)?;
    let head = accounts
        .iter()
        .find(|a| a.has(Role::Principal))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("demo principal missing"))?;
    let head = school::principal_for(&rx, head)?;
    // The marks are entered once: after 9A1 is locked (a run cut short before signing) they
    // are left as they are, and so are the edits made to 9A2 since.
    let filled =
        gradebook::class_own_lock(&rx, &gradebook::class_of(&rx, signed_class)?, TermId::Hk2)?
            .is_some();
    drop(rx);
    let mut rng = Lcg(20_270_601);
    let last = super::DemoYear::seeded(&store.read()?)?
        .ok_or_else(|| anyhow::anyhow!("demo school year missing"))?
        .previous();
    let gvcn = if filled {
        homeroom(store, signed_class)?
    } else {
        let gvcn = fill_class(store, signed_class, &mut rng, last)?;
        fill_class(store, complete_class, &mut rng, last)?;
        gvcn
    };
    let Some(gvcn) = gvcn else {
        // A demo smaller than one class per grade (tests seed 10 or 40 students): nothing to sign.
        return Ok(());
    };
    let actor = Actor::system(now);
    // Each term locked for 9A1 alone on its last day after school, or the first working day
    // after it (the year is over).
    for (term, (month, day)) in TermId::BOTH.into_iter().zip([(1, 16), (5, 31)]) {
        let at = last.working_time(month, day, 1, "16:30")?;
        store.write(&Actor::system(at), |tx| -> anyhow::Result<()> {
            let class = gradebook::class_of(tx, signed_class)?;
            if gradebook::class_own_lock(tx, &class, term)?.is_none() {
                gradebook::lock_term(tx, &head, &class.year, term, Some(&class.id), false)?;
            }
            Ok(())
        })?;
    }
    // The Phòng GD&ĐT's recognition of 9A1's graduates, in June (DOMAIN.md §1.8).
    let year = last.id();
    store.write(&actor, |tx| -> anyhow::Result<()> {
        if tx
            .scan(&gradebook::graduation::GRADUATIONS, &format!("{year}/"))?
            .is_empty()
        {
            let students = school::students_of_class(&*tx, signed_class)?
                .into_iter()
                .map(|s| s.id)
                .collect();
            gradebook::graduation::record(
                tx,
                &year,
                gradebook::graduation::GraduationList {
                    decision: "Quyết định số 45/QĐ-PGDĐT".into(),
                    decided_on: last.date(6, 19).to_string(),
                    students,
                },
            )?;
        }
        Ok(())
    })?;
    // The principal's certificate first: the very first BGH certificate makes the school
    // signing CA and seals it under her key; the GVCN's is then issued through her wrap,
    // opened by her PIN — no CA key ever on disk.
    if hocba::signer(&store.read()?, &head.account.id)?.is_none() {
        if hocba::ca::ca_sealed(&store.read()?)? {
            anyhow::bail!("the demo's signing CA is held by someone other than its principal");
        }
        hocba::ca::issue_first_head(store, &actor, &head, "Hiệu trưởng", DEMO_PIN, false)?;
    }
    hocba::ca::seal_plain_ca(store, now)?;
    if hocba::signer(&store.read()?, &gvcn.account.id)?.is_none() {
        let who = signing::SignerName {
            account: &gvcn.account.id,
            full_name: &gvcn.account.full_name,
            role: "Giáo viên chủ nhiệm",
        };
        let req = signing::request_key(&who, DEMO_PIN, now)?;
        hocba::ca::issue_by_holder(store, &actor, &head, DEMO_PIN, &req, false, false)?;
    }
    let mut signed = 0;
    for (p, stage) in [
        (&gvcn, hocba::Stage::Gvcn),
        (&head, hocba::Stage::Principal),
    ] {
        match hocba::sign_class(store, store.dir(), p, signed_class, stage, DEMO_PIN, now) {
            Ok(done) => signed += done.signed,
            Err(hocba::HocbaError::AlreadySigned) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Start-up time is what a newcomer waits for: the log says what this part cost.
    tracing::info!(
        "demo: last year's {signed_class} and {complete_class} marked, {signed_class} locked and signed ({signed} signatures) in {:?}",
        t0.elapsed()
    );
    Ok(())
}

/// The homeroom teacher of `class_id` (None for a class with no students), as [`fill_class`]
/// returns it, for a run that finds the marks entered.
fn homeroom(store: &Store, class_id: &str) -> anyhow::Result<Option<crate::auth::Principal>> {
    let rx = store.read()?;
    let class = gradebook::class_of(&rx, class_id)?;
    if school::students_of_class(&rx, &class.id)?.is_empty() {
        return Ok(None);
    }
    let id = class.homeroom.clone().unwrap_or_default();
    let account = auth::list_accounts(&rx)?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| anyhow::anyhow!("demo homeroom teacher of {class_id} missing"))?;
    Ok(Some(school::principal_for(&rx, account)?))
}

/// Enters every mark (6 to 9.5; Đ for the commented subjects) and a conduct of Tốt or Khá for
/// both terms of `class_id`, a class of `year`, each term's in the term's last week (on a
/// weekday, by its teachers): every student completes the grade, nobody waits for the summer,
/// so each học bạ has a complete year. Returns the class's homeroom teacher, or None for a
/// class with no students.
fn fill_class(
    store: &Store,
    class_id: &str,
    rng: &mut Lcg,
    year: super::DemoYear,
) -> anyhow::Result<Option<crate::auth::Principal>> {
    let rx = store.read()?;
    let class = gradebook::class_of(&rx, class_id)?;
    let students = school::students_of_class(&rx, &class.id)?;
    if students.is_empty() {
        return Ok(None);
    }
    let st = gradebook::settings(&rx)?;
    let subjects = gradebook::subjects_for_grade(&rx, class.grade, &st)?;
    let teacher_of: BTreeMap<String, String> = school::list(&rx, &school::ASSIGNMENTS)?
        .into_iter()
        .filter(|a| a.class == class.id)
        .map(|a| (a.subject, a.teacher))
        .collect();
    let homeroom = class.homeroom.clone().unwrap_or_default();
    let gvcn = auth::list_accounts(&rx)?
        .into_iter()
        .find(|a| a.id == homeroom)
        .ok_or_else(|| anyhow::anyhow!("demo homeroom teacher of {class_id} missing"))?;
    let gvcn = school::principal_for(&rx, gvcn)?;
    drop(rx);
    for (term, (month, day)) in TermId::BOTH.into_iter().zip([(1, 12), (5, 26)]) {
        let now = year.working_time(month, day, -1, "10:00")?;
        fill_term(
            store,
            &class,
            &students,
            &subjects,
            &teacher_of,
            &gvcn,
            &st,
            term,
            rng,
            now,
        )?;
    }
    Ok(Some(gvcn))
}

/// One term of [`fill_class`], written at `now`.
#[allow(clippy::too_many_arguments)]
fn fill_term(
    store: &Store,
    class: &school::Class,
    students: &[Student],
    subjects: &[gradebook::SubjectSpec],
    teacher_of: &BTreeMap<String, String>,
    gvcn: &crate::auth::Principal,
    st: &gradebook::Settings,
    term: TermId,
    rng: &mut Lcg,
    now: jiff::Timestamp,
) -> anyhow::Result<()> {
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        {
            for s in students {
                for spec in subjects {
                    let by = teacher_of.get(&spec.id).cloned().unwrap_or_default();
                    let mut row = ScoreRow::default();
                    for col in spec.columns() {
                        let input = match spec.kind {
                            SubjectKind::Scored => {
                                format!("{},{}", 6 + rng.next() % 4, rng.next() % 2 * 5)
                            }
                            _ => "Đ".to_string(),
                        };
                        let mark = gradebook::parse_cell(&input, spec, &col, st)?;
                        let cell = Cell {
                            mark,
                            version: 1,
                            by: by.clone(),
                            at: now,
                            reason: None,
                        };
                        row.cells.insert(col, cell);
                    }
                    let key = gradebook::row_key(&class.id, &spec.id, term, &s.id);
                    tx.put(&gradebook::ROWS, &key, &row, "grades.cell")?;
                }
                let conduct = if rng.next().is_multiple_of(4) {
                    "Khá"
                } else {
                    "Tốt"
                };
                gradebook::save_record(
                    tx,
                    gvcn,
                    &class.id,
                    term,
                    RecordEdit {
                        student: s.id.clone(),
                        conduct: Some(conduct.into()),
                        absences: Some((rng.next() % 3) as u16),
                        excused: None,
                        comment: None,
                        qualities: None,
                        quality_comments: None,
                        recognised_by_class: None,
                    },
                )?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Makes last school year (`DemoYear::previous`: its record and terms) and its 9A1 and 9A2
/// ([`SIGNED_CLASS`], [`COMPLETE_CLASS`]), taught by this year's teachers of the classes of the
/// same names, each with `per_class` pupils born fourteen years before that year (one in
/// twelve a year older) whose register lines say they entered lớp 6A1/6A2 on the khai giảng
/// four years before — numbered after this year's lines, as the book is continued on the box.
/// Nothing when this year's 9A1 has no pupils (the unit tests' small schools).
pub(super) fn seed_last_year(
    store: &Store,
    now: jiff::Timestamp,
    per_class: usize,
) -> anyhow::Result<()> {
    let demo = super::DemoYear::of(now);
    let last = demo.previous();
    let entry = super::DemoYear {
        start: last.start - 3,
    };
    let rx = store.read()?;
    if rx.get(&school::YEARS, &last.id())?.is_some() {
        return Ok(());
    }
    let mut plan = Vec::new();
    for name in [SIGNED_CLASS, COMPLETE_CLASS] {
        let Some(class) = rx.get(&school::CLASSES, &demo.class_id(name))? else {
            return Ok(());
        };
        if school::students_of_class(&rx, &class.id)?.is_empty() {
            return Ok(());
        }
        let teachers: Vec<Assignment> = school::list(&rx, &school::ASSIGNMENTS)?
            .into_iter()
            .filter(|a: &Assignment| a.class == class.id)
            .collect();
        plan.push((name, class.homeroom, teachers));
    }
    drop(rx);
    let mut rng = Lcg(20_250_905);
    let mut family = Lcg(20_260_531);
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        tx.put(
            &school::YEARS,
            &last.id(),
            &last.school_year(),
            "year.create",
        )?;
        let mut k = 0u32;
        for (name, homeroom, teachers) in &plan {
            let class = school::create_class(
                tx,
                &last.id(),
                NewClass {
                    name: (*name).into(),
                    grade: 9,
                    homeroom: homeroom.clone(),
                },
            )?;
            for a in teachers {
                school::assign(
                    tx,
                    Assignment {
                        class: class.id.clone(),
                        subject: a.subject.clone(),
                        teacher: a.teacher.clone(),
                    },
                )?;
            }
            for _ in 0..per_class {
                k += 1;
                let female = rng.next().is_multiple_of(2);
                let dob = jiff::civil::Date::new(
                    last.start - 14 - i16::from(rng.next().is_multiple_of(12)),
                    (rng.next() % 12 + 1) as i8,
                    (rng.next() % 28 + 1) as i8,
                )?;
                // 8xxxxx: apart from this year's pupils' numbers (`seed_with_class_size`).
                let ma = format!(
                    "079{}{:02}{:06}",
                    if female { 3 } else { 2 },
                    dob.year() % 100,
                    800_000 + k
                );
                let st = school::add_student(
                    tx,
                    Student {
                        id: String::new(),
                        full_name: person(&mut rng, female),
                        dob: dob.to_string(),
                        gender: if female { "Nữ" } else { "Nam" }.into(),
                        ma_dinh_danh: ma,
                        class_id: class.id.clone(),
                        arrived: None,
                        left: None,
                    },
                )?;
                school::save_profile(tx, &st.id, demo_profile(&mut family, &st.full_name).into())?;
                super::register::backdate_entry(tx, &st.id, entry, name, 6)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}
