"""vrrpd.services.sdnotify: real datagrams on a NOTIFY_SOCKET, and silence (never an exception) without one."""

from __future__ import annotations

import os
import socket

import pytest

from vrrpd.services import sdnotify


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_messages(notify_socket):
    assert sdnotify.ready("2 instances: gw-v4 MASTER,\ngw-v6 BACKUP")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=2 instances: gw-v4 MASTER, gw-v6 BACKUP"
    assert sdnotify.status("reloading")
    assert notify_socket.recv(4096) == b"STATUS=reloading"
    assert sdnotify.stopping()
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert sdnotify.watchdog()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.reloading()
    first, second = notify_socket.recv(4096).split(b"\n")
    assert first == b"RELOADING=1" and second.startswith(b"MONOTONIC_USEC=")


def test_no_socket_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready("x") is False
    assert sdnotify.stopping() is False


def test_unreachable_socket_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert sdnotify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "not-a-path")
    assert sdnotify.watchdog() is False


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "2500000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 2.5
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    assert sdnotify.watchdog_interval() is None
