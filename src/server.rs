//! Starting and stopping the web server.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::http;
use crate::service::Services;
use crate::store::{DatabaseUrl, Store};

/// Connects to the database, applies migrations and loads the shipped
/// reference data: everything a server needs before its first request.
pub async fn prepare(database_url: &DatabaseUrl) -> anyhow::Result<Services> {
    let store = Store::connect(database_url)
        .await
        .with_context(|| format!("cannot open the database {}", database_url.redacted()))?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    let services = Services::new(store);
    services
        .seed_reference_data()
        .await
        .context("cannot load the shipped guide and calendar")?;
    Ok(services)
}

/// Serves until `shutdown` completes, then finishes in-flight requests and
/// closes the database.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = services.store().clone();
    let app = http::router(services);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("the server stopped with an error")?;
    store.close().await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}
