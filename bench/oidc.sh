#!/usr/bin/env bash
# OpenID Connect under load (issue 8), on PostgreSQL, in one run:
#   * code flow, no ID token  — the browser-flows figure (scope read)
#   * code flow + ES256 ID token, code flow + RS256 ID token (scope openid read)
#   * userinfo                — GET /userinfo with a bearer token
#   * introspection p99 alone, beside code flows without ID tokens, and beside RS256
#     ones: does signing stall other requests more than the same load unsigned?
# Each flow runs BENCH_SECONDS (15) at BENCH_CONNS (32), BENCH_REPEAT (3) times; the
# report gives medians, ratios to the flow without an ID token, and the server's CPU
# time per flow (from /proc), whose differences are what one signature costs.
#
#   cargo build --release -j2 && bench/oidc.sh
#   BENCH_ONLY=userinfo BENCH_BIN=/tmp/tessera-old bench/oidc.sh
#                                # userinfo alone, with another build
#   BENCH_REDIS=redis://127.0.0.1:6379 bench/oidc.sh
#                                # with Redis (the token cache answers userinfo)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/../shared/bench-peers}"
BIN="${BENCH_BIN:-$ROOT/target/release/tessera}"
ONLY="${BENCH_ONLY:-}"
PORT="${BENCH_PORT:-18084}"
CONNS="${BENCH_CONNS:-32}"
SECONDS_PER_RUN="${BENCH_SECONDS:-15}"
REPEAT="${BENCH_REPEAT:-3}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

[ -x "$BIN" ] || { echo "bench: $BIN missing: run 'cargo build --release -j2' first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 2; }

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tessera_oidc WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tessera_oidc WITH (FORCE)" -c "CREATE DATABASE tessera_oidc" >/dev/null
url="${PG_ADMIN%/*}/tessera_oidc?sslmode=disable"
base="http://127.0.0.1:$PORT"
config="$work/oidc.toml"
"$BIN" keys generate-kek --output "$work/kek" >/dev/null
cat > "$config" <<TOML
listen = "127.0.0.1:$PORT"
public_url = "$base"
bootstrap_tenant = ""
migrate_on_start = true
key_encryption_key_file = "$work/kek"
[log]
level = "warn"
[databases.default]
url = "$url"
max_connections = 16
[tenants.bench]
TOML
if [ -n "${BENCH_REDIS:-}" ]; then
  printf '[redis]\nurl = "%s"\nkey_prefix = "tessera_oidc_%s"\n' "$BENCH_REDIS" "$(date +%s)" >> "$config"
fi
tessera() { env -u TESSERA_CONFIG "$BIN" --config "$config" "$@"; }
tessera migrate >/dev/null
declare -A secrets
for client in plain es rs; do
  secrets[$client]="tss_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  case $client in plain) alg="" ;; es) alg="--algorithm ES256" ;; rs) alg="--algorithm RS256" ;; esac
  # shellcheck disable=SC2086
  printf '%s' "${secrets[$client]}" | tessera app create --tenant bench --name "Bench $client" \
    --client-type confidential --grant-types authorization_code,client_credentials \
    --redirect-uris "http://127.0.0.1/cb" --skip-authorization --scopes "openid read write" \
    $alg --client-id="bench-$client" --client-secret-stdin >/dev/null
done
printf 'bench password' | tessera user create --tenant bench --username alice --password-stdin >/dev/null
env -u TESSERA_CONFIG "$BIN" --config "$config" serve 2>"$work/server.log" &
server=$!
for _ in $(seq 1 50); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done

verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
authorize_of() { # CLIENT SCOPE
  echo "/t/bench/authorize?response_type=code&client_id=bench-$1&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=$2&state=s&nonce=n&code_challenge=$challenge&code_challenge_method=S256"
}
basic_of() { echo "Basic $(printf 'bench-%s:%s' "$1" "${secrets[$1]}" | base64 -w0)"; }

# Sign in once, as a browser would.
jar="$work/cookies"
login_url="$(curl -s -o /dev/null -c "$jar" -w '%{redirect_url}' "$base$(authorize_of plain read)")"
page="$(curl -s -b "$jar" -c "$jar" "$login_url")"
interaction="$(sed -n 's/.*name="interaction" value="\([^"]*\)".*/\1/p' <<<"$page")"
csrf="$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")"
curl -s -o /dev/null -b "$jar" -c "$jar" --data-urlencode "interaction=$interaction" \
  --data-urlencode "csrf=$csrf" --data-urlencode "username=alice" \
  --data-urlencode "password=bench password" "$base/t/bench/login"
session="$(awk '$6 == "tessera_session_bench" { print $7 }' "$jar")"
[ -n "$session" ] || { echo "bench: the login did not start a session" >&2; exit 1; }

# An access token with openid, for userinfo; one to introspect.
location="$(curl -s -o /dev/null -b "$jar" -w '%{redirect_url}' "$base$(authorize_of es openid%20read)")"
code="$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$location")"
access="$(curl -s -u "bench-es:${secrets[es]}" -d grant_type=authorization_code --data-urlencode "code=$(printf '%b' "${code//%/\\x}")" \
  -d redirect_uri=http://127.0.0.1/cb -d code_verifier=$verifier "$base/t/bench/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
[ -n "$access" ] || { echo "bench: no access token" >&2; exit 1; }
curl -fs -H "Authorization: Bearer $access" "$base/t/bench/userinfo" >/dev/null

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
flow() { # NAME CLIENT SCOPE
  local before after
  before="$(cpu_ticks)"
  WRK_COOKIE="tessera_session_bench=$session" WRK_AUTH="$(basic_of "$2")" WRK_AUTHORIZE_PATH="$(authorize_of "$2" "$3")" \
    WRK_TOKEN_PATH="/t/bench/token" WRK_REDIRECT_URI="http://127.0.0.1/cb" WRK_VERIFIER="$verifier" \
    wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$ROOT/bench/code_flow.lua" "$base/" \
    | sed -n "s/^FLOWJSON /$1 $before CPU /p" > "$work/line"
  after="$(cpu_ticks)"
  sed "s/CPU/$after/" "$work/line" >> "$results"
}
introspect() { # NAME [CONNS]
  WRK_BODY="token=$access" WRK_AUTH="$(basic_of plain)" \
    wrk -t1 -c"${2:-8}" -d"${SECONDS_PER_RUN}s" --latency -s "$PEERS/lib/post.lua" "$base/t/bench/introspect" \
    | sed -n "s/^WRKJSON /$1 0 0 /p" >> "$results"
}
results="$work/results"
: > "$results"
userinfo() {
  WRK_AUTH="Bearer $access" wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$ROOT/bench/get.lua" \
    "$base/t/bench/userinfo" 2>/dev/null | sed -n 's/^WRKJSON /userinfo 0 0 /p' >> "$results"
}
if [ "$ONLY" = userinfo ]; then
  for round in $(seq 1 "$REPEAT"); do userinfo; done
  python3 - "$results" <<'PY'
import json, statistics, sys
rates = [r["requests"] / (r["duration_us"] / 1e6) for r in (json.loads(line.split(" ", 3)[3]) for line in open(sys.argv[1]))]
print(f"userinfo            rps median {statistics.median(rates):6.0f}  runs {[round(x) for x in rates]}")
PY
  exit 0
fi
for round in $(seq 1 "$REPEAT"); do
  flow no_id_token plain read
  flow es256 es openid%20read
  flow rs256 rs openid%20read
  userinfo
  introspect introspect_alone
  # The same contention without signatures, then with RS256 ones.
  flow plain_beside_introspection plain read &
  beside=$!
  sleep 1
  introspect introspect_during_plain
  wait "$beside"
  flow rs256_beside_introspection rs openid%20read &
  beside=$!
  sleep 1
  introspect introspect_during_rs256
  wait "$beside"
done
python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, before, after, payload = line.split(" ", 3)
    data = json.loads(payload)
    data["cpu_s"] = (int(after) - int(before)) / int(sys.argv[2])
    rows.setdefault(name, []).append(data)
med = statistics.median
def rate(name, key="flows_per_s"):
    return med([r[key] if key in r else r["requests"] / (r["duration_us"] / 1e6) for r in rows[name]])
def cpu_ms(name):
    return med([1000 * r["cpu_s"] / r["flows"] for r in rows[name] if r.get("flows")])
base = rate("no_id_token")
for name in ["no_id_token", "es256", "rs256"]:
    fails = sum(r["failures"] for r in rows[name])
    print(f"code flow {name:12s} flows/s median {rate(name):6.0f}  runs {[round(r['flows_per_s']) for r in rows[name]]}  "
          f"ratio {rate(name) / base:.2f}  CPU/flow {cpu_ms(name):.2f} ms  failures {fails}")
print(f"one ES256 signature ≈ {cpu_ms('es256') - cpu_ms('no_id_token'):.2f} ms of server CPU, "
      f"one RS256 ≈ {cpu_ms('rs256') - cpu_ms('no_id_token'):.2f} ms (CPU per flow, difference to no ID token)")
print(f"userinfo            rps median {rate('userinfo', 'x'):6.0f}")
def p99(name):
    return med([r.get("lat_p99_us", 0) for r in rows[name]]) / 1000
for name, what in [("introspect_alone", "alone"), ("introspect_during_plain", "beside code flows without ID tokens"),
                   ("introspect_during_rs256", "beside code flows with RS256 ID tokens")]:
    print(f"introspection {what:40s} p99 {p99(name):6.1f} ms  rps {rate(name, 'x'):6.0f}")
PY
