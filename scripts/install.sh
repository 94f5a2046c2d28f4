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
install_older_sql_scripts "$("$PG_CONFIG" --sharedir)/extension" as_root
# ONNX Runtime beside the extension, where tasb looks when tasb.onnxruntime_path is not set.
as_root install -D -m 755 "$TASB_ORT_LIB" "$("$PG_CONFIG" --pkglibdir)/tasb/libonnxruntime.so.1.32.0"
