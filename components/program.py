"""The Pulumi program: stack config -> kindreg plan -> components -> stack outputs.

`__main__.py` hands `main` to `pulumi.run`. A project stack first reads the shared stack's
outputs through a StackReference and plans against them, so every resource (one hosts.toml
per shared mirror, the SAN list, ...) is known, and every error found, before any resource
is declared: a failure creates nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional

import pulumi

from kindreg.adapters import dockercreds, files
from kindreg.adapters.mkcert import LocalCA
from kindreg.core import artifact, credentials, htpasswd, preflight, render
from kindreg.core.config import SECRET_FIELDS
from kindreg.core.errors import ConfigError, problem
from kindreg.core.plan import ProjectPlan, SharedExport, SharedPlan, field_path, plan_project, plan_shared
from kindreg.core import load as loading
from kindreg.core.load import Loaded, LoadedShared
from kindreg.core.sources import KEY_CLUSTER, KEY_CLUSTER_FILE, KEY_SHARED
from kindreg.core.vocabulary import Role

from .cluster import KindCluster, KindClusterArgs
from .containerd import CertsTree, CertsTreeArgs
from .project import ProjectRegistries, ProjectRegistriesArgs
from .registry import Served
from .shared import SharedRegistries, SharedRegistriesArgs
from .tls import Certificate, CertificateArgs


@dataclass
class Host:
    """What the program reads from the machine; tests replace it."""

    project_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    which: Callable[[str], Optional[str]] = shutil.which
    exists: Callable[[str], bool] = os.path.exists

    @property
    def ca(self) -> LocalCA:
        # Asked by the preflight and again for the CA copy: one lookup (`mkcert -CAROOT` once).
        if not hasattr(self, "_ca"):
            self._ca = LocalCA(self.env, self.which, self.exists)
        return self._ca

    def read_text(self, path: Path) -> str:
        return files.project_reader(self.project_dir)(path)

    def docker_config(self) -> Optional[dict]:
        return files.docker_config(self.env)

    def credential_helper(self, name: str, server: str) -> Optional[tuple[str, str]]:
        return dockercreds.get(name, server, self.which)


async def main(host: Optional[Host] = None) -> dict:
    host = host or Host()
    try:
        loaded = load(pulumi.get_stack(), host)
        if isinstance(loaded, LoadedShared):
            return build_shared(plan_shared(loaded.config, loaded.stack, loaded.source, loaded.prefix), loaded, host)
        view = await read_shared_stack(loaded.config.registries.shared.stack) \
            if loaded.config.shared_mode else None
        plan = plan_project(loaded.config, loaded.stack, view, loaded.source, loaded.prefix)
        return build_project(plan, loaded, host)
    except ConfigError as err:
        # RunError: Pulumi prints the message alone, without a Python traceback.
        raise pulumi.RunError(err.render()) from None


# The machine the package's components read (tests give theirs): the plugin's working
# directory is the program's, where its state (certificates, certs.d tree) belongs.
package_host: Callable[[], Host] = Host


@contextmanager
def package_error() -> Iterator[None]:
    """Inside a component of the package: a ConfigError as the engine's invalid-inputs error,
    one entry per problem, each naming its input (the engine prints them, no traceback). The
    engine prints the value beside each entry: a problem at a secret field is in the message
    only, where its value never is."""
    try:
        yield
    except ConfigError as err:
        raise pulumi.InputPropertiesError(err.render(), [
            {"property_path": p.path, "reason": dataclasses.replace(p, path="").render()}
            for p in err.problems if not _secret_path(p.path)]) from None


def _secret_path(path: str) -> bool:
    return any(key in path for key in SECRET_INPUTS) or path.rsplit(".", 1)[-1] in SECRET_FIELDS


SECRET_INPUTS = ("mirrorCredentials", "s3Credentials", "authPasswords")  # the engine would print their values


def load(stack: str, host: Host) -> Loaded:
    cfg = pulumi.Config("kindreg")
    config = {key: value for key, value in (
        (KEY_CLUSTER, config_object(cfg, "cluster")),
        (KEY_CLUSTER_FILE, cfg.get("clusterFile")),
        (KEY_SHARED, config_object(cfg, "shared")),
    ) if value is not None}
    return loading.config_map(config, stack, f"stack {stack} config", host.project_dir, host.read_text)


def config_object(cfg: pulumi.Config, key: str, secret: bool = False) -> object:
    """A structured config value. Parsed here rather than by `Config.get_object`, whose error
    quotes the value: a malformed secret would be printed."""
    raw = cfg.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        shown = "" if secret else f' "{raw[:60]}"'
        raise ConfigError(f"kindreg:{key}", [problem(
            "", f"the value{shown} is not a mapping; set fields with `pulumi config set --path "
            f"'kindreg:{key}.<field>' ...`" + (" --secret" if secret else ""))]) from None


async def read_shared_stack(name: str) -> SharedExport:
    ref = pulumi.StackReference(name)
    try:
        details = await ref.get_output_details("kindreg")
    except Exception as err:  # noqa: BLE001 - the engine could not read the stack at all
        error = ConfigError(f'shared stack "{name}"', [problem(
            "", f"could not be read ({err}); run `pulumi up -s {name}` first")])
        # The runtime re-raises the failed read itself; this diagnostic says what to do.
        pulumi.log.error(error.render())
        raise error from None
    return SharedExport.read(name, details.value)


def _environment() -> dict:
    """Commands talk to the same Docker engine as the docker provider."""
    docker_host = pulumi.Config("docker").get("host") or os.environ.get("DOCKER_HOST")
    return {"DOCKER_HOST": docker_host} if docker_host else {}


def _preflight(plan, loaded: Loaded, host: Host) -> None:
    problems = preflight.check(plan, loaded.prefix, host.which, host.ca)
    if problems:
        raise ConfigError(f"{loaded.source} (preflight)", problems)


@dataclass(frozen=True)
class Placement:
    """Where the program's resources go: at the stack's root (a kindreg stack), or under a
    component of the kindreg package with the credentials it was given."""

    parent: Optional[pulumi.Resource] = None
    mirror_credentials: Optional[Mapping] = None  # mirror name -> {username, password}; values may be Outputs
    s3_credentials: Optional[Mapping] = None  # {accessKey, secretKey}; values may be Outputs
    auth_passwords: Optional[Mapping] = None  # user -> password; values may be Outputs

    def opts(self) -> Optional[pulumi.ResourceOptions]:
        return pulumi.ResourceOptions(parent=self.parent) if self.parent else None


AT_ROOT = Placement()


def _credentials(plan, loaded: Loaded, host: Host, at: Placement) -> dict[str, pulumi.Output]:
    mirrors = [r for r in plan.registries if r.role is Role.MIRROR]
    index = {m.name: i for i, m in enumerate(mirrors)}
    mirrors_key = "mirrors" if isinstance(plan, SharedPlan) else "registries.mirrors"
    given, key = _secret_config(at, at.mirror_credentials, "mirrorCredentials")
    if isinstance(given, pulumi.Output):  # the package's input, secret or from a resource as a whole
        raise ConfigError(loaded.source, [problem(key, (
            "is one secret or computed value: give the mapping itself (mirror name -> {username, "
            "password}), with each password a secret"))])
    found = credentials.resolve(
        mirrors, given, host.env, host.docker_config(), loaded.source,
        lambda name: field_path(loaded.prefix, f"{mirrors_key}[{index[name]}]"), host.credential_helper,
        key)
    return {name: pulumi.Output.secret(pulumi.Output.all(c.username, c.password).apply(
        lambda pair: {"username": pair[0], "password": pair[1]})) for name, c in found.items()}


def _secret_config(at: Placement, given: Optional[Mapping], key: str) -> tuple[Optional[Mapping], str]:
    """A secret mapping and where it came from: the package's input `key`, else the stack's
    secret config `kindreg:<key>`."""
    if at.parent:
        return given, key
    return config_object(pulumi.Config("kindreg"), key, secret=True), f"kindreg:{key}"


def _served(plan, loaded: Loaded, host: Host, at: Placement) -> Served:
    """The S3 keys and the users' htpasswd (secret Outputs), and the CA of the `via` registries."""
    mirrors = [r for r in plan.registries if r.role is Role.MIRROR]
    keys = None
    if any(r.s3 for r in mirrors):
        found = credentials.s3_keys(*_secret_config(at, at.s3_credentials, "s3Credentials"), where=loaded.source)
        keys = pulumi.Output.secret(pulumi.Output.all(**found))
    htpasswd_text = None
    users = next((r.auth_users for r in mirrors if r.auth_users), ())
    if users:
        given, key = _secret_config(at, at.auth_passwords, "authPasswords")
        passwords = credentials.auth_passwords(given, users, where=loaded.source, key=key)
        htpasswd_text = pulumi.Output.secret(pulumi.Output.all(**passwords)).apply(htpasswd.render)
    return Served(s3_keys=keys, htpasswd=htpasswd_text, via_ca_pem=_via_ca(plan, loaded, host))


def _via_ca(plan, loaded: Loaded, host: Host) -> Optional[str]:
    path = loaded.config.via_ca if isinstance(plan, SharedPlan) else loaded.config.registries.via_ca
    if path is None:
        return None
    where = field_path(loaded.prefix, "viaCa" if isinstance(plan, SharedPlan) else "registries.viaCa")
    try:
        pem = host.read_text(host.project_dir / path)
    except (OSError, ValueError) as err:
        raise ConfigError(loaded.source, [problem(where, f"could not be read ({err}); give the path of the "
                                                  "CA certificate (PEM) of the mirrors' `via` registries", path)]) from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(loaded.source, [problem(where, "holds no PEM certificate; give the CA certificate "
                                                  "the `via` registries' certificates are signed by", path)])
    return pem


def _certificate(plan, host: Host, at: Placement) -> Optional[Certificate]:
    if not plan.tls:
        return None
    return Certificate(f"{plan.stack}-tls", CertificateArgs(
        san=plan.san, directory=str(host.project_dir / plan.state_dir / "tls")), at.opts())


def build_shared(plan: SharedPlan, loaded: Loaded, host: Host, at: Placement = AT_ROOT) -> dict:
    _preflight(plan, loaded, host)
    creds = _credentials(plan, loaded, host, at)
    served = _served(plan, loaded, host, at)  # every secret read before anything is declared
    env = _environment()
    cert = _certificate(plan, host, at)
    SharedRegistries(plan.stack, SharedRegistriesArgs(
        plan=plan, credentials=creds, tls=cert.files if cert else None, environment=env, served=served), at.opts())
    return {
        "kindreg": plan.export().to_json(),
        "network": plan.network.to_json(),
        "mirrors": [m.to_json() for m in plan.mirrors],
    }


def build_project(plan: ProjectPlan, loaded: Loaded, host: Host, at: Placement = AT_ROOT) -> dict:
    _preflight(plan, loaded, host)
    creds = _credentials(plan, loaded, host, at)
    served = _served(plan, loaded, host, at)  # every secret read before anything is declared
    env = _environment()
    cert = _certificate(plan, host, at)
    registries = ProjectRegistries(plan.stack, ProjectRegistriesArgs(
        plan=plan, credentials=creds, tls=cert.files if cert else None, served=served), at.opts())
    ca = host.ca.file() if plan.needs_ca else None
    ca_pem = files.read_text(Path(ca)) if ca else None  # mkcert's CA: outside the project
    tree = _certs_tree(plan, registries, host, env, ca, ca_pem, at)
    outputs = {
        "project": plan.project,
        "network": plan.network.to_json(),
        "sharedNetwork": plan.shared.network.to_json() if plan.shared else None,
        "registries": [r.to_json() for r in plan.registries],
        "mirrors": [m.to_json() for m in plan.mirrors],
        # Where the tree is on the engine's machine (the nodes mount it): a host directory, or
        # the directory of the volume `certsVolume` (a remote engine, or nodes.certsTree: volume).
        "certsDir": tree.mountpoint,
        "certsVolume": tree.volume_name,
        # Flux OCIRepository + Kustomization for what `kindreg push --stack` pushes.
        "flux": artifact.flux_manifests(plan, ca_pem if plan.build.tls else None, tag=plan_tag(loaded)),
    }
    if plan.nodes.enabled:
        cluster = KindCluster(plan.stack, KindClusterArgs(
            cluster=plan.nodes.cluster, kind_config=tree.mountpoint.apply(lambda path: render.kind_config(plan, path)),
            network=registries.network.name, network_id=registries.network.id,
            shared_network=plan.shared.network.name if plan.shared else None,
            registry_hosting=render.local_registry_hosting(plan),
            depends_on=[*[r.container for r in registries.registries], *tree.ready],
            environment=env), at.opts())
        outputs["nodes"] = cluster.nodes
    return outputs


def _certs_tree(plan: ProjectPlan, registries: ProjectRegistries, host: Host, env: dict, ca: Optional[str],
                ca_pem: Optional[str], at: Placement) -> CertsTree:
    """The host directory, or the volume where the engine cannot see this machine."""
    in_volume = plan.tree_in_volume(env.get("DOCKER_HOST"))
    return CertsTree(f"{plan.stack}-certs", CertsTreeArgs(
        stack=plan.stack, files=render.hosts_files(plan),
        directory=None if in_volume else str(host.project_dir / plan.certs_dir),
        volume=plan.certs_volume if in_volume else None, image=registries.image.image_id,
        ca_source=ca, ca_fingerprint=hashlib.sha256(ca_pem.encode()).hexdigest() if ca_pem else None,
        environment=env), at.opts())


def plan_tag(loaded: Loaded) -> str:
    return loaded.config.workload.tag or artifact.DEFAULT_TAG
