"""Fashion-MNIST from its IDX files, wherever a user has them.

Looked up in order: `data_dir` when given (then only there); Debian's
`dataset-fashion-mnist` folder; Keras' download cache (`$KERAS_HOME` or
`~/.keras`, `datasets/fashion-mnist`: what `keras.datasets.fashion_mnist`
downloads). With `download=True`, missing files are fetched by
`keras.datasets.fashion_mnist` into that cache.
"""

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


def keras_cache_dirs():
    """Keras' download cache folders of Fashion-MNIST: `$KERAS_HOME`'s, then `~/.keras`'s."""
    homes = [os.environ.get("KERAS_HOME"), os.path.join(os.path.expanduser("~"), ".keras")]
    return [os.path.join(h, "datasets", "fashion-mnist") for h in dict.fromkeys(h for h in homes if h)]


def find_dir(split, data_dir=None, download=False):
    """The folder holding `split`'s IDX files (see the module docstring for the order).

    Raises:
        DataError: nowhere, listing every place looked at and how to get the files.
    """
    candidates = [data_dir] if data_dir else [DEFAULT_DIR] + keras_cache_dirs()
    for directory in candidates:
        if all(os.path.exists(os.path.join(directory, f)) for f in FILES[split]):
            return directory
    if download:
        import keras

        keras.datasets.fashion_mnist.load_data()  # into Keras' cache
        for directory in keras_cache_dirs():
            if all(os.path.exists(os.path.join(directory, f)) for f in FILES[split]):
                return directory
    looked = ", ".join(candidates)
    raise DataError(
        f"Fashion-MNIST not found: no {FILES[split][0]} in {looked}. Get it one of these ways: "
        "install Debian's package (`apt-get install -y dataset-fashion-mnist`); pass "
        "--data_dir=DIR holding the four IDX .gz files; copy them into Keras' cache "
        f"({keras_cache_dirs()[0]}, where `keras.datasets.fashion_mnist.load_data()` puts them); "
        "or pass --download to fetch them there."
    )


def load_data(split, data_dir=None, download=False):
    """(images uint8 [N, 28, 28, 1], labels int32 [N]) of Fashion-MNIST's `split` ("train" | "test").

    Args:
        split: "train" or "test".
        data_dir: a folder holding the IDX files (None: Debian's folder, then Keras' cache).
        download: fetch the files into Keras' cache when they are nowhere.
    """
    if split not in FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'test', not {split!r}.")
    directory = find_dir(split, data_dir, download)
    image_file, label_file = (os.path.join(directory, f) for f in FILES[split])
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
