//! The demo's signed class (issue 22 item 8): 9A1 of the demo's year (`DemoYear`) with every
//! mark and conduct entered, its year locked for that class alone (the other classes stay open
//! for trying things), and
//! its học bạ signed by its homeroom teacher and then the principal — so a newcomer opens a
//! signed document at once. Both signers' certificates come from the school signing CA, their
//! keys sealed under [`DEMO_PIN`]. 9A2 is complete too, its year open: the class to try
//! locking and signing on.

use super::*;
use crate::gradebook::{self, Cell, RecordEdit, ScoreRow, TermId, hocba};
use crate::pki::signing;

/// The class whose year is locked and signed in the demo (its id in the demo's year:
/// [`super::class_in`]).
pub const SIGNED_CLASS: &str = "9A1";
/// A class with every mark entered and its year still open: the one to try locking and
/// signing on (and the tests' complete class).
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
    let gvcn = if filled {
        homeroom(store, signed_class)?
    } else {
        let gvcn = fill_class(store, signed_class, &mut rng, now)?;
        fill_class(store, complete_class, &mut rng, now)?;
        gvcn
    };
    let Some(gvcn) = gvcn else {
        // A demo smaller than one class per grade (tests seed 10 or 40 students): nothing to sign.
        return Ok(());
    };
    let actor = Actor::system(now);
    store.write(&actor, |tx| -> anyhow::Result<()> {
        let class = gradebook::class_of(tx, signed_class)?;
        for term in TermId::BOTH {
            if gradebook::class_own_lock(tx, &class, term)?.is_none() {
                gradebook::lock_term(tx, &head, &class.year, term, Some(&class.id), false)?;
            }
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
        "demo: {signed_class} and {complete_class} marked, {signed_class} locked and signed ({signed} signatures) in {:?}",
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
/// both terms of `class_id`: every student is promoted, nobody waits for the summer, so each
/// học bạ has a complete year. Returns the class's homeroom teacher, or None for a class with
/// no students.
fn fill_class(
    store: &Store,
    class_id: &str,
    rng: &mut Lcg,
    now: jiff::Timestamp,
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
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        for term in TermId::BOTH {
            for s in &students {
                for spec in &subjects {
                    let by = teacher_of.get(&spec.id).cloned().unwrap_or_default();
                    let mut row = ScoreRow::default();
                    for col in spec.columns() {
                        let input = match spec.kind {
                            SubjectKind::Scored => {
                                format!("{},{}", 6 + rng.next() % 4, rng.next() % 2 * 5)
                            }
                            _ => "Đ".to_string(),
                        };
                        let mark = gradebook::parse_cell(&input, spec, &col, &st)?;
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
                    &gvcn,
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
    Ok(Some(gvcn))
}
