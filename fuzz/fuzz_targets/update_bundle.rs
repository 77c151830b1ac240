//! Any file offered as an update bundle: refused with a reason, never a panic, nothing
//! unpacked outside the staging folder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("tram-fuzz-bundle-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("in.bundle");
    std::fs::write(&file, data).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]).verifying_key();
    let _ = tram::pki::bundle::read_manifest_unverified(&file);
    let staging = dir.join("staging");
    let _ = std::fs::remove_dir_all(&staging);
    if let Ok(v) = tram::pki::bundle::verify(&file, &key, &staging) {
        let out = dir.join("out");
        let _ = std::fs::remove_dir_all(&out);
        let _ = v.unpack(&out);
    }
});
