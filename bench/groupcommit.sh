#!/bin/bash
# bench/groupcommit.sh: group commit on a disk whose flush costs milliseconds.
#
#   bench/groupcommit.sh [--ms 5] [--seconds 10]
#
# This machine's disk flushes in ~0.3 ms, which hides what batching flushes buys. So sluice runs
# durable (the default) on the real disk under bench/slowflush.c, an LD_PRELOAD shim that makes
# each fsync/fdatasync/syncfs wait MS milliseconds, one at a time (one device). One flush per file
# could then commit at most 1000/MS files per second; wrk PUTs 4 KiB files over 32 connections
# and the metrics tell how many files each flush carried.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ms=5 secs=10
while [ $# -gt 0 ]; do
    case $1 in
    --ms) ms=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    *) echo "usage: bench/groupcommit.sh [--ms N] [--seconds N]" >&2; exit 2 ;;
    esac
done
SL="$top/build-bench/sluice"
[ -x "$SL" ] || { echo "groupcommit.sh: build build-bench first (bench/run does)" >&2; exit 2; }
cc -shared -fPIC -O2 -o "$top/build-bench/slowflush.so" "$top/bench/slowflush.c" -ldl -lpthread
root=/var/tmp/sluice-groupcommit
rm -rf "$root"; mkdir -p "$root"
SLOWFLUSH_MS=$ms LD_PRELOAD="$top/build-bench/slowflush.so" \
    "$SL" --listen 127.0.0.1:18290 --root "$root" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$root"' EXIT
sleep 1
rps=$(wrk -t1 -c32 -d"${secs}s" -s "$top/bench/peers/put4k-files.lua" http://127.0.0.1:18290 |
      awk '/Requests\/sec/ {printf "%.0f", $2}')
metrics=$(curl -sS http://127.0.0.1:18290/metrics)
committed=$(echo "$metrics" | awk '/^sluice_uploads_committed_total/ {print $2}')
flushes=$(echo "$metrics" | awk '/^sluice_fsync_duration_seconds_count/ {print $2}')
one=$(awk -v ms="$ms" 'BEGIN {printf "%.0f", 1000 / ms}')
echo "| 3: 4 KiB PUTs/s, durable, on a disk whose flush takes $ms ms (LD_PRELOAD shim, one flush at a time) | $rps uploads/s; $committed files in $flushes flushes ($(awk -v c="$committed" -v f="$flushes" 'BEGIN {printf "%.1f", c / f}') per flush) | one flush per file: at most $one/s; ratio $(awk -v r="$rps" -v o="$one" 'BEGIN {printf "%.1f", r / o}') (target ≥ 5) |"
