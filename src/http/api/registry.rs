//! The card registry's staff look-ups: a card by number, a person by ID
//! number (in the body: ID numbers never travel in a URL).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use sscard_domain::identifiers::{CardNumber, IdNumber};

use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::{ApiJson, ApiPath, Problem};
use crate::service::FieldError;
use crate::service::accounts::Client;
use crate::service::registry::{CardView, PersonView, Viewer};
use crate::service::reveal::{RevealField, Revealed};

/// Body of `POST /api/v1/persons/lookup`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonLookup {
    /// 社会保障号码 (= citizen ID number); full-width digits, spaces and a lower-case x are accepted.
    #[schema(example = "45022119850612723X")]
    pub id_number: String,
}

impl std::fmt::Debug for PersonLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonLookup").finish_non_exhaustive()
    }
}

/// A card's two application states (社保应用, 金融应用) and its history,
/// identifiers masked. Bureau staff see every card; a bank teller only the
/// cards of their own bank — another bank's card is answered `404
/// CARD_NOT_FOUND`, exactly like a card that does not exist.
#[utoipa::path(get, path = "/api/v1/cards/{card_number}", tag = "registry", security(("bearer" = [])),
    params(("card_number" = String, Path, description = "社会保障卡卡号, 9 characters", example = "A12345678")),
    responses(
        (status = 200, body = CardView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CARD_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "CARD_NUMBER_FORMAT"),
    ))]
pub async fn card(
    State(state): State<AppState>,
    session: Session,
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
    let viewer = Viewer::of(&session.principal).ok_or_else(not_a_card_reader)?;
    Ok(Json(
        state.services.card_by_number(&card_number, &viewer).await?,
    ))
}

/// A person by ID number, with their cards (bureau staff only).
#[utoipa::path(post, path = "/api/v1/persons/lookup", tag = "registry", security(("bearer" = [])),
    request_body = PersonLookup,
    responses(
        (status = 200, body = PersonView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "PERSON_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "ID_NUMBER_*"),
    ))]
pub async fn person_lookup(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<PersonLookup>,
) -> Result<Json<PersonView>, Problem> {
    let id_number = IdNumber::parse(&request.id_number).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            "填写内容有误",
            e.to_string(),
        )
        .with_errors(vec![FieldError::new("id_number", e.code(), e.to_string())])
    })?;
    Ok(Json(state.services.person_by_id_number(&id_number).await?))
}

/// Only reachable for an account the access rule let in without a viewer
/// (none today): answered like the rule's own refusal.
fn not_a_card_reader() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "ROLE_NOT_PERMITTED",
        "无权办理",
        "此功能仅限窗口工作人员和合作银行柜员使用。",
    )
}

/// Body of `POST /api/v1/cards/{card_number}/reveal`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// Which full values to show.
    pub fields: Vec<RevealField>,
    /// Why (e.g. 核对本人身份证件); written to the audit trail.
    pub reason: Option<String>,
}

/// 查看完整信息: the full identifiers of a card's holder, for a window clerk
/// who needs them; the reason (never the values) is audited.
#[utoipa::path(post, path = "/api/v1/cards/{card_number}/reveal", tag = "registry", security(("bearer" = [])),
    params(("card_number" = String, Path, description = "社会保障卡卡号", example = "A12345678")),
    request_body = RevealRequest,
    responses(
        (status = 200, body = Revealed),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CARD_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "REVEAL_REASON_REQUIRED and other field errors"),
    ))]
pub async fn reveal(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(card_number): ApiPath<String>,
    ApiJson(request): ApiJson<RevealRequest>,
) -> Result<Json<Revealed>, Problem> {
    Ok(Json(
        state
            .services
            .reveal_holder(
                &card_number,
                &request.fields,
                request.reason.as_deref(),
                &session.principal,
                &client,
            )
            .await?,
    ))
}
