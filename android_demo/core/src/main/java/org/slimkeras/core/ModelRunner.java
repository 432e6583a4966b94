package org.slimkeras.core;

/**
 * Runs one model once for {@link WidthSelector#step}: real inference in the app, a latency
 * looked up in a trace when replaying one.
 *
 * @param <M> the model type of the selector
 */
public interface ModelRunner<M> {
    /**
     * Runs {@code model} once.
     *
     * @return the measured latency of the run in ms
     * @throws RuntimeException if the run fails; {@link WidthSelector#step} passes it on
     */
    double run(M model);
}
