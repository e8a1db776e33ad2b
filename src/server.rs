//! Starting and stopping the web server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::http;
use crate::service::{KeyStore, Services};
use crate::store::{DatabaseUrl, Store};

/// The setting that ties a key file to its database.
const KEY_CHECK_SETTING: &str = "data_key_check";

/// Connects to the database, applies migrations, opens the data key file and
/// loads the shipped reference data: everything a server needs before its
/// first request.
pub async fn prepare(database_url: &DatabaseUrl, key_file: &Path) -> anyhow::Result<Services> {
    let store = Store::connect(database_url)
        .await
        .with_context(|| format!("cannot open the database {}", database_url.redacted()))?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    let keys = open_keys(&store, key_file).await?;
    let blob_dir = default_blob_dir(database_url, key_file);
    let services = Services::new(store, Arc::new(keys))
        .with_blob_store(Arc::new(crate::blobs::FsBlobStore::new(blob_dir)));
    services
        .seed_reference_data()
        .await
        .context("cannot load the shipped guide and calendar")?;
    Ok(services)
}

/// Where uploaded scans are kept by default: the `blobs` folder beside the
/// SQLite database file (so `sscard backup` takes it along), or beside the
/// key file for PostgreSQL.
pub fn default_blob_dir(database_url: &DatabaseUrl, key_file: &Path) -> std::path::PathBuf {
    let beside = database_url
        .sqlite_path()
        .and_then(|db| db.parent().map(Path::to_path_buf))
        .or_else(|| key_file.parent().map(Path::to_path_buf))
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    beside.join(crate::cli_backup::BLOBS_DIR)
}

/// Opens the data key file. A new database may get a newly generated key
/// file; a database that already has one refuses a missing or different file
/// rather than write data nobody can read.
pub async fn open_keys(store: &Store, key_file: &Path) -> anyhow::Result<KeyStore> {
    let (keyring, check_value) = match store.setting(KEY_CHECK_SETTING).await? {
        Some(check) => {
            let keyring = sscard_crypto::KeyFile::load(key_file).with_context(|| {
                format!(
                    "this database holds encrypted data and needs its key file {}; restore it from your backup (set --key-file / SSCARD_KEY_FILE)",
                    key_file.display()
                )
            })?;
            keyring.verify_check_value(&check).with_context(|| {
                format!(
                    "the key file {} does not belong to this database; refusing to start rather than write unreadable data",
                    key_file.display()
                )
            })?;
            (keyring, check)
        }
        None => {
            let (keyring, created) = sscard_crypto::KeyFile::load_or_generate(key_file)
                .with_context(|| {
                    format!("cannot open or create the key file {}", key_file.display())
                })?;
            if created {
                tracing::warn!(
                    path = %key_file.display(),
                    "generated a new data key file: BACK IT UP separately from the database; without it the personal data cannot be read"
                );
            }
            let stored = store
                .init_setting(KEY_CHECK_SETTING, &keyring.check_value())
                .await?;
            keyring
                .verify_check_value(&stored)
                .context("the key file does not belong to this database")?;
            (keyring, stored)
        }
    };
    for warning in keyring.warnings() {
        tracing::warn!(path = %key_file.display(), "key file: {warning}");
    }
    Ok(KeyStore::new(key_file, check_value, keyring))
}

/// Serves until `shutdown` completes, then finishes in-flight requests and
/// closes the database. `config` holds the web layer's switches and limits.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    config: http::HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = services.store().clone();
    let reloader = tokio::spawn(reload_keys_periodically(services.clone()));
    // SMS notices of cases left unsent (a failed gateway, a stop between
    // commit and send): retried every minute (`service::notifications`).
    let resender = tokio::spawn(resend_notifications_periodically(services.clone()));
    // 单位批量启用: the background 经办 of accepted batches; it resumes
    // whatever was pending when the process started.
    let (stop_batches, batches_stopped) = tokio::sync::watch::channel(false);
    let batch_worker = tokio::spawn(crate::service::batches::worker::run_worker(
        services.clone(),
        batches_stopped,
    ));
    let app = http::router(services, config);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("the server stopped with an error");
    // The worker finishes (or rolls back) the chunk it is in, then stops.
    let _ = stop_batches.send(true);
    let _ = batch_worker.await;
    served?;
    reloader.abort();
    resender.abort();
    store.close().await;
    Ok(())
}

/// Retries the SMS notices of cases that were not sent, every minute.
async fn resend_notifications_periodically(services: Services) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match services
            .resend_unsent_notifications(crate::service::notifications::RESEND_AFTER)
            .await
        {
            Ok(0) => {}
            Ok(sent) => tracing::info!(target: "sms", sent, "unsent SMS notices sent"),
            Err(error) => tracing::warn!(%error, "cannot retry unsent SMS notices"),
        }
    }
}

/// Picks up a rotated key file (`sscard keys rotate`) within half a minute,
/// so values sealed under the new key are readable everywhere.
async fn reload_keys_periodically(services: Services) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(30));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let keys = services.clone();
        let result = tokio::task::spawn_blocking(move || keys.keys().reload()).await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot reload the key file; keeping the keys in memory");
            }
            Err(error) => tracing::error!(%error, "key reload task failed"),
        }
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when
/// this is called, before the server serves, not when the future is first
/// polled: a SIGTERM that comes right after the first answers (a service
/// manager stopping a node it just started) is a graceful shutdown, never
/// the default immediate termination.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [
            ("Ctrl-C", signal(SignalKind::interrupt())),
            ("SIGTERM", signal(SignalKind::terminate())),
        ]
    };
    async move {
        #[cfg(unix)]
        {
            let [interrupt, terminate] = signals.map(|(name, installed)| async move {
                match installed {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            });
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
        #[cfg(not(unix))]
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown requested: finishing in-flight requests");
    }
}
