"""Whole splits as numpy arrays: test images, calibration and representative images."""

import numpy as np

from slimkeras.datasets import fashion_mnist
from slimkeras.datasets.common import DataError, preprocessing_info, sample_indices, tfds_normalization
from slimkeras.datasets.pipelines import tfds_pipeline


def load_images(dataset, split, input_shape, data_dir=None, limit=None, seed=None):
    """(float32 images preprocessed as in training, int32 labels) of a split.

    Args:
        dataset: "fashion_mnist" (Debian's IDX files or `data_dir`) or a tfds name
            (prepared in `data_dir`; never downloaded here).
        split: "train" or "test" ("test" means "validation" for ImageNet).
        input_shape: the model's (H, W, C), to pick the tfds preprocessing.
        limit: at most this many images (None: all).
        seed: if given, a seeded random subset of `limit` images (calibration or
            representative data); otherwise the first `limit` (test data).

    Raises:
        DataError: the data is missing, with how to get it.
    """
    if dataset == "fashion_mnist":
        images, labels = fashion_mnist.load_split(split, data_dir)
        order = sample_indices(len(images), limit, seed)
        return fashion_mnist.normalize(images[order]).numpy(), labels[order]
    if split == "test" and dataset.startswith("imagenet"):
        split = "validation"
    pipeline = tfds_pipeline(dataset, split, 256, False, data_dir=data_dir, image_size=input_shape[0])
    if seed is not None:
        pipeline = pipeline.unbatch().shuffle(10 * (limit or 1000), seed=seed).batch(256)
    images, labels = [], []
    for x, y in pipeline:
        images.append(x.numpy())
        labels.append(y.numpy())
        if limit and sum(len(b) for b in images) >= limit:
            break
    images, labels = np.concatenate(images)[:limit], np.concatenate(labels)[:limit]
    return images.astype(np.float32), labels.astype(np.int32)


def metadata(dataset, input_shape, data_dir=None):
    """(class labels, preprocessing dict) of a dataset, as the manifest records them."""
    if dataset == "fashion_mnist":
        return list(fashion_mnist.LABELS), fashion_mnist.preprocessing()
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    try:
        info = tfds.builder(dataset, data_dir=data_dir).info
    except Exception as e:  # an unknown name or unprepared data
        raise DataError(f"tfds dataset {dataset!r}: {type(e).__name__}: {e}") from None
    labels = list(info.features["label"].names)
    return labels, preprocessing_info(input_shape, *tfds_normalization(input_shape))
