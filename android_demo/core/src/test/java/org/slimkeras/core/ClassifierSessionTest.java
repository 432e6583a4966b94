package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The session the app opens per precision, and its per-frame chain, on a fake engine: the
 * uniform int8 widths 0.25 / 0.5 / 1.0 of {@link TestManifests#withOutputKind} with base
 * latencies 0.9 / 1.6 / 3.9 ms.
 */
class ClassifierSessionTest {
    private final Manifest manifest = parse();
    private final FakeInferenceEngine engine = new FakeInferenceEngine()
            .latency("w0.25_int8", 0.9).latency("w0.5_int8", 1.6).latency("w1.0_int8", 3.9);

    private static Manifest parse() {
        try {
            return ManifestParser.parseJson(JsonWriter.write(TestManifests.withOutputKind("probabilities")));
        } catch (ManifestException e) {
            throw new AssertionError(e);
        }
    }

    private ClassifierSession open(double... budgets) {
        Iterator<Double> next = Arrays.stream(budgets).boxed().iterator();
        double[] last = {budgets[0]};
        return ClassifierSession.open(manifest, Precision.INT8, engine,
                () -> next.hasNext() ? (last[0] = next.next()) : last[0], SelectorConfig.defaults(), 8, 3);
    }

    /** A 40 × 30 frame of varied colours: the chain crops, resizes and greys it. */
    private static ArgbImage frame() {
        int[] pixels = new int[40 * 30];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = 0xFF000000 | (i * 7919) & 0xFFFFFF;
        }
        return new ArgbImage(40, 30, pixels);
    }

    @Test
    void openBenchmarksEveryWidthThenAppliesTheBudgetOfAfterTheBenchmark() {
        ClassifierSession session = open(10.0, 2.0);  // the slider moved to 2 ms while benchmarking
        assertEquals(24, engine.runs().size());       // 3 widths x 8 runs
        assertEquals("w0.5_int8", session.current().id());
        assertEquals("w1.0_int8", session.setBudget(5.0).id());
    }

    @Test
    void aFrameGoesThroughTheAppsChainToProbabilitiesAndTheP90() {
        ClassifierSession session = open(5.0);
        ClassifierSession.Frame shown = session.classifyFrame(frame(), 90, true);
        assertNotNull(shown);
        assertSame(manifest.uniformModels(Precision.INT8).get(2), shown.model());
        Preprocessing p = manifest.preprocessing();
        float[] expected = Preprocessor.normalize(FrameConverter.toModelPixels(frame(), 90, p, true), p);
        assertArrayEquals(expected, engine.lastInput());
        List<Prediction> top = shown.top();
        assertEquals(3, top.size());
        assertEquals(1f, top.get(0).score());              // the fake's one-hot scores, as probabilities
        assertEquals(3.9, shown.latencyMs(), 1e-12);
        assertEquals(3.9, shown.p90Ms(), 1e-12);
    }

    @Test
    void aFrameWhoseRunThrowsIsSkippedAndTheNextUsesANarrowerWidth() {
        ClassifierSession session = open(5.0);
        engine.failToRun("w1.0_int8");
        assertNull(session.classifyFrame(frame(), 0, false));
        assertTrue(session.failures().containsKey("w1.0_int8"));
        ClassifierSession.Frame next = session.classifyFrame(frame(), 0, false);
        assertEquals("w0.5_int8", next.model().id());
    }

    @Test
    void noUsableModelClosesTheEngineAndListsEveryFailure() {
        engine.failToLoad("w0.25_int8").failToLoad("w0.5_int8").failToLoad("w1.0_int8");
        NoUsableModelException e = assertThrows(NoUsableModelException.class, () -> open(5.0));
        assertEquals(Arrays.asList("w0.25_int8", "w0.5_int8", "w1.0_int8"),
                Arrays.asList(e.failures().keySet().toArray()));
        assertTrue(e.getMessage().contains("no int8 model"));
        assertTrue(engine.isClosed());
    }

    @Test
    void theLastUsableModelFailingInAFrameIsNoUsableModel() {
        ClassifierSession session = open(5.0);
        engine.failToRun("w0.25_int8").failToRun("w0.5_int8").failToRun("w1.0_int8");
        assertNull(session.classifyFrame(frame(), 0, false));
        assertNull(session.classifyFrame(frame(), 0, false));
        assertThrows(NoUsableModelException.class, () -> session.classifyFrame(frame(), 0, false));
    }

    @Test
    void closeClosesTheEngine() {
        open(5.0).close();
        assertTrue(engine.isClosed());
    }

    @Test
    void aLoadedTensorIsCheckedAgainstTheManifest() {
        TensorSpec input = manifest.uniformModels(Precision.INT8).get(0).input();
        input.checkLoaded("input", new int[] {1, 28, 28, 1}, TensorSpec.DType.INT8);
        IllegalStateException shape = assertThrows(IllegalStateException.class,
                () -> input.checkLoaded("input", new int[] {-1, 28, 28, 1}, TensorSpec.DType.INT8));
        assertEquals("input shape [-1, 28, 28, 1] differs from the manifest's [1, 28, 28, 1]", shape.getMessage());
        IllegalStateException type = assertThrows(IllegalStateException.class,
                () -> input.checkLoaded("output", new int[] {1, 28, 28, 1}, TensorSpec.DType.FLOAT32));
        assertEquals("output type FLOAT32 differs from the manifest's INT8", type.getMessage());
    }
}
