"""Reading a mirror's storage from what the engine gives: a tar of the repository tree, `du`, the
manifests, the access log with docker's timestamps. The live level reads a real registry's."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

from kindreg.adapters import engine as engine_module, mirrorstore as reader
from kindreg.core import mirrorstore as ms
from kindreg.core.render import DATA_DIR


def d(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def tar_of(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, (data, mtime) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class FakeEngine:
    def __init__(self, files: dict[str, bytes], du: str, total_kib: int):
        self.files, self.du, self.total = files, du, total_kib
        self.put: list[tuple[str, str, bytes]] = []

    def archive(self, container: str, path: str):
        if path == f"{DATA_DIR}/{ms.REPOSITORIES}":
            return tar_of({"repositories/library/app/_manifests/tags/1/current/link": (d("m").encode(), 10),
                           "repositories/library/app/_manifests/tags/1/index/sha256/x/link": (b"x", 10),
                           "repositories/library/app/_manifests/revisions/sha256/" + d("m")[7:] + "/link":
                               (d("m").encode(), 1234),
                           "repositories/library/app/_layers/sha256/" + d("l")[7:] + "/link": (b"", 10)})
        data = self.files.get(path)
        return None if data is None else tar_of({path.rsplit("/", 1)[1]: (data, 0)})

    def exec(self, container: str, argv):
        return (0, self.du) if "-a" in argv else (0, f"{self.total}\t{DATA_DIR}\n")

    def put_archive(self, container, directory, tar):
        self.put.append((container, directory, tar))


def test_the_store_as_the_registry_lays_it_out():
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": d("c"), "size": 3},
                           "layers": [{"digest": d("l"), "size": 4096}]}).encode()
    blobs = f"{DATA_DIR}/{ms.BLOBS}"
    du = "".join(f"{kib}\t{blobs}/{x[7:9]}/{x[7:]}/data\n{kib}\t{blobs}/{x[7:9]}/{x[7:]}\n"
                 for x, kib in ((d("m"), 4), (d("l"), 8), (d("c"), 4)))
    fake = FakeEngine({f"{DATA_DIR}/{ms.blob_path(d('m'))}": manifest}, du + f"16\t{blobs}\n", 40)
    seen = reader.read_store(fake, "io-docker", "mirror")
    assert seen.repos["library/app"] == ms.SeenRepo("library/app", {"1": d("m")}, {d("m"): 1234.0})
    assert seen.blobs == {d("m"): 4096, d("l"): 8192, d("c"): 4096} and seen.used == 40 * 1024
    assert seen.manifests[d("m")].blobs == {d("c"): 3, d("l"): 4096}
    [img] = ms.images(seen)
    assert img.name == "library/app:1" and img.first_fetch == 1234.0


def test_the_ledger_round_trips_through_the_volume():
    fake = FakeEngine({}, "", 0)
    reader.write_ledger(fake, "mirror", {"library/app@" + d("m"): 99.5}, at=100.0)
    [(container, directory, tar)] = fake.put
    assert (container, directory) == ("mirror", DATA_DIR)
    fake.files[f"{DATA_DIR}/{reader.LEDGER}"] = tarfile.open(fileobj=io.BytesIO(tar)).extractfile(reader.LEDGER).read()
    assert reader.read_ledger(fake, "mirror") == reader.Ledger(100.0, {"library/app@" + d("m"): 99.5})


def test_a_ledger_of_another_layout_is_ignored():
    fake = FakeEngine({f"{DATA_DIR}/{reader.LEDGER}": b'{"version": 99, "at": 5, "reads": {"x": 1}}'}, "", 0)
    assert reader.read_ledger(fake, "mirror") == reader.Ledger(0.0, {})


def test_docker_log_timestamps_in_nanoseconds():
    at, text = engine_module._timestamped('2026-12-07T15:20:01.123456789Z 1.2.3.4 - - "GET /v2/ HTTP/1.1" 200')
    assert abs(at - 1796656801.123456) < 1e-5 and text.startswith("1.2.3.4")
    assert engine_module._timestamped("not a time line") is None
