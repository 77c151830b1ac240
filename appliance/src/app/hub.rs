//! The district hub's server (`tram district serve`): the relay's routes for schools, the staff
//! pages, sign-in and the hub's own accounts, over the same kernel as a school.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};

use crate::district::routes::{Hub, MAX_BATCH_CHUNK};
use crate::http::{BodyLimits, Shared, limit_body, security_headers};
use crate::store::Store;

/// The hub's routes whose bodies may be larger than the default (1 MB).
pub const BODY_LIMITS: BodyLimits = &[("/relay/v1/batches/{school}/{seq}", MAX_BATCH_CHUNK)];

pub fn router(state: Shared, hub: Arc<Hub>) -> Router {
    Router::new()
        .nest("/relay/v1", crate::district::routes::relay())
        .merge(crate::district::routes::staff())
        .nest("/api/v1", crate::auth::routes::api())
        .merge(super::pages::sign_in_routes())
        .route(
            "/admin/accounts",
            axum::routing::get(super::pages::accounts_page),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            BODY_LIMITS,
            limit_body,
        ))
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(hub))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Runs the hub until `shutdown` resolves.
/// `storage`: where relayed data lives (None: the data directory's redb, beside the accounts).
pub async fn serve(
    store: Arc<Store>,
    storage: Option<Arc<dyn crate::district::HubStorage>>,
    listen: SocketAddr,
    http_only: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = if http_only {
        None
    } else {
        let names = vec![crate::relay::HUB_NAME.to_string(), "localhost".to_string()];
        Some(crate::pki::tls::load_or_create(
            &store.dir().join("tls"),
            "district-hub",
            &names,
            &crate::pki::local_ips(),
        )?)
    };
    let state: Shared = Arc::new(super::state(
        store.clone(),
        tls.as_ref(),
        vec![],
        crate::backup::schedule::Config::default_for(store.dir()),
        true,
    ));
    let hub = Arc::new(match storage {
        Some(storage) => Hub::with_storage(store.clone(), storage),
        None => Hub::new(store.clone()),
    });
    let app = router(state, hub).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let mut tasks = tokio::task::JoinSet::new();
    crate::http::spawn_app(&mut tasks, listen, tls.as_ref(), &handle, app);
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
