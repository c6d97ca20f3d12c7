"""Rendered files: registry configs and entrypoint, containerd hosts.toml, kind config.

Every function here is a pure function of a plan, so golden files can pin the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import tomlkit
import yaml

from . import keeper, storage
from .plan import ProjectPlan, RegistryPlan, SharedPlan
from .vocabulary import (BUILD_HOSTNAME, CERTS_ROLE, MANAGED_VALUE, NETWORK_ROLE, NODE_CA, NODE_CERTS_D, Label,
                         Role, Scope)

CONF_DIR = "/etc/kindreg/registry"  # inside a registry container
CONFIG_PATH = f"{CONF_DIR}/config.yml"
CACHE_ONLY_PATH = f"{CONF_DIR}/cache-only.yml"
MIRROR_ENTRYPOINT_PATH = f"{CONF_DIR}/mirror.sh"
KEEP_PLAN_PATH = f"{CONF_DIR}/keep.awk"
MODE_FILE = "/tmp/kindreg-mode"
TLS_DIR = "/etc/kindreg/tls"
TLS_CERT = f"{TLS_DIR}/cert.pem"
TLS_KEY = f"{TLS_DIR}/key.pem"
DATA_DIR = "/var/lib/registry"
DEBUG_PORT = 5001
HEALTH_URL = f"http://127.0.0.1:{DEBUG_PORT}/debug/health"
PROBE_INTERVAL_SECONDS = 10
RESTART_POLICY = "unless-stopped"
# distribution reads REGISTRY_PROXY_* over its config file: the password stays out of it.
PROXY_USERNAME_ENV = "REGISTRY_PROXY_USERNAME"
PROXY_PASSWORD_ENV = "REGISTRY_PROXY_PASSWORD"
# The same for the S3 keys (configuration/parser.go: REGISTRY_<SECTION>_<KEY> overrides).
S3_ACCESS_KEY_ENV = "REGISTRY_STORAGE_S3_ACCESSKEY"
S3_SECRET_KEY_ENV = "REGISTRY_STORAGE_S3_SECRETKEY"
HTPASSWD_PATH = f"{CONF_DIR}/htpasswd"
AUTH_REALM = "kindreg"

Plan = Union[SharedPlan, ProjectPlan]


# libyaml's emitter when PyYAML has it: same output, an order of magnitude faster (every
# registry renders several documents, so this is most of the program's own time).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml(doc: object) -> str:
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------- registry containers

def registry_config(reg: RegistryPlan, cache_only: bool = False) -> str:
    """distribution's config.yml. Credentials are not here: they arrive as secret env vars."""
    http: dict = {"addr": f":{reg.port}", "debug": {"addr": f":{DEBUG_PORT}"},
                  "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if reg.tls:
        http["tls"] = {"certificate": TLS_CERT, "key": TLS_KEY}
    storage: dict = {**_storage_driver(reg), "delete": {"enabled": True}}  # delete: so the cache can be cleaned
    if not reg.keep_bytes:
        # Not for a bounded mirror: its keeper removes blobs while it serves, and this cache would
        # go on answering that a removed blob exists (registry/storage/cache/memory).
        storage["cache"] = {"blobdescriptor": "inmemory"}
    if cache_only:
        # Serving a mirror's cache while its upstream is away: nothing may be pushed into it.
        storage["maintenance"] = {"readonly": {"enabled": True}}
    doc: dict = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry", "container": reg.container}},
        "storage": storage,
        "http": http,
        "health": {"storagedriver": _health(reg)},
    }
    if reg.auth_users:
        # Every user listed may pull (distribution's htpasswd controller grants all it lets in).
        doc["auth"] = {"htpasswd": {"realm": AUTH_REALM, "path": HTPASSWD_PATH}}
    if reg.role is Role.MIRROR and not cache_only:
        doc["proxy"] = proxy_section(reg)
    return _yaml(doc)


def _health(reg: RegistryPlan) -> dict:
    if reg.s3 is None:
        return {"enabled": True, "interval": "10s", "threshold": 3}
    # On S3 a wrong key or a store away shows only here: checked often, so `up` can tell soon.
    return {"enabled": True, "interval": f"{storage.HEALTH_INTERVAL_SECONDS}s", "threshold": storage.HEALTH_THRESHOLD}


def _storage_driver(reg: RegistryPlan) -> dict:
    if reg.s3 is None:
        return {"filesystem": {"rootdirectory": DATA_DIR}}
    s3 = reg.s3
    params: dict = {"bucket": s3.bucket, "region": s3.region, "rootdirectory": f"/{s3.root_directory}",
                    "secure": s3.secure, "v4auth": True, "forcepathstyle": s3.force_path_style}
    if s3.endpoint:
        params["regionendpoint"] = s3.endpoint
    # Blobs come from the registry itself, not as redirects to presigned URLs of the store: the
    # clients (laptops, CI runners) need to reach the team mirror alone, the bucket stays private,
    # and the team's TLS and basic auth stay the one way in. The keys arrive as secret env vars.
    return {"s3": params, "redirect": {"disable": True}}


def gc_config() -> str:
    """What `registry garbage-collect` needs of a mirror's config: its storage, nothing else."""
    return _yaml({"version": 0.1, "storage": {"filesystem": {"rootdirectory": DATA_DIR}}})


def proxy_section(reg: RegistryPlan) -> dict:
    """Where a mirror fetches from: its front cache when it has one, else the upstream itself."""
    # distribution's TTL stays off: when one repository's entry fires it deletes the blob's data
    # for every repository (registry/proxy/proxyregistry.go `OnBlobExpire` -> `RemoveBlob`,
    # v3.1.2; distribution#2367), so a layer another image still uses would vanish. A mirror's
    # `ttl` is kindreg's instead: `kindreg cache prune` removes what was not read for that long,
    # whole images, and garbage collection keeps every blob a kept image needs (core.mirrorstore).
    doc: dict = {"remoteurl": reg.front.url if reg.front else reg.fetches_from, "ttl": PROXY_TTL_OFF}
    if reg.front:
        # The fill of the registry's own cache gives up after 5 minutes by default (distribution
        # 3.1 proxy.cachewritetimeout): a large layer on a slow link takes longer.
        doc["cachewritetimeout"] = CACHE_WRITE_TIMEOUT
    return doc


CACHE_WRITE_TIMEOUT = "1h"
# 0 starts no expiry scheduler (proxyregistry.go: a nil TTL is 7 days, a positive one that long).
PROXY_TTL_OFF = 0

# The mirror's upstream and name reach its entrypoint through the container's environment,
# never pasted into the script: the script is the same text for every mirror.
UPSTREAM_ENV = "KINDREG_UPSTREAM"
PROBE_ENV = "KINDREG_PROBE_URL"  # where the entrypoint asks whether the upstream answers, if not there
MIRROR_NAME_ENV = "KINDREG_MIRROR"

MIRROR_ENTRYPOINT = f"""#!/bin/sh
# kindreg mirror entrypoint: pull-through while $KINDREG_UPSTREAM answers, its cache alone otherwise;
# with KINDREG_KEEP_BYTES, its volume kept within that many bytes (kindreg.core.keeper).
UPSTREAM="${{{UPSTREAM_ENV}:?the container needs {UPSTREAM_ENV}}}"
NAME="${{{MIRROR_NAME_ENV}:-mirror}}"
PULL_THROUGH='{CONFIG_PATH}'
CACHE_ONLY='{CACHE_ONLY_PATH}'
MODE_FILE="${{KINDREG_MODE_FILE:-{MODE_FILE}}}"
INTERVAL="${{KINDREG_PROBE_INTERVAL:-{PROBE_INTERVAL_SECONDS}}}"
DATA='{DATA_DIR}'
V2="$DATA/docker/registry/v2"
KEEP_READS="$DATA/{keeper.READS_FILE}"
LOG_PIPE=/tmp/kindreg-registry-log
pid=
keeper=
""" + keeper.settings(KEEP_PLAN_PATH) + keeper.RECORD + keeper.KEEP + f"""
# The registry, its log also recorded as reads when the mirror is bounded.
serve() {{
  if [ -n "$KEEP_BYTES" ]; then
    rm -f "$LOG_PIPE" && mkfifo "$LOG_PIPE"
    record < "$LOG_PIPE" &
    registry serve "$1" > "$LOG_PIPE" 2>&1 &
  else
    registry serve "$1" &
  fi
  pid=$!
}}

# Any HTTP answer (401 from an anonymous /v2/ included) means the upstream is reachable.
# busybox wget says "server returned error"; GNU wget exits 6 (auth) or 8 (HTTP error).
# The time limit comes from `timeout`: some busybox builds crash on `wget -T`.
# With {PROBE_ENV} (a `via` registry: asked through the front cache, whose TLS client every
# server accepts, where busybox's lacks what Go's TLS servers require), the front's own
# gateway errors mean the registry behind it is away.
reachable() {{
  out=$(timeout 5 wget -O /dev/null "${{{PROBE_ENV}:-$UPSTREAM}}/v2/" 2>&1)
  rc=$?
  if [ -n "${{{PROBE_ENV}}}" ]; then
    case "$out" in *" 502 "*|*" 503 "*|*" 504 "*) return 1 ;; esac
  fi
  [ "$rc" -eq 0 ] || [ "$rc" -eq 6 ] || [ "$rc" -eq 8 ] && return 0
  case "$out" in *"server returned error"*) return 0 ;; esac
  return 1
}}

stop() {{
  [ -n "$keeper" ] && kill -TERM "$keeper" 2>/dev/null
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  exit 0
}}
trap stop TERM INT
if [ -n "$KEEP_BYTES" ]; then
  keep &
  keeper=$!
fi

while :; do
  if reachable; then mode=pull-through; config=$PULL_THROUGH
  else mode=cache-only; config=$CACHE_ONLY
  fi
  echo "$mode" > "$MODE_FILE"
  echo "kindreg: mirror $NAME serving in $mode mode (upstream $UPSTREAM)" >&2
  serve "$config"
  if [ "$mode" = cache-only ]; then
    while kill -0 "$pid" 2>/dev/null; do
      sleep "$INTERVAL" & wait $!
      if reachable; then
        echo "kindreg: upstream $UPSTREAM is back; switching to pull-through" >&2
        kill -TERM "$pid" 2>/dev/null
        break
      fi
    done
  fi
  wait "$pid"
  pid=
  sleep 1
done
"""


def mirror_entrypoint(reg: RegistryPlan) -> str:
    """A mirror's PID 1: pull-through while the upstream answers, its cache alone otherwise.

    distribution's proxy mode exits at start-up when the upstream is unreachable, which
    would leave the cache out of reach exactly when it is needed (offline, upstream down).
    This script probes the upstream, serves the cache read-only while it is away, and goes
    back to pull-through as soon as it answers again, with no restart of the container.
    """
    return MIRROR_ENTRYPOINT


def container_env(reg: RegistryPlan) -> list[str]:
    """Plain (non-secret) environment of a registry container."""
    if reg.role is not Role.MIRROR:
        return []
    env = [f"{UPSTREAM_ENV}={reg.fetches_from}", f"{MIRROR_NAME_ENV}={reg.name}"]
    if reg.via and reg.front:
        env.append(f"{PROBE_ENV}={reg.front.url}")
    if reg.keep_bytes:
        env += [f"{keeper.KEEP_BYTES_ENV}={reg.keep_bytes}", f"{keeper.IN_USE_ENV}={reg.in_use_seconds}"]
    return env


def container_files(reg: RegistryPlan) -> dict[str, str]:
    """Files uploaded into the registry container, by path inside it."""
    files = {CONFIG_PATH: registry_config(reg)}
    if reg.role is Role.MIRROR:
        files[CACHE_ONLY_PATH] = registry_config(reg, cache_only=True)
        files[MIRROR_ENTRYPOINT_PATH] = mirror_entrypoint(reg)
        files[KEEP_PLAN_PATH] = keeper.PLAN_AWK
    return files


@dataclass(frozen=True)
class Upload:
    """A file the registry container is created with."""

    path: str
    content: Optional[str] = None  # rendered text, or
    source: Optional[str] = None  # a host file read by the provider (key material stays out of state)
    executable: bool = False
    permissions: Optional[str] = None


def uploads(reg: RegistryPlan) -> list[Upload]:
    return [Upload(path, content, executable=path == MIRROR_ENTRYPOINT_PATH)
            for path, content in container_files(reg).items()]


def tls_uploads(cert_path: str, key_path: str) -> list[Upload]:
    # By host path: the key is read by the provider at create time and never enters state.
    return [Upload(TLS_CERT, source=cert_path), Upload(TLS_KEY, source=key_path, permissions="0600")]


def entrypoint(reg: RegistryPlan) -> list[str]:
    if reg.role is Role.MIRROR:
        return ["/bin/sh", MIRROR_ENTRYPOINT_PATH]
    return ["registry", "serve", CONFIG_PATH]


# The names of the proxy credentials' variables (their values are secrets, never compared).
CREDENTIAL_ENV = (PROXY_USERNAME_ENV, PROXY_PASSWORD_ENV, S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV)
# Variables that change what a registry container does: distribution's overrides of its
# configuration file, and kindreg's own.
OVERRIDE_ENV_PREFIXES = ("REGISTRY_", "KINDREG_")


def proxy_credential_env(username: str, password: str) -> list[str]:
    return [f"{PROXY_USERNAME_ENV}={username}", f"{PROXY_PASSWORD_ENV}={password}"]


def s3_credential_env(access_key: str, secret_key: str) -> list[str]:
    return [f"{S3_ACCESS_KEY_ENV}={access_key}", f"{S3_SECRET_KEY_ENV}={secret_key}"]


def healthcheck_command() -> list[str]:
    # The debug listener is plain HTTP on loopback in TLS mode too, so one probe fits all.
    return ["CMD", "wget", "-q", "-O", "/dev/null", HEALTH_URL]


# ---------------------------------------------------------------- containerd hosts.toml

def hosts_toml(reg: RegistryPlan, stack: str, by_ip: bool) -> str:
    """`<host>/hosts.toml` (by_ip False) or `<ip>/hosts.toml` for one registry.

    A mirror's host file keeps the upstream as `server`: containerd tries the mirror first
    and falls back to the upstream, so pulls still work when the mirror is down. Every file
    has a `[host]` table: containerd 1.6 rejects a file with `server` alone ("invalid `host`
    tree") and then silently uses its defaults. Written by a TOML library: values are quoted
    and escaped by it, never pasted.
    """
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"kindreg ({stack}): {_describe(reg)}" + (", by address" if by_ip else "")))
    doc.add("server", reg.upstream if reg.role is Role.MIRROR and not by_ip else reg.url)
    if reg.tls and by_ip:
        doc.add("ca", NODE_CA)
    doc.add(tomlkit.nl())
    entry = tomlkit.table()
    entry.add("capabilities", list(reg.capabilities))
    if reg.tls:
        entry.add("ca", NODE_CA)
    for _, item in entry.value.body:
        item.trivia.indent = "  "
    hosts = tomlkit.table(is_super_table=True)
    hosts.add(reg.url, entry)
    doc.add("host", hosts)
    return tomlkit.dumps(doc)


def _describe(reg: RegistryPlan) -> str:
    if reg.role is Role.MIRROR:
        return f"{reg.host} through mirror {reg.name} ({reg.container}), upstream {reg.upstream}"
    return f"{reg.role} registry {reg.container}"


def hosts_files(plan: ProjectPlan) -> dict[str, str]:
    """The project's certs.d tree: relative path -> content, for every registry it uses."""
    files: dict[str, str] = {}
    for reg in plan.endpoints:
        files[f"{reg.host}/hosts.toml"] = hosts_toml(reg, plan.stack, by_ip=False)
        files[f"{reg.ip}/hosts.toml"] = hosts_toml(reg, plan.stack, by_ip=True)
    return files


# ---------------------------------------------------------------- kind

def kind_config(plan: ProjectPlan, tree_path: str) -> str:
    """kind's cluster config: nodes with the certs.d tree mounted where containerd reads it.

    `tree_path` is the tree volume's directory on the engine's machine: kind mounts host paths
    only (it makes a bare volume name a path under its working directory), and a volume's
    mountpoint is a path that exists wherever the engine runs.
    kind >= v0.27 node images already set containerd's config_path to /etc/containerd/certs.d,
    so the only patch is the pull-progress timeout (`pull_progress_patch`).
    """
    mount = {"hostPath": tree_path, "containerPath": NODE_CERTS_D, "readOnly": True}

    def node(role: str) -> dict:
        image = {"image": plan.nodes.image} if plan.nodes.image else {}
        return {"role": role, **image, "extraMounts": [dict(mount)]}

    nodes = [node("control-plane") for _ in range(plan.nodes.control_planes)]
    nodes += [node("worker") for _ in range(plan.nodes.workers)]
    doc = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
           "name": plan.nodes.cluster, "containerdConfigPatches": [pull_progress_patch()], "nodes": nodes}
    return _yaml(doc)


# containerd 2.x's CRI image service (kind >= v0.27 node images) cancels a pull that has read
# nothing for image_pull_progress_timeout (default 5m). Behind a front cache, every node but
# one waits, reading nothing, until the first has fetched a layer: a large layer on a slow
# link takes longer than 5 minutes, so the waiting nodes need longer.
CRI_IMAGES_PLUGIN = "io.containerd.cri.v1.images"
PULL_PROGRESS_TIMEOUT = "30m"


def pull_progress_patch() -> str:
    return tomlkit.dumps({"plugins": {CRI_IMAGES_PLUGIN: {"image_pull_progress_timeout": PULL_PROGRESS_TIMEOUT}}})


def local_registry_hosting(plan: ProjectPlan) -> str:
    """KEP-1755's ConfigMap, so tools like Tilt find the build registry."""
    hosting = {
        "host": f"{plan.build.ip}" if not plan.host_port else f"localhost:{plan.host_port}",
        "hostFromContainerRuntime": BUILD_HOSTNAME,
        "hostFromClusterNetwork": plan.build.ip,
        "help": "https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry",
    }
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
        "data": {"localRegistryHosting.v1": _yaml(hosting)},
    }
    return _yaml(doc)


# ---------------------------------------------------------------- labels

def registry_labels(reg: RegistryPlan) -> dict[str, str]:
    labels = {
        Label.MANAGED: MANAGED_VALUE,
        Label.ROLE: reg.role.value,
        Label.SCOPE: reg.scope.value,
        Label.STACK: reg.owner,
        Label.NAME: reg.name,
        Label.HOST: reg.host,
        Label.SCHEME: reg.scheme,
        Label.IP: reg.ip,
    }
    if reg.upstream:
        labels[Label.UPSTREAM] = reg.upstream
    return {k.value: v for k, v in labels.items()}


def volume_labels(reg: RegistryPlan) -> dict[str, str]:
    """Only what identifies the volume: labels of a volume cannot change without replacing it."""
    keep = (Label.MANAGED, Label.ROLE, Label.SCOPE, Label.STACK, Label.NAME)
    return {k: v for k, v in registry_labels(reg).items() if k in keep}


def network_labels(scope: Scope, stack: str, role: str = NETWORK_ROLE) -> dict[str, str]:
    return {Label.MANAGED.value: MANAGED_VALUE, Label.SCOPE.value: scope.value,
            Label.STACK.value: stack, Label.ROLE.value: role}


def certs_volume_labels(stack: str) -> dict[str, str]:
    """The containerd tree's volume: a project's, labelled like its network."""
    return network_labels(Scope.PROJECT, stack, CERTS_ROLE)
