package org.slimkeras.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Replays a {@link Trace} through a {@link WidthSelector}, exactly like
 * {@code tflite_export.switch_policy.run_trace}: mark failed models, feed the start-up
 * samples (ascending width), pick, then per step apply a budget change, run the current
 * model, run a probe if one is due, and record the current width.
 */
public final class TraceRunner {
    private TraceRunner() {
    }

    /**
     * @return the width picked after each step
     * @throws IllegalArgumentException if the trace names an unknown width, lacks a latency
     *     the replay needs, or changes the budget outside its steps
     */
    public static List<Double> run(Trace trace) {
        List<Trace.Model> models = trace.models();
        WidthSelector<Trace.Model> selector =
                new WidthSelector<>(models, trace.budgetMs(), trace.config());
        for (double width : trace.failToLoad()) {
            selector.markFailed(modelOf(models, width));
        }
        for (Trace.Model model : models) {
            List<Double> samples = trace.startup().get(model.width());
            if (samples != null) {
                for (double ms : samples) {
                    selector.onBenchmark(model, ms);
                }
            }
        }
        selector.pick();

        List<Map<Double, Double>> steps = trace.steps();
        for (int t : trace.budgetChanges().keySet()) {
            if (t < 0 || t >= steps.size()) {
                throw new IllegalArgumentException("budget change at step " + t
                        + " is outside 0.." + (steps.size() - 1));
            }
        }
        List<Double> picks = new ArrayList<>();
        for (int t = 0; t < steps.size(); t++) {
            Map<Double, Double> row = steps.get(t);
            Double newBudget = trace.budgetChanges().get(t);
            if (newBudget != null) {
                selector.setBudget(newBudget);
            }
            reportRun(selector, selector.current(), row, t);
            Trace.Model probe = selector.nextProbe();
            if (probe != null) {
                reportRun(selector, probe, row, t);
            }
            picks.add(selector.current().width());
        }
        return picks;
    }

    private static void reportRun(WidthSelector<Trace.Model> selector, Trace.Model model,
                                  Map<Double, Double> row, int step) {
        Double ms = row.get(model.width());
        if (ms == null) {
            throw new IllegalArgumentException("step " + step + " has no latency for width "
                    + model.width());
        }
        selector.onResult(model, ms);
    }

    private static Trace.Model modelOf(List<Trace.Model> models, double width) {
        for (Trace.Model model : models) {
            if (model.width() == width) {
                return model;
            }
        }
        throw new IllegalArgumentException("width " + width + " is not one of the trace's models");
    }
}
