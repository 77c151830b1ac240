//! The box itself, for school IT: health (disk, memory, temperature, uptime, storage wear,
//! unclean shutdowns), recent logs from journald, the support bundle, and reboot / power-off
//! requests (acted on by root through tram-power.path, outside the appliance's sandbox).
//! Readers of /proc and /sys return None where a fact is not available (a container, a PC).

pub mod routes;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Starts and unclean stops, kept in DATA_DIR/health.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Runs {
    pub starts: u64,
    pub unclean_shutdowns: u64,
    pub last_unclean_at: Option<String>,
}

fn runs_path(d: &Path) -> PathBuf {
    d.join("health.json")
}

fn marker(d: &Path) -> PathBuf {
    d.join("running.marker")
}

pub fn runs(d: &Path) -> Runs {
    fs::read(runs_path(d))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// At start: a marker left by the last run means it did not stop cleanly (power cut, crash,
/// kill). Counted, then the marker is set for this run.
pub fn note_start(d: &Path, now: jiff::Timestamp) -> Runs {
    let mut r = runs(d);
    r.starts += 1;
    if marker(d).exists() {
        r.unclean_shutdowns += 1;
        r.last_unclean_at = Some(now.to_string());
        tracing::warn!(
            count = r.unclean_shutdowns,
            "the last run did not stop cleanly (power cut?)"
        );
    }
    let _ = crate::config::write_atomic(
        &runs_path(d),
        &serde_json::to_vec_pretty(&r).unwrap_or_default(),
    );
    let _ = crate::config::write_atomic(&marker(d), now.to_string().as_bytes());
    r
}

/// After a graceful shutdown.
pub fn note_clean_stop(d: &Path) {
    let _ = fs::remove_file(marker(d));
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub version: &'static str,
    pub device_id: Option<String>,
    pub clone_suspected: bool,
    pub system_uptime_s: Option<u64>,
    pub load: Option<[f64; 3]>,
    pub mem_total: Option<u64>,
    pub mem_available: Option<u64>,
    pub process_rss: Option<u64>,
    pub disk_total: Option<u64>,
    pub disk_free: Option<u64>,
    pub temperature_c: Option<f64>,
    /// eMMC wear estimate ("10–20 % used"), where the storage reports it.
    pub storage_wear: Option<String>,
    pub runs: Runs,
}

pub fn health(d: &Path) -> Health {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = |k: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let (total, free) = crate::config::disk_space(d).unzip();
    Health {
        version: env!("CARGO_PKG_VERSION"),
        device_id: crate::pki::identity::load(d).map(|i| i.device_id),
        clone_suspected: crate::pki::identity::check(d) == crate::pki::identity::Check::Clone,
        system_uptime_s: fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .map(|s| s as u64),
        load: fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
            let v: Vec<f64> = s
                .split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 3).then(|| [v[0], v[1], v[2]])
        }),
        mem_total: mem("MemTotal:"),
        mem_available: mem("MemAvailable:"),
        process_rss: fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map(|kb| kb * 1024)
        }),
        disk_total: total,
        disk_free: free,
        temperature_c: temperature(),
        storage_wear: wear(),
        runs: runs(d),
    }
}

/// The hottest thermal zone, in °C.
fn temperature() -> Option<f64> {
    fs::read_dir("/sys/class/thermal")
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| fs::read_to_string(e.path().join("temp")).ok())
        .filter_map(|t| t.trim().parse::<f64>().ok())
        .map(|m| m / 1000.0)
        .reduce(f64::max)
}

/// eMMC's life-time estimate (JEDEC: 0x01 = 0–10 % used … 0x0B = exceeded) and pre-EOL state.
fn wear() -> Option<String> {
    for e in fs::read_dir("/sys/block").ok()?.flatten() {
        let dev = e.path().join("device");
        if let Ok(lt) = fs::read_to_string(dev.join("life_time")) {
            let worst = lt
                .split_whitespace()
                .filter_map(|x| u8::from_str_radix(x.trim_start_matches("0x"), 16).ok())
                .max()?;
            let eol = fs::read_to_string(dev.join("pre_eol_info"))
                .ok()
                .and_then(|x| u8::from_str_radix(x.trim().trim_start_matches("0x"), 16).ok());
            let used = match worst {
                0 => "không rõ".to_string(),
                1..=10 => format!("{}–{} %", (worst - 1) * 10, worst * 10),
                _ => "đã vượt tuổi thọ".to_string(),
            };
            let warn = match eol {
                Some(2) => " — cảnh báo: 80 % khối dự phòng đã dùng",
                Some(3) => " — KHẨN: sắp hỏng, thay thẻ nhớ",
                _ => "",
            };
            return Some(format!("{used}{warn}"));
        }
    }
    None
}

/// The appliance's recent journal, newest last; None off systemd.
pub fn recent_logs(lines: usize) -> Option<String> {
    let out = std::process::Command::new("journalctl")
        .args([
            "-u",
            "tram.service",
            "-u",
            "tram-update.service",
            "-u",
            "tram-firstboot.service",
        ])
        .args(["-n", &lines.to_string(), "--no-pager", "-o", "short-iso"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.trim().is_empty() && !text.contains("-- No entries --"))
        .then_some(text)
}

/// Reboot or power-off, asked for by school IT; root acts on the request file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Power {
    Reboot,
    PowerOff,
}

impl Power {
    pub fn parse(s: &str) -> Option<Power> {
        match s {
            "reboot" => Some(Power::Reboot),
            "poweroff" => Some(Power::PowerOff),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Power::Reboot => "reboot",
            Power::PowerOff => "poweroff",
        }
    }
}

pub fn power_request_path(d: &Path) -> PathBuf {
    d.join("power").join("request")
}

pub fn request_power(d: &Path, p: Power) -> std::io::Result<()> {
    crate::config::write_atomic(&power_request_path(d), p.as_str().as_bytes())
}

/// Root's side (tram-power.service): reads and removes the request, then asks systemd.
pub fn act_on_power_request(d: &Path) -> std::io::Result<Option<Power>> {
    let path = power_request_path(d);
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(None);
    };
    fs::remove_file(&path)?;
    let Some(p) = Power::parse(text.trim()) else {
        return Ok(None);
    };
    let status = std::process::Command::new("systemctl")
        .arg(p.as_str())
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "systemctl {} failed",
            p.as_str()
        )));
    }
    Ok(Some(p))
}

/// Writes the support bundle into `to` (a USB stick); returns the file.
pub fn write_support_bundle(store: &crate::store::Store, to: &Path) -> std::io::Result<PathBuf> {
    let bytes = support_bundle(store)?;
    let file = to.join(format!(
        "tram-support-{}.zip",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    ));
    crate::config::write_atomic(&file, &bytes)?;
    Ok(file)
}

/// The support bundle: what a helper needs to diagnose the box, without a secret or a
/// record (no keys, no enrolment secret, no database, no personal data).
pub fn support_bundle(store: &crate::store::Store) -> std::io::Result<Vec<u8>> {
    let d = store.dir();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        zip.start_file(name, opts).map_err(std::io::Error::other)?;
        zip.write_all(bytes)
    };
    add(
        "health.json",
        serde_json::to_string_pretty(&health(d))
            .unwrap_or_default()
            .as_bytes(),
    )?;
    add(
        "logs.txt",
        recent_logs(2000)
            .unwrap_or_else(|| "journald is not available on this machine\n".into())
            .as_bytes(),
    )?;
    let mut relay = crate::relay::status(store);
    if let Some(o) = relay.as_object_mut() {
        o.remove("secret");
    }
    add("relay-status.json", relay.to_string().as_bytes())?;
    add(
        "backup-status.json",
        serde_json::to_string_pretty(&crate::backup::schedule::summary(d, jiff::Timestamp::now()))
            .unwrap_or_default()
            .as_bytes(),
    )?;
    add(
        "update-status.json",
        serde_json::to_string_pretty(&crate::update::status(d))
            .unwrap_or_default()
            .as_bytes(),
    )?;
    for f in ["tram.toml", "provisioning-summary.txt", "provisioned.json"] {
        if let Ok(b) = fs::read(d.join(f)) {
            add(f, &b)?;
        }
    }
    let audit = store
        .verify_audit()
        .map(|r| format!("{} events, broken: {:?}\n", r.events, r.broken))
        .unwrap_or_else(|e| format!("cannot verify: {e}\n"));
    add("audit.txt", audit.as_bytes())?;
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}
