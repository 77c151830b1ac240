//! The assessment rules, pure: no I/O, no clock, no storage. Scores are integer tenths
//! (8,5 → 85) so every average is exact and rounding is half up, as school books do it
//! (DOMAIN.md §1.1). `tt22` is lower secondary (Thông tư 22/2021), `tt27` primary (27/2020).

pub mod tt22;
pub mod tt27;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A score in tenths of a point, 0..=100. Điểm đánh giá: integer or one decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Tenths(u16);

impl Tenths {
    pub const ZERO: Tenths = Tenths(0);
    pub const MAX: Tenths = Tenths(100);

    pub fn new(tenths: u16) -> Option<Tenths> {
        (tenths <= 100).then_some(Tenths(tenths))
    }
    pub fn get(self) -> u16 {
        self.0
    }
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }
    /// Vietnamese display: "8,5", "10", "7,0".
    pub fn vi(self) -> String {
        format!("{},{}", self.0 / 10, self.0 % 10)
    }
    /// Whole numbers without decimals: "8,5", "10" — used in grids.
    pub fn vi_short(self) -> String {
        if self.0.is_multiple_of(10) {
            format!("{}", self.0 / 10)
        } else {
            self.vi()
        }
    }
}

impl TryFrom<u16> for Tenths {
    type Error = ScoreError;
    fn try_from(v: u16) -> Result<Self, ScoreError> {
        Tenths::new(v).ok_or(ScoreError::OutOfRange(format!("{v}/10")))
    }
}
impl From<Tenths> for u16 {
    fn from(t: Tenths) -> u16 {
        t.0
    }
}

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

/// Why a typed score was refused. Messages are for the teacher, in Vietnamese.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    #[error("Chưa nhập điểm")]
    Empty,
    #[error("\"{0}\" không phải là điểm số")]
    NotANumber(String),
    #[error("Điểm chỉ được có một chữ số thập phân: nhận được {0}")]
    TooManyDecimals(String),
    #[error("Điểm phải từ 0 đến 10: nhận được {0}")]
    OutOfRange(String),
    #[error("Điểm kiểm tra định kì là số nguyên từ {min} đến 10: nhận được {got}")]
    NotAWholeTestScore { got: String, min: u8 },
}

impl ScoreError {
    pub fn code(&self) -> &'static str {
        match self {
            ScoreError::Empty => "score_empty",
            ScoreError::NotANumber(_) => "score_not_a_number",
            ScoreError::TooManyDecimals(_) => "score_too_many_decimals",
            ScoreError::OutOfRange(_) => "score_out_of_range",
            ScoreError::NotAWholeTestScore { .. } => "score_not_whole",
        }
    }
}

/// Parses a score as a teacher types it: "8", "8,5", "8.5", " 10 ". Refuses 11, "abc",
/// "8,25" and "-1"; never rounds silently.
pub fn parse_score(input: &str) -> Result<Tenths, ScoreError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ScoreError::Empty);
    }
    let (whole, frac) = match s.find([',', '.']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || frac.is_some_and(|f| !digits(f)) {
        return Err(ScoreError::NotANumber(s.to_string()));
    }
    let frac = frac.unwrap_or("0");
    // "8,50" is still one decimal; "8,25" is not.
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > 1 {
        if whole.len() > 2 || whole.parse::<u32>().map_or(true, |w| w > 10) {
            return Err(ScoreError::OutOfRange(s.to_string()));
        }
        return Err(ScoreError::TooManyDecimals(s.to_string()));
    }
    if whole.len() > 3 {
        return Err(ScoreError::OutOfRange(s.to_string()));
    }
    let w: u16 = whole
        .parse()
        .map_err(|_| ScoreError::NotANumber(s.to_string()))?;
    let f: u16 = frac_trimmed.parse().unwrap_or(0);
    let tenths = w * 10 + f;
    Tenths::new(tenths).ok_or(ScoreError::OutOfRange(s.to_string()))
}

/// A score given as a JSON number (7.5). Refuses 7.25 and 10.5.
pub fn score_from_f64(x: f64) -> Result<Tenths, ScoreError> {
    let shown = format!("{x}");
    if !x.is_finite() {
        return Err(ScoreError::NotANumber(shown));
    }
    let scaled = x * 10.0;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        if !(0.0..=10.0).contains(&x) {
            return Err(ScoreError::OutOfRange(shown));
        }
        return Err(ScoreError::TooManyDecimals(shown));
    }
    if !(0.0..=100.0).contains(&rounded) {
        return Err(ScoreError::OutOfRange(shown));
    }
    Ok(Tenths(rounded as u16))
}

/// The named rule set that computed a result; recorded with every locked term so a software
/// update never silently changes a locked term's results (issue 3 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleVersion {
    #[serde(rename = "tt22-2021.1")]
    Tt22V1,
    #[serde(rename = "tt27-2020.1")]
    Tt27V1,
}

impl RuleVersion {
    pub fn code(self) -> &'static str {
        match self {
            RuleVersion::Tt22V1 => "tt22-2021.1",
            RuleVersion::Tt27V1 => "tt27-2020.1",
        }
    }
    pub fn parse(s: &str) -> Option<RuleVersion> {
        match s {
            "tt22-2021.1" => Some(RuleVersion::Tt22V1),
            "tt27-2020.1" => Some(RuleVersion::Tt27V1),
            _ => None,
        }
    }
    /// The version a new term starts with, by school level ("TH" primary, else secondary).
    pub fn current_for_primary(primary: bool) -> RuleVersion {
        if primary {
            RuleVersion::Tt27V1
        } else {
            RuleVersion::Tt22V1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_decimal_marks_and_refuses_bad_input() {
        assert_eq!(parse_score("8,5"), Ok(Tenths(85)));
        assert_eq!(parse_score("8.5"), Ok(Tenths(85)));
        assert_eq!(parse_score(" 10 "), Ok(Tenths(100)));
        assert_eq!(parse_score("0"), Ok(Tenths(0)));
        assert_eq!(parse_score("7,50"), Ok(Tenths(75)));
        assert_eq!(parse_score("10,0"), Ok(Tenths(100)));
        assert!(matches!(parse_score("11"), Err(ScoreError::OutOfRange(_))));
        assert!(matches!(
            parse_score("10,5"),
            Err(ScoreError::OutOfRange(_))
        ));
        assert!(matches!(parse_score("abc"), Err(ScoreError::NotANumber(_))));
        assert!(matches!(parse_score("-1"), Err(ScoreError::NotANumber(_))));
        assert!(matches!(
            parse_score("8,25"),
            Err(ScoreError::TooManyDecimals(_))
        ));
        assert!(matches!(parse_score("8,"), Err(ScoreError::NotANumber(_))));
        assert!(matches!(parse_score(",5"), Err(ScoreError::NotANumber(_))));
        assert!(matches!(parse_score("1e1"), Err(ScoreError::NotANumber(_))));
        assert!(matches!(
            parse_score("99999999999"),
            Err(ScoreError::OutOfRange(_))
        ));
        assert_eq!(parse_score(""), Err(ScoreError::Empty));
        assert_eq!(
            parse_score("11").unwrap_err().to_string(),
            "Điểm phải từ 0 đến 10: nhận được 11"
        );
    }

    #[test]
    fn json_numbers_keep_one_decimal() {
        assert_eq!(score_from_f64(6.5), Ok(Tenths(65)));
        assert_eq!(score_from_f64(8.0), Ok(Tenths(80)));
        assert_eq!(score_from_f64(0.3), Ok(Tenths(3)));
        assert!(matches!(
            score_from_f64(7.25),
            Err(ScoreError::TooManyDecimals(_))
        ));
        assert!(matches!(
            score_from_f64(11.0),
            Err(ScoreError::OutOfRange(_))
        ));
        assert!(matches!(
            score_from_f64(-0.5),
            Err(ScoreError::OutOfRange(_))
        ));
        assert!(matches!(
            score_from_f64(f64::NAN),
            Err(ScoreError::NotANumber(_))
        ));
    }

    #[test]
    fn display_forms() {
        assert_eq!(Tenths(85).vi(), "8,5");
        assert_eq!(Tenths(80).vi(), "8,0");
        assert_eq!(Tenths(80).vi_short(), "8");
        assert_eq!(Tenths(100).to_string(), "10.0");
    }

    proptest::proptest! {
        #[test]
        fn every_tenth_round_trips_through_both_marks(t in 0u16..=100) {
            let s = format!("{},{}", t / 10, t % 10);
            proptest::prop_assert_eq!(parse_score(&s), Ok(Tenths(t)));
            proptest::prop_assert_eq!(parse_score(&s.replace(',', ".")), Ok(Tenths(t)));
            proptest::prop_assert_eq!(score_from_f64(f64::from(t) / 10.0), Ok(Tenths(t)));
        }

        #[test]
        fn parse_never_panics(s in ".{0,12}") {
            let _ = parse_score(&s);
        }
    }
}
