"""The grammar of every value kindreg writes somewhere: each check says yes or why not.

A value that passes is safe where it goes: a hostname is a directory name under certs.d and a
DNS name, a URL has exactly a scheme, a host and a port, a name fits Docker, kind and Linux
hostnames. The checks return an error text (None when the value is good) and never quote the
value: the caller decides whether it may be shown.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Optional

HOSTNAME_MAX = 253
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
URL_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)$", re.S)
PORT_RE = re.compile(r"^[0-9]{1,5}$")
LINUX_HOSTNAME_MAX = 63  # a container's name is its hostname


def control_characters(value: str) -> Optional[str]:
    found = CONTROL_RE.search(value)
    if found:
        return f"contains a control character (U+{ord(found.group()):04X}); remove it"
    return None


def hostname(value: str) -> Optional[str]:
    """A lowercase DNS name or an IPv4 address."""
    if is_ipv4(value):
        return None
    if len(value) > HOSTNAME_MAX:
        return f"is longer than {HOSTNAME_MAX} characters, the limit of a DNS name"
    labels = value.split(".")
    if not all(LABEL_RE.match(label) for label in labels):
        return ("is not a host name; use lowercase letters, digits, '-' and '.', each part 1-63 "
                'characters, e.g. "ghcr.io"')
    return None


def host_port(value: str) -> Optional[str]:
    """`host[:port]` as containerd names a registry (its certs.d directory)."""
    host, sep, port = value.rpartition(":") if ":" in value else (value, "", "")
    if sep and not _port(port):
        return f'has port "{port}", which is not a port from 1 to 65535'
    return hostname(host)


def url(value: str) -> Optional[str]:
    """An http(s) registry root: scheme, host, optional port, nothing else."""
    m = URL_RE.match(value)
    if not m or m["scheme"] not in ("http", "https"):
        return 'is not an http:// or https:// URL; write the upstream like "https://quay.io"'
    if "@" in m["authority"]:
        return "carries credentials; give them as the mirror's username and password"
    if m["rest"] not in ("", "/"):
        return "has a path, query or fragment; a mirror's upstream is a registry root URL"
    authority = m["authority"]
    if authority.startswith("["):
        return _ipv6_authority(authority)
    if not authority:
        return 'has no host; write the upstream like "https://quay.io"'
    return host_port(authority)


def url_host(value: str) -> str:
    """The `host[:port]` of a URL that passed `url`."""
    return URL_RE.match(value)["authority"]


def _ipv6_authority(authority: str) -> Optional[str]:
    host, _, rest = authority[1:].partition("]")
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return "has a bracketed host that is not an IPv6 address"
    if rest and not (rest.startswith(":") and _port(rest[1:])):
        return "has a port that is not a port from 1 to 65535"
    return None


def _port(text: str) -> bool:
    return bool(PORT_RE.match(text)) and 1 <= int(text) <= 65535


def is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


def length(value: str, limit: int, why: str) -> Optional[str]:
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} fit ({why})"
    return None
