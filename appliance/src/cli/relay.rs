//! `tram relay …`: the school side of the relay — enrol with the hub, courier export, status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{DataArgs, here_or_server};

#[derive(Subcommand)]
pub enum RelayCmd {
    /// Enrol this school with the district hub using the token district staff issued.
    Enroll {
        #[command(flatten)]
        data: DataArgs,
        /// The hub, e.g. https://10.0.0.5:9443
        #[arg(long)]
        hub: String,
        #[arg(long)]
        token: String,
        /// SHA-256 of the hub's certificate authority (printed with the token); needed for HTTPS.
        #[arg(long)]
        pin: Option<String>,
    },
    /// Courier mode: write every waiting batch, encrypted for the hub, to a folder (a USB
    /// stick) for district staff to import when there is no link. Works while the server runs.
    Export {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        to: PathBuf,
    },
    /// What is queued, sent, and the last error (readable text; --json for scripts).
    Status {
        #[command(flatten)]
        data: DataArgs,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: RelayCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RelayCmd::Enroll {
            data,
            hub,
            token,
            pin,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let e = rt.block_on(tram::relay::enrol(
                &data.data_dir,
                &hub,
                &token,
                pin.as_deref(),
            ))?;
            println!(
                "enrolled as school {} with the hub at {}; a running server starts relaying within a minute",
                e.school, e.hub
            );
            Ok(ExitCode::SUCCESS)
        }
        RelayCmd::Export { data, to } => {
            let to = std::path::absolute(&to)?;
            let (_, text) = here_or_server(
                &data.data_dir,
                "relay-export",
                vec![to.display().to_string()],
                |store| {
                    let t = tram::relay::export_text(&store, &to, &tram::relay::Budget::default())?;
                    Ok((true, t))
                },
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        RelayCmd::Status { data, json } => {
            let (_, text) = here_or_server(&data.data_dir, "relay-status", vec![], |store| {
                Ok((
                    true,
                    serde_json::to_string_pretty(&tram::relay::status(&store))?,
                ))
            })?;
            if json {
                println!("{text}");
            } else {
                let v: serde_json::Value = serde_json::from_str(&text)?;
                print!("{}", tram::relay::status_text(&v));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
