//! 合作银行: the bank registry (administrators), the activation of a card's
//! financial function at a bank counter (tellers, or the bank's own system
//! with an SM2-signed request), the bank system's card look-up, and the
//! keys that verify the bureau's signed answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sscard_domain::identifiers::CardNumber;

use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::bank_signature::BankClient;
use crate::http::problem::{ApiJson, ApiPath, Problem};
use crate::service::FieldError;
use crate::service::accounts::Client;
use crate::service::bank_activation::{ActivationRequest, ActivationView, CounterCaller};
use crate::service::banks::{
    BankInput, BankView, ExchangeView, RejectionView, RequeueInput, RequeueView, ServerKeys,
};
use crate::service::registry::{CardView, Viewer};

/// Every cooperating bank (bureau staff read; administrators keep them).
#[utoipa::path(get, path = "/api/v1/banks", tag = "banks", security(("bearer" = [])),
    responses((status = 200, body = Vec<BankView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<BankView>>, Problem> {
    Ok(Json(state.services.list_banks().await?))
}

/// Register a cooperating bank: code, name, BINs (no BIN of another bank),
/// contact, the SM2 public key of its system, status (administrators).
#[utoipa::path(post, path = "/api/v1/banks", tag = "banks", security(("bearer" = [])),
    request_body = BankInput,
    responses(
        (status = 201, body = BankView),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "BANK_ALREADY_REGISTERED"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "VALIDATION_FAILED (BIN_FORMAT, BIN_TAKEN, BANK_KEY_FORMAT, …)"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiJson(input): ApiJson<BankInput>,
) -> Result<(StatusCode, Json<BankView>), Problem> {
    let bank = state
        .services
        .create_bank(&input, &session.principal.actor(&client))
        .await?;
    Ok((StatusCode::CREATED, Json(bank)))
}

/// One cooperating bank with where its cards stand in the batch exchange.
#[utoipa::path(get, path = "/api/v1/banks/{code}", tag = "banks", security(("bearer" = [])),
    params(("code" = String, Path, description = "银行代码", example = "ICBC")),
    responses(
        (status = 200, body = BankDetail),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BANK_NOT_FOUND"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<BankDetail>, Problem> {
    Ok(Json(BankDetail {
        bank: state.services.bank(&code).await?,
        exchange: state.services.bank_exchange(&code).await?,
    }))
}

/// A bank with its batch exchange.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BankDetail {
    pub bank: BankView,
    pub exchange: ExchangeView,
}

/// Change a bank: name, BINs, contact, API key, status `active`/`suspended`
/// (administrators). The code cannot change.
#[utoipa::path(put, path = "/api/v1/banks/{code}", tag = "banks", security(("bearer" = [])),
    params(("code" = String, Path, description = "银行代码", example = "ICBC")),
    request_body = BankInput,
    responses(
        (status = 200, body = BankView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BANK_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(code): ApiPath<String>,
    ApiJson(input): ApiJson<BankInput>,
) -> Result<Json<BankView>, Problem> {
    Ok(Json(
        state
            .services
            .update_bank(&code, &input, &session.principal.actor(&client))
            .await?,
    ))
}

/// The cards whose account the bank refused (from its return files), with
/// the bank's reason, for staff to follow up.
#[utoipa::path(get, path = "/api/v1/banks/{code}/rejections", tag = "banks", security(("bearer" = [])),
    params(("code" = String, Path, description = "银行代码", example = "ICBC")),
    responses(
        (status = 200, body = Vec<RejectionView>),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BANK_NOT_FOUND"),
    ))]
pub async fn rejections(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Vec<RejectionView>>, Problem> {
    Ok(Json(state.services.bank_rejections(&code).await?))
}

/// 重新报送: a card the bank rejected, followed up by staff, goes back in
/// the bank's next export file (administrators). The note says what was
/// done about the bank's reason; it is kept in the audit trail with the
/// reason.
#[utoipa::path(post, path = "/api/v1/banks/{code}/requeue", tag = "banks", security(("bearer" = [])),
    params(("code" = String, Path, description = "银行代码", example = "ICBC")),
    request_body = RequeueInput,
    responses(
        (status = 200, body = RequeueView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BANK_NOT_FOUND, CARD_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "NOT_REJECTED, CARD_CANCELLED, ALREADY_ACTIVE"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "VALIDATION_FAILED"),
    ))]
pub async fn requeue(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(code): ApiPath<String>,
    ApiJson(input): ApiJson<RequeueInput>,
) -> Result<Json<RequeueView>, Problem> {
    Ok(Json(
        state
            .services
            .requeue_rejected_card(&code, &input, &session.principal.actor(&client))
            .await?,
    ))
}

/// 金融功能激活 at a bank counter: the holder in person with the ID card
/// original (verified by card reader or visually), at a counter of the
/// card's own bank. 未激活 → 已激活 once; an active account is answered
/// `already_active` and nothing changes. Refused: an agent
/// (`AGENT_NOT_ALLOWED_FOR_BANK`, quoting the guide's FAQ), the holder not
/// present, the ID card not verified (`ID_NOT_VERIFIED`), another holder's
/// ID number (`CARD_HOLDER_MISMATCH`), another bank's card
/// (`CARD_OF_OTHER_BANK`), a lost, cancelled, expired, not collected,
/// frozen or closed card (the state's code). Tellers call it with their
/// session; a bank's system with an SM2-signed request (`X-Bank-Code`,
/// `X-Timestamp`, `X-Nonce`, `X-Signature`, see docs/bank-interface.md),
/// and then the answer is signed too.
#[utoipa::path(post, path = "/api/v1/bank/activations", tag = "bank", security(("bearer" = []), ("bank_signature" = [])),
    request_body = ActivationRequest,
    responses(
        (status = 200, body = ActivationView, description = "`activated` or `already_active`"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "BANK_SIGNATURE_MISSING, BANK_SIGNATURE_INVALID, BANK_REQUEST_STALE, BANK_REQUEST_REPLAYED, …"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "CARD_OF_OTHER_BANK, BANK_SUSPENDED"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CARD_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CARD_REPORTED_LOST, CARD_CANCELLED, CARD_EXPIRED, CARD_NOT_YET_COLLECTED, FINANCIAL_FROZEN, FINANCIAL_CLOSED"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "AGENT_NOT_ALLOWED_FOR_BANK, ID_NOT_VERIFIED, CARD_HOLDER_MISMATCH, GUARDIANSHIP_NOT_VERIFIED, VALIDATION_FAILED"),
    ))]
pub async fn activate(
    State(state): State<AppState>,
    caller: BankClient,
    client: Client,
    ApiJson(request): ApiJson<ActivationRequest>,
) -> Result<Json<ActivationView>, Problem> {
    let caller = match &caller {
        BankClient::System(system) => CounterCaller::BankSystem {
            caller: system,
            client: &client,
        },
        BankClient::Teller(session) => CounterCaller::Teller {
            principal: &session.principal,
            client: &client,
            channel: "api",
        },
    };
    Ok(Json(
        state.services.activate_at_counter(&request, caller).await?,
    ))
}

/// A card of the caller's bank: both application states and the history,
/// identifiers masked; another bank's card answers `404 CARD_NOT_FOUND`
/// like a missing one. For a bank's system (signed request, signed answer)
/// or a teller.
#[utoipa::path(get, path = "/api/v1/bank/cards/{card_number}", tag = "bank", security(("bearer" = []), ("bank_signature" = [])),
    params(("card_number" = String, Path, description = "社会保障卡卡号, 9 characters", example = "A12345678")),
    responses(
        (status = 200, body = CardView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CARD_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "CARD_NUMBER_FORMAT"),
    ))]
pub async fn card(
    State(state): State<AppState>,
    caller: BankClient,
    ApiPath(card_number): ApiPath<String>,
) -> Result<Json<CardView>, Problem> {
    let card_number = CardNumber::parse(&card_number).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            "填写内容有误",
            e.to_string(),
        )
        .with_errors(vec![FieldError::new(
            "card_number",
            e.code(),
            e.to_string(),
        )])
    })?;
    let bank = match &caller {
        BankClient::System(system) => Some(system.bank.as_str().to_owned()),
        BankClient::Teller(session) => session.principal.bank_code.clone(),
    }
    .ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "ROLE_NOT_PERMITTED",
            "无权办理",
            "此功能仅限绑定了合作银行的柜员和合作银行系统使用。",
        )
    })?;
    Ok(Json(
        state
            .services
            .card_by_number(&card_number, &Viewer::Bank(bank))
            .await?,
    ))
}

/// The bureau's SM2 public keys that verify its signed answers to banks
/// (`X-Key-Id` names the key of an answer), and how answers are signed.
#[utoipa::path(get, path = "/api/v1/bank/server-key", tag = "bank",
    responses((status = 200, body = ServerKeys)))]
pub async fn server_key(State(state): State<AppState>) -> Result<Json<ServerKeys>, Problem> {
    Ok(Json(state.services.bank_server_keys().await?))
}

/// Declares the bank systems' signature scheme in the OpenAPI document.
pub struct BankSignatureAuth;

impl utoipa::Modify for BankSignatureAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bank_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Signature",
                "合作银行系统的 SM2 签名：请求头 X-Bank-Code、X-Timestamp（Unix 秒）、X-Nonce、X-Signature（对规范请求串的 SM2 签名，r‖s 十六进制），规范请求串与示例见 docs/bank-interface.md。应答带 X-Timestamp、X-Key-Id、X-Signature（本局 SM2 签名，公钥见 GET /api/v1/bank/server-key）。",
            ))),
        );
    }
}
