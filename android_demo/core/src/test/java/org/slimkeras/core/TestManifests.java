package org.slimkeras.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Test fixture: a valid schema-1 manifest as mutable maps, and fake model files for it. */
final class TestManifests {
    static final List<String> LABELS = Arrays.asList("T-shirt/top", "Trouser", "Pullover",
            "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    private TestManifests() {
    }

    /**
     * A universal export with uniform int8 widths 0.25, 0.5, 1.0 (models 0-2), a uniform fp32
     * width 1.0 (model 3, top1 null) and a searched int8 model (model 4, stage_ratios set).
     */
    static Map<String, Object> valid() {
        List<Object> models = list(
                model("w0.25_int8", 0.25, "int8", 0.868),
                model("w0.5_int8", 0.5, "int8", 0.875),
                model("w1.0_int8", 1.0, "int8", 0.898),
                model("w1.0_fp32", 1.0, "fp32", null),
                model("searched_int8", 0.75, "int8", 0.88));
        Map<String, Object> manifest = obj(
                "schema_version", 1,
                "model_name", "us_mobilenet_v1_fashion",
                "mode", "universal",
                "width_range", list(0.25, 1.0),
                "width_list", null,
                "labels", new ArrayList<Object>(LABELS),
                "preprocessing", obj("height", 28, "width", 28, "channels", 1, "scale", 255.0,
                        "mean", list(0.286), "std", list(0.353), "layout", "NHWC"),
                "models", models);
        model(manifest, 4).put("stage_ratios", obj("1", 0.5, "2", 1.0));
        return manifest;
    }

    /**
     * {@link #valid()} with the optional keys of exports that show true percentages:
     * {@code output_kind} ({@code "probabilities"} or {@code "logits"}) and
     * {@code labels_file} ({@code labels.txt}, written by {@link #write}).
     */
    static Map<String, Object> withOutputKind(String outputKind) {
        Map<String, Object> manifest = valid();
        manifest.put("output_kind", outputKind);
        manifest.put("labels_file", "labels.txt");
        return manifest;
    }

    private static Map<String, Object> model(String id, double width, String precision,
                                             Double top1) {
        byte[] content = content(id);
        boolean int8 = precision.equals("int8");
        Object quantization = int8 ? obj("scale", 0.0039, "zero_point", -128) : null;
        String dtype = int8 ? "int8" : "float32";
        return obj(
                "id", id, "width", width, "stage_ratios", null, "precision", precision,
                "path", id + ".tflite", "sha256", sha256(content), "bytes", content.length,
                "input", obj("shape", list(1, 28, 28, 1), "dtype", dtype,
                        "quantization", quantization),
                "output", obj("shape", list(1, 10), "dtype", dtype, "quantization", quantization),
                "macs", (long) (3_400_000 * width * width), "params", (long) (142_000 * width),
                "top1", top1,
                "latency_ms", obj("1", obj("init", 1.2, "first", 0.9, "warmup_mean", 0.5,
                        "mean", 0.41, "std", 0.02, "p50", 0.40, "p90", 0.44, "runs", 100)));
    }

    /** The fake .tflite bytes of model {@code id}. */
    static byte[] content(String id) {
        return ("not really a flatbuffer: " + id).getBytes(StandardCharsets.UTF_8);
    }

    /** Model {@code i} of a manifest map. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> model(Map<String, Object> manifest, int i) {
        return (Map<String, Object>) ((List<Object>) manifest.get("models")).get(i);
    }

    /**
     * Writes manifest.json, every model's file and, if {@code labels_file} is a plain file name,
     * that file with one line per label of {@link #LABELS} into {@code dir}.
     */
    @SuppressWarnings("unchecked")
    static void write(File dir, Map<String, Object> manifest) throws IOException {
        writeFile(new File(dir, ManifestParser.MANIFEST_FILE),
                JsonWriter.write(manifest).getBytes(StandardCharsets.UTF_8));
        Object labelsFile = manifest.get("labels_file");
        if (labelsFile instanceof String && ((String) labelsFile).matches("[\\w.-]+")) {
            writeFile(new File(dir, (String) labelsFile),
                    (String.join("\n", LABELS) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        Object models = manifest.get("models");
        if (models instanceof List) {
            for (Object m : (List<Object>) models) {
                Map<String, Object> model = (Map<String, Object>) m;
                String id = String.valueOf(model.get("id"));
                writeFile(new File(dir, id + ".tflite"), content(id));
            }
        }
    }

    static void writeFile(File file, byte[] bytes) throws IOException {
        try (OutputStream out = new FileOutputStream(file)) {
            out.write(bytes);
        }
    }

    static String sha256(byte[] bytes) {
        try {
            StringBuilder hex = new StringBuilder();
            for (byte b : MessageDigest.getInstance("SHA-256").digest(bytes)) {
                hex.append(String.format("%02x", b & 0xff));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static Map<String, Object> obj(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    static List<Object> list(Object... values) {
        return new ArrayList<>(Arrays.asList(values));
    }
}
