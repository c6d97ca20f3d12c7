"""Docker credential helpers (`docker-credential-<name>`), asked as the Docker CLI asks them.

Protocol (docker/docker-credential-helpers, client.Get): run `docker-credential-<name> get`
with the server address on stdin; it prints `{"ServerURL", "Username", "Secret"}`, or exits
non-zero with "credentials not found in native keychain" when it has none. Nothing a helper
prints is ever shown: errors name the helper and its exit status only.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from typing import Callable, Optional

from kindreg.core.credentials import HelperFailed

NOT_FOUND = "credentials not found"
IDENTITY_TOKEN_USER = "<token>"  # an OAuth refresh token, not a password a registry proxy can send
TIMEOUT_S = 30


def get(name: str, server: str, which: Callable[[str], Optional[str]] = shutil.which) -> Optional[tuple[str, str]]:
    program = f"docker-credential-{name}"
    path = which(program)
    if not path:
        raise HelperFailed(f"{program} is not on PATH")
    try:
        done = subprocess.run([path, "get"], input=server, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise HelperFailed(f"{program} did not run: {type(err).__name__}") from None
    if done.returncode != 0:
        if NOT_FOUND in (done.stdout + done.stderr).lower():
            return None
        raise HelperFailed(f"{program} get exited with status {done.returncode}")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise HelperFailed(f"{program} get printed something that is not its JSON answer") from None
    user, secret = answer.get("Username"), answer.get("Secret")
    if user == IDENTITY_TOKEN_USER:
        raise HelperFailed(f"{program} holds an identity token for {server}, which a registry mirror cannot "
                           "use; log in with a username and password or access token")
    return (user, secret) if isinstance(user, str) and user and isinstance(secret, str) and secret else None
