"""Import an official PyTorch checkpoint and write a slimkeras `.keras` file.

    python -m slimkeras.official CHECKPOINT --arch=us_mobilenet_v1 --out=model.keras \\
        [--width_mult_list=0.25,0.275,...]

CHECKPOINT is a published file of JiahuiYu/slimmable_networks (e.g.
us_mobilenet_v1_calibrated.pt). The .keras file is written under a temporary name beside
--out and renamed when complete. Bad input stops with one `error:` line and exit code 2.
Flags may come from a file: --flagfile=FILE. Needs torch (pip install 'slimkeras[torch]'; see requirements-torch.txt).
"""

import argparse
import os
import sys

from slimkeras.cli import WIDTH, ArgumentParser, number_list
from slimkeras.io import atomic_path


def build_parser():
    from slimkeras.official.archs import ARCHS

    parser = ArgumentParser(prog="python -m slimkeras.official", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="the official .pt checkpoint")
    parser.add_argument("--arch", required=True, choices=sorted(ARCHS) + ["s_resnet"],
                        help="the official model file's name (models/{arch}.py)")
    parser.add_argument("--out", required=True, help="the .keras file to write")
    parser.add_argument("--width_mult_list", default=None, type=width_list,
                        help="the checkpoint's width list, comma-separated (default: the "
                             "published checkpoint's)")
    return parser


def width_list(text):
    """argparse's `type=` of --width_mult_list: distinct widths in (0, 4], comma-separated."""
    try:
        widths = number_list("width_mult_list", [w for w in text.split(",") if w.strip()],
                             WIDTH)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--width_mult_list: ")) from None
    if not widths:
        raise argparse.ArgumentTypeError(f"{text!r}: give widths like 0.25,0.5,1.0")
    return widths


def check_out(out):
    """Raises ValueError for an --out that cannot receive a .keras file."""
    if not out.endswith(".keras"):
        raise ValueError(f"--out={out!r} must end in .keras.")
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise ValueError(f"--out={out!r}: directory {directory!r} does not exist.")
    if os.path.isdir(out):
        raise ValueError(f"--out={out!r} is a directory.")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"--out={out!r}: directory {directory!r} is not writable.")


def main(argv=None):
    """Runs the command; returns the exit code (0, or 2 for bad input)."""
    args = build_parser().parse_args(argv)
    from slimkeras.official.checkpoint import CheckpointError, TorchMissingError

    try:
        check_out(args.out)
        from slimkeras.official import from_official_checkpoint

        model = from_official_checkpoint(args.checkpoint, args.arch,
                                         width_mult_list=args.width_mult_list)
        with atomic_path(args.out) as tmp:
            model.save(tmp)
    except (CheckpointError, TorchMissingError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = model.width_spec
    widths = (model.bn_slots.calibrated() if spec.is_range else spec.switches)
    count = len(widths)
    print(f"Wrote {args.out}: {args.arch} ({spec.describe()}; "
          f"{count} width(s) ready without calibration).")
    return 0

