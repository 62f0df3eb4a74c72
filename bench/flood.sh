#!/usr/bin/env bash
# Issue 16, item 4: what an address without credentials can make Tessera store, and
# what its flood does to everyone else. On the release binary and PostgreSQL, on a
# free port:
#   1. the token endpoint's idle latency: wrk, one connection, client_credentials;
#   2. the same while one address floods (wrk, two connections, bench/flood.lua:
#      plain login and authorized-tokens pages, and authorization requests of a
#      public client, each of which would store an interaction);
#   3. the interactions stored, counted in the database.
# It fails (exit 1) when more than the address's cap (max_pending_interactions_per_address,
# 300 by default) were stored, when fewer than 3,000 flood requests were sent, or when
# the token endpoint's median latency during the flood is above twice its idle median.
#
#   cargo build --release -p tessera && bench/flood.sh      (CI runs it after the tests)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TESSERA_BIN:-$ROOT/target/release/tessera}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
RUN_SECONDS="${FLOOD_SECONDS:-6}"
CAP=300

die() { echo "flood: $*" >&2; exit 2; }
[ -x "$BIN" ] || die "$BIN missing: run 'cargo build --release -p tessera' first"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
command -v psql >/dev/null || die "psql is missing (apt-get install postgresql-client)"

database="tessera_flood_$$"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$PG_ADMIN" -qc "CREATE DATABASE $database" >/dev/null
url="${PG_ADMIN%/*}/$database?sslmode=disable"
"$BIN" keys generate-kek --output "$work/kek" >/dev/null
cat > "$work/flood.toml" <<TOML
key_encryption_key_file = "$work/kek"
listen = "127.0.0.1:0"
bootstrap_tenant = ""
migrate_on_start = true
trusted_proxies = ["127.0.0.1"]
[log]
level = "error"
[databases.default]
url = "$url"
max_connections = 16
[tenants.flood]
TOML
tessera() { env -u TESSERA_CONFIG "$BIN" --config "$work/flood.toml" "$@"; }
tessera migrate >/dev/null
secret="tss_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
printf '%s' "$secret" | tessera app create --tenant flood --name service --client-type confidential \
  --grant-types client_credentials --client-id service --client-secret-stdin >/dev/null
tessera app create --tenant flood --name spa --client-type public --grant-types authorization_code \
  --redirect-uris "https://app.example/cb" --client-id spa >/dev/null

env -u TESSERA_CONFIG "$BIN" --config "$work/flood.toml" serve > "$work/serve.out" 2> "$work/serve.err" &
server=$!
address=""
for _ in $(seq 1 100); do
  address="$(sed -n 's/^Tessera listening on \(http:[^ ]*\)$/\1/p' "$work/serve.out")"
  [ -n "$address" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.err" >&2; die "serve exited"; }
  sleep 0.1
done
[ -n "$address" ] || die "serve did not start within 10 s"

auth="Authorization: Basic $(printf '%s:%s' service "$secret" | base64 -w0)"
tokens() { # seconds → the median latency in µs
  WRK_BODY="grant_type=client_credentials" wrk -t1 -c1 -d"$1"s -H "$auth" \
    -s "$ROOT/bench/login.lua" "$address/t/flood/token" \
    | sed -n 's/^WRKJSON //p' | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["err_status"]==0, r; print(r["lat_p50_us"])'
}
tokens 1 >/dev/null
idle="$(tokens "$RUN_SECONDS")"
FLOOD_TENANT=flood FLOOD_CLIENT=spa wrk -t1 -c2 -d"$((RUN_SECONDS + 2))"s \
  -s "$ROOT/bench/flood.lua" "$address" > "$work/flood.out" &
flood=$!
sleep 1
during="$(tokens "$RUN_SECONDS")"
wait "$flood"
flood_json="$(sed -n 's/^FLOODJSON //p' "$work/flood.out")"
stored="$(psql "${PG_ADMIN%/*}/$database" -tAc "SELECT COUNT(*) FROM interactions")"

python3 - "$idle" "$during" "$stored" "$CAP" "$flood_json" <<'PY'
import json, sys
idle, during, stored, cap = (int(value) for value in sys.argv[1:5])
flood = json.loads(sys.argv[5])
ratio = during / idle
print(f"flood: {flood['requests']} requests from one address, answers by status {flood['statuses']}")
print(f"flood: interactions stored {stored} (cap {cap})")
print(f"flood: token p50 idle {idle} us, during the flood {during} us: {ratio:.2f}x")
failures = []
if stored > cap:
    failures.append(f"{stored} interactions stored, more than the cap {cap}")
if flood["requests"] < 3000:
    failures.append(f"only {flood['requests']} flood requests (want 3,000)")
if ratio > 2:
    failures.append(f"token p50 during the flood is {ratio:.2f}x the idle p50 (limit 2x)")
if failures:
    print("flood: FAILED: " + "; ".join(failures))
    sys.exit(1)
print("flood: ok")
PY
