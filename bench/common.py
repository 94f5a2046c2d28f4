"""What the benchmarks share: the data, the server to talk to, the Python onnxruntime baseline the
encoder benchmarks compare tasb with (same tokenizer, length-sorted padded batches, [CLS] pooling),
and the synthetic vectors, raw float32 files and COPY BINARY loader of the search benchmarks."""
import os
import pathlib
import struct

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def default_dsn(dbname):
    """The local cluster of scripts/cluster.sh (TASB_SOCKET_DIR, TASB_PORT)."""
    return (f"host={os.environ.get('TASB_SOCKET_DIR', '/var/tmp/tasb/run')} "
            f"port={os.environ.get('TASB_PORT', '5499')} user=postgres dbname={dbname}")


def read_passages(data_dir, n):
    """The first n (row number, text) rows of msmarco-passages.tsv (its passage ids are not all
    numbers: the file mixes MS MARCO v1 and v2 ids)."""
    rows = []
    for number, line in enumerate(open(pathlib.Path(data_dir) / "msmarco-passages.tsv", encoding="utf-8")):
        _, text = line.rstrip("\n").split("\t", 1)
        rows.append((number, text))
        if len(rows) == n:
            break
    return rows


def tokenizer_for(model_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(pathlib.Path(model_dir) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(512)
    return tokenizer


def run_python_ort(session, tokenizer, texts, batch):
    """Tokenizes, sorts by length, pads each batch to its longest text and runs the model,
    keeping the [CLS] row: the work tasb_encode_batch does, in Python."""
    names = [i.name for i in session.get_inputs()]
    encodings = tokenizer.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
    for b in range(0, len(order), batch):
        members = [encodings[i] for i in order[b:b + batch]]
        width = max(len(e.ids) for e in members)
        ids = np.zeros((len(members), width), np.int64)
        mask = np.zeros_like(ids)
        for r, e in enumerate(members):
            ids[r, :len(e.ids)] = e.ids
            mask[r, :len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        session.run(["last_hidden_state"], feed)[0][:, 0]


def synthetic(n, dim, seed, norms=(9.0, 11.0)):
    """TAS-B-like vectors: 1,000 topics plus a shared direction, norms uniform in `norms` (not
    unit). Deterministic for a seed; rows drawn together share topics."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(dim).astype(np.float32)
    shared /= np.linalg.norm(shared)
    topics = rng.standard_normal((1000, dim)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    which = rng.integers(0, 1000, n)
    noise = rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    v = 0.6 * shared + 0.5 * topics[which] + 0.45 * noise
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v *= rng.uniform(norms[0], norms[1], (n, 1)).astype(np.float32)
    return v.astype(np.float32)


def synthetic_mips(n, dim, seed, queries=500, topics=1000, latent=6, noise=0.2, query_noise=0.5):
    """Harder TAS-B-like (rows, queries) for inner product search: a shared direction (random pairs
    at cosine about 0.76) plus a point of `topics` clusters on a `latent`-dimensional manifold,
    norms uniform in 9-11, so that most rows have another row with a larger inner product than
    their own squared norm (a row is often not its own best match, unlike on unit vectors). The
    queries are fresh draws with more noise, not rows of the corpus."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(dim)
    shared /= np.linalg.norm(shared)
    basis = rng.standard_normal((latent, dim)) / np.sqrt(dim)
    centres = rng.standard_normal((topics, latent))

    def draw(m, eps):
        which = rng.integers(0, topics, m)
        z = centres[which] + 0.35 * rng.standard_normal((m, latent))
        out = np.empty((m, dim), np.float32)
        # In pieces of 65,536 rows, so a million rows fit in memory: consecutive draws from the
        # generator equal one large draw, so the vectors do not depend on the piece size.
        for start in range(0, m, 65536):
            part = slice(start, min(m, start + 65536))
            manifold = z[part] @ basis
            manifold /= np.linalg.norm(manifold, axis=1, keepdims=True)
            rows = manifold.shape[0]
            v = 0.866 * shared + 0.44 * manifold + eps * rng.standard_normal((rows, dim)) / np.sqrt(dim)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            out[part] = v
        out *= rng.uniform(9.0, 11.0, (m, 1)).astype(np.float32)
        return out

    return draw(n, noise), draw(queries, query_noise)


def read_f32(path, dim):
    """Rows of a raw little-endian float32 file (numpy's tofile), `dim` values each."""
    values = np.fromfile(path, dtype="<f4")
    if values.size % dim:
        raise ValueError(f"{path}: {values.size} floats is not a whole number of {dim}-d rows")
    return values.reshape(-1, dim).astype(np.float32)


def copy_binary(vectors, half):
    """The COPY BINARY stream of (id int4, emb) rows; tasb and pgvector share this vector layout."""
    n, dim = vectors.shape
    elements = vectors.astype(">f2" if half else ">f4")
    width = 2 if half else 4
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("emb_len", ">i4"),
                    ("dims", ">i2"), ("reserved", ">i2"), ("x", elements.dtype, (dim,))])
    rows = np.zeros(n, dtype=row)
    rows["fields"] = 2
    rows["id_len"] = 4
    rows["id"] = np.arange(n)
    rows["emb_len"] = 4 + width * dim
    rows["dims"] = dim
    rows["x"] = elements
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def literal(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
