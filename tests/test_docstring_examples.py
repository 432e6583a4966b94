"""Every ```python example in the docstrings of slimkeras and tflite_export runs as written.

Each example runs in a namespace holding what its text presumes (`model`, `x`, `x_train`,
...: GIVEN below), statement by statement; a statement written `expr  # value` with a
Python literal as the value must give that value.
"""

import argparse
import ast
import importlib
import inspect
import pkgutil
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
import tflite_export

BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# Examples whose inputs cannot exist in the suite, with where their code path is tested instead.
OFFICIAL = ("needs the papers' PyTorch checkpoint (or an ImageNet JPEG and model); "
            "tests/test_official_import.py runs the import on checkpoints it writes")
NOT_RUN = {key: OFFICIAL for key in (
    "slimkeras.official", "slimkeras.official.convert.from_official_checkpoint",
    "slimkeras.official.checkpoint.load_state_dict", "slimkeras.official.imagenet.preprocess_for_eval")}


def _modules():
    for package in (slimkeras, tflite_export):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                yield info.name


def _documented(module):
    """The module and its own classes, functions and methods."""
    objects = [module] + [o for _, o in inspect.getmembers(module)
                          if (inspect.isclass(o) or inspect.isfunction(o)) and o.__module__ == module.__name__]
    for o in list(objects):
        if inspect.isclass(o):
            objects += [m for _, m in inspect.getmembers(o, inspect.isfunction)
                        if m.__qualname__.startswith(o.__name__ + ".")]
    return objects


def collect():
    examples = {}
    for name in _modules():
        module = importlib.import_module(name)
        for o in _documented(module):
            for i, code in enumerate(BLOCK.findall(inspect.getdoc(o) or "")):
                key = name + ("." + o.__qualname__ if o is not module else "") + (f"[{i}]" if i else "")
                examples[key] = code
    return examples


EXAMPLES = collect()


def small_us_net(calibrated=(0.25, 0.5, 1.0)):
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1), num_classes=10)
    if calibrated:
        slimkeras.calibrate_bn(model, images(256), widths=list(calibrated), verbose=0)
    return model


def images(n, shape=(28, 28, 1)):
    return np.random.default_rng(0).normal(size=(n,) + shape).astype("float32")


def trained_layer():
    layer = slimkeras.layers.UniversalBatchNormalization()
    slimkeras.SlimmableModel(*(lambda i: (i, layer(slimkeras.layers.SlimmableConv2D(16, 3)(i))))(
        keras.Input((8, 8, 3))), width_spec={"width_range": [0.25, 1.0]})
    return layer


def parser_namespace():
    return {"parser": slimkeras.cli.ArgumentParser(prog="example"), "argv": ["runs/export"],
            "__doc__": "An example command.", "Number": slimkeras.cli.Number,
            "COUNT_MAX": slimkeras.cli.COUNT_MAX, "ArgumentParser": slimkeras.cli.ArgumentParser}


def cli_parser_namespace():
    names = parser_namespace()
    names["parser"] = argparse.ArgumentParser()
    return names


GIVEN = {
    "slimkeras.calibration.calibrate_bn": lambda: dict(model=small_us_net(None), x_train=images(256),
                                                       x_test=images(8)),
    "slimkeras.evaluation.evaluate_top1": lambda: dict(model=small_us_net(), x_test=images(16),
                                                       y_test=np.arange(16) % 10),
    "slimkeras.evaluation.evaluate_widths": lambda: dict(model=small_us_net(None), x_test=images(16),
                                                         y_test=np.arange(16) % 10, x_train=images(256)),
    "slimkeras.io.atomic_path": lambda: dict(model=small_us_net(), atomic_path=slimkeras.io.atomic_path),
    "slimkeras.materialize.materialize": lambda: dict(model=small_us_net()),
    "slimkeras.model.SlimmableModel.inference_function": lambda: dict(model=small_us_net(), images=images(4)),
    "slimkeras.layers.batch_norm.SlimmableBatchNormBase.set_statistics": lambda: dict(layer=trained_layer()),
    "slimkeras.layers.dense.SlimmableDense": lambda: dict(pooled_features=keras.Input((64,))),
    "slimkeras.layers.conv.SlimmableConv2D": lambda: dict(WidthSpec=slimkeras.WidthSpec),
    "slimkeras.models.common.ZeroPaddedAveragePooling2D": lambda: dict(
        x=np.zeros((1, 28, 28, 4), "float32"),
        ZeroPaddedAveragePooling2D=slimkeras.models.common.ZeroPaddedAveragePooling2D),
    "slimkeras.profiling.profile": lambda: dict(model=small_us_net(None)),
    "slimkeras.width.WidthConfig": lambda: dict(WidthConfig=slimkeras.WidthConfig),
    "slimkeras.cli.ArgumentParser": parser_namespace,
    "slimkeras.cli.Number": cli_parser_namespace,
}
SYMBOLIC_X = ("slimkeras.layers.batch_norm", "slimkeras.layers.conv.SlimmableDepthwiseConv2D",
              "slimkeras.layers.shuffle")


def namespace(key, tmp_path):
    names = {"keras": keras, "np": np, "tf": tf, "slimkeras": slimkeras, "tflite_export": tflite_export,
             "out_dir": str(tmp_path / "export")}
    if key.startswith(SYMBOLIC_X):
        names["x"] = keras.Input((8, 8, 6))
    names.update(GIVEN.get(key, dict)())
    return names


def run_checked(code, names):
    """Runs `code` statement by statement; `expr  # literal` must give the literal."""
    lines = code.splitlines()
    for node in ast.parse(code).body:
        exec(compile(ast.Module([node], []), "<example>", "exec"), names)
        comment = lines[node.end_lineno - 1].partition("  # ")[2].strip()
        if not isinstance(node, ast.Expr) or not comment:
            continue
        try:
            want = ast.literal_eval(comment)
        except (ValueError, SyntaxError):
            continue  # prose, not a value
        got = eval(compile(ast.Expression(node.value), "<example>", "eval"), names)
        if isinstance(want, float):
            assert got == pytest.approx(want), (ast.unparse(node), got, want)
        else:
            assert got == want, (ast.unparse(node), got, want)


def test_examples_were_found():
    assert {"slimkeras.model.SlimmableModel", "slimkeras.training.trainer.SlimmableTrainer",
            "slimkeras.callbacks.WidthEvaluation", "tflite_export.export.export_model"} <= set(EXAMPLES)


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_docstring_example_runs(key, tmp_path, monkeypatch):
    if key in NOT_RUN:
        pytest.skip(NOT_RUN[key])
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    run_checked(EXAMPLES[key], namespace(key, tmp_path))


def test_a_wrong_value_in_a_comment_fails():
    with pytest.raises(AssertionError):
        run_checked("x = 2\nx + 1  # 4\n", {})
