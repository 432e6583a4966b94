"""Validation/test top-1, MACs and LiteRT latency of `WidthConfig`s, all through the evaluation
cache; top-1 through `slimkeras.evaluate_widths` (calibration, then evaluation)."""

BENCH_WARMUP_RUNS = 50
INT8_REPRESENTATIVE_IMAGES = 200


class Evaluator:
    """Measures configurations of one model; every measurement goes through `cache`, under the
    configuration's channel counts (`signature`).

    Args:
        model: the US-Net (a `SlimmableModel` with universal BN).
        data: `SearchData`.
        cache: `Cache`.
        params: `SearchParams`.
    """

    def __init__(self, model, data, cache, params):
        from slimkeras.profiling import sliced_layers

        self.model, self.data, self.cache, self.params = model, data, cache, params
        val_count, test_count = len(data.val[0]), len(data.test[0])
        self.val_settings = f"calib{params.calib_images}_seed{params.seed}_val{val_count}"
        self.final_settings = f"calib{params.final_calib_images}_seed{params.seed}_val{val_count}_test{test_count}"
        self.latency_settings = (f"{params.precision}_t{params.threads}_{params.latency_stat}"
                                 f"_r{params.bench_runs}x{params.bench_repeats}")
        self._layers = sliced_layers(model)
        self._macs = {}  # signature -> MACs
        self._files = {}  # signature -> .tflite bytes

    # -- shapes ---------------------------------------------------------------------------------
    def signature(self, config):
        """The channel counts of every sliced layer as text: equal signatures, equal networks."""
        from slimkeras.profiling import channel_counts

        return "-".join(str(c) for c in channel_counts(self.model, config, self._layers))

    def macs(self, config):
        """MACs of one image (`slimkeras.profile`), kept per signature."""
        import slimkeras

        sig = self.signature(config)
        if sig not in self._macs:
            self._macs[sig] = int(slimkeras.profile(self.model, config)["macs"])
        return self._macs[sig]

    # -- top-1 ------------------------------------------------------------------------------------
    def val_top1(self, configs, on_evaluated=None):
        """Validation top-1 of each `WidthConfig` (BN calibrated on --calib_images).

        Args:
            configs: `WidthConfig`s.
            on_evaluated: called with no argument after each config (cached or measured).
        """
        entries = self._evaluate_cached("val", self.val_settings, configs, self.params.calib_images,
                                        {"val": self.data.val}, on_evaluated)
        return [entries[self.signature(c)]["val_top1"] for c in configs]

    def final(self, configs):
        """{signature: {"val_top1", "test_top1"}} with BN calibrated on --final_calib_images."""
        return self._evaluate_cached("final", self.final_settings, configs, self.params.final_calib_images,
                                     {"val": self.data.val, "test": self.data.test})

    def calibrate(self, configs, num_images):
        """Calibrates BN for exactly `configs` on `num_images` calibration images (every other
        calibration dropped)."""
        import slimkeras

        slimkeras.calibrate_bn(self.model, self.data.calib, widths=list(configs), num_images=num_images,
                               clear=True, verbose=0)

    def _evaluate_cached(self, kind, settings, configs, calib_images, splits, on_evaluated=None):
        """{signature: cache entry} of `configs`: the cached entries, and for the others the top-1
        on each of `splits` (`{name}_top1`), BN calibrated on `calib_images` images."""
        import slimkeras

        on_evaluated = on_evaluated or (lambda: None)
        entries = {}
        for config in configs:
            sig = self.signature(config)
            entry = entries.get(sig) or self.cache.get(kind, settings, sig)
            if entry is None:  # one at a time: the progress bar moves per configuration
                row, = slimkeras.evaluate_widths(self.model, splits, [config], calibration_data=self.data.calib,
                                                 calibration_images=calib_images, batch_size=self.params.eval_batch)
                self._macs[sig] = row["macs"]
                entry = {**{f"{name}_top1": row[f"{name}_top1"] for name in splits}, "config": config.key}
                self.cache.put(kind, settings, sig, entry)
            entries[sig] = entry
            on_evaluated()
        return entries

    # -- latency ------------------------------------------------------------------------------------
    def _tflite(self, config):
        """The .tflite bytes of the materialized config (kept in memory per signature)."""
        import slimkeras
        from tflite_export.convert import convert

        sig = self.signature(config)
        if sig not in self._files:
            self.calibrate([config], self.params.calib_images)  # materialize needs BN statistics
            plain = slimkeras.materialize(self.model, config)
            representative = self.data.calib[:INT8_REPRESENTATIVE_IMAGES] if self.params.precision == "int8" else None
            self._files[sig] = convert(plain, self.params.precision, representative)
        return self._files[sig]

    def _bench(self, content):
        from tflite_export.runtime import benchmark

        return benchmark(content, self.params.threads, self.params.bench_runs, warmup_runs=BENCH_WARMUP_RUNS)

    def latency(self, config):
        """--latency_stat (ms) of the materialized config: the fastest of --bench_repeats LiteRT
        benchmarks of --bench_runs invokes each (other processes on the machine only add time)."""
        sig = self.signature(config)
        entry = self.cache.get("latency", self.latency_settings, sig)
        if entry is not None:
            return entry["ms"]
        content = self._tflite(config)
        runs = [self._bench(content) for _ in range(self.params.bench_repeats)]
        ms = float(min(r[self.params.latency_stat] for r in runs))
        self.cache.put("latency", self.latency_settings, sig, {
            "ms": ms, "config": config.key, "bytes": len(content),
            "p50": [r["p50"] for r in runs], "p90": [r["p90"] for r in runs]})
        return ms

    def cached_latency(self, config):
        """The latency measured during the search, or None (measures nothing)."""
        entry = self.cache.get("latency", self.latency_settings, self.signature(config))
        return entry["ms"] if entry else None

    def interleaved_latency(self, configs):
        """{signature: ms} of several configs measured side by side: --bench_repeats rounds, each
        benchmarking every config once, the fastest round per config. A fair comparison on a
        machine whose load drifts between the search's measurements."""
        by_sig = {}
        for config in configs:
            by_sig.setdefault(self.signature(config), config)
        key = "|".join(sorted(by_sig))
        entry = self.cache.get("interleaved", self.latency_settings, key)
        if entry is not None:
            return entry["ms"]
        contents = {sig: self._tflite(config) for sig, config in by_sig.items()}
        values = {sig: [] for sig in by_sig}
        for _ in range(self.params.bench_repeats):
            for sig, content in contents.items():
                values[sig].append(self._bench(content)[self.params.latency_stat])
        ms = {sig: float(min(v)) for sig, v in values.items()}
        self.cache.put("interleaved", self.latency_settings, key,
                       {"ms": ms, "configs": {sig: c.key for sig, c in by_sig.items()}, "runs": values})
        return ms
