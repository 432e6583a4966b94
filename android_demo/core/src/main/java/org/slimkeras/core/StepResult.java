package org.slimkeras.core;

/**
 * What one {@link WidthSelector#step} did: the model it ran and its latency, the probe it ran
 * after it (if one was due) and the probe's latency, and the model the next step will run.
 *
 * @param <M> the model type of the selector
 */
public final class StepResult<M> {
    private final M model;
    private final double ms;
    private final M probe;
    private final double probeMs;
    private final M next;

    StepResult(M model, double ms, M probe, double probeMs, M next) {
        this.model = model;
        this.ms = ms;
        this.probe = probe;
        this.probeMs = probeMs;
        this.next = next;
    }

    /** The model that was current at the start of the step and ran first. */
    public M model() {
        return model;
    }

    /** Latency of {@link #model()}'s run in ms. */
    public double ms() {
        return ms;
    }

    /** The wider neighbour probed after it, or null if no probe was due. */
    public M probe() {
        return probe;
    }

    /** Latency of the probe in ms, or NaN without a probe. */
    public double probeMs() {
        return probeMs;
    }

    /** The current model after the step: the one the next step runs. */
    public M next() {
        return next;
    }
}
