//! What the nodes of one deployment share through Redis (optional, never fatal):
//! `redis`, the connection whose every call times out quickly and falls back; and
//! `changes`, the notices that keep each node's caches honest
//! (docs/operations.md, "Several nodes"); and `revocations`, the stamps that let a
//! node's token cache see every revocation at once. The shared brute-force counters live with
//! the other limits (`limits::shared_failures`), over this connection.

pub mod changes;
pub mod redis;
pub mod revocations;
