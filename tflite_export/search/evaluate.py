"""Validation/test top-1, MACs and LiteRT latency of (width, stage ratios) configurations,
all through the evaluation cache."""

from tflite_export.search.configs import describe, width_config

BENCH_WARMUP_RUNS = 50
INT8_REPRESENTATIVE_IMAGES = 200


class Evaluator:
    """Measures configurations of one model; every measurement goes through `cache`.

    Args:
        model: the US-Net (a `SlimmableModel` with universal BN).
        data: `SearchData`.
        cache: `Cache`.
        params: `SearchParams`.
    """

    def __init__(self, model, data, cache, params):
        self.model, self.data, self.cache, self.params = model, data, cache, params
        val_count, test_count = len(data.val[0]), len(data.test[0])
        self.val_settings = f"calib{params.calib_images}_seed{params.seed}_val{val_count}"
        self.final_settings = f"calib{params.final_calib_images}_seed{params.seed}_val{val_count}_test{test_count}"
        self.latency_settings = (f"{params.precision}_t{params.threads}_{params.latency_stat}"
                                 f"_r{params.bench_runs}x{params.bench_repeats}")
        self.calibrated = {}  # WidthConfig -> number of calibration images
        self._macs = {}  # signature -> MACs
        self._files = {}  # signature -> .tflite bytes

    # -- shapes ---------------------------------------------------------------------------------
    def signature(self, width, ratios):
        """The channel counts of every slimmable conv/dense layer: equal signatures, equal networks."""
        from slimkeras.layers import SlimmableLayer

        multipliers = [width] + [width * r for r in ratios]
        counts = [layer.active_units(multipliers[layer.stage or 0]) for layer in self.model.layers
                  if isinstance(layer, SlimmableLayer) and hasattr(layer, "active_units")]
        return "-".join(str(int(c)) for c in counts)

    def macs(self, width, ratios):
        """MACs of one image (`slimkeras.profile`), kept per signature."""
        import slimkeras

        sig = self.signature(width, ratios)
        if sig not in self._macs:
            self._macs[sig] = int(slimkeras.profile(self.model, width_config(width, ratios))["macs"])
        return self._macs[sig]

    # -- BN calibration ---------------------------------------------------------------------------
    def calibrate(self, configs, num_images):
        """Makes sure each (width, ratios) has BN statistics from `num_images` calibration images,
        clearing every slot first when the missing ones do not fit in the free slots."""
        import slimkeras

        slots = self.model.bn_slots
        todo = []
        for config in (width_config(*c) for c in configs):
            if self.calibrated.get(config) == num_images and slots.find(config) is not None:
                continue
            if config not in todo:
                todo.append(config)
        if not todo:
            return
        clear = len(todo) > self.model.num_bn_slots - len(slots.calibrated())
        if clear:
            self.calibrated = {}
        slimkeras.calibrate_bn(self.model, self.data.calib[:num_images], widths=todo,
                               num_images=num_images, clear=clear, verbose=0)
        for config in todo:
            self.calibrated[config] = num_images

    def _top1(self, width, ratios, split):
        import slimkeras

        return slimkeras.evaluate_top1(self.model, split, [width_config(width, ratios)],
                                       batch_size=self.params.eval_batch)[0]

    # -- top-1 ------------------------------------------------------------------------------------
    def val_top1(self, configs, on_evaluated=None):
        """Validation top-1 of each (width, ratios), calibrating the uncached ones in one pass.

        Args:
            configs: (width, ratios) pairs.
            on_evaluated: called with no argument after each config (cached or measured).
        """
        entries = self._evaluate_cached("val", self.val_settings, configs, self.params.calib_images,
                                        lambda *c: {"val_top1": self._top1(*c, self.data.val)}, on_evaluated)
        return [entries[self.signature(*c)]["val_top1"] for c in configs]

    def final(self, configs):
        """{signature: {"val_top1", "test_top1"}} with BN calibrated on --final_calib_images."""
        return self._evaluate_cached(
            "final", self.final_settings, configs, self.params.final_calib_images,
            lambda *c: {"val_top1": self._top1(*c, self.data.val), "test_top1": self._top1(*c, self.data.test)})

    def _evaluate_cached(self, kind, settings, configs, calib_images, evaluate, on_evaluated=None):
        """{signature: cache entry} of `configs`: the cached entries, and for the others
        `evaluate(width, ratios)` after calibrating them together on `calib_images` images."""
        on_evaluated = on_evaluated or (lambda: None)
        entries, missing = {}, []
        for c in configs:
            sig = self.signature(*c)
            entry = self.cache.get(kind, settings, sig)
            if entry is not None:
                entries[sig] = entry
                on_evaluated()
            elif c not in missing:
                missing.append(c)
        if missing:
            self.calibrate(missing, calib_images)
            for c in missing:
                sig = self.signature(*c)
                if sig not in entries:  # configs with the same channel counts share an entry
                    entries[sig] = {**evaluate(*c), "config": describe(*c)}
                    self.cache.put(kind, settings, sig, entries[sig])
                on_evaluated()
        return entries

    # -- latency ------------------------------------------------------------------------------------
    def _tflite(self, width, ratios):
        """The .tflite bytes of the materialized config (kept in memory per signature)."""
        import slimkeras
        from tflite_export.convert import convert

        sig = self.signature(width, ratios)
        if sig not in self._files:
            self.calibrate([(width, ratios)], self.params.calib_images)  # materialize needs BN statistics
            plain = slimkeras.materialize(self.model, width_config(width, ratios))
            representative = self.data.calib[:INT8_REPRESENTATIVE_IMAGES] if self.params.precision == "int8" else None
            self._files[sig] = convert(plain, self.params.precision, representative)
        return self._files[sig]

    def _bench(self, content):
        from tflite_export.runtime import benchmark

        return benchmark(content, self.params.threads, self.params.bench_runs, warmup_runs=BENCH_WARMUP_RUNS)

    def latency(self, width, ratios):
        """--latency_stat (ms) of the materialized config: the fastest of --bench_repeats LiteRT
        benchmarks of --bench_runs invokes each (other processes on the machine only add time)."""
        sig = self.signature(width, ratios)
        entry = self.cache.get("latency", self.latency_settings, sig)
        if entry is not None:
            return entry["ms"]
        content = self._tflite(width, ratios)
        runs = [self._bench(content) for _ in range(self.params.bench_repeats)]
        ms = float(min(r[self.params.latency_stat] for r in runs))
        self.cache.put("latency", self.latency_settings, sig, {
            "ms": ms, "config": describe(width, ratios), "bytes": len(content),
            "p50": [r["p50"] for r in runs], "p90": [r["p90"] for r in runs]})
        return ms

    def cached_latency(self, width, ratios):
        """The latency measured during the search, or None (measures nothing)."""
        entry = self.cache.get("latency", self.latency_settings, self.signature(width, ratios))
        return entry["ms"] if entry else None

    def interleaved_latency(self, configs):
        """{signature: ms} of several configs measured side by side: --bench_repeats rounds, each
        benchmarking every config once, the fastest round per config. A fair comparison on a
        machine whose load drifts between the search's measurements."""
        sigs = {}
        for c in configs:
            sigs.setdefault(self.signature(*c), c)
        key = "|".join(sorted(sigs))
        entry = self.cache.get("interleaved", self.latency_settings, key)
        if entry is not None:
            return entry["ms"]
        contents = {sig: self._tflite(*c) for sig, c in sigs.items()}
        values = {sig: [] for sig in sigs}
        for _ in range(self.params.bench_repeats):
            for sig, content in contents.items():
                values[sig].append(self._bench(content)[self.params.latency_stat])
        ms = {sig: float(min(v)) for sig, v in values.items()}
        self.cache.put("interleaved", self.latency_settings, key,
                       {"ms": ms, "configs": {sig: describe(*c) for sig, c in sigs.items()}, "runs": values})
        return ms
