//! `batch` and `bank`: the employer batch (`POST /api/v1/batches`, issue 8)
//! and the bank export/import (`sscard bank export|import`, issue 7). Until
//! the server offers them, these scenarios say so and fail: no figures are
//! made up.

use anyhow::bail;

use super::Options;
use crate::db::BenchDb;
use crate::report::Report;
use crate::server::ServerProcess;

/// Whether the server's OpenAPI document lists `route`.
async fn server_has_route(options: &Options, route: &str) -> anyhow::Result<bool> {
    let db = BenchDb::fresh(None, options.work_dir.as_deref(), "probe").await?;
    let server = ServerProcess::start(&options.binary, &db).await?;
    let document = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(format!("{}/api/openapi.json", server.base_url))
        .send()
        .await?
        .text()
        .await?;
    server.stop().await?;
    db.remove().await;
    Ok(document.contains(&format!("\"{route}\"")))
}

/// `batch`.
///
/// # Errors
///
/// Always, until `POST /api/v1/batches` exists.
pub async fn batch(options: &Options) -> anyhow::Result<Vec<Report>> {
    if server_has_route(options, "/api/v1/batches").await? {
        bail!(
            "scenario not available yet: the server has POST /api/v1/batches, but this tool does not drive it yet (issue 9)"
        );
    }
    bail!(
        "scenario not available yet: the server has no employer batches (POST /api/v1/batches, issue 8)"
    )
}

/// `bank`.
///
/// # Errors
///
/// Always, until `sscard bank export|import` exists.
pub async fn bank(options: &Options) -> anyhow::Result<Vec<Report>> {
    let help = tokio::process::Command::new(&options.binary)
        .args(["bank", "--help"])
        .output()
        .await?;
    if help.status.success() {
        bail!(
            "scenario not available yet: the server has `sscard bank`, but this tool does not drive it yet (issue 9)"
        );
    }
    bail!("scenario not available yet: `sscard bank export|import` does not exist yet (issue 7)")
}
