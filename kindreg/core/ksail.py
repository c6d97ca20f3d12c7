"""KSail's forms, translated to kindreg's fields before validation.

KSail writes a mirror as one string, `[user[:pass]@]host[=upstream]`; kindreg accepts it
wherever a mirror mapping goes (`mirrors` of the shared stack, `registries.mirrors` of a
project, in a lok8s file too). The translation turns each such string into the mapping it
means; validation then checks that mapping as it checks one written out (a literal password
is refused there, naming the field, never the value).
"""
from __future__ import annotations

import re
from typing import Optional

from .config import mirror_name_for_host
from .errors import Problem, problem
from .vocabulary import KNOWN_UPSTREAMS

FORM = "[user:pass@]host[=upstream]"


class NotAMirror(ValueError):
    """The string is not of KSail's form; `shown` is it with any password masked."""

    def __init__(self, shown: str):
        super().__init__(f'"{shown}" is not a mirror of the form "{FORM}"')


def mirrors(items: object, at: tuple, path_of) -> tuple[object, list[Problem]]:
    """The mirror list with each KSail string as its mapping; a string that is not one is a
    problem at its place, and stays there (validation reports nothing again where a problem is)."""
    if not isinstance(items, list):
        return items, []
    out, problems = [], []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            out.append(item)
            continue
        try:
            out.append(parse_mirror_string(item))
        except NotAMirror as err:
            problems.append(problem(path_of((*at, i)), str(err)))
            out.append(item)
    return out, problems


def parse_mirror_string(text: str) -> dict:
    """KSail's mirror grammar `[user[:pass]@]host[=upstream]` as a mirror mapping.

    As KSail splits it (pkg/svc/provisioner/registry): the first `=` ends the host part, so an
    `@` inside the upstream URL is the URL's, not credentials; in the host part the last `@`
    ends the credentials and the first `:` in them ends the user (placeholders are one token).
    """
    equals = _outside_placeholders(text, "=")
    left, upstream = (text[:equals[0]], text[equals[0] + 1:]) if equals else (text, None)
    ats = _outside_placeholders(left, "@")
    creds, host = (left[:ats[-1]], left[ats[-1] + 1:]) if ats else (None, left)
    if not host or re.search(r"\s", host) or upstream == "" or (upstream and re.search(r"\s", upstream)):
        # The text may hold a password: quote it with the credentials masked, never whole.
        shown = f"{_user_of(creds)}:***@{left[ats[-1] + 1:]}" if ats else left
        raise NotAMirror(shown + ("=..." if upstream is not None else ""))
    host = host.lower()
    out = {"name": mirror_name_for_host(host), "url": upstream or KNOWN_UPSTREAMS.get(host, f"https://{host}"),
           "host": host}
    if creds is not None:
        colons = _outside_placeholders(creds, ":")
        out["username"] = creds[:colons[0]] if colons else creds
        if colons:
            out["password"] = creds[colons[0] + 1:]
    return out


def _user_of(creds: Optional[str]) -> str:
    colons = _outside_placeholders(creds or "", ":")
    return (creds or "")[:colons[0]] if colons else (creds or "")


def _outside_placeholders(text: str, chars: str) -> list[int]:
    """Positions of `chars` that are not inside a ${...} placeholder (whose `:-` and `:=` are
    part of the placeholder, not separators)."""
    found, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}" and depth:
            depth -= 1
        elif text[i] in chars and not depth:
            found.append(i)
        i += 1
    return found
