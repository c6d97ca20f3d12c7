"""The real Pulumi engine: `pulumi preview / up / destroy` of the unmodified program.

The Pulumi CLI and its Python language host are built from Go modules by tests/setup.sh; the
state lives in a local file backend in a temporary directory; the docker and command
providers are the plugin doubles of tests/engine/plugin.py (found on PATH by the engine); kind
is the kind double of the live level. Stacks are driven through the Automation API, and every
step the engine plans or takes is recorded from its event stream.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import yaml

from kindreg.core.config import DEFAULT_FRONT_IMAGE, DEFAULT_REGISTRY_IMAGE
from kindreg.ops.reconcile import READY_SECONDS
from tests.doubles import ownership
from tests.helpers import ROOT
from tests.live import images
from tests.live.conftest import BIN as KIND_DOUBLE_BIN
from tests.requirements import need_tools, unavailable

PLUGIN_BIN = Path(__file__).parent / "bin"
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components", "kindreg")
PASSPHRASE = "kindreg-engine-tests"


@pytest.fixture(scope="session")
def pulumi_cli():
    need_tools("pulumi", "pulumi-language-python", "pulumi-language-python-exec")
    import pulumi
    out = subprocess.run(["pulumi", "version"], capture_output=True, text=True, check=False).stdout.strip()
    sdk = pulumi.__version__ if hasattr(pulumi, "__version__") else _sdk_version()
    if out.lstrip("v") != sdk:
        unavailable(f"the Pulumi CLI on PATH is {out}, the Python SDK {sdk}: rebuild with `bash tests/run`")
    return out


def _sdk_version() -> str:
    from importlib.metadata import version
    return version("pulumi")


@dataclass
class Step:
    op: str  # create, update, replace, delete, create-replacement, delete-replaced, ...
    type: str
    name: str


@dataclass
class Steps:
    """What the engine reported, from its events: one entry per step that changes something
    (not `same`, and not the `read` of a StackReference)."""

    steps: list[Step] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def of(self, op: str) -> set[str]:
        return {s.name for s in self.steps if s.op == op}

    def changed(self) -> dict[str, set[str]]:
        """op -> resource names; a replacement counts once, as `replace` (not its create/delete halves)."""
        out: dict[str, set[str]] = {}
        for s in self.steps:
            if s.op not in ("create-replacement", "delete-replaced"):
                out.setdefault(s.op, set()).add(s.name)
        return out


class EngineProject:
    """A copy of the program (unmodified) with its own backend, stack files and environment."""

    def __init__(self, workdir: Path, env: dict, source: Path = ROOT):
        """`source`: where the program comes from (an earlier version of it, for instance)."""
        self.dir = workdir / "project"
        self.dir.mkdir(parents=True)
        for name in PROGRAM_FILES:
            src = source / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, self.dir / name)
        self.state = workdir / "state"
        self.state.mkdir()
        self.env = {**env, "PULUMI_BACKEND_URL": f"file://{self.state}",
                    "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "PULUMI_HOME": str(workdir / "pulumi-home"),
                    "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
        self.logs: list[str] = []

    # -------------------------------------------------------------- stacks
    def write(self, stack: str, config: dict) -> None:
        """Pulumi.<stack>.yaml with `config`; what the engine keeps there (the secrets provider's
        salt, secret values set through `secret`, `docker:` settings) stays."""
        path = self.dir / f"Pulumi.{stack}.yaml"
        doc = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        kept = {k: v for k, v in (doc.get("config") or {}).items() if not k.startswith(("kindreg:cluster", "kindreg:shared"))}
        doc["config"] = {**config, **kept}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def stack(self, name: str):
        from pulumi import automation as auto
        return auto.create_or_select_stack(
            stack_name=name, work_dir=str(self.dir),
            opts=auto.LocalWorkspaceOptions(env_vars=self.env, pulumi_home=self.env["PULUMI_HOME"]))

    def secret(self, stack: str, key: str, value: str) -> None:
        from pulumi import automation as auto
        self.stack(stack).set_config(key, auto.ConfigValue(value, secret=True), path=True)

    def set_plain(self, stack: str, key: str, value: str) -> None:
        from pulumi import automation as auto
        self.stack(stack).set_config(key, auto.ConfigValue(value), path=False)

    def remove(self, stack: str, key: str) -> None:
        self.stack(stack).remove_config(key, path=False)

    # -------------------------------------------------------------- operations
    def preview(self, stack: str) -> Steps:
        return self._run(stack, "preview")

    def up(self, stack: str) -> Steps:
        """A plain engine `up`, then what a plain-`pulumi` user waits for before using the
        registries: the containers do not wait for their health checks (components/registry.py)."""
        steps = self._run(stack, "up")
        wait_until_answering()
        return steps

    def destroy(self, stack: str) -> Steps:
        return self._run(stack, "destroy")

    def _run(self, stack: str, what: str) -> Steps:
        steps = Steps()
        output: list[str] = []

        def on_event(event) -> None:
            pre = event.resource_pre_event
            if pre is not None and pre.metadata.op.value not in ("same", "read", "refresh"):
                m = pre.metadata
                steps.steps.append(Step(m.op.value, m.type, m.urn.split("::")[-1]))
            if event.diagnostic_event is not None:
                steps.diagnostics.append(event.diagnostic_event.message)

        s = self.stack(stack)
        kw = dict(on_event=on_event, on_output=output.append, color="never")
        try:
            result = getattr(s, what)(**({"diff": True} if what == "preview" else {}), **kw)
        finally:
            self.logs += output
        steps.summary = dict(result.change_summary or {}) if what == "preview" else \
            dict(getattr(result.summary, "resource_changes", None) or {})
        return steps

    def outputs(self, stack: str) -> dict:
        return {k: v.value for k, v in self.stack(stack).outputs().items()}

    def state_text(self, stack: str) -> str:
        """The stack's checkpoint file as the backend stores it."""
        found = list(self.state.rglob(f"{stack}.json"))
        assert found, f"no state file for stack {stack} under {self.state}"
        return found[0].read_text()


def checkout_copy(dest: Path) -> Path:
    """What a fresh clone holds: the files git tracks, as they are in the working tree."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def wait_until_answering() -> None:
    """Run each of this run's running containers' own health check in it until it passes, for
    as long as `kindreg up` gives them. The listing is the low-level one: the high-level one
    inspects each container it lists and fails on one another module removed meanwhile."""
    import docker
    client = docker.from_env()
    deadline = time.monotonic() + READY_SECONDS
    for summary in client.api.containers(filters={"label": [f"{k}={v}" for k, v in ownership.labels().items()]}):
        try:
            c = client.containers.get(summary["Id"])
        except docker.errors.NotFound:
            continue
        test = ((c.attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
        argv = test[1:] if test[:1] == ["CMD"] else ["/bin/sh", "-c", test[1]] if test[:1] == ["CMD-SHELL"] else []
        while argv and not _passes(c, argv):
            assert time.monotonic() < deadline, f"{c.name} fails its health check {argv} after {READY_SECONDS}s"
            time.sleep(0.1)


def _passes(container, argv: list[str]) -> bool:
    import docker
    try:
        return container.exec_run(argv).exit_code == 0
    except (docker.errors.NotFound, docker.errors.APIError):
        return True  # removed or stopped since the listing (another module's stack): not this up's


def engine_environment(test_images: tuple[str, str], extra: Optional[dict] = None) -> dict:
    """PATH: the provider plugin doubles, the kind double, this Python (the language host runs
    `python3`), then the machine's own (pulumi and its language host from the tool cache)."""
    python_bin = Path(os.sys.executable).parent
    path = os.pathsep.join([str(PLUGIN_BIN), str(KIND_DOUBLE_BIN), str(python_bin), os.environ["PATH"]])
    return {"PATH": path, "KINDREG_TEST_NODE_IMAGE": test_images[1], "KINDREG_TEST_PYTHON": os.sys.executable,
            "KINDREG_TEST_RUN": os.environ["KINDREG_TEST_RUN"], **(extra or {})}


@pytest.fixture(scope="module")
def stand_in_images(engine, test_images):
    """The stacks name registry:3 and nginx:stable-alpine, which cannot be pulled here: the test
    images stand in, tagged only where the engine has no image of that name of its own, and
    untagged again afterwards."""
    stand_ins = {DEFAULT_REGISTRY_IMAGE: test_images[0], DEFAULT_FRONT_IMAGE: images.front_image()}
    tagged = []
    for name, test_image in stand_ins.items():
        try:
            engine.images.get(name)
        except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound: ours to create
            engine.images.get(test_image).tag(name)
            tagged.append(name)
    yield stand_ins
    for name in tagged:
        engine.images.remove(name, noprune=True)
