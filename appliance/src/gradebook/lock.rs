//! Locking a term: the results stored with the rule version that computed them (relayed to
//! the district), the incomplete classes a lock waits for, unlocking, recomputing stored
//! results under a new rule version, and the school's gradebook settings.

use super::*;

/// The sector-database code of a level (mahocluc, mahanhkiem): 1 Tốt, 2 Khá, 3 Đạt, 4 Chưa đạt.
pub fn level_code(l: Level) -> u8 {
    match l {
        Level::Tot => 1,
        Level::Kha => 2,
        Level::Dat => 3,
        Level::ChuaDat => 4,
    }
}

/// The stored results a class's book gives for a term (and the year, after term II).
pub(super) fn results_of(
    book: &ClassBook,
    term: TermId,
    matruong: &str,
    rule: RuleVersion,
) -> Vec<(String, StoredResult)> {
    let year = &book.class.year;
    let mut out = Vec::new();
    for (i, s) in book.students.iter().enumerate() {
        let diem = |outcomes: &[SubjectOutcome]| {
            book.subjects
                .iter()
                .zip(outcomes)
                .map(|(sp, o)| (sp.id.clone(), o.relay_value()))
                .collect()
        };
        let t = &book.term(term)[i];
        let base = StoredResult {
            rule_version: rule,
            matruong: matruong.into(),
            makhoi: book.class.grade,
            malop: book.class.id.clone(),
            mahocsinh: s.id.clone(),
            sodinhdanh: s.ma_dinh_danh.clone(),
            hocky: if term == TermId::Hk1 { "1" } else { "2" }.into(),
            diemmon: diem(&t.subjects),
            mahocluc: t.level.map(|c| level_code(c.level)),
            mahanhkiem: t.conduct.map(level_code),
            songaynghi: t.absences,
            danhhieu: None,
            ketqua: None,
            colenlop: None,
            corenluyenlai: None,
            nhanxet: t.comment.clone(),
            phienban: 1,
            dangmolai: false,
        };
        out.push((format!("{year}/{}/{}", term.code(), s.id), base.clone()));
        if term == TermId::Hk2 {
            let y = &book.year[i];
            out.push((
                format!("{year}/cn/{}", s.id),
                StoredResult {
                    hocky: "CN".into(),
                    diemmon: diem(&y.subjects),
                    mahocluc: y
                        .after_summer
                        .map(|a| level_code(a.level))
                        .or(y.level.map(|c| level_code(c.level))),
                    mahanhkiem: y
                        .after_summer
                        .map(|a| level_code(a.conduct))
                        .or(y.conduct.map(level_code)),
                    songaynghi: y.absences,
                    danhhieu: y.award_label().map(String::from),
                    // The decision that stands: after the summer once it is recorded.
                    ketqua: y
                        .final_outcome()
                        .map(|o| o.code().to_string())
                        .or_else(|| y.primary.map(|r| r.code().to_string())),
                    // Undecided while the principal has not ruled (Đ12 k4).
                    colenlop: y
                        .final_outcome()
                        .filter(|o| *o != Outcome::PrincipalDecides)
                        .map(|o| o == Outcome::Promoted)
                        .or_else(|| y.primary.map(|r| r.completed())),
                    corenluyenlai: y
                        .outcome
                        .map(|o| matches!(o, Outcome::SummerConduct | Outcome::SummerBoth)),
                    nhanxet: String::new(),
                    ..base
                },
            ));
        }
    }
    out
}

/// Rewrites the stored results of one student of a class for a locked term after a change to
/// that student's record (a verified correction, the summer), only where they changed (each
/// changed one gets a higher `phienban` and goes to the outbox). Returns how many changed.
/// Only that student's: the settings may have changed since the lock, and recomputing the
/// whole class under them rewrote every classmate's locked results — and left their signed
/// học bạ disagreeing with the box — for one student's correction.
pub(super) fn refresh_results(
    tx: &mut Tx<'_>,
    class: &Class,
    term: TermId,
    student: &str,
) -> Result<usize, GradeError> {
    let Some(lock) = class_term_lock(tx, class, term)?.filter(|l| l.locked) else {
        return Ok(0);
    };
    let st = settings(tx)?;
    let book = class_book(tx, &class.id, &st)?;
    write_results(tx, &book, term, lock.rule_version, Some(student))
}

/// Writes the results of one class book, only where they changed.
pub(super) fn store_results(
    tx: &mut Tx<'_>,
    book: &ClassBook,
    term: TermId,
    rule: RuleVersion,
) -> Result<usize, GradeError> {
    write_results(tx, book, term, rule, None)
}

/// [`store_results`] for every student of the book, or only `only`.
fn write_results(
    tx: &mut Tx<'_>,
    book: &ClassBook,
    term: TermId,
    rule: RuleVersion,
    only: Option<&str>,
) -> Result<usize, GradeError> {
    let matruong = school::school_info(tx)?.map(|i| i.code).unwrap_or_default();
    let mut changed = 0;
    for (key, mut fresh) in results_of(book, term, &matruong, rule) {
        if only.is_some_and(|s| s != fresh.mahocsinh) {
            continue;
        }
        let old = tx.get(&RESULTS, &key)?;
        if let Some(old) = &old {
            fresh.phienban = old.phienban;
            if *old == fresh {
                continue;
            }
            fresh.phienban = old.phienban + 1;
        }
        tx.put(&RESULTS, &key, &fresh, "grades.result")?;
        changed += 1;
    }
    Ok(changed)
}

#[derive(Serialize, Debug)]
pub struct LockReport {
    pub classes: usize,
    pub students: usize,
    pub incomplete: usize,
    pub results_written: usize,
    pub rule_version: RuleVersion,
}

pub(super) fn classes_of_year(r: &impl Read, year: &str) -> Result<Vec<Class>, StoreError> {
    Ok(school::list(r, &school::CLASSES)?
        .into_iter()
        .filter(|c| c.year == year)
        .collect())
}

/// How many students of these books still have an incomplete term (subjects, and conduct or
/// qualities).
pub(super) fn count_incomplete(books: &[ClassBook], term: TermId) -> usize {
    books
        .iter()
        .map(|b| {
            (0..b.students.len())
                .filter(|i| !b.is_complete(term, *i))
                .count()
        })
        .sum()
}

/// What one class still lacks before a term lock (issue 20 item 11): the subjects with missing
/// marks, and how many students lack their conduct (secondary) or qualities (primary, term II).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct IncompleteClass {
    pub class: String,
    pub class_name: String,
    /// Students with anything missing.
    pub students: usize,
    /// Subject names with at least one student's marks missing, in the book's order.
    pub subjects: Vec<String>,
    /// Students whose subjects are all in but whose conduct (or qualities) is not.
    pub without_record: usize,
}

/// The subjects (indexes into the book's) in which student `i` has no final result for `term`.
pub fn missing_subjects(b: &ClassBook, term: TermId, i: usize) -> Vec<usize> {
    b.term(term)[i]
        .subjects
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            if b.is_primary() {
                !matches!(o, SubjectOutcome::Primary(..) | SubjectOutcome::Exempt)
            } else {
                matches!(o, SubjectOutcome::Incomplete(_))
            }
        })
        .map(|(j, _)| j)
        .collect()
}

/// The classes of these books with an incomplete term, in the books' order.
pub fn incomplete_classes(books: &[ClassBook], term: TermId) -> Vec<IncompleteClass> {
    let mut out = vec![];
    for b in books {
        let mut subjects = vec![false; b.subjects.len()];
        let (mut students, mut without_record) = (0, 0);
        for i in 0..b.students.len() {
            if b.is_complete(term, i) {
                continue;
            }
            students += 1;
            let missing = missing_subjects(b, term, i);
            for j in &missing {
                subjects[*j] = true;
            }
            without_record += usize::from(missing.is_empty());
        }
        if students > 0 {
            out.push(IncompleteClass {
                class: b.class.id.clone(),
                class_name: b.class.name.clone(),
                students,
                subjects: b
                    .subjects
                    .iter()
                    .zip(&subjects)
                    .filter(|(_, m)| **m)
                    .map(|(s, _)| s.name.clone())
                    .collect(),
                without_record,
            });
        }
    }
    out
}

/// BGH locks a term for the whole school, or for one class (`class`): results are computed by
/// the current rule version, stored and queued for the district. Refuses while students are
/// incomplete unless `force`. A school lock leaves a class locked on its own as it is (its
/// results and lock time, which its signed học bạ name, stay) and ends a class's own reopening.
pub fn lock_term(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    term: TermId,
    class: Option<&str>,
    force: bool,
) -> Result<LockReport, GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    // Not before the term's first day in the school's calendar (review r24 #2: term II could
    // be force-locked in December, storing and relaying year results nobody had taught).
    if let Some(y) = tx.get(&school::YEARS, year)?
        && let Some(t) = y.terms.iter().find(|t| t.id == term.code())
        && let Ok(start) = t.start.parse::<jiff::civil::Date>()
        && school::changes::today(tx) < start
    {
        return Err(GradeError::TermNotStarted {
            term: term.label(),
            start: start.strftime("%d/%m/%Y").to_string(),
        });
    }
    let st = settings(tx)?;
    let one = class.map(|c| class_of(tx, c)).transpose()?;
    let mut books = Vec::new();
    match &one {
        Some(c) => {
            if c.year != year {
                return Err(GradeError::UnknownClass(c.id.clone()));
            }
            if is_class_locked(tx, c, term)? {
                return Err(GradeError::AlreadyLocked(term.label()));
            }
            books.push(class_book(tx, &c.id, &st)?);
        }
        None => {
            if is_locked(tx, year, term)? {
                return Err(GradeError::AlreadyLocked(term.label()));
            }
            // One pass over the school: the same books are counted and then stored.
            for book in school_books(tx, year, &st)? {
                let own = tx.get(&LOCKS, &class_lock_key(&book.class, term))?;
                match own {
                    Some(l) if l.locked => continue,
                    Some(_) => {
                        tx.delete(
                            &LOCKS,
                            &class_lock_key(&book.class, term),
                            "grades.term.lock",
                        )?;
                    }
                    None => {}
                }
                books.push(book);
            }
        }
    }
    let incomplete = count_incomplete(&books, term);
    if incomplete > 0 && !force {
        return Err(GradeError::Incomplete {
            students: incomplete,
            classes: incomplete_classes(&books, term),
        });
    }
    let (classes, students) = (books.len(), books.iter().map(|b| b.students.len()).sum());
    let rule_version = RuleVersion::current_for_primary(is_primary(tx)?);
    let lock = TermLock {
        locked: true,
        rule_version,
        by: p.id().into(),
        at: tx.now(),
        reason: None,
        homerooms: books
            .iter()
            .filter_map(|b| Some((b.class.id.clone(), b.class.homeroom.clone()?)))
            .collect(),
    };
    let key = match &one {
        Some(c) => class_lock_key(c, term),
        None => lock_key(year, term),
    };
    tx.put(&LOCKS, &key, &lock, "grades.term.lock")?;
    let mut results_written = 0;
    for book in &books {
        results_written += store_results(tx, book, term, rule_version)?;
    }
    let locked: std::collections::HashSet<&str> =
        books.iter().map(|b| b.class.id.as_str()).collect();
    results_written += settle_reopened(tx, year, term, &locked)?;
    Ok(LockReport {
        classes,
        students,
        incomplete,
        results_written,
        rule_version,
    })
}

/// BGH reopens a locked term, for the whole school or one class, with a reason (audited). A
/// school unlock leaves classes locked on their own locked; a class reopened inside a school
/// lock gets a record of its own.
pub fn unlock_term(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    term: TermId,
    class: Option<&str>,
    reason: Option<String>,
) -> Result<(), GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    let reason = clean_reason(reason)?.ok_or(GradeError::ReasonRequired)?;
    let (key, lock) = match class {
        Some(c) => {
            let c = class_of(tx, c)?;
            (class_lock_key(&c, term), class_term_lock(tx, &c, term)?)
        }
        None => (lock_key(year, term), term_lock(tx, year, term)?),
    };
    let mut lock = lock
        .filter(|l| l.locked)
        .ok_or(GradeError::NotLocked(term.label()))?;
    lock.locked = false;
    lock.by = p.id().into();
    lock.at = tx.now();
    lock.reason = Some(reason);
    tx.put(&LOCKS, &key, &lock, "grades.term.unlock")?;
    mark_reopened(tx, year, term, class)?;
    Ok(())
}

/// The stored results a reopening makes provisional, marked `dangmolai` (a new `phienban`, so
/// the relay carries the mark to the hub): the term's — and the year's, when term II is
/// reopened — of the class reopened, or of every class of the year the school's lock held (a
/// class locked on its own stays as it is). Locking the term again stores them afresh.
fn mark_reopened(
    tx: &mut Tx<'_>,
    year: &str,
    term: TermId,
    class: Option<&str>,
) -> Result<(), GradeError> {
    let mut classes = std::collections::HashSet::new();
    match class {
        Some(c) => {
            classes.insert(c.to_string());
        }
        None => {
            for c in school::list(tx, &school::CLASSES)? {
                let c: school::Class = c;
                if c.year == year && super::class_own_lock(tx, &c, term)?.is_none() {
                    classes.insert(c.id);
                }
            }
        }
    }
    let periods: &[&str] = match term {
        TermId::Hk1 => &["hk1"],
        TermId::Hk2 => &["hk2", "cn"],
    };
    for period in periods {
        for (key, mut res) in tx.scan(&RESULTS, &format!("{year}/{period}/"))? {
            if res.dangmolai || !classes.contains(&res.malop) {
                continue;
            }
            res.dangmolai = true;
            res.phienban += 1;
            tx.put(&RESULTS, &key, &res, "grades.result")?;
        }
    }
    Ok(())
}

/// The results of `classes` still marked `dangmolai` once their term is locked again: those
/// of pupils no longer in the class, whom the lock did not store afresh. A pupil who left the
/// school *after* the term ended (a summer transfer recorded while the year was reopened) was
/// assessed for the whole term, and nothing of hers could change in the class meanwhile: her
/// result stands as it was locked before — the mark is taken off (a new `phienban`, relayed),
/// never left hiding it from the register, the hub and the CSDL for good. One who left during
/// the term, or moved to another class (whose lock stores her results there), keeps the mark:
/// that term's result is not hers to print (review r26 #3: a pupil withdrawn in April printed
/// as a graduate). Returns how many were given back.
fn settle_reopened(
    tx: &mut Tx<'_>,
    year: &str,
    term: TermId,
    classes: &std::collections::HashSet<&str>,
) -> Result<usize, GradeError> {
    let periods: &[&str] = match term {
        TermId::Hk1 => &["hk1"],
        TermId::Hk2 => &["hk2", "cn"],
    };
    let Some(end) = tx
        .get(&school::YEARS, year)?
        .and_then(|y| y.terms.into_iter().find(|t| t.id == term.code()))
        .map(|t| t.end)
    else {
        return Ok(0);
    };
    let mut settled = 0;
    for period in periods {
        for (key, mut res) in tx.scan(&RESULTS, &format!("{year}/{period}/"))? {
            if !res.dangmolai || !classes.contains(res.malop.as_str()) {
                continue;
            }
            // ISO dates compare as text.
            let left_after = tx
                .get(&school::STUDENTS, &res.mahocsinh)?
                .and_then(|s| s.left)
                .is_some_and(|l| l.date > end);
            if !left_after {
                continue;
            }
            res.dangmolai = false;
            res.phienban += 1;
            tx.put(&RESULTS, &key, &res, "grades.result")?;
            settled += 1;
        }
    }
    Ok(settled)
}

/// One stored result that a recomputation would change.
#[derive(Serialize, Debug)]
pub struct ResultChange {
    pub key: String,
    pub student: String,
    pub before: Option<StoredResult>,
    pub after: StoredResult,
}

/// What recomputing a locked term with `rule` would change — shown to BGH before applying.
pub fn recompute_preview(
    r: &impl Read,
    year: &str,
    term: TermId,
    rule: RuleVersion,
) -> Result<Vec<ResultChange>, GradeError> {
    if !is_locked(r, year, term)? {
        return Err(GradeError::NotLocked(term.label()));
    }
    let st = settings(r)?;
    let matruong = school::school_info(r)?.map(|i| i.code).unwrap_or_default();
    let mut out = Vec::new();
    for book in under_school_lock(r, year, term, &st)? {
        for (key, mut fresh) in results_of(&book, term, &matruong, rule) {
            let old = r.get(&RESULTS, &key)?;
            if let Some(o) = &old {
                fresh.phienban = o.phienban;
            }
            if old.as_ref() != Some(&fresh) {
                let student = fresh.mahocsinh.clone();
                out.push(ResultChange {
                    key,
                    student,
                    before: old,
                    after: fresh,
                });
            }
        }
    }
    Ok(out)
}

/// Applies a recomputation BGH asked for: the term now records `rule`.
pub fn recompute_apply(
    tx: &mut Tx<'_>,
    p: &Principal,
    year: &str,
    term: TermId,
    rule: RuleVersion,
) -> Result<usize, GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    let mut lock = term_lock(tx, year, term)?
        .filter(|l| l.locked)
        .ok_or(GradeError::NotLocked(term.label()))?;
    lock.rule_version = rule;
    lock.by = p.id().into();
    lock.at = tx.now();
    tx.put(
        &LOCKS,
        &lock_key(year, term),
        &lock,
        "grades.term.recompute",
    )?;
    let st = settings(tx)?;
    let mut n = 0;
    for book in under_school_lock(tx, year, term, &st)? {
        n += store_results(tx, &book, term, rule)?;
    }
    Ok(n)
}

/// The books of the classes the school's lock of `term` holds for: not a class with a record
/// of its own — locked alone (its results, rule version and signed học bạ belong to its own
/// lock; a recompute rewrote them under the signatures) or reopened alone (open: nothing of it
/// is stored until it is locked again).
fn under_school_lock(
    r: &impl Read,
    year: &str,
    term: TermId,
    st: &Settings,
) -> Result<Vec<ClassBook>, GradeError> {
    let mut books = Vec::new();
    for class in classes_of_year(r, year)? {
        if class_own_lock(r, &class, term)?.is_none() {
            books.push(class_book(r, &class.id, st)?);
        }
    }
    Ok(books)
}

pub fn save_settings(
    tx: &mut Tx<'_>,
    p: &Principal,
    patch: serde_json::Value,
) -> Result<Settings, GradeError> {
    if !permits(p, Action::LockTerm) {
        return Err(GradeError::Forbidden);
    }
    // A JSON merge patch (RFC 7396) over the stored settings: a BGH member who changes one
    // reading (`{"tt22": {"max_absences": 45}}`) must not reset every other one to its
    // default, as a whole-record PUT did. Objects merge key by key, null removes a key (its
    // default comes back), anything else replaces.
    if !patch.is_object() {
        return Err(GradeError::BadSettings(
            "Cài đặt phải là một đối tượng JSON".into(),
        ));
    }
    let mut merged = serde_json::to_value(settings(tx)?)
        .map_err(|e| GradeError::BadSettings(format!("Không đọc được cài đặt đang lưu: {e}")))?;
    merge_patch(&mut merged, patch);
    let s: Settings = serde_json::from_value(merged)
        .map_err(|e| GradeError::BadSettings(format!("Cài đặt không hợp lệ: {e}")))?;
    if !(1..=10).contains(&s.tt22.comment_regular_count)
        || s.regular_count.values().any(|n| !(1..=10).contains(n))
    {
        return Err(GradeError::BadSettings(
            "Số lần đánh giá thường xuyên phải từ 1 đến 10".into(),
        ));
    }
    if s.tt27.min_test_score > 10 {
        return Err(GradeError::BadSettings(
            "Điểm bài kiểm tra thấp nhất (tiểu học) phải từ 0 đến 10".into(),
        ));
    }
    tx.put(&SETTINGS, "school", &s, "grades.settings")?;
    Ok(s)
}

/// RFC 7396: `patch` applied to `target`.
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge_patch(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}
