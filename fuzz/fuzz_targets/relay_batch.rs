//! Any bytes arriving at the hub as a batch: refused with a reason, never a panic, never an
//! allocation bigger than the batch may unpack to.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The seeds are signed with this key, so mutations reach past the signature check's framing.
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]).verifying_key();
    let _ = tram::relay::batch::envelope(data);
    let _ = tram::relay::batch::open(data, &key);
});
