//! `tram update …` (apply a signed bundle, the spool, recovery after a power cut, status) and
//! `tram release …` (the maintainers' key and bundles).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use tram::logging;

use super::DataArgs;

#[derive(clap::Args, Clone)]
pub struct UpdateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Where versions are installed side by side (current → versions/X).
    #[arg(long, env = "TRAM_INSTALL_ROOT", default_value = tram::update::DEFAULT_INSTALL_ROOT)]
    install_root: PathBuf,
    /// The release public key bundles must be signed with.
    #[arg(long, env = "TRAM_RELEASE_KEY", default_value = tram::update::DEFAULT_RELEASE_KEY)]
    release_key: PathBuf,
    /// Seconds the new version has to prove itself before it is rolled back.
    #[arg(long, default_value_t = 90)]
    health_timeout: u64,
    /// The systemd unit to stop before and start after the switch (the device: tram.service).
    #[arg(long)]
    service: Option<String>,
    /// After starting the service, also wait for this URL to answer (https://127.0.0.1/healthz).
    #[arg(long)]
    health_url: Option<String>,
}

#[derive(Subcommand)]
pub enum UpdateCmd {
    /// Verify and install BUNDLE; exits non-zero (changing nothing) unless correctly signed.
    Apply {
        bundle: PathBuf,
        #[command(flatten)]
        opts: UpdateArgs,
        /// Install an older version, or the same one again.
        #[arg(long)]
        force: bool,
    },
    /// Apply every bundle in DATA_DIR/updates/spool (tram-update.service).
    ApplySpool {
        #[command(flatten)]
        opts: UpdateArgs,
    },
    /// At boot: roll back an update the power cut off before its health check (root).
    Recover {
        #[command(flatten)]
        opts: UpdateArgs,
    },
    /// The installed version and the last update attempt.
    Status {
        #[command(flatten)]
        opts: UpdateArgs,
    },
}

#[derive(Subcommand)]
pub enum ReleaseCmd {
    /// Make a release key pair: DIR/release.key (secret, keep offline) and DIR/release-key.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Build and sign an update bundle.
    Bundle {
        /// The release signing key (release.key).
        #[arg(long)]
        key: PathBuf,
        /// The version this bundle installs (MAJOR.MINOR.PATCH).
        #[arg(long)]
        version: String,
        /// The tram binary to ship.
        #[arg(long)]
        binary: PathBuf,
        /// Architecture of the binary: x86_64 or aarch64.
        #[arg(long, default_value = std::env::consts::ARCH)]
        arch: String,
        /// Extra files, as PATH_IN_BUNDLE=FILE (repeatable).
        #[arg(long = "file")]
        files: Vec<String>,
        /// Release notes shown on the School IT page.
        #[arg(long, default_value = "")]
        notes: String,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
    },
}

fn update_options(o: UpdateArgs, force: bool) -> tram::update::ApplyOptions {
    tram::update::ApplyOptions {
        data_dir: o.data.data_dir,
        install_root: o.install_root,
        release_key: o.release_key,
        force,
        health_timeout: std::time::Duration::from_secs(o.health_timeout),
        service: o.service,
        health_url: o.health_url,
        schema: tram::app::schema::schema(),
    }
}

pub fn run(cmd: UpdateCmd) -> anyhow::Result<ExitCode> {
    use tram::update;
    logging::init(false);
    match cmd {
        UpdateCmd::Apply {
            bundle,
            opts,
            force,
        } => {
            let o = update_options(opts, force);
            let st = update::apply(&bundle, &o)?;
            println!("{}", st.message);
            if let Some(b) = st.backup {
                println!("pre-update backup: {b}");
            }
            Ok(ExitCode::SUCCESS)
        }
        UpdateCmd::ApplySpool { opts } => {
            let o = update_options(opts, false);
            let mut failed = false;
            for (b, r) in update::apply_spool(&o) {
                match r {
                    Ok(st) => println!("{}: {}", b.display(), st.message),
                    Err(e) => {
                        failed = true;
                        eprintln!("{}: {e}", b.display());
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        UpdateCmd::Recover { opts } => {
            match update::recover(&opts.data.data_dir, &opts.install_root)? {
                Some(msg) => println!("{msg}"),
                None => println!("no interrupted update"),
            }
            Ok(ExitCode::SUCCESS)
        }
        UpdateCmd::Status { opts } => {
            println!(
                "installed: {}",
                update::installed_version(&opts.install_root)
            );
            match update::status(&opts.data.data_dir) {
                Some(st) => println!(
                    "last attempt {}: {} → {}: {} ({})",
                    st.at, st.from_version, st.to_version, st.outcome, st.message
                ),
                None => println!("no update has been attempted"),
            }
            if let Some(m) = update::in_progress(&opts.data.data_dir) {
                println!(
                    "IN PROGRESS: an update from {} to {} was started and has not finished (a power cut during its check?). The next boot rolls it back; to do it now: tram update recover --data-dir {}",
                    m.0,
                    m.1,
                    opts.data.data_dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn release(cmd: ReleaseCmd) -> anyhow::Result<ExitCode> {
    use tram::pki::bundle;
    match cmd {
        ReleaseCmd::Keygen { out } => {
            let secret = out.join("release.key");
            if secret.exists() {
                anyhow::bail!(
                    "{} exists; refusing to overwrite a release key",
                    secret.display()
                );
            }
            let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
            tram::config::write_secret(&secret, bundle::secret_key_text(&key).as_bytes())?;
            tram::config::write_atomic(
                &out.join("release-key.pub"),
                bundle::public_key_text(&key.verifying_key()).as_bytes(),
            )?;
            println!("{}", out.join("release-key.pub").display());
            eprintln!(
                "keep {} offline: it can update every school",
                secret.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ReleaseCmd::Bundle {
            key,
            version,
            binary,
            arch,
            files,
            notes,
            out,
        } => {
            let key = bundle::load_secret_key(&key)?;
            let mut list = vec![(bundle::BINARY.to_string(), binary)];
            for f in files {
                let (dst, src) = f
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--file wants PATH_IN_BUNDLE=FILE, got {f}"))?;
                list.push((dst.to_string(), PathBuf::from(src)));
            }
            let m = bundle::build(
                &key,
                &version,
                &arch,
                &list,
                &notes,
                jiff::Timestamp::now(),
                &out,
            )?;
            println!(
                "{}: tram {} for {}, {} files, payload {} bytes",
                out.display(),
                m.version,
                m.arch,
                m.files.len(),
                m.payload_len
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
