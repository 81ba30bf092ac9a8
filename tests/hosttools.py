"""Host programs some tests run (groff, systemd-analyze): found, or the test is skipped, except under scripts/test.sh
(VRRPD_NO_SKIPS set), where a missing program fails the run: CI must check what it claims to."""

from __future__ import annotations

import os
import shutil

import pytest


def required_tool(name: str, package: str) -> str:
    """The path of program `name`; else skip the test (fail it with VRRPD_NO_SKIPS), naming the Debian package."""
    tool = shutil.which(name)
    if tool is None:
        message = f"{name} is missing (Debian package {package})"
        if os.environ.get("VRRPD_NO_SKIPS"):
            pytest.fail(message)
        pytest.skip(message)
    return tool
