package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scores the app shows are probabilities for both output kinds: a manifest fixture plus a
 * model output tensor, decoded and ranked as the app does ({@link TensorCodec#decode}, then
 * {@link Prediction#topK(float[], Manifest, int)}).
 */
class ShownScoresTest {
    /** Probability of class k (0-based) in the fixtures below: (k + 1) / 55. */
    private static final double[] EXPECTED = new double[10];

    static {
        for (int k = 0; k < 10; k++) {
            EXPECTED[k] = (k + 1) / 55.0;
        }
    }

    @TempDir
    File dir;

    private Manifest parsed(String outputKind) throws Exception {
        TestManifests.write(dir, TestManifests.withOutputKind(outputKind));
        return new ManifestParser(new DirectoryModelSource(dir)).parse();
    }

    /** The fp32 model (id w1.0_fp32) of the fixture. */
    private static ModelEntry fp32(Manifest manifest) {
        return manifest.models().get(3);
    }

    private static ByteBuffer floats(float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.nativeOrder());
        for (float v : values) {
            buffer.putFloat(v);
        }
        return buffer;
    }

    /** Every class shown, as the app ranks them, with the checks every shown list must pass. */
    private static List<Prediction> shown(float[] output, Manifest manifest) {
        List<Prediction> all = Prediction.topK(output, manifest, output.length);
        double sum = 0;
        for (Prediction p : all) {
            assertTrue(p.score() >= 0 && p.score() <= 1, p.toString());
            sum += p.score();
        }
        assertTrue(sum <= 1 + 1e-6, "scores sum to " + sum);
        return all;
    }

    @Test
    void logitsAreShownAsTheirSoftmax() throws Exception {
        Manifest manifest = parsed("logits");
        float[] logits = new float[10];
        for (int k = 0; k < 10; k++) {
            logits[k] = (float) (Math.log(k + 1) + 4.2); // softmax ignores the shift
        }
        float[] output = TensorCodec.decode(floats(logits), fp32(manifest).output());
        List<Prediction> all = shown(output, manifest);
        assertEquals("Ankle boot", all.get(0).label());
        for (Prediction p : all) {
            assertEquals(EXPECTED[p.index()], p.score(), 1e-6, p.label());
        }
    }

    @Test
    void largeLogitsDoNotOverflow() throws Exception {
        Manifest manifest = parsed("logits");
        float[] logits = {1000f, 999f, -1000f, 0f, 0f, 0f, 0f, 0f, 0f, 0f};
        List<Prediction> all = shown(logits, manifest);
        double e = Math.exp(-1);
        assertEquals(1 / (1 + e), all.get(0).score(), 1e-6);
        assertEquals(e / (1 + e), all.get(1).score(), 1e-6);
    }

    @Test
    void aManifestWithoutOutputKindIsReadAsLogits() throws Exception {
        TestManifests.write(dir, TestManifests.valid());
        Manifest manifest = new ManifestParser(new DirectoryModelSource(dir)).parse();
        float[] logits = {4.227f, 2.952f, 1.644f, 0f, 0f, 0f, 0f, 0f, 0f, 0f};
        List<Prediction> all = shown(logits, manifest);
        assertEquals(0, all.get(0).index());
        double sum = 0;
        for (float x : logits) {
            sum += Math.exp(x);
        }
        assertEquals(Math.exp(4.227) / sum, all.get(0).score(), 1e-6);
    }

    @Test
    void probabilitiesAreShownAsTheyAre() throws Exception {
        Manifest manifest = parsed("probabilities");
        float[] probabilities = new float[10];
        for (int k = 0; k < 10; k++) {
            probabilities[k] = (float) EXPECTED[k];
        }
        float[] output = TensorCodec.decode(floats(probabilities), fp32(manifest).output());
        List<Prediction> all = shown(output, manifest);
        for (Prediction p : all) {
            assertEquals(probabilities[p.index()], p.score(), 0.0);
        }
        assertArrayEquals(probabilities,
                Prediction.probabilities(output, OutputKind.PROBABILITIES));
    }

    @Test
    void quantizedProbabilitiesAreDequantizedNotSoftmaxed() throws Exception {
        Manifest manifest = parsed("probabilities");
        ModelEntry int8 = manifest.models().get(0); // output scale 0.0039, zero point -128
        ByteBuffer raw = ByteBuffer.allocate(10);
        int[] levels = {-128, -128, -128, -128, -128, -128, -128, -128, -51, 25}; // 77, 153
        for (int q : levels) {
            raw.put((byte) q);
        }
        List<Prediction> all = shown(TensorCodec.decode(raw, int8.output()), manifest);
        assertEquals(0.0039 * 153, all.get(0).score(), 1e-6);
        assertEquals(0.0039 * 77, all.get(1).score(), 1e-6);
        assertEquals(0.0, all.get(2).score(), 0.0);
    }
}
