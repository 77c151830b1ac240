//! `tram grades check`: one student's record as JSON in, the computed results as JSON out,
//! no database. The format is documented in docs/grades-check.md; every refusal names the
//! field it is about. Pure: a string in, a value or an error out.

use serde_json::{Map, Value, json};

use super::rules::tt22::{self, Level, Pass, SubjectResult, Tt22Config, YearInputError};
use super::rules::tt27::{self, QualityLevel, SubjectLevel, Tt27Config};
use super::rules::{RuleVersion, ScoreError, Tenths, parse_score, score_from_f64};
use super::{SubjectOutcome, TermId};

/// A refusal: which field, and why (English, for the CLI).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckError {
    pub field: String,
    pub message: String,
}

impl CheckError {
    fn new(field: &str, message: impl Into<String>) -> CheckError {
        CheckError {
            field: field.to_string(),
            message: message.into(),
        }
    }
    pub fn to_json(&self) -> Value {
        json!({"error": {"field": self.field, "message": self.message}})
    }
}

type R<T> = Result<T, CheckError>;

pub fn check(input: &str) -> R<Value> {
    let v: Value = serde_json::from_str(input)
        .map_err(|e| CheckError::new("", format!("not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| CheckError::new("", "expected a JSON object"))?;
    match obj.get("rules").and_then(Value::as_str) {
        Some("tt22") => check_tt22(obj),
        Some("tt27") => check_tt27(obj),
        Some(other) => Err(CheckError::new(
            "rules",
            format!("unknown rules \"{other}\"; expected \"tt22\" or \"tt27\""),
        )),
        None => Err(CheckError::new(
            "rules",
            "missing; expected \"tt22\" or \"tt27\"",
        )),
    }
}

fn known_fields(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> R<()> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(CheckError::new(
                &join(path, k),
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn req<'a>(obj: &'a Map<String, Value>, path: &str, key: &str) -> R<&'a Value> {
    match obj.get(key) {
        Some(Value::Null) | None => Err(CheckError::new(&join(path, key), "missing")),
        Some(v) => Ok(v),
    }
}

fn uint(v: &Value, field: &str, range: std::ops::RangeInclusive<u64>) -> R<u64> {
    match v.as_u64() {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(CheckError::new(
            field,
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn grade(obj: &Map<String, Value>, range: std::ops::RangeInclusive<u64>) -> R<u8> {
    Ok(uint(req(obj, "", "grade")?, "grade", range)? as u8)
}

/// The optional school settings of a record, defaulting to DOMAIN.md's readings.
fn config<T: Default + serde::de::DeserializeOwned>(obj: &Map<String, Value>) -> R<T> {
    match obj.get("config") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(c) => {
            serde_json::from_value(c.clone()).map_err(|e| CheckError::new("config", e.to_string()))
        }
    }
}

fn subject_array(obj: &Map<String, Value>) -> R<&Vec<Value>> {
    let v = req(obj, "", "subjects")?
        .as_array()
        .ok_or_else(|| CheckError::new("subjects", "expected an array"))?;
    if v.is_empty() {
        return Err(CheckError::new(
            "subjects",
            "at least one subject is needed",
        ));
    }
    Ok(v)
}

fn score(v: &Value, field: &str) -> R<Tenths> {
    let r = match v {
        Value::Number(n) => n
            .as_f64()
            .map(score_from_f64)
            .unwrap_or(Err(ScoreError::NotANumber(n.to_string()))),
        Value::String(s) => parse_score(s),
        _ => Err(ScoreError::NotANumber(v.to_string())),
    };
    r.map_err(|e| CheckError::new(field, score_error_en(&e)))
}

fn score_error_en(e: &ScoreError) -> String {
    match e {
        ScoreError::Empty => "empty score".into(),
        ScoreError::NotANumber(s) => format!("\"{s}\" is not a score"),
        ScoreError::TooManyDecimals(s) => format!("a score has at most one decimal: got {s}"),
        ScoreError::OutOfRange(s) => format!("a score is from 0 to 10: got {s}"),
        ScoreError::NotAWholeTestScore { got, min } => {
            format!("a periodic test score is a whole number from {min} to 10: got {got}")
        }
    }
}

fn pass(v: &Value, field: &str) -> R<Pass> {
    v.as_str()
        .and_then(Pass::parse)
        .ok_or_else(|| CheckError::new(field, format!("expected \"Đ\" or \"CĐ\", got {v}")))
}

fn level(v: &Value, field: &str) -> R<Level> {
    v.as_str().and_then(Level::parse).ok_or_else(|| {
        CheckError::new(
            field,
            format!("expected \"Tốt\", \"Khá\", \"Đạt\" or \"Chưa đạt\", got {v}"),
        )
    })
}

fn tenths_json(t: Tenths) -> Value {
    json!(t.as_f64())
}

#[derive(Clone, Copy)]
enum Kind {
    Scored,
    Comment,
}

/// Which part of the year a subject is exempt for (Đ10: a term or the whole year).
#[derive(Clone, Copy, PartialEq)]
enum Exemption {
    None,
    Term1,
    Term2,
    Year,
}

struct Tt22Subject {
    name: String,
    exemption: Exemption,
    term1: Option<SubjectResult>,
    term2: Option<SubjectResult>,
    re_assessment: Option<SubjectResult>,
}

impl Tt22Subject {
    /// The term as the class book sees it: a result, exempt, or still incomplete.
    fn term(&self, t: TermId) -> SubjectOutcome {
        let (r, exempt) = match t {
            TermId::Hk1 => (
                self.term1,
                matches!(self.exemption, Exemption::Term1 | Exemption::Year),
            ),
            TermId::Hk2 => (
                self.term2,
                matches!(self.exemption, Exemption::Term2 | Exemption::Year),
            ),
        };
        // Đ10 exempts the practical part only: the theory assessments that replace it, when
        // given, are the term's result (DOMAIN.md §1.7); without them the term is left out.
        match (r, exempt) {
            (Some(r), _) => SubjectOutcome::Done(r),
            (None, true) => SubjectOutcome::Exempt,
            (None, false) => SubjectOutcome::Incomplete(1),
        }
    }
    fn year(&self) -> SubjectOutcome {
        super::subject_year(self.term(TermId::Hk1), self.term(TermId::Hk2))
    }
}

fn check_tt22(obj: &Map<String, Value>) -> R<Value> {
    known_fields(
        obj,
        "",
        &[
            "rules",
            "grade",
            "subjects",
            "conduct",
            "absences",
            "config",
            "disability",
        ],
    )?;
    let grade = grade(obj, 6..=12)?;
    let cfg: Tt22Config = config(obj)?;
    // A student with a disability (Đ11) may be left unassessed in any subject; the principal
    // then decides the year (Đ12 k4).
    let disability = match obj.get("disability") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(CheckError::new("disability", "expected true or false")),
    };
    let subjects_v = subject_array(obj)?;
    let mut subjects = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, sv) in subjects_v.iter().enumerate() {
        let path = format!("subjects[{i}]");
        let s = tt22_subject(sv, &path, &cfg)?;
        if s.exemption != Exemption::None && !disability && !tt22::exemptible(&s.name, grade) {
            return Err(CheckError::new(
                &join(&path, "exempt"),
                format!(
                    "\"{}\" cannot be exempted: an exemption (TT22 Đ10) covers only the practical part of Giáo dục thể chất, and of GDQP-AN at THPT; a student with a disability left unassessed in a subject (Đ11, the principal decides, Đ12 k4) is marked with \"disability\": true",
                    s.name
                ),
            ));
        }
        if !names.insert(crate::text::fold(&s.name)) {
            return Err(CheckError::new(
                &join(&path, "name"),
                format!("subject \"{}\" appears twice", s.name),
            ));
        }
        subjects.push(s);
    }

    let absences = match obj.get("absences") {
        None | Some(Value::Null) => None,
        Some(v) => Some(uint(v, "absences", 0..=400)? as u16),
    };
    let (c1, c2, summer) = match obj.get("conduct") {
        None | Some(Value::Null) => (None, None, None),
        Some(Value::Object(c)) => {
            known_fields(c, "conduct", &["term1", "term2", "summer"])?;
            let get = |k: &str| -> R<Option<Level>> {
                match c.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => level(v, &format!("conduct.{k}")).map(Some),
                }
            };
            (get("term1")?, get("term2")?, get("summer")?)
        }
        Some(_) => {
            return Err(CheckError::new(
                "conduct",
                "expected an object with term1 and term2",
            ));
        }
    };

    // The same functions as the server's class book: term outcomes, the year of each
    // subject, the term levels and the one year decision.
    let t1: Vec<SubjectOutcome> = subjects.iter().map(|s| s.term(TermId::Hk1)).collect();
    let t2: Vec<SubjectOutcome> = subjects.iter().map(|s| s.term(TermId::Hk2)).collect();
    let years: Vec<SubjectOutcome> = subjects.iter().map(Tt22Subject::year).collect();
    let conduct_year = match (c1, c2) {
        (Some(a), Some(b)) => Some(tt22::conduct_year(a, b)),
        _ => None,
    };
    let input = tt22::YearInput {
        grade,
        subjects: years
            .iter()
            .zip(&subjects)
            .map(|(o, s)| super::year_subject(*o, &s.name, grade))
            .collect(),
        conduct: conduct_year,
        absences,
        summer_conduct: summer,
        reassessed: subjects.iter().map(|s| s.re_assessment).collect(),
    };
    let d = tt22::decide_year(&input, &cfg).map_err(|e| match e {
        YearInputError::SummerConductNotOwed => CheckError::new(
            "conduct.summer",
            "summer conduct training is only for a student whose year conduct is Chưa đạt and who is not retained outright (more than 45 days absent retains without a summer)",
        ),
        YearInputError::ReassessmentNotOwed(i) => CheckError::new(
            &format!("subjects[{i}].re_assessment"),
            "this subject is not re-assessed: only a year result below 5.0 or CĐ is, and only when the year learning level is Chưa đạt",
        ),
    })?;

    let out_subjects: Vec<Value> = subjects
        .iter()
        .zip(&years)
        .map(|(s, y)| {
            let mut m = Map::new();
            m.insert("name".into(), json!(s.name));
            match s.exemption {
                Exemption::None => {}
                Exemption::Year => {
                    m.insert("exempt".into(), json!(true));
                }
                Exemption::Term1 => {
                    m.insert("exempt".into(), json!("term1"));
                }
                Exemption::Term2 => {
                    m.insert("exempt".into(), json!("term2"));
                }
            }
            m.insert("term1".into(), result_json(s.term1));
            m.insert("term2".into(), result_json(s.term2));
            m.insert("year".into(), result_json(y.result()));
            if s.re_assessment.is_some() {
                m.insert("re_assessment".into(), result_json(s.re_assessment));
            }
            Value::Object(m)
        })
        .collect();

    let name_of = |i: usize| subjects.get(i).map(|s| s.name.clone());
    let term_json = |c: Option<tt22::Classification>, conduct: Option<Level>| -> Value {
        json!({
            "level": c.map(|c| c.level.label()),
            "computed_level": c.map(|c| c.computed.label()),
            "adjusted_for": c.and_then(|c| c.adjusted_for),
            "conduct": conduct.map(Level::label),
        })
    };
    let adjusted_name = |outcomes: &[SubjectOutcome], c: Option<tt22::Classification>| {
        let i = c?.adjusted_for?;
        // The classification saw only the subjects with a result, in order.
        let assessed: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, SubjectOutcome::Done(_)))
            .map(|(j, _)| j)
            .collect();
        name_of(*assessed.get(i)?)
    };
    let with_name = |mut v: Value, outcomes: &[SubjectOutcome], c| {
        v["adjusted_for"] = json!(adjusted_name(outcomes, c));
        v
    };
    let l1 = super::classify_outcomes(&t1, &cfg);
    let l2 = super::classify_outcomes(&t2, &cfg);
    let mut year_json = with_name(term_json(d.level, conduct_year), &years, d.level);
    let m = year_json.as_object_mut().expect("object");
    m.insert("outcome".into(), json!(d.outcome.map(|o| o.code())));
    m.insert(
        "outcome_label".into(),
        json!(d.outcome.map(|o| o.label_for(grade))),
    );
    m.insert("award".into(), json!(d.award.map(|a| a.label())));
    if let Some(w) = d.award_withheld {
        m.insert("award_withheld".into(), json!(w.reason()));
    }
    if !d.reassess.is_empty() {
        let names: Vec<String> = d.reassess.iter().filter_map(|i| name_of(*i)).collect();
        m.insert("re_assessment_subjects".into(), json!(names));
    }
    if let Some(a) = d.after_summer {
        m.insert(
            "after_summer".into(),
            json!({"level": a.level.label(), "conduct": a.conduct.label(),
                   "outcome": a.outcome.code(), "outcome_label": a.outcome.label_for(grade)}),
        );
    }

    Ok(json!({
        "rules": RuleVersion::Tt22V1.code(),
        "subjects": out_subjects,
        "term1": with_name(term_json(l1, c1), &t1, l1),
        "term2": with_name(term_json(l2, c2), &t2, l2),
        "year": year_json,
    }))
}

fn result_json(r: Option<SubjectResult>) -> Value {
    match r {
        None => Value::Null,
        Some(SubjectResult::Scored(t)) => tenths_json(t),
        Some(SubjectResult::Comment(p)) => json!(p.label()),
    }
}

fn tt22_subject(sv: &Value, path: &str, cfg: &Tt22Config) -> R<Tt22Subject> {
    let s = sv
        .as_object()
        .ok_or_else(|| CheckError::new(path, "expected an object"))?;
    known_fields(
        s,
        path,
        &[
            "name",
            "kind",
            "periods_per_year",
            "regular_count",
            "term1",
            "term2",
            "exempt",
            "re_assessment",
        ],
    )?;
    let name = req(s, path, "name")?
        .as_str()
        .map(|n| crate::text::nfc(n.trim()))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CheckError::new(&join(path, "name"), "expected a non-empty string"))?;
    let kind = match req(s, path, "kind")?.as_str() {
        Some("scored") => Kind::Scored,
        Some("comment") => Kind::Comment,
        _ => {
            return Err(CheckError::new(
                &join(path, "kind"),
                "expected \"scored\" or \"comment\"",
            ));
        }
    };
    let periods = uint(
        req(s, path, "periods_per_year")?,
        &join(path, "periods_per_year"),
        1..=1000,
    )? as u16;
    let regular = match s.get("regular_count") {
        None | Some(Value::Null) => match kind {
            Kind::Scored => tt22::regular_count(periods),
            Kind::Comment => cfg.comment_regular_count,
        },
        Some(v) => uint(v, &join(path, "regular_count"), 1..=10)? as usize,
    };
    let exemption = match s.get("exempt") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Exemption::None,
        Some(Value::Bool(true)) => Exemption::Year,
        Some(Value::String(t)) if t == "term1" => Exemption::Term1,
        Some(Value::String(t)) if t == "term2" => Exemption::Term2,
        Some(_) => {
            return Err(CheckError::new(
                &join(path, "exempt"),
                "expected true (the whole year), \"term1\" or \"term2\"",
            ));
        }
    };
    let term = |key: &str| -> R<Option<SubjectResult>> {
        let tpath = join(path, key);
        let t = match s.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(t)) => t,
            Some(_) => {
                return Err(CheckError::new(
                    &tpath,
                    "expected an object with tx, gk and ck",
                ));
            }
        };
        known_fields(t, &tpath, &["tx", "gk", "ck"])?;
        let tx = req(t, &tpath, "tx")?
            .as_array()
            .ok_or_else(|| CheckError::new(&join(&tpath, "tx"), "expected an array"))?;
        if tx.len() != regular {
            return Err(CheckError::new(
                &join(&tpath, "tx"),
                format!(
                    "expected exactly {regular} regular assessments for {periods} periods per year, got {}",
                    tx.len()
                ),
            ));
        }
        let gk = req(t, &tpath, "gk")?;
        let ck = req(t, &tpath, "ck")?;
        Ok(Some(match kind {
            Kind::Scored => {
                let tx: Vec<Tenths> = tx
                    .iter()
                    .enumerate()
                    .map(|(j, v)| score(v, &format!("{tpath}.tx[{j}]")))
                    .collect::<R<_>>()?;
                SubjectResult::Scored(tt22::term_average(
                    &tx,
                    score(gk, &join(&tpath, "gk"))?,
                    score(ck, &join(&tpath, "ck"))?,
                ))
            }
            Kind::Comment => {
                let mut all: Vec<Pass> = tx
                    .iter()
                    .enumerate()
                    .map(|(j, v)| pass(v, &format!("{tpath}.tx[{j}]")))
                    .collect::<R<_>>()?;
                all.push(pass(gk, &join(&tpath, "gk"))?);
                all.push(pass(ck, &join(&tpath, "ck"))?);
                SubjectResult::Comment(tt22::comment_term(&all, regular + 2))
            }
        }))
    };
    let term1 = term("term1")?;
    let term2 = term("term2")?;
    let re_assessment = match s.get("re_assessment") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let f = join(path, "re_assessment");
            Some(match kind {
                Kind::Scored => SubjectResult::Scored(score(v, &f)?),
                Kind::Comment => SubjectResult::Comment(pass(v, &f)?),
            })
        }
    };
    Ok(Tt22Subject {
        name,
        exemption,
        term1,
        term2,
        re_assessment,
    })
}

fn check_tt27(obj: &Map<String, Value>) -> R<Value> {
    known_fields(
        obj,
        "",
        &[
            "rules",
            "grade",
            "subjects",
            "qualities",
            "competencies",
            "recognised_by_class",
            "config",
        ],
    )?;
    let grade = grade(obj, 1..=5)?;
    let cfg: Tt27Config = config(obj)?;
    let subjects_v = subject_array(obj)?;
    let mut subjects = Vec::new();
    let mut out_subjects = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, sv) in subjects_v.iter().enumerate() {
        let path = format!("subjects[{i}]");
        let s = sv
            .as_object()
            .ok_or_else(|| CheckError::new(&path, "expected an object"))?;
        known_fields(s, &path, &["name", "level", "test"])?;
        let name = req(s, &path, "name")?
            .as_str()
            .map(|n| crate::text::nfc(n.trim()))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| CheckError::new(&join(&path, "name"), "expected a non-empty string"))?;
        if !names.insert(crate::text::fold(&name)) {
            return Err(CheckError::new(
                &join(&path, "name"),
                format!("subject \"{name}\" appears twice"),
            ));
        }
        let lv = req(s, &path, "level")?;
        let level = lv.as_str().and_then(SubjectLevel::parse).ok_or_else(|| {
            CheckError::new(
                &join(&path, "level"),
                format!("expected \"T\", \"H\" or \"C\", got {lv}"),
            )
        })?;
        let counts = cfg.is_tested(grade, &name);
        let test = match s.get("test") {
            None | Some(Value::Null) => {
                if counts {
                    return Err(CheckError::new(
                        &join(&path, "test"),
                        format!(
                            "{name} has an end-of-year periodic test in grade {grade}; its score is missing"
                        ),
                    ));
                }
                None
            }
            Some(v) => {
                let f = join(&path, "test");
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => v.to_string(),
                };
                Some(
                    tt27::parse_test_score(&text, &cfg)
                        .map_err(|e| CheckError::new(&f, score_error_en(&e)))?,
                )
            }
        };
        let mut o = json!({"name": name, "level": level.code(), "test": test});
        if test.is_some() && !counts {
            // An elective's test (Tiếng Anh in grades 1–2) is shown but does not count (Đ7 k1 b).
            o["test_counts"] = json!(false);
        }
        out_subjects.push(o);
        subjects.push(tt27::PrimarySubject {
            name,
            level: Some(level),
            test,
        });
    }
    let mut qualities = std::collections::BTreeMap::new();
    let mut out_q = Map::new();
    for (key, known) in [
        ("qualities", &tt27::QUALITIES[..]),
        ("competencies", &tt27::COMPETENCES[..]),
    ] {
        let mut m = Map::new();
        let mut put = |name: &str, v: &Value, field: String| -> R<()> {
            let canonical = known
                .iter()
                .find(|k| crate::text::fold(k) == crate::text::fold(name))
                .ok_or_else(|| {
                    CheckError::new(
                        &field,
                        format!("unknown name; expected one of {}", known.join(", ")),
                    )
                })?;
            let q = quality(v, &field)?;
            qualities.insert(canonical.to_string(), q);
            m.insert(canonical.to_string(), json!(q.label()));
            Ok(())
        };
        match req(obj, "", key)? {
            Value::Object(map) => {
                for (k, v) in map {
                    put(k, v, format!("{key}.{k}"))?;
                }
            }
            // An array lists the levels in the order of the official list.
            Value::Array(xs) if xs.len() == known.len() => {
                for (j, v) in xs.iter().enumerate() {
                    put(known[j], v, format!("{key}[{j}]"))?;
                }
            }
            Value::Array(_) => {
                return Err(CheckError::new(
                    key,
                    format!(
                        "an array needs exactly {} levels, in the order {}",
                        known.len(),
                        known.join(", ")
                    ),
                ));
            }
            _ => return Err(CheckError::new(key, "expected an object of name → level")),
        }
        out_q.insert(key.into(), Value::Object(m));
    }
    let recognised = match obj.get("recognised_by_class") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(CheckError::new(
                "recognised_by_class",
                "expected true or false",
            ));
        }
    };
    // The server's subjects are the grade's plan; a stand-alone record must list them all.
    if let Some(missing) =
        cfg.missing_tested_subject(grade, subjects.iter().map(|s| s.name.as_str()))
    {
        return Err(CheckError::new(
            "subjects",
            format!(
                "{missing} has an end-of-year periodic test in grade {grade}; the subject is missing"
            ),
        ));
    }
    let input = tt27::PrimaryYearInput {
        grade,
        subjects,
        qualities,
        recognised_by_class: recognised,
    };
    // The server's decision: an incomplete record is refused, as the class book leaves it
    // without a result.
    let y = tt27::decide_year(&input, &cfg).map_err(|e| match &e {
        tt27::PrimaryIncomplete::MissingQuality(name) => {
            let key = if tt27::QUALITIES.contains(name) {
                "qualities"
            } else {
                "competencies"
            };
            CheckError::new(
                &format!("{key}.{name}"),
                "missing; every quality and competence is assessed at the end of the year",
            )
        }
        tt27::PrimaryIncomplete::MissingTest(subject) => CheckError::new(
            "subjects",
            format!("{subject}: the periodic test score is missing"),
        ),
    })?;
    Ok(json!({
        "rules": RuleVersion::Tt27V1.code(),
        "subjects": out_subjects,
        "qualities": out_q.get("qualities"),
        "competencies": out_q.get("competencies"),
        "year": {
            "result": y.result.code(),
            "level": y.result.label(),
            "completed": y.result.completed(),
            "completion": y.completion_label(),
            "award": y.award.map(|a| a.label()),
        },
    }))
}

fn quality(v: &Value, field: &str) -> R<QualityLevel> {
    v.as_str().and_then(QualityLevel::parse).ok_or_else(|| {
        CheckError::new(
            field,
            format!("expected \"Tốt\", \"Đạt\" or \"Cần cố gắng\", got {v}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toan(t1: Value, t2: Value) -> Value {
        json!({"name":"Toán","kind":"scored","periods_per_year":140,"term1":t1,"term2":t2})
    }

    #[test]
    fn the_issue_example() {
        let input = json!({"rules":"tt22","grade":8,"subjects":[
            toan(json!({"tx":[8,7,9,6.5],"gk":7.5,"ck":8.0}), json!({"tx":[8,8,8,8],"gk":"8,5","ck":"8.0"})),
            {"name":"Giáo dục thể chất","kind":"comment","periods_per_year":70,
             "term1":{"tx":["Đ","Đ"],"gk":"Đ","ck":"Đ"},"term2":{"tx":["Đ","Đ"],"gk":"Đ","ck":"CĐ"}}],
            "conduct":{"term1":"Tốt","term2":"Khá"},"absences":12});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(out["subjects"][0]["term1"], json!(7.7));
        assert_eq!(out["subjects"][0]["term2"], json!(8.1));
        assert_eq!(out["subjects"][0]["year"], json!(8.0));
        assert_eq!(out["subjects"][1]["term1"], json!("Đ"));
        assert_eq!(out["subjects"][1]["year"], json!("CĐ"));
        assert_eq!(out["year"]["conduct"], json!("Khá"));
        // Only two subjects: fewer than six scored ≥ 5.0 → Chưa đạt; a re-assessment case.
        assert_eq!(out["year"]["level"], json!("Chưa đạt"));
        assert_eq!(out["year"]["outcome"], json!("re_assessment"));
        assert_eq!(out["rules"], json!("tt22-2021.1"));
        // JSON numbers keep one decimal: 8.0, not 8.
        let text = out.to_string();
        assert!(text.contains("\"year\":8.0"), "{text}");
    }

    #[test]
    fn errors_name_the_field() {
        let bad = json!({"rules":"tt22","grade":8,"subjects":[toan(json!({"tx":[8,7,11,6.5],"gk":7.5,"ck":8.0}), Value::Null)]});
        let e = check(&bad.to_string()).unwrap_err();
        assert_eq!(e.field, "subjects[0].term1.tx[2]");
        let bad = json!({"rules":"tt22","grade":8,"subjects":[toan(json!({"tx":[8,7,9],"gk":7.5,"ck":8.0}), Value::Null)]});
        assert_eq!(
            check(&bad.to_string()).unwrap_err().field,
            "subjects[0].term1.tx"
        );
        let bad = json!({"rules":"tt22","grade":8,"subjects":[toan(json!({"tx":[8,7,9,6.25],"gk":7.5,"ck":8.0}), Value::Null)]});
        assert_eq!(
            check(&bad.to_string()).unwrap_err().field,
            "subjects[0].term1.tx[3]"
        );
        let bad = json!({"rules":"tt22","grade":8,"subjects":[toan(json!({"tx":[8,7,9,6],"ck":8.0}), Value::Null)]});
        assert_eq!(
            check(&bad.to_string()).unwrap_err().field,
            "subjects[0].term1.gk"
        );
        assert_eq!(check("{").unwrap_err().field, "");
        assert_eq!(check(r#"{"rules":"tt99"}"#).unwrap_err().field, "rules");
        assert_eq!(
            check(r#"{"rules":"tt22","grade":3,"subjects":[]}"#)
                .unwrap_err()
                .field,
            "grade"
        );
        let bad = json!({"rules":"tt22","grade":8,"subjects":[toan(Value::Null, Value::Null)],"conduct":{"term1":"Giỏi"}});
        assert_eq!(check(&bad.to_string()).unwrap_err().field, "conduct.term1");
        let bad = json!({"rules":"tt22","grade":8,"subjects":[toan(Value::Null, Value::Null), toan(Value::Null, Value::Null)]});
        assert_eq!(
            check(&bad.to_string()).unwrap_err().field,
            "subjects[1].name"
        );
    }

    fn full_subject(name: &str, year_target: [f64; 2]) -> Value {
        // Same score everywhere in a term makes the term average that score.
        let t = |x: f64| json!({"tx":[x,x,x,x],"gk":x,"ck":x});
        json!({"name":name,"kind":"scored","periods_per_year":140,"term1":t(year_target[0]),"term2":t(year_target[1])})
    }

    #[test]
    fn student_y_goes_to_re_assessment_then_is_promoted() {
        let re = [
            Some(5.5),
            Some(5.0),
            Some(4.0),
            None,
            None,
            None,
            None,
            None,
        ];
        let subjects = y_subjects(re);
        let input = json!({"rules":"tt22","grade":7,"subjects":subjects,"conduct":{"term1":"Đạt","term2":"Đạt"},"absences":20});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(out["year"]["level"], json!("Chưa đạt"));
        assert_eq!(out["year"]["outcome"], json!("re_assessment"));
        assert_eq!(
            out["year"]["re_assessment_subjects"],
            json!(["Toán", "Ngữ văn", "Ngoại ngữ 1"])
        );
        assert_eq!(out["year"]["after_summer"]["level"], json!("Đạt"));
        assert_eq!(out["year"]["after_summer"]["outcome"], json!("promoted"));
    }

    #[test]
    fn case_a_with_good_conduct_is_hoc_sinh_gioi() {
        let ys = [8.5, 8.0, 8.2, 8.0, 8.4, 9.0, 7.0, 6.6];
        let subjects: Vec<Value> = ys
            .iter()
            .enumerate()
            .map(|(i, y)| full_subject(&format!("Môn {i}"), [*y, *y]))
            .collect();
        let input = json!({"rules":"tt22","grade":9,"subjects":subjects,"conduct":{"term1":"Tốt","term2":"Tốt"},"absences":0});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(out["year"]["level"], json!("Tốt"));
        assert_eq!(out["year"]["outcome"], json!("promoted"));
        assert_eq!(out["year"]["award"], json!("Học sinh Giỏi"));
    }

    #[test]
    fn primary_p1_and_p5() {
        let tested = [
            "Tiếng Việt",
            "Toán",
            "Ngoại ngữ 1",
            "Lịch sử và Địa lí",
            "Khoa học",
            "Tin học và Công nghệ",
        ];
        let make = |scores: [u8; 6], music: &str, competence: &str| {
            let mut subjects: Vec<Value> = tested
                .iter()
                .zip(scores)
                .map(|(n, s)| json!({"name":n,"level":"T","test":s}))
                .collect();
            subjects.push(json!({"name":"Âm nhạc","level":music}));
            let mut competencies = Map::new();
            for c in tt27::COMPETENCES {
                competencies.insert(c.into(), json!("Tốt"));
            }
            competencies.insert("Ngôn ngữ".into(), json!(competence));
            json!({"rules":"tt27","grade":4,"subjects":subjects,
                   "qualities":{"Yêu nước":"Tốt","Nhân ái":"Tốt","Chăm chỉ":"Tốt","Trung thực":"Tốt","Trách nhiệm":"Tốt"},
                   "competencies":competencies})
        };
        let p1 = check(&make([10, 9, 9, 10, 9, 9], "T", "Tốt").to_string()).unwrap();
        assert_eq!(p1["year"]["result"], json!("HTXS"));
        assert_eq!(p1["year"]["award"], json!("Học sinh Xuất sắc"));
        let p3 = check(&make([9; 6], "H", "Tốt").to_string()).unwrap();
        assert_eq!(p3["year"]["result"], json!("HT"));
        let p5 = check(&make([10, 9, 4, 9, 9, 9], "H", "Đạt").to_string()).unwrap();
        assert_eq!(p5["year"]["result"], json!("CHT"));
        assert_eq!(p5["year"]["completed"], json!(false));
        let mut missing = make([9; 6], "T", "Tốt");
        missing["subjects"][1]
            .as_object_mut()
            .unwrap()
            .remove("test");
        assert_eq!(
            check(&missing.to_string()).unwrap_err().field,
            "subjects[1].test"
        );
        // An incomplete record is refused, as the server leaves it without a result.
        let mut no_competence = make([9; 6], "T", "Tốt");
        no_competence["competencies"]
            .as_object_mut()
            .unwrap()
            .remove("Tin học");
        assert_eq!(
            check(&no_competence.to_string()).unwrap_err().field,
            "competencies.Tin học"
        );
        let mut no_subject = make([9; 6], "T", "Tốt");
        no_subject["subjects"].as_array_mut().unwrap().remove(4);
        assert_eq!(
            check(&no_subject.to_string()).unwrap_err().field,
            "subjects"
        );
        let mut unknown = make([9; 6], "T", "Tốt");
        unknown["qualities"]["Dũng cảm"] = json!("Tốt");
        assert_eq!(
            check(&unknown.to_string()).unwrap_err().field,
            "qualities.Dũng cảm"
        );
        let mut decimal = make([9; 6], "T", "Tốt");
        decimal["subjects"][0]["test"] = json!(8.5);
        assert_eq!(
            check(&decimal.to_string()).unwrap_err().field,
            "subjects[0].test"
        );
    }

    /// Student Y's subjects (DOMAIN.md §1.8) with optional re-assessment results.
    fn y_subjects(re: [Option<f64>; 8]) -> Vec<Value> {
        let names = [
            "Toán",
            "Ngữ văn",
            "Ngoại ngữ 1",
            "KHTN",
            "LS&ĐL",
            "GDCD",
            "Công nghệ",
            "Tin học",
        ];
        let years = [4.2, 4.8, 3.9, 5.5, 6.0, 6.5, 7.0, 6.0];
        names
            .iter()
            .zip(years)
            .zip(re)
            .map(|((n, y), r)| {
                let mut s = full_subject(n, [y, y]);
                if let Some(r) = r {
                    s["re_assessment"] = json!(r);
                }
                s
            })
            .collect()
    }

    #[test]
    fn both_chua_dat_gets_summer_training_and_re_assessment_like_the_server() {
        let none = [None; 8];
        let input = json!({"rules":"tt22","grade":7,"subjects":y_subjects(none),
            "conduct":{"term1":"Chưa đạt","term2":"Chưa đạt"},"absences":20});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(
            out["year"]["outcome"],
            json!("summer_conduct_and_re_assessment")
        );
        assert_eq!(
            out["year"]["re_assessment_subjects"],
            json!(["Toán", "Ngữ văn", "Ngoại ngữ 1"])
        );
        assert_eq!(out["year"].get("after_summer"), None);
        let re = [
            Some(5.5),
            Some(5.0),
            Some(4.0),
            None,
            None,
            None,
            None,
            None,
        ];
        let input = json!({"rules":"tt22","grade":7,"subjects":y_subjects(re),
            "conduct":{"term1":"Chưa đạt","term2":"Chưa đạt","summer":"Đạt"},"absences":20});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(out["year"]["after_summer"]["outcome"], json!("promoted"));
    }

    #[test]
    fn summer_results_not_owed_are_refused_with_the_field() {
        let input = json!({"rules":"tt22","grade":7,"subjects":y_subjects([None; 8]),
            "conduct":{"term1":"Đạt","term2":"Đạt","summer":"Tốt"},"absences":20});
        assert_eq!(
            check(&input.to_string()).unwrap_err().field,
            "conduct.summer"
        );
        let mut re = [None; 8];
        re[5] = Some(9.0);
        let input = json!({"rules":"tt22","grade":7,"subjects":y_subjects(re),
            "conduct":{"term1":"Đạt","term2":"Đạt"},"absences":20});
        assert_eq!(
            check(&input.to_string()).unwrap_err().field,
            "subjects[5].re_assessment"
        );
    }

    #[test]
    fn grade_9_completes_thcs_and_a_retained_student_gets_no_award() {
        let subjects: Vec<Value> = (0..8)
            .map(|i| full_subject(&format!("Môn {i}"), [9.5, 9.5]))
            .collect();
        let good = json!({"rules":"tt22","grade":9,"subjects":subjects,
            "conduct":{"term1":"Tốt","term2":"Tốt"},"absences":0});
        let out = check(&good.to_string()).unwrap();
        assert_eq!(
            out["year"]["outcome_label"],
            json!("Hoàn thành chương trình trung học cơ sở")
        );
        assert_eq!(out["year"]["award"], json!("Học sinh Xuất sắc"));
        let mut absent = good.clone();
        absent["absences"] = json!(46);
        absent["grade"] = json!(8);
        let out = check(&absent.to_string()).unwrap();
        assert_eq!(out["year"]["outcome"], json!("retained"));
        assert_eq!(out["year"]["award"], Value::Null);
        assert!(
            out["year"]["award_withheld"]
                .as_str()
                .unwrap()
                .contains("Học sinh Xuất sắc")
        );
    }

    #[test]
    fn exemption_by_term_and_the_disability_case() {
        let t = |x: f64| json!({"tx":[x,x],"gk":x,"ck":x});
        let mut subjects: Vec<Value> = (0..8)
            .map(|i| full_subject(&format!("Môn {i}"), [8.0, 8.0]))
            .collect();
        subjects.push(
            json!({"name":"Giáo dục thể chất","kind":"comment","periods_per_year":70,
            "exempt":"term1","term2":{"tx":["Đ","Đ"],"gk":"Đ","ck":"Đ"}}),
        );
        let input = json!({"rules":"tt22","grade":8,"subjects":subjects,
            "conduct":{"term1":"Tốt","term2":"Tốt"},"absences":0});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(
            out["subjects"][8]["year"],
            json!("Đ"),
            "term II stands for the year"
        );
        assert_eq!(out["year"]["outcome"], json!("promoted"));
        // A scored subject exempt for the year is the disability case: refused unless the
        // student is marked so, then the principal decides (Đ11, Đ12 k4).
        let mut disabled = input.clone();
        disabled["subjects"][7] =
            json!({"name":"Môn 7","kind":"scored","periods_per_year":140,"exempt":true});
        assert_eq!(
            check(&disabled.to_string()).unwrap_err().field,
            "subjects[7].exempt"
        );
        disabled["disability"] = json!(true);
        let out = check(&disabled.to_string()).unwrap();
        assert_eq!(out["year"]["outcome"], json!("principal_decides"));
        // Đ10 covers GDTC (and GDQP-AN at THPT) only: a term exemption of Toán is refused with
        // the field named (domain review r2, item 4); at THPT GDQP-AN is accepted.
        let mut toan = input.clone();
        toan["subjects"][0] = json!({"name":"Toán","kind":"scored","periods_per_year":140,"regular_count":2,
            "exempt":"term1","term2":t(8.0)});
        let e = check(&toan.to_string()).unwrap_err();
        assert_eq!(e.field, "subjects[0].exempt");
        assert!(e.message.contains("Toán"), "{}", e.message);
        toan["disability"] = json!(true);
        assert!(check(&toan.to_string()).is_ok());
        let mut qp = input.clone();
        qp["grade"] = json!(10);
        qp["subjects"][8]["name"] = json!("Giáo dục quốc phòng và an ninh");
        assert!(check(&qp.to_string()).is_ok());
        qp["grade"] = json!(9);
        assert_eq!(
            check(&qp.to_string()).unwrap_err().field,
            "subjects[8].exempt"
        );
        // An exempt term's assessments are the theory ones replacing the practical part (Đ10,
        // DOMAIN.md §1.7): they are its result, checked like any other.
        let mut both = input.clone();
        both["subjects"][8]["term1"] = t(8.0);
        assert_eq!(
            check(&both.to_string()).unwrap_err().field,
            "subjects[8].term1.tx[0]"
        );
    }

    /// Domain review r4, item 3: Đ10 exempts only the practical part of GDTC and GDQP-AN. A
    /// grade-12 GDQP-AN exemption (a scored subject) without a disability is not the
    /// principal's decision and withholds no award; a year-exempt GDTC with theory results
    /// keeps them in the levels.
    #[test]
    fn a_d10_exemption_keeps_the_theory_result_and_is_never_the_principals_decision() {
        let mut subjects: Vec<Value> = (0..8)
            .map(|i| full_subject(&format!("Môn {i}"), [8.0, 8.0]))
            .collect();
        subjects.push(
            json!({"name":"Giáo dục quốc phòng và an ninh","kind":"scored",
            "periods_per_year":35,"exempt":true}),
        );
        let input = json!({"rules":"tt22","grade":12,"subjects":subjects,
            "conduct":{"term1":"Tốt","term2":"Tốt"},"absences":0});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(out["year"]["outcome"], json!("promoted"), "{out}");
        assert!(out["year"]["award"].is_string(), "{out}");
        assert!(out["year"]["award_withheld"].is_null(), "{out}");
        // GDTC exempt for the year, assessed on theory: a CĐ theory result is a CĐ year.
        let cd = json!({"tx":["CĐ","CĐ"],"gk":"CĐ","ck":"CĐ"});
        let mut gdtc = input.clone();
        gdtc["grade"] = json!(8);
        gdtc["subjects"][8] = json!({"name":"Giáo dục thể chất","kind":"comment",
            "periods_per_year":70,"exempt":true,"term1":cd,"term2":cd});
        let out = check(&gdtc.to_string()).unwrap();
        assert_eq!(out["subjects"][8]["year"], json!("CĐ"), "{out}");
        assert_ne!(out["year"]["level"], json!("Tốt"), "the CĐ counts: {out}");
        // Without theory results it is left out of the level, and the year is not the
        // principal's either.
        gdtc["subjects"][8] = json!({"name":"Giáo dục thể chất","kind":"comment",
            "periods_per_year":70,"exempt":true});
        let out = check(&gdtc.to_string()).unwrap();
        assert_eq!(out["year"]["outcome"], json!("promoted"), "{out}");
    }

    #[test]
    fn an_electives_test_is_shown_but_does_not_count() {
        let mut competencies = Map::new();
        for c in tt27::COMPETENCES {
            competencies.insert(c.into(), json!("Đạt"));
        }
        let input = json!({"rules":"tt27","grade":2,"subjects":[
                {"name":"Tiếng Việt","level":"H","test":8},{"name":"Toán","level":"H","test":7},
                {"name":"Tiếng Anh","level":"H","test":4}],
            "qualities":["Đạt","Đạt","Đạt","Đạt","Đạt"],"competencies":competencies});
        let out = check(&input.to_string()).unwrap();
        assert_eq!(out["year"]["result"], json!("HT"));
        assert_eq!(out["subjects"][2]["test_counts"], json!(false));
    }
}
