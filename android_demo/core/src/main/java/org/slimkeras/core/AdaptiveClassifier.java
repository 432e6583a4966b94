package org.slimkeras.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Drives an {@link InferenceEngine} with a {@link WidthSelector}: loads and benchmarks every
 * width at start-up, then classifies each frame with the current width, reports its latency,
 * and runs the probes the selector asks for, one {@link WidthSelector#step} per frame (as
 * {@link TraceRunner} does per trace step). Used by the Android app; tested here with a fake
 * engine. Methods are synchronized so a UI thread may change the budget while an analysis
 * thread classifies.
 */
public final class AdaptiveClassifier implements AutoCloseable {
    /** What one {@link #classify} call did. */
    public static final class Outcome {
        private final ModelEntry model;
        private final InferenceResult result;
        private final ModelEntry probe;
        private final ModelEntry next;

        Outcome(ModelEntry model, InferenceResult result, ModelEntry probe, ModelEntry next) {
            this.model = model;
            this.result = result;
            this.probe = probe;
            this.next = next;
        }

        /** The model that classified the frame. */
        public ModelEntry model() {
            return model;
        }

        /** Its scores and latency. */
        public InferenceResult result() {
            return result;
        }

        /** The model probed after it, or null. */
        public ModelEntry probe() {
            return probe;
        }

        /** The model that will classify the next frame. */
        public ModelEntry next() {
            return next;
        }
    }

    private final InferenceEngine engine;
    private final WidthSelector<ModelEntry> selector;
    private final Map<String, Exception> failures = new LinkedHashMap<>();

    /**
     * @param models uniform models of one precision, narrowest first
     *     (see {@link Manifest#uniformModels})
     */
    public AdaptiveClassifier(InferenceEngine engine, List<ModelEntry> models, double budgetMs,
                              SelectorConfig config) {
        this.engine = engine;
        this.selector = new WidthSelector<>(models, budgetMs, config);
    }

    /**
     * Loads every model (a model that fails is marked failed), runs each loaded model
     * {@code benchmarkRuns} times on {@code sampleInput} feeding
     * {@link WidthSelector#onBenchmark}, then picks the first model.
     *
     * @return the picked model
     * @throws NoUsableModelException if no model could be loaded and benchmarked
     */
    public synchronized ModelEntry start(float[] sampleInput, int benchmarkRuns) {
        for (ModelEntry model : selector.models()) {
            try {
                engine.load(model);
            } catch (Exception e) {
                fail(model, e);
            }
        }
        for (ModelEntry model : selector.models()) {
            if (selector.isFailed(model)) {
                continue;
            }
            try {
                for (int i = 0; i < benchmarkRuns; i++) {
                    selector.onBenchmark(model, engine.run(model, sampleInput).latencyMs());
                }
            } catch (RuntimeException e) {
                fail(model, e);
            }
        }
        return selector.pick();
    }

    /**
     * Classifies one frame with the current model, then runs a due probe on the same input.
     * A model whose run throws is marked failed; a failing current model's exception is
     * rethrown (the next call uses the re-picked model), a failing probe's is recorded only.
     *
     * @throws IllegalStateException before {@link #start}
     */
    public synchronized Outcome classify(float[] input) {
        ModelEntry model = selector.current();
        if (model == null) {
            throw new IllegalStateException("call start() before classify()");
        }
        FrameRunner runner = new FrameRunner(input);
        try {
            StepResult<ModelEntry> step = selector.step(runner);
            return new Outcome(model, runner.firstResult, step.probe(), step.next());
        } catch (RuntimeException e) {
            if (runner.failed == null) {
                throw e; // not a failed run
            }
            fail(runner.failed, e);
            if (runner.failed == model) {
                throw e;
            }
            return new Outcome(model, runner.firstResult, runner.failed, selector.current());
        }
    }

    /** Changes the budget and re-picks at once. */
    public synchronized ModelEntry setBudget(double ms) {
        return selector.setBudget(ms);
    }

    public synchronized ModelEntry current() {
        return selector.current();
    }

    /** Latency statistics the selector keeps for {@code model}. */
    public synchronized LatencyTracker tracker(ModelEntry model) {
        return selector.tracker(model);
    }

    /** Models that failed to load or run: id → cause, in order of failure. */
    public synchronized Map<String, Exception> failures() {
        return Collections.unmodifiableMap(new LinkedHashMap<>(failures));
    }

    /** Closes the engine. */
    @Override
    public synchronized void close() {
        engine.close();
    }

    /** Runs models on one frame's input for {@link WidthSelector#step}. */
    private final class FrameRunner implements ModelRunner<ModelEntry> {
        private final float[] input;
        /** The result of the step's first run: the current model's. */
        private InferenceResult firstResult;
        /** The model whose run threw, or null. */
        private ModelEntry failed;

        FrameRunner(float[] input) {
            this.input = input;
        }

        @Override
        public double run(ModelEntry model) {
            InferenceResult result;
            try {
                result = engine.run(model, input);
            } catch (RuntimeException e) {
                failed = model;
                throw e;
            }
            if (firstResult == null) {
                firstResult = result;
            }
            return result.latencyMs();
        }
    }

    private void fail(ModelEntry model, Exception cause) {
        failures.put(model.id(), cause);
        selector.markFailed(model);
    }
}
