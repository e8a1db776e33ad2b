//! Time as people here read it: China Standard Time (Asia/Shanghai, UTC+8,
//! no daylight saving since 1991).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Asia/Shanghai's offset.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Today's civil date in China.
pub fn today_in_china() -> NaiveDate {
    Utc::now().with_timezone(&china_offset()).date_naive()
}

/// A stored UTC time shown as people in China read it.
pub fn to_china(time: DateTime<Utc>) -> DateTime<FixedOffset> {
    time.with_timezone(&china_offset())
}
