"""Reading the trained model an export starts from: a .keras file of a SlimmableModel."""

import os

from tflite_export.errors import ExportError


def load_model(path):
    """A SlimmableModel from a .keras file, with clear errors for missing or corrupt files.

    Args:
        path: the .keras file.

    Raises:
        ExportError: no such file, not a readable .keras model (Keras' own
            message, complete, on one line), or not a SlimmableModel.
    """
    if not os.path.isfile(path):
        raise ExportError(f"--model={path}: no such file (give the final.keras a training run wrote).")
    import slimkeras  # before keras: filters TensorFlow's start-up noise
    import keras

    try:
        model = keras.saving.load_model(path)
    except Exception as e:  # zip, JSON and deserialization errors all mean "not a usable .keras"
        detail = " ".join(str(e).split())
        raise ExportError(f"--model={path} is not a readable .keras model ({type(e).__name__}: {detail}).") from None
    if not isinstance(model, slimkeras.SlimmableModel):
        raise ExportError(f"--model={path} holds a {type(model).__name__}, not a slimkeras SlimmableModel.")
    return model


def run_info(model_path):
    """results.json of the training run beside the model ({} if there is none or it is unreadable)."""
    import json

    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "results.json")
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
