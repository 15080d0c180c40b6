#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, doc tests, the conformance suite against the
# memory backend and against real Redis servers that the tests start themselves (on free
# loopback ports, persistence off, killed when the tests end). A Redis server started by hand
# is never used, unless CACHE_TEST_REDIS_URL names one.
#
# What it needs: cargo, the redis-server and redis-cli binaries, and memcached (started the
# same way, on free ports, unless CACHE_TEST_MEMCACHED_URL names one). When they are missing it
# installs them with apt-get (as root on Debian/Ubuntu) or says exactly what to install.
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
