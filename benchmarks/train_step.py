"""One multi-width train step vs the sum of the plain per-width train steps.

- Multi-switch (S-Net, `mode="slimmable"`, switches 0.25/0.5/0.75/1.0): one
  `SlimmableTrainer.train_step` against the four plain train steps of
  `slimkeras.materialize(net, w)` run back to back.
- Sandwich (US-Net, `mode="universal"`, n=4, in-place distillation): the step's
  widths depend on the step number; the optimizer's step counter is reset before
  every timed step, so each timed step trains the same four widths (max, min and
  two drawn ones), and the baseline is the four plain models of exactly those widths.

Plain step: `tf.function` of forward (training=True) + sparse categorical
cross-entropy from logits + gradient + SGD (momentum 0.9, Nesterov), one
optimizer per plain model. Weight decay 0 on both sides.
"""

import numpy as np

from benchmarks.common import Section, interleaved

TARGET = 1.10
SWITCHES = [0.25, 0.5, 0.75, 1.0]
RANGE = (0.25, 1.0)
STEP = 7  # the sandwich step whose widths every timed step trains


def config(quick):
    if quick:
        return dict(cases=[("mobilenet_v1", (28, 28, 1), 64)], repeats=5)
    return dict(cases=[("mobilenet_v1", (28, 28, 1), 256), ("mobilenet_v2", (32, 32, 3), 128)], repeats=9)


def _sgd():
    import keras

    return keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)


def make_trainer(net, mode, x, **kwargs):
    """A compiled, built SlimmableTrainer and a tf.function of its train_step."""
    import tensorflow as tf

    from slimkeras.training.trainer import SlimmableTrainer

    trainer = SlimmableTrainer(net, mode, weight_decay=0.0, **kwargs)
    trainer.compile(optimizer=_sgd())
    trainer(tf.zeros((1,) + tuple(x.shape[1:])), training=True)
    trainer.optimizer.build(trainer.trainable_variables)
    step = tf.function(lambda images, labels: trainer.train_step((images, labels)), autograph=False)
    return trainer, step


def plain_step(model):
    """tf.function train step of a plain Keras model (the per-width baseline)."""
    import keras
    import tensorflow as tf

    optimizer = _sgd()
    optimizer.build(model.trainable_variables)

    @tf.function(autograph=False)
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def plain_models(arch, input_shape, widths, spec_kwargs):
    """Plain models of `widths` (materialized from a shared-BN twin: no calibration needed)."""
    import slimkeras

    twin = slimkeras.models.build(arch, input_shape=input_shape, num_classes=10, bn="shared", **spec_kwargs)
    return [slimkeras.materialize(twin, float(w)) for w in widths]


def measure(kind, arch, input_shape, batch, repeats, warmup=1):
    """Timings of "slim" (one trainer step) and "plain" (the plain steps of its widths, summed)."""
    import tensorflow as tf

    import slimkeras
    from slimkeras.training import rules

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch,) + tuple(input_shape)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch).astype("int32"))

    def slim_step():
        if kind == "multi-switch":
            net = slimkeras.models.build(arch, width_mult_list=SWITCHES, input_shape=input_shape, num_classes=10)
            trainer, step = make_trainer(net, "slimmable", x)
            return trainer, step, lambda: step(x, y)["loss_w1"].numpy()
        net = slimkeras.models.build(arch, width_mult_range=RANGE, input_shape=input_shape, num_classes=10)
        trainer, step = make_trainer(net, "universal", x, num_sample=4, inplace_distill=True, seed=0)

        def run():
            trainer.optimizer.iterations.assign(STEP)
            step(x, y)["loss_max"].numpy()

        return trainer, step, run

    trainer, step, slim = slim_step()
    if kind == "multi-switch":
        widths = sorted(SWITCHES, reverse=True)
        plains = plain_models(arch, input_shape, widths, {"width_mult_list": SWITCHES})
    else:
        widths = rules.training_widths("universal", trainer.net.width_spec, 4, STEP, 0).numpy()
        plains = plain_models(arch, input_shape, widths, {"width_mult_range": RANGE})
    steps = [plain_step(m) for m in plains]

    def plain():
        for s in steps:
            s(x, y).numpy()

    timings = interleaved({"slim": slim, "plain": plain}, repeats=repeats, warmup=warmup)
    return timings, list(map(float, widths)), step


def run(quick=False):
    from benchmarks.diagnose import tracing_count

    cfg = config(quick)
    section = Section("train_step", "Train step: one multi-width step / the sum of its plain per-width steps")
    table = section.table("train step times", ["step", "model", "batch", "widths", "slim ms", "sum of plain ms",
                                               "ratio"])
    for kind in ("multi-switch", "sandwich"):
        for arch, shape, batch in cfg["cases"]:
            timings, widths, step = measure(kind, arch, shape, batch, cfg["repeats"])
            ratio = timings.ratio("slim", "plain")
            case = f"{arch} {shape[0]}x{shape[1]}x{shape[2]} batch {batch}"
            section.compared(f"{kind} step/sum of 4 plain steps", case, timings, "slim", "plain", TARGET,
                             widths=[round(w, 4) for w in widths], slim_ms=round(timings["slim"] * 1e3, 2),
                             plain_ms=round(timings["plain"] * 1e3, 2))
            table.add(kind, f"{arch} {shape[0]}x{shape[1]}", batch, ", ".join(f"{w:.3g}" for w in widths),
                      timings["slim"] * 1e3, timings["plain"] * 1e3, ratio)
            section.note(f"{kind} {case}: the trainer's step traced {tracing_count(step)} time(s) over "
                         f"{cfg['repeats'] + 1} steps.")
    section.note("Sandwich: in-place distillation on (the default job's setting); the baseline's plain steps "
                 "all use the label loss. Both sides: SGD momentum 0.9 Nesterov, no weight decay; the "
                 "trainer applies one summed update, the baseline one update per plain model.")
    return section


if __name__ == "__main__":
    run(quick=True)
