//! The demo's library catalogue: paper books with valid ISBNs and copies to lend, small real
//! PDFs to read, a question bank, a teachers-only item and one shared with the district.

use super::*;

/// An ISBN-13 in Vietnam's 978-604 range with a valid check digit.
fn isbn13(body: &str) -> String {
    let digits = format!("978604{body}");
    let sum: u32 = digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d } else { d * 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// A small real PDF with a title page and a few lines (demo library files).
pub(super) fn demo_pdf(title: &str, lines: &[&str]) -> Vec<u8> {
    let mut l = crate::gradebook::pdf::Layout::new(false);
    l.centred(16.0, true, title);
    l.gap(12.0);
    for line in lines {
        l.line(11.0, false, line);
    }
    l.finish().unwrap_or_default()
}

/// kind, title, authors, subject, grade, file, paper copies, visibility.
type DemoItem = (
    crate::library::ItemKind,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<u8>,
    Option<crate::library::FileRef>,
    u32,
    crate::library::Visibility,
);

/// The demo catalogue: paper books with copies to lend, PDFs to read, a question bank, one
/// teachers-only item and one shared with the district.
pub(super) fn seed_library(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    use crate::library::{FileRef, Item, ItemKind, Visibility};
    let file = |name: &str, mime: &str, bytes: Vec<u8>| -> anyhow::Result<FileRef> {
        let (blob, size) = store.blobs.put(&bytes[..])?;
        Ok(FileRef {
            blob,
            size,
            mime: mime.into(),
            name: name.into(),
        })
    };
    let pdf = "application/pdf";
    let entries: Vec<DemoItem> = vec![
        (ItemKind::Ebook, "Tiếng Việt 6", "Nhiều tác giả", None, Some(6),
         Some(file("tieng-viet-6.pdf", pdf, demo_pdf("Tiếng Việt 6", &[
             "Bài 1. Tiếng Việt giàu và đẹp.",
             "Đọc hiểu: Đất nước mình có bao nhiêu dòng sông, bấy nhiêu câu hò.",
             "Luyện tập: tìm từ láy, từ ghép trong đoạn văn.",
         ]))?), 0, Visibility::School),
        (ItemKind::Book, "Toán 6 – Tập một", "Hà Huy Khoái, Nguyễn Huy Đoan", Some("toan"), Some(6), None, 5, Visibility::School),
        (ItemKind::Book, "Ngữ văn 7 – Tập hai", "Bùi Mạnh Hùng", Some("ngu-van"), Some(7), None, 3, Visibility::School),
        (ItemKind::Ebook, "Đất nước (trích Mặt đường khát vọng)", "Nguyễn Khoa Điềm", Some("ngu-van"), Some(9),
         Some(file("dat-nuoc.pdf", pdf, demo_pdf("Đất nước", &[
             "Khi ta lớn lên Đất Nước đã có rồi",
             "Đất Nước có trong những cái “ngày xửa ngày xưa…” mẹ thường hay kể.",
         ]))?), 0, Visibility::School),
        (ItemKind::QuestionBank, "Ngân hàng câu hỏi Lịch sử và Địa lí 8", "Tổ Xã hội", Some("lich-su-va-dia-li"), Some(8),
         Some(file("cau-hoi-ls-dl-8.txt", "text/plain; charset=utf-8",
             "Câu 1. Cách mạng tư sản Anh diễn ra vào thế kỉ nào?\nA. XVI  B. XVII  C. XVIII  D. XIX\nĐáp án: B\n".as_bytes().to_vec())?), 0, Visibility::Teachers),
        (ItemKind::Ebook, "Khoa học tự nhiên 6 – Hướng dẫn thí nghiệm", "Tổ Tự nhiên", Some("khoa-hoc-tu-nhien"), Some(6),
         Some(file("khtn-6-thi-nghiem.pdf", pdf, demo_pdf("Khoa học tự nhiên 6", &[
             "Thí nghiệm 1: quan sát tế bào biểu bì vảy hành bằng kính hiển vi.",
         ]))?), 0, Visibility::District),
    ];
    let actor = Actor::system(now);
    store.write(&actor, |tx| -> Result<(), StoreError> {
        for (n, (kind, title, authors, subject, grade, f, copies, vis)) in
            entries.into_iter().enumerate()
        {
            let id = format!("li-demo{n:02}");
            let now = now.to_string();
            let item = Item {
                authors: authors.split(", ").map(str::to_string).collect(),
                subject: subject.map(str::to_string),
                grade,
                publisher: Some("NXB Giáo dục Việt Nam".into()),
                year: Some(2021),
                isbn: (kind == ItemKind::Book).then(|| isbn13(&format!("0{n:05}"))),
                file: f,
                visibility: vis,
                copies,
                ..Item::new(id, kind, title, "system", &now)
            };
            crate::library::store_new(tx, &item)?;
        }
        Ok(())
    })?;
    Ok(())
}
