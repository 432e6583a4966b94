package org.slimkeras.core;

/**
 * Maps the app's budget slider position (0 … {@link #STEPS}) logarithmically onto
 * {@link #MIN_MS} … {@link #MAX_MS} milliseconds, and back.
 */
public final class BudgetScale {
    /** Slider positions: 0 … STEPS. */
    public static final int STEPS = 1000;
    public static final double MIN_MS = 0.05;
    public static final double MAX_MS = 50.0;

    private BudgetScale() {
    }

    /** {@code MIN_MS * (MAX_MS / MIN_MS)^(progress / STEPS)}. */
    public static double toMs(int progress) {
        return MIN_MS * Math.pow(MAX_MS / MIN_MS, (double) progress / STEPS);
    }

    /** The nearest slider position of {@code ms}, clamped to 0 … STEPS. */
    public static int toProgress(double ms) {
        long progress = Math.round(STEPS * Math.log(ms / MIN_MS) / Math.log(MAX_MS / MIN_MS));
        return (int) Math.max(0, Math.min(STEPS, progress));
    }
}
