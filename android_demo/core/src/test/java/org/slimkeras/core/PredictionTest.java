package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

class PredictionTest {
    @Test
    void topKIsSortedAndTiesKeepTheLowerIndex() {
        List<Prediction> top = Prediction.topK(new float[] {0.1f, 0.5f, 0.2f, 0.5f},
                Arrays.asList("a", "b", "c", "d"), 3);
        assertEquals(3, top.size());
        assertEquals("b", top.get(0).label());
        assertEquals("d", top.get(1).label());
        assertEquals(2, top.get(2).index());
        assertEquals(0.2f, top.get(2).score());
    }

    @Test
    void kLargerThanTheClassCountReturnsEveryClass() {
        assertEquals(2, Prediction.topK(new float[] {1f, 2f}, Arrays.asList("x", "y"), 5).size());
    }
}
