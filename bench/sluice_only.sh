#!/bin/bash
# bench/sluice_only.sh: the scenarios that only sluice can run, as rows of bench/run's table.
#   g  1 GiB as one form part (curl -F) against a PUT of the same file (curl -T): GB/s
#   h  a gzip body (a synthetic log) stored decoded: server CPU-s per GiB stored, beside zlib alone
# usage: bench/sluice_only.sh [--runs N] BASE_URL SLUICE_PID      (BASE_URL: http://host:port)
set -euo pipefail
runs=3
[ "${1:-}" = "--runs" ] && { runs=$2; shift 2; }
base=${1:?base URL} spid=${2:?sluice pid}
d=$(mktemp -d /dev/shm/sluice-only.XXXXXX)
trap 'rm -rf "$d"' EXIT
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }

head -c 1073741824 /dev/urandom > "$d/big.bin"
seq 1 6000000 | awk '{printf "2026-11-30T06:%02d:%02dZ INFO upload id=%08x path=/files/%x status=201 bytes=%d\n", ($1/60)%60, $1%60, $1*2654435761%4294967296, $1*7919, $1%65536}' > "$d/text.txt"
textgib=$(awk -v n="$(stat -c %s "$d/text.txt")" 'BEGIN {print n / 1073741824}')
gzip -6 -c "$d/text.txt" > "$d/text.gz"
PUTS="" FORMS="" GZCPU=""
for r in $(seq "$runs"); do
    t=$(curl -s -o /dev/null -w '%{time_total}' -T "$d/big.bin" "$base/files/g-$r.bin")
    PUTS+="$(awk -v t="$t" 'BEGIN {printf "%.3f", 1.073741824 / t}') "
    t=$(curl -s -o /dev/null -w '%{time_total}' -F "f=@$d/big.bin" "$base/files/?name=form-$r")
    FORMS+="$(awk -v t="$t" 'BEGIN {printf "%.3f", 1.073741824 / t}') "
    c0=$(cpu_ticks "$spid")
    curl -s -o /dev/null -H 'Content-Encoding: gzip' -T "$d/text.gz" "$base/files/gz-$r.txt"
    c1=$(cpu_ticks "$spid")
    GZCPU+="$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v g="$textgib" 'BEGIN {printf "%.3f", (b - a) / hz / g}') "
    curl -s -o /dev/null -X DELETE "$base/files/g-$r.bin"
    curl -s -o /dev/null -X DELETE "$base/files/gz-$r.txt"
    curl -s -o /dev/null -X DELETE "$base/files/form-$r/big.bin"
    echo "sluice_only: run $r" >&2
done
PUTM=$(echo "$PUTS" | tr ' ' '\n' | grep . | median)
FORMM=$(echo "$FORMS" | tr ' ' '\n' | grep . | median)
GZM=$(echo "$GZCPU" | tr ' ' '\n' | grep . | median)
GZBASE=$( { /usr/bin/time -f "%U %S" gzip -dc "$d/text.gz" > /dev/null; } 2>&1 | awk -v g="$textgib" '{printf "%.3f", ($1 + $2) / g}')
GZRATIO=$(awk -v a="$(stat -c %s "$d/text.txt")" -v b="$(stat -c %s "$d/text.gz")" 'BEGIN {printf "%.2f", a / b}')
echo "| g: 1 GiB as one form part (curl -F) vs a PUT (curl -T), GB/s | form $FORMM, PUT $PUTM: ratio $(ratio "$FORMM" "$PUTM") |"
echo "| h: gzip body (a synthetic log, ${GZRATIO}:1), server CPU-s per GiB stored | $GZM (zlib alone, gzip -dc: $GZBASE) |"
