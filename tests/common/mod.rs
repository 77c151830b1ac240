//! Shared by the end-to-end tests: start the real `tram` binary on a loopback port, wait for
//! /healthz (the readiness signal), and talk to it with a real HTTP client.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "mat-khau-demo-1";
/// The demo's signing PIN of every demo account, as the server has it.
pub const DEMO_PIN: &str = tram::demo::DEMO_PIN;

/// The demo school's year ("2026-2027"): `--demo` seeds its school in the school year of the
/// day it first runs (`tram::demo::DemoYear`), and the tests run today. Tests name the demo's
/// year and classes through this and [`demo_class`], never a literal year.
pub fn demo_year() -> String {
    tram::demo::DemoYear::of(jiff::Timestamp::now()).id()
}

/// The id of the demo's class `name` in its year ("9A1" → "2026-9a1").
pub fn demo_class(name: &str) -> String {
    tram::demo::DemoYear::of(jiff::Timestamp::now()).class_id(name)
}

/// The year before the demo's ("2025-2026"): its showcase year, whose 9A1 (locked, signed)
/// and 9A2 (complete, open) finished lower secondary at its end (`tram::demo::SIGNED_CLASS`).
pub fn showcase_year() -> String {
    tram::demo::DemoYear::of(jiff::Timestamp::now())
        .previous()
        .id()
}

/// The id of the demo's showcase class `name` ("9A1" → "2025-9a1").
pub fn showcase_class(name: &str) -> String {
    tram::demo::DemoYear::of(jiff::Timestamp::now())
        .previous()
        .class_id(name)
}

/// A demo class's id as a `static` a test file names once (`static CLASS: DemoClass =
/// DemoClass::new("8A1");`): it reads as the id of the demo's year ("2026-8a1" this year), in
/// `format!("{CLASS}")`, as `&CLASS` where a `&str` is asked for, and in `json!`.
pub struct DemoClass {
    name: &'static str,
    last_year: bool,
    id: std::sync::OnceLock<String>,
}

impl DemoClass {
    pub const fn new(name: &'static str) -> DemoClass {
        DemoClass {
            name,
            last_year: false,
            id: std::sync::OnceLock::new(),
        }
    }

    /// One of the demo's showcase classes, last school year's 9A1 (signed) or 9A2 (complete,
    /// open): [`showcase_class`].
    pub const fn showcase(name: &'static str) -> DemoClass {
        DemoClass {
            name,
            last_year: true,
            id: std::sync::OnceLock::new(),
        }
    }
}

impl std::ops::Deref for DemoClass {
    type Target = str;
    fn deref(&self) -> &str {
        self.id.get_or_init(|| {
            if self.last_year {
                showcase_class(self.name)
            } else {
                demo_class(self.name)
            }
        })
    }
}

impl std::fmt::Display for DemoClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for DemoClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl serde::Serialize for DemoClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl PartialEq<DemoClass> for serde_json::Value {
    fn eq(&self, other: &DemoClass) -> bool {
        self.as_str() == Some(&**other)
    }
}

/// The day `day` of `month` in the demo's school year — August to December of its first
/// calendar year, January to July of its second: a date a test means as "in this school year",
/// never a literal year (`tram::demo::DemoYear::date`).
pub fn term_date(month: i8, day: i8) -> jiff::civil::Date {
    tram::demo::DemoYear::of(jiff::Timestamp::now()).date(month, day)
}

/// [`term_date`] as the API's ISO date ("2026-12-10").
pub fn term_iso(month: i8, day: i8) -> String {
    term_date(month, day).to_string()
}

/// [`term_date`] as a Vietnamese form writes it ("10/12/2026").
pub fn term_vi(month: i8, day: i8) -> String {
    term_date(month, day).strftime("%d/%m/%Y").to_string()
}

/// The day `day` of `month` in the demo's showcase year ([`showcase_year`], the year before
/// the demo's): a date of last year's 9A1/9A2, whose terms are all past ("10/12/2025").
pub fn showcase_date(month: i8, day: i8) -> jiff::civil::Date {
    tram::demo::DemoYear::of(jiff::Timestamp::now())
        .previous()
        .date(month, day)
}

/// [`showcase_date`] as a Vietnamese form writes it ("10/12/2025").
pub fn showcase_vi(month: i8, day: i8) -> String {
    showcase_date(month, day).strftime("%d/%m/%Y").to_string()
}

/// A month of the demo's school year as the API names it ("2026-12").
pub fn term_month(month: i8) -> String {
    term_date(month, 1).strftime("%Y-%m").to_string()
}

/// A day of the demo's school year already past: `days` days ago (Vietnam time), or its first
/// day (1 August) early in the year — for what may not be dated in the future (a meeting's
/// minutes). ISO ("2026-11-23").
pub fn recent_day_iso(days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date();
    (today - jiff::Span::new().days(days))
        .max(term_date(8, 1))
        .to_string()
}

/// A month of the demo's school year (9, 12 or 3) in which the demo wrote no lesson plan: it
/// dates its plans on the teaching days around the day it is seeded (`DemoYear::plan_span`),
/// so a test that counts the plans of a month it fills itself asks for this one.
pub fn month_without_demo_plans() -> i8 {
    let year = tram::demo::DemoYear::of(jiff::Timestamp::now());
    let (from, to) = year.plan_span(today());
    [9, 12, 3]
        .into_iter()
        .find(|m| {
            let first = year.date(*m, 1);
            let end = first.last_of_month();
            end < from || first > to
        })
        .unwrap()
}

/// The month ("2026-12") of the demo's plans waiting for review or approval — this month in
/// term, the first of term I before it begins, the last of term II in the summer
/// (`DemoYear::plan_days`): what the lesson dashboard of that month shows waiting.
pub fn demo_waiting_month() -> String {
    tram::demo::DemoYear::of(jiff::Timestamp::now()).plan_days(today(), 0)[2]
        .strftime("%Y-%m")
        .to_string()
}

/// Today in the school's time zone.
pub fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date()
}

/// The day a student added today without an entry date enters (`school::changes::
/// entry_default`): the demo year's first term start, or today before it (in August).
pub fn default_entry() -> jiff::civil::Date {
    term_date(9, 5).min(today())
}

/// `days` days ago, but never before [`default_entry`]: a departure of a student added today
/// that the server accepts whatever the day (in August, today itself).
pub fn since_entry(days: i64) -> jiff::civil::Date {
    (today() - jiff::Span::new().days(days)).max(default_entry())
}

/// A `FAKETIME` value (libfaketime) for a box that runs from `day`/`month` of the demo's
/// school year at `time` UTC ("03:00:00"): a test that needs the box in a season of the year
/// (term I, the summer after term II) chooses the day relative to the demo's year, so it holds
/// whatever day the tests run. An offset from the real clock ("+N" seconds), not a fixed
/// instant: every process started with it — the server, a restart, a `tram` command — reads
/// one clock that runs on, as the box's would.
pub fn faketime_in_year(month: i8, day: i8, time: &str) -> String {
    let at: jiff::Timestamp = format!("{}T{time}Z", term_date(month, day))
        .parse()
        .expect("a time of day hh:mm:ss");
    // The offset is from the real clock: when the tests themselves run under a libfaketime
    // offset (the suite tried on another day), their own is added back.
    let own: i64 = std::env::var("FAKETIME")
        .ok()
        .and_then(|f| f.trim().parse().ok())
        .unwrap_or(0);
    format!(
        "{:+}",
        at.as_second() - jiff::Timestamp::now().as_second() + own
    )
}

/// libfaketime (Debian's `faketime` package, which scripts/test installs).
pub fn libfaketime() -> Option<std::path::PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

/// The environment of a box whose clock runs from 26/01 of the demo's school year (term II
/// begun: a term is locked only once it has begun), for a test that locks this year's
/// classes for the whole year; `None` without libfaketime.
pub fn in_term_two() -> Option<Vec<(&'static str, String)>> {
    let lib = libfaketime()?;
    Some(vec![
        ("LD_PRELOAD", lib.to_string_lossy().into_owned()),
        ("FAKETIME", faketime_in_year(1, 26, "03:00:00")),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ])
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tram")
}

/// A port nothing listens on, for a server a test starts. Taken below the kernel's ephemeral
/// range (32768–60999 by default) and never twice in one test binary: a port the kernel handed
/// out as "free" could be handed out again — to a parallel test's server or as a client's source
/// port — before this test's server binds it, and that server then exits while the other one
/// answers its /healthz.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id() % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "no free port left in {FIRST}..{}", FIRST + SPAN);
        let port = (FIRST + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data: PathBuf,
    pub https: bool,
    pub boot_port: u16,
}

impl Server {
    pub fn start(data: &Path, https: bool) -> Server {
        Self::start_with(data, https, &[])
    }

    pub fn start_with(data: &Path, https: bool, extra: &[&str]) -> Server {
        Self::start_env(data, https, extra, &[])
    }

    /// As [`Server::start_with`], with extra environment variables.
    pub fn start_env(data: &Path, https: bool, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_bin(bin(), data, https, extra, env)
    }

    /// The demo box on its clock of term II ([`in_term_two`]); `None` without libfaketime.
    pub fn start_in_term_two(data: &Path) -> Option<Server> {
        let env = in_term_two()?;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Some(Self::start_env(data, false, &[], &env))
    }

    /// As [`Server::start_env`], with another build of `tram` (the migration test records what
    /// an older schema's binary answered).
    pub fn start_bin(
        bin: &str,
        data: &Path,
        https: bool,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let boot_port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--bootstrap-listen", &format!("127.0.0.1:{boot_port}")])
            .args(["--demo", "--no-mdns"])
            .args(extra)
            .env("TRAM_ADMIN_PASSWORD", PASSWORD)
            .env("TRAM_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !https {
            cmd.arg("--http-only");
        }
        let child = cmd.spawn().expect("spawn tram");
        let mut s = Server {
            child,
            port,
            data: data.to_path_buf(),
            https,
            boot_port,
        };
        s.wait_ready();
        s
    }

    /// As [`Server::start`], returning as soon as /healthz answers: the demo may still be
    /// signing its 9A1 in the background ([`Server::wait_signed`] waits for it).
    pub fn start_listening(data: &Path) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (port, boot_port) = (free_port(), free_port());
        let child = Command::new(bin())
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--bootstrap-listen", &format!("127.0.0.1:{boot_port}")])
            .args(["--demo", "--no-mdns", "--http-only"])
            .env("TRAM_ADMIN_PASSWORD", PASSWORD)
            .env("TRAM_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tram");
        let mut s = Server {
            child,
            port,
            data: data.to_path_buf(),
            https: false,
            boot_port,
        };
        s.wait_listening();
        s
    }

    pub fn base(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            if self.https { "https" } else { "http" },
            self.port
        )
    }

    pub fn client(&self) -> reqwest::blocking::Client {
        let mut b = reqwest::blocking::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if self.https {
            let pem =
                std::fs::read(self.data.join("tls/ca.pem")).expect("CA written at first start");
            b = b
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    }

    fn wait_ready(&mut self) {
        self.wait_listening();
        self.wait_signed();
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let c = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tram exited during start: {status}");
            }
            if let Ok(r) = c.get(format!("{}/healthz", self.base())).send()
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tram did not answer /healthz within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until /healthz lists no class still being signed in the background.
    pub fn wait_signed(&mut self) {
        let c = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        // The demo signs its 9A1 (and fills 9A2) after the server listens; tests read both,
        // so they wait for /healthz to list no class still being signed.
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let body: serde_json::Value = c
                .get(format!("{}/healthz", self.base()))
                .send()
                .and_then(|r| r.json())
                .unwrap_or_default();
            // An older binary (the migration test's) has no list: nothing to wait for.
            let signing = body["signing"].as_array().cloned().unwrap_or_default();
            if body.is_object() && signing.is_empty() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tram exited while the demo was signing {signing:?}: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the demo's background signing of {signing:?} did not finish within 180 s (/healthz: {body})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn login(&self, user: &str) -> reqwest::blocking::Client {
        let c = self.client();
        let r = c
            .post(format!("{}/api/v1/login", self.base()))
            .json(&serde_json::json!({"username": user, "password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "login as {user}");
        c
    }

    /// The takeover an admin can do: reset `username`'s password, log in with the temporary
    /// one, choose `new`. Returns the session and the temporary password.
    pub fn take_over(
        &self,
        admin: &reqwest::blocking::Client,
        username: &str,
        new: &str,
    ) -> (reqwest::blocking::Client, String) {
        let b = self.base();
        let r = admin
            .post(format!("{b}/api/v1/accounts/u-{username}/reset-password"))
            .json(&serde_json::json!({}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "reset {username}");
        let v: serde_json::Value = r.json().unwrap();
        let temp = v["temporary_password"].as_str().unwrap().to_string();
        let c = self.client();
        let r = c
            .post(format!("{b}/api/v1/login"))
            .json(&serde_json::json!({"username": username, "password": temp}))
            .send()
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "login as {username} with the temporary password"
        );
        let r = c
            .post(format!("{b}/api/v1/password"))
            .json(&serde_json::json!({"current": temp, "new": new}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{username} chooses a password");
        (c, temp)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The session's CSRF token (for requests whose body is not JSON: upload chunks, spreadsheets).
pub fn csrf(c: &reqwest::blocking::Client, base: &str) -> String {
    let me: serde_json::Value = c
        .get(format!("{base}/api/v1/me"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    me["csrf_token"].as_str().unwrap().to_string()
}

pub fn tram(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    with_hub_database(&mut cmd);
    cmd.args(args).output().expect("run tram")
}

thread_local! {
    /// The PostgreSQL database this test's hub keeps its data in (None: the hub's redb). Set by
    /// [`on_postgres`]; every `tram` this test thread runs gets it as TRAM_HUB_DATABASE_URL, so
    /// `tram district token/import` reach the same database as the hub.
    static HUB_DATABASE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn with_hub_database(cmd: &mut Command) {
    if let Some(url) = hub_database() {
        cmd.env("TRAM_HUB_DATABASE_URL", url);
    }
}

/// The database the hub of the running test uses, if it is on PostgreSQL.
pub fn hub_database() -> Option<String> {
    HUB_DATABASE.with(|d| d.borrow().clone())
}

/// The throw-away cluster scripts/test starts (TRAM_TEST_DATABASE_URL), or None after saying
/// loudly that the PostgreSQL half is skipped. Under CI a missing cluster is a failure.
pub fn test_cluster() -> Option<String> {
    match std::env::var("TRAM_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "TRAM_TEST_DATABASE_URL is not set under CI: run the tests through scripts/test, which starts PostgreSQL"
            );
            eprintln!(
                "SKIPPED on PostgreSQL: TRAM_TEST_DATABASE_URL is not set (scripts/test starts a throw-away cluster)"
            );
            None
        }
    }
}

/// A fresh database in the test cluster for one test, by URL (the cluster is thrown away whole).
pub fn fresh_database(cluster: &str) -> String {
    let name = format!("tram_t_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut c =
        postgres::Client::connect(cluster, postgres::NoTls).expect("connect to the test cluster");
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    // postgres://user@host:port/db?options: the same with another database.
    let (base, query) = cluster.split_once('?').unwrap_or((cluster, ""));
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    let mut url = format!("{server}/{name}");
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    url
}

/// Runs `test` with its hub on a fresh PostgreSQL database (skipped, loudly, without a cluster).
pub fn on_postgres(test: impl FnOnce()) {
    let Some(cluster) = test_cluster() else {
        return;
    };
    on_database(&fresh_database(&cluster), test);
}

/// Runs `test` with its hub on the database at `url`.
pub fn on_database(url: &str, test: impl FnOnce()) {
    HUB_DATABASE.with(|d| *d.borrow_mut() = Some(url.to_string()));
    test();
    HUB_DATABASE.with(|d| *d.borrow_mut() = None);
}

/// A relay test run twice: `name::redb` with the hub's embedded store, `name::postgres` with
/// the hub on PostgreSQL.
#[macro_export]
macro_rules! on_both_storages {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn redb() {
                super::$name()
            }
            #[test]
            fn postgres() {
                super::common::on_postgres(super::$name)
            }
        }
    )*};
}

/// A user-space TCP proxy that can drop the link on demand: how the tests simulate a school
/// Wi-Fi that goes away (`tc netem` is not available). While down, every open connection is
/// cut and new ones are closed at once.
pub struct Proxy {
    pub port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, cs) = (down.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut g = cs.lock().unwrap();
                    g.push(client.try_clone().unwrap());
                    g.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, down, conns }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The username of the teacher assigned to a class × subject (asked as admin).
pub fn teacher_of(s: &Server, class: &str, subject: &str) -> String {
    let admin = s.login("admin");
    let a: serde_json::Value = admin
        .get(format!("{}/api/v1/assignments", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = a["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["class"] == class && x["subject"] == subject)
        .unwrap_or_else(|| panic!("nobody teaches {subject} in {class}"))["teacher"]
        .as_str()
        .unwrap()
        .to_string();
    username_of(s, &id)
}

/// The username of the homeroom teacher (GVCN) of `class`.
pub fn homeroom_of(s: &Server, class: &str) -> String {
    let admin = s.login("admin");
    let classes: serde_json::Value = admin
        .get(format!("{}/api/v1/classes", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = classes["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == class)
        .and_then(|c| c["homeroom"].as_str())
        .unwrap_or_else(|| panic!("{class} has no homeroom teacher: {classes}"))
        .to_string();
    username_of(s, &id)
}

/// The username of an account id (asked as admin).
pub fn username_of(s: &Server, id: &str) -> String {
    let admin = s.login("admin");
    let accounts: serde_json::Value = admin
        .get(format!("{}/api/v1/accounts", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("no account {id}"))["username"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A bad link between a school and the hub, in user space: every byte each way is paced to
/// `rate` bytes per second, and every `cut_every` all open connections are cut (mid-request or
/// mid-response: a stall followed by a truncated exchange).
pub struct BadLink {
    pub port: u16,
    pub cuts: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BadLink {
    pub fn start(upstream: u16, rate: u64, cut_every: Option<Duration>) -> BadLink {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let cuts = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(every) = cut_every {
            let (conns, cuts, stop) = (conns.clone(), cuts.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(every);
                    let mut g = conns.lock().unwrap();
                    if !g.is_empty() {
                        cuts.fetch_add(1, Ordering::SeqCst);
                    }
                    for c in g.drain(..) {
                        let _ = c.shutdown(std::net::Shutdown::Both);
                    }
                }
            });
        }
        let (c2, b2) = (conns.clone(), bytes.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                {
                    let mut g = c2.lock().unwrap();
                    g.push(client.try_clone().unwrap());
                    g.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let b = b2.clone();
                    std::thread::spawn(move || {
                        let started = Instant::now();
                        let mut sent = 0u64;
                        let mut buf = [0u8; 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            sent += n as u64;
                            b.fetch_add(n as u64, Ordering::Relaxed);
                            // Pace: n bytes may leave only once sent / rate seconds have passed.
                            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                            if let Some(w) = due.checked_sub(started.elapsed()) {
                                std::thread::sleep(w);
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        BadLink {
            port,
            cuts,
            bytes,
            stop,
        }
    }
}

impl Drop for BadLink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A district hub (`tram district serve`) on a loopback port: plain HTTP, or HTTPS with its own
/// certificate authority.
pub struct Hub {
    pub child: Child,
    pub port: u16,
    pub data: PathBuf,
    pub https: bool,
}

impl Hub {
    pub fn start(data: &Path) -> Hub {
        Self::start_on(data, free_port())
    }
    pub fn start_on(data: &Path, port: u16) -> Hub {
        Self::launch(data, port, false)
    }
    pub fn start_https(data: &Path) -> Hub {
        Self::launch(data, free_port(), true)
    }
    /// As [`Hub::start`], with extra environment variables (fault injection).
    pub fn start_env(data: &Path, env: &[(&str, &str)]) -> Hub {
        Self::launch_env(data, free_port(), false, env)
    }
    fn launch(data: &Path, port: u16, https: bool) -> Hub {
        Self::launch_env(data, port, https, &[])
    }
    fn launch_env(data: &Path, port: u16, https: bool, env: &[(&str, &str)]) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cmd = Command::new(bin());
        cmd.envs(env.iter().copied());
        with_hub_database(&mut cmd);
        cmd.args(["district", "serve", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("TRAM_ADMIN_PASSWORD", PASSWORD)
            .env("TRAM_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !https {
            cmd.arg("--http-only");
        }
        let child = cmd.spawn().expect("spawn tram district serve");
        let hub = Hub {
            child,
            port,
            data: data.to_path_buf(),
            https,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Readiness only: the certificate is checked by the school's pin, not here.
        let c = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        while c
            .get(format!("{}/healthz", hub.base()))
            .send()
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "the hub did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        hub
    }
    pub fn base(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
    /// A one-time enrolment token for `school` (asked of the running hub).
    pub fn token(&self, school: &str) -> String {
        let out = tram(&[
            "district",
            "token",
            "--data-dir",
            self.data.to_str().unwrap(),
            "--school",
            school,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .find(|l| l.contains("use once"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .to_string()
    }
    pub fn staff(&self) -> reqwest::blocking::Client {
        let c = reqwest::blocking::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let r = c
            .post(format!("{}/api/v1/login", self.base()))
            .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        c
    }
    /// A read-only district staff account (`cv-a`), made by the admin, signed in.
    pub fn read_only_staff(&self) -> reqwest::blocking::Client {
        let r = self
            .staff()
            .post(format!("{}/api/v1/accounts", self.base()))
            .json(
                &serde_json::json!({"username": "cv-a", "full_name": "Chuyên viên A",
                          "roles": ["district_staff"], "password": "mat-khau-chuyen-vien-1"}),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        let c = reqwest::blocking::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let r = c
            .post(format!("{}/api/v1/login", self.base()))
            .json(&serde_json::json!({"username": "cv-a", "password": "mat-khau-chuyen-vien-1"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        c
    }
    /// The hub's school list as its staff see it (/district/api/schools).
    pub fn schools(&self) -> serde_json::Value {
        self.staff()
            .get(format!("{}/district/api/schools", self.base()))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A made-up school's records as it relays them: (kind, key, record).
pub type Relayed<'a> = [(&'a str, String, serde_json::Value)];

/// A hub on a temporary data directory of its own, removed after the hub stops (the fields
/// drop in order): the district tests' setup. It reads as the [`Hub`].
pub struct TempHub {
    pub hub: Hub,
    pub dir: tempfile::TempDir,
}

impl std::ops::Deref for TempHub {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl Hub {
    /// A hub started on a new temporary data directory ([`TempHub`]).
    pub fn temp() -> TempHub {
        let dir = tempfile::tempdir().unwrap();
        TempHub {
            hub: Hub::start(dir.path()),
            dir,
        }
    }

    /// Enrols a made-up school directly, with a key of its own: (its key, its upload secret).
    pub fn enrol_made_up(&self, code: &str) -> (ed25519_dalek::SigningKey, String) {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let r: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}/relay/v1/enrol", self.base()))
            .json(&serde_json::json!({"token": self.token(code),
                "public_key": hex::encode(key.verifying_key().to_bytes())}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        (key, r["secret"].as_str().unwrap().to_string())
    }

    /// Enrols a made-up school and relays `records` as its batch 1: its key and upload secret,
    /// for later batches.
    pub fn relay_made_up(
        &self,
        code: &str,
        records: &Relayed,
    ) -> (ed25519_dalek::SigningKey, String) {
        let (key, secret) = self.enrol_made_up(code);
        self.relay_batch(code, &key, &secret, 1, 1, records);
        (key, secret)
    }

    /// Batch `seq` of an enrolled made-up school, its outbox entries numbered from `first`;
    /// the hub must take it (200).
    pub fn relay_batch(
        &self,
        code: &str,
        key: &ed25519_dalek::SigningKey,
        secret: &str,
        seq: u64,
        first: u64,
        records: &Relayed,
    ) {
        let at = "2026-10-20T01:00:00Z";
        let entries: Vec<tram::store::OutboxEntry> = records
            .iter()
            .enumerate()
            .map(|(i, (kind, k, r))| tram::store::OutboxEntry {
                seq: i as u64 + first,
                kind: kind.to_string(),
                key: k.clone(),
                op: "create".into(),
                record: Some(r.clone()),
                at: at.into(),
            })
            .collect();
        let bytes = tram::relay::batch::build(key, code, seq, &entries, 0, at);
        let r = reqwest::blocking::Client::new()
            .patch(format!("{}/relay/v1/batches/{code}/{seq}", self.base()))
            .header("authorization", format!("Bearer {secret}"))
            .header("upload-offset", "0")
            .header("upload-length", bytes.len().to_string())
            .body(bytes)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text());
    }

    /// Enrols the school box in `dir` as `code` with this hub (`tram relay enroll`), which
    /// must succeed.
    pub fn enroll_box(&self, dir: &Path, code: &str) {
        let out = enroll(dir.to_str().unwrap(), &self.base(), &self.token(code));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The demo school box in `dir`, enrolled as 79000701 with this hub and started with the
    /// relay at full rate at any hour, once it has relayed everything (`relayed`, 120 s).
    pub fn relayed_demo_school(&self, dir: &Path) -> Server {
        self.enroll_box(dir, "79000701");
        let school = Server::start_with(
            dir,
            false,
            &["--relay-rate", "1048576", "--relay-school-hours", "off"],
        );
        relayed(dir, 120, "the demo school did not relay");
        school
    }
}

/// `tram relay enroll` of the school in `data` with the hub at `url`.
pub fn enroll(data: &str, url: &str, token: &str) -> std::process::Output {
    tram(&[
        "relay",
        "enroll",
        "--data-dir",
        data,
        "--hub",
        url,
        "--token",
        token,
    ])
}

pub fn status(dir: &std::path::Path) -> serde_json::Value {
    let out = tram(&[
        "relay",
        "status",
        "--json",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Waits until the school has sent something and nothing is queued; its relay status then.
pub fn relayed(dir: &std::path::Path, secs: u64, what: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let st = status(dir);
        if st["queued"] == 0 && st["batches_sent"].as_u64().unwrap_or(0) > 0 {
            return st;
        }
        assert!(Instant::now() < deadline, "{what}: {st}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A signed update bundle of `version` made with the release key in `w/keys` (made by
/// `tram release keygen` if missing), carrying `noise` bytes that do not compress (so a
/// bundle can span several upload chunks).
pub fn release_bundle(w: &Path, keys: &str, version: &str, noise: usize) -> PathBuf {
    if !w.join(keys).join("release.key").exists() {
        let o = tram(&["release", "keygen", "--out", w.join(keys).to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let script = w.join("tram-script");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let data = w.join(format!("noise-{version}.dat"));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..noise)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&data, bytes).unwrap();
    let out = w.join(format!("{version}.bundle"));
    let o = tram(&[
        "release",
        "bundle",
        "--key",
        w.join(keys).join("release.key").to_str().unwrap(),
        "--version",
        version,
        "--binary",
        script.to_str().unwrap(),
        "--file",
        &format!("share/noise.dat={}", data.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Where the first signature's /ByteRange of a signed PDF ends: the file as it stood after the
/// homeroom teacher signed (review r10 #2 cut a học bạ there with `head -c`).
pub fn end_of_first_byte_range(pdf: &[u8]) -> usize {
    let at = pdf
        .windows(10)
        .position(|w| w == b"/ByteRange")
        .expect("a signature")
        + 10;
    let open = at + pdf[at..].iter().position(|&c| c == b'[').unwrap() + 1;
    let close = open + pdf[open..].iter().position(|&c| c == b']').unwrap();
    let n: Vec<usize> = std::str::from_utf8(&pdf[open..close])
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    n[2] + n[3]
}

/// `tram hocba signer import` of a PKCS#12 for the demo's principal (`--replace`: she holds a
/// school certificate, her signed class), the file's password and the new PIN `pin` given as
/// the command reads them.
pub fn import_p12(
    data: &Path,
    p12: &Path,
    password: &str,
    pin: &str,
    extra: &[&str],
) -> std::process::Output {
    Command::new(bin())
        .args([
            "hocba",
            "signer",
            "import",
            "--account",
            "hieutruong",
            "--replace",
            "--p12",
        ])
        .arg(p12)
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .env("TRAM_P12_PASSWORD", password)
        .env("TRAM_SIGNING_PIN", pin)
        // The demo's principal holds the sealed signing CA under the demo's PIN: her current
        // PIN carries her wrap over to the imported key.
        .env("TRAM_CURRENT_PIN", DEMO_PIN)
        .output()
        .unwrap()
}

/// The first class of the demo's year in a `GET /api/v1/classes` answer, which lists every
/// year's classes (last year's showcase 9A1/9A2 too, whose pupils have graduated).
pub fn first_class_this_year(classes: &serde_json::Value) -> serde_json::Value {
    let year = demo_year();
    classes["classes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["year"] == year.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no class of {year} in {classes}"))
}
