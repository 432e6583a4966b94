package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * {@link WidthSelector#step}: one turn of the driving loop (run the current model, report it,
 * run and report a due probe). Budget 10 ms, no warm-up, a probe every 2 runs.
 */
class WidthSelectorStepTest {
    private static final double BUDGET = 10.0;
    private static final SelectorConfig CONFIG =
            SelectorConfig.defaults().withWarmupRuns(0).withProbeEvery(2);

    private final List<Trace.Model> models = Arrays.asList(new Trace.Model(0.25, 0.80),
            new Trace.Model(0.5, 0.85), new Trace.Model(0.75, 0.90));

    /** A runner with a fixed latency per model that records what it ran. */
    private static final class ScriptedRunner implements ModelRunner<Trace.Model> {
        final Map<Trace.Model, Double> ms = new HashMap<>();
        final List<Trace.Model> runs = new ArrayList<>();
        Trace.Model failing;

        @Override
        public double run(Trace.Model model) {
            runs.add(model);
            if (model == failing) {
                throw new IllegalStateException("scripted failure of " + model.width());
            }
            return ms.get(model);
        }
    }

    /** A selector whose benchmarks make 0.5 current (0.75 does not fit). */
    private WidthSelector<Trace.Model> startedAtTheMiddle() {
        WidthSelector<Trace.Model> selector = new WidthSelector<>(models, BUDGET, CONFIG);
        selector.onBenchmark(models.get(0), 3.0);
        selector.onBenchmark(models.get(1), 9.0);
        selector.onBenchmark(models.get(2), 12.0);
        assertSame(models.get(1), selector.pick());
        return selector;
    }

    private ScriptedRunner runner(double narrow, double middle, double wide) {
        ScriptedRunner runner = new ScriptedRunner();
        runner.ms.put(models.get(0), narrow);
        runner.ms.put(models.get(1), middle);
        runner.ms.put(models.get(2), wide);
        return runner;
    }

    @Test
    void aStepRunsTheCurrentModelAndEveryPthStepAlsoItsWiderNeighbour() {
        WidthSelector<Trace.Model> selector = startedAtTheMiddle();
        ScriptedRunner runner = runner(3.0, 9.5, 11.0);

        StepResult<Trace.Model> first = selector.step(runner);
        assertSame(models.get(1), first.model());
        assertEquals(9.5, first.ms());
        assertNull(first.probe());
        assertTrue(Double.isNaN(first.probeMs()));
        assertSame(models.get(1), first.next());

        StepResult<Trace.Model> second = selector.step(runner);
        assertSame(models.get(2), second.probe());
        assertEquals(11.0, second.probeMs());
        assertEquals(Arrays.asList(models.get(1), models.get(1), models.get(2)), runner.runs);
        // The reports reached the trackers: two runs of 0.5, one probe of 0.75.
        assertEquals(3, selector.tracker(models.get(1)).count());
        assertEquals(9.5, selector.tracker(models.get(1)).last());
        assertEquals(2, selector.tracker(models.get(2)).count());
        assertEquals(11.0, selector.tracker(models.get(2)).last());
        assertEquals(1, selector.tracker(models.get(0)).count()); // only its benchmark
    }

    @Test
    void theReturnedNextModelIsTheSwitchTheRunCaused() {
        WidthSelector<Trace.Model> selector = startedAtTheMiddle();
        ScriptedRunner runner = runner(3.0, 10.5, 11.0); // 0.5 over budget: K = 3 switch down
        assertSame(models.get(1), selector.step(runner).next());
        StepResult<Trace.Model> second = selector.step(runner);
        assertSame(models.get(2), second.probe()); // due after two runs of 0.5
        assertSame(models.get(1), second.next());
        StepResult<Trace.Model> third = selector.step(runner);
        assertSame(models.get(1), third.model());
        assertNull(third.probe()); // the switch restarted the probe count
        assertSame(models.get(0), third.next());
        assertSame(models.get(0), selector.current());
    }

    @Test
    void aFailingCurrentRunReportsNothingAndPassesTheExceptionOn() {
        WidthSelector<Trace.Model> selector = startedAtTheMiddle();
        ScriptedRunner runner = runner(3.0, 9.5, 11.0);
        runner.failing = models.get(1);
        assertThrows(IllegalStateException.class, () -> selector.step(runner));
        assertEquals(1, selector.tracker(models.get(1)).count());
        runner.failing = null;
        assertNull(selector.step(runner).probe()); // the failed run did not count towards P
    }

    @Test
    void aFailingProbeComesAfterTheCurrentModelsReport() {
        WidthSelector<Trace.Model> selector = startedAtTheMiddle();
        ScriptedRunner runner = runner(3.0, 9.5, 11.0);
        selector.step(runner);
        runner.failing = models.get(2);
        assertThrows(IllegalStateException.class, () -> selector.step(runner));
        assertEquals(3, selector.tracker(models.get(1)).count());
        assertEquals(1, selector.tracker(models.get(2)).count());
        runner.failing = null;
        assertNull(selector.step(runner).probe()); // the probe count restarted
    }

    @Test
    void stepBeforePickThrows() {
        WidthSelector<Trace.Model> selector = new WidthSelector<>(models, BUDGET, CONFIG);
        assertThrows(IllegalStateException.class, () -> selector.step(runner(1, 2, 3)));
    }

    /**
     * Every shared trace, driven by {@code step} and by the loop written out with
     * {@code onResult}/{@code nextProbe}, gives the same runs, latencies and picks.
     */
    @Test
    void stepEqualsTheWrittenOutLoopOnEveryTrace() throws IOException, JsonException {
        Path dir = Paths.get(System.getProperty("slimkeras.traces", "../traces"));
        int checked = 0;
        for (String name : new String[] {"steady_load", "thermal_throttling",
                "background_load_spike", "budget_change", "fail_to_load", "max_accuracy"}) {
            byte[] bytes = Files.readAllBytes(dir.resolve(name + ".json"));
            Trace trace = Trace.parse(new String(bytes, StandardCharsets.UTF_8));
            assertEquals(writtenOutLoop(trace), byStep(trace), name);
            checked++;
        }
        assertEquals(6, checked);
    }

    private static WidthSelector<Trace.Model> started(Trace trace) {
        WidthSelector<Trace.Model> selector =
                new WidthSelector<>(trace.models(), trace.budgetMs(), trace.config());
        for (Trace.Model model : trace.models()) {
            if (trace.failToLoad().contains(model.width())) {
                selector.markFailed(model);
            }
            List<Double> samples = trace.startup().get(model.width());
            for (double ms : samples == null ? new ArrayList<Double>() : samples) {
                selector.onBenchmark(model, ms);
            }
        }
        selector.pick();
        return selector;
    }

    /** Per step: "width:ms", then "probe width:ms" if any, then "-> width". */
    private static List<String> byStep(Trace trace) {
        WidthSelector<Trace.Model> selector = started(trace);
        List<String> log = new ArrayList<>();
        for (int t = 0; t < trace.steps().size(); t++) {
            changeBudget(selector, trace, t);
            Map<Double, Double> row = trace.steps().get(t);
            StepResult<Trace.Model> step = selector.step(model -> row.get(model.width()));
            log.add(step.model().width() + ":" + step.ms());
            if (step.probe() != null) {
                log.add("probe " + step.probe().width() + ":" + step.probeMs());
            }
            log.add("-> " + step.next().width());
        }
        return log;
    }

    private static List<String> writtenOutLoop(Trace trace) {
        WidthSelector<Trace.Model> selector = started(trace);
        List<String> log = new ArrayList<>();
        for (int t = 0; t < trace.steps().size(); t++) {
            changeBudget(selector, trace, t);
            Map<Double, Double> row = trace.steps().get(t);
            Trace.Model model = selector.current();
            double ms = row.get(model.width());
            selector.onResult(model, ms);
            log.add(model.width() + ":" + ms);
            Trace.Model probe = selector.nextProbe();
            if (probe != null) {
                double probeMs = row.get(probe.width());
                selector.onResult(probe, probeMs);
                log.add("probe " + probe.width() + ":" + probeMs);
            }
            log.add("-> " + selector.current().width());
        }
        return log;
    }

    private static void changeBudget(WidthSelector<Trace.Model> selector, Trace trace, int t) {
        Double budget = trace.budgetChanges().get(t);
        if (budget != null) {
            selector.setBudget(budget);
        }
    }
}
