package org.slimkeras.core;

/**
 * Latency of one model measured by the exporter's benchmark at one thread count
 * (a value of {@code "latency_ms"} in manifest.json). All times are milliseconds.
 */
public final class LatencyStats {
    private final double init;
    private final double first;
    private final double warmupMean;
    private final double mean;
    private final double std;
    private final double p50;
    private final double p90;
    private final int runs;

    public LatencyStats(double init, double first, double warmupMean, double mean, double std,
                        double p50, double p90, int runs) {
        this.init = init;
        this.first = first;
        this.warmupMean = warmupMean;
        this.mean = mean;
        this.std = std;
        this.p50 = p50;
        this.p90 = p90;
        this.runs = runs;
    }

    /** Time to create the interpreter. */
    public double init() {
        return init;
    }

    /** The first inference. */
    public double first() {
        return first;
    }

    /** Mean of the warm-up runs. */
    public double warmupMean() {
        return warmupMean;
    }

    /** Steady-state mean. */
    public double mean() {
        return mean;
    }

    public double std() {
        return std;
    }

    public double p50() {
        return p50;
    }

    public double p90() {
        return p90;
    }

    /** Number of steady-state runs. */
    public int runs() {
        return runs;
    }
}
