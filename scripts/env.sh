# Shared settings for tasb's scripts. Source it; override any value from the environment.
# shellcheck shell=bash
TASB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TASB_ROOT
export PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
# Where the local cluster lives: outside root's home, so the postgres user can read it.
export TASB_HOME="${TASB_HOME:-/var/tmp/tasb}"
export TASB_PGDATA="${TASB_PGDATA:-$TASB_HOME/data}"
export TASB_SOCKET_DIR="${TASB_SOCKET_DIR:-$TASB_HOME/run}"
export TASB_PORT="${TASB_PORT:-5499}"
export TASB_SHARED="${TASB_SHARED:-$TASB_ROOT/../shared}"
# ONNX Runtime's shared library, installed by setup.sh from the PyPI wheel.
export TASB_ORT_LIB="${TASB_ORT_LIB:-$TASB_HOME/lib/libonnxruntime.so.1.32.0}"
export TASB_ONNXRUNTIME="$TASB_ORT_LIB"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[tasb]\033[0m %s\n' "$*" >&2; }
die() { printf '[tasb] ERROR: %s\n' "$*" >&2; exit 1; }

# Postgres refuses to run as root: as root, run server commands as the postgres user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Root installs directly; others through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bindir() { "$PG_CONFIG" --bindir; }

# The extension's version: [package] version in Cargo.toml.
tasb_version() {
    awk '/^\[/ {section = $0} section == "[package]" && $1 == "version" {gsub(/"/, "", $3); print $3; exit}' \
        "$TASB_ROOT/Cargo.toml"
}

# Installs the older versions' install scripts from sql/ into DIR (cargo pgrx install and package
# copy only the current version's and the upgrade scripts), so CREATE EXTENSION ... VERSION works.
install_older_sql_scripts() {  # install_older_sql_scripts DIR [as_root]
    local script current
    current="$(tasb_version)"
    for script in "$TASB_ROOT"/sql/tasb--*.sql; do
        case "$(basename "$script")" in
        *--*--*.sql | "tasb--$current.sql") ;;
        *) ${2:-} install -m 644 "$script" "$1/" ;;
        esac
    done
}

# psql against the local cluster as the postgres superuser.
tasb_psql() {
    "$(pg_bindir)/psql" -X -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres "$@"
}

# A running server with tasb preloaded maps tasb.so; copying a new build over that file in place
# (as cargo pgrx install does) rewrites the mapped code under it and its worker crashes. Putting
# an identical copy under the name first leaves the running server on the old file, so the
# install writes a file nobody has mapped; the name never goes missing, even if the build fails.
detach_installed_library() {
    local lib
    lib="$("$PG_CONFIG" --pkglibdir)/tasb.so"
    [ -f "$lib" ] || return 0
    as_root cp -p "$lib" "$lib.new"
    as_root mv -f "$lib.new" "$lib"
}
