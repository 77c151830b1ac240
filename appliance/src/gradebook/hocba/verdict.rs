//! The one verdict on a signed học bạ or month-approval file (issue 22, review r15 #4, #5, #7):
//! the box's verify page, `tram hocba verify` and the hub (`tram district verify-hocba`, its
//! page and API) each gather the evidence — the signature reports with the register's answer
//! for each, the whole-file findings, whether the school's register has not arrived yet, the
//! newer version known, the data check — and [`decide`] alone turns it into VALID, SUPERSEDED,
//! OUTDATED, NOT CONFIRMED or INVALID; [`report_text`] is the English report both command lines print,
//! and the page renders `verdict` (`web/static/hocba.js`).

use serde::Serialize;

use super::{DataCheck, Finding, Verification};
use crate::pki::pades;

/// What a checked file is, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every signature valid and the school's own, both stages (or a genuine approval), the
    /// data as the school holds it.
    Valid,
    /// A genuine signed copy, but the school has signed a newer version (`current`) since: the
    /// record was corrected, this copy is no longer it.
    Superseded { current: u32 },
    /// Nothing wrong found, but the school's signature register for this file has not reached
    /// the hub yet: neither confirmed nor called forged (the hub only).
    NotConfirmed,
    /// Every signature genuine and the school's, but the school's records of what the file
    /// prints (an identity detail, a result) changed after the signing and no newer version is
    /// signed yet: authentic and out of date — "cần ký lại" (review r17 #5). Never the word for
    /// a forged or altered file.
    Outdated,
    /// A signature fails, is not the school's, or a stage is missing: forged, altered or
    /// incomplete.
    Invalid,
}

impl Verdict {
    /// The API's word for it ("valid", "superseded", "not_confirmed", "invalid").
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Superseded { .. } => "superseded",
            Verdict::NotConfirmed => "not_confirmed",
            Verdict::Outdated => "outdated",
            Verdict::Invalid => "invalid",
        }
    }

    /// The last line of both command lines' report.
    pub fn line(self) -> String {
        match self {
            Verdict::Valid => "=> VALID".into(),
            Verdict::Superseded { current } => {
                format!("=> SUPERSEDED (v{current} is the current signed version)")
            }
            Verdict::NotConfirmed => {
                "=> NOT CONFIRMED (the school's signature register has not arrived yet)".into()
            }
            Verdict::Outdated => {
                "=> OUTDATED (genuine, but the school's records changed after signing: the principal's office signs a new version)".into()
            }
            Verdict::Invalid => "=> INVALID".into(),
        }
    }

    /// The exit code of `tram hocba verify` and `tram district verify-hocba`: 0 valid, 3
    /// invalid, 4 superseded, 5 not confirmed, 6 outdated.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 3,
            Verdict::Superseded { .. } => 4,
            Verdict::NotConfirmed => 5,
            Verdict::Outdated => 6,
        }
    }

    /// The verdict a report ends in ([`Verdict::line`]), read back — what a command line that
    /// got the report through the control socket exits with. Anything else (a file that could
    /// not be read, an unknown school) is invalid.
    pub fn of_report(text: &str) -> Verdict {
        let last = text.trim_end().lines().last().unwrap_or_default();
        if last == Verdict::Valid.line() {
            Verdict::Valid
        } else if last == Verdict::NotConfirmed.line() {
            Verdict::NotConfirmed
        } else if last == Verdict::Outdated.line() {
            Verdict::Outdated
        } else if let Some(n) = last
            .strip_prefix("=> SUPERSEDED (v")
            .and_then(|r| r.split_once(' '))
            .and_then(|(n, _)| n.parse().ok())
        {
            Verdict::Superseded { current: n }
        } else {
            Verdict::Invalid
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// What a verifier found, for [`decide`].
pub struct Evidence<'a> {
    /// Each signature, its problems including the register's ("not in the register").
    pub signatures: &'a [pades::SignatureReport],
    /// What is wrong with the file as a whole (a stage missing, not a học bạ); the findings
    /// that only say the register has not arrived are left out (`pending`).
    pub findings: &'a [Finding],
    /// The school's register for this file has not reached the hub yet.
    pub pending: bool,
    /// The embedded data differs from the school's records (the box's own, or those the school
    /// relayed to the hub).
    pub data_differs: bool,
    /// The newest version the school signed of this học bạ at both stages (GVCN and principal),
    /// when newer than the file's: a half-signed re-signing supersedes nothing (review r19 #1).
    pub newer_version: Option<u32>,
}

/// The one verdict. A failing signature or a whole-file finding makes the file INVALID
/// whatever else is known; then a register not arrived leaves it NOT CONFIRMED; then a newer
/// signed version makes it SUPERSEDED — its data differing from today's records is what a
/// correction is, so that is no reason to call it invalid —; then changed data is OUTDATED:
/// the school signed it and changed the record since (review r17 #5: the box said INVALID, the
/// hub VALID, for the same genuine file).
pub fn decide(e: &Evidence<'_>) -> Verdict {
    if e.signatures.is_empty() || e.signatures.iter().any(|s| !s.valid()) || !e.findings.is_empty()
    {
        return Verdict::Invalid;
    }
    if e.pending {
        return Verdict::NotConfirmed;
    }
    if let Some(current) = e.newer_version {
        return Verdict::Superseded { current };
    }
    if e.data_differs {
        return Verdict::Outdated;
    }
    Verdict::Valid
}

/// What the school's signature register says of one signature.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RegisterState {
    /// The school's register lists it (same certificate, same signature value).
    Listed,
    /// The register that would list it is there and does not: the school's box did not make it.
    NotListed,
    /// The hub: the school's lines for it have not arrived yet.
    NotArrived,
    /// No register was consulted.
    #[default]
    NotChecked,
}

/// The English report of `tram hocba verify` and `tram district verify-hocba` — one text for
/// one verdict: `school` (the hub: name and code), each signature, what the register says of
/// it, the kind, the stages, the data (the box), the version, and the verdict.
pub fn report_text(name: &str, v: &Verification, school: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    if let Some((school_name, code)) = school {
        out += &format!("school: {school_name} ({code})\n");
    }
    if v.signatures.is_empty() {
        out += &format!("{name}: no signature\n");
    }
    let last = v.signatures.len().saturating_sub(1);
    for (i, s) in v.signatures.iter().enumerate() {
        out += &super::signature_lines(
            i,
            &s.report,
            &super::SignatureContext {
                trusted_by: s.trusted_by.as_deref(),
                register: s.register,
                later_signatures: i < last,
            },
        )
        .0;
    }
    let approval = v.approval.is_some() || v.kind_approval;
    // "not a học bạ": a file that names no kind and that neither register lists.
    let no_kind = v.problems.iter().any(|p| p.starts_with("not a học bạ"));
    let which = if approval {
        "the school's signature register of lesson-plan approvals"
    } else if no_kind {
        "the school's signature registers (học bạ or lesson-plan approvals)"
    } else {
        "the school's signature register"
    };
    for (i, s) in v.signatures.iter().enumerate() {
        let said = match s.register {
            RegisterState::Listed => format!("is in {which}"),
            // A học bạ's signatures are listed under the student its data names: one the box
            // made for another student's file (data swapped in) is not listed here either
            // (review r25 #5: "did not make it" read as forged by an outsider).
            RegisterState::NotListed if !approval && !no_kind => format!(
                "is NOT in {which} for the student this file's data names: the school's box did not make it for this học bạ"
            ),
            RegisterState::NotListed => {
                format!("is NOT in {which}: the school's box did not make it")
            }
            RegisterState::NotArrived => {
                format!("is not in {which} the hub holds yet (not arrived)")
            }
            RegisterState::NotChecked => continue,
        };
        out += &format!(
            "register: signature {} {said}{}\n",
            i + 1,
            match (&s.report.role, approval) {
                (Some(r), _) => format!(" ({r})"),
                (None, false) => " (role unknown)".into(),
                (None, true) => String::new(),
            },
        );
    }
    let signatures_hold = !v.signatures.is_empty() && v.signatures.iter().all(|s| s.report.valid());
    if let Some(a) = &v.approval {
        out += &a.line();
        out += "\n";
    }
    let mut stages_said = false;
    for p in &v.problems {
        if p.starts_with(super::DATA_DIFFERS_EN) {
            // Said on the data line below.
            continue;
        } else if p.starts_with("not a học bạ") {
            out += &format!("kind: {p}\n");
        } else if v.pending_problems.contains(p) {
            out += &format!("register: {p}\n");
        } else {
            stages_said = true;
            out += &format!("stages: INCOMPLETE: {p}\n");
        }
    }
    if !stages_said && !approval && !no_kind && !v.signatures.is_empty() {
        // Review r15 #7: never "complete" under a signature that fails.
        out += if signatures_hold {
            "stages: complete (homeroom teacher, then principal)\n"
        } else {
            "stages: not checked: the file fails a check above\n"
        };
    }
    // The box compares with its own records, the hub with those the school relayed.
    let whose = if school.is_some() {
        "the records the school relayed"
    } else {
        "this box's records"
    };
    let unchecked = |u: &[String]| super::unchecked_said(u, false);
    let data = match &v.data {
        DataCheck::NotChecked => None,
        _ if !signatures_hold && !v.signatures.is_empty() => {
            Some("not checked: the file fails a check above".to_string())
        }
        DataCheck::Absent if approval => None,
        DataCheck::Absent => Some("none embedded".to_string()),
        DataCheck::UnknownStudent if school.is_some() => Some(
            "embedded, not checked: the hub holds no student record from the school with this file's identity (its student id or mã định danh) yet"
                .into(),
        ),
        DataCheck::UnknownStudent => Some("embedded, for a student this box does not have".into()),
        DataCheck::Matches {
            student,
            unchecked: u,
        } => Some(format!(
            "embedded, matches {whose} ({student}){}",
            unchecked(u)
        )),
        DataCheck::Differs {
            student,
            fields,
            unchecked: u,
        } => Some(format!(
            "embedded, DIFFERS from {whose} ({student}: {}): the record changed after signing; the school signs a new version{}",
            super::field_names(fields, false),
            unchecked(u)
        )),
    };
    if let Some(d) = data {
        out += &format!("học bạ data: {d}\n");
    }
    if let Some(n) = v.newer_version {
        out += &format!(
            "version: SUPERSEDED: the school has signed a newer version (v{n}) of this học bạ; ask for it\n"
        );
    }
    out += &v.verdict.line();
    out += "\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(problems: &[&str]) -> pades::SignatureReport {
        let mut r = pades::SignatureReport::default();
        r.problems = problems.iter().map(|p| p.to_string()).collect();
        r
    }

    fn evidence<'a>(
        signatures: &'a [pades::SignatureReport],
        findings: &'a [Finding],
    ) -> Evidence<'a> {
        Evidence {
            signatures,
            findings,
            pending: false,
            data_differs: false,
            newer_version: None,
        }
    }

    /// Review r19 #1: a re-signing the principal has not finished (v4 GVCN only) leaves the last
    /// complete version (v3) VALID, on the hub's relayed lines as on the box; once she signs v4,
    /// v3 is SUPERSEDED by it.
    #[test]
    fn only_a_version_signed_at_both_stages_supersedes() {
        use super::super::{RegisterEntry, Stage, newest_complete, relayed_newer_version};
        let line = |version, stage| RegisterEntry {
            class: "9a1".into(),
            student: "hs-1".into(),
            version,
            stage,
            signer_role: String::new(),
            cert_sha256: format!("c{version}{stage:?}"),
            signature_sha256: format!("s{version}{stage:?}"),
        };
        let mut register = vec![
            line(3, Stage::Gvcn),
            line(3, Stage::Principal),
            line(4, Stage::Gvcn),
        ];
        let good = [sig(&[]), sig(&[])];
        let newer = relayed_newer_version(&good, &register, Some(3));
        assert_eq!(newer, None);
        let e = Evidence {
            newer_version: newer,
            ..evidence(&good, &[])
        };
        assert_eq!(decide(&e), Verdict::Valid);
        // A principal signature alone (no GVCN line for that version) is no complete version.
        assert_eq!(
            newest_complete([
                (5, Stage::Principal),
                (3, Stage::Gvcn),
                (3, Stage::Principal)
            ]),
            Some(3)
        );
        assert_eq!(newest_complete([(4, Stage::Gvcn)]), None);
        register.push(line(4, Stage::Principal));
        let newer = relayed_newer_version(&good, &register, Some(3));
        assert_eq!(newer, Some(4));
        let e = Evidence {
            newer_version: newer,
            ..evidence(&good, &[])
        };
        assert_eq!(decide(&e), Verdict::Superseded { current: 4 });
        // The complete newest version itself is not superseded.
        assert_eq!(relayed_newer_version(&good, &register, Some(4)), None);
        // Review r22 #8: a copy of v4 signed by hand (`tram hocba sign`: its lines name no
        // version) is the version its data names — not superseded by its own v4; a hand-signed
        // copy of v3 is.
        let mut hand = line(super::super::HAND_SIGNED_VERSION, Stage::Gvcn);
        hand.cert_sha256 = "hand-cert".into();
        hand.signature_sha256 = "hand-sig".into();
        register.push(hand);
        let mut by_hand = sig(&[]);
        by_hand.cert_sha256 = "hand-cert".into();
        by_hand.signature_sha256 = "hand-sig".into();
        let copy = [by_hand];
        assert_eq!(relayed_newer_version(&copy, &register, Some(4)), None);
        assert_eq!(relayed_newer_version(&copy, &register, Some(3)), Some(4));
        // A hand-signed copy of v5 whose second signature the hub holds no line of: judged
        // from v5, the data's version — on its way —, never from "version 0", which every line
        // the hub holds would pass (and so call it forged).
        let mut second = sig(&[]);
        second.signature_sha256 = "not-yet".into();
        let mut two = [copy[0].clone(), second];
        let (_, pending) = super::super::check_relayed(&mut two, &register[..5], Some(5));
        assert!(pending, "{two:?}");
        assert!(two[1].problems.is_empty(), "{two:?}");
    }

    #[test]
    fn one_verdict_from_the_evidence() {
        let good = [sig(&[]), sig(&[])];
        assert_eq!(decide(&evidence(&good, &[])), Verdict::Valid);
        // No signature, a failing one, or a finding on the file: invalid, whatever else holds.
        assert_eq!(decide(&evidence(&[], &[])), Verdict::Invalid);
        let forged = [sig(&[]), sig(&[super::super::NOT_IN_REGISTER])];
        let e = Evidence {
            pending: true,
            newer_version: Some(3),
            ..evidence(&forged, &[])
        };
        assert_eq!(decide(&e), Verdict::Invalid);
        let missing = [super::super::stage_findings(&[Some(super::super::Stage::Gvcn)])[0].clone()];
        let e = Evidence {
            pending: true,
            ..evidence(&good[..1], &missing)
        };
        assert_eq!(decide(&e), Verdict::Invalid);
        // The register not arrived: not confirmed, never superseded or valid.
        let e = Evidence {
            pending: true,
            newer_version: Some(3),
            ..evidence(&good, &[])
        };
        assert_eq!(decide(&e), Verdict::NotConfirmed);
        // A newer version: superseded, also when the data changed since (that is the correction).
        let e = Evidence {
            newer_version: Some(3),
            data_differs: true,
            ..evidence(&good, &[])
        };
        assert_eq!(decide(&e), Verdict::Superseded { current: 3 });
        // Changed data with no newer version: outdated, never invalid (review r17 #5); a
        // failing signature still makes it invalid, a register not arrived not confirmed.
        let e = Evidence {
            data_differs: true,
            ..evidence(&good, &[])
        };
        assert_eq!(decide(&e), Verdict::Outdated);
        let e = Evidence {
            data_differs: true,
            ..evidence(&forged, &[])
        };
        assert_eq!(decide(&e), Verdict::Invalid);
        let e = Evidence {
            data_differs: true,
            pending: true,
            ..evidence(&good, &[])
        };
        assert_eq!(decide(&e), Verdict::NotConfirmed);
    }

    /// The hub's report: the school by name and code, times as the school reads a clock (review
    /// r10 #6), the document time-stamp named as such and its failure on a line of its own in
    /// plain words, the parser's text only as detail (review r15 #7), and never "stages:
    /// complete" under a signature that fails.
    #[test]
    fn the_report_names_the_school_the_document_time_stamp_and_one_verdict() {
        let at: jiff::Timestamp = "2026-12-06T18:21:52Z".parse().unwrap();
        let report = |signer: &str, role: Option<&str>, problems: &[&str]| {
            let mut r = pades::SignatureReport::default();
            r.field = "Signature1".into();
            r.signer = signer.into();
            r.role = role.map(str::to_string);
            r.issuer = "CN=CA ký số, O=Trường".into();
            r.signing_time = Some("D:20261206182149+00'00'".into());
            r.bytes_intact = true;
            r.chain_ok = true;
            r.covers_whole_file = true;
            r.timestamp = Some(at);
            r.timestamp_document = role.is_none();
            r.cert_sha256 = "c".into();
            r.signature_sha256 = "s".into();
            r.problems = problems.iter().map(|p| p.to_string()).collect();
            r
        };
        let view = |r: pades::SignatureReport| {
            let mut v = super::super::SignatureView::of(r, None);
            v.register = RegisterState::Listed;
            v
        };
        let verification = |signatures: Vec<super::super::SignatureView>| {
            let reports: Vec<_> = signatures.iter().map(|s| s.report.clone()).collect();
            let verdict = decide(&Evidence {
                signatures: &reports,
                findings: &[],
                pending: false,
                data_differs: false,
                newer_version: None,
            });
            Verification {
                valid: verdict == Verdict::Valid,
                signatures,
                data: DataCheck::NotChecked,
                data_vi: None,
                newer_version: None,
                note: None,
                problems: vec![],
                problems_vi: vec![],
                approval: None,
                verdict,
                pending_problems: vec![],
                kind_approval: false,
            }
        };
        let good = verification(vec![
            view(report("Trần Thị Lan", Some("Giáo viên chủ nhiệm"), &[])),
            view(report("Lê Thị Thu Hà", None, &[])),
        ]);
        let text = report_text("f.pdf", &good, Some(("Trường THCS Nguyễn Du", "79000701")));
        assert!(
            text.starts_with(
                "school: Trường THCS Nguyễn Du (79000701)\nsignature 1 (Signature1): VALID\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  signing time: 07/12/2026 01:21:49\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  time-stamp: 07/12/2026 01:21:52 (a document time-stamp after the last signature)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "register: signature 2 is in the school's signature register (role unknown)\n"
            ),
            "{text}"
        );
        assert!(text.contains("stages: complete"), "{text}");
        assert!(text.ends_with("\n=> VALID\n"), "{text}");
        assert!(
            !text.contains("học bạ data"),
            "the hub holds no marks: {text}"
        );

        let broken = verification(vec![
            view(report("Trần Thị Lan", Some("Giáo viên chủ nhiệm"), &[])),
            view(report(
                "Lê Thị Thu Hà",
                Some("Hiệu trưởng"),
                &[
                    "the document time-stamp does not verify: ASN.1 DER message is incomplete: expected 596, actual 580 at DER byte 1428",
                ],
            )),
        ]);
        let text = report_text("f.pdf", &broken, None);
        assert!(
            text.contains("signature 2 (Signature1): VALID\n"),
            "its bytes are intact: {text}"
        );
        assert!(
            text.contains("document time-stamp (after signature 2): INVALID: it does not verify — the file was changed after it was stamped, or the stamp itself is damaged\n  detail: ASN.1 DER"),
            "{text}"
        );
        assert!(!text.contains("problem: the document"), "{text}");
        assert!(
            text.contains("stages: not checked: the file fails a check above"),
            "{text}"
        );
        assert!(!text.contains("stages: complete"), "{text}");
        assert!(text.ends_with("\n=> INVALID\n"), "{text}");
    }

    /// Review r17 #10 and #5: the chain is a fact naming its CA, the verdict is said once (a
    /// signature the register does not list is not headed VALID), a broken token is not "none",
    /// a document time-stamp after the last signature is not "further signatures", and an
    /// outdated file says what differs on its data line, ending OUTDATED.
    #[test]
    fn each_line_says_what_it_knows_and_the_verdict_once() {
        use super::super::{SignatureContext, signature_lines};
        let mut r = pades::SignatureReport::default();
        r.field = "Signature1".into();
        r.signer = "Trần Văn Hùng".into();
        r.bytes_intact = true;
        r.chain_ok = true;
        r.covers_whole_file = false;
        r.signature_sha256 = "s".into();
        r.problems = vec![super::super::NOT_IN_REGISTER.into()];
        let cx = |trusted_by, register, later_signatures| SignatureContext {
            trusted_by,
            register,
            later_signatures,
        };
        let (text, holds) = signature_lines(
            1,
            &r,
            &cx(Some("CA của trường"), RegisterState::NotListed, false),
        );
        assert!(holds, "the signature itself holds: {text}");
        assert!(
            text.starts_with("signature 2 (Signature1): intact, but NOT in the school's signature register (see below)\n"),
            "{text}"
        );
        assert!(!text.contains("VALID"), "{text}");
        assert!(
            text.contains("(chains to the school's current signing CA)"),
            "{text}"
        );
        assert!(
            text.contains(", a document time-stamp appended after it\n"),
            "{text}"
        );
        let (text, _) = signature_lines(
            0,
            &r,
            &cx(
                Some(
                    "CA của trường (trước lần gia hạn thứ 2): Trường THCS Thử — CA ký số học bạ (2)",
                ),
                RegisterState::Listed,
                true,
            ),
        );
        assert!(
            text.contains("(chains to an earlier school signing CA, the one before renewal 2: Trường THCS Thử — CA ký số học bạ (2))")
                && text.contains(", later revisions appended (further signatures)")
                && text.starts_with("signature 1 (Signature1): VALID\n"),
            "{text}"
        );
        let (text, _) = signature_lines(
            0,
            &r,
            &cx(
                Some("CA của trường (trước lần gia hạn thứ 1): Trường THCS Thử — CA ký số học bạ"),
                RegisterState::Listed,
                true,
            ),
        );
        assert!(text.contains("the one before renewal 1:"), "{text}");
        r.problems = vec![
            "the signature's time-stamp token does not verify: the TSA's signature does not verify"
                .into(),
        ];
        let (text, holds) = signature_lines(0, &r, &cx(None, RegisterState::NotChecked, false));
        assert!(!holds);
        assert!(
            text.contains(
                "  time-stamp: present, but it does NOT verify (see the problem below)\n"
            ) && !text.contains("time-stamp: none")
                && text.contains("(chains to the trust anchors given)")
                && text.starts_with("signature 1 (Signature1): INVALID\n"),
            "{text}"
        );

        // An outdated file: the data line names the fields, the problem is not repeated as a
        // stage, the verdict is OUTDATED.
        let mut good = pades::SignatureReport::default();
        good.field = "Signature1".into();
        good.bytes_intact = true;
        good.chain_ok = true;
        good.covers_whole_file = true;
        let mut view = super::super::SignatureView::of(good, Some("CA của trường".into()));
        view.register = RegisterState::Listed;
        let fields = vec!["hoten".to_string(), "noisinh".into()];
        let f = super::super::data_differs_finding(&fields);
        assert!(
            f.vi.contains("họ tên, nơi sinh") && f.vi.contains("ký lại học bạ bản mới"),
            "{}",
            f.vi
        );
        let v = Verification {
            valid: false,
            signatures: vec![view],
            data: DataCheck::Differs {
                student: "hs-a".into(),
                fields,
                unchecked: vec![],
            },
            data_vi: None,
            newer_version: None,
            note: None,
            problems: vec![f.en],
            problems_vi: vec![f.vi],
            approval: None,
            verdict: Verdict::Outdated,
            pending_problems: vec![],
            kind_approval: false,
        };
        let text = report_text("f.pdf", &v, None);
        assert!(
            text.contains("học bạ data: embedded, DIFFERS from this box's records (hs-a: name, birthplace): the record changed after signing; the school signs a new version\n"),
            "{text}"
        );
        assert!(!text.contains("stages: INCOMPLETE"), "{text}");
        assert!(
            text.ends_with(&format!("{}\n", Verdict::Outdated.line())),
            "{text}"
        );
        assert_eq!(Verdict::of_report(&text), Verdict::Outdated);
    }

    #[test]
    fn the_verdict_line_reads_back_and_names_its_exit_code() {
        for v in [
            Verdict::Valid,
            Verdict::Superseded { current: 3 },
            Verdict::NotConfirmed,
            Verdict::Outdated,
            Verdict::Invalid,
        ] {
            assert_eq!(Verdict::of_report(&format!("a\nb\n{}\n", v.line())), v);
        }
        assert_eq!(
            Verdict::Superseded { current: 3 }.line(),
            "=> SUPERSEDED (v3 is the current signed version)"
        );
        assert_eq!(
            Verdict::of_report("unknown school: …\n=> INVALID\n"),
            Verdict::Invalid
        );
        assert_eq!(Verdict::of_report("x: y\nNOT CHECKED\n"), Verdict::Invalid);
        assert_eq!(
            [
                Verdict::Valid,
                Verdict::Invalid,
                Verdict::Superseded { current: 2 },
                Verdict::NotConfirmed,
                Verdict::Outdated
            ]
            .map(Verdict::exit_code),
            [0, 3, 4, 5, 6]
        );
    }
}
