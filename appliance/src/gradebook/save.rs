//! Writing the gradebook: a cell (`save_cell`, the only way a score is written — a locked
//! term files a correction instead), subject comments, corrections and their decision by the
//! homeroom teacher, conduct/absence/quality records, and the summer's re-assessment.

use super::*;

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct CellEdit {
    pub student: String,
    pub column: String,
    /// What the teacher typed: "8,5", "8.5", "Đ", "B", "KB", "M" or "" to clear.
    pub input: String,
    /// The cell version the teacher's screen showed (0 for an empty cell).
    pub expected_version: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Serialize, Debug)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Saved {
    /// The cell now holds the mark (also when it already did: retries are idempotent).
    Saved {
        cell: Cell,
        text: String,
        result: SubjectOutcome,
        result_text: String,
    },
    /// The term is locked: the change waits for the homeroom teacher's verification.
    CorrectionPending { correction: Correction },
    /// The comment column was saved.
    NoteSaved { text: String, version: u64 },
}

pub(super) fn clean_reason(reason: Option<String>) -> Result<Option<String>, GradeError> {
    let r = reason
        .map(|r| crate::text::nfc(r.trim()))
        .filter(|r| !r.is_empty());
    if r.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(GradeError::ReasonTooLong);
    }
    Ok(r)
}

/// Saves one cell typed by the subject teacher assigned to this class × subject.
pub fn save_cell(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    subject_id: &str,
    term: TermId,
    edit: CellEdit,
) -> Result<Saved, GradeError> {
    if !permits(
        p,
        Action::EnterScores {
            class: class_id,
            subject: subject_id,
        },
    ) {
        return Err(GradeError::NotYourClass);
    }
    let (class, st, spec) = class_subject(tx, class_id, subject_id)?;
    match tx.get(&school::STUDENTS, &edit.student)? {
        Some(s) if s.class_id == class_id => {}
        _ => return Err(GradeError::UnknownStudent(edit.student)),
    }
    if edit.column == NOTE_COLUMN {
        return save_note(tx, p, &class, subject_id, term, edit);
    }
    if !spec.columns().contains(&edit.column) {
        return Err(GradeError::UnknownColumn(edit.column));
    }
    let mark = parse_cell(&edit.input, &spec, &edit.column, &st)?;
    // Đ10 exempts GDTC (GDQP-AN at THPT) only; any other subject only for a student with a
    // disability (Đ11), the same rule `tram grades check` applies.
    if mark == Mark::Exempt
        && !tt22::exemptible(&spec.name, class.grade)
        && !school::student_profile(tx, &edit.student)?.disability
    {
        return Err(GradeError::NotExemptible(spec.name));
    }
    let reason = clean_reason(edit.reason)?;
    let key = row_key(class_id, subject_id, term, &edit.student);
    let mut row = tx.get(&ROWS, &key)?.unwrap_or_default();
    let current = row.cells.get(&edit.column).cloned();
    let current_mark = current.as_ref().map_or(Mark::Pending, |c| c.mark);
    whole_term(&row, &spec.columns(), &edit.column, mark)?;
    let current_version = current.as_ref().map_or(0, |c| c.version);
    let locked = is_class_locked(tx, &class, term)?;
    if current_mark == mark && !locked {
        // A retry of a save that already landed, or a no-op: nothing to write.
        let cell = current.unwrap_or(Cell {
            mark,
            version: 0,
            by: p.id().into(),
            at: tx.now(),
            reason: None,
        });
        let result = subject_term(&spec, Some(&row));
        return Ok(Saved::Saved {
            text: mark.text(),
            cell,
            result,
            result_text: result.text(),
        });
    }
    if current_version != edit.expected_version {
        return Err(GradeError::Conflict { current });
    }
    if locked {
        // A correction that changes nothing would still count as a "chỗ sửa chữa" on the học bạ.
        if mark == current_mark {
            return Err(GradeError::Unchanged);
        }
        let reason = reason.ok_or(GradeError::ReasonRequired)?;
        let corrections = tx.scan(&CORRECTIONS, "")?;
        // A retried or double-sent save of the same change makes one request, not two.
        if let Some((_, same)) = corrections.iter().find(|(_, c)| {
            c.status == CorrectionStatus::Pending
                && c.class == class_id
                && c.subject == subject_id
                && c.term == term
                && c.student == edit.student
                && c.column == edit.column
                && c.to == mark
                && c.by == p.id()
        }) {
            return Ok(Saved::CorrectionPending {
                correction: same.clone(),
            });
        }
        let n = corrections.len() + 1;
        let correction = Correction {
            id: format!("sd{n:06}"),
            class: class_id.into(),
            subject: subject_id.into(),
            term,
            student: edit.student,
            column: edit.column,
            from: current_mark,
            to: mark,
            reason,
            by: p.id().into(),
            at: tx.now(),
            status: CorrectionStatus::Pending,
            decided_by: None,
            decided_at: None,
        };
        tx.put(
            &CORRECTIONS,
            &correction.id,
            &correction,
            "grades.correction.request",
        )?;
        return Ok(Saved::CorrectionPending { correction });
    }
    let cell = Cell {
        mark,
        version: current_version + 1,
        by: p.id().into(),
        at: tx.now(),
        reason,
    };
    row.cells.insert(edit.column, cell.clone());
    tx.put(&ROWS, &key, &row, "grades.cell")?;
    let result = subject_term(&spec, Some(&row));
    Ok(Saved::Saved {
        text: mark.text(),
        cell,
        result,
        result_text: result.text(),
    })
}

/// The subject teacher's comment on a student for the term. After the term is locked a change
/// needs a reason (kept in the audit log); comments do not change any result.
pub(super) fn save_note(
    tx: &mut Tx<'_>,
    p: &Principal,
    class: &Class,
    subject_id: &str,
    term: TermId,
    edit: CellEdit,
) -> Result<Saved, GradeError> {
    let text = crate::text::nfc(edit.input.trim());
    if text.chars().count() > 500 {
        return Err(GradeError::NoteTooLong);
    }
    let key = row_key(&class.id, subject_id, term, &edit.student);
    let mut row = tx.get(&ROWS, &key)?.unwrap_or_default();
    let current = row.note.clone();
    if current.as_ref().map_or("", |n| n.text.as_str()) == text {
        return Ok(Saved::NoteSaved {
            text,
            version: current.map_or(0, |n| n.version),
        });
    }
    let version = current.as_ref().map_or(0, |n| n.version);
    if version != edit.expected_version {
        return Err(GradeError::NoteConflict { current });
    }
    let reason = clean_reason(edit.reason)?;
    if is_class_locked(tx, class, term)? && reason.is_none() {
        return Err(GradeError::ReasonRequired);
    }
    row.note = (!text.is_empty()).then(|| Note {
        text: text.clone(),
        version: version + 1,
        by: p.id().into(),
        at: tx.now(),
    });
    tx.put(
        &ROWS,
        &key,
        &row,
        if reason.is_some() {
            "grades.note.corrected"
        } else {
            "grades.note"
        },
    )?;
    if let Some(r) = reason {
        tx.event(
            "grades.note.reason",
            &key,
            Some(serde_json::json!({ "reason": r })),
        );
    }
    Ok(Saved::NoteSaved {
        text,
        version: version + 1,
    })
}

/// Who may verify a correction to a locked term: always a second person. The class's homeroom
/// teacher verifies what a subject teacher asked for; a correction the homeroom teacher asked
/// for (or anyone else who cannot verify their own) is verified by BGH.
///
/// `homeroom` is the class's homeroom teacher (account id), if it has one.
pub fn may_decide_correction(
    p: &Principal,
    c: &Correction,
    homeroom: Option<&str>,
) -> Result<(), GradeError> {
    if c.by == p.id() {
        return Err(GradeError::SecondPersonNeeded);
    }
    // Deciding changes a locked grade: not by an account someone else set the password of this
    // week (auth::permission::Principal::quarantined).
    if p.quarantined {
        return Err(GradeError::Quarantined);
    }
    let asked_by_homeroom = homeroom.is_none_or(|h| h == c.by);
    if p.homeroom.contains(&c.class) || (p.is_bgh() && asked_by_homeroom) {
        Ok(())
    } else {
        Err(GradeError::NotHomeroom)
    }
}

/// The homeroom teacher (or BGH) verifies (applies) or rejects a correction to a locked term.
/// An exemption is for a whole term of the subject (Đ10; the CLI's `exempt: "term1"`): a row is
/// all "M" or has none. A lone "M" beside marks used to be saved and leave the term incomplete
/// with no word why. Empty cells may sit beside either while the row is typed. Checked when a
/// cell is saved and again when a correction is approved (two pending corrections, each fine
/// alone, must not make a mixed row).
fn whole_term(
    row: &ScoreRow,
    columns: &[String],
    column: &str,
    mark: Mark,
) -> Result<(), GradeError> {
    let other = |want: fn(Mark) -> bool| {
        columns
            .iter()
            .filter(|c| *c != column)
            .find(|c| row.cells.get(*c).is_some_and(|x| want(x.mark)))
    };
    if mark == Mark::Exempt
        && let Some(c) = other(|m| !matches!(m, Mark::Pending | Mark::Exempt))
    {
        return Err(GradeError::ExemptBesideMarks(c.to_uppercase()));
    }
    if !matches!(mark, Mark::Pending | Mark::Exempt)
        && let Some(c) = other(|m| m == Mark::Exempt)
    {
        return Err(GradeError::MarkBesideExempt(c.to_uppercase()));
    }
    Ok(())
}

pub fn decide_correction(
    tx: &mut Tx<'_>,
    p: &Principal,
    id: &str,
    approve: bool,
) -> Result<Correction, GradeError> {
    let mut c = tx
        .get(&CORRECTIONS, id)?
        .ok_or_else(|| GradeError::UnknownCorrection(id.to_string()))?;
    let homeroom = class_of(tx, &c.class)?.homeroom;
    may_decide_correction(p, &c, homeroom.as_deref())?;
    if c.status != CorrectionStatus::Pending {
        return Err(GradeError::CorrectionDecided);
    }
    c.status = if approve {
        CorrectionStatus::Verified
    } else {
        CorrectionStatus::Rejected
    };
    c.decided_by = Some(p.id().to_string());
    c.decided_at = Some(tx.now());
    if approve {
        let key = row_key(&c.class, &c.subject, c.term, &c.student);
        let mut row = tx.get(&ROWS, &key)?.unwrap_or_default();
        let current = row.cells.get(&c.column).cloned();
        if current.as_ref().map_or(Mark::Pending, |x| x.mark) != c.from {
            return Err(GradeError::Conflict { current });
        }
        let (_, _, spec) = class_subject(tx, &c.class, &c.subject)?;
        whole_term(&row, &spec.columns(), &c.column, c.to)?;
        let version = current.map_or(0, |x| x.version) + 1;
        row.cells.insert(
            c.column.clone(),
            Cell {
                mark: c.to,
                version,
                by: c.by.clone(),
                at: tx.now(),
                reason: Some(c.reason.clone()),
            },
        );
        tx.put(&ROWS, &key, &row, "grades.cell.corrected")?;
        let class = class_of(tx, &c.class)?;
        refresh_results(tx, &class, c.term, &c.student)?;
    }
    tx.put(
        &CORRECTIONS,
        id,
        &c,
        if approve {
            "grades.correction.verify"
        } else {
            "grades.correction.reject"
        },
    )?;
    Ok(c)
}

pub fn pending_corrections(r: &impl Read, p: &Principal) -> Result<Vec<Correction>, StoreError> {
    let mut homerooms: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for (_, c) in r.scan(&CORRECTIONS, "")? {
        if c.status != CorrectionStatus::Pending {
            continue;
        }
        if !homerooms.contains_key(&c.class) {
            let h = r.get(&school::CLASSES, &c.class)?.and_then(|k| k.homeroom);
            homerooms.insert(c.class.clone(), h);
        }
        let h = homerooms.get(&c.class).cloned().flatten();
        if may_decide_correction(p, &c, h.as_deref()).is_ok() || c.by == p.id() {
            out.push(c);
        }
    }
    Ok(out)
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RecordEdit {
    pub student: String,
    /// "Tốt", "Khá", "Đạt", "Chưa đạt" or "" to clear.
    #[serde(default)]
    pub conduct: Option<String>,
    #[serde(default)]
    pub absences: Option<u16>,
    /// Of the absences, có phép (the rest are không phép).
    #[serde(default)]
    pub excused: Option<u16>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Primary: quality or competence name → "Tốt" / "Đạt" / "Cần cố gắng" ("" clears).
    #[serde(default)]
    pub qualities: Option<BTreeMap<String, String>>,
    /// Primary: quality or competence name → the GVCN's comment ("" clears). Beside
    /// `qualities`, so the levels-only body of earlier clients keeps its meaning.
    #[serde(default)]
    pub quality_comments: Option<BTreeMap<String, String>>,
    /// Primary, term II: the class's recognition for "Học sinh Tiêu biểu" (TT27 Đ13 k1 a).
    #[serde(default)]
    pub recognised_by_class: Option<bool>,
}

/// Conduct, absences and comment, decided by the homeroom teacher (Đ8, Đ20).
pub fn save_record(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    term: TermId,
    e: RecordEdit,
) -> Result<TermRecord, GradeError> {
    if !p.homeroom.iter().any(|c| c == class_id) {
        return Err(GradeError::NotHomeroom);
    }
    let class = class_of(tx, class_id)?;
    if is_class_locked(tx, &class, term)? {
        return Err(GradeError::AlreadyLocked(term.label()));
    }
    match tx.get(&school::STUDENTS, &e.student)? {
        Some(s) if s.class_id == class_id => {}
        _ => return Err(GradeError::UnknownStudent(e.student)),
    }
    let key = record_key(class_id, term, &e.student);
    let mut rec = tx.get(&RECORDS, &key)?.unwrap_or_default();
    if let Some(c) = e.conduct {
        rec.conduct = if c.trim().is_empty() {
            None
        } else {
            Some(Level::parse(&c).ok_or(GradeError::BadConduct(c))?)
        };
    }
    if let Some(a) = e.absences {
        if a > 365 {
            return Err(GradeError::BadAbsences);
        }
        rec.absences = a;
    }
    if let Some(x) = e.excused {
        rec.excused = Some(x);
    }
    if let Some(x) = rec.excused
        && x > rec.absences
    {
        return Err(GradeError::ExcusedOverTotal {
            excused: x,
            total: rec.absences,
        });
    }
    if let Some(c) = e.comment {
        let c = crate::text::nfc(c.trim());
        if c.chars().count() > 1000 {
            return Err(GradeError::Import(
                "Nhận xét quá dài (tối đa 1000 kí tự)".into(),
            ));
        }
        rec.comment = c;
    }
    if let Some(q) = e.qualities {
        for (name, level) in q {
            let name = crate::text::nfc(name.trim());
            if !tt27::QUALITIES.contains(&name.as_str())
                && !tt27::COMPETENCES.contains(&name.as_str())
            {
                return Err(GradeError::UnknownQuality(name));
            }
            if level.trim().is_empty() {
                rec.qualities.remove(&name);
            } else {
                let l = QualityLevel::parse(&level).ok_or(GradeError::BadQuality(level))?;
                rec.qualities.insert(name, l);
            }
        }
    }
    if let Some(q) = e.quality_comments {
        for (name, comment) in q {
            let name = crate::text::nfc(name.trim());
            if !tt27::QUALITIES.contains(&name.as_str())
                && !tt27::COMPETENCES.contains(&name.as_str())
            {
                return Err(GradeError::UnknownQuality(name));
            }
            let c = crate::text::nfc(comment.trim());
            if c.chars().count() > 500 {
                return Err(GradeError::NoteTooLong);
            }
            if c.is_empty() {
                rec.quality_comments.remove(&name);
            } else {
                rec.quality_comments.insert(name, c);
            }
        }
    }
    if let Some(b) = e.recognised_by_class {
        // The recognition is of the school year, voted at its end: term II's record holds it.
        if term != TermId::Hk2 {
            return Err(GradeError::RecognitionInTermTwo);
        }
        rec.recognised_by_class = b;
    }
    rec.version += 1;
    tx.put(&RECORDS, &key, &rec, "grades.record")?;
    Ok(rec)
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SummerEdit {
    pub student: String,
    /// Re-evaluated conduct after summer training ("" clears) — the homeroom teacher.
    #[serde(default)]
    pub conduct: Option<String>,
    /// A re-assessed subject and its result as typed — its teacher or the homeroom teacher.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub input: Option<String>,
}

/// Records a summer result (Đ13, Đ14) for a student the year sent to the summer. When term II is
/// locked the stored year result is refreshed (and relayed with a higher version).
pub fn save_summer(
    tx: &mut Tx<'_>,
    p: &Principal,
    class_id: &str,
    e: SummerEdit,
) -> Result<SummerRecord, GradeError> {
    let class = class_of(tx, class_id)?;
    let st = settings(tx)?;
    let book = class_book(tx, class_id, &st)?;
    let i = book
        .students
        .iter()
        .position(|s| s.id == e.student)
        .ok_or_else(|| GradeError::UnknownStudent(e.student.clone()))?;
    let y = &book.year[i];
    let homeroom = p.homeroom.contains(&class.id);
    // Nothing is read for, or written by, someone with no role in the class: the homeroom
    // teacher (conduct, any subject) or a teacher of a subject being re-assessed (that subject).
    let teaches_here = p.teaches.iter().any(|(c, _)| c == class_id);
    if !homeroom && !teaches_here {
        return Err(GradeError::NotYourClass);
    }
    if e.conduct.is_none() && e.subject.is_none() {
        return Err(GradeError::NothingToSave);
    }
    // Why the year owes no summer, when it is a retention for absences: the teacher otherwise
    // sees a bare refusal beside a Chưa đạt that looks like it owes one (the CLI says why).
    let why = if y.outcome == Some(Outcome::Retained) && y.absences > st.tt22.max_absences {
        format!(
            " (nghỉ {} buổi, quá {} buổi: ở lại lớp, không rèn luyện hè hay kiểm tra lại)",
            y.absences, st.tt22.max_absences
        )
    } else {
        String::new()
    };
    let mut rec = y.summer.clone();
    if let Some(c) = e.conduct {
        if !homeroom {
            return Err(GradeError::NotHomeroom);
        }
        // Only a year conduct of Chưa đạt is re-evaluated after summer training (Đ13); for
        // anyone else a summer conduct would be an input error, not a retention.
        if !matches!(
            y.outcome,
            Some(Outcome::SummerConduct | Outcome::SummerBoth)
        ) {
            return Err(GradeError::NotInSummer {
                who: book.students[i].full_name.clone(),
                why,
            });
        }
        rec.conduct = if c.trim().is_empty() {
            None
        } else {
            Some(Level::parse(&c).ok_or(GradeError::BadConduct(c))?)
        };
    }
    if let Some(subject) = e.subject {
        let si = book
            .subjects
            .iter()
            .position(|s| s.id == subject)
            .ok_or(GradeError::UnknownSubject(subject.clone()))?;
        if !homeroom
            && !permits(
                p,
                Action::EnterScores {
                    class: class_id,
                    subject: &subject,
                },
            )
        {
            return Err(GradeError::NotYourClass);
        }
        if !y.reassess.contains(&si) {
            return Err(GradeError::NotInSummer {
                who: format!(
                    "{} — {}",
                    book.students[i].full_name, book.subjects[si].name
                ),
                why,
            });
        }
        let input = e.input.unwrap_or_default();
        match parse_mark(&input, book.subjects[si].kind)? {
            Mark::Pending => {
                rec.reassessed.remove(&subject);
            }
            m @ (Mark::Score(_) | Mark::Pass(_) | Mark::ZeroNoMakeUp) => {
                rec.reassessed.insert(subject, m);
            }
            _ => {
                return Err(GradeError::Import(
                    "Kết quả kiểm tra lại phải là điểm hoặc Đ/CĐ".into(),
                ));
            }
        }
    }
    rec.version += 1;
    tx.put(
        &SUMMER,
        &format!("{class_id}/{}", e.student),
        &rec,
        "grades.summer",
    )?;
    refresh_results(tx, &class, TermId::Hk2, &e.student)?;
    Ok(rec)
}
