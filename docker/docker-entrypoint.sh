#!/usr/bin/env bash
# A small entrypoint compatible with the official postgres image's, for base images that lack it
# (the Dockerfile installs it only then). On the first start with an empty $PGDATA it runs initdb
# as postgres, creates $POSTGRES_USER (superuser, password $POSTGRES_PASSWORD) and $POSTGRES_DB,
# runs /docker-entrypoint-initdb.d/*.sh and *.sql against a server listening on its socket only,
# and stops it; then it runs the command (postgres) as the postgres user. Environment, as in the
# official image: POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust; or
# POSTGRES_PASSWORD_FILE), POSTGRES_USER (postgres), POSTGRES_DB ($POSTGRES_USER),
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (scram-sha-256), PGDATA.
set -Eeuo pipefail

# A leading option means "postgres with these options", as in the official image.
if [ $# = 0 ] || [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
[ "$1" = postgres ] || exec "$@"

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export LANG="${LANG:-C.UTF-8}"   # initdb takes the cluster's encoding from the locale: UTF8
if [ "$(id -u)" = 0 ]; then
    install -d -m 700 -o postgres -g postgres "$PGDATA"
    chown postgres:postgres "$PGDATA"; chmod 700 "$PGDATA"
    install -d -m 2775 -o postgres -g postgres /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        env HOME=/var/lib/postgresql "${BASH_SOURCE[0]}" "$@"
fi

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD="$(<"$POSTGRES_PASSWORD_FILE")"; fi
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set;" \
            "set it (or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one)" >&2
        exit 1
    fi
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
        ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    # Set-up against a server nobody else can reach yet: socket only.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
    export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"
    psql=(psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
        *.sh)
            echo "$0: running $f"
            # shellcheck disable=SC1090
            if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
        *.sql) echo "$0: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
        *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
        *) if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo "$0: PostgreSQL init process complete; ready for start up."
fi

exec "$@"
