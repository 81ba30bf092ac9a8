"""VRRP adverts on the wire, for bench/run_all.py: a tcpdump capture in the observer's namespace, and the maths on
what it recorded (gaps against the interval, their distribution, a backup's advertising episodes)."""

from __future__ import annotations

import bisect
import itertools
import math
import re
import signal
import socket
import struct
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

import failover  # noqa: F401  (puts netns-tests/ (lab.py) on sys.path; isort keeps it above the from-imports)
from figures import pct
from lab import Host, wait_for

CapturedAdvert = tuple[float, str, int, int]
"""(timestamp, source address, VRID, priority) of one advert."""
CountedAdvert = tuple[float, str, int, int, int]
"""(timestamp, source address, VRID, priority, address count) of one advert."""

# A lab's work directory may hold several captures of one name: the counter keeps their files apart.
_counter = itertools.count()


class Tcpdump:
    """tcpdump on the observer's eth0 writing a nanosecond pcap of VRRP adverts (IPv4 and IPv6)."""

    def __init__(self, host: Host, name: str, bpf: str = "ip proto 112 or ip6 proto 112") -> None:
        self.host = host
        self.path = host.lab.workdir / f"{name}-{next(_counter)}.pcap"
        self.err_path = self.path.with_suffix(".err")
        argv = ["tcpdump", "-i", "eth0", "-n", "-U", "-s", "96", "-B", "16384"]
        argv += ["--time-stamp-precision=nano", "-w", str(self.path), bpf]
        with self.err_path.open("wb") as err:
            self.proc = host.popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: "listening on" in self.err_path.read_text(), 10, 0.05, "tcpdump did not start")

    def stop(self) -> int:
        """Stop it (SIGINT: it flushes) and return how many packets the kernel dropped."""
        self.host.stop(self.proc, signal.SIGINT, 10)
        m = re.search(r"(\d+) packets? dropped by kernel", self.err_path.read_text())
        return int(m.group(1)) if m else -1

    def adverts(self) -> Iterator[CapturedAdvert]:
        """Every advert, in capture order."""
        for ts, src, vrid, prio, _ in self.counted():
            yield ts, src, vrid, prio

    def counted(self) -> Iterator[CountedAdvert]:
        """Every advert with its address count (how many VIPs it lists), in capture order."""
        data = self.path.read_bytes()
        if len(data) < 24:
            return
        magic = struct.unpack_from("<I", data)[0]
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        off = 24
        while off + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack_from("<IIII", data, off)
            pkt = data[off + 16 : off + 16 + incl]
            off += 16 + incl
            ethertype = struct.unpack_from("!H", pkt, 12)[0] if len(pkt) >= 14 else 0
            if ethertype == 0x0800 and len(pkt) >= 14 + 20:
                ihl = (pkt[14] & 0x0F) * 4
                if pkt[23] != 112 or len(pkt) < 14 + ihl + 4:
                    continue
                src = socket.inet_ntoa(pkt[26:30])
                vrrp = 14 + ihl
            elif ethertype == 0x86DD and len(pkt) >= 14 + 40 + 4:
                if pkt[20] != 112:
                    continue
                src = socket.inet_ntop(socket.AF_INET6, pkt[22:38])
                vrrp = 54
            else:
                continue
            yield sec + frac * scale, src, pkt[vrrp + 1], pkt[vrrp + 2], pkt[vrrp + 3]


def jitter_stats(adverts: Sequence[CapturedAdvert], src: str, interval: float) -> list[float]:
    """Signed deviation (ms) of each gap between consecutive adverts of one VRID from `src` from the interval."""
    last: dict[int, float] = {}
    devs = []
    for ts, s, vrid, prio in adverts:
        if s != src or prio == 0:
            continue
        if vrid in last:
            devs.append((ts - last[vrid] - interval) * 1000)
        last[vrid] = ts
    return devs


def summarize_devs(devs: Sequence[float]) -> dict[str, Any]:
    absd = [abs(d) for d in devs]
    return {
        "gaps": len(devs),
        "p50_ms": pct(absd, 50),
        "p99_ms": pct(absd, 99),
        "max_ms": max(absd) if absd else math.nan,
        "max_late_ms": max(devs) if devs else math.nan,
        "max_early_ms": -min(devs) if devs else math.nan,
    }


def histogram(title: str, devs: Sequence[float], width: int = 50) -> str:
    """ASCII histogram of signed deviations (ms); bins widen away from zero so the tail stays visible."""
    edges = [-1.0, -0.1, 0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    counts = [0] * (len(edges) + 1)
    for d in devs:
        counts[bisect.bisect_right(edges, d)] += 1
    top = max(counts) or 1
    lines = [title]
    for i, c in enumerate(counts):
        lo = "" if i == 0 else f"{edges[i - 1]:+g}"
        hi = "" if i == len(edges) else f"{edges[i]:+g}"
        label = f"< {hi}" if not lo else f">= {lo}" if not hi else f"{lo} .. {hi}"
        bar = "#" * max(1 if c else 0, round(width * c / top))
        lines.append(f"  {label:>12} ms | {bar} {c}")
    return "\n".join(lines)


def count_episodes(adverts: Sequence[CapturedAdvert], src: str, gap: float = 1.0) -> tuple[int, int]:
    """(episodes, adverts) from `src`: an episode is a run of one VRID's adverts with no gap over `gap` seconds."""
    last: dict[int, float] = {}
    episodes = total = 0
    for ts, s, vrid, prio in adverts:
        if s != src or prio == 0:
            continue
        total += 1
        if vrid not in last or ts - last[vrid] > gap:
            episodes += 1
        last[vrid] = ts
    return episodes, total
