"""Training input pipelines: shuffled in-memory batches and their per-replica split.

The datasets themselves (Fashion-MNIST, tfds pipelines) live in `slimkeras.datasets`.
"""

import tensorflow as tf


def in_memory_train(images, labels, batch_size, seed, preprocess, augment=None, start_batch=0):
    """Repeated, shuffled training batches of in-memory arrays.

    The order of pass e over the arrays is a stateless permutation seeded by
    (seed, e), and the augmentation of the image at position p of the stream is
    drawn from the stateless seed (seed, p), so every iterator of this pipeline, in
    any graph (a distributed input function too), yields the same batches:
    distributed and single-device runs see the same data, and a run resumed after
    `start_batch` batches sees what the uninterrupted one would have.

    Args:
        images, labels: the arrays.
        batch_size: images per batch (the last partial batch of the stream never comes).
        seed: the run's seed.
        preprocess: image -> model input (deterministic).
        augment: None, or `(image, seed [2]) -> image`, applied after `preprocess`.
        start_batch: batches of the stream to skip (computed, not iterated).
    """
    images, labels = tf.constant(images), tf.constant(labels)
    count = int(images.shape[0])
    start = start_batch * batch_size

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(count), tf.stack([tf.cast(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order)

    ds = tf.data.Dataset.range(start // count, 2**62).flat_map(epoch).skip(start % count)
    ds = tf.data.Dataset.zip(tf.data.Dataset.range(start, 2**62), ds)
    run_seed = tf.constant(seed, tf.int64)

    def example(position, i):
        image = preprocess(tf.gather(images, i))
        if augment is not None:
            image = augment(image, tf.stack([run_seed, position]))
        return image, tf.gather(labels, i)

    ds = ds.map(example, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


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
