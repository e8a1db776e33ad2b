//! Reading the audit trail: supervisors and administrators search it.
//! (Writing is `Services::record_audit`, inside every change's transaction;
//! verifying the chains is `Services::verify_audit`.)

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sscard_domain::access::normalize_username;

use super::{FieldError, Outcome, ServiceError, ServiceResult, Services};
use crate::store::audit::{AuditFilter, AuditRecord};
use crate::store::parse_time;

/// Entries per page unless asked otherwise.
pub const AUDIT_PAGE_SIZE: u32 = 50;
/// The most entries one page may hold.
pub const AUDIT_PAGE_SIZE_MAX: u32 = 200;

/// A search of the trail as a person or a client asks for it.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// A username (its account's entries), or an actor as stored
    /// (`system`, `cli:<os user>`, `account:<uuid>`).
    pub actor: Option<String>,
    /// An action code exactly, e.g. `account.create`.
    pub action: Option<String>,
    /// The beginning of the object, e.g. `account:`.
    pub object_prefix: Option<String>,
    /// `succeeded`, `refused` or `failed`.
    pub outcome: Option<String>,
    /// 1 for the newest entries.
    pub page: u32,
    pub per_page: u32,
}

/// One entry as a supervisor reads it. Its detail was masked by its writer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    /// The chain (0–15) and the entry's number in it.
    pub shard: i64,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    /// As stored: `system`, `cli:<os user>`, `account:<uuid>`.
    pub actor: String,
    /// For accounts: their username and name now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The role(s) acted in, joined by `+`; `-` before sign-in.
    pub actor_role: String,
    /// The client's network address; `-` when not over the network.
    pub client_address: String,
    pub action: String,
    pub object: String,
    /// `succeeded`, `refused` or `failed`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// One page of a search.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditSearch {
    /// Matching entries in all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    /// Newest first.
    pub entries: Vec<AuditEntryView>,
}

impl AuditSearch {
    /// The number of pages (at least 1).
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.per_page.max(1))).max(1)
    }
}

impl Services {
    /// Searches the audit trail, newest first, one page at a time. Every
    /// problem with the query is listed at once.
    pub async fn search_audit(&self, query: &AuditQuery) -> ServiceResult<AuditSearch> {
        let mut errors = Vec::new();
        let outcome = match blank_to_none(query.outcome.as_deref()) {
            None => None,
            Some(text) => match text.parse::<Outcome>() {
                Ok(outcome) => Some(outcome),
                Err(_) => {
                    errors.push(FieldError::new(
                        "outcome",
                        "OUTCOME_UNKNOWN",
                        "结果须为 succeeded（成功）、refused（拒绝）或 failed（失败）。",
                    ));
                    None
                }
            },
        };
        if let (Some(from), Some(until)) = (query.from, query.until)
            && from >= until
        {
            errors.push(FieldError::new(
                "until",
                "TIME_RANGE_EMPTY",
                "截止时间须晚于起始时间。",
            ));
        }
        if query.page == 0 {
            errors.push(FieldError::new("page", "PAGE_INVALID", "页码从 1 开始。"));
        }
        if !(1..=AUDIT_PAGE_SIZE_MAX).contains(&query.per_page) {
            errors.push(FieldError::new(
                "per_page",
                "PAGE_SIZE_INVALID",
                format!("每页条数须在 1–{AUDIT_PAGE_SIZE_MAX} 之间。"),
            ));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "查询条件有误，请按提示修改后重试。".to_owned(),
                errors,
            });
        }

        let accounts = self.store().accounts().await?;
        let names: HashMap<String, (String, String)> = accounts
            .into_iter()
            .map(|a| (format!("account:{}", a.id), (a.username, a.display_name)))
            .collect();
        let actor = blank_to_none(query.actor.as_deref()).map(|actor| {
            // A username stands for its account; anything else is matched as stored.
            normalize_username(actor)
                .and_then(|username| {
                    names
                        .iter()
                        .find(|(_, (name, _))| *name == username)
                        .map(|(id, _)| id.clone())
                })
                .unwrap_or_else(|| actor.to_owned())
        });
        let filter = AuditFilter {
            from: query.from,
            until: query.until,
            actor,
            action: blank_to_none(query.action.as_deref()).map(str::to_owned),
            object_prefix: blank_to_none(query.object_prefix.as_deref()).map(str::to_owned),
            outcome,
        };
        let per_page = i64::from(query.per_page);
        let offset = i64::from(query.page - 1) * per_page;
        let found = self.store().search_audit(&filter, per_page, offset).await?;
        let entries = found
            .records
            .into_iter()
            .map(|record| entry_view(record, &names))
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(AuditSearch {
            total: found.total,
            page: query.page,
            per_page: query.per_page,
            entries,
        })
    }

    /// The action codes found in the trail, for a search form.
    pub async fn audit_actions(&self) -> ServiceResult<Vec<String>> {
        Ok(self.store().audit_actions().await?)
    }
}

fn blank_to_none(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

fn entry_view(
    record: AuditRecord,
    names: &HashMap<String, (String, String)>,
) -> ServiceResult<AuditEntryView> {
    let occurred_at = parse_time(&record.occurred_at)?;
    let detail = serde_json::from_str(&record.detail_json)
        .unwrap_or(serde_json::Value::String(record.detail_json));
    let name = names.get(&record.actor);
    Ok(AuditEntryView {
        id: record.id,
        shard: record.shard,
        seq: record.seq,
        occurred_at,
        actor_username: name.map(|(username, _)| username.clone()),
        actor_name: name.map(|(_, display_name)| display_name.clone()),
        actor: record.actor,
        actor_role: record.actor_role,
        client_address: record.client_address,
        action: record.action,
        object: record.object,
        outcome: record.outcome,
        detail,
    })
}
