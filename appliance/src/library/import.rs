//! Bulk import from a folder (a USB stick plugged into the box) with a spreadsheet of metadata,
//! one row per item. Two phases like the student import: `plan` checks every row — the title,
//! the kind, the file (inside the folder, not empty, its content matching its name), subject,
//! grade, ISBN (valid, not already in the library, not twice in the sheet) — and lists every
//! problem; `apply` stores the files, then writes all items in one transaction, or none.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ISBNS, ItemInput, ItemKind, LibraryError, Visibility, normalize_isbn};
use crate::auth::Principal;
use crate::school::import::{
    ImportPlan, RowProblem, field_text, file_problem, read_table, row_is_blank,
};
use crate::store::{Rx, Store, StoreError};
use crate::text::fold;

const FIELDS: &[(&str, &[&str])] = &[
    ("file", &["tep", "ten tep", "file", "tep dinh kem"]),
    (
        "title",
        &["ten tai lieu", "nhan de", "ten sach", "tieu de", "ten"],
    ),
    ("kind", &["loai", "loai tai lieu"]),
    ("authors", &["tac gia"]),
    ("subject", &["mon", "mon hoc"]),
    ("grade", &["khoi", "khoi lop"]),
    ("publisher", &["nha xuat ban", "nxb"]),
    ("year", &["nam", "nam xuat ban"]),
    ("isbn", &["isbn"]),
    ("tags", &["tu khoa"]),
    ("visibility", &["ai duoc xem", "pham vi"]),
    ("copies", &["so ban"]),
];

/// The headers of the template sheet (README).
pub const HEADERS: [&str; 12] = [
    "Tệp",
    "Tên tài liệu",
    "Loại",
    "Tác giả",
    "Môn",
    "Khối",
    "Nhà xuất bản",
    "Năm",
    "ISBN",
    "Từ khoá",
    "Ai được xem",
    "Số bản",
];

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub row: usize,
    pub title: String,
    #[serde(skip)]
    pub input: ItemInput,
    pub file: Option<PathBuf>,
}

fn kind_of(s: &str) -> Option<ItemKind> {
    let f = fold(s);
    ItemKind::ALL
        .into_iter()
        .find(|k| fold(k.label()) == f || k.as_str() == f.replace(' ', "_"))
}

fn visibility_of(s: &str) -> Option<Visibility> {
    match fold(s).as_str() {
        "" | "ca truong" | "toan truong" => Some(Visibility::School),
        "giao vien" | "chi giao vien" => Some(Visibility::Teachers),
        "chia se" | "phong" | "so" | "chia se voi phong/so" | "chia se voi phong" => {
            Some(Visibility::District)
        }
        _ => None,
    }
}

/// Checks the sheet against the folder and the database. Nothing is written.
pub fn plan(rx: &Rx, folder: &Path, sheet: &[u8]) -> Result<ImportPlan<Row>, StoreError> {
    let mut problems = Vec::new();
    let (header_row, cols, rows, notes) = match read_table(sheet, FIELDS, &["title"]) {
        Ok(t) => t,
        Err(p) => {
            return Ok(ImportPlan::unreadable(p));
        }
    };
    if !folder.is_dir() {
        problems.push(file_problem(format!(
            "Không thấy thư mục {} (ổ USB đã cắm chưa?).",
            folder.display()
        )));
    }
    let subjects: Vec<(String, String)> = crate::school::list(rx, &crate::school::SUBJECTS)?
        .into_iter()
        .map(|s| (s.id, fold(&s.name)))
        .collect();
    let mut seen_isbn: HashMap<String, usize> = HashMap::new();
    let mut seen_file: HashSet<PathBuf> = HashSet::new();
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if row_is_blank(&cols, r) {
            continue;
        }
        let row = header_row + 1 + i;
        let mut bad = |field: &str, message: String| {
            problems.push(RowProblem {
                row,
                field: field.into(),
                message,
            })
        };
        let get = |f: &str| field_text(&cols, r, f);
        let title = get("title");
        if title.is_empty() {
            bad("title", "Thiếu tên tài liệu.".into());
        }
        let kind_text = get("kind");
        let kind = if kind_text.is_empty() {
            None
        } else {
            let k = kind_of(&kind_text);
            if k.is_none() {
                bad(
                    "kind",
                    format!(
                        "Loại “{kind_text}” không có (Sách, Sách điện tử, Video, Âm thanh, Ngân hàng câu hỏi, Bài giảng ghi hình)."
                    ),
                );
            }
            k
        };
        let file_name = get("file");
        let mut file = None;
        if !file_name.is_empty() {
            let name_ok = !file_name.contains(['/', '\\', '\0'])
                && file_name != ".."
                && !file_name.starts_with('.');
            let p = folder.join(&file_name);
            if !name_ok {
                bad(
                    "file",
                    format!("Tên tệp “{file_name}” không được chứa đường dẫn."),
                );
            } else if !p.is_file() {
                bad("file", format!("Không có tệp “{file_name}” trong thư mục."));
            } else if let Err(e) = super::upload::check_name(&file_name) {
                bad("file", e.to_string());
            } else {
                let mut head = vec![0u8; 64 * 1024];
                let n = std::fs::File::open(&p)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                    .unwrap_or(0);
                if n == 0 {
                    bad("file", format!("Tệp “{file_name}” rỗng."));
                } else if let Err(e) = super::upload::check_type(&file_name, &head[..n]) {
                    bad("file", e.to_string());
                } else if !seen_file.insert(p.clone()) {
                    bad("file", format!("Tệp “{file_name}” xuất hiện hai lần."));
                } else {
                    file = Some(p);
                }
            }
        }
        let kind = kind.unwrap_or(if file.is_some() {
            ItemKind::Ebook
        } else {
            ItemKind::Book
        });
        if kind != ItemKind::Book && file_name.is_empty() {
            bad("file", "Tài liệu số cần có tệp.".into());
        }
        let subject_text = get("subject");
        let subject = if subject_text.is_empty() {
            None
        } else {
            let f = fold(&subject_text);
            let s = subjects
                .iter()
                .find(|(id, name)| *name == f || *id == subject_text);
            if s.is_none() {
                bad(
                    "subject",
                    format!("Môn “{subject_text}” không có trong danh sách môn."),
                );
            }
            s.map(|s| s.0.clone())
        };
        let num = |f: &str, min: u32, max: u32, what: &str, bad: &mut dyn FnMut(&str, String)| {
            let t = get(f);
            if t.is_empty() {
                return None;
            }
            match t.parse::<u32>() {
                Ok(v) if (min..=max).contains(&v) => Some(v),
                _ => {
                    bad(f, format!("{what} “{t}” không hợp lệ."));
                    None
                }
            }
        };
        let grade = num("grade", 1, 12, "Khối", &mut bad).map(|g| g as u8);
        let year = num("year", 1900, 2100, "Năm", &mut bad).map(|y| y as u16);
        let copies = num("copies", 0, 10_000, "Số bản", &mut bad);
        let isbn_text = get("isbn");
        let isbn = if isbn_text.is_empty() {
            None
        } else {
            match normalize_isbn(&isbn_text) {
                None => {
                    bad("isbn", format!("ISBN “{isbn_text}” không hợp lệ."));
                    None
                }
                Some(n) => {
                    if rx.get(&ISBNS, &n)?.is_some() {
                        bad("isbn", format!("ISBN {n} đã có trong thư viện."));
                    } else if let Some(other) = seen_isbn.insert(n.clone(), row) {
                        bad("isbn", format!("ISBN {n} trùng với dòng {other}."));
                    }
                    Some(n)
                }
            }
        };
        let vis_text = get("visibility");
        let visibility = visibility_of(&vis_text);
        if visibility.is_none() {
            bad(
                "visibility",
                format!("“{vis_text}”: ghi Cả trường, Giáo viên hoặc Chia sẻ."),
            );
        }
        let list = |f: &str| -> Vec<String> {
            get(f)
                .split([',', ';'])
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        out.push(Row {
            row,
            title: title.clone(),
            input: ItemInput {
                kind: Some(kind),
                title: Some(title),
                authors: list("authors"),
                subject,
                grade,
                publisher: Some(get("publisher")),
                year,
                isbn,
                tags: list("tags"),
                visibility,
                copies,
                ..Default::default()
            },
            file,
        });
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(file_problem("Bảng tính không có dòng nào.".into()));
    }
    problems.extend(notes.problems);
    Ok(ImportPlan {
        rows: out,
        problems,
        updates: 0,
        notes: notes.notes,
    })
}

/// Stores the files (content-addressed, durable before any row names them), then every item
/// in one transaction. Refuses a plan with problems.
pub fn apply(store: &Store, p: &Principal, plan: ImportPlan<Row>) -> Result<usize, LibraryError> {
    if !plan.is_clean() {
        return Err(LibraryError::Invalid(
            "Bảng tính còn lỗi; sửa rồi nhập lại (chưa nhập gì).".into(),
        ));
    }
    let mut files = Vec::with_capacity(plan.rows.len());
    for r in &plan.rows {
        files.push(match &r.file {
            Some(path) => {
                let f = std::fs::File::open(path).map_err(StoreError::from)?;
                let (blob, size) = store
                    .blobs
                    .put(std::io::BufReader::with_capacity(1 << 20, f))
                    .map_err(StoreError::from)?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let mime = super::upload::mime_of(&name).to_string();
                Some(super::FileRef {
                    blob,
                    size,
                    mime,
                    name,
                })
            }
            None => None,
        });
    }
    let actor = crate::store::Actor {
        id: p.id().to_string(),
        now: jiff::Timestamp::now(),
    };
    let n = plan.rows.len();
    store.write(&actor, |tx| {
        for (r, f) in plan.rows.into_iter().zip(files) {
            super::save_item(tx, p, None, r.input, f, None)?;
        }
        Ok::<_, LibraryError>(())
    })?;
    Ok(n)
}
