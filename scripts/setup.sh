#!/usr/bin/env bash
# Installs what building and testing tasb needs, skipping whatever is already there.
set -euo pipefail
source "$(dirname "$0")/env.sh"

PGRX_VERSION=0.18.1
ORT_VERSION=1.32.0
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 clang libclang-dev sudo python3 python3-venv procps)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "installing cargo-pgrx $PGRX_VERSION (about 4 minutes on 2 cores)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# Point pgrx at the system PostgreSQL 15; a bare `cargo pgrx init` would try to download one.
if ! grep -qs "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "initialising pgrx against $PG_CONFIG"
    cargo pgrx init --pg15 "$PG_CONFIG"
fi

as_root install -d -m 755 "$TASB_HOME"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$TASB_HOME"; fi

# ONNX Runtime for the encoder, from the PyPI wheel (never a download by ort itself), in a
# directory the postgres user can read.
if [ ! -f "$TASB_ORT_LIB" ]; then
    log "installing ONNX Runtime $ORT_VERSION from PyPI into $(dirname "$TASB_ORT_LIB")"
    wheel_dir="$(mktemp -d)"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheel_dir" "onnxruntime==$ORT_VERSION"
    as_root install -d -m 755 "$(dirname "$TASB_ORT_LIB")"
    python3 - "$wheel_dir"/onnxruntime-*.whl "$wheel_dir" "$ORT_VERSION" <<'PY'
import sys, zipfile
wheel, out, version = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("capi/libonnxruntime.so." + version))
    open(out + "/libonnxruntime.so", "wb").write(z.read(name))
PY
    as_root install -m 755 "$wheel_dir/libonnxruntime.so" "$TASB_ORT_LIB"
    rm -rf "$wheel_dir"
fi
