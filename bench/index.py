#!/usr/bin/env python3
"""Approximate top-10 by dot product: tasb_ivf side by side with pgvector's HNSW and IVFFlat and
VectorChord's vchordrq, in the same cluster and run (a peer is skipped when its CREATE EXTENSION
fails there; vchordrq needs `vchord` in shared_preload_libraries, which bench/search.sh sets).

Data sets (--sets, in the order given):
- synthetic: deterministic TAS-B-like vectors (1,000 topics, a shared direction, norms 8-12), the
  queries held-out rows of the same draw;
- mips: a harder TAS-B-like set (common.synthetic_mips: 1,000 topics on a 6-dimensional manifold
  around a shared direction, norms 9-11, where most rows are not their own best match by inner
  product); the queries are fresh draws with more noise;
- files: raw little-endian float32 rows (numpy's tofile) given by --files CORPUS QUERIES DIM, e.g.
  encodings left unnormalised;
- msmarco: real encodings of MS MARCO passages made in the database by tasb_encode_batch (via
  tasb_backfill) with the model in --model-dir: by default every passage of the file but the last
  200, whose first 12 words are the queries. Encodings are cached (as real[]) in table
  bench_msmarco_<model>, and only missing ones are encoded (all 52k: about 30 minutes of
  all-MiniLM-L6-v2 on 2 CPU cores, once).

For each index: build time (CREATE INDEX, maintenance_work_mem and parallel workers as given), index
size, then for each query-time setting recall@10 against numpy's exact answer and latency of
`SELECT id FROM t ORDER BY emb <#> $1 LIMIT 10` as a prepared statement from one client (p50, p99,
QPS = 1000 / mean ms). All indexes are built first (one table each), then swept in --passes
alternating passes; each setting reports its fastest pass (the machine's speed drifts over
minutes). vchordrq is built --vchord-builds times, since its speed differs from build to build.
Prints a markdown table per data set, then the QPS of each index at recall 0.90, 0.95 and 0.98
(linear between the two settings around it) and tasb_ivf's ratios to vchordrq and HNSW there.
"""
import argparse
import math
import os
import platform
import sys
import time
from collections import namedtuple

import numpy as np
import psycopg

from common import copy_binary, default_dsn, literal, percentile, read_f32, synthetic, synthetic_mips

# Query-time settings per method: curves of (swept GUC, its values, GUCs held fixed). QPS at a
# given recall is interpolated between neighbouring points of one curve only.
SWEEPS = {
    # tasb.probes = 0: the probes the build chose for this data (shown as "default (N)"); a curve
    # of its own, since it sits anywhere among the others.
    "tasb_ivf": [("tasb.probes", [0], {}), ("tasb.probes", [1, 2, 4, 8, 16, 32, 64, 96], {})],
    "hnsw": [("hnsw.ef_search", [10, 20, 40, 80, 160, 320], {})],
    "ivfflat": [("ivfflat.probes", [1, 2, 4, 8, 16, 32, 64], {})],
    # vchordrq.epsilon widens the error bound of its quantised estimates (more rows re-ranked):
    # 1.9 is its default, 1.0 trades recall for speed. probes is a string (one count per level).
    "vchordrq": [("vchordrq.probes", [1, 2, 4, 8, 16, 24, 32, 48, 64, 96], {"vchordrq.epsilon": 1.9}),
                 ("vchordrq.probes", [4, 16, 24, 64, 96], {"vchordrq.epsilon": 1.0})],
}
TARGETS = (0.90, 0.95, 0.98)
SETS = ("synthetic", "mips", "files", "msmarco")

# One index to build and sweep; label names it in the tables.
Index = namedtuple("Index", "method table sql_type opclass with_clause label")


def settings(method):
    """[(curve, label, {GUC: value})] of the method's sweeps, in order."""
    out = []
    for curve, (guc, values, fixed) in enumerate(SWEEPS[method]):
        suffix = "".join(f", {name.split('.')[-1]} = {value}" for name, value in fixed.items())
        out += [(curve, f"{guc} = {value}{suffix}", {guc: value, **fixed}) for value in values]
    return out


def default_lists(rows):
    """tasb_ivf's list count when none is given (crates/index/src/ivf.rs: default_lists)."""
    return max(1, min(10_000, math.floor(1.5 * math.sqrt(rows) + 0.5)))


def vchordrq_with(lists):
    """vchordrq's options (TOML, VectorChord 1.x): codes of each row's residual from its centroid
    (as tasb_ivf's are) and k-means on the sphere, on one level of `lists` lists."""
    return ("WITH (options = $$\nresidual_quantization = true\n[build.internal]\n"
            f"lists = [{lists}]\nspherical_centroids = true\n$$)")


def load(conn, table, sql_type, vectors):
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id int4, emb {sql_type}({vectors.shape[1]}))")
        payload = copy_binary(vectors, half=False)
        with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
            for i in range(0, len(payload), 1 << 24):
                copy.write(payload[i:i + (1 << 24)])
        conn.commit()
        conn.autocommit = True
        cur.execute(f"VACUUM ANALYZE {table}")
        conn.autocommit = False


def build(conn, index, args):
    """CREATE INDEX; returns (name, seconds, bytes)."""
    name = f"{index.table}_{index.method}"
    with conn.cursor() as cur:
        cur.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
        cur.execute(f"SET max_parallel_maintenance_workers = {args.parallel_workers}")
        cur.execute("SET client_min_messages = warning")
        start = time.perf_counter()
        cur.execute(f"CREATE INDEX {name} ON {index.table} USING {index.method} "
                    f"(emb {index.opclass}) {index.with_clause}")
        conn.commit()
        seconds = time.perf_counter() - start
        cur.execute(f"SELECT pg_relation_size('{name}')")
        return name, seconds, cur.fetchone()[0]


def tasb_stats(conn, name):
    """tasb_ivf_stats(name) as "column = value" pairs, whatever columns it returns."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM tasb_ivf_stats('{name}'::regclass)")
        columns = [c.name for c in cur.description]
        stats = [dict(zip(columns, row)) for row in cur.fetchall()]
    conn.commit()
    return stats


def sweep(conn, index, name, queries, truth):
    """{label: (recall@10, qps, p50 ms, p99 ms)} over the method's query-time settings."""
    results = {}
    with conn.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET jit = off")
        for _, label, gucs in settings(index.method):
            for guc, value in gucs.items():
                cur.execute(f"SET {guc} = '{value}'")
            # A new statement text per setting: a cached plan would not see the SET.
            sql = (f"/* {label} */ SELECT id FROM {index.table} "
                   f"ORDER BY emb <#> %s::{index.sql_type} LIMIT 10")
            # enable_seqscan = off only makes other plans costly: check that this is the index's.
            cur.execute("EXPLAIN (COSTS OFF) " + sql, (queries[0],))
            if name not in " ".join(r[0] for r in cur.fetchall()):
                print(f"WARNING: {label} on {index.table} does not scan {name}", file=sys.stderr)
            for q in queries[:20]:  # warm-up: pages cached, statement prepared
                cur.execute(sql, (q,), prepare=True)
                cur.fetchall()
            times, hits = [], 0
            for q, exact in zip(queries, truth):
                t0 = time.perf_counter()
                cur.execute(sql, (q,), prepare=True)
                ids = [r[0] for r in cur.fetchall()]
                times.append((time.perf_counter() - t0) * 1000)
                hits += len(set(ids) & set(exact))
            recall = hits / (10 * len(queries))
            results[label] = (recall, 1000 / np.mean(times), percentile(times, 50), percentile(times, 99))
        cur.execute("RESET ALL")
        conn.commit()
    return results


def msmarco_vectors(conn, args, tasb):
    """(corpus, queries) encoded in the database by tasb_backfill, cached as real[] in a table per
    model (so it survives the DROP EXTENSION at the start of each run). The corpus is the first
    --msmarco passages of the file, the queries the first 12 words of its last --queries passages,
    so a larger corpus reuses every encoding made for a smaller one: only missing rows are
    encoded. None when some are missing and this run skips tasb (--no-tasb)."""
    from common import DATA, read_passages

    model = os.path.basename(os.path.normpath(args.model_dir)).replace("-", "_")
    cache = f"bench_msmarco_{model}"
    rows = read_passages(DATA, None)
    query_rows = rows[-args.queries:]
    corpus_rows = rows[: min(args.msmarco, len(rows) - args.queries)]
    wanted = [(number, text, False) for number, text in corpus_rows]
    wanted += [(number, " ".join(text.split()[:12]), True) for number, text in query_rows]
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {cache} (id int, is_query bool, emb real[])")
        cur.execute(f"SELECT id, is_query FROM {cache}")
        have = set(cur.fetchall())
        missing = [row for row in wanted if (row[0], row[2]) not in have]
        conn.commit()
        if missing and not tasb:
            print(f"\n({len(missing)} MS MARCO encodings missing from {cache}, which needs tasb "
                  "(--no-tasb): skipping the MS MARCO set)")
            return None
        if missing:
            print(f"encoding {len(missing)} MS MARCO texts with {args.model_dir} (once; cached in {cache})",
                  file=sys.stderr)
            cur.execute("DROP TABLE IF EXISTS bench_msmarco_encode")
            cur.execute("CREATE TABLE bench_msmarco_encode (id int, body text, is_query bool, emb tasbvec, "
                        "PRIMARY KEY (id, is_query))")
            with cur.copy("COPY bench_msmarco_encode (id, body, is_query) FROM STDIN") as copy:
                for number, text, is_query in missing:
                    copy.write_row((number, text, is_query))
            conn.commit()
            conn.autocommit = True
            cur.execute(f"SET tasb.model_dir = '{args.model_dir}'")
            cur.execute("SET tasb.intra_op_threads = 0")
            cur.execute("CALL tasb_backfill('bench_msmarco_encode', 'body', 'emb', 256)")
            cur.execute(f"INSERT INTO {cache} SELECT id, is_query, emb::real[] "
                        "FROM bench_msmarco_encode WHERE emb IS NOT NULL")
            cur.execute("DROP TABLE bench_msmarco_encode")
            conn.autocommit = False

        def fetch(is_query, ids):
            cur.execute(f"SELECT emb FROM {cache} WHERE is_query = %s AND id = ANY(%s) ORDER BY id",
                        (is_query, ids))
            return np.array([r[0] for r in cur.fetchall()], dtype=np.float32)

        corpus = fetch(False, [number for number, _ in corpus_rows])
        queries = fetch(True, [number for number, _ in query_rows])
        conn.commit()
    return corpus, queries


def indexes_for(n, available, args):
    """The indexes to build on n rows: tasb_ivf at each --tasb-lists, then the peers whose extension
    is available. One table per index: all of them exist during the sweeps, and the planner must
    not choose between two indexes of one table."""
    out = []
    if available["tasb"]:
        out += [Index("tasb_ivf", f"bench_ix_tasb{i or ''}", "tasbvec", "tasbvec_ip_ops",
                      f"WITH (lists = {lists})" if lists else "",
                      "tasb_ivf" + (f" (lists = {lists})" if lists else ""))
                for i, lists in enumerate(args.tasb_lists)]
    if args.tasb_only:
        return out
    if available["vector"] and "hnsw" in args.peers:
        out.append(Index("hnsw", "bench_ix_pgv", "vector", "vector_ip_ops", "", "hnsw"))
    if available["vector"] and "ivfflat" in args.peers:
        # pgvector's advice: rows / 1000 lists up to a million rows.
        lists = max(1, n // 1000)
        out.append(Index("ivfflat", "bench_ix_pgv_ivfflat", "vector", "vector_ip_ops",
                         f"WITH (lists = {lists})", f"ivfflat (lists = {lists})"))
    if available["vchord"] and "vchordrq" in args.peers:
        lists = args.vchord_lists or default_lists(n)
        out += [Index("vchordrq", f"bench_ix_vchord{b or ''}", "vector", "vector_ip_ops",
                      vchordrq_with(lists), f"vchordrq (lists = {lists}) #{b + 1}")
                for b in range(args.vchord_builds)]
    return out


def qps_at(curves, target):
    """QPS at recall `target`, linear between two neighbouring points of a curve whose recalls
    bracket it (the best such pair), or None where no curve reaches across it."""
    found = []
    for curve in curves:
        found += [qps for recall, qps in curve if recall == target]
        for (r0, q0), (r1, q1) in zip(curve, curve[1:]):
            if min(r0, r1) <= target <= max(r0, r1) and r0 != r1:
                found.append(q0 + (target - r0) * (q1 - q0) / (r1 - r0))
    return max(found, default=None)


def shown_qps(qps, curves, target):
    """A cell of the equal-recall table. Where nothing brackets the target, says whether every
    setting is above it (the index is faster there than its sweep shows) or none reaches it."""
    if qps:
        return f"{qps:.0f}"
    above = all(recall > target for curve in curves for recall, _ in curve)
    return "n/a (all above)" if above else "n/a"


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def equal_recall(built, fastest):
    """The table of QPS at each target recall, with tasb_ivf's (its first build's) ratios."""
    at, cells = {}, {}
    for index, name, *_ in built:
        curves = {}
        for curve, label, _ in settings(index.method):
            curves.setdefault(curve, []).append(fastest[(name, label)][:2])
        at[index.label] = [qps_at(curves.values(), t) for t in TARGETS]
        cells[index.label] = [shown_qps(q, curves.values(), t) for q, t in zip(at[index.label], TARGETS)]
    methods = {index.label: index.method for index, *_ in built}
    tasb = next((label for label, m in methods.items() if m == "tasb_ivf"), None)
    vchord = [label for label, m in methods.items() if m == "vchordrq"]
    hnsw = next((label for label, m in methods.items() if m == "hnsw"), None)
    header = ["recall@10"] + list(at)
    if tasb and vchord:
        header += ["tasb_ivf / best vchordrq build", "tasb_ivf / worst vchordrq build"]
    if tasb and hnsw:
        header.append("tasb_ivf / HNSW")
    print(f"\nQPS at equal recall (linear between the two settings around it; n/a: no two settings "
          f"bracket it):\n\n| {' | '.join(header)} |\n|{'---|' * len(header)}")
    for i, target in enumerate(TARGETS):
        row = [f"{target:.2f}"] + [c[i] for c in cells.values()]
        if tasb and vchord:
            builds = [at[label][i] for label in vchord if at[label][i]]
            row += [ratio(at[tasb][i], max(builds, default=None)), ratio(at[tasb][i], min(builds, default=None))]
        if tasb and hnsw:
            row.append(ratio(at[tasb][i], at[hnsw][i]))
        print(f"| {' | '.join(row)} |")


def tasb_summary(built, fastest):
    """tasb_ivf's default setting and tasb_ivf_stats of each tasb_ivf index."""
    for index, name, _, _, shown, stats in [b for b in built if b[0].method == "tasb_ivf"]:
        recall, qps, _, _ = fastest[(name, "tasb.probes = 0")]
        print(f"\n- {index.label}: {shown['tasb.probes = 0']}: recall {recall:.3f}, {qps:.0f} QPS")
        for row in stats:
            print(f"- tasb_ivf_stats('{name}'): " + ", ".join(f"{k} = {v}" for k, v in row.items()))


def run_dataset(conn, label, data, query_vectors, available, args):
    n, dim = data.shape
    norms = np.linalg.norm(data, axis=1)
    print(f"\n### {label}: {n:,} x {dim}, norms {norms.min():.2f}-{norms.max():.2f}, "
          f"{len(query_vectors)} queries\n", flush=True)
    truth = [np.argsort(-(data @ q), kind="stable")[:10].tolist() for q in query_vectors]
    queries = [literal(q) for q in query_vectors]
    indexes = indexes_for(n, available, args)
    for index in indexes:
        load(conn, index.table, index.sql_type, data)
    built = []
    for index in indexes:
        name, seconds, size = build(conn, index, args)
        shown, stats = {}, []
        if index.method == "tasb_ivf":
            stats = tasb_stats(conn, name)
            chosen = stats[0].get("default_probes", "?") if stats else "?"
            shown["tasb.probes = 0"] = f"tasb.probes = default ({chosen})"
        built.append((index, name, seconds, size, shown, stats))
    # The machine's speed drifts (a shared VM): every index is swept once per pass, passes
    # alternate between the indexes, and each setting reports its fastest pass.
    fastest = {}
    for _ in range(args.passes):
        for index, name, *_ in built:
            for setting, result in sweep(conn, index, name, queries, truth).items():
                key = (name, setting)
                if key not in fastest or result[1] > fastest[key][1]:
                    fastest[key] = result
    print("| index | build | size | setting | recall@10 | QPS | p50 | p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for index, name, seconds, size, shown, _ in built:
        for _, setting, _ in settings(index.method):
            recall, qps, p50, p99 = fastest[(name, setting)]
            print(f"| {index.label} | {seconds:.1f} s | {size / 2**20:.0f} MB | {shown.get(setting, setting)} "
                  f"| {recall:.3f} | {qps:.0f} | {p50:.2f} ms | {p99:.2f} ms |", flush=True)
    equal_recall(built, fastest)
    tasb_summary(built, fastest)
    with conn.cursor() as cur:
        for index in indexes:
            cur.execute(f"DROP TABLE {index.table}")
    conn.commit()


def datasets(conn, available, args):
    """(label, corpus, queries) of each set in --sets, in order, made or read when its turn comes."""
    for name in args.sets:
        if name == "synthetic" and args.rows:
            everything = synthetic(args.rows + args.queries, args.dim, 1, norms=(8.0, 12.0))
            yield "synthetic", everything[:args.rows], everything[args.rows:]
        elif name == "mips" and args.rows:
            yield ("mips (synthetic_mips, seed 1)",
                   *synthetic_mips(args.rows, args.dim, 1, queries=args.queries))
        elif name == "files":
            for corpus, queries, dim in args.files:
                label = os.path.basename(corpus).removesuffix(".f32")
                yield (f"{label} ({corpus})", read_f32(corpus, int(dim)),
                       read_f32(queries, int(dim))[:args.queries])
        elif name == "msmarco" and args.msmarco:
            if not os.path.exists(os.path.join(args.model_dir, "model.onnx")):
                print(f"\n(no model in {args.model_dir}: run scripts/demo.sh once to export all-MiniLM-L6-v2; "
                      "skipping the MS MARCO set)")
                continue
            encoded = msmarco_vectors(conn, args, available["tasb"])
            if encoded:
                yield (f"MS MARCO encoded by tasb_encode_batch ({os.path.basename(args.model_dir)})",
                       *encoded)


def create_extension(conn, name, cascade=False):
    """The extension's version after CREATE EXTENSION IF NOT EXISTS, or None (with the reason on
    stderr) where it fails in this cluster."""
    with conn.cursor() as cur:
        try:
            cur.execute(f"CREATE EXTENSION IF NOT EXISTS {name}{' CASCADE' if cascade else ''}")
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = %s", (name,))
            version = cur.fetchone()[0]
            conn.commit()
            return version
        except psycopg.Error as e:
            conn.rollback()
            print(f"{name} not available in this cluster ({e.diag.message_primary}); skipping its indexes.",
                  file=sys.stderr)
            return None


def extensions(conn, args):
    """{"tasb", "vector", "vchord": version or None}: what this run can compare."""
    available = {"tasb": None, "vector": None, "vchord": None}
    if not args.no_tasb:
        with conn.cursor() as cur:
            # Recreate: a rebuilt library of the same version may have changed its SQL definitions.
            cur.execute("DROP EXTENSION IF EXISTS tasb CASCADE")
            cur.execute("CREATE EXTENSION tasb")
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'tasb'")
            available["tasb"] = cur.fetchone()[0]
        conn.commit()
    if not args.tasb_only:
        available["vector"] = create_extension(conn, "vector")
        if "vchordrq" in args.peers:
            # vchord loads only from shared_preload_libraries (bench/search.sh adds it there).
            available["vchord"] = create_extension(conn, "vchord", cascade=True)
    return available


def parse_sets(value):
    sets = value.split(",")
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown set {', '.join(unknown)} (known: {', '.join(SETS)})")
    return sets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=default_dsn("tasb_bench"))
    ap.add_argument("--sets", type=parse_sets, default=None,
                    help=f"comma-separated data sets, of {', '.join(SETS)} (default: mips,msmarco, "
                         "and files when --files is given)")
    ap.add_argument("--rows", type=int, default=100_000, help="synthetic and mips rows (0: skip both)")
    ap.add_argument("--dim", type=int, default=768, help="synthetic and mips dimensions")
    ap.add_argument("--queries", type=int, default=200, help="queries per set (files: their first N)")
    ap.add_argument("--files", action="append", nargs=3, default=[], metavar=("CORPUS", "QUERIES", "DIM"),
                    help="raw little-endian float32 rows for the files set (repeat for several)")
    ap.add_argument("--msmarco", type=int, default=51_796,
                    help="MS MARCO passages to encode (0: skip; default: the whole file less the queries)")
    ap.add_argument("--model-dir", default="/var/tmp/tasb/models/all-minilm-l6-v2")
    ap.add_argument("--maintenance-work-mem", default="2GB")
    ap.add_argument("--parallel-workers", type=int, default=2, help="max_parallel_maintenance_workers")
    ap.add_argument("--tasb-lists", type=lambda v: [int(x) for x in v.split(",")], default=[0],
                    help="comma-separated tasb_ivf list counts to build in turn (0: its default)")
    ap.add_argument("--tasb-only", action="store_true", help="skip the other extensions' indexes")
    ap.add_argument("--no-tasb", action="store_true",
                    help="skip tasb entirely (no DROP/CREATE EXTENSION tasb): the peers alone")
    ap.add_argument("--peers", type=lambda v: v.split(","), default=["hnsw", "ivfflat", "vchordrq"],
                    help="indexes to compare with: hnsw, ivfflat, vchordrq (IVFFlat's sweep takes minutes "
                         "at 1M rows)")
    ap.add_argument("--vchord-lists", type=int, default=0,
                    help="vchordrq lists (0: tasb_ivf's default count, about 1.5 * sqrt(rows))")
    ap.add_argument("--vchord-builds", type=int, default=2,
                    help="vchordrq indexes built and swept (one table each): its speed varies by build")
    ap.add_argument("--passes", type=int, default=2,
                    help="sweeps of every index, alternating; each setting reports its fastest pass")
    args = ap.parse_args()
    if args.sets is None:
        args.sets = ["mips", "msmarco"] + (["files"] if args.files else [])
    if "files" in args.sets and not args.files:
        ap.error("the files set needs --files CORPUS QUERIES DIM")
    if args.tasb_only and args.no_tasb:
        ap.error("--tasb-only and --no-tasb leave nothing to measure")

    conn = psycopg.connect(args.dsn)
    available = extensions(conn, args)
    with conn.cursor() as cur:
        cur.execute("SELECT version()")
        version = cur.fetchone()[0].split(",")[0]
    conn.commit()
    load1, _, _ = os.getloadavg()
    print(f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, load average "
          f"{load1:.2f} at start; {version}; tasb {available['tasb'] or 'skipped'}; pgvector "
          f"{available['vector'] or 'not installed'}; VectorChord {available['vchord'] or 'not installed'}; "
          f"maintenance_work_mem {args.maintenance_work_mem}, max_parallel_maintenance_workers "
          f"{args.parallel_workers}; 1 client, prepared statements")
    for label, corpus, queries in datasets(conn, available, args):
        run_dataset(conn, label, corpus, queries, available, args)
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'bench\\_ix\\_%'")
        for (table,) in cur.fetchall():
            cur.execute(f"DROP TABLE {table}")
    conn.commit()


if __name__ == "__main__":
    main()
