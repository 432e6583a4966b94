"""Width-specialised graphs: one trace for every width, or one graph per width for inference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import slimkeras
from slimkeras import WidthConfig

from core_stack import small_stack, randomize, mark_calibrated, IMAGES, SWITCHES


def test_one_trace_serves_every_width():
    model = small_stack("universal")
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.25, 0.4, 0.7, 1.0], verbose=0)
    fn = tf.function(lambda x: model(x, training=False))
    outputs = {}
    for w in (0.25, 0.4, 0.7, 1.0, 0.25):
        model.set_width(w)
        outputs[w] = fn(IMAGES).numpy()
    assert fn.experimental_get_tracing_count() == 1
    model.set_width(0.4)
    np.testing.assert_allclose(outputs[0.4], model(IMAGES, training=False).numpy(), atol=1e-6)
    assert np.abs(outputs[0.25] - outputs[1.0]).max() > 1e-3

def test_in_graph_width_changes_within_one_function():
    """A graph that runs several widths in a row (as the training step does) uses each."""
    model = small_stack("universal")
    randomize(model)
    mark_calibrated(model, [0.25, 1.0])

    @tf.function
    def two_widths(x):
        model.width_state.assign(0.25)
        narrow = model(x, training=False)
        model.width_state.assign(1.0)
        wide = model(x, training=False)
        return narrow, wide

    narrow, wide = two_widths(IMAGES)
    np.testing.assert_allclose(narrow, model.set_width(0.25)(IMAGES, training=False), atol=1e-6)
    np.testing.assert_allclose(wide, model.set_width(1.0)(IMAGES, training=False), atol=1e-6)

def test_width_specialised_inference_matches_the_dynamic_graph_at_every_width():
    model = small_stack("universal", num_stages=2)
    randomize(model)
    configs = [(0.25, None), (0.55, None), (1.0, None), (0.8, {1: 0.5}), (0.9, {2: 0.4})]
    slimkeras.calibrate_bn(model, IMAGES, widths=[(w, r) for w, r in configs], verbose=0)
    dynamic = tf.function(lambda x: model(x, training=False))
    for w, ratios in configs:
        fn = model.inference_function(w, ratios)
        model.set_width(0.25)  # a specialised function keeps its own width
        model_out = fn(IMAGES).numpy()
        model.set_width(w, ratios)
        np.testing.assert_allclose(model_out, dynamic(IMAGES).numpy(), atol=1e-5)
        np.testing.assert_allclose(model_out, slimkeras.materialize(model, w, ratios)(IMAGES).numpy(),
                                   atol=1e-4)
        assert model.inference_function(w, ratios) is fn  # kept per configuration
        # the width arithmetic is constant in its graph: no in-graph make_divisible
        graph = fn.get_concrete_function(IMAGES).graph
        assert not {op.type for op in graph.get_operations()} & {"FloorDiv", "Floor"}
    assert {op.type for op in dynamic.get_concrete_function(IMAGES).graph.get_operations()} & {"FloorDiv"}
    with pytest.raises(ValueError, match=r"0\.6 has no calibrated BN statistics"):
        model.inference_function(0.6)
    with pytest.raises(ValueError, match="outside the trained range"):
        model.inference_function(1.5)

def test_specialised_functions_follow_recalibration_and_new_weights():
    model = small_stack("universal")
    randomize(model)
    slimkeras.calibrate_bn(model, IMAGES, widths=[0.5, 0.25], verbose=0)
    fn = model.inference_function(0.25)
    before = fn(IMAGES).numpy()
    # clear=True moves 0.25 to another slot; its statistics now come from other images
    slimkeras.calibrate_bn(model, 2.0 * IMAGES + 1.0, widths=[0.25], clear=True, verbose=0)
    assert model.bn_slots.find(WidthConfig(0.25)) == 0
    model.set_width(0.25)
    np.testing.assert_allclose(fn(IMAGES).numpy(), model(IMAGES, training=False).numpy(), atol=1e-5)
    assert np.abs(fn(IMAGES).numpy() - before).max() > 1e-3
    model.get_layer("fc").bias.assign(model.get_layer("fc").bias + 1.0)
    np.testing.assert_allclose(fn(IMAGES).numpy(), model(IMAGES, training=False).numpy(), atol=1e-5)

def test_predict_and_evaluate_run_a_graph_per_width():
    model = small_stack("switchable", switches=SWITCHES)
    randomize(model)
    labels = np.arange(len(IMAGES)) % 7
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    dynamic = tf.function(lambda x: model(x, training=False))
    predictions, functions = {}, {}
    for w in (0.25, 1.0, 0.25):
        model.set_width(w)
        predictions[w] = model.predict(IMAGES, batch_size=4, verbose=0)
        functions.setdefault(w, model.predict_function)
        assert model.predict_function is functions[w]  # traced once per width, then kept
        np.testing.assert_allclose(predictions[w], dynamic(IMAGES).numpy(), atol=1e-5)
        np.testing.assert_allclose(model.predict_on_batch(IMAGES), predictions[w], atol=1e-5)
        loss = model.evaluate(IMAGES, labels, batch_size=len(IMAGES), verbose=0, return_dict=True)["loss"]
        expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, predictions[w])
        assert abs(loss - float(expected)) < 1e-4
    assert functions[0.25] is not functions[1.0]
    assert np.abs(predictions[0.25] - predictions[1.0]).max() > 1e-3
    model.compile(loss="mse")  # Keras drops its functions; the per-width ones go too
    model.set_width(0.25)
    model.predict(IMAGES, verbose=0)
    assert model.predict_function is not functions[0.25]
    fresh = small_stack("switchable", switches=SWITCHES)  # a step called directly runs at the current width
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(fresh.set_width(0.25).predict_step(IMAGES), predictions[0.25], atol=1e-5)
