#!/usr/bin/env bash
# Measures how long teamaccess takes from exec to a 200 from /readyz, with the embedded
# store, on a fresh data directory and then on an existing one. Usage: scripts/bench/startup.sh [runs]
set -euo pipefail
runs=${1:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/teamaccess" "$root/cmd/teamaccess"
port=$(( 20000 + RANDOM % 20000 ))

measure() { # $1: data dir; prints milliseconds to ready
  local start end pid
  start=$(date +%s%N)
  TEAMACCESS_LISTEN=127.0.0.1:$port TEAMACCESS_DATA_DIR=$1 "$tmp/teamaccess" >/dev/null 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.002; done
  end=$(date +%s%N)
  kill -INT "$pid"; wait "$pid"
  echo $(( (end - start) / 1000000 ))
}

for kind in fresh existing; do
  times=()
  for i in $(seq "$runs"); do
    dir="$tmp/data-$kind"
    [ "$kind" = fresh ] && rm -rf "$dir"
    times+=("$(measure "$dir")")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  echo "$kind data directory: runs=$runs min=$(echo "$sorted" | head -1)ms median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")ms max=$(echo "$sorted" | tail -1)ms"
done
