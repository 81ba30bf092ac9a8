"""`sync_groups:` in the YAML (issue #5 point 5): every error one sentence naming file, key path and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vrrpd.config import ConfigError, parse_config
from vrrpd.config.hooks import HooksConfig
from vrrpd.config.syncgroups import SyncGroupConfig, group_of
from vrrpd.protocol.tracking import Tracker, TrackerKind

HEAD = """\
track_scripts:
  chk: {command: [/bin/true]}
instances:
  - {name: web4, interface: eth0, vrid: 1, virtual_addresses: [198.51.100.100/24]}
  - {name: web6, interface: eth0, vrid: 2, virtual_addresses: ["2001:db8::100/64"]}
  - {name: db, interface: eth0, vrid: 3, virtual_addresses: [198.51.100.101/24]}
"""


def parse(groups: str, head: str = HEAD):
    return parse_config(head + textwrap.dedent(groups), "vrrpd.yaml")


def error(groups: str, head: str = HEAD) -> str:
    with pytest.raises(ConfigError) as info:
        parse(groups, head)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "got"),
    [("5", "the number 5"), ("", "an empty value"), ("[a, b]", "a list"), ("web4", "the string 'web4'")],
)
def test_sync_groups_that_is_no_mapping_is_one_sentence_not_a_crash(value, got):
    assert error(f"sync_groups: {value}\n") == f"vrrpd.yaml: sync_groups (line 7): expected a mapping, got {got}"


def test_group_with_members_and_fault_trackers():
    config = parse(
        """\
        sync_groups:
          web:
            members: [web4, web6]
            track_scripts: [{name: chk, on_failure: fault}]
            track_interfaces: [{interface: bond0, on_failure: fault}]
        """
    )
    (group,) = config.sync_groups
    assert group == SyncGroupConfig(
        "web",
        ("web4", "web6"),
        (Tracker(TrackerKind.SCRIPT, "chk", None),),
        (Tracker(TrackerKind.INTERFACE, "bond0", None),),
    )
    assert group.line == 9
    assert group_of(config, "web6") is group and group_of(config, "db") is None
    assert config.warnings == ()  # chk is used (by the group), so no "not used" warning


def test_group_notify_hooks_parse_as_an_instance_notify_section():
    """Issue #5 point 4/5: notify hooks per group, the same keys (vrrpd.config.hooks) as per instance."""
    config = parse(
        """\
        sync_groups:
          web:
            members: [web4, web6]
            notify:
              on_master: /usr/local/bin/web-up --all
              on_stop: [/bin/logger, web stopped]
              notify: /etc/keepalived/notify.sh
              timeout: 5
              user: nobody
        """
    )
    (group,) = config.sync_groups
    assert group.notify == HooksConfig(
        on_master=("/usr/local/bin/web-up", "--all"),
        on_stop=("/bin/logger", "web stopped"),
        notify=("/etc/keepalived/notify.sh",),
        timeout=5.0,
        user="nobody",
    )
    assert group.notify.line == 11
    assert [cmd for _, cmd in group.notify.commands("MASTER")] == [
        ("/usr/local/bin/web-up", "--all"),
        ("/etc/keepalived/notify.sh",),
    ]
    assert all(inst.notify.empty for inst in config.instances)  # the group's hooks are not its members'
    assert not [w for w in config.warnings if "sync_groups" in w]


def test_group_without_notify_has_no_hooks():
    (group,) = parse("sync_groups:\n  web: {members: [web4, web6]}\n").sync_groups
    assert group.notify == HooksConfig() and group.notify.empty


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        ("notify: /bin/true", "sync_groups.web.notify (line 10): expected a mapping, got the string '/bin/true'"),
        ("notify: {on_master: ''}", "sync_groups.web.notify.on_master (line 10): must not be empty"),
        ("notify: {notify: /x, timeout: 0}", "sync_groups.web.notify.timeout (line 10): 0 is outside 0.01..3600"),
        ("notify: {on_master: /x, user: 'r:oot'}", "sync_groups.web.notify.user (line 10): 'r:oot' is not a user"),
        (
            "notify: {on_primary: /x}",
            "sync_groups.web.notify.on_primary (line 10): unknown key (did you mean on_master?)",
        ),
    ],
)
def test_group_notify_errors_name_file_key_and_line(notify, expected):
    text = f"sync_groups:\n  web:\n    members: [web4, web6]\n    {notify}\n"
    assert error(text).startswith(f"vrrpd.yaml: {expected}")


def test_group_notify_without_hooks_warns_with_its_key_path():
    config = parse("sync_groups:\n  web:\n    members: [web4, web6]\n    notify: {timeout: 5}\n")
    assert [w for w in config.warnings if "sync_groups" in w] == [
        "vrrpd.yaml: sync_groups.web.notify (line 10): names no hook (on_master, on_backup, on_fault, on_stop, "
        "notify), so nothing will run",
    ]


def test_no_sync_groups_is_an_empty_tuple():
    assert parse("").sync_groups == ()


def test_unknown_member_names_the_closest_instance():
    assert error("sync_groups:\n  web: {members: [web4, web66]}\n") == (
        "vrrpd.yaml: sync_groups.web.members[1] (line 8): 'web66' is not the name of an instance (did you mean web6?)"
    )


def test_member_of_two_groups_is_an_error():
    text = "sync_groups:\n  web: {members: [web4, web6]}\n  other: {members: [db, web6]}\n"
    assert error(text) == (
        "vrrpd.yaml: sync_groups.other.members[1] (line 9): 'web6' is already a member of sync group 'web' "
        "(line 8); an instance can follow only one group"
    )


def test_member_listed_twice_is_an_error():
    assert "is already listed at sync_groups.web.members[0]" in error("sync_groups:\n  web: {members: [db, db]}\n")


def test_empty_or_missing_members_is_an_error():
    assert (
        error("sync_groups:\n  web: {members: []}\n")
        == "vrrpd.yaml: sync_groups.web.members (line 8): must not be empty"
    )
    assert error("sync_groups:\n  web: {track_scripts: []}\n") == (
        "vrrpd.yaml: sync_groups.web (line 8): missing required key members"
    )


def test_one_member_is_allowed_with_a_warning():
    config = parse("sync_groups:\n  web: {members: [web4]}\n")
    assert (
        "vrrpd.yaml: sync_groups.web.members (line 8): sync group web has only one member (web4), so there is "
        "nothing to keep in step; its trackers act like on_failure: fault trackers of that instance"
    ) in config.warnings


def test_weighted_tracker_on_a_member_is_an_error_that_says_why():
    """Issue #5 point 5: keepalived silently ignores these weights; vrrpd refuses them with the reason."""
    head = HEAD.replace(
        'vrid: 2, virtual_addresses: ["2001:db8::100/64"]}',
        'vrid: 2, virtual_addresses: ["2001:db8::100/64"],\n     track_interfaces: [{interface: eth1, weight: -50}]}',
    )
    message = error("sync_groups:\n  web:\n    members: [web4, web6]\n", head)
    assert message.startswith(
        "vrrpd.yaml: instances[1].track_interfaces[0].weight (line 6): instance web6 is a member of sync group web "
        "(line 10), where a weight cannot work: it moves this member's priority alone"
    )
    assert "keepalived silently ignores such weights (unless sync_group_tracking_weight), vrrpd refuses them" in message
    assert message.endswith("use on_failure: fault, here or in the group's track_scripts/track_interfaces")
    assert message.count("\n") == 0


def test_weighted_tracker_inherited_from_defaults_points_at_defaults():
    head = "defaults:\n  track_scripts:\n    - {name: chk, weight: 20}\n" + HEAD
    message = error("sync_groups:\n  web: {members: [web4, web6]}\n", head)
    assert message.startswith(
        "vrrpd.yaml: defaults.track_scripts[0].weight (line 3): instance web4 is a member of sync group web "
        "(line 11) (inherited by instance web4 from defaults), where a weight cannot work"
    )


def test_weighted_tracker_outside_groups_is_still_fine():
    head = HEAD.replace(
        "vrid: 3, virtual_addresses: [198.51.100.101/24]}",
        "vrid: 3, virtual_addresses: [198.51.100.101/24], track_scripts: [{name: chk, weight: -50}]}",
    )
    assert parse("sync_groups:\n  web: {members: [web4, web6]}\n", head).instance("db").track_scripts[0].weight == -50


def test_group_tracker_with_a_weight_is_an_error():
    assert error(
        "sync_groups:\n  web:\n    members: [web4, web6]\n    track_scripts: [{name: chk, weight: -10}]\n"
    ) == (
        "vrrpd.yaml: sync_groups.web.track_scripts[0].weight (line 10): a sync group's trackers can only fault the "
        "group, which has no priority of its own to add a weight to; use on_failure: fault"
    )


def test_group_tracker_of_an_undefined_script_is_an_error():
    assert "'nope' is not defined under the top-level track_scripts" in error(
        "sync_groups:\n  web:\n    members: [web4, web6]\n    track_scripts: [{name: nope, on_failure: fault}]\n"
    )


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("sync_groups:\n  web: {group: [web4]}\n", "unknown key (this is keepalived's name; vrrpd uses members"),
        ("sync_groups:\n  web: {members: [web4], on_master: /bin/true}\n", "unknown key (expected one of members"),
        (
            "sync_groups:\n  web: {members: [web4], notify_master: /bin/true}\n",
            "sync_groups.web.notify_master (line 8): unknown key (this is keepalived's name; vrrpd uses on_master "
            "(under notify:))",
        ),
        ("sync_groups:\n  'bad name': {members: [web4]}\n", "'bad name' may only contain letters"),
        ("sync_groups: [web4]\n", "sync_groups (line 7): expected a mapping, got a list"),
        ("vrrp_sync_group: {}\n", "this is keepalived's name; vrrpd uses sync_groups (at the top level)"),
    ],
)
def test_malformed_groups(groups, expected):
    assert expected in error(groups)


def test_commented_example_in_etc_vrrpd_yaml_validates_once_uncommented():
    """The sync_groups example in etc/vrrpd.yaml must stay a working config (with its track_scripts example)."""
    text = (Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml").read_text()
    start = text.index("# sync_groups:")
    example = "\n".join(line[2:] for line in text[start:].splitlines())
    scripts = "track_scripts:\n  chk_web: {command: [/bin/true]}\n"
    config = parse_config(scripts + text[:start] + example + "\n", "etc/vrrpd.yaml")
    (group,) = config.sync_groups
    assert group.members == ("gw-v4", "gw-v6")
    assert [(t.name, t.weight) for t in group.trackers] == [("bond0", None), ("chk_web", None)]
    assert group.notify.on_master and group.notify.on_backup and group.notify.notify


def test_members_that_change_the_whole_group_are_warned_about():
    head = HEAD.replace("vrid: 1, virtual_addresses", "vrid: 1, preempt: false, virtual_addresses").replace(
        "vrid: 2, virtual_addresses", "vrid: 2, priority: 255, virtual_addresses"
    )
    warnings = parse("sync_groups:\n  web: {members: [web4, web6]}\n", head).warnings
    assert [w for w in warnings if "sync_groups" in w] == [
        "vrrpd.yaml: sync_groups.web.members (line 8): preempt is false on web4 only, which makes the whole sync "
        "group web non-preempting: a group takes over from a lower-priority peer only when every member would",
        "vrrpd.yaml: sync_groups.web.members (line 8): web6 is an address owner (priority 255), which RFC 9568 "
        "§6.4.1 makes master at once; in sync group web it waits until every member's own election says master",
    ]
