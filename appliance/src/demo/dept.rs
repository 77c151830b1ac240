//! The demo's department records: an approved Phụ lục I of the Toán – Tin department (Toán,
//! grade 6, its 140 periods) and one signed meeting's minutes, so a newcomer sees both.

use super::*;
use crate::dept::{self, Kind, Line, MinutesInput, PlanInput};

/// (chủ đề, số tiết, thời điểm, thiết bị dạy học) — Toán 6 over the 35 weeks, 140 periods.
const TOAN_6: &[(&str, u16, &str, &str)] = &[
    (
        "Chương I. Tập hợp các số tự nhiên",
        20,
        "Tuần 1–5",
        "Máy chiếu, bảng phụ",
    ),
    (
        "Chương II. Tính chia hết trong tập hợp các số tự nhiên",
        22,
        "Tuần 6–10",
        "Máy chiếu, phiếu học tập",
    ),
    (
        "Chương III. Số nguyên",
        22,
        "Tuần 11–15",
        "Trục số, máy chiếu",
    ),
    (
        "Chương IV. Một số hình phẳng trong thực tiễn",
        12,
        "Tuần 16–18",
        "Bộ thước, ê ke, compa",
    ),
    (
        "Ôn tập và kiểm tra cuối học kì I",
        4,
        "Tuần 18",
        "Đề kiểm tra",
    ),
    (
        "Chương V. Tính đối xứng của hình phẳng",
        8,
        "Tuần 19–20",
        "Giấy màu, kéo",
    ),
    (
        "Chương VI. Phân số",
        22,
        "Tuần 20–25",
        "Máy chiếu, phiếu học tập",
    ),
    (
        "Chương VII. Số thập phân",
        14,
        "Tuần 26–29",
        "Máy tính cầm tay",
    ),
    (
        "Chương VIII. Những hình hình học cơ bản",
        10,
        "Tuần 30–32",
        "Thước đo góc",
    ),
    (
        "Chương IX. Dữ liệu và xác suất thực nghiệm",
        6,
        "Tuần 33–35",
        "Đồng xu, xúc xắc",
    ),
];

pub(super) fn seed_dept(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    use crate::lessons::sign;
    let rx = store.read()?;
    let accounts = auth::list_accounts(&rx)?;
    let toan = school::list(&rx, &school::SUBJECTS)?
        .into_iter()
        .find(|s: &school::Subject| s.name == "Toán")
        .ok_or_else(|| anyhow::anyhow!("demo subject Toán missing"))?;
    let department = toan
        .department
        .clone()
        .ok_or_else(|| anyhow::anyhow!("Toán without a department"))?;
    let head = accounts
        .iter()
        .find(|a| a.has(Role::DeptHead) && a.department.as_deref() == Some(department.as_str()))
        .ok_or_else(|| anyhow::anyhow!("demo head of Toán – Tin missing"))?
        .clone();
    let principal = accounts
        .iter()
        .find(|a| a.has(Role::Principal))
        .ok_or_else(|| anyhow::anyhow!("demo principal missing"))?
        .clone();
    // Both keys were made with the lesson plans' (`plans::seed_lessons`: every head has one).
    let key_of = |id: &str, who: &str| -> anyhow::Result<sign::DeviceKey> {
        Ok(sign::unlock(
            &rx.get(&sign::KEYS, id)?
                .ok_or_else(|| anyhow::anyhow!("demo {who} has no key"))?,
            DEMO_PIN,
        )?)
    };
    let principal_key = key_of(&principal.id, "principal")?;
    let head_key = key_of(&head.id, "head of Toán – Tin")?;
    let year = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    let head_p = school::principal_for(&rx, head.clone())?;
    let principal_p = school::principal_for(&rx, principal)?;
    let members: Vec<String> = dept::members(&rx, &department)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    drop(rx);
    // Two weeks ago on a weekday, within the demo's school year (the archive of a year holds
    // the meetings held in it) and never ahead of today.
    let today = now.to_zoned(school::time_zone()).date();
    let year_start = super::DemoYear::of(now).date(8, 1);
    let two_weeks = (today - jiff::Span::new().days(14)).max(year_start);
    let meeting = match super::step_to(two_weeks, -1, super::weekday) {
        d if d >= year_start => d,
        _ => super::step_to(two_weeks, 1, super::weekday).min(today),
    };
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        let lines = TOAN_6
            .iter()
            .map(|(topic, periods, when, equipment)| Line {
                topic: topic.to_string(),
                periods: *periods,
                when: when.to_string(),
                equipment: equipment.to_string(),
                place: "Lớp học".into(),
                ..Line::default()
            })
            .collect();
        let plan = dept::create_plan(
            tx,
            &head_p,
            &year,
            PlanInput {
                kind: Some(Kind::Pl1),
                department: Some(department.clone()),
                subject: toan.id.clone(),
                grade: 6,
                lines,
                ..PlanInput::default()
            },
        )?;
        dept::submit_plan(tx, &head_p, &plan.id, &head_key)?;
        dept::approve_plan(tx, &principal_p, &plan.id, &principal_key)?;
        let m = dept::create_minutes(
            tx,
            &head_p,
            MinutesInput {
                department: Some(department.clone()),
                date: meeting.to_string(),
                attendees: members.clone(),
                agenda: "1. Thống nhất kế hoạch dạy học môn Toán 6 (Phụ lục I).\n2. Dự giờ, rút kinh nghiệm tiết dạy Bài 8.".into(),
                content: "Tổ trưởng trình bày dự thảo kế hoạch; các thành viên góp ý về thời điểm dạy Chương IV và thiết bị cần chuẩn bị.".into(),
                conclusions: "Thống nhất kế hoạch, trình Hiệu trưởng phê duyệt. Phân công dự giờ tuần sau.".into(),
            },
        )?;
        dept::sign_minutes(tx, &head_p, &m.id, &head_key)?;
        Ok(())
    })?;
    Ok(())
}
