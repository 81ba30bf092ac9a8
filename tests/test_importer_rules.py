"""The importer keeps what keepalived 2.2.7 actually does (issue #12): strict mode's resets, the initial state
MASTER clearing nopreempt, `@ID<TAB>` lines, `</dev/tcp` checks run by a shell, and messages that say true things.

Each test names the keepalived 2.2.7 source that decides the behaviour; the fixtures' keepalived log lines are
checked by tests/test_importer.py (KEEPALIVED_EXPECTED), so real keepalived confirms every adjustment.
"""

from __future__ import annotations

import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from vrrpd.config import parse_config
from vrrpd.importer import ImportResult, import_keepalived

CONFS = Path(__file__).resolve().parent / "keepalived-confs"


def convert(path: str | Path, config_id: str = "golden") -> ImportResult:
    result = import_keepalived(str(CONFS / path if isinstance(path, str) else path), config_id)
    parse_config(result.yaml, "<test>")  # the output is always valid vrrpd YAML
    return result


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keepalived.conf"
    path.write_text(textwrap.dedent(text))
    return path


def instance(name: str, vrid: int, body: str = "") -> str:
    return (
        f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n{body}\n"
        f" virtual_ipaddress {{\n  203.0.113.{vrid}/24\n }}\n}}\n"
    )


def out(result: ImportResult, name: str) -> dict:
    return next(i for i in result.document["instances"] if i["name"] == name)


def texts(result: ImportResult, severity: str) -> list[str]:
    return [m.text for m in result.messages if m.severity == severity]


def count(messages: list[str], *parts: str) -> int:
    return sum(all(p in m for p in parts) for m in messages)


# --- rule 1: strict mode ------------------------------------------------------------------------------------


def test_strict_mode_drops_authentication_preempt_delay_and_v2_accept_like_keepalived():
    """keepalived 2.2.7 vrrp.c, vrrp_complete_instance: "Strict mode does not support authentication. Ignoring."
    (auth type 0 sent, adverts with auth dropped: on the stock file the converted vrrpd and keepalived both held the
    VIP), "preempt_delay is incompatible with strict mode", "accept mode for VRRP version 2 does not comply with
    RFC3768 - resetting", and down_timer_adverts / higher_prio_send_advert reset."""
    result = convert("strict-stock.conf")
    vi = out(result, "VI_1")
    assert "authentication" not in vi
    assert "preempt_delay" not in vi
    assert vi["accept_mode"] is False
    assert vi["advert_on_lower_priority"] is False
    notes = texts(result, "note")
    assert count(notes, "authentication: keepalived ignores it in strict mode") == 1
    assert count(notes, "preempt_delay: keepalived resets it in strict mode") == 1
    assert count(notes, "resets `accept` of VI_1 for VRRPv2") == 1
    assert count(notes, "down_timer_adverts: keepalived resets it in strict mode") == 1
    assert count(notes, "vrrp_higher_prio_send_advert: keepalived resets it") == 1
    # Everything keepalived does here, vrrpd does too: no warning, exit 0.
    assert result.complete, texts(result, "warning")


def test_strict_resets_are_warnings_without_strict_mode(tmp_path):
    """Without strict mode keepalived keeps these settings, which vrrpd cannot reproduce: still warnings."""
    body = " down_timer_adverts 5\n higher_prio_send_advert\n garp_lower_prio_repeat 2"
    result = convert(write(tmp_path, instance("VI_1", 1, body)))
    warnings = texts(result, "warning")
    for keyword in ("down_timer_adverts", "higher_prio_send_advert", "garp_lower_prio_repeat"):
        assert count(warnings, f"{keyword}:") == 1, warnings
    strict = convert(write(tmp_path, instance("VI_1", 1, " strict_mode\n" + body)))
    assert strict.complete, texts(strict, "warning")


def test_strict_state_master_follows_ownership_so_nopreempt_stays(tmp_path):
    """vrrp.c, vrrp_complete_instance: in strict mode "State MASTER must match being address owner" resets a
    non-owner's initial state to BACKUP before the nopreempt check, so keepalived keeps nopreempt there."""
    body = " state MASTER\n priority 150\n nopreempt"
    result = convert(write(tmp_path, "global_defs {\n vrrp_strict\n}\n" + instance("VI_1", 1, body)))
    assert out(result, "VI_1")["preempt"] is False
    assert count(texts(result, "note"), "State MASTER must match being address owner", "starts as backup") == 1


def test_strict_mode_with_unicast_peers_warns_that_keepalived_refuses_it(tmp_path):
    """vrrp.c, vrrp_complete_instance: "Unicast peers are not supported in strict mode" (returns false: keepalived
    does not start) when the interface can multicast."""
    body = " strict_mode\n unicast_peer {\n  203.0.113.99\n }"
    result = convert(write(tmp_path, instance("VI_1", 1, body)))
    assert count(texts(result, "warning"), "strict mode with unicast peers", "refuses to start") == 1


# --- rule 2: state MASTER + nopreempt / preempt_delay -------------------------------------------------------


def test_state_master_clears_nopreempt_and_preempt_delay_like_keepalived():
    """vrrp.c, vrrp_complete_instance: "nopreempt will not work with initial state MASTER - clearing" and "preempt
    delay will not work with initial state MASTER - clearing"; state BACKUP keeps nopreempt."""
    result = convert("master-nopreempt.conf")
    assert "preempt" not in out(result, "VI_master")
    assert "preempt_delay" not in out(result, "VI_delay")
    assert out(result, "VI_backup")["preempt"] is False
    notes = texts(result, "note")
    assert count(notes, "nopreempt: keepalived clears it with the initial state MASTER") == 1
    assert count(notes, "preempt_delay: keepalived clears it with the initial state MASTER") == 1


# --- rule 3: @ID<TAB> lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("config_id", "priority", "advert"), [("golden", 170, 2), ("other", 90, 1)])
def test_conditional_line_id_ends_at_a_tab(config_id, priority, advert):
    """lib/parser.c, read_line: the @ID ends at the first space or tab (strpbrk " \\t"); a tab-separated
    `@high<TAB>priority 170` used to be read as the ID "high\\tpriority" and lost."""
    result = convert("conditional-tabs.conf", config_id)
    vi = out(result, "VI_tab")
    assert (vi["priority"], vi["advert_interval"]) == (priority, advert)


def test_conditional_line_without_text_after_the_id_is_dropped(tmp_path):
    """lib/parser.c, read_line: "We need something after the system_id": a bare `@ID` line is dropped."""
    result = convert(write(tmp_path, instance("VI_1", 1, "@golden\n priority 120")))
    assert out(result, "VI_1")["priority"] == 120


# --- rule 4: scripts keepalived runs through a shell ----------------------------------------------------------


def test_dev_tcp_check_runs_through_bash():
    """lib/notify.c, check_script_secure: a script starting `</` is SC_SYSTEM, run with system() (/bin/sh -c);
    vrrpd execs an argv, which could never open /dev/tcp, so the import makes the shell explicit (bash: dash has
    no /dev/tcp)."""
    result = convert("shell-check.conf")
    assert result.document["track_scripts"]["chk_port"]["command"] == ["/bin/bash", "-c", "</dev/tcp/127.0.0.1/8080"]
    assert count(texts(result, "warning"), "chk_port", "shell redirection", "/bin/bash -c") == 1


def test_dev_tcp_argv_really_checks_the_port(tmp_path):
    """The generated argv does what keepalived's shell did: success while the port listens, failure once closed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    conf = f'vrrp_script chk {{\n script "</dev/tcp/127.0.0.1/{port}"\n}}\n'
    result = convert(write(tmp_path, conf + instance("VI_1", 1, " track_script {\n  chk\n }")))
    argv = result.document["track_scripts"]["chk"]["command"]
    assert subprocess.run(argv, timeout=10).returncode == 0
    listener.close()
    assert subprocess.run(argv, timeout=10, stderr=subprocess.DEVNULL).returncode != 0


def test_a_notify_script_keepalived_runs_through_a_shell_runs_through_bash(tmp_path):
    """The same check_script_secure rule holds for notify scripts (lib/notify.c: every script keepalived runs goes
    through it): a `</` line gets an explicit shell and a warning; an ordinary one stays an argv."""
    body = ' notify_master "</dev/tcp/127.0.0.1/8080"\n notify_backup "/usr/local/bin/backup now"'
    result = convert(write(tmp_path, instance("VI_1", 1, body)))
    notify = result.document["instances"][0]["notify"]
    assert notify["on_master"] == ["/bin/bash", "-c", "</dev/tcp/127.0.0.1/8080"]
    assert notify["on_backup"] == ["/usr/local/bin/backup", "now"]
    assert count(texts(result, "warning"), "notify_master", "shell redirection", "/bin/bash -c") == 1


def test_shell_line_quotes_the_arguments_as_keepalived_does(tmp_path):
    """lib/notify.c, cmd_str_r: the first word as is, every further word in single quotes; blanks may separate
    `<` and `/` (check_script_secure skips them)."""
    conf = 'vrrp_script chk {\n script "<  /run/flag extra"\n}\n'
    result = convert(write(tmp_path, conf + instance("VI_1", 1, " track_script {\n  chk\n }")))
    # shlex (like keepalived's split) makes "<" and "/run/flag" separate words: keepalived's test is on the first
    # word only, so "<" alone is not a redirection there and the script is run (and fails) as a program.
    assert result.document["track_scripts"]["chk"]["command"][0] == "<"
    conf = "vrrp_script chk {\n script \"'< /run/flag' extra\"\n}\n"
    result = convert(write(tmp_path, conf + instance("VI_1", 1, " track_script {\n  chk\n }")))
    assert result.document["track_scripts"]["chk"]["command"] == ["/bin/bash", "-c", "< /run/flag 'extra'"]


# --- rule 7: messages that are true and not repeated ----------------------------------------------------------


def test_known_keywords_are_not_reported_unknown():
    """keepalived knows a top-level net_namespace (core/global_parser.c, install_keyword_root) and an instance's
    lvs_sync_daemon_interface (vrrp/vrrp_parser.c); an instance's smtp_alert is a note like the global e-mail keys;
    virtual_routes, which once pointed at hooks that "exist" some day, is now mapped (rule 6) and warns of nothing."""
    result = convert("known-unmapped.conf")
    everything = texts(result, "warning") + texts(result, "note")
    assert count(everything, "unknown keyword") == 0, everything
    assert count(texts(result, "warning"), "net_namespace:", "NetworkNamespacePath") == 1
    assert count(texts(result, "note"), "lvs_sync_daemon_interface: ignored") == 1
    assert count(texts(result, "note"), "smtp_alert: ignored") == 2  # global_defs and the instance alike
    assert count(texts(result, "warning"), "smtp_alert") == 0
    assert count(everything, "once hooks exist") == 0
    assert count(everything, "virtual_routes") == 0
    assert "routes:" in result.yaml


def test_unused_tracker_message_says_why(tmp_path):
    """A script listed only by an instance that was not imported is not "tracked by no instance"."""
    conf = 'vrrp_script chk {\n script "/bin/true"\n}\nvrrp_script idle {\n script "/bin/true"\n}\n'
    conf += "vrrp_instance broken {\n interface eth0\n track_script {\n  chk\n }\n}\n" + instance("VI_1", 1)
    notes = texts(convert(write(tmp_path, conf)), "note")
    assert count(notes, "vrrp_script chk: only listed by instances or sync groups that were not imported") == 1
    assert count(notes, "vrrp_script idle: no instance or sync group tracks it") == 1


def test_per_instance_boilerplate_is_said_once(tmp_path):
    """The "no version" and "state" notes say the same of every instance: once per file."""
    conf = "".join(instance(f"VI_{i}", i, " state BACKUP") for i in (1, 2, 3))
    notes = texts(convert(write(tmp_path, conf)), "note")
    assert count(notes, "no version: keepalived's default for IPv4 is VRRPv2") == 1
    assert count(notes, "vrrpd has no initial state") == 1


def test_weighted_track_file_of_a_sync_member_is_handled_as_keepalived(tmp_path):
    """vrrp.c, vrrp_complete_instance: a sync member's track_file with the default weight 1 becomes weight 0
    (fault), any other weight is dropped ("ignoring tracked file ... with weight"); the import used to write the
    weight, which vrrpd refuses on a group member (GeneratedInvalid)."""
    conf = "track_file one {\n file /run/one\n}\ntrack_file five {\n file /run/five\n weight 5\n}\n"
    conf += "vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n}\n"
    conf += instance("VI_1", 1, " track_file {\n  one\n  five\n }") + instance("VI_2", 2)
    result = convert(write(tmp_path, conf))
    assert out(result, "VI_1")["track_files"] == [{"name": "one", "on_failure": "fault"}]
    assert count(texts(result, "note"), "track_file five weight 5: keepalived ignores") == 1


YAML = """\
track_scripts:
  chk: {{command: [/bin/true]}}
instances:
{instances}"""
ENTRY = (
    "  - {{name: v{vrid}, interface: eth0, vrid: {vrid}, priority: {priority},"
    " virtual_addresses: [203.0.113.{vrid}/24], track_scripts: [{{name: chk, weight: -20}}]}}\n"
)


@pytest.mark.parametrize(
    ("priorities", "warned"),
    [
        ((150,), True),  # one instance: no scheme shown, the usual 150/100 pair is assumed
        ((150, 100), True),  # 100 is in use in this file
        ((200, 190), False),  # a base of its own everywhere: 100 means nothing here
        ((200, 255), True),  # the owner shows no scheme
    ],
)
def test_default_priority_warning_only_where_100_is_plausible(priorities, warned):
    """`vrrpd check`'s test against a peer at the default priority 100 is skipped when the file's own priorities
    show another base (two or more non-owner instances, none at 100)."""
    text = YAML.format(instances="".join(ENTRY.format(vrid=i + 1, priority=p) for i, p in enumerate(priorities)))
    warnings = parse_config(text, "<test>").warnings
    assert any("(the default priority)" in w for w in warnings) == warned, warnings


# --- GeneratedInvalid cases: keepalived's handling, mirrored ---------------------------------------------------


def test_duplicate_trackers_keep_the_first_like_keepalived(tmp_path):
    """vrrp/vrrp_track.c (and trackers/track_file.c): "duplicate track_script NAME - ignoring", the first entry
    is kept; the import wrote both, which vrrpd refuses (GeneratedInvalid)."""
    conf = 'vrrp_script chk {\n script "/bin/true"\n}\n'
    body = " track_script {\n  chk\n  chk weight 5\n }\n track_script {\n  chk weight 7\n }\n"
    body += " track_interface {\n  eth1\n  eth1 weight 5\n }"
    result = convert(write(tmp_path, conf + instance("VI_1", 1, body)))
    vi = out(result, "VI_1")
    assert vi["track_scripts"] == [{"name": "chk", "on_failure": "fault"}]
    assert vi["track_interfaces"] == [{"interface": "eth1", "on_failure": "fault"}]
    assert count(texts(result, "note"), "listed twice; keepalived uses the first") == 3


def test_script_with_an_unclosed_quote_is_dropped_like_keepalived(tmp_path):
    """lib/parser.c, alloc_strvec_quoted_escaped: "missing terminating \\"" leaves the vrrp_script without a
    command, and keepalived logs "No script set for vrrp_script chk - removing"; the import wrote the line as a
    string vrrpd cannot split (GeneratedInvalid)."""
    conf = 'vrrp_script chk {\n script "/bin/echo \\"oops"\n}\n'
    result = convert(write(tmp_path, conf + instance("VI_1", 1, " track_script {\n  chk\n }")))
    assert "track_scripts" not in result.document
    assert count(texts(result, "warning"), "vrrp_script chk: cannot split", "drops the vrrp_script") == 1
