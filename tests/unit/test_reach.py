"""How the host's commands reach a registry: its address, its published port, or not at all."""
import pytest

from kindreg.adapters.reach import HostRoutes, Route, published_port
from kindreg.core.endpoint import is_local
from tests.fake_engine import registry
from tests.helpers import plan_of

BUILD = plan_of("dev").build
PUBLISHED = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}


@pytest.mark.parametrize("endpoint, local", [
    ("unix:///var/run/docker.sock", True), ("unix:///Users/me/.docker/run/docker.sock", True),
    ("npipe:////./pipe/docker_engine", True), ("tcp://127.0.0.1:2375", True), ("tcp://localhost:2376", True),
    ("tcp://10.0.0.5:2376", False), ("ssh://me@builder", False), ("ssh://me@localhost", False), (None, True),
])
def test_which_engines_share_this_hosts_loopback(endpoint, local):
    assert is_local(endpoint) is local


def test_published_port_is_read_from_the_engine():
    assert published_port(registry(BUILD, ports=PUBLISHED), 80) == 32768
    assert published_port(registry(BUILD, ports=PUBLISHED), 443) is None
    assert published_port(registry(BUILD), 80) is None
    assert published_port(registry(BUILD, ports={"80/tcp": [{"HostIp": "::1", "HostPort": "1"}]}), 80) is None


def test_routable_addresses_win_and_are_asked_once():
    asked = []
    routes = HostRoutes("unix:///var/run/docker.sock", connect=lambda h, p: asked.append((h, p)) or True)
    assert routes.route(registry(BUILD, ports=PUBLISHED)) == Route("10.125.125.101", published=False)
    assert routes.route(registry(plan_of("dev").cache)) == Route("10.125.125.102", published=False)
    assert asked == [("10.125.125.101", 80)] and routes.direct is True


def test_unroutable_addresses_use_the_published_port_on_a_local_engine_only():
    desktop = HostRoutes("unix:///var/run/docker.sock", connect=lambda h, p: False)
    assert desktop.route(registry(BUILD, ports=PUBLISHED)) == Route("127.0.0.1:32768", published=True)
    assert desktop.route(registry(BUILD)) is None
    remote = HostRoutes("ssh://me@builder", connect=lambda h, p: False)
    assert remote.route(registry(BUILD, ports=PUBLISHED)) is None
    assert "the engine is remote (ssh://me@builder)" in remote.unreachable(registry(BUILD))


def test_a_stopped_registry_is_not_taken_as_the_answer():
    asked = []
    routes = HostRoutes("unix:///var/run/docker.sock", connect=lambda h, p: asked.append(h) or True)
    assert routes.route(registry(BUILD, status="exited", health=None)) is None
    assert routes.direct is None and asked == []
