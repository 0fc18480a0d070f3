#!/usr/bin/env bash
# Make sure the services the integration tests use are running on loopback: PostgreSQL (5432) and Redis
# (6379). Starts a local one that is installed but stopped; says exactly what to install otherwise.
# The S3 endpoint (moto_server) is started by the tests themselves. Safe to run again.
set -euo pipefail

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do reachable "$1" && return 0; sleep 0.2; done
  return 1
}

if ! reachable 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    wait_port 5432 || echo "PostgreSQL did not start" >&2
  else
    echo "PostgreSQL is not running on 127.0.0.1:5432. Install it (Debian/Ubuntu: apt-get install postgresql)," >&2
    echo "allow local trust auth for user postgres, or point SCHEDGEN_TEST_POSTGRES_URL at a server." >&2
  fi
fi

if ! reachable 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis" >&2
    mkdir -p /tmp/schedgen-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/schedgen-redis
    wait_port 6379 || echo "Redis did not start" >&2
  else
    echo "Redis is not running on 127.0.0.1:6379. Install it (Debian/Ubuntu: apt-get install redis-server)" >&2
    echo "or point SCHEDGEN_TEST_REDIS_URL at a server." >&2
  fi
fi

# The browser tests drive Debian's Chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "installing chromium and chromium-driver (browser tests)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
      || echo "could not install chromium" >&2
  else
    echo "Chromium is missing: the browser tests need it (Debian/Ubuntu: sudo apt-get install chromium chromium-driver)" >&2
  fi
fi
