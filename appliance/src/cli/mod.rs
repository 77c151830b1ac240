//! The command groups of `tram`, one file each; `main.rs` parses the line and hands each
//! command to its group here. This file holds what several groups share: the data directory
//! argument, asking a running server instead of opening its database, and what the two
//! long-running servers (`serve`, `district serve`) need.

pub mod admin;
pub mod backup;
pub mod bench;
pub mod device;
pub mod district;
pub mod grades;
pub mod hocba;
pub mod lessons;
pub mod provision;
pub mod records;
pub mod relay;
pub mod serve;
pub mod update;

use std::path::PathBuf;

use tram::config;
use tram::store::{Store, StoreError};

#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// Where the database, blobs and keys live (device: /var/lib/tram).
    #[arg(long, env = "TRAM_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

pub const HEAP_TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands the allocator's free pages back to the system every `period`, for the long-running
/// server. glibc returns memory only from the top of each arena; what requests free in the
/// middle (the page cache evicting, a burst of large answers) stayed counted in RSS — a 30-minute
/// soak ended at 134 MB of which 33 MB was free heap (`malloc_trim` gave it back: 101 MB).
pub fn trim_heap_every(period: std::time::Duration) {
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

/// Runs `local` on the data directory's database or, while a server holds it, asks that server
/// over its control socket to run `op` with `args`. Returns (all good, what to print).
pub fn here_or_server(
    data_dir: &std::path::Path,
    op: &str,
    args: Vec<String>,
    local: impl FnOnce(Store) -> anyhow::Result<(bool, String)>,
) -> anyhow::Result<(bool, String)> {
    match open_store(data_dir) {
        Ok(store) => local(store),
        Err(tram::store::StoreError::InUse) => {
            let req = tram::control::Request {
                op: op.into(),
                to: PathBuf::new(),
                options: None,
                args,
            };
            let resp = tram::control::ask(data_dir, &req).map_err(|e| {
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

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the
/// future is first polled: a server stopped the moment it answers (systemd, a test) otherwise
/// died of the signal's default action and counted as a power cut. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        async move {
            let t = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let i = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = t => {},
                _ = i => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The database of `dir`, opened with every capability's tables and migrations.
pub fn open_store(dir: &std::path::Path) -> Result<Store, StoreError> {
    let store = Store::open(dir, &tram::app::schema::schema())?;
    seal_plain_ca(&store);
    Ok(store)
}

/// The start-up step of every command that opens the store: a plain school signing CA key left
/// by an earlier version is sealed (when a BGH signer exists) and its file destroyed; the
/// signature registers get the lines of files signed before they existed (học bạ, month
/// approvals), so `tram hocba verify` on an upgraded box never calls a genuine file minted.
/// Each is a no-op once done.
fn seal_plain_ca(store: &Store) {
    let now = jiff::Timestamp::now();
    if let Err(e) = tram::gradebook::hocba::ca::seal_plain_ca(store, now) {
        tracing::warn!(error = %e, "the plain school signing CA key was not sealed");
    }
    if let Err(e) = tram::gradebook::hocba::ca::drop_stale_wraps_now(store, now) {
        tracing::warn!(error = %e, "stale signing CA wraps not dropped");
    }
    if let Err(e) = tram::gradebook::hocba::fill_register(store, now) {
        tracing::warn!(error = %e, "học bạ signature register not filled");
    }
    if let Err(e) = tram::lessons::export::fill_approval_register(store, now) {
        tracing::warn!(error = %e, "approval signature register not filled");
    }
}

/// As [`open_store`], with redb's page cache capped at `cache_mb` MB, shared by a server's tasks.
pub fn open_shared(dir: &std::path::Path, cache_mb: u64) -> anyhow::Result<std::sync::Arc<Store>> {
    let store = Store::open_with_cache(dir, &tram::app::schema::schema(), cache_mb)?;
    seal_plain_ca(&store);
    Ok(std::sync::Arc::new(store))
}

/// Prints a check's report and exits 0 when it passed, 3 when it found a problem.
pub fn report(ok: bool, text: &str) -> std::process::ExitCode {
    print!("{text}");
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(3)
    }
}
