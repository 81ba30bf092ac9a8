#!/usr/bin/env bash
# Sets up a Debian 12 host (as root) for vrrpd development: Debian packages, a venv in .venv and vrrpd in it.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python build deps (systemd-python compiles against libsystemd), lab tools for netns tests and the demo,
# keepalived and FRR as reference peers, nftables for Accept_Mode, prometheus for promtool (its server never runs
# in the root namespace).
PKGS=(python3 python3-venv python3-dev gcc pkg-config libsystemd-dev iproute2 iputils-ping
      keepalived frr nftables tshark tcpdump arping ndisc6 procps systemd groff-base
      prometheus)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages (${missing[*]}); run as root" >&2
        exit 1
    fi
    # Installing keepalived or FRR must never start them in the root namespace: invoke-rc.d honours policy-rc.d.
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    trap '[[ $made_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # keepalived, FRR and prometheus are only ever run by our tests inside namespaces; keep them from starting at boot too.
    # Not only when systemd is running: in a chroot or container image build (no /run/systemd/system) the
    # packages still enable their units, and systemctl then edits the symlinks offline.
    systemctl disable --quiet keepalived.service frr.service prometheus.service 2>/dev/null || true
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
# pip's build chatter goes to a log; it is shown only when the install fails.
if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test]' -c debian/requirements.txt; } > .venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    echo "setup: pip install failed (log above, also in .venv/pip.log)" >&2
    exit 1
fi
echo "setup: ready ($(.venv/bin/python --version), vrrpd $(.venv/bin/python -c 'import vrrpd; print(vrrpd.__version__)'))"
