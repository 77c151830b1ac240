//! Enrolment with the hub and the relay's own state on disk: the device key, the pending and
//! confirmed enrolment (`relay.json`), `relay-state.json`, and the HTTPS client that pins the
//! hub's certificate.

use super::*;

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

pub(super) fn pending_path(data_dir: &Path) -> PathBuf {
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

pub(super) fn save_state(data_dir: &Path, s: &RelayState) -> std::io::Result<()> {
    crate::config::write_atomic(
        &state_path(data_dir),
        &serde_json::to_vec_pretty(s).expect("serialisable"),
    )
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

/// Why an enrolment did not happen (nothing was changed on the box). The English text is what
/// the CLI and the logs say; [`EnrolError::message_vi`] is what the admin page says.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("the hub address must start with http:// or https://, e.g. https://10.0.0.5:9443")]
    BadAddress,
    #[error("the enrolment token is empty")]
    NoToken,
    #[error("an HTTPS hub needs --pin SHA256 (printed by `tram district token` on the hub)")]
    PinNeeded,
    #[error(
        "the pin must be the 64 hexadecimal digits printed by `tram district token` (colons and spaces are allowed)"
    )]
    BadPin,
    #[error(
        "{0} — check the pin printed by `tram district token` on the hub (nothing was enrolled)"
    )]
    PinMismatch(String),
    #[error("cannot reach the hub at {hub}: {why}")]
    Unreachable { hub: String, why: String },
    /// The hub's answer: its error code (`bad_token`, `token_expired`, …) and its English text.
    #[error("the hub refused the enrolment: {message}")]
    Refused { code: String, message: String },
    #[error("{0} did not answer as a district hub ({1}); nothing was enrolled")]
    NotAHub(String, &'static str),
    #[error(transparent)]
    Local(#[from] std::io::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl EnrolError {
    /// What the admin page shows.
    pub fn message_vi(&self) -> String {
        match self {
            EnrolError::BadAddress => "Địa chỉ hub phải bắt đầu bằng http:// hoặc https://, ví dụ https://10.0.0.5:9443.".into(),
            EnrolError::NoToken => "Hãy dán mã ghi danh (token) do Phòng GD&ĐT cấp.".into(),
            EnrolError::PinNeeded => "Hub dùng HTTPS: hãy dán cả mã pin (SHA-256) in cùng mã ghi danh.".into(),
            EnrolError::BadPin => "Mã pin phải gồm đúng 64 chữ số thập lục phân (0–9, a–f) như Phòng GD&ĐT gửi (được có dấu hai chấm hoặc dấu cách giữa các cặp chữ số).".into(),
            EnrolError::PinMismatch(_) => "Chứng chỉ của hub không khớp mã pin: kiểm tra lại mã pin Phòng GD&ĐT gửi (chưa ghi danh gì).".into(),
            EnrolError::Unreachable { hub, .. } => format!("Không kết nối được hub tại {hub}: kiểm tra địa chỉ và đường mạng rồi thử lại (chưa ghi danh gì)."),
            // The hub answers in English (its own logs and the CLI): its codes are said here.
            EnrolError::Refused { code, message } => match code.as_str() {
                "bad_token" => "Hub từ chối: mã ghi danh không đúng, đã được dùng, hoặc đã bị thay bằng một mã mới hơn (mỗi mã mới huỷ các mã cũ của trường). Hãy xin Phòng GD&ĐT cấp mã mới (chưa ghi danh gì).".into(),
                "token_expired" => "Hub từ chối: mã ghi danh đã hết hạn. Hãy xin Phòng GD&ĐT cấp mã mới (chưa ghi danh gì).".into(),
                "rejected" => "Hub từ chối khoá của thiết bị này: thử lại; nếu vẫn lỗi, báo Phòng GD&ĐT (chưa ghi danh gì).".into(),
                "unavailable" => "Cơ sở dữ liệu của hub đang tạm ngừng: thử lại sau ít phút (chưa ghi danh gì).".into(),
                _ => format!("Hub từ chối ghi danh (mã lỗi {code}): {message}"),
            },
            EnrolError::NotAHub(hub, _) => format!("Máy tại {hub} không trả lời như hub của Phòng GD&ĐT: kiểm tra lại địa chỉ (chưa ghi danh gì)."),
            EnrolError::Local(_) | EnrolError::Other(_) => format!("Không ghi danh được: {self}"),
        }
    }
}

/// The pin as stored and compared: lowercase hex. Accepts the forms people paste — uppercase,
/// pairs separated by colons as browsers and `openssl x509 -fingerprint` print it
/// (`67:B5:…`), or by spaces.
pub fn normalise_pin(pin: &str) -> Result<String, EnrolError> {
    let hex: String = pin
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EnrolError::BadPin);
    }
    Ok(hex.to_ascii_lowercase())
}

/// Enrols this school with a hub using a one-time token from district staff.
pub async fn enrol(
    data_dir: &Path,
    hub: &str,
    token: &str,
    pin_sha256: Option<&str>,
) -> Result<Enrolment, EnrolError> {
    let hub = hub.trim().trim_end_matches('/').to_string();
    let scheme_ok = ["http://", "https://"].iter().any(|p| {
        hub.len() > p.len()
            && hub
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
    });
    if !scheme_ok || hub.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EnrolError::BadAddress);
    }
    if token.trim().is_empty() {
        return Err(EnrolError::NoToken);
    }
    let pin_sha256 = match pin_sha256.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(normalise_pin(p)?),
        None => None,
    };
    let https = hub
        .get(..8)
        .is_some_and(|h| h.eq_ignore_ascii_case("https://"));
    if https && pin_sha256.is_none() {
        return Err(EnrolError::PinNeeded);
    }
    use crate::pki::identity;
    let clone = identity::check(data_dir) == identity::Check::Clone;
    let c = client(pin_sha256.as_deref())?;
    if clone {
        // A copied disk: this box gets a key of its own, never the original's.
        let _ = std::fs::remove_file(data_dir.join("keys").join("device.key"));
    }
    let key = device_key(data_dir)?;
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
                Some(i) => EnrolError::PinMismatch(
                    chain[i..].trim_end_matches(['"', ' ', ')']).to_string(),
                ),
                None => EnrolError::Unreachable {
                    hub: hub.clone(),
                    why: chain,
                },
            }
        })?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(EnrolError::Refused {
            code: body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("unknown reason")
                .to_string(),
        });
    }
    // Whatever answered 200 is not trusted as the hub until its answer is one: a school code,
    // the same the token was issued for, and an upload secret.
    let school = body["school"].as_str().unwrap_or_default().to_string();
    let secret = body["secret"].as_str().unwrap_or_default().to_string();
    let token_school = token.trim().split_once('-').map(|(s, _)| s);
    let why = if school.is_empty() || !school.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Some("no school code in its answer")
    } else if token_school.is_some_and(|t| !t.eq_ignore_ascii_case(&school)) {
        Some("its answer names another school than the token")
    } else if secret.len() < 16 {
        Some("no upload secret in its answer")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(EnrolError::NotAHub(hub, why));
    }
    let e = Enrolment {
        hub,
        school,
        secret,
        pin_sha256,
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

#[cfg(test)]
mod pin_tests {
    use super::*;

    #[test]
    fn a_pin_is_read_in_the_forms_people_paste() {
        let hex = "67b5".repeat(16);
        let colons = "67:B5:".repeat(16);
        let colons = colons.trim_end_matches(':');
        assert_eq!(normalise_pin(&hex).unwrap(), hex);
        assert_eq!(normalise_pin(&hex.to_uppercase()).unwrap(), hex);
        assert_eq!(normalise_pin(colons).unwrap(), hex);
        assert_eq!(normalise_pin(&colons.replace(':', " ")).unwrap(), hex);
        assert!(matches!(normalise_pin(&hex[..62]), Err(EnrolError::BadPin)));
        assert!(matches!(
            normalise_pin(&format!("{}zz", &hex[..62])),
            Err(EnrolError::BadPin)
        ));
    }
}
