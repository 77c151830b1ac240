//! `--demo`: seeds a realistic lower-secondary school (grades 6–9, 12 classes of about 40
//! students with Vietnamese names, departments, teachers, subjects with the 2018-programme
//! periods, teaching assignments). Runs once: a database that already has a school is left alone.

use std::collections::BTreeMap;

use crate::auth::{self, NewAccount, Role};
use crate::school::{
    self, Assignment, NewClass, NewSubject, SchoolInfo, SchoolYear, Student, SubjectKind, Term,
};
use crate::store::{Actor, Store, StoreError};

const SURNAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE_M: &[&str] = &[
    "Văn", "Minh", "Đức", "Quang", "Hữu", "Gia", "Thành", "Công", "Tuấn", "Hoàng",
];
const MIDDLE_F: &[&str] = &[
    "Thị", "Ngọc", "Thu", "Thanh", "Khánh", "Bảo", "Phương", "Mai", "Hồng", "Diệu",
];
const GIVEN_M: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hải", "Hiếu", "Huy", "Khang", "Khoa", "Long", "Minh", "Nam",
    "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Trung", "Tùng", "Việt",
];
const GIVEN_F: &[&str] = &[
    "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Mai",
    "Ngân", "Nhi", "Oanh", "Phương", "Quỳnh", "Thảo", "Trang", "Yến",
];

/// A small deterministic generator so the demo school is the same on every machine.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
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

pub struct DemoOutcome {
    pub created: bool,
    pub students: usize,
}

fn person(rng: &mut Lcg, female: bool) -> String {
    let (mid, given) = if female {
        (MIDDLE_F, GIVEN_F)
    } else {
        (MIDDLE_M, GIVEN_M)
    };
    format!(
        "{} {} {}",
        rng.pick(SURNAMES),
        rng.pick(mid),
        rng.pick(given)
    )
}

/// Nơi sinh, dân tộc, chỗ ở and parents for a demo student (the father shares the surname).
fn demo_profile(rng: &mut Lcg, full_name: &str) -> school::StudentProfile {
    let surname = full_name.split(' ').next().unwrap_or_default();
    let father = person(rng, false);
    let father_given = father.split_once(' ').map_or("", |(_, rest)| rest);
    school::StudentProfile {
        birthplace: rng
            .pick(&[
                "Bệnh viện Từ Dũ, Quận 1, TP. Hồ Chí Minh",
                "Bệnh viện Hùng Vương, Quận 5, TP. Hồ Chí Minh",
                "Trạm y tế xã Tân Nhựt, huyện Bình Chánh, TP. Hồ Chí Minh",
                "Bệnh viện Đa khoa tỉnh Long An",
            ])
            .into(),
        ethnicity: if rng.next().is_multiple_of(12) {
            "Hoa"
        } else {
            "Kinh"
        }
        .into(),
        address: format!(
            "{} {}, {}, TP. Hồ Chí Minh",
            rng.next() % 300 + 1,
            rng.pick(&["Nguyễn Trãi", "Trần Hưng Đạo", "Lê Văn Sỹ", "Võ Văn Tần"]),
            rng.pick(&["Phường Bến Thành", "Phường Chợ Quán", "Phường Xuân Hòa"])
        ),
        father: format!("{surname} {father_given}"),
        mother: person(rng, true),
        guardian: String::new(),
        ..Default::default()
    }
}

/// Seeds the demo school. `password_phc` is the argon2id hash every demo account gets.
pub fn seed(
    store: &Store,
    password_phc: &str,
    students_total: usize,
    now: jiff::Timestamp,
) -> anyhow::Result<DemoOutcome> {
    seed_with_class_size(store, password_phc, students_total, 40, now)
}

/// As [`seed`], with `per_class` students in each class (benchmarks use 45, the legal maximum).
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
    let year = "2026-2027";
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
            },
            "school.provision",
        )?;
        tx.put(
            &school::YEARS,
            year,
            &SchoolYear {
                id: year.into(),
                terms: vec![
                    Term {
                        id: "hk1".into(),
                        name: "Học kì I".into(),
                        start: "2026-09-05".into(),
                        end: "2027-01-16".into(),
                    },
                    Term {
                        id: "hk2".into(),
                        name: "Học kì II".into(),
                        start: "2027-01-18".into(),
                        end: "2027-05-31".into(),
                    },
                ],
            },
            "year.create",
        )?;
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
                let birth_year = 2026 - c.grade as i16 - 6;
                let dob = jiff::civil::Date::new(
                    birth_year - 1 + (rng.next() % 2) as i16,
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
                    },
                )?;
                school::save_profile(tx, &st.id, demo_profile(&mut family, &st.full_name))?;
            }
        }
        Ok(())
    })?;
    seed_library(store, now)?;
    seed_lessons(store, now)?;
    Ok(DemoOutcome {
        created: true,
        students: students_total,
    })
}

/// The demo signing PIN of every demo account (README).
pub const DEMO_PIN: &str = "123456";

/// Realistic lesson titles (2018 programme, grades 6–9) by subject name.
fn lesson_titles(subject: &str) -> &'static [&'static str] {
    match subject {
        "Toán" => &[
            "Bài 1. Tập hợp",
            "Bài 2. Cách ghi số tự nhiên",
            "Bài 6. Luỹ thừa với số mũ tự nhiên",
            "Bài 8. Dấu hiệu chia hết cho 2, cho 5",
        ],
        "Tin học" => &["Bài 1. Thông tin và dữ liệu", "Bài 2. Xử lí thông tin"],
        "Ngữ văn" => &[
            "Bài 1. Thánh Gióng",
            "Bài học đường đời đầu tiên",
            "Viết bài văn kể lại một trải nghiệm của em",
        ],
        "Lịch sử và Địa lí" => &[
            "Bài 2. Thời gian trong lịch sử",
            "Bài 3. Nguồn gốc loài người",
        ],
        "Giáo dục công dân" => &["Tự hào về truyền thống gia đình, dòng họ"],
        "Ngoại ngữ 1" => &["Unit 1: My New School", "Unit 2: My House"],
        "Khoa học tự nhiên" => &[
            "Bài 3. Quy định an toàn trong phòng thực hành",
            "Bài 5. Đo chiều dài",
        ],
        "Công nghệ" => &["Bài 1. Nhà ở đối với con người"],
        _ => &["Chủ đề 1. Em với nhà trường", "Chủ đề 2. Khám phá bản thân"],
    }
}

/// Lesson plans in every state for a dozen teachers over this month and the last: drafts (one
/// past its teaching day), submitted, reviewed, returned with a comment, approved and signed by
/// the principal (one with an attached PDF, one being amended as version 2).
fn seed_lessons(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    use crate::lessons::{self, Activity, Fields, PlanInput, sign};
    let rx = store.read()?;
    let accounts = auth::list_accounts(&rx)?;
    let principal = accounts
        .iter()
        .find(|a| a.has(Role::Principal))
        .ok_or_else(|| anyhow::anyhow!("demo principal missing"))?
        .clone();
    let heads: BTreeMap<String, auth::Account> = accounts
        .iter()
        .filter(|a| a.has(Role::DeptHead))
        .filter_map(|a| a.department.clone().map(|d| (d, a.clone())))
        .collect();
    // Two teachers (not heads) from each department write plans.
    let mut writers: Vec<auth::Account> = Vec::new();
    for d in heads.keys() {
        writers.extend(
            accounts
                .iter()
                .filter(|a| {
                    a.department.as_ref() == Some(d)
                        && a.has(Role::Teacher)
                        && !a.has(Role::DeptHead)
                        && !a.has(Role::VicePrincipal)
                })
                .take(2)
                .cloned(),
        );
    }
    let mut signers: Vec<String> = writers.iter().map(|a| a.id.clone()).collect();
    signers.push(principal.id.clone());
    let stamp = now.to_string();
    let mut keys: BTreeMap<String, sign::DeviceKey> = BTreeMap::new();
    store.write(
        &Actor::system(now),
        |tx| -> Result<(), crate::store::StoreError> {
            for (rec, key) in sign::new_keys_sharing_secret(&signers, DEMO_PIN, &stamp) {
                keys.insert(rec.account.clone(), key);
                sign::register(tx, rec)?;
            }
            Ok(())
        },
    )?;
    let subjects = school::list(&rx, &school::SUBJECTS)?;
    let assignments = school::list(&rx, &school::ASSIGNMENTS)?;
    let classes: BTreeMap<String, u8> = school::list(&rx, &school::CLASSES)?
        .into_iter()
        .map(|c: school::Class| (c.id, c.grade))
        .collect();
    drop(rx);
    let today = now.to_zoned(school::time_zone()).date();
    let this_month = today.first_of_month();
    let last_month = this_month.yesterday()?.first_of_month();
    let pdf = demo_pdf(
        "Phiếu học tập",
        &[
            "Nhiệm vụ 1: Quan sát hình và trả lời câu hỏi.",
            "Nhiệm vụ 2: Thảo luận nhóm đôi.",
        ],
    );
    let (blob, size) = store.blobs.put(&pdf[..])?;
    let worksheet = crate::library::FileRef {
        blob,
        size,
        mime: "application/pdf".into(),
        name: "phieu-hoc-tap.pdf".into(),
    };
    let at = |hours_ago: i64| now - jiff::SignedDuration::from_hours(hours_ago);
    // Per plan: (writer index, month start, day offset, final state).
    #[derive(Clone, Copy, PartialEq)]
    enum Goal {
        Draft,
        Submitted,
        Reviewed,
        Returned,
        Approved,
        Amended,
    }
    let mut made: Vec<(String, String, Goal)> = Vec::new(); // (plan, teacher, goal)
    for (wi, w) in writers.iter().enumerate() {
        let p = school::principal_for(&store.read()?, w.clone())?;
        let (class, subject) = assignments
            .iter()
            .find(|a| a.teacher == w.id)
            .map(|a| (a.class.clone(), a.subject.clone()))
            .ok_or_else(|| anyhow::anyhow!("demo teacher without a class"))?;
        let grade = classes.get(&class).copied().unwrap_or(6);
        let subject_name = subjects
            .iter()
            .find(|s| s.id == subject)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let titles = lesson_titles(&subject_name);
        let goals = [
            (last_month, 3, Goal::Approved),
            (
                last_month,
                10,
                if wi % 3 == 0 {
                    Goal::Amended
                } else {
                    Goal::Approved
                },
            ),
            (
                this_month,
                2,
                match wi % 4 {
                    0 => Goal::Reviewed,
                    1 => Goal::Submitted,
                    2 => Goal::Returned,
                    _ => Goal::Approved,
                },
            ),
            (
                this_month,
                9,
                if wi % 2 == 0 {
                    Goal::Draft
                } else {
                    Goal::Submitted
                },
            ),
        ];
        let key = &keys[&w.id];
        let actor = crate::store::Actor {
            id: w.id.clone(),
            now: at(72),
        };
        let plans = store.write(&actor, |tx| -> Result<Vec<(String, Goal)>, lessons::LessonError> {
            let mut out = Vec::new();
            for (k, (month, day, goal)) in goals.iter().enumerate() {
                let teach_on = month
                    .checked_add(jiff::Span::new().days(*day + wi as i64 % 3))
                    .unwrap_or(*month);
                let title = titles[k % titles.len()];
                let plan = lessons::create(
                    tx,
                    &p,
                    PlanInput {
                        title: title.to_string(),
                        subject: subject.clone(),
                        grade,
                        periods: 1 + (k as u8 % 2),
                        teach_on,
                        layout: None,
                        fields: Fields {
                            knowledge: format!("Nắm được nội dung chính của “{title}”."),
                            competences: "Năng lực tự chủ và tự học; giao tiếp và hợp tác; năng lực đặc thù của môn học.".into(),
                            qualities: "Chăm chỉ, trung thực, trách nhiệm.".into(),
                            materials: "SGK, máy chiếu, phiếu học tập.".into(),
                            activities: ["Mở đầu", "Hình thành kiến thức mới", "Luyện tập", "Vận dụng"]
                                .iter()
                                .enumerate()
                                .map(|(i, n)| Activity {
                                    name: format!("Hoạt động {}: {n}", i + 1),
                                    objective: "Học sinh xác định được nhiệm vụ học tập.".into(),
                                    content: "Học sinh làm việc theo nhóm với phiếu học tập.".into(),
                                    product: "Câu trả lời của học sinh.".into(),
                                    organisation: "Giao nhiệm vụ → thực hiện nhiệm vụ → báo cáo, thảo luận → kết luận, nhận định.".into(),
                                    ..Activity::default()
                                })
                                .collect(),
                            adjustments: String::new(),
                        },
                    },
                )?;
                if k == 0 {
                    lessons::attach(tx, &p, &plan.id, worksheet.clone())?;
                }
                if *goal != Goal::Draft {
                    lessons::submit(tx, &p, &plan.id, key)?;
                }
                out.push((plan.id, *goal));
            }
            Ok(out)
        })?;
        made.extend(plans.into_iter().map(|(id, g)| (id, w.id.clone(), g)));
    }
    // Department heads review (pass or return), one transaction each.
    for head in heads.values() {
        let p = school::principal_for(&store.read()?, head.clone())?;
        let mine: Vec<(String, Goal)> = made
            .iter()
            .filter(|(_, t, _)| {
                writers
                    .iter()
                    .any(|w| w.id == *t && w.department == head.department)
            })
            .filter(|(_, _, g)| *g != Goal::Draft && *g != Goal::Submitted)
            .map(|(id, _, g)| (id.clone(), *g))
            .collect();
        let actor = crate::store::Actor {
            id: head.id.clone(),
            now: at(48),
        };
        store.write(&actor, |tx| -> Result<(), lessons::LessonError> {
            for (id, g) in &mine {
                if *g == Goal::Returned {
                    lessons::review(
                        tx,
                        &p,
                        id,
                        false,
                        "Mục tiêu về năng lực cần cụ thể hơn; bổ sung sản phẩm của Hoạt động 3.",
                    )?;
                } else {
                    lessons::review(tx, &p, id, true, "")?;
                }
            }
            Ok(())
        })?;
    }
    // The principal approves and signs.
    let p = school::principal_for(&store.read()?, principal.clone())?;
    let key = &keys[&principal.id];
    let actor = crate::store::Actor {
        id: principal.id.clone(),
        now: at(24),
    };
    store.write(&actor, |tx| -> Result<(), lessons::LessonError> {
        for (id, _, g) in &made {
            if matches!(g, Goal::Approved | Goal::Amended) {
                lessons::approve(tx, &p, id, key)?;
            }
        }
        Ok(())
    })?;
    // One approved plan is being amended: version 2 is a draft, version 1 stays approved.
    for (id, teacher, g) in &made {
        if *g == Goal::Amended {
            let w = writers.iter().find(|w| w.id == *teacher).expect("writer");
            let p = school::principal_for(&store.read()?, w.clone())?;
            let actor = crate::store::Actor {
                id: w.id.clone(),
                now: at(2),
            };
            store.write(&actor, |tx| -> Result<(), lessons::LessonError> {
                let v = tx
                    .get(&lessons::VERSIONS, &lessons::version_key(id, 1))?
                    .ok_or(lessons::LessonError::NotFound)?;
                let mut fields = v.fields.clone();
                fields.adjustments = "Bổ sung bài tập vận dụng cho học sinh khá, giỏi.".into();
                lessons::edit(
                    tx,
                    &p,
                    id,
                    PlanInput {
                        title: v.title,
                        subject: v.subject,
                        grade: v.grade,
                        periods: v.periods,
                        teach_on: v.teach_on,
                        layout: Some(v.layout),
                        fields,
                    },
                )?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// An ISBN-13 in Vietnam's 978-604 range with a valid check digit.
fn isbn13(body: &str) -> String {
    let digits = format!("978604{body}");
    let sum: u32 = digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d } else { d * 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// A small real PDF with a title page and a few lines (demo library files).
fn demo_pdf(title: &str, lines: &[&str]) -> Vec<u8> {
    let mut l = crate::gradebook::pdf::Layout::new(false);
    l.centred(16.0, true, title);
    l.gap(12.0);
    for line in lines {
        l.line(11.0, false, line);
    }
    l.finish().unwrap_or_default()
}

/// kind, title, authors, subject, grade, file, paper copies, visibility.
type DemoItem = (
    crate::library::ItemKind,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<u8>,
    Option<crate::library::FileRef>,
    u32,
    crate::library::Visibility,
);

/// The demo catalogue: paper books with copies to lend, PDFs to read, a question bank, one
/// teachers-only item and one shared with the district.
fn seed_library(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
    use crate::library::{FileRef, Item, ItemKind, Visibility};
    let file = |name: &str, mime: &str, bytes: Vec<u8>| -> anyhow::Result<FileRef> {
        let (blob, size) = store.blobs.put(&bytes[..])?;
        Ok(FileRef {
            blob,
            size,
            mime: mime.into(),
            name: name.into(),
        })
    };
    let pdf = "application/pdf";
    let entries: Vec<DemoItem> = vec![
        (ItemKind::Ebook, "Tiếng Việt 6", "Nhiều tác giả", None, Some(6),
         Some(file("tieng-viet-6.pdf", pdf, demo_pdf("Tiếng Việt 6", &[
             "Bài 1. Tiếng Việt giàu và đẹp.",
             "Đọc hiểu: Đất nước mình có bao nhiêu dòng sông, bấy nhiêu câu hò.",
             "Luyện tập: tìm từ láy, từ ghép trong đoạn văn.",
         ]))?), 0, Visibility::School),
        (ItemKind::Book, "Toán 6 – Tập một", "Hà Huy Khoái, Nguyễn Huy Đoan", Some("toan"), Some(6), None, 5, Visibility::School),
        (ItemKind::Book, "Ngữ văn 7 – Tập hai", "Bùi Mạnh Hùng", Some("ngu-van"), Some(7), None, 3, Visibility::School),
        (ItemKind::Ebook, "Đất nước (trích Mặt đường khát vọng)", "Nguyễn Khoa Điềm", Some("ngu-van"), Some(9),
         Some(file("dat-nuoc.pdf", pdf, demo_pdf("Đất nước", &[
             "Khi ta lớn lên Đất Nước đã có rồi",
             "Đất Nước có trong những cái “ngày xửa ngày xưa…” mẹ thường hay kể.",
         ]))?), 0, Visibility::School),
        (ItemKind::QuestionBank, "Ngân hàng câu hỏi Lịch sử và Địa lí 8", "Tổ Xã hội", Some("lich-su-va-dia-li"), Some(8),
         Some(file("cau-hoi-ls-dl-8.txt", "text/plain; charset=utf-8",
             "Câu 1. Cách mạng tư sản Anh diễn ra vào thế kỉ nào?\nA. XVI  B. XVII  C. XVIII  D. XIX\nĐáp án: B\n".as_bytes().to_vec())?), 0, Visibility::Teachers),
        (ItemKind::Ebook, "Khoa học tự nhiên 6 – Hướng dẫn thí nghiệm", "Tổ Tự nhiên", Some("khoa-hoc-tu-nhien"), Some(6),
         Some(file("khtn-6-thi-nghiem.pdf", pdf, demo_pdf("Khoa học tự nhiên 6", &[
             "Thí nghiệm 1: quan sát tế bào biểu bì vảy hành bằng kính hiển vi.",
         ]))?), 0, Visibility::District),
    ];
    let actor = Actor::system(now);
    store.write(&actor, |tx| -> Result<(), StoreError> {
        for (n, (kind, title, authors, subject, grade, f, copies, vis)) in
            entries.into_iter().enumerate()
        {
            let id = format!("li-demo{n:02}");
            let now = now.to_string();
            let item = Item {
                authors: authors.split(", ").map(str::to_string).collect(),
                subject: subject.map(str::to_string),
                grade,
                publisher: Some("NXB Giáo dục Việt Nam".into()),
                year: Some(2021),
                isbn: (kind == ItemKind::Book).then(|| isbn13(&format!("0{n:05}"))),
                file: f,
                visibility: vis,
                copies,
                ..Item::new(id, kind, title, "system", &now)
            };
            crate::library::store_new(tx, &item)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Benchmark data: grows the database with audited records (each like a saved score row) to
/// about `db_mb` MB, and adds `files_mb` MB of files to the blob store — three quarters random
/// bytes (like video, 100 MB files), one quarter text (like lesson notes, 1 MB files).
pub fn bench_fill(store: &Store, db_mb: u64, files_mb: u64) -> Result<(), StoreError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let db_path = store.dir().join("tram.redb");
    let size = || std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
    let actor = Actor::system(jiff::Timestamp::now());
    let mut batch = 0u64;
    while size() < db_mb << 20 {
        store.write(&actor, |tx| {
            for i in 0..2000 {
                let detail = serde_json::json!({
                    "student": format!("hs-{batch:05}-{i:04}"),
                    "cells": {"tx1": {"m": "8.5", "v": 1}, "tx2": {"m": "7", "v": 1},
                              "gk": {"m": "6.5", "v": 2}, "ck": {"m": "9", "v": 1}},
                    "note": "Em có ý thức học tập tốt, cần phát huy khả năng trình bày trước lớp.",
                });
                tx.event("bench.fill", &format!("{batch}/{i}"), Some(detail));
            }
            Ok::<_, StoreError>(())
        })?;
        batch += 1;
    }
    let words = [
        "bài",
        "học",
        "toán",
        "ngữ",
        "văn",
        "lớp",
        "sáu",
        "học sinh",
        "giáo viên",
        "phương trình",
        "hình học",
        "tiết",
        "kiểm tra",
        "đánh giá",
        "năng lực",
    ];
    let mut left = files_mb << 20;
    let mut n = 0u64;
    while left > 0 {
        // Per 400 MB: three 100 MB videos, then a hundred 1 MB text files.
        let video = n % 103 < 3;
        let len = if video { 100 << 20 } else { 1 << 20 }.min(left);
        let mut buf = vec![0u8; len as usize];
        if video {
            rng.fill(&mut buf[..]);
        } else {
            let mut out = Vec::with_capacity(len as usize);
            while out.len() < len as usize {
                out.extend_from_slice(words[rng.random_range(0..words.len())].as_bytes());
                out.push(if rng.random_range(0..12) == 0 {
                    b'\n'
                } else {
                    b' '
                });
            }
            buf.copy_from_slice(&out[..len as usize]);
        }
        store.blobs.put(&buf[..])?;
        left -= len;
        n += 1;
    }
    eprintln!(
        "database {:.0} MB, {} files added",
        size() as f64 / 1048576.0,
        n
    );
    Ok(())
}

/// Relay benchmark: `changes` stored-result changes for a 1,500-student school (each a result
/// record of the sector schema with eight subject averages, written through the one write path,
/// so each lands in the outbox), plus nothing else.
pub fn bench_relay(store: &Store, changes: u64) -> Result<(), StoreError> {
    use crate::gradebook::{RESULTS, StoredResult, rules::RuleVersion};
    if changes == 0 {
        return Ok(());
    }
    let code = school::school_info(&store.read()?)?
        .map(|i| i.code)
        .unwrap_or_else(|| "79000701".into());
    let subjects = ["toan", "nv", "nn1", "khtn", "lsdl", "gdcd", "cn", "tin"];
    let actor = Actor::system(jiff::Timestamp::now());
    let mut done = 0u64;
    let mut n = 7u64;
    while done < changes {
        let k = (changes - done).min(1000);
        store.write(&actor, |tx| -> Result<(), StoreError> {
            for i in 0..k {
                let student = (done + i) % 1500;
                n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let r = StoredResult {
                    rule_version: RuleVersion::Tt22V1,
                    matruong: code.clone(),
                    makhoi: 6 + (student % 4) as u8,
                    malop: format!("{}a{}", 6 + student % 4, 1 + student % 9),
                    mahocsinh: format!("hs-bench-{student:05}"),
                    sodinhdanh: format!("0792{:08}", student),
                    hocky: "1".into(),
                    diemmon: subjects
                        .iter()
                        .enumerate()
                        .map(|(j, s)| {
                            let d = 50 + ((n >> (j * 5)) % 50);
                            (s.to_string(), Some(format!("{}.{}", d / 10, d % 10)))
                        })
                        .collect(),
                    mahocluc: Some(1 + (n % 4) as u8),
                    mahanhkiem: Some(1),
                    songaynghi: (n % 3) as u16,
                    danhhieu: None,
                    ketqua: None,
                    colenlop: None,
                    corenluyenlai: None,
                    nhanxet: String::new(),
                    phienban: done + i + 1,
                };
                let key = format!("2026-2027/1/{}", r.mahocsinh);
                tx.put(&RESULTS, &key, &r, "bench.result")?;
            }
            Ok(())
        })?;
        done += k;
    }
    Ok(())
}

/// Benchmark lesson plans for this month: enough teachers to make `teachers` (extra accounts
/// "bgv31"… join the departments in turn), each with a signing key (PIN [`DEMO_PIN`]), and
/// `plans` plans spread over them, all submitted and reviewed (waiting for the principal: the
/// batch-approval benchmark), plus a draft and a submitted plan per teacher (the dashboard).
pub fn bench_lessons(store: &Store, teachers: u64, plans: u64) -> anyhow::Result<()> {
    use crate::lessons::{self, Fields, PlanInput, sign};
    if teachers == 0 && plans == 0 {
        return Ok(());
    }
    let now = jiff::Timestamp::now();
    let rx = store.read()?;
    let phc = rx
        .get(
            &auth::CREDENTIALS,
            &auth::find_by_username(&rx, "gv01")?
                .ok_or_else(|| anyhow::anyhow!("run with --demo first"))?
                .id,
        )?
        .ok_or_else(|| anyhow::anyhow!("gv01 has no password"))?
        .phc;
    let depts = school::list(&rx, &school::DEPARTMENTS)?;
    let mut staff: Vec<auth::Account> = auth::list_accounts(&rx)?
        .into_iter()
        .filter(|a| a.has(Role::Teacher) && !a.has(Role::DeptHead) && !a.has(Role::VicePrincipal))
        .collect();
    drop(rx);
    let have = staff.len() as u64 + depts.len() as u64;
    store.write(&Actor::system(now), |tx| -> anyhow::Result<()> {
        for n in have..teachers {
            let d = &depts[n as usize % depts.len()];
            let a = auth::create_account_tx(
                tx,
                NewAccount {
                    username: format!("bgv{:02}", n + 1),
                    full_name: format!("Giáo viên {:02}", n + 1),
                    roles: vec![Role::Teacher],
                    department: Some(d.id.clone()),
                    password_phc: phc.clone(),
                    must_change_password: false,
                },
            )?;
            staff.push(a);
        }
        Ok(())
    })?;
    let rx = store.read()?;
    let heads: BTreeMap<String, auth::Account> = auth::list_accounts(&rx)?
        .into_iter()
        .filter(|a| a.has(Role::DeptHead))
        .filter_map(|a| a.department.clone().map(|d| (d, a)))
        .collect();
    let subject = school::list(&rx, &school::SUBJECTS)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no subjects"))?
        .id;
    drop(rx);
    let ids: Vec<String> = staff.iter().map(|a| a.id.clone()).collect();
    let mut keys = BTreeMap::new();
    store.write(&Actor::system(now), |tx| -> Result<(), StoreError> {
        for (rec, key) in sign::new_keys_sharing_secret(&ids, DEMO_PIN, &now.to_string()) {
            keys.insert(rec.account.clone(), key);
            sign::register(tx, rec)?;
        }
        Ok(())
    })?;
    let month = now.to_zoned(school::time_zone()).date().first_of_month();
    let per = plans.div_ceil(staff.len().max(1) as u64);
    let mut left = plans;
    let mut reviewed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, a) in staff.iter().enumerate() {
        let p = school::principal_for(&store.read()?, a.clone())?;
        let key = &keys[&a.id];
        let n = per.min(left);
        left -= n;
        let actor = Actor {
            id: a.id.clone(),
            now,
        };
        let made = store.write(&actor, |tx| -> Result<Vec<String>, lessons::LessonError> {
            let mut out = Vec::new();
            for k in 0..n + 2 {
                let input = PlanInput {
                    title: format!("Bài {} – kế hoạch đo hiệu năng {}", k + 1, i + 1),
                    subject: subject.clone(),
                    grade: 6 + (k % 4) as u8,
                    periods: 1,
                    teach_on: month
                        .checked_add(jiff::Span::new().days((k % 27) as i64))
                        .unwrap_or(month),
                    layout: None,
                    fields: Fields {
                        knowledge: "Nêu được nội dung chính của bài.".repeat(8),
                        competences: "Tự chủ và tự học; giao tiếp và hợp tác.".repeat(8),
                        qualities: "Chăm chỉ, trung thực, trách nhiệm.".into(),
                        materials: "SGK, máy chiếu, phiếu học tập.".into(),
                        ..Fields::default()
                    },
                };
                let plan = lessons::create(tx, &p, input)?;
                if k == n + 1 {
                    continue; // one draft
                }
                lessons::submit(tx, &p, &plan.id, key)?;
                if k < n {
                    out.push(plan.id);
                }
            }
            Ok(out)
        })?;
        if let Some(d) = &a.department {
            reviewed.entry(d.clone()).or_default().extend(made);
        }
    }
    for (dept, ids) in reviewed {
        let Some(head) = heads.get(&dept) else {
            continue;
        };
        let p = school::principal_for(&store.read()?, head.clone())?;
        let actor = Actor {
            id: head.id.clone(),
            now,
        };
        store.write(&actor, |tx| -> Result<(), lessons::LessonError> {
            for id in &ids {
                lessons::review(tx, &p, id, true, "")?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Benchmark catalogue: `items` items with titles built from Vietnamese words (so searches hit
/// realistic word frequencies), and one random `video_mb` MB video titled "Video benchmark".
pub fn bench_library(store: &Store, items: u64, video_mb: u64) -> Result<(), StoreError> {
    use crate::library::{FileRef, Item, ItemKind};
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let subjects = [
        "Toán",
        "Ngữ văn",
        "Tiếng Việt",
        "Khoa học tự nhiên",
        "Lịch sử",
        "Địa lí",
        "Tin học",
        "Công nghệ",
        "Âm nhạc",
        "Mĩ thuật",
        "Tiếng Anh",
        "Giáo dục công dân",
    ];
    let words = [
        "bài tập",
        "nâng cao",
        "cơ bản",
        "ôn luyện",
        "đề kiểm tra",
        "phương pháp",
        "hướng dẫn",
        "thực hành",
        "chuyên đề",
        "tuyển tập",
        "sách giáo viên",
        "bồi dưỡng",
        "học sinh giỏi",
        "đất nước",
        "quê hương",
        "thiên nhiên",
        "hình học",
        "đại số",
        "văn học",
        "dân gian",
        "lịch sử",
        "kĩ năng",
        "sống",
        "trải nghiệm",
        "sáng tạo",
    ];
    let authors = [
        "Nguyễn Văn An",
        "Trần Thị Bình",
        "Lê Hoàng Cường",
        "Phạm Thu Dung",
        "Hoàng Minh Đức",
        "Vũ Thị Hạnh",
        "Đặng Quốc Huy",
        "Bùi Thanh Lan",
    ];
    let now = jiff::Timestamp::now().to_string();
    let actor = Actor::system(jiff::Timestamp::now());
    let make = |n: u64, title: String, file: Option<FileRef>, kind: ItemKind| Item {
        authors: vec![authors[n as usize % authors.len()].to_string()],
        grade: Some((n % 9 + 1) as u8),
        publisher: Some("NXB Giáo dục Việt Nam".into()),
        year: Some(2000 + (n % 26) as u16),
        file,
        copies: 1,
        ..Item::new(format!("li-b{n:07}"), kind, &title, "system", &now)
    };
    let mut n = 0u64;
    while n < items {
        let batch: Vec<Item> = (n..(n + 2000).min(items))
            .map(|i| {
                let s = subjects[rng.random_range(0..subjects.len())];
                let w1 = words[rng.random_range(0..words.len())];
                let w2 = words[rng.random_range(0..words.len())];
                make(
                    i,
                    format!("{s} {} – {w1} {w2} ({i})", i % 9 + 1),
                    None,
                    ItemKind::Book,
                )
            })
            .collect();
        store.write(&actor, |tx| {
            for it in &batch {
                crate::library::store_new(tx, it)?;
            }
            Ok::<_, StoreError>(())
        })?;
        n += batch.len() as u64;
    }
    if video_mb > 0 {
        let mut w = store.blobs.writer()?;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..video_mb {
            rng.fill(&mut buf[..]);
            std::io::Write::write_all(&mut w, &buf)?;
        }
        let (blob, size) = w.commit()?;
        let file = FileRef {
            blob,
            size,
            mime: "video/mp4".into(),
            name: "video-benchmark.mp4".into(),
        };
        let item = make(
            9_999_999,
            "Video benchmark".into(),
            Some(file),
            ItemKind::Video,
        );
        store.write(&actor, |tx| crate::library::store_new(tx, &item))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_school_is_realistic_and_seeded_once() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        assert!(seed(&s, "x", 480, now).unwrap().created);
        assert!(!seed(&s, "x", 480, now).unwrap().created);
        let rx = s.read().unwrap();
        let classes = school::list(&rx, &school::CLASSES).unwrap();
        assert_eq!(classes.len(), 12);
        assert_eq!(rx.count(&school::STUDENTS).unwrap(), 480);
        for c in &classes {
            assert!((6..=9).contains(&c.grade));
            assert!(c.homeroom.is_some());
            assert_eq!(school::students_of_class(&rx, &c.id).unwrap().len(), 40);
        }
        let staff = auth::list_accounts(&rx).unwrap();
        assert!(staff.len() >= 30);
        assert!(staff.iter().any(|a| a.has(Role::DeptHead)));
        // every class has every subject assigned
        let assignments = school::list(&rx, &school::ASSIGNMENTS).unwrap();
        assert_eq!(assignments.len(), 12 * SUBJECTS.len());
        drop(rx);
        assert!(s.verify_audit().unwrap().is_intact());
    }
}
