"""Where this host finds a stack's running registry: the container by its labels, then its
route (the container's address, or the port published on 127.0.0.1; see adapters/reach)."""
from __future__ import annotations

from typing import Optional

from kindreg.adapters.engine import Engine, EngineError, label, name_of, running
from kindreg.adapters.reach import HostRoutes, Route
from kindreg.core.vocabulary import Label, Role


def running_registry(engine: Engine, stack: str, role: Role) -> Optional[dict]:
    """`docker inspect` of the stack's running registry of that role, by the labels kindreg sets."""
    for c in engine.containers():
        if (label(c, Label.ROLE), label(c, Label.STACK)) == (role, stack) and running(c):
            return c
    return None


def route_to(engine: Engine, routes: HostRoutes, stack: str, role: Role) -> Optional[tuple[Route, bool]]:
    """(route, tls) of the stack's running registry; None when none runs; EngineError when this
    host cannot reach the one that runs."""
    found = running_registry(engine, stack, role)
    if found is None:
        return None
    route = routes.route(found)
    if route is None:
        raise EngineError(f"the {role} registry of stack {stack} ({name_of(found)}) cannot be reached from this "
                          f"host: {routes.unreachable(found)}")
    return route, label(found, Label.SCHEME) == "https"
