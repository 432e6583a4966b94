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
 *   <li>{@link #pick()} chooses from scratch: the widest fitting model
 *       ({@link SelectorConfig.Mode#WIDEST}) or the most accurate one, the narrower on a tie
 *       ({@link SelectorConfig.Mode#MAX_ACCURACY}); if none
 *       fits, the measured model with the lowest p90; if none is measured, the narrowest.</li>
 *   <li>{@link #onResult} steps one width down after {@code downAfter} consecutive runs over
 *       budget, and one width up after {@code upAfter} consecutive runs at or below
 *       {@code budget * (1 - upMargin)} if the wider neighbour is unmeasured or its most recent
 *       sample ({@link LatencyTracker#last()}) is within the budget (and, in MAX_ACCURACY
 *       mode, it is more accurate). Runs in between reset both counts.</li>
 *   <li>{@link #nextProbe()} asks for one run of the wider neighbour every
 *       {@code probeEvery} runs, to keep its statistics fresh.</li>
 *   <li>{@link #step} is one turn of the driving loop: run the current model, report it, run
 *       and report a due probe. The app and the trace replay both drive the selector with it.</li>
 *   <li>Failed models ({@link #markFailed}) are skipped by every rule.</li>
 * </ul>
 * <p>Why stepping up looks at the neighbour's last sample and not its p90: after a step down,
 * the window of the model that was left still holds the over-budget runs that caused the
 * step, and only probes add to it. Judged by its p90, the wider model would need most of its
 * window replaced by probes (up to 18 probes, ~900 runs, with the defaults) before the
 * selector could return to it; its latest probe is the fresh evidence, so one probe within
 * the budget is enough. {@link #pick()} still uses the p90 to decide what fits.
 * <p>The Python twin, {@code tflite_export.switch.policy.WidthSelector}, implements the same
 * rules; the traces in {@code android_demo/traces} check that both agree. Not thread-safe.
 *
 * @param <M> the model type, compared by identity
 */
public final class WidthSelector<M extends Candidate> {

    private final List<M> models;
    private final SelectorConfig config;
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
    public WidthSelector(List<M> models, double budgetMs, SelectorConfig config) {
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
            if (config.mode() == SelectorConfig.Mode.MAX_ACCURACY && Double.isNaN(model.top1())) {
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

    public SelectorConfig config() {
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
     * One step of the switching loop, the same in the app, in trace replays and in the Python
     * twin ({@code WidthSelector.step}): runs the current model and reports its latency with
     * {@link #onResult}; then, if {@link #nextProbe()} names a model, runs that once and
     * reports its latency with {@link #onResult} too.
     *
     * <p>If the runner throws, the exception is passed on: a failed run of the current model
     * has reported nothing; a failed probe comes after the current model's report and after
     * {@link #nextProbe()} restarted its count.
     *
     * @return the models run, their latencies, and the new current model
     * @throws IllegalStateException before the first {@link #pick()}
     */
    public StepResult<M> step(ModelRunner<? super M> runner) {
        M model = current();
        if (model == null) {
            throw new IllegalStateException("call pick() before step()");
        }
        double ms = runner.run(model);
        onResult(model, ms);
        M probe = nextProbe();
        double probeMs = Double.NaN;
        if (probe != null) {
            probeMs = runner.run(probe);
            onResult(probe, probeMs);
        }
        return new StepResult<>(model, ms, probe, probeMs, current());
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
        if (config.mode() == SelectorConfig.Mode.WIDEST) {
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
        return config.mode() != SelectorConfig.Mode.MAX_ACCURACY
                || models.get(wider).top1() > models.get(from).top1();
    }

    private void switchTo(int i) {
        current = i;
        over = 0;
        under = 0;
        runsSinceProbe = 0;
    }
}
