package org.slimkeras.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An {@link InferenceEngine} with scripted latencies: each model has a base latency that is
 * multiplied by a load factor the test sets per frame (thermal throttling, background load).
 * Chosen models can fail to load or fail to run; every run is recorded.
 */
final class FakeInferenceEngine implements InferenceEngine {
    private final Map<String, Double> baseMs = new HashMap<>();
    private final Set<String> failToLoad = new HashSet<>();
    private final Set<String> failToRun = new HashSet<>();
    private final Set<String> loaded = new HashSet<>();
    private final List<String> runs = new ArrayList<>();
    private double loadFactor = 1.0;
    private boolean closed;
    private float[] lastInput;

    /** Sets the base latency of model {@code id}. */
    FakeInferenceEngine latency(String id, double ms) {
        baseMs.put(id, ms);
        return this;
    }

    FakeInferenceEngine failToLoad(String id) {
        failToLoad.add(id);
        return this;
    }

    FakeInferenceEngine failToRun(String id) {
        failToRun.add(id);
        return this;
    }

    /** Multiplies every latency from now on. */
    void setLoadFactor(double factor) {
        loadFactor = factor;
    }

    /** The input of the latest run (null before the first). */
    float[] lastInput() {
        return lastInput == null ? null : lastInput.clone();
    }

    /** Ids of the models run so far, in order. */
    List<String> runs() {
        return Collections.unmodifiableList(runs);
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public void load(ModelEntry model) throws Exception {
        if (failToLoad.contains(model.id())) {
            throw new Exception("scripted load failure of " + model.id());
        }
        loaded.add(model.id());
    }

    @Override
    public InferenceResult run(ModelEntry model, float[] input) {
        if (!loaded.contains(model.id())) {
            throw new IllegalStateException(model.id() + " is not loaded");
        }
        if (failToRun.contains(model.id())) {
            throw new IllegalStateException("scripted run failure of " + model.id());
        }
        runs.add(model.id());
        lastInput = input.clone();
        float[] scores = new float[model.output().elementCount()];
        scores[runs.size() % scores.length] = 1f;
        return new InferenceResult(scores, baseMs.get(model.id()) * loadFactor);
    }

    @Override
    public void close() {
        closed = true;
    }
}
