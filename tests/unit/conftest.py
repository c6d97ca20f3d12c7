"""Unit tests never open a connection to a container address: the host reaches them (the Linux
case) unless a test gives its own `HostRoutes`."""
import pytest

from kindreg.adapters import reach


@pytest.fixture(autouse=True)
def _containers_routable(monkeypatch):
    monkeypatch.setattr(reach, "tcp_connect", lambda host, port: True)
