//! Private keys sealed under a person's PIN: ChaCha20-Poly1305 under a key stretched by argon2id
//! from the PIN (mã PIN ký). One implementation for every key a person signs with — the Ed25519
//! lesson-plan key (`lessons::sign`) and the P-256 học bạ signing key (`pki::signing`) — so a
//! change to the stretch or the cipher is made once. Also the rule a new PIN must pass
//! ([`check_new_pin`]).
//!
//! The stretch's parameters are stored with each seal ([`Kdf`]): a seal without them was made
//! with argon2's defaults ([`LEGACY`]) and keeps opening; new seals use [`KDF`], and the callers
//! seal an old one again with it after the next right PIN.

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use serde::{Deserialize, Serialize};

/// argon2id's parameters: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

/// New seals: 64 MiB, 3 passes, 1 lane — about 0.35 s of one core of the test machine in a
/// release build (bench/RESULTS.md), where the defaults took 0.07 s: an offline guesser with a
/// copy of the database pays five times as much per PIN.
pub const KDF: Kdf = Kdf {
    m_kib: 64 * 1024,
    t: 3,
    p: 1,
};

/// What a seal stored without parameters was made with: argon2 0.5's defaults (19 MiB, 2, 1).
pub const LEGACY: Kdf = Kdf {
    m_kib: 19 * 1024,
    t: 2,
    p: 1,
};

/// The parameters of a stored seal (`None`: one made before they were stored).
pub fn kdf_of(stored: Option<Kdf>) -> Kdf {
    stored.unwrap_or(LEGACY)
}

/// The stretched PIN as a cipher, with today's parameters [`KDF`] (for new seals). Callers keep
/// it for several seals when one PIN seals several keys.
pub fn cipher_for(secret: &str, salt: &[u8]) -> ChaCha20Poly1305 {
    cipher_with(secret, salt, KDF)
}

/// The stretched PIN as a cipher, with the parameters a seal was made with.
pub fn cipher_with(secret: &str, salt: &[u8], kdf: Kdf) -> ChaCha20Poly1305 {
    let mut key = [0u8; 32];
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32))
        .unwrap_or_else(|_| argon2::Params::default());
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(secret.as_bytes(), salt, &mut key)
        .expect("argon2 parameters are valid");
    ChaCha20Poly1305::new((&key).into())
}

/// Why a new signing PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPin {
    #[error("Mã PIN ký phải có ít nhất {MIN_PIN} chữ số và chỉ gồm chữ số.")]
    Short,
    #[error(
        "Mã PIN ký quá dễ đoán (cùng một chữ số, dãy liền nhau như 123456 hay 654321, lặp lại như 121212, 123123, hay chỉ có hai chữ số khác nhau như 111222, 100000). Hãy chọn dãy khác."
    )]
    Trivial,
    #[error(
        "Mã PIN ký là một ngày tháng (như ngày sinh 15/03/1987 viết thành 150387, 031587, 15031987 hay 19870315): người quen đoán ra ngay. Hãy chọn dãy khác."
    )]
    Date,
}

impl WeakPin {
    /// The CLI's words.
    pub fn english(self) -> String {
        match self {
            WeakPin::Short => format!("a signing PIN is at least {MIN_PIN} digits, digits only"),
            WeakPin::Trivial => "this signing PIN is too easy to guess (one digit repeated, a run such as 123456 or 654321, a repeated group such as 121212 or 123123, or only two different digits such as 111222): choose another".into(),
            WeakPin::Date => "this signing PIN is a date (a birth date such as 15/03/1987 written 150387, 031587, 15031987 or 19870315), which people who know the signer guess first: choose another".into(),
        }
    }
}

/// A signing PIN has at least this many digits.
pub const MIN_PIN: usize = 6;

/// The rule of a new signing PIN as every form that sets one states it, before any refusal
/// (review r15 #6): the one text, so forms, prompts and [`check_new_pin`] cannot drift apart.
/// `english` is borrowed too: templates pass their arguments by reference.
pub fn pin_rule(english: impl std::borrow::Borrow<bool>) -> &'static str {
    if *english.borrow() {
        "A signing PIN is at least 6 digits and not an easy sequence (111111, 123456, 121212, 111222, a date such as a birth date…)."
    } else {
        "Mã PIN ký gồm ít nhất 6 chữ số, không phải dãy dễ đoán (111111, 123456, 121212, 111222, ngày sinh hay một ngày tháng…)."
    }
}

/// The advice for those whose PIN opens the school signing CA (BGH): a PIN guessed offline
/// from a copy of the data costs days for 6 digits, over a year for 8 (README, "Học bạ số").
pub fn pin_advice_ca(english: impl std::borrow::Borrow<bool>) -> &'static str {
    if *english.borrow() {
        "BGH members should choose 8 digits or more: a CA holder's PIN also opens the school's signing CA."
    } else {
        "Ban giám hiệu nên chọn mã PIN từ 8 chữ số trở lên: mã PIN của người giữ CA còn mở CA ký số của trường."
    }
}

/// The rule a PIN must pass when it is chosen or changed (those already stored keep working):
/// digits only, at least [`MIN_PIN`] of them (longer is allowed), not one digit repeated, not a
/// run up or down (123456, 654321, 012345, 890123 — wrapping past 9), not a group of two or
/// three repeated (121212, 123123), at least three different digits, and not a date
/// ([`is_date`]) — checked against today's date (UTC).
pub fn check_new_pin(pin: &str) -> Result<(), WeakPin> {
    check_new_pin_on(
        pin,
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date(),
    )
}

/// [`check_new_pin`] on the day `today`.
pub fn check_new_pin_on(pin: &str, today: jiff::civil::Date) -> Result<(), WeakPin> {
    let d: Vec<u8> = pin.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if d.len() < MIN_PIN || d.iter().any(|&x| x > 9) {
        return Err(WeakPin::Short);
    }
    let step = |s: u8| d.windows(2).all(|w| (w[0] + s) % 10 == w[1]);
    let repeats = |n: usize| d.len().is_multiple_of(n) && d.chunks(n).all(|c| c == &d[..n]);
    // Two digits or fewer (111112, 111222, 000001, 100000: review r15 #6) are guessed first.
    let distinct = d.iter().collect::<std::collections::HashSet<_>>().len();
    if step(0) || step(1) || step(9) || repeats(2) || repeats(3) || distinct < 3 {
        return Err(WeakPin::Trivial);
    }
    if is_date(&d, today) {
        return Err(WeakPin::Date);
    }
    Ok(())
}

/// Whether the digits `d` read as a date between 1 January 1940 and `today` in one of the
/// ways a birth date is written: 6 digits ddmmyy or mmddyy (yy 40–99 the 1900s, else the
/// 2000s), 8 digits ddmmyyyy or yyyymmdd. A signer's birth date is the PIN people who know
/// them try first, and the box does not hold staff birth dates (the accounts have none), so
/// every such date is refused — about 6 % of 6-digit PINs.
fn is_date(d: &[u8], today: jiff::civil::Date) -> bool {
    let n = |i: usize, len: usize| d[i..i + len].iter().fold(0i16, |a, &x| a * 10 + x as i16);
    let real = |y: i16, m: i16, day: i16| {
        (1..=12).contains(&m)
            && (1..=31).contains(&day)
            && (1940..=today.year()).contains(&y)
            && jiff::civil::Date::new(y, m as i8, day as i8).is_ok_and(|x| x <= today)
    };
    match d.len() {
        6 => {
            let yy = n(4, 2);
            let y = if yy >= 40 { 1900 + yy } else { 2000 + yy };
            real(y, n(2, 2), n(0, 2)) || real(y, n(0, 2), n(2, 2))
        }
        8 => real(n(4, 4), n(2, 2), n(0, 2)) || real(n(0, 4), n(4, 2), n(6, 2)),
        _ => false,
    }
}

/// Seals `plain` with a fresh nonce; `aad` binds the sealed key to its owner and public half,
/// so a sealed key copied onto another record does not open.
pub fn seal(cipher: &ChaCha20Poly1305, plain: &[u8], aad: &[u8]) -> ([u8; 12], Vec<u8>) {
    let nonce: [u8; 12] = rand::random();
    let sealed = cipher
        .encrypt((&nonce).into(), Payload { msg: plain, aad })
        .expect("sealing a key cannot fail");
    (nonce, sealed)
}

/// Opens what [`seal`] sealed; `None` for a wrong PIN (or a record changed since).
pub fn open(
    cipher: &ChaCha20Poly1305,
    nonce: &[u8; 12],
    sealed: &[u8],
    aad: &[u8],
) -> Option<Vec<u8>> {
    cipher
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_pins_are_refused() {
        for pin in [
            "000000",
            "111111",
            "999999",
            "123456",
            "654321",
            "012345",
            "890123",
            "543210",
            "121212",
            "123123",
            "909090",
            "111112",
            "111222",
            "000001",
            "100000",
            "1234567890",
            "98765432",
        ] {
            assert_eq!(check_new_pin(pin), Err(WeakPin::Trivial), "{pin}");
        }
        for pin in ["12345", "", "abcdef", "12345a", "１２３４５６", "13579 "] {
            assert_eq!(check_new_pin(pin), Err(WeakPin::Short), "{pin}");
        }
        for pin in [
            "135792", "246810", "112233", "271828", "1212123", "27182818",
        ] {
            // 112233 reads 22/11/2033 (mmddyy): a fixed day keeps the test true after it.
            assert_eq!(
                check_new_pin_on(pin, jiff::civil::date(2026, 12, 7)),
                Ok(()),
                "{pin}"
            );
        }
    }

    #[test]
    fn dates_are_refused() {
        let today = jiff::civil::date(2026, 12, 7);
        // 15/03/1987 as ddmmyy, mmddyy, ddmmyyyy, yyyymmdd; 29/02/2000; 07/12/2026 (today).
        for pin in [
            "150387", "031587", "15031987", "19870315", "290200", "29022000", "071226", "01011940",
            "311299",
        ] {
            assert_eq!(check_new_pin_on(pin, today), Err(WeakPin::Date), "{pin}");
        }
        // Not a day (32nd, 13th month, 29/02 of 2001), before 1940, after today, 7 digits.
        for pin in [
            "320387", "151387", "290201", "29022001", "19390315", "31121939", "081227", "20270101",
            "1503871", "271828",
        ] {
            assert_eq!(check_new_pin_on(pin, today), Ok(()), "{pin}");
        }
        // The yy of a 6-digit PIN: 39 is 2039, not yet; 40 is 1940.
        assert_eq!(check_new_pin_on("150339", today), Ok(()));
        assert_eq!(check_new_pin_on("150340", today), Err(WeakPin::Date));
    }

    #[test]
    fn a_seal_opens_with_the_parameters_it_was_made_with() {
        let salt = [9u8; 16];
        let (nonce, sealed) = seal(&cipher_with("246810", &salt, LEGACY), b"k", b"a");
        // What argon2's defaults made (a seal stored before the parameters were).
        let mut key = [0u8; 32];
        argon2::Argon2::default()
            .hash_password_into(b"246810", &salt, &mut key)
            .unwrap();
        let default = ChaCha20Poly1305::new((&key).into());
        assert!(open(&default, &nonce, &sealed, b"a").is_some());
        assert!(open(&cipher_for("246810", &salt), &nonce, &sealed, b"a").is_none());
        assert_eq!(kdf_of(None), LEGACY);
    }

    #[test]
    fn opens_only_with_the_same_pin_and_binding() {
        let salt = [7u8; 16];
        let (nonce, sealed) = seal(&cipher_for("246810", &salt), b"key bytes", b"owner a");
        assert_eq!(
            open(&cipher_for("246810", &salt), &nonce, &sealed, b"owner a").as_deref(),
            Some(&b"key bytes"[..])
        );
        assert!(open(&cipher_for("246811", &salt), &nonce, &sealed, b"owner a").is_none());
        assert!(open(&cipher_for("246810", &salt), &nonce, &sealed, b"owner b").is_none());
    }
}
