#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL (Debian's postgresql package; installed if missing)
# and TEAMACCESS_BENCH_POSTGRESQL_URL pointing at it, for benchmarks of the embedded FerretDB on
# PostgreSQL. Usage: scripts/bench/with-postgres.sh COMMAND [ARGS...]
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
as_pg "$pgbin/pg_ctl" -D "$tmp/data" -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off" -l "$tmp/log" -w start >/dev/null
trap 'as_pg "$pgbin/pg_ctl" -D "$tmp/data" -m fast stop >/dev/null; rm -rf "$tmp"' EXIT
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres ferretdb
TEAMACCESS_BENCH_POSTGRESQL_URL="postgres://postgres@127.0.0.1:$port/ferretdb" "$@"
