#!/usr/bin/env python3
"""Exact top-10 ranking by dot product: tasb's types side by side with pgvector's, same cluster, same run.

For each column type: COPY BINARY of N x D vectors (load time), table size, then the latency of
`SELECT id FROM t ORDER BY emb <#> $1 LIMIT 10` as a prepared statement, serial and with up to two
parallel workers (the planner decides whether to use them), p50/p99 over Q queries after one warm-up
pass. Queries run round robin over the types so that machine drift affects all alike. The top-10 of
every query is checked against numpy's exact answer. Prints a markdown table.
"""
import argparse
import os
import platform
import re
import sys
import time

import numpy as np
import psycopg

from common import copy_binary, default_dsn, literal, percentile, synthetic


def load_variant(conn, name, sql_type, storage, payload, dim):
    """Creates and fills the variant's table; returns (table, load seconds, total size in bytes)."""
    table = "bench_" + "".join(c if c.isalnum() else "_" for c in name)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id int4, emb {sql_type}({dim}))")
        if storage:
            cur.execute(f"ALTER TABLE {table} ALTER emb SET STORAGE {storage}")
        conn.commit()
        start = time.perf_counter()
        with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
            step = 1 << 24
            for i in range(0, len(payload), step):
                copy.write(payload[i:i + step])
        conn.commit()
        load_s = time.perf_counter() - start
        conn.autocommit = True
        cur.execute(f"VACUUM ANALYZE {table}")
        conn.autocommit = False
        cur.execute(f"SELECT pg_total_relation_size('{table}')")
        return table, load_s, cur.fetchone()[0]


def measure(conn, tables, queries, truth, mode, workers):
    """Runs every query on every table in turn (round robin, so drift hits all types alike).
    Returns {table: (p50 ms, p99 ms, workers launched, recall@10)}."""
    times = {t: [] for t, _ in tables}
    hits = {t: 0 for t, _ in tables}
    launched = {}
    with conn.cursor() as cur:
        cur.execute(f"SET max_parallel_workers_per_gather = {workers}")
        # A cached plan ignores later SET commands: give each mode its own statements.
        sqls = {t: f"/* {mode} */ SELECT id FROM {t} ORDER BY emb <#> %s::{sql_type} LIMIT 10"
                for t, sql_type in tables}
        for t, _ in tables:
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sqls[t].replace("%s", "'" + queries[0] + "'"))
            plan = " ".join(r[0] for r in cur.fetchall())
            found = re.search(r"Workers Launched: (\d+)", plan)
            launched[t] = int(found.group(1)) if found else 0
            for q in queries:  # warm-up: pages cached, statement prepared
                cur.execute(sqls[t], (q,), prepare=True)
        for qi, q in enumerate(queries):
            for t, _ in tables:
                t0 = time.perf_counter()
                cur.execute(sqls[t], (q,), prepare=True)
                ids = [r[0] for r in cur.fetchall()]
                times[t].append((time.perf_counter() - t0) * 1000)
                hits[t] += len(set(ids) & set(truth[qi]))
        conn.commit()
    return {t: (percentile(times[t], 50), percentile(times[t], 99), launched[t], hits[t] / (10 * len(queries)))
            for t, _ in tables}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dsn", default=default_dsn("tasb_bench"))
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--only", help="comma-separated column types to run, e.g. tasbhalf,halfvec")
    args = ap.parse_args()

    data = synthetic(args.rows, args.dim, 1)
    query_vectors = synthetic(args.queries, args.dim, 2)
    truth = [np.argsort(-(data @ q), kind="stable")[:10].tolist() for q in query_vectors]
    queries = [literal(q) for q in query_vectors]
    payload32 = copy_binary(data, half=False)
    payload16 = copy_binary(data, half=True)

    conn = psycopg.connect(args.dsn)
    with conn.cursor() as cur:
        # Recreate: a rebuilt library of the same version may have changed its SQL definitions.
        cur.execute("DROP EXTENSION IF EXISTS tasb CASCADE")
        cur.execute("CREATE EXTENSION tasb")
        conn.commit()
        variants = [("tasbvec", "tasbvec", None, payload32), ("tasbhalf", "tasbhalf", None, payload16)]
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.commit()
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            pgv = cur.fetchone()[0]
            variants += [
                (f"pgvector {pgv} vector", "vector", None, payload32),
                (f"pgvector {pgv} vector (STORAGE MAIN)", "vector", "MAIN", payload32),
                (f"pgvector {pgv} halfvec", "halfvec", None, payload16),
            ]
        except psycopg.Error as e:
            conn.rollback()
            print(f"pgvector not available in this cluster ({e.diag.message_primary}); "
                  "comparing tasb types only.", file=sys.stderr)
        cur.execute("SELECT tasb_simd_kernel(), version()")
        kernel, version = cur.fetchone()

    load1, _, _ = os.getloadavg()
    print(f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load average {load1:.2f} at start; {version.split(',')[0]}; tasb SIMD kernel {kernel}")
    print(f"Data: {args.rows:,} x {args.dim} float32, norms 9-11; {args.queries} queries; "
          f"`ORDER BY emb <#> $1 LIMIT 10`, prepared, 1 client\n")
    print("| type | load (COPY BINARY) | table size | serial p50 / p99 | parallel p50 / p99 (workers) | recall@10 |")
    print("|---|---|---|---|---|---|")
    if args.only:
        wanted = set(args.only.split(","))
        variants = [v for v in variants if v[1] in wanted]
    loaded = [(name, sql_type, *load_variant(conn, name, sql_type, storage, payload, args.dim))
              for name, sql_type, storage, payload in variants]
    tables = [(table, sql_type) for _, sql_type, table, _, _ in loaded]
    serial = measure(conn, tables, queries, truth, "serial", 0)
    parallel = measure(conn, tables, queries, truth, "parallel", 2)
    for name, _, table, load_s, size in loaded:
        s, p = serial[table], parallel[table]
        print(f"| {name} | {load_s:.1f} s | {size / 2**20:.0f} MB | {s[0]:.1f} / {s[1]:.1f} ms | "
              f"{p[0]:.1f} / {p[1]:.1f} ms ({p[2]}) | {min(s[3], p[3]):.3f} |", flush=True)
    with conn.cursor() as cur:
        for table, _ in tables:
            cur.execute(f"DROP TABLE {table}")
    conn.commit()


if __name__ == "__main__":
    main()
