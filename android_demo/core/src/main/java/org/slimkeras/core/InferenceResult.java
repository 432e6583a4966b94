package org.slimkeras.core;

/** Output of one inference: class scores and the measured time of the run itself. */
public final class InferenceResult {
    private final float[] scores;
    private final double latencyMs;

    /**
     * @param scores dequantized output, one value per label
     * @param latencyMs wall time of the model invocation only (no pre/post-processing)
     */
    public InferenceResult(float[] scores, double latencyMs) {
        this.scores = scores.clone();
        this.latencyMs = latencyMs;
    }

    public float[] scores() {
        return scores.clone();
    }

    public double latencyMs() {
        return latencyMs;
    }
}
