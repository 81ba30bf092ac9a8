#!/usr/bin/env bash
# Manual check (not run by CI): do the README's two commands work on a FRESH Debian 12 host?
#
#   sudo scripts/check-fresh-host.sh [--keep] [--worktree] [--no-host-ca] [--workdir DIR]
#
# Debootstraps a minimal bookworm rootfs (minbase + systemd, systemd-sysv, dbus: no python3, no iproute2,
# no compiler, so scripts/setup.sh must bring every package it needs), copies a clean clone of this
# repository's committed HEAD into /root/vrrpd, and runs ./scripts/test.sh then ./scripts/demo.sh in it as
# root, each timed. Needs a Debian host (debootstrap, systemd-nspawn; installed if missing) and network
# access to the Debian mirror and PyPI.
#
# The container is not booted (--as-pid2) and shares the host's network namespace, because apt and pip need
# the network. That is only acceptable because everything test.sh and demo.sh do to the network happens in
# namespaces they create themselves (netns-tests/lab.py: `ip netns add`, veths created in the lab's bridge
# namespace with the peer placed straight into a router namespace, sysctls written under `ip netns exec`).
# For those to work the container gets CAP_NET_ADMIN (nspawn withholds it without --private-network) and a
# writable /proc/sys/net (SYSTEMD_NSPAWN_API_VFS_WRITABLE=network). The root namespace's links, addresses
# and routes are compared before and after, and a difference fails the check.
#
# --no-host-ca: by default the host's CA bundle is bind-mounted read-only and given to pip (PIP_CERT), for
#   networks whose egress re-signs TLS; it is what a host on that network would need too. Without the
#   option pip uses its own bundle, as on an ordinary fresh host.
# --worktree: test the working tree as it is (uncommitted edits and untracked, not ignored, files), not HEAD.
# --keep: leave the rootfs (DIR/fresh-rootfs) for inspection; by default it is removed, also on failure.
# Idempotent: a previous rootfs is removed first.
set -euo pipefail

# shellcheck source=scripts/lib-container.sh
. "$(dirname "$0")/lib-container.sh"
container_options "$@"

ROOTFS=$WORK/fresh-rootfs
LOGS=$WORK/logs
mkdir -p "$WORK" "$LOGS"

container_tools
MIRROR=$(mirror debian)
SECURITY=$(mirror debian-security)

cleanup() {
    if ((KEEP)); then
        echo "check-fresh-host: rootfs kept in $ROOTFS"
    else
        rm -rf --one-file-system "$ROOTFS"
    fi
}
trap cleanup EXIT

elapsed() { echo "$(( $(date +%s%N) / 1000000 - $1 ))" | awk '{printf "%.1f s", $1 / 1000}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
root_netns() { ip -o link show | sed 's/ state .*//'; ip -o addr show; ip route show table all; }

rm -rf --one-file-system "$ROOTFS"
t=$(now_ms)
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$ROOTFS" "$MIRROR" \
    > "$LOGS/debootstrap.log" 2>&1 || { tail -20 "$LOGS/debootstrap.log" >&2; exit 1; }
echo "check-fresh-host: debootstrap $(elapsed "$t") ($MIRROR)"
# A real bookworm host also has the updates and security suites.
rm -f "$ROOTFS/etc/apt/sources.list"
cat > "$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
git clone -q "$REPO" "$ROOTFS/root/vrrpd"
echo "check-fresh-host: testing commit $(git -C "$ROOTFS/root/vrrpd" log -1 --format='%h %s')"
if ((WORKTREE)); then
    # The working tree as it is: uncommitted edits and untracked files, not ignored ones (.venv).
    overlay_worktree "$ROOTFS/root/vrrpd"
    echo "check-fresh-host: with the working tree as it is (uncommitted and untracked files)"
elif [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then
    echo "check-fresh-host: note: uncommitted changes in $REPO are NOT part of this check (see --worktree)"
fi

NSPAWN=(systemd-nspawn -q -D "$ROOTFS" --as-pid2 --register=no --keep-unit --console=pipe
        --capability=CAP_NET_ADMIN --chdir=/root/vrrpd)
((HOST_CA)) && NSPAWN+=(--bind-ro=/etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt --setenv=PIP_CERT=/run/host-ca.crt)
in_container() {
    # NOTIFY_SOCKET is nspawn's, not something a login shell on a real host has. (nspawn may end with
    # "Attempted to remove disk file system under ..., and we can't allow that": harmless.)
    SYSTEMD_NSPAWN_API_VFS_WRITABLE=network timeout 1800 "${NSPAWN[@]}" env -u NOTIFY_SOCKET "$@" 2>&1
}

before=$(root_netns)
status=0
for cmd in test demo; do
    t=$(now_ms)
    if in_container "./scripts/$cmd.sh" > "$LOGS/$cmd.log"; then
        echo "check-fresh-host: ./scripts/$cmd.sh OK in $(elapsed "$t") (log: $LOGS/$cmd.log)"
    else
        status=1
        echo "check-fresh-host: ./scripts/$cmd.sh FAILED after $(elapsed "$t"); its last lines:" >&2
        tail -25 "$LOGS/$cmd.log" >&2
    fi
done
grep -hE '^setup: ready|^=+ .*(passed|failed|error).* =+$' "$LOGS/test.log" || true

# Packages setup.sh installs must not leave keepalived or FRR enabled at boot.
enabled=$(in_container systemctl is-enabled keepalived.service frr.service || true)
if grep -qx enabled <<< "$enabled"; then
    status=1
    echo "check-fresh-host: keepalived/frr left enabled at boot: $(grep -v Attempted <<< "$enabled" | tr '\n' ' ')" >&2
fi

after=$(root_netns)
if [[ $before != "$after" ]]; then
    status=1
    echo "check-fresh-host: the root network namespace changed during the run (or something else changed it):" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
fi
((status == 0)) && echo "check-fresh-host: all good"
exit "$status"
