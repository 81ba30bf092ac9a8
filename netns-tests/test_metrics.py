"""The Prometheus exporter of a real daemon (issue #15), scraped across the lab bridge from the other host: an IPv4
listen on host a (master) and an IPv6 ``[2001:db8::X]:PORT`` listen on host b (backup); the one-hot state gauge
says who is master, the advert counters move between two scrapes, and promtool accepts the output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab import Host, Lab, wait_for
from prometheus_client.parser import text_string_to_metric_families
from vrrpd_runner import Vrrpd, instance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # hosttools is shared with tests/
from hosttools import required_tool

SCRAPE = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
    assert answer.status == 200, answer.status
    sys.stdout.write(answer.read().decode())
"""


def scrape(client: Host, url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample at `url`, fetched from inside `client`'s namespace: (name, labels) -> value."""
    text = client.run([sys.executable, "-c", SCRAPE, url]).stdout
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labels(**extra: str) -> frozenset[tuple[str, str]]:
    return frozenset({"instance": "v", "vrid": "51", "interface": "eth0", "family": "ipv4", **extra}.items())


def test_metrics_of_a_master_over_ipv4_and_a_backup_over_ipv6_scraped_across_the_lab(lab: Lab):
    a = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    b = lab.add_host("b", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    da = Vrrpd(a, [instance(priority=200)], metrics={"listen": "198.51.100.11:9650"}).start()
    wait_for(lambda: da.state() == "MASTER", 10, message="a never became master")
    db = Vrrpd(b, [instance(priority=100)], metrics={"listen": "[2001:db8::12]:9651"}).start()
    wait_for(lambda: db.state() == "BACKUP", 10, message="b never became backup")
    url_a, url_b = "http://198.51.100.11:9650/metrics", "http://[2001:db8::12]:9651/metrics"

    first_a, first_b = scrape(b, url_a), scrape(a, url_b)
    for state in ("INITIALIZE", "BACKUP", "MASTER", "FAULT"):
        assert first_a["vrrpd_instance_state", labels(state=state)] == (state == "MASTER")
        assert first_b["vrrpd_instance_state", labels(state=state)] == (state == "BACKUP")
    assert first_a["vrrpd_became_master_total", labels()] == 1
    assert first_a["vrrpd_priority", labels()] == 200 and first_b["vrrpd_priority", labels()] == 100
    assert ("vrrpd_master_advert_age_seconds", labels()) in first_b  # a backup hears its master

    def moved() -> bool:
        now_a, now_b = scrape(b, url_a), scrape(a, url_b)
        sent = now_a["vrrpd_adverts_sent_total", labels()] > first_a["vrrpd_adverts_sent_total", labels()]
        heard = now_b["vrrpd_adverts_received_total", labels()] > first_b["vrrpd_adverts_received_total", labels()]
        return sent and heard

    wait_for(moved, 5, interval=0.2, message="the advert counters did not move between scrapes")

    promtool = required_tool("promtool", "prometheus")
    text = a.run([sys.executable, "-c", SCRAPE, url_b]).stdout
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
