//! 办件 — the staff pages of the activation case: the queues of the
//! workbench (待受理, 补正中, 待经办, 待反馈, 超期), the case page with its
//! facts, deadlines, materials (scans open in the browser), timeline and a
//! form for each action the clerk may take now, and the window entry of a
//! walk-in's 《社会保障卡服务申请表》 with its pre-check (预审).
//!
//! Every form is a plain POST answered by a `303` to the case page; a
//! refusal of the service is shown on the page next to the form that caused
//! it, in the service's own Chinese words, with what was typed kept.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use sscard_domain::access::Role;
use sscard_domain::case::{
    CaseActionKind, Circumstances, NOT_INSURED_IN_LIUZHOU, required_materials,
};

use super::not_found_page;
use super::staff::{Fields, StaffNav, see_other, service_error_page};
use crate::clock::{china_offset, to_china};
use crate::http::AppState;
use crate::http::api::applications::file_response;
use crate::http::auth::Session;
use crate::http::problem::Problem;
use crate::service::accounts::{Client, Principal};
use crate::service::cases::{
    ActionInput, AgentInput, ApplicantInput, ApplicationInput, CaseCaller, CaseSummary, CaseView,
    DeliveryInput, DeliveryMethod, DeliveryRecordInput, MaterialInput, PrecheckReport, Queue,
    QueueCount, StepView, action_from_path, action_path, normalize_application_no,
};
use crate::service::delivery::{CaseLookup, DeliveryStatusInput, LookupResult};
use crate::service::notifications::NotificationView;
use crate::service::ratings::RatingInput;
use crate::service::{FieldError, ServiceError};
use sscard_domain::delivery::{ExpressChange, ExpressStatus};
use sscard_domain::rating::RatingLevel;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cases", get(queues))
        .route("/cases/find", get(find).post(find_post))
        .route("/cases/new", get(new_form).post(new_post))
        .route("/cases/{application_no}", get(case_page))
        .route(
            "/cases/{application_no}/materials/{code}",
            get(material_scan),
        )
        .route("/cases/{application_no}/rating", post(rate))
        .route(
            "/cases/{application_no}/delivery-status",
            post(delivery_status),
        )
        .route("/cases/{application_no}/{action}", post(act))
}

/// At most this many lines of each queue on the queue page, and of one
/// queue chosen with `?queue=`.
const QUEUE_LIMIT: i64 = 50;
const SINGLE_QUEUE_LIMIT: i64 = 300;

// ---------------------------------------------------------------------------
// Queues

/// The queues a person works through, their own first: the 受理岗 待受理 and
/// 补正中, the 经办岗 待经办, the 反馈岗 待反馈; supervisors and
/// administrators 超期 first. Only they see the 超期 list; a clerk sees a
/// case past due flagged in their own queue.
pub fn queue_order(principal: &Principal) -> Vec<Queue> {
    let overseer = principal.has_role(Role::Supervisor) || principal.has_role(Role::Admin);
    let mut order = Vec::new();
    if overseer {
        order.push(Queue::Overdue);
    }
    if principal.has_role(Role::Acceptor) {
        order.extend([Queue::Submitted, Queue::AwaitingSupplement]);
    }
    if principal.has_role(Role::Processor) {
        order.push(Queue::AwaitingProcessing);
    }
    if principal.has_role(Role::Feedback) {
        order.push(Queue::AwaitingFeedback);
    }
    for queue in [
        Queue::Submitted,
        Queue::AwaitingSupplement,
        Queue::AwaitingProcessing,
        Queue::AwaitingFeedback,
    ] {
        if !order.contains(&queue) {
            order.push(queue);
        }
    }
    order
}

/// One queue's count, as a link.
pub struct QueueLink {
    pub code: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub href: String,
    /// 超期: shown in the alert colour when not empty.
    pub alarming: bool,
}

/// The counts of `order`, then 已办结 and 不予受理 (`with_closed`).
pub fn queue_links(order: &[Queue], counts: &[QueueCount], with_closed: bool) -> Vec<QueueLink> {
    let mut queues = order.to_vec();
    if with_closed {
        queues.extend([Queue::Completed, Queue::Refused]);
    }
    queues
        .into_iter()
        .map(|queue| {
            let count = counts
                .iter()
                .find(|c| c.queue == queue.code())
                .map_or(0, |c| c.count);
            QueueLink {
                code: queue.code(),
                label: queue.label_zh(),
                count,
                href: format!("/cases?queue={}", queue.code()),
                alarming: queue == Queue::Overdue && count > 0,
            }
        })
        .collect()
}

struct QueueTable {
    code: &'static str,
    label: &'static str,
    count: i64,
    rows: Vec<QueueRow>,
    /// More cases wait than are shown.
    truncated: bool,
}

struct QueueRow {
    application_no: String,
    applicant: String,
    card_number_masked: String,
    channel: String,
    status: String,
    due: String,
    overdue: bool,
}

impl QueueRow {
    fn of(summary: &CaseSummary) -> Self {
        Self {
            application_no: summary.application_no.clone(),
            applicant: format!(
                "{}（{}）",
                summary.applicant_name, summary.applicant_id_number_masked
            ),
            card_number_masked: summary.card_number_masked.clone(),
            channel: if summary.has_agent {
                format!("{}（代办）", summary.channel_label)
            } else {
                summary.channel_label.clone()
            },
            status: summary.status_label.clone(),
            due: match summary.step_due {
                Some(due) => due.to_string(),
                None if summary.status == "awaiting_supplement" => "等待申请人补正".to_owned(),
                None => "—".to_owned(),
            },
            overdue: summary.overdue,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "cases.html")]
struct QueuesPage {
    staff: StaffNav,
    links: Vec<QueueLink>,
    tables: Vec<QueueTable>,
    /// One queue chosen with `?queue=`.
    single: bool,
    can_enter: bool,
}

#[derive(Debug, Default, Deserialize)]
struct QueueQuery {
    queue: Option<String>,
}

async fn queues(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<QueueQuery>,
) -> Response {
    let principal = &session.principal;
    let order = queue_order(principal);
    let counts = match state.services.queue_counts().await {
        Ok(counts) => counts,
        Err(error) => return service_error_page(&error),
    };
    let chosen = query.queue.as_deref().and_then(Queue::from_code);
    let shown: Vec<Queue> = match chosen {
        Some(queue) => vec![queue],
        None => order.clone(),
    };
    let mut tables = Vec::new();
    for queue in shown {
        let limit = if chosen.is_some() {
            SINGLE_QUEUE_LIMIT
        } else {
            QUEUE_LIMIT
        };
        let summaries = match state.services.application_queue(queue, limit).await {
            Ok(summaries) => summaries,
            Err(error) => return service_error_page(&error),
        };
        let count = counts
            .iter()
            .find(|c| c.queue == queue.code())
            .map_or(0, |c| c.count);
        tables.push(QueueTable {
            code: queue.code(),
            label: queue.label_zh(),
            count,
            truncated: count > i64::try_from(summaries.len()).unwrap_or(i64::MAX),
            rows: summaries.iter().map(QueueRow::of).collect(),
        });
    }
    QueuesPage {
        staff: StaffNav::of(principal),
        links: queue_links(&order, &counts, true),
        tables,
        single: chosen.is_some(),
        can_enter: principal.has_role(Role::Acceptor),
    }
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct FindQuery {
    application_no: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "cases_find.html")]
struct FindPage {
    staff: StaffNav,
    result: Option<LookupResult>,
    rows: Vec<QueueRow>,
    error: Option<String>,
}

/// 按申请编号打开: the number on the applicant's slip (电话查询、现场查询).
/// The look-up is audited; one case found opens it, none shows the find
/// page. Without a number: the find page.
async fn find(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Query(query): Query<FindQuery>,
) -> Response {
    let no: String = normalize_application_no(query.application_no.as_deref().unwrap_or_default())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    if no.is_empty() {
        return FindPage {
            staff: StaffNav::of(&session.principal),
            result: None,
            rows: Vec::new(),
            error: None,
        }
        .into_response();
    }
    look_up(
        &state,
        &session,
        &client,
        &CaseLookup {
            application_no: Some(no),
            id_number: None,
        },
    )
    .await
}

/// 按申请编号或身份证号码查找 (posted: an ID number never goes in a URL).
async fn find_post(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    fields: Fields,
) -> Response {
    let typed = fields.get("query").trim();
    // Anything that reads as an ID number is one; the rest is a number.
    let query = if sscard_domain::identifiers::IdNumber::parse(typed).is_ok() {
        CaseLookup {
            application_no: None,
            id_number: Some(typed.to_owned()),
        }
    } else {
        CaseLookup {
            application_no: Some(typed.to_owned()),
            id_number: None,
        }
    };
    look_up(&state, &session, &client, &query).await
}

async fn look_up(
    state: &AppState,
    session: &Session,
    client: &Client,
    query: &CaseLookup,
) -> Response {
    match state
        .services
        .look_up_cases(&session.principal, query, client)
        .await
    {
        Ok(result) if result.searched_by == "application_no" && result.cases.len() == 1 => {
            see_other(&format!("/cases/{}", result.cases[0].application_no))
        }
        Ok(result) => FindPage {
            staff: StaffNav::of(&session.principal),
            rows: result.cases.iter().map(QueueRow::of).collect(),
            result: Some(result),
            error: None,
        }
        .into_response(),
        Err(error @ ServiceError::Invalid { .. }) => {
            let problem = Problem::from(&error);
            (
                problem.status_code(),
                FindPage {
                    staff: StaffNav::of(&session.principal),
                    result: None,
                    rows: Vec::new(),
                    error: Some(
                        problem
                            .errors
                            .first()
                            .map_or(problem.detail.clone(), |e| e.message.clone()),
                    ),
                },
            )
                .into_response()
        }
        Err(error) => service_error_page(&error),
    }
}

// ---------------------------------------------------------------------------
// The case page

/// A radio button.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

fn choices(options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            checked: *value == current,
        })
        .collect()
}

/// The statuses a clerk records for a material; the own card may also be
/// verified through the e-certificate library (the guide's waiver).
fn material_options(waivable: bool) -> Vec<(&'static str, &'static str)> {
    let mut options = vec![
        ("submitted", "已提交"),
        ("missing", "缺少"),
        ("defective", "不符合要求"),
    ];
    if waivable {
        options.push(("verified_by_e_certificate", "电子证照核验通过"));
    }
    options
}

/// One material with the clerk's check.
struct MaterialCheck {
    code: String,
    name: String,
    /// Only when 委托代办 (entry form).
    agent_only: bool,
    waivable: bool,
    choices: Vec<Choice>,
    reason: String,
    error: Option<String>,
}

/// What went wrong with a posted form.
struct FormError {
    detail: String,
    messages: Vec<String>,
}

impl FormError {
    fn of(error: &ServiceError) -> Self {
        let problem = Problem::from(error);
        let messages = problem
            .errors
            .iter()
            .map(|e| e.message.clone())
            .filter(|m| !problem.detail.contains(m.as_str()))
            .collect();
        Self {
            detail: problem.detail,
            messages,
        }
    }
}

/// 受理 and 一次性告知: the check of every required material.
struct ReviewForm {
    can_accept: bool,
    can_notify: bool,
    materials: Vec<MaterialCheck>,
    opinion: String,
    error: Option<FormError>,
}

/// 不予受理 / 不予通过: a reason code and text, both optional where the rules
/// decide them.
struct ReasonForm {
    code: String,
    reason: String,
    opinion: String,
    error: Option<FormError>,
}

/// An action with only an opinion.
struct OpinionForm {
    opinion: String,
    error: Option<FormError>,
}

/// 补正登记: what the applicant brought to the window or posted.
struct SupplementForm {
    items: Vec<SupplyItem>,
    ways: Vec<Choice>,
    opinion: String,
    error: Option<FormError>,
}

struct SupplyItem {
    code: String,
    name: String,
    problem: String,
    checked: bool,
}

/// 送达: by the case's delivery method.
struct DeliverForm {
    method: &'static str,
    collectors: Vec<Choice>,
    collector_name: String,
    carrier: String,
    waybill_no: String,
    opinion: String,
    error: Option<FormError>,
}

#[derive(Default)]
struct Forms {
    review: Option<ReviewForm>,
    refuse: Option<ReasonForm>,
    supplement: Option<SupplementForm>,
    approve: Option<OpinionForm>,
    deny: Option<ReasonForm>,
    confirm: Option<OpinionForm>,
    deliver: Option<DeliverForm>,
}

impl Forms {
    fn of(case: &CaseView) -> Self {
        let allowed =
            |kind: CaseActionKind| case.allowed_actions.iter().any(|a| a == action_path(kind));
        let mut forms = Self::default();
        if allowed(CaseActionKind::Accept) || allowed(CaseActionKind::NotifyMissing) {
            forms.review = Some(ReviewForm {
                can_accept: allowed(CaseActionKind::Accept),
                can_notify: allowed(CaseActionKind::NotifyMissing),
                materials: case
                    .materials
                    .iter()
                    .map(|m| MaterialCheck {
                        code: m.code.clone(),
                        name: m.name.clone(),
                        agent_only: false,
                        waivable: m.waivable,
                        choices: choices(&material_options(m.waivable), &m.status),
                        reason: m.reason.clone().unwrap_or_default(),
                        error: None,
                    })
                    .collect(),
                opinion: String::new(),
                error: None,
            });
        }
        if allowed(CaseActionKind::Refuse) {
            forms.refuse = Some(ReasonForm {
                code: String::new(),
                reason: String::new(),
                opinion: String::new(),
                error: None,
            });
        }
        if allowed(CaseActionKind::Supplement) {
            let wanted: Vec<(String, String, String)> = match &case.notice {
                Some(notice) if !notice.items.is_empty() => notice
                    .items
                    .iter()
                    .map(|i| (i.code.clone(), i.name.clone(), i.message_zh.clone()))
                    .collect(),
                _ => case
                    .materials
                    .iter()
                    .map(|m| (m.code.clone(), m.name.clone(), m.status_label.clone()))
                    .collect(),
            };
            forms.supplement = Some(SupplementForm {
                items: wanted
                    .into_iter()
                    .map(|(code, name, problem)| SupplyItem {
                        code,
                        name,
                        problem,
                        checked: false,
                    })
                    .collect(),
                ways: choices(SUPPLY_WAYS, "window"),
                opinion: String::new(),
                error: None,
            });
        }
        if allowed(CaseActionKind::Approve) {
            forms.approve = Some(OpinionForm {
                opinion: String::new(),
                error: None,
            });
        }
        if allowed(CaseActionKind::Deny) {
            forms.deny = Some(ReasonForm {
                code: String::new(),
                reason: String::new(),
                opinion: String::new(),
                error: None,
            });
        }
        if allowed(CaseActionKind::ConfirmAlreadyActive) {
            forms.confirm = Some(OpinionForm {
                opinion: String::new(),
                error: None,
            });
        }
        if allowed(CaseActionKind::Deliver) {
            let method = DeliveryMethod::from_code(&case.delivery_method)
                .unwrap_or(DeliveryMethod::Window)
                .code();
            forms.deliver = Some(DeliverForm {
                method,
                collectors: choices(COLLECTORS, "holder"),
                collector_name: String::new(),
                carrier: String::new(),
                waybill_no: String::new(),
                opinion: String::new(),
                error: None,
            });
        }
        forms
    }

    /// Keeps what was posted for `kind` and shows `error` next to its form;
    /// `false` when the form is not on the page any more (the case moved on).
    fn show_error(&mut self, kind: CaseActionKind, fields: &Fields, error: &ServiceError) -> bool {
        let form_error = FormError::of(error);
        let opinion = fields.get("opinion").to_owned();
        match kind {
            CaseActionKind::Accept | CaseActionKind::NotifyMissing => {
                let Some(form) = &mut self.review else {
                    return false;
                };
                let field_errors = field_errors_of(error);
                for material in &mut form.materials {
                    let posted = fields.get(&format!("status.{}", material.code));
                    if !posted.is_empty() {
                        for choice in &mut material.choices {
                            choice.checked = choice.value == posted;
                        }
                    }
                    material.reason = fields.get(&format!("reason.{}", material.code)).to_owned();
                    material.error = field_errors
                        .iter()
                        .find(|e| {
                            e.field == format!("materials.{}", material.code)
                                || e.field
                                    .starts_with(&format!("materials.{}.", material.code))
                        })
                        .map(|e| e.message.clone());
                }
                // `materials[i]` names the i-th posted material.
                let posted_codes = posted_material_codes(fields);
                for e in &field_errors {
                    if let Some(code) = indexed_material(&e.field, &posted_codes)
                        && let Some(material) = form.materials.iter_mut().find(|m| m.code == code)
                    {
                        material.error = Some(e.message.clone());
                    }
                }
                form.opinion = opinion;
                form.error = Some(form_error);
            }
            CaseActionKind::Refuse | CaseActionKind::Deny => {
                let form = if kind == CaseActionKind::Refuse {
                    &mut self.refuse
                } else {
                    &mut self.deny
                };
                let Some(form) = form else {
                    return false;
                };
                form.code = fields.get("code").trim().to_owned();
                form.reason = fields.get("reason").to_owned();
                form.opinion = opinion;
                form.error = Some(form_error);
            }
            CaseActionKind::Supplement => {
                let Some(form) = &mut self.supplement else {
                    return false;
                };
                let supplied = fields.all("supplied");
                for item in &mut form.items {
                    item.checked = supplied.contains(&item.code);
                }
                form.ways = choices(SUPPLY_WAYS, fields.get("way"));
                form.opinion = opinion;
                form.error = Some(form_error);
            }
            CaseActionKind::Approve | CaseActionKind::ConfirmAlreadyActive => {
                let form = if kind == CaseActionKind::Approve {
                    &mut self.approve
                } else {
                    &mut self.confirm
                };
                let Some(form) = form else {
                    return false;
                };
                form.opinion = opinion;
                form.error = Some(form_error);
            }
            CaseActionKind::Deliver => {
                let Some(form) = &mut self.deliver else {
                    return false;
                };
                form.collectors = choices(COLLECTORS, fields.get("collected_by"));
                form.collector_name = fields.get("collector_name").to_owned();
                form.carrier = fields.get("carrier").to_owned();
                form.waybill_no = fields.get("waybill_no").to_owned();
                form.opinion = opinion;
                form.error = Some(form_error);
            }
        }
        // The rules decided against the step: prefill the decision they call for.
        match (kind, error.code()) {
            (CaseActionKind::Accept, NOT_INSURED_IN_LIUZHOU) => {
                if let Some(refuse) = &mut self.refuse {
                    refuse.code = NOT_INSURED_IN_LIUZHOU.to_owned();
                }
            }
            (CaseActionKind::Approve | CaseActionKind::ConfirmAlreadyActive, code)
                if code.starts_with("CARD_") =>
            {
                if let Some(deny) = &mut self.deny {
                    deny.code = code.to_owned();
                }
            }
            _ => {}
        }
        true
    }
}

const SUPPLY_WAYS: &[(&str, &str)] = &[("window", "窗口提交"), ("post", "邮寄送达")];
const COLLECTORS: &[(&str, &str)] = &[("holder", "本人领取"), ("agent", "他人代领")];

fn field_errors_of(error: &ServiceError) -> Vec<FieldError> {
    match error {
        ServiceError::Invalid { errors, .. } => errors.clone(),
        _ => Vec::new(),
    }
}

/// The material codes of `status.<code>` fields, in the order posted.
fn posted_material_codes(fields: &Fields) -> Vec<String> {
    fields
        .pairs()
        .filter_map(|(name, _)| name.strip_prefix("status."))
        .map(str::to_owned)
        .collect()
}

/// `materials[2].status` → the third posted material's code.
fn indexed_material<'a>(field: &str, codes: &'a [String]) -> Option<&'a str> {
    let rest = field.strip_prefix("materials[")?;
    let (index, _) = rest.split_once(']')?;
    codes.get(index.parse::<usize>().ok()?).map(String::as_str)
}

/// One entry of the timeline, ready to show.
struct TimelineRow {
    time: String,
    action: String,
    actor: String,
    state: String,
    opinion: Option<String>,
    code: Option<String>,
    notice: Vec<String>,
    delivery: Option<String>,
    next_due: Option<String>,
    sms: Vec<SmsLine>,
}

/// An SMS notice in the timeline (number masked).
pub struct SmsLine {
    pub label: String,
    pub mobile: String,
    pub status: String,
    pub status_label: String,
    pub text: String,
}

impl SmsLine {
    pub fn of(notice: &NotificationView) -> Self {
        Self {
            label: notice.kind_label.clone(),
            mobile: notice
                .mobile_masked
                .clone()
                .unwrap_or_else(|| "无手机号".to_owned()),
            status: notice.status.clone(),
            status_label: notice.status_label.clone(),
            text: notice.text.clone(),
        }
    }
}

impl TimelineRow {
    fn of(step: &StepView) -> Self {
        Self {
            time: to_china(step.occurred_at)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            action: step.action_label.clone(),
            actor: step.actor_name.clone(),
            state: step.to_state_label.clone(),
            opinion: step.opinion.clone(),
            code: step.code.clone(),
            notice: step
                .notice
                .as_ref()
                .map(|n| n.items.iter().map(|i| i.message_zh.clone()).collect())
                .unwrap_or_default(),
            delivery: step.delivery.as_ref().map(delivery_summary),
            next_due: step.next_due.map(|d| d.to_string()),
            sms: step.notifications.iter().map(SmsLine::of).collect(),
        }
    }
}

/// A delivery record in one line: how, to whom or by which waybill.
fn delivery_summary(record: &serde_json::Value) -> String {
    let text = |key: &str| record.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let mut parts = vec![text("method_label").to_owned()];
    if !text("delivery_status_label").is_empty() {
        parts.push(format!("寄送状态：{}", text("delivery_status_label")));
    }
    if !text("collector").is_empty() {
        parts.push(format!("领取人：{}", text("collector")));
    }
    if !text("waybill_no").is_empty() {
        parts.push(format!(
            "{} 运单号 {}（邮费{}）",
            text("carrier"),
            text("waybill_no"),
            text("paid_by_label")
        ));
    }
    if !text("note").is_empty() {
        parts.push(text("note").to_owned());
    }
    parts.retain(|p| !p.is_empty());
    parts.join("；")
}

/// A material with its scan link.
struct MaterialLine {
    code: String,
    name: String,
    status: String,
    status_code: String,
    reason: Option<String>,
    scan: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "case.html")]
struct CasePage {
    staff: StaffNav,
    case: CaseView,
    notice: Option<&'static str>,
    /// A refusal that belongs to no form on the page any more.
    error: Option<FormError>,
    /// The action that failed and the part of the page that says why.
    failed: Option<(&'static str, &'static str, &'static str)>,
    received_at: String,
    delivery: Option<String>,
    materials: Vec<MaterialLine>,
    timeline: Vec<TimelineRow>,
    forms: Forms,
    /// 好差评 given, as one line.
    rating: Option<RatingLine>,
    /// 窗口评价: a window clerk records the applicant's rating.
    rating_form: Option<RatingForm>,
    /// The express delivery status (反馈岗).
    delivery_status_form: Option<DeliveryStatusForm>,
    /// 不予受理 and 不予通过: the usual reason codes with their labels,
    /// offered as suggestions.
    refusal_suggestions: &'static [(&'static str, &'static str)],
    denial_suggestions: Vec<(&'static str, &'static str)>,
}

/// A case's rating.
pub struct RatingLine {
    pub level_label: String,
    pub bad: bool,
    pub comment: Option<String>,
    pub channel_label: String,
    pub rated_at: String,
    pub follow_up: Option<String>,
}

impl RatingLine {
    pub fn of(rating: &crate::service::ratings::RatingView) -> Self {
        Self {
            level_label: rating.level_label.clone(),
            bad: rating.level.is_bad(),
            comment: rating.comment.clone(),
            channel_label: rating.channel_label.clone(),
            rated_at: to_china(rating.rated_at)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            follow_up: rating.follow_up.as_ref().map(|f| {
                format!(
                    "已转整改回访：{}，时限 {}{}",
                    f.status_label,
                    f.due_on,
                    if f.overdue { "（已超期）" } else { "" }
                )
            }),
        }
    }
}

/// The five levels as radio buttons, best first.
pub fn level_choices(current: &str) -> Vec<Choice> {
    RatingLevel::ALL
        .into_iter()
        .map(|level| Choice {
            value: level.code(),
            label: level.label_zh(),
            checked: level.code() == current,
        })
        .collect()
}

/// 好差评 form.
pub struct RatingForm {
    pub levels: Vec<Choice>,
    pub comment: String,
    pub error: Option<String>,
}

/// 寄送状态 form.
struct DeliveryStatusForm {
    current: &'static str,
    changes: Vec<Choice>,
    note: String,
    carrier: String,
    waybill_no: String,
    error: Option<FormError>,
}

impl CasePage {
    fn new(session: &Session, case: CaseView, notice: Option<&'static str>) -> Self {
        let materials = case
            .materials
            .iter()
            .map(|m| MaterialLine {
                code: m.code.clone(),
                name: m.name.clone(),
                status: m.status_label.clone(),
                status_code: m.status.clone(),
                reason: m.reason.clone(),
                scan: m.upload.as_ref().map(|u| {
                    format!(
                        "{}（{}，{} KB）",
                        u.file_name,
                        match u.content_type.as_str() {
                            "application/pdf" => "PDF",
                            "image/jpeg" => "JPEG",
                            _ => "PNG",
                        },
                        (u.size_bytes + 1023) / 1024
                    )
                }),
            })
            .collect();
        let principal = &session.principal;
        let ended = matches!(case.status.as_str(), "completed" | "refused");
        let clerk = [Role::Acceptor, Role::Processor, Role::Feedback]
            .into_iter()
            .any(|role| principal.has_role(role));
        let rating_form = (ended && clerk && case.rating.is_none()).then(|| RatingForm {
            levels: level_choices(""),
            comment: String::new(),
            error: None,
        });
        let delivery_status_form = case
            .delivery
            .as_ref()
            .filter(|_| {
                case.status == "completed"
                    && case.delivery_method == DeliveryMethod::Express.code()
                    && principal.has_role(Role::Feedback)
            })
            .map(|d| {
                d.get("delivery_status")
                    .and_then(|s| s.as_str())
                    .and_then(ExpressStatus::from_code)
                    .unwrap_or(ExpressStatus::Posted)
            })
            .filter(|status| !status.available_changes().is_empty())
            .map(|status| DeliveryStatusForm {
                current: status.label_zh(),
                changes: status
                    .available_changes()
                    .into_iter()
                    .map(|change| Choice {
                        value: change.code(),
                        label: change.label_zh(),
                        checked: false,
                    })
                    .collect(),
                note: String::new(),
                carrier: String::new(),
                waybill_no: String::new(),
                error: None,
            });
        Self {
            staff: StaffNav::of(&session.principal),
            rating: case.rating.as_ref().map(RatingLine::of),
            rating_form,
            delivery_status_form,
            refusal_suggestions: &sscard_domain::case::REFUSAL_SUGGESTIONS,
            denial_suggestions: sscard_domain::case::DenialReason::ALL
                .iter()
                .map(|reason| (reason.code(), reason.label_zh()))
                .collect(),
            notice,
            error: None,
            failed: None,
            received_at: to_china(case.received_at)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            delivery: case.delivery.as_ref().map(delivery_summary),
            materials,
            timeline: case.timeline.iter().map(TimelineRow::of).collect(),
            forms: Forms::of(&case),
            case,
        }
    }
}

/// `?notice=` of the case page: a fixed code, never text to echo.
fn case_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "submitted" => "申请已录入（待受理）。请将申请编号告知申请人，可凭编号查询办理进度。",
        "accept" => "已受理，办件转入经办环节（待经办）。",
        "notify-missing" => "已出具一次性告知书，并已短信通知申请人一次性补正。办件转入补正中。",
        "supplement" => "已登记补正材料，办件重新进入受理（待受理）。",
        "refuse" => "已作出不予受理决定，并已短信通知申请人。",
        "approve" => {
            "已准予启用：该社会保障卡的社保功能已启用（正常）。办件转入反馈环节（待反馈）。"
        }
        "deny" => "已作出不予通过决定，办件转入反馈环节（待反馈）。",
        "confirm-already-active" => {
            "已确认该卡此前已启用，未重复启用。办件转入反馈环节（待反馈）。"
        }
        "deliver" => "已登记送达，办件已办结。",
        "rated" => "已登记申请人的评价。",
        "delivery-status" => "已登记寄送状态。",
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
struct CaseQuery {
    notice: Option<String>,
}

async fn case_page(
    State(state): State<AppState>,
    session: Session,
    Path(application_no): Path<String>,
    Query(query): Query<CaseQuery>,
) -> Response {
    match state
        .services
        .application(CaseCaller::Staff(&session.principal), &application_no)
        .await
    {
        Ok(case) => {
            CasePage::new(&session, case, case_notice(query.notice.as_deref())).into_response()
        }
        Err(error) => service_error_page(&error),
    }
}

/// A material's scan, shown in the browser (inline, sandboxed, not cached).
async fn material_scan(
    State(state): State<AppState>,
    session: Session,
    Path((application_no, code)): Path<(String, String)>,
) -> Response {
    let caller = CaseCaller::Staff(&session.principal);
    let case = match state.services.application(caller, &application_no).await {
        Ok(case) => case,
        Err(error) => return service_error_page(&error),
    };
    let Some(upload) = case
        .materials
        .iter()
        .find(|m| m.code == code)
        .and_then(|m| m.upload.as_ref())
    else {
        return not_found_page();
    };
    match state
        .services
        .upload_content(caller, &upload.upload_id)
        .await
    {
        Ok(content) => file_response(content),
        Err(error) => service_error_page(&error),
    }
}

/// The form of an action on the case page: its anchor and heading.
fn form_of(kind: CaseActionKind) -> (&'static str, &'static str) {
    match kind {
        CaseActionKind::Accept | CaseActionKind::NotifyMissing => ("review", "受理审查"),
        CaseActionKind::Supplement => ("supplement", "补正登记"),
        CaseActionKind::Refuse => ("refuse-action", "不予受理"),
        CaseActionKind::Approve => ("approve-action", "审查与决定"),
        CaseActionKind::Deny => ("deny-action", "不予通过"),
        CaseActionKind::ConfirmAlreadyActive => ("confirm-action", "确认此前已启用"),
        CaseActionKind::Deliver => ("deliver-action", "颁证与送达"),
    }
}

/// What a posted action form asks for.
fn action_input(kind: CaseActionKind, fields: &Fields) -> ActionInput {
    let mut input = ActionInput {
        opinion: fields.optional("opinion"),
        ..ActionInput::default()
    };
    match kind {
        CaseActionKind::Accept | CaseActionKind::NotifyMissing => {
            input.materials = posted_material_codes(fields)
                .into_iter()
                .map(|code| MaterialInput {
                    status: fields.optional(&format!("status.{code}")),
                    reason: fields.optional(&format!("reason.{code}")),
                    code,
                    upload_id: None,
                })
                .collect();
        }
        CaseActionKind::Refuse | CaseActionKind::Deny => {
            input.code = fields.optional("code").map(|c| c.to_ascii_uppercase());
            input.reason = fields.optional("reason");
        }
        CaseActionKind::Supplement => {
            input.materials = fields
                .all("supplied")
                .into_iter()
                .map(|code| MaterialInput {
                    code,
                    status: Some("submitted".to_owned()),
                    reason: None,
                    upload_id: None,
                })
                .collect();
            let way = match fields.get("way") {
                "post" => "邮寄补正",
                _ => "窗口补正",
            };
            input.opinion = Some(match input.opinion.take() {
                Some(opinion) => format!("{way}：{opinion}"),
                None => way.to_owned(),
            });
        }
        CaseActionKind::Approve | CaseActionKind::ConfirmAlreadyActive => {}
        CaseActionKind::Deliver => {
            input.delivery = Some(DeliveryRecordInput {
                collected_by: fields.optional("collected_by"),
                collector_name: fields.optional("collector_name"),
                collector_id_number: fields.optional("collector_id_number"),
                carrier: fields.optional("carrier"),
                waybill_no: fields.optional("waybill_no"),
            });
        }
    }
    input
}

/// Takes one action; on success back to the case page with what was done,
/// otherwise the case page with the service's message next to the form.
async fn act(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path((application_no, action)): Path<(String, String)>,
    fields: Fields,
) -> Response {
    let Some(kind) = action_from_path(&action) else {
        return not_found_page();
    };
    let caller = CaseCaller::Staff(&session.principal);
    let input = action_input(kind, &fields);
    let error = match state
        .services
        .act_on_application(caller, &application_no, kind, &input, &client)
        .await
    {
        Ok(case) => {
            return see_other(&format!(
                "/cases/{}?notice={}",
                case.application_no,
                action_path(kind)
            ));
        }
        Err(error) => error,
    };
    if matches!(
        error,
        ServiceError::Unavailable(_) | ServiceError::Internal(_) | ServiceError::NotFound { .. }
    ) {
        return service_error_page(&error);
    }
    let case = match state.services.application(caller, &application_no).await {
        Ok(case) => case,
        Err(error) => return service_error_page(&error),
    };
    let mut page = CasePage::new(&session, case, None);
    if page.forms.show_error(kind, &fields, &error) {
        let (anchor, section) = form_of(kind);
        page.failed = Some((kind.label_zh(), anchor, section));
    } else {
        page.error = Some(FormError::of(&error));
    }
    (Problem::from(&error).status_code(), page).into_response()
}

/// 窗口评价: a window clerk records the applicant's rating of an ended case.
async fn rate(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path(application_no): Path<String>,
    fields: Fields,
) -> Response {
    let caller = CaseCaller::Staff(&session.principal);
    let input = RatingInput {
        level: fields.get("level").to_owned(),
        comment: fields.optional("comment"),
    };
    let error = match state
        .services
        .rate_case(caller, &application_no, &input, &client)
        .await
    {
        Ok(rating) => {
            return see_other(&format!(
                "/cases/{}?notice=rated#rating",
                rating.application_no
            ));
        }
        Err(error) => error,
    };
    if matches!(
        error,
        ServiceError::Unavailable(_) | ServiceError::Internal(_) | ServiceError::NotFound { .. }
    ) {
        return service_error_page(&error);
    }
    let case = match state.services.application(caller, &application_no).await {
        Ok(case) => case,
        Err(error) => return service_error_page(&error),
    };
    let mut page = CasePage::new(&session, case, None);
    let problem = Problem::from(&error);
    match &mut page.rating_form {
        Some(form) => {
            form.levels = level_choices(fields.get("level"));
            form.comment = fields.get("comment").to_owned();
            form.error = Some(
                problem
                    .errors
                    .first()
                    .map_or_else(|| problem.detail.clone(), |e| e.message.clone()),
            );
            page.failed = Some(("登记评价", "rating", "办理评价"));
        }
        None => page.error = Some(FormError::of(&error)),
    }
    (problem.status_code(), page).into_response()
}

/// 寄送状态: the 反馈岗 records what happened to a posted result.
async fn delivery_status(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path(application_no): Path<String>,
    fields: Fields,
) -> Response {
    let input = DeliveryStatusInput {
        change: fields.get("change").to_owned(),
        note: fields.optional("note"),
        carrier: fields.optional("carrier"),
        waybill_no: fields.optional("waybill_no"),
    };
    let error = match state
        .services
        .record_delivery_status(&session.principal, &application_no, &input, &client)
        .await
    {
        Ok(case) => {
            return see_other(&format!(
                "/cases/{}?notice=delivery-status",
                case.application_no
            ));
        }
        Err(error) => error,
    };
    if matches!(
        error,
        ServiceError::Unavailable(_) | ServiceError::Internal(_) | ServiceError::NotFound { .. }
    ) {
        return service_error_page(&error);
    }
    let caller = CaseCaller::Staff(&session.principal);
    let case = match state.services.application(caller, &application_no).await {
        Ok(case) => case,
        Err(error) => return service_error_page(&error),
    };
    let mut page = CasePage::new(&session, case, None);
    match &mut page.delivery_status_form {
        Some(form) => {
            let posted = ExpressChange::from_code(fields.get("change"));
            for choice in &mut form.changes {
                choice.checked = posted.is_some_and(|c| c.code() == choice.value);
            }
            form.note = fields.get("note").to_owned();
            form.carrier = fields.get("carrier").to_owned();
            form.waybill_no = fields.get("waybill_no").to_owned();
            form.error = Some(FormError::of(&error));
            page.failed = Some(("登记寄送状态", "delivery-status", "寄送状态"));
        }
        None => page.error = Some(FormError::of(&error)),
    }
    (Problem::from(&error).status_code(), page).into_response()
}

// ---------------------------------------------------------------------------
// Window entry

/// A text field of the entry form.
struct Input {
    /// The form field, named as the service names it in its errors.
    name: &'static str,
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
    autocomplete: &'static str,
    maxlength: u32,
    hint: &'static str,
    error: Option<String>,
}

const fn input(
    name: &'static str,
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    maxlength: u32,
    hint: &'static str,
) -> Input {
    Input {
        name,
        id,
        label,
        kind,
        value: String::new(),
        autocomplete: "off",
        maxlength,
        hint,
        error: None,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "case_new.html")]
struct NewCasePage {
    staff: StaffNav,
    /// The idempotency key of this entry: a double submission gives one case.
    form_key: String,
    guide_version: u32,
    applicant: Vec<Input>,
    card: Vec<Input>,
    agent: Vec<Input>,
    channels: Vec<Choice>,
    channel_error: Option<String>,
    express: Vec<Input>,
    deliveries: Vec<Choice>,
    delivery_error: Option<String>,
    delivery: Vec<Input>,
    materials: Vec<MaterialCheck>,
    declaration: bool,
    declaration_error: Option<String>,
    /// The summary of what is wrong, and every problem.
    summary: Option<String>,
    problems: Vec<String>,
    /// The pre-check passed: what acceptance will ask for, if anything.
    precheck_ok: bool,
    precheck_notice: Vec<String>,
}

const CHANNELS: &[(&str, &str)] = &[
    ("window", "窗口办理（申请人或受委托人到窗口）"),
    ("express", "快递申请（收到寄来的申请材料）"),
];
const DELIVERIES: &[(&str, &str)] = &[
    ("window", "窗口领取"),
    ("online", "网上下载"),
    ("express", "快递寄送（邮费由政府支付）"),
];

impl NewCasePage {
    async fn blank(state: &AppState, session: &Session) -> Result<Self, ServiceError> {
        let guide = state.services.current_guide().await?.guide;
        let materials = required_materials(
            &guide,
            Circumstances {
                has_agent: true,
                is_employer_batch: false,
            },
        )
        .into_iter()
        .map(|m| MaterialCheck {
            code: m.code.clone(),
            name: m.name.clone(),
            agent_only: !required_materials(&guide, Circumstances::default())
                .iter()
                .any(|r| r.code == m.code),
            waivable: m.waivable,
            choices: choices(&material_options(m.waivable), ""),
            reason: String::new(),
            error: None,
        })
        .collect();
        Ok(Self {
            staff: StaffNav::of(&session.principal),
            form_key: uuid::Uuid::new_v4().to_string(),
            guide_version: guide.version,
            applicant: vec![
                input(
                    "applicant.name",
                    "applicant-name",
                    "申请人姓名",
                    "text",
                    50,
                    "须与身份证上的姓名完全一致。",
                ),
                input(
                    "applicant.id_number",
                    "applicant-id-number",
                    "社会保障号码（公民身份号码）",
                    "text",
                    30,
                    "",
                ),
                input(
                    "applicant.mobile",
                    "applicant-mobile",
                    "手机号码",
                    "tel",
                    20,
                    "用于接收办理进度短信。",
                ),
                input(
                    "applicant.address",
                    "applicant-address",
                    "联系地址（选填）",
                    "text",
                    200,
                    "",
                ),
            ],
            card: vec![input(
                "card_number",
                "card-number",
                "社会保障卡卡号",
                "text",
                20,
                "卡面上的 9 位卡号，例如 A12345678。",
            )],
            agent: vec![
                input("agent.name", "agent-name", "受委托人姓名", "text", 50, ""),
                input(
                    "agent.id_number",
                    "agent-id-number",
                    "受委托人身份证号码",
                    "text",
                    30,
                    "须查验受委托人本人的居民身份证原件。",
                ),
                input(
                    "agent.mobile",
                    "agent-mobile",
                    "受委托人手机号码",
                    "tel",
                    20,
                    "",
                ),
                input(
                    "agent.relation",
                    "agent-relation",
                    "与申请人关系",
                    "text",
                    20,
                    "例如配偶、子女、同事。",
                ),
            ],
            channels: choices(CHANNELS, "window"),
            channel_error: None,
            express: vec![
                input(
                    "inbound_waybill",
                    "inbound-waybill",
                    "寄来的快递运单号",
                    "text",
                    30,
                    "",
                ),
                input(
                    "received_at",
                    "received-at",
                    "收件时间（北京时间）",
                    "datetime-local",
                    20,
                    "不填则按当前时间；非工作时间收到的，时限从下一个工作时段起算。",
                ),
            ],
            deliveries: choices(DELIVERIES, "window"),
            delivery_error: None,
            delivery: vec![
                input(
                    "delivery.recipient",
                    "delivery-recipient",
                    "收件人",
                    "text",
                    50,
                    "",
                ),
                input(
                    "delivery.mobile",
                    "delivery-mobile",
                    "收件人电话",
                    "tel",
                    20,
                    "",
                ),
                input(
                    "delivery.address",
                    "delivery-address",
                    "邮寄地址",
                    "text",
                    200,
                    "省、市、区县、街道门牌。",
                ),
            ],
            materials,
            declaration: false,
            declaration_error: None,
            summary: None,
            problems: Vec::new(),
            precheck_ok: false,
            precheck_notice: Vec::new(),
        })
    }

    /// Puts back what was posted.
    fn keep(&mut self, fields: &Fields) {
        for input in self
            .applicant
            .iter_mut()
            .chain(&mut self.card)
            .chain(&mut self.agent)
            .chain(&mut self.express)
            .chain(&mut self.delivery)
        {
            input.value = fields.get(input.name).chars().take(300).collect();
        }
        self.channels = choices(CHANNELS, fields.get("channel"));
        self.deliveries = choices(DELIVERIES, fields.get("delivery.method"));
        for material in &mut self.materials {
            let posted = fields.get(&format!("status.{}", material.code));
            material.choices = choices(&material_options(material.waivable), posted);
            material.reason = fields.get(&format!("reason.{}", material.code)).to_owned();
        }
        self.declaration = !fields.get("declaration").is_empty();
        let key = fields.get("form_key");
        if uuid::Uuid::parse_str(key).is_ok() {
            key.clone_into(&mut self.form_key);
        }
    }

    /// Shows every problem: in the list at the top and next to its field.
    fn show(&mut self, errors: &[FieldError], material_codes: &[String]) {
        for error in errors {
            self.problems.push(error.message.clone());
            let field = match indexed_material(&error.field, material_codes) {
                Some(code) => format!("materials.{code}"),
                None => error.field.clone(),
            };
            if let Some(input) = self
                .applicant
                .iter_mut()
                .chain(&mut self.card)
                .chain(&mut self.agent)
                .chain(&mut self.express)
                .chain(&mut self.delivery)
                .find(|i| i.name == field)
            {
                input.error.get_or_insert_with(|| error.message.clone());
            } else if let Some(material) = self.materials.iter_mut().find(|m| {
                field == format!("materials.{}", m.code)
                    || field.starts_with(&format!("materials.{}.", m.code))
            }) {
                material.error.get_or_insert_with(|| error.message.clone());
            } else if field == "channel" {
                self.channel_error
                    .get_or_insert_with(|| error.message.clone());
            } else if field.starts_with("delivery") {
                self.delivery_error
                    .get_or_insert_with(|| error.message.clone());
            } else if field == "declaration" {
                self.declaration_error
                    .get_or_insert_with(|| error.message.clone());
            } else if field == "agent"
                && let Some(first) = self.agent.first_mut()
            {
                first.error.get_or_insert_with(|| error.message.clone());
            }
        }
    }
}

/// The entry form as the service reads it, the codes of the materials in
/// the order sent, and the problems only the page can see.
fn application_input(fields: &Fields) -> (ApplicationInput, Vec<String>, Vec<FieldError>) {
    let mut problems = Vec::new();
    let agent_fields = [
        "agent.name",
        "agent.id_number",
        "agent.mobile",
        "agent.relation",
    ];
    let has_agent = agent_fields.iter().any(|f| fields.optional(f).is_some());
    let channel = fields.optional("channel");
    let express = channel.as_deref() == Some("express");
    let received_at = match fields.optional("received_at") {
        Some(text) if express => match parse_local_time(&text) {
            Some(at) => Some(at),
            None => {
                problems.push(FieldError::new(
                    "received_at",
                    "RECEIVED_AT_INVALID",
                    "收件时间格式不正确，请按“年-月-日 时:分”填写，例如 2026-11-27 10:30。",
                ));
                None
            }
        },
        _ => None,
    };
    let mut codes = Vec::new();
    let mut materials = Vec::new();
    for (name, _) in fields.pairs() {
        let Some(code) = name.strip_prefix("material.") else {
            continue;
        };
        let agent_only = fields.get(name) == "agent";
        if agent_only && !has_agent {
            continue;
        }
        match fields.optional(&format!("status.{code}")) {
            Some(status) => {
                codes.push(code.to_owned());
                materials.push(MaterialInput {
                    code: code.to_owned(),
                    status: Some(status),
                    reason: fields.optional(&format!("reason.{code}")),
                    upload_id: None,
                });
            }
            None => problems.push(FieldError::new(
                format!("materials.{code}"),
                "MATERIAL_NOT_CHECKED",
                format!(
                    "请核对{}，选择已提交、缺少或不符合要求。",
                    match code {
                        "application_form" => "《社会保障卡服务申请表》",
                        "own_card" => "本人社会保障卡",
                        "agent_id_card" => "受委托人的居民身份证原件",
                        "agent_commitment" => "受委托人的承诺书",
                        _ => "该材料",
                    }
                ),
            )),
        }
    }
    let input = ApplicationInput {
        channel,
        service: Some(crate::service::cases::SERVICE_ACTIVATE.to_owned()),
        applicant: ApplicantInput {
            name: fields.get("applicant.name").to_owned(),
            id_number: fields.get("applicant.id_number").to_owned(),
            mobile: fields.get("applicant.mobile").to_owned(),
            address: fields.optional("applicant.address"),
        },
        card_number: fields.get("card_number").to_owned(),
        agent: has_agent.then(|| AgentInput {
            name: fields.get("agent.name").to_owned(),
            id_number: fields.get("agent.id_number").to_owned(),
            mobile: fields.get("agent.mobile").to_owned(),
            relation: fields.get("agent.relation").to_owned(),
        }),
        delivery: DeliveryInput {
            method: fields.get("delivery.method").to_owned(),
            recipient: fields.optional("delivery.recipient"),
            mobile: fields.optional("delivery.mobile"),
            address: fields.optional("delivery.address"),
        },
        inbound_waybill: fields.optional("inbound_waybill").filter(|_| express),
        received_at,
        materials,
        declaration: !fields.get("declaration").is_empty(),
    };
    (input, codes, problems)
}

/// A `datetime-local` value, read as Beijing time.
fn parse_local_time(text: &str) -> Option<chrono::DateTime<Utc>> {
    let text = text.trim();
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .ok()?;
    china_offset()
        .from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

async fn new_form(State(state): State<AppState>, session: Session) -> Response {
    match NewCasePage::blank(&state, &session).await {
        Ok(page) => page.into_response(),
        Err(error) => service_error_page(&error),
    }
}

/// 预审 (every problem at once) or 提交 (on success, the case page).
async fn new_post(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    fields: Fields,
) -> Response {
    let mut page = match NewCasePage::blank(&state, &session).await {
        Ok(page) => page,
        Err(error) => return service_error_page(&error),
    };
    page.keep(&fields);
    let caller = CaseCaller::Staff(&session.principal);
    let (input, codes, local) = application_input(&fields);
    let submit = fields.get("intent") == "submit";
    if submit && local.is_empty() {
        let key = fields.optional("form_key");
        match state
            .services
            .submit_application(caller, &input, key.as_deref(), &client)
            .await
        {
            Ok((case, _)) => {
                return see_other(&format!("/cases/{}?notice=submitted", case.application_no));
            }
            Err(ServiceError::Invalid { detail, errors, .. }) => {
                page.summary = Some(detail);
                page.show(&errors, &codes);
                return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
            }
            Err(ServiceError::Conflict {
                code: "IDEMPOTENCY_KEY_REUSED",
                ..
            }) => {
                page.summary = Some(
                    "这份表单已经提交过，不能改动后再次提交。如需更正已提交的申请，请在办件页面办理；如需录入另一位申请人的申请，请重新打开“录入申请”页面。"
                        .to_owned(),
                );
                return (StatusCode::CONFLICT, page).into_response();
            }
            Err(
                error @ (ServiceError::Conflict { .. }
                | ServiceError::Upstream { .. }
                | ServiceError::Forbidden { .. }),
            ) => {
                let problem = Problem::from(&error);
                page.summary = Some(problem.detail.clone());
                return (problem.status_code(), page).into_response();
            }
            Err(error) => return service_error_page(&error),
        }
    }
    let report: PrecheckReport = match state.services.precheck_application(caller, &input).await {
        Ok(report) => report,
        Err(ServiceError::Upstream { detail, .. }) => {
            page.summary = Some(detail);
            return (StatusCode::BAD_GATEWAY, page).into_response();
        }
        Err(error) => return service_error_page(&error),
    };
    let mut errors = local;
    errors.extend(report.errors);
    if errors.is_empty() {
        page.precheck_ok = true;
        page.precheck_notice = report
            .notice
            .map(|n| n.items.into_iter().map(|i| i.message_zh).collect())
            .unwrap_or_default();
        page.into_response()
    } else {
        page.summary = Some(format!(
            "预审发现 {} 处需要修改，请按提示逐项修改后再提交。",
            errors.len()
        ));
        page.show(&errors, &codes);
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indexed_material_names_the_posted_code() {
        let codes = vec!["application_form".to_owned(), "own_card".to_owned()];
        assert_eq!(
            indexed_material("materials[1].status", &codes),
            Some("own_card")
        );
        assert_eq!(indexed_material("materials[7].status", &codes), None);
        assert_eq!(indexed_material("applicant.name", &codes), None);
    }

    #[test]
    fn a_datetime_local_value_is_beijing_time() {
        let at = parse_local_time("2026-11-27T10:30").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-27T02:30:00+00:00");
        assert!(parse_local_time("27/11/2026").is_none());
    }

    #[test]
    fn a_delivery_record_reads_as_one_line() {
        let record = serde_json::json!({
            "method_label": "快递寄送（政府付费）",
            "carrier": "中国邮政EMS",
            "waybill_no": "EMS123456",
            "paid_by_label": "政府支付",
        });
        assert_eq!(
            delivery_summary(&record),
            "快递寄送（政府付费）；中国邮政EMS 运单号 EMS123456（邮费政府支付）"
        );
    }
}
