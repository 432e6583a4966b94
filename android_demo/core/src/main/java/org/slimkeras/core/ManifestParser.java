package org.slimkeras.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import org.slimkeras.core.ManifestException.Kind;

/**
 * Reads manifest.json from a {@link ModelSource}, validates it against schema version 1
 * (docs/manifest_schema.md) and checks that every model file exists and matches its
 * SHA-256 and size. Problems raise a {@link ManifestException} whose message names the
 * offending model and field.
 */
public final class ManifestParser {
    /** Name of the manifest inside an export folder. */
    public static final String MANIFEST_FILE = "manifest.json";

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private final ModelSource source;

    public ManifestParser(ModelSource source) {
        this.source = source;
    }

    /**
     * Parses {@value #MANIFEST_FILE}, validates it and verifies every model file.
     *
     * @throws ManifestException for an unusable manifest or model file
     * @throws IOException if reading fails
     */
    public Manifest parse() throws ManifestException, IOException {
        if (!source.exists(MANIFEST_FILE)) {
            throw new ManifestException(Kind.MISSING_FILE, MANIFEST_FILE + " not found");
        }
        String text;
        try (InputStream in = source.open(MANIFEST_FILE)) {
            text = new String(readAll(in), StandardCharsets.UTF_8);
        }
        Manifest manifest = parseJson(text);
        for (ModelEntry model : manifest.models()) {
            verifyFile(model);
        }
        if (manifest.labelsFile() != null) {
            verifyLabelsFile(manifest.labelsFile(), manifest.labels().size());
        }
        return manifest;
    }

    /**
     * Parses and validates manifest JSON text without touching any model file.
     *
     * @throws ManifestException for malformed or invalid content
     */
    public static Manifest parseJson(String text) throws ManifestException {
        Object root;
        try {
            root = Json.parse(text);
        } catch (JsonException e) {
            throw new ManifestException(Kind.MALFORMED_JSON, e.getMessage());
        }
        if (!(root instanceof Map)) {
            throw new ManifestException(Kind.MALFORMED_JSON, "the top level is not a JSON object");
        }
        return readManifest(ManifestFields.of(root, "manifest"));
    }

    private static Manifest readManifest(ManifestFields top) throws ManifestException {
        readSchemaVersion(top);
        String modelName = top.string("model_name");
        ExportMode mode = ExportMode.fromJsonName(top.string("mode"));
        if (mode == null) {
            throw top.bad("mode", "must be universal, slimmable, naive or individual, got "
                    + top.map.get("mode"));
        }
        double[] widthRange = readWidthRange(top, mode);
        List<Double> widthList = readWidthList(top, mode);
        List<String> labels = readLabels(top);
        String labelsFile = top.has("labels_file") ? relativePath(top, "labels_file") : null;
        OutputKind outputKind = readOutputKind(top);
        Preprocessing preprocessing = readPreprocessing(top.object("preprocessing"));

        List<Object> rawModels = top.list("models");
        if (rawModels.isEmpty()) {
            throw new ManifestException(Kind.EMPTY_MODEL_LIST, "manifest.models is empty");
        }
        List<ModelEntry> models = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < rawModels.size(); i++) {
            ModelEntry model = readModel(top.element(rawModels, "models", i), labels.size(),
                    preprocessing);
            if (!ids.add(model.id())) {
                throw new ManifestException(Kind.BAD_VALUE,
                        "models[" + i + "]: duplicate id \"" + model.id() + "\"");
            }
            models.add(model);
        }
        checkWidthOrder(models);
        return new Manifest(modelName, mode, widthRange, widthList, labels, labelsFile,
                outputKind, preprocessing, models);
    }

    private static void readSchemaVersion(ManifestFields top) throws ManifestException {
        Object version = top.required("schema_version");
        if (!(version instanceof Double) || (Double) version != Manifest.SCHEMA_VERSION) {
            throw new ManifestException(Kind.UNSUPPORTED_VERSION, "schema_version " + version
                    + " is not supported (this app reads " + Manifest.SCHEMA_VERSION + ")");
        }
    }

    private static double[] readWidthRange(ManifestFields top, ExportMode mode)
            throws ManifestException {
        List<Object> range = top.nullableList("width_range");
        if (mode != ExportMode.UNIVERSAL) {
            if (range != null) {
                throw top.bad("width_range", "must be null for mode " + mode.jsonName());
            }
            return null;
        }
        if (range == null || range.size() != 2) {
            throw top.bad("width_range", "must be [min, max] for mode universal");
        }
        double min = top.positiveNumber(range.get(0), "width_range[0]");
        double max = top.positiveNumber(range.get(1), "width_range[1]");
        if (min > max) {
            throw top.bad("width_range", "min " + min + " exceeds max " + max);
        }
        return new double[] {min, max};
    }

    private static List<Double> readWidthList(ManifestFields top, ExportMode mode)
            throws ManifestException {
        List<Object> list = top.nullableList("width_list");
        if (mode == ExportMode.UNIVERSAL) {
            if (list != null) {
                throw top.bad("width_list", "must be null for mode universal");
            }
            return null;
        }
        if (list == null || list.isEmpty()) {
            throw top.bad("width_list", "must list the switch widths for mode "
                    + mode.jsonName());
        }
        List<Double> widths = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            widths.add(top.positiveNumber(list.get(i), "width_list[" + i + "]"));
        }
        return widths;
    }

    private static List<String> readLabels(ManifestFields top) throws ManifestException {
        List<Object> raw = top.list("labels");
        if (raw.isEmpty()) {
            throw top.bad("labels", "is empty");
        }
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < raw.size(); i++) {
            if (!(raw.get(i) instanceof String)) {
                throw top.bad("labels[" + i + "]", "must be a string, got " + raw.get(i));
            }
            labels.add((String) raw.get(i));
        }
        return labels;
    }

    private static OutputKind readOutputKind(ManifestFields top) throws ManifestException {
        if (!top.has("output_kind")) {
            return OutputKind.DEFAULT;
        }
        Object value = top.map.get("output_kind");
        OutputKind kind = value instanceof String ? OutputKind.fromJsonName((String) value) : null;
        if (kind == null) {
            throw top.bad("output_kind", "must be probabilities or logits, got " + value);
        }
        return kind;
    }

    /** A path inside the export folder: relative, no {@code ..} component, no backslash. */
    private static String relativePath(ManifestFields fields, String key)
            throws ManifestException {
        String path = fields.string(key);
        if (path.startsWith("/") || path.contains("\\") || ("/" + path + "/").contains("/../")) {
            throw fields.bad(key, "must be a relative path inside the export folder, got "
                    + path);
        }
        return path;
    }

    private static Preprocessing readPreprocessing(ManifestFields p) throws ManifestException {
        int height = p.positiveInt("height");
        int width = p.positiveInt("width");
        int channels = p.positiveInt("channels");
        if (channels != 1 && channels != 3) {
            throw p.bad("channels", "must be 1 or 3, got " + channels);
        }
        double scale = p.positiveNumber(p.required("scale"), "scale");
        double[] mean = p.numbers("mean", channels);
        double[] std = p.numbers("std", channels);
        for (int c = 0; c < channels; c++) {
            if (!(std[c] > 0)) {
                throw p.bad("std[" + c + "]", "must be > 0, got " + std[c]);
            }
        }
        String layout = p.string("layout");
        if (!"NHWC".equals(layout)) {
            throw p.bad("layout", "must be NHWC, got " + layout);
        }
        int resize = 0;
        if (p.has("resize")) {
            resize = (int) p.integer(p.map.get("resize"), "resize", Math.max(height, width),
                    Integer.MAX_VALUE);
        }
        int crop = 0;
        if (p.has("crop")) {
            if (resize == 0) {
                throw p.bad("crop", "needs resize (the crop is taken from the resized frame)");
            }
            crop = (int) p.integer(p.map.get("crop"), "crop", 1, resize);
        }
        return new Preprocessing(height, width, channels, scale, mean, std, resize, crop);
    }

    private static ModelEntry readModel(ManifestFields m, int labelCount, Preprocessing preprocessing)
            throws ManifestException {
        String id = m.string("id");
        m = m.named(id);
        double width = m.positiveNumber(m.required("width"), "width");
        Map<String, Double> stageRatios = readStageRatios(m);
        Precision precision = Precision.fromJsonName(m.string("precision"));
        if (precision == null) {
            throw m.bad("precision", "must be fp32, fp16 or int8, got " + m.map.get("precision"));
        }
        String path = relativePath(m, "path");
        String sha256 = m.string("sha256");
        if (!SHA256_HEX.matcher(sha256).matches()) {
            throw m.bad("sha256", "must be 64 lower-case hex digits, got " + sha256);
        }
        long bytes = m.nonNegativeLong("bytes");
        TensorSpec input = readTensor(m.object("input"));
        TensorSpec output = readTensor(m.object("output"));
        int[] expectedInput = {1, preprocessing.height(), preprocessing.width(),
                preprocessing.channels()};
        if (!Arrays.equals(input.shape(), expectedInput)) {
            throw m.bad("input.shape", "must be " + Arrays.toString(expectedInput)
                    + " (from preprocessing), got " + Arrays.toString(input.shape()));
        }
        int[] outShape = output.shape();
        if (outShape[outShape.length - 1] != labelCount) {
            throw m.bad("output.shape", "last dimension " + outShape[outShape.length - 1]
                    + " differs from the " + labelCount + " labels");
        }
        long macs = m.nonNegativeLong("macs");
        long params = m.nonNegativeLong("params");
        double top1 = m.nullableNumber("top1");
        if (!Double.isNaN(top1) && (top1 < 0 || top1 > 1)) {
            throw m.bad("top1", "must be in [0, 1], got " + top1);
        }
        Map<Integer, LatencyStats> latency = readLatency(m.object("latency_ms"));
        return new ModelEntry(id, width, stageRatios, precision, path, sha256, bytes, input,
                output, macs, params, top1, latency);
    }

    private static Map<String, Double> readStageRatios(ManifestFields m) throws ManifestException {
        ManifestFields ratios = m.nullableObject("stage_ratios");
        if (ratios == null) {
            return null;
        }
        Map<String, Double> result = new LinkedHashMap<>();
        for (String stage : ratios.map.keySet()) {
            result.put(stage, ratios.positiveNumber(ratios.map.get(stage), stage));
        }
        return result;
    }

    private static TensorSpec readTensor(ManifestFields t) throws ManifestException {
        List<Object> rawShape = t.list("shape");
        if (rawShape.isEmpty()) {
            throw t.bad("shape", "is empty");
        }
        int[] shape = new int[rawShape.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = (int) t.integer(rawShape.get(i), "shape[" + i + "]", 1, Integer.MAX_VALUE);
        }
        TensorSpec.DType dtype = TensorSpec.DType.fromJsonName(t.string("dtype"));
        if (dtype == null) {
            throw t.bad("dtype", "must be float32, int8 or uint8, got " + t.map.get("dtype"));
        }
        ManifestFields q = t.nullableObject("quantization");
        if (dtype.isQuantized() && q == null) {
            throw t.bad("quantization", "is required for dtype " + dtype.jsonName());
        }
        Quantization quantization = null;
        if (q != null) {
            double scale = q.positiveNumber(q.required("scale"), "scale");
            int zeroPoint = (int) q.integer(q.required("zero_point"), "zero_point", -128, 255);
            quantization = new Quantization(scale, zeroPoint);
        }
        return new TensorSpec(shape, dtype, quantization);
    }

    private static Map<Integer, LatencyStats> readLatency(ManifestFields latency)
            throws ManifestException {
        Map<Integer, LatencyStats> result = new LinkedHashMap<>();
        for (String threads : latency.map.keySet()) {
            int count;
            try {
                count = Integer.parseInt(threads);
            } catch (NumberFormatException e) {
                count = 0;
            }
            if (count < 1) {
                throw latency.bad(threads, "keys must be thread counts >= 1");
            }
            ManifestFields s = latency.child(latency.map.get(threads), threads);
            result.put(count, new LatencyStats(s.nonNegativeNumber("init"),
                    s.nonNegativeNumber("first"), s.nonNegativeNumber("warmup_mean"),
                    s.nonNegativeNumber("mean"), s.nonNegativeNumber("std"),
                    s.nonNegativeNumber("p50"), s.nonNegativeNumber("p90"),
                    (int) s.integer(s.required("runs"), "runs", 1, Integer.MAX_VALUE)));
        }
        return result;
    }

    private static void checkWidthOrder(List<ModelEntry> models) throws ManifestException {
        Map<Precision, ModelEntry> previous = new LinkedHashMap<>();
        for (ModelEntry model : models) {
            if (!model.isUniform()) {
                continue;
            }
            ModelEntry before = previous.put(model.precision(), model);
            if (before != null && !(before.width() < model.width())) {
                throw new ManifestException(Kind.WIDTHS_OUT_OF_ORDER, "uniform "
                        + model.precision().jsonName() + " models must have strictly "
                        + "increasing width: " + model.id() + " (" + model.width()
                        + ") follows " + before.id() + " (" + before.width() + ")");
            }
        }
    }

    private void verifyFile(ModelEntry model) throws ManifestException, IOException {
        if (!source.exists(model.path())) {
            throw new ManifestException(Kind.MISSING_FILE,
                    "model " + model.id() + ": file " + model.path() + " not found");
        }
        MessageDigest digest = sha256Digest();
        long size = 0;
        byte[] buffer = new byte[64 * 1024];
        try (InputStream in = source.open(model.path())) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
                size += n;
            }
        }
        String actual = toHex(digest.digest());
        if (!actual.equals(model.sha256())) {
            throw new ManifestException(Kind.SHA256_MISMATCH, "model " + model.id() + ": "
                    + model.path() + " has sha256 " + actual + ", manifest says "
                    + model.sha256());
        }
        if (size != model.bytes()) {
            throw new ManifestException(Kind.BAD_VALUE, "model " + model.id() + ": bytes is "
                    + model.bytes() + " but " + model.path() + " has " + size + " bytes");
        }
    }

    /** Checks that the labels file exists and has one line per label. */
    private void verifyLabelsFile(String path, int labelCount)
            throws ManifestException, IOException {
        if (!source.exists(path)) {
            throw new ManifestException(Kind.MISSING_FILE, "labels_file " + path + " not found");
        }
        String text;
        try (InputStream in = source.open(path)) {
            text = new String(readAll(in), StandardCharsets.UTF_8);
        }
        int lines = countLines(text);
        if (lines != labelCount) {
            throw new ManifestException(Kind.BAD_VALUE, "labels_file " + path + " has " + lines
                    + " lines but the manifest has " + labelCount + " labels");
        }
    }

    /** Lines of {@code text}; a final line break does not start another line. */
    static int countLines(String text) {
        if (text.isEmpty()) {
            return 0;
        }
        int breaks = 0;
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                breaks++;
            }
        }
        return text.endsWith("\n") ? breaks : breaks + 1;
    }

    private static MessageDigest sha256Digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform provides SHA-256", e);
        }
    }

    private static String toHex(byte[] bytes) {
        StringBuilder hex = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            hex.append(String.format(Locale.ROOT, "%02x", b & 0xff));
        }
        return hex.toString();
    }

    /** Reads a stream to its end (Java 8 has no InputStream.readAllBytes). */
    static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[16 * 1024];
        for (int n; (n = in.read(buffer)) > 0; ) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }
}
