"""The static-width step: each width of a step as a function traced for its channel counts.

The sandwich rule draws its widths from a continuous range, but a network runs a width
only through its layers' channel counts (`make_divisible(c * w, 8)` per layer), so the
widths of [lo, hi] fall into a finite set of channel configurations. `StaticStep`
draws a step's widths on the host (`host_widths`: the very `rules.training_widths`
computation the graph runs, so the same seed gives the same widths), maps each to its
configuration (`channel_key`) and runs that width's forward and backward as a
`tf.function` traced for the configuration's static shapes (and compiled by XLA
under `jit_compile`), cached with least-recently-used eviction. The gradients are summed
and applied once, by one more function, as the in-graph step does.
"""

import collections
import time

import numpy as np
import tensorflow as tf

from slimkeras import _compat
from slimkeras.channels import tf_active_channels
from slimkeras.profiling import channel_counts, sliced_layers
from slimkeras.training import rules

# Role of a width in the step: the first (widest) starts the gradient sum and gives the
# teacher; the others add to it, from the labels or (in-place distillation) the teacher.
FIRST, LABELS, DISTILLED = "first", "labels", "distilled"


def host_widths(mode, width_spec, num_sample, step, seed):
    """The widths of step `step` as float64 numpy, computed on the host CPU exactly as the
    graph computes them (`rules.training_widths`: the same stateless random op and seed)."""
    with tf.device("/cpu:0"):
        return rules.training_widths(mode, width_spec, num_sample, int(step), seed).numpy()


def channel_key(net, config, layers=None):
    """The channel configuration of `config`: the active output channels of every sliced layer
    (and, with switchable BN, the configuration itself: its BN slot depends on it)."""
    key = channel_counts(net, config, layers)
    return (key, config) if net.has_switchable_bn else (key, None)


def count_configurations(net, lo, hi, resolution=1e-6):
    """(distinct channel configurations of the uniform widths in [lo, hi], their probabilities
    under U(lo, hi)), from a grid of `resolution` (configurations narrower than it may be missed)."""
    layers = sliced_layers(net)
    grid = np.linspace(lo, hi, int(round((hi - lo) / resolution)) + 1)
    columns = [_active_units_array(layer, grid) for layer in layers]
    table = np.stack(columns, axis=1)
    unique, counts = np.unique(table, axis=0, return_counts=True)
    return len(unique), counts / counts.sum()


def _active_units_array(layer, widths):
    """`layer.active_units` over an array of uniform widths (the graph's channel rule, vectorized)."""
    if not layer.slice_output:
        return np.full(widths.shape, layer.max_units, np.int64)
    return tf_active_channels(layer.units_base, tf.constant(widths, tf.float64), layer.channel_ratio,
                              layer.divisor, layer.max_units).numpy().astype(np.int64)


class StaticStep:
    """The train step of a `SlimmableTrainer` with `static_widths=True` (see the module).

    Args:
        trainer: the trainer (compiled: its optimizer and `jit_compile` are used).
        max_functions: at most this many per-width functions are kept (least recently
            used evicted first).

    `stats` counts the functions traced, the seconds their first calls took (tracing,
    XLA compilation and one run) and the evictions.
    """

    def __init__(self, trainer, max_functions):
        self.trainer = trainer
        self.max_functions = max_functions
        self.functions = collections.OrderedDict()
        self.layers = sliced_layers(trainer.net)
        self.stats = {"traced": 0, "first_call_seconds": 0.0, "evicted": 0}
        self._apply = None

    def __call__(self, data):
        """One step on `data` (per-replica values under a strategy); returns the reduced logs."""
        trainer = self.trainer
        images, labels = data[0], data[1]
        widths = host_widths(trainer.mode, trainer.net.width_spec, trainer.num_sample,
                             trainer.optimizer.iterations.numpy(), trainer.seed)
        total, teacher, losses, logits = None, None, [], []
        for i, width in enumerate(widths):
            role = FIRST if i == 0 else DISTILLED if trainer.inplace_distill else LABELS
            config = trainer.net.width_config(float(width))
            args = (images, labels) if role == FIRST else (images, labels, total, teacher)
            total, loss, width_logits = self._function(config, role)(*args)
            if i == 0:
                teacher = width_logits
            losses.append(loss)
            logits.append(width_logits)
        return self._apply_function()(labels, total, losses, logits)

    def _function(self, config, role):
        """The cached function of one width's forward and backward (traced on first use)."""
        key = (channel_key(self.trainer.net, config, self.layers), role)
        function = self.functions.get(key)
        if function is not None:
            self.functions.move_to_end(key)
            return function
        if len(self.functions) >= self.max_functions:
            self.functions.popitem(last=False)
            self.stats["evicted"] += 1
        function = self._timed(self._distributed(self._width_step(config, role)))
        self.functions[key] = function
        return function

    def _width_step(self, config, role):
        trainer = self.trainer

        def step(images, labels, total=None, teacher=None):
            epoch = tf.cast(trainer.optimizer.iterations, tf.float32) / trainer._epoch_steps
            with trainer.net.width_state.specialized(config):
                loss, logits, grads = trainer.width_gradient(images, labels, 0 if role == FIRST else 1,
                                                             teacher if role == DISTILLED else None, epoch)
            if total is None:
                total = [tf.zeros_like(v) for v in trainer.trainable_variables]
            return rules.sum_gradients(total, grads), loss, logits

        return step

    def _apply_function(self):
        """The function that updates the per-width metrics and applies the summed gradient."""
        if self._apply is None:
            trainer = self.trainer

            def apply(labels, total, losses, logits):
                # On this replica's device: a single-device MirroredStrategy passes plain tensors,
                # whose function inputs carry no device, and the optimizer's all-reduce needs one.
                total = [tf.identity(t) for t in total]
                for i, (loss, width_logits) in enumerate(zip(losses, logits)):
                    trainer.loss_trackers[i].update_state(loss)
                    trainer.acc_trackers[i].update_state(labels, width_logits)
                trainer.apply_summed_gradient(total)
                return trainer._logs(trainer.train_metrics)

            self._apply = self._distributed(apply, reduce=True)
        return self._apply

    def _distributed(self, step, reduce=False):
        """`step` run on every replica, as a tf.function (XLA-compiled under `jit_compile`)."""
        trainer = self.trainer

        def run(*args):
            outputs = trainer.distribute_strategy.run(step, args=args)
            return _compat.reduce_per_replica(outputs, trainer.distribute_strategy) if reduce else outputs

        return tf.function(run, jit_compile=bool(trainer.jit_compile))

    def _timed(self, function):
        """`function`, its first call (the trace and compilation) counted in `stats`."""
        state = {"first": True}

        def call(*args):
            if not state["first"]:
                return function(*args)
            start = time.perf_counter()
            outputs = function(*args)
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t,
                                  _first_local(outputs[1]))
            self.stats["traced"] += 1
            self.stats["first_call_seconds"] += time.perf_counter() - start
            state["first"] = False
            return outputs

        return call


def _first_local(value):
    """A tensor of `value` (its first replica's under a strategy), to wait for."""
    values = getattr(value, "values", None)
    return values[0] if values else value
