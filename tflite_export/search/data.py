"""The images of a search: BN calibration, held-out validation (end of the training split), test."""

import dataclasses

import numpy as np

from tflite_export.errors import SearchError


@dataclasses.dataclass
class SearchData:
    """Float32 images as the model expects them, and int64 labels.

    Args:
        calib: calibration images (a seeded sample of the training split before `calib_pool`).
        val: `(images, labels)`: the training split from `calib_pool` on (held out).
        test: `(images, labels)`: the first test images.
        calib_pool: how many training images come before the validation ones.
    """

    calib: np.ndarray
    val: tuple
    test: tuple
    calib_pool: int


def load_data(params, input_shape):
    """The images of a search on Fashion-MNIST.

    Args:
        params: `SearchParams` (val_images, calib_images, final_calib_images, test_images,
            data_dir, seed).
        input_shape: the model's input shape (without the batch axis).

    Returns:
        `SearchData`.

    Raises:
        SearchError: another input shape, missing data, or too few training images.
    """
    from slimkeras.datasets import DataError, fashion_mnist, sample_indices

    if tuple(input_shape) != fashion_mnist.INPUT_SHAPE:
        raise SearchError(f"the model's input is {tuple(input_shape)}; the search reads Fashion-MNIST "
                          f"{fashion_mnist.INPUT_SHAPE} only.")
    try:
        train_x, train_y = fashion_mnist.load_split("train", params.data_dir)
        test_x, test_y = fashion_mnist.load_split("test", params.data_dir)
    except DataError as e:
        raise SearchError(str(e)) from None
    pool = len(train_x) - params.val_images
    need = max(params.calib_images, params.final_calib_images)
    if pool < need:
        raise SearchError(f"--val_images={params.val_images} leaves {pool} training images for BN calibration; "
                          f"--calib_images/--final_calib_images need {need}.")
    # Sorted indices read the file in order; the shuffle after it mixes classes within BN batches.
    calib = fashion_mnist.normalize(train_x[np.sort(sample_indices(pool, need, params.seed))]).numpy()
    calib = calib[sample_indices(len(calib), len(calib), params.seed + 1)]
    val = (fashion_mnist.normalize(train_x[pool:]).numpy(), train_y[pool:].astype(np.int64))
    limit = params.test_images or len(test_x)
    test = (fashion_mnist.normalize(test_x[:limit]).numpy(), test_y[:limit].astype(np.int64))
    return SearchData(calib, val, test, pool)
