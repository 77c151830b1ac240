//! The demo's sổ đăng bộ: every pupil entered the school in its first grade (lớp 6) on the
//! khai giảng of the year that makes her grade today — this year's lớp 6 this year, lớp 9 three
//! years ago (review r24 #1: every pupil had "entered" this September, lớp 9 included, and the
//! books of earlier years were empty) —, and in the last class one transfer in, one transfer out
//! and one withdrawal, so a newcomer sees each kind of line.

use crate::school::{self, Student, changes};
use crate::store::{Actor, Store};

pub(super) fn seed_register(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    let today = now.to_zoned(school::time_zone()).date();
    let demo = super::DemoYear::of(now);
    // Every pupil entered on term I's first day (or today, before it: never ahead).
    let entered = demo.entry_day(today);
    // The newcomer and the leavers of term I on weekdays (12/10, 16/11, 30/11), or as long
    // after the entry as the seeding day allows: three weeks at least — a demo seeded earlier
    // in the year has no leaver yet (review r20 #6: a pupil left 15 days after entering, on
    // the seeding day).
    let earliest = entered + jiff::Span::new().days(21);
    let latest = today - jiff::Span::new().days(1);
    let story = earliest <= latest;
    let on = |month: i8, day: i8, share: i64| -> String {
        let nominal = demo.date(month, day);
        let d = if (earliest..=latest).contains(&nominal) {
            nominal
        } else {
            let span = (latest - earliest).get_days() as i64;
            earliest + jiff::Span::new().days(span * share / 100)
        };
        // A weekday: the one before, else the one after (within the days it may take).
        let before = super::step_to(d, -1, super::weekday);
        if before >= earliest {
            before
        } else {
            super::step_to(d, 1, super::weekday).min(latest)
        }
        .to_string()
    };
    let rx = store.read()?;
    let mut classes = school::list(&rx, &school::CLASSES)?;
    classes.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    let Some(last) = classes.last().cloned() else {
        return Ok(());
    };
    let students = school::list(&rx, &school::STUDENTS)?;
    let first_grade = classes.first().map_or(6, |c| c.grade);
    drop(rx);
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        for s in &students {
            let Some(class) = classes.iter().find(|c| c.id == s.class_id) else {
                continue;
            };
            let years_ago = class.grade.saturating_sub(first_grade);
            if years_ago == 0 {
                school::register::date_entry(tx, &s.id, &entered.to_string())?;
            } else {
                let entry = super::DemoYear {
                    start: demo.start - i16::from(years_ago),
                };
                backdate_entry(tx, &s.id, entry, &class.name, first_grade)?;
            }
        }
        // A small demo (the unit tests' 10 or 40 pupils) leaves the last class empty: it gets
        // no story, so their counts stay what they were.
        let roll = school::students_of_class(&*tx, &last.id)?;
        let [first, second, ..] = roll.as_slice() else {
            return Ok(());
        };
        if story {
            changes::transfer_out(
                tx,
                &first.id,
                changes::TransferOut {
                    date: on(11, 16, 60),
                    to_school: "Trường THCS Lê Quý Đôn, Quận 3".into(),
                    reason: "Gia đình chuyển nơi ở".into(),
                },
            )?;
            changes::withdraw(
                tx,
                &second.id,
                changes::Withdrawal {
                    date: on(11, 30, 90),
                    reason: "Gia đình xin cho nghỉ học để theo cha mẹ đi làm ăn xa".into(),
                },
            )?;
        }
        // The newcomer's arrival is her own entry: on 12/10, or — seeded before — on a weekday
        // of the year before the seeding day (in August, for the coming year).
        let arrival = if story {
            on(10, 12, 30)
        } else {
            let year_start = demo.date(8, 1);
            let d = year_start + jiff::Span::new().days((today - year_start).get_days() as i64 / 2);
            match super::step_to(d, -1, super::weekday) {
                w if w >= year_start => w,
                _ => d,
            }
            .to_string()
        };
        let arrived = changes::arrival(tx, &arrival, "Trường THCS Nguyễn Du, Quận 1")?;
        let st = school::add_student(
            tx,
            Student {
                id: String::new(),
                full_name: "Phạm Gia Hân".into(),
                dob: format!("{}-03-14", demo.start - i16::from(last.grade) - 5),
                gender: "Nữ".into(),
                // 3 = a girl born in the 2000s, then the birth year's last two digits: the
                // number agrees with the record (`school::id_agrees`).
                ma_dinh_danh: format!(
                    "0793{:02}999001",
                    (demo.start - i16::from(last.grade) - 5) % 100
                ),
                class_id: last.id.clone(),
                arrived: Some(arrived),
                left: None,
            },
        )?;
        school::save_profile(
            tx,
            &st.id,
            school::ProfilePatch {
                birthplace: Some("Quận 1, TP. Hồ Chí Minh".into()),
                ethnicity: Some("Kinh".into()),
                father: Some("Phạm Văn Hùng".into()),
                mother: Some("Trần Thị Mai".into()),
                address: Some("12 Lý Tự Trọng, Quận 1".into()),
                ..Default::default()
            },
        )?;
        Ok(())
    })?;
    Ok(())
}

/// The register line of a pupil who entered the school before this year: in the class of the
/// first grade with the same letters ("6A1" for "9A1"), on the khai giảng of `entry`. Written
/// as the box's book continued from paper would hold it (`register::date_entry` refuses a
/// closed year's line, which is what a school does once; the demo writes what it holds).
pub(super) fn backdate_entry(
    tx: &mut crate::store::Tx<'_>,
    student: &str,
    entry: super::DemoYear,
    class_name: &str,
    first_grade: u8,
) -> anyhow::Result<()> {
    let mut line = school::register::line_of(&*tx, student)?
        .ok_or_else(|| anyhow::anyhow!("register line of {student} missing"))?;
    line.year = entry.id();
    line.entered_on = entry.date(9, 5).to_string();
    line.class_name = format!(
        "{first_grade}{}",
        class_name.trim_start_matches(|c: char| c.is_ascii_digit())
    );
    school::register::rewrite_line(tx, &line, "register.entry_date")?;
    Ok(())
}

/// Numbers the demo's register in the order its pupils entered, as a book filled year after
/// year would be — the lớp 6 intake of four years ago first, this year's last, a newcomer of
/// this October after them (review r25 #1: this year's intake was 1–120 and the pupils who
/// entered four years before 482–561). The demo writes its whole book once, before anything
/// prints a number (the showcase's học bạ are signed after the seeding).
pub(super) fn number_by_entry(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    let rx = store.read()?;
    let mut lines = school::register::all_lines(&rx)?;
    let names: std::collections::HashMap<String, String> = school::list(&rx, &school::STUDENTS)?
        .into_iter()
        .map(|s: Student| (s.id, s.full_name))
        .collect();
    drop(rx);
    let name = |id: &str| names.get(id).cloned().unwrap_or_default();
    lines.sort_by(|a, b| {
        (&a.entered_on, &a.class_name)
            .cmp(&(&b.entered_on, &b.class_name))
            .then_with(|| school::vietnamese_name_order(&name(&a.student), &name(&b.student)))
    });
    store.write(&Actor::system(now), |tx| {
        school::register::renumber_unprinted(tx, &lines, "register.renumber")
    })?;
    Ok(())
}
