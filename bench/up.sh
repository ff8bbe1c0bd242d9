#!/bin/bash
# bench/up.sh: sluice-up against curl on the same sluice, same run, alternated: one 1 GiB file
# (sluice-up: a creation POST and one PATCH, SHA-256 computed and compared; curl -T: one PUT) and
# 1,000 files of 4 KiB (sluice-up -p 8, one creation-with-upload POST each over kept-alive
# connections; a shell loop of curl -T, one process and connection per file). Everything on
# tmpfs, a fresh server root per run. Writes a markdown section on stdout.
#
#   bench/up.sh [--runs N] [--build DIR]      (defaults: 3 runs, build/)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 build=$top/build
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: bench/up.sh [--runs N] [--build DIR]" >&2; exit 2 ;;
    esac
done
SL=$build/sluice UP=$build/sluice-up
[ -x "$SL" ] && [ -x "$UP" ] || { echo "up.sh: build sluice and sluice-up first" >&2; exit 2; }
d=/dev/shm/sluice-up-bench
rm -rf "$d"; mkdir -p "$d/small"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
head -c 1G /dev/urandom > "$d/big.bin"
for i in $(seq -w 1 1000); do head -c 4096 /dev/urandom > "$d/small/f$i.bin"; done

start() { # a fresh server on a fresh root
    [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
    rm -rf "$d/root"
    "$SL" --listen 127.0.0.1:18390 --root "$d/root" --durability none >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fsS http://127.0.0.1:18390/healthz >/dev/null 2>&1 && return; sleep 0.05; done
    echo "up.sh: sluice did not start" >&2; exit 1
}
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
loop() { for f in "$d"/small/*; do curl -sS -T "$f" "http://127.0.0.1:18390/files/loop/${f##*/}" || return 1; done; }

: > "$d/t_up" ; : > "$d/t_curl" ; : > "$d/t_upn" ; : > "$d/t_loop"
for _ in $(seq "$runs"); do
    start; secs "$UP" -q --state-dir "$d/state" "$d/big.bin" http://127.0.0.1:18390 >> "$d/t_up"
    start; secs curl -sS -T "$d/big.bin" http://127.0.0.1:18390/files/big.bin >> "$d/t_curl"
    start; secs "$UP" -q -p 8 --state-dir "$d/state" "$d/small" http://127.0.0.1:18390 >> "$d/t_upn"
    start; secs loop >> "$d/t_loop"
done
up=$(median < "$d/t_up") cu=$(median < "$d/t_curl") upn=$(median < "$d/t_upn") lp=$(median < "$d/t_loop")
printf '### sluice-up against curl\n\n'
printf 'Median of %s alternated runs, tmpfs, `--durability none`, %s cores, load average %s.\n\n' \
    "$runs" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
printf '| upload | sluice-up | curl | ratio |\n|---|---|---|---|\n'
printf '| 1 GiB, one file | %.2f s (%.0f MiB/s) | %.2f s (%.0f MiB/s), `curl -T` | %.2fx the throughput |\n' \
    "$up" "$(echo "1024 / $up" | bc -l)" "$cu" "$(echo "1024 / $cu" | bc -l)" "$(echo "$cu / $up" | bc -l)"
printf '| 1,000 files of 4 KiB | %.2f s (%.0f files/s), `-p 8` | %.2f s (%.0f files/s), a shell loop of `curl -T` | %.1fx the rate |\n' \
    "$upn" "$(echo "1000 / $upn" | bc -l)" "$lp" "$(echo "1000 / $lp" | bc -l)" "$(echo "$lp / $upn" | bc -l)"
