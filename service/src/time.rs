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

/// `at` plus `seconds` (saturating far in the future).
pub fn plus_seconds(at: Timestamp, seconds: u64) -> Timestamp {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX / 2);
    at.checked_add(time::Duration::seconds(seconds))
        .unwrap_or(Timestamp::MAX)
}

/// Seconds from now until `at` (negative when past).
pub fn seconds_until(at: Timestamp) -> i64 {
    (at - now()).whole_seconds()
}

/// Seconds since the Unix epoch (JWT and RFC 7662 `exp`/`iat`).
pub fn unix_seconds(at: Timestamp) -> i64 {
    at.assume_utc().unix_timestamp()
}

/// A row's version from its last change's time (nanoseconds since the epoch): what
/// an `ETag` quotes and a compare-and-set compares.
pub fn version_at(at: Timestamp) -> String {
    at.assume_utc().unix_timestamp_nanos().to_string()
}

/// `at` as RFC 3339 UTC (`2026-12-02T01:02:03.456789Z`), for CLI output.
pub fn rfc3339(at: Timestamp) -> String {
    at.assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
