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
import zlib

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
    """Reads a (gzipped) IDX file of unsigned bytes into a numpy array.

    Raises:
        DataError: one line naming `path` and what is wrong with it: unreadable, a
            damaged or truncated gzip stream, not an IDX file of bytes, or a size that
            does not match its header.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path} is missing.") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError; a cut file: EOFError
        raise DataError(f"{path} cannot be read ({e or type(e).__name__}): the file is damaged or truncated; "
                        "get it again.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (its first bytes are {data[:4].hex() or 'none'}, "
                        "not 000008..).")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path} has a broken IDX header ({ndim} dimensions, {len(data)} bytes).")
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    values, expected = len(data) - header, int(np.prod(dims, dtype=np.int64))
    if values != expected:
        what = "truncated" if values < expected else "longer than its header says"
        raise DataError(f"{path} is {what}: {values} values for shape {dims}.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def keras_cache_dirs():
    """Keras' download cache folders of Fashion-MNIST: `$KERAS_HOME`'s, then `~/.keras`'s."""
    homes = [os.environ.get("KERAS_HOME"), os.path.join(os.path.expanduser("~"), ".keras")]
    return [os.path.join(h, "datasets", "fashion-mnist") for h in dict.fromkeys(h for h in homes if h)]


def find_dir(split, data_dir=None, download=False):
    """The folder holding `split`'s IDX files (see the module docstring for the order).

    Raises:
        DataError: nowhere, listing every place looked at and how to get the files; or
            `data_dir` holds one file of the pair but not the other, naming the missing one.
    """
    candidates = [data_dir] if data_dir else [DEFAULT_DIR] + keras_cache_dirs()
    for directory in candidates:
        present = [os.path.exists(os.path.join(directory, f)) for f in FILES[split]]
        if all(present):
            return directory
        if data_dir and any(present):
            missing = os.path.join(directory, FILES[split][present.index(False)])
            raise DataError(f"{missing} is missing: Fashion-MNIST's {split} split needs both "
                            f"{' and '.join(FILES[split])} in {directory}.")
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


def load_data(data_dir=None, download=False):
    """Fashion-MNIST as `keras.datasets.fashion_mnist.load_data()` gives it, from the IDX files:
    `((x_train, y_train), (x_test, y_test))`, images uint8 [N, 28, 28, 1] (with the channel
    axis the models take), labels int32 [N].

    Args:
        data_dir: a folder holding the IDX files (None: Debian's folder, then Keras' cache).
        download: fetch the files into Keras' cache when they are nowhere.

    Raises:
        DataError: as `load_split`.
    """
    if data_dir in FILES:
        raise TypeError(f"load_data() returns both splits, as keras.datasets does; "
                        f"for the {data_dir!r} split alone call load_split({data_dir!r}, ...).")
    return load_split("train", data_dir, download), load_split("test", data_dir, download)


def load_split(split, data_dir=None, download=False):
    """(images uint8 [N, 28, 28, 1], labels int32 [N]) of Fashion-MNIST's `split` ("train" | "test").

    Args:
        split: "train" or "test".
        data_dir: a folder holding the IDX files (None: Debian's folder, then Keras' cache).
        download: fetch the files into Keras' cache when they are nowhere.

    Raises:
        DataError: one line naming the file and what is wrong: missing (either file of the
            pair), unreadable, not IDX, truncated, images that are not 28x28, labels that are
            not 0..9, or counts that differ.
    """
    if split not in FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'test', not {split!r}.")
    directory = find_dir(split, data_dir, download)
    image_file, label_file = (os.path.join(directory, f) for f in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.shape[1:] != INPUT_SHAPE[:2]:
        raise DataError(f"{image_file} holds images of shape {'x'.join(map(str, images.shape[1:]))}; "
                        f"Fashion-MNIST's are {INPUT_SHAPE[0]}x{INPUT_SHAPE[1]}.")
    if labels.ndim != 1 or (labels.size and labels.max() >= len(LABELS)):
        raise DataError(f"{label_file} is not a list of labels 0..{len(LABELS) - 1} "
                        f"(shape {labels.shape}, largest {labels.max() if labels.size else None}).")
    if len(images) != len(labels):
        raise DataError(f"{image_file} has {len(images)} images but {label_file} {len(labels)} labels.")
    return images[..., np.newaxis], labels.astype(np.int32)


def normalize(images):
    """uint8 images -> the float32 model input."""
    return (tf.cast(images, tf.float32) / 255.0 - MEAN) / STD


def preprocessing():
    """The manifest's preprocessing record of Fashion-MNIST models."""
    return preprocessing_info(INPUT_SHAPE, [MEAN], [STD])
