"""Import the few pyroute2 modules the daemon uses without running pyroute2's package `__init__`.

pyroute2's `__init__` imports its whole public API (NDB with sqlite3, IPDB, conntrack, ipset, nl80211, wireguard,
plan9, ...): on this project's lab VM that is +9.4 MB RSS and ~150 ms of start-up, against +3.6 MB for the modules
`vrrpd.net.netlink` actually needs (bench/run_all.py, issue #6). Python runs a package's `__init__` before any of its
submodules, so `prepare()` registers the package module *unexecuted* (its `__path__` is all that submodule imports
need) and gives it a PEP 562 `__getattr__`: a submodule name imports that submodule (as Python would), any other
name runs the real `__init__` first (`from pyroute2 import IPRoute`, `pyroute2.__version__`). Other code in the same
process (tests, tools) still sees the complete package, and pays for it only when it uses it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from typing import Any

PACKAGE = "pyroute2"


def prepare(package: str = PACKAGE) -> None:
    """Make `import pyroute2.x.y` skip pyroute2's `__init__` until the package's own namespace is used.

    `package`: another package to treat the same way (`vrrpd run` does it for prometheus_client, whose `__init__`
    imports its HTTP servers and push gateway: vrrpd.cli.leanimports), or a plain module, whose code then runs when
    one of its attributes is first read (`ssl`: importing it is free; importlib.util.LazyLoader would run it at the
    next `import`, which reads `__spec__`). A no-op when it is already imported (then it is complete already) or
    not installed (the import that follows fails as usual).
    """
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None:
        return
    is_package = spec.submodule_search_locations is not None
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    state = {"loaded": False}

    def __getattr__(name: str) -> Any:
        # `from pyroute2 import config` inside pyroute2 itself asks the package for a submodule: import just
        # that submodule, as Python would without this hook.
        if is_package and not state["loaded"] and not name.startswith("__"):
            with contextlib.suppress(ImportError):
                if importlib.util.find_spec(f"{package}.{name}") is not None:
                    return importlib.import_module(f"{package}.{name}")
        if not state["loaded"]:
            state["loaded"] = True
            loader.exec_module(module)
        try:
            return module.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[package] = module


def complete() -> bool:
    """Whether pyroute2's `__init__` has run (for tests and the memory breakdown)."""
    module = sys.modules.get(PACKAGE)
    return module is not None and "IPRoute" in module.__dict__
