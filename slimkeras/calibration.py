"""Post-training BN statistics for any width (US-Nets §3.3 of the paper)."""

import keras
import numpy as np
import tensorflow as tf

from slimkeras.model import _describe_config


def calibrate_bn(model, data, widths=None, num_images=1024, batch_size=128,
                 stage_ratios=None, allow_untrained=False, clear=False, verbose=1):
    """Computes BN statistics of `model` at each width from training images.

    Every BN layer normalizes with batch statistics (as in training) while the
    rest of the network runs in inference mode; the statistics of its inputs
    are accumulated over `num_images` images (the exact mean and variance
    over all of them: the cumulative average with momentum 1/t, weighted by
    batch size) and stored in the slot of that width. Trainable weights are
    not touched. The data is read once for all widths.

    Args:
        model: a `SlimmableModel`.
        data: training images: a numpy array, or a `tf.data.Dataset` of images
            or of `(images, labels, ...)` tuples, batched or not, preprocessed
            as the model expects.
        widths: widths to calibrate (default: the model's switches; required
            for a model trained on a width range). Each may also be a
            `(width, {stage: ratio})` pair for a nonuniform configuration.
        num_images: how many images to average over.
        batch_size: images per forward pass.
        stage_ratios: `{stage: ratio}` applied to every width given as a number.
        allow_untrained: also widths the model was not trained for (see
            `SlimmableModel.set_width`).
        clear: drop every previously calibrated width first (universal and
            shared BN), freeing their slots.
        verbose: 1 shows a progress bar.

    Returns:
        A list of the calibrated `(width, {stage: ratio})` configurations.

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
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"`num_images` must be a positive integer, got {num_images!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    configs = _resolve_configs(model, widths, stage_ratios, allow_untrained)
    state = model.width_state
    slots = _assign_slots(model, configs, clear)

    stats_fn = _statistics_function(model)
    sums = [{} for _ in configs]  # per config: layer -> (count, mean, m2) in float64
    batches = list(_batches(data, num_images, batch_size))
    if not batches:
        raise ValueError("calibrate_bn got no images from `data`.")
    seen = sum(len(b) for b in batches)
    progress = keras.utils.Progbar(len(batches) * len(configs), verbose=verbose, unit_name="pass")
    with state.preserved():
        for images in batches:
            for i, (w, ratios) in enumerate(configs):
                state.assign(w, ratios)
                layers, outputs = stats_fn(images)
                for layer, (mean, var, count) in zip(layers, outputs):
                    _merge(sums[i], layer, mean.numpy(), var.numpy(), float(count.numpy()))
                progress.add(1)

    for layer in model.bn_layers:
        mean_table = layer.slot_mean.numpy()
        var_table = layer.slot_variance.numpy()
        for i, slot in enumerate(slots):
            count, mean, m2 = sums[i][layer]
            active = mean.shape[0]
            mean_table[slot, :active] = mean
            var_table[slot, :active] = m2 / count
        layer.slot_mean.assign(mean_table)
        layer.slot_variance.assign(var_table)
    keys = state.slot_keys.numpy()
    valid = state.slot_valid.numpy()
    for (w, ratios), slot in zip(configs, slots):
        keys[slot] = state.key_of(w, ratios)
        valid[slot] = 1.0
    state.slot_keys.assign(keys)
    state.slot_valid.assign(valid)
    if verbose:
        print(f"Calibrated BN at {len(configs)} width(s) on {seen} images.")
    return [(w, {k + 1: r for k, r in enumerate(ratios) if r != 1.0}) for w, ratios in configs]


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
            width, ratios = entry, stage_ratios
        w, r = model.config_of(width, ratios, allow_untrained)
        if (w, r) not in configs:
            configs.append((w, r))
    return configs


def _assign_slots(model, configs, clear):
    """Slot index for each config; raises when there are not enough slots."""
    state = model.width_state
    if model.has_switchable_bn:
        return [model.width_spec.switch_index(w) for w, _ in configs]
    if clear:
        state.slot_valid.assign(np.zeros(state.num_slots))
    valid = state.slot_valid.numpy() > 0.5
    slots, free = [], [i for i in range(state.num_slots) if not valid[i]]
    for w, ratios in configs:
        slot = state.find_slot(w, ratios)
        if slot is None:
            if not free:
                have = ", ".join(_describe_config(c) for c in state.calibrated_configs())
                raise ValueError(
                    f"No free BN slot for width {_describe_config((w, ratios))}: the model holds "
                    f"statistics for at most {state.num_slots} widths (now: {have}). Pass "
                    "clear=True to drop them, or build the model with a larger num_bn_slots."
                )
            slot = free.pop(0)
        slots.append(slot)
    return slots


def _statistics_function(model):
    """A tf.function returning (BN layers, their batch (mean, var, count)) for a batch.

    Made once per model and kept on it: tracing took most of a one-width calibration.
    """
    cached = getattr(model, "_calibration_statistics_fn", None)
    if cached is not None:
        return cached
    state = model.width_state
    layers = []
    input_spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), model.inputs[0].dtype)

    @tf.function(input_signature=[input_spec])
    def stats(images):
        with state.statistics_pass() as outputs:
            model(images, training=False)
        layers[:] = [entry[0] for entry in outputs]
        return [entry[1:] for entry in outputs]

    def run(images):
        outputs = stats(images)
        return layers, outputs

    model._calibration_statistics_fn = run
    return run


def _batches(data, num_images, batch_size):
    """Yields numpy batches of at most `batch_size`, `num_images` images in all."""
    if isinstance(data, tf.data.Dataset):
        source = data.as_numpy_iterator()
    else:
        array = np.asarray(data)
        if array.ndim < 2:
            raise ValueError(f"calibrate_bn: `data` must be images, got an array of shape {array.shape}.")
        source = iter([array])
    remaining = num_images
    pending = []
    for element in source:
        images = element[0] if isinstance(element, (tuple, list)) else element
        images = np.asarray(images)
        if images.ndim == 3:  # unbatched dataset element
            images = images[np.newaxis]
        pending.append(images[:remaining])
        remaining -= len(pending[-1])
        while sum(len(p) for p in pending) >= batch_size:
            joined = np.concatenate(pending)
            yield joined[:batch_size]
            pending = [joined[batch_size:]] if len(joined) > batch_size else []
        if remaining <= 0:
            break
    if pending and sum(len(p) for p in pending):
        yield np.concatenate(pending)


def _merge(sums, layer, mean, var, count):
    """Chan's parallel update of (count, mean, M2) with one batch's statistics."""
    mean = mean.astype(np.float64)
    m2 = var.astype(np.float64) * count
    if layer not in sums:
        sums[layer] = (count, mean, m2)
        return
    n, old_mean, old_m2 = sums[layer]
    total = n + count
    delta = mean - old_mean
    sums[layer] = (total, old_mean + delta * count / total, old_m2 + m2 + delta**2 * n * count / total)
