#!/usr/bin/env bash
# The GPU check, one command on a lent GPU machine (no network): bash benchmarks/gpu_check.sh OUTDIR
#   --dry-run        check the wheels, the imports and every command; run no GPU part (automatic without a GPU)
#   --fake-cpu       run the real parts with the CPU in place of CUDA (to test this script on a CPU machine)
#   --budget S       seconds for the parts (default 440: with the summary, under 8 minutes)
#   --wheels DIR     the wheels of array-api-compat and array-api-strict (default .whl, from benchmarks/gpu_wheels.sh)
#   --require-wheels a dry run fails too when the wheels are missing
# The driver is benchmarks/gpu_check.py (standard library only); OUTDIR/gpu_check.md is the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
# tensorweaver comes from this checkout; the driver adds the unpacked wheels in front
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
