//! The activation case (办件) use cases: pre-check (预审) and submission on
//! three channels, the staff's and the applicant's actions through
//! 受理 → 经办 → 反馈, the case with its timeline, the queues and uploads.
//!
//! Every action is one transaction: the case row changes by compare-and-set
//! on its `version` (two clerks racing: one wins, the other gets
//! `CASE_STATE_CONFLICT`), the step joins the timeline, approval moves the
//! card's social-security application to 正常 with its card event, and the
//! audit entry is appended last. Rules are the domain's
//! ([`sscard_domain::case`]); deadlines come from the case's own guide
//! version and the working-day calendar.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sscard_domain::calendar::Deadline;
use sscard_domain::case::{
    CaseAction, CaseActionKind, CaseActor, CaseError, CaseRefusal, CaseState, Channel,
    Circumstances, OneTimeNotice, Outcome as CaseOutcome, ProcessingDecision, acceptance_check,
    acceptance_condition, due_from_receipt, processing_decision, required_materials, step_due,
};
use sscard_domain::guide::{Guide, RoleCode};
use sscard_domain::identifiers::{CardNumber, IdNumber, MobileNumber};
use sscard_domain::registry::{
    Address, Enrolment, EnrolmentStatus, PersonName, RegionCode, SocialSecurityState,
};

use super::accounts::{Client, Principal};
use super::citizens::CitizenPrincipal;
use super::e_certificate::ECertificateAnswer;
use super::notifications::{self, NotificationKind, NotificationView};
use super::ratings::RatingView;
use super::registry::{ID_NUMBER_INDEX, blank_to_none, corrupt, field, invalid, parse_social};
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::{to_china, today_in_china};
use crate::store::cases::{
    self as rows, CaseChange, CaseFilter, CaseRow, IdempotencyRow, MaterialRow, StepRow, UploadRow,
};
use crate::store::registry::{
    self as registry_rows, CardEventRow, CardRow, PersonRow, StateColumn,
};
use crate::store::{StoreError, Tx};

/// The service requested on the form: 启用 (activation). The same paper form
/// serves loss reports and replacements, which are other items.
pub const SERVICE_ACTIVATE: &str = "activate";
/// The largest scan accepted, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// The longest free text (opinion, reason) accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// How far back a posted application's arrival may be registered.
pub const MAX_ARRIVAL_AGE_DAYS: i64 = 366;

// ---------------------------------------------------------------------------
// Who acts
// ---------------------------------------------------------------------------

/// Who calls a case use case: a signed-in cardholder or a staff account.
#[derive(Clone, Copy, Debug)]
pub enum CaseCaller<'a> {
    Citizen(&'a CitizenPrincipal),
    Staff(&'a Principal),
    /// The public progress query, after it matched number, ID number and
    /// name: reads a case, may take no action.
    Public,
}

impl CaseCaller<'_> {
    fn actor(&self, client: &Client) -> Actor {
        match self {
            Self::Citizen(citizen) => citizen.actor(client),
            Self::Staff(staff) => staff.actor(client),
            Self::Public => Actor {
                id: "public".to_owned(),
                role: "public".to_owned(),
                client_address: client.address.clone(),
            },
        }
    }

    /// The owner tag of uploads and the idempotency scope.
    fn tag(&self) -> String {
        match self {
            Self::Citizen(citizen) => format!("citizen:{}", citizen.person_id),
            Self::Staff(staff) => format!("account:{}", staff.account_id),
            Self::Public => "public".to_owned(),
        }
    }

    fn case_actor(&self) -> CaseActor<'_> {
        match self {
            Self::Citizen(_) | Self::Public => CaseActor::Applicant,
            Self::Staff(staff) => CaseActor::Staff(&staff.roles),
        }
    }

    /// The name shown in the timeline.
    fn display_name(&self) -> String {
        match self {
            Self::Citizen(_) => "申请人（网上）".to_owned(),
            Self::Public => "公众查询".to_owned(),
            Self::Staff(staff) if staff.display_name.trim().is_empty() => staff.username.clone(),
            Self::Staff(staff) => format!("{}（{}）", staff.display_name, staff.username),
        }
    }

    /// Whether the caller may see `case`: staff (the route admits bureau
    /// staff only) or the applicant themself.
    fn may_see(&self, case: &CaseRow) -> bool {
        match self {
            Self::Citizen(citizen) => case.person_id.as_deref() == Some(citizen.person_id.as_str()),
            Self::Staff(_) | Self::Public => true,
        }
    }
}

// ---------------------------------------------------------------------------
// How the result is delivered
// ---------------------------------------------------------------------------

/// 结果送达方式.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// 窗口领取.
    Window,
    /// 网上下载 — 互联网办理结果信息反馈.
    Online,
    /// 快递寄送 — at government cost (送达付费方式：政府支付).
    Express,
}

impl DeliveryMethod {
    pub const ALL: [Self; 3] = [Self::Window, Self::Online, Self::Express];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Window => "window",
            Self::Online => "online",
            Self::Express => "express",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Window => "窗口领取",
            Self::Online => "网上下载",
            Self::Express => "快递寄送（政府付费）",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code.trim())
    }
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// 《社会保障卡服务申请表》 as a form: the applicant, the card, the service
/// requested, an optional agent, how the result is received, the materials
/// and the declaration (承诺) that replaces the signature online.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ApplicationInput {
    /// `window` (窗口办理, entered by the 受理岗), `online` (网上办理, the
    /// cardholder) or `express` (快递申请, registered by the 受理岗). A
    /// citizen's application is always online.
    #[serde(default)]
    pub channel: Option<String>,
    /// 申请业务: only `activate` (启用) is this item.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub applicant: ApplicantInput,
    /// 社会保障卡卡号.
    #[serde(default)]
    pub card_number: String,
    /// 受委托人 (window and express only).
    #[serde(default)]
    pub agent: Option<AgentInput>,
    #[serde(default)]
    pub delivery: DeliveryInput,
    /// 快递申请: the waybill number the application came with.
    #[serde(default)]
    pub inbound_waybill: Option<String>,
    /// 快递申请: when the post arrived (default: now); the time limit counts
    /// from the window's next opening after it.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
    /// Each material's status as checked (window, express) or its upload
    /// (online). Materials not listed are missing — except, online, the form
    /// itself and the own card, which the e-certificate check verifies.
    #[serde(default)]
    pub materials: Vec<MaterialInput>,
    /// 承诺: the applicant confirms the form is true and complete.
    #[serde(default)]
    pub declaration: bool,
}

/// 申请人 on the form.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ApplicantInput {
    #[serde(default)]
    pub name: String,
    /// 社会保障号码 (= 公民身份号码).
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub address: Option<String>,
}

/// 受委托人 on the form.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AgentInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub mobile: String,
    /// 与申请人关系, e.g. 配偶, 子女, 同事.
    #[serde(default)]
    pub relation: String,
}

/// 结果领取方式 on the form.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeliveryInput {
    /// `window`, `online` or `express`.
    #[serde(default)]
    pub method: String,
    /// Express: 收件人.
    #[serde(default)]
    pub recipient: Option<String>,
    /// Express: 收件人电话.
    #[serde(default)]
    pub mobile: Option<String>,
    /// Express: 邮寄地址.
    #[serde(default)]
    pub address: Option<String>,
}

/// One material as checked or supplied.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct MaterialInput {
    /// The guide's material code, e.g. `application_form`.
    pub code: String,
    /// `submitted`, `verified_by_e_certificate`, `waived`, `missing` or
    /// `defective` (default `submitted`).
    #[serde(default)]
    pub status: Option<String>,
    /// Why it is defective.
    #[serde(default)]
    pub reason: Option<String>,
    /// A scan uploaded before (`POST /api/v1/uploads`).
    #[serde(default)]
    pub upload_id: Option<String>,
}

/// What comes with an action.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ActionInput {
    /// 办理意见.
    #[serde(default)]
    pub opinion: Option<String>,
    /// Refuse / deny: the reason code (UPPER_SNAKE); computed when omitted
    /// and the rules decide it (not insured, card lost …).
    #[serde(default)]
    pub code: Option<String>,
    /// Refuse / deny: the reason for the applicant.
    #[serde(default)]
    pub reason: Option<String>,
    /// Accept / notify-missing: the clerk's check of each material;
    /// supplement: what was supplied.
    #[serde(default)]
    pub materials: Vec<MaterialInput>,
    /// Deliver: how the result was handed over.
    #[serde(default)]
    pub delivery: Option<DeliveryRecordInput>,
}

/// How a result was delivered.
#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecordInput {
    /// Window pickup: `holder` (本人) or `agent` (代领人).
    #[serde(default)]
    pub collected_by: Option<String>,
    /// Window pickup by an agent: the agent's name and ID number (checked).
    #[serde(default)]
    pub collector_name: Option<String>,
    #[serde(default)]
    pub collector_id_number: Option<String>,
    /// Express: the carrier, e.g. 中国邮政EMS.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Express: the waybill number.
    #[serde(default)]
    pub waybill_no: Option<String>,
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

/// One material of a case.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MaterialView {
    pub code: String,
    /// The guide's name.
    pub name: String,
    pub status: String,
    pub status_label: String,
    pub reason: Option<String>,
    pub waivable: bool,
    pub upload: Option<UploadView>,
}

/// An uploaded scan.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UploadView {
    pub upload_id: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub file_name: String,
    /// SM3 of the bytes, hex.
    pub digest_sm3: String,
    pub uploaded_at: DateTime<Utc>,
}

/// One entry of the timeline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub seq: i64,
    /// `submit` or an action code.
    pub action: String,
    pub action_label: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub to_state_label: String,
    pub actor_name: String,
    pub actor_role: String,
    pub occurred_at: DateTime<Utc>,
    pub opinion: Option<String>,
    pub code: Option<String>,
    /// The one-time notice of a 一次性告知 step.
    pub notice: Option<OneTimeNotice>,
    /// How the result was delivered, for a 送达 step.
    pub delivery: Option<serde_json::Value>,
    /// The due date of the step this one started.
    pub next_due: Option<NaiveDate>,
    /// The SMS notices this step sent the applicant (number masked); not
    /// shown to the public progress query.
    pub notifications: Vec<NotificationView>,
}

/// When each step is due, as planned from the receipt of the application.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedStep {
    /// `acceptor`, `processor`, `feedback`.
    pub role: String,
    pub step_name: String,
    pub time_limit_working_days: u32,
    pub due: NaiveDate,
}

/// A case as its applicant or the staff see it (identifiers masked).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub application_no: String,
    pub item_name: String,
    pub item_code: String,
    pub implementation_code: String,
    /// The guide version current when the case was submitted; its rules apply.
    pub guide_version: i64,
    pub channel: String,
    pub channel_label: String,
    pub service: String,
    pub service_label: String,
    /// `submitted`, `awaiting_supplement`, `awaiting_processing`,
    /// `awaiting_feedback`, `completed`, `refused`.
    pub status: String,
    pub status_label: String,
    pub outcome: Option<String>,
    pub outcome_label: Option<String>,
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub applicant_name: String,
    pub applicant_id_number_masked: String,
    pub applicant_mobile_masked: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id_number_masked: Option<String>,
    pub agent_relation: Option<String>,
    pub card_number_masked: String,
    pub delivery_method: String,
    pub delivery_method_label: String,
    pub delivery_address_masked: Option<String>,
    pub delivery: Option<serde_json::Value>,
    pub inbound_waybill: Option<String>,
    pub received_at: DateTime<Utc>,
    /// The step whose clock runs now: `acceptor`, `processor`, `feedback`.
    pub current_step: Option<String>,
    pub current_step_label: Option<String>,
    pub step_due: Option<NaiveDate>,
    pub step_due_provisional: bool,
    pub overdue: bool,
    /// The whole case's due date (the guide's time limits from the receipt).
    pub deadline: Option<NaiveDate>,
    pub schedule: Vec<PlannedStep>,
    pub materials: Vec<MaterialView>,
    /// The one-time notice in force (while 补正中).
    pub notice: Option<OneTimeNotice>,
    pub timeline: Vec<StepView>,
    /// What the caller may do now (action codes as in the URL).
    pub allowed_actions: Vec<String>,
    /// 好差评: the applicant's rating once the case has ended, with the
    /// follow-up of a bad one; not shown to the public progress query.
    pub rating: Option<RatingView>,
}

/// A line of a queue.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseSummary {
    pub application_no: String,
    pub applicant_name: String,
    pub applicant_id_number_masked: String,
    pub card_number_masked: String,
    pub channel_label: String,
    pub has_agent: bool,
    pub status: String,
    pub status_label: String,
    pub received_at: DateTime<Utc>,
    pub step_due: Option<NaiveDate>,
    pub overdue: bool,
}

/// The pre-check (预审) of a form: every problem at once, and what the
/// acceptance check would say about the materials.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PrecheckReport {
    /// No field needs changing (the materials may still be incomplete).
    pub ok: bool,
    pub errors: Vec<FieldError>,
    pub materials: Vec<MaterialView>,
    /// What would be asked for at acceptance, if anything.
    pub notice: Option<OneTimeNotice>,
    pub guide_version: i64,
}

/// The queues of the workbench.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    /// 待受理.
    Submitted,
    /// 补正中.
    AwaitingSupplement,
    /// 待经办.
    AwaitingProcessing,
    /// 待反馈.
    AwaitingFeedback,
    /// 超期: running steps past their due date.
    Overdue,
    /// 已办结.
    Completed,
    /// 不予受理.
    Refused,
}

impl Queue {
    pub const ALL: [Self; 7] = [
        Self::Submitted,
        Self::AwaitingSupplement,
        Self::AwaitingProcessing,
        Self::AwaitingFeedback,
        Self::Overdue,
        Self::Completed,
        Self::Refused,
    ];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::AwaitingSupplement => "awaiting_supplement",
            Self::AwaitingProcessing => "awaiting_processing",
            Self::AwaitingFeedback => "awaiting_feedback",
            Self::Overdue => "overdue",
            Self::Completed => "completed",
            Self::Refused => "refused",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Submitted => "待受理",
            Self::AwaitingSupplement => "补正中",
            Self::AwaitingProcessing => "待经办",
            Self::AwaitingFeedback => "待反馈",
            Self::Overdue => "超期",
            Self::Completed => "已办结",
            Self::Refused => "不予受理",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.code() == code)
    }

    fn states(self) -> Vec<String> {
        let states: &[&str] = match self {
            Self::Overdue => &["submitted", "awaiting_processing", "awaiting_feedback"],
            other => &[other.code()],
        };
        states.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// The counts of the workbench's queues.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct QueueCount {
    pub queue: String,
    pub label: String,
    pub count: i64,
}

/// The plain bytes of a scan, for the browser.
pub struct UploadContent {
    pub content_type: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The sealed part of the form: everything identifying that is not shown.
#[derive(Clone, Default, Deserialize, Serialize)]
struct SealedForm {
    applicant_id_number: String,
    applicant_mobile: String,
    applicant_address: Option<String>,
    agent_id_number: Option<String>,
    agent_mobile: Option<String>,
    agent_relation: Option<String>,
    delivery_recipient: Option<String>,
    delivery_mobile: Option<String>,
    delivery_address: Option<String>,
}

/// A form that passed the pre-check.
struct CheckedApplication {
    channel: Channel,
    applicant_id: IdNumber,
    applicant_name: String,
    form: SealedForm,
    applicant_address_masked: Option<String>,
    agent: Option<(String, String)>,
    card_number: CardNumber,
    delivery: DeliveryMethod,
    delivery_address_masked: Option<String>,
    inbound_waybill: Option<String>,
    received_at: DateTime<Utc>,
    materials: Vec<(String, MaterialStatus, Option<String>)>,
    person: Option<PersonRow>,
    card: Option<CardRow>,
}

use sscard_domain::case::MaterialStatus;

// ---------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------

impl Services {
    /// 预审: checks a form without submitting it, listing every problem at
    /// once and what acceptance would ask for.
    ///
    /// # Errors
    ///
    /// Only when the database or the e-certificate library cannot answer.
    pub async fn precheck_application(
        &self,
        caller: CaseCaller<'_>,
        input: &ApplicationInput,
    ) -> ServiceResult<PrecheckReport> {
        let guide = self.current_guide().await?.guide;
        let (checked, errors) = self.check_application(caller, input, &guide).await?;
        let (materials, notice) = match &checked {
            Some(checked) => {
                let statuses: BTreeMap<String, MaterialStatus> = checked
                    .materials
                    .iter()
                    .map(|(code, status, _)| (code.clone(), status.clone()))
                    .collect();
                let circumstances = Circumstances {
                    has_agent: checked.agent.is_some(),
                    is_employer_batch: false,
                };
                let views = material_views(&guide, circumstances, &statuses, &BTreeMap::new());
                (
                    views,
                    acceptance_check(&guide, circumstances, &statuses).err(),
                )
            }
            None => (Vec::new(), None),
        };
        Ok(PrecheckReport {
            ok: errors.is_empty(),
            errors,
            materials,
            notice,
            guide_version: i64::from(guide.version),
        })
    }

    /// Submits an application: online by the cardholder, or entered by the
    /// 受理岗 for a walk-in (window) or a posted one (express). The case is
    /// stamped with the current guide version and starts in 待受理 with the
    /// acceptance step's due date. The same `idempotency_key` with the same
    /// form returns the first case; with another form it is refused.
    ///
    /// # Errors
    ///
    /// `Invalid VALIDATION_FAILED` with every field at fault,
    /// `Conflict IDEMPOTENCY_KEY_REUSED`.
    pub async fn submit_application(
        &self,
        caller: CaseCaller<'_>,
        input: &ApplicationInput,
        idempotency_key: Option<&str>,
        client: &Client,
    ) -> ServiceResult<(CaseView, bool)> {
        let idempotency = match idempotency_key {
            Some(key) => Some(IdempotencyRef::new(
                format!("applications:{}", caller.tag()),
                key,
                input,
            )?),
            None => None,
        };
        if let Some(idem) = &idempotency
            && let Some(no) = self.replayed(idem).await?
        {
            return Ok((self.application(caller, &no).await?, true));
        }
        let guide = self.current_guide().await?.guide;
        let (checked, errors) = self.check_application(caller, input, &guide).await?;
        let checked = match checked {
            Some(checked) if errors.is_empty() => checked,
            _ => {
                return Err(invalid(
                    &format!(
                        "申请表有 {} 处需要修改，请按提示逐项修改后重新提交。",
                        errors.len().max(1)
                    ),
                    errors,
                ));
            }
        };
        let actor = caller.actor(client);
        let now = Utc::now();
        let received_at = checked.received_at;
        let received_local = to_china(received_at).naive_local();
        let window = guide
            .windows
            .first()
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("the guide names no window")))?;
        let total = guide.total_time_limit_working_days();
        let acceptance_limit = guide.time_limit_for(RoleCode::Acceptor).unwrap_or(0);
        let calendar = self
            .working_calendar(received_local.date(), total.max(1) + 30)
            .await?;
        let (acceptance_due, case_due) = if checked.channel.arrives_outside_hours() {
            (
                due_from_receipt(received_local, acceptance_limit, &calendar, window)
                    .map_err(clock_error)?,
                due_from_receipt(received_local, total, &calendar, window).map_err(clock_error)?,
            )
        } else {
            let today = received_local.date();
            (
                step_due(today, acceptance_limit, &calendar).map_err(deadline_error)?,
                step_due(today, total, &calendar).map_err(deadline_error)?,
            )
        };
        let case_id = uuid::Uuid::new_v4().to_string();
        let keyring = self.keyring();
        let form_json =
            serde_json::to_string(&checked.form).map_err(|e| ServiceError::Internal(e.into()))?;
        let form_sealed =
            keyring.encrypt_str(&form_json, rows::FORM_SEALED.aad(&case_id).as_bytes());
        let applicant_index = keyring.blind_index(ID_NUMBER_INDEX, checked.applicant_id.as_str());

        let mut tx = self.store().begin().await?;
        if let Some(idem) = &idempotency {
            // Taken first, so a concurrent twin waits here and then replays.
            if let Some(stored) = rows::idempotency_key(&mut tx, &idem.scope, &idem.key).await? {
                drop(tx);
                let no = idem.check(&stored)?;
                return Ok((self.application(caller, &no).await?, true));
            }
        }
        let day = to_china(now).format("%Y%m%d").to_string();
        let seq = rows::next_application_seq(&mut tx, &day).await?;
        let application_no = format!("SQ-{day}-{seq:06}");
        if let Some(idem) = &idempotency
            && let Err(error) = rows::insert_idempotency_key(
                &mut tx,
                &idem.scope,
                &idem.key,
                &IdempotencyRow {
                    request_hash: idem.hash.clone(),
                    result_ref: application_no.clone(),
                },
                now,
            )
            .await
        {
            // A concurrent request with the same key committed first.
            drop(tx);
            if let Some(no) = self.replayed(idem).await? {
                return Ok((self.application(caller, &no).await?, true));
            }
            return Err(error.into());
        }
        let state = CaseState::Submitted;
        let row = CaseRow {
            id: case_id.clone(),
            application_no: application_no.clone(),
            item_code: guide.item_code.clone(),
            implementation_code: guide.implementation_code.clone(),
            guide_version: i64::from(guide.version),
            channel: checked.channel.code().to_owned(),
            service: SERVICE_ACTIVATE.to_owned(),
            person_id: checked.person.as_ref().map(|p| p.id.clone()),
            applicant_index,
            applicant_name: checked.applicant_name.clone(),
            applicant_id_masked: checked.applicant_id.masked(),
            card_id: checked.card.as_ref().map(|c| c.id.clone()),
            card_number: checked.card_number.as_str().to_owned(),
            has_agent: checked.agent.is_some(),
            agent_name: checked.agent.as_ref().map(|(name, _)| name.clone()),
            agent_id_masked: checked.agent.as_ref().map(|(_, masked)| masked.clone()),
            form_sealed,
            delivery_method: checked.delivery.code().to_owned(),
            delivery_address_masked: checked
                .delivery_address_masked
                .clone()
                .or(checked.applicant_address_masked.clone())
                .filter(|_| checked.delivery == DeliveryMethod::Express),
            inbound_waybill: checked.inbound_waybill.clone(),
            state: state.code().to_owned(),
            outcome: None,
            outcome_code: None,
            outcome_reason: None,
            received_at,
            step_started_at: Some(received_at),
            step_due: Some(acceptance_due.deadline),
            step_due_provisional: acceptance_due.provisional,
            case_due: Some(case_due.deadline),
            delivery_detail: None,
            submitted_by: caller.tag(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        rows::insert_case(&mut tx, &row).await?;
        for (code, status, upload_id) in &checked.materials {
            if let Some(upload_id) = upload_id
                && !rows::attach_upload(&mut tx, upload_id, &case_id).await?
            {
                return Err(upload_taken(code));
            }
            rows::put_material(
                &mut tx,
                &MaterialRow {
                    case_id: case_id.clone(),
                    code: code.clone(),
                    status: status.code().to_owned(),
                    reason: defect_reason(status),
                    upload_id: upload_id.clone(),
                    updated_at: now,
                },
            )
            .await?;
        }
        rows::insert_step(
            &mut tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: case_id.clone(),
                seq: 0,
                action: "submit".to_owned(),
                from_state: None,
                to_state: state.code().to_owned(),
                outcome: None,
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                actor_name: caller.display_name(),
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
            "case.submit",
            &format!("case:{case_id}"),
            Outcome::Succeeded,
            serde_json::json!({
                "application_no": application_no,
                "channel": checked.channel.code(),
                "guide_version": guide.version,
                "has_agent": checked.agent.is_some(),
                "card_number": checked.card_number.masked(),
            }),
        )
        .await?;
        commit(tx).await?;
        Ok((self.application(caller, &application_no).await?, false))
    }

    /// The case with its materials and timeline, as `caller` may see it.
    ///
    /// # Errors
    ///
    /// `NotFound APPLICATION_NOT_FOUND` (also for another citizen's case).
    pub async fn application(
        &self,
        caller: CaseCaller<'_>,
        application_no: &str,
    ) -> ServiceResult<CaseView> {
        let mut conn = self.connection().await?;
        let case = rows::case_by_number(&mut conn, &normalize_application_no(application_no))
            .await?
            .filter(|case| caller.may_see(case))
            .ok_or_else(|| application_not_found(application_no))?;
        self.view_of_case(conn, case, caller).await
    }

    /// The view of a case already read on `conn` (the progress query reads
    /// it first to check the applicant; reading it again cost a round trip).
    pub(crate) async fn view_of_case(
        &self,
        mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
        case: CaseRow,
        caller: CaseCaller<'_>,
    ) -> ServiceResult<CaseView> {
        let materials = rows::materials_of(&mut conn, &case.id).await?;
        let steps = rows::steps_of(&mut conn, &case.id).await?;
        // The scans of the materials, in one statement; the public progress
        // view shows none.
        let mut uploads = BTreeMap::new();
        if !matches!(caller, CaseCaller::Public) {
            let ids: Vec<&str> = materials
                .iter()
                .filter_map(|m| m.upload_id.as_deref())
                .collect();
            let found = rows::uploads_by_ids(&mut conn, &ids).await?;
            for material in &materials {
                if let Some(upload) = material
                    .upload_id
                    .as_deref()
                    .and_then(|id| found.iter().find(|u| u.id == id))
                {
                    uploads.insert(material.code.clone(), upload.clone());
                }
            }
        }
        drop(conn);
        let guide = self.guide_version(guide_version_of(&case)?).await?.guide;
        let mut view = self
            .case_view(&case, &guide, &materials, &uploads, &steps, caller)
            .await?;
        self.attach_feedback(&mut view, &case, caller).await?;
        Ok(view)
    }

    /// One action on a case by `caller` (see the module documentation).
    ///
    /// # Errors
    ///
    /// `Forbidden ROLE_NOT_PERMITTED_FOR_STEP`, `Conflict CASE_STATE_CONFLICT`
    /// (also to the loser of a race), `Invalid` for the action's content
    /// (`NOTICE_EMPTY`, `REASON_REQUIRED`, `MATERIALS_INCOMPLETE`,
    /// `VALIDATION_FAILED`), `Conflict NOT_INSURED_IN_LIUZHOU` /
    /// a denial reason code when the rules decide otherwise,
    /// `NotFound APPLICATION_NOT_FOUND`.
    pub async fn act_on_application(
        &self,
        caller: CaseCaller<'_>,
        application_no: &str,
        kind: CaseActionKind,
        input: &ActionInput,
        client: &Client,
    ) -> ServiceResult<CaseView> {
        let application_no = normalize_application_no(application_no);
        let actor = caller.actor(client);
        // The guide of the case's own version, read before the transaction.
        let version = {
            let mut conn = self.connection().await?;
            let case = rows::case_by_number(&mut conn, &application_no)
                .await?
                .filter(|case| caller.may_see(case))
                .ok_or_else(|| application_not_found(&application_no))?;
            guide_version_of(&case)?
        };
        let guide = self.guide_version(version).await?.guide;
        let opinion = checked_text(input.opinion.as_deref(), "opinion", "办理意见")?;
        let now = Utc::now();
        let today = today_in_china();
        let calendar = self.working_calendar(today, 40).await?;

        let mut tx = self.store().begin().await?;
        // The case's row lock first: actions on one case run one after the
        // other, each reading the case as the previous one left it, and no
        // two of them take the rows they write (materials, uploads, the
        // card) in different orders — which deadlocked on PostgreSQL.
        rows::lock_case(&mut tx, &application_no).await?;
        let case = rows::case_by_number(&mut tx, &application_no)
            .await?
            .filter(|case| caller.may_see(case))
            .ok_or_else(|| application_not_found(&application_no))?;
        let state = state_of(&case)?;
        let object = format!("case:{}", case.id);
        let mut materials: BTreeMap<String, MaterialRow> = rows::materials_of(&mut tx, &case.id)
            .await?
            .into_iter()
            .map(|m| (m.code.clone(), m))
            .collect();
        let circumstances = Circumstances {
            has_agent: case.has_agent,
            is_employer_batch: false,
        };

        // Role and state first, so a clerk racing another learns that before
        // anything about the content.
        if let Err(error) = state.apply_as(&probe_action(kind), caller.case_actor())
            && error.reason != CaseRefusal::NoticeEmpty
            && error.reason != CaseRefusal::ReasonRequired
        {
            return self
                .refuse(tx, &actor, &object, &case, kind, case_error(&error))
                .await;
        }

        let action: CaseAction;
        let mut step_detail: Option<serde_json::Value> = None;
        let mut delivery_detail: Option<String> = None;
        let mut card_change: Option<CardRow> = None;
        let mut next_due: Option<Deadline> = None;
        let mut sms: Option<(NotificationKind, String)> = None;
        match kind {
            CaseActionKind::Accept => {
                // The acceptance condition before anything is written, so
                // the refusal's audit entry is all this transaction keeps.
                let enrolment = self.enrolment_of(&mut tx, &case).await?;
                if let Err(error) = acceptance_condition(enrolment.as_ref()) {
                    return self
                        .refuse(tx, &actor, &object, &case, kind, case_error(&error))
                        .await;
                }
                self.apply_material_checks(
                    &mut tx,
                    &guide,
                    circumstances,
                    &case,
                    &mut materials,
                    input,
                    caller,
                    now,
                )
                .await?;
                let statuses = statuses_of(&materials)?;
                if let Err(notice) = acceptance_check(&guide, circumstances, &statuses) {
                    return Err(materials_incomplete(&notice));
                }
                action = CaseAction::Accept;
                let limit = guide.time_limit_for(RoleCode::Processor).unwrap_or(1);
                next_due = Some(step_due(today, limit, &calendar).map_err(deadline_error)?);
                sms = Some((
                    NotificationKind::Accepted,
                    notifications::accepted_text(&case.application_no, case.case_due),
                ));
            }
            CaseActionKind::NotifyMissing => {
                self.apply_material_checks(
                    &mut tx,
                    &guide,
                    circumstances,
                    &case,
                    &mut materials,
                    input,
                    caller,
                    now,
                )
                .await?;
                let statuses = statuses_of(&materials)?;
                let notice = acceptance_check(&guide, circumstances, &statuses)
                    .err()
                    .unwrap_or_default();
                step_detail = Some(serde_json::json!({ "notice": notice }));
                sms = Some((
                    NotificationKind::Notice,
                    notifications::notice_text(
                        &case.application_no,
                        &notice
                            .items
                            .iter()
                            .map(|i| i.name.clone())
                            .collect::<Vec<_>>(),
                    ),
                ));
                action = CaseAction::NotifyMissing { notice };
            }
            CaseActionKind::Supplement => {
                self.apply_supplement(
                    &mut tx,
                    &guide,
                    circumstances,
                    &case,
                    &mut materials,
                    input,
                    caller,
                    now,
                )
                .await?;
                action = CaseAction::Supplement;
                let window = guide.windows.first().ok_or_else(|| {
                    ServiceError::Internal(anyhow::anyhow!("the guide names no window"))
                })?;
                let limit = guide.time_limit_for(RoleCode::Acceptor).unwrap_or(0);
                next_due = Some(
                    due_from_receipt(to_china(now).naive_local(), limit, &calendar, window)
                        .map_err(clock_error)?,
                );
            }
            CaseActionKind::Refuse => {
                let enrolment = self.enrolment_of(&mut tx, &case).await?;
                let insured = acceptance_condition(enrolment.as_ref()).is_ok();
                action = match (blank_to_none(input.code.as_deref()), insured) {
                    (None | Some(sscard_domain::case::NOT_INSURED_IN_LIUZHOU), false) => {
                        CaseAction::refuse_not_insured()
                    }
                    // The registry says the applicant is insured here: that
                    // cannot be the reason.
                    (Some(code), true)
                        if code.trim() == sscard_domain::case::NOT_INSURED_IN_LIUZHOU =>
                    {
                        return Err(invalid(
                            "申请人已参加柳州市社会保险，不能以“未参加柳州市社会保险”为由不予受理。",
                            vec![FieldError::new(
                                "code",
                                "REASON_CONTRADICTS_REGISTRY",
                                "参保信息显示申请人已参加柳州市社会保险。请核对；如有其他不予受理的理由，请填写相应的原因代码和说明。",
                            )],
                        ));
                    }
                    (code, _) => CaseAction::Refuse {
                        code: code.unwrap_or_default().trim().to_owned(),
                        reason: input.reason.clone().unwrap_or_default().trim().to_owned(),
                    },
                };
                sms = Some((
                    NotificationKind::Refused,
                    notifications::refused_text(&case.application_no),
                ));
            }
            CaseActionKind::Approve
            | CaseActionKind::Deny
            | CaseActionKind::ConfirmAlreadyActive => {
                let (card, decision) = self.decide(&mut tx, &case, today).await?;
                action = match (kind, decision) {
                    (CaseActionKind::Approve, ProcessingDecision::Activate) => {
                        card_change = Some(card);
                        CaseAction::Approve
                    }
                    // Approving a card that is already 正常 ends the case
                    // with that outcome: nothing is activated twice.
                    (
                        CaseActionKind::Approve | CaseActionKind::ConfirmAlreadyActive,
                        ProcessingDecision::AlreadyActive,
                    ) => CaseAction::ConfirmAlreadyActive,
                    (
                        CaseActionKind::Approve | CaseActionKind::ConfirmAlreadyActive,
                        ProcessingDecision::Deny(reason),
                    ) => {
                        return Err(ServiceError::Conflict {
                            code: reason.code(),
                            detail: format!("{}请作出“不予通过”决定。", reason.message_zh()),
                        });
                    }
                    (CaseActionKind::ConfirmAlreadyActive, ProcessingDecision::Activate) => {
                        return Err(ServiceError::Conflict {
                            code: "CARD_NOT_ACTIVE",
                            detail: "该社会保障卡尚未启用，不能确认“此前已启用”。符合条件的请作出“准予启用”决定。".to_owned(),
                        });
                    }
                    (_, decided) => {
                        let (code, reason) = match (blank_to_none(input.code.as_deref()), decided) {
                            (None, ProcessingDecision::Deny(reason)) => {
                                (reason.code().to_owned(), reason.message_zh().to_owned())
                            }
                            (code, _) => (
                                code.unwrap_or_default().trim().to_owned(),
                                input.reason.clone().unwrap_or_default().trim().to_owned(),
                            ),
                        };
                        let reason = if reason.is_empty() {
                            denial_message(&code).unwrap_or_default()
                        } else {
                            reason
                        };
                        CaseAction::Deny { code, reason }
                    }
                };
                let limit = guide.time_limit_for(RoleCode::Feedback).unwrap_or(0);
                next_due = Some(step_due(today, limit, &calendar).map_err(deadline_error)?);
                sms = Some((
                    NotificationKind::Completed,
                    notifications::completed_text(&case.application_no, action.kind()),
                ));
            }
            CaseActionKind::Deliver => {
                let record = Self::delivery_record(&case, input.delivery.as_ref(), now)?;
                if let (Some("express"), Some(carrier), Some(waybill)) = (
                    record.get("method").and_then(|v| v.as_str()),
                    record.get("carrier").and_then(|v| v.as_str()),
                    record.get("waybill_no").and_then(|v| v.as_str()),
                ) {
                    sms = Some((
                        NotificationKind::Dispatched,
                        notifications::dispatched_text(&case.application_no, carrier, waybill),
                    ));
                }
                step_detail = Some(record.clone());
                delivery_detail = Some(record.to_string());
                action = CaseAction::Deliver;
            }
        }
        let next = match state.apply_as(&action, caller.case_actor()) {
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
                    .refuse(tx, &actor, &object, &case, kind, case_error(&error))
                    .await;
            }
        };
        let (outcome_code, outcome_reason) = match &action {
            CaseAction::Refuse { code, reason } | CaseAction::Deny { code, reason } => {
                (Some(code.clone()), Some(reason.clone()))
            }
            _ => (case.outcome_code.clone(), case.outcome_reason.clone()),
        };
        let change = CaseChange {
            state: next.code().to_owned(),
            outcome: next.outcome().map(|o| o.code().to_owned()),
            outcome_code,
            outcome_reason: outcome_reason.clone(),
            step_started_at: next.step().map(|_| now),
            step_due: next_due.as_ref().map(|d| d.deadline),
            step_due_provisional: next_due.as_ref().is_some_and(|d| d.provisional),
            delivery_detail,
            now,
        };
        if !rows::update_case(&mut tx, &case.id, case.version, &change).await? {
            drop(tx);
            let current = self.current_state(&application_no).await?;
            return Err(case_error(&CaseError {
                current,
                attempted: kind,
                reason: CaseRefusal::StateConflict,
            }));
        }
        if let Some(card) = &card_change {
            self.activate_card(&mut tx, card, &case, &actor, now)
                .await?;
        }
        let (code, opinion) = match &action {
            CaseAction::Refuse { code, reason } | CaseAction::Deny { code, reason } => (
                Some(code.clone()),
                Some(opinion.unwrap_or_else(|| reason.clone())),
            ),
            _ => (None, opinion),
        };
        let step_seq = rows::insert_step(
            &mut tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: case.id.clone(),
                seq: 0,
                action: action.kind().code().to_owned(),
                from_state: Some(state.code().to_owned()),
                to_state: next.code().to_owned(),
                outcome: next.outcome().map(|o| o.code().to_owned()),
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                actor_name: caller.display_name(),
                occurred_at: now,
                opinion,
                code: code.clone(),
                detail: step_detail.map(|d| d.to_string()),
                next_due: next_due.as_ref().map(|d| d.deadline),
            },
        )
        .await?;
        // The notice joins the case in this transaction and is sent after
        // the commit (see `notifications`): the gateway never undoes it.
        let notice_id = match &sms {
            Some((kind, text)) => Some(
                self.queue_notification(&mut tx, &case, step_seq, *kind, text, now)
                    .await?,
            ),
            None => None,
        };
        self.record_audit(
            &mut tx,
            &actor,
            audit_action(action.kind()),
            &object,
            Outcome::Succeeded,
            serde_json::json!({
                "application_no": case.application_no,
                "from": state.code(),
                "to": next.code(),
                "outcome": next.outcome().map(CaseOutcome::code),
                "code": code,
                "card_activated": card_change.is_some(),
            }),
        )
        .await?;
        commit(tx).await?;
        if let Some(id) = notice_id {
            self.send_notifications(&[id]).await;
        }
        self.application(caller, &application_no).await
    }

    /// A queue of the workbench (staff), most urgent first.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn application_queue(
        &self,
        queue: Queue,
        limit: i64,
    ) -> ServiceResult<Vec<CaseSummary>> {
        let today = today_in_china();
        let filter = CaseFilter {
            states: queue.states(),
            overdue_before: (queue == Queue::Overdue).then_some(today),
            applicant_index: None,
            limit,
        };
        let mut conn = self.connection().await?;
        let cases = rows::list_cases(&mut conn, &filter).await?;
        cases.iter().map(|case| summary_of(case, today)).collect()
    }

    /// The counts of every queue, for the workbench.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn queue_counts(&self) -> ServiceResult<Vec<QueueCount>> {
        let mut conn = self.connection().await?;
        let (counts, overdue) = rows::count_by_state(&mut conn, today_in_china()).await?;
        Ok(Queue::ALL
            .into_iter()
            .map(|queue| QueueCount {
                queue: queue.code().to_owned(),
                label: queue.label_zh().to_owned(),
                count: if queue == Queue::Overdue {
                    overdue
                } else {
                    counts
                        .iter()
                        .find(|(state, _)| state == queue.code())
                        .map_or(0, |(_, n)| *n)
                },
            })
            .collect())
    }

    /// A signed-in cardholder's own cases, newest last.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn my_applications(
        &self,
        citizen: &CitizenPrincipal,
    ) -> ServiceResult<Vec<CaseSummary>> {
        let mut conn = self.connection().await?;
        let person = registry_rows::person_by_id(&mut conn, &citizen.person_id).await?;
        let Some(person) = person else {
            return Ok(Vec::new());
        };
        let filter = CaseFilter {
            applicant_index: Some(person.id_number_index.clone()),
            limit: 200,
            ..CaseFilter::default()
        };
        let today = today_in_china();
        let mut cases = rows::list_cases(&mut conn, &filter).await?;
        cases.retain(|case| case.person_id.as_deref() == Some(citizen.person_id.as_str()));
        cases.sort_by_key(|case| case.created_at);
        cases.iter().map(|case| summary_of(case, today)).collect()
    }

    /// Stores a scan (PDF, JPEG or PNG, recognised by its content, at most
    /// [`MAX_UPLOAD_BYTES`]) sealed in the blob store; it belongs to the
    /// caller until a case takes it.
    ///
    /// # Errors
    ///
    /// `Invalid UPLOAD_TYPE_NOT_ALLOWED`, `UPLOAD_TOO_LARGE`, `UPLOAD_EMPTY`;
    /// `Unavailable` when the blob store cannot write.
    pub async fn store_upload(
        &self,
        caller: CaseCaller<'_>,
        file_name: &str,
        bytes: Vec<u8>,
        client: &Client,
    ) -> ServiceResult<UploadView> {
        if bytes.is_empty() {
            return Err(upload_invalid(
                "UPLOAD_EMPTY",
                "上传的文件是空的，请重新选择扫描件。",
            ));
        }
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(upload_invalid(
                "UPLOAD_TOO_LARGE",
                &format!(
                    "文件超过 {} MB，请降低扫描分辨率或压缩后重新上传。",
                    MAX_UPLOAD_BYTES / 1024 / 1024
                ),
            ));
        }
        let Some(content_type) = sniff_content_type(&bytes) else {
            return Err(upload_invalid(
                "UPLOAD_TYPE_NOT_ALLOWED",
                "只接受 PDF、JPEG 或 PNG 格式的扫描件（按文件内容识别，不看扩展名），请转换格式后重新上传。",
            ));
        };
        let id = uuid::Uuid::new_v4().to_string();
        let digest = sscard_crypto::sm3_hex(&bytes);
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let sealed = self
            .keyring()
            .encrypt(&bytes, format!("blob:{id}").as_bytes());
        self.blob_store()
            .put(&id, sealed.into_bytes())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot write to the blob store");
                ServiceError::Unavailable(StoreError::Corrupt {
                    what: "blob store".to_owned(),
                    reason: e.to_string(),
                })
            })?;
        let now = Utc::now();
        let file_name = clean_file_name(file_name, content_type);
        let row = UploadRow {
            id: id.clone(),
            owner: caller.tag(),
            content_type: content_type.to_owned(),
            size_bytes: size,
            digest_sm3: digest,
            file_name,
            case_id: None,
            created_at: now,
        };
        let actor = caller.actor(client);
        let mut tx = self.store().begin().await?;
        rows::insert_upload(&mut tx, &row).await?;
        self.record_audit(
            &mut tx,
            &actor,
            "upload.store",
            &format!("upload:{id}"),
            Outcome::Succeeded,
            serde_json::json!({ "content_type": content_type, "size_bytes": size }),
        )
        .await?;
        commit(tx).await?;
        Ok(upload_view(&row))
    }

    /// A scan's bytes: for its uploader, or for staff when a case holds it.
    ///
    /// # Errors
    ///
    /// `NotFound UPLOAD_NOT_FOUND`.
    pub async fn upload_content(
        &self,
        caller: CaseCaller<'_>,
        upload_id: &str,
    ) -> ServiceResult<UploadContent> {
        let not_found = || ServiceError::NotFound {
            code: "UPLOAD_NOT_FOUND",
            detail: "未找到该文件，或您无权查看。".to_owned(),
        };
        if uuid::Uuid::parse_str(upload_id).is_err() {
            return Err(not_found());
        }
        let mut conn = self.connection().await?;
        let upload = rows::upload_by_id(&mut conn, upload_id)
            .await?
            .ok_or_else(not_found)?;
        let allowed = upload.owner == caller.tag()
            || match (caller, &upload.case_id) {
                (CaseCaller::Staff(_), Some(_)) => true,
                (CaseCaller::Citizen(citizen), Some(case_id)) => {
                    rows::case_person(&mut conn, case_id).await?.as_deref()
                        == Some(citizen.person_id.as_str())
                }
                _ => false,
            };
        if !allowed {
            return Err(not_found());
        }
        drop(conn);
        let sealed = self.blob_store().get(upload_id).await.map_err(|e| {
            tracing::error!(error = %e, upload = upload_id, "cannot read a blob");
            ServiceError::Unavailable(StoreError::Corrupt {
                what: "blob store".to_owned(),
                reason: e.to_string(),
            })
        })?;
        let sealed = String::from_utf8(sealed).map_err(|e| ServiceError::Internal(e.into()))?;
        let bytes = self
            .keyring()
            .decrypt(&sealed, format!("blob:{upload_id}").as_bytes())
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("blob {upload_id}: {e}")))?;
        Ok(UploadContent {
            content_type: upload.content_type,
            file_name: upload.file_name,
            bytes,
        })
    }

    // -- helpers ------------------------------------------------------------

    async fn replayed(&self, idem: &IdempotencyRef) -> ServiceResult<Option<String>> {
        let mut conn = self.connection().await?;
        match rows::idempotency_key(&mut conn, &idem.scope, &idem.key).await? {
            Some(stored) => idem.check(&stored).map(Some),
            None => Ok(None),
        }
    }

    async fn current_state(&self, application_no: &str) -> ServiceResult<CaseState> {
        let mut conn = self.connection().await?;
        let case = rows::case_by_number(&mut conn, application_no)
            .await?
            .ok_or_else(|| application_not_found(application_no))?;
        state_of(&case)
    }

    /// Audits a refused action and answers with its error.
    async fn refuse<T>(
        &self,
        tx: Tx,
        actor: &Actor,
        object: &str,
        case: &CaseRow,
        kind: CaseActionKind,
        error: ServiceError,
    ) -> ServiceResult<T> {
        let detail = serde_json::json!({
            "application_no": case.application_no,
            "state": case.state,
            "code": error.code(),
        });
        self.commit_refusal(tx, actor, audit_action(kind), object, detail, error)
            .await
    }

    /// Checks every field of a form, collecting every problem.
    async fn check_application(
        &self,
        caller: CaseCaller<'_>,
        input: &ApplicationInput,
        guide: &Guide,
    ) -> ServiceResult<(Option<CheckedApplication>, Vec<FieldError>)> {
        let mut errors = Vec::new();
        let now = Utc::now();
        let today = today_in_china();
        // The channel follows the caller.
        let requested = blank_to_none(input.channel.as_deref()).map(str::trim);
        let channel = match (caller, requested) {
            (CaseCaller::Citizen(_), None | Some("online")) => Some(Channel::Online),
            (CaseCaller::Citizen(_), Some(_)) => {
                errors.push(FieldError::new(
                    "channel",
                    "CHANNEL_NOT_ALLOWED",
                    "办事群众只能网上申请；窗口和快递申请由受理岗人员录入。",
                ));
                None
            }
            (CaseCaller::Staff(_), Some("window")) => Some(Channel::Window),
            (CaseCaller::Staff(_), Some("express")) => Some(Channel::Express),
            (CaseCaller::Staff(_) | CaseCaller::Public, _) => {
                errors.push(FieldError::new(
                    "channel",
                    "CHANNEL_INVALID",
                    "请选择办理形式：窗口办理（window）或快递申请（express）；网上申请由申请人本人登录提交。",
                ));
                None
            }
        };
        if let Some(service) = blank_to_none(input.service.as_deref())
            && service.trim() != SERVICE_ACTIVATE
        {
            errors.push(FieldError::new(
                "service",
                "SERVICE_NOT_OFFERED",
                "本事项只办理社会保障卡启用（activate）；挂失、补换卡等请选择相应事项。",
            ));
        }
        let name = field(
            &mut errors,
            "applicant.name",
            PersonName::parse(&input.applicant.name),
            |e| (e.code(), format!("申请人姓名：{e}")),
        );
        let id_number = field(
            &mut errors,
            "applicant.id_number",
            IdNumber::parse_at(&input.applicant.id_number, today),
            |e| (e.code(), format!("申请人社会保障号码：{e}")),
        );
        let mobile = if input.applicant.mobile.trim().is_empty() {
            errors.push(FieldError::new(
                "applicant.mobile",
                "MOBILE_REQUIRED",
                "请填写申请人的手机号码，用于接收办理进度短信。",
            ));
            None
        } else {
            field(
                &mut errors,
                "applicant.mobile",
                MobileNumber::parse(&input.applicant.mobile),
                |e| (e.code(), format!("申请人手机号码：{e}")),
            )
        };
        let address = field(
            &mut errors,
            "applicant.address",
            Address::parse(input.applicant.address.as_deref().unwrap_or_default()),
            |e| (e.code(), format!("申请人地址：{e}")),
        )
        .flatten();
        let card_number = if input.card_number.trim().is_empty() {
            errors.push(FieldError::new(
                "card_number",
                "CARD_NUMBER_REQUIRED",
                "请填写社会保障卡卡号（卡面上的9位卡号）。",
            ));
            None
        } else {
            field(
                &mut errors,
                "card_number",
                CardNumber::parse(&input.card_number),
                |e| (e.code(), format!("社会保障卡卡号：{e}")),
            )
        };
        if !input.declaration {
            errors.push(FieldError::new(
                "declaration",
                "DECLARATION_REQUIRED",
                "请阅读并勾选承诺：本人承诺所填信息真实、完整，如有虚假愿承担相应责任。",
            ));
        }

        // 受委托人.
        let agent = match &input.agent {
            None => None,
            Some(_) if channel == Some(Channel::Online) => {
                errors.push(FieldError::new(
                    "agent",
                    "AGENT_NOT_ONLINE",
                    "网上申请须由持卡人本人登录办理；委托他人代办的，请受委托人持本人身份证原件和承诺书到窗口办理或邮寄申请。",
                ));
                None
            }
            Some(agent) => {
                let agent_name = field(
                    &mut errors,
                    "agent.name",
                    PersonName::parse(&agent.name),
                    |e| (e.code(), format!("受委托人姓名：{e}")),
                );
                let agent_id = field(
                    &mut errors,
                    "agent.id_number",
                    IdNumber::parse_at(&agent.id_number, today),
                    |e| (e.code(), format!("受委托人身份证号码：{e}")),
                );
                if let (Some(agent_id), Some(id)) = (&agent_id, &id_number)
                    && agent_id == id
                {
                    errors.push(FieldError::new(
                        "agent.id_number",
                        "AGENT_IS_APPLICANT",
                        "受委托人不能是申请人本人；本人办理时请不要填写受委托人。",
                    ));
                }
                let agent_mobile = field(
                    &mut errors,
                    "agent.mobile",
                    MobileNumber::parse(&agent.mobile),
                    |e| (e.code(), format!("受委托人手机号码：{e}")),
                );
                let relation = agent.relation.trim();
                if relation.is_empty() || relation.chars().count() > 20 {
                    errors.push(FieldError::new(
                        "agent.relation",
                        "AGENT_RELATION_REQUIRED",
                        "请填写受委托人与申请人的关系（20字以内），例如配偶、子女、同事。",
                    ));
                }
                match (agent_name, agent_id, agent_mobile) {
                    (Some(n), Some(i), Some(m)) => Some((n, i, m, relation.to_owned())),
                    _ => None,
                }
            }
        };

        // 结果领取方式.
        let delivery = match DeliveryMethod::from_code(&input.delivery.method) {
            Some(method) => Some(method),
            None => {
                errors.push(FieldError::new(
                    "delivery.method",
                    "DELIVERY_METHOD_INVALID",
                    "请选择结果领取方式：窗口领取（window）、网上下载（online）或快递寄送（express，邮费由政府支付）。",
                ));
                None
            }
        };
        let mut delivery_recipient = None;
        let mut delivery_mobile = None;
        let mut delivery_address = None;
        if delivery == Some(DeliveryMethod::Express) {
            delivery_recipient = field(
                &mut errors,
                "delivery.recipient",
                PersonName::parse(input.delivery.recipient.as_deref().unwrap_or_default()),
                |e| (e.code(), format!("收件人：{e}")),
            );
            delivery_mobile = field(
                &mut errors,
                "delivery.mobile",
                MobileNumber::parse(input.delivery.mobile.as_deref().unwrap_or_default()),
                |e| (e.code(), format!("收件人电话：{e}")),
            );
            delivery_address =
                match Address::parse(input.delivery.address.as_deref().unwrap_or_default()) {
                    Ok(Some(address)) if address.as_str().chars().count() >= 6 => Some(address),
                    Ok(_) => {
                        errors.push(FieldError::new(
                            "delivery.address",
                            "DELIVERY_ADDRESS_REQUIRED",
                            "快递寄送须填写详细邮寄地址（省、市、区县、街道门牌）。",
                        ));
                        None
                    }
                    Err(e) => {
                        errors.push(FieldError::new(
                            "delivery.address",
                            e.code(),
                            format!("邮寄地址：{e}"),
                        ));
                        None
                    }
                };
        }

        // 快递申请.
        let mut inbound_waybill = None;
        let mut received_at = now;
        if channel == Some(Channel::Express) {
            let waybill = input.inbound_waybill.as_deref().unwrap_or_default().trim();
            if waybill.len() < 6
                || waybill.len() > 30
                || !waybill
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                errors.push(FieldError::new(
                    "inbound_waybill",
                    "WAYBILL_INVALID",
                    "请填写申请材料寄来时的快递运单号（6–30位字母或数字）。",
                ));
            } else {
                inbound_waybill = Some(waybill.to_ascii_uppercase());
            }
            if let Some(at) = input.received_at {
                if at > now + Duration::minutes(5) {
                    errors.push(FieldError::new(
                        "received_at",
                        "RECEIVED_IN_FUTURE",
                        "收件时间晚于当前时间，请核对。",
                    ));
                } else if at < now - Duration::days(MAX_ARRIVAL_AGE_DAYS) {
                    errors.push(FieldError::new(
                        "received_at",
                        "RECEIVED_TOO_LONG_AGO",
                        "收件时间早于一年前，请核对。",
                    ));
                } else {
                    received_at = at;
                }
            }
        } else if input
            .inbound_waybill
            .as_deref()
            .is_some_and(|w| !w.trim().is_empty())
            || input.received_at.is_some()
        {
            errors.push(FieldError::new(
                "inbound_waybill",
                "WAYBILL_NOT_EXPRESS",
                "只有快递申请才填写寄件运单号和收件时间。",
            ));
        }

        // The registry: who the applicant is, and the card.
        let mut person = None;
        let mut card = None;
        if let Some(id) = &id_number {
            let mut conn = self.connection().await?;
            let index = self.keyring().blind_index(ID_NUMBER_INDEX, id.as_str());
            person = registry_rows::person_by_index(&mut conn, &index).await?;
            if let Some(number) = &card_number {
                card = registry_rows::card_by_number(&mut conn, number.as_str()).await?;
            }
        }
        if let CaseCaller::Citizen(citizen) = caller
            && id_number.is_some()
            && person.as_ref().is_none_or(|p| p.id != citizen.person_id)
        {
            errors.push(FieldError::new(
                "applicant.id_number",
                "APPLICANT_NOT_SIGNED_IN_PERSON",
                "网上申请只能为本人办理：申请人须是当前登录的持卡人本人。",
            ));
        }
        if let (Some(p), Some(n)) = (&person, &name)
            && p.name != n.as_str()
        {
            errors.push(FieldError::new(
                "applicant.name",
                "NAME_MISMATCH",
                "申请人姓名与社会保障号码登记的姓名不一致，请核对（须与身份证上的姓名完全一致）。",
            ));
        }
        if card_number.is_some() && id_number.is_some() && card.is_none() {
            errors.push(FieldError::new(
                "card_number",
                "CARD_NOT_FOUND",
                "未找到该卡号的社会保障卡，请核对卡面上的卡号。",
            ));
        }

        // Materials.
        let circumstances = Circumstances {
            has_agent: input.agent.is_some(),
            is_employer_batch: false,
        };
        let required: Vec<String> = required_materials(guide, circumstances)
            .into_iter()
            .map(|m| m.code.clone())
            .collect();
        let mut materials: BTreeMap<String, (MaterialStatus, Option<String>)> = BTreeMap::new();
        for (i, m) in input.materials.iter().enumerate() {
            let at = format!("materials[{i}]");
            let code = m.code.trim();
            if !required.iter().any(|r| r == code) {
                errors.push(FieldError::new(
                    format!("{at}.code"),
                    "MATERIAL_NOT_REQUIRED",
                    format!("“{code}”不是本申请需要的材料。"),
                ));
                continue;
            }
            let status = match parse_material_status(m.status.as_deref(), m.reason.as_deref()) {
                Ok(status) => status,
                Err(error) => {
                    errors.push(FieldError::new(format!("{at}.status"), error.0, error.1));
                    continue;
                }
            };
            if matches!(caller, CaseCaller::Citizen(_))
                && !matches!(status, MaterialStatus::Submitted)
            {
                errors.push(FieldError::new(
                    format!("{at}.status"),
                    "MATERIAL_STATUS_NOT_ALLOWED",
                    "网上申请只能上传材料；材料是否符合要求由受理岗审核。",
                ));
                continue;
            }
            let upload = match blank_to_none(m.upload_id.as_deref()) {
                Some(upload_id) => match self.owned_free_upload(caller, upload_id.trim()).await? {
                    Some(id) => Some(id),
                    None => {
                        errors.push(FieldError::new(
                            format!("{at}.upload_id"),
                            "UPLOAD_NOT_FOUND",
                            "未找到该上传文件（或已用于其他申请），请重新上传。",
                        ));
                        continue;
                    }
                },
                None if matches!(caller, CaseCaller::Citizen(_)) => {
                    errors.push(FieldError::new(
                        format!("{at}.upload_id"),
                        "UPLOAD_REQUIRED",
                        "网上申请须上传材料的扫描件（PDF、JPEG或PNG）。",
                    ));
                    continue;
                }
                None => None,
            };
            materials.insert(code.to_owned(), (status, upload));
        }
        // Online: the form is the online form with its declaration; the own
        // card is verified through the e-certificate library when no scan
        // was uploaded.
        if channel == Some(Channel::Online) {
            materials
                .entry("application_form".to_owned())
                .or_insert((MaterialStatus::Submitted, None));
        }
        let wants_e_check = match materials.get("own_card") {
            None => channel == Some(Channel::Online),
            Some((MaterialStatus::VerifiedByECertificate, _)) => true,
            Some(_) => false,
        };
        if wants_e_check
            && let (Some(id), Some(n), Some(number)) = (&id_number, &name, &card_number)
        {
            let answer = self
                .e_certificates
                .verify_card(id, n.as_str(), number)
                .await
                .map_err(|reason| ServiceError::Upstream {
                    code: "E_CERTIFICATE_UNAVAILABLE",
                    detail: format!(
                        "电子证照库暂时无法核验（{reason}），请稍后再试，或上传社会保障卡扫描件。"
                    ),
                })?;
            match answer {
                ECertificateAnswer::Verified => {
                    materials.insert(
                        "own_card".to_owned(),
                        (MaterialStatus::VerifiedByECertificate, None),
                    );
                }
                ECertificateAnswer::NotVerified { reason } => {
                    if channel == Some(Channel::Online) {
                        materials.insert("own_card".to_owned(), (MaterialStatus::Missing, None));
                    } else {
                        errors.push(FieldError::new(
                            "materials.own_card",
                            "E_CERTIFICATE_NOT_VERIFIED",
                            reason,
                        ));
                    }
                }
            }
        }
        let materials: Vec<(String, MaterialStatus, Option<String>)> = required
            .iter()
            .map(|code| {
                let (status, upload) = materials
                    .remove(code)
                    .unwrap_or((MaterialStatus::Missing, None));
                (code.clone(), status, upload)
            })
            .collect();

        let checked = match (channel, name, id_number, mobile, card_number, delivery) {
            (
                Some(channel),
                Some(name),
                Some(id_number),
                Some(mobile),
                Some(card_number),
                Some(delivery),
            ) => {
                let form = SealedForm {
                    applicant_id_number: id_number.as_str().to_owned(),
                    applicant_mobile: mobile.as_str().to_owned(),
                    applicant_address: address.as_ref().map(|a| a.as_str().to_owned()),
                    agent_id_number: agent.as_ref().map(|a| a.1.as_str().to_owned()),
                    agent_mobile: agent.as_ref().map(|a| a.2.as_str().to_owned()),
                    agent_relation: agent.as_ref().map(|a| a.3.clone()),
                    delivery_recipient: delivery_recipient.as_ref().map(|r| r.as_str().to_owned()),
                    delivery_mobile: delivery_mobile.as_ref().map(|m| m.as_str().to_owned()),
                    delivery_address: delivery_address.as_ref().map(|a| a.as_str().to_owned()),
                };
                Some(CheckedApplication {
                    channel,
                    applicant_name: name.as_str().to_owned(),
                    applicant_id: id_number,
                    form,
                    applicant_address_masked: address.as_ref().map(Address::masked),
                    agent: agent
                        .as_ref()
                        .map(|a| (a.0.as_str().to_owned(), a.1.masked())),
                    card_number,
                    delivery,
                    delivery_address_masked: delivery_address.as_ref().map(Address::masked),
                    inbound_waybill,
                    received_at,
                    materials,
                    person,
                    card,
                })
            }
            _ => None,
        };
        Ok((checked, errors))
    }

    /// An upload of `caller` that no case holds yet.
    async fn owned_free_upload(
        &self,
        caller: CaseCaller<'_>,
        upload_id: &str,
    ) -> ServiceResult<Option<String>> {
        let mut conn = self.connection().await?;
        owned_free_upload_in(&mut conn, caller, upload_id).await
    }

    /// Records the acceptor's check of materials (accept, notify-missing).
    #[allow(clippy::too_many_arguments)]
    async fn apply_material_checks(
        &self,
        tx: &mut Tx,
        guide: &Guide,
        circumstances: Circumstances,
        case: &CaseRow,
        materials: &mut BTreeMap<String, MaterialRow>,
        input: &ActionInput,
        caller: CaseCaller<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let required: Vec<String> = required_materials(guide, circumstances)
            .into_iter()
            .map(|m| m.code.clone())
            .collect();
        let mut errors = Vec::new();
        let mut changes = Vec::new();
        for (i, m) in input.materials.iter().enumerate() {
            let at = format!("materials[{i}]");
            let code = m.code.trim();
            if !required.iter().any(|r| r == code) {
                errors.push(FieldError::new(
                    format!("{at}.code"),
                    "MATERIAL_NOT_REQUIRED",
                    format!("“{code}”不是本申请需要的材料。"),
                ));
                continue;
            }
            match parse_material_status(m.status.as_deref(), m.reason.as_deref()) {
                Ok(status) => changes.push((code.to_owned(), status, m.upload_id.clone())),
                Err((code, message)) => {
                    errors.push(FieldError::new(format!("{at}.status"), code, message));
                }
            }
        }
        if !errors.is_empty() {
            return Err(invalid("材料核验结果有误，请按提示修改。", errors));
        }
        for (code, status, upload_id) in changes {
            let upload_id = match blank_to_none(upload_id.as_deref()) {
                Some(id) => {
                    let id = id.trim().to_owned();
                    // On the transaction's own connection: waiting for a
                    // second one while holding the write lock (SQLite) starves
                    // the pool when many actions queue for that lock.
                    if owned_free_upload_in(tx, caller, &id).await?.is_none()
                        || !rows::attach_upload(tx, &id, &case.id).await?
                    {
                        return Err(upload_taken(&code));
                    }
                    Some(id)
                }
                None => None,
            };
            let row = MaterialRow {
                case_id: case.id.clone(),
                code: code.clone(),
                status: status.code().to_owned(),
                reason: defect_reason(&status),
                upload_id,
                updated_at: now,
            };
            rows::put_material(tx, &row).await?;
            let upload_id = row
                .upload_id
                .clone()
                .or_else(|| materials.get(&code).and_then(|m| m.upload_id.clone()));
            materials.insert(code, MaterialRow { upload_id, ..row });
        }
        Ok(())
    }

    /// Records what was supplied after a one-time notice.
    #[allow(clippy::too_many_arguments)]
    async fn apply_supplement(
        &self,
        tx: &mut Tx,
        guide: &Guide,
        circumstances: Circumstances,
        case: &CaseRow,
        materials: &mut BTreeMap<String, MaterialRow>,
        input: &ActionInput,
        caller: CaseCaller<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        if input.materials.is_empty() {
            return Err(invalid(
                "请至少补正一项材料。",
                vec![FieldError::new(
                    "materials",
                    "SUPPLEMENT_EMPTY",
                    "请按一次性告知书补正材料：网上补正须上传扫描件；窗口或邮寄补正由受理岗登记收到的材料。",
                )],
            ));
        }
        let citizen = matches!(caller, CaseCaller::Citizen(_));
        let mut errors = Vec::new();
        for (i, m) in input.materials.iter().enumerate() {
            let at = format!("materials[{i}]");
            if !required_materials(guide, circumstances)
                .iter()
                .any(|r| r.code == m.code.trim())
            {
                errors.push(FieldError::new(
                    format!("{at}.code"),
                    "MATERIAL_NOT_REQUIRED",
                    format!("“{}”不是本申请需要的材料。", m.code.trim()),
                ));
            } else if citizen && blank_to_none(m.upload_id.as_deref()).is_none() {
                errors.push(FieldError::new(
                    format!("{at}.upload_id"),
                    "UPLOAD_REQUIRED",
                    "网上补正须上传材料的扫描件（PDF、JPEG或PNG）。",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(invalid("补正材料有误，请按提示修改。", errors));
        }
        let supplied = ActionInput {
            materials: input
                .materials
                .iter()
                .map(|m| MaterialInput {
                    code: m.code.clone(),
                    status: Some("submitted".to_owned()),
                    reason: None,
                    upload_id: m.upload_id.clone(),
                })
                .collect(),
            ..ActionInput::default()
        };
        self.apply_material_checks(
            tx,
            guide,
            circumstances,
            case,
            materials,
            &supplied,
            caller,
            now,
        )
        .await
    }

    async fn enrolment_of(&self, tx: &mut Tx, case: &CaseRow) -> ServiceResult<Option<Enrolment>> {
        let Some(person_id) = &case.person_id else {
            return Ok(None);
        };
        let Some(person) = registry_rows::person_by_id(tx, person_id).await? else {
            return Ok(None);
        };
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

    /// The 经办 decision for the case's card, with the card's row lock held
    /// for the rest of the transaction (PostgreSQL), so concurrent
    /// activations of one card run one after the other.
    async fn decide(
        &self,
        tx: &mut Tx,
        case: &CaseRow,
        today: NaiveDate,
    ) -> ServiceResult<(CardRow, ProcessingDecision)> {
        let card_id = case
            .card_id
            .as_deref()
            .ok_or_else(|| ServiceError::Conflict {
                code: "CARD_NOT_FOUND",
                detail: "登记的卡号在卡片库中不存在，请作出“不予通过”决定并告知申请人核对卡号。"
                    .to_owned(),
            })?;
        sqlx::query("UPDATE cards SET updated_at = updated_at WHERE id = $1")
            .bind(card_id.to_owned())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from)?;
        let row = sqlx::query("SELECT card_number FROM cards WHERE id = $1")
            .bind(card_id.to_owned())
            .fetch_one(&mut **tx)
            .await
            .map_err(StoreError::from)?;
        let number: String = sqlx::Row::try_get(&row, "card_number").map_err(StoreError::from)?;
        let card = registry_rows::card_by_number(tx, &number)
            .await?
            .ok_or_else(|| corrupt("cases.card_id", card_id))?;
        let social = parse_social(&card.social_state)?;
        let belongs = case.person_id.as_deref() == Some(card.person_id.as_str());
        let decision = processing_decision(social, card.expiry_date, today, belongs);
        Ok((card, decision))
    }

    /// 启用: the card's social-security application 已领卡未启用 → 正常,
    /// with its card event, inside the case's transaction.
    async fn activate_card(
        &self,
        tx: &mut Tx,
        card: &CardRow,
        case: &CaseRow,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let from = SocialSecurityState::Collected.code();
        let to = SocialSecurityState::Normal.code();
        if !registry_rows::set_state(tx, &card.id, StateColumn::Social, from, to, now).await? {
            return Err(ServiceError::Conflict {
                code: "CARD_STATE_CHANGED",
                detail: "卡片状态刚被其他操作更改，请刷新后重新办理。".to_owned(),
            });
        }
        let seq = registry_rows::next_event_seq(tx, &card.id).await?;
        registry_rows::insert_card_event(
            tx,
            &CardEventRow {
                id: uuid::Uuid::new_v4().to_string(),
                card_id: card.id.clone(),
                seq,
                occurred_at: now,
                application: "social".to_owned(),
                from_state: Some(from.to_owned()),
                to_state: to.to_owned(),
                event: sscard_domain::registry::SocialSecurityEvent::Activate
                    .code()
                    .to_owned(),
                reason: Some(format!("办件 {}", case.application_no)),
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
            },
        )
        .await?;
        Ok(())
    }

    /// Checks and records how the result was delivered.
    fn delivery_record(
        case: &CaseRow,
        input: Option<&DeliveryRecordInput>,
        now: DateTime<Utc>,
    ) -> ServiceResult<serde_json::Value> {
        let method = DeliveryMethod::from_code(&case.delivery_method)
            .ok_or_else(|| corrupt("cases.delivery_method", &case.delivery_method))?;
        let empty = DeliveryRecordInput::default();
        let input = input.unwrap_or(&empty);
        let mut errors = Vec::new();
        let record = match method {
            DeliveryMethod::Online => serde_json::json!({
                "method": method.code(),
                "method_label": method.label_zh(),
                "note": "办理结果已发布到申请人的网上办事账户，可随时查看下载。",
                "delivered_at": now,
            }),
            DeliveryMethod::Window => {
                match blank_to_none(input.collected_by.as_deref()).map(str::trim) {
                    Some("holder") => serde_json::json!({
                        "method": method.code(),
                        "method_label": method.label_zh(),
                        "collected_by": "holder",
                        "collector": format!("{}（本人）", case.applicant_name),
                        "delivered_at": now,
                    }),
                    Some("agent") => {
                        let name = field(
                            &mut errors,
                            "delivery.collector_name",
                            PersonName::parse(input.collector_name.as_deref().unwrap_or_default()),
                            |e| (e.code(), format!("代领人姓名：{e}")),
                        );
                        let id = field(
                            &mut errors,
                            "delivery.collector_id_number",
                            IdNumber::parse(
                                input.collector_id_number.as_deref().unwrap_or_default(),
                            ),
                            |e| {
                                (
                                    e.code(),
                                    format!("代领人身份证号码：{e}（须查验代领人身份证原件）"),
                                )
                            },
                        );
                        match (name, id) {
                            (Some(name), Some(id)) => serde_json::json!({
                                "method": method.code(),
                                "method_label": method.label_zh(),
                                "collected_by": "agent",
                                "collector": format!("{}（代领，身份证 {}）", name.as_str(), id.masked()),
                                "delivered_at": now,
                            }),
                            _ => serde_json::Value::Null,
                        }
                    }
                    _ => {
                        errors.push(FieldError::new(
                            "delivery.collected_by",
                            "COLLECTOR_REQUIRED",
                            "请登记领取人：本人领取（holder）或代领（agent，须登记代领人姓名和身份证号码）。",
                        ));
                        serde_json::Value::Null
                    }
                }
            }
            DeliveryMethod::Express => {
                let carrier = input
                    .carrier
                    .as_deref()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                if carrier.is_empty() || carrier.chars().count() > 30 {
                    errors.push(FieldError::new(
                        "delivery.carrier",
                        "CARRIER_REQUIRED",
                        "请填写快递公司（30字以内），例如中国邮政EMS。",
                    ));
                }
                let waybill = input
                    .waybill_no
                    .as_deref()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_uppercase();
                if waybill.len() < 6
                    || waybill.len() > 30
                    || !waybill
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    errors.push(FieldError::new(
                        "delivery.waybill_no",
                        "WAYBILL_INVALID",
                        "请填写寄出的快递运单号（6–30位字母或数字）。",
                    ));
                }
                serde_json::json!({
                    "method": method.code(),
                    "method_label": method.label_zh(),
                    "carrier": carrier,
                    "waybill_no": waybill,
                    "paid_by": "government",
                    "paid_by_label": "政府支付",
                    "posted_at": now,
                    "delivery_status": "posted",
                    "delivery_status_label": "已寄出",
                })
            }
        };
        if errors.is_empty() {
            Ok(record)
        } else {
            Err(invalid("送达登记信息不完整，请按提示补充。", errors))
        }
    }

    /// The applicant's mobile number on the sealed form, if it reads as one.
    pub(crate) fn applicant_mobile(&self, case: &CaseRow) -> Option<MobileNumber> {
        let form = self
            .open_sealed(&case.form_sealed, &rows::FORM_SEALED.aad(&case.id))
            .ok()
            .and_then(|json| serde_json::from_str::<SealedForm>(&json).ok());
        let mobile = form.and_then(|f| MobileNumber::parse(&f.applicant_mobile).ok());
        if mobile.is_none() {
            tracing::warn!(application_no = %case.application_no, "no mobile number to notify");
        }
        mobile
    }

    async fn case_view(
        &self,
        case: &CaseRow,
        guide: &Guide,
        materials: &[MaterialRow],
        uploads: &BTreeMap<String, UploadRow>,
        steps: &[StepRow],
        caller: CaseCaller<'_>,
    ) -> ServiceResult<CaseView> {
        let state = state_of(case)?;
        let today = today_in_china();
        let circumstances = Circumstances {
            has_agent: case.has_agent,
            is_employer_batch: false,
        };
        let statuses = statuses_of(
            &materials
                .iter()
                .map(|m| (m.code.clone(), m.clone()))
                .collect(),
        )?;
        let channel = Channel::from_code(&case.channel)
            .ok_or_else(|| corrupt("cases.channel", &case.channel))?;
        let method = DeliveryMethod::from_code(&case.delivery_method)
            .ok_or_else(|| corrupt("cases.delivery_method", &case.delivery_method))?;
        let form: SealedForm = self
            .open_sealed(&case.form_sealed, &rows::FORM_SEALED.aad(&case.id))
            .and_then(|json| {
                serde_json::from_str(&json).map_err(|e| ServiceError::Internal(e.into()))
            })?;
        let mut timeline: Vec<StepView> = steps.iter().map(step_view).collect();
        if !matches!(caller, CaseCaller::Staff(_)) {
            // The applicant and the public see the post, not the clerk's
            // account name.
            for (step, row) in timeline.iter_mut().zip(steps) {
                if row.actor.starts_with("account:") {
                    step.actor_name = post_of(&row.action).to_owned();
                }
            }
        }
        let notice = (state == CaseState::AwaitingSupplement)
            .then(|| timeline.iter().rev().find_map(|s| s.notice.clone()))
            .flatten();
        let schedule = self
            .schedule(case, guide, channel)
            .await
            .unwrap_or_default();
        let allowed_actions = if caller.may_see(case) && !matches!(caller, CaseCaller::Public) {
            state
                .actions_for(caller.case_actor())
                .into_iter()
                .map(action_path)
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        Ok(CaseView {
            application_no: case.application_no.clone(),
            item_name: guide.item_name.clone(),
            item_code: case.item_code.clone(),
            implementation_code: case.implementation_code.clone(),
            guide_version: case.guide_version,
            channel: channel.code().to_owned(),
            channel_label: channel.label_zh().to_owned(),
            service: case.service.clone(),
            service_label: "启用".to_owned(),
            status: state.code().to_owned(),
            status_label: state.full_label_zh(),
            outcome: state.outcome().map(|o| o.code().to_owned()),
            outcome_label: state.outcome().map(|o| o.label_zh().to_owned()),
            outcome_code: case.outcome_code.clone(),
            outcome_reason: case.outcome_reason.clone(),
            applicant_name: case.applicant_name.clone(),
            applicant_id_number_masked: case.applicant_id_masked.clone(),
            applicant_mobile_masked: MobileNumber::parse(&form.applicant_mobile)
                .ok()
                .map(|m| m.masked()),
            agent_name: case.agent_name.clone(),
            agent_id_number_masked: case.agent_id_masked.clone(),
            agent_relation: form.agent_relation.clone(),
            card_number_masked: CardNumber::parse(&case.card_number)
                .map_or_else(|_| "*********".to_owned(), |c| c.masked()),
            delivery_method: method.code().to_owned(),
            delivery_method_label: method.label_zh().to_owned(),
            delivery_address_masked: case.delivery_address_masked.clone(),
            delivery: case
                .delivery_detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok()),
            inbound_waybill: case.inbound_waybill.clone(),
            received_at: case.received_at,
            current_step: state.step().map(|s| role_code(s).to_owned()),
            current_step_label: state
                .step()
                .and_then(|s| guide.step_for(s))
                .map(|s| s.step.clone()),
            step_due: case.step_due.filter(|_| state.step().is_some()),
            step_due_provisional: case.step_due_provisional,
            overdue: is_overdue(case, state, today),
            deadline: case.case_due,
            schedule,
            materials: material_views(guide, circumstances, &statuses, uploads),
            notice,
            timeline,
            allowed_actions,
            rating: None,
        })
    }

    /// Each step's due date as planned from the receipt.
    async fn schedule(
        &self,
        case: &CaseRow,
        guide: &Guide,
        channel: Channel,
    ) -> ServiceResult<Vec<PlannedStep>> {
        let received = to_china(case.received_at).naive_local();
        let calendar = self.working_calendar(received.date(), 40).await?;
        let window = guide
            .windows
            .first()
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("no window")))?;
        let mut cumulative = 0;
        let mut planned = Vec::new();
        for step in &guide.process {
            cumulative += step.time_limit_working_days;
            let due = if channel.arrives_outside_hours() {
                due_from_receipt(received, cumulative, &calendar, window).map_err(clock_error)?
            } else {
                step_due(received.date(), cumulative, &calendar).map_err(deadline_error)?
            };
            planned.push(PlannedStep {
                role: role_code(step.role_code).to_owned(),
                step_name: step.step.clone(),
                time_limit_working_days: step.time_limit_working_days,
                due: due.deadline,
            });
        }
        Ok(planned)
    }
}

// ---------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------

struct IdempotencyRef {
    scope: String,
    key: String,
    hash: String,
}

impl IdempotencyRef {
    fn new(scope: String, key: &str, input: &impl Serialize) -> ServiceResult<Self> {
        let key = key.trim();
        if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "Idempotency-Key 无效。",
                vec![FieldError::new(
                    "Idempotency-Key",
                    "IDEMPOTENCY_KEY_INVALID",
                    "Idempotency-Key 须为1–200个可见ASCII字符，建议使用UUID。",
                )],
            ));
        }
        let body = serde_json::to_vec(input).map_err(|e| ServiceError::Internal(e.into()))?;
        Ok(Self {
            scope,
            key: key.to_owned(),
            hash: sscard_crypto::sm3_hex(&body),
        })
    }

    fn check(&self, stored: &IdempotencyRow) -> ServiceResult<String> {
        if stored.request_hash == self.hash {
            Ok(stored.result_ref.clone())
        } else {
            Err(ServiceError::Conflict {
                code: "IDEMPOTENCY_KEY_REUSED",
                detail: "该 Idempotency-Key 已用于另一份不同的申请。重新提交同一申请请使用原来的内容；提交新申请请使用新的 Idempotency-Key。".to_owned(),
            })
        }
    }
}

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/// An application number as typed: trimmed, upper case, full-width folded.
#[must_use]
pub fn normalize_application_no(input: &str) -> String {
    sscard_domain::identifiers::normalize(input).to_ascii_uppercase()
}

/// The URL segment of an action (`notify-missing`).
#[must_use]
pub fn action_path(kind: CaseActionKind) -> &'static str {
    match kind {
        CaseActionKind::Accept => "accept",
        CaseActionKind::NotifyMissing => "notify-missing",
        CaseActionKind::Supplement => "supplement",
        CaseActionKind::Refuse => "refuse",
        CaseActionKind::Approve => "approve",
        CaseActionKind::Deny => "deny",
        CaseActionKind::ConfirmAlreadyActive => "confirm-already-active",
        CaseActionKind::Deliver => "deliver",
    }
}

/// The action of a URL segment.
#[must_use]
pub fn action_from_path(path: &str) -> Option<CaseActionKind> {
    CaseActionKind::ALL
        .into_iter()
        .find(|k| action_path(*k) == path)
}

fn audit_action(kind: CaseActionKind) -> &'static str {
    match kind {
        CaseActionKind::Accept => "case.accept",
        CaseActionKind::NotifyMissing => "case.notify_missing",
        CaseActionKind::Supplement => "case.supplement",
        CaseActionKind::Refuse => "case.refuse",
        CaseActionKind::Approve => "case.approve",
        CaseActionKind::Deny => "case.deny",
        CaseActionKind::ConfirmAlreadyActive => "case.confirm_already_active",
        CaseActionKind::Deliver => "case.deliver",
    }
}

/// The post (岗位) that takes an action, as the applicant sees it.
fn post_of(action: &str) -> &'static str {
    match CaseActionKind::from_code(action).map(CaseActionKind::step) {
        Some(RoleCode::Acceptor) => "受理岗",
        Some(RoleCode::Processor) => "经办岗",
        Some(RoleCode::Feedback) => "反馈岗",
        None if action == DELIVERY_STATUS_ACTION => "反馈岗",
        None => "窗口工作人员",
    }
}

fn role_code(role: RoleCode) -> &'static str {
    match role {
        RoleCode::Acceptor => "acceptor",
        RoleCode::Processor => "processor",
        RoleCode::Feedback => "feedback",
    }
}

/// An action of `kind` with valid content, to check role and state first.
fn probe_action(kind: CaseActionKind) -> CaseAction {
    match kind {
        CaseActionKind::Accept => CaseAction::Accept,
        CaseActionKind::NotifyMissing => CaseAction::NotifyMissing {
            notice: OneTimeNotice::default(),
        },
        CaseActionKind::Supplement => CaseAction::Supplement,
        CaseActionKind::Refuse => CaseAction::Refuse {
            code: String::new(),
            reason: String::new(),
        },
        CaseActionKind::Approve => CaseAction::Approve,
        CaseActionKind::Deny => CaseAction::Deny {
            code: String::new(),
            reason: String::new(),
        },
        CaseActionKind::ConfirmAlreadyActive => CaseAction::ConfirmAlreadyActive,
        CaseActionKind::Deliver => CaseAction::Deliver,
    }
}

/// An upload of `caller` that no case holds yet, read on `conn`.
async fn owned_free_upload_in(
    conn: &mut sqlx::AnyConnection,
    caller: CaseCaller<'_>,
    upload_id: &str,
) -> ServiceResult<Option<String>> {
    if uuid::Uuid::parse_str(upload_id).is_err() {
        return Ok(None);
    }
    Ok(rows::upload_by_id(conn, upload_id)
        .await?
        .filter(|u| u.owner == caller.tag() && u.case_id.is_none())
        .map(|u| u.id))
}

fn case_error(error: &CaseError) -> ServiceError {
    let detail = error.to_string();
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
            errors: vec![FieldError::new(
                if error.reason == CaseRefusal::NoticeEmpty {
                    "materials"
                } else {
                    "reason"
                },
                error.code(),
                detail,
            )],
        },
    }
}

fn materials_incomplete(notice: &OneTimeNotice) -> ServiceError {
    ServiceError::Invalid {
        code: OneTimeNotice::CODE,
        detail: format!(
            "材料不齐全，不能受理（本事项不实行容缺受理）。请出具一次性告知书，一次列明全部缺少或不符合要求的材料。{notice}"
        ),
        errors: notice
            .items
            .iter()
            .map(|item| {
                FieldError::new(
                    format!("materials.{}", item.code),
                    item.problem.code(),
                    item.message_zh.clone(),
                )
            })
            .collect(),
    }
}

fn denial_message(code: &str) -> Option<String> {
    sscard_domain::case::DenialReason::ALL
        .into_iter()
        .find(|r| r.code() == code)
        .map(|r| r.message_zh().to_owned())
}

fn clock_error(error: sscard_domain::case::ClockError) -> ServiceError {
    ServiceError::Conflict {
        code: error.code(),
        detail: format!("无法计算办理时限：{error}"),
    }
}

fn deadline_error(error: sscard_domain::calendar::DeadlineError) -> ServiceError {
    ServiceError::Conflict {
        code: error.code(),
        detail: format!("无法计算办理时限：{error}"),
    }
}

fn application_not_found(application_no: &str) -> ServiceError {
    let shown: String = application_no.chars().take(40).collect();
    ServiceError::NotFound {
        code: "APPLICATION_NOT_FOUND",
        detail: format!(
            "未找到申请编号为 {shown} 的办件，请核对申请编号（例如 SQ-20261127-000001）。"
        ),
    }
}

fn upload_taken(code: &str) -> ServiceError {
    invalid(
        "上传文件无效。",
        vec![FieldError::new(
            format!("materials.{code}.upload_id"),
            "UPLOAD_NOT_FOUND",
            "未找到该上传文件（或已用于其他申请），请重新上传。",
        )],
    )
}

fn upload_invalid(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Invalid {
        code,
        detail: message.to_owned(),
        errors: vec![FieldError::new("file", code, message)],
    }
}

fn checked_text(text: Option<&str>, name: &str, label: &str) -> ServiceResult<Option<String>> {
    let Some(text) = blank_to_none(text).map(str::trim) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_TEXT_CHARS || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            &format!("{label}过长或含有不可见字符。"),
            vec![FieldError::new(
                name,
                "TEXT_INVALID",
                format!("{label}请控制在 {MAX_TEXT_CHARS} 字以内，且不含控制字符。"),
            )],
        ));
    }
    Ok(Some(text.to_owned()))
}

fn parse_material_status(
    status: Option<&str>,
    reason: Option<&str>,
) -> Result<MaterialStatus, (&'static str, String)> {
    let reason = blank_to_none(reason).map(str::trim);
    match blank_to_none(status).map(str::trim).unwrap_or("submitted") {
        "submitted" => Ok(MaterialStatus::Submitted),
        "verified_by_e_certificate" => Ok(MaterialStatus::VerifiedByECertificate),
        "waived" => Ok(MaterialStatus::Waived),
        "missing" => Ok(MaterialStatus::Missing),
        "defective" => match reason {
            Some(reason) if reason.chars().count() <= 200 => Ok(MaterialStatus::Defective {
                reason: reason.to_owned(),
            }),
            _ => Err((
                "DEFECT_REASON_REQUIRED",
                "材料不符合要求的，请写明原因（200字以内），例如“签名不清晰”。".to_owned(),
            )),
        },
        _ => Err((
            "MATERIAL_STATUS_INVALID",
            "材料状态须为 submitted（已提交）、verified_by_e_certificate（电子证照核验）、waived（减免）、missing（缺少）或 defective（不符合要求）。".to_owned(),
        )),
    }
}

fn defect_reason(status: &MaterialStatus) -> Option<String> {
    match status {
        MaterialStatus::Defective { reason } => Some(reason.clone()),
        _ => None,
    }
}

fn statuses_of(
    materials: &BTreeMap<String, MaterialRow>,
) -> ServiceResult<BTreeMap<String, MaterialStatus>> {
    materials
        .values()
        .map(|m| {
            let status = match m.status.as_str() {
                "submitted" => MaterialStatus::Submitted,
                "verified_by_e_certificate" => MaterialStatus::VerifiedByECertificate,
                "waived" => MaterialStatus::Waived,
                "missing" => MaterialStatus::Missing,
                "defective" => MaterialStatus::Defective {
                    reason: m.reason.clone().unwrap_or_default(),
                },
                other => return Err(corrupt("case_materials.status", other)),
            };
            Ok((m.code.clone(), status))
        })
        .collect()
}

fn material_views(
    guide: &Guide,
    circumstances: Circumstances,
    statuses: &BTreeMap<String, MaterialStatus>,
    uploads: &BTreeMap<String, UploadRow>,
) -> Vec<MaterialView> {
    required_materials(guide, circumstances)
        .into_iter()
        .map(|material| {
            let status = statuses
                .get(&material.code)
                .cloned()
                .unwrap_or(MaterialStatus::Missing);
            MaterialView {
                code: material.code.clone(),
                name: material.name.clone(),
                status: status.code().to_owned(),
                status_label: status.label_zh().to_owned(),
                reason: defect_reason(&status),
                waivable: material.waivable,
                upload: uploads.get(&material.code).map(upload_view),
            }
        })
        .collect()
}

fn upload_view(row: &UploadRow) -> UploadView {
    UploadView {
        upload_id: row.id.clone(),
        content_type: row.content_type.clone(),
        size_bytes: row.size_bytes,
        file_name: row.file_name.clone(),
        digest_sm3: row.digest_sm3.clone(),
        uploaded_at: row.created_at,
    }
}

fn step_view(step: &StepRow) -> StepView {
    let detail: Option<serde_json::Value> = step
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    let notice = detail
        .as_ref()
        .and_then(|d| d.get("notice"))
        .and_then(|n| serde_json::from_value(n.clone()).ok());
    let delivery = (step.action == "deliver" || step.action == DELIVERY_STATUS_ACTION)
        .then(|| detail.clone())
        .flatten();
    let action_label = if step.action == "submit" {
        "提交申请".to_owned()
    } else if step.action == DELIVERY_STATUS_ACTION {
        let change = detail
            .as_ref()
            .and_then(|d| d.get("change_label"))
            .and_then(|l| l.as_str())
            .unwrap_or("更新");
        format!("寄送状态：{change}")
    } else {
        CaseActionKind::from_code(&step.action)
            .map_or_else(|| step.action.clone(), |k| k.label_zh().to_owned())
    };
    let to_state_label = CaseState::from_codes(&step.to_state, step.outcome.as_deref())
        .map_or_else(|| step.to_state.clone(), CaseState::full_label_zh);
    StepView {
        seq: step.seq,
        action: step.action.clone(),
        action_label,
        from_state: step.from_state.clone(),
        to_state: step.to_state.clone(),
        to_state_label,
        actor_name: step.actor_name.clone(),
        actor_role: step.actor_role.clone(),
        occurred_at: step.occurred_at,
        opinion: step.opinion.clone(),
        code: step.code.clone(),
        notice,
        delivery,
        next_due: step.next_due,
        notifications: Vec::new(),
    }
}

/// The timeline action of a change of the express delivery status, recorded
/// by the 反馈岗 after 送达 (see [`Services::record_delivery_status`]).
pub const DELIVERY_STATUS_ACTION: &str = "delivery_status";

pub(crate) fn state_of(case: &CaseRow) -> ServiceResult<CaseState> {
    CaseState::from_codes(&case.state, case.outcome.as_deref())
        .ok_or_else(|| corrupt("cases.state", &case.state))
}

fn guide_version_of(case: &CaseRow) -> ServiceResult<u32> {
    u32::try_from(case.guide_version)
        .map_err(|_| corrupt("cases.guide_version", &case.guide_version.to_string()))
}

fn is_overdue(case: &CaseRow, state: CaseState, today: NaiveDate) -> bool {
    state.step().is_some() && case.step_due.is_some_and(|due| due < today)
}

pub(crate) fn summary_of(case: &CaseRow, today: NaiveDate) -> ServiceResult<CaseSummary> {
    let state = state_of(case)?;
    let channel =
        Channel::from_code(&case.channel).ok_or_else(|| corrupt("cases.channel", &case.channel))?;
    Ok(CaseSummary {
        application_no: case.application_no.clone(),
        applicant_name: case.applicant_name.clone(),
        applicant_id_number_masked: case.applicant_id_masked.clone(),
        card_number_masked: CardNumber::parse(&case.card_number)
            .map_or_else(|_| "*********".to_owned(), |c| c.masked()),
        channel_label: channel.label_zh().to_owned(),
        has_agent: case.has_agent,
        status: state.code().to_owned(),
        status_label: state.full_label_zh(),
        received_at: case.received_at,
        step_due: case.step_due.filter(|_| state.step().is_some()),
        overdue: is_overdue(case, state, today),
    })
}

/// PDF, JPEG or PNG by the file's first bytes.
#[must_use]
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// A file name safe to show and to send back: no path, no control
/// characters, at most 100 characters, with the extension of its content.
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
            _ => "png",
        };
        format!("扫描件.{extension}")
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_recognised_by_its_bytes_not_its_name() {
        assert_eq!(
            sniff_content_type(b"%PDF-1.7\n..."),
            Some("application/pdf")
        );
        assert_eq!(
            sniff_content_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_content_type(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some("image/png")
        );
        assert_eq!(
            sniff_content_type(b"MZ\x90\x00 an exe named scan.pdf"),
            None
        );
        assert_eq!(sniff_content_type(b"<html>"), None);
    }

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(
            clean_file_name("C:\\Users\\x\\身份证.jpg", "image/jpeg"),
            "身份证.jpg"
        );
        assert_eq!(
            clean_file_name("../../etc/passwd", "application/pdf"),
            "passwd"
        );
        assert_eq!(clean_file_name("\u{0}\u{7}", "image/png"), "扫描件.png");
    }

    #[test]
    fn every_action_has_a_distinct_path_that_reads_back() {
        for kind in CaseActionKind::ALL {
            assert_eq!(action_from_path(action_path(kind)), Some(kind));
        }
        assert_eq!(action_from_path("rating"), None);
    }

    #[test]
    fn application_numbers_are_read_as_typed() {
        assert_eq!(
            normalize_application_no(" sq-20261127-000001 "),
            "SQ-20261127-000001"
        );
        assert_eq!(normalize_application_no("ＳＱ－２０２６"), "SQ-2026");
    }
}
