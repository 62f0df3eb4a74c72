//! Limits that protect the service's resources and its users' secrets:
//!
//! * [`hashing`] — slow KDF work (argon2id, PBKDF2) runs on blocking threads, at most
//!   a configured number at once, with a bounded wait; the bound holds when the
//!   requesting client disconnects.
//! * [`failures`] — failed authentications counted per username, client and source
//!   address in a sliding window, refused with 429 before any hash is computed
//!   (RFC 6749 §2.3.1, §4.3.2), in bounded memory; [`shared_failures`] keeps the
//!   same counters in Redis for every node. Which address a request comes from is
//!   [`crate::network`]'s answer.
//! * [`pending`] — per-node bookkeeping of the caps on pending interactions and
//!   device grants (the per-address locks, the tenants' recent totals).

pub mod failure_counters;
pub mod failures;
pub mod hashing;
pub mod pending;
pub mod shared_failures;
