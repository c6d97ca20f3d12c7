"""The Command scripts, run for real by sh against fake docker / kind / mkcert binaries."""
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from kindreg.core import scripts
from kindreg.ops import connect, guard
from tests.fake_engine import FakeEngine, container, node


def fake(bin_dir: Path, name: str, body: str) -> None:
    """A fake CLI: logs its arguments to $FAKE_LOG, then runs `body` (sh)."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$FAKE_LOG"\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run(script: str, tmp: Path, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    bin_dir = tmp / "bin"
    full_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp / "calls.log"), **env}
    return subprocess.run(["/bin/sh", "-c", script], input=stdin, capture_output=True, text=True,
                          env=full_env, check=False)


def calls(tmp: Path) -> list[str]:
    log = tmp / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def tmp(tmp_path):
    (tmp_path / "bin").mkdir()
    return tmp_path


# ---------------------------------------------------------------- certs.d tree

def test_hosts_file_is_written_exactly_and_rewritten_in_place(tmp):
    tree = tmp / "certs.d"
    env = {"KINDREG_CERTS_DIR": str(tree), "KINDREG_HOST": "docker.io"}
    assert run(scripts.CERTS_DIR_CREATE, tmp, env).returncode == 0
    content = 'server = "https://registry-1.docker.io"\n\n[host."http://10.125.200.2"]\n  capabilities = ["pull"]\n'
    assert run(scripts.HOSTS_FILE_WRITE, tmp, {**env, "KINDREG_CONTENT": content}).returncode == 0
    target = tree / "docker.io" / "hosts.toml"
    assert target.read_text() == content
    tree_inode = tree.stat().st_ino
    run(scripts.HOSTS_FILE_WRITE, tmp, {**env, "KINDREG_CONTENT": "server = \"x\"\n"})
    assert target.read_text() == 'server = "x"\n'
    assert tree.stat().st_ino == tree_inode  # the bind-mounted directory itself is untouched
    assert sorted(p.name for p in (tree / "docker.io").iterdir()) == ["hosts.toml"]  # no temp left


def test_hosts_file_delete_then_tree_delete(tmp):
    tree = tmp / "certs.d"
    env = {"KINDREG_CERTS_DIR": str(tree), "KINDREG_CONTENT": "x"}  # the delete runs with the old inputs
    run(scripts.CERTS_DIR_CREATE, tmp, env)
    for host in ("docker.io", "lok8s.local"):
        run(scripts.HOSTS_FILE_WRITE, tmp, {**env, "KINDREG_HOST": host})
    run(scripts.HOSTS_FILE_DELETE, tmp, {**env, "KINDREG_HOST": "docker.io"})
    assert sorted(p.name for p in tree.iterdir()) == ["lok8s.local"]
    run(scripts.CERTS_DIR_DELETE, tmp, env)
    assert tree.exists()  # not empty: left alone
    run(scripts.HOSTS_FILE_DELETE, tmp, {**env, "KINDREG_HOST": "lok8s.local"})
    run(scripts.CERTS_DIR_DELETE, tmp, env)
    assert not tree.exists()


@pytest.mark.parametrize("old, new", [("a\n", "b\n"), ("same-prefix\n", "same-prefix\n\n"), ("x", "x\n")])
def test_a_replaced_hosts_file_survives_the_delete_of_the_resource_it_replaced(tmp, old, new):
    # Pulumi creates the replacement first, then deletes the original with the original's inputs.
    env = {"KINDREG_CERTS_DIR": str(tmp / "certs.d"), "KINDREG_HOST": "lok8s.local"}
    run(scripts.HOSTS_FILE_WRITE, tmp, {**env, "KINDREG_CONTENT": old})
    run(scripts.HOSTS_FILE_WRITE, tmp, {**env, "KINDREG_CONTENT": new})
    assert run(scripts.HOSTS_FILE_DELETE, tmp, {**env, "KINDREG_CONTENT": old}).returncode == 0
    assert (tmp / "certs.d" / "lok8s.local" / "hosts.toml").read_text() == new


def test_ca_copy_and_delete(tmp):
    tree, ca = tmp / "certs.d", tmp / "rootCA.pem"
    ca.write_text("CA")
    env = {"KINDREG_CERTS_DIR": str(tree), "KINDREG_CA_SOURCE": str(ca),
           "KINDREG_CA_SHA256": hashlib.sha256(b"CA").hexdigest()}
    assert run(scripts.CA_COPY, tmp, env).returncode == 0
    assert (tree / ".ca" / "rootCA.pem").read_text() == "CA"
    run(scripts.CA_DELETE, tmp, env)
    assert not (tree / ".ca").exists()


def test_a_new_ca_copy_survives_the_delete_of_the_old_one(tmp):
    tree, ca = tmp / "certs.d", tmp / "rootCA.pem"
    ca.write_text("NEW CA")
    new = {"KINDREG_CERTS_DIR": str(tree), "KINDREG_CA_SOURCE": str(ca),
           "KINDREG_CA_SHA256": hashlib.sha256(b"NEW CA").hexdigest()}
    run(scripts.CA_COPY, tmp, new)
    old = {**new, "KINDREG_CA_SHA256": hashlib.sha256(b"OLD CA").hexdigest()}
    assert run(scripts.CA_DELETE, tmp, old).returncode == 0
    assert (tree / ".ca" / "rootCA.pem").read_text() == "NEW CA"


def test_kind_update_keeps_the_cluster_it_has_and_creates_a_missing_one(tmp):
    fake(tmp / "bin", "kind", '[ "$1 $2" = "get clusters" ] && [ -n "$HAVE" ] && echo dev\n'
                              '[ "$1 $2" = "get nodes" ] && echo dev-control-plane; exit 0')
    env = {"KINDREG_CLUSTER": "dev", "KINDREG_NETWORK": "lok8s", "KINDREG_WAIT": "1s"}
    out = run(scripts.KIND_UPDATE, tmp, {**env, "HAVE": "1"}, stdin="kind: Cluster\n")
    assert out.returncode == 0 and out.stdout == "dev-control-plane\n"
    assert not any(c.startswith("kind create") for c in calls(tmp))
    out = run(scripts.KIND_UPDATE, tmp, env, stdin="kind: Cluster\n")
    assert out.returncode == 0
    assert "kind create cluster --name dev --config /dev/stdin --wait 1s" in calls(tmp)


# ---------------------------------------------------------------- mkcert

def test_mkcert_script_prints_only_the_certificate_fingerprint(tmp):
    fake(tmp / "bin", "mkcert", 'shift; cert=$1; shift 2; key=$1; shift; echo "CERT $*" > "$cert"; '
                                 'echo "SECRET-KEY" > "$key"; echo "created for $*"')
    tls = tmp / "tls"
    out = run(scripts.MKCERT_CREATE, tmp, {"KINDREG_TLS_DIR": str(tls), "KINDREG_SANS": "10.0.0.101 lok8s.local"})
    assert out.returncode == 0, out.stderr
    cert = (tls / "cert.pem").read_bytes()
    assert out.stdout == hashlib.sha256(cert).hexdigest() + "\n"
    assert cert == b"CERT 10.0.0.101 lok8s.local\n"
    assert "SECRET-KEY" not in out.stdout + out.stderr
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    assert not (tls / "mkcert.log").exists()
    run(scripts.MKCERT_DELETE, tmp, {"KINDREG_TLS_DIR": str(tls)})
    assert not tls.exists()


def test_mkcert_sans_are_never_glob_expanded(tmp):
    fake(tmp / "bin", "mkcert", 'shift; cert=$1; shift 2; key=$1; shift; echo "CERT $*" > "$cert"; : > "$key"')
    (tmp / "a-file-in-the-working-directory").write_text("x")
    env = {"KINDREG_TLS_DIR": str(tmp / "tls"), "KINDREG_SANS": "* 10.0.0.101"}
    out = subprocess.run(["/bin/sh", "-c", scripts.MKCERT_CREATE], capture_output=True, text=True, cwd=tmp,
                         env={"PATH": f"{tmp / 'bin'}:{os.environ['PATH']}", "FAKE_LOG": str(tmp / "log"), **env})
    assert out.returncode == 0, out.stderr
    assert (tmp / "tls" / "cert.pem").read_text() == "CERT * 10.0.0.101\n"


def test_mkcert_without_sans_fails_and_mints_nothing(tmp):
    fake(tmp / "bin", "mkcert", 'echo called')
    out = run(scripts.MKCERT_CREATE, tmp, {"KINDREG_TLS_DIR": str(tmp / "tls"), "KINDREG_SANS": ""})
    assert out.returncode == 1 and "no subject alternative names" in out.stderr
    assert calls(tmp) == [] and not (tmp / "tls").exists()


def test_mkcert_failure_shows_mkcert_output(tmp):
    fake(tmp / "bin", "mkcert", 'echo "ERROR: failed to read the CA key" >&2; exit 1')
    out = run(scripts.MKCERT_CREATE, tmp, {"KINDREG_TLS_DIR": str(tmp / "tls"), "KINDREG_SANS": "a"})
    assert out.returncode == 1
    assert "failed to read the CA key" in out.stderr


# ---------------------------------------------------------------- kind

def test_kind_create_passes_network_config_and_prints_nodes(tmp):
    fake(tmp / "bin", "kind", 'case "$1 $2" in '
                              '"get clusters") ;; '
                              '"create cluster") echo "net=$KIND_EXPERIMENTAL_DOCKER_NETWORK" >> "$FAKE_LOG"; '
                              'cat >> "$FAKE_LOG"; echo "Creating cluster";; '
                              '"get nodes") printf "dev-worker\\ndev-control-plane\\n";; esac')
    env = {"KINDREG_CLUSTER": "dev", "KINDREG_NETWORK": "lok8s", "KINDREG_WAIT": "60s"}
    out = run(scripts.KIND_CREATE, tmp, env, stdin="kind: Cluster\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "dev-control-plane\ndev-worker\n"  # the node list only
    log = calls(tmp)
    assert "kind create cluster --name dev --config /dev/stdin --wait 60s" in log
    assert "net=lok8s" in log and "kind: Cluster" in log


def test_kind_create_refuses_a_cluster_it_did_not_create(tmp):
    fake(tmp / "bin", "kind", '[ "$1 $2" = "get clusters" ] && echo dev')
    out = run(scripts.KIND_CREATE, tmp, {"KINDREG_CLUSTER": "dev", "KINDREG_NETWORK": "n", "KINDREG_WAIT": "1s"})
    assert out.returncode == 1
    assert "a kind cluster named dev already exists and this stack did not create it" in out.stderr
    assert not any(c.startswith("kind create") for c in calls(tmp))


def test_network_connect_is_idempotent_and_disconnect_undoes_it():
    engine = FakeEngine(containers=[
        node("dev-control-plane", "dev", {"lok8s": "10.125.125.130"}),
        node("dev-worker", "dev", {"lok8s": "10.125.125.131", "lok8s-registries": "10.125.200.130"}),
        node("qa-control-plane", "qa", {"qa": "10.125.60.130"})])
    assert connect.connect(engine, "dev", "lok8s-registries") == [
        "dev-control-plane connected to lok8s-registries", "dev-worker already on lok8s-registries"]
    assert engine.calls == [("network connect", ("lok8s-registries", "dev-control-plane"))]
    engine.calls.clear()
    connect.disconnect(engine, "dev", "lok8s-registries")
    assert engine.calls == [("network disconnect", ("lok8s-registries", "dev-control-plane")),
                            ("network disconnect", ("lok8s-registries", "dev-worker"))]


def test_the_steps_run_the_project_code_with_the_program_interpreter(tmp):
    fake(tmp / "bin", "python-double", 'echo "args: $*"')
    env = {"KINDREG_PYTHON": str(tmp / "bin" / "python-double")}
    assert run(scripts.NETWORK_CONNECT, tmp, env).stdout == "args: -m kindreg.ops.connect connect\n"
    assert run(scripts.SHARED_GUARD_DELETE, tmp, env).stdout == "args: -m kindreg.ops.guard\n"


# ---------------------------------------------------------------- shared stack guard

def attached(*names):
    """Containers on the shared network, labelled as kindreg and kind label them."""
    out = []
    for name in names:
        if name.startswith("lok8s-registry-"):
            out.append(container(name, {"kindreg.managed": "true"}, {"lok8s-registries": "10.125.200.2"}))
        elif name.startswith(("dev-", "qa-")):
            out.append(node(name, name.split("-")[0], {"lok8s-registries": "10.125.200.130"}))
        else:
            out.append(container(name, {}, {"lok8s-registries": "10.125.200.140"}))
    return out


def test_guard_refuses_while_project_nodes_are_attached():
    engine = FakeEngine(network_members={"lok8s-registries": attached(
        "lok8s-registry-io-docker", "qa-control-plane", "dev-worker", "dev-control-plane", "stray")})
    assert guard.refusal(engine, "lok8s-registries").splitlines() == [
        "kindreg: not destroying the shared registries: network lok8s-registries is still used by",
        "  project (not a kind node): stray",
        "  project dev: dev-control-plane, dev-worker",
        "  project qa: qa-control-plane",
        "Destroy those projects first (kindreg down --stack <project>), or disconnect their nodes:",
        "  docker network disconnect lok8s-registries <node>",
    ]


def test_guard_ignores_the_project_going_down_with_the_shared_stack():
    """`kindreg down --shared` destroys the project first: its own nodes do not block."""
    engine = FakeEngine(network_members={"lok8s-registries": attached(
        "lok8s-registry-io-docker", "dev-worker", "dev-control-plane")})
    assert guard.refusal(engine, "lok8s-registries", frozenset({"dev"})) is None
    engine = FakeEngine(network_members={"lok8s-registries": attached("dev-worker", "qa-control-plane")})
    assert guard.refusal(engine, "lok8s-registries", frozenset({"dev"})).splitlines()[1] == \
        "  project qa: qa-control-plane"


@pytest.mark.parametrize("members", [
    {"lok8s-registries": attached("lok8s-registry-io-docker", "lok8s-registry-io-quay")},  # only its own mirrors
    {"lok8s-registries": []},
    {},  # the network is gone: nothing left to guard
])
def test_guard_lets_destroy_proceed(members):
    assert guard.refusal(FakeEngine(network_members=members), "lok8s-registries") is None


def test_guard_fails_closed_when_the_engine_cannot_be_asked(monkeypatch, capsys):
    engine = FakeEngine(reachable=False)
    reason = guard.refusal(engine, "lok8s-registries")
    assert reason.startswith("kindreg: not destroying the shared registries: network lok8s-registries "
                             "could not be checked (cannot reach the Docker engine")
    assert "nothing was deleted" in reason
    monkeypatch.setenv("KINDREG_NETWORK", "lok8s-registries")
    assert guard.main(engine) == 1
    assert "could not be checked" in capsys.readouterr().err


# A docker that runs `docker run ... -v VOLUME:/certs.d ... --entrypoint sh IMAGE -c SCRIPT` here,
# with the volume as a directory under $VOLUMES: what the tree's Commands run, minus the engine.
FAKE_DOCKER_RUN = r'''
vol=""
while [ $# -gt 0 ]; do
  case "$1" in
    run|--rm|-i) shift ;;
    --network|--label) shift 2 ;;
    -e) case "$2" in *=*) export "$2" ;; esac; shift 2 ;;
    -v) vol="${2%%:*}"; [ "${2#*:}" = /certs.d ] || exit 9; shift 2 ;;
    --entrypoint) shift 3 ;;
    *) break ;;
  esac
done
[ "$KINDREG_CERTS_DIR" = /certs.d ] || exit 8
export KINDREG_CERTS_DIR="$VOLUMES/$vol"
exec sh "$@"
'''


def test_volume_scripts_write_the_tree_through_a_container_that_mounts_it(tmp):
    fake(tmp / "bin", "docker", FAKE_DOCKER_RUN)
    content = 'server = "https://quay.io"\n# a value with \'quotes\', $(no expansion) and "more"\n'
    env = {"VOLUMES": str(tmp / "volumes"), "KINDREG_CERTS_VOLUME": "dev-certs", "KINDREG_IMAGE": "sha256:r",
           "KINDREG_HOST": "quay.io", "KINDREG_CONTENT": content}
    assert run(scripts.VOLUME_HOSTS_FILE_WRITE, tmp, env).returncode == 0
    written = tmp / "volumes" / "dev-certs" / "quay.io" / "hosts.toml"
    assert written.read_text() == content
    assert calls(tmp)[0].startswith("docker run --rm -i --network none --label kindreg.managed=true ")
    assert content not in calls(tmp)[0], "the content crosses as an environment variable, not an argument"
    assert run(scripts.VOLUME_HOSTS_FILE_DELETE, tmp, {**env, "KINDREG_CONTENT": "older"}).returncode == 0
    assert written.exists(), "a file this resource did not write stays"
    assert run(scripts.VOLUME_HOSTS_FILE_DELETE, tmp, env).returncode == 0
    assert not written.parent.exists()


def test_volume_ca_copy_reads_the_ca_on_stdin(tmp):
    fake(tmp / "bin", "docker", FAKE_DOCKER_RUN)
    ca = tmp / "rootCA.pem"
    ca.write_text("CA PEM\n")
    env = {"VOLUMES": str(tmp / "volumes"), "KINDREG_CERTS_VOLUME": "v", "KINDREG_IMAGE": "i",
           "KINDREG_CA_SOURCE": str(ca), "KINDREG_CA_SHA256": hashlib.sha256(b"CA PEM\n").hexdigest()}
    assert run(scripts.VOLUME_CA_COPY, tmp, env).returncode == 0
    assert (tmp / "volumes" / "v" / ".ca" / "rootCA.pem").read_text() == "CA PEM\n"
    assert str(ca) not in calls(tmp)[0], "the host path of the CA never reaches the container"
    assert run(scripts.VOLUME_CA_DELETE, tmp, env).returncode == 0
    assert not (tmp / "volumes" / "v" / ".ca").exists()
