//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// How long `/readyz` waits for each pool (Redis: its own short call timeout).
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /healthz`: the process serves HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: every pool answers (503 names the ones that do not, without their
/// error text). Redis, when configured, is reported but never makes the node unready
/// (the node serves without it): `"redis": "unavailable"`, whether the node hears
/// change notices (`change_notices`) and whose failure counters it uses
/// (`failure_limits`), and `"status": "degraded"` with 200 while either is not
/// as it should be.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut ready = true;
    let mut degraded = false;
    let mut pools = serde_json::Map::new();
    for (name, answer) in state.databases.ping_all(READY_TIMEOUT).await {
        if let Err(error) = &answer {
            tracing::warn!(pool = %name, %error, "readiness: pool does not answer");
            ready = false;
        }
        pools.insert(
            name.to_string(),
            Value::from(if answer.is_ok() { "ok" } else { "unavailable" }),
        );
    }
    let mut body = json!({ "pools": pools });
    if let Some(redis) = &state.redis {
        let answer = redis.ping().await;
        if let Err(error) = &answer {
            tracing::warn!(%error, "readiness: redis does not answer (degraded)");
            degraded = true;
        }
        let listening = state.databases.changes().trust().is_trusted();
        degraded |= !listening;
        body["redis"] = Value::from(if answer.is_ok() { "ok" } else { "unavailable" });
        body["change_notices"] = Value::from(if listening {
            "listening"
        } else {
            "not listening: caches read through to the database"
        });
        degraded |= !redis.is_up();
        body["failure_limits"] = Value::from(if answer.is_ok() && redis.is_up() {
            "shared"
        } else {
            "this node's only"
        });
    }
    body["status"] = Value::from(match (ready, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
