"""Hostile flags (issue 29, points 1 and 2): every numeric flag of every command goes through
`slimkeras.cli.Number`, and a seeded fuzz of every command's flags ends in exit 0 or exactly
one `error:` line with exit 2: never a traceback, never a file written on error.

The commands run in-process and stop before any work: training at its validation
(`training.config.parse`, what `training.main` calls before it creates anything),
the studies at `parse_args`, the others on inputs that do not exist (so a value that
passes the flags' check is refused by the next check, still writing nothing).
"""

import os
import random

import pytest
from absl import flags as absl_flags

from slimkeras.cli import Number
from training import config

SEED = 29
CASES = 40  # per command
NOT_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e400", "-1", "garbage", "0x1g", "--"]
MAYBE_NUMBERS = ["0", "", "1", "2", "0.5", "1e3", "3.5", "64", "10000"]
LISTS = ["1.0,0.25", "0.5,0.5", "0,1", "nan,1", "0.25,inf", "1.0,nan", "", ",", "a,b", "0.25,0.5,0.5",
         "0.25,1.0", "-1,1", "1e308,1", "0.25,1.0,0.5", "1,2,3"]
MODES = ["universal", "slimmable", "naive", "individual"]
LIST_FLAGS = {"bench": ["--threads"], "export": ["--widths", "--threads"], "claims": ["--seeds"], "budget": ["--seeds", "--budgets"],
              "import": ["--width_mult_list"], "switch": [], "search": []}  # comma lists of numbers


def _run_main(main, argv):
    """The exit code of `main(argv)` (its return value, or SystemExit's code)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def _train(argv, tmp_path):
    """training.main's validation: 0, or 2 with its one `error:` line (as main prints it)."""
    import sys

    try:
        config.parse(["prog", "--flagfile=us_mbv1_fashion", f"--model_dir={tmp_path / 'run'}",
                      f"--data_dir={tmp_path / 'no_data'}"] + argv)
    except config.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _parsers():
    """{command: (its argparse parser, a run of argv in the folder `tmp`)}."""
    from slimkeras.official import cli as official_cli
    from tflite_export import bench, export
    from tflite_export.switch import cli as switch
    from tflite_export.search import cli as search_cli
    from studies.budget import cli as budget_cli
    from studies.claims import cli as claims_cli

    return {
        "switch": (switch.build_parser(), lambda a, t: _run_main(switch.main, [str(t / "none"), "--budget_ms=1"] + a)),
        "bench": (bench.build_parser(), lambda a, t: _run_main(bench.main, [str(t / "none")] + a)),
        "export": (export._parser(), lambda a, t: _run_main(
            export.main, [f"--model={t / 'none.keras'}", f"--out={t / 'export'}"] + a)),
        "search": (search_cli.build_parser(), lambda a, t: _run_main(
            search_cli.main, [f"--model={t / 'none.keras'}", f"--out={t / 'search'}", "--target_ms=1"] + a)),
        "claims": (claims_cli.build_parser(), lambda a, t: _run_main(
            lambda argv: claims_cli.parse_args(argv) and 0, [f"--out={t / 'claims'}"] + a)),
        "budget": (budget_cli.build_parser(), lambda a, t: _run_main(
            lambda argv: budget_cli.parse_args(argv) and 0, [f"--out={t / 'budget'}"] + a)),
        "import": (official_cli.build_parser(), lambda a, t: _run_main(
            official_cli.main, [str(t / "none.pt"), "--arch=us_mobilenet_v1", f"--out={t / 'm.keras'}"] + a)),
    }


def _checked_type(action_type):
    """The `Number` behind an argparse `type=` (also inside `slimkeras.cli.optional`), or None."""
    if isinstance(action_type, Number):
        return action_type
    for cell in getattr(action_type, "__closure__", None) or ():
        if isinstance(cell.cell_contents, Number):
            return cell.cell_contents
    return None


def _number_flags(parser):
    """The `--name`s of `parser`'s flags whose values are numbers checked by `Number`."""
    return [a.option_strings[0] for a in parser._actions if _checked_type(a.type) is not None]


def _unchecked_number_flags(parser):
    """The `--name`s of flags parsed by a bare `int` or `float` (no finiteness or range check)."""
    return [a.option_strings[0] for a in parser._actions if a.type in (int, float)]


def _train_number_flags():
    fv = absl_flags.FlagValues()
    config.define_flags(fv)
    return [name for name in fv if isinstance(fv[name].parser, (absl_flags.IntegerParser, absl_flags.FloatParser))]


def test_every_numeric_training_flag_is_bounded():
    assert sorted(_train_number_flags()) == sorted(config.BOUNDS)


@pytest.mark.parametrize("command", ["switch", "bench", "search", "claims", "budget", "import", "export"])
def test_every_numeric_flag_goes_through_the_shared_check(command):
    parser, _ = _parsers()[command]
    assert _unchecked_number_flags(parser) == []


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, dirs, fs in os.walk(root) for f in fs + dirs)


def _check_outcome(code, err, flag, value):
    """Exit 0, or exit 2 with exactly one `error:` line; never a traceback."""
    assert "Traceback" not in err
    assert code in (0, 2), (flag, value, code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (flag, value, err)


def _train_case(rng):
    """(argv, the flag that must be named in the error or None) of one random training case:
    a mode, then one to three fuzzed flags (the one flag of a one-flag case with a value that
    is never a number must be named)."""
    mode = rng.choice(MODES)
    argv = [f"--mode={mode}"] + ([] if mode == "universal" else ["--width_mult_range=", "--width_mult_list=0.5"])
    numbers = _train_number_flags()
    fuzzed = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            name, value = rng.choice(["width_mult_range", "width_mult_list", "lr_milestones", "eval_widths"]), \
                rng.choice(LISTS)
        else:
            name, value = rng.choice(numbers), rng.choice(NOT_NUMBERS + MAYBE_NUMBERS)
        fuzzed.append((name, value))
    named = fuzzed[0][0] if len(fuzzed) == 1 and fuzzed[0][1] in NOT_NUMBERS else None
    return argv + [f"--{name}={value}" for name, value in fuzzed], named


def test_fuzz_training_flags(tmp_path, capsys):
    rng = random.Random(SEED)
    for _ in range(CASES * 5):  # validation only: fast
        argv, bad = _train_case(rng)
        code = _train(argv, tmp_path)
        err = capsys.readouterr().err
        _check_outcome(code, err, argv, "")
        if bad:
            assert code == 2 and f"--{bad}" in err, (argv, err)
        assert _files(tmp_path) == [], argv  # validation creates no model dir


@pytest.mark.parametrize("command", ["switch", "bench", "export", "search", "claims", "budget", "import"])
def test_fuzz_command_flags(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser, run = _parsers()[command]
    checked = _number_flags(parser)
    fuzzed = checked + _unchecked_number_flags(parser) + LIST_FLAGS[command]
    rng = random.Random(f"{SEED}-{command}")
    for _ in range(CASES):
        flag = rng.choice(fuzzed)
        value = rng.choice(NOT_NUMBERS + MAYBE_NUMBERS + (LISTS if flag in LIST_FLAGS[command] else []))
        code = run([f"{flag}={value}"], tmp_path)
        err = capsys.readouterr().err
        _check_outcome(code, err, flag, value)
        if flag in checked and value in NOT_NUMBERS:
            assert code == 2 and flag in err and repr(value) in err, (flag, value, err)
        assert _files(tmp_path) == [], (flag, value)


@pytest.mark.parametrize("flag, value", [
    ("--width_mult_range", v) for v in ["1.0,0.25", "0,1", "0.5,0.5", "nan,1", "0.25,inf", "0.25,0.5,0.5", "1e308,1"]
] + [("--width_mult_list", v) for v in ["1.0,nan", "0.5,0.5", "0,1", "-0.5,1", "x"]])
def test_library_width_errors_become_one_line(flag, value, tmp_path, capsys):
    mode = ["--mode=universal"] if flag == "--width_mult_range" else ["--mode=slimmable", "--width_mult_range="]
    assert _train(mode + [f"{flag}={value}"], tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and flag in err[0], err


@pytest.mark.parametrize("value, message", [
    ("nan", r"\(0, 100\], got nan"), ("inf", "got inf"), ("-0.1", "got -0.1"), ("0", "got 0.0")])
def test_learning_rate_must_be_finite_and_positive(value, message, tmp_path):
    with pytest.raises(config.ConfigError, match=rf"--lr must be in .*{message}"):
        config.parse(["prog", "--flagfile=us_mbv1_fashion", f"--model_dir={tmp_path}", f"--lr={value}"])


@pytest.mark.parametrize("argv", [["--epochs=100000000000000000000"], ["--num_sample_training=1000000"],
                                  ["--batch_size=0"], ["--seed=-1"], ["--eval_widths=0.1,5"]])
def test_typos_beyond_a_sane_bound_are_refused(argv, tmp_path):
    with pytest.raises(config.ConfigError, match=argv[0].split("=")[0]):
        config.parse(["prog", "--flagfile=us_mbv1_fashion", f"--model_dir={tmp_path}"] + argv)


def test_number_type_messages():
    n = Number(1, 10, integer=True)
    assert n("3") == 3
    for text, message in [("nan", "not an integer"), ("2.5", "not an integer"), ("11", "out of range"),
                          ("0", "out of range"), ("", "not an integer")]:
        with pytest.raises(Exception, match=message):
            n(text)
    f = Number(0, 1, lo_open=True)
    assert f("1") == 1.0
    for text in ("0", "nan", "inf", "-inf", "1.0000001"):
        with pytest.raises(Exception, match=r"allowed: a number in \(0, 1\]"):
            f(text)


# -- data readers (point 3) ------------------------------------------------------------------------
def _idx_bytes(array):
    """The IDX encoding of a uint8 array."""
    import struct

    import numpy as np

    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_split(folder, images, labels, split="test"):
    """Writes `split`'s gzipped IDX pair into `folder`; returns (images path, labels path)."""
    import gzip

    from slimkeras.datasets.fashion_mnist import FILES

    folder.mkdir(exist_ok=True)
    paths = [folder / name for name in FILES[split]]
    for path, array in zip(paths, (images, labels)):
        path.write_bytes(gzip.compress(_idx_bytes(array)))
    return paths


def _fashion_like(n=10, size=28):
    import numpy as np

    return np.zeros((n, size, size), np.uint8), np.arange(n, dtype=np.uint8) % 10


def _broken(kind, folder):
    """A data folder broken as `kind` says; (the file the error must name, what it must say)."""
    import gzip

    images, labels = _fashion_like()
    image_file, label_file = _write_split(folder, images, labels)
    if kind == "truncated gzip":
        data = image_file.read_bytes()
        image_file.write_bytes(data[:len(data) // 2])
        return image_file, "damaged or truncated"
    if kind == "not gzip":
        label_file.write_bytes(b"plain text, not gzip")
        return label_file, "damaged or truncated"
    if kind == "wrong magic":
        image_file.write_bytes(gzip.compress(b"\x1f\x8b\x08\x03" + bytes(100)))
        return image_file, "not an IDX file"
    if kind == "short data":
        label_file.write_bytes(gzip.compress(_idx_bytes(labels)[:-3]))
        return label_file, "truncated: 7 values"
    if kind == "broken header":
        label_file.write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00"))
        return label_file, "broken IDX header"
    if kind == "wrong counts":
        _write_split(folder, images, labels[:9])
        return image_file, "10 images but"
    if kind == "32x32 images":
        _write_split(folder, *_fashion_like(size=32))
        return image_file, "shape 32x32; Fashion-MNIST's are 28x28"
    if kind == "labels out of range":
        _write_split(folder, images, labels + 10)
        return label_file, "not a list of labels 0..9"
    if kind == "missing labels file":
        label_file.unlink()
        return label_file, "is missing"
    if kind == "missing images file":
        image_file.unlink()
        return image_file, "is missing"
    raise AssertionError(kind)


BROKEN = ["truncated gzip", "not gzip", "wrong magic", "short data", "broken header", "wrong counts",
          "32x32 images", "labels out of range", "missing labels file", "missing images file"]


@pytest.mark.parametrize("kind", BROKEN)
def test_every_broken_data_file_is_one_line_naming_it(kind, tmp_path):
    from slimkeras.datasets import DataError, fashion_mnist

    named, message = _broken(kind, tmp_path / "data")
    with pytest.raises(DataError) as error:
        fashion_mnist.load_split("test", str(tmp_path / "data"))
    text = str(error.value)
    assert "\n" not in text and str(named) in text and message in text, text


def test_load_data_gives_both_splits_as_keras_datasets(tmp_path):
    from slimkeras.datasets import fashion_mnist

    _write_split(tmp_path, *_fashion_like(6), split="train")
    _write_split(tmp_path, *_fashion_like(4), split="test")
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(str(tmp_path))
    assert x_train.shape == (6, 28, 28, 1) and y_train.shape == (6,) and x_test.shape == (4, 28, 28, 1)
    assert y_test.dtype.name == "int32" and list(y_test) == [0, 1, 2, 3]
    with pytest.raises(TypeError, match=r"load_split\('train'"):
        fashion_mnist.load_data("train")


@pytest.mark.parametrize("kind", ["32x32 images", "truncated gzip", "missing labels file"])
def test_training_on_broken_data_stops_before_writing_anything(kind, tmp_path, capsys):
    from training.main import main

    data = tmp_path / "data"
    _write_split(data, *_fashion_like(), split="train")
    named, message = _broken(kind, data)
    code = main(["training.main", "--flagfile=us_mbv1_fashion", f"--model_dir={tmp_path / 'run'}",
                 f"--data_dir={data}", "--epochs=1", "--verbose=0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and str(named) in err[0], err
    assert not (tmp_path / "run").exists()


def test_the_real_command_prints_one_line_and_creates_no_model_dir(tmp_path):
    """`python -m training.main ... --lr=nan` as a user runs it: one stderr line, exit 2, nothing made."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "training.main", "--flagfile=us_mbv1_fashion",
                             f"--model_dir={tmp_path / 'run'}", "--lr=nan"], cwd=root, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --lr must be in (0, 100], got nan."], result.stderr
    assert not (tmp_path / "run").exists()
