#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that otelcol-analytics (and its tests)
# use answer on 127.0.0.1:5432 and 127.0.0.1:6379: starts them when they are
# installed but stopped, installs them from Debian's packages when absent.
# With --chromium it also installs Debian's chromium for the report-page test.
set -euo pipefail

log() { printf 'ensure-services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
pg_login() { psql -h 127.0.0.1 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "PostgreSQL not installed: installing it from Debian's packages"
    apt_install postgresql postgresql-client
  fi
  if ! pg_up; then
    local ver
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $ver"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
    pg_up || { log "PostgreSQL did not come up on 127.0.0.1:5432"; exit 1; }
  fi
  if ! pg_login; then
    # A fresh Debian install asks for passwords on 127.0.0.1 and has no
    # database "test": make it like the machines we develop on.
    log "configuring PostgreSQL: trust auth on 127.0.0.1 and database test"
    local ver hba
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
      as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    fi
    psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname='test'" | grep -q 1 ||
      psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test'
    pg_login || { log "cannot log in to PostgreSQL as postgres@127.0.0.1/test"; exit 1; }
  fi
  # The database of the default otelcol-config.yaml (ANALYTICS_POSTGRES_DSN).
  if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname='analytics'" | grep -q 1; then
    log "creating database analytics"
    psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database analytics' ||
      psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname='analytics'" | grep -q 1
  fi
  log "PostgreSQL answers on 127.0.0.1:5432 (databases test and analytics)"
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    log "Redis not installed: installing it from Debian's packages"
    apt_install redis-server
  fi
  if ! redis_up; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 40); do redis_up && break; sleep 0.25; done
    redis_up || { log "Redis did not come up on 127.0.0.1:6379"; exit 1; }
  fi
  log "Redis answers on 127.0.0.1:6379"
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian's chromium (for the report-page test)"
    apt_install chromium
  fi
  # A CJK font, so that the Chinese report renders as text, not boxes, in screenshots.
  if ! fc-list 2>/dev/null | grep -qi -e 'wqy' -e 'noto.*cjk'; then
    log "installing a CJK font (fonts-wqy-microhei)"
    apt_install fonts-wqy-microhei
  fi
}

ensure_postgres
ensure_redis
if [ "${1:-}" = "--chromium" ]; then ensure_chromium; fi
