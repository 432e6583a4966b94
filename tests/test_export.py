"""TFLite export: per-width files, manifest, labels.txt, int8, BN bundle, bench and switch CLIs.

A US-MobileNet v1 is trained briefly on Fashion-MNIST by `training.main --export`
(module fixture); everything else reads that run's final.keras and export.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import slimkeras
from tflite_export import bn_bundle, export, manifest as manifest_lib
from tflite_export.convert import check_bn_folded, convert, op_names
from tflite_export.runtime import TFLiteModel
from fashion_data import fashion_dir, needs_fashion  # noqa: E402
from java_core import compile_core  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [needs_fashion, pytest.mark.xdist_group(__name__)]


def fashion_test(limit=None):
    """Test images normalized independently of the exporter's data code."""
    from slimkeras.datasets.fashion_mnist import read_idx

    folder = fashion_dir("test")
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")[..., None][:limit]
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")[:limit]
    return ((images.astype(np.float32) / 255.0 - 0.2860) / 0.3530), labels.astype(np.int64)


def softmax(logits):
    """Softmax over the last axis, in float64 (a reference independent of Keras and LiteRT)."""
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    return np.exp(shifted) / np.sum(np.exp(shifted), axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("us_run")
    cmd = [sys.executable, "-m", "training.main",
           f"--flagfile={ROOT / 'training/flags/us_mbv1_fashion.flags'}", f"--model_dir={model_dir}",
           "--train_limit=25600", "--epochs=2", "--eval_limit=1000", "--eval_widths=0.25,0.5,1.0",
           "--export", "--export_quantize=fp32,int8", "--verbose=0"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


@pytest.fixture(scope="module")
def exported(run_dir):
    out = run_dir / "tflite"
    return out, json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def net(run_dir):
    return keras.saving.load_model(run_dir / "final.keras")


def test_training_export_writes_the_manifest_the_app_reads(exported, net):
    out, manifest = exported
    assert manifest["schema_version"] == 1 and manifest["mode"] == "universal"
    assert manifest["width_range"] == [0.25, 1.0] and manifest["width_list"] is None
    assert manifest["labels"][0] == "T-shirt/top" and len(manifest["labels"]) == 10
    assert manifest["preprocessing"] == {"height": 28, "width": 28, "channels": 1, "scale": 255.0,
                                         "mean": [0.286], "std": [0.353], "layout": "NHWC"}
    ids = [m["id"] for m in manifest["models"]]
    assert ids == ["w0.25_fp32", "w0.5_fp32", "w1.0_fp32", "w0.25_int8", "w0.5_int8", "w1.0_int8"]
    for precision in ("fp32", "int8"):
        models = [m for m in manifest["models"] if m["precision"] == precision]
        sizes = [m["bytes"] for m in models]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 4, sizes  # files shrink with width
    for m in manifest["models"]:
        content = (out / m["path"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == m["sha256"] and len(content) == m["bytes"]
        counts = slimkeras.profile(net, m["width"])
        assert (m["macs"], m["params"]) == (counts["macs"], counts["params"])
        assert m["input"]["shape"] == [1, 28, 28, 1] and m["output"]["shape"] == [1, 10]
        if m["precision"] == "int8":
            assert m["input"]["dtype"] == "int8" and m["input"]["quantization"]["scale"] > 0
        else:
            assert m["input"] == {"shape": [1, 28, 28, 1], "dtype": "float32", "quantization": None}
        latency = m["latency_ms"]["1"]
        assert 0 < latency["p50"] <= latency["p90"] and latency["runs"] == 50
    assert manifest_lib.file_problems(manifest, out) == []


def test_manifest_top1_is_the_files_own_accuracy(exported):
    out, manifest = exported
    images, labels = fashion_test()
    for m in manifest["models"]:
        interpreter = TFLiteModel(out / m["path"])
        assert m["top1"] == pytest.approx(interpreter.top1(images, labels), abs=1e-6), m["id"]


def test_fp32_tflite_equals_keras_at_every_width(exported, net):
    out, manifest = exported
    images, _ = fashion_test(1000)
    for m in manifest["models"]:
        if m["precision"] != "fp32":
            continue
        net.set_width(m["width"])
        reference = softmax(net.predict(images, batch_size=500, verbose=0))  # the export's output_kind
        got = TFLiteModel(out / m["path"]).predict(images)
        assert np.max(np.abs(got - reference)) <= 1e-4, m["id"]


def test_int8_agrees_with_fp32_and_loses_at_most_one_point(exported):
    out, manifest = exported
    images, labels = fashion_test()
    by_id = {m["id"]: m for m in manifest["models"]}
    for m in manifest["models"]:
        if m["precision"] != "int8":
            continue
        fp32 = by_id[m["id"].replace("int8", "fp32")]
        p8 = TFLiteModel(out / m["path"]).predict(images).argmax(1)
        p32 = TFLiteModel(out / fp32["path"]).predict(images).argmax(1)
        agreement = float(np.mean(p8 == p32))
        print(f"{m['id']}: agreement {agreement:.4f}, top-1 fp32 {fp32['top1']:.4f} int8 {m['top1']:.4f}")
        # This 2-epoch model (top-1 ~77 %) has many near-ties: at width 1.0 it agreed at 97.85 % in
        # one CI run and at >= 98 % in the run before (same training and export code). The trained
        # default model (8 epochs) agreed at 98.6-99.3 % at all 9 widths.
        assert agreement >= 0.97, (m["id"], agreement)
        assert fp32["top1"] - m["top1"] <= 0.01, (m["id"], fp32["top1"], m["top1"])


def test_the_converter_folded_every_bn(exported):
    out, manifest = exported
    for m in manifest["models"]:
        ops = op_names((out / m["path"]).read_bytes())
        assert "MUL" not in ops and "ADD" not in ops, (m["id"], ops)
        assert ops.count("CONV_2D") + ops.count("DEPTHWISE_CONV_2D") >= 5


def test_bn_folding_check_catches_an_unfused_bn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.BatchNormalization()(inputs)  # nothing to fold it into
    plain = keras.Model(inputs, keras.layers.Conv2D(4, 3)(x))
    plain.layers[1].set_weights([np.full(3, 2.0), np.ones(3), np.zeros(3), np.ones(3)])
    with pytest.raises(RuntimeError, match="not folded"):
        check_bn_folded(convert(plain, "fp32"), plain)


def test_bn_bundle_refuses_to_the_exported_model(exported, net):
    """Full-width kernels + the bundle's BN of one width reproduce that width's .tflite."""
    out, manifest = exported
    bundle = bn_bundle.BNBundle(out)
    assert {c["width"] for c in bundle.configs} >= {0.25, 0.5, 1.0}
    images, _ = fashion_test(500)
    for width in (0.25, 0.5):
        entry = bundle.find(width)
        plain = slimkeras.materialize(net, width)  # the static structure at this width
        for name, layer in bundle.layers.items():
            gamma, beta, mean, variance, epsilon = bundle.parameters(entry, name)
            conv = plain.get_layer(layer["input_layer"])
            full = net.get_layer(layer["input_layer"]).kernel.numpy()  # full width
            depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
            shape = conv.kernel.shape
            kernel = full[..., :shape[2], :] if depthwise else full[..., :shape[-2], :shape[-1]]
            folded, shift = bn_bundle.fold_bn(kernel, None, gamma, beta, mean, variance, epsilon, depthwise)
            conv.set_weights([folded])
            c = len(shift)  # the BN becomes a bias add: gamma 1, mean 0, sqrt(var + eps) 1
            plain.get_layer(name).set_weights([np.ones(c), shift, np.zeros(c), np.full(c, 1.0 - epsilon)])
        reference = TFLiteModel(out / f"w{width:g}_fp32.tflite").predict(images)
        assert np.max(np.abs(softmax(plain.predict(images, verbose=0)) - reference)) <= 1e-4, width
    with pytest.raises(KeyError, match="holds"):
        bundle.find(0.6)


def test_cli_exports_fp16_and_calibrates_a_new_width(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = export.main([f"--model={run_dir / 'final.keras'}", "--widths=0.25,0.75,1.0",
                        "--quantize=fp32,fp16,int8", "--calibrate_images=512", "--eval_images=1000",
                        "--bench_runs=5", f"--out={out}"])
    assert code == 0
    assert "Calibrating BN for 0.75" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    sizes = {m["id"]: m["bytes"] for m in manifest["models"]}
    assert len(sizes) == 9
    for w in ("0.25", "0.75", "1.0"):
        assert sizes[f"w{w}_int8"] < sizes[f"w{w}_fp16"] < sizes[f"w{w}_fp32"]
    fp16 = next(m for m in manifest["models"] if m["id"] == "w0.75_fp16")
    fp32 = next(m for m in manifest["models"] if m["id"] == "w0.75_fp32")
    assert abs(fp16["top1"] - fp32["top1"]) <= 0.005
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no staging directory left behind


@pytest.mark.parametrize("case, needle", [
    ("missing", "no such file"),
    ("corrupt", "is not a readable .keras model"),
    ("outside", "1.5"),
    ("not_a_number", "'half' is not a number"),
    ("uncalibrated", "--calibrate_images=N"),
    ("precision", "'int4'; allowed: fp32, fp16, int8"),
    ("out_under_a_file", "cannot be written"),
    ("foreign_dir", "holds no export"),
])
def test_bad_input_gives_one_clear_error_and_no_partial_output(case, needle, run_dir, tmp_path, capsys):
    model = run_dir / "final.keras"
    out = tmp_path / "out"
    args = {"widths": "0.25", "quantize": "fp32"}
    if case == "missing":
        model = tmp_path / "nothing.keras"
    elif case == "corrupt":
        model = tmp_path / "broken.keras"
        model.write_bytes(b"PK\x03\x04 not really a zip file")
    elif case == "outside":
        args["widths"] = "0.25,1.5"
    elif case == "not_a_number":
        args["widths"] = "half"
    elif case == "uncalibrated":
        args["widths"] = "0.6"
    elif case == "precision":
        args["quantize"] = "fp32,int4"
    elif case == "out_under_a_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    elif case == "foreign_dir":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    before = sorted(os.listdir(tmp_path))
    code = export.main([f"--model={model}", f"--widths={args['widths']}", f"--quantize={args['quantize']}",
                        "--bench_runs=0", "--eval_images=0", f"--out={out}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and needle in err and "Traceback" not in err, err
    assert sorted(os.listdir(tmp_path)) == before  # nothing created, no staging directory
    if case == "foreign_dir":
        assert os.listdir(out) == ["notes.txt"]


def test_reexport_replaces_an_earlier_export(run_dir, tmp_path):
    out = tmp_path / "out"
    common = [f"--model={run_dir / 'final.keras'}", "--bench_runs=0", "--eval_images=0", f"--out={out}"]
    assert export.main(common + ["--widths=0.25,1.0"]) == 0
    assert export.main(common + ["--widths=0.5"]) == 0
    assert sorted(p for p in os.listdir(out) if p.endswith(".tflite")) == ["w0.5_fp32.tflite"]


def test_slimmable_export_from_arrays(tmp_path):
    net = slimkeras.models.build("mobilenet_v1", width_mult_list=[0.5, 1.0], bn="switchable",
                                 input_shape=(28, 28, 1), num_classes=10)
    images, labels = fashion_test(200)
    manifest = export.export_model(
        net, tmp_path / "s", precisions=["int8", "fp32"], representative=images[:100],
        test_data=(images, labels), labels=[str(i) for i in range(10)],
        preprocessing={"height": 28, "width": 28, "channels": 1, "scale": 255.0, "mean": [0.286],
                       "std": [0.353], "layout": "NHWC"}, bench_threads=(), verbose=0)
    assert manifest["mode"] == "slimmable" and manifest["width_list"] == [0.5, 1.0]
    assert manifest["width_range"] is None
    assert [m["id"] for m in manifest["models"]] == ["w0.5_int8", "w1.0_int8", "w0.5_fp32", "w1.0_fp32"]
    assert all(m["latency_ms"] == {} and 0 <= m["top1"] <= 1 for m in manifest["models"])


def test_bench_cli_fills_latency_for_each_thread_count(exported, tmp_path, capsys):
    from tflite_export import bench

    out = tmp_path / "copy"
    shutil.copytree(exported[0], out)
    assert bench.main([str(out), "--threads=1,2", "--runs=5", "--warmup_runs=2"]) == 0
    table = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    for m in manifest["models"]:
        assert set(m["latency_ms"]) == {"1", "2"} and m["latency_ms"]["2"]["runs"] == 5
        assert m["id"] in table
    assert manifest_lib.file_problems(manifest, out) == []
    (out / manifest["models"][0]["path"]).write_bytes(b"tampered")
    assert bench.main([str(out), "--runs=5"]) == 2
    assert "differs from its sha256" in capsys.readouterr().err


def _java_core():
    return compile_core("pytest-main")


def test_android_core_accepts_the_export_and_rejects_a_tampered_one(exported, tmp_path):
    build = _java_core()
    out, manifest = exported
    result = subprocess.run(["java", "-cp", str(build), "org.slimkeras.core.CoreTool", "manifest", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"OK {manifest['model_name']} {len(manifest['models'])} models"
    assert [line.split()[0] for line in lines[1:]] == [m["id"] for m in manifest["models"]]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    path = copy / manifest["models"][1]["path"]
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    result = subprocess.run(["java", "-cp", str(build), "org.slimkeras.core.CoreTool", "manifest", str(copy)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout.startswith("INVALID SHA256_MISMATCH"), result.stdout


def test_switch_cli_picks_by_budget_and_the_java_core_replays_the_same_picks(exported, tmp_path):
    from tflite_export.switch.cli import run_switching

    out, manifest = exported
    fp32 = [m for m in manifest["models"] if m["precision"] == "fp32"]
    generous = run_switching(out, 1000.0, "fp32", steps=50, verbose=0)
    assert set(generous.picked) == {fp32[-1]["width"]}  # everything fits: the widest
    from tflite_export.switch.trace_runner import load_trace, run_trace

    tiny_record = tmp_path / "tiny.json"
    tiny = run_switching(out, 1e-6, "fp32", steps=50, record=tiny_record, verbose=0)
    picks = load_trace(tiny_record)["expected_picks"]
    # Nothing fits: it starts at the lowest start-up p90 (a measured time: on a loaded machine
    # not always the narrowest model), then only steps down, to the narrowest, and stays there.
    assert picks == sorted(picks, reverse=True) and picks[-1] == fp32[0]["width"] == tiny.last
    assert picks.count(fp32[0]["width"]) >= 50 - 3 * (len(fp32) - 1)  # a step down per 3 over-budget runs
    record = tmp_path / "trace.json"
    budget = float(np.median([m["latency_ms"]["1"]["p90"] for m in fp32]))
    summary = run_switching(out, budget, "fp32", steps=400, record=record, verbose=0)
    trace = load_trace(record)
    assert len(trace["expected_picks"]) == summary.steps == 400
    build = _java_core()
    result = subprocess.run(["java", "-cp", str(build), "org.slimkeras.core.CoreTool", "trace", str(record)],
                            capture_output=True, text=True, check=True)
    assert [float(x) for x in result.stdout.split()] == trace["expected_picks"]
    assert run_trace(load_trace(record)) == trace["expected_picks"]


def test_switch_cli_rejects_bad_budgets_and_precisions(exported, capsys):
    from tflite_export.switch import cli as switch

    out = str(exported[0])
    assert switch.main([out, "--budget_ms=-1"]) == 2
    assert "argument --budget_ms: '-1' is out of range" in capsys.readouterr().err
    assert switch.main([out, "--budget_ms=1", "--precision=fp16"]) == 2
    assert "has fp32, int8" in capsys.readouterr().err


def test_every_file_has_the_signature_images_to_probabilities(exported):
    from ai_edge_litert.interpreter import Interpreter

    out, manifest = exported
    for m in manifest["models"]:
        interpreter = Interpreter(model_path=str(out / m["path"]))
        assert interpreter.get_signature_list() == {
            "serving_default": {"inputs": ["images"], "outputs": ["probabilities"]}}, m["id"]
        runner = interpreter.get_signature_runner()
        assert list(runner.get_input_details()) == ["images"]
        assert list(runner.get_output_details()) == ["probabilities"]


def test_labels_file_and_manifest_keys(exported):
    from slimkeras.datasets import fashion_mnist

    out, manifest = exported
    assert manifest["output_kind"] == "probabilities" and manifest["labels_file"] == "labels.txt"
    assert (out / "labels.txt").read_text() == "".join(f"{label}\n" for label in fashion_mnist.LABELS)
    assert (out / "labels.txt").read_text().splitlines() == manifest["labels"]
    assert manifest_lib.output_kind({}) == "logits"  # exports written before the key: logits


def test_probabilities_sum_to_one_and_rank_as_the_logits_export(exported, run_dir, net, tmp_path):
    out, manifest = exported
    images, _ = fashion_test(1000)
    logits_dir = tmp_path / "logits"
    assert export.main([f"--model={run_dir / 'final.keras'}", "--widths=0.5", "--output=logits",
                        "--quantize=fp32", "--bench_runs=0", "--eval_images=0", "--quiet",
                        f"--out={logits_dir}"]) == 0
    logits_manifest = json.loads((logits_dir / "manifest.json").read_text())
    assert logits_manifest["output_kind"] == "logits"
    logits = TFLiteModel(logits_dir / "w0.5_fp32.tflite").predict(images)
    net.set_width(0.5)
    assert np.max(np.abs(logits - net.predict(images, batch_size=500, verbose=0))) <= 1e-4
    probabilities = TFLiteModel(out / "w0.5_fp32.tflite").predict(images)
    assert np.max(np.abs(probabilities.sum(axis=1) - 1.0)) <= 1e-5
    assert np.max(np.abs(probabilities - softmax(logits))) <= 1e-5
    assert np.array_equal(probabilities.argmax(1), logits.argmax(1))
    int8 = TFLiteModel(out / "w0.5_int8.tflite").predict(images)
    assert int8.min() >= 0.0 and np.max(np.abs(int8.sum(axis=1) - 1.0)) <= 0.05  # 1/256 steps


def test_cli_calibrates_an_uncalibrated_width_from_representative_data(run_dir, net, tmp_path, capsys):
    from slimkeras.datasets import load_images

    out = tmp_path / "out"
    assert export.main([f"--model={run_dir / 'final.keras'}", "--widths=0.6,1.0", "--quantize=fp32",
                        "--representative_data=fashion_mnist", "--bench_runs=0", "--eval_images=0",
                        f"--out={out}"]) == 0
    assert "Calibrating BN for 0.6 on 1024 training images of fashion_mnist." in capsys.readouterr().out
    # Reference: the same 1,024 training images, calibrated by the library directly.
    images, _ = load_images("fashion_mnist", "train", (28, 28, 1), limit=1024, seed=0)
    slimkeras.calibrate_bn(net, images, widths=[0.6], verbose=0)
    net.set_width(0.6)
    test_images, _ = fashion_test(500)
    reference = softmax(net.predict(test_images, verbose=0))
    got = TFLiteModel(out / "w0.6_fp32.tflite").predict(test_images)
    assert np.max(np.abs(got - reference)) <= 1e-4
