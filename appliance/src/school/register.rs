//! Sổ đăng bộ: the school's register of every student ever enrolled. A line is opened when a
//! student is first saved (in `save_student`'s transaction) with the next number, which is
//! never reused; a line is never deleted — one opened by mistake is struck with a reason. The
//! rest of a line (name, birth, family, transfers, withdrawal) is read from the student's
//! records when the register is shown, so it never disagrees with them — until the line is
//! closed: a struck line, or the line of a student who came back under a new one, keeps the
//! row as it was printed then (`frozen`), so a later edit of the student changes no closed line.

use serde::{Deserialize, Serialize};

use super::{SchoolError, Student, Tx};
use crate::store::{AuditPolicy, Collection, Read, StoreError};

/// One line of the register, by number ("000012").
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RegisterLine {
    /// Số đăng bộ.
    pub number: u32,
    pub student: String,
    /// The school year the student entered in ("2026-2027").
    pub year: String,
    /// Ngày vào trường, ISO.
    pub entered_on: String,
    /// Lớp vào trường: the class's name then (its id may be reused next year).
    pub class_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub struck: Option<Strike>,
    /// The row as printed when the line was closed (struck, or the student re-enrolled under
    /// a new line): from then on it is printed from here, not from the student's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<RegisterRow>,
    /// A re-enrolment line: what the student was before it, so that striking it as opened by
    /// mistake puts them back as they were (review r12 #1) instead of writing a new departure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reentry: Option<Reentry>,
    /// A line brought in from the school's paper book (`import_lines`), ISO date of the
    /// import: it names no student of this box and is printed as it was read (`frozen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<String>,
    /// An imported line struck as wrong and imported again under its paper number: the
    /// struck rows it replaces, oldest first, printed before it (the register deletes nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<RegisterRow>,
}

/// The student's state just before a re-enrolment (nhập học lại).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reentry {
    /// The line the student had before (closed by the re-enrolment).
    pub previous: u32,
    /// Whether the re-enrolment froze that line (an open line is opened again on undo).
    pub froze_previous: bool,
    pub left: super::Departure,
    pub class_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived: Option<super::Arrival>,
}

/// Gạch bỏ: the line was opened by mistake; it stays, struck, with why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Strike {
    pub reason: String,
    /// ISO date.
    pub on: String,
    /// An imported line struck on the box as read wrong: its number may be imported again
    /// as the line should read (a line struck in the paper book itself may not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reimport: bool,
}

pub const REGISTER: Collection<RegisterLine> =
    Collection::new("school.register.v1", AuditPolicy::Values, None);
/// Student id → number of their line (derived, written with the line).
pub const REGISTER_OF: Collection<u32> =
    Collection::new("school.register.students.v1", AuditPolicy::None, None);
/// The next number ("next"): numbers are never reused, so it only grows.
pub const REGISTER_NEXT: Collection<u32> =
    Collection::new("school.register.next.v1", AuditPolicy::None, None);

fn key(number: u32) -> String {
    format!("{number:06}")
}

/// Writes `line` back under its number, as it is (the demo back-dates its pupils' entries:
/// the box's own changes go through the register's rules).
pub(crate) fn rewrite_line(
    tx: &mut Tx<'_>,
    line: &RegisterLine,
    action: &str,
) -> Result<(), StoreError> {
    tx.put(&REGISTER, &key(line.number), line, action)
}

/// Numbers the whole book afresh, 1… in the order of `lines` (every line of the register),
/// the next number after the last. Only for a book nobody has printed yet: the demo writes its
/// book once, in entry order, before anything prints a number.
pub(crate) fn renumber_unprinted(
    tx: &mut Tx<'_>,
    lines: &[RegisterLine],
    action: &str,
) -> Result<(), StoreError> {
    for l in lines {
        tx.delete(&REGISTER, &key(l.number), action)?;
    }
    for (i, l) in lines.iter().enumerate() {
        let mut l = l.clone();
        l.number = i as u32 + 1;
        tx.put(&REGISTER, &key(l.number), &l, action)?;
        tx.put(&REGISTER_OF, &l.student, &l.number, action)?;
    }
    tx.put(&REGISTER_NEXT, "next", &(lines.len() as u32 + 1), action)?;
    Ok(())
}

pub fn line_of(rx: &impl Read, student: &str) -> Result<Option<RegisterLine>, StoreError> {
    match rx.get(&REGISTER_OF, student)? {
        Some(n) => rx.get(&REGISTER, &key(n)),
        None => Ok(None),
    }
}

/// Opens the register line of a student saved for the first time (numbers from 1).
pub fn enter(
    tx: &mut Tx<'_>,
    s: &Student,
    year: &str,
    class_name: &str,
) -> Result<u32, StoreError> {
    if let Some(n) = tx.get(&REGISTER_OF, &s.id)? {
        return Ok(n);
    }
    let entered_on = match &s.arrived {
        Some(a) => a.date.clone(),
        None => super::changes::entry_default(tx, year)?,
    };
    let line = RegisterLine {
        number: 0, // `open_line` gives it the next number
        student: s.id.clone(),
        year: year.to_string(),
        entered_on,
        class_name: class_name.to_string(),
        struck: None,
        frozen: None,
        reentry: None,
        imported: None,
        replaced: Vec::new(),
    };
    open_line(tx, line, "register.enter")
}

/// Writes a new line under the next number and makes it the student's current one.
fn open_line(tx: &mut Tx<'_>, mut line: RegisterLine, action: &str) -> Result<u32, StoreError> {
    let number = tx.get(&REGISTER_NEXT, "next")?.unwrap_or(1);
    line.number = number;
    tx.put(&REGISTER, &key(number), &line, action)?;
    tx.put(&REGISTER_OF, &line.student, &number, action)?;
    tx.put(&REGISTER_NEXT, "next", &(number + 1), action)?;
    Ok(number)
}

/// A student who left comes back (nhập học lại): their last line is frozen as it reads now
/// (with the departure), and a new line opens under the next number, dated `entered_on`
/// (ISO) into `class_name` of `year`, remembering the student as they were (`s`, still with
/// their departure). Called by `changes::re_enrol` before the student's record loses it.
pub fn enter_again(
    tx: &mut Tx<'_>,
    s: &Student,
    year: &str,
    entered_on: &str,
    class_name: &str,
) -> Result<u32, StoreError> {
    let mut reentry = None;
    if let Some(mut old) = line_of(tx, &s.id)? {
        let froze_previous = old.frozen.is_none();
        if froze_previous {
            old.frozen = Some(row_of(tx, &old)?);
            tx.put(&REGISTER, &key(old.number), &old, "register.close")?;
        }
        reentry = s.left.clone().map(|left| Reentry {
            previous: old.number,
            froze_previous,
            left,
            class_id: s.class_id.clone(),
            arrived: s.arrived.clone(),
        });
    }
    let line = RegisterLine {
        number: 0,
        student: s.id.clone(),
        year: year.to_string(),
        entered_on: entered_on.to_string(),
        class_name: class_name.to_string(),
        struck: None,
        frozen: None,
        reentry,
        imported: None,
        replaced: Vec::new(),
    };
    open_line(tx, line, "register.reenter")
}

/// The register line the học bạ prints in "Quá trình học tập": the student's current line,
/// unless it is struck (a struck line's number belongs to nobody).
pub fn valid_line(rx: &impl Read, student: &str) -> Result<Option<RegisterLine>, StoreError> {
    Ok(line_of(rx, student)?.filter(|l| l.struck.is_none()))
}

/// Continues a paper book: the number the next line gets (a school whose paper sổ đăng bộ
/// ended at 1233 sets 1234 before entering its students). Numbers only grow — a number at or
/// below one already given could be given twice — so a smaller one is refused with the next.
pub fn set_next(tx: &mut Tx<'_>, next: u32) -> Result<u32, SchoolError> {
    let now = tx.get(&REGISTER_NEXT, "next")?.unwrap_or(1);
    if next < now || next > 9_999_999 {
        return Err(SchoolError::Invalid(format!(
            "Số đăng bộ tiếp theo phải từ {now} trở lên (số đã cấp không cấp lại) và tối đa 9999999: nhận được {next}."
        )));
    }
    tx.put(&REGISTER_NEXT, "next", &next, "register.next")?;
    Ok(next)
}

/// Whether a school year's register is closed: every year before the current one is.
fn closed(tx: &Tx<'_>, year: &str) -> Result<bool, SchoolError> {
    let current = super::school_info(tx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    Ok(year < current.as_str())
}

/// Records the real date a student entered (a list imported in December for pupils who came
/// in September); refused for a line of a closed year, a date in the future, or one after the
/// student left.
pub fn date_entry(tx: &mut Tx<'_>, student: &str, date: &str) -> Result<RegisterLine, SchoolError> {
    let mut line =
        line_of(tx, student)?.ok_or_else(|| SchoolError::NoSuchStudent(student.to_string()))?;
    if closed(tx, &line.year)? {
        return Err(SchoolError::Invalid(format!(
            "Dòng số {} thuộc năm học {}, đã khoá sổ: không sửa được.",
            line.number, line.year
        )));
    }
    let date =
        super::changes::change_date("Ngày vào trường", date, super::changes::today(tx), None)?;
    if let Some(left) = tx.get(&super::STUDENTS, student)?.and_then(|s| s.left)
        && left.date < date
    {
        return Err(SchoolError::Invalid(format!(
            "Ngày vào trường {} sau ngày học sinh rời trường ({}).",
            super::changes::vi_date(&date),
            super::changes::vi_date(&left.date)
        )));
    }
    line.entered_on = date;
    tx.put(&REGISTER, &key(line.number), &line, "register.entry_date")?;
    Ok(line)
}

/// What happens to the student of a struck line that was their current one.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AfterStrike {
    /// The line was opened for someone who is not a pupil here (a wrong file, a duplicate):
    /// the student leaves the roll — no class list or grid shows them — and their records stay.
    LeaveRoll,
    /// The pupil is real and the line was wrong: a new line opens under the next number.
    NewLine,
}

/// Strikes a line opened by mistake (the line stays, with the reason, frozen as it read then).
/// A line of a closed year is the paper record of that year and is refused. When the line was
/// the student's current one, the student either leaves the roll or gets a new line (`after`):
/// a pupil left on the roll with no valid line would be taught without a number (review r8 #7).
/// `after` is asked for, never assumed: `None` on the current line of a pupil still on the roll
/// is refused (review r16 #2: a bare API strike took a child off the roll).
pub fn strike(
    tx: &mut Tx<'_>,
    number: u32,
    reason: &str,
    after: impl Into<Option<AfterStrike>>,
) -> Result<RegisterLine, SchoolError> {
    let after: Option<AfterStrike> = after.into();
    let mut line = tx
        .get(&REGISTER, &key(number))?
        .ok_or_else(|| SchoolError::Invalid(format!("Sổ đăng bộ không có dòng số {number}.")))?;
    // A line brought in from the paper book that turns out wrong (a misread date, a result
    // of the wrong year) is struck with the reason and imported again as it should read: the
    // box's own lines of a closed year are the record of that year and stay.
    if closed(tx, &line.year)? && line.imported.is_none() {
        return Err(SchoolError::Invalid(format!(
            "Dòng số {number} thuộc năm học {}, đã khoá sổ: không sửa được. Ghi việc điều chỉnh vào năm học hiện tại.",
            line.year
        )));
    }
    if line.struck.is_some() {
        return Err(SchoolError::Invalid(format!(
            "Dòng số {number} đã bị gạch bỏ."
        )));
    }
    let reason = crate::text::nfc(reason.trim());
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(SchoolError::Invalid(
            "Hãy ghi lý do gạch bỏ (một dòng, tối đa 200 kí tự).".into(),
        ));
    }
    // A line the student has a later one after (they left and came back) is real history:
    // the departure and the return rest on it, so it cannot have been opened by mistake
    // (review r12 #10). Only the newest line may be struck.
    let current = tx.get(&REGISTER_OF, &line.student)?;
    if let Some(later) = current.filter(|c| *c != number) {
        return Err(SchoolError::Invalid(format!(
            "Dòng số {number} không gạch bỏ được: học sinh đã rời trường theo dòng này rồi nhập học lại ở dòng số {later}. Nếu việc nhập học lại là nhầm, hãy gạch bỏ dòng số {later}."
        )));
    }
    // Undoing a re-enrolment is refused once the student left again after it: that later
    // departure would have to go, and it is real history too.
    let student = tx.get(&super::STUDENTS, &line.student)?;
    if line.reentry.is_some()
        && let Some(d) = student.as_ref().and_then(|s| s.left.as_ref())
    {
        return Err(SchoolError::Invalid(format!(
            "Dòng số {number} không gạch bỏ được: sau khi nhập học lại, học sinh đã rời trường lần nữa ({}).",
            d.describe()
        )));
    }
    if line.frozen.is_none() {
        line.frozen = Some(row_of(tx, &line)?);
    }
    let today = super::changes::today(tx).to_string();
    line.struck = Some(Strike {
        reason: reason.clone(),
        on: today.clone(),
        reimport: line.imported.is_some(),
    });
    tx.put(&REGISTER, &key(number), &line, "register.strike")?;
    if let (Some(back), Some(mut s)) = (line.reentry.clone(), student.clone()) {
        // A re-enrolment opened by mistake is undone whatever `after` says: the student is
        // again as before it — the earlier line current, the earlier departure (its date,
        // destination and reason) and class kept — never a new "left" dated today.
        if let Some(mut prev) = tx.get(&REGISTER, &key(back.previous))? {
            if back.froze_previous {
                prev.frozen = None;
                tx.put(&REGISTER, &key(prev.number), &prev, "register.reopen")?;
            }
            tx.put(&REGISTER_OF, &line.student, &prev.number, "register.reopen")?;
        }
        s.left = Some(back.left);
        s.class_id = back.class_id;
        s.arrived = back.arrived;
        super::save_student(tx, s, "student.reenrol_undone")?;
        return Ok(line);
    }
    if current == Some(number) {
        let on_roll = student.as_ref().is_some_and(|s| s.left.is_none());
        let after = match after {
            Some(a) => a,
            None if on_roll => {
                return Err(SchoolError::Invalid(format!(
                    "Dòng số {number} là dòng hiện tại của học sinh: hãy chọn sau khi gạch bỏ, học sinh rời danh sách lớp (hồ sơ mở nhầm) hay được mở dòng mới với số tiếp theo (ghi sai thông tin)."
                )));
            }
            None => AfterStrike::LeaveRoll,
        };
        match after {
            AfterStrike::NewLine => {
                let again = RegisterLine {
                    struck: None,
                    frozen: None,
                    reentry: None,
                    imported: None,
                    replaced: Vec::new(),
                    ..line.clone()
                };
                open_line(tx, again, "register.reenter")?;
            }
            AfterStrike::LeaveRoll => {
                if let Some(mut s) = tx.get(&super::STUDENTS, &line.student)?
                    && s.left.is_none()
                {
                    s.left = Some(super::Departure {
                        kind: super::DepartureKind::Struck,
                        date: today,
                        to_school: String::new(),
                        reason,
                    });
                    super::save_student(tx, s, "student.struck")?;
                }
            }
        }
    }
    Ok(line)
}

/// A register line as printed: the line and what the student's records say now (or said
/// when the line was closed).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct RegisterRow {
    pub number: u32,
    pub student: String,
    pub full_name: String,
    /// dd/mm/yyyy
    pub dob: String,
    pub gender: String,
    pub birthplace: String,
    pub ethnicity: String,
    /// "Cha: …; Mẹ: …" (and the guardian).
    pub parents: String,
    /// Nghề nghiệp of each parent named, in the same order ("Cha: …; Mẹ: …").
    pub parents_jobs: String,
    pub address: String,
    /// Đối tượng chính sách (con liệt sĩ, hộ nghèo…), as the office recorded it.
    pub policy: String,
    /// dd/mm/yyyy
    pub entered_on: String,
    pub entered_class: String,
    /// Chuyển đến từ.
    pub arrived_from: String,
    /// Chuyển đi / thôi học, with the date.
    pub left: String,
    /// The year-end result of each year the student studied here on this line, by grade
    /// ("Theo dõi kết quả hằng năm"): filled from the gradebook's stored results by
    /// `gradebook::register::rows`; this module leaves it empty (it knows no results).
    pub results: Vec<GradeResult>,
    /// Tốt nghiệp: hoàn thành chương trình tiểu học, or the recognition of THCS/THPT
    /// graduation with its decision (`gradebook::graduation`); filled as `results` is.
    pub graduation: String,
    /// Gạch bỏ: the reason.
    pub struck: String,
    /// Ghi chú of a line read from the paper book (other than a strike).
    pub note: String,
}

/// One year's result in one grade, as the register prints it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct GradeResult {
    pub grade: u8,
    /// "2026-2027"; empty when a paper line did not say.
    pub year: String,
    /// The decision in the học bạ's words ("Được lên lớp", "Ở lại lớp", …).
    pub result: String,
}

/// The lines of the students who entered in `year`, by number, without the results (which
/// `gradebook::register::rows` adds: the register as shown, printed and exported).
pub fn rows(rx: &impl Read, year: &str) -> Result<Vec<RegisterRow>, StoreError> {
    let mut out = Vec::new();
    for l in all_lines(rx)?.iter().filter(|l| l.year == year) {
        out.extend(l.replaced.iter().cloned());
        out.push(row_of(rx, l)?);
    }
    Ok(out)
}

/// Every line of the register, by number.
pub fn all_lines(rx: &impl Read) -> Result<Vec<RegisterLine>, StoreError> {
    let mut lines = Vec::new();
    rx.scan_each(&REGISTER, "", &mut |_, line: RegisterLine| {
        lines.push(line);
        Ok(())
    })?;
    Ok(lines)
}

/// One line as printed: a closed line as it was frozen, an open one from the student's
/// records now.
pub fn row_of(rx: &impl Read, line: &RegisterLine) -> Result<RegisterRow, StoreError> {
    let struck = line
        .struck
        .as_ref()
        .map(|k| k.reason.clone())
        .unwrap_or_default();
    if let Some(row) = &line.frozen {
        return Ok(RegisterRow {
            struck,
            ..row.clone()
        });
    }
    let s = rx.get(&super::STUDENTS, &line.student)?;
    let p = super::student_profile(rx, &line.student)?;
    let (mut parents, mut jobs) = (Vec::new(), Vec::new());
    for (label, name, job) in [
        ("Cha", &p.father, &p.father_job),
        ("Mẹ", &p.mother, &p.mother_job),
        ("Giám hộ", &p.guardian, &p.guardian_job),
    ] {
        if !name.is_empty() {
            parents.push(format!("{label}: {name}"));
        }
        if !job.is_empty() {
            jobs.push(format!("{label}: {job}"));
        }
    }
    Ok(RegisterRow {
        number: line.number,
        student: line.student.clone(),
        full_name: s.as_ref().map(|s| s.full_name.clone()).unwrap_or_default(),
        dob: s
            .as_ref()
            .map(|s| super::changes::vi_date(&s.dob))
            .unwrap_or_default(),
        gender: s.as_ref().map(|s| s.gender.clone()).unwrap_or_default(),
        birthplace: p.birthplace,
        ethnicity: p.ethnicity,
        parents: parents.join("; "),
        parents_jobs: jobs.join("; "),
        address: p.address,
        policy: p.policy,
        entered_on: super::changes::vi_date(&line.entered_on),
        entered_class: line.class_name.clone(),
        arrived_from: s
            .as_ref()
            .and_then(|s| s.arrived.as_ref())
            .map(|a| a.from_school.clone())
            .unwrap_or_default(),
        // A struck line (the student left the roll by it) says so in its note, not here.
        left: s
            .as_ref()
            .and_then(|s| s.left.as_ref())
            .filter(|d| d.kind != super::DepartureKind::Struck)
            .map(|d| d.describe())
            .unwrap_or_default(),
        results: Vec::new(),
        graduation: String::new(),
        struck,
        note: String::new(),
    })
}

/// The register of a year as a spreadsheet (one row per line, struck lines marked), in the
/// columns of [`headers`] for the school's `grades`; [`import_lines`] reads it back.
pub fn xlsx(
    rows: &[RegisterRow],
    school: &str,
    year: &str,
    grades: &[u8],
) -> Result<Vec<u8>, SchoolError> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| {
        SchoolError::Invalid(format!("Không tạo được tệp Excel: {e}"))
    };
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("So dang bo").map_err(fail)?;
    let bold = Format::new().set_bold();
    ws.write_string_with_format(
        0,
        0,
        format!("SỔ ĐĂNG BỘ — {school} — năm học {year}"),
        &bold,
    )
    .map_err(fail)?;
    for (c, h) in headers(grades).iter().enumerate() {
        ws.write_string_with_format(2, c as u16, h, &bold)
            .map_err(fail)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 3 + i as u32;
        ws.write_number(row, 0, f64::from(r.number)).map_err(fail)?;
        for (c, v) in r.cells(grades).iter().enumerate() {
            ws.write_string(row, 1 + c as u16, v).map_err(fail)?;
        }
    }
    wb.save_to_buffer().map_err(fail)
}

/// The register's columns before the results, in the order of the paper book.
pub const HEADERS: [&str; 14] = [
    "Số đăng bộ",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Nơi sinh",
    "Dân tộc",
    "Họ tên cha, mẹ (người giám hộ)",
    "Nghề nghiệp cha, mẹ (người giám hộ)",
    "Chỗ ở",
    "Đối tượng chính sách",
    "Ngày vào trường",
    "Lớp",
    "Chuyển đến từ",
    "Chuyển đi, thôi học",
];

/// Every column: [`HEADERS`], "Kết quả lớp N" for each grade the school teaches (the paper
/// book's "theo dõi kết quả hằng năm"), "Tốt nghiệp" and "Ghi chú".
pub fn headers(grades: &[u8]) -> Vec<String> {
    let mut h: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    h.extend(grades.iter().map(|g| format!("Kết quả lớp {g}")));
    h.push("Tốt nghiệp".into());
    h.push("Ghi chú".into());
    h
}

impl RegisterRow {
    /// Every column after the number, as text, for the school's `grades` ([`headers`]).
    pub fn cells(&self, grades: &[u8]) -> Vec<String> {
        let mut c = vec![
            self.full_name.clone(),
            self.dob.clone(),
            self.gender.clone(),
            self.birthplace.clone(),
            self.ethnicity.clone(),
            self.parents.clone(),
            self.parents_jobs.clone(),
            self.address.clone(),
            self.policy.clone(),
            self.entered_on.clone(),
            self.entered_class.clone(),
            self.arrived_from.clone(),
            self.left.clone(),
        ];
        c.extend(grades.iter().map(|g| self.result_text(*g)));
        c.push(self.graduation.clone());
        let mut note = Vec::new();
        if !self.struck.is_empty() {
            note.push(format!("Gạch bỏ: {}", self.struck));
        }
        if !self.note.is_empty() {
            note.push(self.note.clone());
        }
        c.push(note.join("; "));
        c
    }

    /// The results in `grade`, each "2026-2027: Được lên lớp" (a grade repeated after "ở lại
    /// lớp" has two), joined by "; " — [`parse_results`] reads it back.
    pub fn result_text(&self, grade: u8) -> String {
        self.results
            .iter()
            .filter(|r| r.grade == grade)
            .map(|r| {
                if r.year.is_empty() {
                    r.result.clone()
                } else {
                    format!("{}: {}", r.year, r.result)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A results cell back into results ([`RegisterRow::result_text`]); a part without a school
/// year in front ("Lên lớp", as a paper book may say) keeps its words with no year.
pub fn parse_results(grade: u8, text: &str) -> Vec<GradeResult> {
    text.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once(':') {
            Some((y, rest)) if super::register_rules::school_year(y.trim()).is_some() => {
                GradeResult {
                    grade,
                    year: y.trim().to_string(),
                    result: rest.trim().to_string(),
                }
            }
            _ => GradeResult {
                grade,
                year: String::new(),
                result: p.to_string(),
            },
        })
        .collect()
}

// --- Earlier years: the paper book's lines brought in -------------------------------------

/// The recognised columns of a register sheet (folded header text), [`headers`] read back.
const IMPORT_FIELDS: &[(&str, &[&str])] = &[
    ("so", &["so dang bo", "so db"]),
    ("ho_ten", &["ho va ten", "ho ten", "ho va ten hoc sinh"]),
    ("ngay_sinh", &["ngay sinh", "ngay thang nam sinh"]),
    ("gioi_tinh", &["gioi tinh", "nam/nu"]),
    ("noi_sinh", &["noi sinh"]),
    ("dan_toc", &["dan toc"]),
    (
        "cha_me",
        &[
            "ho ten cha, me (nguoi giam ho)",
            "ho ten cha, me",
            "ho ten cha me",
        ],
    ),
    (
        "nghe",
        &[
            "nghe nghiep cha, me (nguoi giam ho)",
            "nghe nghiep cha, me",
            "nghe nghiep",
        ],
    ),
    ("cho_o", &["cho o", "dia chi", "noi o"]),
    ("chinh_sach", &["doi tuong chinh sach"]),
    ("ngay_vao", &["ngay vao truong"]),
    ("lop", &["lop", "lop vao truong", "vao lop"]),
    ("den_tu", &["chuyen den tu"]),
    ("di", &["chuyen di, thoi hoc", "chuyen di", "thoi hoc"]),
    ("kq1", &["ket qua lop 1"]),
    ("kq2", &["ket qua lop 2"]),
    ("kq3", &["ket qua lop 3"]),
    ("kq4", &["ket qua lop 4"]),
    ("kq5", &["ket qua lop 5"]),
    ("kq6", &["ket qua lop 6"]),
    ("kq7", &["ket qua lop 7"]),
    ("kq8", &["ket qua lop 8"]),
    ("kq9", &["ket qua lop 9"]),
    ("kq10", &["ket qua lop 10"]),
    ("kq11", &["ket qua lop 11"]),
    ("kq12", &["ket qua lop 12"]),
    ("tot_nghiep", &["tot nghiep"]),
    ("ghi_chu", &["ghi chu"]),
];

/// What an import of earlier lines would write: every line, or every problem by row.
#[derive(Debug, Serialize)]
pub struct RegisterImport {
    #[serde(skip)]
    pub lines: Vec<RegisterLine>,
    pub problems: Vec<super::import::RowProblem>,
    pub notes: Vec<super::import::RowProblem>,
    /// The next number once the lines are in (raised past the highest imported).
    pub next: u32,
}

/// Reads the lines of a paper register from an xlsx in the register's own columns (the
/// export read back: [`xlsx`]), against the box: nothing is written. Each line needs its
/// number, name, birth date, entry date and class; its school year is the sheet title's
/// ("… năm học 2019-2020", as the export writes it) or, without one, the year its entry date
/// falls in (from August). A number already in the register or twice in the file, or a year
/// not before the current one (the current year's students are entered as students), is a
/// problem of its row; so is every rule of a line the box's register could not hold
/// (`register_rules::check`) and the same person entered twice with no departure between, in
/// the file (`register_rules::second_line`) or against a line the register holds
/// (`register_rules::against_held`).
pub fn plan_import(
    rx: &impl Read,
    bytes: &[u8],
    today: jiff::civil::Date,
) -> Result<RegisterImport, StoreError> {
    use super::import::{RowProblem, cell_text, field_text, read_table, row_is_blank};
    use super::register_rules::{self as rules, school_year};
    let info = super::school_info(rx)?;
    let current = info
        .as_ref()
        .map(|i| i.current_year.clone())
        .unwrap_or_default();
    let level = info.as_ref().map(|i| i.level.clone()).unwrap_or_default();
    let grades: Vec<u8> = info
        .as_ref()
        .map(super::SchoolInfo::grades)
        .unwrap_or_else(|| (1..=12).collect());
    let mut out = RegisterImport {
        lines: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        next: rx.get(&REGISTER_NEXT, "next")?.unwrap_or(1),
    };
    let (header_row, cols, rows, converted) = match read_table(
        bytes,
        IMPORT_FIELDS,
        &["so", "ho_ten", "ngay_sinh", "ngay_vao", "lop"],
    ) {
        Ok(t) => t,
        Err(p) => {
            out.problems.push(p);
            return Ok(out);
        }
    };
    out.notes = converted.notes;
    out.problems = converted.problems;
    // The export's title names the year of every line under it.
    let title_year = super::sheet::read(bytes, |_| 0).ok().and_then(|sheet| {
        sheet.rows.iter().take(header_row).flatten().find_map(|c| {
            let t = crate::text::fold(&cell_text(c));
            let at = t.find("nam hoc ")? + "nam hoc ".len();
            let y = t.get(at..at + 9)?;
            school_year(y).map(|_| y.to_string())
        })
    });
    let mut seen: std::collections::BTreeMap<u32, usize> = Default::default();
    let mut existing = std::collections::BTreeMap::new();
    rx.scan_each(&REGISTER, "", &mut |_, l: RegisterLine| {
        existing.insert(l.number, l);
        Ok(())
    })?;
    let current_first = school_year(&current).unwrap_or_else(|| rules::year_of(today));
    // The lines the register holds, not struck (imported or the box's own), by person, for
    // `against_held` (review r18 #1).
    let mut held: std::collections::BTreeMap<(String, String), Vec<RegisterRow>> =
        Default::default();
    for l in existing.values().filter(|l| l.struck.is_none()) {
        let row = row_of(rx, l)?;
        if let Some(dob) = super::parse_date(&row.dob) {
            held.entry((
                crate::text::fold(&row.full_name),
                dob.strftime("%d/%m/%Y").to_string(),
            ))
            .or_default()
            .push(row);
        }
    }
    // The rows not struck, by person (folded name, birth date), for `second_line`.
    let mut people: std::collections::BTreeMap<(String, String), Vec<(usize, RegisterRow)>> =
        Default::default();
    for (i, row) in rows.iter().enumerate() {
        if row_is_blank(&cols, row) {
            continue;
        }
        let at = header_row + 1 + i;
        let mut bad = |field: &str, message: String| {
            out.problems.push(RowProblem {
                row: at,
                field: field.into(),
                message,
            })
        };
        let text = |f: &str| crate::text::nfc(&field_text(&cols, row, f));
        let raw = text("so");
        let number = match raw.parse::<u32>() {
            Ok(n) if (1..=9_999_999).contains(&n) => n,
            _ => {
                bad(
                    "so",
                    format!("Số đăng bộ \"{raw}\" phải là số nguyên từ 1 đến 9999999."),
                );
                continue;
            }
        };
        if let Some(first) = seen.insert(number, at) {
            bad(
                "so",
                format!("Số đăng bộ {number} trùng với dòng {first} của tệp."),
            );
        }
        // A line imported earlier and struck as wrong is imported again as it should read,
        // under its paper number; the struck row stays printed before it.
        let mut replaced = Vec::new();
        match existing.get(&number) {
            Some(old) if old.struck.as_ref().is_some_and(|k| k.reimport) => {
                replaced = old.replaced.clone();
                replaced.push(row_of(rx, old)?);
            }
            Some(_) => bad(
                "so",
                format!(
                    "Số đăng bộ {number} đã có trong sổ của trường: số cũ giữ nguyên như sổ giấy, không ghi đè. Một dòng đã nhập mà sai thì gạch bỏ (nêu lý do) rồi nhập lại."
                ),
            ),
            None => {}
        }
        let entry = super::parse_date(&text("ngay_vao"));
        let year = title_year
            .clone()
            .or_else(|| entry.map(|e| format!("{}-{}", rules::year_of(e), rules::year_of(e) + 1)));
        if let Some(y) = &year
            && !current.is_empty()
            && y.as_str() >= current.as_str()
        {
            bad(
                "ngay_vao",
                format!(
                    "Dòng thuộc năm học {y}: chỉ nhập dòng của các năm học trước {current}; học sinh năm nay được ghi sổ khi thêm vào lớp."
                ),
            );
        }
        let mut results = Vec::new();
        for g in 1..=12u8 {
            results.extend(parse_results(g, &text(&format!("kq{g}"))));
        }
        let mut long = None;
        for f in [
            "noi_sinh",
            "dan_toc",
            "cha_me",
            "nghe",
            "cho_o",
            "chinh_sach",
            "den_tu",
            "di",
            "tot_nghiep",
            "ghi_chu",
        ] {
            if text(f).chars().count() > 500 {
                long = Some(f);
            }
        }
        if let Some(f) = long {
            bad(f, "Ô dài quá 500 kí tự.".into());
        }
        let note = text("ghi_chu");
        let (struck, note) = match note.strip_prefix("Gạch bỏ:") {
            Some(rest) => {
                let (reason, more) = rest.split_once(';').unwrap_or((rest, ""));
                let reason = reason.trim().to_string();
                if reason.is_empty() || reason.chars().count() > 200 {
                    bad(
                        "ghi_chu",
                        "Gạch bỏ: ghi lý do gạch bỏ dòng (tối đa 200 kí tự), ví dụ \"Gạch bỏ: trùng dòng 12\".".into(),
                    );
                }
                (reason, more.trim().to_string())
            }
            None => (String::new(), note),
        };
        // The line as read, its name's spaces as the box keeps them; its rules.
        let mut line = RegisterRow {
            number,
            student: String::new(),
            full_name: text("ho_ten")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            dob: text("ngay_sinh"),
            gender: text("gioi_tinh"),
            birthplace: text("noi_sinh"),
            ethnicity: text("dan_toc"),
            parents: text("cha_me"),
            parents_jobs: text("nghe"),
            address: text("cho_o"),
            policy: text("chinh_sach"),
            entered_on: text("ngay_vao"),
            entered_class: text("lop"),
            arrived_from: text("den_tu"),
            left: text("di"),
            results,
            graduation: text("tot_nghiep"),
            struck: String::new(),
            note,
        };
        let book = rules::Book {
            year: year.as_deref().unwrap_or_default(),
            level: &level,
            grades: &grades,
            current_first,
            today,
        };
        for (field, message) in rules::check(&line, &book) {
            bad(&field, message);
        }
        let (Some(dob), Some(entry), Some(year)) = (super::parse_date(&line.dob), entry, year)
        else {
            continue;
        };
        line.dob = dob.strftime("%d/%m/%Y").to_string();
        line.entered_on = entry.strftime("%d/%m/%Y").to_string();
        if struck.is_empty() {
            people
                .entry((crate::text::fold(&line.full_name), line.dob.clone()))
                .or_default()
                .push((at, line.clone()));
        }
        out.lines.push(RegisterLine {
            number,
            student: String::new(),
            year,
            entered_on: entry.to_string(),
            class_name: line.entered_class.clone(),
            struck: (!struck.is_empty()).then(|| Strike {
                reason: struck,
                on: today.to_string(),
                reimport: false,
            }),
            frozen: Some(line),
            reentry: None,
            imported: Some(today.to_string()),
            replaced,
        });
    }
    // One person already in the register: the earlier entry's line says the departure.
    for (person, lines) in &people {
        for held in held.get(person).into_iter().flatten() {
            // The same number is the same line, refused as a number already held.
            for (at, line) in lines.iter().filter(|(_, l)| l.number != held.number) {
                if let Some(message) = rules::against_held(line, held) {
                    out.problems.push(RowProblem {
                        row: *at,
                        field: "ho_ten".into(),
                        message,
                    });
                }
            }
        }
    }
    // One person twice in the book: the earlier entry's line says the departure.
    for lines in people.values_mut().filter(|l| l.len() > 1) {
        lines.sort_by_key(|(_, l)| super::parse_date(&l.entered_on));
        for pair in lines.windows(2) {
            if let Some(message) = rules::second_line(&pair[0].1, &pair[1].1) {
                out.problems.push(RowProblem {
                    row: pair[1].0,
                    field: "ho_ten".into(),
                    message,
                });
            }
        }
    }
    out.problems.sort_by_key(|p| p.row);
    if out.lines.is_empty() && out.problems.is_empty() {
        out.problems.push(super::import::file_problem(
            "Tệp không có dòng sổ đăng bộ nào.".into(),
        ));
    }
    if let Some(top) = out.lines.iter().map(|l| l.number).max() {
        out.next = out.next.max(top + 1);
    }
    Ok(out)
}

/// Writes the lines of a clean [`plan_import`], all or none: each frozen as read (a paper
/// line names no student of the box), under its own number, and raises the next number past
/// them. Planned again by the caller in the same transaction.
pub fn import_lines(tx: &mut Tx<'_>, plan: &RegisterImport) -> Result<usize, StoreError> {
    for line in &plan.lines {
        tx.put(&REGISTER, &key(line.number), line, "register.import")?;
    }
    let now = tx.get(&REGISTER_NEXT, "next")?.unwrap_or(1);
    if plan.next > now {
        tx.put(&REGISTER_NEXT, "next", &plan.next, "register.import")?;
    }
    Ok(plan.lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::school::{self, INFO, NewClass, SchoolInfo};
    use crate::store::{Actor, Store};

    fn info(year: &str) -> SchoolInfo {
        SchoolInfo {
            name: "THCS Thử".into(),
            code: "79000701".into(),
            level: "THCS".into(),
            authority: "Sở GD&ĐT".into(),
            current_year: year.into(),
            locality: String::new(),
        }
    }

    fn student(ma: &str) -> Student {
        Student {
            id: String::new(),
            full_name: "Nguyễn Văn An".into(),
            dob: "2014-09-05".into(),
            gender: "Nam".into(),
            ma_dinh_danh: ma.into(),
            class_id: "2026-6a1".into(),
            arrived: None,
            left: None,
        }
    }

    /// Numbers are given once and never again (a struck line keeps its number); once the
    /// school moved to the next year, last year's lines are refused with the reason, and
    /// nothing changes.
    #[test]
    fn numbers_are_never_reused_and_a_closed_years_line_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = "2026-10-01T03:00:00Z".parse::<jiff::Timestamp>().unwrap();
        let actor = Actor::system(now);
        let (a, b) = s
            .write(&actor, |tx| -> Result<_, SchoolError> {
                tx.put(&INFO, "school", &info("2026-2027"), "school.create")?;
                let class = NewClass {
                    name: "6A1".into(),
                    grade: 6,
                    homeroom: None,
                };
                school::create_class(tx, "2026-2027", class)?;
                let a = school::add_student(tx, student("079214000001"))?;
                strike(tx, 1, "Nhập nhầm", AfterStrike::LeaveRoll)?;
                let b = school::add_student(tx, student("079214000002"))?;
                Ok((a, b))
            })
            .unwrap();
        let rx = s.read().unwrap();
        assert_eq!(line_of(&rx, &a.id).unwrap().unwrap().number, 1);
        assert_eq!(line_of(&rx, &b.id).unwrap().unwrap().number, 2);
        let lines = rows(&rx, "2026-2027").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].struck, "Nhập nhầm");
        drop(rx);

        s.write(&actor, |tx| {
            tx.put(&INFO, "school", &info("2027-2028"), "school.update")
        })
        .unwrap();
        let before = s.read().unwrap().get(&REGISTER, &key(2)).unwrap();
        let e = s
            .write(&actor, |tx| strike(tx, 2, "Nhầm", AfterStrike::NewLine))
            .unwrap_err();
        assert!(
            e.to_string().contains("năm học 2026-2027, đã khoá sổ"),
            "{e}"
        );
        let e = s
            .write(&actor, |tx| date_entry(tx, &b.id, "05/09/2026"))
            .unwrap_err();
        assert!(e.to_string().contains("đã khoá sổ"), "{e}");
        assert_eq!(s.read().unwrap().get(&REGISTER, &key(2)).unwrap(), before);
    }

    /// The register's own xlsx reads back (round trip): earlier years' lines come in frozen as
    /// read, under their paper numbers, the next number raised past them; a number already in
    /// the register, a bad date or a line of the current year refuses the file, each by row.
    #[test]
    fn earlier_lines_import_round_trip_and_refusals() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = "2026-10-01T03:00:00Z".parse::<jiff::Timestamp>().unwrap();
        let today = jiff::civil::date(2026, 10, 1);
        let actor = Actor::system(now);
        s.write(&actor, |tx| {
            tx.put(&INFO, "school", &info("2026-2027"), "school.create")
        })
        .unwrap();
        let paper = |n: u32, name: &str| {
            RegisterRow {
            number: n,
            full_name: name.into(),
            dob: "05/09/2008".into(),
            gender: "Nữ".into(),
            birthplace: "Tây Ninh".into(),
            ethnicity: "Kinh".into(),
            parents: "Cha: Lê Văn Cha".into(),
            entered_on: "05/09/2019".into(),
            entered_class: "6A".into(),
            left: String::new(),
            results: vec![
                GradeResult {
                    grade: 6,
                    year: "2019-2020".into(),
                    result: "Được lên lớp".into(),
                },
                GradeResult {
                    grade: 7,
                    year: "2020-2021".into(),
                    result: "Ở lại lớp".into(),
                },
                GradeResult {
                    grade: 7,
                    year: "2021-2022".into(),
                    result: "Được lên lớp".into(),
                },
                GradeResult {
                    grade: 8,
                    year: "2022-2023".into(),
                    result: "Được lên lớp".into(),
                },
                GradeResult {
                    grade: 9,
                    year: "2023-2024".into(),
                    result: "Hoàn thành chương trình trung học cơ sở".into(),
                },
            ],
            graduation: "Được công nhận tốt nghiệp THCS năm học 2023-2024 (Quyết định số 12/QĐ-PGDĐT, ngày 20/06/2024)".into(),
            note: "Sổ cũ trang 12".into(),
            ..RegisterRow::default()
        }
        };
        let mut struck = paper(7, "Nhập Nhầm");
        struck.struck = "Trùng dòng 5".into();
        struck.results.clear();
        struck.graduation.clear();
        struck.note.clear();
        let grades = [6, 7, 8, 9];
        let file = xlsx(
            &[paper(5, "Lê Thị Cũ"), struck.clone()],
            "THCS Thử",
            "2019-2020",
            &grades,
        )
        .unwrap();
        let plan = plan_import(&s.read().unwrap(), &file, today).unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        assert_eq!(plan.next, 8);
        s.write(&actor, |tx| import_lines(tx, &plan)).unwrap();
        let back = rows(&s.read().unwrap(), "2019-2020").unwrap();
        assert_eq!(back, vec![paper(5, "Lê Thị Cũ"), struck]);
        // The next student gets 8; the same file again clashes on both numbers.
        assert_eq!(
            s.read().unwrap().get(&REGISTER_NEXT, "next").unwrap(),
            Some(8)
        );
        let again = plan_import(&s.read().unwrap(), &file, today).unwrap();
        let rows_refused: Vec<usize> = again.problems.iter().map(|p| p.row).collect();
        assert_eq!(rows_refused, vec![4, 5], "{:?}", again.problems);
        assert!(
            again.problems[0]
                .message
                .contains("Số đăng bộ 5 đã có trong sổ")
        );

        // A line of the current year, a date that does not exist, a number twice.
        let mut bad = paper(20, "Sai Ngày");
        bad.dob = "31/02/2008".into();
        let file = xlsx(
            &[paper(21, "Năm Nay"), bad, paper(21, "Trùng Số")],
            "THCS Thử",
            "2026-2027",
            &grades,
        )
        .unwrap();
        let plan = plan_import(&s.read().unwrap(), &file, today).unwrap();
        let msgs: Vec<String> = plan
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.row, p.message))
            .collect();
        assert!(
            msgs.iter().any(
                |m| m.starts_with("5: Ngày sinh \"31/02/2008\" không phải là một ngày có thật")
            ),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("6: Số đăng bộ 21 trùng với dòng 4")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("4: Dòng thuộc năm học 2026-2027")),
            "{msgs:?}"
        );
    }

    /// Review r14 #3: a paper line that cannot be true is refused by row with the reason — an
    /// entry outside the book's year, an age the grade does not take, a result of a future
    /// year, before the entry, out of the grades' order or not in the học bạ's words, a
    /// graduation of a year not ended — and nothing is imported; an imported line found wrong
    /// later is struck with a reason (a past year's) and imported again under its number, the
    /// struck row kept before it.
    #[test]
    fn impossible_paper_lines_are_refused_and_a_wrong_import_is_corrected() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = "2026-10-01T03:00:00Z".parse::<jiff::Timestamp>().unwrap();
        let today = jiff::civil::date(2026, 10, 1);
        let actor = Actor::system(now);
        s.write(&actor, |tx| {
            tx.put(&INFO, "school", &info("2026-2027"), "school.create")
        })
        .unwrap();
        let good = |n: u32| RegisterRow {
            number: n,
            full_name: format!("Học Sinh {n}"),
            dob: "10/03/2006".into(),
            gender: "Nam".into(),
            entered_on: "05/09/2017".into(),
            entered_class: "6A1".into(),
            results: vec![
                GradeResult {
                    grade: 6,
                    year: "2017-2018".into(),
                    result: "Được lên lớp".into(),
                },
                GradeResult {
                    grade: 7,
                    year: "2018-2019".into(),
                    result: "Được lên lớp sau khi rèn luyện trong kì nghỉ hè".into(),
                },
            ],
            ..RegisterRow::default()
        };
        let mut late = good(9201);
        late.entered_on = "05/09/2026".into();
        let mut baby = good(9203);
        baby.dob = "23/10/2014".into();
        let mut future = good(9204);
        future.results[0].year = "2030-2031".into();
        let mut order = good(9205);
        order.results[1].year = "2017-2018".into();
        let mut words = good(9206);
        words.results[1] = GradeResult {
            grade: 7,
            year: "2018-2019".into(),
            result: "Lên lớp tốt".into(),
        };
        let mut noyear = good(9207);
        noyear.results[1].year = String::new();
        let mut grad = good(9208);
        grad.graduation =
            "Được công nhận tốt nghiệp THCS năm học 2027-2028 (QĐ 1, ngày 01/06/2028)".into();
        let grades = [6, 7, 8, 9];
        let file = xlsx(
            &[good(9200), late, baby, future, order, words, noyear, grad],
            "THCS Thử",
            "2017-2018",
            &grades,
        )
        .unwrap();
        let plan = plan_import(&s.read().unwrap(), &file, today).unwrap();
        let msgs: Vec<String> = plan
            .problems
            .iter()
            .map(|p| format!("{} {}: {}", p.row, p.field, p.message))
            .collect();
        let has = |row: usize, field: &str, text: &str| {
            assert!(
                msgs.iter()
                    .any(|m| m.starts_with(&format!("{row} {field}:")) && m.contains(text)),
                "row {row} {field} «{text}» not in {msgs:#?}"
            )
        };
        has(5, "ngay_vao", "không thuộc năm học 2017-2018");
        has(6, "ngay_sinh", "3 tuổi vào năm học 2017-2018");
        has(7, "kq6", "năm học 2030-2031 chưa kết thúc");
        has(8, "kq7", "năm học này đã có kết quả lớp 6");
        has(
            9,
            "kq7",
            "không phải lời ghi của học bạ; ghi một trong: Được lên lớp; Ở lại lớp",
        );
        has(10, "kq7", "ghi năm học trước kết quả");
        has(
            11,
            "tot_nghiep",
            "năm học 2027-2028: phải là một năm học đã qua",
        );
        assert!(!msgs.iter().any(|m| m.starts_with("4 ")), "{msgs:#?}");
        assert_eq!(plan.problems.len(), 7, "{msgs:#?}");

        // The good line in, then found wrong: struck (a past year's imported line), imported
        // again as it should read; a box line of a past year still cannot be struck.
        let file = xlsx(&[good(9200)], "THCS Thử", "2017-2018", &grades).unwrap();
        let plan = plan_import(&s.read().unwrap(), &file, today).unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        s.write(&actor, |tx| import_lines(tx, &plan)).unwrap();
        let e = s
            .write(&actor, |tx| strike(tx, 9200, " ", AfterStrike::LeaveRoll))
            .unwrap_err();
        assert!(e.to_string().contains("lý do"), "{e}");
        s.write(&actor, |tx| {
            strike(tx, 9200, "Nhập sai năm sinh", AfterStrike::LeaveRoll)
        })
        .unwrap();
        let mut fixed = good(9200);
        fixed.dob = "10/03/2005".into();
        let file = xlsx(&[fixed.clone()], "THCS Thử", "2017-2018", &grades).unwrap();
        let plan = plan_import(&s.read().unwrap(), &file, today).unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        s.write(&actor, |tx| import_lines(tx, &plan)).unwrap();
        let back = rows(&s.read().unwrap(), "2017-2018").unwrap();
        assert_eq!(back.len(), 2, "{back:#?}");
        assert_eq!(back[0].struck, "Nhập sai năm sinh");
        assert_eq!(back[0].dob, "10/03/2006");
        assert_eq!(back[1], fixed);
        // The corrected line is not struck: the same file again clashes.
        let plan = plan_import(&s.read().unwrap(), &file, today).unwrap();
        assert_eq!(plan.problems.len(), 1, "{:?}", plan.problems);
    }
}
