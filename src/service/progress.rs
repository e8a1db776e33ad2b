//! 办理进度查询 — the public progress query: by application number **and**
//! ID number **and** name, all three matching; the answer never tells which
//! one was wrong, and the route is rate-limited per client against
//! enumeration (`hardening::LIMITED_ROUTES`). Identifiers travel in the body
//! only.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use sscard_crypto::constant_time_eq;
use sscard_domain::case::CaseState;
use sscard_domain::identifiers::{CardNumber, IdNumber};
use sscard_domain::mask;

use super::cases::{CaseCaller, normalize_application_no};
use super::registry::ID_NUMBER_INDEX;
use super::{FieldError, ServiceError, ServiceResult, Services};
use crate::store::cases as rows;

/// The body of `POST /api/v1/progress`.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProgressQuery {
    #[serde(default)]
    #[schema(example = "SQ-20261127-000001")]
    pub application_no: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub name: String,
}

impl std::fmt::Debug for ProgressQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressQuery").finish_non_exhaustive()
    }
}

/// One step of the process as the public sees it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProgressStep {
    pub action_label: String,
    pub occurred_at: DateTime<Utc>,
    pub to_state_label: String,
}

/// What a progress query shows: masked, no opinions or reasons beyond the
/// outcome.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProgressView {
    pub application_no: String,
    pub item_name: String,
    /// The applicant's name, masked (e.g. `韦*`).
    pub applicant_name_masked: String,
    pub card_number_masked: String,
    pub status: String,
    pub status_label: String,
    /// The step whose clock runs now, e.g. 审查与决定.
    pub current_step_label: Option<String>,
    pub step_due: Option<NaiveDate>,
    pub overdue: bool,
    pub deadline: Option<NaiveDate>,
    pub steps_done: Vec<ProgressStep>,
    pub delivery_method_label: String,
    /// e.g. 已寄出 (快递, with the carrier and waybill), 已领取, 已发布.
    pub delivery_status: Option<String>,
    /// The one-time notice's materials, while 补正中.
    pub missing_materials: Vec<String>,
}

const NO_MATCH: &str = "未找到与所填申请编号、身份证号码和姓名同时相符的办件。请核对三项信息（姓名须与身份证一致）后重试；仍有疑问请拨打 0772-7215670 或到综合受理窗口查询。";

impl Services {
    /// Answers a public progress query; see the module documentation.
    ///
    /// # Errors
    ///
    /// `Invalid VALIDATION_FAILED` for an empty field or an ID number that
    /// is not one (format only, which says nothing about any case);
    /// `NotFound PROGRESS_NOT_FOUND` when the three do not match one case.
    pub async fn query_progress(&self, query: &ProgressQuery) -> ServiceResult<ProgressView> {
        let mut errors = Vec::new();
        let application_no = normalize_application_no(&query.application_no);
        if application_no.is_empty() || application_no.len() > 40 {
            errors.push(FieldError::new(
                "application_no",
                "APPLICATION_NO_REQUIRED",
                "请填写申请编号（受理回执或短信中的编号，例如 SQ-20261127-000001）。",
            ));
        }
        let id_number = match IdNumber::parse(&query.id_number) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(FieldError::new(
                    "id_number",
                    e.code(),
                    format!("身份证号码：{e}"),
                ));
                None
            }
        };
        let name = query.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new(
                "name",
                "NAME_EMPTY",
                "请填写申请人姓名（与身份证一致）。",
            ));
        }
        let Some(id_number) = id_number.filter(|_| errors.is_empty()) else {
            return Err(super::registry::invalid(
                "查询信息填写有误，请按提示修改。",
                errors,
            ));
        };
        let index = self
            .keyring()
            .blind_index(ID_NUMBER_INDEX, id_number.as_str());
        let mut conn = self.connection().await?;
        let case = rows::case_by_number(&mut conn, &application_no).await?;
        // Both comparisons always run, against a dummy when there is no
        // case, so the answer's timing does not single out a wrong field.
        let (stored_index, stored_name) = case.as_ref().map_or_else(
            || ("-".repeat(index.len()), String::new()),
            |c| (c.applicant_index.clone(), c.applicant_name.clone()),
        );
        let index_matches = constant_time_eq(stored_index.as_bytes(), index.as_bytes());
        let name_matches = constant_time_eq(stored_name.as_bytes(), name.as_bytes());
        let case = match case {
            Some(case) if index_matches & name_matches => case,
            _ => {
                return Err(ServiceError::NotFound {
                    code: "PROGRESS_NOT_FOUND",
                    detail: NO_MATCH.to_owned(),
                });
            }
        };
        // The full view as staff would load it, then reduced to what the
        // public may see.
        let staff_view = self
            .view_of_case(conn, case.clone(), CaseCaller::Public)
            .await?;
        let state = CaseState::from_codes(&staff_view.status, staff_view.outcome.as_deref());
        let delivery_status = staff_view.delivery.as_ref().map(|d| {
            match (
                d.get("method").and_then(|m| m.as_str()),
                d.get("carrier").and_then(|c| c.as_str()),
                d.get("waybill_no").and_then(|w| w.as_str()),
            ) {
                // 已寄出, 已签收 or 退回, as the 反馈岗 last recorded it.
                (Some("express"), Some(carrier), Some(waybill)) => format!(
                    "{}（{carrier}，运单号 {waybill}，邮费由政府支付）",
                    d.get("delivery_status_label")
                        .and_then(|l| l.as_str())
                        .unwrap_or("已寄出")
                ),
                (Some("window"), _, _) => "已在窗口领取".to_owned(),
                _ => "已发布到网上办事账户".to_owned(),
            }
        });
        Ok(ProgressView {
            application_no: staff_view.application_no,
            item_name: staff_view.item_name,
            applicant_name_masked: mask_name(&staff_view.applicant_name),
            card_number_masked: CardNumber::parse(&case.card_number)
                .map_or_else(|_| "*********".to_owned(), |c| c.masked()),
            status: staff_view.status,
            status_label: state.map_or(staff_view.status_label, CaseState::full_label_zh),
            current_step_label: staff_view.current_step_label,
            step_due: staff_view.step_due,
            overdue: staff_view.overdue,
            deadline: staff_view.deadline,
            steps_done: staff_view
                .timeline
                .iter()
                .map(|s| ProgressStep {
                    action_label: s.action_label.clone(),
                    occurred_at: s.occurred_at,
                    to_state_label: s.to_state_label.clone(),
                })
                .collect(),
            delivery_method_label: staff_view.delivery_method_label,
            delivery_status,
            missing_materials: staff_view
                .notice
                .map(|n| n.items.into_iter().map(|i| i.name).collect())
                .unwrap_or_default(),
        })
    }
}

/// A name with all but its first (and, from three characters, its last)
/// character hidden: `韦*`, `黄*明`.
pub(crate) fn mask_name(name: &str) -> String {
    let keep_end = usize::from(name.chars().count() > 2);
    mask::mask_middle(name, 1, keep_end)
}
