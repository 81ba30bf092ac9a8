"""vrrpd.net.pyroute2_lean: the daemon imports only the pyroute2 modules it uses (issue #6, memory and start-up),
while the rest of pyroute2 stays reachable for anyone who asks for it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> str:
    # A fresh interpreter: in this one pyroute2 may already have been imported whole by another test.
    cp = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def test_issue6_netlink_import_skips_pyroute2_package_init() -> None:
    """Importing vrrpd.net.netlink must not pull NDB (sqlite3) or the rest of pyroute2's public API."""
    out = _run(
        """
        import sys
        import vrrpd.net.netlink
        from vrrpd.net import pyroute2_lean
        heavy = [m for m in ("sqlite3", "pyroute2.ndb", "pyroute2.ipdb", "pyroute2.conntrack") if m in sys.modules]
        print(pyroute2_lean.complete(), heavy, vrrpd.net.netlink.AsyncIPRoute.__module__)
        """
    )
    assert out == "False [] pyroute2.iproute.linux"


def test_issue6_full_pyroute2_api_still_reachable_after_lean_import() -> None:
    """Other code in the process (tests, tools) asking the package for a name gets the complete package."""
    out = _run(
        """
        import vrrpd.net.netlink
        import pyroute2
        from pyroute2 import IPRoute, NDB
        from vrrpd.net import pyroute2_lean
        print(pyroute2_lean.complete(), IPRoute.__name__, NDB.__name__, bool(pyroute2.__version__))
        """
    )
    assert out == "True IPRoute NDB True"


def test_issue6_unknown_name_is_an_attribute_error() -> None:
    out = _run(
        """
        import vrrpd.net.netlink
        import pyroute2
        try:
            pyroute2.no_such_thing
        except AttributeError as exc:
            print("AttributeError", "no_such_thing" in str(exc))
        """
    )
    assert out == "AttributeError True"


def test_issue6_prepare_leaves_an_already_imported_pyroute2_alone() -> None:
    pyroute2 = pytest.importorskip("pyroute2")
    from pyroute2 import IPRoute  # noqa: F401  (makes sure the package is complete in this process)

    from vrrpd.net import pyroute2_lean

    pyroute2_lean.prepare()
    assert sys.modules["pyroute2"] is pyroute2
    assert pyroute2_lean.complete()
