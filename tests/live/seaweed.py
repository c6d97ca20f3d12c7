"""SeaweedFS (`weed server -s3`), built from its Go module by tests/setup.sh: the S3 store of the
team tier's tests. Started and stopped by its PID, on the Docker bridge's gateway address (a
host address every container reaches, not the machine's network), with every port chosen free
and a data directory of its own that is removed afterwards.

tests/setup.sh builds it in the background on a fresh machine (minutes): `weed_binary` waits
for that build while its PID lives.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.requirements import unavailable

BUILD_WAIT_SECONDS = 20 * 60
START_SECONDS = 60


def weed_binary() -> str:
    """The `weed` binary, once tests/setup.sh's build of it is complete."""
    path = os.environ.get("KINDREG_TEST_WEED")
    if not path:
        unavailable("KINDREG_TEST_WEED is not set: `bash tests/run` builds SeaweedFS")
    complete = Path(path).parent.parent / ".complete"
    pid = int(os.environ.get("KINDREG_TEST_WEED_BUILD_PID") or 0)
    deadline = time.time() + BUILD_WAIT_SECONDS
    while not complete.exists() and pid and _alive(pid) and time.time() < deadline:
        time.sleep(2)
    if not complete.exists():
        log = os.environ.get("KINDREG_TEST_WEED_LOG", "")
        unavailable(f"SeaweedFS was not built ({path}); see {log or 'the set-up output'}")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@dataclass
class SeaweedS3:
    """One `weed server -s3` with one identity (its keys) and the buckets the tests create."""

    binary: str
    address: str  # where it listens: the Docker bridge's gateway
    workdir: Path
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20), repr=False)
    ports: dict = field(default_factory=dict)
    process: Optional[subprocess.Popen] = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.ports['s3']}"

    def start(self) -> None:
        if not self.ports:
            self.ports = {name: _free_port(self.address) for name in
                          ("master", "volume", "filer", "s3", "master.grpc", "volume.grpc", "filer.grpc", "s3.grpc")}
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "kindreg-test", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        config.chmod(0o600)
        argv = [self.binary, "server", f"-dir={data}", f"-ip={self.address}", f"-ip.bind={self.address}",
                "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-volume.max=0", "-master.volumeSizeLimitMB=64",
                *(f"-{name.replace('.grpc', '.port.grpc') if '.grpc' in name else name + '.port'}={port}"
                  for name, port in self.ports.items())]
        log = open(self.workdir / "weed.log", "ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                        start_new_session=True)
        self._wait_s3()

    def _wait_s3(self) -> None:
        deadline = time.time() + START_SECONDS
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited ({self.process.returncode}); see {self.workdir / 'weed.log'}")
            if self._bucket_list_answers():
                return
            time.sleep(0.5)
        raise RuntimeError(f"weed's S3 did not answer within {START_SECONDS}s; see {self.workdir / 'weed.log'}")

    def _bucket_list_answers(self) -> bool:
        out = subprocess.run(self._curl("GET", "/"), capture_output=True, text=True)
        return out.returncode == 0 and "ListAllMyBucketsResult" in out.stdout

    def _curl(self, method: str, path: str) -> list[str]:
        # The keys reach curl through a file, never the command line.
        netrc = self.workdir / "curl.cfg"
        netrc.write_text(f'user = "{self.access_key}:{self.secret_key}"\n')
        netrc.chmod(0o600)
        return ["curl", "-sS", "-K", str(netrc), "--aws-sigv4", "aws:amz:us-east-1:s3", "-X", method,
                f"{self.endpoint}{path}"]

    def create_bucket(self, name: str) -> None:
        out = subprocess.run(self._curl("PUT", f"/{name}"), capture_output=True, text=True)
        if out.returncode != 0 or "<Error>" in out.stdout:
            raise RuntimeError(f"could not create bucket {name}: {out.stdout or out.stderr}")

    def objects(self, bucket: str) -> list[str]:
        """The bucket's keys (the first 1000: a test's bucket holds fewer)."""
        out = subprocess.run(self._curl("GET", f"/{bucket}?list-type=2"),
                             capture_output=True, text=True, check=True).stdout
        return [part.split("</Key>", 1)[0] for part in out.split("<Key>")[1:]]

    def put(self, bucket: str, key: str, data: bytes) -> None:
        body = self.workdir / "put.body"
        body.write_bytes(data)
        argv = [a for a in self._curl("PUT", f"/{bucket}/{key}") if a not in ("-X", "PUT")] + ["-T", str(body)]
        out = subprocess.run(argv, capture_output=True, text=True)
        if out.returncode != 0 or "<Error>" in out.stdout:
            raise RuntimeError(f"could not put {key}: {out.stdout or out.stderr}")

    def delete(self, bucket: str, key: str) -> None:
        subprocess.run(self._curl("DELETE", f"/{bucket}/{key}"), capture_output=True, check=True)

    def backend_url(self, bucket: str) -> str:
        """Pulumi's s3 state backend on this store (gocloud.dev's s3blob URL; keys from the environment)."""
        return f"s3://{bucket}?endpoint={self.endpoint}&use_path_style=true&region=us-east-1"

    def stop(self) -> None:
        """Stop the server this object started, by its PID (its own session: its children too)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)  # it flushes its logs for up to half a minute: not needed here
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir / "data", ignore_errors=True)


def bridge_gateway(client) -> str:
    """The Docker bridge's gateway: an address of this host every container reaches."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"]
    return next(c["Gateway"] for c in config if "Gateway" in c and ":" not in c["Gateway"])
