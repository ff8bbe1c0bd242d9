#!/usr/bin/env bash
# tests/s3/ceph.sh — a throwaway one-node Ceph cluster (monitor, one BlueStore OSD on a sparse
# file, radosgw) on 127.0.0.1, for the tests of sluice's S3 store.
#
#   tests/s3/ceph.sh up DIR     start it in DIR (created, must be empty); prints `export` lines
#   tests/s3/ceph.sh down DIR   stop the daemons it started (by PID) and remove DIR
#   tests/s3/ceph.sh restart-rgw DIR   stop radosgw (SIGTERM) and start it again (a store that goes
#                                      away and comes back mid-upload)
#
# Packages (Debian 12, quickstart.sh installs them): ceph-mon ceph-osd radosgw ceph-common.
# Environment: CEPH_PORT (S3 port, default 7480), CEPH_MON_PORT (3300), CEPH_BUCKET (sluice),
# CEPH_OSD_GB (the OSD's sparse file, 8: a full OSD stops answering, so size it for benchmarks).
# The OSD takes ports in 6800-7300 on 127.0.0.1. Everything lives in DIR; daemons run in their
# own session, their PIDs in DIR/pids, so `down` stops exactly what `up` started.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

[ $# -eq 2 ] || { sed -n '2,8p' "$0"; exit 2; }
CMD=$1 D=$2
case $D in /*) ;; *) D=$PWD/$D ;; esac
D=${D%/}
[ -n "$D" ] && [ "$D" != / ] || { echo "ceph.sh: bad DIR" >&2; exit 2; }
PORT=${CEPH_PORT:-7480} MON_PORT=${CEPH_MON_PORT:-3300} BUCKET=${CEPH_BUCKET:-sluice} OSD_GB=${CEPH_OSD_GB:-8}
CONF=$D/ceph.conf
die() { echo "ceph.sh: $*" >&2; exit 1; }

# A PID is ours only if its command line names this cluster's ceph.conf (no recycled PID).
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$CONF"; }
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
start() { local n=$1; shift; setsid "$@" >>"$D/log/$n.out" 2>&1 </dev/null & echo $! >"$D/pids/$n"; }
# until_ok NAME command...: every 0.1 s for at most 120 s; fails at once if NAME died
until_ok() {
  local n=$1 i; shift
  for i in $(seq 1200); do
    "$@" >/dev/null 2>&1 && return 0
    ours "$(cat "$D/pids/$n")" || { tail -n 20 "$D/log/$n.out" >&2; die "$n died"; }
    sleep 0.1
  done
  die "timed out waiting for $n"
}
s3_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/")" = 200 ]; }

down() {
  [ -d "$D" ] || return 0
  [ -e "$D/.sluice-ceph" ] || die "$D was not made by ceph.sh; not touching it"
  local n p i
  for n in rgw osd mon; do # clients first: an OSD stopped after its monitor waits 5 s for it
    p=$(cat "$D/pids/$n" 2>/dev/null) || continue
    ours "$p" || continue
    kill -TERM "$p" 2>/dev/null || continue
    for i in $(seq 150); do gone "$p" && break; sleep 0.1; done
    gone "$p" || kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf -- "$D"
}

up() {
  [ ! -e "$D" ] || [ -z "$(ls -A "$D")" ] || die "$D is not empty"
  mkdir -p "$D"/{mon,osd/ceph-0,run,log,pids,crash}
  : >"$D/.sluice-ceph"
  trap 'rc=$?; [ $rc -eq 0 ] || { for n in rgw osd mon; do p=$(cat "$D/pids/$n" 2>/dev/null) && ours "$p" && kill -KILL "$p"; done; echo "ceph.sh: failed, logs in $D/log" >&2; }' EXIT
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.1/32
ms bind msgr1 = false
ms bind ipv6 = false
keyring = $D/admin.keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
crash dir = $D/crash
# one OSD: one replica, few placement groups (RGW makes 7 pools)
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# test machines' disks are often fuller than the monitor's defaults allow
mon data avail warn = 2
mon data avail crit = 1
[mon]
mon data = $D/mon/\$cluster-\$id
# commit map changes every 50 ms, not every second: RGW's first start makes ~15 of them
paxos propose interval = 0.05
[osd]
osd data = $D/osd/\$cluster-\$id
keyring = $D/osd/\$cluster-\$id/keyring
osd objectstore = bluestore
bluestore block create = true
bluestore block size = $((OSD_GB << 30))
bluestore fsck on mkfs = false
osd memory target = 1073741824
osd op num shards = 2
[client.rgw.t]
keyring = $D/rgw.keyring
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw thread pool size = 64
rgw gc obj min wait = 30
rgw gc processor period = 30
# no lifecycle thread: on SIGTERM radosgw would wait for its 5 s sleep
rgw enable lc threads = false
EOF
  ceph-authtool --create-keyring "$D/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$D/admin.keyring" --gen-key -n client.admin --cap mon 'allow *' \
    --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$D/mon.keyring" --import-keyring "$D/admin.keyring" >/dev/null
  monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$D/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/mon.keyring" >"$D/log/mkfs.out" 2>&1
  start mon ceph-mon -c "$CONF" -i a -f
  until_ok mon timeout 20 ceph -c "$CONF" --connect-timeout 15 mon stat

  local uuid secret
  uuid=$(cat /proc/sys/kernel/random/uuid)
  secret=$(ceph-authtool --gen-print-key)
  printf '{"cephx_secret": "%s"}\n' "$secret" >"$D/osd-secret.json"
  [ "$(timeout 60 ceph -c "$CONF" osd new "$uuid" -i "$D/osd-secret.json")" = 0 ] || die "osd new"
  ceph-authtool --create-keyring "$D/osd/ceph-0/keyring" --name osd.0 --add-key "$secret" >/dev/null
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >>"$D/log/mkfs.out" 2>&1
  start osd ceph-osd -c "$CONF" -i 0 -f
  until_ok osd sh -c "timeout 20 ceph -c '$CONF' osd dump | grep -q '^osd.0 up'"

  timeout 60 ceph -c "$CONF" auth get-or-create client.rgw.t mon 'allow rw' osd 'allow rwx' \
    -o "$D/rgw.keyring"
  start rgw radosgw -c "$CONF" -n client.rgw.t -f
  until_ok rgw s3_ok

  local ak sk
  ak=$(tr -dc 'A-Z0-9' </dev/urandom | head -c 20 || true)
  sk=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true)
  radosgw-admin -c "$CONF" -n client.admin user create --uid=sluice --display-name=sluice \
    --access-key="$ak" --secret-key="$sk" >/dev/null 2>"$D/log/user.out"
  # Debian 12's curl 7.88 signs no payload hash; RGW wants the header then
  local code
  code=$(curl -s -o "$D/log/bucket.out" -w '%{http_code}' --max-time 30 -X PUT \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --aws-sigv4 aws:amz:us-east-1:s3 \
    --user "$ak:$sk" "http://127.0.0.1:$PORT/$BUCKET")
  [ "$code" = 200 ] || die "bucket create: HTTP $code"
  cat >"$D/env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$PORT
export S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$ak
export AWS_SECRET_ACCESS_KEY=$sk
export AWS_REGION=us-east-1
export CEPH_CONF=$CONF
EOF
  trap - EXIT
  cat "$D/env"
}

restart_rgw() {
  [ -e "$D/.sluice-ceph" ] || die "no cluster in $D"
  local p i
  p=$(cat "$D/pids/rgw")
  if ours "$p"; then
    kill -TERM "$p"
    for i in $(seq 150); do gone "$p" && break; sleep 0.1; done
    gone "$p" || kill -KILL "$p"
  fi
  start rgw radosgw -c "$CONF" -n client.rgw.t -f
  until_ok rgw s3_ok
}

case $CMD in
  up) up ;;
  down) down ;;
  restart-rgw) restart_rgw ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
