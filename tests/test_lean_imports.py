"""`vrrpd run` keeps out of its process what the daemon never needs (issue #16, memory): `ssl` with libssl and
libcrypto, hashlib, prometheus_client's HTTP servers and push gateway (vrrpd.cli.leanimports). Module presence is
deterministic, so that is what is checked (RSS figures: bench/README.md "Memory"). No root needed: `vrrpd run` is
run in a subprocess up to the point where it would start the event loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vrrpd.cli.leanimports import KEPT_OUT
from vrrpd.services.metrics_http import family_text

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """\
instances:
  - name: a
    interface: eth0
    vrid: 1
    virtual_addresses: [198.51.100.1/24]
"""

# `vrrpd run -c FILE` as the console script runs it, with the coroutine that would run the daemon replaced by one
# that reports what the process has imported and mapped by then (the daemon class is imported, the loop is up).
RUN_UNTIL_LOOP = """
import json, sys
from vrrpd.cli import daemon

async def report(daemon_class, config, pinned):
    ssl = sys.modules.get("ssl")
    print(json.dumps({
        "modules": sorted(sys.modules),
        "ssl_executed": ssl is not None and "SSLContext" in vars(ssl),
        "maps": open("/proc/self/maps").read(),
        "daemon_class": daemon_class.__module__,
    }))

daemon._serve = report
sys.argv = ["vrrpd", "run", "-c", sys.argv[1]]
daemon.main()
"""


def run_until_loop(tmp_path: Path) -> dict:
    path = tmp_path / "vrrpd.yaml"
    path.write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path[1:]])}
    done = subprocess.run(
        [sys.executable, "-c", RUN_UNTIL_LOOP, str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_vrrpd_run_starts_without_ssl_hashlib_or_prometheus_servers(tmp_path):
    seen = run_until_loop(tmp_path)
    assert seen["daemon_class"] == "vrrpd.daemon.daemon"
    assert "vrrpd.services.metrics_http" in seen["modules"]  # the exporter is there, rendering itself
    assert "asyncio" in seen["modules"]
    loaded = [name for name in KEPT_OUT if name in seen["modules"] and name != "ssl"]
    assert loaded == []
    assert not seen["ssl_executed"]  # registered (pyroute2 imports it), never run
    assert "libssl" not in seen["maps"]
    assert "libcrypto" not in seen["maps"]
    assert "scapy" not in seen["modules"]


def test_a_deferred_ssl_still_works_when_something_uses_it(tmp_path):
    """Code that does use ssl in the daemon's process gets the real module at its first attribute."""
    code = (
        "import sys\n"
        "from vrrpd.cli.leanimports import lean_run_imports\n"
        "lean_run_imports()\n"
        "import ssl\n"
        "assert '_ssl' not in sys.modules\n"
        "context = ssl.create_default_context()\n"
        "assert '_ssl' in sys.modules and isinstance(context, ssl.SSLContext)\n"
        "import asyncio.base_events\n"
        "print(asyncio.base_events.ssl)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path[1:]])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"  # asyncio itself was imported without ssl: no TLS in the daemon


class One(Collector):
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self):
        yield self.family


def test_family_text_is_byte_for_byte_generate_latest():
    """The daemon's own rendering of the text format equals prometheus_client's, escapes and extras included."""
    counter = CounterMetricFamily("c", "doc with \\ and\nnewline", labels=["a", "b"])
    counter.add_metric(["x\\y", 'q"\nz'], 3.0, created=12.5, timestamp=1700000000.25)
    counter.add_metric(["", "plain"], float("inf"))
    gauge = GaugeMetricFamily("g", "a gauge", labels=["instance"])
    gauge.add_metric(["vi_1"], 12345678.0)
    gauge.add_metric(["vi_2"], float("nan"))
    bare = GaugeMetricFamily("bare", "no labels", value=-1.5)
    for family in (counter, gauge, bare):
        assert family_text(family) == generate_latest(One(family))
    lines = [line for line in generate_latest(One(gauge)).splitlines(keepends=True) if not line.startswith(b"#")]
    assert family_text(gauge, head=False) == b"".join(lines)
