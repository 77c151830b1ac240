//! Xét công nhận tốt nghiệp THCS (and THPT): after the last grade's year is locked, the school
//! records who was recognised as graduating, under the decision that did it (the Phòng GD&ĐT's
//! quyết định công nhận tốt nghiệp THCS, the Sở's for THPT — who decides is the school's to
//! name: it types the decision's number and date). Only a student whose stored year-end result
//! of that grade completes the level ("Hoàn thành chương trình THCS/THPT", DOMAIN.md §1.8: a
//! student failing a condition is not recognised) may be listed; the list of a year is
//! replaced as a whole, audited. The sổ đăng bộ prints it (`register::rows`). Primary school has
//! no recognition: grade 5 completed is "hoàn thành chương trình tiểu học", read from the
//! stored results.

use serde::{Deserialize, Serialize};

use super::{GradeError, RESULTS, TermId};
use crate::school;
use crate::store::{AuditPolicy, Collection, Read, StoreError, Tx};

/// One student recognised as graduating, "{year}/{student}".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Graduation {
    pub year: String,
    pub student: String,
    /// The class (id) whose year-end result completed the level.
    pub class: String,
    pub grade: u8,
    /// The decision that recognised it ("Quyết định số 45/QĐ-PGDĐT").
    pub decision: String,
    /// ISO date of the decision.
    pub decided_on: String,
}

pub const GRADUATIONS: Collection<Graduation> =
    Collection::new("gradebook.graduations.v1", AuditPolicy::Values, None);

/// The last grade of a level that ends with a recognition of graduation.
pub fn graduating_grade(grade: u8) -> bool {
    grade != 5 && crate::school::completes_level(grade.into())
}

/// The register's words for a recognition.
pub fn wording(g: &Graduation) -> String {
    let level = if g.grade == 12 { "THPT" } else { "THCS" };
    format!(
        "Được công nhận tốt nghiệp {level} năm học {} ({}, ngày {})",
        g.year,
        g.decision,
        school::changes::vi_date(&g.decided_on)
    )
}

/// What a graduation list asks to record.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct GraduationList {
    /// "Quyết định số 45/QĐ-PGDĐT".
    pub decision: String,
    /// dd/mm/yyyy or ISO.
    pub decided_on: String,
    /// Student ids; an empty list clears the year's.
    pub students: Vec<String>,
}

/// Replaces the recognised graduates of `year` with `list` (students no longer listed lose
/// theirs). Each must have a stored year-end result of grade 9 or 12 in `year` that completes
/// the level, in a class whose term II is locked; anything else refuses the whole list.
pub fn record(tx: &mut Tx<'_>, year: &str, list: GraduationList) -> Result<usize, GradeError> {
    let invalid = GradeError::Graduation;
    let decision = crate::text::nfc(list.decision.trim());
    if !list.students.is_empty() && (decision.is_empty() || decision.chars().count() > 200) {
        return Err(invalid(
            "Hãy ghi số quyết định công nhận tốt nghiệp (một dòng, tối đa 200 kí tự).".into(),
        ));
    }
    let today = school::changes::today(tx);
    let decided_on = if list.students.is_empty() {
        String::new()
    } else {
        // A real date, not ahead, inside the school year or after its end (review r14 #5):
        // the register import dates a paper line's decision by the same rule.
        school::register_rules::graduation_decided_on(year, &list.decided_on, today)
            .map_err(invalid)?
    };
    let mut problems = Vec::new();
    let mut fresh = Vec::new();
    for id in &list.students {
        match standing(&*tx, year, id)? {
            Err(why) => problems.push(why),
            Ok((class, grade)) => fresh.push(Graduation {
                year: year.to_string(),
                student: id.clone(),
                class,
                grade,
                decision: decision.clone(),
                decided_on: decided_on.clone(),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(format!(
            "Chưa ghi danh sách công nhận tốt nghiệp: {}.",
            problems.join("; ")
        )));
    }
    // Review r16 #3: the decision rests on the year's locked results, so it is dated on or
    // after the day each listed class's term II was locked — not on a day those results did
    // not exist yet.
    let mut classes: Vec<&str> = fresh.iter().map(|g| g.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for id in classes {
        let Some(class) = tx.get(&school::CLASSES, id)? else {
            continue;
        };
        if let Some(lock) = super::class_term_lock(&*tx, &class, TermId::Hk2)?
            && lock.locked
        {
            let locked_on = lock.at.to_zoned(school::time_zone()).date();
            if decided_on.as_str() < locked_on.to_string().as_str() {
                return Err(invalid(format!(
                    "Ngày quyết định {} trước ngày khoá sổ học kì II của lớp {} ({}): quyết định công nhận tốt nghiệp dựa trên kết quả cả năm đã khoá sổ, nên ghi ngày từ {} trở đi.",
                    school::changes::vi_date(&decided_on),
                    class.name,
                    locked_on.strftime("%d/%m/%Y"),
                    locked_on.strftime("%d/%m/%Y")
                )));
            }
        }
    }
    let old: Vec<String> = tx
        .scan(&GRADUATIONS, &format!("{year}/"))?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for k in old {
        if !fresh.iter().any(|g| format!("{year}/{}", g.student) == k) {
            tx.delete(&GRADUATIONS, &k, "grades.graduation_removed")?;
        }
    }
    for g in &fresh {
        let k = format!("{year}/{}", g.student);
        if tx.get(&GRADUATIONS, &k)?.as_ref() != Some(g) {
            tx.put(&GRADUATIONS, &k, g, "grades.graduation")?;
        }
    }
    Ok(fresh.len())
}

/// Whether student `id` may be recognised as graduating in `year`: her class and grade, or
/// why not ("{name}: …") — a stored grade-9/12 year result that completes the level, in a
/// class whose term II is locked. [`record`] and the page's list ([`candidates`]) both ask it.
fn standing(
    r: &impl Read,
    year: &str,
    id: &str,
) -> Result<Result<(String, u8), String>, StoreError> {
    let name = r
        .get(&school::STUDENTS, id)?
        .map(|s| s.full_name)
        .unwrap_or_else(|| id.to_string());
    let Some(res) = r.get(&RESULTS, &format!("{year}/cn/{id}"))? else {
        return Ok(Err(format!("{name}: chưa có kết quả cả năm học {year}")));
    };
    let locked = match r.get(&school::CLASSES, &res.malop)? {
        Some(c) => super::is_class_locked(r, &c, TermId::Hk2)?,
        None => false,
    };
    Ok(if !graduating_grade(res.makhoi) {
        Err(format!(
            "{name}: học lớp {}, không phải lớp cuối cấp",
            res.makhoi
        ))
    } else if !locked {
        Err(format!("{name}: học kì II của lớp chưa khoá sổ"))
    } else if res.ketqua.as_deref() != Some("promoted") {
        Err(format!(
            "{name}: kết quả cả năm chưa hoàn thành chương trình ({})",
            super::forms::stored_decision_wording(r, &res)?
        ))
    } else {
        Ok((res.malop.clone(), res.makhoi))
    })
}

/// A student of the last grade on the graduation page.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub student: String,
    pub name: String,
    pub class_name: String,
    /// The stored year result in the học bạ's words ("" before the year is decided).
    pub result: String,
    /// Why she may not be listed (None: she may).
    pub blocked: Option<String>,
    /// Listed in the decision recorded now.
    pub recorded: bool,
}

/// The students of `year`'s graduating classes (grade 9 or 12), by class then name, each with
/// her year result, whether she may be recognised ([`standing`]) and whether she is.
pub fn candidates(r: &impl Read, year: &str) -> Result<Vec<Candidate>, StoreError> {
    let recorded: std::collections::HashSet<String> =
        of_year(r, year)?.into_iter().map(|g| g.student).collect();
    let mut classes: Vec<school::Class> = r
        .scan(&school::CLASSES, "")?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c: &school::Class| c.year == year && graduating_grade(c.grade))
        .collect();
    classes.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    let mut out = Vec::new();
    for c in classes {
        let students = school::students_of_class(r, &c.id)?;
        for s in students {
            let result = match r.get(&RESULTS, &format!("{year}/cn/{}", s.id))? {
                Some(res) => super::forms::stored_decision_wording(r, &res)?,
                None => String::new(),
            };
            let blocked = standing(r, year, &s.id)?.err().map(|why| {
                why.split_once(": ")
                    .map_or(why.clone(), |(_, w)| w.to_string())
            });
            out.push(Candidate {
                recorded: recorded.contains(&s.id),
                student: s.id,
                name: s.full_name,
                class_name: c.name.clone(),
                result,
                blocked,
            });
        }
    }
    Ok(out)
}

/// The recognised graduates of `year`.
pub fn of_year(r: &impl Read, year: &str) -> Result<Vec<Graduation>, StoreError> {
    Ok(r.scan(&GRADUATIONS, &format!("{year}/"))?
        .into_iter()
        .map(|(_, g)| g)
        .collect())
}
