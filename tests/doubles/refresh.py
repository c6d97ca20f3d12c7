"""Refresh: what the docker provider's Read reports, for the provider doubles.

Each rule is the Terraform docker provider's read function that pulumi-docker bridges
(kreuzwerker/terraform-provider-docker v4.5.0, commit 5074970c, the `upstream` submodule of
pulumi/pulumi-docker's newest snapshot), file internal/provider/...:

Container, resource_docker_container_funcs.go resourceDockerContainerRead (from line 750):
- gone: `d.SetId("")` (lines 766-772): the engine drops it from the state, `up` creates it;
- stopped while must_run is true: `d.Set("must_run", false)` (lines 813-823), so the plan shows
  an update, and resourceDockerContainerUpdate starts it (lines 997-1010);
- read back: name (trimmed of "/"), image (its ID where the state's image is an ID, lines 840-845),
  hostname, entrypoint, restart (lines 828-857), the health check (lines 960-970);
  networks_advanced only when the state has none, i.e. on import (lines 785-795);
- not read: env and labels ("taken over from the Docker image", lines 893-898) and uploads
  ("can't be imported", line 959): a change to them outside the provider is invisible to a refresh.
Network, resource_docker_network_funcs.go resourceDockerNetworkReadRefreshFunc (lines 160-200):
  any inspect error removes it from the state; name, labels, driver, options and ipam_config
  are read back.
Volume, resource_docker_volume.go resourceDockerVolumeRead (lines 288-312): not found removes it;
  name, labels, driver, driver_opts, mountpoint are read back.
RemoteImage, resource_docker_image_funcs.go resourceDockerImageRead (lines 103-132): the image is
  looked up by the state's `name`, not by ID; not found removes it; the ID becomes
  `<image ID><name>` and image_id the image's ID.

The bridge returns, with the new state, inputs extracted from it in the shape of the old
inputs: a refresh changes an input only where the world differs from what it holds.
"""
from __future__ import annotations

from typing import Optional

import docker.errors

from kindreg.core.vocabulary import Label

# The double's own label on what it creates (tests/doubles/ownership.py): not the program's.
OWN_LABELS = frozenset({Label.TEST_RUN.value})


def read(client, typ: str, rid: str, state: dict, inputs: dict) -> Optional[tuple[str, dict, dict]]:
    """(id, state, inputs) as the provider's Read leaves them; None when the thing is gone."""
    kind = typ.split(":")[-1]
    if kind == "RemoteImage":
        return _image(client, state, inputs)
    getter = {"Network": client.networks.get, "Volume": client.volumes.get, "Container": client.containers.get}[kind]
    try:
        found = getter(rid)
    except docker.errors.NotFound:
        return None
    values = {"Container": _container, "Network": _network, "Volume": _volume}[kind](found.attrs, state)
    return rid, {**state, **values}, _as_inputs(values, inputs)


def _image(client, state: dict, inputs: dict) -> Optional[tuple[str, dict, dict]]:
    name = state.get("name") or inputs.get("name") or ""
    try:
        image = client.images.get(name)
    except docker.errors.NotFound:
        return None
    return f"{image.id}{name}", {**state, "imageId": image.id}, inputs


def _as_inputs(values: dict, inputs: dict) -> dict:
    """Read values in the old inputs' shape; everything read when there were none (an import)."""
    if not inputs:
        return dict(values)
    out = dict(inputs)
    for key, old in inputs.items():
        if key in values:
            out[key] = _shaped(values[key], old)
    return out


def _shaped(new, old):
    """`new` with only the keys `old` has (nested), lists matched item by item."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _shaped(new[k], v) if k in new else v for k, v in old.items()}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_shaped(n, o) for n, o in zip(new, old)]
    return new


def _labels(found: dict, state: dict) -> list[dict]:
    """A label set, in the order the state lists it (a set has no order of its own)."""
    found = {k: v for k, v in (found or {}).items() if k not in OWN_LABELS}
    order = [x.get("label") for x in state.get("labels") or []]
    keys = sorted(found, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [{"label": k, "value": found[k]} for k in keys]


def _seconds(ns: Optional[int]) -> str:
    """Go's time.Duration.String() for whole seconds, as the provider writes durations."""
    seconds = (ns or 0) // 1_000_000_000
    if seconds < 60:
        return f"{seconds}s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s"


def _container(attrs: dict, state: dict) -> dict:
    config, host = attrs.get("Config") or {}, attrs.get("HostConfig") or {}
    image = state.get("image") or ""
    values = {
        "name": attrs.get("Name", "").lstrip("/"),
        "image": attrs.get("Image") if str(image).startswith("sha256:") or not image else config.get("Image"),
        "hostname": config.get("Hostname"),
        "entrypoints": config.get("Entrypoint"),
        "restart": (host.get("RestartPolicy") or {}).get("Name"),
    }
    hc = config.get("Healthcheck")
    if hc:
        values["healthcheck"] = {"tests": hc.get("Test"), "interval": _seconds(hc.get("Interval")),
                                 "timeout": _seconds(hc.get("Timeout")), "startPeriod": _seconds(hc.get("StartPeriod")),
                                 "retries": hc.get("Retries")}
    if not (attrs.get("State") or {}).get("Running") and state.get("mustRun"):
        values["mustRun"] = False
    if not state.get("networksAdvanced"):
        nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        values["networksAdvanced"] = [{"name": n, "ipv4Address": i.get("IPAMConfig", {}) and
                                       (i.get("IPAMConfig") or {}).get("IPv4Address")} for n, i in nets.items()]
    return values


def _network(attrs: dict, state: dict) -> dict:
    ipam = (attrs.get("IPAM") or {}).get("Config") or []
    return {"name": attrs.get("Name"), "labels": _labels(attrs.get("Labels"), state), "driver": attrs.get("Driver"),
            "options": attrs.get("Options") or {},
            "ipamConfigs": [{"subnet": c.get("Subnet"), "gateway": c.get("Gateway"), "ipRange": c.get("IPRange"),
                             "auxAddress": c.get("AuxiliaryAddresses") or {}} for c in ipam]}


def _volume(attrs: dict, state: dict) -> dict:
    return {"name": attrs.get("Name"), "labels": _labels(attrs.get("Labels"), state), "driver": attrs.get("Driver"),
            "driverOpts": attrs.get("Options") or {}, "mountpoint": attrs.get("Mountpoint")}
