#!/bin/sh
# bench/auth.sh: what access control costs small uploads. 4 KiB PUTs with sluice-bench against
# two servers of the same build, same run: one open, one with --token-file (every request sends
# its bearer token, the last of 101 in the file). Alternates ROUNDS times and prints each round's
# uploads/s and the server's CPU time per upload (--server-pid: the whole run's, divided), the
# steadier figure on a shared machine; noise shows as spread rather than as a difference.
#
#   bench/auth.sh [ROUNDS=3] [UPLOADS=20000] [CONCURRENCY=32]     (after a build)
set -eu
ROUNDS=${1:-3}
N=${2:-20000}
C=${3:-32}
BIN=${SLUICE_BIN:-build/sluice}
SB=${SLUICE_BENCH:-build/sluice-bench}
W=$(mktemp -d /tmp/sluice-auth-bench.XXXXXX)
trap 'kill $(cat "$W"/pids 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT INT TERM
TOKEN=$(openssl rand -hex 24)
{ i=0; while [ $i -lt 100 ]; do echo "$(openssl rand -hex 24) read"; i=$((i+1)); done
  echo "$TOKEN write"; } > "$W/tokens" # the token matched is the last of 101

start() { # start PORT [flags…]
    port=$1; shift
    mkdir -p "$W/root$port"
    "$BIN" --listen "127.0.0.1:$port" --root "$W/root$port" --durability none --digest none \
        "$@" > /dev/null 2> "$W/log$port" &
    echo $! >> "$W/pids"
    i=0; while ! grep -qs "listening on" "$W/log$port" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}

rate() { # rate PID URL [bench flags…]: "uploads/s, server CPU µs per upload (ok)"
    pid=$1 url=$2; shift 2
    "$SB" -c "$C" -n "$N" -s 4K --no-verify --json --server-pid "$pid" "$@" "$url" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%6.0f/s %5.1f us CPU (%d ok)" % (d["uploads_per_s"], 1e6 * d["server"]["cpu_s"] / d["ok"],
                                       d["ok"]))'
}

start 18611
P=$(tail -n 1 "$W/pids")
start 18612 --token-file "$W/tokens"
T=$(tail -n 1 "$W/pids")
r=1
while [ "$r" -le "$ROUNDS" ]; do
    open=$(rate "$P" http://127.0.0.1:18611/files/)
    auth=$(rate "$T" http://127.0.0.1:18612/files/ --header "Authorization: Bearer $TOKEN")
    echo "round $r: open $open uploads/s, with a token $auth uploads/s"
    r=$((r + 1))
done
