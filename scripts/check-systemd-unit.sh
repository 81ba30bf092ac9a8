#!/usr/bin/env bash
# The Debian package under a real systemd (PID 1 of a systemd-nspawn container): what an operator does with it.
#
#   sudo scripts/check-systemd-unit.sh [--keep] [--worktree] [--workdir DIR] [--deb FILE --deb-upgrade FILE]
#
# 1. Builds the package twice with scripts/build-deb.sh (the second with a higher version, for the upgrade),
#    unless given both; takes a minimal bookworm rootfs (debootstrap, cached under $VRRPD_CHECK_CACHE, default
#    /var/cache/vrrpd-check, for 7 days) and, in a NOT booted container sharing the host network for the Debian
#    mirror only, has apt download what the package depends on (python3...). Nothing is installed yet.
# 2. Boots the rootfs with systemd as PID 1 and --private-network (its own network namespace, where a bridge v0
#    with 198.51.100.1/24 is made, with ports to two namespaces of its own: `peer`, where a second vrrpd runs at
#    a lower priority during the upgrade, and `client`, which pings the virtual address), then checks, offline:
#    `apt install ./vrrpd_*.deb` (the vrrpd group, the unit enabled but skipped: every instance of the shipped
#    /etc/vrrpd/vrrpd.yaml is commented out; man pages, bash completion), configure, `systemctl enable --now`,
#    Type=notify readiness, STATUS=, the journal, `vrrpctl status` as root, as a member of group vrrpd and not as
#    anyone else, reload (ExecReload, SIGHUP, a bad file), a clean stop, a start refused for an invalid file,
#    drop-ins User=nobody, WatchdogSec= and docs/realtime.md's realtime.conf (daemon SCHED_RR, track script not),
#    `systemd-analyze security`, then an upgrade to the higher version with
#    the peer and the client running (pings lost, hand-overs), `apt remove` (stopped, address handed over,
#    program gone, configuration kept) and `apt purge` (configuration gone).
#
# --deb FILE --deb-upgrade FILE: use these packages (the second of a higher version) instead of building.
# --worktree: build the working tree as it is (uncommitted edits and untracked, not ignored, files), not HEAD.
# --no-host-ca: accepted for symmetry with check-fresh-host.sh; nothing here runs pip in the container.
# --keep: keep the rootfs (DIR/unit-rootfs); by default it is removed, also on failure.
# The container is always powered off (and its nspawn process waited for) before the script exits.
set -uo pipefail

# shellcheck source=scripts/lib-container.sh
. "$(dirname "$0")/lib-container.sh"
DEB=
DEB_UPGRADE=
args=()
while (($#)); do
    case $1 in
        --deb) DEB=$(realpath "$2"); shift ;;
        --deb-upgrade) DEB_UPGRADE=$(realpath "$2"); shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
container_options "${args[@]}"
if [[ -n $DEB$DEB_UPGRADE && ( -z $DEB || -z $DEB_UPGRADE ) ]]; then
    echo "check-systemd-unit: give both --deb and --deb-upgrade, or neither" >&2
    exit 2
fi

ROOTFS=$WORK/unit-rootfs
LOGS=$WORK/logs
MACHINE=vrrpd-unit-check
mkdir -p "$WORK" "$LOGS"
rm -f "$LOGS/unit-failures.log"
container_tools
MIRROR=$(mirror debian)

TIMEOUT_PID=
NSPAWN_PID=
LEADER=
shutdown_container() {
    [[ -n $TIMEOUT_PID ]] && kill -0 "$TIMEOUT_PID" 2>/dev/null || return 0
    [[ -n $LEADER ]] && nsenter -t "$LEADER" -a systemctl poweroff 2>/dev/null
    for _ in $(seq 30); do kill -0 "$TIMEOUT_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$TIMEOUT_PID" 2>/dev/null; then
        echo "check-systemd-unit: container did not power off; killing nspawn $NSPAWN_PID" >&2
        [[ -n $NSPAWN_PID ]] && kill "$NSPAWN_PID" 2>/dev/null
        sleep 2
        kill "$TIMEOUT_PID" 2>/dev/null
    fi
    wait "$TIMEOUT_PID" 2>/dev/null
    TIMEOUT_PID=
}
cleanup() {
    shutdown_container
    if ((KEEP)); then
        echo "check-systemd-unit: rootfs kept in $ROOTFS"
    else
        rm -rf --one-file-system "$ROOTFS"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "check-systemd-unit: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { awk -v ms="$1" 'BEGIN {printf "%.1f", ms / 1000}'; }
T0=$(now_ms)

# --- 1. packages, rootfs, dependencies downloaded ----------------------------------------------------------
if [[ -z $DEB ]]; then
    t=$(now_ms)
    build=("$REPO/scripts/build-deb.sh" --out "$WORK/debs")
    ((WORKTREE)) && build+=(--worktree)
    rm -rf "$WORK/debs"
    "${build[@]}" > "$LOGS/unit-build.log" 2>&1 || { cat "$LOGS/unit-build.log" >&2; die "build-deb.sh failed"; }
    DEB=$(ls "$WORK"/debs/vrrpd_*.deb)
    version=$(dpkg-deb -f "$DEB" Version)
    # The same tree again at a higher version: what an operator gets from a later build.
    "${build[@]}" --version "$version.1" >> "$LOGS/unit-build.log" 2>&1 \
        || { cat "$LOGS/unit-build.log" >&2; die "build-deb.sh (upgrade) failed"; }
    DEB_UPGRADE=$WORK/debs/vrrpd_${version}.1_$(dpkg-deb -f "$DEB" Architecture).deb
    echo "check-systemd-unit: built $(basename "$DEB") and $(basename "$DEB_UPGRADE") in $(secs $(($(now_ms) - t))) s"
fi
V1=$(dpkg-deb -f "$DEB" Version)
V2=$(dpkg-deb -f "$DEB_UPGRADE" Version)
dpkg --compare-versions "$V2" gt "$V1" || die "--deb-upgrade ($V2) is not newer than --deb ($V1)"

t=$(now_ms)
# What a minimal bookworm host has, plus ping for the client and procps (kill, ps); not python3: apt brings it.
from=$(debootstrap_cached "$ROOTFS" "$MIRROR" systemd,systemd-sysv,dbus,procps,iproute2,iputils-ping,passwd \
    2> "$LOGS/unit-debootstrap.log") || { tail -20 "$LOGS/unit-debootstrap.log" >&2; die "debootstrap failed"; }
echo "check-systemd-unit: $from ($(secs $(($(now_ms) - t))) s)"
cp "$DEB" "$DEB_UPGRADE" "$ROOTFS/root/"
DEB1=/root/$(basename "$DEB")
DEB2=/root/$(basename "$DEB_UPGRADE")
t=$(now_ms)
# The booted container has no network: apt fetches the package's dependencies now, into its cache, and
# `apt install` later resolves them from there as it would from the mirror.
timeout 600 systemd-nspawn -q -D "$ROOTFS" --as-pid2 --register=no --keep-unit --console=pipe sh -ec "
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --download-only $DEB1
    ! dpkg-query -W vrrpd 2>/dev/null
" > "$LOGS/unit-download.log" 2>&1 || { cat "$LOGS/unit-download.log" >&2; die "downloading the dependencies failed"; }
echo "check-systemd-unit: dependencies downloaded ($(secs $(($(now_ms) - t))) s)"

# --- 2. boot ---------------------------------------------------------------------------------------------
timeout 900 systemd-nspawn -D "$ROOTFS" -M "$MACHINE" --register=no --keep-unit --private-network \
    --console=pipe -b > "$LOGS/unit-boot.log" 2>&1 &
TIMEOUT_PID=$!
# The container's PID 1 is the child of nspawn that runs systemd (nspawn first forks a short-lived
# intermediate child: entering that one would reach the wrong namespaces).
for _ in $(seq 100); do
    NSPAWN_PID=$(pgrep -P "$TIMEOUT_PID" -x systemd-nspawn || true)
    [[ -n $NSPAWN_PID ]] && LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
    [[ -n $LEADER ]] && break
    sleep 0.1
done
[[ -n $LEADER ]] || die "the container did not start (log: $LOGS/unit-boot.log)"
HOST_NETNS=$(readlink /proc/self/ns/net)
E() {
    # Never run anything in the host's network namespace: the checks add links and addresses.
    [[ $(readlink "/proc/$LEADER/ns/net" 2>/dev/null) != "$HOST_NETNS" ]] \
        || { echo "refusing: pid $LEADER is not in a private network namespace" >&2; return 99; }
    nsenter -t "$LEADER" -a "$@"
}
for _ in $(seq 60); do
    state=$(E systemctl is-system-running --wait 2>/dev/null) && break
    [[ $state == degraded ]] && break
    sleep 0.5
done
echo "check-systemd-unit: container booted (leader pid $LEADER, system $state)"

# --- 3. checks -------------------------------------------------------------------------------------------
PASS=0
FAIL=0
check() {  # check DESCRIPTION COMMAND...: passes when the command succeeds
    local what=$1
    shift
    local out
    if out=$("$@" 2>&1); then
        echo "  ok   $what"
        PASS=$((PASS + 1))
    else
        echo "  FAIL $what"
        FAIL=$((FAIL + 1))
        printf 'FAIL %s\n  command: %s\n%s\n' "$what" "$*" "$out" >> "$LOGS/unit-failures.log"
    fi
}
prop() { E systemctl show -p "$1" --value vrrpd; }
is() { [[ $(prop "$1") == "$2" ]]; }
fails() { ! "$@"; }
eventually() { for _ in $(seq 40); do "$@" && return 0; sleep 0.25; done; return 1; }
# Not `grep -q`: it would stop reading early, and with pipefail journalctl's SIGPIPE would fail the check.
journal_has() { E journalctl -b -o cat --no-pager "${@:2}" | grep -E "$1" > /dev/null; }
has_vip() { E ip -br addr show v0 | grep 198.51.100.100/24 > /dev/null; }
wait_master() {
    for _ in $(seq "${1:-50}"); do
        E vrrpctl status 2>/dev/null | grep ' MASTER ' > /dev/null && has_vip && return 0
        sleep 0.2
    done
    return 1
}
reset_journal_mark() { MARK=$(E date '+%Y-%m-%d %H:%M:%S'); sleep 1; }
since() { echo "--since=$MARK"; }
restore_config() { E cp /root/vrrpd.yaml.good /etc/vrrpd/vrrpd.yaml; }
apt_get() { E env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >> "$LOGS/unit-apt.log" 2>&1; }
# The peer: another router, at priority 100, in the namespace `peer`: a copy of the first package's virtualenv,
# so that neither the upgrade nor the removal touches it.
peer_ctl() { E /root/peer-venv/bin/python -m vrrpd.cli.ctl --socket /run/vrrpd-peer/vrrpd.sock "$@"; }
peer_took_over() { peer_ctl status --json | E /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["counters"]["became_master"])'; }

[[ $(readlink "/proc/$LEADER/ns/net") != "$HOST_NETNS" ]] || die "container leader $LEADER shares the host netns"
# v0: a bridge with the container's address; its ports lead to the namespaces `peer` (p0) and `client` (c0).
E sh -ec '
    ip link add v0 type bridge mcast_snooping 0 && ip addr add 198.51.100.1/24 dev v0 && ip link set v0 up
    for port in peer:p0 client:c0; do
        ns=${port%:*}
        ip netns add $ns
        ip link add "br-$ns" type veth peer name "${port#*:}" netns $ns
        ip link set "br-$ns" master v0 up
        ip -n $ns link set lo up
    done
    ip -n peer addr add 198.51.100.2/24 dev p0 && ip -n peer link set p0 up
    ip -n client addr add 198.51.100.3/24 dev c0 && ip -n client link set c0 up
'
# At debug log level systemd logs every sd_notify message it gets, but then (in this container at least)
# journald files the service's records under init.scope, so `journalctl -u vrrpd` misses them: debug is
# only switched on for the checks that read those messages.
debug() { E systemctl log-level "$1"; }

echo "== apt install ./$(basename "$DEB1") (version $V1, offline: dependencies from apt's cache)"
t=$(now_ms)
check "apt install ./vrrpd_*.deb" apt_get install "$DEB1"
echo "     (apt install took $(secs $(($(now_ms) - t))) s)"
check "/usr/bin/vrrpd and /usr/bin/vrrpctl run" E sh -c 'vrrpd --version && vrrpctl --help > /dev/null'
check "... with Debian's python3 in /opt/venvs/vrrpd" sh -c "[ \"\$(nsenter -t $LEADER -a readlink -f /opt/venvs/vrrpd/bin/python3)\" = /usr/bin/python3.11 ]"
check "group vrrpd exists (sysusers)" E getent group vrrpd
check "vrrpd.service is enabled" E systemctl is-enabled vrrpd
check "... but not started: every instance of the shipped file is commented out" is ActiveState inactive
check "... skipped by ExecCondition, not failed" is Result exec-condition
check "... saying why in the journal" journal_has 'vrrpd starts once the file configures an instance' -u vrrpd
check "/etc/vrrpd/vrrpd.yaml is a conffile" sh -c "nsenter -t $LEADER -a dpkg-query -W -f='\${Conffiles}' vrrpd | grep -q ' /etc/vrrpd/vrrpd.yaml '"
check "man pages vrrpd(8), vrrpctl(8), vrrpd.yaml(5)" E sh -ec '
    for page in man8/vrrpd.8 man8/vrrpctl.8 man5/vrrpd.yaml.5; do zcat /usr/share/man/$page.gz | grep -q "^\.TH "; done'
check "bash completion for vrrpctl (click's), completing subcommands" E bash -c '
    . /usr/share/bash-completion/completions/vrrpctl && complete -p vrrpctl > /dev/null &&
    COMP_WORDS="vrrpctl sta" COMP_CWORD=1 _VRRPCTL_COMPLETE=bash_complete vrrpctl | grep -q "^plain,status$"'

echo "== configure, enable --now"
E useradd --create-home --groups vrrpd alice
E useradd --create-home bob
E sh -c 'printf "%s\n" "instances:" "  - name: lab-v4" "    interface: v0" "    vrid: 51" "    priority: 150" \
    "    virtual_addresses: [198.51.100.100/24]" > /root/vrrpd.yaml.good'
restore_config
check "vrrpd check accepts the new file" E vrrpd check -c /etc/vrrpd/vrrpd.yaml
reset_journal_mark
check "systemctl enable --now vrrpd" E systemctl enable --now vrrpd
check "control socket up when start returns (READY=1 sent after it)" E vrrpctl status
check "systemctl status shows the STATUS= line" sh -c "nsenter -t $LEADER -a systemctl status vrrpd --no-pager | grep -q 'Status: \"1 '"
check "vrrpd's log lines in journalctl -u vrrpd, via the journald handler" \
    journal_has 'vrrpd [0-9.]+ started: 1 instance' -u vrrpd SYSLOG_IDENTIFIER=vrrpd _TRANSPORT=journal "$(since)"
check "becomes MASTER, VIP 198.51.100.100/24 on v0" wait_master
check "STATUS= follows the state (1 master)" is StatusText '1 master'
check "/run/vrrpd and the socket belong to group vrrpd" sh -c "nsenter -t $LEADER -a stat -c %G /run/vrrpd /run/vrrpd/vrrpd.sock | sort -u | grep -qx vrrpd"
check "a member of group vrrpd (alice) may run vrrpctl status" E su -s /bin/sh alice -c 'vrrpctl status'
check "a non-member (bob) may not, and is told why" sh -c "nsenter -t $LEADER -a su -s /bin/sh bob -c 'vrrpctl status' 2>&1 | grep -q 'ermission'"
pid=$(prop MainPID)
E sed -i 's/priority: 150/priority: 160/' /etc/vrrpd/vrrpd.yaml
check "systemctl reload vrrpd (the priority changed)" E systemctl reload vrrpd
check "still running with the same MainPID after reload" is MainPID "$pid"
check "ExecReload (vrrpctl reload) applied it in place" \
    journal_has 'reload of /etc/vrrpd/vrrpd.yaml applied: 0 unchanged, 1 changed, 0 added, 0 removed' -u vrrpd "$(since)"
check "... still MASTER, at the new priority" sh -c "nsenter -t $LEADER -a vrrpctl status | grep -q 'MASTER  160(160)'"
check "vrrpctl status shows the reload" sh -c "nsenter -t $LEADER -a vrrpctl status | grep -q 'generation 2.*last reload .*: applied'"
E systemctl kill -s HUP vrrpd
check "SIGHUP reloads too (the file is unchanged now)" eventually \
    journal_has 'reload of /etc/vrrpd/vrrpd.yaml applied: 1 unchanged, 0 changed, 0 added, 0 removed' -u vrrpd "$(since)"
E sh -c 'echo "bogus: 1" >> /etc/vrrpd/vrrpd.yaml'
check "reload with a bad file fails" fails E systemctl reload vrrpd
check "... names file, key and line in the journal" journal_has 'vrrpd.yaml: bogus \(line [0-9]+\): unknown key' -u vrrpd "$(since)"
check "... and vrrpd keeps running, same MainPID" is MainPID "$pid"
restore_config
check "systemctl stop vrrpd" E systemctl stop vrrpd
check "Result=success" is Result success
check "ExecMainStatus=0" is ExecMainStatus 0
check "VIP removed on stop" fails has_vip
check "/run/vrrpd removed (RuntimeDirectory)" fails E test -e /run/vrrpd

echo "== sd_notify messages (systemd at debug log level)"
debug debug
reset_journal_mark
check "systemctl start vrrpd" E systemctl start vrrpd
check "READY=1 with STATUS= from the main process" \
    journal_has 'vrrpd.service: Got notification message from PID [0-9]+ \(READY=1, STATUS=' "$(since)"
check "systemctl reload vrrpd" E systemctl reload vrrpd
check "RELOADING=1 (with MONOTONIC_USEC) when a reload begins" \
    journal_has 'vrrpd.service: Got notification message from PID [0-9]+ \(RELOADING=1, MONOTONIC_USEC=' "$(since)"
check "systemctl stop vrrpd" E systemctl stop vrrpd
check "STOPPING=1 sent" journal_has 'vrrpd.service: Got notification message from PID [0-9]+ \(STOPPING=1' "$(since)"
debug info

echo "== starts refused"
reset_journal_mark
E sh -c 'echo "bogus: 1" >> /etc/vrrpd/vrrpd.yaml'
check "an invalid file fails the start (ExecCondition exit 255), not skips it" fails E systemctl start vrrpd
check "... Result=exit-code" is Result exit-code
check "... with the sentence in the journal" journal_has 'vrrpd.yaml: bogus \(line [0-9]+\): unknown key' -u vrrpd "$(since)"
E systemctl reset-failed vrrpd
restore_config
reset_journal_mark
E sed -i 's/interface: v0/interface: v9/' /etc/vrrpd/vrrpd.yaml
check "an interface that does not exist fails the start" fails E systemctl start vrrpd
check "... with the reason in the journal" journal_has 'interface v9: not found' -u vrrpd "$(since)"
E systemctl stop vrrpd
E systemctl reset-failed vrrpd 2>/dev/null
restore_config

echo "== drop-in User=nobody"
E mkdir -p /etc/systemd/system/vrrpd.service.d
E sh -c 'printf "[Service]\nUser=nobody\n" > /etc/systemd/system/vrrpd.service.d/check.conf && systemctl daemon-reload'
check "systemctl start vrrpd" E systemctl start vrrpd
check "main process runs as nobody:vrrpd" sh -c "nsenter -t $LEADER -a ps -o user=,group= -p \$(nsenter -t $LEADER -a systemctl show -p MainPID --value vrrpd) | grep -Eq '^nobody +vrrpd$'"
check "ambient/effective capabilities are exactly NET_ADMIN + NET_RAW" \
    sh -c "nsenter -t $LEADER -a grep -E '^Cap(Eff|Amb):' /proc/\$(nsenter -t $LEADER -a systemctl show -p MainPID --value vrrpd)/status | awk '{print \$2}' | sort -u | grep -qx 0000000000003000"
check "becomes MASTER, VIP added (netlink + raw sockets work unprivileged)" wait_master
check "vrrpctl status (root) works" E vrrpctl status
# The drained state file in StateDirectory=, which systemd hands to User=: a drain survives a restart.
drained_on_disk() { E grep -q '"lab-v4": "hard"' /var/lib/vrrpd/drained.json; }
backup_drained() { E vrrpctl status | grep ' BACKUP ' > /dev/null && E vrrpctl status | grep '^lab-v4: drained:' > /dev/null; }
no_vip() { ! has_vip; }
drained_and_gone() { eventually no_vip && drained_on_disk && [[ $(E stat -c %U /var/lib/vrrpd/drained.json) == nobody ]]; }
restart_still_drained() { E systemctl restart vrrpd && eventually backup_drained && sleep 5 && backup_drained && no_vip; }
resume_master() { E vrrpctl resume lab-v4 > /dev/null && wait_master; }
check "vrrpctl drain lab-v4" E vrrpctl drain lab-v4
check "... the VIP goes; /var/lib/vrrpd/drained.json (nobody's) records the drain" drained_and_gone
check "systemctl restart vrrpd: still drained, BACKUP for 5 s, no VIP" restart_still_drained
check "vrrpctl resume lab-v4: MASTER again" resume_master
check "systemctl reload vrrpd" E systemctl reload vrrpd
check "systemctl stop vrrpd" E systemctl stop vrrpd
check "Result=success, status 0" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p Result,ExecMainStatus --value vrrpd | tr '\n' ' ')\" = 'success 0 ' ]"
check "VIP removed on stop" fails has_vip

echo "== drop-in WatchdogSec=3s"
E sh -c 'printf "[Service]\nWatchdogSec=3s\n" > /etc/systemd/system/vrrpd.service.d/check.conf && systemctl daemon-reload'
debug debug
reset_journal_mark
check "systemctl start vrrpd" E systemctl start vrrpd
sleep 7
check "WATCHDOG=1 sent" journal_has 'vrrpd.service: Got notification message from PID [0-9]+ \(WATCHDOG=1' "$(since)"
check "no watchdog restart after 7 s (NRestarts=0, active)" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p NRestarts,ActiveState --value vrrpd | tr '\n' ' ')\" = '0 active ' ]"
debug info
E rm -rf /etc/systemd/system/vrrpd.service.d
E systemctl daemon-reload
E systemctl restart vrrpd

echo "== drop-in realtime.conf, as docs/realtime.md has it, and a track script"
# The documented drop-in, taken from the doc itself: rr for the daemon, SCHED_OTHER again for what it starts.
sed -n '\|^# /etc/systemd/system/vrrpd.service.d/realtime.conf$|,/^```$/{/^```$/d;p}' "$REPO/docs/realtime.md" \
    > "$ROOTFS/root/realtime.conf"
E sh -c 'mkdir -p /etc/systemd/system/vrrpd.service.d && cp /root/realtime.conf /etc/systemd/system/vrrpd.service.d/ &&
    systemctl daemon-reload'
E sh -c '{ printf "%s\n" "track_scripts:" "  chk_sched: {command: [/bin/sleep, \"6\"], interval: 10, timeout: 8}"
    sed "s/^    priority: 150$/&\n    track_scripts: [{name: chk_sched, weight: -60}]/" /root/vrrpd.yaml.good
    } > /etc/vrrpd/vrrpd.yaml'
main_is_rr() { E chrt -p "$(prop MainPID)" | tr '\n' ' ' | grep -E 'SCHED_RR\|SCHED_RESET_ON_FORK.* 1 $' > /dev/null; }
script_is_other() { [[ $(E ps -eo cls=,args= | awk '$2 == "/bin/sleep" && $3 == "6" {print $1}') == TS ]]; }
check "systemctl restart vrrpd (realtime.conf, a track script)" E systemctl restart vrrpd
check "main process: SCHED_RR|SCHED_RESET_ON_FORK, priority 1 (chrt -p)" main_is_rr
check "the track script's process: SCHED_OTHER (ps cls TS)" eventually script_is_other
check "becomes MASTER under SCHED_RR" wait_master
E systemctl stop vrrpd
restore_config
E rm -rf /etc/systemd/system/vrrpd.service.d
E systemctl daemon-reload
E systemctl restart vrrpd

echo "== systemd-analyze security vrrpd"
SECURITY_BEFORE=2.6  # the unit of commit 8c71125 (issue #13), pip-installed, in this same container
score=$(E systemd-analyze security vrrpd --no-pager | sed -n 's/.*Overall exposure level for vrrpd.service: \([0-9.]*\).*/\1/p')
echo "     exposure $score (lower is better; $SECURITY_BEFORE before the package)"
check "exposure no worse than before the package ($SECURITY_BEFORE)" awk -v s="$score" -v b="$SECURITY_BEFORE" 'BEGIN {exit !(s != "" && s <= b)}'

echo "== upgrade to $V2 with a peer (priority 100) and a client pinging the virtual address"
check "vrrpd is MASTER before the upgrade" wait_master
E sh -c 'mkdir -p /run/vrrpd-peer && printf "%s\n" "control_socket: /run/vrrpd-peer/vrrpd.sock" "instances:" \
    "  - {name: lab-v4, interface: p0, vrid: 51, priority: 100, virtual_addresses: [198.51.100.100/24]}" > /root/peer.yaml'
E cp -a /opt/venvs/vrrpd /root/peer-venv
PEER=$(E sh -c 'ip netns exec peer /root/peer-venv/bin/python -m vrrpd.cli.daemon run -c /root/peer.yaml > /root/peer.log 2>&1 & echo $!')
peer_is_backup() { peer_ctl status | grep -q ' BACKUP '; }
check "the peer runs, as BACKUP" eventually peer_is_backup
# -O: a line for every echo not answered before the next is sent, 20 a second.
PING=$(E sh -c 'ip netns exec client ping -n -O -i 0.05 198.51.100.100 > /root/ping.log 2>&1 & echo $!')
check "the client gets answers" eventually E grep -q 'bytes from 198.51.100.100' /root/ping.log
took_before=$(peer_took_over)
main_before=$(prop MainPID)
t=$(now_ms)
check "apt install ./$(basename "$DEB2")" apt_get install "$DEB2"
apt_ms=$(($(now_ms) - t))
check "vrrpd is MASTER again (it preempts the peer)" wait_master 100
back_ms=$(($(now_ms) - t))
sleep 1
E kill "$PING"
sleep 0.3
check "the package is at $V2" sh -c "[ \"\$(nsenter -t $LEADER -a dpkg-query -W -f='\${Version}' vrrpd)\" = '$V2' ]"
check "vrrpd was restarted (a new MainPID): the new code runs" fails is MainPID "$main_before"
moves=$(( $(peer_took_over) - took_before ))
sent=$(E grep -cE 'icmp_seq=' /root/ping.log)
lost=$(E grep -c 'no answer yet' /root/ping.log)
gap=$(E awk '/no answer yet/ {n++; if (n > m) m = n; next} /bytes from/ {n = 0} END {print m + 0}' /root/ping.log)
echo "     apt took $(secs "$apt_ms") s; vrrpd MASTER again after $(secs "$back_ms") s; the peer took over $moves time(s)"
echo "     pings: $lost of $sent unanswered (every 50 ms): longest outage $(secs $((gap * 50))) s"
check "the peer took the address over while vrrpd restarted (a graceful hand-over)" test "$moves" -eq 1
# A graceful stop (priority 0) lets the backup take over after its Skew_Time (0.61 s at priority 100); without
# it the address would be gone for Master_Down_Interval (3.61 s). The limit is between the two, with margin.
check "longest outage under 3 s" test $((gap * 50)) -lt 3000

echo "== apt remove"
took_before=$(peer_took_over)
check "apt remove vrrpd" apt_get remove vrrpd
check "vrrpd.service stopped" is ActiveState inactive
check "no vrrpd process left (but the peer)" fails sh -c "nsenter -t $LEADER -a ps -eo args | grep -q '[/]etc/vrrpd/vrrpd.yaml'"
check "VIP gone from this host" fails has_vip
peer_took_one() { test "$(( $(peer_took_over) - took_before ))" -eq 1; }
check "... handed over to the peer" eventually peer_took_one
check "/usr/bin/vrrpd and /opt/venvs/vrrpd gone" fails E sh -c 'test -e /usr/bin/vrrpd || test -e /opt/venvs/vrrpd/bin/vrrpd'
check "the configuration stays (dpkg: removed, config-files)" E test -s /etc/vrrpd/vrrpd.yaml

echo "== apt purge"
check "apt purge vrrpd" apt_get purge vrrpd
check "/etc/vrrpd gone" fails E test -e /etc/vrrpd
check "/opt/venvs/vrrpd gone" fails E test -e /opt/venvs/vrrpd
check "/var/lib/vrrpd gone (the drained state)" fails E test -e /var/lib/vrrpd
check "the package is gone from dpkg" fails E dpkg-query -W -f='${Status}\n' vrrpd
check "the unit is gone, and its enablement" fails E sh -c 'systemctl cat vrrpd >/dev/null 2>&1 || test -e /etc/systemd/system/multi-user.target.wants/vrrpd.service'
E kill "$PEER"

E journalctl -b -o short-monotonic --no-pager > "$LOGS/unit-journal.log"
echo "check-systemd-unit: $PASS passed, $FAIL failed in $(secs $(($(now_ms) - T0))) s (container journal: $LOGS/unit-journal.log$( ((FAIL)) && echo ", failures: $LOGS/unit-failures.log"))"
shutdown_container
((FAIL == 0))
