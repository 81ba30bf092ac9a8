"""The protocol core stays sans-I/O: no module under vrrpd/protocol imports I/O, clocks or scapy."""

from __future__ import annotations

import ast
from pathlib import Path

import vrrpd.protocol

FORBIDDEN = {"asyncio", "socket", "time", "subprocess", "pyroute2", "scapy", "select", "os", "threading"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_protocol_package_imports_no_io_modules():
    files = sorted(Path(vrrpd.protocol.__file__).parent.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        bad = imported_roots(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {sorted(bad)}"
