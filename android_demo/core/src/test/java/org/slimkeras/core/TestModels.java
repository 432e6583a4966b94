package org.slimkeras.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Test fixture: ModelEntry objects without a manifest file. */
final class TestModels {
    static final double[] WIDTHS = {0.25, 0.5, 0.75, 1.0};
    /** Base latencies of the widths above, as in android_demo/traces/make_traces.py. */
    static final double[] BASE_MS = {0.9, 1.6, 2.6, 3.9};

    private TestModels() {
    }

    /** A float32 model with a 28x28x1 input and 10 outputs. */
    static ModelEntry entry(String id, double width, double top1) {
        TensorSpec input = new TensorSpec(new int[] {1, 28, 28, 1}, TensorSpec.DType.FLOAT32, null);
        TensorSpec output = new TensorSpec(new int[] {1, 10}, TensorSpec.DType.FLOAT32, null);
        return new ModelEntry(id, width, null, Precision.FP32, id + ".tflite",
                "0000000000000000000000000000000000000000000000000000000000000000", 1, input,
                output, 1000, 100, top1, Collections.<Integer, LatencyStats>emptyMap());
    }

    /** Models w0.25 … w1.0 and a fake engine with {@link #BASE_MS} latencies. */
    static List<ModelEntry> fourWidths(FakeInferenceEngine engine) {
        List<ModelEntry> models = new ArrayList<>();
        for (int i = 0; i < WIDTHS.length; i++) {
            ModelEntry model = entry("w" + WIDTHS[i], WIDTHS[i], 0.86 + 0.01 * i);
            engine.latency(model.id(), BASE_MS[i]);
            models.add(model);
        }
        return models;
    }
}
