//! The audit trail: every change appends one entry inside its own transaction.

use chrono::{DateTime, Utc};

use super::{StoreError, Tx, format_time};

/// One audit entry. `detail` must never hold an unmasked personal identifier.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub detail: serde_json::Value,
}

pub async fn append(tx: &mut Tx, entry: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, occurred_at, actor, action, subject, detail_json) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(format_time(entry.occurred_at))
    .bind(entry.actor.clone())
    .bind(entry.action)
    .bind(entry.subject.clone())
    .bind(entry.detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
