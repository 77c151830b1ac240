//! Login rate limit, per username and per client address. Pupils share one NAT address, so the
//! per-address budget is generous and the per-username one strict (brute force targets accounts).
//! Pure: time is passed in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const PER_USER: usize = 5;
pub const PER_ADDR: usize = 50;

/// Why a password check is refused: how long to wait, and whether the address (not the
/// account) ran out of attempts — the message differs, since then the password may be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub wait: Duration,
    pub address: bool,
}

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    fn keys(username: &str, addr: &str) -> [(String, usize); 2] {
        [
            (format!("u:{}", username.trim().to_lowercase()), PER_USER),
            (format!("a:{addr}"), PER_ADDR),
        ]
    }

    /// Reserves one password check for `username` from `addr`: `Err(wait)` when it must be
    /// refused without checking the password. The attempt is counted here, before the (slow)
    /// check runs, under one lock, so parallel guesses cannot all pass the gate before the first
    /// failure is recorded. [`LoginLimiter::succeeded`] gives the attempt back when it was right.
    pub fn begin(&self, username: &str, addr: &str, now: Instant) -> Result<(), Refused> {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (i, (k, limit)) in Self::keys(username, addr).into_iter().enumerate() {
            if let Some(v) = m.get_mut(&k) {
                v.retain(|t| now.duration_since(*t) < WINDOW);
                if v.len() >= limit {
                    let oldest = v[0];
                    return Err(Refused {
                        wait: WINDOW.saturating_sub(now.duration_since(oldest)),
                        address: i == 1,
                    });
                }
            }
        }
        if m.len() > 100_000 {
            // A flood of distinct names cannot grow memory without bound.
            m.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        for (k, _) in Self::keys(username, addr) {
            m.entry(k).or_default().push(now);
        }
        Ok(())
    }

    /// The password was right: the username's count is cleared and the address's attempt given
    /// back (pupils behind one NAT address log in all day).
    pub fn succeeded(&self, username: &str, addr: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let [(user, _), (address, _)] = Self::keys(username, addr);
        m.remove(&user);
        if let Some(v) = m.get_mut(&address) {
            v.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_username_for_the_window() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..PER_USER {
            assert!(l.begin("lan", "10.0.0.5", t0).is_ok(), "attempt {i}");
        }
        assert!(
            l.begin("LAN", "10.0.0.9", t0).is_err(),
            "other address, same user"
        );
        assert!(
            l.begin("hoa", "10.0.0.5", t0).is_ok(),
            "same address, other user"
        );
        assert!(
            l.begin("lan", "10.0.0.5", t0 + WINDOW).is_ok(),
            "window passed"
        );
    }

    #[test]
    fn success_clears_the_username_counter() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..PER_USER - 1 {
            l.begin("lan", "a", t0).unwrap();
        }
        l.succeeded("lan", "a");
        l.begin("lan", "a", t0).unwrap();
        assert!(l.begin("lan", "a", t0).is_ok());
    }

    #[test]
    fn parallel_guesses_cannot_pass_the_gate_before_a_failure_is_recorded() {
        // Every attempt is counted when reserved: of 60 reserved at once, only PER_USER pass.
        let l = std::sync::Arc::new(LoginLimiter::default());
        let t0 = Instant::now();
        let passed: usize = (0..60)
            .map(|i| {
                let l = l.clone();
                std::thread::spawn(move || l.begin("lan", &format!("10.0.0.{i}"), t0).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(passed, PER_USER);
    }
}
