"""Daemon wiring of notify hooks and events, without sockets: a transition's protocol actions happen at once, its
hooks later, in order; a hanging hook never delays the next transition (issue #5 point 4). RFC 9568 §6.4.3: on
shutdown the priority-0 advert leaves before on_stop runs."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from daemoncase import Tx, add_instance, priorities

from vrrpd.config import parse_config
from vrrpd.daemon import Daemon, Instance
from vrrpd.net.fakes import FakeNetlink
from vrrpd.protocol import ShutdownRequested, Started, State, TimerExpired

SH, SLEEP = shutil.which("sh"), shutil.which("sleep")


def make(notify: dict[str, Any]) -> tuple[Daemon, Instance, Tx]:
    doc = {
        "control_socket": "/tmp/vrrpd-test-unused.sock",
        "instances": [
            {
                "name": "gw",
                "interface": "eth0",
                "vrid": 51,
                "priority": 200,
                "virtual_addresses": ["198.51.100.100/24"],
                "notify": notify,
            }
        ],
    }
    config = parse_config(yaml.safe_dump(doc))
    daemon = Daemon(config, FakeNetlink())
    cfg = config.instances[0]
    tx = Tx()
    inst = add_instance(daemon, cfg, tx)
    daemon.notifier.add_instance(cfg)
    return daemon, inst, tx


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_hanging_hook_does_not_delay_the_next_transition_and_hooks_stay_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    notify = {
        "on_backup": [SH, "-c", f"echo backup >> {out}; exec {SLEEP} 60"],
        "on_master": [SH, "-c", f"echo master >> {out}"],
        "on_stop": [SH, "-c", f"echo stop >> {out}"],
        "timeout": 0.5,
    }

    async def body() -> None:
        daemon, inst, tx = make(notify)
        runner = daemon.notifier.runners[0]
        daemon._feed(inst, Started())
        assert inst.router.state is State.BACKUP
        await until(lambda: out.exists() and runner.current is not None)  # on_backup now hangs

        # The master-down timer fires while on_backup hangs: the router takes over and its advert leaves
        # within this very call, not after the hook.
        daemon._feed(inst, TimerExpired(), now=1e9)
        assert inst.router.state is State.MASTER
        assert priorities(tx) == [200]
        assert runner.current is not None and runner.current[1] == "on_backup"
        assert runner.pending == 1  # on_master waits its turn

        await runner.drain()
        assert out.read_text().splitlines() == ["backup", "master"]
        hooks = daemon._instance_status(inst, 0.0)["hooks"]
        assert hooks["runs"] == 2 and hooks["timeouts"] == 1 and hooks["failures"] == 1

        # Shutdown: the priority-0 advert is sent synchronously, on_stop runs afterwards.
        daemon._feed(inst, ShutdownRequested())
        assert priorities(tx) == [200, 0]
        assert not out.read_text().splitlines()[2:]
        await daemon.notifier.close(limit=5)
        assert out.read_text().splitlines() == ["backup", "master", "stop"]

        events = daemon.notifier.events.recent(10)
        assert [(e["seq"], e["old"], e["new"]) for e in events] == [
            (1, "INITIALIZE", "BACKUP"),
            (2, "BACKUP", "MASTER"),
            (3, "MASTER", "STOP"),
        ]
        assert events[1]["reason"] == "master down timer expired" and events[1]["priority"] == 200

    asyncio.run(body())
