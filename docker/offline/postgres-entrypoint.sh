#!/bin/sh
# The official postgres image's entrypoint, reduced to what chaosgate relies on: a first start
# initialises $PGDATA with POSTGRES_USER and POSTGRES_HOST_AUTH_METHOD, creates POSTGRES_DB on a
# server that accepts no TCP connection yet, then runs the real server as `postgres`, listening on
# every interface of the container.
set -eu
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
USER_NAME="${POSTGRES_USER:-postgres}"
AUTH="${POSTGRES_HOST_AUTH_METHOD:-trust}"
case "${1:-postgres}" in -*) set -- postgres "$@" ;; esac
if [ "${1:-}" != postgres ]; then exec "$@"; fi
shift
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  as_postgres "$PGBIN/initdb" -D "$PGDATA" -U "$USER_NAME" -A "$AUTH" -E UTF8 --no-sync \
    --no-instructions >/dev/null
  echo "host all all all $AUTH" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != "$USER_NAME" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
    as_postgres "$PGBIN/psql" -q -h /run/postgresql -U "$USER_NAME" -d postgres \
      -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -s stop
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" "$@"
