//! The appliance announces itself over mDNS; a browser on the same host finds `_https._tcp`
//! with the school's name and code in TXT.

mod common;

use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};

#[test]
fn announcement_is_found_by_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        tram::store::Store::open(dir.path(), &tram::app::schema::schema()).unwrap(),
    );
    tram::demo::seed(&store, "x", 40, jiff::Timestamp::now()).unwrap();
    let info = tram::school::school_info(&store.read().unwrap()).unwrap();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let _daemon = tram::app::mdns::announce(
        info.as_ref(),
        "tram-79000701.local",
        18443,
        Some(18080),
        &[ip],
    )
    .unwrap();

    let browser = ServiceDaemon::new().unwrap();
    browser.enable_interface(IfKind::LoopbackV4).unwrap();
    let rx = browser.browse("_https._tcp.local.").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no _https._tcp announcement seen within 15 s"
        );
        if let Ok(ServiceEvent::ServiceResolved(s)) = rx.recv_timeout(left)
            && s.get_property_val_str("code") == Some("79000701")
            // Another box of the demo school on this host (a demo someone is running) announces
            // the same code: this one is told by its port.
            && s.get_port() == 18443
        {
            assert!(
                s.get_property_val_str("school")
                    .unwrap()
                    .contains("Nguyễn Du")
            );
            assert_eq!(s.get_hostname(), "tram-79000701.local.");
            break;
        }
    }
}
