"""The import contract (issue #10): the layer edges of docs/architecture.md, no cycles, no private names across
modules, and a protocol core that stays sans-I/O. Stdlib only (ast): the rule holds by itself.

Every import counts: at the top, under `if TYPE_CHECKING:` and inside functions. Test modules are checked too
(they are imported by basename, so `from daemoncase import Tx` is an edge to tests/daemoncase.py).

`python tests/test_protocol_purity.py` prints the figures (cycles, private imports, longest modules and classes).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vrrpd"
TEST_DIRS = ("tests", "netns-tests", "bench")

# Which layers a layer may import (itself included). `vrrpd` is the package root (__version__ only) and
# `defaults` holds paths; both import nothing, so anyone may use them.
ALLOWED: dict[str, set[str]] = {
    "protocol": {"protocol"},
    "config": {"config", "protocol"},
    "importer": {"importer", "config", "protocol"},
    "net": {"net", "protocol"},
    "services": {"services", "net", "config", "protocol"},
    "daemon": {"daemon", "services", "net", "config", "protocol"},
    "cli": {"cli", "daemon", "services", "net", "config", "importer", "protocol"},
    "defaults": set(),
    "vrrpd": set(),
}
ANYONE = {"vrrpd", "defaults"}
LEAVES = {"vrrpd.services.control", "vrrpd.services.sockdir", "vrrpd.services.logsetup"}
"""Modules that import nothing from vrrpd but each other (the control socket is shared by the daemon and vrrpctl,
which must stay light: its socket-directory checks and its rate-limited logging are leaves too)."""
# The core is sans-I/O: no clocks, sockets, processes, threads or third-party code (RFC-level logic only).
PROTOCOL_FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "subprocess",
    "pyroute2",
    "scapy",
    "select",
    "os",
    "threading",
    "yaml",
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    names: tuple[str, ...] = ()
    """`from target import names` (names that are not modules themselves)."""


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    edges: list[Edge] = field(default_factory=list)
    """Imports of our own modules (vrrpd's and the test helpers')."""
    roots: set[str] = field(default_factory=set)
    """Top-level names of everything imported (stdlib and third party included)."""


def module_name(path: Path) -> str:
    """`vrrpd.x.y` for the package; the basename for a test, bench or helper module (how pytest imports it)."""
    if PACKAGE in path.parents:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return path.stem


def sources(dirs: Iterable[Path]) -> Iterator[Path]:
    for d in dirs:
        yield from sorted(p for p in d.rglob("*.py") if ".venv" not in p.parts)


def load(paths: Iterable[Path]) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in paths:
        name = module_name(path)
        if PACKAGE not in path.parents and name in modules:
            continue  # two helpers of one basename in different folders: ambiguous, not ours to resolve
        modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    for module in modules.values():
        _collect(module, modules)
    return modules


def _collect(module: Module, modules: dict[str, Module]) -> None:
    is_package = module.path.name == "__init__.py"
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module.roots.add(alias.name.split(".")[0])
                target = _ours(alias.name, modules)
                if target:
                    module.edges.append(Edge(module.name, target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module.name, is_package, node.module, node.level)
            module.roots.add(base.split(".")[0])
            target = _ours(base, modules)
            if target is None:
                continue
            plain: list[str] = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:
                    module.edges.append(Edge(module.name, sub, node.lineno))
                else:
                    plain.append(alias.name)
            if plain:
                module.edges.append(Edge(module.name, target, node.lineno, tuple(plain)))


def _absolute(name: str, is_package: bool, target: str | None, level: int) -> str:
    if level == 0:
        return target or ""
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, target] if target else parts)


def _ours(name: str, modules: dict[str, Module]) -> str | None:
    """The longest prefix of `name` that is one of our modules."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def layer(name: str) -> str | None:
    """The layer of a vrrpd module (`vrrpd.daemon.driver` -> daemon), None for a test module."""
    parts = name.split(".")
    if parts[0] != "vrrpd":
        return None
    return "vrrpd" if len(parts) == 1 else parts[1]


# --- the rules -------------------------------------------------------------------------------------------------


def layer_violations(modules: dict[str, Module]) -> list[str]:
    out = []
    for module in modules.values():
        own = layer(module.name)
        if own is None:
            continue
        for edge in module.edges:
            other = layer(edge.target)
            if other is None:
                out.append(f"{module.name}:{edge.line} imports the test module {edge.target}")
            elif module.name in LEAVES and edge.target not in LEAVES:
                out.append(f"{module.name}:{edge.line} imports {edge.target}, but it must import nothing from vrrpd")
            elif other not in ALLOWED.get(own, set()) | ANYONE:
                out.append(f"{module.name}:{edge.line} ({own}) imports {edge.target} ({other})")
    return sorted(out)


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    graph = {name: sorted({e.target for e in m.edges}) for name, m in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def private_imports(modules: dict[str, Module]) -> list[str]:
    """`from m import _x` of another module of ours, and `m._x` on a module of ours bound by an import."""
    out = []
    for module in modules.values():
        for edge in module.edges:
            for name in edge.names:
                if _private(name):
                    out.append(f"{module.name}:{edge.line} imports {name} from {edge.target}")
        bound = _bound_modules(module, modules)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
                target = bound.get(node.value.id)
                if target is not None and target != module.name:
                    out.append(f"{module.name}:{node.lineno} uses {node.attr} of {target}")
    return sorted(out)


def _bound_modules(module: Module, modules: dict[str, Module]) -> dict[str, str]:
    """Local names bound to modules of ours (`import a.b as c`, `from a import b` where b is a module)."""
    bound: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    bound[alias.asname] = alias.name
                elif not alias.asname and alias.name.split(".")[0] in modules:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module.name, module.path.name == "__init__.py", node.module, node.level)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return bound


def private_uses_in_tests(modules: dict[str, Module]) -> list[str]:
    """Tests reach no private name of vrrpd's through an object either (`daemon._feed(...)`): a `._name` that
    vrrpd defines and no test helper does. Tests use a public seam instead."""
    ours = set().union(*(_private_definitions(m.tree) for m in modules.values() if layer(m.name) is not None))
    helpers = set().union(*(_private_definitions(m.tree) for m in modules.values() if layer(m.name) is None))
    out = []
    for module in modules.values():
        if layer(module.name) is not None:
            continue
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ours - helpers
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                out.append(f"{module.name}:{node.lineno} uses {node.attr}")
    return out


def _private_definitions(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and _private(node.name):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and _private(target.id):
                    names.add(target.id)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def imports_of_test_modules(modules: dict[str, Module]) -> list[str]:
    """A test module (test_*.py) is imported by nobody: shared helpers live in helper modules."""
    return [
        f"{m.name}:{e.line} imports {e.target}"
        for m in modules.values()
        for e in m.edges
        if e.target.startswith("test_") and e.target != m.name
    ]


# --- the tests -------------------------------------------------------------------------------------------------


def whole_tree() -> dict[str, Module]:
    return load(sources([PACKAGE, *(ROOT / d for d in TEST_DIRS)]))


TREE = whole_tree()


def test_protocol_package_imports_no_io_modules():
    files = [m for m in TREE.values() if layer(m.name) == "protocol"]
    assert len(files) >= 5
    for module in files:
        bad = module.roots & PROTOCOL_FORBIDDEN
        assert not bad, f"{module.path.name} imports {sorted(bad)}"


def test_every_vrrpd_module_belongs_to_a_known_layer():
    unknown = sorted({layer(n) for n in TREE if layer(n) is not None} - set(ALLOWED))
    assert unknown == []


def test_layer_edges_follow_the_dependency_rule():
    assert layer_violations(TREE) == []


def test_no_import_cycles_counting_type_checking_and_function_level_imports():
    assert cycles(TREE) == []


def test_no_private_name_crosses_a_module_boundary():
    assert private_imports(TREE) == []


def test_tests_use_no_private_name_of_vrrpd():
    assert private_uses_in_tests(TREE) == []


def test_no_module_imports_a_test_module():
    assert imports_of_test_modules(TREE) == []


def test_package_init_files_only_re_export():
    """A package's __init__ holds imports (and `__all__`/`__version__`) only; net/ and services/ keep theirs empty,
    since whatever they import is paid at every start-up."""
    for module in TREE.values():
        if module.path.name != "__init__.py" or layer(module.name) is None:
            continue
        body = [n for n in module.tree.body if not _docstring(n)]
        for node in body:
            assert isinstance(node, ast.Import | ast.ImportFrom) or _dunder_assignment(node), (
                f"{module.path.relative_to(ROOT)}:{node.lineno} is not an import"
            )
        if module.name in ("vrrpd.net", "vrrpd.services"):
            assert body == [], f"{module.name} must stay empty"


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _dunder_assignment(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and all(
        isinstance(t, ast.Name) and t.id.startswith("__") and t.id.endswith("__") for t in node.targets
    )


# --- the checks catch what they are for ----------------------------------------------------------------------

VIOLATIONS = {
    "vrrpd/protocol/a.py": "from vrrpd.config.b import load\n",  # protocol may import nothing above it
    "vrrpd/config/b.py": "def f():\n    from vrrpd.config.c import _hidden\n",  # private, in a function
    "vrrpd/config/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vrrpd.config import b\n",
    "vrrpd/net/d.py": "import vrrpd.config.c as c\nx = c._hidden\n",  # net never imports config, nor privates
    "vrrpd/services/control.py": "from vrrpd.protocol import a\n",  # the leaf imports nothing of ours
    "vrrpd/config/__init__.py": "from vrrpd.config.b import f\nX = 1\n",
    "vrrpd/protocol/__init__.py": "",
    "tests/helper.py": "from test_other import thing\n",
    "tests/test_other.py": "import vrrpd.config.c\nthing = obj._feed\n",
    "vrrpd/daemon/e.py": "class D:\n    def _feed(self):\n        pass\n",
}


def test_the_contract_fails_on_deliberate_violations(tmp_path, monkeypatch):
    for rel, text in VIOLATIONS.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "vrrpd")
    tree = load(sources([tmp_path / "vrrpd", tmp_path / "tests"]))

    assert layer_violations(tree) == [
        "vrrpd.net.d:1 (net) imports vrrpd.config.c (config)",
        "vrrpd.protocol.a:1 (protocol) imports vrrpd.config.b (config)",
        "vrrpd.services.control:1 imports vrrpd.protocol.a, but it must import nothing from vrrpd",
    ]
    # b -> c (inside a function) and c -> b (under TYPE_CHECKING) are a cycle all the same.
    assert cycles(tree) == [["vrrpd.config.b", "vrrpd.config.c"]]
    assert private_imports(tree) == [
        "vrrpd.config.b:2 imports _hidden from vrrpd.config.c",
        "vrrpd.net.d:2 uses _hidden of vrrpd.config.c",
    ]
    assert private_uses_in_tests(tree) == ["test_other:2 uses _feed"]
    assert imports_of_test_modules(tree) == ["helper:1 imports test_other"]
    with pytest.raises(AssertionError, match="is not an import"):
        monkeypatch.setattr(sys.modules[__name__], "TREE", tree)
        test_package_init_files_only_re_export()


# --- figures for the closing note ------------------------------------------------------------------------------


def longest(modules: dict[str, Module], count: int = 5) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    files, classes = [], []
    for module in modules.values():
        if layer(module.name) is None:
            continue
        files.append((len(module.path.read_text().splitlines()), str(module.path.relative_to(ROOT))))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                classes.append((length, f"{module.name}.{node.name}"))
    return sorted(files, reverse=True)[:count], sorted(classes, reverse=True)[:count]


if __name__ == "__main__":
    tree = whole_tree()
    found = cycles(tree)
    privates = private_imports(tree)
    print(f"import cycles: {len(found)}")
    for component in found:
        print("  " + " -> ".join(component))
    print(f"cross-module private imports: {len(privates)}")
    for line in privates:
        print("  " + line)
    print(f"private vrrpd names used by tests: {len(private_uses_in_tests(tree))}")
    print(f"test modules imported by other modules: {len(imports_of_test_modules(tree))}")
    print(f"layer violations: {len(layer_violations(tree))}")
    files, classes = longest(tree)
    print("longest modules: " + ", ".join(f"{path} {n}" for n, path in files))
    print("longest classes: " + ", ".join(f"{name} {n}" for n, name in classes))
