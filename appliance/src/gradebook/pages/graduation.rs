//! Xét công nhận tốt nghiệp: BGH's page over `graduation` — the last grade's students with
//! their year results, who may be listed and why not, the decision's number and date; it puts
//! the whole list through `PUT /api/v1/grades/graduation/{year}` (`graduation::record`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::super::{GradeError, graduation};
use crate::auth::Action;
use crate::auth::extract::PageUser;
use crate::auth::pages::{chrome, page};
use crate::http::{ApiError, Shared, render};
use crate::school;

#[derive(Deserialize)]
pub(super) struct YearQuery {
    year: Option<String>,
}

page!(GraduationPage, "graduation.html" {
    year: String,
    years: Vec<String>,
    groups: Vec<(String, Vec<graduation::Candidate>)>,
    decision: String,
    decided_on: String,
    date_example: String,
    recorded: usize,
});

/// `/grades/graduation?year=`: BGH (who lock the terms) only; the current year by default.
pub(super) async fn graduation_page(
    State(s): State<Shared>,
    headers: HeaderMap,
    PageUser(u): PageUser,
    typed: crate::http::PageQuery<YearQuery>,
) -> Result<Response, ApiError> {
    if !crate::auth::may_see(&u.principal, Action::LockTerm) {
        return Err(GradeError::Forbidden.into());
    }
    let rx = s.store.read()?;
    let mut years: Vec<String> = school::list(&rx, &school::YEARS)?
        .into_iter()
        .map(|y| y.id)
        .collect();
    years.sort();
    years.reverse();
    let current = school::school_info(&rx)?
        .map(|i| i.current_year)
        .unwrap_or_default();
    // A year that does not read, names no year of the school, or is given twice: the reason,
    // the school's years as links, the menu — never another year's list (review r21 #5).
    let asked = typed
        .filters
        .and_then(|q| match q.year.filter(|y| !y.trim().is_empty()) {
            Some(y) if years.contains(&y) => Ok(Some(y)),
            Some(y) => Err(format!(
                "Năm học “{}” không có trong hồ sơ của trường: chọn một trong các năm học {}.",
                y.chars().take(20).collect::<String>(),
                years.join(", ")
            )),
            None => Ok(None),
        });
    let year = match asked {
        Ok(y) => y.unwrap_or(current),
        Err(why) => {
            let choices = years
                .iter()
                .map(|y| {
                    (
                        format!("/grades/graduation?year={y}"),
                        format!("Năm học {y}"),
                    )
                })
                .collect();
            return crate::auth::pages::refused_filter(
                &s,
                &u,
                &headers,
                typed.page,
                "Xét công nhận tốt nghiệp",
                why,
                choices,
            );
        }
    };
    let list = graduation::of_year(&rx, &year)?;
    let (decision, decided_on) = list
        .first()
        .map(|g| (g.decision.clone(), school::changes::vi_date(&g.decided_on)))
        .unwrap_or_default();
    // By class, in the order `candidates` gives (grade, class, name).
    let mut groups: Vec<(String, Vec<graduation::Candidate>)> = Vec::new();
    for c in graduation::candidates(&rx, &year)? {
        match groups.last_mut() {
            Some((name, list)) if *name == c.class_name => list.push(c),
            _ => groups.push((c.class_name.clone(), vec![c])),
        }
    }
    let date_example = date_example(&year);
    Ok(render(GraduationPage::new(
        chrome(&s, &u, &headers),
        year,
        years,
        groups,
        decision,
        decided_on,
        date_example,
        list.len(),
    )))
}

/// The date field's example: 20 June at the end of the year shown ("20/06/2027" for
/// 2026-2027), never a fixed year.
fn date_example(year: &str) -> String {
    match year.split_once('-').map(|(_, end)| end) {
        Some(end) if end.len() == 4 => format!("20/06/{end}"),
        _ => format!("20/06/{}", jiff::Zoned::now().year()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_example_is_in_the_year_shown() {
        assert_eq!(super::date_example("2026-2027"), "20/06/2027");
        assert_eq!(super::date_example("2031-2032"), "20/06/2032");
        let now = jiff::Zoned::now().year();
        assert_eq!(super::date_example(""), format!("20/06/{now}"));
    }
}
