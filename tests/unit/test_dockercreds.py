"""Docker credential helpers, run for real: fake `docker-credential-*` programs on PATH that
speak the helpers' protocol (server address on stdin, JSON on stdout, "credentials not found"
and a non-zero exit when they have nothing)."""
import shutil
import stat

import pytest

from kindreg.adapters import dockercreds
from kindreg.core.credentials import HelperFailed

SECRET = "Helper-Canary-do-not-print"

HELPERS = {
    "fake": f"""#!/bin/sh
[ "$1" = get ] || exit 9
read -r server
case "$server" in
  quay.io) printf '{{"ServerURL":"quay.io","Username":"robot","Secret":"{SECRET}"}}\\n' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
""",
    "broken": f"""#!/bin/sh
echo "internal error near {SECRET}" >&2
exit 3
""",
    "token": f"""#!/bin/sh
printf '{{"ServerURL":"x","Username":"<token>","Secret":"{SECRET}"}}\\n'
""",
    "garbled": f"""#!/bin/sh
echo "{SECRET} is not json"
""",
}


@pytest.fixture
def path(tmp_path):
    for name, script in HELPERS.items():
        exe = tmp_path / f"docker-credential-{name}"
        exe.write_text(script)
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return lambda program: shutil.which(program, path=str(tmp_path))


def test_a_helper_answers_for_its_server(path):
    assert dockercreds.get("fake", "quay.io", path) == ("robot", SECRET)


def test_a_helper_without_credentials_for_the_server_answers_none(path):
    assert dockercreds.get("fake", "ghcr.io", path) is None


@pytest.mark.parametrize("name, says", [
    ("broken", "docker-credential-broken get exited with status 3"),
    ("token", "holds an identity token for quay.io, which a registry mirror cannot use"),
    ("garbled", "printed something that is not its JSON answer"),
    ("absent", "docker-credential-absent is not on PATH"),
])
def test_a_failing_helper_is_named_and_shows_nothing_it_printed(path, name, says):
    with pytest.raises(HelperFailed) as err:
        dockercreds.get(name, "quay.io", path)
    assert says in str(err.value)
    assert SECRET not in str(err.value)
