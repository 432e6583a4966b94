"""`slimkeras.calibrate_bn` cost: one width vs one inference pass, and 20 widths in one call
vs 20 calls of one width each (the same 20 widths, 0.25 to 1.0).

Model: the embedded default's network (US-MobileNet v1, 28x28x1, range
0.25-1.0, universal BN). Images: the first 1024 Fashion-MNIST training images,
normalized (random images where Debian's dataset is not installed).
"""

import numpy as np

from benchmarks.common import Section, interleaved

NUM_IMAGES = 1024
BATCH = 128
WIDTH = 0.55
MANY = 20


def config(quick):
    if quick:
        return dict(repeats=5, many_repeats=1)
    return dict(repeats=21, many_repeats=5)


def images(count=NUM_IMAGES):
    """(images float32 [count, 28, 28, 1], where they came from)."""
    try:
        from slimkeras.datasets import fashion_mnist

        raw, _ = fashion_mnist.load_split("train")
        return fashion_mnist.normalize(raw[:count]).numpy(), "Fashion-MNIST train[:1024]"
    except Exception:  # dataset not installed: the cost does not depend on the pixels
        rng = np.random.default_rng(0)
        return rng.standard_normal((count, 28, 28, 1)).astype("float32"), "random normal images"


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
    specialised = net.inference_function(WIDTH)
    batches = [tf.constant(x[i:i + BATCH]) for i in range(0, NUM_IMAGES, BATCH)]

    def inference():
        for b in batches:
            forward(b).numpy()

    def inference_specialised():
        for b in batches:
            specialised(b).numpy()

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
                 "pre-traced tf.function(model(x, training=False)) over the 8 batches at the same width: the "
                 "width-dynamic graph, the kind of graph calibrate_bn runs (one trace for every width). Also shown: "
                 "the width-specialised model.inference_function(w) (what predict runs) and Keras predict().")
    t = interleaved({"calibrate": calibrate_one, "inference": inference, "specialised": inference_specialised,
                     "predict": predict}, repeats=cfg["repeats"], warmup=1)
    section.compared("calibrate_bn(1 width)/one inference pass", f"w={WIDTH} on {NUM_IMAGES} images", t,
                     "calibrate", "inference", 1.2, calibrate_s=round(t["calibrate"], 4),
                     inference_s=round(t["inference"], 4), specialised_s=round(t["specialised"], 4),
                     predict_s=round(t["predict"], 4))
    section.compared("calibrate_bn(1 width)/one width-specialised inference pass", f"w={WIDTH} on {NUM_IMAGES} images",
                     t, "calibrate", "specialised", None)
    section.compared("calibrate_bn(1 width)/Keras predict()", f"w={WIDTH} on {NUM_IMAGES} images", t,
                     "calibrate", "predict", None)
    table = section.table("calibration times", ["what", "seconds"])
    for name in t.names:
        table.add(name, t[name])

    t2 = interleaved({"many": calibrate_many, "each": calibrate_each}, repeats=cfg["many_repeats"], warmup=1)
    section.compared(f"calibrate {MANY} widths in one call/{MANY} calls of one width", f"{NUM_IMAGES} images", t2,
                     "many", "each", 1.0, many_s=round(t2["many"], 4), each_s=round(t2["each"], 4))
    table.add(f"calibrate_bn({MANY} widths 0.25..1.0) in one call", t2["many"])
    table.add(f"{MANY} calls of calibrate_bn(1 width), the same widths", t2["each"])

    # Where one call's time goes (diagnosis for a miss).
    top = python_profile(calibrate_one, top=14)
    profile = section.table("cProfile of one calibrate_bn(1 width) call (cumulative s)",
                            ["seconds", "calls", "function"])
    for seconds, calls, where in top:
        profile.add(seconds, calls, where)
    return section


if __name__ == "__main__":
    run(quick=True)
