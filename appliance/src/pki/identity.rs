//! Which hardware this data directory belongs to. Provisioning (or the first start) records
//! hashes of the box's hardware serials: network MAC addresses, disk and SD-card serials, the
//! machine id. A copy of the disk started in another box shares none of them; it is then a
//! suspected clone and must not relay under the first box's identity until the district issues
//! it a new enrolment (which also gives it a new device key). One matching fact is enough, so
//! adding a USB Wi-Fi stick or moving the SD card to a replacement board is not a clone.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    /// Random, made once; shown on the summary and the School IT page.
    pub device_id: String,
    /// BLAKE3 (keyed by the device id) of each hardware fact, so the file does not list MACs.
    pub facts: Vec<String>,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// At least one recorded fact is present, or nothing could be read (a container).
    Same,
    /// None of the recorded hardware is here.
    Clone,
    /// Not recorded yet.
    Unrecorded,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("identity.json")
}

pub fn load(data_dir: &Path) -> Option<Identity> {
    serde_json::from_slice(&fs::read(path(data_dir)).ok()?).ok()
}

/// The hardware facts of this machine. `TRAM_HARDWARE_ID` replaces them (tests, and virtual
/// machines whose MAC addresses change at every start).
pub fn hardware_facts() -> Vec<String> {
    if let Ok(v) = std::env::var("TRAM_HARDWARE_ID")
        && !v.is_empty()
    {
        return vec![format!("override:{v}")];
    }
    let mut facts = Vec::new();
    // Physical network interfaces (those backed by a device, not lo, bridges or veths).
    if let Ok(rd) = fs::read_dir("/sys/class/net") {
        for e in rd.flatten() {
            let p = e.path();
            if p.join("device").exists()
                && let Ok(mac) = fs::read_to_string(p.join("address"))
            {
                let mac = mac.trim();
                if !mac.is_empty() && mac != "00:00:00:00:00:00" {
                    facts.push(format!("mac:{mac}"));
                }
            }
        }
    }
    // Disks: SD/eMMC CID, NVMe and SCSI serials, virtio serials.
    if let Ok(rd) = fs::read_dir("/sys/block") {
        for e in rd.flatten() {
            let dev = e.path().join("device");
            for f in ["cid", "serial", "wwid"] {
                if let Ok(s) = fs::read_to_string(dev.join(f)) {
                    let s = s.trim();
                    if !s.is_empty() {
                        facts.push(format!("disk-{f}:{s}"));
                    }
                }
            }
        }
    }
    facts.sort();
    facts.dedup();
    facts
}

fn hashed(device_id: &str, facts: &[String]) -> Vec<String> {
    let key = blake3::derive_key("tram identity v1", device_id.as_bytes());
    facts
        .iter()
        .map(|f| blake3::keyed_hash(&key, f.as_bytes()).to_hex()[..32].to_string())
        .collect()
}

/// Records this machine as the data directory's hardware (replacing what was recorded).
pub fn record(data_dir: &Path, now: jiff::Timestamp) -> std::io::Result<Identity> {
    let device_id = load(data_dir)
        .map(|i| i.device_id)
        .unwrap_or_else(|| format!("tram-{}", hex::encode(rand::random::<[u8; 8]>())));
    let id = Identity {
        facts: hashed(&device_id, &hardware_facts()),
        device_id,
        recorded_at: now.to_string(),
    };
    crate::config::write_atomic(
        &path(data_dir),
        &serde_json::to_vec_pretty(&id).map_err(std::io::Error::other)?,
    )?;
    Ok(id)
}

pub fn check(data_dir: &Path) -> Check {
    let Some(id) = load(data_dir) else {
        return Check::Unrecorded;
    };
    let now = hashed(&id.device_id, &hardware_facts());
    if id.facts.is_empty() || now.is_empty() || now.iter().any(|f| id.facts.contains(f)) {
        Check::Same
    } else {
        Check::Clone
    }
}

/// At start: records the hardware the first time; afterwards reports a suspected clone.
pub fn ensure(data_dir: &Path, now: jiff::Timestamp) -> Check {
    match check(data_dir) {
        Check::Unrecorded => {
            if let Err(e) = record(data_dir, now) {
                tracing::warn!(error = %e, "cannot record the device identity");
            }
            Check::Same
        }
        Check::Clone => {
            tracing::error!(
                "this data directory was provisioned on other hardware (a copied disk or SD card?): relaying to the district is stopped until the box is enrolled again"
            );
            Check::Clone
        }
        Check::Same => Check::Same,
    }
}
