"""Slimmable forward at width w vs a plain Keras model of width w.

Both are `tf.function(model(x, training=False))`, batch 64; the plain model is
`slimkeras.materialize(model, w)` (standard Conv2D / DepthwiseConv2D / BN /
Dense layers, the same weights). S-Net models (switchable BN) so every switch
has BN statistics without calibration. One slimmable tf.function serves every
width (its trace count is reported).
"""

import contextlib

import numpy as np

from benchmarks.common import Section, interleaved

TARGET = 1.05
WIDTHS = [0.25, 0.5, 0.75, 1.0]
BATCH = 64


def config(quick):
    if quick:
        return [
            dict(arch="mobilenet_v1", size=32, widths=WIDTHS, repeats=15, number=2),
            dict(arch="mobilenet_v2", size=32, widths=WIDTHS, repeats=15, number=2),
            dict(arch="mobilenet_v1", size=224, widths=[0.25, 1.0], repeats=3, number=1),
        ]
    return [
        dict(arch="mobilenet_v1", size=32, widths=WIDTHS, repeats=41, number=3),
        dict(arch="mobilenet_v2", size=32, widths=WIDTHS, repeats=41, number=3),
        dict(arch="mobilenet_v1", size=224, widths=WIDTHS, repeats=7, number=1),
        dict(arch="mobilenet_v2", size=224, widths=WIDTHS, repeats=7, number=1),
    ]


def build(arch, size):
    import slimkeras

    return slimkeras.models.build(arch, width_mult_list=WIDTHS, input_shape=(size, size, 3),
                                  num_classes=10 if size < 64 else 1000)


def forward_fn(model):
    """A fresh tf.function of the model's inference forward."""
    import tensorflow as tf

    return tf.function(lambda images: model(images, training=False), autograph=False)


def compare(model, width, x, repeats, number, slim_fn=None):
    """Interleaved timing of the slimmable model at `width` and its materialized twin.

    Returns `(Timings with "slim" and "plain", max |difference| of the outputs, slim_fn)`.
    """
    import slimkeras

    if slim_fn is None:
        slim_fn = forward_fn(model)
    model.set_width(width)
    plain = slimkeras.materialize(model, width)
    plain_fn = forward_fn(plain)
    diff = float(np.max(np.abs(slim_fn(x).numpy() - plain_fn(x).numpy())))
    timings = interleaved({"slim": lambda: slim_fn(x).numpy(), "plain": lambda: plain_fn(x).numpy()},
                          repeats=repeats, warmup=1, number=number)
    return timings, diff, slim_fn


@contextlib.contextmanager
def static_width_layers(model, width):
    """Diagnosis only: while active, newly traced calls of the slimmable layers use
    Python-int channel counts and BN slot for `width` (a graph specialised to one
    width, as a per-width trace would be), reading the same variables. Restores the
    layers' `call` on exit; the library is not changed."""
    import tensorflow as tf

    from slimkeras.layers import batch_norm as bn_lib
    from slimkeras.layers import conv as conv_lib

    slot = model.width_state.find_slot(width, [1.0] * model.num_stages)

    def conv(self, inputs):
        kernel = self.kernel[:, :, :inputs.shape[-1], :self.active_units(width)]
        return tf.nn.conv2d(inputs, kernel, strides=(1,) + self.strides + (1,), padding=self.padding.upper())

    def depthwise(self, inputs):
        kernel = self.kernel[:, :, :inputs.shape[-1], :]
        return tf.nn.depthwise_conv2d(inputs, kernel, strides=(1,) + self.strides + (1,),
                                      padding=self.padding.upper())

    def dense(self, inputs):
        outputs = tf.matmul(inputs, self.kernel[:inputs.shape[-1], :self.active_units(width)])
        return outputs + self.bias[:self.active_units(width)] if self.use_bias else outputs

    def norm(self, inputs, training=None):
        c = inputs.shape[-1]
        gamma, beta = (self.gamma[slot, :c], self.beta[slot, :c]) if self.private_affine else (
            self.gamma[:c], self.beta[:c])
        return tf.nn.batch_normalization(inputs, self.slot_mean[slot, :c], self.slot_variance[slot, :c],
                                         beta, gamma, self.epsilon)

    patches = {conv_lib.SlimmableConv2D: conv, conv_lib.SlimmableDepthwiseConv2D: depthwise,
               conv_lib.SlimmableDense: dense, bn_lib.SlimmableBatchNormBase: norm}
    saved = {cls: cls.__dict__["call"] for cls in patches}
    try:
        for cls, fn in patches.items():
            cls.call = fn
        yield
    finally:
        for cls, fn in saved.items():
            cls.call = fn


def diagnose(section, model, name, width, x, repeats, number):
    """What TF runs per forward at `width` (nodes after Grappler), and the same layers in a
    width-specialised graph (`static_width_layers`) against the plain model."""
    import slimkeras
    from benchmarks.diagnose import executed_graph_ops

    model.set_width(width)
    plain = slimkeras.materialize(model, width)
    slim_nodes, slim_ops = executed_graph_ops(forward_fn(model), x)
    plain_nodes, _ = executed_graph_ops(forward_fn(plain), x)
    common = ", ".join(f"{op} {n}" for op, n in slim_ops.most_common(12))
    section.note(f"{name} w={width:g}: graph nodes executed per forward after Grappler: slimmable "
                 f"{slim_nodes} vs plain {plain_nodes} (slimmable: {common}; Assert {slim_ops.get('Assert', 0)}, "
                 f"Shape {slim_ops.get('Shape', 0)}).")
    static_fn = forward_fn(model)
    with static_width_layers(model, width):
        static_out = static_fn(x).numpy()
    assert np.allclose(static_out, plain(x, training=False).numpy(), atol=1e-3)
    slim_fn, plain_fn = forward_fn(model), forward_fn(plain)
    t = interleaved({"slim": lambda: slim_fn(x).numpy(), "static": lambda: static_fn(x).numpy(),
                     "plain": lambda: plain_fn(x).numpy()}, repeats=repeats, warmup=1, number=number)
    section.compared("diagnosis: width-specialised graph/plain", f"{name} w={width:g}", t, "static", "plain",
                     None, slim_ratio_same_rounds=round(t.ratio("slim", "plain"), 4))


def run(quick=False):
    import tensorflow as tf

    from benchmarks.diagnose import tracing_count

    section = Section("forward", "Forward: slimmable at width w / materialized plain Keras model of width w")
    section.note(f"tf.function(model(x, training=False)), batch {BATCH}, random inputs, S-Net models "
                 "(switchable BN) with switches 0.25/0.5/0.75/1.0; ratio = median over interleaved rounds.")
    table = section.table("forward times", ["model", "input", "width", "slim ms", "plain ms", "ratio",
                                            "max |out diff|"])
    rng = np.random.default_rng(0)
    for case in config(quick):
        arch, size = case["arch"], case["size"]
        model = build(arch, size)
        x = tf.constant(rng.standard_normal((BATCH, size, size, 3)).astype("float32"))
        slim_fn = None
        for width in case["widths"]:
            timings, diff, slim_fn = compare(model, width, x, case["repeats"], case["number"], slim_fn)
            ratio = timings.ratio("slim", "plain")
            section.compared("forward slim/plain", f"{arch} {size}x{size} w={width:g}", timings, "slim", "plain",
                             TARGET, slim_ms=round(timings["slim"] * 1e3, 3),
                             plain_ms=round(timings["plain"] * 1e3, 3))
            table.add(arch, f"{size}x{size}", width, timings["slim"] * 1e3, timings["plain"] * 1e3, ratio, diff)
        traces = tracing_count(slim_fn)
        section.note(f"{arch} {size}x{size}: the slimmable tf.function traced {traces} time(s) for "
                     f"{len(case['widths'])} widths (no retrace per width).")
        diagnose(section, model, f"{arch} {size}x{size}", case["widths"][0], x, case["repeats"], case["number"])
    return section


if __name__ == "__main__":
    run(quick=True)
