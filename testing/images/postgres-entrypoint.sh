#!/bin/sh
# Entrypoint of the postgres image built by testing.images. It keeps the contract of the
# official image that k8s/platform relies on: POSTGRES_USER (default postgres),
# POSTGRES_PASSWORD (required on first start), POSTGRES_DB (default: the user), PGDATA
# (initialised when empty, scram-sha-256 everywhere, listening on all addresses, port 5432).
# Any other command (psql, pg_isready) runs as given.
set -eu
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi
shift
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: the database is uninitialised and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=scram-sha-256 \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        printf 'CREATE DATABASE "%s";\n\n' "$POSTGRES_DB" \
            | postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    echo "postgres entrypoint: initialised $PGDATA for user $POSTGRES_USER"
fi
exec postgres -D "$PGDATA" "$@"
