#!/bin/sh
# bench/tls.sh: what TLS costs one large upload. `curl -T` of one file (1 GiB by default) to
# sluice over plain HTTP, to sluice over HTTPS (--tls-cert/--tls-key, the same certificate), and
# to nginx over HTTPS (WebDAV PUT, ssl_certificate on that certificate), same run, same disk,
# --durability none for sluice (nginx does not fsync either). Prints one line per run: MB/s,
# the server's CPU seconds (from /proc), curl's CPU seconds. The best of REPS runs is what counts.
#
#   bench/tls.sh [SIZE_MIB=1024] [REPS=3]        (from the top of the tree, after a build)
#   SLUICE_FLAGS: more flags for both sluice servers (e.g. "--digest none": nginx hashes nothing);
#   SLUICE_TLS_FLAGS: for the TLS one only.
set -eu
SIZE=${1:-1024}
REPS=${2:-3}
BIN=${SLUICE_BIN:-build/sluice}
W=$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)
trap 'kill $(cat "$W"/pids 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT INT TERM
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$W/k.pem" \
    -out "$W/c.pem" -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
head -c "$((SIZE << 20))" /dev/urandom > "$W/file"

cpu() { # CPU seconds of a process and its children (nginx's worker): utime + stime
    for p in "$1" $(pgrep -P "$1"); do cat "/proc/$p/stat"; done |
        awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); s += $12 + $13 } END { print s / t }'
}

start_sluice() { # start_sluice PORT [flags…]: its pid
    port=$1; shift
    mkdir -p "$W/root$port"
    "$BIN" --listen "127.0.0.1:$port" --root "$W/root$port" --durability none ${SLUICE_FLAGS:-} "$@" \
        > /dev/null 2> "$W/log$port" &
    echo $! >> "$W/pids"
    i=0; while ! grep -qs "listening on" "$W/log$port" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    echo $!
}

start_nginx() { # a TLS WebDAV nginx on PORT: its pid
    port=$1
    mkdir -p "$W/ngx/tmp" "$W/ngx/store"
    cat > "$W/ngx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $W/ngx/nginx.pid;
error_log $W/ngx/error.log warn;
events { worker_connections 1024; use epoll; }
http {
  access_log off;
  client_body_temp_path $W/ngx/tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $W/c.pem;
    ssl_certificate_key $W/k.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $W/ngx/store;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
CONF
    nginx -c "$W/ngx/nginx.conf" > /dev/null 2>&1 &
    echo $! >> "$W/pids"
    sleep 0.5
    echo $!
}

run() { # run NAME PID URL [curl flags…]
    name=$1 pid=$2 url=$3; shift 3
    r=1; while [ $r -le "$REPS" ]; do
        c0=$(cpu "$pid")
        out=$(/usr/bin/time -f "%U %S" curl -s -S -o /dev/null -w "%{http_code} %{time_total} " \
            "$@" -T "$W/file" "$url/f$r" 2>&1)
        c1=$(cpu "$pid")
        echo "$out" | tr '\n' ' ' | awk -v n="$name" -v s="$SIZE" -v c0="$c0" -v c1="$c1" '{
            printf "%-12s status %s  %7.0f MB/s  server CPU %5.2f s  curl CPU %5.2f s\n",
                   n, $1, s * 1.048576 / $2, c1 - c0, $3 + $4 }'
        rm -rf "$W"/root*/f* "$W"/ngx/store/f* 2>/dev/null || true
        r=$((r + 1))
    done
}

P=$(start_sluice 18601)
T=$(start_sluice 18602 --tls-cert "$W/c.pem" --tls-key "$W/k.pem" ${SLUICE_TLS_FLAGS:-})
echo "sluice $("$BIN" --version | cut -d' ' -f2), $SIZE MiB, $REPS runs each, $(nproc) cores"
run sluice-http "$P" http://127.0.0.1:18601/files
run sluice-https "$T" https://localhost:18602/files --cacert "$W/c.pem"
if command -v nginx > /dev/null; then
    N=$(start_nginx 18603)
    run nginx-https "$N" https://localhost:18603 --cacert "$W/c.pem"
fi
