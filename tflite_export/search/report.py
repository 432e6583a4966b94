"""search.md, and the summary a search prints, from the search.json dict."""

import os


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def _ms(x):
    return "–" if x is None else f"{x:.4f}"


def render_markdown(r):
    """search.md: the settings, the found configuration, the comparison with uniform widths, the path.

    Args:
        r: the search.json dict (see `run.run_search`).
    """
    lines = ["# Slimming search", "", _settings_text(r), ""]
    lines += _found_table(r) + ["", "## Searched vs uniform width", ""]
    lines += _comparison_lines(r) + [""] + _uniform_table(r) + [""] + _path_table(r)
    e = r["export"]
    lines += ["", f"Exported to `{e['dir']}`: {', '.join(e['ids'])} (searched: `{e['searched_id']}`; manifest "
              "entry with `stage_ratios`).", "",
              f"Evaluations: {r['evaluations']['new_total']} new, {r['evaluations']['cached']} from the cache.", ""]
    return "\n".join(lines)


def _settings_text(r):
    s, t = r["settings"], r["target"]
    stat = f"{s['latency_stat']} ms ({s['precision']}, {s['threads']} thr)"
    tgt = (f"{t['value']:.4f} ms {s['latency_stat']}" if t["kind"] == "latency" else f"{t['value'] / 1e6:.3f} M MACs")
    if t["relative"]:
        tgt += f" ({t['given']} of full width)"
    return (f"Model `{r['model']}` (sha256 {r['model_sha256'][:12]}…). Target: **{tgt}**. Global width "
            f"{s['global_width']:g}; stage ratios shrink by {s['step']:g} (down to {s['min_ratio']:g}), the move "
            f"that loses least validation top-1 is kept. Validation: {s['val_images']} held-out training images "
            f"({s['val_split']}); BN calibrated on {s['calib_images']} other training images during the search and "
            f"{s['final_calib_images']} for the final numbers; test top-1 on {s['test_images']} test images "
            f"(never used for a decision). Latency: LiteRT, {stat}, the fastest of {s['bench_repeats']} "
            "benchmarks of "
            f"{s['bench_runs']} invokes, on the machine that ran the search.")


def _found_table(r):
    f = r["found"]
    lines = ["## Found", "",
             "| config | stage ratios | MACs | latency | val top-1 % | test top-1 % |",
             "|---|---|---:|---:|---:|---:|"]
    for label, row in (("searched", f), ("full width", r["full_width"])):
        ratios = ", ".join(f"s{k}: {v:g}" for k, v in row["stage_ratios"].items()) or "uniform"
        lines.append(f"| {label} `{row['config']}` | {ratios} | {row['macs'] / 1e6:.3f} M | {_ms(row['latency_ms'])} | "
                     f"{_pct(row['val_top1'])} | {_pct(row['test_top1'])} |")
    return lines + ["", f"Target met: {f['target_met']} after {f['steps']} steps."]


def _comparison_lines(r):
    f = r["found"]
    lines = []
    for name, title in (("same_latency", "the same latency"), ("same_macs", "the same MACs")):
        c = r["comparison"].get(name)
        if not c:
            lines.append(f"- {title}: no uniform width in the trained range brackets the searched model.")
            continue
        u = c["uniform"]
        measured = (f"{_ms(c['uniform_value'])} ms vs searched {_ms(c['searched_value'])} ms, measured side by side"
                    if name == "same_latency" else f"{u['macs'] / 1e6:.3f} M vs searched {f['macs'] / 1e6:.3f} M MACs")
        diff = c["test_top1_diff"]
        verdict = ("equally accurate" if abs(diff) < 1e-9 else
                   f"**{'searched' if diff > 0 else 'uniform'}** more accurate by {100 * abs(diff):.2f} points")
        text = (f"- **{title}**: uniform {c['uniform_width']:g}× ({measured}) test {_pct(u['test_top1'])} % vs "
                f"searched {_pct(f['test_top1'])} % → {verdict} (searched − uniform on validation: "
                f"{100 * c['val_top1_diff']:+.2f}).")
        if "uniform_test_top1_interpolated" in c:
            lo, hi = c["bracket"]
            text += (f" Interpolated between uniform {lo:g}× and {hi:g}× at the searched value: "
                     f"{_pct(c['uniform_test_top1_interpolated'])} % ({100 * c['test_top1_diff_interpolated']:+.2f}).")
        lines.append(text)
    return lines


def _uniform_table(r):
    lines = ["Uniform widths measured (BN calibrated like the searched model; latency: during the search / "
             "side by side with the searched model):", "",
             "| width | MACs | latency | side by side | val top-1 % | test top-1 % |",
             "|---:|---:|---:|---:|---:|---:|"]
    for u in r["uniform"] + [dict(r["found"], width=None)]:
        name = "searched" if u["width"] is None else f"{u['width']:g}"
        lines.append(f"| {name} | {u['macs'] / 1e6:.3f} M | {_ms(u['latency_ms'])} | "
                     f"{_ms(u['latency_ms_interleaved'])} | "
                     f"{_pct(u['val_top1'])} | {_pct(u['test_top1'])} |")
    return lines


def _path_table(r):
    lines = ["## Path from full width", "",
             "| step | move | stage ratios | MACs | latency | val top-1 % (search) |", "|---:|---|---|---:|---:|---:|"]
    for p in r["path"]:
        lines.append(f"| {p['step']} | {p['move'] or 'start'} | {', '.join(f'{x:g}' for x in p['ratios'])} | "
                     f"{p['macs'] / 1e6:.3f} M | {_ms(p['latency_ms'])} | {_pct(p['val_top1'])} |")
    return lines


def summary(r):
    """The lines a search prints when it is done."""
    f, t = r["found"], r["target"]
    lines = [f"Found {f['config']} after {f['steps']} steps: {f['macs'] / 1e6:.3f} M MACs, "
             f"{_ms(f['latency_ms'])} ms {r['settings']['latency_stat']}, val {_pct(f['val_top1'])} %, "
             f"test {_pct(f['test_top1'])} % (target {t['value']:.6g} {'ms' if t['kind'] == 'latency' else 'MACs'})."]
    for name, c in r["comparison"].items():
        lines.append(f"  vs uniform {c['uniform_width']:g}× ({name.replace('_', ' ')}): "
                     f"test {_pct(c['uniform']['test_top1'])} % "
                     f"({100 * c['test_top1_diff']:+.2f} points for the searched model)")
    lines.append(f"  evaluations: {r['evaluations']['new_total']} new, {r['evaluations']['cached']} from the cache; "
                 f"wrote search.json, search.md, export/ to {os.path.dirname(r['export']['dir'])}")
    return lines
