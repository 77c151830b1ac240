//! The demo's library catalogue, as a lower-secondary (THCS) school's library holds it: the
//! 2018-programme (GDPT 2018) textbooks for grades 6–9 of the three series schools choose from,
//! paper copies to lend, teacher guides, recorded lessons, question banks for teachers, small
//! real PDFs to read, and one school-made guide shared with the district.

use super::*;

/// An ISBN-13 in Vietnam's 978-604 range with a valid check digit (not the book's real ISBN:
/// the demo only needs numbers the ISBN check accepts and that are unique).
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

/// A valid MP4 with no frames (an `ftyp` box and a `moov` holding only its `mvhd`): the demo's
/// recorded lessons play as empty videos, because a real recording would weigh megabytes in
/// every test that seeds the demo. `seconds` only makes each file differ (stored once by hash).
fn empty_mp4(seconds: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(140);
    v.extend_from_slice(&24u32.to_be_bytes());
    v.extend_from_slice(b"ftypisom");
    v.extend_from_slice(&0x200u32.to_be_bytes());
    v.extend_from_slice(b"isommp41");
    v.extend_from_slice(&116u32.to_be_bytes());
    v.extend_from_slice(b"moov");
    v.extend_from_slice(&108u32.to_be_bytes());
    v.extend_from_slice(b"mvhd");
    v.extend_from_slice(&[0; 12]); // version, flags, creation and modification times
    v.extend_from_slice(&1000u32.to_be_bytes()); // time scale: milliseconds
    v.extend_from_slice(&(seconds * 1000).to_be_bytes()); // duration
    v.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    v.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    v.extend_from_slice(&[0; 10]);
    for m in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        v.extend_from_slice(&m.to_be_bytes()); // the identity matrix
    }
    v.extend_from_slice(&[0; 24]);
    v.extend_from_slice(&1u32.to_be_bytes()); // next track id
    v
}

const GDVN: &str = "NXB Giáo dục Việt Nam";
const DHSP: &str = "NXB Đại học Sư phạm";
const KNTT: &str = "Kết nối tri thức với cuộc sống";
const CTST: &str = "Chân trời sáng tạo";
const CD: &str = "Cánh Diều";

/// One demo item: what a librarian would type in.
struct Demo {
    kind: crate::library::ItemKind,
    title: String,
    /// "Tổng chủ biên, chủ biên…" as the cover names them, or the department that made it.
    authors: &'static str,
    /// The subject as the school names it (`SUBJECTS`), tagged by its id.
    subject: &'static str,
    grade: u8,
    publisher: Option<&'static str>,
    copies: u32,
    visibility: crate::library::Visibility,
    collection: &'static str,
    description: &'static str,
    file: Option<crate::library::FileRef>,
}

/// The demo catalogue. The order is the ids' (li-demo00…): the first item is a PDF anyone may
/// read (the open OPDS feed starts with it) and li-demo01 is the paper book with 5 copies the
/// lending tests borrow.
pub(super) fn seed_library(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    use crate::auth::Role;
    use crate::library::{FileRef, Item, ItemKind, Review, ReviewState, Visibility};
    let file = |name: &str, mime: &str, bytes: Vec<u8>| -> anyhow::Result<Option<FileRef>> {
        let (blob, size) = store.blobs.put(&bytes[..])?;
        Ok(Some(FileRef {
            blob,
            size,
            mime: mime.into(),
            name: name.into(),
        }))
    };
    let (pdf, mp4, text) = ("application/pdf", "video/mp4", "text/plain; charset=utf-8");
    let sgk = "Sách giáo khoa GDPT 2018";
    let book = |title: String,
                authors: &'static str,
                subject: &'static str,
                grade: u8,
                publisher: &'static str,
                copies: u32| Demo {
        kind: ItemKind::Book,
        title,
        authors,
        subject,
        grade,
        publisher: Some(publisher),
        copies,
        visibility: Visibility::School,
        collection: sgk,
        description: "",
        file: None,
    };
    let guide = |title: String, authors: &'static str, subject: &'static str, grade: u8| Demo {
        visibility: Visibility::Teachers,
        collection: "Sách giáo viên",
        ..book(title, authors, subject, grade, GDVN, 2)
    };
    let bank = |title: &str, subject: &'static str, grade: u8, name: &str, body: &str| {
        anyhow::Ok(Demo {
            kind: ItemKind::QuestionBank,
            authors: "",
            publisher: None,
            copies: 0,
            collection: "Ngân hàng câu hỏi của trường",
            file: file(name, text, body.as_bytes().to_vec())?,
            ..guide(title.into(), "", subject, grade)
        })
    };
    let entries: Vec<Demo> = vec![
        Demo {
            kind: ItemKind::Ebook,
            copies: 0,
            file: file(
                "ngu-van-6-tap-mot.pdf",
                pdf,
                demo_pdf(
                    "Ngữ văn 6, tập một",
                    &[
                        "Bài 1. Tôi và các bạn",
                        "Đọc: Bài học đường đời đầu tiên (trích Dế Mèn phiêu lưu kí, Tô Hoài).",
                        "Thực hành tiếng Việt: từ đơn, từ phức (từ ghép, từ láy).",
                    ],
                ),
            )?,
            ..book(
                format!("Ngữ văn 6, tập một — {KNTT}"),
                "Bùi Mạnh Hùng, Nguyễn Thị Ngân Hoa, Dương Tuấn Anh",
                "Ngữ văn",
                6,
                GDVN,
                0,
            )
        },
        book(
            format!("Toán 6, tập một — {KNTT}"),
            "Hà Huy Khoái, Nguyễn Huy Đoan",
            "Toán",
            6,
            GDVN,
            5,
        ),
        book(
            format!("Ngữ văn 7, tập hai — {CTST}"),
            "Nguyễn Thị Hồng Nam, Nguyễn Thành Thi",
            "Ngữ văn",
            7,
            GDVN,
            3,
        ),
        book(
            format!("Toán 7, tập một — {CTST}"),
            "Trần Nam Dũng, Trần Đức Huyên, Nguyễn Thành Anh",
            "Toán",
            7,
            GDVN,
            4,
        ),
        book(
            format!("Khoa học tự nhiên 8 — {CD}"),
            "Mai Sỹ Tuấn, Đinh Quang Báo",
            "Khoa học tự nhiên",
            8,
            DHSP,
            4,
        ),
        book(
            format!("Toán 9, tập một — {CD}"),
            "Đỗ Đức Thái",
            "Toán",
            9,
            DHSP,
            3,
        ),
        book(
            format!("Khoa học tự nhiên 6 — {KNTT}"),
            "Vũ Văn Hùng",
            "Khoa học tự nhiên",
            6,
            GDVN,
            3,
        ),
        book(
            format!("Lịch sử và Địa lí 8 — {KNTT}"),
            "Vũ Minh Giang, Nghiêm Đình Vỳ, Đào Ngọc Hùng",
            "Lịch sử và Địa lí",
            8,
            GDVN,
            3,
        ),
        book(
            format!("Giáo dục công dân 7 — {KNTT}"),
            "Nguyễn Thị Toan",
            "Giáo dục công dân",
            7,
            GDVN,
            2,
        ),
        book(
            format!("Tin học 8 — {KNTT}"),
            "Nguyễn Chí Công",
            "Tin học",
            8,
            GDVN,
            2,
        ),
        book(
            format!("Công nghệ 6 — {KNTT}"),
            "Lê Huy Hoàng",
            "Công nghệ",
            6,
            GDVN,
            2,
        ),
        book(
            "Tiếng Anh 9 — Global Success (sách học sinh)".into(),
            "Hoàng Văn Vân",
            "Ngoại ngữ 1",
            9,
            GDVN,
            3,
        ),
        book(
            format!("Hoạt động trải nghiệm, hướng nghiệp 7 — {KNTT}"),
            "Lưu Thu Thủy",
            "Hoạt động trải nghiệm, hướng nghiệp",
            7,
            GDVN,
            2,
        ),
        book(
            format!("Âm nhạc 8 — {KNTT}"),
            "Hoàng Long, Đỗ Thị Minh Chính",
            "Nghệ thuật",
            8,
            GDVN,
            2,
        ),
        book(
            format!("Mĩ thuật 6 — {CTST}"),
            "Nguyễn Thị Nhung, Nguyễn Tuấn Cường",
            "Nghệ thuật",
            6,
            GDVN,
            2,
        ),
        book(
            format!("Giáo dục thể chất 9 — {KNTT}"),
            "Nguyễn Duy Quyết, Hồ Đắc Sơn",
            "Giáo dục thể chất",
            9,
            GDVN,
            2,
        ),
        guide(
            format!("Sách giáo viên Ngữ văn 9, tập một — {KNTT}"),
            "Bùi Mạnh Hùng",
            "Ngữ văn",
            9,
        ),
        guide(
            format!("Sách giáo viên Khoa học tự nhiên 7 — {CTST}"),
            "Cao Cự Giác",
            "Khoa học tự nhiên",
            7,
        ),
        Demo {
            kind: ItemKind::RecordedLesson,
            authors: "Tổ Toán – Tin",
            publisher: None,
            copies: 0,
            visibility: Visibility::School,
            collection: "Bài giảng của trường",
            description: "Tiết dạy ghi hình ở lớp 9A1, học kì I: giải hệ bằng phương pháp thế.",
            file: file("toan-9-he-phuong-trinh.mp4", mp4, empty_mp4(2_460))?,
            ..guide(
                "Bài giảng ghi hình: Hệ hai phương trình bậc nhất hai ẩn (Toán 9)".into(),
                "",
                "Toán",
                9,
            )
        },
        Demo {
            kind: ItemKind::Video,
            authors: "Tổ Khoa học tự nhiên – Công nghệ",
            publisher: None,
            copies: 0,
            visibility: Visibility::School,
            collection: "Bài giảng của trường",
            description: "Quả cầu kim loại và vòng: nung nóng, quả cầu không lọt qua vòng.",
            file: file("khtn-8-no-vi-nhiet.mp4", mp4, empty_mp4(185))?,
            ..guide(
                "Video thí nghiệm: Sự nở vì nhiệt của chất rắn (Khoa học tự nhiên 8)".into(),
                "",
                "Khoa học tự nhiên",
                8,
            )
        },
        bank(
            "Ngân hàng câu hỏi Lịch sử và Địa lí 8",
            "Lịch sử và Địa lí",
            8,
            "cau-hoi-ls-dl-8.txt",
            "Câu 1. Cách mạng tư sản Anh diễn ra vào thế kỉ nào?\n\
             A. XVI  B. XVII  C. XVIII  D. XIX\nĐáp án: B\n",
        )?,
        bank(
            "Ngân hàng câu hỏi Toán 7 — Số hữu tỉ",
            "Toán",
            7,
            "cau-hoi-toan-7-so-huu-ti.txt",
            "Câu 1. Số nào sau đây là số hữu tỉ âm?\n\
             A. 0  B. 3/4  C. −2/5  D. 1,5\nĐáp án: C\n",
        )?,
        bank(
            "Ngân hàng câu hỏi Tiếng Anh 6 — Unit 1: My New School",
            "Ngoại ngữ 1",
            6,
            "cau-hoi-tieng-anh-6-unit-1.txt",
            "Câu 1. Choose the word whose underlined part is pronounced differently:\n\
             A. school  B. chalk  C. child  D. lunch\nĐáp án: A\n",
        )?,
        Demo {
            kind: ItemKind::Ebook,
            authors: "Tổ Khoa học tự nhiên – Công nghệ",
            publisher: None,
            copies: 0,
            visibility: Visibility::District,
            collection: "Tài liệu của trường",
            file: file(
                "khtn-6-thi-nghiem.pdf",
                pdf,
                demo_pdf(
                    "Khoa học tự nhiên 6 – Hướng dẫn thí nghiệm",
                    &["Thí nghiệm 1: quan sát tế bào biểu bì vảy hành bằng kính hiển vi."],
                ),
            )?,
            ..guide(
                "Khoa học tự nhiên 6 – Hướng dẫn thí nghiệm".into(),
                "",
                "Khoa học tự nhiên",
                6,
            )
        },
    ];
    // Who put each item in and where its vetting stands (issue 25), as a newcomer should find
    // it: the textbooks are the librarian's, accepted as shared; the teachers' own items were
    // accepted by their tổ trưởng, the one shared with the district by the principal; one
    // waits for the head of Khoa học tự nhiên – Công nghệ (gv01), one for the head of Ngoại
    // ngữ, and one went back to its author with the reason.
    let rx = store.read()?;
    let accounts = crate::auth::list_accounts(&rx)?;
    let subjects = school::list(&rx, &school::SUBJECTS)?;
    drop(rx);
    let id_of = |pred: &dyn Fn(&crate::auth::Account) -> bool| {
        accounts
            .iter()
            .find(|a| pred(a))
            .map(|a| a.id.clone())
            .ok_or_else(|| anyhow::anyhow!("the demo lacks an account the catalogue names"))
    };
    let librarian = id_of(&|a| a.has(Role::Admin))?;
    let principal = id_of(&|a| a.has(Role::Principal))?;
    let stamp = now.to_string();
    let vetting = |d: &Demo| -> anyhow::Result<(String, Review)> {
        let accepted_by = |by: &str, department: Option<String>| Review {
            state: ReviewState::Accepted,
            department,
            by: Some(by.to_string()),
            at: Some(stamp.clone()),
            reason: None,
            district: None,
        };
        if d.publisher.is_some() {
            return Ok((librarian.clone(), accepted_by(&librarian, None)));
        }
        let dept = subjects
            .iter()
            .find(|s| s.name == d.subject)
            .and_then(|s| s.department.clone())
            .ok_or_else(|| anyhow::anyhow!("the demo subject {} has no tổ", d.subject))?;
        let in_dept = |a: &crate::auth::Account| a.department.as_deref() == Some(dept.as_str());
        let head = id_of(&|a| a.has(Role::DeptHead) && in_dept(a))?;
        let author = id_of(&|a| in_dept(a) && !a.has(Role::DeptHead) && !a.is_bgh())?;
        let review = if d.title.contains("Unit 1") || d.title.contains("Sự nở vì nhiệt") {
            Review {
                state: ReviewState::Waiting,
                department: Some(dept),
                ..Review::default()
            }
        } else if d.title.contains("Số hữu tỉ") {
            Review {
                state: ReviewState::Returned,
                reason: Some(
                    "Mới có 1 câu. Tổ thống nhất mỗi ngân hàng câu hỏi có ít nhất 20 câu, ghi rõ \
                     mức độ nhận biết – thông hiểu – vận dụng; bổ sung rồi gửi lại."
                        .into(),
                ),
                ..accepted_by(&head, Some(dept))
            }
        } else if d.visibility == Visibility::District {
            accepted_by(&principal, Some(dept))
        } else {
            accepted_by(&head, Some(dept))
        };
        Ok((author, review))
    };
    let entries: Vec<(Demo, String, Review)> = entries
        .into_iter()
        .map(|d| {
            let (owner, review) = vetting(&d)?;
            Ok((d, owner, review))
        })
        .collect::<anyhow::Result<_>>()?;
    let actor = Actor::system(now);
    store.write(&actor, |tx| -> Result<(), StoreError> {
        for (n, (d, owner, review)) in entries.into_iter().enumerate() {
            let id = format!("li-demo{n:02}");
            let now = now.to_string();
            let item = Item {
                authors: d
                    .authors
                    .split(", ")
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
                subject: Some(school::slug(d.subject)),
                grade: Some(d.grade),
                publisher: d.publisher.map(str::to_string),
                // Each grade's books of the 2018 programme came out a year after the last.
                year: d.publisher.map(|_| 2015 + u16::from(d.grade)),
                isbn: d.publisher.map(|_| isbn13(&format!("0{n:05}"))),
                description: d.description.into(),
                collections: vec![d.collection.into()],
                file: d.file,
                visibility: d.visibility,
                copies: d.copies,
                review,
                ..Item::new(id, d.kind, &d.title, &owner, &now)
            };
            crate::library::store_new(tx, &item)?;
        }
        Ok(())
    })?;
    Ok(())
}
