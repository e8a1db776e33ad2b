//! 单位批量启用 — an employer activates the social-security function of its
//! employees' cards in bulk: the pure rules.
//!
//! A batch is a case of the same item and runs through the same three steps
//! (受理 → 经办 → 反馈, [`crate::case::CaseState`]): the 受理岗 checks the
//! sealed authorization letter (the guide's fifth material,
//! [`BATCH_MATERIAL`]) with [`batch_acceptance_check`]; 经办 applies
//! [`decide_row`] to every row of the electronic list — the same acceptance
//! condition and processing decision as an individual case
//! ([`crate::case::acceptance_condition`], [`crate::case::processing_decision`])
//! plus the employer's own condition that the person is its employee; 反馈
//! delivers the per-row result.
//!
//! What a spreadsheet row may ask for and this module tells apart:
//! - the social-security function: activated per row when every rule holds;
//! - the financial (bank) function: never by an employer. The holder must
//!   go to the bank in person with the ID card original (the guide's FAQ,
//!   人社部发〔2011〕83号); a row asking for it gets
//!   [`BANK_NOT_BATCHABLE`] as a notice ([`asks_for_bank`]).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::case::{
    CaseAction, Circumstances, MaterialStatus, OneTimeNotice, ProcessingDecision, acceptance_check,
    acceptance_condition, processing_decision,
};
use crate::guide::Guide;
use crate::registry::{Enrolment, SocialSecurityState};

/// The guide's material of a batch: 单位批量激活社会保障卡社保功能授权委托材料
/// (sealed) and its electronic version.
pub const BATCH_MATERIAL: &str = "employer_authorization";

/// The notice of a row asking for the bank function. The code is the one
/// the product uses wherever someone other than the holder asks for it.
pub const BANK_NOT_BATCHABLE: &str = "AGENT_NOT_ALLOWED_FOR_BANK";

/// What [`BANK_NOT_BATCHABLE`] tells the employer.
pub const BANK_NOT_BATCHABLE_MESSAGE: &str = "金融功能（银行账户）不能由单位批量激活：根据《人力资源社会保障部、中国人民银行关于社会保障卡加载金融功能的通知》（人社部发〔2011〕83号），须由持卡人本人持身份证原件到合作银行柜台办理金融功能的激活手续。本次只办理社保功能的启用。";

// ---------------------------------------------------------------------------
// Acceptance (受理)
// ---------------------------------------------------------------------------

/// The materials check of a batch at 受理: the sealed authorization letter
/// must be submitted and acceptable (`letter`). The per-person materials of
/// an individual case are covered otherwise: the sealed letter is the
/// employer's application (盖章, in place of each person's signed form), and
/// each row's card is verified against the card registry when the row is
/// processed (the guide's waiver of the own card by the basic certificate
/// check). So the guide's own [`acceptance_check`] is asked, with those two
/// recorded as such.
///
/// # Errors
///
/// A [`OneTimeNotice`] naming the letter when it is missing or defective.
/// 不予受理 of a batch: the usual reason codes with their Chinese labels,
/// offered to the 受理岗 as suggestions (any UPPER_SNAKE code with a reason
/// is accepted). A letter that can be corrected gets a one-time notice
/// instead.
pub const BATCH_REFUSAL_SUGGESTIONS: [(&str, &str); 4] = [
    ("NOT_AUTHORIZED", "授权委托书的单位与账号绑定的单位不一致"),
    (
        "AUTHORIZATION_NOT_SEALED",
        "授权委托书未加盖单位公章且无负责人签字",
    ),
    ("SUPPLEMENT_OVERDUE", "一次性告知后逾期未补正"),
    ("NOT_IN_SCOPE", "不属于本事项办理范围"),
];

pub fn batch_acceptance_check(guide: &Guide, letter: &MaterialStatus) -> Result<(), OneTimeNotice> {
    let mut statuses = BTreeMap::new();
    statuses.insert("application_form".to_owned(), MaterialStatus::Submitted);
    statuses.insert(
        "own_card".to_owned(),
        MaterialStatus::VerifiedByECertificate,
    );
    statuses.insert(BATCH_MATERIAL.to_owned(), letter.clone());
    acceptance_check(guide, batch_circumstances(), &statuses)
}

/// The circumstances of a batch: an employer batch, no agent.
#[must_use]
pub fn batch_circumstances() -> Circumstances {
    Circumstances {
        has_agent: false,
        is_employer_batch: true,
    }
}

// ---------------------------------------------------------------------------
// Row outcomes
// ---------------------------------------------------------------------------

/// `ACTIVATED`: the row's card was activated.
pub const ACTIVATED: &str = "ACTIVATED";
/// `ALREADY_ACTIVE`: the card was already 正常; nothing was done twice.
pub const ALREADY_ACTIVE: &str = "ALREADY_ACTIVE";
/// `DUPLICATE_ROW`: the person appears on an earlier row of the list.
pub const DUPLICATE_ROW: &str = "DUPLICATE_ROW";
/// `PERSON_NOT_FOUND`: no insured person with that ID number.
pub const PERSON_NOT_FOUND: &str = "PERSON_NOT_FOUND";
/// `NAME_MISMATCH`: the listed name is not the registered one.
pub const NAME_MISMATCH: &str = "NAME_MISMATCH";
/// `NOT_EMPLOYEE_OF_EMPLOYER`: the person is not this employer's employee.
pub const NOT_EMPLOYEE: &str = "NOT_EMPLOYEE_OF_EMPLOYER";
/// `CARD_NOT_FOUND`: no card with that number.
pub const CARD_NOT_FOUND: &str = "CARD_NOT_FOUND";

/// The result of one row of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowOutcome {
    /// 成功: the social-security function was activated now.
    Activated,
    /// 成功: it was already active (正常); nothing was activated twice.
    AlreadyActive,
    /// 失败, with a stable code and the reason in Chinese.
    Failed(RowFailure),
}

/// Why a row was not activated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowFailure {
    /// A stable upper-snake code, e.g. `CARD_REPORTED_LOST`.
    pub code: String,
    /// The reason and what to do, in Chinese; never repeats an identifier.
    pub reason: String,
}

impl RowFailure {
    #[must_use]
    pub fn new(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            reason: reason.into(),
        }
    }

    /// A person listed twice: only the first row (`first_line`) counts.
    #[must_use]
    pub fn duplicate(first_line: u64) -> Self {
        Self::new(
            DUPLICATE_ROW,
            format!(
                "与第 {first_line} 行是同一人，重复的行不再办理，结果以第 {first_line} 行为准。"
            ),
        )
    }
}

impl RowOutcome {
    /// `ACTIVATED`, `ALREADY_ACTIVE` or the failure's code.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Activated => ACTIVATED,
            Self::AlreadyActive => ALREADY_ACTIVE,
            Self::Failed(failure) => &failure.code,
        }
    }

    /// 成功 (activated now or already active) or 失败.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }

    /// The reason, in Chinese, as the report shows it.
    #[must_use]
    pub fn reason_zh(&self) -> &str {
        match self {
            Self::Activated => "已启用社会保障卡社保功能。",
            Self::AlreadyActive => "该卡社保功能此前已启用（状态正常），本次未重复启用。",
            Self::Failed(failure) => &failure.reason,
        }
    }
}

/// What the registry holds about the person of a row.
#[derive(Clone, Copy, Debug)]
pub struct PersonFacts<'a> {
    /// The registered name, exactly as stored.
    pub name: &'a str,
    pub enrolment: Option<&'a Enrolment>,
    /// The unified social credit code of the person's employer on record.
    pub employer_uscc: Option<&'a str>,
}

/// What the registry holds about the card of a row.
#[derive(Clone, Copy, Debug)]
pub struct CardFacts {
    pub social_state: SocialSecurityState,
    pub expiry: NaiveDate,
    /// The card is registered to the row's person.
    pub belongs_to_person: bool,
}

/// 经办 of one row, in this order: the person exists (by the listed ID
/// number), the listed name is the registered one ([`names_match`]), the
/// acceptance condition (enrolled in Liuzhou), the person is this employer's
/// employee, the card exists, and then the individual case's processing
/// decision for the card (another person's card, cancelled, lost, not yet
/// collected, expired; already active; else activate).
#[must_use]
pub fn decide_row(
    listed_name: &str,
    person: Option<PersonFacts<'_>>,
    employer_uscc: &str,
    card: Option<CardFacts>,
    today: NaiveDate,
) -> RowOutcome {
    let Some(person) = person else {
        return RowOutcome::Failed(RowFailure::new(
            PERSON_NOT_FOUND,
            "未找到该社会保障号码的参保人员。请核对身份证号码；未在柳州市参保的职工请先办理参保。",
        ));
    };
    if !names_match(listed_name, person.name) {
        return RowOutcome::Failed(RowFailure::new(
            NAME_MISMATCH,
            "姓名与社会保障号码登记的姓名不一致。请核对姓名（须与身份证上的姓名完全一致）。",
        ));
    }
    if let Err(error) = acceptance_condition(person.enrolment) {
        return RowOutcome::Failed(RowFailure::new(
            error.code(),
            "该职工未参加柳州市社会保险（或参保关系已终止），不符合办理条件。请先在柳州市参保。",
        ));
    }
    if person.employer_uscc.map(str::trim) != Some(employer_uscc.trim()) {
        return RowOutcome::Failed(RowFailure::new(
            NOT_EMPLOYEE,
            "参保信息显示该人员不是本单位职工，单位不能为其批量启用。请核对名单；确属本单位职工的，请先办理参保单位变更，或由本人申请启用。",
        ));
    }
    let Some(card) = card else {
        return RowOutcome::Failed(RowFailure::new(
            CARD_NOT_FOUND,
            "未找到该卡号的社会保障卡。请核对卡面上的 9 位卡号。",
        ));
    };
    match processing_decision(
        card.social_state,
        card.expiry,
        today,
        card.belongs_to_person,
    ) {
        ProcessingDecision::Activate => RowOutcome::Activated,
        ProcessingDecision::AlreadyActive => RowOutcome::AlreadyActive,
        ProcessingDecision::Deny(reason) => RowOutcome::Failed(RowFailure::new(
            reason.code(),
            reason.message_zh().replace("申请人", "该职工"),
        )),
    }
}

/// The 经办 decision of a whole batch, once every row is done: 准予启用 when
/// at least one card was activated, 此前已启用 when every successful row was
/// already active, 不予通过 when no row succeeded.
#[must_use]
pub fn batch_decision(activated: u64, already_active: u64) -> CaseAction {
    if activated > 0 {
        CaseAction::Approve
    } else if already_active > 0 {
        CaseAction::ConfirmAlreadyActive
    } else {
        CaseAction::Deny {
            code: "BATCH_NO_ROW_ACTIVATED".to_owned(),
            reason: "名单中没有符合启用条件的行，未启用任何社会保障卡。每一行的原因见结果清单。"
                .to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------
// Reading what people type into spreadsheets
// ---------------------------------------------------------------------------

/// Whether a listed name is the registered one: equal once white space
/// (including the full-width space) is removed, full-width letters are
/// half-width and the middle dots of minority names (`·`, `•`, `・`, `‧`,
/// `.`, `．`) are one dot. Nothing else is folded: 张 and 章 differ.
#[must_use]
pub fn names_match(listed: &str, registered: &str) -> bool {
    fold_name(listed) == fold_name(registered) && !fold_name(listed).is_empty()
}

fn fold_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200B}' | '\u{FEFF}'))
        .map(|c| match c {
            // ·, •, ・ (U+30FB), ‧ (U+2027), ., ．, ･ (U+FF65)
            '\u{00B7}' | '\u{2022}' | '\u{30FB}' | '\u{2027}' | '.' | '\u{FF0E}' | '\u{FF65}' => {
                '·'
            }
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// An identifier cell as typed: every white space (also inside, as in
/// `4502 2119 …`, and the full-width space) and invisible character
/// removed, full-width letters and digits half-width, upper-case. The
/// identifier's own `parse` then checks it.
#[must_use]
pub fn clean_identifier(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200B}' | '\u{FEFF}'))
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Answers that mean "no" in a yes/no column.
const NO_WORDS: &[&str] = &[
    "否",
    "不",
    "不需要",
    "不用",
    "不要",
    "无",
    "没有",
    "不激活",
    "不开通",
    "不办理",
    "暂不",
    "n",
    "no",
    "false",
    "0",
    "×",
    "✗",
    "✘",
    "-",
    "—",
    "/",
    "／",
];

/// Whether a cell of a bank column (金融功能, 银行激活 …) asks for the bank
/// function: any mark but a blank or a "no" (否, 不需要, N, 0, ×, -).
/// Unclear marks count as asking, so the employer is told rather than
/// silently ignored.
#[must_use]
pub fn asks_for_bank(cell: &str) -> bool {
    let text: String = clean_identifier(cell).to_lowercase();
    !text.is_empty() && !NO_WORDS.contains(&text.as_str())
}

/// Whether a cell of a "what to do" column (办理业务, 业务类型 …) names the
/// bank function (金融, 银行): `社保功能+金融功能`, `银行卡激活`.
#[must_use]
pub fn service_mentions_bank(cell: &str) -> bool {
    (cell.contains("金融") || cell.contains("银行"))
        && !NO_WORDS
            .iter()
            .any(|no| no.chars().count() > 1 && cell.contains(no))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::{IdNumber, id_check_char};
    use crate::registry::{EnrolmentStatus, RegionCode};
    use proptest::prelude::*;

    const EMPLOYER: &str = "91450221MA5N0A1B2X";

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn enrolment(region: &str, status: EnrolmentStatus) -> Enrolment {
        Enrolment {
            region_code: RegionCode::parse(region).unwrap(),
            status,
            since: day(2015, 7, 1),
        }
    }

    fn card(state: SocialSecurityState, belongs: bool) -> CardFacts {
        CardFacts {
            social_state: state,
            expiry: day(2034, 3, 14),
            belongs_to_person: belongs,
        }
    }

    #[test]
    fn every_rule_in_order() {
        let today = day(2026, 11, 27);
        let liuzhou = enrolment("450206", EnrolmentStatus::Contributing);
        let person = PersonFacts {
            name: "王𠈌",
            enrolment: Some(&liuzhou),
            employer_uscc: Some(EMPLOYER),
        };
        let collected = Some(card(SocialSecurityState::Collected, true));
        assert_eq!(
            decide_row("王𠈌", Some(person), EMPLOYER, collected, today),
            RowOutcome::Activated
        );
        assert_eq!(
            decide_row(" 王 𠈌 ", Some(person), EMPLOYER, collected, today),
            RowOutcome::Activated
        );
        let code = |outcome: RowOutcome| outcome.code().to_owned();
        assert_eq!(
            code(decide_row("王𠈌", None, EMPLOYER, collected, today)),
            PERSON_NOT_FOUND
        );
        assert_eq!(
            code(decide_row("王明", Some(person), EMPLOYER, collected, today)),
            NAME_MISMATCH
        );
        let elsewhere = enrolment("450102", EnrolmentStatus::Contributing);
        let terminated = enrolment("450206", EnrolmentStatus::Terminated);
        for enrolment in [Some(&elsewhere), Some(&terminated), None] {
            let p = PersonFacts {
                enrolment,
                ..person
            };
            assert_eq!(
                code(decide_row("王𠈌", Some(p), EMPLOYER, collected, today)),
                "NOT_INSURED_IN_LIUZHOU"
            );
        }
        let other_employer = PersonFacts {
            employer_uscc: Some("91450200000000000X"),
            ..person
        };
        let unemployed = PersonFacts {
            employer_uscc: None,
            ..person
        };
        for p in [other_employer, unemployed] {
            assert_eq!(
                code(decide_row("王𠈌", Some(p), EMPLOYER, collected, today)),
                NOT_EMPLOYEE
            );
        }
        assert_eq!(
            code(decide_row("王𠈌", Some(person), EMPLOYER, None, today)),
            CARD_NOT_FOUND
        );
        let others = Some(card(SocialSecurityState::Collected, false));
        assert_eq!(
            code(decide_row("王𠈌", Some(person), EMPLOYER, others, today)),
            "CARD_NOT_APPLICANTS"
        );
        for (state, expected) in [
            (SocialSecurityState::InProduction, "CARD_NOT_YET_COLLECTED"),
            (
                SocialSecurityState::AwaitingCollection,
                "CARD_NOT_YET_COLLECTED",
            ),
            (SocialSecurityState::TemporarilyLost, "CARD_REPORTED_LOST"),
            (SocialSecurityState::FormallyLost, "CARD_REPORTED_LOST"),
            (SocialSecurityState::Cancelled, "CARD_CANCELLED"),
            (SocialSecurityState::Normal, ALREADY_ACTIVE),
        ] {
            let outcome = decide_row(
                "王𠈌",
                Some(person),
                EMPLOYER,
                Some(card(state, true)),
                today,
            );
            assert_eq!(outcome.code(), expected, "{state:?}");
            assert!(!outcome.reason_zh().is_empty());
        }
        let expired = Some(CardFacts {
            expiry: day(2026, 11, 26),
            ..card(SocialSecurityState::Collected, true)
        });
        assert_eq!(
            code(decide_row("王𠈌", Some(person), EMPLOYER, expired, today)),
            "CARD_EXPIRED"
        );
    }

    #[test]
    fn denial_reasons_speak_of_the_employee() {
        let today = day(2026, 11, 27);
        let liuzhou = enrolment("450206", EnrolmentStatus::Contributing);
        let person = PersonFacts {
            name: "张三",
            enrolment: Some(&liuzhou),
            employer_uscc: Some(EMPLOYER),
        };
        let outcome = decide_row(
            "张三",
            Some(person),
            EMPLOYER,
            Some(card(SocialSecurityState::Collected, false)),
            today,
        );
        assert!(outcome.reason_zh().contains("该职工"), "{outcome:?}");
        assert!(!outcome.succeeded());
    }

    #[test]
    fn the_batch_decision_follows_the_rows() {
        assert_eq!(batch_decision(3, 1), CaseAction::Approve);
        assert_eq!(batch_decision(0, 2), CaseAction::ConfirmAlreadyActive);
        assert!(matches!(batch_decision(0, 0), CaseAction::Deny { .. }));
    }

    #[test]
    fn bank_marks_are_read_as_people_write_them() {
        for yes in [
            "是",
            "√",
            "Y",
            "yes",
            "需要",
            "激活",
            "1",
            "✓",
            "同时激活",
            " 是 ",
        ] {
            assert!(asks_for_bank(yes), "{yes}");
        }
        for no in [
            "",
            "  ",
            "否",
            "N",
            "no",
            "不需要",
            "0",
            "×",
            "-",
            "／",
            "无",
        ] {
            assert!(!asks_for_bank(no), "{no}");
        }
        assert!(service_mentions_bank("社保功能+金融功能"));
        assert!(service_mentions_bank("银行卡激活"));
        assert!(!service_mentions_bank("社保功能启用"));
        assert!(!service_mentions_bank("不激活金融功能"));
    }

    #[test]
    fn names_fold_spaces_and_dots_only() {
        assert!(names_match("阿依古丽·买买提", "阿依古丽•买买提"));
        assert!(names_match("阿依古丽．买买提", "阿依古丽·买买提"));
        assert!(names_match("张　三", "张三"));
        assert!(!names_match("张三", "章三"));
        assert!(!names_match("", ""));
    }

    #[test]
    fn identifiers_lose_inner_spaces_and_full_width() {
        assert_eq!(clean_identifier(" ４５０２ ２１\u{3000}x "), "450221X");
        assert_eq!(clean_identifier("a1234\u{200B}5678"), "A12345678");
    }

    fn id_from(first17: &str) -> String {
        format!("{first17}{}", id_check_char(first17).unwrap())
    }

    proptest! {
        /// However an ID number is typed — spaces anywhere, full-width
        /// digits, a lower-case x — it reads back as itself.
        #[test]
        fn a_typed_id_number_reads_back(
            seq in 0u32..1000,
            day_of_month in 1u32..=28,
            spaces in proptest::collection::vec(0usize..19, 0..4),
            full_width in any::<bool>(),
        ) {
            let id = id_from(&format!("45022119900{}{:02}{seq:03}", 1, day_of_month));
            let mut typed: Vec<char> = id.chars().map(|c| {
                if full_width && c.is_ascii_digit() {
                    char::from_u32(u32::from(c) + 0xFEE0).unwrap()
                } else if c == 'X' { 'x' } else { c }
            }).collect();
            for at in spaces {
                typed.insert(at.min(typed.len()), if at % 2 == 0 { ' ' } else { '\u{3000}' });
            }
            let typed: String = typed.into_iter().collect();
            let parsed = IdNumber::parse(&clean_identifier(&typed)).unwrap();
            prop_assert_eq!(parsed.as_str(), id.as_str());
        }

        /// A row is activated only when every condition holds; any single
        /// broken condition fails it, and nothing but a collected card of
        /// the person's own, unexpired, is activated.
        #[test]
        fn activation_needs_every_condition(
            exists in any::<bool>(),
            same_name in any::<bool>(),
            insured in any::<bool>(),
            employee in any::<bool>(),
            card_known in any::<bool>(),
            own in any::<bool>(),
            state in proptest::sample::select(SocialSecurityState::ALL.to_vec()),
            expired in any::<bool>(),
        ) {
            let today = day(2026, 11, 27);
            let liuzhou = enrolment(if insured { "450206" } else { "450102" }, EnrolmentStatus::Contributing);
            let person = PersonFacts {
                name: "李四",
                enrolment: Some(&liuzhou),
                employer_uscc: Some(if employee { EMPLOYER } else { "91450200000000000X" }),
            };
            let card = CardFacts {
                social_state: state,
                expiry: if expired { day(2026, 1, 1) } else { day(2034, 1, 1) },
                belongs_to_person: own,
            };
            let outcome = decide_row(
                if same_name { "李四" } else { "李斯" },
                exists.then_some(person),
                EMPLOYER,
                card_known.then_some(card),
                today,
            );
            let all = exists && same_name && insured && employee && card_known && own && !expired;
            prop_assert_eq!(
                outcome == RowOutcome::Activated,
                all && state == SocialSecurityState::Collected
            );
            prop_assert_eq!(
                outcome == RowOutcome::AlreadyActive,
                all && state == SocialSecurityState::Normal
            );
            if let RowOutcome::Failed(failure) = &outcome {
                prop_assert!(!failure.reason.is_empty());
                prop_assert!(failure.code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
            }
        }

        /// A blank cell never asks for the bank function, whatever white
        /// space it holds; a "no" never does either.
        #[test]
        fn blank_and_no_never_ask_for_the_bank(
            padding in "[ \u{3000}\t]{0,4}",
            no in proptest::sample::select(NO_WORDS.to_vec()),
        ) {
            prop_assert!(!asks_for_bank(&padding));
            let no_cell = format!("{padding}{no}{padding}");
            prop_assert!(!asks_for_bank(&no_cell));
        }
    }
}
