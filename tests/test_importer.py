"""vrrpctl import-keepalived: keepalived.conf -> vrrpd YAML.

Every fixture in tests/keepalived-confs/ is checked three ways: real keepalived accepts it (`keepalived -t`,
in a private network namespace with veth eth0..eth2 when we are root), the import validates with
`vrrpd.config.parse_config`, and the mapped values are asserted field by field.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from vrrpd.cli.ctl import main
from vrrpd.config import AcceptChecksum, Authentication, Config, GarpConfig, InstanceConfig, parse_config
from vrrpd.config.hooks import HooksConfig
from vrrpd.importer import ImportResult, Message, SyntaxProblem, import_keepalived
from vrrpd.importer import convert as convert_module
from vrrpd.importer.convert import tracking_supported
from vrrpd.protocol.packet import AuthType, ChecksumForm

CONFS = Path(__file__).resolve().parent / "keepalived-confs"
FIXTURES = sorted(p.name for p in CONFS.glob("*.conf"))

# What keepalived 2.2.7 says about a fixture on purpose (anything else on stderr fails the test).
KEEPALIVED_EXPECTED = {
    "password-truncation.conf": ["Truncating auth_pass to 8 characters"],
    # Newer than 2.2.7: the rest of the file must still be clean.
    "checksum-as-v2.conf": ["Unknown keyword 'v3_checksum_as_v2'"],
    # keepalived's own word that it ignores member weights in a sync group (vrrpd refuses them instead).
    "sync-groups.conf": [
        "(VI_web4) ignoring eth1 tracked interface weight due to SYNC group",
        "(VI_web4) ignoring tracked script chk_weighted with weights due to SYNC group",
    ],
    # keepalived's word for each adjustment the import mirrors (issue #12).
    "master-nopreempt.conf": [
        "(VI_master) Warning - nopreempt will not work with initial state MASTER - clearing",
        "(VI_delay) Warning - preempt delay will not work with initial state MASTER - clearing",
    ],
    "strict-stock.conf": [
        "(VI_1) State MASTER must match being address owner",
        "(VI_1) Strict mode does not support authentication. Ignoring.",
        "(VI_1) preempt_delay is incompatible with strict mode - resetting",
        "(VI_1) down_timer_adverts is incompatible with strict mode - resetting",
        "(VI_1) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting",
    ],
}
# Exit status of `vrrpctl import-keepalived` per fixture.
EXIT = {"unmapped.conf": 1, "include-main.conf": 1, "notify.conf": 1, "shell-check.conf": 1, "known-unmapped.conf": 1}


# --- helpers --------------------------------------------------------------------------------------------


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["import-keepalived", *args])


def convert(name: str | Path, **kwargs: Any) -> tuple[ImportResult, Config]:
    result = import_keepalived(str(CONFS / name if isinstance(name, str) else name), **kwargs)
    return result, parse_config(result.yaml, "<test>")


def write(tmp_path: Path, text: str, name: str = "keepalived.conf") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def instance_block(body: str = "", name: str = "VI_1", vrid: int = 1, vip: str = "203.0.113.1/24") -> str:
    return (
        f"vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n"
        f"{textwrap.indent(textwrap.dedent(body), '    ')}"
        f"    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )


def texts(result: ImportResult, severity: str = "warning") -> list[str]:
    return [str(m) for m in result.messages if m.severity == severity]


def one(messages: list[str], *parts: str) -> str:
    found = [m for m in messages if all(p in m for p in parts)]
    assert len(found) == 1, f"{parts} in {messages}"
    return found[0]


def as_dict(result: ImportResult, name: str) -> dict[str, Any]:
    return next(i for i in result.document["instances"] if i["name"] == name)


# --- real keepalived accepts every fixture ---------------------------------------------------------------


def keepalived_test(path: Path) -> subprocess.CompletedProcess[str]:
    """`keepalived -t -f PATH` (parse, report, exit: it starts nothing), with eth0..eth2 guaranteed to exist."""
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed")
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        # veth, not dummy: the dummy module is not always there (veth is what the netns tests use anyway)
        links = " && ".join(
            f"ip link add eth{i} type veth peer name peer{i} && ip link set eth{i} up && ip link set peer{i} up"
            for i in range(3)
        )
        command = ["unshare", "--net", "sh", "-c", f'{links} && exec keepalived -t -f "$0"', str(path)]
    else:
        missing = [f"eth{i}" for i in range(3) if not Path(f"/sys/class/net/eth{i}").exists()]
        if missing:
            pytest.skip(f"not root and {', '.join(missing)} missing: keepalived -t would reject the interfaces")
        command = ["keepalived", "-t", "-f", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd="/", check=False)


@pytest.mark.parametrize("name", FIXTURES)
def test_keepalived_accepts_fixture(name):
    done = keepalived_test(CONFS / name)
    expected = KEEPALIVED_EXPECTED.get(name, [])
    logged = [line for line in done.stderr.splitlines() if line.strip()]
    # keepalived -t exits 0 even for some bad values, so its log must also be empty (or exactly as expected)
    unexpected = [line for line in logged if not any(e in line for e in expected)]
    assert unexpected == [], done.stderr
    for e in expected:
        assert any(e in line for line in logged), f"{e!r} not in {done.stderr!r}"
    assert done.returncode == (0 if not expected else 5), done.stderr


@pytest.mark.parametrize("name", FIXTURES)
def test_cli_converts_fixture_to_valid_yaml(name, monkeypatch):
    monkeypatch.chdir(CONFS)
    result = cli(name)
    assert result.exit_code == EXIT.get(name, 0), result.stderr
    assert result.stdout.startswith(f"# Generated by `vrrpctl import-keepalived` from {name}.\n# Review it")
    config = parse_config(result.stdout, "<stdout>")
    assert config.instances
    assert yaml.safe_load(result.stdout)["instances"]
    for line in result.stderr.splitlines():
        assert line.startswith((f"{name}:", "include.d/", "vrrpctl: ")), line
    if result.exit_code == 1:
        assert result.stderr.rstrip().endswith(f"the YAML does not do everything {name} did")


# --- fixtures, field by field ----------------------------------------------------------------------------


def test_v2_default_ipv4_is_version_2_ipv6_is_3_and_state_master_is_owner():
    result, config = convert("v2-default.conf")
    assert result.complete
    v4, v6, owner = config.instances
    assert (v4.name, v4.interface, v4.vrid, v4.priority, v4.advert_interval) == ("VI_v4", "eth0", 51, 150, 2.0)
    assert v4.version == 2
    assert [str(a) for a in v4.virtual_addresses] == ["203.0.113.1/24", "203.0.113.2/32"]  # keepalived's /32
    assert v4.authentication == Authentication(AuthType.SIMPLE, b"s3cret")
    assert (v6.name, v6.version, v6.priority, v6.advert_interval) == ("VI_v6", 3, 100, 1.0)
    assert [str(a) for a in v6.virtual_addresses] == ["2001:db8::1/64"]
    assert (owner.name, owner.interface, owner.priority, owner.version) == ("VI_owner", "eth1", 255, 2)
    # explicit in the YAML, not left to vrrpd's default of 3
    assert as_dict(result, "VI_v4")["version"] == 2
    notes = texts(result, "note")
    one(notes, "v2-default.conf:7:", "keepalived's default for IPv4 is VRRPv2, so version: 2")
    one(notes, "v2-default.conf:31:", "keepalived makes it the address owner (priority 255)")
    one(notes, "v2-default.conf:4:", "router_id")


def test_v3_tuned_garp_preempt_accept_and_vmac():
    result, config = convert("v3-tuned.conf")
    assert result.complete, texts(result)
    web, db = config.instances
    assert (web.version, web.priority, web.advert_interval) == (3, 120, 0.25)
    assert web.preempt is False
    assert web.accept_mode is False  # no_accept
    assert web.virtual_mac is True  # use_vmac
    assert web.advert_on_lower_priority is False  # global vrrp_lower_prio_no_advert
    # global repeat 3 / delay 10 / refresh 60 / garp_interval 0.01, instance garp_master_repeat 2
    assert web.garp == GarpConfig(count=2, interval=0.01, repeat_delay=10, repeat_count=2, refresh=60)
    assert [str(a) for a in web.virtual_addresses] == ["203.0.113.60/24"]  # dev eth0 = its interface: no warning
    assert (db.version, db.priority, db.preempt, db.preempt_delay) == (3, 90, True, 30.0)
    assert db.accept_mode is True and db.advert_on_lower_priority is True  # accept, lower_prio_no_advert false
    # IPv6 uses vrrp_gna_interval; garp_master_delay 0 = no second burst in keepalived
    assert db.garp == GarpConfig(count=3, interval=0.02, repeat_delay=0, repeat_count=0, refresh=60)
    assert "accept_mode" not in as_dict(result, "db")
    one(texts(result, "note"), "v3-tuned.conf:20:", "use_vmac: the name vrrp.60 is ignored", "vrrp4-<vrid>")


def test_strict_mode_makes_its_implications_explicit():
    result, config = convert("strict.conf")
    assert result.complete
    plain, accepting, owner = config.instances
    assert (plain.accept_mode, plain.advert_on_lower_priority) == (False, False)
    assert (accepting.accept_mode, accepting.advert_on_lower_priority) == (True, False)
    assert owner.priority == 255 and "accept_mode" not in as_dict(result, "owner")  # the owner always accepts
    one(texts(result, "note"), "strict.conf:3:", "drops traffic to the addresses of plain", "accept_mode: false")


@pytest.mark.skipif(not tracking_supported(), reason="vrrpd.config has no track_scripts yet")
def test_tracking_maps_keepalived_weights_explicitly():
    result, config = convert("tracking.conf")
    assert result.complete, texts(result)
    scripts = {s.name: s for s in config.track_scripts}
    assert sorted(scripts) == ["chk_bonus", "chk_fault", "chk_haproxy"]  # chk_unused is not tracked
    haproxy = scripts["chk_haproxy"]
    assert haproxy.command == ("/bin/true", "--check", "two words")
    assert (haproxy.interval, haproxy.timeout, haproxy.rise, haproxy.fall, haproxy.user) == (2, 3, 2, 3, "root")
    fault = scripts["chk_fault"]
    assert (fault.interval, fault.timeout, fault.rise, fault.fall) == (1, 1, 1, 1)  # keepalived: timeout = interval
    assert (scripts["chk_bonus"].interval, scripts["chk_bonus"].timeout) == (4, 4)
    out = as_dict(result, "VI_1")
    assert out["track_scripts"] == [
        {"name": "chk_haproxy", "weight": -20},  # the script's weight
        {"name": "chk_fault", "on_failure": "fault"},  # no weight = keepalived's weight 0 = FAULT
        {"name": "chk_bonus", "weight": 5},  # the instance's weight wins over the script's 10
    ]
    assert out["track_interfaces"] == [
        {"interface": "eth1", "on_failure": "fault"},
        {"interface": "eth2", "weight": -30},
    ]
    (inst,) = config.instances
    assert [(t.name, t.weight) for t in inst.track_scripts] == [
        ("chk_haproxy", -20),
        ("chk_fault", None),
        ("chk_bonus", 5),
    ]
    assert [(t.name, t.weight) for t in inst.track_interfaces] == [("eth1", None), ("eth2", -30)]
    one(texts(result, "note"), "tracking.conf:27:", "chk_unused: no instance or sync group tracks it")


def test_tracking_without_schema_support_warns_with_the_mapping_it_would_do():
    result, config = convert("tracking.conf", tracking=False)
    assert not result.complete
    out = as_dict(result, "VI_1")
    assert "track_scripts" not in out and "track_scripts" not in result.document
    warnings = texts(result)
    one(
        warnings,
        "tracking.conf:39:",
        "track_script chk_haproxy",
        "priority -20 while it fails",
        "would map to track_scripts: [{name: chk_haproxy, weight: -20}]",
    )
    one(warnings, "tracking.conf:40:", "track_script chk_fault", "fault", "{name: chk_fault, on_failure: fault}")
    one(warnings, "tracking.conf:41:", "track_script chk_bonus", "priority +5 while it is OK")
    one(warnings, "tracking.conf:44:", "track_interface eth1", "{interface: eth1, on_failure: fault}")
    one(warnings, "tracking.conf:45:", "track_interface eth2", "{interface: eth2, weight: -30}")
    one(warnings, "tracking.conf:8:", "would map to top-level track_scripts: {chk_haproxy: {command: [/bin/true")
    assert config.instances[0].name == "VI_1"


def test_unmapped_keywords_each_warn_with_file_line_and_advice():
    result, config = convert("unmapped.conf")
    warnings = texts(result)
    expected = {
        4: "vrrp_mcast_group4: not supported: vrrpd always uses 224.0.0.18",
        9: "static_ipaddress: vrrpd does not manage static addresses",
        28: "notify_master_rx_lower_pri: vrrpd has no hook for it",
        # Mapped since issue #12 rule 6, but not every word of it: onlink has no vrrpd form.
        34: "virtual_routes 203.0.113.128/25 via 203.0.113.254 dev eth0 onlink: 'onlink' has no vrrpd form",
        42: "authentication: auth_type AH (IPsec AH, RFC 2338) is not supported by vrrpd",
    }
    for line, text in expected.items():
        one(warnings, f"unmapped.conf:{line}: warning: {text}")
    one(warnings, "unmapped.conf:30:", "label eth1:vip: vrrpd does not label addresses")
    one(warnings, "unmapped.conf:31:", "scope host")
    assert len(warnings) == len(expected) + 2
    u, ah = config.instances
    assert [str(a) for a in u.virtual_addresses] == ["203.0.113.88/24", "203.0.113.89/24"]
    # dev eth1 maps since issue #12 rule 6: the address lives on eth1, as keepalived puts it there.
    assert u.address_interfaces == ((ip_address("203.0.113.88"), "eth1"),)
    # Unicast maps since issue #5 point 7 (notes only, see test_importer_unicast.py).
    assert [str(p) for p in u.unicast_peers] == ["203.0.113.81"]
    assert str(u.unicast_source) == "203.0.113.80"
    assert (ah.version, ah.authentication) == (2, None)


def test_notify_scripts_map_to_hooks_split_like_keepalived():
    """Issue #5 point 4/8: notify_master/backup/fault/stop/notify -> notify: {on_*, notify}; keepalived splits the
    quoted script at spaces with quotes grouping (shlex does the same) and runs it without a shell."""
    result, config = convert("notify.conf")
    hooks = config.instance("VI_hooks").notify
    assert hooks == HooksConfig(
        on_master=("/bin/echo", "became", "master", "with spaces"),
        on_backup=("/bin/true",),
        on_fault=("/bin/echo", "fault"),
        on_stop=("/bin/echo", "stopped"),
        notify=("/bin/echo", "generic"),
        user="root",  # notify_stop's own user, the same as script_user
    )
    assert config.instance("VI_rest").notify == HooksConfig()
    one(texts(result, "note"), "notify.conf:9:", "notify scripts run one at a time in transition order")
    warnings = texts(result)
    one(warnings, "notify.conf:26: warning: notify_deleted: vrrpd has no live reload")
    one(warnings, "notify.conf:27: warning: notify_master_rx_lower_pri: vrrpd has no hook for it", "vrrpctl events")
    one(warnings, "notify.conf:28: warning: notify_priority_changes:", "effective_priority", "vrrpctl events")
    assert len(warnings) == 3


def test_notify_users_groups_duplicates_and_bad_quoting(tmp_path):
    body = (
        'notify_master "/bin/echo a" alice:staff\n'
        "notify_backup /bin/true bob\n"
        'notify_fault "/bin/echo \'unclosed"\n'
        "notify /bin/true\n"
        "notify /bin/false\n"
    )
    result, config = convert(write(tmp_path, instance_block(body)))
    hooks = config.instances[0].notify
    assert hooks == HooksConfig(
        on_master=("/bin/echo", "a"), on_backup=("/bin/true",), notify=("/bin/false",), user="alice"
    )
    warnings = texts(result)
    one(warnings, ":4: warning: notify_master: vrrpd runs hooks with the user's primary group; group staff")
    one(warnings, ":5: warning: notify scripts of VI_1 run as different users (alice, bob)", "uses alice")
    one(warnings, ":6: warning: notify_fault: cannot split", "not imported")
    one(warnings, ":8: warning: notify: given twice in vrrp_instance VI_1; vrrpd imports this last one")
    assert len(warnings) == 4


def test_notify_without_user_takes_script_user_or_none(tmp_path):
    _, config = convert(write(tmp_path, instance_block("notify /bin/true\n")))
    assert config.instances[0].notify == HooksConfig(notify=("/bin/true",))
    text = "global_defs {\n    script_user nobody\n}\n" + instance_block("notify /bin/true\n")
    _, config = convert(write(tmp_path, text))
    assert config.instances[0].notify.user == "nobody"


def test_notify_fifo_points_at_vrrpctl_events_and_group_notify_maps_to_the_group(tmp_path):
    """Issue #5 point 4/5: a group's notify_master is the group's on_master (it gets GROUP, not INSTANCE)."""
    text = "global_defs {\n    vrrp_notify_fifo /run/keepalived.fifo\n}\n"
    text += "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    notify_master /bin/true\n}\n"
    result, config = convert(write(tmp_path, text + instance_block()))
    (warning,) = texts(result)
    assert ":2: warning: vrrp_notify_fifo: not supported: use `vrrpctl events` instead" in warning
    assert config.instances[0].notify == HooksConfig()
    assert config.sync_groups[0].notify == HooksConfig(on_master=("/bin/true",))


def test_group_notify_users_duplicates_and_keywords_without_an_equivalent(tmp_path):
    """The group's notify scripts go through the instance's conversion: one user, the last of a repeated keyword,
    and a warning for what has no vrrpd equivalent (keepalived 2.2.7 accepts notify_priority_changes here)."""
    text = (
        "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n"
        "    notify_backup /bin/true alice\n    notify_fault /bin/true bob\n"
        "    notify /bin/true\n    notify /bin/false\n    notify_priority_changes\n}\n"
    )
    result, config = convert(write(tmp_path, text + instance_block()))
    warnings = texts(result)
    one(warnings, ":6: warning: notify scripts of G run as different users (alice, bob)", "per sync group", "alice")
    one(warnings, ":8: warning: notify: given twice in vrrp_sync_group G; vrrpd imports this last one")
    one(warnings, ":9: warning: vrrp_sync_group G: notify_priority_changes: vrrpd's group hooks are on_master")
    assert len(warnings) == 3, warnings
    assert config.sync_groups[0].notify == HooksConfig(
        on_backup=("/bin/true",), on_fault=("/bin/true",), notify=("/bin/false",), user="alice"
    )


def test_include_globs_relative_to_the_including_file_in_sorted_order(monkeypatch):
    monkeypatch.chdir("/")  # relative to the file, not to the working directory
    result, config = convert("include-main.conf")
    assert [i.name for i in config.instances] == ["inc_web", "inc_db"]
    web = config.instance("inc_web")
    assert [str(a) for a in web.virtual_addresses] == ["203.0.113.90/24", "203.0.113.190/24"]  # include in a block
    assert all(i.version == 3 for i in config.instances)  # global_defs in the main file applies
    assert [Path(f).name for f in result.files] == ["include-main.conf", "10-web.conf", "vips.inc", "20-db.conf"]
    (warning,) = texts(result)
    assert warning.startswith(f"{CONFS}/include.d/20-db.conf:4: warning: dont_track_primary:")


def test_comments_quotes_and_brace_placement():
    result, config = convert("syntax.conf")
    assert result.complete
    (inst,) = config.instances
    assert (inst.name, inst.interface, inst.vrid, inst.priority, inst.version) == ("VI_syntax", "eth0", 9, 200, 2)
    assert inst.authentication == Authentication(AuthType.SIMPLE, b"p w#1!")  # quotes keep # ! and spaces
    assert [str(a) for a in inst.virtual_addresses] == ["203.0.113.9/24"]


def test_password_truncated_to_8_bytes_like_keepalived():
    result, config = convert("password-truncation.conf")
    assert result.complete
    assert config.instances[0].authentication == Authentication(AuthType.SIMPLE, b"longpass")
    one(texts(result, "note"), "password-truncation.conf:7:", "keepalived uses only the first 8 ('longpass')")


def test_v3_checksum_as_v2_is_message_only():
    result, config = convert("checksum-as-v2.conf")
    assert result.complete
    (inst,) = config.instances
    assert (inst.version, inst.checksum, inst.accept_checksum) == (3, ChecksumForm.MESSAGE_ONLY, AcceptChecksum.BOTH)


# --- smaller cases in temporary files ------------------------------------------------------------------


def test_unknown_keywords_exit_1_with_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "global_defs {\n    bogus_global 1\n}\nbogus_top {\n    x 1\n}\n" + instance_block("bogus_keyword 5\n"),
    )
    result = cli(str(path))
    assert result.exit_code == 1
    assert parse_config(result.stdout).instances[0].name == "VI_1"  # still printed
    assert f"{path}:2: warning: bogus_global: unknown keyword in global_defs" in result.stderr
    assert f"{path}:4: warning: bogus_top: unknown keyword in the top level" in result.stderr
    assert f"{path}:10: warning: bogus_keyword: unknown keyword in vrrp_instance VI_1" in result.stderr
    assert result.stderr.rstrip().endswith("3 warning(s): the YAML does not do everything " + str(path) + " did")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (instance_block()[:-2], None, "missing '}' for vrrp_instance opened at {path}:1"),
        (instance_block() + "}\n", 8, "'}' without a block to close"),
        (instance_block('notify_master "/bin/true\n'), 4, "unterminated double-quoted string"),
        ("{\n" + instance_block(), 1, "'{' does not follow a keyword"),
        ("include missing.conf\n", 1, "cannot read {dir}/missing.conf: No such file or directory"),
        ("$X=a \\\n", 1, "multi-line $parameter definitions are not supported"),
    ],
)
def test_unparseable_exit_2_with_one_line_naming_file_and_line(tmp_path, text, line, problem):
    path = write(tmp_path, text)
    result = cli(str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    where = f"{path}:{line}" if line is not None else str(path)
    problem = problem.replace("{path}", str(path)).replace("{dir}", str(tmp_path))
    assert result.stderr == f"vrrpctl: {where}: {problem}\n"


def test_unreadable_file_exit_2(tmp_path):
    result = cli(str(tmp_path / "nope.conf"))
    assert result.exit_code == 2
    assert (
        result.stderr == f"vrrpctl: {tmp_path}/nope.conf: cannot read {tmp_path}/nope.conf: No such file or directory\n"
    )


def test_include_loop_exit_2(tmp_path):
    path = write(tmp_path, "include keepalived.conf\n")
    with pytest.raises(SyntaxProblem, match="includes nest deeper than 16"):
        import_keepalived(str(path))


def test_include_glob_without_match_warns(tmp_path):
    path = write(tmp_path, "include conf.d/*.conf\n" + instance_block())
    result = import_keepalived(str(path))
    one(texts(result), f"{path}:1:", "include conf.d/*.conf: no file matches")


def test_conditional_lines_and_parameters(tmp_path):
    body = "@lb1 priority 200\n@^lb1 priority 50\n$ADVERT=3\nadvert_int $ADVERT\n"
    path = write(tmp_path, instance_block(body))
    _, config = convert(path, config_id="lb1")
    assert (config.instances[0].priority, config.instances[0].advert_interval) == (200, 3)
    _, config = convert(path, config_id="lb2")
    assert config.instances[0].priority == 50


def test_cli_config_id_option(tmp_path):
    path = write(tmp_path, instance_block("@lb1 priority 200\n"))
    assert parse_config(cli(str(path), "--config-id", "lb1").stdout).instances[0].priority == 200
    assert parse_config(cli(str(path), "--config-id", "other").stdout).instances[0].priority == 100


def test_advert_int_over_the_v3_maximum_is_rejected_with_a_warning(tmp_path):
    path = write(tmp_path, "global_defs {\n    vrrp_version 3\n}\n" + instance_block("advert_int 50\n"))
    result, config = convert(path)
    assert config.instances[0].advert_interval == 40.95
    one(texts(result), f"{path}:7:", "advert_int 50: over 40.95 s, the VRRPv3 maximum")


def test_v2_advert_int_rounds_to_whole_seconds_as_keepalived(tmp_path):
    path = write(tmp_path, instance_block("advert_int 1.6\n"))
    result, config = convert(path)
    assert (config.instances[0].version, config.instances[0].advert_interval) == (2, 2)
    assert result.complete
    one(texts(result, "note"), "advert_int 1.6: VRRPv2 counts whole seconds; keepalived rounds it to 2")


def test_explicit_v2_on_ipv6_becomes_v3_with_a_warning(tmp_path):
    path = write(tmp_path, instance_block("version 2\n", vip="2001:db8::5/64"))
    result, config = convert(path)
    assert config.instances[0].version == 3
    one(texts(result), f"{path}:4:", "VRRPv2 is IPv4 only")


def test_authentication_on_v3_is_ignored_as_keepalived_does(tmp_path):
    body = "version 3\nauthentication {\n    auth_type PASS\n    auth_pass abc\n}\n"
    result, config = convert(write(tmp_path, instance_block(body)))
    assert result.complete and config.instances[0].authentication is None
    one(texts(result, "note"), "keepalived ignores it for VRRPv3")


def test_use_vmac_with_a_mac_address_warns(tmp_path):
    result, config = convert(write(tmp_path, instance_block("use_vmac vrrp.1 02:00:00:00:00:01\n")))
    assert config.instances[0].virtual_mac is True
    one(texts(result), "use_vmac: MAC 02:00:00:00:00:01: vrrpd always uses the RFC 9568 MAC")


def test_unicast_maps_and_is_never_a_silent_fallback(tmp_path):
    body = "unicast_src_ip 203.0.113.10\nunicast_peer {\n    203.0.113.11\n    203.0.113.12\n}\nunicast_ttl 10\n"
    result = cli(str(write(tmp_path, instance_block(body))))
    assert result.exit_code == 0, result.stderr
    inst = yaml.safe_load(result.stdout)["instances"][0]
    assert inst["unicast_peers"] == ["203.0.113.11", "203.0.113.12"]
    assert (inst["unicast_source"], inst["unicast_ttl"], inst["unicast_min_ttl"]) == ("203.0.113.10", 10, 10)
    # Without peers keepalived 2.2.7 falls back to multicast: the import says so loudly (exit 1).
    result = cli(str(write(tmp_path, instance_block("unicast_src_ip 203.0.113.10\nunicast_peer {\n}\n"))))
    assert result.exit_code == 1
    assert ":4: warning: unicast_src_ip: this instance has no usable unicast peer" in result.stderr
    assert not [key for key in yaml.safe_load(result.stdout)["instances"][0] if key.startswith("unicast")]


def test_min_garp_and_refresh_repeat(tmp_path):
    text = "global_defs {\n    vrrp_min_garp\n}\n" + instance_block(
        "garp_master_refresh 30\ngarp_master_refresh_repeat 2\n"
    )
    result, config = convert(write(tmp_path, text))
    assert config.instances[0].garp == GarpConfig(count=1, repeat_delay=0, repeat_count=0, refresh=30)
    one(texts(result), "garp_master_refresh_repeat 2: vrrpd sends one message per address at each refresh")


def test_instance_without_addresses_or_vrid_is_skipped(tmp_path):
    text = "vrrp_instance A {\n    interface eth0\n    virtual_router_id 1\n}\n" + instance_block(name="B", vrid=2)
    text += "vrrp_instance C {\n    interface eth0\n    virtual_ipaddress {\n        203.0.113.7/24\n    }\n}\n"
    result, config = convert(write(tmp_path, text))
    assert [i.name for i in config.instances] == ["B"]
    one(texts(result), ":1:", "vrrp_instance A: has no virtual_ipaddress")
    one(texts(result), "vrrp_instance C: has no virtual_router_id")


def test_no_instance_at_all_prints_nothing_and_exits_1(tmp_path):
    result = cli(str(write(tmp_path, "global_defs {\n    router_id x\n}\n")))
    assert (result.exit_code, result.stdout) == (1, "")
    assert "no vrrp_instance could be imported" in result.stderr


def test_clashes_vrrpd_would_reject_are_resolved_with_warnings(tmp_path):
    text = instance_block(name="A", vrid=5) + instance_block(name="B", vrid=5, vip="203.0.113.2/24")
    text += instance_block(name="C", vrid=6)  # same VIP as A on the same interface
    text += instance_block(
        "virtual_ipaddress {\n    224.0.0.1/24\n    2001:db8::1/64\n    203.0.113.9/24\n}\n", "D", 7, "203.0.113.8/24"
    )
    result, config = convert(write(tmp_path, text))
    assert [i.name for i in config.instances] == ["A", "D"]
    one(texts(result), "vrrp_instance B: VRID 5 on eth0 is already used by A")
    one(texts(result), "vrrp_instance C: 203.0.113.1/24 is already a virtual address of A")
    one(texts(result), "224.0.0.1/24: not a unicast address")
    one(texts(result), "2001:db8::1/64: not IPv4 like the first address")
    assert [str(a) for a in config.instance("D").virtual_addresses] == ["203.0.113.9/24", "203.0.113.8/24"]


def test_names_are_made_valid_for_vrrpd(tmp_path):
    result, config = convert(write(tmp_path, instance_block(name='"web vip"')))
    assert config.instances[0].name == "web_vip"
    one(texts(result, "note"), "renamed 'web_vip'")


@pytest.mark.skipif(not tracking_supported(), reason="vrrpd.config has no track_scripts yet")
def test_tracker_details(tmp_path):
    # weight 0: a sync group member's fault tracker is imported (weights are not, see the sync group tests)
    text = 'vrrp_script chk {\n    script "/bin/true"\n    weight 0 reverse\n}\n'
    text += "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n}\n"
    body = "track_script {\n    chk\n    missing\n}\ntrack_interface {\n    eth0 weight 5\n    eth1 weight -10\n}\n"
    result, config = convert(write(tmp_path, text + instance_block(body)))
    warnings = texts(result)
    one(warnings, "track_script chk: reverse is not supported")
    one(warnings, "track_script missing: no vrrp_script of that name")
    one(warnings, "track_interface eth0 weight 5: the instance's own interface")
    # keepalived 2.2.7 (vrrp.c, vrrp_complete_instance) sets a sync member's interface weight to 0: fault
    one(texts(result, "note"), "track_interface eth1 weight -10: keepalived sets the weight", "on_failure: fault")
    assert [(t.name, t.weight) for t in config.instances[0].track_interfaces] == [("eth1", None)]


def test_messages_are_ordered_by_file_and_line(tmp_path):
    text = (
        instance_block("unicast_peer {\n    203.0.113.3\n}\n") + "global_defs {\n    vrrp_mcast_group4 224.0.0.19\n}\n"
    )
    result = import_keepalived(str(write(tmp_path, text)))
    lines = [m.line for m in result.messages if m.line is not None]
    assert lines == sorted(lines)
    assert str(Message("warning", "f.conf", 3, "x")) == "f.conf:3: warning: x"


def test_output_that_would_not_validate_is_an_importer_bug_exit_1(tmp_path, monkeypatch):
    monkeypatch.setattr(convert_module, "render", lambda doc, source, origins=None: "instances: []\n")
    result = cli(str(write(tmp_path, instance_block())))
    assert (result.exit_code, result.stdout) == (1, "")
    assert "the generated YAML does not validate (an importer bug, please report it)" in result.stderr


def test_the_example_instance_type_is_unchanged():
    # The importer writes only keys of InstanceConfig, plus tracking; guard against a renamed key.
    written = {
        "name",
        "interface",
        "vrid",
        "priority",
        "advert_interval",
        "version",
        "preempt",
        "preempt_delay",
        "virtual_addresses",
        "accept_mode",
        "checksum",
        "advert_on_lower_priority",
        "authentication",
        "garp",
        "virtual_mac",
        "unicast_peers",
        "unicast_source",
        "unicast_ttl",
        "unicast_min_ttl",
        "notify",
    }
    assert written <= set(InstanceConfig.__dataclass_fields__)


# keepalived's VRRP keywords (of a vrrp_instance, then of global_defs), each with a plausible value: each must get
# its own mapping or its own explanation, never the generic "unknown keyword".
INSTANCE_KEYWORDS = r"""
state BACKUP | vrf red | priority 100 | advert_int 1 | version 2 | nopreempt | preempt | preempt_delay 0
accept | no_accept | virtual_ipaddress_excluded {\n 203.0.113.200/24\n} | no_virtual_ipaddress
virtual_routes {\n 10.0.0.0/8 via 203.0.113.254\n} | virtual_rules {\n from 203.0.113.1 table 10\n}
track_interface {\n eth1\n} | dont_track_primary | track_script {\n chk\n} | track_file {\n f\n}
track_process {\n p\n} | track_bfd {\n b\n} | track_src_ip | notify_master /bin/true | notify_backup /bin/true
notify_fault /bin/true | notify_stop /bin/true | notify /bin/true | notify_deleted
notify_master_rx_lower_pri /bin/true | notify_priority_changes | smtp_alert | unicast_peer {\n 203.0.113.9\n}
unicast_src_ip 203.0.113.8 | mcast_src_ip 203.0.113.8 | unicast_ttl 10 | unicast_fault_no_peer | check_unicast_src
mcast_dst_ip 224.0.0.19 | use_vmac | use_vmac_addr | vmac_xmit_base | use_ipvlan | native_ipv6
garp_master_delay 5 | garp_master_repeat 5 | garp_master_refresh 0 | garp_master_refresh_repeat 1
garp_lower_prio_delay 5 | garp_lower_prio_repeat 5 | garp_extra_if 10 | vmac_garp_intvl 10
down_timer_adverts 3 | lower_prio_no_advert | higher_prio_send_advert | timer_expired_backup
owner_ignore_adverts | authentication {\n auth_type PASS\n auth_pass x\n} | auth_hmac {\n key 1 hex:00\n}
old_unicast_checksum | v3_checksum_as_v2 | skip_check_adv_addr | strict_mode | promote_secondaries
kernel_rx_buf_size 1000 | linkbeat_use_polling | debug 1
"""
GLOBAL_KEYWORDS = r"""
vrrp_mcast_group4 224.0.0.18 | vrrp_mcast_group6 ff02::12 | vrrp_version 2 | vrrp_garp_master_repeat 5
vrrp_garp_master_delay 5 | vrrp_garp_master_refresh 0 | vrrp_garp_master_refresh_repeat 1
vrrp_garp_lower_prio_repeat 5 | vrrp_garp_lower_prio_delay 5 | vrrp_garp_interval 0 | vrrp_gna_interval 0
vrrp_min_garp | vrrp_garp_extra_if 10 | vrrp_vmac_garp_intvl 10 | vrrp_down_timer_adverts 3
vrrp_lower_prio_no_advert | vrrp_higher_prio_send_advert | v3_checksum_as_v2 | vrrp_owner_ignore_adverts
vrrp_strict | vrrp_iptables | vrrp_ipsets | nftables | nftables_priority -1 | nftables_counters
nftables_ifindex | vrrp_check_unicast_src | vrrp_skip_check_adv_addr | enable_script_security
script_user root | vrrp_startup_delay 5 | vrrp_delay_after_boot 5 | notify_fifo /run/f | vrrp_notify_fifo /run/f
notify_fifo_script /bin/true | vrrp_notify_fifo_script /bin/true | vrrp_notify_priority_changes
fifo_write_vrrp_states_on_reload | dynamic_interfaces | vrrp_priority -10 | vrrp_rt_priority 50 | vrrp_no_swap
vrrp_cpu_affinity 1 | vrrp_rlimit_rttime 10000 | max_auto_priority | min_auto_priority_delay 1
vrrp_netlink_cmd_rcv_bufs 1 | vrrp_netlink_monitor_rcv_bufs_force | vrrp_rx_bufs_policy MTU
vrrp_rx_bufs_multiplier 3 | enable_snmp_vrrp | enable_snmp_rfc | enable_snmp_rfcv2 | enable_snmp_rfcv3
enable_traps | snmp_socket unix:/x | enable_dbus | dbus_service_name x | dbus_no_interface_name
reload_check_config | reload_file /x | reload_time_file /x | reload_repeat | config_save_dir /x
state_file_location /x | stats_file_location /x | json_file_location /x | json_version 2 | data_use_instance
net_namespace x | instance x | use_pid_dir | vmac_prefix x | log_unknown_vrids | router_id x
startup_script /bin/true | shutdown_script /bin/true | notification_email {\n a@b\n} | smtp_server 1.2.3.4
"""
TOP_BLOCKS = [
    "track_file f {\n file /x\n}",
    "vrrp_track_process p {\n process x\n}",
    "interface_up_down_delays {\n eth0 1\n}",
    "linkbeat_interfaces {\n eth0\n}",
    "track_group g {\n group {\n VI_1\n }\n}",
    "static_ipaddress {\n 10.0.0.1/8 dev eth0\n}",
    "static_routes {\n 10.0.0.0/8 via 10.0.0.1\n}",
    "static_rules {\n from 10.0.0.1 table 1\n}",
    "garp_group {\n garp_interval 1\n interface eth0\n}",
    "bfd_instance b {\n neighbor_ip 203.0.113.9\n}",
    "virtual_server 203.0.113.1 80 {\n}",
    "vrrp_sync_group G {\n group {\n VI_1\n }\n track_script {\n chk\n }\n notify_master /bin/true\n"
    " notify /bin/true\n smtp_alert\n global_tracking\n sync_group_tracking_weight\n}",
    'vrrp_script chk {\n script "/bin/true"\n interval 1\n timeout 1\n weight 0\n rise 1\n fall 1\n'
    " user root\n init_fail\n}",
]


def _keywords(table: str) -> list[str]:
    return [k.strip().replace("\\n", "\n") for k in table.replace("\n", " | ").split(" | ") if k.strip()]


@pytest.mark.parametrize("keyword", _keywords(INSTANCE_KEYWORDS), ids=lambda k: k.split()[0])
def test_every_instance_keyword_is_known(tmp_path, keyword):
    text = "\n".join(TOP_BLOCKS[-1:]) + "\n" + instance_block(keyword + "\n")
    result, _ = convert(write(tmp_path, text))
    assert not [m for m in result.messages if "unknown keyword" in m.text], result.messages


@pytest.mark.parametrize("keyword", _keywords(GLOBAL_KEYWORDS), ids=lambda k: k.split()[0])
def test_every_global_keyword_is_known(tmp_path, keyword):
    result, _ = convert(write(tmp_path, f"global_defs {{\n{keyword}\n}}\n" + instance_block()))
    assert not [m for m in result.messages if "unknown keyword" in m.text], result.messages


@pytest.mark.parametrize("block", TOP_BLOCKS, ids=lambda b: b.split()[0])
def test_every_top_level_block_is_known(tmp_path, block):
    result, _ = convert(write(tmp_path, block + "\n" + instance_block("track_script {\n chk\n}\n")))
    assert not [m for m in result.messages if "unknown keyword" in m.text], result.messages


def test_instance_strict_mode_and_sync_group_tracking_weight(tmp_path):
    text = 'vrrp_script chk {\n    script "/bin/true"\n}\n'
    text += "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    sync_group_tracking_weight\n}\n"
    body = "strict_mode\ntrack_script {\n    chk weight -10\n}\n"
    result, config = convert(write(tmp_path, text + instance_block(body)))
    (inst,) = config.instances
    assert (inst.accept_mode, inst.advert_on_lower_priority) == (False, False)
    one(texts(result), "track_script chk weight -10: sync_group_tracking_weight makes keepalived apply this weight")
    assert inst.track_scripts == ()


def test_dev_is_checked_against_the_interface_wherever_it_is_set(tmp_path):
    """keepalived 2.2.7 vrrp_ipaddress.c: ``dev OTHER`` puts the address on OTHER; ``dev`` naming the instance's
    interface (set after the block here) changes nothing. Before issue #12 rule 6 the first was put on eth0 with a
    warning."""
    text = "vrrp_instance A {\n    virtual_router_id 1\n    virtual_ipaddress {\n        203.0.113.1/24 dev eth1\n"
    text += "        203.0.113.2/24 dev eth0\n    }\n    interface eth0\n}\n"
    result, config = convert(write(tmp_path, text))
    assert texts(result) == []
    (inst,) = config.instances
    assert [str(a) for a in inst.virtual_addresses] == ["203.0.113.1/24", "203.0.113.2/24"]
    assert inst.address_interfaces == ((ip_address("203.0.113.1"), "eth1"),)


@pytest.mark.skipif(not tracking_supported(), reason="vrrpd.config has no track_scripts yet")
def test_sub_second_script_interval_as_keepalived_2_3_2(tmp_path):
    text = 'vrrp_script chk {\n    script "/bin/true"\n    interval 0.5\n}\n'
    _, config = convert(write(tmp_path, text + instance_block("track_script {\n    chk\n}\n")))
    (script,) = config.track_scripts
    assert (script.interval, script.timeout) == (0.5, 0.5)


# --- sync groups (issue #5 point 5) -----------------------------------------------------------------------


def test_sync_group_maps_members_and_fault_trackers_and_drops_member_weights_as_keepalived():
    result, config = convert("sync-groups.conf")
    assert result.complete, texts(result)
    assert result.document["sync_groups"] == {
        "VG_web": {
            "members": ["VI_web4", "VI_web6"],
            "track_scripts": [{"name": "chk_haproxy", "on_failure": "fault"}],
            "track_interfaces": [{"interface": "eth2", "on_failure": "fault"}],
            "notify": {
                "on_master": ["/bin/echo", "web", "master"],
                "on_backup": ["/bin/true"],
                "on_fault": ["/bin/echo", "fault"],
                "on_stop": ["/bin/true"],
                "notify": ["/bin/echo"],
                "user": "root",  # script_user
            },
        }
    }
    (group,) = config.sync_groups
    assert group.members == ("VI_web4", "VI_web6")
    assert [(t.name, t.weight) for t in group.trackers] == [("eth2", None), ("chk_haproxy", None)]
    # Issue #5 point 4/5: the group's notify scripts become the group's hooks, not its members'.
    assert group.notify == HooksConfig(
        on_master=("/bin/echo", "web", "master"),
        on_backup=("/bin/true",),
        on_fault=("/bin/echo", "fault"),
        on_stop=("/bin/true",),
        notify=("/bin/echo",),
        user="root",
    )
    assert all(inst.notify == HooksConfig() for inst in config.instances)
    # keepalived ignores the members' weighted trackers (its -t log says so), so not importing them is faithful.
    notes = texts(result, "note")
    one(notes, "sync-groups.conf:18:", "vrrp_sync_group VG_web: notify scripts run one at a time in transition order")
    one(notes, "sync-groups.conf:45:", "track_script chk_weighted weight -20: keepalived ignores weighted trackers")
    # ... but it keeps a member's weighted interface as a fault tracker (vrrp.c, vrrp_complete_instance: weight 0)
    one(notes, "sync-groups.conf:48:", "track_interface eth1 weight -30: keepalived sets the weight", "fault")
    assert [s.name for s in config.track_scripts] == ["chk_haproxy"]
    assert all(not inst.track_scripts for inst in config.instances)
    assert [[(t.name, t.weight) for t in inst.track_interfaces] for inst in config.instances] == [[("eth1", None)], []]


def test_sync_group_parts_vrrpd_cannot_map_each_warn(tmp_path):
    text = 'vrrp_script chk {\n    script "/bin/true"\n    weight -10\n}\n'
    text += (
        'vrrp_sync_group "my group" {\n    group {\n        "web vip"\n        VI_missing\n    }\n'
        "    track_script {\n        chk\n    }\n    track_interface {\n        eth1 weight 5\n    }\n"
        "    track_file {\n        f\n    }\n    notify_master /bin/true\n    smtp_alert\n}\n"
    )
    text += 'vrrp_sync_group other {\n    group {\n        "web vip"\n    }\n}\n'
    result, config = convert(write(tmp_path, text + instance_block(name='"web vip"')))
    warnings = texts(result)
    one(warnings, "VI_missing is not an imported vrrp_instance; left out")
    one(warnings, "track_script chk weight -10: vrrpd's group trackers can only fault the group")
    one(warnings, "track_interface eth1 weight 5: vrrpd's group trackers can only fault the group")
    one(warnings, "track_file: vrrpd's sync groups cannot track files")
    one(warnings, "vrrp_sync_group other: web vip is already in sync group my group; left out")
    one(warnings, "vrrp_sync_group other: no member was imported; group not imported")
    one(texts(result, "note"), "renamed 'my_group'", "its notify script gets GROUP my_group")
    assert result.document["sync_groups"] == {
        "my_group": {"members": ["web_vip"], "notify": {"on_master": ["/bin/true"]}}
    }
    assert config.sync_groups[0].members == ("web_vip",)
