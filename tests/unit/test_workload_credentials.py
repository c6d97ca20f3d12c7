"""Credentials for workload.registry from the stack's Pulumi secret config
(`pulumi config set --secret --path 'kindreg:workloadCredentials.password'`): used for that
registry only, never shown; a password in plain text in a stack file is refused."""
from __future__ import annotations

import contextlib
import io

import pytest
import yaml

from kindreg import cli
from kindreg.ops import push

CANARY = "Workload-Canary-do-not-print"
SECURE = {"secure": "v1:abc:ciphertext"}  # how the stack file holds a secret


def project(tmp_path, credentials, registry="registry.example.com:5000/team/app"):
    config = {"kindreg:cluster": {"network": {"cidr": "10.125.71.0/24"}, "nodes": {"enabled": False},
                                  "registries": {"shared": {"enabled": False}},
                                  "workload": {"registry": registry}}}
    if credentials is not None:
        config["kindreg:workloadCredentials"] = credentials
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text("kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n")
    return tmp_path


class Recorded:
    def __init__(self, secret=None):
        self.secret = secret if secret is not None else {"username": "robot", "password": CANARY}
        self.asked, self.pushed = [], []

    def config_object(self, stack, key):
        self.asked.append((stack, key))
        return self.secret

    def push(self, package, target, tls, ca, auth):
        self.pushed.append((target.reference, auth))
        return "sha256:" + "0" * 64


def run(tmp_path, monkeypatch, recorded, *extra):
    monkeypatch.setattr(cli, "STACKS", lambda project_dir: recorded)
    monkeypatch.setattr(cli, "PUSH", recorded.push)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["push", "--stack", "dev", "--project-dir", str(tmp_path), *extra])
    return code, out.getvalue() + err.getvalue()


def test_the_secret_reaches_the_configured_registry_and_no_output(tmp_path, monkeypatch):
    recorded = Recorded()
    code, text = run(project(tmp_path, {"username": "robot", "password": SECURE}), monkeypatch, recorded)
    assert code == 0, text
    assert recorded.asked == [("dev", "kindreg:workloadCredentials")]
    assert recorded.pushed == [("registry.example.com:5000/team/app:dev", ("robot", CANARY))]
    assert CANARY not in text


def test_a_registry_named_on_the_command_line_never_gets_the_secret(tmp_path, monkeypatch):
    recorded = Recorded()
    code, text = run(project(tmp_path, {"username": "robot", "password": SECURE}), monkeypatch, recorded,
                     "--registry", "other.example.com/x")
    assert code == 0, text
    assert recorded.asked == []
    assert recorded.pushed == [("other.example.com/x:dev", None)]


def test_placeholders_and_a_secret_together_are_refused(tmp_path, monkeypatch):
    recorded = Recorded()
    code, text = run(project(tmp_path, {"username": "robot", "password": SECURE},
                             registry="robot:${TOKEN}@registry.example.com/app"), monkeypatch, recorded)
    assert code == 2
    assert "has ${VAR} credentials and the stack also has kindreg:workloadCredentials; keep one" in text
    assert recorded.pushed == []


def test_a_missing_half_is_named_without_the_other(tmp_path, monkeypatch):
    recorded = Recorded(secret={"password": CANARY})
    code, text = run(project(tmp_path, {"password": SECURE}), monkeypatch, recorded)
    assert code == 2
    assert "kindreg:workloadCredentials.username of stack dev is missing" in text
    assert CANARY not in text and recorded.pushed == []


@pytest.mark.parametrize("key, value, path", [
    ("kindreg:workloadCredentials", {"username": "robot", "password": CANARY}, "kindreg:workloadCredentials.password"),
    ("kindreg:mirrorCredentials", {"io-ghcr": {"username": "o", "password": CANARY}},
     "kindreg:mirrorCredentials.io-ghcr.password"),
])
def test_a_plain_text_password_in_a_stack_file_is_refused_without_quoting_it(tmp_path, key, value, path):
    config = {"kindreg:cluster": {"network": {"cidr": "10.125.72.0/24"}}, key: value}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", "--project-dir", str(tmp_path)])
    assert code == 2
    text = out.getvalue() + err.getvalue()
    assert f"{path}: is in plain text in the stack file; remove it and set it as a secret" in text
    assert CANARY not in text


def test_secret_credentials_shape():
    assert push.secret_credentials({"username": "u", "password": "p"}, "dev") == ("u", "p")
    with pytest.raises(push.PushUsage, match="password of stack dev is missing"):
        push.secret_credentials({"username": "u"}, "dev")
    with pytest.raises(push.PushUsage, match="username of stack dev is missing"):
        push.secret_credentials("not a mapping", "dev")
