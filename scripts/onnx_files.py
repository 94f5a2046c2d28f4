"""How tasb model files are written: the graph in model.onnx, the weights in model.onnx.data.

ONNX Runtime memory-maps external weight files, so every Postgres backend that loads the model
reads the same page-cache pages instead of holding a private copy (see tasb.prepack_weights).
"""
import pathlib

DATA_FILE = "model.onnx.data"
# sentence-transformers' files, copied beside the model when the source has them: they select
# mean pooling, normalisation and the maximum length.
SENTENCE_TRANSFORMERS_FILES = ["modules.json", "sentence_bert_config.json", "1_Pooling/config.json"]


def save_model(model, target):
    """Saves an onnx.ModelProto as target (model.onnx) + model.onnx.data beside it."""
    import onnx

    target = pathlib.Path(target)
    data = target.parent / DATA_FILE
    if data.exists():
        data.unlink()  # onnx appends to an existing data file
    onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA_FILE, size_threshold=1024)
    data.chmod(0o644)  # onnx creates it private; the postgres user must read it


def resave(target):
    """Rewrites a model file that a tool saved with embedded weights in tasb's layout."""
    import onnx

    save_model(onnx.load(str(target)), target)
