//! The local control socket (`DATA_DIR/control.sock`, mode 0600): while `tram serve` (or
//! `tram district serve`) holds the database, the CLI asks the server instead of opening the
//! file itself — a backup, lessons or audit verification, relay status and export, the support
//! bundle, the district's tokens, imports and publications. It sits above the capabilities and
//! dispatches to each; none of them knows it. One JSON request line, one JSON response line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backup::{Options, Report};
use crate::store::Store;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// "backup" or "lessons-verify".
    pub op: String,
    #[serde(default)]
    pub to: PathBuf,
    #[serde(default)]
    pub options: Option<Options>,
    /// Arguments of other operations (district-token: school code, name).
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub error: Option<String>,
    pub report: Option<Report>,
    /// What the CLI prints, for operations other than a backup.
    #[serde(default)]
    pub text: Option<String>,
}

/// Serves the socket for the life of the server.
pub async fn serve(store: Arc<Store>, relay: crate::relay::Budget) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let path = socket_path(store.dir());
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let store = store.clone();
        let relay = relay.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut r = tokio::io::BufReader::new(r);
            if r.read_line(&mut line).await.is_err() {
                return;
            }
            let resp = match serde_json::from_str::<Request>(&line) {
                Ok(req) if req.op == "backup" => {
                    tokio::task::spawn_blocking(move || answer(&store, req))
                        .await
                        .unwrap_or_else(|e| fail(format!("backup task failed: {e}")))
                }
                Ok(req) if req.op == "lessons-verify" || req.op == "audit-verify" => {
                    tokio::task::spawn_blocking(move || {
                        let (ok, text) = if req.op == "audit-verify" {
                            store.verify_audit_text()?
                        } else {
                            crate::lessons::verify_text(&store)?
                        };
                        Ok::<_, crate::store::StoreError>(Response {
                            ok,
                            error: None,
                            report: None,
                            text: Some(text),
                        })
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .unwrap_or_else(|e| fail(format!("verification failed: {e}")))
                }
                Ok(req)
                    if matches!(
                        req.op.as_str(),
                        "district-token"
                            | "relay-status"
                            | "relay-export"
                            | "district-import"
                            | "support-bundle"
                            | "district-publish"
                            | "district-publish-library"
                            | "district-key-reset"
                            | "hocba-export"
                            | "hocba-verify"
                            | "hocba-ca"
                            | "records-export"
                            | "district-verify-hocba"
                            | "district-verify-export"
                            | "district-schools"
                    ) =>
                {
                    tokio::task::spawn_blocking(move || {
                        let arg = |i: usize| req.args.get(i).cloned().unwrap_or_default();
                        let mut valid = true;
                        let text = match req.op.as_str() {
                            "relay-status" => {
                                serde_json::to_string_pretty(&crate::relay::status(&store))
                                    .map_err(|e| e.to_string())
                            }
                            "relay-export" => crate::relay::export_text(
                                &store,
                                std::path::Path::new(&arg(0)),
                                &relay,
                            )
                            .map_err(|e| e.to_string()),
                            "support-bundle" => crate::device::write_support_bundle(
                                &store,
                                std::path::Path::new(&arg(0)),
                            )
                            .map(|p| p.display().to_string())
                            .map_err(|e| e.to_string()),
                            "district-publish" => crate::district::publish_update(
                                &store,
                                std::path::Path::new(&arg(0)),
                                std::path::Path::new(&arg(1)),
                                jiff::Timestamp::now(),
                            )
                            .map(|p| p.line()),
                            "district-publish-library" => {
                                serde_json::from_str::<crate::district::SharedItem>(&arg(1))
                                    .map_err(|e| e.to_string())
                                    .and_then(|item| {
                                        crate::district::publish_library(
                                            &store,
                                            std::path::Path::new(&arg(0)),
                                            item,
                                            jiff::Timestamp::now(),
                                        )
                                    })
                                    .map(|p| p.line())
                            }
                            "district-key-reset" => crate::district::publish_key_reset(
                                &store,
                                &arg(0),
                                &arg(1),
                                &arg(2),
                                jiff::Timestamp::now(),
                            )
                            .map(|p| p.line()),
                            "hocba-export" => crate::gradebook::hocba::export_to(
                                &store,
                                &arg(0),
                                std::path::Path::new(&arg(1)),
                            )
                            .map_err(|e| e.to_string()),
                            // Answers ok=false with its text when the file is not valid.
                            // The file, then the anchors of `--ca` (PEM files), if any.
                            "hocba-verify" => std::fs::read(arg(0))
                                .map_err(|e| format!("{}: {e}", arg(0)))
                                .and_then(|pdf| {
                                    let anchors =
                                        req.args.get(1..).filter(|a| !a.is_empty()).map(|paths| {
                                            paths
                                                .iter()
                                                .map(|p| {
                                                    std::fs::read_to_string(p)
                                                        .map_err(|e| e.to_string())
                                                        .and_then(|pem| {
                                                            crate::pki::signing::cert_from_pem(&pem)
                                                                .map_err(|e| e.to_string())
                                                        })
                                                        .map_err(|e| format!("{p}: {e}"))
                                                })
                                                .collect::<Result<Vec<_>, _>>()
                                        });
                                    let anchors = anchors.transpose()?;
                                    let rx = store.read().map_err(|e| e.to_string())?;
                                    let (fine, text) = crate::gradebook::hocba::verify_text(
                                        &rx,
                                        store.dir(),
                                        &arg(0),
                                        &pdf,
                                        anchors,
                                    )?;
                                    valid = fine;
                                    Ok(text)
                                }),
                            "hocba-ca" => crate::gradebook::hocba::ca::command(&store, &req.args),
                            "records-export" => crate::app::records::export_to(
                                &store,
                                Some(arg(0).as_str()),
                                std::path::Path::new(&arg(1)),
                            ),
                            "district-verify-hocba" => Ok(crate::district::verify_hocba_text(
                                &crate::district::RedbHub {
                                    store: store.clone(),
                                },
                                store.dir(),
                                std::path::Path::new(&arg(0)),
                            )),
                            "district-verify-export" => {
                                let (fine, text) = crate::app::records::verify_for_hub(
                                    &crate::district::RedbHub {
                                        store: store.clone(),
                                    },
                                    std::path::Path::new(&arg(0)),
                                );
                                valid = fine;
                                Ok(text)
                            }
                            "district-schools" => {
                                crate::district::schools_text(&crate::district::RedbHub {
                                    store: store.clone(),
                                })
                                .map_err(|e| e.to_string())
                            }
                            "district-import" => {
                                crate::district::import(&store, std::path::Path::new(&arg(0)))
                                    .map(|lines| lines.join("\n") + "\n")
                                    .map_err(|e| e.to_string())
                            }
                            _ => crate::district::token_text(
                                &store,
                                &arg(0),
                                &arg(1),
                                arg(2).parse().unwrap_or(crate::district::TOKEN_VALID_DAYS),
                            )
                            .map_err(|e| e.to_string()),
                        };
                        match text {
                            Ok(t) => Response {
                                ok: valid,
                                error: None,
                                report: None,
                                text: Some(t),
                            },
                            Err(e) => fail(e),
                        }
                    })
                    .await
                    .unwrap_or_else(|e| fail(format!("task failed: {e}")))
                }
                Ok(req) => fail(format!("unknown operation {:?}", req.op)),
                Err(e) => fail(format!("bad request: {e}")),
            };
            let mut out = serde_json::to_vec(&resp).expect("serialisable");
            out.push(b'\n');
            let _ = w.write_all(&out).await;
        });
    }
}

fn fail(error: String) -> Response {
    Response {
        ok: false,
        error: Some(error),
        report: None,
        text: None,
    }
}

fn answer(store: &Store, req: Request) -> Response {
    let Some(options) = &req.options else {
        return fail("a backup request needs its options".into());
    };
    // Fault injection for the tests (tests/backup.rs): the server dies as if killed, before it
    // starts the backup or after it finished but before it answered.
    let fault = std::env::var("TRAM_FAULT_BACKUP").unwrap_or_default();
    if fault == "before" {
        std::process::abort();
    }
    let done = crate::backup::schedule::backup_once(store, &req.to, options);
    if fault == "after" {
        std::process::abort();
    }
    match done {
        Ok(rep) => Response {
            ok: true,
            error: None,
            report: Some(rep),
            text: None,
        },
        Err(e) => fail(e.to_string()),
    }
}

/// Whether an [`ask`] failed before the server took the request (no socket, nobody listening)
/// — as opposed to the server going away while it worked on it.
pub fn never_reached(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::PermissionDenied
    )
}

/// Client side: asks the running server to carry out `req`.
pub fn ask(data_dir: &Path, req: &Request) -> std::io::Result<Response> {
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(data_dir))?;
    let mut line = serde_json::to_vec(req).expect("serialisable");
    line.push(b'\n');
    s.write_all(&line)?;
    let mut out = String::new();
    BufReader::new(s).read_line(&mut out)?;
    serde_json::from_str(&out).map_err(std::io::Error::other)
}
