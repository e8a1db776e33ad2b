//! Decoded reference data kept in memory: published guide versions and
//! loaded calendar years. Every case action needs its case's guide version
//! and the working-day calendar; decoding them from their stored JSON on
//! each request was measurable work (see `BENCHMARKS.md`).
//!
//! - A published guide version never changes (`guide_versions` rows are
//!   insert-only), so a decoded version is kept for the life of the process;
//!   which version is current is still asked of the database each time, so
//!   a version published by another process (`sscard guide publish`) is
//!   current at once.
//! - A calendar year can be re-imported (a correction), by this process or
//!   another one, so each use still reads every wanted year's `imported_at`
//!   (one small query) and decodes a year again only when that changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use sscard_domain::calendar::YearCalendar;

use super::guide::PublishedGuide;

/// A decoded year and when the stored one was imported.
type StampedYear = (DateTime<Utc>, Arc<YearCalendar>);

/// The process's decoded guides and calendar years.
#[derive(Debug, Default)]
pub struct ReferenceCache {
    guides: Mutex<HashMap<u32, Arc<PublishedGuide>>>,
    years: Mutex<HashMap<i32, StampedYear>>,
}

impl ReferenceCache {
    /// A decoded guide version, if it was decoded before.
    pub fn guide(&self, version: u32) -> Option<Arc<PublishedGuide>> {
        self.guides
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&version)
            .cloned()
    }

    /// Keeps a decoded guide version (published versions never change).
    pub fn keep_guide(&self, version: u32, guide: Arc<PublishedGuide>) {
        self.guides
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(version, guide);
    }

    /// A decoded year, if the one kept was imported at `imported_at`.
    pub fn year(&self, year: i32, imported_at: DateTime<Utc>) -> Option<Arc<YearCalendar>> {
        self.years
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&year)
            .filter(|(at, _)| *at == imported_at)
            .map(|(_, calendar)| Arc::clone(calendar))
    }

    /// Keeps a decoded year as imported at `imported_at`.
    pub fn keep_year(&self, year: i32, imported_at: DateTime<Utc>, calendar: Arc<YearCalendar>) {
        self.years
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(year, (imported_at, calendar));
    }
}
