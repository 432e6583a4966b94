"""The parameters of a search (`SearchParams`), as the command line gives them."""

import dataclasses
import math

from tflite_export.errors import SearchError

LATENCY_STATS = ("p50", "p90")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True)
class SearchParams:
    """What to search, and how to measure it.

    Args:
        model: the trained US-Net (final.keras).
        out: output directory (cache.json, search.json, search.md, export/).
        target_ms: latency target in ms, or "N%" of the full-width latency (text, as given).
        target_macs: MACs target (e.g. "2e6"), or "N%" of the full-width MACs (text, as given).
        val_images: held-out training images (the training split's last N) for the decisions.
        calib_images: BN calibration images per candidate.
        final_calib_images: BN calibration images of the final numbers.
        test_images: test images for the final top-1 (None: all).
        step: ratio step of a move.
        min_ratio: smallest stage ratio (None: the trained range's lower bound).
        precision: TFLite precision benchmarked and exported, one of `PRECISIONS`.
        threads: LiteRT threads.
        latency_stat: "p90" (the app's criterion) or "p50".
        bench_runs: steady-state invokes per benchmark.
        bench_repeats: benchmarks per configuration (the fastest counts).
        uniform_step: grid of the uniform widths compared.
        eval_batch: batch size of the top-1 evaluations.
        data_dir: Fashion-MNIST IDX directory (None: the default).
        seed: seed of the calibration images.
        quiet: no progress and no summary.
    """

    model: str
    out: str
    target_ms: str | None = None
    target_macs: str | None = None
    val_images: int = 5000
    calib_images: int = 512
    final_calib_images: int = 2048
    test_images: int | None = None
    step: float = 0.05
    min_ratio: float | None = None
    precision: str = "fp32"
    threads: int = 1
    latency_stat: str = "p90"
    bench_runs: int = 2000
    bench_repeats: int = 5
    uniform_step: float = 0.01
    eval_batch: int = 1000
    data_dir: str | None = None
    seed: int = 0
    quiet: bool = False

    def check(self):
        """Raises SearchError naming the first value out of its range (the targets: see `targets`)."""
        positive = {"val_images": self.val_images, "calib_images": self.calib_images,
                    "final_calib_images": self.final_calib_images, "threads": self.threads,
                    "bench_runs": self.bench_runs, "bench_repeats": self.bench_repeats,
                    "eval_batch": self.eval_batch}
        if self.test_images is not None:
            positive["test_images"] = self.test_images
        for name, value in positive.items():
            if value < 1:
                raise SearchError(f"--{name}={value}: must be a positive integer.")
        for name in ("step", "uniform_step"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value < 1):
                raise SearchError(f"--{name}={value}: must be in (0, 1), e.g. 0.05.")
        if self.min_ratio is not None and not (math.isfinite(self.min_ratio) and 0 < self.min_ratio < 1):
            raise SearchError(f"--min_ratio={self.min_ratio}: must be in (0, 1).")
        if self.precision not in PRECISIONS:
            raise SearchError(f"--precision={self.precision}: allowed {', '.join(PRECISIONS)}.")
        if self.latency_stat not in LATENCY_STATS:
            raise SearchError(f"--latency_stat={self.latency_stat}: allowed {', '.join(LATENCY_STATS)}.")

