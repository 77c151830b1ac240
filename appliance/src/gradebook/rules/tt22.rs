//! Thông tư 22/2021 (lower secondary): term and year subject results, the learning level with
//! the single-subject adjustment, the conduct year matrix, promotion and awards (DOMAIN.md §1).
//! Pure functions over integer tenths; the [U] choices live in [`Tt22Config`].

use serde::{Deserialize, Serialize};

use super::Tenths;

/// A learning (kết quả học tập) or conduct (kết quả rèn luyện) level. Ordered worst → best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "Chưa đạt")]
    ChuaDat,
    #[serde(rename = "Đạt")]
    Dat,
    #[serde(rename = "Khá")]
    Kha,
    #[serde(rename = "Tốt")]
    Tot,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Tot, Level::Kha, Level::Dat, Level::ChuaDat];
    pub fn label(self) -> &'static str {
        match self {
            Level::Tot => "Tốt",
            Level::Kha => "Khá",
            Level::Dat => "Đạt",
            Level::ChuaDat => "Chưa đạt",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        let f = crate::text::fold(s);
        match f.as_str() {
            "tot" | "t" => Some(Level::Tot),
            "kha" | "k" => Some(Level::Kha),
            "dat" | "d" => Some(Level::Dat),
            "chua dat" | "cd" => Some(Level::ChuaDat),
            _ => None,
        }
    }
    fn rank(self) -> u8 {
        self as u8
    }
    fn up(self) -> Level {
        match self {
            Level::ChuaDat => Level::Dat,
            Level::Dat => Level::Kha,
            Level::Kha | Level::Tot => Level::Tot,
        }
    }
}

/// Đạt (Đ) / Chưa đạt (CĐ): the result of a comment-only assessment or subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pass {
    #[serde(rename = "Đ")]
    Dat,
    #[serde(rename = "CĐ")]
    ChuaDat,
}

impl Pass {
    pub fn label(self) -> &'static str {
        match self {
            Pass::Dat => "Đ",
            Pass::ChuaDat => "CĐ",
        }
    }
    /// Accepts "Đ", "đ", "D", "Đạt", "CĐ", "cd", "Chưa đạt".
    pub fn parse(s: &str) -> Option<Pass> {
        match crate::text::fold(s).as_str() {
            "d" | "dat" => Some(Pass::Dat),
            "cd" | "chua dat" => Some(Pass::ChuaDat),
            _ => None,
        }
    }
}

/// How the single-subject adjustment (Đ9 k3) replaces the one subject it tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentMethod {
    /// Try the subject as if it had a perfect result (10.0 or Đ) — the default, safer reading.
    ReplaceWithPerfect,
    /// Try the level without that subject at all.
    RemoveSubject,
}

/// The school-configurable parts of TT22 — every one is an [U]/[S] reading in DOMAIN.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tt22Config {
    /// Regular assessments per term of a comment-only subject (Đ6 k2 a, believed 2).
    pub comment_regular_count: usize,
    /// Whether one comment-only subject at CĐ can trigger the +1 adjustment.
    pub adjustment_counts_comment_subjects: bool,
    pub adjustment_method: AdjustmentMethod,
    /// Absences (buổi) above which a student is not promoted (Đ12: 45).
    pub max_absences: u16,
    /// Whether an award (Đ15) needs the student to be promoted. The text does not say [U];
    /// default true: a retained student with Tốt levels gets no title, and the output says why.
    pub award_requires_promotion: bool,
}

impl Default for Tt22Config {
    fn default() -> Self {
        Tt22Config {
            comment_regular_count: 2,
            adjustment_counts_comment_subjects: true,
            adjustment_method: AdjustmentMethod::ReplaceWithPerfect,
            max_absences: 45,
            award_requires_promotion: true,
        }
    }
}

/// Number of ĐĐGtx per term of a scored subject from its periods per year (Đ6 k2 b):
/// up to 35 → 2, up to 70 → 3, more → 4.
pub fn regular_count(periods_per_year: u16) -> usize {
    match periods_per_year {
        0..=35 => 2,
        36..=70 => 3,
        _ => 4,
    }
}

/// ĐTBmhk = (ΣĐĐGtx + 2·ĐĐGgk + 3·ĐĐGck) / (n + 5), one decimal, half up.
pub fn term_average(regular: &[Tenths], midterm: Tenths, end_of_term: Tenths) -> Tenths {
    let n: u32 = regular.iter().map(|t| u32::from(t.get())).sum::<u32>()
        + 2 * u32::from(midterm.get())
        + 3 * u32::from(end_of_term.get());
    let d = regular.len() as u32 + 5;
    let avg = (2 * n + d) / (2 * d);
    Tenths::new(avg as u16).expect("an average of scores ≤ 10 is ≤ 10")
}

/// ĐTBmcn = (ĐTBmhkI + 2·ĐTBmhkII) / 3 from the recorded (rounded) term averages.
pub fn year_average(term1: Tenths, term2: Tenths) -> Tenths {
    let s = u32::from(term1.get()) + 2 * u32::from(term2.get());
    Tenths::new(((2 * s + 3) / 6) as u16).expect("an average of scores ≤ 10 is ≤ 10")
}

/// A comment-only subject's term: Đạt iff every required assessment was made and all are Đạt.
pub fn comment_term(results: &[Pass], required: usize) -> Pass {
    if results.len() >= required && results.iter().all(|p| *p == Pass::Dat) {
        Pass::Dat
    } else {
        Pass::ChuaDat
    }
}

/// A comment-only subject's year result is its term II result.
pub fn comment_year(_term1: Pass, term2: Pass) -> Pass {
    term2
}

/// One subject's result for a term or the year, as the level rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubjectResult {
    Scored(Tenths),
    Comment(Pass),
}

impl SubjectResult {
    fn perfect(self) -> SubjectResult {
        match self {
            SubjectResult::Scored(_) => SubjectResult::Scored(Tenths::MAX),
            SubjectResult::Comment(_) => SubjectResult::Comment(Pass::Dat),
        }
    }
}

/// The level table of Đ9 k2, without the adjustment.
pub fn level_table(results: &[SubjectResult]) -> Level {
    let mut failed_comments = 0usize;
    let mut scored = Vec::new();
    for r in results {
        match r {
            SubjectResult::Comment(Pass::ChuaDat) => failed_comments += 1,
            SubjectResult::Comment(Pass::Dat) => {}
            SubjectResult::Scored(t) => scored.push(t.get()),
        }
    }
    let at_least = |v: u16| scored.iter().filter(|s| **s >= v).count();
    let min = scored.iter().copied().min().unwrap_or(100);
    if failed_comments == 0 && min >= 65 && at_least(80) >= 6 {
        Level::Tot
    } else if failed_comments == 0 && min >= 50 && at_least(65) >= 6 {
        Level::Kha
    } else if failed_comments <= 1 && at_least(50) >= 6 && min >= 35 {
        Level::Dat
    } else {
        Level::ChuaDat
    }
}

/// A learning level with how it was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// From the table alone.
    pub computed: Level,
    /// After the single-subject adjustment; this is the student's level.
    pub level: Level,
    /// Index of the one subject that alone lowered the level by two or more, when adjusted.
    pub adjusted_for: Option<usize>,
}

/// The learning level of a term or the year (Đ9 k2, k3). `results` are all the student's
/// assessed subjects (exempt subjects left out).
pub fn classify(results: &[SubjectResult], cfg: &Tt22Config) -> Classification {
    let computed = level_table(results);
    let mut best: Option<(Level, usize)> = None;
    for (i, r) in results.iter().enumerate() {
        if matches!(r, SubjectResult::Comment(_)) && !cfg.adjustment_counts_comment_subjects {
            continue;
        }
        let mut trial: Vec<SubjectResult> = results.to_vec();
        match cfg.adjustment_method {
            AdjustmentMethod::ReplaceWithPerfect => trial[i] = r.perfect(),
            AdjustmentMethod::RemoveSubject => {
                trial.remove(i);
            }
        }
        let level = level_table(&trial);
        if best.is_none_or(|(b, _)| level > b) {
            best = Some((level, i));
        }
    }
    match best {
        Some((b, i)) if b >= Level::Kha && b.rank() >= computed.rank() + 2 => Classification {
            computed,
            level: computed.up(),
            adjusted_for: Some(i),
        },
        _ => Classification {
            computed,
            level: computed,
            adjusted_for: None,
        },
    }
}

/// Whether Đ10's exemption can apply to a subject: it excuses the practical part of Giáo dục
/// thể chất, and of Giáo dục quốc phòng và an ninh at THPT (grades 10–12), for a term or the
/// year; the theory assessments replace the practical ones (DOMAIN.md §1.7). [C] lawnet.vn
/// "…exempted-from-physical-education…1007747". Any other subject left unassessed is the
/// disability case (Đ11, the principal decides, Đ12 k4), which needs the student marked so.
pub fn exemptible(subject: &str, grade: u8) -> bool {
    let f = crate::text::fold(subject);
    f == "giao duc the chat"
        || f == "gdtc"
        || (grade >= 10 && (f.starts_with("giao duc quoc phong") || f.starts_with("gdqp")))
}

/// Year conduct from the two term levels (Đ8 k3).
pub fn conduct_year(term1: Level, term2: Level) -> Level {
    use Level::*;
    match (term2, term1) {
        (Tot, Tot | Kha) => Tot,
        (Tot, Dat | ChuaDat) => Kha,
        (Kha, ChuaDat) => Dat,
        (Kha, _) => Kha,
        (Dat, Tot) => Kha,
        (Dat, _) => Dat,
        (ChuaDat, _) => ChuaDat,
    }
}

/// The end-of-year decision for one student (Đ12–14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Lên lớp (or completes THCS in grade 9, THPT in grade 12).
    Promoted,
    /// Rèn luyện trong kì nghỉ hè: year conduct Chưa đạt, learning ≥ Đạt.
    SummerConduct,
    /// Conduct and learning both Chưa đạt: summer conduct training and re-assessment of the
    /// failed subjects in the same summer, the decision after both (Đ13, Đ14).
    #[serde(rename = "summer_conduct_and_re_assessment")]
    SummerBoth,
    /// Kiểm tra, đánh giá lại: conduct ≥ Đạt, learning Chưa đạt.
    ReAssessment,
    /// Ở lại lớp.
    Retained,
    /// A scored subject left out for a disability (Đ11): the principal decides (Đ12 k4).
    PrincipalDecides,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::SummerConduct => "summer_conduct",
            Outcome::SummerBoth => "summer_conduct_and_re_assessment",
            Outcome::ReAssessment => "re_assessment",
            Outcome::Retained => "retained",
            Outcome::PrincipalDecides => "principal_decides",
        }
    }
    /// The wording without the grade (lists, counts).
    pub fn label(self) -> &'static str {
        self.label_for(0)
    }
    /// Which summer an end-of-year decision sends the student to, in the words the học bạ and
    /// the decision after it use ("Lên lớp sau …"); None when it sends to none.
    pub fn summer_path(self) -> Option<&'static str> {
        match self {
            Outcome::SummerBoth => Some("rèn luyện trong kì nghỉ hè và kiểm tra, đánh giá lại"),
            Outcome::SummerConduct => Some("rèn luyện trong kì nghỉ hè"),
            Outcome::ReAssessment => Some("kiểm tra, đánh giá lại"),
            Outcome::Promoted | Outcome::Retained | Outcome::PrincipalDecides => None,
        }
    }

    /// The wording of the học bạ and the lists: the last grade of a level completes it
    /// (Đ12 k1: "được công nhận hoàn thành chương trình THCS / THPT").
    pub fn label_for(self, grade: u8) -> &'static str {
        match (self, grade) {
            (Outcome::Promoted, 9) => "Hoàn thành chương trình trung học cơ sở",
            (Outcome::Promoted, 12) => "Hoàn thành chương trình trung học phổ thông",
            (Outcome::Promoted, _) => "Lên lớp",
            (Outcome::SummerConduct, _) => "Rèn luyện trong hè",
            (Outcome::SummerBoth, _) => "Rèn luyện trong hè và kiểm tra, đánh giá lại",
            (Outcome::ReAssessment, _) => "Kiểm tra, đánh giá lại",
            (Outcome::Retained, 9) => "Chưa được công nhận hoàn thành chương trình trung học cơ sở",
            (Outcome::Retained, 12) => {
                "Chưa được công nhận hoàn thành chương trình trung học phổ thông"
            }
            (Outcome::Retained, _) => "Ở lại lớp",
            (Outcome::PrincipalDecides, _) => {
                "Hiệu trưởng xem xét, quyết định (học sinh khuyết tật)"
            }
        }
    }
    /// Whether the student goes to the summer (training, re-assessment or both).
    pub fn is_summer(self) -> bool {
        matches!(
            self,
            Outcome::SummerConduct | Outcome::SummerBoth | Outcome::ReAssessment
        )
    }
}

/// Which stage of the summer the decision is taken at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// End of the school year: failures go to the summer.
    EndOfYear,
    /// After summer conduct training and/or re-assessment: failures are retained.
    AfterSummer,
}

/// Promotion decision. Absences above the limit cannot be cured in the summer.
pub fn outcome(
    conduct: Level,
    learning: Level,
    absences: u16,
    stage: Stage,
    cfg: &Tt22Config,
) -> Outcome {
    if absences > cfg.max_absences {
        return Outcome::Retained;
    }
    match (stage, conduct, learning) {
        (_, c, l) if c >= Level::Dat && l >= Level::Dat => Outcome::Promoted,
        (Stage::AfterSummer, _, _) => Outcome::Retained,
        (Stage::EndOfYear, Level::ChuaDat, Level::ChuaDat) => Outcome::SummerBoth,
        (Stage::EndOfYear, Level::ChuaDat, _) => Outcome::SummerConduct,
        (Stage::EndOfYear, _, _) => Outcome::ReAssessment,
    }
}

/// Subjects to re-assess (Đ14): every comment subject at CĐ and every scored subject with
/// ĐTBmcn below 5.0 — all of them, the student does not choose.
pub fn reassessment_subjects(year: &[SubjectResult]) -> Vec<usize> {
    year.iter()
        .enumerate()
        .filter(|(_, r)| match r {
            SubjectResult::Comment(p) => *p == Pass::ChuaDat,
            SubjectResult::Scored(t) => t.get() < 50,
        })
        .map(|(i, _)| i)
        .collect()
}

/// Danh hiệu (Đ15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Award {
    #[serde(rename = "Học sinh Xuất sắc")]
    Excellent,
    #[serde(rename = "Học sinh Giỏi")]
    Good,
}

impl Award {
    pub fn label(self) -> &'static str {
        match self {
            Award::Excellent => "Học sinh Xuất sắc",
            Award::Good => "Học sinh Giỏi",
        }
    }
}

/// Xuất sắc: conduct and learning Tốt and at least six scored subjects ≥ 9.0; Giỏi: both Tốt.
pub fn award(conduct: Level, learning: Level, year: &[SubjectResult]) -> Option<Award> {
    if conduct != Level::Tot || learning != Level::Tot {
        return None;
    }
    let nines = year
        .iter()
        .filter(|r| matches!(r, SubjectResult::Scored(t) if t.get() >= 90))
        .count();
    Some(if nines >= 6 {
        Award::Excellent
    } else {
        Award::Good
    })
}

// ---------------------------------------------------------------------------------------------
// The year of one student: the one decision the class book, the stored results, the PDFs and
// `tram grades check` all take (issue 20 item 1).
//
// Sources, DOMAIN.md style:
// - Đ12 k1 (lên lớp / hoàn thành chương trình THCS): conduct ≥ Đạt, learning ≥ Đạt, absences
//   ≤ 45 buổi. [C] lawnet.vn "…45-excused-absences…3768".
// - Đ13 (rèn luyện hè) and Đ14 (đánh giá lại): Đ14's text names students whose conduct is ≥ Đạt;
//   for a student Chưa đạt in both, MOET answered that Đ13 and Đ14 apply together in the same
//   summer, and the decision is taken once both results are in. [S] news.laodong.vn
//   …-1607256.ldo, ja.laodong.vn …-1644962.ldo (exact wording not read).
// - Đ10 (miễn học phần thực hành GDTC/GDQP-AN) is granted for a term or the year; a term
//   exempt leaves the year to the other term. Đ11 + Đ12 k4: a student with a disability who is
//   not assessed in a subject is promoted or not by the principal's decision. [C] lawnet.vn
//   "…exempted-from-physical-education…1007747", "…45-excused-absences…3768". Đ10 exempts
//   only the practical part: the theory assessments replace it, so the subject keeps a result
//   (DOMAIN.md §1.7 [C]) and an exemption of GDTC or GDQP-AN is never the principal's
//   decision, scored or not. Only a subject Đ10 does not cover, left out for a disability
//   (Đ11), sends the year to the principal. A Đ10 exemption recorded with no theory result
//   at all ("M" in every cell) is left out of the level [U]: the subject's other term, if
//   any, stands for the year (the class book and the CLI treat it alike).
// - An award for a student who is not promoted is not settled by the text [U]: a school
//   setting, `award_requires_promotion`, default true (no award unless promoted).

/// One subject's year as the decision sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YearSubject {
    /// ĐTBmcn, or Đ/CĐ of a comment subject.
    Result(SubjectResult),
    /// Exempt for the whole year with no result. `individual_plan`: the subject is not one
    /// Đ10 covers (GDTC; GDQP-AN at THPT), so it was left out for a disability (Đ11) and the
    /// principal decides the year (Đ12 k4); otherwise it is only left out of the level.
    Exempt { individual_plan: bool },
    /// Assessments still missing.
    Incomplete,
}

/// Everything recorded about one student's year.
#[derive(Clone, Debug, Default)]
pub struct YearInput {
    /// Khối (6–12): the last grade of a level completes it instead of "lên lớp".
    pub grade: u8,
    pub subjects: Vec<YearSubject>,
    /// Year conduct (Đ8 k3), once both terms are recorded.
    pub conduct: Option<Level>,
    /// Buổi nghỉ of the year; None when not recorded (the CLI may leave it out).
    pub absences: Option<u16>,
    /// Conduct re-evaluated after summer training (Đ13 k3).
    pub summer_conduct: Option<Level>,
    /// Re-assessment results by subject index (Đ14); the same length as `subjects` or empty.
    pub reassessed: Vec<Option<SubjectResult>>,
}

/// A summer result given for a student who does not owe it: an input error, not a retention.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YearInputError {
    #[error("Chỉ học sinh có kết quả rèn luyện cả năm Chưa đạt mới rèn luyện trong hè")]
    SummerConductNotOwed,
    #[error("Môn này không thuộc diện kiểm tra, đánh giá lại")]
    ReassessmentNotOwed(usize),
}

/// Why an award the results would give is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AwardWithheld {
    /// The title the levels alone would give.
    pub would_be: Award,
    /// The decision that stands when the award was withheld (not yet final for the summer
    /// paths and the principal's decision).
    #[serde(skip)]
    pub standing: Option<Outcome>,
}

impl AwardWithheld {
    pub fn reason(&self) -> String {
        let why = match self.standing {
            Some(Outcome::PrincipalDecides) => "chờ Hiệu trưởng quyết định việc lên lớp",
            Some(Outcome::SummerConduct | Outcome::ReAssessment | Outcome::SummerBoth) => {
                "chờ kết quả rèn luyện hè hoặc kiểm tra, đánh giá lại"
            }
            _ => "học sinh không được lên lớp",
        };
        format!(
            "Không xét danh hiệu {}: {why} (cài đặt của trường: chỉ khen thưởng học sinh được lên lớp)",
            self.would_be.label()
        )
    }
}

/// The decision after the summer, once every re-evaluation the student owed is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AfterSummer {
    pub level: Level,
    pub conduct: Level,
    pub outcome: Outcome,
}

/// What the year decides for one student.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct YearDecision {
    pub grade: u8,
    pub level: Option<Classification>,
    pub conduct: Option<Level>,
    /// The end-of-year decision; None until level, conduct and absences are known.
    pub outcome: Option<Outcome>,
    /// Indexes of the subjects to re-assess in the summer (Đ14).
    pub reassess: Vec<usize>,
    pub award: Option<Award>,
    pub award_withheld: Option<AwardWithheld>,
    /// The decision after the summer, once every result the student owed is in.
    pub after_summer: Option<AfterSummer>,
}

impl YearDecision {
    /// The decision that stands: after the summer when it is complete, else the end of year.
    pub fn final_outcome(&self) -> Option<Outcome> {
        self.after_summer.map(|a| a.outcome).or(self.outcome)
    }
}

/// Decides one student's year (Đ9, Đ12–15). Refuses summer results the student does not owe.
pub fn decide_year(input: &YearInput, cfg: &Tt22Config) -> Result<YearDecision, YearInputError> {
    let mut results = Vec::with_capacity(input.subjects.len());
    let mut complete = true;
    let mut left_out_for_disability = false;
    for s in &input.subjects {
        match s {
            YearSubject::Result(r) => results.push(*r),
            YearSubject::Exempt { individual_plan } => left_out_for_disability |= *individual_plan,
            YearSubject::Incomplete => complete = false,
        }
    }
    let level = complete.then(|| classify(&results, cfg));
    let mut d = YearDecision {
        grade: input.grade,
        level,
        conduct: input.conduct,
        ..Default::default()
    };
    let (Some(l), Some(conduct), Some(absences)) = (level, input.conduct, input.absences) else {
        return Ok(d);
    };
    let outcome = if left_out_for_disability {
        Outcome::PrincipalDecides
    } else {
        outcome(conduct, l.level, absences, Stage::EndOfYear, cfg)
    };
    d.outcome = Some(outcome);
    if matches!(outcome, Outcome::ReAssessment | Outcome::SummerBoth) {
        d.reassess = input
            .subjects
            .iter()
            .enumerate()
            .filter(|(_, s)| match s {
                YearSubject::Result(SubjectResult::Scored(t)) => t.get() < 50,
                YearSubject::Result(SubjectResult::Comment(p)) => *p == Pass::ChuaDat,
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
    }
    let owes_conduct = matches!(outcome, Outcome::SummerConduct | Outcome::SummerBoth);
    if input.summer_conduct.is_some() && !owes_conduct {
        return Err(YearInputError::SummerConductNotOwed);
    }
    if let Some(i) = input
        .reassessed
        .iter()
        .enumerate()
        .position(|(i, r)| r.is_some() && !d.reassess.contains(&i))
    {
        return Err(YearInputError::ReassessmentNotOwed(i));
    }
    d.after_summer = after_summer(input, &d, &results, conduct, absences, cfg);
    if let Some(a) = award(conduct, l.level, &results) {
        match d.final_outcome() {
            Some(Outcome::Promoted) => d.award = Some(a),
            _ if !cfg.award_requires_promotion => d.award = Some(a),
            standing => {
                d.award_withheld = Some(AwardWithheld {
                    would_be: a,
                    standing,
                })
            }
        }
    }
    Ok(d)
}

/// The decision after the summer: re-assessed results replace those subjects' year results,
/// re-evaluated conduct replaces the year conduct; None until everything owed is in.
fn after_summer(
    input: &YearInput,
    d: &YearDecision,
    year: &[SubjectResult],
    conduct: Level,
    absences: u16,
    cfg: &Tt22Config,
) -> Option<AfterSummer> {
    if !d.outcome?.is_summer() {
        return None;
    }
    let conduct = if conduct == Level::ChuaDat {
        input.summer_conduct?
    } else {
        conduct
    };
    let level = if d.reassess.is_empty() {
        d.level?.level
    } else {
        let mut after = Vec::with_capacity(year.len());
        for (i, s) in input.subjects.iter().enumerate() {
            if let YearSubject::Result(r) = s {
                after.push(if d.reassess.contains(&i) {
                    (*input.reassessed.get(i)?)?
                } else {
                    *r
                });
            }
        }
        classify(&after, cfg).level
    };
    Some(AfterSummer {
        level,
        conduct,
        outcome: outcome(conduct, level, absences, Stage::AfterSummer, cfg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(x: f64) -> Tenths {
        super::super::score_from_f64(x).unwrap()
    }

    #[test]
    fn only_gdtc_and_gdqp_an_at_thpt_are_exemptible() {
        assert!(exemptible("Giáo dục thể chất", 6));
        assert!(exemptible("giáo dục  thể chất", 9));
        assert!(exemptible("Giáo dục quốc phòng và an ninh", 10));
        assert!(!exemptible("Giáo dục quốc phòng và an ninh", 9));
        for other in [
            "Toán",
            "Ngữ văn",
            "Nghệ thuật",
            "Hoạt động trải nghiệm, hướng nghiệp",
        ] {
            assert!(!exemptible(other, 8), "{other}");
            assert!(!exemptible(other, 11), "{other}");
        }
    }
    fn scored(xs: &[f64]) -> Vec<SubjectResult> {
        xs.iter().map(|x| SubjectResult::Scored(t(*x))).collect()
    }
    fn with_comments(mut v: Vec<SubjectResult>, failed: usize) -> Vec<SubjectResult> {
        for i in 0..4 {
            v.push(SubjectResult::Comment(if i < failed {
                Pass::ChuaDat
            } else {
                Pass::Dat
            }));
        }
        v
    }

    #[test]
    fn regular_assessment_bands() {
        assert_eq!(regular_count(35), 2);
        assert_eq!(regular_count(36), 3);
        assert_eq!(regular_count(52), 3);
        assert_eq!(regular_count(70), 3);
        assert_eq!(regular_count(71), 4);
        assert_eq!(regular_count(140), 4);
    }

    #[test]
    fn worked_term_averages_e1_e2_e3() {
        assert_eq!(
            term_average(&[t(8.0), t(7.0), t(9.0), t(6.5)], t(7.5), t(8.0)),
            t(7.7)
        );
        assert_eq!(term_average(&[t(9.0), t(8.0)], t(8.5), t(7.0)), t(7.9));
        // 6.25 rounds half up to 6.3 (banker's rounding would give 6.2).
        assert_eq!(
            term_average(&[t(6.0), t(7.0), t(5.5)], t(6.0), t(6.5)),
            t(6.3)
        );
    }

    #[test]
    fn worked_year_averages_y1_y2_y3() {
        assert_eq!(year_average(t(6.8), t(7.3)), t(7.1));
        assert_eq!(year_average(t(7.9), t(8.0)), t(8.0));
        assert_eq!(year_average(t(6.3), t(6.6)), t(6.5));
    }

    #[test]
    fn comment_subject_term_and_year() {
        use Pass::*;
        assert_eq!(comment_term(&[Dat, Dat, Dat, Dat], 4), Dat);
        assert_eq!(comment_term(&[Dat, ChuaDat, Dat, Dat], 4), ChuaDat);
        assert_eq!(
            comment_term(&[Dat, Dat, Dat], 4),
            ChuaDat,
            "a missing assessment is not Đạt"
        );
        assert_eq!(comment_year(ChuaDat, Dat), Dat);
        assert_eq!(comment_year(Dat, ChuaDat), ChuaDat);
    }

    #[test]
    fn classification_vectors_a_to_g() {
        let cfg = Tt22Config::default();
        let a = [8.5, 8.0, 8.2, 8.0, 8.4, 9.0, 7.0, 6.6];
        let cases: Vec<(&str, Vec<SubjectResult>, Level, Level)> = vec![
            ("A", with_comments(scored(&a), 0), Level::Tot, Level::Tot),
            (
                "B",
                with_comments(scored(&[8.5, 8.0, 8.2, 8.0, 8.4, 9.0, 7.0, 6.4]), 0),
                Level::Kha,
                Level::Kha,
            ),
            (
                "C",
                with_comments(scored(&[8.5, 8.0, 8.2, 8.0, 8.4, 9.0, 7.0, 3.4]), 0),
                Level::ChuaDat,
                Level::Dat,
            ),
            (
                "F",
                with_comments(scored(&[9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 4.8]), 0),
                Level::Dat,
                Level::Kha,
            ),
            (
                "D",
                with_comments(scored(&[9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 4.0, 4.5]), 0),
                Level::Dat,
                Level::Dat,
            ),
            (
                "G",
                with_comments(scored(&[7.8; 8]), 0),
                Level::Kha,
                Level::Kha,
            ),
            (
                "E1",
                with_comments(scored(&[8.5; 8]), 1),
                Level::Dat,
                Level::Kha,
            ),
            (
                "E2",
                with_comments(scored(&[8.5; 8]), 2),
                Level::ChuaDat,
                Level::ChuaDat,
            ),
        ];
        for (name, results, computed, adjusted) in cases {
            let c = classify(&results, &cfg);
            assert_eq!(c.computed, computed, "case {name} computed");
            assert_eq!(c.level, adjusted, "case {name} adjusted");
        }
    }

    #[test]
    fn e1_is_not_adjusted_when_comment_subjects_do_not_count() {
        let cfg = Tt22Config {
            adjustment_counts_comment_subjects: false,
            ..Default::default()
        };
        let c = classify(&with_comments(scored(&[8.5; 8]), 1), &cfg);
        assert_eq!((c.computed, c.level), (Level::Dat, Level::Dat));
    }

    #[test]
    fn remove_method_is_available() {
        let cfg = Tt22Config {
            adjustment_method: AdjustmentMethod::RemoveSubject,
            ..Default::default()
        };
        // Case C with Tin removed leaves seven subjects, six ≥ 8.0 and min 7.0: Tốt → adjusted to Đạt.
        let c = classify(
            &with_comments(scored(&[8.5, 8.0, 8.2, 8.0, 8.4, 9.0, 7.0, 3.4]), 0),
            &cfg,
        );
        assert_eq!(
            (c.computed, c.level, c.adjusted_for),
            (Level::ChuaDat, Level::Dat, Some(7))
        );
    }

    #[test]
    fn conduct_matrix_every_cell() {
        use Level::*;
        // Rows HK II, columns HK I: Tốt, Khá, Đạt, Chưa đạt (DOMAIN.md §1.6).
        let table = [
            (Tot, [Tot, Tot, Kha, Kha]),
            (Kha, [Kha, Kha, Kha, Dat]),
            (Dat, [Kha, Dat, Dat, Dat]),
            (ChuaDat, [ChuaDat, ChuaDat, ChuaDat, ChuaDat]),
        ];
        for (t2, row) in table {
            for (t1, want) in [Tot, Kha, Dat, ChuaDat].into_iter().zip(row) {
                assert_eq!(conduct_year(t1, t2), want, "HK I {t1:?}, HK II {t2:?}");
            }
        }
    }

    #[test]
    fn promotion_examples_x_y_z() {
        let cfg = Tt22Config::default();
        // X: conduct Khá/Đạt → Đạt; one subject below 5.0 does not by itself send to re-assessment.
        let x = with_comments(scored(&[4.6, 5.5, 6.0, 5.2, 5.8, 7.0, 6.5, 6.0]), 0);
        let conduct = conduct_year(Level::Kha, Level::Dat);
        assert_eq!(conduct, Level::Dat);
        let lx = classify(&x, &cfg).level;
        assert_eq!(lx, Level::Dat);
        assert_eq!(
            outcome(conduct, lx, 12, Stage::EndOfYear, &cfg),
            Outcome::Promoted
        );

        // Y: learning Chưa đạt → re-assessment of Toán, NV, NN1.
        let mut y = with_comments(scored(&[4.2, 4.8, 3.9, 5.5, 6.0, 6.5, 7.0, 6.0]), 0);
        let ly = classify(&y, &cfg);
        assert_eq!((ly.computed, ly.level), (Level::ChuaDat, Level::ChuaDat));
        assert_eq!(
            outcome(Level::Dat, ly.level, 20, Stage::EndOfYear, &cfg),
            Outcome::ReAssessment
        );
        assert_eq!(reassessment_subjects(&y), vec![0, 1, 2]);
        // After the summer the re-assessed results replace the year results.
        y[0] = SubjectResult::Scored(t(5.5));
        y[1] = SubjectResult::Scored(t(5.0));
        y[2] = SubjectResult::Scored(t(4.0));
        let ly2 = classify(&y, &cfg).level;
        assert_eq!(ly2, Level::Dat);
        assert_eq!(
            outcome(Level::Dat, ly2, 20, Stage::AfterSummer, &cfg),
            Outcome::Promoted
        );

        // Z: absences above 45 cannot be cured.
        let z = with_comments(scored(&[7.0, 7.5, 6.5, 8.0, 8.5, 7.0, 6.5, 8.0]), 0);
        let lz = classify(&z, &cfg).level;
        assert_eq!(lz, Level::Kha);
        let cz = conduct_year(Level::ChuaDat, Level::Kha);
        assert_eq!(cz, Level::Dat);
        assert_eq!(
            outcome(cz, lz, 50, Stage::EndOfYear, &cfg),
            Outcome::Retained
        );
    }

    #[test]
    fn summer_conduct_and_retention_after_summer() {
        let cfg = Tt22Config::default();
        assert_eq!(
            outcome(Level::ChuaDat, Level::Kha, 0, Stage::EndOfYear, &cfg),
            Outcome::SummerConduct
        );
        assert_eq!(
            outcome(Level::ChuaDat, Level::ChuaDat, 0, Stage::EndOfYear, &cfg),
            Outcome::SummerBoth
        );
        assert_eq!(
            outcome(Level::ChuaDat, Level::Kha, 0, Stage::AfterSummer, &cfg),
            Outcome::Retained
        );
        assert_eq!(
            outcome(Level::Dat, Level::ChuaDat, 0, Stage::AfterSummer, &cfg),
            Outcome::Retained
        );
        assert_eq!(
            outcome(Level::Tot, Level::Tot, 45, Stage::EndOfYear, &cfg),
            Outcome::Promoted
        );
        assert_eq!(
            outcome(Level::Tot, Level::Tot, 46, Stage::EndOfYear, &cfg),
            Outcome::Retained
        );
    }

    #[test]
    fn awards() {
        let a = with_comments(scored(&[8.5, 8.0, 8.2, 8.0, 8.4, 9.0, 7.0, 6.6]), 0);
        assert_eq!(award(Level::Tot, Level::Tot, &a), Some(Award::Good));
        let x = with_comments(scored(&[9.0, 9.5, 9.1, 9.0, 9.9, 10.0, 7.0, 6.6]), 0);
        assert_eq!(award(Level::Tot, Level::Tot, &x), Some(Award::Excellent));
        assert_eq!(award(Level::Kha, Level::Tot, &x), None);
        assert_eq!(award(Level::Tot, Level::Kha, &x), None);
    }

    /// Student Y's year results (DOMAIN.md §1.8) as the decision's input.
    fn y_input(conduct: Level) -> YearInput {
        YearInput {
            grade: 7,
            subjects: with_comments(scored(&[4.2, 4.8, 3.9, 5.5, 6.0, 6.5, 7.0, 6.0]), 0)
                .into_iter()
                .map(YearSubject::Result)
                .collect(),
            conduct: Some(conduct),
            absences: Some(20),
            ..Default::default()
        }
    }
    fn reassessed_y() -> Vec<Option<SubjectResult>> {
        let mut v = vec![None; 12];
        v[0] = Some(SubjectResult::Scored(t(5.5)));
        v[1] = Some(SubjectResult::Scored(t(5.0)));
        v[2] = Some(SubjectResult::Scored(t(4.0)));
        v
    }

    #[test]
    fn conduct_and_learning_both_chua_dat_take_both_summer_paths_and_decide_after_both() {
        let cfg = Tt22Config::default();
        let d = decide_year(&y_input(Level::ChuaDat), &cfg).unwrap();
        assert_eq!(d.outcome, Some(Outcome::SummerBoth));
        assert_eq!(d.reassess, vec![0, 1, 2], "Toán, Ngữ văn, Ngoại ngữ 1");
        assert_eq!(d.after_summer, None);
        // Conduct alone is not enough: the re-assessment is still owed.
        let only_conduct = YearInput {
            summer_conduct: Some(Level::Dat),
            ..y_input(Level::ChuaDat)
        };
        assert_eq!(decide_year(&only_conduct, &cfg).unwrap().after_summer, None);
        // Re-assessment alone is not enough either.
        let only_subjects = YearInput {
            reassessed: reassessed_y(),
            ..y_input(Level::ChuaDat)
        };
        assert_eq!(
            decide_year(&only_subjects, &cfg).unwrap().after_summer,
            None
        );
        let both = YearInput {
            summer_conduct: Some(Level::Dat),
            reassessed: reassessed_y(),
            ..y_input(Level::ChuaDat)
        };
        let a = decide_year(&both, &cfg).unwrap().after_summer.unwrap();
        assert_eq!(
            (a.conduct, a.level, a.outcome),
            (Level::Dat, Level::Dat, Outcome::Promoted)
        );
        let still_bad = YearInput {
            summer_conduct: Some(Level::ChuaDat),
            reassessed: reassessed_y(),
            ..y_input(Level::ChuaDat)
        };
        let a = decide_year(&still_bad, &cfg).unwrap().after_summer.unwrap();
        assert_eq!(a.outcome, Outcome::Retained);
    }

    #[test]
    fn summer_results_not_owed_are_input_errors() {
        let cfg = Tt22Config::default();
        let conduct_not_owed = YearInput {
            summer_conduct: Some(Level::Tot),
            ..y_input(Level::Dat)
        };
        assert_eq!(
            decide_year(&conduct_not_owed, &cfg),
            Err(YearInputError::SummerConductNotOwed)
        );
        let mut reassessed = vec![None; 12];
        reassessed[5] = Some(SubjectResult::Scored(t(9.0)));
        let subject_not_owed = YearInput {
            reassessed,
            ..y_input(Level::Dat)
        };
        assert_eq!(
            decide_year(&subject_not_owed, &cfg),
            Err(YearInputError::ReassessmentNotOwed(5))
        );
    }

    #[test]
    fn a_subject_left_out_for_a_disability_is_the_principals_decision_a_d10_one_is_not() {
        let cfg = Tt22Config::default();
        let mut input = y_input(Level::Tot);
        input.subjects = with_comments(scored(&[8.0; 8]), 0)
            .into_iter()
            .map(YearSubject::Result)
            .collect();
        input.subjects[11] = YearSubject::Exempt {
            individual_plan: false,
        };
        let d = decide_year(&input, &cfg).unwrap();
        assert_eq!(d.outcome, Some(Outcome::Promoted));
        input.subjects[7] = YearSubject::Exempt {
            individual_plan: true,
        };
        let d = decide_year(&input, &cfg).unwrap();
        assert_eq!(d.outcome, Some(Outcome::PrincipalDecides));
        assert!(d.reassess.is_empty());
        // The award waits for the principal's decision; it is not "not promoted".
        let w = d.award_withheld.expect("all 8.0 and Tốt would be an award");
        assert!(w.reason().contains("chờ Hiệu trưởng"), "{}", w.reason());
        assert_eq!(
            d.level.map(|c| c.level),
            Some(Level::Tot),
            "levels over the rest"
        );
    }

    #[test]
    fn the_last_grade_of_a_level_completes_it() {
        assert_eq!(Outcome::Promoted.label_for(7), "Lên lớp");
        assert_eq!(
            Outcome::Promoted.label_for(9),
            "Hoàn thành chương trình trung học cơ sở"
        );
        assert_eq!(
            Outcome::Promoted.label_for(12),
            "Hoàn thành chương trình trung học phổ thông"
        );
        let cfg = Tt22Config::default();
        let mut input = y_input(Level::Tot);
        input.grade = 9;
        input.subjects = with_comments(scored(&[8.0; 8]), 0)
            .into_iter()
            .map(YearSubject::Result)
            .collect();
        let d = decide_year(&input, &cfg).unwrap();
        assert_eq!(
            d.final_outcome().map(|o| o.label_for(d.grade)),
            Some("Hoàn thành chương trình trung học cơ sở")
        );
    }

    #[test]
    fn no_award_for_a_retained_student_unless_the_school_says_so() {
        let mut input = y_input(Level::Tot);
        input.subjects = with_comments(scored(&[9.5; 8]), 0)
            .into_iter()
            .map(YearSubject::Result)
            .collect();
        input.absences = Some(46);
        let d = decide_year(&input, &Tt22Config::default()).unwrap();
        assert_eq!(d.outcome, Some(Outcome::Retained));
        assert_eq!(d.award, None);
        let w = d.award_withheld.unwrap();
        assert_eq!(w.would_be, Award::Excellent);
        assert!(w.reason().contains("không được lên lớp"), "{}", w.reason());
        let lenient = Tt22Config {
            award_requires_promotion: false,
            ..Default::default()
        };
        let d = decide_year(&input, &lenient).unwrap();
        assert_eq!((d.award, d.award_withheld), (Some(Award::Excellent), None));
        input.absences = Some(45);
        let d = decide_year(&input, &Tt22Config::default()).unwrap();
        assert_eq!((d.award, d.award_withheld), (Some(Award::Excellent), None));
    }

    fn results_strategy() -> impl Strategy<Value = Vec<SubjectResult>> {
        (
            proptest::collection::vec(0u16..=100, 6..10),
            proptest::collection::vec(any::<bool>(), 0..5),
        )
            .prop_map(|(s, c)| {
                s.into_iter()
                    .map(|v| SubjectResult::Scored(Tenths::new(v).unwrap()))
                    .chain(
                        c.into_iter().map(|p| {
                            SubjectResult::Comment(if p { Pass::Dat } else { Pass::ChuaDat })
                        }),
                    )
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn raising_one_score_never_lowers_a_level(
            results in results_strategy(), pick in any::<prop::sample::Index>(), bump in 1u16..=100,
            counts_comments in any::<bool>(), remove in any::<bool>(),
        ) {
            let cfg = Tt22Config {
                adjustment_counts_comment_subjects: counts_comments,
                adjustment_method: if remove { AdjustmentMethod::RemoveSubject } else { AdjustmentMethod::ReplaceWithPerfect },
                ..Default::default()
            };
            let before = classify(&results, &cfg);
            let mut raised = results.clone();
            let i = pick.index(raised.len());
            raised[i] = match raised[i] {
                SubjectResult::Scored(t) => SubjectResult::Scored(Tenths::new((t.get() + bump).min(100)).unwrap()),
                SubjectResult::Comment(_) => SubjectResult::Comment(Pass::Dat),
            };
            let after = classify(&raised, &cfg);
            prop_assert!(after.computed >= before.computed);
            prop_assert!(after.level >= before.level, "{:?} -> {:?}", before, after);
            prop_assert!(before.level >= before.computed);
            prop_assert!(before.level.rank() <= before.computed.rank() + 1);
        }

        #[test]
        fn averages_stay_in_range_and_between_inputs(
            tx in proptest::collection::vec(0u16..=100, 2..=4), gk in 0u16..=100, ck in 0u16..=100, other in 0u16..=100,
        ) {
            let tx: Vec<Tenths> = tx.into_iter().map(|v| Tenths::new(v).unwrap()).collect();
            let (gk, ck) = (Tenths::new(gk).unwrap(), Tenths::new(ck).unwrap());
            let avg = term_average(&tx, gk, ck);
            let lo = tx.iter().copied().chain([gk, ck]).min().unwrap();
            let hi = tx.iter().copied().chain([gk, ck]).max().unwrap();
            prop_assert!(lo <= avg && avg <= hi);
            let other = Tenths::new(other).unwrap();
            let y = year_average(avg, other);
            prop_assert!(y >= avg.min(other) && y <= avg.max(other));
            // Exact half-up against a rational computation.
            let n: u32 = tx.iter().map(|t| u32::from(t.get())).sum::<u32>() + 2 * u32::from(gk.get()) + 3 * u32::from(ck.get());
            let d = tx.len() as u32 + 5;
            let floor = n / d;
            let want = if (n % d) * 2 >= d { floor + 1 } else { floor };
            prop_assert_eq!(u32::from(avg.get()), want);
        }
    }
}
