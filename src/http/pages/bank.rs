//! 合作银行 pages: the teller's counter page `/bank` (金融功能激活), and the
//! administrator's bank registry `/admin/banks` with each bank's batch
//! exchange and the rejections to follow up. Both call the same use cases
//! as the API; ID numbers are posted, never echoed back into a page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sscard_domain::bank::{IdVerification, Presenter};

use super::staff::{Fields, NoticeQuery, StaffNav, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::{ApiPath, Problem};
use crate::service::accounts::Client;
use crate::service::bank_activation::{
    ActivationRequest, ActivationView, AgentAtCounter, CounterCaller, GuardianAtCounter,
};
use crate::service::banks::{
    BankInput, BankView, BatchView, ExchangeView, RejectionView, RequeueInput,
};
use crate::service::{FieldError, ServiceError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bank", get(counter_form).post(activate))
        .route("/admin/banks", get(banks).post(create))
        .route("/admin/banks/{code}", get(bank).post(update))
        .route("/admin/banks/{code}/requeue", axum::routing::post(requeue))
}

// ---------------------------------------------------------------------------
// The counter: 金融功能激活

/// What the counter form keeps after a refusal (never the ID numbers).
struct CounterForm {
    card_number: String,
    presenter: &'static str,
    holder_present: bool,
    id_verified_by: &'static str,
    agent_name: String,
    agent_relation: String,
    guardian_name: String,
    guardian_proof: String,
}

impl Default for CounterForm {
    fn default() -> Self {
        Self {
            card_number: String::new(),
            presenter: Presenter::Holder.code(),
            holder_present: false,
            id_verified_by: "",
            agent_name: String::new(),
            agent_relation: String::new(),
            guardian_name: String::new(),
            guardian_proof: String::new(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "bank_counter.html")]
struct CounterPage {
    staff: StaffNav,
    bank: String,
    form: CounterForm,
    error: Option<String>,
    errors: Vec<FieldError>,
    result: Option<ActivationView>,
}

impl CounterPage {
    /// The page of the teller's counter; the bank is named as the registry
    /// has it (中国工商银行（ICBC）), or by its code alone if unknown.
    async fn new(state: &AppState, session: &Session) -> Self {
        let code = session.principal.bank_code.clone().unwrap_or_default();
        let bank = match state.services.bank(&code).await {
            Ok(bank) => format!("{}（{code}）", bank.name),
            Err(_) => code,
        };
        Self {
            staff: StaffNav::of(&session.principal),
            bank,
            form: CounterForm::default(),
            error: None,
            errors: Vec::new(),
            result: None,
        }
    }
}

async fn counter_form(State(state): State<AppState>, session: Session) -> Response {
    CounterPage::new(&state, &session).await.into_response()
}

fn presenter_of(code: &str) -> Presenter {
    Presenter::ALL
        .into_iter()
        .find(|p| p.code() == code)
        .unwrap_or(Presenter::Holder)
}

/// Activates from the counter form; answers with the page showing the
/// result or the refusal.
async fn activate(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    fields: Fields,
) -> Response {
    let presenter = presenter_of(fields.get("presenter"));
    let id_verified_by = IdVerification::ALL
        .into_iter()
        .find(|v| v.code() == fields.get("id_verified_by"))
        .map_or("", IdVerification::code);
    let request = ActivationRequest {
        card_number: fields.get("card_number").to_owned(),
        id_number: fields.get("id_number").to_owned(),
        holder_present: fields.get("holder_present") == "yes",
        id_verified_by: fields.optional("id_verified_by"),
        agent: (presenter == Presenter::Agent).then(|| AgentAtCounter {
            name: fields.optional("agent_name"),
            id_number: fields.optional("agent_id_number"),
            relation: fields.optional("agent_relation"),
        }),
        guardian: (presenter == Presenter::Guardian).then(|| GuardianAtCounter {
            name: fields.get("guardian_name").to_owned(),
            id_number: fields.get("guardian_id_number").to_owned(),
            proof: fields.optional("guardian_proof"),
        }),
        teller: None,
    };
    let mut page = CounterPage::new(&state, &session).await;
    let result = state
        .services
        .activate_at_counter(
            &request,
            CounterCaller::Teller {
                principal: &session.principal,
                client: &client,
                channel: "page",
            },
        )
        .await;
    match result {
        Ok(view) => {
            page.result = Some(view);
            page.into_response()
        }
        Err(error) => {
            let problem = Problem::from(&error);
            page.form = CounterForm {
                card_number: request.card_number.trim().to_owned(),
                presenter: presenter.code(),
                holder_present: request.holder_present,
                id_verified_by,
                agent_name: fields.get("agent_name").trim().to_owned(),
                agent_relation: fields.get("agent_relation").trim().to_owned(),
                guardian_name: fields.get("guardian_name").trim().to_owned(),
                guardian_proof: fields.get("guardian_proof").trim().to_owned(),
            };
            page.error = Some(problem.detail.clone());
            if let ServiceError::Invalid { errors, .. } = error {
                page.errors = errors;
            }
            (problem.status_code(), page).into_response()
        }
    }
}

// ---------------------------------------------------------------------------
// The registry: 合作银行

/// What the bank form holds (kept when a post is refused).
#[derive(Default)]
struct BankForm {
    code: String,
    name: String,
    bins: String,
    contact_name: String,
    contact_phone: String,
    api_public_key: String,
    status: String,
}

impl BankForm {
    fn posted(fields: &Fields) -> Self {
        Self {
            code: fields.get("code").trim().to_owned(),
            name: fields.get("name").trim().to_owned(),
            bins: fields.get("bins").trim().to_owned(),
            contact_name: fields.get("contact_name").trim().to_owned(),
            contact_phone: fields.get("contact_phone").trim().to_owned(),
            api_public_key: fields.get("api_public_key").trim().to_owned(),
            status: fields.get("status").trim().to_owned(),
        }
    }

    fn of(bank: &BankView) -> Self {
        Self {
            code: bank.code.clone(),
            name: bank.name.clone(),
            bins: bank.bins.join(", "),
            contact_name: bank.contact_name.clone(),
            contact_phone: bank.contact_phone.clone(),
            api_public_key: bank.api_public_key.clone().unwrap_or_default(),
            status: bank.status.clone(),
        }
    }

    fn input(&self) -> BankInput {
        BankInput {
            code: self.code.clone(),
            name: self.name.clone(),
            bins: vec![self.bins.clone()],
            contact_name: self.contact_name.clone(),
            contact_phone: self.contact_phone.clone(),
            api_public_key: Some(self.api_public_key.clone()),
            status: Some(self.status.clone()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_banks.html")]
struct BanksPage {
    staff: StaffNav,
    banks: Vec<BankView>,
    form: BankForm,
    summary: String,
    errors: Vec<FieldError>,
}

async fn banks(State(state): State<AppState>, session: Session) -> Response {
    match state.services.list_banks().await {
        Ok(banks) => BanksPage {
            staff: StaffNav::of(&session.principal),
            banks,
            form: BankForm::default(),
            summary: String::new(),
            errors: Vec::new(),
        }
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    fields: Fields,
) -> Response {
    let form = BankForm::posted(&fields);
    match state
        .services
        .create_bank(&form.input(), &session.principal.actor(&client))
        .await
    {
        Ok(bank) => see_other(&format!("/admin/banks/{}?notice=created", bank.code)),
        Err(error) => {
            let status = Problem::from(&error).status_code();
            let (summary, errors) = summary_and_errors(error);
            let banks = state.services.list_banks().await.unwrap_or_default();
            (
                status,
                BanksPage {
                    staff: StaffNav::of(&session.principal),
                    banks,
                    form,
                    summary,
                    errors,
                },
            )
                .into_response()
        }
    }
}

fn summary_and_errors(error: ServiceError) -> (String, Vec<FieldError>) {
    match error {
        ServiceError::Invalid { detail, errors, .. } => (detail, errors),
        other => {
            let problem = Problem::from(&other);
            (problem.detail, Vec::new())
        }
    }
}

/// A batch as the page shows it.
struct BatchLine {
    batch: BatchView,
    kind: &'static str,
    state: &'static str,
    created_at: String,
}

/// A rejection as the page shows it.
struct RejectionLine {
    rejection: RejectionView,
    returned_at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_bank.html")]
struct BankPage {
    staff: StaffNav,
    bank: BankView,
    form: BankForm,
    notice: Option<&'static str>,
    summary: String,
    errors: Vec<FieldError>,
    exchange: ExchangeView,
    batches: Vec<BatchLine>,
    rejections: Vec<RejectionLine>,
    /// A refused 重新报送: what is wrong, and the row's card and note.
    requeue_summary: String,
    requeue_errors: Vec<FieldError>,
    requeue_card: String,
    requeue_note: String,
}

async fn bank_page(
    state: &AppState,
    session: &Session,
    code: &str,
) -> Result<BankPage, ServiceError> {
    let bank = state.services.bank(code).await?;
    let exchange = state.services.bank_exchange(code).await?;
    let rejections = state.services.bank_rejections(code).await?;
    let time = |t: chrono::DateTime<chrono::Utc>| to_china(t).format("%Y-%m-%d %H:%M").to_string();
    Ok(BankPage {
        staff: StaffNav::of(&session.principal),
        form: BankForm::of(&bank),
        bank,
        notice: None,
        summary: String::new(),
        errors: Vec::new(),
        batches: exchange
            .batches
            .iter()
            .map(|batch| BatchLine {
                kind: if batch.kind == "export" {
                    "报送"
                } else {
                    "回盘"
                },
                state: match batch.state.as_str() {
                    "claiming" | "claimed" => "报送中（未完成）",
                    "written" => "已生成文件",
                    "applying" => "导入中（未完成）",
                    "applied" => "已导入",
                    _ => "—",
                },
                created_at: time(batch.created_at),
                batch: batch.clone(),
            })
            .collect(),
        exchange,
        requeue_summary: String::new(),
        requeue_errors: Vec::new(),
        requeue_card: String::new(),
        requeue_note: String::new(),
        rejections: rejections
            .into_iter()
            .map(|rejection| RejectionLine {
                returned_at: time(rejection.returned_at),
                rejection,
            })
            .collect(),
    })
}

async fn bank(
    State(state): State<AppState>,
    session: Session,
    ApiPath(code): ApiPath<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    match bank_page(&state, &session, &code).await {
        Ok(mut page) => {
            page.notice = match query.notice.as_deref() {
                Some("created") => Some("已登记该合作银行。"),
                Some("updated") => Some("已保存修改。"),
                Some("requeued") => {
                    Some("已重新报送：该卡将随下一批报送文件发给银行，跟进情况已记入审计日志。")
                }
                _ => None,
            };
            page.into_response()
        }
        Err(error) => service_error_page(&error),
    }
}

async fn update(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(code): ApiPath<String>,
    fields: Fields,
) -> Response {
    let form = BankForm::posted(&fields);
    match state
        .services
        .update_bank(&code, &form.input(), &session.principal.actor(&client))
        .await
    {
        Ok(bank) => see_other(&format!("/admin/banks/{}?notice=updated", bank.code)),
        Err(error) => {
            refused_on_bank_page(&state, &session, &code, error, |page, summary, errors| {
                page.summary = summary;
                page.errors = errors;
                page.form = BankForm {
                    code: page.bank.code.clone(),
                    ..form
                };
            })
            .await
        }
    }
}

/// The bank's page again after a refused form, with the refusal's status
/// and what `fill` puts on it (the summary, each field's problem, what was
/// typed).
async fn refused_on_bank_page(
    state: &AppState,
    session: &Session,
    code: &str,
    error: ServiceError,
    fill: impl FnOnce(&mut BankPage, String, Vec<FieldError>),
) -> Response {
    let status = Problem::from(&error).status_code();
    match bank_page(state, session, code).await {
        Ok(mut page) => {
            let (summary, errors) = summary_and_errors(error);
            fill(&mut page, summary, errors);
            (status, page).into_response()
        }
        Err(other) => service_error_page(&other),
    }
}

/// 重新报送 from the rejections list: back to the bank's page with a notice,
/// or the page again with what is wrong (the row's note kept).
async fn requeue(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(code): ApiPath<String>,
    fields: Fields,
) -> Response {
    let input = RequeueInput {
        card_number: fields.get("card_number").to_owned(),
        note: fields.get("note").to_owned(),
    };
    match state
        .services
        .requeue_rejected_card(&code, &input, &session.principal.actor(&client))
        .await
    {
        Ok(view) => see_other(&format!(
            "/admin/banks/{}?notice=requeued#rejections",
            view.bank
        )),
        Err(error) => {
            refused_on_bank_page(&state, &session, &code, error, |page, summary, errors| {
                page.requeue_summary = summary;
                page.requeue_errors = errors;
                page.requeue_card = input.card_number;
                page.requeue_note = input.note;
            })
            .await
        }
    }
}
