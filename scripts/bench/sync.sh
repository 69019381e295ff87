#!/usr/bin/env bash
# Benchmarks delta sync (BenchmarkBackfill, BenchmarkSteadyState), each against its baseline in
# the same run, on the embedded FerretDB over a throwaway PostgreSQL.
# Usage: scripts/bench/sync.sh [backfill-mailboxes] [idle-mailboxes]   (defaults 100 and 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== backfill: ${1:-100} mailboxes x (500 messages + 200 meetings + 100 contacts)"
TEAMACCESS_BENCH_MAILBOXES=${1:-100} scripts/bench/with-postgres.sh \
  go test -run XXX -bench BenchmarkBackfill -benchtime 1x -timeout 60m ./server
echo "== steady state: ${2:-1000} idle mailboxes"
TEAMACCESS_BENCH_MAILBOXES=${2:-1000} scripts/bench/with-postgres.sh \
  go test -run XXX -bench BenchmarkSteadyState -benchtime 1x -timeout 60m ./server
