"""vrrpd.config / vrrpd.config.hooks: the per-instance `notify:` section (issue #5 point 4), its errors (file, key
path, line) and warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from configcase import BASE, FILE, instance_keys_parsers

from vrrpd.config import parse_config
from vrrpd.config.hooks import DEFAULT_TIMEOUT, HooksConfig

# The instance's extra keys start on line 6.
parse, error = instance_keys_parsers(BASE)


def test_every_key_parses_commands_split_like_a_shell_never_run_by_one():
    config = parse("""\
        notify:
          on_master: /usr/local/bin/vip-up --name "gw a"
          on_backup: [/usr/local/bin/vip-down, --quiet]
          on_fault: /usr/local/bin/vip-down
          on_stop: /usr/local/bin/vip-down --stop
          notify: /etc/keepalived/notify.sh
          timeout: 5.5
          user: nobody
        """)
    assert config.instances[0].notify == HooksConfig(
        on_master=("/usr/local/bin/vip-up", "--name", "gw a"),
        on_backup=("/usr/local/bin/vip-down", "--quiet"),
        on_fault=("/usr/local/bin/vip-down",),
        on_stop=("/usr/local/bin/vip-down", "--stop"),
        notify=("/etc/keepalived/notify.sh",),
        timeout=5.5,
        user="nobody",
    )
    assert config.instances[0].notify.line == 7
    assert config.warnings == ()


def test_no_notify_means_no_hooks_and_the_default_timeout():
    hooks = parse("").instances[0].notify
    assert hooks == HooksConfig() and hooks.empty and hooks.timeout == DEFAULT_TIMEOUT == 30.0


def test_commands_run_specific_first_then_generic():
    hooks = HooksConfig(on_master=("m",), on_stop=("s",), notify=("n",))
    assert hooks.commands("MASTER") == [("on_master", ("m",)), ("notify", ("n",))]
    assert hooks.commands("BACKUP") == [("notify", ("n",))]
    assert hooks.commands("STOP") == [("on_stop", ("s",)), ("notify", ("n",))]
    assert HooksConfig(on_master=("m",)).commands("FAULT") == []


def test_defaults_give_hooks_to_every_instance_and_an_instance_replaces_them_whole():
    text = (
        "defaults:\n  notify: {notify: /usr/local/bin/notify, timeout: 10}\n"
        + BASE
        + "  - {name: b, interface: eth0, vrid: 2, virtual_addresses: [198.51.100.2/24],\n"
        + "     notify: {on_master: /bin/up}}\n"
    )
    a, b = parse_config(text, FILE).instances
    assert a.notify == HooksConfig(notify=("/usr/local/bin/notify",), timeout=10)
    assert b.notify == HooksConfig(on_master=("/bin/up",))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("notify: /bin/true\n", "instances[0].notify (line 6): expected a mapping, got the string '/bin/true'"),
        (
            "notify:\n  on_mater: /bin/true\n",
            "instances[0].notify.on_mater (line 7): unknown key (did you mean on_master?)",
        ),
        (
            "notify:\n  notify_master: /bin/true\n",
            "instances[0].notify.notify_master (line 7): unknown key (this is keepalived's name; vrrpd uses "
            "on_master (under notify:))",
        ),
        (
            "notify_master: /bin/true\n",
            "instances[0].notify_master (line 6): unknown key (this is keepalived's name; vrrpd uses "
            "on_master (under notify:))",
        ),
        ("notify:\n  on_master: ''\n", "instances[0].notify.on_master (line 7): must not be empty"),
        ("notify:\n  on_master: []\n", "instances[0].notify.on_master (line 7): must not be empty"),
        (
            "notify:\n  on_master: 'a \"b'\n",
            "instances[0].notify.on_master (line 7): cannot be split into arguments like a shell would: "
            "No closing quotation",
        ),
        (
            "notify:\n  on_backup: {cmd: x}\n",
            "instances[0].notify.on_backup (line 7): expected a list of arguments or a string, got a mapping",
        ),
        (
            "notify:\n  on_fault: [/bin/x, 3]\n",
            "instances[0].notify.on_fault[1] (line 7): expected a string, got the number 3 (quote it)",
        ),
        (
            "notify:\n  notify: /x\n  timeout: 0\n",
            "instances[0].notify.timeout (line 8): 0 is outside 0.01..3600 seconds",
        ),
        (
            "notify:\n  notify: /x\n  timeout: soon\n",
            "instances[0].notify.timeout (line 8): expected a number of seconds, got the string 'soon'",
        ),
        ("notify:\n  notify: /x\n  user: 'r:oot'\n", "instances[0].notify.user (line 8): 'r:oot' is not a user name"),
        (
            "notify:\n  notify: /x\n  notify: /y\n",
            "instances[0].notify.notify (line 8): is given twice in the same mapping",
        ),
    ],
)
def test_errors_name_file_key_and_line(extra, message):
    assert error(extra) == f"{FILE}: {message}"


def test_a_section_without_hooks_warns():
    (warning,) = parse("notify: {timeout: 5}\n").warnings
    assert warning == (
        f"{FILE}: instances[0].notify (line 6): names no hook (on_master, on_backup, on_fault, on_stop, notify), "
        "so nothing will run"
    )


def test_shell_operators_in_a_hook_warn_as_for_track_scripts():
    config = parse("notify: {on_master: ip addr add x && logger done}\n")
    (warning,) = config.warnings
    assert warning.startswith(f"{FILE}: instances[0].notify.on_master (line 6): is not run through a shell, so &&")


def test_example_file_notify_example_parses_when_uncommented():
    text = (Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml").read_text()
    keys = "notify:|  on_master|  on_backup|  on_fault|  on_stop|  notify:|  timeout|  user"
    text, count = re.subn(rf"^    # ({keys})", r"    \1", text, flags=re.M)
    assert count >= 7
    config = parse_config(text, FILE)
    hooks = config.instances[0].notify
    assert hooks.on_master and hooks.on_backup and hooks.on_fault and hooks.on_stop and hooks.notify
    assert config.warnings == ()
