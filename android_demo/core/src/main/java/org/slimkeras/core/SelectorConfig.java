package org.slimkeras.core;

/**
 * Immutable tuning of a {@link WidthSelector}; change values with the {@code with…} methods.
 * The twin of {@code tflite_export.switch.policy.SelectorConfig}.
 */
public final class SelectorConfig {
    /** What to maximise among the models that fit the budget. */
    public enum Mode {
        /** The widest model that fits. */
        WIDEST,
        /** The most accurate model that fits (top-1; the narrower on a tie). */
        MAX_ACCURACY
    }

    private static final SelectorConfig DEFAULTS =
            new SelectorConfig(3, 10, 0.15, 50, Mode.WIDEST, 20, 3, 0.2);

    private final int downAfter;
    private final int upAfter;
    private final double upMargin;
    private final int probeEvery;
    private final Mode mode;
    private final int windowSize;
    private final int warmupRuns;
    private final double emaAlpha;

    private SelectorConfig(int downAfter, int upAfter, double upMargin, int probeEvery,
                           Mode mode, int windowSize, int warmupRuns, double emaAlpha) {
        requireAtLeastOne("downAfter", downAfter);
        requireAtLeastOne("upAfter", upAfter);
        requireAtLeastOne("probeEvery", probeEvery);
        if (!(upMargin >= 0 && upMargin < 1)) {
            throw new IllegalArgumentException("upMargin must be in [0, 1), got " + upMargin);
        }
        if (mode == null) {
            throw new IllegalArgumentException("mode must not be null");
        }
        new LatencyTracker(windowSize, warmupRuns, emaAlpha); // validates the tracker values
        this.downAfter = downAfter;
        this.upAfter = upAfter;
        this.upMargin = upMargin;
        this.probeEvery = probeEvery;
        this.mode = mode;
        this.windowSize = windowSize;
        this.warmupRuns = warmupRuns;
        this.emaAlpha = emaAlpha;
    }

    private static void requireAtLeastOne(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be >= 1, got " + value);
        }
    }

    /** K=3, M=10, upMargin=0.15, P=50, WIDEST, window 20, 3 warm-up runs, alpha 0.2. */
    public static SelectorConfig defaults() {
        return DEFAULTS;
    }

    /** Consecutive over-budget runs that switch one width down (K). */
    public int downAfter() {
        return downAfter;
    }

    /** Consecutive runs under {@code budget * (1 - upMargin)} that try one width up (M). */
    public int upAfter() {
        return upAfter;
    }

    public double upMargin() {
        return upMargin;
    }

    /** Runs of the current model between probes of its wider neighbour (P). */
    public int probeEvery() {
        return probeEvery;
    }

    public Mode mode() {
        return mode;
    }

    public int windowSize() {
        return windowSize;
    }

    public int warmupRuns() {
        return warmupRuns;
    }

    public double emaAlpha() {
        return emaAlpha;
    }

    public SelectorConfig withDownAfter(int value) {
        return new SelectorConfig(value, upAfter, upMargin, probeEvery, mode, windowSize,
                warmupRuns, emaAlpha);
    }

    public SelectorConfig withUpAfter(int value) {
        return new SelectorConfig(downAfter, value, upMargin, probeEvery, mode, windowSize,
                warmupRuns, emaAlpha);
    }

    public SelectorConfig withUpMargin(double value) {
        return new SelectorConfig(downAfter, upAfter, value, probeEvery, mode, windowSize,
                warmupRuns, emaAlpha);
    }

    public SelectorConfig withProbeEvery(int value) {
        return new SelectorConfig(downAfter, upAfter, upMargin, value, mode, windowSize,
                warmupRuns, emaAlpha);
    }

    public SelectorConfig withMode(Mode value) {
        return new SelectorConfig(downAfter, upAfter, upMargin, probeEvery, value, windowSize,
                warmupRuns, emaAlpha);
    }

    public SelectorConfig withWindowSize(int value) {
        return new SelectorConfig(downAfter, upAfter, upMargin, probeEvery, mode, value,
                warmupRuns, emaAlpha);
    }

    public SelectorConfig withWarmupRuns(int value) {
        return new SelectorConfig(downAfter, upAfter, upMargin, probeEvery, mode, windowSize,
                value, emaAlpha);
    }

    public SelectorConfig withEmaAlpha(double value) {
        return new SelectorConfig(downAfter, upAfter, upMargin, probeEvery, mode, windowSize,
                warmupRuns, value);
    }

    /** A fresh tracker with this config's window, warm-up and EMA parameters. */
    public LatencyTracker newTracker() {
        return new LatencyTracker(windowSize, warmupRuns, emaAlpha);
    }
}
