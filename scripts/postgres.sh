#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a fresh cluster in a temporary folder, reachable only through a
# unix socket in that folder (no port to collide with), fsync off, trust authentication, one superuser
# `storyloom` and an empty database `storyloom`. Nothing of it outlives `storyloom_pg_stop`.
#
#   source scripts/postgres.sh
#   storyloom_pg_start [install]   # "install": apt-get install PostgreSQL if its programs are missing (CI)
#   trap storyloom_pg_stop EXIT    # stops the server and deletes the folder
#
# storyloom_pg_start exports STORYLOOM_TEST_POSTGRES_URL (postgresql+asyncpg://storyloom@/storyloom?host=DIR).
# It returns 1 when PostgreSQL is not installed (and was not to be installed); any other failure is fatal.
#
#   bash scripts/postgres.sh run [install] -- COMMAND...   # the same around one command

STORYLOOM_PG_DIR=${STORYLOOM_PG_DIR:-}

storyloom_pg_bindir() {
  # Debian keeps pg_ctl and initdb in /usr/lib/postgresql/<version>/bin, outside PATH.
  local found
  if found=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$found")"
    return 0
  fi
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ] || return 1
  echo "$found"
}

storyloom_pg_install() {
  echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  # The package starts its own cluster on 5432; the tests do not use it.
}

# Runs a command as the cluster's owner: initdb and postgres refuse to run as root.
_storyloom_pg_as_owner() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$STORYLOOM_PG_OWNER" -- "$@"
  else
    su -s /bin/sh "$STORYLOOM_PG_OWNER" -c "$(printf '%q ' "$@")"
  fi
}

storyloom_pg_start() {
  local bin started
  started=$EPOCHREALTIME
  if ! bin=$(storyloom_pg_bindir); then
    if [ "${1:-}" = install ]; then
      storyloom_pg_install
      bin=$(storyloom_pg_bindir) || { echo "postgres.sh: PostgreSQL is still not installed" >&2; exit 1; }
    else
      echo "postgres.sh: PostgreSQL is not installed (initdb/pg_ctl not found)" >&2
      return 1
    fi
  fi
  if [ "$(id -u)" -eq 0 ]; then
    STORYLOOM_PG_OWNER=postgres
    getent passwd postgres >/dev/null || STORYLOOM_PG_OWNER=nobody
  else
    STORYLOOM_PG_OWNER=$(id -un)
  fi
  STORYLOOM_PG_BIN=$bin
  STORYLOOM_PG_DIR=$(mktemp -d /tmp/storyloom-pg.XXXXXX)
  chmod 755 "$STORYLOOM_PG_DIR"
  [ "$(id -u)" -ne 0 ] || chown "$STORYLOOM_PG_OWNER" "$STORYLOOM_PG_DIR"
  export STORYLOOM_PG_DIR STORYLOOM_PG_BIN STORYLOOM_PG_OWNER
  _storyloom_pg_as_owner "$bin/initdb" -D "$STORYLOOM_PG_DIR/data" -U storyloom --auth=trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$STORYLOOM_PG_DIR/initdb.log" 2>&1 \
    || { cat "$STORYLOOM_PG_DIR/initdb.log" >&2; exit 1; }
  # listen_addresses='' : the unix socket in the folder only. fsync off: a test server need not survive a crash.
  _storyloom_pg_as_owner "$bin/pg_ctl" -D "$STORYLOOM_PG_DIR/data" -l "$STORYLOOM_PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$STORYLOOM_PG_DIR' -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB" \
    start >/dev/null || { cat "$STORYLOOM_PG_DIR/server.log" >&2; exit 1; }
  _storyloom_pg_as_owner "$bin/createdb" -h "$STORYLOOM_PG_DIR" -U storyloom storyloom
  export STORYLOOM_TEST_POSTGRES_URL="postgresql+asyncpg://storyloom@/storyloom?host=$STORYLOOM_PG_DIR"
  echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $STORYLOOM_PG_DIR," \
    "started in $(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $started}") s" >&2
}

storyloom_pg_stop() {
  [ -n "$STORYLOOM_PG_DIR" ] && [ -d "$STORYLOOM_PG_DIR" ] || return 0
  if [ -f "$STORYLOOM_PG_DIR/data/postmaster.pid" ]; then
    # immediate: the data is thrown away, so there is nothing to checkpoint.
    _storyloom_pg_as_owner "$STORYLOOM_PG_BIN/pg_ctl" -D "$STORYLOOM_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 \
      || echo "postgres.sh: pg_ctl stop failed; see $STORYLOOM_PG_DIR/server.log" >&2
  fi
  rm -rf "$STORYLOOM_PG_DIR"
  STORYLOOM_PG_DIR=
  unset STORYLOOM_TEST_POSTGRES_URL
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ "${1:-}" != run ]; then
    echo "usage: bash scripts/postgres.sh run [install] -- COMMAND...   (or: source it)" >&2
    exit 2
  fi
  shift
  mode=
  if [ "${1:-}" = install ]; then mode=install; shift; fi
  [ "${1:-}" = -- ] && shift
  trap storyloom_pg_stop EXIT
  storyloom_pg_start $mode
  "$@"
fi
