//! sscard's pure domain: the rules of 社会保障卡启用 with no IO, no async.
//!
//! Everything here is unit- and property-tested; the service layer asks these
//! types what may happen and the store persists the answer.

pub mod access;
pub mod bank;
pub mod batch;
pub mod calendar;
pub mod case;
pub mod consultation;
pub mod delivery;
pub mod guide;
pub mod identifiers;
pub mod mask;
pub mod rating;
pub mod registry;
