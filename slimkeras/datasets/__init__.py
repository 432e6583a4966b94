"""The datasets of slimkeras' tools, as `keras.datasets` is to Keras.

- `fashion_mnist`: the offline default (Debian's IDX files): `load_data()` (both splits, as
  `keras.datasets`), `load_split(split)`.
- `tfds_pipeline`: any prepared tfds dataset through the papers' ImageNet recipe
  or the small-image one.
- `load_images`: a split as numpy arrays (test, calibration, representative images).
- `metadata`: the class labels and preprocessing record a manifest stores.

Every loader raises `DataError` with how to get missing data.
"""

from slimkeras.datasets import fashion_mnist
from slimkeras.datasets.arrays import load_images, metadata
from slimkeras.datasets.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataError,
    preprocessing_info,
    sample_indices,
    tfds_normalization,
)
from slimkeras.datasets.pipelines import augment_small, finish, preprocess_dataset, tfds_pipeline
