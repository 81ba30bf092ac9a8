"""docs/reload.md stays true to the code: a row for every instance key, every top-level section and every sync
group key, and every test it names exists."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from vrrpd.config import InstanceConfig
from vrrpd.config.syncgroups import SyncGroupConfig

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "reload.md").read_text()
TOP_LEVEL = (
    "control_socket",
    "log_level",
    "metrics",
    "defaults",
    "instances",
    "track_scripts",
    "track_files",
    "sync_groups",
)


def rows(section: str) -> set[str]:
    """The keys in the first column of the table under `## section`."""
    body = DOC.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_.]+)`", body, re.MULTILINE)}


def test_every_instance_key_has_a_row():
    keys = {f.name for f in dataclasses.fields(InstanceConfig) if f.compare}
    assert rows("Instance keys") == keys


def test_every_top_level_section_and_sync_group_key_has_a_row():
    group_keys = {f"sync_groups.{f.name}" for f in dataclasses.fields(SyncGroupConfig) if f.compare} - {
        "sync_groups.name"
    }
    assert rows("The rest of the file") == set(TOP_LEVEL) | group_keys


def test_every_test_the_page_names_exists():
    defined = {
        node.name
        for path in (*(ROOT / "tests").glob("test_*.py"), *(ROOT / "netns-tests").glob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
    }
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", DOC))
    assert named and named - defined == set()
