//! Gradebook pages: the teacher's list of sheets, the score grid, the class summary with
//! conduct and the end-of-year lists, the parent notice (phiếu liên lạc) and the học bạ.
//! Everything shown is computed by the domain functions; templates only lay it out.

use axum::Router;
use axum::extract::{Path, State};
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

mod class_pdf;
mod graduation;
mod student;

pub use class_pdf::class_books;
use class_pdf::*;
use student::*;

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
        .route("/grades/hocba/{student}/signed", get(hocba_signed))
        .route("/grades/class/{class}/hocba.zip", get(hocba_zip))
        .route("/grades/hocba-verify", get(hocba_verify_page))
        .route("/grades/hocba-signer", get(hocba_signer_page))
        .route("/grades/graduation", get(graduation::graduation_page))
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

/// One class's lock state for a term, on BGH's lock panel: its own lock or reopening, else the
/// school's.
pub struct ClassLockCell {
    pub code: &'static str,
    pub locked: bool,
    /// The class has a lock record of its own (locked or reopened for it alone).
    pub own: bool,
}

pub struct ClassLockRow {
    pub id: String,
    pub name: String,
    pub terms: Vec<ClassLockCell>,
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
    class_locks: Vec<ClassLockRow>,
    // The lock panel's school years (newest first) and the one its class table shows: last
    // year's classes (the demo's 9A2) are locked and reopened from here too.
    lock_years: Vec<String>,
    lock_year: String,
    lock_note: Option<String>,
    corrections: Vec<CorrectionView>,
});

#[derive(Deserialize)]
struct LockYear {
    year: Option<String>,
}

async fn index(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<LockYear>,
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
    // Each class of the year with the lock that holds for it per term, so BGH can lock or reopen
    // one class (a class finished early, a correction in one class) without the school's lock.
    // One school year at a time (`?year=`, the current one by default), as the class list.
    let mut lock_years: Vec<String> = classes.iter().map(|c| c.year.clone()).collect();
    if !year.is_empty() {
        lock_years.push(year.clone());
    }
    lock_years.sort();
    lock_years.dedup();
    lock_years.reverse();
    let asked = typed
        .filters
        .and_then(|q| match q.year.map(|y| y.trim().to_string()) {
            Some(y) if y.is_empty() => Ok(None),
            Some(y) if school::is_school_year(&y) => Ok(Some(y)),
            Some(y) => Err(format!(
                "Năm học “{}” không hợp lệ: ghi dạng 2026-2027 (các năm học của trường: {}).",
                y.chars().take(20).collect::<String>(),
                lock_years.join(", ")
            )),
            None => Ok(None),
        });
    let lock_year = match asked {
        Ok(y) => y.unwrap_or_else(|| year.clone()),
        Err(why) => {
            let choices = lock_years
                .iter()
                .map(|y| (format!("/grades?year={y}"), format!("Năm học {y}")))
                .collect();
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Sổ điểm",
                why,
                choices,
            );
        }
    };
    let lock_note = Some(&lock_year)
        .filter(|y| !y.is_empty() && !classes.iter().any(|c| &c.year == *y))
        .map(|y| format!("Năm học {y} không có lớp nào trong hồ sơ của trường."));
    if !lock_year.is_empty() && !lock_years.contains(&lock_year) {
        lock_years.insert(0, lock_year.clone());
    }
    let mut class_locks = vec![];
    if bgh {
        let mut of_year: Vec<&school::Class> =
            classes.iter().filter(|c| c.year == lock_year).collect();
        of_year.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
        for c in of_year {
            let mut cells = vec![];
            for t in TermId::BOTH {
                let own = super::class_own_lock(&rx, c, t)?;
                cells.push(ClassLockCell {
                    code: t.code(),
                    locked: super::is_class_locked(&rx, c, t)?,
                    own: own.is_some(),
                });
            }
            class_locks.push(ClassLockRow {
                id: c.id.clone(),
                name: c.name.clone(),
                terms: cells,
            });
        }
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
        class_locks,
        lock_years,
        lock_year,
        lock_note,
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

fn period(q: &Option<String>) -> Result<Period, ApiError> {
    period_of(q).map_err(crate::http::bad_filter)
}

/// The period a `term` filter names ("" or none: the year), or why it names nothing, in
/// Vietnamese (review r21 #5).
fn period_of(q: &Option<String>) -> Result<Period, String> {
    match q.as_deref().map(str::trim) {
        None | Some("" | "cn") => Ok(Period::Year),
        Some(t) => TermId::parse(t).map(Period::Term).map_err(|_| {
            format!(
                "Không có học kì “{}”: chọn Học kì I, Học kì II hoặc Cả năm.",
                t.chars().take(20).collect::<String>()
            )
        }),
    }
}

/// A gradebook page's `term` (and `month`) filters, or their refusal (review r21 #5): for a
/// browser the page's frame, titled `title`, with the reason and the periods as links to
/// `base`; for anyone else the JSON `bad_filter`. `Ok(Err(page))` is the refusal to send.
fn term_filters(
    s: &Shared,
    u: &crate::auth::extract::ApiUser,
    headers: &HeaderMap,
    typed: crate::http::PageQuery<TermQuery>,
    title: &str,
    base: &str,
) -> Result<Result<(TermQuery, Period), Response>, ApiError> {
    let checked = typed.filters.and_then(|q| {
        if let Some(m) = q.month.as_deref().filter(|m| parse_month(m).is_none()) {
            return Err(format!(
                "Tháng “{}” không hợp lệ: ghi dạng 2026-11.",
                m.chars().take(20).collect::<String>()
            ));
        }
        let per = period_of(&q.term)?;
        Ok((q, per))
    });
    match checked {
        Ok(x) => Ok(Ok(x)),
        Err(why) => {
            let choices = [("hk1", "Học kì I"), ("hk2", "Học kì II"), ("cn", "Cả năm")]
                .iter()
                .map(|(c, l)| (format!("{base}?term={c}"), l.to_string()))
                .collect();
            crate::auth::pages::refused_filter(s, u, headers, typed.page, title, why, choices)
                .map(Err)
        }
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
    hocba: Option<HocbaPanel>,
});

/// Học bạ số on the class page's year view: who may sign now, and every stored version —
/// grouped per student in name order, the newest version shown and the older ones folded
/// (review r10 #6: 240 flat rows for 40 students, in no name order, without time-stamps).
pub struct HocbaPanel {
    pub locked: bool,
    pub gvcn: bool,
    pub bgh: bool,
    /// Some student's học bạ still waits for the homeroom teacher's signature.
    pub gvcn_waits: bool,
    /// Some học bạ signed by the homeroom teacher still waits for BGH's.
    pub bgh_waits: bool,
    /// A background task is signing the class now (the demo's 9A1 just after start-up).
    pub signing: bool,
    pub students: Vec<HocbaStudent>,
    /// Students whose newest signed học bạ no longer matches the box (an identity detail or a
    /// result changed after the signing): (id, name), "cần ký lại" (review r15 #1).
    pub resign: Vec<(String, String)>,
    /// The one-line state at the top of the page, a link to the section (review r15 #8: on a
    /// phone the section is ~4,500 px below the grid); `None` before the year is locked and
    /// while nothing is signed.
    pub status: Option<String>,
    /// The signed-in person has a signing certificate: without one the page says where to ask
    /// for it in place of the PIN box (review r17 #11).
    pub has_signer: bool,
}

/// One student's signed học bạ on the class page.
pub struct HocbaStudent {
    pub name: String,
    /// The student left the class (her one-student học bạ, the hồ sơ chuyển trường):
    /// "Chuyển trường ngày …", as the register says it.
    pub left: Option<String>,
    /// The student's page (her signed file is downloaded from it).
    pub id: String,
    pub newest: HocbaVersion,
    /// The newest version no longer matches the box's records: "cần ký lại".
    pub stale: bool,
    /// Older versions, newest first (kept, replaced by a correction).
    pub older: Vec<HocbaVersion>,
}

pub struct HocbaVersion {
    pub version: u32,
    pub signatures: Vec<HocbaSignature>,
}

impl HocbaVersion {
    /// Both signatures a học bạ needs: the homeroom teacher's and BGH's over it.
    pub fn complete(&self) -> bool {
        self.signatures.iter().any(|g| g.stage == "BGH")
    }
}

/// One signature as the list shows it.
pub struct HocbaSignature {
    /// "GVCN" or "BGH".
    pub stage: &'static str,
    /// "name — role".
    pub signer: String,
    /// The signer's name alone (the one-line summary).
    pub name: String,
    /// dd/mm/yyyy HH:MM, the school's clock.
    pub time: String,
    /// The district's time-stamp, the same way; none yet (offline, or signed over).
    pub timestamp: Option<String>,
    /// The file's SHA-256, first 16 hex digits (the manifest has it whole): the item's title,
    /// so a phone's line stays short.
    pub sha: String,
}

/// The class's signed học bạ as one ZIP: the newest version of each and manifest.json.
async fn hocba_zip(
    State(s): State<Shared>,
    PageUser(u): PageUser,
    Path(class): Path<String>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let rx = s.store.read()?;
    super::class_of(&rx, &class)?;
    if !super::may_view_class(&u.principal, &class) {
        return Err(GradeError::Forbidden.into());
    }
    let bytes = super::hocba::export_zip(&rx, s.store.dir(), &class)?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/zip".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"hoc-ba-{class}.zip\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

page!(HocbaVerifyPage, "hocba_verify.html" {
    head: bool,
    current: Option<String>,
});

/// Kiểm tra học bạ số: upload a signed học bạ, see each signature and whether its data
/// matches (the page's script posts the file to `/api/v1/hocba/verify`).
async fn hocba_verify_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    use crate::auth::Role;
    let roles = &u.principal.account.roles;
    if ![Role::Principal, Role::VicePrincipal, Role::Admin]
        .iter()
        .any(|r| roles.contains(r))
    {
        return Err(GradeError::Forbidden.into());
    }
    // The principal or a vice principal imports her own licensed CA's certificate here; the
    // page says which certificate she signs with now.
    let head = super::hocba::head_role(roles).is_some();
    let current = if head {
        super::hocba::signer(&s.store.read()?, u.principal.id())?.map(|rec| {
            if rec.chain.is_empty() {
                "Chứng thư do CA ký số của trường cấp.".to_string()
            } else {
                let issuer = rec
                    .chain
                    .first()
                    .and_then(|h| hex::decode(h).ok())
                    .and_then(|d| <x509_cert::Certificate as der::Decode>::from_der(&d).ok())
                    .map(|c| crate::pki::signing::subject_name_and_role(&c).0)
                    .unwrap_or_default();
                format!("Chứng thư số công cộng do {issuer} cấp.")
            }
        })
    } else {
        None
    };
    Ok(render(HocbaVerifyPage::new(
        chrome(&s, &u, &headers),
        head,
        current,
    )))
}

page!(HocbaSignerPage, "hocba_signer.html" {
    own: Option<super::hocba::ca::SignerLine>,
    request: Option<super::hocba::ca::RequestLine>,
    roles: Vec<(&'static str, &'static str)>,
    bootstrap: bool,
    head: bool,
    requests: Vec<super::hocba::ca::RequestLine>,
    signers: Vec<super::hocba::ca::SignerLine>,
    pending: bool,
    holders_now: usize,
    ca: Option<super::hocba::ca::CaStatus>,
    ca_holder: bool,
    own_ending: Option<String>,
    own_expired: bool,
    ending: Vec<String>,
    notices: Vec<String>,
    me: String,
});

/// Chứng thư ký học bạ: each homeroom teacher or BGH member asks for her own certificate
/// here; the BGH also see the requests waiting (approve with their PIN, decline with a reason)
/// and the current signers with their certificates' dates.
async fn hocba_signer_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
) -> Result<Response, ApiError> {
    use super::hocba::ca;
    let rx = s.store.read()?;
    let me = u.principal.id();
    let now = jiff::Timestamp::now();
    let signers = ca::signer_lines(&rx, s.store.dir(), now)?;
    let requests = ca::request_lines(&rx)?;
    let own = signers.iter().find(|l| l.account == me).cloned();
    let request = requests.iter().find(|l| l.account == me).cloned();
    // The roles this account may ask a certificate for: what it is, as the API decides.
    let roles: Vec<_> = [
        ("hieu-truong", "Hiệu trưởng"),
        ("pho-hieu-truong", "Phó hiệu trưởng"),
        ("gvcn", "Giáo viên chủ nhiệm"),
    ]
    .into_iter()
    .filter(|(code, _)| ca::role_for(&u.principal, Some(code)).is_ok())
    .collect();
    let head = super::hocba::head_role(&u.principal.account.roles).is_some();
    let bootstrap = head && !ca::ca_sealed(&rx)?;
    // A request waiting: the page shows it (and "Huỷ yêu cầu"), not the form again.
    let pending = request.as_ref().is_some_and(|q| q.declined.is_none());
    let holders_now = signers.iter().filter(|l| l.ca_holder).count();
    let ca_holder = own.as_ref().is_some_and(|l| l.ca_holder);
    let ca = ca::ca_status(&rx, s.store.dir(), now)?;
    // A certificate that ends within 90 days or has ended: its holder is told the way out,
    // the BGH see whose (review r17 #3).
    let own_ending = own.as_ref().and_then(|l| l.ending_text(true));
    // Ended, or under a retired CA: it signs nothing (review r22 #3).
    let own_expired = own
        .as_ref()
        .is_some_and(|l| l.expired || l.retired.is_some());
    let ending: Vec<String> = signers
        .iter()
        .filter(|l| l.account != me)
        .filter_map(|l| l.ending_text(false))
        .collect();
    // A recovery of the school's CA done for her or affecting her, for 30 days (review r17 #4).
    let notices = ca::recent_notices(&rx, me, now)?;
    Ok(render(HocbaSignerPage::new(
        chrome(&s, &u, &headers),
        own,
        request,
        roles,
        bootstrap,
        head,
        if head { requests } else { Vec::new() },
        if head { signers } else { Vec::new() },
        pending,
        holders_now,
        if head { ca } else { None },
        ca_holder,
        own_ending,
        own_expired,
        if head { ending } else { Vec::new() },
        notices,
        me.to_string(),
    )))
}

fn hocba_panel(
    rx: &crate::store::Rx,
    p: &crate::auth::Principal,
    book: &ClassBook,
    locked: bool,
) -> Result<HocbaPanel, ApiError> {
    use super::hocba::local_time;
    use crate::auth::Role;
    // A pupil who left is signed on her own page; her signed file out of date is listed with
    // the class's (review r26 #2).
    let left = crate::school::students_who_left(rx, &book.class.id)?;
    let names: std::collections::HashMap<&str, &str> = book
        .students
        .iter()
        .map(|s| (s.id.as_str(), s.full_name.as_str()))
        .collect();
    // Rows come in key order — student id, version, stage — so each student's are together,
    // oldest version first.
    let mut students: Vec<HocbaStudent> = Vec::new();
    let mut last: Option<String> = None;
    for v in super::hocba::class_versions(rx, &book.class.id)? {
        let sig = HocbaSignature {
            stage: match v.stage {
                super::hocba::Stage::Gvcn => "GVCN",
                super::hocba::Stage::Principal => "BGH",
            },
            signer: format!("{} — {}", v.signer_name, v.signer_role),
            name: v.signer_name.clone(),
            time: local_time(v.at),
            timestamp: v.timestamp.map(local_time),
            sha: v.sha256.chars().take(16).collect(),
        };
        let fresh = HocbaVersion {
            version: v.version,
            signatures: Vec::new(),
        };
        let st = match students.last_mut() {
            Some(st) if last.as_deref() == Some(v.student.as_str()) => st,
            _ => {
                // A student no longer on the roll (she left: her one-student học bạ) is
                // named from her record and marked with the departure (issue 22).
                let (name, left) = match names.get(v.student.as_str()) {
                    Some(n) => (n.to_string(), None),
                    None => match rx.get(&crate::school::STUDENTS, &v.student)? {
                        Some(st) => (st.full_name, st.left.map(|d| d.describe())),
                        None => (v.student.clone(), None),
                    },
                };
                students.push(HocbaStudent {
                    name,
                    left,
                    id: v.student.clone(),
                    newest: fresh,
                    stale: false,
                    older: Vec::new(),
                });
                last = Some(v.student.clone());
                students.last_mut().expect("just pushed")
            }
        };
        if st.newest.version != v.version {
            let was = std::mem::replace(
                &mut st.newest,
                HocbaVersion {
                    version: v.version,
                    signatures: Vec::new(),
                },
            );
            st.older.insert(0, was);
        }
        st.newest.signatures.push(sig);
    }
    students.sort_by_cached_key(|st| crate::school::vietnamese_name_key(&st.name));
    let roll: Vec<&str> = book.students.iter().map(|s| s.id.as_str()).collect();
    let (gvcn_ids, bgh_ids) = super::hocba::class_waiting_ids(rx, &book.class.id, &roll)?;
    let (gvcn_n, bgh_n) = (gvcn_ids.len(), bgh_ids.len());
    let (gvcn_waits, bgh_waits) = (gvcn_n > 0, bgh_n > 0);
    let all: Vec<&str> = roll
        .iter()
        .copied()
        .chain(left.iter().map(|s| s.id.as_str()))
        .collect();
    let resign: Vec<(String, String)> = super::hocba::needs_resigning(rx, &book.class.id, &all)?
        .into_iter()
        .map(|id| {
            let name = names
                .get(id.as_str())
                .copied()
                .or_else(|| {
                    left.iter()
                        .find(|s| s.id == id)
                        .map(|s| s.full_name.as_str())
                })
                .map_or(id.clone(), str::to_string);
            (id, name)
        })
        .collect();
    for st in &mut students {
        st.stale = resign.iter().any(|(id, _)| *id == st.id);
    }
    let signing = super::hocba::signing_now().contains(&book.class.id);
    let status = hocba_status(
        locked,
        signing,
        !students.is_empty(),
        // A student whose new version already waits for a signature is counted there, not
        // again as "cần ký lại" (review r25 #4: one pupil read as two).
        (
            gvcn_n,
            bgh_n,
            resign
                .iter()
                .filter(|(id, _)| !gvcn_ids.contains(id) && !bgh_ids.contains(id))
                .count(),
        ),
        roll.len(),
    );
    Ok(HocbaPanel {
        gvcn_waits,
        bgh_waits,
        locked,
        gvcn: book.class.homeroom.as_deref() == Some(p.account.id.as_str()),
        bgh: p.account.roles.contains(&Role::Principal)
            || p.account.roles.contains(&Role::VicePrincipal),
        students,
        signing,
        resign,
        status,
        has_signer: super::hocba::signer(rx, p.id())?.is_some(),
    })
}

/// The học bạ's state in one line for the top of the class page: who must sign, for how many
/// students, and who needs signing again; `None` until the year is locked or something signed.
fn hocba_status(
    locked: bool,
    signing: bool,
    any_signed: bool,
    (gvcn, bgh, resign): (usize, usize, usize),
    roll: usize,
) -> Option<String> {
    if !locked && !any_signed {
        return None;
    }
    if signing {
        return Some("Học bạ số: đang ký…".into());
    }
    let mut parts = Vec::new();
    if gvcn > 0 {
        parts.push(format!("chờ GVCN ký — {gvcn} em"));
    }
    if bgh > 0 {
        parts.push(format!("chờ BGH ký — {bgh} em"));
    }
    if resign > 0 {
        parts.push(format!("cần ký lại — {resign} em"));
    }
    if parts.is_empty() {
        parts.push(if locked && roll > 0 {
            format!("đủ chữ ký — {roll} em")
        } else {
            "xem các bản đã ký".to_string()
        });
    }
    Some(format!("Học bạ số: {}", parts.join("; ")))
}

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
    typed: crate::http::PageQuery<TermQuery>,
) -> Result<Response, ApiError> {
    let rx = s.store.read()?;
    let book = super::class_book_for(&rx, &u.principal, &class)?;
    let title = format!("Lớp {}", book.class.name);
    let base = format!("/grades/class/{}", book.class.id);
    let per = match term_filters(&s, &u, &headers, typed, &title, &base)? {
        Ok((_, per)) => per,
        Err(refused) => return Ok(refused),
    };
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
            super::is_class_locked(&rx, &book.class, t)?,
        ),
        Period::Year => (
            "cn",
            "Cả năm",
            super::is_class_locked(&rx, &book.class, TermId::Hk2)?,
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
    let hocba = match per {
        Period::Year => Some(hocba_panel(&rx, &u.principal, &book, locked)?),
        Period::Term(_) => None,
    };
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
        hocba,
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
                // The title only: why one the levels would give is withheld is a note of its
                // own (the page's list, the PDF's note under the table), never this cell.
                let award = y.award_label().map(String::from).unwrap_or_default();
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
    grades: Vec<u8>,
    // The grade shown ("" the whole school).
    grade: String,
    // The school year shown, and the school's years (newest first) to choose from.
    year: String,
    years: Vec<String>,
    // What each link adds to keep the year shown ("" for the current one).
    keep_year: String,
});

#[derive(Deserialize)]
struct SchoolQuery {
    term: Option<String>,
    /// One grade's classes ("" or none: the whole school).
    grade: Option<String>,
    /// One school year ("" or none: the current one; review r24 #7: last year's graduating
    /// classes could not be summed).
    year: Option<String>,
}

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
    typed: crate::http::PageQuery<SchoolQuery>,
) -> Result<Response, ApiError> {
    if !crate::auth::may_see(&u.principal, Action::LockTerm) {
        return Err(GradeError::Forbidden.into());
    }
    let (grades, current, years) = {
        let rx = s.store.read()?;
        let info = school::school_info(&rx)?;
        let current = info
            .as_ref()
            .map(|i| i.current_year.clone())
            .unwrap_or_default();
        let mut years: Vec<String> = school::list(&rx, &school::CLASSES)?
            .into_iter()
            .map(|c: school::Class| c.year)
            .chain((!current.is_empty()).then(|| current.clone()))
            .collect();
        years.sort();
        years.dedup();
        years.reverse();
        (info.map(|i| i.grades()).unwrap_or_default(), current, years)
    };
    // A term or a grade that names nothing (or is given twice): the reason, the periods and
    // grades as links, the menu — never another period's or the whole school's counts.
    let checked = typed.filters.and_then(|q| {
        let per = period_of(&q.term)?;
        let grade = match q.grade.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
            None => None,
            Some(g) => match g.parse::<u8>() {
                Ok(n) if grades.contains(&n) => Some(n),
                _ => {
                    let list: Vec<String> = grades.iter().map(u8::to_string).collect();
                    return Err(format!(
                        "Trường không có khối “{}”: chọn một trong các khối {}.",
                        g.chars().take(20).collect::<String>(),
                        list.join(", ")
                    ));
                }
            },
        };
        let year = match q.year.as_deref().map(str::trim).filter(|y| !y.is_empty()) {
            None => current.clone(),
            Some(y) if years.iter().any(|k| k == y) => y.to_string(),
            Some(y) => {
                return Err(format!(
                    "Trường không có lớp nào năm học “{}”: chọn một trong các năm học {}.",
                    y.chars().take(20).collect::<String>(),
                    years.join(", ")
                ));
            }
        };
        Ok((per, grade, year))
    });
    let (per, grade, year) = match checked {
        Ok(x) => x,
        Err(why) => {
            let mut choices: Vec<(String, String)> =
                [("hk1", "Học kì I"), ("hk2", "Học kì II"), ("cn", "Cả năm")]
                    .iter()
                    .map(|(c, l)| (format!("/grades/school?term={c}"), l.to_string()))
                    .collect();
            choices.extend(
                grades
                    .iter()
                    .map(|g| (format!("/grades/school?grade={g}"), format!("Khối {g}"))),
            );
            choices.extend(
                years
                    .iter()
                    .map(|y| (format!("/grades/school?year={y}"), format!("Năm học {y}"))),
            );
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Tổng hợp toàn trường",
                why,
                choices,
            );
        }
    };
    let (mut books, primary) = {
        let rx = s.store.read()?;
        let st = super::settings(&rx)?;
        (
            super::school_books(&rx, &year, &st)?,
            super::is_primary(&rx)?,
        )
    };
    if let Some(g) = grade {
        books.retain(|b| b.class.grade == g);
    }
    let mut total = ClassCounts {
        name: grade.map_or_else(|| "Toàn trường".into(), |g| format!("Khối {g}")),
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
        grades,
        grade.map(|g| g.to_string()).unwrap_or_default(),
        year.clone(),
        years,
        if year == current {
            String::new()
        } else {
            format!("&year={year}")
        },
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
