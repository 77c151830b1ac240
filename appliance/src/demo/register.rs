//! The demo's sổ đăng bộ: every pupil entered at the start of the year, and in the last class
//! one transfer in, one transfer out and one withdrawal, so a newcomer sees each kind of line.

use crate::school::{self, Student, changes};
use crate::store::{Actor, Store};

pub(super) fn seed_register(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    let today = now.to_zoned(school::time_zone()).date();
    let demo = super::DemoYear::of(now);
    // Dates in the year's first term, or today when the clock is earlier (never the future).
    let on = |month: i8, day: i8| -> String { demo.date(month, day).min(today).to_string() };
    let rx = store.read()?;
    let mut classes = school::list(&rx, &school::CLASSES)?;
    classes.sort_by(|a, b| (a.grade, &a.name).cmp(&(b.grade, &b.name)));
    let Some(last) = classes.last().cloned() else {
        return Ok(());
    };
    let students = school::list(&rx, &school::STUDENTS)?;
    drop(rx);
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        for s in &students {
            school::register::date_entry(tx, &s.id, &on(9, 5))?;
        }
        // A small demo (the unit tests' 10 or 40 pupils) leaves the last class empty: it gets
        // no story, so their counts stay what they were.
        let roll = school::students_of_class(&*tx, &last.id)?;
        let [first, second, ..] = roll.as_slice() else {
            return Ok(());
        };
        {
            changes::transfer_out(
                tx,
                &first.id,
                changes::TransferOut {
                    date: on(11, 16),
                    to_school: "Trường THCS Lê Quý Đôn, Quận 3".into(),
                    reason: "Gia đình chuyển nơi ở".into(),
                },
            )?;
            changes::withdraw(
                tx,
                &second.id,
                changes::Withdrawal {
                    date: on(11, 30),
                    reason: "Gia đình xin cho nghỉ học để theo cha mẹ đi làm ăn xa".into(),
                },
            )?;
        }
        let arrived = changes::arrival(tx, &on(10, 12), "Trường THCS Nguyễn Du, Quận 1")?;
        let st = school::add_student(
            tx,
            Student {
                id: String::new(),
                full_name: "Phạm Gia Hân".into(),
                dob: format!("{}-03-14", demo.start - i16::from(last.grade) - 6),
                gender: "Nữ".into(),
                // 3 = a girl born in the 2000s, then the birth year's last two digits: the
                // number agrees with the record (`school::id_agrees`).
                ma_dinh_danh: format!(
                    "0793{:02}999001",
                    (demo.start - i16::from(last.grade) - 6) % 100
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
