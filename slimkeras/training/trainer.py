"""SlimmableTrainer: `compile` and `fit` a slimmable network, every width of the step at once."""

import contextlib
import inspect

import keras
import tensorflow as tf

from slimkeras import _compat
from slimkeras.training import rules, static


class SlimmableTrainer(keras.Model):
    """Trains a `SlimmableModel` with `compile` and `fit`: every width of a step in one update.

    Per step: the widths of `rules.training_widths` (widest first); for each,
    forward at that width + its loss (`rules.width_loss`: labels, or the
    widest width's predictions under in-place distillation, as the
    `DistillRule` says) + its gradient; the gradients are SUMMED (not
    averaged), L2 weight decay is added on conv/dense kernels, and the
    optimizer steps once. Each width's gradient is taken on its own tape, so
    only one width's activations are alive at a time.

    Why a trainer beside the network rather than a `train_step` on
    `SlimmableModel`: the network stays an inference model, so its `.keras`
    file holds no training rule, optimizer or per-width metrics, and
    `keras.models.load_model` gives back exactly what is calibrated and
    exported; one network can be trained by several rules in turn; and the
    trainer's own state (optimizer, per-width metrics) is what a training
    checkpoint holds. `trainer.save(path)` saves the network.

    Evaluation (`evaluate`, `predict`, `fit(validation_data=...)`) runs at the
    network's width when `fit`, `evaluate` or `predict` is called (the widest
    by default: `trainer.net.set_width(w)` picks another); `fit` leaves the
    network at that width. Universal BN (US-Nets) has no statistics until
    `slimkeras.calibrate_bn` computes them after training, so a US-Net refuses
    `validation_data`: use `slimkeras.callbacks.WidthEvaluation`, which
    calibrates a copy each epoch.

    Args:
        net: the `slimkeras.SlimmableModel`.
        mode: "individual" | "naive" | "slimmable" | "universal"; default: from
            the network (a width range: universal; switchable BN: slimmable, or
            individual for one switch; shared BN: naive).
        num_sample: n of the sandwich rule (universal).
        inplace_distill: narrower widths learn from the widest width's predictions.
        distill_rule: how they do (`DistillRule`; default: the paper's rule).
        steps_per_epoch: steps of an epoch for the rule's schedule; default:
            what `fit` runs per epoch (set it when one epoch is split over
            several `fit` calls).
        label_smoothing: for the label loss.
        weight_decay: L2 coefficient (added to the gradients, as PyTorch's SGD does).
        seed: seeds the sandwich rule's draws.
        static_widths: draw the widths on the host and run each through a function traced
            for its static shapes (see below); False: draw them inside one graph.
        max_traced_widths: with static widths, at most this many per-width functions are
            kept (least recently used evicted first); a width's function is per channel
            configuration and role (widest, label or distilled width).

    Mixed precision (`keras.mixed_precision.set_dtype_policy` before building
    the network): the BN layers compute in float32 (set here), the logits are
    cast to float32 before the loss, and with a
    `keras.optimizers.LossScaleOptimizer` (mixed_float16) the summed loss is
    scaled, the optimizer unscales the summed gradient and skips a step whose
    gradient is not finite; `skipped_steps` counts those per epoch.

    Static widths (`static_widths=True`): the step's widths are drawn on the host
    (the widths the in-graph draw gives for the same seed and step) and each width
    runs as its own function, traced for its channel counts (static shapes) and
    cached (`slimkeras.training.static`); the gradients are summed and applied once,
    as in the in-graph step. Every mode then compiles with XLA
    (`compile(jit_compile=True)`). With the in-graph draw (the default) XLA works
    for the switch modes only (each switch traced for its own width): the sandwich
    rule's in-graph widths give dynamic shapes.

    Example:

    ```python
    net = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), input_shape=(28, 28, 1),
                                        num_classes=10)
    trainer = slimkeras.SlimmableTrainer(net, num_sample=3, inplace_distill=True)
    trainer.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    x = np.random.rand(64, 28, 28, 1).astype("float32")
    y = np.random.randint(0, 10, 64)
    history = trainer.fit(x, y, batch_size=32, epochs=1, verbose=0)
    history.history["loss_min"]  # one loss (and accuracy) per width of the step
    ```
    """

    def __init__(self, net, mode=None, num_sample=4, inplace_distill=False, label_smoothing=0.0,
                 weight_decay=0.0, seed=0, distill_rule=rules.DistillRule(), steps_per_epoch=None,
                 static_widths=False, max_traced_widths=256, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.mode = default_mode(net) if mode is None else mode
        self.num_sample = num_sample
        self.inplace_distill = inplace_distill
        self.distill_rule = distill_rule
        self.steps_per_epoch = steps_per_epoch
        self.label_smoothing = label_smoothing
        self.weight_decay = weight_decay
        self.seed = seed
        self.static_widths = bool(static_widths)
        self.max_traced_widths = int(max_traced_widths)
        self.static_step = None
        # Validates the mode against the spec before any work starts.
        self.widths_preview = rules.training_widths(self.mode, net.width_spec, num_sample, 0, seed).numpy()
        self.width_names = self._width_names()
        self.loss_trackers = [keras.metrics.Mean(name=f"loss_{n}") for n in self.width_names]
        self.acc_trackers = [keras.metrics.SparseCategoricalAccuracy(name=f"acc_{n}") for n in self.width_names]
        self.skipped_tracker = keras.metrics.Sum(name="skipped_steps")
        self.eval_trackers = [keras.metrics.Mean(name="loss"), keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        self._decayed_ids = frozenset(id(v) for v in rules.decayed_variables(net))
        self._epoch_steps = steps_per_epoch or 1
        self._eval_config = None
        _bn_in_float32(net)

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
    def train_metrics(self):
        """The metrics of `fit`: loss and accuracy per width of the step (and skipped steps)."""
        skipped = [self.skipped_tracker] if self.loss_scaled else []
        return self.loss_trackers + self.acc_trackers + skipped

    @property
    def metrics(self):
        return self.train_metrics + self.eval_trackers

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Skips Keras' pre-fit build when everything is built already (training.main builds
        the trainer and its optimizer first): under MultiWorkerMirroredStrategy Keras' version
        pulls a batch and reduces it across workers eagerly, which fails (keras-team/keras#20585)."""
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # -- fit, evaluate, predict, save ------------------------------------------------------
    def fit(self, *args, **kwargs):
        """`keras.Model.fit`; the distillation schedule's epoch length is taken from it."""
        arguments = inspect.signature(super().fit).bind(*args, **kwargs).arguments
        if arguments.get("validation_data") is not None or arguments.get("validation_split"):
            self._check_validation()
        arguments["callbacks"] = list(arguments.get("callbacks") or []) + [_EpochLength(self)]
        config = self._eval_width("test")
        try:
            return super().fit(**arguments)
        finally:
            self.net.width_state.assign_config(config)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate` at the network's current width (`trainer.net.set_width`)."""
        self.net.check_inference_width(self._eval_width("test"))
        return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        """`keras.Model.predict` at the network's current width (`trainer.net.set_width`)."""
        self.net.check_inference_width(self._eval_width("predict"))
        return super().predict(*args, **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """Saves the network (`keras.models.load_model` gives back the `SlimmableModel`)."""
        return self.net.save(filepath, overwrite=overwrite, **kwargs)

    def _check_validation(self):
        if self.net.uses_universal_bn:
            raise ValueError(
                "A US-Net has no BN statistics while it trains (universal BN is calibrated after "
                "training): leave out validation_data and pass callbacks=[slimkeras.callbacks."
                "WidthEvaluation(validation_data, widths=[...], calibration_data=x_train)].")

    def _eval_width(self, kind):
        """The network's current width, for which Keras' `kind` ("test"/"predict") function is
        (re)traced when it changed."""
        config = self.net.width_config()
        if config != self._eval_config:
            self._eval_config = config
            self.test_function = self.predict_function = None
        return config

    def make_train_function(self, force=False):
        if self.jit_compile and self.mode == "universal" and not self.static_widths:
            raise ValueError("jit_compile needs static shapes, and the sandwich rule's in-graph widths are "
                             "dynamic: pass static_widths=True to the SlimmableTrainer.")
        if not self.static_widths:
            super().make_train_function(force)
            return _compat.quiet_retracing(self.train_function)
        if self.train_function is None or force:
            self.static_step = static.StaticStep(self, self.max_traced_widths)
            self.train_function = self._host_loop(self.static_step)
        return self.train_function

    def _host_loop(self, step):
        """Keras' train function for static widths: `steps_per_execution` steps, each `step`."""

        def function(iterator):
            logs = None
            for _ in range(self.steps_per_execution):
                try:
                    data = next(iterator)
                except (StopIteration, tf.errors.OutOfRangeError):
                    if logs is None:
                        raise StopIteration from None
                    break
                logs = step(data)
            return logs

        return function

    def make_test_function(self, force=False):
        super().make_test_function(force)
        return _compat.quiet_retracing(self.test_function)

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        return _compat.quiet_retracing(self.predict_function)

    def set_epoch_steps(self, steps):
        """The steps of an epoch the distillation schedule counts (from `fit`, see `_EpochLength`)."""
        steps = int(self.steps_per_epoch or steps)
        if steps != self._epoch_steps:
            self._epoch_steps = steps
            self.train_function = None
            self.make_train_function()

    # -- steps --------------------------------------------------------------------------
    def train_step(self, data):
        images, labels = data[0], data[1]
        widths = rules.training_widths(self.mode, self.net.width_spec, self.num_sample,
                                       self.optimizer.iterations, self.seed)
        total = [tf.zeros_like(v) for v in self.trainable_variables]
        teacher = None
        epoch = tf.cast(self.optimizer.iterations, tf.float32) / self._epoch_steps
        for i in range(len(self.width_names)):
            # Run the widths one after another (nothing else orders them), so that only one
            # width's activations are alive at a time: peak memory 2.9x a plain step otherwise.
            with tf.control_dependencies(total if i else []):
                step_images = tf.identity(images)
            with self._static_width(i):
                self.net.width_state.assign(widths[i])
                loss, logits, grads = self.width_gradient(step_images, labels, i, teacher, epoch)
            total = rules.sum_gradients(total, grads)
            if i == 0 and self.inplace_distill:
                teacher = tf.stop_gradient(logits)
            self.loss_trackers[i].update_state(loss)
            self.acc_trackers[i].update_state(labels, logits)
        self.apply_summed_gradient(total)
        return self._logs(self.train_metrics)

    def width_gradient(self, images, labels, index, teacher, epoch):
        """`(loss, float32 logits, gradients)` of the `index`-th width of a step, at the width the
        network runs at: its loss (`rules.width_loss`), divided over the replicas and, with a
        `LossScaleOptimizer`, scaled, differentiated on a tape of its own."""
        with tf.GradientTape() as tape:
            logits = rules.float32_logits(self.net(images, training=True))
            loss = rules.width_loss(index, logits, labels, teacher, self.label_smoothing, self.distill_rule, epoch)
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
            if self.loss_scaled:
                scaled = self.optimizer.scale_loss(scaled)
        return loss, logits, tape.gradient(scaled, self.trainable_variables)

    def apply_summed_gradient(self, total):
        """Adds weight decay to the widths' summed gradient `total` (one per trainable
        variable, this replica's) and steps the optimizer once (in a replica context)."""
        variables = self.trainable_variables
        if self.weight_decay:
            decay = self.weight_decay / tf.distribute.get_strategy().num_replicas_in_sync
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

    def _static_width(self, index):
        """Under XLA, the `index`-th switch's width as a trace-time constant."""
        if not self.jit_compile or self.mode == "universal":
            return contextlib.nullcontext()
        return self.net.width_state.specialized(self.net.width_config(float(self.widths_preview[index])))

    def test_step(self, data):
        images, labels = data[0], data[1]
        with self.net.width_state.specialized(self._eval_config or self.net.width_config()):
            logits = rules.float32_logits(self.net(images, training=False))
        self.eval_trackers[0].update_state(rules.label_loss(labels, logits))
        self.eval_trackers[1].update_state(labels, logits)
        return self._logs(self.eval_trackers)

    def predict_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with self.net.width_state.specialized(self._eval_config or self.net.width_config()):
            return self.net(images, training=False)

    def _logs(self, metrics):
        """The results of `metrics`. Across workers (MultiWorkerMirroredStrategy) Keras averages
        each log over the workers and over its axis 0 (keras-team/keras#20585), so there a
        scalar gets that axis."""
        strategy = tf.distribute.get_strategy()
        across_workers = (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                          and _compat.in_multi_worker_mode(strategy))
        return {m.name: tf.reshape(m.result(), [1]) if across_workers else m.result() for m in metrics}


def default_mode(net):
    """The training mode a network's width spec and BN call for (see `SlimmableTrainer`)."""
    if net.width_spec.is_range:
        return "universal"
    if net.has_switchable_bn:
        return "individual" if len(net.width_spec.switches) == 1 else "slimmable"
    return "naive"


class _EpochLength(keras.callbacks.Callback):
    """Hands the steps `fit` runs per epoch to the trainer before its first step."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        steps = self.params.get("steps")
        if not steps and not self.trainer.steps_per_epoch:
            raise ValueError("fit() cannot tell how many steps an epoch has (a dataset of unknown "
                             "length): pass steps_per_epoch to fit().")
        self.trainer.set_epoch_steps(steps)


def _bn_in_float32(net):
    """Under a mixed dtype policy the BN layers compute in float32 (batch statistics, slots
    and the normalization itself); the rest of the network in float16/bfloat16."""
    if any(layer.dtype_policy.name.startswith("mixed_") for layer in net.layers):
        for layer in net.bn_layers:
            layer.dtype_policy = "float32"
