//! The `tram` command line: parses arguments and wires the capabilities together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tram::{auth, config, demo, logging, net, store::Store};

#[derive(Parser)]
#[command(name = "tram", version, about = "Trạm — the school appliance")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct DataArgs {
    /// Where the database, blobs and keys live (device: /var/lib/tram).
    #[arg(long, env = "TRAM_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address of the app (HTTPS, or HTTP with --http-only). Device: 0.0.0.0:443.
        #[arg(long, env = "TRAM_LISTEN", default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Address of the plain-HTTP certificate page and redirect. Device: 0.0.0.0:80.
        #[arg(long, env = "TRAM_BOOTSTRAP_LISTEN", default_value = "127.0.0.1:8080")]
        bootstrap_listen: SocketAddr,
        /// Serve the app over plain HTTP on --listen (development and tests only).
        #[arg(long)]
        http_only: bool,
        /// Seed a demo school on first start.
        #[arg(long)]
        demo: bool,
        /// How many students the demo school has (benchmarks use 10000).
        #[arg(long, default_value_t = 480, hide = true)]
        demo_students: usize,
        /// Students per demo class (benchmarks use 45).
        #[arg(long, default_value_t = 40, hide = true)]
        demo_class_size: usize,
        /// Do not announce the box over mDNS.
        #[arg(long)]
        no_mdns: bool,
        /// Log to journald even when not started by systemd.
        #[arg(long)]
        journald: bool,
        #[command(flatten)]
        backup: BackupScheduleArgs,
        /// Most bytes per second the relay to the district may send.
        #[arg(long, env = "TRAM_RELAY_RATE", default_value_t = 64 * 1024)]
        relay_rate: u64,
        /// School hours (local time) during which batches over 1 MB wait, e.g. 06:30-17:00;
        /// "off" sends them any time.
        #[arg(long, env = "TRAM_RELAY_SCHOOL_HOURS", default_value = "06:30-17:00")]
        relay_school_hours: String,
        /// Record kinds relayed to the district, comma-separated (school, class, student, result,
        /// library_item, lesson_plan). Default: all.
        #[arg(long, env = "TRAM_RELAY_KINDS", value_delimiter = ',')]
        relay_kinds: Vec<String>,
        /// Also relay free-text comments (a result's nhận xét, a review comment). Off by default.
        #[arg(long, env = "TRAM_RELAY_COMMENTS")]
        relay_comments: bool,
        /// The database's own page cache, in MB (counted in the server's memory; the kernel
        /// caches the file as well).
        #[arg(long, env = "TRAM_DB_CACHE_MB", default_value_t = tram::store::DEFAULT_CACHE_MB,
              value_parser = clap::value_parser!(u64).range(1..=4096))]
        db_cache_mb: u64,
    },
    /// The district hub: collect what schools relay.
    District {
        #[command(subcommand)]
        cmd: DistrictCmd,
    },
    /// The relay to the district hub (school side).
    Relay {
        #[command(subcommand)]
        cmd: RelayCmd,
    },
    /// Backups: make one now, verify a target, list it, show the key.
    Backup {
        #[command(subcommand)]
        cmd: BackupCmd,
    },
    /// Restore a backup into a new, empty data directory (see README: "Restoring a dead box").
    Restore {
        /// The backup target (folder or mounted USB disk) holding the backups.
        #[arg(long)]
        from: PathBuf,
        /// The new data directory; it must not exist or be empty.
        #[arg(long, env = "TRAM_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Restore this backup instead of the newest (ids: `tram backup list`).
        #[arg(long)]
        backup: Option<String>,
        /// The old box's data directory, if it still exists: the newest backup it wrote to this
        /// target must be there (a deleted newer backup is then noticed, not skipped).
        #[arg(long)]
        old_data_dir: Option<PathBuf>,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Gradebook tools.
    Grades {
        #[command(subcommand)]
        cmd: GradesCmd,
    },
    /// Library tools.
    Library {
        #[command(subcommand)]
        cmd: LibraryCmd,
    },
    /// Benchmark helpers (bench/*.sh).
    #[command(hide = true)]
    BenchFill {
        #[command(flatten)]
        data: DataArgs,
        /// Grow the database to about this many MB with audited records.
        #[arg(long, default_value_t = 0)]
        db_mb: u64,
        /// Add this many MB of library-like files (¾ incompressible like video, ¼ text-like).
        #[arg(long, default_value_t = 0)]
        files_mb: u64,
        /// Add this many catalogue items with generated Vietnamese titles (search benchmark).
        #[arg(long, default_value_t = 0)]
        library_items: u64,
        /// Add one video item of this many MB ("Video benchmark"; download benchmark).
        #[arg(long, default_value_t = 0)]
        video_mb: u64,
        /// Make the school this many teachers, each with a signing key (PIN 123456).
        #[arg(long, default_value_t = 0)]
        lesson_teachers: u64,
        /// Add this many lesson plans this month, waiting for the principal (plus a draft and a
        /// submitted plan per teacher).
        #[arg(long, default_value_t = 0)]
        lesson_plans: u64,
        /// Add this many relayed result changes (the relay benchmark).
        #[arg(long, default_value_t = 0)]
        relay_changes: u64,
    },
    /// Restored-box fault run (bench/restored-box.sh): per relayed kind, the school's keys
    /// against the hub's. Both stopped. Exits 1 if anything differs unexplained.
    #[command(hide = true)]
    BenchTally {
        #[command(flatten)]
        data: DataArgs,
        /// The hub's data directory.
        #[arg(long)]
        hub_data: PathBuf,
    },
    /// Lesson plans: check every signature.
    Lessons {
        #[command(subcommand)]
        cmd: LessonsCmd,
    },
    /// Hub benchmark: many made-up schools sending batches at once (bench/relay.sh).
    #[command(hide = true)]
    BenchRelayHub {
        #[arg(long)]
        hub: String,
        /// The running hub's data directory (tokens are asked of it).
        #[arg(long)]
        hub_data: PathBuf,
        #[arg(long, default_value_t = 100)]
        schools: usize,
        #[arg(long, default_value_t = 10)]
        batches: u64,
        #[arg(long, default_value_t = 500)]
        entries: u64,
    },
    /// Provision this box from a provisioning file (see provisioning/example-school.toml).
    /// Running it again changes nothing.
    Provision {
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
    },
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
        cmd: UpdateCmd,
    },
    /// Release tools (the maintainers' machine): make the release key, build signed bundles.
    Release {
        #[command(subcommand)]
        cmd: ReleaseCmd,
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
        cmd: UserCmd,
    },
}

#[derive(clap::Args, Clone)]
struct UpdateArgs {
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
enum UpdateCmd {
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
enum ReleaseCmd {
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

#[derive(clap::Args, Clone)]
struct BackupScheduleArgs {
    /// Where nightly backups go; repeat or separate with commas for several (an internal
    /// folder and a mounted USB disk). Default: DATA_DIR/backups.
    #[arg(long = "backup-to", env = "TRAM_BACKUP_TO", value_delimiter = ',')]
    backup_to: Vec<PathBuf>,
    /// Local time (Asia/Ho_Chi_Minh) of the nightly backup [default: provisioned, else 01:30].
    #[arg(long, env = "TRAM_BACKUP_AT")]
    backup_at: Option<jiff::civil::Time>,
    /// Backups kept: DAILY,WEEKLY,MONTHLY [default: provisioned, else 7,4,12].
    #[arg(long, env = "TRAM_BACKUP_KEEP")]
    backup_keep: Option<tram::backup::Retention>,
    /// Turn the nightly backup off.
    #[arg(long)]
    no_backup: bool,
    /// Seconds after start before the schedule is first checked (a missed night is caught up then).
    #[arg(long, default_value_t = 300, hide = true)]
    backup_first_check: u64,
}

#[derive(clap::Args, Clone)]
struct KeyArgs {
    /// The backup key file (a copy of DATA_DIR/keys/backup.key, printed by `tram backup key`).
    /// Or set TRAM_BACKUP_KEY to the key itself (AGE-SECRET-KEY-1…).
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum BackupCmd {
    /// Make a backup now (while the server runs, it makes it; otherwise this process does).
    Now {
        #[command(flatten)]
        data: DataArgs,
        /// The target folder or mounted USB disk (made if missing).
        #[arg(long)]
        to: PathBuf,
        /// Backups kept in the target: DAILY,WEEKLY,MONTHLY.
        #[arg(long, default_value = "7,4,12")]
        keep: tram::backup::Retention,
        /// Skip the restore check that follows the backup.
        #[arg(long)]
        no_verify: bool,
        /// Mark it as the backup taken before an update (kept apart from the nightly ones).
        #[arg(long)]
        pre_update: bool,
    },
    /// Check a target: every file's hash (exits non-zero if any byte changed) and, with the
    /// key, a full restore of the newest backup into a scratch folder.
    Verify {
        /// The backup target.
        #[arg(long)]
        from: PathBuf,
        /// Where the key is looked for when --key and TRAM_BACKUP_KEY are not given.
        #[arg(long, env = "TRAM_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Restore-check every backup, not only the newest.
        #[arg(long, conflicts_with = "backup")]
        all: bool,
        /// Restore-check this backup.
        #[arg(long)]
        backup: Option<String>,
    },
    /// List the backups in a target.
    List {
        #[arg(long)]
        from: PathBuf,
    },
    /// Print the backup key (make it if the box has none) so it can be kept away from the box.
    Key {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
enum LibraryCmd {
    /// Import a folder of files with a spreadsheet of metadata (columns: Tệp, Tên tài liệu,
    /// Loại, Tác giả, Môn, Khối, Nhà xuất bản, Năm, ISBN, Từ khoá, Ai được xem, Số bản).
    /// Checks every row first; imports all rows or none. While the server runs, use
    /// POST /api/v1/library/import instead.
    Import {
        #[command(flatten)]
        data: DataArgs,
        /// The folder (a mounted USB stick).
        #[arg(long)]
        folder: PathBuf,
        /// The spreadsheet (xlsx/xls/ods).
        #[arg(long)]
        sheet: PathBuf,
        /// Import (without it: only check and list the problems).
        #[arg(long)]
        commit: bool,
        /// The account the items belong to.
        #[arg(long = "as", default_value = "admin")]
        user: String,
    },
}

#[derive(Subcommand)]
enum DistrictCmd {
    /// Run the hub (same binary, its own data directory).
    Serve {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, env = "TRAM_LISTEN", default_value = "127.0.0.1:9443")]
        listen: SocketAddr,
        /// Plain HTTP (tests, or behind a TLS-terminating proxy).
        #[arg(long)]
        http_only: bool,
        #[arg(long)]
        journald: bool,
        /// The database's own page cache, in MB. A district server has the memory for the
        /// 64 MB its 100-school load was measured with.
        #[arg(long, env = "TRAM_DB_CACHE_MB", default_value_t = 64,
              value_parser = clap::value_parser!(u64).range(1..=4096))]
        db_cache_mb: u64,
    },
    /// Send a signed update bundle down to every school (each checks the signature with its own
    /// release key before installing). Works while the hub runs.
    PublishUpdate {
        #[command(flatten)]
        data: DataArgs,
        bundle: PathBuf,
        /// The release public key the bundle must verify against (default: release-key.pub in
        /// the hub's data directory, else /etc/tram/release-key.pub).
        #[arg(long, env = "TRAM_RELEASE_KEY")]
        release_key: Option<PathBuf>,
    },
    /// Share a file down to every school's library (Kho học liệu dùng chung). Works while the
    /// hub runs.
    PublishLibrary {
        #[command(flatten)]
        data: DataArgs,
        file: PathBuf,
        #[arg(long)]
        title: String,
        /// ebook, video, audio, question_bank, recorded_lesson.
        #[arg(long, default_value = "ebook")]
        kind: String,
        /// Subject id (e.g. toan).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        grade: Option<u8>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Reset the signing key of a school's only BGH member in office, whose PIN is forgotten
    /// (where a school has two, the other resets it). Goes down the relay to that school.
    KeyReset {
        #[command(flatten)]
        data: DataArgs,
        /// The school's code (mã trường).
        #[arg(long)]
        school: String,
        /// The account id at the school (e.g. u-hieutruong).
        #[arg(long)]
        account: String,
        /// Why (the school sees it beside the reset).
        #[arg(long)]
        reason: String,
    },
    /// Courier mode: import the batches schools wrote to a USB stick (`tram relay export`);
    /// each is verified and stored exactly once. Works while the hub runs.
    Import {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        from: PathBuf,
    },
    /// Issue a one-time enrolment token for a school; prints it (and the certificate pin the
    /// school needs over HTTPS). Works while the hub runs.
    Token {
        #[command(flatten)]
        data: DataArgs,
        /// Mã trường.
        #[arg(long)]
        school: String,
        /// The school's name as district staff know it.
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Subcommand)]
enum RelayCmd {
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

#[derive(Subcommand)]
enum LessonsCmd {
    /// Check every lesson-plan signature against the plan and files as stored now (each file
    /// re-read). Prints "N valid"; exits 3 and lists the invalid ones otherwise. Works while the
    /// server runs (it asks the server). With --export, checks an exported ZIP offline instead.
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// An export ZIP (from the dashboard) to check with nothing but its own contents.
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the whole hash chain; exits non-zero and names the first broken link if any.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
enum GradesCmd {
    /// Read one student's record as JSON on stdin, print the computed results as JSON
    /// (docs/grades-check.md). Invalid input: a JSON error naming the field, exit code 2.
    Check,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Set a new temporary password for USERNAME and print it (must be changed at next login).
    ResetPassword {
        username: String,
        #[command(flatten)]
        data: DataArgs,
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

const HEAP_TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands the allocator's free pages back to the system every `period`, for the long-running
/// server. glibc returns memory only from the top of each arena; what requests free in the
/// middle (the page cache evicting, a burst of large answers) stayed counted in RSS — a 30-minute
/// soak ended at 134 MB of which 33 MB was free heap (`malloc_trim` gave it back: 101 MB).
fn trim_heap_every(period: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                // SAFETY: malloc_trim only releases free memory and is thread-safe.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "heap trimming not started");
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve {
            data,
            listen,
            bootstrap_listen,
            http_only,
            demo,
            demo_students,
            demo_class_size,
            no_mdns,
            journald,
            backup,
            relay_rate,
            relay_school_hours,
            relay_kinds,
            relay_comments,
            db_cache_mb,
        } => {
            logging::init(journald);
            let store = Arc::new(Store::open_with_cache(
                &data.data_dir,
                &tram::app::schema::schema(),
                db_cache_mb,
            )?);
            let settings =
                tram::config::Settings::load(&data.data_dir).map_err(anyhow::Error::msg)?;
            let mut schedule =
                tram::backup::schedule::Config::from_settings(&settings, &data.data_dir);
            if !backup.backup_to.is_empty() {
                schedule.targets = backup.backup_to;
            }
            if let Some(at) = backup.backup_at {
                schedule.at = at;
            }
            if let Some(keep) = backup.backup_keep {
                schedule.retention = keep;
            }
            tram::provision::identity::ensure(&data.data_dir, jiff::Timestamp::now());
            tram::device::note_start(&data.data_dir, jiff::Timestamp::now());
            schedule.enabled = !backup.no_backup;
            schedule.first_check_after = std::time::Duration::from_secs(backup.backup_first_check);
            if demo {
                seed_demo(&store, demo_students, demo_class_size)?;
            }
            trim_heap_every(HEAP_TRIM_PERIOD);
            // Reads, file chunks and hashing run on blocking threads; on a box of 2–4 cores
            // more than a few dozen at once only queue for the CPU while each holds its memory
            // (tokio's default allows 512).
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .max_blocking_threads(64)
                .build()?;
            rt.block_on(net::serve(
                store,
                net::ServeOptions {
                    listen,
                    bootstrap_listen: Some(bootstrap_listen),
                    http_only,
                    mdns: !no_mdns,
                    backup: schedule,
                    relay: tram::relay::Budget {
                        privacy: relay_privacy(relay_kinds, relay_comments)?,
                        ..relay_budget(relay_rate, &relay_school_hours)?
                    },
                },
                shutdown_signal(),
            ))?;
            tram::device::note_clean_stop(&data.data_dir);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Backup { cmd } => backup_cmd(cmd),
        Cmd::District { cmd } => district_cmd(cmd),
        Cmd::BenchRelayHub {
            hub,
            hub_data,
            schools,
            batches,
            entries,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let t = std::time::Instant::now();
            let mut lat = rt.block_on(tram::relay::bench_hub(
                &hub, &hub_data, schools, batches, entries,
            ))?;
            let secs = t.elapsed().as_secs_f64();
            lat.sort_by(|a, b| a.total_cmp(b));
            let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
            println!(
                "{} batches ({} schools x {batches}, {entries} records each) in {secs:.1} s: {:.0} batches/s, ack latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                lat.len(),
                schools,
                lat.len() as f64 / secs,
                pct(0.5),
                pct(0.99),
                lat.last().copied().unwrap_or(0.0)
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Relay { cmd } => relay_cmd(cmd),
        Cmd::Update { cmd } => update_cmd(cmd),
        Cmd::Power { data } => match tram::device::act_on_power_request(&data.data_dir)? {
            Some(p) => {
                println!("{p:?} requested");
                Ok(ExitCode::SUCCESS)
            }
            None => Ok(ExitCode::SUCCESS),
        },
        Cmd::SupportBundle { data, to } => {
            let (_, name) = here_or_server(
                &data.data_dir,
                "support-bundle",
                vec![to.display().to_string()],
                |store| {
                    Ok((
                        true,
                        tram::device::write_support_bundle(&store, &to)?
                            .display()
                            .to_string(),
                    ))
                },
            )?;
            println!("{name}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Provision {
            file,
            data,
            find,
            owner,
        } => provision_cmd(file, &data.data_dir, find, owner),
        Cmd::Release { cmd } => release_cmd(cmd),
        Cmd::SelfCheck { data } => self_check(&data.data_dir),
        Cmd::Lessons {
            cmd: LessonsCmd::Verify { data, export },
        } => lessons_verify(data.data_dir, export),
        Cmd::Library {
            cmd:
                LibraryCmd::Import {
                    data,
                    folder,
                    sheet,
                    commit,
                    user,
                },
        } => {
            let store = Store::open(&data.data_dir, &tram::app::schema::schema())?;
            let rx = store.read()?;
            let p = tram::school::principal_by_username(&rx, &user)?
                .ok_or_else(|| anyhow::anyhow!("no account named {user:?}"))?;
            let bytes = tram::school::sheet::read_file(&sheet)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", sheet.display()))?;
            let plan = tram::library::import::plan(&rx, &folder, &bytes)?;
            drop(rx);
            for pr in &plan.problems {
                println!("row {}: {} {}", pr.row, pr.field, pr.message);
            }
            if !plan.problems.is_empty() {
                println!("{} problems; nothing imported", plan.problems.len());
                return Ok(ExitCode::from(2));
            }
            if !commit {
                println!(
                    "{} rows check out; run again with --commit to import them",
                    plan.rows.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let n = tram::library::import::apply(&store, &p, plan)?;
            println!("imported {n} items");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::BenchFill {
            data,
            db_mb,
            files_mb,
            library_items,
            video_mb,
            lesson_teachers,
            lesson_plans,
            relay_changes,
        } => {
            let store = Store::open(&data.data_dir, &tram::app::schema::schema())?;
            tram::demo::bench_fill(&store, db_mb, files_mb)?;
            tram::demo::bench_library(&store, library_items, video_mb)?;
            tram::demo::bench_lessons(&store, lesson_teachers, lesson_plans)?;
            tram::demo::bench_relay(&store, relay_changes)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::BenchTally { data, hub_data } => {
            let store = Store::open(&data.data_dir, &tram::app::schema::schema())?;
            let e = tram::relay::enrolment(&data.data_dir)
                .ok_or_else(|| anyhow::anyhow!("this box is not enrolled"))?;
            let hub = tram::district::RedbHub {
                store: std::sync::Arc::new(Store::open(&hub_data, &tram::app::schema::schema())?),
            };
            let rows =
                tram::relay::tally(&store, &hub, &e.school, &tram::relay::Privacy::default())?;
            println!(
                "{:<16} {:>8} {:>8} {:>8} {:>9} {:>12}",
                "kind", "school", "hub", "equal", "missing*", "unexplained"
            );
            let mut bad = 0;
            for r in &rows {
                println!(
                    "{:<16} {:>8} {:>8} {:>8} {:>9} {:>12}",
                    r.kind, r.school, r.hub, r.equal, r.reported_missing, r.unexplained
                );
                // Everything this box has is at the hub as it is here; everything else the
                // hub holds is what the restore report told the staff they lost.
                if r.unexplained > 0 {
                    bad += 1;
                }
            }
            println!(
                "* missing: held by the district, lost with the old box after its backup, named in the restore report"
            );
            if bad > 0 {
                println!("MISMATCH in {bad} kinds");
                return Ok(ExitCode::from(1));
            }
            println!("every kind equal");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Restore {
            from,
            data_dir,
            key,
            backup,
            old_data_dir,
        } => {
            let key = resolve_key(&key, None)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "the backup key is needed: --key FILE (the copy of keys/backup.key kept at set-up) or TRAM_BACKUP_KEY"
                )
            })?;
            eprintln!(
                "restoring from {} into {} …",
                from.display(),
                data_dir.display()
            );
            let c = tram::backup::restore(
                &from,
                &key,
                &data_dir,
                backup.as_deref(),
                old_data_dir.as_deref(),
                &tram::app::schema::schema(),
            )?;
            println!(
                "restored backup {} (made {}) into {}",
                c.id,
                c.created
                    .to_zoned(tram::school::time_zone())
                    .strftime("%d/%m/%Y %H:%M"),
                data_dir.display()
            );
            println!(
                "  {} records, audit chain intact ({} events), {} files ({:.1} MB)",
                c.records,
                c.audit_events,
                c.blobs,
                c.bytes as f64 / 1e6
            );
            for n in &c.notes {
                println!("  note: {n}");
            }
            if c.redo.is_empty() {
                if tram::config::Settings::path(&data_dir).exists() {
                    println!("  settings restored (tram.toml); nothing to redo");
                } else {
                    println!(
                        "  no tram.toml to restore (the old box ran on command-line options); nothing to redo"
                    );
                }
            }
            for r in &c.redo {
                println!("  redo: {}", r.text());
            }
            for f in &c.missing_files {
                println!("  NOT restored (damaged on the backup target): {f}");
            }
            println!(
                "  start it with: tram serve --data-dir {}",
                data_dir.display()
            );
            if !c.missing_files.is_empty() {
                eprintln!(
                    "partial restore: the school's records are back, but {} file(s) above were damaged on the target and must be uploaded again (a second backup target would still hold them)",
                    c.missing_files.len()
                );
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify { data },
        } => {
            // Works on a live box too: the running server walks the chain for it.
            let (ok, text) = here_or_server(&data.data_dir, "audit-verify", vec![], |store| {
                Ok(store.verify_audit_text()?)
            })?;
            print!("{text}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Cmd::Grades {
            cmd: GradesCmd::Check,
        } => {
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
        Cmd::User {
            cmd: UserCmd::ResetPassword { username, data },
        } => {
            let store = Store::open(&data.data_dir, &tram::app::schema::schema())?;
            let acc = auth::find_by_username(&store.read()?, &username)?
                .ok_or_else(|| anyhow::anyhow!("no account named {username:?}"))?;
            let temp = auth::routes::temporary_password();
            let actor = tram::store::Actor {
                id: "cli".into(),
                now: jiff::Timestamp::now(),
            };
            auth::admin_reset_password(&store, &actor, &acc.id, &temp)?;
            println!("temporary password for {username}: {temp}");
            println!("(it must be changed at the next login)");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs `local` on the data directory's database or, while a server holds it, asks that server
/// over its control socket to run `op` with `args`. Returns (all good, what to print).
fn here_or_server(
    data_dir: &std::path::Path,
    op: &str,
    args: Vec<String>,
    local: impl FnOnce(Store) -> anyhow::Result<(bool, String)>,
) -> anyhow::Result<(bool, String)> {
    match Store::open(data_dir, &tram::app::schema::schema()) {
        Ok(store) => local(store),
        Err(tram::store::StoreError::InUse) => {
            let req = tram::backup::control::Request {
                op: op.into(),
                to: PathBuf::new(),
                options: None,
                args,
            };
            let resp = tram::backup::control::ask(data_dir, &req).map_err(|e| {
                anyhow::anyhow!("the database is in use and the server's control socket does not answer ({e}); stop the server and try again")
            })?;
            match resp.text {
                Some(t) => Ok((resp.ok, t)),
                None => anyhow::bail!(resp.error.unwrap_or_else(|| format!("{op} failed"))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn relay_privacy(kinds: Vec<String>, comments: bool) -> anyhow::Result<tram::relay::Privacy> {
    const KNOWN: [&str; 6] = [
        "school",
        "class",
        "student",
        "result",
        "library_item",
        "lesson_plan",
    ];
    let kinds: Vec<String> = kinds
        .into_iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if let Some(bad) = kinds.iter().find(|k| !KNOWN.contains(&k.as_str())) {
        anyhow::bail!(
            "--relay-kinds: unknown kind {bad:?} (known: {})",
            KNOWN.join(", ")
        );
    }
    Ok(tram::relay::Privacy {
        kinds: (!kinds.is_empty()).then_some(kinds),
        comments,
    })
}

fn relay_budget(rate: u64, hours: &str) -> anyhow::Result<tram::relay::Budget> {
    if rate < 1024 {
        anyhow::bail!("--relay-rate is bytes per second and must be at least 1024");
    }
    let school_hours = if hours.trim().eq_ignore_ascii_case("off") {
        None
    } else {
        let (a, b) = hours
            .split_once('-')
            .ok_or_else(|| anyhow::anyhow!("--relay-school-hours: use HH:MM-HH:MM or off"))?;
        let t = |x: &str| -> anyhow::Result<jiff::civil::Time> {
            x.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--relay-school-hours: {x:?} is not a time"))
        };
        Some((t(a)?, t(b)?))
    };
    Ok(tram::relay::Budget {
        rate,
        school_hours,
        ..tram::relay::Budget::default()
    })
}

fn district_cmd(cmd: DistrictCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DistrictCmd::Serve {
            data,
            listen,
            http_only,
            journald,
            db_cache_mb,
        } => {
            logging::init(journald);
            let store = Arc::new(Store::open_with_cache(
                &data.data_dir,
                &tram::app::schema::schema(),
                db_cache_mb,
            )?);
            hub_admin(&store)?;
            trim_heap_every(HEAP_TRIM_PERIOD);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let s2 = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = tram::backup::control::serve(s2, Default::default()).await {
                        tracing::warn!(error = %e, "control socket unavailable");
                    }
                });
                tram::district::routes::serve(store, listen, http_only, shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::PublishUpdate {
            data,
            bundle,
            release_key,
        } => {
            let bundle = std::path::absolute(&bundle)?;
            let key = match release_key {
                Some(k) => std::path::absolute(&k)?,
                None => {
                    let here = data.data_dir.join("release-key.pub");
                    if here.exists() {
                        std::path::absolute(&here)?
                    } else {
                        PathBuf::from(tram::update::DEFAULT_RELEASE_KEY)
                    }
                }
            };
            let (_, text) = here_or_server(
                &data.data_dir,
                "district-publish",
                vec![bundle.display().to_string(), key.display().to_string()],
                |store| {
                    let p = tram::district::publish_update(
                        &store,
                        &bundle,
                        &key,
                        jiff::Timestamp::now(),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok((true, p.line()))
                },
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::PublishLibrary {
            data,
            file,
            title,
            kind,
            subject,
            grade,
            description,
        } => {
            let file = std::path::absolute(&file)?;
            let kind: tram::library::ItemKind = serde_json::from_value(serde_json::json!(kind))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "--kind must be ebook, video, audio, question_bank or recorded_lesson"
                    )
                })?;
            let item = tram::district::SharedItem {
                title,
                kind,
                subject,
                grade,
                description,
                file_name: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let meta = serde_json::to_string(&item)?;
            let (_, text) = here_or_server(
                &data.data_dir,
                "district-publish-library",
                vec![file.display().to_string(), meta],
                |store| {
                    let p = tram::district::publish_library(
                        &store,
                        &file,
                        item,
                        jiff::Timestamp::now(),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok((true, p.line()))
                },
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::Import { data, from } => {
            let from = std::path::absolute(&from)?;
            let (_, text) = here_or_server(
                &data.data_dir,
                "district-import",
                vec![from.display().to_string()],
                |store| {
                    let lines = tram::district::import(&Arc::new(store), &from)?;
                    Ok((true, lines.join("\n") + "\n"))
                },
            )?;
            print!("{text}");
            // Exit 0 only when every file is stored (now or before); 3 when any was refused.
            if text.lines().any(|l| l.contains("REJECTED")) {
                let n = text.lines().filter(|l| l.contains("REJECTED")).count();
                eprintln!("{n} file(s) refused: see above");
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::KeyReset {
            data,
            school,
            account,
            reason,
        } => {
            let (_, text) = here_or_server(
                &data.data_dir,
                "district-key-reset",
                vec![school.clone(), account.clone(), reason.clone()],
                |store| {
                    let p = tram::district::publish_key_reset(
                        &store,
                        &school,
                        &account,
                        &reason,
                        jiff::Timestamp::now(),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok((true, p.line()))
                },
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::Token { data, school, name } => {
            let (_, text) = here_or_server(
                &data.data_dir,
                "district-token",
                vec![school.clone(), name.clone()],
                |store| {
                    Ok((
                        true,
                        tram::district::token_text(&Arc::new(store), &school, &name)?,
                    ))
                },
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The hub's first staff account (admin), with TRAM_ADMIN_PASSWORD or a printed password.
fn hub_admin(store: &Store) -> anyhow::Result<()> {
    if !auth::list_accounts(&store.read()?)?.is_empty() {
        return Ok(());
    }
    let (password, generated) = match std::env::var("TRAM_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (auth::routes::temporary_password(), true),
    };
    auth::check_password_policy("admin", &password)
        .map_err(|e| anyhow::anyhow!("TRAM_ADMIN_PASSWORD: {e} (at least 8 characters)"))?;
    let phc = auth::hash_password(&password);
    let actor = tram::store::Actor::system(jiff::Timestamp::now());
    store.write(&actor, |tx| {
        auth::create_account_tx(
            tx,
            auth::NewAccount {
                username: "admin".into(),
                full_name: "Quản trị Phòng GD".into(),
                roles: vec![auth::Role::Admin],
                department: None,
                password_phc: phc,
                must_change_password: generated,
            },
        )
    })?;
    if generated {
        eprintln!("hub admin password (shown once): {password}  — log in as admin");
    }
    Ok(())
}

fn relay_cmd(cmd: RelayCmd) -> anyhow::Result<ExitCode> {
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

fn lessons_verify(data_dir: PathBuf, export: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if let Some(zip) = export {
        let f = std::fs::File::open(&zip)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", zip.display()))?;
        let c = tram::lessons::export::verify_zip(std::io::BufReader::new(f))
            .map_err(|e| anyhow::anyhow!("{}: {e}", zip.display()))?;
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
    print!("{text}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// The key from --key, else TRAM_BACKUP_KEY, else the data directory's own key.
fn resolve_key(
    k: &KeyArgs,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<Option<tram::backup::BackupKey>> {
    use tram::backup::BackupKey;
    if let Some(p) = &k.key {
        return Ok(Some(BackupKey::load_file(p)?));
    }
    if let Ok(s) = std::env::var("TRAM_BACKUP_KEY")
        && !s.trim().is_empty()
    {
        return Ok(Some(BackupKey::parse(&s)?));
    }
    match data_dir {
        Some(d) => Ok(BackupKey::load(d)?),
        None => Ok(None),
    }
}

fn backup_cmd(cmd: BackupCmd) -> anyhow::Result<ExitCode> {
    use tram::backup::{self, BackupKey, Kind, control};
    match cmd {
        BackupCmd::Now {
            data,
            to,
            keep,
            no_verify,
            pre_update,
        } => {
            let kind = if pre_update {
                Kind::PreUpdate
            } else {
                Kind::Manual
            };
            let to = std::path::absolute(&to)?;
            let opts = backup::Options {
                kind,
                retention: keep,
                create_target: true,
                verify: !no_verify,
            };
            let report = match Store::open(&data.data_dir, &tram::app::schema::schema()) {
                Ok(store) => backup::schedule::backup_once(&store, &to, &opts)?,
                Err(tram::store::StoreError::InUse) => {
                    eprintln!(
                        "the server is running on this data directory: asking it to make the backup"
                    );
                    let req = control::Request {
                        op: "backup".into(),
                        to: to.clone(),
                        options: Some(opts),
                        args: vec![],
                    };
                    let asked = jiff::Timestamp::now();
                    let resp = match control::ask(&data.data_dir, &req) {
                        Ok(r) => r,
                        Err(e) if control::never_reached(&e) => anyhow::bail!(
                            "the database is in use and the server's control socket does not answer ({e}); stop `tram serve` and try again"
                        ),
                        // The server took the request and then went away (killed, restarted,
                        // power): whether the backup exists is a fact on the target, not a
                        // guess — look there.
                        Err(_) => {
                            let key = BackupKey::load(&data.data_dir).ok().flatten();
                            let made = backup::list(&to, key.as_ref())
                                .ok()
                                .and_then(|v| v.into_iter().rfind(|m| m.created >= asked));
                            match made {
                                Some(m) => anyhow::bail!(
                                    "the server stopped before it answered, but the backup was written: {} ({} records) on {}. Check it with: tram backup verify --from {} --backup {}",
                                    m.id,
                                    m.records,
                                    to.display(),
                                    to.display(),
                                    m.id
                                ),
                                None => anyhow::bail!(
                                    "the server stopped while making the backup; no new backup was completed on {}. Run `tram backup now` again once the server is back",
                                    to.display()
                                ),
                            }
                        }
                    };
                    match (resp.ok, resp.report) {
                        (true, Some(r)) => r,
                        _ => anyhow::bail!(resp.error.unwrap_or_else(|| "backup failed".into())),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            println!("{}", control::describe(&report));
            Ok(ExitCode::SUCCESS)
        }
        BackupCmd::Verify {
            from,
            data_dir,
            key,
            all,
            backup: id,
        } => {
            let key = resolve_key(&key, Some(&data_dir))?;
            let which = match (all, id) {
                (true, _) => backup::Which::All,
                (_, Some(id)) => backup::Which::Id(id),
                _ => backup::Which::Newest,
            };
            let scratch = std::env::temp_dir().join(format!("tram-verify-{}", std::process::id()));
            let r = backup::verify(
                &from,
                key.as_ref(),
                which,
                &scratch,
                Some(&data_dir),
                &tram::app::schema::schema(),
            )?;
            println!(
                "{} backups, {} stored files ({:.1} MB) checked",
                r.backups,
                r.objects,
                r.stored_bytes as f64 / 1e6
            );
            for c in &r.restored {
                println!(
                    "restore check of {}: ok — database opens (schema {}), {} records, audit chain intact ({} events), {} files decrypt to their hashes",
                    c.id, c.schema_version, c.records, c.audit_events, c.blobs
                );
            }
            for n in &r.notes {
                println!("note: {n}");
            }
            if r.keyless {
                println!(
                    "no key given: only the stored hashes were checked (give --key FILE, TRAM_BACKUP_KEY or --data-dir of the box for a full restore check)"
                );
            }
            if r.problems.is_empty() {
                println!("backup verify: OK");
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &r.problems {
                    println!("PROBLEM: {p}");
                }
                println!("backup verify: FAILED ({} problems)", r.problems.len());
                Ok(ExitCode::from(3))
            }
        }
        BackupCmd::List { from } => {
            for m in backup::list(&from, None)? {
                println!(
                    "{}  {}  schema {}  {} records  {} files  {:.1} MB new",
                    m.id,
                    m.created
                        .to_zoned(tram::school::time_zone())
                        .strftime("%Y-%m-%d %H:%M"),
                    m.schema_version,
                    m.records,
                    m.blobs.len(),
                    m.new_bytes as f64 / 1e6
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCmd::Key { data } => {
            let key = BackupKey::load_or_create(&data.data_dir)?;
            print!("{}", key.file_text());
            eprintln!(
                "Keep this key away from the box (printed in the principal's safe, or on a USB stick that is not the backup disk). Restore needs it: tram restore --key FILE"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn provision_cmd(
    file: Option<PathBuf>,
    data_dir: &std::path::Path,
    find: bool,
    owner: Option<String>,
) -> anyhow::Result<ExitCode> {
    use tram::provision;
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

fn update_cmd(cmd: UpdateCmd) -> anyhow::Result<ExitCode> {
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

fn release_cmd(cmd: ReleaseCmd) -> anyhow::Result<ExitCode> {
    use tram::update::bundle;
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

/// Opens (and so migrates) the data, serves it over plain HTTP on a loopback port and checks
/// its own /healthz answers "ok".
fn self_check(data_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = Arc::new(Store::open(data_dir, &tram::app::schema::schema())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = net::AppState::new(
            store.clone(),
            None,
            vec![],
            tram::backup::schedule::Config::default_for(data_dir),
            false,
        );
        let app = net::router(Arc::new(state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let body = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut c = tokio::net::TcpStream::connect(addr).await?;
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await?;
            let mut out = String::new();
            c.read_to_string(&mut out).await?;
            anyhow::Ok(out)
        })
        .await??;
        if body.starts_with("HTTP/1.1 200") && body.contains("\"status\":\"ok\"") {
            println!("ok: this version serves {}", data_dir.display());
            Ok(ExitCode::SUCCESS)
        } else {
            anyhow::bail!(
                "/healthz did not answer ok: {}",
                body.lines().next().unwrap_or("")
            )
        }
    })
}

fn seed_demo(store: &Store, students: usize, per_class: usize) -> anyhow::Result<()> {
    let (password, generated) = match std::env::var("TRAM_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (auth::routes::temporary_password(), true),
    };
    if tram::school::school_info(&store.read()?)?.is_some() {
        return Ok(());
    }
    auth::check_password_policy("admin", &password)
        .map_err(|e| anyhow::anyhow!("TRAM_ADMIN_PASSWORD: {e} (at least 8 characters)"))?;
    let phc = auth::hash_password(&password);
    let out = demo::seed_with_class_size(store, &phc, students, per_class, jiff::Timestamp::now())?;
    if out.created {
        eprintln!("demo school created with {} students", out.students);
        if generated {
            eprintln!("──────────────────────────────────────────────");
            eprintln!(" admin password (shown once): {password}");
            eprintln!(" log in as: admin");
            eprintln!(" demo staff (hieutruong, phohieutruong, gv01…gv30) use the same password");
            eprintln!("──────────────────────────────────────────────");
        } else {
            eprintln!("demo accounts (admin, hieutruong, gv01…) use TRAM_ADMIN_PASSWORD");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
