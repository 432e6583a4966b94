package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class PreprocessorTest {
    @Test
    void grayscaleNormalizesWithTheManifestMeanAndStd() {
        Preprocessing p = new Preprocessing(1, 2, 1, 255.0, new double[] {0.286},
                new double[] {0.353});
        int white = 0xffffffff;
        int red = 0xffff0000;
        float[] out = Preprocessor.normalize(new int[] {white, red}, p);
        assertEquals((1.0 - 0.286) / 0.353, out[0], 1e-5);
        assertEquals((0.299 - 0.286) / 0.353, out[1], 1e-5); // luma of pure red
    }

    @Test
    void rgbKeepsChannelsInterleaved() {
        Preprocessing p = new Preprocessing(1, 1, 3, 255.0, new double[] {0.5, 0.5, 0.5},
                new double[] {0.5, 0.25, 1.0});
        float[] out = Preprocessor.normalize(new int[] {0xff00ff00}, p);
        assertEquals(-1.0, out[0], 1e-6);
        assertEquals(2.0, out[1], 1e-6);
        assertEquals(-0.5, out[2], 1e-6);
    }

    @Test
    void wrongPixelCountThrows() {
        Preprocessing p = new Preprocessing(2, 2, 1, 255.0, new double[] {0}, new double[] {1});
        assertThrows(IllegalArgumentException.class, () -> Preprocessor.normalize(new int[3], p));
    }
}
