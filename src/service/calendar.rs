//! Use cases of the working-day calendar (工作日历): deadlines, import and
//! display of a year's statutory holidays and adjusted working days.

use chrono::{Datelike, NaiveDate, Utc};
use sscard_domain::calendar::{Deadline, WorkingCalendar, YearCalendar};

use super::{Actor, FieldError, ServiceError, ServiceResult, Services};
use crate::store::audit::{self, AuditEntry, Outcome};
use crate::store::calendar::{StoredYear, upsert_year};

/// The calendars shipped with this binary, loaded when a database lacks them.
pub const SHIPPED_CALENDARS: &[&str] = &[include_str!("../../calendar/2026.toml")];

/// The most working days a deadline may be asked for (about ten years).
pub const MAX_WORKING_DAYS: u32 = 2500;

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedYear {
    pub year: i32,
    /// An earlier import of the same year was replaced (a correction).
    pub replaced: bool,
    pub holidays: usize,
    pub adjusted_working_days: usize,
}

/// Parses and validates a calendar file, naming the line at fault.
pub fn parse_calendar_file(text: &str) -> ServiceResult<YearCalendar> {
    YearCalendar::from_toml_str(text).map_err(|error| ServiceError::Invalid {
        code: "CALENDAR_FILE_INVALID",
        detail: format!("工作日历文件有误：{error}"),
        errors: vec![FieldError::new(
            error.field().unwrap_or_default(),
            "CALENDAR_FILE_INVALID",
            error.to_string(),
        )],
    })
}

impl Services {
    /// The deadline `working_days` working days after `start` (受理顺延 first
    /// when `start` is not a working day). Provisional when a year on the way
    /// has no loaded calendar; that is logged so administrators load it.
    pub async fn deadline(&self, start: NaiveDate, working_days: u32) -> ServiceResult<Deadline> {
        if working_days > MAX_WORKING_DAYS {
            return Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: format!("工作日数不能超过 {MAX_WORKING_DAYS}。"),
                errors: vec![FieldError::new(
                    "working_days",
                    "WORKING_DAYS_OUT_OF_RANGE",
                    format!("工作日数须在 0 到 {MAX_WORKING_DAYS} 之间。"),
                )],
            });
        }
        let calendar = self.working_calendar(start, working_days).await?;
        let deadline =
            calendar
                .deadline(start, working_days)
                .map_err(|error| ServiceError::Invalid {
                    code: "VALIDATION_FAILED",
                    detail: format!("无法计算办理时限：{error}"),
                    errors: vec![FieldError::new("start", error.code(), error.to_string())],
                })?;
        if deadline.provisional {
            tracing::warn!(
                years = ?deadline.provisional_years,
                "working-day calendar not loaded for year(s) {:?}: deadline counted by weekdays only and marked provisional; an administrator must import the year (sscard calendar import FILE)",
                deadline.provisional_years
            );
        }
        Ok(deadline)
    }

    /// The calendar covering `start` and as many following years as
    /// `working_days` can reach.
    pub(crate) async fn working_calendar(
        &self,
        start: NaiveDate,
        working_days: u32,
    ) -> ServiceResult<WorkingCalendar> {
        let reach = i32::try_from(working_days / 240 + 1).unwrap_or(i32::MAX);
        let (from, to) = (start.year(), start.year().saturating_add(reach));
        // Only the import stamps are read each time; a year is read and
        // decoded again when it was re-imported (by any process).
        let stamps = self.store().calendar_year_stamps(from, to).await?;
        let mut years = Vec::with_capacity(stamps.len());
        let mut missing = false;
        for (year, imported_at) in &stamps {
            match self.reference().year(*year, *imported_at) {
                Some(calendar) => years.push(YearCalendar::clone(&calendar)),
                None => missing = true,
            }
        }
        if missing {
            years.clear();
            for stored in self.store().calendar_years(from, to).await? {
                let decoded = decode_year(&stored)?;
                self.reference().keep_year(
                    stored.year,
                    stored.imported_at,
                    std::sync::Arc::new(decoded.clone()),
                );
                years.push(decoded);
            }
        }
        Ok(WorkingCalendar::new(years))
    }

    /// One loaded year.
    pub async fn calendar_year(&self, year: i32) -> ServiceResult<YearCalendar> {
        let stored = self.store().calendar_years(year, year).await?;
        let stored = stored.first().ok_or_else(|| ServiceError::NotFound {
            code: "CALENDAR_YEAR_NOT_LOADED",
            detail: format!(
                "{year} 年的工作日历尚未导入，请管理员导入国务院办公厅公布的当年节假日安排。"
            ),
        })?;
        decode_year(stored)
    }

    pub async fn calendar_year_numbers(&self) -> ServiceResult<Vec<i32>> {
        Ok(self.store().calendar_year_numbers().await?)
    }

    /// Loads (or corrects) one year of the calendar.
    pub async fn import_calendar(&self, text: &str, actor: &Actor) -> ServiceResult<ImportedYear> {
        let year = parse_calendar_file(text)?;
        let stored = StoredYear {
            year: year.year,
            source: year.source.clone(),
            content_json: serde_json::to_string(&year)
                .map_err(|e| ServiceError::Internal(e.into()))?,
            imported_at: Utc::now(),
            imported_by: actor.as_str().to_owned(),
        };
        let mut tx = self.store().begin().await?;
        let replaced = upsert_year(&mut tx, &stored).await?;
        let imported = ImportedYear {
            year: year.year,
            replaced,
            holidays: year.holidays.len(),
            adjusted_working_days: year.adjusted_working_dates().count(),
        };
        audit::append(
            &mut tx,
            &AuditEntry {
                occurred_at: stored.imported_at,
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                client_address: actor.client_address.clone(),
                action: if replaced {
                    "calendar.replace"
                } else {
                    "calendar.import"
                },
                object: format!("calendar:{}", year.year),
                outcome: Outcome::Succeeded,
                detail: serde_json::json!({
                    "year": year.year,
                    "source": year.source,
                    "holidays": imported.holidays,
                    "adjusted_working_days": imported.adjusted_working_days,
                }),
            },
        )
        .await?;
        super::commit(tx).await?;
        tracing::info!(
            year = year.year,
            replaced,
            actor = actor.as_str(),
            "calendar year imported"
        );
        Ok(imported)
    }

    pub(super) async fn seed_shipped_calendars(&self) -> ServiceResult<()> {
        let loaded = self.store().calendar_year_numbers().await?;
        for text in SHIPPED_CALENDARS {
            let year = parse_calendar_file(text)?;
            if !loaded.contains(&year.year) {
                self.import_calendar(text, &Actor::system()).await?;
            }
        }
        Ok(())
    }
}

fn decode_year(stored: &StoredYear) -> ServiceResult<YearCalendar> {
    serde_json::from_str(&stored.content_json).map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!(
            "stored calendar year {} does not decode: {e}",
            stored.year
        ))
    })
}
