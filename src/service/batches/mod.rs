//! 单位批量启用 — the employer's batch activation as use cases: submission
//! (the sealed authorization letter and the electronic list, read into rows
//! as it streams in), the steps 受理 → 经办 → 反馈 with the case's own state
//! machine, the background processing of the rows in chunks ([`worker`]),
//! the progress, the per-row report and the list template ([`report`]).
//!
//! - **Submission** ([`Services::submit_batch`]) is one transaction: the
//!   idempotency key, the batch (stamped with the current guide version and
//!   the acceptance step's due date), the letter's upload row, every list
//!   row (its ID number sealed, its blind index kept for look-ups) and the
//!   audit entry. A reader thread parses and seals the list while the
//!   transaction inserts the rows a few hundred at a time, so memory does
//!   not grow with the list. A list that cannot be read at all (no header,
//!   no rows, a corrupt file) leaves nothing behind.
//! - **受理** ([`Services::act_on_batch`]): the 受理岗 checks the letter and
//!   accepts, issues a one-time notice (the employer supplements a new
//!   letter, [`Services::supplement_batch`]) or refuses; the domain checks
//!   role and state ([`sscard_domain::case::CaseState::apply_as`]).
//! - **经办** is rule-based, row by row, by the background worker: every
//!   row gets the individual case's rules ([`sscard_domain::batch::decide_row`]);
//!   the worker takes the step's decision when the last row is done.
//! - **反馈**: the 反馈岗 delivers the result (送达); from then on the
//!   employer downloads the report.
//!
//! An employer sees only the batches of its own unified social credit
//! code; another's answers `BATCH_NOT_FOUND` like a missing one.

mod list;
pub mod report;
pub mod worker;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sscard_domain::access::Role;
use sscard_domain::batch::{
    BANK_NOT_BATCHABLE, BANK_NOT_BATCHABLE_MESSAGE, batch_acceptance_check,
};
use sscard_domain::case::{
    CaseAction, CaseActionKind, CaseActor, CaseError, CaseRefusal, CaseState, Channel,
    MaterialStatus, due_from_receipt, step_due,
};
use sscard_domain::guide::RoleCode;

use super::accounts::{Client, Principal};
use super::cases::{MAX_UPLOAD_BYTES, UploadContent, action_path, sniff_content_type};
use super::registry::{blank_to_none, corrupt, invalid};
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::{to_china, today_in_china};
use crate::store::StoreError;
use crate::store::batches::{self as rows, BatchChange, BatchFilter, BatchRow};
use crate::store::cases::{self as case_rows, IdempotencyRow, StepRow, UploadRow};

pub use worker::ChunkDone;

/// Rows decided per chunk transaction unless configured (`[batches] chunk_rows`).
pub const DEFAULT_CHUNK_ROWS: usize = 500;
/// The largest chunk a setting may ask for.
pub const MAX_CHUNK_ROWS: usize = 10_000;
/// The largest list file accepted, in bytes.
pub const MAX_LIST_BYTES: u64 = 32 * 1024 * 1024;
/// The most data rows one list may have.
pub const MAX_LIST_ROWS: u64 = 200_000;
/// The Prometheus counter of rows decided, by outcome
/// (`activated`, `already_active`, `failed`).
pub const BATCH_ROWS_METRIC: &str = "sscard_batch_rows_total";
/// The longest free text (reason, opinion) accepted, in characters.
const MAX_TEXT_CHARS: usize = 500;

/// How batches are processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSettings {
    /// Rows per chunk transaction (and per audit entry).
    pub chunk_rows: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            chunk_rows: DEFAULT_CHUNK_ROWS,
        }
    }
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

/// A batch as its employer or the staff see it (identifiers masked).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    /// 批量办件编号, e.g. `PL-20261127-000001`.
    pub batch_no: String,
    pub item_name: String,
    pub item_code: String,
    pub implementation_code: String,
    /// The guide version current at submission; its rules apply.
    pub guide_version: i64,
    pub employer_uscc: String,
    pub employer_name: String,
    /// `submitted`, `awaiting_supplement`, `awaiting_processing`,
    /// `awaiting_feedback`, `completed`, `refused`.
    pub state: String,
    pub status_label: String,
    pub outcome: Option<String>,
    pub outcome_label: Option<String>,
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub progress: BatchProgress,
    /// Rows asking for the bank function, and what that gets them.
    pub notices: Vec<BatchNotice>,
    /// Failed rows by code (once rows are decided).
    pub failures: Vec<FailureCount>,
    pub list: ListInfo,
    pub letter: LetterView,
    pub received_at: DateTime<Utc>,
    /// The step whose clock runs now: `acceptor`, `processor`, `feedback`.
    pub current_step: Option<String>,
    pub step_due: Option<NaiveDate>,
    pub step_due_provisional: bool,
    /// The whole case's due date.
    pub deadline: Option<NaiveDate>,
    pub processing_started_at: Option<DateTime<Utc>>,
    pub processing_finished_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The per-row report can be downloaded by this caller now.
    pub report_available: bool,
    pub report_url: String,
    /// The one-time notice in force (while 补正中).
    pub notice: Option<sscard_domain::case::OneTimeNotice>,
    pub timeline: Vec<BatchStepView>,
    /// What the caller may do now (action codes as in the URL).
    pub allowed_actions: Vec<String>,
}

/// How far the rows are.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct BatchProgress {
    pub rows_total: i64,
    pub rows_done: i64,
    /// 成功: activated now or already active.
    pub rows_succeeded: i64,
    pub rows_failed: i64,
    /// Of the successful rows, those activated by this batch.
    pub rows_activated: i64,
    /// Whole percent of the rows done (100 only when every row is).
    pub percent: i64,
    /// Every row is decided.
    pub finished: bool,
}

/// A notice about some rows of the list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BatchNotice {
    pub code: String,
    pub message: String,
    pub rows: i64,
}

/// Failed rows of one code.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FailureCount {
    pub code: String,
    pub rows: i64,
}

/// How the list was read.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ListInfo {
    pub file_name: String,
    /// `CSV` or `XLSX`.
    pub format: String,
    /// `UTF-8`, `UTF-8 (BOM)`, `GBK`, … or `XLSX`.
    pub encoding: String,
    /// SM3 of the file as uploaded, hex.
    pub digest_sm3: String,
    /// The header's row (a title above it is skipped).
    pub header_row: i64,
    /// Columns not known, ignored.
    pub ignored_columns: Vec<String>,
}

/// The sealed authorization letter.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LetterView {
    /// The guide's name of the material.
    pub name: String,
    /// `submitted` or `defective` (after a one-time notice).
    pub status: String,
    pub status_label: String,
    pub reason: Option<String>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub url: String,
}

/// One entry of a batch's timeline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BatchStepView {
    pub seq: i64,
    pub action: String,
    pub action_label: String,
    pub to_state: String,
    pub to_state_label: String,
    pub actor_name: String,
    pub occurred_at: DateTime<Utc>,
    pub opinion: Option<String>,
    pub code: Option<String>,
    pub next_due: Option<NaiveDate>,
}

/// A line of a list of batches.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BatchSummary {
    pub batch_no: String,
    pub employer_name: String,
    pub employer_uscc: String,
    pub guide_version: i64,
    pub state: String,
    pub status_label: String,
    pub progress: BatchProgress,
    pub bank_requests: i64,
    pub received_at: DateTime<Utc>,
    pub step_due: Option<NaiveDate>,
    pub overdue: bool,
}

/// What a clerk sends with an action on a batch.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct BatchActionInput {
    /// 办理意见.
    #[serde(default)]
    pub opinion: Option<String>,
    /// 一次性告知: what is wrong with the letter (e.g. 未加盖单位公章);
    /// 不予受理: the reason told to the employer.
    #[serde(default)]
    pub reason: Option<String>,
    /// 不予受理: an UPPER_SNAKE reason code.
    #[serde(default)]
    pub code: Option<String>,
}

/// A scan or file uploaded with a batch.
pub struct UploadedFile<'a> {
    pub file_name: &'a str,
    pub bytes: Vec<u8>,
}

/// The list, streamed to a file first.
pub struct UploadedList<'a> {
    pub file_name: &'a str,
    pub path: &'a Path,
}

// ---------------------------------------------------------------------------
// Who
// ---------------------------------------------------------------------------

/// The employer an account acts for, if it is an employer account.
fn employer_of(principal: &Principal) -> Option<&str> {
    if principal.has_role(Role::Employer) {
        principal.employer_uscc.as_deref()
    } else {
        None
    }
}

fn is_bureau_staff(principal: &Principal) -> bool {
    principal.roles.iter().any(Role::is_bureau_staff)
}

/// Whether `principal` may see `batch`: bureau staff, or the employer of
/// the batch's own code.
fn may_see(principal: &Principal, batch: &BatchRow) -> bool {
    match employer_of(principal) {
        Some(uscc) => uscc == batch.employer_uscc,
        None => is_bureau_staff(principal),
    }
}

fn display_name(principal: &Principal) -> String {
    if principal.display_name.trim().is_empty() {
        principal.username.clone()
    } else {
        format!("{}（{}）", principal.display_name, principal.username)
    }
}

/// The audit actor of the background 经办.
pub(crate) fn worker_actor() -> Actor {
    Actor {
        id: "system:batch".to_owned(),
        role: "processor".to_owned(),
        client_address: "-".to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------

impl Services {
    /// The batch settings in force.
    pub fn batch_settings(&self) -> BatchSettings {
        self.batch
    }

    /// Processes batches with `settings` from now on.
    #[must_use]
    pub fn with_batch_settings(mut self, settings: BatchSettings) -> Self {
        self.batch = settings;
        self
    }

    /// Wakes this process's batch worker (a batch was accepted here).
    pub fn wake_batch_worker(&self) {
        self.batch_wakeup.notify_one();
    }

    /// The waker the worker waits on.
    pub(crate) fn batch_wakeup(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.batch_wakeup)
    }

    /// Submits a batch: the sealed authorization letter (PDF, JPEG or PNG)
    /// and the list (XLSX or CSV); see the module documentation. The same
    /// `idempotency_key` with the same two files returns the first batch;
    /// with other files it is refused.
    ///
    /// # Errors
    ///
    /// `Forbidden EMPLOYER_REQUIRED`; `Invalid` for the letter
    /// (`UPLOAD_EMPTY`, `UPLOAD_TOO_LARGE`, `UPLOAD_TYPE_NOT_ALLOWED`) and
    /// the list (`BATCH_LIST_COLUMNS_MISSING`, `BATCH_LIST_EMPTY`,
    /// `BATCH_LIST_TOO_LARGE`, `FILE_*` of an unreadable file); `Conflict
    /// IDEMPOTENCY_KEY_REUSED`.
    pub async fn submit_batch(
        &self,
        principal: &Principal,
        letter: UploadedFile<'_>,
        list_file: UploadedList<'_>,
        idempotency_key: Option<&str>,
        client: &Client,
    ) -> ServiceResult<(BatchView, bool)> {
        let Some(uscc) = employer_of(principal).map(str::to_owned) else {
            return Err(ServiceError::Forbidden {
                code: "EMPLOYER_REQUIRED",
                detail: "批量启用只能由绑定统一社会信用代码的单位经办人账号办理。".to_owned(),
            });
        };
        let letter_type = check_letter(&letter.bytes, "authorization")?;
        let list_size = std::fs::metadata(list_file.path)
            .map_err(|e| ServiceError::Internal(e.into()))?
            .len();
        if list_size == 0 {
            return Err(list_invalid(
                "BATCH_LIST_EMPTY",
                "上传的名单文件是空的，请选择填好的名单（XLSX 或 CSV）。",
            ));
        }
        if list_size > MAX_LIST_BYTES {
            return Err(list_invalid(
                "BATCH_LIST_TOO_LARGE",
                &format!(
                    "名单文件超过 {} MB，请分成几个名单分别上传。",
                    MAX_LIST_BYTES / 1024 / 1024
                ),
            ));
        }
        let list_path = list_file.path.to_path_buf();
        let list_digest = tokio::task::spawn_blocking(move || {
            std::fs::File::open(&list_path).and_then(sscard_crypto::sm3_hex_reader)
        })
        .await
        .map_err(|e| ServiceError::Internal(e.into()))?
        .map_err(|e| ServiceError::Internal(e.into()))?;
        let letter_digest = sscard_crypto::sm3_hex(&letter.bytes);
        let scope = format!("batches:account:{}", principal.account_id);
        let request_hash =
            sscard_crypto::sm3_hex(format!("{letter_digest}:{list_digest}").as_bytes());
        let idempotency = match idempotency_key {
            Some(key) => Some(check_idempotency_key(key)?),
            None => None,
        };
        if let Some(key) = &idempotency
            && let Some(no) = self.replayed_batch(&scope, key, &request_hash).await?
        {
            return Ok((self.batch(principal, &no).await?, true));
        }

        let guide = self.current_guide().await?.guide;
        let now = Utc::now();
        let received_local = to_china(now).naive_local();
        let window = guide
            .windows
            .first()
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("the guide names no window")))?;
        let total = guide.total_time_limit_working_days();
        let acceptance_limit = guide.time_limit_for(RoleCode::Acceptor).unwrap_or(0);
        let calendar = self
            .working_calendar(received_local.date(), total.max(1) + 30)
            .await?;
        let acceptance_due = due_from_receipt(received_local, acceptance_limit, &calendar, window)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
        let case_due = due_from_receipt(received_local, total, &calendar, window)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
        debug_assert!(Channel::Online.arrives_outside_hours());

        // The list's header before anything is written: a list that cannot
        // be read leaves nothing behind.
        let batch_id = uuid::Uuid::new_v4().to_string();
        let mut reader = list::spawn_reader(
            list_file.path.to_path_buf(),
            batch_id.clone(),
            self.keyring(),
            today_in_china(),
            MAX_LIST_ROWS,
        );
        let opened = reader.opened().await.map_err(list_error)?;
        // The letter's bytes go to the blob store before the rows naming
        // them commit (a crash in between leaves an unreferenced blob).
        let upload_id = uuid::Uuid::new_v4().to_string();
        let sealed = self
            .keyring()
            .encrypt(&letter.bytes, format!("blob:{upload_id}").as_bytes());
        self.blob_store()
            .put(&upload_id, sealed.into_bytes())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot write to the blob store");
                ServiceError::Unavailable(StoreError::Corrupt {
                    what: "blob store".to_owned(),
                    reason: e.to_string(),
                })
            })?;
        let mut tx = self.store().begin().await?;
        rows::widen_cache(&mut tx).await?;
        if let Some(key) = &idempotency
            && let Some(stored) = case_rows::idempotency_key(&mut tx, &scope, key).await?
        {
            drop(tx);
            let no = replay(&stored, &request_hash)?;
            return Ok((self.batch(principal, &no).await?, true));
        }
        let day = to_china(now).format("%Y%m%d").to_string();
        let seq = rows::next_batch_seq(&mut tx, &day).await?;
        let batch_no = format!("PL-{day}-{seq:06}");
        if let Some(key) = &idempotency
            && let Err(error) = case_rows::insert_idempotency_key(
                &mut tx,
                &scope,
                key,
                &IdempotencyRow {
                    request_hash: request_hash.clone(),
                    result_ref: batch_no.clone(),
                },
                now,
            )
            .await
        {
            drop(tx);
            if let Some(no) = self.replayed_batch(&scope, key, &request_hash).await? {
                return Ok((self.batch(principal, &no).await?, true));
            }
            return Err(error.into());
        }
        case_rows::insert_upload(
            &mut tx,
            &UploadRow {
                id: upload_id.clone(),
                owner: format!("account:{}", principal.account_id),
                content_type: letter_type.to_owned(),
                size_bytes: i64::try_from(letter.bytes.len()).unwrap_or(i64::MAX),
                digest_sm3: letter_digest,
                file_name: clean_file_name(letter.file_name, letter_type),
                case_id: None,
                created_at: now,
            },
        )
        .await?;

        // The list's rows, as the reader sends them.
        let state = CaseState::Submitted;
        let mut batch = BatchRow {
            id: batch_id.clone(),
            batch_no: batch_no.clone(),
            item_code: guide.item_code.clone(),
            implementation_code: guide.implementation_code.clone(),
            guide_version: i64::from(guide.version),
            employer_uscc: uscc.clone(),
            employer_name: if principal.display_name.trim().is_empty() {
                principal.username.clone()
            } else {
                principal.display_name.clone()
            },
            submitted_by: format!("account:{}", principal.account_id),
            letter_upload_id: upload_id,
            letter_status: MaterialStatus::Submitted.code().to_owned(),
            letter_reason: None,
            list_file_name: clean_list_name(list_file.file_name, opened.format),
            list_format: opened.format.to_string(),
            list_encoding: opened.encoding.to_owned(),
            list_digest_sm3: list_digest,
            header_row: i64::try_from(opened.header.row).unwrap_or(i64::MAX),
            ignored_columns: serde_json::to_string(&opened.header.ignored)
                .map_err(|e| ServiceError::Internal(e.into()))?,
            state: state.code().to_owned(),
            outcome: None,
            outcome_code: None,
            outcome_reason: None,
            rows_total: 0,
            rows_done: 0,
            rows_succeeded: 0,
            rows_failed: 0,
            rows_activated: 0,
            bank_requests: 0,
            chunks_done: 0,
            received_at: now,
            step_started_at: Some(now),
            step_due: Some(acceptance_due.deadline),
            step_due_provisional: acceptance_due.provisional,
            case_due: Some(case_due.deadline),
            processing_started_at: None,
            processing_finished_at: None,
            delivered_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        rows::insert_batch(&mut tx, &batch).await?;
        let mut total_rows = 0i64;
        let mut bank_requests = 0i64;
        while let Some(part) = reader.next_rows().await.map_err(list_error)? {
            bank_requests +=
                i64::try_from(part.iter().filter(|r| r.bank_requested).count()).unwrap_or(i64::MAX);
            total_rows += i64::try_from(part.len()).unwrap_or(i64::MAX);
            rows::insert_rows(&mut tx, &batch_id, &part).await?;
        }
        if total_rows == 0 {
            return Err(list_error(list::ListFailure::from(
                crate::import::batch::ListError::NoRows,
            )));
        }
        rows::set_batch_rows(&mut tx, &batch_id, total_rows, bank_requests).await?;
        batch.rows_total = total_rows;
        batch.bank_requests = bank_requests;
        let actor = principal.actor(client);
        rows::insert_step(
            &mut tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: batch_id.clone(),
                seq: 0,
                action: "submit".to_owned(),
                from_state: None,
                to_state: state.code().to_owned(),
                outcome: None,
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                actor_name: display_name(principal),
                occurred_at: now,
                opinion: None,
                code: None,
                detail: None,
                next_due: Some(acceptance_due.deadline),
            },
        )
        .await?;
        self.record_audit(
            &mut tx,
            &actor,
            "batch.submit",
            &format!("batch:{batch_id}"),
            Outcome::Succeeded,
            serde_json::json!({
                "batch_no": batch_no,
                "employer_uscc": uscc,
                "guide_version": guide.version,
                "rows": total_rows,
                "bank_requests": bank_requests,
                "list_format": batch.list_format,
                "list_encoding": batch.list_encoding,
                "list_digest_sm3": batch.list_digest_sm3,
            }),
        )
        .await?;
        rows::narrow_cache(&mut tx).await?;
        commit(tx).await?;
        Ok((self.batch(principal, &batch_no).await?, false))
    }

    /// A batch with its progress and timeline, as `principal` may see it.
    ///
    /// # Errors
    ///
    /// `NotFound BATCH_NOT_FOUND` (also for another employer's batch).
    pub async fn batch(&self, principal: &Principal, batch_no: &str) -> ServiceResult<BatchView> {
        let batch_no = normalize_batch_no(batch_no);
        let mut conn = self.connection().await?;
        let batch = rows::batch_by_number(&mut conn, &batch_no)
            .await?
            .filter(|b| may_see(principal, b))
            .ok_or_else(|| batch_not_found(&batch_no))?;
        let steps = rows::steps_of(&mut conn, &batch.id).await?;
        let letter = case_rows::upload_by_id(&mut conn, &batch.letter_upload_id)
            .await?
            .ok_or_else(|| corrupt("batches.letter_upload_id", &batch.letter_upload_id))?;
        let failures = if batch.rows_failed > 0 {
            rows::failures_by_code(&mut conn, &batch.id).await?
        } else {
            Vec::new()
        };
        drop(conn);
        let guide = self
            .guide_version(u32::try_from(batch.guide_version).unwrap_or(0))
            .await?
            .guide;
        let state = state_of(&batch)?;
        let letter_name = guide
            .materials
            .iter()
            .find(|m| m.code == sscard_domain::batch::BATCH_MATERIAL)
            .map_or_else(|| "授权委托材料".to_owned(), |m| m.name.clone());
        let notice = (state == CaseState::AwaitingSupplement)
            .then(|| {
                steps
                    .iter()
                    .rev()
                    .find(|s| s.action == CaseActionKind::NotifyMissing.code())
                    .and_then(|s| s.detail.as_deref())
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    .and_then(|d| serde_json::from_value(d.get("notice")?.clone()).ok())
            })
            .flatten();
        let letter_status = match batch.letter_status.as_str() {
            "defective" => MaterialStatus::Defective {
                reason: batch.letter_reason.clone().unwrap_or_default(),
            },
            _ => MaterialStatus::Submitted,
        };
        let allowed_actions = allowed_actions(principal, state);
        Ok(BatchView {
            item_name: guide.item_name.clone(),
            item_code: batch.item_code.clone(),
            implementation_code: batch.implementation_code.clone(),
            guide_version: batch.guide_version,
            employer_uscc: batch.employer_uscc.clone(),
            employer_name: batch.employer_name.clone(),
            state: state.code().to_owned(),
            status_label: status_label(&batch, state),
            outcome: state.outcome().map(|o| o.code().to_owned()),
            outcome_label: state.outcome().map(|o| o.label_zh().to_owned()),
            outcome_code: batch.outcome_code.clone(),
            outcome_reason: batch.outcome_reason.clone(),
            progress: progress_of(&batch),
            notices: notices_of(&batch),
            failures: failures
                .into_iter()
                .map(|(code, rows)| FailureCount { code, rows })
                .collect(),
            list: ListInfo {
                file_name: batch.list_file_name.clone(),
                format: batch.list_format.clone(),
                encoding: batch.list_encoding.clone(),
                digest_sm3: batch.list_digest_sm3.clone(),
                header_row: batch.header_row,
                ignored_columns: serde_json::from_str(&batch.ignored_columns).unwrap_or_default(),
            },
            letter: LetterView {
                name: letter_name,
                status: letter_status.code().to_owned(),
                status_label: letter_status.label_zh().to_owned(),
                reason: batch.letter_reason.clone(),
                file_name: letter.file_name.clone(),
                content_type: letter.content_type.clone(),
                size_bytes: letter.size_bytes,
                url: format!("/api/v1/batches/{}/authorization", batch.batch_no),
            },
            received_at: batch.received_at,
            current_step: state.step().map(|s| role_code(s).to_owned()),
            step_due: batch.step_due.filter(|_| state.step().is_some()),
            step_due_provisional: batch.step_due_provisional,
            deadline: batch.case_due,
            processing_started_at: batch.processing_started_at,
            processing_finished_at: batch.processing_finished_at,
            delivered_at: batch.delivered_at,
            report_available: report_available(principal, state),
            report_url: format!("/api/v1/batches/{}/report.xlsx", batch.batch_no),
            notice,
            timeline: steps.iter().map(step_view).collect(),
            allowed_actions,
            batch_no: batch.batch_no,
        })
    }

    /// Batches `principal` may see, newest first: an employer's own; for
    /// staff, those in `states` (all when empty).
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn batches(
        &self,
        principal: &Principal,
        states: &[CaseState],
        limit: i64,
    ) -> ServiceResult<Vec<BatchSummary>> {
        let employer = employer_of(principal).map(str::to_owned);
        if employer.is_none() && !is_bureau_staff(principal) {
            return Ok(Vec::new());
        }
        let mut codes: Vec<String> = states.iter().map(|s| s.code().to_owned()).collect();
        codes.dedup();
        let filter = BatchFilter {
            employer_uscc: employer,
            states: codes,
        };
        let mut conn = self.connection().await?;
        let found = rows::list_batches(&mut conn, &filter, limit.clamp(1, 500)).await?;
        drop(conn);
        let today = today_in_china();
        found
            .iter()
            .map(|batch| {
                let state = state_of(batch)?;
                Ok(BatchSummary {
                    batch_no: batch.batch_no.clone(),
                    employer_name: batch.employer_name.clone(),
                    employer_uscc: batch.employer_uscc.clone(),
                    guide_version: batch.guide_version,
                    state: state.code().to_owned(),
                    status_label: status_label(batch, state),
                    progress: progress_of(batch),
                    bank_requests: batch.bank_requests,
                    received_at: batch.received_at,
                    step_due: batch.step_due.filter(|_| state.step().is_some()),
                    overdue: state.step().is_some()
                        && batch.step_due.is_some_and(|due| today > due),
                })
            })
            .collect()
    }

    /// How many batches wait in each state (for the staff's queues).
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn batch_counts(&self) -> ServiceResult<Vec<(String, i64)>> {
        let mut conn = self.connection().await?;
        Ok(rows::count_by_state(&mut conn).await?)
    }

    /// One step on a batch by a clerk: `Accept` (受理: the letter is in
    /// order; the rows go to the worker), `NotifyMissing` (一次性告知: what
    /// is wrong with the letter, in `input.reason`), `Refuse` (不予受理,
    /// with `code` and `reason`), `Deliver` (反馈: the result is delivered;
    /// the employer may download the report). 经办 is the worker's.
    ///
    /// # Errors
    ///
    /// `Forbidden ROLE_NOT_PERMITTED_FOR_STEP`, `Conflict
    /// CASE_STATE_CONFLICT` (also to the loser of a race), `Conflict
    /// BATCH_PROCESSED_BY_RULES` for 经办 by hand, `Invalid` for the
    /// content (`REASON_REQUIRED`, `NOTICE_EMPTY`), `NotFound BATCH_NOT_FOUND`.
    pub async fn act_on_batch(
        &self,
        principal: &Principal,
        batch_no: &str,
        kind: CaseActionKind,
        input: &BatchActionInput,
        client: &Client,
    ) -> ServiceResult<BatchView> {
        let batch_no = normalize_batch_no(batch_no);
        if employer_of(principal).is_some() || !is_bureau_staff(principal) {
            return Err(batch_not_found(&batch_no));
        }
        if matches!(
            kind,
            CaseActionKind::Approve | CaseActionKind::Deny | CaseActionKind::ConfirmAlreadyActive
        ) {
            return Err(ServiceError::Conflict {
                code: "BATCH_PROCESSED_BY_RULES",
                detail: "批量办件的经办由系统在受理后逐行办理（与个人办件的审查规则相同），不需要也不能手工作出决定。请在受理后查看办理进度。".to_owned(),
            });
        }
        if kind == CaseActionKind::Supplement {
            return Err(ServiceError::Conflict {
                code: "SUPPLEMENT_BY_EMPLOYER",
                detail: "批量办件的补正由单位经办人上传新的授权委托材料办理。".to_owned(),
            });
        }
        let opinion = checked_text(input.opinion.as_deref(), "opinion", "办理意见")?;
        let reason = checked_text(input.reason.as_deref(), "reason", "原因")?;
        let actor = principal.actor(client);
        let roles = principal.roles.clone();
        let now = Utc::now();
        let today = today_in_china();
        let calendar = self.working_calendar(today, 40).await?;

        let mut tx = self.store().begin().await?;
        rows::lock_batch(&mut tx, &batch_no).await?;
        let batch = rows::batch_by_number(&mut tx, &batch_no)
            .await?
            .ok_or_else(|| batch_not_found(&batch_no))?;
        let guide = self
            .guide_version(u32::try_from(batch.guide_version).unwrap_or(0))
            .await?
            .guide;
        let state = state_of(&batch)?;
        let object = format!("batch:{}", batch.id);
        let probe = match kind {
            CaseActionKind::NotifyMissing => CaseAction::NotifyMissing {
                notice: sscard_domain::case::OneTimeNotice {
                    items: vec![sscard_domain::case::NoticeItem {
                        code: String::new(),
                        name: String::new(),
                        problem: sscard_domain::case::NoticeProblem::Missing,
                        message_zh: String::new(),
                    }],
                },
            },
            CaseActionKind::Refuse => CaseAction::Refuse {
                code: "PROBE".to_owned(),
                reason: "probe".to_owned(),
            },
            CaseActionKind::Deliver => CaseAction::Deliver,
            _ => CaseAction::Accept,
        };
        if let Err(error) = state.apply_as(&probe, CaseActor::Staff(&roles)) {
            return self
                .refuse_batch(tx, &actor, &object, &batch, kind, case_error(&error))
                .await;
        }
        let mut change = change_of(&batch, now);
        let mut detail = None;
        let mut next_due = None;
        let action = match kind {
            CaseActionKind::Accept => {
                if let Err(notice) = batch_acceptance_check(&guide, &MaterialStatus::Submitted) {
                    return Err(ServiceError::Invalid {
                        code: "MATERIALS_INCOMPLETE",
                        detail: notice.to_string(),
                        errors: Vec::new(),
                    });
                }
                change.letter_status = MaterialStatus::Submitted.code().to_owned();
                change.letter_reason = None;
                change.processing_started_at = Some(now);
                let limit = guide.time_limit_for(RoleCode::Processor).unwrap_or(1);
                next_due = Some(
                    step_due(today, limit, &calendar)
                        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?,
                );
                CaseAction::Accept
            }
            CaseActionKind::NotifyMissing => {
                let Some(reason) = reason.clone() else {
                    return Err(ServiceError::Invalid {
                        code: "DEFECT_REASON_REQUIRED",
                        detail:
                            "一次性告知须写明授权委托材料哪里不符合要求（例如：未加盖单位公章）。"
                                .to_owned(),
                        errors: vec![FieldError::new(
                            "reason",
                            "DEFECT_REASON_REQUIRED",
                            "请写明授权委托材料哪里不符合要求，例如：未加盖单位公章、扫描件不清晰。",
                        )],
                    });
                };
                let status = MaterialStatus::Defective {
                    reason: reason.clone(),
                };
                let notice = batch_acceptance_check(&guide, &status)
                    .err()
                    .unwrap_or_default();
                change.letter_status = status.code().to_owned();
                change.letter_reason = Some(reason);
                detail = Some(serde_json::json!({ "notice": notice }));
                CaseAction::NotifyMissing { notice }
            }
            CaseActionKind::Refuse => CaseAction::Refuse {
                code: blank_to_none(input.code.as_deref())
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                reason: reason.clone().unwrap_or_default(),
            },
            _ => {
                change.delivered_at = Some(now);
                detail = Some(serde_json::json!({
                    "method": "online",
                    "method_label": "网上下载",
                    "detail": "结果清单（report.xlsx）已向单位开放下载。",
                }));
                CaseAction::Deliver
            }
        };
        let next = match state.apply_as(&action, CaseActor::Staff(&roles)) {
            Ok(next) => next,
            Err(error)
                if matches!(
                    error.reason,
                    CaseRefusal::NoticeEmpty | CaseRefusal::ReasonRequired
                ) =>
            {
                return Err(case_error(&error));
            }
            Err(error) => {
                return self
                    .refuse_batch(tx, &actor, &object, &batch, kind, case_error(&error))
                    .await;
            }
        };
        if let CaseAction::Refuse { code, reason } = &action {
            change.outcome_code = Some(code.clone());
            change.outcome_reason = Some(reason.clone());
        }
        change.state = next.code().to_owned();
        change.outcome = next.outcome().map(|o| o.code().to_owned());
        change.step_started_at = next.step().map(|_| now);
        change.step_due = next_due.as_ref().map(|d| d.deadline);
        change.step_due_provisional = next_due.as_ref().is_some_and(|d| d.provisional);
        if !rows::update_batch(&mut tx, &batch.id, batch.version, &change).await? {
            return Err(case_error(&CaseError {
                current: state,
                attempted: kind,
                reason: CaseRefusal::StateConflict,
            }));
        }
        let code = match &action {
            CaseAction::Refuse { code, .. } => Some(code.clone()),
            _ => None,
        };
        rows::insert_step(
            &mut tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: batch.id.clone(),
                seq: 0,
                action: kind.code().to_owned(),
                from_state: Some(state.code().to_owned()),
                to_state: next.code().to_owned(),
                outcome: next.outcome().map(|o| o.code().to_owned()),
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                actor_name: display_name(principal),
                occurred_at: now,
                opinion: opinion.or(reason),
                code: code.clone(),
                detail: detail.map(|d| d.to_string()),
                next_due: next_due.as_ref().map(|d| d.deadline),
            },
        )
        .await?;
        self.record_audit(
            &mut tx,
            &actor,
            audit_action(kind),
            &object,
            Outcome::Succeeded,
            serde_json::json!({
                "batch_no": batch.batch_no,
                "from": state.code(),
                "to": next.code(),
                "code": code,
            }),
        )
        .await?;
        commit(tx).await?;
        if kind == CaseActionKind::Accept {
            self.wake_batch_worker();
        }
        self.batch(principal, &batch_no).await
    }

    /// 补正: the employer sends a new authorization letter after a one-time
    /// notice; the batch returns to 待受理 with a new acceptance due date.
    ///
    /// # Errors
    ///
    /// `NotFound BATCH_NOT_FOUND`, `Conflict CASE_STATE_CONFLICT` when no
    /// notice is in force, `Invalid` for the scan.
    pub async fn supplement_batch(
        &self,
        principal: &Principal,
        batch_no: &str,
        letter: UploadedFile<'_>,
        client: &Client,
    ) -> ServiceResult<BatchView> {
        let batch_no = normalize_batch_no(batch_no);
        if employer_of(principal).is_none() {
            return Err(ServiceError::Forbidden {
                code: "EMPLOYER_REQUIRED",
                detail: "补正材料由提交该批量办件的单位经办人上传。".to_owned(),
            });
        }
        let content_type = check_letter(&letter.bytes, "authorization")?;
        let now = Utc::now();
        let guide = self.current_guide().await?.guide;
        let window = guide
            .windows
            .first()
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("the guide names no window")))?
            .clone();
        let calendar = self.working_calendar(today_in_china(), 40).await?;
        let upload_id = uuid::Uuid::new_v4().to_string();
        let sealed = self
            .keyring()
            .encrypt(&letter.bytes, format!("blob:{upload_id}").as_bytes());
        self.blob_store()
            .put(&upload_id, sealed.into_bytes())
            .await
            .map_err(|e| {
                ServiceError::Unavailable(StoreError::Corrupt {
                    what: "blob store".to_owned(),
                    reason: e.to_string(),
                })
            })?;
        let actor = principal.actor(client);
        let mut tx = self.store().begin().await?;
        rows::lock_batch(&mut tx, &batch_no).await?;
        let batch = rows::batch_by_number(&mut tx, &batch_no)
            .await?
            .filter(|b| may_see(principal, b))
            .ok_or_else(|| batch_not_found(&batch_no))?;
        let state = state_of(&batch)?;
        let object = format!("batch:{}", batch.id);
        let next = match state.apply_as(&CaseAction::Supplement, CaseActor::Applicant) {
            Ok(next) => next,
            Err(error) => {
                return self
                    .refuse_batch(
                        tx,
                        &actor,
                        &object,
                        &batch,
                        CaseActionKind::Supplement,
                        case_error(&error),
                    )
                    .await;
            }
        };
        let limit = guide.time_limit_for(RoleCode::Acceptor).unwrap_or(0);
        let due = due_from_receipt(to_china(now).naive_local(), limit, &calendar, &window)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
        case_rows::insert_upload(
            &mut tx,
            &UploadRow {
                id: upload_id.clone(),
                owner: format!("account:{}", principal.account_id),
                content_type: content_type.to_owned(),
                size_bytes: i64::try_from(letter.bytes.len()).unwrap_or(i64::MAX),
                digest_sm3: sscard_crypto::sm3_hex(&letter.bytes),
                file_name: clean_file_name(letter.file_name, content_type),
                case_id: None,
                created_at: now,
            },
        )
        .await?;
        let mut change = change_of(&batch, now);
        change.state = next.code().to_owned();
        change.letter_upload_id = upload_id;
        change.letter_status = MaterialStatus::Submitted.code().to_owned();
        change.letter_reason = None;
        change.step_started_at = Some(now);
        change.step_due = Some(due.deadline);
        change.step_due_provisional = due.provisional;
        if !rows::update_batch(&mut tx, &batch.id, batch.version, &change).await? {
            return Err(case_error(&CaseError {
                current: state,
                attempted: CaseActionKind::Supplement,
                reason: CaseRefusal::StateConflict,
            }));
        }
        rows::insert_step(
            &mut tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: batch.id.clone(),
                seq: 0,
                action: CaseActionKind::Supplement.code().to_owned(),
                from_state: Some(state.code().to_owned()),
                to_state: next.code().to_owned(),
                outcome: None,
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                actor_name: display_name(principal),
                occurred_at: now,
                opinion: Some("单位重新上传了授权委托材料。".to_owned()),
                code: None,
                detail: None,
                next_due: Some(due.deadline),
            },
        )
        .await?;
        self.record_audit(
            &mut tx,
            &actor,
            "batch.supplement",
            &object,
            Outcome::Succeeded,
            serde_json::json!({ "batch_no": batch.batch_no, "from": state.code(), "to": next.code() }),
        )
        .await?;
        commit(tx).await?;
        self.batch(principal, &batch_no).await
    }

    /// The sealed authorization letter's scan, for the employer or staff.
    ///
    /// # Errors
    ///
    /// `NotFound BATCH_NOT_FOUND`.
    pub async fn batch_letter(
        &self,
        principal: &Principal,
        batch_no: &str,
    ) -> ServiceResult<UploadContent> {
        let batch_no = normalize_batch_no(batch_no);
        let mut conn = self.connection().await?;
        let batch = rows::batch_by_number(&mut conn, &batch_no)
            .await?
            .filter(|b| may_see(principal, b))
            .ok_or_else(|| batch_not_found(&batch_no))?;
        let upload = case_rows::upload_by_id(&mut conn, &batch.letter_upload_id)
            .await?
            .ok_or_else(|| corrupt("batches.letter_upload_id", &batch.letter_upload_id))?;
        drop(conn);
        let sealed = self.blob_store().get(&upload.id).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read a blob");
            ServiceError::Unavailable(StoreError::Corrupt {
                what: "blob store".to_owned(),
                reason: e.to_string(),
            })
        })?;
        let sealed = String::from_utf8(sealed).map_err(|e| ServiceError::Internal(e.into()))?;
        let bytes = self
            .keyring()
            .decrypt(&sealed, format!("blob:{}", upload.id).as_bytes())
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("blob {}: {e}", upload.id)))?;
        Ok(UploadContent {
            content_type: upload.content_type,
            file_name: upload.file_name,
            bytes,
        })
    }

    // -- helpers ------------------------------------------------------------

    async fn replayed_batch(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
    ) -> ServiceResult<Option<String>> {
        let mut conn = self.connection().await?;
        match case_rows::idempotency_key(&mut conn, scope, key).await? {
            Some(stored) => replay(&stored, request_hash).map(Some),
            None => Ok(None),
        }
    }

    async fn refuse_batch<T>(
        &self,
        tx: crate::store::Tx,
        actor: &Actor,
        object: &str,
        batch: &BatchRow,
        kind: CaseActionKind,
        error: ServiceError,
    ) -> ServiceResult<T> {
        let detail = serde_json::json!({
            "batch_no": batch.batch_no,
            "state": batch.state,
            "code": error.code(),
        });
        self.commit_refusal(tx, actor, audit_action(kind), object, detail, error)
            .await
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A batch number as typed: trimmed, upper case, full-width folded.
#[must_use]
pub fn normalize_batch_no(input: &str) -> String {
    sscard_domain::identifiers::normalize(input).to_ascii_uppercase()
}

fn batch_not_found(batch_no: &str) -> ServiceError {
    let shown: String = batch_no.chars().take(40).collect();
    ServiceError::NotFound {
        code: "BATCH_NOT_FOUND",
        detail: format!("未找到批量办件 {shown}。请核对编号（形如 PL-20261127-000001）。"),
    }
}

fn list_invalid(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Invalid {
        code,
        detail: message.to_owned(),
        errors: vec![FieldError::new("list", code, message)],
    }
}

fn list_error(failure: list::ListFailure) -> ServiceError {
    ServiceError::Invalid {
        code: failure.code,
        detail: failure.message.clone(),
        errors: vec![FieldError::new("list", failure.code, failure.message)],
    }
}

/// The letter's scan: PDF, JPEG or PNG by content, at most 10 MB.
fn check_letter(bytes: &[u8], field: &str) -> ServiceResult<&'static str> {
    let problem = |code: &'static str, message: String| ServiceError::Invalid {
        code,
        detail: message.clone(),
        errors: vec![FieldError::new(field, code, message)],
    };
    if bytes.is_empty() {
        return Err(problem(
            "UPLOAD_EMPTY",
            "请上传加盖单位公章的批量启用授权委托书扫描件（PDF、JPEG 或 PNG）。".to_owned(),
        ));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(problem(
            "UPLOAD_TOO_LARGE",
            format!(
                "授权委托书扫描件超过 {} MB，请降低扫描分辨率或压缩后重新上传。",
                MAX_UPLOAD_BYTES / 1024 / 1024
            ),
        ));
    }
    sniff_content_type(bytes).ok_or_else(|| {
        problem(
            "UPLOAD_TYPE_NOT_ALLOWED",
            "授权委托书只接受 PDF、JPEG 或 PNG 格式的扫描件（按文件内容识别，不看扩展名）。"
                .to_owned(),
        )
    })
}

fn check_idempotency_key(key: &str) -> ServiceResult<String> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::Invalid {
            code: "IDEMPOTENCY_KEY_INVALID",
            detail: "Idempotency-Key 须为 1–200 个可见 ASCII 字符，建议使用 UUID。".to_owned(),
            errors: vec![FieldError::new(
                "Idempotency-Key",
                "IDEMPOTENCY_KEY_INVALID",
                "Idempotency-Key 须为 1–200 个可见 ASCII 字符。",
            )],
        });
    }
    Ok(key.to_owned())
}

fn replay(stored: &IdempotencyRow, request_hash: &str) -> ServiceResult<String> {
    if stored.request_hash == request_hash {
        Ok(stored.result_ref.clone())
    } else {
        Err(ServiceError::Conflict {
            code: "IDEMPOTENCY_KEY_REUSED",
            detail: "该 Idempotency-Key 已用于另一份不同的批量名单或授权委托书。重新提交同一批次请使用原来的文件；提交新批次请使用新的 Idempotency-Key。".to_owned(),
        })
    }
}

fn checked_text(text: Option<&str>, field: &str, label: &str) -> ServiceResult<Option<String>> {
    let Some(text) = blank_to_none(text).map(str::trim) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_TEXT_CHARS || text.chars().any(char::is_control) {
        return Err(invalid(
            &format!("{label}过长或含有不可见字符。"),
            vec![FieldError::new(
                field,
                "TEXT_INVALID",
                format!("{label}最多 {MAX_TEXT_CHARS} 个字，不能含有不可见字符。"),
            )],
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A file name safe to show: no path, no control characters, ≤ 100
/// characters; a default with the content's extension when nothing is left.
fn clean_file_name(name: &str, content_type: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '\\' | '/'))
        .take(100)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        let extension = match content_type {
            "application/pdf" => "pdf",
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "text/csv" => "csv",
            _ => "xlsx",
        };
        format!("授权委托书.{extension}")
            .replace("授权委托书.csv", "名单.csv")
            .replace("授权委托书.xlsx", "名单.xlsx")
    } else {
        cleaned.to_owned()
    }
}

fn clean_list_name(name: &str, format: crate::import::reader::Format) -> String {
    clean_file_name(
        name,
        match format {
            crate::import::reader::Format::Csv => "text/csv",
            crate::import::reader::Format::Xlsx => "xlsx",
        },
    )
}

pub(crate) fn state_of(batch: &BatchRow) -> ServiceResult<CaseState> {
    CaseState::from_codes(&batch.state, batch.outcome.as_deref())
        .ok_or_else(|| corrupt("batches.state", &batch.state))
}

fn status_label(batch: &BatchRow, state: CaseState) -> String {
    match state {
        CaseState::AwaitingProcessing if batch.rows_done < batch.rows_total => {
            "经办中（逐行办理）".to_owned()
        }
        _ => state.full_label_zh(),
    }
}

fn progress_of(batch: &BatchRow) -> BatchProgress {
    let percent = if batch.rows_total <= 0 {
        0
    } else if batch.rows_done >= batch.rows_total {
        100
    } else {
        (batch.rows_done * 100 / batch.rows_total).min(99)
    };
    BatchProgress {
        rows_total: batch.rows_total,
        rows_done: batch.rows_done,
        rows_succeeded: batch.rows_succeeded,
        rows_failed: batch.rows_failed,
        rows_activated: batch.rows_activated,
        percent,
        finished: batch.rows_total > 0 && batch.rows_done >= batch.rows_total,
    }
}

fn notices_of(batch: &BatchRow) -> Vec<BatchNotice> {
    if batch.bank_requests > 0 {
        vec![BatchNotice {
            code: BANK_NOT_BATCHABLE.to_owned(),
            message: BANK_NOT_BATCHABLE_MESSAGE.to_owned(),
            rows: batch.bank_requests,
        }]
    } else {
        Vec::new()
    }
}

/// Staff may take the report once every row is decided; the employer once
/// the result is delivered (反馈).
fn report_available(principal: &Principal, state: CaseState) -> bool {
    match employer_of(principal) {
        Some(_) => matches!(state, CaseState::Completed(_)),
        None => matches!(
            state,
            CaseState::AwaitingFeedback(_) | CaseState::Completed(_)
        ),
    }
}

fn allowed_actions(principal: &Principal, state: CaseState) -> Vec<String> {
    if employer_of(principal).is_some() {
        return if state == CaseState::AwaitingSupplement {
            vec![action_path(CaseActionKind::Supplement).to_owned()]
        } else {
            Vec::new()
        };
    }
    state
        .actions_for(CaseActor::Staff(&principal.roles))
        .into_iter()
        .filter(|k| {
            matches!(
                k,
                CaseActionKind::Accept
                    | CaseActionKind::NotifyMissing
                    | CaseActionKind::Refuse
                    | CaseActionKind::Deliver
            )
        })
        .map(|k| action_path(k).to_owned())
        .collect()
}

fn change_of(batch: &BatchRow, now: DateTime<Utc>) -> BatchChange {
    BatchChange {
        state: batch.state.clone(),
        outcome: batch.outcome.clone(),
        outcome_code: batch.outcome_code.clone(),
        outcome_reason: batch.outcome_reason.clone(),
        letter_status: batch.letter_status.clone(),
        letter_reason: batch.letter_reason.clone(),
        letter_upload_id: batch.letter_upload_id.clone(),
        step_started_at: batch.step_started_at,
        step_due: batch.step_due,
        step_due_provisional: batch.step_due_provisional,
        processing_started_at: batch.processing_started_at,
        processing_finished_at: batch.processing_finished_at,
        delivered_at: batch.delivered_at,
        now,
    }
}

fn step_view(step: &StepRow) -> BatchStepView {
    let action_label = match step.action.as_str() {
        "submit" => "提交批量办件".to_owned(),
        action => CaseActionKind::from_code(action).map_or_else(
            || action.to_owned(),
            |k| match k {
                CaseActionKind::Approve
                | CaseActionKind::Deny
                | CaseActionKind::ConfirmAlreadyActive => {
                    format!("逐行经办完成：{}", k.label_zh())
                }
                CaseActionKind::Supplement => "补正授权委托材料".to_owned(),
                _ => k.label_zh().to_owned(),
            },
        ),
    };
    BatchStepView {
        seq: step.seq,
        action: step.action.clone(),
        action_label,
        to_state: step.to_state.clone(),
        to_state_label: CaseState::from_codes(&step.to_state, step.outcome.as_deref())
            .map_or_else(|| step.to_state.clone(), CaseState::full_label_zh),
        actor_name: step.actor_name.clone(),
        occurred_at: step.occurred_at,
        opinion: step.opinion.clone(),
        code: step.code.clone(),
        next_due: step.next_due,
    }
}

fn role_code(role: RoleCode) -> &'static str {
    match role {
        RoleCode::Acceptor => "acceptor",
        RoleCode::Processor => "processor",
        RoleCode::Feedback => "feedback",
    }
}

fn audit_action(kind: CaseActionKind) -> &'static str {
    match kind {
        CaseActionKind::Accept => "batch.accept",
        CaseActionKind::NotifyMissing => "batch.notify_missing",
        CaseActionKind::Supplement => "batch.supplement",
        CaseActionKind::Refuse => "batch.refuse",
        CaseActionKind::Approve => "batch.approve",
        CaseActionKind::Deny => "batch.deny",
        CaseActionKind::ConfirmAlreadyActive => "batch.confirm_already_active",
        CaseActionKind::Deliver => "batch.deliver",
    }
}

fn case_error(error: &CaseError) -> ServiceError {
    let detail = error.to_string().replace("办件", "批量办件");
    match error.reason {
        CaseRefusal::RoleNotPermitted => ServiceError::Forbidden {
            code: error.code(),
            detail,
        },
        CaseRefusal::StateConflict | CaseRefusal::NotInsuredInLiuzhou => ServiceError::Conflict {
            code: error.code(),
            detail,
        },
        CaseRefusal::NoticeEmpty | CaseRefusal::ReasonRequired => ServiceError::Invalid {
            code: error.code(),
            detail: detail.clone(),
            errors: vec![FieldError::new("reason", error.code(), detail)],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_numbers_are_read_as_typed() {
        assert_eq!(
            normalize_batch_no(" pl-20261127-000001 "),
            "PL-20261127-000001"
        );
        assert_eq!(
            normalize_batch_no("ＰＬ－20261127－000001"),
            "PL-20261127-000001"
        );
    }

    #[test]
    fn file_names_lose_paths() {
        assert_eq!(
            clean_file_name("C:\\scans\\授权书.pdf", "application/pdf"),
            "授权书.pdf"
        );
        assert_eq!(clean_file_name("", "image/png"), "授权委托书.png");
        assert_eq!(clean_file_name("", "text/csv"), "名单.csv");
    }
}
