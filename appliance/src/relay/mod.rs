//! Store-and-forward relay to the district hub (the school side).
//!
//! Everything a capability marks for the district goes to the store's outbox in the transaction
//! that changes it. This module takes the outbox in order, packs it into signed, compressed
//! batches (`batch.rs`) numbered 1, 2, 3…, and uploads each one in chunks: before sending it asks
//! the hub how many bytes it already holds, so a dropped link resumes without re-sending
//! acknowledged bytes. A batch is done only when the hub says it stored it; then (and only then)
//! the school moves past it — the hub stores each (school, batch number) exactly once.
//!
//! Files in the data directory: `keys/device.key` (the school's Ed25519 key, 0600), `relay.json`
//! (the hub, the school code and the upload secret from enrolment, 0600), `relay-state.json`
//! (what the hub acknowledged, the link's last speed and error) and `relay/outgoing.batch` (the
//! batch being sent, kept across restarts so the same bytes are resumed).

pub mod batch;
pub mod downlink;
pub mod routes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::store::{OutboxEntry, Store};

/// The school's device key (made on first use).
pub fn device_key(data_dir: &Path) -> std::io::Result<SigningKey> {
    let path = data_dir.join("keys").join("device.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| std::io::Error::other(format!("{} is damaged", path.display())))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    std::fs::create_dir_all(path.parent().expect("keys folder"))?;
    let seed: [u8; 32] = rand::random();
    crate::config::write_secret(&path, hex::encode(seed).as_bytes())?;
    Ok(SigningKey::from_bytes(&seed))
}

/// What enrolment left behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolment {
    /// The hub's base URL, e.g. https://so-gd.example:8443
    pub hub: String,
    pub school: String,
    /// Bearer secret for uploads (the batches themselves are signed as well).
    pub secret: String,
    /// SHA-256 of the hub's certificate (hex), pinned when the hub speaks HTTPS.
    pub pin_sha256: Option<String>,
    /// The hub's age X25519 recipient: batches carried on a USB stick are encrypted to it.
    #[serde(default)]
    pub courier_recipient: Option<String>,
    pub enrolled_at: String,
}

/// An enrolment provisioning asked for while the hub was out of reach (keys/, owner-only: the
/// token is a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub hub: String,
    pub token: String,
    pub pin_sha256: Option<String>,
}

fn pending_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("pending-enrolment.json")
}

pub fn pending(data_dir: &Path) -> Option<Pending> {
    serde_json::from_slice(&std::fs::read(pending_path(data_dir)).ok()?).ok()
}

/// Leaves `p` for the server to finish; true when that changed anything.
pub fn save_pending(data_dir: &Path, p: &Pending) -> std::io::Result<bool> {
    if pending(data_dir).as_ref() == Some(p) {
        return Ok(false);
    }
    crate::config::write_secret(
        &pending_path(data_dir),
        &serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?,
    )?;
    Ok(true)
}

pub fn enrolment_path(data_dir: &Path) -> PathBuf {
    data_dir.join("relay.json")
}

pub fn enrolment(data_dir: &Path) -> Option<Enrolment> {
    serde_json::from_slice(&std::fs::read(enrolment_path(data_dir)).ok()?).ok()
}

/// What the hub has acknowledged and how the link behaves (the status page).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RelayState {
    /// The last outbox entry the hub has stored.
    pub acked_outbox: u64,
    /// The number of the next batch.
    pub next_seq: u64,
    pub batches_sent: u64,
    pub bytes_sent: u64,
    /// The same batches before compression.
    #[serde(default)]
    pub raw_bytes: u64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Bytes per second of the last completed upload.
    pub link_bps: Option<f64>,
    /// Set by a (re-)enrolment: the hub already holds this school's outbox up to here, so the
    /// outbox must continue above it before anything new is sent.
    #[serde(default)]
    pub reserve_outbox: Option<u64>,
    /// Set with `reserve_outbox`: the last entry this box itself knew the hub had stored. Every
    /// entry above it is renumbered above the hub's mark and sent, never skipped.
    #[serde(default)]
    pub resend_from: Option<u64>,
    /// Entries the last (re-)enrolment renumbered above the hub's mark.
    #[serde(default)]
    pub renumbered: u64,
    /// Set by a (re-)enrolment when the hub holds entries this box does not know it sent: the
    /// last entry it knew were stored. Until the hub has said what it holds above it (and the
    /// restore report is written), nothing is sent — a link that drops that question at
    /// enrolment must not cost the staff the list of what the old box relayed after its backup.
    #[serde(default)]
    pub held_pending: Option<u64>,
}

fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("relay-state.json")
}

pub fn state(data_dir: &Path) -> RelayState {
    std::fs::read(state_path(data_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(RelayState {
            next_seq: 1,
            ..RelayState::default()
        })
}

fn save_state(data_dir: &Path, s: &RelayState) -> std::io::Result<()> {
    crate::config::write_atomic(
        &state_path(data_dir),
        &serde_json::to_vec_pretty(s).expect("serialisable"),
    )
}

/// How the relay may use the school's uplink.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Bytes per second at most.
    pub rate: u64,
    /// Local school hours (Asia/Ho_Chi_Minh): batches larger than `big` wait until after them.
    pub school_hours: Option<(jiff::civil::Time, jiff::civil::Time)>,
    pub big: u64,
    /// Outbox entries per batch at most.
    pub batch_entries: usize,
    pub privacy: Privacy,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            rate: 64 * 1024,
            school_hours: Some((
                jiff::civil::time(6, 30, 0, 0),
                jiff::civil::time(17, 0, 0, 0),
            )),
            big: 1 << 20,
            batch_entries: 5000,
            privacy: Privacy::default(),
        }
    }
}

impl Budget {
    /// Whether a batch of `len` bytes may go now.
    pub fn allows(&self, len: u64, now: jiff::Timestamp) -> bool {
        match self.school_hours {
            Some((from, to)) if len > self.big => {
                let t = now.to_zoned(crate::school::time_zone()).time();
                !(t >= from && t < to)
            }
            _ => true,
        }
    }
}

/// Bookkeeping entries that never leave the school.
fn internal(kind: &str) -> bool {
    kind.starts_with("relay.")
}

/// What may leave the school (DOMAIN.md §3.5: individual results go only where the national
/// database expects them; free text stays home unless the school decides otherwise).
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    /// Record kinds relayed (school, class, student, result, library_item, lesson_plan);
    /// None: all of them.
    pub kinds: Option<Vec<String>>,
    /// Send free-text comments (a result's nhận xét, a lesson plan's review comment).
    pub comments: bool,
}

/// The fields that hold free text, per record kind.
const FREE_TEXT: &[(&str, &str)] = &[("result", "nhanxet"), ("lesson_plan", "comment")];

impl Privacy {
    /// The entry as it may leave the school, or None if its kind stays home.
    pub fn apply(&self, mut e: OutboxEntry) -> Option<OutboxEntry> {
        if internal(&e.kind) {
            return None;
        }
        if let Some(k) = &self.kinds
            && !k.contains(&e.kind)
        {
            return None;
        }
        if !self.comments
            && let Some(serde_json::Value::Object(m)) = e.record.as_mut()
        {
            for (kind, field) in FREE_TEXT {
                if *kind == e.kind && m.contains_key(*field) {
                    m.insert(field.to_string(), serde_json::Value::Null);
                }
            }
        }
        Some(e)
    }
}

/// Outbox entries not yet acknowledged, and how many in all.
pub fn backlog(store: &Store, data_dir: &Path) -> Result<u64, crate::store::StoreError> {
    store.outbox_count_after(state(data_dir).acked_outbox)
}

fn outgoing(data_dir: &Path) -> PathBuf {
    data_dir.join("relay").join("outgoing.batch")
}

/// The batch to send: the one already built (resumed byte for byte), or a new one from the
/// outbox after what the hub acknowledged. None when there is nothing to send.
fn next_batch(
    store: &Store,
    data_dir: &Path,
    key: &SigningKey,
    school: &str,
    budget: &Budget,
) -> anyhow::Result<Option<Vec<u8>>> {
    let path = outgoing(data_dir);
    if let Ok(b) = std::fs::read(&path) {
        if batch::envelope(&b).is_ok() {
            return Ok(Some(b));
        }
        let _ = std::fs::remove_file(&path);
    }
    // Batches exported for a courier go first, exactly as they were carried, so the hub gets
    // the same bytes under each number whichever way they arrive.
    let next = state(data_dir).next_seq;
    for (seq, qpath) in queued(data_dir) {
        if seq < next {
            let _ = std::fs::remove_file(&qpath);
            continue;
        }
        if seq == next
            && let Ok(b) = std::fs::read(&qpath)
            && batch::envelope(&b).is_ok()
        {
            crate::config::write_atomic(&path, &b)?;
            let _ = std::fs::remove_file(&qpath);
            return Ok(Some(b));
        }
        break;
    }
    let mut st = state(data_dir);
    if let Some(n) = st.reserve_outbox.take() {
        let from = st.resend_from.take().unwrap_or(n).min(n);
        let moved = store.outbox_continue_above(from, n)?;
        if moved > 0 {
            tracing::warn!(
                moved,
                above = n,
                "outbox entries the hub never receipted were renumbered above its mark (restored or re-enrolled box); they are sent next"
            );
        }
        st.acked_outbox = n;
        st.renumbered = moved;
        save_state(data_dir, &st)?;
    }
    let mut entries = store.outbox(st.acked_outbox, budget.batch_entries + 1)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let more = entries.len() > budget.batch_entries;
    entries.truncate(budget.batch_entries);
    let last = entries.last().expect("some").seq;
    let backlog = if more {
        store.outbox_count_after(last)?
    } else {
        0
    };
    let first = entries.first().expect("some").seq;
    let leaving: Vec<OutboxEntry> = entries
        .into_iter()
        .filter_map(|e| budget.privacy.apply(e))
        .collect();
    let now = jiff::Timestamp::now().to_string();
    let seq = queued(data_dir)
        .last()
        .map_or(st.next_seq, |(q, _)| (q + 1).max(st.next_seq));
    let bytes = batch::build_range(key, school, seq, (first, last), &leaving, backlog, &now);
    std::fs::create_dir_all(path.parent().expect("relay folder"))?;
    crate::config::write_atomic(&path, &bytes)?;
    Ok(Some(bytes))
}

fn queue_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("relay").join("queue")
}

/// Batches exported for a courier and not yet acknowledged, by number.
fn queued(data_dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(queue_dir(data_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let seq = name.strip_suffix(".batch")?.parse().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Courier mode, school side: every batch still waiting (the one being sent, those already
/// exported, and new ones for the rest of the outbox) is written to `to` encrypted for the hub
/// (`{school}-{seq}.tram-batch`, age to the hub's X25519 recipient; the batch inside is signed).
/// The batches stay queued here until the hub acknowledges them, over the link or after the
/// import. Returns the files written.
pub fn export(store: &Store, to: &Path, budget: &Budget) -> anyhow::Result<Vec<PathBuf>> {
    use std::io::Write as _;
    let dir = store.dir();
    let e =
        enrolment(dir).ok_or_else(|| anyhow::anyhow!("this school is not enrolled with a hub"))?;
    let recipient: age::x25519::Recipient = e
        .courier_recipient
        .as_deref()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the hub gave no courier key at enrolment; enrol again with an up-to-date hub"
            )
        })?
        .parse()
        .map_err(|e| anyhow::anyhow!("the hub's courier key is unreadable: {e}"))?;
    let key = device_key(dir)?;
    std::fs::create_dir_all(queue_dir(dir))?;
    std::fs::create_dir_all(to)?;
    // The batch being sent joins the queue first; then the rest of the outbox is packed.
    if let Ok(b) = std::fs::read(outgoing(dir))
        && let Ok((env, _)) = batch::envelope(&b)
    {
        crate::config::write_atomic(&queue_dir(dir).join(format!("{:08}.batch", env.seq)), &b)?;
        let _ = std::fs::remove_file(outgoing(dir));
    }
    let mut acked = queued(dir)
        .last()
        .and_then(|(_, p)| std::fs::read(p).ok())
        .and_then(|b| batch::envelope(&b).ok().map(|(env, _)| env.last))
        .unwrap_or(state(dir).acked_outbox);
    loop {
        let mut entries = store.outbox(acked, budget.batch_entries)?;
        if entries.is_empty() {
            break;
        }
        let (first, last) = (entries[0].seq, entries.last().expect("some").seq);
        let seq = queued(dir)
            .last()
            .map_or(state(dir).next_seq, |(q, _)| q + 1);
        entries = entries
            .into_iter()
            .filter_map(|e| budget.privacy.apply(e))
            .collect();
        let backlog = store.outbox_count_after(last)?;
        let now = jiff::Timestamp::now().to_string();
        let b = batch::build_range(&key, &e.school, seq, (first, last), &entries, backlog, &now);
        crate::config::write_atomic(&queue_dir(dir).join(format!("{seq:08}.batch")), &b)?;
        acked = last;
    }
    let mut written = Vec::new();
    for (seq, p) in queued(dir) {
        let b = std::fs::read(&p)?;
        let out = to.join(format!("{}-{seq:08}.tram-batch", e.school));
        let f = std::fs::File::create(&out)?;
        let mut w =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .expect("one recipient")
                .wrap_output(f)?;
        w.write_all(&b)?;
        w.finish()?.sync_all()?;
        written.push(out);
    }
    Ok(written)
}

/// What `tram relay export` prints.
pub fn export_text(store: &Store, to: &Path, budget: &Budget) -> anyhow::Result<String> {
    let files = export(store, to, budget)?;
    let mut out = String::new();
    for f in &files {
        out += &format!("{}\n", f.display());
    }
    out += &format!(
        "{} batches written for the courier (encrypted for the hub); they stay queued here until the hub acknowledges them\n",
        files.len()
    );
    Ok(out)
}

/// The hub's answer about one batch.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UploadStatus {
    pub offset: u64,
    pub stored: bool,
    #[serde(default)]
    pub receipt: Option<serde_json::Value>,
    /// Bytes this upload itself sent (0 when the hub already held the batch, e.g. from a USB
    /// stick): the link speed is measured from these only.
    #[serde(skip)]
    pub sent: u64,
}

/// An HTTP client for the hub: HTTPS pinned to the enrolled certificate, or plain HTTP.
pub fn client(pin_sha256: Option<&str>) -> anyhow::Result<reqwest::Client> {
    // reqwest's TLS needs a process-wide provider even for plain HTTP hubs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(1);
    if let Some(pin) = pin_sha256 {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(pin.to_lowercase())))
        .with_no_client_auth();
        b = b.use_preconfigured_tls(cfg);
    }
    Ok(b.build()?)
}

/// Accepts the hub whose certificate authority's SHA-256 was pinned at enrolment: the CA must
/// be in the chain the hub presents, and the hub's certificate must chain to it and carry the
/// name every hub certificate has (`tram-hub.local`). The hub's own CA is in no trust store, and
/// the names and addresses schools use to reach a district office vary.
#[derive(Debug)]
struct Pinned(String);

/// How a pin mismatch starts, so the enrolment can tell it from an unreachable hub.
const PIN_MISMATCH: &str = "the hub's certificate does not match the pin";

/// An error with every cause it carries (reqwest says only "error sending request" on top).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// The name every hub certificate carries.
pub const HUB_NAME: &str = "tram-hub.local";

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(ca) = _intermediates.iter().find(|c| sha256_hex(c) == self.0) else {
            let presented: Vec<String> = _intermediates.iter().map(|c| sha256_hex(c)).collect();
            return Err(rustls::Error::General(format!(
                "{PIN_MISMATCH}: the pin is {}, the hub presented a certificate authority with SHA-256 {}",
                self.0,
                if presented.is_empty() {
                    "(none)".to_string()
                } else {
                    presented.join(", ")
                }
            )));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| rustls::Error::General(format!("pinned CA unusable: {e}")))?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from(HUB_NAME).expect("valid name");
        inner.verify_server_cert(end_entity, _intermediates, &name, _ocsp, _now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

/// Enrols this school with a hub using a one-time token from district staff.
pub async fn enrol(
    data_dir: &Path,
    hub: &str,
    token: &str,
    pin_sha256: Option<&str>,
) -> anyhow::Result<Enrolment> {
    let hub = hub.trim_end_matches('/').to_string();
    if hub.starts_with("https://") && pin_sha256.is_none() {
        anyhow::bail!(
            "an HTTPS hub needs --pin SHA256 (printed by `tram district token` on the hub)"
        );
    }
    use crate::provision::identity;
    let clone = identity::check(data_dir) == identity::Check::Clone;
    if clone {
        // A copied disk: this box gets a key of its own, never the original's.
        let _ = std::fs::remove_file(data_dir.join("keys").join("device.key"));
    }
    let key = device_key(data_dir)?;
    let c = client(pin_sha256)?;
    let r = c
        .post(format!("{hub}/relay/v1/enrol"))
        .json(&serde_json::json!({
            "token": token.trim(),
            "public_key": hex::encode(key.verifying_key().to_bytes()),
        }))
        .send()
        .await
        .map_err(|e| {
            let chain = error_chain(&e);
            match chain.find(PIN_MISMATCH) {
                Some(i) => anyhow::anyhow!(
                    "{} — check the pin printed by `tram district token` on the hub (nothing was enrolled)",
                    chain[i..].trim_end_matches(['"', ' ', ')'])
                ),
                None => anyhow::anyhow!("cannot reach the hub at {hub}: {chain}"),
            }
        })?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!(
            "the hub refused the enrolment: {}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("unknown reason")
        );
    }
    let e = Enrolment {
        hub,
        school: body["school"].as_str().unwrap_or_default().to_string(),
        secret: body["secret"].as_str().unwrap_or_default().to_string(),
        pin_sha256: pin_sha256.map(str::to_lowercase),
        courier_recipient: body["courier_recipient"].as_str().map(String::from),
        enrolled_at: jiff::Timestamp::now().to_string(),
    };
    crate::config::write_secret(
        &enrolment_path(data_dir),
        &serde_json::to_vec_pretty(&e).expect("serialisable"),
    )?;
    if clone {
        identity::record(data_dir, jiff::Timestamp::now())?;
    }
    // Continue where the hub is: a replaced box (restored from backup) must neither resend what
    // the hub holds under the same numbers nor reuse outbox numbers the hub has seen.
    let last_seq = body["last_seq"].as_u64().unwrap_or(0);
    let last_outbox = body["last_outbox"].as_u64().unwrap_or(0);
    let _ = std::fs::remove_file(outgoing(data_dir));
    let _ = std::fs::remove_file(restore_report_path(data_dir));
    let _ = std::fs::remove_file(held_path(data_dir));
    let _ = std::fs::remove_file(data_dir.join("relay-held.partial.json"));
    let mut st = state(data_dir);
    // What this box itself knows the hub stored (0 for a box restored without its relay state:
    // then everything it holds is sent again above the hub's mark — the hub keeps the newest
    // state of each record, so a repeat is harmless and nothing is lost).
    let receipted = st.acked_outbox.min(last_outbox);
    st.next_seq = last_seq + 1;
    st.acked_outbox = receipted;
    st.reserve_outbox = (last_outbox > 0).then_some(last_outbox);
    st.resend_from = st.reserve_outbox.map(|_| receipted);
    // The hub stored entries this box does not know it sent (a box restored from a backup
    // after the old one relayed more): ask which, so staff are told what this box no longer
    // has. Asked now, and by the relay loop until it gets an answer.
    st.held_pending = (last_outbox > receipted).then_some(receipted);
    save_state(data_dir, &st)?;
    if let Err(err) = ensure_held(&c, &e, data_dir).await {
        tracing::warn!(%err, "could not ask the hub what it holds after this box's last receipt; the relay asks again before it sends");
    }
    Ok(e)
}

/// After a (re-)enrolment, asks the hub what it holds above the last entry this box knew were
/// stored and writes the restore report; until that succeeds the relay sends nothing.
async fn ensure_held(c: &reqwest::Client, e: &Enrolment, data_dir: &Path) -> anyhow::Result<()> {
    let Some(from) = state(data_dir).held_pending else {
        return Ok(());
    };
    let held = held_after(c, e, data_dir, from).await?;
    // Kept on disk for `compare_held`, which needs the store (the CLI's enrolment has none
    // while a server runs); the relay loop compares before it sends.
    crate::config::write_atomic(
        &held_path(data_dir),
        &serde_json::to_vec(&(from, held)).expect("serialisable"),
    )?;
    let mut st = state(data_dir);
    st.held_pending = None;
    save_state(data_dir, &st)?;
    Ok(())
}

fn held_path(data_dir: &Path) -> PathBuf {
    data_dir.join("relay-held.json")
}

fn restore_report_path(data_dir: &Path) -> PathBuf {
    data_dir.join("relay-restore-report.json")
}

/// Records the hub is asked for at a time: about 50 KB, under two seconds at 32 KB/s, so a
/// link cut every few seconds still moves the question forward page by page.
pub const HELD_PAGE: usize = 100;

/// One page of what the hub holds above `after`, from after `cursor`: (records, next cursor).
async fn held_page(
    c: &reqwest::Client,
    e: &Enrolment,
    after: u64,
    cursor: Option<&str>,
) -> anyhow::Result<(Vec<crate::district::HeldRecord>, Option<String>)> {
    let mut q = vec![
        ("after", after.to_string()),
        ("limit", HELD_PAGE.to_string()),
    ];
    if let Some(cur) = cursor {
        q.push(("cursor", cur.to_string()));
    }
    let r = c
        .get(format!("{}/relay/v1/records/{}", e.hub, e.school))
        .query(&q)
        .bearer_auth(&e.secret)
        .send()
        .await?;
    let body: serde_json::Value = checked(r).await?.json().await?;
    let records = serde_json::from_value(body["records"].clone())?;
    Ok((records, body["next"].as_str().map(String::from)))
}

/// What has been fetched of the hub's answer so far (kept on disk: kills and cuts resume).
#[derive(Default, Serialize, Deserialize)]
struct HeldProgress {
    from: u64,
    cursor: Option<String>,
    records: Vec<crate::district::HeldRecord>,
}

/// Everything the hub holds above `from`, page by page, resuming from `relay-held.partial`.
async fn held_after(
    c: &reqwest::Client,
    e: &Enrolment,
    data_dir: &Path,
    from: u64,
) -> anyhow::Result<Vec<crate::district::HeldRecord>> {
    let partial = data_dir.join("relay-held.partial.json");
    let mut p: HeldProgress = std::fs::read(&partial)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &HeldProgress| p.from == from)
        .unwrap_or(HeldProgress {
            from,
            ..HeldProgress::default()
        });
    loop {
        let (page, next) = held_page(c, e, from, p.cursor.as_deref()).await?;
        p.records.extend(page);
        p.cursor = next;
        if p.cursor.is_none() {
            let _ = std::fs::remove_file(&partial);
            return Ok(p.records);
        }
        crate::config::write_atomic(&partial, &serde_json::to_vec(&p).expect("serialisable"))?;
    }
}

/// What the district holds that this box does not: after a restore, the records the old box
/// relayed after the backup was taken (the staff re-enter them), kept until the next enrolment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestoreReport {
    pub at: String,
    /// Records the hub holds (newer than this box's last receipt) with a content this box does
    /// not have.
    pub missing: Vec<crate::district::HeldRecord>,
    /// Records the hub holds that this box has too (sent again, harmlessly).
    pub matched: usize,
    /// What each missing record is, in words staff can act on (same order as `missing`).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A held record in words: whose result, which plan, which class — what staff re-enter.
fn label_for(rx: &crate::store::Rx, h: &crate::district::HeldRecord) -> String {
    let r = h.record.clone().unwrap_or_default();
    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
    let deleted = if h.op == "delete" { " (đã xoá)" } else { "" };
    let text = match h.kind.as_str() {
        "result" => {
            let student = rx
                .get(&crate::school::STUDENTS, &s("mahocsinh"))
                .ok()
                .flatten()
                .map_or_else(|| s("mahocsinh"), |st| st.full_name);
            let term = match s("hocky").as_str() {
                "1" => "học kì I".to_string(),
                "2" => "học kì II".to_string(),
                "CN" => "cả năm".to_string(),
                other => other.to_string(),
            };
            format!("Kết quả {term} của {student}, lớp {}", s("malop"))
        }
        "lesson_plan" => format!(
            "Kế hoạch bài dạy «{}» của {} ({})",
            s("title"),
            s("teacher_name"),
            s("state")
        ),
        "class" => format!("Lớp {}", s("name")),
        "student" => format!("Học sinh {}", s("full_name")),
        "library_item" => format!("Học liệu «{}»", s("title")),
        other => format!("{other} {}", h.key),
    };
    format!("{text}{deleted}")
}

pub fn restore_report(data_dir: &Path) -> Option<RestoreReport> {
    serde_json::from_slice(&std::fs::read(restore_report_path(data_dir)).ok()?).ok()
}

/// Compares what the hub holds above `from` (fetched by [`ensure_held`]) with this box's own
/// entries above `from` (as they would leave the box, privacy applied, renumbered or not):
/// each hub record no entry here matches is missing here.
fn compare_held(store: &Store, data_dir: &Path, privacy: &Privacy) -> anyhow::Result<()> {
    let Ok(bytes) = std::fs::read(held_path(data_dir)) else {
        return Ok(());
    };
    let (from, held): (u64, Vec<crate::district::HeldRecord>) = serde_json::from_slice(&bytes)?;
    // (kind, key) → every (op, record) this box would send for it.
    type Sent = Vec<(String, Option<serde_json::Value>)>;
    let mut mine: std::collections::HashMap<(String, String), Sent> =
        std::collections::HashMap::new();
    for e in store.outbox(from, usize::MAX)? {
        if let Some(e) = privacy.apply(e) {
            mine.entry((e.kind, e.key))
                .or_default()
                .push((e.op, e.record));
        }
    }
    let mut report = RestoreReport {
        at: jiff::Timestamp::now().to_string(),
        ..RestoreReport::default()
    };
    for h in held {
        let here = mine
            .get(&(h.kind.clone(), h.key.clone()))
            .is_some_and(|v| v.iter().any(|(op, r)| *op == h.op && *r == h.record));
        if here {
            report.matched += 1;
        } else {
            report.missing.push(h);
        }
    }
    if let Ok(rx) = store.read() {
        report.labels = report.missing.iter().map(|h| label_for(&rx, h)).collect();
    }
    if !report.missing.is_empty() {
        tracing::warn!(
            missing = report.missing.len(),
            "the district holds records this box does not have (made on the old box after its last backup)"
        );
    }
    crate::config::write_atomic(
        &restore_report_path(data_dir),
        &serde_json::to_vec_pretty(&report).expect("serialisable"),
    )?;
    let _ = std::fs::remove_file(held_path(data_dir));
    Ok(())
}

/// One relayed kind, the school's side against the hub's (bench/restored-box.sh).
#[derive(Debug, Default, Serialize)]
pub struct KindTally {
    pub kind: String,
    /// Keys this box's outbox holds (privacy applied), each at its latest content.
    pub school: usize,
    /// Keys the hub holds for this school.
    pub hub: usize,
    /// Keys whose latest content is the same on both sides.
    pub equal: usize,
    /// Keys the hub holds differently or alone that this box's restore report names (the old
    /// box's work after its backup, shown to the staff to re-enter).
    pub reported_missing: usize,
    /// Keys that differ and nothing explains: a lost or altered record.
    pub unexplained: usize,
}

/// Compares, kind by kind, the latest content of every key this box has relayed with what the
/// hub holds for it. Run with both stopped. Every hub key must be equal or named in the
/// restore report; every key of this box must be equal.
pub fn tally(
    store: &Store,
    hub: &dyn crate::district::HubStorage,
    school: &str,
    privacy: &Privacy,
) -> anyhow::Result<Vec<KindTally>> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    type Latest = (String, Option<serde_json::Value>);
    let mut mine: HashMap<(String, String), Latest> = HashMap::new();
    for e in store.outbox(0, usize::MAX)? {
        if let Some(e) = privacy.apply(e) {
            mine.insert((e.kind, e.key), (e.op, e.record));
        }
    }
    let theirs: HashMap<(String, String), Latest> = hub
        .records_after(school, 0, None, usize::MAX)?
        .into_iter()
        .map(|h| ((h.kind, h.key), (h.op, h.record)))
        .collect();
    let reported: HashSet<(String, String)> = restore_report(store.dir())
        .map(|r| r.missing.into_iter().map(|h| (h.kind, h.key)).collect())
        .unwrap_or_default();
    let mut out: BTreeMap<String, KindTally> = BTreeMap::new();
    fn row<'a>(out: &'a mut BTreeMap<String, KindTally>, kind: &str) -> &'a mut KindTally {
        out.entry(kind.to_string()).or_insert_with(|| KindTally {
            kind: kind.to_string(),
            ..KindTally::default()
        })
    }
    for (k, v) in &mine {
        let t = row(&mut out, &k.0);
        t.school += 1;
        match theirs.get(k) {
            Some(h) if h == v => t.equal += 1,
            _ if reported.contains(k) => t.reported_missing += 1,
            _ => t.unexplained += 1,
        }
    }
    for k in theirs.keys() {
        let t = row(&mut out, &k.0);
        t.hub += 1;
        if !mine.contains_key(k) {
            if reported.contains(k) {
                t.reported_missing += 1;
            } else {
                t.unexplained += 1;
            }
        }
    }
    Ok(out.into_values().collect())
}

/// The chunk size the link currently takes (see [`upload`]).
static CHUNK: AtomicUsize = AtomicUsize::new(64 * 1024);
/// Chunks the hub acknowledged (the loop backs off less while a flaky link still moves data).
static LANDED: AtomicUsize = AtomicUsize::new(0);
const MIN_CHUNK: usize = 8 * 1024;
/// The hub's offset for the batch being sent when last asked (see [`upload`]).
static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sends one batch, resuming from what the hub holds; returns the hub's receipt once stored.
async fn upload(
    c: &reqwest::Client,
    e: &Enrolment,
    bytes: &[u8],
    seq: u64,
    budget: &Budget,
) -> anyhow::Result<UploadStatus> {
    let url = format!("{}/relay/v1/batches/{}/{seq}", e.hub, e.school);
    let auth = format!("Bearer {}", e.secret);
    let total = bytes.len() as u64;
    let st: UploadStatus = checked(c.get(&url).header("authorization", &auth).send().await?)
        .await?
        .json()
        .await?;
    if st.stored {
        return Ok(st);
    }
    // The hub holds more than when last asked (the part of a chunk that arrived before a
    // cut): the link moves data, so the relay loop retries soon rather than backing off.
    if st.offset > 0 && HELD.swap(st.offset, Ordering::Relaxed) < st.offset {
        LANDED.fetch_add(1, Ordering::Relaxed);
    }
    let mut offset = st.offset.min(total);
    let mut sent_here = 0u64;
    // Chunk size grows while chunks land, up to about two seconds of the budget, so a good
    // link is used well. A cut does not cost the chunk: the hub keeps the part of it that
    // arrived and the next round resumes after it (district::routes::batch_append), so
    // there is nothing to gain from shrinking the chunk after a cut except more headers.
    let most = (budget.rate * 2).clamp(MIN_CHUNK as u64, 1 << 20) as usize;
    loop {
        let chunk = CHUNK.load(Ordering::Relaxed).clamp(MIN_CHUNK, most);
        let end = (offset as usize + chunk).min(bytes.len());
        let started = std::time::Instant::now();
        let sent = c
            .patch(&url)
            .header("authorization", &auth)
            .header("upload-offset", offset.to_string())
            .header("upload-length", total.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes[offset as usize..end].to_vec())
            .send()
            .await;
        let r = sent?;
        if r.status() == reqwest::StatusCode::CONFLICT {
            // The hub holds a different amount (a chunk was lost on the way): continue from its.
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            match v["error"]["details"]["offset"].as_u64() {
                Some(o) => {
                    offset = o;
                    continue;
                }
                None => anyhow::bail!(
                    "{}",
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("the hub refused the batch")
                ),
            }
        }
        let mut st: UploadStatus = checked(r).await?.json().await?;
        CHUNK.store((chunk * 2).min(most), Ordering::Relaxed);
        LANDED.fetch_add(1, Ordering::Relaxed);
        sent_here += (end - offset as usize) as u64;
        st.sent = sent_here;
        // Keep to the budget: a chunk of n bytes takes at least n / rate seconds.
        let min = Duration::from_secs_f64((end - offset as usize) as f64 / budget.rate as f64);
        if let Some(wait) = min.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        if st.stored {
            return Ok(st);
        }
        offset = st.offset;
        if offset >= total {
            anyhow::bail!("the hub has the whole batch but did not store it");
        }
    }
}

async fn checked(r: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    anyhow::bail!(
        "hub answered {status}: {}",
        v["error"]["message"].as_str().unwrap_or("no reason given")
    )
}

/// One round: send every waiting batch the budget allows now. Returns how many were stored.
pub async fn send_pending(store: &Store, budget: &Budget) -> anyhow::Result<u64> {
    let dir = store.dir().to_path_buf();
    if crate::provision::identity::check(&dir) == crate::provision::identity::Check::Clone {
        anyhow::bail!(
            "this box's data was provisioned on other hardware (a copied disk?); it does not relay until the district enrols it again (tram relay enroll with a new token)"
        );
    }
    let e = match enrolment(&dir) {
        Some(e) => e,
        None => match pending(&dir) {
            // Provisioning named a hub that was not reachable then: enrol now.
            Some(p) => {
                let e = enrol(&dir, &p.hub, &p.token, p.pin_sha256.as_deref()).await?;
                let _ = std::fs::remove_file(pending_path(&dir));
                tracing::info!(hub = %e.hub, school = %e.school, "enrolled with the district hub");
                e
            }
            None => return Ok(0),
        },
    };
    let key = device_key(&dir)?;
    let c = client(e.pin_sha256.as_deref())?;
    ensure_held(&c, &e, &dir).await?;
    compare_held(store, &dir, &budget.privacy)?;
    let mut sent = 0;
    loop {
        let Some(bytes) = next_batch(store, &dir, &key, &e.school, budget)? else {
            return Ok(sent);
        };
        if !budget.allows(bytes.len() as u64, jiff::Timestamp::now()) {
            return Ok(sent);
        }
        let (env, _) = batch::envelope(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let t = std::time::Instant::now();
        let done = upload(&c, &e, &bytes, env.seq, budget).await?;
        // The hub's receipt is authoritative: if it holds a different batch under this number
        // (this box was restored from an older backup and numbered again), continue from what
        // the hub has, never from what this box believes it sent.
        let hub_last = done
            .receipt
            .as_ref()
            .and_then(|r| r["last"].as_u64())
            .unwrap_or(env.last);
        if hub_last != env.last {
            tracing::warn!(
                seq = env.seq,
                hub_last,
                mine = env.last,
                "the hub stored a different batch under this number; continuing from the hub's"
            );
        }
        let mut st = state(&dir);
        st.acked_outbox = hub_last;
        st.next_seq = env.seq + 1;
        st.batches_sent += 1;
        st.bytes_sent += bytes.len() as u64;
        st.raw_bytes += env.raw_len;
        st.last_success = Some(jiff::Timestamp::now().to_string());
        st.last_error = None;
        // Only what crossed the link counts: a batch the hub already had (it came on a USB
        // stick), or the last few bytes of one it mostly had, says nothing about the link.
        if done.sent >= 16 * 1024 {
            st.link_bps = Some(done.sent as f64 / t.elapsed().as_secs_f64().max(0.001));
        }
        save_state(&dir, &st)?;
        let _ = std::fs::remove_file(outgoing(&dir));
        sent += 1;
    }
}

/// The relay loop inside `tram serve`: sends whenever the outbox holds something and the hub is
/// enrolled; after a failure it waits with exponential backoff and jitter (2 s doubling to
/// 10 min).
/// How often the hub is asked for new downlink files (`TRAM_DOWNLINK_EVERY` seconds in tests).
static DOWNLINK_EVERY: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("TRAM_DOWNLINK_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
});

pub async fn run(store: Arc<Store>, budget: Budget) {
    let dir = store.dir().to_path_buf();
    let mut failures = 0u32;
    let mut last_downlink: Option<std::time::Instant> = None;
    loop {
        let landed = LANDED.load(Ordering::Relaxed);
        let wait = match send_pending(&store, &budget).await {
            Ok(_) => {
                failures = 0;
                // Then what the district sends down (update bundles), at most once a minute.
                if last_downlink.is_none_or(|t: std::time::Instant| t.elapsed() >= *DOWNLINK_EVERY)
                    && let Some(e) = enrolment(&dir)
                {
                    last_downlink = Some(std::time::Instant::now());
                    let r = match client(e.pin_sha256.as_deref()) {
                        Ok(c) => downlink::fetch(&store, &c, &e, &budget).await,
                        Err(err) => Err(err),
                    };
                    if let Err(err) = r {
                        tracing::warn!(error = %err, "fetching from the district failed; will retry");
                        last_downlink = None;
                    }
                }
                Duration::from_secs(5)
            }
            Err(err) => {
                // A link that drops but still carries data is retried soon; one that carries
                // nothing is left alone longer and longer.
                failures = if LANDED.load(Ordering::Relaxed) != landed {
                    1
                } else {
                    failures + 1
                };
                tracing::warn!(error = %err, failures, "relay to the district hub failed; will retry");
                let mut st = state(&dir);
                st.last_error = Some(err.to_string());
                st.last_error_at = Some(jiff::Timestamp::now().to_string());
                let _ = save_state(&dir, &st);
                let base = 2u64.saturating_pow(failures.min(9)).min(600);
                Duration::from_millis(base * 1000 / 2 + rand::random::<u64>() % (base * 500 + 1))
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The status page's numbers.
pub fn status(store: &Store) -> serde_json::Value {
    let dir = store.dir();
    let e = enrolment(dir);
    let st = state(dir);
    serde_json::json!({
        "enrolled": e.is_some(),
        "enrolment_pending": e.is_none() && pending(dir).is_some(),
        "downlink": downlink::seen(dir).items,
        "clone_suspected": crate::provision::identity::check(dir) == crate::provision::identity::Check::Clone,
        "hub": e.as_ref().map(|e| e.hub.clone()),
        "school": e.as_ref().map(|e| e.school.clone()),
        "queued": backlog(store, dir).unwrap_or(0),
        "batches_sent": st.batches_sent,
        "bytes_sent": st.bytes_sent,
        "raw_bytes": st.raw_bytes,
        "last_success": st.last_success,
        "last_error": st.last_error,
        "last_error_at": st.last_error_at,
        "link_bytes_per_second": st.link_bps,
        "renumbered": st.renumbered,
        "held_pending": st.held_pending.is_some(),
        "restore_report": restore_report(dir),
    })
}

/// `tram relay status` for people: what is queued and sent, the last error, and after a
/// restore what the district holds that this box does not.
pub fn status_text(v: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let s = |k: &str| v[k].as_str().unwrap_or("—").to_string();
    if v["enrolled"].as_bool() != Some(true) {
        let _ = writeln!(
            o,
            "Not enrolled with a district hub{}.",
            if v["enrolment_pending"].as_bool() == Some(true) {
                " (an enrolment from provisioning is pending: the hub was not reachable yet)"
            } else {
                " (tram relay enroll --hub URL --token TOKEN)"
            }
        );
    } else {
        let _ = writeln!(o, "Hub:            {}  (school {})", s("hub"), s("school"));
    }
    if v["clone_suspected"].as_bool() == Some(true) {
        let _ = writeln!(
            o,
            "WARNING: this data was provisioned on other hardware (a copied disk?): nothing is relayed until the district enrols this box again."
        );
    }
    let _ = writeln!(
        o,
        "Queued:         {} outbox entries",
        v["queued"].as_u64().unwrap_or(0)
    );
    let _ = writeln!(
        o,
        "Sent:           {} batches, {} bytes ({} before compression)",
        v["batches_sent"].as_u64().unwrap_or(0),
        v["bytes_sent"].as_u64().unwrap_or(0),
        v["raw_bytes"].as_u64().unwrap_or(0)
    );
    let _ = writeln!(o, "Last success:   {}", s("last_success"));
    if let Some(bps) = v["link_bytes_per_second"].as_f64() {
        let _ = writeln!(
            o,
            "Link speed:     {:.0} kbit/s (last upload)",
            bps * 8.0 / 1000.0
        );
    }
    if let Some(e) = v["last_error"].as_str() {
        let _ = writeln!(o, "Last error:     {e}  (at {})", s("last_error_at"));
    }
    if let Some(n) = v["renumbered"].as_u64().filter(|n| *n > 0) {
        let _ = writeln!(
            o,
            "At enrolment {n} entries the hub had never receipted were renumbered above its mark and sent."
        );
    }
    if v["held_pending"] == true {
        let _ = writeln!(
            o,
            "Not yet known:  what the district holds from the old box after its backup (the hub has not answered yet; nothing is sent until it has)"
        );
    }
    if let Some(missing) = v["restore_report"]["missing"].as_array()
        && !missing.is_empty()
    {
        let _ = writeln!(
            o,
            "The district holds {} records this box does not have (changed on the old box after its last backup). Enter them again:",
            missing.len()
        );
        for (i, m) in missing.iter().enumerate() {
            let _ = writeln!(
                o,
                "  {}  [{} {}, relayed {}]",
                v["restore_report"]["labels"][i].as_str().unwrap_or(""),
                m["kind"].as_str().unwrap_or(""),
                m["key"].as_str().unwrap_or(""),
                m["at"].as_str().unwrap_or("")
            );
        }
    }
    o
}

/// The hub benchmark (`tram bench-relay-hub`): `schools` made-up schools enrol with tokens from
/// the running hub at `hub_data`, then all send `batches` batches of `entries` result records at
/// once, each batch in one request. Returns the acknowledgement latencies in milliseconds.
pub async fn bench_hub(
    hub: &str,
    hub_data: &Path,
    schools: usize,
    batches: u64,
    entries: u64,
) -> anyhow::Result<Vec<f64>> {
    let c = client(None)?;
    let mut senders = Vec::new();
    for i in 0..schools {
        let code = format!("bench{i:03}");
        let req = crate::backup::control::Request {
            op: "district-token".into(),
            to: PathBuf::new(),
            options: None,
            args: vec![code.clone(), format!("Trường {i}")],
        };
        let text = crate::backup::control::ask(hub_data, &req)?
            .text
            .ok_or_else(|| anyhow::anyhow!("no token"))?;
        let token = text
            .lines()
            .find(|l| l.contains("use once"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_default()
            .to_string();
        let key = SigningKey::from_bytes(&rand::random());
        let r: serde_json::Value = c
            .post(format!("{hub}/relay/v1/enrol"))
            .json(&serde_json::json!({"token": token, "public_key": hex::encode(key.verifying_key().to_bytes())}))
            .send()
            .await?
            .json()
            .await?;
        let secret = r["secret"].as_str().unwrap_or_default().to_string();
        let c = c.clone();
        let hub = hub.to_string();
        senders.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for seq in 1..=batches {
                let list: Vec<crate::store::OutboxEntry> = (0..entries)
                    .map(|k| {
                        let n = (seq - 1) * entries + k + 1;
                        crate::store::OutboxEntry {
                            seq: n,
                            kind: "result".into(),
                            key: format!("2026-2027/1/hs-{:05}", n % 1500),
                            op: "update".into(),
                            record: Some(serde_json::json!({
                                "matruong": code, "hocky": "1", "mahocluc": 1 + n % 4,
                                "diemmon": {"toan": format!("{}.{}", 5 + n % 5, n % 10), "nv": "7.5", "nn1": "8.0", "khtn": "6.8"},
                                "phienban": n,
                            })),
                            at: "t".into(),
                        }
                    })
                    .collect();
                let bytes = batch::build(&key, &code, seq, &list, 0, "t");
                let t = std::time::Instant::now();
                let r = c
                    .patch(format!("{hub}/relay/v1/batches/{code}/{seq}"))
                    .header("authorization", format!("Bearer {secret}"))
                    .header("upload-offset", "0")
                    .header("upload-length", bytes.len().to_string())
                    .body(bytes)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "batch {seq} of {code}: {}", r.status());
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for s in senders {
        all.extend(s.await??);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, record: serde_json::Value) -> OutboxEntry {
        OutboxEntry {
            seq: 1,
            kind: kind.into(),
            key: "k".into(),
            op: "update".into(),
            record: Some(record),
            at: "t".into(),
        }
    }

    #[test]
    fn a_reenrolled_box_numbers_its_outbox_above_what_the_hub_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        crate::demo::seed(&store, "x", 40, jiff::Timestamp::now()).unwrap();
        let mine = store.outbox_count_after(0).unwrap();
        assert!(mine > 100);
        // The hub holds more than this (older) copy of the database has: new entries follow it.
        let mut st = state(dir.path());
        st.acked_outbox = mine + 50;
        st.reserve_outbox = Some(mine + 50);
        st.next_seq = 9;
        save_state(dir.path(), &st).unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        // The first batch carries only the marker (it never leaves: 0 entries), so the hub
        // learns where the numbering continues.
        let b = next_batch(&store, dir.path(), &key, "s", &Budget::default())
            .unwrap()
            .unwrap();
        let (env, _) = batch::envelope(&b).unwrap();
        assert_eq!(
            (env.seq, env.first, env.last, env.entries),
            (9, mine + 51, mine + 51, 0)
        );
        assert!(state(dir.path()).reserve_outbox.is_none());
        let mut st = state(dir.path());
        st.acked_outbox = env.last;
        st.next_seq = 10;
        save_state(dir.path(), &st).unwrap();
        std::fs::remove_file(outgoing(dir.path())).unwrap();
        crate::demo::bench_relay(&store, 1).unwrap();
        let b = next_batch(&store, dir.path(), &key, "s", &Budget::default())
            .unwrap()
            .unwrap();
        let (env, _) = batch::envelope(&b).unwrap();
        assert_eq!(
            (env.seq, env.first, env.last, env.entries),
            (10, mine + 52, mine + 52, 1)
        );
        // Reserving below what the outbox already has changes nothing.
        assert!(!store.outbox_reserve(3).unwrap());
    }

    /// A box restored from a backup: the hub holds more than the backup (the dead box relayed
    /// after it), and the restored box has written new entries under numbers the hub already
    /// holds from the dead box. Nothing is skipped: every entry above what this box knew was
    /// receipted is renumbered above the hub's mark, in order, and sent.
    #[test]
    fn a_restored_box_renumbers_what_the_hub_never_receipted_instead_of_skipping_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        crate::demo::seed(&store, "x", 40, jiff::Timestamp::now()).unwrap();
        let mine = store.outbox_count_after(0).unwrap();
        // The backup knew the hub had stored up to mine - 10; the dead box went on to mine + 50.
        let mut st = state(dir.path());
        st.acked_outbox = mine - 10;
        save_state(dir.path(), &st).unwrap();
        // New work on the restored box before and during the enrolment.
        crate::demo::bench_relay(&store, 3).unwrap();
        let total = store.outbox_count_after(0).unwrap();
        let new_here = total - mine;
        assert!(new_here >= 3);
        let before: Vec<_> = store.outbox(mine - 10, 100_000).unwrap();
        // Enrolment as `enrol` records it.
        let mut st = state(dir.path());
        let receipted = st.acked_outbox.min(mine + 50);
        st.acked_outbox = receipted;
        st.reserve_outbox = Some(mine + 50);
        st.resend_from = Some(receipted);
        st.next_seq = 9;
        save_state(dir.path(), &st).unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        let budget = Budget {
            batch_entries: 100_000,
            ..Budget::default()
        };
        let b = next_batch(&store, dir.path(), &key, "s", &budget)
            .unwrap()
            .unwrap();
        let (env, _) = batch::envelope(&b).unwrap();
        assert_eq!(env.first, mine + 51, "continues right above the hub's mark");
        assert_eq!(
            env.last - env.first + 1,
            10 + new_here,
            "every unreceipted entry goes"
        );
        assert_eq!(state(dir.path()).renumbered, 10 + new_here);
        // The same entries, in the same order, only renumbered.
        let after: Vec<_> = store.outbox(mine + 50, 100_000).unwrap();
        assert_eq!(before.len(), after.len());
        for (a, b) in before.iter().zip(&after) {
            assert_eq!((&a.kind, &a.key, &a.record), (&b.kind, &b.key, &b.record));
        }
        assert!(
            store
                .outbox(0, 100_000)
                .unwrap()
                .iter()
                .all(|e| e.seq <= mine - 10 || e.seq > mine + 50)
        );
    }

    #[test]
    fn privacy_keeps_kinds_home_and_blanks_free_text_by_default() {
        let result = serde_json::json!({"mahocsinh": "hs-1", "nhanxet": "Em cần cố gắng hơn."});
        let p = Privacy::default();
        let out = p.apply(entry("result", result.clone())).unwrap();
        assert!(out.record.unwrap()["nhanxet"].is_null());
        let open = Privacy {
            comments: true,
            ..Privacy::default()
        };
        let out = open.apply(entry("result", result.clone())).unwrap();
        assert_eq!(out.record.unwrap()["nhanxet"], "Em cần cố gắng hơn.");
        let some = Privacy {
            kinds: Some(vec!["class".into()]),
            comments: false,
        };
        assert!(some.apply(entry("result", result)).is_none());
        assert!(some.apply(entry("class", serde_json::json!({}))).is_some());
    }
}
