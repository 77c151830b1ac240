//! One student's pages: the phiếu liên lạc (term, year, month; HTML and PDF) and the học bạ
//! (HTML and PDF), each for the student's homeroom teacher and the BGH.

use super::*;

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

pub(super) struct StudentBook {
    student: school::Student,
    book: ClassBook,
    index: usize,
    homeroom: String,
    school: String,
}

pub(super) fn student_book(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    student: &str,
) -> Result<StudentBook, ApiError> {
    let rx = s.store.read()?;
    let st = rx
        .get(&school::STUDENTS, student)?
        .ok_or_else(ApiError::not_found)?;
    let book = crate::gradebook::class_book_for_student(&rx, &u.principal, &st)?;
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

/// Phiếu liên lạc: one student, one term or the year. Never another student's data, no class
/// averages or ranks (DOMAIN.md §3.5).
pub(super) fn notice_view(sb: &StudentBook, per: Period) -> NoticeView {
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
        dob: crate::gradebook::forms::vi_date(&st.dob),
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
pub(super) fn this_month() -> String {
    let d = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date();
    format!("{:04}-{:02}", d.year(), d.month())
}

/// Parses "2026-11" into (year, month).
pub(super) fn parse_month(m: &str) -> Option<(i16, i8)> {
    let (y, mo) = m.split_once('-')?;
    let (y, mo): (i16, i8) = (y.parse().ok()?, mo.parse().ok()?);
    ((1900..=2999).contains(&y) && (1..=12).contains(&mo)).then_some((y, mo))
}

/// The monthly parent notice: for each subject, the marks and the comment entered during that
/// month (Vietnam time, UTC+7 all year). One student only.
pub(super) fn month_view(
    s: &Shared,
    sb: &StudentBook,
    month: &str,
) -> Result<NoticeView, ApiError> {
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
                &crate::gradebook::ROWS,
                &crate::gradebook::row_key(&book.class.id, &spec.id, term, &st.id),
            )?
            else {
                continue;
            };
            for col in spec.columns() {
                if let Some(c) = row.cells.get(&col)
                    && in_month(c.at)
                    && c.mark != crate::gradebook::Mark::Pending
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
        dob: crate::gradebook::forms::vi_date(&st.dob),
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

pub(super) fn period_code(per: Period) -> &'static str {
    match per {
        Period::Term(t) => t.code(),
        Period::Year => "cn",
    }
}

pub(super) async fn notice(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
    typed: crate::http::PageQuery<TermQuery>,
) -> Result<Response, ApiError> {
    let base = format!("/grades/notice/{student}");
    let q = match term_filters(&s, &u, &headers, typed, "Phiếu liên lạc", &base)? {
        Ok((q, _)) => q,
        Err(refused) => return Ok(refused),
    };
    let (v, query) = chosen_notice(&s, &u, &student, &q)?;
    let pdf = format!("/grades/notice/{student}/pdf?{query}");
    Ok(render(NoticePage::new(chrome(&s, &u, &headers), v, pdf)))
}

/// The notice a query asks for — a month ("month=2026-11") or a term or the year — and that
/// query again, for the links between the page and its PDF.
pub(super) fn chosen_notice(
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

pub(super) fn pdf_response(bytes: Vec<u8>, name: &str) -> Response {
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

pub(super) async fn notice_pdf(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
    typed: crate::http::PageQuery<TermQuery>,
) -> Result<Response, ApiError> {
    let sb = student_book(&s, &u, &student)?;
    let base = format!("/grades/notice/{student}/pdf");
    let q = match term_filters(&s, &u, &headers, typed, "Phiếu liên lạc", &base)? {
        Ok((q, _)) => q,
        Err(refused) => return Ok(refused),
    };
    let rx = s.store.read()?;
    let ctx = crate::gradebook::forms::context(&rx, &sb.book, sb.index)?;
    let (of, label) = match &q.month {
        Some(m) => {
            let (y, mo) = parse_month(m).ok_or_else(|| {
                ApiError::bad_request(format!("Tháng không hợp lệ: \"{m}\" (dạng 2026-11)"))
            })?;
            let terms = rx
                .get(&school::YEARS, &sb.book.class.year)?
                .map(|y| y.terms)
                .unwrap_or_default();
            let t = crate::gradebook::forms::term_of_month(&terms, y, mo).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Tháng {mo}/{y} không thuộc học kì nào của năm học {}",
                    sb.book.class.year
                ))
            })?;
            (
                crate::gradebook::forms::NoticeOf::Month(y, mo, t),
                m.clone(),
            )
        }
        None => match period(&q.term)? {
            Period::Term(t) => (
                crate::gradebook::forms::NoticeOf::Term(t),
                t.code().to_string(),
            ),
            Period::Year => (crate::gradebook::forms::NoticeOf::Year, "cn".to_string()),
        },
    };
    let d = jiff::Timestamp::now().to_zoned(school::time_zone()).date();
    let today = format!("ngày {} tháng {} năm {}", d.day(), d.month(), d.year());
    let layout = crate::gradebook::forms::notice(&rx, &sb.book, sb.index, &ctx, of, &today)?;
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
    /// Chuyển đến / chuyển trường / thôi học, as the students page says it ("" otherwise).
    pub status: String,
}

page!(HocbaPage, "hocba.html" { v: HocbaView, pdf: String, sign: Option<StudentSigning> });

/// The học bạ page of a student who left (transfer out, withdrawal): who may sign it alone now
/// for the hồ sơ chuyển trường, and the newest signed file, if any.
pub struct StudentSigning {
    pub student: String,
    pub gvcn: bool,
    pub bgh: bool,
    /// "v1 — Giáo viên chủ nhiệm, Hiệu trưởng" for the newest signed version.
    pub signed: String,
    /// The newest signed version no longer matches her records: a new one is to be signed
    /// (review r26 #2).
    pub stale: bool,
}

fn student_signing(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    sb: &StudentBook,
) -> Result<Option<StudentSigning>, ApiError> {
    if sb.student.left.is_none() {
        return Ok(None);
    }
    let p = &u.principal;
    let rx = s.store.read()?;
    let rows = crate::gradebook::hocba::class_versions(&rx, &sb.book.class.id)?;
    let stale = !crate::gradebook::hocba::needs_resigning(
        &rx,
        &sb.book.class.id,
        &[sb.student.id.as_str()],
    )?
    .is_empty();
    let mine: Vec<_> = rows.iter().filter(|v| v.student == sb.student.id).collect();
    let signed = match mine.last() {
        Some(last) => format!(
            "v{} — {}",
            last.version,
            mine.iter()
                .filter(|v| v.version == last.version)
                .map(|v| v.signer_role.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    Ok(Some(StudentSigning {
        student: sb.student.id.clone(),
        gvcn: sb.book.class.homeroom.as_deref() == Some(p.account.id.as_str()),
        bgh: p.account.roles.contains(&crate::auth::Role::Principal)
            || p.account.roles.contains(&crate::auth::Role::VicePrincipal),
        signed,
        stale,
    }))
}

pub(super) fn hocba_view(sb: &StudentBook) -> HocbaView {
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
    let cd =
        |c: Option<crate::gradebook::Level>| c.map(|c| c.label().to_string()).unwrap_or_default();
    let status = [
        st.arrived.as_ref().map(|a| {
            format!(
                "Chuyển đến ngày {} từ {}",
                crate::gradebook::forms::vi_date(&a.date),
                a.from_school
            )
        }),
        st.left.as_ref().map(|d| d.describe()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(". ");
    HocbaView {
        status,
        school: sb.school.clone(),
        student_name: st.full_name.clone(),
        dob: crate::gradebook::forms::vi_date(&st.dob),
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
            Some(r) => crate::gradebook::forms::completion_wording(r, book.class.grade),
            None => match crate::gradebook::forms::decision_wording(y, book.class.grade) {
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
pub(super) async fn hocba(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    Path(student): Path<String>,
) -> Result<Response, ApiError> {
    let mut sb = student_book(&s, &u, &student)?;
    if sb.student.left.is_some() {
        crate::gradebook::hocba::blank_what_she_did_not_complete(
            &s.store.read()?,
            &mut sb.book,
            sb.index,
        )?;
    }
    let pdf = format!("/grades/hocba/{student}/pdf");
    let sign = student_signing(&s, &u, &sb)?;
    Ok(render(HocbaPage::new(
        chrome(&s, &u, &headers),
        hocba_view(&sb),
        pdf,
        sign,
    )))
}

pub(super) async fn hocba_pdf(
    State(s): State<Shared>,
    PageUser(u): PageUser,
    Path(student): Path<String>,
) -> Result<Response, ApiError> {
    let sb = student_book(&s, &u, &student)?;
    // The print carries the học bạ's structured data (`hoc-ba.json`), as the archive's unsigned
    // file does: a copy signed by hand (`tram hocba sign`) is a học bạ of the school only while
    // that data reads as the box's (review r23 #1: a print without it, signed by any teacher
    // and the principal, verified as a complete học bạ).
    let store = s.store.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        crate::gradebook::hocba::print(&store.read()?, &sb.book, sb.index)
            .map_err(ApiError::from)
            .map(|b| (b, sb))
    })
    .await??;
    let (bytes, sb) = bytes;
    let who = crate::gradebook::hocba::student_file_stem(
        Some(&sb.book.students[sb.index]),
        &mut Default::default(),
    );
    Ok(pdf_response(bytes, &format!("hoc-ba-{who}.pdf")))
}

/// The newest complete signed học bạ of a student (học bạ số), as stored: the file both
/// signatures cover, byte for byte — never a re-signing the principal has not finished (review
/// r19 #1); before any version is complete, the GVCN-signed file named "…-cho-bgh-ky.pdf"
/// (`hocba::for_download`) —, for whoever may see the class's results; named as the class
/// export names it (`hocba::student_file_stem`), not by the internal id.
pub(super) async fn hocba_signed(
    State(s): State<Shared>,
    PageUser(u): PageUser,
    Path(student): Path<String>,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let st = rx
        .get(&school::STUDENTS, &student)?
        .ok_or_else(ApiError::not_found)?;
    if !crate::gradebook::may_view_class(&u.principal, &st.class_id) {
        return Err(GradeError::Forbidden.into());
    }
    let (signed, complete) = crate::gradebook::hocba::for_download(&rx, &st.class_id, &student)?
        .ok_or_else(ApiError::not_found)?;
    let bytes = signed.pdf_bytes()?;
    let who = crate::gradebook::hocba::student_file_stem(Some(&st), &mut Default::default());
    let waiting = if complete { "" } else { "-cho-bgh-ky" };
    Ok(pdf_response(
        bytes,
        &format!("hoc-ba-{who}-v{}{waiting}.pdf", signed.version),
    ))
}
