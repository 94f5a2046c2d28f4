#!/usr/bin/env python3
"""Builds a tasb model directory from a Hugging Face BERT or DistilBERT directory, without PyTorch.

    safetensors_to_onnx.py SOURCE_DIR OUT_DIR [--int8]

Why: scripts/export_model.py traces the model with torch.onnx, and torch is a ~6 GB install. A demo on a
fresh machine only needs the encoder's forward pass, which for BERT-family models is small and fixed, so
this script writes that ONNX graph by hand from config.json and model.safetensors. It needs only
`pip install numpy onnx safetensors` (plus onnxruntime for --int8).

SOURCE_DIR holds config.json, model.safetensors (or a sharded model.safetensors.index.json) and
tokenizer.json. OUT_DIR gets what export_model.py writes for one precision: model.onnx (int64 inputs
input_ids, attention_mask and, for BERT, token_type_ids, all [batch, sequence]; float32 output
last_hidden_state [batch, sequence, hidden]), copies of config.json and the tokenizer files, and
sentence-transformers' modules.json, sentence_bert_config.json and 1_Pooling/config.json when present.
--int8 writes a dynamically quantised model.onnx instead (QInt8 MatMul weights, as export_model.py does).

The graph mirrors Hugging Face's eager implementation op by op (opset 17): LayerNormalization, exact
erf GELU, attention as MatMul -> Div by sqrt(head_dim) -> add mask bias -> Softmax -> MatMul, the bias
being (1 - mask) * float32 min as transformers computes it. The op order is the classic BERT export's,
the one ONNX Runtime's fusions look for: at load time it fuses the scale into the MatMul and the GELU
with its bias (BiasGelu); its offline onnxruntime.transformers optimizer also finds Attention and
SkipLayerNormalization. Initializers keep the checkpoint's names (a "bert."/"distilbert." prefix
dropped); Linear weights are stored transposed, [in, out], to feed MatMul directly.
scripts/check_numpy_export.py compares the result with PyTorch and with the torch export.
"""
import argparse
import json
import pathlib
import shutil
import sys

import numpy as np
from onnx_files import SENTENCE_TRANSFORMERS_FILES

COPIED = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
          "vocab.txt"] + SENTENCE_TRANSFORMERS_FILES
REQUIRED = ["config.json", "tokenizer.json"]

# Per architecture: the checkpoint prefix, where layer i's weights live, and the sub-module names of
# one layer: q, k, v, attention output, LayerNorm after attention, FFN in, FFN out, LayerNorm after FFN.
ARCH = {
    "bert": dict(prefix="bert.", layer="encoder.layer.{}.", parts=[
        "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
        "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"]),
    "distilbert": dict(prefix="distilbert.", layer="transformer.layer.{}.", parts=[
        "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
        "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"]),
}


def fail(message):
    print(f"safetensors_to_onnx: {message}", file=sys.stderr)
    sys.exit(1)


def read_config(source):
    """The encoder's shape from config.json, normalised over BERT's and DistilBERT's key names."""
    config = json.loads((source / "config.json").read_text())
    kind = config.get("model_type")
    if kind == "bert":
        if config.get("position_embedding_type", "absolute") != "absolute":
            fail(f"position_embedding_type {config['position_embedding_type']!r} is not supported (only absolute)")
        act = config.get("hidden_act", "gelu")
        shape = (config["hidden_size"], config["num_attention_heads"], config["num_hidden_layers"],
                 config.get("layer_norm_eps", 1e-12))
    elif kind == "distilbert":
        act = config.get("activation", "gelu")
        shape = (config["dim"], config["n_heads"], config["n_layers"], 1e-12)
    else:
        fail(f"model_type {kind!r} in {source / 'config.json'} is not supported (bert or distilbert)")
    if act != "gelu":
        fail(f"activation {act!r} is not supported (only the exact erf 'gelu')")
    return kind, shape


def read_weights(source, prefix):
    """All tensors of model.safetensors (or its shards) as float32 arrays, the model prefix removed."""
    from safetensors.numpy import load_file

    index = source / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (source / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        fail(f"{source} has no model.safetensors (PyTorch .bin checkpoints need scripts/export_model.py)")
    weights = {}
    for name in files:
        try:
            tensors = load_file(str(source / name))
        except Exception as e:  # numpy has no bfloat16, for one
            fail(f"cannot read {source / name}: {e}")
        for key, value in tensors.items():
            key = key.removeprefix(prefix)
            # Very old BERT checkpoints call LayerNorm's parameters gamma and beta.
            key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
            # float16 and bfloat16 (an ml_dtypes type, which onnx installs) become float32
            weights[key] = value if value.dtype.kind in "iub" else value.astype(np.float32)
    return weights


class Graph:
    """Collects ONNX nodes and initializers; each helper returns the name of its output."""

    def __init__(self, weights):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.weights, self.nodes, self.initializers, self.count = weights, [], {}, 0

    def weight(self, key, transpose=False):
        if key not in self.weights:
            fail(f"model.safetensors has no tensor {key!r}: not a standard BERT/DistilBERT checkpoint?")
        if key not in self.initializers:
            value = self.weights[key].T if transpose else self.weights[key]
            self.initializers[key] = self.numpy_helper.from_array(np.ascontiguousarray(value), key)
        return key

    def const(self, value, dtype=np.float32):
        name = f"const_{len(self.initializers)}"
        self.initializers[name] = self.numpy_helper.from_array(np.array(value, dtype=dtype), name)
        return name

    def op(self, op_type, *inputs, output=None, **attributes):
        self.count += 1
        output = output or f"{op_type.lower()}_{self.count}"
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], f"{op_type}_{self.count}",
                                                **attributes))
        return output

    def linear(self, x, module):  # x @ W.T + b, W in PyTorch's [out, in] layout
        return self.op("Add", self.op("MatMul", x, self.weight(f"{module}.weight", transpose=True)),
                       self.weight(f"{module}.bias"))

    def layer_norm(self, x, module, eps):
        return self.op("LayerNormalization", x, self.weight(f"{module}.weight"), self.weight(f"{module}.bias"),
                       axis=-1, epsilon=eps)

    def gelu(self, x):  # 0.5 * x * (1 + erf(x / sqrt(2))), in the order ONNX Runtime's GeluFusion matches
        erf = self.op("Erf", self.op("Div", x, self.const(np.sqrt(2.0))))
        return self.op("Mul", self.op("Mul", x, self.op("Add", erf, self.const(1.0))), self.const(0.5))


def build(kind, shape, weights):
    from onnx import TensorProto, helper

    hidden, heads, layers, eps = shape
    if hidden % heads:
        fail(f"hidden size {hidden} is not a multiple of the {heads} attention heads")
    head_dim = hidden // heads
    g = Graph(weights)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if kind == "bert" else [])

    # Embeddings: word + position (+ token type), then LayerNorm. Positions 0..seq-1 are a slice.
    seq_len = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op("Slice", g.weight("embeddings.position_embeddings.weight"), g.const([0], np.int64),
                     seq_len, g.const([0], np.int64))
    x = g.op("Add", g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids"), positions)
    if kind == "bert":
        x = g.op("Add", x, g.op("Gather", g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"))
    x = g.layer_norm(x, "embeddings.LayerNorm", eps)

    # Additive mask, [batch, 1, 1, seq]: 0 where attended, float32 min at padding (as transformers).
    mask = g.op("Unsqueeze", g.op("Unsqueeze", "attention_mask", g.const([1], np.int64)), g.const([2], np.int64))
    mask = g.op("Cast", mask, to=TensorProto.FLOAT)
    bias = g.op("Mul", g.op("Sub", g.const(1.0), mask), g.const(np.finfo(np.float32).min))

    split = g.const([0, 0, heads, head_dim], np.int64)  # [b, s, hidden] -> [b, s, heads, head_dim]
    merge = g.const([0, 0, hidden], np.int64)
    scale = g.const(np.sqrt(head_dim))
    for i in range(layers):
        q, k, v, out, norm1, ffn_in, ffn_out, norm2 = (ARCH[kind]["layer"].format(i) + p for p in ARCH[kind]["parts"])
        query = g.op("Transpose", g.op("Reshape", g.linear(x, q), split), perm=[0, 2, 1, 3])  # [b, h, s, d]
        key = g.op("Transpose", g.op("Reshape", g.linear(x, k), split), perm=[0, 2, 3, 1])  # [b, h, d, s]
        value = g.op("Transpose", g.op("Reshape", g.linear(x, v), split), perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Div", g.op("MatMul", query, key), scale), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge)
        x = g.layer_norm(g.op("Add", g.linear(context, out), x), norm1, eps)
        ffn = g.linear(g.gelu(g.linear(x, ffn_in)), ffn_out)
        x = g.layer_norm(g.op("Add", ffn, x), norm2, eps)
    g.op("Identity", x, output="last_hidden_state")

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in names]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])]
    graph = helper.make_graph(g.nodes, f"{kind}_encoder", inputs, outputs, list(g.initializers.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="tasb safetensors_to_onnx.py")
    model.ir_version = 8  # what opset 17 needs; newer IR versions are refused by older ONNX Runtimes
    return model


def main():
    from onnx_files import DATA_FILE, resave, save_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=pathlib.Path, help="Hugging Face model directory")
    ap.add_argument("out", type=pathlib.Path, help="tasb model directory to write")
    ap.add_argument("--int8", action="store_true", help="quantise MatMul weights to int8 (needs onnxruntime)")
    args = ap.parse_args()
    source, out = args.source, args.out
    if not source.is_dir():
        fail(f"{source} is not a directory")
    for name in REQUIRED:
        if not (source / name).is_file():
            fail(f"{source} has no {name}")
    try:
        import onnx
        import safetensors  # noqa: F401
    except ImportError as e:
        fail(f"{e}: pip install numpy onnx safetensors")
    if args.int8:
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError:
            fail("--int8 needs onnxruntime: pip install onnxruntime")

    try:
        kind, shape = read_config(source)
    except KeyError as e:
        fail(f"{source / 'config.json'} has no {e}")
    model = build(kind, shape, read_weights(source, ARCH[kind]["prefix"]))
    onnx.checker.check_model(model, full_check=True)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.onnx"
    if args.int8:
        fp32 = out / "model.fp32.tmp.onnx"
        onnx.save(model, str(fp32))
        try:
            quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
        finally:
            fp32.unlink()
        resave(target)
    else:
        save_model(model, target)
    for name in COPIED:
        if (source / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / name, out / name)
    hidden, heads, layers, _ = shape
    size = sum(f.stat().st_size for f in (target, out / DATA_FILE) if f.exists())
    print(f"wrote {target} ({size / 1e6:.0f} MB): {kind}, {layers} layers, {hidden} dims, "
          f"{heads} heads{', int8' if args.int8 else ''}")


if __name__ == "__main__":
    main()
