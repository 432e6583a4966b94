"""End of a run: calibrate BN, evaluate every width, write results.json, a plot, final.keras."""

import os

import slimkeras
from slimkeras.io import atomic_path, write_json_atomic
from slimkeras.plots import spectrum_figure
from slimkeras.training import rules


def finish_run(cfg, net, datasets, train_time):
    widths = cfg.eval_widths or rules.eval_widths(net.width_spec)
    allow_untrained = bool(cfg.eval_widths) and cfg.bn != "switchable"
    calibrate = cfg.bn != "switchable" or cfg.calibrate_switchable
    if calibrate and net.has_switchable_bn:  # evaluate_widths keeps trained switchable BN
        slimkeras.calibrate_bn(net, datasets.calibration, widths=widths, num_images=cfg.calibration_images,
                               clear=True, verbose=cfg.verbose)
    rows = slimkeras.evaluate_widths(net, datasets.test, widths,
                                     datasets.calibration if calibrate and not net.has_switchable_bn else None,
                                     cfg.calibration_images, allow_untrained, cfg.verbose)
    net.set_width(net.width_spec.max_width)
    print(f"\n{'width':>7} {'MACs (M)':>10} {'params (K)':>11} {'top-1 %':>8}")
    for r in rows:
        print(f"{r['width']:>7g} {r['macs'] / 1e6:>10.2f} {r['params'] / 1e3:>11.1f} {100 * r['top1']:>8.2f}")
    model_dir = cfg.model_dir
    final = os.path.join(model_dir, "final.keras")
    with atomic_path(final) as tmp:
        net.save(tmp)
    results = {
        "mode": cfg.mode, "arch": cfg.arch, "dataset": cfg.dataset,
        "width_spec": net.width_spec.get_config(), "epochs": cfg.epochs,
        "batch_size": cfg.batch_size, "seed": cfg.seed, "train_seconds": round(train_time, 1),
        "labels": datasets.labels, "preprocessing": datasets.preprocessing, "results": rows,
    }
    write_json_atomic(os.path.join(model_dir, "results.json"), results)
    save_spectrum({f"{cfg.mode} {cfg.arch}": rows}, os.path.join(model_dir, "flops_accuracy.png"))
    print(f"Wrote {final}, results.json and flops_accuracy.png to {model_dir} "
          f"(training took {train_time:.0f} s).")
    if cfg.export:
        from tflite_export.export import export_model

        export_model(net, os.path.join(model_dir, "tflite"), widths=widths,
                     precisions=cfg.export_quantize, dataset=cfg.dataset,
                     data_dir=cfg.data_dir, labels=datasets.labels,
                     preprocessing=datasets.preprocessing)
    return rows


def save_spectrum(series, path, title=None):
    """The FLOPs-accuracy plot (`slimkeras.plots.spectrum_figure` of `series`) written
    atomically as PNG."""
    figure = spectrum_figure(series, title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
