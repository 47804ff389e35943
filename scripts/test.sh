#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite. Extra arguments go to pytest.
#
# The storage and audit tests run on SQLite and on PostgreSQL. STORYLOOM_TEST_POSTGRES chooses how PostgreSQL is
# found: `auto` (the default) starts a throwaway server (scripts/postgres.sh) when PostgreSQL is installed and
# otherwise lets those tests skip; `required` (what .ci/run sets) installs it with apt-get when missing and makes
# the PostgreSQL tests fail rather than skip; `off` starts nothing. A STORYLOOM_TEST_POSTGRES_URL already set
# (postgresql+asyncpg://user@host/db, a role that may create databases) is used instead of starting a server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The converted default model is cached between runs (it takes ~20 s to convert).
export STORYLOOM_TEST_MODEL_CACHE=${STORYLOOM_TEST_MODEL_CACHE:-$PWD/.storyloom-cache/models}
export STORYLOOM_TEST_POSTGRES=${STORYLOOM_TEST_POSTGRES:-auto}
if [ -z "${STORYLOOM_TEST_POSTGRES_URL:-}" ] && [ "$STORYLOOM_TEST_POSTGRES" != off ]; then
  source scripts/postgres.sh
  trap storyloom_pg_stop EXIT
  if [ "$STORYLOOM_TEST_POSTGRES" = required ]; then
    storyloom_pg_start install
  else
    storyloom_pg_start || echo "test.sh: the PostgreSQL tests will be skipped" >&2
  fi
fi
# Not exec: the EXIT trap stops the PostgreSQL server after pytest.
.venv/bin/python -m pytest "$@"
