//! `sscard bank …`: the batch files exchanged with cooperating banks and the
//! tools a bank's developers use to check their signatures. The formats and
//! the signature scheme are in `docs/bank-interface.md`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use sscard_crypto::{Sm2SigningKey, TransportKey};

use crate::cli::explain;
use crate::service::bank_exchange::{ExportOptions, ImportOptions};
use crate::service::banks::{canonical_request, example};
use crate::service::{Actor, Services};

#[derive(Debug, Subcommand)]
pub enum BankCommand {
    /// Write the personal data of a bank's newly issued cards (no account
    /// yet, never sent) to a batch file; run again to finish an interrupted
    /// export; --resend writes an earlier batch again.
    Export {
        /// The bank's code, e.g. ICBC.
        #[arg(long)]
        bank: String,
        /// The file to write (it appears only when complete).
        #[arg(long)]
        out: PathBuf,
        /// Write this earlier batch again (same number, same cards).
        #[arg(long, value_name = "BATCH")]
        resend: Option<String>,
        /// Encrypt the file for transport with this SM4 key file (see
        /// `sscard bank transport-key`).
        #[arg(long, value_name = "KEYFILE")]
        encrypt_key_file: Option<PathBuf>,
        /// At most this many cards in a new batch.
        #[arg(long, value_name = "N")]
        max_records: Option<u64>,
    },
    /// Import a bank's return file: verified whole first (header, count,
    /// SM3 digest), then applied; writes FILE.report.csv. Importing the same
    /// file again changes nothing.
    Import {
        file: PathBuf,
        /// The SM4 transport key file, when the file is encrypted.
        #[arg(long, value_name = "KEYFILE")]
        decrypt_key_file: Option<PathBuf>,
        /// Where to write the per-record report (default FILE.report.csv).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Compare a bank's list of activated accounts with the registry, both
    /// ways; writes FILE.reconcile.csv and exits non-zero on any mismatch.
    Reconcile {
        #[arg(long)]
        bank: String,
        file: PathBuf,
        #[arg(long, value_name = "KEYFILE")]
        decrypt_key_file: Option<PathBuf>,
    },
    /// Write a new random SM4 transport key file (32 hex characters, mode
    /// 0600) to share with a bank out of band.
    TransportKey {
        /// The new key file (must not exist).
        file: PathBuf,
    },
    /// Print the bureau's SM2 public key that verifies its signed answers
    /// (generated on the first use if not configured).
    ServerKey,
    /// Reproduce the worked example of docs/bank-interface.md: the test key
    /// pair, the canonical request, its digests and its signature.
    SignExample,
    /// Sign a request as a bank's system does, with a PEM private key:
    /// prints the four headers and a curl command.
    Sign {
        /// The bank's SM2 private key (PKCS#8 PEM).
        #[arg(long, value_name = "PEM")]
        key_file: PathBuf,
        #[arg(long)]
        bank: String,
        #[arg(long, default_value = "POST")]
        method: String,
        /// The path with its query, exactly as it will be sent.
        #[arg(long)]
        path: String,
        /// The body to send (none for GET).
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// Unix seconds (default: now).
        #[arg(long)]
        timestamp: Option<i64>,
        /// Default: a new random nonce.
        #[arg(long)]
        nonce: Option<String>,
        /// The server, for the printed curl command.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Play the bank: answer an export file with a return file (accepting
    /// every record, rejecting every N-th). For demonstrations and tests.
    #[command(hide = true)]
    SimulateReturn {
        export: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The BIN of the accounts "opened".
        #[arg(long, default_value = "621226")]
        bin: String,
        #[arg(long, default_value_t = 0)]
        reject_every: u64,
        #[arg(long, value_name = "KEYFILE")]
        decrypt_key_file: Option<PathBuf>,
    },
    /// Register N generated persons with new cards of a bank (no account),
    /// fast: for demonstrations and measurements of the batch exchange.
    #[command(hide = true)]
    DemoCards {
        #[arg(long)]
        bank: String,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 0)]
        start: u64,
    },
}

fn read_transport_key(path: Option<&Path>) -> anyhow::Result<Option<TransportKey>> {
    path.map(|path| {
        let text =
            sscard_crypto::Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the transport key file {}", path.display())
            })?);
        TransportKey::parse(&text)
            .with_context(|| format!("the transport key file {}", path.display()))
    })
    .transpose()
}

/// Runs a `sscard bank` command; `prepare` opens the services when the
/// command needs the database.
pub async fn run<F>(command: BankCommand, prepare: F, operator: &Actor) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<Services>>,
{
    match command {
        BankCommand::Export {
            bank,
            out,
            resend,
            encrypt_key_file,
            max_records,
        } => {
            let transport_key = read_transport_key(encrypt_key_file.as_deref())?;
            let services = prepare.await?;
            let summary = services
                .export_bank_batch(
                    &ExportOptions {
                        bank,
                        out: out.clone(),
                        resend,
                        transport_key,
                        max_records,
                    },
                    operator,
                )
                .await
                .map_err(explain);
            services.store().close().await;
            let summary = summary?;
            match &summary.batch_no {
                None => println!("没有待报送的新卡，未生成文件。"),
                Some(batch_no) => {
                    let what = if summary.resent {
                        "已重新生成报送批次"
                    } else if summary.resumed {
                        "已完成上次中断的报送批次"
                    } else {
                        "已生成报送批次"
                    };
                    println!(
                        "{what} {batch_no}：{} 条记录，SM3 {}{}，文件 {}",
                        summary.records,
                        summary.digest.as_deref().unwrap_or_default(),
                        if summary.encrypted {
                            "，已 SM4 加密"
                        } else {
                            ""
                        },
                        out.display()
                    );
                    if summary.resumed && !summary.resent {
                        println!("如还有新卡待报送，请再运行一次。");
                    }
                }
            }
        }
        BankCommand::Import {
            file,
            decrypt_key_file,
            report,
        } => {
            let transport_key = read_transport_key(decrypt_key_file.as_deref())?;
            let services = prepare.await?;
            let summary = services
                .import_bank_return(
                    &ImportOptions {
                        file,
                        transport_key,
                        report,
                    },
                    operator,
                )
                .await
                .map_err(explain);
            services.store().close().await;
            let summary = summary?;
            if summary.already_imported {
                println!(
                    "{} 的回盘批次 {} 此前已导入，本次未作任何变更（{} 条记录均无变化）。",
                    summary.bank, summary.batch_no, summary.unchanged
                );
            } else {
                println!(
                    "已导入 {} 的回盘批次 {}：共 {} 条，开户成功 {} 条，拒绝开户 {} 条（已登记待跟进），此前已登记 {} 条，未处理 {} 条。",
                    summary.bank,
                    summary.batch_no,
                    summary.records,
                    summary.accepted,
                    summary.rejected,
                    summary.unchanged,
                    summary.refused
                );
            }
            println!("逐条结果见 {}", summary.report.display());
        }
        BankCommand::Reconcile {
            bank,
            file,
            decrypt_key_file,
        } => {
            let transport_key = read_transport_key(decrypt_key_file.as_deref())?;
            let services = prepare.await?;
            let summary = services
                .reconcile_bank(&bank, &file, transport_key.as_ref(), operator)
                .await
                .map_err(explain);
            services.store().close().await;
            let summary = summary?;
            println!(
                "{} 的已激活账户清单共 {} 条，与系统一致 {} 条。",
                summary.bank, summary.records, summary.matched
            );
            for (code, count) in &summary.mismatches {
                let label = crate::service::bank_exchange::MISMATCHES
                    .iter()
                    .find(|(c, _)| c == code)
                    .map_or("", |(_, label)| *label);
                println!("  {code}  {count} 条：{label}");
            }
            println!("逐条结果见 {}", summary.report.display());
            if summary.total_mismatches() > 0 {
                anyhow::bail!("发现 {} 处不一致，请核对报告。", summary.total_mismatches());
            }
        }
        BankCommand::TransportKey { file } => {
            let key = TransportKey::generate();
            write_new_secret_file(
                &file,
                &format!(
                    "# sscard SM4 transport key (docs/bank-interface.md); share with the bank out of band\n{}\n",
                    key.to_hex().as_str()
                ),
            )?;
            println!(
                "已生成传输密钥文件 {}（权限 0600），请通过线下渠道交给合作银行。",
                file.display()
            );
        }
        BankCommand::ServerKey => {
            let services = prepare.await?;
            let keys = services.bank_server_keys().await.map_err(explain);
            services.store().close().await;
            let keys = keys?;
            println!(
                "# 本局应答签名公钥（X-Key-Id {}，来源 {}）",
                keys.current.key_id, keys.current.source
            );
            print!("{}", keys.current.public_key_pem);
            println!("# 04||x||y: {}", keys.current.public_key_hex);
        }
        BankCommand::SignExample => print_example(),
        BankCommand::Sign {
            key_file,
            bank,
            method,
            path,
            body_file,
            timestamp,
            nonce,
            server,
        } => {
            let pem = sscard_crypto::Zeroizing::new(
                std::fs::read_to_string(&key_file)
                    .with_context(|| format!("cannot read {}", key_file.display()))?,
            );
            let key = Sm2SigningKey::from_pem(&pem)
                .with_context(|| format!("{} is not an SM2 private key", key_file.display()))?;
            let body = match &body_file {
                Some(path) => std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => Vec::new(),
            };
            let timestamp = timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp());
            let nonce = nonce.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            let method = method.to_ascii_uppercase();
            let canonical =
                canonical_request(&method, &path, &bank, &timestamp.to_string(), &nonce, &body);
            let signature = hex::encode(key.sign(canonical.as_bytes()));
            println!("X-Bank-Code: {bank}");
            println!("X-Timestamp: {timestamp}");
            println!("X-Nonce: {nonce}");
            println!("X-Signature: {signature}");
            let data = body_file.as_ref().map_or_else(String::new, |path| {
                format!(
                    " -H 'Content-Type: application/json' --data-binary @{}",
                    path.display()
                )
            });
            println!(
                "curl -sS -X {method} '{server}{path}' -H 'X-Bank-Code: {bank}' -H 'X-Timestamp: {timestamp}' -H 'X-Nonce: {nonce}' -H 'X-Signature: {signature}'{data}"
            );
        }
        BankCommand::SimulateReturn {
            export,
            out,
            bin,
            reject_every,
            decrypt_key_file,
        } => {
            let key = read_transport_key(decrypt_key_file.as_deref())?;
            let input = std::fs::File::open(&export)
                .with_context(|| format!("cannot open {}", export.display()))?;
            let reader: Box<dyn std::io::BufRead> = match &key {
                Some(key) => Box::new(std::io::BufReader::new(
                    sscard_crypto::Sm4StreamReader::new(key, std::io::BufReader::new(input))?,
                )),
                None => Box::new(std::io::BufReader::with_capacity(1 << 16, input)),
            };
            let output = std::io::BufWriter::new(
                std::fs::File::create(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?,
            );
            let verified = crate::bankfile::simulate_return(
                reader,
                output,
                &crate::bankfile::SimulatedBank {
                    bin,
                    reject_every,
                    created_at: crate::clock::to_china(chrono::Utc::now()),
                },
            )?;
            println!(
                "已按报送文件（{} 条）生成模拟回盘文件 {}",
                verified.records,
                out.display()
            );
        }
        BankCommand::DemoCards { bank, count, start } => {
            let services = prepare.await?;
            let done = services
                .bulk_new_cards(&bank, start, count, operator)
                .await
                .map_err(explain);
            services.store().close().await;
            println!(
                "已生成 {} 名参保人及其 {bank} 新卡（无银行账号，待报送）。",
                done?
            );
        }
    }
    Ok(())
}

fn write_new_secret_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Prints the worked example of docs/bank-interface.md.
fn print_example() {
    let worked = example::worked();
    println!("== 测试密钥对（仅用于联调，切勿用于生产）==");
    print!("{}", example::TEST_PRIVATE_KEY_PEM);
    print!("{}", example::TEST_PUBLIC_KEY_PEM);
    println!("== 请求 ==");
    println!("{} {}", example::METHOD, example::PATH);
    println!("X-Bank-Code: {}", example::BANK);
    println!("X-Timestamp: {}", example::TIMESTAMP);
    println!("X-Nonce: {}", example::NONCE);
    println!("body: {}", example::BODY);
    println!("== SM3(body) ==");
    println!("{}", worked.body_sm3);
    println!("== 规范请求串（以 LF 分行，末行后无换行）==");
    println!("{}", worked.canonical);
    println!("== SM3(规范请求串) ==");
    println!("{}", worked.canonical_sm3);
    println!("== X-Signature（SM2，用户标识 1234567812345678，r||s 十六进制）==");
    println!("{}", worked.signature);
}
