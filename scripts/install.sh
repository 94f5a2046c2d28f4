#!/usr/bin/env bash
# Builds tasb in release mode and installs it into the system PostgreSQL 15.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TASB_ROOT"
log "building and installing tasb (release)"
detach_installed_library
if [ "$(id -u)" = 0 ]; then
    cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
else
    cargo pgrx install --release --sudo --pg-config "$PG_CONFIG" >/dev/null
fi
