//! The social security card number (社会保障卡卡号).

use super::{identifier_impls, normalize};
use crate::mask::mask_middle;

/// Why a card number was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardNumberError {
    /// Nothing was entered.
    #[error("请填写社会保障卡卡号。")]
    Empty,
    /// Not 9 characters of digits and upper-case letters.
    #[error(
        "社会保障卡卡号应为9位，由数字和英文字母组成（例如A12345678），请对照卡面核对后重新填写。"
    )]
    Format,
}

impl CardNumberError {
    /// A stable machine-readable code, e.g. `CARD_NUMBER_FORMAT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "CARD_NUMBER_EMPTY",
            Self::Format => "CARD_NUMBER_FORMAT",
        }
    }
}

/// A social security card number (社会保障卡卡号): 9 characters, digits
/// and upper-case letters, e.g. `A12345678`. It identifies the card, not the
/// person: a replacement card gets a new number.
///
/// `Display` and `Debug` show the masked form `A1234****`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber {
    /// Canonical form: 9 ASCII digits or upper-case letters.
    value: String,
}

impl CardNumber {
    /// Parses a card number. Accepts surrounding whitespace (including
    /// U+3000), full-width characters and lower-case letters.
    ///
    /// # Errors
    ///
    /// [`CardNumberError::Empty`] for blank input, otherwise
    /// [`CardNumberError::Format`] unless there are exactly 9 digits or
    /// letters.
    pub fn parse(input: &str) -> Result<Self, CardNumberError> {
        let value = normalize(input);
        if value.is_empty() {
            return Err(CardNumberError::Empty);
        }
        let valid = value.len() == 9
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !valid {
            return Err(CardNumberError::Format);
        }
        Ok(Self { value })
    }

    /// The masked form: the first 5 characters and 4 stars, `A1234****`.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_middle(&self.value, 5, 0)
    }
}

identifier_impls!(
    CardNumber,
    CardNumberError,
    "Social security card number (社会保障卡卡号): 9 digits or upper-case \
     letters. Input may contain surrounding spaces, full-width characters and \
     lower-case letters.",
    "A12345678"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn example() {
        let card = CardNumber::parse("A12345678").unwrap();
        assert_eq!(card.as_str(), "A12345678");
        assert_eq!(card.masked(), "A1234****");
        assert_eq!(card.to_string(), "A1234****");
        assert_eq!(format!("{card:?}"), "CardNumber(\"A1234****\")");
        assert_eq!(
            CardNumber::parse(" ａ１２３４５６７８\u{3000}").unwrap(),
            card
        );
        assert_eq!(CardNumber::parse("a12345678").unwrap(), card);
        assert!(CardNumber::parse("123456789").is_ok());
    }

    #[test]
    fn error_codes() {
        let code = |s: &str| CardNumber::parse(s).unwrap_err().code();
        assert_eq!(code(""), "CARD_NUMBER_EMPTY");
        assert_eq!(code("  "), "CARD_NUMBER_EMPTY");
        assert_eq!(code("A1234567"), "CARD_NUMBER_FORMAT");
        assert_eq!(code("A123456789"), "CARD_NUMBER_FORMAT");
        assert_eq!(code("A1234 678"), "CARD_NUMBER_FORMAT");
        assert_eq!(code("A1234567é"), "CARD_NUMBER_FORMAT");
        assert_eq!(code("A123-5678"), "CARD_NUMBER_FORMAT");
    }

    #[test]
    fn serde() {
        let card: CardNumber = serde_json::from_str("\"a12345678\"").unwrap();
        assert_eq!(serde_json::to_string(&card).unwrap(), "\"A12345678\"");
        let err = serde_json::from_str::<CardNumber>("\"A1\"").unwrap_err();
        assert!(err.to_string().starts_with("CARD_NUMBER_FORMAT: "));
    }

    proptest! {
        #[test]
        fn valid_numbers_round_trip(s in "[A-Za-z0-9]{9}") {
            let card = CardNumber::parse(&s).unwrap();
            prop_assert_eq!(card.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(CardNumber::parse(card.as_str()).unwrap(), card.clone());
            let json = serde_json::to_string(&card).unwrap();
            prop_assert_eq!(serde_json::from_str::<CardNumber>(&json).unwrap(), card.clone());
            let masked = card.masked();
            prop_assert_eq!(&masked[..5], &card.as_str()[..5]);
            prop_assert_eq!(&masked[5..], "****");
            let debug = format!("{card:?}");
            prop_assert!(!debug.contains(card.as_str()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = CardNumber::parse(&s);
        }
    }
}
