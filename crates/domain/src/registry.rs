//! The card registry (持卡人与社会保障卡): who is insured where, and the two
//! applications on a card's chip with their state machines.
//!
//! Pure rules, no IO and no clock: the caller passes `today`.
//!
//! - [`Enrolment`] and [`is_enrolled_in_liuzhou`]: the acceptance condition
//!   of the service (已参加柳州市社会保险), decided in this one place.
//! - [`SocialSecurityState`] (社保应用) and [`FinancialState`] (金融应用):
//!   two independent states per card, each changed only through
//!   [`SocialSecurityState::apply`] / [`FinancialState::apply`], which answer
//!   the next state or a [`TransitionError`] naming the current state, the
//!   attempted event, a stable code and a Chinese message.
//! - [`SOCIAL_TRANSITIONS`] and [`FINANCIAL_TRANSITIONS`]: the declared tables
//!   of allowed transitions; property tests drive random event sequences
//!   through `apply` and check that it never leaves these tables.
//!
//! A card's expiry (有效期) is not a stored state: a card is expired when
//! `today > expiry` ([`is_expired`]); an expired card cannot be activated,
//! neither its social-security application nor its financial one
//! (`CARD_EXPIRED`).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::identifiers::normalize;

// ---------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------

/// Why a registry value was rejected; `code()` is stable, `Display` Chinese.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryValueError {
    #[error("请填写姓名。")]
    NameEmpty,
    #[error("姓名不能超过{max}个字符。", max = PersonName::MAX_CHARS)]
    NameTooLong,
    #[error("姓名含有控制字符或不可见字符，请删除后重新填写。")]
    NameCharacters,
    #[error("行政区划代码应为6位数字（例如柳江区450206），请核对后重新填写。")]
    RegionCode,
    #[error("参保状态无效：应为“参保缴费”“暂停缴费”或“终止”。")]
    EnrolmentStatus,
    #[error("地址不能超过{max}个字符，且不能含控制字符。", max = Address::MAX_CHARS)]
    Address,
    #[error("规范版本格式应为“主版本.两位次版本”，例如3.00。")]
    SpecVersion,
    #[error("合作银行代码应为2至20位英文字母、数字或下划线（例如ICBC）。")]
    BankCode,
    #[error("社保应用状态无效。")]
    SocialState,
    #[error("金融应用状态无效。")]
    FinancialState,
}

impl RegistryValueError {
    /// A stable machine-readable code, e.g. `REGION_CODE_FORMAT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NameEmpty => "NAME_EMPTY",
            Self::NameTooLong => "NAME_TOO_LONG",
            Self::NameCharacters => "NAME_CHARACTERS",
            Self::RegionCode => "REGION_CODE_FORMAT",
            Self::EnrolmentStatus => "ENROLMENT_STATUS_INVALID",
            Self::Address => "ADDRESS_INVALID",
            Self::SpecVersion => "SPEC_VERSION_FORMAT",
            Self::BankCode => "BANK_CODE_FORMAT",
            Self::SocialState => "SOCIAL_STATE_INVALID",
            Self::FinancialState => "FINANCIAL_STATE_INVALID",
        }
    }
}

/// Trims what copy-and-paste brings around a value (whitespace including
/// U+3000, zero-width space, byte-order mark), nothing else.
fn trim_pasted(input: &str) -> &str {
    input.trim_matches(|c: char| c.is_whitespace() || c == '\u{200B}' || c == '\u{FEFF}')
}

/// True for characters that never belong in a name or an address: control
/// characters, and invisible format characters other than the zero-width
/// joiner (which some scripts need).
fn is_forbidden_text_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A person's name (姓名), kept exactly as written: any Unicode, including
/// rare characters outside the Basic Multilingual Plane (𠈌, 䶮) and the
/// middle dot of minority names (阿依古丽·买买提). Only surrounding
/// whitespace is trimmed; nothing is normalised, so what is stored is what
/// is shown.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "张𠈌")]
pub struct PersonName(String);

impl PersonName {
    /// The longest name accepted, in characters (not bytes).
    pub const MAX_CHARS: usize = 100;

    /// # Errors
    ///
    /// Empty, longer than [`Self::MAX_CHARS`] characters, or containing
    /// control or invisible characters.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let name = trim_pasted(input);
        if name.is_empty() {
            return Err(RegistryValueError::NameEmpty);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(RegistryValueError::NameTooLong);
        }
        if name.chars().any(is_forbidden_text_char) {
            return Err(RegistryValueError::NameCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A postal address (住址), free text kept as written (trimmed).
///
/// Personal information: the store seals it; [`Address::masked`] shows only
/// the first characters. `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Address(String);

impl Address {
    /// The longest address accepted, in characters.
    pub const MAX_CHARS: usize = 200;
    /// How many leading characters the masked form keeps (about the district).
    const SHOWN_CHARS: usize = 6;

    /// Parses an address; blank input is `Ok(None)`.
    ///
    /// # Errors
    ///
    /// Longer than [`Self::MAX_CHARS`] characters or containing control
    /// characters.
    pub fn parse(input: &str) -> Result<Option<Self>, RegistryValueError> {
        let address = trim_pasted(input);
        if address.is_empty() {
            return Ok(None);
        }
        if address.chars().count() > Self::MAX_CHARS || address.chars().any(is_forbidden_text_char)
        {
            return Err(RegistryValueError::Address);
        }
        Ok(Some(Self(address.to_owned())))
    }

    /// The full address: personal information.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first few characters followed by `****`, e.g. `广西柳州市柳江****`.
    #[must_use]
    pub fn masked(&self) -> String {
        let shown: String = self.0.chars().take(Self::SHOWN_CHARS).collect();
        format!("{shown}****")
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Address").field(&self.masked()).finish()
    }
}

/// An administrative division code (行政区划代码), 6 digits, e.g. 柳州市
/// `450200`, 柳江区 `450206` (and the former 柳江县 `450221`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "450206")]
pub struct RegionCode(String);

impl RegionCode {
    /// # Errors
    ///
    /// [`RegistryValueError::RegionCode`] unless 6 digits (full-width
    /// digits and surrounding spaces are accepted), not starting with `00`.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let code = normalize(input);
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || code.starts_with("00") {
            return Err(RegistryValueError::RegionCode);
        }
        Ok(Self(code))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for 柳州市 and its districts and counties (`4502xx`).
    #[must_use]
    pub fn is_in_liuzhou(&self) -> bool {
        self.0.starts_with(LIUZHOU_PREFIX)
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The first four digits shared by every division code of 柳州市.
pub const LIUZHOU_PREFIX: &str = "4502";

/// The version of the card specification (规范版本), e.g. `3.00` for
/// third-generation cards: one or two digits, a dot, two digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "3.00")]
pub struct SpecVersion(String);

impl SpecVersion {
    /// # Errors
    ///
    /// [`RegistryValueError::SpecVersion`] unless `D.DD` or `DD.DD`.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let version = normalize(input);
        let ok = version.split_once('.').is_some_and(|(major, minor)| {
            (1..=2).contains(&major.len())
                && minor.len() == 2
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        });
        if !ok {
            return Err(RegistryValueError::SpecVersion);
        }
        Ok(Self(version))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The code of a cooperating bank (合作银行代码), e.g. `ICBC`: 2 to 20
/// ASCII letters, digits or underscores, canonical upper-case. It is the same
/// code a bank teller's account carries, which scopes what the teller sees.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "ICBC")]
pub struct BankCode(String);

impl BankCode {
    /// # Errors
    ///
    /// [`RegistryValueError::BankCode`] unless 2–20 letters, digits or `_`.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let code = normalize(input);
        if !(2..=20).contains(&code.len())
            || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(RegistryValueError::BankCode);
        }
        Ok(Self(code))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if an account's bank code (as an administrator typed it) names
    /// this bank; the comparison ignores case and surrounding spaces.
    #[must_use]
    pub fn matches(&self, account_bank_code: &str) -> bool {
        self.0.eq_ignore_ascii_case(account_bank_code.trim())
    }
}

impl fmt::Display for BankCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Enrolment (参保)
// ---------------------------------------------------------------------------

/// The insurance enrolment status (参保状态).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentStatus {
    /// 参保缴费 — insured and paying contributions.
    Contributing,
    /// 暂停缴费 — insured, contributions suspended (e.g. between jobs).
    Suspended,
    /// 终止 — the insurance relation has ended (moved away, deceased …).
    Terminated,
}

impl EnrolmentStatus {
    pub const ALL: [Self; 3] = [Self::Contributing, Self::Suspended, Self::Terminated];

    /// The stable code stored and sent: `contributing`, `suspended`, `terminated`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Contributing => "contributing",
            Self::Suspended => "suspended",
            Self::Terminated => "terminated",
        }
    }

    /// The Chinese label: 参保缴费, 暂停缴费, 终止.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Contributing => "参保缴费",
            Self::Suspended => "暂停缴费",
            Self::Terminated => "终止",
        }
    }

    /// Whether this status counts as enrolled: the insurance relation
    /// exists. 参保缴费 and 暂停缴费 count (a suspended contributor is still
    /// insured and keeps the card); 终止 does not.
    #[must_use]
    pub fn counts_as_enrolled(self) -> bool {
        match self {
            Self::Contributing | Self::Suspended => true,
            Self::Terminated => false,
        }
    }

    /// Parses the code or the Chinese label (spreadsheets carry the label).
    ///
    /// # Errors
    ///
    /// [`RegistryValueError::EnrolmentStatus`] for anything else.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let value = trim_pasted(input);
        Self::ALL
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(value) || s.label_zh() == value)
            .ok_or(RegistryValueError::EnrolmentStatus)
    }
}

/// A person's social insurance enrolment (参保信息): where, in what status,
/// since when.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The division code of the insuring area (参保地行政区划代码).
    pub region_code: RegionCode,
    pub status: EnrolmentStatus,
    /// Since when the status holds (YYYY-MM-DD).
    pub since: NaiveDate,
}

/// The acceptance condition of the service (受理条件): the applicant is
/// enrolled in Liuzhou social insurance (已参加柳州市社会保险).
///
/// The rule: the insuring area is 柳州市 or one of its districts or counties
/// (division code `4502xx`, see [`LIUZHOU_PREFIX`]) **and** the status counts
/// as enrolled ([`EnrolmentStatus::counts_as_enrolled`]: 参保缴费 or
/// 暂停缴费; 终止 does not).
#[must_use]
pub fn is_enrolled_in_liuzhou(enrolment: &Enrolment) -> bool {
    enrolment.region_code.is_in_liuzhou() && enrolment.status.counts_as_enrolled()
}

// ---------------------------------------------------------------------------
// The card's two applications
// ---------------------------------------------------------------------------

/// Which application on the chip a state or event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Application {
    /// 社保应用 — the social-security application.
    Social,
    /// 金融应用 — the financial (bank account) application.
    Financial,
}

impl Application {
    /// `social` or `financial`, as stored in `card_events.application`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Social => "social",
            Self::Financial => "financial",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Social => "社保应用",
            Self::Financial => "金融应用",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "social" => Some(Self::Social),
            "financial" => Some(Self::Financial),
            _ => None,
        }
    }
}

/// True when a card is past its expiry date (有效期): it is valid through
/// the expiry date itself and expired from the day after.
#[must_use]
pub fn is_expired(today: NaiveDate, expiry: NaiveDate) -> bool {
    today > expiry
}

/// The state of the social-security application (社保应用状态).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SocialSecurityState {
    /// 制卡中 — being produced and personalised.
    InProduction,
    /// 待领卡 — produced, waiting for the holder at the issuing point.
    AwaitingCollection,
    /// 已领卡未启用 — in the holder's hands, social function sealed.
    Collected,
    /// 正常 — activated and in use.
    Normal,
    /// 临时挂失 — reported lost by phone or online; can be undone (解挂).
    TemporarilyLost,
    /// 正式挂失 — reported lost at a window; final, leads to 注销 and a replacement.
    FormallyLost,
    /// 注销 — cancelled; terminal.
    Cancelled,
}

impl SocialSecurityState {
    pub const ALL: [Self; 7] = [
        Self::InProduction,
        Self::AwaitingCollection,
        Self::Collected,
        Self::Normal,
        Self::TemporarilyLost,
        Self::FormallyLost,
        Self::Cancelled,
    ];

    /// The stable code stored and sent, e.g. `temporarily_lost`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::InProduction => "in_production",
            Self::AwaitingCollection => "awaiting_collection",
            Self::Collected => "collected",
            Self::Normal => "normal",
            Self::TemporarilyLost => "temporarily_lost",
            Self::FormallyLost => "formally_lost",
            Self::Cancelled => "cancelled",
        }
    }

    /// The Chinese label, e.g. `临时挂失`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::InProduction => "制卡中",
            Self::AwaitingCollection => "待领卡",
            Self::Collected => "已领卡未启用",
            Self::Normal => "正常",
            Self::TemporarilyLost => "临时挂失",
            Self::FormallyLost => "正式挂失",
            Self::Cancelled => "注销",
        }
    }

    /// Parses the code or the Chinese label.
    ///
    /// # Errors
    ///
    /// [`RegistryValueError::SocialState`] for anything else.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let value = trim_pasted(input);
        Self::ALL
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(value) || s.label_zh() == value)
            .ok_or(RegistryValueError::SocialState)
    }

    /// Terminal: no event leads anywhere from here (注销).
    #[must_use]
    pub fn is_terminal(self) -> bool {
        self == Self::Cancelled
    }

    /// True when the card has left production and the holder has it
    /// (已领卡未启用, 正常), i.e. it can be activated or used.
    #[must_use]
    pub fn is_in_holders_hands(self) -> bool {
        matches!(self, Self::Collected | Self::Normal)
    }

    /// The next state after `event`, or why `event` is not allowed now.
    /// `today` and `expiry` decide whether the card is expired
    /// ([`is_expired`]); an expired card cannot be activated (`CARD_EXPIRED`).
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] naming this state and the event, with the codes
    /// `CARD_CANCELLED`, `CARD_REPORTED_LOST`, `CARD_NOT_YET_COLLECTED`,
    /// `CARD_EXPIRED`, `CARD_ALREADY_ACTIVE` or `TRANSITION_NOT_ALLOWED`.
    pub fn apply(
        self,
        event: SocialSecurityEvent,
        today: NaiveDate,
        expiry: NaiveDate,
    ) -> Result<Self, TransitionError> {
        use SocialSecurityEvent as E;
        use SocialSecurityState as S;
        let refuse = |reason| {
            Err(TransitionError {
                current: CardState::Social(self),
                attempted: CardEvent::Social(event),
                reason,
            })
        };
        if self == S::Cancelled {
            return refuse(TransitionRefusal::CardCancelled);
        }
        match (self, event) {
            (_, E::Cancel) => Ok(S::Cancelled),
            (S::InProduction, E::MarkProduced) => Ok(S::AwaitingCollection),
            (S::AwaitingCollection, E::Collect) => Ok(S::Collected),
            (S::Collected, E::Activate) if is_expired(today, expiry) => {
                refuse(TransitionRefusal::CardExpired)
            }
            (S::Collected, E::Activate) | (S::TemporarilyLost, E::CancelTemporaryLoss) => {
                Ok(S::Normal)
            }
            (S::Normal, E::ReportLostTemporarily) => Ok(S::TemporarilyLost),
            (S::Collected | S::Normal | S::TemporarilyLost, E::ReportLostFormally) => {
                Ok(S::FormallyLost)
            }
            (S::Normal, E::Activate) => refuse(TransitionRefusal::AlreadyActive),
            (
                S::TemporarilyLost | S::FormallyLost,
                E::Activate | E::ReportLostTemporarily | E::ReportLostFormally,
            )
            | (S::FormallyLost, E::CancelTemporaryLoss) => {
                refuse(TransitionRefusal::CardReportedLost)
            }
            (
                S::InProduction | S::AwaitingCollection,
                E::Activate | E::ReportLostTemporarily | E::ReportLostFormally,
            ) => refuse(TransitionRefusal::NotYetCollected),
            _ => refuse(TransitionRefusal::NotAllowed),
        }
    }
}

impl fmt::Display for SocialSecurityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// What can happen to the social-security application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SocialSecurityEvent {
    /// 制卡完成 — the card is produced and waits at the issuing point.
    MarkProduced,
    /// 领卡 — handed to the holder (or distributed through the employer).
    Collect,
    /// 启用 — the social-security function is activated.
    Activate,
    /// 临时挂失 — temporary loss report.
    ReportLostTemporarily,
    /// 解挂 — a temporary loss report is withdrawn.
    CancelTemporaryLoss,
    /// 正式挂失 — formal loss report at a window.
    ReportLostFormally,
    /// 注销 — the card is cancelled.
    Cancel,
}

impl SocialSecurityEvent {
    pub const ALL: [Self; 7] = [
        Self::MarkProduced,
        Self::Collect,
        Self::Activate,
        Self::ReportLostTemporarily,
        Self::CancelTemporaryLoss,
        Self::ReportLostFormally,
        Self::Cancel,
    ];

    /// The stable code stored and sent, e.g. `report_lost_temporarily`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::MarkProduced => "mark_produced",
            Self::Collect => "collect",
            Self::Activate => "activate",
            Self::ReportLostTemporarily => "report_lost_temporarily",
            Self::CancelTemporaryLoss => "cancel_temporary_loss",
            Self::ReportLostFormally => "report_lost_formally",
            Self::Cancel => "cancel",
        }
    }

    /// The Chinese name of the action, e.g. `解挂`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::MarkProduced => "制卡完成",
            Self::Collect => "领卡",
            Self::Activate => "启用社保应用",
            Self::ReportLostTemporarily => "临时挂失",
            Self::CancelTemporaryLoss => "解挂",
            Self::ReportLostFormally => "正式挂失",
            Self::Cancel => "注销",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// The state of the financial application (金融应用状态, the bank account).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FinancialState {
    /// 未激活 — the bank account awaits activation at a bank counter.
    NotActivated,
    /// 已激活 — the bank account is in use.
    Active,
    /// 冻结 — frozen by the bank.
    Frozen,
    /// 销户 — the bank account is closed; terminal.
    Closed,
}

impl FinancialState {
    pub const ALL: [Self; 4] = [Self::NotActivated, Self::Active, Self::Frozen, Self::Closed];

    /// The stable code stored and sent, e.g. `not_activated`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::NotActivated => "not_activated",
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::Closed => "closed",
        }
    }

    /// The Chinese label, e.g. `未激活`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::NotActivated => "未激活",
            Self::Active => "已激活",
            Self::Frozen => "冻结",
            Self::Closed => "销户",
        }
    }

    /// Parses the code or the Chinese label.
    ///
    /// # Errors
    ///
    /// [`RegistryValueError::FinancialState`] for anything else.
    pub fn parse(input: &str) -> Result<Self, RegistryValueError> {
        let value = trim_pasted(input);
        Self::ALL
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(value) || s.label_zh() == value)
            .ok_or(RegistryValueError::FinancialState)
    }

    /// Terminal: no event leads anywhere from here (销户).
    #[must_use]
    pub fn is_terminal(self) -> bool {
        self == Self::Closed
    }

    /// The next state after `event`, or why `event` is not allowed now.
    ///
    /// Activation (激活) also needs the physical card in the holder's hands
    /// and usable: `social` must be 已领卡未启用 or 正常 (otherwise
    /// `CARD_NOT_YET_COLLECTED`, `CARD_REPORTED_LOST` or `CARD_CANCELLED`,
    /// naming the social state), and the card not expired (`CARD_EXPIRED`).
    /// Freezing, unfreezing and closing are the bank's own and do not depend
    /// on the social-security application.
    ///
    /// # Errors
    ///
    /// A [`TransitionError`] with the codes `FINANCIAL_CLOSED`,
    /// `FINANCIAL_ALREADY_ACTIVE`, `FINANCIAL_FROZEN`, `CARD_CANCELLED`,
    /// `CARD_REPORTED_LOST`, `CARD_NOT_YET_COLLECTED`, `CARD_EXPIRED` or
    /// `TRANSITION_NOT_ALLOWED`.
    pub fn apply(
        self,
        event: FinancialEvent,
        social: SocialSecurityState,
        today: NaiveDate,
        expiry: NaiveDate,
    ) -> Result<Self, TransitionError> {
        use FinancialEvent as E;
        use FinancialState as F;
        use SocialSecurityState as S;
        let refuse = |current, reason| {
            Err(TransitionError {
                current,
                attempted: CardEvent::Financial(event),
                reason,
            })
        };
        let own = CardState::Financial(self);
        match (self, event) {
            (F::Closed, _) => refuse(own, TransitionRefusal::FinancialClosed),
            (F::NotActivated, E::Activate) => match social {
                S::Cancelled => refuse(CardState::Social(social), TransitionRefusal::CardCancelled),
                S::TemporarilyLost | S::FormallyLost => refuse(
                    CardState::Social(social),
                    TransitionRefusal::CardReportedLost,
                ),
                S::InProduction | S::AwaitingCollection => refuse(
                    CardState::Social(social),
                    TransitionRefusal::NotYetCollected,
                ),
                S::Collected | S::Normal if is_expired(today, expiry) => {
                    refuse(own, TransitionRefusal::CardExpired)
                }
                S::Collected | S::Normal => Ok(F::Active),
            },
            (F::Active, E::Activate) => refuse(own, TransitionRefusal::FinancialAlreadyActive),
            (F::Active, E::Freeze) => Ok(F::Frozen),
            (F::Frozen, E::Unfreeze) => Ok(F::Active),
            (F::NotActivated | F::Active, E::Close) => Ok(F::Closed),
            (F::Frozen, E::Activate | E::Freeze | E::Close) => {
                refuse(own, TransitionRefusal::FinancialFrozen)
            }
            (F::NotActivated, E::Freeze | E::Unfreeze) | (F::Active, E::Unfreeze) => {
                refuse(own, TransitionRefusal::NotAllowed)
            }
        }
    }
}

impl fmt::Display for FinancialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// What can happen to the financial application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinancialEvent {
    /// 激活 — at a bank counter, holder present with the ID card original.
    Activate,
    /// 冻结
    Freeze,
    /// 解冻
    Unfreeze,
    /// 销户
    Close,
}

impl FinancialEvent {
    pub const ALL: [Self; 4] = [Self::Activate, Self::Freeze, Self::Unfreeze, Self::Close];

    /// The stable code stored and sent, e.g. `unfreeze`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Activate => "activate",
            Self::Freeze => "freeze",
            Self::Unfreeze => "unfreeze",
            Self::Close => "close",
        }
    }

    /// The Chinese name of the action, e.g. `激活金融账户`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Activate => "激活金融账户",
            Self::Freeze => "冻结",
            Self::Unfreeze => "解冻",
            Self::Close => "销户",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// A state of either application, as named in a [`TransitionError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardState {
    Social(SocialSecurityState),
    Financial(FinancialState),
}

impl CardState {
    #[must_use]
    pub fn application(self) -> Application {
        match self {
            Self::Social(_) => Application::Social,
            Self::Financial(_) => Application::Financial,
        }
    }

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Social(s) => s.code(),
            Self::Financial(s) => s.code(),
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Social(s) => s.label_zh(),
            Self::Financial(s) => s.label_zh(),
        }
    }
}

/// An event of either application, as named in a [`TransitionError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardEvent {
    Social(SocialSecurityEvent),
    Financial(FinancialEvent),
}

impl CardEvent {
    #[must_use]
    pub fn application(self) -> Application {
        match self {
            Self::Social(_) => Application::Social,
            Self::Financial(_) => Application::Financial,
        }
    }

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Social(e) => e.code(),
            Self::Financial(e) => e.code(),
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Social(e) => e.label_zh(),
            Self::Financial(e) => e.label_zh(),
        }
    }
}

/// Why a transition was refused; each has a stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionRefusal {
    /// `CARD_CANCELLED` — the card is cancelled (注销).
    CardCancelled,
    /// `CARD_REPORTED_LOST` — the card is reported lost.
    CardReportedLost,
    /// `CARD_NOT_YET_COLLECTED` — the holder does not have the card yet.
    NotYetCollected,
    /// `CARD_EXPIRED` — past its expiry date.
    CardExpired,
    /// `CARD_ALREADY_ACTIVE` — the social-security application is already active.
    AlreadyActive,
    /// `FINANCIAL_ALREADY_ACTIVE` — the bank account is already activated.
    FinancialAlreadyActive,
    /// `FINANCIAL_FROZEN` — the bank account is frozen.
    FinancialFrozen,
    /// `FINANCIAL_CLOSED` — the bank account is closed.
    FinancialClosed,
    /// `TRANSITION_NOT_ALLOWED` — the event does not apply to the current state.
    NotAllowed,
}

impl TransitionRefusal {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::CardCancelled => "CARD_CANCELLED",
            Self::CardReportedLost => "CARD_REPORTED_LOST",
            Self::NotYetCollected => "CARD_NOT_YET_COLLECTED",
            Self::CardExpired => "CARD_EXPIRED",
            Self::AlreadyActive => "CARD_ALREADY_ACTIVE",
            Self::FinancialAlreadyActive => "FINANCIAL_ALREADY_ACTIVE",
            Self::FinancialFrozen => "FINANCIAL_FROZEN",
            Self::FinancialClosed => "FINANCIAL_CLOSED",
            Self::NotAllowed => "TRANSITION_NOT_ALLOWED",
        }
    }

    /// What the person at the window can do about it, in Chinese.
    fn advice_zh(self) -> &'static str {
        match self {
            Self::CardCancelled => "已注销的卡不能再办理任何业务，请为持卡人申领新卡。",
            Self::CardReportedLost => {
                "临时挂失的卡须先解挂；正式挂失的卡不能恢复，请注销后补领新卡。"
            }
            Self::NotYetCollected => "请待卡片制作完成并由持卡人领取后再办理。",
            Self::CardExpired => "卡片已超过有效期，不能启用或激活，请为持卡人办理换卡。",
            Self::AlreadyActive => "社保应用已启用，无须重复办理。",
            Self::FinancialAlreadyActive => "金融账户已激活，无须重复办理。",
            Self::FinancialFrozen => "金融账户已冻结，请先由合作银行解冻。",
            Self::FinancialClosed => "金融账户已销户，不能再办理金融业务。",
            Self::NotAllowed => "请核对卡片当前状态后选择可办理的业务。",
        }
    }
}

/// A refused transition: the current state (of the application that blocks
/// it), the attempted event, the reason with its stable code, and a Chinese
/// message naming both, e.g.
/// `社保应用当前状态为“临时挂失”，不能办理“启用社保应用”。临时挂失的卡须先解挂；…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransitionError {
    /// The state that forbids the event; for a financial activation refused
    /// because of the card, the social-security state.
    pub current: CardState,
    pub attempted: CardEvent,
    pub reason: TransitionRefusal,
}

impl TransitionError {
    /// The stable code, e.g. `CARD_REPORTED_LOST`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}当前状态为“{}”，不能办理“{}”。{}",
            self.current.application().label_zh(),
            self.current.label_zh(),
            self.attempted.label_zh(),
            self.reason.advice_zh()
        )
    }
}

impl std::error::Error for TransitionError {}

/// The allowed transitions of the social-security application, declared as
/// a table: `(from, event, to)`. [`SocialSecurityState::apply`] never
/// answers a transition outside it (property-tested), and answers each
/// entry when the card is not expired.
pub const SOCIAL_TRANSITIONS: &[(
    SocialSecurityState,
    SocialSecurityEvent,
    SocialSecurityState,
)] = {
    use SocialSecurityEvent as E;
    use SocialSecurityState as S;
    &[
        (S::InProduction, E::MarkProduced, S::AwaitingCollection),
        (S::AwaitingCollection, E::Collect, S::Collected),
        (S::Collected, E::Activate, S::Normal),
        (S::Normal, E::ReportLostTemporarily, S::TemporarilyLost),
        (S::TemporarilyLost, E::CancelTemporaryLoss, S::Normal),
        (S::Collected, E::ReportLostFormally, S::FormallyLost),
        (S::Normal, E::ReportLostFormally, S::FormallyLost),
        (S::TemporarilyLost, E::ReportLostFormally, S::FormallyLost),
        (S::InProduction, E::Cancel, S::Cancelled),
        (S::AwaitingCollection, E::Cancel, S::Cancelled),
        (S::Collected, E::Cancel, S::Cancelled),
        (S::Normal, E::Cancel, S::Cancelled),
        (S::TemporarilyLost, E::Cancel, S::Cancelled),
        (S::FormallyLost, E::Cancel, S::Cancelled),
    ]
};

/// The allowed transitions of the financial application: `(from, event, to)`.
/// Activation additionally needs the card in the holder's hands and not
/// expired (see [`FinancialState::apply`]).
pub const FINANCIAL_TRANSITIONS: &[(FinancialState, FinancialEvent, FinancialState)] = {
    use FinancialEvent as E;
    use FinancialState as F;
    &[
        (F::NotActivated, E::Activate, F::Active),
        (F::Active, E::Freeze, F::Frozen),
        (F::Frozen, E::Unfreeze, F::Active),
        (F::NotActivated, E::Close, F::Closed),
        (F::Active, E::Close, F::Closed),
    ]
};

/// Checks a pair of states given for a new card (e.g. by an import of
/// existing cards): a bank account cannot be in use (已激活, 冻结) while the
/// holder does not have the card yet (制卡中, 待领卡).
///
/// # Errors
///
/// A Chinese message saying which combination is impossible.
pub fn check_initial_states(
    social: SocialSecurityState,
    financial: FinancialState,
) -> Result<(), String> {
    let not_handed_out = matches!(
        social,
        SocialSecurityState::InProduction | SocialSecurityState::AwaitingCollection
    );
    let in_use = matches!(financial, FinancialState::Active | FinancialState::Frozen);
    if not_handed_out && in_use {
        return Err(format!(
            "社保应用为“{}”时，金融应用不能为“{}”：卡片尚未交到持卡人手中。",
            social.label_zh(),
            financial.label_zh()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2026, 3, 2);

    fn today() -> NaiveDate {
        date(TODAY.0, TODAY.1, TODAY.2)
    }

    fn valid_expiry() -> NaiveDate {
        date(2036, 3, 1)
    }

    fn enrolment(region: &str, status: EnrolmentStatus) -> Enrolment {
        Enrolment {
            region_code: RegionCode::parse(region).unwrap(),
            status,
            since: date(2020, 1, 1),
        }
    }

    #[test]
    fn liuzhou_enrolment_rule() {
        use EnrolmentStatus::{Contributing, Suspended, Terminated};
        for region in ["450200", "450206", "450221", "450202", "450226"] {
            assert!(is_enrolled_in_liuzhou(&enrolment(region, Contributing)));
            assert!(is_enrolled_in_liuzhou(&enrolment(region, Suspended)));
            assert!(!is_enrolled_in_liuzhou(&enrolment(region, Terminated)));
        }
        // 南宁市, 桂林市, and a code that merely contains 4502 later on.
        for region in ["450100", "450300", "110105", "454502"] {
            assert!(!is_enrolled_in_liuzhou(&enrolment(region, Contributing)));
        }
    }

    #[test]
    fn enrolment_status_parses_codes_and_labels() {
        for status in EnrolmentStatus::ALL {
            assert_eq!(EnrolmentStatus::parse(status.code()), Ok(status));
            assert_eq!(EnrolmentStatus::parse(status.label_zh()), Ok(status));
            assert_eq!(
                EnrolmentStatus::parse(&format!(" {}\u{3000}", status.label_zh())),
                Ok(status)
            );
        }
        assert_eq!(
            EnrolmentStatus::parse("参保").unwrap_err().code(),
            "ENROLMENT_STATUS_INVALID"
        );
        assert_eq!(
            serde_json::to_string(&EnrolmentStatus::Suspended).unwrap(),
            "\"suspended\""
        );
    }

    #[test]
    fn region_codes() {
        assert_eq!(
            RegionCode::parse("４５０２０６").unwrap().as_str(),
            "450206"
        );
        for bad in ["45020", "4502061", "45020A", "", "000000", "４５０２０"] {
            assert_eq!(
                RegionCode::parse(bad).unwrap_err().code(),
                "REGION_CODE_FORMAT"
            );
        }
    }

    #[test]
    fn names_are_kept_exactly() {
        for name in [
            "张𠈌",
            "䶮",
            "阿依古丽·买买提",
            "王\u{20BB7}明",
            "Zoë",
            "李 明",
        ] {
            assert_eq!(PersonName::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(PersonName::parse("\u{3000}张三 ").unwrap().as_str(), "张三");
        assert_eq!(PersonName::parse("  ").unwrap_err().code(), "NAME_EMPTY");
        assert_eq!(
            PersonName::parse("张\u{0007}三").unwrap_err().code(),
            "NAME_CHARACTERS"
        );
        assert_eq!(
            PersonName::parse("张\u{202E}三").unwrap_err().code(),
            "NAME_CHARACTERS"
        );
        // 100 astral characters are 100 characters, not 400 bytes.
        assert!(PersonName::parse(&"𠈌".repeat(100)).is_ok());
        assert_eq!(
            PersonName::parse(&"𠈌".repeat(101)).unwrap_err().code(),
            "NAME_TOO_LONG"
        );
    }

    #[test]
    fn addresses_are_masked() {
        let address = Address::parse("广西柳州市柳江区柳堡路318号")
            .unwrap()
            .unwrap();
        assert_eq!(address.masked(), "广西柳州市柳****");
        assert!(!format!("{address:?}").contains("318"));
        assert_eq!(Address::parse(" \u{3000}").unwrap(), None);
        assert!(Address::parse(&"路".repeat(201)).is_err());
    }

    #[test]
    fn spec_versions_and_bank_codes() {
        assert_eq!(SpecVersion::parse("3.00").unwrap().as_str(), "3.00");
        assert_eq!(SpecVersion::parse("１０.０１").unwrap().as_str(), "10.01");
        for bad in ["3", "3.0", "3.000", "a.00", "100.00", ".00"] {
            assert!(SpecVersion::parse(bad).is_err(), "{bad}");
        }
        let bank = BankCode::parse(" icbc ").unwrap();
        assert_eq!(bank.as_str(), "ICBC");
        assert!(bank.matches("ICBC"));
        assert!(bank.matches(" icbc"));
        assert!(!bank.matches("ABC"));
        for bad in ["I", "ICBC BANK", "工行", &"A".repeat(21)] {
            assert_eq!(BankCode::parse(bad).unwrap_err().code(), "BANK_CODE_FORMAT");
        }
    }

    #[test]
    fn state_codes_and_labels_round_trip() {
        for state in SocialSecurityState::ALL {
            assert_eq!(SocialSecurityState::parse(state.code()), Ok(state));
            assert_eq!(SocialSecurityState::parse(state.label_zh()), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.code()));
        }
        for state in FinancialState::ALL {
            assert_eq!(FinancialState::parse(state.code()), Ok(state));
            assert_eq!(FinancialState::parse(state.label_zh()), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.code()));
        }
        for event in SocialSecurityEvent::ALL {
            assert_eq!(SocialSecurityEvent::from_code(event.code()), Some(event));
        }
        for event in FinancialEvent::ALL {
            assert_eq!(FinancialEvent::from_code(event.code()), Some(event));
        }
        assert_eq!(SocialSecurityState::Collected.label_zh(), "已领卡未启用");
        assert_eq!(FinancialState::NotActivated.label_zh(), "未激活");
    }

    #[test]
    fn the_normal_life_of_a_card() {
        use SocialSecurityEvent as E;
        let mut state = SocialSecurityState::InProduction;
        for (event, expected) in [
            (E::MarkProduced, SocialSecurityState::AwaitingCollection),
            (E::Collect, SocialSecurityState::Collected),
            (E::Activate, SocialSecurityState::Normal),
            (
                E::ReportLostTemporarily,
                SocialSecurityState::TemporarilyLost,
            ),
            (E::CancelTemporaryLoss, SocialSecurityState::Normal),
            (E::ReportLostFormally, SocialSecurityState::FormallyLost),
            (E::Cancel, SocialSecurityState::Cancelled),
        ] {
            state = state.apply(event, today(), valid_expiry()).unwrap();
            assert_eq!(state, expected);
        }
    }

    fn social_refusal(
        state: SocialSecurityState,
        event: SocialSecurityEvent,
        expiry: NaiveDate,
    ) -> TransitionError {
        state.apply(event, today(), expiry).unwrap_err()
    }

    #[test]
    fn forbidden_social_transitions_have_their_codes_and_messages() {
        use SocialSecurityEvent as E;
        use SocialSecurityState as S;
        let error = social_refusal(S::TemporarilyLost, E::Activate, valid_expiry());
        assert_eq!(error.code(), "CARD_REPORTED_LOST");
        assert_eq!(error.current, CardState::Social(S::TemporarilyLost));
        assert_eq!(error.attempted, CardEvent::Social(E::Activate));
        let message = error.to_string();
        assert!(message.contains("“临时挂失”"), "{message}");
        assert!(message.contains("“启用社保应用”"), "{message}");
        assert!(message.contains("解挂"), "{message}");

        assert_eq!(
            social_refusal(S::FormallyLost, E::CancelTemporaryLoss, valid_expiry()).code(),
            "CARD_REPORTED_LOST"
        );
        assert_eq!(
            social_refusal(S::Cancelled, E::Activate, valid_expiry()).code(),
            "CARD_CANCELLED"
        );
        assert_eq!(
            social_refusal(S::Cancelled, E::Cancel, valid_expiry()).code(),
            "CARD_CANCELLED"
        );
        assert_eq!(
            social_refusal(S::AwaitingCollection, E::Activate, valid_expiry()).code(),
            "CARD_NOT_YET_COLLECTED"
        );
        assert_eq!(
            social_refusal(S::Normal, E::Activate, valid_expiry()).code(),
            "CARD_ALREADY_ACTIVE"
        );
        assert_eq!(
            social_refusal(S::Normal, E::Collect, valid_expiry()).code(),
            "TRANSITION_NOT_ALLOWED"
        );
        assert_eq!(
            social_refusal(S::Collected, E::ReportLostTemporarily, valid_expiry()).code(),
            "TRANSITION_NOT_ALLOWED"
        );
    }

    #[test]
    fn expiry_blocks_activation_only() {
        use SocialSecurityEvent as E;
        use SocialSecurityState as S;
        // Valid through the expiry date itself.
        assert_eq!(
            S::Collected.apply(E::Activate, today(), today()),
            Ok(S::Normal)
        );
        let yesterday = today().pred_opt().unwrap();
        let error = social_refusal(S::Collected, E::Activate, yesterday);
        assert_eq!(error.code(), "CARD_EXPIRED");
        assert!(error.to_string().contains("已领卡未启用"));
        // Loss reports and cancellation still work on an expired card.
        assert_eq!(
            S::Normal.apply(E::ReportLostTemporarily, today(), yesterday),
            Ok(S::TemporarilyLost)
        );
        assert_eq!(
            S::Normal.apply(E::Cancel, today(), yesterday),
            Ok(S::Cancelled)
        );
        let financial = FinancialState::NotActivated
            .apply(FinancialEvent::Activate, S::Normal, today(), yesterday)
            .unwrap_err();
        assert_eq!(financial.code(), "CARD_EXPIRED");
    }

    #[test]
    fn financial_activation_needs_the_card_in_hand() {
        use FinancialEvent as E;
        use FinancialState as F;
        use SocialSecurityState as S;
        let apply = |state: F, event, social| state.apply(event, social, today(), valid_expiry());
        assert_eq!(
            apply(F::NotActivated, E::Activate, S::Collected),
            Ok(F::Active)
        );
        assert_eq!(
            apply(F::NotActivated, E::Activate, S::Normal),
            Ok(F::Active)
        );
        let lost = apply(F::NotActivated, E::Activate, S::FormallyLost).unwrap_err();
        assert_eq!(lost.code(), "CARD_REPORTED_LOST");
        assert_eq!(lost.current, CardState::Social(S::FormallyLost));
        assert!(
            lost.to_string()
                .starts_with("社保应用当前状态为“正式挂失”，不能办理“激活金融账户”")
        );
        assert_eq!(
            apply(F::NotActivated, E::Activate, S::AwaitingCollection)
                .unwrap_err()
                .code(),
            "CARD_NOT_YET_COLLECTED"
        );
        assert_eq!(
            apply(F::NotActivated, E::Activate, S::Cancelled)
                .unwrap_err()
                .code(),
            "CARD_CANCELLED"
        );
        let again = apply(F::Active, E::Activate, S::Normal).unwrap_err();
        assert_eq!(again.code(), "FINANCIAL_ALREADY_ACTIVE");
        assert!(again.to_string().contains("金融应用当前状态为“已激活”"));
        assert_eq!(apply(F::Active, E::Freeze, S::FormallyLost), Ok(F::Frozen));
        assert_eq!(apply(F::Frozen, E::Unfreeze, S::Cancelled), Ok(F::Active));
        assert_eq!(
            apply(F::Frozen, E::Close, S::Normal).unwrap_err().code(),
            "FINANCIAL_FROZEN"
        );
        assert_eq!(apply(F::Active, E::Close, S::Normal), Ok(F::Closed));
        assert_eq!(
            apply(F::Closed, E::Activate, S::Normal).unwrap_err().code(),
            "FINANCIAL_CLOSED"
        );
        assert_eq!(
            apply(F::NotActivated, E::Freeze, S::Normal)
                .unwrap_err()
                .code(),
            "TRANSITION_NOT_ALLOWED"
        );
    }

    #[test]
    fn every_table_entry_is_reachable_through_apply() {
        for &(from, event, to) in SOCIAL_TRANSITIONS {
            assert_eq!(from.apply(event, today(), valid_expiry()), Ok(to));
        }
        for &(from, event, to) in FINANCIAL_TRANSITIONS {
            assert_eq!(
                from.apply(event, SocialSecurityState::Normal, today(), valid_expiry()),
                Ok(to)
            );
        }
    }

    #[test]
    fn initial_state_combinations() {
        assert!(check_initial_states(SocialSecurityState::Normal, FinancialState::Active).is_ok());
        assert!(
            check_initial_states(SocialSecurityState::Cancelled, FinancialState::Active).is_ok()
        );
        let error = check_initial_states(SocialSecurityState::InProduction, FinancialState::Frozen)
            .unwrap_err();
        assert!(error.contains("制卡中") && error.contains("冻结"));
    }

    const KNOWN_CODES: [&str; 9] = [
        "CARD_CANCELLED",
        "CARD_REPORTED_LOST",
        "CARD_NOT_YET_COLLECTED",
        "CARD_EXPIRED",
        "CARD_ALREADY_ACTIVE",
        "FINANCIAL_ALREADY_ACTIVE",
        "FINANCIAL_FROZEN",
        "FINANCIAL_CLOSED",
        "TRANSITION_NOT_ALLOWED",
    ];

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Social(SocialSecurityEvent),
        Financial(FinancialEvent),
        /// A day passes (the card may expire on the way).
        Days(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => proptest::sample::select(SocialSecurityEvent::ALL.to_vec()).prop_map(Step::Social),
            3 => proptest::sample::select(FinancialEvent::ALL.to_vec()).prop_map(Step::Financial),
            1 => (1u16..2000).prop_map(Step::Days),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Random sequences of events through both machines, from any
        /// starting pair, with time passing: every answered state is one the
        /// tables allow, a refusal changes nothing and names the state that
        /// blocks, terminal states are never left, and no activation
        /// succeeds on an expired card.
        #[test]
        fn random_event_sequences_stay_inside_the_tables(
            start_social in proptest::sample::select(SocialSecurityState::ALL.to_vec()),
            start_financial in proptest::sample::select(FinancialState::ALL.to_vec()),
            expiry_offset in -400i64..4000,
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let mut social = start_social;
            let mut financial = start_financial;
            let mut today = today();
            let expiry = today + chrono::Duration::days(expiry_offset);
            for step in steps {
                match step {
                    Step::Days(days) => today += chrono::Duration::days(i64::from(days)),
                    Step::Social(event) => match social.apply(event, today, expiry) {
                        Ok(next) => {
                            prop_assert!(
                                SOCIAL_TRANSITIONS.contains(&(social, event, next)),
                                "{social:?} --{event:?}--> {next:?} is not in the table"
                            );
                            prop_assert!(!social.is_terminal());
                            if event == SocialSecurityEvent::Activate {
                                prop_assert!(!is_expired(today, expiry));
                            }
                            social = next;
                        }
                        Err(error) => {
                            prop_assert_eq!(error.current, CardState::Social(social));
                            prop_assert_eq!(error.attempted, CardEvent::Social(event));
                            prop_assert!(KNOWN_CODES.contains(&error.code()));
                            let message = error.to_string();
                            let quoted_state = format!("“{}”", social.label_zh());
                            let quoted_event = format!("“{}”", event.label_zh());
                            prop_assert!(message.contains(&quoted_state));
                            prop_assert!(message.contains(&quoted_event));
                            // A refusal is never given for a transition the table allows,
                            // except an activation refused for expiry.
                            let in_table = SOCIAL_TRANSITIONS.iter().any(|&(f, e, _)| f == social && e == event);
                            prop_assert!(!in_table || error.code() == "CARD_EXPIRED");
                        }
                    },
                    Step::Financial(event) => match financial.apply(event, social, today, expiry) {
                        Ok(next) => {
                            prop_assert!(
                                FINANCIAL_TRANSITIONS.contains(&(financial, event, next)),
                                "{financial:?} --{event:?}--> {next:?} is not in the table"
                            );
                            prop_assert!(!financial.is_terminal());
                            if event == FinancialEvent::Activate {
                                prop_assert!(!is_expired(today, expiry));
                                prop_assert!(social.is_in_holders_hands());
                            }
                            financial = next;
                        }
                        Err(error) => {
                            prop_assert_eq!(error.attempted, CardEvent::Financial(event));
                            prop_assert!(
                                error.current == CardState::Financial(financial)
                                    || error.current == CardState::Social(social)
                            );
                            prop_assert!(KNOWN_CODES.contains(&error.code()));
                            let message = error.to_string();
                            let quoted_state = format!("“{}”", error.current.label_zh());
                            prop_assert!(message.contains(&quoted_state));
                            prop_assert!(message.contains(event.label_zh()));
                        }
                    },
                }
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = PersonName::parse(&s);
            let _ = Address::parse(&s);
            let _ = RegionCode::parse(&s);
            let _ = SpecVersion::parse(&s);
            let _ = BankCode::parse(&s);
            let _ = EnrolmentStatus::parse(&s);
            let _ = SocialSecurityState::parse(&s);
            let _ = FinancialState::parse(&s);
        }

        #[test]
        fn names_round_trip_exactly(name in "[\\p{Han}\u{20000}-\u{2A6DF}·a-zA-Z]{1,30}") {
            let parsed = PersonName::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }
    }
}
