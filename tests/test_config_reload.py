"""The reload planner (issue #11): old and new configuration in, what changes out. Pure, so hypothesis drives it
with generated configurations: a configuration planned against itself changes nothing, carrying out a plan
reaches the new configuration, and planning back restores the old one."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vrrpd.config import Config, ConfigError, parse_config
from vrrpd.config.reload import RECREATE_KEYS, Change, apply_plan, identity, plan_reload

NAMES = ("a", "b", "c", "d")
SCRIPTS = {"up": ["/bin/true"], "down": ["/bin/false"]}


@st.composite
def documents(draw: st.DrawFn) -> dict:
    scripts = {name: {"command": argv, "interval": draw(st.sampled_from([1, 2]))} for name, argv in SCRIPTS.items()}
    instances = []
    for index, name in enumerate(draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))):
        version = draw(st.sampled_from([3, 3, 2]))
        inst: dict = {
            "name": name,
            "interface": draw(st.sampled_from(["eth0", "eth1"])),
            "vrid": index + 1 if draw(st.booleans()) else index + 11,
            "version": version,
            "priority": draw(st.sampled_from([100, 150, 255])),
            "advert_interval": draw(st.sampled_from([1, 2] if version == 2 else [1, 0.5])),
            "preempt": draw(st.booleans()),
            "virtual_mac": draw(st.booleans()),
            "virtual_addresses": [
                f"198.51.100.{10 + index}/24",
                *draw(st.sampled_from([[], [f"203.0.113.{index}/24"]])),
            ],
        }
        if inst["priority"] == 255:
            inst["preempt"] = True  # an owner that does not preempt is an error (RFC 9568 §6.4.1)
        if draw(st.booleans()):
            inst["track_scripts"] = [
                {"name": draw(st.sampled_from(list(SCRIPTS))), "weight": draw(st.sampled_from([-10, 5]))}
            ]
        if draw(st.booleans()):
            inst["notify"] = {"on_master": ["/bin/true"], "timeout": draw(st.sampled_from([5, 10]))}
        if draw(st.booleans()):
            inst["unicast_peers"] = [draw(st.sampled_from(["198.51.100.200", "198.51.100.201"]))]
        instances.append(inst)
    doc: dict = {"control_socket": "/run/vrrpd/test.sock", "track_scripts": scripts, "instances": instances}
    level = draw(st.sampled_from([None, "info", "debug"]))
    if level is not None:
        doc["log_level"] = level
    names = [i["name"] for i in instances]
    if len(names) >= 2 and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(names), unique=True, min_size=2, max_size=2))
        for inst in instances:
            if inst["name"] in members:
                inst.pop("track_scripts", None)  # a weighted tracker on a member is an error
        doc["sync_groups"] = {
            "g": {
                "members": members,
                "track_scripts": [{"name": "up", "on_failure": "fault"}] if draw(st.booleans()) else [],
            }
        }
    return doc


def config(doc: dict) -> Config:
    try:
        return parse_config(yaml.safe_dump(doc), "vrrpd.yaml")
    except ConfigError:
        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(documents())
def test_a_configuration_planned_against_itself_changes_nothing(doc):
    a = config(doc)
    plan = plan_reload(a, a)
    assert plan.empty
    assert all(p.change is Change.UNCHANGED for p in plan.instances)
    assert plan.summary() == f"{len(a.instances)} unchanged, 0 changed, 0 added, 0 removed"
    assert apply_plan(a, plan) == a


@settings(max_examples=300, deadline=None)
@given(documents(), documents())
def test_carrying_out_a_plan_reaches_the_new_configuration_and_planning_back_restores_the_old(doc_a, doc_b):
    a, b = config(doc_a), config(doc_b)
    forward = plan_reload(a, b)
    assert apply_plan(a, forward) == b
    assert apply_plan(b, plan_reload(b, a)) == a
    assert apply_plan(apply_plan(a, forward), plan_reload(b, a)) == a
    counts = forward.counts()
    assert sum(counts.values()) == len({i.name for i in (*a.instances, *b.instances)})
    for p in forward.instances:
        if p.change is Change.RECREATED:
            assert p.old is not None and p.new is not None
            assert identity(p.old) != identity(p.new) or "sync_group" in p.keys
        elif p.change is Change.CHANGED:
            assert p.old is not None and p.new is not None
            assert p.old != p.new and identity(p.old) == identity(p.new)
        elif p.change is Change.UNCHANGED:
            assert p.old == p.new


BASE = """\
control_socket: /run/vrrpd/test.sock
track_scripts:
  chk: {command: [/bin/true]}
instances:
  - {name: a, interface: eth0, vrid: 1, priority: 150, virtual_addresses: [198.51.100.1/24]}
  - {name: b, interface: eth0, vrid: 2, virtual_addresses: [198.51.100.2/24]}
"""


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), "/etc/vrrpd/vrrpd.yaml")


def changes(old: str, new: str) -> dict[str, tuple[Change, tuple[str, ...]]]:
    return {p.name: (p.change, p.keys) for p in plan_reload(parse(old), parse(new)).instances}


def test_in_place_keys_change_an_instance_and_leave_its_neighbour_alone():
    new = BASE.replace("priority: 150", "priority: 160, preempt: false")
    assert changes(BASE, new) == {"a": (Change.CHANGED, ("priority", "preempt")), "b": (Change.UNCHANGED, ())}


@pytest.mark.parametrize(
    ("before", "after", "forced"),
    [
        ("interface: eth0, vrid: 1", "interface: eth1, vrid: 1", ("interface",)),
        ("vrid: 1", "vrid: 7", ("vrid",)),
        ("priority: 150", "priority: 150, virtual_mac: true", ("virtual_mac",)),
        ("priority: 150", "priority: 150, version: 2", ("version",)),
        ("priority: 150", "priority: 255", ("owner",)),
        ("priority: 150", "priority: 150, unicast_peers: [198.51.100.9]", ("unicast",)),
        ('["2001:db8::1/64"]', '["2001:db8::1/64"], unicast_peers: ["2001:db8::9"], unicast_source: "fe80::1"', ()),
    ],
)
def test_what_makes_another_router_re_creates_the_instance(before, after, forced):
    if not forced:  # the advert source of a unicast instance is its address in every election
        old = BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"], unicast_peers: ["2001:db8::9"]')
        assert changes(old, old.replace('["2001:db8::9"]', '["2001:db8::9"], unicast_source: "fe80::1"'))["a"] == (
            Change.RECREATED,
            ("unicast_source",),
        )
        return
    assert changes(BASE, BASE.replace(before, after, 1))["a"] == (Change.RECREATED, forced)


def test_a_family_change_re_creates_the_instance():
    new = BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"]')
    assert changes(BASE, new)["a"] == (Change.RECREATED, ("family",))


def test_a_renamed_instance_is_removed_and_added():
    new = BASE.replace("name: a", "name: z")
    plan = plan_reload(parse(BASE), parse(new))
    assert [(p.name, p.change) for p in plan.instances] == [
        ("z", Change.ADDED),
        ("b", Change.UNCHANGED),
        ("a", Change.REMOVED),
    ]
    assert plan.summary() == "1 unchanged, 0 changed, 1 added, 1 removed"


GROUP = BASE + "sync_groups:\n  g: {members: [a, b]}\n"


def test_a_group_whose_members_change_re_creates_its_members():
    three = GROUP.replace(
        "sync_groups:", "  - {name: c, interface: eth0, vrid: 3, virtual_addresses: [198.51.100.3/24]}\nsync_groups:"
    )
    regrouped = three.replace("members: [a, b]", "members: [a, c]")
    assert changes(three, regrouped) == {
        "a": (Change.RECREATED, ("sync_group",)),
        "b": (Change.RECREATED, ("sync_group",)),
        "c": (Change.RECREATED, ("sync_group",)),
    }
    assert plan_reload(parse(three), parse(regrouped)).groups_recreated == ("g",)


def test_a_group_tracker_change_keeps_the_members_running():
    tracked = GROUP.replace("{members: [a, b]}", "{members: [a, b], track_scripts: [{name: chk, on_failure: fault}]}")
    plan = plan_reload(parse(GROUP), parse(tracked))
    assert [p.change for p in plan.instances] == [Change.UNCHANGED, Change.UNCHANGED]
    assert [g.name for g in plan.groups.changed] == ["g"] and plan.groups_recreated == ()


def test_script_definitions_are_matched_by_name():
    new = BASE.replace(
        "chk: {command: [/bin/true]}", "chk: {command: [/bin/true], interval: 5}\n  new: {command: [/bin/false]}"
    )
    plan = plan_reload(parse(BASE), parse(new))
    assert [s.name for s in plan.scripts.changed] == ["chk"] and [s.name for s in plan.scripts.added] == ["new"]
    assert not plan.empty


def test_a_new_control_socket_is_refused_with_a_sentence_saying_a_restart_is_needed():
    with pytest.raises(ConfigError) as info:
        plan_reload(parse(BASE), parse(BASE.replace("test.sock", "other.sock")))
    assert str(info.value) == (
        "/etc/vrrpd/vrrpd.yaml: control_socket: changed from /run/vrrpd/test.sock to /run/vrrpd/other.sock: vrrpctl "
        "and systemctl reload reach vrrpd through the socket it listens on, so a new one needs a restart (systemctl "
        "restart vrrpd); the running configuration is kept"
    )


def test_a_new_log_level_is_a_change_that_touches_no_instance():
    plan = plan_reload(parse(BASE), parse("log_level: debug\n" + BASE))
    assert not plan.empty
    assert plan.summary() == "2 unchanged, 0 changed, 0 added, 0 removed"
    assert apply_plan(parse(BASE), plan).log_level == "debug"
    assert plan_reload(parse("log_level: debug\n" + BASE), parse("log_level: debug\n" + BASE)).empty


def test_a_log_level_that_is_not_one_names_the_choices():
    with pytest.raises(ConfigError) as info:
        parse("log_level: verbose\n" + BASE)
    assert str(info.value) == (
        "/etc/vrrpd/vrrpd.yaml: log_level (line 1): 'verbose' is not one of debug, info, warning, error"
    )


def test_every_recreate_key_has_a_value():
    cfg = parse(BASE).instances[0]
    assert tuple(identity(cfg)) == RECREATE_KEYS


def test_a_member_re_created_for_a_key_of_its_own_re_creates_its_group_with_every_member():
    """A group is Master together or not at all: it never runs on with one member stopped and started again."""
    moved = GROUP.replace("interface: eth0, vrid: 1", "interface: eth1, vrid: 1")
    plan = plan_reload(parse(GROUP), parse(moved))
    assert {p.name: (p.change, p.keys) for p in plan.instances} == {
        "a": (Change.RECREATED, ("interface",)),
        "b": (Change.RECREATED, ("sync_group",)),
    }
    assert plan.groups_recreated == ("g",) and plan.groups.empty


def test_a_defaults_change_is_a_change_of_every_instance_that_inherits_it():
    """`defaults` is no section of its own to a reload: each instance is compared with its values resolved."""
    old = BASE.replace("instances:", "defaults: {preempt_delay: 1}\ninstances:")
    new = old.replace("preempt_delay: 1", "preempt_delay: 2").replace(
        "priority: 150,", "priority: 150, preempt_delay: 1,"
    )
    assert changes(old, new) == {"a": (Change.UNCHANGED, ()), "b": (Change.CHANGED, ("preempt_delay",))}
