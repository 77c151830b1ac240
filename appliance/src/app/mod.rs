//! The top: the school's server assembled from every capability — state, routers, the
//! port-80 bootstrap page, the background tasks (backups, relay, control socket, mDNS) — and the
//! district hub's (`hub.rs`); the pages that span capabilities (home, sign-in, school
//! administration: `pages.rs`); and `schema.rs`, the one list of every capability's tables and
//! migrations the store is opened with.

pub mod hub;
pub mod mdns;
pub mod pages;
pub mod records;
pub mod schema;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

use crate::http::{
    AppState, BodyLimits, Shared, VERSION, api_errors_as_json, fallback, limit_body,
    page_errors_as_html, request_timeout, same_origin_only, security_headers, spawn_app,
};
use crate::pki::tls;
use crate::store::Store;

/// The school's routes whose bodies may be larger than the default (1 MB).
pub const BODY_LIMITS: BodyLimits = &[
    (
        "/api/v1/import/students",
        crate::school::import::MAX_IMPORT_BYTES,
    ),
    (
        "/api/v1/import/staff",
        crate::school::import::MAX_IMPORT_BYTES,
    ),
    (
        "/api/v1/grades/import/{class}/{subject}/{term}",
        crate::gradebook::excel::MAX_IMPORT_BYTES,
    ),
    (
        "/api/v1/library/uploads/{id}",
        crate::library::upload::MAX_CHUNK,
    ),
    (
        "/api/v1/device/update",
        crate::device::routes::MAX_BUNDLE as usize,
    ),
];

/// The state of a school's (or, with `hub`, the district's) server: the kernel's, plus each
/// capability's own.
pub fn state(
    store: Arc<Store>,
    tls: Option<&tls::DeviceTls>,
    urls: Vec<String>,
    backup: crate::backup::schedule::Config,
    hub: bool,
) -> AppState {
    AppState::new(store, tls, urls, hub)
        .with(crate::auth::ratelimit::LoginLimiter::default())
        .with(backup)
        .with(crate::lessons::Live::default())
        .with(crate::lessons::LinkResolver(crate::dept::link_view))
        .with(crate::lessons::LinkResolverTx(crate::dept::link_view_in))
        .with(crate::lessons::LinkGate(crate::dept::hand_in_gate))
}

async fn healthz(State(s): State<Shared>) -> Response {
    let db = match s
        .store
        .read()
        .and_then(|rx| rx.count(&crate::auth::ACCOUNTS))
    {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    let ok = db == "ok";
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": VERSION,
        "database": db,
        "schema_version": s.store.schema_version().ok(),
        "free_disk_bytes": crate::config::free_disk_bytes(s.store.dir()),
        "uptime_seconds": s.started.elapsed().as_secs(),
        "backup": backup_health(&s),
        // Classes a background task is still signing (the demo's 9A1 just after start-up).
        "signing": crate::gradebook::hocba::signing_now(),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn backup_health(s: &AppState) -> serde_json::Value {
    let b = crate::backup::schedule::summary(s.store.dir(), jiff::Timestamp::now());
    let enabled = s
        .part::<crate::backup::schedule::Config>()
        .is_ok_and(|c| c.enabled);
    json!({
        "last_good_at": b.last_good_at,
        "age_hours": b.age_hours,
        "restore_checked": b.restore_checked,
        "warning": if !enabled {
            Some("nightly backups are turned off".to_string())
        } else if b.last_good_at.is_none() {
            Some("no backup has been made yet".to_string())
        } else if b.stale {
            Some(format!("the last good backup is older than {} hours", crate::backup::schedule::STALE_AFTER_HOURS))
        } else {
            None
        },
        "last_error": b.last_error,
    })
}

/// The whole application router; tests drive it without a socket.
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .merge(crate::auth::routes::api())
        .merge(crate::school::routes::api())
        .merge(crate::gradebook::routes::api())
        .merge(crate::backup::routes::api())
        .merge(crate::backup::pages::api())
        .merge(crate::library::routes::api())
        .merge(crate::lessons::routes::api())
        .merge(crate::dept::routes::api())
        .merge(crate::relay::routes::api())
        .merge(crate::device::routes::api())
        .merge(crate::district::routes::school_export())
        .merge(records::api())
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    crate::web::OPENAPI,
                )
            }),
        )
        .layer(middleware::from_fn(api_errors_as_json));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", api)
        .merge(pages::routes())
        .merge(crate::gradebook::pages::routes())
        .merge(crate::library::pages::routes())
        .merge(crate::library::routes::files())
        .merge(crate::lessons::pages::routes())
        .merge(crate::lessons::routes::files())
        .merge(crate::dept::pages::routes())
        .merge(crate::dept::routes::files())
        .merge(crate::device::routes::pages())
        .merge(crate::backup::pages::pages())
        .route_layer(middleware::from_fn_with_state(BODY_LIMITS, limit_body))
        .fallback(fallback)
        .layer(middleware::from_fn(page_errors_as_html))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(same_origin_only))
        .layer(middleware::from_fn(security_headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout(),
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    // HTTPS only: browsers heed HSTS only from a connection whose certificate they trust, so a
    // phone that has not installed the school's CA yet is not locked out by it; one that has
    // never again follows a downgrade to plain HTTP on the Wi-Fi.
    let app = if state.https {
        app.layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            ),
        )
    } else {
        app
    };
    app.with_state(state)
}

/// The port-80 router: the certificate download page, the CA itself, and a redirect of
/// everything else to HTTPS.
pub fn bootstrap_router(state: Shared, https_port: u16) -> Router {
    Router::new()
        .route("/", get(pages::bootstrap_page))
        .route("/tram-ca.crt", get(pages::ca_der))
        .route("/tram-ca.pem", get(pages::ca_pem))
        .route("/static/{file}", get(pages::static_file))
        // E-reader apps rarely accept a private CA: the open catalogue and its files are also
        // served over plain HTTP (anonymous, so only what the whole school may see).
        .merge(crate::library::routes::files())
        .route("/healthz", get(healthz))
        .fallback(move |headers: HeaderMap, uri: axum::http::Uri| async move {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("tram.local");
            let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
            // Only to a name this box answers to (its certificate's: an address, `*.local`,
            // localhost): a Host header naming another site is not followed there.
            let ours = host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
                || host.eq_ignore_ascii_case("localhost")
                || (host.to_ascii_lowercase().ends_with(".local")
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
            let host = if ours { host } else { "tram.local" };
            let port = if https_port == 443 {
                String::new()
            } else {
                format!(":{https_port}")
            };
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::permanent(&format!("https://{host}{port}{pq}"))
        })
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub bootstrap_listen: Option<SocketAddr>,
    pub http_only: bool,
    pub mdns: bool,
    pub backup: crate::backup::schedule::Config,
    /// The relay to the district (idle until the school is enrolled).
    pub relay: crate::relay::Budget,
}

/// Runs the servers until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    store: Arc<Store>,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let info = crate::school::school_info(&store.read()?)?;
    let code = info
        .as_ref()
        .map(|i| i.code.clone())
        .unwrap_or_else(|| "tram".into());
    let host_name = format!("tram-{}.local", crate::school::slug(&code));
    let ips = crate::pki::local_ips();
    let listen_ip = opts.listen.ip();
    let reach_ips: Vec<IpAddr> = if listen_ip.is_unspecified() {
        ips.clone()
    } else {
        vec![listen_ip]
    };
    let scheme = if opts.http_only { "http" } else { "https" };
    let port_sfx = match (opts.http_only, opts.listen.port()) {
        (false, 443) | (true, 80) => String::new(),
        (_, p) => format!(":{p}"),
    };
    let mut urls: Vec<String> = reach_ips
        .iter()
        .filter(|ip| !ip.is_loopback() || !listen_ip.is_unspecified())
        .map(|ip| format!("{scheme}://{ip}{port_sfx}/"))
        .collect();
    urls.push(format!("{scheme}://{host_name}{port_sfx}/"));

    let tls = if opts.http_only {
        None
    } else {
        let dir = store.dir().join("tls");
        let names = vec![host_name.clone(), "tram.local".into(), "localhost".into()];
        Some(tls::load_or_create(&dir, &code, &names, &ips)?)
    };
    let state: Shared = Arc::new(self::state(
        store.clone(),
        tls.as_ref(),
        urls.clone(),
        opts.backup.clone(),
        false,
    ));
    tokio::spawn(crate::backup::schedule::run(
        store.clone(),
        opts.backup.clone(),
    ));
    tokio::spawn(crate::relay::run(store.clone(), opts.relay.clone()));
    {
        // Signatures stored before the signature register existed get their lines (and so
        // reach the hub); a no-op once done.
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            match crate::gradebook::hocba::fill_register(&store, jiff::Timestamp::now()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(signatures = n, "học bạ signature register filled"),
                Err(e) => tracing::warn!(error = %e, "học bạ signature register not filled"),
            }
            // The signing CA's wraps of accounts no longer in the BGH (changed by an earlier
            // version, which dropped them only at the next opening).
            if let Err(e) =
                crate::gradebook::hocba::ca::drop_stale_wraps_now(&store, jiff::Timestamp::now())
            {
                tracing::warn!(error = %e, "stale signing CA wraps not dropped");
            }
            // Likewise the month approvals signed before their register (schema 9).
            match crate::lessons::export::fill_approval_register(&store, jiff::Timestamp::now()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(signatures = n, "approval signature register filled"),
                Err(e) => tracing::warn!(error = %e, "approval signature register not filled"),
            }
        });
    }
    {
        // The audit chain is walked once now, in the background, so the first look at the home
        // page does not wait for a year of events; later looks walk only the new ones.
        let store = store.clone();
        tokio::task::spawn_blocking(move || match store.audit_status() {
            Ok(r) if !r.is_intact() => {
                tracing::error!(broken = ?r.broken, "the audit chain is broken");
            }
            Ok(r) => tracing::info!(events = r.events, "audit chain intact"),
            Err(e) => tracing::warn!(error = %e, "audit chain not checked"),
        });
    }
    {
        let store = store.clone();
        let relay = opts.relay.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::control::serve(store, relay).await {
                tracing::warn!(error = %e, "control socket unavailable; `tram backup now` needs the server stopped");
            }
        });
    }

    let _mdns = if opts.mdns {
        match mdns::announce(
            info.as_ref(),
            &host_name,
            opts.listen.port(),
            opts.bootstrap_listen.map(|a| a.port()),
            &reach_ips,
        ) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, "mDNS announcement failed; the box is still reachable by IP");
                None
            }
        }
    } else {
        None
    };

    let handle = axum_server::Handle::new();
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut tasks = tokio::task::JoinSet::new();
    spawn_app(&mut tasks, opts.listen, tls.as_ref(), &handle, app);
    if let (Some(b), false) = (opts.bootstrap_listen, opts.http_only) {
        let boot = bootstrap_router(state.clone(), opts.listen.port())
            .into_make_service_with_connect_info::<SocketAddr>();
        let srv = axum_server::bind(b).handle(handle.clone());
        tasks.spawn(async move { srv.serve(boot).await });
    }
    // Report the bound port (tests pass port 0 sometimes) once the listener is up.
    if let Some(addr) = handle.listening().await {
        tracing::info!(%addr, scheme, "Trạm is listening");
        for u in &urls {
            tracing::info!(url = %u, "reach it at");
        }
    }
    let h2 = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        // Long-polling pages answer at once instead of holding the shutdown.
        if let Ok(live) = state.part::<crate::lessons::Live>() {
            live.close();
        }
        h2.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}
