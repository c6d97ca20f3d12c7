"""What a mirror's storage holds, as plain values, and which of it an eviction removes.

kindreg evicts whole images, never blobs: an image goes (its tag and revision links), and
distribution's garbage collection then deletes only the blobs no remaining manifest
references (registry/storage/garbagecollect.go, `MarkAndSweep`, v3.1.2: every manifest under
`_manifests/revisions` of every repository is marked with all it references; a blob in
`blobs/` that no mark reached is deleted). So a layer two images share stays while either is
kept. distribution's own proxy TTL does the opposite (it deletes a blob's data for every
repository when one repository's entry fires), so kindreg runs its mirrors with it off.

An image is a revision of a repository that no other revision of the repository references
(a tag's manifest or index, or one pulled by digest alone); the manifests an index lists
belong to it. Its recency is its last real read: a request for its manifest or one of its
blobs in the registry's access log, or else the first fetch (the revision link's mtime).

`adapters.mirrorstore` reads the model; `ops.prune` acts on the result. Nothing here does I/O.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

ROOT = "docker/registry/v2"  # under the registry's rootdirectory (storage/paths.go)
REPOSITORIES = f"{ROOT}/repositories"
BLOBS = f"{ROOT}/blobs/sha256"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# Manifest media types whose `manifests` are further manifests (an index, a manifest list).
INDEX_TYPES = frozenset({"application/vnd.oci.image.index.v1+json",
                         "application/vnd.docker.distribution.manifest.list.v2+json"})


def blob_path(digest: str) -> str:
    """A blob's data file under the rootdirectory (storage/paths.go `blobDataPathSpec`)."""
    hexpart = digest.split(":", 1)[1]
    return f"{BLOBS}/{hexpart[:2]}/{hexpart}/data"


@dataclass(frozen=True)
class Manifest:
    """One manifest's references: the manifests it lists (an index) and the blobs it needs."""

    children: tuple[str, ...] = ()
    blobs: Mapping[str, int] = field(default_factory=dict)  # digest -> size the manifest gives


def parse_manifest(data: bytes) -> Manifest:
    """The references distribution's `References()` gives: an index's manifests; an image
    manifest's config and layers (foreign layers have no blob here and none is kept)."""
    doc = json.loads(data)
    if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
        return Manifest(children=tuple(m["digest"] for m in doc.get("manifests", ())))
    refs = [d for d in ([doc.get("config")] + list(doc.get("layers", ()))) if d and d.get("digest")]
    return Manifest(blobs={d["digest"]: int(d.get("size", 0)) for d in refs})


@dataclass(frozen=True)
class SeenRepo:
    name: str
    tags: Mapping[str, str]  # tag -> digest its current link names
    revisions: Mapping[str, float]  # digest -> when its link was written (the first fetch)


@dataclass(frozen=True)
class SeenStore:
    """One mirror's storage: repositories, the manifests they hold (None: its data is missing),
    the blobs on disk with the bytes each takes, and the disk it uses in all."""

    mirror: str
    repos: Mapping[str, SeenRepo]
    manifests: Mapping[str, Optional[Manifest]]
    blobs: Mapping[str, int]  # digest -> bytes on disk
    used: int  # bytes the whole storage takes on disk


@dataclass(frozen=True)
class Image:
    repo: str
    digest: str
    tags: tuple[str, ...]
    manifests: frozenset[str]  # its own digest and those of the manifests it lists
    blobs: frozenset[str]  # every blob those manifests reference
    first_fetch: float

    @property
    def key(self) -> tuple[str, str]:
        return self.repo, self.digest

    @property
    def name(self) -> str:
        return f"{self.repo}:{','.join(self.tags)}" if self.tags else f"{self.repo}@{self.digest}"

    def whole_in(self, present: Iterable[str]) -> bool:
        """Every manifest and blob of it is among `present` (digests): it can be served offline."""
        return (self.blobs | self.manifests) <= set(present)


def images(store: SeenStore) -> list[Image]:
    """Every image of the store, and nothing that is not one."""
    out = []
    for repo in store.repos.values():
        listed = {c for d in repo.revisions for c in _children(store, d)}
        for digest, fetched in repo.revisions.items():
            if digest in listed or store.manifests.get(digest) is None:
                continue
            own = _closure(store, digest, set(repo.revisions))
            blobs = frozenset(b for m in own for b in (store.manifests.get(m) or Manifest()).blobs)
            tags = tuple(sorted(t for t, d in repo.tags.items() if d == digest))
            out.append(Image(repo.name, digest, tags, frozenset(own), blobs, fetched))
    return out


def _children(store: SeenStore, digest: str) -> tuple[str, ...]:
    m = store.manifests.get(digest)
    return m.children if m else ()


def _closure(store: SeenStore, digest: str, held: set[str]) -> set[str]:
    seen, todo = set(), [digest]
    while todo:
        d = todo.pop()
        if d in seen or d not in held:
            continue
        seen.add(d)
        todo.extend(_children(store, d))
    return seen


def broken(store: SeenStore) -> list[tuple[str, str]]:
    """(repo, digest) of revisions whose manifest data is gone: unservable, and distribution's
    garbage collection stops at them (`markManifestReferences` fails on a missing manifest)."""
    return [(r.name, d) for r in store.repos.values() for d in r.revisions if store.manifests.get(d) is None]


# --- recency ------------------------------------------------------------------------------

# A request line of the registry's access log (gorilla's combined format, which distribution
# writes unless `log.accesslog.disabled`): `... "GET /v2/<name>/manifests/<ref>?ns=... HTTP/1.1" 200 ...`
ACCESS_RE = re.compile(r'"(?:GET|HEAD) /v2/(?P<name>.+?)/(?P<kind>manifests|blobs)/(?P<ref>[^ ?"]+)[^"]*" (?P<code>\d{3}) ')


@dataclass(frozen=True)
class Read:
    at: float
    repo: str
    kind: str  # manifests | blobs ("" when recorded by a keeper, which does not say)
    ref: str  # a tag or a digest


def parse_access(lines: Iterable[tuple[float, str]]) -> list[Read]:
    """Successful reads in (timestamp, log line) pairs; everything else is ignored."""
    out = []
    for at, line in lines:
        m = ACCESS_RE.search(line)
        if m and m.group("code") in ("200", "206", "304", "307"):
            out.append(Read(at, m.group("name"), m.group("kind"), m.group("ref")))
    return out


def parse_recorded(text: str) -> list[Read]:
    """The reads a bounded mirror recorded (kindreg.core.keeper `record`: `<time> <repo> <ref>`
    per line); a line that is not one is skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            out.append(Read(float(parts[0]), parts[1], "", parts[2]))
    return out


def last_reads(store: SeenStore, reads: Sequence[Read], known: Mapping[str, float] = {}) -> dict[tuple[str, str], float]:
    """Each image's last read: the newest of `known` (key "repo@digest", kept from earlier
    prunes), the reads that name it (a tag it holds, a manifest or blob of it) and its first fetch."""
    found = images(store)
    by_ref: dict[tuple[str, str], list[Image]] = {}
    for img in found:
        for ref in (*img.tags, *img.manifests, *img.blobs):
            by_ref.setdefault((img.repo, ref), []).append(img)
    last = {img.key: max(img.first_fetch, known.get(ledger_key(img), 0.0)) for img in found}
    for r in reads:
        for img in by_ref.get((r.repo, r.ref), ()):
            last[img.key] = max(last[img.key], r.at)
    return last


def ledger_key(img: Image) -> str:
    return f"{img.repo}@{img.digest}"


# --- eviction -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    older_than: Optional[float] = None  # seconds without a read
    max_bytes: Optional[int] = None  # the store's bound
    protect: float = 600.0  # an image read this recently is never evicted (a pull may be running)


@dataclass(frozen=True)
class Decision:
    image: Image
    last_read: float
    frees: int  # bytes its removal frees (blobs no kept image needs), 0 for a kept image
    reason: str  # "not read for ...", "least recently used past the bound", or why kept


@dataclass(frozen=True)
class Eviction:
    mirror: str
    evict: tuple[Decision, ...]
    keep: tuple[Decision, ...]
    broken: tuple[tuple[str, str], ...]
    used: int
    after: int  # bytes on disk once garbage collection ran
    short: int  # bytes still over the bound (protected images), 0 when met

    @property
    def changes(self) -> bool:
        return bool(self.evict or self.broken)


def plan(store: SeenStore, last: Mapping[tuple[str, str], float], policy: Policy, now: float) -> Eviction:
    """Which images go: those not read for `older_than`, then the least recently used while the
    store is over `max_bytes`. An image read within `protect` seconds stays whatever the bound."""
    found = sorted(images(store), key=lambda i: (last[i.key], i.repo, i.digest))
    reason: dict[tuple[str, str], str] = {}
    for img in found:
        if now - last[img.key] < policy.protect:
            continue
        if policy.older_than is not None and now - last[img.key] >= policy.older_than:
            reason[img.key] = f"not read for {_age(now - last[img.key])}"
    used = store.used
    after = used - _freed(store, found, reason)
    if policy.max_bytes is not None:
        for img in found:
            if after <= policy.max_bytes:
                break
            if img.key in reason or now - last[img.key] < policy.protect:
                continue
            reason[img.key] = "least recently used, over the bound"
            after = used - _freed(store, found, reason)
    kept = [i for i in found if i.key not in reason]
    evict = tuple(Decision(i, last[i.key], _frees(store, i, kept), reason[i.key]) for i in found if i.key in reason)
    keep = tuple(Decision(i, last[i.key], 0, _kept_why(i, last[i.key], now, policy)) for i in kept)
    short = max(0, after - policy.max_bytes) if policy.max_bytes is not None else 0
    return Eviction(store.mirror, evict, keep, tuple(broken(store)), used, after, short)


def _needed(store: SeenStore, kept: Iterable[Image]) -> set[str]:
    return {d for i in kept for d in (*i.blobs, *i.manifests)}


def _freed(store: SeenStore, found: Sequence[Image], gone: Mapping[tuple[str, str], str]) -> int:
    needed = _needed(store, (i for i in found if i.key not in gone))
    dropped = {d for i in found if i.key in gone for d in (*i.blobs, *i.manifests)}
    return sum(store.blobs.get(d, 0) for d in dropped - needed)


def _frees(store: SeenStore, img: Image, kept: Sequence[Image]) -> int:
    needed = _needed(store, kept)
    return sum(store.blobs.get(d, 0) for d in {*img.blobs, *img.manifests} - needed)


def _kept_why(img: Image, last: float, now: float, policy: Policy) -> str:
    if now - last < policy.protect:
        return f"read {_age(now - last)} ago (in use)"
    return f"last read {_age(now - last)} ago"


def _age(seconds: float) -> str:
    s = int(max(0, seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def removals(store: SeenStore, ev: Eviction) -> list[str]:
    """Paths under the rootdirectory to delete, in an order that leaves a servable store at every
    step: tags first (an untagged revision is still served by digest and kept by garbage
    collection), then revisions, then repositories left with none."""
    gone_tags, gone_revs = [], []
    evicted = {(d.image.repo, m) for d in ev.evict for m in d.image.manifests}
    kept = {(d.image.repo, m) for d in ev.keep for m in d.image.manifests}
    for d in ev.evict:
        repo = store.repos[d.image.repo]
        gone_tags += [f"{REPOSITORIES}/{repo.name}/_manifests/tags/{t}" for t, dg in sorted(repo.tags.items())
                      if dg == d.image.digest]
    for repo_name, digest in sorted(evicted - kept) + sorted(ev.broken):
        gone_revs.append(f"{REPOSITORIES}/{repo_name}/_manifests/revisions/{_digest_dir(digest)}")
    empty = [f"{REPOSITORIES}/{r.name}" for r in store.repos.values()
             if r.revisions and all((r.name, d) in evicted - kept or (r.name, d) in ev.broken for d in r.revisions)]
    return gone_tags + gone_revs + sorted(empty)


def _digest_dir(digest: str) -> str:
    algo, hexpart = digest.split(":", 1)
    return f"{algo}/{hexpart}"
