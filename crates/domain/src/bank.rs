//! Cooperating banks (合作银行) and the activation of a card's financial
//! function at a bank counter (金融功能激活).
//!
//! Pure rules, no IO and no clock (the caller passes `today`):
//!
//! - [`BinPrefix`], [`BankName`], [`BankContact`], [`BankStatus`]: the
//!   values of the bank registry; [`check_bins`] refuses a BIN claimed twice
//!   or overlapping another bank's; [`check_account_bank`] decides whether a
//!   bank card number belongs to a bank by its BIN (发卡行识别码).
//! - [`decide_counter_activation`]: the one place that decides what a
//!   teller's activation attempt does — activate (未激活 → 已激活), answer
//!   "already active" (nothing changes), or refuse with a stable code. The
//!   rules come from 人社部发〔2011〕83号 and the guide's FAQ: the holder
//!   activates the financial function **in person with the ID card
//!   original** at a counter of the card's own bank; an agent never can
//!   ([`AGENT_NOT_ALLOWED_FOR_BANK`]). A legal guardian (法定监护人) acts for
//!   a holder under 16, with proof of guardianship, as for every card
//!   service of a minor.
//! - [`RejectionCode`]: a bank's reason for not opening an account, as it
//!   comes back in a return file.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::guide::Guide;
use crate::identifiers::{BankCardNumber, normalize};
use crate::registry::{
    BankCode, FinancialEvent, FinancialState, SocialSecurityState, TransitionError,
};

/// The stable code of a refusal because someone other than the holder came.
pub const AGENT_NOT_ALLOWED_FOR_BANK: &str = "AGENT_NOT_ALLOWED_FOR_BANK";

/// The guide's FAQ question whose answer gives the legal reason
/// (是否需要本人办理？).
pub const IN_PERSON_FAQ_QUESTION: &str = "是否需要本人办理？";

/// Below this age (周岁) the legal guardian acts for the holder.
pub const GUARDIAN_AGE_LIMIT: u32 = 16;

// ---------------------------------------------------------------------------
// Registry values
// ---------------------------------------------------------------------------

/// Why a value of the bank registry was rejected; `code()` is stable,
/// `Display` Chinese.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BankValueError {
    #[error("发卡行识别码（BIN）应为5至10位数字，例如621226。")]
    BinFormat,
    #[error("请至少填写一个发卡行识别码（BIN）。")]
    BinsEmpty,
    #[error("一家银行最多登记{max}个发卡行识别码（BIN）。", max = MAX_BINS)]
    TooManyBins,
    #[error("发卡行识别码 {0} 重复或与本行另一识别码 {1} 互相包含，请只保留一个。")]
    BinOverlapsOwn(String, String),
    #[error(
        "发卡行识别码 {bin} 与{other_bank}已登记的 {other_bin} 重叠：同一卡号不能属于两家银行，请核对。"
    )]
    BinOverlapsOther {
        bin: String,
        other_bank: String,
        other_bin: String,
    },
    #[error("请填写银行名称（不超过{max}个字符，不含控制字符）。", max = BankName::MAX_CHARS)]
    Name,
    #[error("联系人、联系电话不能超过{max}个字符，且不能含控制字符。", max = BankContact::MAX_CHARS)]
    Contact,
    #[error("状态应为“active”（合作中）或“suspended”（暂停合作）。")]
    Status,
}

impl BankValueError {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BinFormat => "BIN_FORMAT",
            Self::BinsEmpty => "BINS_EMPTY",
            Self::TooManyBins => "BINS_TOO_MANY",
            Self::BinOverlapsOwn(..) => "BIN_DUPLICATE",
            Self::BinOverlapsOther { .. } => "BIN_TAKEN",
            Self::Name => "BANK_NAME_INVALID",
            Self::Contact => "BANK_CONTACT_INVALID",
            Self::Status => "BANK_STATUS_INVALID",
        }
    }
}

/// The most BINs one bank may register.
pub const MAX_BINS: usize = 50;

/// A BIN prefix (发卡行识别码): the leading 5 to 10 digits of the bank card
/// numbers a bank issues for social security cards, e.g. `621226`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "621226")]
pub struct BinPrefix(String);

impl BinPrefix {
    /// # Errors
    ///
    /// [`BankValueError::BinFormat`] unless 5 to 10 digits (full-width
    /// digits and surrounding spaces accepted).
    pub fn parse(input: &str) -> Result<Self, BankValueError> {
        let bin = normalize(input);
        if !(5..=10).contains(&bin.len()) || !bin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BankValueError::BinFormat);
        }
        Ok(Self(bin))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when one of the two is a prefix of the other: then some card
    /// number would match both.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }
}

impl fmt::Display for BinPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a list of BINs (separated by commas, Chinese commas, semicolons
/// or whitespace) and checks it on its own: 1 to [`MAX_BINS`], none
/// containing another. Sorted.
///
/// # Errors
///
/// The first problem found.
pub fn parse_bins(input: &str) -> Result<Vec<BinPrefix>, BankValueError> {
    let mut bins = input
        .split(|c: char| {
            c == ',' || c == '，' || c == ';' || c == '；' || c == '、' || c.is_whitespace()
        })
        .filter(|part| !part.trim().is_empty())
        .map(BinPrefix::parse)
        .collect::<Result<Vec<_>, _>>()?;
    bins.sort();
    check_own_bins(&bins)?;
    Ok(bins)
}

fn check_own_bins(bins: &[BinPrefix]) -> Result<(), BankValueError> {
    if bins.is_empty() {
        return Err(BankValueError::BinsEmpty);
    }
    if bins.len() > MAX_BINS {
        return Err(BankValueError::TooManyBins);
    }
    for (i, a) in bins.iter().enumerate() {
        if let Some(b) = bins[i + 1..].iter().find(|b| a.overlaps(b)) {
            return Err(BankValueError::BinOverlapsOwn(a.0.clone(), b.0.clone()));
        }
    }
    Ok(())
}

/// Checks a bank's BINs against every other bank's: no card number may
/// belong to two banks.
///
/// # Errors
///
/// [`BankValueError::BinOverlapsOther`] naming the other bank and its BIN
/// (or the own-list problems of [`parse_bins`]).
pub fn check_bins<'a>(
    bank: &BankCode,
    bins: &[BinPrefix],
    others: impl IntoIterator<Item = (&'a BankCode, &'a BinPrefix)>,
) -> Result<(), BankValueError> {
    check_own_bins(bins)?;
    for (other_bank, other_bin) in others {
        if other_bank == bank {
            continue;
        }
        if let Some(bin) = bins.iter().find(|bin| bin.overlaps(other_bin)) {
            return Err(BankValueError::BinOverlapsOther {
                bin: bin.0.clone(),
                other_bank: other_bank.as_str().to_owned(),
                other_bin: other_bin.0.clone(),
            });
        }
    }
    Ok(())
}

/// Why a bank card number does not belong to the card's bank.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "银行卡号 {account} 的发卡行识别码（BIN）不属于{bank}（已登记：{bins}），请核对卡号或该卡所属的合作银行。"
)]
pub struct AccountBinMismatch {
    /// The masked account number.
    pub account: String,
    pub bank: String,
    /// The bank's registered BINs, joined.
    pub bins: String,
}

impl AccountBinMismatch {
    pub const CODE: &'static str = "ACCOUNT_BIN_MISMATCH";

    #[must_use]
    pub fn code(&self) -> &'static str {
        Self::CODE
    }
}

/// Whether `account` is a card number `bank` issues: it starts with one of
/// the bank's BINs.
///
/// # Errors
///
/// [`AccountBinMismatch`] naming the masked account, the bank and its BINs.
pub fn check_account_bank(
    account: &BankCardNumber,
    bank: &BankCode,
    bins: &[BinPrefix],
) -> Result<(), AccountBinMismatch> {
    if bins.iter().any(|bin| account.starts_with_bin(bin.as_str())) {
        return Ok(());
    }
    Err(AccountBinMismatch {
        account: account.masked(),
        bank: bank.as_str().to_owned(),
        bins: if bins.is_empty() {
            "无".to_owned()
        } else {
            bins.iter()
                .map(BinPrefix::as_str)
                .collect::<Vec<_>>()
                .join("、")
        },
    })
}

/// The bank whose BIN a card number starts with (the longest match).
#[must_use]
pub fn bank_of_account<'a>(
    account: &BankCardNumber,
    bins: impl IntoIterator<Item = (&'a BankCode, &'a BinPrefix)>,
) -> Option<&'a BankCode> {
    bins.into_iter()
        .filter(|(_, bin)| account.starts_with_bin(bin.as_str()))
        .max_by_key(|(_, bin)| bin.as_str().len())
        .map(|(bank, _)| bank)
}

/// Free text without control characters, trimmed, at most `max` characters.
fn short_text(input: &str, max: usize) -> Option<String> {
    let text = input.trim();
    (text.chars().count() <= max && !text.chars().any(char::is_control)).then(|| text.to_owned())
}

/// A bank's name (银行名称), e.g. 中国工商银行柳州柳江支行.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "中国工商银行")]
pub struct BankName(String);

impl BankName {
    pub const MAX_CHARS: usize = 60;

    /// # Errors
    ///
    /// [`BankValueError::Name`] when blank, too long or with control characters.
    pub fn parse(input: &str) -> Result<Self, BankValueError> {
        short_text(input, Self::MAX_CHARS)
            .filter(|name| !name.is_empty())
            .map(Self)
            .ok_or(BankValueError::Name)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BankName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A contact at the bank (联系人 and 联系电话): free text, may be blank.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BankContact {
    /// 联系人, e.g. 王经理（个人金融部）.
    pub name: String,
    /// 联系电话, e.g. 0772-7212345.
    pub phone: String,
}

impl BankContact {
    pub const MAX_CHARS: usize = 60;

    /// # Errors
    ///
    /// [`BankValueError::Contact`] when a part is too long or has control
    /// characters.
    pub fn parse(name: &str, phone: &str) -> Result<Self, BankValueError> {
        Ok(Self {
            name: short_text(name, Self::MAX_CHARS).ok_or(BankValueError::Contact)?,
            phone: short_text(phone, Self::MAX_CHARS).ok_or(BankValueError::Contact)?,
        })
    }
}

/// Whether a bank cooperates now (合作状态).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BankStatus {
    /// 合作中: its tellers activate, its system may call the API, batches go out.
    Active,
    /// 暂停合作: nothing new — no activation, no API call, no export.
    Suspended,
}

impl BankStatus {
    pub const ALL: [Self; 2] = [Self::Active, Self::Suspended];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Active => "合作中",
            Self::Suspended => "暂停合作",
        }
    }

    /// Parses the code or the Chinese label.
    ///
    /// # Errors
    ///
    /// [`BankValueError::Status`].
    pub fn parse(input: &str) -> Result<Self, BankValueError> {
        let value = input.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(value) || s.label_zh() == value)
            .ok_or(BankValueError::Status)
    }
}

// ---------------------------------------------------------------------------
// Counter activation (柜台激活金融功能)
// ---------------------------------------------------------------------------

/// Who stands at the counter for the card (办理人).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presenter {
    /// 持卡人本人.
    Holder,
    /// 受委托人 or anyone else acting for the holder: never allowed.
    Agent,
    /// 法定监护人 of a holder under 16, with proof of guardianship.
    Guardian,
}

impl Presenter {
    pub const ALL: [Self; 3] = [Self::Holder, Self::Agent, Self::Guardian];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Holder => "holder",
            Self::Agent => "agent",
            Self::Guardian => "guardian",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Holder => "持卡人本人",
            Self::Agent => "代办人（受委托人）",
            Self::Guardian => "法定监护人（持卡人未满16周岁）",
        }
    }
}

/// How the teller verified the ID card original (身份证原件核验方式).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdVerification {
    /// 身份证阅读器读取芯片核验.
    CardReader,
    /// 柜员目视核验原件.
    Visual,
}

impl IdVerification {
    pub const ALL: [Self; 2] = [Self::CardReader, Self::Visual];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::CardReader => "card_reader",
            Self::Visual => "visual",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::CardReader => "身份证阅读器核验",
            Self::Visual => "柜员目视核验原件",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.code() == code.trim())
    }
}

/// What the teller states about the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterAttempt {
    pub presenter: Presenter,
    /// The holder is at the counter in person (本人到场).
    pub holder_present: bool,
    /// How the ID card original (of the holder, or of the guardian) was
    /// verified; `None` = not verified.
    pub id_verified_by: Option<IdVerification>,
    /// For a guardian: the guardianship was proven (户口簿 or 监护关系证明).
    pub guardianship_verified: bool,
}

/// The card as found for the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterCard<'a> {
    /// The bank whose account the card's financial application holds.
    pub bank: &'a BankCode,
    /// The ID number given at the counter is the card holder's.
    pub holder_matches: bool,
    /// The holder's age (周岁) today.
    pub holder_age: u32,
    pub social: SocialSecurityState,
    pub financial: FinancialState,
    pub expiry: NaiveDate,
}

/// Everything the decision needs besides the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterFacts<'a> {
    /// The teller's bank.
    pub teller_bank: &'a BankCode,
    /// The teller's bank cooperates now.
    pub teller_bank_active: bool,
    /// `None` when no card has that number.
    pub card: Option<CounterCard<'a>>,
    pub today: NaiveDate,
}

/// What an allowed attempt does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterDecision {
    /// 未激活 → 已激活.
    Activate,
    /// The account is already active: nothing changes (an idempotent answer).
    AlreadyActive,
}

/// Why an attempt is refused; each has a stable code and a Chinese message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterRefusal {
    /// `AGENT_NOT_ALLOWED_FOR_BANK`: an agent, a guardian of a holder of 16
    /// or more, or the holder not present.
    AgentNotAllowed { presenter: Presenter },
    /// `ID_NOT_VERIFIED`: the ID card original was not verified.
    IdNotVerified,
    /// `GUARDIANSHIP_NOT_VERIFIED`: a guardian without proof of guardianship.
    GuardianshipNotVerified,
    /// `BANK_SUSPENDED`: the teller's bank does not cooperate now.
    BankSuspended,
    /// `CARD_NOT_FOUND`: no such card — or another bank's card with another
    /// holder's ID number, answered the same so that card numbers of other
    /// banks cannot be probed.
    CardNotFound,
    /// `CARD_HOLDER_MISMATCH`: the ID number is not the card holder's.
    HolderMismatch,
    /// `CARD_OF_OTHER_BANK`: the holder's card belongs to another bank.
    OtherBank,
    /// The card's state forbids activation (`CARD_REPORTED_LOST`,
    /// `CARD_CANCELLED`, `CARD_NOT_YET_COLLECTED`, `CARD_EXPIRED`,
    /// `FINANCIAL_FROZEN`, `FINANCIAL_CLOSED`).
    State(TransitionError),
}

impl CounterRefusal {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::AgentNotAllowed { .. } => AGENT_NOT_ALLOWED_FOR_BANK,
            Self::IdNotVerified => "ID_NOT_VERIFIED",
            Self::GuardianshipNotVerified => "GUARDIANSHIP_NOT_VERIFIED",
            Self::BankSuspended => "BANK_SUSPENDED",
            Self::CardNotFound => "CARD_NOT_FOUND",
            Self::HolderMismatch => "CARD_HOLDER_MISMATCH",
            Self::OtherBank => "CARD_OF_OTHER_BANK",
            Self::State(error) => error.code(),
        }
    }

    /// What the teller tells the person, in Chinese. `in_person_reason` is
    /// the guide's answer to 是否需要本人办理？ ([`in_person_reason`]),
    /// quoted in the refusal of an agent; `card_bank` names the card's bank
    /// for [`CounterRefusal::OtherBank`].
    #[must_use]
    pub fn message(&self, in_person_reason: &str, card_bank: &str) -> String {
        match self {
            Self::AgentNotAllowed { presenter } => {
                let who = match presenter {
                    Presenter::Guardian => "持卡人已满16周岁，监护人不能代为办理；",
                    Presenter::Agent | Presenter::Holder => "",
                };
                format!(
                    "社会保障卡金融功能的激活须由持卡人本人办理，不能由他人代办。{who}{in_person_reason}请持卡人本人携带居民身份证原件到柜台办理。"
                )
            }
            Self::IdNotVerified => "激活金融功能须核验居民身份证原件：请用身份证阅读器读取或由柜员目视核验原件，并选择核验方式。".to_owned(),
            Self::GuardianshipNotVerified => "持卡人未满16周岁，由法定监护人办理时须核验监护关系（户口簿或监护关系证明）及监护人本人的居民身份证原件。".to_owned(),
            Self::BankSuspended => "本行与人力资源和社会保障局的合作已暂停，暂不能激活社会保障卡金融功能，请联系本行社会保障卡业务主管部门。".to_owned(),
            Self::CardNotFound => "未找到该卡号的本行社会保障卡，请核对卡号；其他合作银行的卡请持卡人到对应银行办理。".to_owned(),
            Self::HolderMismatch => "所填身份证号码与该卡持卡人不符：请核对卡号和持卡人的居民身份证，金融功能只能由持卡人本人激活。".to_owned(),
            Self::OtherBank => format!(
                "该卡的金融账户由其他合作银行（{card_bank}）开立，本行不能激活，请持卡人到{card_bank}的网点办理。"
            ),
            Self::State(error) => error.to_string(),
        }
    }
}

/// The legal reason the guide gives for activation in person: the answer to
/// [`IN_PERSON_FAQ_QUESTION`], or, if a guide version lacks that FAQ, the
/// rule of 人社部发〔2011〕83号 itself.
#[must_use]
pub fn in_person_reason(guide: &Guide) -> String {
    guide
        .faq
        .iter()
        .find(|faq| faq.question.trim() == IN_PERSON_FAQ_QUESTION)
        .map_or_else(
            || "根据人社部发〔2011〕83号规定，要求持卡人持个人身份证原件到柜台办理金融功能的激活手续。".to_owned(),
            |faq| faq.answer.trim().to_owned(),
        )
}

/// Decides a teller's attempt to activate a card's financial function.
///
/// In this order: an agent (or the holder absent, or a guardian of a holder
/// of 16 or more) is refused whatever the card; the ID card original must
/// have been verified; the teller's bank must cooperate now; the card must
/// exist and be the holder's (another bank's card with a wrong ID number is
/// answered as not found, so that card numbers of other banks cannot be
/// probed) and belong to the teller's bank; a guardian needs proof of
/// guardianship; an active account is answered as already active (nothing
/// changes); otherwise the financial state machine decides
/// ([`FinancialState::apply`]: the card in the holder's hands, not lost,
/// cancelled or expired, the account neither frozen nor closed).
///
/// # Errors
///
/// The first [`CounterRefusal`] that applies.
pub fn decide_counter_activation(
    attempt: &CounterAttempt,
    facts: &CounterFacts<'_>,
) -> Result<CounterDecision, CounterRefusal> {
    match attempt.presenter {
        Presenter::Agent => {
            return Err(CounterRefusal::AgentNotAllowed {
                presenter: Presenter::Agent,
            });
        }
        Presenter::Holder if !attempt.holder_present => {
            return Err(CounterRefusal::AgentNotAllowed {
                presenter: Presenter::Holder,
            });
        }
        Presenter::Holder | Presenter::Guardian => {}
    }
    if attempt.id_verified_by.is_none() {
        return Err(CounterRefusal::IdNotVerified);
    }
    if !facts.teller_bank_active {
        return Err(CounterRefusal::BankSuspended);
    }
    let card = facts.card.ok_or(CounterRefusal::CardNotFound)?;
    let same_bank = card.bank == facts.teller_bank;
    match (card.holder_matches, same_bank) {
        (false, false) => return Err(CounterRefusal::CardNotFound),
        (false, true) => return Err(CounterRefusal::HolderMismatch),
        (true, false) => return Err(CounterRefusal::OtherBank),
        (true, true) => {}
    }
    if attempt.presenter == Presenter::Guardian {
        if card.holder_age >= GUARDIAN_AGE_LIMIT {
            return Err(CounterRefusal::AgentNotAllowed {
                presenter: Presenter::Guardian,
            });
        }
        if !attempt.guardianship_verified {
            return Err(CounterRefusal::GuardianshipNotVerified);
        }
    }
    if card.financial == FinancialState::Active {
        return Ok(CounterDecision::AlreadyActive);
    }
    card.financial
        .apply(
            FinancialEvent::Activate,
            card.social,
            facts.today,
            card.expiry,
        )
        .map(|_| CounterDecision::Activate)
        .map_err(CounterRefusal::State)
}

// ---------------------------------------------------------------------------
// Return files: a bank's reason for not opening an account
// ---------------------------------------------------------------------------

/// A bank's reason code for a rejected record (拒绝原因代码): 2 to 40
/// upper-case letters, digits or underscores. The codes below are the
/// documented ones; a bank may send its own, which are kept as sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "AML_REVIEW_FAILED")]
pub struct RejectionCode(String);

/// The documented reason codes of a return file and their Chinese labels.
pub const KNOWN_REJECTIONS: [(&str, &str); 5] = [
    ("AML_REVIEW_FAILED", "反洗钱审查未通过"),
    ("REAL_NAME_CHECK_FAILED", "实名核查未通过"),
    ("DUPLICATE_ACCOUNT", "已有同类账户，重复开户"),
    ("INFO_INCOMPLETE", "开户资料不全或有误"),
    ("OTHER", "其他原因"),
];

impl RejectionCode {
    /// `None` unless 2 to 40 of `A-Z`, `0-9`, `_`.
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        let code = input.trim();
        ((2..=40).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
        .then(|| Self(code.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Chinese label of a documented code.
    #[must_use]
    pub fn label_zh(&self) -> Option<&'static str> {
        KNOWN_REJECTIONS
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, label)| *label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{CardState, TransitionRefusal};
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn bank(code: &str) -> BankCode {
        BankCode::parse(code).unwrap()
    }

    fn account(payload: &str) -> BankCardNumber {
        let digit = crate::identifiers::luhn_check_digit(payload).unwrap();
        BankCardNumber::parse(&format!("{payload}{digit}")).unwrap()
    }

    #[test]
    fn bins_parse_and_overlaps_are_refused() {
        let bins = parse_bins("621226, 622202；９５５８８").unwrap();
        assert_eq!(
            bins.iter().map(BinPrefix::as_str).collect::<Vec<_>>(),
            ["621226", "622202", "95588"]
        );
        assert_eq!(parse_bins("").unwrap_err(), BankValueError::BinsEmpty);
        assert_eq!(parse_bins("6212").unwrap_err().code(), "BIN_FORMAT");
        assert_eq!(parse_bins("62122A").unwrap_err().code(), "BIN_FORMAT");
        assert_eq!(
            parse_bins("621226,62122612").unwrap_err(),
            BankValueError::BinOverlapsOwn("621226".into(), "62122612".into())
        );
        assert_eq!(
            parse_bins("621226 621226").unwrap_err().code(),
            "BIN_DUPLICATE"
        );
        let many: Vec<String> = (0..51).map(|i| format!("6200{i:02}")).collect();
        assert_eq!(
            parse_bins(&many.join(",")).unwrap_err().code(),
            "BINS_TOO_MANY"
        );
    }

    #[test]
    fn a_bin_of_another_bank_is_refused_naming_it() {
        let icbc = bank("ICBC");
        let abc = bank("ABC");
        let abc_bin = BinPrefix::parse("622848").unwrap();
        let own_bin = BinPrefix::parse("621226").unwrap();
        let others = [(&abc, &abc_bin), (&icbc, &own_bin)];
        assert_eq!(
            check_bins(&icbc, std::slice::from_ref(&own_bin), others),
            Ok(())
        );
        let error = check_bins(&icbc, &[BinPrefix::parse("6228481").unwrap()], others).unwrap_err();
        assert_eq!(error.code(), "BIN_TAKEN");
        assert!(error.to_string().contains("ABC") && error.to_string().contains("622848"));
    }

    #[test]
    fn an_account_belongs_to_the_bank_of_its_bin() {
        let icbc = bank("ICBC");
        let ccb = bank("CCB");
        let icbc_bins = [
            BinPrefix::parse("621226").unwrap(),
            BinPrefix::parse("622202").unwrap(),
        ];
        let ccb_bins = [BinPrefix::parse("621700").unwrap()];
        let ours = account("621226123456789012");
        assert_eq!(check_account_bank(&ours, &icbc, &icbc_bins), Ok(()));
        let theirs = account("621700123456789012");
        let error = check_account_bank(&theirs, &icbc, &icbc_bins).unwrap_err();
        assert_eq!(error.code(), "ACCOUNT_BIN_MISMATCH");
        let message = error.to_string();
        assert!(
            message.contains("ICBC") && message.contains("621226、622202"),
            "{message}"
        );
        assert!(
            !message.contains("123456789012"),
            "the account is masked: {message}"
        );
        assert!(
            check_account_bank(&ours, &icbc, &[])
                .unwrap_err()
                .to_string()
                .contains("无")
        );
        let all: Vec<(&BankCode, &BinPrefix)> = icbc_bins
            .iter()
            .map(|b| (&icbc, b))
            .chain(ccb_bins.iter().map(|b| (&ccb, b)))
            .collect();
        assert_eq!(bank_of_account(&theirs, all.iter().copied()), Some(&ccb));
        assert_eq!(
            bank_of_account(&account("999999123456789012"), all.iter().copied()),
            None
        );
    }

    #[test]
    fn names_contacts_and_statuses() {
        assert_eq!(
            BankName::parse(" 中国工商银行 ").unwrap().as_str(),
            "中国工商银行"
        );
        assert_eq!(BankName::parse("").unwrap_err().code(), "BANK_NAME_INVALID");
        assert!(BankName::parse(&"银".repeat(61)).is_err());
        assert!(BankContact::parse("王经理", "0772-7212345").is_ok());
        assert_eq!(
            BankContact::parse("王\n经理", "").unwrap_err().code(),
            "BANK_CONTACT_INVALID"
        );
        for status in BankStatus::ALL {
            assert_eq!(BankStatus::parse(status.code()), Ok(status));
            assert_eq!(BankStatus::parse(status.label_zh()), Ok(status));
        }
        assert!(BankStatus::parse("closed").is_err());
        assert_eq!(
            RejectionCode::parse("AML_REVIEW_FAILED")
                .unwrap()
                .label_zh(),
            Some("反洗钱审查未通过")
        );
        assert_eq!(RejectionCode::parse("E1024").unwrap().label_zh(), None);
        assert!(RejectionCode::parse("aml").is_none());
        assert!(RejectionCode::parse("A").is_none());
    }

    // -- counter activation -------------------------------------------------

    fn today() -> NaiveDate {
        date(2026, 3, 2)
    }

    fn holder_attempt() -> CounterAttempt {
        CounterAttempt {
            presenter: Presenter::Holder,
            holder_present: true,
            id_verified_by: Some(IdVerification::CardReader),
            guardianship_verified: false,
        }
    }

    fn card<'a>(bank: &'a BankCode, financial: FinancialState) -> CounterCard<'a> {
        CounterCard {
            bank,
            holder_matches: true,
            holder_age: 40,
            social: SocialSecurityState::Normal,
            financial,
            expiry: date(2036, 1, 1),
        }
    }

    fn facts<'a>(teller: &'a BankCode, card: Option<CounterCard<'a>>) -> CounterFacts<'a> {
        CounterFacts {
            teller_bank: teller,
            teller_bank_active: true,
            card,
            today: today(),
        }
    }

    #[test]
    fn the_holder_in_person_activates_once_then_hears_already_active() {
        let icbc = bank("ICBC");
        let attempt = holder_attempt();
        assert_eq!(
            decide_counter_activation(
                &attempt,
                &facts(&icbc, Some(card(&icbc, FinancialState::NotActivated)))
            ),
            Ok(CounterDecision::Activate)
        );
        assert_eq!(
            decide_counter_activation(
                &attempt,
                &facts(&icbc, Some(card(&icbc, FinancialState::Active)))
            ),
            Ok(CounterDecision::AlreadyActive)
        );
        let visual = CounterAttempt {
            id_verified_by: Some(IdVerification::Visual),
            ..attempt
        };
        assert_eq!(
            decide_counter_activation(
                &visual,
                &facts(&icbc, Some(card(&icbc, FinancialState::NotActivated)))
            ),
            Ok(CounterDecision::Activate)
        );
    }

    #[test]
    fn an_agent_is_refused_with_the_faq_reason_whatever_the_card() {
        let icbc = bank("ICBC");
        let agent = CounterAttempt {
            presenter: Presenter::Agent,
            ..holder_attempt()
        };
        for card in [
            None,
            Some(card(&icbc, FinancialState::NotActivated)),
            Some(card(&icbc, FinancialState::Active)),
        ] {
            let refusal = decide_counter_activation(&agent, &facts(&icbc, card)).unwrap_err();
            assert_eq!(refusal.code(), AGENT_NOT_ALLOWED_FOR_BANK);
        }
        let absent = CounterAttempt {
            holder_present: false,
            ..holder_attempt()
        };
        let refusal = decide_counter_activation(&absent, &facts(&icbc, None)).unwrap_err();
        assert_eq!(refusal.code(), AGENT_NOT_ALLOWED_FOR_BANK);
        let reason = in_person_reason(&Guide::bundled());
        let message = refusal.message(&reason, "");
        assert!(message.contains("人社部发〔2011〕83号"), "{message}");
        assert!(
            message.contains("持卡人持个人身份证原件到柜台办理金融功能的激活手续"),
            "{message}"
        );
        assert!(message.contains("本人"), "{message}");
    }

    #[test]
    fn the_faq_reason_is_the_shipped_guides_answer() {
        let guide = Guide::bundled();
        let faq = guide
            .faq
            .iter()
            .find(|f| f.question == IN_PERSON_FAQ_QUESTION)
            .unwrap();
        assert_eq!(in_person_reason(&guide), faq.answer.trim());
        let mut without = guide;
        without.faq.clear();
        assert!(in_person_reason(&without).contains("83号"));
    }

    #[test]
    fn the_id_card_original_must_be_verified() {
        let icbc = bank("ICBC");
        let attempt = CounterAttempt {
            id_verified_by: None,
            ..holder_attempt()
        };
        let refusal = decide_counter_activation(
            &attempt,
            &facts(&icbc, Some(card(&icbc, FinancialState::NotActivated))),
        )
        .unwrap_err();
        assert_eq!(refusal.code(), "ID_NOT_VERIFIED");
        assert!(refusal.message("", "").contains("身份证原件"));
    }

    #[test]
    fn cards_of_other_banks_and_other_holders() {
        let icbc = bank("ICBC");
        let ccb = bank("CCB");
        let attempt = holder_attempt();
        let decide = |card| decide_counter_activation(&attempt, &facts(&icbc, card)).unwrap_err();
        assert_eq!(decide(None), CounterRefusal::CardNotFound);
        let other_bank = card(&ccb, FinancialState::NotActivated);
        let refusal = decide(Some(other_bank));
        assert_eq!(refusal.code(), "CARD_OF_OTHER_BANK");
        assert!(refusal.message("", "CCB").contains("CCB"));
        let wrong_holder = CounterCard {
            holder_matches: false,
            ..card(&icbc, FinancialState::NotActivated)
        };
        assert_eq!(decide(Some(wrong_holder)).code(), "CARD_HOLDER_MISMATCH");
        // Another bank's card and someone else's ID number: as if missing.
        let probe = CounterCard {
            holder_matches: false,
            ..other_bank
        };
        assert_eq!(decide(Some(probe)), CounterRefusal::CardNotFound);
        let suspended = CounterFacts {
            teller_bank_active: false,
            ..facts(&icbc, Some(card(&icbc, FinancialState::NotActivated)))
        };
        assert_eq!(
            decide_counter_activation(&attempt, &suspended)
                .unwrap_err()
                .code(),
            "BANK_SUSPENDED"
        );
    }

    #[test]
    fn lost_cancelled_expired_and_frozen_cards_are_refused() {
        use SocialSecurityState as S;
        let icbc = bank("ICBC");
        let attempt = holder_attempt();
        for (social, code) in [
            (S::TemporarilyLost, "CARD_REPORTED_LOST"),
            (S::FormallyLost, "CARD_REPORTED_LOST"),
            (S::Cancelled, "CARD_CANCELLED"),
            (S::InProduction, "CARD_NOT_YET_COLLECTED"),
            (S::AwaitingCollection, "CARD_NOT_YET_COLLECTED"),
        ] {
            let card = CounterCard {
                social,
                ..card(&icbc, FinancialState::NotActivated)
            };
            let refusal =
                decide_counter_activation(&attempt, &facts(&icbc, Some(card))).unwrap_err();
            assert_eq!(refusal.code(), code, "{social:?}");
            assert!(
                matches!(refusal, CounterRefusal::State(TransitionError { current: CardState::Social(s), .. }) if s == social)
            );
            assert!(refusal.message("", "").contains(social.label_zh()));
        }
        let expired = CounterCard {
            expiry: date(2026, 3, 1),
            ..card(&icbc, FinancialState::NotActivated)
        };
        let refusal =
            decide_counter_activation(&attempt, &facts(&icbc, Some(expired))).unwrap_err();
        assert!(matches!(
            refusal,
            CounterRefusal::State(TransitionError {
                reason: TransitionRefusal::CardExpired,
                ..
            })
        ));
        for (financial, code) in [
            (FinancialState::Frozen, "FINANCIAL_FROZEN"),
            (FinancialState::Closed, "FINANCIAL_CLOSED"),
        ] {
            let refusal =
                decide_counter_activation(&attempt, &facts(&icbc, Some(card(&icbc, financial))))
                    .unwrap_err();
            assert_eq!(refusal.code(), code);
        }
    }

    #[test]
    fn a_guardian_acts_for_a_holder_under_16_only_with_proof() {
        let icbc = bank("ICBC");
        let guardian = CounterAttempt {
            presenter: Presenter::Guardian,
            holder_present: false,
            id_verified_by: Some(IdVerification::CardReader),
            guardianship_verified: true,
        };
        let minor = CounterCard {
            holder_age: 15,
            ..card(&icbc, FinancialState::NotActivated)
        };
        assert_eq!(
            decide_counter_activation(&guardian, &facts(&icbc, Some(minor))),
            Ok(CounterDecision::Activate)
        );
        let no_proof = CounterAttempt {
            guardianship_verified: false,
            ..guardian
        };
        assert_eq!(
            decide_counter_activation(&no_proof, &facts(&icbc, Some(minor)))
                .unwrap_err()
                .code(),
            "GUARDIANSHIP_NOT_VERIFIED"
        );
        let adult = CounterCard {
            holder_age: 16,
            ..minor
        };
        let refusal = decide_counter_activation(&guardian, &facts(&icbc, Some(adult))).unwrap_err();
        assert_eq!(refusal.code(), AGENT_NOT_ALLOWED_FOR_BANK);
        assert!(refusal.message("（理由）", "").contains("已满16周岁"));
    }

    fn any_attempt() -> impl Strategy<Value = CounterAttempt> {
        (
            proptest::sample::select(Presenter::ALL.to_vec()),
            any::<bool>(),
            proptest::option::of(proptest::sample::select(IdVerification::ALL.to_vec())),
            any::<bool>(),
        )
            .prop_map(
                |(presenter, holder_present, id_verified_by, guardianship_verified)| {
                    CounterAttempt {
                        presenter,
                        holder_present,
                        id_verified_by,
                        guardianship_verified,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the attempt and the card: an activation happens only for
        /// the holder in person (or a proven guardian of a holder under 16)
        /// with a verified ID card, at the card's own cooperating bank, on a
        /// not-activated account the state machine lets activate; an agent
        /// is always refused with AGENT_NOT_ALLOWED_FOR_BANK; "already
        /// active" comes only under the same conditions on an active account.
        #[test]
        fn activation_happens_only_when_every_rule_holds(
            attempt in any_attempt(),
            card_exists in any::<bool>(),
            card_is_teller_bank in any::<bool>(),
            teller_bank_active in any::<bool>(),
            holder_matches in any::<bool>(),
            holder_age in 0u32..100,
            social in proptest::sample::select(SocialSecurityState::ALL.to_vec()),
            financial in proptest::sample::select(FinancialState::ALL.to_vec()),
            expiry_offset in -30i64..30,
        ) {
            let icbc = bank("ICBC");
            let ccb = bank("CCB");
            let expiry = today() + chrono::Duration::days(expiry_offset);
            let card = card_exists.then_some(CounterCard {
                bank: if card_is_teller_bank { &icbc } else { &ccb },
                holder_matches,
                holder_age,
                social,
                financial,
                expiry,
            });
            let facts = CounterFacts { teller_bank: &icbc, teller_bank_active, card, today: today() };
            let decision = decide_counter_activation(&attempt, &facts);
            let person_allowed = match attempt.presenter {
                Presenter::Holder => attempt.holder_present,
                Presenter::Agent => false,
                Presenter::Guardian => holder_age < GUARDIAN_AGE_LIMIT && attempt.guardianship_verified,
            };
            let all_else = person_allowed
                && attempt.id_verified_by.is_some()
                && teller_bank_active
                && card_exists
                && card_is_teller_bank
                && holder_matches;
            match decision {
                Ok(CounterDecision::Activate) => {
                    prop_assert!(all_else);
                    prop_assert_eq!(financial, FinancialState::NotActivated);
                    prop_assert_eq!(
                        financial.apply(FinancialEvent::Activate, social, today(), expiry),
                        Ok(FinancialState::Active)
                    );
                }
                Ok(CounterDecision::AlreadyActive) => {
                    prop_assert!(all_else);
                    prop_assert_eq!(financial, FinancialState::Active);
                }
                Err(refusal) => {
                    if all_else {
                        prop_assert!(matches!(refusal, CounterRefusal::State(_)));
                        prop_assert!(financial != FinancialState::Active);
                    }
                    let message = refusal.message("理由", "CCB");
                    let chinese = message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
                    prop_assert!(chinese, "a Chinese message: {}", message);
                }
            }
            if attempt.presenter == Presenter::Agent {
                prop_assert_eq!(decision.unwrap_err().code(), AGENT_NOT_ALLOWED_FOR_BANK);
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = BinPrefix::parse(&s);
            let _ = parse_bins(&s);
            let _ = BankName::parse(&s);
            let _ = BankStatus::parse(&s);
            let _ = RejectionCode::parse(&s);
        }
    }
}
