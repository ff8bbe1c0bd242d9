#!/bin/sh
# bench/s3get.sh: a GET from the S3 store. Brings up a one-node Ceph cluster (tests/s3/ceph.sh),
# stores one file (1 GiB by default) through sluice, then, alternating, REPS times each:
#   direct   curl --aws-sigv4 GET of the object straight from radosgw
#   sluice   curl GET /files/<name> through sluice (--store s3://…)
# and prints time to first byte, total time and MB/s of each (curl's -w), then a 1-byte Range
# through sluice with what it read from the store (sluice_store_read_bytes_total), and sluice's
# peak RSS. Everything is torn down at the end.
#
#   bench/s3get.sh [SIZE_MIB=1024] [REPS=3]      (from the top of the tree, after a build)
set -eu
SIZE=${1:-1024}
REPS=${2:-3}
BIN=${SLUICE_BIN:-build/sluice}
TOP=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/sluice-s3get-bench.XXXXXX)
PORT=${PORT:-18931}
cleanup() {
    kill $(cat "$W/pids" 2>/dev/null) 2>/dev/null || true
    "$TOP/tests/s3/ceph.sh" down "$W/ceph" > /dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
CEPH_OSD_GB=${CEPH_OSD_GB:-12} CEPH_PORT=${CEPH_PORT:-17491} CEPH_MON_PORT=${CEPH_MON_PORT:-13311} \
    "$TOP/tests/s3/ceph.sh" up "$W/ceph" > "$W/env"
. "$W/env"
mkdir -p "$W/spool"
"$BIN" --listen "127.0.0.1:$PORT" --store "s3://$S3_BUCKET/bench" --s3-endpoint "$S3_ENDPOINT" \
    --spool "$W/spool" > /dev/null 2> "$W/log" &
PID=$!
echo $PID >> "$W/pids"
i=0; while ! grep -qs "listening on" "$W/log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
head -c "$((SIZE << 20))" /dev/urandom > "$W/file"
curl -sf -T "$W/file" "http://127.0.0.1:$PORT/files/f.bin" > /dev/null
rm -f "$W/file" # the page cache is for the servers
FMT='%{time_starttransfer} %{time_total} %{size_download}\n'
line() { # line WHAT "ttfb total bytes"
    echo "$2" | awk -v w="$1" '{ printf "%-7s ttfb %7.1f ms  total %6.2f s  %6.0f MB/s  (%d bytes)\n",
        w, $1 * 1000, $2, $3 / $2 / 1e6, $3 }'
}
direct() {
    curl -sf -o /dev/null -w "$FMT" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        "$S3_ENDPOINT/$S3_BUCKET/bench/f.bin"
}
through() {
    curl -sf -o /dev/null -w "$FMT" "http://127.0.0.1:$PORT/files/f.bin"
}
read_bytes() {
    curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^sluice_store_read_bytes_total/ { print $2 }'
}
n=0
while [ $n -lt "$REPS" ]; do
    line direct "$(direct)"
    line sluice "$(through)"
    n=$((n + 1))
done
before=$(read_bytes)
t=$(curl -sf -o /dev/null -r 0-0 -w '%{time_total}' "http://127.0.0.1:$PORT/files/f.bin")
echo "Range: bytes=0-0 through sluice: $(echo "$t" | awk '{ printf "%.1f ms", $1 * 1000 }'), \
$(($(read_bytes) - before)) byte(s) read from the store"
echo "sluice peak RSS: $(awk '/VmHWM/ { print $2, $3 }' "/proc/$PID/status")"
