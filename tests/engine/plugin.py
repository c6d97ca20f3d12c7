"""Provider plugin DOUBLES for the real Pulumi engine: `docker` and `command`, not the providers.

Each speaks Pulumi's provider protocol (gRPC, pulumirpc.ResourceProvider) as a plugin the
engine starts from PATH (`pulumi-resource-docker`, `pulumi-resource-command` in
tests/engine/bin). Whether a change is an update or a replacement comes from the providers'
own schemas (tests/doubles/rules.py, sources cited there); the work itself is done for real
(tests/doubles/operations.py): Docker API calls, shell scripts.

Why doubles: pulumi-docker cannot be built from Go modules (its provider module replaces the
Terraform provider with a patched local copy), and the module proxy serves no version of
github.com/pulumi/pulumi-command/provider (v1.2.1: 404; every other version refused).

Protocol notes: `acceptSecrets` is false, so the engine sends plaintext and keeps secretness
itself (outputs of secret inputs stay secret in state); `supportsPreview` is false, so the
engine never calls Create/Update during a preview; Diff reports the changed keys and, of
those, the ones that force a new resource; the engine then applies the program's
deleteBeforeReplace, retainOnDelete and replaceOnChanges options itself.
"""
from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from concurrent import futures
from typing import Optional

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from tests.doubles import operations, refresh, rules
from tests.doubles.operations import ProviderError

VERSIONS = {"docker": "5.2.0", "command": "1.2.1"}  # the Python SDKs' pins (requirements.txt)
COMMAND = "command:local:Command"


def _plain(struct: struct_pb2.Struct) -> dict:
    return _whole(json_format.MessageToDict(struct, preserving_proto_field_name=True))


def _whole(value):
    """Protobuf carries every number as a double; the providers' integers are integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def _struct(value: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _type_of(request) -> str:
    return getattr(request, "type", "") or request.urn.split("::")[2].split("$")[-1]


def _name_of(request) -> str:
    return getattr(request, "name", "") or request.urn.split("::")[-1]


class Provider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, kind: str):
        self.kind = kind
        self.config: dict = {}
        self._docker: Optional[operations.Docker] = None
        self._lock = threading.Lock()

    # -------------------------------------------------------------- plugin and config
    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSIONS[self.kind])

    def GetSchema(self, request, context):
        return provider_pb2.GetSchemaResponse(schema="{}")

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        # A changed `docker:host` points the provider elsewhere; resources are not replaced for it.
        keys = rules.changed(_plain(request.olds), _plain(request.news))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if keys else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=keys)

    def Configure(self, request, context):
        self.config = {k.split(":")[-1]: v for k, v in request.variables.items()}
        self.config.update(_plain(request.args))
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=False,
                                              acceptResources=False, acceptOutputs=False)

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    @property
    def docker(self) -> operations.Docker:
        with self._lock:
            if self._docker is None:
                import docker
                host = self.config.get("host") or os.environ.get("DOCKER_HOST")
                self._docker = operations.Docker(docker.DockerClient(base_url=host) if host else docker.from_env())
            return self._docker

    # -------------------------------------------------------------- resources
    def Check(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request, context):
        typ = _type_of(request)
        news = _plain(request.news)
        if request.HasField("old_inputs"):
            olds = _plain(request.old_inputs)
        else:  # an engine that sends only the old state: compare the keys the program sets
            olds = {k: v for k, v in _plain(request.olds).items() if k in news}
        keys = rules.changed(olds, news)
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if keys else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=keys, replaces=rules.replaces(typ, keys), deleteBeforeReplace=False,
            hasDetailedDiff=False)

    def Create(self, request, context):
        typ, inputs = _type_of(request), _plain(request.properties)
        try:
            if typ == COMMAND:
                rid, outputs = self._create_command(_name_of(request), inputs)
            else:
                rid, outputs = self.docker.create(typ, inputs)
        except ProviderError as err:
            context.abort(grpc.StatusCode.UNKNOWN, str(err))
        return provider_pb2.CreateResponse(id=rid, properties=_struct(outputs))

    def Update(self, request, context):
        typ, news, olds = _type_of(request), _plain(request.news), _plain(request.olds)
        try:
            if typ == COMMAND:
                outputs = self._update_command(news, olds)
            else:
                outputs = self.docker.update(typ, request.id, news)
        except ProviderError as err:
            context.abort(grpc.StatusCode.UNKNOWN, str(err))
        return provider_pb2.UpdateResponse(properties=_struct(outputs))

    def Delete(self, request, context):
        typ, state = _type_of(request), _plain(request.properties)
        try:
            if typ == COMMAND:
                if state.get("delete"):
                    operations.run_command(state["delete"], state, previous=state)
            else:
                self.docker.delete(typ, request.id, state)
        except ProviderError as err:
            context.abort(grpc.StatusCode.UNKNOWN, str(err))
        return empty_pb2.Empty()

    def Read(self, request, context):
        """A refresh (or an import): what the provider reads back (tests/doubles/refresh.py).
        pulumi-command's local Command has no read of the world: local.Command implements Create,
        Update and Delete only (pulumi/pulumi-command provider/pkg/provider/local/
        commandController.go, snapshot 010bd8e0), and pulumi-go-provider v1.5.0 (its go.mod) hands
        the state back as it is without a CustomRead (infer/resource.go, lines 1359-1369)."""
        typ = _type_of(request)
        if typ == COMMAND:
            return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)
        found = refresh.read(self.docker.client, typ, request.id, _plain(request.properties), _plain(request.inputs))
        if found is None:
            return provider_pb2.ReadResponse(id="")
        rid, state, inputs = found
        return provider_pb2.ReadResponse(id=rid, properties=_struct(state), inputs=_struct(inputs))

    # -------------------------------------------------------------- command
    def _create_command(self, name: str, i: dict) -> tuple[str, dict]:
        stdout = stderr = ""
        if i.get("create"):
            stdout, stderr = operations.run_command(i["create"], i)
        # NewUniqueHex(name, 8, 0): the resource name and eight random hex digits.
        return f"{name}{secrets.token_hex(4)}", {**i, "stdout": stdout, "stderr": stderr}

    def _update_command(self, news: dict, olds: dict) -> dict:
        script = news.get("update") or news.get("create")
        stdout, stderr = olds.get("stdout", ""), olds.get("stderr", "")
        if script:
            stdout, stderr = operations.run_command(script, news, previous=olds)
        return {**news, "stdout": stdout, "stderr": stderr}


ORPHAN_POLL_SECONDS = 1.0


def _stop_when_orphaned(stop: threading.Event) -> None:
    """Stop once the engine that started this double is gone (this process is reparented). The
    engine kills its plugins when it closes, but a test that kills the engine (tests/engine/
    test_interrupted.py) would leave the double running; the real providers are then orphans
    too (pulumi/pulumi#8696), which a test must not leave behind on a user's machine."""
    parent = os.getppid()
    while not stop.wait(ORPHAN_POLL_SECONDS):
        if os.getppid() != parent:
            stop.set()


def main(kind: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(Provider(kind), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=_stop_when_orphaned, args=(stop,), daemon=True).start()
    stop.wait()
    # The SDK's provider.Main stops gracefully on SIGINT: in-flight calls finish first
    # (sdk/go/pulumi/provider/main.go, signal.NotifyContext then GracefulStop).
    server.stop(grace=600).wait()


if __name__ == "__main__":
    main(sys.argv[1])
