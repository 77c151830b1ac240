//! The time-stamps of signed học bạ (PAdES B-T): while the link to the district hub is up,
//! each new signature gets an RFC 3161 time-stamp from the hub's TSA over its signature value,
//! added to the signature's unsigned attributes in the space reserved for it (the file is not
//! signed again). A signature made offline waits in `gradebook.hocba_unstamped.v1` and is
//! stamped when the link comes back.

use super::*;
use crate::gradebook::hocba;
use crate::pki::{pades, tsa};

/// How often the waiting list is looked at when nothing wakes the stamper.
const EVERY: Duration = Duration::from_secs(60);

/// An RFC 3161 time-stamp from the hub for the SHA-256 `digest`: the token (DER) and its time.
pub async fn request(
    c: &reqwest::Client,
    e: &Enrolment,
    digest: &[u8; 32],
) -> anyhow::Result<(Vec<u8>, jiff::Timestamp)> {
    let (req, nonce) = tsa::request(digest)?;
    let reply = checked(
        c.post(format!("{}/relay/v1/timestamp/{}", e.hub, e.school))
            .header("authorization", format!("Bearer {}", e.secret))
            .header("content-type", "application/timestamp-query")
            .body(req)
            .send()
            .await?,
    )
    .await?
    .bytes()
    .await?;
    Ok(tsa::check_reply(&reply, digest, &nonce)?)
}

/// Where the box notes the SHA-256 of the signing CA the hub last accepted.
fn ca_sent_path(dir: &Path) -> PathBuf {
    dir.join("relay").join("signing-ca.sent")
}

/// Sends the school's học bạ signing CA to the hub when the hub does not have this one yet
/// (first contact after enrolment, a CA made later, a hub enrolled again), followed by the
/// chains of the signers imported from licensed CAs (so a new import is sent again): the hub
/// verifies the school's signed học bạ against the CA and its own licensed roots.
pub async fn send_signing_ca(
    c: &reqwest::Client,
    e: &Enrolment,
    store: &Arc<Store>,
) -> anyhow::Result<()> {
    let dir = store.dir().to_path_buf();
    let Ok(ca) = std::fs::read_to_string(crate::pki::signing::ca_cert_path(&dir)) else {
        return Ok(());
    };
    let s = store.clone();
    let chains =
        tokio::task::spawn_blocking(move || hocba::imported_chains_pem(&s.read()?, s.dir()))
            .await??;
    let mut pem = ca.trim_end().to_string();
    pem.push('\n');
    pem += &chains;
    let dir = dir.as_path();
    let mark = format!("{} {}", e.hub, sha256_hex(pem.as_bytes()));
    if std::fs::read_to_string(ca_sent_path(dir)).is_ok_and(|m| m == mark) {
        return Ok(());
    }
    checked(
        c.put(format!("{}/relay/v1/signing-ca/{}", e.hub, e.school))
            .header("authorization", format!("Bearer {}", e.secret))
            .header("content-type", "application/x-pem-file")
            .body(pem)
            .send()
            .await?,
    )
    .await?;
    crate::config::write_atomic(&ca_sent_path(dir), mark.as_bytes())?;
    tracing::info!("the học bạ signing CA was sent to the district hub");
    Ok(())
}

/// One pass over the waiting signatures. Stops at the first failure to reach the hub (the
/// rest waits for the next pass); returns how many files were stamped.
pub async fn stamp_waiting(store: &Arc<Store>) -> anyhow::Result<usize> {
    let dir = store.dir().to_path_buf();
    let Some(e) = enrolment(&dir) else {
        return Ok(0);
    };
    let c = client(e.pin_sha256.as_deref())?;
    // A hub that refuses the CA (an older hub) still time-stamps: the two are independent.
    if let Err(err) = send_signing_ca(&c, &e, store).await {
        tracing::warn!(error = %err, "the học bạ signing CA did not reach the district hub; will retry");
    }
    let s = store.clone();
    let keys = tokio::task::spawn_blocking(move || hocba::stamp_waiting(&s.read()?)).await??;
    let mut done = stamp_approvals(store, &c, &e).await?;
    for key in keys {
        let s = store.clone();
        let k = key.clone();
        let row = tokio::task::spawn_blocking(move || s.read()?.get(&hocba::SIGNED, &k)).await??;
        let Some(row) = row else {
            hocba::drop_stamp_waiting(store, &key)?;
            continue;
        };
        let pdf = row.pdf_bytes()?;
        let digest = match pades::signature_to_stamp(&pdf) {
            Ok(Some(d)) => d,
            // Already stamped, or a file whose last signature cannot take a stamp: leave it.
            Ok(None) | Err(_) => {
                tracing::warn!(%key, "a signed học bạ cannot be time-stamped; left without");
                hocba::drop_stamp_waiting(store, &key)?;
                continue;
            }
        };
        let (token, at) = request(&c, &e, &digest).await?;
        let stamped = match pades::add_signature_timestamp(&pdf, &token) {
            Ok(p) => p,
            Err(err) => {
                tracing::warn!(%key, error = %err, "the time-stamp could not be added");
                hocba::drop_stamp_waiting(store, &key)?;
                continue;
            }
        };
        let s = store.clone();
        if tokio::task::spawn_blocking(move || {
            hocba::store_stamp(&s, &key, &row.sha256, &stamped, at)
        })
        .await??
        {
            done += 1;
        }
    }
    Ok(done)
}

/// The principal's signed approval PDFs of lesson plans (`/lessons/approval.pdf`) take the same
/// time-stamp as a học bạ signature: each is one signature, the newest in its file, so it can
/// be stamped whenever the link is up. Returns how many were stamped.
async fn stamp_approvals(
    store: &Arc<Store>,
    c: &reqwest::Client,
    e: &Enrolment,
) -> anyhow::Result<usize> {
    let s = store.clone();
    let rows =
        tokio::task::spawn_blocking(move || crate::lessons::export::approvals_to_stamp(&s.read()?))
            .await??;
    let mut done = 0;
    for (key, row) in rows {
        let pdf = row.pdf_bytes()?;
        let Ok(Some(digest)) = pades::signature_to_stamp(&pdf) else {
            // Already stamped or not stampable: nothing to ask for.
            continue;
        };
        let (token, at) = request(c, e, &digest).await?;
        let stamped = match pades::add_signature_timestamp(&pdf, &token) {
            Ok(p) => p,
            Err(err) => {
                tracing::warn!(%key, error = %err, "the time-stamp could not be added to the approval PDF");
                continue;
            }
        };
        let s = store.clone();
        if tokio::task::spawn_blocking(move || {
            crate::lessons::export::store_approval_stamp(&s, &key, &row.sha256, &stamped, at)
        })
        .await??
        {
            done += 1;
        }
    }
    Ok(done)
}

/// Stamps waiting signatures for as long as the server runs: when a class was signed, and
/// every minute (a link that came back, a box enrolled after signing).
pub async fn run(store: Arc<Store>) {
    hocba::STAMPER_RUNS.store(true, std::sync::atomic::Ordering::SeqCst);
    loop {
        let covers = hocba::stamp_pass_starts();
        let pass = stamp_waiting(&store).await;
        hocba::stamp_pass_ended(covers);
        match pass {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "signed học bạ time-stamped by the district hub"),
            Err(err) => {
                tracing::warn!(error = %err, "time-stamping signed học bạ failed; will retry")
            }
        }
        let _ = tokio::time::timeout(EVERY, hocba::STAMP_WAKE.notified()).await;
    }
}
