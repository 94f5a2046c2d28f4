#!/usr/bin/env python3
"""The encoder service against the per-session path, in one run on the local cluster: memory of
the whole server with 1, 8 and 32 sessions that have each encoded a query, query latency on an
idle server and a new connection's first call, and throughput with 8 concurrent clients.

    bench/service.py MODEL_DIR [--sessions 1,8,32] [--queries 200] [--passages 512]

MODEL_DIR is set as the server's tasb.model_dir (ALTER SYSTEM) for the run; use DistilBERT-base
with random weights (scripts/make_random_distilbert.py), which costs exactly what TAS-B costs.
Queries and passages are MS MARCO's (../shared/data/msmarco-passages.tsv): queries are the first
eight words of passages, all distinct, so no cache answers them. The per-session path is the same
server with `SET tasb.service = off` in each session (its defaults: 1 thread, prepacked weights);
the service uses tasb.service_threads (default: every core). Needs psycopg.
"""
import argparse
import os
import statistics
import subprocess
import threading
import time

import psycopg

from common import DATA, default_dsn, read_passages, percentile


def server_pss_mb():
    """Summed PSS of every process of the postgres user (the server, its service process, all
    sessions), from /proc/PID/smaps_rollup."""
    pids = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout.split()
    total = 0.0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def connect(dsn, service):
    conn = psycopg.connect(dsn, autocommit=True)
    if not service:
        conn.execute("SET tasb.service = off")
    return conn


def wait_ready(dsn, model_dir):
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(600):
            state, served = conn.execute("SELECT state, model_dir FROM tasb_service_stats()").fetchone()
            if state == "ready" and served == model_dir:
                return
            time.sleep(0.1)
    raise SystemExit(f"the service did not become ready with {model_dir}")


def memory(dsn, counts, queries, service):
    rows = []
    for n in counts:
        conns = [connect(dsn, service) for _ in range(n)]
        for i, conn in enumerate(conns):
            conn.execute("SELECT tasb_encode(%s)", (queries[i % len(queries)],))
        time.sleep(0.5)
        rows.append((n, server_pss_mb()))
        for conn in conns:
            conn.close()
        time.sleep(1.0)
    return rows


def latency(dsn, queries, service):
    with connect(dsn, service) as conn:
        conn.execute("SELECT tasb_encode('warm up')")
        times = []
        for q in queries:
            started = time.perf_counter()
            conn.execute("SELECT tasb_encode(%s)", (q,))
            times.append((time.perf_counter() - started) * 1000)
    first = []
    for i in range(5):
        with connect(dsn, service) as conn:
            started = time.perf_counter()
            conn.execute("SELECT tasb_encode(%s)", (queries[i] + " first",))
            first.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50), percentile(times, 99), statistics.median(first)


def concurrent(dsn, clients, work, service):
    """Runs work(conn, client) in each of `clients` sessions at once; the wall time in seconds."""
    conns = [connect(dsn, service) for _ in range(clients)]
    for conn in conns:
        conn.execute("SELECT tasb_encode('warm up')")
    threads = [threading.Thread(target=work, args=(conn, i)) for i, conn in enumerate(conns)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--sessions", default="1,8,32")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--db", default="postgres")
    args = parser.parse_args()
    dsn = default_dsn(args.db)
    rows = read_passages(DATA, 20000)
    queries = [" ".join(text.split()[:8]) for _, text in rows[: args.queries * 4]]
    queries = list(dict.fromkeys(queries))[: args.queries * 2]
    passages = [text for _, text in rows[-args.passages:]]
    counts = [int(n) for n in args.sessions.split(",")]

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS tasb")
        old = conn.execute("SELECT setting FROM pg_settings WHERE name = 'tasb.model_dir'").fetchone()[0]
        conn.execute(f"ALTER SYSTEM SET tasb.model_dir = '{args.model_dir}'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        wait_ready(dsn, args.model_dir)
        with psycopg.connect(dsn, autocommit=True) as conn:
            threads = conn.execute("SELECT threads FROM tasb_service_stats()").fetchone()[0]
        load = os.getloadavg()[0]
        cpu = next(l.split(":")[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
        avx512 = " avx512f" in open("/proc/cpuinfo").read()
        print(f"{os.cpu_count()} vCPUs ({cpu}, {'AVX-512' if avx512 else 'AVX2, no AVX-512'}), load average "
              f"{load:.2f} at the start; model {args.model_dir}; service threads {threads}")

        results = {}
        for service in (True, False):
            name = "service" if service else "per session"
            p50, p99, first = latency(dsn, queries[: args.queries], service)
            half = args.queries // args.clients

            def short(conn, client):
                for q in queries[args.queries + client * half: args.queries + (client + 1) * half]:
                    conn.execute("SELECT tasb_encode(%s)", (q + (" s" if service else " b"),))

            short_s = concurrent(dsn, args.clients, short, service)
            share = args.passages // args.clients

            def batches(conn, client):
                mine = passages[client * share:(client + 1) * share]
                for start in range(0, len(mine), 32):
                    conn.execute("SELECT tasb_encode_batch(%s)", (mine[start:start + 32],))

            batch_s = concurrent(dsn, args.clients, batches, service)
            mem = memory(dsn, counts, queries, service)
            results[name] = dict(p50=p50, p99=p99, first=first,
                                 qps=half * args.clients / short_s,
                                 pps=share * args.clients / batch_s, mem=mem)

        print("\n| | service | per session | ratio |")
        print("|---|---|---|---|")
        s, b = results["service"], results["per session"]
        def row(label, key, fmt, better_low):
            ratio = (b[key] / s[key]) if better_low else (s[key] / b[key])
            print(f"| {label} | {fmt.format(s[key])} | {fmt.format(b[key])} | {ratio:.2f}x |")
        row("query latency p50, idle (ms)", "p50", "{:.1f}", True)
        row("query latency p99, idle (ms)", "p99", "{:.1f}", True)
        row("first call on a new connection (ms, median of 5)", "first", "{:.0f}", True)
        row(f"short queries/s, {args.clients} clients", "qps", "{:.1f}", False)
        row(f"passages/s, tasb_encode_batch of 32, {args.clients} clients", "pps", "{:.1f}", False)
        for (n, smem), (_, bmem) in zip(s["mem"], b["mem"]):
            print(f"| server PSS with {n} sessions (MB) | {smem:.0f} | {bmem:.0f} | {bmem / smem:.2f}x |")
        s1, sn = s["mem"][0][1], s["mem"][-1][1]
        print(f"\nservice: {counts[-1]} sessions take {sn / s1:.2f}x the PSS of {counts[0]} (goal: within 1.2x)")
        with psycopg.connect(dsn, autocommit=True) as conn:
            st = conn.execute("SELECT texts, batches, texts_per_batch, max_texts_per_batch, queue_wait_p50_ms, queue_wait_p99_ms FROM tasb_service_stats()").fetchone()
        print(f"service counters since start: {st[0]} texts in {st[1]} batches, {st[2]:.2f} texts per batch "
              f"(max {st[3]}), queue wait p50 {st[4]:.2f} ms, p99 {st[5]:.2f} ms")
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET tasb.model_dir = '{old}'" if old else "ALTER SYSTEM RESET tasb.model_dir")
            conn.execute("SELECT pg_reload_conf()")


if __name__ == "__main__":
    main()
