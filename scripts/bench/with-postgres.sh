#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL (Debian's postgresql package; installed if missing)
# and TEAMACCESS_BENCH_POSTGRESQL_URL pointing at it, for benchmarks of the embedded FerretDB on
# PostgreSQL. Usage: scripts/bench/with-postgres.sh COMMAND [ARGS...]
# With TEAMACCESS_PG_STATEMENTS=N, the N statements that read the most rows are printed at the
# end (pg_stat_statements): which of FerretDB's queries PostgreSQL could not narrow.
# max_connections is 300: each process's embedded FerretDB opens up to 50.
set -euo pipefail
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pgbin" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
tmp=$(mktemp -d)
chown postgres "$tmp" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=$(( 30000 + RANDOM % 20000 ))
as_pg "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres >/dev/null
statements=${TEAMACCESS_PG_STATEMENTS:-}
opts="-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
if [ -n "$statements" ]; then opts="$opts -c shared_preload_libraries=pg_stat_statements"; fi
as_pg "$pgbin/pg_ctl" -D "$tmp/data" -o "$opts" -l "$tmp/log" -w start >/dev/null
trap 'as_pg "$pgbin/pg_ctl" -D "$tmp/data" -m fast stop >/dev/null; rm -rf "$tmp"' EXIT
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres ferretdb
psql=$(dirname "$pgbin")/bin/psql
if [ -n "$statements" ]; then "$psql" -q -h 127.0.0.1 -p "$port" -U postgres ferretdb -c 'CREATE EXTENSION pg_stat_statements'; fi
rc=0
TEAMACCESS_BENCH_POSTGRESQL_URL="postgres://postgres@127.0.0.1:$port/ferretdb" "$@" || rc=$?
if [ -n "$statements" ]; then
  "$psql" -h 127.0.0.1 -p "$port" -U postgres ferretdb -c "SELECT calls, rows, round(total_exec_time) AS ms,
    left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query FROM pg_stat_statements ORDER BY rows DESC LIMIT $statements" ${TEAMACCESS_PG_STATEMENTS_CSV:+-A -F"|"}
fi
exit $rc
