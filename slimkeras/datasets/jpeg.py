"""The ImageNet recipe on encoded JPEGs: decode only the crop, deterministic, resumable.

tfds hands over the JPEG bytes (`tfds.decode.SkipDecoding`). A training image is
decoded only inside its Inception crop box (`tf.image.decode_and_crop_jpeg` on a
box drawn by `stateless_sample_distorted_bounding_box` from the header's shape,
`tf.image.extract_jpeg_shape`); an evaluation image only inside its central
square of 0.875 of the shorter side, then resized to `image_size` (the official
"resize 256, centre-crop 224" as TF's reference models compute it: crop, then
resize). Files are read in parallel and everything random (file order, shuffle
buffer, crop, flip, colour and lighting noise) follows from the seed and the
image's position in the stream, so the stream is the same every run and a
resumed run starts at any batch (`start_batch`) by skipping encoded records,
never decoding them.
"""

import tensorflow as tf

from slimkeras.datasets.common import IMAGENET_MEAN, IMAGENET_STD

CROP_SCALE = (0.25, 1.0)  # the mobile recipe's Inception crop area range
CROP_RATIO = (3 / 4, 4 / 3)
EVAL_FRACTION = 0.875  # 224 of 256
_EIGVAL = [0.2175, 0.0188, 0.0045]
_EIGVEC = [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]


def is_jpeg_dataset(info):
    """Whether a tfds dataset stores its images as JPEG (the fast path applies)."""
    image = info.features["image"]
    return getattr(image, "encoding_format", None) == "jpeg"


def train_image(encoded, seed, size):
    """JPEG bytes -> a normalized, augmented float32 `size` x `size` x 3 training image.

    Args:
        encoded: scalar string tensor, the JPEG file.
        seed: int64 [2] stateless seed of this image.
        size: output height and width.
    """
    seeds = tf.random.experimental.stateless_split(seed, 6)
    shape = tf.image.extract_jpeg_shape(encoded)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, tf.zeros([1, 0, 4], tf.float32), seed=seeds[0], area_range=CROP_SCALE,
        aspect_ratio_range=CROP_RATIO, min_object_covered=0.0, max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    window = tf.stack([begin[0], begin[1], crop_size[0], crop_size[1]])
    image = tf.io.decode_and_crop_jpeg(encoded, window, channels=3)
    image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), [size, size], method="bilinear")
    image = tf.image.stateless_random_flip_left_right(image, seeds[1])
    image = tf.image.stateless_random_brightness(image, 0.4, seeds[2])
    image = tf.image.stateless_random_contrast(image, 0.6, 1.4, seeds[3])
    image = tf.clip_by_value(tf.image.stateless_random_saturation(image, 0.6, 1.4, seeds[4]), 0.0, 1.0)
    alpha = tf.random.stateless_normal([3], seeds[5], stddev=0.1)
    image += tf.reshape(tf.linalg.matvec(tf.constant(_EIGVEC), alpha * tf.constant(_EIGVAL)), [1, 1, 3])
    return (image - IMAGENET_MEAN) / IMAGENET_STD


def eval_image(encoded, size):
    """JPEG bytes -> the normalized float32 centre crop (0.875 of the shorter side) at `size`."""
    shape = tf.image.extract_jpeg_shape(encoded)
    height, width = shape[0], shape[1]
    side = tf.cast(EVAL_FRACTION * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    window = tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])
    image = tf.io.decode_and_crop_jpeg(encoded, window, channels=3)
    image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), [size, size], method="bilinear")
    return (image - IMAGENET_MEAN) / IMAGENET_STD


def jpeg_pipeline(builder, split, batch_size, training, seed=0, image_size=224, start_batch=0,
                  shuffle_buffer=10000):
    """Batches `(images float32 NHWC, labels int32)` of a prepared tfds JPEG dataset.

    Args:
        builder: the tfds builder (prepared).
        split: the split name.
        batch_size: images per batch (training drops the last partial batch).
        training: augmented, shuffled, repeated forever; otherwise in file order, once.
        seed: seeds the file order, the shuffle buffer and every augmentation.
        image_size: output height and width.
        start_batch: (training) the first batch to yield: the stream of a run that
            had consumed `start_batch` batches continues exactly where it stopped.
        shuffle_buffer: encoded records in the shuffle buffer (training).
    """
    from slimkeras.datasets.common import import_tfds

    tfds = import_tfds()

    read_config = tfds.ReadConfig(shuffle_seed=seed, num_parallel_calls_for_interleave_files=tf.data.AUTOTUNE,
                                  shuffle_reshuffle_each_iteration=True)
    ds = builder.as_dataset(split=split, shuffle_files=training, read_config=read_config,
                            decoders={"image": tfds.decode.SkipDecoding()}, as_supervised=True)
    if not training:
        ds = ds.map(lambda x, y: (eval_image(x, image_size), tf.cast(y, tf.int32)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.enumerate().skip(start_batch * batch_size)
    run_seed = tf.constant(seed, tf.int64)

    def decode(position, example):
        encoded, label = example
        return train_image(encoded, tf.stack([run_seed, position]), image_size), tf.cast(label, tf.int32)

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
