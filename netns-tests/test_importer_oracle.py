"""keepalived is the importer's oracle (issue #12, "Faithful migration: the importer keeps what keepalived actually
does"): each tests/keepalived-confs/oracle/oracle-*.conf runs as-is under keepalived 2.2.7 and, converted by
`vrrpctl import-keepalived`, under vrrpd; what keepalived reports after its own adjustments (its SIGUSR1 data file,
keepalived/vrrp/vrrp_data.c `dump_vrrp`) must equal what vrrpd reports (`vrrpctl status --json`, plus the converted
configuration for what status does not show), field by field: VRID, version, priority and effective priority,
fault, preempt and preempt_delay, authentication, accept, addresses per interface (advertised and excluded), routes,
interval, trackers and their weights, unicast source and peers, sync group.

A failure lists every differing field as "instance.field: keepalived VALUE, vrrpd VALUE", then the importer's
messages. oracle_lab.py runs the two daemons; keepalived_data.py normalises both views.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from lab import Lab
from oracle_lab import compare

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))  # the generator is shared with the no-root property tests
from keepalived_gen import keepalived_conf  # noqa: E402

# A directory of their own: tests/test_importer.py and tests/test_golden.py take every *.conf directly in
# keepalived-confs as a fixture with a pinned exit status and golden output, which these (meant to change as
# the importer is fixed) must not be.
CONFS = TESTS / "keepalived-confs" / "oracle"
GENERATED_EXAMPLES = 12
FIXTURES = sorted(p.name for p in CONFS.glob("oracle-*.conf"))


def test_there_are_oracle_fixtures() -> None:
    assert len(FIXTURES) >= 12, FIXTURES


@pytest.mark.parametrize("fixture", FIXTURES)
def test_keepalived_and_the_converted_vrrpd_agree(lab: Lab, fixture: str) -> None:
    with Lab() as other:
        verdict = compare(lab, other, (CONFS / fixture).read_text())
    print(verdict.report())
    assert verdict.keepalived, "keepalived reported no instance"
    assert not verdict.diffs, f"{fixture} differs:\n{verdict.report()}"


def _compare_generated(text: str) -> str:
    """One generated configuration in its own pair of labs; its differences as text ("" when they agree)."""
    with Lab() as ka_lab, Lab() as vrrpd_lab:
        verdict = compare(ka_lab, vrrpd_lab, text)
    if verdict.keepalived and not verdict.diffs:
        return ""
    return f"{verdict.report()}\n--- the configuration:\n{text}"


def generated_texts() -> list[str]:
    """A fixed (derandomized) sample of the strategy, without duplicates. Drawn first and run afterwards so that
    every configuration runs and a failure lists all that differ, not only the first."""
    texts: list[str] = []

    @settings(
        max_examples=GENERATED_EXAMPLES,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(keepalived_conf())
    def draw(text: str) -> None:
        if text not in texts:
            texts.append(text)

    draw()
    return texts


def test_generated_configurations_agree_with_keepalived() -> None:
    texts = generated_texts()
    # Three at a time, each pair of daemons in its own labs: the sample then costs about a third of its sum.
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = list(pool.map(_compare_generated, texts))
    failed = [f"=== generated example {i}\n{r}" for i, r in enumerate(reports) if r]
    assert not failed, f"{len(failed)} of {len(texts)} generated configurations differ:\n" + "\n".join(failed)
