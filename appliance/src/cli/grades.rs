//! `tram grades check`: one student's record as JSON on stdin, the computed results on stdout
//! (docs/grades-check.md).

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum GradesCmd {
    /// Read one student's record as JSON on stdin, print the computed results as JSON
    /// (docs/grades-check.md). Invalid input: a JSON error naming the field, exit code 2.
    Check,
}

pub fn run(cmd: GradesCmd) -> anyhow::Result<ExitCode> {
    let GradesCmd::Check = cmd;
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
    match tram::gradebook::check::check(&input) {
        Ok(out) => {
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", e.to_json());
            Ok(ExitCode::from(2))
        }
    }
}
