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
