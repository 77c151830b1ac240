//! A student's life at the school after the first import: details edited, a transfer in
//! (chuyển đến), a transfer out (chuyển trường đi) and a withdrawal (thôi học). Each goes
//! through [`super::save_student`], so the class roll, the mã định danh index, the register
//! and the relay (students are a relayed kind) follow in the same transaction. Moving to
//! another class also moves the student's score rows, which this capability does not own:
//! `gradebook::move_student` does it and calls [`check_move`] and `save_student` here.

use serde::{Deserialize, Serialize};

use super::{CLASSES, STUDENTS, SchoolError, Student, Tx};

/// Chuyển đến: the student came from another school on this date.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Arrival {
    /// ISO date.
    pub date: String,
    /// Trường chuyển đến từ (the origin school).
    pub from_school: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DepartureKind {
    /// Chuyển trường đi.
    TransferOut,
    /// Thôi học.
    Withdrawn,
    /// Gạch tên: the student's register line was struck as opened by mistake and they left
    /// the roll by it (`register::strike`).
    Struck,
}

/// The student left the school on this date; their records stay (học bạ, grades) and show it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Departure {
    pub kind: DepartureKind,
    /// ISO date.
    pub date: String,
    /// Trường chuyển đến (transfer out only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to_school: String,
    /// Lý do.
    pub reason: String,
}

impl Departure {
    /// "Chuyển trường ngày 03/03/2027 (đến THCS Lê Lợi)", as the pages and the register say it.
    pub fn describe(&self) -> String {
        let on = vi_date(&self.date);
        match self.kind {
            DepartureKind::TransferOut => {
                format!(
                    "Chuyển trường ngày {on} (đến {}): {}",
                    self.to_school, self.reason
                )
            }
            DepartureKind::Withdrawn => format!("Thôi học ngày {on}: {}", self.reason),
            DepartureKind::Struck => {
                format!("Gạch tên khỏi sổ đăng bộ ngày {on}: {}", self.reason)
            }
        }
    }
}

/// dd/mm/yyyy of an ISO date (the stored text when it is not one).
pub fn vi_date(iso: &str) -> String {
    iso.parse::<jiff::civil::Date>()
        .map(|d| d.strftime("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| iso.to_string())
}

/// Today in the school's zone, from the write's own time (domain code never reads the clock).
pub fn today(tx: &Tx<'_>) -> jiff::civil::Date {
    tx.now().to_zoned(super::time_zone()).date()
}

/// A date a person typed for a change: a real date, not after today, not before the student
/// entered the school (`since`, ISO; None for a new student).
pub fn change_date(
    label: &str,
    raw: &str,
    today: jiff::civil::Date,
    since: Option<&str>,
) -> Result<String, SchoolError> {
    let d = super::parse_date(raw).ok_or_else(|| {
        SchoolError::Invalid(format!(
            "{label} \"{}\" không phải là một ngày có thật; hãy ghi ngày/tháng/năm, ví dụ 05/09/2026.",
            raw.trim()
        ))
    })?;
    // A typo such as 05/09/0226 is a real date to the parser, not to a school.
    if d.year() < 2000 {
        return Err(SchoolError::Invalid(format!(
            "{label} {} không hợp lý.",
            d.strftime("%d/%m/%Y")
        )));
    }
    if d > today {
        return Err(SchoolError::Invalid(format!(
            "{label} {} ở tương lai (hôm nay là {}).",
            d.strftime("%d/%m/%Y"),
            today.strftime("%d/%m/%Y")
        )));
    }
    if let Some(since) = since.and_then(|s| s.parse::<jiff::civil::Date>().ok())
        && d < since
    {
        return Err(SchoolError::Invalid(format!(
            "{label} {} trước ngày học sinh vào trường ({}).",
            d.strftime("%d/%m/%Y"),
            since.strftime("%d/%m/%Y")
        )));
    }
    Ok(d.to_string())
}

/// The day a student who did not transfer in entered (ISO): the first day of the school year's
/// first term as the school set it up ("để trống nếu học sinh học từ đầu năm" — review r9 #5),
/// else 1 August of the year; today for a year the school never set up, and for a pupil
/// enrolled in the year before its term begins (August), so a pupil who leaves before it can be recorded
/// (a departure is never dated before the entry, nor in the future).
pub fn entry_default(tx: &Tx<'_>, year: &str) -> Result<String, crate::store::StoreError> {
    let first_term = tx
        .get(&super::YEARS, year)?
        .and_then(|y| y.terms.iter().map(|t| t.start.clone()).min())
        .and_then(|d| d.parse::<jiff::civil::Date>().ok());
    let today = today(tx);
    Ok(first_term
        .or_else(|| year_start(year))
        // Not before the year's 1 August: a class of next year filled in July enters then.
        .map_or(today, |d| d.min(today.max(year_start(year).unwrap_or(d))))
        .to_string())
}

/// The first day of a school year "2026-2027": 1 August 2026 (the lessons' year bounds too).
pub fn year_start(year: &str) -> Option<jiff::civil::Date> {
    let first: i16 = year.split_once('-')?.0.parse().ok()?;
    jiff::civil::Date::new(first, 8, 1).ok()
}

/// Age at entry by level: a pupil of grade g is g + 5 in the calendar year the school year
/// starts, and schools take them from a year early to nine years late (grade 6: 10–20 — late
/// entries, repeated years and returns included); anything outside is a typo.
const AGE_EARLY: i16 = 1;
const AGE_LATE: i16 = 9;

/// A birth date that fits the class the student is in: not in the future, an age at the start
/// of the class's school year that the grade allows. A class that does not exist is left to
/// the caller's own refusal.
pub fn check_birth(tx: &Tx<'_>, dob_iso: &str, class_id: &str) -> Result<(), SchoolError> {
    let Ok(dob) = dob_iso.parse::<jiff::civil::Date>() else {
        return Ok(());
    };
    let today = today(tx);
    if dob > today {
        return Err(SchoolError::Invalid(format!(
            "Ngày sinh {} ở tương lai (hôm nay là {}).",
            dob.strftime("%d/%m/%Y"),
            today.strftime("%d/%m/%Y")
        )));
    }
    let Some(class) = tx.get(&super::CLASSES, class_id)? else {
        return Ok(());
    };
    birth_fits(&dob, &class).map_err(SchoolError::Invalid)
}

/// The age rule of [`check_birth`] alone (no clock: an age the grade allows is never a future
/// birth date), for the student import, which checks every row before writing any.
pub fn birth_fits(dob: &jiff::civil::Date, class: &super::Class) -> Result<(), String> {
    age_fits(dob, &class.year, class.grade, &class.name)
}

/// [`birth_fits`] for a class known only by its school year, grade and name (a line of the
/// paper register, whose class is not on the box).
pub fn age_fits(
    dob: &jiff::civil::Date,
    year: &str,
    grade: u8,
    class_name: &str,
) -> Result<(), String> {
    let Some(start) = year_start(year) else {
        return Ok(());
    };
    let age = start.year() - dob.year();
    let usual = i16::from(grade) + 5;
    let (min, max) = (usual - AGE_EARLY, usual + AGE_LATE);
    if age < min || age > max {
        return Err(format!(
            "Ngày sinh {}: học sinh {age} tuổi vào năm học {year} — lớp {class_name} nhận học sinh từ {min} đến {max} tuổi.",
            dob.strftime("%d/%m/%Y"),
        ));
    }
    Ok(())
}

/// A date of the class's school year (a transfer in): not before its first day (1 August).
pub fn check_in_year(
    tx: &Tx<'_>,
    label: &str,
    date_iso: &str,
    class_id: &str,
) -> Result<(), SchoolError> {
    let (Ok(d), Some(class)) = (
        date_iso.parse::<jiff::civil::Date>(),
        tx.get(&super::CLASSES, class_id)?,
    ) else {
        return Ok(());
    };
    if let Some(start) = year_start(&class.year)
        && d < start
    {
        return Err(SchoolError::Invalid(format!(
            "{label} {} trước năm học {} của lớp {} (từ {}).",
            d.strftime("%d/%m/%Y"),
            class.year,
            class.name,
            start.strftime("%d/%m/%Y")
        )));
    }
    Ok(())
}

/// A short free-text field (a school's name, a reason): one line, NFC, 1–200 characters.
fn text(label: &str, raw: &str) -> Result<String, SchoolError> {
    let v = crate::text::nfc(raw.trim());
    if v.is_empty() {
        return Err(SchoolError::Invalid(format!(
            "{label} không được để trống."
        )));
    }
    if v.chars().count() > 200 || v.chars().any(crate::text::is_unprintable) {
        return Err(SchoolError::Invalid(format!(
            "{label}: một dòng chữ, tối đa 200 kí tự."
        )));
    }
    Ok(v)
}

fn active_student(tx: &Tx<'_>, id: &str) -> Result<Student, SchoolError> {
    let s = tx
        .get(&STUDENTS, id)?
        .ok_or_else(|| SchoolError::NoSuchStudent(id.to_string()))?;
    if let Some(d) = &s.left {
        return Err(SchoolError::Invalid(format!(
            "Học sinh {} đã rời trường ({}); không thay đổi được nữa.",
            s.full_name,
            d.describe()
        )));
    }
    Ok(s)
}

/// The date the student entered the school (ISO), from their register line.
fn entered_on(tx: &Tx<'_>, id: &str) -> Result<Option<String>, SchoolError> {
    Ok(super::register::line_of(tx, id)?.map(|l| l.entered_on))
}

/// A change to a student's details: a field left out stays.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct StudentEdit {
    pub full_name: Option<String>,
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub ma_dinh_danh: Option<String>,
}

/// Edits a student's name, birth date, gender or mã định danh with the rules of the form; a
/// number another student holds is refused by `save_student`.
pub fn edit_student(tx: &mut Tx<'_>, id: &str, e: StudentEdit) -> Result<Student, SchoolError> {
    let mut s = active_student(tx, id)?;
    let (name, dob, gender, ma) = super::validate_student(
        e.full_name.as_deref().unwrap_or(&s.full_name),
        e.dob.as_deref().unwrap_or(&s.dob),
        e.gender.as_deref().unwrap_or(&s.gender),
        e.ma_dinh_danh.as_deref().unwrap_or(&s.ma_dinh_danh),
    )
    .map_err(|errs| {
        SchoolError::Invalid(
            errs.into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    check_birth(tx, &dob, &s.class_id)?;
    (s.full_name, s.dob, s.gender, s.ma_dinh_danh) = (name, dob, gender, ma);
    super::save_student(tx, s.clone(), "student.edit")?;
    Ok(s)
}

/// What moving a student to `to_class` needs: an active student, a class of the same school
/// year and grade, not the one they are in, for which their birth date is plausible. Returns (the student, their current class id).
pub fn check_move(tx: &Tx<'_>, id: &str, to_class: &str) -> Result<(Student, String), SchoolError> {
    let s = active_student(tx, id)?;
    let from = tx
        .get(&CLASSES, &s.class_id)?
        .ok_or_else(|| SchoolError::NoSuchClass(s.class_id.clone()))?;
    let to = tx
        .get(&CLASSES, to_class)?
        .ok_or_else(|| SchoolError::NoSuchClass(to_class.to_string()))?;
    if to.id == from.id {
        return Err(SchoolError::Invalid(format!(
            "Học sinh {} đã ở lớp {}.",
            s.full_name, to.name
        )));
    }
    if to.year != from.year {
        return Err(SchoolError::Invalid(format!(
            "Lớp {} thuộc năm học {}, học sinh đang học năm {}: chỉ chuyển lớp trong cùng năm học.",
            to.name, to.year, from.year
        )));
    }
    // A class of another grade has another programme: the scores of grade 6 would stand in a
    // grade-9 book (review r9 #4). Grades change only with the year, by promotion.
    if to.grade != from.grade {
        return Err(SchoolError::Invalid(format!(
            "Chỉ chuyển sang lớp cùng khối trong năm học: học sinh {} đang học lớp {} (khối {}), lớp {} thuộc khối {}.",
            s.full_name, from.name, from.grade, to.name, to.grade
        )));
    }
    check_birth(tx, &s.dob, &to.id)?;
    let from_id = s.class_id.clone();
    Ok((s, from_id))
}

/// Chuyển trường đi.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TransferOut {
    pub date: String,
    pub to_school: String,
    pub reason: String,
}

/// Thôi học.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    pub date: String,
    pub reason: String,
}

/// A departure dated after the school year of the student's class ended (31 July), when that
/// class is of an earlier year than the current one: she is on no roll of the current year —
/// last year's graduates, or a class's pupils not carried into this year — so she cannot
/// have transferred out or left on that day; her record is last year's. Refused naming the
/// class, its year and its last day. A student of a current-year class, or a departure inside
/// her class's year (a summer transfer after the year was locked), passes.
fn check_within_last_year(tx: &Tx<'_>, s: &Student, d: &Departure) -> Result<(), SchoolError> {
    let current = super::school_info(tx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let (Ok(day), Some(class)) = (
        d.date.parse::<jiff::civil::Date>(),
        tx.get(&CLASSES, &s.class_id)?,
    ) else {
        return Ok(());
    };
    if current.is_empty() || class.year >= current {
        return Ok(());
    }
    let Some(end) = year_start(&class.year).and_then(|start| {
        start
            .checked_add(jiff::Span::new().years(1))
            .ok()?
            .yesterday()
            .ok()
    }) else {
        return Ok(());
    };
    if day <= end {
        return Ok(());
    }
    let what = match d.kind {
        DepartureKind::Withdrawn => "thôi học",
        _ => "chuyển trường",
    };
    Err(SchoolError::Invalid(format!(
        "Học sinh {} học lớp {} năm học {}, năm học đó đã kết thúc ngày {} và học sinh không có tên trong lớp nào của năm học hiện tại ({current}) — học sinh lớp cuối cấp đã hoàn thành chương trình: không ghi {what} ngày {} sau năm học của lớp. Nếu học sinh rời trường trong năm học đó, ghi đúng ngày (đến {}).",
        s.full_name,
        class.name,
        class.year,
        end.strftime("%d/%m/%Y"),
        day.strftime("%d/%m/%Y"),
        end.strftime("%d/%m/%Y")
    )))
}

/// Records that the student left the school: from then on they are in no class list or score
/// grid (the roll drops them), while every record of theirs stays and shows the departure.
fn depart(tx: &mut Tx<'_>, id: &str, d: Departure, action: &str) -> Result<Student, SchoolError> {
    let mut s = active_student(tx, id)?;
    check_within_last_year(tx, &s, &d)?;
    s.left = Some(d);
    super::save_student(tx, s.clone(), action)?;
    Ok(s)
}

pub fn transfer_out(tx: &mut Tx<'_>, id: &str, t: TransferOut) -> Result<Student, SchoolError> {
    let since = entered_on(tx, id)?;
    let d = Departure {
        kind: DepartureKind::TransferOut,
        date: change_date("Ngày chuyển đi", &t.date, today(tx), since.as_deref())?,
        to_school: text("Trường chuyển đến", &t.to_school)?,
        reason: text("Lý do chuyển trường", &t.reason)?,
    };
    depart(tx, id, d, "student.transfer_out")
}

pub fn withdraw(tx: &mut Tx<'_>, id: &str, w: Withdrawal) -> Result<Student, SchoolError> {
    let since = entered_on(tx, id)?;
    let d = Departure {
        kind: DepartureKind::Withdrawn,
        date: change_date("Ngày thôi học", &w.date, today(tx), since.as_deref())?,
        to_school: String::new(),
        reason: text("Lý do thôi học", &w.reason)?,
    };
    depart(tx, id, d, "student.withdraw")
}

/// The arrival of a new student from another school, checked: a real date not in the future,
/// the origin named.
pub fn arrival(tx: &Tx<'_>, date: &str, from_school: &str) -> Result<Arrival, SchoolError> {
    Ok(Arrival {
        date: change_date("Ngày chuyển đến", date, today(tx), None)?,
        from_school: text("Trường chuyển đi", from_school)?,
    })
}

/// Nhập học lại: a student who left comes back.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReEnrolment {
    pub class_id: String,
    /// Ngày nhập học lại.
    pub date: String,
    /// The school they come back from, if they studied elsewhere meanwhile ("" or absent: none).
    #[serde(default)]
    pub from_school: Option<String>,
}

/// Enrols again a student who left (withdrew, transferred out, or was struck off): the same
/// person under the same mã định danh — not a new student, which the number would refuse as a
/// duplicate — back on a class roll, with a new register line; the old line keeps the
/// departure as it was printed. The date is a real day of the class's year, not in the future
/// and not before the student left; the birth date must fit the class.
pub fn re_enrol(tx: &mut Tx<'_>, id: &str, r: ReEnrolment) -> Result<Student, SchoolError> {
    let mut s = tx
        .get(&STUDENTS, id)?
        .ok_or_else(|| SchoolError::NoSuchStudent(id.to_string()))?;
    let Some(left) = s.left.clone() else {
        return Err(SchoolError::Invalid(format!(
            "Học sinh {} đang học ở trường: không cần nhập học lại.",
            s.full_name
        )));
    };
    let class = tx
        .get(&CLASSES, &r.class_id)?
        .ok_or_else(|| SchoolError::NoSuchClass(r.class_id.clone()))?;
    let current = super::school_info(tx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    if class.year != current {
        return Err(SchoolError::Invalid(format!(
            "Lớp {} thuộc năm học {}: chỉ nhập học lại vào một lớp của năm học hiện tại ({current}).",
            class.name, class.year
        )));
    }
    let date = change_date("Ngày nhập học lại", &r.date, today(tx), None)?;
    if date < left.date {
        return Err(SchoolError::Invalid(format!(
            "Ngày nhập học lại {} trước ngày học sinh rời trường ({}).",
            vi_date(&date),
            vi_date(&left.date)
        )));
    }
    check_in_year(tx, "Ngày nhập học lại", &date, &class.id)?;
    check_reenrol_grade(tx, &s, &class)?;
    check_birth(tx, &s.dob, &class.id)?;
    let from = r
        .from_school
        .filter(|f| !f.trim().is_empty())
        .map(|f| text("Trường học trước khi trở lại", &f))
        .transpose()?;
    super::register::enter_again(tx, &s, &class.year, &date, &class.name)?;
    s.left = None;
    s.class_id = class.id.clone();
    s.arrived = from.map(|from_school| Arrival {
        date: date.clone(),
        from_school,
    });
    super::save_student(tx, s.clone(), "student.reenrol")?;
    Ok(s)
}

/// The grade rule of moves, for a return (review r12 #2): back into the grade of the class the
/// student left, or — when that class was of an earlier school year, so the student may have
/// finished it — the next grade. Any other grade would put their scores in another
/// programme's book. A last class that no longer exists leaves the choice to the school.
fn check_reenrol_grade(tx: &Tx<'_>, s: &Student, to: &super::Class) -> Result<(), SchoolError> {
    let Some(last) = tx.get(&CLASSES, &s.class_id)? else {
        return Ok(());
    };
    let next_ok = last.year < to.year && to.grade == last.grade + 1;
    if to.grade == last.grade || next_ok {
        return Ok(());
    }
    let allowed = if last.year < to.year {
        format!("khối {} hoặc khối {}", last.grade, last.grade + 1)
    } else {
        format!("khối {}", last.grade)
    };
    Err(SchoolError::Invalid(format!(
        "Chỉ nhập học lại vào lớp cùng khối với lớp cũ (hoặc khối trên nếu đã học hết năm học trước): học sinh {} rời trường khi học lớp {} (khối {}, năm học {}), lớp {} thuộc khối {}; hãy chọn một lớp {allowed}.",
        s.full_name, last.name, last.grade, last.year, to.name, to.grade
    )))
}
