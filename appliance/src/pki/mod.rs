//! Keys and signatures the box checks: the per-device certificate authority and the TLS server
//! configuration (`tls`), and the signed update bundle format (`bundle`), which the updater, the
//! relay's downlink, the device page and the hub all verify.

pub mod bundle;
pub mod tls;

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
