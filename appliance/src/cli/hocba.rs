//! `tram hocba`: học bạ số — issue a signer's certificate from the school signing CA, sign a PDF
//! (PAdES, as an incremental update), verify every signature of a PDF.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tram::pki::{pades, signing};

use super::DataArgs;

#[derive(Subcommand)]
pub enum HocbaCmd {
    /// Issue a signing certificate for an account (made by the school signing CA, created on
    /// first use), its key sealed under the signer's PIN (TRAM_SIGNING_PIN, else read from the
    /// first line of standard input), which must pass the rule of a new PIN (below). The server
    /// must be stopped (it reads the database). `signer import` takes a licensed CA's PKCS#12
    /// instead.
    #[command(
        subcommand_negates_reqs = true,
        args_conflicts_with_subcommands = true,
        after_help = pin_help()
    )]
    Signer {
        #[command(subcommand)]
        import: Option<SignerCmd>,
        #[command(flatten)]
        data: DataArgs,
        /// The account's username.
        #[arg(long, required = true)]
        user: Option<String>,
        /// The role the certificate names, which the account must hold: hieu-truong (the
        /// principal), pho-hieu-truong (a vice principal) or gvcn (the homeroom teacher of a
        /// class).
        #[arg(long, required = true, value_parser = ["hieu-truong", "pho-hieu-truong", "gvcn"])]
        role: Option<String>,
        /// Replace the account's existing signing certificate and key (a forgotten PIN, a new
        /// device): recorded in the audit log. Without it an existing one is never replaced.
        #[arg(long)]
        replace: bool,
        /// The member of the Ban giám hiệu (username) who opens the school signing CA with her
        /// signing PIN (TRAM_APPROVER_PIN, else the next line of stdin after the new PIN):
        /// needed once the CA is sealed, i.e. for every certificate but the very first BGH one.
        /// Her wrong PINs count with the web's: while she is locked out, this is refused.
        #[arg(long)]
        by: Option<String>,
    },
    /// Sign PDFs as the account's certificate holder (PIN as for `signer`, asked once for all
    /// the files); each signature is appended, so earlier signatures stay valid.
    Sign {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        user: String,
        /// The PDFs to sign.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the signed PDF (one file).
        #[arg(long, conflicts_with = "out_dir", required_unless_present = "out_dir")]
        out: Option<PathBuf>,
        /// The folder to write the signed PDFs in, under their own names.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// The school signing CA: its state, renewal, recovery (safe while the server runs).
    #[command(subcommand)]
    Ca(CaCmd),
    /// The licensed roots a principal's imported certificate must chain to.
    #[command(subcommand)]
    Roots(RootsCmd),
    /// Write the signed học bạ of a class (the newest version of each student's, with every
    /// signature it carries) and manifest.json (file, student, version, SHA-256, signers) into
    /// a folder; while the server runs, it does the export.
    Export {
        #[command(flatten)]
        data: DataArgs,
        /// The class id (e.g. 2026-9a1).
        #[arg(long)]
        class: String,
        /// The folder to write into (made if missing).
        #[arg(long)]
        to: PathBuf,
    },
    /// Check every signature of a PDF: signer, role, chain to a trusted CA (--ca, else
    /// DATA_DIR/keys/signing-ca.crt and the licensed roots, `tram hocba roots list`), signing
    /// time, whether the signed bytes still match.
    /// Exits 0 VALID (every signature valid and in the school's signature register, the data
    /// as the school holds it), 3 INVALID (a signature fails or is not the school's, a stage is
    /// missing: forged, altered or incomplete), 4 SUPERSEDED (a newer signed version exists),
    /// 5 NOT CONFIRMED (the register was not checked: no box data directory), 6 OUTDATED
    /// (genuine, but the school's records changed after signing: to be signed again).
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// The trust anchor (PEM), instead of the data directory's: the school signing CA
        /// certificate; repeat it to trust a licensed root too.
        #[arg(long)]
        ca: Vec<PathBuf>,
        file: PathBuf,
    },
}

/// The school signing CA (`gradebook::hocba::ca`).
#[derive(Subcommand)]
pub enum CaCmd {
    /// The current CA, when it ends (a warning from 90 days before), the earlier CAs still
    /// trusted for verification, who holds it.
    Status {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Make a new school signing CA (new key and certificate, same name constraints), opened
    /// by a current holder's signing PIN (TRAM_APPROVER_PIN, else the first line of standard
    /// input) and wrapped for her and every BGH signer. The old CA stays trusted for what it
    /// signed, never issues again; every certificate of the school CA is re-issued for the same
    /// key at once. The hub gets the new CA through the relay.
    Renew {
        #[command(flatten)]
        data: DataArgs,
        /// The member of the Ban giám hiệu (username) holding the CA.
        #[arg(long)]
        by: String,
        /// Why (kept in the audit log); default "gia hạn".
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// When no holder can open the CA (the last one left, forgot her PIN, or the key is
    /// suspected stolen): school IT makes a new CA without any old PIN, for the principal (or a
    /// vice principal) named, whose new signing PIN is read from TRAM_SIGNING_PIN, else the
    /// first line of standard input. Audited with who and why.
    Recover {
        #[command(flatten)]
        data: DataArgs,
        /// The principal's username: her account must exist and be a current BGH member.
        #[arg(long)]
        by: String,
        /// Who asked and why (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// When the member named holds a certificate of another role (a vice principal who
        /// signs her class's học bạ as its homeroom teacher): replace it by a principal's or
        /// vice principal's one. Without it such a recovery is refused.
        #[arg(long)]
        replace_certificate: bool,
    },
}

/// The licensed roots (`pki::roots`): the national root built in, and those added here.
#[derive(Subcommand)]
pub enum RootsCmd {
    /// Add a root certificate (PEM or DER) to this data directory's licensed roots: a
    /// certificate a principal's PKCS#12 chains to is accepted only under a listed root, and
    /// signatures are trusted only to them. Run it on each school box and on the district hub
    /// (with the hub's --data-dir) so all three checkers agree. Check the fingerprint it prints
    /// against the publisher's (rootca.gov.vn) first. Safe while the server runs.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The root's certificate file.
        file: PathBuf,
    },
    /// List the licensed roots: name, SHA-256 fingerprint, validity, built in or added.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
pub enum SignerCmd {
    /// Import the principal's (or a vice principal's) certificate from a licensed CA's PKCS#12
    /// (.p12/.pfx) instead of one from the school signing CA. The file's password is read from
    /// TRAM_P12_PASSWORD, else the first line of standard input; the new PIN that seals the key
    /// from TRAM_SIGNING_PIN, else the next line. Nothing is stored unless every check passes.
    /// The server must be stopped.
    #[command(after_help = pin_help())]
    Import {
        #[command(flatten)]
        data: DataArgs,
        /// The account's username.
        #[arg(long)]
        account: String,
        /// The PKCS#12 file.
        #[arg(long)]
        p12: PathBuf,
        /// Import although the certificate names someone other than the account's full name.
        #[arg(long)]
        confirm_name: bool,
        /// Replace the account's existing signing certificate (recorded in the audit log).
        #[arg(long)]
        replace: bool,
    },
}

/// One secret: from `var`, else the next line of standard input.
fn secret(var: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(var) {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The rule of a new PIN and the CA holders' advice, in the words of the module that checks
/// it (`tram::pki::seal`): the `--help` of the commands that set one.
fn pin_help() -> String {
    format!(
        "{}\n{}",
        tram::pki::seal::pin_rule(true),
        tram::pki::seal::pin_rule_ca(true)
    )
}

/// Where [`secret`] took a PIN from, for a message about it: the variable when it is set,
/// else standard input — never a variable the person did not use (review r15 #7).
fn pin_source(var: &str) -> String {
    if std::env::var_os(var).is_some() {
        var.to_string()
    } else {
        "read from standard input".into()
    }
}

/// A new signing PIN from `var` (else the next line, with the rule and, for BGH — `head` —,
/// the CA holders' advice said on standard error first), refused in English when it breaks the
/// rule (`tram::pki::seal::check_new_pin`) before anything is made.
fn new_pin(var: &str, head: bool) -> anyhow::Result<String> {
    if std::env::var_os(var).is_none() {
        eprintln!("{}", tram::pki::seal::pin_rule(true));
        if head {
            eprintln!("{}", tram::pki::seal::pin_rule_ca(true));
        }
        eprintln!("New signing PIN ({var} not set), on the next line of standard input:");
    }
    let pin = secret(var)?;
    if head {
        tram::pki::seal::check_ca_pin(&pin)
    } else {
        tram::pki::seal::check_new_pin(&pin)
    }
    .map_err(|w| anyhow::anyhow!("the new PIN ({}): {}", pin_source(var), w.english()))?;
    Ok(pin)
}

/// An account's roles in the CLI's words (review r19 #8: not Rust's debug form).
fn roles_en(roles: &[tram::auth::Role]) -> String {
    use tram::auth::Role;
    let words: Vec<&str> = roles
        .iter()
        .map(|r| match r {
            Role::Admin => "school IT (admin)",
            Role::Principal => "principal",
            Role::VicePrincipal => "vice principal",
            Role::DeptHead => "head of department",
            Role::Teacher => "teacher",
            Role::DistrictAdmin => "district admin",
            Role::DistrictStaff => "district staff",
        })
        .collect();
    if words.is_empty() {
        "none".into()
    } else {
        words.join(", ")
    }
}

/// The lock of `account`'s signing PIN checks (`tram::auth::pin::guarded`, the web's count
/// too), in the CLI's words: the time it unlocks.
fn locked(account: &tram::auth::Account, l: tram::auth::pin::Locked) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        l.english(
            &account.username,
            jiff::Timestamp::now(),
            tram::school::time_zone()
        )
    )
}

/// `tram hocba signer import`: every check before anything is written.
fn import(
    data: DataArgs,
    account: String,
    p12: PathBuf,
    confirm_name: bool,
    replace: bool,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&p12).with_context(|| format!("reading {}", p12.display()))?;
    let store = super::open_store(&data.data_dir)?;
    let rx = store.read()?;
    let found = tram::auth::find_by_username(&rx, &account)?
        .with_context(|| format!("no account {account:?}"))?;
    drop(rx);
    // A public CA's certificate signs as the school's head: the principal or a vice principal.
    if tram::gradebook::hocba::head_role(&found.roles).is_none() {
        anyhow::bail!(
            "the account {account:?} is neither the principal nor a vice principal (its roles: {})",
            roles_en(&found.roles)
        );
    }
    if found.disabled {
        anyhow::bail!("the account {account:?} is disabled: it cannot hold a signing certificate");
    }
    let now = jiff::Timestamp::now();
    tram::gradebook::hocba::adopt_signer_files(&store, &data.data_dir, now)?;
    if !replace && tram::gradebook::hocba::signer(&store.read()?, &found.id)?.is_some() {
        anyhow::bail!(
            "{account:?} already has a signing certificate; --replace imports this one instead (its earlier signatures stay valid)"
        );
    }
    let password = secret("TRAM_P12_PASSWORD")?;
    let pin = new_pin("TRAM_SIGNING_PIN", true)?;
    // A holder of the sealed CA gives her current PIN too, so her new key gets its wrap.
    let current_pin =
        if replace && tram::gradebook::hocba::ca::holders(&store.read()?)?.contains(&found.id) {
            Some(secret("TRAM_CURRENT_PIN")?)
        } else {
            None
        };
    let req = tram::gradebook::hocba::P12Import {
        p12: &bytes,
        password: &password,
        pin: &pin,
        confirm_name,
        replace,
        current_pin: current_pin.as_deref(),
    };
    let actor = tram::store::Actor::system(now);
    let import = || tram::gradebook::hocba::import_p12(&store, &actor, &found, &req, now);
    // Her current PIN counts like any signing PIN; a file refused before it was looked at
    // gives the check back (the one guard, `tram::auth::pin::guarded`).
    let done = if current_pin.is_some() {
        tram::auth::pin::guarded(&store, &actor, &found.id, || Ok(()), import)
            .map_err(|l| locked(&found, l))?
    } else {
        import()
    };
    let rec = match done {
        Ok(rec) => rec,
        Err(tram::gradebook::hocba::HocbaError::Signing(signing::SigningError::WrongPin)) => {
            anyhow::bail!("wrong current signing PIN for {account:?} (TRAM_CURRENT_PIN)")
        }
        Err(tram::gradebook::hocba::HocbaError::P12(
            e @ tram::pki::p12::P12Error::NameDiffers { .. },
        )) => {
            anyhow::bail!("{} (--confirm-name)", e.english())
        }
        // The error's own text is the web page's Vietnamese.
        Err(tram::gradebook::hocba::HocbaError::P12(e)) => anyhow::bail!("{}", e.english()),
        Err(e) => return Err(e.into()),
    };
    let cert = hex::decode(&rec.cert)
        .ok()
        .and_then(|d| <x509_cert::Certificate as der::Decode>::from_der(&d).ok());
    let (name, issuer) = cert
        .map(|c| {
            (
                signing::subject_name_and_role(&c).0,
                c.tbs_certificate.issuer.to_string(),
            )
        })
        .unwrap_or_default();
    println!(
        "imported the signing certificate of {name} issued by {issuer} for {} ({}); its key is sealed under the new PIN",
        rec.full_name, rec.role
    );
    Ok(ExitCode::SUCCESS)
}

fn pin() -> anyhow::Result<String> {
    secret("TRAM_SIGNING_PIN")
}

fn roots(cmd: RootsCmd) -> anyhow::Result<ExitCode> {
    use tram::pki::roots;
    match cmd {
        RootsCmd::Add { data, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = roots::add(&data.data_dir, &bytes)?;
            println!(
                "licensed root: {} (SHA-256 {}); listed in {}",
                r.name,
                r.sha256,
                roots::added_path(&data.data_dir).display()
            );
        }
        RootsCmd::List { data } => {
            for r in roots::load(&data.data_dir) {
                let until = jiff::Timestamp::try_from(
                    r.cert.tbs_certificate.validity.not_after.to_system_time(),
                )
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
                println!(
                    "{} — SHA-256 {} — valid until {until} — {}",
                    r.name,
                    r.sha256,
                    if r.built_in { "built in" } else { "added" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `tram hocba ca …`: here, or through the running server's control socket.
fn ca_cmd(cmd: CaCmd) -> anyhow::Result<ExitCode> {
    let (data, args) = match cmd {
        CaCmd::Status { data } => (data, vec!["status".to_string()]),
        CaCmd::Renew { data, by, reason } => {
            let pin = secret("TRAM_APPROVER_PIN")?;
            (data, vec!["renew".into(), by, pin, reason])
        }
        CaCmd::Recover {
            data,
            by,
            reason,
            replace_certificate,
        } => {
            if reason.trim().is_empty() {
                anyhow::bail!("--reason is required: who asked for the recovery and why");
            }
            let pin = new_pin("TRAM_SIGNING_PIN", true)?;
            let replace = if replace_certificate { "replace" } else { "" };
            (
                data,
                vec!["recover".into(), by, pin, reason, replace.into()],
            )
        }
    };
    let (ok, text) = super::here_or_server(&data.data_dir, "hocba-ca", args.clone(), |store| {
        tram::gradebook::hocba::ca::command(&store, &args)
            .map(|t| (true, t))
            .map_err(|e| anyhow::anyhow!(e))
    })?;
    print!("{text}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn run(cmd: HocbaCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        HocbaCmd::Ca(cmd) => ca_cmd(cmd),
        HocbaCmd::Roots(cmd) => roots(cmd),
        HocbaCmd::Signer {
            import:
                Some(SignerCmd::Import {
                    data,
                    account,
                    p12,
                    confirm_name,
                    replace,
                }),
            ..
        } => import(data, account, p12, confirm_name, replace),
        HocbaCmd::Signer {
            import: None,
            data,
            user,
            role,
            replace,
            by,
        } => {
            let (Some(user), Some(role)) = (user, role) else {
                anyhow::bail!("--user and --role are needed");
            };
            use tram::gradebook::hocba::{self, HocbaError, ca};
            let store = super::open_store(&data.data_dir)?;
            let rx = store.read()?;
            tram::school::school_info(&rx)?
                .context("this box has no school yet (provision it first)")?;
            let principal = tram::school::principal_by_username(&rx, &user)?
                .with_context(|| format!("no account {user:?}"))?;
            let holder = match &by {
                Some(b) => Some(
                    tram::school::principal_by_username(&rx, b)?
                        .with_context(|| format!("no account {b:?} (--by)"))?,
                ),
                None => None,
            };
            let sealed = ca::ca_sealed(&rx)?;
            drop(rx);
            let account = principal.account.clone();
            if account.disabled {
                anyhow::bail!(
                    "the account {user:?} is disabled: it cannot hold a signing certificate"
                );
            }
            // The certificate says what the account is, never what the command line claims.
            let role = ca::role_for(&principal, Some(role.as_str())).map_err(|_| {
                anyhow::anyhow!(
                    "the account {user:?} does not hold the role {role} (its roles: {}; {})",
                    roles_en(&account.roles),
                    if principal.homeroom.is_empty() {
                        "homeroom teacher of no class".to_string()
                    } else {
                        format!("homeroom teacher of {}", principal.homeroom.join(", "))
                    }
                )
            })?;
            let now = jiff::Timestamp::now();
            hocba::adopt_signer_files(&store, &data.data_dir, now)?;
            let exists = hocba::signer(&store.read()?, &account.id)?.is_some();
            if exists && !replace {
                anyhow::bail!(
                    "{user:?} already has a signing certificate; --replace issues a new one (its earlier signatures stay valid, the old PIN stops working)"
                );
            }
            let actor = tram::store::Actor::system(now);
            let rec = match (sealed, holder) {
                // The very first BGH certificate: the CA is made (or the plain key of an
                // earlier version taken) and sealed under it.
                (false, _) => {
                    if !matches!(role, "Hiệu trưởng" | "Phó hiệu trưởng") {
                        anyhow::bail!(
                            "nobody holds the school signing CA yet: the first certificate is the principal's or a vice principal's (--role hieu-truong or pho-hieu-truong)"
                        );
                    }
                    ca::issue_first_head(
                        &store,
                        &actor,
                        &principal,
                        role,
                        &new_pin("TRAM_SIGNING_PIN", true)?,
                        replace,
                    )?
                }
                (true, None) => anyhow::bail!(
                    "the school signing CA is sealed: --by BGH_USER is needed, a principal or vice principal holding a signing certificate, with her signing PIN (TRAM_APPROVER_PIN)"
                ),
                (true, Some(holder)) => {
                    if holder.account.id == account.id {
                        anyhow::bail!(
                            "nobody issues their own certificate: --by names another member of the Ban giám hiệu"
                        );
                    }
                    let who = signing::SignerName {
                        account: &account.id,
                        full_name: &account.full_name,
                        role,
                    };
                    let req = signing::request_key(
                        &who,
                        &new_pin("TRAM_SIGNING_PIN", ca::needs_ca_pin(&principal, role))?,
                        now,
                    )?;
                    let holder_pin = secret("TRAM_APPROVER_PIN")?;
                    // The one PIN guard: a --by who is no BGH member, holds no certificate or
                    // no wrap is refused before her PIN is counted (review r17 #6).
                    let done = tram::auth::pin::guarded(
                        &store,
                        &actor,
                        &holder.account.id,
                        || ca::holder_precheck(&store.read()?, store.dir(), &holder),
                        || {
                            let done = ca::issue_by_holder(
                                &store,
                                &actor,
                                &holder,
                                &holder_pin,
                                &req,
                                replace,
                                false,
                            )?;
                            // Her key, opened: sealed again with today's stretch if need be,
                            // and whether her PIN is long enough for the CA learnt.
                            if let Some(rec) = hocba::signer(&store.read()?, &holder.account.id)? {
                                hocba::reseal_signer(&store, &actor, &rec, &holder_pin);
                            }
                            Ok(done)
                        },
                    )
                    .map_err(|l| locked(&holder.account, l))?;
                    match done {
                        Err(HocbaError::Signing(signing::SigningError::WrongPin)) => {
                            anyhow::bail!(
                                "wrong signing PIN for {:?} (--by)",
                                holder.account.username
                            )
                        }
                        Err(HocbaError::NotApprover) => anyhow::bail!(
                            "{:?} is not a principal or vice principal: only they open the school signing CA",
                            holder.account.username
                        ),
                        Err(HocbaError::CaHolderDropped) => anyhow::bail!(
                            "{:?} holds no wrap of the school signing CA: it was dropped when she stopped being a BGH member; --by another member gives it back",
                            holder.account.username
                        ),
                        Err(HocbaError::NotCaHolder) => anyhow::bail!(
                            "{:?} holds no wrap of the school signing CA yet (her certificate came after the CA was last opened): --by another member",
                            holder.account.username
                        ),
                        Err(HocbaError::Signing(signing::SigningError::NoSigner)) => anyhow::bail!(
                            "{:?} has no signing certificate, so cannot open the school signing CA",
                            holder.account.username
                        ),
                        other => other?,
                    }
                }
            };
            println!(
                "issued a signing certificate for {} ({}) by the school signing CA {}",
                rec.full_name,
                rec.role,
                signing::ca_cert_path(&data.data_dir).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        HocbaCmd::Sign {
            data,
            user,
            files,
            out,
            out_dir,
        } => {
            // Where each file goes, decided before the PIN is asked for.
            let targets: Vec<(PathBuf, PathBuf)> = match (out, out_dir) {
                (Some(out), _) if files.len() == 1 => vec![(files[0].clone(), out)],
                (Some(_), _) => anyhow::bail!("--out takes one file; use --out-dir for several"),
                (None, Some(dir)) => files
                    .iter()
                    .map(|f| {
                        let name = f
                            .file_name()
                            .with_context(|| format!("{} is not a file", f.display()))?;
                        Ok((f.clone(), dir.join(name)))
                    })
                    .collect::<anyhow::Result<_>>()?,
                (None, None) => anyhow::bail!("--out FILE or --out-dir DIR is needed"),
            };
            // Each file read once: what is checked is what is signed.
            let inputs: Vec<Vec<u8>> = targets
                .iter()
                .map(|(file, _)| {
                    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
                })
                .collect::<anyhow::Result<_>>()?;
            // The store opened once, for the checks, the PIN's count and the register.
            let store = super::open_store(&data.data_dir)?;
            tram::gradebook::hocba::adopt_signer_files(
                &store,
                &data.data_dir,
                jiff::Timestamp::now(),
            )?;
            let rx = store.read()?;
            let account = tram::auth::find_by_username(&rx, &user)?
                .with_context(|| format!("no account {user:?}"))?;
            let rec = tram::gradebook::hocba::signer(&rx, &account.id)?;
            drop(rx);
            if account.disabled {
                anyhow::bail!("the account {user:?} is disabled: it cannot sign");
            }
            let ca = signing::ca_cert(&data.data_dir)?
                .context("this box has no school signing CA yet (tram hocba signer makes it)")?;
            let rec = rec.with_context(|| {
                format!(
                    "the account {user:?} has no signing certificate: ask for one on the signer page (Chứng thư ký học bạ, /grades/hocba-signer), or make one with tram hocba signer"
                )
            })?;
            // A certificate the current CA did not issue signs nothing: said before the PIN is
            // asked for, naming the retired CA that did (review r19 #8).
            match tram::gradebook::hocba::signer_issuer(&data.data_dir, &rec)? {
                tram::gradebook::hocba::Issuer::Current => {}
                tram::gradebook::hocba::Issuer::Retired(n) => anyhow::bail!(
                    "the signing certificate of {user:?} was issued by a retired school CA ({n}) and signs nothing any more: ask for a new one on the signer page (Chứng thư ký học bạ, /grades/hocba-signer)"
                ),
                tram::gradebook::hocba::Issuer::Unknown => anyhow::bail!(
                    "the signing certificate of {user:?} was not issued by any of this school's signing CAs: ask for a new one on the signer page (Chứng thư ký học bạ, /grades/hocba-signer)"
                ),
            }
            // An ended certificate signs nothing: said before the PIN is asked for, with the
            // way out (review r17 #3).
            if let Some(end) = tram::gradebook::hocba::signer_cert_end(&rec)
                && end < jiff::Timestamp::now()
            {
                anyhow::bail!(
                    "the signing certificate of {user:?} expired on {}: ask for a new one on the signer page (Chứng thư ký học bạ, /grades/hocba-signer); once a BGH member approves it, sign with the PIN chosen in the request",
                    tram::gradebook::hocba::day_of(end)
                );
            }
            // A học bạ is signed by whom, and when, the class page would let sign it: said
            // for each file before the PIN is asked for (review r22 #1).
            {
                let rx = store.read()?;
                let p = tram::school::principal_for(&rx, account.clone())?;
                for ((file, _), pdf) in targets.iter().zip(&inputs) {
                    tram::gradebook::hocba::check_hand_signing(
                        &rx,
                        &p,
                        pdf,
                        jiff::Timestamp::now(),
                    )
                    .map_err(|e| hand_refusal(file, &user, e))?;
                }
            }
            let pin = pin()?;
            let actor = tram::store::Actor::system(jiff::Timestamp::now());
            let opened = tram::auth::pin::guarded(
                &store,
                &actor,
                &account.id,
                || Ok(()),
                || signing::unlock(&rec, &pin).map_err(tram::gradebook::hocba::HocbaError::Signing),
            )
            .map_err(|l| locked(&account, l))?;
            let signer = match opened {
                Err(tram::gradebook::hocba::HocbaError::Signing(
                    signing::SigningError::WrongPin,
                )) => {
                    anyhow::bail!(
                        "wrong signing PIN for {user:?} ({})",
                        pin_source("TRAM_SIGNING_PIN")
                    )
                }
                other => other?,
            };
            tram::gradebook::hocba::reseal_signer(&store, &actor, &rec, &pin);
            let mut signed_files = Vec::with_capacity(targets.len());
            for ((file, _), pdf) in targets.iter().zip(&inputs) {
                signed_files.push(
                    pades::sign(pdf, &signer, &ca, jiff::Timestamp::now())
                        .with_context(|| format!("signing {}", file.display()))?,
                );
            }
            // The box made these signatures: into its register before any file is written, so
            // none it hands out is unknown to its own verify.
            let registered = tram::gradebook::hocba::register_signed_by_hand(
                &store,
                &tram::store::Actor {
                    id: account.id.clone(),
                    now: jiff::Timestamp::now(),
                },
                &rec.role,
                &signed_files,
            )?;
            drop(store);
            for ((_, out), signed) in targets.iter().zip(&signed_files) {
                tram::config::write_atomic(out, signed)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            println!(
                "signed {} file(s) as {} ({})",
                targets.len(),
                rec.full_name,
                rec.role
            );
            if registered < targets.len() {
                println!(
                    "{} of them carry no học bạ data this box reads: signed, but not in the school's học bạ register — `tram hocba verify` calls such a file no học bạ of the school",
                    targets.len() - registered
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        HocbaCmd::Export { data, class, to } => {
            // The server writes the files when it holds the database: give it a full path.
            let to =
                std::path::absolute(&to).with_context(|| format!("the folder {}", to.display()))?;
            let (ok, text) = super::here_or_server(
                &data.data_dir,
                "hocba-export",
                vec![class.clone(), to.display().to_string()],
                |store| {
                    Ok((
                        true,
                        tram::gradebook::hocba::export_to(&store, &class, &to)?,
                    ))
                },
            )?;
            println!("{}", text.trim_end());
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        HocbaCmd::Verify { data, ca, file } => {
            let pdf =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let ca = ca
                .iter()
                .map(|p| {
                    std::path::absolute(p).with_context(|| format!("the file {}", p.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let read_anchors = || -> anyhow::Result<Vec<x509_cert::Certificate>> {
                ca.iter()
                    .map(|p| {
                        let pem = std::fs::read_to_string(p)
                            .with_context(|| format!("reading the trust anchor {}", p.display()))?;
                        signing::cert_from_pem(&pem)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
                    })
                    .collect()
            };
            // The file is verified once, with the box's records: the signatures (against the
            // anchors of --ca, else the box's — the school signing CA and the licensed roots,
            // as its verify page), the signature register (a signature the box never made is
            // not the school's, however well it chains), the two stages and the embedded data
            // — from the database, opened once, or from the running server that holds it.
            let abs = std::path::absolute(&file)
                .with_context(|| format!("the file {}", file.display()))?;
            let name = file.display().to_string();
            // Only a box's own data directory has records to compare with: without one (no
            // --data-dir, run inside an archive folder) nothing is opened — let alone made —
            // and the report says the register was not checked, and why.
            let db = data.data_dir.join("tram.redb");
            let without = if !db.exists() {
                Some(format!(
                    "no box database at {}: the signatures were checked against the trust anchors alone, without the school's signature register or records",
                    data.data_dir.display()
                ))
            } else if !ca.is_empty() && !signing::ca_cert_path(&data.data_dir).exists() {
                Some(format!(
                    "the box at {} has no school signing CA, so no signature register to compare with: the signatures were checked against --ca alone",
                    data.data_dir.display()
                ))
            } else {
                None
            };
            if without.is_some() && ca.is_empty() {
                anyhow::bail!(
                    "no --ca given and no school signing CA at {}: give the school signing CA's certificate with --ca (in a records archive: chung-thu/ca-ky-so-cua-truong.crt)",
                    data.data_dir.display()
                );
            }
            let checked = match without {
                Some(why) => Err(anyhow::anyhow!(why)),
                None => super::here_or_server(
                    &data.data_dir,
                    "hocba-verify",
                    std::iter::once(abs.display().to_string())
                        .chain(ca.iter().map(|p| p.display().to_string()))
                        .collect(),
                    |store| {
                        let anchors = if ca.is_empty() {
                            None
                        } else {
                            Some(read_anchors()?)
                        };
                        tram::gradebook::hocba::verify_text(
                            &store.read()?,
                            &data.data_dir,
                            &name,
                            &pdf,
                            anchors,
                        )
                        .map_err(anyhow::Error::msg)
                    },
                ),
            };
            use tram::gradebook::hocba::Verdict;
            let verdict = match checked {
                Ok((_, text)) => {
                    print!("{text}");
                    Verdict::of_report(&text)
                }
                // No records to compare with: the signatures against the anchors alone, the
                // stages from the certificates' roles.
                Err(e) => {
                    let anchors: Vec<x509_cert::Certificate> = if ca.is_empty() {
                        let path = signing::ca_cert_path(&data.data_dir);
                        let pem = std::fs::read_to_string(&path).with_context(|| {
                            format!("reading the trust anchor {}", path.display())
                        })?;
                        let school = signing::cert_from_pem(&pem)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                        tram::gradebook::hocba::trust_anchors(&data.data_dir, school)
                    } else {
                        read_anchors()?
                    };
                    let mut reports = match pades::verify_anchored(&pdf, &anchors) {
                        Ok(r) => r,
                        Err(e) => {
                            println!("{name}: {e}\n{}", Verdict::Invalid.line());
                            return Ok(ExitCode::from(3));
                        }
                    };
                    // Among the anchors, each school CA another of the same school replaced
                    // has a cut-off: what it signed after that is flagged — known only when the
                    // newer CA's file is given too (README).
                    tram::gradebook::hocba::flag_retired(&mut reports, &anchors);
                    // ... and unknown when the CA that replaced the signature's is missing from
                    // --ca while a later one is given: said, never passed in silence (review
                    // r19 #10).
                    let gaps = signing::missing_successors(&anchors);
                    let mut cut_off_unknown = Vec::new();
                    for (i, r) in reports.iter().enumerate() {
                        if let Some(at) = tram::gradebook::hocba::school_ca_of(&anchors, r)
                            && let (c, Some(next)) = (&anchors[at], &gaps[at])
                        {
                            cut_off_unknown.push(format!(
                                "cut-off: NOT CHECKED for signature {}: it was made under the school signing CA ({}), and --ca gives a later CA of the school but not the one that replaced it ({next}): when CA ({}) was retired is unknown; give every numbered CA file (ca-ky-so-cua-truong-N.crt)",
                                i + 1,
                                signing::ca_generation(c),
                                signing::ca_generation(c),
                            ));
                        }
                    }
                    let mut ok = !reports.is_empty();
                    if reports.is_empty() {
                        println!("{name}: no signature");
                    }
                    for (i, r) in reports.iter().enumerate() {
                        let cx = tram::gradebook::hocba::SignatureContext {
                            later_signatures: i + 1 < reports.len(),
                            ..Default::default()
                        };
                        let (lines, fine) = tram::gradebook::hocba::signature_lines(i, r, &cx);
                        ok &= fine;
                        print!("{lines}");
                    }
                    use tram::gradebook::hocba::{Stage, stage_findings};
                    // A month's approval (its data says so) has no học bạ stages.
                    match tram::gradebook::hocba::approval_data(&pdf).ok().flatten() {
                        Some((month, version)) => println!(
                            "kind: lesson-plan approval of {month} (version {version}), as the file says: not a học bạ"
                        ),
                        None if !ok => {
                            println!("stages: not checked: the file fails a check above")
                        }
                        None => {
                            let stages: Vec<_> = reports
                                .iter()
                                .map(|r| r.role.as_deref().and_then(Stage::of_role))
                                .collect();
                            for f in stage_findings(&stages) {
                                ok = false;
                                println!("stages: INCOMPLETE: {}", f.en);
                            }
                        }
                    }
                    for l in &cut_off_unknown {
                        println!("{l}");
                    }
                    println!("register: not checked ({e:#})");
                    // Signatures that hold against the anchors alone are not yet the school's:
                    // a certificate made with a copied CA key chains as well, and only the
                    // school's signature register tells them apart (review r17 #1).
                    if ok {
                        println!(
                            "=> NOT CONFIRMED (the signatures hold against the trust anchors, but the school's signature register was not checked: check it on the school's box with --data-dir, or at the district hub with tram district verify-hocba)"
                        );
                        Verdict::NotConfirmed
                    } else {
                        println!("{}", Verdict::Invalid.line());
                        Verdict::Invalid
                    }
                }
            };
            Ok(ExitCode::from(verdict.exit_code()))
        }
    }
}

/// Why `tram hocba sign` refuses a học bạ, in English (`HocbaError::en`: the CLI's language;
/// the page's reasons are Vietnamese).
fn hand_refusal(
    file: &std::path::Path,
    user: &str,
    e: tram::gradebook::hocba::HocbaError,
) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a học bạ and cannot be signed by {user:?} now: {}. Sign học bạ on the class's page (Học bạ số), which applies the same rules.",
        file.display(),
        e.en()
    )
}
