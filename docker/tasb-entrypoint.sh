#!/usr/bin/env bash
# The image's entrypoint: picks the model, writes tasb's settings, then hands over to
# docker-entrypoint.sh (the official postgres image's, or docker/docker-entrypoint.sh).
#
# The model, first match wins:
#   TASB_MODEL_DIR=/path   a model directory the user mounted (model.onnx, config.json, tokenizer.json)
#   TASB_MODEL=tas-b       TAS-B (sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco): exported
#                          once into the models volume with scripts/export_model.py (needs internet:
#                          Hugging Face ($HF_ENDPOINT) and PyPI, about 1 GB of downloads); if that
#                          fails, MiniLM
#   otherwise              all-MiniLM-L6-v2, built into the image
# Settings go to /var/lib/tasb/tasb.conf, rewritten at every start from the environment and
# included from postgresql.conf (ALTER SYSTEM still overrides them): shared_preload_libraries,
# tasb.worker_database ($POSTGRES_DB), tasb.onnxruntime_path ($TASB_ONNXRUNTIME_PATH, the gpu
# variant's onnxruntime-gpu; unset: the Debian package's ONNX Runtime 1.32.0 in $libdir/tasb),
# tasb.model_dir and tasb.device ($TASB_DEVICE).
set -Eeuo pipefail

MODELS=/var/lib/tasb/models
CONF=/var/lib/tasb/tasb.conf
TAS_B=sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco
# Defaults of the image's variant (the gpu stage writes the CUDA build's library path).
if [ -f /etc/tasb/image.env ]; then source /etc/tasb/image.env; fi
TASB_DEVICE="${TASB_DEVICE:-auto}"
export HF_ENDPOINT="${HF_ENDPOINT:-https://huggingface.co}"   # the hub, or a mirror of it

say() { echo "tasb-entrypoint: $*" >&2; }
is_model() { [ -f "$1/model.onnx" ] && [ -f "$1/config.json" ] && [ -f "$1/tokenizer.json" ]; }
as_owner() {  # run as the owner of the models directory when started as root
    if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql "$@"
    else "$@"; fi
}

# TAS-B into $MODELS/tas-b/fp32, once; prints the directory, or fails.
tas_b() {
    local out="$MODELS/tas-b" venv="$MODELS/.export-venv"
    if is_model "$out/fp32"; then echo "$out/fp32"; return 0; fi
    if ! python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=15)" "$HF_ENDPOINT/api/models/$TAS_B" 2>/dev/null; then
        say "TASB_MODEL=tas-b: $HF_ENDPOINT is not reachable (the export needs internet)"
        return 1
    fi
    say "exporting TAS-B into $out (a one-time download of torch, transformers and the model)"
    rm -rf "$venv" "$out.partial"
    as_owner python3 -m venv "$venv" &&
        as_owner env PIP_NO_CACHE_DIR=1 "$venv/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu &&
        as_owner env PIP_NO_CACHE_DIR=1 "$venv/bin/pip" install -q transformers onnx onnxruntime &&
        as_owner env HF_HOME="$venv/hf" "$venv/bin/python" /opt/tasb/export_model.py "$TAS_B" "$out.partial" --precisions fp32 >&2 &&
        is_model "$out.partial/fp32" && mv "$out.partial" "$out"
    local rc=$?
    rm -rf "$venv" "$out.partial"
    [ $rc = 0 ] && echo "$out/fp32"
}

model=""
if [ -n "${TASB_MODEL_DIR:-}" ]; then
    is_model "$TASB_MODEL_DIR" || {
        say "TASB_MODEL_DIR=$TASB_MODEL_DIR needs model.onnx, config.json and tokenizer.json (is it mounted?)"
        exit 1
    }
    model="$TASB_MODEL_DIR"
else
    case "${TASB_MODEL:-minilm}" in
    tas-b | tasb) model="$(tas_b)" || say "falling back to all-MiniLM-L6-v2" ;;
    minilm | all-minilm-l6-v2 | "") ;;
    *) say "TASB_MODEL=$TASB_MODEL: unknown (tas-b or minilm; or mount a model and set TASB_MODEL_DIR)"; exit 1 ;;
    esac
    [ -n "$model" ] || model="$MODELS/all-minilm-l6-v2"
    is_model "$model" || { say "$model is missing (a volume or bind mount over $MODELS that hides the image's model?)"; exit 1; }
fi
say "model: $model"

quote() { printf "'%s'" "${1//\'/\'\'}"; }
settings() {
    echo "# Written by tasb-entrypoint.sh at every start from the environment; ALTER SYSTEM overrides it."
    echo "shared_preload_libraries = 'tasb'"
    echo "tasb.worker_database = $(quote "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}")"
    if [ -n "${TASB_ONNXRUNTIME_PATH:-}" ]; then
        echo "tasb.onnxruntime_path = $(quote "$TASB_ONNXRUNTIME_PATH")"
    else
        echo "# tasb.onnxruntime_path unset: \$libdir/tasb/libonnxruntime.so.1.32.0 from the Debian package"
    fi
    echo "tasb.model_dir = $(quote "$model")"
    echo "tasb.device = $(quote "$TASB_DEVICE")"
}
settings 2>/dev/null >"$CONF" || say "cannot write $CONF as uid $(id -u): the settings stay as they were"

# A cluster made before this image (or without its init script) includes the file from now on.
pgdata="${PGDATA:-/var/lib/postgresql/data}"
if [ -f "$pgdata/postgresql.conf" ] && [ -w "$pgdata/postgresql.conf" ] && ! grep -q "^include_if_exists = '$CONF'" "$pgdata/postgresql.conf"; then
    echo "include_if_exists = '$CONF'" >>"$pgdata/postgresql.conf"
fi

exec docker-entrypoint.sh "$@"
