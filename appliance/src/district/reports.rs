//! The district staff's reports, computed from the relayed records through
//! [`HubStorage::each_record_of`], one school at a time and kept per school until its next batch
//! ([`PartCache`]; so any storage engine feeds them): learning and conduct levels
//! per school × grade × term with district totals, TT27 results of primary schools, results
//! per subject, lesson-plan rates per school and month, enrolment per grade, and each school's
//! contact. Each report is a [`Table`] of names, never codes: the page, its CSV and the xlsx
//! sheet are drawn from the same table, so they cannot disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::{HubError, HubStorage, School};

/// What the staff narrowed the reports to (the page's query string). Empty = everything.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filter {
    #[serde(default, deserialize_with = "empty_none")]
    pub school: Option<String>,
    #[serde(default, deserialize_with = "empty_none")]
    pub grade: Option<String>,
    /// "1", "2" or "CN".
    #[serde(default, deserialize_with = "empty_none")]
    pub term: Option<String>,
    /// "2026-2027".
    #[serde(default, deserialize_with = "empty_none")]
    pub year: Option<String>,
}

/// The lesson-plan report's note under a term filter: the month rule, and that the term does
/// not cut it.
static PLANS_RULE_ANY_TERM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} Bảng này tính mọi tháng của năm học: kế hoạch bài dạy không gắn với học kì, nên bộ lọc học kì không áp dụng.",
        crate::lessons::MONTH_COUNT_RULE
    )
});

/// A form's empty select ("Tất cả") means no filter, not a filter on "".
fn empty_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

impl Filter {
    /// Refuses values no report could match, with the reason in Vietnamese; a year also names
    /// the downloaded file, so only "2026-2027" shapes pass.
    pub fn check(&self) -> Result<(), String> {
        if let Some(y) = &self.year
            && !crate::school::is_school_year(y)
        {
            return Err(format!(
                "Năm học \"{}\" không hợp lệ: ghi dạng 2026-2027.",
                y.chars().take(20).collect::<String>()
            ));
        }
        if let Some(g) = &self.grade
            && !g.parse::<u8>().is_ok_and(|g| (1..=12).contains(&g))
        {
            return Err(format!(
                "Khối \"{}\" không hợp lệ: từ 1 đến 12.",
                g.chars().take(20).collect::<String>()
            ));
        }
        if let Some(t) = &self.term
            && !["1", "2", "CN"].iter().any(|k| k.eq_ignore_ascii_case(t))
        {
            return Err(format!(
                "Học kì \"{}\" không hợp lệ: 1, 2 hoặc CN (cả năm).",
                t.chars().take(20).collect::<String>()
            ));
        }
        if let Some(c) = &self.school
            && !(c.len() <= 16 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err("Mã trường không hợp lệ.".into());
        }
        Ok(())
    }

    /// The one name of a download of these reports (review r21 #8): the stem, the school year
    /// its figures are of, then each filter it was cut by — `ket-qua-2026-2027-hk1-lop-9.csv`,
    /// `phong-gd-2026-2027-truong-79000701.xlsx` —, so a filtered file is never saved under
    /// the whole district's name. Only checked values reach it ([`Filter::check`]); anything
    /// else in them is dropped, never written into the header.
    pub fn file_name(&self, stem: &str, year: Option<&str>, ext: &str) -> String {
        let safe = |v: &str| -> String {
            v.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase()
        };
        let mut name = stem.to_string();
        let mut part = |p: String| {
            if !p.is_empty() && !p.ends_with('-') {
                name.push('-');
                name.push_str(&p);
            }
        };
        if let Some(y) = year {
            part(safe(y));
        }
        if let Some(c) = &self.school {
            part(format!("truong-{}", safe(c)));
        }
        if let Some(t) = &self.term {
            part(match t.to_ascii_uppercase().as_str() {
                "CN" => "ca-nam".to_string(),
                t => format!("hk{}", safe(t)),
            });
        }
        if let Some(g) = &self.grade {
            part(format!("lop-{}", safe(g)));
        }
        format!("{name}.{ext}")
    }

    fn school(&self, code: &str) -> bool {
        self.school.as_deref().is_none_or(|s| s == code)
    }
    fn grade(&self, g: u8) -> bool {
        self.grade.as_deref().is_none_or(|s| s == g.to_string())
    }
    fn term(&self, t: &str) -> bool {
        self.term
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(t))
    }
    fn year(&self, y: &str) -> bool {
        self.year.as_deref().is_none_or(|s| s == y)
    }
    /// The query string that keeps this filter on a download link.
    pub fn query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("school", &self.school),
            ("grade", &self.grade),
            ("term", &self.term),
            ("year", &self.year),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    Num(u64),
    /// A share in percent, one decimal; None when there is nothing to divide by.
    Pct(Option<f64>),
}

impl Cell {
    /// As a person reads it (the page, the CSV): "12,5 %", "—".
    pub fn shown(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(n) => n.to_string(),
            Cell::Pct(Some(p)) => format!("{:.1} %", p).replace('.', ","),
            Cell::Pct(None) => "—".into(),
        }
    }
    pub fn is_num(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn pct(part: u64, whole: u64) -> Cell {
    Cell::Pct((whole > 0).then(|| part as f64 * 100.0 / whole as f64))
}

/// One report: the page's table, a CSV file and an xlsx sheet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Table {
    /// The file name of its CSV and the anchor on the page.
    pub id: &'static str,
    /// Also the xlsx sheet's name (at most 31 characters).
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Rows to draw attention to (a silent school).
    pub marked: BTreeSet<usize>,
    /// The district's total rows.
    pub totals: BTreeSet<usize>,
    /// A bar chart where a picture reads better than the table.
    pub chart: Option<Chart>,
    /// Rows left out of the page by [`Table::for_page`] (the CSV and xlsx have them all).
    pub hidden: usize,
    /// How the table counts, in words: under its title on the page and the last line of its
    /// xlsx sheet (after an empty one), so a workbook read alone says it too; never in the CSV,
    /// whose every line is a row of the table.
    pub note: Option<&'static str>,
}

impl Table {
    pub fn new(id: &'static str, title: &'static str, headers: Vec<&'static str>) -> Table {
        Table {
            id,
            title,
            headers,
            rows: vec![],
            marked: BTreeSet::new(),
            totals: BTreeSet::new(),
            chart: None,
            hidden: 0,
            note: None,
        }
    }

    /// The table as the page shows it: a province's two thousand schools make tens of
    /// thousands of rows no one reads on a screen (and megabytes a phone must load), so past
    /// `limit` rows the page keeps the district's totals and the marked rows (silent schools,
    /// at most `limit`) and says how many rows the CSV and xlsx hold besides.
    pub fn for_page(self, limit: usize) -> Table {
        if self.rows.len() <= limit {
            return self;
        }
        self.page(limit)
    }

    /// [`Table::for_page`] of a kept table: only the rows shown are copied (a province's
    /// overview holds tens of thousands; copying them all on every view was the page's cost).
    pub fn page(&self, limit: usize) -> Table {
        if self.rows.len() <= limit {
            return self.clone();
        }
        let (mut rows, mut marked, mut totals) = (Vec::new(), BTreeSet::new(), BTreeSet::new());
        for (i, r) in self.rows.iter().enumerate() {
            if self.totals.contains(&i) {
                totals.insert(rows.len());
                rows.push(r.clone());
            } else if self.marked.contains(&i) && marked.len() < limit {
                marked.insert(rows.len());
                rows.push(r.clone());
            }
        }
        Table {
            id: self.id,
            title: self.title,
            headers: self.headers.clone(),
            hidden: self.hidden + (self.rows.len() - rows.len()),
            rows,
            marked,
            totals,
            chart: self.chart.clone(),
            note: self.note,
        }
    }

    /// The CSV file: UTF-8 with a BOM so Excel opens Vietnamese correctly.
    pub fn csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        out += &self
            .headers
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &self.rows {
            out += &r
                .iter()
                .map(|c| csv_field(&c.shown()))
                .collect::<Vec<_>>()
                .join(",");
            out.push('\n');
        }
        // The note stays off the CSV: a program reading it must find only rows of the table
        // (the page and the xlsx sheet carry it).
        out
    }
}

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Every report in one workbook, one sheet each.
pub fn xlsx(tables: &[Table]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for t in tables {
        let ws = wb.add_worksheet().set_name(t.title)?;
        for (c, h) in t.headers.iter().enumerate() {
            ws.write_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, r) in t.rows.iter().enumerate() {
            let y = i as u32 + 1;
            for (c, cell) in r.iter().enumerate() {
                let x = c as u16;
                match cell {
                    Cell::Text(s) => ws.write(y, x, s)?,
                    Cell::Num(n) => ws.write(y, x, *n as f64)?,
                    Cell::Pct(Some(p)) => ws.write(y, x, (p * 10.0).round() / 10.0)?,
                    Cell::Pct(None) => ws.write(y, x, "")?,
                };
            }
        }
        ws.autofit();
        if let Some(note) = t.note {
            // After the autofit: one long line does not widen the first column.
            ws.write(t.rows.len() as u32 + 2, 0, note)?;
        }
    }
    wb.save_to_buffer()
}

/// A chart as the page shows it: its caption — what is counted, over what: one term of one
/// year, học sinh not lượt — above the SVG.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    pub caption: String,
    pub svg: String,
}

impl Chart {
    pub fn new(caption: String, bars: &[(String, u64)]) -> Chart {
        Chart {
            svg: bar_chart(&caption, bars),
            caption,
        }
    }
}

/// A horizontal bar chart drawn on the server (no script): one bar per (label, value).
pub fn bar_chart(title: &str, bars: &[(String, u64)]) -> String {
    const ROW: usize = 26;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let h = ROW * bars.len() + 30;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 360 {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 10 + i * ROW;
        let w = (*v as f64 / max as f64 * 170.0).round() as u64;
        svg += &format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"130\" y=\"{}\" width=\"{w}\" height=\"16\" fill=\"#2f6f9f\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{v}</text>",
            y + 13,
            esc(&shorten(label, 20)),
            y + 1,
            135 + w,
            y + 13,
        );
    }
    svg + "</svg>"
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What the results tables count, said under them: a box relays a term's results when the
/// term is locked (khoá sổ), so a class still being graded, or graded but not locked, is not
/// here yet (review r21 #4: the box's own summary counts unlocked results).
pub const RESULTS_RULE: &str = "Kết quả một học kì chỉ được gửi lên phòng khi trường đã khoá sổ học kì đó của lớp; học sinh chưa có kết quả gửi lên (lớp chưa khoá sổ, hoặc chưa đánh giá) nằm ở cột “Chưa có kết quả”.";

/// The TT22 level of a code (mahocluc, mahanhkiem: Điều 8, 9).
pub fn level_name(code: u64) -> &'static str {
    match code {
        1 => "Tốt",
        2 => "Khá",
        3 => "Đạt",
        4 => "Chưa đạt",
        _ => "Chưa có kết quả",
    }
}

/// A subject's name for its id (the school's slug of the name): the 2018 programme's subjects
/// by name; an unknown id is shown as it came, never dropped.
pub fn subject_name(id: &str, names: &BTreeMap<String, String>) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

fn term_name(t: &str) -> &'static str {
    match t {
        "1" => "Học kì I",
        "2" => "Học kì II",
        "CN" | "cn" => "Cả năm",
        _ => "Khác",
    }
}

/// The (year, term) a results chart shows: the filter's year, else the newest with results;
/// the filter's term, else that year's latest with results (Cả năm after HK II after HK I).
/// None when that year and term have no result.
fn chart_term<'a>(
    filter: &Filter,
    have: impl Iterator<Item = (&'a String, &'a String)> + Clone,
) -> Option<(String, String)> {
    let rank = |t: &str| match t {
        "1" => 1,
        "2" => 2,
        "CN" => 3,
        _ => 0,
    };
    let year = match &filter.year {
        Some(y) => y.clone(),
        None => have.clone().map(|(y, _)| y).max()?.clone(),
    };
    let in_year = have.filter(|(y, _)| **y == year).map(|(_, t)| t);
    let term = match &filter.term {
        Some(t) => {
            let t = t.to_uppercase();
            in_year.clone().any(|x| *x == t).then_some(t)?
        }
        None => in_year.max_by_key(|t| rank(t))?.clone(),
    };
    Some((year, term))
}

/// A subject result counted in one column of the per-subject report.
fn subject_column(v: &str) -> Option<usize> {
    // Primary (TT27): "T", "H", "C", with the test score after a space.
    match v.split_whitespace().next().unwrap_or("") {
        "T" => return Some(7),
        "H" => return Some(8),
        "C" => return Some(9),
        "Đ" => return Some(5),
        "CĐ" => return Some(6),
        _ => {}
    }
    let d: f64 = v.replace(',', ".").parse().ok()?;
    Some(match d {
        d if d >= 8.0 => 0,
        d if d >= 6.5 => 1,
        d if d >= 5.0 => 2,
        d if d >= 3.5 => 3,
        _ => 4,
    })
}

const SUBJECT_COLUMNS: [&str; 10] = [
    "8–10",
    "6,5–7,9",
    "5–6,4",
    "3,5–4,9",
    "Dưới 3,5",
    "Đạt",
    "Chưa đạt",
    "Hoàn thành tốt",
    "Hoàn thành",
    "Chưa hoàn thành",
];

/// TT27 year results (ketqua) in the order the report shows them.
const TT27: [(&str, &str); 4] = [
    ("HTXS", "Hoàn thành xuất sắc"),
    ("HTT", "Hoàn thành tốt"),
    ("HT", "Hoàn thành"),
    ("CHT", "Chưa hoàn thành"),
];

/// The school year a date falls in: from August ("2026-09-14" → "2026-2027").
/// "Đăng ký lại 06/12/2026" for a school a box enrolled again for (a new or restored box),
/// else empty: staff see at a glance that the box answering for a school has changed.
pub fn reenrolled(s: &super::School) -> String {
    s.reenrolled_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| {
            format!(
                "Đăng ký lại {}",
                t.to_zoned(crate::school::time_zone()).strftime("%d/%m/%Y")
            )
        })
        .unwrap_or_default()
}

fn school_year_of(date: &str) -> Option<String> {
    let y: i32 = date.get(0..4)?.parse().ok()?;
    let m: u8 = date.get(5..7)?.parse().ok()?;
    Some(if m >= 8 {
        format!("{y}-{}", y + 1)
    } else {
        format!("{}-{y}", y - 1)
    })
}

/// What the page needs besides the tables: the choices of the filter form.
#[derive(Debug, Default, Clone)]
pub struct Choices {
    /// (code, name)
    pub schools: Vec<(String, String)>,
    pub grades: Vec<u8>,
    /// Newest first; a year asked for without data is among them (the form keeps it).
    pub years: Vec<String>,
    /// The year asked for when no school of the filter sent anything of it: the page says so.
    pub empty_year: Option<String>,
}

/// The reports and the filter's choices.
pub struct Reports {
    pub tables: Vec<Table>,
    pub choices: Choices,
    /// Schools silent longer than the limit: "Tên (mã): 9 ngày".
    pub silent: Vec<String>,
    /// Schools left out because the hub is still building their parts (after an upgrade).
    pub pending: usize,
    /// The school year every table counts: the filter's, else the newest with data in the
    /// filter's schools (None: no data at all). Results are never added up across years.
    pub year: Option<String>,
    /// The same counts for `/district/api/stats` ([`super::Stats`]).
    pub stats: super::Stats,
}

impl Reports {
    /// What the page says while some schools' parts are being built, else nothing.
    pub fn pending_note(&self) -> Option<String> {
        (self.pending > 0).then(|| {
            format!(
                "Đang tổng hợp số liệu của {} trường (lần đầu sau khi nâng cấp máy chủ Phòng): báo cáo chưa tính những trường này. Thử lại sau ít phút.",
                self.pending
            )
        })
    }
}

/// Computes every report for `filter`. `silent_days`: a school not heard from for longer is
/// flagged. `now` is passed in (the page's clock), so the warning is testable.
/// Counts of one (school, grade, term, year): learning and conduct levels 1..4 and "none",
/// TT27 results.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Counts {
    students: u64,
    learning: [u64; 5],
    conduct: [u64; 5],
    tt27: [u64; 4],
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.students += o.students;
        for i in 0..5 {
            self.learning[i] += o.learning[i];
            self.conduct[i] += o.conduct[i];
        }
        for i in 0..4 {
            self.tt27[i] += o.tt27[i];
        }
    }
}

/// The kinds of relayed record the reports count: a batch changes a school's [`PartCounts`]
/// only through these.
pub const REPORT_KINDS: [&str; 5] = ["school", "class", "student", "result", "lesson_plan"];

/// One school's report part as the hub stores it (`district.report_parts.v1` on redb,
/// `hub_report_parts` on PostgreSQL), updated in the transaction that stores each batch: every
/// key depends on one record only (a student counts under its class id, a result under its
/// `malop`), so a record replaced or deleted takes back exactly what it added, whatever else
/// changed. Joining the class ids to grades and years is [`SchoolPart::resolve`]'s, when the
/// part is read. A zero count is removed, so a maintained part equals a recount of the records.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartCounts {
    /// `school` record key → the name it gives (not empty).
    #[serde(with = "pairs")]
    names: BTreeMap<String, String>,
    /// `class` record key → (class id, grade, school year).
    #[serde(with = "pairs")]
    classes: BTreeMap<String, (String, u8, String)>,
    /// Class id ("" none) → (student records, of which still at the school).
    #[serde(with = "pairs")]
    students: BTreeMap<String, (u64, u64)>,
    /// (makhoi, term, malop) → counts.
    #[serde(with = "pairs")]
    results: BTreeMap<(u8, String, Option<String>), Counts>,
    /// (subject, term, makhoi, malop) → score band columns.
    #[serde(with = "pairs")]
    subjects: BTreeMap<(String, String, u8, Option<String>), [u64; 10]>,
    /// Always empty: an older binary (rolled back after an update) requires this field of a
    /// stored part — its stats API counted from it; the stats now come from the reports.
    #[serde(with = "pairs")]
    levels: BTreeMap<(String, String), u64>,
    /// (month, grade, school year of the teaching date) → [plans, handed in, approved].
    #[serde(with = "pairs")]
    plans: BTreeMap<PlanKey, [u64; 3]>,
}

/// A map stored as a list of (key, value) pairs: JSON keys are strings, these are tuples.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Adds `d` (+1 or −1) to a count.
fn bump(n: &mut u64, d: i64) {
    *n = n.saturating_add_signed(d);
}

/// Changes the value at `k` with `f`; a value back at zero is removed.
fn change<K: Ord, V: Default + PartialEq>(m: &mut BTreeMap<K, V>, k: K, f: impl FnOnce(&mut V)) {
    use std::collections::btree_map::Entry;
    match m.entry(k) {
        Entry::Occupied(mut o) => {
            f(o.get_mut());
            if *o.get() == V::default() {
                o.remove();
            }
        }
        Entry::Vacant(v) => {
            let mut x = V::default();
            f(&mut x);
            if x != V::default() {
                v.insert(x);
            }
        }
    }
}

impl PartCounts {
    /// One record of `kind` stored as `key` changed from `old` to `new` (None: absent or
    /// deleted): the old version's counts are taken back, the new one's added.
    pub fn apply(
        &mut self,
        kind: &str,
        key: &str,
        old: Option<&serde_json::Value>,
        new: Option<&serde_json::Value>,
    ) {
        if let Some(r) = old {
            self.count(kind, key, r, -1);
        }
        if let Some(r) = new {
            self.count(kind, key, r, 1);
        }
    }

    /// Adds (`d` = 1) or takes back (−1) what one record counts.
    fn count(&mut self, kind: &str, key: &str, r: &serde_json::Value, d: i64) {
        match kind {
            "school" => {
                if d < 0 {
                    self.names.remove(key);
                } else if let Some(n) = r["name"].as_str().filter(|n| !n.trim().is_empty()) {
                    self.names.insert(key.to_string(), n.to_string());
                }
            }
            "class" => {
                if d < 0 {
                    self.classes.remove(key);
                } else if let (Some(id), Some(g)) = (r["id"].as_str(), r["grade"].as_u64()) {
                    let year = r["year"].as_str().unwrap_or_default().to_string();
                    self.classes
                        .insert(key.to_string(), (id.to_string(), g as u8, year));
                }
            }
            "student" => {
                let class = r["class_id"].as_str().unwrap_or_default().to_string();
                // A student who transferred out or withdrew keeps their record (and `left`,
                // with the date) but is no longer enrolled: sĩ số counts those still there.
                let here = r["left"].is_null();
                change(&mut self.students, class, |e| {
                    bump(&mut e.0, d);
                    if here {
                        bump(&mut e.1, d);
                    }
                });
            }
            "result" => self.count_result(r, d),
            "lesson_plan" => {
                let date = r["teach_on"].as_str().unwrap_or_default();
                let month = date.get(0..7).unwrap_or("?").to_string();
                let grade = r["grade"].as_u64().map(|g| g as u8);
                // The box's rule of a month's counts (`lessons::MONTH_COUNT_RULE`), on the
                // relayed plan: the version in force — approved while an approved version
                // stands —, handed in as the box's cadence counts it (not a returned plan).
                let state = r["state"]
                    .as_str()
                    .and_then(crate::lessons::State::parse)
                    .unwrap_or(crate::lessons::State::Draft);
                let in_force = crate::lessons::in_force(state, !r["approved_version"].is_null());
                let (handed, approved) = crate::lessons::month_counts(in_force);
                change(&mut self.plans, (month, grade, school_year_of(date)), |e| {
                    bump(&mut e[0], d);
                    if handed {
                        bump(&mut e[1], d);
                    }
                    if approved {
                        bump(&mut e[2], d);
                    }
                });
            }
            _ => {}
        }
    }

    fn count_result(&mut self, r: &serde_json::Value, d: i64) {
        // A result of a term the school reopened is not final: not counted until the term is
        // locked again and the result relayed afresh (review r24 #2).
        if r["dangmolai"].as_bool() == Some(true) {
            return;
        }
        let raw_term = r["hocky"].as_str().unwrap_or("?");
        let grade = r["makhoi"].as_u64().unwrap_or(0) as u8;
        let term = raw_term.to_uppercase();
        let class = r["malop"].as_str().map(str::to_string);
        let slot = |v: &serde_json::Value| match v.as_u64() {
            Some(n @ 1..=4) => n as usize - 1,
            _ => 4,
        };
        let tt27 = r["ketqua"]
            .as_str()
            .and_then(|k| TT27.iter().position(|(code, _)| *code == k));
        change(
            &mut self.results,
            (grade, term.clone(), class.clone()),
            |c: &mut Counts| {
                bump(&mut c.students, d);
                bump(&mut c.learning[slot(&r["mahocluc"])], d);
                bump(&mut c.conduct[slot(&r["mahanhkiem"])], d);
                if let Some(i) = tt27 {
                    bump(&mut c.tt27[i], d);
                }
            },
        );
        for (subject, v) in r["diemmon"].as_object().into_iter().flatten() {
            if let Some(col) = v.as_str().and_then(subject_column) {
                change(
                    &mut self.subjects,
                    (subject.clone(), term.clone(), grade, class.clone()),
                    |c: &mut [u64; 10]| bump(&mut c[col], d),
                );
            }
        }
    }

    /// A full recount of one school's records (outside any lock: what the test compares the
    /// maintained part with; the storages rebuild a part with [`PartCounts::apply`] inside the
    /// school's lock).
    pub fn recount(hub: &dyn HubStorage, school: &str) -> Result<PartCounts, HubError> {
        let mut p = PartCounts::default();
        for kind in REPORT_KINDS {
            hub.each_keyed_record_of(school, kind, &mut |key, r| {
                p.apply(kind, key, None, Some(r))
            })?;
        }
        Ok(p)
    }
}

/// One school's records reduced to what the reports count, before any filter: every
/// dimension a filter can narrow by stays in the keys. Resolved from the stored
/// [`PartCounts`] (class ids joined to grades and years) and kept by [`PartCache`] until the
/// school's next batch: a report adds up two thousand small parts instead of reading every
/// record (bench/RESULTS.md "reports at province scale").
#[derive(Debug, Default)]
pub struct SchoolPart {
    /// The name the school's relayed details give, if any.
    name: Option<String>,
    /// Class id → (grade, school year).
    classes: BTreeMap<String, (u8, String)>,
    /// (grade, year) → students.
    enrolment: BTreeMap<(u8, String), u64>,
    /// (grade, term, year — "" when the class is unknown) → counts.
    results: BTreeMap<(u8, String, String), Counts>,
    /// (subject, term, grade, year) → score band columns.
    subjects: BTreeMap<(String, String, u8, String), [u64; 10]>,
    /// (month, grade, school year of the teaching date) → (plans, handed in, approved).
    plans: BTreeMap<PlanKey, (u64, u64, u64)>,
}

/// (month, grade, school year of the teaching date).
type PlanKey = (String, Option<u8>, Option<String>);

impl SchoolPart {
    /// The stored counts joined up: each class id to its grade and year (a later class record
    /// with the same id wins, in key order), the school's name from its details.
    pub fn resolve(c: &PartCounts) -> SchoolPart {
        let mut p = SchoolPart {
            name: c.names.values().last().cloned(),
            ..SchoolPart::default()
        };
        for (id, g, y) in c.classes.values() {
            p.classes.insert(id.clone(), (*g, y.clone()));
        }
        for (class, (_, here)) in &c.students {
            let known = p.classes.get(class);
            if let Some((g, y)) = known
                && *here > 0
            {
                *p.enrolment.entry((*g, y.clone())).or_default() += here;
            }
        }
        let year = |class: &Option<String>| {
            class
                .as_deref()
                .and_then(|c| p.classes.get(c))
                .map(|c| c.1.clone())
                .unwrap_or_default()
        };
        let mut results: BTreeMap<(u8, String, String), Counts> = BTreeMap::new();
        for ((g, term, class), counts) in &c.results {
            results
                .entry((*g, term.clone(), year(class)))
                .or_default()
                .add(counts);
        }
        let mut subjects: BTreeMap<(String, String, u8, String), [u64; 10]> = BTreeMap::new();
        for ((s, term, g, class), cols) in &c.subjects {
            let e = subjects
                .entry((s.clone(), term.clone(), *g, year(class)))
                .or_insert([0; 10]);
            for (d, n) in e.iter_mut().zip(cols) {
                *d += n;
            }
        }
        (p.results, p.subjects) = (results, subjects);
        for (k, [n, handed, approved]) in &c.plans {
            p.plans.insert(k.clone(), (*n, *handed, *approved));
        }
        p
    }
}

/// Each school's [`SchoolPart`], kept until the school's next stored batch. The version read
/// from the storage on every report (the school's last batch, record count and enrolment)
/// decides, so two hubs on one database never serve each other's stale parts.
#[derive(Default)]
pub struct PartCache {
    parts: Mutex<HashMap<String, (String, Arc<SchoolPart>)>>,
    /// The last few pages' sums by (filter, names, every school's version).
    sums: Mutex<Vec<(blake3::Hash, Arc<Sums>)>>,
}

/// What a school's part depends on: only a stored batch changes a school's records.
fn version(s: &School) -> String {
    format!("{}/{}/{}", s.enrolled_at, s.last_seq, s.records)
}

/// Sums kept for this many filters (the overview and a few drill-downs).
const KEPT_SUMS: usize = 16;

/// More stale parts than this are read in one query rather than one by one (the first view
/// after a start reads them all).
const BULK_READ: usize = 64;

impl PartCache {
    fn sums(&self, key: &blake3::Hash) -> Option<Arc<Sums>> {
        let kept = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter().find(|(k, _)| k == key).map(|(_, s)| s.clone())
    }

    fn keep_sums(&self, key: blake3::Hash, sums: Arc<Sums>) {
        let mut kept = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(k, _)| *k != key);
        if kept.len() >= KEPT_SUMS {
            kept.remove(0);
        }
        kept.push((key, sums));
    }

    /// The school's part, or None while the hub has not built it yet (a hub upgraded from
    /// before parts were stored: [`build_missing_parts`] is at work).
    pub(super) fn part(
        &self,
        hub: &dyn HubStorage,
        s: &School,
    ) -> Result<Option<Arc<SchoolPart>>, HubError> {
        Ok(self.parts(hub, std::slice::from_ref(s))?.pop().flatten())
    }

    /// [`PartCache::part`] of each school, in order; the stale ones read from the storage,
    /// in one query when there are many.
    pub(super) fn parts(
        &self,
        hub: &dyn HubStorage,
        schools: &[School],
    ) -> Result<Vec<Option<Arc<SchoolPart>>>, HubError> {
        let versions: Vec<String> = schools.iter().map(version).collect();
        let mut out: Vec<Option<Arc<SchoolPart>>> = {
            let kept = self.lock();
            schools
                .iter()
                .zip(&versions)
                .map(|(s, v)| {
                    kept.get(&s.code)
                        .filter(|(kv, _)| kv == v)
                        .map(|(_, p)| p.clone())
                })
                .collect()
        };
        let stale: Vec<usize> = (0..schools.len()).filter(|i| out[*i].is_none()).collect();
        if stale.is_empty() {
            return Ok(out);
        }
        let mut read: HashMap<String, PartCounts> = if stale.len() > BULK_READ {
            hub.report_parts()?.into_iter().collect()
        } else {
            let mut m = HashMap::new();
            for i in &stale {
                if let Some(c) = hub.report_part(&schools[*i].code)? {
                    m.insert(schools[*i].code.clone(), c);
                }
            }
            m
        };
        let mut kept = self.lock();
        for i in stale {
            // A school that has stored no batch yet has nothing to count, not a part to wait for.
            let stored = match read.remove(&schools[i].code) {
                None if schools[i].last_seq == 0 => Some(PartCounts::default()),
                other => other,
            };
            if let Some(c) = stored {
                let p = Arc::new(SchoolPart::resolve(&c));
                kept.insert(schools[i].code.clone(), (versions[i].clone(), p.clone()));
                out[i] = Some(p);
            }
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<SchoolPart>)>> {
        // A panic while holding the map leaves only cached sums behind: start again.
        self.parts.lock().unwrap_or_else(|e| {
            let mut g = e.into_inner();
            g.clear();
            g
        })
    }
}

/// The one-time rebuild of a hub upgraded from before report parts were stored: each school
/// without a part gets one recounted from its records, under the school's lock (a batch
/// arriving meanwhile waits, then updates the new part). School by school, so a stop loses at
/// most the school in hand and the next start carries on. `progress(done, total)` is called
/// after each school. Returns how many were built.
pub fn build_missing_parts(
    hub: &dyn HubStorage,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, HubError> {
    let missing = hub.schools_without_report_part()?;
    for (i, code) in missing.iter().enumerate() {
        hub.rebuild_report_part(code)?;
        progress(i + 1, missing.len());
    }
    Ok(missing.len())
}

/// Code → the name each enrolled school goes by on the hub ([`super::school_display_name`]:
/// relayed, else typed at enrolment, else the code), from the kept parts: what a page or an
/// API shows beside a code (the publish page, the shared items, the schools' list).
pub fn school_names(
    hub: &dyn HubStorage,
    cache: &PartCache,
) -> Result<BTreeMap<String, String>, HubError> {
    let schools = hub.schools()?;
    let parts = cache.parts(hub, &schools)?;
    Ok(schools
        .iter()
        .zip(parts)
        .map(|(s, p)| {
            let relayed = p.as_ref().and_then(|p| p.name.clone());
            (
                s.code.clone(),
                super::school_display_name(relayed.as_deref(), &s.name, &s.code),
            )
        })
        .collect())
}

/// Every report but the schools' contact, added up from the schools' parts under `filter`.
fn sums(
    hub: &dyn HubStorage,
    cache: &PartCache,
    schools: &[School],
    filter: &Filter,
    subject_names: &BTreeMap<String, String>,
) -> Result<Sums, HubError> {
    let mut got = cache.parts(hub, schools)?;
    // One school asked for and not yet built (the one-time rebuild after an upgrade): built
    // now, a few thousand records, rather than making its staff wait for the others.
    if let Some(code) = &filter.school
        && let Some(i) = schools.iter().position(|s| &s.code == code)
        && got[i].is_none()
    {
        hub.rebuild_report_part(code)?;
        got[i] = cache.part(hub, &schools[i])?;
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut pending = Vec::new();
    let mut parts = Vec::with_capacity(schools.len());
    for (s, p) in schools.iter().zip(got) {
        let n = super::school_display_name(
            p.as_ref().and_then(|p| p.name.as_deref()),
            &s.name,
            &s.code,
        );
        names.insert(s.code.clone(), n);
        match p {
            Some(p) => parts.push((s.code.as_str(), p)),
            // Only the schools the filter counts are waited for.
            None if filter.school(&s.code) => pending.push(s.code.clone()),
            None => {}
        }
    }
    let name = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_string());

    let mut choices = Choices {
        schools: names.iter().map(|(c, n)| (c.clone(), n.clone())).collect(),
        ..Choices::default()
    };
    let classes = parts.iter().flat_map(|(_, p)| p.classes.values());
    let grades: BTreeSet<u8> = classes.clone().map(|v| v.0).collect();
    // The years with data: a class's, and a lesson plan's teaching date's.
    let years_of = |p: &SchoolPart| -> BTreeSet<String> {
        p.classes
            .values()
            .map(|v| v.1.clone())
            .chain(p.plans.keys().filter_map(|k| k.2.clone()))
            .filter(|y| !y.is_empty())
            .collect()
    };
    let years: BTreeSet<String> = parts.iter().flat_map(|(_, p)| years_of(p)).collect();
    choices.grades = grades.into_iter().collect();
    // A well-formed year no school sent data of (a bookmark, `?year=1999-2000`) stays chosen in
    // the form, and the page says it has no data (review r20 #10).
    if let Some(y) = &filter.year
        && !parts
            .iter()
            .filter(|(s, _)| filter.school(s))
            .any(|(_, p)| years_of(p).contains(y))
    {
        choices.empty_year = Some(y.clone());
    }
    let mut offered = years.clone();
    offered.extend(filter.year.clone());
    choices.years = offered.into_iter().rev().collect();
    // Every table is of one school year (issue 23: they added up every year's results): the
    // filter's, else the newest with data in the schools it asks for.
    // The newest is the newest with students or results (review r18 #5): a lesson plan
    // drafted for next year, or an empty class opened ahead, does not move every officer's
    // first view to an empty year; plans only when nothing else is there.
    let data_years_of = |p: &SchoolPart| -> BTreeSet<String> {
        p.enrolment
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|((_, y), _)| y.clone())
            .chain(
                p.results
                    .iter()
                    .filter(|(_, c)| c.students > 0)
                    .map(|((_, _, y), _)| y.clone()),
            )
            .filter(|y| !y.is_empty())
            .collect()
    };
    let year = filter.year.clone().or_else(|| {
        let asked = || parts.iter().filter(|(s, _)| filter.school(s));
        asked()
            .flat_map(|(_, p)| data_years_of(p))
            .max()
            .or_else(|| parts.iter().flat_map(|(_, p)| data_years_of(p)).max())
            .or_else(|| asked().flat_map(|(_, p)| years_of(p)).max())
            .or_else(|| years.last().cloned())
    });
    let filter = &Filter {
        year: year.clone(),
        ..filter.clone()
    };

    // The parts added up under the filter: the same maps the tables below are drawn from.
    // Enrolment: school → grade → students.
    let mut enrolment: BTreeMap<String, BTreeMap<u8, u64>> = BTreeMap::new();
    // (school, grade, term) → counts.
    let mut results: BTreeMap<(String, u8, String), Counts> = BTreeMap::new();
    // (subject, term) → columns
    let mut subjects: BTreeMap<(String, String), [u64; 10]> = BTreeMap::new();
    // (school, month) → (plans, handed in, approved).
    let mut plans: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    // The chart's counts, which keep the year: (school, grade, year, term) → counts, and
    // (school, grade, year) → students.
    let mut chart_results: BTreeMap<(String, u8, String, String), Counts> = BTreeMap::new();
    let mut chart_enrolment: BTreeMap<(String, u8, String), u64> = BTreeMap::new();
    for (school, p) in parts.iter().filter(|(s, _)| filter.school(s)) {
        for ((g, y), n) in &p.enrolment {
            if filter.grade(*g) && filter.year(y) {
                *enrolment
                    .entry(school.to_string())
                    .or_default()
                    .entry(*g)
                    .or_default() += n;
                *chart_enrolment
                    .entry((school.to_string(), *g, y.clone()))
                    .or_default() += n;
            }
        }
        for ((g, term, y), c) in &p.results {
            if filter.grade(*g) && filter.term(term) && filter.year(y) {
                results
                    .entry((school.to_string(), *g, term.clone()))
                    .or_default()
                    .add(c);
                if !y.is_empty() {
                    chart_results
                        .entry((school.to_string(), *g, y.clone(), term.clone()))
                        .or_default()
                        .add(c);
                }
            }
        }
        for ((subject, term, g, y), cols) in &p.subjects {
            if filter.grade(*g) && filter.term(term) && filter.year(y) {
                let e = subjects
                    .entry((subject.clone(), term.clone()))
                    .or_insert([0; 10]);
                for (d, n) in e.iter_mut().zip(cols) {
                    *d += n;
                }
            }
        }
        for ((month, g, y), (n, handed, approved)) in &p.plans {
            // A plan that names no grade is of none: counted without a grade filter, never as
            // the filtered grade's (issue 23: each table honours the page's filters).
            let grade_ok = match g {
                Some(g) => filter.grade(*g),
                None => filter.grade.is_none(),
            };
            let year_ok = y.as_deref().is_some_and(|y| filter.year(y));
            if grade_ok && year_ok {
                let e = plans
                    .entry((school.to_string(), month.clone()))
                    .or_default();
                e.0 += n;
                e.1 += handed;
                e.2 += approved;
            }
        }
    }

    // A student a school sent without a result for a term the reports show is counted as not
    // yet graded (chưa đánh giá), so each row's levels add up to its students. TT22 grades only
    // (6–12): a primary school's year goes to TT27's table.
    let reported_terms: BTreeSet<String> = results
        .keys()
        .filter(|k| k.1 >= 6)
        .map(|k| k.2.clone())
        .collect();
    for (school, grades) in &enrolment {
        for (g, n) in grades.iter().filter(|(g, _)| **g >= 6) {
            for term in &reported_terms {
                let c = results
                    .entry((school.clone(), *g, term.clone()))
                    .or_default();
                c.students = c.students.max(*n);
            }
        }
    }

    let mut tables = Vec::new();

    // Learning and conduct levels.
    let mut t = Table::new(
        "ket-qua",
        "Kết quả học tập, rèn luyện",
        vec![
            "Trường",
            "Khối",
            "Học kì",
            "Số học sinh",
            "Học tập: Tốt",
            "Học tập: Khá",
            "Học tập: Đạt",
            "Học tập: Chưa đạt",
            "Học tập: Chưa có kết quả",
            "Rèn luyện: Tốt",
            "Rèn luyện: Khá",
            "Rèn luyện: Đạt",
            "Rèn luyện: Chưa đạt",
            "Rèn luyện: Chưa có kết quả",
        ],
    );
    t.note = Some(RESULTS_RULE);
    let mut totals: BTreeMap<(u8, String), Counts> = BTreeMap::new();
    let row = |who: String, g: u8, term: &str, c: &Counts| -> Vec<Cell> {
        let mut v = vec![
            text(who),
            Cell::Num(g as u64),
            text(term_name(term)),
            Cell::Num(c.students),
        ];
        let graded = |levels: &[u64]| levels[..4].iter().sum::<u64>();
        v.extend(c.learning[..4].iter().map(|n| Cell::Num(*n)));
        v.push(Cell::Num(c.students.saturating_sub(graded(&c.learning))));
        v.extend(c.conduct[..4].iter().map(|n| Cell::Num(*n)));
        v.push(Cell::Num(c.students.saturating_sub(graded(&c.conduct))));
        v
    };
    // TT22 results only: a primary school's rows have no learning level and go to TT27's table.
    let tt22 = |g: u8, c: &Counts| {
        g >= 6
            || c.learning[..4]
                .iter()
                .chain(&c.conduct[..4])
                .any(|n| *n > 0)
    };
    for ((school, g, term), c) in &results {
        if !tt22(*g, c) {
            continue;
        }
        t.rows.push(row(name(school), *g, term, c));
        let tot = totals.entry((*g, term.clone())).or_default();
        tot.students += c.students;
        for i in 0..5 {
            tot.learning[i] += c.learning[i];
            tot.conduct[i] += c.conduct[i];
        }
    }
    for ((g, term), c) in &totals {
        t.totals.insert(t.rows.len());
        t.rows.push(row("Toàn huyện".into(), *g, term, c));
    }
    // The chart counts each student once: one term of one year — the filter's, else the newest
    // year with results and its latest term (Cả năm after HK II after HK I) —, its levels and
    // those not yet graded (review r14 #9: HK I + HK II + Cả năm added up counted every student
    // three times, and "Chưa đánh giá" was missing).
    let scope = match (&filter.school, &filter.grade) {
        (Some(code), Some(g)) => format!("{}, khối {g}", name(code)),
        (Some(code), None) => name(code),
        (None, Some(g)) => format!("toàn huyện, khối {g}"),
        (None, None) => "toàn huyện".into(),
    };
    if let Some((year, term)) = chart_term(filter, chart_results.keys().map(|k| (&k.2, &k.3))) {
        let mut per: BTreeMap<(&str, u8), Counts> = BTreeMap::new();
        for ((school, g, y, tm), c) in &chart_results {
            if *y == year && *tm == term && tt22(*g, c) {
                per.entry((school.as_str(), *g)).or_default().add(c);
            }
        }
        // A student sent without a result for the term is counted as not yet graded, as in
        // the table (TT22 grades only).
        for ((school, g, y), n) in &chart_enrolment {
            if *y == year && *g >= 6 {
                let c = per.entry((school.as_str(), *g)).or_default();
                c.students = c.students.max(*n);
            }
        }
        let mut bars = [0u64; 5];
        let mut students = 0;
        for c in per.values() {
            students += c.students;
            for (b, n) in bars.iter_mut().zip(&c.learning[..4]) {
                *b += n;
            }
            bars[4] += c
                .students
                .saturating_sub(c.learning[..4].iter().sum::<u64>());
        }
        if students > 0 {
            t.chart = Some(Chart::new(
                format!(
                    "Kết quả học tập {scope} — {}, năm học {year}: số học sinh theo mức ({students} học sinh, mỗi em tính một lần)",
                    term_name(&term)
                ),
                &(1..=5)
                    .map(|l| (level_name(l).to_string(), bars[l as usize - 1]))
                    .collect::<Vec<_>>(),
            ));
        }
    }
    tables.push(t);

    // Primary schools (TT27): the year's result.
    let mut t = Table::new(
        "tieu-hoc",
        "Kết quả tiểu học (TT27)",
        vec![
            "Trường",
            "Khối",
            "Học kì",
            "Hoàn thành xuất sắc",
            "Hoàn thành tốt",
            "Hoàn thành",
            "Chưa hoàn thành",
        ],
    );
    let mut tt27_totals: BTreeMap<(u8, String), [u64; 4]> = BTreeMap::new();
    for ((school, g, term), c) in &results {
        if c.tt27.iter().all(|n| *n == 0) {
            continue;
        }
        let mut v = vec![
            text(name(school)),
            Cell::Num(*g as u64),
            text(term_name(term)),
        ];
        v.extend(c.tt27.iter().map(|n| Cell::Num(*n)));
        t.rows.push(v);
        let tot = tt27_totals.entry((*g, term.clone())).or_default();
        for (d, n) in tot.iter_mut().zip(&c.tt27) {
            *d += n;
        }
    }
    for ((g, term), c) in &tt27_totals {
        t.totals.insert(t.rows.len());
        let mut v = vec![
            text("Toàn huyện"),
            Cell::Num(*g as u64),
            text(term_name(term)),
        ];
        v.extend(c.iter().map(|n| Cell::Num(*n)));
        t.rows.push(v);
    }
    tables.push(t);

    // Per subject.
    let mut headers = vec!["Môn học", "Học kì"];
    headers.extend(SUBJECT_COLUMNS);
    let mut t = Table::new("mon-hoc", "Kết quả theo môn", headers);
    let mut by_name: Vec<(String, String, [u64; 10])> = subjects
        .iter()
        .map(|((s, term), c)| (subject_name(s, subject_names), term.clone(), *c))
        .collect();
    by_name.sort_by(|a, b| (crate::text::fold(&a.0), &a.1).cmp(&(crate::text::fold(&b.0), &b.1)));
    for (s, term, c) in by_name {
        let mut v = vec![text(s), text(term_name(&term))];
        v.extend(c.iter().map(|n| Cell::Num(*n)));
        t.rows.push(v);
    }
    tables.push(t);

    // Lesson plans.
    let mut t = Table::new(
        "ke-hoach",
        "Kế hoạch bài dạy",
        vec![
            "Trường",
            "Tháng",
            "Số kế hoạch",
            "Đã nộp",
            "Đã phê duyệt",
            "Tỉ lệ nộp",
            "Tỉ lệ phê duyệt",
        ],
    );
    // A plan is dated, not of a term (the hub has no school's term dates): under a term filter
    // the table says it counts the year's months rather than silently ignoring the filter.
    t.note = Some(if filter.term.is_some() {
        PLANS_RULE_ANY_TERM.as_str()
    } else {
        crate::lessons::MONTH_COUNT_RULE
    });
    let mut per_school: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for ((school, month), (n, handed, approved)) in &plans {
        let shown_month = match month.split_once('-') {
            Some((y, m)) => format!("{m}/{y}"),
            None => month.clone(),
        };
        t.rows.push(vec![
            text(name(school)),
            text(shown_month),
            Cell::Num(*n),
            Cell::Num(*handed),
            Cell::Num(*approved),
            pct(*handed, *n),
            pct(*approved, *n),
        ]);
        let e = per_school.entry(school.clone()).or_default();
        e.0 += n;
        e.1 += approved;
    }
    if !per_school.is_empty() {
        t.chart = Some(Chart::new(
            "Tỉ lệ kế hoạch bài dạy đã phê duyệt của mỗi trường (%), các tháng đang lọc".into(),
            &per_school
                .iter()
                .map(|(s, (n, a))| (name(s), if *n == 0 { 0 } else { a * 100 / n }))
                .collect::<Vec<_>>(),
        ));
    }
    tables.push(t);

    // Enrolment.
    let mut t = Table::new(
        "si-so",
        "Sĩ số theo khối",
        vec!["Trường", "Khối", "Số học sinh"],
    );
    let mut per_grade: BTreeMap<u8, u64> = BTreeMap::new();
    for (school, grades) in &enrolment {
        for (g, n) in grades {
            t.rows.push(vec![
                text(name(school)),
                Cell::Num(*g as u64),
                Cell::Num(*n),
            ]);
            *per_grade.entry(*g).or_default() += n;
        }
    }
    for (g, n) in &per_grade {
        t.totals.insert(t.rows.len());
        t.rows.push(vec![
            text("Toàn huyện"),
            Cell::Num(*g as u64),
            Cell::Num(*n),
        ]);
    }
    if !per_grade.is_empty() {
        t.chart = Some(Chart::new(
            format!("Số học sinh theo khối, {scope}"),
            &per_grade
                .iter()
                .map(|(g, n)| (format!("Khối {g}"), *n))
                .collect::<Vec<_>>(),
        ));
    }
    tables.push(t);

    // `/district/api/stats`: the same maps the tables above were drawn from.
    let mut stats = super::Stats {
        year: year.clone(),
        enrolment,
        ..super::Stats::default()
    };
    for ((school, _), (n, handed, approved)) in &plans {
        let e = stats.lesson_plans.entry(school.clone()).or_default();
        (e.0, e.1, e.2) = (e.0 + n, e.1 + handed, e.2 + approved);
    }
    for ((_, g, term), c) in &results {
        if !tt22(*g, c) {
            continue;
        }
        let l = stats.levels.entry(format!("hocluc/{term}")).or_default();
        let graded: u64 = c.learning[..4].iter().sum();
        let levels = c.learning[..4].iter().enumerate();
        for (level, n) in levels
            .map(|(i, n)| ((i + 1).to_string(), *n))
            .chain([("—".to_string(), c.students.saturating_sub(graded))])
        {
            if n > 0 {
                *l.entry(level).or_default() += n;
            }
        }
    }
    for ((subject, term), cols) in &subjects {
        let l = stats.levels.entry(format!("{subject}/{term}")).or_default();
        for (name, n) in SUBJECT_COLUMNS.iter().zip(cols) {
            if *n > 0 {
                *l.entry(name.to_string()).or_default() += n;
            }
        }
    }

    Ok(Sums {
        tables,
        choices,
        names,
        pending,
        year,
        stats,
    })
}

/// What [`sums`] gives: kept by [`PartCache`] for the next view.
struct Sums {
    tables: Vec<Table>,
    choices: Choices,
    /// School code → the name shown.
    names: BTreeMap<String, String>,
    /// Schools whose part the hub has not built yet (left out of the sums).
    pending: Vec<String>,
    /// The school year counted ([`Reports::year`]).
    year: Option<String>,
    /// The same counts for `/district/api/stats`.
    stats: super::Stats,
}

pub fn reports(
    hub: &dyn HubStorage,
    cache: &PartCache,
    filter: &Filter,
    silent_days: i64,
    subject_names: &BTreeMap<String, String>,
    now: jiff::Timestamp,
) -> Result<Reports, HubError> {
    reports_for(hub, cache, filter, silent_days, subject_names, now, None)
}

/// [`reports`], each table as [`Table::page`] gives it when `page_rows` is set (the staff
/// page), whole otherwise (the CSV and xlsx).
pub fn reports_for(
    hub: &dyn HubStorage,
    cache: &PartCache,
    filter: &Filter,
    silent_days: i64,
    subject_names: &BTreeMap<String, String>,
    now: jiff::Timestamp,
    page_rows: Option<usize>,
) -> Result<Reports, HubError> {
    let schools = hub.schools()?;
    // The sums depend on the filter, the code file's names and each school's version: while
    // none of them changes (no batch stored), the page is served from the last sums. The
    // contact report depends on the clock and is drawn afresh below.
    let mut key = blake3::Hasher::new();
    key.update(filter.query().as_bytes());
    key.update(format!("{subject_names:?}").as_bytes());
    for s in &schools {
        key.update(format!("{}\u{1}{}\u{1}{}\u{1}", s.code, s.name, version(s)).as_bytes());
    }
    let key = key.finalize();
    let sums = match cache.sums(&key) {
        Some(sums) => sums,
        None => {
            let sums = Arc::new(sums(hub, cache, &schools, filter, subject_names)?);
            // Not kept while parts are still being built: the next view counts more schools.
            if sums.pending.is_empty() {
                cache.keep_sums(key, sums.clone());
            }
            sums
        }
    };
    let mut tables: Vec<Table> = match page_rows {
        Some(n) => sums.tables.iter().map(|t| t.page(n)).collect(),
        None => sums.tables.clone(),
    };
    let name = |code: &str| {
        sums.names
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    };
    // Contact.
    let mut t = Table::new(
        "lien-lac",
        "Liên lạc của các trường",
        vec![
            "Trường",
            "Mã trường",
            "Liên lạc lần cuối",
            "Số ngày không liên lạc",
            "Còn chờ gửi",
            "Số lô",
            "Dung lượng",
            "Lần bị từ chối",
            "Lỗi gần nhất",
            "Cảnh báo",
            "Đăng ký lại",
        ],
    );
    let mut silent = Vec::new();
    for s in schools.iter().filter(|s| filter.school(&s.code)) {
        let last = s
            .last_contact
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let days = last.map(|t| (now - t).get_seconds().max(0) / 86_400);
        let warning = match days {
            Some(d) if d > silent_days => format!("Không liên lạc {d} ngày (quá {silent_days})"),
            None => "Chưa gửi dữ liệu lần nào".into(),
            _ => String::new(),
        };
        if !warning.is_empty() {
            t.marked.insert(t.rows.len());
            silent.push(format!("{} ({}): {warning}", name(&s.code), s.code));
        }
        t.rows.push(vec![
            text(name(&s.code)),
            text(&s.code),
            text(
                last.map(|t| {
                    t.to_zoned(crate::school::time_zone())
                        .strftime("%H:%M %d/%m/%Y")
                        .to_string()
                })
                .unwrap_or_else(|| "chưa liên lạc".into()),
            ),
            days.map_or(text("—"), |d| Cell::Num(d as u64)),
            Cell::Num(s.backlog),
            Cell::Num(s.batches),
            text(crate::text::human_size(s.bytes)),
            Cell::Num(s.errors.len() as u64),
            text(
                s.errors
                    .last()
                    .map(|(at, why)| format!("{at}: {why}"))
                    .unwrap_or_default(),
            ),
            text(warning),
            text(reenrolled(s)),
        ]);
    }
    tables.push(t);

    Ok(Reports {
        tables,
        choices: sums.choices.clone(),
        silent,
        pending: sums.pending.len(),
        year: sums.year.clone(),
        stats: super::Stats {
            pending: sums.pending.clone(),
            ..sums.stats.clone()
        },
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_filtered_download_is_named_by_its_filter() {
        let f = |school: Option<&str>, grade: Option<&str>, term: Option<&str>| super::Filter {
            school: school.map(Into::into),
            grade: grade.map(Into::into),
            term: term.map(Into::into),
            year: None,
        };
        let y = Some("2026-2027");
        assert_eq!(
            f(None, None, None).file_name("ke-hoach", y, "csv"),
            "ke-hoach-2026-2027.csv"
        );
        assert_eq!(
            f(None, Some("8"), None).file_name("ke-hoach", y, "csv"),
            "ke-hoach-2026-2027-lop-8.csv"
        );
        assert_eq!(
            f(None, Some("9"), Some("1")).file_name("ket-qua", y, "csv"),
            "ket-qua-2026-2027-hk1-lop-9.csv"
        );
        assert_eq!(
            f(None, None, Some("cn")).file_name("ket-qua", y, "csv"),
            "ket-qua-2026-2027-ca-nam.csv"
        );
        assert_eq!(
            f(Some("79000701"), Some("9"), None).file_name("phong-gd", y, "xlsx"),
            "phong-gd-2026-2027-truong-79000701-lop-9.xlsx"
        );
        assert_eq!(
            f(None, None, None).file_name("phong-gd", None, "xlsx"),
            "phong-gd.xlsx"
        );
        // Nothing but letters, digits and '-' reaches the header.
        assert_eq!(
            f(Some("a\"; x"), None, None).file_name("si-so", y, "csv"),
            "si-so-2026-2027-truong-ax.csv"
        );
    }

    use super::*;

    #[test]
    fn the_chart_shows_the_filters_term_else_the_newest_years_latest() {
        let have: Vec<(String, String)> = [
            ("2025-2026", "1"),
            ("2025-2026", "CN"),
            ("2026-2027", "1"),
            ("2026-2027", "2"),
        ]
        .iter()
        .map(|(y, t)| (y.to_string(), t.to_string()))
        .collect();
        let pick = |year: Option<&str>, term: Option<&str>| {
            let f = Filter {
                year: year.map(str::to_string),
                term: term.map(str::to_string),
                ..Filter::default()
            };
            chart_term(&f, have.iter().map(|(y, t)| (y, t)))
        };
        let got = |y: &str, t: &str| Some((y.to_string(), t.to_string()));
        assert_eq!(pick(None, None), got("2026-2027", "2"));
        assert_eq!(pick(Some("2025-2026"), None), got("2025-2026", "CN"));
        assert_eq!(pick(None, Some("1")), got("2026-2027", "1"));
        assert_eq!(pick(Some("2025-2026"), Some("cn")), got("2025-2026", "CN"));
        // A term the year has no result for: no chart.
        assert_eq!(pick(None, Some("CN")), None);
        assert_eq!(pick(Some("2024-2025"), None), None);
    }

    /// Review r24 #2: a result the school marked reopened (`dangmolai`) counts nothing, and
    /// replacing it by the result stored at the next lock counts that one; a counted result
    /// replaced by its reopened version is taken back.
    #[test]
    fn a_reopened_result_is_not_counted() {
        let res = |reopened: bool| {
            let mut v = serde_json::json!({
                "hocky": "CN", "makhoi": 9, "malop": "2025-9a1", "mahocluc": 1,
                "mahanhkiem": 1, "phienban": 1
            });
            if reopened {
                v["dangmolai"] = true.into();
            }
            v
        };
        let mut p = super::PartCounts::default();
        p.apply("result", "k", None, Some(&res(false)));
        let counted = p.clone();
        assert_ne!(counted, super::PartCounts::default());
        p.apply("result", "k", Some(&res(false)), Some(&res(true)));
        assert_eq!(p, super::PartCounts::default(), "reopened: taken back");
        p.apply("result", "k", Some(&res(true)), Some(&res(false)));
        assert_eq!(p, counted, "locked again: counted");
    }

    #[test]
    fn subject_results_fall_in_ordered_columns() {
        assert_eq!(subject_column("8.0"), Some(0));
        assert_eq!(subject_column("7.9"), Some(1));
        assert_eq!(subject_column("6.5"), Some(1));
        assert_eq!(subject_column("5.0"), Some(2));
        assert_eq!(subject_column("3.4"), Some(4));
        assert_eq!(subject_column("Đ"), Some(5));
        assert_eq!(subject_column("CĐ"), Some(6));
        assert_eq!(subject_column("T 9"), Some(7));
        assert_eq!(subject_column("C"), Some(9));
        assert_eq!(subject_column(""), None);
    }

    #[test]
    fn a_date_belongs_to_the_school_year_starting_in_august() {
        assert_eq!(school_year_of("2026-09-14").as_deref(), Some("2026-2027"));
        assert_eq!(school_year_of("2027-05-02").as_deref(), Some("2026-2027"));
        assert_eq!(school_year_of("x"), None);
    }

    #[test]
    fn a_long_table_keeps_its_totals_and_marked_rows_on_the_page() {
        let mut t = Table::new("t", "T", vec!["a"]);
        for i in 0..10u64 {
            if i == 3 {
                t.marked.insert(t.rows.len());
            }
            if i == 9 {
                t.totals.insert(t.rows.len());
            }
            t.rows.push(vec![Cell::Num(i)]);
        }
        let short = t.clone().for_page(10);
        assert_eq!((short.rows.len(), short.hidden), (10, 0));
        // A kept table's page copies the same rows.
        let by_ref = t.page(5);
        let page = t.for_page(5);
        assert_eq!(
            (by_ref.rows.clone(), by_ref.hidden),
            (page.rows.clone(), page.hidden)
        );
        let shown: Vec<String> = page.rows.iter().map(|r| r[0].shown()).collect();
        assert_eq!(shown, ["3", "9"]);
        assert_eq!(page.hidden, 8);
        assert!(page.marked.contains(&0) && page.totals.contains(&1));
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut t = Table::new("x", "X", vec!["Tên", "Số"]);
        t.rows
            .push(vec![text("Trường \"A\", xã B"), Cell::Pct(Some(12.25))]);
        assert_eq!(
            t.csv(),
            "\u{feff}Tên,Số\n\"Trường \"\"A\"\", xã B\",\"12,2 %\"\n"
        );
    }
}
