"""bench/run_all.py's `--sched` (issue #16): the command a subject starts under a scheduling policy, the policy
names read back from the kernel, and the option's parsing. No root, no lab: the daemons are never started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import procstat  # noqa: E402
import run_all  # noqa: E402
import section_jitter  # noqa: E402
import section_soak  # noqa: E402
import subjects  # noqa: E402


def fake_host(tmp_path: Path) -> SimpleNamespace:
    """What a Subject reads of its lab host before it starts: a name and the lab's work directory and logs."""
    return SimpleNamespace(name="r1", lab=SimpleNamespace(workdir=tmp_path, logs={}))


def test_sched_prefix_rr_is_chrt_at_systemds_default_priority() -> None:
    assert subjects.sched_prefix("other") == []
    assert subjects.sched_prefix("rr") == ["chrt", "--rr", "1"]
    assert subjects.RR_PRIORITY == 1


def test_sched_prefix_refuses_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="fifo"):
        subjects.sched_prefix("fifo")


def test_subject_command_wraps_its_argv_under_the_policy(tmp_path: Path) -> None:
    insts = subjects.instances(2, subjects.MASTER_PRIO, 1.0)
    rr = subjects.make_subject("keepalived", fake_host(tmp_path), insts, None, "rr")  # type: ignore[arg-type]
    assert rr.command() == ["chrt", "--rr", "1", *rr.argv()]
    assert rr.argv()[0] == "keepalived"
    other = subjects.make_subject("keepalived", fake_host(tmp_path), insts, None)  # type: ignore[arg-type]
    assert other.sched == "other"
    assert other.command() == other.argv()


def test_make_subject_refuses_an_unknown_policy_before_writing_anything(tmp_path: Path) -> None:
    insts = subjects.instances(1, subjects.MASTER_PRIO, 1.0)
    with pytest.raises(ValueError, match="batch"):
        subjects.make_subject("keepalived", fake_host(tmp_path), insts, None, "batch")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_policy_name_shows_priority_and_reset_on_fork() -> None:
    assert procstat.policy_name(os.SCHED_RR, 1) == "rr/1"
    assert procstat.policy_name(os.SCHED_FIFO, 50) == "fifo/50"
    assert procstat.policy_name(os.SCHED_OTHER, 0) == "other"
    assert procstat.policy_name(os.SCHED_RR | os.SCHED_RESET_ON_FORK, 1) == "rr/1+reset"


def test_sched_policy_reads_a_live_process_with_reset_on_fork() -> None:
    """Any process may set SCHED_RESET_ON_FORK on itself (only clearing it needs privilege): the kernel reports it
    with the policy, which sched_policy must name rather than print as a number."""

    def reset_on_fork() -> None:
        os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.sched_param(0))

    child = subprocess.Popen(["sleep", "30"], preexec_fn=reset_on_fork)
    try:
        assert procstat.sched_policy(child.pid) == "other+reset"
        assert procstat.sched_policy(os.getpid()) in ("other", "batch")
    finally:
        child.kill()
        child.wait()


def test_describe_policies_one_cell_for_every_process() -> None:
    assert procstat.describe_policies(["rr/1", "rr/1"]) == "rr/1"
    assert procstat.describe_policies(["rr/1", "other", "rr/1"]) == "other x1, rr/1 x2"
    assert procstat.describe_policies([]) == "-"


def test_run_all_sched_option_parses_a_list() -> None:
    assert run_all.parse_args([]).sched == ["other"]
    assert run_all.parse_args(["--sched", "other,rr"]).sched == ["other", "rr"]
    assert run_all.parse_args(["--sched", "rr"]).sched == ["rr"]


@pytest.mark.parametrize("bad", ["fifo", "rr,rr", ","])
def test_run_all_sched_option_refuses_bad_lists(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_all.parse_args(["--sched", bad])
    assert "--sched" in capsys.readouterr().err


def test_forecast_counts_one_jitter_and_soak_run_per_policy() -> None:
    one = run_all.parse_args(["--only", "jitter,soak", "--soak", "120"])
    two = run_all.parse_args(["--only", "jitter,soak", "--soak", "120", "--sched", "other,rr"])
    for section in (section_jitter, section_soak):
        assert section.planned_seconds(two) == 2 * section.planned_seconds(one)


def test_steal_seconds_reads_the_cpu_line() -> None:
    stat = "cpu  2005742 70154 523270 6226633 8902 0 110966 18047 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    assert procstat.steal_seconds(stat) == 18047 / procstat.CLK_TCK
    assert procstat.steal_seconds("cpu  1 2 3 4\n") == 0.0  # a kernel without the column
    with pytest.raises(ValueError):
        procstat.steal_seconds("intr 0\n")


def test_host_steal_never_goes_backwards() -> None:
    first = procstat.host_steal()
    assert procstat.host_steal() >= first >= 0.0
