//! 好差评 — the rating of a case, and 整改回访 — the follow-up of a bad one.
//!
//! 国办发〔2019〕51号 and GB/T 39734-2020 (一次一评、一事一评): once a case has
//! ended (已办结, whatever its outcome, or 不予受理) its applicant may rate it
//! once, on five levels, with an optional comment. A bad rating (不满意,
//! 非常不满意) opens a follow-up for supervisors, due a number of working days
//! after the day of the rating (configurable, 5 by default), on which the
//! rectification (整改情况) and the call-back to the applicant (回访) are
//! recorded before it is closed.
//!
//! # The follow-up
//!
//! ```text
//! 待整改 ──Rectification──▶ 已整改待回访 ──CallBack──▶ 已回访待办结 ──Close──▶ 已办结
//!                            │  ▲ Rectification            │ Rectification
//!                            └──┘ (amended)                 └──▶ 已整改待回访 (another round)
//! ```
//!
//! Pure rules: no IO, no clock; the day of the rating and today are passed in.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::{Deadline, DeadlineError, WorkingCalendar};
use crate::case::CaseState;

// ---------------------------------------------------------------------------
// Levels
// ---------------------------------------------------------------------------

/// 评价等级: the five levels of a rating, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingLevel {
    /// 非常满意.
    VerySatisfied,
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意 — a bad rating.
    Dissatisfied,
    /// 非常不满意 — a bad rating.
    VeryDissatisfied,
}

impl RatingLevel {
    /// Every level, best first (the order shown to a person rating).
    pub const ALL: [Self; 5] = [
        Self::VerySatisfied,
        Self::Satisfied,
        Self::BasicallySatisfied,
        Self::Dissatisfied,
        Self::VeryDissatisfied,
    ];

    /// The stable code: `very_satisfied`, `satisfied`,
    /// `basically_satisfied`, `dissatisfied`, `very_dissatisfied`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::VerySatisfied => "very_satisfied",
            Self::Satisfied => "satisfied",
            Self::BasicallySatisfied => "basically_satisfied",
            Self::Dissatisfied => "dissatisfied",
            Self::VeryDissatisfied => "very_dissatisfied",
        }
    }

    /// 非常满意, 满意, 基本满意, 不满意, 非常不满意.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::VerySatisfied => "非常满意",
            Self::Satisfied => "满意",
            Self::BasicallySatisfied => "基本满意",
            Self::Dissatisfied => "不满意",
            Self::VeryDissatisfied => "非常不满意",
        }
    }

    /// Reads a level from its code (surrounding blanks ignored).
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code.trim())
    }

    /// 差评: 不满意 and 非常不满意, which open a follow-up.
    #[must_use]
    pub fn is_bad(self) -> bool {
        matches!(self, Self::Dissatisfied | Self::VeryDissatisfied)
    }
}

impl fmt::Display for RatingLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// How a rating was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingChannel {
    /// 网上评价 — by the signed-in cardholder.
    Online,
    /// 窗口评价 — recorded by a window clerk for the applicant.
    Window,
}

impl RatingChannel {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Window => "window",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Online => "网上评价",
            Self::Window => "窗口评价（工作人员代为登记）",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Online, Self::Window]
            .into_iter()
            .find(|c| c.code() == code)
    }
}

// ---------------------------------------------------------------------------
// Who may rate, and what
// ---------------------------------------------------------------------------

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 300;

/// Why a rating is refused, each with a stable code and a Chinese message
/// saying what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RatingRefusal {
    /// The case has not ended yet.
    #[error("办件尚未办结，办结（或不予受理）后才能评价。请在办件办结后再评价。")]
    CaseNotEnded,
    /// The case was rated already (一次一评).
    #[error("该办件已经评价过了，每个办件只能评价一次。")]
    AlreadyRated,
    /// The level is not one of the five.
    #[error(
        "请选择评价等级：非常满意（very_satisfied）、满意（satisfied）、基本满意（basically_satisfied）、不满意（dissatisfied）或非常不满意（very_dissatisfied）。"
    )]
    LevelInvalid,
    /// The comment is longer than [`MAX_COMMENT_CHARS`].
    #[error("评价意见请控制在 300 字以内。")]
    CommentTooLong,
    /// The comment holds control characters.
    #[error("评价意见含有不可见的控制字符，请删除后重新提交。")]
    CommentInvalid,
}

impl RatingRefusal {
    /// `CASE_NOT_ENDED`, `ALREADY_RATED`, `RATING_LEVEL_INVALID`,
    /// `COMMENT_TOO_LONG`, `COMMENT_INVALID`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::CaseNotEnded => "CASE_NOT_ENDED",
            Self::AlreadyRated => "ALREADY_RATED",
            Self::LevelInvalid => "RATING_LEVEL_INVALID",
            Self::CommentTooLong => "COMMENT_TOO_LONG",
            Self::CommentInvalid => "COMMENT_INVALID",
        }
    }
}

/// Whether a case in `state` may be rated now: it has ended (已办结 with any
/// outcome, or 不予受理) and has no rating yet.
///
/// # Errors
///
/// [`RatingRefusal::CaseNotEnded`], then [`RatingRefusal::AlreadyRated`].
pub fn may_rate(state: CaseState, already_rated: bool) -> Result<(), RatingRefusal> {
    if !state.is_terminal() {
        return Err(RatingRefusal::CaseNotEnded);
    }
    if already_rated {
        return Err(RatingRefusal::AlreadyRated);
    }
    Ok(())
}

/// Reads a level as typed.
///
/// # Errors
///
/// [`RatingRefusal::LevelInvalid`].
pub fn parse_level(code: &str) -> Result<RatingLevel, RatingRefusal> {
    RatingLevel::from_code(code).ok_or(RatingRefusal::LevelInvalid)
}

/// A comment as it is stored: trimmed, line breaks as `\n`, `None` when
/// blank. Citizens' free text: it is stored as typed and escaped wherever it
/// is shown.
///
/// # Errors
///
/// [`RatingRefusal::CommentTooLong`] beyond [`MAX_COMMENT_CHARS`] characters,
/// [`RatingRefusal::CommentInvalid`] for control characters other than line
/// breaks and tabs.
pub fn check_comment(text: Option<&str>) -> Result<Option<String>, RatingRefusal> {
    let Some(text) = text else {
        return Ok(None);
    };
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(RatingRefusal::CommentInvalid);
    }
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(RatingRefusal::CommentTooLong);
    }
    Ok(Some(text.to_owned()))
}

// ---------------------------------------------------------------------------
// The follow-up of a bad rating
// ---------------------------------------------------------------------------

/// The follow-up time limit unless configured, in working days.
pub const DEFAULT_FOLLOW_UP_WORKING_DAYS: u32 = 5;
/// The longest follow-up time limit accepted, in working days.
pub const MAX_FOLLOW_UP_WORKING_DAYS: u32 = 60;

/// Whether a rating of `level` opens a follow-up (差评整改).
#[must_use]
pub fn needs_follow_up(level: RatingLevel) -> bool {
    level.is_bad()
}

/// When the follow-up of a rating given on `rated_on` (China's calendar) is
/// due: the end of the `working_days`-th working day after it (a rating on a
/// day off counts from the next working day), by the working-day calendar;
/// provisional when a year on the way is not loaded.
///
/// # Errors
///
/// [`DeadlineError`] for a limit or date out of range.
pub fn follow_up_deadline(
    calendar: &WorkingCalendar,
    rated_on: NaiveDate,
    working_days: u32,
) -> Result<Deadline, DeadlineError> {
    calendar.deadline(rated_on, working_days)
}

/// Where a follow-up stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    /// 待整改.
    Open,
    /// 已整改待回访.
    Rectified,
    /// 已回访待办结.
    CalledBack,
    /// 已办结 — terminal.
    Closed,
}

impl FollowUpStatus {
    pub const ALL: [Self; 4] = [Self::Open, Self::Rectified, Self::CalledBack, Self::Closed];

    /// `open`, `rectified`, `called_back`, `closed`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Rectified => "rectified",
            Self::CalledBack => "called_back",
            Self::Closed => "closed",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Open => "待整改",
            Self::Rectified => "已整改，待回访",
            Self::CalledBack => "已回访，待办结",
            Self::Closed => "已办结",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// What may be recorded now.
    #[must_use]
    pub fn available_steps(self) -> Vec<FollowUpStep> {
        FollowUpStep::ALL
            .into_iter()
            .filter(|step| self.next(*step).is_some())
            .collect()
    }

    /// The status after recording `step`, if it may be recorded now.
    #[must_use]
    pub fn next(self, step: FollowUpStep) -> Option<Self> {
        match (self, step) {
            (Self::Open | Self::Rectified | Self::CalledBack, FollowUpStep::Rectification) => {
                Some(Self::Rectified)
            }
            (Self::Rectified, FollowUpStep::CallBack) => Some(Self::CalledBack),
            (Self::CalledBack, FollowUpStep::Close) => Some(Self::Closed),
            _ => None,
        }
    }

    /// Records `step`.
    ///
    /// # Errors
    ///
    /// [`FollowUpError`] naming the status and the step when the step does
    /// not apply now (the call-back before the rectification, closing
    /// before the call-back, anything after closing).
    pub fn apply(self, step: FollowUpStep) -> Result<Self, FollowUpError> {
        self.next(step).ok_or(FollowUpError {
            current: self,
            attempted: step,
        })
    }

    /// Closed follow-ups are done.
    #[must_use]
    pub fn is_closed(self) -> bool {
        self == Self::Closed
    }
}

/// What a supervisor records on a follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStep {
    /// 整改情况: what was done about the complaint.
    Rectification,
    /// 回访: the call-back to the applicant, with its result.
    CallBack,
    /// 办结: the follow-up is done.
    Close,
}

impl FollowUpStep {
    pub const ALL: [Self; 3] = [Self::Rectification, Self::CallBack, Self::Close];

    /// The URL segment: `rectification`, `call-back`, `close`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Rectification => "rectification",
            Self::CallBack => "call-back",
            Self::Close => "close",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Rectification => "登记整改情况",
            Self::CallBack => "登记回访结果",
            Self::Close => "办结",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A follow-up step that does not apply in the current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FollowUpError {
    pub current: FollowUpStatus,
    pub attempted: FollowUpStep,
}

impl FollowUpError {
    /// `FOLLOW_UP_STATE_CONFLICT`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "FOLLOW_UP_STATE_CONFLICT"
    }
}

impl fmt::Display for FollowUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = match (self.current, self.attempted) {
            (FollowUpStatus::Closed, _) => "该整改回访已办结，不能再登记。",
            (_, FollowUpStep::CallBack) => "请先登记整改情况，再登记回访结果。",
            (_, FollowUpStep::Close) => "请先登记整改情况和回访结果，再办结。",
            (_, FollowUpStep::Rectification) => "当前不能登记整改情况。",
        };
        write!(
            f,
            "该整改回访当前为“{}”，不能“{}”：{hint}",
            self.current.label_zh(),
            self.attempted.label_zh()
        )
    }
}

/// 回访结果: what the applicant said when called back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallBackResult {
    /// 满意 — the applicant is satisfied with the rectification.
    Satisfied,
    /// 仍不满意 — another round of rectification may follow.
    Unsatisfied,
    /// 未能联系上.
    Unreachable,
}

impl CallBackResult {
    pub const ALL: [Self; 3] = [Self::Satisfied, Self::Unsatisfied, Self::Unreachable];

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Satisfied => "satisfied",
            Self::Unsatisfied => "unsatisfied",
            Self::Unreachable => "unreachable",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Satisfied => "申请人对整改满意",
            Self::Unsatisfied => "申请人仍不满意",
            Self::Unreachable => "未能联系上申请人",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code.trim())
    }
}

/// A follow-up is overdue when it is not closed and its due day has passed.
#[must_use]
pub fn is_overdue(status: FollowUpStatus, due_on: NaiveDate, today: NaiveDate) -> bool {
    !status.is_closed() && today > due_on
}

// ---------------------------------------------------------------------------
// Shares of the levels
// ---------------------------------------------------------------------------

/// One level's share of the ratings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Share {
    pub level: RatingLevel,
    pub count: u64,
    /// Tenths of a percent (‰); the shares of all levels add up to exactly
    /// 1000 when there is any rating (largest remainder), 0 otherwise.
    pub permille: u32,
}

impl Share {
    /// `12.5%`.
    #[must_use]
    pub fn percent_text(&self) -> String {
        format!("{}.{}%", self.permille / 10, self.permille % 10)
    }
}

/// Every level's count and share, best level first. `counts` may name a
/// level more than once (the counts add up) or not at all (zero).
#[must_use]
pub fn shares(counts: &[(RatingLevel, u64)]) -> Vec<Share> {
    let count_of = |level: RatingLevel| -> u64 {
        counts
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, n)| *n)
            .sum()
    };
    let counted: Vec<(RatingLevel, u64)> = RatingLevel::ALL
        .into_iter()
        .map(|level| (level, count_of(level)))
        .collect();
    let total: u128 = counted.iter().map(|(_, n)| u128::from(*n)).sum();
    if total == 0 {
        return counted
            .into_iter()
            .map(|(level, count)| Share {
                level,
                count,
                permille: 0,
            })
            .collect();
    }
    // Floors first, then the remaining tenths to the largest remainders
    // (earlier levels first on a tie).
    let mut parts: Vec<(usize, u32, u128)> = counted
        .iter()
        .enumerate()
        .map(|(i, (_, n))| {
            let scaled = u128::from(*n) * 1000;
            let floor = u32::try_from(scaled / total).unwrap_or(1000);
            (i, floor, scaled % total)
        })
        .collect();
    let assigned: u32 = parts.iter().map(|(_, floor, _)| *floor).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].2.cmp(&parts[*a].2).then(a.cmp(b)));
    for i in order.into_iter().take((1000 - assigned) as usize) {
        parts[i].1 += 1;
    }
    counted
        .into_iter()
        .zip(parts)
        .map(|((level, count), (_, permille, _))| Share {
            level,
            count,
            permille,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::YearCalendar;
    use crate::case::Outcome;
    use proptest::prelude::*;

    const CALENDAR_2026: &str = include_str!("../../../calendar/2026.toml");

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::new([YearCalendar::from_toml_str(CALENDAR_2026).expect("2026 calendar")])
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn the_five_levels_read_back_and_two_are_bad() {
        let labels: Vec<&str> = RatingLevel::ALL.iter().map(|l| l.label_zh()).collect();
        assert_eq!(
            labels,
            ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
        );
        for level in RatingLevel::ALL {
            assert_eq!(RatingLevel::from_code(level.code()), Some(level));
            assert_eq!(
                serde_json::to_value(level).unwrap(),
                serde_json::Value::String(level.code().to_owned())
            );
        }
        let bad: Vec<RatingLevel> = RatingLevel::ALL
            .into_iter()
            .filter(|l| l.is_bad())
            .collect();
        assert_eq!(
            bad,
            [RatingLevel::Dissatisfied, RatingLevel::VeryDissatisfied]
        );
        assert_eq!(RatingLevel::from_code("good"), None);
        assert_eq!(parse_level("5"), Err(RatingRefusal::LevelInvalid));
    }

    #[test]
    fn only_an_ended_case_may_be_rated_and_only_once() {
        for state in CaseState::ALL {
            let ended = matches!(state, CaseState::Completed(_) | CaseState::Refused);
            assert_eq!(may_rate(state, false).is_ok(), ended, "{state:?}");
            if ended {
                assert_eq!(may_rate(state, true), Err(RatingRefusal::AlreadyRated));
            } else {
                // Not ended wins over already rated (which cannot happen).
                assert_eq!(may_rate(state, true), Err(RatingRefusal::CaseNotEnded));
            }
        }
        assert!(may_rate(CaseState::Completed(Outcome::Denied), false).is_ok());
        assert_eq!(
            may_rate(CaseState::AwaitingFeedback(Outcome::Approved), false)
                .unwrap_err()
                .code(),
            "CASE_NOT_ENDED"
        );
    }

    #[test]
    fn comments_are_trimmed_limited_and_free_of_control_characters() {
        assert_eq!(check_comment(None), Ok(None));
        assert_eq!(check_comment(Some("  \r\n ")), Ok(None));
        assert_eq!(
            check_comment(Some(" 等了很久\r\n态度不好 ")),
            Ok(Some("等了很久\n态度不好".to_owned()))
        );
        assert_eq!(
            check_comment(Some("<script>alert(1)</script>")),
            Ok(Some("<script>alert(1)</script>".to_owned())),
            "stored as typed; pages escape it"
        );
        assert_eq!(
            check_comment(Some(&"慢".repeat(MAX_COMMENT_CHARS)))
                .map(|c| c.map(|c| c.chars().count())),
            Ok(Some(MAX_COMMENT_CHARS))
        );
        assert_eq!(
            check_comment(Some(&"慢".repeat(MAX_COMMENT_CHARS + 1))),
            Err(RatingRefusal::CommentTooLong)
        );
        assert_eq!(
            check_comment(Some("a\u{0}b")),
            Err(RatingRefusal::CommentInvalid)
        );
    }

    #[test]
    fn the_follow_up_of_a_rating_before_national_day_skips_the_holiday() {
        // Wednesday 30 September 2026, then 国庆节 1–7 October; Saturday
        // 10 October is an adjusted working day.
        let due = follow_up_deadline(&calendar(), date(2026, 9, 30), 5).unwrap();
        assert_eq!(due.deadline, date(2026, 10, 13));
        assert!(!due.provisional);
        // A rating on a Sunday counts from Monday.
        let due = follow_up_deadline(&calendar(), date(2026, 11, 29), 5).unwrap();
        assert_eq!(due.deadline, date(2026, 12, 7));
        // A year without its calendar is provisional.
        assert!(
            follow_up_deadline(&calendar(), date(2026, 12, 28), 5)
                .unwrap()
                .provisional
        );
    }

    #[test]
    fn the_follow_up_goes_rectification_call_back_close() {
        use FollowUpStatus::{CalledBack, Closed, Open, Rectified};
        use FollowUpStep::{CallBack, Close, Rectification};
        assert_eq!(Open.available_steps(), [Rectification]);
        assert_eq!(Open.apply(Rectification), Ok(Rectified));
        assert_eq!(Rectified.apply(Rectification), Ok(Rectified));
        assert_eq!(Rectified.apply(CallBack), Ok(CalledBack));
        assert_eq!(CalledBack.apply(Rectification), Ok(Rectified));
        assert_eq!(CalledBack.apply(Close), Ok(Closed));
        let error = Open.apply(CallBack).unwrap_err();
        assert_eq!(error.code(), "FOLLOW_UP_STATE_CONFLICT");
        assert!(error.to_string().contains("请先登记整改情况"), "{error}");
        assert!(Rectified.apply(Close).is_err());
        for step in FollowUpStep::ALL {
            assert!(Closed.apply(step).is_err());
            assert_eq!(FollowUpStep::from_code(step.code()), Some(step));
        }
        for status in FollowUpStatus::ALL {
            assert_eq!(FollowUpStatus::from_code(status.code()), Some(status));
        }
    }

    #[test]
    fn overdue_means_open_after_the_due_day() {
        let due = date(2026, 12, 4);
        assert!(!is_overdue(FollowUpStatus::Open, due, due));
        assert!(is_overdue(FollowUpStatus::Open, due, date(2026, 12, 5)));
        assert!(is_overdue(
            FollowUpStatus::CalledBack,
            due,
            date(2026, 12, 7)
        ));
        assert!(!is_overdue(FollowUpStatus::Closed, due, date(2027, 1, 1)));
    }

    #[test]
    fn shares_add_up_to_a_hundred_percent() {
        let shares = shares(&[
            (RatingLevel::VerySatisfied, 1),
            (RatingLevel::Satisfied, 1),
            (RatingLevel::VeryDissatisfied, 1),
        ]);
        let permille: Vec<u32> = shares.iter().map(|s| s.permille).collect();
        assert_eq!(permille, [334, 333, 0, 0, 333]);
        assert_eq!(shares[0].percent_text(), "33.4%");
        assert!(
            super::shares(&[])
                .iter()
                .all(|s| s.permille == 0 && s.count == 0)
        );
    }

    fn any_step() -> impl Strategy<Value = FollowUpStep> {
        prop::sample::select(FollowUpStep::ALL.to_vec())
    }

    fn any_level() -> impl Strategy<Value = RatingLevel> {
        prop::sample::select(RatingLevel::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn shares_are_exact_to_a_tenth_of_a_percent(
            counts in prop::collection::vec((any_level(), 0u64..1_000_000), 0..12)
        ) {
            let shares = shares(&counts);
            prop_assert_eq!(shares.len(), 5);
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            let sum: u32 = shares.iter().map(|s| s.permille).sum();
            prop_assert_eq!(sum, if total == 0 { 0 } else { 1000 });
            prop_assert_eq!(shares.iter().map(|s| s.count).sum::<u64>(), total);
            for share in &shares {
                if total > 0 {
                    // Within one tenth of a percent of the exact share.
                    let exact = share.count as f64 * 1000.0 / total as f64;
                    prop_assert!((f64::from(share.permille) - exact).abs() < 1.0);
                }
                if share.count == 0 {
                    prop_assert_eq!(share.permille, 0);
                }
            }
        }

        #[test]
        fn a_follow_up_is_due_on_a_working_day_the_limit_after_the_rating(
            day in 0i64..330, working_days in 1u32..=MAX_FOLLOW_UP_WORKING_DAYS
        ) {
            let cal = calendar();
            let rated_on = date(2026, 1, 1) + chrono::Duration::days(day);
            let due = follow_up_deadline(&cal, rated_on, working_days).unwrap();
            prop_assert!(due.deadline > rated_on);
            prop_assert!(*cal.is_working_day(due.deadline).value());
            // Counted from the rating's day, or from the next working day
            // when it was rated on a day off.
            let rated_on_working = *cal.is_working_day(rated_on).value();
            let between = cal.working_days_between(rated_on, due.deadline).into_value();
            prop_assert_eq!(between, working_days + u32::from(!rated_on_working));
        }

        #[test]
        fn random_follow_up_steps_close_only_after_rectification_and_call_back(
            steps in prop::collection::vec(any_step(), 0..30)
        ) {
            let mut status = FollowUpStatus::Open;
            let mut rectified = false;
            let mut called_back = false;
            for step in steps {
                match status.apply(step) {
                    Ok(next) => {
                        prop_assert!(!status.is_closed());
                        prop_assert_eq!(status.next(step), Some(next));
                        match step {
                            FollowUpStep::Rectification => rectified = true,
                            FollowUpStep::CallBack => {
                                prop_assert!(rectified);
                                called_back = true;
                            }
                            FollowUpStep::Close => prop_assert!(rectified && called_back),
                        }
                        status = next;
                    }
                    Err(error) => {
                        prop_assert_eq!(error.current, status);
                        prop_assert!(!status.available_steps().contains(&step));
                    }
                }
            }
        }

        #[test]
        fn a_checked_comment_is_short_trimmed_and_clean(text in "\\PC{0,400}") {
            match check_comment(Some(&text)) {
                Ok(Some(comment)) => {
                    prop_assert!(comment.chars().count() <= MAX_COMMENT_CHARS);
                    prop_assert_eq!(comment.trim(), comment.as_str());
                    prop_assert!(!comment.is_empty());
                    prop_assert!(!comment.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                }
                Ok(None) => prop_assert!(text.trim().is_empty()),
                Err(refusal) => prop_assert!(matches!(
                    refusal,
                    RatingRefusal::CommentTooLong | RatingRefusal::CommentInvalid
                )),
            }
        }
    }
}
