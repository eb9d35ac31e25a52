#!/bin/bash
# Entrypoint of hack/images.sh's PostgreSQL images. It keeps the part of the
# official postgres image's contract that Holdfast's Dedicated database uses,
# so the same StatefulSet runs on either image:
#   - arguments starting with "-" are arguments to postgres;
#   - on an empty $PGDATA: initdb with $POSTGRES_USER as the superuser, its
#     password from $POSTGRES_PASSWORD or the file $POSTGRES_PASSWORD_FILE, and
#     $POSTGRES_INITDB_ARGS; then $POSTGRES_DB is created, over the local socket
#     only (the server listens on no TCP address meanwhile);
#   - runs as whatever non-root uid the pod gives it (no gosu: the pod's
#     securityContext picks the user).
set -Eeuo pipefail

if [[ ${1:-} == -* ]]; then set -- postgres "$@"; fi
if [[ ${1:-} != postgres ]]; then exec "$@"; fi

password=${POSTGRES_PASSWORD:-}
if [[ -n ${POSTGRES_PASSWORD_FILE:-} ]]; then password=$(<"$POSTGRES_PASSWORD_FILE"); fi
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
: "${PGDATA:?PGDATA is not set}"

mkdir -p "$PGDATA"
chmod 0700 "$PGDATA" 2>/dev/null || true
if [[ ! -s $PGDATA/PG_VERSION ]]; then
  if [[ -z $password ]]; then
    echo "holdfast-postgres: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
  initdb --username="$user" --pwfile=<(printf '%s\n' "$password") ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
  # The official image allows password logins from anywhere; an hba_file
  # given on the command line replaces this one.
  printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  shift
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' $*" start
  if [[ $db != postgres ]]; then
    PGPASSWORD=$password psql -v ON_ERROR_STOP=1 --username "$user" --no-password --dbname postgres \
      --set db="$db" <<<'CREATE DATABASE :"db";'
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop
  set -- postgres "$@"
fi
exec "$@"
