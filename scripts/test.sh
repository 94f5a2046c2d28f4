#!/usr/bin/env bash
# Every test: formatting and lints, unit tests of the pure crates, in-server pgrx tests, and the
# golden SQL tests against a locally installed build. Installs what it needs; safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TASB_ROOT"

bash scripts/setup.sh
log_file="$(mktemp)"
trap 'rm -f "$log_file"' EXIT

log "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

log "unit tests of the pure crates"
cargo test --workspace --exclude tasb 2>&1 | tee -a "$log_file"

log "in-server tests (cargo pgrx test)"
# The tiny fixture model where the test server (running as postgres) can read it.
as_root install -d -m 755 "$TASB_HOME/models"
as_root rm -rf "$TASB_HOME/models/tiny-distilbert"
as_root cp -r tests/fixtures/tiny-distilbert "$TASB_HOME/models/"
as_root chmod -R a+rX "$TASB_HOME/models"
detach_installed_library   # cargo pgrx test installs its own build of tasb.so
if [ "$(id -u)" = 0 ]; then
    # initdb refuses root: run the test server as postgres, in a directory it owns.
    pgtest="$TASB_HOME/pgrx-test"
    install -d -o postgres -g postgres "$pgtest"
    cargo pgrx test pg15 --runas postgres --pgdata "$pgtest" 2>&1 | tee -a "$log_file"
else
    cargo pgrx test pg15 2>&1 | tee -a "$log_file"
fi

log "golden SQL tests (release build in the local cluster)"
bash scripts/install.sh
bash scripts/cluster.sh restart   # the library is preloaded: a new build needs a restart

log "the generated SQL equals the frozen script of this version (sql/)"
version="$(tasb_version)"
python3 scripts/schema_check.py "sql/tasb--$version.sql" "$("$PG_CONFIG" --sharedir)/extension/tasb--$version.sql"
tests/regress.sh 2>&1 | tee -a "$log_file"

log "client drivers: psycopg 3 (pgvector-python, plain) and Node pg against tasbvec and tasbhalf"
tests/clients.sh 2>&1 | tee -a "$log_file"

log "asynchronous embedding worker, including a crash with rows pending"
tests/async.sh 2>&1 | tee -a "$log_file"

log "encoder service: one model for every session, cancels, kill -9, model changes, turned off"
tests/service.sh 2>&1 | tee -a "$log_file"

log "upgrade from the oldest frozen version with ALTER EXTENSION tasb UPDATE"
tests/upgrade.sh 2>&1 | tee -a "$log_file"

log "tasb_ivf index under concurrency, kill -9 during inserts and during a build"
tests/ivf_stress.sh 2>&1 | tee -a "$log_file"

log "tasb_ivf with damaged pages: an ERROR naming index and block, never a crash"
tests/ivf_corrupt.sh 2>&1 | tee -a "$log_file"

log "tasb_ivf on a streaming-replication standby"
tests/ivf_standby.sh 2>&1 | tee -a "$log_file"

log "Debian package: built, installed with apt-get in a clean Debian 12 container, used, removed"
tests/package.sh 2>&1 | tee -a "$log_file"

log "Docker image and docker-compose.yml end to end (own dockerd, local base image, docker-compose v1)"
tests/docker.sh 2>&1 | tee -a "$log_file"

passed=$(grep -Eo '[0-9]+ passed' "$log_file" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log_file" | awk '{s += $1} END {print s + 0}')
echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
