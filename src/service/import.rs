//! The import use case: `sscard import persons|cards FILE`.
//!
//! A reader thread streams the file's rows (`crate::import::reader`) through
//! a bounded channel; each row is checked with the domain types
//! (`crate::import::persons`, `crate::import::cards`), every problem goes to
//! the report file next to the input, and the valid rows are applied through
//! the registry's upserts ([`Services::upsert_person_in`],
//! [`Services::upsert_card_in`]) in transactions of [`ImportOptions::batch_size`]
//! rows, each with one audit entry (none when a batch changed nothing).
//!
//! - A row is applied whole or not at all: the registry's rule errors happen
//!   before any write of the row; any other failure rolls the batch back and
//!   the batch is tried once more.
//! - `all_or_nothing`: every row goes into one transaction, committed (with
//!   one audit entry) only when no row of the file has a problem.
//! - A row whose key (ID number; card number or card identification code)
//!   already appeared earlier in the file is refused (`DUPLICATE_IN_FILE`).
//! - An optional column missing from the file keeps what is stored; a blank
//!   cell in a present column removes the stored value.
//!
//! Memory stays bounded: the channel holds at most [`CHANNEL_ROWS`] rows, a
//! batch at most `batch_size` records, and the duplicate check 24 bytes per
//! row (a keyed hash, not the key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sscard_domain::identifiers::{BankCardNumber, MobileNumber, Uscc};
use sscard_domain::registry::Address;
use tokio::sync::mpsc;

use super::registry::{CardRecord, ID_NUMBER_INDEX, PersonRecord, UpsertOutcome};
use super::{Actor, Outcome, ServiceError, ServiceResult, Services};
use crate::import::cards::CardLine;
use crate::import::persons::PersonLine;
use crate::import::reader::{self, Event, Format, ReadError};
use crate::import::report::{ReportWriter, report_path};
use crate::import::{DuplicateFinder, HeaderMap, ImportKind, Patch, RowError, key_of};
use crate::store::registry as rows;
use crate::store::{StoreError, Tx};

/// Rows in flight between the reader thread and the importer.
pub const CHANNEL_ROWS: usize = 1024;
/// The default number of rows per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Apply nothing unless every row is valid.
    pub all_or_nothing: bool,
    /// Rows per transaction (and per audit entry).
    pub batch_size: usize,
    /// The day dates are checked against (birth and issue dates not after it).
    pub today: NaiveDate,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            all_or_nothing: false,
            batch_size: DEFAULT_BATCH_SIZE,
            today: crate::clock::today_in_china(),
        }
    }
}

/// Where the import is, for a progress bar. Called from the importing task.
pub trait ImportProgress: Send + Sync {
    /// The file is open; `total` units (bytes or rows) when known.
    fn start(&self, total: Option<u64>);
    /// `done` units of the total are read.
    fn advance(&self, done: u64);
    /// The import has ended.
    fn finish(&self);
}

/// No progress display (tests, the demo seeding).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl ImportProgress for NoProgress {
    fn start(&self, _total: Option<u64>) {}
    fn advance(&self, _done: u64) {}
    fn finish(&self) {}
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    pub kind: ImportKind,
    /// `CSV` or `XLSX`, when the file could be opened.
    pub format: Option<Format>,
    /// `UTF-8`, `UTF-8 (BOM)`, `GBK`, `UTF-16LE`, … or `XLSX`.
    pub encoding: Option<&'static str>,
    /// Data rows read (blank rows not counted).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows not imported because of a problem of their own.
    pub rejected: u64,
    /// Problem lines written to the report.
    pub problems: u64,
    /// Problem lines by code.
    pub codes: BTreeMap<String, u64>,
    /// False when nothing was applied (all-or-nothing with problems, or a
    /// file that could not be read).
    pub applied: bool,
    /// Columns of the file that are not known and were ignored.
    pub ignored_columns: Vec<String>,
    /// A problem of the whole file (code, Chinese message), e.g. an empty
    /// file, missing columns, a corrupt XLSX.
    pub failure: Option<(String, String)>,
    /// The report file.
    pub report: PathBuf,
}

impl ImportSummary {
    /// True when every row was imported (or already there).
    pub fn is_clean(&self) -> bool {
        self.failure.is_none() && self.rejected == 0
    }

    fn changed(&self) -> u64 {
        self.created + self.updated
    }
}

/// A validated line of either kind.
#[derive(Clone, Debug)]
enum Line {
    Person(Box<PersonLine>),
    Card(Box<CardLine>),
}

impl Line {
    fn row(&self) -> u64 {
        match self {
            Self::Person(line) => line.row,
            Self::Card(line) => line.row,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
}

impl Counts {
    fn add(&mut self, outcome: UpsertOutcome) {
        match outcome {
            UpsertOutcome::Created => self.created += 1,
            UpsertOutcome::Updated => self.updated += 1,
            UpsertOutcome::Unchanged => self.unchanged += 1,
        }
    }

    fn changed(self) -> u64 {
        self.created + self.updated
    }
}

/// The state of one import run.
struct Run<'a> {
    kind: ImportKind,
    map: HeaderMap,
    options: &'a ImportOptions,
    actor: &'a Actor,
    /// `import:<uuid>`: the audit object of every batch of this run.
    object: String,
    file_name: String,
    report: ReportWriter,
    summary: ImportSummary,
    batch: Vec<Line>,
    /// The one transaction of an all-or-nothing run.
    whole: Option<Tx>,
    whole_counts: Counts,
    keys: DuplicateFinder,
    codes: DuplicateFinder,
}

impl Services {
    /// Imports a persons or cards file; see the module documentation.
    ///
    /// A problem of the file or of rows is not an error: it is in the
    /// summary (and the report file). Errors are reserved for what stops the
    /// run itself.
    ///
    /// # Errors
    ///
    /// The report file cannot be written (`IMPORT_REPORT_UNWRITABLE`), or the
    /// database fails.
    pub async fn import_file(
        &self,
        path: &Path,
        kind: ImportKind,
        options: &ImportOptions,
        actor: &Actor,
        progress: &dyn ImportProgress,
    ) -> ServiceResult<ImportSummary> {
        let report_file = report_path(path);
        let report = ReportWriter::create(&report_file).map_err(|e| ServiceError::Invalid {
            code: "IMPORT_REPORT_UNWRITABLE",
            detail: format!(
                "无法在输入文件旁写入报告文件 {}：{e}。请把文件放在可写的文件夹中再导入。",
                report_file.display()
            ),
            errors: Vec::new(),
        })?;
        let mut summary = ImportSummary {
            kind,
            format: None,
            encoding: None,
            rows: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
            problems: 0,
            codes: BTreeMap::new(),
            applied: false,
            ignored_columns: Vec::new(),
            failure: None,
            report: report_file,
        };

        let mut events = spawn_reader(path.to_owned());
        let header = match events.recv().await {
            Some(Ok(Event::Header {
                row,
                format,
                encoding,
                total,
            })) => {
                summary.format = Some(format);
                summary.encoding = Some(encoding);
                progress.start(total);
                row
            }
            // The reader hands over the header first; a row here would be
            // the first non-blank one, which is the header.
            Some(Ok(Event::Row { row, .. })) => row,
            Some(Err(error)) => return finish_failed(report, summary, &error_line(&error), None),
            None => {
                let error = ReadError::Io(std::io::Error::other("the reader stopped"));
                return finish_failed(report, summary, &error_line(&error), None);
            }
        };
        let map = match HeaderMap::new(kind, &header) {
            Ok(map) => map,
            Err(error) => {
                drop(events);
                let lines = error.row_errors();
                return finish_failed(
                    report,
                    summary,
                    &(error.code().to_owned(), error.to_string()),
                    Some(lines),
                );
            }
        };
        summary.ignored_columns.clone_from(&map.ignored);

        let mut run = Run {
            kind,
            map,
            options,
            actor,
            object: format!("import:{}", uuid::Uuid::new_v4()),
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            report,
            summary,
            batch: Vec::with_capacity(options.batch_size),
            whole: None,
            whole_counts: Counts::default(),
            keys: DuplicateFinder::new(),
            codes: DuplicateFinder::new(),
        };
        if options.all_or_nothing {
            run.whole = Some(self.store().begin().await?);
        }

        let result = self.import_rows(&mut run, &mut events, progress).await;
        progress.finish();
        drop(events);
        if let Err(error) = result {
            if let Some(tx) = run.whole.take() {
                let _ = tx.rollback().await;
            }
            return Err(error);
        }
        if let Some(tx) = run.whole.take() {
            let counts = run.whole_counts;
            if run.summary.is_clean() {
                self.finish_batch(tx, &run, counts, None).await?;
                run.summary.applied = true;
            } else {
                tx.rollback().await.map_err(StoreError::from)?;
                run.summary.applied = false;
                let message = format!(
                    "按“全部成功才导入”的要求，由于有 {} 行存在问题，本次没有导入任何数据。请按报告修改后重新导入整个文件。",
                    run.summary.rejected
                );
                write_report(
                    &mut run.report,
                    &mut run.summary,
                    &RowError::new(0, "", "IMPORT_NOTHING_APPLIED", message),
                )?;
            }
            run.summary.created = counts.created;
            run.summary.updated = counts.updated;
            run.summary.unchanged = counts.unchanged;
            if !run.summary.applied {
                run.summary.created = 0;
                run.summary.updated = 0;
                run.summary.unchanged = 0;
            }
        } else {
            run.summary.applied = run.summary.changed() > 0 || run.summary.unchanged > 0;
        }
        let Run {
            report, summary, ..
        } = run;
        finish_report(report)?;
        Ok(summary)
    }

    async fn import_rows(
        &self,
        run: &mut Run<'_>,
        events: &mut mpsc::Receiver<Result<Event, ReadError>>,
        progress: &dyn ImportProgress,
    ) -> ServiceResult<()> {
        while let Some(event) = events.recv().await {
            let (row, done) = match event {
                Ok(Event::Row { row, progress }) => (row, progress.done),
                Ok(Event::Header { .. }) => continue,
                Err(error) => {
                    // The file broke off: what was read before stays as
                    // decided (committed batches of a normal run); the rows
                    // of the open batch are not applied.
                    let (code, message) = error_line(&error);
                    let last = run.batch.last().map(Line::row);
                    let pending = run.batch.len();
                    run.batch.clear();
                    let message = match last {
                        Some(last) if !run.options.all_or_nothing => format!(
                            "{message}（读取中断：第 {last} 行及之前尚未写入的 {pending} 行没有导入。）"
                        ),
                        _ => message,
                    };
                    write_report(
                        &mut run.report,
                        &mut run.summary,
                        &RowError::new(0, "", code.clone(), message.clone()),
                    )?;
                    run.summary.failure = Some((code, message));
                    return Ok(());
                }
            };
            progress.advance(done);
            run.summary.rows += 1;
            let parsed = match run.kind {
                ImportKind::Persons => {
                    crate::import::persons::parse_row(&run.map, &row, run.options.today)
                        .map(|line| Line::Person(Box::new(line)))
                }
                ImportKind::Cards => {
                    crate::import::cards::parse_row(&run.map, &row, run.options.today)
                        .map(|line| Line::Card(Box::new(line)))
                }
            };
            let line = match parsed.and_then(|line| duplicate_check(run, line)) {
                Ok(line) => line,
                Err(errors) => {
                    run.summary.rejected += 1;
                    for error in &errors {
                        write_report(&mut run.report, &mut run.summary, error)?;
                    }
                    continue;
                }
            };
            run.batch.push(line);
            if run.batch.len() >= run.options.batch_size.max(1) {
                self.apply_batch(run).await?;
            }
        }
        if !run.batch.is_empty() {
            self.apply_batch(run).await?;
        }
        Ok(())
    }

    /// Applies the pending batch: in its own transaction (tried twice), or
    /// into the run's one transaction when all-or-nothing.
    async fn apply_batch(&self, run: &mut Run<'_>) -> ServiceResult<()> {
        let lines = std::mem::take(&mut run.batch);
        if let Some(mut tx) = run.whole.take() {
            let result = self.apply_lines(&mut tx, run, &lines).await;
            run.whole = Some(tx);
            let (counts, refused) = result?;
            run.whole_counts.created += counts.created;
            run.whole_counts.updated += counts.updated;
            run.whole_counts.unchanged += counts.unchanged;
            report_refused(run, &refused)?;
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.store().begin().await?;
            match self.apply_lines(&mut tx, run, &lines).await {
                Ok((counts, refused)) => {
                    let first = lines.first().map(Line::row);
                    if counts.changed() > 0 {
                        self.finish_batch(tx, run, counts, first.zip(lines.last().map(Line::row)))
                            .await?;
                    } else {
                        tx.rollback().await.map_err(StoreError::from)?;
                    }
                    run.summary.created += counts.created;
                    run.summary.updated += counts.updated;
                    run.summary.unchanged += counts.unchanged;
                    report_refused(run, &refused)?;
                    return Ok(());
                }
                Err(error) => {
                    let _ = tx.rollback().await;
                    if attempt >= 2 {
                        return Err(error);
                    }
                    tracing::warn!(%error, "an import batch failed; trying it once more");
                }
            }
        }
    }

    /// Applies lines inside `tx`; rule refusals are collected per line.
    async fn apply_lines(
        &self,
        tx: &mut Tx,
        run: &Run<'_>,
        lines: &[Line],
    ) -> ServiceResult<(Counts, Vec<(u64, ServiceError)>)> {
        let mut counts = Counts::default();
        let mut refused = Vec::new();
        for line in lines {
            let result = match line {
                Line::Person(line) => match self.person_record(tx, line).await {
                    Ok(record) => self.upsert_person_in(tx, &record).await,
                    Err(error) => Err(error),
                },
                Line::Card(line) => match self.card_record(tx, line).await {
                    Ok(record) => self.upsert_card_in(tx, &record, run.actor).await,
                    Err(error) => Err(error),
                },
            };
            match result {
                Ok(outcome) => counts.add(outcome),
                Err(
                    error @ (ServiceError::Invalid { .. }
                    | ServiceError::Conflict { .. }
                    | ServiceError::NotFound { .. }),
                ) => refused.push((line.row(), error)),
                Err(error) => return Err(error),
            }
        }
        Ok((counts, refused))
    }

    /// Appends the batch's audit entry and commits.
    async fn finish_batch(
        &self,
        mut tx: Tx,
        run: &Run<'_>,
        counts: Counts,
        rows: Option<(u64, u64)>,
    ) -> ServiceResult<()> {
        if counts.changed() > 0 {
            let action = match run.kind {
                ImportKind::Persons => "import.persons",
                ImportKind::Cards => "import.cards",
            };
            self.record_audit(
                &mut tx,
                run.actor,
                action,
                &run.object,
                Outcome::Succeeded,
                serde_json::json!({
                    "file": run.file_name,
                    "rows": rows.map(|(first, last)| [first, last]),
                    "all_or_nothing": run.options.all_or_nothing,
                    "created": counts.created,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                }),
            )
            .await?;
        }
        super::commit(tx).await?;
        Ok(())
    }

    /// The registry's person record for a line; an optional column missing
    /// from the file keeps the stored value.
    async fn person_record(&self, tx: &mut Tx, line: &PersonLine) -> ServiceResult<PersonRecord> {
        let keeps = matches!(line.mobile, Patch::Keep)
            || matches!(line.address, Patch::Keep)
            || matches!(line.employer_uscc, Patch::Keep);
        let stored = if keeps {
            let index = self
                .keyring()
                .blind_index(ID_NUMBER_INDEX, line.id_number.as_str());
            rows::person_by_index(tx, &index).await?
        } else {
            None
        };
        let mobile = match (&line.mobile, &stored) {
            (Patch::Keep, Some(stored)) => stored
                .mobile_sealed
                .as_deref()
                .map(|sealed| {
                    let plain = self.open(sealed, "persons", "mobile_sealed", &stored.id)?;
                    MobileNumber::parse(&plain).map_err(|_| corrupt("persons.mobile_sealed"))
                })
                .transpose()?,
            (patch, _) => patch.clone().apply(None),
        };
        let address = match (&line.address, &stored) {
            (Patch::Keep, Some(stored)) => stored
                .address_sealed
                .as_deref()
                .map(|sealed| {
                    let plain = self.open(sealed, "persons", "address_sealed", &stored.id)?;
                    Address::parse(&plain)
                        .ok()
                        .flatten()
                        .ok_or_else(|| corrupt("persons.address_sealed"))
                })
                .transpose()?,
            (patch, _) => patch.clone().apply(None),
        };
        let employer_uscc = match (&line.employer_uscc, &stored) {
            (Patch::Keep, Some(stored)) => stored
                .employer_uscc
                .as_deref()
                .map(|uscc| Uscc::parse(uscc).map_err(|_| corrupt("persons.employer_uscc")))
                .transpose()?,
            (patch, _) => patch.clone().apply(None),
        };
        Ok(PersonRecord {
            id_number: line.id_number.clone(),
            name: line.name.clone(),
            mobile,
            address,
            employer_uscc,
            enrolment: line.enrolment.clone(),
        })
    }

    /// The registry's card record for a line; a missing account column
    /// keeps the stored account.
    async fn card_record(&self, tx: &mut Tx, line: &CardLine) -> ServiceResult<CardRecord> {
        let bank_account = match &line.bank_account {
            Patch::Keep => match rows::card_by_number(tx, line.card_number.as_str()).await? {
                Some(stored) => stored
                    .bank_account_sealed
                    .as_deref()
                    .map(|sealed| {
                        let plain =
                            self.open(sealed, "cards", "bank_account_sealed", &stored.id)?;
                        BankCardNumber::parse(&plain)
                            .map_err(|_| corrupt("cards.bank_account_sealed"))
                    })
                    .transpose()?,
                None => None,
            },
            patch => patch.clone().apply(None),
        };
        Ok(CardRecord {
            card_number: line.card_number.clone(),
            card_identification_code: line.card_identification_code.clone(),
            issuing_area_code: line.issuing_area_code.clone(),
            spec_version: line.spec_version.clone(),
            issue_date: line.issue_date,
            expiry_date: line.expiry_date,
            holder: line.holder.clone(),
            bank_code: line.bank_code.clone(),
            bank_account,
            social_state: line.social_state,
            financial_state: line.financial_state,
        })
    }

    fn open(&self, sealed: &str, table: &str, column: &str, id: &str) -> ServiceResult<String> {
        let aad = format!("{table}.{column}:{id}");
        self.keyring()
            .decrypt_str(sealed, aad.as_bytes())
            .map_err(|e| {
                ServiceError::Internal(anyhow::anyhow!("cannot open {table}.{column}: {e}"))
            })
    }
}

fn corrupt(what: &str) -> ServiceError {
    ServiceError::Internal(
        StoreError::Corrupt {
            what: what.to_owned(),
            reason: "the stored value does not parse".to_owned(),
        }
        .into(),
    )
}

fn report_refused(run: &mut Run<'_>, refused: &[(u64, ServiceError)]) -> ServiceResult<()> {
    for (row, error) in refused {
        run.summary.rejected += 1;
        for line in refusal_lines(&run.map, *row, error) {
            write_report(&mut run.report, &mut run.summary, &line)?;
        }
    }
    Ok(())
}

/// Refuses a line whose key appeared earlier in the file.
fn duplicate_check(run: &mut Run<'_>, line: Line) -> Result<Line, Vec<RowError>> {
    let row = line.row();
    let mut errors = Vec::new();
    match &line {
        Line::Person(person) => {
            if let Some(earlier) = run.keys.check(person.id_number.as_str(), row) {
                errors.push(RowError::new(
                    row,
                    run.map.header_of("id_number"),
                    "DUPLICATE_IN_FILE",
                    format!("与第 {earlier} 行的社会保障号码相同：同一人在文件中只能出现一次，本行未导入。"),
                ));
            }
        }
        Line::Card(card) => {
            if let Some(earlier) = run.keys.check(card.card_number.as_str(), row) {
                errors.push(RowError::new(
                    row,
                    run.map.header_of("card_number"),
                    "DUPLICATE_IN_FILE",
                    format!("与第 {earlier} 行的社会保障卡卡号相同：同一张卡在文件中只能出现一次，本行未导入。"),
                ));
            }
            let code_key = key_of(&["code", card.card_identification_code.as_str()]);
            if let Some(earlier) = run.codes.check(&code_key, row) {
                errors.push(RowError::new(
                    row,
                    run.map.header_of("card_identification_code"),
                    "DUPLICATE_IN_FILE",
                    format!("与第 {earlier} 行的卡识别码相同：每张卡的卡识别码不同，本行未导入。"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(line)
    } else {
        Err(errors)
    }
}

/// The report lines for a registry refusal of one row, naming the column
/// the rule is about.
fn refusal_lines(map: &HeaderMap, row: u64, error: &ServiceError) -> Vec<RowError> {
    let column_of_code = |code: &str| -> &str {
        let field = match code {
            "PERSON_NOT_FOUND"
            | "CARD_HOLDER_MISMATCH"
            | "PERSON_HAS_ACTIVE_CARD"
            | "PERSON_ALREADY_REGISTERED" => "id_number",
            "CARD_ID_CODE_TAKEN" => "card_identification_code",
            "CARD_STATE_DIFFERS" => "social_state",
            "CARD_STATES_INCONSISTENT" => "financial_state",
            "CARD_ALREADY_REGISTERED" => "card_number",
            _ => "",
        };
        map.header_of(field)
    };
    match error {
        ServiceError::Invalid {
            errors,
            code,
            detail,
        } if errors.is_empty() => {
            vec![RowError::new(
                row,
                column_of_code(code),
                *code,
                detail.clone(),
            )]
        }
        ServiceError::Invalid { errors, .. } => errors
            .iter()
            .map(|e| {
                let field = if e.field == "holder_id_number" {
                    "id_number"
                } else if e.field == "enrolment_since" {
                    "enrolled_on"
                } else {
                    e.field.as_str()
                };
                RowError::new(row, map.header_of(field), e.code.clone(), e.message.clone())
            })
            .collect(),
        other => vec![RowError::new(
            row,
            column_of_code(other.code()),
            other.code(),
            other.to_string(),
        )],
    }
}

fn write_report(
    report: &mut ReportWriter,
    summary: &mut ImportSummary,
    line: &RowError,
) -> ServiceResult<()> {
    report
        .write(line)
        .map_err(|e| report_error(report.path(), &e))?;
    summary.problems += 1;
    *summary.codes.entry(line.code.clone()).or_insert(0) += 1;
    Ok(())
}

fn finish_report(report: ReportWriter) -> ServiceResult<()> {
    let path = report.path().to_owned();
    report.finish().map_err(|e| report_error(&path, &e))?;
    Ok(())
}

fn report_error(path: &Path, error: &std::io::Error) -> ServiceError {
    ServiceError::Invalid {
        code: "IMPORT_REPORT_UNWRITABLE",
        detail: format!("无法写入报告文件 {}：{error}。", path.display()),
        errors: Vec::new(),
    }
}

/// Ends a run that could not read the file or its header: the report gets
/// the problem, nothing is applied.
fn finish_failed(
    mut report: ReportWriter,
    mut summary: ImportSummary,
    failure: &(String, String),
    lines: Option<Vec<RowError>>,
) -> ServiceResult<ImportSummary> {
    let lines =
        lines.unwrap_or_else(|| vec![RowError::new(0, "", failure.0.clone(), failure.1.clone())]);
    for line in &lines {
        write_report(&mut report, &mut summary, line)?;
    }
    finish_report(report)?;
    summary.failure = Some(failure.clone());
    summary.applied = false;
    Ok(summary)
}

fn error_line(error: &ReadError) -> (String, String) {
    (error.code().to_owned(), error.to_string())
}

/// Starts the reader thread; its events arrive through a bounded channel.
/// Dropping the receiver stops the thread at its next row.
fn spawn_reader(path: PathBuf) -> mpsc::Receiver<Result<Event, ReadError>> {
    let (sender, receiver) = mpsc::channel(CHANNEL_ROWS);
    let spawned = std::thread::Builder::new()
        .name("sscard-import-reader".to_owned())
        .spawn({
            let sender = sender.clone();
            move || {
                let result =
                    reader::read_table(&path, &mut |event| sender.blocking_send(Ok(event)).is_ok());
                if let Err(error) = result {
                    let _ = sender.blocking_send(Err(error));
                }
            }
        });
    if let Err(error) = spawned {
        let _ = sender.try_send(Err(ReadError::Io(error)));
    }
    receiver
}
