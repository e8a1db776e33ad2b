//! The data verbs of the `sscard` command: `import persons|cards FILE` and
//! `demo seed|export-persons|export-cards`, and the demo seeding of
//! `serve --demo`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use clap::builder::TypedValueParser as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::demo::{DEFAULT_SEED, write_cards_csv, write_persons_csv};
use crate::import::ImportKind;
use crate::import::reader::Format;
use crate::service::demo::DemoOutcome;
use crate::service::import::{DEFAULT_BATCH_SIZE, ImportOptions, ImportProgress, ImportSummary};
use crate::service::{Actor, Services};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import insured persons (参保人员) from a CSV or XLSX file.
    Persons(ImportArgs),
    /// Import social security cards (社会保障卡) from a CSV or XLSX file;
    /// their holders must be imported first.
    Cards(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: CSV (UTF-8, UTF-8 with BOM, GBK or UTF-16) or XLSX; the
    /// columns are described in docs/import.md. The report is written next
    /// to it as FILE.report.csv.
    pub file: PathBuf,
    /// Apply nothing unless every row is valid (one transaction).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Rows per transaction (and per audit entry).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u16).range(1..=10_000).map(usize::from))]
    pub batch_size: usize,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Fill an EMPTY database with the demo cardholders, cards and one staff
    /// account per role (initial passwords are printed once).
    Seed {
        /// The seed of the generator: the same seed gives the same persons and cards.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
    /// Write generated persons as a persons import file (CSV, UTF-8).
    ExportPersons {
        file: PathBuf,
        /// How many persons (unique ID numbers up to 1,800,000).
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
    /// Write the cards of the same generated persons as a cards import file.
    ExportCards {
        file: PathBuf,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
}

/// `sscard import persons|cards FILE`.
///
/// # Errors
///
/// The file or some of its rows could not be imported (the report says
/// which), or the database fails.
pub async fn import(
    services: &Services,
    command: ImportCommand,
    actor: &Actor,
) -> anyhow::Result<()> {
    let (kind, args) = match command {
        ImportCommand::Persons(args) => (ImportKind::Persons, args),
        ImportCommand::Cards(args) => (ImportKind::Cards, args),
    };
    let options = ImportOptions {
        all_or_nothing: args.all_or_nothing,
        batch_size: args.batch_size,
        ..ImportOptions::default()
    };
    let bar = Bar::new();
    let summary = services
        .import_file(&args.file, kind, &options, actor, &bar)
        .await
        .map_err(super::cli::explain)?;
    print_summary(&args.file, &summary);
    if let Some((code, message)) = &summary.failure {
        anyhow::bail!("{message} ({code})");
    }
    if summary.rejected > 0 {
        anyhow::bail!(
            "有 {} 行未导入，详见报告 {}",
            summary.rejected,
            summary.report.display()
        );
    }
    Ok(())
}

fn print_summary(file: &Path, summary: &ImportSummary) {
    let how = match (summary.format, summary.encoding) {
        (Some(Format::Xlsx), _) => "XLSX".to_owned(),
        (Some(format), Some(encoding)) => format!("{format}，{encoding} 编码"),
        _ => "无法读取".to_owned(),
    };
    println!(
        "导入{}：{}（{how}）",
        summary.kind.label_zh(),
        file.display()
    );
    if !summary.ignored_columns.is_empty() {
        println!("已忽略未知列：{}", summary.ignored_columns.join("、"));
    }
    if summary.failure.is_none() {
        println!(
            "共读取 {} 行：新增 {} 行，更新 {} 行，无变化 {} 行，未导入 {} 行。{}",
            summary.rows,
            summary.created,
            summary.updated,
            summary.unchanged,
            summary.rejected,
            if summary.applied || summary.rows == 0 {
                ""
            } else {
                "本次没有写入任何数据。"
            }
        );
    }
    if summary.failure.is_none() && summary.rows == 0 {
        println!("文件只有表头，没有数据行。");
    }
    if summary.problems > 0 {
        println!("问题 {} 处：", summary.problems);
        for (code, count) in &summary.codes {
            println!("  {code} × {count}");
        }
    }
    println!("报告：{}", summary.report.display());
}

/// The progress bar on the terminal; hidden when stderr is not a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Self(bar)
    }
}

impl ImportProgress for Bar {
    fn start(&self, total: Option<u64>) {
        if let Some(total) = total {
            self.0.set_length(total);
        }
        let template = if total.is_some() {
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% 剩余约 {eta}"
        } else {
            "{spinner} [{elapsed_precise}] 已读取 {pos} 行"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.0.set_style(style);
        }
    }

    fn advance(&self, done: u64) {
        self.0.set_position(done);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// `sscard demo …`.
///
/// # Errors
///
/// The file cannot be written, or the database fails.
pub async fn demo(
    command: DemoCommand,
    services: impl std::future::Future<Output = anyhow::Result<Services>>,
    actor: &Actor,
) -> anyhow::Result<()> {
    match command {
        DemoCommand::Seed { seed } => {
            let services = services.await?;
            seed_and_print(&services, seed, actor).await?;
        }
        DemoCommand::ExportPersons { file, count, seed } => {
            let rows = export(&file, |w| write_persons_csv(w, seed, count))?;
            println!(
                "已写入 {rows} 名参保人员（种子 {seed}）：{}",
                file.display()
            );
        }
        DemoCommand::ExportCards { file, count, seed } => {
            let rows = export(&file, |w| write_cards_csv(w, seed, count))?;
            println!(
                "已写入 {count} 名参保人员的 {rows} 张社会保障卡（种子 {seed}）：{}",
                file.display()
            );
        }
    }
    Ok(())
}

fn export(
    file: &Path,
    write: impl FnOnce(std::io::BufWriter<std::fs::File>) -> csv::Result<u64>,
) -> anyhow::Result<u64> {
    let out =
        std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?;
    write(std::io::BufWriter::new(out)).with_context(|| format!("cannot write {}", file.display()))
}

/// Seeds the demo data when the database is empty and prints the accounts
/// (once: a second run finds the database not empty and says so).
///
/// # Errors
///
/// The database fails.
pub async fn seed_and_print(services: &Services, seed: u64, actor: &Actor) -> anyhow::Result<()> {
    match services
        .seed_demo(seed, actor)
        .await
        .map_err(super::cli::explain)?
    {
        DemoOutcome::NotEmpty(population) => {
            println!(
                "数据库已有数据（参保人员 {} 人，社会保障卡 {} 张，账号 {} 个），未写入演示数据。演示数据只写入空数据库。",
                population.persons, population.cards, population.accounts
            );
        }
        DemoOutcome::Seeded {
            seed,
            persons,
            cards,
            accounts,
        } => {
            println!(
                "已写入演示数据（种子 {seed}）：柳江区参保人员 {persons} 人，社会保障卡 {cards} 张，演示账号 {} 个。",
                accounts.len()
            );
            println!("演示账号的初始密码只显示这一次，首次登录后须修改密码：");
            for account in &accounts {
                println!(
                    "  {:<14} 初始密码 {}  {}",
                    account.username, account.initial_password, account.description
                );
                if let Some(totp) = &account.totp {
                    println!(
                        "  {:<14} 动态口令密钥 {}（请录入身份验证器应用；{}）",
                        "", totp.secret_base32, totp.otpauth_uri
                    );
                }
            }
        }
    }
    Ok(())
}
