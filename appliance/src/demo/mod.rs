//! `--demo`: seeds a realistic lower-secondary school (grades 6–9, 12 classes of about 40
//! students with Vietnamese names, departments, teachers, subjects with the 2018-programme
//! periods, teaching assignments). Runs once: a database that already has a school is left alone.

mod bench;
mod catalogue;
mod dept;
mod people;
mod plans;
mod register;
mod signed;

use std::collections::BTreeMap;

use crate::auth::{self, NewAccount, Role};
use crate::school::{
    self, Assignment, NewClass, NewSubject, SchoolInfo, SchoolYear, Student, SubjectKind, Term,
};
use crate::store::{Actor, Store, StoreError};

pub use bench::{bench_fill, bench_lessons, bench_library, bench_relay};
use catalogue::{demo_pdf, seed_library};
use people::{Lcg, demo_profile, person};
pub use plans::DEMO_PIN;
use plans::seed_lessons;
pub use signed::{COMPLETE_CLASS, SIGNED_CLASS, spawn_signing};

/// The id of the demo's showcase class `name` (one of [`SIGNED_CLASS`], [`COMPLETE_CLASS`]):
/// last school year's class of that name, the year before the one the demo in `r` was seeded
/// in ("2025-9a1" in a 2026-2027 demo), or None without a demo school.
pub fn class_in(r: &impl crate::store::Read, name: &str) -> Result<Option<String>, StoreError> {
    Ok(DemoYear::seeded(r)?.map(|y| y.previous().class_id(name)))
}

/// Department, subject, kind, periods per year for grades 6, 7, 8, 9 (DOMAIN.md §1.2).
const SUBJECTS: &[(&str, &str, SubjectKind, [u16; 4])] = &[
    (
        "Tổ Toán – Tin",
        "Toán",
        SubjectKind::Scored,
        [140, 140, 140, 140],
    ),
    (
        "Tổ Toán – Tin",
        "Tin học",
        SubjectKind::Scored,
        [35, 35, 35, 35],
    ),
    (
        "Tổ Ngữ văn – Sử – Địa – GDCD",
        "Ngữ văn",
        SubjectKind::Scored,
        [140, 140, 140, 140],
    ),
    (
        "Tổ Ngữ văn – Sử – Địa – GDCD",
        "Lịch sử và Địa lí",
        SubjectKind::Scored,
        [105, 105, 105, 105],
    ),
    (
        "Tổ Ngữ văn – Sử – Địa – GDCD",
        "Giáo dục công dân",
        SubjectKind::Scored,
        [35, 35, 35, 35],
    ),
    (
        "Tổ Ngoại ngữ",
        "Ngoại ngữ 1",
        SubjectKind::Scored,
        [105, 105, 105, 105],
    ),
    (
        "Tổ Khoa học tự nhiên – Công nghệ",
        "Khoa học tự nhiên",
        SubjectKind::Scored,
        [140, 140, 140, 140],
    ),
    (
        "Tổ Khoa học tự nhiên – Công nghệ",
        "Công nghệ",
        SubjectKind::Scored,
        [35, 35, 52, 52],
    ),
    (
        "Tổ Nghệ thuật – Thể chất",
        "Giáo dục thể chất",
        SubjectKind::Comment,
        [70, 70, 70, 70],
    ),
    (
        "Tổ Nghệ thuật – Thể chất",
        "Nghệ thuật",
        SubjectKind::Comment,
        [70, 70, 70, 70],
    ),
    (
        "Tổ Nghệ thuật – Thể chất",
        "Hoạt động trải nghiệm, hướng nghiệp",
        SubjectKind::Comment,
        [105, 105, 105, 105],
    ),
    (
        "Tổ Nghệ thuật – Thể chất",
        "Nội dung giáo dục của địa phương",
        SubjectKind::Comment,
        [35, 35, 35, 35],
    ),
];

/// The school year the demo school lives in: the one of the day it is first seeded (a year
/// runs from 1 August to 31 July), so a demo started in October 2028 is a 2028-2029 school and
/// its lesson dates, locked terms and signing times agree with the calendar whatever the date.
/// Every date and id of the demo comes from this one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoYear {
    /// The calendar year it starts in (2026 for 2026-2027).
    pub start: i16,
}

impl DemoYear {
    /// The school year of `now`, in the school's time zone.
    pub fn of(now: jiff::Timestamp) -> DemoYear {
        let d = now.to_zoned(school::time_zone()).date();
        DemoYear {
            start: if d.month() >= 8 {
                d.year()
            } else {
                d.year() - 1
            },
        }
    }

    /// The year the demo seeded in `r`: the second school year it holds when it holds the
    /// one after its first (the demo makes last year's, with its showcase classes, and its
    /// own; a year the school moves on to comes after them), else its first (a demo made
    /// before last year's existed). None without a school.
    pub fn seeded(r: &impl crate::store::Read) -> Result<Option<DemoYear>, StoreError> {
        let years: std::collections::BTreeSet<i16> = r
            .scan(&school::YEARS, "")?
            .into_iter()
            .filter_map(|(id, _)| id.get(0..4).and_then(|y| y.parse().ok()))
            .collect();
        Ok(years.first().map(|&first| DemoYear {
            start: if years.contains(&(first + 1)) {
                first + 1
            } else {
                first
            },
        }))
    }

    /// The school year before this one: the demo's showcase year, whose 9A1 and 9A2 finished
    /// lower secondary at its end.
    pub fn previous(self) -> DemoYear {
        DemoYear {
            start: self.start - 1,
        }
    }

    /// The year's record, with its two terms ([`DemoYear::terms`]).
    pub fn school_year(self) -> SchoolYear {
        let [(a1, b1), (a2, b2)] = self.terms();
        SchoolYear {
            id: self.id(),
            terms: vec![
                Term {
                    id: "hk1".into(),
                    name: "Học kì I".into(),
                    start: a1.to_string(),
                    end: b1.to_string(),
                },
                Term {
                    id: "hk2".into(),
                    name: "Học kì II".into(),
                    start: a2.to_string(),
                    end: b2.to_string(),
                },
            ],
        }
    }

    /// `time` ("16:30") on day `day` of `month` of this year, in the school's time zone —
    /// moved to the weekday before (`dir` -1) or after (1) when it falls on a weekend.
    pub fn working_time(
        self,
        month: i8,
        day: i8,
        dir: i32,
        time: &str,
    ) -> anyhow::Result<jiff::Timestamp> {
        let d = step_to(self.date(month, day), dir, weekday);
        let t: jiff::civil::Time = time.parse()?;
        Ok(d.to_datetime(t).to_zoned(school::time_zone())?.timestamp())
    }

    /// "2026-2027".
    pub fn id(self) -> String {
        format!("{}-{}", self.start, self.start + 1)
    }

    /// The day `day` of `month` in this school year: August to December in its first calendar
    /// year, January to July in its second.
    pub fn date(self, month: i8, day: i8) -> jiff::civil::Date {
        let y = if month >= 8 {
            self.start
        } else {
            self.start + 1
        };
        jiff::civil::date(y, month, day)
    }

    /// Term I's first day (5 September, the khai giảng) and term II's last (31 May): the
    /// terms the demo's school year is made with.
    pub fn terms(self) -> [(jiff::civil::Date, jiff::civil::Date); 2] {
        [
            (self.date(9, 5), self.date(1, 16)),
            (self.date(1, 18), self.date(5, 31)),
        ]
    }

    /// A teaching day: Monday to Friday inside one of the year's terms.
    pub fn is_school_day(self, d: jiff::civil::Date) -> bool {
        weekday(d) && self.terms().iter().any(|(a, b)| *a <= d && d <= *b)
    }

    /// The first teaching day of term I and the last of term II.
    pub fn teaching_bounds(self) -> (jiff::civil::Date, jiff::civil::Date) {
        let [(first, _), (_, last)] = self.terms();
        (step_to(first, 1, weekday), step_to(last, -1, weekday))
    }

    /// The teaching day `n` teaching days after (`n` > 0) or before (`n` < 0) `from` — `from`
    /// itself when `n` is 0 and it is one, else the nearest before it — never outside the
    /// year's teaching days (clamped to the first or the last).
    pub fn school_days_from(self, from: jiff::civil::Date, n: i32) -> jiff::civil::Date {
        let (first, last) = self.teaching_bounds();
        let mut d = step_to(from.clamp(first, last), -1, |d| self.is_school_day(d)).max(first);
        let dir = n.signum();
        for _ in 0..n.unsigned_abs() {
            let next = step_to(d + jiff::Span::new().days(dir), dir, |d| {
                self.is_school_day(d) || d < first || d > last
            });
            if next < first || next > last {
                break;
            }
            d = next;
        }
        d
    }

    /// The days the demo's lesson plans are taught when it is seeded on `today`: for each
    /// writer's four plans, (the two approved ones taught in the weeks before — 15 and 10
    /// teaching days back —, the one waiting for review or approval — a coming teaching day of
    /// this month, as a plan is handed in before its lesson —, the newest draft or handed-in
    /// one the teaching day after). Inside the terms always: before term I, the first weeks
    /// of term I (prepared ahead); in the summer, the last weeks of term II. `shift` (0–2)
    /// spreads the writers over neighbouring days.
    pub fn plan_days(self, today: jiff::civil::Date, shift: i32) -> [jiff::civil::Date; 4] {
        let (first, last) = self.teaching_bounds();
        let waiting = if today < first {
            self.school_days_from(first, 10 + shift)
        } else if today >= last {
            self.school_days_from(last, -3 + shift)
        } else {
            // A coming teaching day of this month, else the last one before — leaving the
            // newest plan a day of term II after it.
            let room = self.school_days_from(last, -1);
            let ahead = self.school_days_from(today, 1 + shift).min(room);
            if ahead.first_of_month() == today.first_of_month() && ahead > today {
                ahead
            } else {
                self.school_days_from(today, 0).min(room)
            }
        };
        [
            self.school_days_from(waiting, -16 - shift),
            self.school_days_from(waiting, -11 - shift),
            waiting,
            self.school_days_from(waiting, 1),
        ]
    }

    /// The first and the last day a demo lesson plan seeded on `today` is taught
    /// ([`DemoYear::plan_days`] over every writer).
    pub fn plan_span(self, today: jiff::civil::Date) -> (jiff::civil::Date, jiff::civil::Date) {
        let all: Vec<jiff::civil::Date> = (0..3).flat_map(|s| self.plan_days(today, s)).collect();
        (
            all.iter().copied().min().unwrap_or(today),
            all.iter().copied().max().unwrap_or(today),
        )
    }

    /// The register's day of entry for the year's pupils: term I's first day, 5 September —
    /// the khai giảng, held on that date whatever the weekday —, or `today` when the demo is
    /// seeded before it (never ahead), as `school::changes::entry_default` enters a pupil
    /// added without a date.
    pub fn entry_day(self, today: jiff::civil::Date) -> jiff::civil::Date {
        self.terms()[0].0.min(today)
    }

    /// A class's id in this year ("2026-9a1" for 9A1), as `school::create_class` makes it.
    pub fn class_id(self, name: &str) -> String {
        format!("{}-{}", self.start, school::slug(name))
    }
}

/// Monday to Friday.
fn weekday(d: jiff::civil::Date) -> bool {
    !matches!(
        d.weekday(),
        jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
    )
}

/// `from`, or the nearest day from it in direction `dir` (1 later, -1 earlier) for which
/// `ok` holds (within a year).
fn step_to(
    from: jiff::civil::Date,
    dir: i32,
    ok: impl Fn(jiff::civil::Date) -> bool,
) -> jiff::civil::Date {
    let mut d = from;
    for _ in 0..366 {
        if ok(d) {
            return d;
        }
        d += jiff::Span::new().days(dir.signum());
    }
    from
}

pub struct DemoOutcome {
    pub created: bool,
    pub students: usize,
}

/// Seeds the demo school. `password_phc` is the argon2id hash every demo account gets.
pub fn seed(
    store: &Store,
    password_phc: &str,
    students_total: usize,
    now: jiff::Timestamp,
) -> anyhow::Result<DemoOutcome> {
    let out = seed_with_class_size(store, password_phc, students_total, 40, now)?;
    if out.created {
        signed::seed_signed_class(store, now)?;
    }
    Ok(out)
}

/// As [`seed`], with `per_class` students in each class (benchmarks use 45, the legal maximum),
/// and without the signed class: `tram serve --demo` signs it after it listens
/// ([`spawn_signing`]), since its ~80 signatures held the start-up for seconds.
pub fn seed_with_class_size(
    store: &Store,
    password_phc: &str,
    students_total: usize,
    per_class: usize,
    now: jiff::Timestamp,
) -> anyhow::Result<DemoOutcome> {
    if school::school_info(&store.read()?)?.is_some() {
        return Ok(DemoOutcome {
            created: false,
            students: 0,
        });
    }
    let actor = Actor::system(now);
    let demo = DemoYear::of(now);
    let year_id = demo.id();
    let year = year_id.as_str();
    let mut rng = Lcg(20_261_123);
    store.write(&actor, |tx| -> anyhow::Result<()> {
        tx.put(
            &school::INFO,
            "school",
            &SchoolInfo {
                name: "Trường THCS Nguyễn Du (demo)".into(),
                code: "79000701".into(),
                level: "THCS".into(),
                authority: "Sở GD&ĐT (demo)".into(),
                current_year: year.into(),
                // The date line's place is read from the authority, which names none here.
                locality: String::new(),
            },
            "school.provision",
        )?;
        tx.put(&school::YEARS, year, &demo.school_year(), "year.create")?;
        let admin = auth::create_account_tx(
            tx,
            NewAccount {
                username: "admin".into(),
                full_name: "Quản trị Trạm".into(),
                roles: vec![Role::Admin],
                department: None,
                password_phc: password_phc.into(),
                must_change_password: false,
            },
        )?;
        let _ = admin;
        let mut dept_ids = BTreeMap::new();
        for (dept, _, _, _) in SUBJECTS {
            if !dept_ids.contains_key(dept) {
                let d = school::upsert_department(tx, dept)?;
                dept_ids.insert(*dept, d.id);
            }
        }
        let mut subject_ids = Vec::new();
        for (dept, name, kind, periods) in SUBJECTS {
            let s = school::upsert_subject(
                tx,
                NewSubject {
                    name: (*name).into(),
                    kind: *kind,
                    periods_per_year: (6u8..=9).zip(periods.iter().copied()).collect(),
                    department: Some(dept_ids[dept].clone()),
                },
            )?;
            subject_ids.push((dept_ids[dept].clone(), s.id));
        }
        // BGH
        let mk = |tx: &mut crate::store::Tx<'_>,
                  username: &str,
                  name: String,
                  roles: Vec<Role>,
                  dept: Option<String>| {
            auth::create_account_tx(
                tx,
                NewAccount {
                    username: username.into(),
                    full_name: name,
                    roles,
                    department: dept,
                    password_phc: password_phc.into(),
                    must_change_password: false,
                },
            )
        };
        mk(
            tx,
            "hieutruong",
            "Trần Văn Hùng".into(),
            vec![Role::Principal],
            None,
        )?;
        mk(
            tx,
            "phohieutruong",
            "Lê Thị Thu Hà".into(),
            vec![Role::VicePrincipal, Role::Teacher],
            Some(dept_ids["Tổ Toán – Tin"].clone()),
        )?;
        // Teachers: per department, enough to cover 12 classes.
        let mut teachers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut n = 0;
        for (dept, id) in &dept_ids {
            let count = match *dept {
                "Tổ Toán – Tin" | "Tổ Ngữ văn – Sử – Địa – GDCD" => 7,
                "Tổ Khoa học tự nhiên – Công nghệ" => 6,
                _ => 5,
            };
            for i in 0..count {
                n += 1;
                let female = !rng.next().is_multiple_of(3);
                let username = format!("gv{n:02}");
                let roles = if i == 0 {
                    vec![Role::DeptHead, Role::Teacher]
                } else {
                    vec![Role::Teacher]
                };
                let a = mk(
                    tx,
                    &username,
                    person(&mut rng, female),
                    roles,
                    Some(id.clone()),
                )?;
                teachers.entry(id.clone()).or_default().push(a.id);
            }
        }
        // Classes: grades 6–9, three classes each (more when a bigger school is asked for).
        let per_class = per_class.max(1);
        let class_count = students_total.div_ceil(per_class).max(12);
        let per_grade = class_count.div_ceil(4);
        let mut classes = Vec::new();
        let all_teachers: Vec<String> = teachers.values().flatten().cloned().collect();
        for g in 6u8..=9 {
            for k in 1..=per_grade {
                let homeroom = all_teachers[classes.len() % all_teachers.len()].clone();
                let c = school::create_class(
                    tx,
                    year,
                    NewClass {
                        name: format!("{g}A{k}"),
                        grade: g,
                        homeroom: Some(homeroom),
                    },
                )?;
                classes.push(c);
            }
        }
        for (ci, c) in classes.iter().enumerate() {
            for (si, (dept, subject)) in subject_ids.iter().enumerate() {
                let pool = &teachers[dept];
                let teacher = pool[(ci + si) % pool.len()].clone();
                school::assign(
                    tx,
                    Assignment {
                        class: c.id.clone(),
                        subject: subject.clone(),
                        teacher,
                    },
                )?;
            }
        }
        let mut made = 0usize;
        // The học bạ's identity details come from a generator of their own, so the names and
        // dates drawn from `rng` stay what they were before these details existed.
        let mut family = Lcg(20_270_531);
        'outer: for c in &classes {
            for _ in 0..per_class {
                if made >= students_total {
                    break 'outer;
                }
                made += 1;
                let female = rng.next().is_multiple_of(2);
                // Lớp 6 of the year starting in Y is born in Y − 11, lớp 9 in Y − 14; one
                // pupil in twelve a year older (a late start or a repeated year), as in life.
                let birth_year = demo.start - c.grade as i16 - 5;
                let dob = jiff::civil::Date::new(
                    birth_year - i16::from(rng.next().is_multiple_of(12)),
                    (rng.next() % 12 + 1) as i8,
                    (rng.next() % 28 + 1) as i8,
                )?;
                let ma = format!(
                    "079{:01}{:02}{:06}",
                    if female { 3 } else { 2 },
                    dob.year() % 100,
                    made
                );
                let st = school::add_student(
                    tx,
                    Student {
                        id: String::new(),
                        full_name: person(&mut rng, female),
                        dob: dob.to_string(),
                        gender: if female { "Nữ" } else { "Nam" }.into(),
                        ma_dinh_danh: ma,
                        class_id: c.id.clone(),
                        arrived: None,
                        left: None,
                    },
                )?;
                school::save_profile(tx, &st.id, demo_profile(&mut family, &st.full_name).into())?;
            }
        }
        Ok(())
    })?;
    seed_library(store, now)?;
    seed_lessons(store, now)?;
    dept::seed_dept(store, now)?;
    register::seed_register(store, now)?;
    signed::seed_last_year(store, now, per_class)?;
    register::number_by_entry(store, now)?;
    Ok(DemoOutcome {
        created: true,
        students: students_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_school_is_realistic_and_seeded_once() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        assert!(seed(&s, "x", 480, now).unwrap().created);
        assert!(!seed(&s, "x", 480, now).unwrap().created);
        let rx = s.read().unwrap();
        let all: Vec<school::Class> = school::list(&rx, &school::CLASSES).unwrap();
        let this_year = DemoYear::of(now).id();
        let (classes, last): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| c.year == this_year);
        assert_eq!(classes.len(), 12);
        // Last year's 9A1 and 9A2, the showcase (signed.rs): 40 graduates each.
        let last_year = DemoYear::of(now).previous().id();
        assert_eq!(
            last.iter()
                .map(|c| (c.year.as_str(), c.name.as_str()))
                .collect::<Vec<_>>(),
            [(last_year.as_str(), "9A1"), (last_year.as_str(), "9A2")]
        );
        for c in &last {
            assert_eq!(school::students_of_class(&rx, &c.id).unwrap().len(), 40);
        }
        // 480 and the one who transferred in (the last class lost two, register.rs), and the
        // 80 graduates of last year.
        assert_eq!(rx.count(&school::STUDENTS).unwrap(), 481 + 80);
        for c in &classes {
            assert!((6..=9).contains(&c.grade));
            assert!(c.homeroom.is_some());
            let on_roll = if c.name == "9A3" { 39 } else { 40 };
            assert_eq!(
                school::students_of_class(&rx, &c.id).unwrap().len(),
                on_roll
            );
        }
        // Each pupil's line is in the book of the year she entered lớp 6 (review r24 #1): this
        // year's lớp 6 this year, lớp 9 three years ago; the four books hold this year's 481.
        let y = DemoYear::of(now);
        let book = |back: i16| {
            school::register::rows(
                &rx,
                &DemoYear {
                    start: y.start - back,
                }
                .id(),
            )
            .unwrap()
        };
        let register: Vec<_> = (0..4).flat_map(book).collect();
        assert_eq!(register.len(), 481);
        for back in 1..4 {
            let on = DemoYear {
                start: y.start - back,
            }
            .date(9, 5)
            .strftime("%d/%m/%Y")
            .to_string();
            let lines = book(back);
            assert_eq!(lines.len(), 120, "{back}");
            assert!(
                lines
                    .iter()
                    .all(|l| l.entered_class.starts_with("6A") && l.entered_on == on),
                "{back}: {:?}",
                lines.first()
            );
        }
        assert!(register.iter().any(|r| r.left.starts_with("Chuyển trường")));
        assert!(register.iter().any(|r| r.left.starts_with("Thôi học")));
        assert!(register.iter().any(|r| !r.arrived_from.is_empty()));
        let staff = auth::list_accounts(&rx).unwrap();
        assert!(staff.len() >= 30);
        assert!(staff.iter().any(|a| a.has(Role::DeptHead)));
        // every class has every subject assigned
        let assignments = school::list(&rx, &school::ASSIGNMENTS).unwrap();
        assert_eq!(assignments.len(), 14 * SUBJECTS.len());
        drop(rx);
        assert!(s.verify_audit().unwrap().is_intact());
    }

    /// The demo lives in the school year of the day it is seeded: a demo made in October 2028
    /// is a 2028-2029 school whose lesson plans pass the current-or-next-year check and whose
    /// showcase, last year's 9A1, is signed.
    #[test]
    fn the_demo_is_seeded_in_the_school_year_of_its_day() {
        let at = |iso: &str| {
            iso.parse::<jiff::civil::DateTime>()
                .unwrap()
                .to_zoned(school::time_zone())
                .unwrap()
                .timestamp()
        };
        assert_eq!(DemoYear::of(at("2028-10-15T09:00")).id(), "2028-2029");
        assert_eq!(DemoYear::of(at("2029-07-31T23:00")).id(), "2028-2029");
        assert_eq!(DemoYear::of(at("2029-08-01T00:30")).id(), "2029-2030");
        let y = DemoYear { start: 2028 };
        assert_eq!(y.date(9, 5).to_string(), "2028-09-05");
        assert_eq!(y.date(5, 31).to_string(), "2029-05-31");
        assert_eq!(y.class_id(SIGNED_CLASS), "2028-9a1");
        assert_eq!(y.previous().id(), "2027-2028");

        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = at("2028-10-15T09:00");
        assert!(seed(&s, "x", 480, now).unwrap().created);
        let rx = s.read().unwrap();
        let info = school::school_info(&rx).unwrap().unwrap();
        assert_eq!(info.current_year, "2028-2029");
        assert_eq!(DemoYear::seeded(&rx).unwrap(), Some(y));
        let signed = class_in(&rx, SIGNED_CLASS).unwrap().unwrap();
        assert_eq!(signed, "2027-9a1");
        assert_eq!(class_in(&rx, COMPLETE_CLASS).unwrap().unwrap(), "2027-9a2");
        assert!(
            rx.scan(&crate::gradebook::hocba::SIGNED, &format!("{signed}/"))
                .unwrap()
                .iter()
                .any(|(_, r)| r.stage == crate::gradebook::hocba::Stage::Principal),
            "9A1 signed"
        );
        let plans = rx.count(&crate::lessons::PLANS).unwrap();
        assert!(plans > 0);
        drop(rx);
        assert!(s.verify_audit().unwrap().is_intact());
    }

    /// Review r20 #6: whatever day the demo is seeded, its lesson plans are taught on teaching
    /// days of the terms (never in August, a weekend or the summer), the approved ones before
    /// the waiting ones, and the waiting ones in the month the dashboard opens on in term.
    #[test]
    fn the_demo_plans_fall_on_teaching_days_whatever_the_seeding_day() {
        for start in [2026i16, 2027, 2028] {
            let y = DemoYear { start };
            let (first, last) = y.teaching_bounds();
            assert_eq!(
                first.weekday().to_monday_one_offset(),
                {
                    // The first weekday from 5 September.
                    let d = y.date(9, 5);
                    if weekday(d) {
                        d
                    } else {
                        step_to(d, 1, weekday)
                    }
                }
                .weekday()
                .to_monday_one_offset()
            );
            let mut today = y.date(8, 1);
            while today <= y.date(7, 31) {
                for shift in 0..3 {
                    let days = y.plan_days(today, shift);
                    for d in days {
                        assert!(y.is_school_day(d), "{today}: {d} is no teaching day");
                        assert!(first <= d && d <= last, "{today}: {d}");
                    }
                    assert!(days.windows(2).all(|w| w[0] <= w[1]), "{today}: {days:?}");
                    assert!(days[2] < days[3], "{today}: {days:?}");
                    if today >= first && today < last {
                        // The approved ones are not ahead of the seeding day.
                        assert!(days[1] <= today, "{today}: {days:?}");
                        assert_eq!(
                            days[2].first_of_month(),
                            today.first_of_month(),
                            "{today}: the waiting plans in this month"
                        );
                    }
                    if today < first {
                        assert!(days[0] >= first, "{today}: {days:?}");
                    }
                    if today > last {
                        assert!(days[3] <= last, "{today}: {days:?}");
                    }
                }
                today = today.tomorrow().unwrap();
            }
        }
    }

    /// Review r20 #6: a demo seeded on 20/09/2027 (term I begun a fortnight ago) has lesson
    /// plans only from term I, pupils of the grade's age, a meeting on a weekday and no pupil
    /// leaving a fortnight after entering; one seeded on 10/03/2028 has its leavers weeks after
    /// the entry, before the seeding day, on weekdays.
    #[test]
    fn the_demo_seeded_on_other_days_has_believable_dates_and_ages() {
        let at = |iso: &str| {
            iso.parse::<jiff::civil::DateTime>()
                .unwrap()
                .to_zoned(school::time_zone())
                .unwrap()
                .timestamp()
        };
        for (day, story) in [
            ("2027-09-20T10:00", false),
            ("2028-03-10T10:00", true),
            // Seeded before dawn: every step still at a school hour.
            ("2028-03-13T04:30", true),
        ] {
            let d = tempfile::tempdir().unwrap();
            let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
            let now = at(day);
            let today = now.to_zoned(school::time_zone()).date();
            let y = DemoYear::of(now);
            seed_with_class_size(&s, "x", 480, 40, now).unwrap();
            let rx = s.read().unwrap();
            for (_, p) in rx.scan(&crate::lessons::PLANS, "").unwrap() {
                // Written, handed in and approved before the lesson (review r24 #4), never
                // after the seeding.
                let p: crate::lessons::Plan = p;
                let lesson = p
                    .teach_on
                    .to_zoned(school::time_zone())
                    .unwrap()
                    .timestamp();
                for t in [
                    Some(&p.created_at),
                    Some(&p.updated_at),
                    p.submitted_at.as_ref(),
                    p.approved_at.as_ref(),
                ]
                .into_iter()
                .flatten()
                {
                    let t: jiff::Timestamp = t.parse().unwrap();
                    assert!(
                        t < lesson && t < now,
                        "{day}: {} {t} / {}",
                        p.title,
                        p.teach_on
                    );
                    // At a school hour (review r25 #6).
                    let hour = t.to_zoned(school::time_zone()).hour();
                    assert!((7..=16).contains(&hour), "{day}: {} at {t}", p.title);
                }
                let v = rx
                    .get(
                        &crate::lessons::VERSIONS,
                        &crate::lessons::version_key(&p.id, 1),
                    )
                    .unwrap()
                    .unwrap();
                assert!(y.is_school_day(v.teach_on), "{day}: {}", v.teach_on);
            }
            let classes: BTreeMap<String, (u8, i16)> = school::list(&rx, &school::CLASSES)
                .unwrap()
                .into_iter()
                .map(|c: school::Class| (c.id, (c.grade, c.year[..4].parse().unwrap())))
                .collect();
            let students: Vec<Student> = school::list(&rx, &school::STUDENTS).unwrap();
            let mut older = 0;
            for st in &students {
                let born: i16 = st.dob[..4].parse().unwrap();
                let (grade, start) = classes[&st.class_id];
                let grade = i16::from(grade);
                // Lớp 6 of 2027-2028 born 2016, lớp 9 born 2013 (of 2026-2027, the graduates
                // of last year's 9A1, 2012); a few a year older.
                let age = start - born;
                assert!(
                    age == grade + 5 || age == grade + 6,
                    "{}: {}",
                    st.full_name,
                    st.dob
                );
                older += usize::from(age == grade + 6);
            }
            assert!(
                older > 0 && older < students.len() / 5,
                "{older} a year older"
            );
            // Every book this year's pupils entered in (lớp 9 three years ago, r24 #1).
            let lines: Vec<_> = (0..4)
                .flat_map(|back| {
                    school::register::rows(
                        &rx,
                        &DemoYear {
                            start: y.start - back,
                        }
                        .id(),
                    )
                    .unwrap()
                })
                .collect();
            let entered = y.date(9, 5);
            let parse_vi = |t: &str| -> Option<jiff::civil::Date> {
                let t: String = t
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '/')
                    .collect();
                jiff::civil::Date::strptime("%d/%m/%Y", t.trim_matches('/')).ok()
            };
            let leavers: Vec<_> = lines.iter().filter(|l| !l.left.is_empty()).collect();
            assert_eq!(!leavers.is_empty(), story, "{day}: {leavers:?}");
            for l in leavers {
                let on = l
                    .left
                    .split_whitespace()
                    .find_map(parse_vi)
                    .unwrap_or_else(|| panic!("{}", l.left));
                assert!(
                    on >= entered + jiff::Span::new().days(21) && on < today,
                    "{}",
                    l.left
                );
                assert!(weekday(on), "{}", l.left);
            }
            let minutes: Vec<crate::dept::Minutes> = rx
                .scan(&crate::dept::MINUTES, "")
                .unwrap()
                .into_iter()
                .map(|(_, m)| m)
                .collect();
            for m in minutes {
                let d: jiff::civil::Date = m.date.parse().unwrap();
                assert!(weekday(d) && d < today, "{day}: meeting {d}");
            }
        }
    }

    /// Review r21 #2: whatever day the demo is seeded, nothing is dated after it and nothing of
    /// the current year is finished: its marks and conduct are last year's showcase classes'
    /// only, entered inside their terms; no term is locked before it ended; every signed học bạ
    /// is last year's 9A1's; the register's results and graduations are only of ended years
    /// (last year's 9A1 "Hoàn thành chương trình trung học cơ sở", entered in lớp 6 four years
    /// before), and the current year's 9A1 and 9A2 are ordinary classes.
    #[test]
    fn the_demo_shows_nothing_from_the_future_whatever_the_seeding_day() {
        use crate::gradebook::{self, LOCKS, RECORDS, RESULTS, ROWS, hocba};
        let at = |iso: &str| {
            iso.parse::<jiff::civil::DateTime>()
                .unwrap()
                .to_zoned(school::time_zone())
                .unwrap()
                .timestamp()
        };
        for day in ["2026-12-07T10:00", "2027-08-15T10:00", "2028-03-10T10:00"] {
            let d = tempfile::tempdir().unwrap();
            let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
            let now = at(day);
            let y = DemoYear::of(now);
            let last = y.previous();
            seed(&s, "x", 480, now).unwrap();
            let rx = s.read().unwrap();
            let class_year: BTreeMap<String, String> = school::list(&rx, &school::CLASSES)
                .unwrap()
                .into_iter()
                .map(|c: school::Class| (c.id, c.year))
                .collect();
            let showcase = [last.class_id(SIGNED_CLASS), last.class_id(COMPLETE_CLASS)];
            let term_of = |code: &str| {
                let [hk1, hk2] = last.terms();
                if code == "hk1" { hk1 } else { hk2 }
            };
            let date_of = |t: jiff::Timestamp| t.to_zoned(school::time_zone()).date();
            let mut cells = 0;
            for (k, row) in rx.scan(&ROWS, "").unwrap() {
                let class = k.split('/').next().unwrap();
                assert!(showcase.iter().any(|c| c == class), "{day}: a mark in {k}");
                let term = k.split('/').find(|p| p.starts_with("hk")).unwrap();
                let (a, b) = term_of(term);
                for c in row.cells.values() {
                    cells += 1;
                    assert!(c.at <= now, "{day}: {k} at {}", c.at);
                    assert!((a..=b).contains(&date_of(c.at)), "{day}: {k} at {}", c.at);
                }
            }
            assert!(cells > 0, "{day}: no marks");
            for (k, _) in rx.scan(&RECORDS, "").unwrap() {
                let class = k.split('/').next().unwrap();
                assert!(
                    showcase.iter().any(|c| c == class),
                    "{day}: a record in {k}"
                );
            }
            let mut locks = 0;
            for (k, l) in rx.scan(&LOCKS, "").unwrap() {
                locks += 1;
                let mut parts = k.split('/');
                let (year, term) = (parts.next().unwrap(), parts.next().unwrap());
                assert_eq!(year, last.id(), "{day}: {k} locked");
                assert!(l.at <= now, "{day}: {k}");
                assert!(
                    date_of(l.at) >= term_of(term).1,
                    "{day}: {k} before its end"
                );
                assert_eq!(parts.next(), Some(showcase[0].as_str()), "{day}: {k}");
            }
            assert_eq!(locks, 2, "{day}");
            let signed = rx.scan(&hocba::SIGNED, "").unwrap();
            assert_eq!(signed.len(), 80, "{day}: 40 học bạ, GVCN then principal");
            for (_, r) in &signed {
                assert_eq!(r.class, showcase[0], "{day}");
                assert!(r.lock_at <= r.at && r.at <= now, "{day}");
            }
            for (k, _) in rx.scan(&RESULTS, "").unwrap() {
                assert!(
                    k.starts_with(&format!("{}/", last.id())),
                    "{day}: result {k}"
                );
            }
            // This year's 9A1 and 9A2: students like any class, nothing entered.
            for name in [SIGNED_CLASS, COMPLETE_CLASS] {
                let id = y.class_id(name);
                assert_eq!(class_year[&id], y.id());
                assert_eq!(school::students_of_class(&rx, &id).unwrap().len(), 40);
            }
            // The register: last year's graduates entered lớp 6 four years before, completed
            // lower secondary last year and were recognised in June; this year's lines carry
            // no result.
            let entry = DemoYear {
                start: last.start - 3,
            };
            let lines = gradebook::register::rows(&rx, &entry.id()).unwrap();
            assert_eq!(lines.len(), 80, "{day}");
            for l in &lines {
                assert_eq!(
                    l.entered_on,
                    entry.date(9, 5).strftime("%d/%m/%Y").to_string()
                );
                assert!(
                    l.entered_class == "6A1" || l.entered_class == "6A2",
                    "{l:?}"
                );
            }
            let graduates: Vec<_> = lines
                .iter()
                .filter(|l| {
                    l.results.iter().any(|r| {
                        r.grade == 9
                            && r.year == last.id()
                            && r.result == "Hoàn thành chương trình trung học cơ sở"
                    })
                })
                .collect();
            assert_eq!(graduates.len(), 40, "{day}: 9A1's");
            assert!(graduates.iter().all(|l| l.graduation.contains(&format!(
                "năm học {} (Quyết định số 45/QĐ-PGDĐT, ngày {})",
                last.id(),
                last.date(6, 19).strftime("%d/%m/%Y")
            ))));
            for l in gradebook::register::rows(&rx, &y.id()).unwrap() {
                assert!(
                    l.results.is_empty() && l.graduation.is_empty(),
                    "{day}: {l:?}"
                );
            }
            let info = school::school_info(&rx).unwrap().unwrap();
            assert_eq!(info.current_year, y.id());
            drop(rx);
            assert!(s.verify_audit().unwrap().is_intact());
        }
    }

    /// Issue 24 item 9: the library of a THCS school holds grade 6–9 works tagged with the
    /// school's own subjects (no "Tiếng Việt 6", no grade-12 poem tagged grade 9), of every kind
    /// the catalogue has, each in a collection.
    #[test]
    fn the_demo_library_is_a_lower_secondary_library() {
        use crate::library::{ITEMS, ItemKind, Visibility};
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), &crate::app::schema::schema()).unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        seed(&s, "x", 40, now).unwrap();
        let rx = s.read().unwrap();
        let items: Vec<_> = rx
            .scan(&ITEMS, "")
            .unwrap()
            .into_iter()
            .map(|(_, i)| i)
            .collect();
        let subjects: Vec<String> = SUBJECTS
            .iter()
            .map(|(_, n, _, _)| school::slug(n))
            .collect();
        for i in &items {
            let grade = i.grade.unwrap_or_default();
            assert!((6..=9).contains(&grade), "{}: grade {grade}", i.title);
            assert!(
                i.title.contains(&grade.to_string()),
                "{}: grade {grade}",
                i.title
            );
            let subject = i.subject.clone().unwrap_or_default();
            assert!(subjects.contains(&subject), "{}: {subject}", i.title);
            assert!(!i.title.contains("Tiếng Việt"), "{}", i.title);
            assert_eq!(i.collections.len(), 1, "{}", i.title);
        }
        for kind in [
            ItemKind::Book,
            ItemKind::Ebook,
            ItemKind::Video,
            ItemKind::RecordedLesson,
            ItemKind::QuestionBank,
        ] {
            assert!(items.iter().any(|i| i.kind == kind), "no {kind:?}");
        }
        assert!(items.iter().any(|i| i.title.starts_with("Sách giáo viên")));
        let count = |v: Visibility| items.iter().filter(|i| i.visibility == v).count();
        assert_eq!(count(Visibility::District), 1);
        assert!(count(Visibility::Teachers) >= 3);
        // The question banks hold answers: teachers only.
        assert!(
            items
                .iter()
                .filter(|i| i.kind == ItemKind::QuestionBank)
                .all(|i| i.visibility == Visibility::Teachers)
        );
        let lent = items.iter().find(|i| i.id == "li-demo01").unwrap();
        assert_eq!((lent.kind, lent.copies), (ItemKind::Book, 5));
    }
}
