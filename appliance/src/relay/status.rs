//! What the relay reports: the JSON status (the admin page, `tram relay status --json`) and its
//! text for the console.

use super::*;

/// The status page's numbers.
pub fn status(store: &Store) -> serde_json::Value {
    let dir = store.dir();
    let e = enrolment(dir);
    let st = state(dir);
    serde_json::json!({
        "enrolled": e.is_some(),
        "enrolment_pending": e.is_none() && pending(dir).is_some(),
        "downlink": downlink::seen(dir).items,
        "clone_suspected": crate::pki::identity::check(dir) == crate::pki::identity::Check::Clone,
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
