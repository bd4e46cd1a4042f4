#!/usr/bin/env bash
# Accelerator benchmark (issue 13): device, compile time, training steps/s and the
# return reached on brax/ant (4096 envs) and brax/halfcheetah (2048 envs) with their
# published configs; under 8 minutes on one GPU. Writes benchmarks/results/accelerator.json.
#
#   bash benchmarks/accelerator.sh
#   OUT_JSON=/tmp/acc.json ACCEL_SECONDS=60 bash benchmarks/accelerator.sh
#   ACCEL_TINY=1 bash benchmarks/accelerator.sh      # CPU smoke test of the script itself
#
# Settings are environment variables; benchmarks/accelerator.py's docstring lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec "${PYTHON:-python3}" benchmarks/accelerator.py "$@"
