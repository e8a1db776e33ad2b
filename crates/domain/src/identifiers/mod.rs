//! Identifiers of the domain, each a newtype that can only hold a valid value.
//!
//! Parse, don't validate: every type has a `parse` constructor that
//! normalises the input (see [`normalize`]), checks it completely (length,
//! character set, structure and check character) and returns a typed error
//! with a stable upper-snake `code()` and a Chinese message for the person
//! who typed it. Once constructed, a value is valid.
//!
//! Every identifier offers:
//! - `as_str()`: the canonical form (half-width, upper-case, no separators),
//!   which is also what `Serialize` writes;
//! - `masked()`: the masked display form ([`crate::mask`]); `Display` and
//!   `Debug` print the masked form, so the full value never leaks into logs
//!   or templates by accident;
//! - `Deserialize` through `parse`, so an invalid value fails to deserialize
//!   (the serde error message is `"<CODE>: <Chinese message>"`);
//! - `FromStr` through `parse`;
//! - `utoipa::ToSchema` as a `string` schema with a description and example.
//!
//! Error messages never repeat the input (it is sensitive personal
//! information under PIPL, 个人信息保护法).

mod bank_card;
mod card_id_code;
mod card_number;
mod id_number;
mod mobile;
mod uscc;

pub use bank_card::{BankCardNumber, BankCardNumberError, luhn_check_digit, luhn_is_valid};
pub use card_id_code::{CardIdentificationCode, CardIdentificationCodeError};
pub use card_number::{CardNumber, CardNumberError};
pub use id_number::{IdNumber, IdNumberError, Sex, id_check_char};
pub use mobile::{MobileNumber, MobileNumberError};
pub use uscc::{Uscc, UsccError, uscc_check_char};

/// Normalises raw input the same way for every identifier:
///
/// 1. trims surrounding whitespace (including the full-width space U+3000)
///    and the invisible zero-width space U+200B and byte-order mark U+FEFF
///    that copy-and-paste often brings along;
/// 2. converts full-width ASCII variants (U+FF01..=U+FF5E: digits `０`–`９`,
///    letters `Ａ`–`Ｚ` and `ａ`–`ｚ`, and signs like `＋` `－`) and inner
///    full-width spaces to their ASCII equivalents;
/// 3. upper-cases ASCII letters.
///
/// Any other character is kept as is (and then rejected by the identifier's
/// own character check).
#[must_use]
pub fn normalize(input: &str) -> String {
    input
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{200B}' || c == '\u{FEFF}')
        .chars()
        .map(|c| to_half_width(c).to_ascii_uppercase())
        .collect()
}

/// Maps one full-width ASCII variant (or U+3000) to its ASCII counterpart.
fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// True for the separators that bank card and mobile numbers may contain
/// between digit groups: whitespace and hyphens (after [`normalize`]).
fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == '-'
}

/// The 1-based position of the first character of `s` that fails `ok`.
fn first_invalid_position(s: &str, ok: impl Fn(usize, char) -> bool) -> Option<usize> {
    s.chars()
        .enumerate()
        .find(|&(i, c)| !ok(i, c))
        .map(|(i, _)| i + 1)
}

/// The trait impls shared by every identifier newtype. The type must have a
/// `value: String` field holding the canonical form, an inherent
/// `parse(&str) -> Result<Self, $err>` and `masked() -> String`; the error
/// type must have `code() -> &'static str` and implement `Display`.
macro_rules! identifier_impls {
    ($ty:ident, $err:ident, $description:expr, $example:expr) => {
        impl $ty {
            /// The canonical form: half-width, upper-case, no separators.
            ///
            /// This is the full, unmasked value: treat it as sensitive
            /// personal information unless the type's docs say otherwise.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.value
            }

            /// Consumes the identifier and returns its canonical form.
            #[must_use]
            pub fn into_string(self) -> String {
                self.value
            }
        }

        impl ::std::fmt::Display for $ty {
            /// Writes the masked form, never the full value.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.masked())
            }
        }

        impl ::std::fmt::Debug for $ty {
            /// Writes the masked form, never the full value.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.masked())
                    .finish()
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.value)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                Self::parse(&raw).map_err(|e| {
                    let code = e.code();
                    <D::Error as ::serde::de::Error>::custom(format!("{code}: {e}"))
                })
            }
        }

        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    .examples([$example])
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $ty {}
    };
}
use identifier_impls;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalize_trims_and_converts() {
        assert_eq!(normalize("\u{3000} １２ａｂＸ－＋ \t"), "12ABX-+");
        assert_eq!(normalize("\u{FEFF}\u{200B}abc\u{200B}"), "ABC");
        assert_eq!(normalize("1\u{3000}2"), "1 2");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("张三"), "张三");
    }

    #[test]
    fn schemas_are_strings_with_examples() {
        use utoipa::PartialSchema;
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        for schema in [
            IdNumber::schema(),
            Uscc::schema(),
            CardNumber::schema(),
            CardIdentificationCode::schema(),
            BankCardNumber::schema(),
            MobileNumber::schema(),
        ] {
            let RefOr::T(Schema::Object(object)) = schema else {
                panic!("expected an inline object schema");
            };
            assert!(object.schema_type == SchemaType::Type(Type::String));
            assert!(object.description.is_some());
            assert_eq!(object.examples.len(), 1);
        }
    }

    #[test]
    fn schema_examples_parse() {
        use utoipa::PartialSchema;
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        fn example(schema: RefOr<Schema>) -> String {
            let RefOr::T(Schema::Object(object)) = schema else {
                panic!("expected an inline object schema");
            };
            object.examples[0].as_str().unwrap().to_owned()
        }
        IdNumber::parse(&example(IdNumber::schema())).unwrap();
        Uscc::parse(&example(Uscc::schema())).unwrap();
        CardNumber::parse(&example(CardNumber::schema())).unwrap();
        CardIdentificationCode::parse(&example(CardIdentificationCode::schema())).unwrap();
        BankCardNumber::parse(&example(BankCardNumber::schema())).unwrap();
        MobileNumber::parse(&example(MobileNumber::schema())).unwrap();
    }

    proptest! {
        #[test]
        fn normalize_never_panics_and_is_idempotent(s in any::<String>()) {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn no_parser_panics_on_arbitrary_input(s in any::<String>()) {
            let _ = IdNumber::parse(&s);
            let _ = Uscc::parse(&s);
            let _ = CardNumber::parse(&s);
            let _ = CardIdentificationCode::parse(&s);
            let _ = BankCardNumber::parse(&s);
            let _ = MobileNumber::parse(&s);
        }

        #[test]
        fn no_parser_panics_on_near_miss_input(s in "[0-9a-zA-Z０-９ａ-ｚ +\\-\u{3000}🦀é]{0,40}") {
            let _ = IdNumber::parse(&s);
            let _ = Uscc::parse(&s);
            let _ = CardNumber::parse(&s);
            let _ = CardIdentificationCode::parse(&s);
            let _ = BankCardNumber::parse(&s);
            let _ = MobileNumber::parse(&s);
        }
    }

    #[test]
    fn huge_inputs_are_rejected_without_panicking() {
        for s in [
            "1".repeat(1_000_000),
            "🦀".repeat(100_000),
            format!("{}X", "１".repeat(100_000)),
            " ".repeat(100_000),
        ] {
            assert!(IdNumber::parse(&s).is_err());
            assert!(Uscc::parse(&s).is_err());
            assert!(CardNumber::parse(&s).is_err());
            assert!(CardIdentificationCode::parse(&s).is_err());
            assert!(BankCardNumber::parse(&s).is_err());
            assert!(MobileNumber::parse(&s).is_err());
        }
    }
}
