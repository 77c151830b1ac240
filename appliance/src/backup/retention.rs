//! Which backups to keep: the newest of each of the last `daily` days, `weekly` ISO weeks and
//! `monthly` months that have a backup (in the school's time zone) — nightly and manual backups
//! each by their own calendar —, plus the newest `pre_update` backups made before updates. The
//! newest backup is always kept.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
    pub pre_update: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            daily: 7,
            weekly: 4,
            monthly: 12,
            pre_update: 3,
        }
    }
}

impl std::str::FromStr for Retention {
    type Err = String;
    /// "7,4,12" (daily, weekly, monthly).
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let n = |p: &str| {
            p.parse::<usize>().map_err(|_| {
                format!("{p:?} is not a count (expected DAILY,WEEKLY,MONTHLY like 7,4,12)")
            })
        };
        match parts.as_slice() {
            [d, w, m] => {
                let r = Retention {
                    daily: n(d)?,
                    weekly: n(w)?,
                    monthly: n(m)?,
                    ..Retention::default()
                };
                if r.daily + r.weekly + r.monthly == 0 {
                    return Err("keeping no backups at all is not allowed".into());
                }
                Ok(r)
            }
            _ => Err(format!("{s:?}: expected DAILY,WEEKLY,MONTHLY like 7,4,12")),
        }
    }
}

/// A calendar bucket a backup falls in (a day, an ISO week, a month).
type Bucket = fn(&jiff::civil::Date) -> (i16, i16);

/// A backup as retention sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub created: Timestamp,
    pub kind: Kind,
    /// Restored into a scratch folder and checked after it was written.
    pub verified: bool,
    /// The Trạm version that made it (a pre-update backup: the version being updated from).
    pub version: String,
}

/// The ids to keep. The newest backup is always kept; in each calendar bucket kept, the newest
/// backup and — while that one is not verified — every earlier one down to the newest verified
/// one, so a second backup on the same day never pushes out an earlier one unless it was itself
/// proved to restore. Nightly and manual backups fill their buckets apart: a "Sao lưu ngay" at
/// 10:00 is the newest of its day too, and sharing the day's bucket made it push out that
/// night's verified backup. Pre-update
/// backups are counted apart: the newest `pre_update`, and the newest of each of the last two
/// distinct versions updated from, so failed attempts at one update cannot push out the backup
/// taken before the last good one.
pub fn keep(backups: &[Candidate], r: &Retention, tz: &TimeZone) -> BTreeSet<String> {
    let mut sorted: Vec<&Candidate> = backups.iter().collect();
    sorted.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    let mut kept = BTreeSet::new();
    if let Some(newest) = sorted.first() {
        kept.insert(newest.id.clone());
    }
    let buckets: [(usize, Bucket); 3] = [
        (r.daily, |d| (d.year(), d.day_of_year())),
        (r.weekly, |d| {
            let w = d.iso_week_date();
            (w.year(), w.week() as i16)
        }),
        (r.monthly, |d| (d.year(), d.month() as i16)),
    ];
    for (kind, (limit, bucket)) in [Kind::Nightly, Kind::Manual]
        .into_iter()
        .flat_map(|k| buckets.map(|b| (k, b)))
    {
        // bucket → whether a verified backup is kept in it yet
        let mut seen: std::collections::BTreeMap<(i16, i16), bool> = Default::default();
        for b in sorted.iter().filter(|b| b.kind == kind) {
            let key = bucket(&b.created.to_zoned(tz.clone()).date());
            match seen.get(&key).copied() {
                None => {
                    if seen.len() >= limit {
                        // Older buckets than the ones kept: this policy is done.
                        if seen.keys().all(|k| *k > key) {
                            break;
                        }
                        continue;
                    }
                    seen.insert(key, b.verified);
                    kept.insert(b.id.clone());
                }
                // Until a verified backup is kept in the bucket, every earlier one stays: a
                // backup is superseded only by a *verified* later one (`--no-verify` twice in
                // a day deleted the first before).
                Some(false) => {
                    seen.insert(key, b.verified);
                    kept.insert(b.id.clone());
                }
                Some(true) => {}
            }
        }
    }
    let pre: Vec<&&Candidate> = sorted
        .iter()
        .filter(|b| b.kind == Kind::PreUpdate)
        .collect();
    for b in pre.iter().take(r.pre_update) {
        kept.insert(b.id.clone());
    }
    let mut versions: Vec<&str> = Vec::new();
    for b in &pre {
        if !versions.contains(&b.version.as_str()) {
            if versions.len() >= 2 {
                break;
            }
            versions.push(&b.version);
            kept.insert(b.id.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> TimeZone {
        crate::school::time_zone()
    }

    fn c(id: String, created: Timestamp, kind: Kind) -> Candidate {
        Candidate {
            id,
            created,
            kind,
            verified: true,
            version: "1.0.0".into(),
        }
    }

    fn nightly_for(days: i64) -> Vec<Candidate> {
        // One backup a night at 01:30 local (18:30 UTC the day before), newest last.
        let start: Timestamp = "2025-01-01T18:30:00Z".parse().unwrap();
        (0..days)
            .map(|i| {
                let t = start + jiff::SignedDuration::from_hours(24 * i);
                c(format!("b{i:04}"), t, Kind::Nightly)
            })
            .collect()
    }

    #[test]
    fn a_year_and_a_half_of_nightlies_keeps_7_4_12() {
        let all = nightly_for(540);
        let kept = keep(&all, &Retention::default(), &tz());
        // 7 dailies; weeklies and monthlies overlap with them at the newest end.
        assert!(kept.len() <= 7 + 4 + 12);
        assert!(kept.len() >= 12 + 7 - 1, "{kept:?}");
        for i in 533..540 {
            assert!(kept.contains(&format!("b{i:04}")), "daily {i} kept");
        }
        // The oldest kept one is about a year old, never older.
        let oldest = kept.iter().next().unwrap();
        let idx: i64 = oldest[1..].parse().unwrap();
        assert!(
            (539 - idx) <= 366 && (539 - idx) >= 300,
            "oldest kept {oldest}"
        );
    }

    #[test]
    fn newest_is_kept_and_pre_update_backups_are_counted_apart() {
        let mut all = nightly_for(3);
        let t: Timestamp = "2025-02-01T03:00:00Z".parse().unwrap();
        for i in 0..5 {
            all.push(c(
                format!("u{i}"),
                t + jiff::SignedDuration::from_hours(i),
                Kind::PreUpdate,
            ));
        }
        let r = Retention {
            daily: 1,
            weekly: 0,
            monthly: 0,
            pre_update: 2,
        };
        let kept = keep(&all, &r, &tz());
        let want: BTreeSet<String> = ["b0002", "u3", "u4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(kept, want);
    }

    #[test]
    fn a_second_backup_the_same_day_keeps_the_verified_first_until_it_is_verified() {
        let t: Timestamp = "2025-03-01T18:30:00Z".parse().unwrap();
        let mut first = c("a".into(), t, Kind::Manual);
        let mut second = c(
            "b".into(),
            t + jiff::SignedDuration::from_hours(3),
            Kind::Manual,
        );
        second.verified = false;
        let r = Retention {
            daily: 1,
            weekly: 0,
            monthly: 0,
            pre_update: 0,
        };
        let kept = keep(&[first.clone(), second.clone()], &r, &tz());
        assert!(kept.contains("a") && kept.contains("b"), "{kept:?}");
        // Neither verified: the later one does not supersede the earlier one.
        first.verified = false;
        assert_eq!(keep(&[first.clone(), second.clone()], &r, &tz()).len(), 2);
        first.verified = true;
        // Once the later one is verified, it supersedes the earlier one.
        second.verified = true;
        assert_eq!(keep(&[first.clone(), second.clone()], &r, &tz()).len(), 1);
        // An unverified earlier one never stays for its own sake.
        first.verified = false;
        assert_eq!(
            keep(&[first, second], &r, &tz())
                .into_iter()
                .collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn failed_update_attempts_keep_the_backup_before_the_last_good_update() {
        let t: Timestamp = "2025-03-01T03:00:00Z".parse().unwrap();
        let at = |h| t + jiff::SignedDuration::from_hours(h);
        // 1.0.0 → 1.1.0 went well (backup by 1.0.0); then three failed attempts from 1.1.0.
        let mut all = vec![Candidate {
            version: "1.0.0".into(),
            ..c("p0".into(), at(0), Kind::PreUpdate)
        }];
        for i in 1..=3 {
            all.push(Candidate {
                version: "1.1.0".into(),
                ..c(format!("p{i}"), at(i), Kind::PreUpdate)
            });
        }
        let kept = keep(&all, &Retention::default(), &tz());
        assert!(kept.contains("p0"), "{kept:?}");
        assert!(kept.contains("p3"), "{kept:?}");
    }

    #[test]
    fn policy_parses_and_refuses_nonsense() {
        assert_eq!("7,4,12".parse::<Retention>().unwrap(), Retention::default());
        assert!("7,4".parse::<Retention>().is_err());
        assert!("0,0,0".parse::<Retention>().is_err());
        assert!("a,1,1".parse::<Retention>().is_err());
    }
}
