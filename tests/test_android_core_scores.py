"""The Android core on a real export: the scores the app shows are probabilities.

A tiny untrained S-MobileNet v1 (two switches) is exported to fp32 and int8
.tflite files with `tflite_export.export.export_model`; each file is run
through the LiteRT interpreter and its raw output tensor is handed to the Java
core (`CoreTool scores`), which validates the export, decodes the tensor and
ranks the classes exactly as the app does. The shown scores must lie in
[0, 1], sum to at most 1, and equal an independent numpy computation: the
softmax of the output for `output_kind` "logits" (the default of exports
without the key), the output itself for "probabilities".
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import slimkeras
from slimkeras.datasets import fashion_mnist
from java_core import compile_core  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK"),
              pytest.mark.xdist_group(__name__)]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    from tflite_export.export import export_model

    model = slimkeras.models.mobilenet_v1(width_mult_list=[0.25, 0.5], input_shape=(28, 28, 1),
                                          num_classes=10)
    rng = np.random.default_rng(0)
    head = model.get_layer("predictions")
    kernel = head.get_weights()[0]
    # Large logits: shown as they are, they would leave [0, 1].
    head.set_weights([rng.normal(0, 3, kernel.shape).astype(np.float32)] + head.get_weights()[1:])
    out = tmp_path_factory.mktemp("tiny_export") / "export"
    images = rng.normal(0, 1, (16, 28, 28, 1)).astype(np.float32)
    export_model(model, str(out), widths=[0.25], precisions=("fp32", "int8"),
                 labels=list(fashion_mnist.LABELS), preprocessing=fashion_mnist.preprocessing(),
                 representative=images, representative_images=16, eval_images=0,
                 bench_threads=(), verbose=0)
    return out


@pytest.fixture(scope="module")
def core_build():
    return compile_core("pytest-scores")


def raw_output(path, image):
    """The model's output tensor as stored (int8 levels for int8 models) for one image."""
    from tflite_export.runtime import TFLiteModel, quantize

    model = TFLiteModel(path)
    interpreter = model.interpreter
    interpreter.set_tensor(model.input_details["index"], quantize(image[None], model.input_details))
    interpreter.invoke()
    return interpreter.get_tensor(model.output_details["index"]), model.output_details


def expected_probabilities(raw, details, output_kind):
    from tflite_export.runtime import dequantize

    values = dequantize(raw, details).astype(np.float64).reshape(-1)
    if output_kind == "probabilities":
        return values
    exp = np.exp(values - values.max())
    return exp / exp.sum()


def test_shown_scores_of_a_real_export_are_probabilities(export_dir, core_build, tmp_path):
    manifest = json.loads((export_dir / "manifest.json").read_text())
    output_kind = manifest.get("output_kind", "logits")
    image = np.random.default_rng(1).normal(0, 1, (28, 28, 1)).astype(np.float32)
    assert {m["precision"] for m in manifest["models"]} == {"fp32", "int8"}
    for entry in manifest["models"]:
        raw, details = raw_output(export_dir / entry["path"], image)
        tensor = tmp_path / f"{entry['id']}.bin"
        tensor.write_bytes(np.ascontiguousarray(raw).astype(raw.dtype.newbyteorder("<")).tobytes())
        result = subprocess.run(["java", "-cp", str(core_build), "org.slimkeras.core.CoreTool", "scores",
                                 str(export_dir), entry["id"], str(tensor)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = [line.split(" ", 2) for line in result.stdout.splitlines()]
        shown = np.array([float(score) for score, _, _ in lines])
        indices = [int(index) for _, index, _ in lines]
        assert sorted(indices) == list(range(10)) and list(shown) == sorted(shown, reverse=True)
        assert [label for _, _, label in lines] == [manifest["labels"][i] for i in indices]
        assert np.all(shown >= 0) and np.all(shown <= 1), shown
        # Quantized probabilities carry each level's rounding (at most scale / 2 per class).
        quantization = entry["output"]["quantization"]
        slack = 1e-5 if quantization is None or output_kind == "logits" else 10 * quantization["scale"] / 2
        assert shown.sum() <= 1 + slack, (entry["id"], shown.sum())
        expected = expected_probabilities(raw, details, output_kind)
        np.testing.assert_allclose(shown, expected[indices], atol=1e-6, err_msg=entry["id"])
        if output_kind == "logits":
            values = expected_probabilities(raw, details, "probabilities")
            assert values.max() > 1 or values.min() < 0  # the softmax was needed
