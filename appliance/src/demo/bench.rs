//! Benchmark fillers (`tram bench-*`, bench/*.sh): bulk data for the database, the relay, the
//! lesson plans and the library.

use super::*;

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
    let info = school::school_info(&store.read()?)?;
    let code = info
        .as_ref()
        .map(|i| i.code.clone())
        .unwrap_or_else(|| "79000701".into());
    // The school's year (the demo's is the year it was seeded in, `DemoYear`).
    let year = info
        .map(|i| i.current_year)
        .unwrap_or_else(|| super::DemoYear::of(jiff::Timestamp::now()).id());
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
                    dangmolai: false,
                };
                let key = format!("{year}/1/{}", r.mahocsinh);
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
