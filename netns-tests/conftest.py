"""Fixtures and guards for the real-kernel (network namespace) tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab import Lab

_HERE = Path(__file__).resolve().parent
_TOOLS = ("ip",)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "netns tests need root (network namespaces, veths, raw VRRP sockets); run them as root"
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"netns tests need {', '.join(missing)} (iproute2)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Applied here rather than via pytestmark so every file under netns-tests gets it without having to remember.
    reason = _skip_reason()
    for item in items:
        if _HERE not in Path(str(item.path)).resolve().parents:
            continue
        item.add_marker(pytest.mark.netns)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # Lets the `lab` fixture know at teardown whether the test failed, to dump daemon logs only then.
    report = yield
    setattr(item, f"_lab_rep_{report.when}", report)
    return report


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    instance = Lab()
    try:
        yield instance
    finally:
        rep = getattr(request.node, "_lab_rep_call", None)
        if (rep is None or rep.failed) and instance.logs:
            # Printed during teardown, so pytest shows it under "Captured stdout teardown" of the failed test.
            print(instance.dump_logs())
        instance.close()
