"""A real Prometheus server (Debian's `prometheus`) in a lab namespace: it scrapes vrrpd's exporter across the lab
bridge, its HTTP query API shows the master, and it evaluates the shipped alert rules (etc/prometheus) without error.

Prometheus runs in its own host namespace and is reached through `ip netns exec` (the test process stays in the root
namespace, which has no route to the lab). It is ended by its PID; its config and TSDB live in the lab's workdir,
which the lab deletes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd, flag_script, instance

RULES = Path(__file__).resolve().parent.parent / "etc" / "prometheus" / "vrrpd-alerts.yml"
ALERTS = {"VRRPSplitBrain", "VRRPNoMaster", "VRRPTrackerDown", "VRRPDropsRising", "VRRPExporterDown"}
METRICS_PORT = 9650
# Run in the Prometheus host's namespace: prints the body of one GET, exits non-zero if it fails.
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"


def prometheus_binary() -> str:
    # A plain skip is enough: under VRRPD_NO_SKIPS (scripts/test.sh) any skipped test fails the run (conftest.py).
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is missing (Debian package prometheus)")
    return binary


def hostport(address: str, port: int) -> str:
    """ADDR:PORT, with an IPv6 address in brackets (as vrrpd's `metrics.listen` and Prometheus' targets spell it)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class Prometheus:
    """One `prometheus` server process in `host`, scrape and rule evaluation every second."""

    def __init__(self, host: Host, address: str, jobs: dict[str, Sequence[str]], rule_files: Sequence[Path] = ()):
        self.host = host
        self.dir = host.lab.workdir / f"prometheus-{host.name}"
        self.dir.mkdir(mode=0o700)
        self.listen = hostport(address, 9090)
        self.config_path = self.dir / "prometheus.yml"
        self.log_path = self.dir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(targets)}]} for job, targets in jobs.items()
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config))
        host.lab.logs[f"prometheus {host.name}"] = self.log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        argv = [
            prometheus_binary(),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address={self.listen}",
            "--web.enable-lifecycle",
        ]
        with self.log_path.open("ab") as log:
            self.proc = self.host.popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ready, 30, interval=0.3, message=f"prometheus never became ready on {self.listen}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited {self.proc.returncode}:\n{self.log_path.read_text()}")
        return self.host.run(self._fetch_argv("/-/ready"), check=False).returncode == 0

    def _fetch_argv(self, path: str) -> list[str]:
        return [sys.executable, "-c", FETCH, f"http://{self.listen}{path}"]

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful /api/v1 answer."""
        query = f"?{urlencode(params)}" if params else ""
        answer = json.loads(self.host.run(self._fetch_argv(f"/api/v1/{path}{query}")).stdout)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {labels}, "value": [time, "value"]}, ...]."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def evaluated_rules(self) -> dict[str, dict[str, Any]]:
        """alert name -> rule, once every loaded rule has been evaluated (health no longer "unknown"); else {}."""
        rules = self.rules()
        if not rules or any(rule["health"] == "unknown" for rule in rules):
            return {}
        return {rule["name"]: rule for rule in rules}

    def stop(self) -> int | None:
        assert self.proc is not None
        return self.host.stop(self.proc, timeout=15)


def assert_rules_healthy(prom: Prometheus) -> None:
    rules = wait_for(prom.evaluated_rules, 30, interval=0.5, message="the alert rules were never evaluated")
    assert set(rules) == ALERTS
    broken = {name: rule.get("lastError") for name, rule in rules.items() if rule["health"] != "ok"}
    assert not broken, f"rules failing to evaluate: {broken}"


def test_prometheus_harness_scrapes_itself_and_evaluates_the_rules(lab: Lab):
    """The harness on its own (independent of vrrpd's exporter): Prometheus scrapes its own /metrics across the
    lab link, the query API shows the target up, and the shipped rules load and evaluate cleanly."""
    server = lab.add_host("prom", ipv4="198.51.100.20/24")
    prom = Prometheus(server, "198.51.100.20", {"prometheus": ["198.51.100.20:9090"]}, rule_files=[RULES]).start()
    try:
        target_up = 'up{job="prometheus"} == 1'
        result = wait_for(lambda: prom.query(target_up), 30, interval=0.5, message="Prometheus never scraped itself")
        assert result[0]["metric"]["instance"] == "198.51.100.20:9090"
        assert_rules_healthy(prom)
        # Nothing to alert on: no vrrpd job at all.
        assert prom.api("alerts")["alerts"] == []
    finally:
        assert prom.stop() == 0, prom.log_path.read_text()


@pytest.mark.parametrize(
    ("router_ip", "server_ip"),
    [("198.51.100.11", "198.51.100.20"), ("2001:db8::11", "2001:db8::20")],
    ids=["ipv4", "ipv6"],
)
def test_prometheus_scrapes_vrrpd_and_sees_the_master(lab: Lab, router_ip: str, server_ip: str):
    router = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    server = lab.add_host("prom", ipv4="198.51.100.20/24", ipv6="2001:db8::20/64")
    target = hostport(router_ip, METRICS_PORT)
    daemon = Vrrpd(router, [instance(name="v", vrid=51)], metrics={"listen": target}).start()
    wait_for(lambda: daemon.state("v") == "MASTER", 10, message="the only router never became MASTER")

    prom = Prometheus(server, server_ip, {"vrrpd": [target]}, rule_files=[RULES]).start()
    try:
        master = 'vrrpd_instance_state{state="MASTER"} == 1'
        result = wait_for(lambda: prom.query(master), 30, interval=0.5, message="Prometheus never showed the master")
        assert len(result) == 1
        labels = result[0]["metric"]
        # The scrape config has no honor_labels, like etc/prometheus/prometheus.yml: Prometheus' `instance` is the
        # router (target) and vrrpd's `instance` (the VRRP name) becomes `exported_instance`, which the rules use.
        assert labels["instance"] == target
        assert labels["exported_instance"] == "v"
        assert (labels["job"], labels["vrid"], labels["interface"]) == ("vrrpd", "51", "eth0")
        assert "family" in labels
        assert result[0]["value"][1] == "1"
        others = prom.query('vrrpd_instance_state{state!="MASTER"}')
        # One series per other state, all 0. Their names are the exporter's (the issue says INIT; the initial state
        # is RFC 9568's "Initialize"), so only BACKUP and FAULT are pinned here; the rules use MASTER alone.
        other_states = {sample["metric"]["state"]: sample["value"][1] for sample in others}
        assert len(other_states) == 3 and set(other_states.values()) == {"0"}, other_states
        assert {"BACKUP", "FAULT"} <= set(other_states), other_states

        assert_rules_healthy(prom)
        # One router, MASTER: the group has exactly one master, so neither VRRPNoMaster nor VRRPSplitBrain is even
        # pending, and the target is up.
        group = prom.query('sum by (exported_instance, vrid, family) (vrrpd_instance_state{state="MASTER"})')
        assert [sample["value"][1] for sample in group] == ["1"]
        assert prom.api("alerts")["alerts"] == []
        assert daemon.state("v") == "MASTER"
    finally:
        assert prom.stop() == 0, prom.log_path.read_text()
        daemon.stop()


def alerts_by_name(prom: Prometheus) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for alert in prom.api("alerts")["alerts"]:
        found.setdefault(alert["labels"]["alertname"], []).append(alert)
    return found


def test_prometheus_raises_split_brain_and_tracker_down_from_real_routers(lab: Lab):
    """Two routers that cannot hear each other (each sends its adverts to a unicast peer that does not exist) are
    both MASTER: with the shipped rules Prometheus raises VRRPSplitBrain for their group and VRRPTrackerDown for a's
    failing check (pending: the rules' `for` is longer than the test). Once b is gone the split brain clears and
    VRRPExporterDown names b's target."""
    ha = lab.add_host("a", ipv4="198.51.100.11/24")
    hb = lab.add_host("b", ipv4="198.51.100.12/24")
    server = lab.add_host("prom", ipv4="198.51.100.20/24")
    flag = lab.workdir / "a-check-fails"
    flag.touch()
    targets = {name: hostport(ip, METRICS_PORT) for name, ip in (("a", "198.51.100.11"), ("b", "198.51.100.12"))}
    chk = [{"name": "chk", "weight": -10}]  # down: priority 190, still above b's (and b is not heard anyway)
    a_inst = instance(name="v", priority=200, unicast_peers=["198.51.100.98"], track_scripts=chk)
    a = Vrrpd(ha, [a_inst], track_scripts={"chk": flag_script(flag)}, metrics={"listen": targets["a"]}).start()
    b_inst = instance(name="v", priority=100, unicast_peers=["198.51.100.99"])
    b = Vrrpd(hb, [b_inst], metrics={"listen": targets["b"]}).start()
    wait_for(lambda: a.state() == b.state() == "MASTER", 10, message="a and b never both became MASTER")

    prom = Prometheus(server, "198.51.100.20", {"vrrpd": list(targets.values())}, rule_files=[RULES]).start()
    try:
        raised = wait_for(
            lambda: (found := alerts_by_name(prom)).keys() >= {"VRRPSplitBrain", "VRRPTrackerDown"} and found,
            30,
            interval=0.5,
            message="Prometheus never raised VRRPSplitBrain and VRRPTrackerDown",
        )
        [split] = raised["VRRPSplitBrain"]
        assert split["state"] == "pending"
        assert (split["labels"]["exported_instance"], split["labels"]["vrid"]) == ("v", "51")
        assert "2 masters for v (VRID 51" in split["annotations"]["summary"]
        [tracker] = raised["VRRPTrackerDown"]
        assert (tracker["labels"]["instance"], tracker["labels"]["tracker"]) == (targets["a"], "chk")
        assert "VRRPNoMaster" not in raised

        b.stop()
        cleared = wait_for(
            lambda: "VRRPSplitBrain" not in (found := alerts_by_name(prom)) and "VRRPExporterDown" in found and found,
            30,
            interval=0.5,
            message="the split brain never cleared once b stopped",
        )
        assert [alert["labels"]["instance"] for alert in cleared["VRRPExporterDown"]] == [targets["b"]]
        assert "VRRPNoMaster" not in cleared  # a is still MASTER
    finally:
        assert prom.stop() == 0, prom.log_path.read_text()
        a.stop()
        b.stop()
