"""End of a run: calibrate BN, evaluate every width, write results.json, a plot, final.keras."""

import os

import slimkeras
from slimkeras.io import atomic_path, write_json_atomic
from training import rules


def finish_run(cfg, net, datasets, train_time):
    widths = cfg["eval_widths"] or rules.eval_widths(net.width_spec)
    allow_untrained = bool(cfg["eval_widths"]) and cfg["bn"] != "switchable"
    if cfg["bn"] != "switchable" or cfg["calibrate_switchable"]:
        slimkeras.calibrate_bn(net, datasets.calibration, widths=widths,
                               num_images=cfg["calibration_images"], allow_untrained=allow_untrained,
                               clear=True, verbose=cfg["verbose"])
    accuracies = dict(zip(widths, slimkeras.evaluate_top1(net, datasets.test, widths,
                                                        allow_untrained=allow_untrained)))
    rows = []
    for w in widths:
        p = slimkeras.profile(net, w, allow_untrained=allow_untrained)
        rows.append({"width": w, "macs": p["macs"], "params": p["params"], "top1": accuracies[w]})
    net.set_width(net.width_spec.max_width)
    print(f"\n{'width':>7} {'MACs (M)':>10} {'params (K)':>11} {'top-1 %':>8}")
    for r in rows:
        print(f"{r['width']:>7g} {r['macs'] / 1e6:>10.2f} {r['params'] / 1e3:>11.1f} {100 * r['top1']:>8.2f}")
    model_dir = cfg["model_dir"]
    final = os.path.join(model_dir, "final.keras")
    with atomic_path(final) as tmp:
        net.save(tmp)
    results = {
        "mode": cfg["mode"], "arch": cfg["arch"], "dataset": cfg["dataset"],
        "width_spec": net.width_spec.get_config(), "epochs": cfg["epochs"],
        "batch_size": cfg["batch_size"], "seed": cfg["seed"], "train_seconds": round(train_time, 1),
        "labels": datasets.labels, "preprocessing": datasets.preprocessing, "results": rows,
    }
    write_json_atomic(os.path.join(model_dir, "results.json"), results)
    plot_spectrum(rows, os.path.join(model_dir, "flops_accuracy.png"), f"{cfg['mode']} {cfg['arch']}")
    print(f"Wrote {final}, results.json and flops_accuracy.png to {model_dir} "
          f"(training took {train_time:.0f} s).")
    if cfg["export"]:
        from tflite_export.export import export_model

        export_model(net, os.path.join(model_dir, "tflite"), widths=widths,
                     precisions=cfg["export_quantize"], dataset=cfg["dataset"],
                     data_dir=cfg["data_dir"], labels=datasets.labels,
                     preprocessing=datasets.preprocessing)
    return rows


def plot_spectrum(rows, path, title, other=None):
    """FLOPs-accuracy plot (MACs on x, top-1 on y) written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    series = {title: rows, **(other or {})}
    for label, points in series.items():
        ax.plot([p["macs"] / 1e6 for p in points], [100 * p["top1"] for p in points], "o-", label=label, ms=3)
    ax.set_xlabel("MACs (M)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
