//! The demo's lesson plans: titles per subject, plans in every state of the workflow, signed
//! with keys under [`DEMO_PIN`].

use super::*;

/// The demo signing PIN of every demo account (README). Not a trivial one: it passes the rule
/// of a new PIN (`pki::seal::check_new_pin`), as every PIN chosen on a real box must.
pub const DEMO_PIN: &str = "50718394";

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

/// Lesson plans in every state for a dozen teachers, taught on the year's teaching days around
/// the seeding day (`DemoYear::plan_days`): approved and signed by the principal for the weeks
/// before (one with an attached PDF, one being amended as version 2), submitted, reviewed or
/// returned with a comment for a coming lesson, drafts.
pub(super) fn seed_lessons(store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
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
    // Every demo account the README says signs has a key under the demo PIN: the teachers
    // with plans, every tổ trưởng (her Phụ lục I, the minutes she chairs, her own lesson
    // plans — review r14 #10: gv01's first "Ký và nộp" answered no_key), the vice principals
    // and the principal.
    let mut signers: Vec<String> = writers.iter().map(|a| a.id.clone()).collect();
    for a in &accounts {
        if (a.has(Role::DeptHead) || a.has(Role::VicePrincipal)) && !signers.contains(&a.id) {
            signers.push(a.id.clone());
        }
    }
    signers.push(principal.id.clone());
    let today = now.to_zoned(school::time_zone()).date();
    let demo = super::DemoYear::of(now);
    let at = |hours_ago: i64| now - jiff::SignedDuration::from_hours(hours_ago);
    // Each step of a plan happens before its lesson, as a school works (review r24 #4: plans
    // taught weeks before were written three days ago): written and handed in a week before
    // the lesson, reviewed five days and approved three days before it — or, for a lesson
    // still to come, 72, 48 and 24 hours before the seeding, whichever is earlier.
    // Always at a school hour (review r25 #6: a demo seeded at night had plans reviewed at
    // 5 a.m.): 07:30 on the day before the lesson, or 16:00 on the latest day before then.
    let local = |d: jiff::civil::Date, h: i8, m: i8| {
        d.at(h, m, 0, 0)
            .to_zoned(school::time_zone())
            .map(|z| z.timestamp())
            .unwrap_or(now)
    };
    let when = |teach_on: jiff::civil::Date, days_before: i64, hours_ago: i64| {
        let before = local(teach_on - jiff::Span::new().days(days_before), 7, 30);
        let recent = at(hours_ago);
        let day = recent.to_zoned(school::time_zone()).date();
        let afternoon = match local(day, 16, 0) {
            t if t <= recent => t,
            _ => local(day.yesterday().unwrap_or(day), 16, 0),
        };
        before.min(afternoon)
    };
    // The keys are made before the first plan is signed with them, so a plan's page never
    // shows a key dated after its signatures.
    let first_lesson = demo.plan_span(today).0;
    let keys_made = when(first_lesson, 8, 96);
    let stamp = keys_made.to_string();
    let mut keys: BTreeMap<String, sign::DeviceKey> = BTreeMap::new();
    store.write(
        &Actor::system(keys_made),
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
    // (plan, teacher, goal, the day it is taught)
    let mut made: Vec<(String, String, Goal, jiff::civil::Date)> = Vec::new();
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
        // Taught on teaching days only (`DemoYear::plan_days`): the two older ones approved,
        // the one for a coming lesson waiting at a step of the workflow, the newest a draft or
        // just handed in.
        let days = demo.plan_days(today, wi as i32 % 3);
        let goals = [
            (days[0], Goal::Approved),
            (
                days[1],
                if wi % 3 == 0 {
                    Goal::Amended
                } else {
                    Goal::Approved
                },
            ),
            (
                days[2],
                match wi % 4 {
                    0 => Goal::Reviewed,
                    1 => Goal::Submitted,
                    2 => Goal::Returned,
                    _ => Goal::Approved,
                },
            ),
            (
                days[3],
                if wi % 2 == 0 {
                    Goal::Draft
                } else {
                    Goal::Submitted
                },
            ),
        ];
        let key = &keys[&w.id];
        for (k, (teach_on, goal)) in goals.iter().enumerate() {
            let teach_on = *teach_on;
            let actor = crate::store::Actor {
                id: w.id.clone(),
                now: when(teach_on, 7, 72),
            };
            let made_one = store.write(&actor, |tx| -> Result<String, lessons::LessonError> {
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
                Ok(plan.id)
            })?;
            made.push((made_one, w.id.clone(), *goal, teach_on));
        }
    }
    // Department heads review (pass or return), one transaction each.
    for head in heads.values() {
        let p = school::principal_for(&store.read()?, head.clone())?;
        let mine: Vec<(String, Goal, jiff::civil::Date)> = made
            .iter()
            .filter(|(_, t, _, _)| {
                writers
                    .iter()
                    .any(|w| w.id == *t && w.department == head.department)
            })
            .filter(|(_, _, g, _)| *g != Goal::Draft && *g != Goal::Submitted)
            .map(|(id, _, g, d)| (id.clone(), *g, *d))
            .collect();
        for (id, g, teach_on) in &mine {
            let actor = crate::store::Actor {
                id: head.id.clone(),
                now: when(*teach_on, 5, 48),
            };
            store.write(&actor, |tx| -> Result<(), lessons::LessonError> {
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
                Ok(())
            })?;
        }
    }
    // The principal approves and signs.
    let p = school::principal_for(&store.read()?, principal.clone())?;
    let key = &keys[&principal.id];
    for (id, _, g, teach_on) in &made {
        if !matches!(g, Goal::Approved | Goal::Amended) {
            continue;
        }
        let actor = crate::store::Actor {
            id: principal.id.clone(),
            now: when(*teach_on, 3, 24),
        };
        store.write(&actor, |tx| lessons::approve(tx, &p, id, key).map(|_| ()))?;
    }
    // One approved plan is being amended: version 2 is a draft, version 1 stays approved.
    for (id, teacher, g, teach_on) in &made {
        if *g == Goal::Amended {
            let w = writers.iter().find(|w| w.id == *teacher).expect("writer");
            let p = school::principal_for(&store.read()?, w.clone())?;
            // Amended the day before its lesson, after the approval.
            let actor = crate::store::Actor {
                id: w.id.clone(),
                now: when(*teach_on, 1, 2),
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
