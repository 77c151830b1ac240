//! `tram provision`: set the box up from a provisioning file, or look for one at first boot.

use std::path::PathBuf;
use std::process::ExitCode;

use tram::logging;

use super::DataArgs;

#[derive(clap::Args)]
pub struct ProvisionArgs {
    /// The provisioning file. Omit it with --find.
    file: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Look for tram-provision.toml on the boot partition and USB sticks (first boot);
    /// finding none is not an error.
    #[arg(long)]
    find: bool,
    /// Give the data directory to this user afterwards (first boot runs as root).
    #[arg(long)]
    owner: Option<String>,
}

pub fn run(args: ProvisionArgs) -> anyhow::Result<ExitCode> {
    use tram::provision;
    let ProvisionArgs {
        file,
        data,
        find,
        owner,
    } = args;
    let data_dir = data.data_dir.as_path();
    logging::init(false);
    let mut usb_mount = None;
    let file = match (file, find) {
        (Some(f), _) => f,
        (None, true) => match provision::find().or_else(|| {
            provision::find_on_usb().map(|(f, m)| {
                usb_mount = Some(m);
                f
            })
        }) {
            Some(f) => f,
            None => {
                eprintln!(
                    "no tram-provision.toml on the boot partition or a USB stick; the box waits to be provisioned"
                );
                return Ok(ExitCode::SUCCESS);
            }
        },
        (None, false) => anyhow::bail!("give the provisioning file, or --find"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let enrol = |dir: &std::path::Path, h: &provision::file::HubTarget| {
        rt.block_on(async {
            match tokio::time::timeout(
                std::time::Duration::from_secs(20),
                tram::relay::enrol(dir, &h.url, &h.token, h.pin_sha256.as_deref()),
            )
            .await
            {
                Ok(Ok(e)) => Ok(e.school),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err(format!("{} did not answer within 20 s", h.url)),
            }
        })
    };
    let out = provision::provision(
        &file,
        data_dir,
        jiff::Timestamp::now(),
        &enrol,
        &tram::app::schema::schema(),
    )?;
    if let Some(user) = owner {
        provision::chown_tree(data_dir, &user)?;
    }
    let page = out.summary_with_password();
    print!("{page}");
    if out.admin_password.is_some() {
        // Next to the file (the USB stick or the boot partition): the only copy of the
        // temporary password, for school IT to read on their PC.
        let beside = file
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(format!("tram-summary-{}.txt", out.school_code));
        match std::fs::write(&beside, &page) {
            Ok(()) => eprintln!("summary written to {}", beside.display()),
            Err(e) => eprintln!(
                "could not write {} ({e}); copy the password above",
                beside.display()
            ),
        }
    }
    if let Some(m) = usb_mount {
        // Flushed and unmounted: the stick can be pulled out as soon as the box is up.
        let _ = std::process::Command::new("umount").arg(&m).status();
    }
    Ok(ExitCode::SUCCESS)
}
