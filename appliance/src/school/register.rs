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
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AfterStrike {
    /// The line was opened for someone who is not a pupil here (a wrong file, a duplicate):
    /// the student leaves the roll — no class list or grid shows them — and their records stay.
    #[default]
    LeaveRoll,
    /// The pupil is real and the line was wrong: a new line opens under the next number.
    NewLine,
}

/// Strikes a line opened by mistake (the line stays, with the reason, frozen as it read then).
/// A line of a closed year is the paper record of that year and is refused. When the line was
/// the student's current one, the student either leaves the roll or gets a new line (`after`):
/// a pupil left on the roll with no valid line would be taught without a number (review r8 #7).
pub fn strike(
    tx: &mut Tx<'_>,
    number: u32,
    reason: &str,
    after: AfterStrike,
) -> Result<RegisterLine, SchoolError> {
    let mut line = tx
        .get(&REGISTER, &key(number))?
        .ok_or_else(|| SchoolError::Invalid(format!("Sổ đăng bộ không có dòng số {number}.")))?;
    if closed(tx, &line.year)? {
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
        match after {
            AfterStrike::NewLine => {
                let again = RegisterLine {
                    struck: None,
                    frozen: None,
                    reentry: None,
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
    /// Tốt nghiệp (not recorded yet: printed blank to be filled by hand).
    pub graduation: String,
    /// Gạch bỏ: the reason.
    pub struck: String,
}

/// The lines of the students who entered in `year`, by number.
pub fn rows(rx: &impl Read, year: &str) -> Result<Vec<RegisterRow>, StoreError> {
    let mut lines = Vec::new();
    rx.scan_each(&REGISTER, "", &mut |_, line: RegisterLine| {
        if line.year == year {
            lines.push(line);
        }
        Ok(())
    })?;
    lines.iter().map(|l| row_of(rx, l)).collect()
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
        graduation: String::new(),
        struck,
    })
}

/// The register of a year as a spreadsheet (one row per line, struck lines marked).
pub fn xlsx(rows: &[RegisterRow], school: &str, year: &str) -> Result<Vec<u8>, SchoolError> {
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
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, *h, &bold)
            .map_err(fail)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 3 + i as u32;
        ws.write_number(row, 0, f64::from(r.number)).map_err(fail)?;
        for (c, v) in r.cells().iter().enumerate() {
            ws.write_string(row, 1 + c as u16, v).map_err(fail)?;
        }
    }
    wb.save_to_buffer().map_err(fail)
}

/// The register's columns, in the order of the paper book.
pub const HEADERS: [&str; 16] = [
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
    "Tốt nghiệp",
    "Ghi chú",
];

impl RegisterRow {
    /// Every column after the number, as text.
    pub fn cells(&self) -> [String; 15] {
        [
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
            self.graduation.clone(),
            if self.struck.is_empty() {
                String::new()
            } else {
                format!("Gạch bỏ: {}", self.struck)
            },
        ]
    }
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
}
