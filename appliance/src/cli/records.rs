//! `tram records`: the school's electronic records of a school year written to a folder as the
//! paper archive holds them (`app::records`); while the server runs, it does the export.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::DataArgs;

#[derive(Subcommand)]
pub enum RecordsCmd {
    /// Write a school year's records — the sổ đăng bộ (PDF, xlsx), each class's sổ theo dõi và
    /// đánh giá, the học bạ (newest signed version, else unsigned), the approved lesson plans
    /// with their signature manifest — and manifest.json (each file's SHA-256, kind,
    /// class/department, signed or not) into a folder. A year with no records writes a
    /// manifest with no files and exits 0.
    Export {
        #[command(flatten)]
        data: DataArgs,
        /// The folder to write into (made if missing).
        #[arg(long)]
        to: PathBuf,
        /// The school year (e.g. 2026-2027); the school's current year when left out.
        #[arg(long)]
        year: Option<String>,
    },
}

pub fn run(cmd: RecordsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RecordsCmd::Export { data, to, year } => {
            // The server writes the files when it holds the database: give it a full path.
            let to =
                std::path::absolute(&to).with_context(|| format!("the folder {}", to.display()))?;
            let (ok, text) = super::here_or_server(
                &data.data_dir,
                "records-export",
                vec![year.clone().unwrap_or_default(), to.display().to_string()],
                |store| {
                    tram::app::records::export_to(&store, year.as_deref(), &to)
                        .map(|t| (true, t))
                        .map_err(anyhow::Error::msg)
                },
            )?;
            println!("{}", text.trim_end());
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
