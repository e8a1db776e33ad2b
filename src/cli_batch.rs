//! `sscard batch run [BATCH_NO]`: the same 经办 as the worker in `sscard
//! serve`, on the command line, with a progress bar on the terminal. It may
//! run while servers run: chunks are claimed row by row, so no row is done
//! twice.

use std::io::IsTerminal as _;

use crate::service::Services;
use crate::service::batches::BatchSettings;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `sscard batch …`.
#[derive(Debug, clap::Subcommand)]
pub enum BatchCommand {
    /// Process the pending rows of accepted batches (待经办) now, chunk by
    /// chunk, and exit when none is left: of BATCH_NO only, or of every
    /// batch. A batch not yet accepted is not touched.
    Run {
        /// The batch number, e.g. PL-20261127-000001.
        batch_no: Option<String>,
    },
}

/// Runs a batch command on prepared services.
///
/// # Errors
///
/// The batch does not exist or is not in 待经办, or the database fails.
pub async fn run(
    services: Services,
    chunk_rows: usize,
    command: BatchCommand,
) -> anyhow::Result<()> {
    let services = services.with_batch_settings(BatchSettings { chunk_rows });
    let BatchCommand::Run { batch_no } = command;
    let (mut done, total) = pending(&services, batch_no.as_deref()).await?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} 逐行办理 [{bar:40}] {pos}/{len} 行 ({percent}%) {per_sec} 预计剩余 {eta} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(done);
    let (mut rows, mut activated, mut failed, mut finished) = (0u64, 0u64, 0u64, Vec::new());
    while let Some(chunk) = services
        .process_batch_chunk(batch_no.as_deref())
        .await
        .map_err(crate::cli::explain)?
    {
        done += chunk.rows;
        rows += chunk.rows;
        activated += chunk.activated;
        failed += chunk.failed;
        bar.set_position(done.min(total));
        bar.set_message(chunk.batch_no.clone());
        if chunk.finished {
            finished.push(chunk.batch_no);
        }
    }
    bar.finish_and_clear();
    services.store().close().await;
    println!(
        "逐行办理完成：本次办理 {rows} 行，启用 {activated} 行，失败 {failed} 行{}。",
        if finished.is_empty() {
            String::new()
        } else {
            format!("；办理完毕、转入待反馈的批量办件：{}", finished.join("、"))
        }
    );
    Ok(())
}

/// Rows done and in all of the batches this run will take.
async fn pending(services: &Services, batch_no: Option<&str>) -> anyhow::Result<(u64, u64)> {
    let backlog = services
        .batch_backlog(batch_no)
        .await
        .map_err(crate::cli::explain)?;
    if let Some((number, label)) = backlog.not_in_processing {
        anyhow::bail!("批量办件 {number} 当前为“{label}”，不在待经办，没有可办理的行。");
    }
    Ok((backlog.rows_done, backlog.rows_total))
}
