//! Who may do what: roles, the password policy and the sign-in lock-out rule.
//! Pure rules; the service layer applies them.

use std::collections::BTreeSet;
use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// A staff, bank or employer role (citizens are not accounts).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 受理岗 — receives and accepts applications.
    Acceptor,
    /// 经办岗 — reviews and decides (activates).
    Processor,
    /// 反馈岗 — issues and delivers the 业务反馈单.
    Feedback,
    /// 监督 — reads statistics, the audit trail, overdue cases and bad ratings.
    Supervisor,
    /// 管理员 — guide versions, calendar, accounts, windows, banks.
    Admin,
    /// 合作银行柜员 — activates the financial function; bound to one bank.
    BankTeller,
    /// 单位经办人 — batch activation for one employer (统一社会信用代码).
    Employer,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Acceptor,
        Role::Processor,
        Role::Feedback,
        Role::Supervisor,
        Role::Admin,
        Role::BankTeller,
        Role::Employer,
    ];

    /// The stable code used in the API and on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Role::Acceptor => "acceptor",
            Role::Processor => "processor",
            Role::Feedback => "feedback",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::BankTeller => "bank_teller",
            Role::Employer => "employer",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Acceptor => "受理岗",
            Role::Processor => "经办岗",
            Role::Feedback => "反馈岗",
            Role::Supervisor => "监督员",
            Role::Admin => "系统管理员",
            Role::BankTeller => "合作银行柜员",
            Role::Employer => "单位经办人",
        }
    }

    pub fn parse(code: &str) -> Result<Self, AccessError> {
        Role::ALL
            .into_iter()
            .find(|role| role.code() == code.trim())
            .ok_or_else(|| AccessError::UnknownRole(code.trim().to_owned()))
    }

    /// Bureau staff (as opposed to a bank's or an employer's people).
    pub fn is_bureau_staff(self) -> bool {
        !matches!(self, Role::BankTeller | Role::Employer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an account's roles or password are not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "未知的角色“{0}”，可选：acceptor、processor、feedback、supervisor、admin、bank_teller、employer。"
    )]
    UnknownRole(String),
    #[error("账号至少须有一个角色。")]
    NoRole,
    #[error("合作银行柜员账号须绑定一家合作银行（--bank 银行代码）。")]
    BankRequired,
    #[error("单位经办人账号须绑定一个统一社会信用代码（--employer）。")]
    EmployerRequired,
    #[error("只有合作银行柜员账号可以绑定银行。")]
    BankNotAllowed,
    #[error("只有单位经办人账号可以绑定统一社会信用代码。")]
    EmployerNotAllowed,
    #[error("银行柜员、单位经办人账号不能兼任其他角色。")]
    ExclusiveRole,
}

impl AccessError {
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::UnknownRole(_) => "UNKNOWN_ROLE",
            AccessError::NoRole => "ROLE_REQUIRED",
            AccessError::BankRequired => "BANK_REQUIRED",
            AccessError::EmployerRequired => "EMPLOYER_REQUIRED",
            AccessError::BankNotAllowed => "BANK_NOT_ALLOWED",
            AccessError::EmployerNotAllowed => "EMPLOYER_NOT_ALLOWED",
            AccessError::ExclusiveRole => "ROLE_NOT_COMBINABLE",
        }
    }
}

/// The roles of one account, checked for consistency with its bindings: a
/// 综合窗口 clerk may hold all three step roles, but a bank teller or an
/// employer account holds that one role only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleSet(BTreeSet<Role>);

impl RoleSet {
    pub fn new(
        roles: impl IntoIterator<Item = Role>,
        has_bank: bool,
        has_employer: bool,
    ) -> Result<Self, AccessError> {
        let roles: BTreeSet<Role> = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(AccessError::NoRole);
        }
        let bank_teller = roles.contains(&Role::BankTeller);
        let employer = roles.contains(&Role::Employer);
        if (bank_teller || employer) && roles.len() > 1 {
            return Err(AccessError::ExclusiveRole);
        }
        match (bank_teller, has_bank) {
            (true, false) => return Err(AccessError::BankRequired),
            (false, true) => return Err(AccessError::BankNotAllowed),
            _ => {}
        }
        match (employer, has_employer) {
            (true, false) => return Err(AccessError::EmployerRequired),
            (false, true) => return Err(AccessError::EmployerNotAllowed),
            _ => {}
        }
        Ok(Self(roles))
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    /// Admins and supervisors must use a second factor (TOTP).
    pub fn requires_totp(&self) -> bool {
        self.contains(Role::Admin) || self.contains(Role::Supervisor)
    }
}

/// The least length of a password.
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// One way a password breaks the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    TooFewCharacterClasses,
    ContainsUsername,
    Common,
}

impl PasswordProblem {
    pub fn code(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "PASSWORD_TOO_SHORT",
            PasswordProblem::TooLong => "PASSWORD_TOO_LONG",
            PasswordProblem::TooFewCharacterClasses => "PASSWORD_TOO_SIMPLE",
            PasswordProblem::ContainsUsername => "PASSWORD_CONTAINS_USERNAME",
            PasswordProblem::Common => "PASSWORD_COMMON",
        }
    }

    pub fn message_zh(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "密码至少 12 位。",
            PasswordProblem::TooLong => "密码不能超过 128 位。",
            PasswordProblem::TooFewCharacterClasses => {
                "密码须包含大写字母、小写字母、数字、符号中的至少三类。"
            }
            PasswordProblem::ContainsUsername => "密码不能包含用户名。",
            PasswordProblem::Common => "该密码过于常见，请换一个。",
        }
    }
}

const COMMON_PASSWORDS: [&str; 8] = [
    "password1234",
    "Password1234",
    "Password@123",
    "Admin@123456",
    "Qwerty123456",
    "P@ssw0rd1234",
    "Aa123456789!",
    "Abcd@1234567",
];

/// Checks a new password against the policy (等保 2.0: length and complexity)
/// and lists every problem at once.
pub fn check_password_policy(password: &str, username: &str) -> Vec<PasswordProblem> {
    let mut problems = Vec::new();
    let length = password.chars().count();
    if length < MIN_PASSWORD_LENGTH {
        problems.push(PasswordProblem::TooShort);
    }
    if length > 128 {
        problems.push(PasswordProblem::TooLong);
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .into_iter()
    .filter(|present| *present)
    .count();
    if classes < 3 {
        problems.push(PasswordProblem::TooFewCharacterClasses);
    }
    let username = username.trim().to_lowercase();
    if username.chars().count() >= 3 && password.to_lowercase().contains(&username) {
        problems.push(PasswordProblem::ContainsUsername);
    }
    if COMMON_PASSWORDS
        .iter()
        .any(|common| common.eq_ignore_ascii_case(password))
    {
        problems.push(PasswordProblem::Common);
    }
    problems
}

/// Failed sign-ins tolerated before a lock-out.
pub const FAILURES_BEFORE_LOCKOUT: u32 = 5;

/// How long sign-in stays locked after `consecutive_failures` failures: none
/// below five; then 15 minutes, doubling with each further failure, at most a day.
pub fn lockout_for(consecutive_failures: u32) -> Option<Duration> {
    if consecutive_failures < FAILURES_BEFORE_LOCKOUT {
        return None;
    }
    let doublings = (consecutive_failures - FAILURES_BEFORE_LOCKOUT).min(7);
    let minutes = 15_i64 << doublings;
    Some(Duration::minutes(minutes.min(24 * 60)))
}

/// A username: 3–32 characters of lower-case ASCII letters, digits, `.`, `_`, `-`.
pub fn normalize_username(username: &str) -> Option<String> {
    let username = username.trim().to_ascii_lowercase();
    let valid_length = (3..=32).contains(&username.len());
    let valid_chars = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    (valid_length && valid_chars).then_some(username)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_window_clerk_may_hold_all_three_step_roles() {
        let roles = RoleSet::new(
            [Role::Acceptor, Role::Processor, Role::Feedback],
            false,
            false,
        )
        .unwrap();
        assert!(roles.contains(Role::Processor));
        assert!(!roles.requires_totp());
    }

    #[test]
    fn bank_and_employer_accounts_are_bound_and_exclusive() {
        assert_eq!(
            RoleSet::new([Role::BankTeller], false, false),
            Err(AccessError::BankRequired)
        );
        assert!(RoleSet::new([Role::BankTeller], true, false).is_ok());
        assert_eq!(
            RoleSet::new([Role::Employer, Role::Acceptor], false, true),
            Err(AccessError::ExclusiveRole)
        );
        assert_eq!(
            RoleSet::new([Role::Acceptor], true, false),
            Err(AccessError::BankNotAllowed)
        );
        assert_eq!(RoleSet::new([], false, false), Err(AccessError::NoRole));
    }

    #[test]
    fn admins_and_supervisors_need_totp() {
        assert!(
            RoleSet::new([Role::Admin], false, false)
                .unwrap()
                .requires_totp()
        );
        assert!(
            RoleSet::new([Role::Supervisor, Role::Acceptor], false, false)
                .unwrap()
                .requires_totp()
        );
    }

    #[test]
    fn role_codes_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.code()), Ok(role));
        }
        assert!(matches!(
            Role::parse("root"),
            Err(AccessError::UnknownRole(_))
        ));
    }

    #[test]
    fn the_password_policy_lists_every_problem() {
        assert_eq!(
            check_password_policy("abc", "clerk1"),
            [
                PasswordProblem::TooShort,
                PasswordProblem::TooFewCharacterClasses
            ]
        );
        assert_eq!(
            check_password_policy("Clerk1-window-2026", "clerk1"),
            [PasswordProblem::ContainsUsername]
        );
        assert_eq!(
            check_password_policy("Password@123", "x"),
            [PasswordProblem::Common]
        );
        assert!(check_password_policy("Liujiang-318-Window", "clerk1").is_empty());
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes_then_longer() {
        assert_eq!(lockout_for(4), None);
        assert_eq!(lockout_for(5), Some(Duration::minutes(15)));
        assert_eq!(lockout_for(6), Some(Duration::minutes(30)));
        assert_eq!(lockout_for(100), Some(Duration::minutes(24 * 60)));
    }

    #[test]
    fn usernames_are_normalised() {
        assert_eq!(
            normalize_username(" Clerk.Li "),
            Some("clerk.li".to_owned())
        );
        assert_eq!(normalize_username("ab"), None);
        assert_eq!(normalize_username("张三"), None);
    }

    proptest! {
        #[test]
        fn lockout_never_shrinks_as_failures_grow(failures in 0u32..1000) {
            let now = lockout_for(failures).unwrap_or_default();
            let next = lockout_for(failures + 1).unwrap_or_default();
            prop_assert!(next >= now);
            prop_assert!(next <= Duration::days(1));
        }

        #[test]
        fn the_policy_never_panics(password in ".{0,200}", username in ".{0,40}") {
            let _ = check_password_policy(&password, &username);
        }
    }
}
