//! The storage's own limit for the writes of one case: the same rows
//! inserted and updated in the same tables by the same store functions, in
//! the same four transactions (plus the SMS outbox row the approval's
//! notice writes) at the same durability settings (`Store::connect`:
//! SQLite WAL with `synchronous = FULL`, `BEGIN IMMEDIATE`; PostgreSQL's
//! defaults) and the same number of concurrent writers — but from a minimal
//! program: no HTTP, no sign-in, no rules, no guide or calendar, no
//! serialisation; sealed values and identifiers are prepared before the
//! clock starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sscard::service::Outcome;
use sscard::service::registry::ID_NUMBER_INDEX;
use sscard::store::audit::{self, AuditEntry};
use sscard::store::cases::{
    self as rows, CaseChange, CaseRow, FORM_SEALED, IdempotencyRow, MaterialRow, StepRow,
};
use sscard::store::citizens::{OUTBOX_MOBILE_COLUMN, OUTBOX_TEXT_COLUMN};
use sscard::store::registry::{self as registry_rows, CardEventRow, StateColumn};
use sscard::store::{Store, StoreError};

use crate::load::{OpResult, Workload};
use crate::seed::Holder;

/// What is computed before the clock starts.
struct Prepared {
    holder: Holder,
    case_id: String,
    form_sealed: String,
    applicant_index: String,
    id_masked: String,
    outbox_id: String,
    outbox_mobile_sealed: String,
    outbox_text_sealed: String,
}

/// The baseline's work: one case per operation.
pub struct BaselineWork {
    store: Store,
    prepared: Vec<Prepared>,
    next: AtomicUsize,
    item_code: String,
    implementation_code: String,
    guide_version: i64,
}

impl BaselineWork {
    /// Prepares one case per holder (ids, sealed form, blind index).
    ///
    /// # Errors
    ///
    /// The guide cannot be read.
    pub async fn new(
        services: &sscard::service::Services,
        holders: Vec<Holder>,
    ) -> anyhow::Result<Self> {
        let guide = services.current_guide().await?.guide;
        let keyring = services.keyring();
        let prepared = holders
            .into_iter()
            .map(|holder| {
                let case_id = uuid::Uuid::new_v4().to_string();
                let outbox_id = uuid::Uuid::new_v4().to_string();
                let form = json!({
                    "applicant_id_number": holder.id_number,
                    "applicant_mobile": holder.mobile,
                    "applicant_address": null, "agent_id_number": null, "agent_mobile": null,
                    "agent_relation": null, "delivery_recipient": null, "delivery_mobile": null,
                    "delivery_address": null,
                });
                Prepared {
                    form_sealed: keyring
                        .encrypt_str(&form.to_string(), FORM_SEALED.aad(&case_id).as_bytes()),
                    applicant_index: keyring.blind_index(ID_NUMBER_INDEX, &holder.id_number),
                    id_masked: sscard_domain::identifiers::IdNumber::parse(&holder.id_number)
                        .map(|id| id.masked())
                        .unwrap_or_default(),
                    outbox_mobile_sealed: keyring.encrypt_str(
                        &holder.mobile,
                        OUTBOX_MOBILE_COLUMN.aad(&outbox_id).as_bytes(),
                    ),
                    outbox_text_sealed: keyring.encrypt_str(
                        "【柳江区人社局】您的社会保障卡启用申请（SQ-20261127-000001）已办理完成，办理结果将按您选择的方式送达。",
                        OUTBOX_TEXT_COLUMN.aad(&outbox_id).as_bytes(),
                    ),
                    outbox_id,
                    case_id,
                    holder,
                }
            })
            .collect();
        Ok(Self {
            store: services.store().clone(),
            prepared,
            next: AtomicUsize::new(0),
            item_code: guide.item_code.clone(),
            implementation_code: guide.implementation_code.clone(),
            guide_version: i64::from(guide.version),
        })
    }

    async fn one_case(&self, p: &Prepared, worker: usize) -> Result<Vec<Duration>, StoreError> {
        let mut latencies = Vec::with_capacity(5);
        let actor = format!("account:bench-baseline-{worker}");
        let role = "acceptor+processor+feedback";
        let object = format!("case:{}", p.case_id);
        let day = chrono::Utc::now()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
            .format("%Y%m%d")
            .to_string();
        let step = |seq: i64, action: &str, from: Option<&str>, to: &str, now| StepRow {
            id: uuid::Uuid::new_v4().to_string(),
            case_id: p.case_id.clone(),
            seq,
            action: action.to_owned(),
            from_state: from.map(str::to_owned),
            to_state: to.to_owned(),
            outcome: None,
            actor: actor.clone(),
            actor_role: role.to_owned(),
            actor_name: "压测窗口".to_owned(),
            occurred_at: now,
            opinion: None,
            code: None,
            detail: None,
            next_due: None,
        };
        let entry = |action: &'static str, now| AuditEntry {
            occurred_at: now,
            actor: actor.clone(),
            actor_role: role.to_owned(),
            client_address: "127.0.0.1".to_owned(),
            action,
            object: object.clone(),
            outcome: Outcome::Succeeded,
            detail: json!({ "from": "submitted", "to": "awaiting_processing" }),
        };
        let change = |state: &str, now| CaseChange {
            state: state.to_owned(),
            outcome: None,
            outcome_code: None,
            outcome_reason: None,
            step_started_at: Some(now),
            step_due: None,
            step_due_provisional: false,
            delivery_detail: None,
            now,
        };

        // 1. Submission.
        let began = Instant::now();
        let now = Utc::now();
        let mut tx = self.store.begin().await?;
        let seq = rows::next_application_seq(&mut tx, &day).await?;
        let application_no = format!("SQ-{day}-{seq:06}");
        rows::insert_idempotency_key(
            &mut tx,
            &format!("applications:{actor}"),
            &uuid::Uuid::new_v4().to_string(),
            &IdempotencyRow {
                request_hash: "0".repeat(64),
                result_ref: application_no.clone(),
            },
            now,
        )
        .await?;
        rows::insert_case(
            &mut tx,
            &CaseRow {
                id: p.case_id.clone(),
                application_no: application_no.clone(),
                item_code: self.item_code.clone(),
                implementation_code: self.implementation_code.clone(),
                guide_version: self.guide_version,
                channel: "window".to_owned(),
                service: "activate".to_owned(),
                person_id: Some(p.holder.person_id.clone()),
                applicant_index: p.applicant_index.clone(),
                applicant_name: p.holder.name.clone(),
                applicant_id_masked: p.id_masked.clone(),
                card_id: Some(p.holder.card_id.clone()),
                card_number: p.holder.card_number.clone(),
                has_agent: false,
                agent_name: None,
                agent_id_masked: None,
                form_sealed: p.form_sealed.clone(),
                delivery_method: "window".to_owned(),
                delivery_address_masked: None,
                inbound_waybill: None,
                state: "submitted".to_owned(),
                outcome: None,
                outcome_code: None,
                outcome_reason: None,
                received_at: now,
                step_started_at: Some(now),
                step_due: None,
                step_due_provisional: false,
                case_due: None,
                delivery_detail: None,
                submitted_by: actor.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        for code in ["application_form", "own_card"] {
            rows::put_material(
                &mut tx,
                &MaterialRow {
                    case_id: p.case_id.clone(),
                    code: code.to_owned(),
                    status: "submitted".to_owned(),
                    reason: None,
                    upload_id: None,
                    updated_at: now,
                },
            )
            .await?;
        }
        rows::insert_step(&mut tx, &step(0, "submit", None, "submitted", now)).await?;
        audit::append(&mut tx, &entry("case.submit", now)).await?;
        tx.commit().await?;
        latencies.push(began.elapsed());

        // 2. Acceptance: the materials as checked, the case moves on.
        let began = Instant::now();
        let now = Utc::now();
        let mut tx = self.store.begin().await?;
        rows::lock_case(&mut tx, &application_no).await?;
        for code in ["application_form", "own_card"] {
            rows::put_material(
                &mut tx,
                &MaterialRow {
                    case_id: p.case_id.clone(),
                    code: code.to_owned(),
                    status: "submitted".to_owned(),
                    reason: None,
                    upload_id: None,
                    updated_at: now,
                },
            )
            .await?;
        }
        rows::update_case(&mut tx, &p.case_id, 1, &change("awaiting_processing", now)).await?;
        rows::insert_step(
            &mut tx,
            &step(0, "accept", Some("submitted"), "awaiting_processing", now),
        )
        .await?;
        audit::append(&mut tx, &entry("case.accept", now)).await?;
        tx.commit().await?;
        latencies.push(began.elapsed());

        // 3. Approval: the card 已领卡未启用 → 正常 with its event.
        let began = Instant::now();
        let now = Utc::now();
        let mut tx = self.store.begin().await?;
        rows::lock_case(&mut tx, &application_no).await?;
        sqlx::query("UPDATE cards SET updated_at = updated_at WHERE id = $1")
            .bind(p.holder.card_id.clone())
            .execute(&mut *tx)
            .await?;
        registry_rows::set_state(
            &mut tx,
            &p.holder.card_id,
            StateColumn::Social,
            "collected",
            "normal",
            now,
        )
        .await?;
        let seq = registry_rows::next_event_seq(&mut tx, &p.holder.card_id).await?;
        registry_rows::insert_card_event(
            &mut tx,
            &CardEventRow {
                id: uuid::Uuid::new_v4().to_string(),
                card_id: p.holder.card_id.clone(),
                seq,
                occurred_at: now,
                application: "social".to_owned(),
                from_state: Some("collected".to_owned()),
                to_state: "normal".to_owned(),
                event: "activate".to_owned(),
                reason: Some(format!("办件 {application_no}")),
                actor: actor.clone(),
                actor_role: role.to_owned(),
            },
        )
        .await?;
        rows::update_case(&mut tx, &p.case_id, 2, &change("awaiting_feedback", now)).await?;
        rows::insert_step(
            &mut tx,
            &step(
                0,
                "approve",
                Some("awaiting_processing"),
                "awaiting_feedback",
                now,
            ),
        )
        .await?;
        audit::append(&mut tx, &entry("case.approve", now)).await?;
        tx.commit().await?;
        // The decision's SMS, as the simulated gateway writes it.
        let mut conn = self.store.pool().acquire().await?;
        sscard::store::citizens::insert_outbox(
            &mut conn,
            &sscard::store::citizens::OutboxRow {
                id: p.outbox_id.clone(),
                created_at: now,
                mobile_masked: "139****2345".to_owned(),
                mobile_sealed: p.outbox_mobile_sealed.clone(),
                text_sealed: p.outbox_text_sealed.clone(),
            },
            now - chrono::Duration::days(1),
        )
        .await?;
        drop(conn);
        latencies.push(began.elapsed());

        // 4. Delivery.
        let began = Instant::now();
        let now = Utc::now();
        let mut tx = self.store.begin().await?;
        rows::lock_case(&mut tx, &application_no).await?;
        rows::update_case(&mut tx, &p.case_id, 3, &change("completed", now)).await?;
        rows::insert_step(
            &mut tx,
            &step(0, "deliver", Some("awaiting_feedback"), "completed", now),
        )
        .await?;
        audit::append(&mut tx, &entry("case.deliver", now)).await?;
        tx.commit().await?;
        latencies.push(began.elapsed());
        Ok(latencies)
    }
}

impl Workload for BaselineWork {
    async fn run_one(&self, worker: usize) -> OpResult {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(prepared) = self.prepared.get(i) else {
            return OpResult::Exhausted;
        };
        match self.one_case(prepared, worker).await {
            Ok(latencies) => OpResult::Done(latencies),
            Err(error) => OpResult::Failed(format!("baseline case {i}: {error}")),
        }
    }
}

/// Wraps the work for the driver.
pub fn shared(work: BaselineWork) -> Arc<BaselineWork> {
    Arc::new(work)
}
