//! Gradebook pages: the teacher's list of sheets, the score grid, the class summary with
//! conduct and the end-of-year lists, the parent notice (phiếu liên lạc) and the học bạ.
//! Everything shown is computed by the domain functions; templates only lay it out.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::rules::tt22::Outcome;
use super::{ClassBook, GradeError, Marks, TermId};
use crate::auth::{Action, permits};
use crate::net::pages::{chrome, page, render};
use crate::net::{ApiError, PageUser, Shared};
use crate::school;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/grades", get(index))
        .route("/grades/sheet/{class}/{subject}/{term}", get(grid))
        .route("/grades/class/{class}", get(class_summary))
        .route("/grades/notice/{student}", get(notice))
        .route("/grades/hocba/{student}", get(hocba))
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
    let bgh = permits(p, Action::LockTerm);
    let mut visible: Vec<(String, String)> = classes
        .iter()
        .filter(|c| super::may_view_class(p, &c.id))
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    visible.sort_by(|a, b| (a.1.len(), &a.1).cmp(&(b.1.len(), &b.1)));
    let year = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let mut terms = vec![];
    for t in TermId::BOTH {
        let lock = super::term_lock(&rx, &year, t)?;
        terms.push(TermState {
            code: t.code(),
            label: t.label(),
            locked: lock.as_ref().is_some_and(|l| l.locked),
            rule: lock
                .map(|l| l.rule_version.code().to_string())
                .unwrap_or_default(),
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

fn or_dash(s: String) -> String {
    if s.is_empty() { "—".into() } else { s }
}

page!(GridPage, "grid.html" {
    sheet: super::Sheet,
    other_term: &'static str,
    scored: bool,
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
    let scored = sheet.subject.kind == school::SubjectKind::Scored;
    let api = format!("/api/v1/grades/sheet/{class}/{subject}/{}", term.code());
    Ok(render(GridPage::new(
        chrome(&s, &u, &headers),
        sheet,
        other_term,
        scored,
        api,
    )))
}

#[derive(Deserialize)]
struct TermQuery {
    term: Option<String>,
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
    pub student: String,
    pub name: String,
    pub subjects: Vec<String>,
    pub level: String,
    pub adjusted: bool,
    pub conduct: String,
    pub absences: u16,
    pub outcome: String,
    pub award: String,
}

pub struct StudentList {
    pub title: &'static str,
    pub entries: Vec<String>,
}

page!(ClassPage, "class_summary.html" {
    class_id: String,
    class_name: String,
    period_code: &'static str,
    period_label: &'static str,
    subjects: Vec<String>,
    rows: Vec<SummaryRow>,
    lists: Vec<StudentList>,
    editable: bool,
    locked: bool,
    conduct_levels: Vec<&'static str>,
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
    if !super::may_view_class(&u.principal, &class) {
        return Err(GradeError::Forbidden.into());
    }
    let per = period(&q.term)?;
    let rx = s.store.read()?;
    let st = super::settings(&rx)?;
    let book = super::class_book(&rx, &class, &st)?;
    let subjects: Vec<String> = book.subjects.iter().map(|s| s.name.clone()).collect();
    let mut rows = vec![];
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
    for (i, st) in book.students.iter().enumerate() {
        let (outcomes, level, conduct, absences, outcome, award) = match per {
            Period::Term(t) => {
                let x = &book.term(t)[i];
                (&x.subjects, x.level, x.conduct, x.absences, None, None)
            }
            Period::Year => {
                let y = &book.year[i];
                (
                    &y.subjects,
                    y.level,
                    y.conduct,
                    y.absences,
                    y.outcome,
                    y.award,
                )
            }
        };
        let (level, adjusted) = level_text(level);
        rows.push(SummaryRow {
            student: st.id.clone(),
            name: st.full_name.clone(),
            subjects: outcomes.iter().map(|o| o.text()).collect(),
            level,
            adjusted,
            conduct: conduct.map(|c| c.label().to_string()).unwrap_or_default(),
            absences,
            outcome: outcome.map(|o| o.label().to_string()).unwrap_or_default(),
            award: award.map(|a| a.label().to_string()).unwrap_or_default(),
        });
    }
    if per == Period::Year {
        lists = year_lists(&book);
    }
    let editable =
        u.principal.homeroom.contains(&class) && matches!(per, Period::Term(_)) && !locked;
    let conduct_levels = super::Level::ALL.iter().map(|l| l.label()).collect();
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
    )))
}

/// The end-of-year lists the homeroom teacher draws up and BGH approves (Đ18, Đ20).
fn year_lists(book: &ClassBook) -> Vec<StudentList> {
    let mut lists: Vec<StudentList> = [
        "Lên lớp",
        "Rèn luyện trong kì nghỉ hè",
        "Kiểm tra, đánh giá lại",
        "Ở lại lớp",
        "Khen thưởng",
        "Chưa đủ kết quả",
    ]
    .into_iter()
    .map(|title| StudentList {
        title,
        entries: vec![],
    })
    .collect();
    for (i, s) in book.students.iter().enumerate() {
        let y = &book.year[i];
        match y.outcome {
            Some(Outcome::Promoted) => lists[0].entries.push(s.full_name.clone()),
            Some(Outcome::SummerConduct) => lists[1].entries.push(s.full_name.clone()),
            Some(Outcome::ReAssessment) => {
                let subj: Vec<&str> = y
                    .reassess
                    .iter()
                    .map(|j| book.subjects[*j].name.as_str())
                    .collect();
                lists[2]
                    .entries
                    .push(format!("{} ({})", s.full_name, subj.join(", ")));
            }
            Some(Outcome::Retained) => lists[3].entries.push(s.full_name.clone()),
            None => lists[5].entries.push(s.full_name.clone()),
        }
        if let Some(a) = y.award {
            lists[4]
                .entries
                .push(format!("{} — {}", s.full_name, a.label()));
        }
    }
    lists
}

pub struct NoticeSubject {
    pub name: String,
    /// Regular, mid-term and end-of-term marks as typed, or term results for the year view.
    pub detail: Vec<String>,
    pub result: String,
}

page!(NoticePage, "notice.html" {
    student_name: String,
    dob: String,
    class_name: String,
    year: String,
    period_label: &'static str,
    year_view: bool,
    subjects: Vec<NoticeSubject>,
    level: String,
    conduct: String,
    absences: u16,
    comment: String,
    outcome: String,
    award: String,
    homeroom_name: String,
});

fn student_book(
    s: &Shared,
    u: &crate::net::ApiUser,
    student: &str,
) -> Result<(school::Student, ClassBook, String), ApiError> {
    let rx = s.store.read()?;
    let st = rx
        .get(&school::STUDENTS, student)?
        .ok_or_else(ApiError::not_found)?;
    if !super::may_view_class(&u.principal, &st.class_id) {
        return Err(GradeError::Forbidden.into());
    }
    let settings = super::settings(&rx)?;
    let book = super::class_book(&rx, &st.class_id, &settings)?;
    let homeroom = match &book.class.homeroom {
        Some(h) => rx
            .get(&crate::auth::ACCOUNTS, h)?
            .map(|a| a.full_name)
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok((st, book, homeroom))
}

fn vi_date(iso: &str) -> String {
    match school::parse_date(iso) {
        Some(d) => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        None => iso.to_string(),
    }
}

/// Phiếu liên lạc: one student, one term or the year. Never another student's data, no class
/// averages or ranks (DOMAIN.md §3.5).
async fn notice(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
    Query(q): Query<TermQuery>,
) -> Result<Response, ApiError> {
    let per = period(&q.term)?;
    let (st, book, homeroom_name) = student_book(&s, &u, &student)?;
    let i = book
        .students
        .iter()
        .position(|x| x.id == st.id)
        .ok_or_else(ApiError::not_found)?;
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
        subjects.push(NoticeSubject {
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
                y.outcome.map(|o| o.label().to_string()).unwrap_or_default(),
                y.award.map(|a| a.label().to_string()).unwrap_or_default(),
            )
        }
    };
    Ok(render(NoticePage::new(
        chrome(&s, &u, &headers),
        st.full_name.clone(),
        vi_date(&st.dob),
        book.class.name.clone(),
        book.class.year.clone(),
        period_label,
        per == Period::Year,
        subjects,
        level,
        conduct.map(|c| c.label().to_string()).unwrap_or_default(),
        absences,
        comment,
        outcome,
        award,
        homeroom_name,
    )))
}

pub struct HocbaSubject {
    pub name: String,
    pub hk1: String,
    pub hk2: String,
    pub year: String,
}

page!(HocbaPage, "hocba.html" {
    school_name_full: String,
    student_name: String,
    dob: String,
    gender: String,
    ma_dinh_danh: String,
    class_name: String,
    year: String,
    subjects: Vec<HocbaSubject>,
    levels: Vec<(&'static str, String, String)>,
    absences: u16,
    outcome: String,
    award: String,
    comment: String,
    homeroom_name: String,
});

/// Học bạ (THCS) for one student and school year.
async fn hocba(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
) -> Result<Response, ApiError> {
    let (st, book, homeroom_name) = student_book(&s, &u, &student)?;
    let i = book
        .students
        .iter()
        .position(|x| x.id == st.id)
        .ok_or_else(ApiError::not_found)?;
    let subjects = book
        .subjects
        .iter()
        .enumerate()
        .map(|(si, spec)| HocbaSubject {
            name: spec.name.clone(),
            hk1: book.hk1[i].subjects[si].text(),
            hk2: book.hk2[i].subjects[si].text(),
            year: book.year[i].subjects[si].text(),
        })
        .collect();
    let y = &book.year[i];
    let cd = |c: Option<super::Level>| c.map(|c| c.label().to_string()).unwrap_or_default();
    let levels = vec![
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
        ("Cả năm", level_text(y.level).0, cd(y.conduct)),
    ];
    let school_name_full = school::school_info(&s.store.read()?)?
        .map(|i| i.name)
        .unwrap_or_default();
    Ok(render(HocbaPage::new(
        chrome(&s, &u, &headers),
        school_name_full,
        st.full_name.clone(),
        vi_date(&st.dob),
        st.gender.clone(),
        st.ma_dinh_danh.clone(),
        book.class.name.clone(),
        book.class.year.clone(),
        subjects,
        levels,
        y.absences,
        y.outcome.map(|o| o.label().to_string()).unwrap_or_default(),
        y.award.map(|a| a.label().to_string()).unwrap_or_default(),
        book.hk2[i].comment.clone(),
        homeroom_name,
    )))
}
