"""Fashion-MNIST for the tests that train or evaluate on it: the folder the library finds, or a skip."""

from pathlib import Path

import pytest

from slimkeras.datasets import DataError
from slimkeras.datasets.fashion_mnist import find_dir


def fashion_dir(split="train"):
    """The folder holding `split`'s IDX files where `slimkeras.datasets` looks, or None."""
    try:
        return Path(find_dir(split))
    except DataError:
        return None


needs_fashion = pytest.mark.skipif(
    fashion_dir("train") is None or fashion_dir("test") is None,
    reason="needs Fashion-MNIST (apt-get install -y dataset-fashion-mnist)",
)
