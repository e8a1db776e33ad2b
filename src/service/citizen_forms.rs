//! What the cardholder's online form (《社会保障卡服务申请表》) is filled
//! with from the registry: the signed-in holder's name and ID number (the
//! full number stays on the server: the page shows it masked and the form
//! handler puts it into the application), the mobile number on record
//! (masked, as a hint) and the holder's cards (masked, with their state).

use sscard_domain::identifiers::CardNumber;

use super::citizens::CitizenPrincipal;
use super::registry::parse_social;
use super::{ServiceError, ServiceResult, Services};
use crate::store::registry::{self as registry_rows, ID_NUMBER_SEALED};

/// The registry's part of the signed-in holder's form.
#[derive(Clone)]
pub struct CitizenFormDefaults {
    /// The name exactly as registered.
    pub name: String,
    /// The full ID number (社会保障号码), for the application only: never
    /// rendered, logged or put into a URL.
    pub id_number: String,
    pub id_number_masked: String,
    /// The mobile number on record, masked (e.g. `138****2345`).
    pub mobile_masked: Option<String>,
    /// The holder's cards, oldest first.
    pub cards: Vec<OwnCard>,
}

impl std::fmt::Debug for CitizenFormDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CitizenFormDefaults")
            .field("id_number_masked", &self.id_number_masked)
            .finish_non_exhaustive()
    }
}

/// One of the holder's cards, as the form's hint shows it.
#[derive(Clone, Debug)]
pub struct OwnCard {
    pub card_number_masked: String,
    /// The social-security application's state, e.g. `collected`.
    pub social_state: String,
    /// e.g. `已领卡未启用`.
    pub social_state_label: String,
}

impl Services {
    /// The signed-in holder's name, ID number and cards from the registry,
    /// to fill their online application.
    ///
    /// # Errors
    ///
    /// `Unauthorized NOT_SIGNED_IN` when the person is no longer in the
    /// registry; `Internal` when a sealed value does not open.
    pub async fn citizen_form_defaults(
        &self,
        citizen: &CitizenPrincipal,
    ) -> ServiceResult<CitizenFormDefaults> {
        let mut conn = self.connection().await?;
        let person = registry_rows::person_by_id(&mut conn, &citizen.person_id)
            .await?
            .ok_or_else(|| ServiceError::Unauthorized {
                code: "NOT_SIGNED_IN",
                detail: "登记信息已变更，请重新以身份证号码和短信验证码登录。".to_owned(),
            })?;
        let cards = registry_rows::cards_of_person(&mut conn, &person.id).await?;
        drop(conn);
        let id_number =
            self.open_sealed(&person.id_number_sealed, &ID_NUMBER_SEALED.aad(&person.id))?;
        let cards = cards
            .iter()
            .map(|card| {
                let state = parse_social(&card.social_state)?;
                Ok(OwnCard {
                    card_number_masked: CardNumber::parse(&card.card_number)
                        .map_or_else(|_| "*********".to_owned(), |c| c.masked()),
                    social_state: state.code().to_owned(),
                    social_state_label: state.label_zh().to_owned(),
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(CitizenFormDefaults {
            name: person.name,
            id_number,
            id_number_masked: person.id_number_masked,
            mobile_masked: person.mobile_masked,
            cards,
        })
    }
}
