//! The working-day calendar (工作日历): statutory holidays (法定节假日),
//! adjusted working days (调休上班) and time-limit deadlines.
//!
//! A working day is Monday–Friday, except statutory holidays, plus the
//! weekend days the State Council turns into working days. The facts come
//! from one [`YearCalendar`] per year, kept as a TOML file in the product's
//! own data (`calendar/2026.toml`) and editable by an administrator.
//!
//! A year whose calendar is not loaded is never silently treated as "no
//! holidays": such dates are judged by the weekday alone and every answer that
//! depends on them is marked provisional ([`Answer::Provisional`],
//! [`Deadline::provisional`]).
//!
//! The year calendar file looks like this:
//!
//! ```toml
//! year = 2026
//! source = "国务院办公厅关于2026年部分节假日安排的通知, dated 2025-11-04"
//!
//! [[holidays]]
//! name = "元旦"
//! first_day = 2026-01-01
//! last_day = 2026-01-03
//! adjusted_working_days = [2026-01-04]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::ops::Range;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// The largest time limit [`WorkingCalendar::deadline`] accepts, in working
/// days (about fourteen years; far beyond any real time limit, 办理时限).
pub const MAX_WORKING_DAYS: u32 = 3650;

/// The earliest year a [`YearCalendar`] may describe (TOML dates have four-digit
/// years).
pub const MIN_CALENDAR_YEAR: i32 = 1;

/// The latest year a [`YearCalendar`] may describe.
pub const MAX_CALENDAR_YEAR: i32 = 9999;

// ---------------------------------------------------------------------------
// Year calendar
// ---------------------------------------------------------------------------

/// One statutory holiday (法定节假日) of a year, with the weekend days worked
/// instead (调休上班).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Holiday {
    /// The holiday's name, e.g. `国庆节`.
    pub name: String,
    /// The first day off (inclusive).
    pub first_day: NaiveDate,
    /// The last day off (inclusive).
    pub last_day: NaiveDate,
    /// Saturdays or Sundays that are working days because of this holiday.
    #[serde(default)]
    pub adjusted_working_days: Vec<NaiveDate>,
}

impl Holiday {
    /// The days off, `first_day..=last_day` (empty if the range is reversed).
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let last = self.last_day;
        self.first_day.iter_days().take_while(move |d| *d <= last)
    }

    /// Whether `date` is one of the days off.
    #[must_use]
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.first_day <= date && date <= self.last_day
    }

    fn describe(&self) -> String {
        format!("{} ({}..={})", self.name, self.first_day, self.last_day)
    }
}

/// The holiday arrangement of one calendar year, as published by the State
/// Council (国务院办公厅关于…部分节假日安排的通知).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct YearCalendar {
    /// The calendar year; every date in the calendar lies in it.
    pub year: i32,
    /// Where the facts come from (the notice and its date).
    pub source: String,
    /// The year's holidays, in any order, not overlapping.
    pub holidays: Vec<Holiday>,
}

impl YearCalendar {
    /// Parses and validates a year calendar file (TOML).
    ///
    /// # Errors
    ///
    /// [`CalendarFileError`] with the 1-based line and the field at fault when
    /// the text is not TOML, does not have the expected shape, or breaks a
    /// rule of [`YearCalendar::validate`].
    pub fn from_toml_str(text: &str) -> Result<Self, CalendarFileError> {
        let raw: RawYearCalendar =
            toml::from_str(text).map_err(|err| CalendarFileError::from_toml(text, &err))?;
        let calendar = raw.into_calendar();
        calendar
            .validate()
            .map_err(|invalid| CalendarFileError::locate(text, invalid))?;
        Ok(calendar)
    }

    /// Checks the calendar's rules: the year is within
    /// [`MIN_CALENDAR_YEAR`]`..=`[`MAX_CALENDAR_YEAR`], the source is given,
    /// there is at least one holiday, names are non-empty, every date lies in
    /// `year`, `first_day <= last_day`, holidays don't overlap, and every
    /// adjusted working day is a Saturday or Sunday outside every holiday and
    /// listed once.
    ///
    /// # Errors
    ///
    /// The first rule broken, in file order, as [`CalendarInvalid`].
    pub fn validate(&self) -> Result<(), CalendarInvalid> {
        if !(MIN_CALENDAR_YEAR..=MAX_CALENDAR_YEAR).contains(&self.year) {
            return Err(CalendarInvalid::new(
                FieldPath::key("year"),
                format!(
                    "year {} is outside {MIN_CALENDAR_YEAR}..={MAX_CALENDAR_YEAR}",
                    self.year
                ),
            ));
        }
        if self.source.trim().is_empty() {
            return Err(CalendarInvalid::new(
                FieldPath::key("source"),
                "source must name the notice the calendar comes from".to_owned(),
            ));
        }
        if self.holidays.is_empty() {
            return Err(CalendarInvalid::new(
                FieldPath::key("holidays"),
                "at least one holiday is required; an empty calendar would count the year as \
                 having no holidays"
                    .to_owned(),
            ));
        }
        let mut adjusted_seen: HashMap<NaiveDate, usize> = HashMap::new();
        for (i, holiday) in self.holidays.iter().enumerate() {
            self.validate_holiday(i, holiday)?;
            for (j, &day) in holiday.adjusted_working_days.iter().enumerate() {
                let field = || FieldPath::holiday(i, "adjusted_working_days").index(j);
                self.check_in_year(day, field)?;
                if !is_weekend(day) {
                    return Err(CalendarInvalid::new(
                        field(),
                        format!(
                            "adjusted working day {day} is a {}; an adjusted working day \
                             (调休上班) must be a Saturday or Sunday",
                            weekday_name(day.weekday())
                        ),
                    ));
                }
                if let Some(inside) = self.holidays.iter().find(|h| h.contains(day)) {
                    return Err(CalendarInvalid::new(
                        field(),
                        format!(
                            "adjusted working day {day} lies inside holiday {}",
                            inside.describe()
                        ),
                    ));
                }
                if let Some(first) = adjusted_seen.insert(day, i) {
                    return Err(CalendarInvalid::new(
                        field(),
                        format!(
                            "adjusted working day {day} is already listed under holidays[{first}]"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_holiday(&self, i: usize, holiday: &Holiday) -> Result<(), CalendarInvalid> {
        if holiday.name.trim().is_empty() {
            return Err(CalendarInvalid::new(
                FieldPath::holiday(i, "name"),
                "holiday name must not be empty".to_owned(),
            ));
        }
        self.check_in_year(holiday.first_day, || FieldPath::holiday(i, "first_day"))?;
        self.check_in_year(holiday.last_day, || FieldPath::holiday(i, "last_day"))?;
        if holiday.last_day < holiday.first_day {
            return Err(CalendarInvalid::new(
                FieldPath::holiday(i, "last_day"),
                format!(
                    "last_day {} is before first_day {}",
                    holiday.last_day, holiday.first_day
                ),
            ));
        }
        if let Some((k, earlier)) = self.holidays[..i].iter().enumerate().find(|(_, other)| {
            other.first_day <= holiday.last_day && holiday.first_day <= other.last_day
        }) {
            return Err(CalendarInvalid::new(
                FieldPath::holiday(i, "first_day"),
                format!(
                    "holiday {} overlaps holidays[{k}] {}",
                    holiday.describe(),
                    earlier.describe()
                ),
            ));
        }
        Ok(())
    }

    fn check_in_year(
        &self,
        date: NaiveDate,
        field: impl FnOnce() -> FieldPath,
    ) -> Result<(), CalendarInvalid> {
        if date.year() == self.year {
            Ok(())
        } else {
            Err(CalendarInvalid::new(
                field(),
                format!("{date} is not in year {}", self.year),
            ))
        }
    }

    /// Every day off with the name of its holiday, holiday by holiday.
    pub fn holiday_dates(&self) -> impl Iterator<Item = (NaiveDate, &str)> + '_ {
        self.holidays
            .iter()
            .flat_map(|h| h.dates().map(move |d| (d, h.name.as_str())))
    }

    /// Every adjusted working day (调休上班) with the name of the holiday it
    /// belongs to.
    pub fn adjusted_working_dates(&self) -> impl Iterator<Item = (NaiveDate, &str)> + '_ {
        self.holidays.iter().flat_map(|h| {
            h.adjusted_working_days
                .iter()
                .map(move |d| (*d, h.name.as_str()))
        })
    }

    /// The calendar as a year calendar file; a valid calendar round-trips
    /// through [`YearCalendar::from_toml_str`].
    #[must_use]
    pub fn to_toml_string(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "year = {}", self.year);
        let _ = writeln!(out, "source = {}", toml_string(&self.source));
        for holiday in &self.holidays {
            let adjusted: Vec<String> = holiday
                .adjusted_working_days
                .iter()
                .map(|d| toml_date(*d))
                .collect();
            let _ = write!(
                out,
                "\n[[holidays]]\nname = {}\nfirst_day = {}\nlast_day = {}\n\
                 adjusted_working_days = [{}]\n",
                toml_string(&holiday.name),
                toml_date(holiday.first_day),
                toml_date(holiday.last_day),
                adjusted.join(", "),
            );
        }
        out
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_date(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

// ---------------------------------------------------------------------------
// File format: the serde shape of the TOML file
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYearCalendar {
    year: i32,
    source: String,
    holidays: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    first_day: TomlDate,
    last_day: TomlDate,
    #[serde(default)]
    adjusted_working_days: Vec<TomlDate>,
}

impl RawYearCalendar {
    fn into_calendar(self) -> YearCalendar {
        YearCalendar {
            year: self.year,
            source: self.source,
            holidays: self
                .holidays
                .into_iter()
                .map(|h| Holiday {
                    name: h.name,
                    first_day: h.first_day.0,
                    last_day: h.last_day.0,
                    adjusted_working_days: h
                        .adjusted_working_days
                        .into_iter()
                        .map(|d| d.0)
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A date in the file: a TOML local date (`2026-10-01`) or, leniently, a
/// string holding one (`"2026-10-01"`).
struct TomlDate(NaiveDate);

const DATE_EXPECTED: &str = "a local date such as 2026-10-01";

impl<'de> Deserialize<'de> for TomlDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TomlDateVisitor)
    }
}

struct TomlDateVisitor;

impl<'de> Visitor<'de> for TomlDateVisitor {
    type Value = TomlDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DATE_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<TomlDate, E> {
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(TomlDate)
            .map_err(|_| E::custom(format!("invalid date {v:?}, expected {DATE_EXPECTED}")))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TomlDate, A::Error> {
        let datetime =
            toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
        match datetime {
            toml::value::Datetime {
                date: Some(date),
                time: None,
                offset: None,
            } => NaiveDate::from_ymd_opt(
                i32::from(date.year),
                u32::from(date.month),
                u32::from(date.day),
            )
            .map(TomlDate)
            .ok_or_else(|| de::Error::custom(format!("invalid date {date}"))),
            other => Err(de::Error::custom(format!(
                "expected {DATE_EXPECTED}, found {other} (no time or offset)"
            ))),
        }
    }
}

// ---------------------------------------------------------------------------
// Errors of the calendar file
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathSeg {
    Key(String),
    Index(usize),
}

/// A path to a field of the file, e.g. `holidays[3].last_day` (indexes are
/// 0-based).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldPath(Vec<PathSeg>);

impl FieldPath {
    fn key(key: &str) -> Self {
        Self(vec![PathSeg::Key(key.to_owned())])
    }

    fn holiday(index: usize, field: &str) -> Self {
        Self(vec![
            PathSeg::Key("holidays".to_owned()),
            PathSeg::Index(index),
            PathSeg::Key(field.to_owned()),
        ])
    }

    fn index(mut self, index: usize) -> Self {
        self.0.push(PathSeg::Index(index));
        self
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(key) if n == 0 => f.write_str(key)?,
                PathSeg::Key(key) => write!(f, ".{key}")?,
                PathSeg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A [`YearCalendar`] that breaks one of its rules (see
/// [`YearCalendar::validate`]); it names the field, not a line, because the
/// calendar may not come from a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {path}: {message}")]
pub struct CalendarInvalid {
    path: FieldPath,
    message: String,
}

impl CalendarInvalid {
    fn new(path: FieldPath, message: String) -> Self {
        Self { path, message }
    }

    /// The field at fault, e.g. `holidays[3].last_day` (0-based indexes).
    #[must_use]
    pub fn field(&self) -> String {
        self.path.to_string()
    }

    /// What is wrong, in English (for administrators).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stable error code.
    pub const CODE: &'static str = "CALENDAR_INVALID";
}

/// A year calendar file that cannot be loaded: where (1-based line, field
/// path when known) and why.
///
/// Displays as `line 12, field holidays[3].last_day: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CalendarFileError {
    line: usize,
    field: Option<String>,
    message: String,
}

impl fmt::Display for CalendarFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, field {field}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl CalendarFileError {
    /// The 1-based line at fault.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The field at fault, e.g. `holidays[3].last_day` (0-based indexes), when
    /// it is known (a TOML syntax error has no field).
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong, in English (for administrators).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stable error code.
    pub const CODE: &'static str = "CALENDAR_FILE_INVALID";

    fn from_toml(text: &str, err: &toml::de::Error) -> Self {
        let span = err.span();
        let message = err.message().trim().to_owned();
        // serde reports a missing field at the table that lacks it.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let path = toml_edit::Document::parse(text).ok().map(|doc| {
            let mut path = span
                .as_ref()
                .map(|span| path_enclosing(&doc, span, missing.is_some()))
                .unwrap_or_default();
            if let Some(missing) = missing {
                path.0.push(PathSeg::Key(missing.to_owned()));
            }
            path
        });
        Self {
            line: span.map_or(1, |s| line_of(text, s.start)),
            field: path.filter(|p| !p.0.is_empty()).map(|p| p.to_string()),
            message,
        }
    }

    fn locate(text: &str, invalid: CalendarInvalid) -> Self {
        let line = toml_edit::Document::parse(text)
            .ok()
            .and_then(|doc| span_of_path(&doc, &invalid.path))
            .map_or(1, |span| line_of(text, span.start));
        Self {
            line,
            field: Some(invalid.path.to_string()),
            message: invalid.message,
        }
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A node of a parsed TOML document, for walking spans.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    InlineTable(&'a toml_edit::InlineTable),
    Array(&'a toml_edit::Array),
    ArrayOfTables(&'a toml_edit::ArrayOfTables),
    Leaf,
}

impl<'a> Node<'a> {
    fn of_item(item: &'a toml_edit::Item) -> Self {
        match item {
            toml_edit::Item::Table(t) => Node::Table(t),
            toml_edit::Item::ArrayOfTables(a) => Node::ArrayOfTables(a),
            toml_edit::Item::Value(v) => Node::of_value(v),
            toml_edit::Item::None => Node::Leaf,
        }
    }

    fn of_value(value: &'a toml_edit::Value) -> Self {
        match value {
            toml_edit::Value::Array(a) => Node::Array(a),
            toml_edit::Value::InlineTable(t) => Node::InlineTable(t),
            _ => Node::Leaf,
        }
    }

    /// The children with their path segment and span (a key-value's span runs
    /// from its key to the end of its value; a `[[table]]`'s is its header).
    fn children(self) -> Vec<(PathSeg, Node<'a>, Option<Range<usize>>)> {
        fn entry<'a>(
            key: &str,
            key_repr: &toml_edit::Key,
            item: &'a toml_edit::Item,
        ) -> (PathSeg, Node<'a>, Option<Range<usize>>) {
            let span = match (key_repr.span(), item.span()) {
                (Some(k), Some(v)) => Some(k.start.min(v.start)..k.end.max(v.end)),
                (k, v) => k.or(v),
            };
            (PathSeg::Key(key.to_owned()), Node::of_item(item), span)
        }
        match self {
            Node::Table(t) => t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k).map(|(kr, item)| entry(k, kr, item)))
                .collect(),
            Node::InlineTable(t) => t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k).map(|(kr, item)| entry(k, kr, item)))
                .collect(),
            Node::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (PathSeg::Index(i), Node::of_value(v), v.span()))
                .collect(),
            Node::ArrayOfTables(a) => a
                .iter()
                .enumerate()
                .map(|(i, t)| (PathSeg::Index(i), Node::Table(t), t.span()))
                .collect(),
            Node::Leaf => Vec::new(),
        }
    }
}

/// The span of the deepest node along `path` that the document has.
fn span_of_path(doc: &toml_edit::Document<&str>, path: &FieldPath) -> Option<Range<usize>> {
    let mut node = Node::of_item(doc.as_item());
    let mut best = None;
    for seg in &path.0 {
        let Some((_, child, span)) = node.children().into_iter().find(|(s, _, _)| s == seg) else {
            break;
        };
        if span.is_some() {
            best = span;
        }
        node = child;
    }
    best
}

/// The path of the smallest node whose span encloses `target`; with
/// `tables_only`, of the smallest table (the root if none).
fn path_enclosing(
    doc: &toml_edit::Document<&str>,
    target: &Range<usize>,
    tables_only: bool,
) -> FieldPath {
    fn walk(
        node: Node<'_>,
        target: &Range<usize>,
        tables_only: bool,
        path: &mut Vec<PathSeg>,
        best: &mut Option<(usize, FieldPath)>,
    ) {
        for (seg, child, span) in node.children() {
            path.push(seg);
            let candidate = !tables_only || matches!(child, Node::Table(_) | Node::InlineTable(_));
            if let Some(span) = span.filter(|_| candidate) {
                // An empty span still covers its start.
                let end = span.end.max(span.start + 1);
                let encloses =
                    span.start <= target.start && target.start < end && target.end <= end;
                let len = end - span.start;
                if encloses && best.as_ref().is_none_or(|(l, _)| len <= *l) {
                    *best = Some((len, FieldPath(path.clone())));
                }
            }
            walk(child, target, tables_only, path, best);
            path.pop();
        }
    }
    let mut best = None;
    walk(
        Node::of_item(doc.as_item()),
        target,
        tables_only,
        &mut Vec::new(),
        &mut best,
    );
    best.map(|(_, path)| path).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

/// An answer of the working calendar: certain when every year it depends on is
/// loaded, provisional when some year was judged by the weekday alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Answer<T> {
    /// Every year involved is loaded.
    Certain(T),
    /// Some year involved is not loaded; weekends were assumed the only days
    /// off there.
    Provisional(T),
}

impl<T> Answer<T> {
    fn new(value: T, provisional: bool) -> Self {
        if provisional {
            Answer::Provisional(value)
        } else {
            Answer::Certain(value)
        }
    }

    /// The value, certain or not.
    pub fn value(&self) -> &T {
        match self {
            Answer::Certain(v) | Answer::Provisional(v) => v,
        }
    }

    /// The value, certain or not.
    pub fn into_value(self) -> T {
        match self {
            Answer::Certain(v) | Answer::Provisional(v) => v,
        }
    }

    /// Whether the answer depends on a year that is not loaded.
    #[must_use]
    pub fn is_provisional(&self) -> bool {
        matches!(self, Answer::Provisional(_))
    }

    /// Maps the value, keeping certainty.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Certain(v) => Answer::Certain(f(v)),
            Answer::Provisional(v) => Answer::Provisional(f(v)),
        }
    }
}

/// What kind of day a date is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DayKind {
    /// Monday–Friday, no holiday.
    Workday,
    /// Saturday or Sunday, no adjustment.
    Weekend,
    /// A day off of a statutory holiday.
    Holiday {
        /// The holiday's name.
        name: String,
    },
    /// A Saturday or Sunday worked because of a holiday (调休上班).
    AdjustedWorkday {
        /// The name of the holiday it belongs to.
        name: String,
    },
}

impl DayKind {
    /// Whether a day of this kind is a working day.
    #[must_use]
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Workday | DayKind::AdjustedWorkday { .. })
    }
}

/// A date classified by the working calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DayInfo {
    /// The date.
    pub date: NaiveDate,
    /// Whether it is a working day.
    pub working: bool,
    /// What kind of day it is.
    pub kind: DayKind,
    /// True when the date's year is not loaded and it was judged by the
    /// weekday alone.
    pub provisional: bool,
}

/// The deadline of a time limit counted in working days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deadline {
    /// The day of acceptance as given.
    pub start: NaiveDate,
    /// The time limit in working days (0 = the same working day, 即办件).
    pub working_days: u32,
    /// The last working day of the time limit.
    pub deadline: NaiveDate,
    /// True when a day from `start` to `deadline` lies in a year whose
    /// calendar is not loaded (judged by the weekday alone).
    pub provisional: bool,
    /// The years from `start` to `deadline` whose calendar is not loaded.
    pub provisional_years: Vec<i32>,
}

/// Why a deadline or working day cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// The time limit exceeds [`MAX_WORKING_DAYS`].
    #[error("working_days {requested} is out of range: at most {max} working days")]
    WorkingDaysOutOfRange {
        /// The time limit asked for.
        requested: u32,
        /// The largest accepted time limit.
        max: u32,
    },
    /// The answer lies beyond the supported dates.
    #[error("the date lies beyond the supported date range")]
    DateOutOfRange,
}

impl DeadlineError {
    /// The stable error code: `WORKING_DAYS_OUT_OF_RANGE` or
    /// `DATE_OUT_OF_RANGE`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            DeadlineError::WorkingDaysOutOfRange { .. } => "WORKING_DAYS_OUT_OF_RANGE",
            DeadlineError::DateOutOfRange => "DATE_OUT_OF_RANGE",
        }
    }
}

// ---------------------------------------------------------------------------
// Working calendar
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum SpecialDay {
    Holiday(String),
    AdjustedWorkday(String),
}

/// The working-day calendar over every loaded year.
///
/// Dates of a loaded year follow its [`YearCalendar`]; dates of any other year
/// follow the weekday alone and are provisional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    years: BTreeMap<i32, YearCalendar>,
    special: HashMap<NaiveDate, SpecialDay>,
}

impl WorkingCalendar {
    /// A calendar of the given years; a later calendar of the same year
    /// replaces an earlier one.
    ///
    /// The calendars are expected to be valid ([`YearCalendar::validate`]);
    /// dates outside a calendar's own year are ignored so that a malformed
    /// calendar cannot affect another year, and a date listed both as a
    /// holiday and as an adjusted working day counts as a holiday.
    pub fn new(years: impl IntoIterator<Item = YearCalendar>) -> Self {
        let mut calendar = Self::default();
        for year in years {
            calendar.insert(year);
        }
        calendar
    }

    /// Loads (or replaces) one year; returns the calendar it replaced.
    pub fn insert(&mut self, calendar: YearCalendar) -> Option<YearCalendar> {
        let year = calendar.year;
        self.special.retain(|date, _| date.year() != year);
        for (date, name) in calendar.adjusted_working_dates() {
            if date.year() == year {
                self.special
                    .insert(date, SpecialDay::AdjustedWorkday(name.to_owned()));
            }
        }
        for (date, name) in calendar.holiday_dates() {
            if date.year() == year {
                self.special
                    .insert(date, SpecialDay::Holiday(name.to_owned()));
            }
        }
        self.years.insert(year, calendar)
    }

    /// Whether the calendar of `year` is loaded.
    #[must_use]
    pub fn is_loaded(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The loaded years, ascending.
    pub fn loaded_years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    /// The loaded calendar of `year`.
    #[must_use]
    pub fn year_calendar(&self, year: i32) -> Option<&YearCalendar> {
        self.years.get(&year)
    }

    /// The loaded calendars, by ascending year.
    pub fn year_calendars(&self) -> impl Iterator<Item = &YearCalendar> + '_ {
        self.years.values()
    }

    /// What kind of day `date` is (by the weekday alone if its year is not
    /// loaded; see [`WorkingCalendar::classify`] for the certainty).
    #[must_use]
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        match self.special.get(&date) {
            Some(SpecialDay::Holiday(name)) => DayKind::Holiday { name: name.clone() },
            Some(SpecialDay::AdjustedWorkday(name)) => {
                DayKind::AdjustedWorkday { name: name.clone() }
            }
            None if is_weekend(date) => DayKind::Weekend,
            None => DayKind::Workday,
        }
    }

    /// The kind of `date`, whether it is a working day, and whether that is
    /// certain.
    #[must_use]
    pub fn classify(&self, date: NaiveDate) -> DayInfo {
        let kind = self.day_kind(date);
        DayInfo {
            date,
            working: kind.is_working(),
            kind,
            provisional: !self.is_loaded(date.year()),
        }
    }

    /// Whether `date` is a working day; provisional if its year is not loaded.
    pub fn is_working_day(&self, date: NaiveDate) -> Answer<bool> {
        Answer::new(self.working(date), !self.is_loaded(date.year()))
    }

    /// The first working day strictly after `date`; provisional if a day
    /// examined lies in a year that is not loaded.
    ///
    /// # Errors
    ///
    /// [`DeadlineError::DateOutOfRange`] at the end of the supported dates.
    pub fn next_working_day(&self, date: NaiveDate) -> Result<Answer<NaiveDate>, DeadlineError> {
        let mut day = next_day(date)?;
        let first = day;
        while !self.working(day) {
            day = next_day(day)?;
        }
        Ok(Answer::new(
            day,
            self.any_unloaded(first.year(), day.year()),
        ))
    }

    /// The deadline of a time limit of `working_days` working days accepted on
    /// `start`.
    ///
    /// If `start` is not a working day the acceptance moves to the next
    /// working day (受理顺延). A limit of 0 ends on that day itself (即办件);
    /// a limit of N ends on the N-th working day after it. The deadline is
    /// provisional when any day from `start` to the deadline lies in a year
    /// that is not loaded.
    ///
    /// # Errors
    ///
    /// [`DeadlineError::WorkingDaysOutOfRange`] above [`MAX_WORKING_DAYS`];
    /// [`DeadlineError::DateOutOfRange`] when the deadline lies beyond the
    /// supported dates.
    pub fn deadline(&self, start: NaiveDate, working_days: u32) -> Result<Deadline, DeadlineError> {
        if working_days > MAX_WORKING_DAYS {
            return Err(DeadlineError::WorkingDaysOutOfRange {
                requested: working_days,
                max: MAX_WORKING_DAYS,
            });
        }
        let mut day = start;
        while !self.working(day) {
            day = next_day(day)?;
        }
        let mut remaining = working_days;
        while remaining > 0 {
            day = next_day(day)?;
            if self.working(day) {
                remaining -= 1;
            }
        }
        let provisional_years: Vec<i32> = (start.year()..=day.year())
            .filter(|y| !self.is_loaded(*y))
            .collect();
        Ok(Deadline {
            start,
            working_days,
            deadline: day,
            provisional: !provisional_years.is_empty(),
            provisional_years,
        })
    }

    /// The number of working days after `from` up to and including `to` (0 if
    /// `to <= from`); provisional if one of those days lies in a year that is
    /// not loaded.
    ///
    /// With `from` the day of acceptance, the case is overdue on `to` when the
    /// count exceeds the time limit.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Answer<u32> {
        let Some(first) = from.succ_opt().filter(|first| *first <= to) else {
            return Answer::Certain(0);
        };
        let total = (to - from).num_days();
        // Weekdays among the `total` days after `from`: 5 per full week, then
        // the remaining days one by one.
        let mut count = total / 7 * 5;
        let offset = i64::from(from.weekday().num_days_from_monday());
        for k in 1..=total % 7 {
            if (offset + k) % 7 < 5 {
                count += 1;
            }
        }
        for (date, special) in &self.special {
            if *date < first || *date > to {
                continue;
            }
            match special {
                SpecialDay::Holiday(_) if !is_weekend(*date) => count -= 1,
                SpecialDay::AdjustedWorkday(_) if is_weekend(*date) => count += 1,
                SpecialDay::Holiday(_) | SpecialDay::AdjustedWorkday(_) => {}
            }
        }
        let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
        Answer::new(count, self.any_unloaded(first.year(), to.year()))
    }

    fn working(&self, date: NaiveDate) -> bool {
        match self.special.get(&date) {
            Some(SpecialDay::Holiday(_)) => false,
            Some(SpecialDay::AdjustedWorkday(_)) => true,
            None => !is_weekend(date),
        }
    }

    /// Whether a year in `first..=last` is not loaded.
    fn any_unloaded(&self, first: i32, last: i32) -> bool {
        let span = i64::from(last) - i64::from(first) + 1;
        let loaded = self.years.range(first..=last).count();
        i64::try_from(loaded).is_ok_and(|loaded| loaded < span)
    }
}

fn next_day(date: NaiveDate) -> Result<NaiveDate, DeadlineError> {
    date.succ_opt().ok_or(DeadlineError::DateOutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHIPPED_2026: &str = include_str!("../../../calendar/2026.toml");

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn cal_2026() -> YearCalendar {
        YearCalendar::from_toml_str(SHIPPED_2026).expect("shipped 2026 calendar loads")
    }

    fn wc_2026() -> WorkingCalendar {
        WorkingCalendar::new([cal_2026()])
    }

    fn file_error(text: &str) -> CalendarFileError {
        YearCalendar::from_toml_str(text).expect_err("the file must be rejected")
    }

    /// Replaces exactly one occurrence, so a fixture can't silently go stale.
    fn edit(from: &str, to: &str) -> String {
        assert_eq!(SHIPPED_2026.matches(from).count(), 1, "{from:?}");
        SHIPPED_2026.replacen(from, to, 1)
    }

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines()
            .position(|l| l.contains(needle))
            .expect("needle present")
            + 1
    }

    // --- the shipped 2026 calendar ---------------------------------------

    #[test]
    fn calendar_shipped_2026_loads_with_the_reference_facts() {
        let cal = cal_2026();
        assert_eq!(cal.year, 2026);
        assert!(
            cal.source
                .starts_with("国务院办公厅关于2026年部分节假日安排的通知")
        );
        assert!(cal.source.contains("2025-11-04"));
        assert_eq!(cal.holidays.len(), 7);
        assert_eq!(cal.holiday_dates().count(), 33);
        assert_eq!(cal.adjusted_working_dates().count(), 6);

        // (name, first, last, days, adjusted) from reference/holidays-2026.md
        let expected: [(&str, &str, &str, usize, &[&str]); 7] = [
            ("元旦", "2026-01-01", "2026-01-03", 3, &["2026-01-04"]),
            (
                "春节",
                "2026-02-15",
                "2026-02-23",
                9,
                &["2026-02-14", "2026-02-28"],
            ),
            ("清明节", "2026-04-04", "2026-04-06", 3, &[]),
            ("劳动节", "2026-05-01", "2026-05-05", 5, &["2026-05-09"]),
            ("端午节", "2026-06-19", "2026-06-21", 3, &[]),
            ("中秋节", "2026-09-25", "2026-09-27", 3, &[]),
            (
                "国庆节",
                "2026-10-01",
                "2026-10-07",
                7,
                &["2026-09-20", "2026-10-10"],
            ),
        ];
        for (holiday, (name, first, last, days, adjusted)) in cal.holidays.iter().zip(expected) {
            assert_eq!(holiday.name, name);
            assert_eq!(holiday.first_day, d(first));
            assert_eq!(holiday.last_day, d(last));
            assert_eq!(holiday.dates().count(), days, "{name}");
            let adjusted: Vec<NaiveDate> = adjusted.iter().map(|s| d(s)).collect();
            assert_eq!(holiday.adjusted_working_days, adjusted, "{name}");
        }
    }

    #[test]
    fn calendar_reference_weekdays_hold() {
        // The weekdays printed in the reference table.
        for (date, weekday) in [
            ("2026-01-01", Weekday::Thu),
            ("2026-01-03", Weekday::Sat),
            ("2026-01-04", Weekday::Sun),
            ("2026-02-15", Weekday::Sun),
            ("2026-02-23", Weekday::Mon),
            ("2026-02-14", Weekday::Sat),
            ("2026-02-28", Weekday::Sat),
            ("2026-04-04", Weekday::Sat),
            ("2026-04-06", Weekday::Mon),
            ("2026-05-01", Weekday::Fri),
            ("2026-05-05", Weekday::Tue),
            ("2026-05-09", Weekday::Sat),
            ("2026-06-19", Weekday::Fri),
            ("2026-06-21", Weekday::Sun),
            ("2026-09-25", Weekday::Fri),
            ("2026-09-27", Weekday::Sun),
            ("2026-10-01", Weekday::Thu),
            ("2026-10-07", Weekday::Wed),
            ("2026-09-20", Weekday::Sun),
            ("2026-10-10", Weekday::Sat),
        ] {
            assert_eq!(d(date).weekday(), weekday, "{date}");
        }
    }

    #[test]
    fn calendar_to_toml_string_round_trips() {
        let cal = cal_2026();
        let text = cal.to_toml_string();
        assert!(text.contains("first_day = 2026-10-01\n"), "{text}");
        assert_eq!(YearCalendar::from_toml_str(&text), Ok(cal));

        let tricky = YearCalendar {
            year: 2027,
            source: "a \"quoted\" source\nwith a second line \\ and 'apostrophes'".to_owned(),
            holidays: vec![Holiday {
                name: "元旦 \"New Year\"".to_owned(),
                first_day: d("2027-01-01"),
                last_day: d("2027-01-01"),
                adjusted_working_days: vec![],
            }],
        };
        assert_eq!(
            YearCalendar::from_toml_str(&tricky.to_toml_string()),
            Ok(tricky)
        );
    }

    #[test]
    fn calendar_json_uses_iso_dates() {
        let json = serde_json::to_value(cal_2026()).expect("serializes");
        assert_eq!(json["year"], 2026);
        assert_eq!(json["holidays"][6]["name"], "国庆节");
        assert_eq!(json["holidays"][6]["first_day"], "2026-10-01");
        assert_eq!(
            json["holidays"][6]["adjusted_working_days"],
            serde_json::json!(["2026-09-20", "2026-10-10"])
        );
        let back: YearCalendar = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, cal_2026());
    }

    #[test]
    fn calendar_dates_may_be_quoted_strings_and_adjusted_days_omitted() {
        let text = "year = 2027\nsource = \"s\"\n[[holidays]]\nname = \"元旦\"\n\
                    first_day = \"2027-01-01\"\nlast_day = 2027-01-01\n";
        let cal = YearCalendar::from_toml_str(text).expect("loads");
        assert_eq!(cal.holidays[0].first_day, d("2027-01-01"));
        assert!(cal.holidays[0].adjusted_working_days.is_empty());
    }

    // --- malformed files ---------------------------------------------------

    #[test]
    fn calendar_error_missing_field_names_the_holiday() {
        let text = edit("last_day = 2026-02-23\n", "");
        let err = file_error(&text);
        // serde reports it at the `[[holidays]]` header of 春节.
        assert_eq!(err.line(), line_containing(&text, "name = \"春节\"") - 1);
        assert_eq!(err.field(), Some("holidays[1].last_day"));
        assert!(err.message().contains("missing field"), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "line {}, field holidays[1].last_day: missing field `last_day`",
                err.line()
            )
        );
    }

    #[test]
    fn calendar_error_missing_top_level_field() {
        let err = file_error("year = 2026\nholidays = []\n");
        assert_eq!(err.field(), Some("source"));
        assert_eq!(err.line(), 1);
    }

    #[test]
    fn calendar_error_bad_dates() {
        // Not a date at all: a TOML syntax error, located by line only.
        let text = edit("first_day = 2026-02-15", "first_day = 2026-02-30");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2026-02-30"));
        assert_eq!(err.field(), None);

        // A quoted impossible date.
        let text = edit("first_day = 2026-02-15", "first_day = \"2026-02-30\"");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2026-02-30"));
        assert_eq!(err.field(), Some("holidays[1].first_day"));

        // A date-time is not a date.
        let text = edit(
            "last_day = 2026-10-07",
            "last_day = 2026-10-07T17:00:00+08:00",
        );
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "T17:00"));
        assert_eq!(err.field(), Some("holidays[6].last_day"));

        // Wrong type inside the adjusted days.
        let text = edit("[2026-05-09]", "[2026-05-09, 7]");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "[2026-05-09, 7]"));
        assert_eq!(err.field(), Some("holidays[3].adjusted_working_days[1]"));
    }

    #[test]
    fn calendar_error_adjusted_day_on_a_wednesday() {
        let text = edit("[2026-02-14, 2026-02-28]", "[2026-02-14, 2026-02-25]");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2026-02-25"));
        assert_eq!(err.field(), Some("holidays[1].adjusted_working_days[1]"));
        assert!(err.message().contains("Wednesday"), "{err}");
    }

    #[test]
    fn calendar_error_adjusted_day_inside_a_holiday() {
        // 2026-10-03 is a Saturday inside 国庆节.
        let text = edit("[2026-09-20, 2026-10-10]", "[2026-09-20, 2026-10-03]");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2026-10-03"));
        assert_eq!(err.field(), Some("holidays[6].adjusted_working_days[1]"));
        assert!(err.message().contains("国庆节"), "{err}");
    }

    #[test]
    fn calendar_error_adjusted_day_listed_twice() {
        let text = edit("[2026-05-09]", "[2026-05-09, 2026-05-09]");
        let err = file_error(&text);
        assert_eq!(err.field(), Some("holidays[3].adjusted_working_days[1]"));
        assert_eq!(
            err.line(),
            line_containing(&text, "[2026-05-09, 2026-05-09]")
        );
    }

    #[test]
    fn calendar_error_holiday_outside_the_year() {
        let text = edit("last_day = 2026-10-07", "last_day = 2027-01-07");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2027-01-07"));
        assert_eq!(err.field(), Some("holidays[6].last_day"));
        assert!(err.message().contains("not in year 2026"), "{err}");

        let text = edit(
            "adjusted_working_days = [2026-01-04]",
            "adjusted_working_days = [2025-12-28]",
        );
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2025-12-28"));
        assert_eq!(err.field(), Some("holidays[0].adjusted_working_days[0]"));
    }

    #[test]
    fn calendar_error_overlapping_holidays() {
        let text = edit("first_day = 2026-10-01", "first_day = 2026-09-27");
        let err = file_error(&text);
        // The second `first_day = 2026-09-27`, right above 国庆节's last day.
        assert_eq!(
            err.line(),
            line_containing(&text, "last_day = 2026-10-07") - 1
        );
        assert_eq!(err.field(), Some("holidays[6].first_day"));
        assert!(err.message().contains("中秋节"), "{err}");
    }

    #[test]
    fn calendar_error_reversed_range_empty_name_unknown_field() {
        let text = edit("last_day = 2026-06-21", "last_day = 2026-06-18");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "2026-06-18"));
        assert_eq!(err.field(), Some("holidays[4].last_day"));

        let text = edit("name = \"清明节\"", "name = \"  \"");
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "name = \"  \""));
        assert_eq!(err.field(), Some("holidays[2].name"));

        let text = edit(
            "name = \"清明节\"",
            "name = \"清明节\"\nadjusted_workday = []",
        );
        let err = file_error(&text);
        assert_eq!(err.line(), line_containing(&text, "adjusted_workday ="));
        assert_eq!(err.field(), Some("holidays[2].adjusted_workday"));
    }

    #[test]
    fn calendar_error_year_source_and_empty_holidays() {
        let err = file_error(&edit("year = 2026", "year = \"2026\""));
        assert_eq!(err.field(), Some("year"));
        assert_eq!(err.line(), line_containing(SHIPPED_2026, "year = 2026"));

        let err = file_error("year = 2026\nsource = \"\"\nholidays = []\n");
        assert_eq!((err.line(), err.field()), (2, Some("source")));

        let err = file_error("year = 2026\nsource = \"s\"\nholidays = []\n");
        assert_eq!((err.line(), err.field()), (3, Some("holidays")));

        let err = file_error("year = 99999\nsource = \"s\"\nholidays = []\n");
        assert_eq!((err.line(), err.field()), (1, Some("year")));
    }

    #[test]
    fn calendar_error_inline_table_holidays_are_located_too() {
        let text = "year = 2026\nsource = \"s\"\nholidays = [\n\
                    { name = \"a\", first_day = 2026-01-01, last_day = 2026-01-03 },\n\
                    { name = \"b\", first_day = 2026-01-02, last_day = 2026-01-03 },\n]\n";
        let err = file_error(text);
        assert_eq!(
            (err.line(), err.field()),
            (5, Some("holidays[1].first_day"))
        );
    }

    #[test]
    fn calendar_error_syntax() {
        let err = file_error("year = 2026\nyear = 2027\n");
        assert_eq!(err.line(), 2);
        assert_eq!(err.field(), None);
        assert_eq!(err.to_string(), format!("line 2: {}", err.message()));
        assert_eq!(CalendarFileError::CODE, "CALENDAR_FILE_INVALID");
    }

    #[test]
    fn calendar_validate_without_a_file_names_the_field() {
        let mut cal = cal_2026();
        cal.holidays[3].adjusted_working_days.push(d("2026-05-13"));
        let err = cal.validate().expect_err("Wednesday");
        assert_eq!(err.field(), "holidays[3].adjusted_working_days[1]");
        assert!(
            err.to_string()
                .starts_with("field holidays[3].adjusted_working_days[1]: ")
        );
    }

    // --- the working calendar -------------------------------------------

    fn deadline(wc: &WorkingCalendar, start: &str, n: u32) -> Deadline {
        wc.deadline(d(start), n).expect("deadline")
    }

    #[test]
    fn calendar_known_deadlines() {
        let wc = wc_2026();
        let dl = deadline(&wc, "2026-09-30", 1);
        assert_eq!((dl.deadline, dl.provisional), (d("2026-10-08"), false));
        assert!(dl.provisional_years.is_empty());
        assert_eq!(deadline(&wc, "2026-09-30", 0).deadline, d("2026-09-30"));
        // 受理顺延: accepted during 国庆节, the same-day limit ends on 10-08.
        assert_eq!(deadline(&wc, "2026-10-01", 0).deadline, d("2026-10-08"));
        // Adjusted Saturdays count.
        assert_eq!(deadline(&wc, "2026-10-09", 1).deadline, d("2026-10-10"));
        assert_eq!(deadline(&wc, "2026-02-13", 1).deadline, d("2026-02-14"));
        // Through the whole Spring Festival: 02-14 (Sat, adjusted), 02-24, 02-25.
        assert_eq!(deadline(&wc, "2026-02-13", 3).deadline, d("2026-02-25"));
        // A plain week: Monday + 5 = next Monday.
        assert_eq!(deadline(&wc, "2026-03-02", 5).deadline, d("2026-03-09"));
        // Accepted on a plain Saturday: moved to Monday.
        assert_eq!(deadline(&wc, "2026-03-07", 0).deadline, d("2026-03-09"));
    }

    #[test]
    fn calendar_deadline_into_an_unloaded_year_is_provisional() {
        let wc = wc_2026();
        let dl = deadline(&wc, "2026-12-31", 1);
        assert_eq!(dl.deadline, d("2027-01-01")); // a Friday, by weekday rule
        assert!(dl.provisional);
        assert_eq!(dl.provisional_years, vec![2027]);

        let dl = deadline(&wc, "2030-05-01", 0);
        assert!(dl.provisional);
        assert_eq!(dl.provisional_years, vec![2030]);
        assert_eq!(dl.deadline, d("2030-05-01")); // a Wednesday; 2030 not loaded

        let json = serde_json::to_value(&dl).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "start": "2030-05-01", "working_days": 0, "deadline": "2030-05-01",
                "provisional": true, "provisional_years": [2030]
            })
        );
    }

    #[test]
    fn calendar_deadline_limits() {
        let wc = wc_2026();
        let err = wc
            .deadline(d("2026-01-05"), MAX_WORKING_DAYS + 1)
            .expect_err("cap");
        assert_eq!(err.code(), "WORKING_DAYS_OUT_OF_RANGE");
        assert!(wc.deadline(d("2026-01-05"), MAX_WORKING_DAYS).is_ok());
        assert!(wc.deadline(d("2026-01-05"), u32::MAX).is_err());

        let err = wc.deadline(NaiveDate::MAX, 5).expect_err("beyond range");
        assert_eq!(err.code(), "DATE_OUT_OF_RANGE");
        assert_eq!(
            wc.next_working_day(NaiveDate::MAX),
            Err(DeadlineError::DateOutOfRange)
        );
        assert!(wc.deadline(NaiveDate::MIN, MAX_WORKING_DAYS).is_ok());
    }

    #[test]
    fn calendar_classify() {
        let wc = wc_2026();
        let info = wc.classify(d("2026-10-01"));
        assert_eq!(
            info,
            DayInfo {
                date: d("2026-10-01"),
                working: false,
                kind: DayKind::Holiday {
                    name: "国庆节".to_owned()
                },
                provisional: false,
            }
        );
        assert_eq!(
            wc.day_kind(d("2026-10-10")),
            DayKind::AdjustedWorkday {
                name: "国庆节".to_owned()
            }
        );
        // 2026-09-20 (Sun) belongs to 国庆节 though it lies before 中秋节.
        assert!(wc.classify(d("2026-09-20")).working);
        assert_eq!(wc.day_kind(d("2026-10-11")), DayKind::Weekend);
        assert_eq!(wc.day_kind(d("2026-10-12")), DayKind::Workday);
        // A holiday on a Saturday is a holiday.
        assert_eq!(
            wc.day_kind(d("2026-01-03")),
            DayKind::Holiday {
                name: "元旦".to_owned()
            }
        );

        let info = wc.classify(d("2030-10-01"));
        assert!(info.provisional);
        assert!(info.working); // a Tuesday, by weekday only
        assert_eq!(info.kind, DayKind::Workday);

        let json = serde_json::to_value(wc.classify(d("2026-10-10"))).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "date": "2026-10-10", "working": true,
                "kind": {"type": "adjusted_workday", "name": "国庆节"}, "provisional": false
            })
        );
    }

    #[test]
    fn calendar_is_working_day_answers() {
        let wc = wc_2026();
        assert_eq!(wc.is_working_day(d("2026-10-08")), Answer::Certain(true));
        assert_eq!(wc.is_working_day(d("2026-10-02")), Answer::Certain(false));
        assert_eq!(wc.is_working_day(d("2026-02-14")), Answer::Certain(true));
        // 2030-10-01 is a Tuesday; 2030 is not loaded.
        let answer = wc.is_working_day(d("2030-10-01"));
        assert_eq!(answer, Answer::Provisional(true));
        assert!(answer.is_provisional());
        assert!(*answer.value());
        assert_eq!(answer.map(u8::from), Answer::Provisional(1));
    }

    #[test]
    fn calendar_loaded_years_and_replacement() {
        let empty = WorkingCalendar::default();
        assert_eq!(empty.loaded_years().count(), 0);
        assert_eq!(
            empty.is_working_day(d("2026-10-01")),
            Answer::Provisional(true)
        );

        let mut wc = wc_2026();
        assert!(wc.is_loaded(2026));
        assert!(!wc.is_loaded(2027));
        assert_eq!(wc.loaded_years().collect::<Vec<_>>(), vec![2026]);
        assert_eq!(wc.year_calendar(2026), Some(&cal_2026()));

        // Replacing a year drops its old holidays.
        let mut edited = cal_2026();
        edited.holidays.pop(); // no 国庆节
        let old = wc.insert(edited);
        assert_eq!(old, Some(cal_2026()));
        assert_eq!(wc.is_working_day(d("2026-10-08")), Answer::Certain(true));
        assert_eq!(wc.is_working_day(d("2026-10-01")), Answer::Certain(true));
        assert_eq!(wc.is_working_day(d("2026-10-10")), Answer::Certain(false));
        assert_eq!(wc.year_calendars().count(), 1);
    }

    #[test]
    fn calendar_next_working_day() {
        let wc = wc_2026();
        assert_eq!(
            wc.next_working_day(d("2026-09-30")),
            Ok(Answer::Certain(d("2026-10-08")))
        );
        assert_eq!(
            wc.next_working_day(d("2026-02-13")),
            Ok(Answer::Certain(d("2026-02-14")))
        );
        assert_eq!(
            wc.next_working_day(d("2026-12-31")),
            Ok(Answer::Provisional(d("2027-01-01")))
        );
    }

    #[test]
    fn calendar_working_days_between() {
        let wc = wc_2026();
        assert_eq!(
            wc.working_days_between(d("2026-09-30"), d("2026-10-08")),
            Answer::Certain(1)
        );
        assert_eq!(
            wc.working_days_between(d("2026-09-30"), d("2026-10-10")),
            Answer::Certain(3)
        );
        assert_eq!(
            wc.working_days_between(d("2026-10-08"), d("2026-10-08")),
            Answer::Certain(0)
        );
        assert_eq!(
            wc.working_days_between(d("2026-10-08"), d("2026-09-30")),
            Answer::Certain(0)
        );
        // 2026 has 365 days, 104 weekend days, 33 - 14 = 19 holiday weekdays
        // (14 of the 33 holiday days fall on weekends) and 6 adjusted days.
        assert_eq!(
            wc.working_days_between(d("2025-12-31"), d("2026-12-31")),
            Answer::Certain(365 - 104 - 19 + 6)
        );
        assert_eq!(
            wc.working_days_between(d("2026-12-30"), d("2027-01-04")),
            Answer::Provisional(3)
        );
        // The extremes don't panic or overflow.
        let all = wc.working_days_between(NaiveDate::MIN, NaiveDate::MAX);
        assert!(all.is_provisional());
        assert!(*all.value() > 0);
    }

    #[test]
    fn calendar_holiday_weekend_count_matches_the_comment_above() {
        let on_weekends = cal_2026()
            .holiday_dates()
            .filter(|(date, _)| is_weekend(*date))
            .count();
        assert_eq!(on_weekends, 14);
    }

    fn naive_between(wc: &WorkingCalendar, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|day| *day <= to)
            .filter(|day| *wc.is_working_day(*day).value())
            .map(|_| 1)
            .sum()
    }

    fn date_2026() -> impl Strategy<Value = NaiveDate> {
        (0u64..365).prop_map(|k| d("2026-01-01") + chrono::Days::new(k))
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce(),)
            .prop_map(|(k,)| NaiveDate::from_num_days_from_ce_opt(k).expect("in range"))
    }

    proptest! {
        #[test]
        fn calendar_prop_deadline_is_a_working_day_n_working_days_on(
            start in date_2026(),
            n in 0u32..40,
        ) {
            let wc = wc_2026();
            let dl = wc.deadline(start, n).expect("deadline");
            prop_assert!(dl.deadline >= start);
            prop_assert!(*wc.is_working_day(dl.deadline).value());
            let accepted = wc.deadline(start, 0).expect("moved start").deadline;
            prop_assert!(*wc.is_working_day(accepted).value());
            prop_assert_eq!(*wc.working_days_between(accepted, dl.deadline).value(), n);
            prop_assert_eq!(naive_between(&wc, accepted, dl.deadline), n);
            // No working day between start and the moved start.
            prop_assert_eq!(*wc.working_days_between(start, accepted).value(), u32::from(start != accepted));
            prop_assert_eq!(dl.provisional, dl.deadline.year() > 2026);
            prop_assert_eq!(dl.provisional, !dl.provisional_years.is_empty());
        }

        #[test]
        fn calendar_prop_deadline_is_monotonic_in_n(start in date_2026(), n in 0u32..60) {
            let wc = wc_2026();
            let a = wc.deadline(start, n).expect("deadline");
            let b = wc.deadline(start, n + 1).expect("deadline");
            prop_assert!(a.deadline < b.deadline);
            prop_assert_eq!(wc.next_working_day(a.deadline).expect("next").into_value(), b.deadline);
        }

        #[test]
        fn calendar_prop_a_holiday_is_never_a_working_day(date in date_2026()) {
            let wc = wc_2026();
            let info = wc.classify(date);
            prop_assert!(!info.provisional);
            prop_assert_eq!(info.working, *wc.is_working_day(date).value());
            if matches!(info.kind, DayKind::Holiday { .. }) {
                prop_assert!(!info.working);
                prop_assert_eq!(wc.is_working_day(date), Answer::Certain(false));
            }
        }

        #[test]
        fn calendar_prop_deadline_never_panics(start in any_date(), n in 0u32..=MAX_WORKING_DAYS + 5) {
            let wc = wc_2026();
            match wc.deadline(start, n) {
                Ok(dl) => {
                    prop_assert!(n <= MAX_WORKING_DAYS);
                    prop_assert!(dl.deadline >= start);
                    prop_assert_eq!(dl.provisional, !dl.provisional_years.is_empty());
                }
                Err(DeadlineError::WorkingDaysOutOfRange { .. }) => prop_assert!(n > MAX_WORKING_DAYS),
                Err(DeadlineError::DateOutOfRange) => {
                    // Only when n working days (at most two calendar days
                    // each, plus the holidays of a year) would pass the
                    // last representable date.
                    let days_left = NaiveDate::MAX.signed_duration_since(start).num_days();
                    prop_assert!(days_left < 2 * i64::from(n) + 366, "{start} + {n}");
                }
            }
        }

        #[test]
        fn calendar_prop_deadline_near_the_last_date_is_out_of_range_not_a_panic(
            days_before_max in 0u64..12_000,
            n in 0u32..=MAX_WORKING_DAYS,
        ) {
            let wc = wc_2026();
            let start = NaiveDate::MAX - chrono::Days::new(days_before_max);
            match wc.deadline(start, n) {
                Ok(dl) => prop_assert!(dl.deadline >= start),
                Err(DeadlineError::DateOutOfRange) => {
                    prop_assert!(days_before_max < 2 * u64::from(n) + 366, "{start} + {n}");
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
            // Far enough from the end, the deadline is always found.
            if days_before_max >= 2 * u64::from(n) + 366 {
                prop_assert!(wc.deadline(start, n).is_ok());
            }
        }

        #[test]
        fn calendar_prop_working_days_between_matches_counting(
            from_offset in 0u64..1500,
            len in 0u64..800,
        ) {
            let wc = wc_2026();
            let from = d("2024-06-01") + chrono::Days::new(from_offset);
            let to = from + chrono::Days::new(len);
            let answer = wc.working_days_between(from, to);
            prop_assert_eq!(*answer.value(), naive_between(&wc, from, to));
            let any_unloaded = from.iter_days().skip(1).take_while(|day| *day <= to).any(|day| day.year() != 2026);
            prop_assert_eq!(answer.is_provisional(), any_unloaded);
        }

        #[test]
        fn calendar_prop_from_toml_str_never_panics(text in "\\PC{0,200}") {
            let _ = YearCalendar::from_toml_str(&text);
        }

        #[test]
        fn calendar_prop_truncated_file_is_an_error_with_a_line_in_range(cut in 0usize..2000) {
            let cut = SHIPPED_2026
                .char_indices()
                .map(|(i, _)| i)
                .find(|i| *i >= cut % SHIPPED_2026.len())
                .unwrap_or(SHIPPED_2026.len());
            let text = &SHIPPED_2026[..cut];
            if let Err(err) = YearCalendar::from_toml_str(text) {
                prop_assert!(err.line() >= 1);
                prop_assert!(err.line() <= text.lines().count().max(1) + 1, "{}", err);
            }
        }
    }
}
