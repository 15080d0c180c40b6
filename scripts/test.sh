#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, doc tests, the conformance suite against the
# memory backend and against real Redis servers that the tests start themselves (on free
# loopback ports, persistence off, killed when the tests end). A Redis server started by hand
# is never used, unless CACHE_TEST_REDIS_URL names one.
#
# What it needs: cargo, the redis-server and redis-cli binaries, memcached, PostgreSQL's server
# binaries (initdb, postgres), and python3 with its venv module (the Django interop tests make a
# virtual environment with Django and django-redis from PyPI once per machine, in
# ~/.cache/cachette/). Every server is started by the tests on free ports, unless
# CACHE_TEST_REDIS_URL, CACHE_TEST_MEMCACHED_URL or CACHE_TEST_POSTGRES_URL names one. When they
# are missing it installs them with apt-get (as root on Debian/Ubuntu) or says exactly what to
# install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: redis-server not found; installing Debian's redis-server package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "scripts/test.sh: redis-server and redis-cli are required by the Redis tests." >&2
    echo "  Debian/Ubuntu: sudo apt-get install redis-server" >&2
    echo "  macOS:         brew install redis" >&2
    echo "  or set CACHE_TEST_REDIS_URL=redis://host:port to a server the tests may write to." >&2
    exit 1
  fi
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: python3 with venv not found; installing Debian's python3 and python3-venv" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  else
    echo "scripts/test.sh: python3 and its venv module are required by the Django interop tests." >&2
    echo "  Debian/Ubuntu: sudo apt-get install python3 python3-venv" >&2
    echo "  macOS:         brew install python" >&2
    exit 1
  fi
fi

# The PostgreSQL tests start their own server (initdb + postgres on a free port, as the
# `postgres` user when run as root), from the binaries on PATH or in /usr/lib/postgresql/*/bin.
pg_found() {
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] && return 0
  done
  return 1
}
if [ -z "${CACHE_TEST_POSTGRES_URL:-}" ] && ! pg_found; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
    # The tests start servers of their own: ask Debian not to create (and start) a main
    # cluster on port 5432.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "scripts/test.sh: the PostgreSQL server binaries (initdb, postgres) are required by the PostgreSQL tests." >&2
    echo "  Debian/Ubuntu: sudo apt-get install postgresql" >&2
    echo "  macOS:         brew install postgresql" >&2
    echo "  or set CACHE_TEST_POSTGRES_URL=postgres://user:password@host:port/db to a server the tests may write to." >&2
    exit 1
  fi
fi

if ! command -v memcached >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: memcached not found; installing Debian's memcached package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null
  else
    echo "scripts/test.sh: memcached (1.6 or later) is required by the memcached tests." >&2
    echo "  Debian/Ubuntu: sudo apt-get install memcached" >&2
    echo "  macOS:         brew install memcached" >&2
    echo "  or set CACHE_TEST_MEMCACHED_URL=memcached://host:port to a server the tests may write to." >&2
    exit 1
  fi
fi

exec cargo test --workspace --all-features "$@"
