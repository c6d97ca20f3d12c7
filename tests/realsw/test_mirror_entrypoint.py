"""The mirror entrypoint under real busybox (as in a registry image), with a fake `registry`."""
from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kindreg.core import render
from kindreg.core.config import SharedStackConfig
from kindreg.core.plan import plan_shared
from tests.requirements import need_tools

pytestmark = pytest.mark.realsw
APPLETS = ("sh", "wget", "timeout", "sleep", "kill", "cat")
FAKE_REGISTRY = '#!/bin/sh\necho "$2" >> "$REGISTRY_LOG"\nexec sleep 1000\n'


class Upstream401(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # an anonymous /v2/ on a real registry: 401 means "reachable"
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int) -> http.server.HTTPServer:
    server = http.server.HTTPServer(("127.0.0.1", port), Upstream401)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_for(predicate, timeout: float = 8.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def mirror(tmp_path):
    need_tools("busybox")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in APPLETS:
        (bin_dir / applet).symlink_to(shutil.which("busybox"))
    (bin_dir / "registry").write_text(FAKE_REGISTRY)
    (bin_dir / "registry").chmod(0o755)
    port = free_port()
    reg = plan_shared(SharedStackConfig.model_validate(
        {"mirrors": [{"name": "io-docker", "url": f"http://127.0.0.1:{port}", "host": "docker.io"}]}), "s").mirrors[0]
    script = tmp_path / "mirror.sh"
    script.write_text(render.mirror_entrypoint(reg))
    env = {"PATH": str(bin_dir), "KINDREG_MODE_FILE": str(tmp_path / "mode"), "KINDREG_PROBE_INTERVAL": "1",
           "REGISTRY_LOG": str(tmp_path / "registry.log"),
           **dict(e.split("=", 1) for e in render.container_env(reg))}  # as the container has it
    procs = []

    def start() -> subprocess.Popen:
        p = subprocess.Popen([str(bin_dir / "sh"), str(script)], env=env, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        procs.append(p)
        return p

    yield start, port, tmp_path
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


def mode(tmp: Path) -> str:
    f = tmp / "mode"
    return f.read_text().strip() if f.exists() else ""


def configs(tmp: Path) -> list[str]:
    f = tmp / "registry.log"
    return f.read_text().split() if f.exists() else []


def test_reachable_upstream_means_pull_through(mirror):
    start, port, tmp = mirror
    server = serve(port)
    try:
        start()
        assert wait_for(lambda: configs(tmp) == [render.CONFIG_PATH])
        assert mode(tmp) == "pull-through"
    finally:
        server.shutdown()


def test_unreachable_upstream_serves_the_cache_then_switches_back(mirror):
    start, port, tmp = mirror
    proc = start()
    assert wait_for(lambda: configs(tmp) == [render.CACHE_ONLY_PATH])
    assert mode(tmp) == "cache-only"
    server = serve(port)  # the upstream comes back
    try:
        assert wait_for(lambda: configs(tmp) == [render.CACHE_ONLY_PATH, render.CONFIG_PATH])
        assert mode(tmp) == "pull-through"
    finally:
        server.shutdown()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert "switching to pull-through" in proc.stderr.read()


def test_sigterm_stops_the_registry_and_exits_cleanly(mirror):
    start, port, tmp = mirror
    server = serve(port)
    try:
        proc = start()
        assert wait_for(lambda: configs(tmp) == [render.CONFIG_PATH])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        leftover = subprocess.run(["pgrep", "-f", "sleep 1000", "-s", str(proc.pid)], capture_output=True)
        assert leftover.returncode == 1  # no registry left behind in the session
    finally:
        server.shutdown()
