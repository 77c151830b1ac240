//! School IT's commands for the box itself: act on a power request from the School IT page
//! (`tram power`, root) and write a support bundle.

use std::path::Path;
use std::process::ExitCode;

use super::here_or_server;

pub fn power(data_dir: &Path) -> anyhow::Result<ExitCode> {
    match tram::device::act_on_power_request(data_dir)? {
        Some(p) => {
            println!("{p:?} requested");
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

pub fn support_bundle(data_dir: &Path, to: &Path) -> anyhow::Result<ExitCode> {
    let (_, name) = here_or_server(
        data_dir,
        "support-bundle",
        vec![to.display().to_string()],
        |store| {
            Ok((
                true,
                tram::device::write_support_bundle(&store, to)?
                    .display()
                    .to_string(),
            ))
        },
    )?;
    println!("{name}");
    Ok(ExitCode::SUCCESS)
}
