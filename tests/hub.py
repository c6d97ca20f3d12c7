"""A Docker-Hub-like upstream for tests and benchmarks: `python -m tests.hub --root DIR ...`.

Where it matters to a pull-through mirror it behaves as registry-1.docker.io does:
- bearer-token auth: every /v2/ request without a valid token is answered 401 with
  `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the realm is a token endpoint
  (`/token` on the same origin: distribution 3.1 follows a realm only on the registry's own
  host or, for names, its registrable domain, as auth.docker.io is to registry-1.docker.io,
  and this hub is reached by address) that hands out anonymous tokens which expire
  (`expires_in`), and an expired token is answered 401 `error="invalid_token"`;
- a blob GET is answered 307 with a signed, expiring URL on another origin, the CDN (Docker
  Hub's production.cloudflare.docker.com), which refuses a request that also carries an
  Authorization header (as a presigned-URL store does) and serves Range requests (206);
- manifests carry Docker-Content-Digest and their media type.
Content is a directory (`HubContent` writes it: blobs by digest, tags by repository), so a
test process fills it while the hub runs in another process or network namespace.
`GET /_hub/stats` (not under /v2/) reports what was served: CDN body bytes and requests per
blob, tokens issued, requests refused and why.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, urlsplit

SECRET = b"kindreg-test-hub"
SERVICE = "registry.hub.test"
CHUNK = 256 * 1024


class HubContent:
    """The hub's content directory: blobs/sha256/<hex>, tags/<repo>/<tag> (a manifest digest)."""

    def __init__(self, root: Path):
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)

    def push(self, repo: str, tag: str, layers: list[dict]) -> str:
        """An image of `layers` (tests.images' layer dicts) as repo:tag; its manifest digest."""
        from tests.images import oci_layout
        layout = self.root / "layouts" / f"{repo.replace('/', '-')}-{tag}"
        digest = oci_layout(layout, tag, layers)
        for blob in (layout / "blobs" / "sha256").iterdir():
            target = self.root / "blobs" / "sha256" / blob.name
            if not target.exists():
                shutil.copyfile(blob, target)
        tag_file = self.root / "tags" / repo / tag
        tag_file.parent.mkdir(parents=True, exist_ok=True)
        tag_file.write_text(digest)
        return digest

    def blob(self, digest: str) -> Optional[Path]:
        algo, _, hexpart = digest.partition(":")
        path = self.root / "blobs" / "sha256" / hexpart
        return path if algo == "sha256" and hexpart.isalnum() and path.is_file() else None

    def manifest(self, repo: str, reference: str) -> Optional[tuple[str, bytes]]:
        if not reference.startswith("sha256:"):
            tag_file = self.root / "tags" / repo / reference
            if not tag_file.is_file():
                return None
            reference = tag_file.read_text().strip()
        path = self.blob(reference)
        return (reference, path.read_bytes()) if path else None


def _sign(text: str) -> str:
    return hmac.new(SECRET, text.encode(), hashlib.sha256).hexdigest()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.data: dict = {"cdn_bytes": 0, "cdn_requests": 0, "cdn_by_blob": {}, "tokens": 0,
                           "refused": {}, "blob_redirects": 0, "manifest_requests": 0}

    def add(self, key: str, n: int = 1, sub: Optional[str] = None) -> None:
        with self.lock:
            if sub is None:
                self.data[key] += n
            else:
                self.data[key][sub] = self.data[key].get(sub, 0) + n

    def snapshot(self) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.data))


class Hub:
    def __init__(self, content: HubContent, token_ttl: int, cdn_origin: Optional[str], cdn_port: int,
                 cdn_rate: int = 0):
        self.content, self.token_ttl, self.stats = content, token_ttl, Stats()
        self.cdn_rate = cdn_rate  # bytes per second per request; 0: as fast as it goes
        self.cdn_origin, self.cdn_port = cdn_origin, cdn_port

    # The CDN's origin defaults to the address the client used, on the CDN port: another
    # origin, reachable wherever the registry is.
    def origin(self, handler: BaseHTTPRequestHandler, fixed: Optional[str], port: int) -> str:
        if fixed:
            return fixed
        host = (handler.headers.get("Host") or "127.0.0.1").rsplit(":", 1)[0]
        return f"http://{host}:{port}"

    def token(self, scope: str) -> dict:
        expiry = int(time.time()) + self.token_ttl
        body = f"{expiry}|{scope}"
        self.stats.add("tokens")
        return {"token": f"{body}|{_sign(body)}", "access_token": f"{body}|{_sign(body)}",
                "expires_in": self.token_ttl, "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def check_token(self, header: str, repo: str) -> Optional[str]:
        """None when the bearer token allows pulling `repo`, else the challenge's error."""
        if not header.startswith("Bearer "):
            return ""
        try:
            expiry, scope, sig = header[len("Bearer "):].split("|")
        except ValueError:
            return "invalid_token"
        if not hmac.compare_digest(sig, _sign(f"{expiry}|{scope}")):
            return "invalid_token"
        if int(expiry) < time.time():
            return "invalid_token"
        if repo and f"repository:{repo}:" not in scope:
            return "insufficient_scope"
        return None

    def cdn_url(self, handler, digest: str) -> str:
        expiry = int(time.time()) + 600
        path = f"/blobs/{digest}"
        return f"{self.origin(handler, self.cdn_origin, self.cdn_port)}{path}?expires={expiry}&sig={_sign(f'{expiry}|{path}')}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub  # set on the subclass per server
    role: str  # "registry" or "cdn"

    def log_message(self, fmt, *args):  # noqa: D401 - quiet: the stats are the record
        pass

    def send(self, code: int, body: bytes = b"", headers: Optional[dict] = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        try:
            {"registry": self.registry, "cdn": self.cdn}[self.role]()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ------------------------------------------------------------ registry-1.docker.io
    def registry(self):
        url = urlsplit(self.path)
        if url.path == "/token":
            return self.auth()
        if url.path == "/_hub/stats":
            return self.send(200, json.dumps(self.hub.stats.snapshot()).encode(), {"Content-Type": "application/json"})
        if not url.path.startswith("/v2/"):
            return self.send(404)
        repo, kind, ref = _route(url.path)
        error = self.hub.check_token(self.headers.get("Authorization", ""), repo)
        if error is not None:
            self.hub.stats.add("refused", sub=error or "no_token")
            return self.challenge(repo, error)
        if kind == "manifests":
            return self.serve_manifest(repo, ref)
        if kind == "blobs":
            return self.serve_blob(ref)
        return self.send(200, b"{}", {"Content-Type": "application/json",
                                      "Docker-Distribution-Api-Version": "registry/2.0"})

    def challenge(self, repo: str, error: str) -> None:
        realm = f"http://{self.headers.get('Host')}/token"
        value = f'Bearer realm="{realm}",service="{SERVICE}"'
        if repo:
            value += f',scope="repository:{repo}:pull"'
        if error:
            value += f',error="{error}"'
        self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                  {"WWW-Authenticate": value, "Content-Type": "application/json",
                   "Docker-Distribution-Api-Version": "registry/2.0"})

    def serve_manifest(self, repo: str, ref: str) -> None:
        self.hub.stats.add("manifest_requests")
        found = self.hub.content.manifest(repo, ref)
        if not found:
            return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', {"Content-Type": "application/json"})
        digest, body = found
        media = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        self.send(200, body, {"Content-Type": media, "Docker-Content-Digest": digest})

    def serve_blob(self, digest: str) -> None:
        path = self.hub.content.blob(digest)
        if not path:
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', {"Content-Type": "application/json"})
        if self.command == "HEAD":
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            return None
        self.hub.stats.add("blob_redirects")
        return self.send(307, b"", {"Location": self.hub.cdn_url(self, digest)})

    # ------------------------------------------------------------ auth.docker.io
    def auth(self):
        url = urlsplit(self.path)
        scope = " ".join(parse_qs(url.query).get("scope", []))
        self.send(200, json.dumps(self.hub.token(scope)).encode(), {"Content-Type": "application/json"})

    # ------------------------------------------------------------ the CDN
    def cdn(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        expiry, sig = query.get("expires", "0"), query.get("sig", "")
        if not hmac.compare_digest(sig, _sign(f"{expiry}|{url.path}")) or int(expiry) < time.time():
            self.hub.stats.add("refused", sub="cdn_bad_signature")
            return self.send(403)
        if "Authorization" in self.headers:
            # A presigned URL and a second credential: a store refuses the request.
            self.hub.stats.add("refused", sub="cdn_authorization_header")
            return self.send(400, b"Only one auth mechanism allowed")
        path = self.hub.content.blob(url.path.rsplit("/", 1)[-1])
        if not path:
            return self.send(404)
        self.send_file(path)

    def send_file(self, path: Path) -> None:
        size = path.stat().st_size
        start, end = _range(self.headers.get("Range"), size)
        if start is None:
            return self.send(416, b"", {"Content-Range": f"bytes */{size}"})
        partial = (start, end) != (0, size - 1)
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        self.hub.stats.add("cdn_requests")
        with path.open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                self.wfile.write(chunk)
                if self.hub.cdn_rate:
                    time.sleep(len(chunk) / self.hub.cdn_rate)
                left -= len(chunk)
                self.hub.stats.add("cdn_bytes", len(chunk))
                self.hub.stats.add("cdn_by_blob", len(chunk), sub=path.name)


class HubProcess:
    """The hub as a child process of the test (`prefix` runs it elsewhere, e.g. `ip netns exec`),
    stopped by its PID."""

    def __init__(self, root: Path, log: Path, listen: str, ports: tuple[int, int], *,
                 prefix: tuple[str, ...] = (), extra: tuple[str, ...] = ()):
        import os
        import subprocess
        import sys
        self.content, self.port = HubContent(root), ports[0]
        self.stats_url = f"http://{'127.0.0.1' if listen == '0.0.0.0' else listen}:{ports[0]}/_hub/stats"
        argv = [*prefix, sys.executable, "-m", "tests.hub", "--root", str(root), "--listen", listen,
                "--port", str(ports[0]), "--cdn-port", str(ports[1]), *extra]
        self.proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parent.parent,
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        deadline = time.time() + 15
        while "hub ready" not in log.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the test hub did not start:\n{log.read_text()[-800:]}")
            time.sleep(0.1)

    def stats(self, fetch=None) -> dict:
        import urllib.request
        if fetch:
            return json.loads(fetch(self.stats_url))
        return json.loads(urllib.request.urlopen(self.stats_url, timeout=5).read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                self.proc.kill()
                self.proc.wait()


def _route(path: str) -> tuple[str, str, str]:
    """/v2/<repo>/(manifests|blobs)/<ref> -> (repo, kind, ref); /v2/ -> ("", "", "")."""
    for kind in ("manifests", "blobs"):
        marker = f"/{kind}/"
        if marker in path:
            repo, _, ref = path[len("/v2/"):].rpartition(marker)
            return repo, kind, ref
    return "", "", ""


def _range(header: Optional[str], size: int) -> tuple[Optional[int], int]:
    """One `bytes=a-b`, `bytes=a-` or `bytes=-n` range (what registry clients send)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return 0, size - 1
    first, _, last = header[len("bytes="):].partition("-")
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else (None, 0)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer's own asks DNS for the address's name (getfqdn), which hangs in a network
        # namespace without a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve(hub: Hub, listen: str, ports: dict[str, int]) -> list[ThreadingHTTPServer]:
    servers = []
    for role, port in ports.items():
        handler = type(f"{role.title()}Handler", (Handler,), {"hub": hub, "role": role})
        server = Server((listen, port), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.hub")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--listen", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--cdn-port", type=int, default=5002)
    parser.add_argument("--cdn-listen", help="another address for the CDN (default: --listen)")
    parser.add_argument("--cdn-origin", help="the CDN as clients reach it (default: the registry's address, CDN port)")
    parser.add_argument("--token-ttl", type=int, default=300, help="seconds a token is good for")
    parser.add_argument("--cdn-rate", type=int, default=0, help="CDN bytes per second per request (0: no limit)")
    args = parser.parse_args()
    hub = Hub(HubContent(args.root), args.token_ttl, args.cdn_origin, args.cdn_port, args.cdn_rate)
    serve(hub, args.listen, {"registry": args.port})
    serve(hub, args.cdn_listen or args.listen, {"cdn": args.cdn_port})
    print("hub ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
