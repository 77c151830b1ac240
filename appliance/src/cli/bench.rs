//! The hidden benchmark helpers (bench/*.sh): fill a data directory, tally a restored box
//! against its hub, load a hub with many made-up schools.

use std::path::PathBuf;
use std::process::ExitCode;

use super::DataArgs;

#[derive(clap::Args)]
pub struct BenchFillArgs {
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
    /// Make the school this many teachers, each with a signing key (the demo PIN, `demo::DEMO_PIN`).
    #[arg(long, default_value_t = 0)]
    lesson_teachers: u64,
    /// Add this many lesson plans this month, waiting for the principal (plus a draft and a
    /// submitted plan per teacher).
    #[arg(long, default_value_t = 0)]
    lesson_plans: u64,
    /// Add this many relayed result changes (the relay benchmark).
    #[arg(long, default_value_t = 0)]
    relay_changes: u64,
}

#[derive(clap::Args)]
pub struct BenchTallyArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The hub's data directory.
    #[arg(long)]
    hub_data: PathBuf,
}

#[derive(clap::Args)]
pub struct BenchRelayHubArgs {
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
    /// At most this many schools sending at once (0: every school at once).
    #[arg(long, default_value_t = 0)]
    concurrency: usize,
    /// The hub's PostgreSQL (a hub on PostgreSQL): tokens are issued there, not by the socket.
    #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
    database_url: Option<String>,
}

pub fn fill(args: BenchFillArgs) -> anyhow::Result<ExitCode> {
    let BenchFillArgs {
        data,
        db_mb,
        files_mb,
        library_items,
        video_mb,
        lesson_teachers,
        lesson_plans,
        relay_changes,
    } = args;
    let store = super::open_store(&data.data_dir)?;
    tram::demo::bench_fill(&store, db_mb, files_mb)?;
    tram::demo::bench_library(&store, library_items, video_mb)?;
    tram::demo::bench_lessons(&store, lesson_teachers, lesson_plans)?;
    tram::demo::bench_relay(&store, relay_changes)?;
    Ok(ExitCode::SUCCESS)
}

pub fn tally(args: BenchTallyArgs) -> anyhow::Result<ExitCode> {
    let BenchTallyArgs { data, hub_data } = args;
    let store = super::open_store(&data.data_dir)?;
    let e = tram::relay::enrolment(&data.data_dir)
        .ok_or_else(|| anyhow::anyhow!("this box is not enrolled"))?;
    let hub = tram::district::RedbHub {
        store: std::sync::Arc::new(super::open_store(&hub_data)?),
    };
    let rows = tram::district::tally(&store, &hub, &e.school, &tram::relay::Privacy::default())?;
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

pub fn relay_hub(args: BenchRelayHubArgs) -> anyhow::Result<ExitCode> {
    let BenchRelayHubArgs {
        hub,
        hub_data,
        schools,
        batches,
        entries,
        concurrency,
        database_url,
    } = args;
    let pg = match &database_url {
        Some(url) => Some(tram::district::pg::PgHub::connect(url)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The running hub holds its database: its control socket issues the tokens.
    let issue_token = |code: &str, name: &str| {
        if let Some(pg) = &pg {
            return Ok(tram::district::token_text_in(pg, &hub_data, code, name)?);
        }
        let req = tram::control::Request {
            op: "district-token".into(),
            to: PathBuf::new(),
            options: None,
            args: vec![code.to_string(), name.to_string()],
        };
        tram::control::ask(&hub_data, &req)?
            .text
            .ok_or_else(|| anyhow::anyhow!("no token"))
    };
    let (mut lat, secs) = rt.block_on(tram::relay::bench_hub(
        &hub,
        issue_token,
        schools,
        batches,
        entries,
        concurrency,
    ))?;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{} batches ({} schools x {batches}, {entries} records each, {} at a time) in {secs:.1} s: {:.0} batches/s, {:.0} records/s, ack latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        schools,
        if concurrency == 0 {
            schools
        } else {
            concurrency
        },
        lat.len() as f64 / secs,
        lat.len() as f64 * entries as f64 / secs,
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    Ok(ExitCode::SUCCESS)
}
