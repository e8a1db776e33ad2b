//! A cards import file (社会保障卡): one row → one [`CardLine`].

use chrono::NaiveDate;
use sscard_domain::identifiers::{BankCardNumber, CardIdentificationCode, CardNumber, IdNumber};
use sscard_domain::registry::{
    BankCode, FinancialState, RegionCode, SocialSecurityState, SpecVersion, check_initial_states,
};

use super::{
    Column, HeaderMap, Patch, Row, RowCheck, RowError, normalize_cell, strip_text_markers,
};

/// The columns of a cards file; `docs/import.md` documents them.
pub const COLUMNS: &[Column] = &[
    Column {
        field: "card_number",
        label: "社会保障卡卡号",
        aliases: &["卡号", "社保卡卡号", "社保卡号", "社会保障卡号"],
        required: true,
    },
    Column {
        field: "card_identification_code",
        label: "卡识别码",
        aliases: &["卡片识别码", "识别码"],
        required: true,
    },
    Column {
        field: "id_number",
        label: "社会保障号码",
        aliases: &[
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "证件号码",
            "持卡人社会保障号码",
        ],
        required: true,
    },
    Column {
        field: "issuing_area_code",
        label: "发卡地区划代码",
        aliases: &["发卡地行政区划代码", "发卡地区代码", "发卡地", "发卡地区划"],
        required: true,
    },
    Column {
        field: "spec_version",
        label: "规范版本",
        aliases: &["卡规范版本", "版本"],
        required: true,
    },
    Column {
        field: "issue_date",
        label: "发卡日期",
        aliases: &["发卡时间"],
        required: true,
    },
    Column {
        field: "expiry_date",
        label: "有效期",
        aliases: &["有效期至", "有效期限", "卡有效期", "失效日期"],
        required: true,
    },
    Column {
        field: "bank_code",
        label: "合作银行代码",
        aliases: &["银行代码", "开户银行代码"],
        required: true,
    },
    Column {
        field: "bank_account",
        label: "银行账号",
        aliases: &["金融账号", "银行卡号", "金融账户"],
        required: false,
    },
    Column {
        field: "social_state",
        label: "社保应用状态",
        aliases: &["社保状态", "卡状态", "社保功能状态"],
        required: true,
    },
    Column {
        field: "financial_state",
        label: "金融应用状态",
        aliases: &["金融状态", "银行账户状态", "金融功能状态"],
        required: true,
    },
];

/// One valid row of a cards file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardLine {
    pub row: u64,
    pub card_number: CardNumber,
    pub card_identification_code: CardIdentificationCode,
    /// The holder, who must already be in the register.
    pub holder: IdNumber,
    pub issuing_area_code: RegionCode,
    pub spec_version: SpecVersion,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub bank_code: BankCode,
    pub bank_account: Patch<BankCardNumber>,
    pub social_state: SocialSecurityState,
    pub financial_state: FinancialState,
}

/// The social-security states, with the names other systems use for them.
fn social_state(text: &str) -> Option<SocialSecurityState> {
    use SocialSecurityState as S;
    if let Ok(state) = S::parse(text) {
        return Some(state);
    }
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '（' | '）' | ' '))
        .collect();
    match compact.as_str() {
        "制卡" | "制卡中心制卡" => Some(S::InProduction),
        "制卡完成待领卡" | "制卡完成" | "待领取" | "待发放" => {
            Some(S::AwaitingCollection)
        }
        "已领卡" | "已领卡未启用" | "未启用" | "已发放未启用" => {
            Some(S::Collected)
        }
        "已启用" | "启用" | "正常使用" => Some(S::Normal),
        "临时挂失中" | "口头挂失" => Some(S::TemporarilyLost),
        "挂失" | "正式挂失中" | "书面挂失" => Some(S::FormallyLost),
        "已注销" | "注销卡" => Some(S::Cancelled),
        _ => None,
    }
}

/// The financial states, with common other names.
fn financial_state(text: &str) -> Option<FinancialState> {
    use FinancialState as F;
    if let Ok(state) = F::parse(text) {
        return Some(state);
    }
    match text {
        "未开通" | "待激活" | "未激活金融功能" => Some(F::NotActivated),
        "激活" | "已开通" | "正常" => Some(F::Active),
        "已冻结" => Some(F::Frozen),
        "已销户" | "注销" => Some(F::Closed),
        _ => None,
    }
}

/// `3` and `3.0` as Excel writes `3.00` once it has taken it for a number.
fn spec_version_text(text: &str) -> String {
    match text.split_once('.') {
        None if !text.is_empty() && text.len() <= 2 && text.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{text}.00")
        }
        Some((major, minor))
            if minor.len() == 1
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit()) =>
        {
            format!("{major}.{minor}0")
        }
        _ => text.to_owned(),
    }
}

/// Parses and checks one row of a cards file.
///
/// # Errors
///
/// Every problem of the row, each naming its column.
pub fn parse_row(map: &HeaderMap, row: &Row, today: NaiveDate) -> Result<CardLine, Vec<RowError>> {
    let mut check = RowCheck::new(map, row);

    let card_number = check.required("card_number").and_then(|(cell, header)| {
        check.identifier(cell, &header, CardNumber::parse, |e| {
            (e.code(), e.to_string())
        })
    });
    let code = check
        .required("card_identification_code")
        .and_then(|(cell, header)| {
            check.identifier(cell, &header, CardIdentificationCode::parse, |e| {
                (e.code(), e.to_string())
            })
        });
    let id_number = check.required("id_number").and_then(|(cell, header)| {
        check.identifier(
            cell,
            &header,
            |text| IdNumber::parse_at(text, today),
            |e| (e.code(), e.to_string()),
        )
    });
    let area =
        check
            .required("issuing_area_code")
            .and_then(|(cell, header)| {
                match RegionCode::parse(&strip_text_markers(&normalize_cell(&cell.text))) {
                    Ok(area) => Some(area),
                    Err(e) => {
                        check.error(&header, e.code(), format!("“{header}”：{e}"));
                        None
                    }
                }
            });
    let version = check.required("spec_version").and_then(|(cell, header)| {
        let text = spec_version_text(&strip_text_markers(&normalize_cell(&cell.text)));
        match SpecVersion::parse(&text) {
            Ok(version) => Some(version),
            Err(e) => {
                check.error(&header, e.code(), format!("“{header}”：{e}"));
                None
            }
        }
    });
    let issue_date = check.required("issue_date").and_then(|(cell, header)| {
        let date = check.date(cell, &header)?;
        if date > today {
            check.error(
                &header,
                "CARD_ISSUE_DATE_IN_FUTURE",
                format!("“{header}”晚于今天，请核对后重新填写。"),
            );
            return None;
        }
        Some(date)
    });
    let expiry_date = check.required("expiry_date").and_then(|(cell, header)| {
        let date = check.date(cell, &header)?;
        if let Some(issued) = issue_date
            && date <= issued
        {
            check.error(
                &header,
                "CARD_EXPIRY_BEFORE_ISSUE",
                format!("“{header}”应晚于发卡日期，请核对后重新填写。"),
            );
            return None;
        }
        Some(date)
    });
    let bank_code = check.required("bank_code").and_then(|(cell, header)| {
        match BankCode::parse(&normalize_cell(&cell.text)) {
            Ok(code) => Some(code),
            Err(e) => {
                check.error(&header, e.code(), format!("“{header}”：{e}"));
                None
            }
        }
    });
    let bank_account = if map.has("bank_account") {
        let before = check.errors.len();
        match check.optional("bank_account") {
            None if check.errors.len() > before => None,
            None => Some(Patch::Clear),
            Some((cell, header)) => check
                .identifier(cell, &header, BankCardNumber::parse, |e| {
                    (e.code(), e.to_string())
                })
                .map(Patch::Set),
        }
    } else {
        Some(Patch::Keep)
    };
    let social = check.required("social_state").and_then(|(cell, header)| {
        let text = normalize_cell(&cell.text);
        let state = social_state(&text);
        if state.is_none() {
            let known: Vec<&str> = SocialSecurityState::ALL
                .iter()
                .map(|s| s.label_zh())
                .collect();
            check.error(
                &header,
                "SOCIAL_STATE_INVALID",
                format!(
                    "“{header}”：无法识别的社保应用状态“{text}”，可填：{}。",
                    known.join("、")
                ),
            );
        }
        state
    });
    let financial = check
        .required("financial_state")
        .and_then(|(cell, header)| {
            let text = normalize_cell(&cell.text);
            let state = financial_state(&text);
            if state.is_none() {
                let known: Vec<&str> = FinancialState::ALL.iter().map(|s| s.label_zh()).collect();
                check.error(
                    &header,
                    "FINANCIAL_STATE_INVALID",
                    format!(
                        "“{header}”：无法识别的金融应用状态“{text}”，可填：{}。",
                        known.join("、")
                    ),
                );
            }
            state
        });
    if let (Some(social), Some(financial)) = (social, financial)
        && let Err(message) = check_initial_states(social, financial)
    {
        let (_, header) = check.text("financial_state");
        check.error(&header, "CARD_STATES_INCONSISTENT", message);
    }
    if let (Some(financial), Some(Patch::Clear)) = (financial, &bank_account)
        && matches!(financial, FinancialState::Active | FinancialState::Frozen)
    {
        let (_, header) = check.text("bank_account");
        check.error(
            &header,
            "BANK_ACCOUNT_REQUIRED",
            format!("金融应用为“{}”时须填写银行账号。", financial.label_zh()),
        );
    }
    let record = match (
        card_number,
        code,
        id_number,
        area,
        version,
        issue_date,
        expiry_date,
        bank_code,
        bank_account,
        social,
        financial,
    ) {
        (
            Some(card_number),
            Some(card_identification_code),
            Some(holder),
            Some(issuing_area_code),
            Some(spec_version),
            Some(issue_date),
            Some(expiry_date),
            Some(bank_code),
            Some(bank_account),
            Some(social_state),
            Some(financial_state),
        ) => Some(CardLine {
            row: row.number,
            card_number,
            card_identification_code,
            holder,
            issuing_area_code,
            spec_version,
            issue_date,
            expiry_date,
            bank_code,
            bank_account,
            social_state,
            financial_state,
        }),
        _ => None,
    };
    check.finish(record)
}

#[cfg(test)]
mod tests {
    use super::super::{Cell, ImportKind};
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn row(number: u64, cells: &[&str]) -> Row {
        Row {
            number,
            cells: cells.iter().map(|c| Cell::text(*c)).collect(),
        }
    }

    fn map() -> HeaderMap {
        HeaderMap::new(ImportKind::Cards, &row(1, &crate::demo::CARD_HEADER)).unwrap()
    }

    fn good() -> Vec<String> {
        let generator = crate::demo::Generator::new(1);
        let person = generator.person(20);
        person.cards[0].to_row(&person.id_number).to_vec()
    }

    fn with(changes: &[(usize, &str)]) -> Row {
        let mut cells = good();
        for (i, value) in changes {
            cells[*i] = (*value).to_owned();
        }
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        row(5, &refs)
    }

    #[test]
    fn a_generated_card_parses() {
        let record = parse_row(&map(), &with(&[]), today()).unwrap();
        assert_eq!(record.row, 5);
        assert!(matches!(record.bank_account, Patch::Set(_)));
    }

    #[test]
    fn state_names_of_other_systems_are_understood() {
        assert_eq!(
            social_state("制卡完成待领卡"),
            Some(SocialSecurityState::AwaitingCollection)
        );
        assert_eq!(
            social_state("已领卡（未启用）"),
            Some(SocialSecurityState::Collected)
        );
        assert_eq!(social_state("正常"), Some(SocialSecurityState::Normal));
        assert_eq!(
            social_state("cancelled"),
            Some(SocialSecurityState::Cancelled)
        );
        assert_eq!(social_state("激活"), None);
        assert_eq!(financial_state("已激活"), Some(FinancialState::Active));
        assert_eq!(
            financial_state("未激活"),
            Some(FinancialState::NotActivated)
        );
        assert_eq!(financial_state("销户"), Some(FinancialState::Closed));
        assert_eq!(financial_state("挂失"), None);
    }

    #[test]
    fn spec_versions_excel_has_shortened() {
        assert_eq!(spec_version_text("3"), "3.00");
        assert_eq!(spec_version_text("3.1"), "3.10");
        assert_eq!(spec_version_text("3.00"), "3.00");
        assert_eq!(spec_version_text("v3"), "v3");
        let record = parse_row(&map(), &with(&[(4, "3")]), today()).unwrap();
        assert_eq!(record.spec_version.as_str(), "3.00");
    }

    #[test]
    fn cross_field_rules() {
        let codes = |row: Row| -> Vec<String> {
            parse_row(&map(), &row, today())
                .unwrap_err()
                .into_iter()
                .map(|e| e.code)
                .collect()
        };
        assert_eq!(
            codes(with(&[(6, "2010-01-01")])),
            ["CARD_EXPIRY_BEFORE_ISSUE"]
        );
        assert_eq!(
            codes(with(&[(5, "2030-01-01")])),
            ["CARD_ISSUE_DATE_IN_FUTURE"]
        );
        assert_eq!(
            codes(with(&[(9, "制卡中"), (10, "已激活")])),
            ["CARD_STATES_INCONSISTENT"]
        );
        assert_eq!(
            codes(with(&[(8, ""), (10, "已激活")])),
            ["BANK_ACCOUNT_REQUIRED"]
        );
        assert_eq!(codes(with(&[(9, "激活了")])), ["SOCIAL_STATE_INVALID"]);
        assert_eq!(
            codes(with(&[(8, "6.21226E+18")])),
            ["EXCEL_SCIENTIFIC_NOTATION"]
        );
        let message = &parse_row(&map(), &with(&[(10, "好")]), today()).unwrap_err()[0].message;
        assert!(message.contains("未激活、已激活、冻结、销户"), "{message}");
    }
}
