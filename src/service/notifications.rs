//! 短信通知 — the text messages a case sends its applicant: at acceptance
//! (受理), with a one-time notice (一次性告知, listing what is missing), at
//! refusal (不予受理), when the result is ready (办理完成) and when it is
//! posted (寄出, with the carrier and waybill). All go through the one
//! gateway ([`super::sms::SmsGateway`]) to the mobile number on the sealed
//! application form.
//!
//! # Decision: a transactional outbox
//!
//! The notice is written to `case_notifications` inside the action's own
//! transaction (status `pending`, the number masked, the text — which names
//! no person), and sent only after that transaction commits. So:
//!
//! - a gateway that fails or hangs never rolls back, delays the commit of,
//!   or half-writes a case action: the action stands, the notice is marked
//!   `failed` with the gateway's reason and shown so in the case's timeline;
//! - a notice is never sent for an action that did not commit;
//! - a notice left `pending` (the process stopped between the commit and the
//!   send) or `failed` is retried by [`Services::resend_unsent_notifications`],
//!   which the server runs every minute, up to [`MAX_ATTEMPTS`] times.
//!
//! Every send — right after the action, or by the resender — first claims
//! the notice in a short transaction of its own (migration 0013): status
//! `sending`, a lease ([`SEND_LEASE`]) and the attempt counted; only an
//! unsent notice or one whose lease has run out can be claimed (on
//! PostgreSQL the resender picks with `FOR UPDATE SKIP LOCKED`). So two
//! nodes never send the same notice at once, and a node killed mid-send
//! leaves it to another once the lease has passed. The outcome is written
//! only while the claim is still the sender's. Delivery is at least once:
//! a crash after the gateway accepted but before `sent` was written sends
//! again after the lease.
//!
//! The send bookkeeping (status, attempts) is not a use case of its own and
//! writes no audit entry; the notice's creation is part of the audited
//! action, and the text is stored on the case, shown in its timeline with
//! the masked number.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sscard_domain::case::CaseActionKind;
use sscard_domain::identifiers::MobileNumber;

use super::{ServiceResult, Services};
use crate::store::cases::CaseRow;
use crate::store::feedback::{self as rows, NotificationRow};
use crate::store::{StoreError, Tx};

/// How many times a notice is tried before it stays `failed`.
pub const MAX_ATTEMPTS: i64 = 5;
/// Notices younger than this are left to the request that wrote them.
pub const RESEND_AFTER: Duration = Duration::seconds(30);
/// How long a sender holds a claimed notice: the gateway's timeout
/// ([`super::sms::HTTP_TIMEOUT`], 10 s) with a wide margin. A sender that
/// stops mid-send leaves the notice to another after this.
pub const SEND_LEASE: Duration = Duration::minutes(2);
/// How many notices one run of the resender claims, one after another.
pub const RESEND_BATCH: usize = 100;

/// Why a notice was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    /// 受理通知.
    Accepted,
    /// 一次性告知.
    Notice,
    /// 不予受理通知.
    Refused,
    /// 办理完成通知.
    Completed,
    /// 寄出通知.
    Dispatched,
}

impl NotificationKind {
    pub const ALL: [Self; 5] = [
        Self::Accepted,
        Self::Notice,
        Self::Refused,
        Self::Completed,
        Self::Dispatched,
    ];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Notice => "notice",
            Self::Refused => "refused",
            Self::Completed => "completed",
            Self::Dispatched => "dispatched",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Accepted => "受理通知",
            Self::Notice => "一次性告知短信",
            Self::Refused => "不予受理通知",
            Self::Completed => "办理完成通知",
            Self::Dispatched => "寄出通知",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// The sending state of a notice: `pending`, `sending`, `sent`, `failed`,
/// `no_mobile`.
fn status_label(status: &str) -> &'static str {
    match status {
        "sent" => "已发送",
        "failed" => "发送失败",
        "sending" => "发送中",
        "no_mobile" => "未发送（申请表无有效手机号）",
        _ => "待发送",
    }
}

/// One SMS notice as the timeline shows it (number masked).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    /// `accepted`, `notice`, `refused`, `completed`, `dispatched`.
    pub kind: String,
    pub kind_label: String,
    /// The applicant's mobile number, masked, e.g. `138****5678`.
    pub mobile_masked: Option<String>,
    /// The text as sent.
    pub text: String,
    /// `pending`, `sending`, `sent`, `failed`, `no_mobile`.
    pub status: String,
    pub status_label: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl NotificationView {
    pub(crate) fn of(row: &NotificationRow) -> Self {
        Self {
            kind: row.kind.clone(),
            kind_label: NotificationKind::from_code(&row.kind)
                .map_or_else(|| row.kind.clone(), |k| k.label_zh().to_owned()),
            mobile_masked: row.mobile_masked.clone(),
            text: row.text.clone(),
            status: row.status.clone(),
            status_label: status_label(&row.status).to_owned(),
            created_at: row.created_at,
            sent_at: row.sent_at,
        }
    }
}

// ---------------------------------------------------------------------------
// The texts
// ---------------------------------------------------------------------------

const SIGNATURE: &str = "【柳江区人社局】";

/// 受理: accepted, with the promised completion date.
#[must_use]
pub fn accepted_text(application_no: &str, deadline: Option<NaiveDate>) -> String {
    let promise = deadline.map_or_else(String::new, |d| {
        format!("承诺办结日期 {}，", d.format("%Y-%m-%d"))
    });
    format!(
        "{SIGNATURE}您的社会保障卡启用申请（{application_no}）已受理，{promise}可凭申请编号、身份证号码和姓名查询办理进度。"
    )
}

/// 一次性告知: every missing or defective material at once.
#[must_use]
pub fn notice_text(application_no: &str, materials: &[String]) -> String {
    format!(
        "{SIGNATURE}您的社会保障卡启用申请（{application_no}）材料需要补正：{}。请登录办事页面或到综合受理窗口一次性补正，补正后重新进入受理。",
        materials.join("、")
    )
}

/// 不予受理.
#[must_use]
pub fn refused_text(application_no: &str) -> String {
    format!(
        "{SIGNATURE}您的社会保障卡启用申请（{application_no}）不予受理，原因请登录办事页面或到综合受理窗口查询。"
    )
}

/// 办理完成: the decision is made and the result waits for delivery.
#[must_use]
pub fn completed_text(application_no: &str, decision: CaseActionKind) -> String {
    let result = match decision {
        CaseActionKind::Approve => "社会保障卡社保功能已启用",
        CaseActionKind::ConfirmAlreadyActive => "经核实您的社会保障卡此前已启用，无需重复启用",
        _ => "审查未予通过，原因详见办理结果",
    };
    format!(
        "{SIGNATURE}您的社会保障卡启用申请（{application_no}）已办理完成：{result}。办理结果将按您选择的方式送达。"
    )
}

/// 寄出: posted by express, at government cost.
#[must_use]
pub fn dispatched_text(application_no: &str, carrier: &str, waybill_no: &str) -> String {
    format!(
        "{SIGNATURE}您的社会保障卡启用申请（{application_no}）办理结果已通过{carrier}寄出，运单号 {waybill_no}，邮费由政府支付，请注意查收。"
    )
}

// ---------------------------------------------------------------------------
// Writing and sending
// ---------------------------------------------------------------------------

impl Services {
    /// Writes a notice of `case`, caused by its timeline step `step_seq`,
    /// inside the action's transaction; gives its id, to send after the
    /// commit with [`Services::send_notifications`].
    pub(crate) async fn queue_notification(
        &self,
        tx: &mut Tx,
        case: &CaseRow,
        step_seq: i64,
        kind: NotificationKind,
        text: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<String> {
        let mobile = self.applicant_mobile(case);
        let row = NotificationRow {
            id: uuid::Uuid::new_v4().to_string(),
            case_id: case.id.clone(),
            step_seq,
            kind: kind.code().to_owned(),
            mobile_masked: mobile.as_ref().map(MobileNumber::masked),
            text: text.to_owned(),
            status: if mobile.is_some() {
                "pending"
            } else {
                "no_mobile"
            }
            .to_owned(),
            attempts: 0,
            last_error: None,
            created_at: now,
            sent_at: None,
        };
        rows::insert_notification(tx, &row).await?;
        Ok(row.id)
    }

    /// Sends committed notices now. Never fails: a notice that cannot be
    /// sent is marked `failed` (and retried later); the action stands.
    pub(crate) async fn send_notifications(&self, ids: &[String]) {
        for id in ids {
            if let Err(error) = self.send_notification(id).await {
                tracing::warn!(notification = %id, %error, "an SMS notice could not be processed");
            }
        }
    }

    /// Retries notices left `pending` or `failed` (fewer than
    /// [`MAX_ATTEMPTS`] tries) that are older than `min_age` (the server
    /// uses [`RESEND_AFTER`], leaving younger ones to the request that wrote
    /// them), and notices whose sender stopped mid-send (`sending`, lease run
    /// out); at most [`RESEND_BATCH`] per call, each claimed on its own;
    /// gives how many were sent. Any number of nodes may run it at once:
    /// each notice is claimed by one of them.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn resend_unsent_notifications(&self, min_age: Duration) -> ServiceResult<usize> {
        {
            let mut conn = self.connection().await?;
            let given_up =
                rows::fail_abandoned_notifications(&mut conn, Utc::now(), MAX_ATTEMPTS).await?;
            if given_up > 0 {
                tracing::warn!(
                    target: "sms",
                    given_up,
                    "SMS notices whose last try was cut off are given up as failed"
                );
            }
        }
        let mut sent = 0;
        for _ in 0..RESEND_BATCH {
            let now = Utc::now();
            let Some(row) = self.claim_notification(None, now - min_age).await? else {
                break;
            };
            if self.send_claimed(&row).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Claims one notice (`id`, or the oldest due one created before
    /// `created_before`) in a short transaction of its own: after the commit
    /// the notice is `sending` under this sender's lease for [`SEND_LEASE`].
    async fn claim_notification(
        &self,
        id: Option<&str>,
        created_before: DateTime<Utc>,
    ) -> ServiceResult<Option<NotificationRow>> {
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        let row = rows::claim_notification(
            &mut tx,
            self.store().backend(),
            id,
            created_before,
            now,
            now + SEND_LEASE,
            MAX_ATTEMPTS,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(row)
    }

    /// One attempt at one notice; true when the gateway accepted it.
    async fn send_notification(&self, id: &str) -> ServiceResult<bool> {
        match self.claim_notification(Some(id), Utc::now()).await? {
            Some(row) => self.send_claimed(&row).await,
            None => Ok(false),
        }
    }

    /// Sends a notice this sender has claimed, then writes the outcome (if
    /// the claim is still this sender's); true when the gateway accepted it.
    async fn send_claimed(&self, row: &NotificationRow) -> ServiceResult<bool> {
        let case = {
            let mut conn = self.connection().await?;
            crate::store::cases::case_by_id(&mut conn, &row.case_id).await?
        };
        let mobile = case.as_ref().and_then(|case| self.applicant_mobile(case));
        let outcome = match &mobile {
            None => (
                "no_mobile",
                Some("no usable mobile number on the form".to_owned()),
                None,
            ),
            Some(mobile) => match self.sms_gateway().send(mobile, &row.text).await {
                Ok(()) => ("sent", None, Some(Utc::now())),
                Err(error) => {
                    tracing::warn!(
                        target: "sms",
                        case = %row.case_id,
                        mobile = %mobile.masked(),
                        %error,
                        "an SMS notice was not accepted by the gateway; the case action stands"
                    );
                    ("failed", Some(error.to_string()), None)
                }
            },
        };
        let mut conn = self.connection().await?;
        let recorded = rows::mark_notification(
            &mut conn,
            &row.id,
            row.attempts,
            outcome.0,
            outcome.1.as_deref(),
            outcome.2,
        )
        .await?;
        if !recorded {
            tracing::warn!(
                target: "sms",
                notification = %row.id,
                outcome = outcome.0,
                "an SMS notice's send lease ran out before its outcome was written; another sender has it"
            );
        }
        Ok(outcome.0 == "sent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_name_the_case_not_the_person() {
        let no = "SQ-20261127-000001";
        let date = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert!(accepted_text(no, Some(date)).contains("已受理，承诺办结日期 2026-11-30"));
        let notice = notice_text(
            no,
            &["《社会保障卡服务申请表》".to_owned(), "承诺书".to_owned()],
        );
        assert!(
            notice.contains("《社会保障卡服务申请表》、承诺书"),
            "{notice}"
        );
        assert!(completed_text(no, CaseActionKind::Approve).contains("社保功能已启用"));
        assert!(completed_text(no, CaseActionKind::Deny).contains("未予通过"));
        let posted = dispatched_text(no, "中国邮政EMS", "EM123456789CN");
        assert!(posted.contains("中国邮政EMS") && posted.contains("EM123456789CN"));
        assert!(posted.contains("邮费由政府支付"));
        for text in [notice, posted, refused_text(no)] {
            assert!(text.starts_with(SIGNATURE) && text.contains(no));
        }
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::from_code(kind.code()), Some(kind));
        }
    }
}
