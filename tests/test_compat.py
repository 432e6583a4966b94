"""Each private API behind slimkeras/_compat.py (and the two overrides it names) still does
what we use it for in the pinned Keras, TensorFlow, LiteRT and argparse: an upgrade that
moves one fails here, by name."""

import argparse
import inspect
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

import slimkeras
from slimkeras import _compat
from slimkeras.profiling import producers

ROOT = Path(__file__).resolve().parents[1]


def tiny_model():
    return slimkeras.models.mobilenet_v1(width_mult_list=[0.5, 1.0], input_shape=(12, 12, 1), num_classes=3)


def test_quiet_retracing_reaches_tf_functions_own_switch():
    function = tf.function(lambda x: x + 1)
    assert hasattr(function, "_omit_frequent_tracing_warning"), "tf.function lost its retracing switch"
    assert _compat.quiet_retracing(function)._omit_frequent_tracing_warning is True


def test_flatten_layers_finds_nested_layers_and_not_the_model():
    inner = keras.Sequential([keras.layers.Dense(2, name="inner_dense")], name="inner")
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, inner(keras.layers.Dense(3, name="outer_dense")(inputs)))
    names = {layer.name for layer in _compat.flatten_layers(outer)}
    assert {"inner", "inner_dense", "outer_dense"} <= names and outer.name not in names


def test_in_multi_worker_mode_answers_for_a_strategy():
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert _compat.in_multi_worker_mode(strategy) is False  # no cluster: one worker


def test_litert_op_names_lists_the_graph(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    inputs = keras.Input((4,), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    names = _compat.litert_op_names(Interpreter(model_content=content))
    assert "FULLY_CONNECTED" in names


def test_reduce_per_replica_sums_what_replicas_return():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    outputs = strategy.run(lambda: {"loss": tf.constant(2.0)})
    assert float(_compat.reduce_per_replica(outputs, strategy)["loss"]) == 2.0


def test_the_overrides_still_override_something():
    from slimkeras.cli import ArgumentParser
    from slimkeras.training.trainer import SlimmableTrainer

    hook = inspect.signature(keras.Model._maybe_symbolic_build)
    assert list(hook.parameters)[1:] == ["iterator", "data_batch"]
    assert SlimmableTrainer._maybe_symbolic_build is not keras.Model._maybe_symbolic_build
    assert hasattr(argparse.ArgumentParser, "_get_values")
    assert ArgumentParser._get_values is not argparse.ArgumentParser._get_values


def test_producers_map_each_symbolic_tensor_to_its_layer():
    model = tiny_model()
    found = producers(model)
    for layer in model.layers[1:]:
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        assert all(id(t) in found for t in inputs), layer.name
    assert found[id(model.get_layer("conv1").output)].name == "conv1"


def test_the_model_keeps_tools_functions_unsaved(tmp_path):
    model = tiny_model()
    made = []
    first = model.cached_function("probe", lambda: made.append(1) or (lambda: 7))
    assert model.cached_function("probe", lambda: made.append(1)) is first and made == [1]
    model.save(tmp_path / "m.keras")
    assert "probe" not in keras.models.load_model(tmp_path / "m.keras")._specialized.kept


def test_another_keras_backend_is_one_clear_error():
    pytest.importorskip("torch")  # a backend Keras can load here (its numpy backend needs scipy)
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", "import slimkeras"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 1
    assert "ImportError: slimkeras needs Keras' TensorFlow backend; this Keras runs on 'torch'" in result.stderr


def test_bn_bundle_names_each_bn_input_layer():
    from tflite_export.bn_bundle import input_layer_of

    model = tiny_model()
    assert [input_layer_of(bn, model).name for bn in model.bn_layers[:2]] == ["conv1", "conv_dw_1"]
