"""vrrpd.config.keytree: every `checker.mapping` call of vrrpd.config reads a key tuple of the tree, so the tree (and
the vrrpd.yaml(5) page built from it) cannot miss a key the checker accepts."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from vrrpd.config import ConfigError, parse_config
from vrrpd.config.keytree import DEFAULTS, INSTANCE, KEY_TREE, Schema, key_paths

CONFIG = Path(__file__).resolve().parent.parent / "vrrpd" / "config"
DYNAMIC = {("syncgroups", "names")}
"""Calls whose keys are the document's own names (the groups of `sync_groups`), not a schema."""


def schemas(schema: Schema = KEY_TREE) -> list[Schema]:
    found = [schema]
    for _, below in schema.nested.values():
        found += [s for s in schemas(below) if not any(s is f for f in found)]
    return found


def mapping_calls() -> list[tuple[str, ast.expr]]:
    calls = []
    for path in sorted(CONFIG.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "mapping":
                calls.append((path.stem, node.args[2]))
    return calls


def key_tuples(module: str, arg: ast.expr) -> list[tuple[str, ...]]:
    """The key tuple(s) a call's third argument can be: a module constant, or any value of a constant table."""
    namespace = vars(importlib.import_module(f"vrrpd.config.{module}"))
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
        return list(namespace[arg.value.id].values())
    assert isinstance(arg, ast.Name), f"{module}: {ast.unparse(arg)} is not a named key tuple"
    return [namespace[arg.id]]


def test_every_mapping_call_reads_a_key_tuple_of_the_tree():
    calls = mapping_calls()
    assert len(calls) >= 15
    known = [set(s.keys) for s in schemas()]
    for module, arg in calls:
        if isinstance(arg, ast.Name) and (module, arg.id) in DYNAMIC:
            continue
        for keys in key_tuples(module, arg):
            assert set(keys) in known, f"{module}: {ast.unparse(arg)} = {keys} is not in vrrpd.config.keytree"


def test_defaults_take_every_instance_key_but_the_identity_ones():
    assert set(DEFAULTS.keys) == set(INSTANCE.keys) - {"name", "interface", "vrid", "virtual_addresses"}
    assert all(DEFAULTS.nested[k][1] is INSTANCE.nested[k][1] for k in DEFAULTS.nested)


def test_paths_name_the_place_of_each_key_as_error_messages_do():
    paths = {p.path for p in key_paths()}
    config = (
        "instances:\n  - {name: a, interface: eth0, vrid: 1, virtual_addresses: [198.51.100.1/24], garp: {cont: 1}}"
    )
    with pytest.raises(ConfigError, match=r"instances\[0\]\.garp\.cont .*did you mean count"):
        parse_config(config, "f.yaml")
    assert "instances[].garp.count" in paths  # the checker's path, the list index left out
    assert {"track_scripts.NAME.timeout", "sync_groups.NAME.notify.on_master", "track_files.NAME.init.overwrite"} <= (
        paths
    )
    assert not any(p.startswith("defaults.") for p in paths)
    assert len(paths) == len(list(key_paths()))  # no path twice
