//! The use cases. Each public function is one use case: it loads, asks the
//! domain what may happen, writes in one transaction and appends its audit
//! entry inside that same transaction. The JSON API, the HTML pages and the
//! command line all call these; no rule lives in a handler or a template.

pub mod calendar;
pub mod guide;
pub mod identifiers;

use crate::store::{Store, StoreError};

/// Who did something, as written into the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The system itself (start-up seeding of shipped reference data).
    pub fn system() -> Self {
        Self("system".to_owned())
    }

    /// An operator at the command line of the server machine.
    pub fn operator(os_user: &str) -> Self {
        Self(format!("cli:{os_user}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field at fault, e.g. `id_number` or `process[1].time_limit_working_days`.
    pub field: String,
    /// A stable upper-snake code, e.g. `ID_NUMBER_CHECKSUM`.
    pub code: String,
    /// What is wrong and what to do, in Chinese.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Why a use case did not happen. The HTTP layer maps each variant once to a
/// problem answer; the command line prints the detail.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; `errors` lists every problem at once.
    #[error("{detail}")]
    Invalid {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// The request is valid but conflicts with the current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] StoreError),
    #[error("internal error: {0}")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => Self::Unavailable(error),
            _ => Self::Internal(error.into()),
        }
    }
}

impl ServiceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. } => code,
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The use cases over one store; cheap to clone into every request.
#[derive(Clone, Debug)]
pub struct Services {
    store: Store,
}

impl Services {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Loads the reference data shipped with this binary (the current guide
    /// and the working-day calendars) where the database does not have it yet.
    pub async fn seed_reference_data(&self) -> ServiceResult<()> {
        self.seed_shipped_guide().await?;
        self.seed_shipped_calendars().await?;
        Ok(())
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> ServiceResult<()> {
        self.store.ping().await.map_err(ServiceError::Unavailable)
    }
}
