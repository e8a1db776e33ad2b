//! Counts for the operators' dashboards (`GET /metrics`): cheap `COUNT(*)`
//! queries computed when Prometheus scrapes, never cached, never personal.

use super::{ServiceResult, Services};
use crate::store::StoreError;

/// The domain figures of one scrape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainCounts {
    pub persons: i64,
    pub accounts: i64,
    pub audit_entries: i64,
    /// Cards by social security application state code.
    pub cards_by_social_state: Vec<(String, i64)>,
    /// Cards by financial (bank account) state code.
    pub cards_by_financial_state: Vec<(String, i64)>,
    /// Cases (办件) by state code.
    pub cases_by_state: Vec<(String, i64)>,
    /// Running cases past their step's due date.
    pub overdue_cases: i64,
    /// Running cases by step: (step, cases at it, of them past its due date).
    pub cases_by_step: Vec<(&'static str, i64, i64)>,
}

/// The step a running case is at, by state: 受理 (acceptance), 补正 (the
/// applicant's supplement, no clock running), 经办 (processing), 反馈
/// (feedback).
pub const STEPS: &[(&str, &str)] = &[
    ("submitted", "acceptance"),
    ("awaiting_supplement", "supplement"),
    ("awaiting_processing", "processing"),
    ("awaiting_feedback", "feedback"),
];

impl Services {
    /// Counts persons, accounts, audit entries and cards by state.
    pub async fn domain_counts(&self) -> ServiceResult<DomainCounts> {
        let pool = self.store().pool();
        let count = |table: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(pool)
            .await
            .map_err(StoreError::from)
        };
        let by_state = |column: &'static str| async move {
            sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
                "SELECT {column}, COUNT(*) FROM cards GROUP BY {column} ORDER BY {column}"
            )))
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)
        };
        let (cases_by_state, overdue_cases) = {
            let mut conn = pool.acquire().await.map_err(StoreError::from)?;
            crate::store::cases::count_by_state(&mut conn, crate::clock::today_in_china()).await?
        };
        let cases_by_step = {
            let rows = sqlx::query_as::<_, (String, i64, i64)>(
                "SELECT state, COUNT(*), \
                 SUM(CASE WHEN step_due IS NOT NULL AND step_due < $1 THEN 1 ELSE 0 END) \
                 FROM cases WHERE state IN \
                 ('submitted', 'awaiting_supplement', 'awaiting_processing', 'awaiting_feedback') \
                 GROUP BY state",
            )
            .bind(crate::store::registry::format_date(
                crate::clock::today_in_china(),
            ))
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)?;
            STEPS
                .iter()
                .map(|(state, step)| {
                    let (running, overdue) = rows
                        .iter()
                        .find(|(s, _, _)| s == state)
                        .map_or((0, 0), |(_, running, overdue)| (*running, *overdue));
                    (*step, running, overdue)
                })
                .collect()
        };
        Ok(DomainCounts {
            cases_by_step,
            cases_by_state,
            overdue_cases,
            persons: count("persons").await?,
            accounts: count("accounts").await?,
            audit_entries: count("audit_log").await?,
            cards_by_social_state: by_state("social_state").await?,
            cards_by_financial_state: by_state("financial_state").await?,
        })
    }
}
