"""tf.data pipelines of image datasets: the papers' ImageNet recipe and a small-image one, over tfds.

Every pipeline yields `(images float32 NHWC, labels int32)`, normalized as the
model expects; training pipelines repeat forever (one `fit` call covers every
epoch: per-epoch `fit` calls stalled 30-40 s each on tf.data's autotune thread).
"""

import tensorflow as tf

from slimkeras.datasets.common import IMAGENET_MEAN, IMAGENET_STD, DataError, tfds_normalization


def augment_small(images, pad=2, seed=None):
    """Random horizontal flip and a random shift of up to `pad` pixels (28/32 px datasets).

    Args:
        images: one HxWxC image.
        pad: the largest shift in pixels.
        seed: an int [2] tensor: stateless draws, a function of the seed (deterministic
            under parallel maps); None: TF's stateful random ops.
    """
    shape = tf.shape(images)
    if seed is None:
        images = tf.image.random_flip_left_right(images)
        padded = tf.pad(images, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        return tf.image.random_crop(padded, shape)
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    images = tf.image.stateless_random_flip_left_right(images, flip_seed)
    padded = tf.pad(images, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    return tf.image.stateless_random_crop(padded, shape, crop_seed)


def finish(ds, batch_size, training, seed, size, preprocess):
    """Shuffled and repeated (training), preprocessed, batched and prefetched."""
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
                  image_size=224, start_batch=0):
    """A tfds dataset through the right preprocessing; fails fast (download=False) with a hint.

    Datasets of JPEG images take the fast path of `slimkeras.datasets.jpeg` (decode
    only the crop; deterministic, and `start_batch` skips encoded records); others
    are decoded by tfds, and `start_batch` skips whole batches.
    """
    from slimkeras.datasets import jpeg
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if download:
            builder.download_and_prepare()
        info = builder.info
        height = info.features["image"].shape[0]
        if (height is None or height >= 64) and jpeg.is_jpeg_dataset(info):
            return jpeg.jpeg_pipeline(builder, split, batch_size, training, seed, image_size, start_batch)
        ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=training)
    except Exception as e:  # tfds raises several types for "not prepared"
        raise DataError(
            f"tfds dataset {name!r} (split {split!r}) is not available in "
            f"data_dir={data_dir or '~/tensorflow_datasets'}: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}. Prepare it there first (e.g. "
            f"`tfds build {name} --data_dir=DIR`, ImageNet needs its archives placed in "
            "DIR/downloads/manual) or pass --download to let tfds fetch it."
        ) from None
    shape = info.features["image"].shape
    ds = preprocess_dataset(ds, batch_size, training, seed, info.splits[split].num_examples,
                            image_shape=shape, image_size=image_size)
    return ds.skip(start_batch) if start_batch else ds


def preprocess_dataset(ds, batch_size, training, seed, size, image_shape, image_size=224):
    """Applies the preprocessing that fits the images: ImageNet recipe or small-image one."""
    if image_shape[0] is None or image_shape[0] >= 64:
        return finish(ds, batch_size, training, seed, size,
                       lambda x: imagenet_preprocess(x, training, image_size))
    mean, std = tfds_normalization(image_shape)
    return finish(ds, batch_size, training, seed, size, lambda x: small_preprocess(x, training, mean, std))
