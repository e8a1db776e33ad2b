//! The process's logs on standard error: human-readable text for a person at
//! a terminal, or one JSON object per line for a log collector. Either way
//! an event inside a request carries the request span's fields (method,
//! route path, `request_id`); no query strings, bodies or personal data are
//! ever put into a span or an event.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`,
    /// the current `span` and the list of enclosing `spans` with their fields.
    Json,
}

/// The filter when `SSCARD_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// Installs the global subscriber (a no-op when one is installed already).
/// The level filter comes from `SSCARD_LOG` (`EnvFilter` syntax, e.g.
/// `debug` or `info,sscard=debug`).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("SSCARD_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    install(format, filter);
}

/// Installs the global subscriber with the filter `level` (`EnvFilter`
/// syntax), as resolved by [`crate::config`] from `[logging] level` /
/// `SSCARD_LOG`; the default filter if it does not parse (the configuration
/// has checked it already).
pub fn init_with(format: LogFormat, level: &str) {
    let filter = EnvFilter::builder()
        .parse(level)
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    install(format, filter);
}

fn install(format: LogFormat, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
