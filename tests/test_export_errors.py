"""Bad input to the tflite_export commands: one `error:` line, exit code 2, nothing left behind.

Hostile manifests (paths outside the export, wrong hashes) for bench and switch,
a full disk during export, and a .keras file the safe loader refuses. Fast: no
training, at most one small conversion.
"""

import errno
import hashlib
import json
import os

import keras
import pytest

import slimkeras
from tflite_export import bench, export
from tflite_export.switch import cli as switch

PREPROCESSING = {"height": 28, "width": 28, "channels": 1, "scale": 255.0, "mean": [0.286],
                 "std": [0.353], "layout": "NHWC"}


def one_error_line(capsys):
    """stderr of the command, checked to be exactly one `error:` line."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def write_export(directory, path="w0.5_fp32.tflite", sha256=None):
    """A minimal export: one model file and a manifest whose entry names `path` and `sha256`."""
    directory.mkdir()
    content = b"not really a model"
    (directory / "w0.5_fp32.tflite").write_bytes(content)
    (directory / "labels.txt").write_text("".join(f"{i}\n" for i in range(10)))
    tensor = {"shape": [1, 28, 28, 1], "dtype": "float32", "quantization": None}
    manifest = {
        "schema_version": 1, "model_name": "m", "mode": "slimmable", "width_range": None,
        "width_list": [0.5], "labels": [str(i) for i in range(10)], "labels_file": "labels.txt",
        "output_kind": "probabilities", "preprocessing": PREPROCESSING,
        "models": [{"id": "w0.5_fp32", "width": 0.5, "stage_ratios": None, "precision": "fp32",
                    "path": path, "sha256": sha256 or hashlib.sha256(content).hexdigest(),
                    "bytes": len(content), "input": tensor, "output": dict(tensor, shape=[1, 10]),
                    "macs": 1, "params": 1, "top1": None, "latency_ms": {}}],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("command", ["bench", "switch"])
@pytest.mark.parametrize("case, path, sha256, needle", [
    ("parent", "../../../../etc/passwd", None, "must be a relative path inside the export folder"),
    ("absolute", "/etc/passwd", None, "must be a relative path inside the export folder"),
    ("backslash", "..\\w0.5_fp32.tflite", None, "must be a relative path inside the export folder"),
    ("sha256", "w0.5_fp32.tflite", "0" * 64, "differs from its sha256"),
])
def test_hostile_manifest_is_refused_with_one_line(command, case, path, sha256, needle, tmp_path, capsys,
                                                   monkeypatch):
    out = tmp_path / "export"
    write_export(out, path, sha256)
    opened = []
    monkeypatch.setattr("tflite_export.runtime.TFLiteModel.__init__",
                        lambda self, model, threads=1: opened.append(model))
    args = [str(out), "--runs=2"] if command == "bench" else [str(out), "--budget_ms=1", "--steps=2"]
    assert {"bench": bench.main, "switch": switch.main}[command](args) == 2
    line = one_error_line(capsys)
    assert needle in line and str(out) in line, line
    assert opened == []  # refused before any model was loaded


def test_a_full_disk_during_export_leaves_nothing_and_says_so(tmp_path, capsys, monkeypatch):
    net = slimkeras.models.build("mobilenet_v1", width_mult_list=[0.5, 1.0], bn="switchable",
                                 input_shape=(28, 28, 1), num_classes=10)
    model = tmp_path / "run" / "final.keras"
    model.parent.mkdir()
    net.save(model)
    (model.parent / "results.json").write_text(json.dumps(
        {"labels": [str(i) for i in range(10)], "preprocessing": PREPROCESSING}))

    def full_disk(path, data, indent=2):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(slimkeras.io, "write_json_atomic", full_disk)  # the manifest: the last write
    out = tmp_path / "out"
    before = sorted(os.listdir(tmp_path))
    assert export.main([f"--model={model}", "--widths=0.5", "--bench_runs=0", "--eval_images=0",
                        "--quiet", f"--out={out}"]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "No space left on device" in line, line
    assert sorted(os.listdir(tmp_path)) == before  # no output directory, no staging directory


def test_a_refused_lambda_model_gets_keras_whole_message(tmp_path, capsys):
    inputs = keras.Input((4,))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(path)
    assert export.main([f"--model={path}", f"--out={tmp_path / 'out'}"]) == 2
    line = one_error_line(capsys)
    assert "If you trust the source of the artifact" in line, line
    assert line.endswith("calling `keras.config.enable_unsafe_deserialization().)."), line  # to its end
