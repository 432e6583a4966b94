"""A local tfds dataset of ImageNet-sized JPEGs (the JPEG pipeline's benchmark and tests).

`prepare(data_dir, train_images)` writes `slimkeras_fake_jpegs` (10 classes,
`train` and `validation` splits, about 500x375 px JPEGs, quality 90, smooth random
content so a file is ~30-60 KB like a photo rather than incompressible noise) into
`data_dir` once and returns its tfds name; `training.main --dataset=slimkeras_fake_jpegs
--data_dir=DIR` then reads it (tfds finds a prepared dataset in data_dir without this
module's builder class).
"""

import io
import os

import numpy as np

NAME = "slimkeras_fake_jpegs"
NUM_CLASSES = 10
SIZES = ((375, 500), (500, 375), (333, 500), (400, 400))  # (height, width), ImageNet-like


def _image(rng):
    """JPEG bytes of a smooth random RGB image: a coarse random grid upsampled, plus mild noise."""
    from PIL import Image

    height, width = SIZES[rng.integers(len(SIZES))]
    coarse = rng.integers(0, 256, (height // 40 + 2, width // 40 + 2, 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR), np.int16)
    image = np.clip(image + rng.integers(-8, 9, image.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    buffer.seek(0)
    return buffer


def _builder_class():
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    class SlimkerasFakeJpegs(tfds.core.GeneratorBasedBuilder):
        """Random ImageNet-sized JPEGs in 10 classes."""

        VERSION = tfds.core.Version("1.0.0")

        def __init__(self, *, train_images=64, **kwargs):
            self.train_images = train_images
            super().__init__(**kwargs)

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                }),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(self.train_images, 0),
                    "validation": self._generate_examples(max(16, self.train_images // 4), 1)}

        def _generate_examples(self, count, seed):
            rng = np.random.default_rng(seed)
            for i in range(count):
                yield i, {"image": _image(rng), "label": int(rng.integers(NUM_CLASSES))}

    return SlimkerasFakeJpegs


_CLASS = None


def prepare(data_dir, train_images=64):
    """Writes the dataset into `data_dir` unless it is there; returns its tfds name."""
    global _CLASS
    if os.path.exists(os.path.join(data_dir, NAME, "1.0.0", "dataset_info.json")):
        return NAME
    if _CLASS is None:  # one class per process: tfds registers builders by name
        _CLASS = _builder_class()
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    tfds.disable_progress_bar()
    _CLASS(data_dir=data_dir, train_images=train_images).download_and_prepare()
    return NAME
