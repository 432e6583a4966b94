"""What every dataset shares: the error type and how the manifest records preprocessing."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DataError(ValueError):
    """The data asked for is missing or malformed; the message says how to get it."""


def import_tfds():
    """tensorflow_datasets, or a DataError saying how to install it (an optional extra)."""
    try:
        import tensorflow_datasets
    except ImportError:
        raise DataError("datasets other than Fashion-MNIST are read through tensorflow-datasets: "
                        "pip install 'slimkeras[tfds]'") from None
    return tensorflow_datasets


def preprocessing_info(input_shape, mean, std):
    """How a raw 8-bit image becomes model input: `(x / scale - mean[c]) / std[c]` (manifest schema)."""
    height, width, channels = (int(d) for d in input_shape)
    return {"height": height, "width": width, "channels": channels, "scale": 255.0,
            "mean": [float(m) for m in mean], "std": [float(s) for s in std], "layout": "NHWC"}


def tfds_normalization(input_shape):
    """(mean, std) per channel that `preprocess_dataset` applies to images of this shape."""
    channels = input_shape[-1]
    if input_shape[0] >= 64:
        return IMAGENET_MEAN, IMAGENET_STD
    return (0.5,) * channels, (0.25,) * channels


def sample_indices(total, count, seed):
    """`count` indices (or all, if fewer) of `total` items: the first `count` of a seeded
    permutation, or with `seed=None` the first `count` items. The one sampler of
    calibration and representative images: the same seed picks the same images everywhere."""
    import numpy as np

    count = total if not count else min(count, total)
    if seed is None:
        return np.arange(count)
    return np.random.default_rng(seed).permutation(total)[:count]
