#!/usr/bin/env bash
# Memory and start time with many tenants (issue 20, item 5), PostgreSQL, one node:
#
#   1. TENANTS_COUNT tenants (10,000) in the directory: one made by `tessera tenant
#      create`, the others copied from its row by SQL, without keys (as an import
#      leaves them);
#   2. "first start": how long until /readyz answers, the RSS then, and how long the
#      node takes to make the missing signing keys while it serves;
#   3. "restart" (every tenant has its keys): time to /readyz and RSS, the issue's
#      "10,000 tenants loaded after a restart";
#   4. "served": the RSS after TENANTS_SERVED tenants (2,000) were each asked for
#      their issuer metadata and JWKS (which loads and keeps their keys);
#   5. with TENANTS_BIN_BEFORE (an older build), its restart on the same directory:
#      a before/after from one run.
#
#   cargo build --release -j2
#   bench/tenants.sh                     # ~15 min: making 30,000 keys is most of it
#   TENANTS_COUNT=1000 bench/tenants.sh  # ~2 min
#
# Prints RESULT lines and a markdown table. Nothing is kept: the database is dropped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TENANTS_BIN:-$ROOT/target/release/tessera}"
BEFORE="${TENANTS_BIN_BEFORE:-}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
COUNT="${TENANTS_COUNT:-10000}"
SERVED="${TENANTS_SERVED:-2000}"
KEYS_TIMEOUT="${TENANTS_KEYS_TIMEOUT:-3600}"
DB="tessera_tenants_$$"

[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || { echo "tenants: TENANTS_BIN_BEFORE=$BEFORE is not executable" >&2; exit 2; }
[ -x "$BIN" ] || { echo "tenants: $BIN missing: run 'cargo build --release -j2' first" >&2; exit 2; }
command -v psql >/dev/null || { echo "tenants: psql missing" >&2; exit 2; }
[ "$SERVED" -le "$COUNT" ] || { echo "tenants: TENANTS_SERVED ($SERVED) > TENANTS_COUNT ($COUNT)" >&2; exit 2; }

# shellcheck source=single-node.sh
source "$ROOT/bench/single-node.sh"
cat >> "$work/tessera.toml" <<TOML
[log]
level = "info"
[databases.default]
url = "$url"
TOML
tessera migrate >/dev/null
tessera tenant create t00000 >/dev/null
sql -c "INSERT INTO tenants (slug, display_name, placement, settings, created_at)
  SELECT 't' || lpad(g::text, 5, '0'), 'Tenant ' || g, placement, settings, now()
  FROM tenants, generate_series(1, $COUNT - 1) AS g WHERE slug = 't00000'"
echo "tenants: $(sql -c 'SELECT count(*) FROM tenants') tenants, $(sql -c 'SELECT count(*) FROM signing_keys') keys" >&2

results="$work/results"
now_ms() { date +%s%3N; }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }
# The RSS once the start's freed memory is given back: the allocator returns freed
# pages lazily, on later activity, so the RSS at the first /readyz still counts what
# the start built and dropped. Three seconds and a hundred small requests later.
settled_rss_mb() {
  sleep 3
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; done
  rss_mb
}
# Starts the node; sets ready_ms to the milliseconds until /readyz answered.
start_server() {
  local started binary="${1:-$BIN}"
  started="$(now_ms)"
  env -u TESSERA_CONFIG "$binary" --config "$work/tessera.toml" serve > "$work/serve.out" 2> "$work/serve.err" &
  server=$!
  for _ in $(seq 6000); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then
      ready_ms=$(( $(now_ms) - started ))
      return 0
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
  done
  echo "tenants: the server did not start:" >&2; tail -20 "$work/serve.err" >&2; exit 1
}
# Asks the first TENANTS_SERVED tenants for their issuer metadata and JWKS.
serve_tenants() {
  python3 - "$port" "$SERVED" <<'PY'
import http.client, sys
port, served = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port)
for n in range(served):
    for path in (f"/t/t{n:05d}/.well-known/openid-configuration", f"/t/t{n:05d}/jwks"):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"tenants: GET {path}: {response.status}")
PY
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

start_server
rss="$(rss_mb)"
echo "RESULT first-start ready_ms=$ready_ms rss_mb=$rss settled_mb=$(settled_rss_mb)" | tee -a "$results"
started="$(now_ms)"
for _ in $(seq "$KEYS_TIMEOUT"); do
  grep -q "missing signing keys made" "$work/serve.out" "$work/serve.err" && break
  sleep 1
done
grep -q "missing signing keys made" "$work/serve.out" "$work/serve.err" \
  || { echo "tenants: keys not made within ${KEYS_TIMEOUT}s" >&2; exit 1; }
keys_s=$(( ($(now_ms) - started) / 1000 ))
echo "RESULT keys-made seconds=$keys_s keys=$(sql -c 'SELECT count(*) FROM signing_keys') rss_mb=$(rss_mb)" | tee -a "$results"
stop_server

start_server
rss="$(rss_mb)"
echo "RESULT restart ready_ms=$ready_ms rss_mb=$rss settled_mb=$(settled_rss_mb)" | tee -a "$results"
serve_tenants
echo "RESULT served tenants=$SERVED rss_mb=$(rss_mb)" | tee -a "$results"
stop_server
if [ -n "$BEFORE" ]; then
  start_server "$BEFORE"
  rss="$(rss_mb)"
  echo "RESULT restart-before ready_ms=$ready_ms rss_mb=$rss settled_mb=$(settled_rss_mb)" | tee -a "$results"
  serve_tenants
  echo "RESULT served-before tenants=$SERVED rss_mb=$(rss_mb)" | tee -a "$results"
  stop_server
fi

python3 - "$results" "$COUNT" "$SERVED" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    _, label, *pairs = line.split()
    rows[label] = dict(pair.split("=") for pair in pairs)
count, served = int(sys.argv[2]), int(sys.argv[3])
print()
def start(label, name):
    row = rows[name]
    print(f"| {label} | {int(row['ready_ms']):,} ms | {row['rss_mb']} MB | {row['settled_mb']} MB |")
print(f"| {count:,} tenants | time to /readyz | RSS then | RSS settled |")
print("|---|---|---|---|")
start("first start (no keys)", "first-start")
print(f"| keys made while serving | {int(rows['keys-made']['seconds']):,} s ({int(rows['keys-made']['keys']):,} keys) | {rows['keys-made']['rss_mb']} MB | |")
start("restart (every tenant keyed)", "restart")
print(f"| after serving {served:,} tenants (issuer + JWKS) | | {rows['served']['rss_mb']} MB | |")
if "restart-before" in rows:
    start("restart with TENANTS_BIN_BEFORE", "restart-before")
    print(f"| TENANTS_BIN_BEFORE after serving {served:,} tenants | | {rows['served-before']['rss_mb']} MB | |")
PY
