"""Fashion-MNIST from its IDX files (Debian's `dataset-fashion-mnist` by default)."""

import gzip
import os
import struct

import numpy as np
import tensorflow as tf

from slimkeras.datasets.common import DataError, preprocessing_info

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
MEAN, STD = 0.2860, 0.3530
INPUT_SHAPE = (28, 28, 1)


def read_idx(path):
    """Reads a (gzipped) IDX file into a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"Cannot read IDX file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: {array.size} values for shape {dims}.")
    return array.reshape(dims)


def load_data(split, data_dir=None):
    """(images uint8 [N, 28, 28, 1], labels int32 [N]) of Fashion-MNIST's `split` ("train" | "test")."""
    directory = data_dir or DEFAULT_DIR
    if split not in FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'test', not {split!r}.")
    image_file, label_file = (os.path.join(directory, f) for f in FILES[split])
    if not os.path.exists(image_file):
        raise DataError(
            f"Fashion-MNIST not found: {image_file} is missing. Install Debian's package "
            "(`apt-get install -y dataset-fashion-mnist`) or pass --data_dir=DIR holding "
            "the four IDX .gz files."
        )
    images, labels = read_idx(image_file), read_idx(label_file)
    if len(images) != len(labels):
        raise DataError(f"{image_file} has {len(images)} images but {label_file} {len(labels)} labels.")
    return images[..., np.newaxis], labels.astype(np.int32)


def normalize(images):
    """uint8 images -> the float32 model input."""
    return (tf.cast(images, tf.float32) / 255.0 - MEAN) / STD


def preprocessing():
    """The manifest's preprocessing record of Fashion-MNIST models."""
    return preprocessing_info(INPUT_SHAPE, [MEAN], [STD])
