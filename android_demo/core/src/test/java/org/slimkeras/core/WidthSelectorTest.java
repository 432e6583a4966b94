package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slimkeras.core.SelectorConfig.Mode;

/**
 * The selector rules, with expectations derived by hand from the rules (the same cases are
 * in tests/test_switch_policy.py). Budget 10 ms: the under-margin threshold is 8.5 ms.
 */
class WidthSelectorTest {
    private static final double BUDGET = 10.0;
    private static final SelectorConfig NO_WARMUP = SelectorConfig.defaults().withWarmupRuns(0);

    private List<Trace.Model> models;

    private WidthSelector<Trace.Model> benchmarked(SelectorConfig config, double[] top1,
                                                   Double... ms) {
        models = Arrays.asList(new Trace.Model(0.25, top1[0]), new Trace.Model(0.5, top1[1]),
                new Trace.Model(0.75, top1[2]));
        WidthSelector<Trace.Model> selector = new WidthSelector<>(models, BUDGET, config);
        for (int i = 0; i < ms.length; i++) {
            if (ms[i] != null) {
                selector.onBenchmark(models.get(i), ms[i]);
            }
        }
        selector.pick();
        return selector;
    }

    private WidthSelector<Trace.Model> benchmarked(SelectorConfig config, Double... ms) {
        return benchmarked(config, new double[] {0.80, 0.85, 0.90}, ms);
    }

    private WidthSelector<Trace.Model> benchmarked(Double... ms) {
        return benchmarked(NO_WARMUP, ms);
    }

    private static void repeat(WidthSelector<Trace.Model> s, Trace.Model m, double ms, int n) {
        for (int i = 0; i < n; i++) {
            s.onResult(m, ms);
        }
    }

    // pick()

    @Test
    void pickWithoutSamplesTakesTheNarrowest() {
        WidthSelector<Trace.Model> s = benchmarked((Double) null, null, null);
        assertSame(models.get(0), s.current());
    }

    @Test
    void pickTakesTheWidestThatFits() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 12.0);
        assertSame(models.get(1), s.current());
    }

    @Test
    void pickWithNothingFittingTakesTheLowestP90() {
        WidthSelector<Trace.Model> s = benchmarked(11.0, null, 15.0);
        assertSame(models.get(0), s.current());
        s = benchmarked((Double) null, 12.0, 11.0);
        assertSame(models.get(2), s.current());
    }

    @Test
    void maxAccuracyTakesTheMostAccurateAndTheNarrowerOnTies() {
        SelectorConfig config = NO_WARMUP.withMode(Mode.MAX_ACCURACY);
        WidthSelector<Trace.Model> s =
                benchmarked(config, new double[] {0.80, 0.90, 0.85}, 5.0, 8.0, 9.0);
        assertSame(models.get(1), s.current());
        s = benchmarked(config, new double[] {0.90, 0.90, 0.85}, 5.0, 8.0, 9.0);
        assertSame(models.get(0), s.current());
    }

    @Test
    void setBudgetRepicks() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 12.0);
        assertSame(models.get(2), s.setBudget(13.0));
        assertSame(models.get(0), s.setBudget(6.0));
        assertEquals(6.0, s.budgetMs());
    }

    // switching down and up

    @Test
    void kMinusOneOverBudgetRunsStayAndKSwitchDown() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        assertSame(models.get(2), s.current());
        repeat(s, models.get(2), 11.0, 2);
        assertSame(models.get(2), s.current());
        s.onResult(models.get(2), 11.0);
        assertSame(models.get(1), s.current());
    }

    @Test
    void aRunInsideTheBandResetsTheOverCount() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        for (double ms : new double[] {11.0, 11.0, 9.5, 11.0, 11.0}) {
            s.onResult(models.get(2), ms);
        }
        assertSame(models.get(2), s.current());
    }

    @Test
    void theNarrowestModelStaysWhenOverBudget() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 12.0, 13.0);
        repeat(s, models.get(0), 11.0, 3);
        assertSame(models.get(0), s.current());
    }

    @Test
    void mUnderMarginRunsStepUpToAnUnmeasuredNeighbour() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, null);
        assertSame(models.get(1), s.current());
        repeat(s, models.get(1), 4.0, 9);
        assertSame(models.get(1), s.current());
        s.onResult(models.get(1), 4.0);
        assertSame(models.get(2), s.current());
    }

    @Test
    void steppingUpFollowsTheNeighboursLastProbeNotItsP90() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0); // window 20
        assertSame(models.get(2), s.current());
        repeat(s, models.get(2), 11.0, 3);   // down to 0.5; 0.75's window [9, 11, 11, 11]
        assertSame(models.get(1), s.current());
        repeat(s, models.get(1), 4.0, 10);
        assertSame(models.get(1), s.current()); // 0.75's last sample is 11 > 10
        s.onResult(models.get(2), 10.5);         // a probe over budget
        repeat(s, models.get(1), 4.0, 10);
        assertSame(models.get(1), s.current()); // last 10.5 > 10
        s.onResult(models.get(2), 9.0);          // a probe: [9, 11, 11, 11, 10.5, 9]
        LatencyTracker wider = s.tracker(models.get(2));
        assertEquals(11.0, wider.p90());         // sorted[ceil(5.4) - 1] = 11
        assertEquals(9.0, wider.last());
        repeat(s, models.get(1), 4.0, 9);
        assertSame(models.get(1), s.current()); // only 9 under-margin runs
        s.onResult(models.get(1), 4.0);
        assertSame(models.get(2), s.current()); // p90 11 > 10, but last 9 <= 10
    }

    @Test
    void aLastProbeOverBudgetBlocksSteppingUpEvenIfTheP90Fits() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, null);
        assertSame(models.get(1), s.current());
        repeat(s, models.get(2), 9.0, 10);   // probes of 0.75 (not current)
        s.onResult(models.get(2), 11.0);     // window [9 x 10, 11]
        LatencyTracker wider = s.tracker(models.get(2));
        assertEquals(9.0, wider.p90());      // sorted[ceil(9.9) - 1] = 9
        assertEquals(11.0, wider.last());
        repeat(s, models.get(1), 4.0, 10);
        assertSame(models.get(1), s.current()); // last 11 > 10
        s.onResult(models.get(2), 10.0);         // last 10 <= 10 (budget inclusive)
        repeat(s, models.get(1), 4.0, 10);
        assertSame(models.get(2), s.current());
    }

    @Test
    void maxAccuracyDoesNotStepUpToALessAccurateModel() {
        WidthSelector<Trace.Model> s = benchmarked(NO_WARMUP.withMode(Mode.MAX_ACCURACY),
                new double[] {0.80, 0.90, 0.85}, 5.0, 8.0, 9.0);
        repeat(s, models.get(1), 4.0, 10);
        assertSame(models.get(1), s.current());
    }

    @Test
    void resultsOfANonCurrentModelOnlyUpdateItsTracker() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        repeat(s, models.get(0), 50.0, 5);
        assertSame(models.get(2), s.current());
        assertEquals(6, s.tracker(models.get(0)).count());
    }

    // failures

    @Test
    void aFailedModelIsNeverPickedAndFailingTheCurrentRepicks() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        s.markFailed(models.get(2));
        assertSame(models.get(1), s.current());
        repeat(s, models.get(1), 4.0, 10);
        assertSame(models.get(1), s.current());
        for (int i = 0; i < 60; i++) {
            s.onResult(models.get(1), 9.0);
            assertNull(s.nextProbe());
        }
        assertSame(models.get(1), s.setBudget(100.0));
    }

    @Test
    void switchingDownSkipsAFailedModel() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        s.markFailed(models.get(1));
        repeat(s, models.get(2), 11.0, 3);
        assertSame(models.get(0), s.current());
    }

    @Test
    void everyModelFailedThrows() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        s.markFailed(models.get(0));
        s.markFailed(models.get(1));
        assertThrows(NoUsableModelException.class, () -> s.markFailed(models.get(2)));
    }

    // probes

    @Test
    void aProbeIsDueEveryPRunsOfTheCurrentModel() {
        WidthSelector<Trace.Model> s = benchmarked(NO_WARMUP.withProbeEvery(3), 5.0, 8.0, 12.0);
        assertSame(models.get(1), s.current());
        for (int i = 0; i < 2; i++) {
            s.onResult(models.get(1), 9.0);
            assertNull(s.nextProbe());
        }
        s.onResult(models.get(1), 9.0);
        assertSame(models.get(2), s.nextProbe());
        assertNull(s.nextProbe());
    }

    @Test
    void noProbeAtTheWidestModel() {
        WidthSelector<Trace.Model> s = benchmarked(NO_WARMUP.withProbeEvery(1), 5.0, 8.0, 9.0);
        s.onResult(models.get(2), 9.0);
        assertNull(s.nextProbe());
    }

    // validation

    @ParameterizedTest
    @ValueSource(doubles = {0.0, -1.0, Double.NaN, Double.POSITIVE_INFINITY})
    void badBudgetThrows(double budget) {
        List<Trace.Model> one = Collections.singletonList(new Trace.Model(0.5, 0.8));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new WidthSelector<>(one, budget, SelectorConfig.defaults()));
        assertTrue(e.getMessage().contains("budget"), e.getMessage());
    }

    @Test
    void emptyModelListThrows() {
        assertThrows(IllegalArgumentException.class, () -> new WidthSelector<Trace.Model>(
                Collections.<Trace.Model>emptyList(), BUDGET, SelectorConfig.defaults()));
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.25, 0.5})
    void widthsNotAscendingThrow(double second) {
        List<Trace.Model> bad = Arrays.asList(new Trace.Model(0.5, 0.8),
                new Trace.Model(second, 0.8));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new WidthSelector<>(bad, BUDGET, SelectorConfig.defaults()));
        assertTrue(e.getMessage().contains("ascending"), e.getMessage());
    }

    @Test
    void maxAccuracyNeedsTop1() {
        List<Trace.Model> one = Collections.singletonList(new Trace.Model(0.5, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new WidthSelector<>(one, BUDGET,
                SelectorConfig.defaults().withMode(Mode.MAX_ACCURACY)));
    }

    @Test
    void unknownModelThrows() {
        WidthSelector<Trace.Model> s = benchmarked(5.0, 8.0, 9.0);
        assertThrows(IllegalArgumentException.class,
                () -> s.onResult(new Trace.Model(0.25, 0.8), 1.0));
    }

    @Test
    void badConfigThrows() {
        assertThrows(IllegalArgumentException.class,
                () -> SelectorConfig.defaults().withDownAfter(0));
        assertThrows(IllegalArgumentException.class,
                () -> SelectorConfig.defaults().withUpMargin(1.0));
        assertThrows(IllegalArgumentException.class,
                () -> SelectorConfig.defaults().withWindowSize(0));
        assertThrows(IllegalArgumentException.class,
                () -> SelectorConfig.defaults().withMode(null));
    }
}
