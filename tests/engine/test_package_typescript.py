"""The kindreg package from TypeScript under the real engine: the README's steps as written, in
a project as `pulumi new typescript` makes it, beside a copy of the checkout: `pulumi package
add ../kindreg` generates and links the SDK, then the README's index.ts runs under the Node.js
language host (tests/setup.sh), and must create what the README's YAML program does (the same
settings) and the stacks of those settings do.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine.conftest import engine_environment
from tests.engine.test_package import Program, check_world, declared, package_copy, stacks_resources
from tests.live.conftest import engine, test_images  # noqa: F401
from tests.requirements import need_tools, unavailable
from tests.unit.test_readme import block_after

pytestmark = pytest.mark.engine

PROGRAM_ENV = "KINDREG_TEST_NODEJS_PROGRAM"  # @pulumi/pulumi, TypeScript (tests/setup.sh)


def readme_steps() -> tuple[str, str]:
    """The README's command and its index.ts."""
    section = "## Use from another language\n"
    text = open(Path(__file__).parents[2] / "README.md").read().split(section, 1)[1]
    command = text.split("In a TypeScript project beside a checkout, `", 1)[1].split("`", 1)[0]
    return command, "\n".join(block_after(section, "```ts")) + "\n"


def new_typescript_project(template: Path) -> dict[str, str]:
    """What `pulumi new typescript` writes, with the packages the template installed."""
    deps = json.loads((template / "package.json").read_text())["dependencies"]
    return {
        "Pulumi.yaml": "name: platform\nruntime:\n  name: nodejs\n  options:\n    packagemanager: npm\n",
        "package.json": json.dumps({"name": "platform", "main": "index.ts", "dependencies": deps}, indent=2),
        "tsconfig.json": json.dumps({"compilerOptions": {
            "strict": True, "outDir": "bin", "target": "es2020", "module": "commonjs", "moduleResolution": "node",
            "sourceMap": True, "experimentalDecorators": True, "pretty": True, "noFallthroughCasesInSwitch": True,
            "noImplicitReturns": True, "forceConsistentCasingInFileNames": True}, "files": ["index.ts"]}, indent=2),
    }


@pytest.fixture(scope="module")
def platform(pulumi_cli, engine, test_images, stand_in_images, tmp_path_factory):
    need_tools("pulumi-language-nodejs", "node", "npm")
    template = Path(os.environ.get(PROGRAM_ENV, ""))
    if not (template / ".complete").exists():
        unavailable(f"needs the Node.js program's packages in {template} (`bash tests/run` installs them)")
    root = tmp_path_factory.mktemp("typescript")
    package_copy(root / "kindreg")
    program = Program(root, engine_environment(test_images), "platform", new_typescript_project(template))
    shutil.copytree(template / "node_modules", program.dir / "node_modules", symlinks=True)
    command, index = readme_steps()
    added = subprocess.run(command, shell=True, cwd=program.dir, env={**os.environ, **program.env},
                           capture_output=True, text=True, timeout=600)
    assert added.returncode == 0, added.stdout[-3000:] + added.stderr[-3000:]
    (program.dir / "index.ts").write_text(index)
    program.stack("dev")
    yield program
    program.cli("destroy", "--yes", "--stack", "dev")


def test_package_add_generates_and_links_the_sdk(platform):
    assert (platform.dir / "node_modules" / "@pulumi" / "kindreg" / "bin" / "index.js").exists()
    assert "kindreg: ../kindreg" in (platform.dir / "Pulumi.yaml").read_text()


def test_the_readme_program_creates_what_the_stacks_of_its_settings_create(platform, engine, tmp_path):
    out = platform.cli("up", "--yes", "--stack", "dev")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    expected = stacks_resources(tmp_path)
    found = declared(platform, "dev")
    assert found == expected, sorted(found ^ expected)
    check_world(platform.outputs("dev"), engine)
    again = platform.cli("preview", "--stack", "dev", "--expect-no-changes")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]


def test_bad_input_is_a_type_error_or_names_the_input(platform):
    index = (platform.dir / "index.ts").read_text()
    (platform.dir / "index.ts").write_text(index.replace('"10.126.125.0/24"', '"10.126.125.7/24"'))
    try:
        out = platform.cli("preview", "--stack", "dev")
    finally:
        (platform.dir / "index.ts").write_text(index)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert 'network.cidr: "10.126.125.7/24" has host bits set' in text, text[-3000:]


CANARY = "canary-Pa55-typescript-do-not-print"


def test_a_password_given_from_typescript_stays_secret(platform, engine):
    index = (platform.dir / "index.ts").read_text()
    with_secret = 'import * as pulumi from "@pulumi/pulumi";\n' + index.replace(
        '    prefix: "platform",\n',
        '    prefix: "platform",\n    mirrorCredentials: {"io-docker": {username: "robot", '
        'password: new pulumi.Config().requireSecret("dockerHubToken")}},\n', 1)
    assert with_secret.count("mirrorCredentials") == 1
    (platform.dir / "index.ts").write_text(with_secret)
    assert platform.cli("config", "set", "--secret", "dockerHubToken", CANARY, "--stack", "dev").returncode == 0
    out = platform.cli("up", "--yes", "--stack", "dev")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert CANARY not in platform.state_text("dev")
    assert CANARY not in "".join(platform.logs)
    env = engine.containers.get("platform-registry-io-docker").attrs["Config"]["Env"]
    assert f"REGISTRY_PROXY_PASSWORD={CANARY}" in env  # its destination
