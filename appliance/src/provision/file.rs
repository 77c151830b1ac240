//! The provisioning file (TOML, format 1): parsed with unknown fields refused, then checked
//! field by field; every problem is reported with the line it is on.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    format: Spanned<u32>,
    school: RawSchool,
    admin: RawAdmin,
    #[serde(default)]
    hub: Option<RawHub>,
    #[serde(default)]
    backup: Option<RawBackup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchool {
    name: Spanned<String>,
    code: Spanned<String>,
    level: Spanned<String>,
    authority: Spanned<String>,
    #[serde(default)]
    locality: Option<Spanned<String>>,
    year: Spanned<String>,
    time_zone: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    username: Spanned<String>,
    full_name: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHub {
    url: Spanned<String>,
    token: Spanned<String>,
    #[serde(default)]
    pin_sha256: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    #[serde(default)]
    targets: Vec<Spanned<String>>,
    #[serde(default)]
    at: Option<Spanned<String>>,
    #[serde(default)]
    keep: Option<Spanned<String>>,
    #[serde(default)]
    key_file: Option<Spanned<String>>,
}

/// A checked provisioning file.
#[derive(Debug, Clone, PartialEq)]
pub struct Provisioning {
    pub school_name: String,
    /// Mã trường
    pub school_code: String,
    pub level: String,
    pub authority: String,
    /// Địa danh of the forms' date line; "" when the file gives none (then the one the
    /// school set on its admin page stays, or the authority's name gives it).
    pub locality: String,
    pub year: String,
    pub time_zone: String,
    pub admin_username: String,
    pub admin_full_name: String,
    pub hub: Option<HubTarget>,
    pub backup_targets: Vec<PathBuf>,
    pub backup_at: Option<String>,
    pub backup_keep: Option<String>,
    /// An existing backup key to use (a school whose box is replaced keeps its key).
    pub backup_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HubTarget {
    pub url: String,
    pub token: String,
    pub pin_sha256: Option<String>,
}

/// The problems found, each "line N: …", in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct FileErrors(pub Vec<String>);

/// The time zones accepted: the appliance keeps Vietnam time (UTC+7, no daylight saving).
const TIME_ZONES: [&str; 2] = ["Asia/Ho_Chi_Minh", "Asia/Saigon"];

pub fn parse(text: &str, base: &Path) -> Result<Provisioning, FileErrors> {
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!("line {}: ", line_of(text, s.start)))
            .unwrap_or_default();
        FileErrors(vec![format!("{line}{}", e.message().trim())])
    })?;
    let mut errs: Vec<(usize, String)> = Vec::new();
    let mut bad = |span: std::ops::Range<usize>, msg: String| {
        errs.push((line_of(text, span.start), msg));
    };
    if *raw.format.get_ref() != 1 {
        bad(
            raw.format.span(),
            format!(
                "format {} is not supported (this version reads format 1)",
                raw.format.get_ref()
            ),
        );
    }
    let s = &raw.school;
    let name = s.name.get_ref().trim();
    if name.is_empty() || name.chars().count() > 200 {
        bad(
            s.name.span(),
            "school.name must be the school's name (1–200 characters)".into(),
        );
    }
    let code = s.code.get_ref().trim();
    if let Err(m) = check_school_code(code) {
        bad(s.code.span(), m);
    }
    let level = s.level.get_ref().trim();
    if !["TH", "THCS", "TH&THCS"].contains(&level) {
        bad(
            s.level.span(),
            format!("school.level {level:?} must be TH, THCS or TH&THCS"),
        );
    }
    let locality = s
        .locality
        .as_ref()
        .map_or(String::new(), |l| crate::text::nfc(l.get_ref().trim()));
    if let Some(l) = &s.locality
        && crate::school::clean_locality(l.get_ref()).is_err()
    {
        bad(
            l.span(),
            "school.locality is the place of the forms' date line (one line, at most 100 characters)"
                .into(),
        );
    }
    if s.authority.get_ref().trim().is_empty() {
        bad(
            s.authority.span(),
            "school.authority must name the supervising office (e.g. Phòng GD&ĐT …)".into(),
        );
    }
    let year = s.year.get_ref().trim();
    if school_year(year).is_none() {
        bad(
            s.year.span(),
            format!("school.year {year:?} must be like 2026-2027 (two consecutive years)"),
        );
    }
    let tz = s.time_zone.get_ref().trim();
    if !TIME_ZONES.contains(&tz) {
        bad(
            s.time_zone.span(),
            format!(
                "school.time_zone {tz:?}: the appliance keeps Vietnam time; use Asia/Ho_Chi_Minh"
            ),
        );
    }
    let a = &raw.admin;
    let username = a.username.get_ref().trim().to_lowercase();
    if !crate::auth::valid_username(&username) {
        bad(
            a.username.span(),
            format!(
                "admin.username {:?} must be 3–32 lowercase letters, digits, '.', '-' or '_'",
                a.username.get_ref()
            ),
        );
    }
    if a.full_name.get_ref().trim().is_empty() {
        bad(
            a.full_name.span(),
            "admin.full_name must be the administrator's name".into(),
        );
    }
    let hub = raw.hub.as_ref().map(|h| {
        let url = h.url.get_ref().trim().trim_end_matches('/').to_string();
        let https = url.starts_with("https://");
        if !(https || url.starts_with("http://")) || url.len() < 10 {
            bad(
                h.url.span(),
                format!("hub.url {url:?} must be http(s)://host[:port]"),
            );
        }
        if h.token.get_ref().trim().len() < 8 {
            bad(
                h.token.span(),
                "hub.token must be the enrolment token `tram district token` printed".into(),
            );
        }
        let pin = h
            .pin_sha256
            .as_ref()
            .map(|p| p.get_ref().trim().to_lowercase());
        match (&h.pin_sha256, &pin) {
            (Some(sp), Some(p)) if p.len() != 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) => {
                bad(
                    sp.span(),
                    "hub.pin_sha256 must be 64 hex digits (printed with the token)".into(),
                )
            }
            (None, _) if https => bad(
                h.url.span(),
                "an https hub needs hub.pin_sha256 (printed with the token)".into(),
            ),
            _ => {}
        }
        HubTarget {
            url,
            token: h.token.get_ref().trim().to_string(),
            pin_sha256: pin,
        }
    });
    let mut targets = Vec::new();
    let (mut at, mut keep, mut key_file) = (None, None, None);
    if let Some(b) = &raw.backup {
        for t in &b.targets {
            let p = PathBuf::from(t.get_ref().trim());
            if !p.is_absolute() {
                bad(
                    t.span(),
                    format!(
                        "backup.targets: {:?} must be an absolute path (a folder or a mounted USB disk)",
                        t.get_ref()
                    ),
                );
            }
            targets.push(p);
        }
        if let Some(v) = &b.at {
            if jiff::civil::Time::strptime("%H:%M", v.get_ref().trim()).is_err() {
                bad(
                    v.span(),
                    format!("backup.at {:?} must be a time like 01:30", v.get_ref()),
                );
            }
            at = Some(v.get_ref().trim().to_string());
        }
        if let Some(v) = &b.keep {
            if let Err(e) = v.get_ref().parse::<crate::backup::Retention>() {
                bad(v.span(), format!("backup.keep: {e}"));
            }
            keep = Some(v.get_ref().trim().to_string());
        }
        if let Some(v) = &b.key_file {
            let p = base.join(v.get_ref().trim());
            match std::fs::read_to_string(&p) {
                Ok(t) if crate::backup::BackupKey::parse(&t).is_ok() => {}
                Ok(_) => bad(
                    v.span(),
                    format!("backup.key_file {} is not a backup key", p.display()),
                ),
                Err(e) => bad(v.span(), format!("backup.key_file {}: {e}", p.display())),
            }
            key_file = Some(p);
        }
    }
    if !errs.is_empty() {
        errs.sort_by_key(|(l, _)| *l);
        return Err(FileErrors(
            errs.into_iter()
                .map(|(l, m)| format!("line {l}: {m}"))
                .collect(),
        ));
    }
    Ok(Provisioning {
        school_name: name.to_string(),
        school_code: code.to_string(),
        level: level.to_string(),
        authority: s.authority.get_ref().trim().to_string(),
        locality,
        year: year.to_string(),
        time_zone: "Asia/Ho_Chi_Minh".into(),
        admin_username: username,
        admin_full_name: a.full_name.get_ref().trim().to_string(),
        hub,
        backup_targets: targets,
        backup_at: at,
        backup_keep: keep,
        backup_key_file: key_file,
    })
}

/// Mã trường: the national data schema's `matruong` is at most 20 characters, made of the
/// province office's two-digit code, the commune code and a running number (DOMAIN.md §5.2).
/// Accepted: 4–20 ASCII digits or capital letters, starting with two digits.
pub fn check_school_code(code: &str) -> Result<(), String> {
    let ok = (4..=20).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && code.bytes().take(2).all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "school.code {code:?} is not a mã trường: 4–20 digits or capital letters, starting with the two-digit province code (e.g. 79000123)"
        ))
    }
}

/// "2026-2027" → (2026, 2027).
pub fn school_year(y: &str) -> Option<(i16, i16)> {
    let (a, b) = y.split_once('-')?;
    let (a, b): (i16, i16) = (a.parse().ok()?, b.parse().ok()?);
    (a.to_string().len() == 4 && b == a + 1 && (2000..2200).contains(&a)).then_some((a, b))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = include_str!("../../../provisioning/example-school.toml");

    #[test]
    fn the_example_file_is_valid() {
        let p = parse(GOOD, Path::new("/nonexistent")).unwrap();
        assert_eq!(p.school_code, "79000123");
        assert_eq!(p.level, "THCS");
        assert!(p.hub.is_some());
    }

    #[test]
    fn errors_name_their_lines() {
        let bad = GOOD
            .replace("code = \"79000123\"", "code = \"ab-12\"")
            .replace("level = \"THCS\"", "level = \"THPT\"");
        let e = parse(&bad, Path::new("/")).unwrap_err().0;
        let code_line = bad.lines().position(|l| l.contains("ab-12")).unwrap() + 1;
        let level_line = bad.lines().position(|l| l.contains("THPT")).unwrap() + 1;
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with(&format!("line {code_line}: school.code")),
            "{e:?}"
        );
        assert!(
            e[1].starts_with(&format!("line {level_line}: school.level")),
            "{e:?}"
        );
    }

    #[test]
    fn syntax_errors_and_unknown_fields_have_lines_too() {
        let e = parse("format = 1\n[school]\nname = \"x\n", Path::new("/"))
            .unwrap_err()
            .0;
        assert!(e[0].starts_with("line 3:"), "{e:?}");
        let unknown = GOOD.replace("[admin]\n", "[admin]\npassword = \"123456\"\n");
        let e = parse(&unknown, Path::new("/")).unwrap_err().0;
        assert!(e[0].contains("password"), "{e:?}");
        assert!(e[0].starts_with("line "), "{e:?}");
    }

    #[test]
    fn school_codes() {
        for ok in ["79000123", "01AB0001", "7900"] {
            assert!(check_school_code(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "79",
            "7a000123",
            "AB000123",
            "79 000123",
            "790001234567890123456",
            "79000ã23",
        ] {
            assert!(check_school_code(bad).is_err(), "{bad}");
        }
    }
}
