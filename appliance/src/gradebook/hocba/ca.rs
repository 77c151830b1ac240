//! The school signing CA's key, sealed (issue 22): stored here, opened only through a member of
//! the Ban giám hiệu's signing PIN, and the certificate requests it answers.
//!
//! [`CA_KEY`] holds the CA's private key encrypted under a data key (`pki::signing::seal_ca`);
//! [`CA_WRAPS`] the data key wrapped to the public key of each current BGH signer (one row per
//! account, bound to the account and the CA certificate). Wrapping needs no PIN, so whenever the
//! CA is open — an issuing, the sealing at start — [`sync_wraps`] adds a wrap for every BGH
//! signer that lacks one (or whose key changed) and drops the wraps of accounts no longer BGH
//! or disabled. [`REQUESTS`] holds the certificate requests: the key pair made on the box, its
//! private key sealed under the requester's PIN at once, waiting for a BGH member's approval.
//! All three are in the database (the backup carries them), audited as digests, listed in
//! `app/schema.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{HocbaError, SIGNERS, head_role, signer};
use crate::auth::{Account, Principal, Role};
use crate::pki::signing::{
    self, CaWrap, DataKey, SealedCa, SignerRecord, SignerRequest, SigningCa,
};
use crate::store::{Actor, AuditPolicy, Collection, Read, Store, Tx};

/// The sealed CA key, one row "ca".
pub const CA_KEY: Collection<SealedCa> =
    Collection::new("gradebook.hocba_ca.v1", AuditPolicy::Digest, None);
/// The CA's data key wrapped to each holder's public key, keyed by account.
pub const CA_WRAPS: Collection<CaWrap> =
    Collection::new("gradebook.hocba_ca_wraps.v1", AuditPolicy::Digest, None);
/// Certificate requests waiting for a BGH member (or declined, with the reason), by account.
pub const REQUESTS: Collection<CertRequest> = Collection::new(
    "gradebook.hocba_cert_requests.v1",
    AuditPolicy::Digest,
    None,
);

/// Why an account's wrap was dropped while it was not a current BGH member (demoted or
/// disabled), by account: her refusal then says so, until a wrap is hers again.
pub const CA_DROPPED: Collection<DroppedWrap> =
    Collection::new("gradebook.hocba_ca_dropped.v1", AuditPolicy::Values, None);

/// Each renewal or recovery of the school signing CA, keyed by the new CA certificate's
/// SHA-256: who, why, when, the new certificate (so a start after a power cut between the
/// commit and writing `keys/signing-ca.crt` finishes it, [`finish_renewal`]), which signers'
/// certificates were re-issued. Audited with its values: the audit log says who and why.
pub const RENEWALS: Collection<Renewal> =
    Collection::new("gradebook.hocba_ca_renewals.v1", AuditPolicy::Values, None);

pub const TABLES: [&str; 5] = [
    CA_KEY.name,
    CA_WRAPS.name,
    REQUESTS.name,
    CA_DROPPED.name,
    RENEWALS.name,
];

/// One renewal (or recovery) of the school signing CA, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Renewal {
    pub at: String,
    /// The account the new CA is wrapped for (the acting BGH member, or the principal a
    /// recovery names).
    pub by: String,
    pub by_name: String,
    /// A recovery: no holder's PIN opened the old CA (school IT, on the box's command line).
    pub recovery: bool,
    pub reason: String,
    /// The new CA certificate (PEM) and the SHA-256 of the one it replaced.
    pub cert_pem: String,
    pub previous_sha256: String,
    /// The accounts whose certificates were re-issued by the new CA (same key), and those that
    /// must ask for a new one (a key sealed with its certificate, binding v1).
    pub reissued: Vec<String>,
    #[serde(default)]
    pub must_request: Vec<String>,
}

/// A wrap dropped because its holder stopped being a current BGH member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedWrap {
    pub at: String,
}

const CA_ROW: &str = "ca";

/// A request as stored: the sealed key pair and, once declined, who declined it and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertRequest {
    #[serde(flatten)]
    pub request: SignerRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declined: Option<Declined>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Declined {
    /// The decliner's full name.
    pub by: String,
    pub reason: String,
    pub at: String,
}

/// Only one first certificate at a time: the CA certificate file is written before the commit.
static BOOTSTRAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether `a` is a current member of the Ban giám hiệu (principal or vice principal, enabled).
/// A role a certificate names is the principal's or a vice principal's.
fn head_role_named(role: &str) -> bool {
    ["Hiệu trưởng", "Phó hiệu trưởng"].contains(&role)
}

fn is_head_now(a: &Account) -> bool {
    !a.disabled && head_role(&a.roles).is_some()
}

/// The role a certificate for `p` names, from what the account is — never what a form or a
/// command line claims: `wanted` is "hieu-truong", "pho-hieu-truong" or "gvcn"; none picks the
/// head's role, else the homeroom teacher's. The CLI and the web share it.
pub fn role_for(p: &Principal, wanted: Option<&str>) -> Result<&'static str, HocbaError> {
    let roles = &p.account.roles;
    let gvcn = !p.homeroom.is_empty();
    match wanted {
        Some("hieu-truong") if roles.contains(&Role::Principal) => Ok("Hiệu trưởng"),
        Some("pho-hieu-truong") if roles.contains(&Role::VicePrincipal) => Ok("Phó hiệu trưởng"),
        Some("gvcn") if gvcn => Ok("Giáo viên chủ nhiệm"),
        None => match head_role(roles) {
            Some(r) => Ok(r),
            None if gvcn => Ok("Giáo viên chủ nhiệm"),
            None => Err(HocbaError::NoSigningRole),
        },
        Some(_) => Err(HocbaError::NoSigningRole),
    }
}

/// Whether `p` still is what `role` (a certificate's role) says.
fn holds_role(p: &Principal, role: &str) -> bool {
    match role {
        "Hiệu trưởng" => p.account.roles.contains(&Role::Principal),
        "Phó hiệu trưởng" => p.account.roles.contains(&Role::VicePrincipal),
        "Giáo viên chủ nhiệm" => !p.homeroom.is_empty(),
        _ => false,
    }
}

/// Whether the CA is sealed in the database (then every certificate needs a holder's PIN).
pub fn ca_sealed(r: &impl Read) -> Result<bool, HocbaError> {
    Ok(r.get(&CA_KEY, CA_ROW)?.is_some())
}

/// The accounts holding a wrap of the CA.
pub fn holders(r: &impl Read) -> Result<Vec<String>, HocbaError> {
    Ok(r.scan(&CA_WRAPS, "")?.into_iter().map(|(k, _)| k).collect())
}

/// Adds a wrap for every BGH signer lacking one (or whose key is not the one wrapped to) and
/// drops the wraps of accounts no longer BGH, disabled or without a signer record. A new wrap
/// goes only to a key sealed under a PIN of [`crate::pki::seal::MIN_CA_PIN`] digits or more
/// (`SignerRecord::ca_pin`, review r17 #2): a holder whose PIN is shorter (or not known yet)
/// keeps the wrap she has and is told to change her PIN (`holder_pin_short`) — unless no
/// holder would remain at all (an earlier version's plain key sealed at start), when the CA is
/// wrapped to them rather than lost. Returns (added, dropped).
pub fn sync_wraps(
    tx: &mut Tx<'_>,
    ca_sha256: &str,
    data_key: &DataKey,
) -> Result<(usize, usize), HocbaError> {
    let now = tx.now();
    let mut wanted = BTreeMap::new();
    for (id, rec) in tx.scan(&SIGNERS, "")? {
        let Some(account) = tx.get(&crate::auth::ACCOUNTS, &id)? else {
            continue;
        };
        if !is_head_now(&account) {
            continue;
        }
        let cert = record_cert(&rec)?;
        let long = rec.ca_pin == Some(true);
        wanted.insert(id, (cert.tbs_certificate.subject_public_key_info, long));
    }
    let (mut added, mut dropped, mut kept) = (0, 0, 0);
    for (id, wrap) in tx.scan(&CA_WRAPS, "")? {
        let current = wanted.get(&id).is_some_and(|(spki, _)| {
            wrap.ca_sha256 == ca_sha256 && wrap.holder_key == signing::spki_sha256(spki)
        });
        if current {
            wanted.remove(&id);
            kept += 1;
        } else {
            drop_wrap(tx, &id)?;
            dropped += 1;
        }
    }
    let any_long = wanted.values().any(|(_, long)| *long);
    for (id, (spki, long)) in wanted {
        // A short PIN gets the CA only when nobody else would hold it.
        if !long && (kept > 0 || any_long) {
            continue;
        }
        let wrap = signing::wrap_data_key(data_key, &spki, &id, ca_sha256, now)?;
        tx.put(&CA_WRAPS, &id, &wrap, "hocba.ca_wrap_added")?;
        if tx.get(&CA_DROPPED, &id)?.is_some() {
            tx.delete(&CA_DROPPED, &id, "hocba.ca_wrap_restored")?;
        }
        added += 1;
    }
    Ok((added, dropped))
}

/// Whether `account`, a BGH member with a signing certificate, has a PIN too short to be given
/// the school signing CA: `Some(true)` under 8 digits, `Some(false)` long enough, `None` not
/// known yet (sealed before the length was recorded: her next right PIN tells).
/// The account's current BGH role counts as well as the certificate's (review r19 #3): a
/// teacher made a vice principal holds a GVCN certificate, but her PIN is the one the CA will
/// be wrapped to.
pub fn holder_pin_short(r: &impl Read, account: &str) -> Result<Option<bool>, HocbaError> {
    let head = r
        .get(&crate::auth::ACCOUNTS, account)?
        .is_some_and(|a| is_head_now(&a));
    Ok(signer(r, account)?
        .filter(|rec| head || signing::is_head_role(&rec.role))
        .and_then(|rec| rec.ca_pin.map(|long| !long)))
}

/// The role whose PIN rule `p`'s signing PIN follows: her current BGH role if she has one
/// (her PIN opens the school signing CA once it is wrapped to her key), else her
/// certificate's `cert_role` (review r19 #3).
pub fn pin_rule_role<'a>(p: &Principal, cert_role: &'a str) -> &'a str {
    match head_role(&p.account.roles) {
        Some(head) if !p.account.disabled => head,
        _ => cert_role,
    }
}

/// Whether a new signing PIN of `p` for a certificate of `cert_role` needs the Ban giám
/// hiệu's [`crate::pki::seal::MIN_CA_PIN`] digits: by the account's current BGH role, not the
/// certificate's (a vice principal asking for a GVCN certificate too, review r22 #5). The one
/// answer for the web and every CLI path that sets a PIN.
pub fn needs_ca_pin(p: &Principal, cert_role: &str) -> bool {
    signing::is_head_role(pin_rule_role(p, cert_role))
}

/// Deletes `id`'s wrap, noting why when she is no current BGH member (so her refusal says it).
fn drop_wrap(tx: &mut Tx<'_>, id: &str) -> Result<(), HocbaError> {
    tx.delete(&CA_WRAPS, id, "hocba.ca_wrap_dropped")?;
    let head = tx
        .get(&crate::auth::ACCOUNTS, id)?
        .is_some_and(|a| is_head_now(&a));
    if !head {
        let at = tx.now().to_string();
        tx.put(
            &CA_DROPPED,
            id,
            &DroppedWrap { at },
            "hocba.ca_wrap_dropped",
        )?;
    }
    Ok(())
}

/// The wraps of accounts no longer current BGH members (demoted, disabled, gone), dropped at
/// once — removing a wrap needs no key —, in the transaction that changed the account (the
/// accounts API, the staff import) and at every start, so the signer page is true at once
/// (review r13 #8). The last wraps are kept while no current member holds one: dropping them
/// would lose the CA for good; they open nothing until their holder is a member again
/// (`issue_by_holder` asks for a current member). Returns the wraps dropped.
pub fn drop_stale_wraps(tx: &mut Tx<'_>) -> Result<usize, HocbaError> {
    let mut stale = Vec::new();
    let mut current = 0;
    for (id, _) in tx.scan(&CA_WRAPS, "")? {
        let head = tx
            .get(&crate::auth::ACCOUNTS, &id)?
            .is_some_and(|a| is_head_now(&a));
        if head && tx.get(&SIGNERS, &id)?.is_some() {
            current += 1;
        } else {
            stale.push(id);
        }
    }
    if current == 0 {
        return Ok(0);
    }
    for id in &stale {
        drop_wrap(tx, id)?;
    }
    Ok(stale.len())
}

/// [`drop_stale_wraps`] in a write of its own: the start step of server and CLI (an account
/// changed by an earlier version, or a power cut between two writes). A no-op when none is
/// stale.
pub fn drop_stale_wraps_now(store: &Store, now: jiff::Timestamp) -> Result<usize, HocbaError> {
    let rx = store.read()?;
    let mut any = false;
    for (id, _) in rx.scan(&CA_WRAPS, "")? {
        let head = rx
            .get(&crate::auth::ACCOUNTS, &id)?
            .is_some_and(|a| is_head_now(&a));
        any |= !head || rx.get(&SIGNERS, &id)?.is_none();
    }
    drop(rx);
    if !any {
        return Ok(0);
    }
    store.write(&Actor::system(now), drop_stale_wraps)
}

fn record_cert(rec: &SignerRecord) -> Result<x509_cert::Certificate, HocbaError> {
    hex::decode(&rec.cert)
        .ok()
        .and_then(|d| <x509_cert::Certificate as der::Decode>::from_der(&d).ok())
        .ok_or_else(|| HocbaError::Damaged(format!("signer certificate of {}", rec.account)))
}

/// Opens the CA through `account`'s wrap with her signing PIN: her key first (a wrong PIN is
/// [`signing::SigningError::WrongPin`]), then her wrap, then the sealed key. Also what a test
/// simulating whoever holds a BGH member's PIN uses.
pub fn open_ca(
    r: &impl Read,
    data_dir: &std::path::Path,
    account: &str,
    pin: &str,
) -> Result<SigningCa, HocbaError> {
    Ok(open_with_key(r, data_dir, account, pin)?.0)
}

pub(super) fn open_with_key(
    r: &impl Read,
    data_dir: &std::path::Path,
    account: &str,
    pin: &str,
) -> Result<(SigningCa, DataKey), HocbaError> {
    let cert = signing::ca_cert(data_dir)?.ok_or(HocbaError::NoCa)?;
    let sealed = r.get(&CA_KEY, CA_ROW)?.ok_or(HocbaError::NoCaHolder)?;
    let rec = signer(r, account)?.ok_or(signing::SigningError::NoSigner)?;
    let unlocked = signing::unlock(&rec, pin)?;
    let Some(wrap) = r.get(&CA_WRAPS, account)? else {
        // Why she holds none: dropped when she stopped being a BGH member, or her certificate
        // (or her membership) came after the CA was last opened.
        return Err(if r.get(&CA_DROPPED, account)?.is_some() {
            HocbaError::CaHolderDropped
        } else {
            HocbaError::NotCaHolder
        });
    };
    let digest = signing::cert_sha256(&cert);
    let data_key = signing::unwrap_data_key(&unlocked.key, &wrap, account, &digest)?;
    let ca = signing::open_ca(&cert, &sealed, &data_key)?;
    Ok((ca, data_key))
}

/// The start-up step for boxes of earlier versions: a plain `keys/signing-ca.key` is sealed at
/// once when at least one BGH signer exists (wraps need only public keys), committed, then the
/// file is overwritten and removed. With no BGH signer it stays, with a warning, until the
/// first BGH certificate is issued. Idempotent: a sealed key already committed (a power cut
/// between the commit and the removal) only removes the file. Returns whether it sealed or
/// removed anything.
pub fn seal_plain_ca(store: &Store, now: jiff::Timestamp) -> Result<bool, HocbaError> {
    finish_renewal(store)?;
    let dir = store.dir();
    if let Some(d) = signing::ca_cert(dir)?.and_then(|c| signing::days_left(&c, now))
        && d <= signing::CA_WARN_DAYS
    {
        tracing::warn!(
            days_left = d,
            "the school signing CA certificate ends soon (or has ended): renew it with tram hocba ca renew --by BGH_USER"
        );
    }
    // Each signer certificate that ends soon or has ended: its holder asks for a new one.
    for line in signer_lines(&store.read()?, dir, now)?
        .iter()
        .filter(|l| l.ending || l.expired || l.retired.is_some())
    {
        match line.retired {
            Some(n) => tracing::warn!(
                account = %line.account,
                "the học bạ signing certificate of {} was issued by a retired school CA ({n}) and signs nothing: its holder asks for a new one on the signer page (Chứng thư ký học bạ) and a BGH member approves it",
                line.full_name,
            ),
            None => tracing::warn!(
                account = %line.account,
                days_left = line.days_left,
                "the học bạ signing certificate of {} {} on {}: its holder asks for a new one on the signer page (Chứng thư ký học bạ) and a BGH member approves it",
                line.full_name,
                if line.expired { "ended" } else { "ends" },
                line.valid_until
            ),
        }
    }
    if !signing::plain_ca_key_present(dir) {
        return Ok(false);
    }
    let ca = signing::plain_ca_key(dir)?.ok_or(HocbaError::NoCa)?;
    let digest = ca.cert_sha256();
    if let Some(sealed) = store.read()?.get(&CA_KEY, CA_ROW)? {
        if sealed.cert_sha256 != digest {
            return Err(HocbaError::Damaged(
                "keys/signing-ca.key is another CA than the one sealed in the database; left in place"
                    .into(),
            ));
        }
        signing::remove_plain_ca_key(dir).map_err(signing::SigningError::from)?;
        tracing::info!("plain signing CA key removed (it was sealed before)");
        return Ok(true);
    }
    let any_head = {
        let r = store.read()?;
        let mut any = false;
        for (id, _) in r.scan(&SIGNERS, "")? {
            if r.get(&crate::auth::ACCOUNTS, &id)?
                .is_some_and(|a| is_head_now(&a))
            {
                any = true;
                break;
            }
        }
        any
    };
    if !any_head {
        tracing::warn!(
            "the school signing CA key is still plain in keys/signing-ca.key: it is sealed when the first certificate of the principal or a vice principal is issued"
        );
        return Ok(false);
    }
    let (sealed, data_key) = signing::seal_ca(&ca, now)?;
    let (added, _) = store.write(&Actor::system(now), |tx| {
        if tx.get(&CA_KEY, CA_ROW)?.is_some() {
            return Ok::<_, HocbaError>((0, 0));
        }
        tx.put(&CA_KEY, CA_ROW, &sealed, "hocba.ca_sealed")?;
        sync_wraps(tx, &digest, &data_key)
    })?;
    signing::remove_plain_ca_key(dir).map_err(signing::SigningError::from)?;
    tracing::info!(
        holders = added,
        "school signing CA key sealed; the plain file is removed"
    );
    Ok(true)
}

/// Stores a signer record in `tx` (the old chain of a replaced licensed certificate kept).
fn put_signer(tx: &mut Tx<'_>, rec: &SignerRecord, replace: bool) -> Result<(), HocbaError> {
    super::put_signer(tx, rec, replace, true).map(|_| ())
}

/// The very first BGH certificate, when no one holds the CA: the CA is made (or the plain key
/// of an earlier version used), the certificate issued for `p`, the key sealed with her wrap
/// (and every other BGH signer's), all in one write; then a plain key file is destroyed.
pub fn issue_first_head(
    store: &Store,
    actor: &Actor,
    p: &Principal,
    role: &str,
    pin: &str,
    replace: bool,
) -> Result<SignerRecord, HocbaError> {
    if !is_head_now(&p.account) || !matches!(role, "Hiệu trưởng" | "Phó hiệu trưởng") {
        return Err(HocbaError::NoCaHolder);
    }
    let _one = BOOTSTRAP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = store.dir();
    let now = actor.now;
    let school = {
        let r = store.read()?;
        if ca_sealed(&r)? {
            return Err(HocbaError::CaHeld);
        }
        if !replace && signer(&r, p.id())?.is_some() {
            return Err(HocbaError::SignerExists);
        }
        crate::school::school_info(&r)?
            .map(|s| s.name)
            .ok_or_else(|| HocbaError::Damaged("this box has no school yet".into()))?
    };
    let ca = match signing::plain_ca_key(dir)? {
        Some(ca) => ca,
        None => {
            if signing::ca_cert(dir)?.is_some() {
                return Err(HocbaError::Damaged(
                    "keys/signing-ca.crt is there but its key is neither sealed in the database nor in keys/signing-ca.key"
                        .into(),
                ));
            }
            let ca = signing::new_ca(&school, now)?;
            signing::write_ca_cert(dir, &ca.cert)?;
            ca
        }
    };
    let who = signing::SignerName {
        account: p.id(),
        full_name: &p.account.full_name,
        role,
    };
    let rec = signing::issue_for_request(&ca, &signing::request_key(&who, pin, now)?, now)?;
    let (sealed, data_key) = signing::seal_ca(&ca, now)?;
    let digest = ca.cert_sha256();
    store.write(actor, |tx| {
        if tx.get(&CA_KEY, CA_ROW)?.is_some() {
            return Err(HocbaError::CaHeld);
        }
        put_signer(tx, &rec, replace)?;
        tx.delete(&REQUESTS, p.id(), "hocba.request_withdrawn")?;
        tx.put(&CA_KEY, CA_ROW, &sealed, "hocba.ca_sealed")?;
        sync_wraps(tx, &digest, &data_key)?;
        Ok(())
    })?;
    if signing::remove_plain_ca_key(dir).map_err(signing::SigningError::from)? {
        tracing::info!("plain signing CA key removed: the CA is sealed");
    }
    Ok(rec)
}

/// Issues `req` through `holder`'s wrap opened with her PIN — the web approval and `tram hocba
/// signer issue --by` —, stores the signer record (replacing an earlier one when `replace`),
/// drops the request when `stored` says it came from [`REQUESTS`] (and must still be the same),
/// and brings the wraps up to date, all in one write.
pub fn issue_by_holder(
    store: &Store,
    actor: &Actor,
    holder: &Principal,
    holder_pin: &str,
    req: &SignerRequest,
    replace: bool,
    stored: bool,
) -> Result<SignerRecord, HocbaError> {
    if !is_head_now(&holder.account) {
        return Err(HocbaError::NotApprover);
    }
    if holder.quarantined {
        return Err(HocbaError::Quarantined);
    }
    if holder.id() == req.account {
        return Err(HocbaError::OwnRequest);
    }
    let (ca, data_key) = open_with_key(&store.read()?, store.dir(), holder.id(), holder_pin)?;
    let rec = signing::issue_for_request(&ca, req, actor.now)?;
    let digest = ca.cert_sha256();
    store.write(actor, |tx| {
        if stored {
            let now_stored = tx.get(&REQUESTS, &req.account)?;
            if now_stored.as_ref().map(|q| &q.request) != Some(req)
                || now_stored.is_some_and(|q| q.declined.is_some())
            {
                return Err(HocbaError::NoRequest);
            }
        }
        put_signer(tx, &rec, replace)?;
        tx.delete(&REQUESTS, &req.account, "hocba.request_approved")?;
        sync_wraps(tx, &digest, &data_key)?;
        Ok(())
    })?;
    Ok(rec)
}

/// What a renewal or recovery did.
#[derive(Debug, Clone)]
pub struct Renewed {
    /// The new CA's name (CN) and SHA-256.
    pub name: String,
    pub sha256: String,
    /// How many earlier CAs stay trusted for verification.
    pub previous: usize,
    /// The full names of the signers whose certificates the new CA re-issued.
    pub reissued: Vec<String>,
    /// Those who must ask for a new certificate (their key is bound to the old one).
    pub must_request: Vec<String>,
}

/// Renews the school signing CA (`tram hocba ca renew`, the signer page's "Gia hạn CA"): a
/// current BGH holder opens the old CA with her PIN — proving she holds it —, and a new CA is
/// made (new key, new certificate, the same name constraints, its own validity), sealed and
/// wrapped for her and every other current BGH signer. See [`install_new_ca`].
/// The refusals of a renewal that need no PIN — not a current BGH member, quarantined, no
/// sealed CA, not a holder —, checked before a PIN try is counted (the web route and the CLI
/// alike: review r17 #6, the class of r15 #3).
/// Someone without a certificate is told so (and where to ask), not that she holds no CA
/// (review r17 #6); a holder whose PIN is known to be short is told to change it first.
pub fn renew_precheck(r: &impl Read, holder: &Principal) -> Result<(), HocbaError> {
    if !is_head_now(&holder.account) {
        return Err(HocbaError::NotRenewer);
    }
    if holder.quarantined {
        return Err(HocbaError::Quarantined);
    }
    if !ca_sealed(r)? {
        return Err(HocbaError::NoCaHolder);
    }
    signer(r, holder.id())?.ok_or(signing::SigningError::NoSigner)?;
    if !holders(r)?.iter().any(|h| h == holder.id()) {
        return Err(if r.get(&CA_DROPPED, holder.id())?.is_some() {
            HocbaError::CaHolderDropped
        } else {
            HocbaError::NotCaHolder
        });
    }
    if holder_pin_short(r, holder.id())? == Some(true) {
        return Err(HocbaError::HolderPinShort);
    }
    Ok(())
}

pub fn renew(
    store: &Store,
    actor: &Actor,
    holder: &Principal,
    pin: &str,
    reason: &str,
) -> Result<Renewed, HocbaError> {
    renew_precheck(&store.read()?, holder)?;
    // The new CA is wrapped for her: her PIN must be one a holder may have (review r17 #2).
    // Said before the PIN is tried: the length of what she typed tells a guesser nothing.
    if !crate::pki::seal::ca_pin_ok(pin) {
        return Err(HocbaError::HolderPinShort);
    }
    let (old, _) = open_with_key(&store.read()?, store.dir(), holder.id(), pin)?;
    let reason = match reason.trim() {
        "" => "gia hạn".to_string(),
        r => r.chars().take(500).collect(),
    };
    install_new_ca(store, actor, holder, &old.cert_sha256(), &reason, None)
}

/// Recovers the school signing CA when no holder can open it (the last holder left, forgot her
/// PIN, or the key is suspected stolen): school IT on the box's command line (`tram hocba ca
/// recover --by PRINCIPAL --reason …`) — no old PIN. The principal named gets a new key pair
/// sealed under the new PIN she types at the box, and the new CA is wrapped for her (and every
/// other current BGH signer). The reason is required and stored with who ([`RENEWALS`]).
pub fn recover(
    store: &Store,
    actor: &Actor,
    principal: &Principal,
    new_pin: &str,
    reason: &str,
    replace_certificate: bool,
) -> Result<Renewed, HocbaError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(HocbaError::NeedRecoveryReason);
    }
    if !is_head_now(&principal.account) {
        return Err(HocbaError::NotApprover);
    }
    let role = head_role(&principal.account.roles).ok_or(HocbaError::NotApprover)?;
    let old = {
        let r = store.read()?;
        // Her certificate of another role (a vice principal who signs her class's học bạ as
        // its homeroom teacher) is replaced only when asked (review r23 #4).
        if let Some(rec) = r.get(&SIGNERS, principal.id())?
            && !head_role_named(&rec.role)
            && !replace_certificate
        {
            return Err(HocbaError::RecoveryReplaces(rec.role));
        }
        r.get(&CA_KEY, CA_ROW)?.ok_or(HocbaError::NoCaHolder)?
    };
    let who = signing::SignerName {
        account: principal.id(),
        full_name: &principal.account.full_name,
        role,
    };
    let req = signing::request_key(&who, new_pin, actor.now)?;
    let reason: String = reason.chars().take(500).collect();
    install_new_ca(
        store,
        actor,
        principal,
        &old.cert_sha256,
        &reason,
        Some(req),
    )
}

/// The one path of a renewal and a recovery. Before the commit the old CA certificate joins
/// the earlier ones (`keys/signing-ca-previous.pem`: still trusted for what it signed, never
/// issuing again); in one write the new sealed key, the re-issued certificates — every signer
/// of the school CA whose key is bound to its public key gets a certificate of the new CA for
/// the same key now, so nobody's PIN is needed; a key bound to its certificate (binding v1)
/// must ask for a new one, and is listed —, the recovering principal's new certificate, the
/// wraps ([`sync_wraps`]: every old wrap goes, one for each current BGH signer) and the
/// [`RENEWALS`] row; after it the new certificate is written to `keys/signing-ca.crt`
/// ([`finish_renewal`] at the next start if a power cut came between). The relay sends the
/// hub every CA certificate once it changed (`relay::stamp::send_signing_ca`).
fn install_new_ca(
    store: &Store,
    actor: &Actor,
    by: &Principal,
    old_sha256: &str,
    reason: &str,
    recovery: Option<signing::SignerRequest>,
) -> Result<Renewed, HocbaError> {
    let _one = BOOTSTRAP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = store.dir();
    let now = actor.now;
    let old_cert = signing::ca_cert(dir)?.ok_or(HocbaError::NoCa)?;
    if signing::cert_sha256(&old_cert) != old_sha256 {
        return Err(HocbaError::CaChanged);
    }
    let (school, records) = {
        let r = store.read()?;
        let school = crate::school::school_info(&r)?
            .map(|s| s.name)
            .ok_or_else(|| HocbaError::Damaged("this box has no school yet".into()))?;
        // Every signer whose account still exists, a disabled one too: she keeps her roles,
        // and a certificate left under the retired CA would sign nothing once she is enabled
        // again, with nobody told (review r22 #3). Her disabled account signs nothing
        // meanwhile, and gets no wrap of the CA (`sync_wraps`).
        let mut records = Vec::new();
        for (id, rec) in r.scan(&SIGNERS, "")? {
            if r.get(&crate::auth::ACCOUNTS, &id)?.is_some() {
                records.push(rec);
            }
        }
        (school, records)
    };
    let all = signing::ca_certs(dir)?;
    let school_cas: Vec<_> = all
        .iter()
        .map(|c| c.tbs_certificate.subject.clone())
        .collect();
    let ca = signing::new_ca_generation(&school, all.len() + 1, now)?;
    let mut reissued = Vec::new();
    let mut must_request = Vec::new();
    for rec in &records {
        if recovery.as_ref().is_some_and(|q| q.account == rec.account) {
            continue;
        }
        let issuer = record_cert(rec)?.tbs_certificate.issuer;
        if !school_cas.contains(&issuer) {
            continue; // a licensed CA's certificate: not ours to renew
        }
        // A BGH certificate of someone who no longer holds that role (a demoted VP) is not
        // issued again under the new CA: she asks for one of her current role (review r17 #4).
        if head_role_named(&rec.role) {
            let holds = store
                .read()?
                .get(&crate::auth::ACCOUNTS, &rec.account)?
                .and_then(|a| head_role(&a.roles))
                .is_some_and(|now| now == rec.role);
            if !holds {
                must_request.push(rec.clone());
                continue;
            }
        }
        match signing::reissue(&ca, rec, now)? {
            Some(new) => reissued.push(new),
            None => must_request.push(rec.clone()),
        }
    }
    let own = match &recovery {
        Some(req) => Some(signing::issue_for_request(&ca, req, now)?),
        None => None,
    };
    let (sealed, data_key) = signing::seal_ca(&ca, now)?;
    let digest = ca.cert_sha256();
    let cert_pem = der::EncodePem::to_pem(&ca.cert, der::pem::LineEnding::LF)
        .map_err(|e| HocbaError::Damaged(e.to_string()))?;
    let row = Renewal {
        at: now.to_string(),
        by: by.id().to_string(),
        // A recovery from the command line is school IT's act (root on the box, no PIN), for
        // the member named: said so, not as if she had done it (review r17 #4).
        by_name: if recovery.is_some() && actor.id == "system" {
            format!("{CLI_RECOVERY_BY}{}", by.account.full_name)
        } else {
            by.account.full_name.clone()
        },
        recovery: recovery.is_some(),
        reason: reason.to_string(),
        cert_pem,
        previous_sha256: old_sha256.to_string(),
        reissued: reissued.iter().map(|r| r.account.clone()).collect(),
        must_request: must_request.iter().map(|r| r.account.clone()).collect(),
    };
    signing::retire_ca_cert(dir, &old_cert)?;
    store.write(actor, |tx| {
        let stored = tx.get(&CA_KEY, CA_ROW)?.ok_or(HocbaError::NoCaHolder)?;
        if stored.cert_sha256 != old_sha256 {
            return Err(HocbaError::CaChanged);
        }
        tx.put(&CA_KEY, CA_ROW, &sealed, "hocba.ca_renewed")?;
        for rec in reissued.iter().chain(own.iter()) {
            super::put_signer(tx, rec, true, false)?;
        }
        if let Some(own) = &own {
            tx.delete(&REQUESTS, &own.account, "hocba.request_withdrawn")?;
        }
        // The renewer's own request for the role her re-issued certificate names is answered
        // by it (a sole principal whose certificate ended asks, nobody else may approve, she
        // renews the CA instead): closed, not listed "chờ duyệt" for ever (review r19 #10).
        // She just opened the CA with her PIN, so a forgotten PIN is no reason left either.
        if recovery.is_none()
            && let Some(mine) = reissued.iter().find(|r| r.account == by.id())
            && tx
                .get(&REQUESTS, by.id())?
                .is_some_and(|q| q.declined.is_none() && q.request.role == mine.role)
        {
            tx.delete(&REQUESTS, by.id(), "hocba.request_withdrawn")?;
        }
        let action = if row.recovery {
            "hocba.ca_recovered"
        } else {
            "hocba.ca_renewed"
        };
        tx.put(&RENEWALS, &digest, &row, action)?;
        // A renewal's PIN just opened the old CA and has 8 digits or more (`renew`): her key
        // is known to be one a holder may have, so the new CA is wrapped for her.
        if !row.recovery
            && let Some(mut rec) = tx.get(&SIGNERS, by.id())?
            && rec.ca_pin != Some(true)
        {
            rec.ca_pin = Some(true);
            tx.put(&SIGNERS, by.id(), &rec, "hocba.signer.pin_length")?;
        }
        sync_wraps(tx, &digest, &data_key)?;
        Ok(())
    })?;
    signing::write_ca_cert(dir, &ca.cert)?;
    tracing::info!(
        by = %by.account.username,
        recovery = row.recovery,
        reason = %reason,
        reissued = reissued.len(),
        "the school signing CA was renewed; the earlier ones stay trusted for verification"
    );
    Ok(Renewed {
        name: signing::name_part(&ca.cert.tbs_certificate.subject, der::oid::db::rfc4519::CN)
            .unwrap_or_default(),
        sha256: digest,
        previous: all.len(),
        reissued: reissued.into_iter().map(|r| r.full_name).collect(),
        must_request: must_request.into_iter().map(|r| r.full_name).collect(),
    })
}

/// The start step after a renewal cut short: the database holds the new sealed CA but
/// `keys/signing-ca.crt` is still the old one (a power cut between the commit and the file) —
/// the old one is kept among the earlier CAs and the new certificate, from [`RENEWALS`],
/// written. Returns whether it did anything.
pub fn finish_renewal(store: &Store) -> Result<bool, HocbaError> {
    let dir = store.dir();
    let Some(file) = signing::ca_cert(dir)? else {
        return Ok(false);
    };
    let r = store.read()?;
    let Some(sealed) = r.get(&CA_KEY, CA_ROW)? else {
        return Ok(false);
    };
    if sealed.cert_sha256 == signing::cert_sha256(&file) {
        return Ok(false);
    }
    let Some(row) = r.get(&RENEWALS, &sealed.cert_sha256)? else {
        return Ok(false);
    };
    drop(r);
    let cert = signing::cert_from_pem(&row.cert_pem)
        .map_err(|e| HocbaError::Damaged(format!("renewed signing CA: {e}")))?;
    if signing::cert_sha256(&cert) != sealed.cert_sha256 {
        return Err(HocbaError::Damaged("renewed signing CA: digest".into()));
    }
    signing::retire_ca_cert(dir, &file)?;
    signing::write_ca_cert(dir, &cert)?;
    tracing::info!("a renewal of the school signing CA cut short was finished");
    Ok(true)
}

/// How a recovery from the command line names who did it, before the member's name (the
/// signer page's words): `ca status` says it in English.
const CLI_RECOVERY_BY: &str = "quản trị máy chủ (dòng lệnh), cho ";

/// One of the school's signing CA certificates as shown.
#[derive(Debug, Clone, Serialize)]
pub struct CaLine {
    pub name: String,
    pub sha256: String,
    pub valid_from: String,
    pub valid_until: String,
    /// When a renewal or a recovery replaced it, Vietnam time to the second: the cut-off a
    /// district checks a signature under it against (review r19 #10); "" for the current CA.
    pub retired_at: String,
}

/// The school signing CA's state for the signer page, the admin page and `tram hocba ca
/// status`: the current CA, the earlier ones (still trusted for verification), days left and
/// whether to warn ([`signing::CA_WARN_DAYS`] before its end), the last renewal.
#[derive(Debug, Clone, Serialize)]
pub struct CaStatus {
    pub current: CaLine,
    pub previous: Vec<CaLine>,
    pub days_left: Option<i64>,
    pub expiring: bool,
    pub last_renewal: Option<Renewal>,
}

fn ca_line(c: &x509_cert::Certificate) -> CaLine {
    CaLine {
        name: signing::name_part(&c.tbs_certificate.subject, der::oid::db::rfc4519::CN)
            .unwrap_or_default(),
        sha256: signing::cert_sha256(c),
        valid_from: day(&c.tbs_certificate.validity.not_before),
        valid_until: day(&c.tbs_certificate.validity.not_after),
        retired_at: String::new(),
    }
}

/// The CA's state; none before the school has a signing CA.
pub fn ca_status(
    r: &impl Read,
    data_dir: &std::path::Path,
    now: jiff::Timestamp,
) -> Result<Option<CaStatus>, HocbaError> {
    let all = signing::ca_certs(data_dir)?;
    let Some((current, previous)) = all.split_first() else {
        return Ok(None);
    };
    let days_left = signing::days_left(current, now);
    let last_renewal = r.get(&RENEWALS, &signing::cert_sha256(current))?;
    let retired = signing::retirements(&all);
    Ok(Some(CaStatus {
        current: ca_line(current),
        previous: previous
            .iter()
            .zip(&retired[1..])
            .map(|(c, at)| CaLine {
                retired_at: at.map(super::local_time_seconds).unwrap_or_default(),
                ..ca_line(c)
            })
            .collect(),
        days_left,
        expiring: days_left.is_some_and(|d| d <= signing::CA_WARN_DAYS),
        last_renewal,
    }))
}

/// What `account` is told, on her home page and her signer page, of the renewals and
/// recoveries of the school's signing CA in the last `auth::SIGNING_NOTICE_DAYS` that changed
/// her signing without her PIN (the window and the list of the lesson keys' changes, review r17
/// #4): a recovery by school IT from the command line — for the member it was done for, and
/// for every other member of the Ban giám hiệu and each signer it affected —, and any renewal
/// or recovery after which she must ask for a new certificate. Her own renewal is no news to her.
pub fn recent_notices(
    r: &impl Read,
    account: &str,
    now: jiff::Timestamp,
) -> Result<Vec<String>, HocbaError> {
    let head = r
        .get(&crate::auth::ACCOUNTS, account)?
        .is_some_and(|a| is_head_now(&a));
    let mut rows: Vec<Renewal> = r
        .scan(&RENEWALS, "")?
        .into_iter()
        .map(|(_, row)| row)
        .filter(|row| crate::auth::within_signing_notice(&row.at, now))
        .collect();
    rows.sort_by(|a, b| b.at.cmp(&a.at));
    let mut out = Vec::new();
    for row in rows {
        let at = row
            .at
            .parse::<jiff::Timestamp>()
            .map(super::local_time)
            .unwrap_or_else(|_| row.at.clone());
        let must = row.must_request.iter().any(|a| a == account);
        let reissued = row.reissued.iter().any(|a| a == account);
        let what = if row.recovery {
            "khôi phục"
        } else {
            "gia hạn"
        };
        // Who did it, as the signer page says it ("quản trị máy chủ (dòng lệnh), cho …").
        let by = if row.recovery && row.by == account {
            "quản trị máy chủ (dòng lệnh) cho bạn".to_string()
        } else {
            row.by_name.clone()
        };
        let head_line = format!(
            "CA ký học bạ của trường đã được {what} bởi {by} lúc {at}. Lý do: {}.",
            row.reason.trim_end_matches('.')
        );
        let line = if row.recovery && row.by == account {
            format!(
                "{head_line} Mã PIN ký của bạn giờ là mã PIN đã đặt khi khôi phục (mã cũ không dùng được nữa); bạn giữ CA mới."
            )
        } else if must {
            format!(
                "{head_line} Chứng thư ký của bạn không được cấp lại theo CA mới: xin cấp chứng thư mới ở trang Chứng thư ký học bạ."
            )
        } else if row.recovery && reissued {
            format!(
                "{head_line} Chứng thư ký của bạn đã được cấp lại theo CA mới, giữ nguyên mã PIN{}.",
                if head {
                    "; bạn cũng giữ CA mới"
                } else {
                    ""
                }
            )
        } else if row.recovery && head {
            head_line
        } else {
            continue;
        };
        out.push(line);
    }
    Ok(out)
}

/// `tram hocba ca status` (English): the current CA, its end and a warning from
/// [`signing::CA_WARN_DAYS`] before it, the earlier CAs still trusted, the holders.
pub fn ca_status_text(
    r: &impl Read,
    data_dir: &std::path::Path,
    now: jiff::Timestamp,
) -> Result<String, HocbaError> {
    use std::fmt::Write;
    let Some(st) = ca_status(r, data_dir, now)? else {
        return Ok("no school signing CA yet: the first certificate of the principal or a vice principal makes it\n".into());
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "current school signing CA: {} (SHA-256 {}), valid {} – {}",
        st.current.name, st.current.sha256, st.current.valid_from, st.current.valid_until
    );
    match st.days_left {
        Some(d) if d < 0 => {
            let _ = writeln!(
                out,
                "WARNING: it has expired: nothing can be signed with it; renew it: tram hocba ca renew --by BGH_USER"
            );
        }
        Some(d) if st.expiring => {
            let _ = writeln!(
                out,
                "WARNING: it ends in {d} day(s): renew it before then: tram hocba ca renew --by BGH_USER"
            );
        }
        _ => {}
    }
    if let Some(rn) = &st.last_renewal {
        // Said in English: a recovery from the command line is school IT's act for the member
        // named (the page's words are Vietnamese, review r19 #10).
        let by = match rn.by_name.strip_prefix(CLI_RECOVERY_BY) {
            Some(name) => format!("school IT on the command line, for {name}"),
            None => rn.by_name.clone(),
        };
        let _ = writeln!(
            out,
            "{} on {} by {by} ({}): {}",
            if rn.recovery { "recovered" } else { "renewed" },
            rn.at
                .parse::<jiff::Timestamp>()
                .map(super::local_time)
                .unwrap_or_else(|_| rn.at.clone()),
            rn.by,
            rn.reason
        );
    }
    for p in &st.previous {
        let _ = writeln!(
            out,
            "earlier CA, still trusted for files signed under it before it was replaced: {} (SHA-256 {}), valid {} – {}, replaced {}",
            p.name,
            p.sha256,
            p.valid_from,
            p.valid_until,
            if p.retired_at.is_empty() {
                "at a time not known (its successor is missing)".to_string()
            } else {
                format!("at {} Vietnam time", p.retired_at)
            }
        );
    }
    for l in signer_lines(r, data_dir, now)? {
        let user = r
            .get(&crate::auth::ACCOUNTS, &l.account)?
            .map(|a| a.username)
            .unwrap_or_else(|| l.account.clone());
        if let Some(n) = l.retired {
            let _ = writeln!(
                out,
                "WARNING: the signing certificate of {} ({user}) was issued by a retired school CA ({n}): it signs nothing; its holder asks for a new one on the signer page (Chứng thư ký học bạ) and a BGH member approves it",
                l.full_name
            );
        } else if l.expired {
            let _ = writeln!(
                out,
                "WARNING: the signing certificate of {} ({user}) expired on {}: it signs nothing; its holder asks for a new one on the signer page (Chứng thư ký học bạ) and a BGH member approves it",
                l.full_name, l.valid_until
            );
        } else if l.ending {
            let _ = writeln!(
                out,
                "WARNING: the signing certificate of {} ({user}) ends in {} day(s), on {}: its holder asks for a new one on the signer page (Chứng thư ký học bạ) and a BGH member approves it",
                l.full_name,
                l.days_left.unwrap_or_default(),
                l.valid_until
            );
        }
    }
    let mut holders = holders(r)?;
    for h in holders.iter_mut() {
        let short = holder_pin_short(r, h)?;
        let head_signer = signer(r, h)?.is_some_and(|rec| signing::is_head_role(&rec.role));
        if let Some(a) = r.get(&crate::auth::ACCOUNTS, h)? {
            *h = a.username;
        }
        // A holder's PIN under 8 digits is told (review r17 #2): she keeps signing, but gets
        // no new wrap (after a renewal, say) until she changes it.
        match short {
            Some(true) => {
                *h += " (PIN shorter than 8 digits: she must change it on the signer page, Đổi mã PIN ký; no new wrap until then)"
            }
            None if head_signer => {
                *h += " (PIN length not checked yet: her next signing checks it)"
            }
            _ => {}
        }
    }
    let _ = writeln!(
        out,
        "holders: {}",
        if holders.is_empty() {
            "none — recover it: tram hocba ca recover --by PRINCIPAL --reason …".to_string()
        } else {
            holders.join(", ")
        }
    );
    // A current BGH member without a wrap because her PIN is short — a teacher made a vice
    // principal keeps her 6-digit one (review r19 #3) — is told too: the CA is not wrapped to
    // her until she changes it.
    for l in signer_lines(r, data_dir, now)? {
        let head = r
            .get(&crate::auth::ACCOUNTS, &l.account)?
            .is_some_and(|a| is_head_now(&a));
        if head && l.pin_short && !l.ca_holder {
            let user = r
                .get(&crate::auth::ACCOUNTS, &l.account)?
                .map(|a| a.username)
                .unwrap_or_else(|| l.account.clone());
            let _ = writeln!(
                out,
                "not a holder: {} ({user}), a BGH member whose signing PIN is shorter than 8 digits: she must change it on the signer page (Đổi mã PIN ký) before the CA is wrapped to her",
                l.full_name
            );
        }
    }
    Ok(out)
}

/// `tram hocba ca renew|recover|status` (English), on the database the command opened or,
/// while the server holds it, through the control socket (`hocba-ca`): `args` are the
/// subcommand, then for `renew` the BGH username, her PIN and the reason, for `recover` the
/// principal's username, her new PIN and the reason. A renewal's PIN counts with the web's
/// wrong PINs (`auth::pin`). Returns the report, or the refusal's text.
pub fn command(store: &Store, args: &[String]) -> Result<String, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let now = jiff::Timestamp::now();
    let actor = Actor::system(now);
    let err = |e: HocbaError| e.to_string();
    let who = |username: &str| -> Result<Principal, String> {
        let rx = store.read().map_err(|e| e.to_string())?;
        crate::school::principal_by_username(&rx, username)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no account {username:?} (--by)"))
    };
    let done = |r: Renewed, what: &str| {
        let mut out = format!(
            "{what} the school signing CA: {} (SHA-256 {}); {} earlier CA(s) stay trusted for verifying what they signed\n",
            r.name, r.sha256, r.previous
        );
        if !r.reissued.is_empty() {
            out += &format!(
                "re-issued by the new CA (same keys, same PINs): {}\n",
                r.reissued.join(", ")
            );
        }
        if !r.must_request.is_empty() {
            out += &format!(
                "must ask for a new certificate on the signer page (their key was sealed with the old one): {}\n",
                r.must_request.join(", ")
            );
        }
        out
    };
    match arg(0) {
        "status" => {
            let rx = store.read().map_err(|e| e.to_string())?;
            ca_status_text(&rx, store.dir(), now).map_err(err)
        }
        "renew" => {
            let p = who(arg(1))?;
            // The one PIN guard: what needs no PIN (not a BGH member — even while her PIN is
            // locked —, no CA, no certificate, not a holder) is refused before a try is
            // counted, and only a wrong PIN keeps one (review r17 #6).
            let r = crate::auth::pin::guarded(
                store,
                &actor,
                p.id(),
                || renew_precheck(&store.read()?, &p),
                || renew(store, &actor, &p, arg(2), arg(3)),
            )
            .map_err(|l| l.english(&p.account.username, now, crate::school::time_zone()))?;
            match r {
                Ok(r) => Ok(done(r, "renewed")),
                Err(HocbaError::Signing(signing::SigningError::WrongPin)) => {
                    Err(format!("wrong signing PIN for {:?} (--by)", arg(1)))
                }
                Err(HocbaError::NotApprover | HocbaError::NotRenewer) => Err(format!(
                    "{:?} is not a current principal or vice principal",
                    arg(1)
                )),
                Err(HocbaError::HolderPinShort) => Err(format!(
                    "the signing PIN of {:?} is shorter than 8 digits: a holder of the school signing CA needs 8 or more (it opens the CA); she changes it first on the signer page (Chứng thư ký học bạ, Đổi mã PIN ký)",
                    arg(1)
                )),
                Err(HocbaError::NotCaHolder | HocbaError::CaHolderDropped) => Err(format!(
                    "{:?} holds no wrap of the school signing CA: --by a holder (tram hocba ca status), or, when no holder can open it, tram hocba ca recover",
                    arg(1)
                )),
                Err(HocbaError::Signing(signing::SigningError::NoSigner)) => Err(format!(
                    "{:?} has no signing certificate, so cannot open the school signing CA",
                    arg(1)
                )),
                Err(HocbaError::NoCaHolder | HocbaError::NoCa) => Err(
                    "the school has no sealed signing CA yet: the first certificate of the principal or a vice principal makes it".into(),
                ),
                Err(e) => Err(e.to_string()),
            }
        }
        "recover" => {
            let p = who(arg(1))?;
            match recover(store, &actor, &p, arg(2), arg(3), arg(4) == "replace") {
                Ok(r) => Ok(done(r, "recovered")
                    + &format!(
                        "{} holds the new CA under the PIN just set\n",
                        p.account.full_name
                    )),
                Err(HocbaError::NeedRecoveryReason) => {
                    Err("--reason is required: who asked for the recovery and why".into())
                }
                Err(HocbaError::NotApprover) => Err(format!(
                    "{:?} is not a current principal or vice principal",
                    arg(1)
                )),
                Err(HocbaError::NoCaHolder | HocbaError::NoCa) => Err(
                    "the school has no sealed signing CA yet: nothing to recover (the first certificate of the principal or a vice principal makes it)".into(),
                ),
                Err(HocbaError::Signing(signing::SigningError::WeakPin(w))) => {
                    Err(format!("TRAM_SIGNING_PIN: {}", w.english()))
                }
                Err(e @ HocbaError::RecoveryReplaces(_)) => Err(e.en()),
                Err(e) => Err(e.to_string()),
            }
        }
        other => Err(format!("unknown hocba ca command {other:?}")),
    }
}

/// What asking for a certificate did.
pub enum Asked {
    /// The first BGH certificate, issued at once (nobody held the CA yet).
    Issued(SignerRecord),
    /// Waiting for a BGH member's approval.
    Pending(CertRequest),
}

/// A teacher or a BGH member asks for her own certificate, choosing her signing PIN (twice):
/// the key pair is made and sealed now, the request stored and audited. When nobody holds the
/// CA yet, a BGH member's request is the bootstrap and issued at once.
pub fn request(
    store: &Store,
    actor: &Actor,
    p: &Principal,
    wanted: Option<&str>,
    pin: &str,
    pin_again: &str,
) -> Result<Asked, HocbaError> {
    if p.account.disabled {
        return Err(HocbaError::NoSigningRole);
    }
    if p.quarantined {
        return Err(HocbaError::Quarantined);
    }
    let role = role_for(p, wanted)?;
    if pin != pin_again {
        return Err(HocbaError::PinMismatch);
    }
    signing::check_pin_for(pin_rule_role(p, role), pin)?;
    if !ca_sealed(&store.read()?)? {
        return if matches!(role, "Hiệu trưởng" | "Phó hiệu trưởng") {
            issue_first_head(store, actor, p, role, pin, true).map(Asked::Issued)
        } else {
            Err(HocbaError::NoCaHolder)
        };
    }
    // Nobody approves her own request: when she alone holds the CA it would wait for ever —
    // refused now with the way out, the renewal (her certificate re-issued) or, for a
    // forgotten PIN, `tram hocba ca recover` (review r22 #4).
    {
        let r = store.read()?;
        let wraps = holders(&r)?;
        if wraps.iter().any(|h| h == p.id()) {
            let mut others = false;
            for h in wraps.iter().filter(|h| *h != p.id()) {
                others |= r
                    .get(&crate::auth::ACCOUNTS, h)?
                    .is_some_and(|a| is_head_now(&a));
            }
            if !others {
                return Err(HocbaError::SoleHolder);
            }
        }
    }
    let who = signing::SignerName {
        account: p.id(),
        full_name: &p.account.full_name,
        role,
    };
    let row = CertRequest {
        request: signing::request_key(&who, pin, actor.now)?,
        declined: None,
    };
    store.write(actor, |tx| {
        tx.put(&REQUESTS, p.id(), &row, "hocba.cert_requested")?;
        Ok::<_, HocbaError>(())
    })?;
    Ok(Asked::Pending(row))
}

/// A BGH member approves `account`'s pending request with her own PIN.
pub fn approve(
    store: &Store,
    actor: &Actor,
    approver: &Principal,
    account: &str,
    pin: &str,
) -> Result<SignerRecord, HocbaError> {
    // The refusals that need no PIN, then the issuing (which checks the request again in its
    // write: another member may have approved it meanwhile).
    let row = approve_precheck(&store.read()?, store.dir(), approver, account)?;
    issue_by_holder(store, actor, approver, pin, &row.request, true, true)
}

/// What opening the CA through `holder`'s wrap refuses without her PIN — not a current BGH
/// member, quarantined, no CA, no certificate, no wrap —: the tail of [`approve_precheck`] and
/// the check of `tram hocba signer --by`, before a PIN try is counted.
pub fn holder_precheck(
    r: &impl Read,
    data_dir: &std::path::Path,
    holder: &Principal,
) -> Result<(), HocbaError> {
    if !is_head_now(&holder.account) {
        return Err(HocbaError::NotApprover);
    }
    if holder.quarantined {
        return Err(HocbaError::Quarantined);
    }
    signing::ca_cert(data_dir)?.ok_or(HocbaError::NoCa)?;
    r.get(&CA_KEY, CA_ROW)?.ok_or(HocbaError::NoCaHolder)?;
    signer(r, holder.id())?.ok_or(signing::SigningError::NoSigner)?;
    if r.get(&CA_WRAPS, holder.id())?.is_none() {
        return Err(if r.get(&CA_DROPPED, holder.id())?.is_some() {
            HocbaError::CaHolderDropped
        } else {
            HocbaError::NotCaHolder
        });
    }
    Ok(())
}

/// What [`approve`] refuses without the approver's PIN, checked before the PIN is counted
/// (review r15 #3: a request withdrawn or approved by another member, or an approver who holds
/// no CA, spent a PIN try each time with the right PIN — five such refusals, which a teacher
/// could cause on purpose, locked the principal's signing).
pub fn approve_precheck(
    r: &crate::store::Rx,
    data_dir: &std::path::Path,
    approver: &Principal,
    account: &str,
) -> Result<CertRequest, HocbaError> {
    if !is_head_now(&approver.account) {
        return Err(HocbaError::NotApprover);
    }
    if approver.quarantined {
        return Err(HocbaError::Quarantined);
    }
    if approver.id() == account {
        return Err(HocbaError::OwnRequest);
    }
    let row = r
        .get(&REQUESTS, account)?
        .filter(|q| q.declined.is_none())
        .ok_or(HocbaError::NoRequest)?;
    let requester = r
        .get(&crate::auth::ACCOUNTS, account)?
        .ok_or(HocbaError::NoRequest)?;
    let requester = crate::school::principal_for(r, requester)?;
    if requester.account.disabled || !holds_role(&requester, &row.request.role) {
        return Err(HocbaError::RoleChanged(row.request.role.clone()));
    }
    holder_precheck(r, data_dir, approver)?;
    Ok(row)
}

/// A BGH member declines `account`'s pending request, with a reason the requester sees.
pub fn decline(
    store: &Store,
    actor: &Actor,
    approver: &Principal,
    account: &str,
    reason: &str,
) -> Result<(), HocbaError> {
    if !is_head_now(&approver.account) {
        return Err(HocbaError::NotApprover);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(HocbaError::NeedReason);
    }
    store.write(actor, |tx| {
        let mut row = tx
            .get(&REQUESTS, account)?
            .filter(|q| q.declined.is_none())
            .ok_or(HocbaError::NoRequest)?;
        row.declined = Some(Declined {
            by: approver.account.full_name.clone(),
            reason: reason.chars().take(500).collect(),
            at: actor.now.to_string(),
        });
        tx.put(&REQUESTS, account, &row, "hocba.request_declined")?;
        Ok(())
    })
}

/// One line of the signers' list: who, as what, by whom, valid from/until (dd/mm/yyyy), and
/// whether she holds the CA.
#[derive(Debug, Clone, Serialize)]
pub struct SignerLine {
    pub account: String,
    pub full_name: String,
    pub role: String,
    pub issuer: String,
    pub valid_from: String,
    pub valid_until: String,
    pub ca_holder: bool,
    /// What she is now (review r15 #7: a demoted vice principal was listed by her
    /// certificate's role): the head's role the account has, "đã thôi …" when her
    /// certificate names one she no longer holds, "tài khoản đã khoá" when disabled; else the
    /// certificate's role. `role` stays the certificate's.
    pub role_now: String,
    /// She holds a wrap but is no current BGH member (the last wraps are kept: dropping them
    /// would lose the CA); it opens nothing until she is one again.
    pub ca_dormant: bool,
    /// Days left before the certificate ends (negative once it has).
    pub days_left: Option<i64>,
    /// It ends within [`signing::SIGNER_WARN_DAYS`] (review r17 #3).
    pub ending: bool,
    /// It has ended: listed "đã hết hạn", it signs nothing.
    pub expired: bool,
    /// The number of the retired school CA that issued it (a renewal or recovery replaced that
    /// CA and did not re-issue this certificate): it signs nothing, its holder asks for a new
    /// one — flagged on her page, the BGH list and its JSON (review r22 #3).
    pub retired: Option<usize>,
    /// Imported from a licensed CA (PKCS#12): renewed with that provider, not by the school.
    pub licensed: bool,
    /// A certificate of the principal or a vice principal, or of an account that is one now
    /// (review r19 #3), whose PIN is known to be shorter than 8 digits: she must change it (no
    /// new wrap of the CA until then, review r17 #2).
    pub pin_short: bool,
    /// Such a certificate whose PIN's length is not known yet (sealed before it was
    /// recorded): her next right PIN tells.
    pub pin_unknown: bool,
}

impl SignerLine {
    /// What the pages say of a certificate that ends soon or has ended, with the way out; none
    /// while it has more than [`signing::SIGNER_WARN_DAYS`] left. `own`: said to its holder.
    pub fn ending_text(&self, own: bool) -> Option<String> {
        let whose = if own {
            "Chứng thư ký học bạ của bạn".to_string()
        } else {
            format!("Chứng thư ký học bạ của {}", self.full_name)
        };
        let way = match (own, self.licensed) {
            // A licensed CA's certificate is renewed with its provider and imported again, or
            // replaced by one of the school's CA.
            (true, true) => {
                "gia hạn với nhà cung cấp chữ ký số rồi nhập tệp PKCS#12 mới ở trang Kiểm tra học bạ số, hoặc xin cấp chứng thư của trường ở trang Chứng thư ký học bạ"
            }
            (false, true) => {
                "người đó gia hạn với nhà cung cấp chữ ký số rồi nhập lại tệp PKCS#12, hoặc xin cấp chứng thư của trường ở trang này"
            }
            (true, false) => {
                "xin cấp chứng thư mới ở trang Chứng thư ký học bạ (mục «Của bạn»); khi một thành viên Ban giám hiệu duyệt, bạn ký bằng mã PIN chọn lúc xin"
            }
            (false, false) => {
                "người đó xin cấp chứng thư mới ở trang này, rồi một thành viên Ban giám hiệu duyệt"
            }
        };
        if let Some(n) = self.retired {
            Some(format!(
                "{whose} thuộc CA đã thay (CA ký số của trường số {n}): không ký được nữa — {way}."
            ))
        } else if self.expired {
            Some(format!(
                "{whose} đã hết hạn ngày {}: không ký được nữa — {way}.",
                self.valid_until
            ))
        } else if self.ending {
            Some(format!(
                "{whose} còn {} ngày là hết hạn ({}): {way}.",
                self.days_left.unwrap_or_default(),
                self.valid_until
            ))
        } else {
            None
        }
    }
}

/// One pending or declined request as shown.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLine {
    pub account: String,
    pub full_name: String,
    pub role: String,
    pub requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined: Option<Declined>,
}

fn day(t: &x509_cert::time::Time) -> String {
    jiff::Timestamp::try_from(t.to_system_time())
        .map(|t| super::local_time(t).chars().take(10).collect())
        .unwrap_or_default()
}

/// The current signers with their certificates' dates and how long they have left at `now`; a
/// holder of the CA only while she is a current BGH member; a certificate of a retired school
/// CA (`data_dir`'s, `signing::ca_certs`) marked.
pub fn signer_lines(
    r: &impl Read,
    data_dir: &std::path::Path,
    now: jiff::Timestamp,
) -> Result<Vec<SignerLine>, HocbaError> {
    let holders = holders(r)?;
    let cas = signing::ca_certs(data_dir)?;
    let mut out = Vec::new();
    for (id, rec) in r.scan(&SIGNERS, "")? {
        let cert = record_cert(&rec)?;
        let retired = match super::issuer_among(&cas, &cert) {
            super::Issuer::Retired(n) if rec.chain.is_empty() => Some(n),
            _ => None,
        };
        let v = &cert.tbs_certificate.validity;
        let wrapped = holders.contains(&id);
        let account = r.get(&crate::auth::ACCOUNTS, &id)?;
        let head = account.as_ref().is_some_and(is_head_now);
        let role_now = match &account {
            Some(a) if a.disabled => "tài khoản đã khoá".to_string(),
            Some(a) => match head_role(&a.roles) {
                Some(now) => now.to_string(),
                None if head_role_named(&rec.role) => {
                    format!("đã thôi {}", rec.role.to_lowercase())
                }
                None => rec.role.clone(),
            },
            None => rec.role.clone(),
        };
        let days_left = signing::days_left(&cert, now);
        let head_cert = signing::is_head_role(&rec.role);
        out.push(SignerLine {
            days_left,
            ending: days_left.is_some_and(|d| (0..=signing::SIGNER_WARN_DAYS).contains(&d)),
            expired: days_left.is_some_and(|d| d < 0),
            retired,
            role_now,
            ca_holder: wrapped && head,
            ca_dormant: wrapped && !head,
            licensed: !rec.chain.is_empty(),
            account: id,
            full_name: rec.full_name,
            role: rec.role,
            issuer: signing::name_part(&cert.tbs_certificate.issuer, der::oid::db::rfc4519::CN)
                .unwrap_or_default(),
            valid_from: day(&v.not_before),
            valid_until: day(&v.not_after),
            pin_short: (head_cert || head) && rec.ca_pin == Some(false),
            pin_unknown: (head_cert || head) && rec.ca_pin.is_none(),
        });
    }
    out.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    Ok(out)
}

/// The requests, pending first, oldest first.
pub fn request_lines(r: &impl Read) -> Result<Vec<RequestLine>, HocbaError> {
    let mut rows = r.scan(&REQUESTS, "")?;
    rows.sort_by(|(_, a), (_, b)| {
        (a.declined.is_some(), &a.request.requested_at)
            .cmp(&(b.declined.is_some(), &b.request.requested_at))
    });
    Ok(rows
        .into_iter()
        .map(|(id, q)| RequestLine {
            account: id,
            full_name: q.request.full_name,
            role: q.request.role,
            requested_at: q
                .request
                .requested_at
                .parse::<jiff::Timestamp>()
                .map(super::local_time)
                .unwrap_or(q.request.requested_at),
            declined: q.declined,
        })
        .collect())
}

/// What [`change_pin`] refuses without her current PIN: quarantined, no certificate, the two
/// new PINs differing, a new PIN its role's rule refuses (8 digits for the Ban giám hiệu — the
/// account's current BGH role counts as well as the certificate's, [`pin_rule_role`]).
pub fn change_pin_precheck(
    r: &impl Read,
    p: &Principal,
    pin: &str,
    pin_again: &str,
) -> Result<SignerRecord, HocbaError> {
    if p.quarantined {
        return Err(HocbaError::Quarantined);
    }
    let rec = signer(r, p.id())?.ok_or(signing::SigningError::NoSigner)?;
    if pin != pin_again {
        return Err(HocbaError::PinMismatch);
    }
    signing::check_pin_for(pin_rule_role(p, &rec.role), pin)?;
    Ok(rec)
}

/// A signer changes her signing PIN (the signer page's "Đổi mã PIN ký"): her key, opened with
/// the current PIN, is sealed under the new one — same key, same certificate, so her wrap of
/// the school signing CA keeps opening, and a BGH member's new PIN of 8 digits or more makes
/// her key one the CA may be wrapped to again (review r17 #2). The caller counts the current
/// PIN (`auth::pin::guarded`). Refused when her certificate changed meanwhile.
pub fn change_pin(
    store: &Store,
    actor: &Actor,
    p: &Principal,
    current: &str,
    pin: &str,
    pin_again: &str,
) -> Result<SignerRecord, HocbaError> {
    let rec = change_pin_precheck(&store.read()?, p, pin, pin_again)?;
    let new = signing::change_pin(&rec, current, pin)?;
    store.write(actor, |tx| {
        let now = tx.get(&SIGNERS, p.id())?;
        if now.is_none_or(|n| n.cert != rec.cert) {
            return Err(HocbaError::SignerChanged);
        }
        tx.put(&SIGNERS, p.id(), &new, "hocba.signer.pin_changed")?;
        Ok(())
    })?;
    Ok(new)
}

/// The requester withdraws her own pending request (or clears a declined one): its sealed key
/// pair is deleted. Nothing to withdraw is [`HocbaError::NoRequest`].
pub fn withdraw(store: &Store, actor: &Actor, p: &Principal) -> Result<(), HocbaError> {
    store.write(actor, |tx| {
        if tx.get(&REQUESTS, p.id())?.is_none() {
            return Err(HocbaError::NoRequest);
        }
        tx.delete(&REQUESTS, p.id(), "hocba.request_withdrawn")?;
        Ok(())
    })
}

/// `account`'s own request, if any.
pub fn own_request(r: &impl Read, account: &str) -> Result<Option<CertRequest>, HocbaError> {
    Ok(r.get(&REQUESTS, account)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::NewAccount;

    fn setup() -> (tempfile::TempDir, Store, Principal, Principal, Principal) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        let now = jiff::Timestamp::now();
        let made = store
            .write(&Actor::system(now), |tx| {
                tx.put(
                    &crate::school::INFO,
                    "school",
                    &crate::school::SchoolInfo {
                        name: "THCS Thử".into(),
                        code: "79000001".into(),
                        level: "THCS".into(),
                        authority: "Phòng GD".into(),
                        current_year: "2026".into(),
                        locality: String::new(),
                    },
                    "t",
                )?;
                let mut out = Vec::new();
                for (u, role) in [
                    ("hieu-t", Role::Principal),
                    ("pho-t", Role::VicePrincipal),
                    ("gv-lan", Role::Teacher),
                ] {
                    out.push(
                        crate::auth::create_account_tx(
                            tx,
                            NewAccount {
                                username: u.into(),
                                full_name: format!("Người {u}"),
                                roles: vec![role],
                                department: None,
                                password_phc: "x".into(),
                                must_change_password: false,
                            },
                        )
                        .map_err(|e| crate::store::StoreError::Db(e.to_string()))?,
                    );
                }
                tx.put(
                    &crate::school::CLASSES,
                    "2026-9a1",
                    &crate::school::Class {
                        id: "2026-9a1".into(),
                        name: "9A1".into(),
                        grade: 9,
                        year: "2026".into(),
                        homeroom: Some(out[2].id.clone()),
                    },
                    "t",
                )?;
                Ok::<_, crate::store::StoreError>(out)
            })
            .unwrap();
        let p = |a: &Account, homeroom: bool| Principal {
            account: a.clone(),
            teaches: Vec::new(),
            homeroom: if homeroom {
                vec!["2026-9a1".into()]
            } else {
                Vec::new()
            },
            quarantined: false,
        };
        let (ht, pht, gv) = (p(&made[0], false), p(&made[1], false), p(&made[2], true));
        (dir, store, ht, pht, gv)
    }

    /// Review r22 #5: the 8-digit rule follows the account's BGH role, whatever certificate
    /// she asks for; a disabled VP or a teacher follows her certificate's.
    #[test]
    fn eight_digits_follow_the_accounts_bgh_role() {
        let (_dir, store, ht, mut pht, gv) = setup();
        assert!(needs_ca_pin(&ht, "Hiệu trưởng"));
        pht.homeroom = vec!["2026-9a1".into()];
        assert!(needs_ca_pin(&pht, "Giáo viên chủ nhiệm"));
        assert!(!needs_ca_pin(&gv, "Giáo viên chủ nhiệm"));
        pht.account.disabled = true;
        assert!(!needs_ca_pin(&pht, "Giáo viên chủ nhiệm"));
        // The web's request path says the same: a VP's 6-digit PIN for a GVCN certificate.
        pht.account.disabled = false;
        let r = request(
            &store,
            &Actor::system(jiff::Timestamp::now()),
            &pht,
            Some("gvcn"),
            "582039",
            "582039",
        );
        assert!(
            matches!(
                r,
                Err(HocbaError::Signing(signing::SigningError::WeakPin(
                    crate::pki::seal::WeakPin::CaShort
                )))
            ),
            "{:?}",
            r.err()
        );
    }

    #[test]
    fn the_ca_opens_only_through_a_current_bgh_holder_and_her_pin() {
        let (dir, store, ht, pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        // A teacher cannot be first; the principal's first certificate seals the CA.
        assert!(matches!(
            request(&store, &actor, &gv, None, "58203947", "58203947"),
            Err(HocbaError::NoCaHolder)
        ));
        let first = request(&store, &actor, &ht, None, "73016428", "73016428").unwrap();
        assert!(matches!(first, Asked::Issued(_)));
        assert!(!signing::plain_ca_key_present(dir.path()));
        let rx = store.read().unwrap();
        assert!(ca_sealed(&rx).unwrap());
        assert_eq!(holders(&rx).unwrap(), vec![ht.id().to_string()]);
        assert!(open_ca(&rx, dir.path(), ht.id(), "73016429").is_err());
        let ca = open_ca(&rx, dir.path(), ht.id(), "73016428").unwrap();
        drop(rx);
        // The teacher's request; her role is what she is, never what she asks for.
        assert!(matches!(
            request(
                &store,
                &actor,
                &gv,
                Some("hieu-truong"),
                "58203947",
                "58203947"
            ),
            Err(HocbaError::NoSigningRole)
        ));
        assert!(matches!(
            request(&store, &actor, &gv, None, "58203947", "58203948"),
            Err(HocbaError::PinMismatch)
        ));
        assert!(matches!(
            request(&store, &actor, &gv, None, "58203947", "58203947").unwrap(),
            Asked::Pending(_)
        ));
        assert!(matches!(
            approve(&store, &actor, &gv, gv.id(), "58203947"),
            Err(HocbaError::NotApprover)
        ));
        // The vice principal holds no certificate, so no wrap: she cannot open the CA.
        assert!(matches!(
            approve(&store, &actor, &pht, gv.id(), "73016428"),
            Err(HocbaError::Signing(signing::SigningError::NoSigner))
        ));
        assert!(matches!(
            approve(&store, &actor, &ht, gv.id(), "000000"),
            Err(HocbaError::Signing(signing::SigningError::WrongPin))
        ));
        assert!(signer(&store.read().unwrap(), gv.id()).unwrap().is_none());
        let rec = approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        let key = signing::unlock(&rec, "58203947").unwrap();
        assert_eq!(
            key.cert.tbs_certificate.issuer,
            ca.cert.tbs_certificate.subject
        );
        assert!(
            own_request(&store.read().unwrap(), gv.id())
                .unwrap()
                .is_none()
        );
        // The vice principal asks; the principal approves; she now holds a wrap too.
        request(&store, &actor, &pht, None, "86024731", "86024731").unwrap();
        assert!(matches!(
            approve(&store, &actor, &pht, pht.id(), "86024731"),
            Err(HocbaError::OwnRequest)
        ));
        approve(&store, &actor, &ht, pht.id(), "73016428").unwrap();
        assert_eq!(holders(&store.read().unwrap()).unwrap().len(), 2);
        assert!(open_ca(&store.read().unwrap(), dir.path(), pht.id(), "86024731").is_ok());
        // A wrap copied onto another account's row does not open.
        let stolen = store
            .read()
            .unwrap()
            .get(&CA_WRAPS, pht.id())
            .unwrap()
            .unwrap();
        store
            .write(&actor, |tx| tx.put(&CA_WRAPS, gv.id(), &stolen, "t"))
            .unwrap();
        assert!(open_ca(&store.read().unwrap(), dir.path(), gv.id(), "58203947").is_err());
        // The principal disabled: her wrap (and the stray one) dropped at the next opening.
        store
            .write(&actor, |tx| {
                let mut a = tx.get(&crate::auth::ACCOUNTS, ht.id())?.unwrap();
                a.disabled = true;
                tx.put(&crate::auth::ACCOUNTS, ht.id(), &a, "t")
            })
            .unwrap();
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        approve(&store, &actor, &pht, gv.id(), "86024731").unwrap();
        assert_eq!(
            holders(&store.read().unwrap()).unwrap(),
            vec![pht.id().to_string()]
        );
        // Declined with a reason the teacher sees.
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        assert!(matches!(
            decline(&store, &actor, &pht, gv.id(), "  "),
            Err(HocbaError::NeedReason)
        ));
        decline(&store, &actor, &pht, gv.id(), "Sai lớp").unwrap();
        let row = own_request(&store.read().unwrap(), gv.id())
            .unwrap()
            .unwrap();
        assert_eq!(row.declined.unwrap().reason, "Sai lớp");
        assert!(matches!(
            approve(&store, &actor, &pht, gv.id(), "86024731"),
            Err(HocbaError::NoRequest)
        ));
    }

    /// Review r13 #8: a demoted (or disabled) BGH member's wrap goes at once, in the account's
    /// own write, without a PIN; after re-promotion her refusal names the real cause; the last
    /// wraps are never dropped (the CA would be lost); a withdrawn request is gone.
    #[test]
    fn a_demoted_holder_loses_her_wrap_at_once_and_is_told_why() {
        let (dir, store, ht, pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "73016428", "73016428").unwrap();
        request(&store, &actor, &pht, None, "86024731", "86024731").unwrap();
        approve(&store, &actor, &ht, pht.id(), "73016428").unwrap();
        assert_eq!(holders(&store.read().unwrap()).unwrap().len(), 2);
        let set_roles = |id: &str, roles: Vec<Role>| {
            store
                .write(&actor, |tx| {
                    let mut a = tx.get(&crate::auth::ACCOUNTS, id)?.unwrap();
                    a.roles = roles.clone();
                    tx.put(&crate::auth::ACCOUNTS, id, &a, "t")?;
                    drop_stale_wraps(tx)
                })
                .unwrap()
        };
        // Demoted: her wrap is gone now, and the signer list says so.
        assert_eq!(set_roles(pht.id(), vec![Role::Teacher]), 1);
        let rx = store.read().unwrap();
        assert_eq!(holders(&rx).unwrap(), vec![ht.id().to_string()]);
        let line = signer_lines(&rx, dir.path(), jiff::Timestamp::now())
            .unwrap()
            .into_iter()
            .find(|l| l.account == pht.id())
            .unwrap();
        assert!(!line.ca_holder && !line.ca_dormant, "{line:?}");
        drop(rx);
        // Promoted again: her approval is refused with the real cause, until another member's
        // approval gives the wrap back.
        set_roles(pht.id(), vec![Role::VicePrincipal]);
        let mut pht_now = pht.clone();
        pht_now.account.roles = vec![Role::VicePrincipal];
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        let refused = approve(&store, &actor, &pht_now, gv.id(), "86024731").unwrap_err();
        assert!(
            matches!(refused, HocbaError::CaHolderDropped),
            "{refused:?}"
        );
        assert!(
            refused
                .to_string()
                .contains("đã bị gỡ khi bạn thôi là thành viên BGH"),
            "{refused}"
        );
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        assert_eq!(holders(&store.read().unwrap()).unwrap().len(), 2);
        assert!(
            store
                .read()
                .unwrap()
                .get(&CA_DROPPED, pht.id())
                .unwrap()
                .is_none()
        );
        // Both demoted, one after the other: the last wrap stays (dormant), so the CA is not lost.
        set_roles(pht.id(), vec![Role::Teacher]);
        assert_eq!(set_roles(ht.id(), vec![Role::Teacher]), 0);
        let rx = store.read().unwrap();
        assert_eq!(holders(&rx).unwrap(), vec![ht.id().to_string()]);
        let line = signer_lines(&rx, dir.path(), jiff::Timestamp::now())
            .unwrap()
            .into_iter()
            .find(|l| l.account == ht.id())
            .unwrap();
        assert!(!line.ca_holder && line.ca_dormant, "{line:?}");
        drop(rx);
        assert!(drop_stale_wraps_now(&store, actor.now).is_ok());
        assert_eq!(holders(&store.read().unwrap()).unwrap().len(), 1);
        // Back in office, she opens it again.
        set_roles(ht.id(), vec![Role::Principal]);
        assert!(open_ca(&store.read().unwrap(), dir.path(), ht.id(), "73016428").is_ok());
        // A request withdrawn by its requester is gone; withdrawing nothing is refused.
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        withdraw(&store, &actor, &gv).unwrap();
        assert!(
            own_request(&store.read().unwrap(), gv.id())
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            withdraw(&store, &actor, &gv),
            Err(HocbaError::NoRequest)
        ));
    }

    /// Issue 22: a holder renews the CA with her PIN (a wrong one changes nothing); the old CA
    /// stays trusted, never issues; the school CA's certificates are re-issued for the same keys
    /// (same PINs); school IT recovers without any PIN for a named BGH member, with a reason; a
    /// renewal cut short before the certificate file is finished at the next start.
    #[test]
    fn the_ca_is_renewed_and_recovered_and_the_old_ones_stay_trusted() {
        let (dir, store, ht, pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "73016428", "73016428").unwrap();
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        let first = signing::ca_cert(dir.path()).unwrap().unwrap();
        let gv_before = signer(&store.read().unwrap(), gv.id()).unwrap().unwrap();
        assert_eq!(
            super::super::signer_issuer(dir.path(), &gv_before).unwrap(),
            super::super::Issuer::Current
        );
        assert!(matches!(
            renew(&store, &actor, &ht, "00000000", ""),
            Err(HocbaError::Signing(signing::SigningError::WrongPin))
        ));
        // A PIN under 8 digits is refused before it is tried (the new CA is wrapped for her).
        assert!(matches!(
            renew(&store, &actor, &ht, "000000", ""),
            Err(HocbaError::HolderPinShort)
        ));
        assert!(matches!(
            renew(&store, &actor, &gv, "58203947", ""),
            Err(HocbaError::NotRenewer)
        ));
        // A vice principal without any certificate is told she has none (review r17 #6).
        assert!(matches!(
            renew_precheck(&store.read().unwrap(), &pht),
            Err(HocbaError::Signing(signing::SigningError::NoSigner))
        ));
        assert!(signing::previous_ca_certs(dir.path()).unwrap().is_empty());
        // Her own request for a new certificate, waiting (no other member may approve it):
        // the renewal re-issues her certificate, which answers it — closed, not listed "chờ
        // duyệt" for ever (review r19 #10).
        // Asked now, the sole holder's request is refused with the way out (review r22 #4); one
        // an earlier version stored is answered by the renewal.
        assert!(matches!(
            request(&store, &actor, &ht, None, "91735028", "91735028"),
            Err(HocbaError::SoleHolder)
        ));
        let who = signing::SignerName {
            account: ht.id(),
            full_name: &ht.account.full_name,
            role: "Hiệu trưởng",
        };
        let row = CertRequest {
            request: signing::request_key(&who, "91735028", actor.now).unwrap(),
            declined: None,
        };
        store
            .write(&actor, |tx| tx.put(&REQUESTS, ht.id(), &row, "t"))
            .unwrap();
        assert!(
            own_request(&store.read().unwrap(), ht.id())
                .unwrap()
                .is_some()
        );
        let done = renew(&store, &actor, &ht, "73016428", "").unwrap();
        assert_eq!(done.previous, 1);
        assert_eq!(done.reissued.len(), 2, "{done:?}");
        assert!(
            own_request(&store.read().unwrap(), ht.id())
                .unwrap()
                .is_none()
        );
        let second = signing::ca_cert(dir.path()).unwrap().unwrap();
        assert_ne!(signing::cert_sha256(&first), signing::cert_sha256(&second));
        assert_ne!(
            first.tbs_certificate.subject,
            second.tbs_certificate.subject
        );
        assert_eq!(
            signing::previous_ca_certs(dir.path()).unwrap(),
            vec![first.clone()]
        );
        // Her certificate of the first CA is named as a retired CA's (review r19 #8).
        assert_eq!(
            super::super::signer_issuer(dir.path(), &gv_before).unwrap(),
            super::super::Issuer::Retired(signing::ca_generation(&first))
        );
        let rx = store.read().unwrap();
        assert_eq!(
            super::super::signer_issuer(dir.path(), &signer(&rx, gv.id()).unwrap().unwrap())
                .unwrap(),
            super::super::Issuer::Current
        );
        // The teacher signs with her same PIN, under the new CA.
        let key = signing::unlock(&signer(&rx, gv.id()).unwrap().unwrap(), "58203947").unwrap();
        assert_eq!(
            key.cert.tbs_certificate.issuer,
            second.tbs_certificate.subject
        );
        let ca = open_ca(&rx, dir.path(), ht.id(), "73016428").unwrap();
        assert_eq!(ca.cert, second);
        let row = rx.get(&RENEWALS, &done.sha256).unwrap().unwrap();
        assert!(!row.recovery && row.reason == "gia hạn" && row.by == ht.id());
        let st = ca_status(&rx, dir.path(), actor.now).unwrap().unwrap();
        assert_eq!(st.previous.len(), 1);
        assert!(!st.expiring && st.days_left.unwrap() > 7000);
        // From 90 days before its end the page and the CLI warn; after it, it has expired.
        let end = signing::not_after(&second).unwrap();
        let soon = end - jiff::SignedDuration::from_hours(24 * 30);
        let st = ca_status(&rx, dir.path(), soon).unwrap().unwrap();
        assert!(st.expiring && st.days_left == Some(30), "{st:?}");
        let text = ca_status_text(&rx, dir.path(), soon).unwrap();
        assert!(text.contains("WARNING: it ends in 30 day(s)"), "{text}");
        let late = end + jiff::SignedDuration::from_hours(24);
        let text = ca_status_text(&rx, dir.path(), late).unwrap();
        assert!(text.contains("WARNING: it has expired"), "{text}");
        let early = end - jiff::SignedDuration::from_hours(24 * 91);
        assert!(!ca_status(&rx, dir.path(), early).unwrap().unwrap().expiring);
        // Who verifies anchors to both, and names which.
        let anchors = super::super::trust_anchors(dir.path(), second.clone());
        assert_eq!(anchors[0], second);
        assert!(anchors.contains(&first));
        drop(rx);
        // Recovery: nobody's PIN; a reason is required; the vice principal named holds it.
        assert!(matches!(
            recover(&store, &actor, &pht, "86024731", " ", false),
            Err(HocbaError::NeedRecoveryReason)
        ));
        assert!(matches!(
            recover(&store, &actor, &gv, "86024731", "mất PIN", false),
            Err(HocbaError::NotApprover)
        ));
        // A vice principal who signs her class's học bạ as its homeroom teacher: her
        // certificate is not swapped for a head's one unless asked (review r23 #4).
        let mut gv_pht = gv.clone();
        gv_pht.account.roles.push(Role::VicePrincipal);
        assert!(matches!(
            recover(&store, &actor, &gv_pht, "86024731", "mất PIN", false),
            Err(HocbaError::RecoveryReplaces(r)) if r == "Giáo viên chủ nhiệm"
        ));
        assert_eq!(
            signer(&store.read().unwrap(), gv.id())
                .unwrap()
                .unwrap()
                .role,
            "Giáo viên chủ nhiệm"
        );
        let back = recover(
            &store,
            &actor,
            &pht,
            "86024731",
            "HT cũ nghỉ hưu, quên PIN",
            false,
        )
        .unwrap();
        assert_eq!(back.previous, 2);
        let rx = store.read().unwrap();
        assert!(open_ca(&rx, dir.path(), pht.id(), "86024731").is_ok());
        assert_eq!(signing::ca_certs(dir.path()).unwrap().len(), 3);
        let row = rx.get(&RENEWALS, &back.sha256).unwrap().unwrap();
        assert!(row.recovery && row.reason.contains("quên PIN"));
        drop(rx);
        // A power cut between the commit and the certificate file: the next start finishes it.
        let third = signing::ca_cert(dir.path()).unwrap().unwrap();
        signing::write_ca_cert(dir.path(), &second).unwrap();
        assert!(finish_renewal(&store).unwrap());
        assert_eq!(signing::ca_cert(dir.path()).unwrap().unwrap(), third);
        assert!(!finish_renewal(&store).unwrap());
        assert_eq!(signing::ca_certs(dir.path()).unwrap().len(), 3);
        let text = ca_status_text(&store.read().unwrap(), dir.path(), actor.now).unwrap();
        assert!(
            text.contains("recovered on") && text.contains("earlier CA"),
            "{text}"
        );
        // In English, school IT's act for the member named; each earlier CA with when it was
        // replaced, to the second (review r19 #10).
        assert!(
            text.contains("by school IT on the command line, for ") && !text.contains("quản trị"),
            "{text}"
        );
        assert_eq!(text.matches(", replaced at ").count(), 2, "{text}");
        // The recovery is told, for 30 days, to the member it was done for and to the others
        // (review r17 #4); a renewal by a holder is no news to anyone who need not act.
        let rx = store.read().unwrap();
        let hers = recent_notices(&rx, pht.id(), actor.now).unwrap();
        assert!(
            hers.iter().any(
                |n| n.contains("khôi phục bởi quản trị máy chủ (dòng lệnh) cho bạn")
                    && n.contains("Lý do: HT cũ nghỉ hưu, quên PIN")
                    && n.contains("mã PIN đã đặt khi khôi phục")
            ),
            "{hers:?}"
        );
        let his = recent_notices(&rx, ht.id(), actor.now).unwrap();
        assert!(
            his.len() == 1
                && his[0].contains("quản trị máy chủ (dòng lệnh), cho")
                && his[0].contains("giữ nguyên mã PIN"),
            "{his:?}"
        );
        let later = actor.now + jiff::SignedDuration::from_hours(24 * 31);
        assert!(recent_notices(&rx, pht.id(), later).unwrap().is_empty());
    }

    /// Review r22 #3: a certificate under a retired CA — a vice principal's, demoted while the
    /// CA was renewed, so not re-issued, then made vice principal again — is refused before any
    /// PIN, with the way out, and flagged on her line ("CA đã thay"); a teacher disabled
    /// during the renewal is re-issued like the others (she keeps her role) and signs on once
    /// enabled again.
    #[test]
    fn a_certificate_under_a_retired_ca_is_refused_before_the_pin() {
        let (dir, store, ht, pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "58203947", "58203947").unwrap();
        request(&store, &actor, &gv, None, "60481735", "60481735").unwrap();
        approve(&store, &actor, &ht, gv.id(), "58203947").unwrap();
        request(&store, &actor, &pht, None, "73915026", "73915026").unwrap();
        approve(&store, &actor, &ht, pht.id(), "58203947").unwrap();
        assert!(super::super::check_not_retired(&store.read().unwrap(), dir.path(), &gv).is_ok());
        let edit = |id: &str, f: &dyn Fn(&mut Account)| {
            store
                .write(&actor, |tx| {
                    let mut a: Account = tx.get(&crate::auth::ACCOUNTS, id)?.unwrap();
                    f(&mut a);
                    tx.put(&crate::auth::ACCOUNTS, id, &a, "t")
                })
                .unwrap()
        };
        edit(gv.id(), &|a| a.disabled = true);
        edit(pht.id(), &|a| a.roles = vec![Role::Teacher]);
        let done = renew(&store, &actor, &ht, "58203947", "").unwrap();
        assert!(done.reissued.contains(&gv.account.full_name), "{done:?}");
        assert_eq!(done.must_request, vec![pht.account.full_name.clone()]);
        edit(gv.id(), &|a| a.disabled = false);
        edit(pht.id(), &|a| a.roles = vec![Role::VicePrincipal]);
        let rx = store.read().unwrap();
        assert!(super::super::check_not_retired(&rx, dir.path(), &gv).is_ok());
        let refused = super::super::check_not_retired(&rx, dir.path(), &pht).unwrap_err();
        assert!(matches!(refused, HocbaError::CertRetired(1)), "{refused:?}");
        assert!(refused.to_string().contains("xin cấp chứng thư mới"));
        // The month approval's check of her PAdES certificate is the same refusal.
        assert!(matches!(
            super::super::check_pades_signer(&rx, dir.path(), &pht, actor.now),
            Err(HocbaError::CertRetired(1))
        ));
        let lines = signer_lines(&rx, dir.path(), actor.now).unwrap();
        let line = |id: &str| lines.iter().find(|l| l.account == id).unwrap().clone();
        assert_eq!(line(pht.id()).retired, Some(1));
        let own = line(pht.id()).ending_text(true).unwrap();
        assert!(
            own.contains("CA đã thay") && own.contains("xin cấp chứng thư mới"),
            "{own}"
        );
        assert_eq!(line(gv.id()).retired, None);
        assert_eq!(line(ht.id()).retired, None);
        let status = ca_status_text(&rx, dir.path(), actor.now).unwrap();
        assert!(status.contains("retired school CA (1)"), "{status}");
        // The principal, re-issued at the renewal, signs on.
        assert!(super::super::check_not_retired(&rx, dir.path(), &ht).is_ok());
        drop(rx);
        // She alone holds the CA: her own request would wait for ever — refused, with the way
        // out (review r22 #4); the vice principal's, with a holder to approve it, is taken.
        let Err(sole) = request(&store, &actor, &ht, None, "91735028", "91735028") else {
            panic!("the sole holder's own request was taken");
        };
        assert!(matches!(sole, HocbaError::SoleHolder), "{sole:?}");
        assert!(sole.to_string().contains("Gia hạn CA"), "{sole}");
        assert!(
            own_request(&store.read().unwrap(), ht.id())
                .unwrap()
                .is_none()
        );
        request(&store, &actor, &pht, None, "64081739", "64081739").unwrap();
    }

    /// Review r17 #3: a signer certificate ends five years after it is issued; from 90 days
    /// before, her line, the status text and the pages say so with the way out, and once it has
    /// ended signing is refused before any PIN, saying what to do; a new request replaces it.
    #[test]
    fn an_ending_signer_certificate_is_told_and_an_ended_one_refused() {
        let (dir, store, ht, pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "58203947", "58203947").unwrap();
        request(&store, &actor, &gv, None, "60481735", "60481735").unwrap();
        approve(&store, &actor, &ht, gv.id(), "58203947").unwrap();
        let rx = store.read().unwrap();
        let rec = signer(&rx, gv.id()).unwrap().unwrap();
        let end = super::super::signer_cert_end(&rec).unwrap();
        let line = |at| {
            signer_lines(&rx, dir.path(), at)
                .unwrap()
                .into_iter()
                .find(|l| l.account == gv.id())
                .unwrap()
        };
        let early = line(end - jiff::SignedDuration::from_hours(24 * 91));
        assert!(!early.ending && !early.expired && early.ending_text(true).is_none());
        let soon = end - jiff::SignedDuration::from_hours(24 * 30);
        let l = line(soon);
        assert!(l.ending && !l.expired && l.days_left == Some(30), "{l:?}");
        let own = l.ending_text(true).unwrap();
        assert!(
            own.contains("còn 30 ngày") && own.contains("xin cấp chứng thư mới"),
            "{own}"
        );
        let text = ca_status_text(&rx, dir.path(), soon).unwrap();
        assert!(
            text.contains("WARNING: the signing certificate of")
                && text.contains("ends in 30 day(s)"),
            "{text}"
        );
        let late = end + jiff::SignedDuration::from_hours(24);
        let l = line(late);
        assert!(l.expired && !l.ending, "{l:?}");
        assert!(l.ending_text(false).unwrap().contains("đã hết hạn"));
        assert!(
            ca_status_text(&rx, dir.path(), late)
                .unwrap()
                .contains("expired on")
        );
        let refused =
            super::super::fitting_signer(&rx, &gv, super::super::Stage::Gvcn, late).unwrap_err();
        assert!(matches!(refused, HocbaError::CertExpired(_)), "{refused:?}");
        let said = refused.to_string();
        assert!(
            said.contains("đã hết hạn")
                && said.contains("Chứng thư ký học bạ")
                && !said.contains("Không ký được"),
            "{said}"
        );
        assert!(super::super::fitting_signer(&rx, &gv, super::super::Stage::Gvcn, soon).is_ok());
        drop(rx);
        // The way out: she asks again (a new key under the PIN she chooses), a BGH member
        // approves, and the new certificate replaces the ended one.
        request(&store, &actor, &gv, None, "73915026", "73915026").unwrap();
        let later = Actor::system(late);
        approve(&store, &later, &ht, gv.id(), "58203947").unwrap();
        let rx = store.read().unwrap();
        let new = signer(&rx, gv.id()).unwrap().unwrap();
        assert!(super::super::signer_cert_end(&new).unwrap() > late);
        assert!(super::super::fitting_signer(&rx, &gv, super::super::Stage::Gvcn, late).is_ok());
        assert!(signing::unlock(&new, "73915026").is_ok());
        let _ = pht;
    }

    /// Review r17 #2: a holder whose PIN is under 8 digits (set before the rule) keeps her wrap
    /// and signs, is told, cannot renew, and gets no wrap of a new CA until she changes it.
    #[test]
    fn a_holder_with_a_short_pin_gets_no_new_wrap_until_she_changes_it() {
        let (dir, store, ht, pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "73016428", "73016428").unwrap();
        request(&store, &actor, &pht, None, "86024731", "86024731").unwrap();
        approve(&store, &actor, &ht, pht.id(), "73016428").unwrap();
        assert_eq!(holders(&store.read().unwrap()).unwrap().len(), 2);
        // Her record as an earlier version left it: a PIN known to be short.
        let short = |v: Option<bool>| {
            store
                .write(&actor, |tx| {
                    let mut rec = tx.get(&SIGNERS, pht.id())?.unwrap();
                    rec.ca_pin = v;
                    tx.put(&SIGNERS, pht.id(), &rec, "t")
                })
                .unwrap()
        };
        short(Some(false));
        let rx = store.read().unwrap();
        assert_eq!(holder_pin_short(&rx, pht.id()).unwrap(), Some(true));
        assert!(matches!(
            renew_precheck(&rx, &pht),
            Err(HocbaError::HolderPinShort)
        ));
        let status = ca_status_text(&rx, dir.path(), actor.now).unwrap();
        assert!(status.contains("shorter than 8 digits"), "{status}");
        let line = signer_lines(&rx, dir.path(), actor.now)
            .unwrap()
            .into_iter()
            .find(|l| l.account == pht.id())
            .unwrap();
        assert!(line.pin_short && line.ca_holder, "{line:?}");
        drop(rx);
        // She keeps her wrap while the CA stays the same (an approval syncs the wraps).
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        assert!(
            holders(&store.read().unwrap())
                .unwrap()
                .contains(&pht.id().to_string())
        );
        // A renewal by the principal: the new CA is not wrapped for her.
        renew(&store, &actor, &ht, "73016428", "").unwrap();
        assert_eq!(
            holders(&store.read().unwrap()).unwrap(),
            vec![ht.id().to_string()]
        );
        // Her PIN changed to one of 8 digits: the next opening of the CA gives her a wrap.
        assert!(matches!(
            change_pin(&store, &actor, &pht, "86024731", "582039", "582039"),
            Err(HocbaError::Signing(signing::SigningError::WeakPin(
                crate::pki::seal::WeakPin::CaShort
            )))
        ));
        assert!(matches!(
            change_pin(&store, &actor, &pht, "00000000", "39604172", "39604172"),
            Err(HocbaError::Signing(signing::SigningError::WrongPin))
        ));
        let rec = change_pin(&store, &actor, &pht, "86024731", "39604172", "39604172").unwrap();
        assert_eq!(rec.ca_pin, Some(true));
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        assert_eq!(holders(&store.read().unwrap()).unwrap().len(), 2);
        assert!(open_ca(&store.read().unwrap(), dir.path(), pht.id(), "39604172").is_ok());
        // A PIN not known yet is learnt at the next right one.
        short(None);
        let rec = signer(&store.read().unwrap(), pht.id()).unwrap().unwrap();
        let learnt = signing::reseal(&rec, "39604172").unwrap().unwrap();
        assert_eq!(learnt.ca_pin, Some(true));
        assert_eq!(learnt.sealed, rec.sealed, "not sealed again for that alone");
    }

    /// Review r19 #3: a teacher made a vice principal keeps her GVCN certificate, but her PIN
    /// follows the BGH rule: she cannot change it to another 6-digit one, and her line and the
    /// CA status say hers is short.
    #[test]
    fn a_teacher_made_vice_principal_follows_the_bgh_pin_rule() {
        let (dir, store, ht, _pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "73016428", "73016428").unwrap();
        request(&store, &actor, &gv, None, "582039", "582039").unwrap();
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        let rx = store.read().unwrap();
        // A teacher: 6 digits are hers to keep.
        assert_eq!(holder_pin_short(&rx, gv.id()).unwrap(), None);
        assert!(change_pin_precheck(&rx, &gv, "683920", "683920").is_ok());
        drop(rx);
        store
            .write(&actor, |tx| {
                let mut a = tx.get(&crate::auth::ACCOUNTS, gv.id())?.unwrap();
                a.roles = vec![Role::Teacher, Role::VicePrincipal];
                tx.put(&crate::auth::ACCOUNTS, gv.id(), &a, "t")
            })
            .unwrap();
        let mut vp = gv.clone();
        vp.account.roles = vec![Role::Teacher, Role::VicePrincipal];
        let rx = store.read().unwrap();
        let refused = change_pin_precheck(&rx, &vp, "683920", "683920").unwrap_err();
        assert!(
            matches!(
                refused,
                HocbaError::Signing(signing::SigningError::WeakPin(
                    crate::pki::seal::WeakPin::CaShort
                ))
            ),
            "{refused:?}"
        );
        assert!(change_pin_precheck(&rx, &vp, "64019273", "64019273").is_ok());
        assert_eq!(holder_pin_short(&rx, gv.id()).unwrap(), Some(true));
        let line = signer_lines(&rx, dir.path(), actor.now)
            .unwrap()
            .into_iter()
            .find(|l| l.account == gv.id())
            .unwrap();
        assert!(line.pin_short && !line.ca_holder, "{line:?}");
        let status = ca_status_text(&rx, dir.path(), actor.now).unwrap();
        assert!(
            status.contains("not a holder: ") && status.contains("shorter than 8 digits"),
            "{status}"
        );
        drop(rx);
        // Changed to 8 digits: no longer short.
        change_pin(&store, &actor, &vp, "582039", "64019273", "64019273").unwrap();
        let rx = store.read().unwrap();
        assert_eq!(holder_pin_short(&rx, gv.id()).unwrap(), Some(false));
    }

    /// Review r19 #4: a signer locked out by wrong PINs of a key she forgot asks for a new
    /// certificate; its approval clears the count (audited), and the new PIN signs at once.
    #[test]
    fn a_new_key_lifts_the_lock_of_the_old_one() {
        let (_dir, store, ht, _pht, gv) = setup();
        let actor = Actor::system(jiff::Timestamp::now());
        request(&store, &actor, &ht, None, "73016428", "73016428").unwrap();
        request(&store, &actor, &gv, None, "58203947", "58203947").unwrap();
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        let old = signer(&store.read().unwrap(), gv.id()).unwrap().unwrap();
        for _ in 0..crate::auth::pin::MAX_FAILURES {
            let tried = crate::auth::pin::guarded(
                &store,
                &actor,
                gv.id(),
                || Ok(()),
                || signing::unlock(&old, "11111111").map_err(HocbaError::Signing),
            )
            .unwrap();
            assert!(tried.is_err());
        }
        let now = jiff::Timestamp::now();
        assert!(
            crate::auth::pin::locked(&store.read().unwrap(), gv.id(), now)
                .unwrap()
                .is_some()
        );
        // Re-sealing the same key (a PIN change) would not lift it; a new key does.
        request(&store, &actor, &gv, None, "49160372", "49160372").unwrap();
        approve(&store, &actor, &ht, gv.id(), "73016428").unwrap();
        let rx = store.read().unwrap();
        assert!(
            crate::auth::pin::locked(&rx, gv.id(), jiff::Timestamp::now())
                .unwrap()
                .is_none()
        );
        let new = signer(&rx, gv.id()).unwrap().unwrap();
        drop(rx);
        let signed = crate::auth::pin::guarded(
            &store,
            &actor,
            gv.id(),
            || Ok(()),
            || signing::unlock(&new, "49160372").map_err(HocbaError::Signing),
        )
        .expect("not locked");
        assert!(signed.is_ok());
        // Storing the same key again (a re-issue under a renewed CA) keeps the count.
        store
            .write(&actor, |tx| {
                let tries = crate::auth::pin::PinTries {
                    failures: 3,
                    last: tx.now(),
                };
                tx.put(&crate::auth::pin::PIN_TRIES, gv.id(), &tries, "t")?;
                super::super::put_signer(tx, &new, true, false)?;
                Ok::<_, HocbaError>(())
            })
            .unwrap();
        let rx = store.read().unwrap();
        assert!(
            rx.get(&crate::auth::pin::PIN_TRIES, gv.id())
                .unwrap()
                .is_some()
        );
    }
}
