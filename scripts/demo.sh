#!/usr/bin/env bash
# Sets everything up, then runs the live demo: three vrrpd routers in network namespaces, a failover, clean-up.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [[ -f vrrpd/demo.py ]]; then
    exec .venv/bin/python -m vrrpd.demo "$@"
fi
echo "demo: the daemon and its live demo arrive with issue #3; for now see the protocol core in action:"
exec .venv/bin/python -m pytest -q tests/test_fakelan_scenarios.py
