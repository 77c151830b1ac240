//! School IT's tools over the data: the audit chain (`tram audit verify`), a bulk library
//! import (`tram library import`) and a temporary password (`tram user reset-password`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tram::auth;

use super::{DataArgs, here_or_server};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the whole hash chain; exits non-zero and names the first broken link if any.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
pub enum LibraryCmd {
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
pub enum UserCmd {
    /// Set a new temporary password for USERNAME and print it (must be changed at next login).
    ResetPassword {
        username: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub fn audit(cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    let AuditCmd::Verify { data } = cmd;
    // Works on a live box too: the running server walks the chain for it.
    let (ok, text) = here_or_server(&data.data_dir, "audit-verify", vec![], |store| {
        Ok(store.verify_audit_text()?)
    })?;
    Ok(super::report(ok, &text))
}

pub fn library(cmd: LibraryCmd) -> anyhow::Result<ExitCode> {
    let LibraryCmd::Import {
        data,
        folder,
        sheet,
        commit,
        user,
    } = cmd;
    let store = super::open_store(&data.data_dir)?;
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

pub fn user(cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let UserCmd::ResetPassword { username, data } = cmd;
    let store = super::open_store(&data.data_dir)?;
    let acc = auth::find_by_username(&store.read()?, &username)?
        .ok_or_else(|| anyhow::anyhow!("no account named {username:?}"))?;
    let temp = auth::temporary_password();
    let actor = tram::store::Actor {
        id: "cli".into(),
        now: jiff::Timestamp::now(),
    };
    auth::admin_reset_password(&store, &actor, &acc.id, &temp)?;
    println!("temporary password for {username}: {temp}");
    println!("(it must be changed at the next login)");
    Ok(ExitCode::SUCCESS)
}
