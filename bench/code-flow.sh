#!/usr/bin/env bash
# The authorization-code flow of three servers in one invocation, each doing the same
# work per flow: a browser with a live session, a client whose grant the user already
# approved, PKCE S256, scope `read`, GET authorize → redirect with a code → POST token
# (HTTP Basic) → an access token and a refresh token.
#
#   1. DOT 3.4.1 and Tessera through ../shared/bench-peers/codeflow/run.sh (their rounds
#      interleaved, each server's client-credentials token as its reference);
#   2. node oidc-provider 9 (bench/peers/oidc-provider-code-flow.mjs, in-memory adapter,
#      one process), the same wrk script, connections, warm-up and duration.
#
#   cargo build --release -j2 && bench/code-flow.sh
#   CODE_FLOW_ROUNDS=3 CODE_FLOW_SECONDS=15 bench/code-flow.sh
#
# Prints each part's table and one summary: flows/s (median of the rounds), server CPU
# per flow, and the ratios. oidc-provider keeps everything in its process's memory
# (no database), so its CPU per flow is all of its work; Tessera's and DOT's
# PostgreSQL CPU is in the harness's table.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/../shared/bench-peers}"
BIN="${CODEFLOW_TESSERA_BIN:-$ROOT/target/release/tessera}"
ROUNDS="${CODE_FLOW_ROUNDS:-2}"
SECONDS_PER_RUN="${CODE_FLOW_SECONDS:-10}"
WARMUP=3
CONNS=32

[ -x "$BIN" ] || { echo "code-flow: $BIN missing: run 'cargo build --release -j2' first" >&2; exit 2; }
[ -x "$PEERS/codeflow/run.sh" ] || { echo "code-flow: $PEERS/codeflow/run.sh missing (set PEERS_DIR)" >&2; exit 2; }
# shellcheck source=/dev/null
source "$PEERS/lib/setup.sh"
ensure_wrk
ensure_oidc_node
modules="${PEERS_WORK:-$HOME/.cache/bench-peers}/oidc/node_modules"
[ -d "$modules/oidc-provider" ] || { echo "code-flow: oidc-provider missing under $modules" >&2; exit 2; }

work="$(mktemp -d)"
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then
    kill "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== DOT and Tessera (../shared/bench-peers/codeflow/run.sh, $ROUNDS rounds of ${SECONDS_PER_RUN} s)"
CODEFLOW_TESSERA_BIN="$BIN" "$PEERS/codeflow/run.sh" --rounds "$ROUNDS" --duration "$SECONDS_PER_RUN" \
  --warmup "$WARMUP" --conns "$CONNS" | tee "$work/harness.log"

echo "== node oidc-provider (bench/peers/oidc-provider-code-flow.mjs)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
OIDC_MODULES="$modules" OIDC_PORT="$port" node "$ROOT/bench/peers/oidc-provider-code-flow.mjs" \
  > "$work/oidc.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 50); do
  curl -fs -o /dev/null "$base/.well-known/openid-configuration" && break
  sleep 0.2
done
kill -0 "$node_pid" 2>/dev/null || { cat "$work/oidc.log" >&2; echo "code-flow: oidc-provider did not start" >&2; exit 1; }

# RFC 7636 Appendix B's pair, as the harness uses.
verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
redirect="http://127.0.0.1/cb"
authorize="/auth?response_type=code&client_id=bench-web&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=read&state=s&code_challenge=$challenge&code_challenge_method=S256"

# Sign in and approve (the interaction answers at once), following the redirects by
# hand until the client's redirect URI: that leaves the session cookie in the jar.
jar="$work/cookies"
sign_in() {
  local next="$base$authorize"
  for _ in $(seq 1 8); do
    next="$(curl -s -o /dev/null -b "$jar" -c "$jar" -w '%{redirect_url}' "$next")"
    case "$next" in "$redirect"*) break ;; esac
  done
  case "$next" in
    "$redirect"*code=*) ;;
    *) echo "code-flow: oidc-provider's sign-in did not end with a code (last: $next)" >&2; exit 1 ;;
  esac
  cookie="$(awk '$6 ~ /^_session/ { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$jar")"
}
sign_in
basic="Basic $(printf 'bench-web:bench-secret' | base64 -w0)"

# Check one flow by hand: a code from the session alone, tokens for it, a replay refused.
location="$(curl -s -o /dev/null -H "Cookie: $cookie" -w '%{redirect_url}' "$base$authorize")"
code="$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$location")"
[ -n "$code" ] || { echo "code-flow: the session did not give a code ($location)" >&2; exit 1; }
exchange() {
  curl -s -H "Authorization: $basic" --data-urlencode grant_type=authorization_code \
    --data-urlencode "code=$code" --data-urlencode "redirect_uri=$redirect" \
    --data-urlencode "code_verifier=$verifier" "$base/token"
}
first="$(exchange)"
grep -q '"refresh_token"' <<<"$first" || { echo "code-flow: no refresh token: $first" >&2; exit 1; }
grep -q '"invalid_grant"' <<<"$(exchange)" || { echo "code-flow: a replayed code was not refused" >&2; exit 1; }
# The replay revoked the grant (oidc-provider revokes a replayed code's whole grant,
# so the next authorization would ask for consent): approve again before the load.
sign_in

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$node_pid/stat"; }
load() {
  WRK_COOKIE="$cookie" WRK_AUTH="$basic" WRK_AUTHORIZE_PATH="$authorize" WRK_TOKEN_PATH="/token" \
    WRK_REDIRECT_URI="$redirect" WRK_VERIFIER="$verifier" \
    wrk -t1 -c"$CONNS" -d"$1s" --timeout=10s -s "$PEERS/codeflow/code_flow.lua" "$base/"
}
results="$work/oidc-results"
: > "$results"
for round in $(seq 1 "$ROUNDS"); do
  load "$WARMUP" >/dev/null
  before="$(cpu_ticks)"
  line="$(load "$SECONDS_PER_RUN" | sed -n 's/^FLOWJSON //p')"
  after="$(cpu_ticks)"
  rss_kb="$(awk '/^VmHWM/ { print $2 }' "/proc/$node_pid/status")"
  echo "$before $after $rss_kb $line" >> "$results"
  echo "RUN oidc-provider code_flow round=$round $line"
done

python3 - "$work/harness.log" "$results" "$(getconf CLK_TCK)" <<'PY'
import json, re, statistics, sys
harness, results, ticks = sys.argv[1], sys.argv[2], int(sys.argv[3])
flows = {}
cpu = {}
for line in open(harness):
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    if len(cells) >= 8 and cells[1] in ("code_flow", "client_credentials") and cells[0] in ("dot", "tessera"):
        flows[(cells[0], cells[1])] = float(cells[3])
        cpu[(cells[0], cells[1])] = float(cells[6])
rows = []
for line in open(results):
    before, after, rss, payload = line.split(" ", 3)
    data = json.loads(payload)
    seconds = (int(after) - int(before)) / ticks
    rows.append((data["flows_per_s"], 1e6 * seconds / max(data["flows"], 1), int(rss) / 1024,
                 data["lat_p99_us"] / 1000, data["failures"] + data["err_status"]))
failed = sum(r[4] for r in rows)
if failed or not rows:
    sys.exit(f"code-flow: oidc-provider's flows failed ({failed} failures): see the RUN lines")
oidc = statistics.median(r[0] for r in rows)
oidc_cpu = statistics.median(r[1] for r in rows)
print()
print("| server | code flows/s (median) | server CPU µs/flow | note |")
print("|---|---|---|---|")
for server in ("dot", "tessera"):
    if (server, "code_flow") in flows:
        print(f"| {server} | {flows[(server, 'code_flow')]:.0f} | {cpu[(server, 'code_flow')]:.0f} | PostgreSQL |")
print(f"| oidc-provider | {oidc:.0f} | {oidc_cpu:.0f} | in memory; runs {[round(r[0]) for r in rows]}, "
      f"p99 {max(r[3] for r in rows):.1f} ms, peak RSS {max(r[2] for r in rows):.0f} MB, "
      f"failures {sum(r[4] for r in rows)} |")
tessera = flows.get(("tessera", "code_flow"))
if tessera:
    print(f"RATIO tessera_over_oidc_provider_code_flow: {tessera / oidc:.2f}")
    if ("dot", "code_flow") in flows:
        print(f"RATIO tessera_over_dot_code_flow: {tessera / flows[('dot', 'code_flow')]:.1f}")
    reference = flows.get(("tessera", "client_credentials"))
    if reference:
        print(f"RATIO tessera_code_flow_over_client_credentials: {tessera / reference:.3f}")
PY
