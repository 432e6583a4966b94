"""Post-training BN statistics for any width (US-Nets §3.3 of the paper)."""

import keras
import numpy as np
import tensorflow as tf

from slimkeras.checks import check_int
from slimkeras.width import WidthConfig

# Images BN statistics are calibrated on unless a caller says otherwise (the library's
# functions and callbacks, and the exporter's --representative_data).
CALIBRATION_IMAGES = 1024


def calibrate_bn(model, data, widths=None, num_images=CALIBRATION_IMAGES, batch_size=128,
                 stage_ratios=None, allow_untrained=False, clear=False, verbose=1):
    """Computes BN statistics of `model` at each width from training images.

    Every BN layer normalizes with batch statistics (as in training) while the
    rest of the network runs in inference mode; the statistics of its inputs
    are accumulated over `num_images` images (the exact mean and variance
    over all of them: the cumulative average with momentum 1/t, weighted by
    batch size) and stored in the slot of that width. Trainable weights are
    not touched. The data is read once for all widths and held in memory
    (`num_images` images); each width is one call of a graph traced once per
    model.

    Args:
        model: a `SlimmableModel`.
        data: training images: a numpy array, or a `tf.data.Dataset` of images
            or of `(images, labels, ...)` tuples, batched or not, preprocessed
            as the model expects.
        widths: widths to calibrate (default: the model's switches; required
            for a model trained on a width range). Each may also be a
            `WidthConfig` or a `(width, {stage: ratio})` pair for a nonuniform
            configuration.
        num_images: how many images to average over.
        batch_size: images per forward pass.
        stage_ratios: `{stage: ratio}` applied to every width given as a number.
        allow_untrained: also widths the model was not trained for (see
            `SlimmableModel.set_width`).
        clear: drop every previously calibrated width first (universal and
            shared BN), freeing their slots.
        verbose: 1 shows a progress bar (one step per width).

    Returns:
        The calibrated configurations, a list of `WidthConfig`.

    Example:

    ```python
    slimkeras.calibrate_bn(model, x_train, widths=[0.25, 0.3, 0.55, 1.0])
    model.set_width(0.3)
    model.predict(x_test)
    ```
    """
    from slimkeras.model import SlimmableModel

    if not isinstance(model, SlimmableModel):
        raise ValueError(f"calibrate_bn needs a slimkeras SlimmableModel, got {type(model).__name__}.")
    if not model.bn_layers:
        raise ValueError(f"Model '{model.name}' has no slimmable BN layers to calibrate.")
    check_int(num_images, "num_images")
    check_int(batch_size, "batch_size")
    configs = _resolve_configs(model, widths, stage_ratios, allow_untrained)
    state = model.width_state
    slots = model.bn_slots.allocate(configs, clear)

    statistics_pass = _statistics_pass(model)
    images = _images(data, num_images, statistics_pass.dtype, statistics_pass.image_shape)
    progress = keras.utils.Progbar(len(configs), verbose=verbose, unit_name="width")
    with state.preserved():
        for config, slot in zip(configs, slots):
            state.assign_config(config)
            statistics_pass(images, batch_size, slot)
            progress.add(1)
    model.bn_slots.record(slots, configs)
    if verbose:
        print(f"Calibrated BN at {len(configs)} width(s) on {int(images.shape[0])} images.")
    return configs


def _resolve_configs(model, widths, stage_ratios, allow_untrained):
    if widths is None:
        if model.width_spec.is_range:
            raise ValueError(
                "calibrate_bn: pass `widths=[...]` for a model trained on "
                f"{model.width_spec.describe()}."
            )
        widths = model.width_spec.switches
    if not isinstance(widths, (list, tuple)) or not widths:
        raise ValueError(f"`widths` must be a non-empty list of widths, got {widths!r}.")
    configs = []
    for entry in widths:
        if isinstance(entry, (list, tuple)):
            if len(entry) != 2:
                raise ValueError(f"Width entry {entry!r} must be a width or (width, stage_ratios).")
            width, ratios = entry
        else:
            width, ratios = entry, None if isinstance(entry, WidthConfig) else stage_ratios
        config = model.width_config(width, ratios, allow_untrained)
        if config not in configs:
            configs.append(config)
    return configs


class _StatisticsPass:
    """The calibration pass of one model, traced once for every width and call.

    Calling it runs all images at the model's current width in batches, every
    BN layer normalizing with its batch statistics, and sums each BN input's
    pixel count, per-channel sum and sum of squares (float64) over the batches
    inside the graph (a `tf.while_loop`), then writes the exact mean and
    variance to a BN slot: one graph call per width, nothing fetched.
    The sums hold the active channels of all BN layers back to back
    (zero-padded to the full size), so a batch adds a handful of ops whatever
    the number of layers.
    """

    def __init__(self, model):
        self.model = model
        self.layers = list(model.bn_layers)
        self.size = sum(layer.max_channels for layer in self.layers)
        self.dtype = model.inputs[0].dtype
        self.image_shape = tuple(model.inputs[0].shape[1:])
        spec = tf.TensorSpec((None,) + self.image_shape, self.dtype)
        scalar = tf.TensorSpec((), tf.int32)
        self._function = tf.function(self._calibrate, input_signature=[spec, scalar, scalar], autograph=False)

    def __call__(self, images, batch_size, slot):
        self._function(images, tf.constant(batch_size, tf.int32), tf.constant(slot, tf.int32))

    def _calibrate(self, images, batch_size, slot):
        total = tf.shape(images)[0]

        def body(start, counts, sums, squares, actives):
            c, a, s, q = self._batch_statistics(images[start:start + batch_size])
            return start + batch_size, counts + c, sums + s, squares + q, a

        layers = len(self.layers)
        _, counts, sums, squares, actives = tf.while_loop(
            lambda start, *_: start < total, body,
            (tf.constant(0), tf.zeros([layers], tf.float64), tf.zeros([self.size], tf.float64),
             tf.zeros([self.size], tf.float64), tf.zeros([layers], tf.int32)),
        )
        self._write(slot, counts, sums, squares, actives)

    def _batch_statistics(self, images):
        """(pixels per channel [layers], active channels [layers], sums, sums of squares
        [all channels, padded]) of one batch, all float64 but the channel counts."""
        with self.model.width_state.statistics_pass() as outputs:
            self.model(images, training=False)
        reported = {id(entry[0]): entry[1:] for entry in outputs}
        missing = [layer.name for layer in self.layers if id(layer) not in reported]
        if missing:
            raise ValueError(f"calibrate_bn: BN layers {missing} are not on the model's forward path.")
        means, variances, sizes, actives, unbiased = zip(*(reported[id(layer)] for layer in self.layers))
        actives = tf.stack([tf.cast(a, tf.int32) for a in actives])
        counts = tf.cast(tf.stack(sizes), tf.float64) / tf.cast(actives, tf.float64)
        per_channel_count = tf.repeat(counts, actives)
        mean = tf.cast(tf.concat(means, 0), tf.float64)
        variance = tf.cast(tf.concat(variances, 0), tf.float64)
        if any(unbiased):
            # n/(n-1) undone; for n = 1 the unbiased estimate is undefined, the biased one is 0
            biased = tf.where(per_channel_count > 1.0, variance * (per_channel_count - 1.0) / per_channel_count, 0.0)
            variance = tf.where(tf.repeat(tf.constant(unbiased), actives), biased, variance)
        padding = [[0, self.size - tf.shape(mean)[0]]]
        sums = tf.pad(per_channel_count * mean, padding)
        squares = tf.pad(per_channel_count * (variance + tf.square(mean)), padding)
        return counts, actives, sums, squares

    def _write(self, slot, counts, sums, squares, actives):
        starts = tf.cumsum(actives, exclusive=True)
        for i, layer in enumerate(self.layers):
            start, active, n = starts[i], actives[i], counts[i]
            mean = tf.slice(sums, [start], [active]) / n
            variance = tf.maximum(tf.slice(squares, [start], [active]) / n - tf.square(mean), 0.0)
            for table, value in ((layer.slot_mean, mean), (layer.slot_variance, variance)):
                mask = tf.one_hot(slot, layer.num_slots, dtype=table.dtype)[:, tf.newaxis] * tf.sequence_mask(
                    active, layer.max_channels, dtype=table.dtype)[tf.newaxis, :]
                row = tf.pad(tf.cast(value, table.dtype), [[0, layer.max_channels - active]])
                table.assign(table * (1.0 - mask) + mask * row[tf.newaxis, :])


def _statistics_pass(model):
    """The model's `_StatisticsPass`, made on first use and kept with the model (a trace
    took most of a one-width calibration)."""
    return model.cached_function("calibration", lambda: _StatisticsPass(model))


def _images(data, num_images, dtype, image_shape):
    """Up to `num_images` images of `data` as one tensor of `dtype`; checks their shape
    against the model's `image_shape` (None: any size)."""
    if isinstance(data, tf.data.Dataset):
        parts, remaining = [], num_images
        for element in data.as_numpy_iterator():
            images = np.asarray(element[0] if isinstance(element, (tuple, list)) else element)
            if images.ndim == 3:  # unbatched dataset element
                images = images[np.newaxis]
            parts.append(images[:remaining])
            remaining -= len(parts[-1])
            if remaining <= 0:
                break
        array = np.concatenate(parts) if parts else np.zeros((0,))
    else:
        array = np.asarray(data)
        if array.ndim < 2:
            raise ValueError(f"calibrate_bn: `data` must be images, got an array of shape {array.shape}.")
        array = array[:num_images]
    if not len(array):
        raise ValueError("calibrate_bn got no images from `data`.")
    shape = array.shape[1:]
    if len(shape) != len(image_shape) or any(want not in (None, got) for want, got in zip(image_shape, shape)):
        raise ValueError(f"calibrate_bn: the images have shape {tuple(shape)}, the model takes "
                         f"{tuple(image_shape)} (any size where None).")
    return tf.cast(tf.convert_to_tensor(array), dtype)
