"""The one-node Ceph cluster the S3 tests run against (tests/s3/ceph.sh), and a signed client
straight to its bucket. A test module imports setUpModule and tearDownModule from here: the
cluster is up for that module only.
"""
import os
import re
import socket
import subprocess
import tempfile
import urllib.parse

from harness import TOP

CEPH_SH = os.path.join(TOP, "tests", "s3", "ceph.sh")
LAB = {}
MIB = 1 << 20


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if not 6800 <= port <= 7300:  # the OSD's range
            return port


def setUpModule():
    d = tempfile.mkdtemp(prefix="sluice-ceph-")
    os.rmdir(d)
    env = dict(os.environ, CEPH_PORT=str(free_port()), CEPH_MON_PORT=str(free_port()))
    p = subprocess.run([CEPH_SH, "up", d], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300)
    LAB["dir"] = d
    LAB["env"] = env
    if p.returncode != 0:
        raise AssertionError("ceph.sh up failed: " + p.stderr.decode(errors="replace"))
    for m in re.finditer(r"export (\w+)=(\S+)", p.stdout.decode()):
        LAB[m.group(1)] = m.group(2)


def restart_rgw():
    """Stop radosgw and start it again (ceph.sh restart-rgw): the store goes away and comes back."""
    p = subprocess.run([CEPH_SH, "restart-rgw", LAB["dir"]], env=LAB["env"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def tearDownModule():
    if "dir" in LAB:
        subprocess.run([CEPH_SH, "down", LAB["dir"]], timeout=120)


def s3(method, path, *args):
    """A signed request straight to the bucket: (status, body)."""
    cmd = ["curl", "-s", "--max-time", "60", "-X", method, "-o", "-", "-w", "\n%{http_code}",
           "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--aws-sigv4", "aws:amz:us-east-1:s3",
           "--user", LAB["AWS_ACCESS_KEY_ID"] + ":" + LAB["AWS_SECRET_ACCESS_KEY"],
           LAB["S3_ENDPOINT"] + "/" + LAB["S3_BUCKET"] + path] + list(args)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=90).stdout
    body, _, code = out.rpartition(b"\n")
    return int(code), body


def keys(prefix):
    st, body = s3("GET", "?list-type=2&prefix=" + urllib.parse.quote(prefix, safe=""))
    assert st == 200, body
    return sorted(re.findall(r"<Key>([^<]*)</Key>", body.decode()))


def multipart_uploads(prefix):
    st, body = s3("GET", "?prefix=" + urllib.parse.quote(prefix, safe="") + "&uploads=")
    assert st == 200, body
    return re.findall(r"<UploadId>([^<]*)</UploadId>", body.decode())


