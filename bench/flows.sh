#!/usr/bin/env bash
# The browser flows under load (issue 7), on PostgreSQL, in one run beside the
# client-credentials figure they are compared with:
#   * client_credentials  — POST /token (HTTP Basic), the reference
#   * code flow           — GET /authorize with a live session (skip_authorization app)
#                           → 303 with a code → POST /token with the PKCE verifier
#   * logins              — POST /login with a wrong password (limits off): one argon2id
#                           verification each, plus its reads
# Each runs BENCH_SECONDS (15) at BENCH_CONNS (32), BENCH_REPEAT (3) times; the report
# gives medians, the code-flow / client-credentials ratio, and the server's CPU time
# per login (from /proc, utime+stime over the login runs).
#
#   cargo build --release -j2 && bench/flows.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/../shared/bench-peers}"
BIN="$ROOT/target/release/tessera"
PORT="${BENCH_PORT:-18083}"
CONNS="${BENCH_CONNS:-32}"
SECONDS_PER_RUN="${BENCH_SECONDS:-15}"
REPEAT="${BENCH_REPEAT:-3}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

[ -x "$BIN" ] || { echo "bench: $BIN missing: run 'cargo build --release -j2' first" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  apt-get install -y wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 2; }
fi

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tessera_flows WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tessera_flows WITH (FORCE)" -c "CREATE DATABASE tessera_flows" >/dev/null
url="${PG_ADMIN%/*}/tessera_flows?sslmode=disable"
base="http://127.0.0.1:$PORT"
config="$work/flows.toml"
"$BIN" keys generate-kek --output "$work/kek" >/dev/null
cat > "$config" <<TOML
key_encryption_key_file = "$work/kek"
listen = "127.0.0.1:$PORT"
public_url = "$base"
bootstrap_tenant = ""
migrate_on_start = true
[log]
level = "warn"
[databases.default]
url = "$url"
max_connections = 16
[tenants.bench.oauth]
max_failures_per_username = 0
max_failures_per_address = 0
max_failures_per_client = 0
TOML
tessera() { env -u TESSERA_CONFIG "$BIN" --config "$config" "$@"; }
tessera migrate >/dev/null
secret="tss_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
printf '%s' "$secret" | tessera app create --tenant bench --name "Bench web" \
  --client-type confidential --grant-types authorization_code,client_credentials \
  --redirect-uris "http://127.0.0.1/cb" --skip-authorization --scopes "read write" \
  --client-id=bench-web --client-secret-stdin >/dev/null
printf 'bench password' | tessera user create --tenant bench --username alice --password-stdin >/dev/null
env -u TESSERA_CONFIG "$BIN" --config "$config" serve 2>"$work/server.log" &
server=$!
for _ in $(seq 1 50); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done

# RFC 7636 Appendix B's pair.
verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
authorize="/t/bench/authorize?response_type=code&client_id=bench-web&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=read&state=s&code_challenge=$challenge&code_challenge_method=S256"

# Sign in once, as a browser would: authorize → login page → POST login.
jar="$work/cookies"
login_url="$(curl -s -o /dev/null -c "$jar" -w '%{redirect_url}' "$base$authorize")"
page="$(curl -s -b "$jar" -c "$jar" "$login_url")"
interaction="$(sed -n 's/.*name="interaction" value="\([^"]*\)".*/\1/p' <<<"$page")"
csrf="$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")"
curl -s -o /dev/null -b "$jar" -c "$jar" --data-urlencode "interaction=$interaction" \
  --data-urlencode "csrf=$csrf" --data-urlencode "username=alice" \
  --data-urlencode "password=bench password" "$base/t/bench/login"
session="$(awk '$6 == "tessera_session_bench" { print $7 }' "$jar")"
[ -n "$session" ] || { echo "bench: the login did not start a session" >&2; exit 1; }

# A fresh interaction whose login page the login runs keep failing on.
fail_jar="$work/fail2"
fail_url="$(curl -s -o /dev/null -c "$fail_jar" -w '%{redirect_url}' "$base$authorize")"
page="$(curl -s -b "$fail_jar" "$fail_url")"
fail_interaction="$(sed -n 's/.*name="interaction" value="\([^"]*\)".*/\1/p' <<<"$page")"
fail_csrf="$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")"
fail_cookie="$(awk '$6 ~ /^tsi_/ { print $6 "=" $7 }' "$fail_jar")"

basic="Basic $(printf 'bench-web:%s' "$secret" | base64 -w0)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
results="$work/results"
: > "$results"
for round in $(seq 1 "$REPEAT"); do
  WRK_BODY="grant_type=client_credentials&scope=read" WRK_AUTH="$basic" \
    wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$PEERS/lib/post.lua" "$base/t/bench/token" \
    | sed -n 's/^WRKJSON /client_credentials /p' >> "$results"
  WRK_COOKIE="tessera_session_bench=$session" WRK_AUTH="$basic" WRK_AUTHORIZE_PATH="$authorize" \
    WRK_TOKEN_PATH="/t/bench/token" WRK_REDIRECT_URI="http://127.0.0.1/cb" WRK_VERIFIER="$verifier" \
    wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$ROOT/bench/code_flow.lua" "$base/" \
    | sed -n 's/^FLOWJSON /code_flow /p' >> "$results"
  before="$(cpu_ticks)"
  WRK_BODY="interaction=$fail_interaction&csrf=$fail_csrf&username=alice&password=wrong" \
    WRK_AUTH="" wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" -s "$ROOT/bench/login.lua" \
    -H "Cookie: $fail_cookie" "$base/t/bench/login" \
    | sed -n "s/^WRKJSON /login $before \$(cpu) /p" > "$work/login.line"
  after="$(cpu_ticks)"
  sed "s/\$(cpu)/$after/" "$work/login.line" >> "$results"
done
python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    if name == "login":
        before, after, payload = rest.split(" ", 2)
        data = json.loads(payload)
        data["cpu_s"] = (int(after) - int(before)) / int(sys.argv[2])
    else:
        data = json.loads(rest)
    rows.setdefault(name, []).append(data)
cc = [r["requests"] / (r["duration_us"] / 1e6) for r in rows["client_credentials"]]
flows = [r["flows_per_s"] for r in rows["code_flow"]]
logins = [r["requests"] / (r["duration_us"] / 1e6) for r in rows["login"]]
cpu_ms = [1000 * r["cpu_s"] / r["requests"] for r in rows["login"] if r["requests"]]
failures = sum(r["failures"] for r in rows["code_flow"])
print(f"client_credentials  rps median {statistics.median(cc):8.0f}  runs {[round(x) for x in cc]}")
print(f"code flow           flows/s median {statistics.median(flows):5.0f}  runs {[round(x) for x in flows]}  failures {failures}")
print(f"code flow / client_credentials = {statistics.median(flows) / statistics.median(cc):.2f}")
print(f"logins (argon2id)   per s median {statistics.median(logins):6.1f}  runs {[round(x, 1) for x in logins]}")
print(f"server CPU per login: {statistics.median(cpu_ms):.1f} ms (utime+stime / attempts)")
PY
