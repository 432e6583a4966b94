package org.slimkeras.core;

import java.util.Collections;
import java.util.Map;

/** One exported model: an element of {@code "models"} in manifest.json. */
public final class ModelEntry implements Candidate {
    private final String id;
    private final double width;
    private final Map<String, Double> stageRatios;
    private final Precision precision;
    private final String path;
    private final String sha256;
    private final long bytes;
    private final TensorSpec input;
    private final TensorSpec output;
    private final long macs;
    private final long params;
    private final double top1;
    private final Map<Integer, LatencyStats> latencyMs;

    /**
     * @param stageRatios null for a uniform model, else stage number → width ratio
     * @param top1 NaN if not evaluated
     * @param latencyMs thread count → benchmark statistics (may be empty)
     */
    public ModelEntry(String id, double width, Map<String, Double> stageRatios,
                      Precision precision, String path, String sha256, long bytes,
                      TensorSpec input, TensorSpec output, long macs, long params,
                      double top1, Map<Integer, LatencyStats> latencyMs) {
        this.id = id;
        this.width = width;
        this.stageRatios = stageRatios == null ? null : Collections.unmodifiableMap(stageRatios);
        this.precision = precision;
        this.path = path;
        this.sha256 = sha256;
        this.bytes = bytes;
        this.input = input;
        this.output = output;
        this.macs = macs;
        this.params = params;
        this.top1 = top1;
        this.latencyMs = Collections.unmodifiableMap(latencyMs);
    }

    /** Unique id, e.g. {@code "w0.25_int8"}. */
    public String id() {
        return id;
    }

    @Override
    public double width() {
        return width;
    }

    /** Per-stage width ratios of a searched model, or null for a uniform model. */
    public Map<String, Double> stageRatios() {
        return stageRatios;
    }

    /** True for a uniform model (every layer at {@link #width()}). */
    public boolean isUniform() {
        return stageRatios == null;
    }

    public Precision precision() {
        return precision;
    }

    /** Path of the .tflite file relative to the manifest's folder. */
    public String path() {
        return path;
    }

    /** Lower-case hex SHA-256 of the .tflite file. */
    public String sha256() {
        return sha256;
    }

    /** Size of the .tflite file. */
    public long bytes() {
        return bytes;
    }

    public TensorSpec input() {
        return input;
    }

    public TensorSpec output() {
        return output;
    }

    /** Multiply-accumulate operations of one inference. */
    public long macs() {
        return macs;
    }

    public long params() {
        return params;
    }

    @Override
    public double top1() {
        return top1;
    }

    /** Exporter benchmark results by thread count (empty before benchmarking). */
    public Map<Integer, LatencyStats> latencyMs() {
        return latencyMs;
    }

    @Override
    public String toString() {
        return id;
    }
}
