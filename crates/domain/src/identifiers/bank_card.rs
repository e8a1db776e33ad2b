//! The bank card number (银行卡号) of the card's financial function or of a
//! bank account, with the Luhn check.

use super::{identifier_impls, is_separator, normalize};
use crate::mask::mask_bank_card;

/// Computes the Luhn check digit to append to `payload` (the number without
/// its last digit), or `None` if `payload` is empty or has a character that
/// is not an ASCII digit.
///
/// ```
/// use sscard_domain::identifiers::luhn_check_digit;
/// assert_eq!(luhn_check_digit("411111111111111"), Some('1'));
/// assert_eq!(luhn_check_digit("621700001000123456"), Some('9'));
/// ```
#[must_use]
pub fn luhn_check_digit(payload: &str) -> Option<char> {
    if payload.is_empty() || !payload.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The check digit will sit at position 0 from the right, so the payload's
    // rightmost digit is at position 1 and is doubled, and so on every second.
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10)
}

/// True if `number` is at least 2 ASCII digits and its last digit is the
/// Luhn check digit of the others.
#[must_use]
pub fn luhn_is_valid(number: &str) -> bool {
    match number.len().checked_sub(1) {
        Some(split) if split > 0 && number.is_char_boundary(split) => {
            luhn_check_digit(&number[..split]) == number[split..].chars().next()
        }
        _ => false,
    }
}

/// Why a bank card number was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BankCardNumberError {
    /// Nothing was entered.
    #[error("请填写银行卡号。")]
    Empty,
    /// Not 16 to 19 digits (spaces and hyphens between digits are allowed).
    #[error("银行卡号应为16至19位数字，请对照卡面核对后重新填写。")]
    Format,
    /// The Luhn check digit does not match.
    #[error("银行卡号校验不符，可能有数字填错，请对照卡面逐位核对后重新填写。")]
    Checksum,
}

impl BankCardNumberError {
    /// A stable machine-readable code, e.g. `BANK_CARD_CHECKSUM`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "BANK_CARD_EMPTY",
            Self::Format => "BANK_CARD_FORMAT",
            Self::Checksum => "BANK_CARD_CHECKSUM",
        }
    }
}

/// A bank card number (银行卡号): 16 to 19 digits passing the Luhn check.
/// The leading digits are the BIN (发卡行识别码), which tells the bank.
///
/// Financial-account information is sensitive (PIPL art. 28): `Display`
/// and `Debug` show the masked form `6217 **** **** 1234`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BankCardNumber {
    /// Canonical form: 16 to 19 ASCII digits, no separators.
    value: String,
}

impl BankCardNumber {
    /// Parses a bank card number. Accepts surrounding whitespace (including
    /// U+3000), full-width digits, and spaces or hyphens between digits.
    ///
    /// # Errors
    ///
    /// [`BankCardNumberError::Empty`] for blank input,
    /// [`BankCardNumberError::Format`] unless 16 to 19 digits remain once
    /// separators are removed, then [`BankCardNumberError::Checksum`].
    pub fn parse(input: &str) -> Result<Self, BankCardNumberError> {
        let value: String = normalize(input)
            .chars()
            .filter(|&c| !is_separator(c))
            .collect();
        if value.is_empty() {
            return Err(BankCardNumberError::Empty);
        }
        if !(16..=19).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BankCardNumberError::Format);
        }
        if !luhn_is_valid(&value) {
            return Err(BankCardNumberError::Checksum);
        }
        Ok(Self { value })
    }

    /// The first `len` digits (the whole number if `len` is larger), e.g.
    /// `bin(6)` for a 6-digit BIN.
    #[must_use]
    pub fn bin(&self, len: usize) -> &str {
        &self.value[..len.min(self.value.len())]
    }

    /// True if the number starts with `prefix` (a BIN or BIN range prefix,
    /// as ASCII digits).
    #[must_use]
    pub fn starts_with_bin(&self, prefix: &str) -> bool {
        self.value.starts_with(prefix)
    }

    /// The masked form, `6217 **** **** 1234` whatever the length.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_bank_card(&self.value)
    }
}

identifier_impls!(
    BankCardNumber,
    BankCardNumberError,
    "Bank card number (银行卡号): 16 to 19 digits with a valid Luhn check digit. \
     Input may contain spaces or hyphens between digits and full-width digits; \
     output has digits only.",
    "6217000010001234569"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(input: &str) -> &'static str {
        BankCardNumber::parse(input).unwrap_err().code()
    }

    #[test]
    fn luhn_vectors() {
        for valid in [
            "4111111111111111",
            "5500000000000004",
            "6011111111111117",
            "6217000010001234",
            "6217000010001234569",
            "79927398713",
        ] {
            assert!(luhn_is_valid(valid), "{valid}");
        }
        for invalid in [
            "4111111111111112",
            "6217000010001234567",
            "79927398710",
            "0",
            "",
            "1a",
        ] {
            assert!(!luhn_is_valid(invalid), "{invalid}");
        }
        assert_eq!(luhn_check_digit("7992739871"), Some('3'));
        assert_eq!(luhn_check_digit(""), None);
        assert_eq!(luhn_check_digit("12a"), None);
        assert!(!luhn_is_valid("１1"));
    }

    #[test]
    fn examples() {
        let card = BankCardNumber::parse("6217000010001234569").unwrap();
        assert_eq!(card.as_str(), "6217000010001234569");
        assert_eq!(card.masked(), "6217 **** **** 4569");
        assert_eq!(card.to_string(), "6217 **** **** 4569");
        assert_eq!(
            format!("{card:?}"),
            "BankCardNumber(\"6217 **** **** 4569\")"
        );
        assert_eq!(card.bin(6), "621700");
        assert_eq!(card.bin(40), "6217000010001234569");
        assert!(card.starts_with_bin("6217"));
        assert!(!card.starts_with_bin("6222"));

        let short = BankCardNumber::parse("6217000010001234").unwrap();
        assert_eq!(short.masked(), "6217 **** **** 1234");
    }

    #[test]
    fn separators_and_full_width_are_ignored() {
        let card = BankCardNumber::parse("6217000010001234569").unwrap();
        for input in [
            "6217 0000 1000 1234 569",
            "6217-0000-1000-1234-569",
            "\u{3000}６２１７\u{3000}０００0 1000 1234 569 ",
            "6217\t0000 - 1000 1234569",
        ] {
            assert_eq!(BankCardNumber::parse(input).unwrap(), card, "{input}");
        }
    }

    #[test]
    fn error_codes() {
        assert_eq!(code(""), "BANK_CARD_EMPTY");
        assert_eq!(code(" - - "), "BANK_CARD_EMPTY");
        assert_eq!(code("411111111111111"), "BANK_CARD_FORMAT");
        assert_eq!(code("41111111111111111111"), "BANK_CARD_FORMAT");
        assert_eq!(code("4111.1111.1111.1111"), "BANK_CARD_FORMAT");
        assert_eq!(code("411111111111111a"), "BANK_CARD_FORMAT");
        assert_eq!(code("4111111111111112"), "BANK_CARD_CHECKSUM");
        assert_eq!(code("6217000010001234567"), "BANK_CARD_CHECKSUM");
    }

    #[test]
    fn serde() {
        let card: BankCardNumber = serde_json::from_str("\"6217 0000 1000 1234\"").unwrap();
        assert_eq!(
            serde_json::to_string(&card).unwrap(),
            "\"6217000010001234\""
        );
        let err = serde_json::from_str::<BankCardNumber>("\"6217000010001235\"").unwrap_err();
        assert!(err.to_string().starts_with("BANK_CARD_CHECKSUM: "));
    }

    fn valid_number() -> impl Strategy<Value = String> {
        "[0-9]{15,18}".prop_map(|payload| {
            let check = luhn_check_digit(&payload).unwrap();
            format!("{payload}{check}")
        })
    }

    proptest! {
        #[test]
        fn computed_check_digit_parses_and_round_trips(number in valid_number()) {
            let card = BankCardNumber::parse(&number).unwrap();
            prop_assert_eq!(card.as_str(), number.as_str());
            prop_assert_eq!(BankCardNumber::parse(card.as_str()).unwrap(), card.clone());
            let json = serde_json::to_string(&card).unwrap();
            prop_assert_eq!(serde_json::from_str::<BankCardNumber>(&json).unwrap(), card.clone());
            let grouped = crate::mask::group(&number, 4);
            prop_assert_eq!(BankCardNumber::parse(&grouped).unwrap(), card);
        }

        #[test]
        fn any_single_digit_change_is_rejected(
            number in valid_number(),
            index in 0usize..19,
            replacement in 0u8..10,
        ) {
            let mut bytes = number.clone().into_bytes();
            let index = index % bytes.len();
            let replacement = b'0' + replacement;
            prop_assume!(bytes[index] != replacement);
            bytes[index] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(
                BankCardNumber::parse(&changed).unwrap_err(),
                BankCardNumberError::Checksum
            );
        }

        #[test]
        fn masked_never_contains_the_middle(number in valid_number()) {
            let card = BankCardNumber::parse(&number).unwrap();
            let masked = card.masked();
            let middle = &number[4..number.len() - 4];
            prop_assert!(!masked.contains(middle));
            let debug = format!("{card:?}");
            prop_assert!(!debug.contains(middle));
            prop_assert_eq!(masked.chars().filter(char::is_ascii_digit).count(), 8);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = BankCardNumber::parse(&s);
        }
    }
}
