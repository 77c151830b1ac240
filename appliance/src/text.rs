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

#[cfg(test)]
mod tests {
    use super::*;

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
