//! Moving a student to another class of the same year (chuyển lớp): the score rows, term
//! records and summer records are keyed by class, so they move with the student in the same
//! transaction as the student record — nothing entered for them is lost or left behind in
//! the old class's book.

use super::{CORRECTIONS, CorrectionStatus, RECORDS, ROWS, SUMMER};
use crate::school::{self, SchoolError, Student};
use crate::store::{Collection, Tx};

/// Moves every record of `student` under `{from}/…/{student}` to `{to}/…/{student}`.
fn rekey<T: serde::Serialize + serde::de::DeserializeOwned>(
    tx: &mut Tx<'_>,
    c: &Collection<T>,
    from: &str,
    to: &str,
    student: &str,
) -> Result<usize, SchoolError> {
    let tail = format!("/{student}");
    let mine: Vec<(String, T)> = tx
        .scan(c, &format!("{from}/"))?
        .into_iter()
        .filter(|(k, _)| k.ends_with(&tail))
        .collect();
    for (k, v) in &mine {
        let new_key = format!("{to}/{}", &k[from.len() + 1..]);
        if tx.get(c, &new_key)?.is_some() {
            // Only a bug could leave a row here (rows follow the student); never overwrite one.
            return Err(SchoolError::Invalid(format!(
                "Lớp mới đã có dữ liệu điểm của học sinh này ({new_key}); chưa chuyển."
            )));
        }
        tx.put(c, &new_key, v, "student.move")?;
        tx.delete(c, k, "student.move")?;
    }
    Ok(mine.len())
}

/// Moves a student to another class of the same year, with their score rows and records.
/// Refused while a correction of theirs waits for a decision (it names the old class), and
/// while either class's year is locked.
pub fn move_student(tx: &mut Tx<'_>, id: &str, to_class: &str) -> Result<Student, SchoolError> {
    let (mut s, from) = school::changes::check_move(tx, id, to_class)?;
    let waiting = tx
        .scan(&CORRECTIONS, "")?
        .into_iter()
        .any(|(_, c)| c.student == id && c.status == CorrectionStatus::Pending);
    if waiting {
        return Err(SchoolError::Invalid(format!(
            "Học sinh {} còn đề nghị sửa điểm đang chờ duyệt; hãy duyệt xong rồi chuyển lớp.",
            s.full_name
        )));
    }
    // A locked year is what the học bạ are signed under: a move would leave a signed copy
    // naming the old class while the student's records sit in the new one (review r8 #6); a
    // locked term I is a locked class book all the same.
    for class_id in [from.as_str(), to_class] {
        let class =
            super::class_of(tx, class_id).map_err(|_| SchoolError::NoSuchClass(class_id.into()))?;
        if super::is_class_locked(tx, &class, super::TermId::Hk2)? {
            return Err(SchoolError::Invalid(format!(
                "Lớp {} đã khoá sổ cả năm (học bạ ký theo lớp này): không chuyển lớp được. Ban giám hiệu mở khoá sổ học kì II của lớp trước.",
                class.name
            )));
        }
        // Term I locked alone: the move would carry her term I scores into the other class's
        // locked book and out of this one's — a locked term's roll changed either way.
        if super::is_class_locked(tx, &class, super::TermId::Hk1)? {
            return Err(SchoolError::Invalid(format!(
                "Lớp {} đã khoá sổ học kì I: chuyển lớp sẽ mang điểm học kì I của học sinh sang sổ của lớp khác, làm đổi sổ đã khoá của cả hai lớp. Ban giám hiệu mở khoá sổ học kì I của lớp này (và lớp kia nếu đã khoá) trước, chuyển lớp rồi khoá lại.",
                class.name
            )));
        }
    }
    rekey(tx, &ROWS, &from, to_class, id)?;
    rekey(tx, &RECORDS, &from, to_class, id)?;
    rekey(tx, &SUMMER, &from, to_class, id)?;
    s.class_id = to_class.to_string();
    school::save_student(tx, s.clone(), "student.move")?;
    Ok(s)
}

/// Where a roll change comes from: it decides what the refusal tells the user to do instead.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    /// A change the user dated (transfer in or out, withdrawal, re-enrolment, a new student):
    /// a date after the locked terms is a way out.
    Dated,
    /// A register strike: it takes no date, a struck line counts from the line's entry.
    Strike,
    /// A student list (Excel): it has no date column, a new student enters on the first day of
    /// the year.
    Sheet,
}

/// [`guard_roll_from`] for a change the user dated.
pub fn guard_roll<R>(
    tx: &mut Tx<'_>,
    change: impl FnOnce(&mut Tx<'_>) -> Result<R, SchoolError>,
) -> Result<R, SchoolError> {
    guard_roll_from(tx, Source::Dated, change)
}

/// Runs `change` — anything that may change who is on a class's roll: a transfer out, a
/// withdrawal, a register strike, a re-enrolment, a new student, a sheet import — and refuses
/// it (so the transaction writes nothing) when it changes the roll of a term locked for the
/// class. A locked term is what the học bạ are signed under and its results are stored: the
/// roll drops a student who left, so a departure dated inside a locked term would silently
/// change the locked class book (issue 22). The roll of a term changes when a student leaves or
/// enters on or before its last day; a departure after the locked terms (a transfer in the
/// summer after the year was locked) changes none and stays possible — her signed học bạ of
/// the year stands. An entry after the last term (the summer) is on the roll of term II.
/// Every locked term the change touches is named in one message, with what to do instead in
/// the words of its `source`.
/// It also refuses a change of the register number a signed học bạ prints (`Số đăng bộ`: a
/// strike that gives the student a new line, or strikes her line) while that file stands —
/// her class's year still locked, or her own file signed when she left (review r13 #5).
/// Moves between classes are [`move_student`]'s (refused while either class's year is locked).
pub fn guard_roll_from<R>(
    tx: &mut Tx<'_>,
    source: Source,
    change: impl FnOnce(&mut Tx<'_>) -> Result<R, SchoolError>,
) -> Result<R, SchoolError> {
    let before: std::collections::HashMap<String, Student> =
        tx.scan(&school::STUDENTS, "")?.into_iter().collect();
    let numbers_before = printed_numbers(tx)?;
    let out = change(tx)?;
    for (id, after) in tx.scan(&school::STUDENTS, "")? {
        let was_on_roll = before.get(&id).filter(|s| s.left.is_none());
        match (was_on_roll, &after.left) {
            (Some(was), Some(left)) => {
                // A line struck as opened by mistake takes the student off every term she was
                // listed in, from her entry.
                let date = match left.kind {
                    school::DepartureKind::Struck => entry_date(tx, &after)?,
                    _ => left.date.clone(),
                };
                let source = match left.kind {
                    school::DepartureKind::Struck => Source::Strike,
                    _ => source,
                };
                check_roll_change(
                    tx,
                    &was.class_id,
                    &was.full_name,
                    &date,
                    Change::Leaves,
                    source,
                )?;
            }
            (None, None) => {
                let date = entry_date(tx, &after)?;
                check_roll_change(
                    tx,
                    &after.class_id,
                    &after.full_name,
                    &date,
                    Change::Enters,
                    source,
                )?;
            }
            _ => {}
        }
    }
    let numbers_after = printed_numbers(tx)?;
    for (id, number) in &numbers_before {
        if numbers_after.get(id) != Some(number)
            && let Some(st) = tx.get(&school::STUDENTS, id)?
        {
            check_printed_number(tx, &st, *number, numbers_after.get(id).copied())?;
        }
    }
    Ok(out)
}

/// Each student's register number as the học bạ prints it (`register::valid_line`): her
/// current line's, unless it is struck.
fn printed_numbers(tx: &Tx<'_>) -> Result<std::collections::HashMap<String, u32>, SchoolError> {
    let struck: std::collections::HashSet<u32> = tx
        .scan(&school::register::REGISTER, "")?
        .into_iter()
        .filter(|(_, l)| l.struck.is_some())
        .map(|(_, l)| l.number)
        .collect();
    Ok(tx
        .scan(&school::register::REGISTER_OF, "")?
        .into_iter()
        .filter(|(_, n)| !struck.contains(n))
        .collect())
}

/// Refuses the change of `st`'s printed register number (`was` → `now`) while a signed học bạ
/// of hers that prints it stands: one of her class signed under the year's lock that still
/// holds, or her own file signed when she left (the lock it stands on is her departure, which
/// no unlock reopens).
fn check_printed_number(
    tx: &Tx<'_>,
    st: &Student,
    was: u32,
    now: Option<u32>,
) -> Result<(), SchoolError> {
    let signed = tx.scan(
        &super::hocba::REGISTER,
        &format!("{}/{}/", st.class_id, st.id),
    )?;
    if signed.is_empty() {
        return Ok(());
    }
    let Ok(class) = super::class_of(tx, &st.class_id) else {
        return Ok(());
    };
    let year_locked = super::is_class_locked(tx, &class, super::TermId::Hk2)?;
    let change = match now {
        Some(n) => format!("số đăng bộ của em thành {n}"),
        None => "học bạ của em không còn số đăng bộ".to_string(),
    };
    if year_locked {
        return Err(SchoolError::Invalid(format!(
            "Học bạ năm học {} của học sinh {} (lớp {}) đã ký và in số đăng bộ {was}: việc này đổi {change}, học bạ đã ký sẽ ghi sai. Ban giám hiệu mở khoá sổ học kì II của lớp {} (có lí do) trước, rồi làm lại việc này, khoá sổ và ký lại học bạ (thành bản mới).",
            class.year, st.full_name, class.name, class.name
        )));
    }
    if st.left.is_some() {
        return Err(SchoolError::Invalid(format!(
            "Học bạ của học sinh {} đã ký khi em rời trường và in số đăng bộ {was}: việc này đổi {change}, hồ sơ đã ký sẽ ghi sai. Số đăng bộ trong học bạ đã ký không đổi được nữa.",
            st.full_name
        )));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Change {
    Leaves,
    Enters,
}

/// The day a student entered the roll she is on (ISO): her current register line's, else her
/// transfer in's, else today.
fn entry_date(tx: &Tx<'_>, s: &Student) -> Result<String, SchoolError> {
    if let Some(line) = school::register::line_of(tx, &s.id)? {
        return Ok(line.entered_on);
    }
    Ok(match &s.arrived {
        Some(a) => a.date.clone(),
        None => school::changes::today(tx).to_string(),
    })
}

/// The terms of the class's year whose roll a student leaving or entering on `date` changes:
/// those not ended before that day (a term without a readable last day counts), in order; for
/// an entry after the last term, term II. Refused when one of them is locked for the class;
/// the message names every locked one, so one unlock (of each) is enough (review r13 #7).
fn check_roll_change(
    tx: &Tx<'_>,
    class_id: &str,
    name: &str,
    date: &str,
    change: Change,
    source: Source,
) -> Result<(), SchoolError> {
    let Ok(class) = super::class_of(tx, class_id) else {
        return Ok(());
    };
    let day = date.parse::<jiff::civil::Date>().ok();
    let mut terms = tx
        .get(&school::YEARS, &class.year)?
        .map(|y| y.terms)
        .unwrap_or_default();
    terms.sort_by(|a, b| a.start.cmp(&b.start));
    let mut touched: Vec<(super::TermId, Option<jiff::civil::Date>)> = Vec::new();
    for (at, term) in super::TermId::BOTH.into_iter().enumerate() {
        let end = terms
            .get(at)
            .and_then(|t| t.end.parse::<jiff::civil::Date>().ok());
        let ended_before = matches!((end, day), (Some(end), Some(day)) if end < day);
        if !ended_before {
            touched.push((term, end));
        }
    }
    if touched.is_empty() && change == Change::Enters {
        touched.push((super::TermId::Hk2, None));
    }
    let mut locked = Vec::new();
    for (term, end) in touched {
        if super::is_class_locked(tx, &class, term)? {
            locked.push((term, end));
        }
    }
    if locked.is_empty() {
        return Ok(());
    }
    let term_name = |t: super::TermId| match t {
        super::TermId::Hk1 => "học kì I",
        super::TermId::Hk2 => "học kì II",
    };
    let names = locked
        .iter()
        .map(|(t, _)| term_name(*t))
        .collect::<Vec<_>>()
        .join(" và ");
    let with_ends = locked
        .iter()
        .map(|(t, end)| {
            let till = end
                .map(|e| format!(" (kết thúc ngày {})", e.strftime("%d/%m/%Y")))
                .unwrap_or_default();
            format!("{}{till}", term_name(*t))
        })
        .collect::<Vec<_>>()
        .join(" và ");
    let on = school::changes::vi_date(date);
    let what = match (change, source) {
        (Change::Leaves, Source::Strike) => format!(
            "gạch bỏ dòng số đăng bộ thì học sinh {name} ra khỏi danh sách lớp từ ngày vào lớp ({on}), nên danh sách lớp của {names}, kết quả đã lưu và học bạ ký theo đó sẽ bị thay đổi"
        ),
        (Change::Leaves, _) => format!(
            "học sinh {name} rời lớp ngày {on} thì danh sách lớp của {names}, kết quả đã lưu và học bạ ký theo đó sẽ bị thay đổi"
        ),
        (Change::Enters, Source::Sheet) => format!(
            "tệp danh sách không có cột ngày nên học sinh {name} vào lớp từ ngày đầu năm học ({on}), và danh sách lớp của {names} đã khoá sẽ bị thay đổi"
        ),
        (Change::Enters, _) => format!(
            "học sinh {name} vào lớp ngày {on} thì danh sách lớp của {names} đã khoá sẽ bị thay đổi"
        ),
    };
    let instead = match (change, source) {
        (Change::Leaves, Source::Dated) => {
            "Nếu học sinh rời trường sau khi học kì kết thúc, hãy ghi đúng ngày đó; nếu không, "
        }
        (Change::Leaves, _) => {
            "Gạch bỏ không ghi ngày: nếu học sinh đã rời trường sau khi học kì kết thúc, hãy ghi chuyển trường hoặc thôi học trên trang của học sinh với ngày rời trường thay vì gạch bỏ; nếu dòng này mở nhầm, "
        }
        (Change::Enters, Source::Sheet) => {
            "Nếu học sinh chuyển đến sau khi học kì kết thúc, hãy bỏ dòng này khỏi tệp và thêm học sinh trên trang Học sinh, ghi ngày chuyển đến; nếu không, "
        }
        (Change::Enters, _) => {
            "Nếu học sinh vào lớp sau khi học kì kết thúc, hãy ghi đúng ngày chuyển đến; nếu không, "
        }
    };
    Err(SchoolError::Invalid(format!(
        "Lớp {} đã khoá sổ {with_ends}: {what}. {instead}Ban giám hiệu mở khoá sổ {names} của lớp (có lí do) trước, rồi khoá sổ và ký học bạ lại.",
        class.name
    )))
}
