//! 预审 of identifiers: checks the identifiers a form is about to submit and
//! reports every problem at once, so a person fixes them in one go.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sscard_domain::identifiers::{
    BankCardNumber, CardIdentificationCode, CardNumber, IdNumber, MobileNumber, Sex, Uscc,
};

use super::{FieldError, ServiceError, ServiceResult};

/// The identifiers to check; any subset may be given.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierCheck {
    /// 社会保障号码 (citizen ID number).
    pub id_number: Option<String>,
    /// 统一社会信用代码 of an employer.
    pub uscc: Option<String>,
    /// 社会保障卡卡号.
    pub card_number: Option<String>,
    /// 卡识别码.
    pub card_identification_code: Option<String>,
    /// 银行卡号.
    pub bank_card_number: Option<String>,
    /// 手机号.
    pub mobile: Option<String>,
}

impl std::fmt::Debug for IdentifierCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentifierCheck { .. }")
    }
}

/// What the valid identifiers are, masked.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IdentifierFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<IdNumberFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_identification_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_card_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// What an ID number says about its holder.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IdNumberFacts {
    /// Masked, e.g. `450221********123X`.
    pub masked: String,
    pub birth_date: NaiveDate,
    /// `male` or `female`.
    pub sex: Sex,
}

/// Checks every given identifier and reports all problems together.
pub fn check_identifiers(
    input: &IdentifierCheck,
    today: NaiveDate,
) -> ServiceResult<IdentifierFacts> {
    let mut check = Precheck::default();
    let facts = IdentifierFacts {
        id_number: check
            .field("id_number", input.id_number.as_deref(), |raw| {
                IdNumber::parse_at(raw, today)
            })
            .map(|id| IdNumberFacts {
                masked: id.masked(),
                birth_date: id.birth_date(),
                sex: id.sex(),
            }),
        uscc: check
            .field("uscc", input.uscc.as_deref(), Uscc::parse)
            .map(|v| v.masked()),
        card_number: check
            .field(
                "card_number",
                input.card_number.as_deref(),
                CardNumber::parse,
            )
            .map(|v| v.masked()),
        card_identification_code: check
            .field(
                "card_identification_code",
                input.card_identification_code.as_deref(),
                CardIdentificationCode::parse,
            )
            .map(|v| v.masked()),
        bank_card_number: check
            .field(
                "bank_card_number",
                input.bank_card_number.as_deref(),
                BankCardNumber::parse,
            )
            .map(|v| v.masked()),
        mobile: check
            .field("mobile", input.mobile.as_deref(), MobileNumber::parse)
            .map(|v| v.masked()),
    };
    if check.given == 0 {
        return Err(ServiceError::Invalid {
            code: "VALIDATION_FAILED",
            detail: "请至少填写一项需要核验的号码。".to_owned(),
            errors: vec![FieldError::new(
                "",
                "NOTHING_TO_CHECK",
                "请至少填写一项需要核验的号码。",
            )],
        });
    }
    if check.errors.is_empty() {
        Ok(facts)
    } else {
        Err(ServiceError::Invalid {
            code: "VALIDATION_FAILED",
            detail: format!(
                "共有 {} 项号码有误，请逐项核对后重新填写。",
                check.errors.len()
            ),
            errors: check.errors,
        })
    }
}

/// Collects the outcome of each optional field.
#[derive(Default)]
struct Precheck {
    errors: Vec<FieldError>,
    given: usize,
}

impl Precheck {
    /// Parses one optional identifier; a failure is recorded against `field`.
    fn field<T, E: std::fmt::Display + CodedError>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        let raw = raw?;
        self.given += 1;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors
                    .push(FieldError::new(field, e.code(), e.to_string()));
                None
            }
        }
    }
}

/// Domain errors that carry a stable code.
trait CodedError {
    fn code(&self) -> &'static str;
}

macro_rules! coded {
    ($($error:ty),* $(,)?) => {
        $(impl CodedError for $error {
            fn code(&self) -> &'static str {
                <$error>::code(self)
            }
        })*
    };
}

coded!(
    sscard_domain::identifiers::IdNumberError,
    sscard_domain::identifiers::UsccError,
    sscard_domain::identifiers::CardNumberError,
    sscard_domain::identifiers::CardIdentificationCodeError,
    sscard_domain::identifiers::BankCardNumberError,
    sscard_domain::identifiers::MobileNumberError,
);
