//! 社会保障卡查询 — the staff page of the card registry: one form taking a
//! card number or a social security number (ID number), posted (never in
//! the URL), answering with the person, their cards, each card's two states
//! with Chinese labels and the history, every identifier masked. The input
//! is not echoed back into the page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sscard_domain::identifiers::{CardNumber, IdNumber, normalize};

use super::staff::{Fields, StaffNav};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::Problem;
use crate::service::ServiceError;
use crate::service::registry::{CardView, PersonView, Viewer};

pub fn router() -> Router<AppState> {
    Router::new().route("/staff/cards", get(form).post(lookup))
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_cards.html")]
struct CardsPage {
    staff: StaffNav,
    /// What was searched for, masked.
    searched: Option<String>,
    error: Option<String>,
    person: Option<PersonView>,
    cards: Vec<CardPanel>,
}

/// One card with its history rows ready to show.
struct CardPanel {
    card: CardView,
    history: Vec<HistoryRow>,
    /// The cooperating bank's name, when it is registered.
    bank_name: Option<String>,
}

struct HistoryRow {
    time: String,
    application: String,
    event: String,
    from: String,
    to: String,
    reason: String,
    actor: String,
}

impl CardPanel {
    fn of(card: CardView) -> Self {
        let history = card
            .history
            .iter()
            .map(|event| HistoryRow {
                time: to_china(event.occurred_at)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                application: event.application_label.clone(),
                event: event.event_label.clone(),
                from: event
                    .from_state
                    .as_ref()
                    .map_or_else(|| "—".to_owned(), |s| s.label.clone()),
                to: event.to_state.label.clone(),
                reason: event.reason.clone().unwrap_or_else(|| "—".to_owned()),
                actor: event.actor.clone(),
            })
            .collect();
        Self {
            card,
            history,
            bank_name: None,
        }
    }
}

impl CardsPage {
    fn empty(session: &Session) -> Self {
        Self {
            staff: StaffNav::of(&session.principal),
            searched: None,
            error: None,
            person: None,
            cards: Vec::new(),
        }
    }
}

async fn form(session: Session) -> Response {
    CardsPage::empty(&session).into_response()
}

/// What the one search field holds (`Debug` masked, as the identifiers' own).
#[derive(Debug)]
enum Query {
    Card(CardNumber),
    Person(IdNumber),
}

/// A card number has 9 characters, an ID number 18: the length decides,
/// then the identifier's own parser gives its Chinese message.
fn parse_query(input: &str) -> Result<Query, String> {
    let compact = normalize(input);
    match compact.chars().count() {
        0 => Err("请输入社会保障卡卡号或社会保障号码（身份证号码）。".to_owned()),
        18 => IdNumber::parse(&compact)
            .map(Query::Person)
            .map_err(|e| e.to_string()),
        9 => CardNumber::parse(&compact)
            .map(Query::Card)
            .map_err(|e| e.to_string()),
        _ => Err(
            "请输入9位社会保障卡卡号（例如A12345678）或18位社会保障号码（身份证号码）。".to_owned(),
        ),
    }
}

async fn lookup(State(state): State<AppState>, session: Session, fields: Fields) -> Response {
    let mut page = CardsPage::empty(&session);
    let query = match parse_query(fields.get("query")) {
        Ok(query) => query,
        Err(message) => {
            page.error = Some(message);
            return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        }
    };
    let result = match query {
        Query::Card(number) => {
            page.searched = Some(format!("卡号 {}", number.masked()));
            // The access rule lets only bureau staff in; anyone else sees nothing.
            let Some(viewer) = Viewer::of(&session.principal) else {
                page.error = Some("此功能仅限窗口工作人员使用。".to_owned());
                return (StatusCode::FORBIDDEN, page).into_response();
            };
            state
                .services
                .card_by_number(&number, &viewer)
                .await
                .map(|card| page.cards.push(CardPanel::of(card)))
        }
        Query::Person(id_number) => {
            page.searched = Some(format!("社会保障号码 {}", id_number.masked()));
            state
                .services
                .person_by_id_number(&id_number)
                .await
                .map(|mut person| {
                    page.cards = std::mem::take(&mut person.cards)
                        .into_iter()
                        .map(CardPanel::of)
                        .collect();
                    page.person = Some(person);
                })
        }
    };
    if result.is_ok() && !page.cards.is_empty() {
        // The bank's name beside its code; the code alone if the list fails.
        if let Ok(banks) = state.services.list_banks().await {
            for panel in &mut page.cards {
                panel.bank_name = banks
                    .iter()
                    .find(|bank| bank.code == panel.card.bank_code)
                    .map(|bank| bank.name.clone());
            }
        }
    }
    match result {
        Ok(()) => page.into_response(),
        Err(error) => {
            let status = problem_status(&error);
            page.error = Some(Problem::from(&error).detail);
            (status, page).into_response()
        }
    }
}

fn problem_status(error: &ServiceError) -> StatusCode {
    Problem::from(error).status_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_decides_what_was_entered() {
        assert!(matches!(
            parse_query(" ａ１２３４５６７８ "),
            Ok(Query::Card(number)) if number.as_str() == "A12345678"
        ));
        assert!(matches!(
            parse_query("45022119850612723x"),
            Ok(Query::Person(id)) if id.as_str() == "45022119850612723X"
        ));
        assert!(parse_query("").unwrap_err().contains("请输入"));
        assert!(parse_query("12345").unwrap_err().contains("9位"));
        assert!(
            parse_query("450221198506127231")
                .unwrap_err()
                .contains("校验位")
        );
    }
}
