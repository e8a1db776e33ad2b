//! The mainland China mobile phone number (手机号码).

use super::{identifier_impls, is_separator, normalize};
use crate::mask::mask_middle;

/// Why a mobile number was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MobileNumberError {
    /// Nothing was entered.
    #[error("请填写手机号码。")]
    Empty,
    /// Not an 11-digit mainland mobile number.
    #[error("手机号码应为11位数字，以13至19开头（例如13800138000），请核对后重新填写。")]
    Format,
}

impl MobileNumberError {
    /// A stable machine-readable code, e.g. `MOBILE_FORMAT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "MOBILE_EMPTY",
            Self::Format => "MOBILE_FORMAT",
        }
    }
}

/// A mainland China mobile number (手机号码): 11 digits, `1` then `3`–`9`.
///
/// `Display` and `Debug` show the masked form `138****5678`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MobileNumber {
    /// Canonical form: 11 ASCII digits, no country code, no separators.
    value: String,
}

impl MobileNumber {
    /// Parses a mobile number. Accepts surrounding whitespace (including
    /// U+3000), full-width digits, spaces or hyphens between digits, and
    /// the country code as `+86`, `0086` or `86` in front.
    ///
    /// # Errors
    ///
    /// [`MobileNumberError::Empty`] for blank input, otherwise
    /// [`MobileNumberError::Format`] unless an 11-digit number starting with
    /// `13`–`19` remains.
    pub fn parse(input: &str) -> Result<Self, MobileNumberError> {
        let compact: String = normalize(input)
            .chars()
            .filter(|&c| !is_separator(c))
            .collect();
        if compact.is_empty() {
            return Err(MobileNumberError::Empty);
        }
        let national = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .or_else(|| compact.strip_prefix("86").filter(|rest| rest.len() == 11))
            .unwrap_or(&compact);
        let bytes = national.as_bytes();
        let valid = bytes.len() == 11
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1]);
        if !valid {
            return Err(MobileNumberError::Format);
        }
        Ok(Self {
            value: national.to_owned(),
        })
    }

    /// The masked form: the first 3 and last 4 digits, `138****5678`.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_middle(&self.value, 3, 4)
    }
}

identifier_impls!(
    MobileNumber,
    MobileNumberError,
    "Mainland China mobile number (手机号码): 11 digits starting with 13-19. \
     Input may carry +86, 0086 or 86 in front, spaces or hyphens between digits \
     and full-width digits; output is the 11 digits only.",
    "13800138000"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(input: &str) -> &'static str {
        MobileNumber::parse(input).unwrap_err().code()
    }

    #[test]
    fn examples() {
        let mobile = MobileNumber::parse("13812345678").unwrap();
        assert_eq!(mobile.as_str(), "13812345678");
        assert_eq!(mobile.masked(), "138****5678");
        assert_eq!(mobile.to_string(), "138****5678");
        assert_eq!(format!("{mobile:?}"), "MobileNumber(\"138****5678\")");
        for input in [
            "+86 138 1234 5678",
            "+86-138-1234-5678",
            "008613812345678",
            "8613812345678",
            "86 138 1234 5678",
            "\u{3000}１３８１２３４５６７８ ",
            "＋８６１３８１２３４５６７８",
            "138-1234-5678",
        ] {
            assert_eq!(MobileNumber::parse(input).unwrap(), mobile, "{input}");
        }
    }

    #[test]
    fn error_codes() {
        assert_eq!(code(""), "MOBILE_EMPTY");
        assert_eq!(code(" -\u{3000}"), "MOBILE_EMPTY");
        assert_eq!(code("+86"), "MOBILE_FORMAT");
        assert_eq!(code("1381234567"), "MOBILE_FORMAT");
        assert_eq!(code("138123456789"), "MOBILE_FORMAT");
        assert_eq!(code("12812345678"), "MOBILE_FORMAT");
        assert_eq!(code("23812345678"), "MOBILE_FORMAT");
        assert_eq!(code("0772-7215670"), "MOBILE_FORMAT");
        assert_eq!(code("+85213812345678"), "MOBILE_FORMAT");
        assert_eq!(code("+8613812345678+"), "MOBILE_FORMAT");
        assert_eq!(code("138 1234 567a"), "MOBILE_FORMAT");
        assert_eq!(code("86138123456"), "MOBILE_FORMAT");
    }

    #[test]
    fn serde() {
        let mobile: MobileNumber = serde_json::from_str("\"+86 138 0013 8000\"").unwrap();
        assert_eq!(serde_json::to_string(&mobile).unwrap(), "\"13800138000\"");
        let err = serde_json::from_str::<MobileNumber>("\"12345\"").unwrap_err();
        assert!(err.to_string().starts_with("MOBILE_FORMAT: "));
    }

    proptest! {
        #[test]
        fn valid_numbers_round_trip(
            number in "1[3-9][0-9]{9}",
            prefix in proptest::sample::select(vec!["", "+86", "+86 ", "0086", "86", "86-"]),
            separator in proptest::sample::select(vec!["", " ", "-"]),
        ) {
            let formatted = format!(
                "{prefix}{}{separator}{}{separator}{}",
                &number[..3],
                &number[3..7],
                &number[7..]
            );
            let mobile = MobileNumber::parse(&formatted).unwrap();
            prop_assert_eq!(mobile.as_str(), number.as_str());
            prop_assert_eq!(MobileNumber::parse(mobile.as_str()).unwrap(), mobile.clone());
            let json = serde_json::to_string(&mobile).unwrap();
            prop_assert_eq!(serde_json::from_str::<MobileNumber>(&json).unwrap(), mobile.clone());
            let masked = mobile.masked();
            prop_assert_eq!(&masked[3..7], "****");
            prop_assert!(!masked.contains(&number[3..7]));
            let debug = format!("{mobile:?}");
            prop_assert!(!debug.contains(&number[3..7]));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = MobileNumber::parse(&s);
        }
    }
}
