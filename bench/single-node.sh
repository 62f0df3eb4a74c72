# Sourced by the one-node PostgreSQL benches (growth.sh, tenants.sh), after they set
# BIN, PG_ADMIN and DB: a work directory ($work), database $DB, both removed on exit
# with the server whose PID the bench keeps in $server; its URL ($url), a free port
# ($port), a key-encryption key, and the start of $work/tessera.toml (the bench
# appends its log level and pools).
work="$(mktemp -d)"
server=""
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$PG_ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
url="${PG_ADMIN%/*}/$DB?sslmode=disable"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$BIN" keys generate-kek --output "$work/kek" >/dev/null
cat > "$work/tessera.toml" <<TOML
key_encryption_key_file = "$work/kek"
listen = "127.0.0.1:$port"
bootstrap_tenant = ""
migrate_on_start = true
TOML
tessera() { env -u TESSERA_CONFIG "$BIN" --config "$work/tessera.toml" "$@"; }
sql() { psql "${PG_ADMIN%/*}/$DB" -qAt -v ON_ERROR_STOP=1 "$@"; }
