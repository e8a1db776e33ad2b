use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sscard_domain::calendar::{Deadline, YearCalendar};

use crate::http::AppState;
use crate::http::problem::{ApiPath, ApiQuery, Problem};
use crate::service::FieldError;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineQuery {
    /// The day of acceptance, `YYYY-MM-DD`.
    pub start: Option<String>,
    /// The time limit in working days (0 = the same working day).
    pub working_days: Option<String>,
}

/// The deadline for a time limit in working days.
#[utoipa::path(get, path = "/api/v1/calendar/deadline", tag = "calendar",
    params(DeadlineQuery),
    responses(
        (status = 200, body = Deadline),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deadline(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DeadlineQuery>,
) -> Result<Json<Deadline>, Problem> {
    let mut errors = Vec::new();
    let start = match query.start.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new(
                "start",
                "REQUIRED",
                "请填写受理日期 start，格式 YYYY-MM-DD。",
            ));
            None
        }
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| {
                errors.push(FieldError::new(
                    "start",
                    "INVALID_DATE",
                    format!("受理日期“{text}”不是有效日期，请按 YYYY-MM-DD 填写，如 2026-09-30。"),
                ));
            })
            .ok(),
    };
    let working_days = match query.working_days.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new(
                "working_days",
                "REQUIRED",
                "请填写办理时限 working_days（工作日数，0 表示当日办结）。",
            ));
            None
        }
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| {
                errors.push(FieldError::new(
                    "working_days",
                    "INVALID_NUMBER",
                    format!("办理时限“{text}”须为不小于 0 的整数。"),
                ));
            })
            .ok(),
    };
    match (start, working_days) {
        (Some(start), Some(working_days)) => {
            Ok(Json(state.services.deadline(start, working_days).await?))
        }
        _ => Err(Problem::invalid(
            format!("共有 {} 项参数有误，请修改后重试。", errors.len()),
            errors,
        )),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarYears {
    /// The years whose statutory holidays are loaded.
    pub loaded_years: Vec<i32>,
}

/// Which years of the working-day calendar are loaded.
#[utoipa::path(get, path = "/api/v1/calendar/years", tag = "calendar",
    responses((status = 200, body = CalendarYears)))]
pub async fn years(State(state): State<AppState>) -> Result<Json<CalendarYears>, Problem> {
    Ok(Json(CalendarYears {
        loaded_years: state.services.calendar_year_numbers().await?,
    }))
}

/// One year's statutory holidays and adjusted working days.
#[utoipa::path(get, path = "/api/v1/calendar/years/{year}", tag = "calendar",
    params(("year" = i32, Path, description = "e.g. 2026")),
    responses(
        (status = 200, body = YearCalendar),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn year(
    State(state): State<AppState>,
    ApiPath(year): ApiPath<i32>,
) -> Result<Json<YearCalendar>, Problem> {
    Ok(Json(state.services.calendar_year(year).await?))
}
