#!/bin/sh
# bench/auth.sh: what access control costs small uploads. 4 KiB PUTs with sluice-bench against
# two servers of the same build, same run: one open, one with --token-file (every request sends
# its bearer token, the last of 101 in the file); then against one with --sign-key, each PUT to a
# URL signed for its name; then 4 KiB tus uploads against the open one and the --sign-key one,
# through a signed creation URL. Both servers of a pair get the same requests (the open one
# ignores the token and the signatures), so what differs is the check. Alternates ROUNDS times
# and prints each round's uploads/s and the server's CPU time per upload (--server-pid: the whole
# run's, divided), the steadier figure on a shared machine; noise shows as spread rather than as
# a difference. Each round starts on empty roots; a median line ends each comparison.
#
#   bench/auth.sh [ROUNDS=3] [UPLOADS=20000] [CONCURRENCY=32]     (after a build)
#
# On a shared machine the rounds of one server differ by more than the check costs, so a second
# form counts instead of timing: each server runs under valgrind's callgrind (instructions
# executed in user space, the same for the same requests whatever else the machine does) for the
# same UPLOADS 4 KiB PUTs, and prints instructions per upload, open against token and signed.
# valgrind hides SHA-NI from OpenSSL, so the SHA-256 blocks count as the portable code's.
#
#   bench/auth.sh count [UPLOADS=3000]
set -eu
if [ "${1:-}" = count ]; then
    command -v valgrind > /dev/null || { echo "bench/auth.sh count: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
    COUNT=${2:-3000}
    set -- 1 "$COUNT" 8
fi
ROUNDS=${1:-3}
N=${2:-20000}
C=${3:-32}
BIN=${SLUICE_BIN:-build/sluice}
SB=${SLUICE_BENCH:-build/sluice-bench}
W=$(mktemp -d "${TMPDIR:-/dev/shm}/sluice-auth-bench.XXXXXX") # tmpfs: the disk is not measured
trap 'kill $(cat "$W"/pids 2>/dev/null) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT INT TERM
TOKEN=$(openssl rand -hex 24)
{ i=0; while [ $i -lt 100 ]; do echo "$(openssl rand -hex 24) read"; i=$((i+1)); done
  echo "$TOKEN write"; } > "$W/tokens" # the token matched is the last of 101
openssl rand -hex 32 > "$W/signkey"

start() { # start PORT [flags…]
    port=$1; shift
    mkdir -p "$W/root$port"
    ${COUNT:+valgrind --tool=callgrind --callgrind-out-file="$W/cg$port"} "$BIN" --listen "127.0.0.1:$port" --root "$W/root$port" --durability none --digest none \
        "$@" > /dev/null 2> "$W/log$port" &
    echo $! >> "$W/pids"
    i=0; while ! grep -qs "listening on" "$W/log$port" && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
}

rate() { # rate PID URL [bench flags…]: "uploads/s, server CPU µs per upload (ok)"
    pid=$1 url=$2; shift 2
    "$SB" -c "$C" -n "$N" -s 4K --no-verify --json --name-prefix ab --server-pid "$pid" "$@" "$url" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%6.0f/s %5.1f us CPU (%d ok)" % (d["uploads_per_s"], 1e6 * d["server"]["cpu_s"] / d["ok"],
                                       d["ok"]))'
}

# compare LABEL OPEN_PID OPEN_URL AUTH_PID AUTH_URL [bench flags for both…]: ROUNDS rounds in
# alternating order (neither server always goes second), each on empty roots, then the medians
# of the rounds' ratios (with access control / open): uploads/s and server CPU per upload
compare() {
    label=$1 op=$2 ou=$3 ap=$4 au=$5; shift 5
    : > "$W/rounds"
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        if [ $((r % 2)) -eq 1 ]; then
            open=$(rate "$op" "$ou" "$@"); auth=$(rate "$ap" "$au" "$@")
        else
            auth=$(rate "$ap" "$au" "$@"); open=$(rate "$op" "$ou" "$@")
        fi
        echo "$label round $r: open $open uploads/s, $label $auth uploads/s" | tee -a "$W/rounds"
        find "$W"/root* -mindepth 1 -maxdepth 1 -name "ab-*" -exec rm -rf {} +
        find "$W"/root*/.sluice/tus -mindepth 1 -delete 2>/dev/null || true # finished uploads
        r=$((r + 1))
    done
    python3 - "$W/rounds" "$label" <<'PY'
import re, statistics, sys
rate, cpu = [], []
for line in open(sys.argv[1]):
    (ro, co), (rt, ct) = re.findall(r"(\d+)/s\s+([\d.]+) us CPU", line)
    rate.append(float(rt) / float(ro))
    cpu.append(float(ct) / float(co))
print("median %s / open: uploads/s %.3f (%.3f-%.3f), server CPU per upload %.3f (%.3f-%.3f)"
      % (sys.argv[2], statistics.median(rate), min(rate), max(rate), statistics.median(cpu),
         min(cpu), max(cpu)))
PY
}

if [ -n "${COUNT:-}" ]; then # count: the same PUTs to each server, then instructions per upload
    start 18611; P=$(tail -n 1 "$W/pids")
    start 18612 --token-file "$W/tokens"; T=$(tail -n 1 "$W/pids")
    start 18613 --sign-key "$W/signkey"; S=$(tail -n 1 "$W/pids")
    for ps in "18611 $P" "18612 $T" "18613 $S"; do # each gets the token and a signature
        set -- $ps
        rate "$2" "http://127.0.0.1:$1/files/" --header "Authorization: Bearer $TOKEN" \
            --sign-key "$W/signkey" > /dev/null
    done
    kill -INT "$P" "$T" "$S"
    for pid in "$P" "$T" "$S"; do # callgrind writes its counts as the server exits
        i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
    done
    : > "$W/pids"
    python3 - "$W" "$COUNT" <<'PY'
import re, sys
w, n = sys.argv[1], int(sys.argv[2])
def per_upload(port):
    text = open("%s/cg%d" % (w, port)).read()
    return int(re.search(r"^summary: (\d+)", text, re.M).group(1)) / n
o, t, s = per_upload(18611), per_upload(18612), per_upload(18613)
print("user-space instructions per 4 KiB PUT (%d uploads each): open %.0f, token %.0f (%+.1f%%),"
      " signed URL %.0f (%+.1f%%)" % (n, o, t, 100 * (t / o - 1), s, 100 * (s / o - 1)))
PY
    exit 0
fi

start 18611
P=$(tail -n 1 "$W/pids")
start 18612 --token-file "$W/tokens"
T=$(tail -n 1 "$W/pids")
start 18613 --sign-key "$W/signkey"
S=$(tail -n 1 "$W/pids")
# 4 KiB PUTs, each with the bearer token
compare "with a token" "$P" http://127.0.0.1:18611/files/ "$T" http://127.0.0.1:18612/files/ \
    --header "Authorization: Bearer $TOKEN"
# 4 KiB PUTs, each to its own signed URL (sluice-bench --sign-key signs each name)
compare "signed URLs" "$P" http://127.0.0.1:18611/files/ "$S" http://127.0.0.1:18613/files/ \
    --sign-key "$W/signkey"
# 4 KiB tus uploads (a creation, then a PATCH) through one signed creation URL: the server checks
# its signature, then signs each upload's Location, and checks that at the PATCH
SIGNED=$("$BIN" sign --key "$W/signkey" --method POST --path /uploads/ --expires 3600 \
    --max-size 1M --base http://127.0.0.1:18613)
compare "signed tus" "$P" http://127.0.0.1:18611/uploads/ "$S" "$SIGNED" --mode tus
