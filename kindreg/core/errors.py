"""Errors the pure core raises: every problem found, each with its field path and fix."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what was there, and what to do."""

    path: str
    message: str
    value: object = None
    has_value: bool = False

    def render(self) -> str:
        text = f"{_show(self.value)} {self.message}" if self.has_value else self.message
        return f"{self.path}: {text}" if self.path else text


def problem(path: str, message: str, *value: object) -> Problem:
    """Build a Problem; pass the offending value to have it quoted in the message."""
    if value:
        return Problem(path, message, value[0], True)
    return Problem(path, message)


SHOWN_MAX = 80


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{_printable(value)}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def _printable(text: str) -> str:
    """A value as it can appear inside one line of a message: control characters escaped, long
    values cut (a value never adds a line, nor hides the rest of the message)."""
    escaped = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    return escaped if len(escaped) <= SHOWN_MAX else escaped[:SHOWN_MAX - 3] + "..."


class ConfigError(Exception):
    """Invalid configuration: carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{self.source}: {count} {noun}:"]
        lines += [f"  - {p.render()}" for p in self.problems]
        return "\n".join(lines)


class MissingFile(ConfigError):
    """A configuration file that does not exist."""
