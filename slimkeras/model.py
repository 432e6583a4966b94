"""SlimmableModel: a functional Keras model that owns its width."""

import functools

import keras
import tensorflow as tf

from slimkeras._compat import quiet_retracing
from slimkeras.bn_slots import BNSlotTable
from slimkeras.checks import check_int
from slimkeras.layers import (
    SlimmableBatchNormBase,
    SlimmableLayer,
    SwitchableBatchNormalization,
    UniversalBatchNormalization,
)
from slimkeras.layers.batch_norm import DEFAULT_SLOTS as DEFAULT_BN_SLOTS
from slimkeras.width import WidthConfig, WidthSpec, parse_stage_ratios
from slimkeras.width_state import WidthState


@keras.saving.register_keras_serializable(package="slimkeras")
class SlimmableModel(keras.Model):
    """A functional model of slimmable layers that runs at any width of its spec.

    The model owns the width: non-trainable variables (created with the
    model, so inside a tf.distribute scope when there is one) that every
    slimmable layer reads in `call`. Changing the width never retraces a
    tf.function of `model(x)`: one trace serves every width (training draws
    widths inside one graph this way).

    Inference has a faster path: `predict`, `evaluate`, `predict_on_batch`,
    `test_on_batch` and `inference_function(width)` trace one graph per
    width they run at, with that width's channel counts as constants (the
    width arithmetic of a width-dynamic graph costs ~10 % of a forward on
    small inputs). Each such graph is traced once and kept.

    Args:
        inputs, outputs: as `keras.Model` (functional API).
        width_spec: a `WidthSpec`, or its config dict
            (`{"switches": [...]}` or `{"width_range": [lo, hi]}`).
        num_stages: how many stages `set_width(..., stage_ratios=...)` can
            address (layers carry their `stage` number).
        num_bn_slots: rows of BN statistics (default: the BN layers' `num_slots`;
            without BN layers, the number of switches, or 32 for a range).
        architecture: optional dict `{"name": ..., **builder kwargs}` recording
            how a zoo builder made this model.
        class_names: optional list of str, the classes in output order
            (exported as labels).
        preprocessing: optional dict in the export manifest's schema
            (`height`, `width`, `channels`, `scale`, `mean`, `std`, `layout`;
            ImageNet models add their eval transform, e.g. `resize`, `crop`).

    Example:

    ```python
    model = slimkeras.models.mobilenet_v1(width_mult_range=(0.25, 1.0), bn="universal",
                                          input_shape=(28, 28, 1), num_classes=10)
    model.set_width(0.55)
    model.width  # 0.55

    # a network of one's own: slimmable layers, each BN after a slimmable layer slimmable too
    inputs = keras.Input((28, 28, 1))
    x = slimkeras.layers.SlimmableConv2D(32, 3)(inputs)
    x = slimkeras.layers.UniversalBatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    outputs = slimkeras.layers.SlimmableDense(10)(x)
    own = slimkeras.SlimmableModel(inputs, outputs, width_spec={"width_range": [0.25, 1.0]})
    ```

    Attributes:
        bn_slots: the `BNSlotTable`: which widths have BN statistics.
    """

    def __init__(self, *args, width_spec=None, num_stages=0, num_bn_slots=None,
                 architecture=None, class_names=None, preprocessing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.preprocessing = None if preprocessing is None else dict(preprocessing)
        if width_spec is None:
            raise ValueError("SlimmableModel needs a `width_spec` (switches or width_range).")
        self.width_spec = (
            width_spec if isinstance(width_spec, WidthSpec) else WidthSpec.from_config(width_spec)
        )
        self.num_stages = check_int(num_stages, "num_stages", minimum=0)
        self.architecture = architecture
        switches = self.width_spec.switches
        slimmable = [l for l in self.layers if isinstance(l, SlimmableLayer)]
        self.bn_layers = [l for l in slimmable if isinstance(l, SlimmableBatchNormBase)]
        _check_no_plain_batch_norm(self.layers)
        if num_bn_slots is None:
            counts = sorted({l.num_slots for l in self.bn_layers})
            num_bn_slots = counts[0] if counts else (len(switches) if switches else DEFAULT_BN_SLOTS)
        self.num_bn_slots = int(num_bn_slots)
        self._check_layers(slimmable)
        self.bn_slots, self.width_state = self._width_variables()
        for layer in slimmable:
            layer.bind_width_state(self.width_state)
        self._specialized = _SpecializedFunctions()

    def _check_layers(self, slimmable):
        """The BN layers agree with the model's slots and spec; every stage number exists."""
        for layer in self.bn_layers:
            if layer.num_slots != self.num_bn_slots:
                raise ValueError(
                    f"BN layer '{layer.name}' has num_slots={layer.num_slots}, but the model "
                    f"has {self.num_bn_slots} BN slots: give every BN layer the same num_slots "
                    f"(and the model num_bn_slots={layer.num_slots}, or leave it out)."
                )
            if isinstance(layer, SwitchableBatchNormalization) and not self.width_spec.switches:
                raise ValueError(
                    f"Switchable BN layer '{layer.name}' needs a switch list, but the model's "
                    f"width spec is {self.width_spec.describe()}."
                )
        for layer in slimmable:
            if layer.stage is not None and layer.stage > self.num_stages:
                raise ValueError(
                    f"Layer '{layer.name}' is in stage {layer.stage}, but the model has "
                    f"num_stages={self.num_stages}."
                )

    def _width_variables(self):
        """The model's (BNSlotTable, WidthState), on non-trainable float64 variables of the model
        (so inside a tf.distribute scope when there is one)."""
        # Switchable BN: slot i holds switch i, always.
        keys, valid = BNSlotTable.initial_values(
            self.num_bn_slots, self.num_stages, self.width_spec.switches if self.has_switchable_bn else None
        )
        # The names and order are those of the variables in .keras files.
        state_vars = dict(
            width=((), self.width_spec.max_width),
            stage_ratios=((self.num_stages,), 1.0),
            bn_slot_keys=(keys.shape, keys),
            bn_slot_valid=(valid.shape, valid),
        )
        created = {}
        for name, (shape, value) in state_vars.items():
            created[name] = self.add_weight(
                name=name, shape=shape, dtype="float64", trainable=False,
                initializer=keras.initializers.Constant(value),
                aggregation="only_first_replica", autocast=False,
            )
        bn_slots = BNSlotTable(created["bn_slot_keys"], created["bn_slot_valid"], self.num_stages,
                               fixed=self.has_switchable_bn)
        return bn_slots, WidthState(created["width"], created["stage_ratios"], bn_slots, self.num_stages)

    # -- width -----------------------------------------------------------------
    @property
    def width(self):
        """The current global width (a float)."""
        return float(self.width_state.width.numpy())

    @property
    def stage_ratios(self):
        """The current per-stage ratios as `{stage: ratio}` (only stages != 1.0)."""
        return self.width_state.current().stage_ratios

    def set_width(self, width, stage_ratios=None, allow_untrained=False):
        """Runs the model at `width` from now on (no retrace).

        Args:
            width: a switch of the model's switch list, or any float in its
                range; or a `WidthConfig` (then no `stage_ratios`).
            stage_ratios: optional `{stage: ratio}` (ratios in (0, 1]) that
                multiply the global width in those stages (nonuniform widths);
                only for models trained on a width range.
            allow_untrained: accept any width up to the largest one, also
                widths the model was not trained for (experiments such as
                "is an individually trained network naturally slimmable?").
                Not for switchable BN, which has statistics only per switch.

        Raises:
            ValueError: naming the bad value and what is allowed.
        """
        self.width_state.assign_config(self.width_config(width, stage_ratios, allow_untrained))
        return self

    def width_config(self, width=None, stage_ratios=None, allow_untrained=False):
        """The validated `WidthConfig` of `width` and `stage_ratios` (arguments as
        `set_width`); with no width, the current configuration.

        Raises:
            ValueError: naming the bad value and what is allowed.
        """
        if width is None:
            return self.width_state.current()
        if isinstance(width, WidthConfig):
            if stage_ratios is not None:
                raise ValueError(f"{width!r} already has its stage ratios; got stage_ratios={stage_ratios!r} too.")
            width, stage_ratios = width.width, width.stage_ratios
        # Switchable BN has statistics and affine parameters only per switch.
        w = self.width_spec.validate(width, allow_untrained and not self.has_switchable_bn)
        if stage_ratios and not self.width_spec.is_range:
            raise ValueError(
                f"stage_ratios={stage_ratios!r}: nonuniform widths need a model trained on "
                f"a width range; this one has {self.width_spec.describe()}."
            )
        return WidthConfig(w, dict(parse_stage_ratios(stage_ratios, self.num_stages)))

    def clear_bn_statistics(self):
        """Drops the BN statistics of every calibrated width (universal and shared BN;
        shared BN falls back to its running statistics). Switchable BN refuses:
        each switch always has its statistics.
        """
        self.bn_slots.clear()

    @property
    def has_switchable_bn(self):
        return any(isinstance(l, SwitchableBatchNormalization) for l in self.bn_layers)

    @property
    def uses_universal_bn(self):
        return any(isinstance(l, UniversalBatchNormalization) for l in self.bn_layers)

    def check_inference_width(self, config=None):
        """Raises ValueError if inference at `config` (a WidthConfig; default the
        current one) has no BN statistics (universal BN not calibrated there)."""
        config = config or self.width_config()
        if not self.uses_universal_bn or self.bn_slots.find(config) is not None:
            return
        have = ", ".join(c.describe() for c in self.bn_slots.calibrated()) or "none"
        raise ValueError(
            f"Width {config.describe()} has no calibrated BN statistics "
            f"(calibrated: {have}). Calibrate it first: "
            f"slimkeras.calibrate_bn(model, data, widths=[{config.width:g}])."
        )

    # -- width-specialised inference ----------------------------------------------
    def inference_function(self, width=None, stage_ratios=None, allow_untrained=False):
        """A `tf.function` `images -> outputs` (inference mode) at one width configuration.

        Its graph is traced for that configuration alone (channel counts are
        constants), so it runs as fast as a plain Keras model of that width;
        it runs at its width whatever `set_width` says later, and reads the
        model's variables, so later training or calibration shows through.
        Functions are kept per configuration: asking again costs no trace.

        Args:
            width, stage_ratios, allow_untrained: as `set_width`; default the
                current configuration.

        Raises:
            ValueError: a width that is not allowed, or that has no BN
                statistics (universal BN: calibrate it first).

        Example:

        ```python
        forward = model.inference_function(0.5)
        logits = forward(images)
        ```
        """
        config = self.width_config(width, stage_ratios, allow_untrained)
        self.check_inference_width(config)
        function = self._specialized.inference.get(config)
        if function is None:
            # A partial, not a closure: TF counts traces per code object, and one trace
            # per width is by design, not the retracing its warning is about.
            function = tf.function(functools.partial(_specialized_forward, self, config),
                                   autograph=False, reduce_retracing=True)
            self._specialized.inference[config] = function
        return function

    def make_predict_function(self, force=False):
        return self._specialized_step_function("predict", super().make_predict_function, force)

    def make_test_function(self, force=False):
        return self._specialized_step_function("test", super().make_test_function, force)

    def predict_step(self, data):
        with self.width_state.specialized(self._step_config("predict")):
            return super().predict_step(data)

    def test_step(self, data):
        with self.width_state.specialized(self._step_config("test")):
            return super().test_step(data)

    def _step_config(self, kind):
        """The configuration Keras' current predict/test function is for (the current
        width when a step runs outside them, e.g. called directly)."""
        return self._specialized.step_config.get(kind) or self.width_config()

    def _specialized_step_function(self, kind, make, force):
        """Keras' predict/test function for the current width, one kept per width.

        The step reads the configuration recorded here while it traces, so a
        retrace (a new batch shape) keeps the width the function is for.
        """
        attribute = f"{kind}_function"
        cache = self._specialized.steps[kind]
        if force or getattr(self, attribute) is None:  # compile() dropped Keras' functions
            cache.clear()
        config = self.width_config()
        self._specialized.step_config[kind] = config
        if config not in cache:
            make(force=True)
            function = getattr(self, attribute)
            cache[config] = quiet_retracing(function)
        setattr(self, attribute, cache[config])
        return cache[config]

    def cached_function(self, name, make):
        """A function kept with the model under `name` (not saved with it), made by `make()`
        on first use: tools keep their traced functions here (a trace can cost more than
        the work it does)."""
        function = self._specialized.kept.get(name)
        if function is None:
            function = self._specialized.kept[name] = make()
        return function

    # -- inference entry points check the width before tracing -----------------
    def __call__(self, *args, **kwargs):
        if tf.executing_eagerly() and not kwargs.get("training") and self.built:
            if self.width_state.calibration_outputs is None:
                self.check_inference_width()
        return super().__call__(*args, **kwargs)

    def predict(self, *args, **kwargs):
        self.check_inference_width()
        return super().predict(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self.check_inference_width()
        return super().evaluate(*args, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        self.check_inference_width()
        return super().predict_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        self.check_inference_width()
        return super().test_on_batch(*args, **kwargs)

    # -- serialization -----------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "width_spec": self.width_spec.get_config(),
                "num_stages": self.num_stages,
                "num_bn_slots": self.num_bn_slots,
                "architecture": self.architecture,
                "class_names": self.class_names,
                "preprocessing": self.preprocessing,
            }
        )
        return config


def _check_no_plain_batch_norm(layers):
    """A plain Keras BN after a slimmable layer sees a channel count that changes with the
    width (Keras' own shape error would say nothing about why)."""
    slimmable_seen = None
    for layer in layers:  # in topological order
        if isinstance(layer, SlimmableLayer):
            slimmable_seen = slimmable_seen or layer
        elif slimmable_seen is not None and isinstance(layer, keras.layers.BatchNormalization):
            raise ValueError(
                f"Layer '{layer.name}' is a plain keras.layers.BatchNormalization after the slimmable "
                f"layer '{slimmable_seen.name}': its channel count changes with the width. Use "
                "slimkeras.layers.SwitchableBatchNormalization (S-Nets), UniversalBatchNormalization "
                "(US-Nets) or SharedBatchNormalization (naive).")


def _specialized_forward(model, config, inputs):
    with model.width_state.specialized(config):
        return model(inputs, training=False)


class _SpecializedFunctions:
    """Width-specialised functions of a model, per WidthConfig (a plain object: not
    tracked by Keras or tf.Module, so never saved with the model)."""

    def __init__(self):
        self.inference = {}
        self.steps = {"predict": {}, "test": {}}
        self.step_config = {}
        self.kept = {}

