//! 金融功能激活 — activating a card's financial function at a bank counter.
//!
//! One use case, [`Services::activate_at_counter`], for three callers: a
//! bank teller on the `/bank` page or through `POST /api/v1/bank/activations`
//! with a bearer session, and a cooperating bank's own system through the
//! same route with an SM2-signed request ([`super::banks`]). The domain
//! decides ([`decide_counter_activation`]); here the facts are gathered and
//! the answer written:
//!
//! - one transaction whose first statement takes the card's row lock (as the
//!   case actions do), so of concurrent attempts one activates and the
//!   others find the account active;
//! - 未激活 → 已激活 by compare-and-set, with the card's history row (who,
//!   how the ID card was verified) and the audit entry;
//! - an account already active is answered `already_active` and changes
//!   nothing (no history row; the attempt is audited as refused with
//!   `FINANCIAL_ALREADY_ACTIVE`);
//! - every refusal is audited with its code and answered with the domain's
//!   Chinese message; an agent's attempt quotes the guide's FAQ.
//!
//! No other use case changes the financial application: the activation
//! case (办件) and the employer batches activate the social-security
//! application only (a test reads their sources to keep it so).

use serde::{Deserialize, Serialize};
use sscard_domain::bank::{
    BankStatus, CounterAttempt, CounterCard, CounterDecision, CounterFacts, CounterRefusal,
    IdVerification, Presenter, decide_counter_activation, in_person_reason,
};
use sscard_domain::identifiers::{CardNumber, IdNumber};
use sscard_domain::registry::{BankCode, FinancialEvent, FinancialState, PersonName};

use super::accounts::{Client, Principal};
use super::banks::BankCaller;
use super::registry::{CardView, ID_NUMBER_INDEX, Viewer, corrupt, parse_social};
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::today_in_china;
use crate::store::banks as bank_rows;
use crate::store::registry::{self as registry_rows, CardEventRow, StateColumn};

/// Body of `POST /api/v1/bank/activations` and the `/bank` page's form.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {
    /// 社会保障卡卡号, 9 characters.
    #[schema(example = "A12345678")]
    pub card_number: String,
    /// The holder's ID number as read from the ID card original.
    #[schema(example = "45022119850612723X")]
    pub id_number: String,
    /// The holder is at the counter in person (本人到场). Must be `true`,
    /// unless a legal guardian acts for a holder under 16.
    pub holder_present: bool,
    /// How the ID card original was verified: `card_reader` (身份证阅读器)
    /// or `visual` (柜员目视核验). Required.
    #[serde(default)]
    pub id_verified_by: Option<String>,
    /// Someone acting for the holder (代办人): never allowed — the attempt
    /// is refused with `AGENT_NOT_ALLOWED_FOR_BANK` and recorded.
    #[serde(default)]
    pub agent: Option<AgentAtCounter>,
    /// The legal guardian (法定监护人) of a holder under 16.
    #[serde(default)]
    pub guardian: Option<GuardianAtCounter>,
    /// For a bank's system: its own number of the teller at the counter.
    #[serde(default)]
    pub teller: Option<String>,
}

impl std::fmt::Debug for ActivationRequest {
    /// Prints no personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationRequest")
            .field("holder_present", &self.holder_present)
            .field("id_verified_by", &self.id_verified_by)
            .field("agent", &self.agent.is_some())
            .field("guardian", &self.guardian.is_some())
            .finish_non_exhaustive()
    }
}

/// Whoever came for the holder.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentAtCounter {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    /// e.g. 配偶, 子女.
    #[serde(default)]
    pub relation: Option<String>,
}

/// A legal guardian acting for a holder under 16.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianAtCounter {
    pub name: String,
    /// The guardian's own ID number (their ID card original was verified).
    pub id_number: String,
    /// The proof of guardianship checked: `household_register` (户口簿) or
    /// `guardianship_certificate` (监护关系证明).
    #[serde(default)]
    pub proof: Option<String>,
}

/// The answer to an activation attempt that was not refused.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ActivationView {
    /// `activated` (未激活 → 已激活 now) or `already_active` (nothing changed).
    pub outcome: String,
    /// `FINANCIAL_ALREADY_ACTIVE` for `already_active`.
    pub code: Option<String>,
    /// What to tell the holder, in Chinese.
    pub message: String,
    /// The card after the attempt, identifiers masked.
    pub card: CardView,
}

/// Who attempts the activation.
#[derive(Clone, Copy, Debug)]
pub enum CounterCaller<'a> {
    /// A signed-in bank teller (page or API).
    Teller {
        principal: &'a Principal,
        client: &'a Client,
        /// `page` or `api`.
        channel: &'static str,
    },
    /// A cooperating bank's system, by a verified signed request.
    BankSystem {
        caller: &'a BankCaller,
        client: &'a Client,
    },
}

impl CounterCaller<'_> {
    fn actor(&self) -> Actor {
        match self {
            Self::Teller {
                principal, client, ..
            } => principal.actor(client),
            Self::BankSystem { caller, client } => caller.actor(&client.address),
        }
    }

    fn channel(&self) -> &'static str {
        match self {
            Self::Teller { channel, .. } => channel,
            Self::BankSystem { .. } => "bank_system",
        }
    }

    fn bank(&self) -> ServiceResult<BankCode> {
        match self {
            Self::Teller { principal, .. } => principal
                .bank_code
                .as_deref()
                .and_then(|code| BankCode::parse(code).ok())
                .ok_or_else(|| ServiceError::Forbidden {
                    code: "ROLE_NOT_PERMITTED",
                    detail: "此功能仅限绑定了合作银行的柜员使用。".to_owned(),
                }),
            Self::BankSystem { caller, .. } => Ok(caller.bank.clone()),
        }
    }
}

/// The blind-index purpose of an account number set by a return file.
pub const ACCOUNT_INDEX: &str = "card.bank_account";

impl Services {
    /// Activates a card's financial function at a bank counter (see the
    /// module docs).
    ///
    /// # Errors
    ///
    /// `Invalid` (`AGENT_NOT_ALLOWED_FOR_BANK`, `ID_NOT_VERIFIED`,
    /// `GUARDIANSHIP_NOT_VERIFIED`, `CARD_HOLDER_MISMATCH`,
    /// `VALIDATION_FAILED`), `Forbidden` (`CARD_OF_OTHER_BANK`,
    /// `BANK_SUSPENDED`, `BANK_NOT_REGISTERED`), `NotFound CARD_NOT_FOUND`, `Conflict` with the
    /// card's state (`CARD_REPORTED_LOST`, `CARD_CANCELLED`,
    /// `CARD_NOT_YET_COLLECTED`, `CARD_EXPIRED`, `FINANCIAL_FROZEN`,
    /// `FINANCIAL_CLOSED`, `CARD_STATE_CHANGED`).
    pub async fn activate_at_counter(
        &self,
        request: &ActivationRequest,
        caller: CounterCaller<'_>,
    ) -> ServiceResult<ActivationView> {
        let bank = caller.bank()?;
        let actor = caller.actor();
        let attempt = attempt_of(request)?;
        let today = today_in_china();
        let reason = self.in_person_reason().await;

        // Someone other than the holder is refused whatever the card: decided
        // before the card is even looked at.
        let without_card = CounterFacts {
            teller_bank: &bank,
            teller_bank_active: true,
            card: None,
            today,
        };
        if let Err(
            refusal @ (CounterRefusal::AgentNotAllowed { .. } | CounterRefusal::IdNotVerified),
        ) = decide_counter_activation(&attempt, &without_card)
        {
            let card_number = CardNumber::parse(&request.card_number).ok();
            let mut tx = self.store().begin().await?;
            self.audit_refusal(
                &mut tx,
                &actor,
                &caller,
                &bank,
                None,
                card_number.as_ref(),
                request,
                &refusal,
            )
            .await?;
            commit(tx).await?;
            return Err(refusal_error(&refusal, &reason, ""));
        }

        let (card_number, id_number) = parse_identifiers(request)?;
        let mut tx = self.store().begin().await?;
        // The card's row lock first, as every action on a card takes it.
        bank_rows::lock_card(&mut tx, card_number.as_str()).await?;
        let card = registry_rows::card_by_number(&mut tx, card_number.as_str()).await?;
        let person = match &card {
            Some(card) => registry_rows::person_by_id(&mut tx, &card.person_id).await?,
            None => None,
        };
        let Some(bank_row) = bank_rows::bank(&mut tx, bank.as_str()).await? else {
            // A teller bound to a bank the registry does not know.
            drop(tx);
            return Err(ServiceError::Forbidden {
                code: "BANK_NOT_REGISTERED",
                detail: format!(
                    "您所属的银行 {bank} 未登记为合作银行，不能激活社会保障卡金融功能，请联系人力资源和社会保障局系统管理员。"
                ),
            });
        };
        let card_bank = card
            .as_ref()
            .map(|card| BankCode::parse(&card.bank_code))
            .transpose()
            .map_err(|_| corrupt("cards.bank_code", "(invalid)"))?;
        let holder_index = self
            .keyring()
            .blind_index(ID_NUMBER_INDEX, id_number.as_str());
        let counter_card = match (&card, &person, &card_bank) {
            (Some(card), Some(person), Some(card_bank)) => Some(CounterCard {
                bank: card_bank,
                holder_matches: person.id_number_index == holder_index,
                holder_age: id_number.age_on(today),
                social: parse_social(&card.social_state)?,
                financial: FinancialState::parse(&card.financial_state)
                    .map_err(|_| corrupt("cards.financial_state", &card.financial_state))?,
                expiry: card.expiry_date,
            }),
            _ => None,
        };
        let facts = CounterFacts {
            teller_bank: &bank,
            teller_bank_active: BankStatus::parse(&bank_row.status) == Ok(BankStatus::Active),
            card: counter_card,
            today,
        };
        let decision = match decide_counter_activation(&attempt, &facts) {
            Ok(decision) => decision,
            Err(refusal) => {
                let card_id = card.as_ref().map(|card| card.id.as_str());
                self.audit_refusal(
                    &mut tx,
                    &actor,
                    &caller,
                    &bank,
                    card_id,
                    Some(&card_number),
                    request,
                    &refusal,
                )
                .await?;
                commit(tx).await?;
                let card_bank_name = card_bank.as_ref().map_or("", BankCode::as_str);
                return Err(refusal_error(&refusal, &reason, card_bank_name));
            }
        };
        let card = card.ok_or_else(|| corrupt("cards", "vanished under its lock"))?;
        let object = format!("card:{}", card.id);
        let (outcome, code, message) = match decision {
            CounterDecision::AlreadyActive => {
                self.record_audit(
                    &mut tx,
                    &actor,
                    "card.financial_activation",
                    &object,
                    Outcome::Refused,
                    serde_json::json!({
                        "card_number": card_number.masked(),
                        "bank": bank.as_str(),
                        "channel": caller.channel(),
                        "code": "FINANCIAL_ALREADY_ACTIVE",
                    }),
                )
                .await?;
                commit(tx).await?;
                (
                    "already_active",
                    Some("FINANCIAL_ALREADY_ACTIVE".to_owned()),
                    "该卡的金融功能此前已激活，无须重复办理；本次未作任何变更。".to_owned(),
                )
            }
            CounterDecision::Activate => {
                let now = chrono::Utc::now();
                let from = FinancialState::NotActivated.code();
                let to = FinancialState::Active.code();
                if !registry_rows::set_state(
                    &mut tx,
                    &card.id,
                    StateColumn::Financial,
                    from,
                    to,
                    now,
                )
                .await?
                {
                    return Err(ServiceError::Conflict {
                        code: "CARD_STATE_CHANGED",
                        detail: "卡片状态刚被其他操作更改，请重新查询后办理。".to_owned(),
                    });
                }
                let seq = registry_rows::next_event_seq(&mut tx, &card.id).await?;
                registry_rows::insert_card_event(
                    &mut tx,
                    &CardEventRow {
                        id: uuid::Uuid::new_v4().to_string(),
                        card_id: card.id.clone(),
                        seq,
                        occurred_at: now,
                        application: "financial".to_owned(),
                        from_state: Some(from.to_owned()),
                        to_state: to.to_owned(),
                        event: FinancialEvent::Activate.code().to_owned(),
                        reason: Some(event_reason(&attempt, &bank, request.teller.as_deref())),
                        actor: actor.id.clone(),
                        actor_role: actor.role.clone(),
                    },
                )
                .await?;
                self.record_audit(
                    &mut tx,
                    &actor,
                    "card.financial_activation",
                    &object,
                    Outcome::Succeeded,
                    serde_json::json!({
                        "card_number": card_number.masked(),
                        "bank": bank.as_str(),
                        "channel": caller.channel(),
                        "presenter": attempt.presenter.code(),
                        "holder_present": attempt.holder_present,
                        "id_verified_by": attempt.id_verified_by.map(IdVerification::code),
                        "from": from,
                        "to": to,
                    }),
                )
                .await?;
                commit(tx).await?;
                (
                    "activated",
                    None,
                    "社会保障卡金融功能已激活。请提醒持卡人设置或修改银行账户密码，并妥善保管社会保障卡，不要交予他人。".to_owned(),
                )
            }
        };
        let card = self
            .card_by_number(&card_number, &Viewer::Bank(bank.as_str().to_owned()))
            .await?;
        Ok(ActivationView {
            outcome: outcome.to_owned(),
            code,
            message,
            card,
        })
    }

    /// The guide's answer to 是否需要本人办理？, from the current guide.
    async fn in_person_reason(&self) -> String {
        match self.current_guide().await {
            Ok(published) => in_person_reason(&published.guide),
            Err(_) => in_person_reason(&sscard_domain::guide::Guide::bundled()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit_refusal(
        &self,
        tx: &mut crate::store::Tx,
        actor: &Actor,
        caller: &CounterCaller<'_>,
        bank: &BankCode,
        card_id: Option<&str>,
        card_number: Option<&CardNumber>,
        request: &ActivationRequest,
        refusal: &CounterRefusal,
    ) -> ServiceResult<()> {
        let object = card_id.map_or_else(
            || format!("bank:{}", bank.as_str()),
            |id| format!("card:{id}"),
        );
        let agent = request.agent.as_ref().map(|agent| {
            serde_json::json!({
                "id_number": agent
                    .id_number
                    .as_deref()
                    .and_then(|id| IdNumber::parse(id).ok())
                    .map(|id| id.masked()),
                "relation": agent.relation.as_deref().map(|r| r.chars().take(20).collect::<String>()),
            })
        });
        self.record_audit(
            tx,
            actor,
            "card.financial_activation",
            &object,
            Outcome::Refused,
            serde_json::json!({
                "card_number": card_number.map(CardNumber::masked),
                "bank": bank.as_str(),
                "channel": caller.channel(),
                "code": refusal.code(),
                "holder_present": request.holder_present,
                "agent": agent,
                "guardian": request.guardian.is_some(),
            }),
        )
        .await
    }
}

/// What the teller stated, checked for form.
fn attempt_of(request: &ActivationRequest) -> ServiceResult<CounterAttempt> {
    let mut errors = Vec::new();
    let presenter = match (&request.agent, &request.guardian) {
        (Some(_), _) => Presenter::Agent,
        (None, Some(_)) => Presenter::Guardian,
        (None, None) => Presenter::Holder,
    };
    let id_verified_by = match request.id_verified_by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(code) => {
            let verification = IdVerification::from_code(code);
            if verification.is_none() {
                errors.push(FieldError::new(
                    "id_verified_by",
                    "ID_VERIFICATION_INVALID",
                    "身份证原件核验方式应为 card_reader（身份证阅读器）或 visual（柜员目视核验）。",
                ));
            }
            verification
        }
    };
    let mut guardianship_verified = false;
    if let (Presenter::Guardian, Some(guardian)) = (presenter, &request.guardian) {
        if PersonName::parse(&guardian.name).is_err() {
            errors.push(FieldError::new(
                "guardian.name",
                "NAME_EMPTY",
                "请填写监护人姓名。",
            ));
        }
        if let Err(error) = IdNumber::parse(&guardian.id_number) {
            errors.push(FieldError::new(
                "guardian.id_number",
                error.code(),
                format!("监护人身份证号码：{error}"),
            ));
        }
        guardianship_verified = matches!(
            guardian.proof.as_deref().map(str::trim),
            Some("household_register" | "guardianship_certificate")
        );
        if let Some(proof) = guardian
            .proof
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            && !guardianship_verified
        {
            errors.push(FieldError::new(
                "guardian.proof",
                "GUARDIANSHIP_PROOF_INVALID",
                format!(
                    "监护关系证明“{proof}”无效：应为 household_register（户口簿）或 guardianship_certificate（监护关系证明）。"
                ),
            ));
        }
    }
    if !errors.is_empty() && presenter != Presenter::Agent {
        return Err(ServiceError::Invalid {
            code: "VALIDATION_FAILED",
            detail: "激活信息有误，请按提示修改后重新提交。".to_owned(),
            errors,
        });
    }
    Ok(CounterAttempt {
        presenter,
        holder_present: request.holder_present,
        id_verified_by,
        guardianship_verified,
    })
}

fn parse_identifiers(request: &ActivationRequest) -> ServiceResult<(CardNumber, IdNumber)> {
    let card_number = CardNumber::parse(&request.card_number);
    let id_number = IdNumber::parse(&request.id_number);
    match (card_number, id_number) {
        (Ok(card_number), Ok(id_number)) => Ok((card_number, id_number)),
        (card_number, id_number) => {
            let mut errors = Vec::new();
            if let Err(error) = card_number {
                errors.push(FieldError::new(
                    "card_number",
                    error.code(),
                    error.to_string(),
                ));
            }
            if let Err(error) = id_number {
                errors.push(FieldError::new(
                    "id_number",
                    error.code(),
                    error.to_string(),
                ));
            }
            Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "卡号或身份证号码有误，请对照卡面和身份证原件核对。".to_owned(),
                errors,
            })
        }
    }
}

/// The history row's reason: the counter, who came and how the ID card
/// original was verified.
fn event_reason(attempt: &CounterAttempt, bank: &BankCode, teller: Option<&str>) -> String {
    let teller = teller
        .map(|t| {
            t.chars()
                .filter(|c| !c.is_control())
                .take(30)
                .collect::<String>()
        })
        .filter(|t| !t.trim().is_empty())
        .map(|t| format!("，柜员 {}", t.trim()))
        .unwrap_or_default();
    let verified = attempt.id_verified_by.map_or("", IdVerification::label_zh);
    match attempt.presenter {
        Presenter::Guardian => format!(
            "{}柜台激活{teller}：法定监护人代持卡人（未满16周岁）办理，监护关系已核验，监护人身份证原件经{verified}",
            bank.as_str()
        ),
        Presenter::Holder | Presenter::Agent => format!(
            "{}柜台激活{teller}：持卡人本人到场，身份证原件经{verified}",
            bank.as_str()
        ),
    }
}

/// A refusal as the service's error, with the field at fault where there is one.
fn refusal_error(refusal: &CounterRefusal, reason: &str, card_bank: &str) -> ServiceError {
    let code = refusal.code();
    let detail = refusal.message(reason, card_bank);
    let invalid = |field: &str| ServiceError::Invalid {
        code,
        detail: detail.clone(),
        errors: vec![FieldError::new(field, code, detail.clone())],
    };
    match refusal {
        CounterRefusal::AgentNotAllowed { presenter } => invalid(match presenter {
            Presenter::Agent => "agent",
            Presenter::Guardian => "guardian",
            Presenter::Holder => "holder_present",
        }),
        CounterRefusal::IdNotVerified => invalid("id_verified_by"),
        CounterRefusal::GuardianshipNotVerified => invalid("guardian.proof"),
        CounterRefusal::HolderMismatch => invalid("id_number"),
        CounterRefusal::BankSuspended | CounterRefusal::OtherBank => {
            ServiceError::Forbidden { code, detail }
        }
        CounterRefusal::CardNotFound => ServiceError::NotFound { code, detail },
        CounterRefusal::State(_) => ServiceError::Conflict { code, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the counter activation and the registry's own staff transition
    /// change a card's financial application: the activation case (办件),
    /// the employer batches and every other use case never do. Read from
    /// the sources, so a future edit that adds such a write fails here.
    #[test]
    fn no_case_or_batch_code_touches_the_financial_application() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let allowed = [
            "service/bank_activation.rs",
            "service/registry.rs",
            "store/registry.rs",
            "store/banks.rs",
        ];
        let forbidden = [
            "StateColumn::Financial",
            "FinancialEvent::Activate",
            "SET financial_state",
            "financial_state =",
            "transition_financial",
        ];
        let mut files = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut checked = 0;
        for path in &files {
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if allowed.contains(&relative.as_str()) {
                continue;
            }
            let source = std::fs::read_to_string(path).unwrap();
            // The query that counts cards by state for /metrics reads the
            // column; reading is fine, so only these write patterns count.
            for pattern in forbidden {
                assert!(
                    !source.contains(pattern),
                    "{relative} contains `{pattern}`: only the bank counter activates a card's financial function"
                );
            }
            checked += 1;
        }
        assert!(
            files.iter().any(|p| p.ends_with("service/cases.rs")),
            "the case use cases are among the files checked"
        );
        assert!(checked > 20, "the scan reads the sources: {checked}");
    }

    #[test]
    fn the_presenter_comes_from_who_is_named() {
        let holder = ActivationRequest {
            holder_present: true,
            id_verified_by: Some("card_reader".into()),
            ..ActivationRequest::default()
        };
        let attempt = attempt_of(&holder).unwrap();
        assert_eq!(attempt.presenter, Presenter::Holder);
        assert_eq!(attempt.id_verified_by, Some(IdVerification::CardReader));
        let agent = ActivationRequest {
            agent: Some(AgentAtCounter::default()),
            id_verified_by: Some("nonsense".into()),
            ..holder.clone()
        };
        // An agent is refused by the domain, not by a form error.
        assert_eq!(attempt_of(&agent).unwrap().presenter, Presenter::Agent);
        let bad = ActivationRequest {
            id_verified_by: Some("fingerprint".into()),
            ..holder.clone()
        };
        assert_eq!(attempt_of(&bad).unwrap_err().code(), "VALIDATION_FAILED");
        let guardian = ActivationRequest {
            guardian: Some(GuardianAtCounter {
                name: "李监护".into(),
                id_number: "45022119850612723X".into(),
                proof: Some("household_register".into()),
            }),
            holder_present: false,
            ..holder
        };
        let attempt = attempt_of(&guardian).unwrap();
        assert_eq!(attempt.presenter, Presenter::Guardian);
        assert!(attempt.guardianship_verified);
    }
}
