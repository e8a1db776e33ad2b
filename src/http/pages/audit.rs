//! 审计日志 — the supervisor's view of the audit trail: a search, newest
//! first, 50 entries a page, and the result of verifying every chain.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use sscard_domain::access::Role;

use super::staff::{StaffNav, service_error_page};
use crate::clock::{china_offset, to_china};
use crate::http::AppState;
use crate::http::auth::Session;
use crate::service::FieldError;
use crate::service::audit_trail::{AUDIT_PAGE_SIZE, AuditEntryView, AuditQuery};

/// Problems of a failed verification listed on the page (all are counted).
const PROBLEMS_SHOWN: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(audit))
}

/// The search form as typed (dates are China civil dates, both inclusive).
#[derive(Default)]
struct SearchForm {
    from: String,
    until: String,
    actor: String,
    action: String,
    object: String,
    outcome: String,
}

struct Choice {
    code: String,
    label: String,
    selected: bool,
}

/// One entry as a person reads it.
struct EntryRow {
    when: String,
    who: String,
    role: String,
    from: String,
    action: String,
    object: String,
    outcome: &'static str,
    outcome_code: String,
    detail: String,
    shard: i64,
    seq: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    staff: StaffNav,
    chain_intact: bool,
    chain_summary: String,
    chain_problems: Vec<String>,
    form: SearchForm,
    actions: Vec<Choice>,
    outcomes: Vec<Choice>,
    errors: Vec<FieldError>,
    entries: Vec<EntryRow>,
    total: u64,
    page: u32,
    pages: u64,
    previous: Option<String>,
    next: Option<String>,
}

async fn audit(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    };
    let form = SearchForm {
        from: param("from"),
        until: param("until"),
        actor: param("actor"),
        action: param("action"),
        object: param("object"),
        outcome: param("outcome"),
    };
    let mut errors = Vec::new();
    let from = china_day_start(&form.from, "from", "起始日期", &mut errors, 0);
    let until = china_day_start(&form.until, "until", "截止日期", &mut errors, 1);
    let page = match param("page") {
        text if text.is_empty() => 1,
        text => text.parse::<u32>().unwrap_or(0),
    };
    let query = AuditQuery {
        from,
        until,
        actor: Some(form.actor.clone()),
        action: Some(form.action.clone()),
        object_prefix: Some(form.object.clone()),
        outcome: Some(form.outcome.clone()),
        page,
        per_page: AUDIT_PAGE_SIZE,
    };
    let found = if errors.is_empty() {
        match state.services.search_audit(&query).await {
            Ok(found) => Some(found),
            Err(crate::service::ServiceError::Invalid {
                errors: problems, ..
            }) => {
                errors.extend(problems);
                None
            }
            Err(error) => return service_error_page(&error),
        }
    } else {
        None
    };
    let (report, known_actions) = match tokio::try_join!(
        state.services.verify_audit(),
        state.services.audit_actions()
    ) {
        Ok(both) => both,
        Err(error) => return service_error_page(&error),
    };

    let chain_summary = if report.is_intact() {
        format!(
            "审计链完整：共 {} 条记录，{} 条链均未被改动。",
            report.entries, report.shards
        )
    } else {
        format!(
            "审计链已被改动：共 {} 条记录，发现 {} 处问题，请立即报告并保全数据库。",
            report.entries,
            report.problems.len()
        )
    };
    let mut actions: Vec<Choice> = known_actions
        .into_iter()
        .map(|code| Choice {
            label: action_text(&code),
            selected: code == form.action,
            code,
        })
        .collect();
    if !form.action.is_empty() && !actions.iter().any(|a| a.selected) {
        actions.push(Choice {
            label: action_text(&form.action),
            code: form.action.clone(),
            selected: true,
        });
    }
    let outcomes = [
        ("", "全部"),
        ("succeeded", "成功"),
        ("refused", "拒绝"),
        ("failed", "失败"),
    ]
    .into_iter()
    .map(|(code, label)| Choice {
        code: code.to_owned(),
        label: label.to_owned(),
        selected: code == form.outcome,
    })
    .collect();

    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let (entries, total, pages, previous, next) = match found {
        Some(found) => {
            let pages = found.pages();
            let link = |page: u32| Some(page_link(&form, page));
            (
                found.entries.iter().map(entry_row).collect(),
                found.total,
                pages,
                (page > 1).then(|| link(page - 1)).flatten(),
                (u64::from(page) < pages).then(|| link(page + 1)).flatten(),
            )
        }
        None => (Vec::new(), 0, 1, None, None),
    };
    (
        status,
        AuditPage {
            staff: StaffNav::of(&session.principal),
            chain_intact: report.is_intact(),
            chain_summary,
            chain_problems: report
                .problems
                .iter()
                .take(PROBLEMS_SHOWN)
                .map(ToString::to_string)
                .collect(),
            form,
            actions,
            outcomes,
            errors,
            entries,
            total,
            page: page.max(1),
            pages,
            previous,
            next,
        },
    )
        .into_response()
}

/// The UTC start of a China civil date typed as `YYYY-MM-DD`, `days_after`
/// days later (1 makes an inclusive end date an exclusive bound).
fn china_day_start(
    text: &str,
    field: &str,
    name: &str,
    errors: &mut Vec<FieldError>,
    days_after: u64,
) -> Option<DateTime<Utc>> {
    if text.is_empty() {
        return None;
    }
    let start = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.checked_add_days(chrono::Days::new(days_after)))
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .and_then(|time| time.and_local_timezone(china_offset()).single());
    if start.is_none() {
        errors.push(FieldError::new(
            field,
            "DATE_INVALID",
            format!("{name}须为有效日期，格式如 2026-03-02。"),
        ));
    }
    start.map(|time| time.with_timezone(&Utc))
}

fn page_link(form: &SearchForm, page: u32) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("from", &form.from),
        ("until", &form.until),
        ("actor", &form.actor),
        ("action", &form.action),
        ("object", &form.object),
        ("outcome", &form.outcome),
    ] {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    query.append_pair("page", &page.to_string());
    format!("/audit?{}", query.finish())
}

/// The Chinese name of an action code, with the code.
fn action_text(code: &str) -> String {
    let label = match code {
        "account.create" => "创建账号",
        "account.disable" => "停用账号",
        "account.enable" => "启用账号",
        "account.change_password" => "修改密码",
        "account.reset_password" => "重置密码",
        "account.change_roles" => "修改角色",
        "session.sign_in" => "登录",
        "session.sign_out" => "退出登录",
        "guide.publish" => "发布办事指南",
        "calendar.import" => "导入工作日历",
        "keys.reseal" => "更换数据密钥后重新加密",
        "calendar.replace" => "替换工作日历",
        "case.submit" => "提交申请",
        "case.accept" => "受理",
        "case.notify_missing" => "一次性告知",
        "case.supplement" => "补正材料",
        "case.refuse" => "不予受理",
        "case.approve" => "准予启用",
        "case.deny" => "不予通过",
        "case.confirm_already_active" => "确认此前已启用",
        "case.deliver" => "送达",
        "case.delivery_status" => "登记寄送状态",
        "case.lookup" => "查找办件",
        "case.rate" => "好差评",
        "follow_up.record" => "登记整改回访",
        "batch.submit" => "提交批量办件",
        "batch.accept" => "受理批量办件",
        "batch.notify_missing" => "批量办件一次性告知",
        "batch.supplement" => "批量办件补正",
        "batch.refuse" => "批量办件不予受理",
        "batch.approve" => "批量办件经办完成",
        "batch.deny" => "批量办件不予通过",
        "batch.confirm_already_active" => "批量办件确认此前已启用",
        "batch.deliver" => "批量办件送达",
        "batch.process_chunk" => "批量办件逐行办理",
        "person.register" => "登记参保人员",
        "person.update" => "更新参保人员",
        "person.reveal" => "查看完整证件号码",
        "card.register" => "登记社会保障卡",
        "card.update" => "更新社会保障卡",
        "card.social_transition" => "社保应用状态变更",
        "card.financial_transition" => "金融应用状态变更",
        "card.financial_activation" => "激活金融功能",
        "import.persons" => "导入参保人员",
        "import.cards" => "导入社会保障卡",
        "bank.create" => "登记合作银行",
        "bank.update" => "修改合作银行",
        "bank.key_generate" => "生成银行接口密钥",
        "bank.key_register" => "登记银行接口密钥",
        "bank.export" => "生成银行报送文件",
        "bank.export_open" => "开始生成银行报送文件",
        "bank.export_claim" => "选取一段待报送的卡",
        "bank.export_claimed" => "报送批次选卡完成",
        "bank.export_resend" => "重新发送银行报送文件",
        "bank.import" => "导入银行回盘文件",
        "bank.import_open" => "开始导入银行回盘文件",
        "bank.import_chunk" => "导入回盘记录",
        "bank.reconcile" => "与银行对账",
        "bank.rejection.requeue" => "拒绝开户的卡重新报送",
        "citizen.otp_request" => "申请短信验证码",
        "citizen.otp_send" => "发送短信验证码",
        "citizen.sign_in" => "持卡人登录",
        "citizen.sign_out" => "持卡人退出登录",
        "consultation.ask" => "提交咨询",
        "consultation.answer" => "答复咨询",
        "slip.issue" => "出具业务反馈单",
        "slip.key_generate" => "生成反馈单签名密钥",
        "slip.key_register" => "登记反馈单签名密钥",
        "upload.store" => "上传扫描件",
        "sms_outbox.read" => "查看模拟短信发件箱",
        "demo.seed" => "写入演示数据",
        "demo.bulk_cards" => "批量生成演示卡",
        _ => return code.to_owned(),
    };
    format!("{label}（{code}）")
}

fn entry_row(entry: &AuditEntryView) -> EntryRow {
    let who = match (&entry.actor_name, &entry.actor_username) {
        (Some(name), Some(username)) => format!("{name}（{username}）"),
        _ => match entry.actor.as_str() {
            "system" => "系统".to_owned(),
            actor => actor
                .strip_prefix("cli:")
                .map_or_else(|| actor.to_owned(), |user| format!("命令行操作员 {user}")),
        },
    };
    let role = entry
        .actor_role
        .split('+')
        .map(|code| match code {
            "system" => "系统".to_owned(),
            "operator" => "运维人员".to_owned(),
            "citizen" => "持卡人（网上办理）".to_owned(),
            "public" => "公众".to_owned(),
            "bank_system" => "合作银行系统".to_owned(),
            "-" => "登录前".to_owned(),
            code => Role::parse(code).map_or_else(|_| code.to_owned(), |r| r.label_zh().to_owned()),
        })
        .collect::<Vec<_>>()
        .join("、");
    let detail = match &entry.detail {
        serde_json::Value::Object(map) if map.is_empty() => "—".to_owned(),
        detail => detail.to_string(),
    };
    EntryRow {
        when: to_china(entry.occurred_at)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        who,
        role,
        from: if entry.client_address == "-" {
            "本机".to_owned()
        } else {
            entry.client_address.clone()
        },
        action: action_text(&entry.action),
        object: entry.object.clone(),
        outcome: match entry.outcome.as_str() {
            "succeeded" => "成功",
            "refused" => "拒绝",
            "failed" => "失败",
            _ => "未知",
        },
        outcome_code: entry.outcome.clone(),
        detail,
        shard: entry.shard,
        seq: entry.seq,
    }
}
