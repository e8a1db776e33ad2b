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
}

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
        Ok(DomainCounts {
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
