"""Repository layout rules that pytest itself only reports as a collection error in the full CI run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_test_module_basenames_are_unique_across_tests_and_netns_tests():
    # Neither directory is a package, so pytest imports test modules by basename: two `test_x.py` cannot be
    # collected in one session (scripts/test.sh runs both directories together).
    names = Counter(p.name for d in ("tests", "netns-tests") for p in (ROOT / d).glob("test_*.py"))
    assert len(names) > 20
    assert [name for name, count in names.items() if count > 1] == []
