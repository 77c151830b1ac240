//! The school's electronic archive of a school year (TT 28/2020, TT 32/2020 Điều 21: records kept
//! electronically instead of on paper): [`SOURCES`], the one list of who contributes which
//! records — each capability builds its own files with a function it owns —, the manifest
//! (every file with its SHA-256, kind, class or department, and whether it is signed), and its
//! two outlets: a folder (`tram records export`, through the control socket while the server
//! runs) and the admin's ZIP (`GET /api/v1/export/records.zip`, admin and BGH, audited).

use crate::http::Query;
use axum::Router;
use axum::extract::State;
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
    ("kế hoạch bài dạy", lesson_plans),
    (
        "kế hoạch và biên bản của tổ chuyên môn",
        crate::dept::archive::archive,
    ),
];

/// The approved lesson plans of the year, each printed with what its link to the Phụ lục III
/// reads as now (`dept::link_view`, review r18 #7).
fn lesson_plans(
    store: &Store,
    year: &str,
) -> Result<Vec<crate::school::archive::RecordFile>, String> {
    crate::lessons::export::archive(
        store,
        year,
        &crate::lessons::LinkResolver(crate::dept::link_view),
    )
}

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
{school} (mã trường {code}) — năm học {year}

0. Hồ sơ này có đúng do Trạm của trường ghi ra không (kiểm tra trước tiên)
   manifest.json được Trạm ký bằng khoá thiết bị của trường (Ed25519) — chính khoá mà máy chủ
   của Phòng/Sở ghi nhận khi Trạm đăng ký chuyển dữ liệu lên. Chữ ký nằm trong manifest.sig.
   Lệnh kiểm tra (dưới đây) in dấu vân tay (SHA-256 của khoá công khai) của khoá đã ký hồ sơ
   này. Đừng lấy dấu vân tay từ bất cứ tệp nào trong thư mục này: người sửa hồ sơ sửa được cả
   chúng. Chữ ký hợp lệ chỉ chứng minh hồ sơ do Trạm có khoá này ghi ra. Ai cũng có thể tạo khoá mới
   và ký lại một thư mục đã sửa, nên PHẢI so dấu vân tay này với dấu vân tay Phòng/Sở giữ cho
   trường: trên máy chủ của Phòng/Sở, lệnh tram district schools; trên Trạm của trường, trang
   Thiết bị (/admin/device), dòng “Dấu vân tay khoá thiết bị”. Khác nhau thì hồ sơ không phải
   do Trạm của trường ghi ra (hoặc Trạm đã đăng ký lại với khoá mới sau khi ghi hồ sơ này).
   - Trên máy chủ của Phòng/Sở (tự so với bản ghi của trường, không cần gõ dấu vân tay):
       tram district verify-export <thư mục hoặc tệp ZIP này>
   - Ở nơi khác:
       tram lessons verify --export <thư mục hoặc tệp ZIP này> --expect-fingerprint "<dấu vân tay Phòng/Sở giữ>"
     (đặt dấu vân tay trong ngoặc kép khi chép cả dấu cách). Khác dấu vân tay: báo INVALID, mã
     thoát 3. Không có --expect-fingerprint: dòng cuối "NOT VERIFIED against the school's key",
     mã thoát 2 — hồ sơ chỉ khớp với chính nó, chưa chứng minh do trường ghi ra.

1. Toàn vẹn của từng tệp
   manifest.json liệt kê mọi tệp (đường dẫn, loại hồ sơ, kích thước, SHA-256). Tính lại bằng
   sha256sum <tệp> và so với trường "sha256". Vì manifest.json được ký (mục 0), một tệp bị thay
   — kể cả bản in PDF — bị phát hiện dù người sửa ghi lại cả SHA-256 trong manifest.json. Tệp
   có trong thư mục mà manifest.json không liệt kê thì không thuộc hồ sơ: lệnh kiểm tra in
   từng tệp đó (UNLISTED) và báo hồ sơ không hợp lệ (mã thoát 3). Trường "verify" của manifest.json tóm tắt hướng dẫn này.

2. Kế hoạch bài dạy, kế hoạch và biên bản của tổ chuyên môn (chữ ký Ed25519 của Trạm)
   - Bảng chữ ký: ke-hoach-bai-day/<tổ>/manifest.json và to-chuyen-mon/<tổ>/chu-ky.json. Mỗi
     hồ sơ ghi tệp nội dung đã ký (content.json, hoặc <tên>.noi-dung-ky.json nằm cạnh bản PDF),
     BLAKE3 của tệp đó, và từng chữ ký: người ký, thời điểm, khoá công khai, chuỗi "statement"
     đã ký và chữ ký.
   - "keys": khoá công khai của từng người ký và khoảng thời gian khoá đó là khoá ký của họ
     (from … until). "signer_keys" trong manifest.json (được Trạm ký, mục 0) liệt kê các khoá
     đó: lệnh kiểm tra đối chiếu khoá của từng chữ ký với danh sách đã ký này, và so khoá của
     cùng một người giữa mọi bảng chữ ký (mỗi người một khoá trong một khoảng thời gian).
   - Kiểm tra tự động, không cần cơ sở dữ liệu hay mạng: lệnh ở mục 0. In "… 0 invalid" và
     thoát 0 khi chữ ký của Trạm (đúng dấu vân tay Phòng/Sở giữ), mọi SHA-256 và mọi chữ ký
     hợp lệ; mỗi sai khác một dòng INVALID và mã thoát 3.
   - Tự kiểm tra bằng công cụ khác: BLAKE3(tệp nội dung) phải bằng "blake3"; "statement" kết
     thúc bằng dòng "blake3: <giá trị đó>"; Ed25519.verify(public_key, statement, signature).
     Chữ ký của Trạm: Ed25519.verify(public_key của manifest.sig, dòng
     "tram.records.v2 manifest.json" cùng ký tự xuống dòng rồi đúng các byte của manifest.json,
     signature).
   - Tệp đính kèm của kế hoạch bài dạy không chép vào hồ sơ: nội dung đã ký ghi BLAKE3 của
     từng tệp; tệp gốc còn trên Trạm và trong bản sao lưu.
   - Kế hoạch của tổ (Phụ lục I, II, III) và biên bản sinh hoạt chuyên môn được lưu đủ mọi
     phiên bản đã duyệt hoặc đã ký ("…-v1", "…-v2", …), mỗi bản kèm nội dung đã ký và chữ ký
     của nó, như hồ sơ giấy giữ lại trang cũ bên cạnh trang đính chính. Bản hiện hành là bản có
     "current": true trong manifest.json (số phiên bản lớn nhất); các bản cũ có "current":
     false, vẫn hợp lệ như khi được ký. Kế hoạch bài dạy gắn với một phiên bản Phụ lục III cũ
     tìm thấy phiên bản đó ở đây. Xuất lại hồ sơ không xoá bản cũ.

3. Học bạ số và bản phê duyệt kế hoạch bài dạy theo tháng (chữ ký PAdES trong tệp PDF)
{ca}   - chung-thu/goc-ca-cong-cong.pem: các CA gốc chữ ký số công cộng Trạm tin cậy;
     chung-thu/chuoi-chung-thu-da-nhap.pem (nếu có): chuỗi chứng thư của người ký dùng chữ ký
     số công cộng.
{tsa}   - pyHanko (chữ ký và dấu thời gian):
       pyhanko sign validate --no-revocation-check {trust} <tệp.pdf>
   - Adobe Acrobat Reader: thêm ca-ky-so-cua-truong.crt (và chứng thư dấu thời gian) vào
     Trusted Certificates rồi mở tệp.
   - Trên Trạm: trang Kiểm tra học bạ số (/grades/hocba-verify) hoặc tram hocba verify.
   Học bạ có "signed": true trong manifest.json là bản đã ký ("-ky-vN.pdf"); "-chua-ky.pdf" là
   bản in chưa ký.

Checking it (English): first the box's signature. `tram lessons verify --export <this folder>
--expect-fingerprint <the fingerprint the district holds for the school>` (on the district
hub: `tram district verify-export <this folder>`); a valid signature proves only that the box
with that fingerprint wrote the folder, so compare the fingerprint. It checks every file
against the signed manifest.json's SHA-256 and every Ed25519 signature against the signed key
list (no database, no network). A tổ's plans and minutes are kept in every approved or signed
version ("-v1", "-v2", …, each with its signatures); manifest.json marks the newest
"current": true, the earlier ones false. Exit 0 valid and held to that fingerprint, 2 consistent with
itself but not compared with the school's key (no --expect-fingerprint), 3 invalid. The PAdES PDFs:
`pyhanko sign validate --no-revocation-check {trust} FILE.pdf`.
"#;

/// The pyHanko `--trust` arguments for the archive's PAdES files: the school signing CA and
/// every time-stamping authority whose tokens are in the exported files.
fn trust_args(files: &[RecordFile]) -> String {
    let args: Vec<String> = files
        .iter()
        .filter(|f| {
            // Each CA by its number (the current one is among them), not twice.
            f.path.starts_with("chung-thu/ca-ky-so-cua-truong-")
                || f.path.starts_with("chung-thu/dau-thoi-gian")
        })
        .map(|f| format!("--trust {}", f.path))
        .collect();
    if args.is_empty() {
        "--trust chung-thu/ca-ky-so-cua-truong.crt".into()
    } else {
        args.join(" ")
    }
}

fn readme(school: &str, code: &str, year: &str, files: &[RecordFile]) -> String {
    // Every CA of the school by its number: the current one and those a renewal or a recovery
    // replaced (`gradebook::hocba::ca::renew`), whose files still check against them.
    let numbered: Vec<&str> = files
        .iter()
        .filter(|f| f.path.starts_with("chung-thu/ca-ky-so-cua-truong-"))
        .map(|f| f.path.as_str())
        .collect();
    let earlier = if numbered.is_empty() {
        String::new()
    } else {
        format!(
            "   - {}: mọi CA ký số của trường theo số thứ tự (1 là CA đầu tiên; mỗi lần gia hạn hay\n     khôi phục thêm số mới, một số không bao giờ đổi nghĩa); tệp ký khi còn dùng CA nào được\n     kiểm tra với CA đó. Chữ ký bằng một CA cũ làm sau khi CA ấy đã bị thay chỉ Trạm của trường\n     và Trạm Phòng/Sở phát hiện được (sổ ký, thời điểm thay CA).\n",
            numbered.join(", ")
        )
    };
    let ca = if files
        .iter()
        .any(|f| f.path == "chung-thu/ca-ky-so-cua-truong.crt")
    {
        "   - chung-thu/ca-ky-so-cua-truong.crt: chứng thư CA ký số đang dùng của trường (tệp\n     keys/signing-ca.crt trên Trạm, lúc xuất hồ sơ này); học bạ số và bản phê duyệt ký bằng chứng\n     thư của trường được kiểm tra với CA này.\n"
    } else {
        "   - Trạm này chưa có CA ký số của trường (chưa ký học bạ hay bản phê duyệt nào bằng chứng\n     thư của trường).\n"
    };
    let tsa: Vec<&str> = files
        .iter()
        .filter(|f| f.path.starts_with("chung-thu/dau-thoi-gian"))
        .map(|f| f.path.as_str())
        .collect();
    let tsa = if tsa.is_empty() {
        String::new()
    } else {
        format!(
            "   - {}: chứng thư của đơn vị cấp dấu thời gian (máy chủ Phòng/Sở) đã đóng dấu thời gian\n     các tệp trong hồ sơ này; pyHanko cần tin cậy cả chứng thư này mới chấp nhận dấu thời gian.\n",
            tsa.join(", ")
        )
    };
    GUIDE
        .replace("{school}", school)
        .replace("{code}", code)
        .replace("{year}", year)
        .replace("{ca}", &format!("{ca}{earlier}"))
        .replace("{tsa}", &tsa)
        .replace("{trust}", &trust_args(files))
}

/// The time-stamping authorities' certificates (PEM, `chung-thu/dau-thoi-gian-N.crt`) read
/// from the tokens in the signed PDFs gathered: every TSA that stamped a file of the export.
fn tsa_certificates(files: &[RecordFile]) -> Vec<RecordFile> {
    let mut ders: Vec<Vec<u8>> = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.signed && f.path.ends_with(".pdf"))
    {
        // A file whose tokens cannot be read adds no TSA; its own check says why.
        for der in crate::pki::pades::tsa_certificates(&f.bytes).unwrap_or_default() {
            if !ders.contains(&der) {
                ders.push(der);
            }
        }
    }
    ders.iter()
        .enumerate()
        .filter_map(|(i, der)| {
            let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).ok()?;
            Some(RecordFile {
                path: format!("chung-thu/dau-thoi-gian-{}.crt", i + 1),
                kind: "chung-thu-dau-thoi-gian",
                title: "Chứng thư của đơn vị cấp dấu thời gian".into(),
                class: None,
                department: None,
                signed: false,
                current: None,
                bytes: pem.into_bytes(),
            })
        })
        .collect()
}

/// Every signer's keys the signature manifests gathered list (`…chu-ky` files), merged by
/// account: what the signed manifest.json names, so a key swapped in one of them shows.
fn signer_keys(files: &[RecordFile]) -> Vec<crate::lessons::export::SignerKeys> {
    use crate::lessons::export::{Manifest, SignerKeys};
    let mut by: std::collections::BTreeMap<String, SignerKeys> = Default::default();
    for f in files.iter().filter(|f| f.kind.ends_with("chu-ky")) {
        let Ok(m) = serde_json::from_slice::<Manifest>(&f.bytes) else {
            continue;
        };
        for k in m.keys {
            let e = by.entry(k.by.clone()).or_insert_with(|| SignerKeys {
                by: k.by.clone(),
                name: k.name.clone(),
                keys: vec![],
            });
            for span in k.keys {
                if !e.keys.contains(&span) {
                    e.keys.push(span);
                }
            }
        }
    }
    by.into_values().collect()
}

/// What an export gathered: the files and the manifest that lists them.
pub struct Archive {
    pub year: String,
    pub files: Vec<RecordFile>,
    pub manifest: Vec<u8>,
    /// manifest.sig: the box's device key's signature over `manifest`.
    pub signature: Vec<u8>,
    /// The device key's public half, hex.
    pub public_key: String,
}

/// The year asked for, or the school's current one; an error a person can act on.
fn year_of(store: &Store, year: Option<&str>) -> Result<(String, String, String), String> {
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
    Ok((info.name, info.code, year))
}

/// Gathers every source's files of `year` (the current one when `None`) and the manifest.
pub fn gather(store: &Store, year: Option<&str>) -> Result<Archive, String> {
    let (school, code, year) = year_of(store, year)?;
    // The anchor outside the folder: the box's device key, which the hub enrolled for this
    // school (`relay::device_key`, made on first use; no PIN needed).
    let key =
        crate::relay::device_key(store.dir()).map_err(|e| format!("the box's device key: {e}"))?;
    let public_key = hex::encode(key.verifying_key().to_bytes());
    let fingerprint = crate::pki::key_fingerprint(&key.verifying_key().to_bytes());
    let mut files = Vec::new();
    for (what, source) in SOURCES {
        let mut got = source(store, &year).map_err(|e| format!("{what}: {e}"))?;
        files.append(&mut got);
    }
    if files.iter().any(|f| f.signed) {
        let (what, source) = TRUST;
        let mut got = source(store, &year).map_err(|e| format!("{what}: {e}"))?;
        files.append(&mut got);
        let mut tsa = tsa_certificates(&files);
        files.append(&mut tsa);
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
        if path == "manifest.json" || path == crate::lessons::export::RECORDS_SIGNATURE {
            path = format!("_{path}");
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
    let guide = readme(&school, &code, &year, &files);
    let keys = signer_keys(&files);
    let trust = trust_args(&files);
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
        "tool": "tram lessons verify --export <this folder> --expect-fingerprint <the fingerprint the district holds>",
        "hub": "tram district verify-export <this folder>",
        "box_signature": "manifest.sig: Ed25519 by box.public_key over the line \"tram.records.v2 manifest.json\" and a newline, then the exact bytes of manifest.json; it proves the folder was written by the box with box.fingerprint only if that is the fingerprint the district holds for the school",
        "signature_manifests": of(&|f| f.kind.ends_with("chu-ky")),
        "certificates": of(&|f| f.path.starts_with("chung-thu/")),
        "ed25519": "each signature manifest (format tram.lesson-export/1): BLAKE3 of the file named by \"content\" equals \"blake3\"; \"statement\" ends with that BLAKE3; Ed25519 verify(public_key, statement, signature); the key is listed under signer_keys (signed) and the manifest's \"keys\" for the signer (\"by\") with from <= at <= until",
        "pades": format!("pyhanko sign validate --no-revocation-check {trust} FILE.pdf (the school signing CA and the time-stamping authorities; licensed signatures chain to chung-thu/goc-ca-cong-cong.pem)"),
    });
    if !files.is_empty() {
        files.push(RecordFile {
            path: README.into(),
            kind: "huong-dan-kiem-tra",
            title: "HƯỚNG DẪN KIỂM TRA HỒ SƠ ĐIỆN TỬ".into(),
            class: None,
            department: None,
            signed: false,
            current: None,
            bytes: guide.into_bytes(),
        });
    }
    let listed: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let mut entry = serde_json::json!({
                "path": f.path,
                "kind": f.kind,
                "title": f.title,
                "class": f.class,
                "department": f.department,
                "signed": f.signed,
                "size": f.bytes.len(),
                "sha256": hex::encode(sha2::Sha256::digest(&f.bytes)),
            });
            // A record kept in every signed version (a tổ's plans and minutes): whether this
            // is the newest one.
            if let Some(current) = f.current {
                entry["current"] = current.into();
            }
            entry
        })
        .collect();
    let message = if files.is_empty() {
        format!("Năm học {year} chưa có hồ sơ nào trên Trạm.")
    } else {
        format!("Hồ sơ điện tử năm học {year}: {} tệp.", files.len())
    };
    let manifest = serde_json::json!({
        "format": crate::lessons::export::RECORDS_FORMAT,
        "school": school,
        "school_code": code,
        "year": year,
        "box": {
            "public_key": public_key,
            "fingerprint": fingerprint,
        },
        "created_at": jiff::Timestamp::now().to_string(),
        "message": message,
        "verify": verify,
        "signer_keys": keys,
        "files": listed,
    });
    let manifest = serde_json::to_vec_pretty(&manifest).expect("JSON values serialize");
    use ed25519_dalek::Signer as _;
    let sig = key.sign(&crate::lessons::export::records_signed_message(&manifest));
    let signature = crate::lessons::export::RecordsSignature {
        format: "tram.records-signature/1".into(),
        algorithm: "Ed25519".into(),
        signed: "manifest.json".into(),
        message: "the line \"tram.records.v2 manifest.json\" and a newline, then the exact bytes of manifest.json".into(),
        public_key: public_key.clone(),
        fingerprint,
        signature: hex::encode(sig.to_bytes()),
    };
    Ok(Archive {
        year,
        files,
        manifest,
        signature: serde_json::to_vec_pretty(&signature).expect("serialisable"),
        public_key,
    })
}

/// What an earlier export left in the folder `to`: None when the folder is missing or empty;
/// else the files its manifest listed (path → SHA-256). Refused — nothing written — when the
/// folder holds something that is not an export of this box (`public_key`) of the same year:
/// writing into it would mix two archives, and removing what it no longer lists would remove
/// another archive's files.
fn previous_export(
    to: &std::path::Path,
    public_key: &str,
    year: &str,
) -> Result<Option<std::collections::HashMap<String, String>>, String> {
    use crate::lessons::export::{RECORDS_FORMAT, RECORDS_SIGNATURE, RecordsSignature};
    match std::fs::read_dir(to) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", to.display())),
        Ok(mut d) => {
            if d.next().is_none() {
                return Ok(None);
            }
        }
    }
    let refuse = |why: &str| {
        Err(format!(
            "the folder {} is not empty and {why}: choose an empty folder (nothing was written)",
            to.display()
        ))
    };
    let Ok(bytes) = std::fs::read(to.join("manifest.json")) else {
        return refuse("holds no records export (no manifest.json)");
    };
    let Ok(top) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return refuse("its manifest.json is not a records export's");
    };
    match top["format"].as_str() {
        Some(RECORDS_FORMAT) => {
            let ours = std::fs::read(to.join(RECORDS_SIGNATURE))
                .ok()
                .and_then(|b| serde_json::from_slice::<RecordsSignature>(&b).ok())
                .filter(|s| s.public_key == public_key)
                .and_then(|s| {
                    let key = <[u8; 32]>::try_from(hex::decode(&s.public_key).ok()?).ok()?;
                    let sig = <[u8; 64]>::try_from(hex::decode(&s.signature).ok()?).ok()?;
                    ed25519_dalek::VerifyingKey::from_bytes(&key)
                        .ok()?
                        .verify_strict(
                            &crate::lessons::export::records_signed_message(&bytes),
                            &ed25519_dalek::Signature::from_bytes(&sig),
                        )
                        .ok()
                })
                .is_some();
            if !ours {
                return refuse(
                    "holds a records export this box did not sign (another box's, or changed since)",
                );
            }
        }
        // An archive of an earlier Trạm, unsigned: taken for this box's when it names this
        // school (its name is all it carries).
        Some("tram.records.v1") => {}
        _ => return refuse("its manifest.json is not a records export's"),
    }
    if top["year"].as_str() != Some(year) {
        return refuse(&format!(
            "holds the export of the school year {}",
            top["year"].as_str().unwrap_or("?")
        ));
    }
    Ok(Some(
        top["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some((
                    f["path"].as_str()?.to_string(),
                    f["sha256"].as_str()?.to_string(),
                ))
            })
            .collect(),
    ))
}

/// Writes the archive of `year` into the folder `to` (made if missing): each file under its
/// path, then manifest.json and its signature manifest.sig. Into a previous export of this box
/// of the same year: the files its manifest listed that the new one does not (a superseded
/// version) are removed first — only those, and only while unchanged —; anything else in the
/// folder is kept and named. The line the CLI prints.
pub fn export_to(
    store: &Store,
    year: Option<&str>,
    to: &std::path::Path,
) -> Result<String, String> {
    let a = gather(store, year)?;
    write_archive(&a, to)
}

/// [`export_to`]'s writing of a gathered archive into `to`.
fn write_archive(a: &Archive, to: &std::path::Path) -> Result<String, String> {
    use sha2::Digest;
    let previous = previous_export(to, &a.public_key, &a.year)?;
    let io = |p: &std::path::Path, e: std::io::Error| format!("writing {}: {e}", p.display());
    let listed: std::collections::HashSet<&str> = a.files.iter().map(|f| f.path.as_str()).collect();
    let mut removed = 0;
    let mut kept = Vec::new();
    for (path, sha) in previous.iter().flatten() {
        if listed.contains(path.as_str())
            || path
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            continue;
        }
        let file = to.join(path);
        match std::fs::read(&file) {
            Ok(b) if hex::encode(sha2::Sha256::digest(&b)) == *sha => {
                std::fs::remove_file(&file)
                    .map_err(|e| format!("removing {}: {e}", file.display()))?;
                removed += 1;
                // Its folder too, once empty (never `to` itself).
                let mut dir = file.parent();
                while let Some(d) = dir.filter(|d| *d != to && d.starts_with(to)) {
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
            Ok(_) => kept.push(path.clone()),
            Err(_) => {}
        }
    }
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
    let sig = to.join(crate::lessons::export::RECORDS_SIGNATURE);
    crate::config::write_atomic(&sig, &a.signature).map_err(|e| io(&sig, e))?;
    let fingerprint = crate::pki::key_fingerprint_hex(&a.public_key).unwrap_or_default();
    let mut text = if a.files.is_empty() {
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
    };
    text += &format!(
        "\nmanifest.json signed by this box's key, fingerprint {}",
        crate::pki::fingerprint_groups(&fingerprint)
    );
    if removed > 0 {
        text +=
            &format!("\nremoved {removed} file(s) of the earlier export that this one supersedes");
    }
    let others: Vec<String> = crate::lessons::export::files_under(to)
        .into_iter()
        .filter(|p| {
            !listed.contains(p.as_str())
                && p != "manifest.json"
                && p != crate::lessons::export::RECORDS_SIGNATURE
                && !kept.contains(p)
        })
        .collect();
    if !kept.is_empty() {
        text += &format!(
            "\nkept {} file(s) the earlier export listed but changed since (not part of this export): {}",
            kept.len(),
            kept.join(", ")
        );
    }
    if !others.is_empty() {
        text += &format!(
            "\nleft {} file(s) in the folder that no export of this box listed (not part of the archive): {}",
            others.len(),
            others.join(", ")
        );
    }
    Ok(text)
}

/// `tram district verify-export` on the hub: a records archive (folder or ZIP) checked as
/// `tram lessons verify --export` does, its box signature held to the device key the hub
/// enrolled for the school the manifest names — no fingerprint typed. The report and whether
/// it passed.
pub fn verify_for_hub(
    hub: &dyn crate::district::HubStorage,
    path: &std::path::Path,
) -> (bool, String) {
    use crate::lessons::export::{Expect, export_report, verify_export};
    let lookup = |code: &str| -> Result<String, String> {
        if code.is_empty() {
            return Err("manifest.json names no school code (mã trường): it cannot be held to a school this hub knows".into());
        }
        match hub.school(code) {
            Ok(Some(s)) => Ok(s.public_key),
            Ok(None) => Err(format!(
                "the school {code} is not enrolled at this hub: there is no key to hold the archive to"
            )),
            Err(e) => Err(format!("the hub's records of the school {code}: {e}")),
        }
    };
    match verify_export(path, Expect::ByCode(&lookup)) {
        // The hub always holds the archive to the key it enrolled: anything short of valid
        // is a failure here.
        Ok(c) => {
            let (verdict, text) = export_report(&c);
            (verdict == crate::lessons::export::Verdict::Valid, text)
        }
        Err(e) => (false, format!("INVALID {}: {e}\n", path.display())),
    }
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
    z.start_file(crate::lessons::export::RECORDS_SIGNATURE, stored)
        .map_err(ze)?;
    z.write_all(&a.signature)
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
            // The same refusal as every other filter (review r21 #5).
            return Err(crate::http::bad_filter(format!(
                "Năm học “{}” không hợp lệ: ghi dạng 2026-2027.",
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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    /// An archive of `files` (path, bytes) of `year` signed by `key`, as `gather` makes one.
    fn archive(key: &ed25519_dalek::SigningKey, year: &str, files: &[(&str, &str)]) -> Archive {
        use sha2::Digest;
        let public_key = hex::encode(key.verifying_key().to_bytes());
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "format": crate::lessons::export::RECORDS_FORMAT,
            "year": year,
            "box": {"public_key": public_key},
            "signer_keys": [],
            "files": files.iter().map(|(p, b)| serde_json::json!({
                "path": p,
                "sha256": hex::encode(sha2::Sha256::digest(b.as_bytes())),
                "size": b.len(),
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        let sig = key.sign(&crate::lessons::export::records_signed_message(&manifest));
        let signature = serde_json::to_vec(&serde_json::json!({
            "format": "tram.records-signature/1",
            "algorithm": "Ed25519",
            "signed": "manifest.json",
            "message": "",
            "public_key": public_key,
            "fingerprint": "",
            "signature": hex::encode(sig.to_bytes()),
        }))
        .unwrap();
        Archive {
            year: year.into(),
            files: files
                .iter()
                .map(|(p, b)| RecordFile {
                    path: p.to_string(),
                    kind: "test",
                    title: String::new(),
                    class: None,
                    department: None,
                    signed: false,
                    current: None,
                    bytes: b.as_bytes().to_vec(),
                })
                .collect(),
            manifest,
            signature,
            public_key,
        }
    }

    /// Review r14 #6a: a re-export into the same folder removes what the earlier export listed
    /// and the new one does not (a superseded version), keeps and names anything else, and a
    /// folder that is not this box's export of the year is refused with nothing written.
    #[test]
    fn a_re_export_replaces_the_superseded_files_and_touches_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("ho-so");
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let first = archive(
            &key,
            "2026-2027",
            &[
                ("a/bien-ban-v1.pdf", "v1"),
                ("a/ke-hoach.pdf", "kh"),
                ("b/cu.pdf", "old"),
            ],
        );
        write_archive(&first, &to).unwrap();
        std::fs::write(to.join("ghi-chu.txt"), "mine").unwrap();
        // A file of the earlier export changed since: not ours to remove any more.
        std::fs::write(to.join("a/ke-hoach.pdf"), "edited").unwrap();
        let second = archive(&key, "2026-2027", &[("a/bien-ban-v2.pdf", "v2")]);
        let said = write_archive(&second, &to).unwrap();
        assert!(!to.join("a/bien-ban-v1.pdf").exists(), "{said}");
        assert!(!to.join("b").exists(), "an emptied folder goes too: {said}");
        assert_eq!(std::fs::read(to.join("a/bien-ban-v2.pdf")).unwrap(), b"v2");
        assert_eq!(std::fs::read(to.join("ghi-chu.txt")).unwrap(), b"mine");
        assert_eq!(std::fs::read(to.join("a/ke-hoach.pdf")).unwrap(), b"edited");
        assert!(said.contains("removed 2 file(s)"), "{said}");
        assert!(
            said.contains("a/ke-hoach.pdf") && said.contains("ghi-chu.txt"),
            "{said}"
        );
        let check = crate::lessons::export::verify_folder(&to).unwrap();
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!(check.unlisted, ["a/ke-hoach.pdf", "ghi-chu.txt"]);

        // Another box's export, another year's, a folder of something else: refused, untouched.
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        for (a, why) in [
            (
                archive(&other, "2026-2027", &[("x.pdf", "x")]),
                "did not sign",
            ),
            (
                archive(&key, "2025-2026", &[("x.pdf", "x")]),
                "school year 2026-2027",
            ),
        ] {
            let e = write_archive(&a, &to).unwrap_err();
            assert!(e.contains(why) && e.contains("nothing was written"), "{e}");
            assert!(!to.join("x.pdf").exists());
            assert!(to.join("a/bien-ban-v2.pdf").exists());
        }
        let plain = tmp.path().join("tai-lieu");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("bao-cao.docx"), "doc").unwrap();
        let e = write_archive(&second, &plain).unwrap_err();
        assert!(e.contains("no manifest.json"), "{e}");
        assert_eq!(std::fs::read_dir(&plain).unwrap().count(), 1);
        // An empty folder, or none, is written into.
        write_archive(&second, &tmp.path().join("moi")).unwrap();
    }
}
