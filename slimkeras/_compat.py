"""Every private API of Keras, TensorFlow, LiteRT and argparse the project needs, behind one door.

Each function names what it reaches into; tests/test_compat.py calls each against the
pinned libraries, so an upgrade that moves one fails there, loudly, and here is the one
place to change. Two are overrides, which cannot move here and are tested there too:
`SlimmableTrainer._maybe_symbolic_build` (Keras' pre-fit build hook) and
`slimkeras.cli.ArgumentParser._get_values` (argparse's value conversion).
"""

import keras


def check_backend():
    """Raises ImportError unless Keras runs on TensorFlow (the layers compute with `tf.*`)."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ImportError(f"slimkeras needs Keras' TensorFlow backend; this Keras runs on {backend!r}. "
                          "Set KERAS_BACKEND=tensorflow before Python starts (or in ~/.keras/keras.json).")


def quiet_retracing(function):
    """`function` (a `tf.function`) without TF's "frequent retracing" warning (TF's private
    `_omit_frequent_tracing_warning`): TF counts traces per code object, and functions that
    share code (Keras' step functions, one per width) trace once each by design."""
    if hasattr(function, "_omit_frequent_tracing_warning"):
        function._omit_frequent_tracing_warning = True
    return function


def flatten_layers(model):
    """Every layer inside `model`, nested ones too, not `model` itself (Keras' `_flatten_layers`:
    `model.layers` lists only the top level of a functional model)."""
    return list(model._flatten_layers(include_self=False))


def in_multi_worker_mode(strategy):
    """Whether a MultiWorkerMirroredStrategy really spans several workers (TF's private
    `extended._in_multi_worker_mode`)."""
    return strategy.extended._in_multi_worker_mode()


def reduce_per_replica(outputs, strategy):
    """The per-replica `outputs` of `strategy.run` reduced as Keras' train functions reduce their
    logs (Keras' private `reduce_per_replica`, reduction "auto")."""
    from keras.src.backend.tensorflow.trainer import reduce_per_replica as keras_reduce

    return keras_reduce(outputs, strategy, reduction="auto")


def litert_op_names(interpreter):
    """The op names of a LiteRT `Interpreter`'s graph, in order (its private `_get_ops_details`)."""
    return [op["op_name"] for op in interpreter._get_ops_details()]
