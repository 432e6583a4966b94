"""Top-1 accuracy of a slimmable model at many width configurations."""

import numpy as np
import tensorflow as tf

from slimkeras.calibration import CALIBRATION_IMAGES
from slimkeras.width import WidthConfig


def evaluate_top1(model, data, configs, batch_size=512, allow_untrained=False):
    """Top-1 accuracy at each configuration, through the width-specialised graphs.

    Args:
        model: a `SlimmableModel` (BN statistics calibrated where it needs them).
        data: `(images, labels)` numpy arrays, or a `tf.data.Dataset` of
            `(images, labels)` batches.
        configs: widths, or `(width, stage_ratios)` pairs.
        batch_size: batch size for array data.
        allow_untrained: as `SlimmableModel.set_width`.

    Returns:
        A list of accuracies in [0, 1], one per configuration.

    Example:

    ```python
    top1 = slimkeras.evaluate_top1(model, (x_test, y_test), [0.25, 0.5, 1.0])
    ```
    """
    batches = _batches(data, batch_size)
    results = []
    for config in configs:
        width, ratios = config if isinstance(config, tuple) else (config, None)
        forward = model.inference_function(width, ratios, allow_untrained=allow_untrained)
        correct = total = 0
        for images, labels in batches():
            predicted = np.argmax(forward(images).numpy(), axis=-1)
            correct += int(np.sum(predicted == np.asarray(labels).reshape(-1)))
            total += len(predicted)
        results.append(correct / total)
    return results


def _batches(data, batch_size):
    if isinstance(data, tf.data.Dataset):
        return lambda: ((x, y.numpy()) for x, y in data)
    images, labels = data
    return lambda: ((tf.constant(images[i:i + batch_size]), labels[i:i + batch_size])
                    for i in range(0, len(images), batch_size))


def calibrated_top1(model, data, widths, calibration_data=None, calibration_images=CALIBRATION_IMAGES,
                    allow_untrained=False, verbose=0, batch_size=512):
    """Top-1 at each width after calibrating BN where the model needs it, as many widths at a
    time as the model has BN slots (`evaluate_widths` without the MACs).

    Args: as `evaluate_widths`.

    Returns:
        A list of accuracies in [0, 1], one per width; with a dict of splits,
        `{name: list}`.
    """
    from slimkeras.calibration import calibrate_bn

    widths = list(widths)
    splits = data if isinstance(data, dict) else {None: data}
    calibrate = calibration_data is not None and not model.has_switchable_bn
    chunk = model.num_bn_slots if calibrate else max(len(widths), 1)
    accuracies = {name: [] for name in splits}
    for start in range(0, len(widths), chunk):
        part = widths[start:start + chunk]
        if calibrate:
            calibrate_bn(model, calibration_data, widths=part, num_images=calibration_images,
                         allow_untrained=allow_untrained, clear=True, verbose=verbose)
        for name, split in splits.items():
            accuracies[name] += evaluate_top1(model, split, part, batch_size, allow_untrained=allow_untrained)
    return accuracies if isinstance(data, dict) else accuracies[None]


def evaluate_widths(model, data, widths, calibration_data=None, calibration_images=CALIBRATION_IMAGES,
                    allow_untrained=False, verbose=0, batch_size=512):
    """Calibrates (where the model's BN needs it), evaluates and profiles each width: the spectrum.

    Args:
        model: a `SlimmableModel`.
        data: `(images, labels)` arrays or a dataset of `(images, labels)` batches; or a
            dict `{name: data}` to evaluate several splits after one calibration.
        widths: the widths (numbers, `(width, stage_ratios)` pairs or `WidthConfig`s).
        calibration_data: training images for `slimkeras.calibrate_bn`; given, every
            earlier calibration is dropped and `widths` calibrated afresh (universal and
            shared BN; switchable BN keeps its trained statistics), as many at a time as
            the model has BN slots. None: use the statistics the model has.
        calibration_images: images calibrated on.
        allow_untrained: as `SlimmableModel.set_width`.
        verbose: 1 shows calibration's progress bar.
        batch_size: images per forward pass for array data.

    Returns:
        A list of dicts, one per width: `width`, `macs`, `params`, `top1` (in [0, 1];
        with a dict of splits, `{name}_top1` for each) and, for a nonuniform width,
        `stage_ratios`; ready for `slimkeras.plots.spectrum_figure`.

    Example:

    ```python
    rows = slimkeras.evaluate_widths(model, (x_test, y_test), [0.25, 0.5, 1.0], calibration_data=x_train)
    [round(r["top1"], 3) for r in rows]
    ```
    """
    widths = list(widths)
    accuracies = calibrated_top1(model, data, widths, calibration_data, calibration_images, allow_untrained,
                                 verbose, batch_size)
    columns = {f"{name}_top1": values for name, values in accuracies.items()} if isinstance(data, dict) else {
        "top1": accuracies}
    return [_row(model, config, {key: values[i] for key, values in columns.items()}, allow_untrained)
            for i, config in enumerate(widths)]


def _row(model, config, top1, allow_untrained):
    """The row of one width: its MACs and active parameters beside its `top1` columns."""
    from slimkeras.profiling import profile

    config = WidthConfig.parse(config)
    cost = profile(model, config, allow_untrained=allow_untrained)
    row = {"width": config.width, "macs": int(cost["macs"]), "params": int(cost["params"]), **top1}
    return row if config.is_uniform else {**row, "stage_ratios": config.stage_ratios}
