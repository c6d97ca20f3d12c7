"""Host facts doctor reads: is a CA in the trust bundle, is a port free."""
import socket

from kindreg import hostfacts

CA = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpKbd3pNMA0GCSqGSIb3\nDQEBCwUA\n-----END CERTIFICATE-----\n"


def test_ca_in_the_bundle(tmp_path):
    ca = tmp_path / "rootCA.pem"
    ca.write_text(CA)
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nOTHER\n-----END CERTIFICATE-----\n")
    assert hostfacts.ca_trusted(str(ca), str(bundle)) is False
    bundle.write_text(bundle.read_text() + CA.replace("\n", "\r\n"))  # line endings do not matter
    assert hostfacts.ca_trusted(str(ca), str(bundle)) is True
    assert hostfacts.ca_trusted(str(ca), str(tmp_path / "no-bundle")) is None


def test_port_free():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert hostfacts.port_free(taken) is False
    assert hostfacts.port_free(taken) is True


def test_mkcert_caroot_prefers_the_environment():
    assert hostfacts.mkcert_caroot({"CAROOT": "/tmp/ca"}, which=lambda t: None) == "/tmp/ca"
    assert hostfacts.mkcert_caroot({}, which=lambda t: None) is None
