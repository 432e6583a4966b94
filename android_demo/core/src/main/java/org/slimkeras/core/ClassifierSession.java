package org.slimkeras.core;

import java.util.List;
import java.util.Map;
import java.util.function.DoubleSupplier;

/**
 * The app's session over the uniform widths of one precision: opening it loads and benchmarks
 * every width and applies the latest budget; {@link #classifyFrame} is the per-frame chain
 * ({@link FrameConverter#toModelPixels} → {@link Preprocessor#normalize} →
 * {@link AdaptiveClassifier#classify} → {@link Prediction#topK} → the width's p90), skipping a
 * frame whose run throws. The Android activity only binds it to the camera, the UI and
 * LiteRT; one worker thread opens, uses and closes a session.
 */
public final class ClassifierSession implements AutoCloseable {
    /** What one frame showed: the model, its top classes, its latency and the p90 of its window. */
    public static final class Frame {
        private final ModelEntry model;
        private final List<Prediction> top;
        private final double latencyMs;
        private final double p90Ms;

        Frame(ModelEntry model, List<Prediction> top, double latencyMs, double p90Ms) {
            this.model = model;
            this.top = top;
            this.latencyMs = latencyMs;
            this.p90Ms = p90Ms;
        }

        public ModelEntry model() {
            return model;
        }

        /** Best classes first, with probabilities whatever the model outputs. */
        public List<Prediction> top() {
            return top;
        }

        public double latencyMs() {
            return latencyMs;
        }

        public double p90Ms() {
            return p90Ms;
        }
    }

    private final Manifest manifest;
    private final AdaptiveClassifier classifier;
    private final int topK;

    private ClassifierSession(Manifest manifest, AdaptiveClassifier classifier, int topK) {
        this.manifest = manifest;
        this.classifier = classifier;
        this.topK = topK;
    }

    /**
     * Loads every uniform model of {@code precision} into {@code engine}, benchmarks each
     * {@code benchmarkRuns} times on a black frame, then applies {@code budgetMs} as it is
     * after the benchmark (the user may have moved the slider meanwhile).
     *
     * @param topK classes shown per frame
     * @throws NoUsableModelException if no model could be loaded and benchmarked; the engine
     *     is closed and the exception lists every model's failure
     */
    public static ClassifierSession open(Manifest manifest, Precision precision, InferenceEngine engine,
                                         DoubleSupplier budgetMs, SelectorConfig config, int benchmarkRuns,
                                         int topK) {
        AdaptiveClassifier classifier = new AdaptiveClassifier(engine, manifest.uniformModels(precision),
                budgetMs.getAsDouble(), config);
        Preprocessing p = manifest.preprocessing();
        float[] black = Preprocessor.normalize(blackPixels(p.height() * p.width()), p);
        try {
            classifier.start(black, benchmarkRuns);
        } catch (NoUsableModelException e) {
            Map<String, Exception> failures = classifier.failures();
            classifier.close();
            throw new NoUsableModelException("no " + precision.jsonName() + " model could be loaded and run",
                    failures);
        }
        classifier.setBudget(budgetMs.getAsDouble());
        return new ClassifierSession(manifest, classifier, topK);
    }

    /**
     * Classifies one camera frame with the current width, or returns null when that run threw
     * (the model is marked failed, the selector re-picked, and the next frame uses the new
     * width; {@link #failures} says why).
     *
     * @param rotationDegrees clockwise rotation that makes the frame upright
     * @param invert whether to invert the colours first
     * @throws NoUsableModelException when the last usable model failed
     */
    public Frame classifyFrame(ArgbImage frame, int rotationDegrees, boolean invert) {
        Preprocessing p = manifest.preprocessing();
        float[] input = Preprocessor.normalize(FrameConverter.toModelPixels(frame, rotationDegrees, p, invert), p);
        AdaptiveClassifier.Outcome outcome;
        try {
            outcome = classifier.classify(input);
        } catch (NoUsableModelException e) {
            throw e;
        } catch (RuntimeException e) {
            return null;
        }
        return new Frame(outcome.model(), Prediction.topK(outcome.result().scores(), manifest, topK),
                outcome.result().latencyMs(), classifier.tracker(outcome.model()).p90());
    }

    /** Changes the budget and re-picks at once (any thread). */
    public ModelEntry setBudget(double ms) {
        return classifier.setBudget(ms);
    }

    /** The model that classifies the next frame. */
    public ModelEntry current() {
        return classifier.current();
    }

    /** Models that failed to load or run: id → cause, in order of failure. */
    public Map<String, Exception> failures() {
        return classifier.failures();
    }

    /** Closes the engine and every model in it. */
    @Override
    public void close() {
        classifier.close();
    }

    private static int[] blackPixels(int count) {
        int[] pixels = new int[count];
        java.util.Arrays.fill(pixels, 0xFF000000);
        return pixels;
    }
}
