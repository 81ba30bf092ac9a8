#!/usr/bin/env bash
# Manual check (not run by CI): systemd/vrrpd.service under a real systemd (PID 1 of a systemd-nspawn container).
#
#   sudo scripts/check-systemd-unit.sh [--keep] [--worktree] [--no-host-ca] [--workdir DIR]
#
# 1. Debootstraps a minimal bookworm rootfs with what a deployment needs (python3-venv, and gcc,
#    libsystemd-dev, python3-dev, pkg-config for systemd-python's build), copies a clean clone of this
#    repository into /usr/src/vrrpd, and - in a NOT booted container sharing the host network, for PyPI only,
#    without CAP_NET_ADMIN - pip-installs vrrpd into /opt/vrrpd, links /usr/local/bin/vrrpd and vrrpctl,
#    installs the unit as /etc/systemd/system/vrrpd.service and writes a one-instance /etc/vrrpd/vrrpd.yaml.
# 2. Boots the rootfs with systemd as PID 1 and --private-network (its own network namespace: a veth pair
#    v0/v1 with 198.51.100.1/24 on v0 is created inside it), then checks: Type=notify readiness (READY=1,
#    control socket up when `systemctl start` returns), STATUS= in `systemctl status`, vrrpd's own records in
#    the journal (journald handler), `vrrpctl status`, reload (ExecReload is `vrrpctl reload`: a changed file
#    applied in place, SIGHUP the same, a bad file fails the reload and leaves vrrpd running), a clean stop (STOPPING=1, Result=success, status
#    0, virtual address removed), a failing start, and drop-ins User=nobody (ambient capabilities suffice)
#    and User=/Group=vrrpd with WatchdogSec= (group members may use vrrpctl, others not; no watchdog restarts).
#
# --worktree: use the working tree as it is (uncommitted edits and untracked, not ignored, files), not HEAD.
# --no-host-ca: do not hand the host's CA bundle to pip (PIP_CERT); see check-fresh-host.sh.
# --keep: keep the rootfs (DIR/unit-rootfs); by default it is removed, also on failure.
# The container is always powered off (and its nspawn process waited for) before the script exits.
set -uo pipefail

# shellcheck source=scripts/lib-container.sh
. "$(dirname "$0")/lib-container.sh"
container_options "$@"

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

# --- 1. rootfs and installation --------------------------------------------------------------------------
rm -rf --one-file-system "$ROOTFS"
echo "check-systemd-unit: debootstrap ($MIRROR)"
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,procps,iproute2,python3,python3-venv,python3-dev,gcc,libc6-dev,pkg-config,libsystemd-dev \
    bookworm "$ROOTFS" "$MIRROR" > "$LOGS/unit-debootstrap.log" 2>&1 \
    || { tail -20 "$LOGS/unit-debootstrap.log" >&2; die "debootstrap failed"; }
git clone -q "$REPO" "$ROOTFS/usr/src/vrrpd" || die "git clone failed"
if ((WORKTREE)); then
    overlay_worktree "$ROOTFS/usr/src/vrrpd"
fi
echo "check-systemd-unit: vrrpd from $(git -C "$ROOTFS/usr/src/vrrpd" log -1 --format='%h %s')$( ((WORKTREE)) && echo ' + working tree')"

PREP=(systemd-nspawn -q -D "$ROOTFS" --as-pid2 --register=no --keep-unit --console=pipe)
((HOST_CA)) && PREP+=(--bind-ro=/etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt --setenv=PIP_CERT=/run/host-ca.crt)
timeout 900 "${PREP[@]}" sh -ec '
    python3 -m venv /opt/vrrpd
    /opt/vrrpd/bin/pip install -q /usr/src/vrrpd
    ln -sf /opt/vrrpd/bin/vrrpd /usr/local/bin/vrrpd
    ln -sf /opt/vrrpd/bin/vrrpctl /usr/local/bin/vrrpctl
    install -m 0644 /usr/src/vrrpd/systemd/vrrpd.service /etc/systemd/system/vrrpd.service
    mkdir -p /etc/vrrpd
    printf "%s\n" "instances:" "  - name: lab-v4" "    interface: v0" "    vrid: 51" "    priority: 150" \
        "    virtual_addresses: [198.51.100.100/24]" > /etc/vrrpd/vrrpd.yaml
    cp /etc/vrrpd/vrrpd.yaml /etc/vrrpd/vrrpd.yaml.good
    vrrpd check -c /etc/vrrpd/vrrpd.yaml
    groupadd --system vrrpd
    useradd --system --no-create-home --shell /usr/sbin/nologin --gid vrrpd vrrpd
    useradd --create-home --groups vrrpd alice
    useradd --create-home bob
' > "$LOGS/unit-install.log" 2>&1 || { cat "$LOGS/unit-install.log" >&2; die "installing vrrpd in the rootfs failed"; }

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
fails() { ! "$@"; }
eventually() { for _ in $(seq 40); do "$@" && return 0; sleep 0.25; done; return 1; }
# Not `grep -q`: it would stop reading early, and with pipefail journalctl's SIGPIPE would fail the check.
journal_has() { E journalctl -b -o cat --no-pager "${@:2}" | grep -E "$1" > /dev/null; }
wait_master() {
    for _ in $(seq 50); do
        E vrrpctl status 2>/dev/null | grep ' MASTER ' > /dev/null \
            && E ip -br addr show v0 | grep 198.51.100.100/24 > /dev/null && return 0
        sleep 0.2
    done
    return 1
}
reset_journal_mark() { MARK=$(E date '+%Y-%m-%d %H:%M:%S'); sleep 1; }
since() { echo "--since=$MARK"; }
restore_config() { E cp /etc/vrrpd/vrrpd.yaml.good /etc/vrrpd/vrrpd.yaml; }

[[ $(readlink "/proc/$LEADER/ns/net") != "$HOST_NETNS" ]] || die "container leader $LEADER shares the host netns"
E sh -ec 'ip link add v0 type veth peer name v1; ip addr add 198.51.100.1/24 dev v0; ip link set v0 up; ip link set v1 up'
# At debug log level systemd logs every sd_notify message it gets, but then (in this container at least)
# journald files the service's records under init.scope, so `journalctl -u vrrpd` misses them: debug is
# only switched on for the checks that read those messages.
debug() { E systemctl log-level "$1"; }

echo "== as root"
reset_journal_mark
check "systemctl start vrrpd" E systemctl start vrrpd
check "control socket up when start returns (READY=1 sent after it)" E vrrpctl status
check "systemctl status shows the STATUS= line" sh -c "nsenter -t $LEADER -a systemctl status vrrpd --no-pager | grep -q 'Status: \"1 '"
check "vrrpd's log lines in journalctl -u vrrpd, via the journald handler" \
    journal_has 'vrrpd [0-9.]+ started: 1 instance' -u vrrpd SYSLOG_IDENTIFIER=vrrpd _TRANSPORT=journal "$(since)"
check "becomes MASTER, VIP 198.51.100.100/24 on v0" wait_master
check "STATUS= follows the state (1 master)" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p StatusText --value vrrpd)\" = '1 master' ]"
pid=$(prop MainPID)
E sed -i 's/priority: 150/priority: 160/' /etc/vrrpd/vrrpd.yaml
check "systemctl reload vrrpd (the priority changed)" E systemctl reload vrrpd
check "still running with the same MainPID after reload" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p MainPID --value vrrpd)\" = $pid ]"
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
check "... and vrrpd keeps running, same MainPID" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p MainPID --value vrrpd)\" = $pid ]"
restore_config
check "systemctl stop vrrpd" E systemctl stop vrrpd
check "Result=success" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p Result --value vrrpd)\" = success ]"
check "ExecMainStatus=0" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p ExecMainStatus --value vrrpd)\" = 0 ]"
check "VIP removed on stop" fails sh -c "nsenter -t $LEADER -a ip -br addr show v0 | grep -q 198.51.100.100"
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

echo "== a start that fails (interface v9 does not exist)"
reset_journal_mark
E sed -i 's/interface: v0/interface: v9/' /etc/vrrpd/vrrpd.yaml
check "systemctl start fails" fails E systemctl start vrrpd
check "... with the reason in the journal" journal_has 'interface v9: not found' -u vrrpd "$(since)"
E systemctl stop vrrpd
E systemctl reset-failed vrrpd 2>/dev/null
restore_config

echo "== drop-in User=nobody"
E mkdir -p /etc/systemd/system/vrrpd.service.d
E sh -c 'printf "[Service]\nUser=nobody\n" > /etc/systemd/system/vrrpd.service.d/check.conf && systemctl daemon-reload'
reset_journal_mark
check "systemctl start vrrpd" E systemctl start vrrpd
check "main process runs as nobody" sh -c "nsenter -t $LEADER -a ps -o user= -p \$(nsenter -t $LEADER -a systemctl show -p MainPID --value vrrpd) | grep -qx nobody"
check "ambient/effective capabilities are exactly NET_ADMIN + NET_RAW" \
    sh -c "nsenter -t $LEADER -a grep -E '^Cap(Eff|Amb):' /proc/\$(nsenter -t $LEADER -a systemctl show -p MainPID --value vrrpd)/status | awk '{print \$2}' | sort -u | grep -qx 0000000000003000"
check "becomes MASTER, VIP added (netlink + raw sockets work unprivileged)" wait_master
check "vrrpctl status (root) works" E vrrpctl status
check "systemctl reload vrrpd" E systemctl reload vrrpd
check "systemctl stop vrrpd" E systemctl stop vrrpd
check "Result=success, status 0" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p Result,ExecMainStatus --value vrrpd | tr '\n' ' ')\" = 'success 0 ' ]"
check "VIP removed on stop" fails sh -c "nsenter -t $LEADER -a ip -br addr show v0 | grep -q 198.51.100.100"

echo "== drop-in User=vrrpd Group=vrrpd WatchdogSec=3s"
E sh -c 'printf "[Service]\nUser=vrrpd\nGroup=vrrpd\nWatchdogSec=3s\n" > /etc/systemd/system/vrrpd.service.d/check.conf && systemctl daemon-reload'
debug debug
reset_journal_mark
check "systemctl start vrrpd" E systemctl start vrrpd
check "/run/vrrpd and the socket belong to group vrrpd" sh -c "nsenter -t $LEADER -a stat -c %G /run/vrrpd /run/vrrpd/vrrpd.sock | sort -u | grep -qx vrrpd"
check "a member of group vrrpd (alice) may run vrrpctl status" E su -s /bin/sh alice -c 'vrrpctl status'
check "a non-member (bob) may not" fails E su -s /bin/sh bob -c 'vrrpctl status'
sleep 7
check "WATCHDOG=1 sent" journal_has 'vrrpd.service: Got notification message from PID [0-9]+ \(WATCHDOG=1' "$(since)"
check "no watchdog restart after 7 s (NRestarts=0, active)" sh -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p NRestarts,ActiveState --value vrrpd | tr '\n' ' ')\" = '0 active ' ]"
check "systemctl stop vrrpd" E systemctl stop vrrpd
E rm -rf /etc/systemd/system/vrrpd.service.d
E systemctl daemon-reload
debug info

echo "== systemd-analyze security vrrpd"
E systemd-analyze security vrrpd --no-pager | tail -1
E journalctl -b -o short-monotonic --no-pager > "$LOGS/unit-journal.log"

echo "check-systemd-unit: $PASS passed, $FAIL failed (container journal: $LOGS/unit-journal.log$( ((FAIL)) && echo ", failures: $LOGS/unit-failures.log"))"
shutdown_container
((FAIL == 0))
