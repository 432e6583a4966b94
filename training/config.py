"""Flags of `python -m training.main` and their validation (before any work starts)."""

import dataclasses
import os
import re

from absl import flags

from slimkeras import WidthSpec
from slimkeras.models import BUILDERS
from slimkeras.cli import COUNT_MAX, WIDTH, Number, check_numbers, number_list
from slimkeras.training import rules, schedules

STRATEGIES = ("default", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
BN_OF_MODE = {"individual": "switchable", "naive": "shared", "slimmable": "switchable",
              "universal": "universal"}
FLAGFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flags")
FLAGFILE_DIRECTIVES = ("--flagfile", "-flagfile")


EPOCHS_MAX = 10_000
COUNT = Number(1, COUNT_MAX, integer=True)
EPOCHS = Number(0, EPOCHS_MAX)
# Every numeric flag's allowed values (finite, in range, below a sane upper bound); checked
# first by `validate`, the flags' relations after.
BOUNDS = {
    "num_sample_training": Number(2, 64, integer=True),
    "label_smoothing": Number(0, 1),
    "num_bn_slots": Number(1, 4096, integer=True),
    "lr": Number(0, 100, lo_open=True),
    "lr_gamma": Number(0, 1, lo_open=True),
    "warmup_epochs": EPOCHS,
    "momentum": Number(0, 1),
    "weight_decay": Number(0, 1),
    "epochs": Number(1, EPOCHS_MAX, integer=True),
    "batch_size": Number(1, 2**20, integer=True),
    "steps_per_epoch": COUNT,
    "train_limit": COUNT,
    "eval_limit": COUNT,
    "cpu_replicas": Number(0, 256, integer=True),
    "seed": Number(0, 2**32 - 1, integer=True),
    "image_size": Number(8, 4096, integer=True),
    "calibration_images": Number(0, COUNT_MAX, integer=True),
    "verbose": Number(0, 2, integer=True),
    "distill_weight": Number(0, 1),
    "distill_warmup_epochs": EPOCHS,
    "distill_ramp_epochs": EPOCHS,
    "distill_temperature": Number(0, 100, lo_open=True),
    "distill_temperature_ramp": Number(0, 1),
    "distill_gate": Number(0, 1),
    "checkpoint_every_steps": Number(0, COUNT_MAX, integer=True),
    "eval_every_epochs": Number(0, EPOCHS_MAX, integer=True),
    "curve_images": COUNT,
}


class ConfigError(ValueError):
    """Unknown or inconsistent flags."""


class HelpRequested(Exception):
    """--help: the exception's text is the flags' help."""


def define_flags(fv):
    d = flags
    d.DEFINE_enum("mode", "universal", rules.MODES, "Training mode.", flag_values=fv)
    d.DEFINE_enum("arch", "mobilenet_v1", sorted(BUILDERS), "Architecture.", flag_values=fv)
    d.DEFINE_list("width_mult_list", None, "Switch widths (individual: one; naive/slimmable).", flag_values=fv)
    d.DEFINE_list("width_mult_range", None, "lo,hi width range (universal).", flag_values=fv)
    d.DEFINE_integer("num_sample_training", 4, "n of the sandwich rule (universal).", flag_values=fv)
    d.DEFINE_boolean("inplace_distill", False, "Narrower widths learn from the widest's predictions.", flag_values=fv)
    define_distill_flags(fv)
    d.DEFINE_boolean("output_averaging", False, "Scale outputs by max/active input channels.", flag_values=fv)
    d.DEFINE_float("label_smoothing", 0.0, "Label smoothing of the label loss.", flag_values=fv)
    d.DEFINE_integer("num_bn_slots", None, "BN statistics capacity (default: switches, or 32).", flag_values=fv)
    d.DEFINE_float("lr", 0.1, "Base learning rate (for the global batch).", flag_values=fv)
    d.DEFINE_enum("lr_schedule", "linear", schedules.SCHEDULES, "Learning-rate schedule.", flag_values=fv)
    d.DEFINE_float("lr_gamma", 0.98, "exp: per-epoch factor; multistep: factor per milestone.", flag_values=fv)
    d.DEFINE_list("lr_milestones", [], "multistep: epochs where the rate drops.", flag_values=fv)
    d.DEFINE_float("warmup_epochs", 0.0, "Linear warm-up length in epochs.", flag_values=fv)
    d.DEFINE_float("momentum", 0.9, "SGD momentum.", flag_values=fv)
    d.DEFINE_boolean("nesterov", True, "Nesterov momentum.", flag_values=fv)
    d.DEFINE_float("weight_decay", 1e-4, "L2 on conv (not depthwise) and dense kernels.", flag_values=fv)
    d.DEFINE_integer("epochs", 10, "Training epochs.", flag_values=fv)
    d.DEFINE_integer("batch_size", 256, "Global batch size.", flag_values=fv)
    d.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the data).", flag_values=fv)
    d.DEFINE_integer("train_limit", None, "Use only the first N training images (quick runs).", flag_values=fv)
    d.DEFINE_integer("eval_limit", None, "Evaluate only the first N test images (quick runs).", flag_values=fv)
    d.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy.", flag_values=fv)
    d.DEFINE_integer("cpu_replicas", 0, "Split the CPU into N logical devices (mirrored on CPU, tests).", flag_values=fv)
    d.DEFINE_boolean("sync_bn", False, "Batch statistics over the global batch under tf.distribute.", flag_values=fv)
    d.DEFINE_string("model_dir", None, "Where checkpoints, logs, results and final.keras go.", flag_values=fv)
    d.DEFINE_integer("seed", 0, "Random seed.", flag_values=fv)
    d.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist (offline IDX files) or a tfds name.", flag_values=fv)
    d.DEFINE_string("data_dir", None, "Fashion-MNIST IDX folder, or the tfds data_dir.", flag_values=fv)
    d.DEFINE_boolean("download", False, "Let tfds download the dataset.", flag_values=fv)
    d.DEFINE_boolean("augment", True, "Random training augmentation (flips, shifts, crops).", flag_values=fv)
    d.DEFINE_integer("image_size", 224, "Input size for ImageNet-style datasets.", flag_values=fv)
    d.DEFINE_integer("calibration_images", 2048, "Images for post-training BN calibration.", flag_values=fv)
    d.DEFINE_boolean("calibrate_switchable", False, "Also recalibrate switchable BN after training.", flag_values=fv)
    d.DEFINE_list("eval_widths", None, "Widths to evaluate (default: switches, or lo..hi by 0.1).", flag_values=fv)
    d.DEFINE_boolean("export", False, "Export per-width TFLite models after training.", flag_values=fv)
    d.DEFINE_list("export_quantize", ["fp32", "int8"], "Precisions for --export.", flag_values=fv)
    d.DEFINE_integer("verbose", 1, "Keras progress output (0, 1, 2).", flag_values=fv)
    define_scale_flags(fv)


def define_distill_flags(fv):
    """How the narrower widths learn under --inplace_distill (`rules.DistillRule`; ignored without it)."""
    d = flags
    d.DEFINE_float("distill_weight", 1.0, "Share of the soft-target loss in a narrower width's loss, "
                   "the rest on the labels (1: soft targets only, the paper).", flag_values=fv)
    d.DEFINE_float("distill_warmup_epochs", 0.0, "Labels only for this many epochs.", flag_values=fv)
    d.DEFINE_float("distill_ramp_epochs", 0.0, "Then raise the soft share linearly from 0 to "
                   "--distill_weight over this many epochs.", flag_values=fv)
    d.DEFINE_float("distill_temperature", 1.0, "Softmax temperature of teacher and student (loss times T^2).",
                   flag_values=fv)
    d.DEFINE_float("distill_temperature_ramp", 0.0, "Raise the temperature linearly from 1 to "
                   "--distill_temperature over this share of the run, in [0, 1] (it scales with --epochs "
                   "like the learning-rate schedule; 0: that temperature from the start).", flag_values=fv)
    d.DEFINE_float("distill_gate", 0.0, "Distil an image only where the widest width gives its label at "
                   "least this probability (0: every image).", flag_values=fv)


def distill_rule(c):
    """The `rules.DistillRule` of the --distill_* flags of the `RunConfig` `c`."""
    return rules.DistillRule(weight=c.distill_weight, warmup_epochs=c.distill_warmup_epochs,
                             ramp_epochs=c.distill_ramp_epochs, temperature=c.distill_temperature,
                             temperature_ramp_epochs=c.distill_temperature_ramp * c.epochs,
                             gate=c.distill_gate)


def define_scale_flags(fv):
    """Flags of long (ImageNet-scale) runs: precision, XLA, mid-epoch checkpoints, per-width curves."""
    d = flags
    d.DEFINE_enum("mixed_precision", "float32", PRECISIONS,
                  "Compute dtype policy of training (variables, BN and the loss stay float32; "
                  "mixed_float16 scales the loss). Calibration and export are float32.", flag_values=fv)
    d.DEFINE_boolean("jit_compile", False, "Compile the train step with XLA (universal: needs --static_widths).",
                     flag_values=fv)
    d.DEFINE_boolean("static_widths", False,
                     "Draw the step's widths on the host and run each width through a function traced for its "
                     "channel counts (static shapes; the same widths as the in-graph draw).", flag_values=fv)
    d.DEFINE_integer("checkpoint_every_steps", 0,
                     "Also checkpoint every N steps inside an epoch (0: at epoch ends only).", flag_values=fv)
    d.DEFINE_integer("eval_every_epochs", 1,
                     "Evaluate a few widths every N epochs (per-width curves; 0: never).", flag_values=fv)
    d.DEFINE_integer("curve_images", None,
                     "Images of the evaluation split for the per-width curves (default: all).",
                     flag_values=fv)


def _run_config_type():
    """`RunConfig`: a frozen dataclass with one typed field per flag of `define_flags` (and `bn`,
    the BN of the mode), so a flag added there is a field here, written once."""
    fv = flags.FlagValues()
    define_flags(fv)
    kinds = {flags.IntegerParser: int, flags.FloatParser: float, flags.BooleanParser: bool,
             flags.ListParser: list, flags.EnumParser: str, flags.ArgumentParser: str}
    fields = [(name, kinds.get(type(fv[name].parser), object) | None) for name in fv]
    return dataclasses.make_dataclass(
        "RunConfig", fields + [("bn", str)], frozen=True,
        namespace={"__doc__": "The validated settings of one `python -m training.main` run, one field per flag.",
                   "__module__": __name__})


def parse(argv):
    """Parses `argv` (argv[0] is the program) into a validated `RunConfig`."""
    fv = flags.FlagValues()
    define_flags(fv)
    if any(a in ("-h", "--help", "--helpfull") for a in argv[1:]):
        raise HelpRequested(fv.get_help())
    argv = argv[:1] + expand_flagfiles(argv[1:])
    try:
        fv(argv)
    except flags.Error as e:
        raise ConfigError(_with_bounds(str(e))) from None
    config = {name: fv[name].value for name in fv}
    return validate(config)


def _with_bounds(message):
    """absl's message of a value it could not parse (`flag --epochs=1.5: ...`), with what is allowed."""
    match = re.match(r"flag --(\w+)=", message)
    if match and match.group(1) in BOUNDS:
        return f"{message.rstrip('.')}; allowed: {BOUNDS[match.group(1)].allowed()}."
    return message


def shipped_flagfiles(directory=FLAGFILE_DIR):
    """The names (without `.flags`) of the flagfiles in `directory`, sorted."""
    return sorted(n.removesuffix(".flags") for n in os.listdir(directory) if n.endswith(".flags"))


def find_flagfile(value, directory=FLAGFILE_DIR):
    """The file that a `--flagfile` value names.

    Args:
      value: an existing file's path (`~` expanded), or the name of a flagfile in
        `directory`, with or without `.flags`. An existing path wins over a name.
      directory: where the shipped flagfiles lie.

    Returns:
      The path of the file.

    Raises:
      ConfigError: `value` is neither, naming the shipped flagfiles.
    """
    path = os.path.expanduser(value)
    if os.path.isfile(path):
        return path
    name = value.removesuffix(".flags")
    shipped = shipped_flagfiles(directory)
    if name in shipped:
        return os.path.join(directory, f"{name}.flags")
    raise ConfigError(f"--flagfile={value} is neither a file nor a shipped flagfile; "
                      f"shipped: {', '.join(shipped)}.")


def expand_flagfiles(args, directory=FLAGFILE_DIR, including=()):
    """`args` with each `--flagfile` directive replaced by the flags of its file.

    Each file is found by `find_flagfile`, so a bare name works from any folder; a
    flagfile may include others the same way. Otherwise absl's rules: `--flagfile=F`,
    `--flagfile F` or one dash; in a file, blank lines and lines starting with `#`
    or `//` are skipped; nothing after `--` is read.

    Args:
      args: the command-line arguments, without the program name.
      directory: where the shipped flagfiles lie.
      including: the real paths of the flagfiles being read (to stop at a cycle).

    Returns:
      The arguments, with no flagfile directive left.

    Raises:
      ConfigError: an unknown flagfile, a directive without a file, or a cycle.
    """
    expanded, rest = [], list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            return expanded + [arg] + rest
        if arg in FLAGFILE_DIRECTIVES:
            if not rest:
                raise ConfigError(f"{arg} needs a flagfile name or path.")
            value = rest.pop(0)
        elif arg.startswith(tuple(f"{d}=" for d in FLAGFILE_DIRECTIVES)):
            value = arg.split("=", 1)[1].strip()
        else:
            expanded.append(arg)
            continue
        path = os.path.realpath(find_flagfile(value, directory))
        if path in including:
            raise ConfigError(f"--flagfile={value} includes itself: {' -> '.join(including + (path,))}.")
        expanded += expand_flagfiles(_flagfile_lines(path), directory, including + (path,))
    return expanded


def _flagfile_lines(path):
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError as e:
        raise ConfigError(f"--flagfile={path} cannot be read ({e.strerror}).") from None
    return [line.strip() for line in lines
            if not line.isspace() and not line.startswith(("#", "//"))]


def validate(c):
    """Checks the settings `c` (flag name -> value), as parsed; returns them as a `RunConfig`.

    Every number is checked against `BOUNDS`, width lists by the library's `WidthSpec`
    (its ValueError becomes a ConfigError), then the flags' relations. Nothing is
    created or written: a refused run leaves no trace.

    Raises:
        ConfigError: the first problem, as one line naming the flag, the value and what is allowed.
    """
    try:
        check_numbers(c, BOUNDS)
        _validate(c)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    config = RunConfig(**c)
    try:
        distill_rule(config)
    except ValueError as e:
        raise ConfigError(f"--distill_{e}") from None
    return config


def _width_spec(c):
    """The library's `WidthSpec` of the width flags (it refuses reversed, equal or duplicate widths)."""
    if c["mode"] == "universal":
        return WidthSpec(width_range=c["width_mult_range"])
    return WidthSpec(switches=c["width_mult_list"])


def _validate(c):
    mode = c["mode"]
    if mode == "universal":
        if c["width_mult_list"]:
            raise ConfigError("--mode=universal trains a width range: give --width_mult_range=lo,hi, "
                              "not --width_mult_list.")
        if not c["width_mult_range"] or len(c["width_mult_range"]) != 2:
            raise ConfigError("--mode=universal needs --width_mult_range=lo,hi (e.g. 0.25,1.0).")
        c["width_mult_range"] = number_list("width_mult_range", c["width_mult_range"], WIDTH)
    else:
        if c["width_mult_range"]:
            raise ConfigError(f"--mode={mode} trains switches: give --width_mult_list, not --width_mult_range "
                              "(a range needs --mode=universal).")
        if not c["width_mult_list"]:
            raise ConfigError(f"--mode={mode} needs --width_mult_list.")
        c["width_mult_list"] = number_list("width_mult_list", c["width_mult_list"], WIDTH)
        if mode == "individual" and len(c["width_mult_list"]) != 1:
            raise ConfigError(f"--mode=individual trains one width, got --width_mult_list={c['width_mult_list']}.")
    try:
        spec = _width_spec(c)
    except ValueError as e:
        raise ConfigError(f"--width_mult_{'range' if mode == 'universal' else 'list'}: {e}") from None
    if c["jit_compile"] and mode == "universal" and not c["static_widths"]:
        raise ConfigError("--jit_compile needs static shapes, and the sandwich rule's in-graph widths are "
                          "dynamic: add --static_widths.")
    if not c["model_dir"]:
        raise ConfigError("--model_dir is required.")
    if os.path.exists(c["model_dir"]) and not os.path.isdir(c["model_dir"]):
        raise ConfigError(f"--model_dir={c['model_dir']} exists and is not a directory.")
    c["lr_milestones"] = number_list("lr_milestones", c["lr_milestones"],
                                     Number(1, c["epochs"], integer=True))
    c["bn"] = BN_OF_MODE[mode]
    if c["eval_widths"]:
        c["eval_widths"] = number_list("eval_widths", c["eval_widths"], WIDTH)
        try:
            for w in c["eval_widths"]:
                spec.validate(w, allow_untrained=c["bn"] != "switchable")
        except ValueError as e:
            raise ConfigError(f"--eval_widths: {e}") from None


RunConfig = _run_config_type()
