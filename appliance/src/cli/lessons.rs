//! `tram lessons verify`: every lesson-plan signature, here or by the running server, or an
//! exported ZIP on its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{DataArgs, here_or_server};

#[derive(Subcommand)]
pub enum LessonsCmd {
    /// Check every lesson-plan signature against the plan and files as stored now (each file
    /// re-read). Prints "N valid"; exits 3 and lists the invalid ones otherwise. Works while the
    /// server runs (it asks the server). With --export, checks an export offline instead: a
    /// lesson-plan ZIP from the dashboard, or a folder — the school's records archive (`tram
    /// records export`, or its ZIP unpacked: every file against manifest.json's SHA-256, then
    /// the signatures of the lesson plans and of each tổ's plans and minutes, each by a key its
    /// signer held when signing) or an unpacked lesson-plan export. No database is opened. A
    /// records archive is signed by the box's device key: the check prints that key's
    /// fingerprint, which proves who wrote it only when it is the one the district holds for
    /// the school (--expect-fingerprint, or `tram district verify-export` on the hub).
    ///
    /// Exit codes with --export: 0 = valid (a records archive: and signed by the expected
    /// school key); 2 = a records archive consistent with itself but NOT compared with the
    /// school's key (no --expect-fingerprint/--school-key: anyone can make a folder that is);
    /// 3 = invalid; 1 = usage error (a bad fingerprint, an unreadable path).
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// An export to check with nothing but its own contents: the school's records archive
        /// (`tram records export`'s folder, or the admin's ZIP, or it unpacked) or a lesson-plan
        /// export (ZIP or folder).
        #[arg(long)]
        export: Option<PathBuf>,
        /// The fingerprint of the school's box key as the district holds it (`tram district
        /// schools`): the archive must be signed by that key, else INVALID (exit 3). The
        /// public key itself (hex) is taken too.
        #[arg(long, requires = "export", conflicts_with = "school_key")]
        expect_fingerprint: Option<String>,
        /// A file holding that fingerprint or public key (hex).
        #[arg(long, requires = "export")]
        school_key: Option<PathBuf>,
    },
}

pub fn run(cmd: LessonsCmd) -> anyhow::Result<ExitCode> {
    let LessonsCmd::Verify {
        data,
        export,
        expect_fingerprint,
        school_key,
    } = cmd;
    let data_dir = data.data_dir;
    if let Some(path) = export {
        let expect = match (expect_fingerprint, school_key) {
            (Some(f), _) => Some(f),
            (None, Some(file)) => Some(
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        if let Some(e) = &expect {
            let hex = tram::pki::normalise_fingerprint(e);
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!(
                    "the expected fingerprint must be 64 hex digits (SHA-256 of the box key, or the key itself), got {:?}",
                    e.chars().take(80).collect::<String>()
                );
            }
        }
        let c = tram::lessons::export::verify_export(
            &path,
            match &expect {
                Some(e) => tram::lessons::export::Expect::Key(e),
                None => tram::lessons::export::Expect::Nothing,
            },
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let (verdict, text) = tram::lessons::export::export_report(&c);
        print!("{text}");
        return Ok(ExitCode::from(verdict.exit_code()));
    }
    let (ok, text) = here_or_server(&data_dir, "lessons-verify", vec![], |store| {
        Ok(tram::lessons::verify_text(&store)?)
    })?;
    Ok(super::report(ok, &text))
}
