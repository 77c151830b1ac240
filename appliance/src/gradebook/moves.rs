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
    // naming the old class while the student's records sit in the new one (review r8 #6).
    for class_id in [from.as_str(), to_class] {
        let class =
            super::class_of(tx, class_id).map_err(|_| SchoolError::NoSuchClass(class_id.into()))?;
        if super::is_class_locked(tx, &class, super::TermId::Hk2)? {
            return Err(SchoolError::Invalid(format!(
                "Lớp {} đã khoá sổ cả năm (học bạ ký theo lớp này): không chuyển lớp được. Ban giám hiệu mở khoá sổ học kì II của lớp trước.",
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
