//! The gradebook's records in the school's archive (`app::records`): the sổ đăng bộ of the year
//! (PDF and xlsx — printed here, the school keeps its lines) and every student's học bạ, the
//! newest signed version where one exists, else the unsigned print with its data embedded.

use crate::school::archive::RecordFile;
use crate::store::Store;

/// Sổ đăng bộ of `year`: the lines of the students who entered in it, as the register pages print
/// and export them.
pub fn register(store: &Store, year: &str) -> Result<Vec<RecordFile>, String> {
    let rx = store.read().map_err(|e| e.to_string())?;
    let Some(info) = crate::school::school_info(&rx).map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    let rows = super::register::rows(&rx, year).map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let pdf = super::register::register_pdf(&info, year, &rows).map_err(|e| e.to_string())?;
    let xlsx = crate::school::register::xlsx(&rows, &info.name, year, &info.grades())
        .map_err(|e| e.to_string())?;
    let file = |ext: &str, bytes| RecordFile {
        path: format!("so-dang-bo/so-dang-bo-{year}.{ext}"),
        kind: "so-dang-bo",
        title: "SỔ ĐĂNG BỘ".into(),
        class: None,
        department: None,
        signed: false,
        bytes,
    };
    Ok(vec![file("pdf", pdf), file("xlsx", xlsx)])
}

/// Every student's học bạ of `year`, class by class, students who left the class included (their
/// học bạ goes into their transfer file and stays in the archive).
pub fn hocba(store: &Store, year: &str) -> Result<Vec<RecordFile>, String> {
    let rx = store.read().map_err(|e| e.to_string())?;
    let st = super::settings(&rx).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for class in super::lock::classes_of_year(&rx, year).map_err(|e| e.to_string())? {
        let book =
            super::book::class_book_with(&rx, &class.id, &st, true).map_err(|e| e.to_string())?;
        for (i, student) in book.students.iter().enumerate() {
            let signed =
                super::hocba::latest(&rx, &class.id, &student.id).map_err(|e| e.to_string())?;
            let (bytes, signed, version) = match signed {
                Some(s) => (s.pdf_bytes().map_err(|e| e.to_string())?, true, s.version),
                None => (
                    super::hocba::print(&rx, &book, i).map_err(|e| e.to_string())?,
                    false,
                    0,
                ),
            };
            // The name and the mã định danh say whose file it is without opening it; the
            // random id keeps two namesakes apart.
            let name = crate::school::slug(&student.full_name);
            let v = if signed {
                format!("-ky-v{version}")
            } else {
                "-chua-ky".to_string()
            };
            out.push(RecordFile {
                path: format!(
                    "hoc-ba/{}/{name}-{}{v}.pdf",
                    crate::school::slug(&class.name),
                    student.id
                ),
                kind: "hoc-ba",
                title: "HỌC BẠ".into(),
                class: Some(class.name.clone()),
                department: None,
                signed,
                bytes,
            });
        }
    }
    Ok(out)
}
