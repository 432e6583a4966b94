package org.slimkeras.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A latency trace (a file in {@code android_demo/traces}): per-step latencies of every width,
 * replayed through a {@link WidthSelector} by {@link TraceRunner}. The format is described in
 * android_demo/README.md.
 */
public final class Trace {
    /** A model of a trace: width and top-1 accuracy. */
    public static final class Model implements Candidate {
        private final double width;
        private final double top1;

        public Model(double width, double top1) {
            this.width = width;
            this.top1 = top1;
        }

        @Override
        public double width() {
            return width;
        }

        @Override
        public double top1() {
            return top1;
        }

        @Override
        public String toString() {
            return "width " + width;
        }
    }

    private final String name;
    private final double budgetMs;
    private final SelectorConfig config;
    private final List<Model> models;
    private final List<Double> failToLoad;
    private final Map<Double, List<Double>> startup;
    private final Map<Integer, Double> budgetChanges;
    private final List<Map<Double, Double>> steps;
    private final List<Double> expectedPicks;

    private Trace(String name, double budgetMs, SelectorConfig config, List<Model> models,
                  List<Double> failToLoad, Map<Double, List<Double>> startup,
                  Map<Integer, Double> budgetChanges, List<Map<Double, Double>> steps,
                  List<Double> expectedPicks) {
        this.name = name;
        this.budgetMs = budgetMs;
        this.config = config;
        this.models = Collections.unmodifiableList(models);
        this.failToLoad = Collections.unmodifiableList(failToLoad);
        this.startup = Collections.unmodifiableMap(startup);
        this.budgetChanges = Collections.unmodifiableMap(budgetChanges);
        this.steps = Collections.unmodifiableList(steps);
        this.expectedPicks = expectedPicks == null ? null
                : Collections.unmodifiableList(expectedPicks);
    }

    /**
     * Parses a trace document.
     *
     * @throws JsonException if the text is not JSON
     * @throws IllegalArgumentException if a field is missing or has the wrong type
     */
    public static Trace parse(String json) throws JsonException {
        Map<String, Object> root = object(Json.parse(json), "trace");
        List<Model> models = new ArrayList<>();
        for (Object raw : list(required(root, "models"), "models")) {
            Map<String, Object> model = object(raw, "models[]");
            Object top1 = model.get("top1");
            models.add(new Model(number(required(model, "width"), "width"),
                    top1 == null ? Double.NaN : number(top1, "top1")));
        }
        Map<Double, List<Double>> startup = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : optionalObject(root, "startup").entrySet()) {
            startup.put(width(e.getKey()), numbers(e.getValue(), "startup." + e.getKey()));
        }
        Map<Integer, Double> budgetChanges = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : optionalObject(root, "budget_changes").entrySet()) {
            budgetChanges.put(Integer.valueOf(e.getKey()),
                    number(e.getValue(), "budget_changes." + e.getKey()));
        }
        List<Map<Double, Double>> steps = new ArrayList<>();
        for (Object raw : list(required(root, "steps"), "steps")) {
            Map<Double, Double> row = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : object(raw, "steps[]").entrySet()) {
                row.put(width(e.getKey()), number(e.getValue(), "step latency"));
            }
            steps.add(row);
        }
        Object picks = root.get("expected_picks");
        Object name = root.get("name");
        Object fails = root.get("fail_to_load");
        return new Trace(name instanceof String ? (String) name : "unnamed",
                number(required(root, "budget_ms"), "budget_ms"),
                config(optionalObject(root, "config")), models,
                fails == null ? new ArrayList<Double>() : numbers(fails, "fail_to_load"),
                startup, budgetChanges, steps,
                picks == null ? null : numbers(picks, "expected_picks"));
    }

    /** Applies a trace's {@code "config"} overrides (snake_case keys) to the defaults. */
    static SelectorConfig config(Map<String, Object> overrides) {
        SelectorConfig config = SelectorConfig.defaults();
        for (Map.Entry<String, Object> e : overrides.entrySet()) {
            Object value = e.getValue();
            switch (e.getKey()) {
                case "down_after": config = config.withDownAfter(integer(value, e.getKey())); break;
                case "up_after": config = config.withUpAfter(integer(value, e.getKey())); break;
                case "up_margin": config = config.withUpMargin(number(value, e.getKey())); break;
                case "probe_every": config = config.withProbeEvery(integer(value, e.getKey())); break;
                case "window_size": config = config.withWindowSize(integer(value, e.getKey())); break;
                case "warmup_runs": config = config.withWarmupRuns(integer(value, e.getKey())); break;
                case "ema_alpha": config = config.withEmaAlpha(number(value, e.getKey())); break;
                case "mode":
                    if (!(value instanceof String)) {
                        throw new IllegalArgumentException("config.mode must be a string");
                    }
                    config = config.withMode(
                            SelectorConfig.Mode.valueOf(((String) value).toUpperCase(Locale.ROOT)));
                    break;
                default:
                    throw new IllegalArgumentException("unknown config key " + e.getKey());
            }
        }
        return config;
    }

    public String name() {
        return name;
    }

    public double budgetMs() {
        return budgetMs;
    }

    public SelectorConfig config() {
        return config;
    }

    /** The models, narrowest first. */
    public List<Model> models() {
        return models;
    }

    /** Widths whose model fails to load. */
    public List<Double> failToLoad() {
        return failToLoad;
    }

    /** Start-up benchmark samples by width. */
    public Map<Double, List<Double>> startup() {
        return startup;
    }

    /** New budgets by step index, applied before that step runs. */
    public Map<Integer, Double> budgetChanges() {
        return budgetChanges;
    }

    /** Per step: width → latency in ms. */
    public List<Map<Double, Double>> steps() {
        return steps;
    }

    /** The widths the policy must pick at each step, or null if the file has none. */
    public List<Double> expectedPicks() {
        return expectedPicks;
    }

    private static Object required(Map<String, Object> object, String key) {
        if (!object.containsKey(key)) {
            throw new IllegalArgumentException("trace field \"" + key + "\" is missing");
        }
        return object.get(key);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object value, String what) {
        if (!(value instanceof Map)) {
            throw new IllegalArgumentException(what + " must be an object");
        }
        return (Map<String, Object>) value;
    }

    private static Map<String, Object> optionalObject(Map<String, Object> parent, String key) {
        Object value = parent.get(key);
        return value == null ? new LinkedHashMap<String, Object>() : object(value, key);
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object value, String what) {
        if (!(value instanceof List)) {
            throw new IllegalArgumentException(what + " must be a list");
        }
        return (List<Object>) value;
    }

    private static double number(Object value, String what) {
        if (!(value instanceof Double)) {
            throw new IllegalArgumentException(what + " must be a number, got " + value);
        }
        return (Double) value;
    }

    private static int integer(Object value, String what) {
        double number = number(value, what);
        if (number != (int) number) {
            throw new IllegalArgumentException(what + " must be an integer, got " + value);
        }
        return (int) number;
    }

    private static List<Double> numbers(Object value, String what) {
        List<Double> result = new ArrayList<>();
        for (Object item : list(value, what)) {
            result.add(number(item, what));
        }
        return result;
    }

    private static double width(String key) {
        try {
            return Double.parseDouble(key);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("\"" + key + "\" is not a width");
        }
    }
}
