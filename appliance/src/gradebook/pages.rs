//! Gradebook pages: the teacher's list of sheets, the score grid, the class summary with
//! conduct and the end-of-year lists, the parent notice (phiếu liên lạc) and the học bạ.
//! Everything shown is computed by the domain functions; templates only lay it out.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::rules::{self, tt22::Outcome, tt27};
use super::{ClassBook, GradeError, Marks, TermId};
use crate::auth::Action;
use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::http::render;
use crate::http::{ApiError, Shared};
use crate::school;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/grades", get(index))
        .route("/grades/sheet/{class}/{subject}/{term}", get(grid))
        .route("/grades/class/{class}", get(class_summary))
        .route("/grades/class/{class}/pdf", get(class_pdf))
        .route("/grades/school", get(school_summary))
        .route("/grades/notice/{student}", get(notice))
        .route("/grades/notice/{student}/pdf", get(notice_pdf))
        .route("/grades/hocba/{student}", get(hocba))
        .route("/grades/hocba/{student}/pdf", get(hocba_pdf))
}

pub struct SheetLink {
    pub class: String,
    pub class_name: String,
    pub subject: String,
    pub subject_name: String,
}

pub struct TermState {
    pub code: &'static str,
    pub label: &'static str,
    pub locked: bool,
    pub rule: String,
    /// Before the lock: each incomplete class with what it lacks, one line each.
    pub incomplete: Vec<String>,
}

pub struct CorrectionView {
    pub id: String,
    pub what: String,
    pub change: String,
    pub reason: String,
    pub can_decide: bool,
}

page!(IndexPage, "grades.html" {
    sheets: Vec<SheetLink>,
    classes: Vec<(String, String)>,
    bgh: bool,
    terms: Vec<TermState>,
    corrections: Vec<CorrectionView>,
});

async fn index(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let p = &u.principal;
    let classes = school::list(&rx, &school::CLASSES)?;
    let subjects = school::list(&rx, &school::SUBJECTS)?;
    let cname = |id: &str| {
        classes
            .iter()
            .find(|c| c.id == id)
            .map_or(id.to_string(), |c| c.name.clone())
    };
    let sname = |id: &str| {
        subjects
            .iter()
            .find(|c| c.id == id)
            .map_or(id.to_string(), |c| c.name.clone())
    };
    let mut sheets: Vec<SheetLink> = p
        .teaches
        .iter()
        .map(|(c, sub)| SheetLink {
            class: c.clone(),
            class_name: cname(c),
            subject: sub.clone(),
            subject_name: sname(sub),
        })
        .collect();
    sheets.sort_by(|a, b| {
        a.class_name
            .cmp(&b.class_name)
            .then(a.subject_name.cmp(&b.subject_name))
    });
    let bgh = crate::auth::may_see(p, Action::LockTerm);
    let mut mine: Vec<&school::Class> = classes
        .iter()
        .filter(|c| super::may_view_class(p, &c.id))
        .collect();
    // the same order as the admin class list: grade, then name
    mine.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    let visible: Vec<(String, String)> = mine
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let year = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let mut terms = vec![];
    // BGH sees, before locking, which classes and subjects are still incomplete — the same
    // books and test the lock itself uses.
    let mut books = None;
    for t in TermId::BOTH {
        let lock = super::term_lock(&rx, &year, t)?;
        let locked = lock.as_ref().is_some_and(|l| l.locked);
        let mut incomplete = vec![];
        if bgh && !locked {
            if books.is_none() {
                let mut b = super::school_books(&rx, &year, &super::settings(&rx)?)?;
                b.sort_by(|x, y| {
                    (x.class.grade, &x.class.name).cmp(&(y.class.grade, &y.class.name))
                });
                books = Some(b);
            }
            let primary = super::is_primary(&rx)?;
            for c in super::incomplete_classes(books.as_deref().unwrap_or_default(), t) {
                incomplete.push(incomplete_line(&c, primary));
            }
        }
        terms.push(TermState {
            code: t.code(),
            label: t.label(),
            locked,
            rule: lock
                .map(|l| l.rule_version.code().to_string())
                .unwrap_or_default(),
            incomplete,
        });
    }
    let students = school::list(&rx, &school::STUDENTS)?;
    let corrections = super::pending_corrections(&rx, p)?
        .into_iter()
        .map(|c| {
            let student = students
                .iter()
                .find(|s| s.id == c.student)
                .map_or(c.student.clone(), |s| s.full_name.clone());
            CorrectionView {
                what: format!(
                    "{} · {} · {} · {} · {}",
                    cname(&c.class),
                    sname(&c.subject),
                    c.term.label(),
                    student,
                    c.column.to_uppercase()
                ),
                change: format!("{} → {}", or_dash(c.from.text()), or_dash(c.to.text())),
                reason: c.reason.clone(),
                can_decide: p.homeroom.contains(&c.class),
                id: c.id,
            }
        })
        .collect();
    Ok(render(IndexPage::new(
        chrome(&s, &u, &headers),
        sheets,
        visible,
        bgh,
        terms,
        corrections,
    )))
}

/// "8A1: 3 học sinh chưa đủ — môn Toán, Ngữ văn; 1 chưa có kết quả rèn luyện".
fn incomplete_line(c: &super::IncompleteClass, primary: bool) -> String {
    let mut parts = vec![];
    if !c.subjects.is_empty() {
        parts.push(format!("môn {}", c.subjects.join(", ")));
    }
    if c.without_record > 0 {
        let what = if primary {
            "chưa đủ phẩm chất, năng lực"
        } else {
            "chưa có kết quả rèn luyện"
        };
        parts.push(format!("{} {what}", c.without_record));
    }
    format!(
        "{}: {} học sinh chưa đủ — {}",
        c.class_name,
        c.students,
        parts.join("; ")
    )
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "—".into() } else { s }
}

page!(GridPage, "grid.html" {
    sheet: super::Sheet,
    other_term: &'static str,
    scored: bool,
    kind: &'static str,
    api: String,
});

async fn grid(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path((class, subject, term)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let term = TermId::parse(&term)?;
    let sheet = super::sheet(&s.store.read()?, &u.principal, &class, &subject, term)?;
    let other_term = if term == TermId::Hk1 { "hk2" } else { "hk1" };
    let kind = match (sheet.subject.primary, sheet.subject.kind) {
        (Some(_), _) => "primary",
        (None, school::SubjectKind::Scored) => "scored",
        (None, school::SubjectKind::Comment) => "comment",
    };
    let scored = kind == "scored";
    let api = format!("/api/v1/grades/sheet/{class}/{subject}/{}", term.code());
    Ok(render(GridPage::new(
        chrome(&s, &u, &headers),
        sheet,
        other_term,
        scored,
        kind,
        api,
    )))
}

#[derive(Deserialize)]
struct TermQuery {
    term: Option<String>,
    /// A parent notice for one month: "2026-11".
    month: Option<String>,
}

/// A period of the class summary: a term or the whole year ("cn").
#[derive(Clone, Copy, PartialEq)]
enum Period {
    Term(TermId),
    Year,
}

fn period(q: &Option<String>) -> Result<Period, GradeError> {
    match q.as_deref() {
        None | Some("cn") => Ok(Period::Year),
        Some(t) => TermId::parse(t).map(Period::Term),
    }
}

pub struct SummaryRow {
    /// Primary: every quality and competence with its recorded level ("" when not yet).
    pub qualities: Vec<(&'static str, String)>,
    /// Primary, term II: recognised by the class for "Học sinh Tiêu biểu" (TT27 Đ13 k1 a).
    pub recognised: bool,
    pub student: String,
    pub name: String,
    pub subjects: Vec<String>,
    pub level: String,
    pub adjusted: bool,
    pub conduct: String,
    pub absences: u16,
    /// Of the absences, có phép ("" when only the total was entered).
    pub excused: String,
    pub outcome: String,
    pub award: String,
}

pub struct StudentList {
    pub title: &'static str,
    pub entries: Vec<String>,
}

/// A student the year sent to the summer, with what has been recorded since.
pub struct SummerRow {
    pub student: String,
    pub name: String,
    pub conduct_needed: bool,
    pub conduct: String,
    /// (subject id, subject name, year result, re-assessment as typed)
    pub subjects: Vec<(String, String, String, String)>,
    pub outcome: String,
}

page!(ClassPage, "class_summary.html" {
    class_id: String,
    class_name: String,
    period_code: &'static str,
    period_label: &'static str,
    subjects: Vec<(String, String)>,
    rows: Vec<SummaryRow>,
    lists: Vec<StudentList>,
    editable: bool,
    locked: bool,
    conduct_levels: Vec<&'static str>,
    primary: bool,
    quality_levels: Vec<&'static str>,
    summer: Vec<SummerRow>,
    summer_editable: bool,
    month: String,
});

fn level_text(c: Option<super::Classification>) -> (String, bool) {
    c.map_or((String::new(), false), |c| {
        (c.level.label().to_string(), c.adjusted_for.is_some())
    })
}

async fn class_summary(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(class): Path<String>,
    Query(q): Query<TermQuery>,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let book = super::class_book_for(&rx, &u.principal, &class)?;
    let per = period(&q.term)?;
    let subjects: Vec<(String, String)> = book
        .subjects
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let mut lists = vec![];
    let (period_code, period_label, locked) = match per {
        Period::Term(t) => (
            t.code(),
            t.label(),
            super::is_locked(&rx, &book.class.year, t)?,
        ),
        Period::Year => (
            "cn",
            "Cả năm",
            super::is_locked(&rx, &book.class.year, TermId::Hk2)?,
        ),
    };
    let rows = summary_rows(&book, per);
    if per == Period::Year {
        lists = year_lists(&book);
    }
    let editable =
        u.principal.homeroom.contains(&class) && matches!(per, Period::Term(_)) && !locked;
    let conduct_levels = super::Level::ALL.iter().map(|l| l.label()).collect();
    let summer = if per == Period::Year {
        summer_rows(&book)
    } else {
        vec![]
    };
    let summer_editable = per == Period::Year && u.principal.homeroom.contains(&class);
    Ok(render(ClassPage::new(
        chrome(&s, &u, &headers),
        book.class.id.clone(),
        book.class.name.clone(),
        period_code,
        period_label,
        subjects,
        rows,
        lists,
        editable,
        locked,
        conduct_levels,
        book.is_primary(),
        vec!["Tốt", "Đạt", "Cần cố gắng"],
        summer,
        summer_editable,
        this_month(),
    )))
}

fn summary_rows(book: &ClassBook, per: Period) -> Vec<SummaryRow> {
    let mut rows = vec![];
    for (i, st) in book.students.iter().enumerate() {
        let (outcomes, level, conduct, absences, outcome, award) = match per {
            Period::Term(t) => {
                let x = &book.term(t)[i];
                (
                    &x.subjects,
                    x.level,
                    x.conduct,
                    x.absences,
                    String::new(),
                    String::new(),
                )
            }
            Period::Year => {
                let y = &book.year[i];
                // No title but one the levels would give: say why (a school setting).
                let award = y
                    .award_label()
                    .map(String::from)
                    .or_else(|| y.award_note())
                    .unwrap_or_default();
                (
                    &y.subjects,
                    y.level,
                    y.conduct,
                    y.absences,
                    y.outcome_label(),
                    award,
                )
            }
        };
        let excused = match per {
            Period::Term(t) => book.term(t)[i].excused,
            Period::Year => book.hk1[i]
                .excused
                .zip(book.hk2[i].excused)
                .map(|(a, b)| a + b),
        };
        let (mut level, adjusted) = level_text(level);
        let mut qualities = vec![];
        if book.is_primary() {
            let term = match per {
                Period::Term(t) => t,
                Period::Year => TermId::Hk2,
            };
            qualities = quality_list(&book.term(term)[i].qualities);
            if let (Period::Year, Some(r)) = (per, book.year[i].primary) {
                level = r.label().to_string();
            }
        }
        let recognised = book.is_primary() && book.year[i].recognised_by_class;
        rows.push(SummaryRow {
            qualities,
            recognised,
            student: st.id.clone(),
            name: st.full_name.clone(),
            subjects: outcomes.iter().map(|o| o.text()).collect(),
            level,
            adjusted,
            conduct: conduct.map(|c| c.label().to_string()).unwrap_or_default(),
            absences,
            excused: excused.map(|x| x.to_string()).unwrap_or_default(),
            outcome,
            award,
        });
    }
    rows
}

/// Every quality and competence (TT27 Đ5) with its recorded level, "" when not yet recorded.
fn quality_list(
    q: &std::collections::BTreeMap<String, rules::tt27::QualityLevel>,
) -> Vec<(&'static str, String)> {
    rules::tt27::QUALITIES
        .iter()
        .chain(rules::tt27::COMPETENCES.iter())
        .map(|n| {
            (
                *n,
                q.get(*n).map(|l| l.label().to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

fn summer_rows(book: &ClassBook) -> Vec<SummerRow> {
    let mut out = vec![];
    for (i, s) in book.students.iter().enumerate() {
        let y = &book.year[i];
        if !y.outcome.is_some_and(Outcome::is_summer) {
            continue;
        }
        out.push(SummerRow {
            student: s.id.clone(),
            name: s.full_name.clone(),
            conduct_needed: matches!(
                y.outcome,
                Some(Outcome::SummerConduct | Outcome::SummerBoth)
            ),
            conduct: y
                .summer
                .conduct
                .map(|c| c.label().to_string())
                .unwrap_or_default(),
            subjects: y
                .reassess
                .iter()
                .map(|j| {
                    let spec = &book.subjects[*j];
                    let typed = y
                        .summer
                        .reassessed
                        .get(&spec.id)
                        .map(|m| m.text())
                        .unwrap_or_default();
                    (
                        spec.id.clone(),
                        spec.name.clone(),
                        y.subjects[*j].text(),
                        typed,
                    )
                })
                .collect(),
            outcome: y
                .after_summer
                .map(|a| a.outcome.label_for(y.grade).to_string())
                .unwrap_or_default(),
        });
    }
    out
}

/// The end-of-year lists the homeroom teacher draws up and BGH approves (TT22 Đ18, Đ20; TT27
/// Đ11, Đ13 for primary). The summer lists say who was *sent* to the summer, and stay so once
/// the results are in; the promoted and retained lists hold the decision that stands.
fn year_lists(book: &ClassBook) -> Vec<StudentList> {
    let lists = |titles: Vec<&'static str>| -> Vec<StudentList> {
        titles
            .into_iter()
            .map(|title| StudentList {
                title,
                entries: vec![],
            })
            .collect()
    };
    if book.is_primary() {
        // TT27: completion of the class (or of primary school in grade 5), no summer, no
        // conduct; a pupil without every result is listed apart.
        let done = if book.class.grade == 5 {
            "Hoàn thành chương trình tiểu học"
        } else {
            "Hoàn thành chương trình lớp học"
        };
        let mut l = lists(vec![
            done,
            "Chưa hoàn thành",
            "Khen thưởng",
            "Chưa đủ kết quả",
        ]);
        for (i, s) in book.students.iter().enumerate() {
            let y = &book.year[i];
            match y.primary {
                Some(r) if r.completed() => l[0].entries.push(s.full_name.clone()),
                Some(_) => l[1].entries.push(s.full_name.clone()),
                None => l[3].entries.push(s.full_name.clone()),
            }
            if let Some(a) = y.award_label() {
                l[2].entries.push(format!("{} — {a}", s.full_name));
            }
        }
        return l;
    }
    let mut l = lists(vec![
        Outcome::Promoted.label_for(book.class.grade),
        "Rèn luyện trong kì nghỉ hè",
        "Kiểm tra, đánh giá lại",
        Outcome::Retained.label_for(book.class.grade),
        "Khen thưởng",
        "Chưa đủ kết quả",
        "Hiệu trưởng xem xét, quyết định (Điều 12 khoản 4)",
        "Không xét khen thưởng",
    ]);
    for (i, s) in book.students.iter().enumerate() {
        let y = &book.year[i];
        let after = if y.after_summer.is_some() {
            " (sau hè)"
        } else {
            ""
        };
        let reassess = || {
            let subj: Vec<&str> = y
                .reassess
                .iter()
                .map(|j| book.subjects[*j].name.as_str())
                .collect();
            format!("{} ({})", s.full_name, subj.join(", "))
        };
        // Sent to the summer at the end of the year (a student on both paths is on both).
        match y.outcome {
            Some(Outcome::SummerConduct) => l[1].entries.push(s.full_name.clone()),
            Some(Outcome::SummerBoth) => {
                l[1].entries.push(s.full_name.clone());
                l[2].entries.push(reassess());
            }
            Some(Outcome::ReAssessment) => l[2].entries.push(reassess()),
            _ => {}
        }
        match y.final_outcome() {
            Some(Outcome::Promoted) => l[0].entries.push(format!("{}{after}", s.full_name)),
            Some(Outcome::Retained) => l[3].entries.push(format!("{}{after}", s.full_name)),
            Some(Outcome::PrincipalDecides) => l[6].entries.push(s.full_name.clone()),
            // Waiting for the summer: on the summer lists above.
            Some(Outcome::SummerConduct | Outcome::SummerBoth | Outcome::ReAssessment) => {}
            None => l[5].entries.push(s.full_name.clone()),
        }
        if let Some(a) = y.award_label() {
            l[4].entries.push(format!("{} — {a}", s.full_name));
        }
        if let Some(note) = y.award_note() {
            l[7].entries.push(format!("{} — {note}", s.full_name));
        }
    }
    l
}

pub struct NoticeSubject {
    pub name: String,
    /// The subject teacher's comment for the term (the end-of-year one in the year view).
    pub note: String,
    /// Regular, mid-term and end-of-term marks as typed, or term results for the year view.
    pub detail: Vec<String>,
    pub result: String,
}

/// What a parent notice shows — the HTML page and the PDF are drawn from the same view.
pub struct NoticeView {
    pub school: String,
    pub student_name: String,
    pub dob: String,
    pub class_name: String,
    pub year: String,
    pub period_label: String,
    pub year_view: bool,
    /// A monthly notice: the marks and comments entered that month, no term results.
    pub monthly: bool,
    pub subjects: Vec<NoticeSubject>,
    pub level: String,
    pub conduct: String,
    pub absences: u16,
    pub comment: String,
    pub outcome: String,
    pub award: String,
    pub homeroom_name: String,
}

page!(NoticePage, "notice.html" { v: NoticeView, pdf: String });

struct StudentBook {
    student: school::Student,
    book: ClassBook,
    index: usize,
    homeroom: String,
    school: String,
}

fn student_book(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    student: &str,
) -> Result<StudentBook, ApiError> {
    let rx = s.store.read()?;
    let st = rx
        .get(&school::STUDENTS, student)?
        .ok_or_else(ApiError::not_found)?;
    let book = super::class_book_for(&rx, &u.principal, &st.class_id)?;
    let homeroom = match &book.class.homeroom {
        Some(h) => rx
            .get(&crate::auth::ACCOUNTS, h)?
            .map(|a| a.full_name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let school = school::school_info(&rx)?
        .map(|i| i.name)
        .unwrap_or_default();
    let index = book
        .students
        .iter()
        .position(|x| x.id == st.id)
        .ok_or_else(ApiError::not_found)?;
    Ok(StudentBook {
        // The book's copy: its mã định danh is there only for whom may see it.
        student: book.students[index].clone(),
        book,
        index,
        homeroom,
        school,
    })
}

pub(super) fn vi_date(iso: &str) -> String {
    match school::parse_date(iso) {
        Some(d) => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        None => iso.to_string(),
    }
}

/// Phiếu liên lạc: one student, one term or the year. Never another student's data, no class
/// averages or ranks (DOMAIN.md §3.5).
fn notice_view(sb: &StudentBook, per: Period) -> NoticeView {
    let (book, i, st) = (&sb.book, sb.index, &sb.student);
    let mut subjects = vec![];
    for (si, spec) in book.subjects.iter().enumerate() {
        let (detail, result) = match per {
            Period::Term(t) => {
                let row = book.row(&spec.id, t, &st.id);
                let marks = spec
                    .columns()
                    .iter()
                    .map(|c| row.map(|r| r.mark(c).text()).unwrap_or_default())
                    .collect();
                (marks, book.term(t)[i].subjects[si].text())
            }
            Period::Year => (
                vec![
                    book.hk1[i].subjects[si].text(),
                    book.hk2[i].subjects[si].text(),
                ],
                book.year[i].subjects[si].text(),
            ),
        };
        let note_term = match per {
            Period::Term(t) => t,
            Period::Year => TermId::Hk2,
        };
        let note = book
            .row(&spec.id, note_term, &st.id)
            .and_then(|r| r.note.clone())
            .unwrap_or_default();
        subjects.push(NoticeSubject {
            note,
            name: spec.name.clone(),
            detail,
            result,
        });
    }
    let (period_label, level, conduct, absences, comment, outcome, award) = match per {
        Period::Term(t) => {
            let x = &book.term(t)[i];
            (
                t.label(),
                level_text(x.level).0,
                x.conduct,
                x.absences,
                x.comment.clone(),
                String::new(),
                String::new(),
            )
        }
        Period::Year => {
            let y = &book.year[i];
            (
                "Cả năm",
                level_text(y.level).0,
                y.conduct,
                y.absences,
                String::new(),
                y.outcome_label(),
                y.award_label().unwrap_or_default().to_string(),
            )
        }
    };
    // Primary (TT27): the year's education result stands where TT22 has the learning level.
    let level = match (per, book.year[i].primary) {
        (Period::Year, Some(r)) => r.label().to_string(),
        _ => level,
    };
    NoticeView {
        school: sb.school.clone(),
        student_name: st.full_name.clone(),
        dob: vi_date(&st.dob),
        class_name: book.class.name.clone(),
        year: book.class.year.clone(),
        period_label: period_label.to_string(),
        year_view: per == Period::Year,
        monthly: false,
        subjects,
        level,
        conduct: conduct.map(|c| c.label().to_string()).unwrap_or_default(),
        absences,
        comment,
        outcome,
        award,
        homeroom_name: sb.homeroom.clone(),
    }
}

/// The current month in Vietnam ("2026-11"), for the monthly notice links.
fn this_month() -> String {
    let d = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date();
    format!("{:04}-{:02}", d.year(), d.month())
}

/// Parses "2026-11" into (year, month).
fn parse_month(m: &str) -> Option<(i16, i8)> {
    let (y, mo) = m.split_once('-')?;
    let (y, mo): (i16, i8) = (y.parse().ok()?, mo.parse().ok()?);
    ((2000..=2100).contains(&y) && (1..=12).contains(&mo)).then_some((y, mo))
}

/// The monthly parent notice: for each subject, the marks and the comment entered during that
/// month (Vietnam time, UTC+7 all year). One student only.
fn month_view(s: &Shared, sb: &StudentBook, month: &str) -> Result<NoticeView, ApiError> {
    let (y, mo) = parse_month(month).ok_or_else(|| {
        ApiError::bad_request(format!("Tháng không hợp lệ: \"{month}\" (dạng 2026-11)"))
    })?;
    let vn = jiff::tz::TimeZone::fixed(jiff::tz::offset(7));
    let in_month = |t: jiff::Timestamp| {
        let d = t.to_zoned(vn.clone()).date();
        d.year() == y && d.month() == mo
    };
    let (book, st) = (&sb.book, &sb.student);
    let rx = s.store.read()?;
    let mut subjects = vec![];
    for spec in &book.subjects {
        let mut detail = vec![];
        let mut note = String::new();
        for term in TermId::BOTH {
            let Some(row) = rx.get(
                &super::ROWS,
                &super::row_key(&book.class.id, &spec.id, term, &st.id),
            )?
            else {
                continue;
            };
            for col in spec.columns() {
                if let Some(c) = row.cells.get(&col)
                    && in_month(c.at)
                    && c.mark != super::Mark::Pending
                {
                    let t = if term == TermId::Hk1 { "HKI" } else { "HKII" };
                    detail.push(format!(
                        "{} {t}: {}",
                        col.to_uppercase().replace('_', " "),
                        c.mark.text()
                    ));
                }
            }
            if let Some(n) = row.note.as_ref().filter(|n| in_month(n.at)) {
                note.clone_from(&n.text);
            }
        }
        subjects.push(NoticeSubject {
            name: spec.name.clone(),
            note,
            detail,
            result: String::new(),
        });
    }
    Ok(NoticeView {
        school: sb.school.clone(),
        student_name: st.full_name.clone(),
        dob: vi_date(&st.dob),
        class_name: book.class.name.clone(),
        year: book.class.year.clone(),
        period_label: format!("Tháng {mo}/{y}"),
        year_view: false,
        monthly: true,
        subjects,
        level: String::new(),
        conduct: String::new(),
        absences: 0,
        comment: String::new(),
        outcome: String::new(),
        award: String::new(),
        homeroom_name: sb.homeroom.clone(),
    })
}

fn period_code(per: Period) -> &'static str {
    match per {
        Period::Term(t) => t.code(),
        Period::Year => "cn",
    }
}

async fn notice(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
    Query(q): Query<TermQuery>,
) -> Result<Response, ApiError> {
    let (v, query) = chosen_notice(&s, &u, &student, &q)?;
    let pdf = format!("/grades/notice/{student}/pdf?{query}");
    Ok(render(NoticePage::new(chrome(&s, &u, &headers), v, pdf)))
}

/// The notice a query asks for — a month ("month=2026-11") or a term or the year — and that
/// query again, for the links between the page and its PDF.
fn chosen_notice(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    student: &str,
    q: &TermQuery,
) -> Result<(NoticeView, String), ApiError> {
    let sb = student_book(s, u, student)?;
    if let Some(m) = &q.month {
        return Ok((month_view(s, &sb, m)?, format!("month={m}")));
    }
    let per = period(&q.term)?;
    Ok((notice_view(&sb, per), format!("term={}", period_code(per))))
}

fn pdf_response(bytes: Vec<u8>, name: &str) -> Response {
    use axum::response::IntoResponse;
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn notice_pdf(
    State(s): State<Shared>,
    PageUser(u): PageUser,
    Path(student): Path<String>,
    Query(q): Query<TermQuery>,
) -> Result<Response, ApiError> {
    let sb = student_book(&s, &u, &student)?;
    let rx = s.store.read()?;
    let ctx = super::forms::context(&rx, &sb.book, sb.index)?;
    let (of, label) = match &q.month {
        Some(m) => {
            let (y, mo) = parse_month(m).ok_or_else(|| {
                ApiError::bad_request(format!("Tháng không hợp lệ: \"{m}\" (dạng 2026-11)"))
            })?;
            let terms = rx
                .get(&school::YEARS, &sb.book.class.year)?
                .map(|y| y.terms)
                .unwrap_or_default();
            let t = super::forms::term_of_month(&terms, y, mo).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Tháng {mo}/{y} không thuộc học kì nào của năm học {}",
                    sb.book.class.year
                ))
            })?;
            (super::forms::NoticeOf::Month(y, mo, t), m.clone())
        }
        None => match period(&q.term)? {
            Period::Term(t) => (super::forms::NoticeOf::Term(t), t.code().to_string()),
            Period::Year => (super::forms::NoticeOf::Year, "cn".to_string()),
        },
    };
    let d = jiff::Timestamp::now().to_zoned(school::time_zone()).date();
    let today = format!("ngày {} tháng {} năm {}", d.day(), d.month(), d.year());
    let layout = super::forms::notice(&rx, &sb.book, sb.index, &ctx, of, &today)?;
    drop(rx);
    let bytes = tokio::task::spawn_blocking(move || layout.finish())
        .await?
        .map_err(ApiError::internal)?;
    Ok(pdf_response(
        bytes,
        &format!("phieu-lien-lac-{student}-{label}.pdf"),
    ))
}

pub struct HocbaSubject {
    /// Nhận xét: the end-of-year comment, or term I's when there is none yet.
    pub note: String,
    pub name: String,
    pub hk1: String,
    pub hk2: String,
    pub year: String,
}

pub struct HocbaView {
    pub school: String,
    pub student_name: String,
    pub dob: String,
    pub gender: String,
    pub ma_dinh_danh: String,
    pub class_name: String,
    pub year: String,
    pub subjects: Vec<HocbaSubject>,
    pub levels: Vec<(&'static str, String, String)>,
    pub absences: u16,
    pub outcome: String,
    pub award: String,
    pub comment: String,
    pub homeroom_name: String,
    /// Primary: the five qualities and ten competences at the end of the year.
    pub qualities: Vec<(&'static str, String)>,
}

page!(HocbaPage, "hocba.html" { v: HocbaView, pdf: String });

fn hocba_view(sb: &StudentBook) -> HocbaView {
    let (book, i, st) = (&sb.book, sb.index, &sb.student);
    let subjects = book
        .subjects
        .iter()
        .enumerate()
        .map(|(si, spec)| HocbaSubject {
            note: [TermId::Hk2, TermId::Hk1]
                .iter()
                .find_map(|t| book.row(&spec.id, *t, &st.id).and_then(|r| r.note.clone()))
                .unwrap_or_default(),
            name: spec.name.clone(),
            hk1: book.hk1[i].subjects[si].text(),
            hk2: book.hk2[i].subjects[si].text(),
            year: book.year[i].subjects[si].text(),
        })
        .collect();
    let y = &book.year[i];
    let cd = |c: Option<super::Level>| c.map(|c| c.label().to_string()).unwrap_or_default();
    HocbaView {
        school: sb.school.clone(),
        student_name: st.full_name.clone(),
        dob: vi_date(&st.dob),
        gender: st.gender.clone(),
        ma_dinh_danh: st.ma_dinh_danh.clone(),
        class_name: book.class.name.clone(),
        year: book.class.year.clone(),
        subjects,
        levels: vec![
            (
                "Học kì I",
                level_text(book.hk1[i].level).0,
                cd(book.hk1[i].conduct),
            ),
            (
                "Học kì II",
                level_text(book.hk2[i].level).0,
                cd(book.hk2[i].conduct),
            ),
            (
                "Cả năm",
                y.primary
                    .map_or_else(|| level_text(y.level).0, |r| r.label().to_string()),
                cd(y.conduct),
            ),
        ],
        absences: y.absences,
        // The printed học bạ's wording (forms.rs), so page and PDF read the same.
        outcome: match y.primary {
            Some(r) => super::forms::completion_wording(r, book.class.grade),
            None => match super::forms::decision_wording(y, book.class.grade) {
                (end, Some(after)) => format!("{end} → {after}"),
                (end, None) => end,
            },
        },
        award: y.award_label().unwrap_or_default().to_string(),
        comment: book.hk2[i].comment.clone(),
        homeroom_name: sb.homeroom.clone(),
        qualities: if book.is_primary() {
            quality_list(&book.hk2[i].qualities)
        } else {
            vec![]
        },
    }
}

/// Học bạ (THCS) for one student and school year.
async fn hocba(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
) -> Result<Response, ApiError> {
    let sb = student_book(&s, &u, &student)?;
    let pdf = format!("/grades/hocba/{student}/pdf");
    Ok(render(HocbaPage::new(
        chrome(&s, &u, &headers),
        hocba_view(&sb),
        pdf,
    )))
}

async fn hocba_pdf(
    State(s): State<Shared>,
    PageUser(u): PageUser,
    Path(student): Path<String>,
) -> Result<Response, ApiError> {
    let sb = student_book(&s, &u, &student)?;
    let ctx = super::forms::context(&s.store.read()?, &sb.book, sb.index)?;
    let layout = if sb.book.is_primary() {
        super::forms::hocba_primary(&sb.book, sb.index, &ctx)
    } else {
        super::forms::hocba_secondary(&sb.book, sb.index, &ctx)
    };
    let bytes = tokio::task::spawn_blocking(move || layout.finish())
        .await?
        .map_err(ApiError::internal)?;
    Ok(pdf_response(bytes, &format!("hoc-ba-{student}.pdf")))
}

/// The class summary for a term or the year as a landscape PDF (homeroom teacher, BGH).
async fn class_pdf(
    State(s): State<Shared>,
    PageUser(u): PageUser,
    Path(class): Path<String>,
    Query(q): Query<TermQuery>,
) -> Result<Response, ApiError> {
    let (book, school_name, signers) = {
        let rx = s.store.read()?;
        let book = super::class_book_for(&rx, &u.principal, &class)?;
        let signers = super::forms::class_signers(&rx, &book)?;
        (
            book,
            school::school_info(&rx)?
                .map(|i| i.name)
                .unwrap_or_default(),
            signers,
        )
    };
    let per = period(&q.term)?;
    let bytes = tokio::task::spawn_blocking(move || {
        let rows = summary_rows(&book, per);
        let label = match per {
            Period::Term(t) => t.label(),
            Period::Year => "Cả năm",
        };
        if book.is_primary() {
            return primary_class_layout(&book, per, &rows, &school_name, &signers).finish();
        }
        let mut l = super::pdf::Layout::new(true);
        l.line(9.0, false, &school_name);
        l.centred(
            13.0,
            true,
            &format!(
                "SỔ THEO DÕI VÀ ĐÁNH GIÁ HỌC SINH — LỚP {} — {} — NĂM HỌC {}",
                book.class.name,
                label.to_uppercase(),
                book.class.year
            ),
        );
        l.gap(6.0);
        let year = per == Period::Year;
        let mut header = vec!["STT".to_string(), "Họ và tên".to_string()];
        header.extend(
            book.subjects
                .iter()
                .map(|s| super::pdf::abbreviation(&s.name)),
        );
        header.extend(["KQHT", "KQRL", "Nghỉ"].map(String::from));
        let mut widths = vec![24.0, 88.0];
        widths.extend(book.subjects.iter().map(|_| 36.0));
        widths.extend([38.0, 38.0, 28.0]);
        if year {
            // The Sổ theo dõi's "Mức đánh giá sau khi rèn luyện trong kì nghỉ hè; kiểm tra, đánh
            // giá lại" (TT22 Đ13–14), then the decision and the title, so the year's Chưa đạt
            // is never read beside a promotion without the level after the summer.
            header.extend(
                [
                    "Sau hè: điểm, mức đánh giá lại",
                    "Sau hè: KQRL",
                    "Sau hè: KQHT",
                    "Kết quả",
                    "Danh hiệu",
                ]
                .map(String::from),
            );
            widths.extend([62.0, 34.0, 34.0, 60.0, 50.0]);
        }
        let body: Vec<Vec<String>> = rows
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let mut v = vec![(n + 1).to_string(), r.name.clone()];
                v.extend(r.subjects.iter().cloned());
                v.push(format!("{}{}", r.level, if r.adjusted { "*" } else { "" }));
                v.push(r.conduct.clone());
                v.push(r.absences.to_string());
                if year {
                    let y = &book.year[n];
                    v.push(super::forms::reassessed_list(
                        &book,
                        n,
                        super::pdf::abbreviation,
                    ));
                    let after = y.after_summer;
                    v.push(
                        after
                            .map(|a| a.conduct.label().to_string())
                            .unwrap_or_default(),
                    );
                    v.push(
                        after
                            .map(|a| a.level.label().to_string())
                            .unwrap_or_default(),
                    );
                    v.push(r.outcome.clone());
                    v.push(r.award.clone());
                }
                v
            })
            .collect();
        l.table_with(&widths, &header, &body, 7.0, Some(6.0));
        l.gap(4.0);
        let subjects: Vec<String> = book
            .subjects
            .iter()
            .map(|s| (super::pdf::abbreviation(&s.name), &s.name))
            .filter(|(a, n)| a != *n)
            .map(|(a, n)| format!("{a}: {n}"))
            .collect();
        let mut legend = vec![];
        if !subjects.is_empty() {
            legend.push(format!("{}.", subjects.join("; ")));
        }
        legend.push("KQHT: Kết quả học tập; KQRL: Kết quả rèn luyện.".to_string());
        if year {
            legend.push(
                "Sau hè: mức đánh giá sau khi rèn luyện trong kì nghỉ hè; kiểm tra, đánh giá lại \
                 (Điều 13, 14 Thông tư 22/2021)."
                    .into(),
            );
        }
        legend.push(
            "* mức được điều chỉnh lên một mức vì chỉ một môn kéo xuống (Điều 9 khoản 3, Thông \
             tư 22/2021)."
                .into(),
        );
        // Wrapped, never cut: every abbreviation of the table is explained.
        l.paragraph(7.5, false, 0.0, &legend.join("\n"));
        class_signatures(&mut l, &signers);
        l.finish()
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(pdf_response(
        bytes,
        &format!("so-theo-doi-{class}-{}.pdf", period_code(per)),
    ))
}

/// Short column headings for the qualities and competences of TT27 Đ5 (the paper form prints
/// them upright in narrow columns; a landscape A4 has no room for the full names).
const QUALITY_ABBR: [(&str, &str); 15] = [
    ("Yêu nước", "YN"),
    ("Nhân ái", "NA"),
    ("Chăm chỉ", "CC"),
    ("Trung thực", "TTh"),
    ("Trách nhiệm", "TNh"),
    ("Tự chủ và tự học", "TCH"),
    ("Giao tiếp và hợp tác", "GHT"),
    ("Giải quyết vấn đề và sáng tạo", "GQS"),
    ("Ngôn ngữ", "NgN"),
    ("Tính toán", "TTo"),
    ("Khoa học", "KHo"),
    ("Công nghệ", "CNg"),
    ("Tin học", "THo"),
    ("Thẩm mĩ", "TMĩ"),
    ("Thể chất", "TCh"),
];

fn quality_abbr(name: &str) -> &str {
    QUALITY_ABBR
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, a)| a)
}

/// A primary class's "Bảng tổng hợp kết quả đánh giá giáo dục của lớp" (TT27 Đ9, the form of
/// the appendix): per pupil each subject's level and test score, the level of each quality and
/// competence, and at the end of the year the education result, the award and the completion.
/// No conduct, no summer and no TT22 adjustment: TT27 has none of them.
fn primary_class_layout(
    book: &ClassBook,
    per: Period,
    rows: &[SummaryRow],
    school_name: &str,
    signers: &super::forms::ClassSigners,
) -> super::pdf::Layout {
    let when = match per {
        Period::Term(t) => format!("{} — NĂM HỌC", t.label().to_uppercase()),
        Period::Year => "CUỐI NĂM HỌC".into(),
    };
    let mut l = super::pdf::Layout::new(true);
    l.line(9.0, false, school_name);
    l.centred(
        12.0,
        true,
        &format!(
            "BẢNG TỔNG HỢP KẾT QUẢ ĐÁNH GIÁ GIÁO DỤC CỦA LỚP {} — {when} {}",
            book.class.name, book.class.year
        ),
    );
    l.gap(6.0);
    let year = per == Period::Year;
    let mut header = vec!["STT".to_string(), "Họ và tên".to_string()];
    let mut widths = vec![20.0, 105.0];
    header.extend(
        book.subjects
            .iter()
            .map(|s| super::pdf::abbreviation(&s.name)),
    );
    widths.extend(book.subjects.iter().map(|_| 30.0));
    header.extend(QUALITY_ABBR.iter().map(|(_, a)| a.to_string()));
    widths.extend(QUALITY_ABBR.iter().map(|_| 20.0));
    header.push("Nghỉ".into());
    widths.push(24.0);
    if year {
        header.extend(
            [
                "Kết quả giáo dục",
                "Khen thưởng",
                "Hoàn thành chương trình lớp học / tiểu học",
            ]
            .map(String::from),
        );
        widths.extend([42.0, 64.0, 72.0]);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut v = vec![(n + 1).to_string(), r.name.clone()];
            v.extend(r.subjects.iter().cloned());
            // Tốt / Đạt / Cần cố gắng as T / Đ / C, as the form's cells hold them.
            v.extend(r.qualities.iter().map(|(_, lv)| match lv.as_str() {
                "Tốt" => "T".to_string(),
                "Đạt" => "Đ".to_string(),
                "Cần cố gắng" => "C".to_string(),
                other => other.to_string(),
            }));
            v.push(r.absences.to_string());
            if year {
                let y = &book.year[n];
                v.push(y.primary.map(|p| p.code().to_string()).unwrap_or_default());
                v.push(r.award.clone());
                v.push(
                    y.primary
                        .map(|p| super::forms::completion_wording(p, y.grade))
                        .unwrap_or_default(),
                );
            }
            v
        })
        .collect();
    l.table(&widths, &header, &body, 6.5);
    l.gap(4.0);
    let subjects: Vec<String> = book
        .subjects
        .iter()
        .map(|s| (super::pdf::abbreviation(&s.name), &s.name))
        .filter(|(a, n)| a != *n)
        .map(|(a, n)| format!("{a}: {n}"))
        .collect();
    let named = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{}: {n}", quality_abbr(n)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut legend = vec![];
    if !subjects.is_empty() {
        legend.push(format!(
            "Môn học và hoạt động giáo dục — {}.",
            subjects.join("; ")
        ));
    }
    legend.push(format!(
        "Phẩm chất chủ yếu — {}.",
        named(&rules::tt27::QUALITIES)
    ));
    legend.push(format!(
        "Năng lực chung — {}. Năng lực đặc thù — {}.",
        named(&rules::tt27::COMPETENCES[..3]),
        named(&rules::tt27::COMPETENCES[3..])
    ));
    legend.push(
        "Mức đạt được: T = Hoàn thành tốt, H = Hoàn thành, C = Chưa hoàn thành, kèm điểm bài \
         kiểm tra định kì; phẩm chất, năng lực: T = Tốt, Đ = Đạt, C = Cần cố gắng."
            .into(),
    );
    if year {
        legend.push(
            "Kết quả giáo dục: HTXS = Hoàn thành xuất sắc, HTT = Hoàn thành tốt, HT = Hoàn \
             thành, CHT = Chưa hoàn thành."
                .into(),
        );
    }
    l.paragraph(7.5, false, 0.0, &legend.join("\n"));
    class_signatures(&mut l, signers);
    l
}

/// The date line and the homeroom teacher's and principal's blocks under a class summary.
fn class_signatures(l: &mut super::pdf::Layout, signers: &super::forms::ClassSigners) {
    // The date line, its blocks and the names stay on one page.
    l.ensure(110.0);
    l.gap(6.0);
    let date = super::forms::date_line(signers.place.as_deref(), None);
    l.state_header(&[], &[(&date, false)]);
    l.gap(-16.0);
    let dots = "………………………";
    let name = |n: &str| {
        if n.trim().is_empty() {
            dots.to_string()
        } else {
            n.to_string()
        }
    };
    let (gv, ht) = (name(&signers.homeroom), name(&signers.principal));
    l.signatures(
        &["GIÁO VIÊN CHỦ NHIỆM", "(Kí, ghi rõ họ tên)", &gv],
        &["HIỆU TRƯỞNG", "(Kí, ghi rõ họ tên và đóng dấu)", &ht],
    );
}

/// One class's counts in the school summary.
pub struct ClassCounts {
    pub id: String,
    pub name: String,
    pub students: usize,
    /// Tốt, Khá, Đạt, Chưa đạt, not yet complete
    pub learning: [usize; 5],
    pub conduct: [usize; 5],
    /// Lên lớp, rèn luyện hè, kiểm tra lại, ở lại (year only)
    pub outcomes: [usize; 6],
    pub awards: usize,
    /// Primary, year (TT27 Đ9): HTXS, HTT, HT, CHT, not yet complete.
    pub primary: [usize; 5],
    /// Primary, year (TT27 Đ11): completed the grade (or primary school), not completed.
    pub completion: [usize; 2],
    /// Primary, term: pupils with a subject or activity at C, pupils not yet complete.
    pub primary_term: [usize; 2],
}

page!(SchoolPage, "school_summary.html" {
    primary: bool,
    period_code: &'static str,
    period_label: &'static str,
    classes: Vec<ClassCounts>,
    total: ClassCounts,
});

/// Column of the school summary: Tốt, Khá, Đạt, Chưa đạt, then "not yet".
fn level_slot(l: Option<super::Level>) -> usize {
    l.map_or(4, |l| usize::from(super::level_code(l)) - 1)
}

/// The whole school at a glance for BGH: per class, how many students at each level, conduct
/// and end-of-year outcome. Counts only — names are in each class's lists.
async fn school_summary(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Query(q): Query<TermQuery>,
) -> Result<Response, ApiError> {
    if !crate::auth::may_see(&u.principal, Action::LockTerm) {
        return Err(GradeError::Forbidden.into());
    }
    let per = period(&q.term)?;
    let (mut books, primary) = {
        let rx = s.store.read()?;
        let st = super::settings(&rx)?;
        let year = school::school_info(&rx)?
            .map(|i| i.current_year)
            .unwrap_or_default();
        (
            super::school_books(&rx, &year, &st)?,
            super::is_primary(&rx)?,
        )
    };
    let mut total = ClassCounts {
        name: "Toàn trường".into(),
        ..total_zero()
    };
    let mut classes = vec![];
    books.sort_by(|a, b| (a.class.grade, &a.class.name).cmp(&(b.class.grade, &b.class.name)));
    for b in &books {
        let mut c = ClassCounts {
            id: b.class.id.clone(),
            name: b.class.name.clone(),
            ..total_zero()
        };
        c.students = b.students.len();
        for i in 0..b.students.len() {
            if b.is_primary() {
                // TT27: the education result and completion at the end of the year (Đ9, Đ11);
                // a term has no overall result, only each subject's level.
                match per {
                    Period::Year => {
                        let y = &b.year[i];
                        let slot = match y.primary {
                            Some(tt27::EducationResult::Htxs) => 0,
                            Some(tt27::EducationResult::Htt) => 1,
                            Some(tt27::EducationResult::Ht) => 2,
                            Some(tt27::EducationResult::Cht) => 3,
                            None => 4,
                        };
                        c.primary[slot] += 1;
                        if let Some(r) = y.primary {
                            c.completion[usize::from(!r.completed())] += 1;
                        }
                        c.awards += usize::from(y.award_label().is_some());
                    }
                    Period::Term(t) => {
                        let has_c = b.term(t)[i].subjects.iter().any(|o| {
                            matches!(o, super::SubjectOutcome::Primary(tt27::SubjectLevel::C, _))
                        });
                        c.primary_term[0] += usize::from(has_c);
                        c.primary_term[1] += usize::from(!b.is_complete(t, i));
                    }
                }
                continue;
            }
            let (level, conduct) = match per {
                Period::Term(t) => (b.term(t)[i].level.map(|l| l.level), b.term(t)[i].conduct),
                Period::Year => (b.year[i].level.map(|l| l.level), b.year[i].conduct),
            };
            c.learning[level_slot(level)] += 1;
            c.conduct[level_slot(conduct)] += 1;
            if per == Period::Year {
                // Each student once, by the decision that stands (TT22 Đ12–14: after the summer
                // when it is complete); the summer columns hold those still waiting for it.
                match b.year[i].final_outcome() {
                    Some(Outcome::Promoted) => c.outcomes[0] += 1,
                    Some(Outcome::SummerConduct) => c.outcomes[1] += 1,
                    Some(Outcome::ReAssessment) => c.outcomes[2] += 1,
                    Some(Outcome::SummerBoth) => c.outcomes[3] += 1,
                    Some(Outcome::Retained) => c.outcomes[4] += 1,
                    Some(Outcome::PrincipalDecides) => c.outcomes[5] += 1,
                    None => {}
                }
                c.awards += usize::from(b.year[i].award_label().is_some());
            }
        }
        total.students += c.students;
        for k in 0..5 {
            total.learning[k] += c.learning[k];
            total.conduct[k] += c.conduct[k];
        }
        for k in 0..6 {
            total.outcomes[k] += c.outcomes[k];
        }
        for k in 0..5 {
            total.primary[k] += c.primary[k];
        }
        for k in 0..2 {
            total.completion[k] += c.completion[k];
            total.primary_term[k] += c.primary_term[k];
        }
        total.awards += c.awards;
        classes.push(c);
    }
    let label = match per {
        Period::Term(t) => t.label(),
        Period::Year => "Cả năm",
    };
    Ok(render(SchoolPage::new(
        chrome(&s, &u, &headers),
        primary,
        period_code(per),
        label,
        classes,
        total,
    )))
}

fn total_zero() -> ClassCounts {
    ClassCounts {
        id: String::new(),
        name: String::new(),
        students: 0,
        learning: [0; 5],
        conduct: [0; 5],
        outcomes: [0; 6],
        awards: 0,
        primary: [0; 5],
        completion: [0; 2],
        primary_term: [0; 2],
    }
}
