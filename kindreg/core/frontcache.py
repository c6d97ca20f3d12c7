"""A mirror's front cache: nginx between the registry's proxy and the upstream.

distribution's proxy fetches a blob from the upstream once per request that misses its
cache: N nodes asking for the same uncached layer at once cost N upstream copies (the
maintainers declined request coalescing, distribution issue 4511). nginx's `proxy_cache_lock`
lets exactly one request fill a cache element while the others wait for it, so the upstream
sees one fetch per blob per machine. The front keeps blobs only briefly (`keep`, `maxSize`):
the mirror's volume stays the only long-term copy.

Every setting below is one a default of which was seen to break fetch-once (measured with
the Docker-Hub-like test upstream, tests/hub.py):
- the lock's age and timeout far above their 5 s default: otherwise a waiting request gives
  up and fetches on its own (3 copies of a 32 MiB layer);
- HEAD is not converted to GET: otherwise every stat downloads the whole blob (2 copies);
- a blob answered with a redirect (Docker Hub sends 307 to its CDN) is followed inside the
  front, without the Authorization header: otherwise the registry follows it itself, past
  the cache (2 copies), and the CDN would receive the registry token;
- the client's disconnect does not abort the fill others wait for;
- the upstream's token realm is handed to the registry as a path of the front itself:
  distribution 3.1 follows a bearer realm only on its remote's own host or registrable
  domain (`realmAllowed`, registry/proxy/proxyauth.go), so auth.docker.io, seen behind a
  front named `...-front:8080`, would be dropped and every pull answered 401. The front
  forwards `/kindreg-realm/<scheme>/<host>/<path>` to that realm, for the upstream's own host
  or hosts of its parent domain only (never an open proxy).

The config is built as a tree and written by crossplane (NGINX's own config builder);
the only value from the user is the upstream URL, whose grammar (scheme, host, port) the
configuration already checked, and `nginx_value` refuses anything nginx would interpret.
"""
from __future__ import annotations

import re

import crossplane

from .plan import FRONT_PORT, FrontPlan, RegistryPlan
from .render import registry_labels
from .vocabulary import FRONT_ROLE, Label

CONF_PATH = "/etc/nginx/nginx.conf"
CACHE_DIR = "/var/cache/kindreg-front"
# A bounded mirror's front keeps its cache in the mirror's volume, mounted here, so the one
# bound the mirror's keeper holds (kindreg.core.keeper) covers both: nginx enforces its own
# `max_size` only when its cache manager wakes, seconds later, and the keeper sees the sum.
VOLUME_MOUNT = "/var/cache/kindreg-volume"
VOLUME_CACHE_DIR = f"{VOLUME_MOUNT}/kindreg-front"
TOKEN_CACHE_DIR = "/var/cache/kindreg-front-tokens"
TOKEN_KEEP = "30s"  # well inside the shortest token lifetime clients honour (60 s)
HEALTH_PATH = "/kindreg-front/health"
HEALTH_URL = f"http://127.0.0.1:{FRONT_PORT}{HEALTH_PATH}"
FETCH_PORT = 8081  # the inner server that fetches from the upstream and follows redirects
# Docker's embedded DNS on user-defined networks: names are resolved per request, so the
# front starts (and serves nothing new) while the upstream's name does not resolve (offline).
RESOLVER = "127.0.0.11"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
VIA_CA_PATH = "/etc/nginx/kindreg-via-ca.pem"
# As long as the slowest layer could take: waiting requests must not give up and fetch on their own.
LOCK_SECONDS = "3600s"
BLOB_PATH_RE = r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$"
REALM_PREFIX = "/kindreg-realm"
REALM_PATH_RE = rf"^{REALM_PREFIX}/(?<realm_scheme>https?)/(?<realm_host>[^/]+)(?<realm_path>/.*)$"
# `realm="<scheme>://<rest>"` in the upstream's challenge (\x22: a double quote, kept out of
# the config's own quoting).
CHALLENGE_RE = r"~^(?<ch_pre>.*realm=\x22)(?<ch_scheme>https?)://(?<ch_rest>[^\x22]*)(?<ch_post>.*)$"
HOST_GRAMMAR = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
# Characters nginx reads as syntax or variables in an argument: refused, never escaped
# (nginx has no escape for `$`).
_UNSAFE = re.compile(r"[\s$;{}'\"\\#]")


def cache_dir(reg: RegistryPlan) -> str:
    return VOLUME_CACHE_DIR if in_volume(reg) else CACHE_DIR


def in_volume(reg: RegistryPlan) -> bool:
    """Whether the front's cache lives in its mirror's volume (a bounded mirror's does)."""
    return reg.keep_bytes is not None


def nginx_value(value: str) -> str:
    """A value that means itself in an nginx argument, or a ValueError."""
    if not value or _UNSAFE.search(value):
        raise ValueError("contains characters nginx would read as syntax or variables")
    return value


def _d(directive: str, *args: str, block: list | None = None) -> dict:
    entry = {"directive": directive, "args": list(args)}
    if block is not None:
        entry["block"] = block
    return entry


def _blob_location(front: FrontPlan) -> dict:
    return _d("location", "~", BLOB_PATH_RE, block=[
        _d("proxy_pass", f"http://127.0.0.1:{FETCH_PORT}"),
        _d("proxy_cache", "blobs"),
        # A blob is the same bytes under every repository and credential; HEAD answers are
        # kept apart from GET bodies.
        _d("proxy_cache_key", "$request_method$uri"),
        _d("proxy_cache_methods", "GET", "HEAD"),
        _d("proxy_cache_convert_head", "off"),
        _d("proxy_cache_valid", "200", nginx_value(front.keep)),
        _d("proxy_cache_lock", "on"),
        _d("proxy_cache_lock_age", LOCK_SECONDS),
        _d("proxy_cache_lock_timeout", LOCK_SECONDS),
        _d("proxy_ignore_client_abort", "on"),
        # Ranges are served from the cached blob (nginx strips Range from a fill).
        _d("proxy_force_ranges", "on"),
        _d("proxy_read_timeout", "600s"),
    ])


def _passthrough_location() -> dict:
    # /v2/, manifests (tags move: the registry keeps its own TTL), token challenges.
    return _d("location", "/", block=[
        _d("proxy_pass", f"http://127.0.0.1:{FETCH_PORT}"),
        _d("proxy_buffering", "off"),
        _d("proxy_read_timeout", "600s"),
    ])


def _fetch_server(upstream: str) -> dict:
    return _d("server", block=[
        _d("listen", f"127.0.0.1:{FETCH_PORT}"),
        _d("set", "$upstream", nginx_value(upstream)),
        _d("location", "/", block=[
            _d("proxy_pass", "$upstream$request_uri"),
            _d("proxy_intercept_errors", "on"),
            _d("error_page", "301", "302", "303", "307", "308", "=", "@redirected"),
            _d("proxy_read_timeout", "600s"),
        ]),
        _d("location", "@redirected", block=[
            # The upstream's token is for the upstream: a CDN gets no Authorization.
            _d("set", "$target", "$upstream_http_location"),
            _d("proxy_set_header", "Authorization", ""),
            _d("proxy_pass", "$target"),
            _d("proxy_read_timeout", "600s"),
        ]),
    ])


def realm_hosts(upstream: str) -> str:
    """The regex of token-realm hosts the front forwards to: the upstream's host, and for a
    name of three or more labels, the hosts of its parent domain (registry-1.docker.io:
    auth.docker.io), each with any port."""
    host = upstream.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0] if "://" in upstream else ""
    if not HOST_GRAMMAR.match(host):
        raise ValueError("is not a host name or address nginx can match")
    labels = host.split(".")
    hosts = re.escape(host)
    if len(labels) >= 3 and not host.replace(".", "").isdigit():
        hosts = f"({hosts}|[a-z0-9.-]+\\.{re.escape('.'.join(labels[1:]))})"
    return f"~^{hosts}(:[0-9]+)?$"


def _realm_maps(upstream: str) -> list[dict]:
    return [
        _d("map", "$upstream_http_www_authenticate", "$kindreg_challenge", block=[
            _d(CHALLENGE_RE, f"${{ch_pre}}http://$http_host{REALM_PREFIX}/${{ch_scheme}}/${{ch_rest}}${{ch_post}}"),
            _d("default", "$upstream_http_www_authenticate"),
        ]),
        _d("map", "$realm_host", "$kindreg_realm_allowed", block=[
            _d("default", "0"),
            _d(realm_hosts(upstream), "1"),
        ]),
    ]


def _realm_location() -> dict:
    return _d("location", "~", REALM_PATH_RE, block=[
        _d("if", "$kindreg_realm_allowed", "=", "0", block=[_d("return", "403")]),
        _d("proxy_pass", "$realm_scheme://$realm_host$realm_path$is_args$args"),
        _d("proxy_set_header", "Host", "$realm_host"),
        # distribution asks for a new token with every request it proxies: an anonymous token
        # (the same for every caller of a scope) is kept for half a minute, far inside its lifetime
        # (Docker Hub: 300 s; the answer's issued_at tells the registry its age). A token for
        # credentials is never stored: the key would not hold the credential, and nothing of it
        # may reach a file.
        _d("proxy_cache", "tokens"),
        _d("proxy_cache_key", "$request_uri"),
        _d("proxy_cache_valid", "200", TOKEN_KEEP),
        _d("proxy_ignore_headers", "Cache-Control", "Expires", "Set-Cookie"),
        _d("proxy_no_cache", "$http_authorization"),
        _d("proxy_cache_bypass", "$http_authorization"),
    ])


def _tls_to_upstream(reg: RegistryPlan) -> list[dict]:
    # A `via` registry signed by the stack's viaCa (a team mirror's own CA) is trusted by that
    # CA alone: the front talks to nothing else (such a mirror answers blobs itself, no redirect).
    trusted = VIA_CA_PATH if reg.via_ca else CA_BUNDLE
    return [_d("proxy_ssl_server_name", "on"), _d("proxy_ssl_verify", "on"),
            _d("proxy_ssl_verify_depth", "5"), _d("proxy_ssl_trusted_certificate", trusted)]


def nginx_conf(reg: RegistryPlan) -> str:
    """The front cache's whole nginx.conf, for the mirror `reg`."""
    front = reg.front
    upstream = reg.fetches_from
    assert front is not None and upstream is not None
    http = [
        _d("access_log", "off"),
        _d("resolver", RESOLVER, "valid=30s", "ipv6=off"),
        *_tls_to_upstream(reg),
        _d("proxy_http_version", "1.1"),
        _d("proxy_cache_path", cache_dir(reg), "levels=1:2", "keys_zone=blobs:10m",
           f"max_size={nginx_value(front.max_size)}", f"inactive={nginx_value(front.keep)}", "use_temp_path=off"),
        _d("proxy_cache_path", TOKEN_CACHE_DIR, "keys_zone=tokens:1m", "max_size=16m", f"inactive={TOKEN_KEEP}",
           "use_temp_path=off"),
        _d("client_max_body_size", "0"),
        *_realm_maps(upstream),
        _d("server", block=[
            _d("listen", str(FRONT_PORT)),
            # Every challenge names the front's realm path instead of the upstream's realm.
            _d("proxy_hide_header", "WWW-Authenticate"),
            _d("add_header", "WWW-Authenticate", "$kindreg_challenge", "always"),
            _d("location", "=", HEALTH_PATH, block=[_d("return", "200", "ok")]),
            _blob_location(front),
            _realm_location(),
            _passthrough_location(),
        ]),
        _fetch_server(upstream),
    ]
    payload = [
        _d("user", "nobody"),
        _d("worker_processes", "2"),
        _d("error_log", "stderr", "warn"),
        _d("pid", "/tmp/nginx.pid"),
        _d("events", block=[_d("worker_connections", "1024")]),
        _d("http", block=http),
    ]
    return "# kindreg front cache: one upstream fetch per blob (kindreg/core/frontcache.py)\n" + \
        crossplane.build(payload, indent=2) + "\n"


def labels(reg: RegistryPlan) -> dict[str, str]:
    """The mirror's labels, as a front cache: `status` and the guard find it with its mirror."""
    keep = (Label.MANAGED, Label.SCOPE, Label.STACK, Label.NAME, Label.UPSTREAM)
    return {**{k: v for k, v in registry_labels(reg).items() if k in keep}, Label.ROLE.value: FRONT_ROLE}


def entrypoint() -> list[str]:
    return ["nginx", "-c", CONF_PATH, "-g", "daemon off;"]


def probe_from_registry(reg: RegistryPlan) -> list[str]:
    """Run in the mirror's registry container: the front answers where the registry reaches it."""
    assert reg.front is not None
    return ["wget", "-q", "-O", "/dev/null", f"{reg.front.url}{HEALTH_PATH}"]


def healthcheck_command() -> list[str]:
    return ["CMD", "wget", "-q", "-O", "/dev/null", HEALTH_URL]
