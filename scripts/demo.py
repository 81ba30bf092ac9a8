"""The live demo: three vrrpd routers and a client in network namespaces, a master crash, the takeover.

Run as root through scripts/demo.sh (which sets everything up first). Everything lives in namespaces this
script creates and deletes; only documentation address ranges are used.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "netns-tests"))

from lab import Host, Lab, wait_for  # noqa: E402
from vrrpd_runner import Vrrpd, instance, vip_holders  # noqa: E402

VIP4, VIP6 = "198.51.100.100/24", "2001:db8::100/64"
BOLD, RESET = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")


def say(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def vrrpctl(d: Vrrpd) -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "vrrpctl"), "--socket", str(d.socket), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"-- vrrpctl status on {d.host.name}")
    print(out.stdout.rstrip() or out.stderr.rstrip())


def neighbour(client: Host, address: str) -> str:
    out = client.run(["ip", "neigh", "show", "to", address, "dev", "eth0"], check=False).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else "(none)"


def ping(client: Host, address: str) -> str:
    ok = client.run(["ping", "-c", "1", "-W", "2", address], check=False).returncode == 0
    return "answers" if ok else "does NOT answer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=1.0, help="advert interval in seconds (default 1)")
    args = parser.parse_args()
    interval = args.interval

    say("Building the lab: a bridge, routers r1 (priority 200), r2 (150), r3 (100) and a client")
    with Lab(prefix="demo") as lab:
        routers = [
            lab.add_host(f"r{i}", ipv4=f"198.51.100.{10 + i}/24", ipv6=f"2001:db8::{10 + i}/64") for i in (1, 2, 3)
        ]
        client = lab.add_host("client", ipv4="198.51.100.50/24", ipv6="2001:db8::50/64")
        for host in (*routers, client):
            print(f"   {host.name:7} namespace {host.ns:16} MAC {host.mac}")

        say(f"Starting one vrrpd per router (VRID 51, IPv4 {VIP4} and IPv6 {VIP6}, adverts every {interval:g} s)")
        daemons = []
        for host, prio in zip(routers, (200, 150, 100), strict=True):
            instances = [
                instance("web-v4", priority=prio, addresses=[VIP4], advert_interval=interval),
                instance("web-v6", priority=prio, addresses=[VIP6], advert_interval=interval),
            ]
            daemons.append(Vrrpd(host, instances).start())
        started = time.monotonic()
        for name in ("web-v4", "web-v6"):
            wait_for(lambda n=name: daemons[0].state(n) == "MASTER", 10 * interval + 5, message="no election")
        print(f"   r1 won the election after {time.monotonic() - started:.2f} s (its Master_Down_Interval)")
        for d in daemons:
            vrrpctl(d)
        print(
            f"   {VIP4} is on: {', '.join(vip_holders(routers, VIP4))}; {VIP6} is on: "
            f"{', '.join(vip_holders(routers, VIP6))}"
        )

        say("The client reaches both virtual addresses through r1")
        for vip in (VIP4, VIP6):
            address = vip.split("/")[0]
            print(f"   ping {address}: {ping(client, address)}, neighbour entry -> {neighbour(client, address)}")

        say("kill -9 the master (r1): no goodbye, the backups must notice the silence")
        mdi = daemons[1].instance_status("web-v4")["master_down_interval"]
        killed = time.monotonic()
        daemons[0].crash()
        wait_for(lambda: daemons[1].state("web-v4") == "MASTER", mdi + 5, interval=0.005, message="no takeover")
        took = time.monotonic() - killed
        wait_for(lambda: daemons[1].state("web-v6") == "MASTER", mdi + 5, message="no IPv6 takeover")
        print(
            f"   r2 took over after {took * 1000:.0f} ms; the protocol bound (Master_Down_Interval at priority 150) "
            f"is {mdi * 1000:.0f} ms"
        )
        vrrpctl(daemons[1])

        say("The gratuitous ARP / unsolicited NA moved the client to r2 without it asking")
        for vip in (VIP4, VIP6):
            address = vip.split("/")[0]
            wait_for(lambda a=address: neighbour(client, a) == routers[1].mac, 3, message="client not moved")
            print(
                f"   ping {address}: {ping(client, address)}, neighbour entry -> {neighbour(client, address)} "
                f"(r2 is {routers[1].mac})"
            )

        say("SIGTERM the new master (r2): it sends priority 0, r3 takes over after Skew_Time")
        skew = daemons[2].instance_status("web-v4")["skew_time"]
        stopped = time.monotonic()
        assert daemons[1].proc is not None
        daemons[1].proc.terminate()
        wait_for(lambda: daemons[2].state("web-v4") == "MASTER", mdi + 5, interval=0.005, message="no takeover")
        print(
            f"   r3 took over after {(time.monotonic() - stopped) * 1000:.0f} ms (Skew_Time at priority 100 is "
            f"{skew * 1000:.0f} ms, instead of a full Master_Down_Interval); r2 exited with "
            f"{daemons[1].proc.wait(10)}"
        )

        say("Cleaning up: stopping the daemons and deleting every namespace")
    print("   done.")


if __name__ == "__main__":
    main()
