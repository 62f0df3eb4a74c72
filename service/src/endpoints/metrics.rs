//! `GET /metrics`: the node's counters and gauges in the Prometheus text format
//! (docs/operations.md, "Metrics", says what each means). Served on the main
//! listener, or only on `metrics.listen` when that is set.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::metrics::Gauge;
use crate::state::AppState;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the counters with the gauges of the moment.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&gauges(&state));
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

fn gauge(name: &'static str, help: &'static str, value: f64) -> Gauge {
    Gauge {
        name,
        help,
        labels: Vec::new(),
        value,
    }
}

fn labelled(
    name: &'static str,
    help: &'static str,
    labels: Vec<(&'static str, String)>,
    value: f64,
) -> Gauge {
    Gauge {
        name,
        help,
        labels,
        value,
    }
}

fn gauges(state: &AppState) -> Vec<Gauge> {
    let mut gauges = Vec::new();
    let pools = state.databases.pool_stats();
    for (name, help, of) in [
        (
            "tessera_pool_connections_open",
            "Connections a pool holds open.",
            0,
        ),
        (
            "tessera_pool_connections_in_use",
            "Connections of a pool in use by a request or task.",
            1,
        ),
        (
            "tessera_pool_connections_max",
            "The most connections a pool opens.",
            2,
        ),
    ] {
        for pool in &pools {
            let value = match of {
                0 => pool.open,
                1 => pool.open.saturating_sub(pool.idle),
                _ => pool.max,
            };
            gauges.push(labelled(
                name,
                help,
                vec![("pool", pool.name.clone())],
                f64::from(value),
            ));
        }
    }
    let group_commits = state.databases.group_commit_counts();
    for (name, help, of) in [
        (
            "tessera_group_commit_batches",
            "Transactions a pool's group commit ran, one per batch of token writes (cumulative).",
            0,
        ),
        (
            "tessera_group_commit_members",
            "Token writes in those batches (cumulative); members / batches is the mean batch size.",
            1,
        ),
        (
            "tessera_group_commit_written_alone",
            "Token writes written again alone because their batch failed (cumulative).",
            2,
        ),
    ] {
        for (pool, counts) in &group_commits {
            let value = match of {
                0 => counts.batches,
                1 => counts.members,
                _ => counts.written_alone,
            };
            gauges.push(labelled(
                name,
                help,
                vec![("pool", pool.clone())],
                value as f64,
            ));
        }
    }
    let redis_up = state.redis.as_ref().map(|redis| redis.is_up());
    gauges.push(gauge(
        "tessera_redis_configured",
        "1 when the node is configured with Redis.",
        if redis_up.is_some() { 1.0 } else { 0.0 },
    ));
    gauges.push(gauge(
        "tessera_redis_up",
        "1 while Redis answers (0 without Redis).",
        if redis_up == Some(true) { 1.0 } else { 0.0 },
    ));
    gauges.push(gauge(
        "tessera_change_notices_listening",
        "1 while the node hears every change notice and trusts its caches.",
        if state.databases.changes().trust().is_trusted() {
            1.0
        } else {
            0.0
        },
    ));
    let mut caches: Vec<(&'static str, crate::cache::CacheCounts)> =
        state.clients.counts().to_vec();
    caches.push(("keys", state.keys.counts()));
    caches.push(("access_tokens", state.access_tokens.counts()));
    for (help, name, of_hits) in [
        (
            "Answers from a node's cache, by cache (cumulative).",
            "tessera_cache_hits",
            true,
        ),
        (
            "Loads from the database, by cache (cumulative; reads while the node does not trust its caches count here).",
            "tessera_cache_misses",
            false,
        ),
    ] {
        for (cache, counts) in &caches {
            let value = if of_hits { counts.hits } else { counts.misses };
            gauges.push(labelled(
                name,
                help,
                vec![("cache", (*cache).to_owned())],
                value as f64,
            ));
        }
    }
    gauges.push(gauge(
        "tessera_revocations_unshared",
        "Revocations committed whose stamp this node could not replace in Redis (cumulative; other nodes may have answered from their token caches until token_cache_ttl_secs ended).",
        state.databases.revocations().unshared() as f64,
    ));
    gauges.push(gauge(
        "tessera_tenants_loaded",
        "Tenants this node has loaded.",
        state.tenants.all().len() as f64,
    ));
    let hashes = &state.slow_hashes;
    gauges.push(gauge(
        "tessera_slow_hash_running",
        "Password and imported-secret hashes running now.",
        hashes.running() as f64,
    ));
    gauges.push(gauge(
        "tessera_slow_hash_waiting",
        "Hashes waiting for a slot (they get 503 after limits.slow_hash_queue_timeout_ms).",
        hashes.waiting() as f64,
    ));
    gauges.push(gauge(
        "tessera_slow_hash_limit",
        "Hashes that may run at once (limits.slow_hash_concurrency).",
        hashes.limit() as f64,
    ));
    gauges
}
