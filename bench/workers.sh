#!/bin/bash
# bench/workers.sh: scenario f of bench/run, as rows of its table.
#   f  8 concurrent 256 MiB uploads against --workers 2 and --workers 1: aggregate GB/s, and where
#      the CPU went (the servers' processes, the client)
#   f  the cost of the access log: 4 KiB uploads over 32 connections for 4 s with --access-log
#      and without, server CPU-s per 1,000 uploads (metrics are always counted)
# usage: bench/workers.sh [--runs N]        (builds build-bench if needed; stores on tmpfs)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3
[ "${1:-}" = "--runs" ] && runs=$2
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
SL="$top/build-bench/sluice" SB="$top/build-bench/sluice-bench"
d=$(mktemp -d /dev/shm/sluice-workers.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$d"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)
start() { # start PORT NAME [flags…]: prints the supervisor's (or the only) pid
    local port=$1 name=$2; shift 2
    mkdir -p "$d/$name"
    "$SL" --listen "127.0.0.1:$port" --root "$d/$name" "$@" >/dev/null 2>>"$d/log" &
    echo $!
}
tree_ticks() { # CPU ticks of a process and its children (live workers and reaped ones)
    local t=0 p
    for p in $1 $(pgrep -P "$1" || true); do
        t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo $t
}
field() { python3 -c 'import json,sys; r=json.load(sys.stdin); v=eval("r"+sys.argv[1]); print("%.3f" % v if isinstance(v, float) else v)' "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }

w1=$(start 18095 w1 --workers 1); w2=$(start 18096 w2 --workers 2); pids+=("$w1" "$w2")
sleep 1
declare -A TP SCPU CCPU
for r in $(seq "$runs"); do
    for w in w1 w2; do
        port=$([ $w = w1 ] && echo 18095 || echo 18096); pid=$([ $w = w1 ] && echo "$w1" || echo "$w2")
        c0=$(tree_ticks "$pid")
        out=$( { /usr/bin/time -f "%U %S" "$SB" "http://127.0.0.1:$port/" -c 8 -n 8 -s 256M \
                 --no-verify --json --no-progress --name-prefix f$r; } 2>"$d/time")
        c1=$(tree_ticks "$pid")
        TP[$w]+="$(echo "$out" | field '["throughput_bytes_per_s"]/1e9') "
        SCPU[$w]+="$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz}') "
        CCPU[$w]+="$(tail -1 "$d/time" | awk '{printf "%.2f", $1 + $2}') "
        find "$d/$w" -mindepth 1 -maxdepth 1 ! -name .sluice -exec rm -rf {} +
        echo "workers.sh: run $r $w: $(echo "${TP[$w]}" | awk '{print $NF}') GB/s" >&2
    done
done
a0=$(start 18097 a0); a1=$(start 18098 a1 --access-log "$d/access.log"); pids+=("$a0" "$a1")
sleep 1
declare -A PER
for r in $(seq "$runs"); do
    for a in a0 a1; do
        port=$([ $a = a0 ] && echo 18097 || echo 18098); pid=$([ $a = a0 ] && echo "$a0" || echo "$a1")
        c0=$(tree_ticks "$pid")
        n=$("$SB" "http://127.0.0.1:$port/" -c 32 -d 4 -s 4K --no-verify --json --no-progress \
            --name-prefix g$r | field '["ok"]')
        c1=$(tree_ticks "$pid")
        PER[$a]+="$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$n" 'BEGIN {printf "%.4f", (b - a) / hz / n * 1000}') "
        find "$d/$a" -mindepth 1 -maxdepth 1 ! -name .sluice -exec rm -rf {} +
    done
done
m() { echo "$1" | tr ' ' '\n' | grep . | median; }
echo "| f: 8 × 256 MiB, --workers 2 vs 1, aggregate GB/s | $(m "${TP[w2]}") vs $(m "${TP[w1]}"): $(ratio "$(m "${TP[w2]}")" "$(m "${TP[w1]}")") (target ≥ 1.3) |"
echo "| f: CPU-s per run, servers / client (sluice-bench), --workers 2 and 1 | 2: $(m "${SCPU[w2]}") / $(m "${CCPU[w2]}"); 1: $(m "${SCPU[w1]}") / $(m "${CCPU[w1]}") |"
echo "| f: access log cost, server CPU-s per 1,000 4 KiB uploads, with / without | $(m "${PER[a1]}") / $(m "${PER[a0]}"): $(ratio "$(m "${PER[a1]}")" "$(m "${PER[a0]}")") (target ≤ 1.03) |"
