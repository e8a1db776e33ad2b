//! 查看完整信息 — revealing a cardholder's full identifiers. Everything is
//! masked by default; a window clerk who needs a full value (to compare with
//! the ID card in front of them, to call the holder) asks for it with a
//! reason, and every reveal is written to the audit trail in the same
//! transaction that reads the values.

use serde::{Deserialize, Serialize};
use sscard_domain::identifiers::CardNumber;

use super::accounts::{Client, Principal};
use super::registry::parse_reason;
use super::{FieldError, Outcome, ServiceError, ServiceResult, Services};
use crate::store::registry::{
    ADDRESS_SEALED, BANK_ACCOUNT_SEALED, ID_NUMBER_SEALED, MOBILE_SEALED, card_by_number,
    person_by_id,
};

/// A field that can be revealed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RevealField {
    IdNumber,
    Mobile,
    Address,
    BankAccount,
}

/// The revealed values; a field the holder has no value for is absent.
#[derive(Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
}

impl std::fmt::Debug for Revealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revealed { .. }")
    }
}

impl Services {
    /// Reveals the asked fields of a card's holder, with the reason recorded
    /// in the audit trail (never the values).
    pub async fn reveal_holder(
        &self,
        card_number: &str,
        fields: &[RevealField],
        reason: Option<&str>,
        principal: &Principal,
        client: &Client,
    ) -> ServiceResult<Revealed> {
        let mut errors = Vec::new();
        let card_number = CardNumber::parse(card_number)
            .map_err(|e| errors.push(FieldError::new("card_number", e.code(), e.to_string())))
            .ok();
        if fields.is_empty() {
            errors.push(FieldError::new(
                "fields",
                "REVEAL_FIELDS_REQUIRED",
                "请选择要查看的完整信息（证件号码、手机号、地址或银行账号）。",
            ));
        }
        let reason = match parse_reason(reason) {
            Ok(Some(reason)) => Some(reason),
            Ok(None) => {
                errors.push(FieldError::new(
                    "reason",
                    "REVEAL_REASON_REQUIRED",
                    "查看完整信息须填写事由（如：核对本人身份证件），该事由将记入审计日志。",
                ));
                None
            }
            Err(ServiceError::Invalid { errors: more, .. }) => {
                errors.extend(more);
                None
            }
            Err(other) => return Err(other),
        };
        let (Some(card_number), Some(reason), true) = (card_number, reason, errors.is_empty())
        else {
            return Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "查看完整信息的申请有误，请按提示修改。".to_owned(),
                errors,
            });
        };

        let mut tx = self.store().begin().await?;
        let card = card_by_number(&mut tx, card_number.as_str())
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "CARD_NOT_FOUND",
                detail: format!(
                    "未找到卡号为 {} 的社会保障卡，请核对卡号。",
                    card_number.masked()
                ),
            })?;
        let person = person_by_id(&mut tx, &card.person_id)
            .await?
            .ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!("card {} has no holder row", card.id))
            })?;
        let mut fields = fields.to_vec();
        fields.sort_unstable();
        fields.dedup();
        let mut revealed = Revealed::default();
        for field in &fields {
            match field {
                RevealField::IdNumber => {
                    revealed.id_number = Some(self.open_sealed(
                        &person.id_number_sealed,
                        &ID_NUMBER_SEALED.aad(&person.id),
                    )?);
                }
                RevealField::Mobile => {
                    revealed.mobile = person
                        .mobile_sealed
                        .as_deref()
                        .map(|sealed| self.open_sealed(sealed, &MOBILE_SEALED.aad(&person.id)))
                        .transpose()?;
                }
                RevealField::Address => {
                    revealed.address = person
                        .address_sealed
                        .as_deref()
                        .map(|sealed| self.open_sealed(sealed, &ADDRESS_SEALED.aad(&person.id)))
                        .transpose()?;
                }
                RevealField::BankAccount => {
                    revealed.bank_account = card
                        .bank_account_sealed
                        .as_deref()
                        .map(|sealed| self.open_sealed(sealed, &BANK_ACCOUNT_SEALED.aad(&card.id)))
                        .transpose()?;
                }
            }
        }
        self.record_audit(
            &mut tx,
            &principal.actor(client),
            "person.reveal",
            &format!("person:{}", person.id),
            Outcome::Succeeded,
            serde_json::json!({
                "card": card_number.masked(),
                "fields": fields,
                "reason": reason,
            }),
        )
        .await?;
        super::commit(tx).await?;
        Ok(revealed)
    }
}
