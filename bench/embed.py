#!/usr/bin/env python3
"""Embedding on write: rows/s of each path next to the bare encoder, in one run, same passages.

    bench/embed.py MODEL_DIR [--rows 256] [--threads 2] [--batch 32]

Paths, each on the first N passages of ../shared/data/msmarco-passages.tsv (real MS MARCO text):
  bare encoder        SELECT tasb_encode_batch(array of N texts)
  trigger, 1 row      N single-row INSERTs, each its own transaction, through tasb_embed_trigger
  trigger, COPY       one COPY of N rows through the trigger (a BEFORE row trigger: one model call per row)
  backfill            COPY without the trigger, then CALL tasb_backfill (batched, committing per batch)
  async worker        COPY into a table registered with tasb_embed_async (database "tasb"), until the
                      background worker has embedded every row
Needs: pip install psycopg[binary]
"""
import argparse
import json
import os
import pathlib
import time

import psycopg

from common import DATA, default_dsn, read_passages


def async_worker(args, rows, dims):
    """Seconds from a COPY into a table registered with tasb_embed_async until the background
    worker has embedded every row; None when no worker runs."""
    dsn = default_dsn("tasb")
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        for name, value in (("model_dir", args.model_dir), ("intra_op_threads", args.threads),
                            ("batch_size", args.batch)):
            cur.execute(f"ALTER SYSTEM SET tasb.{name} = '{value}'")
        cur.execute("SELECT pg_reload_conf()")
        cur.execute("SET client_min_messages = warning")
        cur.execute("CREATE EXTENSION IF NOT EXISTS tasb")
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tasb embed worker'")
        if cur.fetchone()[0] == 0:
            return None
        cur.execute("DROP TABLE IF EXISTS bench_async")
        cur.execute(f"CREATE TABLE bench_async (id bigint PRIMARY KEY, body text, emb tasbvec({dims}))")
        cur.execute("SELECT tasb_embed_async('bench_async', 'body', 'emb')")
        time.sleep(1)  # the worker picks up the new settings
        start = time.perf_counter()
        with cur.copy("COPY bench_async (id, body) FROM STDIN") as c:
            for r in rows:
                c.write_row(r)
        while True:
            cur.execute("SELECT count(*) FROM bench_async WHERE emb IS NULL")
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        for name in ("model_dir", "intra_op_threads", "batch_size"):
            cur.execute(f"ALTER SYSTEM RESET tasb.{name}")
        cur.execute("SELECT pg_reload_conf()")
        return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--dsn", default=default_dsn("tasb_bench"))
    args = ap.parse_args()
    dims = json.loads((pathlib.Path(args.model_dir) / "config.json").read_text())
    dims = dims.get("dim") or dims.get("hidden_size")
    rows = read_passages(args.data, args.rows)
    texts = [t for _, t in rows]

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        cur.execute("DROP EXTENSION IF EXISTS tasb CASCADE")  # a rebuilt library may differ
        cur.execute("CREATE EXTENSION tasb")
        cur.execute("SELECT set_config('tasb.model_dir', %s, false)", (args.model_dir,))
        cur.execute(f"SET tasb.intra_op_threads = {args.threads}")
        cur.execute(f"SET tasb.batch_size = {args.batch}")
        cur.execute("SELECT tasb_encode('warm up')")
        cur.execute("SET client_min_messages = warning")

        def table(name, trigger):
            cur.execute(f"DROP TABLE IF EXISTS {name}")
            cur.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, body text, emb tasbvec({dims}))")
            if trigger:
                cur.execute(f"CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON {name} "
                            "FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb')")

        def copy(name):
            with cur.copy(f"COPY {name} (id, body) FROM STDIN") as c:
                for r in rows:
                    c.write_row(r)

        results = []
        start = time.perf_counter()
        cur.execute("SELECT cardinality(tasb_encode_batch(%s::text[]))", (texts,))
        results.append(("bare encoder: tasb_encode_batch", time.perf_counter() - start))

        table("bench_trigger_rows", True)
        start = time.perf_counter()
        for r in rows:
            cur.execute("INSERT INTO bench_trigger_rows (id, body) VALUES (%s, %s)", r, prepare=True)
        results.append(("trigger, single-row INSERTs", time.perf_counter() - start))

        table("bench_trigger_copy", True)
        start = time.perf_counter()
        copy("bench_trigger_copy")
        results.append(("trigger, one COPY", time.perf_counter() - start))

        table("bench_backfill", False)
        copy("bench_backfill")
        start = time.perf_counter()
        cur.execute("CALL tasb_backfill('bench_backfill', 'body', 'emb')")
        results.append(("backfill: CALL tasb_backfill", time.perf_counter() - start))

        # The bare encoder again, so that run order (warm-up, CPU clocks) does not favour a path.
        start = time.perf_counter()
        cur.execute("SELECT cardinality(tasb_encode_batch(%s::text[]))", (texts,))
        results.append(("bare encoder again (after the others)", time.perf_counter() - start))
        cur.execute("SET tasb.batch_size = 1")
        start = time.perf_counter()
        cur.execute("SELECT cardinality(tasb_encode_batch(%s::text[]))", (texts,))
        results.append(("bare encoder, tasb.batch_size = 1", time.perf_counter() - start))

        for name in ("bench_trigger_rows", "bench_trigger_copy", "bench_backfill"):
            cur.execute(f"SELECT count(*) FROM {name} WHERE emb IS NOT NULL")
            assert cur.fetchone()[0] == len(rows), name

    # The async worker serves database "tasb" (tasb.worker_database) with the server's settings.
    results.append(("async worker: COPY, then wait for the worker", async_worker(args, rows, dims)))

    bare = (results[0][1] + results[4][1]) / 2
    print(f"{len(rows)} MS MARCO passages, model {args.model_dir}, {args.threads} threads, "
          f"tasb.batch_size {args.batch}; load average {os.getloadavg()[0]:.2f}\n")
    print("| path | rows/s | vs bare encoder (mean of its two runs) |")
    print("|---|---|---|")
    for name, seconds in results:
        if seconds is None:
            print(f"| {name} | no worker running (tasb in shared_preload_libraries?) | |")
            continue
        print(f"| {name} | {len(rows) / seconds:.1f} | {bare / seconds:.2f} |")


if __name__ == "__main__":
    main()
