//! The rules of a line of the sổ đăng bộ: what the box's own register can hold, for a line
//! that does not come from its records — the paper book's lines brought in by
//! `register::plan_import` (reviews r14 #3, r16 #1) and any editor of a line to come. [`check`]
//! takes the line as read (a [`RegisterRow`], its dates as printed) with the book it belongs
//! to, and returns every problem by field, in Vietnamese; nothing here reads the store or the
//! clock.
//!
//! A line's history is the one the box writes for a student:
//! - the entry: a real date in the book's school year, into a class of the school's level
//!   ("6A1": the grade, then the class's own name) whose grade takes the student's age;
//! - one year-end result a school year, in the words the học bạ prints, of a year ended and not
//!   before the entry; the years follow each other with no gap (a student who leaves and comes
//!   back is on a new line); the first is the entry's year in the entry's grade (or, for an
//!   entry in June or July, after that year's teaching, the next year's); each next one is the
//!   next grade after a promotion, the same grade after "Ở lại lớp", either after an outcome
//!   still open;
//! - a departure ("Chuyển trường ngày …", "Thôi học ngày …") dated on or after the entry, not
//!   in the future, with no result or graduation of a later school year;
//! - a graduation of the school's level resting on its last grade's completed result of that
//!   year ("Hoàn thành chương trình tiểu học năm học …", which a completed grade 5 always
//!   prints, or "Được công nhận tốt nghiệp THCS năm học … (decision, ngày …)", its decision
//!   dated as the graduation page dates it: [`graduation_decided_on`]), no result of its level
//!   after it.

use jiff::civil::Date;

use super::register::{GradeResult, RegisterRow};

/// The book a line belongs to, and the school's.
pub struct Book<'a> {
    /// The line's school year ("2019-2020").
    pub year: &'a str,
    /// The school's level as it names it ("THCS", "TH&THCS"), for the messages.
    pub level: &'a str,
    /// The grades the school teaches (`SchoolInfo::grades`).
    pub grades: &'a [u8],
    /// The first calendar year of the current school year: results of it and later have not
    /// ended.
    pub current_first: i16,
    pub today: Date,
}

/// "2019-2020" (two consecutive years) → its first year.
pub fn school_year(s: &str) -> Option<i16> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (i16, i16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a >= 1900 && b == a + 1 && s.len() == 9).then_some(a)
}

fn year_name(first: i16) -> String {
    format!("{first}-{}", first + 1)
}

/// The day from which term II of a school year counts as over, as (month, day) of the year's
/// second calendar year: 31/05, the earliest usual end of the year's teaching (the ministry's
/// yearly plan ends term II by the end of May; a school may end later, never much earlier). One
/// bound for a past year, where the box holds no calendar of its own: a departure before it
/// leaves no result of that year, an entry after it carries none (the first result is the next
/// year's), a graduation decision of the year is dated on or after it.
pub const TERM_II_OVER: (i8, i8) = (5, 31);

/// [`TERM_II_OVER`] of the school year beginning in `first`.
pub fn term_two_over(first: i16) -> Date {
    jiff::civil::date(first + 1, TERM_II_OVER.0, TERM_II_OVER.1)
}

/// The school year a date falls in (from 1 August), by its first calendar year.
pub fn year_of(d: Date) -> i16 {
    if d.month() >= 8 {
        d.year()
    } else {
        d.year() - 1
    }
}

/// The grade a class name begins with ("6A1", "Lớp 10A2" → 6, 10), 1 to 12.
pub fn class_grade(name: &str) -> Option<u8> {
    let t = crate::text::fold(name);
    let t = t.strip_prefix("lop").unwrap_or(&t).trim_start();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|g| (1..=12).contains(g))
}

/// Whether a class name is one the box gives a class: its grade as written (no "Lớp" before
/// it, no 0 in front: review r18 #3), then the class's own name ("6A1", "6A", "6/1",
/// "6 Chuyên Anh") — a grade alone ("6") names no class — at most 16 characters
/// (`create_class`'s limit).
fn class_named(name: &str) -> bool {
    let t = name.trim();
    if t.starts_with('0') || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let rest = t.trim_start_matches(|c: char| c.is_ascii_digit());
    let mut chars = rest.chars();
    let own = match chars.next() {
        Some(c) if c.is_alphabetic() => true,
        Some(' ' | '/' | '.' | '-') => chars.next().is_some_and(char::is_alphanumeric),
        _ => false,
    };
    own && t.chars().count() <= 16
        && rest
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '/' | '.' | '-'))
}

/// "lớp 6 đến 9" for the grades a school teaches.
fn grades_text(grades: &[u8]) -> String {
    match (grades.first(), grades.last()) {
        (Some(a), Some(b)) if a != b => format!("lớp {a} đến {b}"),
        (Some(a), _) => format!("lớp {a}"),
        _ => "lớp 1 đến 12".into(),
    }
}

/// The words the box prints for a year-end result in `grade` (the học bạ's and the register's:
/// `gradebook::forms::decision_wording` / `stored_decision_wording`, which a gradebook test
/// checks against this list, and against [`next_after`]): what a "Kết quả lớp N" of the paper
/// book may say. The first is the promotion (the completion, for a level's last grade).
pub fn result_wordings(grade: u8) -> Vec<String> {
    if grade <= 5 {
        let done = if grade == 5 {
            "Hoàn thành chương trình tiểu học"
        } else {
            "Hoàn thành chương trình lớp học"
        };
        return vec![done.into(), "Chưa hoàn thành".into()];
    }
    let promoted = match grade {
        9 => "Hoàn thành chương trình trung học cơ sở",
        12 => "Hoàn thành chương trình trung học phổ thông",
        _ => "Được lên lớp",
    };
    let mut w = vec![
        promoted.to_string(),
        "Ở lại lớp".to_string(),
        format!(
            "Hiệu trưởng xem xét, quyết định (Điều 12 khoản 4 Thông tư 22): {} hoặc ở lại lớp",
            promoted.to_lowercase()
        ),
    ];
    for path in [
        "rèn luyện trong kì nghỉ hè",
        "kiểm tra, đánh giá lại",
        "rèn luyện trong kì nghỉ hè và kiểm tra, đánh giá lại",
    ] {
        w.push(format!("{promoted} sau khi {path}"));
        w.push(format!("Ở lại lớp sau khi {path}"));
        let mut end: String = path.chars().take(1).flat_map(char::to_uppercase).collect();
        end.push_str(&path[path.chars().next().map_or(0, char::len_utf8)..]);
        w.push(format!("{end}: chưa có kết quả"));
    }
    w
}

/// The grade a year-end result sends the student to the next year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Promoted (a level's last grade: completed): the next grade.
    Up,
    /// Kept back: the same grade again.
    Same,
    /// Not decided when printed (the principal's decision, a summer without its result yet,
    /// primary's "Chưa hoàn thành", on which the principal decides): either.
    Either,
}

/// What a result in [`result_wordings`] decides for the next year; None for other words.
pub fn next_after(grade: u8, result: &str) -> Option<Next> {
    let words = result_wordings(grade);
    if !words.iter().any(|w| w == result) {
        return None;
    }
    let promoted = &words[0];
    Some(
        if result == promoted || result.starts_with(&format!("{promoted} sau khi ")) {
            Next::Up
        } else if result.starts_with("Ở lại lớp") {
            Next::Same
        } else {
            Next::Either
        },
    )
}

/// The way a student left, as the register prints it (`Departure::describe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaving {
    TransferOut,
    Withdrawn,
}

/// A "Chuyển đi, thôi học" cell read: how and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Left {
    pub kind: Leaving,
    pub date: Date,
}

/// Reads a "Chuyển đi, thôi học" cell as the register prints it — "Chuyển trường ngày
/// 03/03/2020 (đến THCS Lê Lợi): lý do", "Thôi học ngày 03/03/2020: lý do" ("ngày" may be left
/// out) —: None when empty; else its kind and date, or why it cannot be read.
pub fn departure(text: &str) -> Result<Option<Left>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let form = || {
        format!(
            "Chuyển đi, thôi học \"{t}\": ghi như sổ in ra — \"Chuyển trường ngày 03/03/2020 (đến THCS Lê Lợi): lý do\" hoặc \"Thôi học ngày 03/03/2020: lý do\"."
        )
    };
    let starts = |p: &str| {
        t.get(..p.len())
            .is_some_and(|head| head.to_lowercase() == p.to_lowercase())
            .then(|| &t[p.len()..])
    };
    let (kind, rest) = if let Some(rest) = starts("Chuyển trường") {
        (Leaving::TransferOut, rest)
    } else if let Some(rest) = starts("Thôi học") {
        (Leaving::Withdrawn, rest)
    } else {
        return Err(form());
    };
    let rest = rest.trim_start();
    let rest = ["ngày", "Ngày"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest)
        .trim_start();
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '/' | '-' | '.'))
        .collect();
    let token = token.trim_end_matches(['.', '-', '/']);
    if token.is_empty() {
        return Err(form());
    }
    match super::parse_date(token) {
        Some(date) => Ok(Some(Left { kind, date })),
        None => Err(format!(
            "Chuyển đi, thôi học: ngày \"{token}\" không phải là một ngày có thật; hãy ghi ngày/tháng/năm, ví dụ 03/03/2020."
        )),
    }
}

/// The date of a decision recognising graduation in `year` (dd/mm/yyyy or ISO → ISO): a real
/// date, not in the future, inside the school year or after its end — never before it began
/// (review r14 #5). The graduation page adds its class's term II lock; a paper line of a past
/// year, with no lock to read, adds [`TERM_II_OVER`] (review r18 #3). The graduation page's rule (`gradebook::graduation::record`) and the
/// register import's, one function.
pub fn graduation_decided_on(year: &str, raw: &str, today: Date) -> Result<String, String> {
    let d = super::changes::change_date("Ngày quyết định", raw, today, None)
        .map_err(|e| e.to_string())?;
    if let Some(start) = super::changes::year_start(year)
        && d.as_str() < start.to_string().as_str()
    {
        return Err(format!(
            "Ngày quyết định {} trước năm học {year} (năm học bắt đầu {}): quyết định công nhận tốt nghiệp năm học {year} ghi ngày trong hoặc sau năm học đó.",
            super::changes::vi_date(&d),
            start.strftime("%d/%m/%Y")
        ));
    }
    Ok(d)
}

/// A date of the line as printed: a real one, from 1900, not after today.
fn read_date(label: &str, raw: &str, today: Date) -> Result<Date, String> {
    match super::parse_date(raw) {
        Some(d) if d.year() >= 1900 && d <= today => Ok(d),
        Some(d) => Err(format!(
            "{label} {} không hợp lý (trước năm 1900 hoặc ở tương lai).",
            d.strftime("%d/%m/%Y")
        )),
        None => Err(format!(
            "{label} \"{}\" không phải là một ngày có thật; hãy ghi ngày/tháng/năm, ví dụ 05/09/2015.",
            raw.trim()
        )),
    }
}

/// Every problem of `row` as a line of `book`, as (field, message): the fields are the
/// import's column keys (`ho_ten`, `ngay_sinh`, `ngay_vao`, `lop`, `di`, `kqN`, `tot_nghiep`).
/// Empty: the box's own register could hold the line.
pub fn check(row: &RegisterRow, book: &Book<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut bad = |field: &str, message: String| out.push((field.to_string(), message));
    if let Err(m) = super::check_name(&row.full_name) {
        bad("ho_ten", m);
    }
    if !matches!(row.gender.as_str(), "Nam" | "Nữ" | "") {
        bad(
            "gioi_tinh",
            format!(
                "Giới tính \"{}\": ghi Nam hoặc Nữ (hoặc để trống).",
                row.gender
            ),
        );
    }
    let dob = read_date("Ngày sinh", &row.dob, book.today)
        .map_err(|m| bad("ngay_sinh", m))
        .ok();
    let entry = read_date("Ngày vào trường", &row.entered_on, book.today)
        .map_err(|m| bad("ngay_vao", m))
        .ok();
    if let (Some(b), Some(e)) = (dob, entry)
        && b >= e
    {
        bad(
            "ngay_sinh",
            "Ngày sinh phải trước ngày vào trường.".to_string(),
        );
    }
    let class = row.entered_class.trim();
    let example = format!("{}A1", book.grades.first().copied().unwrap_or(6));
    let levels = grades_text(book.grades);
    let mut grade = None;
    if class.is_empty() || class.chars().count() > 30 {
        bad("lop", "Thiếu lớp vào trường (tối đa 30 kí tự).".into());
    } else {
        match class_grade(class) {
            None => bad(
                "lop",
                format!("Lớp \"{class}\": tên lớp phải bắt đầu bằng khối lớp (ví dụ {example})."),
            ),
            Some(g) if !book.grades.contains(&g) => bad(
                "lop",
                format!(
                    "Lớp \"{class}\": lớp {g} không thuộc cấp học của trường ({} — {levels}); ghi khối lớp rồi tên lớp, ví dụ {example}.",
                    book.level
                ),
            ),
            Some(g) if !class_named(class) => {
                grade = Some(g);
                let only_grade =
                    crate::text::fold(class).trim_start_matches("lop").trim() == g.to_string();
                // "Lớp 6A1", "06A1": the name as the box writes it.
                let folded = crate::text::fold(class);
                let bare = folded
                    .strip_prefix("lop")
                    .map(|_| class.chars().skip(3).collect::<String>())
                    .unwrap_or_else(|| class.to_string());
                let bare = bare.trim().trim_start_matches('0').to_string();
                let why = if only_grade {
                    format!("; \"{class}\" là khối {g}, không phải một lớp")
                } else if bare != class && class_named(&bare) {
                    format!("; ghi \"{bare}\" (không ghi chữ \"Lớp\", không có số 0 ở đầu)")
                } else {
                    String::new()
                };
                bad(
                    "lop",
                    format!(
                        "Lớp \"{class}\": ghi khối lớp rồi tên lớp như trường đặt, ví dụ {example} (tối đa 16 kí tự){why}."
                    ),
                )
            }
            Some(g) => grade = Some(g),
        }
    }
    let Some(first) = school_year(book.year) else {
        return out;
    };
    if let (Some(s), Some(e)) = (
        super::changes::year_start(book.year),
        super::changes::year_start(&year_name(first + 1)),
    ) && let Some(d) = entry
        && (d < s || d >= e)
    {
        bad(
            "ngay_vao",
            format!(
                "Ngày vào trường {} không thuộc năm học {} của sổ (từ 01/08/{} đến 31/07/{}).",
                d.strftime("%d/%m/%Y"),
                book.year,
                first,
                first + 1
            ),
        );
    }
    if let (Some(dob), Some(g)) = (dob, grade)
        && let Err(m) = super::changes::age_fits(&dob, book.year, g, class)
    {
        bad("ngay_sinh", m);
    }

    // The results of one grade's cell in year order (review r18 #3: "2020-2021 …; 2019-2020 …"
    // would print promoted, then kept back a year earlier).
    for pair in row.results.windows(2) {
        if let [a, b] = pair
            && a.grade == b.grade
            && let (Some(ya), Some(yb)) = (school_year(&a.year), school_year(&b.year))
            && yb < ya
        {
            bad(
                &format!("kq{}", b.grade),
                format!(
                    "Kết quả lớp {}: năm học {} ghi sau năm học {}; ghi theo thứ tự năm học, năm trước trước.",
                    b.grade, b.year, a.year
                ),
            );
        }
    }

    // Each result alone: its grade taught here, its year given, ended, not before the entry,
    // its words the học bạ's.
    let mut chain: Vec<(&GradeResult, i16, Next)> = Vec::new();
    let mut whole = true;
    for r in &row.results {
        let field = format!("kq{}", r.grade);
        let label = format!("Kết quả lớp {}", r.grade);
        if !book.grades.contains(&r.grade) {
            bad(
                &field,
                format!(
                    "{label}: trường {} dạy {levels}, sổ của trường không có kết quả lớp {}.",
                    book.level, r.grade
                ),
            );
            whole = false;
            continue;
        }
        let words = result_wordings(r.grade);
        let next = next_after(r.grade, &r.result);
        if next.is_none() {
            bad(
                &field,
                format!(
                    "{label} \"{}\": không phải lời ghi của học bạ; ghi một trong: {}.",
                    r.result,
                    words.join("; ")
                ),
            );
        }
        let Some(y) = school_year(&r.year) else {
            bad(
                &field,
                format!(
                    "{label} \"{}\": ghi năm học trước kết quả, ví dụ \"{}: {}\".",
                    r.result,
                    year_name(first),
                    words[0]
                ),
            );
            whole = false;
            continue;
        };
        if y >= book.current_first {
            bad(
                &field,
                format!(
                    "{label}: năm học {} chưa kết thúc (năm học hiện tại {}); chỉ nhập kết quả các năm đã qua.",
                    r.year,
                    year_name(book.current_first)
                ),
            );
            whole = false;
        } else if y < first {
            bad(
                &field,
                format!(
                    "{label}: năm học {} trước năm học vào trường {}.",
                    r.year, book.year
                ),
            );
            whole = false;
        } else {
            chain.push((r, y, next.unwrap_or(Next::Either)));
        }
    }
    // The results together: one a year, the years with no gap from the entry, each grade the
    // one the year before sent the student to. Only when each stands alone (a result of a
    // misread year would make every later one look wrong).
    chain.sort_by_key(|(r, y, _)| (*y, r.grade));
    if whole {
        let mut prev: Option<(&GradeResult, i16, Next)> = None;
        for &(r, y, next) in &chain {
            let field = format!("kq{}", r.grade);
            let label = format!("Kết quả lớp {} năm học {}", r.grade, r.year);
            match prev {
                None => {
                    // An entry after the year's term II: its first result is the next year's.
                    let summer =
                        entry.is_some_and(|e| year_of(e) == first && e > term_two_over(first));
                    let Some(g) = grade else {
                        prev = Some((r, y, next));
                        continue;
                    };
                    if y == first && summer {
                        bad(
                            &field,
                            format!(
                                "{label}: học sinh vào trường ngày {} sau khi năm học {} kết thúc (từ {}), không học năm đó ở trường; kết quả đầu tiên là của năm học {}.",
                                entry
                                    .map(|e| e.strftime("%d/%m/%Y").to_string())
                                    .unwrap_or_default(),
                                book.year,
                                term_two_over(first).strftime("%d/%m/%Y"),
                                year_name(first + 1)
                            ),
                        );
                    } else if y == first && r.grade != g {
                        bad(
                            &field,
                            format!(
                                "{label}: học sinh vào lớp {class} năm học {}, kết quả năm đó ở cột lớp {g}.",
                                book.year
                            ),
                        );
                    } else if y > first
                        && !(summer && y == first + 1 && (r.grade == g || r.grade == g + 1))
                    {
                        bad(
                            &field,
                            format!(
                                "{label}: thiếu kết quả năm học {} (năm vào lớp {class}); các năm học ở trường liền nhau từ năm vào trường — học sinh rời trường rồi trở lại được ghi ở một dòng mới.",
                                book.year
                            ),
                        );
                    }
                }
                Some((p, py, pnext)) => {
                    if y == py {
                        bad(
                            &field,
                            format!(
                                "{label}: năm học này đã có kết quả lớp {}; mỗi năm học một kết quả.",
                                p.grade
                            ),
                        );
                    } else if y > py + 1 {
                        bad(
                            &field,
                            format!(
                                "{label}: sau kết quả lớp {} năm học {} thiếu {}; các năm học ở trường liền nhau — học sinh rời trường rồi trở lại được ghi ở một dòng mới.",
                                p.grade,
                                p.year,
                                if y == py + 2 {
                                    format!("năm học {}", year_name(py + 1))
                                } else {
                                    format!(
                                        "các năm học {} đến {}",
                                        year_name(py + 1),
                                        year_name(y - 1)
                                    )
                                }
                            ),
                        );
                    } else {
                        let fits = match pnext {
                            Next::Up => r.grade == p.grade + 1,
                            Next::Same => r.grade == p.grade,
                            Next::Either => r.grade == p.grade || r.grade == p.grade + 1,
                        };
                        if !fits {
                            let why = match pnext {
                                Next::Up => format!(
                                    "năm học {} học sinh \"{}\" lớp {}, nên năm sau học lớp {}",
                                    p.year,
                                    p.result,
                                    p.grade,
                                    p.grade + 1
                                ),
                                Next::Same => format!(
                                    "năm học {} học sinh \"Ở lại lớp\" lớp {}, nên năm sau học lại lớp {}",
                                    p.year, p.grade, p.grade
                                ),
                                Next::Either => format!(
                                    "sau kết quả lớp {} năm học {}, năm sau học lớp {} hoặc lớp {}",
                                    p.grade,
                                    p.year,
                                    p.grade,
                                    p.grade + 1
                                ),
                            };
                            bad(&field, format!("{label}: {why}."));
                        }
                    }
                }
            }
            prev = Some((r, y, next));
        }
    }

    // The departure: dated, after the entry, not ahead; nothing of a later school year.
    let left = match departure(&row.left) {
        Ok(l) => l,
        Err(m) => {
            bad("di", m);
            None
        }
    };
    if let Some(l) = left {
        let on = l.date.strftime("%d/%m/%Y");
        if l.date > book.today {
            bad(
                "di",
                format!(
                    "Chuyển đi, thôi học: ngày {on} ở tương lai (hôm nay là {}).",
                    book.today.strftime("%d/%m/%Y")
                ),
            );
        } else if let Some(e) = entry
            && l.date < e
        {
            bad(
                "di",
                format!(
                    "Chuyển đi, thôi học: ngày {on} trước ngày vào trường ({}).",
                    e.strftime("%d/%m/%Y")
                ),
            );
        } else {
            let ly = year_of(l.date);
            let before_end = l.date < term_two_over(ly);
            for &(r, y, _) in &chain {
                if y == ly && before_end {
                    bad(
                        &format!("kq{}", r.grade),
                        format!(
                            "Kết quả lớp {} năm học {}: học sinh đã rời trường ngày {on}, trước khi năm học kết thúc (sớm nhất {}), nên không có kết quả cuối năm đó.",
                            r.grade,
                            r.year,
                            term_two_over(ly).strftime("%d/%m/%Y")
                        ),
                    );
                } else if y > ly {
                    bad(
                        &format!("kq{}", r.grade),
                        format!(
                            "Kết quả lớp {} năm học {}: học sinh đã rời trường ngày {on} (năm học {}).",
                            r.grade,
                            r.year,
                            year_name(ly)
                        ),
                    );
                }
            }
        }
    }

    // The graduation, each part as the register prints it ("; " between two levels).
    let g = row.graduation.trim();
    let mut graduated: Vec<(u8, i16)> = Vec::new();
    for part in g.split("; ").map(str::trim).filter(|p| !p.is_empty()) {
        let Some((level_grade, y)) = graduation_part(part, first, book, &mut bad) else {
            continue;
        };
        graduated.push((level_grade, y));
        let gy = year_name(y);
        if let Some(l) = left
            && y > year_of(l.date)
        {
            bad(
                "tot_nghiep",
                format!(
                    "Tốt nghiệp năm học {gy}: học sinh đã rời trường ngày {} (năm học {}).",
                    l.date.strftime("%d/%m/%Y"),
                    year_name(year_of(l.date))
                ),
            );
        }
        let done = &result_wordings(level_grade)[0];
        match chain
            .iter()
            .find(|(r, ry, _)| r.grade == level_grade && *ry == y)
        {
            Some((r, _, Next::Up)) if level_grade != 5 || &r.result == done => {}
            Some((r, _, _)) => bad(
                "tot_nghiep",
                format!(
                    "Tốt nghiệp năm học {gy}: kết quả lớp {level_grade} năm đó là \"{}\", không phải \"{done}\".",
                    r.result
                ),
            ),
            None if whole => bad(
                "tot_nghiep",
                format!(
                    "Tốt nghiệp năm học {gy}: dòng không có kết quả lớp {level_grade} năm học {gy} (\"{done}\"), kết quả mà tốt nghiệp dựa vào."
                ),
            ),
            None => {}
        }
        if let Some((r, _, _)) = chain
            .iter()
            .find(|(r, ry, _)| *ry > y && r.grade <= level_grade)
        {
            bad(
                "tot_nghiep",
                format!(
                    "Tốt nghiệp năm học {gy}: có kết quả lớp {} năm học {} sau đó.",
                    r.grade, r.year
                ),
            );
        }
    }
    // A completed grade 5 is the primary graduation: the register prints it with its year.
    for &(r, y, _) in &chain {
        if r.grade == 5 && r.result == result_wordings(5)[0] && !graduated.contains(&(5, y)) {
            bad(
                "tot_nghiep",
                format!(
                    "Kết quả lớp 5 năm học {} hoàn thành chương trình tiểu học: ô Tốt nghiệp ghi \"Hoàn thành chương trình tiểu học năm học {}\".",
                    r.year, r.year
                ),
            );
        }
    }
    out
}

/// One graduation as the register prints it, read: its level's last grade and its school year,
/// or None with the problem said (`bad`).
fn graduation_part(
    part: &str,
    first: i16,
    book: &Book<'_>,
    bad: &mut impl FnMut(&str, String),
) -> Option<(u8, i16)> {
    let (level_grade, rest) = if let Some(rest) =
        part.strip_prefix("Hoàn thành chương trình tiểu học năm học ")
    {
        (5, rest)
    } else if let Some(rest) = part.strip_prefix("Được công nhận tốt nghiệp THCS năm học ")
    {
        (9, rest)
    } else if let Some(rest) = part.strip_prefix("Được công nhận tốt nghiệp THPT năm học ")
    {
        (12, rest)
    } else {
        bad(
            "tot_nghiep",
            format!(
                "Tốt nghiệp \"{part}\": ghi như sổ in ra — \"Hoàn thành chương trình tiểu học năm học 2019-2020\" hoặc \"Được công nhận tốt nghiệp THCS năm học 2019-2020 (Quyết định số …, ngày …)\"."
            ),
        );
        return None;
    };
    let gy = rest.get(..9).unwrap_or(rest);
    let Some(y) = school_year(gy) else {
        bad(
            "tot_nghiep",
            format!("Tốt nghiệp \"{part}\": thiếu năm học (ví dụ 2019-2020)."),
        );
        return None;
    };
    if !book.grades.contains(&level_grade) {
        bad(
            "tot_nghiep",
            format!(
                "Tốt nghiệp \"{part}\": trường {} dạy {}, không có lớp {level_grade} để tốt nghiệp cấp đó.",
                book.level,
                grades_text(book.grades)
            ),
        );
        return None;
    }
    if y >= book.current_first || y < first {
        bad(
            "tot_nghiep",
            format!(
                "Tốt nghiệp năm học {gy}: phải là một năm học đã qua, không trước năm học vào trường {}.",
                book.year
            ),
        );
        return None;
    }
    let tail = &rest[gy.len()..];
    if level_grade == 5 {
        if !tail.trim().is_empty() {
            bad(
                "tot_nghiep",
                format!(
                    "Tốt nghiệp \"{part}\": ghi như sổ in ra — \"Hoàn thành chương trình tiểu học năm học {gy}\", không thêm gì sau năm học."
                ),
            );
        }
        return Some((level_grade, y));
    }
    // " (Quyết định số 45/QĐ-PGDĐT, ngày 20/06/2024)"
    let decided = tail
        .strip_prefix(" (")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.rsplit_once(", ngày "))
        .filter(|(decision, _)| !decision.trim().is_empty());
    match decided {
        None => bad(
            "tot_nghiep",
            format!(
                "Tốt nghiệp \"{part}\": ghi quyết định công nhận sau năm học như sổ in ra, ví dụ \"… năm học {gy} (Quyết định số 12/QĐ-PGDĐT, ngày 20/06/{})\".",
                y + 1
            ),
        ),
        Some((_, date)) => match graduation_decided_on(gy, date.trim(), book.today) {
            Err(m) => bad("tot_nghiep", format!("Tốt nghiệp năm học {gy}: {m}")),
            // Not at the start of the last grade's year: after its result (review r18 #3).
            Ok(d) if d.as_str() < term_two_over(y).to_string().as_str() => bad(
                "tot_nghiep",
                format!(
                    "Tốt nghiệp năm học {gy}: ngày quyết định {} trước khi năm học kết thúc (sớm nhất {}); quyết định công nhận tốt nghiệp ghi ngày sau khi có kết quả cuối năm.",
                    super::changes::vi_date(&d),
                    term_two_over(y).strftime("%d/%m/%Y")
                ),
            ),
            Ok(_) => {}
        },
    }
    Some((level_grade, y))
}

/// Two lines of one book for the same person (same name and birth date): a student has a new
/// line only after leaving, so the earlier entry's line must say a departure on or before the
/// later entry. `a` entered first; the problem of `b` when not.
pub fn second_line(a: &RegisterRow, b: &RegisterRow) -> Option<String> {
    let (Some(ea), Some(eb)) = (
        super::parse_date(&a.entered_on),
        super::parse_date(&b.entered_on),
    ) else {
        return None;
    };
    let left = departure(&a.left).ok().flatten();
    if left.is_some_and(|l| l.date >= ea && l.date <= eb) {
        return None;
    }
    Some(format!(
        "Cùng họ tên và ngày sinh với số đăng bộ {}: một học sinh chỉ có dòng mới khi đã rời trường — dòng số {} phải ghi chuyển đi hoặc thôi học từ ngày vào trường đến {}.",
        a.number,
        a.number,
        eb.strftime("%d/%m/%Y")
    ))
}

/// A line read (`new`) for the same person (same folded name and birth date) as a line the
/// register already holds (`held`, imported or the box's own; review r18 #1): as
/// [`second_line`], the line entered first must say a departure on or before the other's entry.
/// The problem of `new` when not, naming the held số đăng bộ.
pub fn against_held(new: &RegisterRow, held: &RegisterRow) -> Option<String> {
    let (Some(en), Some(eh)) = (
        super::parse_date(&new.entered_on),
        super::parse_date(&held.entered_on),
    ) else {
        return None;
    };
    let on = |d: Date| d.strftime("%d/%m/%Y").to_string();
    let head = format!(
        "Cùng họ tên và ngày sinh với số đăng bộ {} đã có trong sổ (vào trường {}): một học sinh chỉ có dòng mới khi đã rời trường",
        held.number,
        on(eh)
    );
    if eh <= en {
        let left = departure(&held.left).ok().flatten();
        if left.is_some_and(|l| l.date >= eh && l.date <= en) {
            return None;
        }
        Some(format!(
            "{head} — dòng số {} không ghi chuyển đi hoặc thôi học trước ngày vào trường {} của dòng này.",
            held.number,
            on(en)
        ))
    } else {
        let left = departure(&new.left).ok().flatten();
        if left.is_some_and(|l| l.date >= en && l.date <= eh) {
            return None;
        }
        Some(format!(
            "{head} — dòng này vào trường trước, phải ghi chuyển đi hoặc thôi học từ ngày vào trường đến {}.",
            on(eh)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(today: Date) -> Book<'static> {
        Book {
            year: "2019-2020",
            level: "THCS",
            grades: &[6, 7, 8, 9],
            current_first: 2026,
            today,
        }
    }

    fn res(grade: u8, year: &str, result: &str) -> GradeResult {
        GradeResult {
            grade,
            year: year.into(),
            result: result.into(),
        }
    }

    /// Entered 05/09/2019 into 6A1, born 2008, four years to the THCS graduation.
    fn line() -> RegisterRow {
        RegisterRow {
            number: 1,
            full_name: "Lê Thị Thật".into(),
            dob: "01/02/2008".into(),
            gender: "Nữ".into(),
            entered_on: "05/09/2019".into(),
            entered_class: "6A1".into(),
            results: vec![
                res(6, "2019-2020", "Được lên lớp"),
                res(7, "2020-2021", "Được lên lớp"),
                res(8, "2021-2022", "Được lên lớp"),
                res(9, "2022-2023", "Hoàn thành chương trình trung học cơ sở"),
            ],
            graduation: "Được công nhận tốt nghiệp THCS năm học 2022-2023 (Quyết định số 12/QĐ-PGDĐT, ngày 20/06/2023)".into(),
            ..RegisterRow::default()
        }
    }

    fn today() -> Date {
        jiff::civil::date(2026, 10, 1)
    }

    /// The problems of a line, "field: message".
    fn problems(row: &RegisterRow) -> Vec<String> {
        check(row, &book(today()))
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect()
    }

    #[track_caller]
    fn refused(row: &RegisterRow, field: &str, text: &str) {
        let p = problems(row);
        assert!(
            p.iter()
                .any(|m| m.starts_with(&format!("{field}: ")) && m.contains(text)),
            "{field} «{text}» not in {p:#?}"
        );
    }

    #[track_caller]
    fn accepted(row: &RegisterRow) {
        let p = problems(row);
        assert!(p.is_empty(), "{p:#?}");
    }

    #[test]
    fn a_true_history_passes() {
        accepted(&line());
        // Kept back in grade 7, then promoted: grade 7 twice, graduation a year later.
        let mut l = line();
        l.results = vec![
            res(6, "2019-2020", "Được lên lớp"),
            res(7, "2020-2021", "Ở lại lớp"),
            res(
                7,
                "2021-2022",
                "Được lên lớp sau khi rèn luyện trong kì nghỉ hè",
            ),
            res(8, "2022-2023", "Được lên lớp"),
            res(
                9,
                "2023-2024",
                "Hoàn thành chương trình trung học cơ sở sau khi kiểm tra, đánh giá lại",
            ),
        ];
        l.graduation =
            "Được công nhận tốt nghiệp THCS năm học 2023-2024 (QĐ 7/QĐ-PGDĐT, ngày 15/07/2024)"
                .into();
        accepted(&l);
        // A line with no result yet (left in the first year), and a transfer out after two.
        let mut l = line();
        l.results.clear();
        l.graduation.clear();
        l.left = "Thôi học ngày 01/12/2019: theo gia đình".into();
        accepted(&l);
        let mut l = line();
        l.results.truncate(2);
        l.graduation.clear();
        l.left = "Chuyển trường 10/08/2021 (đến THCS Lê Lợi): theo gia đình".into();
        accepted(&l);
    }

    /// Review r16 #1: kept back in grade 6 means grade 6 again the next year; a gap of years is
    /// no history of one line; the first result is the entry's year and grade.
    #[test]
    fn results_follow_year_by_year_from_the_entry() {
        let mut l = line();
        l.results = vec![
            res(6, "2019-2020", "Ở lại lớp"),
            res(7, "2020-2021", "Được lên lớp"),
        ];
        l.graduation.clear();
        refused(&l, "kq7", "\"Ở lại lớp\" lớp 6, nên năm sau học lại lớp 6");
        l.results[1] = res(6, "2020-2021", "Được lên lớp");
        accepted(&l);
        // Promoted, then the same grade again.
        l.results = vec![
            res(6, "2019-2020", "Được lên lớp"),
            res(6, "2020-2021", "Được lên lớp"),
        ];
        refused(&l, "kq6", "nên năm sau học lớp 7");
        // The principal's decision still open: either.
        for g in [6, 7] {
            l.results = vec![
                res(
                    6,
                    "2019-2020",
                    "Rèn luyện trong kì nghỉ hè: chưa có kết quả",
                ),
                res(g, "2020-2021", "Được lên lớp"),
            ];
            accepted(&l);
        }
        // A six-year gap.
        l.results = vec![
            res(6, "2019-2020", "Được lên lớp"),
            res(7, "2025-2026", "Được lên lớp"),
        ];
        refused(
            &l,
            "kq7",
            "thiếu các năm học 2020-2021 đến 2024-2025; các năm học ở trường liền nhau",
        );
        // Two results in one year.
        l.results = vec![
            res(6, "2019-2020", "Được lên lớp"),
            res(7, "2019-2020", "Được lên lớp"),
        ];
        refused(&l, "kq7", "năm học này đã có kết quả lớp 6");
        // The first result is not the entry's: a year missing, or another grade.
        l.results = vec![res(7, "2020-2021", "Được lên lớp")];
        refused(
            &l,
            "kq7",
            "thiếu kết quả năm học 2019-2020 (năm vào lớp 6A1)",
        );
        l.results = vec![res(7, "2019-2020", "Được lên lớp")];
        refused(&l, "kq7", "kết quả năm đó ở cột lớp 6");
        // An entry in the summer, after the year's teaching: the next year's grade first.
        l.entered_on = "20/06/2020".into();
        l.results = vec![res(7, "2020-2021", "Được lên lớp")];
        accepted(&l);
        // Review r18 #3: an entry after term II is over carries no result of that year.
        l.entered_on = "20/07/2020".into();
        l.results = vec![res(6, "2019-2020", "Ở lại lớp")];
        refused(
            &l,
            "kq6",
            "vào trường ngày 20/07/2020 sau khi năm học 2019-2020 kết thúc (từ 31/05/2020)",
        );
        // On the bound's day itself the year's teaching may still run: its result stands.
        l.entered_on = "30/05/2020".into();
        accepted(&l);
        // Review r18 #3: one cell's results in year order.
        l.entered_on = "05/09/2019".into();
        l.results = vec![
            res(6, "2020-2021", "Được lên lớp"),
            res(6, "2019-2020", "Ở lại lớp"),
        ];
        refused(
            &l,
            "kq6",
            "năm học 2019-2020 ghi sau năm học 2020-2021; ghi theo thứ tự năm học",
        );
        l.results.reverse();
        accepted(&l);
        // Review r18 #3 asked about this one, and it is true: the summer's result came after
        // the book was printed, the student then studied grade 7 — the pending result stays
        // accepted (as "Either" above), whichever grade follows.
        l.results = vec![
            res(
                6,
                "2019-2020",
                "Rèn luyện trong kì nghỉ hè: chưa có kết quả",
            ),
            res(7, "2020-2021", "Được lên lớp"),
        ];
        accepted(&l);
    }

    /// A departure is a real date, on or after the entry, not ahead, with no result or
    /// graduation after its school year; its words are the register's.
    #[test]
    fn a_departure_is_dated_and_ends_the_results() {
        let mut l = line();
        l.results.truncate(1);
        l.graduation.clear();
        for (left, text) in [
            (
                "Thôi học 01/01/2019",
                "ngày 01/01/2019 trước ngày vào trường (05/09/2019)",
            ),
            ("Chuyển trường 01/01/2030", "ngày 01/01/2030 ở tương lai"),
            (
                "Thôi học ngày 31/02/2020",
                "\"31/02/2020\" không phải là một ngày có thật",
            ),
            ("Bỏ học", "ghi như sổ in ra"),
            ("Thôi học", "ghi như sổ in ra"),
        ] {
            l.left = left.into();
            refused(&l, "di", text);
        }
        l.left = "Thôi học ngày 01/12/2019: hoàn cảnh".into();
        // Review r18 #3: left in December, before term II was over: no result of that year.
        refused(
            &l,
            "kq6",
            "rời trường ngày 01/12/2019, trước khi năm học kết thúc (sớm nhất 31/05/2020)",
        );
        l.results.clear();
        accepted(&l);
        // Left on the bound or after it (the year's teaching over): the year's result stands.
        l.results.push(res(6, "2019-2020", "Được lên lớp"));
        l.left = "Thôi học ngày 31/05/2020: hoàn cảnh".into();
        accepted(&l);
        l.left = "Thôi học ngày 01/12/2019: hoàn cảnh".into();
        l.results = vec![res(7, "2021-2022", "Được lên lớp")];
        refused(
            &l,
            "kq7",
            "học sinh đã rời trường ngày 01/12/2019 (năm học 2019-2020)",
        );
        // Left in the summer after grade 6: the grade-6 result stands, nothing after.
        let mut l = line();
        l.left = "Chuyển trường ngày 15/07/2020 (đến THCS Lê Lợi): theo gia đình".into();
        refused(&l, "tot_nghiep", "học sinh đã rời trường ngày 15/07/2020");
        refused(&l, "kq7", "đã rời trường");
        l.results.truncate(1);
        l.graduation.clear();
        accepted(&l);
    }

    /// Review r16 #1: a THCS graduation rests on that year's completed grade 9; its decision's
    /// date is the graduation page's rule (a real date, in or after the year, not ahead).
    #[test]
    fn a_graduation_rests_on_its_grade_and_its_decision_is_dated() {
        let mut l = line();
        l.results.truncate(1);
        l.graduation =
            "Được công nhận tốt nghiệp THCS năm học 2019-2020 (QĐ 1, ngày 01/06/2020)".into();
        refused(
            &l,
            "tot_nghiep",
            "dòng không có kết quả lớp 9 năm học 2019-2020",
        );
        let mut l = line();
        l.results[3] = res(9, "2022-2023", "Ở lại lớp");
        refused(&l, "tot_nghiep", "kết quả lớp 9 năm đó là \"Ở lại lớp\"");
        for (date, text) in [
            ("01/06/2010", "trước năm học 2022-2023"),
            ("01/06/2030", "ở tương lai"),
            ("31/02/2023", "không phải là một ngày có thật"),
        ] {
            let mut l = line();
            l.graduation =
                format!("Được công nhận tốt nghiệp THCS năm học 2022-2023 (QĐ 1, ngày {date})");
            refused(&l, "tot_nghiep", text);
        }
        // Review r18 #3: a decision at the start of the grade-9 year, before its result.
        let mut l = line();
        l.graduation =
            "Được công nhận tốt nghiệp THCS năm học 2022-2023 (QĐ 12, ngày 01/09/2022)".into();
        refused(
            &l,
            "tot_nghiep",
            "ngày quyết định 01/09/2022 trước khi năm học kết thúc (sớm nhất 31/05/2023)",
        );
        l.graduation =
            "Được công nhận tốt nghiệp THCS năm học 2022-2023 (QĐ 12, ngày 31/05/2023)".into();
        accepted(&l);
        // After the year is fine; no decision is not.
        let mut l = line();
        l.graduation =
            "Được công nhận tốt nghiệp THCS năm học 2022-2023 (QĐ 1, ngày 02/09/2023)".into();
        accepted(&l);
        l.graduation = "Được công nhận tốt nghiệp THCS năm học 2022-2023".into();
        refused(&l, "tot_nghiep", "ghi quyết định công nhận sau năm học");
        // Another level's graduation in a THCS book.
        l.graduation = "Hoàn thành chương trình tiểu học năm học 2022-2023".into();
        refused(&l, "tot_nghiep", "không có lớp 5");
    }

    /// A primary book: grade 5 completed is the primary graduation, printed with its year.
    #[test]
    fn a_primary_line_completes_grade_five_with_its_graduation() {
        let b = Book {
            year: "2019-2020",
            level: "TH",
            grades: &[1, 2, 3, 4, 5],
            current_first: 2026,
            today: today(),
        };
        let mut l = RegisterRow {
            full_name: "Trần Văn Nhỏ".into(),
            dob: "01/02/2009".into(),
            gender: "Nam".into(),
            entered_on: "05/09/2019".into(),
            entered_class: "4A".into(),
            results: vec![
                res(4, "2019-2020", "Hoàn thành chương trình lớp học"),
                res(5, "2020-2021", "Hoàn thành chương trình tiểu học"),
            ],
            graduation: "Hoàn thành chương trình tiểu học năm học 2020-2021".into(),
            ..RegisterRow::default()
        };
        assert!(check(&l, &b).is_empty(), "{:?}", check(&l, &b));
        l.graduation.clear();
        let p = check(&l, &b);
        assert!(
            p.iter().any(|(f, m)| f == "tot_nghiep"
                && m.contains("ghi \"Hoàn thành chương trình tiểu học năm học 2020-2021\"")),
            "{p:?}"
        );
        // "Chưa hoàn thành": the principal decides, so grade 4 again or grade 5.
        l.graduation = "Hoàn thành chương trình tiểu học năm học 2020-2021".into();
        l.results[0].result = "Chưa hoàn thành".into();
        assert!(check(&l, &b).is_empty(), "{:?}", check(&l, &b));
        l.entered_class = "6A1".into();
        let p = check(&l, &b);
        assert!(
            p.iter().any(|(f, m)| f == "lop"
                && m.contains("lớp 6 không thuộc cấp học của trường (TH — lớp 1 đến 5)")),
            "{p:?}"
        );
    }

    /// The class of entry is one of the school's level, named as the box names classes, and
    /// the results are of its grades.
    #[test]
    fn the_entry_class_belongs_to_the_schools_level() {
        let mut l = line();
        l.results.clear();
        l.graduation.clear();
        for (class, text) in [
            (
                "12A1",
                "lớp 12 không thuộc cấp học của trường (THCS — lớp 6 đến 9)",
            ),
            ("5A1", "lớp 5 không thuộc cấp học"),
            ("6", "\"6\" là khối 6, không phải một lớp"),
            ("6A1-Chiều-Nhóm-Hai", "tối đa 16 kí tự"),
            ("A1", "phải bắt đầu bằng khối lớp (ví dụ 6A1)"),
            ("6 /A", "ghi khối lớp rồi tên lớp"),
            // Review r18 #3: the name as the box writes it.
            (
                "Lớp 6A1",
                "ghi \"6A1\" (không ghi chữ \"Lớp\", không có số 0 ở đầu)",
            ),
            ("06A1", "ghi \"6A1\""),
            ("lớp 06A1", "ghi \"6A1\""),
        ] {
            l.entered_class = class.into();
            refused(&l, "lop", text);
        }
        for class in ["6A1", "6A", "6/1", "6.2", "6 Chuyên Anh"] {
            l.entered_class = class.into();
            accepted(&l);
        }
        // A result column of a grade the school does not teach.
        let mut l = line();
        l.results.push(res(10, "2023-2024", "Được lên lớp"));
        refused(&l, "kq10", "trường THCS dạy lớp 6 đến 9");
    }

    #[test]
    fn the_departure_cell_reads_the_registers_words() {
        let d = |t: &str| departure(t).unwrap().unwrap();
        assert_eq!(
            d("Chuyển trường ngày 03/03/2027 (đến THCS Lê Lợi): theo gia đình"),
            Left {
                kind: Leaving::TransferOut,
                date: jiff::civil::date(2027, 3, 3)
            }
        );
        assert_eq!(d("Thôi học 3/3/2027.").kind, Leaving::Withdrawn);
        assert_eq!(departure("  ").unwrap(), None);
        assert!(departure("Gạch tên khỏi sổ đăng bộ ngày 03/03/2027: x").is_err());
    }

    #[test]
    fn the_same_student_twice_needs_a_departure_between() {
        let a = line();
        let mut b = line();
        b.number = 2;
        b.entered_on = "10/01/2020".into();
        assert!(
            second_line(&a, &b)
                .unwrap()
                .contains("dòng số 1 phải ghi chuyển đi")
        );
        let mut a = a;
        a.left = "Thôi học ngày 01/12/2019: ốm".into();
        assert_eq!(second_line(&a, &b), None);
    }

    /// Review r18 #1: a line read against one the register holds, whichever entered first.
    #[test]
    fn the_same_student_as_a_held_line_needs_a_departure_between() {
        let mut held = line();
        held.number = 9320;
        let mut new = line();
        new.number = 9322;
        new.entered_on = "05/09/2020".into();
        new.entered_class = "7A1".into();
        let m = against_held(&new, &held).unwrap();
        assert!(
            m.contains("số đăng bộ 9320 đã có trong sổ (vào trường 05/09/2019)")
                && m.contains("dòng số 9320 không ghi chuyển đi hoặc thôi học trước ngày vào trường 05/09/2020"),
            "{m}"
        );
        held.left = "Chuyển trường ngày 10/08/2020 (đến THCS Lê Lợi): theo gia đình".into();
        assert_eq!(against_held(&new, &held), None);
        // A departure after the new entry is no departure between.
        held.left = "Thôi học ngày 10/10/2020: ốm".into();
        assert!(against_held(&new, &held).is_some());
        // The line read is the older one: it must end before the held line's entry.
        let mut held = line();
        held.number = 1;
        held.entered_on = "05/09/2026".into();
        let mut new = line();
        new.number = 9312;
        let m = against_held(&new, &held).unwrap();
        assert!(
            m.contains("số đăng bộ 1 đã có")
                && m.contains("dòng này vào trường trước, phải ghi chuyển đi hoặc thôi học từ ngày vào trường đến 05/09/2026"),
            "{m}"
        );
        new.left = "Thôi học ngày 01/12/2019: ốm".into();
        assert_eq!(against_held(&new, &held), None);
    }
}
