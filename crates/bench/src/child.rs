//! A command of `sscard` (e.g. `sscard bank export`) run as a child process
//! on a scenario's database and measured: the wall time from spawn to exit,
//! and the peak resident memory — the kernel's own high-water mark
//! (`VmHWM` of `/proc/<pid>/status`), read every [`SAMPLE_EVERY`] while the
//! process runs. The mark only rises, so the last reading is the peak up to
//! that moment; growth in the final few milliseconds before the exit (when a
//! command frees, not allocates) is all a reading can miss.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::db::BenchDb;
use crate::server::proc_status_kb;

/// How often the child's `VmHWM` is read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// What a measured command did.
#[derive(Debug)]
pub struct ChildRun {
    pub status: ExitStatus,
    pub wall: Duration,
    /// Peak resident memory in bytes (`None` if it exited before the first
    /// reading).
    pub peak_rss: Option<u64>,
    /// Its standard output and error, in files beside the database.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl ChildRun {
    /// Its standard output (the summary `sscard` prints), trimmed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// The command exited with success, or an error with its output.
    ///
    /// # Errors
    ///
    /// It failed.
    pub fn ensure_success(&self, what: &str) -> anyhow::Result<()> {
        if self.status.success() {
            return Ok(());
        }
        bail!(
            "{what} failed ({}): {}\n{}",
            self.status,
            self.output(),
            crate::server::tail(&self.stderr)
        )
    }
}

/// Runs `binary args…` with the database, key file and blob folder of `db`
/// (and no other `SSCARD_*` setting of the caller), logging at `warn`, and
/// measures it; `label` names its output files.
///
/// # Errors
///
/// It cannot be started or waited for.
pub async fn run<I, S>(
    binary: &Path,
    args: I,
    db: &BenchDb,
    label: &str,
) -> anyhow::Result<ChildRun>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let stdout = db.dir().join(format!("{label}.out"));
    let stderr = db.dir().join(format!("{label}.err"));
    let mut command = tokio::process::Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SSCARD_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url.as_str())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_BLOB_DIR", db.blob_dir())
        .env("SSCARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&stdout)?))
        .stderr(Stdio::from(std::fs::File::create(&stderr)?))
        .kill_on_drop(true);
    let began = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let pid = child.id().context("the command has no process id")?;
    let mut peak: Option<u64> = None;
    let status = loop {
        if let Some(kb) = proc_status_kb(pid, "VmHWM:") {
            peak = peak.max(Some(kb * 1024));
        }
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    };
    Ok(ChildRun {
        status,
        wall: began.elapsed(),
        peak_rss: peak,
        stdout,
        stderr,
    })
}
