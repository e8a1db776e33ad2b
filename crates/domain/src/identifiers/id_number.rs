//! The citizen ID number (居民身份证号码), which is also the social security
//! number (社会保障号码) printed on the card, per GB 11643-1999.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{first_invalid_position, identifier_impls, normalize};
use crate::mask::mask_middle;

/// Weights of the first 17 characters for the check character.
const WEIGHTS: [usize; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for `sum mod 11` = 0..=10.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// The province-level codes (first two digits) that exist: mainland
/// provinces, Taiwan (71), Hong Kong (81), Macao (82) and the code 83 used
/// for residence permits of Taiwan residents.
const PROVINCE_CODES: [u8; 35] = [
    11, 12, 13, 14, 15, // 北京 天津 河北 山西 内蒙古
    21, 22, 23, // 辽宁 吉林 黑龙江
    31, 32, 33, 34, 35, 36, 37, // 上海 江苏 浙江 安徽 福建 江西 山东
    41, 42, 43, 44, 45, 46, // 河南 湖北 湖南 广东 广西 海南
    50, 51, 52, 53, 54, // 重庆 四川 贵州 云南 西藏
    61, 62, 63, 64, 65, // 陕西 甘肃 青海 宁夏 新疆
    71, 81, 82, 83, // 台湾 香港 澳门 台湾居民居住证
];
/// Birth years `parse` accepts without a clock.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

/// Computes the GB 11643-1999 check character for the first 17 characters
/// of an ID number, or `None` if `first17` is not exactly 17 ASCII digits.
///
/// Only the arithmetic is checked here, not the region code or the date.
///
/// ```
/// use sscard_domain::identifiers::id_check_char;
/// assert_eq!(id_check_char("11010519491231002"), Some('X'));
/// assert_eq!(id_check_char("1101051949123100"), None);
/// ```
#[must_use]
pub fn id_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: usize = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| usize::from(b - b'0') * w)
        .sum();
    Some(CHECK_CHARS[sum % 11])
}

/// Why an ID number was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Nothing was entered.
    #[error("请填写身份证号码（社会保障号码）。")]
    Empty,
    /// Not 18 characters.
    #[error(
        "身份证号码应为18位，当前为{actual}位，请对照身份证核对后重新填写；如持有15位旧号码，请使用18位新号码。"
    )]
    Length {
        /// The number of characters after trimming.
        actual: usize,
    },
    /// A character other than a digit (or `X` in the last place).
    #[error(
        "身份证号码第{position}位字符无效：前17位只能是数字，最后一位是数字或字母X，请核对后重新填写。"
    )]
    Characters {
        /// 1-based position of the first invalid character.
        position: usize,
    },
    /// The first two digits are not a province code.
    #[error("身份证号码前6位的地区代码无效，请对照身份证核对后重新填写。")]
    Region,
    /// Characters 7–14 are not a real date between 1900 and 2100.
    #[error("身份证号码第7至14位的出生日期无效，请对照身份证核对后重新填写。")]
    BirthDate,
    /// The birth date is after the reference date given to
    /// [`IdNumber::parse_at`].
    #[error("身份证号码中的出生日期晚于今天，请对照身份证核对后重新填写。")]
    BirthDateInFuture,
    /// The check character (the 18th) does not match the first 17.
    #[error("身份证号码校验位不符，可能有数字填错，请对照身份证逐位核对后重新填写。")]
    Checksum,
}

impl IdNumberError {
    /// A stable machine-readable code, e.g. `ID_NUMBER_CHECKSUM`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "ID_NUMBER_EMPTY",
            Self::Length { .. } => "ID_NUMBER_LENGTH",
            Self::Characters { .. } => "ID_NUMBER_CHARACTERS",
            Self::Region => "ID_NUMBER_REGION",
            Self::BirthDate | Self::BirthDateInFuture => "ID_NUMBER_BIRTH_DATE",
            Self::Checksum => "ID_NUMBER_CHECKSUM",
        }
    }
}

/// Sex (性别) as encoded in the ID number: the 17th digit is odd for men.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
}

impl Sex {
    /// The Chinese label: `男` or `女`.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Male => "男",
            Self::Female => "女",
        }
    }
}

impl std::fmt::Display for Sex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// A valid 18-character citizen ID number (居民身份证号码), which is also the
/// social security number (社会保障号码), GB 11643-1999:
/// 6-digit region code, 8-digit birth date (`YYYYMMDD`), 3-digit sequence
/// (odd for men) and a check character (`0`–`9` or `X`).
///
/// Sensitive personal information (PIPL art. 28): `Display` and `Debug` show
/// the masked form `450221********723X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber {
    /// Canonical form: 17 ASCII digits and a digit or `X`.
    value: String,
    /// Decoded from `value[6..14]`.
    birth_date: NaiveDate,
}

impl IdNumber {
    /// Parses an ID number without a clock: the birth date must be a real
    /// date in the years 1900..=2100. Use [`IdNumber::parse_at`] where a
    /// birth date in the future must also be rejected.
    ///
    /// Accepts surrounding whitespace (including U+3000), full-width digits
    /// and a lower-case `x`.
    ///
    /// # Errors
    ///
    /// The first rule broken, checked in the order empty, length, characters,
    /// region, birth date, check character.
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let value = normalize(input);
        if value.is_empty() {
            return Err(IdNumberError::Empty);
        }
        let len = value.chars().count();
        if len != 18 {
            return Err(IdNumberError::Length { actual: len });
        }
        if let Some(position) =
            first_invalid_position(&value, |i, c| c.is_ascii_digit() || (i == 17 && c == 'X'))
        {
            return Err(IdNumberError::Characters { position });
        }
        // From here on `value` is 18 ASCII characters.
        let province: u8 = value[..2].parse().map_err(|_| IdNumberError::Region)?;
        if !PROVINCE_CODES.contains(&province) {
            return Err(IdNumberError::Region);
        }
        let birth_date = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d")
            .ok()
            .filter(|d| YEARS.contains(&d.year()))
            .ok_or(IdNumberError::BirthDate)?;
        if id_check_char(&value[..17]) != value[17..].chars().next() {
            return Err(IdNumberError::Checksum);
        }
        Ok(Self { value, birth_date })
    }

    /// Like [`IdNumber::parse`], and also rejects a birth date after `today`
    /// with [`IdNumberError::BirthDateInFuture`] (code
    /// `ID_NUMBER_BIRTH_DATE`).
    ///
    /// # Errors
    ///
    /// As [`IdNumber::parse`], then the future birth date.
    pub fn parse_at(input: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let id = Self::parse(input)?;
        if id.birth_date > today {
            return Err(IdNumberError::BirthDateInFuture);
        }
        Ok(id)
    }

    /// The masked form: the first 6 and the last 4 characters, 8 stars in
    /// between, e.g. `450221********723X`.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_middle(&self.value, 6, 4)
    }

    /// The 6-digit administrative region code (行政区划代码) of the first
    /// registration, e.g. `450221`.
    #[must_use]
    pub fn region_code(&self) -> &str {
        &self.value[..6]
    }

    /// The birth date encoded in characters 7–14.
    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The sex encoded by the 17th digit (odd: male).
    #[must_use]
    pub fn sex(&self) -> Sex {
        if self.value.as_bytes()[16] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Age in completed years (周岁) on `date`: it goes up on the birthday
    /// itself; someone born on 29 February gets one year older on 1 March in
    /// common years. A `date` before the birth date gives 0.
    #[must_use]
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        let birth = self.birth_date;
        if date <= birth {
            return 0;
        }
        let mut years = date.year() - birth.year();
        if (date.month(), date.day()) < (birth.month(), birth.day()) {
            years -= 1;
        }
        u32::try_from(years).unwrap_or(0)
    }
}

identifier_impls!(
    IdNumber,
    IdNumberError,
    "Citizen ID number / social security number (居民身份证号码 / 社会保障号码), \
     GB 11643-1999: 18 characters, the last one a digit or X. Input may contain \
     surrounding spaces, full-width characters and a lower-case x; output is the \
     canonical upper-case half-width form.",
    "11010519491231002X"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn code(input: &str) -> &'static str {
        IdNumber::parse(input).unwrap_err().code()
    }

    #[test]
    fn standard_example_is_valid() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert_eq!(id.region_code(), "110105");
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn liujiang_example() {
        let id = IdNumber::parse("45022119850612723X").unwrap();
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.region_code(), "450221");
        assert_eq!(id.masked(), "450221********723X");
        assert_eq!(id.to_string(), "450221********723X");
    }

    #[test]
    fn lenient_input_is_canonicalised() {
        let canonical = IdNumber::parse("11010519491231002X").unwrap();
        for input in [
            "11010519491231002x",
            "  11010519491231002x\t",
            "\u{3000}１１０１０５１９４９１２３１００２Ｘ\u{3000}",
            " １１０１０５１９４９１２３１００２ｘ ",
        ] {
            let id = IdNumber::parse(input).unwrap();
            assert_eq!(id, canonical);
            assert_eq!(id.as_str(), "11010519491231002X");
        }
    }

    #[test]
    fn error_codes() {
        assert_eq!(code(""), "ID_NUMBER_EMPTY");
        assert_eq!(code(" \u{3000} "), "ID_NUMBER_EMPTY");
        assert_eq!(code("110105194912310"), "ID_NUMBER_LENGTH");
        assert_eq!(code("11010519491231002X1"), "ID_NUMBER_LENGTH");
        assert_eq!(code("1101051949123100XX"), "ID_NUMBER_CHARACTERS");
        assert_eq!(code("11010519491231002Y"), "ID_NUMBER_CHARACTERS");
        assert_eq!(code("1101051949123100２🦀"), "ID_NUMBER_CHARACTERS");
        assert_eq!(code("11010519491231002\u{00D7}"), "ID_NUMBER_CHARACTERS");
        assert_eq!(code("01010519491231002X"), "ID_NUMBER_REGION");
        assert_eq!(code("99010519491231002X"), "ID_NUMBER_REGION");
        assert_eq!(code("11010519490230002X"), "ID_NUMBER_BIRTH_DATE");
        assert_eq!(code("11010518991231002X"), "ID_NUMBER_BIRTH_DATE");
        assert_eq!(code("11010519491331002X"), "ID_NUMBER_BIRTH_DATE");
        assert_eq!(code("110105194912310021"), "ID_NUMBER_CHECKSUM");
        assert_eq!(code("110105194912310020"), "ID_NUMBER_CHECKSUM");
    }

    #[test]
    fn error_details_and_messages() {
        assert_eq!(
            IdNumber::parse("110105194912310").unwrap_err(),
            IdNumberError::Length { actual: 15 }
        );
        assert_eq!(
            IdNumber::parse("1101051949A231002X").unwrap_err(),
            IdNumberError::Characters { position: 11 }
        );
        let message = IdNumberError::Checksum.to_string();
        assert!(message.contains("校验位"));
        assert!(
            IdNumberError::Length { actual: 15 }
                .to_string()
                .contains("15位")
        );
    }

    #[test]
    fn feb_29_only_in_leap_years() {
        let first17 = "11010520000229001";
        let id = format!("{first17}{}", id_check_char(first17).unwrap());
        assert!(IdNumber::parse(&id).is_ok());
        let first17 = "11010519000229001"; // 1900 is not a leap year
        let id = format!("{first17}{}", id_check_char(first17).unwrap());
        assert_eq!(IdNumber::parse(&id).unwrap_err(), IdNumberError::BirthDate);
    }

    #[test]
    fn parse_at_rejects_future_birth_dates() {
        let first17 = "45022120300101001";
        let id = format!("{first17}{}", id_check_char(first17).unwrap());
        assert!(IdNumber::parse(&id).is_ok());
        let err = IdNumber::parse_at(&id, date(2026, 1, 1)).unwrap_err();
        assert_eq!(err, IdNumberError::BirthDateInFuture);
        assert_eq!(err.code(), "ID_NUMBER_BIRTH_DATE");
        assert!(IdNumber::parse_at(&id, date(2030, 1, 1)).is_ok());
        assert!(IdNumber::parse_at("11010519491231002X", date(2026, 1, 1)).is_ok());
    }

    #[test]
    fn age() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.age_on(date(1949, 12, 31)), 0);
        assert_eq!(id.age_on(date(1940, 1, 1)), 0);
        assert_eq!(id.age_on(date(1950, 12, 30)), 0);
        assert_eq!(id.age_on(date(1950, 12, 31)), 1);
        assert_eq!(id.age_on(date(2026, 1, 1)), 76);

        let first17 = "45022120080229001";
        let leap =
            IdNumber::parse(&format!("{first17}{}", id_check_char(first17).unwrap())).unwrap();
        assert_eq!(leap.age_on(date(2024, 2, 28)), 15);
        assert_eq!(leap.age_on(date(2024, 2, 29)), 16);
        assert_eq!(leap.age_on(date(2025, 2, 28)), 16);
        assert_eq!(leap.age_on(date(2025, 3, 1)), 17);
    }

    #[test]
    fn sex_labels_and_serde() {
        assert_eq!(Sex::Male.label_zh(), "男");
        assert_eq!(Sex::Female.to_string(), "女");
        assert_eq!(serde_json::to_string(&Sex::Male).unwrap(), "\"male\"");
        assert_eq!(
            serde_json::from_str::<Sex>("\"female\"").unwrap(),
            Sex::Female
        );
    }

    #[test]
    fn debug_and_display_never_leak() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let debug = format!("{id:?}");
        assert_eq!(debug, "IdNumber(\"110105********002X\")");
        assert!(!debug.contains("11010519491231002X"));
        assert!(!format!("{id}").contains("19491231"));
        assert!(!format!("{:?}", Some(&id)).contains("19491231"));
    }

    #[test]
    fn serde_uses_canonical_form_and_parse() {
        let id: IdNumber = serde_json::from_str("\" 11010519491231002x \"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"11010519491231002X\""
        );
        let err = serde_json::from_str::<IdNumber>("\"110105194912310021\"").unwrap_err();
        assert!(err.to_string().starts_with("ID_NUMBER_CHECKSUM: "));
        assert!(serde_json::from_str::<IdNumber>("18").is_err());
    }

    #[test]
    fn check_char_helper() {
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        assert_eq!(id_check_char("45022119850612723"), Some('X'));
        assert_eq!(id_check_char("1101051949123100X"), None);
        assert_eq!(id_check_char("１1010519491231002"), None);
        assert_eq!(id_check_char(""), None);
    }

    /// The first 17 characters of a structurally valid ID number.
    fn valid_first17() -> impl Strategy<Value = String> {
        let days = date(1900, 1, 1).num_days_from_ce()..=date(2100, 12, 31).num_days_from_ce();
        (
            proptest::sample::select(PROVINCE_CODES.to_vec()),
            0u32..10_000,
            days,
            0u32..1000,
        )
            .prop_map(|(province, rest, day, seq)| {
                let birth = NaiveDate::from_num_days_from_ce_opt(day).unwrap();
                format!("{province:02}{rest:04}{}{seq:03}", birth.format("%Y%m%d"))
            })
    }

    fn valid_id() -> impl Strategy<Value = String> {
        valid_first17().prop_map(|first17| {
            let check = id_check_char(&first17).unwrap();
            format!("{first17}{check}")
        })
    }

    proptest! {
        #[test]
        fn computed_check_char_parses(first17 in valid_first17()) {
            let check = id_check_char(&first17).unwrap();
            let id = IdNumber::parse(&format!("{first17}{check}")).unwrap();
            prop_assert_eq!(&id.as_str()[..17], first17.as_str());
            prop_assert_eq!(id.birth_date().format("%Y%m%d").to_string(), &first17[6..14]);
            let odd = (first17.as_bytes()[16] - b'0') % 2 == 1;
            prop_assert_eq!(id.sex() == Sex::Male, odd);
        }

        #[test]
        fn any_single_change_is_rejected(
            id in valid_id(),
            index in 0usize..18,
            replacement in proptest::sample::select("0123456789X".chars().collect::<Vec<_>>()),
        ) {
            let mut chars: Vec<char> = id.chars().collect();
            prop_assume!(chars[index] != replacement);
            chars[index] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(IdNumber::parse(&changed).is_err());
        }

        #[test]
        fn round_trips(id in valid_id()) {
            let parsed = IdNumber::parse(&id).unwrap();
            prop_assert_eq!(IdNumber::parse(parsed.as_str()).unwrap(), parsed.clone());
            let json = serde_json::to_string(&parsed).unwrap();
            prop_assert_eq!(serde_json::from_str::<IdNumber>(&json).unwrap(), parsed.clone());
            let lower = id.to_lowercase();
            prop_assert_eq!(IdNumber::parse(&format!(" {lower}\u{3000}")).unwrap(), parsed);
        }

        #[test]
        fn masked_never_contains_the_middle(id in valid_id()) {
            let parsed = IdNumber::parse(&id).unwrap();
            let masked = parsed.masked();
            prop_assert_eq!(&masked[..6], &id[..6]);
            prop_assert_eq!(&masked[6..14], "********");
            prop_assert_eq!(&masked[14..], &id[14..]);
            prop_assert!(!masked.contains(&id[6..14]));
            let debug = format!("{parsed:?}");
            prop_assert!(!debug.contains(&id[6..14]));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}", today_days in 0i32..1_000_000) {
            let _ = IdNumber::parse(&s);
            if let Some(today) = NaiveDate::from_num_days_from_ce_opt(today_days) {
                let _ = IdNumber::parse_at(&s, today);
            }
        }
    }
}
