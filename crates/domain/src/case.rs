//! The activation case (办件): the pure rules of the guide's three steps
//! 受理 → 经办 → 反馈, its materials, the processing decision and the
//! working-day clock. No IO, no clock: times are passed in.
//!
//! # State machine
//!
//! ```text
//! 待受理 ──Accept──────────────▶ 待经办 ──Approve──────────────▶ 待反馈(准予启用) ──Deliver──▶ 已办结(准予启用)
//!   │  ▲                            ├──Deny───────────────────▶ 待反馈(不予通过) ──Deliver──▶ 已办结(不予通过)
//!   │  └──Supplement── 补正中        └──ConfirmAlreadyActive──▶ 待反馈(此前已启用) ─Deliver─▶ 已办结(此前已启用)
//!   ├──NotifyMissing──▶ 补正中
//!   └──Refuse─────────▶ 不予受理 (terminal)
//! ```
//!
//! A 不予通过 (denial) also goes through 反馈: the applicant must receive the
//! result, so the feedback clerk delivers it like an approval. A card that is
//! already 正常 ends the case with the outcome 此前已启用 — nothing is
//! activated twice — and that outcome is delivered too.
//!
//! Every action checks, in this order: the actor's role for the step
//! (`ROLE_NOT_PERMITTED_FOR_STEP`), the case's current state
//! (`CASE_STATE_CONFLICT`; two clerks racing on one case — the loser gets this
//! one), then the action's own content (`NOTICE_EMPTY`, `REASON_REQUIRED`).
//!
//! # The clock and 补正
//!
//! A step's due date is stored when the step starts: [`due_from_receipt`]
//! for the acceptance step of an online or posted application (it counts from
//! the window's next opening, [`effective_start`]), [`step_due`] for a step
//! that starts on a known working day (processing counts from the day of
//! acceptance). While a case waits in 补正 ([`CaseState::AwaitingSupplement`],
//! [`CaseState::step`] is `None`) no clock runs against the bureau: when the
//! supplement arrives the case returns to 待受理 and the service computes the
//! acceptance step's due date afresh with
//! `due_from_receipt(supplemented_at, acceptance_limit, calendar, window)`;
//! the days spent in 补正 are never counted.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::access::{Role, RoleSet};
use crate::calendar::{Answer, Deadline, DeadlineError, WorkingCalendar};
use crate::guide::{Guide, Material, MaterialCondition, RoleCode, Window};
use crate::registry::{Enrolment, SocialSecurityState, is_enrolled_in_liuzhou, is_expired};

// ---------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------

/// 办理形式: how the application reached the bureau.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 窗口办理 — at the window, in person.
    Window,
    /// 网上办理 — online.
    Online,
    /// 快递申请 — posted by express.
    Express,
}

impl Channel {
    pub const ALL: [Self; 3] = [Self::Window, Self::Online, Self::Express];

    /// `window`, `online`, `express`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Window => "window",
            Self::Online => "online",
            Self::Express => "express",
        }
    }

    /// 窗口办理, 网上办理, 快递申请 (the guide's wording).
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Window => "窗口办理",
            Self::Online => "网上办理",
            Self::Express => "快递申请",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Whether an application on this channel can arrive outside the
    /// window's hours and so needs [`effective_start`] (online, express).
    #[must_use]
    pub fn arrives_outside_hours(self) -> bool {
        !matches!(self, Self::Window)
    }
}

// ---------------------------------------------------------------------------
// States and actions
// ---------------------------------------------------------------------------

/// The result decided at 经办 and delivered at 反馈.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 准予启用 — the social-security function was activated.
    Approved,
    /// 不予通过 — denied with a reason (card lost, cancelled, expired …).
    Denied,
    /// 此前已启用 — the card was already 正常; nothing was activated.
    AlreadyActive,
}

impl Outcome {
    pub const ALL: [Self; 3] = [Self::Approved, Self::Denied, Self::AlreadyActive];

    /// `approved`, `denied`, `already_active`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::AlreadyActive => "already_active",
        }
    }

    /// 准予启用, 不予通过, 此前已启用.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Approved => "准予启用",
            Self::Denied => "不予通过",
            Self::AlreadyActive => "此前已启用",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.code() == code)
    }
}

/// Where a case stands.
///
/// Stored as [`CaseState::code`] plus, for the two states that carry one,
/// [`CaseState::outcome`]'s code; read back with [`CaseState::from_codes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", content = "outcome", rename_all = "snake_case")]
pub enum CaseState {
    /// 待受理 — submitted (or supplemented), waiting for the 受理岗.
    Submitted,
    /// 补正中 — a one-time notice was issued; waiting for the applicant.
    AwaitingSupplement,
    /// 待经办 — accepted, waiting for the 经办岗.
    AwaitingProcessing,
    /// 待反馈 — decided, waiting for the 反馈岗 to deliver the result.
    AwaitingFeedback(Outcome),
    /// 已办结 — the result was delivered; terminal.
    Completed(Outcome),
    /// 不予受理 — refused at acceptance; terminal.
    Refused,
}

impl CaseState {
    /// Every state, in process order.
    pub const ALL: [Self; 10] = [
        Self::Submitted,
        Self::AwaitingSupplement,
        Self::AwaitingProcessing,
        Self::AwaitingFeedback(Outcome::Approved),
        Self::AwaitingFeedback(Outcome::Denied),
        Self::AwaitingFeedback(Outcome::AlreadyActive),
        Self::Completed(Outcome::Approved),
        Self::Completed(Outcome::Denied),
        Self::Completed(Outcome::AlreadyActive),
        Self::Refused,
    ];

    /// The stable state code: `submitted`, `awaiting_supplement`,
    /// `awaiting_processing`, `awaiting_feedback`, `completed`, `refused`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::AwaitingSupplement => "awaiting_supplement",
            Self::AwaitingProcessing => "awaiting_processing",
            Self::AwaitingFeedback(_) => "awaiting_feedback",
            Self::Completed(_) => "completed",
            Self::Refused => "refused",
        }
    }

    /// The queue label: 待受理, 补正中, 待经办, 待反馈, 已办结, 不予受理.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Submitted => "待受理",
            Self::AwaitingSupplement => "补正中",
            Self::AwaitingProcessing => "待经办",
            Self::AwaitingFeedback(_) => "待反馈",
            Self::Completed(_) => "已办结",
            Self::Refused => "不予受理",
        }
    }

    /// The label with the outcome, e.g. `已办结（准予启用）`.
    #[must_use]
    pub fn full_label_zh(self) -> String {
        match self.outcome() {
            Some(outcome) => format!("{}（{}）", self.label_zh(), outcome.label_zh()),
            None => self.label_zh().to_owned(),
        }
    }

    /// The decided outcome, for 待反馈 and 已办结.
    #[must_use]
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            Self::AwaitingFeedback(o) | Self::Completed(o) => Some(o),
            _ => None,
        }
    }

    /// Reads a state back from its stored codes.
    #[must_use]
    pub fn from_codes(state: &str, outcome: Option<&str>) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == state && s.outcome().map(Outcome::code) == outcome)
    }

    /// Terminal: no action applies any more (已办结, 不予受理).
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed(_) | Self::Refused)
    }

    /// The step whose clock runs against the bureau now, or `None` while the
    /// case waits for the applicant (补正中) or is closed.
    #[must_use]
    pub fn step(self) -> Option<RoleCode> {
        match self {
            Self::Submitted => Some(RoleCode::Acceptor),
            Self::AwaitingProcessing => Some(RoleCode::Processor),
            Self::AwaitingFeedback(_) => Some(RoleCode::Feedback),
            Self::AwaitingSupplement | Self::Completed(_) | Self::Refused => None,
        }
    }

    /// The state after `kind`, or `None` when `kind` does not apply now.
    /// Roles and the action's content are not checked here; see
    /// [`CaseState::apply`].
    #[must_use]
    pub fn next(self, kind: CaseActionKind) -> Option<Self> {
        use CaseActionKind as A;
        match (self, kind) {
            (Self::Submitted, A::Accept) => Some(Self::AwaitingProcessing),
            (Self::Submitted, A::NotifyMissing) => Some(Self::AwaitingSupplement),
            (Self::Submitted, A::Refuse) => Some(Self::Refused),
            (Self::AwaitingSupplement, A::Supplement) => Some(Self::Submitted),
            (Self::AwaitingProcessing, A::Approve) => {
                Some(Self::AwaitingFeedback(Outcome::Approved))
            }
            (Self::AwaitingProcessing, A::Deny) => Some(Self::AwaitingFeedback(Outcome::Denied)),
            (Self::AwaitingProcessing, A::ConfirmAlreadyActive) => {
                Some(Self::AwaitingFeedback(Outcome::AlreadyActive))
            }
            (Self::AwaitingFeedback(o), A::Deliver) => Some(Self::Completed(o)),
            _ => None,
        }
    }

    /// The actions that apply in this state (for any actor).
    #[must_use]
    pub fn available_actions(self) -> Vec<CaseActionKind> {
        CaseActionKind::ALL
            .into_iter()
            .filter(|k| self.next(*k).is_some())
            .collect()
    }

    /// The actions `actor` may take now (the buttons on the case page).
    #[must_use]
    pub fn actions_for(self, actor: CaseActor<'_>) -> Vec<CaseActionKind> {
        self.available_actions()
            .into_iter()
            .filter(|k| k.permits(actor))
            .collect()
    }

    /// Applies a staff member's action: checks the role for the step, the
    /// current state and the action's content.
    ///
    /// # Errors
    ///
    /// A [`CaseError`] with `ROLE_NOT_PERMITTED_FOR_STEP`,
    /// `CASE_STATE_CONFLICT`, `NOTICE_EMPTY` or `REASON_REQUIRED`.
    pub fn apply(self, action: &CaseAction, actor_roles: &RoleSet) -> Result<Self, CaseError> {
        self.apply_as(action, CaseActor::Staff(actor_roles))
    }

    /// Applies an action by any actor — the applicant (only to supplement)
    /// or staff.
    ///
    /// # Errors
    ///
    /// As [`CaseState::apply`].
    pub fn apply_as(self, action: &CaseAction, actor: CaseActor<'_>) -> Result<Self, CaseError> {
        let kind = action.kind();
        let refuse = |reason| {
            Err(CaseError {
                current: self,
                attempted: kind,
                reason,
            })
        };
        if !kind.permits(actor) {
            return refuse(CaseRefusal::RoleNotPermitted);
        }
        let Some(next) = self.next(kind) else {
            return refuse(CaseRefusal::StateConflict);
        };
        if let Some(reason) = action.content_problem() {
            return refuse(reason);
        }
        Ok(next)
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_label_zh())
    }
}

/// Who acts on a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseActor<'a> {
    /// The applicant (or their agent), signed in as a cardholder: citizens are
    /// not staff accounts and hold no roles.
    Applicant,
    /// A staff account with its roles.
    Staff(&'a RoleSet),
}

/// The kind of a [`CaseAction`], without its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseActionKind {
    /// 受理 — accept (acceptor).
    Accept,
    /// 一次性告知 — issue the one-time notice (acceptor).
    NotifyMissing,
    /// 补正 — supplement the missing materials (the applicant, or the
    /// acceptor registering what was brought to the window or posted).
    Supplement,
    /// 不予受理 — refuse at acceptance (acceptor).
    Refuse,
    /// 准予启用 — approve and activate (processor).
    Approve,
    /// 不予通过 — deny (processor).
    Deny,
    /// 确认此前已启用 — the card is already 正常; end without activating (processor).
    ConfirmAlreadyActive,
    /// 送达 — deliver the result (feedback).
    Deliver,
}

impl CaseActionKind {
    pub const ALL: [Self; 8] = [
        Self::Accept,
        Self::NotifyMissing,
        Self::Supplement,
        Self::Refuse,
        Self::Approve,
        Self::Deny,
        Self::ConfirmAlreadyActive,
        Self::Deliver,
    ];

    /// The stable code, e.g. `notify_missing`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::NotifyMissing => "notify_missing",
            Self::Supplement => "supplement",
            Self::Refuse => "refuse",
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::ConfirmAlreadyActive => "confirm_already_active",
            Self::Deliver => "deliver",
        }
    }

    /// The Chinese label, e.g. `一次性告知`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Accept => "受理",
            Self::NotifyMissing => "一次性告知",
            Self::Supplement => "补正材料",
            Self::Refuse => "不予受理",
            Self::Approve => "准予启用",
            Self::Deny => "不予通过",
            Self::ConfirmAlreadyActive => "确认此前已启用",
            Self::Deliver => "送达结果",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The step the action belongs to.
    #[must_use]
    pub fn step(self) -> RoleCode {
        match self {
            Self::Accept | Self::NotifyMissing | Self::Supplement | Self::Refuse => {
                RoleCode::Acceptor
            }
            Self::Approve | Self::Deny | Self::ConfirmAlreadyActive => RoleCode::Processor,
            Self::Deliver => RoleCode::Feedback,
        }
    }

    /// The staff role that may take the action.
    #[must_use]
    pub fn required_role(self) -> Role {
        match self.step() {
            RoleCode::Acceptor => Role::Acceptor,
            RoleCode::Processor => Role::Processor,
            RoleCode::Feedback => Role::Feedback,
        }
    }

    /// Whether `actor` may take the action: staff with the step's role; the
    /// applicant only to supplement.
    #[must_use]
    pub fn permits(self, actor: CaseActor<'_>) -> bool {
        match actor {
            CaseActor::Applicant => self == Self::Supplement,
            CaseActor::Staff(roles) => roles.contains(self.required_role()),
        }
    }

    /// Who may take it, in Chinese, for messages.
    fn who_zh(self) -> &'static str {
        match self {
            Self::Supplement => "申请人本人（网上）或受理岗人员（窗口、快递）",
            Self::Accept | Self::NotifyMissing | Self::Refuse => "受理岗人员",
            Self::Approve | Self::Deny | Self::ConfirmAlreadyActive => "经办岗人员",
            Self::Deliver => "反馈岗人员",
        }
    }
}

impl fmt::Display for CaseActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// An action on a case, with its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseAction {
    Accept,
    /// Issue the one-time notice; it must list at least one material.
    NotifyMissing {
        notice: OneTimeNotice,
    },
    Supplement,
    /// `code` is a stable UPPER_SNAKE reason code (e.g.
    /// `NOT_INSURED_IN_LIUZHOU`), `reason` the Chinese text for the applicant.
    Refuse {
        code: String,
        reason: String,
    },
    Approve,
    /// As for `Refuse`; see [`CaseAction::from_decision`].
    Deny {
        code: String,
        reason: String,
    },
    ConfirmAlreadyActive,
    Deliver,
}

impl CaseAction {
    #[must_use]
    pub fn kind(&self) -> CaseActionKind {
        match self {
            Self::Accept => CaseActionKind::Accept,
            Self::NotifyMissing { .. } => CaseActionKind::NotifyMissing,
            Self::Supplement => CaseActionKind::Supplement,
            Self::Refuse { .. } => CaseActionKind::Refuse,
            Self::Approve => CaseActionKind::Approve,
            Self::Deny { .. } => CaseActionKind::Deny,
            Self::ConfirmAlreadyActive => CaseActionKind::ConfirmAlreadyActive,
            Self::Deliver => CaseActionKind::Deliver,
        }
    }

    /// The processor's action for a [`ProcessingDecision`].
    #[must_use]
    pub fn from_decision(decision: ProcessingDecision) -> Self {
        match decision {
            ProcessingDecision::Activate => Self::Approve,
            ProcessingDecision::AlreadyActive => Self::ConfirmAlreadyActive,
            ProcessingDecision::Deny(reason) => Self::Deny {
                code: reason.code().to_owned(),
                reason: reason.message_zh().to_owned(),
            },
        }
    }

    /// The refusal for an unmet acceptance condition.
    #[must_use]
    pub fn refuse_not_insured() -> Self {
        Self::Refuse {
            code: NOT_INSURED_IN_LIUZHOU.to_owned(),
            reason: NOT_INSURED_MESSAGE.to_owned(),
        }
    }

    fn content_problem(&self) -> Option<CaseRefusal> {
        match self {
            Self::NotifyMissing { notice } if notice.items.is_empty() => {
                Some(CaseRefusal::NoticeEmpty)
            }
            Self::Refuse { code, reason } | Self::Deny { code, reason }
                if reason.trim().is_empty() || !is_upper_snake(code) =>
            {
                Some(CaseRefusal::ReasonRequired)
            }
            _ => None,
        }
    }
}

fn is_upper_snake(code: &str) -> bool {
    let bytes = code.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_uppercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The code of an unmet acceptance condition.
pub const NOT_INSURED_IN_LIUZHOU: &str = "NOT_INSURED_IN_LIUZHOU";

/// 不予受理: the usual reason codes with their Chinese labels, offered to
/// the 受理岗 as suggestions (any UPPER_SNAKE code with a reason is
/// accepted). Missing materials are not among them: they get a one-time
/// notice (一次性告知), not a refusal.
pub const REFUSAL_SUGGESTIONS: [(&str, &str); 5] = [
    (NOT_INSURED_IN_LIUZHOU, "未参加柳州市社会保险"),
    ("SUPPLEMENT_OVERDUE", "一次性告知后逾期未补正"),
    ("NOT_IN_SCOPE", "不属于本事项办理范围"),
    ("IDENTITY_NOT_VERIFIED", "申请人或受委托人身份无法核实"),
    ("APPLICATION_WITHDRAWN", "申请人撤回申请"),
];

const NOT_INSURED_MESSAGE: &str = "申请人未参加柳州市社会保险，不符合受理条件（申请人已参加柳州市社会保险）。请先在柳州市参保后再申请。";

/// Why a case action was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseRefusal {
    /// `ROLE_NOT_PERMITTED_FOR_STEP` (403).
    RoleNotPermitted,
    /// `CASE_STATE_CONFLICT` (409): the case is not in a state the action
    /// applies to (e.g. another clerk acted first).
    StateConflict,
    /// `NOTICE_EMPTY`: a one-time notice must list at least one material.
    NoticeEmpty,
    /// `REASON_REQUIRED`: a refusal or denial needs an UPPER_SNAKE code and a
    /// reason.
    ReasonRequired,
    /// `NOT_INSURED_IN_LIUZHOU`: the acceptance condition is not met.
    NotInsuredInLiuzhou,
}

impl CaseRefusal {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::RoleNotPermitted => "ROLE_NOT_PERMITTED_FOR_STEP",
            Self::StateConflict => "CASE_STATE_CONFLICT",
            Self::NoticeEmpty => "NOTICE_EMPTY",
            Self::ReasonRequired => "REASON_REQUIRED",
            Self::NotInsuredInLiuzhou => NOT_INSURED_IN_LIUZHOU,
        }
    }
}

/// A refused case action: the current state, the attempted action, the
/// reason with its stable code, and a Chinese message telling what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CaseError {
    pub current: CaseState,
    pub attempted: CaseActionKind,
    pub reason: CaseRefusal,
}

impl CaseError {
    /// The stable code, e.g. `CASE_STATE_CONFLICT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = self.attempted.label_zh();
        let state = self.current.full_label_zh();
        match self.reason {
            CaseRefusal::RoleNotPermitted => write!(
                f,
                "“{action}”只能由{}办理，您没有该岗位的权限。请交由相应岗位人员办理。",
                self.attempted.who_zh()
            ),
            CaseRefusal::StateConflict if self.current.is_terminal() => write!(
                f,
                "该办件已“{state}”，不能再办理“{action}”。请刷新页面查看办件的最新情况。"
            ),
            CaseRefusal::StateConflict => {
                let allowed: Vec<&str> = self
                    .current
                    .available_actions()
                    .into_iter()
                    .map(CaseActionKind::label_zh)
                    .collect();
                write!(
                    f,
                    "该办件当前为“{state}”，不能办理“{action}”（可能已由其他人员处理）。请刷新页面后重试；当前可办理：{}。",
                    allowed.join("、")
                )
            }
            CaseRefusal::NoticeEmpty => f.write_str(
                "一次性告知须列明至少一项缺少或不符合要求的材料。材料齐全时请直接受理。",
            ),
            CaseRefusal::ReasonRequired => write!(
                f,
                "“{action}”须填写原因（原因代码为大写字母、数字和下划线，原因说明不能为空），以便告知申请人。"
            ),
            CaseRefusal::NotInsuredInLiuzhou => {
                write!(f, "{NOT_INSURED_MESSAGE}请作出“不予受理”决定并告知申请人。")
            }
        }
    }
}

impl std::error::Error for CaseError {}

/// The acceptance condition (受理条件): the applicant is enrolled in Liuzhou
/// social insurance ([`is_enrolled_in_liuzhou`]). `None` — no enrolment on
/// record — does not meet it.
///
/// # Errors
///
/// `NOT_INSURED_IN_LIUZHOU` (attempted action: 受理); the acceptor then
/// refuses with [`CaseAction::refuse_not_insured`].
pub fn acceptance_condition(enrolment: Option<&Enrolment>) -> Result<(), CaseError> {
    if enrolment.is_some_and(is_enrolled_in_liuzhou) {
        Ok(())
    } else {
        Err(CaseError {
            current: CaseState::Submitted,
            attempted: CaseActionKind::Accept,
            reason: CaseRefusal::NotInsuredInLiuzhou,
        })
    }
}

// ---------------------------------------------------------------------------
// Materials
// ---------------------------------------------------------------------------

/// The state of one material of a case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MaterialStatus {
    /// 已提交 — handed in (or uploaded) and checked.
    Submitted,
    /// 电子证照核验 — verified through the basic e-certificate library.
    VerifiedByECertificate,
    /// 已减免 — waived as the guide allows.
    Waived,
    /// 缺少.
    Missing,
    /// 不符合要求 — present but not acceptable.
    Defective { reason: String },
}

impl MaterialStatus {
    /// `submitted`, `verified_by_e_certificate`, `waived`, `missing`, `defective`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::VerifiedByECertificate => "verified_by_e_certificate",
            Self::Waived => "waived",
            Self::Missing => "missing",
            Self::Defective { .. } => "defective",
        }
    }

    #[must_use]
    pub fn label_zh(&self) -> &'static str {
        match self {
            Self::Submitted => "已提交",
            Self::VerifiedByECertificate => "已通过电子证照核验",
            Self::Waived => "已减免",
            Self::Missing => "缺少",
            Self::Defective { .. } => "不符合要求",
        }
    }
}

/// Which of the guide's conditional materials apply to an application.
///
/// The channel does not change which materials are required (the guide's
/// conditions are 委托代办 and 单位批量激活 only); it changes how the own card
/// is satisfied (online: through the e-certificate), which
/// [`MaterialStatus`] records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Circumstances {
    /// 委托代办: an agent applies for the cardholder.
    pub has_agent: bool,
    /// 单位批量激活: an employer batch-activates.
    pub is_employer_batch: bool,
}

impl Circumstances {
    fn conditions(self) -> Vec<MaterialCondition> {
        let mut conditions = Vec::new();
        if self.has_agent {
            conditions.push(MaterialCondition::Entrusted);
        }
        if self.is_employer_batch {
            conditions.push(MaterialCondition::EmployerBatch);
        }
        conditions
    }
}

/// The required materials of an application under `guide`, in the guide's
/// order: those needed always plus those of the applying circumstances.
#[must_use]
pub fn required_materials(guide: &Guide, circumstances: Circumstances) -> Vec<&Material> {
    let conditions = circumstances.conditions();
    // The same rule as `Guide::materials_for`, whose result borrows the
    // conditions and so cannot outlive this function.
    guide
        .materials
        .iter()
        .filter(|m| {
            m.required
                && (m.condition == MaterialCondition::Always || conditions.contains(&m.condition))
        })
        .collect()
}

/// Whether a waivable material's waiver method is the e-certificate check.
fn waived_by_e_certificate(material: &Material) -> bool {
    material.waivable
        && material
            .waiver_method
            .as_deref()
            .is_some_and(|method| method.contains("证照"))
}

/// What is wrong with one material in a one-time notice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum NoticeProblem {
    /// Not handed in.
    Missing,
    /// Handed in but not acceptable.
    Defective { reason: String },
    /// Recorded as waived or e-verified, but the guide allows no such waiver
    /// for it.
    NotWaivable,
}

impl NoticeProblem {
    /// `MATERIAL_MISSING`, `MATERIAL_DEFECTIVE`, `MATERIAL_NOT_WAIVABLE`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MATERIAL_MISSING",
            Self::Defective { .. } => "MATERIAL_DEFECTIVE",
            Self::NotWaivable => "MATERIAL_NOT_WAIVABLE",
        }
    }
}

/// One line of a one-time notice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoticeItem {
    /// The material's code in the guide, e.g. `agent_commitment`.
    pub code: String,
    /// The material's name, verbatim from the guide.
    pub name: String,
    pub problem: NoticeProblem,
    /// What to bring, in Chinese.
    pub message_zh: String,
}

/// 一次性告知: every missing or defective required material, at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OneTimeNotice {
    pub items: Vec<NoticeItem>,
}

impl OneTimeNotice {
    /// The code of a case that cannot be accepted for its materials.
    pub const CODE: &'static str = "MATERIALS_INCOMPLETE";
}

impl fmt::Display for OneTimeNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "一次性告知：您的申请材料尚不齐全（本事项不实行容缺受理），请一次性补正以下 {} 项材料：",
            self.items.len()
        )?;
        for (i, item) in self.items.iter().enumerate() {
            write!(f, "{}. {}", i + 1, item.message_zh)?;
            if i + 1 < self.items.len() {
                f.write_str("；")?;
            }
        }
        f.write_str("。补正后本办件将重新进入受理。")
    }
}

/// The materials check at 受理 (criterion: 办理材料齐全即可). No acceptance
/// with missing materials (是否容缺受理: 否): every required material must be
/// submitted, or — for a waivable one — waived, or verified through the
/// e-certificate when that is the guide's waiver method. A material absent
/// from `statuses` is missing. An agent needs both the agent's ID card and
/// the commitment letter (the guide's 委托代办 materials).
///
/// # Errors
///
/// A [`OneTimeNotice`] listing every problem, in the guide's order.
pub fn acceptance_check(
    guide: &Guide,
    circumstances: Circumstances,
    statuses: &BTreeMap<String, MaterialStatus>,
) -> Result<(), OneTimeNotice> {
    let mut items = Vec::new();
    for material in required_materials(guide, circumstances) {
        let problem = match statuses.get(&material.code) {
            Some(MaterialStatus::Submitted) => None,
            Some(MaterialStatus::Waived) if material.waivable => None,
            Some(MaterialStatus::VerifiedByECertificate) if waived_by_e_certificate(material) => {
                None
            }
            Some(MaterialStatus::Waived | MaterialStatus::VerifiedByECertificate) => {
                Some(NoticeProblem::NotWaivable)
            }
            Some(MaterialStatus::Missing) | None => Some(NoticeProblem::Missing),
            Some(MaterialStatus::Defective { reason }) => Some(NoticeProblem::Defective {
                reason: reason.clone(),
            }),
        };
        if let Some(problem) = problem {
            let name = &material.name;
            // A document's title already carries its 《》 in the guide.
            let quoted = if name.starts_with('《') {
                name.clone()
            } else {
                format!("《{name}》")
            };
            let standard = material
                .acceptance_standard
                .as_deref()
                .map(|s| format!("（要求：{s}）"))
                .unwrap_or_default();
            let message_zh = match &problem {
                NoticeProblem::Missing => format!("缺少{quoted}，请提交{standard}"),
                NoticeProblem::Defective { reason } => {
                    format!("{quoted}不符合要求：{reason}，请重新提交{standard}")
                }
                NoticeProblem::NotWaivable => {
                    format!("{quoted}不可减免，请提交{standard}")
                }
            };
            items.push(NoticeItem {
                code: material.code.clone(),
                name: name.clone(),
                problem,
                message_zh,
            });
        }
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(OneTimeNotice { items })
    }
}

// ---------------------------------------------------------------------------
// Processing (经办)
// ---------------------------------------------------------------------------

/// Why processing denies activation; each has a stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// `CARD_NOT_APPLICANTS` — the card belongs to someone else.
    NotApplicantsCard,
    /// `CARD_CANCELLED` — 注销.
    Cancelled,
    /// `CARD_REPORTED_LOST` — 临时挂失 or 正式挂失.
    ReportedLost,
    /// `CARD_NOT_YET_COLLECTED` — 制卡中 or 待领卡.
    NotYetCollected,
    /// `CARD_EXPIRED` — past its 有效期.
    Expired,
}

impl DenialReason {
    pub const ALL: [Self; 5] = [
        Self::NotApplicantsCard,
        Self::Cancelled,
        Self::ReportedLost,
        Self::NotYetCollected,
        Self::Expired,
    ];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::NotApplicantsCard => "CARD_NOT_APPLICANTS",
            Self::Cancelled => "CARD_CANCELLED",
            Self::ReportedLost => "CARD_REPORTED_LOST",
            Self::NotYetCollected => "CARD_NOT_YET_COLLECTED",
            Self::Expired => "CARD_EXPIRED",
        }
    }

    /// A short Chinese label, e.g. `卡已挂失`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::NotApplicantsCard => "非申请人本人的卡",
            Self::Cancelled => "卡已注销",
            Self::ReportedLost => "卡已挂失",
            Self::NotYetCollected => "卡在制作中或尚未领取",
            Self::Expired => "卡已超过有效期",
        }
    }

    /// The reason and what to do, in Chinese, for the applicant.
    #[must_use]
    pub fn message_zh(self) -> &'static str {
        match self {
            Self::NotApplicantsCard => {
                "该社会保障卡不属于申请人本人，不能为其启用。请核对卡号，使用申请人本人的社会保障卡重新申请。"
            }
            Self::Cancelled => "该社会保障卡已注销，不能启用。请申领新卡。",
            Self::ReportedLost => {
                "该社会保障卡已挂失，不能启用。临时挂失的卡请先办理解挂；正式挂失的卡请办理补卡。"
            }
            Self::NotYetCollected => "该社会保障卡尚在制作或尚未领取，不能启用。请领卡后再申请。",
            Self::Expired => "该社会保障卡已超过有效期，不能启用。请办理换卡。",
        }
    }
}

/// What the 经办岗 decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessingDecision {
    /// Activate: move the social-security application to 正常.
    Activate,
    /// The card is already 正常: end the case without activating again.
    AlreadyActive,
    /// 不予通过.
    Deny(DenialReason),
}

/// The decision at 经办 (criterion: 符合政策法规). Checked in this order:
/// another person's card; 注销; 临时挂失 / 正式挂失; 制卡中 / 待领卡; expired
/// ([`is_expired`]: valid through `card_expiry` itself); then 已领卡未启用 →
/// activate and 正常 → already active. An expired 正常 card is denied as
/// expired rather than reported active: it cannot be used and must be
/// replaced.
#[must_use]
pub fn processing_decision(
    card_social_state: SocialSecurityState,
    card_expiry: NaiveDate,
    today: NaiveDate,
    card_belongs_to_applicant: bool,
) -> ProcessingDecision {
    use SocialSecurityState as S;
    if !card_belongs_to_applicant {
        return ProcessingDecision::Deny(DenialReason::NotApplicantsCard);
    }
    match card_social_state {
        S::Cancelled => ProcessingDecision::Deny(DenialReason::Cancelled),
        S::TemporarilyLost | S::FormallyLost => {
            ProcessingDecision::Deny(DenialReason::ReportedLost)
        }
        S::InProduction | S::AwaitingCollection => {
            ProcessingDecision::Deny(DenialReason::NotYetCollected)
        }
        S::Collected | S::Normal if is_expired(today, card_expiry) => {
            ProcessingDecision::Deny(DenialReason::Expired)
        }
        S::Collected => ProcessingDecision::Activate,
        S::Normal => ProcessingDecision::AlreadyActive,
    }
}

// ---------------------------------------------------------------------------
// The clock: window hours and step deadlines
// ---------------------------------------------------------------------------

/// How far [`effective_start`] looks for the window's next opening.
pub const MAX_OPENING_SEARCH_DAYS: u32 = 400;

/// When an application received at some moment starts counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EffectiveStart {
    /// The working day the time limit counts from.
    pub date: NaiveDate,
    /// The moment counting starts: the receipt itself when the window was
    /// open, else the next opening.
    pub opens_at: NaiveDateTime,
    /// Whether the application arrived while the window was open.
    pub within_hours: bool,
}

/// Why a start or due date cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error(transparent)]
    Calendar(#[from] DeadlineError),
    /// The window has no opening within [`MAX_OPENING_SEARCH_DAYS`].
    #[error(
        "窗口在 {MAX_OPENING_SEARCH_DAYS} 天内没有办理时间，请管理员核对办事指南中的窗口办理时间。"
    )]
    WindowNeverOpens,
}

impl ClockError {
    /// `WORKING_DAYS_OUT_OF_RANGE`, `DATE_OUT_OF_RANGE` or `WINDOW_NEVER_OPENS`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Calendar(e) => e.code(),
            Self::WindowNeverOpens => "WINDOW_NEVER_OPENS",
        }
    }
}

const WORKWEEK: [Weekday; 5] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];

/// The window's opening periods on `date`, as `(start, end)`, sorted.
///
/// A window closed on statutory holidays follows the working calendar: closed
/// on a non-working day; on an adjusted working weekend day (调休上班) open
/// with its Monday–Friday periods; otherwise with the periods of the weekday.
/// A window open on holidays follows its periods alone.
fn openings(window: &Window, date: NaiveDate, working: bool) -> Vec<(NaiveTime, NaiveTime)> {
    let weekday = date.weekday();
    let adjusted_weekend = working && !WORKWEEK.contains(&weekday);
    let mut periods: Vec<(NaiveTime, NaiveTime)> = if window.closed_on_statutory_holidays {
        if !working {
            return Vec::new();
        }
        window
            .hours
            .iter()
            .filter(|p| {
                if adjusted_weekend {
                    p.weekdays.iter().any(|d| WORKWEEK.contains(d))
                } else {
                    p.weekdays.contains(&weekday)
                }
            })
            .map(|p| (p.start, p.end))
            .collect()
    } else {
        window
            .hours
            .iter()
            .filter(|p| p.weekdays.contains(&weekday))
            .map(|p| (p.start, p.end))
            .collect()
    };
    periods.sort_unstable();
    periods.dedup();
    periods
}

/// When an application received at `received_at` (Asia/Shanghai local time)
/// starts counting: the moment itself if the window is open then, else the
/// window's next opening — before 09:00 or at 12:30 on a working day, the same
/// day; after 16:00, on a weekend or a holiday, the next working day. Window
/// hours come from the guide's structured hours ([`Window::hours`]), working
/// days from `calendar`. Provisional when a day examined lies in a year whose
/// calendar is not loaded.
///
/// # Errors
///
/// [`ClockError::WindowNeverOpens`] if no opening lies within
/// [`MAX_OPENING_SEARCH_DAYS`]; a calendar error at the end of the dates.
pub fn effective_start(
    received_at: NaiveDateTime,
    calendar: &WorkingCalendar,
    window: &Window,
) -> Result<Answer<EffectiveStart>, ClockError> {
    let mut provisional = false;
    let mut day = received_at.date();
    for _ in 0..MAX_OPENING_SEARCH_DAYS {
        let working = calendar.is_working_day(day);
        provisional |= working.is_provisional();
        let same_day = day == received_at.date();
        let found = openings(window, day, *working.value())
            .into_iter()
            .find(|(_, end)| !same_day || *end > received_at.time());
        if let Some((start, _)) = found {
            let within_hours = same_day && start <= received_at.time();
            let opens_at = if within_hours {
                received_at
            } else {
                day.and_time(start)
            };
            let value = EffectiveStart {
                date: day,
                opens_at,
                within_hours,
            };
            return Ok(if provisional {
                Answer::Provisional(value)
            } else {
                Answer::Certain(value)
            });
        }
        day = day.succ_opt().ok_or(DeadlineError::DateOutOfRange)?;
    }
    Err(ClockError::WindowNeverOpens)
}

/// The due date of a step of `limit_working_days` that starts on `start`
/// (0 = the same working day): [`WorkingCalendar::deadline`]. Use the
/// guide's limit of the case's own guide version
/// ([`Guide::time_limit_for`]).
///
/// # Errors
///
/// As [`WorkingCalendar::deadline`].
pub fn step_due(
    start: NaiveDate,
    limit_working_days: u32,
    calendar: &WorkingCalendar,
) -> Result<Deadline, DeadlineError> {
    calendar.deadline(start, limit_working_days)
}

/// The due date of a step that starts with a receipt at `received_at`: the
/// step counts from [`effective_start`]. Used for the acceptance step of an
/// online or posted application and, after 补正, for the acceptance step
/// restarted by the supplement (the days in 补正 are not counted). The
/// deadline is provisional if the effective start was.
///
/// # Errors
///
/// As [`effective_start`] and [`step_due`].
pub fn due_from_receipt(
    received_at: NaiveDateTime,
    limit_working_days: u32,
    calendar: &WorkingCalendar,
    window: &Window,
) -> Result<Deadline, ClockError> {
    let start = effective_start(received_at, calendar, window)?;
    let mut deadline = step_due(start.value().date, limit_working_days, calendar)?;
    if start.is_provisional() && !deadline.provisional {
        deadline.provisional = true;
        deadline.provisional_years.push(received_at.date().year());
    }
    Ok(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::YearCalendar;
    use crate::registry::{EnrolmentStatus, RegionCode};
    use proptest::prelude::*;

    const CALENDAR_2026: &str = include_str!("../../../calendar/2026.toml");

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::new([YearCalendar::from_toml_str(CALENDAR_2026).expect("2026 calendar")])
    }

    fn guide() -> Guide {
        Guide::bundled()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        date(y, m, d).and_hms_opt(h, min, 0).expect("time")
    }

    fn roles(list: &[Role]) -> RoleSet {
        let bank = list.contains(&Role::BankTeller);
        let employer = list.contains(&Role::Employer);
        RoleSet::new(list.iter().copied(), bank, employer).expect("valid roles")
    }

    /// Every valid role set: all non-empty subsets of the bureau roles, plus
    /// the exclusive bank teller and employer accounts.
    fn all_role_sets() -> Vec<RoleSet> {
        let bureau = [
            Role::Acceptor,
            Role::Processor,
            Role::Feedback,
            Role::Supervisor,
            Role::Admin,
        ];
        let mut sets: Vec<RoleSet> = (1u32..32)
            .map(|mask| {
                let chosen: Vec<Role> = bureau
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, r)| *r)
                    .collect();
                roles(&chosen)
            })
            .collect();
        sets.push(roles(&[Role::BankTeller]));
        sets.push(roles(&[Role::Employer]));
        sets
    }

    fn valid_action(kind: CaseActionKind) -> CaseAction {
        match kind {
            CaseActionKind::Accept => CaseAction::Accept,
            CaseActionKind::NotifyMissing => CaseAction::NotifyMissing {
                notice: acceptance_check(&guide(), Circumstances::default(), &BTreeMap::new())
                    .expect_err("nothing submitted"),
            },
            CaseActionKind::Supplement => CaseAction::Supplement,
            CaseActionKind::Refuse => CaseAction::refuse_not_insured(),
            CaseActionKind::Approve => CaseAction::Approve,
            CaseActionKind::Deny => {
                CaseAction::from_decision(ProcessingDecision::Deny(DenialReason::ReportedLost))
            }
            CaseActionKind::ConfirmAlreadyActive => CaseAction::ConfirmAlreadyActive,
            CaseActionKind::Deliver => CaseAction::Deliver,
        }
    }

    /// The transitions as the guide describes them, written out by hand:
    /// `(from, action, to)`.
    fn expected_transitions() -> Vec<(CaseState, CaseActionKind, CaseState)> {
        use CaseActionKind as A;
        use CaseState as S;
        let mut t = vec![
            (S::Submitted, A::Accept, S::AwaitingProcessing),
            (S::Submitted, A::NotifyMissing, S::AwaitingSupplement),
            (S::Submitted, A::Refuse, S::Refused),
            (S::AwaitingSupplement, A::Supplement, S::Submitted),
            (
                S::AwaitingProcessing,
                A::Approve,
                S::AwaitingFeedback(Outcome::Approved),
            ),
            (
                S::AwaitingProcessing,
                A::Deny,
                S::AwaitingFeedback(Outcome::Denied),
            ),
            (
                S::AwaitingProcessing,
                A::ConfirmAlreadyActive,
                S::AwaitingFeedback(Outcome::AlreadyActive),
            ),
        ];
        for o in Outcome::ALL {
            t.push((S::AwaitingFeedback(o), A::Deliver, S::Completed(o)));
        }
        t
    }

    #[test]
    fn every_action_against_every_state_for_every_actor() {
        let sets = all_role_sets();
        assert_eq!(sets.len(), 33);
        let transitions = expected_transitions();
        let mut allowed = 0;
        for state in CaseState::ALL {
            for kind in CaseActionKind::ALL {
                let expected_next = transitions
                    .iter()
                    .find(|(from, k, _)| *from == state && *k == kind)
                    .map(|(_, _, to)| *to);
                let action = valid_action(kind);
                let mut actors: Vec<CaseActor<'_>> = vec![CaseActor::Applicant];
                actors.extend(sets.iter().map(CaseActor::Staff));
                for actor in actors {
                    let permitted = match actor {
                        CaseActor::Applicant => kind == CaseActionKind::Supplement,
                        CaseActor::Staff(r) => match kind {
                            CaseActionKind::Accept
                            | CaseActionKind::NotifyMissing
                            | CaseActionKind::Refuse
                            | CaseActionKind::Supplement => r.contains(Role::Acceptor),
                            CaseActionKind::Approve
                            | CaseActionKind::Deny
                            | CaseActionKind::ConfirmAlreadyActive => r.contains(Role::Processor),
                            CaseActionKind::Deliver => r.contains(Role::Feedback),
                        },
                    };
                    let result = state.apply_as(&action, actor);
                    match (permitted, expected_next) {
                        (false, _) => {
                            let e = result.expect_err("role not permitted");
                            assert_eq!(
                                e.code(),
                                "ROLE_NOT_PERMITTED_FOR_STEP",
                                "{state:?} {kind:?} {actor:?}"
                            );
                            assert_eq!((e.current, e.attempted), (state, kind));
                        }
                        (true, None) => {
                            let e = result.expect_err("state conflict");
                            assert_eq!(
                                e.code(),
                                "CASE_STATE_CONFLICT",
                                "{state:?} {kind:?} {actor:?}"
                            );
                            assert!(e.to_string().contains(state.label_zh()), "{e}");
                        }
                        (true, Some(next)) => {
                            assert_eq!(result, Ok(next), "{state:?} {kind:?} {actor:?}");
                            allowed += 1;
                        }
                    }
                }
            }
        }
        // 10 transitions; 16 of the 31 bureau role sets hold a given step
        // role, and the applicant may also supplement: 9 × 16 + 17.
        assert_eq!(allowed, 9 * 16 + 17);
        for (from, kind, to) in &transitions {
            assert_eq!(from.next(*kind), Some(*to));
        }
        let table_size = CaseState::ALL
            .iter()
            .flat_map(|s| {
                CaseActionKind::ALL
                    .iter()
                    .filter(move |k| s.next(**k).is_some())
            })
            .count();
        assert_eq!(table_size, transitions.len());
    }

    #[test]
    fn a_window_clerk_with_all_three_roles_carries_a_case_through_at_once() {
        let clerk = roles(&[Role::Acceptor, Role::Processor, Role::Feedback]);
        let mut state = CaseState::Submitted;
        for action in [CaseAction::Accept, CaseAction::Approve, CaseAction::Deliver] {
            state = state.apply(&action, &clerk).expect("即办件");
        }
        assert_eq!(state, CaseState::Completed(Outcome::Approved));
        assert_eq!(state.full_label_zh(), "已办结（准予启用）");
        assert!(state.actions_for(CaseActor::Staff(&clerk)).is_empty());
    }

    #[test]
    fn one_time_notice_then_supplement_returns_to_acceptance() {
        let acceptor = roles(&[Role::Acceptor]);
        let notice = valid_action(CaseActionKind::NotifyMissing);
        let state = CaseState::Submitted
            .apply(&notice, &acceptor)
            .expect("notice");
        assert_eq!(state, CaseState::AwaitingSupplement);
        assert_eq!(state.step(), None, "no clock runs in 补正");
        assert_eq!(
            state.actions_for(CaseActor::Applicant),
            [CaseActionKind::Supplement]
        );
        assert_eq!(
            state.apply_as(&CaseAction::Supplement, CaseActor::Applicant),
            Ok(CaseState::Submitted)
        );
        assert_eq!(
            state.apply(&CaseAction::Supplement, &acceptor),
            Ok(CaseState::Submitted)
        );
        // The applicant can do nothing else.
        let e = CaseState::Submitted
            .apply_as(&CaseAction::Accept, CaseActor::Applicant)
            .expect_err("applicant cannot accept");
        assert_eq!(e.code(), "ROLE_NOT_PERMITTED_FOR_STEP");
        assert!(e.to_string().contains("受理岗人员"), "{e}");
    }

    #[test]
    fn content_is_checked_after_role_and_state() {
        let acceptor = roles(&[Role::Acceptor]);
        let processor = roles(&[Role::Processor]);
        let empty = CaseAction::NotifyMissing {
            notice: OneTimeNotice::default(),
        };
        assert_eq!(
            CaseState::Submitted
                .apply(&empty, &acceptor)
                .map_err(|e| e.code()),
            Err("NOTICE_EMPTY")
        );
        assert_eq!(
            CaseState::AwaitingProcessing
                .apply(&empty, &acceptor)
                .map_err(|e| e.code()),
            Err("CASE_STATE_CONFLICT")
        );
        for (code, reason) in [("", "原因"), ("lower_case", "原因"), ("CARD_LOST", "  ")] {
            let deny = CaseAction::Deny {
                code: code.to_owned(),
                reason: reason.to_owned(),
            };
            let e = CaseState::AwaitingProcessing
                .apply(&deny, &processor)
                .expect_err("reason required");
            assert_eq!(e.code(), "REASON_REQUIRED");
            let refuse = CaseAction::Refuse {
                code: code.to_owned(),
                reason: reason.to_owned(),
            };
            assert_eq!(
                CaseState::Submitted
                    .apply(&refuse, &acceptor)
                    .map_err(|e| e.code()),
                Err("REASON_REQUIRED")
            );
        }
    }

    #[test]
    fn a_denial_is_delivered_like_an_approval() {
        let processor = roles(&[Role::Processor]);
        let feedback = roles(&[Role::Feedback]);
        let deny = valid_action(CaseActionKind::Deny);
        let state = CaseState::AwaitingProcessing
            .apply(&deny, &processor)
            .expect("deny");
        assert_eq!(state, CaseState::AwaitingFeedback(Outcome::Denied));
        assert_eq!(state.step(), Some(RoleCode::Feedback));
        assert_eq!(
            state.apply(&CaseAction::Deliver, &feedback),
            Ok(CaseState::Completed(Outcome::Denied))
        );
    }

    #[test]
    fn terminal_states_refuse_everything_with_a_clear_message() {
        let all = roles(&[Role::Acceptor, Role::Processor, Role::Feedback]);
        for state in CaseState::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(state.available_actions().is_empty());
            for kind in CaseActionKind::ALL {
                let e = state
                    .apply(&valid_action(kind), &all)
                    .expect_err("terminal");
                assert_eq!(e.code(), "CASE_STATE_CONFLICT");
                assert!(e.to_string().contains("不能再办理"), "{e}");
            }
        }
        let e = CaseState::AwaitingFeedback(Outcome::Approved)
            .apply(&CaseAction::Approve, &all)
            .expect_err("already decided");
        assert!(e.to_string().contains("可能已由其他人员处理"), "{e}");
        assert!(e.to_string().contains("送达结果"), "{e}");
    }

    #[test]
    fn codes_and_labels_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for state in CaseState::ALL {
            assert_eq!(
                CaseState::from_codes(state.code(), state.outcome().map(Outcome::code)),
                Some(state)
            );
            assert!(seen.insert(state.full_label_zh()));
            let json = serde_json::to_value(state).expect("json");
            assert_eq!(json["state"], state.code());
        }
        assert_eq!(CaseState::from_codes("completed", None), None);
        assert_eq!(CaseState::from_codes("submitted", Some("approved")), None);
        for kind in CaseActionKind::ALL {
            assert_eq!(CaseActionKind::from_code(kind.code()), Some(kind));
            assert!(!kind.label_zh().is_empty());
        }
        for channel in Channel::ALL {
            assert_eq!(Channel::from_code(channel.code()), Some(channel));
            assert!(guide().channels.iter().any(|c| c == channel.label_zh()));
        }
        assert!(!Channel::Window.arrives_outside_hours());
        assert!(Channel::Online.arrives_outside_hours());
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::from_code(outcome.code()), Some(outcome));
        }
    }

    #[test]
    fn steps_follow_the_guide() {
        let g = guide();
        for kind in CaseActionKind::ALL {
            assert!(g.step_for(kind.step()).is_some());
        }
        assert_eq!(CaseState::Submitted.step(), Some(RoleCode::Acceptor));
        assert_eq!(
            CaseState::AwaitingProcessing.step(),
            Some(RoleCode::Processor)
        );
        assert_eq!(CaseState::Refused.step(), None);
    }

    // ---- acceptance condition ----

    #[test]
    fn acceptance_needs_liuzhou_enrolment() {
        let enrolment = |region: &str, status| Enrolment {
            region_code: RegionCode::parse(region).expect("region"),
            status,
            since: date(2020, 1, 1),
        };
        assert_eq!(
            acceptance_condition(Some(&enrolment("450206", EnrolmentStatus::Contributing))),
            Ok(())
        );
        assert_eq!(
            acceptance_condition(Some(&enrolment("450206", EnrolmentStatus::Suspended))),
            Ok(())
        );
        for refused in [
            Some(enrolment("450206", EnrolmentStatus::Terminated)),
            Some(enrolment("450102", EnrolmentStatus::Contributing)),
            None,
        ] {
            let e = acceptance_condition(refused.as_ref()).expect_err("not insured");
            assert_eq!(e.code(), NOT_INSURED_IN_LIUZHOU);
            assert!(e.to_string().contains("柳州市社会保险"), "{e}");
        }
        let acceptor = roles(&[Role::Acceptor]);
        assert_eq!(
            CaseState::Submitted.apply(&CaseAction::refuse_not_insured(), &acceptor),
            Ok(CaseState::Refused)
        );
    }

    // ---- materials ----

    fn statuses(list: &[(&str, MaterialStatus)]) -> BTreeMap<String, MaterialStatus> {
        list.iter()
            .map(|(code, status)| ((*code).to_owned(), status.clone()))
            .collect()
    }

    fn codes(notice: &OneTimeNotice) -> Vec<(&str, &str)> {
        notice
            .items
            .iter()
            .map(|i| (i.code.as_str(), i.problem.code()))
            .collect()
    }

    #[test]
    fn required_materials_follow_the_guide_conditions() {
        let g = guide();
        let codes_of = |c| -> Vec<String> {
            required_materials(&g, c)
                .into_iter()
                .map(|m| m.code.clone())
                .collect()
        };
        assert_eq!(
            codes_of(Circumstances::default()),
            ["application_form", "own_card"]
        );
        assert_eq!(
            codes_of(Circumstances {
                has_agent: true,
                is_employer_batch: false
            }),
            [
                "application_form",
                "own_card",
                "agent_id_card",
                "agent_commitment"
            ]
        );
        assert_eq!(
            codes_of(Circumstances {
                has_agent: false,
                is_employer_batch: true
            }),
            ["application_form", "own_card", "employer_authorization"]
        );
    }

    #[test]
    fn own_card_is_satisfied_by_the_e_certificate_or_the_waiver() {
        let g = guide();
        for own in [
            MaterialStatus::Submitted,
            MaterialStatus::VerifiedByECertificate,
            MaterialStatus::Waived,
        ] {
            let s = statuses(&[
                ("application_form", MaterialStatus::Submitted),
                ("own_card", own),
            ]);
            assert_eq!(acceptance_check(&g, Circumstances::default(), &s), Ok(()));
        }
        // The form is not waivable.
        let s = statuses(&[
            ("application_form", MaterialStatus::Waived),
            ("own_card", MaterialStatus::VerifiedByECertificate),
        ]);
        let notice = acceptance_check(&g, Circumstances::default(), &s).expect_err("form");
        assert_eq!(
            codes(&notice),
            [("application_form", "MATERIAL_NOT_WAIVABLE")]
        );
    }

    #[test]
    fn a_one_time_notice_lists_every_problem_at_once() {
        let g = guide();
        let agent = Circumstances {
            has_agent: true,
            is_employer_batch: false,
        };
        let s = statuses(&[
            (
                "application_form",
                MaterialStatus::Defective {
                    reason: "未签名".to_owned(),
                },
            ),
            ("own_card", MaterialStatus::Missing),
            ("agent_id_card", MaterialStatus::VerifiedByECertificate),
        ]);
        let notice = acceptance_check(&g, agent, &s).expect_err("incomplete");
        assert_eq!(
            codes(&notice),
            [
                ("application_form", "MATERIAL_DEFECTIVE"),
                ("own_card", "MATERIAL_MISSING"),
                ("agent_id_card", "MATERIAL_NOT_WAIVABLE"),
                ("agent_commitment", "MATERIAL_MISSING"),
            ]
        );
        let text = notice.to_string();
        assert!(text.starts_with("一次性告知"), "{text}");
        assert!(text.contains("以下 4 项材料"), "{text}");
        assert!(text.contains("未签名"), "{text}");
        for item in &notice.items {
            assert!(text.contains(&item.name), "{text}");
        }
        // Nothing submitted at all: both always-required materials, at once.
        let notice =
            acceptance_check(&g, Circumstances::default(), &BTreeMap::new()).expect_err("empty");
        assert_eq!(
            codes(&notice),
            [
                ("application_form", "MATERIAL_MISSING"),
                ("own_card", "MATERIAL_MISSING")
            ]
        );
    }

    #[test]
    fn an_agent_needs_both_the_id_card_and_the_commitment_letter() {
        let g = guide();
        let agent = Circumstances {
            has_agent: true,
            is_employer_batch: false,
        };
        let base = [
            ("application_form", MaterialStatus::Submitted),
            ("own_card", MaterialStatus::Submitted),
        ];
        let with = |extra: &[(&str, MaterialStatus)]| {
            let mut list = base.to_vec();
            list.extend_from_slice(extra);
            acceptance_check(&g, agent, &statuses(&list))
        };
        assert_eq!(
            with(&[
                ("agent_id_card", MaterialStatus::Submitted),
                ("agent_commitment", MaterialStatus::Submitted)
            ]),
            Ok(())
        );
        let only_id = with(&[("agent_id_card", MaterialStatus::Submitted)]).expect_err("letter");
        assert_eq!(codes(&only_id), [("agent_commitment", "MATERIAL_MISSING")]);
        let only_letter =
            with(&[("agent_commitment", MaterialStatus::Submitted)]).expect_err("id card");
        assert_eq!(codes(&only_letter), [("agent_id_card", "MATERIAL_MISSING")]);
        let neither = with(&[]).expect_err("both");
        assert_eq!(neither.items.len(), 2);
        // Without an agent the same materials are not needed.
        assert_eq!(
            acceptance_check(&g, Circumstances::default(), &statuses(&base)),
            Ok(())
        );
    }

    // ---- processing ----

    #[test]
    fn processing_decisions_for_every_card_state() {
        use SocialSecurityState as S;
        let today = date(2026, 11, 27);
        let valid = date(2035, 1, 1);
        let expected = |s: S| match s {
            S::InProduction | S::AwaitingCollection => {
                ProcessingDecision::Deny(DenialReason::NotYetCollected)
            }
            S::Collected => ProcessingDecision::Activate,
            S::Normal => ProcessingDecision::AlreadyActive,
            S::TemporarilyLost | S::FormallyLost => {
                ProcessingDecision::Deny(DenialReason::ReportedLost)
            }
            S::Cancelled => ProcessingDecision::Deny(DenialReason::Cancelled),
        };
        for state in S::ALL {
            assert_eq!(
                processing_decision(state, valid, today, true),
                expected(state)
            );
            assert_eq!(
                processing_decision(state, valid, today, false),
                ProcessingDecision::Deny(DenialReason::NotApplicantsCard)
            );
        }
        // Valid through the expiry date itself, expired the day after.
        assert_eq!(
            processing_decision(S::Collected, today, today, true),
            ProcessingDecision::Activate
        );
        let yesterday = date(2026, 11, 26);
        for state in [S::Collected, S::Normal] {
            assert_eq!(
                processing_decision(state, yesterday, today, true),
                ProcessingDecision::Deny(DenialReason::Expired)
            );
        }
        assert_eq!(
            processing_decision(S::TemporarilyLost, yesterday, today, true),
            ProcessingDecision::Deny(DenialReason::ReportedLost)
        );
        let codes: Vec<_> = DenialReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "CARD_NOT_APPLICANTS",
                "CARD_CANCELLED",
                "CARD_REPORTED_LOST",
                "CARD_NOT_YET_COLLECTED",
                "CARD_EXPIRED"
            ]
        );
        // Each decision maps to the processor's action, which the state machine takes.
        let processor = roles(&[Role::Processor]);
        for state in S::ALL {
            let decision = processing_decision(state, valid, today, true);
            let next = CaseState::AwaitingProcessing
                .apply(&CaseAction::from_decision(decision), &processor)
                .expect("decision applies");
            let outcome = match decision {
                ProcessingDecision::Activate => Outcome::Approved,
                ProcessingDecision::AlreadyActive => Outcome::AlreadyActive,
                ProcessingDecision::Deny(_) => Outcome::Denied,
            };
            assert_eq!(next, CaseState::AwaitingFeedback(outcome));
        }
    }

    // ---- the clock ----

    fn window() -> Window {
        guide().windows[0].clone()
    }

    #[test]
    fn submitted_on_30_september_is_due_for_processing_on_8_october() {
        let g = guide();
        let cal = calendar();
        let start = effective_start(at(2026, 9, 30, 10, 0), &cal, &window()).expect("start");
        assert_eq!(
            start,
            Answer::Certain(EffectiveStart {
                date: date(2026, 9, 30),
                opens_at: at(2026, 9, 30, 10, 0),
                within_hours: true
            })
        );
        let acceptance_limit = g.time_limit_for(RoleCode::Acceptor).expect("acceptance");
        let acceptance = step_due(start.value().date, acceptance_limit, &cal).expect("due");
        assert_eq!(acceptance.deadline, date(2026, 9, 30));
        let processing_limit = g.time_limit_for(RoleCode::Processor).expect("processing");
        let processing = step_due(acceptance.deadline, processing_limit, &cal).expect("due");
        assert_eq!(processing.deadline, date(2026, 10, 8));
        assert!(!processing.provisional);
    }

    #[test]
    fn after_16_00_on_a_friday_counts_from_monday() {
        let cal = calendar();
        let start = effective_start(at(2026, 11, 27, 16, 30), &cal, &window()).expect("start");
        assert_eq!(
            start,
            Answer::Certain(EffectiveStart {
                date: date(2026, 11, 30),
                opens_at: at(2026, 11, 30, 9, 0),
                within_hours: false
            })
        );
        // 16:00 itself is closed (the period's end is exclusive); 15:59 is open.
        let at_four = effective_start(at(2026, 11, 27, 16, 0), &cal, &window()).expect("start");
        assert_eq!(at_four.value().date, date(2026, 11, 30));
        let before = effective_start(at(2026, 11, 27, 15, 59), &cal, &window()).expect("start");
        assert!(before.value().within_hours);
        let due = due_from_receipt(at(2026, 11, 27, 16, 30), 0, &cal, &window()).expect("due");
        assert_eq!(due.deadline, date(2026, 11, 30));
    }

    #[test]
    fn at_12_30_counts_from_the_same_afternoon() {
        let cal = calendar();
        let start = effective_start(at(2026, 11, 25, 12, 30), &cal, &window()).expect("start");
        assert_eq!(
            *start.value(),
            EffectiveStart {
                date: date(2026, 11, 25),
                opens_at: at(2026, 11, 25, 13, 0),
                within_hours: false
            }
        );
        let early = effective_start(at(2026, 11, 25, 7, 45), &cal, &window()).expect("start");
        assert_eq!(early.value().opens_at, at(2026, 11, 25, 9, 0));
    }

    #[test]
    fn holidays_and_adjusted_working_days_follow_the_calendar() {
        let cal = calendar();
        // 国庆节: 10-01 … 10-07 closed, opens 10-08.
        let start = effective_start(at(2026, 10, 1, 10, 0), &cal, &window()).expect("start");
        assert_eq!(start.value().opens_at, at(2026, 10, 8, 9, 0));
        // Saturday 10-10 is an adjusted working day: the window opens.
        let start = effective_start(at(2026, 10, 10, 10, 0), &cal, &window()).expect("start");
        assert!(start.value().within_hours);
        // An ordinary Saturday is closed.
        let start = effective_start(at(2026, 10, 17, 10, 0), &cal, &window()).expect("start");
        assert_eq!(start.value().date, date(2026, 10, 19));
    }

    #[test]
    fn an_unloaded_year_makes_the_start_and_deadline_provisional() {
        let cal = calendar();
        let start = effective_start(at(2026, 12, 31, 17, 0), &cal, &window()).expect("start");
        assert!(start.is_provisional());
        assert_eq!(start.value().date, date(2027, 1, 1));
        let due = due_from_receipt(at(2027, 3, 2, 10, 0), 1, &cal, &window()).expect("due");
        assert!(due.provisional);
        assert_eq!(due.provisional_years, [2027]);
    }

    #[test]
    fn a_window_that_never_opens_is_reported() {
        let mut w = window();
        for period in &mut w.hours {
            period.weekdays = vec![Weekday::Sun];
        }
        let e = effective_start(at(2026, 11, 25, 10, 0), &calendar(), &w).expect_err("never");
        assert_eq!(e.code(), "WINDOW_NEVER_OPENS");
        assert!(e.to_string().contains("办理时间"), "{e}");
    }

    // ---- properties ----

    fn any_action() -> impl Strategy<Value = CaseAction> {
        (0usize..CaseActionKind::ALL.len(), any::<bool>()).prop_map(|(i, valid)| {
            let kind = CaseActionKind::ALL[i];
            if valid {
                valid_action(kind)
            } else {
                match kind {
                    CaseActionKind::NotifyMissing => CaseAction::NotifyMissing {
                        notice: OneTimeNotice::default(),
                    },
                    CaseActionKind::Deny => CaseAction::Deny {
                        code: String::new(),
                        reason: String::new(),
                    },
                    _ => valid_action(kind),
                }
            }
        })
    }

    proptest! {
        #[test]
        fn random_sequences_stay_on_the_declared_transitions(
            steps in prop::collection::vec((any_action(), 0usize..34), 0..40)
        ) {
            let sets = all_role_sets();
            let transitions = expected_transitions();
            let mut state = CaseState::Submitted;
            let mut visited = vec![state];
            for (action, who) in steps {
                let actor = sets.get(who).map_or(CaseActor::Applicant, CaseActor::Staff);
                let before = state;
                match state.apply_as(&action, actor) {
                    Ok(next) => {
                        prop_assert!(!before.is_terminal(), "left terminal {before:?}");
                        prop_assert!(transitions.contains(&(before, action.kind(), next)));
                        prop_assert!(CaseState::ALL.contains(&next));
                        state = next;
                    }
                    Err(e) => {
                        prop_assert_eq!(e.current, before);
                        prop_assert_eq!(e.attempted, action.kind());
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
                // An outcome is only ever reached through acceptance and processing,
                // and 已办结 only through 反馈.
                visited.push(state);
                if state.outcome().is_some() {
                    prop_assert!(visited.contains(&CaseState::AwaitingProcessing));
                }
                if let CaseState::Completed(outcome) = state {
                    prop_assert!(visited.contains(&CaseState::AwaitingFeedback(outcome)));
                }
                if state == CaseState::Refused {
                    prop_assert!(!visited.contains(&CaseState::AwaitingProcessing));
                }
            }
        }

        #[test]
        fn the_effective_start_is_an_opening_not_before_receipt(
            day in 0i64..500, minute in 0u32..(24 * 60)
        ) {
            let cal = calendar();
            let w = window();
            let received = (date(2026, 1, 1) + chrono::Duration::days(day))
                .and_hms_opt(minute / 60, minute % 60, 0)
                .expect("time");
            let start = effective_start(received, &cal, &w).expect("start").into_value();
            prop_assert!(start.opens_at >= received);
            prop_assert_eq!(start.opens_at.date(), start.date);
            prop_assert!(*cal.is_working_day(start.date).value());
            prop_assert!(w.is_open_at(Weekday::Mon, start.opens_at.time()));
            // Nothing opens in between: every working day before is closed after receipt.
            let mut d = received.date();
            while d < start.date {
                let working = *cal.is_working_day(d).value();
                if d == received.date() {
                    let closing = NaiveTime::from_hms_opt(16, 0, 0).expect("16:00");
                    prop_assert!(!working || received.time() >= closing);
                } else {
                    prop_assert!(!working);
                }
                d = d.succ_opt().expect("next");
            }
            prop_assert_eq!(start.within_hours, start.opens_at == received);
        }
    }
}
