"""The names the program gives its Pulumi resources, defined once.

The components name their children from the stack name the same way (`<stack>-<registry>`,
then `-container`, `-volume`, ...); a drift fix that replaces a resource finds it in the stack's
state by these names. `tests/mocks` checks every name here against the resources the program
registers, so the two cannot drift apart.
"""
from __future__ import annotations


def network(stack: str) -> str:
    return f"{stack}-network"


def registry(stack: str, name: str) -> str:
    """A Registry component: `name` is build, cache or the mirror's name."""
    return f"{stack}-{name}"


def registry_container(stack: str, name: str) -> str:
    return f"{registry(stack, name)}-container"


def registry_volume(stack: str, name: str) -> str:
    return f"{registry(stack, name)}-volume"


def front_container(stack: str, mirror: str) -> str:
    return f"{registry(stack, mirror)}-front-container"


def certificate(stack: str) -> str:
    return f"{stack}-tls"


def mkcert(stack: str) -> str:
    return f"{certificate(stack)}-mkcert"


def certs_tree(stack: str) -> str:
    return f"{stack}-certs"


def certs_file(stack: str, path: str) -> str:
    """The Command writing `<host>/hosts.toml` of the tree."""
    return f"{certs_tree(stack)}-{path.split('/')[0]}"


def certs_ca(stack: str) -> str:
    return f"{certs_tree(stack)}-ca"


def kind(stack: str) -> str:
    return f"{stack}-kind"


def connect(stack: str) -> str:
    return f"{stack}-connect"


def registry_hosting(stack: str) -> str:
    return f"{stack}-registry-hosting"
