"""The kindreg package under the real engine: the README's YAML program, as written, beside a
copy of the checkout, run by the YAML language host built from Go modules, with the package's
provider run by the Python language host (tests/setup.sh) and the provider doubles beneath.

It must create what the shared and a project stack of the same config create (checked against
the Python program's own graph), on the planned networks and addresses with every node file,
keep a given password secret, report bad inputs naming the input, and leave the Python stacks'
URNs as they were before the package existed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from components.package_types import config_of
from tests.doubles import ownership
from tests.engine.conftest import PLUGIN_BIN, checkout_copy, PROGRAM_FILES, EngineProject, engine_environment
from tests.helpers import ROOT
from tests.live.conftest import engine, node_networks, test_images  # noqa: F401
from tests.mocks.harness import fake_host, run_stack
from tests.requirements import need_tools
from tests.unit.test_readme import block_after

pytestmark = pytest.mark.engine

PACKAGE_TYPES = ("kindreg:index:MirrorSet", "kindreg:index:Project")
PLUGIN_PACKAGES = {"docker": "pulumi-docker", "command": "pulumi-command"}
CANARY = "canary-Pa55-package-do-not-print"


def readme_program() -> dict:
    return yaml.safe_load("\n".join(block_after("## Use from another language\n", "```yaml")))


def yaml_program(workdir: Path, env: dict, program: dict) -> "Program":
    return Program(workdir, env, program["name"], {"Pulumi.yaml": yaml.safe_dump(program, sort_keys=False)})


def package_copy(dest: Path) -> Path:
    """The checkout as a user's copy beside their program: the files git tracks, and the
    virtualenv its PulumiPlugin.yaml names (tests/setup.sh built it)."""
    checkout_copy(dest)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def install_plugin_doubles(home: Path) -> None:
    """The package's provider needs pulumi-docker and pulumi-command at the versions its
    virtualenv has; the CLI installs a package's plugins into PULUMI_HOME before it runs it, so
    the doubles go there (nothing can be downloaded here)."""
    for name, dist in PLUGIN_PACKAGES.items():
        target = home / "plugins" / f"resource-{name}-v{version(dist)}"
        target.mkdir(parents=True, exist_ok=True)
        wrapper = target / f"pulumi-resource-{name}"
        wrapper.write_text(f'#!/bin/sh\nexec "{PLUGIN_BIN / wrapper.name}" "$@"\n')
        wrapper.chmod(0o755)
        (home / "plugins" / f"resource-{name}-v{version(dist)}.lock").touch()


class Program(EngineProject):
    """A program of another language in `workdir/name` (its files given), with its own backend
    and PULUMI_HOME."""

    def __init__(self, workdir: Path, env: dict, name: str, files: dict[str, str]):
        self.dir = workdir / name
        self.dir.mkdir()
        for rel, text in files.items():
            (self.dir / rel).write_text(text)
        self.state = workdir / f"state-{name}"
        self.state.mkdir()
        home = workdir / "pulumi-home"
        install_plugin_doubles(home)
        self.env = {**env, "PULUMI_BACKEND_URL": f"file://{self.state}", "PULUMI_CONFIG_PASSPHRASE": "kindreg-package",
                    "PULUMI_HOME": str(home), "PULUMI_SKIP_UPDATE_CHECK": "true",
                    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
        self.logs = []

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        out = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.dir, env={**os.environ, **self.env},
                             capture_output=True, text=True, timeout=600)
        self.logs += [out.stdout, out.stderr]
        return out

    def resources(self, stack: str) -> list[dict]:
        return json.loads(self.state_text(stack))["checkpoint"]["latest"]["resources"]


@pytest.fixture(scope="module")
def workdir(pulumi_cli, engine, tmp_path_factory):
    need_tools("pulumi-language-yaml")
    ownership.sweep(engine)
    root = tmp_path_factory.mktemp("package")
    package_copy(root / "kindreg")
    yield root
    ownership.sweep(engine)


@pytest.fixture(scope="module")
def platform(workdir, test_images, stand_in_images):
    program = yaml_program(workdir, engine_environment(test_images), readme_program())
    program.stack("dev")
    yield program
    program.cli("destroy", "--yes", "--stack", "dev")


@pytest.fixture(scope="module")
def platform_up(platform):
    out = platform.cli("up", "--yes", "--stack", "dev")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return platform


def _stack_config(program: dict) -> tuple[dict, dict]:
    """The README program's resources as stack config: what a shared and a project stack of
    the same settings would hold (the `shared` input is the shared stack's reference)."""
    props = {r["type"]: r["properties"] for r in program["resources"].values()}
    shared, project = props["kindreg:MirrorSet"], dict(props["kindreg:Project"])
    project.pop("shared")
    return {"kindreg:shared": shared}, {"kindreg:cluster": {**config_of(project), "registries": {"shared": {"stack": "shared"}}}}


def stacks_resources(tmp_path: Path) -> set[tuple[str, str]]:
    """What the shared and a project stack of the README program's settings declare, from the
    Python program's own graph (the README's TypeScript program has the same settings)."""
    shared_cfg, project_cfg = _stack_config(readme_program())
    host = fake_host(tmp_path)
    shared = run_stack("shared", shared_cfg, host)
    dev = run_stack("dev", project_cfg, host, stack_outputs={"shared": shared.outputs})
    return {(r.type, r.name) for r in [*shared.resources, *dev.resources] if r.type != "pulumi:pulumi:StackReference"}


def declared(program: Program, stack: str) -> set[tuple[str, str]]:
    """The stack's resources but the package's components, the stack and providers; the Python
    stacks' resources are named after their stack, these after their component."""
    return {(r["type"], r["urn"].rsplit("::", 1)[1]) for r in program.resources(stack)
            if r["type"] not in PACKAGE_TYPES and not r["type"].startswith("pulumi:")}


def check_world(out: dict, engine) -> None:
    """Every registry runs at its planned address on its network; the nodes are on both
    networks and read every hosts.toml of the plan."""
    for registry in out["registries"]:
        assert engine.containers.get(registry["container"]).status == "running", registry["container"]
        assert node_networks(engine, registry["container"])[registry["network"]] == registry["ip"]
    nodes = out["nodes"]
    assert nodes and all(len(node_networks(engine, n)) == 2 for n in nodes)
    mounted = engine.containers.get(nodes[0]).attrs["Mounts"]
    certs = next(Path(m["Source"]) for m in mounted if m["Destination"] == "/etc/containerd/certs.d")
    found = {str(p.relative_to(certs)) for p in certs.rglob("hosts.toml")}
    planned = {f"{r['host']}/hosts.toml" for r in out["registries"]} | {f"{r['ip']}/hosts.toml" for r in out["registries"]}
    assert planned | {f"{h}/hosts.toml" for h in ("docker.io", "quay.io", "ghcr.io", "registry.k8s.io")} <= found, \
        sorted(found)


def test_the_readme_program_creates_what_the_stacks_of_its_config_create(platform_up, tmp_path):
    expected = stacks_resources(tmp_path)
    found = declared(platform_up, "dev")
    assert found == expected, sorted(found ^ expected)


def test_networks_addresses_and_node_files_are_the_plans(platform_up, engine):
    check_world(platform_up.outputs("dev"), engine)


def test_a_second_preview_has_nothing_to_do(platform_up):
    out = platform_up.cli("preview", "--stack", "dev", "--expect-no-changes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_bad_inputs_fail_naming_each_input_and_create_nothing(workdir, test_images, engine):
    program = readme_program()
    program["name"] = "broken"
    shared = program["resources"]["shared"]["properties"]
    shared["network"] = {"name": "broken-registries", "cidr": "10.126.300.0/24"}
    shared["mirrors"] = [{"name": "build", "url": "https://registry-1.docker.io",
                          "password": CANARY}]
    broken = yaml_program(workdir, engine_environment(test_images), program)
    broken.stack("dev")
    out = broken.cli("up", "--yes", "--stack", "dev")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert re.search(r"network\.cidr: \"10\.126\.300\.0/24\"", text), text[-3000:]
    assert "mirrors[0].name" in text and "mirrors[0].password" in text
    assert CANARY not in text
    assert not engine.networks.list(names=["broken-registries"])


def test_a_password_given_to_the_package_stays_secret(workdir, test_images, stand_in_images, engine):
    program = readme_program()
    program["name"] = "secrets"
    program["config"] = {"dockerHubToken": {"type": "string", "secret": True}}
    props = program["resources"]["shared"]["properties"]
    props.update(network={"name": "secrets-registries", "cidr": "10.126.201.0/24"}, prefix="secrets",
                 mirrors=[{"name": "io-docker", "url": "https://registry-1.docker.io"}],
                 mirrorCredentials={"io-docker": {"username": "robot", "password": "${dockerHubToken}"}})
    program["resources"] = {"shared": program["resources"]["shared"]}
    program["outputs"] = {"mirrors": "${shared.mirrors}"}
    secrets = yaml_program(workdir, engine_environment(test_images), program)
    secrets.stack("dev")
    assert secrets.cli("config", "set", "--secret", "dockerHubToken", CANARY, "--stack", "dev").returncode == 0
    try:
        out = secrets.cli("up", "--yes", "--stack", "dev")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        diff = secrets.cli("preview", "--diff", "--stack", "dev")
        assert diff.returncode == 0, diff.stderr[-3000:]
        assert CANARY not in secrets.state_text("dev")
        assert CANARY not in "".join(secrets.logs)  # both runs' output, the previews included
        mirror = engine.containers.get("secrets-registry-io-docker")
        env = dict(e.split("=", 1) for e in mirror.attrs["Config"]["Env"])
        assert CANARY in env.values()  # its destination
    finally:
        secrets.cli("destroy", "--yes", "--stack", "dev")


# The last commit whose program had no package: stacks brought up by it must see no change.
BEFORE_PACKAGE = "a97aaa4"


def test_python_stacks_up_before_the_package_keep_their_urns(pulumi_cli, engine, test_images, stand_in_images,
                                                              tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    archive = subprocess.run(["git", "archive", BEFORE_PACKAGE, *PROGRAM_FILES], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    project = EngineProject(tmp_path / "engine", engine_environment(test_images), source=before)
    project.write("shared", {"kindreg:shared": {"network": {"name": "krur-registries", "cidr": "10.126.203.0/24"},
                                                "prefix": "krur", "mirrors": [{"name": "io-docker", "url": "https://registry-1.docker.io"}]}})
    project.write("dev", {"kindreg:cluster": {"name": "krur", "network": {"name": "krur-dev", "cidr": "10.126.126.0/24"},
                                              "nodes": {"workers": 1}}})
    try:
        for stack in ("shared", "dev"):
            project.up(stack)
        for name in PROGRAM_FILES:  # the program as it is now
            target = project.dir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, target)
        for stack in ("shared", "dev"):
            changed = project.preview(stack).changed()
            # Since then the mirrors' registry config turns distribution's TTL off
            # (render.proxy_section): a mirror's container is replaced under its URN. Nothing is
            # created, deleted or updated.
            assert set(changed) <= {"replace"}, (stack, changed)
            assert all(n.endswith("-io-docker-container") for n in changed.get("replace", ())), (stack, changed)
    finally:
        for stack in ("dev", "shared"):
            project.destroy(stack)


def test_get_schema_of_the_checkout_prints_both_components(workdir, test_images):
    program = Program(workdir, engine_environment(test_images), "schema", {})
    out = subprocess.run(["pulumi", "package", "get-schema", str(workdir / "kindreg")], cwd=program.dir,
                         env={**os.environ, **program.env}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    schema = json.loads(out.stdout)
    project = schema["resources"]["kindreg:index:Project"]
    assert schema["resources"]["kindreg:index:MirrorSet"]["isComponent"] and project["isComponent"]
    assert project["inputProperties"]["nodes"]["$ref"] == "#/types/kindreg:index:NodesArgs"
    assert schema["types"]["kindreg:index:NodesArgs"]["properties"]["workers"]["type"] == "integer"


def test_a_project_reads_a_python_shared_stack_through_a_stack_reference(workdir, test_images, stand_in_images,
                                                                           engine, tmp_path):
    """The README's word: a shared stack's `kindreg` output is a Project's `shared` input too."""
    stacks = EngineProject(tmp_path / "stacks", engine_environment(test_images))
    stacks.write("shared", {"kindreg:shared": {"network": {"name": "krsr-registries", "cidr": "10.126.204.0/24"},
                                               "prefix": "krsr"}})
    program = yaml_program(workdir, engine_environment(test_images), {
        "name": "reader", "runtime": "yaml", "packages": {"kindreg": "../kindreg"},
        "resources": {
            "sharedStack": {"type": "pulumi:pulumi:StackReference", "properties": {"name": "organization/kindreg/shared"}},
            "dev": {"type": "kindreg:Project", "properties": {
                "name": "krsr", "network": {"name": "krsr-dev", "cidr": "10.126.132.0/24"},
                "shared": '${sharedStack.outputs["kindreg"]}'}}},
        "outputs": {"registries": "${dev.registries}", "mirrors": "${dev.mirrors}", "nodes": "${dev.nodes}"}})
    program.env.update(PULUMI_BACKEND_URL=stacks.env["PULUMI_BACKEND_URL"],
                       PULUMI_CONFIG_PASSPHRASE=stacks.env["PULUMI_CONFIG_PASSPHRASE"])
    program.stack("dev")
    try:
        stacks.up("shared")
        out = program.cli("up", "--yes", "--stack", "dev")
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
        result = program.outputs("dev")
        assert {m["ip"] for m in result["mirrors"]} == {m["ip"] for m in stacks.outputs("shared")["mirrors"]}
        check_world(result, engine)
    finally:
        program.cli("destroy", "--yes", "--stack", "dev")
        stacks.destroy("shared")
