//! Working-day deadlines through the public API.

mod common;

use common::{TestApp, assert_problem};
use reqwest::StatusCode;

#[tokio::test]
async fn a_one_day_limit_from_the_eve_of_national_day_ends_after_the_holiday() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .get_json("/api/v1/calendar/deadline?start=2026-09-30&working_days=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["start"], "2026-09-30");
    assert_eq!(body["working_days"], 1);
    assert_eq!(body["deadline"], "2026-10-08");
    assert_eq!(body["provisional"], false);
}

#[tokio::test]
async fn same_day_limits_and_adjusted_working_saturdays_count() {
    let app = TestApp::spawn().await;
    // 0 working days on a holiday: acceptance moves to the next working day.
    let (_, body) = app
        .get_json("/api/v1/calendar/deadline?start=2026-10-03&working_days=0")
        .await;
    assert_eq!(body["deadline"], "2026-10-08");
    // 2026-10-10 is a Saturday worked in exchange for National Day.
    let (_, body) = app
        .get_json("/api/v1/calendar/deadline?start=2026-10-09&working_days=1")
        .await;
    assert_eq!(body["deadline"], "2026-10-10");
}

#[tokio::test]
async fn a_year_without_a_calendar_is_provisional_never_silently_holiday_free() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .get_json("/api/v1/calendar/deadline?start=2030-03-01&working_days=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["provisional"], true);
    assert_eq!(
        body["deadline"], "2030-03-04",
        "weekday rule: Fri + 1 = Mon"
    );

    let (_, years) = app.get_json("/api/v1/calendar/years").await;
    assert_eq!(years["loaded_years"], serde_json::json!([2026]));
}

#[tokio::test]
async fn bad_deadline_questions_name_every_field_at_fault() {
    let app = TestApp::spawn().await;
    let body = assert_problem(
        app.get("/api/v1/calendar/deadline?start=2026-02-30&working_days=-1")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["start", "working_days"]);

    let body = assert_problem(
        app.get("/api/v1/calendar/deadline").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);

    let body = assert_problem(
        app.get("/api/v1/calendar/deadline?start=2026-01-05&working_days=999999")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "WORKING_DAYS_OUT_OF_RANGE");
}

#[tokio::test]
async fn a_loaded_year_is_shown_and_a_missing_one_is_a_problem() {
    let app = TestApp::spawn().await;
    let (status, year) = app.get_json("/api/v1/calendar/years/2026").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(year["holidays"].as_array().unwrap().len(), 7);
    assert_problem(
        app.get("/api/v1/calendar/years/2031").await,
        StatusCode::NOT_FOUND,
        "CALENDAR_YEAR_NOT_LOADED",
    )
    .await;
}
