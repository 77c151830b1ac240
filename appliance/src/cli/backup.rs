//! `tram backup …` (make one now — by the running server if there is one —, verify a target,
//! list it, print the key) and `tram restore`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use tram::config;

use super::DataArgs;

#[derive(clap::Args, Clone)]
pub struct KeyArgs {
    /// The backup key file (a copy of DATA_DIR/keys/backup.key, printed by `tram backup key`).
    /// Or set TRAM_BACKUP_KEY to the key itself (AGE-SECRET-KEY-1…).
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum BackupCmd {
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

#[derive(clap::Args)]
pub struct RestoreArgs {
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
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let RestoreArgs {
        from,
        data_dir,
        key,
        backup,
        old_data_dir,
    } = args;
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
        "  {} records, audit chain intact ({} events), {} files ({})",
        c.records,
        c.audit_events,
        c.blobs,
        tram::text::human_size_en(c.bytes)
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

pub fn run(cmd: BackupCmd) -> anyhow::Result<ExitCode> {
    use tram::backup::{self, BackupKey, Kind};
    use tram::control;
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
            let report = match super::open_store(&data.data_dir) {
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
            println!("{}", describe(&report));
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
                "{} backups, {} stored files ({}) checked",
                r.backups,
                r.objects,
                tram::text::human_size_en(r.stored_bytes)
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
                    "{}  {}  schema {}  {} records  {} files  {} new",
                    m.id,
                    m.created
                        .to_zoned(tram::school::time_zone())
                        .strftime("%Y-%m-%d %H:%M"),
                    m.schema_version,
                    m.records,
                    m.blobs.len(),
                    // "0.0 MB" said nothing of a small backup's few KB.
                    tram::text::human_size_en(m.new_bytes)
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

/// Prints the same summary whether the CLI or the server made the backup.
fn describe(r: &tram::backup::Report) -> String {
    let mut s = format!(
        "backup {} written to {}\n  database: {} records{}\n  files: {} ({} new objects, {} written)\n  took {:.1} s",
        r.id,
        r.target.display(),
        r.records,
        if r.database_changed {
            ""
        } else {
            " (unchanged, reused)"
        },
        r.blobs,
        r.new_objects,
        tram::text::human_size_en(r.new_bytes),
        r.seconds
    );
    if r.pruned_backups > 0 {
        s += &format!(
            "\n  retention removed {} old backups ({} files no longer needed)",
            r.pruned_backups, r.pruned_objects
        );
    }
    if let Some(v) = &r.verified {
        s += &format!(
            "\n  restore check: ok ({} audit events verify, {} files decrypt to their hashes)",
            v.audit_events, v.blobs
        );
    }
    s
}
