//! Thông tư 27/2020 (primary): subject levels T/H/C, quality and competence levels
//! Tốt/Đạt/Cần cố gắng, whole-number periodic test scores, the end-of-year education result
//! HTXS/HTT/HT/CHT, completion and awards (DOMAIN.md §2). Pure functions.

use serde::{Deserialize, Serialize};

use super::ScoreError;

/// Mức đạt được of a subject or educational activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SubjectLevel {
    /// Chưa hoàn thành
    #[serde(rename = "C")]
    C,
    /// Hoàn thành
    #[serde(rename = "H")]
    H,
    /// Hoàn thành tốt
    #[serde(rename = "T")]
    T,
}

impl SubjectLevel {
    pub fn code(self) -> &'static str {
        match self {
            SubjectLevel::T => "T",
            SubjectLevel::H => "H",
            SubjectLevel::C => "C",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SubjectLevel::T => "Hoàn thành tốt",
            SubjectLevel::H => "Hoàn thành",
            SubjectLevel::C => "Chưa hoàn thành",
        }
    }
    pub fn parse(s: &str) -> Option<SubjectLevel> {
        match crate::text::fold(s).as_str() {
            "t" | "hoan thanh tot" => Some(SubjectLevel::T),
            "h" | "hoan thanh" => Some(SubjectLevel::H),
            "c" | "chua hoan thanh" => Some(SubjectLevel::C),
            _ => None,
        }
    }
}

/// Level of a quality (phẩm chất) or competence (năng lực).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum QualityLevel {
    #[serde(rename = "Cần cố gắng")]
    CanCoGang,
    #[serde(rename = "Đạt")]
    Dat,
    #[serde(rename = "Tốt")]
    Tot,
}

impl QualityLevel {
    pub fn label(self) -> &'static str {
        match self {
            QualityLevel::Tot => "Tốt",
            QualityLevel::Dat => "Đạt",
            QualityLevel::CanCoGang => "Cần cố gắng",
        }
    }
    pub fn parse(s: &str) -> Option<QualityLevel> {
        match crate::text::fold(s).as_str() {
            "t" | "tot" => Some(QualityLevel::Tot),
            "d" | "dat" => Some(QualityLevel::Dat),
            "c" | "can co gang" => Some(QualityLevel::CanCoGang),
            _ => None,
        }
    }
}

/// The five qualities and ten competences assessed (Đ5).
pub const QUALITIES: [&str; 5] = [
    "Yêu nước",
    "Nhân ái",
    "Chăm chỉ",
    "Trung thực",
    "Trách nhiệm",
];
pub const COMPETENCES: [&str; 10] = [
    "Tự chủ và tự học",
    "Giao tiếp và hợp tác",
    "Giải quyết vấn đề và sáng tạo",
    "Ngôn ngữ",
    "Tính toán",
    "Khoa học",
    "Công nghệ",
    "Tin học",
    "Thẩm mĩ",
    "Thể chất",
];

/// Đánh giá kết quả giáo dục at the end of the year (Đ9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EducationResult {
    #[serde(rename = "CHT")]
    Cht,
    #[serde(rename = "HT")]
    Ht,
    #[serde(rename = "HTT")]
    Htt,
    #[serde(rename = "HTXS")]
    Htxs,
}

impl EducationResult {
    pub fn code(self) -> &'static str {
        match self {
            EducationResult::Htxs => "HTXS",
            EducationResult::Htt => "HTT",
            EducationResult::Ht => "HT",
            EducationResult::Cht => "CHT",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            EducationResult::Htxs => "Hoàn thành xuất sắc",
            EducationResult::Htt => "Hoàn thành tốt",
            EducationResult::Ht => "Hoàn thành",
            EducationResult::Cht => "Chưa hoàn thành",
        }
    }
    /// Completed the grade's programme (Đ11).
    pub fn completed(self) -> bool {
        self != EducationResult::Cht
    }
    /// What the học bạ and the lists say about completion; grade 5 completes primary school
    /// (Đ11 k2: "Hoàn thành chương trình tiểu học").
    pub fn completion_label(self, grade: u8) -> &'static str {
        match (self.completed(), grade) {
            (true, 5) => "Hoàn thành chương trình tiểu học",
            (true, _) => "Hoàn thành chương trình lớp học",
            (false, _) => "Chưa hoàn thành",
        }
    }
}

/// School-configurable readings of TT27 ([U] in DOMAIN.md §2.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tt27Config {
    /// Lowest allowed periodic test score (0 unless the Sở says otherwise).
    pub min_test_score: u8,
    /// Subjects with end-of-term-I and end-of-year tests, by grade.
    pub tested_subjects: Vec<(u8, Vec<String>)>,
    /// Subjects with extra mid-term tests, by grade.
    pub midterm_tested_subjects: Vec<(u8, Vec<String>)>,
}

impl Default for Tt27Config {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let g12 = v(&["Tiếng Việt", "Toán"]);
        let g3 = v(&["Tiếng Việt", "Toán", "Ngoại ngữ 1", "Tin học và Công nghệ"]);
        let g45 = v(&[
            "Tiếng Việt",
            "Toán",
            "Ngoại ngữ 1",
            "Lịch sử và Địa lí",
            "Khoa học",
            "Tin học và Công nghệ",
        ]);
        Tt27Config {
            min_test_score: 0,
            tested_subjects: vec![
                (1, g12.clone()),
                (2, g12),
                (3, g3),
                (4, g45.clone()),
                (5, g45),
            ],
            midterm_tested_subjects: vec![
                (4, v(&["Tiếng Việt", "Toán"])),
                (5, v(&["Tiếng Việt", "Toán"])),
            ],
        }
    }
}

impl Tt27Config {
    /// Whether a subject of this grade has end-of-term periodic tests (names compared folded).
    pub fn is_tested(&self, grade: u8, subject: &str) -> bool {
        let f = crate::text::fold(subject);
        self.tested_subjects
            .iter()
            .filter(|(g, _)| *g == grade)
            .any(|(_, xs)| xs.iter().any(|x| crate::text::fold(x) == f))
    }
    /// The first compulsory tested subject of the grade that `names` lacks (folded compare).
    pub fn missing_tested_subject<'a>(
        &'a self,
        grade: u8,
        names: impl Iterator<Item = &'a str> + Clone,
    ) -> Option<&'a str> {
        self.tested_subjects
            .iter()
            .filter(|(g, _)| *g == grade)
            .flat_map(|(_, xs)| xs.iter())
            .find(|t| {
                let f = crate::text::fold(t);
                !names.clone().any(|n| crate::text::fold(n) == f)
            })
            .map(String::as_str)
    }
    pub fn is_midterm_tested(&self, grade: u8, subject: &str) -> bool {
        let f = crate::text::fold(subject);
        self.midterm_tested_subjects
            .iter()
            .filter(|(g, _)| *g == grade)
            .any(|(_, xs)| xs.iter().any(|x| crate::text::fold(x) == f))
    }
}

/// A periodic test score as typed: a whole number from the configured minimum to 10.
pub fn parse_test_score(input: &str, cfg: &Tt27Config) -> Result<u8, ScoreError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ScoreError::Empty);
    }
    let bad = || ScoreError::NotAWholeTestScore {
        got: s.to_string(),
        min: cfg.min_test_score,
    };
    if !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 2 {
        return Err(bad());
    }
    let v: u8 = s.parse().map_err(|_| bad())?;
    if v > 10 || v < cfg.min_test_score {
        return Err(bad());
    }
    Ok(v)
}

/// The end-of-year result from every subject's level, every quality and competence level, and
/// every end-of-year test score.
pub fn education_result(
    subjects: &[SubjectLevel],
    qualities: &[QualityLevel],
    tests: &[u8],
) -> EducationResult {
    let all_t = subjects.iter().all(|s| *s == SubjectLevel::T);
    let all_tot = qualities.iter().all(|q| *q == QualityLevel::Tot);
    let min_test = tests.iter().copied().min().unwrap_or(10);
    if all_t && all_tot && min_test >= 9 {
        EducationResult::Htxs
    } else if all_t && all_tot && min_test >= 7 {
        EducationResult::Htt
    } else if subjects.iter().all(|s| *s >= SubjectLevel::H)
        && qualities.iter().all(|q| *q >= QualityLevel::Dat)
        && min_test >= 5
    {
        EducationResult::Ht
    } else {
        EducationResult::Cht
    }
}

/// Khen thưởng (Đ13): Xuất sắc for HTXS; Tiêu biểu for HTT recognised by the class collective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrimaryAward {
    #[serde(rename = "Học sinh Xuất sắc")]
    Excellent,
    #[serde(rename = "Học sinh Tiêu biểu hoàn thành tốt trong học tập và rèn luyện")]
    Exemplary,
}

impl PrimaryAward {
    pub fn label(self) -> &'static str {
        match self {
            PrimaryAward::Excellent => "Học sinh Xuất sắc",
            PrimaryAward::Exemplary => {
                "Học sinh Tiêu biểu hoàn thành tốt trong học tập và rèn luyện"
            }
        }
    }
}

pub fn award(result: EducationResult, recognised_by_class: bool) -> Option<PrimaryAward> {
    match result {
        EducationResult::Htxs => Some(PrimaryAward::Excellent),
        EducationResult::Htt if recognised_by_class => Some(PrimaryAward::Exemplary),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The year of one primary student: the one decision the class book, the stored results, the
// PDFs and `tram grades check` all take (issue 20 items 1 and 6).
//
// Sources, DOMAIN.md style:
// - Đ7 k1 b and Đ9 k3: the periodic tests are those of the compulsory subjects (Tiếng Việt,
//   Toán, Ngoại ngữ 1, Lịch sử và Địa lí, Khoa học, Tin học và Công nghệ) — an elective
//   (Tiếng Anh in grades 1–2) may be tested by the school but its score does not count toward
//   HTXS/HTT/HT. [C] lawnet.vn "…periodic-assessment-of-primary-school-students…3076"; the
//   per-grade list is the setting `tested_subjects` [S].
// - "Tin học và Công nghệ": QĐ 2904/QĐ-BGDĐT is cited as correcting the appendix for this
//   subject's test. Searched (docs, pages, code corpora, 2026-12-06): no copy of the decision
//   or of a summary of it was found, so its content is NOT read [U]. The subject keeps one
//   whole-number test per the list in DOMAIN.md §2.3 (grades 3–5) and stays a setting; change
//   `tested_subjects` if the Sở's reading differs.
// - Đ11 k2: completing grade 5 is recorded as "Hoàn thành chương trình tiểu học". [C]
// - Đ13 k1 a: "Học sinh Tiêu biểu…" needs HTT and the class collective's recognition, which
//   the homeroom teacher records on the class page. [C] lawnet.vn (Art. 13)

/// One subject's end of year as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimarySubject {
    pub name: String,
    /// None when exempt (Đ10 of TT27's sibling rules: the subject is left out).
    pub level: Option<SubjectLevel>,
    /// The end-of-year periodic test score, when one was given.
    pub test: Option<u8>,
}

/// Everything the end-of-year result needs.
#[derive(Clone, Debug, Default)]
pub struct PrimaryYearInput {
    pub grade: u8,
    pub subjects: Vec<PrimarySubject>,
    /// Quality and competence levels by name (QUALITIES, COMPETENCES).
    pub qualities: std::collections::BTreeMap<String, QualityLevel>,
    /// The class collective's recognition for "Học sinh Tiêu biểu" (Đ13 k1 a).
    pub recognised_by_class: bool,
}

/// Why a primary year cannot be decided yet: the server shows it as incomplete, the CLI refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrimaryIncomplete {
    #[error("Chưa đánh giá {0}")]
    MissingQuality(&'static str),
    #[error("Môn {0} có bài kiểm tra định kì cuối năm nhưng chưa có điểm")]
    MissingTest(String),
}

/// What the end of the year decides for one primary student.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryYear {
    pub grade: u8,
    pub result: EducationResult,
    pub award: Option<PrimaryAward>,
}

impl PrimaryYear {
    pub fn completion_label(&self) -> &'static str {
        self.result.completion_label(self.grade)
    }
}

/// Decides one primary student's year (Đ9, Đ11, Đ13): every quality and competence and the
/// score of every compulsory tested subject are needed; electives' tests do not count. Which
/// subjects a grade studies is the school's plan (the server's subject list); a stand-alone
/// record is checked against [`Tt27Config::missing_tested_subject`] first.
pub fn decide_year(
    input: &PrimaryYearInput,
    cfg: &Tt27Config,
) -> Result<PrimaryYear, PrimaryIncomplete> {
    for name in QUALITIES.iter().chain(COMPETENCES.iter()) {
        if !input.qualities.contains_key(*name) {
            return Err(PrimaryIncomplete::MissingQuality(name));
        }
    }
    let mut levels = Vec::with_capacity(input.subjects.len());
    let mut tests = Vec::new();
    for s in &input.subjects {
        let Some(level) = s.level else { continue };
        levels.push(level);
        if cfg.is_tested(input.grade, &s.name) {
            tests.push(
                s.test
                    .ok_or_else(|| PrimaryIncomplete::MissingTest(s.name.clone()))?,
            );
        }
    }
    let qualities: Vec<QualityLevel> = input.qualities.values().copied().collect();
    let result = education_result(&levels, &qualities, &tests);
    Ok(PrimaryYear {
        grade: input.grade,
        result,
        award: award(result, input.recognised_by_class),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use EducationResult::*;
    use QualityLevel as Q;
    use SubjectLevel as S;
    use proptest::prelude::*;

    const SUBJECTS: usize = 11;

    #[test]
    fn worked_examples_p1_to_p5() {
        let all_t = vec![S::T; SUBJECTS];
        let all_tot = vec![Q::Tot; 15];
        assert_eq!(
            education_result(&all_t, &all_tot, &[10, 9, 9, 10, 9, 9]),
            Htxs,
            "P1"
        );
        assert_eq!(
            education_result(&all_t, &all_tot, &[10, 9, 8, 10, 9, 9]),
            Htt,
            "P2"
        );
        let mut one_h = all_t.clone();
        one_h[7] = S::H;
        assert_eq!(
            education_result(&one_h, &all_tot, &[9, 9, 9, 9, 9, 10]),
            Ht,
            "P3"
        );
        let mut one_dat = all_tot.clone();
        one_dat[9] = Q::Dat;
        assert_eq!(education_result(&all_t, &one_dat, &[10; 6]), Ht, "P4");
        let mut mixed = all_t.clone();
        mixed[2] = S::H;
        assert_eq!(
            education_result(&mixed, &one_dat, &[10, 9, 4, 9, 9, 9]),
            Cht,
            "P5"
        );
        assert_eq!(education_result(&[S::C], &all_tot, &[10]), Cht);
        assert_eq!(education_result(&all_t, &[Q::CanCoGang], &[10]), Cht);
    }

    #[test]
    fn completion_and_awards() {
        assert!(Htxs.completed() && Htt.completed() && Ht.completed() && !Cht.completed());
        assert_eq!(award(Htxs, false), Some(PrimaryAward::Excellent));
        assert_eq!(award(Htt, true), Some(PrimaryAward::Exemplary));
        assert_eq!(award(Htt, false), None);
        assert_eq!(award(Ht, true), None);
    }

    #[test]
    fn tested_subjects_by_grade() {
        let cfg = Tt27Config::default();
        assert!(cfg.is_tested(1, "Toán"));
        assert!(!cfg.is_tested(1, "Ngoại ngữ 1"));
        assert!(cfg.is_tested(3, "tin hoc va cong nghe"));
        assert!(cfg.is_tested(5, "Khoa học"));
        assert!(!cfg.is_tested(4, "Đạo đức"));
        assert!(cfg.is_midterm_tested(4, "Tiếng Việt"));
        assert!(!cfg.is_midterm_tested(3, "Tiếng Việt"));
    }

    #[test]
    fn test_scores_are_whole_numbers() {
        let cfg = Tt27Config::default();
        assert_eq!(parse_test_score("9", &cfg), Ok(9));
        assert_eq!(parse_test_score("0", &cfg), Ok(0));
        assert!(parse_test_score("8,5", &cfg).is_err());
        assert!(parse_test_score("11", &cfg).is_err());
        let strict = Tt27Config {
            min_test_score: 1,
            ..Default::default()
        };
        assert!(parse_test_score("0", &strict).is_err());
    }

    fn all_qualities(l: Q) -> std::collections::BTreeMap<String, Q> {
        QUALITIES
            .iter()
            .chain(COMPETENCES.iter())
            .map(|n| (n.to_string(), l))
            .collect()
    }
    fn subj(name: &str, level: S, test: Option<u8>) -> PrimarySubject {
        PrimarySubject {
            name: name.into(),
            level: Some(level),
            test,
        }
    }

    #[test]
    fn an_electives_test_does_not_count() {
        let cfg = Tt27Config::default();
        let input = PrimaryYearInput {
            grade: 2,
            subjects: vec![
                subj("Tiếng Việt", S::H, Some(8)),
                subj("Toán", S::H, Some(7)),
                subj("Tiếng Anh", S::H, Some(4)),
                subj("Đạo đức", S::T, None),
            ],
            qualities: all_qualities(Q::Dat),
            recognised_by_class: false,
        };
        let y = decide_year(&input, &cfg).unwrap();
        assert_eq!(y.result, Ht, "the elective's 4 must not make it CHT");
        // The same 4 in a compulsory tested subject does.
        let mut compulsory = input.clone();
        compulsory.subjects[1].test = Some(4);
        assert_eq!(decide_year(&compulsory, &cfg).unwrap().result, Cht);
    }

    #[test]
    fn an_incomplete_record_is_not_decided() {
        let cfg = Tt27Config::default();
        let mut q = all_qualities(Q::Tot);
        q.remove("Tin học");
        let input = PrimaryYearInput {
            grade: 1,
            subjects: vec![
                subj("Tiếng Việt", S::T, Some(9)),
                subj("Toán", S::T, Some(9)),
            ],
            qualities: q,
            recognised_by_class: false,
        };
        assert_eq!(
            decide_year(&input, &cfg),
            Err(PrimaryIncomplete::MissingQuality("Tin học"))
        );
        assert_eq!(
            cfg.missing_tested_subject(1, ["Tiếng Việt"].into_iter()),
            Some("Toán")
        );
        assert_eq!(
            cfg.missing_tested_subject(1, ["tieng viet", "TOÁN"].into_iter()),
            None
        );
        let no_score = PrimaryYearInput {
            subjects: vec![subj("Tiếng Việt", S::T, Some(9)), subj("Toán", S::T, None)],
            qualities: all_qualities(Q::Tot),
            ..input
        };
        assert_eq!(
            decide_year(&no_score, &cfg),
            Err(PrimaryIncomplete::MissingTest("Toán".into()))
        );
    }

    #[test]
    fn grade_five_completes_primary_and_the_class_recognises_tieu_bieu() {
        let cfg = Tt27Config::default();
        let names = [
            "Tiếng Việt",
            "Toán",
            "Ngoại ngữ 1",
            "Lịch sử và Địa lí",
            "Khoa học",
            "Tin học và Công nghệ",
        ];
        let mut input = PrimaryYearInput {
            grade: 5,
            subjects: names.iter().map(|n| subj(n, S::T, Some(8))).collect(),
            qualities: all_qualities(Q::Tot),
            recognised_by_class: false,
        };
        let y = decide_year(&input, &cfg).unwrap();
        assert_eq!(y.result, Htt);
        assert_eq!(y.completion_label(), "Hoàn thành chương trình tiểu học");
        assert_eq!(y.award, None);
        input.recognised_by_class = true;
        assert_eq!(
            decide_year(&input, &cfg).unwrap().award,
            Some(PrimaryAward::Exemplary)
        );
        input.grade = 4;
        assert_eq!(
            decide_year(&input, &cfg).unwrap().completion_label(),
            "Hoàn thành chương trình lớp học"
        );
    }

    fn subject() -> impl Strategy<Value = S> {
        prop_oneof![Just(S::T), Just(S::H), Just(S::C)]
    }
    fn quality() -> impl Strategy<Value = Q> {
        prop_oneof![Just(Q::Tot), Just(Q::Dat), Just(Q::CanCoGang)]
    }

    proptest! {
        #[test]
        fn raising_one_test_score_never_lowers_the_result(
            subjects in proptest::collection::vec(subject(), 1..12),
            qualities in proptest::collection::vec(quality(), 1..16),
            tests in proptest::collection::vec(0u8..=10, 0..7),
            pick in any::<prop::sample::Index>(), bump in 1u8..=10,
        ) {
            let before = education_result(&subjects, &qualities, &tests);
            if !tests.is_empty() {
                let mut raised = tests.clone();
                let i = pick.index(raised.len());
                raised[i] = (raised[i] + bump).min(10);
                prop_assert!(education_result(&subjects, &qualities, &raised) >= before);
            }
            let mut better = subjects.clone();
            let i = pick.index(better.len());
            better[i] = S::T;
            prop_assert!(education_result(&better, &qualities, &tests) >= before);
        }
    }
}
