//! Which backups to keep: the newest of each of the last `daily` days, `weekly` ISO weeks and
//! `monthly` months that have a backup (in the school's time zone), plus the newest
//! `pre_update` backups made before updates. The newest backup is always kept.

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

/// The ids to keep among `(id, created, kind)`.
pub fn keep(
    backups: &[(String, Timestamp, Kind)],
    r: &Retention,
    tz: &TimeZone,
) -> BTreeSet<String> {
    let mut sorted: Vec<&(String, Timestamp, Kind)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut kept = BTreeSet::new();
    if let Some(newest) = sorted.first() {
        kept.insert(newest.0.clone());
    }
    let regular: Vec<_> = sorted.iter().filter(|b| b.2 != Kind::PreUpdate).collect();
    let buckets: [(usize, Bucket); 3] = [
        (r.daily, |d| (d.year(), d.day_of_year())),
        (r.weekly, |d| {
            let w = d.iso_week_date();
            (w.year(), w.week() as i16)
        }),
        (r.monthly, |d| (d.year(), d.month() as i16)),
    ];
    for (limit, bucket) in buckets {
        let mut seen = BTreeSet::new();
        for b in &regular {
            if seen.len() >= limit {
                break;
            }
            let date = b.1.to_zoned(tz.clone()).date();
            if seen.insert(bucket(&date)) {
                kept.insert(b.0.clone());
            }
        }
    }
    for b in sorted
        .iter()
        .filter(|b| b.2 == Kind::PreUpdate)
        .take(r.pre_update)
    {
        kept.insert(b.0.clone());
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> TimeZone {
        crate::school::time_zone()
    }

    fn nightly_for(days: i64) -> Vec<(String, Timestamp, Kind)> {
        // One backup a night at 01:30 local (18:30 UTC the day before), newest last.
        let start: Timestamp = "2025-01-01T18:30:00Z".parse().unwrap();
        (0..days)
            .map(|i| {
                let t = start + jiff::SignedDuration::from_hours(24 * i);
                (format!("b{i:04}"), t, Kind::Nightly)
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
            all.push((
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
    fn policy_parses_and_refuses_nonsense() {
        assert_eq!("7,4,12".parse::<Retention>().unwrap(), Retention::default());
        assert!("7,4".parse::<Retention>().is_err());
        assert!("0,0,0".parse::<Retention>().is_err());
        assert!("a,1,1".parse::<Retention>().is_err());
    }
}
