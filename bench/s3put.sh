#!/bin/sh
# bench/s3put.sh: an upload into the S3 store (issue 14's first figure). Brings up a one-node Ceph
# cluster (tests/s3/ceph.sh) and one sluice on it (--store s3://…, default digests, --spool on
# tmpfs), then, alternating, REPS times each, one file (1 GiB by default, from tmpfs):
#   direct   curl --aws-sigv4 -T of the file straight into radosgw (one PUT, UNSIGNED-PAYLOAD)
#   sluice   curl -T of the file to /files/<name> through sluice (multipart upload, 16 MiB parts)
# and prints each run's MB/s (curl's -w) with sluice's CPU seconds for its runs (/proc), the
# median of each and the ratio of the medians, then sluice's peak RSS (VmHWM). With NODES=2 it
# also runs 8 concurrent 256 MiB uploads against one node and against two nodes behind HAProxy
# (round-robin), aggregate MB/s. Everything is torn down at the end.
#
#   bench/s3put.sh [SIZE_MIB=1024] [REPS=3]      (from the top of the tree, after a build)
# SLUICE_ARGS adds flags to sluice's command line (e.g. "--s3-part-size 64M").
set -eu
SIZE=${1:-1024}
REPS=${2:-3}
BIN=${SLUICE_BIN:-build/sluice}
TOP=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/sluice-s3put-bench.XXXXXX)
F=$(mktemp -d /dev/shm/sluice-s3put-file.XXXXXX)
PORT=${PORT:-18932}
cleanup() {
    kill $(cat "$W/pids" 2>/dev/null) 2>/dev/null || true
    "$TOP/tests/s3/ceph.sh" down "$W/ceph" > /dev/null 2>&1 || true
    rm -rf "$W" "$F"
}
trap cleanup EXIT INT TERM
CEPH_OSD_GB=${CEPH_OSD_GB:-12} CEPH_PORT=${CEPH_PORT:-17492} CEPH_MON_PORT=${CEPH_MON_PORT:-13312} \
    "$TOP/tests/s3/ceph.sh" up "$W/ceph" > "$W/env"
. "$W/env"
mkdir -p "$F/spool"
start_node() { # start_node PORT LOG: a sluice on the bucket's bench/ prefix; its pid
    "$BIN" --listen "127.0.0.1:$1" --store "s3://$S3_BUCKET/bench" --s3-endpoint "$S3_ENDPOINT" \
        --spool "$F/spool" ${SLUICE_ARGS:-} > /dev/null 2> "$2" &
    echo $! >> "$W/pids"
    i=0; while ! grep -qs "listening on" "$2" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    echo $!
}
PID=$(start_node "$PORT" "$W/log")
head -c "$((SIZE << 20))" /dev/urandom > "$F/file"
FMT='%{speed_upload}\n'
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
direct() {
    curl -sf -o /dev/null -w "$FMT" -T "$F/file" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        "$S3_ENDPOINT/$S3_BUCKET/direct/f.bin"
}
through() {
    curl -sf -o /dev/null -w "$FMT" -T "$F/file" "http://127.0.0.1:$PORT/files/f.bin"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
n=0
: > "$W/d"; : > "$W/s"
while [ $n -lt "$REPS" ]; do
    d=$(direct)
    c0=$(cpu)
    s=$(through)
    c1=$(cpu)
    echo "$d" >> "$W/d"
    echo "$s" >> "$W/s"
    echo "run $((n + 1)): direct $(echo "$d" | awk '{ printf "%.0f", $1 / 1e6 }') MB/s," \
        "sluice $(echo "$s" | awk '{ printf "%.0f", $1 / 1e6 }') MB/s," \
        "sluice CPU $(echo "$c0 $c1" | awk -v s="$SIZE" '{ printf "%.2f", ($2 - $1) / 100 / (s / 1024) }') s/GiB"
    n=$((n + 1))
done
md=$(median < "$W/d"); ms=$(median < "$W/s")
echo "median: direct $(echo "$md" | awk '{ printf "%.0f", $1 / 1e6 }') MB/s, sluice" \
    "$(echo "$ms" | awk '{ printf "%.0f", $1 / 1e6 }') MB/s, ratio $(echo "$ms $md" | awk '{ printf "%.2f", $1 / $2 }')x" \
    "(load average $(cut -d' ' -f1 /proc/loadavg), $(nproc) cores)"
echo "sluice peak RSS: $(awk '/VmHWM/ { print $2, $3 }' "/proc/$PID/status")"
[ "${NODES:-1}" = 2 ] || exit 0

# --- 8 concurrent 256 MiB uploads: one node, then two behind HAProxy --------------------------
head -c "$((256 << 20))" /dev/urandom > "$F/q"
PID2=$(start_node "$((PORT + 1))" "$W/log2")
HP=$((PORT + 2))
printf 'defaults\n  mode http\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\nfrontend f\n  bind 127.0.0.1:%s\n  default_backend b\nbackend b\n  balance roundrobin\n  server a 127.0.0.1:%s\n  server b 127.0.0.1:%s\n' \
    "$HP" "$PORT" "$((PORT + 1))" > "$W/haproxy.cfg"
haproxy -f "$W/haproxy.cfg" -db > /dev/null 2>&1 &
echo $! >> "$W/pids"
i=0; while ! curl -sf "http://127.0.0.1:$HP/healthz" > /dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
eight() { # eight PORT: wall seconds of 8 concurrent uploads
    t0=$(date +%s.%N)
    for k in 1 2 3 4 5 6 7 8; do curl -sf -o /dev/null -T "$F/q" "http://127.0.0.1:$1/files/c$k.bin" & done
    wait
    echo "$(date +%s.%N) - $t0" | bc -l
}
for what in "one node:$PORT" "two nodes:$HP"; do
    t=$(eight "${what##*:}")
    echo "8 x 256 MiB, ${what%%:*}: $(echo "$t" | awk '{ printf "%.1f s, %.0f MiB/s aggregate", $1, 2048 / $1 }')"
done
: "$PID2"
