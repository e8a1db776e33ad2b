//! A real `sscard serve` process: started with the environment of one
//! scenario, watched through `/proc`, stopped with SIGTERM like systemd does.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::db::BenchDb;

/// The factor on the rate limits for the runs (`server.rate_limit_scale`):
/// one client address sends everything, so the per-address budgets would
/// otherwise measure the limiter.
pub const RATE_LIMIT_SCALE: &str = "1000000";

/// The release binary built by `cargo build --release`, next to this tool.
pub fn default_binary() -> PathBuf {
    let beside_self = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("sscard")));
    match beside_self {
        Some(path) if path.exists() => path,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/sscard"),
    }
}

/// A running server.
pub struct ServerProcess {
    child: tokio::process::Child,
    pub pid: u32,
    pub base_url: String,
    pub log: PathBuf,
    /// From the spawn to the first `200` of `GET /readyz`.
    pub ready_after: Duration,
}

impl ServerProcess {
    /// Starts `binary serve` on `db` on a free port of 127.0.0.1 and waits
    /// for `/readyz`. The server's own `SSCARD_*` settings are cleared so
    /// that nothing of the caller's environment changes the run.
    ///
    /// # Errors
    ///
    /// The binary is missing, the process exits, or it is not ready within
    /// two minutes.
    pub async fn start(binary: &Path, db: &BenchDb) -> anyhow::Result<Self> {
        if !binary.exists() {
            bail!(
                "the server binary {} does not exist: build it first with `cargo build --release` (or name one with --sscard PATH)",
                binary.display()
            );
        }
        let port = free_port()?;
        let log = db.dir().join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut command = tokio::process::Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SSCARD_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .env("SSCARD_DATABASE_URL", db.url.as_str())
            .env("SSCARD_KEY_FILE", db.key_file())
            .env("SSCARD_BLOB_DIR", db.blob_dir())
            .env("SSCARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SSCARD_RATE_LIMIT_SCALE", RATE_LIMIT_SCALE)
            // The tool plays the bureau's reverse proxy: the public's
            // requests name their client in X-Forwarded-For.
            .env("SSCARD_TRUSTED_PROXIES", "127.0.0.1/32")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the server has no process id")?;
        let base_url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().no_proxy().build()?;
        let ready_url = format!("{base_url}/readyz");
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; its log {}:\n{}",
                    log.display(),
                    tail(&log)
                );
            }
            if let Ok(response) = client.get(&ready_url).send().await
                && response.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!(
                    "the server was not ready within 2 minutes; log:\n{}",
                    tail(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(Self {
            child,
            pid,
            base_url,
            log,
            ready_after: started.elapsed(),
        })
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmHWM:").map(|kb| kb * 1024)
    }

    /// Resident memory now (`VmRSS`), in bytes.
    pub fn rss(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmRSS:").map(|kb| kb * 1024)
    }

    /// CPU time used so far (user + system).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&self.pid.to_string())
    }

    /// SIGTERM, then waits for the graceful stop (in-flight requests end,
    /// the pool closes, SQLite checkpoints).
    ///
    /// # Errors
    ///
    /// The server did not stop within a minute or stopped with a failure.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => bail!(
                "the server stopped with {status}; log {}:\n{}",
                self.log.display(),
                tail(&self.log)
            ),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the server did not stop within a minute of SIGTERM")
            }
        }
    }
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub(crate) fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// User + system CPU time of a process (`self` or a pid), from
/// `/proc/<pid>/stat` at the kernel's usual 100 ticks a second.
pub fn cpu_time_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its ')'.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The last lines of a log, for an error message.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
