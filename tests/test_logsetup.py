"""vrrpd.services.logsetup: journald-or-stderr selection, and the rate limiter for the receive path."""

from __future__ import annotations

import asyncio
import logging

import pytest

from vrrpd.services.logsetup import RateLimitedLogger, printable, setup_logging, under_systemd


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_detects_systemd(clean_env):
    assert not under_systemd()
    clean_env.setenv("INVOCATION_ID", "0123")
    assert under_systemd()
    clean_env.delenv("INVOCATION_ID")
    clean_env.setenv("JOURNAL_STREAM", "8:1234")
    assert under_systemd()


def test_stderr_outside_systemd_and_idempotent(clean_env):
    first = setup_logging("debug")
    second = setup_logging(logging.WARNING)
    root = logging.getLogger()
    assert first not in root.handlers and second in root.handlers
    assert isinstance(second, logging.StreamHandler)
    assert root.level == logging.WARNING


def test_journal_when_asked():
    from systemd.journal import JournalHandler

    handler = setup_logging("info", journal=True)
    assert isinstance(handler, JournalHandler)
    assert handler._extra["SYSLOG_IDENTIFIER"] == "vrrpd"
    logging.getLogger("vrrpd.test").info("journal handler smoke test")  # no journald here: must not raise


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(caplog):
    caplog.set_level(logging.DEBUG, logger="vrrpd.rx")
    clock = Clock()
    return RateLimitedLogger(logging.getLogger("vrrpd.rx"), burst=2, interval=10, max_keys=3, clock=clock), clock


def test_burst_then_summary(limited, caplog):
    log, clock = limited
    results = [log.warning(("ttl", "eth0"), "bad ttl %d", i) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert log.warning("other", "different key") is True  # keys are independent
    clock.now = 10
    assert log.warning(("ttl", "eth0"), "bad ttl %d", 99) is True
    assert [r.getMessage() for r in caplog.records] == [
        "bad ttl 0",
        "bad ttl 1",
        "different key",
        "3 similar messages suppressed (ttl eth0) within 10s",
        "bad ttl 99",
    ]
    assert caplog.records[3].levelno == logging.WARNING


def test_flush_summarises_quiet_keys(limited, caplog):
    log, clock = limited
    for _ in range(4):
        log.info("k", "m")
    log.flush()  # window still open: nothing yet
    clock.now = 11
    log.flush()
    assert [r.getMessage() for r in caplog.records][-1] == "2 similar messages suppressed (k) within 10s"
    assert caplog.records[-1].levelno == logging.INFO


def test_key_count_is_bounded(limited, caplog):
    log, _ = limited
    for source in range(100):  # e.g. a flood from spoofed source addresses
        log.warning(f"198.51.100.{source}", "bad advert from %s", source)
    assert log.tracked == 3 + 1  # max_keys, plus the one overflow window they all share beyond that
    assert len(caplog.records) == 3 + 2  # one message for each own key, then the overflow window's burst


def test_disabled_level_costs_nothing(limited):
    log, _ = limited
    log.logger.setLevel(logging.ERROR)
    assert log.warning("k", "m") is False
    assert log.tracked == 0


def test_with_a_loop_the_summary_appears_on_its_own_when_the_window_ends(caplog):
    """Before, the summary waited for the same key to log again: a flood that stopped was never summarised."""
    caplog.set_level(logging.DEBUG, logger="vrrpd.rx")

    async def body() -> list[str]:
        log = RateLimitedLogger(logging.getLogger("vrrpd.rx"), burst=2, interval=0.05, loop=asyncio.get_running_loop())
        for i in range(7):
            log.warning(("ttl", "eth0"), "bad ttl %d", i)
        log.warning("quiet", "one message, nothing suppressed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not any("suppressed" in r.getMessage() for r in caplog.records):
            assert loop.time() < deadline, "no summary"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # a later, second summary would show up here
        assert log.tracked == 0  # both windows ended and were forgotten
        return [r.getMessage() for r in caplog.records]

    messages = asyncio.run(body())
    assert messages == [
        "bad ttl 0",
        "bad ttl 1",
        "one message, nothing suppressed",
        "5 similar messages suppressed (ttl eth0) within 0.05s",
    ]


def test_close_summarises_the_windows_still_open(limited, caplog):
    log, clock = limited
    for _ in range(5):
        log.error("k", "m")
    log.info("other", "n")
    clock.now = 4
    log.close()
    assert [r.getMessage() for r in caplog.records] == ["m", "m", "n", "3 similar messages suppressed (k) within 4s"]
    assert caplog.records[-1].levelno == logging.ERROR
    assert log.tracked == 0


def test_printable_escapes_what_could_forge_or_garble_a_log_line():
    assert printable(b"plain text, caf\xc3\xa9", 100) == "plain text, caf\u00e9"
    forged = b"ok\nJan 01 00:00:00 host vrrpd[1]: gw: BACKUP -> MASTER\r\x00\x1b[2J\xff\\n\xe2\x80\xa8"
    line = printable(forged, 200)
    assert line == "ok\\nJan 01 00:00:00 host vrrpd[1]: gw: BACKUP -> MASTER\\r\\x00\\x1b[2J\\xff\\\\n\\u2028"
    assert line.isprintable() and "\n" not in line


def test_printable_caps_and_counts_what_it_leaves_out():
    assert printable(b"abcdef", 4) == "abcd... (2 bytes more)"
    assert printable(b"abcdef", 4, size=1000) == "abcd... (996 bytes more)"  # the rest was discarded unread
    assert printable(b"abcdef", 6) == "abcdef"
