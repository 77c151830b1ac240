//! `tram serve`: the school appliance's arguments, the wiring of settings, flags and the demo
//! school into `app::serve`, and `tram self-check`, which `update apply` runs on a new version.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tram::{app, auth, demo, logging, store::Store};

use super::{DataArgs, HEAP_TRIM_PERIOD, shutdown_signal, trim_heap_every};

#[derive(clap::Args)]
pub struct ServeArgs {
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

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
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
    } = args;
    logging::init(journald);
    let store = super::open_shared(&data.data_dir, db_cache_mb)?;
    let settings = tram::config::Settings::load(&data.data_dir).map_err(anyhow::Error::msg)?;
    let mut schedule = tram::backup::schedule::Config::from_settings(&settings, &data.data_dir);
    if !backup.backup_to.is_empty() {
        schedule.targets = backup.backup_to;
    }
    if let Some(at) = backup.backup_at {
        schedule.at = at;
    }
    if let Some(keep) = backup.backup_keep {
        schedule.retention = keep;
    }
    tram::pki::identity::ensure(&data.data_dir, jiff::Timestamp::now());
    tram::device::note_start(&data.data_dir, jiff::Timestamp::now());
    schedule.enabled = !backup.no_backup;
    schedule.first_check_after = std::time::Duration::from_secs(backup.backup_first_check);
    if demo {
        seed_demo(&store, demo_students, demo_class_size)?;
        // The signed class (~80 signatures) is made beside the server, not before it listens.
        demo::spawn_signing(store.clone())?;
    }
    trim_heap_every(HEAP_TRIM_PERIOD);
    // Reads, file chunks and hashing run on blocking threads; on a box of 2–4 cores
    // more than a few dozen at once only queue for the CPU while each holds its memory
    // (tokio's default allows 512).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()?;
    let shutdown = {
        let _in_runtime = rt.enter();
        shutdown_signal()
    };
    rt.block_on(app::serve(
        store,
        app::ServeOptions {
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
        shutdown,
    ))?;
    tram::device::note_clean_stop(&data.data_dir);
    Ok(ExitCode::SUCCESS)
}

fn relay_privacy(kinds: Vec<String>, comments: bool) -> anyhow::Result<tram::relay::Privacy> {
    const KNOWN: [&str; 9] = [
        "school",
        "class",
        "student",
        "student_profile",
        "result",
        "library_item",
        "lesson_plan",
        "hocba_signature",
        "approval_signature",
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

/// Opens (and so migrates) the data, serves it over plain HTTP on a loopback port and checks
/// its own /healthz answers "ok".
pub fn self_check(data_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = Arc::new(super::open_store(data_dir)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = app::state(
            store.clone(),
            None,
            vec![],
            tram::backup::schedule::Config::default_for(data_dir),
            false,
        );
        let app = app::router(Arc::new(state));
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
        _ => (auth::temporary_password(), true),
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
