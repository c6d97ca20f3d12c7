"""Run the kindreg Pulumi program under recording mocks: no engine, no Docker, no CLI.

`run_stack` builds the program's graph for one stack and returns every registration as a
`Registered` record: type, name, URN, parent, inputs, which inputs are secret, explicit
dependencies and resource options, as the engine would have received them.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc

from components import program

SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict
    secret_inputs: set
    dependencies: list
    property_dependencies: dict
    retain_on_delete: bool
    delete_before_replace: bool
    additional_secret_outputs: list
    custom: bool


@dataclass
class Run:
    resources: list[Registered]
    outputs: dict = field(default_factory=dict)
    error: Optional[BaseException] = None
    logs: list = field(default_factory=list)  # (level, message) the engine was sent

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"{name}: {len(found)} registrations"
        return found[0]

    def count_by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.resources:
            out[r.type] = out.get(r.type, 0) + 1
        return out

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def ancestry(self, r: Registered) -> list[str]:
        """Names from the resource up to its top component."""
        chain = [r.name]
        while r.parent and not r.parent.endswith("pulumi:pulumi:Stack::kindreg-" + r.urn.split("::")[1]):
            parent = next((x for x in self.resources if x.urn == r.parent), None)
            if parent is None:
                break
            chain.append(parent.name)
            r = parent
        return chain


def _secret_paths(value: Any, path: str = "") -> set:
    """Paths of secret values in a raw (wire) property value."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {path or "."}
        found = set()
        for k, v in value.items():
            found |= _secret_paths(v, f"{path}.{k}" if path else k)
        return found
    if isinstance(value, list):
        found = set()
        for i, v in enumerate(value):
            found |= _secret_paths(v, f"{path}[{i}]")
        return found
    return set()


def unwrap(value: Any) -> Any:
    """Inputs as plain values: secrets unwrapped (which were secret is kept in `secret_inputs`),
    and numbers as the program wrote them (protobuf carries every number as a double)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(pmocks.MockMonitor):
    def __init__(self, mocks: pmocks.Mocks):
        super().__init__(mocks)
        self.records: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = json_format.MessageToDict(request.object)
        self.records.append(Registered(
            type=request.type, name=request.name, urn=response.urn, parent=request.parent,
            inputs=unwrap(rpc.deserialize_properties(request.object)), secret_inputs=_secret_paths(raw),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            retain_on_delete=request.retainOnDelete, delete_before_replace=request.deleteBeforeReplace,
            additional_secret_outputs=list(request.additionalSecretOutputs), custom=request.custom,
        ))
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self.records.append(Registered(
            type=request.type, name=request.name, urn=response.urn, parent=request.parent,
            inputs=rpc.deserialize_properties(request.properties), secret_inputs=set(),
            dependencies=list(request.dependencies), property_dependencies={},
            retain_on_delete=False, delete_before_replace=False, additional_secret_outputs=[],
            custom=True))
        return response


class KindregMocks(pmocks.Mocks):
    """Computed outputs the program reads: image IDs, command stdout, stack references."""

    def __init__(self, stack_outputs: Optional[dict] = None, missing_stacks: tuple = ()):
        self.stack_outputs = stack_outputs or {}
        self.missing_stacks = missing_stacks

    def new_resource(self, args: pmocks.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            if name in self.missing_stacks:
                raise Exception(f"unknown stack {name!r}")
            return name, {"name": name, "outputs": self.stack_outputs.get(name, {}),
                          "secretOutputNames": []}
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{args.inputs['name']}"
        if args.typ == "docker:index/volume:Volume":  # as the engine reports it (docker volume inspect)
            state["mountpoint"] = f"/var/lib/docker/volumes/{args.inputs['name']}/_data"
        if args.typ == "command:local:Command":
            state["stdout"] = f"stdout-of-{args.name}"
            state["stderr"] = ""
        return f"{args.name}-id", state

    def call(self, args: pmocks.MockCallArgs):
        return {}


def run_stack(stack: str, config: dict, host: program.Host, stack_outputs: Optional[dict] = None,
              missing_stacks: tuple = (), secret_keys: tuple = (), preview: bool = False,
              expect_error: bool = False) -> Run:
    """Build the program's graph for `stack` with `config` ({"kindreg:cluster": {...}, ...}).

    With `expect_error`, the program must fail; the error and what was registered before it
    are returned for inspection.
    """
    mocks = KindregMocks(stack_outputs, missing_stacks)
    monitor = RecordingMonitor(mocks)
    result = Run(monitor.records)
    try:
        result.outputs = run_program(mocks, monitor, stack, config, host, secret_keys, preview, result.logs)
    except Exception as err:  # noqa: BLE001 - handed to the test
        if not expect_error:
            raise
        result.error = err
    else:
        assert not expect_error, "the program was expected to fail"
    return result


def run_program(mocks: pmocks.Mocks, monitor: pmocks.MockMonitor, stack: str, config: dict,
                host: program.Host, secret_keys: tuple = (), preview: bool = False,
                logs: Optional[list] = None) -> dict:
    """Run the unmodified program against `mocks` (through `monitor`); its stack outputs."""
    # set_mocks makes a new root Stack only when none is set, and the root is process-global
    # state: without the reset, a stack run after another can be parented to the earlier one's
    # Stack (seen once in a full run: the shared component under `kindreg-alt`).
    pulumi.runtime.settings.reset_options(project="kindreg", stack=stack, preview=preview)
    pulumi.runtime.set_mocks(mocks, project="kindreg", stack=stack, preview=preview, monitor=monitor,
                             logger=_ListLogger(logs if logs is not None else []))
    pulumi.runtime.set_all_config({k: _config_value(v) for k, v in config.items()}, list(secret_keys))
    outputs: dict = {}

    run_function(lambda: program.main(host), outputs)
    return outputs


def run_function(program_main, outputs: dict) -> None:
    """Run `program_main` (a coroutine function returning the stack outputs) under the mocks
    set up; its outputs, resolved, into `outputs`."""
    @pulumi.runtime.test
    def program_run():
        async def go():
            outputs.update(await _resolve(await program_main()))
        return pulumi.Output.from_input(go())

    program_run()


class _ListLogger(logging.Logger):
    def __init__(self, sink: list):
        super().__init__("kindreg-mocks")
        self.sink = sink

    def _log(self, level, msg, args, **kwargs):  # noqa: D401 - logging.Logger hook
        self.sink.append((logging.getLevelName(level), msg % args if args else msg))


def _config_value(value: Any) -> str:
    # Pulumi hands every config value to the program as a string; objects as JSON.
    return value if isinstance(value, str) else json.dumps(value)


async def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return await _resolve(await value.future())
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [await _resolve(v) for v in value]
    return value


def fake_host(tmp: Path, tools=("docker", "kind", "mkcert"), caroot: Optional[Path] = None,
              env: Optional[dict] = None) -> program.Host:
    """A machine with the given tools on PATH and, if `caroot`, an mkcert CA there."""
    env = dict(env or {"HOME": str(tmp / "home")})
    if caroot is not None:
        caroot.mkdir(parents=True, exist_ok=True)
        (caroot / "rootCA.pem").write_text("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
        env["CAROOT"] = str(caroot)
    return program.Host(project_dir=tmp, env=env, which=lambda t: f"/usr/bin/{t}" if t in tools else None)
