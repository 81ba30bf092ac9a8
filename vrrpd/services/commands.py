"""What every command of a configuration needs before vrrpd runs it: it exists, it is executable, and, when it runs
as root, nobody but root can change it (keepalived's script security, which vrrpd always applies).

`command_problems(config)` returns one sentence per problem, in the configuration's own style (file, key path,
line); `vrrpd check`, `vrrpd run` (before it starts anything) and a reload (vrrpd.daemon.preflight) refuse a
configuration that has any. Commands are the track scripts instances and sync groups use and every notify hook.

The rules, as keepalived's ``enable_script_security`` (keepalived.conf(5): a script is not run if any part of its
path is writable by a non-root user), checked for the path as written and for the file it resolves to through
symlinks, from ``/`` down to the file:
- every component is owned by root;
- no regular file, and no directory without the sticky bit, is writable by others, or by its group unless that
  group is root (gid 0). A sticky directory (``/tmp``, mode 1777) lets others create names but not replace root's files,
  so a root-owned script in it is safe;
- symlinks are checked for their owner only (their own mode means nothing).
A command that runs as another user (``user:``) is checked for existing and being executable by that user only:
whoever can change it gets no more than that user has, as in keepalived.

Interpreters: for ``[/bin/sh, /etc/vrrpd/check.sh]`` the script the interpreter reads is checked too (not for the
executable bit), when argv[0] is a shell, Python, Perl or Ruby and the first argument that is not an option is an
absolute path (not after ``-c``, ``-e`` or ``-m``: those take code or a module name). A bare name (``sh``) is
looked up on PATH as the runner does (the daemon's own environment; hooks inherit PATH).

A missing or non-executable command is an error, not a warning: a check that cannot run fails at every interval
and a hook never runs, so the VIP would move or the hook silently not happen. A tool that installs the script
later must install it before it starts or reloads vrrpd.

Blocking (stat, NSS lookups for `user:` and owners' names): start-up and `vrrpd check` call it directly, a reload
in a thread.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from vrrpd.config import Config
from vrrpd.config.errors import clip, sentence
from vrrpd.config.hooks import HOOK_KEYS, HooksConfig

_INTERPRETER = re.compile(r"(?:ba|da|k|z|a)?sh|python[0-9.]*|perl[0-9.]*|ruby[0-9.]*")
_SHOWN = 300
"""Characters of a path a message quotes: paths are shown whole (the fix names them), unless absurdly long."""
_CODE_OPTIONS = frozenset({"-c", "-e", "-E", "-m"})
"""Options after which the argument is code or a module name, not a script file."""


@dataclass(frozen=True, slots=True)
class CommandUse:
    """One command of the configuration and where it is written."""

    where: str
    """The key path, e.g. ``track_scripts.chk_web.command`` or ``instances[2].notify.on_master``."""
    line: int
    argv: tuple[str, ...]
    user: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a command runs as."""

    uid: int
    gid: int

    @property
    def root(self) -> bool:
        return self.uid == 0 or self.gid == 0


ROOT = Identity(0, 0)


def command_problems(config: Config, daemon: Identity | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per problem of a command of `config` (see the module's docstring); each distinct problem once,
    at the first place that has it. `daemon`: who runs the commands without a `user:` (default: this process;
    `vrrpd check` says root, as the shipped unit runs vrrpd). `env`: whose PATH finds bare names (default: this
    process's environment)."""
    found: dict[str, str] = {}
    path = os.get_exec_path(dict(env) if env is not None else None)
    daemon = daemon or Identity(os.geteuid(), os.getegid())
    for use in command_uses(config):
        identity = daemon if use.user is None else _identity(use.user)
        if identity is None:
            continue  # an unknown user: start-up refuses it with its own message (resolve_user_for)
        for problem in check_command(use.argv, identity, path):
            found.setdefault(problem, sentence(config.source, use.where, use.line, problem))
    return list(found.values())


def command_uses(config: Config) -> Iterator[CommandUse]:
    """The commands vrrpd will run: the track scripts some instance or sync group uses, and every notify hook
    (an instance's hooks inherited from `defaults` are named there, once)."""
    used = {t.name for c in (*config.instances, *config.sync_groups) for t in c.track_scripts}
    for script in config.track_scripts:
        if script.name in used:
            yield CommandUse(f"track_scripts.{script.name}.command", script.line, script.command, script.user)
    for index, inst in enumerate(config.instances):
        inherited = 0 < inst.notify.line < inst.line
        yield from _hooks("defaults.notify" if inherited else f"instances[{index}].notify", inst.notify)
    for group in config.sync_groups:
        yield from _hooks(f"sync_groups.{group.name}.notify", group.notify)


def _hooks(where: str, hooks: HooksConfig) -> Iterator[CommandUse]:
    for key in HOOK_KEYS:
        argv: tuple[str, ...] = getattr(hooks, key)
        if argv:
            yield CommandUse(f"{where}.{key}", hooks.line, argv, hooks.user)


def _identity(user: str) -> Identity | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return Identity(entry.pw_uid, entry.pw_gid)


def check_command(
    argv: tuple[str, ...], identity: Identity, path: list[str], trusted: frozenset[int] = frozenset({0})
) -> list[str]:
    """The problems of running `argv` as `identity` ([] if none): found (on `path` for a bare name), executable,
    and for root only changeable by the owners in `trusted` (root; the tests add their own user)."""
    program, problem = resolve(argv[0], path, identity)
    if problem is not None:
        return [problem]
    assert program is not None
    files = [(program, True)]
    script = interpreted_script(argv)
    if script is not None:
        files.append((script, False))
    problems = []
    for file, executed in files:
        try:
            info = os.stat(file)
        except OSError as exc:
            problems.append(f"{_shown(file)} cannot be run: {exc.strerror}")
            continue
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{_shown(file)} is not a regular file")
        elif executed and not executable(info, identity):
            fix = f"chmod +x {shlex.quote(file)}"
            problems.append(f"{_shown(file)} is not executable{_for(identity)} (mode {_mode(info)}): {fix}")
        elif identity.root:
            problems += unsafe(file, trusted)
    return problems


def resolve(name: str, path: list[str], identity: Identity) -> tuple[str | None, str | None]:
    """(the file `name` runs, None) or (None, the problem): a name with a slash as it is, a bare one looked up on
    `path` as execvp does (the first file found that is executable; else the first found, which then fails)."""
    if "/" in name:
        if not os.path.lexists(name):
            return None, f"{_shown(name)} does not exist"
        return os.path.abspath(name), None
    first = None
    for directory in path:
        candidate = os.path.join(directory or ".", name)
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and executable(info, identity):
            return os.path.abspath(candidate), None
        first = first or candidate
    if first is not None:
        return os.path.abspath(first), None
    return None, f"{_shown(name)} is not found on PATH ({clip(os.pathsep.join(path), 120, quoted=False)})"


def interpreted_script(argv: tuple[str, ...]) -> str | None:
    """The script file an interpreter in argv[0] reads, if the command names one by its absolute path."""
    if not _INTERPRETER.fullmatch(os.path.basename(argv[0])):
        return None
    for arg in argv[1:]:
        if arg in _CODE_OPTIONS or (arg.startswith("-") and arg[-1:] in "cem" and not arg.startswith("--")):
            return None  # -c CODE, -e CODE, -m MODULE, also combined (-ec, -xc)
        if not arg.startswith("-"):
            return arg if arg.startswith("/") else None
    return None


def executable(info: os.stat_result, identity: Identity) -> bool:
    if identity.uid == 0:
        return bool(info.st_mode & 0o111)
    if info.st_uid == identity.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == identity.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def unsafe(file: str, trusted: frozenset[int] = frozenset({0})) -> list[str]:
    """Who, besides root (`trusted`), can change what runs as `file`: each component of its path as written and
    of the path it resolves to, from / down (see the module's docstring). At most one problem, the first found."""
    real = os.path.realpath(file)
    for written in dict.fromkeys((file, real)):
        parts = Path(written).parts
        for depth in range(1, len(parts) + 1):
            component = str(Path(*parts[:depth]))
            try:
                info = os.lstat(component)
            except OSError:
                continue  # raced away, or under a symlink resolved in `real`: stat() above found the file
            problem = _component(component, info, file, trusted)
            if problem is not None:
                return [problem]
    return []


def _component(component: str, info: os.stat_result, file: str, trusted: frozenset[int]) -> str | None:
    what = _shown(component) if component == file else f"{_shown(component)} (on the way to {_shown(file)})"
    runs, quoted = "and the command runs as root", shlex.quote(component)
    if info.st_uid not in trusted:
        owner = _user(info.st_uid)
        return f"{what} is owned by {owner}, who can replace it, {runs}: chown root {quoted}"
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
        return None
    if info.st_mode & stat.S_IWOTH:
        return f"{what} is writable by every user (mode {_mode(info)}), {runs}: chmod o-w {quoted}"
    if info.st_mode & stat.S_IWGRP and info.st_gid != 0:
        group = _group(info.st_gid)
        return f"{what} is writable by group {group} (mode {_mode(info)}), {runs}: chmod g-w {quoted}"
    return None


def _shown(path: str) -> str:
    return clip(path, _SHOWN)


def _for(identity: Identity) -> str:
    return "" if identity.uid == 0 else f" for {_user(identity.uid)}"


def _mode(info: os.stat_result) -> str:
    return f"{stat.S_IMODE(info.st_mode):04o}"


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"
