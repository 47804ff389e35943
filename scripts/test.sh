#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The converted default model is cached between runs (it takes ~20 s to convert).
export STORYLOOM_TEST_MODEL_CACHE=${STORYLOOM_TEST_MODEL_CACHE:-$PWD/.storyloom-cache/models}
exec .venv/bin/python -m pytest "$@"
