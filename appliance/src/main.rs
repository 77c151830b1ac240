//! The `tram` command line: parses the arguments and hands each command to its group in
//! `cli/`, which wires the capabilities together.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::DataArgs;

#[derive(Parser)]
#[command(name = "tram", version, about = "Trạm — the school appliance")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance.
    Serve(cli::serve::ServeArgs),
    /// The district hub: collect what schools relay.
    District {
        #[command(subcommand)]
        cmd: cli::district::DistrictCmd,
    },
    /// The relay to the district hub (school side).
    Relay {
        #[command(subcommand)]
        cmd: cli::relay::RelayCmd,
    },
    /// Backups: make one now, verify a target, list it, show the key.
    Backup {
        #[command(subcommand)]
        cmd: cli::backup::BackupCmd,
    },
    /// Restore a backup into a new, empty data directory (see README: "Restoring a dead box").
    Restore(cli::backup::RestoreArgs),
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        cmd: cli::admin::AuditCmd,
    },
    /// Gradebook tools.
    Grades {
        #[command(subcommand)]
        cmd: cli::grades::GradesCmd,
    },
    /// Học bạ số: signing certificates, PAdES signatures on PDFs, verification.
    Hocba {
        #[command(subcommand)]
        cmd: cli::hocba::HocbaCmd,
    },
    /// The school's electronic records of a year (sổ đăng bộ, class books, học bạ, lesson plans).
    Records {
        #[command(subcommand)]
        cmd: cli::records::RecordsCmd,
    },
    /// Library tools.
    Library {
        #[command(subcommand)]
        cmd: cli::admin::LibraryCmd,
    },
    /// Benchmark helpers (bench/*.sh).
    #[command(hide = true)]
    BenchFill(cli::bench::BenchFillArgs),
    /// Restored-box fault run (bench/restored-box.sh): per relayed kind, the school's keys
    /// against the hub's. Both stopped. Exits 1 if anything differs unexplained.
    #[command(hide = true)]
    BenchTally(cli::bench::BenchTallyArgs),
    /// Lesson plans: check every signature.
    Lessons {
        #[command(subcommand)]
        cmd: cli::lessons::LessonsCmd,
    },
    /// Hub benchmark: many made-up schools sending batches at once (bench/relay.sh).
    #[command(hide = true)]
    BenchRelayHub(cli::bench::BenchRelayHubArgs),
    /// Provision this box from a provisioning file (see provisioning/example-school.toml).
    /// Running it again changes nothing.
    Provision(cli::provision::ProvisionArgs),
    /// Act on a reboot / power-off request from the School IT page (tram-power.service, root).
    #[command(hide = true)]
    Power {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Write a support bundle (logs, settings and health; no secrets or records) to a folder,
    /// e.g. a USB stick.
    SupportBundle {
        #[command(flatten)]
        data: DataArgs,
        /// The folder to write tram-support-….zip into.
        #[arg(long)]
        to: PathBuf,
    },
    /// Signed updates: apply a bundle (USB or the spool), show the last attempt.
    Update {
        #[command(subcommand)]
        cmd: cli::update::UpdateCmd,
    },
    /// Release tools (the maintainers' machine): make the release key, build signed bundles.
    Release {
        #[command(subcommand)]
        cmd: cli::update::ReleaseCmd,
    },
    /// Used by `update apply`: open (and migrate) the data, serve it on a loopback port and
    /// check it answers. Exits non-zero when this version cannot run on this data.
    #[command(hide = true)]
    SelfCheck {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Account tools for school IT (recovery when nobody can log in).
    User {
        #[command(subcommand)]
        cmd: cli::admin::UserCmd,
    },
}

fn main() -> ExitCode {
    // Password and PIN hashing (argon2) allocate tens of MB per hash on whichever blocking
    // thread runs it; glibc would keep each such block in that thread's arena (its mmap
    // threshold grows after the first free), so RSS would climb to threads × the hash's memory.
    // A fixed threshold keeps big blocks mmapped: freed, they go back to the system at once.
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Cli) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Cmd::Serve(a) => cli::serve::serve(a),
        Cmd::Backup { cmd } => cli::backup::run(cmd),
        Cmd::District { cmd } => cli::district::run(cmd),
        Cmd::BenchRelayHub(a) => cli::bench::relay_hub(a),
        Cmd::Relay { cmd } => cli::relay::run(cmd),
        Cmd::Update { cmd } => cli::update::run(cmd),
        Cmd::Power { data } => cli::device::power(&data.data_dir),
        Cmd::SupportBundle { data, to } => cli::device::support_bundle(&data.data_dir, &to),
        Cmd::Provision(a) => cli::provision::run(a),
        Cmd::Release { cmd } => cli::update::release(cmd),
        Cmd::SelfCheck { data } => cli::serve::self_check(&data.data_dir),
        Cmd::Lessons { cmd } => cli::lessons::run(cmd),
        Cmd::Library { cmd } => cli::admin::library(cmd),
        Cmd::BenchFill(a) => cli::bench::fill(a),
        Cmd::BenchTally(a) => cli::bench::tally(a),
        Cmd::Restore(a) => cli::backup::restore(a),
        Cmd::Audit { cmd } => cli::admin::audit(cmd),
        Cmd::Grades { cmd } => cli::grades::run(cmd),
        Cmd::Hocba { cmd } => cli::hocba::run(cmd),
        Cmd::Records { cmd } => cli::records::run(cmd),
        Cmd::User { cmd } => cli::admin::user(cmd),
    }
}
