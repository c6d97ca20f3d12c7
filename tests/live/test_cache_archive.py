"""`kindreg cache save` and `restore` on stacks kindreg brought up (the registry kindreg runs,
its front cache, containerd in a node): the content of the mirrors goes into one archive, a
damaged or foreign archive is refused with nothing changed, and a restore into a machine whose
stacks are not up yet (their volumes gone) is found by `up`: with the upstream gone, the node
pulls every saved image. A second restore places nothing new.
"""
from __future__ import annotations

import gzip
import io
import json
import tarfile

import docker.errors
import pytest

from kindreg.core import cachearchive as ca
from tests.live.conftest import kindreg_cli, node_forget, node_pull, stack_configs, write_stack_files

pytestmark = pytest.mark.live
IMAGES = {"alpha": [{"shared.bin": bytes(range(256)) * 1024}, {"alpha.txt": b"alpha\n"}],
          "beta": [{"shared.bin": bytes(range(256)) * 1024}, {"beta.txt": b"beta\n"}]}


@pytest.fixture(scope="module")
def world(live, upstream):
    for repo, layers in IMAGES.items():
        upstream.push(f"library/{repo}", "1", layers)
    configs = stack_configs(live.images, upstream.port, names="kindreg-arc", projects="arc", net="10.209")
    configs = {s: configs[s] for s in ("shared", "dev")}
    write_stack_files(live.workdir, configs)
    return configs, {s: live.up(s, configs[s]) for s in configs}


def cache(live, *args: str):
    return kindreg_cli("cache", *args, "--project-dir", str(live.workdir))


def members(path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path, "r:gz") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t]


def write(path, entries: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as t:
        for info, data in entries:
            info.size = len(data) if info.isfile() else 0
            t.addfile(info, io.BytesIO(data) if info.isfile() else None)


def volumes_of(world_out) -> list[str]:
    return [m["volume"] for m in world_out["shared"]["mirrors"]]


def test_save_then_restore_into_a_machine_not_up_yet(live, world, upstream, tmp_path):
    configs, out = world
    client = live.machine.client
    node = out["dev"]["nodes"][0]
    for repo in IMAGES:
        code, text = node_pull(client, node, f"docker.io/library/{repo}:1")
        assert code == 0, text
        upstream.blob_fetches(f"library/{repo}")  # the mirror's cache fill settles

    archive = tmp_path / "mirrors.tgz"
    saved = cache(live, "save", str(archive))
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "saved 2 image(s)" in saved.stdout and not (tmp_path / "mirrors.tgz.partial").exists()
    entries = members(archive)
    assert entries[-1][0].name == ca.MANIFEST_NAME
    manifest = json.loads(entries[-1][1])
    assert manifest["mirrors"]["shared/io-docker"]["images"] == ["library/alpha:1", "library/beta:1"]
    assert not any("_uploads" in m.name for m, _ in entries)

    refused_before = _refusals(live, entries, tmp_path, client)

    # A machine where the stacks are not up: no mirrors, no nodes, no mirror volumes.
    volumes = volumes_of(out)
    for stack in ("dev", "shared"):
        live.machine.destroy(stack)
    for v in volumes:
        client.volumes.get(v).remove()
    try:
        restored = cache(live, "restore", str(archive))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "shared/io-docker: ok: 2 image(s), placed" in restored.stdout, restored.stdout
        labels = client.volumes.get(out["shared"]["mirrors"][0]["volume"]).attrs["Labels"]
        assert labels["kindreg.managed"] == "true" and labels["kindreg.stack"] == "shared"
        again = cache(live, "restore", str(archive))
        assert again.returncode == 0 and "shared/io-docker: ok: 2 image(s), placed 0 file(s)" in again.stdout, again.stdout

        _resumes_a_killed_restore(live, client, out["shared"]["mirrors"][0], archive, entries)

        upstream.stop()
        try:
            back = {s: live.up(s, configs[s]) for s in configs}
            node = back["dev"]["nodes"][0]
            for repo in IMAGES:
                node_forget(client, node, f"docker.io/library/{repo}:1")
                code, text = node_pull(client, node, f"docker.io/library/{repo}:1")
                assert code == 0, f"{repo} did not come from the restored mirror: {text}"
        finally:
            upstream.start()
    finally:
        for stack in ("dev", "shared"):
            live.machine.destroy(stack)
        for v in volumes:  # made by the restore (so not labelled as this run's): removed by name
            try:
                client.volumes.get(v).remove()
            except docker.errors.NotFound:
                pass
    assert refused_before


def _refusals(live, entries, tmp_path, client) -> bool:
    """Damaged, cut short, foreign: each refused with exit 2, no helper left, the volume unchanged."""
    blob = next(i for i, (m, _) in enumerate(entries) if ca.blob_digest(ca.split_member(m.name)[1]))
    damaged = list(entries)
    info, data = damaged[blob]
    damaged[blob] = (info, bytes([data[0] ^ 0xFF]) + data[1:])
    write(tmp_path / "damaged.tgz", damaged)
    foreign = list(entries)
    doc = json.loads(foreign[-1][1])
    doc["layout"] = "something/else"
    foreign[-1] = (foreign[-1][0], json.dumps(doc).encode())
    write(tmp_path / "foreign.tgz", foreign)
    write(tmp_path / "whole.tgz", entries)
    raw = (tmp_path / "whole.tgz").read_bytes()
    (tmp_path / "short.tgz").write_bytes(raw[: len(raw) // 2])
    escape = list(entries)
    escape.insert(0, (tarfile.TarInfo("mirrors/shared/io-docker/../../etc/passwd"), b"x"))
    write(tmp_path / "escape.tgz", escape)
    before = {c.name for c in client.containers.list(all=True)}
    for name, words in (("damaged", "does not match its digest"), ("foreign", "layout"),
                        ("short", "damaged or cut short"), ("escape", "not part of a mirror's storage")):
        out = cache(live, "restore", str(tmp_path / f"{name}.tgz"))
        assert out.returncode == 2 and words in out.stderr and "nothing was changed" in out.stderr, (name, out.stderr)
    assert {c.name for c in client.containers.list(all=True)} == before
    return True


def _resumes_a_killed_restore(live, client, mirror: dict, archive, entries) -> None:
    """What a restore killed midway leaves: a blob not placed yet, a stage holding it cut short,
    and a helper created but never started. The next restore places the blob whole (never the cut
    one), and removes the stage and the helper."""
    from kindreg.core import mirrorstore as ms
    from kindreg.core.render import DATA_DIR
    from kindreg.ops.archive import RESTORE_SUFFIX, STAGE_PREFIX
    from tests.doubles import ownership
    rest, data = next((ca.split_member(m.name)[1], d) for m, d in entries
                      if ca.blob_digest(ca.split_member(m.name)[1]) and len(d) > 1000)
    digest = ca.blob_digest(rest)
    stage = f"{STAGE_PREFIX}killed"
    scratch = client.containers.create(live.images[0], entrypoint=["sh", "-c", 'rm -f "$1"', "x", rest],
                                       working_dir=DATA_DIR, volumes={mirror["volume"]: {"bind": DATA_DIR}},
                                       labels=ownership.labels())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        cut = data[: len(data) // 2]
        info = tarfile.TarInfo(f"{stage}/{rest}")
        info.size = len(cut)
        t.addfile(info, io.BytesIO(cut))
    scratch.put_archive(DATA_DIR, buf.getvalue())
    scratch.start()
    assert scratch.wait(timeout=30)["StatusCode"] == 0
    scratch.remove()
    stale = client.containers.create(live.images[0], name=mirror["container"] + RESTORE_SUFFIX,
                                     labels={"kindreg.managed": "true", "kindreg.role": "restore",
                                             **ownership.labels()})
    out = cache(live, "restore", str(archive))
    assert out.returncode == 0 and "shared/io-docker: ok: 2 image(s), placed 1 file(s)" in out.stdout, out.stdout + out.stderr
    with pytest.raises(docker.errors.NotFound):
        stale.reload()
    check = client.containers.run(live.images[0], entrypoint=["sh", "-c", 'sha256sum "$1"; ls -a', "x"], command=[rest],
                                  working_dir=DATA_DIR, volumes={mirror["volume"]: {"bind": DATA_DIR}},
                                  labels=ownership.labels(), remove=True)
    text = check.decode()
    assert digest.split(":")[1] in text and STAGE_PREFIX not in text, text
    assert ms.blob_path(digest) == rest
