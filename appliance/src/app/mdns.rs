//! mDNS announcement: `_https._tcp` (the app) and `_http._tcp` (the certificate page), with the
//! school's name and code in TXT, so laptops find `tram-<code>.local`. Phones that cannot
//! resolve `.local` use the IP address URL shown on the bootstrap and admin pages.

use std::net::IpAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

use crate::school::SchoolInfo;

pub fn announce(
    info: Option<&SchoolInfo>,
    host_name: &str,
    https_port: u16,
    http_port: Option<u16>,
    ips: &[IpAddr],
) -> anyhow::Result<ServiceDaemon> {
    let daemon = ServiceDaemon::new()?;
    if ips.iter().any(|ip| ip.is_loopback()) {
        daemon.enable_interface(IfKind::LoopbackV4)?;
    }
    let name = info
        .map(|i| i.name.clone())
        .unwrap_or_else(|| "Trạm".into());
    let code = info.map(|i| i.code.clone()).unwrap_or_default();
    let props = [
        ("school", name.as_str()),
        ("code", code.as_str()),
        ("version", crate::http::VERSION),
        ("path", "/"),
    ];
    let host = format!("{host_name}.");
    let ips: Vec<IpAddr> = ips.to_vec();
    let mut services = vec![("_https._tcp.local.", https_port)];
    if let Some(p) = http_port {
        services.push(("_http._tcp.local.", p));
    }
    for (ty, port) in services {
        let si = ServiceInfo::new(ty, &name, &host, &ips[..], port, &props[..])?;
        daemon.register(si)?;
    }
    Ok(daemon)
}
