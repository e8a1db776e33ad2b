//! 送达 by express (快递寄送, at government cost — 送达付费方式：政府支付):
//! the delivery status the 反馈岗 records after posting the result.
//!
//! ```text
//! 已寄出 ──Signed───▶ 已签收 (terminal)
//!   │  ▲
//!   │  └──Resent (new carrier and waybill)── 退回
//!   └──Returned──▶ 退回
//! ```
//!
//! Pure rules: no IO, no clock.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a posted result is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpressStatus {
    /// 已寄出 — handed to the carrier (set by 送达).
    Posted,
    /// 已签收 — the recipient signed for it; terminal.
    Signed,
    /// 退回 — it came back (wrong address, nobody there, refused).
    Returned,
}

impl ExpressStatus {
    pub const ALL: [Self; 3] = [Self::Posted, Self::Signed, Self::Returned];

    /// `posted`, `signed`, `returned`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Signed => "signed",
            Self::Returned => "returned",
        }
    }

    /// 已寄出, 已签收, 退回.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Posted => "已寄出",
            Self::Signed => "已签收",
            Self::Returned => "退回",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code.trim())
    }

    /// The status after `change`, if it applies now.
    #[must_use]
    pub fn next(self, change: ExpressChange) -> Option<Self> {
        match (self, change) {
            (Self::Posted, ExpressChange::Signed) => Some(Self::Signed),
            (Self::Posted, ExpressChange::Returned) => Some(Self::Returned),
            (Self::Returned, ExpressChange::Resent) => Some(Self::Posted),
            _ => None,
        }
    }

    /// What may be recorded now.
    #[must_use]
    pub fn available_changes(self) -> Vec<ExpressChange> {
        ExpressChange::ALL
            .into_iter()
            .filter(|c| self.next(*c).is_some())
            .collect()
    }

    /// Records `change`.
    ///
    /// # Errors
    ///
    /// [`ExpressError`] when the change does not apply to the status.
    pub fn apply(self, change: ExpressChange) -> Result<Self, ExpressError> {
        self.next(change).ok_or(ExpressError {
            current: self,
            attempted: change,
        })
    }
}

/// What the 反馈岗 records about a posted result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpressChange {
    /// 已签收.
    Signed,
    /// 退回.
    Returned,
    /// 重新寄出 — posted again after a return, with a new waybill.
    Resent,
}

impl ExpressChange {
    pub const ALL: [Self; 3] = [Self::Signed, Self::Returned, Self::Resent];

    /// `signed`, `returned`, `resent`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Returned => "returned",
            Self::Resent => "resent",
        }
    }

    /// 已签收, 退回, 重新寄出.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Signed => "已签收",
            Self::Returned => "退回",
            Self::Resent => "重新寄出",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code.trim())
    }

    /// A new carrier and waybill number come with it.
    #[must_use]
    pub fn needs_waybill(self) -> bool {
        self == Self::Resent
    }
}

/// A change that does not apply to the current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ExpressError {
    pub current: ExpressStatus,
    pub attempted: ExpressChange,
}

impl ExpressError {
    /// `DELIVERY_STATUS_CONFLICT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "DELIVERY_STATUS_CONFLICT"
    }
}

impl fmt::Display for ExpressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed: Vec<&str> = self
            .current
            .available_changes()
            .into_iter()
            .map(ExpressChange::label_zh)
            .collect();
        let then = if allowed.is_empty() {
            "寄送已结束，无需再登记。".to_owned()
        } else {
            format!("当前可登记：{}。", allowed.join("、"))
        };
        write!(
            f,
            "寄送状态为“{}”，不能登记“{}”。{then}",
            self.current.label_zh(),
            self.attempted.label_zh()
        )
    }
}

/// A waybill number as typed: 6–30 letters, digits or `-`, upper-cased.
#[must_use]
pub fn parse_waybill(input: &str) -> Option<String> {
    let waybill = input.trim().to_ascii_uppercase();
    (waybill.len() >= 6
        && waybill.len() <= 30
        && waybill
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    .then_some(waybill)
}

/// A carrier's name as typed: 1–30 characters, no control characters.
#[must_use]
pub fn parse_carrier(input: &str) -> Option<String> {
    let carrier = input.trim();
    (!carrier.is_empty() && carrier.chars().count() <= 30 && !carrier.chars().any(char::is_control))
        .then(|| carrier.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_posted_result_is_signed_for_or_comes_back_and_is_posted_again() {
        use ExpressChange::{Resent, Returned, Signed};
        let posted = ExpressStatus::Posted;
        assert_eq!(posted.apply(Signed), Ok(ExpressStatus::Signed));
        assert_eq!(posted.apply(Returned), Ok(ExpressStatus::Returned));
        assert_eq!(
            ExpressStatus::Returned.apply(Resent),
            Ok(ExpressStatus::Posted)
        );
        let error = ExpressStatus::Signed.apply(Returned).unwrap_err();
        assert_eq!(error.code(), "DELIVERY_STATUS_CONFLICT");
        assert!(error.to_string().contains("已签收"), "{error}");
        assert!(posted.apply(Resent).is_err());
        assert!(ExpressStatus::Returned.apply(Signed).is_err());
        for status in ExpressStatus::ALL {
            assert_eq!(ExpressStatus::from_code(status.code()), Some(status));
        }
        for change in ExpressChange::ALL {
            assert_eq!(ExpressChange::from_code(change.code()), Some(change));
        }
    }

    #[test]
    fn waybills_and_carriers_are_checked() {
        assert_eq!(
            parse_waybill(" ems1234567cn "),
            Some("EMS1234567CN".to_owned())
        );
        assert_eq!(parse_waybill("12345"), None);
        assert_eq!(parse_waybill("SF 123456"), None);
        assert_eq!(
            parse_carrier(" 中国邮政EMS "),
            Some("中国邮政EMS".to_owned())
        );
        assert_eq!(parse_carrier(""), None);
        assert_eq!(parse_carrier(&"快".repeat(31)), None);
    }

    proptest! {
        #[test]
        fn signed_is_final_and_reached_only_from_posted(
            changes in prop::collection::vec(prop::sample::select(ExpressChange::ALL.to_vec()), 0..20)
        ) {
            let mut status = ExpressStatus::Posted;
            for change in changes {
                let before = status;
                match status.apply(change) {
                    Ok(next) => {
                        prop_assert_ne!(before, ExpressStatus::Signed);
                        if next == ExpressStatus::Signed {
                            prop_assert_eq!(before, ExpressStatus::Posted);
                        }
                        status = next;
                    }
                    Err(error) => {
                        prop_assert_eq!(error.current, before);
                        prop_assert!(!before.available_changes().contains(&change));
                    }
                }
            }
        }
    }
}
