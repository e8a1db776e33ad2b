//! The unified social credit code (统一社会信用代码) of organisations,
//! GB 32100-2015.

use super::{first_invalid_position, identifier_impls, normalize};

/// The 31 characters a code may use: digits and upper-case letters without
/// I, O, S, V and Z. A character's index is its numeric value.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 characters for the check character.
const WEIGHTS: [usize; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The numeric value of a (canonical, upper-case) code character.
fn char_value(c: char) -> Option<usize> {
    ALPHABET.iter().position(|&b| char::from(b) == c)
}

/// Computes the GB 32100-2015 check character for the first 17 characters
/// of a unified social credit code, or `None` if `first17` is not exactly 17
/// characters of the code alphabet (canonical: upper-case, half-width).
///
/// ```
/// use sscard_domain::identifiers::uscc_check_char;
/// assert_eq!(uscc_check_char("11450221007624051"), Some('J'));
/// assert_eq!(uscc_check_char("1145022100762405I"), None);
/// ```
#[must_use]
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let mut sum = 0;
    let mut count = 0;
    for c in first17.chars() {
        let weight = WEIGHTS.get(count)?;
        sum += char_value(c)? * weight;
        count += 1;
    }
    if count != WEIGHTS.len() {
        return None;
    }
    let check = (31 - sum % 31) % 31;
    Some(char::from(ALPHABET[check]))
}

/// Why a unified social credit code was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Nothing was entered.
    #[error("请填写统一社会信用代码。")]
    Empty,
    /// Not 18 characters.
    #[error("统一社会信用代码应为18位，当前为{actual}位，请对照营业执照或登记证书核对后重新填写。")]
    Length {
        /// The number of characters after trimming.
        actual: usize,
    },
    /// A character outside the code alphabet.
    #[error(
        "统一社会信用代码第{position}位字符无效：只能使用数字和除I、O、S、V、Z以外的大写英文字母，请核对后重新填写。"
    )]
    Characters {
        /// 1-based position of the first invalid character.
        position: usize,
    },
    /// The check character (the 18th) does not match the first 17.
    #[error(
        "统一社会信用代码校验位不符，可能有字符填错，请对照营业执照或登记证书逐位核对后重新填写。"
    )]
    Checksum,
}

impl UsccError {
    /// A stable machine-readable code, e.g. `USCC_CHECKSUM`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "USCC_EMPTY",
            Self::Length { .. } => "USCC_LENGTH",
            Self::Characters { .. } => "USCC_CHARACTERS",
            Self::Checksum => "USCC_CHECKSUM",
        }
    }
}

/// A valid unified social credit code (统一社会信用代码), GB 32100-2015:
/// 18 characters from `0123456789ABCDEFGHJKLMNPQRTUWXY`, the last one a
/// check character. Example: the implementing body 柳江区人力资源和社会保障局
/// has `11450221007624051J`.
///
/// Unlike the personal identifiers, this code identifies an organisation
/// (an employer, a government body) and is public by law: it is printed on
/// business licences and service guides and published in the national
/// credit information systems. It is therefore **not** masked:
/// [`Uscc::masked`], `Display` and `Debug` show the full code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Uscc {
    /// Canonical form: 18 upper-case characters of the code alphabet.
    value: String,
}

impl Uscc {
    /// Parses a unified social credit code. Accepts surrounding whitespace
    /// (including U+3000), full-width characters and lower-case letters.
    ///
    /// # Errors
    ///
    /// The first rule broken, checked in the order empty, length,
    /// characters, check character.
    pub fn parse(input: &str) -> Result<Self, UsccError> {
        let value = normalize(input);
        if value.is_empty() {
            return Err(UsccError::Empty);
        }
        let len = value.chars().count();
        if len != 18 {
            return Err(UsccError::Length { actual: len });
        }
        if let Some(position) = first_invalid_position(&value, |_, c| char_value(c).is_some()) {
            return Err(UsccError::Characters { position });
        }
        // From here on `value` is 18 ASCII characters.
        if uscc_check_char(&value[..17]) != value[17..].chars().next() {
            return Err(UsccError::Checksum);
        }
        Ok(Self { value })
    }

    /// The display form, which is the full code: organisation codes are
    /// public data, see the type's documentation.
    #[must_use]
    pub fn masked(&self) -> String {
        self.value.clone()
    }
}

identifier_impls!(
    Uscc,
    UsccError,
    "Unified social credit code (统一社会信用代码) of an organisation, \
     GB 32100-2015: 18 characters from 0-9 and A-Z without I, O, S, V, Z, \
     the last one a check character. Public data, not masked.",
    "11450221007624051J"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(input: &str) -> &'static str {
        Uscc::parse(input).unwrap_err().code()
    }

    #[test]
    fn implementing_body_is_valid() {
        let uscc = Uscc::parse("11450221007624051J").unwrap();
        assert_eq!(uscc.as_str(), "11450221007624051J");
        assert_eq!(uscc.masked(), "11450221007624051J");
        assert_eq!(uscc.to_string(), "11450221007624051J");
        assert_eq!(format!("{uscc:?}"), "Uscc(\"11450221007624051J\")");
    }

    #[test]
    fn other_known_codes() {
        // The example code given in GB 32100-2015 itself.
        assert_eq!(uscc_check_char("91350100M000100Y4"), Some('3'));
        assert!(Uscc::parse("91350100M000100Y43").is_ok());
    }

    #[test]
    fn lenient_input_is_canonicalised() {
        let canonical = Uscc::parse("11450221007624051J").unwrap();
        for input in [
            "11450221007624051j",
            " 11450221007624051J\u{3000}",
            "１１４５０２２１００７６２４０５１ｊ",
        ] {
            assert_eq!(Uscc::parse(input).unwrap(), canonical);
        }
    }

    #[test]
    fn error_codes() {
        assert_eq!(code(""), "USCC_EMPTY");
        assert_eq!(code("\u{3000}"), "USCC_EMPTY");
        assert_eq!(code("11450221007624051"), "USCC_LENGTH");
        assert_eq!(code("11450221007624051JJ"), "USCC_LENGTH");
        assert_eq!(code("1145022100762405IJ"), "USCC_CHARACTERS");
        assert_eq!(code("11450221007624051O"), "USCC_CHARACTERS");
        assert_eq!(code("1145022100762405-J"), "USCC_CHARACTERS");
        assert_eq!(code("11450221007624051K"), "USCC_CHECKSUM");
        assert_eq!(code("12450221007624051J"), "USCC_CHECKSUM");
        assert_eq!(
            Uscc::parse("1145022100762405SJ").unwrap_err(),
            UsccError::Characters { position: 17 }
        );
    }

    #[test]
    fn serde() {
        let uscc: Uscc = serde_json::from_str("\"11450221007624051j\"").unwrap();
        assert_eq!(
            serde_json::to_string(&uscc).unwrap(),
            "\"11450221007624051J\""
        );
        let err = serde_json::from_str::<Uscc>("\"11450221007624051K\"").unwrap_err();
        assert!(err.to_string().starts_with("USCC_CHECKSUM: "));
    }

    fn alphabet() -> Vec<char> {
        ALPHABET.iter().copied().map(char::from).collect()
    }

    fn valid_uscc() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(alphabet()), 17).prop_map(|chars| {
            let first17: String = chars.into_iter().collect();
            let check = uscc_check_char(&first17).unwrap();
            format!("{first17}{check}")
        })
    }

    proptest! {
        #[test]
        fn computed_check_char_parses_and_round_trips(code in valid_uscc()) {
            let uscc = Uscc::parse(&code).unwrap();
            prop_assert_eq!(uscc.as_str(), code.as_str());
            prop_assert_eq!(Uscc::parse(uscc.as_str()).unwrap(), uscc.clone());
            let json = serde_json::to_string(&uscc).unwrap();
            prop_assert_eq!(serde_json::from_str::<Uscc>(&json).unwrap(), uscc.clone());
            prop_assert_eq!(Uscc::parse(&code.to_lowercase()).unwrap(), uscc);
        }

        #[test]
        fn any_single_change_is_rejected(
            code in valid_uscc(),
            index in 0usize..18,
            replacement in proptest::sample::select(alphabet()),
        ) {
            let mut chars: Vec<char> = code.chars().collect();
            prop_assume!(chars[index] != replacement);
            chars[index] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert_eq!(Uscc::parse(&changed).unwrap_err(), UsccError::Checksum);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Uscc::parse(&s);
        }
    }
}
