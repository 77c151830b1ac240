//! Results computed from the stored rows: a subject's outcome per term and year, each
//! student's term and year (through `rules::tt22::decide_year` / `rules::tt27::decide_year`, the
//! one decision), the class book and the school's books, and the teacher's score sheet.

use super::*;

/// A subject's result for one student in a term or the year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum SubjectOutcome {
    Done(SubjectResult),
    Exempt,
    /// Some assessments are pending or waiting for a make-up.
    Incomplete(usize),
    /// A primary subject: its level at the end of the term (or year) and the test score.
    Primary(SubjectLevel, Option<u8>),
}

impl SubjectOutcome {
    pub fn result(self) -> Option<SubjectResult> {
        match self {
            SubjectOutcome::Done(r) => Some(r),
            _ => None,
        }
    }
    pub fn text(self) -> String {
        match self {
            SubjectOutcome::Done(SubjectResult::Scored(t)) => t.vi(),
            SubjectOutcome::Done(SubjectResult::Comment(p)) => p.label().into(),
            SubjectOutcome::Exempt => "Miễn".into(),
            SubjectOutcome::Incomplete(_) => String::new(),
            SubjectOutcome::Primary(l, None) => l.code().into(),
            SubjectOutcome::Primary(l, Some(t)) => format!("{} · {t}", l.code()),
        }
    }
    /// The value relayed to the district: "7.7", "Đ", "CĐ"; None when not final.
    pub(super) fn relay_value(self) -> Option<String> {
        match self {
            SubjectOutcome::Done(SubjectResult::Scored(t)) => Some(t.to_string()),
            SubjectOutcome::Done(SubjectResult::Comment(p)) => Some(p.label().into()),
            SubjectOutcome::Primary(l, None) => Some(l.code().into()),
            SubjectOutcome::Primary(l, Some(t)) => Some(format!("{} {t}", l.code())),
            _ => None,
        }
    }
}

/// ĐTBmhk or the Đ/CĐ term result of one row, once every required cell is final.
pub fn subject_term(spec: &SubjectSpec, row: Option<&impl Marks>) -> SubjectOutcome {
    if let Some(p) = spec.primary {
        let mark = |c: &str| row.map_or(Mark::Pending, |r| r.mark(c));
        let level = match mark("ck") {
            Mark::Level(l) => l,
            _ => return SubjectOutcome::Incomplete(1),
        };
        let test = match (p.tested, mark("kt_ck")) {
            (false, _) => None,
            (true, Mark::Score(t)) => Some((t.get() / 10) as u8),
            (true, _) => return SubjectOutcome::Incomplete(1),
        };
        return SubjectOutcome::Primary(level, test);
    }
    let mut marks: Vec<Mark> = Vec::with_capacity(spec.regular + 2);
    for i in 1..=spec.regular {
        marks.push(row.map_or(Mark::Pending, |r| {
            r.mark(TX_COLUMNS.get(i - 1).copied().unwrap_or(""))
        }));
    }
    marks.push(row.map_or(Mark::Pending, |r| r.mark("gk")));
    marks.push(row.map_or(Mark::Pending, |r| r.mark("ck")));
    if marks.iter().all(|m| *m == Mark::Exempt) {
        return SubjectOutcome::Exempt;
    }
    let missing = marks
        .iter()
        .filter(|m| {
            matches!(
                (spec.kind, m),
                (_, Mark::Pending | Mark::MakeUp | Mark::Exempt)
                    | (SubjectKind::Scored, Mark::Pass(_))
                    | (SubjectKind::Comment, Mark::Score(_))
            )
        })
        .count();
    if missing > 0 {
        return SubjectOutcome::Incomplete(missing);
    }
    match spec.kind {
        SubjectKind::Scored => {
            let t = |m: &Mark| match m {
                Mark::Score(t) => *t,
                _ => Tenths::ZERO,
            };
            let n = marks.len();
            let tx: Vec<Tenths> = marks[..n - 2].iter().map(t).collect();
            SubjectOutcome::Done(SubjectResult::Scored(tt22::term_average(
                &tx,
                t(&marks[n - 2]),
                t(&marks[n - 1]),
            )))
        }
        SubjectKind::Comment => {
            let p: Vec<Pass> = marks
                .iter()
                .map(|m| match m {
                    Mark::Pass(p) => *p,
                    _ => Pass::ChuaDat,
                })
                .collect();
            SubjectOutcome::Done(SubjectResult::Comment(tt22::comment_term(
                &p,
                spec.regular + 2,
            )))
        }
    }
}

/// The year result of one subject from its two term outcomes.
pub fn subject_year(t1: SubjectOutcome, t2: SubjectOutcome) -> SubjectOutcome {
    use SubjectOutcome::*;
    match (t1, t2) {
        (Exempt, Exempt) => Exempt,
        // Exempt for one term only (Đ10: a term or the year): the year is the other term's.
        (Exempt, Done(r)) | (Done(r), Exempt) => Done(r),
        (Done(SubjectResult::Scored(a)), Done(SubjectResult::Scored(b))) => {
            Done(SubjectResult::Scored(tt22::year_average(a, b)))
        }
        (Done(SubjectResult::Comment(a)), Done(SubjectResult::Comment(b))) => {
            Done(SubjectResult::Comment(tt22::comment_year(a, b)))
        }
        // Primary: the year is the end-of-year time point (cuối năm học).
        (_, Primary(l, t)) => Primary(l, t),
        (Incomplete(a), Incomplete(b)) => Incomplete(a + b),
        (Incomplete(a), _) | (_, Incomplete(a)) => Incomplete(a),
        _ => Incomplete(1),
    }
}

/// The TT22 view of one subject's year outcome. An exemption of a subject Đ10 covers (the
/// practical part of GDTC, of GDQP-AN at THPT) is left out of the level, scored or not; any
/// other subject exempt is the disability case of Đ11 (the principal decides, Đ12 k4).
pub(crate) fn year_subject(o: SubjectOutcome, subject: &str, grade: u8) -> YearSubject {
    match o {
        SubjectOutcome::Done(r) => YearSubject::Result(r),
        SubjectOutcome::Exempt => YearSubject::Exempt {
            individual_plan: !tt22::exemptible(subject, grade),
        },
        SubjectOutcome::Incomplete(_) | SubjectOutcome::Primary(..) => YearSubject::Incomplete,
    }
}

/// A stored re-assessment mark as the result it replaces; None when it does not fit the
/// subject's kind (then the summer is not complete).
pub(super) fn reassessed_result(kind: SubjectKind, m: Mark) -> Option<SubjectResult> {
    match (kind, m) {
        (SubjectKind::Scored, Mark::Score(t)) => Some(SubjectResult::Scored(t)),
        (SubjectKind::Scored, Mark::ZeroNoMakeUp) => Some(SubjectResult::Scored(Tenths::ZERO)),
        (SubjectKind::Comment, Mark::Pass(p)) => Some(SubjectResult::Comment(p)),
        (SubjectKind::Comment, Mark::ZeroNoMakeUp) => Some(SubjectResult::Comment(Pass::ChuaDat)),
        _ => None,
    }
}

/// The inputs of [`tt22::decide_year`] from a student's stored year.
pub fn tt22_year_input(
    grade: u8,
    specs: &[SubjectSpec],
    subjects: &[SubjectOutcome],
    conduct: Option<Level>,
    absences: u16,
    summer: &SummerRecord,
) -> tt22::YearInput {
    tt22::YearInput {
        grade,
        subjects: subjects
            .iter()
            .zip(specs)
            .map(|(o, sp)| year_subject(*o, &sp.name, grade))
            .collect(),
        conduct,
        absences: Some(absences),
        summer_conduct: summer.conduct,
        reassessed: specs
            .iter()
            .map(|sp| {
                summer
                    .reassessed
                    .get(&sp.id)
                    .and_then(|m| reassessed_result(sp.kind, *m))
            })
            .collect(),
    }
}

/// The inputs of [`tt27::decide_year`] from a student's stored end of year.
pub fn tt27_year_input(
    grade: u8,
    specs: &[SubjectSpec],
    subjects: &[SubjectOutcome],
    record: &TermRecord,
) -> Option<tt27::PrimaryYearInput> {
    let mut v = Vec::with_capacity(subjects.len());
    for (o, sp) in subjects.iter().zip(specs) {
        let (level, test) = match o {
            SubjectOutcome::Primary(l, t) => (Some(*l), *t),
            SubjectOutcome::Exempt => (None, None),
            _ => return None,
        };
        v.push(tt27::PrimarySubject {
            name: sp.name.clone(),
            level,
            test,
        });
    }
    Some(tt27::PrimaryYearInput {
        grade,
        subjects: v,
        qualities: record.qualities.clone(),
        recognised_by_class: record.recognised_by_class,
    })
}

/// Levels of a student over the subjects' outcomes; None until every subject is final.
pub(crate) fn classify_outcomes(
    outcomes: &[SubjectOutcome],
    cfg: &Tt22Config,
) -> Option<Classification> {
    let mut results = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        match o {
            SubjectOutcome::Done(r) => results.push(*r),
            SubjectOutcome::Exempt => {}
            SubjectOutcome::Incomplete(_) | SubjectOutcome::Primary(..) => return None,
        }
    }
    Some(tt22::classify(&results, cfg))
}

#[derive(Clone, Debug, Serialize)]
pub struct StudentTerm {
    pub subjects: Vec<SubjectOutcome>,
    pub level: Option<Classification>,
    pub conduct: Option<Level>,
    pub absences: u16,
    /// Có phép, when recorded (see [`TermRecord::excused`]).
    pub excused: Option<u16>,
    pub comment: String,
    /// Primary: quality and competence levels (phẩm chất, năng lực) by name.
    pub qualities: BTreeMap<String, QualityLevel>,
    /// Primary: the comment on each quality or competence, by name.
    pub quality_comments: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StudentYear {
    pub grade: u8,
    pub subjects: Vec<SubjectOutcome>,
    pub level: Option<Classification>,
    pub conduct: Option<Level>,
    pub absences: u16,
    pub outcome: Option<Outcome>,
    pub award: Option<tt22::Award>,
    /// The award the levels would give and why it is not given (a school setting).
    pub award_withheld: Option<AwardWithheld>,
    /// Indexes into the subjects to re-assess in the summer.
    pub reassess: Vec<usize>,
    /// Primary: the end-of-year education result (HTXS/HTT/HT/CHT), once every subject, test,
    /// quality and competence of the end of the year is recorded.
    pub primary: Option<EducationResult>,
    pub primary_award: Option<PrimaryAward>,
    /// Primary: the class's recognition for "Học sinh Tiêu biểu" (term II record).
    pub recognised_by_class: bool,
    /// Summer re-evaluation results recorded so far, and the final decision once complete.
    pub summer: SummerRecord,
    pub after_summer: Option<AfterSummer>,
}

impl StudentYear {
    /// The decision that stands: after the summer when it is complete, else the end of year.
    pub fn final_outcome(&self) -> Option<Outcome> {
        self.after_summer.map(|a| a.outcome).or(self.outcome)
    }
    /// The decision as shown: completion for primary, the standing TT22 decision otherwise,
    /// in the wording of the student's grade (grade 9 completes THCS, grade 5 primary).
    pub fn outcome_label(&self) -> String {
        match self.primary {
            Some(r) => r.completion_label(self.grade).to_string(),
            None => {
                let label = self
                    .final_outcome()
                    .map(|o| o.label_for(self.grade).to_string())
                    .unwrap_or_default();
                // After the summer the decision says after what, so it never stands bare beside
                // the year's "Chưa đạt" it overrides (TT22 Đ13–14).
                let after = self
                    .outcome
                    .and_then(rules::tt22::Outcome::summer_path)
                    .filter(|_| self.after_summer.is_some())
                    .map(|p| format!(" sau {p}"))
                    .unwrap_or_default();
                format!("{label}{after}")
            }
        }
    }
    /// The award title under either circular.
    pub fn award_label(&self) -> Option<&'static str> {
        self.award
            .map(|a| a.label())
            .or(self.primary_award.map(|a| a.label()))
    }
    /// What the award column says when there is no award but the levels would give one.
    pub fn award_note(&self) -> Option<String> {
        self.award_withheld.map(|w| w.reason())
    }
}

/// Everything the class book shows: both terms and the year for every student.
#[derive(Clone, Debug, Serialize)]
pub struct ClassBook {
    pub class: Class,
    pub subjects: Vec<SubjectSpec>,
    pub students: Vec<Student>,
    pub hk1: Vec<StudentTerm>,
    pub hk2: Vec<StudentTerm>,
    pub year: Vec<StudentYear>,
    /// score rows by "{subject}/{term}/{student}"
    #[serde(skip)]
    pub rows: RowIndex,
}

impl ClassBook {
    /// Whether the book is assessed by TT27 (primary).
    pub fn is_primary(&self) -> bool {
        self.subjects.iter().any(|s| s.primary.is_some())
    }
    /// Whether student `i` has everything a term lock needs: every subject final, and conduct
    /// (secondary) or, at the end of the year, every quality and competence (primary).
    pub fn is_complete(&self, term: TermId, i: usize) -> bool {
        let t = &self.term(term)[i];
        if self.is_primary() {
            let subjects = t
                .subjects
                .iter()
                .all(|o| matches!(o, SubjectOutcome::Primary(..) | SubjectOutcome::Exempt));
            subjects && (term == TermId::Hk1 || self.year[i].primary.is_some())
        } else {
            t.level.is_some() && t.conduct.is_some()
        }
    }
    pub fn term(&self, t: TermId) -> &[StudentTerm] {
        match t {
            TermId::Hk1 => &self.hk1,
            TermId::Hk2 => &self.hk2,
        }
    }
    pub fn row(&self, subject: &str, term: TermId, student: &str) -> Option<&RowMarks> {
        let mut key = String::new();
        row_suffix_into(&mut key, subject, term, student);
        self.rows.get(key.as_str())
    }
}

/// Score rows of one class by "{subject}/{term}/{student}" (the row key without the class).
pub type RowIndex = HashMap<String, RowMarks>;

pub(super) fn row_suffix_into(buf: &mut String, subject: &str, term: TermId, student: &str) {
    buf.clear();
    buf.push_str(subject);
    buf.push('/');
    buf.push_str(term.code());
    buf.push('/');
    buf.push_str(student);
}

/// Builds a class's book from storage.
pub fn class_book(r: &impl Read, class_id: &str, st: &Settings) -> Result<ClassBook, GradeError> {
    class_book_with(r, class_id, st, false)
}

/// A class's book; `with_left` adds the students who left it (transferred out, withdrew),
/// whose rows stay under the class: their học bạ and phiếu are still drawn from it.
pub(super) fn class_book_with(
    r: &impl Read,
    class_id: &str,
    st: &Settings,
    with_left: bool,
) -> Result<ClassBook, GradeError> {
    let class = class_of(r, class_id)?;
    let subjects = subjects_for_grade(r, class.grade, st)?;
    let mut students = school::students_of_class(r, class_id)?;
    if with_left {
        students.extend(school::students_who_left(r, class_id)?);
    }
    let prefix = format!("{class_id}/");
    let mut rows = RowIndex::new();
    r.scan_each(&ROW_MARKS, &prefix, &mut |k, row| {
        rows.insert(k[prefix.len()..].to_string(), row);
        Ok(())
    })?;
    let records: HashMap<String, TermRecord> = r
        .scan(&RECORDS, &format!("{class_id}/"))?
        .into_iter()
        .collect();
    let summer: HashMap<String, SummerRecord> = r
        .scan(&SUMMER, &format!("{class_id}/"))?
        .into_iter()
        .collect();
    let mut book = compute_book(class, subjects, students, &rows, &records, &summer, st);
    book.rows = rows;
    Ok(book)
}

/// A class's book for someone who may see the whole class (homeroom teacher, BGH): the one
/// check every class-wide view and export makes.
pub fn class_book_for(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
) -> Result<ClassBook, GradeError> {
    class_book_for_with(r, p, class_id, false)
}

/// The book a student's own pages (học bạ, phiếu) are drawn from: for a student who left the
/// school, their class's book with them in it.
pub fn class_book_for_student(
    r: &impl Read,
    p: &Principal,
    student: &Student,
) -> Result<ClassBook, GradeError> {
    class_book_for_with(r, p, &student.class_id, student.left.is_some())
}

fn class_book_for_with(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
    with_left: bool,
) -> Result<ClassBook, GradeError> {
    if !may_view_class(p, class_id) {
        return Err(GradeError::Forbidden);
    }
    let mut book = class_book_with(r, class_id, &settings(r)?, with_left)?;
    // Everything drawn from the book (its JSON, the học bạ, the xlsx and CSV exports) shows
    // the mã định danh only to whom the permission function allows, whoever else may one day
    // view a class.
    if !permits(p, Action::ViewPersonalIds { class: class_id }) {
        for s in &mut book.students {
            s.ma_dinh_danh.clear();
        }
    }
    Ok(book)
}

/// Every class book of a school year (what a term lock computes). Class by class: with the
/// class-roll index this measured faster than one pass over each whole table (64 vs 110 ms for
/// 1,500 students, bench/RESULTS.md).
pub fn school_books(
    r: &impl Read,
    year: &str,
    st: &Settings,
) -> Result<Vec<ClassBook>, GradeError> {
    classes_of_year(r, year)?
        .iter()
        .map(|c| class_book(r, &c.id, st))
        .collect()
}

/// The pure part of [`class_book`]: every term and year result from loaded rows and records
/// (the returned book's `rows` is left empty; `class_book` moves the loaded rows in).
pub fn compute_book(
    class: Class,
    subjects: Vec<SubjectSpec>,
    students: Vec<Student>,
    rows: &RowIndex,
    records: &HashMap<String, TermRecord>,
    summer: &HashMap<String, SummerRecord>,
    st: &Settings,
) -> ClassBook {
    let cfg = &st.tt22;
    let mut terms: [Vec<StudentTerm>; 2] = [Vec::new(), Vec::new()];
    let mut key = String::new();
    for (ti, term) in TermId::BOTH.into_iter().enumerate() {
        for s in &students {
            let outcomes: Vec<SubjectOutcome> = subjects
                .iter()
                .map(|spec| {
                    row_suffix_into(&mut key, &spec.id, term, &s.id);
                    subject_term(spec, rows.get(key.as_str()))
                })
                .collect();
            let rec = records.get(&record_key(&class.id, term, &s.id));
            terms[ti].push(StudentTerm {
                level: classify_outcomes(&outcomes, cfg),
                subjects: outcomes,
                conduct: rec.and_then(|r| r.conduct),
                absences: rec.map_or(0, |r| r.absences),
                excused: rec.and_then(|r| r.excused),
                comment: rec.map(|r| r.comment.clone()).unwrap_or_default(),
                qualities: rec.map(|r| r.qualities.clone()).unwrap_or_default(),
                quality_comments: rec.map(|r| r.quality_comments.clone()).unwrap_or_default(),
            });
        }
    }
    let [hk1, hk2] = terms;
    let specs = &subjects;
    let year = hk1
        .iter()
        .zip(&hk2)
        .zip(&students)
        .map(|((a, b), student)| {
            let subjects: Vec<SubjectOutcome> = a
                .subjects
                .iter()
                .zip(&b.subjects)
                .map(|(x, y)| subject_year(*x, *y))
                .collect();
            let conduct = match (a.conduct, b.conduct) {
                (Some(x), Some(y)) => Some(tt22::conduct_year(x, y)),
                _ => None,
            };
            let absences = a.absences + b.absences;
            let summer = summer
                .get(&format!("{}/{}", class.id, student.id))
                .cloned()
                .unwrap_or_default();
            let grade = class.grade;
            let input = tt22_year_input(grade, specs, &subjects, conduct, absences, &summer);
            // A summer result the year no longer owes (a corrected score took the student out
            // of the summer) does not count; saving one is refused (`save_summer`).
            let d = tt22::decide_year(&input, &st.tt22).unwrap_or_else(|_| {
                let bare = tt22::YearInput {
                    summer_conduct: None,
                    reassessed: vec![],
                    ..input
                };
                tt22::decide_year(&bare, &st.tt22).unwrap_or_default()
            });
            let hk2_record = records
                .get(&record_key(&class.id, TermId::Hk2, &student.id))
                .cloned()
                .unwrap_or_default();
            let primary = tt27_year_input(grade, specs, &subjects, &hk2_record)
                .and_then(|i| tt27::decide_year(&i, &st.tt27).ok());
            StudentYear {
                grade,
                subjects,
                level: d.level,
                conduct,
                absences,
                outcome: d.outcome,
                award: d.award,
                award_withheld: d.award_withheld,
                reassess: d.reassess,
                primary: primary.as_ref().map(|p| p.result),
                primary_award: primary.and_then(|p| p.award),
                recognised_by_class: hk2_record.recognised_by_class,
                summer,
                after_summer: d.after_summer,
            }
        })
        .collect();
    ClassBook {
        class,
        subjects,
        students,
        hk1,
        hk2,
        year,
        rows: HashMap::new(),
    }
}

/// One class × subject × term as the grid shows it.
#[derive(Serialize, Debug)]
pub struct Sheet {
    pub class: Class,
    pub subject: SubjectSpec,
    pub term: TermId,
    pub locked: bool,
    pub columns: Vec<String>,
    pub rows: Vec<SheetRow>,
    /// Whether this person may type in it (the assigned teacher).
    pub editable: bool,
}

#[derive(Serialize, Debug)]
pub struct SheetRow {
    pub student: String,
    pub name: String,
    pub cells: Vec<SheetCell>,
    pub result: String,
    /// The comment (column "nx").
    pub note: SheetCell,
}

#[derive(Serialize, Debug)]
pub struct SheetCell {
    pub column: String,
    pub text: String,
    pub version: u64,
}

/// The grid of one class × subject × term, for its teacher, the homeroom teacher or BGH.
pub fn sheet(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
    subject_id: &str,
    term: TermId,
) -> Result<Sheet, GradeError> {
    let editable = permits(
        p,
        Action::EnterScores {
            class: class_id,
            subject: subject_id,
        },
    );
    if !editable && !may_view_class(p, class_id) {
        return Err(GradeError::Forbidden);
    }
    let (class, _, subject) = class_subject(r, class_id, subject_id)?;
    let prefix = format!("{class_id}/{subject_id}/{}/", term.code());
    let rows: HashMap<String, ScoreRow> = r
        .scan(&ROWS, &prefix)?
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v))
        .collect();
    let columns = subject.columns();
    let rows = school::students_of_class(r, class_id)?
        .into_iter()
        .map(|s| {
            let row = rows.get(&s.id);
            let cells = columns
                .iter()
                .map(|c| {
                    let cell = row.and_then(|r| r.cells.get(c));
                    SheetCell {
                        column: c.clone(),
                        text: cell.map(|c| c.mark.text()).unwrap_or_default(),
                        version: cell.map_or(0, |c| c.version),
                    }
                })
                .collect();
            let note = row.and_then(|r| r.note.as_ref());
            SheetRow {
                result: subject_term(&subject, row).text(),
                student: s.id,
                name: s.full_name,
                cells,
                note: SheetCell {
                    column: NOTE_COLUMN.into(),
                    text: note.map(|n| n.text.clone()).unwrap_or_default(),
                    version: note.map_or(0, |n| n.version),
                },
            }
        })
        .collect();
    Ok(Sheet {
        locked: is_class_locked(r, &class, term)?,
        class,
        subject,
        term,
        columns,
        rows,
        editable,
    })
}
