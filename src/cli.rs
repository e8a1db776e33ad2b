//! The `sscard` command: `serve` is one verb among the operator's tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, GlobalFlags, ServerFlags};
use crate::server;
use crate::service::accounts::NewAccount;
use crate::service::{Actor, ServiceError, Services};
use crate::store::{DatabaseUrl, Store};

/// 社会保障卡启用（含社会保障卡银行账户激活）— the case system of the
/// Liujiang District human resources and social security bureau.
#[derive(Debug, Parser)]
#[command(name = "sscard", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file (sscard.toml) read below the SSCARD_*
    /// environment variables and the flags [env: SSCARD_CONFIG; default:
    /// none, no file is read]. See docs/configuration.md.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL: sqlite://PATH (embedded) or postgres://USER@HOST:PORT/DB
    /// [file: database.url; env: SSCARD_DATABASE_URL; default:
    /// sqlite://data/sscard.db].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// The data key file (SM4 keys sealing personal data). Generated on the
    /// first start of a new database; back it up separately [file:
    /// keys.file; env: SSCARD_KEY_FILE; default: data/keys.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Where uploaded scans (materials) are kept, sealed with the data key.
    /// Several nodes on one PostgreSQL need a shared directory [file:
    /// blobs.dir; env: SSCARD_BLOB_DIR; default: blobs/ beside the SQLite
    /// file, or beside the key file].
    #[arg(long, global = true, value_name = "DIR")]
    pub blob_dir: Option<PathBuf>,

    /// Log lines on standard error: `text` (human-readable) or `json` (one
    /// object per line, with the request id) [file: logging.format; env:
    /// SSCARD_LOG_FORMAT; default: text]. The level: logging.level /
    /// SSCARD_LOG.
    #[arg(long, global = true, value_name = "text|json")]
    pub log_format: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (JSON API, pages, API docs).
    Serve {
        #[command(flatten)]
        settings: ServerFlags,
        /// Fill an EMPTY database with demo cardholders of 柳江区, their cards
        /// and one staff account per role (initial passwords printed once).
        #[arg(long)]
        demo: bool,
        /// The seed of the demo data (with --demo).
        #[arg(long, default_value_t = crate::demo::DEFAULT_SEED, requires = "demo")]
        seed: u64,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// The effective configuration (defaults, sscard.toml, SSCARD_*
    /// variables, flags).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The service guide (办事指南).
    #[command(subcommand)]
    Guide(GuideCommand),
    /// The working-day calendar (工作日历).
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Staff, bank and employer accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The data keys that seal personal data.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The tamper-evident audit trail (审计日志).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Import persons or cards from CSV or XLSX (see docs/import.md).
    #[command(subcommand)]
    Import(crate::cli_data::ImportCommand),
    /// Demo data: seed an empty database, or export generated import files.
    #[command(subcommand)]
    Demo(crate::cli_data::DemoCommand),
    /// Cooperating banks: batch files both ways (export, import,
    /// reconcile), transport keys, and the signature tools of the bank
    /// interface (docs/bank-interface.md).
    #[command(subcommand)]
    Bank(crate::cli_bank::BankCommand),
    /// 单位批量启用: process accepted batches now (servers do it in the
    /// background anyway), with a progress bar.
    #[command(subcommand)]
    Batch(crate::cli_batch::BatchCommand),
    /// Online backup of the embedded SQLite database (and its blob store)
    /// into a new directory with a checksummed manifest; servers keep
    /// running. Not the data key file: back that up separately. PostgreSQL:
    /// see docs/operations.md.
    Backup {
        /// The new backup directory (must not exist).
        dir: PathBuf,
    },
    /// Restore a backup made by `sscard backup` into the database named by
    /// --database-url, after checking every file against the manifest.
    Restore {
        /// The backup directory.
        dir: PathBuf,
        /// Overwrite an existing database (stop every server on it first).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration `sscard serve` would use, as TOML, each value
    /// followed by where it came from (default, file, env, flag); secrets
    /// are shown as "<hidden>". Checks every value; reads no database.
    Print {
        /// The server flags to take into account, as `serve` would.
        #[command(flatten)]
        settings: ServerFlags,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new data key, make it current and re-encrypt every sealed value
    /// under it. Running servers keep reading throughout and pick the new
    /// key up within 30 seconds.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints its one-time initial password (and, for
    /// admin and supervisor, the TOTP secret to enrol in an authenticator app).
    Add {
        #[arg(long)]
        username: String,
        /// acceptor, processor, feedback, supervisor, admin, bank_teller or
        /// employer; repeat (or separate with commas) for several roles.
        #[arg(long = "role", required = true, value_delimiter = ',')]
        roles: Vec<String>,
        /// The cooperating bank of a bank_teller.
        #[arg(long)]
        bank: Option<String>,
        /// The unified social credit code of an employer account.
        #[arg(long)]
        employer: Option<String>,
        /// The person's name as shown on pages.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List every account.
    List,
    /// Disable an account; its sessions end at once.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Give an account a new one-time initial password (forgotten password,
    /// locked out); its sessions end and the lock-out is lifted.
    ResetPassword { username: String },
}

#[derive(Debug, Subcommand)]
pub enum GuideCommand {
    /// Validate a guide file and publish it as the new current version.
    Publish { file: PathBuf },
    /// Print a published version as JSON (the current one by default).
    Show {
        #[arg(long)]
        version: Option<u32>,
    },
    /// Validate a guide file without publishing it.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Load (or correct) one year of statutory holidays and adjusted working days.
    Import { file: PathBuf },
    /// Print one loaded year in the import file format.
    Show { year: i32 },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every audit chain; exits non-zero naming each tampered entry.
    Verify,
}

/// Parses the command line, runs it, and turns failures into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(
        &cli.global_flags(),
        cli.command.server_flags(),
        &crate::config::process_env,
    ) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(crate::config::EXIT_CONFIG);
        }
    };
    crate::logging::init_with(config.log_format.value, &config.log_level.value);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    /// The global flags, the highest layer of [`Config`].
    pub fn global_flags(&self) -> GlobalFlags {
        GlobalFlags {
            config: self.config.clone(),
            database_url: self.database_url.clone(),
            key_file: self.key_file.clone(),
            blob_dir: self.blob_dir.clone(),
            log_format: self.log_format.clone(),
        }
    }
}

impl Command {
    /// The server flags, for the commands that use the server settings.
    pub fn server_flags(&self) -> Option<&ServerFlags> {
        match self {
            Command::Serve { settings, .. }
            | Command::Config(ConfigCommand::Print { settings }) => Some(settings),
            _ => None,
        }
    }
}

/// Runs `cli` with its effective configuration ([`Config::load`]).
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let database_url = config.database_url.value.clone();
    let key_file = config.key_file.value.clone();
    let blob_dir = config.blob_dir.value.clone();
    match cli.command {
        Command::Serve { demo, seed, .. } => {
            let Some(settings) = config.server else {
                anyhow::bail!("the server settings were not resolved");
            };
            let listen = settings.listen.value;
            let secure_cookies = settings.secure_cookies.value;
            let slip_settings = crate::service::slips::SlipSettings {
                fonts: settings.slip_fonts.value.clone(),
                public_url: settings.public_url(),
                signing_key_file: settings.slip_signing_key_file.value.clone(),
            };
            let services = server::prepare(&database_url, &key_file)
                .await?
                .with_blob_store(std::sync::Arc::new(crate::blobs::FsBlobStore::new(
                    blob_dir.clone(),
                )))
                .with_batch_settings(crate::service::batches::BatchSettings {
                    chunk_rows: config.batch_chunk_rows.value,
                })
                .with_sms_settings(settings.sms_url.value.as_deref(), settings.sms_key.value)?
                .with_slip_settings(slip_settings)
                .with_bank_settings(crate::service::banks::BankSettings {
                    signing_key_file: config.bank_signing_key_file.value.clone(),
                })
                .with_rating_settings(crate::service::ratings::RatingSettings {
                    follow_up_working_days: settings.follow_up_working_days.value,
                });
            // A derived link is right on this host only: warn when others
            // reach the site.
            let link_derived = settings.public_url.value.is_none() && !listen.ip().is_loopback();
            crate::service::slips::warn_at_start(&services, link_derived).await?;
            // The key that signs answers to banks: loaded (or generated and
            // sealed) before the first request.
            let bank_key = services.bank_signer().await.map_err(explain)?;
            tracing::info!(
                key_id = bank_key.key_id(),
                "answers to banks are signed with this SM2 key"
            );
            if demo {
                crate::cli_data::seed_and_print(&services, seed, &operator()).await?;
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(
                address = %listener.local_addr()?,
                database = %database_url.redacted(),
                secure_cookies,
                "sscard is serving: open http://{}/ (API docs at /api/docs)",
                listener.local_addr()?
            );
            let http = crate::http::HttpConfig {
                secure_cookies,
                metrics_allow: settings.metrics_allow.value,
                trusted_proxies: settings.trusted_proxies.value,
                rate_limit_store: crate::http::limiter::BucketStore::Auto,
                metrics_token: settings.metrics_token.value,
                rate_limits: crate::http::RateLimits::default()
                    .scaled(settings.rate_limit_scale.value),
            };
            server::serve(listener, services, http, server::shutdown_signal()).await?;
            tracing::info!("sscard stopped");
        }
        Command::Migrate => {
            let store = Store::connect(&database_url).await?;
            store.migrate().await?;
            println!(
                "数据库已是最新结构 (database schema is up to date): {}",
                database_url.redacted()
            );
        }
        Command::Config(ConfigCommand::Print { .. }) => print!("{}", config.to_toml()),
        Command::Guide(command) => guide(&database_url, &key_file, command).await?,
        Command::Calendar(command) => calendar(&database_url, &key_file, command).await?,
        Command::Keys(KeysCommand::Rotate) => rotate_keys(&database_url, &key_file).await?,
        Command::User(command) => user(&database_url, &key_file, command).await?,
        Command::Audit(command) => audit(&database_url, command).await?,
        Command::Import(command) => {
            let services = server::prepare(&database_url, &key_file).await?;
            let result = crate::cli_data::import(&services, command, &operator()).await;
            services.store().close().await;
            result?;
        }
        Command::Backup { dir } => {
            crate::cli_backup::backup(&database_url, &blob_dir, &dir).await?;
        }
        Command::Restore { dir, force } => {
            crate::cli_backup::restore(&database_url, &blob_dir, &dir, force)?;
        }
        Command::Batch(command) => {
            let services = server::prepare(&database_url, &key_file).await?;
            crate::cli_batch::run(services, config.batch_chunk_rows.value, command).await?;
        }
        Command::Bank(command) => {
            let bank_settings = crate::service::banks::BankSettings {
                signing_key_file: config.bank_signing_key_file.value.clone(),
            };
            let prepare = async {
                Ok::<_, anyhow::Error>(
                    server::prepare(&database_url, &key_file)
                        .await?
                        .with_bank_settings(bank_settings),
                )
            };
            crate::cli_bank::run(command, prepare, &operator()).await?;
        }
        Command::Demo(command) => {
            crate::cli_data::demo(
                command,
                server::prepare(&database_url, &key_file),
                &operator(),
            )
            .await?;
        }
    }
    Ok(())
}

async fn guide(
    database_url: &DatabaseUrl,
    key_file: &Path,
    command: GuideCommand,
) -> anyhow::Result<()> {
    match command {
        GuideCommand::Check { file } => {
            let text = read_file(&file)?;
            let guide = crate::service::guide::parse_guide_file(&text).map_err(explain)?;
            println!(
                "办事指南文件有效：第 {} 版，{}",
                guide.version, guide.item_name
            );
        }
        GuideCommand::Publish { file } => {
            let text = read_file(&file)?;
            let services = server::prepare(database_url, key_file).await?;
            let published = services
                .publish_guide(&text, &operator())
                .await
                .map_err(explain)?;
            println!(
                "已发布办事指南第 {} 版，现为当前版本（published guide version {}）。",
                published.guide.version, published.guide.version
            );
        }
        GuideCommand::Show { version } => {
            let services = server::prepare(database_url, key_file).await?;
            let published = match version {
                Some(version) => services.guide_version(version).await,
                None => services.current_guide().await,
            }
            .map_err(explain)?;
            println!("{}", serde_json::to_string_pretty(&published.guide)?);
        }
    }
    Ok(())
}

async fn calendar(
    database_url: &DatabaseUrl,
    key_file: &Path,
    command: CalendarCommand,
) -> anyhow::Result<()> {
    let services: Services = server::prepare(database_url, key_file).await?;
    match command {
        CalendarCommand::Import { file } => {
            let text = read_file(&file)?;
            let imported = services
                .import_calendar(&text, &operator())
                .await
                .map_err(explain)?;
            println!(
                "已{}{} 年工作日历：{} 个节假日，{} 个调休上班日。",
                if imported.replaced {
                    "更正"
                } else {
                    "导入"
                },
                imported.year,
                imported.holidays,
                imported.adjusted_working_days
            );
        }
        CalendarCommand::Show { year } => {
            let calendar = services.calendar_year(year).await.map_err(explain)?;
            print!("{}", calendar.to_toml_string());
        }
    }
    Ok(())
}

/// Reads only: no migration, no seeding, so verifying never appends to the
/// chains it checks.
async fn audit(database_url: &DatabaseUrl, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify => {
            let store = Store::connect(database_url)
                .await
                .with_context(|| format!("cannot open the database {}", database_url.redacted()))?;
            // The use case over the bare store: verifying needs no keys.
            let report = crate::service::verify_audit(&store)
                .await
                .map_err(explain)
                .context(
                    "cannot read the audit trail (is the database migrated? `sscard migrate`)",
                )?;
            store.close().await;
            if report.is_intact() {
                println!(
                    "审计日志完整：共 {} 条记录，{} 条链均未被改动。",
                    report.entries, report.shards
                );
            } else {
                for problem in &report.problems {
                    println!("{problem}");
                }
                anyhow::bail!(
                    "审计日志已被改动：共 {} 条记录，发现 {} 处问题（见上）。",
                    report.entries,
                    report.problems.len()
                );
            }
        }
    }
    Ok(())
}

async fn user(
    database_url: &DatabaseUrl,
    key_file: &Path,
    command: UserCommand,
) -> anyhow::Result<()> {
    let services = server::prepare(database_url, key_file).await?;
    match command {
        UserCommand::Add {
            username,
            roles,
            bank,
            employer,
            display_name,
        } => {
            let created = services
                .create_account(
                    NewAccount {
                        username,
                        display_name,
                        roles,
                        bank_code: bank,
                        employer_uscc: employer,
                    },
                    &operator(),
                )
                .await
                .map_err(explain)?;
            let roles: Vec<&str> = created.account.roles.iter().map(|r| r.label_zh()).collect();
            println!(
                "已创建账号 {}（{}）。",
                created.account.username,
                roles.join("、")
            );
            println!(
                "初始密码（只显示这一次，首次登录后须修改）: {}",
                created.initial_password
            );
            if let Some(totp) = created.totp {
                println!(
                    "动态口令密钥（请录入身份验证器应用）: {}",
                    totp.secret_base32
                );
                println!("otpauth URI: {}", totp.otpauth_uri);
            }
        }
        UserCommand::List => {
            for account in services.list_accounts().await.map_err(explain)? {
                let roles: Vec<&str> = account.roles.iter().map(|r| r.code()).collect();
                println!(
                    "{}\t{}\t{}{}",
                    account.username,
                    roles.join(","),
                    if account.disabled {
                        "已停用"
                    } else {
                        "正常"
                    },
                    if account.must_change_password {
                        "\t待修改初始密码"
                    } else {
                        ""
                    }
                );
            }
        }
        UserCommand::Disable { username } => {
            services
                .set_account_disabled(&username, true, &operator())
                .await
                .map_err(explain)?;
            println!("已停用账号 {username}，其登录会话已全部结束。");
        }
        UserCommand::Enable { username } => {
            services
                .set_account_disabled(&username, false, &operator())
                .await
                .map_err(explain)?;
            println!("已启用账号 {username}。");
        }
        UserCommand::ResetPassword { username } => {
            let reset = services
                .reset_password(&username, &operator())
                .await
                .map_err(explain)?;
            println!(
                "已重置账号 {} 的密码，其 {} 个登录会话已结束。",
                reset.account.username, reset.sessions_ended
            );
            println!(
                "初始密码（只显示这一次，首次登录后须修改）: {}",
                reset.initial_password
            );
        }
    }
    Ok(())
}

async fn rotate_keys(database_url: &DatabaseUrl, key_file: &Path) -> anyhow::Result<()> {
    // Check the key file against the database before changing anything.
    let services = server::prepare(database_url, key_file).await?;
    let rotated = sscard_crypto::KeyFile::rotate(key_file)
        .with_context(|| format!("cannot rotate the key file {}", key_file.display()))?;
    services.keys().reload().map_err(explain)?;
    let report = services.reseal_all(&operator()).await.map_err(explain)?;
    println!(
        "已启用新数据密钥 {}：检查 {} 个加密值，重新加密 {} 个。旧密钥仍保留在密钥文件中以读取备份；运行中的服务将在 30 秒内载入新密钥。",
        rotated.current_key_id(),
        report.examined,
        report.resealed
    );
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The operator running this command, for the audit trail.
fn operator() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    Actor::operator(&user)
}

/// A service refusal as an operator reads it: the detail and each field error.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(explain)`
pub(crate) fn explain(error: ServiceError) -> anyhow::Error {
    match &error {
        ServiceError::Invalid { errors, .. } if !errors.is_empty() => {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("  - [{}] {}", e.code, e.message))
                .collect();
            anyhow::anyhow!("{error} ({})\n{}", error.code(), lines.join("\n"))
        }
        _ => anyhow::anyhow!("{error} ({})", error.code()),
    }
}
