"""Host facts doctor reads: is a CA in the trust bundle, is a port free, where mkcert's CA is."""
import socket

from kindreg.adapters import host
from kindreg.adapters.mkcert import LocalCA, ca_in_bundle

CA = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpKbd3pNMA0GCSqGSIb3\nDQEBCwUA\n-----END CERTIFICATE-----\n"


def test_ca_in_the_bundle(tmp_path):
    ca = tmp_path / "rootCA.pem"
    ca.write_text(CA)
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nOTHER\n-----END CERTIFICATE-----\n")
    assert ca_in_bundle(str(ca), str(bundle)) is False
    bundle.write_text(bundle.read_text() + CA.replace("\n", "\r\n"))  # line endings do not matter
    assert ca_in_bundle(str(ca), str(bundle)) is True
    assert ca_in_bundle(str(ca), str(tmp_path / "no-bundle")) is None


def test_port_free():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert host.port_free(taken) is False
    assert host.port_free(taken) is True


def test_mkcert_caroot_prefers_the_environment():
    assert LocalCA({"CAROOT": "/tmp/ca"}, which=lambda t: None).root() == "/tmp/ca"
    assert LocalCA({}, which=lambda t: None).root() is None


def test_the_ca_file_exists_only_when_the_ca_does(tmp_path):
    ca = LocalCA({"CAROOT": str(tmp_path)}, which=lambda t: None)
    assert ca.file() is None
    (tmp_path / "rootCA.pem").write_text(CA)
    assert ca.file() == str(tmp_path / "rootCA.pem")
