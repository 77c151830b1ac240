//! The forms schools print and archive: the học bạ THCS/THPT (the template attached to TT22,
//! DOMAIN.md §3.1), the học bạ tiểu học (TT27 Phụ lục 1, §2.6: the end of the year only) and
//! the phiếu liên lạc. Views are read from a class book plus what the forms alone need
//! (identity page, subject teachers, principal, corrections after the lock); drawn by `pdf`.

use std::collections::BTreeSet;

use super::pdf::Layout;
use super::rules::tt22::Outcome;
use super::rules::tt27::{self, EducationResult};
use super::{ClassBook, CorrectionStatus, Level, Mark, StudentYear, SubjectOutcome, TermId};
use crate::auth::Role;
use crate::school::{self, StudentProfile};
use crate::store::{Read, StoreError};

/// What every form's heading and signature lines need beyond the class book.
#[derive(Clone, Debug, Default)]
pub struct FormContext {
    /// Cơ quan chủ quản: "Phòng GD&ĐT Quận 3".
    pub authority: String,
    pub school: String,
    pub principal: String,
    /// The principal's blocks are signed by a vice principal on the principal's behalf: they
    /// read "KT. HIỆU TRƯỞNG / PHÓ HIỆU TRƯỞNG" over `principal` (review r8 #8).
    pub deputy: bool,
    pub homeroom: String,
    pub profile: StudentProfile,
    /// Subject teacher's full name, by the book's subject index.
    pub teachers: Vec<String>,
    /// Verified corrections after a lock for this student: how many, and in which subjects.
    pub corrections: usize,
    pub corrected_subjects: Vec<String>,
    /// "ngày 31 tháng 5 năm 2027": when the year was locked; None leaves it to be written by hand.
    pub confirmed_on: Option<String>,
    /// The place of the date line ([`place`]); None keeps dots for the hand.
    pub place: Option<String>,
    /// "Chuyển đến ngày … từ …. Thôi học ngày …: …": printed under Quá trình học tập, so the
    /// paper (and a signed file in a transfer dossier) says what the page says.
    pub status: String,
}

/// Reads the context of student `i` of `book`. The caller has checked that its user may see
/// the whole class (`class_book_for`).
pub fn context(r: &impl Read, book: &ClassBook, i: usize) -> Result<FormContext, StoreError> {
    let st = &book.students[i];
    let info = school::school_info(r)?.unwrap_or_else(|| school::SchoolInfo {
        name: String::new(),
        code: String::new(),
        level: String::new(),
        authority: String::new(),
        current_year: String::new(),
        locality: String::new(),
    });
    let accounts: Vec<crate::auth::Account> = school::list(r, &crate::auth::ACCOUNTS)?;
    let name_of = |id: &str| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.full_name.clone())
            .unwrap_or_default()
    };
    let bgh = |a: &&crate::auth::Account| {
        !a.disabled
            && (a.roles.contains(&Role::Principal) || a.roles.contains(&Role::VicePrincipal))
    };
    // Once the year is locked, the BGH member who locked it is the one who signs the học bạ
    // at the principal stage (`hocba::check_may_sign`): the page is printed before that
    // signature, so it names them now — a vice principal signing on the principal's behalf.
    let year_lock = super::class_term_lock(r, &book.class, TermId::Hk2)?.filter(|l| l.locked);
    let locker = year_lock
        .as_ref()
        .and_then(|l| accounts.iter().filter(bgh).find(|a| a.id == l.by));
    let (principal, deputy) = match locker {
        Some(a) => (a.full_name.clone(), !a.roles.contains(&Role::Principal)),
        None => (
            accounts
                .iter()
                .find(|a| !a.disabled && a.roles.contains(&Role::Principal))
                .map(|a| a.full_name.clone())
                .unwrap_or_default(),
            false,
        ),
    };
    let mut teachers = vec![];
    for spec in &book.subjects {
        let prefix = format!("{}/{}/", book.class.id, spec.id);
        let t = r
            .scan(&school::ASSIGNMENTS, &prefix)?
            .into_iter()
            .next()
            .map(|(_, a)| name_of(&a.teacher))
            .unwrap_or_default();
        teachers.push(t);
    }
    let mut corrections = 0;
    let mut corrected = BTreeSet::new();
    for (_, c) in r.scan(&super::CORRECTIONS, "")? {
        if c.class == book.class.id
            && c.student == st.id
            && c.status == CorrectionStatus::Verified
            && c.from != c.to
        {
            corrections += 1;
            if let Some(s) = book.subjects.iter().position(|s| s.id == c.subject) {
                corrected.insert(s);
            }
        }
    }
    let confirmed_on = year_lock.map(|l| {
        let d = l.at.to_zoned(school::time_zone()).date();
        format!("ngày {} tháng {} năm {}", d.day(), d.month(), d.year())
    });
    Ok(FormContext {
        place: place(&info),
        authority: info.authority,
        school: info.name,
        principal,
        deputy,
        homeroom: book
            .class
            .homeroom
            .as_deref()
            .map(name_of)
            .unwrap_or_default(),
        profile: {
            // Số đăng bộ and Ngày nhập học / chuyển đến: the student's valid line in the
            // school's register (school::register) — its entry date is the arrival's for a
            // transfer in — so the học bạ and the register never disagree (review r8 #3).
            let mut p = school::student_profile(r, &st.id)?;
            let line = school::register::valid_line(r, &st.id)?;
            p.registry_number = line
                .as_ref()
                .map(|l| l.number.to_string())
                .unwrap_or_default();
            p.enrolled_on = line
                .as_ref()
                .map(|l| vi_date(&l.entered_on))
                .unwrap_or_default();
            p
        },
        status: [
            st.arrived
                .as_ref()
                .map(|a| format!("Chuyển đến ngày {} từ {}", vi_date(&a.date), a.from_school)),
            st.left.as_ref().map(|d| d.describe()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(". "),
        teachers,
        corrections,
        corrected_subjects: corrected
            .into_iter()
            .map(|s| book.subjects[s].name.clone())
            .collect(),
        confirmed_on,
    })
}

/// Who signs a class's summary and where: the homeroom teacher's and the principal's full
/// names ("" when unknown) and the place of the date line.
pub struct ClassSigners {
    pub homeroom: String,
    pub principal: String,
    /// The place of "…, ngày … tháng … năm …" ([`place`]).
    pub place: Option<String>,
}

pub fn class_signers(r: &impl Read, book: &ClassBook) -> Result<ClassSigners, StoreError> {
    let accounts: Vec<crate::auth::Account> = school::list(r, &crate::auth::ACCOUNTS)?;
    let homeroom = book
        .class
        .homeroom
        .as_deref()
        .and_then(|id| accounts.iter().find(|a| a.id == id))
        .map(|a| a.full_name.clone())
        .unwrap_or_default();
    let principal = accounts
        .iter()
        .find(|a| !a.disabled && a.roles.contains(&Role::Principal))
        .map(|a| a.full_name.clone())
        .unwrap_or_default();
    let place = school::school_info(r)?.and_then(|i| place(&i));
    Ok(ClassSigners {
        homeroom,
        principal,
        place,
    })
}

/// The place every form is dated at: the school's own địa danh when it set one, else the one
/// read from its authority's name ([`locality`]), else the province its mã trường begins with
/// ([`province`]; review r10 #6: the demo's học bạ was dated "…………, ngày 7 tháng 12").
pub fn place(info: &school::SchoolInfo) -> Option<String> {
    let own = info.locality.trim();
    if own.is_empty() {
        locality(&info.authority).or_else(|| province(&info.code).map(str::to_string))
    } else {
        Some(own.to_string())
    }
}

/// The province a mã trường names: its first two digits are the province's code (DOMAIN.md
/// §5.2, "Mã sở + Mã Phường/Xã + STT"), as a date line writes the place. The 34 provinces and
/// cities since 1 July 2025 under their QĐ 19/2025/QĐ-TTg codes; a code of a province merged
/// away (a mã trường older than the reform) names none, and the line keeps its dots.
pub fn province(code: &str) -> Option<&'static str> {
    const PROVINCES: [(&str, &str); 34] = [
        ("01", "Hà Nội"),
        ("04", "Cao Bằng"),
        ("08", "Tuyên Quang"),
        ("11", "Điện Biên"),
        ("12", "Lai Châu"),
        ("14", "Sơn La"),
        ("15", "Lào Cai"),
        ("19", "Thái Nguyên"),
        ("20", "Lạng Sơn"),
        ("22", "Quảng Ninh"),
        ("24", "Bắc Ninh"),
        ("25", "Phú Thọ"),
        ("31", "Hải Phòng"),
        ("33", "Hưng Yên"),
        ("37", "Ninh Bình"),
        ("38", "Thanh Hóa"),
        ("40", "Nghệ An"),
        ("42", "Hà Tĩnh"),
        ("44", "Quảng Trị"),
        ("46", "Huế"),
        ("48", "Đà Nẵng"),
        ("51", "Quảng Ngãi"),
        ("52", "Gia Lai"),
        ("56", "Khánh Hòa"),
        ("66", "Đắk Lắk"),
        ("68", "Lâm Đồng"),
        ("75", "Đồng Nai"),
        ("79", "TP. Hồ Chí Minh"),
        ("80", "Tây Ninh"),
        ("82", "Đồng Tháp"),
        ("86", "Vĩnh Long"),
        ("91", "An Giang"),
        ("92", "Cần Thơ"),
        ("96", "Cà Mau"),
    ];
    let prefix = code.get(..2)?;
    PROVINCES
        .iter()
        .find(|(c, _)| *c == prefix)
        .map(|(_, name)| *name)
}

/// The place a form is dated at, read from the school's authority: "Phòng GD&ĐT Quận 1" →
/// "Quận 1", "Sở Giáo dục và Đào tạo Hà Nội" → "Hà Nội". None when it names no place (the
/// line then keeps dots for the hand to fill).
pub fn locality(authority: &str) -> Option<String> {
    let a = authority.trim();
    let rest = ["GD&ĐT", "GDĐT", "Giáo dục và Đào tạo", "GD và ĐT"]
        .iter()
        .find_map(|k| a.find(k).map(|i| &a[i + k.len()..]))?
        .trim();
    // A note in brackets ("Quận 1 (demo)") is not part of the place.
    let rest = match rest.rfind('(') {
        Some(i) if rest.ends_with(')') => rest[..i].trim(),
        _ => rest,
    };
    (!rest.is_empty()).then(|| rest.to_string())
}

/// "Quận 1, ngày … tháng … năm …" (or the date when known), the line above the signatures.
pub fn date_line(place: Option<&str>, date: Option<&str>) -> String {
    format!(
        "{}, {}",
        place.unwrap_or("…………"),
        date.unwrap_or("ngày …… tháng …… năm ……")
    )
}

/// The date line set above the signatures, in the right half of the page: on one line when it
/// fits, else the place wrapped at word boundaries with the date on its own line — a long địa
/// danh ("Phường Bến Thành, Thành phố Hồ Chí Minh") is never cut, nor the date lost.
pub fn date_header(l: &mut super::pdf::Layout, place: Option<&str>, date: Option<&str>) {
    const FITS: usize = 44;
    let whole = date_line(place, date);
    let lines: Vec<String> = if whole.chars().count() <= FITS {
        vec![whole]
    } else {
        let mut lines = Vec::new();
        let mut cur = String::new();
        for w in format!("{},", place.unwrap_or("…………")).split_whitespace() {
            if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > FITS {
                lines.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
        lines.push(cur);
        lines.push(date.unwrap_or("ngày …… tháng …… năm ……").to_string());
        lines
    };
    let rows: Vec<(&str, bool)> = lines.iter().map(|t| (t.as_str(), false)).collect();
    l.state_header(&[], &rows);
}

// ---------------------------------------------------------------------------------------------
// Wording: the one place an outcome becomes printed words.

/// What the summer asked of a student: rèn luyện hè (conduct), kiểm tra lại (subjects), or both.
fn summer_path(y: &StudentYear) -> Option<&'static str> {
    // The rules decide which summer (tt22::decide_year); `Outcome::summer_path` words it.
    y.outcome?.summer_path()
}

/// The decision lines of a secondary học bạ: the end of the year, and after the summer when
/// there was one. The rules decide; this only words it (grade 9 and 12 complete their level
/// instead of "lên lớp"). The rules' owner adapts this one function when outcomes change.
pub fn decision_wording(y: &StudentYear, grade: u8) -> (String, Option<String>) {
    let Some(outcome) = y.outcome else {
        return (String::new(), None);
    };
    words(
        outcome,
        summer_path(y),
        y.after_summer.map(|a| a.outcome),
        grade,
    )
}

/// The words of a year's decision: `outcome` at the end of the year, `path` the summer it
/// sent the student to, `after` the decision after that summer once recorded.
fn words(
    outcome: Outcome,
    path: Option<&str>,
    after: Option<Outcome>,
    grade: u8,
) -> (String, Option<String>) {
    let promoted = match grade {
        9 => "Hoàn thành chương trình trung học cơ sở",
        12 => "Hoàn thành chương trình trung học phổ thông",
        _ => "Được lên lớp",
    };
    let Some(path) = path else {
        let text = match outcome {
            Outcome::Retained => "Ở lại lớp".to_string(),
            // TT22 Đ12 k4: a student with a disability excused from a scored subject — the
            // principal decides on promotion; the học bạ records that it is theirs to decide.
            Outcome::PrincipalDecides => format!(
                "Hiệu trưởng xem xét, quyết định (Điều 12 khoản 4 Thông tư 22): {} hoặc ở lại lớp",
                promoted.to_lowercase()
            ),
            _ => promoted.to_string(),
        };
        return (text, None);
    };
    let mut end: String = path.chars().take(1).flat_map(char::to_uppercase).collect();
    end.push_str(&path[end.len()..]);
    let after = match after {
        None => "chưa có kết quả".to_string(),
        Some(Outcome::Promoted) => format!("{promoted} sau khi {path}"),
        Some(_) => format!("Ở lại lớp sau khi {path}"),
    };
    (end, Some(after))
}

/// A stored year-end result (`gradebook.results.v1`, "CN") in the words the học bạ prints
/// for it ([`decision_wording`]), on one line — what the sổ đăng bộ writes in the grade's
/// column: "Được lên lớp", "Ở lại lớp", "Được lên lớp sau khi rèn luyện trong kì nghỉ hè",
/// "Rèn luyện trong kì nghỉ hè: chưa có kết quả", and for primary school (TT27) the
/// completion ("Hoàn thành chương trình lớp học", "Hoàn thành chương trình tiểu học", "Chưa
/// hoàn thành"). The stored result holds the decision that stands (after the summer once it
/// is recorded); which summer it went through is read from `corenluyenlai` and the summer
/// record of its class (re-assessed subjects).
pub fn stored_decision_wording(
    r: &impl Read,
    res: &super::StoredResult,
) -> Result<String, StoreError> {
    let code = res.ketqua.as_deref().unwrap_or_default();
    for level in [
        EducationResult::Htxs,
        EducationResult::Htt,
        EducationResult::Ht,
        EducationResult::Cht,
    ] {
        if level.code() == code {
            return Ok(level.completion_label(res.makhoi).to_string());
        }
    }
    let all = [
        Outcome::Promoted,
        Outcome::SummerConduct,
        Outcome::SummerBoth,
        Outcome::ReAssessment,
        Outcome::Retained,
        Outcome::PrincipalDecides,
    ];
    let Some(outcome) = all.into_iter().find(|o| o.code() == code) else {
        return Ok(String::new());
    };
    let (end, after) = if outcome.summer_path().is_some() {
        // The summer is not decided yet: the decision is the summer itself.
        words(outcome, outcome.summer_path(), None, res.makhoi)
    } else {
        let conduct = res.corenluyenlai == Some(true);
        let reassessed = r
            .get(&super::SUMMER, &format!("{}/{}", res.malop, res.mahocsinh))?
            .is_some_and(|s| !s.reassessed.is_empty());
        let went = match (conduct, reassessed) {
            (true, true) => Some(Outcome::SummerBoth),
            (true, false) => Some(Outcome::SummerConduct),
            (false, true) => Some(Outcome::ReAssessment),
            (false, false) => None,
        };
        match went {
            Some(w) => {
                let (_, after) = words(w, w.summer_path(), Some(outcome), res.makhoi);
                (after.unwrap_or_default(), None)
            }
            None => words(outcome, None, None, res.makhoi),
        }
    };
    Ok(match after {
        Some(a) => format!("{end}: {a}"),
        None => end,
    })
}

/// The re-assessment mark of subject `si` (id `subject`) when the year sent it to one and it
/// was given, else "". A score stands for the year's average: one decimal like it ("5,0"
/// beside "4,0", not "5").
pub fn reassessed_text(y: &StudentYear, si: usize, subject: &str) -> String {
    y.summer
        .reassessed
        .get(subject)
        .filter(|_| y.reassess.contains(&si))
        .map(|m| match m {
            Mark::Score(t) => t.vi(),
            m => m.text(),
        })
        .unwrap_or_default()
}

/// "Toán 6,5; Ngữ văn 5,5": every re-assessment given, subjects named as `name` gives them.
pub fn reassessed_list(book: &ClassBook, i: usize, name: impl Fn(&str) -> String) -> String {
    let y = &book.year[i];
    y.reassess
        .iter()
        .filter_map(|si| {
            let spec = book.subjects.get(*si)?;
            let t = reassessed_text(y, *si, &spec.id);
            (!t.is_empty()).then(|| format!("{} {t}", name(&spec.name)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A primary student's completion line (TT27 Đ11): of the class, or of primary school in
/// grade 5.
pub fn completion_wording(r: EducationResult, grade: u8) -> String {
    match (r.completed(), grade) {
        (true, 5) => "Hoàn thành chương trình tiểu học".into(),
        (true, g) => format!("Hoàn thành chương trình lớp {g}"),
        (false, g) => format!("Chưa hoàn thành chương trình lớp {g}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Học bạ THCS / THPT

const DOTS: &str = "………………………";

fn or_dots(s: &str) -> &str {
    if s.trim().is_empty() { DOTS } else { s }
}

fn level_label(c: Option<super::Classification>) -> String {
    c.map(|c| c.level.label().to_string()).unwrap_or_default()
}

fn conduct_label(c: Option<Level>) -> String {
    c.map(|c| c.label().to_string()).unwrap_or_default()
}

/// "12 (có phép: 9, không phép: 3)", or the total alone when the split was not entered.
pub fn absences_text(total: u16, excused: Option<u16>) -> String {
    match excused {
        Some(x) => format!(
            "{total} (có phép: {x}, không phép: {})",
            total.saturating_sub(x)
        ),
        None => total.to_string(),
    }
}

fn year_absences(book: &ClassBook, i: usize) -> String {
    let (a, b) = (&book.hk1[i], &book.hk2[i]);
    let excused = match (a.excused, b.excused) {
        (Some(x), Some(y)) => Some(x + y),
        _ => None,
    };
    absences_text(a.absences + b.absences, excused)
}

fn national_header(l: &mut Layout, ctx: &FormContext) {
    let authority = ctx.authority.to_uppercase();
    let school = ctx.school.to_uppercase();
    l.state_header(
        &[(authority.as_str(), false), (school.as_str(), true)],
        &[
            ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", true),
            ("Độc lập - Tự do - Hạnh phúc", true),
        ],
    );
}

fn identity_page(l: &mut Layout, book: &ClassBook, i: usize, ctx: &FormContext, title: &str) {
    let st = &book.students[i];
    let p = &ctx.profile;
    national_header(l, ctx);
    l.gap(24.0);
    l.centred(20.0, true, title);
    l.gap(18.0);
    l.line(11.0, false, &format!("Họ và tên: {}", st.full_name));
    l.line(
        11.0,
        false,
        &format!(
            "Giới tính: {}    Ngày sinh: {}",
            or_dots(&st.gender),
            vi_date(&st.dob)
        ),
    );
    l.line(
        11.0,
        false,
        &format!("Nơi sinh: {}", or_dots(&p.birthplace)),
    );
    l.line(11.0, false, &format!("Dân tộc: {}", or_dots(&p.ethnicity)));
    l.line(
        11.0,
        false,
        &format!("Mã định danh cá nhân: {}", or_dots(&st.ma_dinh_danh)),
    );
    // Wrapped, not cut: an address may take 200 characters.
    l.paragraph(
        11.0,
        false,
        0.0,
        &format!("Chỗ ở hiện tại: {}", or_dots(&p.address)),
    );
    // Each parent or guardian with their occupation on the same line, in a column of its own
    // as on the template.
    for (who, name, job) in [
        ("Họ và tên cha", &p.father, &p.father_job),
        ("Họ và tên mẹ", &p.mother, &p.mother_job),
        ("Người giám hộ (nếu có)", &p.guardian, &p.guardian_job),
    ] {
        l.line(11.0, false, &format!("{who}: {}", or_dots(name)));
        let (x, y) = (
            l.margin + 0.58 * (l.width - 2.0 * l.margin),
            l.y - 11.0 * 0.4,
        );
        l.text_at(x, y, 11.0, false, &format!("Nghề nghiệp: {}", or_dots(job)));
    }
}

fn confirmation(l: &mut Layout, ctx: &FormContext, left: &[&str]) {
    // The place and date stand above the principal's block, as on the paper form.
    l.gap(10.0);
    date_header(l, ctx.place.as_deref(), ctx.confirmed_on.as_deref());
    l.gap(-16.0);
    if ctx.deputy {
        l.signatures(
            left,
            &[
                "KT. HIỆU TRƯỞNG",
                "PHÓ HIỆU TRƯỞNG",
                or_dots(&ctx.principal),
            ],
        );
    } else {
        l.signatures(
            left,
            &[
                "HIỆU TRƯỞNG",
                "(Kí, ghi rõ họ tên và đóng dấu)",
                or_dots(&ctx.principal),
            ],
        );
    }
}

/// The identity page's Quá trình học tập (Năm học, Lớp, Tên trường, Số đăng bộ, Ngày nhập học /
/// chuyển đến) and the principal's confirmation beneath it: the same on the học bạ tiểu học
/// (TT27) as on the THCS/THPT one.
fn learning_history(l: &mut Layout, book: &ClassBook, ctx: &FormContext) {
    l.gap(14.0);
    l.centred(13.0, true, "QUÁ TRÌNH HỌC TẬP");
    l.gap(4.0);
    l.table(
        &[70.0, 50.0, 230.0, 70.0, 100.0],
        &[
            "Năm học",
            "Lớp",
            "Tên trường",
            "Số đăng bộ",
            "Ngày nhập học / chuyển đến",
        ]
        .map(String::from),
        &[vec![
            book.class.year.clone(),
            book.class.name.clone(),
            ctx.school.clone(),
            ctx.profile.registry_number.clone(),
            ctx.profile.enrolled_on.clone(),
        ]],
        9.5,
    );
    if !ctx.status.is_empty() {
        l.gap(4.0);
        l.paragraph(10.0, true, 0.0, &ctx.status);
    }
    confirmation(l, ctx, &[]);
}

/// The học bạ THCS/THPT of student `i` for the book's year.
pub fn hocba_secondary(book: &ClassBook, i: usize, ctx: &FormContext) -> Layout {
    let st = &book.students[i];
    let y = &book.year[i];
    let level_name = if book.class.grade >= 10 {
        "HỌC BẠ TRUNG HỌC PHỔ THÔNG"
    } else {
        "HỌC BẠ TRUNG HỌC CƠ SỞ"
    };
    let mut l = Layout::new(false);
    identity_page(&mut l, book, i, ctx, level_name);
    learning_history(&mut l, book, ctx);

    // The year's page.
    l.new_page();
    l.line(
        11.0,
        true,
        &format!(
            "Họ và tên: {}    Lớp: {}    Năm học: {}",
            st.full_name, book.class.name, book.class.year
        ),
    );
    l.gap(4.0);
    let rows: Vec<Vec<String>> = book
        .subjects
        .iter()
        .enumerate()
        .map(|(si, spec)| {
            let redo = reassessed_text(y, si, &spec.id);
            let note = [TermId::Hk2, TermId::Hk1]
                .iter()
                .find_map(|t| book.row(&spec.id, *t, &st.id).and_then(|r| r.note.clone()))
                .unwrap_or_default();
            vec![
                spec.name.clone(),
                book.hk1[i].subjects[si].text(),
                book.hk2[i].subjects[si].text(),
                y.subjects[si].text(),
                redo,
                note,
                ctx.teachers.get(si).cloned().unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "Môn học / hoạt động giáo dục",
        "HK I",
        "HK II",
        "Cả năm",
        "Điểm hoặc mức đánh giá lại",
        "Nhận xét",
        "Giáo viên môn học (họ tên, chữ kí)",
    ]
    .map(String::from);
    l.table(
        &[104.0, 38.0, 38.0, 42.0, 62.0, 135.0, 104.0],
        &header,
        &rows,
        8.5,
    );
    l.gap(4.0);
    let subjects = if ctx.corrected_subjects.is_empty() {
        DOTS.to_string()
    } else {
        ctx.corrected_subjects.join(", ")
    };
    l.paragraph(
        10.0,
        false,
        0.0,
        &format!(
            "Trong bảng này có sửa chữa ở: {} chỗ, thuộc các môn học: {subjects}",
            ctx.corrections
        ),
    );
    l.signatures(
        &[
            "Xác nhận của giáo viên chủ nhiệm",
            "(Kí, ghi rõ họ tên)",
            or_dots(&ctx.homeroom),
        ],
        &[
            "Xác nhận của Hiệu trưởng",
            if ctx.deputy {
                "KT. HIỆU TRƯỞNG – PHÓ HIỆU TRƯỞNG"
            } else {
                "(Kí, ghi rõ họ tên và đóng dấu)"
            },
            or_dots(&ctx.principal),
        ],
    );

    // Results, decision, award, comments.
    l.new_page();
    l.line(
        11.0,
        true,
        &format!(
            "Họ và tên: {}    Lớp: {}    Năm học: {}",
            st.full_name, book.class.name, book.class.year
        ),
    );
    l.gap(4.0);
    let mut rows = vec![
        vec![
            "Học kì I".to_string(),
            level_label(book.hk1[i].level),
            conduct_label(book.hk1[i].conduct),
            absences_text(book.hk1[i].absences, book.hk1[i].excused),
        ],
        vec![
            "Học kì II".to_string(),
            level_label(book.hk2[i].level),
            conduct_label(book.hk2[i].conduct),
            absences_text(book.hk2[i].absences, book.hk2[i].excused),
        ],
        vec![
            "Cả năm".to_string(),
            level_label(y.level),
            conduct_label(y.conduct),
            year_absences(book, i),
        ],
    ];
    let (end, after) = decision_wording(y, book.class.grade);
    if after.is_some() {
        // Only what the summer re-evaluated is new; the rest stands as at the end of the year.
        rows.push(vec![
            "Sau đánh giá lại / rèn luyện trong hè".to_string(),
            y.after_summer
                .map(|a| a.level.label().to_string())
                .unwrap_or_default(),
            y.after_summer
                .map(|a| a.conduct.label().to_string())
                .unwrap_or_default(),
            String::new(),
        ]);
    }
    l.table(
        &[125.0, 100.0, 100.0, 195.0],
        &[
            "",
            "Kết quả học tập",
            "Kết quả rèn luyện",
            "Tổng số buổi nghỉ học",
        ]
        .map(String::from),
        &rows,
        9.5,
    );
    l.gap(6.0);
    l.paragraph(
        11.0,
        false,
        0.0,
        &format!("Quyết định cuối năm học: {}", or_dots(&end)),
    );
    if let Some(a) = &after {
        l.paragraph(
            11.0,
            false,
            0.0,
            &format!("Sau đánh giá lại / rèn luyện trong kì nghỉ hè: {a}"),
        );
    }
    l.line(
        11.0,
        false,
        &format!(
            "Khen thưởng: {}",
            or_dots(y.award_label().unwrap_or_default())
        ),
    );
    l.gap(6.0);
    l.line(11.0, true, "NHẬN XÉT CỦA GIÁO VIÊN CHỦ NHIỆM");
    l.paragraph(10.0, false, 0.0, or_dots(&book.hk2[i].comment));
    confirmation(
        &mut l,
        ctx,
        &[
            "Giáo viên chủ nhiệm",
            "(Kí, ghi rõ họ tên)",
            or_dots(&ctx.homeroom),
        ],
    );
    l
}

// ---------------------------------------------------------------------------------------------
// Học bạ tiểu học (TT27)

/// The học bạ tiểu học of student `i`: the end of the year only (TT27 Phụ lục 1). No conduct
/// and no promotion line: TT27 records completion instead.
/// Where a subject stands on TT27's học bạ: Tiếng Việt, Toán, Ngoại ngữ 1, Đạo đức, Tự nhiên
/// và Xã hội / Lịch sử và Địa lí, Khoa học, Tin học và Công nghệ, Giáo dục thể chất, Nghệ thuật
/// (Âm nhạc, Mĩ thuật), Hoạt động trải nghiệm; a subject the template does not name comes
/// last (the sort is stable, so those keep the school's order).
pub(super) fn primary_template_rank(name: &str) -> usize {
    const ORDER: [&[&str]; 13] = [
        &["tieng viet"],
        &["toan"],
        &["ngoai ngu", "tieng anh"],
        &["dao duc"],
        &["tu nhien va xa hoi"],
        &["lich su va dia li", "lich su va dia ly"],
        &["khoa hoc"],
        &["tin hoc", "cong nghe"],
        &["giao duc the chat"],
        &["nghe thuat"],
        &["am nhac"],
        &["mi thuat", "my thuat"],
        &["hoat dong trai nghiem"],
    ];
    let f = crate::text::fold(name);
    ORDER
        .iter()
        .position(|keys| keys.iter().any(|k| f.starts_with(k)))
        .unwrap_or(ORDER.len())
}

pub fn hocba_primary(book: &ClassBook, i: usize, ctx: &FormContext) -> Layout {
    let st = &book.students[i];
    let y = &book.year[i];
    let mut l = Layout::new(false);
    identity_page(&mut l, book, i, ctx, "HỌC BẠ TIỂU HỌC");
    learning_history(&mut l, book, ctx);
    l.new_page();
    l.line(
        11.0,
        true,
        &format!(
            "Họ và tên: {}    Lớp: {}    Năm học: {}",
            st.full_name, book.class.name, book.class.year
        ),
    );
    l.gap(4.0);
    l.line(11.0, true, "1. Môn học và hoạt động giáo dục");
    let mut order: Vec<usize> = (0..book.subjects.len()).collect();
    order.sort_by_key(|si| primary_template_rank(&book.subjects[*si].name));
    let rows: Vec<Vec<String>> = order
        .into_iter()
        .map(|si| (si, &book.subjects[si]))
        .map(|(si, spec)| {
            let (level, test) = match y.subjects[si] {
                SubjectOutcome::Primary(lv, t) => (
                    lv.label().to_string(),
                    t.map(|t| t.to_string()).unwrap_or_default(),
                ),
                SubjectOutcome::Exempt => ("Miễn".to_string(), String::new()),
                _ => (String::new(), String::new()),
            };
            let note = book
                .row(&spec.id, TermId::Hk2, &st.id)
                .and_then(|r| r.note.clone())
                .unwrap_or_default();
            vec![spec.name.clone(), level, test, note]
        })
        .collect();
    l.table(
        &[130.0, 90.0, 60.0, 240.0],
        &[
            "Môn học và hoạt động giáo dục",
            "Mức đạt được",
            "Điểm KTĐK",
            "Nhận xét",
        ]
        .map(String::from),
        &rows,
        9.0,
    );
    let q = &book.hk2[i].qualities;
    let notes = &book.hk2[i].quality_comments;
    let group = |names: &[&str]| -> Vec<Vec<String>> {
        names
            .iter()
            .map(|n| {
                vec![
                    n.to_string(),
                    q.get(*n).map(|l| l.label().to_string()).unwrap_or_default(),
                    notes.get(*n).cloned().unwrap_or_default(),
                ]
            })
            .collect()
    };
    let header = |first: &str| [first, "Mức đạt được", "Nhận xét"].map(String::from);
    let widths = [170.0, 100.0, 250.0];
    l.gap(6.0);
    l.line(11.0, true, "2. Những phẩm chất chủ yếu");
    l.table(&widths, &header("Phẩm chất"), &group(&tt27::QUALITIES), 9.0);
    // The first three competences are the general ones (năng lực chung), the rest the
    // subject-specific ones (năng lực đặc thù) — the order of tt27::COMPETENCES.
    l.gap(6.0);
    l.line(11.0, true, "3. Những năng lực cốt lõi");
    l.line(10.0, true, "3.1. Những năng lực chung");
    l.table(
        &widths,
        &header("Năng lực chung"),
        &group(&tt27::COMPETENCES[..3]),
        9.0,
    );
    l.line(10.0, true, "3.2. Những năng lực đặc thù");
    l.table(
        &widths,
        &header("Năng lực đặc thù"),
        &group(&tt27::COMPETENCES[3..]),
        9.0,
    );
    l.gap(6.0);
    let result = y.primary.map(|r| r.label()).unwrap_or_default();
    l.line(
        11.0,
        false,
        &format!("4. Đánh giá kết quả giáo dục: {}", or_dots(result)),
    );
    l.line(
        11.0,
        false,
        &format!(
            "5. Khen thưởng: {}",
            or_dots(y.award_label().unwrap_or_default())
        ),
    );
    let completion = y
        .primary
        .map(|r| completion_wording(r, book.class.grade))
        .unwrap_or_default();
    l.paragraph(
        11.0,
        false,
        0.0,
        &format!(
            "6. Hoàn thành chương trình lớp học / chương trình tiểu học: {}",
            or_dots(&completion)
        ),
    );
    if !book.hk2[i].comment.is_empty() {
        l.paragraph(
            10.0,
            false,
            0.0,
            &format!("Nhận xét của giáo viên chủ nhiệm: {}", book.hk2[i].comment),
        );
    }
    confirmation(
        &mut l,
        ctx,
        &[
            "Giáo viên chủ nhiệm",
            "(Kí, ghi rõ họ tên)",
            or_dots(&ctx.homeroom),
        ],
    );
    l
}

// ---------------------------------------------------------------------------------------------
// Phiếu liên lạc

/// Which notice: a term, the year, or the marks entered in one month of its term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoticeOf {
    Term(TermId),
    Year,
    /// (year, month, the term the month belongs to)
    Month(i16, i8, TermId),
}

/// A column heading: "tx3" → "TX3", "gk" → "GK", "kt_ck" → "KT CK".
fn column_label(c: &str) -> String {
    c.to_uppercase().replace('_', " ")
}

/// The phiếu liên lạc. No national template exists (DOMAIN.md §3.4): this follows common
/// school practice — the school heading and year, the date, one row per subject with labelled
/// columns (TX1…TXn, GK, CK, ĐTBmhk), absences có phép / không phép, the GVCN's comment —
/// and carries this student's data only (§3.5). `today` is "ngày 6 tháng 12 năm 2026".
pub fn notice(
    r: &impl Read,
    book: &ClassBook,
    i: usize,
    ctx: &FormContext,
    of: NoticeOf,
    today: &str,
) -> Result<Layout, StoreError> {
    // A phiếu is one sheet sent home: long comments shrink the table's type until the date and
    // signatures fit on the first page (they spilled alone onto page 2; domain review r2).
    let mut last = None;
    for size in [8.0, 7.0, 6.0, 5.5] {
        let l = notice_sized(r, book, i, ctx, of, today, size)?;
        if l.page_count() == 1 {
            return Ok(l);
        }
        last = Some(l);
    }
    Ok(last.expect("tried at least one size"))
}

#[allow(clippy::too_many_arguments)]
fn notice_sized(
    r: &impl Read,
    book: &ClassBook,
    i: usize,
    ctx: &FormContext,
    of: NoticeOf,
    today: &str,
    size: f32,
) -> Result<Layout, StoreError> {
    let st = &book.students[i];
    let mut l = Layout::new(false);
    l.line(9.5, false, &ctx.authority.to_uppercase());
    l.line(9.5, true, &ctx.school.to_uppercase());
    l.gap(6.0);
    l.centred(16.0, true, "PHIẾU LIÊN LẠC");
    let period = match of {
        NoticeOf::Term(t) => t.label().to_string(),
        NoticeOf::Year => "Cả năm".to_string(),
        NoticeOf::Month(y, m, t) => format!("Tháng {m}/{y} ({})", t.label()),
    };
    l.centred(
        11.0,
        false,
        &format!("{period} · Năm học {}", book.class.year),
    );
    l.gap(6.0);
    l.line(
        11.0,
        false,
        &format!(
            "Học sinh: {}    Ngày sinh: {}    Lớp: {}",
            st.full_name,
            vi_date(&st.dob),
            book.class.name
        ),
    );
    l.gap(4.0);
    let term = match of {
        NoticeOf::Term(t) | NoticeOf::Month(_, _, t) => Some(t),
        NoticeOf::Year => None,
    };
    // A primary phiếu lists the subjects in the học bạ's (template's) order, as the học bạ
    // does; a secondary one in the class book's.
    let mut order: Vec<usize> = (0..book.subjects.len()).collect();
    if book.is_primary() {
        order.sort_by_key(|si| primary_template_rank(&book.subjects[*si].name));
    }
    if let Some(t) = term {
        // One column per assessment any subject has, so every row reads under the same labels.
        let mut cols: Vec<String> = vec![];
        for spec in &book.subjects {
            for c in spec.columns() {
                if !cols.contains(&c) {
                    cols.push(c);
                }
            }
        }
        cols.sort_by_key(|c| {
            (
                !c.starts_with("tx"),
                c.trim_start_matches("tx").parse::<u8>().unwrap_or(0),
                ["gk", "kt_gk", "ck", "kt_ck"].iter().position(|x| x == c),
            )
        });
        let vn = school::time_zone();
        let in_month = |at: jiff::Timestamp| match of {
            NoticeOf::Month(y, m, _) => {
                let d = at.to_zoned(vn.clone()).date();
                d.year() == y && d.month() == m
            }
            _ => true,
        };
        let mut rows = vec![];
        // Whether the month has any mark or comment at all (a term notice always shows).
        let mut any = !matches!(of, NoticeOf::Month(..));
        for &si in &order {
            let spec = &book.subjects[si];
            let stored = r.get(
                &super::ROWS,
                &super::row_key(&book.class.id, &spec.id, t, &st.id),
            )?;
            let mut row = vec![spec.name.clone()];
            for c in &cols {
                let cell = stored
                    .as_ref()
                    .and_then(|s| s.cells.get(c))
                    .filter(|c| in_month(c.at) && c.mark != Mark::Pending);
                any |= cell.is_some();
                row.push(cell.map(|c| c.mark.text()).unwrap_or_default());
            }
            row.push(book.term(t)[i].subjects[si].text());
            let note = stored
                .as_ref()
                .and_then(|s| s.note.as_ref())
                .filter(|n| in_month(n.at))
                .map(|n| n.text.clone())
                .unwrap_or_default();
            any |= !note.is_empty();
            row.push(note);
            rows.push(row);
        }
        let mut header = vec!["Môn học".to_string()];
        header.extend(cols.iter().map(|c| column_label(c)));
        // The column holds ĐTBmhk for a scored subject and Đ/CĐ for a comment one.
        header.push(if book.is_primary() {
            "Kết quả".into()
        } else {
            "ĐTBmhk / Mức".into()
        });
        header.push("Nhận xét".into());
        let mut widths = vec![100.0];
        widths.extend(cols.iter().map(|_| 27.0));
        widths.push(46.0);
        // The comment takes what the marks leave of the line.
        let used: f32 = widths.iter().sum();
        widths.push((l.width - 2.0 * l.margin - used).max(110.0));
        if any {
            // Headers wrapped as bold, so "ĐTBmhk / Mức" keeps off the comment column.
            l.table_with(&widths, &header, &rows, size, Some(size));
        } else {
            // Nothing was entered this month: no table, and no term result that would read
            // as this month's.
            l.paragraph(
                10.5,
                false,
                0.0,
                "Trong tháng này chưa có điểm hay nhận xét nào được ghi vào sổ.",
            );
        }
    } else {
        // A student sent to re-assessment gets its column, so the year's mark is never read
        // alone (TT22 Đ14: the re-assessment result replaces it).
        let redo = !book.year[i].reassess.is_empty();
        let rows: Vec<Vec<String>> = order
            .iter()
            .map(|&si| {
                let spec = &book.subjects[si];
                let mut row = vec![
                    spec.name.clone(),
                    book.hk1[i].subjects[si].text(),
                    book.hk2[i].subjects[si].text(),
                    book.year[i].subjects[si].text(),
                ];
                if redo {
                    row.push(reassessed_text(&book.year[i], si, &spec.id));
                }
                row.push(
                    book.row(&spec.id, TermId::Hk2, &st.id)
                        .and_then(|r| r.note.clone())
                        .unwrap_or_default(),
                );
                row
            })
            .collect();
        // The marks are short: the comment takes what they leave of the line, so long
        // comments wrap onto fewer lines (the year phiếu of a re-assessed student spilled its
        // date and signatures onto page 2; domain review r4).
        let (mut widths, header): (Vec<f32>, Vec<&str>) = if redo {
            (
                vec![120.0, 40.0, 40.0, 40.0, 56.0],
                vec![
                    "Môn học",
                    "HK I",
                    "HK II",
                    "Cả năm",
                    "Đánh giá lại",
                    "Nhận xét",
                ],
            )
        } else {
            (
                vec![130.0, 45.0, 45.0, 45.0],
                vec!["Môn học", "HK I", "HK II", "Cả năm", "Nhận xét"],
            )
        };
        let used: f32 = widths.iter().sum();
        widths.push((l.width - 2.0 * l.margin - used).max(150.0));
        let header: Vec<String> = header.into_iter().map(String::from).collect();
        l.table(&widths, &header, &rows, size + 1.0);
    }
    l.gap(6.0);
    let primary = book.is_primary();
    match of {
        NoticeOf::Term(t) => {
            let x = &book.term(t)[i];
            if primary {
                // TT27 Đ7: qualities and competences are assessed at the end of each term.
                qualities_paragraph(&mut l, x);
            } else {
                l.line(
                    10.5,
                    false,
                    &format!(
                        "Kết quả học tập: {}    Kết quả rèn luyện: {}",
                        or_dots(&level_label(x.level)),
                        or_dots(&conduct_label(x.conduct))
                    ),
                );
            }
            l.line(
                10.5,
                false,
                &format!("Số buổi nghỉ: {}", absences_text(x.absences, x.excused)),
            );
            l.paragraph(
                10.5,
                false,
                0.0,
                &format!("Nhận xét của giáo viên chủ nhiệm: {}", or_dots(&x.comment)),
            );
        }
        NoticeOf::Year => {
            let y = &book.year[i];
            if let Some(r) = y.primary {
                // The end of the year is TT27's main assessment of qualities and competences
                // (Đ7), recorded with term II; the term phiếu show them too.
                qualities_paragraph(&mut l, &book.hk2[i]);
                l.line(
                    10.5,
                    false,
                    &format!(
                        "Kết quả giáo dục: {}    {}",
                        r.label(),
                        completion_wording(r, book.class.grade)
                    ),
                );
            } else {
                l.line(
                    10.5,
                    false,
                    &format!(
                        "Kết quả học tập: {}    Kết quả rèn luyện: {}",
                        or_dots(&level_label(y.level)),
                        or_dots(&conduct_label(y.conduct))
                    ),
                );
                if let Some(a) = y.after_summer {
                    l.line(
                        10.5,
                        false,
                        "Sau khi rèn luyện trong kì nghỉ hè; kiểm tra, đánh giá lại:",
                    );
                    l.line(
                        10.5,
                        false,
                        &format!(
                            "Kết quả học tập: {}    Kết quả rèn luyện: {}",
                            a.level.label(),
                            a.conduct.label()
                        ),
                    );
                }
                let (end, after) = decision_wording(y, book.class.grade);
                l.paragraph(
                    10.5,
                    false,
                    0.0,
                    &format!("Kết quả cuối năm: {}", after.unwrap_or(end)),
                );
            }
            l.line(
                10.5,
                false,
                &format!("Số buổi nghỉ cả năm: {}", year_absences(book, i)),
            );
            if let Some(a) = y.award_label() {
                l.line(10.5, false, &format!("Khen thưởng: {a}"));
            }
            l.paragraph(
                10.5,
                false,
                0.0,
                &format!(
                    "Nhận xét của giáo viên chủ nhiệm: {}",
                    or_dots(&book.hk2[i].comment)
                ),
            );
        }
        NoticeOf::Month(..) => {}
    }
    // The date line and the signatures stay together.
    l.ensure(120.0);
    l.gap(10.0);
    date_header(&mut l, ctx.place.as_deref(), Some(today));
    l.gap(-16.0);
    l.signatures(
        &["Cha mẹ học sinh", "(Kí, ghi rõ họ tên)", ""],
        &[
            "Giáo viên chủ nhiệm",
            "(Kí, ghi rõ họ tên)",
            or_dots(&ctx.homeroom),
        ],
    );
    Ok(l)
}

/// The levels of the five qualities, the general and the specific competences of a primary
/// phiếu (TT27 Đ7), "……" where none is recorded.
fn qualities_paragraph(l: &mut Layout, x: &super::StudentTerm) {
    let levels = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                let lv = x.qualities.get(*n).map_or("……", |l| l.label());
                format!("{n}: {lv}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    l.paragraph(
        10.0,
        false,
        0.0,
        &format!(
            "Phẩm chất chủ yếu — {}.\nNăng lực chung — {}.\nNăng lực đặc thù — {}.",
            levels(&tt27::QUALITIES),
            levels(&tt27::COMPETENCES[..3]),
            levels(&tt27::COMPETENCES[3..])
        ),
    );
}

/// The term a month belongs to: the one its days overlap most (January, shared by both terms,
/// goes to the term holding most of it); None when the school year names no such dates.
pub fn term_of_month(terms: &[school::Term], y: i16, m: i8) -> Option<TermId> {
    let first = jiff::civil::Date::new(y, m, 1).ok()?;
    let last = first.last_of_month();
    let mut best: Option<(i64, TermId)> = None;
    for t in terms {
        let (Ok(id), Some(s), Some(e)) = (
            TermId::parse(&t.id),
            school::parse_date(&t.start),
            school::parse_date(&t.end),
        ) else {
            continue;
        };
        let (from, to) = (s.max(first), e.min(last));
        if from > to {
            continue;
        }
        let days = i64::from((to - from).get_days()) + 1;
        if best.is_none_or(|(d, _)| days > d) {
            best = Some((days, id));
        }
    }
    best.map(|(_, t)| t)
}

/// An ISO date as printed on the forms: "2012-09-05" → "05/09/2012" (anything else as it is).
pub fn vi_date(iso: &str) -> String {
    match crate::school::parse_date(iso) {
        Some(d) => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        None => iso.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wording the học bạ and the sổ đăng bộ print for a year's result (`words`, as
    /// `stored_decision_wording` uses it, and TT27's completion) is one the register import
    /// accepts (`school::register_rules::result_wordings`, which lists them in its refusal): the
    /// school cannot read the gradebook's words, so this keeps the two lists one.
    #[test]
    fn the_register_import_accepts_every_result_wording_the_box_prints() {
        let all = [
            Outcome::Promoted,
            Outcome::SummerConduct,
            Outcome::SummerBoth,
            Outcome::ReAssessment,
            Outcome::Retained,
            Outcome::PrincipalDecides,
        ];
        use school::register_rules::{Next, next_after};
        // What each outcome sends the student to next year, as the import reads its words.
        let next = |o: Outcome| match o {
            Outcome::Promoted => Next::Up,
            Outcome::Retained => Next::Same,
            _ => Next::Either,
        };
        for grade in 6..=12u8 {
            let accepted = school::register_rules::result_wordings(grade);
            let mut printed = Vec::new();
            for o in all {
                // Decided without a summer, pending after one, decided after one.
                let (end, after) = words(o, o.summer_path(), None, grade);
                printed.push(match after {
                    Some(a) => (format!("{end}: {a}"), Next::Either),
                    None => (end, next(o)),
                });
                if o.summer_path().is_some() {
                    for then in [Outcome::Promoted, Outcome::Retained] {
                        printed.push((
                            words(o, o.summer_path(), Some(then), grade).1.unwrap(),
                            next(then),
                        ));
                    }
                }
            }
            for (p, then) in printed {
                assert!(
                    accepted.contains(&p),
                    "grade {grade}: «{p}» not in {accepted:?}"
                );
                assert_eq!(next_after(grade, &p), Some(then), "grade {grade}: «{p}»");
            }
        }
        for grade in 1..=5u8 {
            let accepted = school::register_rules::result_wordings(grade);
            for r in [
                EducationResult::Htxs,
                EducationResult::Htt,
                EducationResult::Ht,
                EducationResult::Cht,
            ] {
                let p = r.completion_label(grade).to_string();
                assert!(
                    accepted.contains(&p),
                    "grade {grade}: «{p}» not in {accepted:?}"
                );
                // Completed: the next grade; not completed: the principal decides.
                let then = if r == EducationResult::Cht {
                    Next::Either
                } else {
                    Next::Up
                };
                assert_eq!(next_after(grade, &p), Some(then), "grade {grade}: «{p}»");
            }
        }
    }

    fn term(id: &str, start: &str, end: &str) -> school::Term {
        school::Term {
            id: id.into(),
            name: id.into(),
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn a_month_belongs_to_the_term_holding_most_of_it() {
        let terms = [
            term("hk1", "2026-09-05", "2027-01-16"),
            term("hk2", "2027-01-18", "2027-05-31"),
        ];
        assert_eq!(term_of_month(&terms, 2026, 11), Some(TermId::Hk1));
        assert_eq!(term_of_month(&terms, 2027, 1), Some(TermId::Hk1));
        assert_eq!(term_of_month(&terms, 2027, 3), Some(TermId::Hk2));
        assert_eq!(term_of_month(&terms, 2027, 7), None);
    }

    #[test]
    fn the_date_line_takes_its_place_from_the_authority() {
        assert_eq!(locality("Phòng GD&ĐT Quận 1").as_deref(), Some("Quận 1"));
        assert_eq!(
            locality("Sở Giáo dục và Đào tạo Hà Nội").as_deref(),
            Some("Hà Nội")
        );
        assert_eq!(
            locality("Phòng GD&ĐT Quận 1 (demo)").as_deref(),
            Some("Quận 1")
        );
        assert_eq!(locality("Sở GD&ĐT (demo)"), None);
        assert_eq!(locality("UBND huyện"), None);
        // The school's own địa danh comes first; without it, the authority's.
        let mut info = school::SchoolInfo {
            name: String::new(),
            code: String::new(),
            level: String::new(),
            authority: "Sở GD&ĐT Hà Nội".into(),
            current_year: String::new(),
            locality: String::new(),
        };
        assert_eq!(place(&info).as_deref(), Some("Hà Nội"));
        info.locality = "Phường Ba Đình".into();
        assert_eq!(place(&info).as_deref(), Some("Phường Ba Đình"));
        // No place set and an authority naming none (the demo's "Sở GD&ĐT (demo)"): the
        // province of the mã trường (review r10 #6), else dots.
        info.locality = String::new();
        info.authority = "Sở GD&ĐT (demo)".into();
        info.code = "79000701".into();
        assert_eq!(place(&info).as_deref(), Some("TP. Hồ Chí Minh"));
        info.code = "74000123".into();
        assert_eq!(place(&info), None);
        info.code = "7".into();
        assert_eq!(place(&info), None);
        assert_eq!(date_line(None, None), "…………, ngày …… tháng …… năm ……");
        assert_eq!(
            date_line(Some("Quận 1"), Some("ngày 6 tháng 12 năm 2026")),
            "Quận 1, ngày 6 tháng 12 năm 2026"
        );
    }

    #[test]
    fn completion_and_absence_wording() {
        assert_eq!(
            completion_wording(EducationResult::Ht, 5),
            "Hoàn thành chương trình tiểu học"
        );
        assert_eq!(
            completion_wording(EducationResult::Htt, 3),
            "Hoàn thành chương trình lớp 3"
        );
        assert_eq!(
            completion_wording(EducationResult::Cht, 3),
            "Chưa hoàn thành chương trình lớp 3"
        );
        assert_eq!(absences_text(12, Some(9)), "12 (có phép: 9, không phép: 3)");
        assert_eq!(absences_text(4, None), "4");
    }
}
