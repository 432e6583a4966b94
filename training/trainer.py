"""SlimmableTrainer: the custom train_step for S-Net, US-Net, naive and individual training."""

import contextlib

import keras
import tensorflow as tf

from training import rules


class SlimmableTrainer(keras.Model):
    """Wraps a SlimmableModel; one `train_step` trains every width of the step.

    Per step: the widths of `rules.training_widths` (widest first); for each,
    forward at that width + its loss (`rules.width_loss`: labels, or the
    widest width's predictions under in-place distillation, as the
    `rules.DistillRule` says) + its
    gradient; the gradients are SUMMED (not averaged), L2 weight decay is
    added on conv/dense kernels, and the optimizer steps once. Each width's
    gradient is taken on its own tape, so only one width's activations are
    alive at a time.

    Args:
        net: the `slimkeras.SlimmableModel`.
        mode: "individual" | "naive" | "slimmable" | "universal".
        num_sample: n of the sandwich rule (universal).
        inplace_distill: narrower widths learn from the widest width's predictions.
        distill_rule: how they do (`rules.DistillRule`; default: the paper's rule).
        steps_per_epoch: turns the optimizer's step into the epoch the rule's schedule reads.
        label_smoothing: for the label loss.
        weight_decay: L2 coefficient (added to the gradients, as PyTorch's SGD does).
        seed: seeds the sandwich rule's draws.

    Mixed precision: the logits are cast to float32 before the loss (the network
    computes in float16/bfloat16, its BN in float32, see `training.build`). With a
    `keras.optimizers.LossScaleOptimizer` (mixed_float16) the summed loss is scaled,
    the optimizer unscales the summed gradient and skips a step whose gradient is
    not finite; `skipped_steps` counts those per epoch.

    XLA (`compile(jit_compile=True)`) needs static shapes: the switch modes then trace
    each switch for its own width (`WidthState.specialized`); the sandwich rule's
    widths are drawn inside the graph and cannot be compiled.
    """

    def __init__(self, net, mode, num_sample=4, inplace_distill=False, label_smoothing=0.0,
                 weight_decay=0.0, seed=0, distill_rule=rules.DistillRule(), steps_per_epoch=1, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.mode = mode
        self.num_sample = num_sample
        self.inplace_distill = inplace_distill
        self.distill_rule = distill_rule
        self.steps_per_epoch = steps_per_epoch
        self.label_smoothing = label_smoothing
        self.weight_decay = weight_decay
        self.seed = seed
        # Validates the mode against the spec before any work starts.
        self.widths_preview = rules.training_widths(mode, net.width_spec, num_sample, 0, seed).numpy()
        self.width_names = self._width_names()
        self.loss_trackers = [keras.metrics.Mean(name=f"loss_{n}") for n in self.width_names]
        self.acc_trackers = [keras.metrics.SparseCategoricalAccuracy(name=f"acc_{n}") for n in self.width_names]
        self.skipped_tracker = keras.metrics.Sum(name="skipped_steps")
        self._decayed_ids = frozenset(id(v) for v in rules.decayed_variables(net))

    def _width_names(self):
        if self.mode == "universal":
            return ["max", "min"] + [f"rand{i}" for i in range(1, self.num_sample - 1)]
        return [f"w{w:g}" for w in self.widths_preview]

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    @property
    def loss_scaled(self):
        return isinstance(getattr(self, "optimizer", None), keras.optimizers.LossScaleOptimizer)

    @property
    def metrics(self):
        skipped = [self.skipped_tracker] if self.loss_scaled else []
        return self.loss_trackers + self.acc_trackers + skipped

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Skips Keras' pre-fit build when everything is built already (training.main builds
        the trainer and its optimizer first): under MultiWorkerMirroredStrategy Keras' version
        pulls a batch and reduces it across workers eagerly, which fails (keras-team/keras#20585)."""
        if self.built and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        images, labels = data[0], data[1]
        variables = self.trainable_variables
        widths = rules.training_widths(self.mode, self.net.width_spec, self.num_sample,
                                       self.optimizer.iterations, self.seed)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        total = [tf.zeros_like(v) for v in variables]
        teacher = None
        epoch = tf.cast(self.optimizer.iterations, tf.float32) / self.steps_per_epoch
        for i in range(len(self.width_names)):
            # Run the widths one after another (nothing else orders them), so that only one
            # width's activations are alive at a time: peak memory 2.9x a plain step otherwise.
            with tf.control_dependencies(total if i else []):
                step_images = tf.identity(images)
            with tf.GradientTape() as tape, self._static_width(i):
                self.net.width_state.assign(widths[i])
                logits = _float32(self.net(step_images, training=True))
                loss = rules.width_loss(i, logits, labels, teacher, self.label_smoothing,
                                        self.distill_rule, epoch)
                scaled = loss / replicas
                if self.loss_scaled:
                    scaled = self.optimizer.scale_loss(scaled)
            grads = tape.gradient(scaled, variables)
            total = [t if g is None else t + tf.convert_to_tensor(g) for t, g in zip(total, grads)]
            if i == 0 and self.inplace_distill:
                teacher = tf.stop_gradient(logits)
            self.loss_trackers[i].update_state(loss)
            self.acc_trackers[i].update_state(labels, logits)
        if self.weight_decay:
            decay = self.weight_decay / replicas
            if self.loss_scaled:  # the optimizer divides the whole gradient by the scale
                decay = decay * tf.convert_to_tensor(self.optimizer.dynamic_scale)
            total = [
                g + decay * v if id(v) in self._decayed_ids else g
                for g, v in zip(total, variables)
            ]
        if self.loss_scaled:
            finite = self.optimizer.check_finite(total)
            self.skipped_tracker.update_state(1.0 - tf.cast(finite, tf.float32))
        self.optimizer.apply(total, variables)
        return self._logs()

    def _static_width(self, index):
        """Under XLA, the `index`-th switch's width as a trace-time constant."""
        if not self.jit_compile or self.mode == "universal":
            return contextlib.nullcontext()
        return self.net.width_state.specialized(self.net.width_config(float(self.widths_preview[index])))

    def test_step(self, data):
        images, labels = data[0], data[1]
        logits = _float32(self.net(images, training=False))
        self.loss_trackers[0].update_state(rules.label_loss(labels, logits))
        self.acc_trackers[0].update_state(labels, logits)
        return self._logs()

    def _logs(self):
        """The metrics' results. Across workers (MultiWorkerMirroredStrategy) Keras averages
        each log over the workers and over its axis 0 (keras-team/keras#20585), so there a
        scalar gets that axis."""
        strategy = tf.distribute.get_strategy()
        across_workers = (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                          and strategy.extended._in_multi_worker_mode())
        return {m.name: tf.reshape(m.result(), [1]) if across_workers else m.result() for m in self.metrics}


def _float32(logits):
    """float16/bfloat16 logits as float32 (softmax and loss in float32); others unchanged."""
    if logits.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(logits, tf.float32)
    return logits
