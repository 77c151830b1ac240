//! The district hub's server (`tram district serve`): the relay's routes for schools, the staff
//! pages, sign-in and the hub's own accounts, over the same kernel as a school.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};

use crate::district::routes::{Hub, MAX_BATCH_CHUNK};
use crate::http::{BodyLimits, Shared, limit_body, same_origin_only, security_headers};
use crate::store::Store;

/// The hub's routes whose bodies may be larger than the default (1 MB).
pub const BODY_LIMITS: BodyLimits = &[
    ("/relay/v1/batches/{school}/{seq}", MAX_BATCH_CHUNK),
    (
        "/district/api/uploads/{id}",
        crate::library::upload::MAX_CHUNK,
    ),
];

pub fn router(state: Shared, hub: Arc<Hub>) -> Router {
    Router::new()
        .nest("/relay/v1", crate::district::routes::relay())
        .merge(crate::district::routes::staff())
        .nest(
            "/api/v1",
            crate::auth::routes::api()
                .layer(axum::middleware::from_fn(crate::http::api_errors_as_json)),
        )
        .merge(super::pages::sign_in_routes())
        .route(
            "/admin/accounts",
            axum::routing::get(super::pages::accounts_page),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            BODY_LIMITS,
            limit_body,
        ))
        .layer(axum::middleware::from_fn(crate::http::page_errors_as_html))
        .layer(axum::middleware::from_fn(district_api_errors))
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(hub))
        // The school's rule for every state-changing request (review: the hub had none, so a
        // cross-site JSON POST rode a signed-in admin's cookie): another site's Origin or
        // Sec-Fetch-Site is refused before any handler runs. Schools' relay clients send
        // neither header.
        .layer(axum::middleware::from_fn(same_origin_only))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The staff's JSON API under `/district/api/` answers axum's own refusals (a query string
/// that does not parse, a method the route lacks) in the API's one shape and in Vietnamese, as
/// the school's `/api/v1` does; the pages and the schools' relay routes keep theirs.
async fn district_api_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.uri().path().starts_with("/district/api/") {
        crate::http::api_errors_as_json(req, next).await
    } else {
        next.run(req).await
    }
}

/// How the hub serves (`tram district serve`'s flags).
pub struct Options {
    pub listen: SocketAddr,
    /// The port-80 certificate page, as a school box serves it (HTTPS only).
    pub bootstrap_listen: Option<SocketAddr>,
    pub http_only: bool,
    /// Days without contact after which the staff page warns about a school.
    pub silent_days: i64,
}

/// The addresses staff open the hub at: each of its current IP addresses (only the one it
/// listens on when that is not every interface) and `tram-hub.local`.
fn urls(opts: &Options, ips: &[std::net::IpAddr]) -> Vec<String> {
    let listen_ip = opts.listen.ip();
    let scheme = if opts.http_only { "http" } else { "https" };
    let port = match (opts.http_only, opts.listen.port()) {
        (false, 443) | (true, 80) => String::new(),
        (_, p) => format!(":{p}"),
    };
    let mut urls: Vec<String> = if listen_ip.is_unspecified() {
        ips.iter()
            .filter(|ip| !ip.is_loopback())
            .map(|ip| format!("{scheme}://{ip}{port}/"))
            .collect()
    } else {
        vec![format!("{scheme}://{listen_ip}{port}/")]
    };
    urls.push(format!("{scheme}://{}{port}/", crate::relay::HUB_NAME));
    urls
}

/// Runs the hub until `shutdown` resolves.
/// `storage`: where relayed data lives (None: the data directory's redb, beside the accounts).
pub async fn serve(
    store: Arc<Store>,
    storage: Option<Arc<dyn crate::district::HubStorage>>,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The certificate names every address the hub has now (re-issued at each start, as a
    // school box's is): staff open it by its LAN address as often as by name.
    let ips = crate::pki::local_ips();
    let tls = if opts.http_only {
        None
    } else {
        let names = vec![crate::relay::HUB_NAME.to_string(), "localhost".to_string()];
        Some(crate::pki::tls::load_or_create(
            &store.dir().join("tls"),
            "district-hub",
            &names,
            &ips,
        )?)
    };
    let state: Shared = Arc::new(super::state(
        store.clone(),
        tls.as_ref(),
        urls(&opts, &ips),
        crate::backup::schedule::Config::default_for(store.dir()),
        true,
    ));
    // Publishing uploads left half-way for a week are dropped, as the school's library does.
    crate::library::upload::sweep(&store);
    let mut hub = match storage {
        Some(storage) => Hub::with_storage(store.clone(), storage),
        None => Hub::new(store.clone()),
    };
    hub.silent_days = opts.silent_days;
    // The time-stamping authority's key and certificate are issued at the hub's first start.
    hub.tsa()
        .map_err(|e| anyhow::anyhow!("the hub's time-stamping authority: {e}"))?;
    let hub = Arc::new(hub);
    crate::district::routes::warm_reports(&hub);
    let app = router(state.clone(), hub).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let mut tasks = tokio::task::JoinSet::new();
    crate::http::spawn_app(&mut tasks, opts.listen, tls.as_ref(), &handle, app);
    if let (Some(b), false) = (opts.bootstrap_listen, opts.http_only) {
        let boot = super::bootstrap_router(state, opts.listen.port())
            .into_make_service_with_connect_info::<SocketAddr>();
        let srv = axum_server::bind(b).handle(handle.clone());
        tasks.spawn(async move { srv.serve(boot).await });
    }
    if let Some(addr) = handle.listening().await {
        tracing::info!(%addr, "district hub is listening");
    }
    let h2 = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h2.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}
