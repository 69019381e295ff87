#!/usr/bin/env bash
# Benchmarks discovering and classifying a whole tenant in graphsim (BenchmarkDiscoverTenant),
# on the embedded FerretDB over a throwaway PostgreSQL, and on SQLite for comparison.
# Usage: scripts/bench/discovery.sh [users] [sqlite-users]   (defaults 10000 and 1000)
set -euo pipefail
users=${1:-10000}
sqlite_users=${2:-1000}
cd "$(dirname "$0")/../.."
echo "== $users users, embedded FerretDB on PostgreSQL"
TEAMACCESS_BENCH_USERS=$users scripts/bench/with-postgres.sh \
  go test -run XXX -bench BenchmarkDiscoverTenant -benchtime 1x -timeout 60m ./mailboxes
echo "== $sqlite_users users, embedded FerretDB on SQLite"
TEAMACCESS_BENCH_USERS=$sqlite_users go test -run XXX -bench BenchmarkDiscoverTenant -benchtime 1x -timeout 60m ./mailboxes
