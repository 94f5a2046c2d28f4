#!/usr/bin/env python3
"""Encoder throughput and latency: tasb_encode_batch in SQL side by side with Python onnxruntime on
the same model file, passages, threads and batching, plus tasb_encode query latency.

    bench/encode.py MODEL_DIR [--passages 2000] [--threads 2] [--batch 32]

Passages: the first N of ../shared/data/msmarco-passages.tsv (real MS MARCO passages). Both paths
tokenize (Hugging Face tokenizers), sort by length, batch, run ONNX Runtime 1.32 on the CPU and pool;
the SQL path also returns tasbvec values to the client. FLOPs per passage follow L * (24*S*H^2 + 4*S^2*H)
for an L-layer encoder of width H at S tokens. Needs: pip install onnxruntime==1.32.0 tokenizers psycopg[binary]
"""
import argparse
import json
import os
import pathlib
import statistics
import time

import numpy as np
import onnxruntime as ort
import psycopg

from common import DATA, default_dsn, read_passages, run_python_ort, tokenizer_for


def cpu_peak_gflops(cores):
    """fp32 FMA peak: 2 FMA units x 8 lanes (AVX2) or 16 (AVX-512) x 2 FLOP x clock x cores."""
    info = open("/proc/cpuinfo").read()
    mhz = max(float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz"))
    lanes = 16 if " avx512f" in info else 8
    return cores * 2 * lanes * 2 * mhz / 1000, mhz, lanes


def backend_memory(pid):
    """(RSS, PSS, private) of a server process in MB, from /proc/PID/smaps_rollup."""
    rollup = open(f"/proc/{pid}/smaps_rollup").read().splitlines()

    def field(name):
        return int(next(l for l in rollup if l.startswith(name + ":")).split()[1]) / 1024

    return field("Rss"), field("Pss"), field("Private_Clean") + field("Private_Dirty")


def memory_table(dsn, model_dir, passages, connections, batch):
    """Each of N backends loads the model and encodes one batch; memory per backend afterwards,
    with the weights prepacked per backend (default) and shared through the page cache."""
    print(f"\nMemory per backend after loading the model and encoding {batch} passages "
          f"(1 thread each), mean over the backends:")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS tasb")
    print("| tasb.prepack_weights | backends | RSS MB | PSS MB | private MB |")
    print("|---|---|---|---|---|")
    for prepack in ("on", "off"):
        for n in sorted({1, connections}):
            conns = [psycopg.connect(dsn, autocommit=True) for _ in range(n)]
            try:
                pids = []
                for conn in conns:
                    cur = conn.cursor()
                    cur.execute("SELECT set_config('tasb.model_dir', %s, false)", (str(model_dir),))
                    cur.execute(f"SET tasb.prepack_weights = {prepack}")
                    cur.execute("SET tasb.intra_op_threads = 1")
                    cur.execute("SELECT cardinality(tasb_encode_batch(%s::text[]))", (passages[:batch],))
                    cur.execute("SELECT pg_backend_pid()")
                    pids.append(cur.fetchone()[0])
                rows = [backend_memory(pid) for pid in pids]
                rss, pss, private = (statistics.mean(r[i] for r in rows) for i in range(3))
                print(f"| {prepack} | {n} | {rss:.0f} | {pss:.0f} | {private:.0f} |")
            finally:
                for conn in conns:
                    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--connections", type=int, default=8, help="backends for the memory table")
    ap.add_argument("--skip-throughput", action="store_true", help="only the memory table")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--dsn", default=default_dsn("tasb_bench"))
    args = ap.parse_args()
    model_dir = pathlib.Path(args.model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    hidden = config.get("dim") or config.get("hidden_size")
    layers = config.get("n_layers") or config.get("num_hidden_layers")

    passages = [text for _, text in read_passages(args.data, args.passages)]
    queries = [json.loads(line)["text"] for line in open(pathlib.Path(args.data) / "scifact" / "queries.jsonl")]
    queries = queries[:args.queries]

    tokenizer = tokenizer_for(model_dir)
    lengths = [len(e.ids) for e in tokenizer.encode_batch(passages)]
    # Per layer: 2 FLOPs x 12 H^2 weights x S tokens, plus 4 S^2 H for attention scores and mixing.
    flops = sum(layers * (24 * s * hidden * hidden + 4 * s * s * hidden) for s in lengths)

    if args.skip_throughput:
        memory_table(args.dsn, model_dir, passages, args.connections, args.batch)
        return

    # Python onnxruntime: same file, threads, batching.
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    session.run(None, {n: np.ones((1, 4), np.int64) for n in names})  # warm up
    start = time.perf_counter()
    run_python_ort(session, tokenizer, passages, args.batch)
    python_s = time.perf_counter() - start

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("DROP EXTENSION IF EXISTS tasb CASCADE")
        cur.execute("CREATE EXTENSION tasb")
        cur.execute("SELECT set_config('tasb.model_dir', %s, false)", (str(model_dir),))
        cur.execute(f"SET tasb.intra_op_threads = {args.threads}")
        cur.execute(f"SET tasb.batch_size = {args.batch}")
        cur.execute("SELECT tasb_encode('warm up')")
        start = time.perf_counter()
        cur.execute("SELECT cardinality(tasb_encode_batch(%s::text[]))", (passages,))
        assert cur.fetchone()[0] == len(passages)
        sql_s = time.perf_counter() - start
        latencies = []
        for q in queries:
            t0 = time.perf_counter()
            cur.execute("SELECT tasb_encode(%s)", (q,), prepare=True)
            cur.fetchone()
            latencies.append((time.perf_counter() - t0) * 1000)
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        rss = pss = None
        try:
            rollup = open(f"/proc/{pid}/smaps_rollup").read()
            rss = int(next(l for l in rollup.splitlines() if l.startswith("Rss:")).split()[1]) / 1024
            pss = int(next(l for l in rollup.splitlines() if l.startswith("Pss:")).split()[1]) / 1024
        except (OSError, StopIteration):
            pass

    peak, mhz, lanes = cpu_peak_gflops(args.threads)
    q_lengths = [len(e.ids) for e in tokenizer.encode_batch(queries)]
    print(f"Model {model_dir} ({layers} layers, {hidden} dims); {len(passages)} MS MARCO passages, "
          f"mean {statistics.mean(lengths):.0f} tokens; {args.threads} threads, batches of {args.batch}, "
          f"length-sorted; CPU peak {peak:.0f} GFLOP/s ({args.threads} cores x {mhz:.0f} MHz nominal x {lanes}-lane FMA x2 units x 2); "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| path | passages/s | GFLOP/s | % of peak |")
    print("|---|---|---|---|")
    for name, seconds in (("Python onnxruntime", python_s), ("SQL tasb_encode_batch", sql_s)):
        print(f"| {name} | {len(passages) / seconds:.1f} | {flops / seconds / 1e9:.0f} | "
              f"{100 * flops / seconds / 1e9 / peak:.0f}% |")
    print(f"\nSQL / Python throughput: {python_s / sql_s:.3f}")
    print(f"tasb_encode latency over {len(queries)} SciFact claims (mean {statistics.mean(q_lengths):.0f} tokens): "
          f"p50 {statistics.median(latencies):.1f} ms, p99 {sorted(latencies)[int(0.99 * (len(latencies) - 1))]:.1f} ms")
    if rss:
        print(f"Backend memory with the model loaded: RSS {rss:.0f} MB, PSS {pss:.0f} MB")
    memory_table(args.dsn, model_dir, passages, args.connections, args.batch)


if __name__ == "__main__":
    main()
