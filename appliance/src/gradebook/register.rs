//! The sổ đăng bộ as shown, printed and exported: `rows` completes the school's lines
//! (`school::register`) with each year's result and the graduation, from the gradebook's
//! records — nothing is copied into the line; `register_pdf` prints a school year of it as the
//! paper book is, a wide book (A3 landscape): the state header, the title, and one table row per
//! line in the book's columns (`school::register::headers`: identity, family, entry, transfers,
//! "Kết quả lớp N" for each grade the school teaches, Tốt nghiệp, Ghi chú), the header row
//! repeated on every page, "Trang k/N" at every page's foot. A struck line is printed, never
//! left out, with the reason in its note. The last page carries the book's certification as
//! on paper: "Sổ này có … trang, đánh số từ 1 đến …" with the count filled in (laid out twice:
//! the count is known once the table is laid out).

use std::collections::{BTreeMap, HashMap};

use super::graduation::{self, GRADUATIONS, Graduation};
use super::pdf::{Layout, PdfError};
use super::{RESULTS, StoredResult};
use crate::school::SchoolInfo;
use crate::school::register::{self as reg, GradeResult, RegisterLine, RegisterRow};
use crate::store::{Read, StoreError};

/// The register lines of the students who entered in `year`, by number, each with the
/// year-end result of every year its student studied here under it and the graduation:
/// - a line brought in from the paper book (`imported`) is printed as it was read;
/// - a struck line has no results (its number belongs to nobody);
/// - any other line covers the years from its own to the next line of the same student
///   (a student who left and came back has a new line from the year of return), the last one
///   every year since; each year's stored result "CN" in the học bạ's words
///   (`forms::stored_decision_wording`), in the column of the grade it was in;
/// - graduation: grade 5 completed (primary: "Hoàn thành chương trình tiểu học"), or the
///   recognition of THCS/THPT the school recorded (`graduation`).
pub fn rows(r: &impl Read, year: &str) -> Result<Vec<RegisterRow>, StoreError> {
    let all = reg::all_lines(r)?;
    // Each student's valid lines, by number: a line's years end where the next begins.
    let mut of_student: HashMap<&str, Vec<&RegisterLine>> = HashMap::new();
    for l in &all {
        if l.struck.is_none() && l.imported.is_none() && !l.student.is_empty() {
            of_student.entry(&l.student).or_default().push(l);
        }
    }
    let wanted: Vec<&RegisterLine> = all.iter().filter(|l| l.year == year).collect();
    // Year-end results and recognitions of the students of these lines only.
    let mut results: HashMap<String, Vec<(String, StoredResult)>> = HashMap::new();
    let mut graduations: HashMap<String, Vec<Graduation>> = HashMap::new();
    let students: std::collections::HashSet<&str> = wanted
        .iter()
        .filter(|l| l.struck.is_none() && l.imported.is_none())
        .map(|l| l.student.as_str())
        .collect();
    if !students.is_empty() {
        r.scan_each(&RESULTS, "", &mut |k, res: StoredResult| {
            if let Some((y, rest)) = k.split_once('/')
                && let Some(student) = rest.strip_prefix("cn/")
                && students.contains(student)
            {
                results
                    .entry(student.to_string())
                    .or_default()
                    .push((y.to_string(), res));
            }
            Ok(())
        })?;
        r.scan_each(&GRADUATIONS, "", &mut |_, g: Graduation| {
            if students.contains(g.student.as_str()) {
                graduations.entry(g.student.clone()).or_default().push(g);
            }
            Ok(())
        })?;
    }
    // A year's result stands in the register only while the year's lock holds for its class:
    // a year BGH reopened is no result yet (review r24 #2: a reopened year's results stayed
    // printed as final).
    let mut standing: HashMap<String, bool> = HashMap::new();
    let mut holds = |class: &str| -> Result<bool, StoreError> {
        if let Some(h) = standing.get(class) {
            return Ok(*h);
        }
        let h = match r.get(&crate::school::CLASSES, class)? {
            Some(c) => super::class_term_lock(r, &c, super::TermId::Hk2)?.is_some_and(|l| l.locked),
            // A class no longer on the box (an older result): as stored.
            None => true,
        };
        standing.insert(class.to_string(), h);
        Ok(h)
    };
    // Nor a result still marked `dangmolai` under a lock made again: the year's result of a
    // pupil who left during the reopened term (review r26 #3), not hers to print.
    let mut void: std::collections::HashSet<(String, String)> = Default::default();
    for (student, list) in results.iter_mut() {
        let mut kept = Vec::with_capacity(list.len());
        for (y, res) in list.drain(..) {
            if res.dangmolai {
                void.insert((student.clone(), y));
            } else if holds(&res.malop)? {
                kept.push((y, res));
            }
        }
        *list = kept;
    }
    // The graduation recognised on a year's result stands with it: none of a reopened year
    // (review r25: "Được công nhận tốt nghiệp" still printed while the year was open), none on
    // a result no longer final.
    for list in graduations.values_mut() {
        let mut kept = Vec::with_capacity(list.len());
        for g in list.drain(..) {
            if holds(&g.class)? && !void.contains(&(g.student.clone(), g.year.clone())) {
                kept.push(g);
            }
        }
        *list = kept;
    }
    let mut out = Vec::with_capacity(wanted.len());
    for line in wanted {
        // An imported line struck and imported again: the struck rows first, as printed.
        out.extend(line.replaced.iter().cloned());
        let mut row = reg::row_of(r, line)?;
        if line.imported.is_some() || line.struck.is_some() {
            out.push(row);
            continue;
        }
        let until = of_student
            .get(line.student.as_str())
            .and_then(|ls| ls.iter().find(|l| l.number > line.number))
            .map(|l| l.year.as_str());
        let covers = |y: &str| y >= line.year.as_str() && until.is_none_or(|u| y < u);
        let mut mine: BTreeMap<&str, &StoredResult> = BTreeMap::new();
        for (y, res) in results.get(&line.student).into_iter().flatten() {
            if covers(y) {
                mine.insert(y, res);
            }
        }
        row.results = Vec::new();
        let mut graduated = Vec::new();
        for (y, res) in &mine {
            row.results.push(GradeResult {
                grade: res.makhoi,
                year: y.to_string(),
                result: super::forms::stored_decision_wording(r, res)?,
            });
            let primary_done =
                res.makhoi == 5 && matches!(res.ketqua.as_deref(), Some("HTXS" | "HTT" | "HT"));
            if primary_done {
                graduated.push(format!("Hoàn thành chương trình tiểu học năm học {y}"));
            }
        }
        for g in graduations.get(&line.student).into_iter().flatten() {
            if covers(&g.year) {
                graduated.push(graduation::wording(g));
            }
        }
        row.graduation = graduated.join("; ");
        out.push(row);
    }
    Ok(out)
}

/// A3 landscape, in points.
const A3_LANDSCAPE: (f32, f32) = (1190.55, 841.89);
/// The table's text size; smaller only when a school teaching many grades needs more columns.
const SIZE: f32 = 7.0;

pub fn register_pdf(
    school: &SchoolInfo,
    year: &str,
    rows: &[RegisterRow],
) -> Result<Vec<u8>, PdfError> {
    // The count's digits do not change the layout: a placeholder as wide as any real count.
    let pages = layout(school, year, rows, "…").page_count();
    let mut l = layout(school, year, rows, &pages.to_string());
    l.footer(8.0, |k, n| format!("Trang {k}/{n}"));
    l.finish()
}

/// The columns' widths at `SIZE` (the table scales them to the page, and the text size with
/// them when they are more than the page): a date cell holds "dd/mm/yyyy" whole.
fn widths(grades: usize) -> Vec<f32> {
    let date = 50.0;
    let mut w = vec![
        34.0, 76.0, date, 28.0, 60.0, 36.0, 80.0, 60.0, 70.0, 46.0, date, 30.0, 56.0, 70.0,
    ];
    w.extend(std::iter::repeat_n(62.0, grades));
    w.push(76.0); // Tốt nghiệp
    w.push(56.0); // Ghi chú
    w
}

fn layout(school: &SchoolInfo, year: &str, rows: &[RegisterRow], pages: &str) -> Layout {
    let mut l = Layout::sized(A3_LANDSCAPE.0, A3_LANDSCAPE.1);
    l.state_header(
        &[
            (school.authority.to_uppercase().as_str(), false),
            (school.name.to_uppercase().as_str(), true),
        ],
        &[
            ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", true),
            ("Độc lập - Tự do - Hạnh phúc", true),
        ],
    );
    l.gap(8.0);
    l.centred(18.0, true, "SỔ ĐĂNG BỘ");
    l.centred(12.0, false, &format!("Năm học {year}"));
    l.gap(8.0);
    let grades = school.grades();
    let mut widths = widths(grades.len());
    // Wider than the page (a school of many grades): everything smaller, dates still whole.
    let room = l.width - 2.0 * l.margin;
    let total: f32 = widths.iter().sum();
    let shrink = (room / total).min(1.0);
    widths.iter_mut().for_each(|w| *w *= shrink);
    let size = SIZE * shrink;
    let header = reg::headers(&grades);
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.number.to_string()];
            cells.extend(r.cells(&grades));
            cells
        })
        .collect();
    l.table_with(&widths, &header, &body, size, Some(size * 0.95));
    if rows.is_empty() {
        l.gap(6.0);
        l.line(9.0, false, "Năm học này chưa có học sinh nào vào trường.");
    }
    // The certification and the principal's signature stay together on the last page.
    l.gap(8.0);
    l.ensure(130.0);
    l.line(
        10.0,
        false,
        &format!("Sổ này có {pages} trang, đánh số từ 1 đến {pages}."),
    );
    l.line(10.0, false, "…………, ngày …… tháng …… năm ……");
    l.signatures(&[""], &["HIỆU TRƯỞNG", "(Kí, ghi rõ họ tên và đóng dấu)"]);
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradebook::graduation::{GraduationList, record};
    use crate::gradebook::rules::RuleVersion;
    use crate::gradebook::{GradeError, LOCKS, TermLock};
    use crate::school::{self, INFO, NewClass, SchoolInfo, Student};
    use crate::store::{Actor, Store, Tx};

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

    fn result(grade: u8, class: &str, student: &str, ketqua: &str, summer: bool) -> StoredResult {
        StoredResult {
            rule_version: RuleVersion::Tt22V1,
            matruong: "79000701".into(),
            makhoi: grade,
            malop: class.into(),
            mahocsinh: student.into(),
            sodinhdanh: String::new(),
            hocky: "CN".into(),
            diemmon: Default::default(),
            mahocluc: None,
            mahanhkiem: None,
            songaynghi: 0,
            danhhieu: None,
            ketqua: Some(ketqua.into()),
            colenlop: None,
            corenluyenlai: Some(summer),
            nhanxet: String::new(),
            phienban: 1,
            dangmolai: false,
        }
    }

    fn lock(tx: &mut Tx<'_>, year: &str) -> Result<(), GradeError> {
        let l = TermLock {
            locked: true,
            rule_version: RuleVersion::Tt22V1,
            by: "hieutruong".into(),
            at: tx.now(),
            reason: None,
            homerooms: Default::default(),
        };
        tx.put(&LOCKS, &format!("{year}/hk2"), &l, "t")?;
        Ok(())
    }

    /// Each year's stored result is printed in its grade's column in the học bạ's words, the
    /// summer included; THCS graduation is what the school recorded after grade 9's year is
    /// locked, and a student who did not complete grade 9 is refused, named.
    #[test]
    fn results_by_grade_and_recognised_graduation() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = "2029-06-20T03:00:00Z".parse::<jiff::Timestamp>().unwrap();
        let actor = Actor::system(now);
        let (a, b) = s
            .write(&actor, |tx| -> Result<_, school::SchoolError> {
                tx.put(&INFO, "school", &info("2028-2029"), "school.create")?;
                for (year, name, grade) in [("2027-2028", "8A", 8), ("2028-2029", "9A", 9)] {
                    let c = NewClass {
                        name: name.into(),
                        grade,
                        homeroom: None,
                    };
                    school::create_class(tx, year, c)?;
                }
                let class = school::list(tx, &school::CLASSES)?
                    .into_iter()
                    .find(|c| c.name == "9A")
                    .unwrap()
                    .id;
                let mut add = |ma: &str, name: &str| {
                    school::add_student(
                        tx,
                        Student {
                            id: String::new(),
                            full_name: name.into(),
                            dob: "2014-09-05".into(),
                            gender: "Nam".into(),
                            ma_dinh_danh: ma.into(),
                            class_id: class.clone(),
                            arrived: None,
                            left: None,
                        },
                    )
                };
                let (a, b) = (
                    add("079214000001", "Nguyễn Văn An")?,
                    add("079214000002", "Trần Văn Bình")?,
                );
                // Last year in 8A (summer conduct, then promoted); this year 9A.
                let results = [
                    (&a, "2027-2028", 8, "2027-8a", "promoted", true),
                    (&a, "2028-2029", 9, &class as &str, "promoted", false),
                    (&b, "2028-2029", 9, &class as &str, "retained", false),
                ];
                for (st, y, g, c, k, summer) in results {
                    let key = format!("{y}/cn/{}", st.id);
                    tx.put(&RESULTS, &key, &result(g, c, &st.id, k, summer), "t")?;
                }
                Ok((a, b))
            })
            .unwrap();
        // Both years locked: their results stand.
        s.write(&actor, |tx| {
            lock(tx, "2027-2028")?;
            lock(tx, "2028-2029")
        })
        .unwrap();
        // The lines entered in 2028-2029 (both students' lines: they were added this year)
        // cover this year only: last year's result is before the line.
        let lines = rows(&s.read().unwrap(), "2028-2029").unwrap();
        let la = lines.iter().find(|l| l.student == a.id).unwrap();
        assert_eq!(
            la.results,
            vec![GradeResult {
                grade: 9,
                year: "2028-2029".into(),
                result: "Hoàn thành chương trình trung học cơ sở".into()
            }]
        );
        assert_eq!(
            la.result_text(9),
            "2028-2029: Hoàn thành chương trình trung học cơ sở"
        );
        let lb = lines.iter().find(|l| l.student == b.id).unwrap();
        assert_eq!(lb.result_text(9), "2028-2029: Ở lại lớp");
        assert_eq!(la.graduation, "");

        // Before the year is locked, nobody can be recognised.
        let list = |students: Vec<String>| GraduationList {
            decision: "Quyết định số 45/QĐ-PGDĐT".into(),
            decided_on: "20/06/2029".into(),
            students,
        };
        // The year reopened: no result of it is printed (review r24 #2), and no graduation
        // is recorded.
        s.write(&actor, |tx| {
            tx.delete(&LOCKS, "2028-2029/hk2", "t")?;
            Ok::<_, GradeError>(())
        })
        .unwrap();
        let reopened = rows(&s.read().unwrap(), "2028-2029").unwrap();
        assert!(
            reopened.iter().all(|l| l.results.is_empty()),
            "{reopened:?}"
        );
        let e = s
            .write(&actor, |tx| {
                record(tx, "2028-2029", list(vec![a.id.clone()]))
            })
            .unwrap_err();
        assert!(e.to_string().contains("chưa khoá sổ"), "{e}");
        s.write(&actor, |tx| lock(tx, "2028-2029")).unwrap();
        // A retained student refuses the whole list, named; nothing is recorded.
        let e = s
            .write(&actor, |tx| {
                record(tx, "2028-2029", list(vec![a.id.clone(), b.id.clone()]))
            })
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("Trần Văn Bình: kết quả cả năm chưa hoàn thành chương trình (Ở lại lớp)"),
            "{e}"
        );
        assert!(
            graduation::of_year(&s.read().unwrap(), "2028-2029")
                .unwrap()
                .is_empty()
        );
        let n = s
            .write(&actor, |tx| {
                record(tx, "2028-2029", list(vec![a.id.clone()]))
            })
            .unwrap();
        assert_eq!(n, 1);
        let lines = rows(&s.read().unwrap(), "2028-2029").unwrap();
        let la = lines.iter().find(|l| l.student == a.id).unwrap();
        assert_eq!(
            la.graduation,
            "Được công nhận tốt nghiệp THCS năm học 2028-2029 (Quyết định số 45/QĐ-PGDĐT, ngày 20/06/2029)"
        );
        // The list is replaced as a whole: an empty one clears it.
        s.write(&actor, |tx| record(tx, "2028-2029", list(vec![])))
            .unwrap();
        assert!(
            graduation::of_year(&s.read().unwrap(), "2028-2029")
                .unwrap()
                .is_empty()
        );

        // A line of an earlier year covers every year since: An's line dated into 2027-2028
        // shows grade 8 after the summer, then grade 9.
        s.write(&actor, |tx| -> Result<(), StoreError> {
            let mut line = reg::line_of(tx, &a.id)?.unwrap();
            line.year = "2027-2028".into();
            tx.put(&reg::REGISTER, &format!("{:06}", line.number), &line, "t")
        })
        .unwrap();
        let lines = rows(&s.read().unwrap(), "2027-2028").unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0].result_text(8),
            "2027-2028: Được lên lớp sau khi rèn luyện trong kì nghỉ hè"
        );
        assert_eq!(
            lines[0].result_text(9),
            "2028-2029: Hoàn thành chương trình trung học cơ sở"
        );
        // Printed: one PDF, its year cells whole.
        let pdf = register_pdf(&info("2028-2029"), "2027-2028", &lines).unwrap();
        assert!(pdf.starts_with(b"%PDF"));
    }
}
