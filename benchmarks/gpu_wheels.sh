#!/usr/bin/env bash
# Download, on a machine with network, the two pure-Python wheels that the GPU machine lacks into .whl/
# (git-ignored; send it along with the checkout). benchmarks/gpu_check.py reads the pins below.
# They are the versions the test suite runs with; pyproject.toml asks for array-api-compat>=1.11 and
# array-api-strict>=2.3.
set -euo pipefail
cd "$(dirname "$0")/.."
PINS=(array-api-compat==1.16.0 array-api-strict==2.6.1)
mkdir -p .whl
rm -f .whl/array_api_compat-*.whl .whl/array_api_strict-*.whl
# --python-version: the GPU machine's Python 3.12, whatever Python runs pip here
"${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl "${PINS[@]}"
ls -l .whl
