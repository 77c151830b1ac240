//! The printed sổ đăng bộ of a school year: the state header, the title, and one table row
//! per register line in the paper book's columns (`school::register::HEADERS`), landscape.
//! A struck line is printed, never left out, with the reason in its note. The last page carries
//! the book's certification as on paper: "Sổ này có … trang, đánh số từ 1 đến …" with the
//! count filled in (laid out twice: the count is known once the table is laid out).

use super::pdf::{Layout, PdfError};
use crate::school::SchoolInfo;
use crate::school::register::{HEADERS, RegisterRow};

pub fn register_pdf(
    school: &SchoolInfo,
    year: &str,
    rows: &[RegisterRow],
) -> Result<Vec<u8>, PdfError> {
    // The count's digits do not change the layout: a placeholder as wide as any real count.
    let pages = layout(school, year, rows, "…").page_count();
    layout(school, year, rows, &pages.to_string()).finish()
}

fn layout(school: &SchoolInfo, year: &str, rows: &[RegisterRow], pages: &str) -> Layout {
    let mut l = Layout::new(true);
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
    l.centred(16.0, true, "SỔ ĐĂNG BỘ");
    l.centred(11.0, false, &format!("Năm học {year}"));
    l.gap(8.0);
    let widths = [
        30.0, 70.0, 42.0, 26.0, 46.0, 30.0, 72.0, 56.0, 60.0, 40.0, 42.0, 26.0, 44.0, 66.0, 30.0,
        60.0,
    ];
    let header: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.number.to_string()];
            cells.extend(r.cells());
            cells
        })
        .collect();
    l.table_with(&widths, &header, &body, 7.0, Some(6.5));
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
