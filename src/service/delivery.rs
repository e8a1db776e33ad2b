//! After 送达: the express delivery status the 反馈岗 records (已寄出 →
//! 已签收 / 退回 → 重新寄出; rules in [`sscard_domain::delivery`]), and the
//! staff's look-up of a case by application number or ID number for phone
//! and on-site progress queries (电话查询、现场查询), each look-up audited.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sscard_domain::access::Role;
use sscard_domain::delivery::{ExpressChange, ExpressStatus, parse_carrier, parse_waybill};
use sscard_domain::identifiers::IdNumber;

use super::accounts::{Client, Principal};
use super::cases::{
    CaseCaller, CaseSummary, CaseView, DELIVERY_STATUS_ACTION, DeliveryMethod,
    normalize_application_no, state_of, summary_of,
};
use super::notifications::{self, NotificationKind};
use super::registry::{ID_NUMBER_INDEX, corrupt, invalid};
use super::{FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::today_in_china;
use crate::store::cases::{self as case_rows, CaseFilter, StepRow};
use crate::store::feedback as rows;

/// The longest note on a delivery status, in characters.
pub const MAX_DELIVERY_NOTE_CHARS: usize = 200;

/// The body of `POST /api/v1/applications/{application_no}/delivery-status`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeliveryStatusInput {
    /// `signed` (已签收), `returned` (退回) or `resent` (重新寄出, after a
    /// return, with a new carrier and waybill).
    #[serde(default)]
    #[schema(example = "signed")]
    pub change: String,
    /// 说明: who signed, why it came back (required for `returned`) …
    #[serde(default)]
    pub note: Option<String>,
    /// `resent`: the carrier.
    #[serde(default)]
    pub carrier: Option<String>,
    /// `resent`: the new waybill number.
    #[serde(default)]
    pub waybill_no: Option<String>,
}

/// The body of `POST /api/v1/applications/lookup`: one of the two.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CaseLookup {
    /// 申请编号, as on the applicant's receipt or SMS.
    #[serde(default)]
    pub application_no: Option<String>,
    /// 申请人身份证号码 (in the body, never in a URL).
    #[serde(default)]
    pub id_number: Option<String>,
}

impl std::fmt::Debug for CaseLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseLookup").finish_non_exhaustive()
    }
}

/// What a look-up found.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LookupResult {
    /// `application_no` or `id_number`.
    pub searched_by: String,
    /// What was searched, masked (an ID number as `450221********123X`).
    pub query_masked: String,
    pub cases: Vec<CaseSummary>,
}

/// At most this many cases of one applicant are listed.
const LOOKUP_LIMIT: i64 = 100;

impl Services {
    /// Records a change of a posted result's delivery status; it joins the
    /// case's timeline, and a re-sent result sends the applicant a dispatch
    /// SMS (after the commit).
    ///
    /// # Errors
    ///
    /// `Forbidden ROLE_NOT_PERMITTED_FOR_STEP` (反馈岗 only),
    /// `NotFound APPLICATION_NOT_FOUND`, `Conflict DELIVERY_NOT_EXPRESS`,
    /// `Conflict DELIVERY_STATUS_CONFLICT`, `Invalid` for the change, note,
    /// carrier or waybill.
    pub async fn record_delivery_status(
        &self,
        principal: &Principal,
        application_no: &str,
        input: &DeliveryStatusInput,
        client: &Client,
    ) -> ServiceResult<CaseView> {
        if !principal.has_role(Role::Feedback) {
            return Err(ServiceError::Forbidden {
                code: "ROLE_NOT_PERMITTED_FOR_STEP",
                detail: "寄送状态由反馈岗人员登记。".to_owned(),
            });
        }
        let application_no = normalize_application_no(application_no);
        let actor = principal.actor(client);
        let (change, note, resend) = check_delivery_input(input)?;
        let now = Utc::now();

        let mut tx = self.store().begin().await?;
        case_rows::lock_case(&mut tx, &application_no).await?;
        let case = case_rows::case_by_number(&mut tx, &application_no)
            .await?
            .ok_or_else(|| application_not_found(&application_no))?;
        let state = state_of(&case)?;
        let detail: Option<serde_json::Value> = case
            .delivery_detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let express =
            DeliveryMethod::from_code(&case.delivery_method) == Some(DeliveryMethod::Express);
        let (Some(mut detail), true, true) = (detail, express, state.is_terminal()) else {
            drop(tx);
            return Err(ServiceError::Conflict {
                code: "DELIVERY_NOT_EXPRESS",
                detail: "只有选择快递寄送、且已登记寄出的办件才能登记寄送状态。".to_owned(),
            });
        };
        let current = detail
            .get("delivery_status")
            .and_then(|s| s.as_str())
            .map_or(Some(ExpressStatus::Posted), ExpressStatus::from_code)
            .ok_or_else(|| corrupt("cases.delivery_detail", "delivery_status"))?;
        let next = match current.apply(change) {
            Ok(next) => next,
            Err(error) => {
                let detail = serde_json::json!({
                    "application_no": case.application_no,
                    "status": current.code(),
                    "change": change.code(),
                    "code": error.code(),
                });
                let error = ServiceError::Conflict {
                    code: error.code(),
                    detail: error.to_string(),
                };
                return self
                    .commit_refusal(
                        tx,
                        &actor,
                        "case.delivery_status",
                        &format!("case:{}", case.id),
                        detail,
                        error,
                    )
                    .await;
            }
        };
        // The case's delivery record says where the result is now.
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("delivery_status".to_owned(), next.code().into());
            fields.insert("delivery_status_label".to_owned(), next.label_zh().into());
            fields.insert("status_updated_at".to_owned(), serde_json::json!(now));
            if let Some((carrier, waybill)) = &resend {
                fields.insert("carrier".to_owned(), carrier.clone().into());
                fields.insert("waybill_no".to_owned(), waybill.clone().into());
                fields.insert("posted_at".to_owned(), serde_json::json!(now));
            }
        }
        let mut step_detail = serde_json::json!({
            "change": change.code(),
            "change_label": change.label_zh(),
            "delivery_status": next.code(),
            "delivery_status_label": next.label_zh(),
            "occurred_at": now,
        });
        if let (Some((carrier, waybill)), Some(fields)) = (&resend, step_detail.as_object_mut()) {
            fields.insert("carrier".to_owned(), carrier.clone().into());
            fields.insert("waybill_no".to_owned(), waybill.clone().into());
            fields.insert("paid_by_label".to_owned(), "政府支付".into());
        }
        if !rows::update_delivery_detail(&mut tx, &case.id, case.version, &detail.to_string(), now)
            .await?
        {
            drop(tx);
            return Err(ServiceError::Conflict {
                code: "CASE_STATE_CONFLICT",
                detail: "办件刚被其他人更新，请刷新后重新登记。".to_owned(),
            });
        }
        let step_seq = case_rows::insert_step(
            &mut tx,
            &StepRow {
                id: uuid::Uuid::new_v4().to_string(),
                case_id: case.id.clone(),
                seq: 0,
                action: DELIVERY_STATUS_ACTION.to_owned(),
                from_state: Some(case.state.clone()),
                to_state: case.state.clone(),
                outcome: case.outcome.clone(),
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                actor_name: staff_name(principal),
                occurred_at: now,
                opinion: note.clone(),
                code: None,
                detail: Some(step_detail.to_string()),
                next_due: None,
            },
        )
        .await?;
        let notice = match &resend {
            Some((carrier, waybill)) => Some(
                self.queue_notification(
                    &mut tx,
                    &case,
                    step_seq,
                    NotificationKind::Dispatched,
                    &notifications::dispatched_text(&case.application_no, carrier, waybill),
                    now,
                )
                .await?,
            ),
            None => None,
        };
        self.record_audit(
            &mut tx,
            &actor,
            "case.delivery_status",
            &format!("case:{}", case.id),
            Outcome::Succeeded,
            serde_json::json!({
                "application_no": case.application_no,
                "from": current.code(),
                "to": next.code(),
                "change": change.code(),
            }),
        )
        .await?;
        commit(tx).await?;
        if let Some(id) = notice {
            self.send_notifications(&[id]).await;
        }
        self.application(CaseCaller::Staff(principal), &application_no)
            .await
    }

    /// 电话查询、现场查询: staff look cases up by application number or by
    /// the applicant's ID number; every look-up is audited (who, what was
    /// searched — masked — and how many cases were found), found or not.
    ///
    /// # Errors
    ///
    /// `Invalid LOOKUP_QUERY_REQUIRED` without exactly one of the two,
    /// `Invalid` for an ID number that is not one.
    pub async fn look_up_cases(
        &self,
        principal: &Principal,
        query: &CaseLookup,
        client: &Client,
    ) -> ServiceResult<LookupResult> {
        let application_no = query
            .application_no
            .as_deref()
            .map(normalize_application_no)
            .filter(|n| !n.is_empty());
        let id_number = query
            .id_number
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let today = today_in_china();
        let mut conn = self.connection().await?;
        let (searched_by, query_masked, cases) = match (application_no, id_number) {
            (Some(no), None) => {
                if no.chars().count() > 40 {
                    return Err(lookup_required());
                }
                let found = case_rows::case_by_number(&mut conn, &no).await?;
                ("application_no", no, found.into_iter().collect::<Vec<_>>())
            }
            (None, Some(id)) => {
                let id = IdNumber::parse(id).map_err(|e| {
                    invalid(
                        "身份证号码有误。",
                        vec![FieldError::new(
                            "id_number",
                            e.code(),
                            format!("身份证号码：{e}"),
                        )],
                    )
                })?;
                let index = self.keyring().blind_index(ID_NUMBER_INDEX, id.as_str());
                let found = case_rows::list_cases(
                    &mut conn,
                    &CaseFilter {
                        applicant_index: Some(index),
                        limit: LOOKUP_LIMIT,
                        ..CaseFilter::default()
                    },
                )
                .await?;
                ("id_number", id.masked(), found)
            }
            _ => return Err(lookup_required()),
        };
        drop(conn);
        let mut cases = cases
            .iter()
            .map(|case| summary_of(case, today))
            .collect::<ServiceResult<Vec<_>>>()?;
        cases.sort_by_key(|case| std::cmp::Reverse(case.received_at));
        let actor = principal.actor(client);
        let mut tx = self.store().begin().await?;
        self.record_audit(
            &mut tx,
            &actor,
            "case.lookup",
            "cases:lookup",
            Outcome::Succeeded,
            serde_json::json!({
                "by": searched_by,
                "query": query_masked,
                "results": cases.len(),
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(LookupResult {
            searched_by: searched_by.to_owned(),
            query_masked,
            cases,
        })
    }
}

fn lookup_required() -> ServiceError {
    invalid(
        "请填写申请编号或申请人身份证号码（二选一）。",
        vec![FieldError::new(
            "application_no",
            "LOOKUP_QUERY_REQUIRED",
            "请填写申请编号（例如 SQ-20261127-000001）或申请人身份证号码，二者填写其一。",
        )],
    )
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

fn staff_name(staff: &Principal) -> String {
    if staff.display_name.trim().is_empty() {
        staff.username.clone()
    } else {
        format!("{}（{}）", staff.display_name, staff.username)
    }
}

/// The change, its note and, for a re-sent result, the carrier and waybill.
#[allow(clippy::type_complexity)]
fn check_delivery_input(
    input: &DeliveryStatusInput,
) -> ServiceResult<(ExpressChange, Option<String>, Option<(String, String)>)> {
    let mut errors = Vec::new();
    let change = ExpressChange::from_code(&input.change);
    if change.is_none() {
        errors.push(FieldError::new(
            "change",
            "DELIVERY_CHANGE_INVALID",
            "请选择寄送状态：已签收（signed）、退回（returned）或重新寄出（resent）。",
        ));
    }
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(note) = note
        && (note.chars().count() > MAX_DELIVERY_NOTE_CHARS
            || note.chars().any(|c| c.is_control() && c != '\n'))
    {
        errors.push(FieldError::new(
            "note",
            "TEXT_INVALID",
            format!("说明请控制在 {MAX_DELIVERY_NOTE_CHARS} 字以内，且不含控制字符。"),
        ));
    }
    if change == Some(ExpressChange::Returned) && note.is_none() {
        errors.push(FieldError::new(
            "note",
            "RETURN_REASON_REQUIRED",
            "请写明退回原因，例如“地址不详”“收件人拒收”。",
        ));
    }
    let mut resend = None;
    if change.is_some_and(ExpressChange::needs_waybill) {
        let carrier = parse_carrier(input.carrier.as_deref().unwrap_or_default());
        let waybill = parse_waybill(input.waybill_no.as_deref().unwrap_or_default());
        if carrier.is_none() {
            errors.push(FieldError::new(
                "carrier",
                "CARRIER_REQUIRED",
                "请填写快递公司（30字以内），例如中国邮政EMS。",
            ));
        }
        if waybill.is_none() {
            errors.push(FieldError::new(
                "waybill_no",
                "WAYBILL_INVALID",
                "请填写重新寄出的快递运单号（6–30位字母或数字）。",
            ));
        }
        resend = carrier.zip(waybill);
    }
    match change {
        Some(change) if errors.is_empty() => Ok((change, note.map(str::to_owned), resend)),
        _ => Err(invalid("寄送状态登记有误，请按提示修改。", errors)),
    }
}
