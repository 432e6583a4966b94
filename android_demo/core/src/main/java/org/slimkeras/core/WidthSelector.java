package org.slimkeras.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The width-switching policy: picks the model to run from measured latencies and a budget.
 *
 * <p>Candidates are the uniform models of one precision, narrowest first (strictly increasing
 * width); each has its own {@link LatencyTracker}. A model "fits" when its tracker has samples
 * and its p90 is within the budget.
 * <ul>
 *   <li>{@link #pick()} chooses from scratch: the widest fitting model ({@link Mode#WIDEST})
 *       or the most accurate one, the narrower on a tie ({@link Mode#MAX_ACCURACY}); if none
 *       fits, the measured model with the lowest p90; if none is measured, the narrowest.</li>
 *   <li>{@link #onResult} steps one width down after {@code downAfter} consecutive runs over
 *       budget, and one width up after {@code upAfter} consecutive runs at or below
 *       {@code budget * (1 - upMargin)} if the wider neighbour is unmeasured or its most recent
 *       sample ({@link LatencyTracker#last()}) is within the budget (and, in MAX_ACCURACY
 *       mode, it is more accurate). Runs in between reset both counts.</li>
 *   <li>{@link #nextProbe()} asks for one run of the wider neighbour every
 *       {@code probeEvery} runs, to keep its statistics fresh.</li>
 *   <li>Failed models ({@link #markFailed}) are skipped by every rule.</li>
 * </ul>
 * <p>Why stepping up looks at the neighbour's last sample and not its p90: after a step down,
 * the window of the model that was left still holds the over-budget runs that caused the
 * step, and only probes add to it. Judged by its p90, the wider model would need most of its
 * window replaced by probes (up to 18 probes, ~900 runs, with the defaults) before the
 * selector could return to it; its latest probe is the fresh evidence, so one probe within
 * the budget is enough. {@link #pick()} still uses the p90 to decide what fits.
 * <p>The Python twin, {@code tflite_export.switch_policy.WidthSelector}, implements the same
 * rules; the traces in {@code android_demo/traces} check that both agree. Not thread-safe.
 *
 * @param <M> the model type, compared by identity
 */
public final class WidthSelector<M extends Candidate> {
    /** What to maximise among the models that fit the budget. */
    public enum Mode {
        /** The widest model that fits. */
        WIDEST,
        /** The most accurate model that fits (top-1; the narrower on a tie). */
        MAX_ACCURACY
    }

    /** Immutable tuning of a {@link WidthSelector}; change values with the {@code with…} methods. */
    public static final class Config {
        private static final Config DEFAULTS = new Config(3, 10, 0.15, 50, Mode.WIDEST, 20, 3, 0.2);

        private final int downAfter;
        private final int upAfter;
        private final double upMargin;
        private final int probeEvery;
        private final Mode mode;
        private final int windowSize;
        private final int warmupRuns;
        private final double emaAlpha;

        private Config(int downAfter, int upAfter, double upMargin, int probeEvery, Mode mode,
                       int windowSize, int warmupRuns, double emaAlpha) {
            requireAtLeastOne("downAfter", downAfter);
            requireAtLeastOne("upAfter", upAfter);
            requireAtLeastOne("probeEvery", probeEvery);
            if (!(upMargin >= 0 && upMargin < 1)) {
                throw new IllegalArgumentException("upMargin must be in [0, 1), got " + upMargin);
            }
            if (mode == null) {
                throw new IllegalArgumentException("mode must not be null");
            }
            new LatencyTracker(windowSize, warmupRuns, emaAlpha); // validates the tracker values
            this.downAfter = downAfter;
            this.upAfter = upAfter;
            this.upMargin = upMargin;
            this.probeEvery = probeEvery;
            this.mode = mode;
            this.windowSize = windowSize;
            this.warmupRuns = warmupRuns;
            this.emaAlpha = emaAlpha;
        }

        private static void requireAtLeastOne(String name, int value) {
            if (value < 1) {
                throw new IllegalArgumentException(name + " must be >= 1, got " + value);
            }
        }

        /** K=3, M=10, upMargin=0.15, P=50, WIDEST, window 20, 3 warm-up runs, alpha 0.2. */
        public static Config defaults() {
            return DEFAULTS;
        }

        /** Consecutive over-budget runs that switch one width down (K). */
        public int downAfter() {
            return downAfter;
        }

        /** Consecutive runs under {@code budget * (1 - upMargin)} that try one width up (M). */
        public int upAfter() {
            return upAfter;
        }

        public double upMargin() {
            return upMargin;
        }

        /** Runs of the current model between probes of its wider neighbour (P). */
        public int probeEvery() {
            return probeEvery;
        }

        public Mode mode() {
            return mode;
        }

        public int windowSize() {
            return windowSize;
        }

        public int warmupRuns() {
            return warmupRuns;
        }

        public double emaAlpha() {
            return emaAlpha;
        }

        public Config withDownAfter(int value) {
            return new Config(value, upAfter, upMargin, probeEvery, mode, windowSize,
                    warmupRuns, emaAlpha);
        }

        public Config withUpAfter(int value) {
            return new Config(downAfter, value, upMargin, probeEvery, mode, windowSize,
                    warmupRuns, emaAlpha);
        }

        public Config withUpMargin(double value) {
            return new Config(downAfter, upAfter, value, probeEvery, mode, windowSize,
                    warmupRuns, emaAlpha);
        }

        public Config withProbeEvery(int value) {
            return new Config(downAfter, upAfter, upMargin, value, mode, windowSize,
                    warmupRuns, emaAlpha);
        }

        public Config withMode(Mode value) {
            return new Config(downAfter, upAfter, upMargin, probeEvery, value, windowSize,
                    warmupRuns, emaAlpha);
        }

        public Config withWindowSize(int value) {
            return new Config(downAfter, upAfter, upMargin, probeEvery, mode, value,
                    warmupRuns, emaAlpha);
        }

        public Config withWarmupRuns(int value) {
            return new Config(downAfter, upAfter, upMargin, probeEvery, mode, windowSize,
                    value, emaAlpha);
        }

        public Config withEmaAlpha(double value) {
            return new Config(downAfter, upAfter, upMargin, probeEvery, mode, windowSize,
                    warmupRuns, value);
        }

        /** A fresh tracker with this config's window, warm-up and EMA parameters. */
        public LatencyTracker newTracker() {
            return new LatencyTracker(windowSize, warmupRuns, emaAlpha);
        }
    }

    private final List<M> models;
    private final Config config;
    private final Map<M, Integer> index = new IdentityHashMap<>();
    private final LatencyTracker[] trackers;
    private final boolean[] failed;
    private double budgetMs;
    private int current = -1;
    private int over;
    private int under;
    private int runsSinceProbe;

    /**
     * @param models candidates of one precision, strictly increasing width, not empty
     * @param budgetMs latency budget in ms (finite, > 0)
     * @throws IllegalArgumentException for an empty list, widths not ascending, a bad budget,
     *     or a model without top-1 accuracy in MAX_ACCURACY mode
     */
    public WidthSelector(List<M> models, double budgetMs, Config config) {
        if (models.isEmpty()) {
            throw new IllegalArgumentException("the model list is empty");
        }
        this.models = Collections.unmodifiableList(new ArrayList<>(models));
        this.config = config;
        for (int i = 0; i < models.size(); i++) {
            M model = models.get(i);
            if (!(model.width() > 0) || Double.isInfinite(model.width())) {
                throw new IllegalArgumentException("model width must be > 0, got " + model.width());
            }
            if (i > 0 && !(models.get(i - 1).width() < model.width())) {
                throw new IllegalArgumentException("model widths must be strictly ascending; got "
                        + models.get(i - 1).width() + " before " + model.width());
            }
            if (config.mode() == Mode.MAX_ACCURACY && Double.isNaN(model.top1())) {
                throw new IllegalArgumentException("mode MAX_ACCURACY needs top1 for every "
                        + "model; width " + model.width() + " has none");
            }
            index.put(model, i);
        }
        checkBudget(budgetMs);
        this.budgetMs = budgetMs;
        this.trackers = new LatencyTracker[models.size()];
        for (int i = 0; i < trackers.length; i++) {
            trackers[i] = config.newTracker();
        }
        this.failed = new boolean[models.size()];
    }

    /** The candidates, narrowest first. */
    public List<M> models() {
        return models;
    }

    public Config config() {
        return config;
    }

    public double budgetMs() {
        return budgetMs;
    }

    /** The model to run now, or null before the first {@link #pick()}. */
    public M current() {
        return current < 0 ? null : models.get(current);
    }

    /** The latency tracker of {@code model}. */
    public LatencyTracker tracker(M model) {
        return trackers[position(model)];
    }

    public boolean isFailed(M model) {
        return failed[position(model)];
    }

    /** Never picks {@code model} again; re-picks if it is the current model. */
    public void markFailed(M model) {
        int i = position(model);
        failed[i] = true;
        if (i == current) {
            pick();
        }
    }

    /**
     * Chooses the current model from scratch and resets the counters (see the class comment).
     *
     * @return the new current model
     * @throws NoUsableModelException if every model has failed
     */
    public M pick() {
        int chosen = -1;
        for (int i = 0; i < models.size(); i++) {
            if (!failed[i] && fits(i) && (chosen < 0 || betterFit(i, chosen))) {
                chosen = i;
            }
        }
        if (chosen < 0) {
            chosen = lowestMeasuredP90();
        }
        if (chosen < 0) {
            chosen = nextAlive(-1, +1);
        }
        if (chosen < 0) {
            throw new NoUsableModelException("every model failed to load");
        }
        switchTo(chosen);
        return models.get(chosen);
    }

    /** Records a start-up benchmark sample; changes no decision state. */
    public void onBenchmark(M model, double ms) {
        trackers[position(model)].add(ms);
    }

    /** Records a measured run and applies the switching rules if {@code model} is current. */
    public void onResult(M model, double ms) {
        int i = position(model);
        trackers[i].add(ms);
        if (i != current) {
            return; // a probe: statistics only
        }
        runsSinceProbe++;
        if (ms > budgetMs) {
            over++;
            under = 0;
            if (over >= config.downAfter()) {
                int narrower = nextAlive(i, -1);
                if (narrower >= 0) {
                    switchTo(narrower);
                }
                over = 0;
                under = 0;
            }
        } else if (ms <= budgetMs * (1.0 - config.upMargin())) {
            under++;
            over = 0;
            if (under >= config.upAfter()) {
                int wider = nextAlive(i, +1);
                if (wider >= 0 && mayStepUp(i, wider)) {
                    switchTo(wider);
                }
                over = 0;
                under = 0;
            }
        } else {
            over = 0;
            under = 0;
        }
    }

    /**
     * The wider neighbour to run once now, or null. Due every {@code probeEvery} runs of the
     * current model; report the probe's latency with {@link #onResult}.
     */
    public M nextProbe() {
        if (current < 0 || runsSinceProbe < config.probeEvery()) {
            return null;
        }
        int wider = nextAlive(current, +1);
        if (wider < 0) {
            return null;
        }
        runsSinceProbe = 0;
        return models.get(wider);
    }

    /** Changes the budget (finite, > 0) and re-picks. */
    public M setBudget(double ms) {
        checkBudget(ms);
        budgetMs = ms;
        return pick();
    }

    private static void checkBudget(double ms) {
        if (!(ms > 0) || Double.isInfinite(ms)) {
            throw new IllegalArgumentException("budget must be a finite number > 0 ms, got " + ms);
        }
    }

    private int position(M model) {
        Integer i = index.get(model);
        if (i == null) {
            throw new IllegalArgumentException(model + " is not one of this selector's models");
        }
        return i;
    }

    private boolean fits(int i) {
        return trackers[i].count() > 0 && trackers[i].p90() <= budgetMs;
    }

    /** Whether fitting model {@code i} beats the fitting model {@code best} (i > best). */
    private boolean betterFit(int i, int best) {
        if (config.mode() == Mode.WIDEST) {
            return true;
        }
        return models.get(i).top1() > models.get(best).top1();
    }

    private int lowestMeasuredP90() {
        int best = -1;
        for (int i = 0; i < models.size(); i++) {
            if (!failed[i] && trackers[i].count() > 0
                    && (best < 0 || trackers[i].p90() < trackers[best].p90())) {
                best = i;
            }
        }
        return best;
    }

    /** The nearest non-failed model from {@code i} in direction {@code step}, or -1. */
    private int nextAlive(int i, int step) {
        for (int j = i + step; j >= 0 && j < models.size(); j += step) {
            if (!failed[j]) {
                return j;
            }
        }
        return -1;
    }

    /**
     * Whether {@code upAfter} under-margin runs may switch from {@code from} to {@code wider}:
     * it is unmeasured or its most recent sample (usually a probe) is within the budget, and,
     * in MAX_ACCURACY mode, it is more accurate.
     */
    private boolean mayStepUp(int from, int wider) {
        LatencyTracker tracker = trackers[wider];
        if (tracker.count() > 0 && !(tracker.last() <= budgetMs)) {
            return false;
        }
        return config.mode() != Mode.MAX_ACCURACY
                || models.get(wider).top1() > models.get(from).top1();
    }

    private void switchTo(int i) {
        current = i;
        over = 0;
        under = 0;
        runsSinceProbe = 0;
    }
}
