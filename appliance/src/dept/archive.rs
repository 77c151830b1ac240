//! The tổ's records in the school's archive of a year (`app::records::SOURCES`): each approved
//! plan (Phụ lục I, II, III) at its approved version and each signed meeting minutes at its
//! newest signed version, printed as the plan and minutes pages print them.

use super::{Kind, MINUTES, MINUTES_VERSIONS, PLAN_VERSIONS, PLANS, key};
use crate::school::archive::RecordFile;
use crate::store::{Read, Store};

/// The tổ's approved plans of `year` ("2026-2027") and the minutes of meetings held in it.
pub fn archive(store: &Store, year: &str) -> Result<Vec<RecordFile>, String> {
    let start: i32 = year
        .get(0..4)
        .and_then(|y| y.parse().ok())
        .ok_or_else(|| format!("not a school year: {year}"))?;
    // A school year runs from August to the end of July.
    let (from, to) = (format!("{start}-08-01"), format!("{}-07-31", start + 1));
    let rx = store.read().map_err(|e| e.to_string())?;
    let e = |e: crate::store::StoreError| e.to_string();
    let mut out = Vec::new();
    for (id, plan) in rx.scan(&PLANS, "").map_err(e)? {
        let Some(n) = plan.approved_version.filter(|_| plan.year == year) else {
            continue;
        };
        let Some(v) = rx.get(&PLAN_VERSIONS, &key(&id, n)).map_err(e)? else {
            continue;
        };
        let kind = match v.kind {
            Kind::Pl1 => "pl1",
            Kind::Pl2 => "pl2",
            Kind::Pl3 => "pl3",
        };
        out.push(RecordFile {
            path: format!(
                "to-chuyen-mon/{}/ke-hoach-{kind}-{}-v{n}.pdf",
                folder(&rx, &plan.department),
                crate::school::slug(&id)
            ),
            kind: "ke-hoach-to-chuyen-mon",
            title: v.kind.title().to_string(),
            class: None,
            department: Some(plan.department.clone()),
            // The approval is an Ed25519 statement the box verifies (`/dept/plan/{id}`), not a
            // signature inside this PDF.
            signed: false,
            bytes: super::pdf::plan(&rx, &plan, &v).map_err(|e| e.to_string())?,
        });
    }
    for (id, m) in rx.scan(&MINUTES, "").map_err(e)? {
        let Some(n) = m.signed_version else {
            continue;
        };
        if m.date < from || m.date > to {
            continue;
        }
        let Some(v) = rx.get(&MINUTES_VERSIONS, &key(&id, n)).map_err(e)? else {
            continue;
        };
        out.push(RecordFile {
            path: format!(
                "to-chuyen-mon/{}/bien-ban-{}-{}-v{n}.pdf",
                folder(&rx, &m.department),
                m.date,
                crate::school::slug(&id)
            ),
            kind: "bien-ban-sinh-hoat-chuyen-mon",
            title: "BIÊN BẢN SINH HOẠT CHUYÊN MÔN".into(),
            class: None,
            department: Some(m.department.clone()),
            signed: false,
            bytes: super::pdf::minutes(&rx, &m, &v).map_err(|e| e.to_string())?,
        });
    }
    Ok(out)
}

/// The department's folder: its name in plain ASCII ("to-toan-tin"), else its id.
fn folder(rx: &impl Read, department: &str) -> String {
    let name = super::department_name(rx, department).unwrap_or_default();
    let s = crate::school::slug(if name.is_empty() { department } else { &name });
    if s.is_empty() { "to".into() } else { s }
}
