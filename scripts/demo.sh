#!/usr/bin/env bash
# Sets everything up, then runs the live demo: three vrrpd routers in network namespaces, a failover, clean-up.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
