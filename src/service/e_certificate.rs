//! 基本证照凭证核验 — verification through the basic e-certificate library.
//!
//! The guide lets the material 本人社会保障卡 be waived when the card is
//! verified through the basic e-certificate (通过基本证照凭证核验). Here the
//! card registry plays that library ([`RegistryECertificates`]); a real
//! library (the province's 电子证照库) implements [`ECertificateLibrary`]
//! and is put in with [`Services::with_e_certificates`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sscard_domain::identifiers::{CardNumber, IdNumber};
use sscard_domain::registry::SocialSecurityState;

use super::registry::ID_NUMBER_INDEX;
use super::{KeyStore, Services};
use crate::store::registry as rows;
use crate::store::{Store, StoreError};

/// What the library says about a holder's card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ECertificateAnswer {
    /// The library holds this card as the holder's valid certificate.
    Verified,
    /// It does not; the reason is shown to the applicant (Chinese), who then
    /// hands in the card itself or a scan of it.
    NotVerified { reason: String },
}

/// A boxed future of a library call.
pub type ECertificateFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ECertificateAnswer, String>> + Send + 'a>>;

/// The basic e-certificate library.
pub trait ECertificateLibrary: Send + Sync + std::fmt::Debug {
    /// Whether `card_number` is a certificate of the holder `id_number` /
    /// `name`. `Err` when the library cannot be asked right now.
    fn verify_card<'a>(
        &'a self,
        id_number: &'a IdNumber,
        name: &'a str,
        card_number: &'a CardNumber,
    ) -> ECertificateFuture<'a>;
}

/// The card registry as the e-certificate library: the card exists, is the
/// holder's (ID number and name), and has been issued and not cancelled.
#[derive(Clone, Debug)]
pub struct RegistryECertificates {
    store: Store,
    keys: Arc<KeyStore>,
}

impl RegistryECertificates {
    pub fn new(store: Store, keys: Arc<KeyStore>) -> Self {
        Self { store, keys }
    }
}

impl ECertificateLibrary for RegistryECertificates {
    fn verify_card<'a>(
        &'a self,
        id_number: &'a IdNumber,
        name: &'a str,
        card_number: &'a CardNumber,
    ) -> ECertificateFuture<'a> {
        Box::pin(async move {
            let not_verified = |reason: &str| {
                Ok(ECertificateAnswer::NotVerified {
                    reason: reason.to_owned(),
                })
            };
            let mut conn = self
                .store
                .pool()
                .acquire()
                .await
                .map_err(|e| StoreError::from(e).to_string())?;
            let index = self
                .keys
                .keyring()
                .blind_index(ID_NUMBER_INDEX, id_number.as_str());
            let person = rows::person_by_index(&mut conn, &index)
                .await
                .map_err(|e| e.to_string())?;
            let card = rows::card_by_number(&mut conn, card_number.as_str())
                .await
                .map_err(|e| e.to_string())?;
            match (person, card) {
                (Some(person), Some(card))
                    if card.person_id == person.id && person.name == name.trim() =>
                {
                    match SocialSecurityState::parse(&card.social_state) {
                        Ok(SocialSecurityState::Cancelled) => {
                            not_verified("电子证照库中该社会保障卡已注销，无法核验。")
                        }
                        Ok(SocialSecurityState::InProduction) => {
                            not_verified("电子证照库中该社会保障卡尚在制作，无法核验。")
                        }
                        Ok(_) => Ok(ECertificateAnswer::Verified),
                        Err(_) => Err(format!("cards.social_state `{}`", card.social_state)),
                    }
                }
                _ => not_verified(
                    "电子证照库中未找到与申请人身份证号码、姓名相符的该社会保障卡，请核对卡号或上传社会保障卡扫描件。",
                ),
            }
        })
    }
}

impl Services {
    /// Verifies cards through `library` from now on.
    #[must_use]
    pub fn with_e_certificates(mut self, library: Arc<dyn ECertificateLibrary>) -> Self {
        self.e_certificates = library;
        self
    }
}
