package org.slimkeras.core;

/**
 * Runs exported models. The Android app plugs in LiteRT; tests plug in a fake with scripted
 * latencies. An engine keeps every loaded model ready so switching width costs nothing.
 */
public interface InferenceEngine extends AutoCloseable {
    /**
     * Loads {@code model} so that {@link #run} can use it.
     *
     * @throws Exception if the model cannot be loaded (bad file, unsupported op, delegate error)
     */
    void load(ModelEntry model) throws Exception;

    /**
     * Runs one inference.
     *
     * @param input preprocessed input, NHWC floats (see {@link Preprocessor}); the engine
     *     quantizes it if the model's input is int8/uint8 (see {@link TensorCodec})
     * @return scores and the measured latency
     * @throws IllegalStateException if {@code model} was not loaded
     */
    InferenceResult run(ModelEntry model, float[] input);

    /** Releases every loaded model. */
    @Override
    void close();
}
