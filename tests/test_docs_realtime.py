"""docs/realtime.md's drop-in (issue #16): it parses as a unit file section, names the keys it documents, uses the
priority the bench measured with, and is the text scripts/check-systemd-unit.sh installs under a real systemd."""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "realtime.md"
MARKER = "# /etc/systemd/system/vrrpd.service.d/realtime.conf"
sys.path.insert(0, str(ROOT / "bench"))

import subjects  # noqa: E402


def drop_in() -> str:
    """The drop-in as check-systemd-unit.sh's sed takes it: from the marker line to the end of its code block."""
    lines = DOC.read_text().splitlines()
    start = lines.index(MARKER)
    end = lines.index("```", start)
    return "\n".join(lines[start:end]) + "\n"


def test_drop_in_parses_and_sets_rr_with_reset_on_fork() -> None:
    parser = configparser.ConfigParser(strict=True, interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  (unit keys are case-sensitive)
    parser.read_string(drop_in())
    assert parser.sections() == ["Service"]
    assert dict(parser["Service"]) == {
        "CPUSchedulingPolicy": "rr",
        "CPUSchedulingPriority": str(subjects.RR_PRIORITY),
        "CPUSchedulingResetOnFork": "yes",
    }


def test_the_systemd_check_installs_the_documented_drop_in() -> None:
    script = (ROOT / "scripts" / "check-systemd-unit.sh").read_text()
    # Its sed address: from the marker line (the drop-in's first line) to the code block's end.
    assert f"sed -n '\\|^{MARKER}$|,/^```$/" in script
    assert '"$REPO/docs/realtime.md"' in script


def test_readme_points_at_the_doc() -> None:
    assert "docs/realtime.md" in (ROOT / "README.md").read_text()
