//! `tram district …`: the hub's server and the staff commands (publish, key reset, courier
//! import, enrolment tokens), each of which asks the running hub through its control socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use std::sync::Arc;

use tram::{auth, logging, store::Store};

use super::{DataArgs, HEAP_TRIM_PERIOD, here_or_server, shutdown_signal, trim_heap_every};

#[derive(Subcommand)]
pub enum DistrictCmd {
    /// Run the hub (same binary, its own data directory).
    Serve {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, env = "TRAM_LISTEN", default_value = "127.0.0.1:9443")]
        listen: SocketAddr,
        /// Plain HTTP (tests, or behind a TLS-terminating proxy).
        #[arg(long)]
        http_only: bool,
        /// Address of the plain-HTTP certificate page (the CA to install, its fingerprint, the
        /// hub's addresses) and the redirect to HTTPS, as a school box serves. On a LAN:
        /// 0.0.0.0:80. None by default; ignored with --http-only.
        #[arg(long, env = "TRAM_HUB_BOOTSTRAP_LISTEN")]
        bootstrap_listen: Option<SocketAddr>,
        #[arg(long)]
        journald: bool,
        /// Keep the relayed data in PostgreSQL (postgres://user:pass@host/db) instead of the data
        /// directory's database: for a province, or several hub processes on one database.
        #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
        database_url: Option<String>,
        /// The database's own page cache, in MB. A district server has the memory for the
        /// 64 MB its 100-school load was measured with.
        #[arg(long, env = "TRAM_DB_CACHE_MB", default_value_t = 64,
              value_parser = clap::value_parser!(u64).range(1..=4096))]
        db_cache_mb: u64,
        /// Days without contact after which the staff page warns about a school.
        #[arg(long, env = "TRAM_HUB_SILENT_DAYS", default_value_t = 7,
              value_parser = clap::value_parser!(i64).range(1..=365))]
        silent_days: i64,
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
        /// Keep the relayed data in PostgreSQL (postgres://user:pass@host/db) instead of the data
        /// directory's database: for a province, or several hub processes on one database.
        #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long)]
        from: PathBuf,
    },
    /// Check a signed học bạ PDF against every enrolled school's signing CA: the school it
    /// chains to, each signature, the school's relayed signature register and records. Exits 0
    /// VALID, 3 INVALID (a signature fails or is not the school's, a stage is missing, or an
    /// unknown school), 4 SUPERSEDED (the school signed a newer version), 5 NOT CONFIRMED (the
    /// school's register has not arrived yet), 6 OUTDATED (genuine, but the school's relayed
    /// records changed after signing: to be signed again). Works while the hub runs.
    VerifyHocba {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
        database_url: Option<String>,
        file: PathBuf,
    },
    /// Check a school's records archive (`tram records export`'s folder or the admin's ZIP):
    /// its manifest must be signed by the device key this hub enrolled for the school it
    /// names, then every file and signature as `tram lessons verify --export` checks them.
    /// Exit 0 valid, 3 otherwise. Works while the hub runs.
    VerifyExport {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
        database_url: Option<String>,
        /// The archive: a folder or a ZIP.
        export: PathBuf,
    },
    /// List the enrolled schools with the fingerprint of each box's key (what signs its
    /// records archive: compare it with the one an archive shows). Works while the hub runs.
    Schools {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Issue a one-time enrolment token for a school; prints it (and the certificate pin the
    /// school needs over HTTPS). Works while the hub runs.
    Token {
        #[command(flatten)]
        data: DataArgs,
        /// Keep the relayed data in PostgreSQL (postgres://user:pass@host/db) instead of the data
        /// directory's database: for a province, or several hub processes on one database.
        #[arg(long, env = "TRAM_HUB_DATABASE_URL")]
        database_url: Option<String>,
        /// Mã trường.
        #[arg(long)]
        school: String,
        /// The school's name as district staff know it.
        #[arg(long, default_value = "")]
        name: String,
        /// Days the token stays good; after that it enrols nothing.
        #[arg(long, default_value_t = tram::district::TOKEN_VALID_DAYS,
              value_parser = clap::value_parser!(i64).range(1..=365))]
        valid_days: i64,
    },
}

pub fn run(cmd: DistrictCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DistrictCmd::Serve {
            data,
            listen,
            http_only,
            bootstrap_listen,
            journald,
            database_url,
            db_cache_mb,
            silent_days,
        } => {
            logging::init(journald);
            // The database first: a hub that cannot reach it must not start half-way.
            let storage = match &database_url {
                Some(url) => Some(postgres_hub(url)? as Arc<dyn tram::district::HubStorage>),
                None => None,
            };
            let store = super::open_shared(&data.data_dir, db_cache_mb)?;
            mark_postgres(&data.data_dir, database_url.is_some())?;
            hub_admin(&store)?;
            trim_heap_every(HEAP_TRIM_PERIOD);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let s2 = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = tram::control::serve(s2, Default::default()).await {
                        tracing::warn!(error = %e, "control socket unavailable");
                    }
                });
                tram::app::hub::serve(
                    store,
                    storage,
                    tram::app::hub::Options {
                        listen,
                        bootstrap_listen,
                        http_only,
                        silent_days,
                    },
                    shutdown_signal(),
                )
                .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::PublishUpdate {
            data,
            bundle,
            release_key,
        } => {
            let bundle = std::path::absolute(&bundle)?;
            let key = std::path::absolute(
                release_key.unwrap_or_else(|| tram::district::release_key_path(&data.data_dir)),
            )?;
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
        DistrictCmd::Import {
            data,
            from,
            database_url,
        } => {
            let from = std::path::absolute(&from)?;
            not_on_postgres(&data.data_dir, &database_url)?;
            // On PostgreSQL the CLI stores the batches itself: the database takes any number
            // of writers, the data directory gives only the courier key.
            let (_, text) = match database_url {
                Some(url) => {
                    let lines =
                        tram::district::import_into(&*postgres_hub(&url)?, &data.data_dir, &from)?;
                    (true, lines.join("\n") + "\n")
                }
                None => here_or_server(
                    &data.data_dir,
                    "district-import",
                    vec![from.display().to_string()],
                    |store| {
                        let lines = tram::district::import(&Arc::new(store), &from)?;
                        Ok((true, lines.join("\n") + "\n"))
                    },
                )?,
            };
            print!("{text}");
            // Exit 0 only when every file is stored (now or before); 3 when any was refused.
            if text.lines().any(|l| l.contains("REJECTED")) {
                let n = text.lines().filter(|l| l.contains("REJECTED")).count();
                eprintln!("{n} file(s) refused: see above");
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        DistrictCmd::VerifyHocba {
            data,
            database_url,
            file,
        } => {
            let file = std::path::absolute(&file)?;
            not_on_postgres(&data.data_dir, &database_url)?;
            let text = match database_url {
                Some(url) => {
                    tram::district::verify_hocba_text(&*postgres_hub(&url)?, &data.data_dir, &file)
                }
                None => {
                    here_or_server(
                        &data.data_dir,
                        "district-verify-hocba",
                        vec![file.display().to_string()],
                        |store| {
                            let dir = store.dir().to_path_buf();
                            let hub = tram::district::RedbHub {
                                store: Arc::new(store),
                            };
                            Ok((true, tram::district::verify_hocba_text(&hub, &dir, &file)))
                        },
                    )?
                    .1
                }
            };
            print!("{text}");
            // The one verdict's exit code, as `tram hocba verify`'s: 0 valid, 3 invalid (or
            // not checked), 4 superseded, 5 not confirmed.
            Ok(ExitCode::from(
                tram::gradebook::hocba::Verdict::of_report(&text).exit_code(),
            ))
        }
        DistrictCmd::VerifyExport {
            data,
            database_url,
            export,
        } => {
            let export = std::path::absolute(&export)?;
            not_on_postgres(&data.data_dir, &database_url)?;
            let (ok, text) = match database_url {
                Some(url) => tram::app::records::verify_for_hub(&*postgres_hub(&url)?, &export),
                None => here_or_server(
                    &data.data_dir,
                    "district-verify-export",
                    vec![export.display().to_string()],
                    |store| {
                        let hub = tram::district::RedbHub {
                            store: Arc::new(store),
                        };
                        Ok(tram::app::records::verify_for_hub(&hub, &export))
                    },
                )?,
            };
            Ok(super::report(ok, &text))
        }
        DistrictCmd::Schools { data, database_url } => {
            not_on_postgres(&data.data_dir, &database_url)?;
            let text = match database_url {
                Some(url) => tram::district::schools_text(&*postgres_hub(&url)?)?,
                None => {
                    here_or_server(&data.data_dir, "district-schools", vec![], |store| {
                        let hub = tram::district::RedbHub {
                            store: Arc::new(store),
                        };
                        Ok((true, tram::district::schools_text(&hub)?))
                    })?
                    .1
                }
            };
            print!("{text}");
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
        DistrictCmd::Token {
            data,
            school,
            name,
            database_url,
            valid_days,
        } => {
            not_on_postgres(&data.data_dir, &database_url)?;
            if let Some(url) = database_url {
                let text = tram::district::token_text_for(
                    &*postgres_hub(&url)?,
                    &data.data_dir,
                    &school,
                    &name,
                    valid_days,
                )?;
                print!("{text}");
                return Ok(ExitCode::SUCCESS);
            }
            let (_, text) = here_or_server(
                &data.data_dir,
                "district-token",
                vec![school.clone(), name.clone(), valid_days.to_string()],
                |store| {
                    Ok((
                        true,
                        tram::district::token_text(&Arc::new(store), &school, &name, valid_days)?,
                    ))
                },
            )?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Marks a data directory whose hub keeps relayed data in PostgreSQL (removed when it is served
/// on redb again): the commands that write relayed data refuse to write them to the data
/// directory's redb, where the hub would never read them.
const ON_POSTGRES: &str = "hub-on-postgresql";

fn mark_postgres(data_dir: &std::path::Path, on: bool) -> anyhow::Result<()> {
    let mark = data_dir.join(ON_POSTGRES);
    if on {
        std::fs::write(
            &mark,
            "this hub keeps relayed data in PostgreSQL (tram district serve --database-url)\n",
        )?;
    } else if mark.exists() {
        std::fs::remove_file(&mark)?;
    }
    Ok(())
}

fn not_on_postgres(data_dir: &std::path::Path, url: &Option<String>) -> anyhow::Result<()> {
    if url.is_none() && data_dir.join(ON_POSTGRES).exists() {
        anyhow::bail!(
            "the hub of {} keeps its relayed data in PostgreSQL: pass --database-url (or TRAM_HUB_DATABASE_URL)",
            data_dir.display()
        );
    }
    Ok(())
}

/// The hub's PostgreSQL storage, or an error naming the database (not its password).
fn postgres_hub(url: &str) -> anyhow::Result<Arc<tram::district::pg::PgHub>> {
    let shown = url.rsplit_once('@').map_or(url, |(_, host)| host);
    tram::district::pg::PgHub::connect(url)
        .map(Arc::new)
        .map_err(|e| anyhow::anyhow!("cannot use the hub's PostgreSQL database at {shown}: {e}"))
}

/// The hub's first staff account (admin), with TRAM_ADMIN_PASSWORD or a printed password.
fn hub_admin(store: &Store) -> anyhow::Result<()> {
    if !auth::list_accounts(&store.read()?)?.is_empty() {
        return Ok(());
    }
    let (password, generated) = match std::env::var("TRAM_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (auth::temporary_password(), true),
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
                roles: vec![auth::Role::DistrictAdmin],
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
