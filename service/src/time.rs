//! Wall-clock helpers. Timestamps are stored as UTC without an offset.

use entity::Timestamp;
use time::OffsetDateTime;

/// The current instant in UTC, to the microsecond (every backend stores that much).
pub fn now() -> Timestamp {
    let now = OffsetDateTime::now_utc();
    let micros = now.microsecond();
    let now = now.replace_nanosecond(micros * 1000).unwrap_or(now);
    Timestamp::new(now.date(), now.time())
}
