"""The Docker-Hub-like test upstream behaves as Docker Hub does where a mirror notices."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.hub import Hub, HubContent, serve
from tests.images import layer


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPEN = urllib.request.build_opener(NoRedirect).open


def call(url: str, headers: dict | None = None, method: str = "GET"):
    try:
        r = OPEN(urllib.request.Request(url, headers=headers or {}, method=method), timeout=5)
        return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def hub(tmp_path):
    from tests.live.conftest import free_port
    ports = (free_port(), free_port())
    hub = Hub(HubContent(tmp_path), token_ttl=2, cdn_origin=None, cdn_port=ports[1])
    servers = serve(hub, "127.0.0.1", {"registry": ports[0]}) + serve(hub, "127.0.0.1", {"cdn": ports[1]})
    files = {"a.bin": bytes(range(256)) * 4096}
    hub.content.push("library/x", "1", [files])
    yield hub, f"http://127.0.0.1:{ports[0]}", layer(files)[0]
    for s in servers:
        s.shutdown()


def token(base: str, repo: str = "library/x") -> str:
    status, headers, body = call(f"{base}/v2/{repo}/manifests/1")
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{base}/token",service="registry.hub.test"')
    assert f'scope="repository:{repo}:pull"' in challenge
    status, _, body = call(f"{base}/token?scope=repository:{repo}:pull&service=registry.hub.test")
    doc = json.loads(body)
    assert status == 200 and doc["expires_in"] == 2
    return doc["token"]


def test_manifests_need_a_token_and_carry_their_digest(hub):
    hub_, base, _ = hub
    auth = {"Authorization": f"Bearer {token(base)}"}
    status, headers, body = call(f"{base}/v2/library/x/manifests/1", auth)
    assert status == 200 and headers["Docker-Content-Digest"].startswith("sha256:")
    assert call(f"{base}/v2/library/y/manifests/1", auth)[0] == 401  # the token is for library/x


def test_a_blob_is_a_redirect_to_another_origin_that_refuses_a_second_credential(hub):
    hub_, base, blob = hub
    import hashlib
    digest = hashlib.sha256(blob).hexdigest()
    auth = {"Authorization": f"Bearer {token(base)}"}
    status, headers, _ = call(f"{base}/v2/library/x/blobs/sha256:{digest}", auth)
    assert status == 307
    cdn = headers["Location"]
    assert not cdn.startswith(base) and "sig=" in cdn
    assert call(cdn, auth)[0] == 400  # a presigned URL and a bearer token: refused
    status, _, body = call(cdn)
    assert status == 200 and body == blob
    status, headers, body = call(cdn, {"Range": "bytes=10-19"})
    assert status == 206 and body == blob[10:20] and headers["Content-Range"] == f"bytes 10-19/{len(blob)}"
    assert call(cdn, {"Range": "bytes=-5"})[2] == blob[-5:]
    assert call(cdn.replace("sig=", "sig=0"))[0] == 403
    assert hub_.stats.snapshot()["cdn_by_blob"][digest] == len(blob) + 10 + 5


def test_tokens_expire(hub):
    _, base, _ = hub
    auth = {"Authorization": f"Bearer {token(base)}"}
    assert call(f"{base}/v2/library/x/manifests/1", auth)[0] == 200
    time.sleep(3.1)
    status, headers, _ = call(f"{base}/v2/library/x/manifests/1", auth)
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
