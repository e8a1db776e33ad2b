//! 好差评 — rating an ended case — and 整改回访, the follow-up of a bad
//! rating (the rules are [`sscard_domain::rating`]).
//!
//! - **Rating** (`rate_case`): the signed-in cardholder rates their own case
//!   online, or a window clerk records the applicant's rating at the window.
//!   Once per case: the check runs under the case's row lock, and the
//!   `ratings.case_id` UNIQUE constraint backs it up. A bad rating (不满意,
//!   非常不满意) opens its follow-up in the same transaction, due
//!   `[ratings] follow_up_working_days` working days (default 5) after the
//!   day of the rating by the working-day calendar. One audit entry.
//! - **Follow-up** (`record_follow_up`): supervisors record the
//!   rectification, the call-back and close it, each one transaction with a
//!   compare-and-set on the follow-up's version and one audit entry.
//! - **Overview** (`ratings_overview`, `follow_ups`): the ratings of a
//!   period with the share of each level, and the follow-ups by status
//!   (overdue: not closed and past the due day, China's calendar).
//!
//! Comments are citizens' free text: sealed at rest, at most 300
//! characters, and escaped wherever they are shown (askama escapes HTML).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sscard_domain::access::Role;
use sscard_domain::rating::{
    self, CallBackResult, FollowUpStatus, FollowUpStep, RatingChannel, RatingLevel, RatingRefusal,
    Share,
};

use super::accounts::{Client, Principal};
use super::cases::{CaseCaller, CaseView, normalize_application_no, state_of};
use super::notifications::NotificationView;
use super::registry::corrupt;
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::clock::{china_offset, today_in_china};
use crate::store::Tx;
use crate::store::cases::{self as case_rows, CaseRow};
use crate::store::feedback::{
    self as rows, FollowUpRecordRow, FollowUpRow, RATING_COMMENT_SEALED, RatingRow,
};

/// The settings of ratings (`[ratings]` in `sscard.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatingSettings {
    /// 整改回访时限: working days from a bad rating to its follow-up's due day.
    pub follow_up_working_days: u32,
}

impl Default for RatingSettings {
    fn default() -> Self {
        Self {
            follow_up_working_days: rating::DEFAULT_FOLLOW_UP_WORKING_DAYS,
        }
    }
}

/// The longest note on a follow-up, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// The body of `POST /api/v1/applications/{application_no}/rating`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct RatingInput {
    /// `very_satisfied` (非常满意), `satisfied` (满意), `basically_satisfied`
    /// (基本满意), `dissatisfied` (不满意) or `very_dissatisfied` (非常不满意).
    #[serde(default)]
    #[schema(example = "very_dissatisfied")]
    pub level: String,
    /// 评价意见, at most 300 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A follow-up as a case shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FollowUpSummary {
    /// `open`, `rectified`, `called_back`, `closed`.
    pub status: String,
    pub status_label: String,
    pub due_on: NaiveDate,
    /// A year on the way had no loaded calendar (counted by weekdays).
    pub due_provisional: bool,
    pub overdue: bool,
}

/// A case's rating.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RatingView {
    pub application_no: String,
    pub level: RatingLevel,
    pub level_label: String,
    pub comment: Option<String>,
    /// `online` or `window`.
    pub channel: String,
    pub channel_label: String,
    pub rated_at: DateTime<Utc>,
    /// The follow-up a bad rating opened.
    pub follow_up: Option<FollowUpSummary>,
}

/// One level's share, for the overview.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    pub level: RatingLevel,
    pub level_label: String,
    pub count: u64,
    /// Tenths of a percent; the levels add up to 1000 when there is a rating.
    pub permille: u32,
    /// e.g. `12.5%`.
    pub percent: String,
}

/// The ratings of a period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RatingsOverview {
    /// First day (China's calendar), inclusive.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub until: NaiveDate,
    pub total: u64,
    pub shares: Vec<ShareView>,
    /// The newest ratings of the period (at most 200).
    pub ratings: Vec<RatingView>,
}

/// One record on a follow-up.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FollowUpRecordView {
    /// `rectification`, `call-back`, `close`.
    pub step: String,
    pub step_label: String,
    pub note: Option<String>,
    /// Call-back: `satisfied`, `unsatisfied`, `unreachable`.
    pub result: Option<String>,
    pub result_label: Option<String>,
    pub actor_name: String,
    pub occurred_at: DateTime<Utc>,
}

/// A follow-up as supervisors see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FollowUpView {
    pub application_no: String,
    pub level: RatingLevel,
    pub level_label: String,
    pub comment: Option<String>,
    pub rated_at: DateTime<Utc>,
    pub rating_channel_label: String,
    pub status: String,
    pub status_label: String,
    pub working_days: i64,
    pub due_on: NaiveDate,
    pub due_provisional: bool,
    pub overdue: bool,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub records: Vec<FollowUpRecordView>,
    /// What may be recorded now: `rectification`, `call-back`, `close`.
    pub allowed_steps: Vec<String>,
}

/// Which follow-ups to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpFilter {
    /// Not closed (待整改, 待回访, 待办结).
    Open,
    /// Not closed and past the due day.
    Overdue,
    /// 已办结.
    Closed,
    All,
}

impl FollowUpFilter {
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "open" => Some(Self::Open),
            "overdue" => Some(Self::Overdue),
            "closed" => Some(Self::Closed),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// The body of `POST /api/v1/follow-ups/{application_no}/{step}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct FollowUpInput {
    /// Rectification: what was done (required). Call-back: what the
    /// applicant said. Close: an optional remark.
    #[serde(default)]
    pub note: Option<String>,
    /// Call-back: `satisfied`, `unsatisfied` or `unreachable` (required).
    #[serde(default)]
    pub result: Option<String>,
}

fn refusal(refusal: RatingRefusal) -> ServiceError {
    let detail = refusal.to_string();
    match refusal {
        RatingRefusal::CaseNotEnded | RatingRefusal::AlreadyRated => ServiceError::Conflict {
            code: refusal.code(),
            detail,
        },
        RatingRefusal::LevelInvalid => ServiceError::Invalid {
            code: refusal.code(),
            detail: detail.clone(),
            errors: vec![FieldError::new("level", refusal.code(), detail)],
        },
        RatingRefusal::CommentTooLong | RatingRefusal::CommentInvalid => ServiceError::Invalid {
            code: refusal.code(),
            detail: detail.clone(),
            errors: vec![FieldError::new("comment", refusal.code(), detail)],
        },
    }
}

fn not_found(application_no: &str) -> ServiceError {
    let shown: String = application_no.chars().take(40).collect();
    ServiceError::NotFound {
        code: "APPLICATION_NOT_FOUND",
        detail: format!(
            "未找到申请编号为 {shown} 的办件，请核对申请编号（例如 SQ-20261127-000001）。"
        ),
    }
}

fn follow_up_not_found(application_no: &str) -> ServiceError {
    let shown: String = application_no.chars().take(40).collect();
    ServiceError::NotFound {
        code: "FOLLOW_UP_NOT_FOUND",
        detail: format!(
            "办件 {shown} 没有整改回访（只有不满意、非常不满意的评价才需要整改回访）。"
        ),
    }
}

/// The first instant of a China day, in UTC.
fn start_of_china_day(day: NaiveDate) -> DateTime<Utc> {
    china_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

impl Services {
    /// Ratings from now on follow `settings` (the follow-up's time limit).
    #[must_use]
    pub fn with_rating_settings(mut self, settings: RatingSettings) -> Self {
        self.ratings = settings;
        self
    }

    pub fn rating_settings(&self) -> RatingSettings {
        self.ratings
    }

    /// 好差评: rates an ended case once (see the module documentation).
    ///
    /// # Errors
    ///
    /// `NotFound APPLICATION_NOT_FOUND` (also for another citizen's case),
    /// `Forbidden ROLE_NOT_PERMITTED` for staff other than window clerks,
    /// `Conflict CASE_NOT_ENDED`, `Conflict ALREADY_RATED`,
    /// `Invalid RATING_LEVEL_INVALID`, `COMMENT_TOO_LONG`, `COMMENT_INVALID`.
    pub async fn rate_case(
        &self,
        caller: CaseCaller<'_>,
        application_no: &str,
        input: &RatingInput,
        client: &Client,
    ) -> ServiceResult<RatingView> {
        let application_no = normalize_application_no(application_no);
        let (actor, channel, rated_by_name) = match caller {
            CaseCaller::Citizen(citizen) => (
                citizen.actor(client),
                RatingChannel::Online,
                "申请人（网上评价）".to_owned(),
            ),
            CaseCaller::Staff(staff) => {
                if ![Role::Acceptor, Role::Processor, Role::Feedback]
                    .into_iter()
                    .any(|role| staff.has_role(role))
                {
                    return Err(ServiceError::Forbidden {
                        code: "ROLE_NOT_PERMITTED",
                        detail: "窗口评价须由窗口工作人员（受理岗、经办岗、反馈岗）代申请人登记。"
                            .to_owned(),
                    });
                }
                (
                    staff.actor(client),
                    RatingChannel::Window,
                    staff_name(staff),
                )
            }
            CaseCaller::Public => {
                return Err(ServiceError::Forbidden {
                    code: "ROLE_NOT_PERMITTED",
                    detail: "请登录后评价。".to_owned(),
                });
            }
        };
        let level = rating::parse_level(&input.level).map_err(refusal);
        let comment = rating::check_comment(input.comment.as_deref()).map_err(refusal);
        let (level, comment) = match (level, comment) {
            (Ok(level), Ok(comment)) => (level, comment),
            (Err(a), Err(b)) => {
                let mut errors = field_errors(a);
                errors.extend(field_errors(b));
                return Err(super::registry::invalid(
                    "评价内容有误，请按提示修改。",
                    errors,
                ));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let now = Utc::now();
        let today = today_in_china();
        let working_days = self.ratings.follow_up_working_days;
        let calendar = self.working_calendar(today, working_days).await?;
        let due = rating::follow_up_deadline(&calendar, today, working_days).map_err(|e| {
            ServiceError::Conflict {
                code: e.code(),
                detail: format!("无法计算整改回访时限：{e}"),
            }
        })?;

        let mut tx = self.store().begin().await?;
        case_rows::lock_case(&mut tx, &application_no).await?;
        let case = case_rows::case_by_number(&mut tx, &application_no)
            .await?
            .filter(|case| owned_by(caller, case))
            .ok_or_else(|| not_found(&application_no))?;
        let state = state_of(&case)?;
        let rated = rows::rating_of_case(&mut tx, &case.id).await?.is_some();
        if let Err(reason) = rating::may_rate(state, rated) {
            return self.refuse_rating(tx, &actor, &case, reason).await;
        }
        let rating_id = uuid::Uuid::new_v4().to_string();
        let comment_sealed = comment.as_ref().map(|text| {
            self.keyring()
                .encrypt_str(text, RATING_COMMENT_SEALED.aad(&rating_id).as_bytes())
        });
        let row = RatingRow {
            id: rating_id.clone(),
            case_id: case.id.clone(),
            application_no: case.application_no.clone(),
            level: level.code().to_owned(),
            comment_sealed,
            channel: channel.code().to_owned(),
            rated_by: actor.id.clone(),
            rated_by_name,
            rated_at: now,
            rated_on: today,
        };
        if let Err(error) = rows::insert_rating(&mut tx, &row).await {
            // A concurrent rating committed first (UNIQUE case_id).
            drop(tx);
            if self.case_is_rated(&case.id).await? {
                return Err(refusal(RatingRefusal::AlreadyRated));
            }
            return Err(error.into());
        }
        let follow_up = if rating::needs_follow_up(level) {
            let follow_up = FollowUpRow {
                id: uuid::Uuid::new_v4().to_string(),
                rating_id: rating_id.clone(),
                case_id: case.id.clone(),
                application_no: case.application_no.clone(),
                level: level.code().to_owned(),
                status: FollowUpStatus::Open.code().to_owned(),
                working_days: i64::from(working_days),
                due_on: due.deadline,
                due_provisional: due.provisional,
                opened_at: now,
                closed_at: None,
                version: 1,
            };
            rows::insert_follow_up(&mut tx, &follow_up).await?;
            Some(follow_up)
        } else {
            None
        };
        self.record_audit(
            &mut tx,
            &actor,
            "case.rate",
            &format!("case:{}", case.id),
            Outcome::Succeeded,
            serde_json::json!({
                "application_no": case.application_no,
                "level": level.code(),
                "channel": channel.code(),
                "has_comment": comment.is_some(),
                "follow_up_due": follow_up.as_ref().map(|f| f.due_on.to_string()),
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(RatingView {
            application_no: case.application_no,
            level,
            level_label: level.label_zh().to_owned(),
            comment,
            channel: channel.code().to_owned(),
            channel_label: channel.label_zh().to_owned(),
            rated_at: now,
            follow_up: follow_up.as_ref().map(|f| follow_up_summary(f, today)),
        })
    }

    async fn case_is_rated(&self, case_id: &str) -> ServiceResult<bool> {
        let mut conn = self.connection().await?;
        Ok(rows::rating_of_case(&mut conn, case_id).await?.is_some())
    }

    /// Audits a refused rating and answers with its error.
    async fn refuse_rating<T>(
        &self,
        tx: Tx,
        actor: &Actor,
        case: &CaseRow,
        reason: RatingRefusal,
    ) -> ServiceResult<T> {
        let detail = serde_json::json!({
            "application_no": case.application_no,
            "state": case.state,
            "code": reason.code(),
        });
        self.commit_refusal(
            tx,
            actor,
            "case.rate",
            &format!("case:{}", case.id),
            detail,
            refusal(reason),
        )
        .await
    }

    /// Adds what only the case's people see to a case view: the SMS notices
    /// in its timeline and its rating. The public progress query gets
    /// neither.
    pub(crate) async fn attach_feedback(
        &self,
        view: &mut CaseView,
        case: &CaseRow,
        caller: CaseCaller<'_>,
    ) -> ServiceResult<()> {
        if matches!(caller, CaseCaller::Public) {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let notices = rows::notifications_of(&mut conn, &case.id).await?;
        for step in &mut view.timeline {
            step.notifications = notices
                .iter()
                .filter(|n| n.step_seq == step.seq)
                .map(NotificationView::of)
                .collect();
        }
        if let Some(rating) = rows::rating_of_case(&mut conn, &case.id).await? {
            let follow_up = rows::follow_up_by_number(&mut conn, &case.application_no).await?;
            drop(conn);
            view.rating = Some(self.rating_view(&rating, follow_up.as_ref(), today_in_china())?);
        }
        Ok(())
    }

    fn rating_view(
        &self,
        row: &RatingRow,
        follow_up: Option<&FollowUpRow>,
        today: NaiveDate,
    ) -> ServiceResult<RatingView> {
        let level = RatingLevel::from_code(&row.level)
            .ok_or_else(|| corrupt("ratings.level", &row.level))?;
        let channel = RatingChannel::from_code(&row.channel)
            .ok_or_else(|| corrupt("ratings.channel", &row.channel))?;
        Ok(RatingView {
            application_no: row.application_no.clone(),
            level,
            level_label: level.label_zh().to_owned(),
            comment: self.comment_of(row)?,
            channel: channel.code().to_owned(),
            channel_label: channel.label_zh().to_owned(),
            rated_at: row.rated_at,
            follow_up: follow_up.map(|f| follow_up_summary(f, today)),
        })
    }

    fn comment_of(&self, row: &RatingRow) -> ServiceResult<Option<String>> {
        row.comment_sealed
            .as_deref()
            .map(|sealed| self.open_sealed(sealed, &RATING_COMMENT_SEALED.aad(&row.id)))
            .transpose()
    }

    /// The ratings given from `from` until `until` (China's calendar, both
    /// inclusive; default: the last 30 days), the share of each level and
    /// the newest 200 ratings.
    ///
    /// # Errors
    ///
    /// `Invalid VALIDATION_FAILED` when `from` is after `until`.
    pub async fn ratings_overview(
        &self,
        from: Option<NaiveDate>,
        until: Option<NaiveDate>,
    ) -> ServiceResult<RatingsOverview> {
        let today = today_in_china();
        let until = until.unwrap_or(today);
        let from = from.unwrap_or(until - Duration::days(29));
        if from > until {
            return Err(super::registry::invalid(
                "起始日期晚于截止日期。",
                vec![FieldError::new(
                    "from",
                    "PERIOD_INVALID",
                    "起始日期不能晚于截止日期，请重新选择。",
                )],
            ));
        }
        let start = start_of_china_day(from);
        let end = start_of_china_day(until + Duration::days(1));
        let mut conn = self.connection().await?;
        let counts = rows::count_ratings_by_level(&mut conn, start, end).await?;
        let rated = rows::ratings_between(&mut conn, start, end, 200).await?;
        let mut follow_ups = Vec::new();
        for row in &rated {
            follow_ups.push(rows::follow_up_by_number(&mut conn, &row.application_no).await?);
        }
        drop(conn);
        let mut parsed = Vec::new();
        for (level, n) in counts {
            let level =
                RatingLevel::from_code(&level).ok_or_else(|| corrupt("ratings.level", &level))?;
            parsed.push((level, u64::try_from(n).unwrap_or(0)));
        }
        let shares: Vec<Share> = rating::shares(&parsed);
        let ratings = rated
            .iter()
            .zip(&follow_ups)
            .map(|(row, follow_up)| self.rating_view(row, follow_up.as_ref(), today))
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(RatingsOverview {
            from,
            until,
            total: shares.iter().map(|s| s.count).sum(),
            shares: shares
                .iter()
                .map(|share| ShareView {
                    level: share.level,
                    level_label: share.level.label_zh().to_owned(),
                    count: share.count,
                    permille: share.permille,
                    percent: share.percent_text(),
                })
                .collect(),
            ratings,
        })
    }

    /// The follow-ups of bad ratings, the earliest due first.
    ///
    /// # Errors
    ///
    /// Only when the database cannot answer.
    pub async fn follow_ups(&self, filter: FollowUpFilter) -> ServiceResult<Vec<FollowUpView>> {
        let today = today_in_china();
        let statuses: Vec<&str> = match filter {
            FollowUpFilter::Open | FollowUpFilter::Overdue => {
                vec!["open", "rectified", "called_back"]
            }
            FollowUpFilter::Closed => vec!["closed"],
            FollowUpFilter::All => Vec::new(),
        };
        let mut conn = self.connection().await?;
        let mut views = Vec::new();
        for row in rows::list_follow_ups(&mut conn, &statuses, 500).await? {
            if filter == FollowUpFilter::Overdue && !row.due_on.lt(&today) {
                continue;
            }
            views.push(self.follow_up_view(&mut conn, &row, today).await?);
        }
        Ok(views)
    }

    /// One follow-up.
    ///
    /// # Errors
    ///
    /// `NotFound FOLLOW_UP_NOT_FOUND`.
    pub async fn follow_up(&self, application_no: &str) -> ServiceResult<FollowUpView> {
        let application_no = normalize_application_no(application_no);
        let mut conn = self.connection().await?;
        let row = rows::follow_up_by_number(&mut conn, &application_no)
            .await?
            .ok_or_else(|| follow_up_not_found(&application_no))?;
        self.follow_up_view(&mut conn, &row, today_in_china()).await
    }

    async fn follow_up_view(
        &self,
        conn: &mut sqlx::AnyConnection,
        row: &FollowUpRow,
        today: NaiveDate,
    ) -> ServiceResult<FollowUpView> {
        let rating = rows::rating_of_case(conn, &row.case_id)
            .await?
            .ok_or_else(|| corrupt("follow_ups.rating_id", &row.rating_id))?;
        let records = rows::follow_up_records(conn, &row.id).await?;
        let status = FollowUpStatus::from_code(&row.status)
            .ok_or_else(|| corrupt("follow_ups.status", &row.status))?;
        let level = RatingLevel::from_code(&row.level)
            .ok_or_else(|| corrupt("follow_ups.level", &row.level))?;
        let channel = RatingChannel::from_code(&rating.channel)
            .ok_or_else(|| corrupt("ratings.channel", &rating.channel))?;
        Ok(FollowUpView {
            application_no: row.application_no.clone(),
            level,
            level_label: level.label_zh().to_owned(),
            comment: self.comment_of(&rating)?,
            rated_at: rating.rated_at,
            rating_channel_label: channel.label_zh().to_owned(),
            status: status.code().to_owned(),
            status_label: status.label_zh().to_owned(),
            working_days: row.working_days,
            due_on: row.due_on,
            due_provisional: row.due_provisional,
            overdue: rating::is_overdue(status, row.due_on, today),
            opened_at: row.opened_at,
            closed_at: row.closed_at,
            records: records.iter().map(record_view).collect(),
            allowed_steps: status
                .available_steps()
                .into_iter()
                .map(|s| s.code().to_owned())
                .collect(),
        })
    }

    /// 整改回访: a supervisor records the rectification, the call-back, or
    /// closes the follow-up of the case `application_no`.
    ///
    /// # Errors
    ///
    /// `NotFound FOLLOW_UP_NOT_FOUND`, `Conflict FOLLOW_UP_STATE_CONFLICT`
    /// (also to the loser of a race), `Invalid NOTE_REQUIRED`,
    /// `CALL_BACK_RESULT_REQUIRED`, `TEXT_INVALID`.
    pub async fn record_follow_up(
        &self,
        principal: &Principal,
        application_no: &str,
        step: FollowUpStep,
        input: &FollowUpInput,
        client: &Client,
    ) -> ServiceResult<FollowUpView> {
        let application_no = normalize_application_no(application_no);
        let actor = principal.actor(client);
        let note = check_note(input.note.as_deref())?;
        let result = match step {
            FollowUpStep::CallBack => Some(
                input
                    .result
                    .as_deref()
                    .and_then(CallBackResult::from_code)
                    .ok_or_else(|| {
                        super::registry::invalid(
                            "请选择回访结果。",
                            vec![FieldError::new(
                                "result",
                                "CALL_BACK_RESULT_REQUIRED",
                                "请选择回访结果：申请人满意（satisfied）、仍不满意（unsatisfied）或未能联系上（unreachable）。",
                            )],
                        )
                    })?,
            ),
            _ => None,
        };
        if step == FollowUpStep::Rectification && note.is_none() {
            return Err(super::registry::invalid(
                "请填写整改情况。",
                vec![FieldError::new(
                    "note",
                    "NOTE_REQUIRED",
                    "请写明针对差评做了哪些整改（1000字以内）。",
                )],
            ));
        }
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        let row = rows::follow_up_by_number(&mut tx, &application_no)
            .await?
            .ok_or_else(|| follow_up_not_found(&application_no))?;
        let object = format!("follow-up:{}", row.id);
        let status = FollowUpStatus::from_code(&row.status)
            .ok_or_else(|| corrupt("follow_ups.status", &row.status))?;
        let next = match status.apply(step) {
            Ok(next) => next,
            Err(error) => {
                let detail = serde_json::json!({
                    "application_no": row.application_no,
                    "step": step.code(),
                    "status": status.code(),
                    "code": error.code(),
                });
                let error = ServiceError::Conflict {
                    code: error.code(),
                    detail: error.to_string(),
                };
                return self
                    .commit_refusal(tx, &actor, "follow_up.record", &object, detail, error)
                    .await;
            }
        };
        let closed_at = next.is_closed().then_some(now);
        if !rows::update_follow_up(&mut tx, &row.id, row.version, next.code(), closed_at).await? {
            drop(tx);
            return Err(ServiceError::Conflict {
                code: "FOLLOW_UP_STATE_CONFLICT",
                detail: "该整改回访刚被其他人更新，请刷新后重新登记。".to_owned(),
            });
        }
        rows::insert_follow_up_record(
            &mut tx,
            &FollowUpRecordRow {
                id: uuid::Uuid::new_v4().to_string(),
                follow_up_id: row.id.clone(),
                seq: 0,
                step: step.code().to_owned(),
                note: note.clone(),
                result: result.map(|r| r.code().to_owned()),
                actor: actor.id.clone(),
                actor_name: staff_name(principal),
                occurred_at: now,
            },
        )
        .await?;
        self.record_audit(
            &mut tx,
            &actor,
            "follow_up.record",
            &object,
            Outcome::Succeeded,
            serde_json::json!({
                "application_no": row.application_no,
                "step": step.code(),
                "from": status.code(),
                "to": next.code(),
                "result": result.map(CallBackResult::code),
            }),
        )
        .await?;
        commit(tx).await?;
        self.follow_up(&application_no).await
    }
}

fn field_errors(error: ServiceError) -> Vec<FieldError> {
    match error {
        ServiceError::Invalid { errors, .. } => errors,
        _ => Vec::new(),
    }
}

/// A case the caller may rate: a citizen only their own (others' are not
/// found), staff any.
fn owned_by(caller: CaseCaller<'_>, case: &CaseRow) -> bool {
    match caller {
        CaseCaller::Citizen(citizen) => {
            case.person_id.as_deref() == Some(citizen.person_id.as_str())
        }
        CaseCaller::Staff(_) => true,
        CaseCaller::Public => false,
    }
}

fn staff_name(staff: &Principal) -> String {
    if staff.display_name.trim().is_empty() {
        staff.username.clone()
    } else {
        format!("{}（{}）", staff.display_name, staff.username)
    }
}

fn follow_up_summary(row: &FollowUpRow, today: NaiveDate) -> FollowUpSummary {
    let status = FollowUpStatus::from_code(&row.status).unwrap_or(FollowUpStatus::Open);
    FollowUpSummary {
        status: status.code().to_owned(),
        status_label: status.label_zh().to_owned(),
        due_on: row.due_on,
        due_provisional: row.due_provisional,
        overdue: rating::is_overdue(status, row.due_on, today),
    }
}

fn record_view(row: &FollowUpRecordRow) -> FollowUpRecordView {
    let result = row.result.as_deref().and_then(CallBackResult::from_code);
    FollowUpRecordView {
        step: row.step.clone(),
        step_label: FollowUpStep::from_code(&row.step)
            .map_or_else(|| row.step.clone(), |s| s.label_zh().to_owned()),
        note: row.note.clone(),
        result: result.map(|r| r.code().to_owned()),
        result_label: result.map(|r| r.label_zh().to_owned()),
        actor_name: row.actor_name.clone(),
        occurred_at: row.occurred_at,
    }
}

/// A supervisor's note: trimmed, at most [`MAX_NOTE_CHARS`], no control
/// characters but line breaks.
fn check_note(note: Option<&str>) -> ServiceResult<Option<String>> {
    let Some(note) = note else {
        return Ok(None);
    };
    let note = note.replace("\r\n", "\n");
    let note = note.trim();
    if note.is_empty() {
        return Ok(None);
    }
    if note.chars().count() > MAX_NOTE_CHARS
        || note
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(super::registry::invalid(
            "说明过长或含有不可见字符。",
            vec![FieldError::new(
                "note",
                "TEXT_INVALID",
                format!("说明请控制在 {MAX_NOTE_CHARS} 字以内，且不含控制字符。"),
            )],
        ));
    }
    Ok(Some(note.to_owned()))
}
