#!/usr/bin/env python3
"""The CUDA check and benchmark, for a machine with an NVIDIA GPU (bench/cuda.sh prepares it).

    bench/cuda_check.py --fp32 DIR --fp16 DIR --ort-lib PATH [--passages 20000] [--batch 256]

1. Correctness: 64 MS MARCO passages and a query encoded with tasb.device = 'cpu' and 'cuda' in the
   same backend; max abs difference of the vectors and of the query-passage dot products (fp32 must
   agree to ~1e-3 on scores around 100; fp16 is reported).
2. Throughput: tasb_encode_batch on the GPU for fp32 and fp16 over the first N passages, in statements
   of 4,096 passages, side by side with Python onnxruntime-gpu on the same model, passages and batches.
   Reports passages/s, tokens/s and passages/s scaled to 128-token passages (tokens/s / 128).
Needs the server started with the CUDA libraries on its library path (scripts/cluster.sh sources
$TASB_HOME/gpu.env) and: numpy tokenizers psycopg[binary] onnxruntime-gpu.
"""
import argparse
import pathlib
import time

import numpy as np
import psycopg

from common import DATA, default_dsn, read_passages, run_python_ort, tokenizer_for

CHUNK = 4096


def sql_vectors(cur, texts):
    cur.execute("SELECT v::real[] FROM unnest(tasb_encode_batch(%s::text[])) v", (texts,))
    return np.array([r[0] for r in cur.fetchall()], dtype=np.float64)


def python_ort(model_dir, passages, batch):
    import onnxruntime as ort
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CUDAExecutionProvider"])
    assert "CUDAExecutionProvider" in session.get_providers(), session.get_providers()
    names = [i.name for i in session.get_inputs()]
    session.run(None, {n: np.ones((batch, 128), np.int64) for n in names})  # warm up
    start = time.perf_counter()
    run_python_ort(session, tokenizer_for(model_dir), passages, batch)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--fp16", required=True)
    ap.add_argument("--ort-lib", required=True)
    ap.add_argument("--passages", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--dsn", default=default_dsn("postgres"))
    args = ap.parse_args()
    passages = [text for _, text in read_passages(args.data, args.passages)]
    tokenizer = tokenizer_for(args.fp32)
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(passages))
    query = "what is the transformers library"

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS tasb")
        cur.execute("SELECT set_config('tasb.onnxruntime_path', %s, false)", (args.ort_lib,))
        cur.execute(f"SET tasb.batch_size = {args.batch}")
        sample = [query] + passages[:64]
        results = {}
        for label, model, device in (("cpu fp32", args.fp32, "cpu"), ("cuda fp32", args.fp32, "cuda"),
                                     ("cuda fp16", args.fp16, "cuda")):
            cur.execute("SELECT set_config('tasb.model_dir', %s, false)", (model,))
            cur.execute(f"SET tasb.device = '{device}'")
            results[label] = sql_vectors(cur, sample)
            cur.execute("SELECT device FROM tasb_stats()")
            assert cur.fetchone()[0] == device
        ref = results["cpu fp32"]
        print("| check | max abs diff (vectors) | max abs diff (query-passage dot) |")
        print("|---|---|---|")
        for label in ("cuda fp32", "cuda fp16"):
            got = results[label]
            print(f"| {label} vs cpu fp32 | {np.abs(got - ref).max():.2e} | "
                  f"{np.abs(got[1:] @ got[0] - ref[1:] @ ref[0]).max():.2e} |")

        print(f"\n{len(passages)} MS MARCO passages, {tokens / len(passages):.0f} tokens on average, "
              f"batches of {args.batch}, statements of {CHUNK} passages")
        print("| path | model | passages/s | tokens/s | passages/s at 128 tokens |")
        print("|---|---|---|---|---|")
        for precision, model in (("fp32", args.fp32), ("fp16", args.fp16)):
            cur.execute("SELECT set_config('tasb.model_dir', %s, false)", (model,))
            cur.execute("SET tasb.device = 'cuda'")
            sql_vectors(cur, passages[:args.batch])  # load and warm up
            start = time.perf_counter()
            for c in range(0, len(passages), CHUNK):
                cur.execute("SELECT cardinality(tasb_encode_batch(%s::text[]))", (passages[c:c + CHUNK],))
                cur.fetchone()
            sql_s = time.perf_counter() - start
            py_s = python_ort(pathlib.Path(model), passages, args.batch)
            for path, seconds in (("SQL tasb_encode_batch", sql_s), ("Python onnxruntime-gpu", py_s)):
                print(f"| {path} | {precision} | {len(passages) / seconds:,.0f} | {tokens / seconds:,.0f} | "
                      f"{tokens / seconds / 128:,.0f} |")


if __name__ == "__main__":
    main()
