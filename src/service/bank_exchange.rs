//! The batch exchange with cooperating banks (批量报送与回盘), for the
//! command line (`sscard bank export|import|reconcile`). The file format
//! is [`crate::bankfile`]'s, documented in `docs/bank-interface.md`.
//!
//! - **Export** ([`Services::export_bank_batch`]): the personal data of a
//!   bank's newly issued cards (no account yet, not cancelled, not exported
//!   before). First the batch is *claimed*: its cards are listed in
//!   `bank_batch_cards` and marked exported in `bank_card_exchange` (one row
//!   per card, so a card is in one batch only), in transactions of
//!   [`CLAIM_CHUNK`] cards with an audit entry each; then the file is written
//!   from that list page by page (bounded memory), the personal data opened
//!   as it goes, to a temporary file that is synced and renamed; last the
//!   batch is marked written with its digest. An interrupted export is
//!   redone by running the command again (the unfinished batch is found and
//!   finished first); `--resend BATCH` writes an earlier batch again (same
//!   number, same cards).
//! - **Import** ([`Services::import_bank_return`]): a return file is read to
//!   its end first — header, every line's structure, count, digest — and
//!   refused whole on any problem; then read again and applied in
//!   transactions of [`APPLY_CHUNK`] records with an audit entry each:
//!   accepted accounts are sealed and masked on the card after their BIN is
//!   checked against the bank's; rejections are recorded on the card with
//!   the bank's code and text for staff to follow up; every record gets a
//!   line in the report file. A second import of the same file finds every
//!   record already applied and writes nothing; another file under the same
//!   batch number is refused.
//! - **Reconcile** ([`Services::reconcile_bank`]): the bank's list of
//!   activated accounts against the registry, both ways.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sscard_crypto::{Sm4StreamReader, Sm4StreamWriter, TransportKey};
use sscard_domain::bank::{BankStatus, BinPrefix, RejectionCode, check_account_bank};
use sscard_domain::identifiers::{BankCardNumber, CardNumber, IdNumber, MobileNumber};
use sscard_domain::registry::{Address, BankCode, FinancialState};

use super::bank_activation::ACCOUNT_INDEX;
use super::registry::{ID_NUMBER_INDEX, corrupt};
use super::{Actor, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::bankfile::{self, FileError, FileKind, FileReader, FileWriter, Header};
use crate::clock::to_china;
use crate::store::StoreError;
use crate::store::banks::{self as rows, BatchRow, ExchangeCard};
use crate::store::registry::{
    ADDRESS_SEALED, BANK_ACCOUNT_SEALED, ID_NUMBER_SEALED, MOBILE_SEALED,
};

/// Cards claimed for an export batch per transaction.
pub const CLAIM_CHUNK: i64 = 10_000;
/// Records written per page read from the database.
pub const EXPORT_PAGE: i64 = 1_000;
/// Return records applied per transaction.
pub const APPLY_CHUNK: usize = 500;
/// The longest rejection text kept, in characters.
pub const MAX_REJECTION_TEXT: usize = 200;

// ---------------------------------------------------------------------------
// Options and summaries
// ---------------------------------------------------------------------------

/// What `sscard bank export` asks for.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub bank: String,
    pub out: PathBuf,
    /// Write this earlier batch again instead of a new one.
    pub resend: Option<String>,
    /// Encrypt the file for transport (SM4, `SSCSM4G1`).
    pub transport_key: Option<TransportKey>,
    /// At most this many cards in a new batch.
    pub max_records: Option<u64>,
}

/// What an export did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// `None` when no card awaited export (no file written).
    pub batch_no: Option<String>,
    pub records: u64,
    /// SM3 of the plaintext file before its trailer.
    pub digest: Option<String>,
    /// An interrupted export of this batch was finished.
    pub resumed: bool,
    /// An earlier batch was written again.
    pub resent: bool,
    pub encrypted: bool,
}

/// What `sscard bank import` asks for.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub file: PathBuf,
    /// Needed when the file is encrypted for transport.
    pub transport_key: Option<TransportKey>,
    /// The per-record report; default `<file>.report.csv`.
    pub report: Option<PathBuf>,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    pub bank: String,
    pub batch_no: String,
    pub records: u64,
    /// Accounts set on cards now.
    pub accepted: u64,
    /// Rejections recorded on cards now.
    pub rejected: u64,
    /// Records already applied before (by an earlier import of this file).
    pub unchanged: u64,
    /// Records not applied (see the report).
    pub refused: u64,
    /// The file had been imported completely before: nothing changed.
    pub already_imported: bool,
    pub report: PathBuf,
}

/// What `sscard bank reconcile` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconcileSummary {
    pub bank: String,
    /// Records in the bank's list.
    pub records: u64,
    /// Records that match the registry.
    pub matched: u64,
    /// Mismatches by code, e.g. `NOT_ACTIVE_IN_REGISTRY` → 3.
    pub mismatches: Vec<(&'static str, u64)>,
    pub report: PathBuf,
}

impl ReconcileSummary {
    pub fn total_mismatches(&self) -> u64 {
        self.mismatches.iter().map(|(_, n)| n).sum()
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(file_error)`
fn file_error(error: FileError) -> ServiceError {
    ServiceError::Invalid {
        code: error.code,
        detail: error.to_string(),
        errors: Vec::new(),
    }
}

fn io_error(path: &Path, error: &io::Error) -> ServiceError {
    ServiceError::Invalid {
        code: "FILE_IO",
        detail: format!("无法读写文件 {}：{error}", path.display()),
        errors: Vec::new(),
    }
}

fn bank_code(code: &str) -> ServiceResult<BankCode> {
    BankCode::parse(code).map_err(|_| ServiceError::NotFound {
        code: "BANK_NOT_FOUND",
        detail: format!("银行代码“{code}”格式不正确，请核对。"),
    })
}

/// Opens a batch file for reading, decrypting it when it is encrypted.
fn open_input(path: &Path, key: Option<&TransportKey>) -> ServiceResult<Box<dyn BufRead>> {
    let mut file = File::open(path).map_err(|e| io_error(path, &e))?;
    let mut magic = [0u8; 8];
    let read = file.read(&mut magic).map_err(|e| io_error(path, &e))?;
    drop(file);
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    if sscard_crypto::is_transport_encrypted(&magic[..read]) {
        let Some(key) = key else {
            return Err(ServiceError::Invalid {
                code: "TRANSPORT_KEY_REQUIRED",
                detail: format!(
                    "文件 {} 已用 SM4 加密传输，请用 --decrypt-key-file 指定与该银行约定的传输密钥文件。",
                    path.display()
                ),
                errors: Vec::new(),
            });
        };
        let reader =
            Sm4StreamReader::new(key, BufReader::with_capacity(1 << 16, file)).map_err(|_| {
                ServiceError::Invalid {
                    code: "FILE_DECRYPT_FAILED",
                    detail: "文件解密失败：不是有效的加密批量文件。".to_owned(),
                    errors: Vec::new(),
                }
            })?;
        return Ok(Box::new(BufReader::with_capacity(1 << 16, reader)));
    }
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

/// Where an export file goes: plain or encrypted.
enum Sink {
    Plain(BufWriter<File>),
    Encrypted(Box<Sm4StreamWriter<BufWriter<File>>>),
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(data),
            Self::Encrypted(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Encrypted(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Self::Plain(w) => w,
            Self::Encrypted(w) => (*w).finish()?,
        };
        buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

/// The report path of an input: `<input>.report.csv` (or another suffix).
pub fn report_path(input: &Path, suffix: &str) -> PathBuf {
    let mut name = input.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(suffix);
    input.with_file_name(name)
}

/// A CSV report, UTF-8 with a byte-order mark (Excel opens it right).
struct Report {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
}

impl Report {
    fn create(path: &Path, header: &[&str]) -> ServiceResult<Self> {
        let open = || -> io::Result<csv::Writer<BufWriter<File>>> {
            let mut file = BufWriter::new(File::create(path)?);
            file.write_all(b"\xEF\xBB\xBF")?;
            let mut writer = csv::WriterBuilder::new().from_writer(file);
            writer.write_record(header)?;
            Ok(writer)
        };
        Ok(Self {
            path: path.to_owned(),
            writer: open().map_err(|e| io_error(path, &e))?,
        })
    }

    fn line(&mut self, fields: &[&str]) -> ServiceResult<()> {
        self.writer
            .write_record(fields)
            .map_err(|e| io_error(&self.path, &io::Error::other(e)))
    }

    fn finish(mut self) -> ServiceResult<PathBuf> {
        self.writer.flush().map_err(|e| io_error(&self.path, &e))?;
        Ok(self.path)
    }
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

impl Services {
    /// Writes an export batch file (see the module docs).
    ///
    /// # Errors
    ///
    /// `NotFound BANK_NOT_FOUND`, `BATCH_NOT_FOUND` (re-send); `Forbidden
    /// BANK_SUSPENDED`; `Invalid FILE_IO` when the file cannot be written.
    pub async fn export_bank_batch(
        &self,
        options: &ExportOptions,
        actor: &Actor,
    ) -> ServiceResult<ExportSummary> {
        let bank = bank_code(&options.bank)?;
        let mut conn = self.connection().await?;
        let bank_row =
            rows::bank(&mut conn, bank.as_str())
                .await?
                .ok_or_else(|| ServiceError::NotFound {
                    code: "BANK_NOT_FOUND",
                    detail: format!("未找到代码为 {bank} 的合作银行，请先在“合作银行”中登记。"),
                })?;
        if BankStatus::parse(&bank_row.status) != Ok(BankStatus::Active) {
            return Err(ServiceError::Forbidden {
                code: "BANK_SUSPENDED",
                detail: format!("{}已暂停合作，不能向其报送数据。", bank_row.name),
            });
        }
        let (mut batch, resumed, resent) = if let Some(no) = &options.resend {
            let batch = rows::batch_by_no(&mut conn, bank.as_str(), "export", no.trim())
                .await?
                .ok_or_else(|| ServiceError::NotFound {
                    code: "BATCH_NOT_FOUND",
                    detail: format!("{bank} 没有批次号为 {no} 的报送批次，请核对批次号。"),
                })?;
            let written = batch.state == "written";
            (batch, !written, written)
        } else if let Some(batch) = rows::unfinished_export(&mut conn, bank.as_str()).await? {
            tracing::info!(batch = %batch.batch_no, "finishing an interrupted export batch");
            (batch, true, false)
        } else {
            if rows::count_awaiting_export(&mut conn, bank.as_str()).await? == 0 {
                return Ok(ExportSummary {
                    batch_no: None,
                    records: 0,
                    digest: None,
                    resumed: false,
                    resent: false,
                    encrypted: false,
                });
            }
            drop(conn);
            (self.open_export_batch(&bank, actor).await?, false, false)
        };
        if batch.state == "claiming" {
            self.claim_export_cards(&mut batch, options.max_records, actor)
                .await?;
        }
        let digest = self
            .write_export_file(&batch, &bank, &options.out, options.transport_key.as_ref())
            .await?;
        let mut tx = self.store().begin().await?;
        batch.state = "written".to_owned();
        batch.body_sm3 = Some(digest.clone());
        batch.sends += 1;
        batch.completed_at = Some(Utc::now());
        rows::update_batch(&mut tx, &batch).await?;
        self.record_audit(
            &mut tx,
            actor,
            if resent {
                "bank.export_resend"
            } else {
                "bank.export"
            },
            &format!("bank_batch:{}", batch.id),
            Outcome::Succeeded,
            serde_json::json!({
                "bank": bank.as_str(),
                "batch_no": batch.batch_no,
                "records": batch.record_count,
                "digest": digest,
                "encrypted": options.transport_key.is_some(),
                "sends": batch.sends,
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(ExportSummary {
            batch_no: Some(batch.batch_no),
            records: u64::try_from(batch.record_count).unwrap_or(0),
            digest: Some(digest),
            resumed,
            resent,
            encrypted: options.transport_key.is_some(),
        })
    }

    /// A new export batch numbered `<BANK>-<YYYYMMDD>-<NNNN>` (China date).
    async fn open_export_batch(&self, bank: &BankCode, actor: &Actor) -> ServiceResult<BatchRow> {
        let now = Utc::now();
        let prefix = format!("{}-{}-", bank.as_str(), to_china(now).format("%Y%m%d"));
        for _ in 0..5 {
            let mut tx = self.store().begin().await?;
            rows::lock_registry(&mut tx).await?;
            let n = rows::count_batches_with_prefix(&mut tx, bank.as_str(), &prefix).await? + 1;
            let batch = BatchRow {
                id: uuid::Uuid::new_v4().to_string(),
                batch_no: format!("{prefix}{n:04}"),
                bank_code: bank.as_str().to_owned(),
                kind: "export".to_owned(),
                state: "claiming".to_owned(),
                record_count: 0,
                body_sm3: None,
                answers_batch: None,
                accepted: 0,
                rejected: 0,
                refused: 0,
                sends: 0,
                created_at: now,
                created_by: actor.id.clone(),
                completed_at: None,
            };
            match rows::insert_batch(&mut tx, &batch).await {
                Ok(()) => {}
                Err(StoreError::Database(sqlx::Error::Database(db)))
                    if db.is_unique_violation() =>
                {
                    continue;
                }
                Err(error) => return Err(error.into()),
            }
            self.record_audit(
                &mut tx,
                actor,
                "bank.export_open",
                &format!("bank_batch:{}", batch.id),
                Outcome::Succeeded,
                serde_json::json!({ "bank": bank.as_str(), "batch_no": batch.batch_no }),
            )
            .await?;
            commit(tx).await?;
            return Ok(batch);
        }
        Err(ServiceError::Conflict {
            code: "BATCH_NUMBER_TAKEN",
            detail: "多个报送同时进行，未能分配批次号，请稍后重试。".to_owned(),
        })
    }

    /// Lists the batch's cards, [`CLAIM_CHUNK`] per transaction, then marks
    /// it claimed with its record count.
    async fn claim_export_cards(
        &self,
        batch: &mut BatchRow,
        max_records: Option<u64>,
        actor: &Actor,
    ) -> ServiceResult<()> {
        let max = max_records.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        loop {
            let mut tx = self.store().begin().await?;
            // One claimer per database at a time (SQLite serialises anyway).
            rows::lock_registry(&mut tx).await?;
            rows::widen_exchange_cache(&mut tx).await?;
            let last = rows::batch_last_seq(&mut tx, &batch.id).await?;
            let limit = max.map_or(CLAIM_CHUNK, |max| CLAIM_CHUNK.min(max - last));
            if limit <= 0 {
                break;
            }
            let added = rows::claim_cards(
                &mut tx,
                &batch.id,
                &batch.bank_code,
                last,
                limit,
                Utc::now(),
            )
            .await?;
            if added > 0 {
                self.record_audit(
                    &mut tx,
                    actor,
                    "bank.export_claim",
                    &format!("bank_batch:{}", batch.id),
                    Outcome::Succeeded,
                    serde_json::json!({
                        "batch_no": batch.batch_no,
                        "first_seq": last + 1,
                        "last_seq": last + added,
                    }),
                )
                .await?;
            }
            commit(tx).await?;
            tracing::info!(batch = %batch.batch_no, claimed = last + added, "claimed cards for export");
            if added < limit {
                break;
            }
        }
        let mut tx = self.store().begin().await?;
        batch.record_count = rows::batch_last_seq(&mut tx, &batch.id).await?;
        batch.state = "claimed".to_owned();
        rows::update_batch(&mut tx, batch).await?;
        self.record_audit(
            &mut tx,
            actor,
            "bank.export_claimed",
            &format!("bank_batch:{}", batch.id),
            Outcome::Succeeded,
            serde_json::json!({ "batch_no": batch.batch_no, "records": batch.record_count }),
        )
        .await?;
        commit(tx).await
    }

    /// Writes the batch's file from its card list, page by page; gives the
    /// digest. The file appears under its name only when complete.
    async fn write_export_file(
        &self,
        batch: &BatchRow,
        bank: &BankCode,
        out: &Path,
        key: Option<&TransportKey>,
    ) -> ServiceResult<String> {
        let partial = partial_path(out);
        let file = File::create(&partial).map_err(|e| io_error(&partial, &e))?;
        let buffered = BufWriter::with_capacity(1 << 16, file);
        let sink = match key {
            Some(key) => Sink::Encrypted(Box::new(
                Sm4StreamWriter::new(key, buffered).map_err(|e| io_error(&partial, &e))?,
            )),
            None => Sink::Plain(buffered),
        };
        let header = Header {
            kind: FileKind::Export,
            batch_no: batch.batch_no.clone(),
            bank: bank.clone(),
            record_count: u64::try_from(batch.record_count).unwrap_or(0),
            created_at: to_china(batch.created_at),
            answers_batch: None,
        };
        let result = self.write_export_records(batch, sink, &header).await;
        let (sink, digest) = match result {
            Ok(done) => done,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
        };
        let file = sink.finish().map_err(|e| io_error(&partial, &e))?;
        file.sync_all().map_err(|e| io_error(&partial, &e))?;
        drop(file);
        std::fs::rename(&partial, out).map_err(|e| io_error(out, &e))?;
        Ok(digest)
    }

    async fn write_export_records(
        &self,
        batch: &BatchRow,
        sink: Sink,
        header: &Header,
    ) -> ServiceResult<(Sink, String)> {
        let write_error = |e: io::Error| ServiceError::Internal(anyhow::anyhow!(e));
        let mut writer = FileWriter::new(sink, header).map_err(write_error)?;
        let mut after = 0;
        loop {
            let mut conn = self.export_read_connection().await?;
            rows::widen_exchange_cache(&mut conn).await?;
            let page = rows::export_page(&mut conn, &batch.id, after, EXPORT_PAGE).await?;
            drop(conn);
            let Some(last) = page.last() else {
                break;
            };
            after = last.seq;
            for row in &page {
                let id_number =
                    self.open_sealed(&row.id_number_sealed, &ID_NUMBER_SEALED.aad(&row.person_id))?;
                let mobile = row
                    .mobile_sealed
                    .as_deref()
                    .map(|sealed| self.open_sealed(sealed, &MOBILE_SEALED.aad(&row.person_id)))
                    .transpose()?
                    .unwrap_or_default();
                let address = row
                    .address_sealed
                    .as_deref()
                    .map(|sealed| self.open_sealed(sealed, &ADDRESS_SEALED.aad(&row.person_id)))
                    .transpose()?
                    .unwrap_or_default();
                let sex = match row.sex.as_str() {
                    "male" => "1",
                    "female" => "2",
                    other => return Err(corrupt("persons.sex", other)),
                };
                writer
                    .record(&[
                        &row.card_number,
                        &id_number,
                        &row.name,
                        sex,
                        &row.birth_date.to_string(),
                        &mobile,
                        &address,
                        &row.issue_date.to_string(),
                        &row.expiry_date.to_string(),
                    ])
                    .map_err(write_error)?;
            }
            if i64::try_from(page.len()).unwrap_or(0) < EXPORT_PAGE {
                break;
            }
        }
        self.narrow_writer_cache().await?;
        writer.finish().map_err(write_error)
    }

    /// The connection the export reads its pages on: on SQLite the one
    /// writer connection, whose page cache the claim widened and filled with
    /// the cards' index pages the pages look up again; one widened cache,
    /// not two (each SQLite connection runs on its own thread, and the
    /// memory one gives back stays in its thread's malloc arena, unused by
    /// the other). Taken for a page at a time, so other writers of the
    /// process are not held up. PostgreSQL: the pool.
    async fn export_read_connection(&self) -> ServiceResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        match self.store().writer_pool() {
            Some(writer) => Ok(writer.acquire().await.map_err(StoreError::from)?),
            None => self.connection().await,
        }
    }

    /// Gives back the page cache the write transactions widened
    /// ([`rows::widen_exchange_cache`]): SQLite's one writer connection.
    async fn narrow_writer_cache(&self) -> ServiceResult<()> {
        if let Some(writer) = self.store().writer_pool() {
            let mut conn = writer.acquire().await.map_err(StoreError::from)?;
            rows::narrow_exchange_cache(&mut conn).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Import of a return file
// ---------------------------------------------------------------------------

/// What happened to one return record.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Applied {
    Accepted,
    /// With the bank's reason code.
    Rejected(String),
    UnchangedAccepted,
    UnchangedRejected(String),
    Refused {
        code: &'static str,
        message: String,
    },
}

impl Applied {
    fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
        }
    }
}

/// Counters of an import.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    accepted: u64,
    rejected: u64,
    unchanged_accepted: u64,
    unchanged_rejected: u64,
    refused: u64,
}

impl Tally {
    fn add(&mut self, applied: &Applied) {
        match applied {
            Applied::Accepted => self.accepted += 1,
            Applied::Rejected(_) => self.rejected += 1,
            Applied::UnchangedAccepted => self.unchanged_accepted += 1,
            Applied::UnchangedRejected(_) => self.unchanged_rejected += 1,
            Applied::Refused { .. } => self.refused += 1,
        }
    }

    fn writes(&self) -> u64 {
        self.accepted + self.rejected
    }
}

/// The context of one return file's records.
struct ReturnContext<'a> {
    bank: &'a BankCode,
    bins: &'a [BinPrefix],
    batch: &'a BatchRow,
    answers_batch: Option<&'a str>,
}

impl Services {
    /// Imports a bank's return file (see the module docs).
    ///
    /// # Errors
    ///
    /// `Invalid` with the file's code (`FILE_DIGEST_MISMATCH`,
    /// `FILE_COUNT_MISMATCH`, `FILE_RECORD_FORMAT`, `FILE_KIND_WRONG`,
    /// `TRANSPORT_KEY_REQUIRED`, `FILE_DECRYPT_FAILED`, …) when the file is
    /// refused whole (nothing applied); `NotFound BANK_NOT_FOUND`,
    /// `EXPORT_BATCH_UNKNOWN`; `Conflict RETURN_BATCH_CONFLICT` for another
    /// file under a batch number already imported.
    pub async fn import_bank_return(
        &self,
        options: &ImportOptions,
        actor: &Actor,
    ) -> ServiceResult<ImportSummary> {
        let key = options.transport_key.as_ref();
        // Pass 1: the whole file, before anything is applied.
        let (header, verified) =
            bankfile::verify(open_input(&options.file, key)?).map_err(file_error)?;
        if header.kind != FileKind::Return {
            return Err(ServiceError::Invalid {
                code: "FILE_KIND_WRONG",
                detail: format!(
                    "此文件是{}（{}），不是回盘文件（RETURN）。",
                    header.kind.label_zh(),
                    header.kind.code()
                ),
                errors: Vec::new(),
            });
        }
        let mut conn = self.connection().await?;
        let bank_row = rows::bank(&mut conn, header.bank.as_str())
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "BANK_NOT_FOUND",
                detail: format!("回盘文件的银行代码 {} 不是已登记的合作银行。", header.bank),
            })?;
        if let Some(answers) = &header.answers_batch
            && rows::batch_by_no(&mut conn, header.bank.as_str(), "export", answers)
                .await?
                .is_none()
        {
            return Err(ServiceError::NotFound {
                code: "EXPORT_BATCH_UNKNOWN",
                detail: format!(
                    "回盘文件所对应的报送批次 {answers} 不存在（{} 没有此批次），整个文件不予处理。",
                    header.bank
                ),
            });
        }
        drop(conn);
        let bins: Vec<BinPrefix> = bank_row
            .bins
            .iter()
            .filter_map(|bin| BinPrefix::parse(bin).ok())
            .collect();
        let batch = self.open_return_batch(&header, &verified, actor).await?;
        let already_imported = batch.state == "applied";

        // Pass 2: apply in chunks, report every record.
        let report_file = options
            .report
            .clone()
            .unwrap_or_else(|| report_path(&options.file, ".report.csv"));
        let mut report = Report::create(
            &report_file,
            &["seq", "card_number", "result", "code", "message"],
        )?;
        let mut reader = FileReader::open(open_input(&options.file, key)?).map_err(file_error)?;
        let context = ReturnContext {
            bank: &header.bank,
            bins: &bins,
            batch: &batch,
            answers_batch: header.answers_batch.as_deref(),
        };
        let mut tally = Tally::default();
        let mut chunk = Vec::with_capacity(APPLY_CHUNK);
        loop {
            let record = reader.next_record().map_err(file_error)?;
            let done = record.is_none();
            if let Some(record) = record {
                chunk.push(record);
            }
            if chunk.len() == APPLY_CHUNK || (done && !chunk.is_empty()) {
                let results = self.apply_return_chunk(&context, &chunk, actor).await?;
                for (record, applied) in chunk.iter().zip(&results) {
                    tally.add(applied);
                    let (result, code, message) = match applied {
                        Applied::Accepted => ("accepted", "", "开户成功，账号已登记到卡上"),
                        Applied::Rejected(code) => (
                            "rejected",
                            code.as_str(),
                            "银行拒绝开户，原因已登记，待工作人员跟进",
                        ),
                        Applied::UnchangedAccepted => ("unchanged", "", "此前已登记该账号，无变化"),
                        Applied::UnchangedRejected(code) => {
                            ("unchanged", code.as_str(), "此前已登记该拒绝原因，无变化")
                        }
                        Applied::Refused { code, message } => ("refused", *code, message.as_str()),
                    };
                    report.line(&[
                        &record.seq.to_string(),
                        record.get(FileKind::Return, "card_number"),
                        result,
                        code,
                        message,
                    ])?;
                }
                chunk.clear();
            }
            if done {
                break;
            }
        }
        self.narrow_writer_cache().await?;
        let report_file = report.finish()?;
        if !already_imported {
            let mut tx = self.store().begin().await?;
            let mut finished = batch.clone();
            finished.state = "applied".to_owned();
            finished.accepted =
                i64::try_from(tally.accepted + tally.unchanged_accepted).unwrap_or(i64::MAX);
            finished.rejected =
                i64::try_from(tally.rejected + tally.unchanged_rejected).unwrap_or(i64::MAX);
            finished.refused = i64::try_from(tally.refused).unwrap_or(i64::MAX);
            finished.completed_at = Some(Utc::now());
            rows::update_batch(&mut tx, &finished).await?;
            self.record_audit(
                &mut tx,
                actor,
                "bank.import",
                &format!("bank_batch:{}", batch.id),
                Outcome::Succeeded,
                serde_json::json!({
                    "bank": header.bank.as_str(),
                    "batch_no": header.batch_no,
                    "records": verified.records,
                    "accepted": finished.accepted,
                    "rejected": finished.rejected,
                    "refused": finished.refused,
                    "digest": verified.digest,
                }),
            )
            .await?;
            commit(tx).await?;
        }
        Ok(ImportSummary {
            bank: header.bank.as_str().to_owned(),
            batch_no: header.batch_no,
            records: verified.records,
            accepted: tally.accepted,
            rejected: tally.rejected,
            unchanged: tally.unchanged_accepted + tally.unchanged_rejected,
            refused: tally.refused,
            already_imported,
            report: report_file,
        })
    }

    /// Records the return batch (or finds it again: same number, same
    /// digest); another file under an imported number is refused.
    async fn open_return_batch(
        &self,
        header: &Header,
        verified: &bankfile::Verified,
        actor: &Actor,
    ) -> ServiceResult<BatchRow> {
        let mut tx = self.store().begin().await?;
        rows::lock_registry(&mut tx).await?;
        if let Some(batch) =
            rows::batch_by_no(&mut tx, header.bank.as_str(), "return", &header.batch_no).await?
        {
            if batch.body_sm3.as_deref() != Some(verified.digest.as_str()) {
                return Err(ServiceError::Conflict {
                    code: "RETURN_BATCH_CONFLICT",
                    detail: format!(
                        "{} 的回盘批次 {} 此前已导入，但内容与本文件不同（SM3 摘要不一致）：同一批次号不能对应两个不同的文件，整个文件不予处理，请与银行核实。",
                        header.bank, header.batch_no
                    ),
                });
            }
            return Ok(batch);
        }
        let batch = BatchRow {
            id: uuid::Uuid::new_v4().to_string(),
            batch_no: header.batch_no.clone(),
            bank_code: header.bank.as_str().to_owned(),
            kind: "return".to_owned(),
            state: "applying".to_owned(),
            record_count: i64::try_from(verified.records).unwrap_or(i64::MAX),
            body_sm3: Some(verified.digest.clone()),
            answers_batch: header.answers_batch.clone(),
            accepted: 0,
            rejected: 0,
            refused: 0,
            sends: 0,
            created_at: Utc::now(),
            created_by: actor.id.clone(),
            completed_at: None,
        };
        rows::insert_batch(&mut tx, &batch).await?;
        self.record_audit(
            &mut tx,
            actor,
            "bank.import_open",
            &format!("bank_batch:{}", batch.id),
            Outcome::Succeeded,
            serde_json::json!({
                "bank": header.bank.as_str(),
                "batch_no": header.batch_no,
                "records": verified.records,
                "answers_batch": header.answers_batch,
                "digest": verified.digest,
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(batch)
    }

    /// Applies one chunk of return records in one transaction (with one
    /// audit entry when anything changed).
    async fn apply_return_chunk(
        &self,
        context: &ReturnContext<'_>,
        records: &[bankfile::Record],
        actor: &Actor,
    ) -> ServiceResult<Vec<Applied>> {
        let kind = FileKind::Return;
        let keyring = self.keyring();
        let numbers: Vec<String> = records
            .iter()
            .filter_map(|r| CardNumber::parse(r.get(kind, "card_number")).ok())
            .map(|n| n.as_str().to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let account_indexes: HashMap<u64, (BankCardNumber, String)> = records
            .iter()
            .filter(|r| r.get(kind, "result") == "A")
            .filter_map(|r| {
                let account = BankCardNumber::parse(r.get(kind, "account")).ok()?;
                let index = keyring.blind_index(ACCOUNT_INDEX, account.as_str());
                Some((r.seq, (account, index)))
            })
            .collect();
        let mut tx = self.store().begin().await?;
        rows::widen_exchange_cache(&mut tx).await?;
        let mut cards: HashMap<String, ExchangeCard> = rows::exchange_cards(&mut tx, &numbers)
            .await?
            .into_iter()
            .map(|card| (card.card_number.clone(), card))
            .collect();
        let wanted: Vec<String> = account_indexes
            .values()
            .map(|(_, index)| index.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut taken: HashMap<String, String> = rows::cards_with_account_index(&mut tx, &wanted)
            .await?
            .into_iter()
            .collect();
        let now = Utc::now();
        let mut results = Vec::with_capacity(records.len());
        let mut tally = Tally::default();
        // The accounts accepted, written together after the loop: one per
        // card (a later acceptance of the same card replaces an earlier).
        let mut accepted: Vec<rows::AcceptedAccount> = Vec::new();
        let mut accepted_at: HashMap<String, usize> = HashMap::new();
        for record in records {
            let applied = self
                .apply_return_record(
                    &mut tx,
                    context,
                    record,
                    account_indexes.get(&record.seq),
                    &mut cards,
                    &mut taken,
                    now,
                )
                .await?;
            if applied == Applied::Accepted {
                let account = accepted_account(&cards, record)?;
                match accepted_at.get(&account.card_id) {
                    Some(&at) => accepted[at] = account,
                    None => {
                        accepted_at.insert(account.card_id.clone(), accepted.len());
                        accepted.push(account);
                    }
                }
            }
            tally.add(&applied);
            results.push(applied);
        }
        rows::accept_accounts(&mut tx, &context.batch.id, &accepted, now).await?;
        if tally.writes() == 0 {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(results);
        }
        self.record_audit(
            &mut tx,
            actor,
            "bank.import_chunk",
            &format!("bank_batch:{}", context.batch.id),
            Outcome::Succeeded,
            serde_json::json!({
                "batch_no": context.batch.batch_no,
                "first_seq": records.first().map(|r| r.seq),
                "last_seq": records.last().map(|r| r.seq),
                "accepted": tally.accepted,
                "rejected": tally.rejected,
                "unchanged": tally.unchanged_accepted + tally.unchanged_rejected,
                "refused": tally.refused,
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(results)
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_return_record(
        &self,
        tx: &mut crate::store::Tx,
        context: &ReturnContext<'_>,
        record: &bankfile::Record,
        account: Option<&(BankCardNumber, String)>,
        cards: &mut HashMap<String, ExchangeCard>,
        taken: &mut HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> ServiceResult<Applied> {
        let kind = FileKind::Return;
        let number = match CardNumber::parse(record.get(kind, "card_number")) {
            Ok(number) => number,
            Err(error) => return Ok(Applied::refused(error.code(), format!("卡号：{error}"))),
        };
        let Some(card) = cards.get_mut(number.as_str()) else {
            return Ok(Applied::refused(
                "CARD_NOT_FOUND",
                "系统中没有此卡号的社会保障卡。",
            ));
        };
        if !BankCode::parse(&card.bank_code).is_ok_and(|bank| &bank == context.bank) {
            return Ok(Applied::refused(
                "CARD_OF_OTHER_BANK",
                format!(
                    "此卡属于合作银行 {}，不是 {}。",
                    card.bank_code, context.bank
                ),
            ));
        }
        let id_number = match IdNumber::parse(record.get(kind, "id_number")) {
            Ok(id_number) => id_number,
            Err(error) => {
                return Ok(Applied::refused(
                    error.code(),
                    format!("身份证号码：{error}"),
                ));
            }
        };
        if self
            .keyring()
            .blind_index(ID_NUMBER_INDEX, id_number.as_str())
            != card.holder_index
        {
            return Ok(Applied::refused(
                "CARD_HOLDER_MISMATCH",
                "身份证号码与该卡持卡人不符，未登记。",
            ));
        }
        if card.status.is_none() {
            return Ok(Applied::refused(
                "CARD_NOT_EXPORTED",
                "此卡未曾报送给银行，不能登记回盘结果。",
            ));
        }
        if let Some(answers) = context.answers_batch
            && card.export_batch_no.as_deref() != Some(answers)
        {
            return Ok(Applied::refused(
                "CARD_NOT_IN_BATCH",
                format!(
                    "此卡不在所对应的报送批次 {answers} 中（在批次 {}）。",
                    card.export_batch_no.as_deref().unwrap_or("—")
                ),
            ));
        }
        match record.get(kind, "result") {
            "A" => {
                let Some((account, index)) = account else {
                    let message = match BankCardNumber::parse(record.get(kind, "account")) {
                        Err(error) => format!("银行账号：{error}"),
                        Ok(_) => "银行账号无效。".to_owned(),
                    };
                    let code = BankCardNumber::parse(record.get(kind, "account"))
                        .err()
                        .map_or("BANK_CARD_FORMAT", |e| e.code());
                    return Ok(Applied::refused(code, message));
                };
                if let Err(mismatch) = check_account_bank(account, context.bank, context.bins) {
                    return Ok(Applied::refused(mismatch.code(), mismatch.to_string()));
                }
                if card.status.as_deref() == Some("accepted")
                    && card.account_index.as_ref() == Some(index)
                {
                    return Ok(Applied::UnchangedAccepted);
                }
                if let Some(sealed) = &card.bank_account_sealed {
                    let stored =
                        self.open_sealed(sealed, &BANK_ACCOUNT_SEALED.aad(&card.card_id))?;
                    if stored != account.as_str() {
                        return Ok(Applied::refused(
                            "ACCOUNT_ALREADY_SET",
                            format!(
                                "卡上已登记另一银行账号 {}，未改动；请与银行核实。",
                                card.bank_account_masked.as_deref().unwrap_or("****")
                            ),
                        ));
                    }
                }
                if taken.get(index).is_some_and(|other| other != &card.card_id) {
                    return Ok(Applied::refused(
                        "ACCOUNT_TAKEN",
                        format!("银行账号 {} 已登记在另一张卡上，未登记。", account.masked()),
                    ));
                }
                let sealed = self.keyring().encrypt_str(
                    account.as_str(),
                    BANK_ACCOUNT_SEALED.aad(&card.card_id).as_bytes(),
                );
                // Written by the chunk, set-based, from the card as left
                // here (`apply_return_chunk`).
                card.status = Some("accepted".to_owned());
                card.account_index = Some(index.clone());
                card.bank_account_sealed = Some(sealed);
                card.bank_account_masked = Some(account.masked());
                taken.insert(index.clone(), card.card_id.clone());
                Ok(Applied::Accepted)
            }
            "R" => {
                let Some(code) = RejectionCode::parse(record.get(kind, "reason_code")) else {
                    return Ok(Applied::refused(
                        "REJECTION_CODE_FORMAT",
                        "拒绝原因代码应为 2 至 40 位大写字母、数字或下划线（例如 AML_REVIEW_FAILED）。",
                    ));
                };
                let text = record.get(kind, "reason_text").trim();
                if text.chars().count() > MAX_REJECTION_TEXT || text.chars().any(char::is_control) {
                    return Ok(Applied::refused(
                        "REJECTION_TEXT_INVALID",
                        format!(
                            "拒绝原因说明不能超过 {MAX_REJECTION_TEXT} 个字符，且不能含控制字符。"
                        ),
                    ));
                }
                let text = if text.is_empty() {
                    code.label_zh().unwrap_or("（银行未说明原因）").to_owned()
                } else {
                    text.to_owned()
                };
                if card.status.as_deref() == Some("accepted") {
                    return Ok(Applied::refused(
                        "ALREADY_ACCEPTED",
                        "银行此前已回盘该卡开户成功，不能再登记为拒绝；请与银行核实。",
                    ));
                }
                // The same rejection again (this return file imported
                // again): nothing changes, and a card staff re-queued
                // after it stays re-queued.
                if matches!(card.status.as_deref(), Some("rejected" | "requeued"))
                    && card.return_batch_id.as_deref() == Some(context.batch.id.as_str())
                    && card.rejection_code.as_deref() == Some(code.as_str())
                    && card.rejection_text.as_deref() == Some(text.as_str())
                {
                    return Ok(Applied::UnchangedRejected(code.as_str().to_owned()));
                }
                rows::mark_rejected(
                    tx,
                    &card.card_id,
                    &context.batch.id,
                    code.as_str(),
                    &text,
                    now,
                )
                .await?;
                card.status = Some("rejected".to_owned());
                card.return_batch_id = Some(context.batch.id.clone());
                card.rejection_code = Some(code.as_str().to_owned());
                card.rejection_text = Some(text);
                Ok(Applied::Rejected(code.as_str().to_owned()))
            }
            other => Ok(Applied::refused(
                "RESULT_INVALID",
                format!("处理结果“{other}”无效：应为 A（开户成功）或 R（拒绝开户）。"),
            )),
        }
    }
}

/// The account just accepted for `record`'s card, as the accepted branch of
/// [`Services::apply_return_record`] left the card.
fn accepted_account(
    cards: &HashMap<String, ExchangeCard>,
    record: &bankfile::Record,
) -> ServiceResult<rows::AcceptedAccount> {
    let card = CardNumber::parse(record.get(FileKind::Return, "card_number"))
        .ok()
        .and_then(|number| cards.get(number.as_str()));
    let account = card.and_then(|card| {
        Some(rows::AcceptedAccount {
            card_id: card.card_id.clone(),
            sealed: card.bank_account_sealed.clone()?,
            masked: card.bank_account_masked.clone()?,
            account_index: card.account_index.clone()?,
        })
    });
    account.ok_or_else(|| {
        ServiceError::Internal(anyhow::anyhow!(
            "return record {} was accepted without its card's account",
            record.seq
        ))
    })
}

// ---------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------

/// The kinds of mismatch a reconciliation reports, in report order.
pub const MISMATCHES: [(&str, &str); 6] = [
    ("NOT_IN_REGISTRY", "银行清单中有，系统中没有此卡"),
    ("OTHER_BANK_IN_REGISTRY", "系统中此卡属于另一家合作银行"),
    (
        "NOT_ACTIVE_IN_REGISTRY",
        "银行清单中为已激活，系统中金融应用未处于已激活状态",
    ),
    ("ACCOUNT_DIFFERS", "银行账号与系统登记的不一致"),
    ("ONLY_IN_REGISTRY", "系统中为已激活，银行清单中没有此卡"),
    ("RECORD_INVALID", "清单记录的卡号或账号格式不正确"),
];

impl Services {
    /// Compares a bank's list of activated accounts (an `ACTIVATED` file)
    /// with the registry and reports every mismatch both ways (see
    /// [`MISMATCHES`]) in `<file>.reconcile.csv`. Reads only (one audit
    /// entry). Memory: the card numbers of the list (about 20 bytes each).
    ///
    /// # Errors
    ///
    /// As [`Services::import_bank_return`] for a refused file;
    /// `Invalid FILE_BANK_MISMATCH` when the file is another bank's.
    pub async fn reconcile_bank(
        &self,
        bank: &str,
        file: &Path,
        key: Option<&TransportKey>,
        actor: &Actor,
    ) -> ServiceResult<ReconcileSummary> {
        let bank = bank_code(bank)?;
        let (header, verified) = bankfile::verify(open_input(file, key)?).map_err(file_error)?;
        if header.kind != FileKind::Activated {
            return Err(ServiceError::Invalid {
                code: "FILE_KIND_WRONG",
                detail: format!(
                    "此文件是{}（{}），不是已激活账户清单（ACTIVATED）。",
                    header.kind.label_zh(),
                    header.kind.code()
                ),
                errors: Vec::new(),
            });
        }
        if header.bank != bank {
            return Err(ServiceError::Invalid {
                code: "FILE_BANK_MISMATCH",
                detail: format!("此文件是 {} 的清单，不是 {bank} 的。", header.bank),
                errors: Vec::new(),
            });
        }
        let mut conn = self.connection().await?;
        if rows::bank(&mut conn, bank.as_str()).await?.is_none() {
            return Err(ServiceError::NotFound {
                code: "BANK_NOT_FOUND",
                detail: format!("{bank} 不是已登记的合作银行。"),
            });
        }
        drop(conn);
        let report_file = report_path(file, ".reconcile.csv");
        let mut report = Report::create(
            &report_file,
            &["side", "seq", "card_number", "code", "message"],
        )?;
        let mut counts: HashMap<&'static str, u64> = HashMap::new();
        let mut seen: HashSet<[u8; 9]> = HashSet::new();
        let mut matched = 0;
        let mut reader = FileReader::open(open_input(file, key)?).map_err(file_error)?;
        let mut chunk = Vec::with_capacity(APPLY_CHUNK);
        loop {
            let record = reader.next_record().map_err(file_error)?;
            let done = record.is_none();
            if let Some(record) = record {
                chunk.push(record);
            }
            if chunk.len() == APPLY_CHUNK || (done && !chunk.is_empty()) {
                let numbers: Vec<String> = chunk
                    .iter()
                    .filter_map(|r| {
                        CardNumber::parse(r.get(FileKind::Activated, "card_number")).ok()
                    })
                    .map(|n| n.as_str().to_owned())
                    .collect();
                let mut conn = self.connection().await?;
                let cards: HashMap<String, ExchangeCard> =
                    rows::exchange_cards(&mut conn, &numbers)
                        .await?
                        .into_iter()
                        .map(|card| (card.card_number.clone(), card))
                        .collect();
                drop(conn);
                for record in &chunk {
                    let raw_number = record.get(FileKind::Activated, "card_number");
                    let problem = self.reconcile_record(&bank, record, &cards, &mut seen)?;
                    match problem {
                        None => matched += 1,
                        Some((code, detail)) => {
                            *counts.entry(code).or_default() += 1;
                            report.line(&[
                                "bank",
                                &record.seq.to_string(),
                                raw_number,
                                code,
                                &detail,
                            ])?;
                        }
                    }
                }
                chunk.clear();
            }
            if done {
                break;
            }
        }
        // The other way: active in the registry, absent from the bank's list.
        let mut after = String::new();
        loop {
            let mut conn = self.connection().await?;
            let page = rows::active_cards_page(&mut conn, bank.as_str(), &after, 1000).await?;
            drop(conn);
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after.clone_from(last);
            for (number, _, _) in &page {
                if !seen.contains(&compact(number)) {
                    *counts.entry("ONLY_IN_REGISTRY").or_default() += 1;
                    report.line(&[
                        "registry",
                        "",
                        number,
                        "ONLY_IN_REGISTRY",
                        "系统中金融应用为已激活，银行清单中没有此卡",
                    ])?;
                }
            }
            if page.len() < 1000 {
                break;
            }
        }
        let report_file = report.finish()?;
        let mismatches: Vec<(&'static str, u64)> = MISMATCHES
            .iter()
            .filter_map(|(code, _)| counts.get(code).map(|n| (*code, *n)))
            .collect();
        let mut tx = self.store().begin().await?;
        self.record_audit(
            &mut tx,
            actor,
            "bank.reconcile",
            &format!("bank:{bank}"),
            Outcome::Succeeded,
            serde_json::json!({
                "batch_no": header.batch_no,
                "records": verified.records,
                "matched": matched,
                "mismatches": mismatches.iter().map(|(c, n)| serde_json::json!({"code": c, "count": n})).collect::<Vec<_>>(),
                "digest": verified.digest,
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(ReconcileSummary {
            bank: bank.as_str().to_owned(),
            records: verified.records,
            matched,
            mismatches,
            report: report_file,
        })
    }

    fn reconcile_record(
        &self,
        bank: &BankCode,
        record: &bankfile::Record,
        cards: &HashMap<String, ExchangeCard>,
        seen: &mut HashSet<[u8; 9]>,
    ) -> ServiceResult<Option<(&'static str, String)>> {
        let kind = FileKind::Activated;
        let (Ok(number), Ok(account)) = (
            CardNumber::parse(record.get(kind, "card_number")),
            BankCardNumber::parse(record.get(kind, "account")),
        ) else {
            return Ok(Some((
                "RECORD_INVALID",
                "卡号或银行账号格式不正确，无法核对。".to_owned(),
            )));
        };
        seen.insert(compact(number.as_str()));
        let Some(card) = cards.get(number.as_str()) else {
            return Ok(Some((
                "NOT_IN_REGISTRY",
                "系统中没有此卡号的社会保障卡。".to_owned(),
            )));
        };
        if !BankCode::parse(&card.bank_code).is_ok_and(|code| &code == bank) {
            return Ok(Some((
                "OTHER_BANK_IN_REGISTRY",
                format!("系统中此卡属于合作银行 {}。", card.bank_code),
            )));
        }
        if card.financial_state != FinancialState::Active.code() {
            let label = FinancialState::parse(&card.financial_state)
                .map_or(card.financial_state.as_str(), |s| s.label_zh());
            return Ok(Some((
                "NOT_ACTIVE_IN_REGISTRY",
                format!("银行为已激活，系统中金融应用为“{label}”。"),
            )));
        }
        let stored = card
            .bank_account_sealed
            .as_deref()
            .map(|sealed| self.open_sealed(sealed, &BANK_ACCOUNT_SEALED.aad(&card.card_id)))
            .transpose()?;
        if stored.as_deref() != Some(account.as_str()) {
            return Ok(Some((
                "ACCOUNT_DIFFERS",
                format!(
                    "银行清单为 {}，系统登记为 {}。",
                    account.masked(),
                    card.bank_account_masked.as_deref().unwrap_or("（未登记）")
                ),
            )));
        }
        Ok(None)
    }
}

/// A card number (9 ASCII characters) as a fixed array for the seen-set.
fn compact(number: &str) -> [u8; 9] {
    let mut out = [0u8; 9];
    for (slot, byte) in out.iter_mut().zip(number.bytes()) {
        *slot = byte;
    }
    out
}

// ---------------------------------------------------------------------------
// Bulk new cards (demonstrations and measurements)
// ---------------------------------------------------------------------------

/// Rows per multi-row INSERT of [`Services::bulk_new_cards`].
const BULK_ROWS: usize = 200;
/// Rows per transaction of [`Services::bulk_new_cards`].
const BULK_TX: u64 = 2_000;

impl Services {
    /// Registers `count` generated persons of 柳州市鱼峰区 (division 450203,
    /// which the demo data does not use) each with a newly issued card of
    /// `bank` without an account (制卡中 / 未激活): the cards a first
    /// export sends. Numbered from `start`, so runs with different starts
    /// do not collide (card numbers `Z` + 8 digits). Valid identifiers,
    /// sealed and indexed like every registration; multi-row inserts in
    /// transactions of 2,000 with one audit entry each. For demonstrations
    /// and for measuring the batch exchange with a million cards.
    ///
    /// # Errors
    ///
    /// `Invalid BULK_RANGE` beyond 100,000,000 cards; the database fails
    /// (e.g. a person or card of this range exists already).
    pub async fn bulk_new_cards(
        &self,
        bank: &str,
        start: u64,
        count: u64,
        actor: &Actor,
    ) -> ServiceResult<u64> {
        let bank = bank_code(bank)?;
        if start.saturating_add(count) > 100_000_000 {
            return Err(ServiceError::Invalid {
                code: "BULK_RANGE",
                detail: "批量生成的卡号范围不能超过 1 亿张。".to_owned(),
                errors: Vec::new(),
            });
        }
        let mut done = 0;
        while done < count {
            let n = BULK_TX.min(count - done);
            let mut tx = self.store().begin().await?;
            let indexes: Vec<u64> = (start + done..start + done + n).collect();
            for part in indexes.chunks(BULK_ROWS) {
                self.bulk_insert(&mut tx, &bank, part).await?;
            }
            self.record_audit(
                &mut tx,
                actor,
                "demo.bulk_cards",
                &format!("bank:{bank}"),
                Outcome::Succeeded,
                serde_json::json!({ "first": start + done, "count": n }),
            )
            .await?;
            commit(tx).await?;
            done += n;
            if done % 100_000 == 0 {
                tracing::info!(done, count, "generated new cards");
            }
        }
        Ok(done)
    }

    async fn bulk_insert(
        &self,
        tx: &mut crate::store::Tx,
        bank: &BankCode,
        indexes: &[u64],
    ) -> ServiceResult<()> {
        let keyring = self.keyring();
        let now = crate::store::format_time(Utc::now());
        let mut persons = Vec::with_capacity(indexes.len());
        let mut cards = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let person_id = uuid::Uuid::new_v4().to_string();
            let card_id = uuid::Uuid::new_v4().to_string();
            let id_number = bulk_id_number(i);
            let birth = &id_number[6..14];
            let birth_date = format!("{}-{}-{}", &birth[..4], &birth[4..6], &birth[6..8]);
            let sex = if (id_number.as_bytes()[16] - b'0') % 2 == 1 {
                "male"
            } else {
                "female"
            };
            let mobile = format!("139{:08}", i % 100_000_000);
            let address = format!("广西柳州市鱼峰区箭盘路{}号", i % 999 + 1);
            let parsed =
                IdNumber::parse(&id_number).map_err(|_| corrupt("bulk id number", &id_number))?;
            persons.push(vec![
                person_id.clone(),
                keyring.blind_index(ID_NUMBER_INDEX, &id_number),
                keyring.encrypt_str(&id_number, ID_NUMBER_SEALED.aad(&person_id).as_bytes()),
                parsed.masked(),
                bulk_name(i),
                sex.to_owned(),
                birth_date,
                keyring.encrypt_str(&mobile, MOBILE_SEALED.aad(&person_id).as_bytes()),
                MobileNumber::parse(&mobile)
                    .map_err(|_| corrupt("bulk mobile", &mobile))?
                    .masked(),
                keyring.encrypt_str(&address, ADDRESS_SEALED.aad(&person_id).as_bytes()),
                Address::parse(&address)
                    .ok()
                    .flatten()
                    .map_or_else(String::new, |a| a.masked()),
                "450203".to_owned(),
                "contributing".to_owned(),
                "2020-01-01".to_owned(),
                now.clone(),
                now.clone(),
            ]);
            cards.push(vec![
                card_id,
                format!("Z{i:08}"),
                format!("450203D156000005{i:016X}"),
                "450200".to_owned(),
                "3.00".to_owned(),
                "2026-11-01".to_owned(),
                "2036-11-01".to_owned(),
                person_id,
                bank.as_str().to_owned(),
                "in_production".to_owned(),
                "not_activated".to_owned(),
                now.clone(),
                now.clone(),
            ]);
        }
        multi_insert(
            tx,
            "persons (id, id_number_index, id_number_sealed, id_number_masked, name, sex, birth_date, \
             mobile_sealed, mobile_masked, address_sealed, address_masked, enrolment_region, \
             enrolment_status, enrolment_since, created_at, updated_at)",
            &persons,
        )
        .await?;
        multi_insert(
            tx,
            "cards (id, card_number, card_identification_code, issuing_area_code, spec_version, \
             issue_date, expiry_date, person_id, bank_code, social_state, financial_state, \
             created_at, updated_at)",
            &cards,
        )
        .await?;
        let mut events = Vec::with_capacity(cards.len() * 2);
        for card in &cards {
            for (seq, application, state) in [(1, "social", &card[9]), (2, "financial", &card[10])]
            {
                events.push(vec![
                    uuid::Uuid::new_v4().to_string(),
                    card[0].clone(),
                    seq.to_string(),
                    now.clone(),
                    application.to_owned(),
                    state.clone(),
                    crate::service::registry::REGISTER_EVENT.to_owned(),
                    "批量生成（演示与性能测量）".to_owned(),
                    "system".to_owned(),
                    "system".to_owned(),
                ]);
            }
        }
        multi_insert(
            tx,
            "card_events (id, card_id, seq, occurred_at, application, to_state, event, reason, \
             actor, actor_role)",
            &events,
        )
        .await
    }
}

/// One multi-row INSERT of text values (the `seq` of card events is cast).
async fn multi_insert(
    tx: &mut crate::store::Tx,
    target: &str,
    rows: &[Vec<String>],
) -> ServiceResult<()> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    let bigint_column = if target.starts_with("card_events") {
        Some(2)
    } else {
        None
    };
    let mut sql = format!("INSERT INTO {target} VALUES ");
    let mut n = 0;
    for (r, _) in rows.iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            if Some(c) == bigint_column {
                sql.push_str(&format!("CAST(${n} AS BIGINT)"));
            } else {
                sql.push_str(&format!("${n}"));
            }
        }
        sql.push(')');
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for value in row {
            query = query.bind(value.clone());
        }
    }
    query.execute(&mut **tx).await.map_err(StoreError::from)?;
    Ok(())
}

/// A valid ID number of 鱼峰区 (450203) for bulk person `i`: a birth date
/// from 1950-01-01 on (one day per 1,000 persons) and the sequence number.
fn bulk_id_number(i: u64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default();
    let birth = base + chrono::Duration::days(i64::try_from(i / 1000).unwrap_or(0));
    let first17 = format!("450203{}{:03}", birth.format("%Y%m%d"), i % 1000);
    let check = sscard_domain::identifiers::id_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// A generated Chinese name for bulk person `i`.
fn bulk_name(i: u64) -> String {
    const FAMILY: [&str; 12] = [
        "韦", "覃", "黄", "蓝", "莫", "梁", "廖", "陆", "潘", "罗", "李", "王",
    ];
    const GIVEN: [&str; 12] = [
        "秀", "明", "华", "丽", "强", "芳", "伟", "敏", "军", "玲", "桂", "壮",
    ];
    let family = FAMILY[usize::try_from(i % 12).unwrap_or(0)];
    let a = GIVEN[usize::try_from(i / 12 % 12).unwrap_or(0)];
    let b = GIVEN[usize::try_from(i / 144 % 12).unwrap_or(0)];
    format!("{family}{a}{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_identifiers_are_valid_and_distinct() {
        let mut seen = HashSet::new();
        for i in [0, 1, 999, 1000, 999_999, 1_000_000, 9_999_999] {
            let id = bulk_id_number(i);
            assert!(IdNumber::parse(&id).is_ok(), "{id}");
            assert!(seen.insert(id));
            assert!(CardNumber::parse(&format!("Z{i:08}")).is_ok());
        }
        assert_eq!(bulk_name(0).chars().count(), 3);
    }

    #[test]
    fn report_paths_sit_beside_the_input() {
        assert_eq!(
            report_path(Path::new("/tmp/ICBC-R.txt"), ".report.csv"),
            PathBuf::from("/tmp/ICBC-R.txt.report.csv")
        );
        assert_eq!(
            partial_path(Path::new("out/x.txt")),
            PathBuf::from("out/x.txt.partial")
        );
    }
}
