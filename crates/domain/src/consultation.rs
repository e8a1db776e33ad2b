//! 互联网咨询 — a question about the item asked online, and its answer.
//!
//! A question asked without signing in can only be read back with its
//! consultation number **and** the random access code (查询码) handed out
//! once when it was asked: numbers are sequential and guessable, the code is
//! not (10 characters of a 32-character alphabet, 50 bits, and the look-up is
//! rate-limited). A signed-in cardholder's questions are read in their
//! account instead and have no code. Pure rules: no IO, no randomness — the
//! service draws the random bytes.

use std::fmt;

/// The shortest question, in characters.
pub const MIN_QUESTION_CHARS: usize = 5;
/// The longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// The longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 1000;

/// The characters of an access code: digits and upper-case letters without
/// the easily confused `0 O 1 I` — 32 of them, so a random byte's low five
/// bits pick one without bias.
pub const ACCESS_CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// The characters of an access code.
pub const ACCESS_CODE_LEN: usize = 10;

/// Why a question or an answer is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextRefusal {
    #[error("内容过短：请把问题写清楚（至少 5 个字）。")]
    TooShort,
    #[error("内容过长：问题请控制在 500 字以内，答复请控制在 1000 字以内。")]
    TooLong,
    #[error("内容含有不可见的控制字符，请删除后重新提交。")]
    ControlCharacters,
}

impl TextRefusal {
    /// `TEXT_TOO_SHORT`, `TEXT_TOO_LONG`, `TEXT_INVALID`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::TooShort => "TEXT_TOO_SHORT",
            Self::TooLong => "TEXT_TOO_LONG",
            Self::ControlCharacters => "TEXT_INVALID",
        }
    }
}

fn check_text(text: &str, min: usize, max: usize) -> Result<String, TextRefusal> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim();
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(TextRefusal::ControlCharacters);
    }
    let chars = text.chars().count();
    if chars < min {
        return Err(TextRefusal::TooShort);
    }
    if chars > max {
        return Err(TextRefusal::TooLong);
    }
    Ok(text.to_owned())
}

/// A question as stored: trimmed, line breaks as `\n`.
///
/// # Errors
///
/// [`TextRefusal`] for fewer than [`MIN_QUESTION_CHARS`] or more than
/// [`MAX_QUESTION_CHARS`] characters, or control characters.
pub fn check_question(text: &str) -> Result<String, TextRefusal> {
    check_text(text, MIN_QUESTION_CHARS, MAX_QUESTION_CHARS)
}

/// An answer as stored.
///
/// # Errors
///
/// [`TextRefusal`] for an empty answer, more than [`MAX_ANSWER_CHARS`]
/// characters, or control characters.
pub fn check_answer(text: &str) -> Result<String, TextRefusal> {
    check_text(text, 1, MAX_ANSWER_CHARS)
}

/// A random access code, from [`ACCESS_CODE_LEN`] random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessCode(String);

impl AccessCode {
    /// The code drawn from `random` (one character per byte, its low five
    /// bits; each character is uniform when the bytes are).
    #[must_use]
    pub fn from_random(random: [u8; ACCESS_CODE_LEN]) -> Self {
        Self(
            random
                .iter()
                .map(|b| char::from(ACCESS_CODE_ALPHABET[usize::from(b & 0x1f)]))
                .collect(),
        )
    }

    /// A code as typed: spaces and dashes dropped, lower case and full-width
    /// forms folded; `None` unless it has the code's length and alphabet.
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        let code: String = crate::identifiers::normalize(input)
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (code.len() == ACCESS_CODE_LEN && code.bytes().all(|b| ACCESS_CODE_ALPHABET.contains(&b)))
            .then_some(Self(code))
    }

    /// The canonical form (what is hashed).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown to the asker: two groups of five, `ABCDE-23456`.
    #[must_use]
    pub fn grouped(&self) -> String {
        format!("{}-{}", &self.0[..5], &self.0[5..])
    }
}

impl fmt::Debug for AccessCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessCode(***)")
    }
}

/// Where a consultation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsultationStatus {
    /// 待答复.
    Open,
    /// 已答复.
    Answered,
}

impl ConsultationStatus {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Answered => "answered",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Open => "待答复",
            Self::Answered => "已答复",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Open, Self::Answered]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn questions_and_answers_are_trimmed_and_limited() {
        assert_eq!(
            check_question("  金融功能可以代办吗？\r\n谢谢 "),
            Ok("金融功能可以代办吗？\n谢谢".to_owned())
        );
        assert_eq!(check_question("请问"), Err(TextRefusal::TooShort));
        assert_eq!(
            check_question(&"问".repeat(MAX_QUESTION_CHARS + 1)),
            Err(TextRefusal::TooLong)
        );
        assert_eq!(
            check_question("请问\u{7}可以吗可以吗"),
            Err(TextRefusal::ControlCharacters)
        );
        assert_eq!(check_answer(" "), Err(TextRefusal::TooShort));
        assert_eq!(check_answer("可以。"), Ok("可以。".to_owned()));
    }

    #[test]
    fn an_access_code_reads_back_as_typed() {
        let code = AccessCode::from_random([0, 1, 2, 3, 4, 31, 32, 63, 200, 255]);
        assert_eq!(code.as_str(), "23456Z2ZAZ");
        assert_eq!(code.as_str().len(), ACCESS_CODE_LEN);
        let grouped = code.grouped();
        assert_eq!(grouped.len(), ACCESS_CODE_LEN + 1);
        assert_eq!(AccessCode::parse(&grouped), Some(code.clone()));
        assert_eq!(
            AccessCode::parse(&grouped.to_lowercase().replace('-', " ")),
            Some(code.clone())
        );
        assert_eq!(AccessCode::parse("ABCDE-1234O"), None, "no 0 O 1 I");
        assert_eq!(AccessCode::parse("ABCDE"), None);
        assert_eq!(format!("{code:?}"), "AccessCode(***)");
    }

    proptest! {
        #[test]
        fn every_drawn_code_parses_back(random in any::<[u8; ACCESS_CODE_LEN]>()) {
            let code = AccessCode::from_random(random);
            prop_assert_eq!(AccessCode::parse(code.as_str()), Some(code.clone()));
            prop_assert_eq!(AccessCode::parse(&code.grouped()), Some(code));
        }
    }
}
