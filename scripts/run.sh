#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs Storyloom: on Discord when DISCORD_TOKEN is set, else the terminal mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/storyloom "$@"
