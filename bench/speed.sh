#!/bin/bash
# bench/speed.sh: the speed goals, sluice beside nginx (WebDAV PUT) and the Node pipe in one
# interleaved run on tmpfs, with the clients users have: curl for one stream, wrk for 4 KiB PUTs,
# sluice-bench for concurrency, a Python trickler for slow uploads. Writes a markdown section on
# stdout and its data (for gnuplot) to $SPEED_DATA (default build-bench/speed.dat).
#
#   bench/speed.sh [--runs N] [--slow N]      (defaults: 3 runs, 2000 slow uploads)
#
# Server CPU is read from /proc/PID/stat (user + system, all threads) before and after each
# upload; SHA-256 alone is `openssl dgst -sha256` over the same file under /usr/bin/time.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 slow=2000
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --slow) slow=$2; shift 2 ;;
    *) echo "usage: bench/speed.sh [--runs N] [--slow N]" >&2; exit 2 ;;
    esac
done
SL="$top/build-bench/sluice"
SB="$top/build-bench/sluice-bench"
DATA=${SPEED_DATA:-$top/build-bench/speed.dat}
[ -x "$SL" ] && [ -x "$SB" ] || { echo "speed.sh: build build-bench first (bench/run does)" >&2; exit 2; }
d=/dev/shm/sluice-speed
rm -rf "$d"; mkdir -p "$d/s" "$d/nd" "$d/small"
ulimit -n "$(ulimit -Hn)"
pids=()
cleanup() {
    sh "$top/bench/peers/peers.sh" stop "$d/peers" >/dev/null 2>&1 || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$d"
}
trap cleanup EXIT
sh "$top/bench/peers/peers.sh" start "$d/peers" >/dev/null 2>&1
"$SL" --listen 127.0.0.1:18280 --root "$d/s" --max-connections 12000 >/dev/null 2>&1 & pids+=($!)
"$SL" --listen 127.0.0.1:18281 --root "$d/nd" --digest none >/dev/null 2>&1 & pids+=($!)
"$SL" --listen 127.0.0.1:18282 --root "$d/small" --durability none >/dev/null 2>&1 & pids+=($!)
sleep 1
declare -A URL PID STORE
URL[sluice]=http://127.0.0.1:18280/files/;    PID[sluice]=${pids[0]};  STORE[sluice]=$d/s
URL[sluice-nd]=http://127.0.0.1:18281/files/; PID[sluice-nd]=${pids[1]}; STORE[sluice-nd]=$d/nd
URL[nginx]=http://127.0.0.1:18081/files/;     STORE[nginx]=$d/peers/ngx/store/files
PID[nginx]=$(pgrep -P "$(cat "$d/peers/ngx.pid")" | head -1)
URL[node]=http://127.0.0.1:18082/files/;      PID[node]=$(cat "$d/peers/node.pid"); STORE[node]=$d/peers/node
hz=$(getconf CLK_TCK)
big=$d/big.bin
head -c 1G /dev/urandom > "$big"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m() { echo "$1" | tr ' ' '\n' | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
clean() { find "${STORE[$1]}" -mindepth 1 -maxdepth 1 ! -name .sluice -exec rm -rf {} + 2>/dev/null || true; }

# --- goal 1: one 1 GiB curl -T ---------------------------------------------------------------
declare -A TP CPU
SHA=""
servers="sluice nginx sluice-nd node"
for r in $(seq "$runs"); do
    for s in $servers; do
        c0=$(cpu_ticks "${PID[$s]}"); t0=$(date +%s.%N)
        curl -sS -o /dev/null -T "$big" "${URL[$s]}g1-$r"
        t1=$(date +%s.%N); c1=$(cpu_ticks "${PID[$s]}")
        TP[$s]+="$(awk -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.0f", 1073741824 / (t1 - t0) / 1e6}') "
        CPU[$s]+="$(awk -v c="$((c1 - c0))" -v hz="$hz" 'BEGIN {printf "%.2f", c / hz}') "
        clean "$s"
    done
    SHA+="$( { /usr/bin/time -f '%U %S' openssl dgst -sha256 "$big" >/dev/null; } 2>&1 | awk '{printf "%.2f", $1 + $2}') "
    echo "speed: goal 1 run $r: MB/s sluice $(echo "${TP[sluice]}" | awk '{print $NF}'), nginx $(echo "${TP[nginx]}" | awk '{print $NF}')" >&2
done

# --- goal 2: 64 concurrent 64 MiB uploads ----------------------------------------------------
declare -A AGG
field() { python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.0f" % (r["throughput_bytes_per_s"] / 1e6))'; }
for r in $(seq "$runs"); do
    for s in sluice nginx node; do
        AGG[$s]+="$("$SB" "${URL[$s]}" -c 64 -n 64 -s 64M --no-verify --json --no-progress --max-time 300 --name-prefix g2-$r | field) "
        clean "$s"
    done
done

# --- goal 3: 4 KiB PUTs, wrk -t1 -c32 (sluice --durability none) -------------------------------
declare -A RPS
wrk_rps() { wrk -t1 -c32 -d5s -s "$2" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
for r in $(seq "$runs"); do
    RPS[sluice]+="$(wrk_rps http://127.0.0.1:18282 "$top/bench/peers/put4k-files.lua") "
    RPS[nginx]+="$(wrk_rps http://127.0.0.1:18081 "$top/bench/peers/put4k.lua") "
    rm -rf "$d/small/small" "${STORE[nginx]:?}"/*
done

# --- goal 4: slow uploads: RSS per upload --------------------------------------------------------
declare -A SLOW
for mode in "" "--expect"; do
    for s in sluice nginx; do
        j=$(python3 "$top/bench/trickle.py" "${URL[$s]}" "${PID[$s]}" -n "$slow" -s 64K --rate 8K $mode)
        SLOW[$s$mode]=$(echo "$j" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%s (%d/%d ok)" % (r["kib_per_upload"], r["ok"], r["uploads"]))')
        clean "$s"
        sleep 3
    done
done
j=$("$SB" "${URL[sluice]}" -c "$slow" -n "$slow" -s 64K --rate 8K --ramp 2 --timeout 120 --json --no-progress --server-pid "${PID[sluice]}" --name-prefix g4b)
SLOW[sb]=$(echo "$j" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["server"]["rss_peak_kib"], r["ok"])')
clean sluice

# --- goal 5: memory comes back after a burst ---------------------------------------------------
sleep 3
rss0=$(rss_kib "${PID[sluice-nd]}")
"$SB" "${URL[sluice-nd]}" -c 200 -n 200 -s 1M --no-verify --no-progress >/dev/null
rss1=$(rss_kib "${PID[sluice-nd]}")
sleep 10
rss2=$(rss_kib "${PID[sluice-nd]}")

# --- report ------------------------------------------------------------------------------------
tp_s=$(m "${TP[sluice]}"); tp_n=$(m "${TP[nginx]}"); tp_d=$(m "${TP[sluice-nd]}"); tp_j=$(m "${TP[node]}")
cp_s=$(m "${CPU[sluice]}"); cp_n=$(m "${CPU[nginx]}"); cp_d=$(m "${CPU[sluice-nd]}"); cp_j=$(m "${CPU[node]}")
sha=$(m "$SHA")
budget=$(awk -v n="$cp_n" -v s="$sha" 'BEGIN {printf "%.2f", n + 1.1 * s}')
{
    echo "server throughput_MBps cpu_s_per_GiB"
    echo "sluice $tp_s $cp_s"
    echo "sluice,no-digest $tp_d $cp_d"
    echo "nginx $tp_n $cp_n"
    echo "node $tp_j $cp_j"
} > "$DATA"
echo "| goal | sluice | nginx | node | sluice/nginx | sluice/node | target |"
echo "|---|---|---|---|---|---|---|"
echo "| 1: one 1 GiB \`curl -T\`, MB/s (SHA-256 on) | $tp_s | $tp_n | $tp_j | $(ratio "$tp_s" "$tp_n") | $(ratio "$tp_s" "$tp_j") | ≥ 1.0 nginx, ≥ 1.5 node |"
echo "| 1: server CPU-s per GiB (SHA-256 on) | $cp_s | $cp_n | $cp_j | $(ratio "$cp_s" "$cp_n") | | ≤ nginx + 1.1 × SHA-256 alone ($sha s) = $budget |"
echo "| 1: \`--digest none\`, MB/s | $tp_d | $tp_n | $tp_j | $(ratio "$tp_d" "$tp_n") | $(ratio "$tp_d" "$tp_j") | ≥ 1.0 nginx |"
echo "| 1: \`--digest none\`, CPU-s per GiB | $cp_d | $cp_n | | $(ratio "$cp_d" "$cp_n") | | ≤ 0.8 nginx |"
echo "| 2: 64 × 64 MiB concurrent, aggregate MB/s (sluice-bench) | $(m "${AGG[sluice]}") | $(m "${AGG[nginx]}") | $(m "${AGG[node]}") | $(ratio "$(m "${AGG[sluice]}")" "$(m "${AGG[nginx]}")") | $(ratio "$(m "${AGG[sluice]}")" "$(m "${AGG[node]}")") | ≥ 1.0 nginx |"
echo "| 3: 4 KiB PUTs/s, \`wrk -t1 -c32\`, sluice \`--durability none\` | $(m "${RPS[sluice]}") | $(m "${RPS[nginx]}") | | $(ratio "$(m "${RPS[sluice]}")" "$(m "${RPS[nginx]}")") | | ≥ 1.0 nginx |"
echo "| 4: RSS KiB per slow upload, $slow × 64 KiB at 8 KiB/s, Python trickler (ok) | ${SLOW[sluice]} | ${SLOW[nginx]} | | | | ≤ 16 |"
echo "| 4: the same, the trickler sending \`Expect: 100-continue\` like curl | ${SLOW[sluice--expect]} | ${SLOW[nginx--expect]} | | | | ≤ 16 |"
echo "| 4: sluice-bench \`--rate 8K\`, $slow uploads: server peak RSS KiB, ok | ${SLOW[sb]} | | | | | |"
echo "| 5: idle RSS after 200 concurrent 1 MiB uploads: start, after, +10 s (KiB) | $rss0, $rss1, $rss2 ($(ratio "$rss2" "$rss0")×) | | | | | ≤ 2× start |"
echo
echo "Raw per run: goal 1 MB/s sluice ${TP[sluice]}/ nginx ${TP[nginx]}/ --digest none ${TP[sluice-nd]}/ node ${TP[node]}; CPU-s/GiB sluice ${CPU[sluice]}/ nginx ${CPU[nginx]}/ --digest none ${CPU[sluice-nd]}/ node ${CPU[node]}; SHA-256 alone $SHA; goal 2 sluice ${AGG[sluice]}/ nginx ${AGG[nginx]}/ node ${AGG[node]}; goal 3 sluice ${RPS[sluice]}/ nginx ${RPS[nginx]}"
