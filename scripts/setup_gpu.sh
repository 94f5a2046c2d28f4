#!/usr/bin/env bash
# GPU runtime for tasb.device = 'cuda' (a machine with an NVIDIA GPU, its driver and pip access):
# onnxruntime-gpu and the CUDA 13 / cuDNN 9 libraries it needs, from PyPI, into a virtual
# environment under $TASB_HOME that the postgres user can read. Writes $TASB_HOME/gpu.env, which
# sets TASB_GPU_ORT_LIB and the LD_LIBRARY_PATH the server must start with. Safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# The newest onnxruntime-gpu on PyPI (1.32.0 has no GPU wheel); ort's api-31 needs >= 1.31.
ORT_GPU_VERSION=1.31.1
venv="$TASB_HOME/gpu-venv"
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    as_root python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_GPU_VERSION')" 2>/dev/null; then
    log "installing onnxruntime-gpu $ORT_GPU_VERSION with CUDA 13 and cuDNN 9 (about 3 GB)"
    as_root "$venv/bin/pip" install -q "onnxruntime-gpu[cuda,cudnn]==$ORT_GPU_VERSION" nvidia-cublas \
        numpy tokenizers "psycopg[binary]"
fi
as_root chmod -R a+rX "$venv"

site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ort_lib="$(ls "$site"/onnxruntime/capi/libonnxruntime.so.1.* | head -1)"
cuda_dirs="$(find "$site/nvidia" -type d -name lib -o -type d -name lib64 2>/dev/null | sort | paste -sd: -)"
cat <<ENV | as_root tee "$TASB_HOME/gpu.env" >/dev/null
# Written by scripts/setup_gpu.sh. Source it before starting the server (scripts/cluster.sh does).
export TASB_GPU_ORT_LIB="$ort_lib"
export LD_LIBRARY_PATH="$site/onnxruntime/capi:$cuda_dirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
log "GPU runtime ready: $ort_lib (settings in $TASB_HOME/gpu.env)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
