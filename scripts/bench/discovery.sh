#!/usr/bin/env bash
# Benchmarks discovering and classifying a whole tenant in graphsim (BenchmarkDiscoverTenant),
# on the embedded FerretDB with a throwaway PostgreSQL backend (Debian's postgresql package; the
# script installs it if missing), and on SQLite for comparison.
# Usage: scripts/bench/discovery.sh [users] [sqlite-users]   (defaults 10000 and 1000)
set -euo pipefail
users=${1:-10000}
sqlite_users=${2:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pgbin" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
tmp=$(mktemp -d)
chown postgres "$tmp"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=$(( 30000 + RANDOM % 20000 ))
as_pg "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres >/dev/null
as_pg "$pgbin/pg_ctl" -D "$tmp/data" -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off" -l "$tmp/log" -w start >/dev/null
trap 'as_pg "$pgbin/pg_ctl" -D "$tmp/data" -m fast stop >/dev/null; rm -rf "$tmp"' EXIT
as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres ferretdb

cd "$root"
echo "== $users users, embedded FerretDB on PostgreSQL"
TEAMACCESS_BENCH_USERS=$users TEAMACCESS_BENCH_POSTGRESQL_URL="postgres://postgres@127.0.0.1:$port/ferretdb" \
  go test -run XXX -bench BenchmarkDiscoverTenant -benchtime 1x -timeout 60m ./mailboxes
echo "== $sqlite_users users, embedded FerretDB on SQLite"
TEAMACCESS_BENCH_USERS=$sqlite_users go test -run XXX -bench BenchmarkDiscoverTenant -benchtime 1x -timeout 60m ./mailboxes
