"""etc/prometheus: the alert rules are valid, the example scrape config loads them, and promtool's unit tests pass
(each alert fires when it should, with its labels and rendered annotations, and stays quiet during a normal
take-over)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from hosttools import required_tool

PROMETHEUS_DIR = Path(__file__).resolve().parent.parent / "etc" / "prometheus"
RULES = PROMETHEUS_DIR / "vrrpd-alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "vrrpd-alerts.test.yml"
ALERTS = {"VRRPSplitBrain", "VRRPNoMaster", "VRRPTrackerDown", "VRRPDropsRising", "VRRPExporterDown"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = required_tool("promtool", "prometheus")
    # promtool resolves the rule files a test or config names relative to that file's directory, not the cwd.
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS_DIR)


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_rules_pass_promtool_check():
    cp = promtool("check", "rules", str(RULES))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in cp.stdout


def test_example_scrape_config_loads_the_rules():
    cp = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SUCCESS: 1 rule files found" in cp.stdout


def test_promtool_unit_tests_pass():
    cp = promtool("test", "rules", str(RULE_TESTS))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SUCCESS" in cp.stdout


def test_a_broken_rule_fails_the_unit_tests(tmp_path: Path):
    # The unit tests must be able to fail: with no `for`, a take-over's single scrape showing two masters fires
    # VRRPSplitBrain, which the take-over case forbids.
    text = RULES.read_text()
    split_brain = text.index("alert: VRRPSplitBrain")
    for_line = text.index("for: 1m", split_brain)
    (tmp_path / RULES.name).write_text(text[:for_line] + "for: 0s" + text[for_line + len("for: 1m") :])
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    cp = promtool("test", "rules", str(tmp_path / RULE_TESTS.name))
    assert cp.returncode != 0
    assert "alertname: VRRPSplitBrain, time: 45s" in cp.stdout + cp.stderr


def test_every_alert_is_operator_ready():
    # An alert without severity cannot be routed; one without a `for` pages on a single scrape.
    found = {rule["alert"]: rule for rule in rules()}
    assert set(found) == ALERTS
    for name, rule in found.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["for"] not in ("0s", "0m"), name
        assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 100, name


def test_every_alert_has_a_firing_unit_test():
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == ALERTS
