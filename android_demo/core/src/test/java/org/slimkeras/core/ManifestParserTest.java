package org.slimkeras.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.slimkeras.core.TestManifests.list;
import static org.slimkeras.core.TestManifests.model;
import static org.slimkeras.core.TestManifests.obj;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.slimkeras.core.ManifestException.Kind;

class ManifestParserTest {
    @TempDir
    File dir;

    private Manifest parse(Map<String, Object> manifest) throws Exception {
        TestManifests.write(dir, manifest);
        return new ManifestParser(new DirectoryModelSource(dir)).parse();
    }

    private ManifestException parseFails(Map<String, Object> manifest, Kind kind) {
        ManifestException e = assertThrows(ManifestException.class, () -> parse(manifest));
        assertEquals(kind, e.kind(), e.getMessage());
        return e;
    }

    @Test
    void parsesAValidManifest() throws Exception {
        Manifest manifest = parse(TestManifests.valid());
        assertEquals("us_mobilenet_v1_fashion", manifest.modelName());
        assertEquals(ExportMode.UNIVERSAL, manifest.mode());
        assertEquals(0.25, manifest.widthRange()[0]);
        assertNull(manifest.widthList());
        assertEquals(TestManifests.LABELS, manifest.labels());
        assertEquals(28, manifest.preprocessing().height());
        assertEquals(0.353, manifest.preprocessing().std(0));
        assertEquals(5, manifest.models().size());
        assertEquals(Arrays.asList(Precision.INT8, Precision.FP32), manifest.precisions());

        List<Double> int8Widths = new ArrayList<>();
        for (ModelEntry m : manifest.uniformModels(Precision.INT8)) {
            int8Widths.add(m.width());
        }
        assertEquals(Arrays.asList(0.25, 0.5, 1.0), int8Widths);

        ModelEntry first = manifest.models().get(0);
        assertEquals("w0.25_int8", first.id());
        assertTrue(first.isUniform());
        assertEquals(TensorSpec.DType.INT8, first.input().dtype());
        assertEquals(-128, first.input().quantization().zeroPoint());
        assertEquals(784, first.input().elementCount());
        assertEquals(0.868, first.top1());
        assertEquals(212_500, first.macs()); // 3.4M x 0.25^2
        assertEquals(0.44, first.latencyMs().get(1).p90());
        assertEquals(100, first.latencyMs().get(1).runs());

        ModelEntry fp32 = manifest.models().get(3);
        assertTrue(Double.isNaN(fp32.top1()));
        assertNull(fp32.input().quantization());
        ModelEntry searched = manifest.models().get(4);
        assertFalse(searched.isUniform());
        assertEquals(0.5, searched.stageRatios().get("1"));
    }

    @Test
    void acceptsASlimmableExportWithAWidthList() throws Exception {
        Map<String, Object> m = TestManifests.valid();
        m.put("mode", "slimmable");
        m.put("width_range", null);
        m.put("width_list", list(0.25, 0.5, 1.0));
        assertEquals(Arrays.asList(0.25, 0.5, 1.0), parse(m).widthList());
    }

    @Test
    void unsupportedVersion() {
        Map<String, Object> m = TestManifests.valid();
        m.put("schema_version", 2);
        ManifestException e = parseFails(m, Kind.UNSUPPORTED_VERSION);
        assertTrue(e.getMessage().contains("2"), e.getMessage());
        m.put("schema_version", "1");
        parseFails(m, Kind.UNSUPPORTED_VERSION);
    }

    @Test
    void missingFieldNamesTheModelAndField() {
        Map<String, Object> m = TestManifests.valid();
        model(m, 1).remove("sha256");
        ManifestException e = parseFails(m, Kind.MISSING_FIELD);
        assertTrue(e.getMessage().contains("w0.5_int8") && e.getMessage().contains("sha256"),
                e.getMessage());
    }

    @Test
    void missingTopLevelAndNestedFields() {
        Map<String, Object> m = TestManifests.valid();
        m.remove("labels");
        assertTrue(parseFails(m, Kind.MISSING_FIELD).getMessage().contains("labels"));
        Map<String, Object> m2 = TestManifests.valid();
        ((Map<?, ?>) model(m2, 0).get("input")).remove("dtype");
        assertTrue(parseFails(m2, Kind.MISSING_FIELD).getMessage().contains("dtype"));
        Map<String, Object> m3 = TestManifests.valid();
        m3.remove("schema_version");
        parseFails(m3, Kind.MISSING_FIELD);
    }

    @Test
    void missingModelFileNamesThePath() throws IOException {
        Map<String, Object> m = TestManifests.valid();
        TestManifests.write(dir, m);
        assertTrue(new File(dir, "w0.5_int8.tflite").delete());
        ManifestException e = assertThrows(ManifestException.class,
                () -> new ManifestParser(new DirectoryModelSource(dir)).parse());
        assertEquals(Kind.MISSING_FILE, e.kind());
        assertTrue(e.getMessage().contains("w0.5_int8.tflite"), e.getMessage());
    }

    @Test
    void missingManifestFile() {
        ManifestException e = assertThrows(ManifestException.class,
                () -> new ManifestParser(new DirectoryModelSource(dir)).parse());
        assertEquals(Kind.MISSING_FILE, e.kind());
    }

    @Test
    void sha256MismatchNamesTheModel() throws IOException {
        Map<String, Object> m = TestManifests.valid();
        TestManifests.write(dir, m);
        byte[] tampered = TestManifests.content("w1.0_int8");
        tampered[0] ^= 1;
        TestManifests.writeFile(new File(dir, "w1.0_int8.tflite"), tampered);
        ManifestException e = assertThrows(ManifestException.class,
                () -> new ManifestParser(new DirectoryModelSource(dir)).parse());
        assertEquals(Kind.SHA256_MISMATCH, e.kind());
        assertTrue(e.getMessage().contains("w1.0_int8"), e.getMessage());
    }

    @Test
    void uniformWidthsOutOfOrderWithinAPrecision() {
        Map<String, Object> m = TestManifests.valid();
        model(m, 0).put("width", 0.5);
        ManifestException e = parseFails(m, Kind.WIDTHS_OUT_OF_ORDER);
        assertTrue(e.getMessage().contains("w0.5_int8") && e.getMessage().contains("w0.25_int8"),
                e.getMessage());
        Map<String, Object> m2 = TestManifests.valid();
        model(m2, 2).put("width", 0.4);
        parseFails(m2, Kind.WIDTHS_OUT_OF_ORDER);
    }

    @Test
    void emptyModelList() {
        Map<String, Object> m = TestManifests.valid();
        m.put("models", list());
        parseFails(m, Kind.EMPTY_MODEL_LIST);
    }

    @Test
    void malformedJson() throws IOException {
        TestManifests.writeFile(new File(dir, "manifest.json"),
                "{\"schema_version\": 1,".getBytes(StandardCharsets.UTF_8));
        ManifestException e = assertThrows(ManifestException.class,
                () -> new ManifestParser(new DirectoryModelSource(dir)).parse());
        assertEquals(Kind.MALFORMED_JSON, e.kind());
        ManifestException notObject = assertThrows(ManifestException.class,
                () -> ManifestParser.parseJson("[1, 2]"));
        assertEquals(Kind.MALFORMED_JSON, notObject.kind());
    }

    @SuppressWarnings("unchecked")
    static Stream<Arguments> badValues() {
        return Stream.of(
                bad("unknown mode", m -> m.put("mode", "elastic")),
                bad("width_range missing bound", m -> m.put("width_range", list(0.25))),
                bad("width_list for universal", m -> m.put("width_list", list(0.5))),
                bad("labels empty", m -> m.put("labels", list())),
                bad("three-value mean for one channel",
                        m -> ((Map<String, Object>) m.get("preprocessing")).put("mean",
                                list(0.1, 0.2, 0.3))),
                bad("zero std", m -> ((Map<String, Object>) m.get("preprocessing"))
                        .put("std", list(0.0))),
                bad("NCHW layout", m -> ((Map<String, Object>) m.get("preprocessing"))
                        .put("layout", "NCHW")),
                bad("unknown precision", m -> model(m, 0).put("precision", "int4")),
                bad("negative width", m -> model(m, 0).put("width", -0.25)),
                bad("width as string", m -> model(m, 0).put("width", "0.25")),
                bad("short sha256", m -> model(m, 0).put("sha256", "abc123")),
                bad("upper-case sha256", m -> model(m, 0).put("sha256",
                        ((String) model(m, 0).get("sha256")).toUpperCase())),
                bad("path escaping the folder", m -> model(m, 0).put("path", "../w.tflite")),
                bad("absolute path", m -> model(m, 0).put("path", "/sdcard/w.tflite")),
                bad("fractional bytes", m -> model(m, 0).put("bytes", 12.5)),
                bad("duplicate id", m -> model(m, 1).put("id", "w0.25_int8")),
                bad("input shape not from preprocessing",
                        m -> ((Map<String, Object>) model(m, 0).get("input"))
                                .put("shape", list(1, 32, 32, 1))),
                bad("output size differs from labels",
                        m -> ((Map<String, Object>) model(m, 0).get("output"))
                                .put("shape", list(1, 11))),
                bad("int8 tensor without quantization",
                        m -> ((Map<String, Object>) model(m, 0).get("input"))
                                .put("quantization", null)),
                bad("unknown dtype", m -> ((Map<String, Object>) model(m, 3).get("input"))
                        .put("dtype", "float64")),
                bad("top1 above 1", m -> model(m, 0).put("top1", 87.1)),
                bad("latency keyed by name", m -> model(m, 0).put("latency_ms",
                        obj("one", ((Map<String, Object>) model(m, 0).get("latency_ms"))
                                .get("1")))),
                bad("stage ratio zero", m -> model(m, 4).put("stage_ratios", obj("1", 0.0))),
                bad("bytes differ from the file", m -> model(m, 0).put("bytes", 1)));
    }

    private static Arguments bad(String name, Consumer<Map<String, Object>> mutation) {
        return Arguments.of(name, mutation);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badValues")
    void badValue(String name, Consumer<Map<String, Object>> mutation) {
        Map<String, Object> m = TestManifests.valid();
        mutation.accept(m);
        parseFails(m, Kind.BAD_VALUE);
    }

    @Test
    void badValueMessageNamesTheModelAndValue() {
        Map<String, Object> m = TestManifests.valid();
        model(m, 2).put("precision", "int4");
        ManifestException e = parseFails(m, Kind.BAD_VALUE);
        assertTrue(e.getMessage().contains("w1.0_int8") && e.getMessage().contains("int4"),
                e.getMessage());
    }
}
