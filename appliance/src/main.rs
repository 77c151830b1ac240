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
    /// Account tools for school IT (recovery when nobody can log in).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
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
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
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
        } => {
            logging::init(journald);
            let store = Arc::new(Store::open(&data.data_dir)?);
            if demo {
                seed_demo(&store, demo_students, demo_class_size)?;
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(net::serve(
                store,
                net::ServeOptions {
                    listen,
                    bootstrap_listen: Some(bootstrap_listen),
                    http_only,
                    mdns: !no_mdns,
                },
                shutdown_signal(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify { data },
        } => {
            let store = Store::open(&data.data_dir)?;
            let r = store.verify_audit()?;
            match r.broken {
                None => {
                    println!("audit chain intact: {} events", r.events);
                    Ok(ExitCode::SUCCESS)
                }
                Some((seq, why)) => {
                    println!("audit chain BROKEN at event {seq}: {why}");
                    println!("{} events before it verify", r.events);
                    Ok(ExitCode::from(3))
                }
            }
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
            let store = Store::open(&data.data_dir)?;
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
