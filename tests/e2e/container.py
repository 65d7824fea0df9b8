"""The vmail container image, run here without a Docker engine: `buildah run
--isolation chroot` with the two volumes bind-mounted (shared/FIELD-NOTES:
`podman run` cannot start containers on these machines). Chroot isolation
shares the host's network and process table, so the container listens on free
high loopback ports and its launcher is stopped with SIGTERM the way
`docker stop` would, through the PID it records on the state volume.

    c = Container(volumes)       # volumes: a folder holding data/ and mail/
    c.start()                    # waits until `vmail health` in the container passes
    c.vmail("user", "add", ...)  # the image's own vmail, inside the container
    c.stop(); c.remove()         # SIGTERM, then throw the container away
"""

import json
import os
import signal
import subprocess
import time
import uuid

from harness import SOURCE_DIR, free_ports
from server import DOMAIN, SERVICES, port_variable

IMAGE = os.environ.get("VMAIL_IMAGE", "localhost/vmail")


def dockerfile_volumes():
    """The Dockerfile's VOLUME paths, in order: the folders a test binds."""
    with open(os.path.join(SOURCE_DIR, "Dockerfile")) as f:
        for line in f:
            if line.startswith("VOLUME "):
                return tuple(json.loads(line[len("VOLUME "):]))
    raise AssertionError("Dockerfile: no VOLUME line")


VOLUME_PATHS = dockerfile_volumes()
assert VOLUME_PATHS == ("/data", "/var/mail/vhosts"), VOLUME_PATHS  # Container binds data/ and mail/ in this order


def build_image():
    """Builds (or reuses from the layer cache) the image from this checkout."""
    p = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "image"), IMAGE], capture_output=True, text=True,
                       timeout=3000)
    if p.returncode != 0:
        raise AssertionError(f"scripts/image failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


class Container:
    def __init__(self, volumes, ports=None, extra_env=None, domain=DOMAIN):
        self.volumes = volumes
        self.data = os.path.join(volumes, "data")
        self.mail = os.path.join(volumes, "mail")
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.mail, exist_ok=True)
        self.ports = ports or dict(zip(SERVICES, free_ports(len(SERVICES))))
        # The spam layer stays off, as in server.py (test_spam covers it).
        self.env = {"MAIL_DOMAIN": domain, "VMAIL_LISTEN": "127.0.0.1", "VMAIL_MYNETWORKS": "127.0.0.1/32",
                    "VMAIL_SPAM": "off"}
        for service, port in self.ports.items():
            self.env[port_variable(service)] = str(port)
        if extra_env:
            self.env.update(extra_env)
        self.name = None
        self.proc = None
        self.log_path = os.path.join(volumes, "container-%s.log" % uuid.uuid4().hex[:8])

    def _run_args(self):
        args = ["buildah", "run", "--isolation", "chroot"]
        for host, path in zip((self.data, self.mail), VOLUME_PATHS):
            args += ["-v", f"{host}:{path}"]
        for k, v in self.env.items():
            args += ["-e", f"{k}={v}"]
        return args + [self.name, "--"]

    def create(self):
        self.name = "vmail-test-" + uuid.uuid4().hex[:12]
        subprocess.run(["buildah", "from", "--pull=never", "--name", self.name, IMAGE], check=True,
                       capture_output=True, timeout=300)
        # `buildah run` gives each VOLUME of the image an anonymous volume and
        # mounts it in an order of its own: now and then after our bind of the
        # same path, hiding it (measured: 2 containers in 6 saw an empty
        # /var/mail/vhosts). Docker replaces the anonymous volume by the -v
        # bind; so does this, by dropping the declarations from this working
        # container (the image keeps them).
        volumes = [f"{path}-" for path in VOLUME_PATHS]
        subprocess.run(["buildah", "config"] + [a for v in volumes for a in ("--volume", v)] + [self.name],
                       check=True, capture_output=True, timeout=120)
        return self

    def start(self, timeout=120):
        if self.name is None:
            self.create()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._run_args() + ["vmail-launch"], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.wait_healthy(timeout)
        self.check_volumes()
        return self

    def check_volumes(self):
        """The container sees the host's volume folders at the volume paths
        (same device and inode), not a folder of the image."""
        p = self.exec("stat", "-c", "%d %i", *VOLUME_PATHS, check=0)
        seen = p.stdout.split("\n")
        for host, path, line in zip((self.data, self.mail), VOLUME_PATHS, seen):
            st = os.stat(host)
            if line.split() != [str(st.st_dev), str(st.st_ino)]:
                raise AssertionError(f"{path} in the container is not the volume {host}\n{self.log()[-3000:]}")

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def exec(self, *cmd, input=None, check=None, timeout=120):
        """Runs CMD inside the running container, as `docker exec` does: in the
        launcher's mount namespace and root (nsenter), with the container's
        environment. (A second `buildah run` on the same container sets up and
        tears down its own mounts of the volumes, which the running launcher
        must never see change.)"""
        env = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
        env += [f"{k}={v}" for k, v in self.env.items()]
        args = ["nsenter", "-t", str(self.launcher_pid()), "-m", "-u", "-i", "-r", "-w", "--"] + env + list(cmd)
        p = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
        if check is not None and p.returncode != check:
            raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}, expected {check}\n{p.stdout}\n{p.stderr}")
        return p

    def vmail(self, *args, input=None, check=None):
        return self.exec("vmail", *args, input=input, check=check)

    def wait_healthy(self, timeout=120):
        start = time.monotonic()
        last = None
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"vmail-launch exited {self.proc.returncode}\n{self.log()[-5000:]}")
            try:
                last = self.vmail("health", "--timeout", "2")
            except (FileNotFoundError, ValueError):
                time.sleep(0.5)  # the launcher has not written its PID yet
                continue
            if last.returncode == 0:
                return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"not healthy after {timeout} s: {last.stdout}{last.stderr}\n{self.log()[-5000:]}")

    def launcher_pid(self):
        with open(os.path.join(self.data, "state", "vmail-launch.pid")) as f:
            return int(f.read().split()[0])

    def stop(self, timeout=60):
        """SIGTERM to the launcher (what `docker stop` sends PID 1); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.launcher_pid(), signal.SIGTERM)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def leftovers(self):
        """PIDs of processes still running inside this container's rootfs."""
        if self.name is None:
            return []
        p = subprocess.run(["buildah", "mount", self.name], capture_output=True, text=True)
        rootfs = p.stdout.strip()
        subprocess.run(["buildah", "umount", self.name], capture_output=True)
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if rootfs and os.readlink(f"/proc/{pid}/root") == rootfs:
                    out.append(int(pid))
            except OSError:
                pass
        return out

    def remove(self):
        """Throws the container away (the volumes stay)."""
        if self.name is None:
            return
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["buildah", "rm", self.name], capture_output=True, timeout=120)
        self.name = None

    def cleanup(self):
        try:
            self.stop()
        finally:
            self.remove()
