"""The keyword tables: keepalived keywords the importer recognises but does not map, each with what to do instead.

An *ignored* keyword changes nothing that matters for failover (a note); an *unmapped* one makes keepalived behave
differently from the generated YAML (a warning, so `vrrpctl import-keepalived` exits 1).
"""

from __future__ import annotations

_EMAIL = "keepalived's e-mail alerts; vrrpd sends none (use the journal)"
_NFTABLES = "vrrpd implements accept_mode: false with nftables in its own table inet vrrpd"
_LVS = "LVS (the checker), not VRRP"
_PROCESS_TITLE = "the process title; vrrpd's is vrrpd"
_NO_RELOAD = "vrrpd has no live reload yet; restart it (`systemctl restart vrrpd`)"
_STATUS_DUMP = "keepalived's JSON dump; use `vrrpctl status --json`"
_RX_BUFFERS = "vrrpd sizes its socket buffers itself"
_CHECK_ADV_ADDR = "vrrpd always checks the address list and only logs a mismatch (address_check: log)"
_LOWER_PRIO_GARP = (
    "vrrpd answers a lower-priority advert with an advert and one GARP/NA burst (the garp settings), at most once "
    "per 5 s; not tunable apart"
)
_GARP_EXTRA_IF = "vrrpd announces only on the instance interface; use garp.refresh for periodic GARPs"
_VMAC_GARP = "use garp.refresh for periodic GARPs from the virtual MAC"
_OWNER_ADVERTS = "vrrpd's address owner does not ignore adverts (it handles duplicate owners)"
_EVENTS = (
    "use `vrrpctl events` instead: it prints every transition (instance, old and new state, priority, reason) "
    "as one JSON line, in order; a FIFO reader can read its output instead"
)
_PRIORITY_CHANGES = (
    "vrrpd reports no priority-change events; `vrrpctl status --json` shows each instance's effective_priority, "
    "and `vrrpctl events` the transitions"
)
_SCHEDULING = "vrrpd does not change its scheduling; set it in the systemd unit"
_NO_SNMP = "vrrpd has no SNMP agent; use `vrrpctl status --json`"
_NO_DBUS = "vrrpd has no DBus interface; use `vrrpctl status --json`"
_START_STOP_SCRIPTS = "vrrpd runs no scripts at start or stop; use ExecStartPre=/ExecStopPost= in the systemd unit"
_PROCESS_TRACKING = "vrrpd cannot track processes; use a track script (e.g. pidof NAME)"
_NOT_LVS = "LVS, not VRRP: out of vrrpd's scope"
_NETLINK_LINK_STATE = "vrrpd follows link state with netlink"

GLOBAL_IGNORED = {
    "router_id": "only names this host in keepalived's e-mails and SNMP; vrrpd has neither",
    **dict.fromkeys(
        (
            "notification_email",
            "notification_email_from",
            "smtp_server",
            "smtp_connect_timeout",
            "smtp_helo_name",
            "smtp_alert",
            "smtp_alert_vrrp",
            "smtp_alert_checker",
        ),
        _EMAIL,
    ),
    **dict.fromkeys(
        (
            "vrrp_iptables",
            "vrrp_ipsets",
            "nftables",
            "nftables_priority",
            "nftables_counters",
            "nftables_ifindex",
        ),
        _NFTABLES,
    ),
    "vrrp_skip_check_adv_addr": _CHECK_ADV_ADDR,
    "state_file_location": "keepalived's SIGUSR1 dump; use `vrrpctl status`",
    "stats_file_location": "keepalived's SIGUSR2 dump; use `vrrpctl status`",
    "json_file_location": _STATUS_DUMP,
    "json_version": _STATUS_DUMP,
    "data_use_instance": "keepalived's dump files; use `vrrpctl status`",
    **dict.fromkeys(
        (
            "lvs_id",
            "lvs_sync_daemon",
            "lvs_timeouts",
            "lvs_flush",
            "checker_priority",
            "checker_log_all_failures",
            "checker_process_name",
        ),
        _LVS,
    ),
    "bfd_process_name": "keepalived's BFD process; vrrpd has no BFD",
    **dict.fromkeys(("vrrp_process_name", "process_names", "process_name"), _PROCESS_TITLE),
    "config_save_dir": "vrrpd reads one YAML file",
    **dict.fromkeys(("reload_file", "reload_time_file", "reload_repeat"), _NO_RELOAD),
    "vrrp_rx_bufs_policy": _RX_BUFFERS,
    "vrrp_rx_bufs_multiplier": _RX_BUFFERS,
    "use_pid_dir": "systemd runs vrrpd; there is no pid file",
    "reload_check_config": "vrrpd always validates a file before it uses it",
    "enable_script_security": "vrrpd always applies it: a command run as root that others can change is refused "
    "(docs/config-safety.md)",
}
"""global_defs keywords that do not matter for VRRP failover: a note each."""

GLOBAL_UNMAPPED = {
    "vrrp_mcast_group4": "vrrpd always uses 224.0.0.18 (RFC 9568); keep keepalived's default group on the peers",
    "vrrp_mcast_group6": "vrrpd always uses ff02::12 (RFC 9568); keep keepalived's default group on the peers",
    "vrrp_garp_lower_prio_repeat": _LOWER_PRIO_GARP,
    "vrrp_garp_lower_prio_delay": _LOWER_PRIO_GARP,
    "vrrp_garp_extra_if": _GARP_EXTRA_IF,
    "vrrp_vmac_garp_intvl": _VMAC_GARP,
    "vrrp_higher_prio_send_advert": "vrrpd does not send an extra advert before yielding",
    "vrrp_owner_ignore_adverts": _OWNER_ADVERTS,
    "vrrp_startup_delay": "set startup_delay (seconds) on each instance, or under defaults: vrrpd's equivalent",
    "vrrp_delay_after_boot": "closest: startup_delay (seconds) on each instance, applied at every start, not only "
    "after a boot",
    **dict.fromkeys(("notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script"), _EVENTS),
    "vrrp_notify_priority_changes": _PRIORITY_CHANGES,
    "fifo_write_vrrp_states_on_reload": "vrrpd has no live reload yet; `vrrpctl events --replay N` shows the "
    "last N transitions",
    "dynamic_interfaces": "vrrpd needs each interface to exist when it starts",
    "vrrp_priority": "set Nice= in the vrrpd systemd unit",
    "vrrp_rt_priority": "set CPUSchedulingPolicy=rr and CPUSchedulingPriority= in the vrrpd systemd unit",
    "vrrp_no_swap": "set MemoryLock/LimitMEMLOCK in the vrrpd systemd unit",
    "vrrp_cpu_affinity": "set CPUAffinity= in the vrrpd systemd unit",
    "vrrp_rlimit_rttime": "set LimitRTTIME= in the vrrpd systemd unit",
    "max_auto_priority": _SCHEDULING,
    "min_auto_priority_delay": _SCHEDULING,
    **dict.fromkeys(
        (
            "enable_snmp_vrrp",
            "enable_snmp_keepalived",
            "enable_snmp_rfc",
            "enable_snmp_rfcv2",
            "enable_snmp_rfcv3",
            "enable_traps",
            "snmp_socket",
        ),
        _NO_SNMP,
    ),
    "enable_dbus": _NO_DBUS,
    "dbus_service_name": _NO_DBUS,
    "net_namespace": "run vrrpd inside the namespace (ip netns exec, or NetworkNamespacePath= in the unit)",
    "instance": "run one vrrpd per configuration, each with its own control_socket",
    "linkbeat_use_polling": _NETLINK_LINK_STATE,
    "vmac_prefix": "vrrpd names the macvlan vrrp4-<vrid> / vrrp6-<vrid>",
    "log_unknown_vrids": "vrrpd counts unknown VRIDs itself (`vrrpctl status`)",
    "vrrp_down_timer_adverts": "vrrpd always waits 3 adverts (RFC 9568)",
    "startup_script": _START_STOP_SCRIPTS,
    "shutdown_script": _START_STOP_SCRIPTS,
}
"""global_defs keywords whose effect vrrpd does not reproduce: a warning each (see `globals` for exceptions)."""

INSTANCE_UNMAPPED = {
    "vrf": "vrrpd has no VRF support; run it in the VRF (ip vrf exec) if adverts must use it",
    "no_virtual_ipaddress": "vrrpd needs at least one virtual address per instance",
    "track_process": _PROCESS_TRACKING,
    "track_bfd": "vrrpd has no BFD",
    "track_src_ip": "vrrpd does not track its source address",
    "dont_track_primary": "vrrpd always tracks the instance interface (down = fault)",
    "notify_deleted": "vrrpd has no live reload, so instances are never deleted while it runs; on_stop runs "
    "when vrrpd stops an instance",
    "notify_master_rx_lower_pri": "vrrpd has no hook for it: a master that hears a lower-priority advert "
    "re-announces itself (advert and GARP/NA) on its own; follow `vrrpctl events` for the transitions",
    "notify_priority_changes": _PRIORITY_CHANGES,
    "mcast_dst_ip": "vrrpd always uses 224.0.0.18 / ff02::12 (RFC 9568)",
    "use_vmac_addr": "vrrpd puts only the instance's own addresses on the virtual MAC",
    "vmac_xmit_base": "vrrpd sends adverts from the virtual MAC interface",
    "use_ipvlan": "vrrpd uses a macvlan (virtual_mac: true), not an ipvlan",
    **dict.fromkeys(
        ("garp_lower_prio_delay", "garp_lower_prio_repeat"),
        "vrrpd answers a lower-priority advert with an advert (advert_on_lower_priority), not with GARPs",
    ),
    "garp_extra_if": _GARP_EXTRA_IF,
    "vmac_garp_intvl": _VMAC_GARP,
    "timer_expired_backup": "vrrpd has no such fallback",
    "owner_ignore_adverts": _OWNER_ADVERTS,
    "auth_hmac": "vrrpd has no HMAC authentication",
    "promote_secondaries": "set net.ipv4.conf.IF.promote_secondaries=1 with sysctl",
    "kernel_rx_buf_size": _RX_BUFFERS,
    "linkbeat_use_polling": _NETLINK_LINK_STATE,
}
"""vrrp_instance keywords whose effect vrrpd does not reproduce: a warning each."""

INSTANCE_IGNORED = {
    "native_ipv6": "deprecated in keepalived; the family comes from the addresses",
    "debug": "not implemented in keepalived either",
    "preempt": "the default (and a no-op in keepalived)",
    "skip_check_adv_addr": _CHECK_ADV_ADDR,
    "smtp_alert": _EMAIL,
    "lvs_sync_daemon_interface": "sets the interface of keepalived's LVS sync daemon (IPVS connection sync, "
    "deprecated inside a vrrp_instance); vrrpd has no LVS, so run the IPVS sync daemon yourself if you use it",
}
"""vrrp_instance keywords that change nothing: a note each."""

TOP_UNMAPPED = {
    "net_namespace": "keepalived runs inside that network namespace; vrrpd does not switch: run vrrpd in it "
    "(ip netns exec, or NetworkNamespacePath=/run/netns/NAME in the systemd unit) and point the YAML at its "
    "interfaces",
    "instance": "run one vrrpd per configuration, each with its own control_socket",
    "static_ipaddress": "vrrpd does not manage static addresses; configure them with the system's network "
    "configuration (ignored)",
    "static_routes": "vrrpd does not manage static routes; configure them with the system's network configuration",
    "static_rules": "vrrpd does not manage static rules; configure them with the system's network configuration",
    "vrrp_track_process": _PROCESS_TRACKING,
    "bfd_instance": "vrrpd has no BFD",
    "garp_group": "use garp.interval per instance",
    "linkbeat_interfaces": _NETLINK_LINK_STATE,
    "interface_up_down_delays": "vrrpd has no interface debounce",
    "track_group": "vrrpd does not manage static addresses",
    "virtual_server": _NOT_LVS,
    "virtual_server_group": _NOT_LVS,
    "real_server": _NOT_LVS,
}
"""Top-level blocks outside vrrpd's scope: a warning each."""

TOP_IGNORED = {
    "net_namespace_ipvs": _NOT_LVS,
    "namespace_with_ipsets": "vrrpd uses no ipsets",
    "use_pid_dir": "systemd runs vrrpd; there is no pid file",
    "child_wait_time": "vrrpd has no child processes to wait for at shutdown",
}
"""Top-level keywords (keepalived's install_keyword_root, outside global_defs) that change nothing: a note each."""

GROUP_UNMAPPED_TRACKERS = {
    "track_file": "vrrpd's sync groups cannot track files; track the file on each member with on_failure: fault, "
    "or use a group track script that reads it",
    "track_process": _PROCESS_TRACKING,
    "track_bfd": "vrrpd has no BFD",
}
"""vrrp_sync_group trackers vrrpd's group trackers have no form for: a warning each."""

GROUP_NOTIFY_UNMAPPED = (
    "vrrpd's group hooks are on_master, on_backup, on_fault, on_stop and notify (a group has no priority to "
    "report changes of); `vrrpctl events` shows every group transition; not imported"
)
"""Said of a group's notify_* keyword that is not in HOOK_KEYS (e.g. notify_priority_changes)."""

HOOK_KEYS = {
    "notify_master": "on_master",
    "notify_backup": "on_backup",
    "notify_fault": "on_fault",
    "notify_stop": "on_stop",
    "notify": "notify",
}
"""keepalived's notify keywords (of a vrrp_instance or a vrrp_sync_group) -> the keys of vrrpd's notify: section,
in vrrpd's order."""
