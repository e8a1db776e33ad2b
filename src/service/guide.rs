//! Use cases of the service guide (办事指南): read the current or any
//! published version, publish a new one.

use chrono::{DateTime, Utc};
use sscard_domain::guide::Guide;

use super::{Actor, FieldError, ServiceError, ServiceResult, Services};
use crate::store::audit::{self, AuditEntry, Outcome};
use crate::store::guide::{StoredGuide, current_version, insert_guide_version};

/// The reviewed guide file shipped with this binary (version 44).
pub const SHIPPED_GUIDE: &str = include_str!("../../guide/v44.toml");

/// A guide together with when it was published.
#[derive(Clone, Debug)]
pub struct PublishedGuide {
    pub guide: Guide,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
}

/// One line of the list of published versions.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GuideVersionSummary {
    pub version: u32,
    pub published_at: DateTime<Utc>,
    pub current: bool,
}

/// Parses and validates a guide file; every problem becomes a field error
/// naming the line, so the operator can fix the file.
pub fn parse_guide_file(text: &str) -> ServiceResult<Guide> {
    Guide::from_toml_str(text).map_err(|error| ServiceError::Invalid {
        code: "GUIDE_FILE_INVALID",
        detail: format!("办事指南文件有误：{error}"),
        errors: vec![FieldError::new(
            error.field.clone(),
            "GUIDE_FILE_INVALID",
            error.to_string(),
        )],
    })
}

impl Services {
    /// The current guide: the highest published version. Which version
    /// that is is read from the database each time (another process may
    /// have published one); its content comes from the process's cache of
    /// decoded versions ([`super::reference_cache`]).
    pub async fn current_guide(&self) -> ServiceResult<PublishedGuide> {
        let version =
            self.store()
                .current_guide_version()
                .await?
                .ok_or_else(|| ServiceError::NotFound {
                    code: "GUIDE_NOT_PUBLISHED",
                    detail: "尚未发布办事指南，请联系系统管理员发布。".to_owned(),
                })?;
        self.guide_version(version).await
    }

    /// One published version, exactly as it was published. Published
    /// versions never change, so each is read and decoded once per process.
    pub async fn guide_version(&self, version: u32) -> ServiceResult<PublishedGuide> {
        if let Some(guide) = self.reference().guide(version) {
            return Ok(PublishedGuide::clone(&guide));
        }
        let stored =
            self.store()
                .guide_version(version)
                .await?
                .ok_or_else(|| ServiceError::NotFound {
                    code: "GUIDE_VERSION_NOT_FOUND",
                    detail: format!("办事指南第 {version} 版不存在，请核对版本号。"),
                })?;
        let guide = decode(&stored)?;
        self.reference()
            .keep_guide(version, std::sync::Arc::new(guide.clone()));
        Ok(guide)
    }

    pub async fn guide_versions(&self) -> ServiceResult<Vec<GuideVersionSummary>> {
        let versions = self.store().guide_versions().await?;
        let current = versions.iter().map(|v| v.version).max();
        Ok(versions
            .into_iter()
            .map(|v| GuideVersionSummary {
                version: v.version,
                published_at: v.published_at,
                current: Some(v.version) == current,
            })
            .collect())
    }

    /// Publishes a new guide version, which becomes current. Versions only go
    /// up and a published version is never changed.
    pub async fn publish_guide(&self, text: &str, actor: &Actor) -> ServiceResult<PublishedGuide> {
        let guide = parse_guide_file(text)?;
        let mut tx = self.store().begin().await?;
        if let Some(current) = current_version(&mut tx).await?
            && guide.version <= current
        {
            return Err(ServiceError::Conflict {
                code: "GUIDE_VERSION_NOT_NEWER",
                detail: format!(
                    "办事指南第 {} 版不能发布：当前已是第 {current} 版，已发布的版本不可修改，新版本号须大于当前版本。",
                    guide.version
                ),
            });
        }
        let stored = StoredGuide {
            version: guide.version,
            content_json: serde_json::to_string(&guide)
                .map_err(|e| ServiceError::Internal(e.into()))?,
            source_toml: text.to_owned(),
            published_at: Utc::now(),
            published_by: actor.as_str().to_owned(),
        };
        insert_guide_version(&mut tx, &stored).await?;
        audit::append(
            &mut tx,
            &AuditEntry {
                occurred_at: stored.published_at,
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                client_address: actor.client_address.clone(),
                action: "guide.publish",
                object: format!("guide:{}", guide.version),
                outcome: Outcome::Succeeded,
                detail: serde_json::json!({ "version": guide.version }),
            },
        )
        .await?;
        super::commit(tx).await?;
        tracing::info!(
            version = guide.version,
            actor = actor.as_str(),
            "guide version published"
        );
        Ok(PublishedGuide {
            guide,
            published_at: stored.published_at,
            published_by: stored.published_by,
        })
    }

    /// Publishes the shipped guide when the database has no version at or above it.
    pub(super) async fn seed_shipped_guide(&self) -> ServiceResult<()> {
        let shipped = parse_guide_file(SHIPPED_GUIDE)?;
        let current = self.store().current_guide().await?.map(|g| g.version);
        if current.is_none_or(|current| current < shipped.version) {
            self.publish_guide(SHIPPED_GUIDE, &Actor::system()).await?;
        }
        Ok(())
    }
}

fn decode(stored: &StoredGuide) -> ServiceResult<PublishedGuide> {
    let guide: Guide = serde_json::from_str(&stored.content_json).map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!(
            "stored guide version {} does not decode: {e}",
            stored.version
        ))
    })?;
    Ok(PublishedGuide {
        guide,
        published_at: stored.published_at,
        published_by: stored.published_by.clone(),
    })
}
