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
        current: None,
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
        let mut taken = std::collections::HashSet::new();
        for (i, student) in book.students.iter().enumerate() {
            // Her newest version signed at both stages; none yet (a re-signing the principal
            // has not finished included): the unsigned print, never a half-signed file marked
            // signed (review r19 #1).
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
            // Whose file it is, without opening it and without Trạm's internal id: the name
            // and the mã định danh, else the birth date, unique in the class's folder
            // (`hocba::student_file_stem`, the class export's rule too).
            let who = super::hocba::student_file_stem(Some(student), &mut taken);
            let v = if signed {
                format!("-ky-v{version}")
            } else {
                "-chua-ky".to_string()
            };
            out.push(RecordFile {
                path: format!("hoc-ba/{}/{who}{v}.pdf", crate::school::slug(&class.name)),
                kind: "hoc-ba",
                title: "HỌC BẠ".into(),
                class: Some(class.name.clone()),
                department: None,
                signed,
                current: None,
                bytes,
            });
        }
    }
    Ok(out)
}

/// The certificates a reader needs to check the archive's PAdES signatures (the signed học bạ,
/// the month approvals of lesson plans) without the box, under `chung-thu/`: the school
/// signing CA as `keys/signing-ca.crt` holds it and every CA by its number, the licensed roots this box trusts
/// (`pki::roots`), and the chains of signers imported from licensed CAs. Year-independent:
/// the trust a signature of any year is checked against.
pub fn certificates(store: &Store, _year: &str) -> Result<Vec<RecordFile>, String> {
    use der::EncodePem;
    let dir = store.dir();
    let file = |path: &str, kind: &'static str, title: &str, bytes: Vec<u8>| RecordFile {
        path: format!("chung-thu/{path}"),
        kind,
        title: title.into(),
        class: None,
        department: None,
        signed: false,
        current: None,
        bytes,
    };
    let mut out = Vec::new();
    // Every CA the school has had under its number (`ca-ky-so-cua-truong-N.crt`, a name that
    // never changes meaning), the current one also under the stable current name (review r17
    // #9: "-cu-1" named another CA after the next renewal).
    let cas = crate::pki::signing::ca_certs(dir).map_err(|e| e.to_string())?;
    for (i, c) in cas.iter().enumerate() {
        let pem = c
            .to_pem(der::pem::LineEnding::LF)
            .map_err(|e| e.to_string())?
            .into_bytes();
        if i == 0 {
            out.push(file(
                crate::pki::signing::CURRENT_CA_FILE,
                "chung-thu-ca-truong",
                "CA ký số của trường (đang dùng)",
                pem.clone(),
            ));
        }
        let title = if i == 0 {
            "CA ký số của trường (đang dùng), theo số".to_string()
        } else {
            "CA ký số trước đây của trường".to_string()
        };
        out.push(file(
            &crate::pki::signing::ca_file_name(c),
            "chung-thu-ca-truong",
            &title,
            pem,
        ));
    }
    let roots: String = crate::pki::roots::certificates(dir)
        .iter()
        .filter_map(|c| c.to_pem(der::pem::LineEnding::LF).ok())
        .collect();
    if !roots.is_empty() {
        out.push(file(
            "goc-ca-cong-cong.pem",
            "chung-thu-goc-cong-cong",
            "CA gốc chữ ký số công cộng",
            roots.into_bytes(),
        ));
    }
    let rx = store.read().map_err(|e| e.to_string())?;
    let chains = super::hocba::imported_chains_pem(&rx, dir).map_err(|e| e.to_string())?;
    if !chains.is_empty() {
        out.push(file(
            "chuoi-chung-thu-da-nhap.pem",
            "chung-thu-da-nhap",
            "Chuỗi chứng thư của người ký dùng chữ ký số công cộng",
            chains.into_bytes(),
        ));
    }
    Ok(out)
}
