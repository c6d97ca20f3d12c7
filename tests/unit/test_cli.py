"""`kindreg validate | plan` as a user runs them: real processes, exit codes, output."""
import json

import pytest
import subprocess
import sys

from tests.helpers import INVALID, PROJECT, PROJECT_FILE, ROOT


def kindreg(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "kindreg", *args], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})


def test_plan_json_of_the_repository_stacks():
    dev = kindreg("plan", "--stack", "dev", "--json")
    assert dev.returncode == 0, dev.stderr
    doc = json.loads(dev.stdout)
    assert [r["ip"] for r in doc["registries"]] == ["10.125.125.101", "10.125.125.102"]
    assert [m["ip"] for m in doc["mirrors"]] == ["10.125.200.2", "10.125.200.3", "10.125.200.4", "10.125.200.5"]
    alt = json.loads(kindreg("plan", "--stack", "alt", "--json").stdout)
    assert [r["ip"] for r in alt["registries"]] == [
        "10.125.50.101", "10.125.50.102", "10.125.50.103", "10.125.50.104", "10.125.50.105", "10.125.50.106"]
    assert alt["sharedStack"] is None


def test_validate_every_stack_in_a_directory():
    out = kindreg("validate", "--project-dir", str(PROJECT))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 9
    assert ("stack team: ok: shared mirrors, network team-registries 10.125.210.0/24, 4 mirrors "
            "10.125.210.2-.5, tls on, stored on s3://team-mirror-cache, basic auth for 2 users") in lines
    assert any(line.startswith("stack laptop:") and line.endswith(", 2 filled through a via registry") for line in lines)
    assert ("stack dev: ok: project dev, network lok8s 10.125.125.0/24, build 10.125.125.101, "
            "cache 10.125.125.102, 4 mirrors via shared stack shared 10.125.200.2-.5, tls off") in lines


def test_validate_exits_2_listing_every_problem():
    out = kindreg("validate", "--project-dir", str(INVALID), "--stack", "unknown-fields")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == (INVALID / "unknown-fields.expected").read_text()


def test_validate_a_whole_directory_reports_each_bad_stack_and_exits_2():
    out = kindreg("validate", "--project-dir", str(INVALID))
    assert out.returncode == 2
    assert out.stderr.count("problem") >= 17
    assert "stack shared: ok" in out.stdout


def test_plan_of_a_lok8s_file():
    out = kindreg("plan", "--file", str(PROJECT_FILE / "clusters" / "dev.lok8s.yaml"),
                  "--project-dir", str(PROJECT))
    assert out.returncode == 0, out.stderr
    assert "lok8s-registry-io-docker  10.125.200.2" in out.stdout
    assert "kind nodes: dev-control-plane, dev-worker" in out.stdout


def test_plan_needs_a_target():
    out = kindreg("plan")
    assert out.returncode == 2
    assert out.stderr.strip() == "plan needs --stack NAME, --file PATH or --all"


def test_plan_of_a_missing_stack_names_the_file():
    out = kindreg("plan", "--stack", "nope")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["Pulumi.nope.yaml: 1 problem:", "  - the file does not exist"]


def test_bin_kindreg_runs_from_anywhere_with_the_checkout_as_project(tmp_path):
    """The wrapper the README shows: the checkout's stacks, whatever the working directory."""
    out = subprocess.run([str(ROOT / "bin" / "kindreg"), "validate"], cwd=tmp_path, capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "stack dev: ok: project dev" in out.stdout


def test_help_says_which_commands_use_which_engine():
    out = kindreg("--help")
    assert out.returncode == 0
    assert "usage: kindreg" in out.stdout
    assert "up, preview and down run the stacks through the Pulumi engine" in out.stdout
    assert "without Docker" not in out.stdout


def test_the_example_manifests_are_what_push_sends_by_default():
    from kindreg.adapters.mkcert import LocalCA
    from kindreg.ops import push
    job = push.prepare([], "dev", None, False, ROOT, LocalCA({}))
    assert job.directory == ROOT / "k8s"
    assert [p.name for p in push.files.manifest_files(job.directory)] == ["hello.yaml"]
    assert job.target.reference == "10.125.125.101/k8s:dev"


def test_engine_commands_use_the_stacks_docker_host(tmp_path, monkeypatch):
    """status, doctor and cache talk to the engine the stack's resources live on (`docker:host`)."""
    from kindreg import cli as cli_module
    from tests.fake_engine import FakeEngine
    stack = {"kindreg:cluster": {"network": {"cidr": "10.125.73.0/24"}, "registries": {"shared": {"enabled": False}}},
             "docker:host": "ssh://builder@10.0.0.5"}
    import yaml
    (tmp_path / "Pulumi.remote.yaml").write_text(yaml.safe_dump({"config": stack}))
    asked = []
    monkeypatch.setattr(cli_module, "REMOTE_ENGINE", lambda host: asked.append(host) or FakeEngine())
    monkeypatch.setattr(cli_module, "ENGINE", lambda: pytest.fail("the default engine was used"))
    assert cli_module.main(["status", "--project-dir", str(tmp_path)]) == 0
    assert cli_module.main(["status", "--stack", "remote", "--project-dir", str(tmp_path)]) == 0
    cli_module.main(["doctor", "--project-dir", str(tmp_path)])
    assert asked == ["ssh://builder@10.0.0.5"] * 3


def test_stacks_on_different_engines_need_a_stack_named(tmp_path, monkeypatch, capsys):
    from kindreg import cli as cli_module
    import yaml
    for name, slot, host in (("a", 74, "unix:///run/a.sock"), ("b", 75, None)):
        config = {"kindreg:cluster": {"network": {"name": name, "cidr": f"10.125.{slot}.0/24"},
                                      "registries": {"shared": {"enabled": False}}}}
        if host:
            config["docker:host"] = host
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    assert cli_module.main(["status", "--project-dir", str(tmp_path)]) == 2
    assert "  - docker:host: is unix:///run/a.sock for some stacks and the default engine for others; name one with " \
           "--stack" in capsys.readouterr().err


def test_bin_kindreg_never_recreates_an_existing_environment(tmp_path):
    """An existing .venv is installed into, never re-created: a python3 on PATH other than the
    one that made it would otherwise swap the interpreter under its packages."""
    import shutil
    checkout = tmp_path / "checkout"
    (checkout / "bin").mkdir(parents=True)
    shutil.copy(ROOT / "bin" / "kindreg", checkout / "bin" / "kindreg")
    (checkout / "requirements.txt").write_text("pulumi==0\n")
    venv_bin = checkout / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    log = tmp_path / "calls"
    (venv_bin / "python").write_text(f'#!/bin/sh\necho "venv-python $*" >> {log}\n')
    (venv_bin / "python").chmod(0o755)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python3").write_text(f'#!/bin/sh\necho "path-python3 $*" >> {log}\nexit 1\n')
    (tools / "python3").chmod(0o755)
    env = {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for _ in range(2):
        out = subprocess.run([str(checkout / "bin" / "kindreg"), "status"], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
    calls = log.read_text().splitlines()
    assert calls == [f"venv-python -m pip install -q --disable-pip-version-check -r {checkout}/requirements.txt",
                     "venv-python -m kindreg status", "venv-python -m kindreg status"]


def test_cache_prune_refuses_bad_flags_naming_each_and_touches_no_engine():
    # DOCKER_HOST points nowhere: a prune that got past its flags would fail otherwise, exit 1.
    out = subprocess.run([sys.executable, "-m", "kindreg", "cache", "prune", "--older-than", "a week",
                          "--max-size=-3GiB", "--stack", "nope", "--project-dir", str(ROOT)], cwd=ROOT,
                         capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert out.returncode == 2, out.stderr
    assert '--older-than: "a week" is not a duration; write it like "7d"' in out.stderr
    assert '--max-size: "-3GiB" is not a size; write it like "20GiB"' in out.stderr
    assert '--stack: "nope" is not a stack of' in out.stderr


def test_cache_without_an_action_is_cache_add():
    from kindreg import cli as cli_module
    assert cli_module.cache_shorthand(["cache", "--stack", "dev", "ghcr.io/a:1"]) == [
        "cache", "add", "--stack", "dev", "ghcr.io/a:1"]
    assert cli_module.cache_shorthand(["cache", "prune", "--dry-run"]) == ["cache", "prune", "--dry-run"]
    assert cli_module.cache_shorthand(["cache", "--help"]) == ["cache", "--help"]
    assert cli_module.cache_shorthand(["status"]) == ["status"]


def test_cache_prune_and_restore_hold_the_lock_up_holds_on_the_mirrors_stack(tmp_path, monkeypatch):
    """While a prune or a restore changes the shared stack's containers, an `up` of that stack
    waits: both take this machine's lock on it (adapters.machinelock)."""
    import fcntl
    import os

    from kindreg import cli as cli_module
    from kindreg.adapters import pulumi as pulumi_adapter
    from kindreg.ops import archive, prune
    from tests.fake_engine import FakeEngine
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cli_module, "ENGINE", FakeEngine)
    lock = {}
    real = pulumi_adapter.stack_lock

    def spy(project_dir, env, name, out):
        lock.setdefault("names", []).append(name)
        held = real(project_dir, env, name, out)
        lock["dir"] = tmp_path / "cache"
        return held

    def held_now() -> bool:
        for path in (tmp_path / "cache").rglob("*.lock"):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)
        return False

    monkeypatch.setattr(pulumi_adapter, "stack_lock", spy)
    monkeypatch.setattr(prune, "prune", lambda *a, **k: [prune.Outcome("io-docker", None, held_now(), "x")])
    monkeypatch.setattr(archive, "verify", lambda path: None)
    monkeypatch.setattr(archive, "restore", lambda *a, **k: [archive.Restored("shared/io-docker", held_now(), "x")])
    assert cli_module.main(["cache", "prune", "--stack", "shared", "--project-dir", str(ROOT)]) == 0
    assert cli_module.main(["cache", "restore", str(tmp_path / "f"), "--stack", "shared",
                            "--project-dir", str(ROOT)]) == 0
    assert lock["names"] == ["shared", "shared"] and not held_now()
