//! The time-stamps of signed files — học bạ and the month approval PDFs of lesson plans: while
//! the link to the district hub is up, each new signature gets an RFC 3161 time-stamp from the
//! hub's TSA over its signature value, added to the signature's unsigned attributes in the
//! space reserved for it (PAdES B-T; the file is not signed again). A signature that can no
//! longer take one — signed over before the link came back — is dated by a document
//! time-stamp revision after the last signature (PAdES B-LTA's mechanism), its token over the
//! whole file. Every file waits in one queue (`hocba::STAMP_WAITING`) until it is stamped or
//! can never be; a pass reads only what waits.

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
    // Every CA of the school, current first: after a renewal the hub must still verify what
    // the earlier ones signed.
    let ca = crate::pki::signing::ca_certs_pem(&dir)?;
    if ca.is_empty() {
        return Ok(());
    }
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

/// What stamping one file came to.
enum Stamped {
    /// The new file: the newest signature's own token's time, the document time-stamp's.
    File(Vec<u8>, Option<jiff::Timestamp>, Option<jiff::Timestamp>),
    /// Every signature is dated already (or the file has none).
    Nothing,
    /// The file cannot be stamped (it does not read as a signed PDF, the token does not fit).
    Never(String),
}

/// Dates every signature of `pdf`: the newest, if it ends the file and has no token, gets one
/// of its own; the signatures still without then get a document time-stamp after the last
/// one. Err only when the hub is out of reach or answers wrongly (the file keeps waiting).
async fn stamp_file(c: &reqwest::Client, e: &Enrolment, pdf: &[u8]) -> anyhow::Result<Stamped> {
    let mut pdf = pdf.to_vec();
    let mut own = None;
    // Err: the newest signature is covered by a later revision (signed over, or dated by a
    // document time-stamp already) — it cannot take a token of its own.
    if let Ok(Some(digest)) = pades::signature_to_stamp(&pdf) {
        let (token, at) = request(c, e, &digest).await?;
        match pades::add_signature_timestamp(&pdf, &token) {
            Ok(p) => {
                pdf = p;
                own = Some(at);
            }
            // The document time-stamp below dates it instead.
            Err(err) => {
                tracing::warn!(error = %err, "a signature's own time-stamp could not be added")
            }
        }
    }
    let left = match pades::unstamped_signatures(&pdf) {
        Ok(left) => left,
        Err(err) => return Ok(Stamped::Never(err.to_string())),
    };
    let mut document = None;
    if !left.is_empty() {
        let draft = match pades::prepare_document_timestamp(&pdf) {
            Ok(d) => d,
            Err(err) => return Ok(Stamped::Never(err.to_string())),
        };
        let (token, at) = request(c, e, &draft.digest).await?;
        pdf = match draft.finish(&token) {
            Ok(p) => p,
            Err(err) => return Ok(Stamped::Never(err.to_string())),
        };
        document = Some(at);
    }
    Ok(if own.is_none() && document.is_none() {
        Stamped::Nothing
    } else {
        Stamped::File(pdf, own, document)
    })
}

/// One pass over the stamping queue, oldest key first. Stops at the first failure to reach the
/// hub (the rest waits for the next pass); returns how many files were stamped.
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
    let queue = tokio::task::spawn_blocking(move || hocba::stamp_queue(&s.read()?)).await??;
    let mut done = 0;
    for (key, kind) in queue {
        let stored = if kind == hocba::APPROVAL_KIND {
            stamp_approval(store, &c, &e, key).await?
        } else {
            stamp_hocba(store, &c, &e, key).await?
        };
        done += usize::from(stored);
    }
    Ok(done)
}

/// A waiting row is done with (already stamped, or never can be): logged and dropped.
fn give_up(store: &Store, key: &str, what: &str, outcome: Stamped) -> anyhow::Result<bool> {
    match outcome {
        Stamped::Never(why) => {
            tracing::warn!(%key, error = %why, "{what} cannot be time-stamped; left without")
        }
        _ => tracing::info!(%key, "{what} needs no further time-stamp; off the queue"),
    }
    hocba::drop_stamp_waiting(store, key)?;
    Ok(false)
}

/// One học bạ signature of the queue: the newest file of its version is stamped (its own
/// token for the newest signature, a document time-stamp for one signed over without).
async fn stamp_hocba(
    store: &Arc<Store>,
    c: &reqwest::Client,
    e: &Enrolment,
    key: String,
) -> anyhow::Result<bool> {
    let s = store.clone();
    let k = key.clone();
    let found = tokio::task::spawn_blocking(move || {
        let r = s.read()?;
        // Taken off already by the stamping of another signature of the same version.
        if r.get(&hocba::STAMP_WAITING, &k)?.is_none() {
            return Ok::<_, anyhow::Error>(None);
        }
        Ok(Some(hocba::version_file(&r, &k)?))
    })
    .await??;
    let Some(found) = found else {
        return Ok(false);
    };
    let Some((newest, row)) = found else {
        return give_up(
            store,
            &key,
            "a signed học bạ that is gone",
            Stamped::Nothing,
        );
    };
    let pdf = row.pdf_bytes()?;
    match stamp_file(c, e, &pdf).await? {
        Stamped::File(stamped, own, document) => {
            let s = store.clone();
            Ok(tokio::task::spawn_blocking(move || {
                hocba::store_stamp(&s, &newest, &row.sha256, &stamped, (own, document))
            })
            .await??)
        }
        other => give_up(store, &key, "a signed học bạ", other),
    }
}

/// One month approval PDF of lesson plans (`/lessons/approval.pdf`): the principal's one
/// signature, the newest in its file, takes the same time-stamp as a học bạ signature.
async fn stamp_approval(
    store: &Arc<Store>,
    c: &reqwest::Client,
    e: &Enrolment,
    key: String,
) -> anyhow::Result<bool> {
    let s = store.clone();
    let k = key.clone();
    let row =
        tokio::task::spawn_blocking(move || s.read()?.get(&crate::lessons::export::APPROVALS, &k))
            .await??;
    let Some(row) = row else {
        return give_up(
            store,
            &key,
            "an approval PDF that is gone",
            Stamped::Nothing,
        );
    };
    let pdf = row.pdf_bytes()?;
    match stamp_file(c, e, &pdf).await? {
        Stamped::File(stamped, own, document) => {
            let at = own.or(document).unwrap_or_else(jiff::Timestamp::now);
            let s = store.clone();
            Ok(tokio::task::spawn_blocking(move || {
                crate::lessons::export::store_approval_stamp(&s, &key, &row.sha256, &stamped, at)
            })
            .await??)
        }
        other => give_up(store, &key, "an approval PDF", other),
    }
}

/// Stamps the waiting files for as long as the server runs: when a class or a month approval
/// was signed, after each good relay round, and every minute (a link that came back, a box
/// enrolled after signing).
pub async fn run(store: Arc<Store>) {
    hocba::STAMPER_RUNS.store(true, std::sync::atomic::Ordering::SeqCst);
    loop {
        let covers = hocba::stamp_pass_starts();
        let pass = stamp_waiting(&store).await;
        hocba::stamp_pass_ended(covers);
        match pass {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "signed files time-stamped by the district hub"),
            Err(err) => {
                tracing::warn!(error = %err, "time-stamping signed files failed; will retry")
            }
        }
        let _ = tokio::time::timeout(EVERY, hocba::STAMP_WAKE.notified()).await;
    }
}
