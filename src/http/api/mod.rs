//! The JSON API under `/api/v1`, and its OpenAPI document.

mod accounts;
pub mod applications;
mod audit;
mod banks;
use banks::BankSignatureAuth;
pub mod batches;
mod calendar;
mod citizen;
mod consultations;
mod feedback;
mod guide;
mod health;
mod identifiers;
mod progress;
mod registry;
mod session;
pub mod slips;

use axum::Router;
use axum::routing::{get, post, put};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/guide", get(guide::current))
        .route("/api/v1/guide/versions", get(guide::versions))
        .route("/api/v1/guide/versions/{version}", get(guide::version))
        .route("/api/v1/calendar/deadline", get(calendar::deadline))
        .route("/api/v1/calendar/years", get(calendar::years))
        .route("/api/v1/calendar/years/{year}", get(calendar::year))
        .route("/api/v1/identifiers/check", post(identifiers::check))
        .route(
            "/api/v1/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .route("/api/v1/session/password", post(session::change_password))
        .route(
            "/api/v1/accounts",
            get(accounts::list).post(accounts::create),
        )
        .route(
            "/api/v1/accounts/{username}/disable",
            post(accounts::disable),
        )
        .route("/api/v1/accounts/{username}/enable", post(accounts::enable))
        .route(
            "/api/v1/accounts/{username}/reset-password",
            post(accounts::reset_password),
        )
        .route(
            "/api/v1/accounts/{username}/roles",
            put(accounts::change_roles),
        )
        .route("/api/v1/audit", get(audit::search))
        .route("/api/v1/citizen/otp", post(citizen::request_otp))
        .route(
            "/api/v1/citizen/session",
            post(citizen::sign_in)
                .get(citizen::current)
                .delete(citizen::sign_out),
        )
        .route("/api/v1/admin/sms-outbox", get(citizen::sms_outbox))
        .route("/api/v1/cards/{card_number}", get(registry::card))
        .route("/api/v1/banks", get(banks::list).post(banks::create))
        .route(
            "/api/v1/banks/{code}",
            get(banks::get_one).put(banks::update),
        )
        .route("/api/v1/banks/{code}/rejections", get(banks::rejections))
        .route("/api/v1/banks/{code}/requeue", post(banks::requeue))
        .route("/api/v1/bank/activations", post(banks::activate))
        .route("/api/v1/bank/cards/{card_number}", get(banks::card))
        .route("/api/v1/bank/server-key", get(banks::server_key))
        .route("/api/v1/persons/lookup", post(registry::person_lookup))
        .route("/api/v1/cards/{card_number}/reveal", post(registry::reveal))
        .route(
            "/api/v1/applications",
            post(applications::submit).get(applications::list),
        )
        .route(
            "/api/v1/applications/precheck",
            post(applications::precheck),
        )
        .route("/api/v1/applications/queues", get(applications::queues))
        .route(
            "/api/v1/applications/{application_no}",
            get(applications::get_one),
        )
        .route(
            "/api/v1/applications/{application_no}/{action}",
            post(applications::act),
        )
        .route(
            "/api/v1/uploads",
            post(applications::upload).layer(axum::extract::DefaultBodyLimit::max(
                applications::UPLOAD_BODY_LIMIT,
            )),
        )
        .route("/api/v1/uploads/{upload_id}", get(applications::download))
        .route("/api/v1/progress", post(progress::query))
        .route(
            "/api/v1/applications/{application_no}/slip.pdf",
            get(slips::download),
        )
        .route("/api/v1/slips/public-key", get(slips::public_key))
        .route(
            "/api/v1/slips/verify",
            post(slips::verify_file).layer(axum::extract::DefaultBodyLimit::max(
                slips::VERIFY_BODY_LIMIT,
            )),
        )
        .route("/api/v1/slips/{verification_code}", get(slips::verify_code))
        .route("/api/v1/applications/lookup", post(feedback::lookup))
        .route(
            "/api/v1/applications/{application_no}/delivery-status",
            post(feedback::delivery_status),
        )
        .route(
            "/api/v1/applications/{application_no}/rating",
            post(feedback::rate),
        )
        .route("/api/v1/ratings", get(feedback::ratings))
        .route("/api/v1/follow-ups", get(feedback::follow_ups))
        .route(
            "/api/v1/follow-ups/{application_no}/{step}",
            post(feedback::record_follow_up),
        )
        .route(
            "/api/v1/consultations",
            post(consultations::ask).get(consultations::queue),
        )
        .route("/api/v1/consultations/lookup", post(consultations::lookup))
        .route(
            "/api/v1/consultations/{consultation_no}",
            get(consultations::get_one),
        )
        .route(
            "/api/v1/consultations/{consultation_no}/answer",
            post(consultations::answer),
        )
        .route(
            "/api/v1/citizen/consultations",
            post(consultations::citizen_ask).get(consultations::citizen_list),
        )
        .merge(batches::router())
}

/// `/api/openapi.json` and the Swagger UI at `/api/docs`, both served from
/// the binary itself. The online validator is off: it would send the
/// document's address to a third-party site (and its badge image is refused
/// by the Content-Security-Policy anyway).
pub fn docs() -> Router<AppState> {
    Router::new().merge(
        SwaggerUi::new("/api/docs")
            .url("/api/openapi.json", ApiDoc::openapi())
            .config(utoipa_swagger_ui::Config::default().validator_url("none")),
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sscard — 社会保障卡启用（含社会保障卡银行账户激活）",
        description = "柳江区人力资源和社会保障局 社会保障卡启用 办件系统的接口。错误一律以 application/problem+json 返回，带稳定的 code。",
        version = env!("CARGO_PKG_VERSION"),
    ),
    paths(
        health::healthz,
        health::readyz,
        guide::current,
        guide::versions,
        guide::version,
        calendar::deadline,
        calendar::years,
        calendar::year,
        identifiers::check,
        session::sign_in,
        session::current,
        session::sign_out,
        session::change_password,
        accounts::list,
        accounts::create,
        accounts::disable,
        accounts::enable,
        accounts::reset_password,
        accounts::change_roles,
        audit::search,
        citizen::request_otp,
        citizen::sign_in,
        citizen::current,
        citizen::sign_out,
        citizen::sms_outbox,
        registry::card,
        banks::list,
        banks::create,
        banks::get_one,
        banks::update,
        banks::rejections,
        banks::requeue,
        banks::activate,
        banks::card,
        banks::server_key,
        registry::person_lookup,
        registry::reveal,
        applications::submit,
        applications::precheck,
        applications::list,
        applications::queues,
        applications::get_one,
        applications::act,
        applications::upload,
        applications::download,
        batches::submit,
        batches::list,
        batches::template,
        batches::get_one,
        batches::report,
        batches::letter,
        batches::supplement,
        batches::act,
        progress::query,
        slips::download,
        slips::verify_code,
        slips::verify_file,
        slips::public_key,
        feedback::lookup,
        feedback::delivery_status,
        feedback::rate,
        feedback::ratings,
        feedback::follow_ups,
        feedback::record_follow_up,
        consultations::ask,
        consultations::lookup,
        consultations::citizen_ask,
        consultations::citizen_list,
        consultations::queue,
        consultations::get_one,
        consultations::answer,
        crate::http::metrics::metrics,
    ),
    modifiers(&BearerAuth, &BankSignatureAuth),
    components(schemas(super::problem::Problem, crate::service::FieldError)),
    tags(
        (name = "health", description = "存活与就绪"),
        (name = "guide", description = "办事指南"),
        (name = "calendar", description = "工作日历与办理时限"),
        (name = "identifiers", description = "号码预审"),
        (name = "session", description = "登录与会话"),
        (name = "accounts", description = "账号管理"),
        (name = "audit", description = "审计日志"),
        (name = "citizen", description = "办事群众登录（短信验证码）"),
        (name = "sms", description = "短信（演示发件箱）"),
        (name = "registry", description = "持卡人与社会保障卡查询"),
        (name = "banks", description = "合作银行登记"),
        (name = "bank", description = "合作银行：柜台激活金融功能与银行系统接口（SM2 签名）"),
        (name = "applications", description = "办件：申请、受理、经办、反馈"),
        (name = "batches", description = "单位批量启用：授权委托书与电子名单、逐行办理进度、结果清单"),
        (name = "ratings", description = "好差评与整改回访"),
        (name = "consultations", description = "互联网咨询"),
        (name = "slips", description = "业务反馈单：下载与真伪验证"),
        (name = "metrics", description = "运行指标（Prometheus）"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme used by signed-in routes.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
