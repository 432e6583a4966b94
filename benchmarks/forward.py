"""Slimmable forward at width w vs a plain Keras model of width w.

The plain model is `slimkeras.materialize(model, w)` (standard Conv2D /
DepthwiseConv2D / BN / Dense layers, the same weights), run as
`tf.function(plain(x, training=False))`, batch 64. The slimmable model runs two
ways:

- width-specialised (the target rows): `model.inference_function(w)`, the path
  `predict`/`evaluate` take: one graph per width, channel counts constant;
- width-dynamic (reported): `tf.function(model(x, training=False))`, one trace
  serving every width (the width is a variable; training works this way).

S-Net models (switchable BN) so every switch has BN statistics without
calibration.
"""

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


def compare(model, width, x, repeats, number, dynamic_fn):
    """Interleaved timing of the slimmable model at `width`, width-specialised and
    width-dynamic, against its materialized twin.

    Returns `(Timings with "slim", "dynamic" and "plain", max |difference| of the outputs)`.
    """
    import slimkeras

    model.set_width(width)
    slim_fn = model.inference_function(width)
    plain = slimkeras.materialize(model, width)
    plain_fn = forward_fn(plain)
    reference = plain_fn(x).numpy()
    diff = max(float(np.max(np.abs(fn(x).numpy() - reference))) for fn in (slim_fn, dynamic_fn))
    timings = interleaved({"slim": lambda: slim_fn(x).numpy(), "dynamic": lambda: dynamic_fn(x).numpy(),
                           "plain": lambda: plain_fn(x).numpy()},
                          repeats=repeats, warmup=1, number=number)
    return timings, diff


def graph_sizes(section, model, name, width, x):
    """Note: graph nodes TF executes per forward (after Grappler), each way."""
    import tensorflow as tf

    import slimkeras
    from benchmarks.diagnose import executed_graph_ops

    model.set_width(width)
    plain = slimkeras.materialize(model, width)
    dynamic, _ = executed_graph_ops(forward_fn(model), x)
    specialised, ops = executed_graph_ops(
        tf.function(model.inference_function(width).python_function, autograph=False), x)
    plain_nodes, _ = executed_graph_ops(forward_fn(plain), x)
    section.note(f"{name} w={width:g}: graph nodes executed per forward after Grappler: width-specialised "
                 f"{specialised}, width-dynamic {dynamic}, plain {plain_nodes} (specialised: StridedSlice "
                 f"{ops.get('StridedSlice', 0)}, ReadVariableOp {ops.get('ReadVariableOp', 0)}, Assert "
                 f"{ops.get('Assert', 0)}).")


def run(quick=False):
    import tensorflow as tf

    from benchmarks.diagnose import tracing_count

    section = Section("forward", "Forward: slimmable at width w / materialized plain Keras model of width w")
    section.note(f"Batch {BATCH}, random inputs, S-Net models (switchable BN) with switches 0.25/0.5/0.75/1.0. "
                 "slim = model.inference_function(w) (what predict/evaluate run: a graph per width); dynamic = "
                 "tf.function(model(x, training=False)) (one graph for every width); plain = the materialized "
                 "model; ratio = median over interleaved rounds.")
    table = section.table("forward times", ["model", "input", "width", "slim ms", "dynamic ms", "plain ms",
                                            "slim ratio", "dynamic ratio", "max |out diff|"])
    rng = np.random.default_rng(0)
    for case in config(quick):
        arch, size = case["arch"], case["size"]
        model = build(arch, size)
        x = tf.constant(rng.standard_normal((BATCH, size, size, 3)).astype("float32"))
        dynamic_fn = forward_fn(model)
        for width in case["widths"]:
            timings, diff = compare(model, width, x, case["repeats"], case["number"], dynamic_fn)
            case_name = f"{arch} {size}x{size} w={width:g}"
            section.compared("forward slim/plain", case_name, timings, "slim", "plain", TARGET,
                             slim_ms=round(timings["slim"] * 1e3, 3), plain_ms=round(timings["plain"] * 1e3, 3))
            section.compared("forward width-dynamic slim/plain", case_name, timings, "dynamic", "plain", None,
                             dynamic_ms=round(timings["dynamic"] * 1e3, 3))
            table.add(arch, f"{size}x{size}", width, timings["slim"] * 1e3, timings["dynamic"] * 1e3,
                      timings["plain"] * 1e3, timings.ratio("slim", "plain"), timings.ratio("dynamic", "plain"), diff)
        traces = [tracing_count(model.inference_function(w)) for w in case["widths"]]
        section.note(f"{arch} {size}x{size}: the width-dynamic tf.function traced {tracing_count(dynamic_fn)} "
                     f"time(s) for {len(case['widths'])} widths; each width-specialised function {max(traces)} time(s).")
        graph_sizes(section, model, f"{arch} {size}x{size}", case["widths"][0], x)
    return section


if __name__ == "__main__":
    run(quick=True)
