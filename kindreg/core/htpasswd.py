"""The htpasswd file of a mirror with basic auth: one `user:bcrypt-hash` line per user.

distribution's htpasswd access controller accepts bcrypt hashes only (registry/auth/htpasswd,
`bcrypt.CompareHashAndPassword`). The salt is derived from the password and the user name, so
the same passwords give the same file on every run: a program that drew a new salt each time
would show the file, and replace every mirror, on each `up`. The file is a secret all the same
(a hash can be attacked offline): it reaches the container as a secret upload, never a log.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Mapping

import bcrypt

COST = 10  # bcrypt's rounds as 2^COST: about 50 ms a user per program run on a laptop core
_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _salt(user: str, password: str) -> bytes:
    digest = hmac.new(password.encode(), f"kindreg htpasswd {user}".encode(), hashlib.sha256).digest()[:16]
    encoded = base64.b64encode(digest).rstrip(b"=").translate(bytes.maketrans(_STD, _BCRYPT))
    return b"$2b$%02d$" % COST + encoded


def line(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), _salt(user, password)).decode()}"


def render(passwords: Mapping[str, str]) -> str:
    """The file, users in the order given."""
    return "".join(line(user, password) + "\n" for user, password in passwords.items())


def matches(text: str, user: str, password: str) -> bool:
    """Whether `text` lets `user` in with `password` (as distribution checks it)."""
    for entry in text.splitlines():
        name, _, hashed = entry.partition(":")
        if name == user:
            return bcrypt.checkpw(password.encode(), hashed.encode())
    return False
