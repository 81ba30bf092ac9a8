"""The `notify:` section (per instance and per sync group): which commands run on which transition.

A module of its own so instances and sync groups share one schema (`parse_hooks`), and apart from
vrrpd.services.hooks, which runs the commands, so the configuration never imports asyncio. The parsing uses the
shared checker (`mapping`, `command`, `seconds`, `user_name`, `warn`), so every error is the same one sentence
naming file, key path and line as anywhere else.

keepalived's names map one to one: notify_master -> on_master, notify_backup -> on_backup, notify_fault ->
on_fault, notify_stop -> on_stop, notify -> notify (which, as in keepalived, gets ``INSTANCE|GROUP NAME STATE
PRIORITY`` appended to its argv).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vrrpd.config.checker import Checker, Loc

HOOK_STATES = {"on_master": "MASTER", "on_backup": "BACKUP", "on_fault": "FAULT", "on_stop": "STOP"}
"""The state-specific hooks and the state (as passed to hooks) each one runs on."""
HOOK_KEYS = (*HOOK_STATES, "notify")
NOTIFY_KEYS = (*HOOK_KEYS, "timeout", "user")
DEFAULT_TIMEOUT = 30.0
"""Seconds a hook may run before its process group is killed (keepalived has no limit at all)."""
MAX_TIMEOUT = 3600.0


@dataclass(frozen=True, slots=True)
class HooksConfig:
    """Commands (argv, never run through a shell) to run on transitions; an empty tuple = no such hook."""

    on_master: tuple[str, ...] = ()
    on_backup: tuple[str, ...] = ()
    on_fault: tuple[str, ...] = ()
    on_stop: tuple[str, ...] = ()
    """Runs when the daemon stops the instance (shutdown), as keepalived's notify_stop."""
    notify: tuple[str, ...] = ()
    """Generic hook: runs after the specific one with ``INSTANCE|GROUP NAME STATE PRIORITY`` appended."""
    timeout: float = DEFAULT_TIMEOUT
    """Per run: at expiry the hook's process group gets SIGTERM, then SIGKILL; counted as a failure."""
    user: str | None = None
    """Run as this user (its primary group, no supplementary groups); None = the daemon's own user."""
    line: int = field(default=0, compare=False)
    """Where the section starts (for messages); 0 when there is none."""

    @property
    def empty(self) -> bool:
        return not any(getattr(self, key) for key in HOOK_KEYS)

    def commands(self, state: str) -> list[tuple[str, tuple[str, ...]]]:
        """(hook name, argv) to run, in order, for a transition to `state` (MASTER, BACKUP, FAULT or STOP):
        the specific hook first, then the generic `notify` (its keepalived arguments are added by the runner)."""
        result: list[tuple[str, tuple[str, ...]]] = []
        for key, hook_state in HOOK_STATES.items():
            argv: tuple[str, ...] = getattr(self, key)
            if hook_state == state and argv:
                result.append((key, argv))
        if self.notify:
            result.append(("notify", self.notify))
        return result


def parse_hooks(checker: Checker, value: Any, loc: Loc) -> HooksConfig:
    """Check one `notify:` mapping (an instance's, its default, or a group's) and return it typed."""
    section = checker.mapping(value, loc, NOTIFY_KEYS)
    commands: dict[str, tuple[str, ...]] = {}
    for key in HOOK_KEYS:
        if key in section:
            commands[key] = checker.command(section[key], loc.key(section, key))
    timeout = DEFAULT_TIMEOUT
    if "timeout" in section:
        timeout = checker.seconds(section["timeout"], loc.key(section, "timeout"), 0.01, MAX_TIMEOUT)
    user = checker.user_name(section["user"], loc.key(section, "user")) if "user" in section else None
    if not commands:
        checker.warn(loc, f"names no hook ({', '.join(HOOK_KEYS)}), so nothing will run")
    return HooksConfig(**commands, timeout=timeout, user=user, line=loc.line)
