//! A school day against a running `tram serve --demo` (bench/schoolday.sh starts it): N
//! concurrent sessions of the school's staff on phones and laptops — teachers reading their
//! score sheets and typing scores, searching and browsing the library, streaming the video,
//! opening the lesson-plan pages, creating and submitting plans (signed with their PIN), the
//! principal approving them — each with a think time between actions. Reports throughput,
//! p50/p99 per endpoint, errors, and the server's RSS over time.
//!
//!   cargo run --release --example schoolday -- --base http://127.0.0.1:18700 \
//!       --password PW --sessions 500 --seconds 180 --pid PID [--video ITEM_ID] [--ramp 30]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[derive(Default)]
struct Stats {
    /// Every answered request per endpoint: (seconds since the start, ms) — the time for the
    /// report over time (does the soak degrade as it goes?).
    lat: BTreeMap<&'static str, Vec<(f32, f64)>>,
    errors: BTreeMap<String, u64>,
    /// When each error happened.
    error_times: Vec<f32>,
}

/// The targets on this 2-core machine.
const P99_MS: f64 = 200.0;
const RSS_MAX_MB: f64 = 150.0;
/// "No memory growth": after the first third of the run (warm-up: logins, the page cache
/// filling), RSS may rise by at most this many MB per 10 minutes (a fitted slope, so one
/// sample's noise does not decide).
const GROWTH_MB_PER_10MIN: f64 = 2.0;

type Shared = Arc<Mutex<Stats>>;

/// The instant the load started (the zero of the samples' times).
static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn since_start() -> f32 {
    STARTED.get().map_or(0.0, |s| s.elapsed().as_secs_f32())
}

struct Args {
    base: String,
    password: String,
    sessions: usize,
    seconds: u64,
    pid: Option<u32>,
    video: Option<String>,
    pin: String,
    /// Logins are spread over this long.
    ramp_ms: u64,
}

fn args() -> Args {
    let mut a = Args {
        base: "http://127.0.0.1:18700".into(),
        password: String::new(),
        sessions: 500,
        seconds: 180,
        pid: None,
        video: None,
        pin: tram::demo::DEMO_PIN.into(),
        ramp_ms: 30_000,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < v.len() {
        let x = v[i + 1].clone();
        match v[i].as_str() {
            "--base" => a.base = x,
            "--password" => a.password = x,
            "--sessions" => a.sessions = x.parse().expect("--sessions N"),
            "--seconds" => a.seconds = x.parse().expect("--seconds N"),
            "--pid" => a.pid = x.parse().ok(),
            "--video" => a.video = Some(x),
            "--pin" => a.pin = x,
            "--ramp" => a.ramp_ms = x.parse::<u64>().expect("--ramp SECONDS") * 1000,
            o => panic!("unknown argument {o}"),
        }
        i += 2;
    }
    a
}

fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(2)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One request, timed under `name`; non-2xx (other than the expected) counted as errors.
async fn timed(
    st: &Shared,
    name: &'static str,
    req: reqwest::RequestBuilder,
    ok: &[u16],
) -> Option<reqwest::Response> {
    let t = Instant::now();
    let r = req.send().await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let at = since_start();
    let mut s = st.lock().unwrap();
    match r {
        Ok(r) if r.status().is_success() || ok.contains(&r.status().as_u16()) => {
            s.lat.entry(name).or_default().push((at, ms));
            Some(r)
        }
        Ok(r) => {
            s.lat.entry(name).or_default().push((at, ms));
            s.error_times.push(at);
            *s.errors
                .entry(format!("{name} {}", r.status()))
                .or_default() += 1;
            None
        }
        Err(e) => {
            s.error_times.push(at);
            let kind = if e.is_timeout() {
                "timeout"
            } else {
                "transport"
            };
            *s.errors.entry(format!("{name} {kind}")).or_default() += 1;
            None
        }
    }
}

const LOGIN: &str = "POST /api/v1/login";

struct Who {
    username: String,
    /// (class, subject, grade) this teacher teaches.
    teaches: Vec<(String, String, u8)>,
    bgh: bool,
    /// Heads a department (tổ trưởng): reviews its submitted plans.
    head: bool,
}

const WORDS: [&str; 12] = [
    "toan",
    "van",
    "lich su",
    "dia ly",
    "tieng anh",
    "vat ly",
    "sinh hoc",
    "hoa",
    "am nhac",
    "truyen",
    "bai tap",
    "de kiem tra",
];

async fn session(a: Arc<Args>, who: Arc<Who>, st: Shared, deadline: Instant) {
    let c = client();
    let b = &a.base;
    // Staff arrive over the first half minute (a session then lasts 14 days: logins are rare).
    let arrive = rand::rngs::SmallRng::from_os_rng().random_range(0..a.ramp_ms.max(1));
    tokio::time::sleep(Duration::from_millis(arrive)).await;
    let r = timed(
        &st,
        LOGIN,
        c.post(format!("{b}/api/v1/login"))
            .json(&json!({"username": who.username, "password": a.password})),
        &[],
    )
    .await;
    let Some(r) = r else { return };
    let me: Value = r.json().await.unwrap_or_default();
    let csrf = me["csrf_token"].as_str().unwrap_or_default().to_string();
    let mut rng = rand::rngs::SmallRng::from_os_rng();
    // Spread the sessions' first actions over the first seconds.
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..3000))).await;
    while Instant::now() < deadline {
        let roll: u32 = rng.random_range(0..100);
        if who.bgh && roll < 15 {
            // The principal signs what waits for them.
            if let Some(r) = timed(
                &st,
                "GET /api/v1/lessons/plans?mine",
                c.get(format!("{b}/api/v1/lessons/plans?mine=true")),
                &[],
            )
            .await
            {
                let v: Value = r.json().await.unwrap_or_default();
                let ready = v["plans"].as_array().and_then(|p| {
                    p.iter()
                        .find(|x| x["state"] == "reviewed" || x["state"] == "submitted")
                });
                if let Some(p) = ready
                    && let Some(id) = p["id"].as_str()
                {
                    if p["state"] == "submitted" {
                        // In BGH's queue a submitted plan has no other head to review it.
                        timed(
                            &st,
                            "POST /api/v1/lessons/plans/{id}/review",
                            c.post(format!("{b}/api/v1/lessons/plans/{id}/review"))
                                .header("x-csrf-token", &csrf)
                                .json(&json!({"decision": "pass"})),
                            &[409],
                        )
                        .await;
                    } else {
                        timed(
                            &st,
                            "POST /api/v1/lessons/plans/{id}/approve",
                            c.post(format!("{b}/api/v1/lessons/plans/{id}/approve"))
                                .header("x-csrf-token", &csrf)
                                .json(&json!({"secret": a.pin})),
                            &[409, 422],
                        )
                        .await;
                    }
                }
            }
        } else if who.head && roll < 10 {
            // The department head reviews what waits for them.
            if let Some(r) = timed(
                &st,
                "GET /api/v1/lessons/plans?mine",
                c.get(format!("{b}/api/v1/lessons/plans?mine=true")),
                &[],
            )
            .await
            {
                let v: Value = r.json().await.unwrap_or_default();
                let ready = v["plans"]
                    .as_array()
                    .and_then(|p| p.iter().find(|x| x["state"] == "submitted"));
                if let Some(id) = ready.and_then(|p| p["id"].as_str()) {
                    let decision = if rng.random_range(0..10) < 9 {
                        "pass"
                    } else {
                        "return"
                    };
                    timed(
                        &st,
                        "POST /api/v1/lessons/plans/{id}/review",
                        c.post(format!("{b}/api/v1/lessons/plans/{id}/review"))
                            .header("x-csrf-token", &csrf)
                            .json(&json!({"decision": decision, "comment": "Bổ sung phần luyện tập."})),
                        &[409],
                    )
                    .await;
                }
            }
        } else if roll < 40 && !who.teaches.is_empty() {
            // Score entry: read the sheet, type one score.
            let (class, subject, _) = &who.teaches[rng.random_range(0..who.teaches.len())];
            let url = format!("{b}/api/v1/grades/sheet/{class}/{subject}/hk1");
            if let Some(r) = timed(&st, "GET /api/v1/grades/sheet", c.get(&url), &[]).await {
                let sheet: Value = r.json().await.unwrap_or_default();
                let rows = sheet["rows"].as_array().cloned().unwrap_or_default();
                let editable = sheet["editable"].as_bool().unwrap_or(false);
                if !rows.is_empty() && editable {
                    let row = &rows[rng.random_range(0..rows.len())];
                    let cells = row["cells"].as_array().cloned().unwrap_or_default();
                    if let Some(cell) = cells
                        .iter()
                        .find(|x| x["column"] == format!("tx{}", rng.random_range(1..=2)))
                    {
                        let mut version = cell["version"].as_u64().unwrap_or(0);
                        for _ in 0..2 {
                            // Subjects assessed by comment take Đ / CĐ, the others a score.
                            let input = if sheet["subject"]["kind"] == "comment" {
                                if rng.random_range(0..10) < 9 {
                                    "Đ".to_string()
                                } else {
                                    "CĐ".to_string()
                                }
                            } else {
                                format!("{},{}", rng.random_range(5..10), rng.random_range(0..10))
                            };
                            let r = timed(&st, "PUT /api/v1/grades/sheet", c.put(&url).json(&json!({
                                "student": row["student"], "column": cell["column"], "input": input, "expected_version": version,
                            })), &[409]).await;
                            match r {
                                Some(r) if r.status() == 409 => {
                                    // Another of this teacher's devices typed first: take its version, retry.
                                    let v: Value = r.json().await.unwrap_or_default();
                                    version = v["error"]["details"]["current"]["version"]
                                        .as_u64()
                                        .unwrap_or(version);
                                }
                                _ => break,
                            }
                        }
                    }
                }
            }
        } else if roll < 62 {
            let q = WORDS[rng.random_range(0..WORDS.len())];
            timed(
                &st,
                "GET /api/v1/library/search",
                c.get(format!("{b}/api/v1/library/search"))
                    .query(&[("q", q)]),
                &[],
            )
            .await;
        } else if roll < 70 {
            timed(
                &st,
                "GET /library (page)",
                c.get(format!("{b}/library")),
                &[],
            )
            .await;
        } else if roll < 78 {
            if let Some(v) = &a.video {
                // A phone playing the video: one 256 KB range at a random place.
                let start = rng.random_range(0..40u64) << 20;
                if let Some(r) = timed(
                    &st,
                    "GET /library/file (video range)",
                    c.get(format!("{b}/library/file/{v}")).header(
                        "range",
                        format!("bytes={start}-{}", start + (256 << 10) - 1),
                    ),
                    &[416],
                )
                .await
                {
                    let _ = r.bytes().await;
                }
            }
        } else if roll < 88 {
            timed(
                &st,
                "GET /lessons (page)",
                c.get(format!("{b}/lessons")),
                &[],
            )
            .await;
        } else if roll < 90 && !who.teaches.is_empty() && !who.bgh && rng.random_range(0..7) == 0 {
            // Write a plan and submit it (signed with the PIN): one action in 350, about 0.6
            // plans a second for 500 sessions — a thousand in a 30-minute soak, as many as a
            // school of 500 staff hands in over a couple of days.
            let (_, subject, grade) = &who.teaches[rng.random_range(0..who.teaches.len())];
            let r = timed(&st, "POST /api/v1/lessons/plans", c.post(format!("{b}/api/v1/lessons/plans")).json(&json!({
                "title": format!("Bài {} — ôn tập", rng.random_range(1..40)), "subject": subject, "grade": grade,
                "teach_on": "2026-11-30",
            })), &[]).await;
            if let Some(r) = r {
                let v: Value = r.json().await.unwrap_or_default();
                if let Some(id) = v["plan"]["id"].as_str() {
                    timed(
                        &st,
                        "POST /api/v1/lessons/plans/{id}/submit",
                        c.post(format!("{b}/api/v1/lessons/plans/{id}/submit"))
                            .header("x-csrf-token", &csrf)
                            .json(&json!({"secret": a.pin})),
                        &[409, 422],
                    )
                    .await;
                }
            }
        } else {
            timed(&st, "GET / (home)", c.get(format!("{b}/")), &[]).await;
        }
        // Think time: a person reads, types, looks up.
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..3500))).await;
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Arc::new(args());
    let admin = client();
    let b = &a.base;
    let r = admin
        .post(format!("{b}/api/v1/login"))
        .json(&json!({"username": "admin", "password": a.password}))
        .send()
        .await
        .expect("server up");
    assert!(r.status().is_success(), "admin login: {}", r.status());
    let accounts: Value = admin
        .get(format!("{b}/api/v1/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let assignments: Value = admin
        .get(format!("{b}/api/v1/assignments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let classes: Value = admin
        .get(format!("{b}/api/v1/classes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default();
    let grade_of = |class: &str| -> u8 {
        classes["classes"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["id"] == class))
            .and_then(|c| c["grade"].as_u64())
            .unwrap_or(6) as u8
    };
    let mut people: Vec<Arc<Who>> = Vec::new();
    for acc in accounts["accounts"].as_array().unwrap() {
        let roles: Vec<&str> = acc["roles"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str())
            .collect();
        let bgh = roles
            .iter()
            .any(|r| *r == "principal" || *r == "vice_principal");
        let head = roles.contains(&"dept_head");
        let teaches: Vec<(String, String, u8)> = assignments["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["teacher"] == acc["id"])
            .map(|x| {
                (
                    x["class"].as_str().unwrap().to_string(),
                    x["subject"].as_str().unwrap().to_string(),
                    grade_of(x["class"].as_str().unwrap()),
                )
            })
            .collect();
        if bgh || !teaches.is_empty() {
            people.push(Arc::new(Who {
                username: acc["username"].as_str().unwrap().into(),
                teaches,
                bgh,
                head,
            }));
        }
    }
    assert!(!people.is_empty(), "no staff in the demo school");
    let st: Shared = Arc::new(Mutex::new(Stats::default()));
    let started = *STARTED.get_or_init(Instant::now);
    let deadline = started + Duration::from_secs(a.seconds);
    // Sampling the server's memory every 5 s.
    let rss = Arc::new(Mutex::new(Vec::new()));
    if let Some(pid) = a.pid {
        let rss = rss.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kb) = rss_kb(pid) {
                    rss.lock().unwrap().push((started.elapsed().as_secs(), kb));
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
    let mut tasks = Vec::new();
    for i in 0..a.sessions {
        let who = people[i % people.len()].clone();
        tasks.push(tokio::spawn(session(a.clone(), who, st.clone(), deadline)));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let s = st.lock().unwrap();
    println!(
        "{} sessions ({} staff accounts), {secs:.0} s",
        a.sessions,
        people.len()
    );
    println!(
        "{:<48} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "endpoint", "count", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    let mut total = 0;
    for (name, v) in &s.lat {
        total += v.len();
        let mut ms: Vec<f64> = v.iter().map(|x| x.1).collect();
        let max = ms.iter().cloned().fold(0.0, f64::max);
        println!(
            "{:<48} {:>8} {:>8.1} {:>9.1} {:>9.1} {:>9.1}",
            name,
            ms.len(),
            ms.len() as f64 / secs,
            pct(&mut ms, 0.5),
            pct(&mut ms, 0.99),
            max
        );
    }
    let logins = s.lat.get(LOGIN).map_or(0, |v| v.len());
    // Every answered request but the logins, (time, ms).
    let steady: Vec<(f32, f64)> = s
        .lat
        .iter()
        .filter(|(k, _)| **k != LOGIN)
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let mut steady_ms: Vec<f64> = steady.iter().map(|x| x.1).collect();
    let p99_all = pct(&mut steady_ms, 0.99);
    println!(
        "all requests: {total} ({:.1} req/s); excluding the {logins} logins: p50 {:.1} ms, p99 {p99_all:.1} ms",
        total as f64 / secs,
        pct(&mut steady_ms, 0.5),
    );
    let errors: u64 = s.errors.values().sum();
    println!("errors: {errors}");
    for (k, n) in &s.errors {
        println!("  {k}: {n}");
    }
    let r = rss.lock().unwrap();
    let Some(last) = r.last() else {
        return;
    };
    let max_kb = r.iter().map(|x| x.1).max().unwrap_or(0);
    println!(
        "server RSS: first {} kB, max {max_kb} kB, last {} kB",
        r[0].1, last.1
    );
    let step = (r.len() / 12).max(1);
    let series: Vec<String> = r
        .iter()
        .step_by(step)
        .map(|(t, kb)| format!("{t}s:{}MB", kb / 1024))
        .collect();
    println!("RSS over time: {}", series.join(" "));

    // Over time: twelve windows (at least 15 s each).
    let window = (secs / 12.0).max(15.0);
    println!();
    println!(
        "{:<14} {:>8} {:>9} {:>9} {:>8} {:>9}",
        "window", "req/s", "p50 ms", "p99 ms", "errors", "RSS MB"
    );
    let mut t0 = 0.0;
    while t0 + 1.0 < secs {
        let t1 = t0 + window;
        let mut w: Vec<f64> = steady
            .iter()
            .filter(|(t, _)| (*t as f64) >= t0 && (*t as f64) < t1)
            .map(|(_, ms)| *ms)
            .collect();
        let errs = s
            .error_times
            .iter()
            .filter(|t| (**t as f64) >= t0 && (**t as f64) < t1)
            .count();
        let rss_at = r
            .iter()
            .rfind(|(t, _)| (*t as f64) < t1)
            .map_or(0.0, |x| x.1 as f64 / 1024.0);
        println!(
            "{:<14} {:>8.1} {:>9.1} {:>9.1} {:>8} {:>9.1}",
            format!("{:.0}-{:.0} s", t0, t1.min(secs)),
            w.len() as f64 / (t1.min(secs) - t0).max(1.0),
            pct(&mut w, 0.5),
            pct(&mut w, 0.99),
            errs,
            rss_at
        );
        t0 = t1;
    }

    // Memory growth after warm-up: the least-squares slope of RSS over the last two thirds.
    let after: Vec<(f64, f64)> = r
        .iter()
        .filter(|(t, _)| (*t as f64) >= secs / 3.0)
        .map(|(t, kb)| (*t as f64, *kb as f64 / 1024.0))
        .collect();
    let slope = rss_slope_mb_per_10min(&after);
    println!();
    println!(
        "RSS after warm-up (from {:.0} s): {:.1} → {:.1} MB, slope {:+.2} MB per 10 min",
        secs / 3.0,
        after.first().map_or(0.0, |x| x.1),
        after.last().map_or(0.0, |x| x.1),
        slope
    );
    let max_mb = max_kb as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "pass" } else { "FAIL" };
    println!("targets:");
    println!(
        "  zero errors                      {:>5}  ({errors})",
        verdict(errors == 0)
    );
    println!(
        "  p99 ≤ {P99_MS:.0} ms (all but logins)     {:>5}  ({p99_all:.1} ms)",
        verdict(p99_all <= P99_MS)
    );
    println!(
        "  RSS ≤ {RSS_MAX_MB:.0} MB under load          {:>5}  (max {max_mb:.1} MB)",
        verdict(max_mb <= RSS_MAX_MB)
    );
    if secs >= 900.0 {
        println!(
            "  no memory growth (≤ {GROWTH_MB_PER_10MIN} MB/10 min) {:>5}  ({slope:+.2} MB/10 min)",
            verdict(slope <= GROWTH_MB_PER_10MIN)
        );
    } else {
        println!("  no memory growth                 (a soak of 15 min or more decides it)");
    }
}

/// The least-squares slope of (seconds, MB) samples, in MB per 10 minutes.
fn rss_slope_mb_per_10min(xy: &[(f64, f64)]) -> f64 {
    if xy.len() < 2 {
        return 0.0;
    }
    let n = xy.len() as f64;
    let mx = xy.iter().map(|p| p.0).sum::<f64>() / n;
    let my = xy.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = xy.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx * 600.0 }
}
