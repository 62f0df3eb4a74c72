#!/usr/bin/env bash
# Load Tessera's token endpoint (client_credentials, HTTP Basic) and introspection with
# wrk, through ../shared/bench-peers/run-target.sh, on SQLite and PostgreSQL, at 32 and
# 64 connections. Peers (DOT, node oidc-provider) run in the same invocation with
# --peers, so the figures compare as ratios of one run.
#
#   cargo build --release -j2
#   bench/run.sh                 # Tessera only: sqlite + postgres, c32 + c64
#   bench/run.sh --peers         # DOT (PostgreSQL, sync and gthread) and oidc-provider too
#   BENCH_DBS=postgres BENCH_CONNS=64 bench/run.sh
#   BENCH_REDIS=redis://127.0.0.1:6379 bench/run.sh   # with Redis (shared failure
#                                                      # counters, change notices,
#                                                      # the token cache that answers
#                                                      # introspection)
#   BENCH_GROUP_COMMIT="0 4" BENCH_DBS=postgres bench/run.sh
#                                # group commit off (0) and on (4 transactions in
#                                # flight, the default) in one run
#   BENCH_BIN_BEFORE=/tmp/tessera-old BENCH_DBS=postgres bench/run.sh
#                                # an older build too, label "+before", each
#                                # connection count run by both in turn; each
#                                # build on a database it migrated itself (so
#                                # the two may differ by migrations)
#
# With PostgreSQL, the same run first measures the database floor
# (../shared/bench-peers/floor-pg.sh: pgbench, one token-shaped row per transaction,
# and one indexed lookup) at each connection count.
#
# Results: JSON lines in $PEERS_WORK/results/<stamp>-tessera.jsonl and a SUMMARY
# report at the end (rps median, p50/p99, errors, peak RSS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/../shared/bench-peers}"
BIN="$ROOT/target/release/tessera"
PORT="${BENCH_PORT:-18082}"
DBS="${BENCH_DBS:-sqlite postgres}"
CONNS="${BENCH_CONNS:-32 64}"
GROUP_COMMIT="${BENCH_GROUP_COMMIT:-4}"
BEFORE="${BENCH_BIN_BEFORE:-}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PEERS_WORK="${PEERS_WORK:-$HOME/.cache/bench-peers}"
export PEERS_WORK
mkdir -p "$PEERS_WORK/results"
stamp="$(date +%Y%m%d-%H%M%S)"
out="$PEERS_WORK/results/$stamp-tessera.jsonl"

[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || { echo "bench: BENCH_BIN_BEFORE=$BEFORE is not executable" >&2; exit 2; }
[ -x "$BIN" ] || { echo "bench: $BIN missing: run 'cargo build --release -j2' first" >&2; exit 2; }
[ -d "$PEERS" ] || { echo "bench: $PEERS missing (set PEERS_DIR)" >&2; exit 2; }

if [ "${1:-}" = "--peers" ]; then
  for conns in $CONNS; do
    PEERS_CONNS=$conns "$PEERS/run-dot.sh" --db postgres --worker-class sync,gthread --secret plain --out "$out"
    PEERS_CONNS=$conns "$PEERS/run-oidc-provider.sh" --out "$out"
  done
fi

floors=""
case " $DBS " in
  *" postgres "*)
    for conns in $CONNS; do
      floors="$floors
c$conns $("$PEERS/floor-pg.sh" 10 "$conns")"
    done ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A generated-strength secret (≥ 43 characters): verified with one keyed hash.
secret="tss_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"

# The database of `which` (now, before) on $db: each build migrates its own.
database_url() {
  local db="$1" which="$2"
  case "$db" in
    sqlite) echo "sqlite://$work/bench-$which.db?mode=rwc" ;;
    postgres)
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tessera_bench_$which WITH (FORCE)" \
        -c "CREATE DATABASE tessera_bench_$which" >/dev/null
      # Loopback: no TLS (sqlx would negotiate it with the server's snakeoil certificate).
      echo "${PG_ADMIN%/*}/tessera_bench_$which?sslmode=disable" ;;
    *) echo "bench: unknown database $db (sqlite, postgres)" >&2; return 2 ;;
  esac
}

for db in $DBS; do
  [ -f "$work/kek" ] || "$BIN" keys generate-kek --output "$work/kek" >/dev/null
  declare -A urls=()
  for which in now ${BEFORE:+before}; do
    urls[$which]="$(database_url "$db" "$which")"
  done
  created=""
  for group_commit in $GROUP_COMMIT; do
    label="$db"
    [ "$GROUP_COMMIT" = 4 ] || label="$db+gc$group_commit"
    for which in now ${BEFORE:+before}; do
      binary="$BIN"
      [ "$which" = now ] || binary="$BEFORE"
      config="$work/$db-$group_commit-$which.toml"
      cat > "$config" <<TOML
key_encryption_key_file = "$work/kek"
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
bootstrap_tenant = ""
migrate_on_start = true
[log]
level = "warn"
[databases.default]
url = "${urls[$which]}"
max_connections = 16
group_commit_in_flight = $group_commit
[tenants.bench]
TOML
      if [ -n "${BENCH_REDIS:-}" ]; then
        printf '[redis]\nurl = "%s"\nkey_prefix = "tessera_bench_%s"\n' "$BENCH_REDIS" "$stamp" >> "$config"
      fi
      if [ -z "$created" ]; then
        env -u TESSERA_CONFIG "$binary" --config "$config" migrate >/dev/null
        printf '%s' "$secret" | env -u TESSERA_CONFIG "$binary" --config "$config" app create --tenant bench \
          --name bench --client-type confidential --grant-types client_credentials \
          --scopes "read write introspection" --client-id bench-client --client-secret-stdin >/dev/null
      fi
    done
    created=1
    [ -z "${BENCH_REDIS:-}" ] || label="$label+redis"
    for conns in $CONNS; do
      for which in ${BEFORE:+before} now; do
        binary="$BIN"
        [ "$which" = now ] || binary="$BEFORE"
        "$PEERS/run-target.sh" --out "$out" --name tessera \
          --config "$label$([ "$which" = now ] || echo +before)" --conns "$conns" \
          --port "$PORT" --start-cmd "$binary --config $work/$db-$group_commit-$which.toml serve" \
          --token-url "http://127.0.0.1:$PORT/t/bench/token" \
          --introspect-url "http://127.0.0.1:$PORT/t/bench/introspect" \
          --client-id bench-client --client-secret "$secret"
      done
    done
  done
  if [ "$db" = postgres ]; then
    for which in now ${BEFORE:+before}; do
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tessera_bench_$which WITH (FORCE)" >/dev/null
    done
  fi
  unset urls
done
echo "== report ($out)"
python3 "$PEERS/lib/bench.py" report "$out" | grep -v '^META'
[ -z "$floors" ] || printf '== PostgreSQL floor (same run)%s\n' "$floors"
