//! The one way an uploaded spreadsheet is read (student, staff and score imports, the library's
//! bulk import): bounded before anything is allocated in proportion to what the file *claims*.
//!
//! A 5 KB .xlsx whose one cell sits at `XFD1048576` made calamine's `worksheet_range` allocate
//! the whole 1,048,576 × 16,384 grid (512 GB): an abort that `catch_unwind` cannot stop, and the
//! service restarted into the same upload. So:
//!
//! - only .xlsx is read. calamine parses a whole .xls (its DIMENSIONS record reserves rows ×
//!   columns, its compound-file header sizes vectors) or .ods (`number-columns-repeated`,
//!   `number-rows-repeated`, `text:c` are expanded as they stand) when it opens the workbook,
//!   before a caller can look at anything; those files are refused with how to save them as .xlsx;
//! - the ZIP directory is checked first (the parts may not unpack past [`MAX_UNPACKED_BYTES`]),
//!   then the shared strings are counted and the chosen sheet's XML is pre-scanned here: every
//!   cell with content must lie within [`MAX_ROWS`] × [`MAX_COLS`] and there may be at most
//!   [`MAX_CELLS`] of them (the scan also notes which cells hold a formula, so calamine's
//!   formula reader — which sizes vectors from a cell's shared-formula index — is never used);
//! - the values then come from calamine's streaming cell reader, each cell checked again before
//!   it is kept, and the rows are built here from the cells actually present. The `<dimension>`
//!   a file declares is never used for anything.
//!
//! Real files are far inside the limits: a school's roll is a few thousand rows of ten columns,
//! a library catalogue twenty thousand rows of a dozen.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufReader, Cursor};

use calamine::{Data, DataRef, Reader, Xlsx};
use quick_xml::events::{BytesStart, Event};

/// Largest spreadsheet accepted (a school's whole roll is well under 1 MB).
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;

/// The most an .xlsx (a ZIP) may unpack to. A real class list unpacks to a few MB; a "zip bomb"
/// of a few hundred KB can claim gigabytes and would exhaust the box's memory.
pub const MAX_UNPACKED_BYTES: u64 = 100 * 1024 * 1024;

/// Rows a sheet may use: a cell with content in row 20,001 or below refuses the file.
pub const MAX_ROWS: u32 = 20_000;

/// Columns a sheet may use: a cell with content right of column GR (the 200th) refuses the file.
pub const MAX_COLS: u32 = 200;

/// Cells kept in memory: cells with content, the shared strings of the workbook, and the rows as
/// built (each as wide as its last cell) are each at most this many (≈ 10 MB of cells).
pub const MAX_CELLS: usize = 300_000;

/// A worksheet read within the limits.
#[derive(Debug)]
pub struct Sheet {
    pub name: String,
    /// (row, column), 0-based, of `rows[0][0]`: the first row and column with content.
    pub origin: (u32, u32),
    /// The rows from `origin` down, each as long as its last cell with content (rows without
    /// content are empty).
    pub rows: Vec<Vec<Data>>,
    /// Cells (absolute 0-based row, column) that hold a formula.
    pub formulas: HashSet<(u32, u32)>,
}

/// Why a spreadsheet was not read; the message is shown to the user as it stands.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SheetError {
    #[error("Tệp quá lớn (tối đa {} MB).", MAX_IMPORT_BYTES >> 20)]
    TooBig,
    #[error(
        "Tệp giải nén ra tới {mb} MB — không phải một danh sách bình thường (tối đa {} MB).",
        MAX_UNPACKED_BYTES >> 20
    )]
    Unpacked { mb: u64 },
    #[error(
        "Bảng tính quá lớn: ô {cell} nằm ngoài giới hạn {} hàng × {} cột.",
        thousands(MAX_ROWS as usize),
        MAX_COLS
    )]
    OutOfBounds { cell: String },
    #[error(
        "Bảng tính quá lớn: hơn {} ô có dữ liệu (giới hạn {} hàng × {} cột, {} ô).",
        thousands(MAX_CELLS),
        thousands(MAX_ROWS as usize),
        MAX_COLS,
        thousands(MAX_CELLS)
    )]
    TooManyCells,
    #[error(
        "Bảng tính quá lớn: hơn {} chuỗi văn bản (giới hạn {} ô).",
        thousands(MAX_CELLS),
        thousands(MAX_CELLS)
    )]
    TooManyStrings,
    #[error(
        "Chưa nhận tệp .xls (Excel 97–2003): hãy mở tệp bằng Excel hoặc LibreOffice, chọn Lưu thành (Save As) → Sổ làm việc Excel (.xlsx) rồi nhập lại."
    )]
    Xls,
    #[error(
        "Chưa nhận tệp .ods: hãy mở tệp bằng LibreOffice, chọn Lưu thành (Save As) → Excel 2007-365 (.xlsx) rồi nhập lại."
    )]
    Ods,
    #[error("Tệp không phải bảng tính Excel (.xlsx). Hãy lưu tệp dạng .xlsx rồi thử lại.")]
    NotXlsx,
    #[error("Không đọc được tệp Excel (.xlsx): {0}")]
    Unreadable(String),
    #[error("Tệp không có trang tính nào.")]
    NoSheet,
    #[error("{}", DAMAGED)]
    Damaged,
}

/// What a spreadsheet reader that gave up (panicked) on a damaged file becomes.
pub const DAMAGED: &str =
    "Tệp Excel bị hỏng hoặc không đúng định dạng. Hãy mở và lưu lại tệp dạng .xlsx rồi thử lại.";

/// 20000 → "20.000", as the messages write numbers.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(ch);
    }
    out
}

/// Runs a spreadsheet reader, turning a panic inside it into None (the caller's message).
pub fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// A spreadsheet file's bytes (the library's bulk import reads one from a USB stick): at most one
/// byte past [`MAX_IMPORT_BYTES`], so a film named like the sheet is refused by [`read`] instead
/// of being loaded whole into memory.
pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_IMPORT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads one worksheet of an uploaded .xlsx within the limits; `choose` picks it from the sheet
/// names in workbook order (never called with an empty list; an index past the end is the last).
pub fn read(bytes: &[u8], choose: impl FnOnce(&[String]) -> usize) -> Result<Sheet, SheetError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(SheetError::TooBig);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        // An OLE compound file: .xls, or an encrypted .xlsx; calamine's reader of either sizes
        // vectors from the header (see the module comment), so it is never handed one.
        return Err(SheetError::Xls);
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(SheetError::NotXlsx);
    }
    // calamine panics on some damaged files (found by fuzzing): a message, never a crash.
    guarded(|| read_xlsx(bytes, choose)).unwrap_or(Err(SheetError::Damaged))
}

fn unreadable(e: impl std::fmt::Display) -> SheetError {
    SheetError::Unreadable(e.to_string())
}

type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// The stored name of a part, matched as calamine does (case-insensitive, either slash).
fn part_name(zip: &Zip<'_>, path: &str) -> Option<String> {
    zip.file_names()
        .find(|n| n.replace('\\', "/").eq_ignore_ascii_case(path))
        .map(String::from)
}

fn xml_of<'z>(
    zip: &'z mut Zip<'_>,
    name: &str,
) -> Result<quick_xml::Reader<impl std::io::BufRead + 'z>, SheetError> {
    let f = zip.by_name(name).map_err(unreadable)?;
    let mut r = quick_xml::Reader::from_reader(BufReader::new(f));
    r.config_mut().check_end_names = false;
    Ok(r)
}

fn read_xlsx(bytes: &[u8], choose: impl FnOnce(&[String]) -> usize) -> Result<Sheet, SheetError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(unreadable)?;
    // The ZIP reader stops at each part's declared size, so the declared sizes are what counts.
    let mut total = 0u64;
    for i in 0..zip.len() {
        if let Ok(f) = zip.by_index_raw(i) {
            total = total.saturating_add(f.size());
        }
    }
    if total > MAX_UNPACKED_BYTES {
        return Err(SheetError::Unpacked { mb: total >> 20 });
    }
    if part_name(&zip, "xl/workbook.xml").is_none() {
        if part_name(&zip, "content.xml").is_some() {
            return Err(SheetError::Ods);
        }
        return Err(SheetError::NotXlsx);
    }
    // calamine keeps every shared string when it opens the workbook: count them first.
    if let Some(name) = part_name(&zip, "xl/sharedStrings.xml") {
        count_shared_strings(xml_of(&mut zip, &name)?)?;
    }
    let rels = match part_name(&zip, "xl/_rels/workbook.xml.rels") {
        Some(name) => relationships(xml_of(&mut zip, &name)?)?,
        None => return Err(unreadable("thiếu xl/_rels/workbook.xml.rels")),
    };
    let name = part_name(&zip, "xl/workbook.xml").ok_or(SheetError::NotXlsx)?;
    let sheets = workbook_sheets(xml_of(&mut zip, &name)?, &rels)?;
    if sheets.is_empty() {
        return Err(SheetError::NoSheet);
    }
    let names: Vec<String> = sheets.iter().map(|(n, _)| n.clone()).collect();
    let (name, path) = &sheets[choose(&names).min(sheets.len() - 1)];
    let part =
        part_name(&zip, path).ok_or_else(|| unreadable(format!("thiếu trang tính \"{name}\"")))?;
    let formulas = prescan(xml_of(&mut zip, &part)?)?;
    drop(zip);

    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let mut reader = wb
        .worksheet_cells_reader(name)
        .map_err(|e| unreadable(format!("trang tính \"{name}\": {e}")))?;
    let mut cells: Vec<(u32, u32, Data)> = Vec::new();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        // Checked again on calamine's own idea of the position, before the cell is kept.
        let (r, c) = cell.get_position();
        within(r, c)?;
        if cells.len() >= MAX_CELLS {
            return Err(SheetError::TooManyCells);
        }
        cells.push((r, c, Data::from(cell.get_value().clone())));
    }
    let mut sheet = build(cells)?;
    sheet.name = name.clone();
    sheet.formulas = formulas;
    Ok(sheet)
}

fn within(r: u32, c: u32) -> Result<(), SheetError> {
    if r >= MAX_ROWS || c >= MAX_COLS {
        return Err(SheetError::OutOfBounds {
            cell: cell_name(r, c),
        });
    }
    Ok(())
}

/// (0, 0) → "A1"; (1048575, 16383) → "XFD1048576".
fn cell_name(r: u32, c: u32) -> String {
    let mut letters = Vec::new();
    let mut c = u64::from(c) + 1;
    while c > 0 {
        letters.push(b'A' + ((c - 1) % 26) as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), u64::from(r) + 1)
}

/// The rows from the cells present, each only as wide as its last cell.
fn build(cells: Vec<(u32, u32, Data)>) -> Result<Sheet, SheetError> {
    let mut sheet = Sheet {
        name: String::new(),
        origin: (0, 0),
        rows: vec![],
        formulas: HashSet::new(),
    };
    let (Some(r0), Some(c0), Some(r1)) = (
        cells.iter().map(|c| c.0).min(),
        cells.iter().map(|c| c.1).min(),
        cells.iter().map(|c| c.0).max(),
    ) else {
        return Ok(sheet);
    };
    // r1 - r0 < MAX_ROWS and every column < MAX_COLS: `within` passed for each cell.
    let mut widths = vec![0usize; (r1 - r0) as usize + 1];
    for (r, c, _) in &cells {
        let w = &mut widths[(r - r0) as usize];
        *w = (*w).max((c - c0) as usize + 1);
    }
    if widths.iter().sum::<usize>() > MAX_CELLS {
        return Err(SheetError::TooManyCells);
    }
    sheet.rows = widths.iter().map(|w| vec![Data::Empty; *w]).collect();
    for (r, c, d) in cells {
        sheet.rows[(r - r0) as usize][(c - c0) as usize] = d;
    }
    sheet.origin = (r0, c0);
    Ok(sheet)
}

fn xml_error(e: quick_xml::Error) -> SheetError {
    unreadable(e)
}

/// Refuses a workbook with more than [`MAX_CELLS`] shared strings (`<si>`), before calamine
/// would hold them all (an empty `<si/>` is 6 bytes of XML and a 24-byte String).
fn count_shared_strings(
    mut xml: quick_xml::Reader<impl std::io::BufRead>,
) -> Result<(), SheetError> {
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"si" => {
                n += 1;
                if n > MAX_CELLS {
                    return Err(SheetError::TooManyStrings);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// `Id` → `Target` of xl/_rels/workbook.xml.rels.
fn relationships(
    mut xml: quick_xml::Reader<impl std::io::BufRead>,
) -> Result<BTreeMap<Vec<u8>, String>, SheetError> {
    let mut rels = BTreeMap::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                let (mut id, mut target) = (Vec::new(), String::new());
                for a in e.attributes() {
                    let a = a.map_err(unreadable)?;
                    match a.key.as_ref() {
                        b"Id" => id = a.value.to_vec(),
                        b"Target" => {
                            target = xml
                                .decoder()
                                .decode(&a.value)
                                .map_err(unreadable)?
                                .into_owned()
                        }
                        _ => {}
                    }
                }
                rels.insert(id, target);
            }
            Event::Eof => return Ok(rels),
            _ => {}
        }
    }
}

/// The sheets of xl/workbook.xml in order: (name, part path), resolved as calamine does.
fn workbook_sheets(
    mut xml: quick_xml::Reader<impl std::io::BufRead>,
    rels: &BTreeMap<Vec<u8>, String>,
) -> Result<Vec<(String, String)>, SheetError> {
    let mut sheets = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sheet" => {
                let (mut name, mut path) = (String::new(), String::new());
                for a in e.attributes() {
                    let a = a.map_err(unreadable)?;
                    match a.key.as_ref() {
                        b"name" => {
                            name = a
                                .decode_and_unescape_value(xml.decoder())
                                .map_err(xml_error)?
                                .into_owned();
                        }
                        b"r:id" | b"relationships:id" => {
                            let r = rels
                                .get(a.value.as_ref())
                                .ok_or_else(|| unreadable("thiếu liên kết trang tính"))?;
                            path = if let Some(p) = r.strip_prefix('/') {
                                p.to_string()
                            } else if r.starts_with("xl/") {
                                r.clone()
                            } else {
                                format!("xl/{r}")
                            };
                        }
                        _ => {}
                    }
                }
                sheets.push((name, path));
            }
            Event::Eof => return Ok(sheets),
            _ => {}
        }
    }
}

/// A cell or row reference's 0-based (row, column), saturating: anything past the limits is
/// refused anyway, so an absurd number only has to stay absurd. None when malformed.
fn parse_ref(r: &[u8]) -> Option<(u32, Option<u32>)> {
    let split = r.iter().position(|b| b.is_ascii_digit()).unwrap_or(r.len());
    let (letters, digits) = r.split_at(split);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let row = digits.iter().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    let col = if letters.is_empty() {
        None
    } else if letters.iter().all(u8::is_ascii_alphabetic) {
        let n = letters.iter().fold(0u32, |n, l| {
            n.saturating_mul(26)
                .saturating_add(u32::from(l.to_ascii_uppercase() - b'A') + 1)
        });
        Some(n - 1)
    } else {
        return None;
    };
    Some((row.checked_sub(1)?, col))
}

fn attr_r<'a>(e: &'a BytesStart<'_>) -> Result<Option<std::borrow::Cow<'a, [u8]>>, SheetError> {
    for a in e.attributes() {
        let a = a.map_err(unreadable)?;
        if a.key.as_ref() == b"r" {
            return Ok(Some(a.value));
        }
    }
    Ok(None)
}

/// Walks the sheet's `<sheetData>` placing cells as calamine's cell reader does (a cell without
/// `r` follows the previous one, a row without `r` the previous row): every cell with content
/// (`<v>`, `<is>` or `<f>`) must lie within the limits, and at most [`MAX_CELLS`] of them.
/// Returns the cells that hold a formula.
fn prescan(
    mut xml: quick_xml::Reader<impl std::io::BufRead>,
) -> Result<HashSet<(u32, u32)>, SheetError> {
    let mut formulas = HashSet::new();
    let mut buf = Vec::new();
    let (mut row, mut col) = (0u32, 0u32);
    let mut in_data = false;
    // The open cell: its position, whether it has content, whether a formula.
    let mut cell: Option<((u32, u32), bool, bool)> = None;
    let mut n = 0usize;
    loop {
        buf.clear();
        let (e, empty) = match xml.read_event_into(&mut buf).map_err(xml_error)? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                match e.local_name().as_ref() {
                    b"sheetData" => return Ok(formulas),
                    b"row" if in_data => {
                        row = row.saturating_add(1);
                        col = 0;
                    }
                    b"c" if in_data => {
                        if let Some((pos, content, formula)) = cell.take() {
                            if content {
                                within(pos.0, pos.1)?;
                                n += 1;
                                if n > MAX_CELLS {
                                    return Err(SheetError::TooManyCells);
                                }
                                if formula {
                                    formulas.insert(pos);
                                }
                            }
                            col = col.saturating_add(1);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            Event::Eof => return Ok(formulas),
            _ => continue,
        };
        let name = e.local_name();
        match name.as_ref() {
            b"sheetData" if empty => return Ok(formulas),
            b"sheetData" => in_data = true,
            _ if !in_data => {}
            b"row" => {
                if let Some(r) = attr_r(&e)? {
                    row = parse_ref(&r).ok_or_else(|| unreadable("ô không hợp lệ"))?.0;
                }
                if empty {
                    row = row.saturating_add(1);
                    col = 0;
                }
            }
            b"c" if cell.is_none() => {
                let pos = match attr_r(&e)? {
                    Some(r) => match parse_ref(&r) {
                        Some((r, Some(c))) => {
                            col = c;
                            (r, c)
                        }
                        _ => return Err(unreadable("ô không hợp lệ")),
                    },
                    None => (row, col),
                };
                if empty {
                    col = col.saturating_add(1);
                } else {
                    cell = Some((pos, false, false));
                }
            }
            b"v" | b"is" => {
                if let Some(c) = cell.as_mut() {
                    c.1 = true;
                }
            }
            b"f" => {
                if let Some(c) = cell.as_mut() {
                    c.1 = true;
                    c.2 = true;
                }
            }
            _ => {}
        }
    }
}

/// Crafted workbooks for the tests here and the fuzz corpus (`examples/fuzz_seeds.rs`): each is
/// a few KB that once made the reader allocate gigabytes or more.
#[doc(hidden)]
pub mod crafted {
    use std::io::Write;

    /// An .xlsx of the given parts (path, XML) plus the workbook, its relationships and the
    /// content types, one sheet "Sheet1" at xl/worksheets/sheet1.xml.
    pub fn xlsx(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        let base = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            (
                "xl/workbook.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
            ),
        ];
        for (path, xml) in base.iter().chain(parts) {
            z.start_file(*path, o).expect("zip");
            z.write_all(xml.as_bytes()).expect("zip");
        }
        z.finish().expect("zip").into_inner()
    }

    /// xl/worksheets/sheet1.xml with this `<dimension>` and `<sheetData>` content.
    pub fn sheet(dimension: &str, data: &str) -> (&'static str, String) {
        (
            "xl/worksheets/sheet1.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{data}</sheetData></worksheet>"#
            ),
        )
    }

    fn one(dimension: &str, data: &str) -> Vec<u8> {
        let (p, x) = sheet(dimension, data);
        xlsx(&[(p, &x)])
    }

    /// The reviewer's file: a header cell and one number at XFD1048576.
    pub fn far_cell() -> Vec<u8> {
        one(
            "A1:XFD1048576",
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Họ và tên</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
        )
    }

    /// A `<dimension>` claiming the whole grid over two real cells.
    pub fn lying_dimension() -> Vec<u8> {
        one(
            "A1:XFD1048576",
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="B1"><v>2</v></c></row>"#,
        )
    }

    /// Cells without `r` following one another past the last column.
    pub fn implicit_columns() -> Vec<u8> {
        one(
            "A1",
            &format!("<row>{}</row>", "<c><v>1</v></c>".repeat(300)),
        )
    }

    /// Rows without `r` following one another past the last row.
    pub fn implicit_rows() -> Vec<u8> {
        one(
            "A1",
            &format!("{}<row><c><v>1</v></c></row>", "<row/>".repeat(20_000)),
        )
    }

    /// A cell at A1 and one at the last column of each of 2,000 rows: every row would be 200
    /// cells wide.
    pub fn wide_rows() -> Vec<u8> {
        let rows: String = (1..=2_000)
            .map(|r| {
                format!(r#"<row r="{r}"><c r="A{r}"><v>1</v></c><c r="GR{r}"><v>1</v></c></row>"#)
            })
            .collect();
        one("A1", &rows)
    }

    /// 400,000 empty shared strings.
    pub fn many_strings() -> Vec<u8> {
        let (p, x) = sheet("A1", r#"<row><c><v>1</v></c></row>"#);
        let sst = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{}</sst>"#,
            "<si/>".repeat(400_000)
        );
        xlsx(&[(p, &x), ("xl/sharedStrings.xml", &sst)])
    }

    /// A shared formula whose index (`si`) and range (`ref`) would make calamine's formula reader
    /// push four billion entries and map a million cells.
    pub fn shared_formula() -> Vec<u8> {
        one(
            "A1:B2",
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c><c r="B1"><f t="shared" si="4000000000" ref="B1:B1048576">A1</f><v>0</v></c></row><row r="2"><c r="B2"><f t="shared" si="4000000000"/><v>0</v></c></row>"#,
        )
    }

    /// An .ods whose one row claims a billion columns and a million rows.
    pub fn ods_repeats() -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("mimetype", o).expect("zip");
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .expect("zip");
        z.start_file("content.xml", o).expect("zip");
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S"><table:table-row table:number-rows-repeated="1048576"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="1000000000"/></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#).expect("zip");
        z.finish().expect("zip").into_inner()
    }

    /// The start of an .xls (an OLE compound file) whose header claims four billion FAT
    /// sectors.
    pub fn xls_header() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
        b[26] = 3;
        b[28] = 0xFE;
        b[29] = 0xFF;
        b[30] = 9;
        b[32] = 6;
        b[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// The lib's test allocator notes, per thread, the most bytes live at once: a reader that
    /// built the grid a file claims would show here (or abort the test binary, as it aborted
    /// the server).
    mod probe {
        use std::alloc::{GlobalAlloc, Layout, System};

        use super::Cell;

        thread_local! {
            static LIVE: Cell<isize> = const { Cell::new(0) };
            static PEAK: Cell<isize> = const { Cell::new(0) };
        }

        fn note(delta: isize) {
            let _ = LIVE.try_with(|l| {
                l.set(l.get() + delta);
                let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
            });
        }

        pub struct Probe;

        // SAFETY: every call is passed to the system allocator unchanged; only counted.
        unsafe impl GlobalAlloc for Probe {
            unsafe fn alloc(&self, l: Layout) -> *mut u8 {
                note(l.size() as isize);
                // SAFETY: the caller's contract, passed on.
                unsafe { System.alloc(l) }
            }
            unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
                note(l.size() as isize);
                // SAFETY: the caller's contract, passed on.
                unsafe { System.alloc_zeroed(l) }
            }
            unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
                note(-(l.size() as isize));
                // SAFETY: the caller's contract, passed on.
                unsafe { System.dealloc(p, l) }
            }
            unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
                note(new as isize - l.size() as isize);
                // SAFETY: the caller's contract, passed on.
                unsafe { System.realloc(p, l, new) }
            }
        }

        #[global_allocator]
        static PROBE: Probe = Probe;

        /// Runs `f` and returns its result with the most bytes it had live at once.
        pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
            let start = LIVE.with(Cell::get);
            PEAK.with(|p| p.set(start));
            let out = f();
            (out, (PEAK.with(Cell::get) - start).max(0) as usize)
        }
    }

    const MB: usize = 1 << 20;

    /// Reads the first sheet, asserting the reader never held more than `limit_mb` at once.
    fn read_within(bytes: &[u8], limit_mb: usize) -> Result<Sheet, SheetError> {
        let (r, peak) = probe::peak(|| read(bytes, |_| 0));
        assert!(peak < limit_mb * MB, "the reader held {} MB", peak / MB);
        r
    }

    #[test]
    fn a_cell_at_xfd1048576_is_refused_by_name_without_building_the_grid() {
        let bytes = crafted::far_cell();
        assert!(bytes.len() < 5_000);
        let e = read_within(&bytes, 4)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(
            e.to_string(),
            "Bảng tính quá lớn: ô XFD1048576 nằm ngoài giới hạn 20.000 hàng × 200 cột."
        );
    }

    #[test]
    fn a_lying_dimension_is_ignored() {
        let s = read_within(&crafted::lying_dimension(), 4).expect("read");
        assert_eq!(s.origin, (0, 0));
        assert_eq!(
            s.rows,
            vec![vec![Data::String("a".into()), Data::Float(2.0)]]
        );
    }

    #[test]
    fn cells_and_rows_without_references_are_placed_and_bounded() {
        let e = read_within(&crafted::implicit_columns(), 4)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(e, SheetError::OutOfBounds { cell: "GS1".into() });
        let e = read_within(&crafted::implicit_rows(), 4)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(
            e,
            SheetError::OutOfBounds {
                cell: "A20001".into()
            }
        );
    }

    #[test]
    fn rows_made_wide_by_one_far_cell_each_are_refused() {
        let e = read_within(&crafted::wide_rows(), 8)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(e, SheetError::TooManyCells);
        assert!(e.to_string().contains("300.000 ô"), "{e}");
    }

    #[test]
    fn a_huge_shared_string_table_is_refused_before_calamine_keeps_it() {
        let e = read_within(&crafted::many_strings(), 4)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(e, SheetError::TooManyStrings);
    }

    #[test]
    fn formulas_are_found_without_calamines_formula_reader() {
        let s = read_within(&crafted::shared_formula(), 4).expect("read");
        assert_eq!(s.formulas, HashSet::from([(0, 1), (1, 1)]));
        assert_eq!(s.rows.len(), 2);
    }

    #[test]
    fn xls_ods_and_other_files_are_refused_with_what_to_do() {
        let e = read_within(&crafted::ods_repeats(), 4)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(e, SheetError::Ods);
        assert!(e.to_string().contains(".xlsx"));
        let e = read_within(&crafted::xls_header(), 4)
            .map(|s| s.rows.len())
            .expect_err("refused");
        assert_eq!(e, SheetError::Xls);
        assert_eq!(
            read_within(b"Ho va ten,Lop\nA,6A1\n", 4)
                .map(|s| s.rows.len())
                .expect_err("refused"),
            SheetError::NotXlsx
        );
    }

    #[test]
    fn a_real_workbook_reads_as_calamine_read_it() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet().set_name("Toán").expect("name");
        ws.write_string(2, 1, "Họ và tên").expect("write");
        ws.write_number(3, 2, 8.5).expect("write");
        ws.write_formula(4, 2, "=1+1").expect("write");
        let bytes = wb.save_to_buffer().expect("xlsx");
        let s = read(&bytes, |names| {
            assert_eq!(names, ["Toán"]);
            0
        })
        .expect("read");
        assert_eq!(s.name, "Toán");
        assert_eq!(s.origin, (2, 1));
        assert_eq!(s.rows[0], vec![Data::String("Họ và tên".into())]);
        assert_eq!(s.rows[1], vec![Data::Empty, Data::Float(8.5)]);
        assert_eq!(s.formulas, HashSet::from([(4, 2)]));
    }

    #[test]
    fn a_file_on_disk_is_read_only_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("danh-muc.xlsx");
        std::fs::write(&path, vec![b'P'; MAX_IMPORT_BYTES + 4096]).expect("write");
        let bytes = read_file(&path).expect("read");
        assert_eq!(bytes.len(), MAX_IMPORT_BYTES + 1);
        assert_eq!(
            read(&bytes, |_| 0).map(|s| s.rows.len()),
            Err(SheetError::TooBig)
        );
    }

    #[test]
    fn numbers_are_written_the_vietnamese_way() {
        assert_eq!(thousands(20_000), "20.000");
        assert_eq!(thousands(300_000), "300.000");
        assert_eq!(thousands(200), "200");
        assert_eq!(cell_name(1_048_575, 16_383), "XFD1048576");
        assert_eq!(cell_name(0, 199), "GR1");
    }
}
