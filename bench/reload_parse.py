"""How long a reload holds a CPU before it touches the routers: parsing and validating a file of N instances,
then planning it against the running configuration (issue #11). Prints one line per size.

    .venv/bin/python bench/reload_parse.py [--sizes 1 100 1000] [--repeat 5]

The figures decide where the work runs: anything longer than the shortest advert interval (10 ms) must not run
on the event loop, so vrrpd.daemon.reloader parses and plans in a worker thread. Run it with the interpreter the
hosts use (Debian's /usr/bin/python3 needs PYTHONPATH pointing at the venv's site-packages and the checkout).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from vrrpd.config import parse_config
from vrrpd.config.reload import plan_reload


def document(instances: int, priority: int = 100) -> str:
    """N IPv4 instances over 4 interfaces (255 VRIDs each), one VIP each, a track script on every tenth."""
    lines = ["track_scripts:", "  chk: {command: [/bin/true], interval: 2}", "instances:"]
    for i in range(instances):
        tracked = ", track_scripts: [{name: chk, weight: -10}]" if i % 10 == 0 else ""
        lines.append(
            f"  - {{name: v{i}, interface: eth{i // 255}, vrid: {i % 255 + 1}, priority: {priority},"
            f" virtual_addresses: [198.51.{100 + i // 255}.{i % 255 + 1}/32]{tracked}}}"
        )
    return "\n".join(lines) + "\n"


def best(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms (min {min(samples) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"interpreter: {sys.executable} (Python {sys.version.split()[0]})")
    for n in args.sizes:
        text = document(n)
        changed = document(n).replace("priority: 100", "priority: 101", 1)
        parse, plan = [], []
        running = parse_config(text, "vrrpd.yaml")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            new = parse_config(changed, "vrrpd.yaml")
            t1 = time.perf_counter()
            result = plan_reload(running, new)
            t2 = time.perf_counter()
            parse.append(t1 - t0)
            plan.append(t2 - t1)
        assert result.counts()["changed"] == 1
        print(f"{n:5d} instances: parse+validate {best(parse)}, plan {best(plan)}")


if __name__ == "__main__":
    main()
