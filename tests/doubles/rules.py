"""Update or replace: the providers' own rules, as tables, for every double that applies a change.

One rule set serves the provider plugins under the real engine (tests/engine) and the
mocks-level provider double (tests/live/provider_double.py).

docker (pulumi-docker bridges kreuzwerker/terraform-provider-docker; a Terraform attribute
with `ForceNew: true` is a replacement, any other change an in-place update). Read from
internal/provider/resource_docker_{container,network,volume,image}.go of
kreuzwerker/terraform-provider-docker (container schema at commit 042f771a, network 05198ac8,
volume 013b65e4); attribute names as pulumi-docker spells them (camelCase, plural lists).
Network and Volume have no Update at all: every input forces a new resource.

command (pulumi-command's local.Command, built with pulumi-go-provider's `infer`):
`Triggers` carries `provider:"replaceOnChanges"` (provider/pkg/provider/local/command.go),
so a change of `triggers` is a replacement; any other input change is an Update, which runs
`update`, or `create` when there is no `update` (local/commandController.go). The Python SDK
adds `replace_on_changes=["triggers[*]"]` as well (pulumi_command/local/command.py).
"""
from __future__ import annotations

from typing import Iterable

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's sentinel for an unknown value

CONTAINER_UPDATABLE = frozenset({
    # Optional attributes without ForceNew in resource_docker_container.go.
    "rm", "start", "wait", "waitTimeout", "attach", "logs", "mustRun", "restart", "maxRetryCount",
    "removeVolumes", "tmpfs", "destroyGraceSeconds", "memory", "memorySwap", "cpuShares", "cpuSet",
    "healthcheck", "containerReadRefreshTimeoutMilliseconds", "init",
})
IMAGE_FORCE_NEW = frozenset({"name", "pullTriggers", "triggers", "platform", "build"})

# type token -> (attributes that force replacement, or None for "every attribute")
FORCE_NEW: dict[str, object] = {
    "docker:index/network:Network": None,
    "docker:index/volume:Volume": None,
    "docker:index/remoteImage:RemoteImage": IMAGE_FORCE_NEW,
    "command:local:Command": frozenset({"triggers"}),
}


def forces_new(type_: str, key: str) -> bool:
    if type_ == "docker:index/container:Container":
        return key not in CONTAINER_UPDATABLE
    rule = FORCE_NEW[type_]
    return rule is None or key in rule


def changed(olds: dict, news: dict) -> list[str]:
    """Top-level input keys whose value differs (an unknown new value counts as a change)."""
    keys = set(olds) | set(news)
    return sorted(k for k in keys if olds.get(k) != news.get(k) or _unknown(news.get(k)))


def replaces(type_: str, keys: Iterable[str]) -> list[str]:
    return [k for k in keys if forces_new(type_, k)]


def _unknown(value: object) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_unknown(v) for v in value)
    return False
