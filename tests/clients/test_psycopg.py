"""tasbvec and tasbhalf through psycopg 3, as a plain (non-superuser) role: pgvector-python's
adapters registered by type name, and the dependency-free recipe in tasb_psycopg.py.
Run by tests/clients.sh, which creates the database, the role and the venv; connection settings
come from the PG* environment variables. Prints one line per check; `--counts FILE` writes
"PASSED FAILED" to FILE instead of the summary line."""

import sys
import traceback

import numpy as np
import psycopg
from pgvector import HalfVector, Vector
from pgvector.psycopg import register_vector
from pgvector.psycopg.halfvec import register_halfvec_info
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from tasb_psycopg import register_tasb

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok      clients/python: {name}")
    else:
        failed += 1
        print(f"FAILED  clients/python: {name}" + (f" ({detail})" if detail else ""))


def same(a, b):
    """Bit-for-bit equal arrays of the same dtype and shape (NaN never occurs here)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.all(a == b))


def sqlstate_of(fn):
    try:
        fn()
    except psycopg.Error as e:
        return e.sqlstate, str(e).splitlines()[0]
    return None, "no error"


def ranked_like(ids, scores, k, tol=1e-5):
    """ids are the k best by the reference `scores` (larger is better), allowing swaps of ties."""
    order = np.argsort(-scores, kind="stable")[:k]
    if list(ids) == [int(i) for i in order]:
        return True
    if len(ids) != k or len(set(ids)) != k:
        return False
    return bool(
        np.all(np.abs(scores[list(ids)] - scores[order]) <= tol * np.maximum(1, np.abs(scores[order])))
    )


rng = np.random.default_rng(18)
N = 1000
K = 10
data = rng.standard_normal((N, 3)).astype(np.float32)
half = data.astype(np.float16)
null_ids = {17, 500}


def run_pgvector(conn):
    """pgvector-python: register_vector_info / register_halfvec_info with tasb's type names."""
    try:
        register_vector(conn)
        state = "registered"
    except psycopg.ProgrammingError as e:
        state = str(e)
    check(
        "pgvector's register_vector(conn) raises 'vector type not found' (it looks up 'vector')",
        "vector type not found" in state,
        state,
    )
    register_vector_info(conn, TypeInfo.fetch(conn, "tasbvec"))
    register_halfvec_info(conn, TypeInfo.fetch(conn, "tasbhalf"))

    check(
        "connected as a plain role",
        conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,),
    )
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, emb tasbvec(3), half tasbhalf(3))")
    check(
        "the plain role owns the table",
        conn.execute("SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'items'").fetchone()
        == (True,),
    )

    # Parameters: %s (binary: the binary dumper is registered last), %t text, %b binary.
    # numpy arrays for tasbvec; tasbhalf takes HalfVector (pgvector registers no ndarray dumper for
    # it) or an ndarray sent as tasbvec and cast on assignment.
    with conn.cursor() as cur:
        for placeholder, ids in (("%s", range(300)), ("%t", range(300, 600)), ("%b", range(600, 700))):
            cur.executemany(
                f"INSERT INTO items VALUES (%s, {placeholder}, {placeholder})",
                [
                    (i, None if i in null_ids else data[i], None if i in null_ids else HalfVector(data[i]))
                    for i in ids
                ],
            )
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s)", [(i, data[i], data[i]) for i in range(700, 800)]
        )

    # COPY FROM STDIN binary with write_row: ndarray for tasbvec, HalfVector for tasbhalf.
    with conn.cursor() as cur, cur.copy("COPY items (id, emb, half) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "tasbvec", "tasbhalf"])
        for i in range(800, N):
            copy.write_row((i, data[i], HalfVector(data[i])))
    check(
        "rows in through %s, %t, %b and COPY BINARY",
        conn.execute("SELECT count(*) FROM items").fetchone() == (N,),
    )

    def compare(rows, label):
        ok_vec = ok_half = ok_null = True
        for i, v, h in rows:
            if i in null_ids:
                ok_null &= v is None and h is None
                continue
            ok_vec &= isinstance(v, Vector) and same(v.to_numpy(), data[i])
            ok_half &= isinstance(h, HalfVector) and same(h.to_numpy(), half[i])
        check(f"{label}: tasbvec comes back as Vector, .to_numpy() equal to the float32 input", ok_vec)
        check(f"{label}: tasbhalf comes back as HalfVector equal to numpy float16 of the input", ok_half)
        check(f"{label}: NULLs come back as None", ok_null)

    compare(conn.execute("SELECT id, emb, half FROM items ORDER BY id").fetchall(), "text results")
    with conn.cursor(binary=True) as cur:
        compare(cur.execute("SELECT id, emb, half FROM items ORDER BY id").fetchall(), "binary results")
    with conn.cursor() as cur, cur.copy("COPY items (id, emb, half) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "tasbvec", "tasbhalf"])
        rows = sorted(copy.rows(), key=lambda r: r[0])
    check("COPY TO binary returns every row", len(rows) == N)
    compare(rows, "COPY TO binary")

    # Search: the k best by each operator against numpy on the same float32 (float16) values.
    q = rng.standard_normal(3).astype(np.float32)
    valid = np.array([i not in null_ids for i in range(N)])
    for column, values in (("emb", data.astype(np.float64)), ("half", half.astype(np.float64))):
        dot = np.where(valid, values @ q.astype(np.float64), -np.inf)
        ids = [r[0] for r in conn.execute(f"SELECT id FROM items ORDER BY {column} <#> %s LIMIT {K}", (q,))]
        check(
            f"ORDER BY {column} <#> %s LIMIT {K}: the ids of the largest numpy dot products",
            ranked_like(ids, dot, K),
            ids,
        )
        got = np.array(
            [
                r[1]
                for r in conn.execute(
                    f"SELECT id, -({column} <#> %s) FROM items WHERE {column} IS NOT NULL ORDER BY id", (q,)
                )
            ]
        )
        check(
            f"-({column} <#> q) equals numpy's dot product",
            np.allclose(got, dot[valid], rtol=1e-5, atol=1e-6),
        )
        l2 = np.where(valid, -np.linalg.norm(values - q, axis=1), -np.inf)
        ids = [r[0] for r in conn.execute(f"SELECT id FROM items ORDER BY {column} <-> %s LIMIT {K}", (q,))]
        check(
            f"ORDER BY {column} <-> %s: the nearest by numpy's Euclidean distance",
            ranked_like(ids, l2, K),
            ids,
        )
        cos = np.where(valid, values @ q / (np.linalg.norm(values, axis=1) * np.linalg.norm(q)), -np.inf)
        ids = [r[0] for r in conn.execute(f"SELECT id FROM items ORDER BY {column} <=> %s LIMIT {K}", (q,))]
        check(f"ORDER BY {column} <=> %s: the nearest by numpy's cosine", ranked_like(ids, cos, K), ids)
    check(
        "a NULL query vector gives NULL distances",
        conn.execute("SELECT count(*) FROM items WHERE emb <#> %s IS NULL", (None,)).fetchone() == (N,),
    )

    # Dimension mismatches: SQLSTATE 22000 (data_exception), as pgvector.
    four = np.ones(4, np.float32)
    for label, run in (
        (
            "tasbvec(3) given 4 dimensions (binary)",
            lambda: conn.execute("INSERT INTO items (id, emb) VALUES (-1, %b)", (four,)),
        ),
        (
            "tasbvec(3) given 4 dimensions (text)",
            lambda: conn.execute("INSERT INTO items (id, emb) VALUES (-1, %t)", (four,)),
        ),
        (
            "tasbhalf(3) given 4 dimensions",
            lambda: conn.execute("INSERT INTO items (id, half) VALUES (-1, %s)", (HalfVector(four),)),
        ),
    ):
        state, message = sqlstate_of(run)
        check(
            f"{label}: SQLSTATE 22000",
            state == "22000" and "expected 3 dimensions, not 4" in message,
            f"{state}: {message}",
        )

    def copy_wrong():
        with conn.cursor() as cur, cur.copy("COPY items (id, emb) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "tasbvec"])
            copy.write_row((-1, four))

    state, message = sqlstate_of(copy_wrong)
    check(
        "COPY BINARY of 4 dimensions into tasbvec(3): SQLSTATE 22000", state == "22000", f"{state}: {message}"
    )
    state, message = sqlstate_of(
        lambda: conn.execute("SELECT id FROM items ORDER BY emb <#> %s LIMIT 1", (np.ones(2),))
    )
    check(
        "a 2-d query against tasbvec(3): SQLSTATE 22000",
        state == "22000" and "different vector dimensions" in message,
        f"{state}: {message}",
    )

    # tasbhalf rounding: the server's float32 -> float16 is numpy's (round to nearest, ties to even,
    # subnormals kept); beyond 65504 after rounding is an error (22003).
    conn.execute("CREATE TEMP TABLE halves (v tasbhalf)")
    values = np.concatenate(
        [
            rng.standard_normal(3000).astype(np.float32) * np.float32(10.0) ** rng.integers(-9, 5, 3000),
            np.array(
                [
                    1 + 2**-11,
                    1 + 3 * 2**-11,
                    -(1 + 2**-11),
                    2**-24,
                    1.5 * 2**-24,
                    2**-25,
                    2**-26,
                    6.1e-5,
                    65504,
                    65519,
                    -65519,
                    0.1,
                ],
                np.float32,
            ),
        ]
    ).astype(np.float32)
    values = values[np.abs(values) < 65520]  # the largest that round to a finite float16
    conn.execute("INSERT INTO halves VALUES (%s)", (values,))
    back = conn.execute("SELECT v FROM halves").fetchone()[0].to_numpy()
    expect = values.astype(np.float16)
    check(
        f"{values.size} float32 values into tasbhalf round as numpy float16",
        same(back, expect),
        f"{int(np.sum(back != expect))} differ",
    )
    hv = conn.execute("SELECT %s::tasbhalf", (np.array([65519], np.float32),)).fetchone()[0]
    check("65519 rounds to 65504 (still finite)", hv.to_list() == [65504.0])
    state, message = sqlstate_of(
        lambda: conn.execute("SELECT %s::tasbhalf", (np.array([65520], np.float32),))
    )
    check("65520 overflows tasbhalf: SQLSTATE 22003", state == "22003", f"{state}: {message}")
    # A decimal literal is read as float32 first, then rounded to float16 (pgvector's halfvec does
    # the same): a value just above a float16 midpoint can round down, unlike numpy's float16(str).
    hv = conn.execute("SELECT '[1.00048828218]'::tasbhalf").fetchone()[0]
    check(
        "text '1.00048828218' into tasbhalf is 1.0 (numpy's float16 of the decimal: 1.000977)",
        hv.to_list() == [1.0]
        and float(np.float16(np.float32(1.00048828218))) == 1.0
        and float(np.float16(1.00048828218)) == 1 + 2**-10,
        hv.to_list(),
    )

    # Large vectors round-trip exactly in both formats.
    big = rng.standard_normal(768).astype(np.float32)
    for placeholder in ("%t", "%b"):
        v = conn.execute(f"SELECT {placeholder}::tasbvec", (big,)).fetchone()[0]
        check(f"768-d tasbvec round trip through {placeholder}", same(v.to_numpy(), big))


def run_plain(conn):
    """tasb_psycopg.register_tasb: numpy arrays in and out with no pgvector."""
    register_tasb(conn)
    back = conn.execute("SELECT emb, half FROM items WHERE id = 3").fetchone()
    check(
        "plain recipe, text: numpy float32 and float16 arrays",
        same(back[0], data[3]) and same(back[1], half[3]),
    )
    with conn.cursor(binary=True) as cur:
        rows = cur.execute("SELECT id, emb, half FROM items ORDER BY id").fetchall()
    ok = all(
        (v is None and h is None) if i in null_ids else (same(v, data[i]) and same(h, half[i]))
        for i, v, h in rows
    )
    check("plain recipe, binary: every row equal, NULLs as None", ok and len(rows) == N)
    conn.execute("CREATE TEMP TABLE plain (id int, emb tasbvec(3), half tasbhalf(3))")
    conn.execute(
        "INSERT INTO plain VALUES (1, %t, %t), (2, %b, %b), (3, %s, %s)",
        (data[1], data[1], data[2], data[2], data[3], half[3]),
    )
    with conn.cursor() as cur, cur.copy("COPY plain FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "tasbvec", "tasbhalf"])
        copy.write_row((4, data[4], data[4]))
        copy.write_row((5, None, None))
    rows = conn.execute("SELECT id, emb, half FROM plain ORDER BY id").fetchall()
    ok = all(same(v, data[i]) and same(h, half[i]) for i, v, h in rows[:4]) and rows[4][1:] == (None, None)
    check("plain recipe: %t, %b, %s and COPY BINARY in", ok and len(rows) == 5)
    with conn.cursor() as cur, cur.copy("COPY plain TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "tasbvec", "tasbhalf"])
        rows = sorted(copy.rows(), key=lambda r: r[0])
    ok = all(same(v, data[i]) and same(h, half[i]) for i, v, h in rows[:4]) and rows[4][1:] == (None, None)
    check("plain recipe: COPY TO binary out", ok and len(rows) == 5)
    q = rng.standard_normal(3).astype(np.float32)
    dot = np.where([i not in null_ids for i in range(N)], data.astype(np.float64) @ q, -np.inf)
    ids = [r[0] for r in conn.execute(f"SELECT id FROM items ORDER BY emb <#> %s LIMIT {K}", (q,))]
    check("plain recipe: ORDER BY emb <#> %s LIMIT k", ranked_like(ids, dot, K), ids)
    state, message = sqlstate_of(lambda: conn.execute("INSERT INTO plain (emb) VALUES (%s)", (np.ones(4),)))
    check(
        "plain recipe: 4 dimensions into tasbvec(3): SQLSTATE 22000", state == "22000", f"{state}: {message}"
    )


def main():
    counts = sys.argv[sys.argv.index("--counts") + 1] if "--counts" in sys.argv else None
    for part in (run_pgvector, run_plain):
        try:
            with psycopg.connect(autocommit=True) as conn:
                part(conn)
        except Exception:  # noqa: BLE001 (any failure is one failed check)
            traceback.print_exc()
            check(f"{part.__name__} ran to the end", False)
    if counts:
        with open(counts, "w") as f:
            f.write(f"{passed} {failed}\n")
    else:
        print(f"clients/python: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
