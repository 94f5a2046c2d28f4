"""What the encoder benchmarks share: the data, the server to talk to, and the Python onnxruntime
baseline they compare tasb with (same tokenizer, length-sorted padded batches, [CLS] pooling)."""
import os
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def default_dsn(dbname):
    """The local cluster of scripts/cluster.sh (TASB_SOCKET_DIR, TASB_PORT)."""
    return (f"host={os.environ.get('TASB_SOCKET_DIR', '/var/tmp/tasb/run')} "
            f"port={os.environ.get('TASB_PORT', '5499')} user=postgres dbname={dbname}")


def read_passages(data_dir, n):
    """The first n (id, text) rows of msmarco-passages.tsv."""
    rows = []
    for line in open(pathlib.Path(data_dir) / "msmarco-passages.tsv", encoding="utf-8"):
        pid, text = line.rstrip("\n").split("\t", 1)
        rows.append((int(pid), text))
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
