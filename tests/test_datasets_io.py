"""slimkeras.io (crash-safe writes), slimkeras.datasets and slimkeras.evaluate_top1."""

import json
import os

import numpy as np
import pytest

import slimkeras
from slimkeras import datasets
from slimkeras.io import atomic_path, write_json_atomic, write_text_atomic


def test_write_json_atomic_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    write_json_atomic(str(path), {"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    assert os.listdir(tmp_path) == ["a.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "final.keras"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(path)) as tmp:
            assert tmp.endswith("final.keras") and os.path.dirname(tmp) == str(tmp_path)
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["final.keras"]


def test_write_text_atomic_bytes(tmp_path):
    write_text_atomic(str(tmp_path / "b.bin"), b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_sample_indices_is_the_seeded_permutation_prefix():
    picked = datasets.sample_indices(100, 10, seed=3)
    assert list(picked) == list(np.random.default_rng(3).permutation(100)[:10])
    assert list(datasets.sample_indices(5, 10, seed=None)) == [0, 1, 2, 3, 4]
    assert list(datasets.sample_indices(5, None, seed=None)) == [0, 1, 2, 3, 4]


def test_fashion_mnist_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(datasets.DataError, match="apt-get install -y dataset-fashion-mnist"):
        datasets.fashion_mnist.load_split("train", str(tmp_path))
    with pytest.raises(datasets.DataError, match="not 'valid'"):
        datasets.fashion_mnist.load_split("valid", str(tmp_path))


def test_evaluate_top1_matches_numpy_over_arrays_and_datasets():
    import tensorflow as tf

    model = slimkeras.models.mobilenet_v1(width_mult_list=[0.5, 1.0], input_shape=(28, 28, 1),
                                          num_classes=10)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(70, 28, 28, 1)).astype(np.float32)
    widths = [0.5, 1.0]
    expected = []
    for w in widths:
        model.set_width(w)
        logits = model(images, training=False).numpy()
        expected.append(np.argmax(logits, -1))
    labels = expected[0].copy()  # width 0.5 is right on every image, 1.0 where it agrees
    want = [1.0, float(np.mean(expected[1] == labels))]
    assert slimkeras.evaluate_top1(model, (images, labels), widths, batch_size=32) == pytest.approx(want)
    batched = tf.data.Dataset.from_tensor_slices((images, labels)).batch(25)
    assert slimkeras.evaluate_top1(model, batched, widths) == pytest.approx(want)


def test_cli_parser_takes_flagfiles_and_reports_one_error_line(tmp_path, capsys):
    from slimkeras.cli import ArgumentParser

    parser = ArgumentParser(prog="tool")
    parser.add_argument("--runs", type=int, default=1)
    flagfile = tmp_path / "a.flags"
    flagfile.write_text("--runs=5\n")
    assert parser.parse_args([f"--flagfile={flagfile}"]).runs == 5
    for bad in (["--runs=x"], [f"--flagfile={tmp_path / 'none.flags'}"]):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(bad)
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "ERROR::" not in err[0]


def test_importing_slimkeras_prints_nothing():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import slimkeras"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0
    assert result.stderr == "", result.stderr  # no CUDA, CPU-feature or oneDNN start-up lines


def test_a_missing_tensorflow_datasets_is_one_data_error_naming_the_extra(monkeypatch):
    import sys

    from slimkeras.datasets import DataError
    from slimkeras.datasets.common import import_tfds

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if not installed
    with pytest.raises(DataError, match=r"pip install 'slimkeras\[tfds\]'"):
        import_tfds()
