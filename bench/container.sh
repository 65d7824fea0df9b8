#!/usr/bin/env bash
# The container image as a user meets it (run with buildah, see
# tests/e2e/container.py): first start on empty volumes to healthy,
# re-creation on the same volumes to healthy, and a certificate replaced at
# its source path until its serial is served on every TLS port. Prints the
# median of N runs (default 3). Builds the image first (scripts/image).
#   bench/container.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
scripts/image >/dev/null
PYTHONPATH=tests/e2e VMAIL_SOURCE_DIR=$PWD python3 - "$runs" <<'PY'
import os, shutil, statistics, sys, tempfile, time
from container import Container
import test_certificates as tc

runs = int(sys.argv[1])
first, again, renew = [], [], []
for i in range(runs):
    volumes = tempfile.mkdtemp(prefix="vmail-bench-")
    os.chmod(volumes, 0o755)
    work = tempfile.mkdtemp(prefix="vmail-bench-certs-")
    sources = os.path.join(volumes, "data", "state", "certificates", tc.DOMAIN)
    os.makedirs(sources)
    key, cert = tc.make_pair(os.path.join(work, "a"), tc.SERIAL_A)
    tc.install(sources, key=key, cert=cert)
    c = Container(volumes, extra_env={"VMAIL_CERT_CHECK_INTERVAL": "2"})
    try:
        t = time.monotonic(); c.start(); first.append(time.monotonic() - t)
        c.stop(); c.remove()
        c2 = Container(volumes, ports=c.ports, extra_env={"VMAIL_CERT_CHECK_INTERVAL": "2"})
        try:
            t = time.monotonic(); c2.start(); again.append(time.monotonic() - t)
            key, cert = tc.make_pair(os.path.join(work, "b"), tc.SERIAL_B)
            t = time.monotonic(); tc.install(sources, key=key, cert=cert)
            tc.wait_serial(c2.ports, tc.SERIAL_B, 60); renew.append(time.monotonic() - t)
        finally:
            c2.cleanup()
    finally:
        c.cleanup()
        shutil.rmtree(volumes, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
med = lambda xs: statistics.median(xs)
print(f"runs: {runs}")
print(f"first start to healthy        {med(first):6.2f} s  (all: {', '.join(f'{x:.2f}' for x in first)})")
print(f"re-creation to healthy        {med(again):6.2f} s  (all: {', '.join(f'{x:.2f}' for x in again)})")
print(f"certificate replaced → served {med(renew):6.2f} s  (check interval 2 s; all: {', '.join(f'{x:.2f}' for x in renew)})")
PY
