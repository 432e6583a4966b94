package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Fake-engine scenarios with a 3.0 ms budget (base latencies 0.9 / 1.6 / 2.6 / 3.9 ms, no
 * noise) and 8 start-up benchmark runs, so every switch point can be derived by hand.
 */
class AdaptiveClassifierTest {
    private static final float[] INPUT = new float[28 * 28];

    private final FakeInferenceEngine engine = new FakeInferenceEngine();
    private final List<ModelEntry> models = TestModels.fourWidths(engine);

    private AdaptiveClassifier started(SelectorConfig config) {
        AdaptiveClassifier classifier = new AdaptiveClassifier(engine, models, 3.0, config);
        classifier.start(INPUT, 8);
        return classifier;
    }

    /** Frames after which the next model differs, as "frame:width". */
    private static List<String> switchPoints(List<AdaptiveClassifier.Outcome> outcomes) {
        List<String> points = new ArrayList<>();
        for (int t = 0; t < outcomes.size(); t++) {
            if (outcomes.get(t).next() != outcomes.get(t).model()) {
                points.add(t + ":" + outcomes.get(t).next().width());
            }
        }
        return points;
    }

    @Test
    void startPicksTheWidestModelThatFits() {
        AdaptiveClassifier classifier = started(SelectorConfig.defaults());
        assertSame(models.get(2), classifier.current());
        assertEquals(5, classifier.tracker(models.get(3)).count()); // 8 runs - 3 warm-up
        assertEquals(32, engine.runs().size());
    }

    @Test
    void thermalRampStepsDownOnceAndOverBudgetProbesKeepItThere() {
        AdaptiveClassifier classifier = started(SelectorConfig.defaults());
        List<AdaptiveClassifier.Outcome> outcomes = new ArrayList<>();
        List<Integer> probeFrames = new ArrayList<>();
        for (int t = 0; t < 200; t++) {
            engine.setLoadFactor(1 + 0.6 * Math.min(1, t / 100.0));
            AdaptiveClassifier.Outcome outcome = classifier.classify(INPUT);
            outcomes.add(outcome);
            if (outcome.probe() != null) {
                probeFrames.add(t);
                assertSame(models.get(2), outcome.probe());
            }
        }
        // 2.6 ms x (1 + 0.006 t) exceeds 3.0 from t = 26: three over-budget runs at 26-28.
        // At 0.5 the runs are under 2.55 ms until t = 98, but 0.75's last sample is over
        // budget at every check (the runs at 26-28, then the probes at 78 and later, all
        // > 3.0 ms as the load only rises), so it never steps back up.
        assertEquals(Arrays.asList("28:0.5"), switchPoints(outcomes));
        assertEquals(Arrays.asList(78, 128, 178), probeFrames);
    }

    @Test
    void backgroundSpikeStepsDownTwiceAndRecoversAtTheFirstProbesWithinBudget() {
        SelectorConfig config = SelectorConfig.defaults().withWindowSize(5).withProbeEvery(10);
        AdaptiveClassifier classifier = started(config);
        List<AdaptiveClassifier.Outcome> outcomes = new ArrayList<>();
        for (int t = 0; t < 250; t++) {
            engine.setLoadFactor(t >= 50 && t < 90 ? 2.0 : 1.0);
            outcomes.add(classifier.classify(INPUT));
        }
        // 52: third run of 0.75 at 5.2 ms; 55: third run of 0.5 at 3.2 ms. At 0.25 (1.8 ms,
        // under 2.55) the checks at 65, 75, 85, 95 see 0.5's last sample at 3.2 ms (its run
        // at 55, then the probes at 65, 75, 85 during the spike); the probe at 95 takes
        // 1.6 ms, so the check at 105 steps up. At 0.5 the check at 115 still sees 0.75's
        // 5.2 ms run at 52; the probe at 115 takes 2.6 ms, so the check at 125 steps up.
        assertEquals(Arrays.asList("52:0.5", "55:0.25", "105:0.5", "125:0.75"),
                switchPoints(outcomes));
    }

    @Test
    void aModelThatFailsToLoadIsNeverRun() {
        engine.failToLoad("w1.0");
        AdaptiveClassifier classifier = new AdaptiveClassifier(engine, models, 10.0,
                SelectorConfig.defaults());
        assertSame(models.get(2), classifier.start(INPUT, 8));
        assertTrue(classifier.failures().containsKey("w1.0"));
        for (int t = 0; t < 120; t++) {
            AdaptiveClassifier.Outcome outcome = classifier.classify(INPUT);
            assertNull(outcome.probe());
            assertSame(models.get(2), outcome.next());
        }
        assertFalse(engine.runs().contains("w1.0"));
    }

    @Test
    void aModelThatFailsItsStartupBenchmarkIsMarkedFailed() {
        engine.failToRun("w1.0");
        AdaptiveClassifier classifier = started(SelectorConfig.defaults());
        assertTrue(classifier.failures().containsKey("w1.0"));
        assertSame(models.get(2), classifier.current());
    }

    @Test
    void aCurrentModelThatFailsToRunIsReplacedAtOnce() {
        AdaptiveClassifier classifier = started(SelectorConfig.defaults());
        engine.failToRun("w0.75");
        assertThrows(IllegalStateException.class, () -> classifier.classify(INPUT));
        assertTrue(classifier.failures().containsKey("w0.75"));
        assertSame(models.get(1), classifier.current());
        assertSame(models.get(1), classifier.classify(INPUT).model());
    }

    @Test
    void aFailingProbeIsRecordedAndTheFrameStillClassified() {
        AdaptiveClassifier classifier = started(SelectorConfig.defaults().withProbeEvery(2));
        assertSame(models.get(1), classifier.setBudget(2.0));
        engine.failToRun("w0.75");
        assertNull(classifier.classify(INPUT).probe());
        AdaptiveClassifier.Outcome outcome = classifier.classify(INPUT);
        assertSame(models.get(2), outcome.probe());
        assertTrue(classifier.failures().containsKey("w0.75"));
        assertEquals(10, outcome.result().scores().length);
        assertSame(models.get(1), outcome.next());
        classifier.classify(INPUT);
        assertSame(models.get(3), classifier.classify(INPUT).probe()); // skips failed 0.75
    }

    @Test
    void budgetChangesSwitchAtOnce() {
        AdaptiveClassifier classifier = started(SelectorConfig.defaults());
        assertSame(models.get(3), classifier.setBudget(5.0));
        assertSame(models.get(0), classifier.setBudget(1.0));
        assertSame(models.get(0), classifier.classify(INPUT).model());
    }

    @Test
    void everyModelFailingToLoadThrows() {
        for (ModelEntry model : models) {
            engine.failToLoad(model.id());
        }
        AdaptiveClassifier classifier = new AdaptiveClassifier(engine, models, 3.0,
                SelectorConfig.defaults());
        assertThrows(NoUsableModelException.class, () -> classifier.start(INPUT, 8));
        assertEquals(4, classifier.failures().size());
    }

    @Test
    void classifyBeforeStartThrowsAndCloseClosesTheEngine() {
        AdaptiveClassifier classifier = new AdaptiveClassifier(engine, models, 3.0,
                SelectorConfig.defaults());
        assertThrows(IllegalStateException.class, () -> classifier.classify(INPUT));
        classifier.close();
        assertTrue(engine.isClosed());
    }
}
