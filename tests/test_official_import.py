"""Importing the official PyTorch checkpoints (slimkeras.official): exactness, export, errors.

The PyTorch models are our own references of the official architectures
(test_official_reference.py), saved in the official checkpoint format. The fast tests here
use US-MobileNet v1 at 224² (the published 31-width list); the other architectures are in
test_official_import_slow.py.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import slimkeras  # noqa: E402
from slimkeras.official import CheckpointError, archs, convert, imagenet  # noqa: E402
from slimkeras.official.cli import main  # noqa: E402
import test_official_reference as reference  # noqa: E402

pytestmark = pytest.mark.xdist_group(__name__)
TOLERANCE = 1e-4
US_MBV1 = archs.get_arch("us_mobilenet_v1")
LISTED = [0.25, 0.275, 0.5, 0.725, 0.9, 1.0]  # entries of the checkpoint's 31 widths
OFF_LIST = [0.31, 0.6125]  # calibrated after import


@pytest.fixture(scope="module")
def us_mbv1(tmp_path_factory):
    """(torch model, checkpoint path, imported model, NCHW images, NHWC images)."""
    images_t, images = reference.random_images(2, seed=1)
    fit_t, _ = reference.random_images(4, size=64, seed=3)  # BN statistics: realistic, cheap
    model = reference.make_reference("us_mobilenet_v1", US_MBV1.widths, fit_t, seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "us_mobilenet_v1_calibrated.pt"
    reference.save_official(model, path)
    imported = slimkeras.from_official_checkpoint(path, arch="us_mobilenet_v1")
    return model, path, imported, images_t, images


def keras_logits(model, images, width):
    model.set_width(width)
    return model(images, training=False).numpy()


def test_layout_conversions():
    w = np.arange(2 * 3 * 3 * 5).reshape(2, 3, 3, 5)  # (out, in, kh, kw)
    k = convert.conv_kernel(w)
    assert k.shape == (3, 5, 3, 2) and k[1, 4, 2, 0] == w[0, 2, 1, 4]
    d = convert.depthwise_kernel(np.arange(4 * 9).reshape(4, 1, 3, 3))
    assert d.shape == (3, 3, 4, 1) and d[2, 1, 3, 0] == 3 * 9 + 2 * 3 + 1
    assert convert.dense_kernel(np.arange(6).reshape(2, 3))[2, 1] == 5


def test_every_module_maps_to_a_layer_of_the_builders_model():
    for arch in archs.ARCHS.values():
        model = convert.build_model(arch, arch.widths, image_size=64)  # same layers as 224²
        names = {layer.name for layer in model.layers}
        rows = arch.layer_map()
        assert {r.layer for r in rows} <= names, arch.name
        weighted = {layer.name for layer in model.layers if layer.weights}
        assert weighted == {r.layer for r in rows}, arch.name  # nothing left unfilled
        keras.backend.clear_session()


def test_us_mobilenet_v1_equals_pytorch_at_listed_widths(us_mbv1):
    torch_model, _, model, images_t, images = us_mbv1
    for width in LISTED:
        index = US_MBV1.widths.index(width)
        want = reference.logits(torch_model, images_t, width, index)
        got = keras_logits(model, images, width)
        assert np.std(want) > 0.1  # the comparison is not between two near-constant outputs
        assert np.max(np.abs(got - want)) <= TOLERANCE, width
    # all 31 widths run without calibration
    assert [c.width for c in model.bn_slots.calibrated()] == list(US_MBV1.widths)


def test_us_mobilenet_v1_off_list_widths_after_calibration(us_mbv1):
    torch_model, _, model, images_t, images = us_mbv1
    calib_t, calib = reference.random_images(4, seed=2)
    with pytest.raises(ValueError, match="no calibrated BN statistics"):
        model.set_width(OFF_LIST[0])
        model.check_inference_width()
    slimkeras.calibrate_bn(model, calib, widths=OFF_LIST, batch_size=4, verbose=0)
    for width in OFF_LIST:
        want = reference.calibrated_logits(torch_model, images_t, width, calib_t)
        got = keras_logits(model, images, width)
        assert np.max(np.abs(got - want)) <= TOLERANCE, width


def test_imported_model_carries_imagenet_labels_and_the_eval_transform(us_mbv1):
    model = us_mbv1[2]
    assert len(model.class_names) == 1000 and len(set(model.class_names)) == 1000
    assert model.class_names == imagenet.class_names()
    assert model.class_names[:2] == ["tench", "goldfish"]
    p = model.preprocessing
    assert (p["height"], p["width"], p["channels"], p["resize"], p["crop"]) == (224, 224, 3, 256, 224)
    assert p["mean"] == [0.485, 0.456, 0.406] and p["std"] == [0.229, 0.224, 0.225]
    assert p["scale"] == 255.0 and p["layout"] == "NHWC"


def test_eval_preprocessing_resizes_crops_and_normalizes():
    image = np.full((300, 400, 3), 255, np.uint8)
    x = imagenet.preprocess_for_eval(image).numpy()
    assert x.shape == (1, 224, 224, 3)
    want = (1.0 - np.array(imagenet.MEAN)) / np.array(imagenet.STD)
    assert np.allclose(x, want, atol=1e-4)


def test_command_writes_a_keras_file_equal_to_the_import(us_mbv1, tmp_path, capsys):
    torch_model, path, model, images_t, images = us_mbv1
    out = tmp_path / "model.keras"
    assert main([str(path), "--arch=us_mobilenet_v1", f"--out={out}"]) == 0
    assert "31 width(s) ready" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]  # no temporary file left
    loaded = keras.models.load_model(out)
    assert loaded.class_names == model.class_names and loaded.preprocessing == model.preprocessing
    want = reference.logits(torch_model, images_t, 0.725, US_MBV1.widths.index(0.725))
    assert np.max(np.abs(keras_logits(loaded, images, 0.725) - want)) <= TOLERANCE


def test_import_then_export_commands_give_a_manifest_with_imagenet_labels(us_mbv1, tmp_path, capsys):
    """The README's path: checkpoint -> `python -m slimkeras.official` -> `python -m tflite_export.export`."""
    import json

    from tflite_export import export

    _, path, _, _, _ = us_mbv1
    keras_file = tmp_path / "us_mbv1.keras"
    assert main([str(path), "--arch=us_mobilenet_v1", f"--out={keras_file}"]) == 0
    out = tmp_path / "export"
    assert export.main([f"--model={keras_file}", "--widths=0.25", "--quantize=fp32", "--eval_images=0",
                        "--bench_runs=0", f"--out={out}", "--quiet"]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    names = imagenet.class_names()
    assert len(names) == 1000 and manifest["labels"] == names and names[0] == "tench"
    assert (out / manifest["labels_file"]).read_text().splitlines() == names
    assert manifest["preprocessing"]["resize"] == 256 and manifest["preprocessing"]["crop"] == 224
    assert manifest["preprocessing"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert manifest["output_kind"] == "probabilities"
    assert [m["width"] for m in manifest["models"]] == [0.25]


def test_fp32_tflite_of_an_imported_width_matches_keras(us_mbv1):
    from tflite_export.convert import convert as to_tflite
    from tflite_export.runtime import TFLiteModel

    model, images = us_mbv1[2], us_mbv1[4]
    plain = slimkeras.materialize(model, 0.5)
    tflite = TFLiteModel(to_tflite(plain, "fp32"))
    want = keras_logits(model, images, 0.5)
    assert np.max(np.abs(tflite.predict(images) - want)) <= TOLERANCE


# -- bad input: one clear error, no output file ------------------------------------------
def run_command(tmp_path, capsys, *args):
    """Runs the command in-process: (exit code, stderr's `error` lines, stderr, files in out/)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    capsys.readouterr()
    try:
        code = main([*args, f"--out={out_dir / 'model.keras'}"])
    except SystemExit as e:  # argparse errors
        code = e.code
    stderr = capsys.readouterr().err
    lines = [l for l in stderr.splitlines() if l.startswith("error")]
    return code, lines, stderr, os.listdir(out_dir)


def test_checkpoint_of_another_architecture(tmp_path):
    images_t, _ = reference.random_images(1, size=64, seed=0)
    other = reference.make_reference("s_mobilenet_v1", (0.25, 0.5, 0.75, 1.0), images_t, num_classes=10)
    path = tmp_path / "s.pt"
    reference.save_official(other, path)
    with pytest.raises(CheckpointError, match="not a us_mobilenet_v1.*s_mobilenet_v1.*--arch=s_mobilenet_v1"):
        slimkeras.from_official_checkpoint(path, arch="us_mobilenet_v1")


def test_checkpoint_with_another_width_list(us_mbv1, tmp_path):
    path = us_mbv1[1]
    with pytest.raises(CheckpointError, match="BNs hold 31 widths, the width list has 4"):
        slimkeras.from_official_checkpoint(path, arch="us_mobilenet_v1", width_mult_list="0.25,0.5,0.75,1.0")
    shifted = [0.3625] + list(US_MBV1.widths[1:])  # same count, other values: channels disagree
    with pytest.raises(CheckpointError, match=r"At width 0.3625 \(entry 0 .*is the width list the checkpoint's"):
        slimkeras.from_official_checkpoint(path, arch="us_mobilenet_v1", width_mult_list=shifted)


def test_missing_key_and_bad_shapes(us_mbv1, tmp_path):
    state = torch.load(us_mbv1[1], weights_only=True)["model"]
    del state["module.features.3.body.4.weight"]
    torch.save({"model": state}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\), e.g. \['features.3.body.4.weight'\]"):
        slimkeras.from_official_checkpoint(tmp_path / "missing.pt", arch="us_mobilenet_v1")
    state = {k[len("module."):]: v for k, v in torch.load(us_mbv1[1], weights_only=True)["model"].items()}
    state["features.2.body.3.weight"] = state["features.2.body.3.weight"][:, :32]
    torch.save(state, tmp_path / "bare.pt")  # a bare state dict is accepted; the shape is not
    with pytest.raises(CheckpointError, match="'features.2.body.3.weight' has shape .*conv_pw_2"):
        slimkeras.from_official_checkpoint(tmp_path / "bare.pt", arch="us_mobilenet_v1")


def test_command_rejects_a_truncated_file(us_mbv1, tmp_path, capsys):
    data = open(us_mbv1[1], "rb").read()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    code, errors, stderr, files = run_command(tmp_path, capsys, str(bad), "--arch=us_mobilenet_v1")
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr
    assert "not a readable PyTorch file (truncated or corrupt?)" in errors[0]
    assert files == []


def test_command_rejects_bad_flags(tmp_path, capsys):
    code, errors, stderr, files = run_command(tmp_path, capsys, "x.pt", "--arch=mobilenet_v1")
    assert code == 2 and len(errors) == 1 and "invalid choice: 'mobilenet_v1'" in errors[0], stderr
    code, errors, stderr, _ = run_command(tmp_path, capsys, "x.pt", "--arch=s_resnet50", "--width_mult_list=0.5,x")
    assert code == 2 and errors == ["error: argument --width_mult_list: 'x' is not a number; "
                                    "allowed: a number in (0, 4]."], stderr
    code, errors, stderr, _ = run_command(tmp_path, capsys, str(tmp_path / "none.pt"), "--arch=s_resnet50")
    assert code == 2 and errors == [f"error: checkpoint {str(tmp_path / 'none.pt')!r} does not exist "
                                    "(or is not a file)."], stderr
    assert files == []


def test_command_without_torch_says_how_to_install_it(tmp_path, us_mbv1):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from slimkeras.official.cli import main\n"
        f"sys.exit(main([{str(us_mbv1[1])!r}, '--arch=us_mobilenet_v1', "
        f"'--out={tmp_path / 'm.keras'}']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    errors = [l for l in result.stderr.splitlines() if l.startswith("error")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert errors == ["error: reading PyTorch checkpoints needs torch: pip install 'slimkeras[torch]' "
                      "(the CPU build: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)"]
    assert not (tmp_path / "m.keras").exists()


def test_pickled_objects_load_as_inert_placeholders(us_mbv1, tmp_path):
    """The official train.py also pickles its meters; they load without running any code."""
    state = torch.load(us_mbv1[1], weights_only=True)["model"]
    path = tmp_path / "meters.pt"
    meter = reference.Meter()
    torch.save({"model": state, "meters": [meter], "optimizer": {"state": {}}}, path)
    reference.Meter.restored = 0
    model = slimkeras.from_official_checkpoint(path, arch="us_mobilenet_v1")
    assert reference.Meter.restored == 0  # its __setstate__ never ran
    images_t, images = us_mbv1[3], us_mbv1[4]
    want = reference.logits(us_mbv1[0], images_t, 1.0, len(US_MBV1.widths) - 1)
    assert np.max(np.abs(keras_logits(model, images, 1.0) - want)) <= TOLERANCE


# -- the builder option the import uses ---------------------------------------------------
def test_symmetric_padding_is_pytorchs_and_keeps_macs():
    x = np.random.default_rng(0).normal(size=(1, 28, 28, 6)).astype(np.float32)
    layer = slimkeras.models.common.ZeroPaddedAveragePooling2D(3, 2, 1)
    layer = layer.__class__.from_config(layer.get_config())  # .keras round trip
    pooled = layer(x).numpy()
    want = torch.nn.AvgPool2d(3, 2, 1)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    assert np.max(np.abs(pooled - want.transpose(0, 2, 3, 1))) < 1e-6
    same = slimkeras.models.mobilenet_v1(width_mult_list=[0.5, 1.0])
    symmetric = slimkeras.models.mobilenet_v1(width_mult_list=[0.5, 1.0], padding="symmetric")
    assert not any(isinstance(l, keras.layers.ZeroPadding2D) for l in same.layers)
    assert "padding" not in same.architecture and symmetric.architecture["padding"] == "symmetric"
    for w in (0.5, 1.0):
        a, b = slimkeras.profile(same, w), slimkeras.profile(symmetric, w)
        assert (a["macs"], a["params"]) == (b["macs"], b["params"])
    with pytest.raises(ValueError, match="`padding` must be one of"):
        slimkeras.models.mobilenet_v1(padding="reflect")
