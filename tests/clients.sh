#!/usr/bin/env bash
# Client drivers against tasbvec and tasbhalf, as a plain role in the local cluster: Python with
# psycopg 3 (pgvector-python's adapters registered by type name, and the dependency-free recipe in
# tests/clients/tasb_psycopg.py) and Node.js with pg (and pgvector's helpers, by type OID).
# Needs the extension installed and the cluster running (scripts/cluster.sh start); installs the
# pinned packages on first use (PyPI and npm). TASB_CLIENTS_NODE=0 skips the Node part.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"

CHECKS=clients
source "$(dirname "$0")/checks.sh"
here="$TASB_ROOT/tests/clients"
venv="$TASB_HOME/clients-venv"
db=tasb_clients
role=tasb_clients_user
setup_failed() { echo "clients: $passed passed, $((failed + 1)) failed (setup: $1)"; exit 1; }

# The venv, recreated when the pinned requirements change.
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
    log "creating $venv"
    rm -rf "$venv"
    { python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" &&
        cp "$here/requirements.txt" "$venv/requirements.txt"; } >&2 || setup_failed "venv"
fi

tasb_psql -q -d postgres -v ON_ERROR_STOP=1 <<SQL >/dev/null || setup_failed "database and role"
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $db;
DROP ROLE IF EXISTS $role;
CREATE ROLE $role LOGIN;
CREATE DATABASE $db;
\c $db
CREATE EXTENSION tasb;
GRANT CREATE ON SCHEMA public TO $role;
SQL
export PGHOST="$TASB_SOCKET_DIR" PGPORT="$TASB_PORT" PGDATABASE="$db" PGUSER="$role"
counts="$(mktemp)"
trap 'rm -f "$counts"' EXIT
add_counts() {  # add_counts NAME: the "PASSED FAILED" a part wrote, or one failure if none
    local p f
    if read -r p f <"$counts" 2>/dev/null && [ -n "$f" ]; then
        passed=$((passed + p)); failed=$((failed + f))
    else
        echo "FAILED  clients: $1 did not report"; failed=$((failed + 1))
    fi
    : >"$counts"
}

"$venv/bin/python" "$here/test_psycopg.py" --counts "$counts"
add_counts python

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "${TASB_CLIENTS_NODE:-1}" = 0 ]; then
    echo "skip    clients: Node.js (TASB_CLIENTS_NODE=0)"
elif [ "$node_major" -lt 18 ] || ! command -v npm >/dev/null; then
    echo "skip    clients: Node.js (needs node >= 18 and npm; found node major version $node_major)"
else
    node_dir="$here/node"
    # npm ci reinstalls node_modules each time; skip it while the lock file is the one installed.
    if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
        (cd "$node_dir" && npm ci --silent --no-audit --no-fund >&2 &&
            cp package-lock.json node_modules/.package-lock.json.installed) || setup_failed "npm ci"
    fi
    node "$node_dir/test_node.mjs" --counts "$counts"
    add_counts node
fi

unset PGUSER
tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $role" >/dev/null ||
    echo "        (cleanup failed)"
report_checks
