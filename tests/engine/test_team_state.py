"""Team state: kindreg on Pulumi's s3 state backend (`PULUMI_BACKEND_URL=s3://...?endpoint=...`),
the bucket on SeaweedFS built from its Go module, under the real engine.

Two users (two checkouts, one backend, the team's one passphrase) share the stacks: one brings
the shared stack up, then both bring up a project each at the same moment and both succeed,
each reading the shared stack's outputs from the bucket. The s3 backend's lock is the engine's:
a lock another machine holds is reported and left alone (kindreg recovers only the locks of a
file backend on this machine), and once its owner removes it, `up` goes through.
"""
from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.doubles import ownership
from tests.engine.conftest import EngineProject, engine_environment
from tests.engine.test_lifecycle import User, project_config, shared_config
from tests.live.conftest import engine, test_images, upstream  # noqa: F401
from tests.live.seaweed import SeaweedS3, weed_binary

pytestmark = pytest.mark.engine

NET, PREFIX = "10.225", "krts"
BUCKET = "kindreg-state"
TIMEOUT = 600
FOREIGN_LOCK = {"pid": 4242, "username": "bob", "hostname": "another-laptop", "timestamp": "2026-12-08T09:00:00Z"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    store = SeaweedS3(weed_binary(), "127.0.0.1", tmp_path_factory.mktemp("seaweed-state"))
    store.start()
    store.create_bucket(BUCKET)
    yield store
    store.remove()


def team_user(s3, test_images, workdir, name: str) -> User:  # noqa: F811
    project = EngineProject(workdir / name, engine_environment(test_images))
    # The state in the team's bucket; the keys from the environment, as the AWS SDK reads them.
    project.env.update({"PULUMI_BACKEND_URL": s3.backend_url(BUCKET), "AWS_ACCESS_KEY_ID": s3.access_key,
                        "AWS_SECRET_ACCESS_KEY": s3.secret_key, "AWS_REGION": "us-east-1"})
    return User(project, workdir / name / "config-home")


@pytest.fixture(scope="module")
def users(engine, test_images, upstream, s3, tmp_path_factory, pulumi_cli):  # noqa: F811
    work = tmp_path_factory.mktemp("team-state")
    (work / "a").mkdir(), (work / "b").mkdir()
    a, b = team_user(s3, test_images, work, "a"), team_user(s3, test_images, work, "b")
    registry, node = test_images
    for user in (a, b):  # one repository: each checkout has the shared stack's file
        user.project.write("shared", shared_config(registry, upstream.port, PREFIX, NET))
    a.project.write("p1", project_config("p1", 11, registry, node, 0, PREFIX, NET, "ts"))
    b.project.write("p2", project_config("p2", 12, registry, node, 0, PREFIX, NET, "ts"))
    yield a, b
    for user, stack in ((a, "p1"), (b, "p2"), (a, "shared")):
        user.run("down", "--stack", stack, "--yes")
    ownership.sweep(engine)


def share_passphrase(a: User, b: User) -> None:
    """The team's one passphrase (what a team keeps in its secret store): b gets a's."""
    b.passphrase.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(a.passphrase, b.passphrase)


def test_two_users_bring_up_their_stacks_at_once_on_the_s3_backend(users, s3):
    a, b = users
    out = a.run("up", "--stack", "shared", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    share_passphrase(a, b)
    runs = [a.start("up", "--stack", "p1", "--yes"), b.start("up", "--stack", "p2", "--yes")]
    results = [(p.wait(TIMEOUT), p.stdout.read()) for p in runs]
    for code, text in results:
        assert code == 0, text
    keys = s3.objects(BUCKET)
    for stack in ("shared", "p1", "p2"):
        assert f".pulumi/stacks/kindreg/{stack}.json" in keys, keys
    assert not [k for k in keys if k.startswith(".pulumi/locks/") and k.endswith(".json")], keys
    # b reads what a brought up, from the bucket.
    status = b.run("status", "--stack", "p2")
    assert status.returncode == 0, status.stdout + status.stderr


def test_a_lock_another_machine_holds_is_reported_and_left_alone(users, s3):
    a, _ = users
    key = ".pulumi/locks/organization/kindreg/p1/0f4e7c1a-foreign.json"
    s3.put(BUCKET, key, json.dumps(FOREIGN_LOCK).encode())
    try:
        out = a.run("up", "--stack", "p1", "--yes")
        text = out.stdout + out.stderr
        assert out.returncode != 0, text
        assert "locked by 1 lock(s)" in text and "bob@another-laptop (pid 4242)" in text, text
        assert key in s3.objects(BUCKET), "kindreg removed another machine's lock"
    finally:
        s3.delete(BUCKET, key)
    deadline = time.time() + 10
    while key in s3.objects(BUCKET):
        assert time.time() < deadline
        time.sleep(0.2)
    out = a.run("up", "--stack", "p1", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
