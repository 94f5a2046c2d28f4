#!/usr/bin/env python3
"""tasb_ivf as rows arrive: an index built on the empty table (or on its first tenth) and then
filled by INSERTs, against one built on all the rows, side by side with pgvector's HNSW built on
the empty table and filled by the same INSERTs, in one run and cluster.

For each: insert rows/s (INSERT ... SELECT from a staging table, --batch rows per statement, one
client), build time, index size, lists and default probes (tasb_ivf_stats), then recall@10 against
numpy's exact inner-product answer and QPS of `ORDER BY emb <#> $1 LIMIT 10` (a prepared
statement, one client) at the index's default setting and at fixed probes. The grown tasb_ivf
indexes are measured right after the inserts and again after a VACUUM, which chooses their
default probes for the lists they have grown (autovacuum does the same after inserts).

Data: --sets mips (bench/common.py's synthetic_mips: TAS-B-like, unnormalised, norms 9-11, a
strong shared direction) and/or files (--files CORPUS QUERIES DIM: raw float32 rows, e.g.
all-MiniLM-L6-v2 encodings without their L2 normalisation). Usage: bench/search.sh grow [options].
"""
import argparse
import platform
import sys
import time

import numpy as np
import psycopg

from common import copy_binary, default_dsn, percentile, read_f32, synthetic_mips

TASB_PROBES = [0, 8, 16, 32, 64]


def load(conn, table, sql_type, vectors, first_id=0):
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id int4, emb {sql_type}({vectors.shape[1]}))")
        payload = copy_binary(vectors, half=False)
        with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
            for i in range(0, len(payload), 1 << 24):
                copy.write(payload[i:i + (1 << 24)])
        if first_id:
            cur.execute(f"UPDATE {table} SET id = id + {first_id}")
    conn.commit()


def size(conn, name):
    with conn.cursor() as cur:
        cur.execute(f"SELECT pg_relation_size('{name}')")
        value = cur.fetchone()[0]
    conn.commit()
    return value


def measure(conn, table, sql_type, gucs, queries, truth):
    """(recall@10, QPS, p50 ms, p99 ms) of the index scan with `gucs` set."""
    with conn.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET jit = off")
        for guc, value in gucs.items():
            cur.execute(f"SET {guc} = '{value}'")
        label = ",".join(f"{k}={v}" for k, v in gucs.items())
        sql = f"/* {label} */ SELECT id FROM {table} ORDER BY emb <#> %s::{sql_type} LIMIT 10"
        cur.execute("EXPLAIN (COSTS OFF) " + sql, (queries[0],))
        if "Index Scan" not in " ".join(r[0] for r in cur.fetchall()):
            print(f"WARNING: {table} {label}: not an index scan", file=sys.stderr)
        for q in queries[:20]:
            cur.execute(sql, (q,), prepare=True)
            cur.fetchall()
        times, hits = [], 0
        for q, exact in zip(queries, truth):
            t0 = time.perf_counter()
            cur.execute(sql, (q,), prepare=True)
            ids = [r[0] for r in cur.fetchall()]
            times.append((time.perf_counter() - t0) * 1000)
            hits += len(set(ids) & set(exact))
        cur.execute("RESET ALL")
    conn.commit()
    return hits / (10 * len(queries)), 1000 / np.mean(times), percentile(times, 50), percentile(times, 99)


def tasb_stats(conn, name):
    with conn.cursor() as cur:
        cur.execute(f"SELECT lists, probes_now FROM tasb_ivf_stats('{name}'::regclass)")
        lists, probes = cur.fetchone()
    conn.commit()
    return lists, probes


def run_set(conn, label, data, queries, args, have_vector):
    n, dim = data.shape
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10].tolist()
    query_texts = ["[" + ",".join(repr(float(x)) for x in q) + "]" for q in queries]
    rows = []  # (index, how, build s, insert rows/s, size MB, lists, setting, recall, qps, p50, p99)

    def tasb_rows(name, table, how, build_s, rate, when):
        lists, default = tasb_stats(conn, name)
        for probes in TASB_PROBES:
            r = measure(conn, table, "tasbvec", {"tasb.probes": probes}, query_texts, truth)
            setting = f"default ({default})" if probes == 0 else f"probes {probes}"
            rows.append(("tasb_ivf", how + when, build_s, rate, size(conn, name) / 2**20, lists, setting, *r))

    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '2GB'")
        cur.execute("SET max_parallel_maintenance_workers = 2")
        cur.execute("SET client_min_messages = warning")
    conn.commit()
    load(conn, "grow_staging", "tasbvec", data)

    # tasb_ivf built on every row.
    load(conn, "grow_full", "tasbvec", data)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE INDEX grow_full_idx ON grow_full USING tasb_ivf (emb)")
    conn.commit()
    tasb_rows("grow_full_idx", "grow_full", "built on all rows", time.perf_counter() - t0, None, "")

    # Built on the empty table / on the first --start-share of the rows, then INSERTs.
    for share in (0.0, args.start_share):
        first = int(n * share)
        table = f"grow_from_{int(share * 100)}"
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TABLE {table} (id int4, emb tasbvec({dim}))")
            if first:
                cur.execute(f"INSERT INTO {table} SELECT id, emb FROM grow_staging WHERE id < {first}")
            conn.commit()
            t0 = time.perf_counter()
            cur.execute(f"CREATE INDEX {table}_idx ON {table} USING tasb_ivf (emb)")
            conn.commit()
            build_s = time.perf_counter() - t0
        start = time.perf_counter()
        with conn.cursor() as cur:
            for lo in range(first, n, args.batch):
                cur.execute(f"INSERT INTO {table} SELECT id, emb FROM grow_staging WHERE id >= %s AND id < %s",
                            (lo, min(n, lo + args.batch)))
                conn.commit()
                print(f"\r  {table}: {min(n, lo + args.batch)}/{n} rows", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        rate = (n - first) / (time.perf_counter() - start)
        how = "built on the empty table" if first == 0 else f"built on {first} rows"
        how += f", {n - first} inserts"
        tasb_rows(f"{table}_idx", table, how, build_s, rate, ", before VACUUM")
        conn.autocommit = True
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(f"VACUUM {table}")
        vacuum_s = time.perf_counter() - t0
        conn.autocommit = False
        tasb_rows(f"{table}_idx", table, how, build_s, rate, f", after VACUUM ({vacuum_s:.1f} s)")

    if have_vector:
        load(conn, "grow_staging_v", "vector", data)
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS grow_hnsw")
            cur.execute(f"CREATE TABLE grow_hnsw (id int4, emb vector({dim}))")
            cur.execute("CREATE INDEX grow_hnsw_idx ON grow_hnsw USING hnsw (emb vector_ip_ops)")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur:
            for lo in range(0, n, args.batch):
                cur.execute("INSERT INTO grow_hnsw SELECT id, emb FROM grow_staging_v WHERE id >= %s AND id < %s",
                            (lo, min(n, lo + args.batch)))
                conn.commit()
                print(f"\r  grow_hnsw: {min(n, lo + args.batch)}/{n} rows", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        rate = n / (time.perf_counter() - start)
        for ef in (40, 100, 200):
            r = measure(conn, "grow_hnsw", "vector", {"hnsw.ef_search": ef}, query_texts, truth)
            setting = "default (ef_search 40)" if ef == 40 else f"ef_search {ef}"
            rows.append(("pgvector hnsw m=16", f"built on the empty table, {n} inserts", 0.0, rate,
                         size(conn, "grow_hnsw_idx") / 2**20, None, setting, *r))

    print(f"\n### {label}: {n} x {dim}, {len(queries)} queries\n")
    print("| index | how it was made | build s | insert rows/s | size MB | lists | setting | recall@10 | QPS | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (index, how, build_s, rate, mb, lists, setting, recall, qps, p50, p99) in rows:
        rate_s = f"{rate:,.0f}" if rate else ""
        lists_s = "" if lists is None else str(lists)
        print(f"| {index} | {how} | {build_s:.1f} | {rate_s} | {mb:.0f} | {lists_s} | {setting} | {recall:.3f} | "
              f"{qps:.0f} | {p50:.2f} | {p99:.2f} |")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=default_dsn("tasb_bench"))
    ap.add_argument("--sets", default="mips", help="comma-separated: mips, files")
    ap.add_argument("--rows", type=int, default=100_000, help="mips rows")
    ap.add_argument("--dim", type=int, default=768, help="mips dimensions")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--files", nargs=3, metavar=("CORPUS", "QUERIES", "DIM"))
    ap.add_argument("--start-share", type=float, default=0.1, help="share of the rows the second grown index is built on")
    ap.add_argument("--batch", type=int, default=1000, help="rows per INSERT statement")
    ap.add_argument("--no-hnsw", action="store_true")
    args = ap.parse_args()
    conn = psycopg.connect(args.dsn)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS tasb")
        conn.commit()
        have_vector = False
        if not args.no_hnsw:
            try:
                cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.commit()
                have_vector = True
            except psycopg.Error as error:
                conn.rollback()
                print(f"pgvector not available ({error}); HNSW skipped", file=sys.stderr)
        cur.execute("SELECT version()")
        server = cur.fetchone()[0].split(",")[0]
    conn.commit()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    flags = open("/proc/cpuinfo").read()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    print(f"{server}; {cpu} ({simd}), {len(__import__('os').sched_getaffinity(0))} cores; "
          f"load average {open('/proc/loadavg').read().split()[0]} at the start")
    for name in args.sets.split(","):
        if name == "mips":
            data, queries = synthetic_mips(args.rows, args.dim, seed=20, queries=args.queries)
            run_set(conn, "mips (TAS-B-like, unnormalised)", data, queries, args, have_vector)
        elif name == "files":
            if not args.files:
                sys.exit("--sets files needs --files CORPUS QUERIES DIM")
            dim = int(args.files[2])
            data = read_f32(args.files[0], dim)
            queries = read_f32(args.files[1], dim)[: args.queries]
            run_set(conn, f"files {args.files[0]}", data, queries, args, have_vector)
        else:
            sys.exit(f"unknown set {name}")
    print(f"load average {open('/proc/loadavg').read().split()[0]} at the end")


if __name__ == "__main__":
    main()
