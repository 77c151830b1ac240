//! Printable PDFs of the gradebook — phiếu liên lạc, học bạ and the class summary — with the
//! DejaVu Sans font embedded (every Vietnamese letter, precomposed; text stays extractable).
//! A tiny layout: pages of text and lines are laid out first, then drawn with krilla.

use std::sync::LazyLock;

use krilla::Document;
use krilla::geom::{PathBuilder, Point};
use krilla::page::PageSettings;
use krilla::paint::Stroke;
use krilla::text::{Font, TextDirection};

static REGULAR: LazyLock<Option<Font>> = LazyLock::new(|| {
    Font::new(
        krilla::Data::from(&include_bytes!("../../../web/fonts/DejaVuSans.ttf")[..]),
        0,
    )
});
static BOLD: LazyLock<Option<Font>> = LazyLock::new(|| {
    Font::new(
        krilla::Data::from(&include_bytes!("../../../web/fonts/DejaVuSans-Bold.ttf")[..]),
        0,
    )
});

#[derive(Debug, thiserror::Error)]
#[error("PDF: {0}")]
pub struct PdfError(String);

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
    },
}

/// A4 pages (points), portrait or landscape, or any size (`sized`), laid out top to bottom.
pub struct Layout {
    pages: Vec<Vec<Op>>,
    pub width: f32,
    pub height: f32,
    pub margin: f32,
    /// The baseline cursor.
    pub y: f32,
    /// Files embedded as the document's associated data (PDF/A-3 style /AF, AFRelationship
    /// /Data): (name, description, JSON bytes).
    data: Vec<(String, String, Vec<u8>)>,
}

/// DejaVu Sans averages a little over half an em per character; enough to fit table cells.
fn approx_width(text: &str, size: f32) -> f32 {
    text.chars().count() as f32 * size * 0.56
}

/// Splits text into lines that fit `width` (by words; a word too long is shortened).
fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines = vec![];
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let candidate = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if approx_width(&candidate, size) <= width || cur.is_empty() {
            cur = if cur.is_empty() {
                fit(word, width, size)
            } else {
                candidate
            };
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = fit(word, width, size);
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

fn fit(text: &str, width: f32, size: f32) -> String {
    if approx_width(text, size) <= width {
        return text.to_string();
    }
    let max = ((width / (size * 0.56)) as usize).saturating_sub(1);
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    s
}

impl Layout {
    pub fn new(landscape: bool) -> Layout {
        let (width, height) = if landscape {
            (842.0, 595.0)
        } else {
            (595.0, 842.0)
        };
        Layout {
            pages: vec![vec![]],
            width,
            height,
            margin: 36.0,
            y: 36.0,
            data: vec![],
        }
    }

    /// A page of `width` × `height` points (A3 landscape, 1190.55 × 841.89, for a wide book).
    pub fn sized(width: f32, height: f32) -> Layout {
        Layout {
            width,
            height,
            ..Layout::new(false)
        }
    }

    /// Writes `text(page, pages)` centred at the foot of every page laid out so far (a page
    /// count: "Trang 3/12"); call it once the layout is complete.
    pub fn footer(&mut self, size: f32, text: impl Fn(usize, usize) -> String) {
        let n = self.pages.len();
        let y = self.height - self.margin / 2.0;
        for (i, page) in self.pages.iter_mut().enumerate() {
            let t = text(i + 1, n);
            let x = (self.width - approx_width(&t, size)) / 2.0;
            page.push(Op::Text {
                x,
                y,
                size,
                bold: false,
                text: t,
            });
        }
    }

    /// Embeds `json` as the structured data the printed pages show (a receiving school reads
    /// the record from the file itself, like an invoice's embedded XML); inside the signed
    /// bytes once the file is signed.
    pub fn attach_json(&mut self, name: &str, description: &str, json: Vec<u8>) {
        self.data.push((name.into(), description.into(), json));
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page")
    }

    /// How many pages the layout has so far.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    pub fn new_page(&mut self) {
        self.pages.push(vec![]);
        self.y = self.margin;
    }

    /// Makes room for `h` points, starting a new page if needed; returns whether it did.
    pub fn ensure(&mut self, h: f32) -> bool {
        if self.y + h > self.height - self.margin {
            self.new_page();
            true
        } else {
            false
        }
    }

    pub fn text_at(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        if !text.is_empty() {
            let text = crate::text::nfc(text);
            self.ops().push(Op::Text {
                x,
                y,
                size,
                bold,
                text,
            });
        }
    }

    /// One line of text at the cursor, then moves down.
    pub fn line(&mut self, size: f32, bold: bool, text: &str) {
        self.ensure(size * 1.5);
        self.y += size * 1.2;
        let (x, w) = (self.margin, self.width - 2.0 * self.margin);
        self.text_at(x, self.y, size, bold, &fit(text, w, size));
        self.y += size * 0.4;
    }

    /// A centred line.
    pub fn centred(&mut self, size: f32, bold: bool, text: &str) {
        self.ensure(size * 1.5);
        self.y += size * 1.2;
        // bold glyphs are wider
        let w = approx_width(text, size) * if bold { 1.12 } else { 1.0 };
        let x = ((self.width - w) / 2.0).max(self.margin);
        self.text_at(x, self.y, size, bold, text);
        self.y += size * 0.4;
    }

    /// Text wrapped to the page width, `indent` points in from the margin; each line of the
    /// text starts a new line.
    pub fn paragraph(&mut self, size: f32, bold: bool, indent: f32, text: &str) {
        let w = self.width - 2.0 * self.margin - indent;
        for para in text.lines() {
            for l in wrap(para, w, size) {
                self.ensure(size * 1.5);
                self.y += size * 1.2;
                self.text_at(self.margin + indent, self.y, size, bold, &l);
                self.y += size * 0.3;
            }
        }
    }

    pub fn gap(&mut self, h: f32) {
        self.y += h;
    }

    pub fn rule(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        self.ops().push(Op::Line { x1, y1, x2, y2 });
    }

    /// A bordered table; long cells wrap onto more lines, the header repeats on every page.
    pub fn table(&mut self, widths: &[f32], header: &[String], rows: &[Vec<String>], size: f32) {
        self.table_with(widths, header, rows, size, None);
    }

    /// A table whose header is set at `head_size` and wrapped as bold capitals (about a third
    /// wider than `approx_width` guesses), so that short upper-case headings such as "HĐTNHN"
    /// stay inside their narrow columns.
    pub fn table_with(
        &mut self,
        widths: &[f32],
        header: &[String],
        rows: &[Vec<String>],
        size: f32,
        head_size: Option<f32>,
    ) {
        let total: f32 = widths.iter().sum();
        let scale = ((self.width - 2.0 * self.margin) / total).min(1.0);
        let widths: Vec<f32> = widths.iter().map(|w| w * scale).collect();
        let layout_row = |cells: &[String], size: f32, squeeze: f32| -> (Vec<Vec<String>>, f32) {
            let lines: Vec<Vec<String>> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let text = cells.get(i).map_or("", String::as_str);
                    wrap(text, (w - 5.0) / squeeze, size)
                })
                .collect();
            let n = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
            (lines, size * 1.9 + (n - 1) as f32 * size * 1.25)
        };
        let draw_row = |l: &mut Layout, lines: &[Vec<String>], h: f32, bold: bool, size: f32| {
            let line_h = size * 1.25;
            let top = l.y;
            let right = l.margin + widths.iter().sum::<f32>();
            l.rule(l.margin, top, right, top);
            let mut x = l.margin;
            for (i, w) in widths.iter().enumerate() {
                l.rule(x, top, x, top + h);
                for (k, t) in lines[i].iter().enumerate() {
                    l.text_at(x + 2.5, top + size * 1.3 + k as f32 * line_h, size, bold, t);
                }
                x += w;
            }
            l.rule(x, top, x, top + h);
            l.y = top + h;
            l.rule(l.margin, l.y, right, l.y);
        };
        let (head, head_h) = match head_size {
            Some(hs) => layout_row(header, hs, 1.3),
            None => layout_row(header, size, 1.0),
        };
        let hs = head_size.unwrap_or(size);
        self.ensure(head_h * 2.0);
        draw_row(self, &head, head_h, true, hs);
        for r in rows {
            let (lines, h) = layout_row(r, size, 1.0);
            if self.ensure(h) {
                draw_row(self, &head, head_h, true, hs);
            }
            draw_row(self, &lines, h, false, size);
        }
    }

    /// The heading of an official form: the authority and the school on the left, the Quốc
    /// hiệu and Tiêu ngữ on the right, each line centred in its half.
    pub fn state_header(&mut self, left: &[(&str, bool)], right: &[(&str, bool)]) {
        self.ensure(60.0);
        let top = self.y;
        let half = (self.width - 2.0 * self.margin) / 2.0;
        let mut bottom = top;
        for (col, lines) in [(0.0, left), (half, right)] {
            let mut y = top;
            for (t, bold) in lines {
                y += 12.0;
                let w = approx_width(t, 9.5) * if *bold { 1.12 } else { 1.0 };
                let x = self.margin + col + ((half - w) / 2.0).max(0.0);
                self.text_at(x, y, 9.5, *bold, &fit(t, half, 9.5));
                y += 2.0;
            }
            bottom = bottom.max(y);
        }
        self.y = bottom + 6.0;
    }

    /// Two signature blocks side by side.
    pub fn signatures(&mut self, left: &[&str], right: &[&str]) {
        self.ensure(90.0);
        self.gap(16.0);
        let top = self.y;
        let half = (self.width - 2.0 * self.margin) / 2.0;
        for (col, lines) in [(0.0, left), (half, right)] {
            let mut y = top;
            for (i, t) in lines.iter().enumerate() {
                y += 13.0;
                let w = approx_width(t, 10.0);
                // the name goes under the space left for the signature
                if i + 1 == lines.len() && lines.len() > 1 {
                    y += 36.0;
                }
                self.text_at(self.margin + col + (half - w) / 2.0, y, 10.0, i == 0, t);
            }
        }
        self.y = top + 80.0;
    }

    pub fn finish(self) -> Result<Vec<u8>, PdfError> {
        let regular = REGULAR.clone().ok_or_else(|| PdfError("font".into()))?;
        let bold = BOLD.clone().ok_or_else(|| PdfError("bold font".into()))?;
        // Associated files (/AF) are PDF 2.0 (or PDF/A-3): a file that carries data says so.
        let mut doc = if self.data.is_empty() {
            Document::new()
        } else {
            let configuration = krilla::configure::ConfigurationBuilder::new()
                .with_version(krilla::configure::PdfVersion::Pdf20)
                .finish()
                .map_err(|e| PdfError(format!("{e:?}")))?;
            Document::new_with(krilla::SerializeSettings {
                configuration,
                ..Default::default()
            })
        };
        for (name, description, json) in self.data.iter().cloned() {
            doc.embed_file(krilla::embed::EmbeddedFile {
                path: name,
                mime_type: krilla::embed::MimeType::new("application/json"),
                description: Some(description),
                association_kind: krilla::embed::AssociationKind::Data,
                data: json.into(),
                modification_date: None,
                compress: Some(true),
                location: None,
            })
            .ok_or_else(|| PdfError("embedded file".into()))?;
        }
        for ops in &self.pages {
            let settings = PageSettings::from_wh(self.width, self.height)
                .ok_or_else(|| PdfError("page size".into()))?;
            let mut page = doc.start_page_with(settings);
            let mut surface = page.surface();
            for op in ops {
                match op {
                    Op::Text {
                        x,
                        y,
                        size,
                        bold: b,
                        text,
                    } => {
                        surface.set_stroke(None);
                        let font = if *b { bold.clone() } else { regular.clone() };
                        surface.draw_text(
                            Point::from_xy(*x, *y),
                            font,
                            *size,
                            text,
                            false,
                            TextDirection::Auto,
                        );
                    }
                    Op::Line { x1, y1, x2, y2 } => {
                        let mut pb = PathBuilder::new();
                        pb.move_to(*x1, *y1);
                        pb.line_to(*x2, *y2);
                        if let Some(path) = pb.finish() {
                            surface.set_stroke(Some(Stroke {
                                width: 0.6,
                                ..Default::default()
                            }));
                            surface.draw_path(&path);
                            surface.set_stroke(None);
                        }
                    }
                }
            }
            surface.finish();
            page.finish();
        }
        doc.finish().map_err(|e| PdfError(format!("{e:?}")))
    }
}

/// A short column heading for a subject: "Giáo dục công dân" → "GDCD", "Ngoại ngữ 1" → "NN1".
pub fn abbreviation(name: &str) -> String {
    if name.chars().count() <= 8 {
        return name.to_string();
    }
    name.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty() && !matches!(*w, "và" | "của"))
        .filter_map(|w| {
            if w.chars().all(|c| c.is_ascii_digit()) {
                Some(w.to_string())
            } else {
                w.chars().next().map(|c| c.to_uppercase().collect())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn subject_abbreviations() {
        use super::abbreviation;
        assert_eq!(abbreviation("Giáo dục công dân"), "GDCD");
        assert_eq!(abbreviation("Ngoại ngữ 1"), "NN1");
        assert_eq!(abbreviation("Lịch sử và Địa lí"), "LSĐL");
        assert_eq!(
            abbreviation("Hoạt động trải nghiệm, hướng nghiệp"),
            "HĐTNHN"
        );
        assert_eq!(abbreviation("Toán"), "Toán");
    }

    use super::*;

    #[test]
    fn a_document_with_vietnamese_text_and_a_table() {
        let mut l = Layout::new(false);
        l.centred(14.0, true, "PHIẾU LIÊN LẠC");
        l.line(10.0, false, "Học sinh: Nguyễn Thị Ánh Tuyết · Lớp 8A1");
        let rows: Vec<Vec<String>> = (0..80)
            .map(|i| vec![format!("Môn {i}"), "8,5".into()])
            .collect();
        l.table(
            &[200.0, 60.0],
            &["Môn học".into(), "Điểm".into()],
            &rows,
            9.0,
        );
        assert!(l.pages.len() >= 2, "a long table breaks onto a new page");
        let pdf = l.finish().unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() > 1000);
    }

    #[test]
    fn long_text_wraps_by_words() {
        let lines = wrap(
            "Em tiến bộ rõ ở phần hình học, cần luyện thêm kĩ năng trình bày lời giải",
            120.0,
            9.0,
        );
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| approx_width(l, 9.0) <= 120.0));
        assert_eq!(
            lines.join(" "),
            "Em tiến bộ rõ ở phần hình học, cần luyện thêm kĩ năng trình bày lời giải"
        );
        assert_eq!(wrap("", 50.0, 9.0), vec![String::new()]);
    }

    #[test]
    fn long_text_is_shortened_to_fit() {
        let s = fit("Hoạt động trải nghiệm, hướng nghiệp", 60.0, 9.0);
        assert!(s.ends_with('…') && s.chars().count() < 15);
        assert_eq!(fit("Toán", 60.0, 9.0), "Toán");
    }
}
