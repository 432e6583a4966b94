package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Hand-computed expectations; the same cases are in tests/test_switch_policy.py. */
class LatencyTrackerTest {
    @Test
    void discardsWarmupAndIsNanWhenEmpty() {
        LatencyTracker tracker = new LatencyTracker(4, 2, 0.5);
        tracker.add(100);
        tracker.add(200);
        assertEquals(2, tracker.warmupSeen());
        assertEquals(0, tracker.count());
        assertTrue(Double.isNaN(tracker.mean()));
        assertTrue(Double.isNaN(tracker.p50()));
        assertTrue(Double.isNaN(tracker.p90()));
        assertTrue(Double.isNaN(tracker.ema()));
        assertTrue(Double.isNaN(tracker.last()));
    }

    @Test
    void statisticsMatchHandComputedValues() {
        LatencyTracker tracker = new LatencyTracker(4, 2, 0.5);
        for (double ms : new double[] {100, 200, 1, 2, 3}) {
            tracker.add(ms);
        }
        assertEquals(3, tracker.count());
        assertEquals(2.0, tracker.mean());
        assertEquals(2.0, tracker.p50());  // sorted[ceil(1.5) - 1]
        assertEquals(3.0, tracker.p90());  // sorted[ceil(2.7) - 1]
        assertEquals(2.25, tracker.ema()); // 1 -> 1.5 -> 2.25
        assertEquals(3.0, tracker.last());
        tracker.add(10);
        tracker.add(20);                   // window is now [2, 3, 10, 20]
        assertEquals(20.0, tracker.last());
        assertEquals(4, tracker.count());
        assertEquals(8.75, tracker.mean());
        assertEquals(3.0, tracker.p50());  // sorted[ceil(2.0) - 1]
        assertEquals(20.0, tracker.p90()); // sorted[ceil(3.6) - 1]
        assertEquals(13.0625, tracker.ema()); // 6.125 -> 13.0625
    }

    @ParameterizedTest
    @CsvSource({"10, 5, 9", "20, 10, 18", "7, 4, 7"})
    void nearestRankOnExactMultiples(int n, double p50, double p90) {
        LatencyTracker tracker = new LatencyTracker(n, 0, 0.2);
        for (int ms = n; ms >= 1; ms--) {
            tracker.add(ms);
        }
        assertEquals(p50, tracker.p50());
        assertEquals(p90, tracker.p90());
    }

    @Test
    void defaultsAreWindow20Warmup3() {
        LatencyTracker tracker = new LatencyTracker();
        for (int i = 0; i < 3; i++) {
            tracker.add(5);
        }
        assertEquals(0, tracker.count());
        for (int i = 0; i < 25; i++) {
            tracker.add(i);
        }
        assertEquals(20, tracker.count());
        assertEquals(5.0 + 17, tracker.p90()); // window 5..24, sorted[17]
    }

    @Test
    void rejectsBadParameters() {
        assertThrows(IllegalArgumentException.class, () -> new LatencyTracker(0, 3, 0.2));
        assertThrows(IllegalArgumentException.class, () -> new LatencyTracker(20, -1, 0.2));
        assertThrows(IllegalArgumentException.class, () -> new LatencyTracker(20, 3, 0.0));
        assertThrows(IllegalArgumentException.class, () -> new LatencyTracker(20, 3, 1.5));
    }

    @ParameterizedTest
    @ValueSource(doubles = {-1.0, Double.NaN, Double.POSITIVE_INFINITY})
    void rejectsBadSamples(double ms) {
        assertThrows(IllegalArgumentException.class, () -> new LatencyTracker().add(ms));
    }
}
