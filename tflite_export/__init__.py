"""Per-width TFLite export of slimmable networks, LiteRT benchmarks, the app's switching
policy on the desktop, and the slimming search.

`tflite_export.export_model(model, out_dir, widths=..., precisions=...)` exports from
Python (loaded on first use: the switching twin imports this package without TensorFlow).
"""

__all__ = ["export_model"]


def __getattr__(name):
    if name == "export_model":
        from tflite_export.export import export_model

        return export_model
    raise AttributeError(f"module 'tflite_export' has no attribute {name!r}")
