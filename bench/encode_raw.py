#!/usr/bin/env python3
"""Unnormalised real encodings for the index benchmark: MS MARCO passages through
all-MiniLM-L6-v2 (or another sentence-transformers ONNX export) with mean pooling and WITHOUT the
model's L2 normalisation, so the vectors' norms vary as TAS-B's do. Writes raw little-endian
float32 rows (numpy's tofile) for `bench/index.py --files`:

    OUT/minilm-raw.f32, OUT/minilm-raw.q.f32      mean-pooled, norms as they come
    OUT/minilm-unit.f32, OUT/minilm-unit.q.f32    the same rows L2-normalised

The corpus is the first --passages passages of the file but the last 200, whose first 12 words are
the queries (as bench/index.py's msmarco set). Needs onnxruntime and tokenizers
(`pip install onnxruntime tokenizers` into the bench venv).
"""
import argparse
import os
import time

import numpy as np

from common import read_passages

QUERIES = 200


def encode(session, tokenizer, texts, batch, label):
    """Mean of the last hidden state over each text's tokens, in length-sorted batches."""
    encodings = tokenizer.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
    names = [i.name for i in session.get_inputs()]
    out = None
    started = time.perf_counter()
    for n, b in enumerate(range(0, len(order), batch)):
        members = order[b:b + batch]
        width = max(len(encodings[i].ids) for i in members)
        ids = np.zeros((len(members), width), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(members):
            ids[r, :len(encodings[i].ids)] = encodings[i].ids
            mask[r, :len(encodings[i].ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(["last_hidden_state"], feed)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        if out is None:
            out = np.zeros((len(texts), pooled.shape[1]), np.float32)
        out[members] = pooled
        if n % 50 == 0:
            print(f"{label}: {b + len(members)}/{len(texts)} ({time.perf_counter() - started:.0f} s)", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default="/var/tmp/tasb/models/all-minilm-l6-v2")
    ap.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="/var/tmp/tasb-bench")
    args = ap.parse_args()

    import onnxruntime as ort
    from tokenizers import Tokenizer

    rows = [text for _, text in read_passages(args.data_dir, None)]
    corpus = rows[:min(args.passages, len(rows) - QUERIES)]
    queries = [" ".join(text.split()[:12]) for text in rows[-QUERIES:]]
    tokenizer = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(args.max_tokens)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.path.join(args.model_dir, "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    os.makedirs(args.out, exist_ok=True)
    for suffix, texts in ((".q.f32", queries), (".f32", corpus)):
        raw = encode(session, tokenizer, texts, args.batch, f"minilm-raw{suffix}")
        raw.astype("<f4").tofile(os.path.join(args.out, "minilm-raw" + suffix))
        unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        unit.astype("<f4").tofile(os.path.join(args.out, "minilm-unit" + suffix))
        norms = np.linalg.norm(raw, axis=1)
        print(f"minilm-raw{suffix}: {len(raw)} x {raw.shape[1]}, norms {norms.min():.2f} / "
              f"{norms.mean():.2f} / {norms.max():.2f} (min / mean / max)")


if __name__ == "__main__":
    main()
