//! The printed plans (the official columns of CV 5512 Phụ lục I, II, III) and minutes, over the
//! gradebook's PDF layout, each ending with who signed it.

use super::{Kind, Minutes, MinutesVersion, Plan, PlanVersion, department_name};
use crate::gradebook::pdf::{Layout, PdfError};
use crate::lessons::sign::Signature;
use crate::store::{Read, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeptPdfError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn school_name(r: &impl Read) -> Result<String, StoreError> {
    Ok(crate::school::school_info(r)?
        .map(|i| i.name)
        .unwrap_or_default())
}

fn subject_name(r: &impl Read, id: &str) -> Result<String, StoreError> {
    Ok(r.get(&crate::school::SUBJECTS, id)?
        .map(|s| s.name)
        .unwrap_or_else(|| id.to_string()))
}

fn signed_lines(l: &mut Layout, sigs: &[Signature]) {
    if sigs.is_empty() {
        l.paragraph(9.5, false, 0.0, "Chưa ký.");
        return;
    }
    for s in sigs {
        l.paragraph(
            9.5,
            false,
            0.0,
            &format!(
                "{}: {} · {} · BLAKE3 {}",
                super::action_label(s.action),
                s.name,
                crate::lessons::export::when(&s.at),
                &s.digest[..s.digest.len().min(16)]
            ),
        );
    }
}

/// What a printed plan version is, in the words under its title.
fn version_state(s: crate::lessons::State) -> &'static str {
    use crate::lessons::State as S;
    match s {
        S::Approved => "đã được Ban giám hiệu phê duyệt",
        S::Draft => "Bản nháp, chưa ký, chưa có hiệu lực",
        S::Submitted | S::Reviewed => "đã ký nộp, chờ Ban giám hiệu phê duyệt, chưa có hiệu lực",
        S::Returned => "bị trả lại, chưa có hiệu lực",
    }
}

/// A plan version in its official layout.
pub fn plan(r: &impl Read, plan: &Plan, v: &PlanVersion) -> Result<Vec<u8>, DeptPdfError> {
    let mut l = Layout::new(true);
    let school = school_name(r)?;
    let dept = department_name(r, &v.department)?;
    l.state_header(
        &[
            (&school.to_uppercase(), false),
            (&format!("TỔ: {dept}"), true),
        ],
        &[
            ("CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", true),
            ("Độc lập - Tự do - Hạnh phúc", true),
        ],
    );
    l.centred(13.0, true, v.kind.title());
    // Which version this is and whether it is in force: a draft printed while an approved
    // version is in force must not pass for it (review r20 #4).
    l.centred(
        10.0,
        !matches!(v.state, crate::lessons::State::Approved),
        &format!("Phiên bản {} — {}", v.number, version_state(v.state)),
    );
    let (header, widths, rows): (Vec<&str>, Vec<f32>, Vec<Vec<String>>) = match v.kind {
        Kind::Pl2 => {
            l.centred(
                11.0,
                true,
                &format!("{} — NĂM HỌC {}", v.title.to_uppercase(), v.year),
            );
            (
                vec![
                    "STT",
                    "Chủ đề / hoạt động",
                    "Yêu cầu cần đạt",
                    "Số tiết",
                    "Thời điểm",
                    "Chủ trì",
                    "Phối hợp",
                    "Điều kiện thực hiện",
                ],
                vec![30.0, 140.0, 150.0, 40.0, 70.0, 80.0, 80.0, 120.0],
                v.lines
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        vec![
                            (i + 1).to_string(),
                            x.topic.clone(),
                            x.requirement.clone(),
                            x.periods.to_string(),
                            x.when.clone(),
                            x.lead.clone(),
                            x.partners.clone(),
                            x.conditions.clone(),
                        ]
                    })
                    .collect(),
            )
        }
        _ => {
            let subject = subject_name(r, &v.subject)?;
            let class = if v.kind == Kind::Pl3 {
                format!(", LỚP {}", v.class)
            } else {
                String::new()
            };
            l.centred(
                11.0,
                true,
                &format!(
                    "MÔN HỌC: {}, KHỐI LỚP: {}{class} — NĂM HỌC {}",
                    subject.to_uppercase(),
                    v.grade,
                    v.year
                ),
            );
            let required = super::required_periods(r, &v.subject, v.grade)?;
            let total: u32 = v.lines.iter().map(|x| u32::from(x.periods)).sum();
            l.centred(
                10.0,
                false,
                &format!(
                    "Số tiết cả năm: {total} (chương trình quy định {})",
                    required.map_or("—".to_string(), |n| n.to_string())
                ),
            );
            (
                vec![
                    "STT",
                    "Bài học / chủ đề",
                    "Số tiết",
                    "Thời điểm",
                    "Thiết bị dạy học",
                    "Địa điểm dạy học",
                ],
                vec![30.0, 260.0, 45.0, 80.0, 200.0, 110.0],
                v.lines
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        vec![
                            (i + 1).to_string(),
                            x.topic.clone(),
                            x.periods.to_string(),
                            x.when.clone(),
                            x.equipment.clone(),
                            x.place.clone(),
                        ]
                    })
                    .collect(),
            )
        }
    };
    l.gap(6.0);
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    l.table(&widths, &header, &rows, 9.0);
    l.gap(6.0);
    l.paragraph(
        9.5,
        false,
        0.0,
        &format!(
            "{} · phiên bản {} · {} · người soạn: {}",
            v.kind.short(),
            v.number,
            super::state_label(v.state),
            plan.author_name
        ),
    );
    if let Some(why) = &v.returned {
        l.paragraph(9.5, false, 0.0, &format!("Lý do trả lại: {why}"));
    }
    signed_lines(&mut l, &v.signatures);
    let author_role = if v.kind == Kind::Pl3 {
        "GIÁO VIÊN"
    } else {
        "TỔ TRƯỞNG"
    };
    l.signatures(
        &[author_role, &plan.author_name],
        &["HIỆU TRƯỞNG", "(ký số trên Trạm)"],
    );
    Ok(l.finish()?)
}

/// Minutes of one meeting.
pub fn minutes(r: &impl Read, m: &Minutes, v: &MinutesVersion) -> Result<Vec<u8>, DeptPdfError> {
    let mut l = Layout::new(false);
    let school = school_name(r)?;
    let dept = department_name(r, &m.department)?;
    l.state_header(
        &[
            (&school.to_uppercase(), false),
            (&format!("TỔ: {dept}"), true),
        ],
        &[
            ("CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", true),
            ("Độc lập - Tự do - Hạnh phúc", true),
        ],
    );
    l.centred(13.0, true, "BIÊN BẢN SINH HOẠT CHUYÊN MÔN");
    l.centred(10.0, false, &format!("Ngày họp: {}", vi_day(&v.date)));
    l.gap(6.0);
    let names = super::attendee_names(r, v)?;
    l.paragraph(10.0, true, 0.0, "Thành phần tham dự:");
    l.paragraph(10.0, false, 12.0, &names.join(", "));
    for (head, body) in [
        ("Nội dung chương trình:", &v.agenda),
        ("Diễn biến:", &v.content),
        ("Kết luận:", &v.conclusions),
    ] {
        l.paragraph(10.0, true, 0.0, head);
        if !body.is_empty() {
            l.paragraph(10.0, false, 12.0, body);
        }
    }
    l.gap(6.0);
    l.paragraph(
        9.5,
        false,
        0.0,
        &format!(
            "Phiên bản {}{} · {}",
            v.number,
            if v.number > 1 { " (đính chính)" } else { "" },
            if v.state == crate::lessons::State::Approved {
                "đã ký, đã khoá"
            } else {
                "chưa ký"
            }
        ),
    );
    signed_lines(&mut l, &v.signatures);
    let writer = r
        .get(&crate::auth::ACCOUNTS, &v.writer)?
        .map(|a| a.full_name)
        .unwrap_or_default();
    l.signatures(
        &["THƯ KÝ", &writer],
        &["CHỦ TRÌ (TỔ TRƯỞNG)", "(ký số trên Trạm)"],
    );
    Ok(l.finish()?)
}

/// "2026-09-14" → "14/09/2026".
fn vi_day(d: &str) -> String {
    match d.parse::<jiff::civil::Date>() {
        Ok(d) => crate::lessons::export::date_vi(d),
        Err(_) => d.to_string(),
    }
}
