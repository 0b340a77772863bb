#!/usr/bin/env bash
# Benchmarks (make bench): HTTP load through nginx + keymgmtd with wrk, and distributions
# of keys with 1, 10 and 50 versions into the KMS emulator. Figures are printed as ratios
# against baselines measured in the same run (machines here are noisy).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || deploy/install-deps.sh test
exec /usr/bin/python3 tests/bench/bench.py "$@"
