//! Use cases of the card registry (持卡人与社会保障卡): registering insured
//! persons and their cards, moving a card's two applications through their
//! state machines, and the staff look-ups.
//!
//! # The public API (stable; the importer and the pages build on it)
//!
//! Input, parsed once ("parse, don't validate"):
//! - [`PersonInput`] → [`PersonInput::parse`] → [`PersonRecord`]
//! - [`CardInput`] → [`CardInput::parse`] → [`CardRecord`]
//!
//!   Both list every field problem at once (`ServiceError::Invalid` with
//!   `errors`), with the codes of the domain (`ID_NUMBER_CHECKSUM`,
//!   `REGION_CODE_FORMAT`, `DATE_FORMAT`, …).
//!
//! Use cases on [`Services`] (each one transaction, one audit entry, and for
//! cards the `card_events` rows):
//! - [`Services::register_person`] — a new person (`PERSON_ALREADY_REGISTERED` if known);
//! - [`Services::register_card`] — a new card for a registered person
//!   (`PERSON_NOT_FOUND`, `CARD_ALREADY_REGISTERED`, `CARD_ID_CODE_TAKEN`,
//!   `PERSON_HAS_ACTIVE_CARD`, `CARD_STATES_INCONSISTENT`);
//! - [`Services::transition_social`], [`Services::transition_financial`] —
//!   one event through the domain's state machine; a refusal is a
//!   `ServiceError::Conflict` with the domain's code (`CARD_REPORTED_LOST`,
//!   `CARD_CANCELLED`, `CARD_EXPIRED`, `CARD_NOT_YET_COLLECTED`,
//!   `FINANCIAL_ALREADY_ACTIVE`, `TRANSITION_NOT_ALLOWED`, …) and a Chinese
//!   detail naming the current state and the attempted action; refusals are
//!   audited too (outcome `refused`);
//! - [`Services::upsert_person`], [`Services::upsert_card`] — for imports:
//!   [`UpsertOutcome::Created`], `Updated` or `Unchanged` (which writes
//!   nothing, not even an audit entry). [`Services::upsert_person_in`] and
//!   [`Services::upsert_card_in`] do the same inside the caller's open
//!   transaction without an audit entry, so an import of many rows writes one
//!   audit entry per batch (the caller's `record_audit`).
//!
//! Look-ups, masked identifiers only (no reveal here):
//! - [`Services::person_by_id_number`] → [`PersonView`] with the person's cards;
//! - [`Services::card_by_number`] → [`CardView`] with both states and the history;
//! - [`Services::card_history`] → the history alone.
//!
//! A bank teller sees only cards of their own bank ([`Viewer::Bank`]); a card
//! of another bank is answered exactly like a missing one (`404
//! CARD_NOT_FOUND`), so card numbers of other banks cannot be probed.
//!
//! # Rules kept here
//!
//! - A person holds at most one card that is not cancelled (注销): checked in
//!   the transaction that adds the card, after taking the person's row lock
//!   (`PERSON_HAS_ACTIVE_CARD`). A formally lost card still counts until it
//!   is cancelled; the replacement is registered after that.
//! - A card's states change only through the domain ([`SocialSecurityState::apply`],
//!   [`FinancialState::apply`]); an import never changes the states of an
//!   existing card (`CARD_STATE_DIFFERS`).
//! - ID number, mobile, address and bank account are sealed at rest with
//!   associated data `<table>.<column>:<row id>`; the person is found by the
//!   blind index of the canonical ID number (purpose `person.id_number`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sscard_domain::identifiers::{
    BankCardNumber, CardIdentificationCode, CardNumber, IdNumber, MobileNumber, Sex, Uscc,
    normalize,
};
use sscard_domain::registry::{
    Address, Application, BankCode, Enrolment, EnrolmentStatus, FinancialEvent, FinancialState,
    PersonName, RegionCode, SocialSecurityEvent, SocialSecurityState, SpecVersion, TransitionError,
    check_initial_states, is_enrolled_in_liuzhou, is_expired,
};

use super::accounts::Principal;
use super::commit;
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services};
use crate::clock::today_in_china;
use crate::store::keys::SealedColumn;
use crate::store::registry::{
    self as rows, CardEventRecord, CardEventRow, CardRow, PersonRow, StateColumn,
};
use crate::store::{StoreError, Tx};

/// The blind-index purpose of the person's ID number.
pub const ID_NUMBER_INDEX: &str = "person.id_number";
/// The longest reason (办理原因) accepted for a transition, in characters.
pub const MAX_REASON_CHARS: usize = 200;

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// A person as entered (API body, form, spreadsheet row), not yet checked.
/// Optional text fields may also be blank.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PersonInput {
    /// 社会保障号码 (= citizen ID number); full-width digits and a lower-case x are accepted.
    pub id_number: String,
    /// 姓名, kept exactly as written.
    pub name: String,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// The employer's unified social credit code.
    #[serde(default)]
    pub employer_uscc: Option<String>,
    /// 参保地行政区划代码, e.g. `450206`.
    pub enrolment_region: String,
    /// `contributing`/`suspended`/`terminated` or 参保缴费/暂停缴费/终止.
    pub enrolment_status: String,
    /// Since when (`YYYY-MM-DD` or `YYYYMMDD`).
    pub enrolment_since: String,
}

impl std::fmt::Debug for PersonInput {
    /// Prints no personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonInput").finish_non_exhaustive()
    }
}

/// A checked person: what [`Services::register_person`] and
/// [`Services::upsert_person`] take. Sex and birth date come from the ID number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRecord {
    pub id_number: IdNumber,
    pub name: PersonName,
    pub mobile: Option<MobileNumber>,
    pub address: Option<Address>,
    pub employer_uscc: Option<Uscc>,
    pub enrolment: Enrolment,
}

impl PersonInput {
    /// Checks every field and lists every problem at once. `today` rejects
    /// birth dates and enrolment dates in the future.
    ///
    /// # Errors
    ///
    /// `ServiceError::Invalid` (`VALIDATION_FAILED`) with one [`FieldError`]
    /// per field at fault.
    pub fn parse(&self, today: NaiveDate) -> ServiceResult<PersonRecord> {
        let mut errors = Vec::new();
        let id_number = field(
            &mut errors,
            "id_number",
            IdNumber::parse_at(&self.id_number, today),
            |e| (e.code(), e.to_string()),
        );
        let name = field(&mut errors, "name", PersonName::parse(&self.name), |e| {
            (e.code(), e.to_string())
        });
        let mobile = match blank_to_none(self.mobile.as_deref()) {
            None => Some(None),
            Some(raw) => field(&mut errors, "mobile", MobileNumber::parse(raw), |e| {
                (e.code(), e.to_string())
            })
            .map(Some),
        };
        let address = field(
            &mut errors,
            "address",
            Address::parse(self.address.as_deref().unwrap_or_default()),
            |e| (e.code(), e.to_string()),
        );
        let employer_uscc = match blank_to_none(self.employer_uscc.as_deref()) {
            None => Some(None),
            Some(raw) => field(&mut errors, "employer_uscc", Uscc::parse(raw), |e| {
                (e.code(), e.to_string())
            })
            .map(Some),
        };
        let region_code = field(
            &mut errors,
            "enrolment_region",
            RegionCode::parse(&self.enrolment_region),
            |e| (e.code(), e.to_string()),
        );
        let status = field(
            &mut errors,
            "enrolment_status",
            EnrolmentStatus::parse(&self.enrolment_status),
            |e| (e.code(), e.to_string()),
        );
        let since = date_field(
            &mut errors,
            "enrolment_since",
            &self.enrolment_since,
            "参保起始日期",
        );
        if let Some(since) = since.filter(|since| *since > today) {
            errors.push(FieldError::new(
                "enrolment_since",
                "DATE_IN_FUTURE",
                format!("参保起始日期（{since}）晚于今天，请核对后重新填写。"),
            ));
        }
        match (
            id_number,
            name,
            mobile,
            address,
            employer_uscc,
            region_code,
            status,
            since,
        ) {
            (
                Some(id_number),
                Some(name),
                Some(mobile),
                Some(address),
                Some(employer_uscc),
                Some(region_code),
                Some(status),
                Some(since),
            ) if errors.is_empty() => Ok(PersonRecord {
                id_number,
                name,
                mobile,
                address,
                employer_uscc,
                enrolment: Enrolment {
                    region_code,
                    status,
                    since,
                },
            }),
            _ => Err(invalid("参保人信息有误，请按提示修改后重新提交。", errors)),
        }
    }
}

/// A card as entered, not yet checked. States are optional: a new card
/// starts 制卡中 / 未激活 unless an import of existing cards says otherwise.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CardInput {
    /// 卡号, 9 characters.
    pub card_number: String,
    /// 卡识别码, 32 hexadecimal characters.
    pub card_identification_code: String,
    /// 发卡地行政区划代码, e.g. `450200`.
    pub issuing_area_code: String,
    /// 规范版本, e.g. `3.00`.
    pub spec_version: String,
    /// 发卡日期 (`YYYY-MM-DD` or `YYYYMMDD`).
    pub issue_date: String,
    /// 有效期 (`YYYY-MM-DD` or `YYYYMMDD`); valid through this day.
    pub expiry_date: String,
    /// The holder's social security number (= ID number); the person must be registered.
    pub holder_id_number: String,
    /// 合作银行代码, e.g. `ICBC`.
    pub bank_code: String,
    /// 银行账号 of the financial application, when known.
    #[serde(default)]
    pub bank_account: Option<String>,
    /// A [`SocialSecurityState`] code or Chinese label; default 制卡中.
    #[serde(default)]
    pub social_state: Option<String>,
    /// A [`FinancialState`] code or Chinese label; default 未激活.
    #[serde(default)]
    pub financial_state: Option<String>,
}

impl std::fmt::Debug for CardInput {
    /// Prints no personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardInput").finish_non_exhaustive()
    }
}

/// A checked card: what [`Services::register_card`] and [`Services::upsert_card`] take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRecord {
    pub card_number: CardNumber,
    pub card_identification_code: CardIdentificationCode,
    pub issuing_area_code: RegionCode,
    pub spec_version: SpecVersion,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    /// The holder, by ID number.
    pub holder: IdNumber,
    pub bank_code: BankCode,
    pub bank_account: Option<BankCardNumber>,
    pub social_state: SocialSecurityState,
    pub financial_state: FinancialState,
}

impl CardInput {
    /// Checks every field and lists every problem at once.
    ///
    /// # Errors
    ///
    /// `ServiceError::Invalid` (`VALIDATION_FAILED`) with one [`FieldError`]
    /// per field at fault (including an expiry not after the issue date and
    /// an impossible pair of states, `CARD_STATES_INCONSISTENT`).
    pub fn parse(&self) -> ServiceResult<CardRecord> {
        let mut errors = Vec::new();
        let card_number = field(
            &mut errors,
            "card_number",
            CardNumber::parse(&self.card_number),
            |e| (e.code(), e.to_string()),
        );
        let card_identification_code = field(
            &mut errors,
            "card_identification_code",
            CardIdentificationCode::parse(&self.card_identification_code),
            |e| (e.code(), e.to_string()),
        );
        let issuing_area_code = field(
            &mut errors,
            "issuing_area_code",
            RegionCode::parse(&self.issuing_area_code),
            |e| (e.code(), e.to_string()),
        );
        let spec_version = field(
            &mut errors,
            "spec_version",
            SpecVersion::parse(&self.spec_version),
            |e| (e.code(), e.to_string()),
        );
        let issue_date = date_field(&mut errors, "issue_date", &self.issue_date, "发卡日期");
        let expiry_date = date_field(&mut errors, "expiry_date", &self.expiry_date, "有效期");
        if let (Some(issue), Some(expiry)) = (issue_date, expiry_date)
            && expiry <= issue
        {
            errors.push(FieldError::new(
                "expiry_date",
                "EXPIRY_BEFORE_ISSUE",
                format!("有效期（{expiry}）应晚于发卡日期（{issue}），请核对卡面后重新填写。"),
            ));
        }
        let holder = field(
            &mut errors,
            "holder_id_number",
            IdNumber::parse(&self.holder_id_number),
            |e| (e.code(), e.to_string()),
        );
        let bank_code = field(
            &mut errors,
            "bank_code",
            BankCode::parse(&self.bank_code),
            |e| (e.code(), e.to_string()),
        );
        let bank_account = match blank_to_none(self.bank_account.as_deref()) {
            None => Some(None),
            Some(raw) => field(
                &mut errors,
                "bank_account",
                BankCardNumber::parse(raw),
                |e| (e.code(), e.to_string()),
            )
            .map(Some),
        };
        let social_state = match blank_to_none(self.social_state.as_deref()) {
            None => Some(SocialSecurityState::InProduction),
            Some(raw) => field(
                &mut errors,
                "social_state",
                SocialSecurityState::parse(raw),
                |e| (e.code(), e.to_string()),
            ),
        };
        let financial_state = match blank_to_none(self.financial_state.as_deref()) {
            None => Some(FinancialState::NotActivated),
            Some(raw) => field(
                &mut errors,
                "financial_state",
                FinancialState::parse(raw),
                |e| (e.code(), e.to_string()),
            ),
        };
        if let (Some(social), Some(financial)) = (social_state, financial_state)
            && let Err(message) = check_initial_states(social, financial)
        {
            errors.push(FieldError::new(
                "financial_state",
                "CARD_STATES_INCONSISTENT",
                message,
            ));
        }
        match (
            card_number,
            card_identification_code,
            issuing_area_code,
            spec_version,
            issue_date,
            expiry_date,
            holder,
            bank_code,
            bank_account,
            social_state,
            financial_state,
        ) {
            (
                Some(card_number),
                Some(card_identification_code),
                Some(issuing_area_code),
                Some(spec_version),
                Some(issue_date),
                Some(expiry_date),
                Some(holder),
                Some(bank_code),
                Some(bank_account),
                Some(social_state),
                Some(financial_state),
            ) if errors.is_empty() => Ok(CardRecord {
                card_number,
                card_identification_code,
                issuing_area_code,
                spec_version,
                issue_date,
                expiry_date,
                holder,
                bank_code,
                bank_account,
                social_state,
                financial_state,
            }),
            _ => Err(invalid(
                "社会保障卡信息有误，请按提示修改后重新提交。",
                errors,
            )),
        }
    }
}

/// Parses a civil date as written on cards and in spreadsheets:
/// `YYYY-MM-DD`, `YYYYMMDD`, `YYYY/MM/DD` or `YYYY.MM.DD` (full-width digits
/// accepted). `None` when it is not a real date.
#[must_use]
pub fn parse_civil_date(input: &str) -> Option<NaiveDate> {
    let text = normalize(input);
    ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(&text, format).ok())
        .filter(|date| (1900..=2200).contains(&chrono::Datelike::year(date)))
}

pub(crate) fn field<T, E>(
    errors: &mut Vec<FieldError>,
    name: &str,
    result: Result<T, E>,
    describe: impl FnOnce(&E) -> (&'static str, String),
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            let (code, message) = describe(&error);
            errors.push(FieldError::new(name, code, message));
            None
        }
    }
}

fn date_field(
    errors: &mut Vec<FieldError>,
    name: &str,
    input: &str,
    label: &str,
) -> Option<NaiveDate> {
    if input.trim().is_empty() {
        errors.push(FieldError::new(
            name,
            "DATE_EMPTY",
            format!("请填写{label}（格式：YYYY-MM-DD 或 YYYYMMDD）。"),
        ));
        return None;
    }
    let date = parse_civil_date(input);
    if date.is_none() {
        errors.push(FieldError::new(
            name,
            "DATE_FORMAT",
            format!("{label}不是有效日期，格式应为 YYYY-MM-DD 或 YYYYMMDD（例如2026-03-02）。"),
        ));
    }
    date
}

pub(crate) fn blank_to_none(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

pub(crate) fn invalid(detail: &str, errors: Vec<FieldError>) -> ServiceError {
    ServiceError::Invalid {
        code: "VALIDATION_FAILED",
        detail: detail.to_owned(),
        errors,
    }
}

/// Checks a transition's reason (办理原因): optional, at most
/// [`MAX_REASON_CHARS`] characters, no control characters; blank is none.
///
/// # Errors
///
/// `ServiceError::Invalid` with the field `reason` (`REASON_INVALID`).
pub fn parse_reason(reason: Option<&str>) -> ServiceResult<Option<String>> {
    let Some(reason) = blank_to_none(reason).map(str::trim) else {
        return Ok(None);
    };
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(invalid(
            "办理原因有误。",
            vec![FieldError::new(
                "reason",
                "REASON_INVALID",
                format!("办理原因不能超过{MAX_REASON_CHARS}个字符，且不能含控制字符。"),
            )],
        ));
    }
    Ok(Some(reason.to_owned()))
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    /// A new row was written.
    Created,
    /// An existing row had different values and was rewritten.
    Updated,
    /// The stored row already says exactly this; nothing was written.
    Unchanged,
}

impl UpsertOutcome {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Created => "新增",
            Self::Updated => "更新",
            Self::Unchanged => "无变化",
        }
    }
}

/// Who looks: bureau staff see every card, a bank teller only the cards of
/// their bank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    Staff,
    /// A cooperating bank, by its code as on the teller's account.
    Bank(String),
}

impl Viewer {
    /// The viewer a signed-in account acts as: bureau staff if it holds any
    /// bureau role, else its bank if it is a bank teller; `None` otherwise
    /// (employers see no cards here).
    #[must_use]
    pub fn of(principal: &Principal) -> Option<Self> {
        use sscard_domain::access::Role;
        if Role::ALL
            .into_iter()
            .any(|role| role.is_bureau_staff() && principal.has_role(role))
        {
            return Some(Self::Staff);
        }
        if principal.has_role(Role::BankTeller) {
            return principal.bank_code.clone().map(Self::Bank);
        }
        None
    }

    fn may_see(&self, card: &CardRow) -> bool {
        match self {
            Self::Staff => true,
            Self::Bank(code) => {
                BankCode::parse(&card.bank_code).is_ok_and(|bank| bank.matches(code))
            }
        }
    }
}

/// A state with its stable code and Chinese label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StateView {
    /// Stable code, e.g. `temporarily_lost`.
    pub code: String,
    /// Chinese label, e.g. `临时挂失`.
    pub label: String,
}

impl StateView {
    fn social(state: SocialSecurityState) -> Self {
        Self {
            code: state.code().to_owned(),
            label: state.label_zh().to_owned(),
        }
    }

    fn financial(state: FinancialState) -> Self {
        Self {
            code: state.code().to_owned(),
            label: state.label_zh().to_owned(),
        }
    }
}

/// A person's enrolment as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EnrolmentView {
    pub region_code: String,
    pub status: EnrolmentStatus,
    /// 参保缴费 / 暂停缴费 / 终止.
    pub status_label: String,
    pub since: NaiveDate,
    /// The acceptance condition: enrolled in Liuzhou social insurance.
    pub enrolled_in_liuzhou: bool,
}

/// The holder of a card, masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HolderView {
    pub name: String,
    /// e.g. `450221********723X`.
    pub id_number_masked: String,
}

/// One entry of a card's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CardEventView {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    /// `social` or `financial`.
    pub application: Application,
    /// 社保应用 / 金融应用.
    pub application_label: String,
    /// The event code (`register` for the first entry of each application).
    pub event: String,
    /// e.g. `临时挂失`, `登记`.
    pub event_label: String,
    pub from_state: Option<StateView>,
    pub to_state: StateView,
    pub reason: Option<String>,
    /// Who did it, for people: the account's name and username, `系统` or `命令行（<user>）`.
    pub actor: String,
}

/// A card as staff see it: both states, the history, identifiers masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CardView {
    /// e.g. `A1234****`.
    pub card_number_masked: String,
    pub card_identification_code_masked: String,
    pub issuing_area_code: String,
    pub spec_version: String,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    /// Past the expiry date today (China time).
    pub expired: bool,
    pub holder: HolderView,
    pub bank_code: String,
    /// e.g. `6217 **** **** 1234`.
    pub bank_account_masked: Option<String>,
    /// 社保应用状态.
    pub social_state: StateView,
    /// 金融应用状态.
    pub financial_state: StateView,
    /// Oldest first.
    pub history: Vec<CardEventView>,
}

/// A person as staff see them, with their cards; identifiers masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub id_number_masked: String,
    /// Exactly as registered.
    pub name: String,
    pub sex: Sex,
    /// 男 / 女.
    pub sex_label: String,
    pub birth_date: NaiveDate,
    pub mobile_masked: Option<String>,
    pub address_masked: Option<String>,
    pub employer_uscc_masked: Option<String>,
    pub enrolment: EnrolmentView,
    /// Oldest first.
    pub cards: Vec<CardView>,
}

// ---------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------

impl Services {
    /// Registers a new person (登记参保人).
    ///
    /// # Errors
    ///
    /// `Conflict PERSON_ALREADY_REGISTERED` if the ID number is known.
    pub async fn register_person(
        &self,
        record: &PersonRecord,
        actor: &Actor,
    ) -> ServiceResult<PersonView> {
        let mut tx = self.store().begin().await?;
        let index = self.id_number_index(&record.id_number);
        if rows::person_by_index(&mut tx, &index).await?.is_some() {
            return Err(person_already_registered(&record.id_number));
        }
        let row = self.new_person_row(record, Utc::now());
        rows::insert_person(&mut tx, &row)
            .await
            .map_err(|e| unique_to_conflict(e, || person_already_registered(&record.id_number)))?;
        self.record_audit(
            &mut tx,
            actor,
            "person.register",
            &format!("person:{}", row.id),
            Outcome::Succeeded,
            person_audit_detail(&row),
        )
        .await?;
        commit(tx).await?;
        self.person_view_of(&row).await
    }

    /// Creates or updates a person by ID number, in its own transaction with
    /// one audit entry (`person.register` or `person.update`); `Unchanged`
    /// writes nothing at all.
    pub async fn upsert_person(
        &self,
        record: &PersonRecord,
        actor: &Actor,
    ) -> ServiceResult<UpsertOutcome> {
        let mut tx = self.store().begin().await?;
        let (outcome, row) = self.upsert_person_row(&mut tx, record).await?;
        if outcome == UpsertOutcome::Unchanged {
            return Ok(outcome);
        }
        let action = if outcome == UpsertOutcome::Created {
            "person.register"
        } else {
            "person.update"
        };
        self.record_audit(
            &mut tx,
            actor,
            action,
            &format!("person:{}", row.id),
            Outcome::Succeeded,
            person_audit_detail(&row),
        )
        .await?;
        commit(tx).await?;
        Ok(outcome)
    }

    /// [`Services::upsert_person`] inside the caller's transaction, without
    /// an audit entry: the caller appends one for the whole batch before it
    /// commits. A returned rule error (`Invalid`, `Conflict`) happens before
    /// any write of this row and leaves the transaction usable; after
    /// `Internal`/`Unavailable` roll it back.
    pub async fn upsert_person_in(
        &self,
        tx: &mut Tx,
        record: &PersonRecord,
    ) -> ServiceResult<UpsertOutcome> {
        Ok(self.upsert_person_row(tx, record).await?.0)
    }

    async fn upsert_person_row(
        &self,
        tx: &mut Tx,
        record: &PersonRecord,
    ) -> ServiceResult<(UpsertOutcome, PersonRow)> {
        let index = self.id_number_index(&record.id_number);
        let now = Utc::now();
        let Some(existing) = rows::person_by_index(tx, &index).await? else {
            let row = self.new_person_row(record, now);
            rows::insert_person(tx, &row).await?;
            return Ok((UpsertOutcome::Created, row));
        };
        if self.person_matches(&existing, record)? {
            return Ok((UpsertOutcome::Unchanged, existing));
        }
        let mut row = self.new_person_row(record, now);
        row.id.clone_from(&existing.id);
        row.id_number_sealed = existing.id_number_sealed;
        row.created_at = existing.created_at;
        // Sealed values that did not change are kept as they are.
        let mobile_aad = rows::MOBILE_SEALED.aad(&row.id);
        let address_aad = rows::ADDRESS_SEALED.aad(&row.id);
        row.mobile_sealed = match (&record.mobile, existing.mobile_sealed) {
            (Some(mobile), Some(sealed))
                if self.open_sealed(&sealed, &mobile_aad)? == mobile.as_str() =>
            {
                Some(sealed)
            }
            (Some(mobile), _) => Some(
                self.keyring()
                    .encrypt_str(mobile.as_str(), mobile_aad.as_bytes()),
            ),
            (None, _) => None,
        };
        row.address_sealed = match (&record.address, existing.address_sealed) {
            (Some(address), Some(sealed))
                if self.open_sealed(&sealed, &address_aad)? == address.as_str() =>
            {
                Some(sealed)
            }
            (Some(address), _) => Some(
                self.keyring()
                    .encrypt_str(address.as_str(), address_aad.as_bytes()),
            ),
            (None, _) => None,
        };
        rows::update_person(tx, &row).await?;
        Ok((UpsertOutcome::Updated, row))
    }

    /// True if the stored person already says exactly what `record` says.
    fn person_matches(&self, row: &PersonRow, record: &PersonRecord) -> ServiceResult<bool> {
        let plain_fields_match = row.name == record.name.as_str()
            && row.employer_uscc.as_deref() == record.employer_uscc.as_ref().map(Uscc::as_str)
            && row.enrolment_region == record.enrolment.region_code.as_str()
            && row.enrolment_status == record.enrolment.status.code()
            && row.enrolment_since == record.enrolment.since;
        if !plain_fields_match {
            return Ok(false);
        }
        let mobile = row
            .mobile_sealed
            .as_deref()
            .map(|sealed| self.open_sealed(sealed, &rows::MOBILE_SEALED.aad(&row.id)))
            .transpose()?;
        if mobile.as_deref() != record.mobile.as_ref().map(MobileNumber::as_str) {
            return Ok(false);
        }
        let address = row
            .address_sealed
            .as_deref()
            .map(|sealed| self.open_sealed(sealed, &rows::ADDRESS_SEALED.aad(&row.id)))
            .transpose()?;
        Ok(address.as_deref() == record.address.as_ref().map(Address::as_str))
    }

    fn new_person_row(&self, record: &PersonRecord, now: DateTime<Utc>) -> PersonRow {
        let id = uuid::Uuid::new_v4().to_string();
        let keyring = self.keyring();
        let seal = |column: &SealedColumn, value: &str| {
            keyring.encrypt_str(value, column.aad(&id).as_bytes())
        };
        PersonRow {
            id_number_index: self.id_number_index(&record.id_number),
            id_number_sealed: seal(&rows::ID_NUMBER_SEALED, record.id_number.as_str()),
            id_number_masked: record.id_number.masked(),
            name: record.name.as_str().to_owned(),
            sex: sex_code(record.id_number.sex()).to_owned(),
            birth_date: record.id_number.birth_date(),
            mobile_sealed: record
                .mobile
                .as_ref()
                .map(|m| seal(&rows::MOBILE_SEALED, m.as_str())),
            mobile_masked: record.mobile.as_ref().map(MobileNumber::masked),
            address_sealed: record
                .address
                .as_ref()
                .map(|a| seal(&rows::ADDRESS_SEALED, a.as_str())),
            address_masked: record.address.as_ref().map(Address::masked),
            employer_uscc: record.employer_uscc.as_ref().map(|u| u.as_str().to_owned()),
            enrolment_region: record.enrolment.region_code.as_str().to_owned(),
            enrolment_status: record.enrolment.status.code().to_owned(),
            enrolment_since: record.enrolment.since,
            created_at: now,
            updated_at: now,
            id,
        }
    }

    /// Registers a new card for a registered person (登记社会保障卡), with
    /// the first history entry of each application (`register`).
    ///
    /// # Errors
    ///
    /// `NotFound PERSON_NOT_FOUND`; `Conflict CARD_ALREADY_REGISTERED`,
    /// `CARD_ID_CODE_TAKEN` or `PERSON_HAS_ACTIVE_CARD`.
    pub async fn register_card(
        &self,
        record: &CardRecord,
        actor: &Actor,
    ) -> ServiceResult<CardView> {
        let mut tx = self.store().begin().await?;
        if rows::card_by_number(&mut tx, record.card_number.as_str())
            .await?
            .is_some()
        {
            return Err(card_already_registered(&record.card_number));
        }
        let (row, _) = self
            .insert_card_row(&mut tx, record, actor, Some("登记新卡"))
            .await?;
        self.record_audit(
            &mut tx,
            actor,
            "card.register",
            &format!("card:{}", row.id),
            Outcome::Succeeded,
            card_audit_detail(&row),
        )
        .await?;
        commit(tx).await?;
        self.card_view_of(&row).await
    }

    /// Creates a card, or updates the descriptive fields of an existing one
    /// (identification code, issuing area, version, dates, bank, account), in
    /// its own transaction with one audit entry; `Unchanged` writes nothing.
    ///
    /// # Errors
    ///
    /// As [`Services::register_card`], plus `Conflict CARD_HOLDER_MISMATCH`
    /// (the card belongs to someone else) and `CARD_STATE_DIFFERS` (the
    /// stored states differ: states change only through transitions).
    pub async fn upsert_card(
        &self,
        record: &CardRecord,
        actor: &Actor,
    ) -> ServiceResult<UpsertOutcome> {
        let mut tx = self.store().begin().await?;
        let (outcome, row) = self.upsert_card_row(&mut tx, record, actor).await?;
        if outcome == UpsertOutcome::Unchanged {
            return Ok(outcome);
        }
        let action = if outcome == UpsertOutcome::Created {
            "card.register"
        } else {
            "card.update"
        };
        self.record_audit(
            &mut tx,
            actor,
            action,
            &format!("card:{}", row.id),
            Outcome::Succeeded,
            card_audit_detail(&row),
        )
        .await?;
        commit(tx).await?;
        Ok(outcome)
    }

    /// [`Services::upsert_card`] inside the caller's transaction, without an
    /// audit entry (the `card_events` rows of a new card are written). Rule
    /// errors leave the transaction usable, as for
    /// [`Services::upsert_person_in`].
    pub async fn upsert_card_in(
        &self,
        tx: &mut Tx,
        record: &CardRecord,
        actor: &Actor,
    ) -> ServiceResult<UpsertOutcome> {
        Ok(self.upsert_card_row(tx, record, actor).await?.0)
    }

    async fn upsert_card_row(
        &self,
        tx: &mut Tx,
        record: &CardRecord,
        actor: &Actor,
    ) -> ServiceResult<(UpsertOutcome, CardRow)> {
        let Some(existing) = rows::card_by_number(tx, record.card_number.as_str()).await? else {
            let (row, _) = self
                .insert_card_row(tx, record, actor, Some("导入"))
                .await?;
            return Ok((UpsertOutcome::Created, row));
        };
        let holder = self.person_for_card(tx, &record.holder).await?;
        if holder.id != existing.person_id {
            return Err(ServiceError::Conflict {
                code: "CARD_HOLDER_MISMATCH",
                detail: format!(
                    "卡号 {} 已登记在另一位参保人名下，不能改为 {}：请核对卡号和持卡人身份证号码。",
                    record.card_number.masked(),
                    record.holder.masked()
                ),
            });
        }
        if existing.social_state != record.social_state.code()
            || existing.financial_state != record.financial_state.code()
        {
            let stored_social = SocialSecurityState::parse(&existing.social_state)
                .map_or(existing.social_state.as_str(), |s| s.label_zh());
            let stored_financial = FinancialState::parse(&existing.financial_state)
                .map_or(existing.financial_state.as_str(), |s| s.label_zh());
            return Err(ServiceError::Conflict {
                code: "CARD_STATE_DIFFERS",
                detail: format!(
                    "卡号 {} 在系统中为社保应用“{stored_social}”、金融应用“{stored_financial}”，与导入数据（“{}”“{}”）不一致：已登记卡片的状态只能通过业务办理变更，不能通过导入修改。",
                    record.card_number.masked(),
                    record.social_state.label_zh(),
                    record.financial_state.label_zh()
                ),
            });
        }
        let account_aad = rows::BANK_ACCOUNT_SEALED.aad(&existing.id);
        let stored_account = existing
            .bank_account_sealed
            .as_deref()
            .map(|sealed| self.open_sealed(sealed, &account_aad))
            .transpose()?;
        let account_same =
            stored_account.as_deref() == record.bank_account.as_ref().map(BankCardNumber::as_str);
        let unchanged = account_same
            && existing.card_identification_code == record.card_identification_code.as_str()
            && existing.issuing_area_code == record.issuing_area_code.as_str()
            && existing.spec_version == record.spec_version.as_str()
            && existing.issue_date == record.issue_date
            && existing.expiry_date == record.expiry_date
            && existing.bank_code == record.bank_code.as_str();
        if unchanged {
            return Ok((UpsertOutcome::Unchanged, existing));
        }
        // An account set or a bank changed: the account's BIN must be the bank's.
        self.check_card_account_bin(tx, &record.bank_code, record.bank_account.as_ref())
            .await?;
        if existing.card_identification_code != record.card_identification_code.as_str()
            && rows::card_by_identification_code(tx, record.card_identification_code.as_str())
                .await?
                .is_some()
        {
            return Err(card_id_code_taken());
        }
        let mut row = existing.clone();
        record
            .card_identification_code
            .as_str()
            .clone_into(&mut row.card_identification_code);
        record
            .issuing_area_code
            .as_str()
            .clone_into(&mut row.issuing_area_code);
        record
            .spec_version
            .as_str()
            .clone_into(&mut row.spec_version);
        row.issue_date = record.issue_date;
        row.expiry_date = record.expiry_date;
        record.bank_code.as_str().clone_into(&mut row.bank_code);
        if !account_same {
            row.bank_account_sealed = record.bank_account.as_ref().map(|account| {
                self.keyring()
                    .encrypt_str(account.as_str(), account_aad.as_bytes())
            });
            row.bank_account_masked = record.bank_account.as_ref().map(BankCardNumber::masked);
        }
        row.updated_at = Utc::now();
        rows::update_card_details(tx, &row).await?;
        Ok((UpsertOutcome::Updated, row))
    }

    /// Inserts a new card after the holder, identification-code and
    /// one-active-card checks, with its two `register` history rows.
    async fn insert_card_row(
        &self,
        tx: &mut Tx,
        record: &CardRecord,
        actor: &Actor,
        reason: Option<&str>,
    ) -> ServiceResult<(CardRow, PersonRow)> {
        if let Err(message) = check_initial_states(record.social_state, record.financial_state) {
            return Err(invalid(
                "卡片状态组合不成立。",
                vec![FieldError::new(
                    "financial_state",
                    "CARD_STATES_INCONSISTENT",
                    message,
                )],
            ));
        }
        // The account's BIN must be one of the card's bank (when registered).
        self.check_card_account_bin(tx, &record.bank_code, record.bank_account.as_ref())
            .await?;
        let holder = self.person_for_card(tx, &record.holder).await?;
        if rows::card_by_identification_code(tx, record.card_identification_code.as_str())
            .await?
            .is_some()
        {
            return Err(card_id_code_taken());
        }
        // One card per person that is not cancelled: decided under the
        // person's row lock, so two registrations cannot both pass.
        rows::lock_person(tx, &holder.id).await?;
        if !record.social_state.is_terminal() {
            let cards = rows::cards_of_person(tx, &holder.id).await?;
            if let Some(active) = cards
                .iter()
                .find(|card| card.social_state != SocialSecurityState::Cancelled.code())
            {
                let state = SocialSecurityState::parse(&active.social_state)
                    .map_or(active.social_state.as_str(), |s| s.label_zh());
                let number = CardNumber::parse(&active.card_number)
                    .map_or_else(|_| "（卡号无效）".to_owned(), |n| n.masked());
                return Err(ServiceError::Conflict {
                    code: "PERSON_HAS_ACTIVE_CARD",
                    detail: format!(
                        "该参保人已有一张未注销的社会保障卡（卡号 {number}，社保应用状态“{state}”）。每人只能持有一张有效卡：请先将原卡注销（遗失的须先正式挂失），再登记新卡。"
                    ),
                });
            }
        }
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().to_string();
        let keyring = self.keyring();
        let row = CardRow {
            card_number: record.card_number.as_str().to_owned(),
            card_identification_code: record.card_identification_code.as_str().to_owned(),
            issuing_area_code: record.issuing_area_code.as_str().to_owned(),
            spec_version: record.spec_version.as_str().to_owned(),
            issue_date: record.issue_date,
            expiry_date: record.expiry_date,
            person_id: holder.id.clone(),
            bank_code: record.bank_code.as_str().to_owned(),
            bank_account_sealed: record.bank_account.as_ref().map(|account| {
                keyring.encrypt_str(
                    account.as_str(),
                    rows::BANK_ACCOUNT_SEALED.aad(&id).as_bytes(),
                )
            }),
            bank_account_masked: record.bank_account.as_ref().map(BankCardNumber::masked),
            social_state: record.social_state.code().to_owned(),
            financial_state: record.financial_state.code().to_owned(),
            created_at: now,
            updated_at: now,
            id,
        };
        rows::insert_card(tx, &row)
            .await
            .map_err(|e| unique_to_conflict(e, || card_already_registered(&record.card_number)))?;
        for (seq, application, state) in [
            (1, Application::Social, row.social_state.clone()),
            (2, Application::Financial, row.financial_state.clone()),
        ] {
            rows::insert_card_event(
                tx,
                &CardEventRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    card_id: row.id.clone(),
                    seq,
                    occurred_at: now,
                    application: application.code().to_owned(),
                    from_state: None,
                    to_state: state,
                    event: REGISTER_EVENT.to_owned(),
                    reason: reason.map(str::to_owned),
                    actor: actor.id.clone(),
                    actor_role: actor.role.clone(),
                },
            )
            .await?;
        }
        Ok((row, holder))
    }

    async fn person_for_card(&self, tx: &mut Tx, holder: &IdNumber) -> ServiceResult<PersonRow> {
        rows::person_by_index(tx, &self.id_number_index(holder))
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "PERSON_NOT_FOUND",
                detail: format!(
                    "未找到身份证号码为 {} 的参保人：请先登记参保人，再登记其社会保障卡。",
                    holder.masked()
                ),
            })
    }

    /// One event of the social-security application (制卡完成, 领卡, 启用,
    /// 临时挂失, 解挂, 正式挂失, 注销), decided by the domain with today's
    /// date in China; one transaction with the history row and the audit
    /// entry. A refusal is audited (outcome `refused`) and answered as
    /// `Conflict` with the domain's code and Chinese message.
    ///
    /// # Errors
    ///
    /// `NotFound CARD_NOT_FOUND` (also for another bank's card),
    /// `Invalid REASON_INVALID`, `Conflict` with the refusal's code, or
    /// `Conflict CARD_STATE_CHANGED` when a concurrent change won.
    pub async fn transition_social(
        &self,
        card_number: &CardNumber,
        event: SocialSecurityEvent,
        reason: Option<&str>,
        viewer: &Viewer,
        actor: &Actor,
    ) -> ServiceResult<CardView> {
        self.transition(
            card_number,
            Application::Social,
            event.code(),
            reason,
            viewer,
            actor,
            |card, today| {
                let current = parse_social(&card.social_state)?;
                Ok(current
                    .apply(event, today, card.expiry_date)
                    .map(|next| (current.code(), next.code())))
            },
        )
        .await
    }

    /// One event of the financial application (激活, 冻结, 解冻, 销户); as
    /// [`Services::transition_social`]. Activation also needs the card in
    /// the holder's hands and not expired.
    ///
    /// # Errors
    ///
    /// As [`Services::transition_social`].
    pub async fn transition_financial(
        &self,
        card_number: &CardNumber,
        event: FinancialEvent,
        reason: Option<&str>,
        viewer: &Viewer,
        actor: &Actor,
    ) -> ServiceResult<CardView> {
        self.transition(
            card_number,
            Application::Financial,
            event.code(),
            reason,
            viewer,
            actor,
            |card, today| {
                let current = parse_financial(&card.financial_state)?;
                let social = parse_social(&card.social_state)?;
                Ok(current
                    .apply(event, social, today, card.expiry_date)
                    .map(|next| (current.code(), next.code())))
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        card_number: &CardNumber,
        application: Application,
        event_code: &'static str,
        reason: Option<&str>,
        viewer: &Viewer,
        actor: &Actor,
        decide: impl FnOnce(
            &CardRow,
            NaiveDate,
        )
            -> ServiceResult<Result<(&'static str, &'static str), TransitionError>>,
    ) -> ServiceResult<CardView> {
        let reason = parse_reason(reason)?;
        let mut tx = self.store().begin().await?;
        let card = match rows::card_by_number(&mut tx, card_number.as_str()).await? {
            Some(card) if viewer.may_see(&card) => card,
            _ => return Err(card_not_found(card_number, viewer)),
        };
        let object = format!("card:{}", card.id);
        let (from, to) = match decide(&card, today_in_china())? {
            Ok(change) => change,
            Err(refusal) => {
                let detail = serde_json::json!({
                    "card_number": card_number.masked(),
                    "event": event_code,
                    "current_state": refusal.current.code(),
                    "code": refusal.code(),
                });
                let error = ServiceError::Conflict {
                    code: refusal.code(),
                    detail: refusal.to_string(),
                };
                return self
                    .commit_refusal(
                        tx,
                        actor,
                        transition_action(application),
                        &object,
                        detail,
                        error,
                    )
                    .await;
            }
        };
        let now = Utc::now();
        let column = match application {
            Application::Social => StateColumn::Social,
            Application::Financial => StateColumn::Financial,
        };
        if !rows::set_state(&mut tx, &card.id, column, from, to, now).await? {
            return Err(ServiceError::Conflict {
                code: "CARD_STATE_CHANGED",
                detail: "卡片状态刚被其他操作更改，请刷新后核对当前状态再办理。".to_owned(),
            });
        }
        let seq = rows::next_event_seq(&mut tx, &card.id).await?;
        rows::insert_card_event(
            &mut tx,
            &CardEventRow {
                id: uuid::Uuid::new_v4().to_string(),
                card_id: card.id.clone(),
                seq,
                occurred_at: now,
                application: application.code().to_owned(),
                from_state: Some(from.to_owned()),
                to_state: to.to_owned(),
                event: event_code.to_owned(),
                reason: reason.clone(),
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
            },
        )
        .await?;
        self.record_audit(
            &mut tx,
            actor,
            transition_action(application),
            &object,
            Outcome::Succeeded,
            serde_json::json!({
                "card_number": card_number.masked(),
                "event": event_code,
                "from": from,
                "to": to,
                "has_reason": reason.is_some(),
            }),
        )
        .await?;
        commit(tx).await?;
        let mut updated = card;
        match application {
            Application::Social => to.clone_into(&mut updated.social_state),
            Application::Financial => to.clone_into(&mut updated.financial_state),
        }
        self.card_view_of(&updated).await
    }

    /// A person by ID number, with their cards (staff look-up).
    ///
    /// # Errors
    ///
    /// `NotFound PERSON_NOT_FOUND`.
    pub async fn person_by_id_number(&self, id_number: &IdNumber) -> ServiceResult<PersonView> {
        let mut conn = self.connection().await?;
        let person = rows::person_by_index(&mut conn, &self.id_number_index(id_number))
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "PERSON_NOT_FOUND",
                detail: format!(
                    "未找到身份证号码为 {} 的参保人，请核对号码；尚未登记的参保人须先登记。",
                    id_number.masked()
                ),
            })?;
        drop(conn);
        self.person_view_of(&person).await
    }

    /// A card by number with both states and its history, as `viewer` may
    /// see it.
    ///
    /// # Errors
    ///
    /// `NotFound CARD_NOT_FOUND`, also for a bank teller asking for another
    /// bank's card.
    pub async fn card_by_number(
        &self,
        card_number: &CardNumber,
        viewer: &Viewer,
    ) -> ServiceResult<CardView> {
        let card = self.visible_card(card_number, viewer).await?;
        self.card_view_of(&card).await
    }

    /// A card's history, oldest first.
    ///
    /// # Errors
    ///
    /// As [`Services::card_by_number`].
    pub async fn card_history(
        &self,
        card_number: &CardNumber,
        viewer: &Viewer,
    ) -> ServiceResult<Vec<CardEventView>> {
        let card = self.visible_card(card_number, viewer).await?;
        let mut conn = self.connection().await?;
        let events = rows::card_events(&mut conn, &card.id).await?;
        events.iter().map(event_view).collect()
    }

    async fn visible_card(
        &self,
        card_number: &CardNumber,
        viewer: &Viewer,
    ) -> ServiceResult<CardRow> {
        let mut conn = self.connection().await?;
        match rows::card_by_number(&mut conn, card_number.as_str()).await? {
            Some(card) if viewer.may_see(&card) => Ok(card),
            _ => Err(card_not_found(card_number, viewer)),
        }
    }

    async fn person_view_of(&self, person: &PersonRow) -> ServiceResult<PersonView> {
        let mut conn = self.connection().await?;
        let cards = rows::cards_of_person(&mut conn, &person.id).await?;
        let mut views = Vec::with_capacity(cards.len());
        for card in &cards {
            let events = rows::card_events(&mut conn, &card.id).await?;
            views.push(card_view(card, person, &events)?);
        }
        let status = EnrolmentStatus::parse(&person.enrolment_status)
            .map_err(|_| corrupt("persons.enrolment_status", &person.enrolment_status))?;
        let region_code = RegionCode::parse(&person.enrolment_region)
            .map_err(|_| corrupt("persons.enrolment_region", &person.enrolment_region))?;
        let enrolment = Enrolment {
            region_code,
            status,
            since: person.enrolment_since,
        };
        let sex = parse_sex(&person.sex)?;
        Ok(PersonView {
            id_number_masked: person.id_number_masked.clone(),
            name: person.name.clone(),
            sex,
            sex_label: sex.label_zh().to_owned(),
            birth_date: person.birth_date,
            mobile_masked: person.mobile_masked.clone(),
            address_masked: person.address_masked.clone(),
            employer_uscc_masked: person
                .employer_uscc
                .as_deref()
                .map(|uscc| Uscc::parse(uscc).map_or_else(|_| "******".to_owned(), |u| u.masked())),
            enrolment: EnrolmentView {
                region_code: enrolment.region_code.as_str().to_owned(),
                status,
                status_label: status.label_zh().to_owned(),
                since: enrolment.since,
                enrolled_in_liuzhou: is_enrolled_in_liuzhou(&enrolment),
            },
            cards: views,
        })
    }

    async fn card_view_of(&self, card: &CardRow) -> ServiceResult<CardView> {
        let mut conn = self.connection().await?;
        let person = rows::person_by_id(&mut conn, &card.person_id)
            .await?
            .ok_or_else(|| corrupt("cards.person_id", &card.person_id))?;
        let events = rows::card_events(&mut conn, &card.id).await?;
        card_view(card, &person, &events)
    }

    fn id_number_index(&self, id_number: &IdNumber) -> String {
        self.keyring()
            .blind_index(ID_NUMBER_INDEX, id_number.as_str())
    }
}

/// The event code of the first history entry of each application.
pub const REGISTER_EVENT: &str = "register";

fn transition_action(application: Application) -> &'static str {
    match application {
        Application::Social => "card.social_transition",
        Application::Financial => "card.financial_transition",
    }
}

fn sex_code(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
    }
}

fn parse_sex(code: &str) -> ServiceResult<Sex> {
    match code {
        "male" => Ok(Sex::Male),
        "female" => Ok(Sex::Female),
        other => Err(corrupt("persons.sex", other)),
    }
}

pub(crate) fn parse_social(code: &str) -> ServiceResult<SocialSecurityState> {
    SocialSecurityState::parse(code).map_err(|_| corrupt("cards.social_state", code))
}

fn parse_financial(code: &str) -> ServiceResult<FinancialState> {
    FinancialState::parse(code).map_err(|_| corrupt("cards.financial_state", code))
}

pub(crate) fn corrupt(what: &str, value: &str) -> ServiceError {
    ServiceError::Internal(
        StoreError::Corrupt {
            what: what.to_owned(),
            reason: format!("unexpected value `{value}`"),
        }
        .into(),
    )
}

fn card_view(
    card: &CardRow,
    person: &PersonRow,
    events: &[CardEventRecord],
) -> ServiceResult<CardView> {
    let social = parse_social(&card.social_state)?;
    let financial = parse_financial(&card.financial_state)?;
    Ok(CardView {
        card_number_masked: CardNumber::parse(&card.card_number)
            .map_err(|_| corrupt("cards.card_number", "(invalid)"))?
            .masked(),
        card_identification_code_masked: CardIdentificationCode::parse(
            &card.card_identification_code,
        )
        .map_err(|_| corrupt("cards.card_identification_code", "(invalid)"))?
        .masked(),
        issuing_area_code: card.issuing_area_code.clone(),
        spec_version: card.spec_version.clone(),
        issue_date: card.issue_date,
        expiry_date: card.expiry_date,
        expired: is_expired(today_in_china(), card.expiry_date),
        holder: HolderView {
            name: person.name.clone(),
            id_number_masked: person.id_number_masked.clone(),
        },
        bank_code: card.bank_code.clone(),
        bank_account_masked: card.bank_account_masked.clone(),
        social_state: StateView::social(social),
        financial_state: StateView::financial(financial),
        history: events
            .iter()
            .map(event_view)
            .collect::<ServiceResult<_>>()?,
    })
}

fn event_view(record: &CardEventRecord) -> ServiceResult<CardEventView> {
    let event = &record.event;
    let application = Application::from_code(&event.application)
        .ok_or_else(|| corrupt("card_events.application", &event.application))?;
    let state_view = |code: &str| -> ServiceResult<StateView> {
        match application {
            Application::Social => parse_social(code).map(StateView::social),
            Application::Financial => parse_financial(code).map(StateView::financial),
        }
    };
    let event_label = if event.event == REGISTER_EVENT {
        "登记"
    } else {
        match application {
            Application::Social => {
                SocialSecurityEvent::from_code(&event.event).map(SocialSecurityEvent::label_zh)
            }
            Application::Financial => {
                FinancialEvent::from_code(&event.event).map(FinancialEvent::label_zh)
            }
        }
        .ok_or_else(|| corrupt("card_events.event", &event.event))?
    };
    Ok(CardEventView {
        seq: event.seq,
        occurred_at: event.occurred_at,
        application,
        application_label: application.label_zh().to_owned(),
        event: event.event.clone(),
        event_label: event_label.to_owned(),
        from_state: event.from_state.as_deref().map(state_view).transpose()?,
        to_state: state_view(&event.to_state)?,
        reason: event.reason.clone(),
        actor: actor_label(record),
    })
}

/// The actor as people read it.
fn actor_label(record: &CardEventRecord) -> String {
    if let Some((display_name, username)) = &record.actor_account {
        return if display_name == username {
            username.clone()
        } else {
            format!("{display_name}（{username}）")
        };
    }
    let actor = &record.event.actor;
    if actor == "system" {
        "系统".to_owned()
    } else if let Some(user) = actor.strip_prefix("cli:") {
        format!("命令行（{user}）")
    } else {
        actor.clone()
    }
}

fn person_audit_detail(row: &PersonRow) -> serde_json::Value {
    serde_json::json!({
        "id_number": row.id_number_masked,
        "enrolment_region": row.enrolment_region,
        "enrolment_status": row.enrolment_status,
    })
}

fn card_audit_detail(row: &CardRow) -> serde_json::Value {
    serde_json::json!({
        "card_number": CardNumber::parse(&row.card_number).map(|n| n.masked()).unwrap_or_default(),
        "person": format!("person:{}", row.person_id),
        "bank_code": row.bank_code,
        "social_state": row.social_state,
        "financial_state": row.financial_state,
    })
}

fn person_already_registered(id_number: &IdNumber) -> ServiceError {
    ServiceError::Conflict {
        code: "PERSON_ALREADY_REGISTERED",
        detail: format!(
            "身份证号码为 {} 的参保人已登记，无须重复登记；如需修改信息，请使用更新功能。",
            id_number.masked()
        ),
    }
}

fn card_already_registered(card_number: &CardNumber) -> ServiceError {
    ServiceError::Conflict {
        code: "CARD_ALREADY_REGISTERED",
        detail: format!("卡号 {} 已登记，无须重复登记。", card_number.masked()),
    }
}

fn card_id_code_taken() -> ServiceError {
    ServiceError::Conflict {
        code: "CARD_ID_CODE_TAKEN",
        detail: "该卡识别码已属于另一张已登记的卡，请核对卡识别码。".to_owned(),
    }
}

fn card_not_found(card_number: &CardNumber, viewer: &Viewer) -> ServiceError {
    let detail = match viewer {
        Viewer::Staff => format!(
            "未找到卡号为 {} 的社会保障卡，请核对卡号。",
            card_number.masked()
        ),
        Viewer::Bank(_) => format!(
            "未找到卡号为 {} 的本行社会保障卡，请核对卡号；其他合作银行的卡请持卡人到对应银行办理。",
            card_number.masked()
        ),
    };
    ServiceError::NotFound {
        code: "CARD_NOT_FOUND",
        detail,
    }
}

/// A unique-constraint violation (a concurrent insert won) as the rule's
/// conflict; anything else stays a store error.
fn unique_to_conflict(error: StoreError, conflict: impl FnOnce() -> ServiceError) -> ServiceError {
    match &error {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => conflict(),
        _ => error.into(),
    }
}
