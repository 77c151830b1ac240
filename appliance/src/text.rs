//! Vietnamese text helpers: NFC storage form and diacritic-insensitive folding for matching
//! ("Tiếng Việt" → "tieng viet", "Đất nước" → "dat nuoc").

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The stored form of all text: NFC (Vietnamese keyboards produce both forms).
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// The mark of a serde error a deserializer of ours wrote in Vietnamese (a filter's value that
/// names nothing, with the values it takes by their Vietnamese names): `http::rejection_vi`
/// says it as written, after the parameter's name.
pub const VI_REASON: &str = "vi: ";

/// Lowercase, strip diacritics, map đ→d, collapse whitespace.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            c => c,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Text typed with the legacy TCVN3 (ABC) or VNI fonts, read as Unicode, shows Latin-1 letters
/// Vietnamese never uses ("Ph¹m V¨n", "Nguyeãn Vaên"). Returns the likely encoding's name.
pub fn legacy_encoding(s: &str) -> Option<&'static str> {
    const VIETNAMESE_LATIN1: &str = "àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ";
    const TCVN3_MARKS: &str = "¸µ¶·¹¨©®ª«¬\u{AD}¯°±²³´½¾ÆÇËÞß";
    let mut foreign = false;
    for c in s.chars() {
        if TCVN3_MARKS.contains(c) {
            return Some("TCVN3 (ABC)");
        }
        if ('\u{a1}'..='\u{ff}').contains(&c) && !VIETNAMESE_LATIN1.contains(c) {
            foreign = true;
        }
    }
    foreign.then_some("VNI")
}

/// A legacy Vietnamese font encoding (before Unicode, 1990s–2000s), which Excel files typed
/// with the ABC (.VnTime) or VNI fonts still carry: read as Unicode, the cells show Latin-1
/// letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Legacy {
    /// TCVN 5712:1993 (the "ABC" fonts: .VnTime, .VnArial…).
    Tcvn3,
    /// VNI Windows (the VNI-Times… fonts): a base letter followed by its marks.
    Vni,
}

impl Legacy {
    pub fn name(self) -> &'static str {
        match self {
            Legacy::Tcvn3 => "TCVN3 (ABC)",
            Legacy::Vni => "VNI",
        }
    }
}

/// TCVN 5712:1993 bytes 0xA1–0xFF, as glibc's iconv `TCVN5712-1` decodes them (the unit test
/// checks this table against `iconv` itself). The ABC fonts use this range; 0xB0–0xB4 are
/// combining tone marks, composed by the NFC that follows.
const TCVN3_A1_FF: &str = "ĂÂÊÔƠƯĐăâêôơưđẰ\u{0300}\u{0309}\u{0303}\u{0301}\u{0323}àảãáạẲằẳẵắẴẮẦẨẪẤỀặầẩẫấậèỂẻẽéẹềểễếệìỉỄẾỒĩíịòỔỏõóọồổỗốộờởỡớợùỖủũúụừửữứựỳỷỹýỵỐ";

/// TCVN 5712:1993 bytes 0x80–0x9F (capitals with tone marks), as glibc decodes them, and the
/// characters Excel holds for those bytes: a cell typed with an ABC font went through the
/// Windows code page (cp1252), so byte 0x83 arrives as "ƒ" (0x81, 0x8D, 0x8F, 0x90, 0x9D, which
/// cp1252 leaves undefined, as the C1 control of the same number).
const CP1252_80_9F: &str = "\u{20AC}\u{0081}\u{201A}\u{0192}\u{201E}\u{2026}\u{2020}\u{2021}\u{02C6}\u{2030}\u{0160}\u{2039}\u{0152}\u{008D}\u{017D}\u{008F}\u{0090}\u{2018}\u{2019}\u{201C}\u{201D}\u{2022}\u{2013}\u{2014}\u{02DC}\u{2122}\u{0161}\u{203A}\u{0153}\u{009D}\u{017E}\u{0178}";
const TCVN3_80_9F: &str = "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ";

/// The letter a TCVN3 character stands for, if it is one of the encoding's.
fn tcvn3_char(c: char) -> Option<char> {
    match c as u32 {
        0xA1..=0xFF => TCVN3_A1_FF.chars().nth(c as usize - 0xA1),
        _ => CP1252_80_9F
            .chars()
            .position(|x| x == c)
            .and_then(|i| TCVN3_80_9F.chars().nth(i)),
    }
}

/// Text no legacy font produces: a letter beyond Latin-1 ("ầ", "ơ", "đ") that is not one of
/// the cp1252 characters an ABC-font cell arrives as. Such a cell is Unicode already.
pub fn clearly_unicode(s: &str) -> bool {
    s.chars()
        .any(|c| c as u32 > 0xFF && !CP1252_80_9F.contains(c))
}

/// What to do with one cell of a sheet judged to be in `enc`.
#[derive(Debug, PartialEq, Eq)]
pub enum CellFix {
    /// ASCII, or Unicode already: as it is.
    Keep,
    Convert(String),
    /// Latin-1 letters that read as Unicode and as `enc` alike, in a sheet that holds both
    /// Unicode and legacy cells: converting could garble a Unicode name ("Lê Thu Hà" → "Lờ
    /// Thu HỔ"), keeping it could keep a legacy one; the person must say.
    Ambiguous,
}

/// The fix for one cell; `mixed`: some cell of the sheet is [`clearly_unicode`].
pub fn fix_cell(s: &str, enc: Legacy, mixed: bool) -> CellFix {
    if s.is_ascii() || clearly_unicode(s) {
        return CellFix::Keep;
    }
    let marked = legacy_encoding(s).is_some();
    if mixed && !marked {
        return CellFix::Ambiguous;
    }
    let converted = from_legacy(s, enc);
    if converted == s {
        CellFix::Keep
    } else {
        CellFix::Convert(converted)
    }
}

/// The text a cell typed in `enc` means, in NFC. Characters outside the encoding's letters
/// (ASCII, digits, punctuation) are kept as they are.
pub fn from_legacy(s: &str, enc: Legacy) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    match enc {
        Legacy::Tcvn3 => {
            for c in s.chars() {
                out.push(tcvn3_char(c).unwrap_or(c));
            }
        }
        Legacy::Vni => {
            // Each mark follows the vowel it belongs to; a mark with no vowel before it is
            // kept as typed.
            let mut prev_vowel = false;
            for c in s.chars() {
                let marks: &[char] = match c.to_lowercase().next().unwrap_or(c) {
                    'ù' => &['\u{301}'],
                    'ø' => &['\u{300}'],
                    'û' => &['\u{309}'],
                    'õ' => &['\u{303}'],
                    'ï' => &['\u{323}'],
                    'â' => &['\u{302}'],
                    'á' => &['\u{302}', '\u{301}'],
                    'à' => &['\u{302}', '\u{300}'],
                    'å' => &['\u{302}', '\u{309}'],
                    'ã' => &['\u{302}', '\u{303}'],
                    'ä' => &['\u{302}', '\u{323}'],
                    'ê' => &['\u{306}'],
                    'é' => &['\u{306}', '\u{301}'],
                    'è' => &['\u{306}', '\u{300}'],
                    'ú' => &['\u{306}', '\u{309}'],
                    'ü' => &['\u{306}', '\u{303}'],
                    'ë' => &['\u{306}', '\u{323}'],
                    _ => &[],
                };
                if prev_vowel && !marks.is_empty() {
                    out.extend(marks);
                    continue;
                }
                let letter = match c {
                    'Ô' => 'Ơ',
                    'ô' => 'ơ',
                    'Ö' => 'Ư',
                    'ö' => 'ư',
                    'Ñ' => 'Đ',
                    'ñ' => 'đ',
                    'Æ' => 'Ỉ',
                    'æ' => 'ỉ',
                    'Ó' => 'Ĩ',
                    'ó' => 'ĩ',
                    'Ò' => 'Ị',
                    'ò' => 'ị',
                    'Î' => 'Ỵ',
                    'î' => 'ỵ',
                    other => other,
                };
                prev_vowel = "aeouyAEOUYơƠưƯ".contains(letter);
                out.push(letter);
            }
        }
    }
    nfc(&out)
}

/// The encoding of a whole file's text, judged from all of it (one cell can look like
/// Unicode — "Thá" is TCVN3 for "Thỏ" — when its neighbours cannot).
pub fn legacy_of<'a>(texts: impl IntoIterator<Item = &'a str>) -> Option<Legacy> {
    let mut found = None;
    for t in texts {
        match legacy_encoding(t) {
            Some(n) if n == Legacy::Tcvn3.name() => return Some(Legacy::Tcvn3),
            Some(_) => found = Some(Legacy::Vni),
            None => {}
        }
    }
    found
}

/// Escapes text for HTML (used where a template cannot: inline SVG, JSON-in-HTML).
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A size as a person reads it on a Vietnamese page: decimal units (as a phone or Windows
/// shows a file), one decimal at most, the decimal comma — "35,8 KB", "1,2 MB", "512 B".
/// A small file never shows as "0.0 MB".
pub fn human_size(bytes: u64) -> String {
    human_size_en(bytes).replace('.', ",")
}

/// The same size for English text (the CLI, logs): "35.8 KB".
pub fn human_size_en(bytes: u64) -> String {
    let options = humansize::FormatSizeOptions::from(humansize::DECIMAL).decimal_places(1);
    // humansize writes the SI "kB"; every other unit and what schools see elsewhere is "KB".
    // A value that rounds to a whole number (35.96 kB) prints "36.0": drop the ".0".
    humansize::format_size(bytes, options)
        .replace(".0 ", " ")
        .replace("kB", "KB")
}

/// A character that must not be stored in a printed field: control characters (newline, NUL)
/// and the bidirectional overrides and isolates, which would reorder a name or a place on the
/// forms (U+202A–U+202E, U+2066–U+2069).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unprintable_characters_are_named() {
        for c in ['\n', '\0', '\u{202E}', '\u{2066}', '\u{202A}'] {
            assert!(super::is_unprintable(c), "{c:?}");
        }
        for c in ['a', 'ệ', ' ', '\u{200B}', '–'] {
            assert!(!super::is_unprintable(c), "{c:?}");
        }
    }

    use super::*;

    #[test]
    fn sizes_read_as_a_person_expects() {
        assert_eq!(human_size(35_840), "35,8 KB");
        assert_eq!(human_size(35_000), "35 KB");
        assert_eq!(human_size(1_234_567), "1,2 MB");
        assert_eq!(human_size(35_960), "36 KB");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(3_000_000_000), "3 GB");
        assert_eq!(human_size_en(1_234_567), "1.2 MB");
    }

    #[test]
    fn legacy_font_text_is_recognised() {
        assert_eq!(legacy_encoding("Ph¹m V¨n Hïng"), Some("TCVN3 (ABC)"));
        assert_eq!(legacy_encoding("NguyÔn ThÞ Lan"), Some("TCVN3 (ABC)"));
        assert_eq!(legacy_encoding("Nguyeãn Vaên Huøng"), Some("VNI"));
        assert_eq!(legacy_encoding("Nguyễn Văn Hùng"), None);
        assert_eq!(legacy_encoding("Hoà Thuý Quân Tiên"), None);
        assert_eq!(legacy_encoding("Toán 8,5"), None);
    }

    #[test]
    fn legacy_font_text_is_converted() {
        assert_eq!(from_legacy("Ph¹m V¨n Hïng", Legacy::Tcvn3), "Phạm Văn Hùng");
        assert_eq!(
            from_legacy("NguyÔn ThÞ Lan", Legacy::Tcvn3),
            "Nguyễn Thị Lan"
        );
        assert_eq!(
            from_legacy("Tr\u{AD}êng THCS §inh Tiªn Hoµng", Legacy::Tcvn3),
            "Trường THCS Đinh Tiên Hoàng"
        );
        assert_eq!(
            from_legacy("Nguyeãn Vaên Huøng", Legacy::Vni),
            "Nguyễn Văn Hùng"
        );
        assert_eq!(
            from_legacy("Tröôøng THCS Ñinh Tieân Hoaøng", Legacy::Vni),
            "Trường THCS Đinh Tiên Hoàng"
        );
        assert_eq!(
            from_legacy("NGUYEÃN THÒ LAN", Legacy::Vni),
            "NGUYỄN THỊ LAN"
        );
        assert_eq!(
            from_legacy("Lyù Thò Myõ Leä, 8,5", Legacy::Vni),
            "Lý Thị Mỹ Lệ, 8,5"
        );
        // A whole file decides: "Thá" alone looks like Unicode, beside "ThÞ" it is TCVN3.
        assert_eq!(legacy_of(["Thá", "NguyÔn ThÞ"]), Some(Legacy::Tcvn3));
        assert_eq!(legacy_of(["Nguyễn Văn An", "Toán"]), None);
        assert_eq!(legacy_of(["Nguyeãn", "Huøng"]), Some(Legacy::Vni));
    }

    #[test]
    fn a_mixed_sheet_keeps_unicode_and_asks_about_what_reads_both_ways() {
        // Capitals typed with an ABC font arrive as cp1252 characters.
        assert_eq!(
            from_legacy("Ph¹m \u{192}nh D\u{AD}¬ng", Legacy::Tcvn3),
            "Phạm Ánh Dương"
        );
        assert_eq!(
            fix_cell("Trần Thị Bích Ngọc", Legacy::Tcvn3, true),
            CellFix::Keep
        );
        assert_eq!(
            fix_cell("Trần Thị Bích Ngọc", Legacy::Tcvn3, false),
            CellFix::Keep
        );
        assert_eq!(
            fix_cell("Lê Thu Hà", Legacy::Tcvn3, true),
            CellFix::Ambiguous
        );
        assert_eq!(
            fix_cell("NguyÔn ThÞ Lan", Legacy::Tcvn3, true),
            CellFix::Convert("Nguyễn Thị Lan".into())
        );
        assert_eq!(fix_cell("12/03/2014", Legacy::Tcvn3, true), CellFix::Keep);
        assert_eq!(
            fix_cell("Hµ", Legacy::Tcvn3, false),
            CellFix::Convert("Hà".into())
        );
    }

    /// The TCVN3 table is glibc's TCVN5712-1, byte for byte (iconv is part of every Debian),
    /// 0x80–0x9F as the cp1252 characters Excel holds for them.
    #[test]
    fn the_tcvn3_table_is_iconvs() {
        for b in (0x80u8..=0xFF).filter(|b| *b != 0xA0) {
            let out = std::process::Command::new("iconv")
                .args(["-f", "TCVN5712-1", "-t", "UTF-8"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(&[b])?;
                    c.wait_with_output()
                })
                .expect("iconv runs");
            let want = String::from_utf8(out.stdout).unwrap();
            let arrives = if b < 0xA0 {
                CP1252_80_9F.chars().nth(b as usize - 0x80).unwrap()
            } else {
                b as char
            };
            let ours: String = tcvn3_char(arrives).into_iter().collect();
            assert_eq!(ours, want, "byte {b:#x}");
        }
    }

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold("Tiếng Việt 6"), "tieng viet 6");
        assert_eq!(fold("  ĐẤT   nước "), "dat nuoc");
        // decomposed input folds the same as precomposed
        assert_eq!(fold("Tie\u{302}\u{301}ng"), "tieng");
        assert_eq!(fold("Họ và tên"), "ho va ten");
    }

    #[test]
    fn nfc_composes() {
        assert_eq!(nfc("Tie\u{302}\u{301}ng"), "Tiếng");
    }
}
