//! The one count of wrong signing PINs, per account, stored in the database.
//!
//! Every check of a signing PIN — a học bạ signature, a certificate approval, a lesson-plan or
//! minutes signature, the PAdES PIN of a month approval, a PKCS#12 import's current PIN, and the
//! CLI's `--by` approver, `TRAM_CURRENT_PIN` and `tram hocba sign` — is *reserved* here first
//! ([`begin`]: one `Store::write`, so however many arrive at once no more than the allowed
//! number of checks ever run) and given back when the PIN was right ([`succeeded`]). Any other
//! outcome leaves the attempt counted.
//!
//! The rule: [`MAX_FAILURES`] checks, then the account is locked for [`LOCK`]; every further
//! [`MAX_FAILURES`] checks without a right PIN lock it twice as long as the time before, up to
//! [`MAX_LOCK`]. A day without any check ([`FORGET`]) starts the count afresh. Being in the
//! database, the count survives a restart, is the same for the server and the CLI, and travels
//! in a backup. Whoever can write the raw database file can still reset it: against them the
//! cost of the PIN's stretch (`pki::seal`) is the protection.

use serde::{Deserialize, Serialize};

use crate::store::{Actor, AuditPolicy, Collection, Read, Store, StoreError, Tx};

/// Per account id: the checks since the last right PIN.
pub const PIN_TRIES: Collection<PinTries> =
    Collection::new("auth.pin_tries.v1", AuditPolicy::Values, None);

pub const MAX_FAILURES: u32 = 5;
pub const LOCK: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);
pub const MAX_LOCK: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
pub const FORGET: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinTries {
    /// Checks reserved since the last right PIN (or since the count was forgotten).
    pub failures: u32,
    /// When the last one was reserved.
    pub last: jiff::Timestamp,
}

/// Checks are refused until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub until: jiff::Timestamp,
}

impl Locked {
    /// Whole minutes left, at least one.
    pub fn minutes(&self, now: jiff::Timestamp) -> u64 {
        let secs = (self.until.as_second() - now.as_second()).max(0) as u64;
        secs.div_ceil(60).max(1)
    }

    /// The web's words (`pin_locked`).
    pub fn vi(&self, now: jiff::Timestamp) -> String {
        format!(
            "Nhập sai mã PIN ký nhiều lần; thử lại sau {} phút.",
            self.minutes(now)
        )
    }

    /// The CLI's words; `tz` is the school's time zone (`school::time_zone`): the time is the
    /// one the person at the box reads on a clock, never UTC (review r15 #7).
    pub fn english(&self, username: &str, now: jiff::Timestamp, tz: jiff::tz::TimeZone) -> String {
        format!(
            "too many wrong signing PINs for {username:?}: PIN checks are refused until {} Vietnam time (UTC+7), in {} minutes; a right PIN then clears the count",
            self.until.to_zoned(tz).strftime("%d/%m/%Y %H:%M"),
            self.minutes(now)
        )
    }
}

/// How long the lock after `failures` checks lasts (`failures` a multiple of [`MAX_FAILURES`]).
fn lock_length(failures: u32) -> jiff::SignedDuration {
    let doublings = (failures / MAX_FAILURES).saturating_sub(1).min(16);
    let len = LOCK * (1i32 << doublings);
    if len > MAX_LOCK { MAX_LOCK } else { len }
}

/// The rule, pure: the count after reserving one more check at `now`, or the lock.
pub fn reserve(before: Option<&PinTries>, now: jiff::Timestamp) -> Result<PinTries, Locked> {
    let failures = match before {
        None => 0,
        Some(t) if now.duration_since(t.last) > FORGET => 0,
        Some(t) => t.failures,
    };
    if let Some(t) = before
        && failures > 0
        && failures.is_multiple_of(MAX_FAILURES)
    {
        let until = t.last + lock_length(failures);
        if now < until {
            return Err(Locked { until });
        }
    }
    Ok(PinTries {
        failures: failures + 1,
        last: now,
    })
}

/// Whether `account` is locked now, without reserving anything (to refuse before asking).
pub fn locked(
    r: &impl Read,
    account: &str,
    now: jiff::Timestamp,
) -> Result<Option<Locked>, StoreError> {
    Ok(reserve(r.get(&PIN_TRIES, account)?.as_ref(), now).err())
}

/// Reserves one PIN check for `account` (committed before the PIN is tried), or the lock.
pub fn begin(
    store: &Store,
    actor: &Actor,
    account: &str,
) -> Result<Result<(), Locked>, StoreError> {
    store.write(actor, |tx| {
        let before = tx.get(&PIN_TRIES, account)?;
        match reserve(before.as_ref(), tx.now()) {
            Err(l) => Ok(Err(l)),
            Ok(after) => {
                tx.put(&PIN_TRIES, account, &after, "auth.pin.check")?;
                Ok(Ok(()))
            }
        }
    })
}

/// The PIN was right: the count is cleared.
pub fn succeeded(store: &Store, actor: &Actor, account: &str) -> Result<(), StoreError> {
    if store.read()?.get(&PIN_TRIES, account)?.is_none() {
        return Ok(());
    }
    store.write(actor, |tx| {
        tx.delete(&PIN_TRIES, account, "auth.pin.right")?;
        Ok(())
    })
}

/// `account` was given a new key (a new certificate, in the transaction that stores it): the
/// count and any lock, which guarded the key it replaces, are cleared, audited
/// (`auth.pin.new_key`). Returns whether there was a count.
pub fn new_key(tx: &mut Tx<'_>, account: &str) -> Result<bool, StoreError> {
    if tx.get(&PIN_TRIES, account)?.is_none() {
        return Ok(false);
    }
    tx.delete(&PIN_TRIES, account, "auth.pin.new_key")?;
    Ok(true)
}

/// Gives back a check reserved by [`begin`] that never tried the PIN (a PKCS#12 refused before
/// its current PIN is looked at): the count is one lower, its time unchanged.
pub fn refund(store: &Store, actor: &Actor, account: &str) -> Result<(), StoreError> {
    store.write(actor, |tx| {
        if let Some(t) = tx.get(&PIN_TRIES, account)?
            && t.failures > 0
        {
            tx.put(
                &PIN_TRIES,
                account,
                &give_back(t, tx.now()),
                "auth.pin.unused",
            )?;
        }
        Ok(())
    })
}

/// The count with one reserved check given back at `now`. The check was reserved after any
/// lock had ended (else [`begin`] refuses), so giving it back never locks again: a count that
/// falls back onto a lock's threshold is dated as a lock already served (review r19 #4: a
/// right PIN after a lock, then a refusal that was not about the PIN, locked her 15 minutes).
fn give_back(mut t: PinTries, now: jiff::Timestamp) -> PinTries {
    t.failures = t.failures.saturating_sub(1);
    if t.failures > 0 && t.failures.is_multiple_of(MAX_FAILURES) {
        t.last = t.last.min(now - lock_length(t.failures));
    }
    t
}

/// What a PIN-guarded operation's refusal says about the PIN it was given.
pub trait PinRefusal {
    /// The PIN was tried and was wrong: the check stays counted. Any other refusal — one that
    /// needs no PIN, or one after a right PIN — gives the check back.
    fn wrong_pin(&self) -> bool;
}

/// The one PIN-guarded operation, for every route and command that checks a signing PIN
/// (the học bạ signings, approvals, the CA renewal, a PKCS#12 import's current PIN, `tram hocba
/// sign`, `tram hocba signer --by`, `tram hocba ca renew`): `precheck` first — the refusals
/// that need no PIN (not a BGH member, no CA, not a holder, no certificate) —, so they never
/// count nor are hidden behind a lock (review r17 #6); then one check is reserved ([`begin`],
/// or the lock), `op` runs, and the check is cleared on success ([`succeeded`]), kept for a
/// wrong PIN, given back for any other refusal ([`refund`]). A store error after `op` is
/// logged, never turned into a refusal of what `op` did.
pub fn guarded<T, E>(
    store: &Store,
    actor: &Actor,
    account: &str,
    precheck: impl FnOnce() -> Result<(), E>,
    op: impl FnOnce() -> Result<T, E>,
) -> Result<Result<T, E>, Locked>
where
    E: PinRefusal + From<StoreError>,
{
    if let Err(e) = precheck() {
        return Ok(Err(e));
    }
    match begin(store, actor, account) {
        Err(e) => return Ok(Err(e.into())),
        Ok(Err(l)) => return Err(l),
        Ok(Ok(())) => {}
    }
    let done = op();
    let after = match &done {
        Ok(_) => succeeded(store, actor, account),
        Err(e) if e.wrong_pin() => {
            tracing::warn!(account = %account, "wrong signing PIN");
            Ok(())
        }
        Err(_) => refund(store, actor, account),
    };
    if let Err(e) = after {
        tracing::warn!(account = %account, error = %e, "the count of signing PIN checks was not updated");
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// Review r19 #4: after a lock has run out, a reserved check given back (the PIN was not
    /// what refused) leaves her free to try at once, not locked again.
    #[test]
    fn a_check_given_back_after_a_lock_does_not_lock_again() {
        let mut t: Option<PinTries> = None;
        for i in 0..MAX_FAILURES {
            t = Some(reserve(t.as_ref(), at(i as i64)).unwrap());
        }
        let after_lock = 4 + LOCK.as_secs() + 1;
        let reserved = reserve(t.as_ref(), at(after_lock)).unwrap();
        let back = give_back(reserved, at(after_lock));
        assert_eq!(back.failures, MAX_FAILURES);
        assert!(reserve(Some(&back), at(after_lock + 1)).is_ok());
        // Below a threshold the time is kept.
        let two = PinTries {
            failures: 3,
            last: at(50),
        };
        assert_eq!(
            give_back(two, at(60)),
            PinTries {
                failures: 2,
                last: at(50)
            }
        );
    }

    #[test]
    fn five_checks_then_a_lock_that_grows() {
        let mut t: Option<PinTries> = None;
        for i in 0..MAX_FAILURES {
            t = Some(reserve(t.as_ref(), at(i as i64)).unwrap());
        }
        let l = reserve(t.as_ref(), at(10)).unwrap_err();
        assert_eq!(l.until, at(4) + LOCK);
        assert_eq!(l.minutes(at(10)), 15);
        // After the lock, five more; then twice as long.
        let mut now = 4 + LOCK.as_secs();
        for _ in 0..MAX_FAILURES {
            t = Some(reserve(t.as_ref(), at(now)).unwrap());
            now += 1;
        }
        let l = reserve(t.as_ref(), at(now)).unwrap_err();
        assert_eq!(l.until, at(now - 1) + LOCK * 2);
        // Never longer than a day.
        assert_eq!(lock_length(MAX_FAILURES * 40), MAX_LOCK);
        // A day without a check starts afresh.
        let fresh = reserve(
            t.as_ref(),
            at(now) + FORGET + jiff::SignedDuration::from_secs(1),
        );
        assert_eq!(fresh.unwrap().failures, 1);
    }

    #[test]
    fn the_count_is_stored_cleared_by_a_right_pin_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let actor = Actor::system(jiff::Timestamp::now());
        {
            let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
            for _ in 0..MAX_FAILURES {
                assert_eq!(begin(&store, &actor, "u-a").unwrap(), Ok(()));
            }
            assert!(begin(&store, &actor, "u-a").unwrap().is_err());
            assert_eq!(begin(&store, &actor, "u-b").unwrap(), Ok(()), "per account");
            succeeded(&store, &actor, "u-b").unwrap();
            assert_eq!(store.read().unwrap().get(&PIN_TRIES, "u-b").unwrap(), None);
        }
        // A restart (the store opened again) keeps the lock.
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        let l = begin(&store, &actor, "u-a").unwrap().unwrap_err();
        assert!(l.minutes(actor.now) >= 14);
        assert!(
            locked(&store.read().unwrap(), "u-a", actor.now)
                .unwrap()
                .is_some()
        );
        succeeded(&store, &actor, "u-a").unwrap();
        assert_eq!(begin(&store, &actor, "u-a").unwrap(), Ok(()));
        // A check that never tried the PIN is given back.
        refund(&store, &actor, "u-a").unwrap();
        let left = store.read().unwrap().get(&PIN_TRIES, "u-a").unwrap();
        assert_eq!(left.map(|t| t.failures), Some(0));
    }

    #[derive(Debug)]
    enum Refused {
        NotAMember,
        Wrong,
        Store,
    }

    impl PinRefusal for Refused {
        fn wrong_pin(&self) -> bool {
            matches!(self, Refused::Wrong)
        }
    }

    impl From<StoreError> for Refused {
        fn from(_: StoreError) -> Self {
            Refused::Store
        }
    }

    fn failures(store: &Store, account: &str) -> u32 {
        let t = store.read().unwrap().get(&PIN_TRIES, account).unwrap();
        t.map_or(0, |t| t.failures)
    }

    #[test]
    fn a_guarded_operation_counts_only_wrong_pins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        let actor = Actor::system(jiff::Timestamp::now());
        let ok = || Ok::<(), Refused>(());
        // A refusal that needs no PIN, before or after the check: no try spent, however often.
        for _ in 0..(MAX_FAILURES * 2) {
            let r = guarded(&store, &actor, "u-a", || Err(Refused::NotAMember), ok);
            assert!(matches!(r, Ok(Err(Refused::NotAMember))));
            let r = guarded(&store, &actor, "u-a", ok, || {
                Err::<(), _>(Refused::NotAMember)
            });
            assert!(matches!(r, Ok(Err(Refused::NotAMember))));
        }
        assert_eq!(failures(&store, "u-a"), 0);
        // A wrong PIN spends one.
        let wrong = || Err::<(), _>(Refused::Wrong);
        for i in 1..MAX_FAILURES {
            assert!(matches!(
                guarded(&store, &actor, "u-a", ok, wrong),
                Ok(Err(Refused::Wrong))
            ));
            assert_eq!(failures(&store, "u-a"), i);
        }
        // The right PIN resets the count.
        assert!(matches!(guarded(&store, &actor, "u-a", ok, ok), Ok(Ok(()))));
        assert_eq!(failures(&store, "u-a"), 0);
        // Locked after five wrong ones: the lock, but a refusal needing no PIN comes first.
        for _ in 0..MAX_FAILURES {
            let _ = guarded(&store, &actor, "u-a", ok, wrong);
        }
        assert!(guarded(&store, &actor, "u-a", ok, ok).is_err());
        assert!(matches!(
            guarded(&store, &actor, "u-a", || Err(Refused::NotAMember), ok),
            Ok(Err(Refused::NotAMember))
        ));
        // Another account is not touched.
        assert_eq!(failures(&store, "u-b"), 0);
    }

    #[test]
    fn parallel_checks_never_exceed_the_allowed_number() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            std::sync::Arc::new(Store::open(dir.path(), &crate::app::schema::schema()).unwrap());
        let ran: u32 = (0..20)
            .map(|_| {
                let s = store.clone();
                std::thread::spawn(move || {
                    let a = Actor::system(jiff::Timestamp::now());
                    u32::from(begin(&s, &a, "u-a").unwrap().is_ok())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(ran, MAX_FAILURES);
    }
}
