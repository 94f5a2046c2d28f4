#!/usr/bin/env python3
"""BEIR SciFact nDCG@10 through Postgres: encode the corpus with tasb_encode_batch, rank each test
query by exact `ORDER BY emb <#> (SELECT tasb_encode($1)) LIMIT 10`, score with trec_eval conventions.

    bench/scifact.py MODEL_DIR [MODEL_DIR...]

Reads ../shared/data/scifact (corpus.jsonl, queries.jsonl, qrels/test.tsv). Documents are
"title text" as the sentence-transformers pipeline joins them; the model directory's own settings
decide pooling, normalisation and the maximum length. Prints a markdown table.
"""
import argparse
import json
import math
import os
import pathlib
import statistics
import time

import psycopg

from common import DATA, default_dsn

PUBLISHED = {"all-MiniLM-L6-v2": 0.6451, "TAS-B": 0.643}


def ndcg_at_10(ranked, relevant):
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dirs", nargs="+")
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--dsn", default=default_dsn("tasb_bench"))
    ap.add_argument("--onnxruntime", default=os.environ.get("TASB_ORT_LIB", "/var/tmp/tasb/lib/libonnxruntime.so.1.32.0"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    data = pathlib.Path(args.data)

    docs = [json.loads(line) for line in open(data / "corpus.jsonl")]
    queries = {q["_id"]: q["text"] for q in map(json.loads, open(data / "queries.jsonl"))}
    qrels = {}
    for line in list(open(data / "qrels" / "test.tsv"))[1:]:
        qid, did, score = line.split()
        qrels.setdefault(qid, {})[did] = int(score)

    print(f"SciFact: {len(docs)} documents, {len(qrels)} judged queries; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; tasb.intra_op_threads = {args.threads}\n")
    print("| model directory | dims | encode corpus (docs/s) | query p50 (encode + exact search) | nDCG@10 |")
    print("|---|---|---|---|---|")
    for model_dir in args.model_dirs:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            cur = conn.cursor()
            cur.execute("DROP EXTENSION IF EXISTS tasb CASCADE")
            cur.execute("CREATE EXTENSION tasb")
            cur.execute("SELECT set_config('tasb.onnxruntime_path', %s, false)", (args.onnxruntime,))
            cur.execute("SELECT set_config('tasb.model_dir', %s, false)", (model_dir,))
            cur.execute(f"SET tasb.intra_op_threads = {args.threads}")
            dims = json.loads((pathlib.Path(model_dir) / "config.json").read_text())
            dims = dims.get("hidden_size") or dims.get("dim")
            cur.execute("DROP TABLE IF EXISTS scifact_docs")
            cur.execute(f"CREATE TABLE scifact_docs (id text PRIMARY KEY, body text, emb tasbvec({dims}))")
            with cur.copy("COPY scifact_docs (id, body) FROM STDIN") as copy:
                for d in docs:
                    copy.write_row((d["_id"], (d.get("title", "") + " " + d["text"]).strip()))
            cur.execute("SELECT tasb_encode('warm up')")
            start = time.perf_counter()
            ids = [d["_id"] for d in docs]
            for i in range(0, len(ids), 512):
                cur.execute("""UPDATE scifact_docs d SET emb = e.emb
                               FROM (SELECT unnest(array_agg(id ORDER BY id)) AS id,
                                            unnest(tasb_encode_batch(array_agg(body ORDER BY id))) AS emb
                                     FROM scifact_docs WHERE id = ANY(%s)) e
                               WHERE d.id = e.id""", (ids[i:i + 512],))
            encode_s = time.perf_counter() - start
            cur.execute("SELECT count(*) FROM scifact_docs WHERE emb IS NULL")
            assert cur.fetchone()[0] == 0
            cur.execute("VACUUM ANALYZE scifact_docs")
            scores, times = [], []
            for qid in sorted(qrels):
                t0 = time.perf_counter()
                cur.execute("SELECT id FROM scifact_docs ORDER BY emb <#> (SELECT tasb_encode(%s)) LIMIT 10",
                            (queries[qid],), prepare=True)
                ranked = [r[0] for r in cur.fetchall()]
                times.append((time.perf_counter() - t0) * 1000)
                scores.append(ndcg_at_10(ranked, qrels[qid]))
            print(f"| {model_dir} | {dims} | {len(docs) / encode_s:.1f} | {statistics.median(times):.1f} ms | "
                  f"{statistics.mean(scores):.4f} |", flush=True)
    print(f"\nPublished: {PUBLISHED}")


if __name__ == "__main__":
    main()
