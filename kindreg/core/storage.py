"""A mirror's S3 storage as the registry itself sees it: distribution's storage health check.

The s3 driver touches the bucket only when a request needs it, so a registry with wrong keys or
an unreachable store starts and answers `/v2/` as if all were well. Its health check (`Stat("/")`
through the same driver, registry/handlers/app.go `RegisterHealthChecks`) is what notices: it
logs `storage driver health check: <error>` at each failure and, past the threshold, the
registry answers 503 to everything (health.Handler). An S3-backed mirror checks every
HEALTH_INTERVAL seconds; `kindreg up` asks it once that check has run, and says what the logged
error means, naming the bucket.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from .plan import S3Plan

HEALTH_INTERVAL_SECONDS = 2
HEALTH_THRESHOLD = 2  # failures in a row before the registry answers 503
# After this long the check has run often enough to have failed past its threshold.
SETTLE_SECONDS = HEALTH_INTERVAL_SECONDS * HEALTH_THRESHOLD + 1
LOG_MARK = "storage driver health check: "
_MSG = re.compile(r'msg="' + re.escape(LOG_MARK) + r'((?:[^"\\]|\\.)*)"')

# What S3 error codes (and the Go network errors under them) mean for the user, and the fix.
_KEYS_REFUSED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken")
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
                "dial tcp", "EOF", "certificate")


def failure(lines: Iterable[str]) -> Optional[str]:
    """The error of the registry's last failed storage check in its log lines, or None."""
    found = None
    for line in lines:
        if LOG_MARK not in line:
            continue
        m = _MSG.search(line)
        found = m.group(1).replace('\\"', '"') if m else line.split(LOG_MARK, 1)[1].strip()
    return found


def explain(s3: S3Plan, error: Optional[str], keys_key: str) -> tuple[str, str]:
    """(what is wrong, the fix) for a failed storage check of a mirror on `s3`; `keys_key` is
    where the keys are given (`kindreg:s3Credentials`)."""
    where = f"bucket {s3.bucket}" + (f" at {s3.endpoint}" if s3.endpoint else f" (AWS S3, {s3.region})")
    said = _short(error) if error else "no error logged"
    if error and any(code in error for code in _KEYS_REFUSED):
        return (f"{where} refuses the keys ({said})",
                f"set the bucket's keys: `pulumi config set --secret --path '{keys_key}.accessKey' ...` and "
                "secretKey, with a policy that lets them list, read, write and delete in the bucket")
    if error and "NoSuchBucket" in error:
        return (f"{where} does not exist ({said})", f"create bucket {s3.bucket} on the store, or fix storage.s3.bucket")
    if error and any(sign in error for sign in _UNREACHABLE):
        return (f"{where} does not answer ({said})",
                f"start the store or fix storage.s3.endpoint; the registry reaches it from its container, "
                "so the address must be one containers can reach")
    return (f"{where} fails the registry's storage check ({said})",
            "fix storage.s3 or the store; `docker logs` of the mirror has the whole error")


def _short(error: str, limit: int = 200) -> str:
    return error if len(error) <= limit else error[:limit] + "..."
