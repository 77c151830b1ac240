//! Anything a teacher can type into a score cell: a mark or a message, never a panic; a mark
//! that parses prints back to something that parses to the same mark.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tram::gradebook::rules;
use tram::school::SubjectKind;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = rules::parse_score(s) {
        assert!(t.get() <= 100, "{s:?} parsed to {t:?}");
    }
    for kind in [SubjectKind::Scored, SubjectKind::Comment] {
        if let Ok(m) = tram::gradebook::parse_mark(s, kind) {
            let again = tram::gradebook::parse_mark(&m.text(), kind);
            assert_eq!(again.ok(), Some(m), "{s:?} does not round-trip");
        }
    }
    let _ = tram::gradebook::TermId::parse(s);
    let _ = rules::RuleVersion::parse(s);
});
