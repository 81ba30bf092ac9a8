#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite: lint, unit/property tests, and (as root) the netns tests.
# A skipped test fails the run here: CI must exercise the real kernel, not report it as optional.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

.venv/bin/ruff check .
export VRRPD_NO_SKIPS=1
.venv/bin/python -m pytest tests netns-tests \
    --cov=vrrpd --cov-report=term-missing:skip-covered "$@"
