//! The printed sổ đăng bộ of a school year: the state header, the title, and one table row
//! per register line in the paper book's columns (`school::register::HEADERS`), landscape.
//! A struck line is printed, never left out, with the reason in its note.

use super::pdf::{Layout, PdfError};
use crate::school::SchoolInfo;
use crate::school::register::{HEADERS, RegisterRow};

pub fn register_pdf(
    school: &SchoolInfo,
    year: &str,
    rows: &[RegisterRow],
) -> Result<Vec<u8>, PdfError> {
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
        34.0, 80.0, 46.0, 30.0, 52.0, 34.0, 86.0, 70.0, 46.0, 30.0, 52.0, 80.0, 40.0, 60.0,
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
    l.signatures(&[""], &["HIỆU TRƯỞNG", "(Kí, ghi rõ họ tên và đóng dấu)"]);
    l.finish()
}
