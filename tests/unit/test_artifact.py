"""The Flux artifact: a reproducible package, the push target's resolution order, Flux's manifests."""
import io
import os
import tarfile

import pytest
import yaml

from kindreg.adapters import files
from kindreg.core import artifact
from kindreg.core.artifact import Target, resolve
from tests.helpers import plan_of


def manifests(tmp_path, files):
    d = tmp_path / "k8s"
    for name, text in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


def test_the_package_depends_on_paths_and_contents_only(tmp_path):
    d = manifests(tmp_path, {"b.yaml": "b", "a/deploy.yaml": "kind: Deployment", ".git/HEAD": "x"})
    first = files.package_manifests(d)
    os.utime(d / "b.yaml", (1, 1))
    (d / "b.yaml").chmod(0o600)
    assert files.package_manifests(d) == first  # times and modes do not matter
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert tar.getnames() == ["a/deploy.yaml", "b.yaml"]  # sorted, no .git
        assert tar.extractfile("a/deploy.yaml").read() == b"kind: Deployment"
    (d / "b.yaml").write_text("b2")
    assert files.package_manifests(d) != first


@pytest.mark.parametrize("explicit, flag, configured, configured_tag, expected", [
    ("oci://ghcr.io/org/k8s:v1", "x.io/y", "z.io/w", "t", Target("ghcr.io", "org/k8s", "v1", "the oci:// reference")),
    ("oci://localhost:5050/k8s", None, None, "pr-7", Target("localhost:5050", "k8s", "pr-7", "the oci:// reference")),
    (None, "registry.local:5000/apps", "z.io/w", None,
     Target("registry.local:5000", "apps", "dev", "--registry / KINDREG_REGISTRY")),
    (None, None, "ghcr.io/org/manifests:stable", None, Target("ghcr.io", "org/manifests", "stable", "workload.registry")),
    (None, None, "ghcr.io/org/manifests:stable", "v2", Target("ghcr.io", "org/manifests", "v2", "workload.registry")),
    (None, None, None, None, Target("10.125.125.101", "k8s", "dev", "the stack's build registry")),
])
def test_target_resolution_order(explicit, flag, configured, configured_tag, expected):
    assert resolve(explicit, flag, configured, configured_tag, "10.125.125.101") == expected


def test_no_registry_anywhere():
    with pytest.raises(ValueError, match="no registry to push to"):
        resolve(None, None, None, None, None)


def test_the_host_reaches_the_build_registry_by_port_when_published():
    assert artifact.build_registry_from_host(plan_of("dev")) == "10.125.125.101"
    assert artifact.build_registry_from_host(plan_of("qa")) == "localhost:5050"


def test_flux_manifests_plain():
    docs = list(yaml.safe_load_all(artifact.flux_manifests(plan_of("dev"))))
    repo, kustomization = docs
    assert repo["kind"] == "OCIRepository" and repo["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert repo["spec"] == {"interval": "1m", "url": "oci://lok8s.local/k8s", "ref": {"tag": "dev"}, "insecure": True}
    assert kustomization["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "kindreg-dev"}


def test_flux_manifests_tls_trust_the_ca_through_a_secret():
    secret, repo, _ = yaml.safe_load_all(artifact.flux_manifests(plan_of("qa"), ca_pem="PEM", tag="v1"))
    assert secret["stringData"] == {"ca.crt": "PEM"}
    assert repo["spec"]["certSecretRef"] == {"name": "kindreg-qa-ca"} and "insecure" not in repo["spec"]
    assert repo["spec"]["ref"] == {"tag": "v1"}


def test_push_cli_errors(tmp_path, capsys):
    from kindreg import cli
    from tests.helpers import PROJECT

    assert cli.main(["push", "--project-dir", str(PROJECT), "--stack", "shared"]) == 2
    assert "stack shared is the shared mirrors stack; give a project stack" in capsys.readouterr().err
    assert cli.main(["push", str(tmp_path / "absent"), "oci://127.0.0.1:9/k8s"]) == 2
    assert "is not a directory of manifests" in capsys.readouterr().err
    d = manifests(tmp_path, {"a.yaml": "a"})
    assert cli.main(["push", str(d), "oci://127.0.0.1:9/k8s", "--plain-http"]) == 1
    assert capsys.readouterr().err.strip() == (
        "push: cannot reach the registry 127.0.0.1:9 (Connection refused); is it running, and is the address right?")
    assert cli.main(["push", str(d), "oci://a/b", "oci://c/d"]) == 2


# KSail's local-registry grammar (pkg/apis/cluster/v1alpha1/local_registry_test.go shapes).
@pytest.mark.parametrize("text, host, repository, tag, user, password", [
    ("localhost", "localhost:5000", "k8s", None, None, None),
    ("127.0.0.1", "127.0.0.1:5000", "k8s", None, None, None),
    ("localhost:5050", "localhost:5050", "k8s", None, None, None),
    ("ghcr.io/myorg/myrepo", "ghcr.io", "myorg/myrepo", None, None, None),
    ("ghcr.io:443/myorg", "ghcr.io:443", "myorg", None, None, None),
    ("registry.example.com", "registry.example.com", "k8s", None, None, None),
    ("ghcr.io/org/repo:mytag", "ghcr.io", "org/repo", "mytag", None, None),
    ("registry.io:5000/lib/app:v1", "registry.io:5000", "lib/app", "v1", None, None),
    ("admin:${PASS}@registry.io:5000/path", "registry.io:5000", "path", None, "admin", "${PASS}"),
    ("admin@registry.io", "registry.io", "k8s", None, "admin", None),
    ("${USER}:${PASS}@ghcr.io:443/org", "ghcr.io:443", "org", None, "${USER}", "${PASS}"),
])
def test_ksail_local_registry_grammar(text, host, repository, tag, user, password):
    from kindreg.core.imageref import parse_registry_spec
    spec = parse_registry_spec(text, "workload.registry")
    assert (spec.host, spec.repository, spec.tag, spec.username, spec.password) == \
        (host, repository, tag, user, password)


@pytest.mark.parametrize("text", ["admin:secret-do-not-print@registry.io:5000/path",
                                  "u:${P:-secret-do-not-print}@ghcr.io/org",
                                  "user:p:a:ss-do-not-print@ghcr.io"])
def test_a_literal_password_in_the_workload_registry_is_refused_unshown(text):
    from kindreg.core.errors import ConfigError
    from kindreg.core.load import project_mapping
    with pytest.raises(ConfigError) as err:
        project_mapping({"workload": {"registry": text}}, "p", "t")
    rendered = err.value.render()
    assert "workload.registry" in rendered and "literal password" in rendered
    assert "do-not-print" not in rendered and "secret" not in rendered


def test_push_expands_placeholder_credentials_and_never_prints_them(tmp_path):
    from kindreg.ops import push as push_op
    target = resolve(None, None, "${REG_USER}:${REG_PASS}@ghcr.io/org/k8s", None, None)
    assert "REG_PASS" not in target.reference and "ghcr.io/org/k8s:dev" == target.reference
    assert push_op.credentials(target, {"REG_USER": "bot", "REG_PASS": "t0ken"}) == ("bot", "t0ken")
    with pytest.raises(push_op.PushUsage) as err:
        push_op.credentials(target, {"REG_USER": "bot"})
    assert "uses ${REG_PASS}, which is not set" in str(err.value)
