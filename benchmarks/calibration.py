"""`slimkeras.calibrate_bn` cost: one width vs one inference pass, and 20 widths in one call
vs 20 calls of one width each (the same 20 widths, 0.25 to 1.0).

Model: the embedded default's network (US-MobileNet v1, 28x28x1, range
0.25-1.0, universal BN). Images: the first 1024 Fashion-MNIST training images,
normalized (random images where Debian's dataset is not installed).
"""

import contextlib
import weakref

import numpy as np

from benchmarks.common import Section, interleaved

NUM_IMAGES = 1024
BATCH = 128
WIDTH = 0.55
MANY = 20


def config(quick):
    if quick:
        return dict(repeats=3, many_repeats=1)
    return dict(repeats=7, many_repeats=3)


def images(count=NUM_IMAGES):
    """(images float32 [count, 28, 28, 1], where they came from)."""
    try:
        from training import data as data_lib

        raw, _ = data_lib.load_fashion_mnist("train")
        return data_lib.normalize_fashion(raw[:count]).numpy(), "Fashion-MNIST train[:1024]"
    except Exception:  # dataset not installed: the cost does not depend on the pixels
        rng = np.random.default_rng(0)
        return rng.standard_normal((count, 28, 28, 1)).astype("float32"), "random normal images"


@contextlib.contextmanager
def fix_stand_ins(cache=False, fused=False):
    """Diagnosis only: runtime stand-ins for the fixes recommended for calibrate_bn, so
    their effect is measured here; the library files are not changed.

    cache: `_statistics_function` returns one traced function per model (the width
        is a variable, so one trace serves every width and call) instead of a new
        tf.function, traced again, on every call.
    fused: in the statistics pass, BN layers take mean and variance from one
        FusedBatchNormV3 (training mode; its unbiased variance rescaled by (n-1)/n)
        instead of tf.nn.moments + tf.nn.batch_normalization.
    """
    import tensorflow as tf

    from slimkeras import calibration as calibration_lib
    from slimkeras.layers import batch_norm as bn_lib

    original_stats = calibration_lib._statistics_function
    original_call = bn_lib.SlimmableBatchNormBase.__dict__["call"]
    cache_key = "fused" if fused else "plain"

    def cached_statistics_function(model):
        per_model = _STATS_CACHE.setdefault(cache_key, weakref.WeakKeyDictionary())
        if model not in per_model:
            per_model[model] = original_stats(model)
        return per_model[model]

    def fused_call(self, inputs, training=None):
        state = self.width_state
        if state.calibration_outputs is None or training:
            return original_call(self, inputs, training)
        active = tf.shape(inputs)[-1]
        slot, _ = state.active_slot()
        gamma, beta = self._affine(slot, active)
        outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=gamma, offset=beta, mean=tf.constant([], inputs.dtype),
            variance=tf.constant([], inputs.dtype), epsilon=self.epsilon, is_training=True)
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
        state.calibration_outputs.append((self, mean, variance * (count - 1.0) / count, count))
        return outputs

    try:
        if cache:
            calibration_lib._statistics_function = cached_statistics_function
        if fused:
            bn_lib.SlimmableBatchNormBase.call = fused_call
        yield
    finally:
        calibration_lib._statistics_function = original_stats
        bn_lib.SlimmableBatchNormBase.call = original_call


_STATS_CACHE = {}


def run(quick=False):
    import tensorflow as tf

    import slimkeras
    from benchmarks.diagnose import python_profile

    cfg = config(quick)
    section = Section("calibration", "BN calibration: calibrate_bn vs inference passes")
    x, source = images()
    net = slimkeras.models.build("mobilenet_v1", width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1),
                                 num_classes=10)
    many = [round(float(w), 4) for w in np.linspace(0.25, 1.0, MANY)]
    slimkeras.calibrate_bn(net, x, widths=many + [WIDTH], num_images=NUM_IMAGES, batch_size=BATCH, verbose=0)
    net.set_width(WIDTH)
    forward = tf.function(lambda images: net(images, training=False), autograph=False)
    batches = [tf.constant(x[i:i + BATCH]) for i in range(0, NUM_IMAGES, BATCH)]

    def inference():
        for b in batches:
            forward(b).numpy()

    def calibrate_one():
        slimkeras.calibrate_bn(net, x, widths=[WIDTH], num_images=NUM_IMAGES, batch_size=BATCH, verbose=0)

    def calibrate_many():
        slimkeras.calibrate_bn(net, x, widths=many, num_images=NUM_IMAGES, batch_size=BATCH, verbose=0)

    def calibrate_each():  # the same widths, one call per width
        for w in many:
            slimkeras.calibrate_bn(net, x, widths=[w], num_images=NUM_IMAGES, batch_size=BATCH, verbose=0)

    def predict():
        net.predict(x, batch_size=BATCH, verbose=0)

    section.note(f"US-MobileNet v1 28x28x1, {NUM_IMAGES} {source}, batch {BATCH}. 'One inference pass' = a "
                 "pre-traced tf.function forward over the 8 batches at the same width (Keras predict() shown "
                 "for reference).")
    t = interleaved({"calibrate": calibrate_one, "inference": inference, "predict": predict},
                    repeats=cfg["repeats"], warmup=1)
    section.compared("calibrate_bn(1 width)/one inference pass", f"w={WIDTH} on {NUM_IMAGES} images", t,
                     "calibrate", "inference", 1.2, calibrate_s=round(t["calibrate"], 4),
                     inference_s=round(t["inference"], 4), predict_s=round(t["predict"], 4))
    section.figure("calibrate_bn(1 width)/Keras predict()", f"w={WIDTH} on {NUM_IMAGES} images",
                   t.ratio("calibrate", "predict"), None, t.spread("calibrate", "predict"),
                   t.cpu.ratio("calibrate", "predict"))
    table = section.table("calibration times", ["what", "seconds"])
    for name in t.names:
        table.add(name, t[name])

    # Every call traces anew today (see the profile below), so there is nothing to warm up.
    t2 = interleaved({"many": calibrate_many, "each": calibrate_each}, repeats=cfg["many_repeats"], warmup=0)
    section.compared(f"calibrate {MANY} widths in one call/{MANY} calls of one width", f"{NUM_IMAGES} images", t2,
                     "many", "each", 1.0, many_s=round(t2["many"], 4), each_s=round(t2["each"], 4))
    table.add(f"calibrate_bn({MANY} widths 0.25..1.0) in one call", t2["many"])
    table.add(f"{MANY} calls of calibrate_bn(1 width), the same widths", t2["each"])

    # Diagnosis: the same call with the recommended fixes stood in at run time.
    def with_fixes(cache, fused):
        def call():
            with fix_stand_ins(cache=cache, fused=fused):
                calibrate_one()
        return call

    reference = [layer.slot_variance.numpy().copy() for layer in net.bn_layers]
    with_fixes(True, True)()
    fused_error = max(float(np.max(np.abs(r - layer.slot_variance.numpy()) / (np.abs(r) + 1e-3)))
                      for r, layer in zip(reference, net.bn_layers))
    t3 = interleaved({"as is": calibrate_one, "cached": with_fixes(True, False),
                      "cached+fused": with_fixes(True, True), "inference": inference},
                     repeats=cfg["repeats"], warmup=1)
    for name in ("cached", "cached+fused"):
        section.compared(f"diagnosis: calibrate_bn(1 width) with fix '{name}'/one inference pass",
                         f"w={WIDTH} on {NUM_IMAGES} images", t3, name, "inference", None,
                         as_is_ratio_same_rounds=round(t3.ratio("as is", "inference"), 4))
    section.note(f"Fused statistics agree with tf.nn.moments' to a relative {fused_error:.1e} (variances).")

    def many_with_fixes():
        with fix_stand_ins(cache=True, fused=True):
            calibrate_many()

    def each_with_fixes():
        with fix_stand_ins(cache=True, fused=True):
            calibrate_each()

    t4 = interleaved({"many": many_with_fixes, "each": each_with_fixes}, repeats=cfg["many_repeats"] + 2, warmup=1)
    section.compared(f"diagnosis: with both fixes, {MANY} widths in one call/{MANY} calls of one width",
                     f"{NUM_IMAGES} images", t4, "many", "each", None)

    # Where one call's time goes (diagnosis for a miss).
    top = python_profile(calibrate_one, top=14)
    profile = section.table("cProfile of one calibrate_bn(1 width) call (cumulative s)",
                            ["seconds", "calls", "function"])
    for seconds, calls, where in top:
        profile.add(seconds, calls, where)
    return section


if __name__ == "__main__":
    run(quick=True)
