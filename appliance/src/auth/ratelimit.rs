//! Login rate limit, per username and per client address. Pupils share one NAT address, so the
//! per-address budget is generous and the per-username one strict (brute force targets accounts).
//! Pure: time is passed in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const PER_USER: usize = 5;
pub const PER_ADDR: usize = 50;

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

    /// `Err(wait)` when this login must be refused without checking the password.
    pub fn check(&self, username: &str, addr: &str, now: Instant) -> Result<(), Duration> {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (k, limit) in Self::keys(username, addr) {
            if let Some(v) = m.get_mut(&k) {
                v.retain(|t| now.duration_since(*t) < WINDOW);
                if v.len() >= limit {
                    let oldest = v[0];
                    return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, username: &str, addr: &str, now: Instant) {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 100_000 {
            // A flood of distinct names cannot grow memory without bound.
            m.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        for (k, _) in Self::keys(username, addr) {
            m.entry(k).or_default().push(now);
        }
    }

    pub fn succeeded(&self, username: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&format!("u:{}", username.trim().to_lowercase()));
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
            assert!(l.check("lan", "10.0.0.5", t0).is_ok(), "attempt {i}");
            l.failed("lan", "10.0.0.5", t0);
        }
        assert!(
            l.check("LAN", "10.0.0.9", t0).is_err(),
            "other address, same user"
        );
        assert!(
            l.check("hoa", "10.0.0.5", t0).is_ok(),
            "same address, other user"
        );
        assert!(
            l.check("lan", "10.0.0.5", t0 + WINDOW).is_ok(),
            "window passed"
        );
    }

    #[test]
    fn success_clears_the_username_counter() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..PER_USER - 1 {
            l.failed("lan", "a", t0);
        }
        l.succeeded("lan");
        l.failed("lan", "a", t0);
        assert!(l.check("lan", "a", t0).is_ok());
    }
}
