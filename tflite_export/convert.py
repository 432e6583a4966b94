"""Keras model -> .tflite bytes (fp32, fp16 or full-integer int8), and the ops of a file."""

import contextlib
import io
import warnings

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
INPUT_NAME = "images"


def check_precisions(precisions):
    """The list of precisions, or ValueError naming the bad one and what is allowed."""
    if isinstance(precisions, str):
        precisions = [p for p in precisions.split(",") if p]
    precisions = [str(p).strip().lower() for p in precisions]
    if not precisions:
        raise ValueError(f"No precision given; allowed: {', '.join(PRECISIONS)}.")
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f"Unknown precision {p!r}; allowed: {', '.join(PRECISIONS)}.")
    return list(dict.fromkeys(precisions))


def with_signature(model, output_kind="probabilities"):
    """`model` (a classifier that outputs logits) as the exported file's signature shows it.

    LiteRT's `get_signature_runner()` then takes `images` and returns
    `probabilities` (a softmax appended; the converter makes it one SOFTMAX op)
    or `logits`. The converter names signature tensors after the Keras input
    layer and the keys of a dict output; without them they are `input_layer`
    and `output_0`.

    The batch is fixed to 1 (`[1, H, W, C]`, not `[-1, H, W, C]`): an app runs
    one frame at a time, and LiteRT.js (the browser runtime) refuses to run a
    signature with a dynamic batch. `tflite_export.runtime.TFLiteModel` feeds
    such a file one image at a time.

    Args:
        model: a Keras model of one image input and one logits output.
        output_kind: "probabilities" or "logits".
    """
    import keras

    images = keras.Input(tuple(model.inputs[0].shape[1:]), batch_size=1, name=INPUT_NAME)
    outputs = model(images)
    if output_kind == "probabilities":
        outputs = keras.layers.Softmax(name="softmax")(outputs)
    return keras.Model(images, {output_kind: outputs}, name=model.name)


def convert(model, precision="fp32", representative=None, float_io=False):
    """Converts a plain Keras model (e.g. from `slimkeras.materialize`) to TFLite.

    Uses `TFLiteConverter.from_keras_model`, which freezes the weights and folds
    inference-mode BatchNormalization into the preceding convolution (never
    `from_concrete_functions` with a Keras 3 model as tracked object: that
    converts without error but outputs NaN).

    Args:
        model: a Keras model of standard layers.
        precision: "fp32"; "fp16" (float16 weights, float32 input/output);
            "int8" (full-integer post-training quantization, int8 input and output).
        representative: float32 images preprocessed as the model expects
            (int8 only: the activation ranges are measured on them; a few hundred
            training images suffice).
        float_io: int8 only: keep float32 input and output (the file quantizes
            and dequantizes at its ends), for runtimes without int8 tensors such as
            LiteRT.js 2.5.3 (benchmarks/web_latency.py measures such files).

    Returns:
        The .tflite file's bytes.
    """
    import tensorflow as tf

    (precision,) = check_precisions([precision])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 conversion needs representative images (a few hundred training images).")
        samples = np.asarray(representative, np.float32)

        def representative_dataset():
            for i in range(len(samples)):
                yield [samples[i:i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not float_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    # The converter exports a SavedModel first and prints its signature; keep the output clean.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # int8 input/output with no input statistics is what we ask for: the app quantizes
        # with the scale and zero point the converter stores in the file.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return converter.convert()


def op_names(content):
    """Builtin op names of a .tflite model, in graph order (no delegate applied)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from slimkeras._compat import litert_op_names

    interpreter = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    return litert_op_names(interpreter)


def check_bn_folded(content, model):
    """Raises RuntimeError if BN survived conversion as separate ops.

    A folded graph has no MUL, and no more ADDs than the model has residual
    `Add` layers (a BN left unfused shows up as MUL + ADD).
    """
    ops = op_names(content)
    adds = sum(1 for layer in model.layers if type(layer).__name__ == "Add")
    leftover = [op for op in ops if op in ("MUL", "BATCH_NORMALIZATION")]
    if leftover or ops.count("ADD") > adds:
        raise RuntimeError(
            f"Batch normalization was not folded into the convolutions of '{model.name}': "
            f"{ops.count('MUL')} MUL and {ops.count('ADD')} ADD ops for {adds} residual adds."
        )
    return ops
