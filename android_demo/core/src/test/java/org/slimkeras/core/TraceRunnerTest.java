package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.slimkeras.core.TestManifests.list;
import static org.slimkeras.core.TestManifests.obj;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Replays hand-made traces (picks derived by hand, also in tests/test_switch_policy.py) and
 * every android_demo/traces/*.json file.
 */
class TraceRunnerTest {
    /** The traces folder: system property slimkeras.traces, else ../traces from core/. */
    static File tracesDir() {
        return new File(System.getProperty("slimkeras.traces", "../traces"));
    }

    static List<File> traceFiles() {
        File[] files = tracesDir().listFiles((d, name) -> name.endsWith(".json"));
        assertNotNull(files, "no traces folder at " + tracesDir().getAbsolutePath());
        List<File> sorted = new ArrayList<>(Arrays.asList(files));
        sorted.sort(null);
        return sorted;
    }

    @Test
    void handDerivedTrace() throws JsonException {
        Map<String, Object> slowWide = obj("0.5", 4.0, "1.0", 12.0);
        Map<String, Object> fastWide = obj("0.5", 4.0, "1.0", 9.0);
        List<Object> steps = list();
        for (int t = 0; t < 16; t++) {
            steps.add(t < 8 ? slowWide : fastWide);
        }
        Map<String, Object> trace = obj(
                "name", "hand_derived", "budget_ms", 10.0,
                "config", obj("down_after", 2, "up_after", 3, "probe_every", 4,
                        "warmup_runs", 0, "window_size", 2),
                "models", list(obj("width", 0.5, "top1", 0.85), obj("width", 1.0, "top1", 0.9)),
                "fail_to_load", list(), "startup", obj(),
                "budget_changes", obj("15", 8.0), "steps", steps);
        // t0 no samples -> 0.5; t2 third under-margin run, 1.0 unmeasured -> up;
        // t4 second over-budget run -> down, 1.0's window [12, 12]; t7 up blocked (last 12);
        // t8 probe -> [12, 9]: p90 12 > 10 but last 9; t10 third under-margin run -> up;
        // t11-t14 1.0 runs 9, in band (8.5, 10], and 1.0 is widest (no probes);
        // t15 budget 8 -> re-pick: 1.0's p90 of [9, 9] is 9 > 8, 0.5 fits.
        List<Double> expected = Arrays.asList(0.5, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5,
                0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5);
        assertEquals(expected, TraceRunner.run(Trace.parse(JsonWriter.write(trace))));
    }

    @Test
    void aFailedModelIsNeverPickedEvenIfFastest() throws JsonException {
        List<Object> steps = list();
        for (int t = 0; t < 4; t++) {
            steps.add(obj("0.25", 3.0, "0.5", 1.0, "1.0", 20.0));
        }
        Map<String, Object> trace = obj(
                "budget_ms", 10.0, "config", obj("warmup_runs", 0, "up_after", 2),
                "models", list(obj("width", 0.25, "top1", 0.8), obj("width", 0.5, "top1", 0.85),
                        obj("width", 1.0, "top1", 0.9)),
                "fail_to_load", list(0.5),
                "startup", obj("0.25", list(3.0), "1.0", list(20.0)),
                "steps", steps);
        assertEquals(Arrays.asList(0.25, 0.25, 0.25, 0.25),
                TraceRunner.run(Trace.parse(JsonWriter.write(trace))));
    }

    @Test
    void badTracesAreRejected() {
        Map<String, Object> trace = obj("budget_ms", 10.0,
                "models", list(obj("width", 0.5, "top1", 0.8)),
                "config", obj("no_such_key", 1), "steps", list(obj("0.5", 1.0)));
        assertThrows(IllegalArgumentException.class,
                () -> TraceRunner.run(Trace.parse(JsonWriter.write(trace))));
        trace.put("config", obj());
        trace.put("steps", list(obj("0.75", 1.0)));
        assertThrows(IllegalArgumentException.class,
                () -> TraceRunner.run(Trace.parse(JsonWriter.write(trace))));
    }

    @Test
    void theTraceFolderHasThePromisedTraces() {
        Set<String> names = new HashSet<>();
        for (File file : traceFiles()) {
            names.add(file.getName());
        }
        for (String name : new String[] {"steady_load", "thermal_throttling",
                "background_load_spike", "budget_change", "fail_to_load", "max_accuracy"}) {
            assertTrue(names.contains(name + ".json"), name);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("traceFiles")
    void traceFileExpectedPicksAreReproduced(File file) throws IOException, JsonException {
        Trace trace;
        try (InputStream in = new FileInputStream(file)) {
            trace = Trace.parse(new String(ManifestParser.readAll(in), StandardCharsets.UTF_8));
        }
        int steps = trace.steps().size();
        assertTrue(steps >= 150 && steps <= 400, file + " has " + steps + " steps");
        assertNotNull(trace.expectedPicks(), file + " has no expected_picks");
        assertEquals(trace.expectedPicks(), TraceRunner.run(trace));
        assertFalse(trace.name().isEmpty());
    }
}
