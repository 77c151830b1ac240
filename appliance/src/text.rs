//! Vietnamese text helpers: NFC storage form and diacritic-insensitive folding for matching
//! ("Tiếng Việt" → "tieng viet", "Đất nước" → "dat nuoc").

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The stored form of all text: NFC (Vietnamese keyboards produce both forms).
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

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
