"""The Prometheus exporter's metrics (issue #15, vrrpd.services.metrics): every name and label of the issue, read
back with prometheus_client's own parser from the exposition of a status snapshot (the golden `vrrpctl status
--json` and a running daemon's), the one-hot state gauge, and `promtool check metrics` on the real output."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import platform
import subprocess
from pathlib import Path
from typing import Any

from daemoncase import started, until
from hosttools import required_tool
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vrrpd import __version__
from vrrpd.config import parse_config
from vrrpd.config.metrics import MetricsConfig
from vrrpd.services.metrics import DRAIN_MODES, STATES, metrics_registry
from vrrpd.services.metrics_http import render

GOLDEN = Path(__file__).parent / "golden" / "status" / "status.json"


def golden_status() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


def exposition(status: dict[str, Any]) -> str:
    return generate_latest(metrics_registry(lambda: status)).decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample: (name, labels) -> value, as Prometheus parses the text."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labels_of(inst: dict[str, Any], **more: str) -> frozenset[tuple[str, str]]:
    base = {
        "instance": inst["name"],
        "vrid": str(inst["vrid"]),
        "interface": inst["interface"],
        "family": inst["family"].lower(),
    }
    return frozenset({**base, **more}.items())


def check_against(status: dict[str, Any], text: str) -> None:
    got = samples(text)
    for inst in status["instances"]:
        at, c = labels_of(inst), inst["counters"]
        for state in STATES:
            assert got["vrrpd_instance_state", labels_of(inst, state=state)] == (state == inst["state"])
        assert got["vrrpd_priority", at] == inst["priority"]
        assert got["vrrpd_effective_priority", at] == inst["effective_priority"]
        assert got["vrrpd_adverts_sent_total", at] == c["adverts_sent"]
        assert got["vrrpd_adverts_received_total", at] == c["adverts_received"]
        assert got["vrrpd_transitions_total", at] == c["transitions"]
        assert got["vrrpd_became_master_total", at] == c["became_master"]
        for reason, count in c["drops"].items():
            assert got["vrrpd_drops_total", labels_of(inst, reason=reason)] == count
        age = got.get(("vrrpd_master_advert_age_seconds", at))
        assert age == inst["master_age"]  # None: not exported (we are the master, or none heard yet)
        for t in inst["trackers"]:
            up = got["vrrpd_tracker_up", labels_of(inst, tracker=t["name"], kind=t["kind"])]
            assert up == (1 if t["state"] == "up" else 0)
        if inst["hooks"] is not None:
            runs, failures = inst["hooks"]["runs"], inst["hooks"]["failures"]
            assert got["vrrpd_hook_runs_total", labels_of(inst, result="success")] == runs - failures
            assert got["vrrpd_hook_runs_total", labels_of(inst, result="failure")] == failures
    for result, count in status["config"].get("reloads", {}).items():
        assert got["vrrpd_reloads_total", frozenset({"result": result}.items())] == count
    build = frozenset({"version": status["version"], "python": platform.python_version()}.items())
    assert got["vrrpd_build_info", build] == 1


def test_golden_status_is_exported_with_every_name_and_label_of_the_issue():
    status = golden_status()
    status["config"]["reloads"] = {"applied": 2, "rejected": 1}
    status["instances"][0]["counters"]["drops"] = {"ttl": 3, "auth_mismatch": 1}
    status["instances"][1]["master_age"] = 0.25
    text = exposition(status)
    check_against(status, text)
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names >= {
        "vrrpd_instance_state", "vrrpd_priority", "vrrpd_effective_priority", "vrrpd_adverts_sent",
        "vrrpd_adverts_received", "vrrpd_drops", "vrrpd_transitions", "vrrpd_became_master",
        "vrrpd_master_advert_age_seconds", "vrrpd_tracker_up", "vrrpd_hook_runs", "vrrpd_reloads", "vrrpd_build_info",
    }  # fmt: skip
    got = samples(text)
    for inst in status["instances"]:  # the golden status has one instance drained hard, the others not
        mode = {True: "hard", False: None}.get(inst["drained"], inst["drained"])
        for name in DRAIN_MODES:
            assert got["vrrpd_instance_drained", labels_of(inst, mode=name)] == (1 if name == mode else 0)


def test_a_status_without_drained_exports_no_drain_metric():
    status = golden_status()
    for inst in status["instances"]:
        del inst["drained"]
    names = {family.name for family in text_string_to_metric_families(exposition(status))}
    assert "vrrpd_instance_drained" not in names  # nothing invented


def test_instance_state_is_one_hot_over_the_four_states():
    status = golden_status()
    got = samples(exposition(status))
    for inst in status["instances"]:
        values = {state: got["vrrpd_instance_state", labels_of(inst, state=state)] for state in STATES}
        assert sum(values.values()) == 1 and values[inst["state"]] == 1


def test_drained_is_exported_per_mode_once_the_status_has_it():
    status = golden_status()
    first, second, *rest = status["instances"]
    first["drained"], second["drained"] = "soft", False
    for inst in rest:
        inst["drained"] = True
    got = samples(exposition(status))
    assert got["vrrpd_instance_drained", labels_of(first, mode="soft")] == 1
    assert got["vrrpd_instance_drained", labels_of(first, mode="hard")] == 0
    assert got["vrrpd_instance_drained", labels_of(second, mode="soft")] == 0
    assert got["vrrpd_instance_drained", labels_of(second, mode="hard")] == 0
    for inst in rest:
        assert got["vrrpd_instance_drained", labels_of(inst, mode="hard")] == 1


def test_promtool_check_metrics_accepts_the_exposition():
    promtool = required_tool("promtool", "prometheus")
    status = golden_status()
    status["instances"][0]["counters"]["drops"] = {"ttl": 3}
    status["instances"][0]["drained"] = "soft"
    status["config"]["reloads"] = {"applied": 1, "rejected": 0}
    done = subprocess.run(
        [promtool, "check", "metrics"], input=exposition(status), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


CONFIG = """\
track_scripts:
  ok: {command: [/bin/true], interval: 60}
instances:
  - name: a
    interface: eth0
    vrid: 1
    priority: 150
    advert_interval: 0.5
    virtual_addresses: [198.51.100.101/24]
    track_interfaces: [{interface: eth0, weight: -10}]
    track_scripts: [{name: ok, weight: -20}]
    notify: {on_master: [/bin/true]}
  - {name: b, interface: eth0, vrid: 2, priority: 100, advert_interval: 1, virtual_addresses: [198.51.100.102/24]}
"""


async def scrape(host: str, port: int, method: str = "GET", path: str = "/metrics") -> tuple[str, dict[str, str], str]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    status, *fields = head.split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}, body


def test_a_running_daemon_serves_its_own_status_and_the_counters_move(caplog):
    async def body() -> None:
        config = dataclasses.replace(parse_config(CONFIG), metrics=MetricsConfig("127.0.0.1", 0))
        case = await started(config)
        try:
            server = case.daemon.metrics
            assert server is not None
            host, port = server.address
            line, headers, text = await scrape(host, port)
            assert line == "HTTP/1.1 200 OK" and headers["content-type"] == CONTENT_TYPE_LATEST
            assert headers["connection"] == "close"
            first = samples(text)
            a = case.daemon.status()["instances"][0]
            assert first["vrrpd_instance_state", labels_of(a, state="BACKUP")] == 1
            # a's Master_Down_Interval (3 x 0.5 s + skew) passes: it takes over.
            await until(lambda: case.daemon.status()["instances"][0]["state"] == "MASTER", 5)
            status = case.daemon.status()
            after = samples((await scrape(host, port))[2])
            a = status["instances"][0]
            assert a["state"] == "MASTER" and after["vrrpd_instance_state", labels_of(a, state="MASTER")] == 1
            assert after["vrrpd_became_master_total", labels_of(a)] == 1
            sent = after["vrrpd_adverts_sent_total", labels_of(a)]
            assert sent >= 1 and sent > first["vrrpd_adverts_sent_total", labels_of(a)]
            assert after["vrrpd_tracker_up", labels_of(a, tracker="eth0", kind="interface")] == 1
            build = frozenset({"version": __version__, "python": platform.python_version()}.items())
            assert after["vrrpd_build_info", build] == 1
            # A reload that moves the listener: taken at the next restart, said in the log.
            path = case.rundir / "vrrpd.yaml"
            socket = case.daemon.config.control_socket
            path.write_text(f"control_socket: {socket}\n{CONFIG}metrics: {{listen: 127.0.0.1:9}}\n")
            case.daemon.reloader.path = path
            with caplog.at_level(logging.WARNING, logger="vrrpd"):
                await case.daemon.reload_request()
            assert "metrics.listen changed from 127.0.0.1:0 to 127.0.0.1:9" in caplog.text
            assert "applied at the next restart" in caplog.text
            assert server.address == (host, port) and case.daemon.metrics is server
            got = samples((await scrape(host, port))[2])
            assert got["vrrpd_reloads_total", frozenset({"result": "applied"}.items())] == 1
            assert got["vrrpd_reloads_total", frozenset({"result": "rejected"}.items())] == 0
        finally:
            await case.stop()
        with_stopped = asyncio.open_connection(host, port)
        try:
            await with_stopped
        except OSError:
            return
        raise AssertionError("the exporter still listens after the daemon stopped")

    asyncio.run(body())


def test_a_listen_address_in_use_stops_start_up_with_one_sentence():
    async def body() -> None:
        blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = blocker.sockets[0].getsockname()[1]
        config = dataclasses.replace(parse_config(CONFIG), metrics=MetricsConfig("127.0.0.1", port))
        try:
            await started(config)
        except Exception as exc:
            assert f"metrics.listen 127.0.0.1:{port}: cannot listen:" in str(exc)
        else:
            raise AssertionError("started on a port in use")
        finally:
            blocker.close()

    asyncio.run(body())


def test_golden_status_copy_is_not_changed_by_a_scrape():
    status = golden_status()
    before = copy.deepcopy(status)
    exposition(status)
    assert status == before


def test_render_in_slices_gives_generate_latest_bytes_and_lets_the_loop_run_between():
    status = golden_status()
    status["instances"] = [dict(inst, name=f"{inst['name']}-{i}") for i in range(20) for inst in status["instances"]]
    status["config"]["reloads"] = {"applied": 1, "rejected": 2}
    registry = metrics_registry(lambda: status)

    async def body() -> tuple[bytes, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.get_running_loop().create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        text = await render(registry, slice_size=16)
        task.cancel()
        return text, ticks - before

    text, ticks = asyncio.run(body())
    assert text == generate_latest(registry)
    samples_count = sum(len(f.samples) for f in registry.collect())
    assert ticks >= samples_count // 16  # the loop ran at least once per slice
