//! Resumable chunked uploads (tus-like, written by hand): `start` records the name and size,
//! each `append` carries the offset it starts at (a chunk out of order is refused with the offset
//! the server has), and the last chunk finishes the upload: its type is checked **by content**
//! (magic bytes) against its name, and the file moves into the blob store under its BLAKE3 hash
//! (identical files are stored once). Until an item names it, a finished upload is only a file.
//!
//! Sessions live beside the data (`DATA_DIR/uploads/<id>.json` + `<id>.part`), not in the
//! database: a chunk is fsynced before it is acknowledged, so an interrupted upload resumes from
//! the last acknowledged byte, even after a power cut.
//!
//! A *raw* upload (`start_raw`, the district hub's publishing) uses the same sessions and chunks
//! but is not a library file: no type check, and the finished file stays where it was assembled
//! for its caller to check and consume (`take_raw`) — an update bundle is judged by its
//! signature, which only the caller knows how to check.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FileRef, LibraryError};
use crate::store::Store;

/// Largest single file (a recorded lesson in HD runs to a few GB).
pub const MAX_FILE: u64 = 8 << 30;
/// Largest chunk the server takes in one request.
pub const MAX_CHUNK: usize = 16 << 20;
/// The chunk size the page's uploader uses (small enough for a crowded Wi-Fi).
pub const CHUNK: usize = 2 << 20;
/// Files a teacher may keep in the library (BGH and admin: no limit).
pub const TEACHER_QUOTA: u64 = 20 << 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub size: u64,
    pub created: jiff::Timestamp,
    /// Set once the last chunk arrived and the file is in the blob store.
    pub done: Option<FileRef>,
    /// A raw upload: kept as the assembled file, never typed nor stored as a blob.
    #[serde(default)]
    pub raw: bool,
}

fn dir(store: &Store) -> PathBuf {
    store.dir().join("uploads")
}

fn paths(store: &Store, id: &str) -> Option<(PathBuf, PathBuf)> {
    let ok = id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| {
        let d = dir(store);
        (d.join(format!("{id}.json")), d.join(format!("{id}.part")))
    })
}

/// A file name as given, refused if it could name a path or hide its type.
pub fn check_name(name: &str) -> Result<String, LibraryError> {
    let n = check_plain_name(name)?;
    if extension_mime(&n).is_none() {
        return Err(LibraryError::Upload(format!(
            "Không nhận loại tệp “{n}”. Nhận: PDF, EPUB, DOCX, PPTX, XLSX, MP4, WEBM, MP3, M4A, OGG, JPG, PNG, TXT."
        )));
    }
    Ok(n)
}

/// A file name that names no path and hides nothing (any type: a raw upload's).
pub fn check_plain_name(name: &str) -> Result<String, LibraryError> {
    let n = crate::text::nfc(name.trim());
    let bad = n.is_empty()
        || n.contains(['/', '\\', '\0'])
        || n == "."
        || n == ".."
        || n.starts_with('.')
        || n.chars().any(char::is_control)
        || n.chars().count() > 200;
    if bad {
        return Err(LibraryError::Upload(
            "Tên tệp không hợp lệ (không được chứa / \\ hoặc bắt đầu bằng dấu chấm).".into(),
        ));
    }
    Ok(n)
}

/// The type a (checked) file name stands for.
pub fn mime_of(name: &str) -> &'static str {
    extension_mime(name).unwrap_or("application/octet-stream")
}

/// The types the library takes, by extension.
fn extension_mime(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "epub" => "application/epub+zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "oga" => "audio/ogg",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// What the first bytes say the file is.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"\x7fELF") || starts(b"MZ") || starts(b"#!") || starts(b"\xca\xfe\xba\xbe") {
        return Some("executable");
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    if starts(b"PK\x03\x04") {
        let find = |s: &[u8]| head.windows(s.len()).any(|w| w == s);
        return Some(if find(b"mimetypeapplication/epub+zip") {
            "application/epub+zip"
        } else if find(b"word/") {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        } else if find(b"ppt/") {
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        } else if find(b"xl/") {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        } else {
            "application/zip"
        });
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        return Some(if brand.starts_with(b"M4A") {
            "audio/mp4"
        } else {
            "video/mp4"
        });
    }
    if starts(b"\x1a\x45\xdf\xa3") {
        return Some("video/webm");
    }
    if starts(b"ID3") || (head.len() > 1 && head[0] == 0xff && head[1] & 0xe0 == 0xe0) {
        return Some("audio/mpeg");
    }
    if starts(b"OggS") {
        return Some("audio/ogg");
    }
    if starts(b"\xff\xd8\xff") {
        return Some("image/jpeg");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    // Text: valid UTF-8 without NUL bytes (a cut multi-byte character at the end is fine).
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if valid && !head.contains(&0) {
        return Some("text/plain; charset=utf-8");
    }
    None
}

/// Whether sniffed content agrees with the name's type. Office files and EPUBs are ZIPs whose
/// marker may sit past the first bytes read, so a generic ZIP passes for them.
fn agrees(declared: &str, found: &str) -> bool {
    declared == found
        || (found == "application/zip"
            && (declared.starts_with("application/vnd.openxmlformats")
                || declared == "application/epub+zip"))
        || (declared == "audio/mp4" && found == "video/mp4")
}

fn load(store: &Store, id: &str) -> Result<Session, LibraryError> {
    let (json, _) = paths(store, id).ok_or_else(gone)?;
    let bytes = fs::read(json).map_err(|_| gone())?;
    serde_json::from_slice(&bytes).map_err(|_| gone())
}

fn gone() -> LibraryError {
    LibraryError::UploadGone
}

fn io(e: std::io::Error) -> LibraryError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        LibraryError::Upload("Ổ đĩa của Trạm đã đầy; không nhận thêm tệp.".into())
    } else {
        LibraryError::Store(crate::store::StoreError::Blob(e))
    }
}

/// A person's storage quota for one kind of file: its limit and the bytes already stored.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub limit: u64,
    pub stored: u64,
}

/// Bytes `owner` has reserved in uploads that are open or finished but not yet filed.
fn reserved_bytes(store: &Store, owner: &str) -> u64 {
    let Ok(entries) = fs::read_dir(dir(store)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Session>(&b).ok())
        .filter(|s| s.owner == owner)
        .map(|s| s.size)
        .sum()
}

/// Opening uploads is serialised: the quota check and the reservation (the session file) are
/// one step, so uploads opened at the same moment cannot all fit into the same room.
static OPENING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Opens an upload of `size` bytes named `name` for `owner`, if the quota allows. The whole
/// announced size is reserved against the quota from this moment until the upload is filed or
/// cancelled, so several large uploads opened at once cannot overrun it.
pub fn start(
    store: &Store,
    owner: &str,
    name: &str,
    size: u64,
    quota: Option<Quota>,
) -> Result<Session, LibraryError> {
    let name = check_name(name)?;
    open(store, owner, name, size, quota, false)
}

/// Opens a raw upload (see the module's comment): any plain file name, no quota.
pub fn start_raw(
    store: &Store,
    owner: &str,
    name: &str,
    size: u64,
) -> Result<Session, LibraryError> {
    let name = check_plain_name(name)?;
    open(store, owner, name, size, None, true)
}

fn open(
    store: &Store,
    owner: &str,
    name: String,
    size: u64,
    quota: Option<Quota>,
    raw: bool,
) -> Result<Session, LibraryError> {
    let _opening = OPENING.lock().unwrap_or_else(|e| e.into_inner());
    if size == 0 {
        return Err(LibraryError::Upload(
            "Tệp rỗng (0 byte): không có gì để lưu.".into(),
        ));
    }
    if size > MAX_FILE {
        return Err(LibraryError::Upload(format!(
            "Tệp quá lớn: tối đa {} GB.",
            MAX_FILE >> 30
        )));
    }
    if let Some(q) = quota
        && let left = q
            .limit
            .saturating_sub(q.stored)
            .saturating_sub(reserved_bytes(store, owner))
        && size > left
    {
        return Err(LibraryError::Upload(format!(
            "Vượt hạn mức lưu trữ: còn {} MB, tệp cần {} MB.",
            left >> 20,
            size.div_ceil(1 << 20)
        )));
    }
    if let Some(free) = crate::config::free_disk_bytes(store.dir())
        && free < size + (256 << 20)
    {
        return Err(LibraryError::Upload(
            "Ổ đĩa của Trạm không đủ chỗ cho tệp này.".into(),
        ));
    }
    let id = format!("{:024x}", rand::random::<u128>() >> 32);
    let s = Session {
        id: id.clone(),
        owner: owner.into(),
        name,
        size,
        created: jiff::Timestamp::now(),
        done: None,
        raw,
    };
    let (json, part) = paths(store, &id).expect("fresh id is valid");
    fs::create_dir_all(dir(store)).map_err(io)?;
    File::create(&part).and_then(|f| f.sync_all()).map_err(io)?;
    crate::config::write_atomic(&json, &serde_json::to_vec(&s).expect("serialisable"))
        .map_err(io)?;
    Ok(s)
}

/// The session and how many bytes the server holds (where a client resumes).
pub fn status(store: &Store, owner: &str, id: &str) -> Result<(Session, u64), LibraryError> {
    let s = load(store, id)?;
    if s.owner != owner {
        return Err(gone());
    }
    let (_, part) = paths(store, id).expect("checked");
    let have = match &s.done {
        Some(_) => s.size,
        None => fs::metadata(part).map(|m| m.len()).unwrap_or(0),
    };
    Ok((s, have))
}

/// Appends a chunk that starts at `offset`; finishes the upload when it is complete.
/// Returns the session and the new offset.
pub fn append(
    store: &Store,
    owner: &str,
    id: &str,
    offset: u64,
    chunk: &[u8],
) -> Result<(Session, u64), LibraryError> {
    let (mut s, have) = status(store, owner, id)?;
    if s.done.is_some() {
        return Ok((s, have));
    }
    if offset != have {
        return Err(LibraryError::OutOfOrder(have));
    }
    if chunk.is_empty() && have < s.size {
        return Err(LibraryError::Upload("Phần tệp rỗng.".into()));
    }
    if have + chunk.len() as u64 > s.size {
        return Err(LibraryError::Upload(
            "Tệp dài hơn kích thước đã khai báo.".into(),
        ));
    }
    let (json, part) = paths(store, id).expect("checked");
    if offset == 0 && !chunk.is_empty() && !s.raw {
        // Check the type as soon as the first bytes arrive: no point receiving 2 GB of an .exe.
        check_type(&s.name, chunk)?;
    }
    {
        let mut f = OpenOptions::new().append(true).open(&part).map_err(io)?;
        f.write_all(chunk).map_err(io)?;
        f.sync_data().map_err(io)?;
    }
    let now = have + chunk.len() as u64;
    if now == s.size && !s.raw {
        let file = finish(store, &s, &part)?;
        s.done = Some(file);
        crate::config::write_atomic(&json, &serde_json::to_vec(&s).expect("serialisable"))
            .map_err(io)?;
    }
    Ok((s, now))
}

pub fn check_type(name: &str, head: &[u8]) -> Result<&'static str, LibraryError> {
    let declared = extension_mime(name).expect("names are checked at start");
    match sniff(&head[..head.len().min(64 * 1024)]) {
        Some("executable") => Err(LibraryError::Upload(format!(
            "“{name}” là một chương trình chạy được, không phải tài liệu: không nhận."
        ))),
        Some(found) if agrees(declared, found) => Ok(declared),
        Some(found) => Err(LibraryError::Upload(format!(
            "Nội dung của “{name}” không khớp với đuôi tệp (nội dung là {found})."
        ))),
        None => Err(LibraryError::Upload(format!(
            "Không nhận ra nội dung của “{name}”."
        ))),
    }
}

/// The type of the file at `path` called `name`: its first 64 KiB must agree with its name.
pub fn check_file(name: &str, path: &Path) -> Result<&'static str, LibraryError> {
    let mut head = vec![0u8; 64 * 1024];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io)?;
    check_type(name, &head[..n])
}

/// Moves a complete upload into the blob store.
fn finish(store: &Store, s: &Session, part: &Path) -> Result<FileRef, LibraryError> {
    let mime = check_file(&s.name, part).inspect_err(|_| {
        let _ = fs::remove_file(part);
    })?;
    let f = File::open(part).map_err(io)?;
    let (blob, size) = store
        .blobs
        .put(std::io::BufReader::with_capacity(1 << 20, f))
        .map_err(io)?;
    let _ = fs::remove_file(part);
    Ok(FileRef {
        blob,
        size,
        mime: mime.to_string(),
        name: s.name.clone(),
    })
}

/// Takes a finished upload for an item (the session ends); refuses one still in progress.
pub fn take(store: &Store, owner: &str, id: &str) -> Result<FileRef, LibraryError> {
    let (s, have) = status(store, owner, id)?;
    let Some(file) = s.done else {
        return Err(LibraryError::Upload(format!(
            "Tệp “{}” chưa tải lên xong ({have}/{} byte).",
            s.name, s.size
        )));
    };
    Ok(file)
}

/// The assembled file of a finished raw upload (the caller removes the session when done).
pub fn take_raw(store: &Store, owner: &str, id: &str) -> Result<PathBuf, LibraryError> {
    let (s, have) = status(store, owner, id)?;
    if !s.raw {
        return Err(gone());
    }
    if have < s.size {
        return Err(LibraryError::Upload(format!(
            "Tệp “{}” chưa tải lên xong ({have}/{} byte).",
            s.name, s.size
        )));
    }
    Ok(paths(store, id).expect("checked").1)
}

/// Ends a session (after `take`, or to cancel).
pub fn remove(store: &Store, id: &str) {
    if let Some((json, part)) = paths(store, id) {
        let _ = fs::remove_file(part);
        let _ = fs::remove_file(json);
    }
}

/// What a finished raw upload became (the hub's publishing: the published row), kept beside
/// the sessions for a week like them: a page whose answer was lost on a dropped link asks
/// again with the same upload and gets the same answer, not "not found" for a file that was
/// in fact published.
pub fn mark_used(store: &Store, owner: &str, id: &str, answer: &serde_json::Value) {
    if let Some((json, _)) = paths(store, id) {
        let body = serde_json::json!({ "owner": owner, "answer": answer });
        let _ = crate::config::write_atomic(
            &json.with_extension("used.json"),
            &serde_json::to_vec(&body).expect("serialisable"),
        );
    }
}

/// The answer [`mark_used`] kept for `owner`'s upload `id`, if any.
pub fn used(store: &Store, owner: &str, id: &str) -> Option<serde_json::Value> {
    let (json, _) = paths(store, id)?;
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(json.with_extension("used.json")).ok()?).ok()?;
    (v["owner"] == owner).then(|| v["answer"].clone())
}

/// Removes sessions older than a week (at start).
pub fn sweep(store: &Store) {
    let Ok(rd) = fs::read_dir(dir(store)) else {
        return;
    };
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > week);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}
