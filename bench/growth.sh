#!/usr/bin/env bash
# Cost as the data grows (issue 20, item 4), PostgreSQL, one run:
#
#   1. "empty": token issuance (client credentials), introspection and refresh
#      (rotation) for tenant `big`, its tables holding only the refresh tokens the
#      refresh load uses;
#   2. bulk-load tenant `big`'s token pool: GROWTH_LIVE live access tokens (10 M),
#      GROWTH_EXPIRED expired ones (5 M) and GROWTH_REFRESH refresh tokens (2 M);
#      tenant `small` sits next to it in the same tables; then VACUUM ANALYZE, as
#      autovacuum would (this machine's PostgreSQL runs without it), and CHECKPOINT;
#   3. "loaded": the same three loads, for `big` and for `small`;
#   4. `tessera cleartokens` removing the expired rows while the token load runs:
#      its rows per second, and that load's p99 beside the loaded p99.
#
#   cargo build --release -j2
#   bench/growth.sh                               # ~6-10 min, ~7 GB of disk
#   GROWTH_LIVE=1000000 GROWTH_EXPIRED=500000 GROWTH_REFRESH=200000 bench/growth.sh
#   GROWTH_BIN=/tmp/tessera-old GROWTH_KEYS=sha256 bench/growth.sh   # an earlier build
#   GROWTH_CLEAR_ARGS="--batch-size 1000" bench/growth.sh            # cleartokens options
#
# The bulk-loaded access tokens are stored as this version stores them: `t`, the
# issue second in hex, SHA-256 (tessera::secrets::checksum), issue seconds rising
# with the rows; GROWTH_KEYS=sha256 loads the SHA-256 alone, as builds before
# time-ordered keys did. The loaded refresh tokens are named `growth-<tenant>-<i>`
# (bench/refresh.lua presents them), so their keys are SHA-256 alone either way.
#
# Prints RUN lines and a markdown table. Nothing is kept: the database is dropped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/../shared/bench-peers}"
BIN="${GROWTH_BIN:-$ROOT/target/release/tessera}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
LIVE="${GROWTH_LIVE:-10000000}"
EXPIRED="${GROWTH_EXPIRED:-5000000}"
REFRESH="${GROWTH_REFRESH:-2000000}"
DURATION="${GROWTH_DURATION:-10}"
CONNS="${GROWTH_CONNS:-32}"
DB="tessera_growth_$$"
KEYS="${GROWTH_KEYS:-time-ordered}"
case "$KEYS" in
  time-ordered|sha256) ;;
  *) echo "growth: GROWTH_KEYS is time-ordered or sha256, not '$KEYS'" >&2; exit 2 ;;
esac

[ -x "$BIN" ] || { echo "growth: $BIN missing: run 'cargo build --release -j2' first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "growth: wrk missing (apt-get install wrk)" >&2; exit 2; }
command -v psql >/dev/null || { echo "growth: psql missing" >&2; exit 2; }

# shellcheck source=single-node.sh
source "$ROOT/bench/single-node.sh"
cat >> "$work/tessera.toml" <<TOML
[log]
level = "warn"
[databases.default]
url = "$url"
max_connections = 16
group_commit_in_flight = ${GROWTH_GROUP_COMMIT:-4}
[tenants.big]
[tenants.small]
TOML
tessera migrate >/dev/null
secret="tss_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
for tenant in big small; do
  printf '%s' "$secret" | tessera app create --tenant "$tenant" --name growth --client-type confidential \
    --grant-types client_credentials,password,refresh_token --scopes "read introspection" \
    --client-id growth --client-secret-stdin >/dev/null
  printf 'a-long-enough-password' | tessera user create --tenant "$tenant" --username owner \
    --password-stdin >/dev/null
done
auth="Basic $(printf 'growth:%s' "$secret" | base64 -w0)"

# Refresh tokens `growth-<tenant>-<i>` for tenant $1, numbers $2..$3 (checksums as
# Tessera stores them: SHA-256 hex of the token).
load_refresh() {
  sql -c "INSERT INTO refresh_tokens (tenant_id, token_checksum, application_id, user_id, family_id,
      scope, created_at)
    SELECT t.id, encode(sha256(('growth-$1-' || g)::bytea), 'hex'), a.id, u.id, md5(g::text || '$1'),
      'read', now()
    FROM generate_series($2, $3) AS g, tenants t, applications a, users u
    WHERE t.slug = '$1' AND a.tenant_id = t.id AND u.tenant_id = t.id"
}
# Access tokens for tenant $1: $2 rows expiring $3 (an SQL interval from now), issued
# over the day before that expiry's lifetime began (with GROWTH_KEYS=time-ordered, the
# keys' seconds rise with the rows, as a deployment's would).
load_access() {
  local key="md5(random()::text) || md5(g::text || random()::text)"
  if [ "$KEYS" = time-ordered ]; then
    key="left('t' || lpad(to_hex(extract(epoch FROM now() + interval '$3' - interval '31 days')::bigint
      + g::bigint * 86400 / $2), 8, '0') || $key, 64)"
  fi
  sql -c "INSERT INTO access_tokens (tenant_id, token_checksum, application_id, user_id, scope,
      expires_at, created_at)
    SELECT t.id, $key, a.id, NULL, 'read', now() + interval '$3', now()
    FROM generate_series(1, $2) AS g, tenants t, applications a
    WHERE t.slug = '$1' AND a.tenant_id = t.id"
}

# Pages of the access-token key index read into shared_buffers (from the OS or disk)
# and found there, so far.
key_index_pages() {
  sql -c "SELECT coalesce(sum(idx_blks_read), 0) || ' ' || coalesce(sum(idx_blks_hit), 0)
    FROM pg_statio_user_indexes WHERE indexrelname LIKE 'ux_access_tokens_%checksum%'"
}

start_server() {
  env -u TESSERA_CONFIG "$BIN" --config "$work/tessera.toml" serve > "$work/serve.out" 2> "$work/serve.err" &
  server=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "growth: the server did not start:" >&2; cat "$work/serve.err" >&2; exit 1
}

# wrk with $1 (a script) on $2 (a path); env as the script needs; prints a RUN line.
results="$work/results"
# CPU ticks (1/100 s) used so far by the server, and by every PostgreSQL process.
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
postgres_ticks() { pgrep -u postgres postgres | sed 's|.*|/proc/&/stat|' | xargs cat 2>/dev/null | awk '{t += $14 + $15} END {print t}'; }
run() {
  local label="$1" script="$2" path="$3"
  local line server_before postgres_before
  server_before="$(server_ticks)"; postgres_before="$(postgres_ticks)"
  line="$(wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$script" "http://127.0.0.1:$port$path" | grep '^WRKJSON ' | cut -c9-)"
  python3 - "$label" "$line" "$(( $(server_ticks) - server_before ))" "$(( $(postgres_ticks) - postgres_before ))" >> "$results" <<'PY'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
server_ticks, postgres_ticks = int(sys.argv[3]), int(sys.argv[4])
rps = r["requests"] / (r["duration_us"] / 1e6)
per_request = lambda ticks: ticks * 10_000 / max(r["requests"], 1)
print(f'{label}\t{rps:.0f}\t{r["lat_p50_us"]/1000:.2f}\t{r["lat_p99_us"]/1000:.2f}\t{r["err_status"]:.0f}'
      f'\t{per_request(server_ticks):.0f}\t{per_request(postgres_ticks):.0f}')
PY
  tail -1 "$results" | awk -F'\t' '{printf "RUN %s rps=%s p50_ms=%s p99_ms=%s non200=%s server_cpu_us=%s postgres_cpu_us=%s\n", $1, $2, $3, $4, $5, $6, $7}'
}
measure() {
  local phase="$1" tenant="$2" first="$3" pages_before pages_after
  pages_before="$(key_index_pages)"
  WRK_BODY="grant_type=client_credentials" WRK_AUTH="$auth" \
    run "$phase $tenant token" "$PEERS/lib/post.lua" "/t/$tenant/token"
  pages_after="$(key_index_pages)"
  python3 - "$pages_before" "$pages_after" "$(tail -1 "$results" | cut -f2)" "$DURATION" <<'PY'
import sys
(read0, hit0), (read1, hit1) = (map(int, sys.argv[i].split()) for i in (1, 2))
tokens = float(sys.argv[3]) * float(sys.argv[4])
print(f"KEYINDEX pages read in {(read1 - read0) / tokens:.3f} and found {(hit1 - hit0) / tokens:.3f}"
      " in shared_buffers per token")
PY
  local token
  token="$(curl -sf -u "growth:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/t/$tenant/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
  WRK_BODY="token=$token" WRK_AUTH="$auth" \
    run "$phase $tenant introspect" "$PEERS/lib/post.lua" "/t/$tenant/introspect"
  WRK_AUTH="$auth" GROWTH_REFRESH_PREFIX="growth-$tenant-" GROWTH_REFRESH_FIRST="$first" \
    run "$phase $tenant refresh" "$ROOT/bench/refresh.lua" "/t/$tenant/token"
}

# Each refresh run uses fresh tokens: at most 200,000 per run.
per_run=200000
load_refresh big 1 "$per_run"
load_refresh small 1 "$((2 * per_run))"
sql -c "VACUUM ANALYZE"
start_server
measure empty big 1

echo "== loading: $LIVE live + $EXPIRED expired access tokens, $REFRESH refresh tokens (tenant big)"
started=$(date +%s)
load_refresh big "$((per_run + 1))" "$((per_run + REFRESH))"
load_access big "$LIVE" "30 days"
load_access big "$EXPIRED" "-1 day"
load_access small 100000 "30 days"
loaded=$(date +%s)
sql -c "VACUUM ANALYZE"
# Flush the load's own writes now, so the checkpoint that would follow them does not
# run during the measurements (a deployment's checkpoints carry its traffic's writes).
sql -c "CHECKPOINT"
echo "loaded in $((loaded - started)) s, VACUUM ANALYZE and CHECKPOINT $(( $(date +%s) - loaded )) s; sizes:"
sql -c "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) FROM pg_stat_user_tables
  WHERE relname IN ('access_tokens', 'refresh_tokens') ORDER BY relname"
sql -c "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_stat_user_indexes
  WHERE relname IN ('access_tokens', 'refresh_tokens') ORDER BY pg_relation_size(indexrelid) DESC"
measure loaded big "$((per_run + 1))"
measure loaded small "$((per_run + 1))"

echo "== cleartokens while the token load runs"
WRK_BODY="grant_type=client_credentials" WRK_AUTH="$auth" \
  run "clearing big token" "$PEERS/lib/post.lua" "/t/big/token" &
load=$!
sleep 2
clear_started=$(date +%s.%N)
# shellcheck disable=SC2086 # GROWTH_CLEAR_ARGS: words for cleartokens, e.g. "--batch-size 1000"
tessera cleartokens --json ${GROWTH_CLEAR_ARGS:-} > "$work/clear.json"
clear_ended=$(date +%s.%N)
wait "$load"
removed="$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r = r if isinstance(r, list) else r.get("pools", [r]); print(sum(p.get("access_tokens", 0) for p in r))' "$work/clear.json")"
seconds="$(python3 -c "print(round($clear_ended - $clear_started, 1))")"
echo "cleartokens removed $removed access tokens in $seconds s: $(python3 -c "print(int($removed / $seconds))") rows/s"

echo "== table"
printf '| load | req/s | p50 ms | p99 ms | non-200 | server CPU µs/req | PostgreSQL CPU µs/req |\n|---|---|---|---|---|---|---|\n'
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$results"
echo "| cleartokens | $removed rows in $seconds s | | | | | |"
