//! The school's electronic archive of a school year (TT 28/2020, TT 32/2020 Điều 21: records kept
//! electronically instead of on paper): [`SOURCES`], the one list of who contributes which
//! records — each capability builds its own files with a function it owns —, the manifest
//! (every file with its SHA-256, kind, class or department, and whether it is signed), and its
//! two outlets: a folder (`tram records export`, through the control socket while the server
//! runs) and the admin's ZIP (`GET /api/v1/export/records.zip`, admin and BGH, audited).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use sha2::Digest;

use crate::auth::Action;
use crate::auth::extract::ApiUser;
use crate::http::{ApiError, Shared};
use crate::school::archive::{RecordFile, Source};
use crate::store::{Actor, Store};

/// Every record the archive holds, in the order the manifest lists them. A capability that keeps
/// a record of its own (the department plans and minutes, for one) adds one line here: its kind
/// of source and its function `fn(&Store, year) -> Result<Vec<RecordFile>, String>`.
pub const SOURCES: &[(&str, Source)] = &[
    ("sổ đăng bộ", crate::gradebook::archive::register),
    (
        "sổ theo dõi và đánh giá học sinh",
        crate::gradebook::pages::class_books,
    ),
    ("học bạ", crate::gradebook::archive::hocba),
    ("kế hoạch bài dạy", crate::lessons::export::archive),
    (
        "kế hoạch và biên bản của tổ chuyên môn",
        crate::dept::archive::archive,
    ),
];

/// What a reader checks the signed files' PAdES signatures against (`chung-thu/`): added when
/// the year has any signed file, so a year with no records stays an empty manifest.
const TRUST: (&str, Source) = (
    "chứng thư để kiểm tra chữ ký số",
    crate::gradebook::archive::certificates,
);

/// The archive's reading guide, beside manifest.json (listed in it like any file).
pub const README: &str = "HUONG-DAN-KIEM-TRA.txt";

/// The guide a reader without a Trạm box follows to check the archive (Vietnamese; the
/// commands are the same everywhere). `{school}`, `{year}` and `{ca}` are filled in.
const GUIDE: &str = r#"HƯỚNG DẪN KIỂM TRA HỒ SƠ ĐIỆN TỬ
{school} — năm học {year}

1. Toàn vẹn của từng tệp
   manifest.json liệt kê mọi tệp (đường dẫn, loại hồ sơ, kích thước, SHA-256). Tính lại bằng
   sha256sum <tệp> và so với trường "sha256"; trường "verify" của manifest.json tóm tắt
   hướng dẫn này.

2. Kế hoạch bài dạy, kế hoạch và biên bản của tổ chuyên môn (chữ ký Ed25519 của Trạm)
   - Bảng chữ ký: ke-hoach-bai-day/<tổ>/manifest.json và to-chuyen-mon/<tổ>/chu-ky.json. Mỗi
     hồ sơ ghi tệp nội dung đã ký (content.json, hoặc <tên>.noi-dung-ky.json nằm cạnh bản PDF),
     BLAKE3 của tệp đó, và từng chữ ký: người ký, thời điểm, khoá công khai, chuỗi "statement"
     đã ký và chữ ký.
   - "keys": khoá công khai của từng người ký và khoảng thời gian khoá đó là khoá ký của họ
     (from … until); chữ ký chỉ hợp lệ khi khoá là của người ký vào lúc ký.
   - Kiểm tra tự động, không cần cơ sở dữ liệu hay mạng:
       tram lessons verify --export <thư mục hồ sơ này>
     In "… 0 invalid" và thoát 0 khi mọi tệp khớp SHA-256 và mọi chữ ký hợp lệ; mỗi sai khác
     một dòng INVALID và mã thoát 3.
   - Tự kiểm tra bằng công cụ khác: BLAKE3(tệp nội dung) phải bằng "blake3"; "statement" kết
     thúc bằng dòng "blake3: <giá trị đó>"; Ed25519.verify(public_key, statement, signature).
   - Tệp đính kèm của kế hoạch bài dạy không chép vào hồ sơ: nội dung đã ký ghi BLAKE3 của
     từng tệp; tệp gốc còn trên Trạm và trong bản sao lưu.

3. Học bạ số và bản phê duyệt kế hoạch bài dạy theo tháng (chữ ký PAdES trong tệp PDF)
{ca}   - chung-thu/goc-ca-cong-cong.pem: các CA gốc chữ ký số công cộng Trạm tin cậy;
     chung-thu/chuoi-chung-thu-da-nhap.pem (nếu có): chuỗi chứng thư của người ký dùng chữ ký
     số công cộng.
   - pyHanko:
       pyhanko sign validate --no-revocation-check --trust chung-thu/ca-ky-so-cua-truong.crt <tệp.pdf>
   - Adobe Acrobat Reader: thêm ca-ky-so-cua-truong.crt vào Trusted Certificates rồi mở tệp.
   - Trên Trạm: trang Kiểm tra học bạ số (/grades/hocba-verify) hoặc tram hocba verify.
   Học bạ có "signed": true trong manifest.json là bản đã ký ("-ky-vN.pdf"); "-chua-ky.pdf" là
   bản in chưa ký.

Checking it (English): manifest.json lists every file with its SHA-256; run
`tram lessons verify --export <this folder>` to check those hashes and every Ed25519 signature
(no database, no network); check the PAdES PDFs against chung-thu/ca-ky-so-cua-truong.crt, e.g.
`pyhanko sign validate --no-revocation-check --trust chung-thu/ca-ky-so-cua-truong.crt FILE.pdf`.
"#;

fn readme(school: &str, year: &str, files: &[RecordFile]) -> String {
    let ca = if files
        .iter()
        .any(|f| f.path == "chung-thu/ca-ky-so-cua-truong.crt")
    {
        "   - chung-thu/ca-ky-so-cua-truong.crt: chứng thư CA ký số của trường (tệp keys/signing-ca.crt\n     trên Trạm); học bạ số và bản phê duyệt ký bằng chứng thư của trường được kiểm tra với CA này.\n"
    } else {
        "   - Trạm này chưa có CA ký số của trường (chưa ký học bạ hay bản phê duyệt nào bằng chứng\n     thư của trường).\n"
    };
    GUIDE
        .replace("{school}", school)
        .replace("{year}", year)
        .replace("{ca}", ca)
}

/// What an export gathered: the files and the manifest that lists them.
pub struct Archive {
    pub year: String,
    pub files: Vec<RecordFile>,
    pub manifest: Vec<u8>,
}

/// The year asked for, or the school's current one; an error a person can act on.
fn year_of(store: &Store, year: Option<&str>) -> Result<(String, String), String> {
    let info = crate::school::school_info(&store.read().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?
        .ok_or("this box has no school yet (provision it first)")?;
    let year = year
        .filter(|y| !y.is_empty())
        .map(str::to_string)
        .unwrap_or(info.current_year);
    // The year names folders and the downloaded file: only "2026-2027" shapes.
    if !crate::school::is_school_year(&year) {
        return Err(format!(
            "the school year {:?} is not of the form 2026-2027",
            year.chars().take(20).collect::<String>()
        ));
    }
    Ok((info.name, year))
}

/// Gathers every source's files of `year` (the current one when `None`) and the manifest.
pub fn gather(store: &Store, year: Option<&str>) -> Result<Archive, String> {
    let (school, year) = year_of(store, year)?;
    let mut files = Vec::new();
    for (what, source) in SOURCES {
        let mut got = source(store, &year).map_err(|e| format!("{what}: {e}"))?;
        files.append(&mut got);
    }
    if files.iter().any(|f| f.signed) {
        let (what, source) = TRUST;
        let mut got = source(store, &year).map_err(|e| format!("{what}: {e}"))?;
        files.append(&mut got);
    }
    // Paths come from our own code, but a slug of a name is still a name: a name of symbols
    // only slugs to nothing, two students may share a name, so each path is made plain (no
    // empty part, nothing that climbs out of the folder or names the manifest) and unique —
    // a repeated one gets "-2", "-3" before its extension instead of overwriting the first
    // file in the folder or failing the ZIP.
    let mut seen = std::collections::HashSet::from([README.to_string()]);
    for f in &mut files {
        let mut path = f
            .path
            .split('/')
            .map(|p| {
                let p = p.replace(['\\', '\0'], "_");
                if p.is_empty() || p == "." || p == ".." {
                    "_".to_string()
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        if path == "manifest.json" {
            path = "_manifest.json".into();
        }
        let (stem, ext) = match path.rfind('.').filter(|i| !path[*i..].contains('/')) {
            Some(i) => (path[..i].to_string(), path[i..].to_string()),
            None => (path.clone(), String::new()),
        };
        let mut n = 1;
        while !seen.insert(path.clone()) {
            n += 1;
            path = format!("{stem}-{n}{ext}");
        }
        f.path = path;
    }
    let guide = readme(&school, &year, &files);
    // How to check what was gathered: the signature manifests and the certificates by path.
    let of = |pred: &dyn Fn(&RecordFile) -> bool| -> Vec<String> {
        files
            .iter()
            .filter(|f| pred(f))
            .map(|f| f.path.clone())
            .collect()
    };
    let verify = serde_json::json!({
        "readme": README,
        "tool": "tram lessons verify --export <this folder>",
        "signature_manifests": of(&|f| f.kind.ends_with("chu-ky")),
        "certificates": of(&|f| f.path.starts_with("chung-thu/")),
        "ed25519": "each signature manifest (format tram.lesson-export/1): BLAKE3 of the file named by \"content\" equals \"blake3\"; \"statement\" ends with that BLAKE3; Ed25519 verify(public_key, statement, signature); the key is listed under \"keys\" for the signer (\"by\") with from <= at <= until",
        "pades": "pyhanko sign validate --no-revocation-check --trust chung-thu/ca-ky-so-cua-truong.crt FILE.pdf (the school signing CA; licensed signatures chain to chung-thu/goc-ca-cong-cong.pem)",
    });
    if !files.is_empty() {
        files.push(RecordFile {
            path: README.into(),
            kind: "huong-dan-kiem-tra",
            title: "HƯỚNG DẪN KIỂM TRA HỒ SƠ ĐIỆN TỬ".into(),
            class: None,
            department: None,
            signed: false,
            bytes: guide.into_bytes(),
        });
    }
    let listed: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path,
                "kind": f.kind,
                "title": f.title,
                "class": f.class,
                "department": f.department,
                "signed": f.signed,
                "size": f.bytes.len(),
                "sha256": hex::encode(sha2::Sha256::digest(&f.bytes)),
            })
        })
        .collect();
    let message = if files.is_empty() {
        format!("Năm học {year} chưa có hồ sơ nào trên Trạm.")
    } else {
        format!("Hồ sơ điện tử năm học {year}: {} tệp.", files.len())
    };
    let manifest = serde_json::json!({
        "format": "tram.records.v1",
        "school": school,
        "year": year,
        "created_at": jiff::Timestamp::now().to_string(),
        "message": message,
        "verify": verify,
        "files": listed,
    });
    Ok(Archive {
        year,
        files,
        manifest: serde_json::to_vec_pretty(&manifest).expect("JSON values serialize"),
    })
}

/// Writes the archive of `year` into the folder `to` (made if missing): each file under its
/// path, then manifest.json. The line the CLI prints.
pub fn export_to(
    store: &Store,
    year: Option<&str>,
    to: &std::path::Path,
) -> Result<String, String> {
    let a = gather(store, year)?;
    let io = |p: &std::path::Path, e: std::io::Error| format!("writing {}: {e}", p.display());
    for f in &a.files {
        let path = to.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        crate::config::write_atomic(&path, &f.bytes).map_err(|e| io(&path, e))?;
    }
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    let manifest = to.join("manifest.json");
    crate::config::write_atomic(&manifest, &a.manifest).map_err(|e| io(&manifest, e))?;
    Ok(if a.files.is_empty() {
        format!(
            "the school year {} has no records on this box: wrote manifest.json with no files to {}",
            a.year,
            to.display()
        )
    } else {
        format!(
            "exported {} record file(s) of the school year {} and manifest.json to {}",
            a.files.len(),
            a.year,
            to.display()
        )
    })
}

/// The archive as one ZIP, written to `out`.
pub fn zip<W: std::io::Write + std::io::Seek>(a: &Archive, out: W) -> Result<W, String> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let ze = |e: zip::result::ZipError| format!("writing the ZIP: {e}");
    let mut z = zip::ZipWriter::new(out);
    // PDFs are compressed already; JSON and xlsx are small.
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for f in &a.files {
        z.start_file(f.path.as_str(), stored).map_err(ze)?;
        z.write_all(&f.bytes)
            .map_err(|e| format!("writing the ZIP: {e}"))?;
    }
    z.start_file("manifest.json", stored).map_err(ze)?;
    z.write_all(&a.manifest)
        .map_err(|e| format!("writing the ZIP: {e}"))?;
    z.finish().map_err(ze)
}

pub fn api() -> Router<Shared> {
    Router::new().route("/export/records.zip", get(export_zip))
}

#[derive(Deserialize)]
struct YearQuery {
    year: Option<String>,
}

/// Hồ sơ điện tử of a school year as one ZIP (admin and BGH). The download is audited: it carries
/// every student's records out of the box.
async fn export_zip(
    State(s): State<Shared>,
    u: ApiUser,
    Query(q): Query<YearQuery>,
) -> Result<Response, ApiError> {
    u.require(Action::ImportExport)?;
    let store = s.store.clone();
    let who = u.principal.account.id.clone();
    let (year, file) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let bad = |e: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e);
        if crate::school::school_info(&store.read()?)?.is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_provisioned",
                "Trường chưa được khai báo (chạy tram provision hoặc --demo).",
            ));
        }
        if let Some(y) = q.year.as_deref().filter(|y| !y.is_empty())
            && !crate::school::is_school_year(y)
        {
            return Err(bad(format!(
                "Năm học \"{}\" không hợp lệ: ghi dạng 2026-2027.",
                y.chars().take(20).collect::<String>()
            )));
        }
        let a = gather(&store, q.year.as_deref()).map_err(ApiError::internal)?;
        let f =
            crate::http::unlinked_file(store.dir(), "records.zip").map_err(ApiError::internal)?;
        let f = zip(&a, f).map_err(ApiError::internal)?;
        store.write(
            &Actor {
                id: who,
                now: jiff::Timestamp::now(),
            },
            |tx| {
                tx.event(
                    "records.exported",
                    &a.year,
                    Some(serde_json::json!({
                        "files": a.files.len(),
                        "manifest_sha256": hex::encode(sha2::Sha256::digest(&a.manifest)),
                    })),
                );
                Ok::<_, crate::store::StoreError>(())
            },
        )?;
        Ok((a.year, f))
    })
    .await
    .map_err(ApiError::internal)??;
    crate::http::stream_file(file, "application/zip", &format!("ho-so-{year}.zip"))
}
