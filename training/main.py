"""Train a slimmable network: `python -m training.main --flagfile=NAME` (or `slimkeras-train`).

NAME is a flagfile shipped with the package (`us_mbv1_fashion`, ...; found from any
folder) or the path of one.

Builds the input pipelines (failing fast on missing data), the model of the
chosen mode, trains with the custom multi-width step under the chosen
tf.distribute strategy (resuming from model_dir's checkpoint after a crash),
then calibrates BN, evaluates every width, and writes results.json, a
FLOPs-accuracy plot and final.keras into model_dir.
"""

import dataclasses
import os
import sys
import tempfile
import time


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: its INFO and WARNING lines
    from slimkeras.datasets import DataError  # first: slimkeras quiets TensorFlow's start-up
    from training import config as config_lib

    argv = list(sys.argv if argv is None else argv)
    try:
        cfg = config_lib.parse(argv)
    except config_lib.HelpRequested as e:
        print("usage: python -m training.main --flagfile=NAME|PATH [--flag=value ...]  (or slimkeras-train)\n"
              f"shipped flagfiles (NAME): {', '.join(config_lib.shipped_flagfiles())}\n\n{e}")
        return 0
    except config_lib.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return run(cfg)
    except (DataError, config_lib.ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def make_strategy(cfg):
    import tensorflow as tf

    from training.config import ConfigError

    if cfg.cpu_replicas > 1:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * cfg.cpu_replicas
            )
        except RuntimeError:  # TF already initialized (e.g. in a test process): use what exists
            pass
        if len(tf.config.list_logical_devices("CPU")) < cfg.cpu_replicas:
            raise ConfigError(f"--cpu_replicas={cfg.cpu_replicas}: TF was initialized with fewer CPU devices.")
    if cfg.strategy == "mirrored":
        if cfg.cpu_replicas > 1:
            return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cfg.cpu_replicas)])
        return tf.distribute.MirroredStrategy()
    if cfg.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def run(cfg):
    from slimkeras.callbacks import float32_copy
    from training.callbacks import AtomicCheckpoint, LossScaleReport, NanGuard

    strategy = make_strategy(cfg)  # first: devices and collectives are configured at TF start-up
    datasets, steps, net, trainer = _build(cfg, strategy)
    is_chief = _is_chief(strategy)
    if is_chief:
        os.makedirs(cfg.model_dir, exist_ok=True)
    nan_guard = NanGuard()
    checkpoint = AtomicCheckpoint(os.path.join(cfg.model_dir, "checkpoint"), nan_guard, is_chief,
                                  cfg.checkpoint_every_steps, steps)
    initial_epoch, initial_step = _restore(cfg, checkpoint, trainer)
    mixed = cfg.mixed_precision != "float32"
    twin = float32_copy(net) if mixed or (is_chief and cfg.eval_every_epochs) else None
    # The checkpoint last: the epoch's log row and curve point exist before it declares the epoch done.
    callbacks = [nan_guard] + ([LossScaleReport()] if trainer.loss_scaled else [])
    if is_chief:
        callbacks += _logging_callbacks(cfg, net, twin, datasets)
    callbacks.append(checkpoint)
    start = time.time()
    _fit_rest(trainer, cfg, strategy, datasets, steps, initial_epoch, initial_step, callbacks, checkpoint)
    train_time = time.time() - start
    if nan_guard.triggered_at:
        _report_nan(nan_guard, checkpoint)
        return 3
    if mixed:  # calibration, evaluation and export in float32 whatever the training policy
        twin.set_weights(net.get_weights())
    _finish(cfg, twin if mixed else net, datasets, train_time, is_chief)
    if cfg.strategy == "multi_worker":
        _barrier(strategy)
    return 0


def _build(cfg, strategy):
    """(datasets, steps per epoch, net, trainer) of the run; the trainer and its optimizer built."""
    import keras
    import numpy as np

    from training.build import build_datasets, build_net, build_trainer
    from training.config import ConfigError

    keras.utils.set_random_seed(cfg.seed)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise ConfigError(f"--batch_size={cfg.batch_size} is not divisible by the {replicas} replicas.")
    datasets = build_datasets(cfg)  # fails fast on missing data
    steps = cfg.steps_per_epoch or datasets.train_size // cfg.batch_size
    if steps < 1:
        raise ConfigError(f"--batch_size={cfg.batch_size} exceeds the {datasets.train_size} training images.")
    with strategy.scope():
        net = build_net(cfg, datasets.input_shape, datasets.num_classes)
        trainer = build_trainer(cfg, net, steps)
        # Build before fit (reference §3), on zeros: an extra iterator would use up a reshuffle.
        trainer(np.zeros((1,) + tuple(datasets.input_shape), "float32"), training=True)
        trainer.optimizer.build(trainer.trainable_variables)
    return datasets, steps, net, trainer


def _restore(cfg, checkpoint, trainer):
    """(epoch, step) to resume from, after loading the last checkpoint into `trainer` (and saying so)."""
    initial_epoch, initial_step = checkpoint.restore(trainer)
    if initial_step:
        print(f"Resuming from the checkpoint at step {initial_step} of epoch {initial_epoch + 1} "
              f"in {cfg.model_dir}.")
    elif initial_epoch:
        print(f"Resuming from the checkpoint of epoch {initial_epoch} in {cfg.model_dir}.")
    return initial_epoch, initial_step


def _report_nan(nan_guard, checkpoint):
    epoch, batch, name = nan_guard.triggered_at
    latest = checkpoint.latest()
    kept = f"the checkpoint of epoch {latest[0]} is kept in {checkpoint.directory}" if latest else "no checkpoint was saved yet"
    print(f"error: {name} became NaN at epoch {epoch}, step {batch}; training stopped and {kept}. "
          "Lower --lr or add --warmup_epochs.", file=sys.stderr)


def _finish(cfg, final_net, datasets, train_time, is_chief):
    """Calibrates, evaluates and writes the run's files (chief); the other workers run the same
    end of run (it has collectives) into a scratch folder."""
    from training.curves import write_spectrum
    from training.results import finish_run

    if not is_chief:
        with tempfile.TemporaryDirectory() as scratch:
            finish_run(dataclasses.replace(cfg, model_dir=scratch), final_net, datasets, train_time)
        return
    rows = finish_run(cfg, final_net, datasets, train_time)
    write_spectrum(os.path.join(cfg.model_dir, "tensorboard", "validation"), rows,
                   os.path.join(cfg.model_dir, "flops_accuracy.png"), cfg.epochs)


def _logging_callbacks(cfg, net, twin, datasets):
    """The chief's records: TensorBoard, per-width curves and `training_log.csv`, in that
    order (the curves' `val_top1_w*` logs reach the CSV, not Keras' TensorBoard twice)."""
    from slimkeras.calibration import CALIBRATION_IMAGES
    from slimkeras.callbacks import WidthEvaluation
    from training import curves
    from training.callbacks import FlushingTensorBoard, TrainingLog

    log_dir = os.path.join(cfg.model_dir, "tensorboard")
    width_curves = None
    if cfg.eval_every_epochs:
        calibration = None if cfg.bn == "switchable" else datasets.calibration
        width_curves = WidthEvaluation(
            curves.limit_batches(datasets.test, cfg.curve_images), None, calibration,
            cfg.eval_every_epochs, min(cfg.calibration_images, CALIBRATION_IMAGES),
            log_dir=os.path.join(log_dir, "validation"), copy=twin, verbose=1)
    return [FlushingTensorBoard(log_dir, update_freq="epoch")] + (
        [width_curves] if width_curves else []) + [
        TrainingLog(os.path.join(cfg.model_dir, "training_log.csv"), width_curves and width_curves.columns),
    ]


def _fit_rest(trainer, cfg, strategy, datasets, steps, epoch, step, callbacks, checkpoint):
    """Trains the epochs left from (epoch, step): the rest of a resumed epoch first, as a
    fit of its own, then the whole epochs; each fit reads the data stream from the batch
    the uninterrupted run would be at."""
    from training import data as data_lib

    def train_from(start_batch):
        if strategy.num_replicas_in_sync == 1:
            return datasets.train_from(start_batch)
        return strategy.distribute_datasets_from_function(
            lambda ctx: data_lib.per_replica(datasets.train_from(start_batch), ctx, cfg.batch_size))

    fit = dict(callbacks=callbacks, verbose=cfg.verbose)
    if step and epoch < cfg.epochs:
        checkpoint.step_offset = step
        trainer.fit(train_from(epoch * steps + step), epochs=epoch + 1, steps_per_epoch=steps - step,
                    initial_epoch=epoch, **fit)
        epoch += 1
    if epoch < cfg.epochs and not trainer.stop_training:
        trainer.fit(train_from(epoch * steps), epochs=cfg.epochs, steps_per_epoch=steps,
                    initial_epoch=epoch, **fit)


def _barrier(strategy):
    """Returns once every worker got here (an all-reduce), so that none exits while another
    still runs: the coordination service takes a worker that is gone for a failed one."""
    import tensorflow as tf

    tf.function(lambda: strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None))()


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


if __name__ == "__main__":
    sys.exit(main())
