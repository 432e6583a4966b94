package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class BudgetScaleTest {
    @Test
    void theSliderSpansTheRangeLogarithmically() {
        assertEquals(0.05, BudgetScale.toMs(0), 1e-12);
        assertEquals(50.0, BudgetScale.toMs(1000), 1e-9);
        assertEquals(Math.sqrt(0.05 * 50.0), BudgetScale.toMs(500), 1e-9); // geometric middle
        assertEquals(0.5, BudgetScale.toMs(1000 / 3), 0.5 * 0.01); // a decade per third
    }

    @Test
    void toProgressInvertsToMsAndRoundsToTheNearestStep() {
        for (int progress = 0; progress <= BudgetScale.STEPS; progress++) {
            assertEquals(progress, BudgetScale.toProgress(BudgetScale.toMs(progress)));
        }
        // 1 ms: 1000 * ln(20) / ln(1000) = 433.68
        assertEquals(434, BudgetScale.toProgress(1.0));
    }

    @Test
    void toProgressClampsOutOfRangeBudgets() {
        assertEquals(0, BudgetScale.toProgress(0.001));
        assertEquals(0, BudgetScale.toProgress(0.0));
        assertEquals(1000, BudgetScale.toProgress(500.0));
    }
}
