//! The effective configuration of a `sscard` command, merged from four
//! layers, lowest first:
//!
//! 1. the compiled-in defaults;
//! 2. the configuration file `sscard.toml`, read only when named by
//!    `--config FILE` or `SSCARD_CONFIG` (no file is looked for otherwise, so
//!    a stray `sscard.toml` in a working directory never changes what a
//!    command does);
//! 3. the `SSCARD_*` environment variables (an empty variable counts as
//!    unset, as with a blank line of a systemd `EnvironmentFile`);
//! 4. the command-line flags.
//!
//! The layers are merged here explicitly (the process environment is only
//! read, never written) and every value is checked once: an unknown key in
//! the file, or a value that does not parse, stops the command before it
//! does anything, naming the setting (TOML key, environment variable, flag),
//! the layer that gave the value and the reason. Secrets are never echoed.
//!
//! `docs/configuration.md` lists every setting; [`SETTINGS`] is the same
//! list in code, and a test keeps the two in step.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::http::metrics::{AddressRange, MetricsToken};
use crate::logging::LogFormat;
use crate::service::sms::SmsKey;
use crate::store::DatabaseUrl;

/// Default of `[database] url`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sscard.db";
/// Default of `[keys] file`.
pub const DEFAULT_KEY_FILE: &str = "data/keys.json";
/// Default of `[server] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "SSCARD_CONFIG";
/// The exit code of a command stopped by its configuration: `EX_CONFIG` of
/// sysexits(3), so a service manager need not retry what only an operator
/// can fix (`RestartPreventExitStatus=78` in `deploy/sscard.service`).
pub const EXIT_CONFIG: u8 = 78;

// ---------------------------------------------------------------------------
// Names

/// One setting's name in each layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    /// The TOML table (`[server]`).
    pub section: &'static str,
    /// The key inside it (`listen`).
    pub key: &'static str,
    /// The environment variable (`SSCARD_LISTEN`).
    pub env: &'static str,
    /// The flag (`--listen`), if the setting has one.
    pub flag: Option<&'static str>,
    /// A secret: never shown, never echoed in an error.
    pub secret: bool,
}

impl Name {
    const fn new(
        section: &'static str,
        key: &'static str,
        env: &'static str,
        flag: Option<&'static str>,
    ) -> Self {
        Self {
            section,
            key,
            env,
            flag,
            secret: false,
        }
    }

    const fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }

    /// `[server] listen (SSCARD_LISTEN, --listen)`.
    fn describe(&self) -> String {
        match self.flag {
            Some(flag) => format!("[{}] {} ({}, {flag})", self.section, self.key, self.env),
            None => format!("[{}] {} ({})", self.section, self.key, self.env),
        }
    }

    /// `[server] listen (SSCARD_LISTEN)`: for messages about the pair rule.
    fn short(&self) -> String {
        format!("[{}] {} ({})", self.section, self.key, self.env)
    }
}

pub const DATABASE_URL: Name = Name::new(
    "database",
    "url",
    "SSCARD_DATABASE_URL",
    Some("--database-url"),
);
pub const KEY_FILE: Name = Name::new("keys", "file", "SSCARD_KEY_FILE", Some("--key-file"));
pub const BLOB_DIR: Name = Name::new("blobs", "dir", "SSCARD_BLOB_DIR", Some("--blob-dir"));
pub const LOG_FORMAT: Name = Name::new(
    "logging",
    "format",
    "SSCARD_LOG_FORMAT",
    Some("--log-format"),
);
pub const LOG_LEVEL: Name = Name::new("logging", "level", "SSCARD_LOG", None);
pub const BATCH_CHUNK_ROWS: Name =
    Name::new("batches", "chunk_rows", "SSCARD_BATCH_CHUNK_ROWS", None);
pub const BANK_SIGNING_KEY_FILE: Name = Name::new(
    "bank",
    "signing_key_file",
    "SSCARD_BANK_SIGNING_KEY_FILE",
    None,
);
pub const LISTEN: Name = Name::new("server", "listen", "SSCARD_LISTEN", Some("--listen"));
pub const SECURE_COOKIES: Name = Name::new(
    "server",
    "secure_cookies",
    "SSCARD_SECURE_COOKIES",
    Some("--secure-cookies"),
);
pub const RATE_LIMIT_SCALE: Name = Name::new(
    "server",
    "rate_limit_scale",
    "SSCARD_RATE_LIMIT_SCALE",
    Some("--rate-limit-scale"),
);
pub const TRUSTED_PROXIES: Name = Name::new(
    "server",
    "trusted_proxies",
    "SSCARD_TRUSTED_PROXIES",
    Some("--trusted-proxies"),
);
pub const PUBLIC_URL: Name = Name::new(
    "server",
    "public_url",
    "SSCARD_PUBLIC_URL",
    Some("--public-url"),
);
pub const SLIP_FONTS: Name = Name::new("slip", "fonts", "SSCARD_SLIP_FONTS", None);
pub const SLIP_SIGNING_KEY_FILE: Name = Name::new(
    "slip",
    "signing_key_file",
    "SSCARD_SLIP_SIGNING_KEY_FILE",
    None,
);
pub const FOLLOW_UP_WORKING_DAYS: Name = Name::new(
    "ratings",
    "follow_up_working_days",
    "SSCARD_FOLLOW_UP_WORKING_DAYS",
    None,
);
pub const SMS_URL: Name = Name::new("sms", "url", "SSCARD_SMS_URL", Some("--sms-url"));
pub const SMS_KEY: Name = Name::new("sms", "key", "SSCARD_SMS_KEY", Some("--sms-key")).secret();
pub const METRICS_ALLOW: Name = Name::new(
    "metrics",
    "allow",
    "SSCARD_METRICS_ALLOW",
    Some("--metrics-allow"),
);
pub const METRICS_TOKEN: Name = Name::new(
    "metrics",
    "token",
    "SSCARD_METRICS_TOKEN",
    Some("--metrics-token"),
)
.secret();

/// Every setting, in the order `sscard config print` shows them.
pub const SETTINGS: &[Name] = &[
    DATABASE_URL,
    KEY_FILE,
    BLOB_DIR,
    LOG_FORMAT,
    LOG_LEVEL,
    BATCH_CHUNK_ROWS,
    BANK_SIGNING_KEY_FILE,
    LISTEN,
    SECURE_COOKIES,
    RATE_LIMIT_SCALE,
    TRUSTED_PROXIES,
    PUBLIC_URL,
    SMS_URL,
    SMS_KEY,
    METRICS_ALLOW,
    METRICS_TOKEN,
    SLIP_FONTS,
    SLIP_SIGNING_KEY_FILE,
    FOLLOW_UP_WORKING_DAYS,
];

// ---------------------------------------------------------------------------
// Layers

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    File,
    Env,
    Flag,
}

/// A value with its origin.
#[derive(Clone, Debug)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Self {
            value,
            origin: Origin::Default,
        }
    }
}

/// A secret given on the command line; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg(pub String);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(<hidden>)")
    }
}

/// The flags every command takes (the highest layer).
#[derive(Clone, Debug, Default)]
pub struct GlobalFlags {
    pub config: Option<PathBuf>,
    pub database_url: Option<String>,
    pub key_file: Option<PathBuf>,
    pub blob_dir: Option<PathBuf>,
    pub log_format: Option<String>,
}

/// The flags of the server settings, taken by `sscard serve` and by
/// `sscard config print` (which shows what `serve` would use with them).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServerFlags {
    /// Address to listen on, e.g. 0.0.0.0:8080 [file: server.listen; env:
    /// SSCARD_LISTEN; default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub listen: Option<String>,
    /// The site is reached over HTTPS (directly or through a
    /// TLS-terminating proxy): session cookies get `Secure` and answers
    /// carry Strict-Transport-Security. `--secure-cookies` alone means
    /// true; `--secure-cookies=false` overrides a file or variable
    /// [file: server.secure_cookies; env: SSCARD_SECURE_COOKIES (1/true/yes
    /// or 0/false/no); default: off].
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub secure_cookies: Option<String>,
    /// Multiplies every per-client rate limit (sign-in, one-time codes,
    /// progress query, identifier pre-check): the burst by it, the refill
    /// interval divided by it. For load tests and for a site whose clients
    /// all come through one address; 1 keeps the production budgets
    /// [file: server.rate_limit_scale; env: SSCARD_RATE_LIMIT_SCALE;
    /// default: 1; 0.01 to 1000000].
    #[arg(long, value_name = "FACTOR")]
    pub rate_limit_scale: Option<String>,
    /// The reverse proxies (CIDR, comma-separated or repeated) whose
    /// `X-Forwarded-For` header names the client, for the rate limits, the
    /// per-address sign-in counters and the audit trail. Only the
    /// right-most untrusted address of the header is believed [file:
    /// server.trusted_proxies; env: SSCARD_TRUSTED_PROXIES; default: none,
    /// the connection's peer is the client].
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub trusted_proxies: Vec<String>,
    /// The address people reach this site at, e.g.
    /// https://sscard.example.gov.cn: the 业务反馈单's QR code and printed
    /// link point to <public-url>/verify/<code> [file: server.public_url;
    /// env: SSCARD_PUBLIC_URL; default: http:// and the listen address].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The SMS provider (or intranet SMS relay) one-time codes are posted
    /// to, http:// or https://; needs the key too. Without both SMS is
    /// simulated: messages go to the log and to an outbox administrators
    /// can read [file: sms.url; env: SSCARD_SMS_URL].
    #[arg(long, value_name = "URL")]
    pub sms_url: Option<String>,
    /// The SMS provider's API key, sent as `Authorization: Bearer <key>`.
    /// A secret: prefer the environment variable SSCARD_SMS_KEY (e.g. from
    /// a systemd EnvironmentFile) to the command line [file: sms.key].
    #[arg(long, value_name = "KEY")]
    pub sms_key: Option<SecretArg>,
    /// Client address ranges (CIDR, comma-separated or repeated) that may
    /// read /metrics without a token: the peer address of the connection
    /// [file: metrics.allow; env: SSCARD_METRICS_ALLOW; default:
    /// 127.0.0.1/32,::1/128].
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub metrics_allow: Vec<String>,
    /// A bearer token (16 characters or more) that opens /metrics from any
    /// address. A secret: prefer the environment variable
    /// SSCARD_METRICS_TOKEN [file: metrics.token].
    #[arg(long, value_name = "TOKEN")]
    pub metrics_token: Option<SecretArg>,
}

/// Reads one environment variable (`std::env::var` in the binary, a map in
/// tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`Config::load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

// ---------------------------------------------------------------------------
// The file

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    keys: KeysSection,
    #[serde(default)]
    blobs: BlobsSection,
    #[serde(default)]
    logging: LoggingSection,
    #[serde(default)]
    batches: BatchesSection,
    #[serde(default)]
    bank: BankSection,
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    sms: SmsSection,
    #[serde(default)]
    metrics: MetricsSection,
    #[serde(default)]
    slip: SlipSection,
    #[serde(default)]
    ratings: RatingsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingsSection {
    follow_up_working_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSection {
    file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobsSection {
    dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BankSection {
    signing_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchesSection {
    chunk_rows: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoggingSection {
    format: Option<String>,
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
    secure_cookies: Option<bool>,
    rate_limit_scale: Option<f64>,
    trusted_proxies: Option<Vec<String>>,
    public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlipSection {
    fonts: Option<Vec<String>>,
    signing_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsSection {
    url: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    allow: Option<Vec<String>>,
    token: Option<String>,
}

/// The configuration file and how it was named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// `--config` or `SSCARD_CONFIG`.
    pub named_by: &'static str,
}

// ---------------------------------------------------------------------------
// Errors

/// Why the configuration cannot be used. Never carries a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path} (named by {named_by}): {reason}")]
    Read {
        path: String,
        named_by: &'static str,
        reason: String,
    },
    #[error("the configuration file {path} is not valid: {location}{message}")]
    Syntax {
        path: String,
        location: String,
        message: String,
    },
    #[error("invalid {setting}, given by {given_by}: {reason}")]
    Invalid {
        setting: String,
        given_by: String,
        reason: String,
    },
    #[error("{0}")]
    Incomplete(String),
}

// ---------------------------------------------------------------------------
// The effective configuration

/// The settings every command uses.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file read, if any.
    pub file: Option<ConfigFile>,
    pub database_url: Setting<DatabaseUrl>,
    pub key_file: Setting<PathBuf>,
    /// Where uploaded scans are kept; by default `blobs/` beside the SQLite
    /// file, or beside the key file for PostgreSQL.
    pub blob_dir: Setting<PathBuf>,
    pub log_format: Setting<LogFormat>,
    /// A tracing `EnvFilter` directive, checked.
    pub log_level: Setting<String>,
    /// 单位批量启用: rows per chunk transaction (and audit entry) of the
    /// batch worker (`serve`, `batch run`).
    pub batch_chunk_rows: Setting<usize>,
    /// The bureau's SM2 key that signs answers to banks' systems (PEM),
    /// checked to read; `None`: a key generated and kept sealed in the
    /// database. Every command (`serve` signs, `bank server-key` shows it).
    pub bank_signing_key_file: Setting<Option<PathBuf>>,
    /// The server settings: resolved for `serve` and `config print` only,
    /// so another command is not stopped by, say, a half-configured SMS
    /// provider in the environment it does not use.
    pub server: Option<ServerConfig>,
    /// Problems worth a warning once logging is set up (e.g. secrets in a
    /// file others may read).
    pub warnings: Vec<String>,
}

/// The settings of `sscard serve`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: Setting<SocketAddr>,
    pub secure_cookies: Setting<bool>,
    /// The factor applied to every rate limit (1 = production budgets).
    pub rate_limit_scale: Setting<f64>,
    /// The reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Setting<Vec<AddressRange>>,
    /// The site's public address without a trailing slash; `None`: derived
    /// from the listen address ([`ServerConfig::public_url`]).
    pub public_url: Setting<Option<String>>,
    /// The slip's fonts, primary first.
    pub slip_fonts: Setting<Vec<crate::slip::fonts::FontSpec>>,
    /// The bureau's SM2 key for slips (PEM), checked to read; `None`: a key
    /// generated and kept sealed in the database.
    pub slip_signing_key_file: Setting<Option<PathBuf>>,
    /// 好差评: working days from a bad rating to its follow-up's due day.
    pub follow_up_working_days: Setting<u32>,
    /// A checked `http://` or `https://` address.
    pub sms_url: Setting<Option<String>>,
    pub sms_key: Setting<Option<SmsKey>>,
    pub metrics_allow: Setting<Vec<AddressRange>>,
    pub metrics_token: Setting<Option<MetricsToken>>,
}

impl ServerConfig {
    /// The site's public address: `[server] public_url`, or `http://` and
    /// the listen address (`127.0.0.1` for an unspecified one).
    #[must_use]
    pub fn public_url(&self) -> String {
        self.public_url.value.clone().unwrap_or_else(|| {
            let mut listen = self.listen.value;
            if listen.ip().is_unspecified() {
                listen.set_ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
            }
            format!("http://{listen}")
        })
    }
}

/// The layers below the flags, and the file's name for messages.
struct Layers<'a> {
    file: FileConfig,
    file_path: Option<&'a Path>,
    env: Env<'a>,
}

impl Layers<'_> {
    fn env(&self, name: &Name) -> Option<String> {
        (self.env)(name.env).filter(|value| !value.is_empty())
    }

    /// The highest layer that gives `name` a value.
    fn pick(
        &self,
        name: &Name,
        file: Option<String>,
        flag: Option<String>,
    ) -> Option<(String, Origin)> {
        if let Some(value) = flag {
            return Some((value, Origin::Flag));
        }
        if let Some(value) = self.env(name) {
            return Some((value, Origin::Env));
        }
        file.map(|value| (value, Origin::File))
    }

    fn given_by(&self, name: &Name, origin: Origin) -> String {
        match origin {
            Origin::Default => "the default".to_owned(),
            Origin::File => match self.file_path {
                Some(path) => format!("the configuration file {}", path.display()),
                None => "the configuration file".to_owned(),
            },
            Origin::Env => format!("the environment variable {}", name.env),
            Origin::Flag => format!("the flag {}", name.flag.unwrap_or("?")),
        }
    }

    fn invalid(&self, name: &Name, origin: Origin, reason: String) -> ConfigError {
        ConfigError::Invalid {
            setting: name.describe(),
            given_by: self.given_by(name, origin),
            reason,
        }
    }

    /// Picks and parses one setting; `default` when no layer gives it.
    fn resolve<T>(
        &self,
        name: &Name,
        file: Option<String>,
        flag: Option<String>,
        default: impl FnOnce() -> T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Setting<T>, ConfigError> {
        match self.pick(name, file, flag) {
            None => Ok(Setting::default(default())),
            Some((raw, origin)) => parse(&raw)
                .map(|value| Setting { value, origin })
                .map_err(|reason| self.invalid(name, origin, reason)),
        }
    }
}

impl Config {
    /// Merges the layers. `server` is `Some` for the commands that use the
    /// server settings (`serve`, `config print`).
    ///
    /// # Errors
    ///
    /// The named file cannot be read or is not valid TOML of the known keys,
    /// or a value is invalid.
    pub fn load(
        flags: &GlobalFlags,
        server: Option<&ServerFlags>,
        env: Env<'_>,
    ) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            Some(path) => Some(ConfigFile {
                path: path.clone(),
                named_by: "--config",
            }),
            None => env(CONFIG_ENV)
                .filter(|value| !value.is_empty())
                .map(|path| ConfigFile {
                    path: PathBuf::from(path),
                    named_by: CONFIG_ENV,
                }),
        };
        let mut warnings = Vec::new();
        let parsed = match &file {
            Some(file) => read_file(file, &mut warnings)?,
            None => FileConfig::default(),
        };
        let layers = Layers {
            file: parsed,
            file_path: file.as_ref().map(|file| file.path.as_path()),
            env,
        };
        let database_url = layers.resolve(
            &DATABASE_URL,
            layers.file.database.url.clone(),
            flags.database_url.clone(),
            || DatabaseUrl::parse(DEFAULT_DATABASE_URL).expect("the default database URL parses"),
            |raw| DatabaseUrl::parse(raw).map_err(|error| error.to_string()),
        )?;
        // A flag's path is taken as given (it need not be UTF-8).
        let key_file = match &flags.key_file {
            Some(path) => Setting {
                value: path.clone(),
                origin: Origin::Flag,
            },
            None => layers.resolve(
                &KEY_FILE,
                layers.file.keys.file.clone(),
                None,
                || PathBuf::from(DEFAULT_KEY_FILE),
                parse_path,
            )?,
        };
        let blob_dir = match &flags.blob_dir {
            Some(path) => Setting {
                value: path.clone(),
                origin: Origin::Flag,
            },
            None => layers.resolve(
                &BLOB_DIR,
                layers.file.blobs.dir.clone(),
                None,
                || crate::server::default_blob_dir(&database_url.value, &key_file.value),
                parse_path,
            )?,
        };
        let log_format = layers.resolve(
            &LOG_FORMAT,
            layers.file.logging.format.clone(),
            flags.log_format.clone(),
            LogFormat::default,
            parse_log_format,
        )?;
        let log_level = layers.resolve(
            &LOG_LEVEL,
            layers.file.logging.level.clone(),
            None,
            || crate::logging::DEFAULT_FILTER.to_owned(),
            parse_log_level,
        )?;
        let batch_chunk_rows = layers.resolve(
            &BATCH_CHUNK_ROWS,
            layers.file.batches.chunk_rows.map(|rows| rows.to_string()),
            None,
            || crate::service::batches::DEFAULT_CHUNK_ROWS,
            parse_chunk_rows,
        )?;
        let bank_signing_key_file = layers.resolve(
            &BANK_SIGNING_KEY_FILE,
            layers.file.bank.signing_key_file.clone(),
            None,
            || None,
            |raw| {
                let path = parse_path(raw)?;
                crate::service::signing_keys::read_signing_key_file(&path)?;
                Ok(Some(path))
            },
        )?;
        let server = match server {
            Some(flags) => Some(layers.server(flags)?),
            None => None,
        };
        Ok(Self {
            file,
            database_url,
            key_file,
            blob_dir,
            log_format,
            log_level,
            batch_chunk_rows,
            bank_signing_key_file,
            server,
            warnings,
        })
    }

    /// The effective configuration as TOML: each value followed by its
    /// origin, secrets as `"<hidden>"`, unset values as comments. With the
    /// secrets filled in again it is a valid `sscard.toml`.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str("# The effective configuration of sscard. Layers, lowest first:\n");
        out.push_str("# default < configuration file < SSCARD_* environment variables < flags.\n");
        match &self.file {
            Some(file) => {
                let _ = writeln!(
                    out,
                    "# Configuration file: {} (named by {})",
                    file.path.display(),
                    file.named_by
                );
            }
            None => out.push_str(
                "# Configuration file: none (neither --config nor SSCARD_CONFIG is set)\n",
            ),
        }
        out.push_str("# Secrets are shown as \"<hidden>\".\n");

        section(&mut out, "database");
        line(
            &mut out,
            &DATABASE_URL,
            self.database_url.origin,
            Some(toml_string(&database_url_shown(&self.database_url.value))),
        );
        section(&mut out, "keys");
        line(
            &mut out,
            &KEY_FILE,
            self.key_file.origin,
            Some(toml_string(&self.key_file.value.to_string_lossy())),
        );
        section(&mut out, "blobs");
        line(
            &mut out,
            &BLOB_DIR,
            self.blob_dir.origin,
            Some(toml_string(&self.blob_dir.value.to_string_lossy())),
        );
        section(&mut out, "logging");
        line(
            &mut out,
            &LOG_FORMAT,
            self.log_format.origin,
            Some(toml_string(match self.log_format.value {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            })),
        );
        line(
            &mut out,
            &LOG_LEVEL,
            self.log_level.origin,
            Some(toml_string(&self.log_level.value)),
        );
        section(&mut out, "batches");
        line(
            &mut out,
            &BATCH_CHUNK_ROWS,
            self.batch_chunk_rows.origin,
            Some(self.batch_chunk_rows.value.to_string()),
        );
        section(&mut out, "bank");
        line(
            &mut out,
            &BANK_SIGNING_KEY_FILE,
            self.bank_signing_key_file.origin,
            self.bank_signing_key_file
                .value
                .as_ref()
                .map(|path| toml_string(&path.to_string_lossy())),
        );
        if let Some(server) = &self.server {
            section(&mut out, "server");
            line(
                &mut out,
                &LISTEN,
                server.listen.origin,
                Some(toml_string(&server.listen.value.to_string())),
            );
            line(
                &mut out,
                &SECURE_COOKIES,
                server.secure_cookies.origin,
                Some(server.secure_cookies.value.to_string()),
            );
            line(
                &mut out,
                &RATE_LIMIT_SCALE,
                server.rate_limit_scale.origin,
                Some(format!("{:?}", server.rate_limit_scale.value)),
            );
            let proxies: Vec<String> = server
                .trusted_proxies
                .value
                .iter()
                .map(|range| toml_string(&range.to_string()))
                .collect();
            line(
                &mut out,
                &TRUSTED_PROXIES,
                server.trusted_proxies.origin,
                Some(format!("[{}]", proxies.join(", "))),
            );
            line(
                &mut out,
                &PUBLIC_URL,
                server.public_url.origin,
                Some(toml_string(&server.public_url())),
            );
            section(&mut out, "sms");
            line(
                &mut out,
                &SMS_URL,
                server.sms_url.origin,
                server.sms_url.value.as_deref().map(toml_string),
            );
            line(
                &mut out,
                &SMS_KEY,
                server.sms_key.origin,
                server.sms_key.value.as_ref().map(|_| hidden()),
            );
            section(&mut out, "metrics");
            let ranges: Vec<String> = server
                .metrics_allow
                .value
                .iter()
                .map(|range| toml_string(&range.to_string()))
                .collect();
            line(
                &mut out,
                &METRICS_ALLOW,
                server.metrics_allow.origin,
                Some(format!("[{}]", ranges.join(", "))),
            );
            line(
                &mut out,
                &METRICS_TOKEN,
                server.metrics_token.origin,
                server.metrics_token.value.as_ref().map(|_| hidden()),
            );
            section(&mut out, "slip");
            let fonts: Vec<String> = server
                .slip_fonts
                .value
                .iter()
                .map(|font| toml_string(&font.to_string()))
                .collect();
            line(
                &mut out,
                &SLIP_FONTS,
                server.slip_fonts.origin,
                Some(format!("[{}]", fonts.join(", "))),
            );
            line(
                &mut out,
                &SLIP_SIGNING_KEY_FILE,
                server.slip_signing_key_file.origin,
                server
                    .slip_signing_key_file
                    .value
                    .as_ref()
                    .map(|path| toml_string(&path.to_string_lossy())),
            );
            section(&mut out, "ratings");
            line(
                &mut out,
                &FOLLOW_UP_WORKING_DAYS,
                server.follow_up_working_days.origin,
                Some(server.follow_up_working_days.value.to_string()),
            );
        }
        out
    }
}

impl Layers<'_> {
    fn server(&self, flags: &ServerFlags) -> Result<ServerConfig, ConfigError> {
        let file = &self.file;
        let listen = self.resolve(
            &LISTEN,
            file.server.listen.clone(),
            flags.listen.clone(),
            || DEFAULT_LISTEN.parse().expect("the default address parses"),
            |raw| {
                raw.trim().parse::<SocketAddr>().map_err(|_| {
                    format!(
                        "`{raw}` is not an IP address and port such as 127.0.0.1:8080 or [::]:8080"
                    )
                })
            },
        )?;
        let secure_cookies = self.resolve(
            &SECURE_COOKIES,
            file.server.secure_cookies.map(|value| value.to_string()),
            flags.secure_cookies.clone(),
            || false,
            parse_bool,
        )?;
        let rate_limit_scale = self.resolve(
            &RATE_LIMIT_SCALE,
            file.server.rate_limit_scale.map(|value| value.to_string()),
            flags.rate_limit_scale.clone(),
            || 1.0,
            parse_rate_limit_scale,
        )?;
        let trusted_proxies = self.address_ranges(
            &TRUSTED_PROXIES,
            file.server.trusted_proxies.clone(),
            &flags.trusted_proxies,
        )?;
        let sms_url = self.resolve(
            &SMS_URL,
            file.sms.url.clone(),
            flags.sms_url.clone(),
            || None,
            parse_sms_url,
        )?;
        let sms_key = self.resolve(
            &SMS_KEY,
            file.sms.key.clone(),
            flags.sms_key.clone().map(|key| key.0),
            || None,
            |raw| {
                if raw.trim().is_empty() {
                    return Ok(None);
                }
                SmsKey::new(raw)
                    .map(Some)
                    .map_err(|_| "the key must be printable text without spaces".to_owned())
            },
        )?;
        match (&sms_url.value, &sms_key.value) {
            (Some(_), None) => {
                return Err(ConfigError::Incomplete(format!(
                    "{} is set (by {}) but {} is not: the SMS provider needs its API key; set both, or neither to simulate SMS",
                    SMS_URL.short(),
                    self.given_by(&SMS_URL, sms_url.origin),
                    SMS_KEY.short(),
                )));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Incomplete(format!(
                    "{} is set (by {}) but {} is not: give the SMS provider's address, or remove the key to simulate SMS",
                    SMS_KEY.short(),
                    self.given_by(&SMS_KEY, sms_key.origin),
                    SMS_URL.short(),
                )));
            }
            _ => {}
        }
        let flag_ranges = (!flags.metrics_allow.is_empty()).then(|| flags.metrics_allow.clone());
        let metrics_allow = match flag_ranges
            .map(|ranges| (ranges, Origin::Flag))
            .or_else(|| {
                self.env(&METRICS_ALLOW)
                    .map(|value| (value.split(',').map(str::to_owned).collect(), Origin::Env))
                    .or_else(|| {
                        file.metrics
                            .allow
                            .clone()
                            .map(|ranges| (ranges, Origin::File))
                    })
            }) {
            None => Setting::default(AddressRange::loopback()),
            Some((ranges, origin)) => Setting {
                value: ranges
                    .iter()
                    .map(|range| range.parse::<AddressRange>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|reason| self.invalid(&METRICS_ALLOW, origin, reason))?,
                origin,
            },
        };
        let metrics_token = self.resolve(
            &METRICS_TOKEN,
            file.metrics.token.clone(),
            flags.metrics_token.clone().map(|token| token.0),
            || None,
            |raw| {
                if raw.trim().is_empty() {
                    return Ok(None);
                }
                MetricsToken::new(raw).map(Some)
            },
        )?;
        let public_url = self.resolve(
            &PUBLIC_URL,
            file.server.public_url.clone(),
            flags.public_url.clone(),
            || None,
            parse_public_url,
        )?;
        let slip_fonts = match self
            .env(&SLIP_FONTS)
            .map(|value| (value.split(',').map(str::to_owned).collect(), Origin::Env))
            .or_else(|| file.slip.fonts.clone().map(|fonts| (fonts, Origin::File)))
        {
            None => Setting::default(crate::slip::fonts::FontSpec::defaults()),
            Some((fonts, origin)) => Setting {
                value: crate::slip::fonts::FontSpec::parse_list(fonts.iter().map(String::as_str))
                    .map_err(|reason| self.invalid(&SLIP_FONTS, origin, reason))?,
                origin,
            },
        };
        let slip_signing_key_file = self.resolve(
            &SLIP_SIGNING_KEY_FILE,
            file.slip.signing_key_file.clone(),
            None,
            || None,
            |raw| {
                let path = parse_path(raw)?;
                crate::service::signing_keys::read_signing_key_file(&path)?;
                Ok(Some(path))
            },
        )?;
        let follow_up_working_days = self.resolve(
            &FOLLOW_UP_WORKING_DAYS,
            file.ratings
                .follow_up_working_days
                .map(|days| days.to_string()),
            None,
            || sscard_domain::rating::DEFAULT_FOLLOW_UP_WORKING_DAYS,
            parse_follow_up_working_days,
        )?;
        Ok(ServerConfig {
            follow_up_working_days,
            listen,
            secure_cookies,
            rate_limit_scale,
            trusted_proxies,
            public_url,
            slip_fonts,
            slip_signing_key_file,
            sms_url,
            sms_key,
            metrics_allow,
            metrics_token,
        })
    }
}

impl Layers<'_> {
    /// A list of address ranges (none by default): the flag (repeated or
    /// comma-separated), else the variable (comma-separated), else the
    /// file's array.
    fn address_ranges(
        &self,
        name: &Name,
        file: Option<Vec<String>>,
        flag: &[String],
    ) -> Result<Setting<Vec<AddressRange>>, ConfigError> {
        let picked = if flag.is_empty() {
            self.env(name)
                .map(|value| (value.split(',').map(str::to_owned).collect(), Origin::Env))
                .or_else(|| file.map(|ranges| (ranges, Origin::File)))
        } else {
            Some((flag.to_vec(), Origin::Flag))
        };
        let Some((ranges, origin)) = picked else {
            return Ok(Setting::default(Vec::new()));
        };
        let value = ranges
            .iter()
            .map(|range| range.trim())
            .filter(|range| !range.is_empty())
            .map(str::parse::<AddressRange>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| self.invalid(name, origin, reason))?;
        Ok(Setting { value, origin })
    }
}

fn read_file(file: &ConfigFile, warnings: &mut Vec<String>) -> Result<FileConfig, ConfigError> {
    let path = file.path.display().to_string();
    let text = std::fs::read_to_string(&file.path).map_err(|error| ConfigError::Read {
        path: path.clone(),
        named_by: file.named_by,
        reason: error.to_string(),
    })?;
    // The message and position only: toml's own rendering quotes the whole
    // line, which could hold a secret.
    let parsed: FileConfig = toml::from_str(&text).map_err(|error| {
        let location = error
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        ConfigError::Syntax {
            path: path.clone(),
            location,
            message: error.message().trim().to_owned(),
        }
    })?;
    if parsed.sms.key.is_some() || parsed.metrics.token.is_some() {
        readable_by_others(&file.path, &path, warnings);
    }
    Ok(parsed)
}

#[cfg(unix)]
fn readable_by_others(path: &Path, shown: &str, warnings: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o007 != 0
    {
        warnings.push(format!(
            "the configuration file {shown} holds a secret ([sms] key or [metrics] token) but every user of this machine may read it: chmod o-rwx it, or move the secret into the environment (a systemd EnvironmentFile)"
        ));
    }
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path, _: &str, _: &mut Vec<String>) {}

// ---------------------------------------------------------------------------
// Values

fn parse_path(raw: &str) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("the path is empty".to_owned());
    }
    Ok(PathBuf::from(raw))
}

fn parse_chunk_rows(raw: &str) -> Result<usize, String> {
    let max = crate::service::batches::MAX_CHUNK_ROWS;
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|rows| (1..=max).contains(rows))
        .ok_or_else(|| format!("`{raw}` is not a number of rows from 1 to {max}"))
}

fn parse_log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("`{raw}` is not a log format: use `text` or `json`")),
    }
}

fn parse_log_level(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    tracing_subscriber::EnvFilter::builder()
        .parse(raw)
        .map(|_| raw.to_owned())
        .map_err(|error| {
            format!(
                "`{raw}` is not a log filter ({error}): use a level such as `info` or `debug`, or directives such as `info,sscard=debug`"
            )
        })
}

/// A factor for the rate limits: a number from 0.01 to 1,000,000.
fn parse_rate_limit_scale(raw: &str) -> Result<f64, String> {
    let value: f64 = raw.trim().parse().map_err(|_| {
        format!("`{raw}` is not a number: use a factor such as 1 (production) or 1000")
    })?;
    if value.is_finite() && (0.01..=1_000_000.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is out of range: use a factor from 0.01 to 1000000"
        ))
    }
}

/// The site's address: `http://` or `https://`, a host, no credentials,
/// query or fragment; kept without a trailing slash.
fn parse_public_url(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    let url = url::Url::parse(raw).map_err(|error| {
        format!("`{raw}` is not a URL ({error}); give the address people open, such as https://sscard.example.gov.cn")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme `{}` is not served: use http:// or https://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the address names no host".to_owned());
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(
            "give the site's address only, without a user name, password, query or fragment"
                .to_owned(),
        );
    }
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

/// 1 to [`sscard_domain::rating::MAX_FOLLOW_UP_WORKING_DAYS`] working days.
fn parse_follow_up_working_days(raw: &str) -> Result<u32, String> {
    let max = sscard_domain::rating::MAX_FOLLOW_UP_WORKING_DAYS;
    match raw.trim().parse::<u32>() {
        Ok(days) if (1..=max).contains(&days) => Ok(days),
        _ => Err(format!(
            "`{raw}` is not a number of working days from 1 to {max} (the time limit to follow up a bad rating)"
        )),
    }
}

/// The words clap's `BoolishValueParser` accepts.
fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "on" | "t" => Ok(true),
        "0" | "false" | "no" | "n" | "off" | "f" => Ok(false),
        _ => Err(format!(
            "`{raw}` is not a yes/no value: use true/false, yes/no, on/off or 1/0"
        )),
    }
}

/// An `http://` or `https://` address with a host and no credentials. The
/// value is not echoed: a mistaken one might carry a password.
fn parse_sms_url(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(raw).map_err(|error| {
        format!("not a URL ({error}); give an address such as https://sms.example.gov.cn/send")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme `{}` is not served: use http:// or https://",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the address carries a user name or password: put the credentials into the SMS key ([sms] key / SSCARD_SMS_KEY) instead"
                .to_owned(),
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the address names no host".to_owned());
    }
    Ok(Some(raw.to_owned()))
}

// ---------------------------------------------------------------------------
// Printing

fn hidden() -> String {
    toml_string("<hidden>")
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The database URL with any password shown as `<hidden>`.
fn database_url_shown(url: &DatabaseUrl) -> String {
    let text = url.as_str();
    match url::Url::parse(text) {
        Ok(parsed) => match parsed.password() {
            Some(password) => text.replacen(&format!(":{password}@"), ":<hidden>@", 1),
            None => text.to_owned(),
        },
        Err(_) => text.to_owned(),
    }
}

fn section(out: &mut String, name: &str) {
    let _ = write!(out, "\n[{name}]\n");
}

fn origin_comment(name: &Name, origin: Origin) -> String {
    match origin {
        Origin::Default => "default".to_owned(),
        Origin::File => "file".to_owned(),
        Origin::Env => format!("env {}", name.env),
        Origin::Flag => format!("flag {}", name.flag.unwrap_or("?")),
    }
}

/// `key = value # origin`, or `# key: not set # origin` without a value.
fn line(out: &mut String, name: &Name, origin: Origin, value: Option<String>) {
    let origin = origin_comment(name, origin);
    let _ = match value {
        Some(value) => writeln!(out, "{} = {value} # {origin}", name.key),
        None => writeln!(out, "# {}: not set # {origin}", name.key),
    };
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(
        flags: &GlobalFlags,
        server: Option<&ServerFlags>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        Config::load(flags, server, &|name| env.get(name).cloned())
    }

    #[test]
    fn without_file_env_or_flags_the_defaults_hold() {
        let config = load(
            &GlobalFlags::default(),
            Some(&ServerFlags::default()),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(config.database_url.value.as_str(), DEFAULT_DATABASE_URL);
        assert_eq!(config.key_file.value, PathBuf::from(DEFAULT_KEY_FILE));
        assert_eq!(config.log_format.value, LogFormat::Text);
        let server = config.server.unwrap();
        assert_eq!(server.listen.value.to_string(), DEFAULT_LISTEN);
        assert_eq!(server.listen.origin, Origin::Default);
        assert!(!server.secure_cookies.value);
        assert!(server.sms_url.value.is_none());
        assert_eq!(server.metrics_allow.value, AddressRange::loopback());
        assert!(server.metrics_token.value.is_none());
    }

    #[test]
    fn a_flag_beats_the_environment_and_an_empty_variable_is_unset() {
        let env = env_of(&[("SSCARD_LISTEN", "0.0.0.0:9000"), ("SSCARD_LOG_FORMAT", "")]);
        let flags = ServerFlags {
            listen: Some("127.0.0.1:7000".to_owned()),
            secure_cookies: Some("true".to_owned()),
            ..ServerFlags::default()
        };
        let config = load(&GlobalFlags::default(), Some(&flags), &env).unwrap();
        let server = config.server.unwrap();
        assert_eq!(server.listen.value.to_string(), "127.0.0.1:7000");
        assert_eq!(server.listen.origin, Origin::Flag);
        assert!(server.secure_cookies.value);
        assert_eq!(config.log_format.origin, Origin::Default);

        let config = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env).unwrap();
        assert_eq!(config.server.unwrap().listen.origin, Origin::Env);
    }

    #[test]
    fn invalid_values_name_the_setting_and_the_layer() {
        let env = env_of(&[("SSCARD_METRICS_ALLOW", "10.0.0.0/8,10.0.0.0/99")]);
        let error = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[metrics] allow"), "{error}");
        assert!(error.contains("SSCARD_METRICS_ALLOW"), "{error}");
        assert!(error.contains("the environment variable"), "{error}");
        assert!(error.contains("prefix length"), "{error}");

        let flags = GlobalFlags {
            log_format: Some("yaml".to_owned()),
            ..GlobalFlags::default()
        };
        let error = load(&flags, None, &HashMap::new()).unwrap_err().to_string();
        assert!(error.contains("[logging] format (SSCARD_LOG_FORMAT, --log-format)"));
        assert!(error.contains("the flag --log-format"), "{error}");

        let env = env_of(&[
            ("SSCARD_SMS_URL", "ftp://sms.example/"),
            ("SSCARD_SMS_KEY", "k"),
        ]);
        let error = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[sms] url"), "{error}");
        assert!(error.contains("scheme `ftp`"), "{error}");

        let env = env_of(&[("SSCARD_LOG", "info,[[[")]);
        let error = load(&GlobalFlags::default(), None, &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[logging] level (SSCARD_LOG)"), "{error}");
    }

    #[test]
    fn secrets_are_never_echoed() {
        let env = env_of(&[("SSCARD_METRICS_TOKEN", "short-secret")]);
        let error = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[metrics] token"), "{error}");
        assert!(!error.contains("short-secret"), "{error}");

        let env = env_of(&[
            ("SSCARD_SMS_URL", "https://sms.example.gov.cn/send"),
            ("SSCARD_SMS_KEY", "sms-secret-key"),
            ("SSCARD_METRICS_TOKEN", "metrics-secret-token"),
            (
                "SSCARD_DATABASE_URL",
                "postgres://app:pg-secret@db:5432/sscard",
            ),
        ]);
        let config = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env).unwrap();
        let printed = config.to_toml();
        for secret in ["sms-secret-key", "metrics-secret-token", "pg-secret"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(
            printed.contains("key = \"<hidden>\" # env SSCARD_SMS_KEY"),
            "{printed}"
        );
        assert!(
            printed.contains("postgres://app:<hidden>@db:5432/sscard"),
            "{printed}"
        );
        let flags = ServerFlags {
            sms_key: Some(SecretArg("flag-secret".to_owned())),
            ..ServerFlags::default()
        };
        assert!(!format!("{flags:?}").contains("flag-secret"));
    }

    #[test]
    fn one_half_of_the_sms_pair_is_refused() {
        let env = env_of(&[("SSCARD_SMS_URL", "https://sms.example.gov.cn/send")]);
        let error = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[sms] key (SSCARD_SMS_KEY) is not"),
            "{error}"
        );
        // Not checked by commands that do not send SMS.
        assert!(load(&GlobalFlags::default(), None, &env).is_ok());
    }

    #[test]
    fn the_slip_settings_are_read_and_checked() {
        let config = load(
            &GlobalFlags::default(),
            Some(&ServerFlags::default()),
            &HashMap::new(),
        )
        .unwrap();
        let server = config.server.unwrap();
        assert_eq!(
            server.slip_fonts.value.len(),
            3,
            "Noto Sans CJK, HanaMin A and B"
        );
        assert_eq!(server.slip_fonts.value[0].index, 2, "the SC face");
        assert!(server.slip_signing_key_file.value.is_none());
        assert_eq!(server.public_url(), "http://127.0.0.1:8080");

        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("slip.pem");
        std::fs::write(
            &key_file,
            sscard_crypto::Sm2SigningKey::generate()
                .to_pkcs8_pem()
                .as_bytes(),
        )
        .unwrap();
        let env = env_of(&[
            ("SSCARD_SLIP_FONTS", "/f/a.ttc#1, /f/b.ttf"),
            ("SSCARD_PUBLIC_URL", "https://sscard.example.gov.cn/"),
            ("SSCARD_SLIP_SIGNING_KEY_FILE", key_file.to_str().unwrap()),
        ]);
        let config = load(&GlobalFlags::default(), Some(&ServerFlags::default()), &env).unwrap();
        let printed = config.to_toml();
        let server = config.server.unwrap();
        assert_eq!(server.slip_fonts.value.len(), 2);
        assert_eq!(server.slip_fonts.value[0].index, 1);
        assert_eq!(server.public_url(), "https://sscard.example.gov.cn");
        assert_eq!(
            server.slip_signing_key_file.value.as_deref(),
            Some(key_file.as_path())
        );
        assert!(
            printed.contains("fonts = [\"/f/a.ttc#1\", \"/f/b.ttf\"] # env SSCARD_SLIP_FONTS"),
            "{printed}"
        );

        let key_not_sm2 = dir.path().join("not-a-key.pem");
        std::fs::write(
            &key_not_sm2,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        for (name, value, expected) in [
            (
                "SSCARD_SLIP_SIGNING_KEY_FILE",
                "/nonexistent/slip.pem",
                "[slip] signing_key_file",
            ),
            (
                "SSCARD_SLIP_SIGNING_KEY_FILE",
                key_not_sm2.to_str().unwrap(),
                "not an SM2 private key",
            ),
            ("SSCARD_PUBLIC_URL", "ftp://x", "[server] public_url"),
            ("SSCARD_PUBLIC_URL", "https://x/?a=1", "without a user name"),
            ("SSCARD_SLIP_FONTS", " , ", "[slip] fonts"),
        ] {
            let error = load(
                &GlobalFlags::default(),
                Some(&ServerFlags::default()),
                &env_of(&[(name, value)]),
            )
            .unwrap_err()
            .to_string();
            assert!(error.contains(expected), "{name}={value}: {error}");
        }
    }

    #[test]
    fn the_printed_configuration_is_toml() {
        let config = load(
            &GlobalFlags::default(),
            Some(&ServerFlags::default()),
            &HashMap::new(),
        )
        .unwrap();
        let printed = config.to_toml();
        let value: toml::Table = toml::from_str(&printed).unwrap();
        assert_eq!(value["server"]["listen"].as_str(), Some(DEFAULT_LISTEN));
        assert!(printed.contains("# url: not set # default"), "{printed}");
    }
}
