package org.slimkeras.core;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Rolling latency statistics of one model.
 *
 * <p>The first {@code warmupRuns} samples the tracker ever receives are discarded (counted by
 * {@link #warmupSeen()}); later samples go into a rolling window of the last
 * {@code windowSize} samples and into an exponential moving average. Statistics of an empty
 * window are NaN, which callers treat as "unknown". The Python twin is
 * {@code tflite_export.switch.policy.LatencyTracker}.
 */
public final class LatencyTracker {
    private final int windowSize;
    private final int warmupRuns;
    private final double emaAlpha;
    private final ArrayDeque<Double> window = new ArrayDeque<>();
    private int warmupSeen;
    private double ema = Double.NaN;

    /** A tracker with window 20, 3 warm-up runs and EMA alpha 0.2. */
    public LatencyTracker() {
        this(20, 3, 0.2);
    }

    /**
     * @param windowSize samples kept (>= 1)
     * @param warmupRuns leading samples discarded (>= 0)
     * @param emaAlpha weight of a new sample in the EMA, in (0, 1]
     */
    public LatencyTracker(int windowSize, int warmupRuns, double emaAlpha) {
        if (windowSize < 1) {
            throw new IllegalArgumentException("windowSize must be >= 1, got " + windowSize);
        }
        if (warmupRuns < 0) {
            throw new IllegalArgumentException("warmupRuns must be >= 0, got " + warmupRuns);
        }
        if (!(emaAlpha > 0 && emaAlpha <= 1)) {
            throw new IllegalArgumentException("emaAlpha must be in (0, 1], got " + emaAlpha);
        }
        this.windowSize = windowSize;
        this.warmupRuns = warmupRuns;
        this.emaAlpha = emaAlpha;
    }

    /** Records one latency sample in milliseconds (finite, >= 0). */
    public void add(double ms) {
        if (!(ms >= 0) || Double.isInfinite(ms)) {
            throw new IllegalArgumentException("latency must be a finite number >= 0 ms, got "
                    + ms);
        }
        if (warmupSeen < warmupRuns) {
            warmupSeen++;
            return;
        }
        if (window.size() == windowSize) {
            window.removeFirst();
        }
        window.addLast(ms);
        ema = Double.isNaN(ema) ? ms : emaAlpha * ms + (1.0 - emaAlpha) * ema;
    }

    /** Samples discarded as warm-up so far. */
    public int warmupSeen() {
        return warmupSeen;
    }

    /** Samples in the rolling window. */
    public int count() {
        return window.size();
    }

    /** The most recent sample in the window (the last one kept), NaN if empty. */
    public double last() {
        return window.isEmpty() ? Double.NaN : window.peekLast();
    }

    /** Mean of the window, NaN if empty. */
    public double mean() {
        if (window.isEmpty()) {
            return Double.NaN;
        }
        double total = 0.0;
        for (double value : window) {
            total += value;
        }
        return total / window.size();
    }

    /** Nearest-rank median of the window, NaN if empty. */
    public double p50() {
        return percentile(50);
    }

    /** Nearest-rank 90th percentile of the window, NaN if empty. */
    public double p90() {
        return percentile(90);
    }

    /** Exponential moving average of all kept samples, NaN before the first. */
    public double ema() {
        return ema;
    }

    /**
     * Nearest rank: {@code sorted[ceil(percent / 100 * n) - 1]}, computed with integers so
     * it never depends on the float rounding of e.g. {@code 0.9 * n}.
     */
    private double percentile(int percent) {
        int n = window.size();
        if (n == 0) {
            return Double.NaN;
        }
        double[] sorted = new double[n];
        int i = 0;
        for (double value : window) {
            sorted[i++] = value;
        }
        Arrays.sort(sorted);
        int rank = (percent * n + 99) / 100;
        return sorted[rank - 1];
    }
}
