package org.slimkeras.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Replays a {@link Trace} through a {@link WidthSelector}, exactly like
 * {@code tflite_export.switch.policy.run_trace}: mark failed models, feed the start-up
 * samples (ascending width), pick, then per step apply a budget change, take one
 * {@link WidthSelector#step} (run the current model, run a probe if one is due) with the
 * step's latencies, and record the current width.
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
            Double newBudget = trace.budgetChanges().get(t);
            if (newBudget != null) {
                selector.setBudget(newBudget);
            }
            picks.add(selector.step(rowRunner(steps.get(t), t)).next().width());
        }
        return picks;
    }

    /** A runner that "runs" a model by looking up its latency in one step of the trace. */
    private static ModelRunner<Trace.Model> rowRunner(Map<Double, Double> row, int step) {
        return model -> {
            Double ms = row.get(model.width());
            if (ms == null) {
                throw new IllegalArgumentException("step " + step + " has no latency for width "
                        + model.width());
            }
            return ms;
        };
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
