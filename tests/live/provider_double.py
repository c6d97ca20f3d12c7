"""Provider DOUBLE for kindreg's live tests: not `pulumi up`, a stand-in for its providers.

The unmodified program runs under `pulumi.runtime.Mocks`; this double's `new_resource` makes
the Docker API calls pulumi-docker would make (Network, Volume, Container, RemoteImage) and
runs pulumi-command's scripts for real (local.Command), through the same operations and the
same update-or-replace rules as the provider plugins under the real engine (tests/doubles).
It keeps a small state per stack: a second `up` updates or replaces only what changed,
creating a replacement before deleting the original unless the resource says
delete-before-replace (as the engine does, deleting replaced originals at the end), and
deletes what the program no longer declares; `destroy` deletes a stack's resources in
reverse creation order, running delete scripts and honouring retain_on_delete.

What it does not prove: the Pulumi engine's own diffing, parallelism and state handling, and
the real providers' code; tests/engine runs the program under the real engine for that.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
from pulumi.runtime import mocks as pmocks

from components import program
from tests.doubles import operations, rules
from tests.mocks.harness import run_program, unwrap as plain

_STATE_LOCK = threading.Lock()  # guards the double's state; Docker work runs in parallel, as the engine's does
_CLIENTS = threading.local()


def _client() -> docker.DockerClient:
    """One Docker client per thread: the mocks call new_resource from a thread pool."""
    if not hasattr(_CLIENTS, "client"):
        _CLIENTS.client = docker.from_env()
    return _CLIENTS.client


@dataclass
class Record:
    type: str
    name: str
    id: str
    inputs: dict
    outputs: dict
    retain_on_delete: bool
    seq: int


class DestroyRefused(Exception):
    """A delete script failed: the destroy stopped there, as the engine stops."""


@dataclass
class Machine:
    """What the double knows across stacks, like a Pulumi backend plus the providers."""

    client: docker.DockerClient
    command_env: dict  # environment of local.Command scripts (PATH with the kind double)
    workdir: Path
    stacks: dict[str, dict[str, Record]] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    seq: int = 0

    def up(self, stack: str, config: dict, host: program.Host, secret_keys: tuple = ()) -> dict:
        double = ProviderDouble(self, stack)
        outputs = run_program(double, DoubleMonitor(double), stack, config, host, secret_keys)
        for rec in sorted(double.replaced, key=lambda r: -r.seq):  # the engine deletes originals last
            Provider(self).delete(rec)
        double.delete_undeclared()
        self.outputs[stack] = outputs
        return outputs

    def destroy(self, stack: str) -> None:
        records = self.stacks.get(stack, {})
        for key, rec in sorted(records.items(), key=lambda kv: -kv[1].seq):
            Provider(self).delete(rec)
            del records[key]
        self.outputs.pop(stack, None)


class DoubleMonitor(pmocks.MockMonitor):
    """Hands the double the resource options the mocks API leaves out."""

    def RegisterResource(self, request):
        self.mocks.options[(request.type, request.name)] = {
            "retain_on_delete": request.retainOnDelete, "delete_before_replace": request.deleteBeforeReplace}
        return super().RegisterResource(request)


class ProviderDouble(pmocks.Mocks):
    def __init__(self, machine: Machine, stack: str):
        self.machine, self.stack = machine, stack
        self.state = machine.stacks.setdefault(stack, {})
        self.options: dict = {}
        self.seen: set[str] = set()
        self.replaced: list[Record] = []

    def new_resource(self, args: pmocks.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            if name not in self.machine.outputs:
                raise Exception(f"unknown stack {name!r}")
            return name, {"name": name, "outputs": self.machine.outputs[name], "secretOutputNames": []}
        if not args.custom:
            return args.name, {}
        return self._apply(args)

    def _apply(self, args: pmocks.MockResourceArgs):
        key = f"{args.typ}::{args.name}"
        inputs = plain(args.inputs)
        options = self.options.get((args.typ, args.name), {})
        with _STATE_LOCK:
            self.seen.add(key)
            old = self.state.get(key)
        provider = Provider(self.machine)
        changed = rules.changed(old.inputs, inputs) if old else []
        if old and not changed:
            return old.id, old.outputs
        if old and not rules.replaces(args.typ, changed):
            rid, outputs = provider.update(old, inputs)
        else:
            if old and options.get("delete_before_replace"):
                provider.delete(old)
            elif old:
                with _STATE_LOCK:
                    self.replaced.append(old)
            rid, outputs = provider.create(args.typ, args.name, inputs)
        with _STATE_LOCK:
            # Creation order respects dependencies (a resource registers after its inputs
            # resolve), so reverse order is a safe delete order.
            self.machine.seq += 1
            self.state[key] = Record(args.typ, args.name, rid, inputs, outputs,
                                     options.get("retain_on_delete", False), self.machine.seq)
        return rid, outputs

    def delete_undeclared(self) -> None:
        gone = [(k, r) for k, r in self.state.items() if k not in self.seen]
        for key, rec in sorted(gone, key=lambda kv: -kv[1].seq):
            Provider(self.machine).delete(rec)
            del self.state[key]

    def call(self, args: pmocks.MockCallArgs):
        return {}


class Provider:
    """The operations of tests/doubles, by resource type."""

    def __init__(self, machine: Machine):
        self.m = machine
        self.docker = operations.Docker(_client())

    def create(self, typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        if typ == COMMAND:
            stdout, stderr = self._run(inputs["create"], inputs) if inputs.get("create") else ("", "")
            return f"{name}-{time.monotonic_ns()}", {**inputs, "stdout": stdout, "stderr": stderr}
        return self.docker.create(typ, inputs)

    def update(self, old: Record, inputs: dict) -> tuple[str, dict]:
        if old.type == COMMAND:
            script = inputs.get("update") or inputs.get("create")
            stdout, stderr = self._run(script, inputs, old.outputs) if script else ("", "")
            return old.id, {**inputs, "stdout": stdout, "stderr": stderr}
        return old.id, self.docker.update(old.type, old.id, inputs)

    def delete(self, rec: Record) -> None:
        if rec.retain_on_delete:
            return
        if rec.type != COMMAND:
            self.docker.delete(rec.type, rec.id, rec.outputs)
        elif rec.inputs.get("delete"):
            try:
                self._run(rec.inputs["delete"], rec.inputs, rec.outputs)
            except operations.ProviderError as err:
                raise DestroyRefused(f"delete of {rec.name} failed:\n{err}") from None

    def _run(self, script: str, i: dict, previous: dict | None = None) -> tuple[str, str]:
        return operations.run_command(script, i, previous, base_env=self.m.command_env, cwd=str(self.m.workdir))


COMMAND = "command:local:Command"


def command_environment(bin_dir: Path, node_image: str, python: str) -> dict:
    """What the Command scripts see: the kind double first on PATH."""
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "KINDREG_TEST_NODE_IMAGE": node_image, "KINDREG_TEST_PYTHON": python}
