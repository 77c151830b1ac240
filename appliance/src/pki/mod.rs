//! Keys and signatures the box checks: the per-device certificate authority and the TLS server
//! configuration (`tls`), the signed update bundle format (`bundle`), which the updater, the
//! relay's downlink, the device page and the hub all verify, and the box's hardware identity
//! (`identity`: a copied disk is not the box it was provisioned on).

pub mod bundle;
pub mod identity;
pub mod p12;
pub mod pades;
pub mod roots;
pub mod seal;
pub mod signing;
pub mod tls;
pub mod tsa;

use std::net::IpAddr;

/// Private IPv4 addresses of this machine (what phones on the school Wi-Fi can reach).
pub fn local_ips() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .map(|i| i.ip())
                .filter(|ip| ip.is_ipv4())
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|ip| ip.is_loopback());
    v
}

/// The fingerprint a person compares of an Ed25519 public key (the box's device key, which the
/// hub enrolled and which signs the records archive): SHA-256 of the 32 key bytes, lowercase
/// hex. Shown by the box (relay page), the hub (`tram district schools`) and the archive check.
pub fn key_fingerprint(public_key: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(public_key))
}

/// [`key_fingerprint`] of a hex public key; None when it is not hex.
pub fn key_fingerprint_hex(public_key: &str) -> Option<String> {
    hex::decode(public_key.trim())
        .ok()
        .map(|k| key_fingerprint(&k))
}

/// A fingerprint in groups of four hex digits, as people read it aloud and compare it.
pub fn fingerprint_groups(fp: &str) -> String {
    fp.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The hex digits of a fingerprint as typed or pasted (spaces, colons, upper case): lowercase,
/// separators dropped.
pub fn normalise_fingerprint(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '-' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}
