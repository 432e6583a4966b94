"""Top-1 accuracy of a slimmable model at many width configurations."""

import numpy as np
import tensorflow as tf


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
