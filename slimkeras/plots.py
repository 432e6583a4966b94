"""Plots of slimmable networks as matplotlib Figures (no pyplot, no backend change)."""


def spectrum_figure(series, title=None, figsize=(5, 3.5), dpi=120):
    """The FLOPs-accuracy spectrum: top-1 against MACs, one line per model.

    Made without pyplot, so it never changes matplotlib's backend: a notebook
    shows the returned Figure inline, and `fig.savefig(path)` writes it anywhere.

    Args:
        series: rows of one model (dicts with `macs` and `top1`, as
            `slimkeras.evaluate_widths` returns), or `{label: rows}` for several
            models on one axis.
        title: the axes' title.
        figsize, dpi: as `matplotlib.figure.Figure`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    ```python
    rows = [{"width": 0.5, "macs": 2.1e6, "top1": 0.88}, {"width": 1.0, "macs": 6.0e6, "top1": 0.91}]
    fig = slimkeras.plots.spectrum_figure({"US-Net": rows}, title="Fashion-MNIST")
    fig.axes[0].get_xlabel()  # 'MACs (M)'
    ```
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("slimkeras.plots needs matplotlib: pip install matplotlib") from None
    if not isinstance(series, dict):
        series = {"": series}
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot()
    for label, rows in series.items():
        rows = sorted(rows, key=lambda r: r["macs"])
        ax.plot([r["macs"] / 1e6 for r in rows], [100 * r["top1"] for r in rows], "o-", ms=3,
                label=label or None)
    ax.set_xlabel("MACs (M)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    if any(series):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
