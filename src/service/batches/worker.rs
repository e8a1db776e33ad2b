//! 经办 of a batch: the rows, chunk by chunk, exactly once.
//!
//! One chunk is one transaction:
//! 1. take up to `chunk_rows` pending rows of a batch in 待经办
//!    ([`rows::claim_rows`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//!    servers sharing the database take different rows; SQLite's
//!    `BEGIN IMMEDIATE` serialises chunks anyway);
//! 2. look the chunk's persons up by blind index, its cards by number (their
//!    row locks taken on PostgreSQL), and the first line of each person in
//!    the list — three queries, whatever the chunk's size;
//! 3. decide every row with the domain's rules
//!    ([`sscard_domain::batch::decide_row`]);
//! 4. activate the chunk's eligible cards with one compare-and-set
//!    statement (已领卡未启用 → 正常; every card must still be
//!    已领卡未启用, else the whole chunk is rolled back and taken again),
//!    append one card event per activated card, write every row's result
//!    (only rows still pending), add the counts to the batch, and — for the
//!    chunk that decides the last row — take the 经办 step;
//! 5. append one audit entry listing the chunk's rows and commit.
//!
//! Whatever stops the process (`kill -9`, a power cut) before the commit
//! leaves the chunk as it was: its rows are pending again and the next
//! worker takes them. After the commit nothing of the chunk is done again,
//! because a decided row is never pending. So every row is decided exactly
//! once and every eligible card activated once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use sscard_domain::access::{Role, RoleSet};
use sscard_domain::batch::{
    CardFacts, PersonFacts, RowFailure, RowOutcome, batch_decision, decide_row,
};
use sscard_domain::case::{CaseActor, CaseState};
use sscard_domain::guide::RoleCode;
use sscard_domain::registry::{Enrolment, EnrolmentStatus, RegionCode, SocialSecurityState};

use super::{BATCH_ROWS_METRIC, state_of, worker_actor};
use crate::clock::today_in_china;
use crate::service::registry::corrupt;
use crate::service::{Outcome, ServiceError, ServiceResult, Services, commit};
use crate::store::Backend;
use crate::store::batches::{self as rows, FAILED, SUCCEEDED};
use crate::store::cases::StepRow;

/// How long an idle worker waits before it looks for work again (another
/// server may have accepted a batch).
pub const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long the worker waits after a failed chunk before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// What one chunk did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkDone {
    pub batch_no: String,
    /// Rows decided by this chunk.
    pub rows: u64,
    pub activated: u64,
    pub failed: u64,
    /// The batch's rows done and in all, after this chunk.
    pub rows_done: i64,
    pub rows_total: i64,
    /// This chunk decided the batch's last row.
    pub finished: bool,
}

/// What is left to do, for `sscard batch run`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub rows_done: u64,
    pub rows_total: u64,
    /// The batch asked for, when it is not in 待经办: its number and state.
    pub not_in_processing: Option<(String, String)>,
}

impl Services {
    /// The rows done and in all of the batches in 待经办 (of `batch_no` only
    /// when given).
    ///
    /// # Errors
    ///
    /// `NotFound BATCH_NOT_FOUND`; the database fails.
    pub async fn batch_backlog(&self, batch_no: Option<&str>) -> ServiceResult<Backlog> {
        let mut conn = self.connection().await?;
        let mut backlog = Backlog::default();
        if let Some(number) = batch_no.map(super::normalize_batch_no) {
            let batch = rows::batch_by_number(&mut conn, &number)
                .await?
                .ok_or_else(|| super::batch_not_found(&number))?;
            let state = state_of(&batch)?;
            if state == CaseState::AwaitingProcessing {
                backlog.rows_done = u64::try_from(batch.rows_done).unwrap_or(0);
                backlog.rows_total = u64::try_from(batch.rows_total).unwrap_or(0);
            } else {
                backlog.not_in_processing = Some((batch.batch_no, state.full_label_zh()));
            }
            return Ok(backlog);
        }
        let filter = rows::BatchFilter {
            employer_uscc: None,
            states: vec![CaseState::AwaitingProcessing.code().to_owned()],
        };
        for batch in rows::list_batches(&mut conn, &filter, 500).await? {
            backlog.rows_done += u64::try_from(batch.rows_done).unwrap_or(0);
            backlog.rows_total += u64::try_from(batch.rows_total).unwrap_or(0);
        }
        Ok(backlog)
    }

    /// Decides one chunk of pending rows of the oldest batch in 待经办 that
    /// has any (only of `batch_no` when given); `None` when there is nothing
    /// to do. See the module documentation.
    ///
    /// # Errors
    ///
    /// The database failed, or a card changed under the chunk
    /// (`CARD_STATE_CHANGED`); nothing of the chunk was written.
    pub async fn process_batch_chunk(
        &self,
        batch_no: Option<&str>,
    ) -> ServiceResult<Option<ChunkDone>> {
        let candidates = {
            let mut conn = self.connection().await?;
            rows::batches_with_pending_rows(&mut conn, CaseState::AwaitingProcessing.code(), 16)
                .await?
        };
        let wanted = batch_no.map(super::normalize_batch_no);
        for (batch_id, number) in candidates {
            if wanted.as_deref().is_some_and(|wanted| wanted != number) {
                continue;
            }
            if let Some(done) = self.run_chunk(&batch_id).await? {
                return Ok(Some(done));
            }
        }
        Ok(None)
    }

    async fn run_chunk(&self, batch_id: &str) -> ServiceResult<Option<ChunkDone>> {
        let backend = self.store().backend();
        let chunk_rows = i64::try_from(self.batch.chunk_rows.max(1)).unwrap_or(500);
        let today = today_in_china();
        let now = Utc::now();
        let actor = worker_actor();

        let mut tx = self.store().begin().await?;
        let Some(batch) = rows::batch_by_id(&mut tx, batch_id).await? else {
            return Ok(None);
        };
        let state = state_of(&batch)?;
        if state != CaseState::AwaitingProcessing {
            return Ok(None);
        }
        let claimed = rows::claim_rows(&mut tx, backend, batch_id, chunk_rows).await?;
        let Some(first_row) = claimed.first() else {
            return Ok(None);
        };
        rows::widen_cache(&mut tx).await?;
        let chunk_line = first_row.line_no;
        tracing::debug!(
            batch = %batch.batch_no,
            first_line = chunk_line,
            rows = claimed.len(),
            "batch chunk taken"
        );

        let chunk = rows::ChunkRange {
            batch_id: batch_id.to_owned(),
            first_line: chunk_line,
            last_line: claimed.last().map_or(chunk_line, |r| r.line_no),
        };

        // The registry came with the rows. On PostgreSQL the chunk's cards
        // are locked now and read again, so that what is decided is what
        // is changed; SQLite's chunk holds the database anyway.
        let locked: Option<HashMap<String, rows::CardFacts>> = match backend {
            Backend::Postgres => Some(
                rows::chunk_cards(&mut tx, backend, &chunk)
                    .await?
                    .into_iter()
                    .map(|c| (c.card_number.clone(), c))
                    .collect(),
            ),
            Backend::Sqlite => None,
        };
        let mut enrolments: HashMap<String, Option<Enrolment>> = HashMap::new();
        for person in claimed.iter().filter_map(|r| r.person.as_ref()) {
            if !enrolments.contains_key(&person.id) {
                enrolments.insert(person.id.clone(), enrolment_of(person)?);
            }
        }

        // Every row, by the domain's rules.
        let mut groups: Vec<rows::ResultGroup> = Vec::new();
        let mut activated_cards: HashSet<String> = HashSet::new();
        let mut listed: Vec<(i64, String)> = Vec::with_capacity(claimed.len());
        let (mut activated, mut already_active, mut failed) = (0u64, 0u64, 0u64);
        for row in &claimed {
            let outcome = if let Some(code) = &row.problem_code {
                RowOutcome::Failed(RowFailure::new(
                    code.clone(),
                    row.problem_reason.clone().unwrap_or_default(),
                ))
            } else if let Some(first) = row.first_line.filter(|first| *first < row.line_no) {
                RowOutcome::Failed(RowFailure::duplicate(u64::try_from(first).unwrap_or(0)))
            } else {
                let person = row.person.as_ref();
                let card = match &locked {
                    Some(locked) => row.card_number.as_ref().and_then(|n| locked.get(n)),
                    None => row.card.as_ref(),
                };
                let card_facts = match card {
                    Some(card) => Some(CardFacts {
                        social_state: SocialSecurityState::parse(&card.social_state)
                            .map_err(|_| corrupt("cards.social_state", &card.social_state))?,
                        expiry: card.expiry_date,
                        belongs_to_person: person.is_some_and(|p| p.id == card.person_id),
                    }),
                    None => None,
                };
                let decided = decide_row(
                    &row.name,
                    person.map(|p| PersonFacts {
                        name: &p.name,
                        enrolment: enrolments.get(&p.id).and_then(Option::as_ref),
                        employer_uscc: p.employer_uscc.as_deref(),
                    }),
                    &batch.employer_uscc,
                    card_facts,
                    today,
                );
                match (decided, card) {
                    // One card twice in a chunk can only be one person's
                    // duplicate, caught above; still, never activate twice.
                    (RowOutcome::Activated, Some(card))
                        if !activated_cards.insert(card.id.clone()) =>
                    {
                        RowOutcome::AlreadyActive
                    }
                    (outcome, _) => outcome,
                }
            };
            match &outcome {
                RowOutcome::Activated => activated += 1,
                RowOutcome::AlreadyActive => already_active += 1,
                RowOutcome::Failed(_) => failed += 1,
            }
            listed.push((row.line_no, outcome.code().to_owned()));
            let status = if outcome.succeeded() {
                SUCCEEDED
            } else {
                FAILED
            };
            let reason = outcome.reason_zh();
            match groups
                .iter_mut()
                .find(|g| g.code == outcome.code() && g.reason == reason)
            {
                Some(group) => group.rows.push(row.id.clone()),
                None => groups.push(rows::ResultGroup {
                    status,
                    code: outcome.code().to_owned(),
                    reason: reason.to_owned(),
                    activated: outcome == RowOutcome::Activated,
                    rows: vec![row.id.clone()],
                }),
            }
        }

        // The rows, then the cards and their events, then the batch.
        let written = rows::write_results(&mut tx, &groups, chunk_line, now).await?;
        if written != claimed.len() as u64 {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "batch {}: {written} of {} claimed rows were still pending",
                batch.batch_no,
                claimed.len()
            )));
        }
        let from = SocialSecurityState::Collected.code();
        let to = SocialSecurityState::Normal.code();
        let changed = rows::activate_chunk_cards(
            &mut tx,
            &chunk,
            chunk_line,
            sscard_domain::batch::ACTIVATED,
            (from, to),
            now,
        )
        .await?;
        if changed != activated {
            return Err(ServiceError::Conflict {
                code: "CARD_STATE_CHANGED",
                detail: "批量办件的一批卡片中有卡的状态刚被其他操作更改，这一批将重新办理。"
                    .to_owned(),
            });
        }
        let events = rows::insert_chunk_events(
            &mut tx,
            &chunk,
            chunk_line,
            sscard_domain::batch::ACTIVATED,
            &rows::ChunkEvent {
                occurred_at: now,
                from_state: from,
                to_state: to,
                event: sscard_domain::registry::SocialSecurityEvent::Activate.code(),
                reason_prefix: format!("单位批量启用 {}", batch.batch_no),
                actor: &actor.id,
                actor_role: &actor.role,
            },
        )
        .await?;
        if events != activated {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "batch {}: {events} card events for {activated} activated rows",
                batch.batch_no
            )));
        }
        let succeeded = i64::try_from(activated + already_active).unwrap_or(i64::MAX);
        let (rows_done, rows_total, _) = rows::add_progress(
            &mut tx,
            batch_id,
            succeeded,
            i64::try_from(failed).unwrap_or(i64::MAX),
            i64::try_from(activated).unwrap_or(i64::MAX),
            now,
        )
        .await?;
        let finished = rows_done >= rows_total;
        let mut decision = None;
        if finished {
            decision = Some(
                self.finish_processing(&mut tx, batch_id, today, now)
                    .await?,
            );
        }
        self.record_audit(
            &mut tx,
            &actor,
            "batch.process_chunk",
            &format!("batch:{batch_id}"),
            Outcome::Succeeded,
            serde_json::json!({
                "batch_no": batch.batch_no,
                "chunk": chunk_line,
                // Which process decided it (several servers share a batch).
                "process": std::process::id(),
                "rows": listed,
                "activated": activated,
                "already_active": already_active,
                "failed": failed,
                "rows_done": rows_done,
                "rows_total": rows_total,
                "decision": decision,
            }),
        )
        .await?;
        rows::narrow_cache(&mut tx).await?;
        commit(tx).await?;
        metrics::counter!(BATCH_ROWS_METRIC, "outcome" => "activated").increment(activated);
        metrics::counter!(BATCH_ROWS_METRIC, "outcome" => "already_active")
            .increment(already_active);
        metrics::counter!(BATCH_ROWS_METRIC, "outcome" => "failed").increment(failed);
        Ok(Some(ChunkDone {
            batch_no: batch.batch_no,
            rows: activated + already_active + failed,
            activated,
            failed,
            rows_done,
            rows_total,
            finished,
        }))
    }

    /// The 经办 step of a batch whose last row was just decided, inside that
    /// chunk's transaction: the decision by the counts, checked by the
    /// case's state machine as a 经办岗 action, and the feedback step's due
    /// date. Returns the decision's code.
    async fn finish_processing(
        &self,
        tx: &mut crate::store::Tx,
        batch_id: &str,
        today: NaiveDate,
        now: chrono::DateTime<Utc>,
    ) -> ServiceResult<String> {
        let batch = rows::batch_by_id(tx, batch_id)
            .await?
            .ok_or_else(|| corrupt("batches.id", batch_id))?;
        let state = state_of(&batch)?;
        let already = u64::try_from(batch.rows_succeeded - batch.rows_activated).unwrap_or(0);
        let action = batch_decision(u64::try_from(batch.rows_activated).unwrap_or(0), already);
        let processor = RoleSet::new([Role::Processor], false, false)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
        let next = state
            .apply_as(&action, CaseActor::Staff(&processor))
            .map_err(|e| {
                ServiceError::Internal(anyhow::anyhow!("batch {}: {e}", batch.batch_no))
            })?;
        let guide = self
            .guide_version(u32::try_from(batch.guide_version).unwrap_or(0))
            .await?
            .guide;
        let calendar = self.working_calendar(today, 40).await?;
        let limit = guide.time_limit_for(RoleCode::Feedback).unwrap_or(0);
        let due = sscard_domain::case::step_due(today, limit, &calendar)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
        let (code, reason) = match &action {
            sscard_domain::case::CaseAction::Deny { code, reason } => {
                (Some(code.clone()), Some(reason.clone()))
            }
            _ => (None, None),
        };
        let mut change = super::change_of(&batch, now);
        change.state = next.code().to_owned();
        change.outcome = next.outcome().map(|o| o.code().to_owned());
        change.outcome_code.clone_from(&code);
        change.outcome_reason.clone_from(&reason);
        change.step_started_at = Some(now);
        change.step_due = Some(due.deadline);
        change.step_due_provisional = due.provisional;
        change.processing_finished_at = Some(now);
        if !rows::update_batch(tx, &batch.id, batch.version, &change).await? {
            return Err(ServiceError::Conflict {
                code: "CASE_STATE_CONFLICT",
                detail: "批量办件的状态刚被更改，这一批将重新办理。".to_owned(),
            });
        }
        let actor = worker_actor();
        rows::insert_step(
            tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: batch.id.clone(),
                seq: 0,
                action: action.kind().code().to_owned(),
                from_state: Some(state.code().to_owned()),
                to_state: next.code().to_owned(),
                outcome: next.outcome().map(|o| o.code().to_owned()),
                actor: actor.id,
                actor_role: actor.role,
                actor_name: "系统（逐行经办）".to_owned(),
                occurred_at: now,
                opinion: Some(format!(
                    "共 {} 行：成功 {} 行（其中本次启用 {} 行，此前已启用 {} 行），失败 {} 行。",
                    batch.rows_total,
                    batch.rows_succeeded,
                    batch.rows_activated,
                    already,
                    batch.rows_failed
                )),
                code,
                detail: Some(
                    serde_json::json!({
                        "rows_total": batch.rows_total,
                        "rows_succeeded": batch.rows_succeeded,
                        "rows_failed": batch.rows_failed,
                        "rows_activated": batch.rows_activated,
                    })
                    .to_string(),
                ),
                next_due: Some(due.deadline),
            },
        )
        .await?;
        Ok(action.kind().code().to_owned())
    }
}

fn enrolment_of(person: &rows::PersonFacts) -> ServiceResult<Option<Enrolment>> {
    let status = EnrolmentStatus::parse(&person.enrolment_status)
        .map_err(|_| corrupt("persons.enrolment_status", &person.enrolment_status))?;
    let region_code = RegionCode::parse(&person.enrolment_region)
        .map_err(|_| corrupt("persons.enrolment_region", &person.enrolment_region))?;
    Ok(Some(Enrolment {
        region_code,
        status,
        since: person.enrolment_since,
    }))
}

/// The background worker of `sscard serve`: decides chunks while there are
/// any, waits for a wake-up (a batch accepted here) or [`IDLE_POLL`]
/// otherwise, and stops between chunks when `stop` turns true. It picks up
/// whatever was pending when the process started — after a crash too.
pub async fn run_worker(services: Services, mut stop: tokio::sync::watch::Receiver<bool>) {
    let wakeup = services.batch_wakeup();
    loop {
        if *stop.borrow() {
            break;
        }
        match services.process_batch_chunk(None).await {
            Ok(Some(done)) => {
                tracing::debug!(
                    batch = %done.batch_no,
                    rows = done.rows,
                    done = done.rows_done,
                    total = done.rows_total,
                    "batch chunk decided"
                );
                if done.finished {
                    tracing::info!(batch = %done.batch_no, rows = done.rows_total, "batch processed");
                }
                tokio::task::yield_now().await;
            }
            Ok(None) => {
                tokio::select! {
                    () = wakeup.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    changed = stop.changed() => if changed.is_err() { break },
                }
            }
            Err(error) => {
                tracing::warn!(%error, code = error.code(), "a batch chunk failed; it will be taken again");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                    changed = stop.changed() => if changed.is_err() { break },
                }
            }
        }
    }
}
