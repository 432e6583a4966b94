"""Input pipelines: the offline Fashion-MNIST default (Debian's IDX files) and tfds datasets.

Every pipeline yields `(images float32 NHWC, labels int32)`, normalized as the
model expects; training pipelines repeat forever (one `fit` call covers every
epoch: per-epoch `fit` calls stalled 30-40 s each on tf.data's autotune thread).
"""

import gzip
import os
import struct

import numpy as np
import tensorflow as tf

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


class DataError(ValueError):
    """The data a run asked for is missing or malformed; the message says how to get it."""


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


def load_fashion_mnist(split, data_dir=None):
    """(images uint8 [N, 28, 28, 1], labels int32 [N]) of Fashion-MNIST's `split` ("train" | "test")."""
    directory = data_dir or FASHION_MNIST_DIR
    if split not in FASHION_MNIST_FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'test', not {split!r}.")
    image_file, label_file = (os.path.join(directory, f) for f in FASHION_MNIST_FILES[split])
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


def normalize_fashion(images):
    return (tf.cast(images, tf.float32) / 255.0 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD


def augment_small(images, pad=2):
    """Random horizontal flip and a random shift of up to `pad` pixels (28/32 px datasets)."""
    shape = tf.shape(images)
    images = tf.image.random_flip_left_right(images)
    padded = tf.pad(images, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    return tf.image.random_crop(padded, shape)


def in_memory_train(images, labels, batch_size, seed, preprocess):
    """Repeated, shuffled training batches of in-memory arrays.

    The order of epoch e is a stateless permutation seeded by (seed, e), so every
    iterator of this pipeline, in any graph (a distributed input function too),
    yields the same batches: distributed and single-device runs see the same data.
    """
    images, labels = tf.constant(images), tf.constant(labels)
    count = int(images.shape[0])

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(count), tf.stack([tf.cast(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order)

    ds = tf.data.Dataset.range(2**62).flat_map(epoch)
    ds = ds.map(lambda i: (preprocess(tf.gather(images, i)), tf.gather(labels, i)),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _finish(ds, batch_size, training, seed, size, preprocess):
    if training:
        ds = ds.shuffle(min(size, 60000), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.map(lambda x, y: (preprocess(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


# -- ImageNet-style pipelines (the papers' recipe) -------------------------------------------
def random_resized_crop(image, size, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3)):
    """Inception-style random crop resized to `size` (the mobile recipe uses scale 0.25-1)."""
    begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), tf.zeros([0, 0, 4], tf.float32), area_range=scale,
        aspect_ratio_range=ratio, min_object_covered=0.0, max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    return tf.image.resize(crop, [size, size], method="bilinear")


def color_jitter(image, strength=0.4):
    """Brightness, contrast and saturation jitter of `strength` (image in [0, 1])."""
    image = tf.image.random_brightness(image, strength)
    image = tf.image.random_contrast(image, 1 - strength, 1 + strength)
    image = tf.image.random_saturation(image, 1 - strength, 1 + strength)
    return tf.clip_by_value(image, 0.0, 1.0)


# Plain lists: a module-level tf.constant would start TF before a strategy can configure it.
_EIGVAL = [0.2175, 0.0188, 0.0045]
_EIGVEC = [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]


def lighting(image, alphastd=0.1):
    """AlexNet-style PCA lighting noise."""
    alpha = tf.random.normal([3], stddev=alphastd)
    return image + tf.reshape(tf.linalg.matvec(tf.constant(_EIGVEC), alpha * tf.constant(_EIGVAL)), [1, 1, 3])


def imagenet_preprocess(image, training, size=224):
    """uint8 HxWx3 -> normalized float32 size x size x 3 (train: the papers' augmentation)."""
    image = tf.image.convert_image_dtype(image, tf.float32)
    if training:
        image = random_resized_crop(image, size)
        image = tf.image.random_flip_left_right(image)
        image = lighting(color_jitter(image), 0.1)
    else:
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = (size / 0.875) / tf.reduce_min(shape)
        image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
        image = tf.image.resize_with_crop_or_pad(image, size, size)
    return (image - IMAGENET_MEAN) / IMAGENET_STD


def small_preprocess(image, training, mean, std):
    image = (tf.cast(image, tf.float32) / 255.0 - mean) / std
    return augment_small(image) if training else image


def tfds_pipeline(name, split, batch_size, training, data_dir=None, download=False, seed=0,
                  image_size=224):
    """A tfds dataset through the right preprocessing; fails fast (download=False) with a hint."""
    import tensorflow_datasets as tfds

    try:
        ds, info = tfds.load(name, split=split, data_dir=data_dir, download=download,
                             as_supervised=True, with_info=True, shuffle_files=training)
    except Exception as e:  # tfds raises several types for "not prepared"
        raise DataError(
            f"tfds dataset {name!r} (split {split!r}) is not available in "
            f"data_dir={data_dir or '~/tensorflow_datasets'}: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}. Prepare it there first (e.g. "
            f"`tfds build {name} --data_dir=DIR`, ImageNet needs its archives placed in "
            "DIR/downloads/manual) or pass --download to let tfds fetch it."
        ) from None
    shape = info.features["image"].shape
    return preprocess_dataset(ds, batch_size, training, seed, info.splits[split].num_examples,
                              image_shape=shape, image_size=image_size)


def preprocess_dataset(ds, batch_size, training, seed, size, image_shape, image_size=224):
    """Applies the preprocessing that fits the images: ImageNet recipe or small-image one."""
    if image_shape[0] is None or image_shape[0] >= 64:
        return _finish(ds, batch_size, training, seed, size,
                       lambda x: imagenet_preprocess(x, training, image_size))
    mean, std = tfds_normalization(image_shape)
    return _finish(ds, batch_size, training, seed, size, lambda x: small_preprocess(x, training, mean, std))


def per_replica(global_batches, input_context, global_batch_size):
    """The per-replica batches of one input pipeline, so that replica r of pipeline p sees
    rows [(p*R + r)*b, (p*R + r + 1)*b) of each global batch (b = global / replicas).

    A distributed run then consumes exactly the global batches a single-device run does.
    """
    replicas = input_context.num_replicas_in_sync
    pipelines = input_context.num_input_pipelines
    local = replicas // pipelines
    b = global_batch_size // replicas
    p = input_context.input_pipeline_id

    def split(x, y):
        def part(t):
            t = tf.reshape(t, tf.concat([[replicas, b], tf.shape(t)[1:]], 0))
            return t[p * local:(p + 1) * local]

        return part(x), part(y)

    ds = global_batches.map(split).unbatch()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)
