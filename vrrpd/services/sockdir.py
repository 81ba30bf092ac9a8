"""Trust in the control socket's directory: created 0750 whatever the umask, refused when others may write to it.

Whoever can write to the directory can replace the socket with one of their own, and root's `vrrpctl` would
then send its requests to (and believe the answers of) an impostor. So the daemon refuses to listen in a
directory writable by anyone but its owner, or owned by someone other than root or itself, and `vrrpctl`
refuses to talk through one, or through a socket owned by a third user. Ancestors writable by everyone are
refused too unless sticky (like /tmp), since the directory itself could then be renamed away and replaced.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o750
"""The daemon's own socket directory: group members may reach the socket (itself 0660), others may not."""


class UnsafeDirectory(Exception):
    """The socket or its directory could have been replaced by another user; the message says how to fix it."""


def prepare(socket_path: Path) -> None:
    """Create the directory of `socket_path` (and any missing parent) with mode 0750, or check the existing one.

    The mode is set by chmod after mkdir: mkdir's mode is filtered by the umask, which may be 000 (then the
    directory would be 0777) or stricter than wanted; the umask itself is process-wide, so it is left alone.
    """
    directory = socket_path.parent
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            os.mkdir(path, DIRECTORY_MODE)
        except FileExistsError:
            pass  # created meanwhile by someone else: checked below like any existing directory
        except OSError as e:
            raise UnsafeDirectory(f"cannot create {path} for the control socket: {e.strerror or e}") from None
        else:
            os.chmod(path, DIRECTORY_MODE)
    try:
        check_directory(
            directory, owners={0, os.geteuid()}, fix=f"chmod 0750 {directory}, or remove it and let vrrpd create it"
        )
    except OSError as e:
        raise UnsafeDirectory(f"cannot use {directory} for the control socket: {e.strerror or e}") from None


def check_directory(directory: Path, *, owners: set[int] | None, fix: str) -> os.stat_result:
    """Raise `UnsafeDirectory` unless `directory` is a directory, owned by one of `owners` (None: anyone),
    writable by its owner only, and has no ancestor writable by everyone that is not sticky."""
    st = os.stat(directory)  # FileNotFoundError / PermissionError: for the caller to word
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
    if owners is not None and st.st_uid not in owners:
        raise UnsafeDirectory(
            f"refusing the control socket directory {directory}: it belongs to uid {st.st_uid}, not root or "
            f"uid {os.geteuid()}, so that user could replace the socket; chown it to root or remove it"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(
            f"refusing the control socket directory {directory}: it is writable by "
            f"{'others' if st.st_mode & stat.S_IWOTH else 'its group'} (mode {stat.S_IMODE(st.st_mode):04o}), "
            f"who could replace the socket with an impostor; {fix}"
        )
    real = Path(os.path.realpath(directory))
    for ancestor in real.parents:
        a = os.stat(ancestor)
        if a.st_mode & stat.S_IWOTH and not a.st_mode & stat.S_ISVTX:
            raise UnsafeDirectory(
                f"refusing the control socket directory {directory}: {ancestor} is writable by everyone and not "
                f"sticky (mode {stat.S_IMODE(a.st_mode):04o}), so {directory} could be replaced; put the socket "
                "elsewhere"
            )
    return st


def check_socket(socket_path: Path) -> None:
    """What `vrrpctl` checks before connecting: the socket's directory is safe (as above, whoever owns it) and the
    socket belongs to root, to the directory's owner (the daemon, when it runs as a User= of its own) or to us.

    Missing files raise FileNotFoundError (NotADirectoryError for a file in place of the directory) and
    unreadable ones PermissionError, which the caller words as "not running" and "permission denied"."""
    directory = socket_path.parent
    fix = f"chmod 0750 {directory} and restart vrrpd"
    dir_stat = check_directory(directory, owners=None, fix=fix)
    st = os.lstat(socket_path)
    if st.st_uid not in {0, dir_stat.st_uid, os.geteuid()}:
        raise UnsafeDirectory(
            f"refusing to talk to {socket_path}: it belongs to uid {st.st_uid}, neither root nor the owner of "
            f"{directory} (uid {dir_stat.st_uid}); it may be an impostor"
        )
