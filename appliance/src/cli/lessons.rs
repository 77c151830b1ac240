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
    /// signer held when signing) or an unpacked lesson-plan export. No database is opened.
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// An export ZIP (from the dashboard), or an export folder, to check with nothing but
        /// its own contents.
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

pub fn run(cmd: LessonsCmd) -> anyhow::Result<ExitCode> {
    let LessonsCmd::Verify { data, export } = cmd;
    let data_dir = data.data_dir;
    if let Some(path) = export {
        let c = if path.is_dir() {
            tram::lessons::export::verify_folder(&path)
        } else {
            let f = std::fs::File::open(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            tram::lessons::export::verify_zip(std::io::BufReader::new(f))
        }
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for line in &c.checked {
            println!("checked {line}");
        }
        for n in &c.notes {
            println!("note: {n}");
        }
        for p in &c.problems {
            println!("INVALID {p}");
        }
        println!(
            "{} plans, {} valid, {} invalid",
            c.plans,
            c.valid,
            c.problems.len()
        );
        return Ok(if c.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        });
    }
    let (ok, text) = here_or_server(&data_dir, "lessons-verify", vec![], |store| {
        Ok(tram::lessons::verify_text(&store)?)
    })?;
    Ok(super::report(ok, &text))
}
