//! Masking helpers for showing identifiers on screens, in lists and in logs.
//!
//! PIPL (个人信息保护法) art. 28 makes ID numbers and financial-account data
//! sensitive personal information, so every identifier in
//! [`crate::identifiers`] is shown masked by default, e.g. `450221********123X`,
//! `A1234****`, `6217 **** **** 1234`, `138****5678`.
//!
//! All helpers work on `char`s, never on bytes, so they never split a UTF-8
//! sequence and never panic. They are fail-safe: when a value is too short to
//! keep the requested ends and still hide something, everything is masked.

/// The character that replaces hidden characters.
pub const MASK_CHAR: char = '*';

/// Keeps the first `keep_start` and the last `keep_end` characters of `s` and
/// replaces every character in between by [`MASK_CHAR`]; the length is kept.
///
/// If `keep_start + keep_end` is not smaller than the number of characters,
/// nothing would be hidden, so every character is masked instead.
///
/// ```
/// use sscard_domain::mask::mask_middle;
/// assert_eq!(mask_middle("45022119900101123X", 6, 4), "450221********123X");
/// assert_eq!(mask_middle("A12345678", 5, 0), "A1234****");
/// assert_eq!(mask_middle("13812345678", 3, 4), "138****5678");
/// assert_eq!(mask_middle("abc", 2, 1), "***");
/// ```
#[must_use]
pub fn mask_middle(s: &str, keep_start: usize, keep_end: usize) -> String {
    let len = s.chars().count();
    if keep_start.saturating_add(keep_end) >= len {
        return mask_all(s);
    }
    let hidden_end = len - keep_end;
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_start || i >= hidden_end {
                c
            } else {
                MASK_CHAR
            }
        })
        .collect()
}

/// Replaces every character of `s` by [`MASK_CHAR`], keeping the length.
#[must_use]
pub fn mask_all(s: &str) -> String {
    s.chars().map(|_| MASK_CHAR).collect()
}

/// Splits `s` into groups of `size` characters separated by one space, from
/// the start (the last group may be shorter). A `size` of 0 returns `s`
/// unchanged.
///
/// ```
/// use sscard_domain::mask::group;
/// assert_eq!(group("6217000010001234567", 4), "6217 0000 1000 1234 567");
/// ```
#[must_use]
pub fn group(s: &str, size: usize) -> String {
    if size == 0 {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + s.len() / size);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % size == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Masks a bank card number (银行卡号) the way Chinese banks display it:
/// the first 4 and the last 4 digits in groups of four around two groups of
/// stars, `6217 **** **** 1234`.
///
/// The masked form has the same shape whatever the length (16 to 19 digits),
/// so it does not disclose the length either. Input with fewer than 9
/// characters (which no valid card number has) is fully masked.
///
/// ```
/// use sscard_domain::mask::mask_bank_card;
/// assert_eq!(mask_bank_card("6217000010001234"), "6217 **** **** 1234");
/// assert_eq!(mask_bank_card("6217000010001231234"), "6217 **** **** 1234");
/// ```
#[must_use]
pub fn mask_bank_card(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 9 {
        return mask_all(s);
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head} **** **** {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn domain_examples() {
        assert_eq!(
            mask_middle("45022119900307123X", 6, 4),
            "450221********123X"
        );
        assert_eq!(mask_middle("A12345678", 5, 0), "A1234****");
        assert_eq!(mask_middle("13812345678", 3, 4), "138****5678");
        assert_eq!(mask_bank_card("6217000010001234"), "6217 **** **** 1234");
        assert_eq!(mask_bank_card("6217000010001234567"), "6217 **** **** 4567");
    }

    #[test]
    fn mask_middle_is_char_based() {
        assert_eq!(mask_middle("张三丰李四", 1, 1), "张***四");
        assert_eq!(mask_middle("🦀🦀🦀", 1, 1), "🦀*🦀");
    }

    #[test]
    fn too_short_is_fully_masked() {
        assert_eq!(mask_middle("", 1, 1), "");
        assert_eq!(mask_middle("ab", 1, 1), "**");
        assert_eq!(mask_middle("abc", 3, 0), "***");
        assert_eq!(mask_middle("abc", usize::MAX, usize::MAX), "***");
        assert_eq!(mask_bank_card("12345678"), "********");
    }

    #[test]
    fn group_splits_from_start() {
        assert_eq!(group("", 4), "");
        assert_eq!(group("1234", 4), "1234");
        assert_eq!(group("12345", 4), "1234 5");
        assert_eq!(group("abc", 0), "abc");
    }

    proptest! {
        #[test]
        fn mask_middle_keeps_length_and_ends(
            s in "\\PC{0,40}",
            keep_start in 0usize..10,
            keep_end in 0usize..10,
        ) {
            let masked = mask_middle(&s, keep_start, keep_end);
            let chars: Vec<char> = s.chars().collect();
            let out: Vec<char> = masked.chars().collect();
            prop_assert_eq!(out.len(), chars.len());
            if keep_start + keep_end >= chars.len() {
                prop_assert!(out.iter().all(|&c| c == MASK_CHAR));
            } else {
                prop_assert_eq!(&out[..keep_start], &chars[..keep_start]);
                prop_assert_eq!(
                    &out[chars.len() - keep_end..],
                    &chars[chars.len() - keep_end..]
                );
                prop_assert!(
                    out[keep_start..chars.len() - keep_end]
                        .iter()
                        .all(|&c| c == MASK_CHAR)
                );
            }
        }

        #[test]
        fn mask_bank_card_never_shows_the_middle(s in "[0-9]{16,19}") {
            let masked = mask_bank_card(&s);
            prop_assert_eq!(masked.len(), 19);
            prop_assert!(masked.starts_with(&s[..4]));
            prop_assert!(masked.ends_with(&s[s.len() - 4..]));
            prop_assert_eq!(masked.chars().filter(char::is_ascii_digit).count(), 8);
        }
    }
}
