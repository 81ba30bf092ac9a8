"""The control socket's directory (issue #13 item 4): created 0750 whatever the umask, refused by the daemon and by
vrrpctl when another user could replace the socket, and vrrpctl's own message (not click's) without permission.

Tests that need another user (nobody) run only as root; the others run anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from controlcase import ServerThread

from vrrpd.cli.ctl import main
from vrrpd.services.control import ControlError, ControlServer, request

NOBODY = 65534
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as another user")
ADVICE = (
    "run as root, or as a member of the group vrrpd runs with (the group vrrpd under the shipped unit: "
    "usermod -aG vrrpd USER; see README.md, Running vrrpctl without root)"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def serve(path: Path) -> ServerThread:
    return ServerThread(path, {"status": lambda args: "up"})


def start_fails(path: Path) -> str:
    with pytest.raises(ControlError) as info:
        asyncio.run(ControlServer(path, {}).start())
    assert not path.exists()
    return str(info.value)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A directory every user may traverse (like /run), unlike pytest's own 0700 one."""
    path = Path(tempfile.mkdtemp(prefix="vrrpd-sockdir-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


# --- the daemon creates its directory 0750 ------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_directory_and_missing_parents_are_created_0750_and_the_socket_0660_whatever_the_umask(tmp_path, umask):
    sock = tmp_path / "run" / "vrrpd" / "vrrpd.sock"
    old = os.umask(umask)  # process-wide, hence restored at once: the server thread only starts under it
    try:
        with serve(sock):
            assert (mode(sock.parent.parent), mode(sock.parent), mode(sock)) == (0o750, 0o750, 0o660)
            assert request(sock, "status") == "up"
    finally:
        os.umask(old)


def test_an_existing_safe_directory_is_used_as_it_is(tmp_path):
    sock = tmp_path / "run" / "vrrpd.sock"
    sock.parent.mkdir()
    sock.parent.chmod(0o755)  # e.g. made by an older vrrpd under umask 022: nobody else can write there
    with serve(sock):
        assert request(sock, "status") == "up"
    assert mode(sock.parent) == 0o755


@pytest.mark.parametrize(("dir_mode", "who"), [(0o777, "others"), (0o1777, "others"), (0o770, "its group")])
def test_a_directory_others_may_write_to_is_refused_and_left_alone(tmp_path, dir_mode, who):
    sock = tmp_path / "run" / "vrrpd.sock"
    sock.parent.mkdir()
    sock.parent.chmod(dir_mode)
    message = start_fails(sock)
    assert message == (
        f"refusing the control socket directory {sock.parent}: it is writable by {who} (mode {dir_mode:04o}), who "
        f"could replace the socket with an impostor; chmod 0750 {sock.parent}, or remove it and let vrrpd create it"
    )
    assert mode(sock.parent) == dir_mode


def test_an_ancestor_everyone_may_write_to_is_refused_unless_sticky(tmp_path):
    sock = tmp_path / "open" / "run" / "vrrpd.sock"
    sock.parent.mkdir(parents=True)
    sock.parent.chmod(0o750)
    sock.parent.parent.chmod(0o777)
    assert start_fails(sock) == (
        f"refusing the control socket directory {sock.parent}: {sock.parent.parent} is writable by everyone and "
        f"not sticky (mode 0777), so {sock.parent} could be replaced; put the socket elsewhere"
    )
    sock.parent.parent.chmod(0o1777)  # like /tmp: only the owner of run/ may rename it
    with serve(sock):
        assert request(sock, "status") == "up"


@ROOT_ONLY
def test_a_directory_owned_by_another_user_is_refused(tmp_path):
    sock = tmp_path / "run" / "vrrpd.sock"
    sock.parent.mkdir(mode=0o750)
    os.chown(sock.parent, NOBODY, -1)
    assert start_fails(sock) == (
        f"refusing the control socket directory {sock.parent}: it belongs to uid {NOBODY}, not root or uid 0, so "
        "that user could replace the socket; chown it to root or remove it"
    )


def test_a_file_in_place_of_the_directory_is_refused(tmp_path):
    sock = tmp_path / "run" / "vrrpd.sock"
    sock.parent.write_text("")
    message = start_fails(sock)
    assert message == f"cannot use {sock.parent} for the control socket: Not a directory"


# --- vrrpctl refuses an impostor ----------------------------------------------------------------------------


def listening(path: Path, owner: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen()
    s.settimeout(0)
    if owner is not None:
        os.chown(path, owner, owner)
    return s


def nothing_sent_to(impostor: socket.socket) -> bool:
    try:
        impostor.accept()
    except BlockingIOError:
        return True
    return False


def test_vrrpctl_refuses_a_socket_in_a_directory_others_may_write_to(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)  # what vrrpd created under umask 000 before: anyone could put a socket there
    with listening(run / "vrrpd.sock") as impostor:
        with pytest.raises(ControlError) as info:
            request(run / "vrrpd.sock", "status")
        assert nothing_sent_to(impostor)
    assert str(info.value) == (
        f"refusing the control socket directory {run}: it is writable by others (mode 0777), who could replace "
        f"the socket with an impostor; chmod 0750 {run} and restart vrrpd"
    )


@ROOT_ONLY
def test_vrrpctl_refuses_a_socket_owned_by_a_third_user(tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    sock = run / "vrrpd.sock"
    with listening(sock, owner=NOBODY) as impostor:
        with pytest.raises(ControlError) as info:
            request(sock, "status")
        assert nothing_sent_to(impostor)
    assert str(info.value) == (
        f"refusing to talk to {sock}: it belongs to uid {NOBODY}, neither root nor the owner of {run} (uid 0); it "
        "may be an impostor"
    )


@ROOT_ONLY
def test_vrrpctl_trusts_a_daemon_running_as_the_owner_of_its_directory(tmp_path):
    # User=vrrpd in the unit: systemd gives the RuntimeDirectory to that user, who creates the socket.
    run = tmp_path / "run"
    run.mkdir(mode=0o750)
    os.chown(run, NOBODY, NOBODY)
    with listening(run / "vrrpd.sock", owner=NOBODY) as daemon:
        daemon.settimeout(5)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with client:
            client.settimeout(5)
            # The checks pass and the request reaches the socket (whose listener never answers here).
            with pytest.raises(ControlError, match="no answer"):
                request(run / "vrrpd.sock", "status", timeout=0.5)
        conn, _ = daemon.accept()
        with conn:
            assert conn.recv(100) == b'{"command": "status"}\n'


# --- vrrpctl without permission -----------------------------------------------------------------------------


def vrrpctl_as(uid: int, groups: list[int], *args: str) -> tuple[int, str, str]:
    """vrrpctl run by `uid` with supplementary `groups`: (exit status, stdout, stderr). In a forked child that
    changes its real ids (no exec: the interpreter may lie where that user cannot reach it); click's own checks
    used the real ids too."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.setgroups(groups)
            os.setgid(NOBODY)
            os.setuid(uid)
            result = CliRunner().invoke(main, list(args))
            os.write(write_end, json.dumps([result.exit_code, result.stdout, result.stderr]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    code, out, err = json.loads(data)
    return code, out, err


@ROOT_ONLY
def test_vrrpctl_as_a_user_outside_the_group_gets_the_projects_message(public_tmp):
    sock = public_tmp / "run" / "vrrpd.sock"
    with serve(sock):
        # A traversable directory with the socket 0660 root:root: click's readable check said "is not readable".
        sock.parent.chmod(0o755)
        result = vrrpctl_as(NOBODY, [], "--socket", str(sock), "status")
    assert result == (1, "", f"vrrpctl: cannot open {sock}: permission denied; {ADVICE}\n")


@ROOT_ONLY
def test_vrrpctl_as_a_member_of_the_daemons_group_is_served(public_tmp):
    # The advice is true: the socket and its directory belong to the daemon's group (its Group=; 0 here).
    sock = public_tmp / "run" / "vrrpd.sock"
    with serve(sock):
        assert (os.stat(sock).st_gid, os.stat(sock.parent).st_gid) == (os.getegid(), os.getegid())
        outsider = vrrpctl_as(NOBODY, [], "--socket", str(sock), "status", "--json")
        member = vrrpctl_as(NOBODY, [os.getegid()], "--socket", str(sock), "status", "--json")
    assert outsider == (1, "", f"vrrpctl: cannot open {sock}: permission denied; {ADVICE}\n")
    assert member == (0, '"up"\n', "")


def test_vrrpctl_permission_denied_message_without_root(tmp_path):
    sock = tmp_path / "run" / "vrrpd.sock"
    with serve(sock):
        if os.geteuid() == 0:
            os.seteuid(NOBODY)  # undone below: the saved uid stays 0
            try:
                result = CliRunner().invoke(main, ["--socket", str(sock), "status"])
            finally:
                os.seteuid(0)
        else:
            sock.chmod(0)
            result = CliRunner().invoke(main, ["--socket", str(sock), "status"])
    assert result.exit_code == 1
    assert result.output == f"vrrpctl: cannot open {sock}: permission denied; {ADVICE}\n"


def test_the_advice_points_at_a_readme_section_that_gives_the_steps():
    from vrrpd.services.control import PERMISSION_ADVICE

    title = PERMISSION_ADVICE.rsplit("README.md, ", 1)[1].rstrip(")")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"\n## {title}\n" in readme
    section = readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    for step in ("groupadd --system vrrpd", "usermod -aG vrrpd", "Group=vrrpd"):
        assert step in section
    unit = (Path(__file__).resolve().parent.parent / "systemd" / "vrrpd.service").read_text()
    assert f'"{title}"' in unit and "Group=vrrpd" in unit


def test_the_daemon_refuses_to_start_in_an_unsafe_directory_and_sends_nothing():
    from daemoncase import FAST_BACKUP, Case, daemon_on_fakes

    async def start() -> tuple[Case, str]:
        case = daemon_on_fakes(FAST_BACKUP)
        case.rundir.chmod(0o777)
        with pytest.raises(ControlError) as info:
            await case.daemon.start()
        case.sockets.close()
        return case, str(info.value)

    case, message = asyncio.run(start())
    try:
        assert message.startswith(f"refusing the control socket directory {case.rundir}: it is writable by others")
        assert not (case.rundir / "vrrpd.sock").exists()
        assert case.sockets.opened and all(not s.sent for s in case.sockets.opened)  # built, never run
    finally:
        subprocess.run(["rm", "-rf", str(case.rundir)], check=False)
