"""`vrrpctl reload` (issue #11): exit 0 and one summary line when applied, exit 1 and the daemon's sentence on
stderr when rejected, exit 2 when no daemon listens; against a ControlServer in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from controlcase import ServerThread

from vrrpd.cli.ctl import main
from vrrpd.services.control import ControlError

APPLIED = {
    "summary": "3 unchanged, 1 changed, 1 added, 0 removed",
    "time": "2026-12-04T22:00:00.000Z",
    "result": "applied",
    "error": None,
    "added": ["c"],
    "removed": [],
    "changed": ["a"],
}
SENTENCE = "/etc/vrrpd/vrrpd.yaml: instances[0].priority (line 9): 300 is outside 1..255"


def reload_with(tmp_path: Path, handler: Any, *args: str):
    path = tmp_path / "vrrpd.sock"
    with ServerThread(path, {"reload": handler}):
        return CliRunner().invoke(main, ["--socket", str(path), *args, "reload"])


def test_applied_prints_the_summary_and_exits_0(tmp_path):
    result = reload_with(tmp_path, lambda args: APPLIED)
    assert (result.exit_code, result.stdout, result.stderr) == (0, APPLIED["summary"] + "\n", "")


def test_rejected_prints_the_daemons_sentence_on_stderr_and_exits_1(tmp_path):
    def reject(args: dict[str, Any]) -> Any:
        raise ControlError(SENTENCE)

    result = reload_with(tmp_path, reject)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", SENTENCE + "\n")


def test_applied_in_part_prints_the_summary_then_what_failed_and_exits_1(tmp_path):
    result = reload_with(tmp_path, lambda args: {**APPLIED, "error": "instance c: eth9 is gone"})
    assert result.exit_code == 1 and result.stdout == APPLIED["summary"] + "\n"
    assert result.stderr == "vrrpctl: applied in part: instance c: eth9 is gone\n"


def test_no_daemon_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["--socket", str(tmp_path / "none.sock"), "reload"])
    assert result.exit_code == 2 and "no vrrpd listening" in result.stderr


def test_reload_waits_longer_than_other_commands_unless_told(tmp_path, monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr("vrrpd.cli.ctl.request", lambda path, command, timeout, **args: seen.append(timeout) or APPLIED)
    runner = CliRunner()
    assert runner.invoke(main, ["--socket", str(tmp_path / "s"), "reload"]).exit_code == 0
    assert runner.invoke(main, ["--socket", str(tmp_path / "s"), "--timeout", "7", "reload"]).exit_code == 0
    assert seen == [120.0, 7.0]
