#!/bin/bash
# bench/tus.sh: scenario F, a tus 1.0 upload of 1 GiB, sluice beside @tus/server (Node.js,
# FileStore), and sluice's tus beside its own plain PUT of the same bytes. On tmpfs.
#
#   bench/tus.sh [--runs N] [--out-json FILE]          (default: 3 runs)
#
# Each run, interleaved (sluice tus, tus-node tus, sluice PUT) so that the machine's noise hits
# them alike:
#   tus   POST (Upload-Length: 1 GiB), then 16 PATCHes of 64 MiB, one after the other, each its
#         own curl (no keep-alive); wall time from the POST to the last 204, and the server's CPU
#         ticks (utime + stime from /proc/PID/stat) over the same span
#   PUT   one `curl -T` of the same 1 GiB to sluice's /files/
# The first run's results are compared byte for byte with the source (cmp); any difference, a
# wrong status or a wrong Upload-Offset stops the benchmark. Medians go to stdout as a markdown
# table and, with --out-json, to FILE as a JSON object; progress goes to stderr.
# sluice: build-bench/sluice (an incremental Release build first), --listen 127.0.0.1:18090, defaults
# otherwise; tus-node: bench/peers/tus-node/server.js on 127.0.0.1:18093, path /files.
# Needs curl, node + npm, cmake and sluice's build dependencies (see bench/run).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 out_json=""
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --out-json) out_json=$2; shift 2 ;;
    *) echo "usage: bench/tus.sh [--runs N] [--out-json FILE]" >&2; exit 2 ;;
    esac
done
case $runs in '' | *[!0-9]* | 0) echo "bench/tus.sh: --runs wants a positive number" >&2; exit 2 ;; esac
say() { echo "tus.sh: $*" >&2; }
die() { echo "tus.sh: FAIL: $*" >&2; exit 1; }

for c in curl node npm cmake cmp split base64; do
    command -v "$c" >/dev/null || die "$c not found (bench/run installs the build dependencies; node and npm: apt-get install nodejs npm)"
done

# --- sluice and the peer's packages ----------------------------------------------------------
# Always an (incremental) build, like bench/run: a build-bench/sluice from before tus would
# answer 404 under /uploads/.
{ cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF &&
  cmake --build "$top/build-bench" -j"$(nproc)"; } >/tmp/sluice-tus-build.$$.log 2>&1 ||
    { cat /tmp/sluice-tus-build.$$.log >&2; rm -f /tmp/sluice-tus-build.$$.log; die "building build-bench/sluice"; }
rm -f /tmp/sluice-tus-build.$$.log
sluice="$top/build-bench/sluice"
peer="$top/bench/peers/tus-node"
if [ ! -d "$peer/node_modules/@tus/server" ] || [ ! -d "$peer/node_modules/@tus/file-store" ]; then
    say "npm ci in bench/peers/tus-node"
    npm ci --prefix "$peer" --no-audit --no-fund --omit=optional >/dev/null || die "npm ci --prefix bench/peers/tus-node"
fi

SPORT=18090 NPORT=18093
for p in $SPORT $NPORT; do
    ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/" || die "port $p is in use"
done

# --- stores, servers, cleanup ----------------------------------------------------------------
d=/dev/shm/sluice-tus-bench.$$
spid="" npid=""
cleanup() {
    local p
    for p in $spid $npid; do kill "$p" 2>/dev/null || true; done
    for p in $spid $npid; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$d/sluice" "$d/tus-node" "$d/data"

"$sluice" --listen "127.0.0.1:$SPORT" --root "$d/sluice" 2>"$d/sluice.log" &
spid=$!
node "$peer/server.js" "$d/tus-node" "$NPORT" 2>"$d/tus-node.log" &
npid=$!
up() { curl -s -o /dev/null --max-time 2 -X OPTIONS "$1"; }
for _ in $(seq 100); do
    up "http://127.0.0.1:$SPORT/uploads/" && up "http://127.0.0.1:$NPORT/files" && break
    kill -0 "$spid" 2>/dev/null || { cat "$d/sluice.log" >&2; die "sluice did not start"; }
    kill -0 "$npid" 2>/dev/null || { cat "$d/tus-node.log" >&2; die "tus-node did not start"; }
    sleep 0.1
done
up "http://127.0.0.1:$SPORT/uploads/" || die "sluice is not answering on $SPORT"
up "http://127.0.0.1:$NPORT/files" || die "tus-node is not answering on $NPORT"

size=1073741824 slice=67108864
say "generating 1 GiB of random data, 16 slices of 64 MiB"
head -c "$size" /dev/urandom > "$d/data/big.bin"
(cd "$d/data" && split -b 64M -d -a 2 big.bin slice.)
slices=$(printf "%s\n" "$d/data"/slice.*)
[ "$(echo "$slices" | wc -l)" -eq 16 ] || die "split did not give 16 slices"

hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
gbps() { awk -v t="$1" -v n="$size" 'BEGIN {printf "%.3f", n / 1e9 / t}'; }
cpu_per_gib() { awk -v a="$1" -v b="$2" -v hz="$hz" -v n="$size" 'BEGIN {printf "%.3f", (b - a) / hz / (n / 1073741824)}'; }
header() { tr -d '\r' < "$1" | awk -v h="$2" 'tolower($1) == tolower(h) ":" {sub(/^[^:]*: */, ""); v = $0} END {print v}'; }
status() { tr -d '\r' < "$1" | awk '/^HTTP\// && $2 != 100 {s = $2} END {print s}'; }

# tus_upload BASE PID NAME: the timed tus upload; sets T (s), C (CPU-s per GiB), LOC, SFILE
tus_upload() {
    local base=$1 pid=$2 name=$3 h="$d/h" off=0 f st got c0 c1 t0 t1 url
    c0=$(cpu_ticks "$pid"); t0=$(now)
    curl -s --max-time 120 -D "$h" -o /dev/null -X POST -H 'Tus-Resumable: 1.0.0' \
        -H "Upload-Length: $size" -H "Upload-Metadata: filename $(printf %s "$name" | base64 -w0)" \
        "$base" || die "POST $base: curl exit $?"
    st=$(status "$h"); [ "$st" = 201 ] || die "POST $base: status $st"
    LOC=$(header "$h" Location)
    [ -n "$LOC" ] || die "POST $base: no Location"
    case $LOC in /*) url=$(echo "$base" | sed -E 's#^(https?://[^/]+).*#\1#')$LOC ;; *) url=$LOC ;; esac
    for f in $slices; do
        curl -s --max-time 120 -D "$h" -o /dev/null -X PATCH -T "$f" -H 'Tus-Resumable: 1.0.0' \
            -H "Upload-Offset: $off" -H 'Content-Type: application/offset+octet-stream' \
            "$url" || die "PATCH $url at $off: curl exit $?"
        st=$(status "$h"); [ "$st" = 204 ] || die "PATCH $url at $off: status $st"
        off=$((off + slice))
        got=$(header "$h" Upload-Offset)
        [ "$got" = "$off" ] || die "PATCH $url: Upload-Offset $got, expected $off"
    done
    t1=$(now); c1=$(cpu_ticks "$pid")
    SFILE=$(header "$h" Sluice-File)
    T=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    C=$(cpu_per_gib "$c0" "$c1")
}
same() { cmp -s "$d/data/big.bin" "$1" || die "$2: stored bytes differ from the source ($1)"; say "$2: identical to the source (cmp)"; }

declare -A TP CPU
for k in sluice node put; do TP[$k]=""; CPU[$k]=""; done
for r in $(seq "$runs"); do
    # sluice, tus
    tus_upload "http://127.0.0.1:$SPORT/uploads/" "$spid" "tus-$r.bin"
    [ "$SFILE" = "/files/tus-$r.bin" ] || die "sluice: Sluice-File '$SFILE', expected /files/tus-$r.bin"
    if [ "$r" = 1 ]; then same "$d/sluice/${SFILE#/files/}" "sluice tus"; fi
    rm -f "$d/sluice/${SFILE#/files/}"
    TP[sluice]+="$(gbps "$T") "; CPU[sluice]+="$C "
    say "run $r sluice tus: ${T}s, $(gbps "$T") GB/s, $C CPU-s/GiB"

    # tus-node, tus
    tus_upload "http://127.0.0.1:$NPORT/files" "$npid" "tus-$r.bin"
    id=${LOC##*/}
    if [ -z "$id" ] || [ ! -f "$d/tus-node/$id" ]; then die "tus-node: no stored file for Location $LOC"; fi
    if [ "$r" = 1 ]; then same "$d/tus-node/$id" "tus-node tus"; fi
    rm -f "$d/tus-node/$id" "$d/tus-node/$id.json"
    TP[node]+="$(gbps "$T") "; CPU[node]+="$C "
    say "run $r tus-node tus: ${T}s, $(gbps "$T") GB/s, $C CPU-s/GiB"

    # sluice, PUT
    c0=$(cpu_ticks "$spid"); t0=$(now)
    st=$(curl -s --max-time 120 -o /dev/null -w '%{http_code}' -T "$d/data/big.bin" \
        "http://127.0.0.1:$SPORT/files/put-$r.bin") || die "PUT: curl exit $?"
    t1=$(now); c1=$(cpu_ticks "$spid")
    [ "$st" = 201 ] || die "PUT /files/put-$r.bin: status $st"
    if [ "$r" = 1 ]; then same "$d/sluice/put-$r.bin" "sluice PUT"; fi
    rm -f "$d/sluice/put-$r.bin"
    T=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    C=$(cpu_per_gib "$c0" "$c1")
    TP[put]+="$(gbps "$T") "; CPU[put]+="$C "
    say "run $r sluice PUT: ${T}s, $(gbps "$T") GB/s, $C CPU-s/GiB"
done
kill -0 "$spid" 2>/dev/null || die "sluice died"
kill -0 "$npid" 2>/dev/null || die "tus-node died"

declare -A TPM CPUM
for k in sluice node put; do
    TPM[$k]=$(echo "${TP[$k]}" | tr ' ' '\n' | grep . | median)
    CPUM[$k]=$(echo "${CPU[$k]}" | tr ' ' '\n' | grep . | median)
done
R_PUT=$(ratio "${TPM[sluice]}" "${TPM[put]}")
R_NODE=$(ratio "${TPM[sluice]}" "${TPM[node]}")
nodev=$(node --version)
tusv=$(node -p "require('$peer/node_modules/@tus/server/package.json').version")
fsv=$(node -p "require('$peer/node_modules/@tus/file-store/package.json').version")

echo "i: a 1 GiB tus upload (POST, then 16 PATCHes of 64 MiB, one curl each), median of $runs;"
echo "tus-node is @tus/server $tusv with @tus/file-store $fsv on Node.js $nodev."
echo
echo "| i: 1 GiB over tus | sluice tus | tus-node tus | sluice PUT | sluice tus / sluice PUT | sluice tus / tus-node |"
echo "|---|---|---|---|---|---|"
echo "| GB/s (median of $runs) | ${TPM[sluice]} | ${TPM[node]} | ${TPM[put]} | $R_PUT (target ≥ 0.90) | $R_NODE |"
echo "| server CPU-s per GiB (median) | ${CPUM[sluice]} | ${CPUM[node]} | ${CPUM[put]} | $(ratio "${CPUM[sluice]}" "${CPUM[put]}") | $(ratio "${CPUM[sluice]}" "${CPUM[node]}") |"
echo
echo "Raw i figures (GB/s; CPU-s per GiB): sluice tus ${TP[sluice]% }; ${CPU[sluice]% } — tus-node ${TP[node]% }; ${CPU[node]% } — sluice PUT ${TP[put]% }; ${CPU[put]% }"

if [ -n "$out_json" ]; then
    arr() { echo "$1" | tr ' ' '\n' | grep . | paste -sd, -; }
    cat > "$out_json" <<EOF
{
  "scenario": "F",
  "runs": $runs,
  "bytes": $size,
  "patch_bytes": $slice,
  "peer": {"node": "$nodev", "@tus/server": "$tusv", "@tus/file-store": "$fsv"},
  "gbps": {"sluice_tus": ${TPM[sluice]}, "tus_node": ${TPM[node]}, "sluice_put": ${TPM[put]}},
  "cpu_s_per_gib": {"sluice_tus": ${CPUM[sluice]}, "tus_node": ${CPUM[node]}, "sluice_put": ${CPUM[put]}},
  "ratio_sluice_tus_to_put": $R_PUT,
  "ratio_sluice_tus_to_tus_node": $R_NODE,
  "target_tus_to_put": 0.90,
  "raw": {
    "gbps": {"sluice_tus": [$(arr "${TP[sluice]}")], "tus_node": [$(arr "${TP[node]}")], "sluice_put": [$(arr "${TP[put]}")]},
    "cpu_s_per_gib": {"sluice_tus": [$(arr "${CPU[sluice]}")], "tus_node": [$(arr "${CPU[node]}")], "sluice_put": [$(arr "${CPU[put]}")]}
  }
}
EOF
    say "wrote $out_json"
fi
