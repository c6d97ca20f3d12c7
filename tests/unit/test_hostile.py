"""Hostile and mistaken configuration values, tried as an attacker would.

Every case must end one of two ways, never in a traceback:
- refused: `validate` exits 2, names the field, and never prints a secret;
- accepted: every file rendered from it parses with its format's own library (TOML, YAML),
  and no value appears in shell text (they reach scripts through the environment).
"""
from __future__ import annotations

import copy
import io
import contextlib
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from kindreg import cli
from kindreg.core import document, render
from kindreg.ops import project

SECRET = "Hunter2-do-not-print"
MIRROR = {"name": "io-quay", "url": "https://quay.io"}


def project_stack(**over) -> dict:
    cfg = {"network": {"cidr": "10.125.70.0/24"}, "registries": {"shared": {"enabled": False}, "mirrors": [MIRROR]},
           "nodes": {"enabled": False}}
    for path, value in over.items():
        node = cfg
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return {"kindreg:cluster": cfg}


def mirror(**fields) -> dict:
    return project_stack(**{"registries.mirrors": [{**MIRROR, **fields}]})


def shared_stack(**fields) -> dict:
    return {"kindreg:shared": {"mirrors": [{**MIRROR, **fields}]}}


# (case id, stack config, field path the error names or None when the value is accepted)
REFUSED = "refused"
CASES: list[tuple[str, dict, str]] = [
    # -- the upstream URL: shell, TOML and YAML injection, and plain mistakes
    ("url-shell-quote", mirror(url="https://quay.io'$(touch${IFS}x)'"), "registries.mirrors[0].url"),
    ("url-backticks", mirror(url="https://quay.io/`id`"), "registries.mirrors[0].url"),
    ("url-newline", mirror(url="https://quay.io\nrm -rf /"), "registries.mirrors[0].url"),
    ("url-cr", mirror(url="https://quay.io\r"), "registries.mirrors[0].url"),
    ("url-nul", mirror(url="https://quay.io\x00"), "registries.mirrors[0].url"),
    ("url-tab", mirror(url="https://quay.io\t"), "registries.mirrors[0].url"),
    ("url-toml-break", mirror(url='https://quay.io"\nskip_verify = true\n#'), "registries.mirrors[0].url"),
    ("url-quote", mirror(url='https://quay".io'), "registries.mirrors[0].url"),
    ("url-space", mirror(url="https://quay .io"), "registries.mirrors[0].url"),
    ("url-port-zero", mirror(url="https://quay.io:0"), "registries.mirrors[0].url"),
    ("url-port-big", mirror(url="https://quay.io:65536"), "registries.mirrors[0].url"),
    ("url-port-huge", mirror(url="https://quay.io:99999999999"), "registries.mirrors[0].url"),
    ("url-port-text", mirror(url="https://quay.io:http"), "registries.mirrors[0].url"),
    ("url-port-negative", mirror(url="https://quay.io:-1"), "registries.mirrors[0].url"),
    ("url-empty-port", mirror(url="https://quay.io:"), "registries.mirrors[0].url"),
    ("url-ftp", mirror(url="ftp://quay.io"), "registries.mirrors[0].url"),
    ("url-file", mirror(url="file:///etc/passwd"), "registries.mirrors[0].url"),
    ("url-javascript", mirror(url="javascript:alert(1)"), "registries.mirrors[0].url"),
    ("url-no-scheme", mirror(url="quay.io"), "registries.mirrors[0].url"),
    ("url-path", mirror(url="https://quay.io/v2/"), "registries.mirrors[0].url"),
    ("url-query", mirror(url="https://quay.io?x=1"), "registries.mirrors[0].url"),
    ("url-fragment", mirror(url="https://quay.io#x"), "registries.mirrors[0].url"),
    ("url-credentials", mirror(url=f"https://robot:{SECRET}@quay.io"), "registries.mirrors[0].url"),
    ("url-user-only", mirror(url="https://robot@quay.io"), "registries.mirrors[0].url"),
    ("url-empty", mirror(url=""), "registries.mirrors[0].url"),
    ("url-no-host", mirror(url="https://"), "registries.mirrors[0].url"),
    ("url-uppercase-host", mirror(url="https://QUAY.io"), "registries.mirrors[0].url"),
    ("url-unicode-host", mirror(url="https://quаy.io"), "registries.mirrors[0].url"),  # Cyrillic a
    ("url-label-too-long", mirror(url="https://" + "a" * 64 + ".io"), "registries.mirrors[0].url"),
    ("url-name-too-long", mirror(url="https://" + ".".join(["a" * 60] * 5)), "registries.mirrors[0].url"),
    ("url-dash-label", mirror(url="https://-quay.io"), "registries.mirrors[0].url"),
    ("url-empty-label", mirror(url="https://quay..io"), "registries.mirrors[0].url"),
    ("url-bad-ipv6", mirror(url="https://[zz::1]"), "registries.mirrors[0].url"),
    ("url-not-text", mirror(url=["https://quay.io"]), "registries.mirrors[0].url"),
    ("url-number", mirror(url=443), "registries.mirrors[0].url"),
    ("url-ipv4", mirror(url="http://10.0.0.5:5000"), None),
    ("url-ipv6", mirror(url="https://[fd00::1]:5000"), None),
    ("url-trailing-slash", mirror(url="https://quay.io/"), None),
    # -- the host a mirror serves (its certs.d directory)
    ("host-dotdot", mirror(host=".."), "registries.mirrors[0].host"),
    ("host-traversal", mirror(host="../../etc"), "registries.mirrors[0].host"),
    ("host-absolute", mirror(host="/etc/containerd"), "registries.mirrors[0].host"),
    ("host-build-name", mirror(host="lok8s.local"), "registries.mirrors[0].host"),
    ("host-cache-name", mirror(host="lok8s.cache"), "registries.mirrors[0].host"),
    ("host-build-ip", mirror(host="10.125.70.101"), "registries.mirrors"),
    ("host-cache-ip", mirror(host="10.125.70.102"), "registries.mirrors"),
    ("host-port-big", mirror(host="quay.io:70000"), "registries.mirrors[0].host"),
    ("host-space", mirror(host="quay io"), "registries.mirrors[0].host"),
    ("host-semicolon", mirror(host="quay.io;rm"), "registries.mirrors[0].host"),
    ("host-newline", mirror(host="quay.io\n"), "registries.mirrors[0].host"),
    ("host-uppercase", mirror(host="Quay.io"), "registries.mirrors[0].host"),
    ("host-quote", mirror(host='quay.io"'), "registries.mirrors[0].host"),
    ("host-glob", mirror(host="*"), "registries.mirrors[0].host"),
    ("host-empty", mirror(host=""), "registries.mirrors[0].host"),
    ("host-with-port", mirror(host="registry.local:5000"), None),
    ("host-ip", mirror(host="192.168.1.5:5000"), None),
    # -- names: Docker, kind and hostnames
    ("mirror-name-upper", mirror(name="IO-Quay"), "registries.mirrors[0].name"),
    ("mirror-name-dash", mirror(name="-quay"), "registries.mirrors[0].name"),
    ("mirror-name-shell", mirror(name="quay$(id)"), "registries.mirrors[0].name"),
    ("mirror-name-long", mirror(name="q" * 80), "registries.mirrors[0].name"),
    ("mirror-name-build", mirror(name="build"), "registries.mirrors[0].name"),
    ("mirror-name-cache", mirror(name="cache"), "registries.mirrors[0].name"),
    ("mirror-name-fills-the-hostname", mirror(name="q" * 55), "registries.mirrors"),
    ("project-name-long", project_stack(name="p" * 41), "name"),
    ("project-name-dot", project_stack(name="my.project"), "name"),
    ("project-name-upper", project_stack(name="Dev"), "name"),
    ("network-name-slash", project_stack(**{"network.name": "a/b"}), "network.name"),
    ("network-name-long", project_stack(**{"network.name": "n" * 64}), "network.name"),
    ("network-name-space", project_stack(**{"network.name": "a b"}), "network.name"),
    ("prefix-long", project_stack(**{"registries.prefix": "p" * 70}), "registries.prefix"),
    ("prefix-shell", project_stack(**{"registries.prefix": "p;rm"}), "registries.prefix"),
    ("shared-stack-name", project_stack(**{"registries.shared": {"stack": "../x"}}), "registries.shared.stack"),
    # -- networks
    ("cidr-v6", project_stack(**{"network.cidr": "fd00::/64"}), "network.cidr"),
    ("cidr-16", project_stack(**{"network.cidr": "10.125.0.0/16"}), "network.cidr"),
    ("cidr-host-bits", project_stack(**{"network.cidr": "10.125.70.5/24"}), "network.cidr"),
    ("cidr-text", project_stack(**{"network.cidr": "my-network"}), "network.cidr"),
    ("cidr-newline", project_stack(**{"network.cidr": "10.125.70.0/24\n"}), "network.cidr"),
    ("address-bad", mirror(address="10.125.70.300"), "registries.mirrors[0].address"),
    ("address-v6", mirror(address="::1"), "registries.mirrors[0].address"),
    ("address-outside", mirror(address="10.125.70.200"), "registries.mirrors[0].address"),
    ("address-build", mirror(address="10.125.70.101"), "registries.mirrors[0].address"),
    ("address-other-subnet", mirror(address="10.9.9.110"), "registries.mirrors[0].address"),
    # -- images, durations, numbers, booleans
    ("image-space", project_stack(**{"registries.image": "registry 3"}), "registries.image"),
    ("image-upper", project_stack(**{"registries.image": "Registry:3"}), "registries.image"),
    ("image-bad-digest", project_stack(**{"registries.image": "registry@sha256:zz"}), "registries.image"),
    ("image-newline", project_stack(**{"registries.image": "registry:3\nx"}), "registries.image"),
    ("node-image-shell", project_stack(**{"nodes.image": "kindest/node:$(id)"}), "nodes.image"),
    ("ttl-days", mirror(ttl="7d"), "registries.mirrors[0].ttl"),
    ("ttl-negative", mirror(ttl="-1h"), "registries.mirrors[0].ttl"),
    ("ttl-shell", mirror(ttl="1h;id"), "registries.mirrors[0].ttl"),
    ("workers-negative", project_stack(**{"nodes.workers": -1}), "nodes.workers"),
    ("workers-many", project_stack(**{"nodes.workers": 500}), "nodes.workers"),
    ("workers-text", project_stack(**{"nodes.workers": "3"}), "nodes.workers"),
    ("control-planes-zero", project_stack(**{"nodes.controlPlanes": 0}), "nodes.controlPlanes"),
    ("tls-yes", project_stack(**{"registries.tls": "yes"}), "registries.tls"),
    ("tls-one", project_stack(**{"registries.tls": 1}), "registries.tls"),
    ("delete-volumes-text", project_stack(**{"registries.deleteVolumes": "true"}), "registries.deleteVolumes"),
    ("host-port-zero", project_stack(**{"registries.hostPort": 0}), "registries.hostPort"),
    ("host-port-big", project_stack(**{"registries.hostPort": 70000}), "registries.hostPort"),
    ("host-port-text", project_stack(**{"registries.hostPort": "5000"}), "registries.hostPort"),
    ("workload-path-up", project_stack(**{"workload.path": "../secrets"}), "workload.path"),
    ("workload-path-absolute", project_stack(**{"workload.path": "/etc"}), "workload.path"),
    # -- credentials: refused, and never printed
    ("password-literal", mirror(username="robot", password=SECRET), "registries.mirrors[0].password"),
    ("password-default", mirror(username="robot", password="${TOKEN:-" + SECRET + "}"), "registries.mirrors[0].password"),
    ("password-assign-default", mirror(username="robot", password="${TOKEN:=" + SECRET + "}"),
     "registries.mirrors[0].password"),
    ("password-newline", mirror(username="robot", password=SECRET + "\n"), "registries.mirrors[0].password"),
    ("password-alone", mirror(password="${TOKEN}"), "registries.mirrors[0]"),
    ("password-and-docker-login", mirror(username="r", password="${T}", useDockerLogin=True), "registries.mirrors[0]"),
    ("ksail-literal", project_stack(**{"registries.mirrors": [f"robot:{SECRET}@quay.io"]}), "registries.mirrors[0]"),
    ("ksail-malformed", project_stack(**{"registries.mirrors": [f"robot:{SECRET}@@quay.io"]}), "registries.mirrors[0]"),
    ("ksail-placeholders", project_stack(**{"registries.mirrors": ["${U}:${P}@quay.io"]}), None),
    # -- structure
    ("mirrors-not-list", project_stack(**{"registries.mirrors": "quay.io"}), "registries.mirrors"),
    ("mirror-not-mapping", project_stack(**{"registries.mirrors": [42]}), "registries.mirrors[0]"),
    ("mirrors-too-many", project_stack(**{"registries.mirrors": [f"m{i}.example.io" for i in range(30)]}),
     "registries.mirrors"),
    ("mirror-duplicate", project_stack(**{"registries.mirrors": [MIRROR, MIRROR]}), "registries.mirrors[1].name"),
    ("unknown-field", mirror(upstream="https://quay.io"), "registries.mirrors[0].upstream"),
    ("cluster-not-mapping", {"kindreg:cluster": "dev"}, "kindreg:cluster"),
    ("cluster-list", {"kindreg:cluster": ["dev"]}, "kindreg:cluster"),
    ("shared-url", shared_stack(url="https://quay.io'$(id)'"), "kindreg:shared.mirrors[0].url"),
    ("shared-host", shared_stack(host="lok8s.local"), "kindreg:shared.mirrors[0].host"),
    ("shared-address", shared_stack(address="10.125.200.250"), "kindreg:shared.mirrors[0].address"),
]

# Files whose text is not a stack config: (case id, file text, what the error names).
FILES = [
    ("yaml-alias-bomb", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
     + "config: {kindreg:cluster: {registries: {mirrors: *i}}}\n", "aliases are expanded"),
    ("yaml-deep", "config:\n  kindreg:cluster: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    ("yaml-unhashable-key", "config:\n  ? [a, b]\n  : c\n", "not a plain value"),
    ("yaml-duplicate-key", "config:\n  kindreg:cluster: {}\n  kindreg:cluster: {}\n", "duplicate key"),
    ("yaml-tab", "config:\n\tkindreg:cluster: {}\n", "not valid YAML"),
    ("yaml-not-mapping", "- config\n", "config"),
    ("yaml-config-list", "config: [1, 2]\n", "config"),
    ("yaml-huge", "config:\n  x: '" + "y" * 1_100_000 + "'\n", "larger than"),
    ("cluster-file-up", "config:\n  kindreg:clusterFile: ../outside.yaml\n", "kindreg:clusterFile"),
    ("cluster-file-absolute", "config:\n  kindreg:clusterFile: /etc/passwd\n", "kindreg:clusterFile"),
    ("cluster-file-directory", "config:\n  kindreg:clusterFile: adir\n", "is a directory"),
    ("cluster-file-binary", "config:\n  kindreg:clusterFile: binary.yaml\n", "not UTF-8"),
    ("cluster-file-symlink-out", "config:\n  kindreg:clusterFile: link.yaml\n", "outside the project"),
]


def write_project(tmp: Path, name: str, config: dict | str) -> Path:
    (tmp / "Pulumi.shared.yaml").write_text(yaml.safe_dump({"config": {"kindreg:shared": {}}}))
    text = config if isinstance(config, str) else yaml.safe_dump({"config": config}, allow_unicode=True)
    (tmp / f"Pulumi.{name}.yaml").write_text(text, encoding="utf-8")
    (tmp / "adir").mkdir(exist_ok=True)
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00kind: Lo")
    outside = tmp.parent / f"{tmp.name}-outside.yaml"
    outside.write_text("apiVersion: cluster.lok8s.dev/v1beta1\nkind: Lo\nmetadata: {name: x}\n")
    if not (tmp / "link.yaml").exists():
        (tmp / "link.yaml").symlink_to(outside)
    return tmp


def validate(tmp: Path, name: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", "--project-dir", str(tmp), "--stack", name])
    return code, out.getvalue(), err.getvalue()


def check_rendered(tmp: Path, name: str) -> None:
    """An accepted configuration: every file it renders parses with its own format's library."""
    plan = project.plan(tmp, name)
    doc = document.plan_document(plan)
    json.dumps(doc)
    for reg in plan.registries:
        for path, content in render.container_files(reg).items():
            if path.endswith(".yml"):
                assert isinstance(yaml.safe_load(content), dict), path
    for path, content in render.hosts_files(plan).items():
        assert "/" not in path.removesuffix("/hosts.toml"), path  # one directory under certs.d
        parsed = tomllib.loads(content)
        assert set(parsed) <= {"server", "ca", "host"}, parsed
    yaml.safe_load(render.kind_config(plan, "/x"))


@pytest.mark.parametrize("case, config, field", CASES, ids=[c[0] for c in CASES])
def test_hostile_values_are_refused_or_rendered_safely(tmp_path, case, config, field):
    write_project(tmp_path, case, config)
    code, out, err = validate(tmp_path, case)
    assert "Traceback" not in err
    assert SECRET not in out + err
    if field is None:
        assert code == 0, err
        check_rendered(tmp_path, case)
    else:
        assert code == 2, out
        assert field in err, err


@pytest.mark.parametrize("case, text, says", FILES, ids=[f[0] for f in FILES])
def test_hostile_files_are_refused_early(tmp_path, case, text, says):
    write_project(tmp_path, case, text)
    code, out, err = validate(tmp_path, case)
    assert code == 2, out
    assert says in err, err


def test_bombs_are_refused_within_bounded_cpu_and_memory(tmp_path):
    """The alias bomb and the deep nesting, in a process capped at 10 s of CPU and 1 GiB: an
    unbounded parser would be killed (minutes, gigabytes) instead of exiting 2."""
    import resource
    import subprocess
    import sys
    from tests.helpers import ROOT

    def caps():
        resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    for case, text, says in FILES[:2]:
        write_project(tmp_path, case, text)
        out = subprocess.run([sys.executable, "-m", "kindreg", "validate", "--project-dir", str(tmp_path),
                              "--stack", case], capture_output=True, text=True, preexec_fn=caps,
                             env={"PYTHONPATH": str(ROOT)}, cwd=ROOT)
        assert out.returncode == 2, (case, out.returncode, out.stderr[-300:])
        assert says in out.stderr


@pytest.mark.parametrize("doc", [
    [], "plan", 42, {"format": "kindreg/plan/v1"},
    {"format": "kindreg/plan/v1", "stack": "dev", "role": "project", "networks": "x"},
    {"format": "kindreg/plans/v1", "stacks": {"dev": {"format": "kindreg/plan/v1", "role": "other"}}},
    {"format": "kindreg/plans/v1", "stacks": []},
])
def test_diff_of_a_malformed_plan_names_the_file(tmp_path, doc):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(document.plan_document(project.plan(Path(__file__).parents[2], "dev"))))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(["diff", str(bad), str(good)]) == 2
    assert str(bad) in err.getvalue() and "Traceback" not in err.getvalue()


def test_diff_of_a_file_that_is_not_json_names_it(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not json")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(["diff", str(bad), str(bad)]) == 2
    assert f"{bad} is not a JSON plan document" in err.getvalue()
