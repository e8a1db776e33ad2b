//! The card identification code (卡识别码) stored on the card's chip.

use super::{identifier_impls, normalize};
use crate::mask::mask_middle;

/// Why a card identification code was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardIdentificationCodeError {
    /// Nothing was entered.
    #[error("请填写卡识别码。")]
    Empty,
    /// Not 32 hexadecimal characters.
    #[error("卡识别码应为32位，由数字0-9和字母A-F组成，请核对后重新填写。")]
    Format,
}

impl CardIdentificationCodeError {
    /// A stable machine-readable code, e.g. `CARD_ID_CODE_FORMAT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "CARD_ID_CODE_EMPTY",
            Self::Format => "CARD_ID_CODE_FORMAT",
        }
    }
}

/// A card identification code (卡识别码): 32 hexadecimal characters,
/// canonical upper-case. In examples it starts with the 6-digit issuing
/// area code (e.g. 柳州市 `450200`) followed by `D156000005`; that layout is
/// not officially confirmed, so it is not enforced.
///
/// `Display` and `Debug` show the masked form: the first 6 and last 4
/// characters with 22 stars in between.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardIdentificationCode {
    /// Canonical form: 32 ASCII hex digits, upper-case.
    value: String,
}

impl CardIdentificationCode {
    /// Parses a card identification code. Accepts surrounding whitespace
    /// (including U+3000), full-width characters and lower-case letters.
    ///
    /// # Errors
    ///
    /// [`CardIdentificationCodeError::Empty`] for blank input, otherwise
    /// [`CardIdentificationCodeError::Format`] unless there are exactly 32
    /// hexadecimal characters.
    pub fn parse(input: &str) -> Result<Self, CardIdentificationCodeError> {
        let value = normalize(input);
        if value.is_empty() {
            return Err(CardIdentificationCodeError::Empty);
        }
        if value.len() != 32 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CardIdentificationCodeError::Format);
        }
        Ok(Self { value })
    }

    /// The issuing area code (发卡地区行政区划代码): the first 6 characters,
    /// if they are all digits (e.g. `450200`), otherwise `None`.
    #[must_use]
    pub fn issuing_area_code(&self) -> Option<&str> {
        let head = &self.value[..6];
        head.bytes().all(|b| b.is_ascii_digit()).then_some(head)
    }

    /// The masked form: the first 6 and last 4 characters, stars in between.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_middle(&self.value, 6, 4)
    }
}

identifier_impls!(
    CardIdentificationCode,
    CardIdentificationCodeError,
    "Card identification code (卡识别码): 32 hexadecimal characters, \
     canonical upper-case; usually starts with the 6-digit issuing area code. \
     Input may contain surrounding spaces, full-width characters and \
     lower-case letters.",
    "450200D15600000500000000ABCDEF12"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = "450200D15600000500000000ABCDEF12";

    #[test]
    fn example() {
        let code = CardIdentificationCode::parse(EXAMPLE).unwrap();
        assert_eq!(code.as_str(), EXAMPLE);
        assert_eq!(code.issuing_area_code(), Some("450200"));
        assert_eq!(code.masked(), "450200**********************EF12");
        assert_eq!(code.to_string(), code.masked());
        assert!(!format!("{code:?}").contains("D156"));
        let lower = format!("\u{3000}{} ", EXAMPLE.to_ascii_lowercase());
        assert_eq!(CardIdentificationCode::parse(&lower).unwrap(), code);
    }

    #[test]
    fn area_code_needs_digits() {
        let code = CardIdentificationCode::parse("4502A0D15600000500000000ABCDEF12").unwrap();
        assert_eq!(code.issuing_area_code(), None);
    }

    #[test]
    fn error_codes() {
        let code = |s: &str| CardIdentificationCode::parse(s).unwrap_err().code();
        assert_eq!(code(""), "CARD_ID_CODE_EMPTY");
        assert_eq!(code(&EXAMPLE[..31]), "CARD_ID_CODE_FORMAT");
        assert_eq!(code(&format!("{EXAMPLE}0")), "CARD_ID_CODE_FORMAT");
        assert_eq!(code(&EXAMPLE.replace('D', "G")), "CARD_ID_CODE_FORMAT");
        assert_eq!(code(&EXAMPLE.replace('D', " ")), "CARD_ID_CODE_FORMAT");
    }

    #[test]
    fn serde() {
        let json = format!("\"{}\"", EXAMPLE.to_ascii_lowercase());
        let code: CardIdentificationCode = serde_json::from_str(&json).unwrap();
        assert_eq!(
            serde_json::to_string(&code).unwrap(),
            format!("\"{EXAMPLE}\"")
        );
        let err = serde_json::from_str::<CardIdentificationCode>("\"\"").unwrap_err();
        assert!(err.to_string().starts_with("CARD_ID_CODE_EMPTY: "));
    }

    proptest! {
        #[test]
        fn valid_codes_round_trip(s in "[0-9A-Fa-f]{32}") {
            let code = CardIdentificationCode::parse(&s).unwrap();
            prop_assert_eq!(code.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(CardIdentificationCode::parse(code.as_str()).unwrap(), code.clone());
            let json = serde_json::to_string(&code).unwrap();
            prop_assert_eq!(
                serde_json::from_str::<CardIdentificationCode>(&json).unwrap(),
                code.clone()
            );
            let masked = code.masked();
            prop_assert_eq!(&masked[6..28], "*".repeat(22));
            prop_assert!(!masked.contains(&code.as_str()[6..28]));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = CardIdentificationCode::parse(&s);
        }
    }
}
