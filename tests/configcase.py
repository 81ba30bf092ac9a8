"""Shared by the config tests (tests/test_config*.py): parse a YAML text as if it were FILE, or get the one-sentence
error it raises."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from vrrpd.config import Config, ConfigError, parse_config

FILE = "/etc/vrrpd/vrrpd.yaml"

# One instance. Line numbers in the cases count from the first line of this text (line 1 = "instances:"), so a
# key appended to instances[0] is on line 6.
BASE = """\
instances:
  - name: a
    interface: eth0
    vrid: 1
    virtual_addresses: [198.51.100.1/24]
"""


def parse(text: str) -> Config:
    """A whole document (dedented)."""
    return parse_config(textwrap.dedent(text), FILE)


def error(text: str) -> str:
    """The ConfigError message of a whole document (dedented)."""
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def instance_keys_parsers(default_base: str) -> tuple[Callable[..., Config], Callable[..., str]]:
    """`parse(extra, base=default_base)` and `error(extra, base=default_base)` for documents made of `base`, which
    ends with one instance, plus `extra` (dedented) as more keys of that instance."""

    def parse(extra: str, base: str = default_base) -> Config:
        return parse_config(base + textwrap.indent(textwrap.dedent(extra), "    "), FILE)

    def error(extra: str, base: str = default_base) -> str:
        with pytest.raises(ConfigError) as info:
            parse(extra, base)
        return str(info.value)

    return parse, error


def uncomment(text: str, key: str, indent: str = "") -> str:
    """`text` (etc/vrrpd.yaml) with its commented-out ``{indent}# {key}:`` block uncommented: that line and every
    line below it commented deeper (``{indent}#  ...``)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{indent}# {key}:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith(f"{indent}#  "):
        end += 1
    for i in range(start, end):
        lines[i] = indent + lines[i][len(indent) + 2 :]
    return "".join(lines)
